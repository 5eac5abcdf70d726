/*
 * manifest.c: the checkpoint manifest, the commit point of a checkpoint.
 *
 * The manifest lists every segment of one generation with its size and
 * checksums. A reader treats it as untrusted: the file size must be exactly
 * what the count says, and the checksum is verified before any entry is
 * looked at.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* For XXH3_state_t on the stack; the library and header ship together. */
#define XXH_STATIC_LINKING_ONLY
#include "xxh.h"

#include "internal.h"

#define MAN_HDR		sizeof(struct shms__disk_manifest)
#define MAN_ENT		sizeof(struct shms__disk_mentry)
#define MAN_MAX		(MAN_HDR + (size_t)SHMS_MAX_SEGMENTS * MAN_ENT)

/* XXH3 over the whole image with the xxh3 field taken as zero. */
static uint64_t
manifest_sum(const unsigned char *buf, size_t len)
{
	static const unsigned char zero[8];
	XXH3_state_t st;
	const size_t off = offsetof(struct shms__disk_manifest, xxh3);

	XXH3_64bits_reset(&st);
	XXH3_64bits_update(&st, buf, off);
	XXH3_64bits_update(&st, zero, sizeof(zero));
	XXH3_64bits_update(&st, buf + off + 8, len - off - 8);
	return XXH3_64bits_digest(&st);
}

int
shms__manifest_encode(const struct shms__manifest *m, void **bufp,
    size_t *lenp)
{
	struct shms__disk_manifest h;
	struct shms__disk_mentry e;
	unsigned char *buf;
	size_t len, i;
	uint64_t sum;

	if (m->count > SHMS_MAX_SEGMENTS)
		return SHMS_ELIMIT;
	len = MAN_HDR + (size_t)m->count * MAN_ENT;
	if ((buf = malloc(len)) == NULL)
		return -ENOMEM;
	memset(&h, 0, sizeof(h));
	memcpy(h.magic, SHMS__MANIFEST_MAGIC, sizeof(h.magic));
	h.format = htole32(SHMS__MANIFEST_FORMAT);
	h.count = htole32(m->count);
	h.generation = htole64(m->generation);
	h.ctime_ns = htole64(m->ctime_ns);
	h.entry_size = htole32((uint32_t)MAN_ENT);
	shms__name_put(h.service, m->service);
	shms__name_put(h.build_id, m->build_id);
	memcpy(buf, &h, sizeof(h));
	for (i = 0; i < m->count; i++) {
		const struct shms__mentry *me = &m->entries[i];

		memset(&e, 0, sizeof(e));
		shms__name_put(e.name, me->name);
		shms__name_put(e.layout, me->layout);
		e.layout_version = htole32(me->layout_version);
		e.kind = htole32(me->kind);
		e.payload_len = htole64(me->payload_len);
		e.payload_xxh3 = htole64(me->payload_xxh3);
		e.hdr_xxh3 = htole64(me->hdr_xxh3);
		e.generation = htole64(me->generation);
		memcpy(buf + MAN_HDR + i * MAN_ENT, &e, sizeof(e));
	}
	sum = htole64(manifest_sum(buf, len));
	memcpy(buf + offsetof(struct shms__disk_manifest, xxh3), &sum, 8);
	*bufp = buf;
	*lenp = len;
	return 0;
}

static int
is_zero(const void *p, size_t n)
{
	const unsigned char *c = p;

	while (n-- > 0)
		if (*c++ != 0)
			return 0;
	return 1;
}

static int
cmp_name(const void *a, const void *b)
{
	const struct shms__mentry *const *x = a, *const *y = b;

	return strcmp((*x)->name, (*y)->name);
}

/* Sorts pointers to the entries by name and looks for neighbours. */
static int
find_duplicate(const struct shms__mentry *ents, uint32_t count,
    const char **dup)
{
	const struct shms__mentry **v;
	uint32_t i;

	if (count < 2)
		return 0;
	if ((v = malloc(count * sizeof(*v))) == NULL)
		return -ENOMEM;
	for (i = 0; i < count; i++)
		v[i] = &ents[i];
	qsort(v, count, sizeof(*v), cmp_name);
	for (i = 1; i < count; i++)
		if (strcmp(v[i - 1]->name, v[i]->name) == 0) {
			/* The name points into ents, which outlives v. */
			*dup = v[i]->name;
			free(v);
			return 1;
		}
	free(v);
	return 0;
}

