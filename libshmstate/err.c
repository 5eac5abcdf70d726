/*
 * err.c: error codes to text.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

static const struct {
	int		 code;
	const char	*text;
} shms_errors[] = {
	{ SHMS_ENOSTATE,  "no committed state" },
	{ SHMS_ELAYOUT,   "layout name mismatch" },
	{ SHMS_EVERSION,  "layout version mismatch" },
	{ SHMS_EMAGIC,    "not a shmstate segment (bad magic)" },
	{ SHMS_EFORMAT,   "unsupported on-shm format version" },
	{ SHMS_EHDRSUM,   "header checksum mismatch" },
	{ SHMS_ESUM,      "payload checksum mismatch" },
	{ SHMS_ETRUNC,    "segment truncated" },
	{ SHMS_EMISSING,  "segment listed in manifest is missing" },
	{ SHMS_ELOCKED,   "state is locked by a live owner" },
	{ SHMS_EFOREIGN,  "owned by another user" },
	{ SHMS_ESYMLINK,  "symlink in place of a state file" },
	{ SHMS_ENAME,     "invalid name" },
	{ SHMS_ECORRUPT,  "corrupt state metadata" },
	{ SHMS_EDIRTY,    "arena is dirty (its owner died while live)" },
	{ SHMS_ESTATE,    "segment is in the wrong state" },
	{ SHMS_ENOSPACE,  "arena out of space" },
	{ SHMS_ELIMIT,    "limit exceeded" },
	{ SHMS_EPERMS,    "unsafe permissions" },
	{ SHMS_ENOTFOUND, "no such segment" },
	{ SHMS_EPROTO,    "malformed message" },
};

const char *
shms_strerror(int code)
{
	size_t i;

	if (code == 0)
		return "success";
	for (i = 0; i < SHMS__ARRAY_SIZE(shms_errors); i++)
		if (shms_errors[i].code == code)
			return shms_errors[i].text;
	/*
	 * strerror() may return a buffer shared between threads for
	 * unknown values; strerrordesc_np() is static and thread-safe.
	 */
	if (SHMS__IS_ERRNO(code)) {
		const char *s = strerrordesc_np(-code);
		if (s != NULL)
			return s;
	}
	return "unknown error";
}

int
shms__detail(char *detail, int code, const char *fmt, ...)
{
	va_list ap;

	if (detail != NULL) {
		va_start(ap, fmt);
		vsnprintf(detail, SHMS_DETAIL_MAX, fmt, ap);
		va_end(ap);
	}
	return code;
}
