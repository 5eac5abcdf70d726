/*
 * name.c: service, segment and layout names, and segment file names.
 *
 * Names end up as path components and inside fixed 64-byte header fields,
 * so they are restricted to a set that needs no quoting anywhere: 1 to
 * SHMS_NAME_MAX bytes of [A-Za-z0-9_.-], not starting with '.', no "..".
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

static int
name_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

int
shms__name_valid(const char *name)
{
	size_t i;

	if (name == NULL || name[0] == '\0' || name[0] == '.')
		return SHMS_ENAME;
	for (i = 0; name[i] != '\0'; i++) {
		if (i >= SHMS_NAME_MAX || !name_char((unsigned char)name[i]))
			return SHMS_ENAME;
		if (name[i] == '.' && name[i + 1] == '.')
			return SHMS_ENAME;
	}
	return 0;
}

int
shms_name_valid(const char *name)
{
	return shms__name_valid(name);
}

int
shms__name_field(const char field[64], char out[64])
{
	char tmp[64];

	_Static_assert(SHMS_NAME_MAX + 1 == 64, "name fields are 64 bytes");
	if (memchr(field, '\0', 64) == NULL)
		return SHMS_ECORRUPT;
	memcpy(tmp, field, sizeof(tmp));
	if (shms__name_valid(tmp) != 0)
		return SHMS_ECORRUPT;
	memcpy(out, tmp, sizeof(tmp));
	return 0;
}

void
shms__name_put(char field[64], const char *s)
{
	memset(field, 0, 64);
	memcpy(field, s, strnlen(s, 63));
}

int
shms__build_id_valid(const char *id)
{
	size_t i;

	if (id == NULL || id[0] == '\0')
		return -EINVAL;
	for (i = 0; id[i] != '\0'; i++)
		if (i >= SHMS_BUILDID_MAX || id[i] < 0x21 || id[i] > 0x7e)
			return -EINVAL;
	return 0;
}

void
shms__ckpt_file(char *buf, uint64_t gen, const char *name)
{
	snprintf(buf, SHMS__FILE_MAX, SHMS__CKPT_PREFIX "%016llx.%s",
	    (unsigned long long)gen, name);
}

int
shms__ckpt_file_parse(const char *file, uint64_t *gen, char *name)
{
	const size_t plen = sizeof(SHMS__CKPT_PREFIX) - 1;
	uint64_t g = 0;
	size_t i;
	char c;

	if (strncmp(file, SHMS__CKPT_PREFIX, plen) != 0)
		return SHMS_ENAME;
	file += plen;
	/* Exactly 16 lowercase hex digits, as written by shms__ckpt_file(). */
	for (i = 0; i < 16; i++) {
		c = file[i];
		if (c >= '0' && c <= '9')
			g = g << 4 | (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			g = g << 4 | (uint64_t)(c - 'a' + 10);
		else
			return SHMS_ENAME;
	}
	if (file[16] != '.' || shms__name_valid(file + 17) != 0)
		return SHMS_ENAME;
	if (gen != NULL)
		*gen = g;
	if (name != NULL)
		memcpy(name, file + 17, strlen(file + 17) + 1);
	return 0;
}

enum shms__file_type
shms__file_type(const char *file)
{
	static const struct {
		const char		*name;
		enum shms__file_type	 type;
	} fixed[] = {
		{ SHMS__LOCK_FILE, SHMS__FT_LOCK },
		{ SHMS__MANIFEST_FILE, SHMS__FT_MANIFEST },
		{ SHMS__MANIFEST_TMP, SHMS__FT_MANIFEST_TMP },
		{ SHMS__CONTROL_SOCK, SHMS__FT_SOCK },
		/* shmsupervise(8)'s notify socket and its own lock. */
		{ "notify.sock", SHMS__FT_SOCK },
		{ "supervisor.lock", SHMS__FT_LOCK },
	};
	size_t i;

	for (i = 0; i < SHMS__ARRAY_SIZE(fixed); i++)
		if (strcmp(file, fixed[i].name) == 0)
			return fixed[i].type;
	if (shms__ckpt_file_parse(file, NULL, NULL) == 0)
		return SHMS__FT_CKPT;
	if (strncmp(file, SHMS__ARENA_PREFIX,
	    sizeof(SHMS__ARENA_PREFIX) - 1) == 0 &&
	    file[sizeof(SHMS__ARENA_PREFIX) - 1] != '\0')
		return SHMS__FT_ARENA;
	return SHMS__FT_OTHER;
}