static int
parse_entry(const unsigned char *p, uint64_t gen, struct shms__mentry *me,
    uint32_t i, char *detail)
{
	struct shms__disk_mentry e;

	memcpy(&e, p, sizeof(e));
	if (shms__name_field(e.name, me->name) != 0)
		return shms__detail(detail, SHMS_ECORRUPT,
		    "manifest entry %" PRIu32 ": invalid segment name", i);
	if (shms__name_field(e.layout, me->layout) != 0)
		return shms__detail(detail, SHMS_ECORRUPT,
		    "manifest entry %" PRIu32 " (%s): invalid layout name", i,
		    me->name);
	me->layout_version = le32toh(e.layout_version);
	me->kind = le32toh(e.kind);
	me->payload_len = le64toh(e.payload_len);
	me->payload_xxh3 = le64toh(e.payload_xxh3);
	me->hdr_xxh3 = le64toh(e.hdr_xxh3);
	me->generation = le64toh(e.generation);
	if (me->kind != SHMS_KIND_CKPT)
		return shms__detail(detail, SHMS_ECORRUPT,
		    "manifest entry %s: kind %" PRIu32 " (expected %d)",
		    me->name, me->kind, SHMS_KIND_CKPT);
	if (me->generation != gen)
		return shms__detail(detail, SHMS_ECORRUPT,
		    "manifest entry %s: generation %" PRIu64 " (expected %"
		    PRIu64 ")", me->name, me->generation, gen);
	if (me->payload_len > SHMS_SEG_MAX_SIZE)
		return shms__detail(detail, SHMS_ECORRUPT,
		    "manifest entry %s: length %" PRIu64 " over the limit",
		    me->name, me->payload_len);
	if (!is_zero(e.reserved, sizeof(e.reserved)))
		return shms__detail(detail, SHMS_ECORRUPT,
		    "manifest entry %s: reserved bytes not zero", me->name);
	return 0;
}

int
shms__manifest_parse(const void *buf, size_t len, struct shms__manifest *out,
    char *detail)
{
	const unsigned char *p = buf;
	struct shms__disk_manifest h;
	struct shms__manifest m;
	const char *dup = NULL;
	uint64_t sum, want;
	uint32_t i;
	int rc;

	if (buf == NULL || len < MAN_HDR)
		return shms__detail(detail, SHMS_ECORRUPT, "manifest truncated "
		    "(%zu bytes, expected at least %zu)", len, MAN_HDR);
	memcpy(&h, p, sizeof(h));
	if (memcmp(h.magic, SHMS__MANIFEST_MAGIC, sizeof(h.magic)) != 0)
		return shms__detail(detail, SHMS_ECORRUPT,
		    "manifest: bad magic (expected \"%s\")",
		    SHMS__MANIFEST_MAGIC);
	if (le32toh(h.format) != SHMS__MANIFEST_FORMAT)
		return shms__detail(detail, SHMS_EFORMAT, "manifest: format %"
		    PRIu32 " (expected %u)", (uint32_t)le32toh(h.format),
		    SHMS__MANIFEST_FORMAT);
	if (le32toh(h.entry_size) != MAN_ENT)
		return shms__detail(detail, SHMS_ECORRUPT, "manifest: entry "
		    "size %" PRIu32 " (expected %zu)",
		    (uint32_t)le32toh(h.entry_size), MAN_ENT);
	memset(&m, 0, sizeof(m));
	m.count = le32toh(h.count);
	if (m.count > SHMS_MAX_SEGMENTS)
		return shms__detail(detail, SHMS_ECORRUPT, "manifest: %" PRIu32
		    " entries (limit %d)", m.count, SHMS_MAX_SEGMENTS);
	if (len != MAN_HDR + (size_t)m.count * MAN_ENT)
		return shms__detail(detail, SHMS_ECORRUPT, "manifest: %zu "
		    "bytes (expected %zu for %" PRIu32 " entries)", len,
		    MAN_HDR + (size_t)m.count * MAN_ENT, m.count);
	sum = manifest_sum(p, len);
	want = le64toh(h.xxh3);
	if (sum != want)
		return shms__detail(detail, SHMS_ECORRUPT, "manifest: checksum "
		    "0x%016" PRIx64 " (expected 0x%016" PRIx64 ")", sum, want);

	m.generation = le64toh(h.generation);
	m.ctime_ns = le64toh(h.ctime_ns);
	if (shms__name_field(h.service, m.service) != 0)
		return shms__detail(detail, SHMS_ECORRUPT,
		    "manifest: invalid service name");
	if (memchr(h.build_id, '\0', sizeof(h.build_id)) == NULL ||
	    shms__build_id_valid(h.build_id) != 0)
		return shms__detail(detail, SHMS_ECORRUPT,
		    "manifest: invalid build id");
	memcpy(m.build_id, h.build_id, sizeof(m.build_id));
	if (h.reserved0 != 0 || !is_zero(h.reserved, sizeof(h.reserved)))
		return shms__detail(detail, SHMS_ECORRUPT,
		    "manifest: reserved bytes not zero");
	if ((m.entries = calloc(m.count ? m.count : 1,
	    sizeof(*m.entries))) == NULL)
		return shms__detail(detail, -ENOMEM, "manifest: out of memory");
	for (i = 0; i < m.count; i++)
		if ((rc = parse_entry(p + MAN_HDR + (size_t)i * MAN_ENT,
		    m.generation, &m.entries[i], i, detail)) < 0)
			goto fail;
	if ((rc = find_duplicate(m.entries, m.count, &dup)) != 0) {
		if (rc > 0)
			rc = shms__detail(detail, SHMS_ECORRUPT,
			    "manifest: segment %s listed twice", dup);
		else
			shms__detail(detail, rc, "manifest: out of memory");
		goto fail;
	}
	*out = m;
	return 0;
fail:
	free(m.entries);
	return rc;
}

int
shms__manifest_read(int dirfd, struct shms__manifest *out, char *detail)
{
	uint64_t size;
	void *buf;
	int fd, rc;

	fd = shms__open_checked(dirfd, SHMS__MANIFEST_FILE, O_RDONLY, &size,
	    detail);
	if (fd == -ENOENT)
		return shms__detail(detail, SHMS_ENOSTATE,
		    "no committed checkpoint (no manifest)");
	if (fd < 0)
		return fd;
	/* Bound the allocation before believing anything in the file. */
	if (size < MAN_HDR || size > MAN_MAX) {
		close(fd);
		return shms__detail(detail, SHMS_ECORRUPT, "manifest: %" PRIu64
		    " bytes (expected %zu..%zu)", size, MAN_HDR, MAN_MAX);
	}
	if ((buf = malloc((size_t)size)) == NULL) {
		close(fd);
		return shms__detail(detail, -ENOMEM, "manifest: out of memory");
	}
	rc = shms__pread_all(fd, buf, (size_t)size, 0);
	close(fd);
	if (rc < 0)
		shms__detail(detail, rc, "manifest: read: %s",
		    shms_strerror(rc));
	else
		rc = shms__manifest_parse(buf, (size_t)size, out, detail);
	free(buf);
	return rc;
}

long
shms__manifest_find(const struct shms__manifest *m, const char *name)
{
	uint32_t i;

	for (i = 0; i < m->count; i++)
		if (strcmp(m->entries[i].name, name) == 0)
			return (long)i;
	return -1;
}

void
shms__manifest_free(struct shms__manifest *m)
{
	if (m == NULL)
		return;
	free(m->entries);
	m->entries = NULL;
	m->count = 0;
}

int
shms__classify(const char *file, const struct shms__manifest *m)
{
	char name[SHMS_NAME_MAX + 1];
	uint64_t gen;

	switch (shms__file_type(file)) {
	case SHMS__FT_ARENA:
		return SHMS_ENT_ARENA;
	case SHMS__FT_CKPT:
		break;
	default:
		return SHMS_ENT_FOREIGN;
	}
	if (shms__ckpt_file_parse(file, &gen, name) != 0)
		return SHMS_ENT_FOREIGN;
	if (m == NULL || gen > m->generation)
		return SHMS_ENT_UNCOMMITTED;
	if (gen < m->generation)
		return SHMS_ENT_SUPERSEDED;
	return shms__manifest_find(m, name) >= 0 ? SHMS_ENT_COMMITTED :
	    SHMS_ENT_UNCOMMITTED;
}
