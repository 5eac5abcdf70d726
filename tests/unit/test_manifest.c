/*
 * test_manifest.c: manifest encode/parse round trip, the table of corrupt
 * manifests, reading from a directory, and classification of files.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <xxhash.h>

#include "internal.h"

#define HDR	sizeof(struct shms__disk_manifest)
#define ENT	sizeof(struct shms__disk_mentry)

static void
sample(struct shms__manifest *m, uint32_t count)
{
	uint32_t i;

	memset(m, 0, sizeof(*m));
	m->generation = 9;
	m->ctime_ns = 1700000000000000000ull;
	strcpy(m->service, "svc");
	strcpy(m->build_id, "abc123");
	m->count = count;
	m->entries = calloc(count ? count : 1, sizeof(*m->entries));
	assert_non_null(m->entries);
	for (i = 0; i < count; i++) {
		struct shms__mentry *e = &m->entries[i];
		snprintf(e->name, sizeof(e->name), "seg%u", i);
		strcpy(e->layout, "lay");
		e->layout_version = i + 1;
		e->kind = SHMS_KIND_CKPT;
		e->payload_len = (uint64_t)i * 1000;
		e->payload_xxh3 = 0x1000 + i;
		e->hdr_xxh3 = 0x2000 + i;
		e->generation = 9;
	}
}

static void
roundtrip(void **state)
{
	struct shms__manifest m, out;
	char detail[SHMS_DETAIL_MAX];
	uint32_t counts[] = { 0, 1, 3, 200 };
	size_t len, k;
	void *buf;

	for (k = 0; k < SHMS__ARRAY_SIZE(counts); k++) {
		sample(&m, counts[k]);
		assert_int_equal(shms__manifest_encode(&m, &buf, &len), 0);
		assert_int_equal(len, HDR + counts[k] * ENT);
		assert_int_equal(shms__manifest_parse(buf, len, &out, detail),
		    0);
		assert_true(out.generation == 9);
		assert_true(out.ctime_ns == m.ctime_ns);
		assert_string_equal(out.service, "svc");
		assert_string_equal(out.build_id, "abc123");
		assert_int_equal(out.count, counts[k]);
		if (counts[k] > 0)
			assert_memory_equal(out.entries, m.entries,
			    counts[k] * sizeof(*m.entries));
		if (counts[k] > 2) {
			assert_int_equal(shms__manifest_find(&out, "seg2"), 2);
			assert_int_equal(shms__manifest_find(&out, "nope"), -1);
		}
		shms__manifest_free(&out);
		shms__manifest_free(&m);
		free(buf);
	}
	shms__manifest_free(NULL);
}

static void
encode_limit(void **state)
{
	struct shms__manifest m;
	void *buf = NULL;
	size_t len = 0;

	sample(&m, 1);
	m.count = SHMS_MAX_SEGMENTS + 1;
	assert_int_equal(shms__manifest_encode(&m, &buf, &len), SHMS_ELIMIT);
	m.count = 1;
	shms__manifest_free(&m);
}

static void
resum(unsigned char *buf, size_t len)
{
	uint64_t zero = 0, sum;

	memcpy(buf + 16, &zero, 8);
	sum = htole64(XXH3_64bits(buf, len));
	memcpy(buf + 16, &sum, 8);
}

struct corrupt {
	const char	*what;
	int		 resum;
	int		 want;
	/* Edits buf (3 entries) and may change *len. */
	void		(*fn)(unsigned char *buf, size_t *len);
};

static void
put32(unsigned char *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
}

static void
put64(unsigned char *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, 8);
}

static void m_magic(unsigned char *b, size_t *l) { b[0] = 'X'; }
static void m_format(unsigned char *b, size_t *l) { put32(b + 8, 2); }
static void m_count_big(unsigned char *b, size_t *l) { put32(b + 12, SHMS_MAX_SEGMENTS + 1); }
static void m_count_more(unsigned char *b, size_t *l) { put32(b + 12, 4); }
static void m_count_less(unsigned char *b, size_t *l) { put32(b + 12, 2); }
static void m_count_huge(unsigned char *b, size_t *l) { put32(b + 12, 0xffffffffu); }
static void m_sum(unsigned char *b, size_t *l) { b[16] ^= 1; }
static void m_flip(unsigned char *b, size_t *l) { b[HDR + ENT + 140] ^= 4; }
static void m_entsize(unsigned char *b, size_t *l) { put32(b + 40, 128); }
static void m_service(unsigned char *b, size_t *l) { memcpy(b + 48, "../x", 5); }
static void m_service_nonul(unsigned char *b, size_t *l) { memset(b + 48, 's', 64); }
static void m_build(unsigned char *b, size_t *l) { memset(b + 112, 0, 64); }
static void m_rsvd(unsigned char *b, size_t *l) { b[200] = 1; }
static void m_short(unsigned char *b, size_t *l) { *l -= 1; }
static void m_long(unsigned char *b, size_t *l) { *l += 1; }
static void m_hdr_only(unsigned char *b, size_t *l) { *l = HDR - 1; }
static void m_empty(unsigned char *b, size_t *l) { *l = 0; }
static void m_ent_name(unsigned char *b, size_t *l) { memcpy(b + HDR, "a/b", 4); }
static void m_ent_nonul(unsigned char *b, size_t *l) { memset(b + HDR, 'n', 64); }
static void m_ent_layout(unsigned char *b, size_t *l) { memset(b + HDR + 64, 0, 64); }
static void m_ent_kind(unsigned char *b, size_t *l) { put32(b + HDR + 132, SHMS_KIND_ARENA); }
static void m_ent_gen(unsigned char *b, size_t *l) { put64(b + HDR + 2 * ENT + 160, 8); }
static void m_ent_len(unsigned char *b, size_t *l) { put64(b + HDR + 136, SHMS_SEG_MAX_SIZE + 1); }
static void m_ent_rsvd(unsigned char *b, size_t *l) { b[HDR + 255] = 1; }
static void m_dup(unsigned char *b, size_t *l) { memcpy(b + HDR + 2 * ENT, "seg0", 5); }

static const struct corrupt table[] = {
	{ "bad magic", 0, SHMS_ECORRUPT, m_magic },
	{ "format 2", 1, SHMS_EFORMAT, m_format },
	{ "count over the limit", 1, SHMS_ECORRUPT, m_count_big },
	{ "count one more than the file", 1, SHMS_ECORRUPT, m_count_more },
	{ "count one less than the file", 1, SHMS_ECORRUPT, m_count_less },
	{ "count ~0", 1, SHMS_ECORRUPT, m_count_huge },
	{ "checksum", 0, SHMS_ECORRUPT, m_sum },
	{ "bit flip in an entry", 0, SHMS_ECORRUPT, m_flip },
	{ "entry size", 1, SHMS_ECORRUPT, m_entsize },
	{ "service ../x", 1, SHMS_ECORRUPT, m_service },
	{ "service without NUL", 1, SHMS_ECORRUPT, m_service_nonul },
	{ "empty build id", 1, SHMS_ECORRUPT, m_build },
	{ "reserved header bytes", 1, SHMS_ECORRUPT, m_rsvd },
	{ "one byte short", 0, SHMS_ECORRUPT, m_short },
	{ "one byte long", 0, SHMS_ECORRUPT, m_long },
	{ "shorter than a header", 0, SHMS_ECORRUPT, m_hdr_only },
	{ "empty", 0, SHMS_ECORRUPT, m_empty },
	{ "entry name a/b", 1, SHMS_ECORRUPT, m_ent_name },
	{ "entry name without NUL", 1, SHMS_ECORRUPT, m_ent_nonul },
	{ "entry empty layout", 1, SHMS_ECORRUPT, m_ent_layout },
	{ "entry of kind arena", 1, SHMS_ECORRUPT, m_ent_kind },
	{ "entry of another generation", 1, SHMS_ECORRUPT, m_ent_gen },
	{ "entry length over max", 1, SHMS_ECORRUPT, m_ent_len },
	{ "entry reserved bytes", 1, SHMS_ECORRUPT, m_ent_rsvd },
	{ "duplicate names", 1, SHMS_ECORRUPT, m_dup },
};

static void
corrupt_table(void **state)
{
	struct shms__manifest m, out, canary;
	char detail[SHMS_DETAIL_MAX];
	unsigned char *big;
	size_t len, i;
	void *buf;
	int rc;

	sample(&m, 3);
	assert_int_equal(shms__manifest_encode(&m, &buf, &len), 0);
	shms__manifest_free(&m);
	/* Room for m_long to read one byte past the real image. */
	big = calloc(1, len + 1);
	assert_non_null(big);
	for (i = 0; i < SHMS__ARRAY_SIZE(table); i++) {
		size_t l = len;

		memcpy(big, buf, len);
		table[i].fn(big, &l);
		if (table[i].resum)
			resum(big, l);
		memset(&out, 0x5a, sizeof(out));
		memcpy(&canary, &out, sizeof(out));
		detail[0] = '\0';
		rc = shms__manifest_parse(big, l, &out, detail);
		if (rc != table[i].want)
			fail_msg("%s: got %d (%s), want %d", table[i].what, rc,
			    detail, table[i].want);
		if (detail[0] == '\0')
			fail_msg("%s: no detail", table[i].what);
		assert_memory_equal(&out, &canary, sizeof(out));
	}
	assert_int_equal(shms__manifest_parse(NULL, 0, &out, NULL),
	    SHMS_ECORRUPT);
	free(big);
	free(buf);
}

static int
tmpdir(char *path)
{
	int fd;

	strcpy(path, "/dev/shm/shmstate-man.XXXXXX");
	assert_non_null(mkdtemp(path));
	fd = open(path, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	return fd;
}

static void
write_file(int dirfd, const char *name, const void *buf, size_t len,
    mode_t mode)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

/* Makes "manifest" one byte over the largest possible size. */
static int
truncate_at(int dirfd)
{
	int fd = openat(dirfd, "manifest", O_WRONLY);
	int rc;

	assert_true(fd >= 0);
	rc = ftruncate(fd, (off_t)(HDR + (size_t)SHMS_MAX_SEGMENTS * ENT + 1));
	close(fd);
	return rc;
}

static void
read_dir(void **state)
{
	struct shms__manifest m, out;
	char path[64], detail[SHMS_DETAIL_MAX];
	size_t len;
	void *buf;
	int dirfd;

	dirfd = tmpdir(path);
	assert_int_equal(shms__manifest_read(dirfd, &out, detail),
	    SHMS_ENOSTATE);
	sample(&m, 2);
	assert_int_equal(shms__manifest_encode(&m, &buf, &len), 0);
	write_file(dirfd, "manifest", buf, len, 0600);
	assert_int_equal(shms__manifest_read(dirfd, &out, detail), 0);
	assert_int_equal(out.count, 2);
	shms__manifest_free(&out);

	/* Group-readable: refused like a segment. */
	write_file(dirfd, "manifest", buf, len, 0640);
	assert_int_equal(shms__manifest_read(dirfd, &out, detail),
	    SHMS_EPERMS);
	/* A symlink to a good manifest is still a symlink. */
	unlinkat(dirfd, "manifest", 0);
	write_file(dirfd, "real", buf, len, 0600);
	assert_int_equal(symlinkat("real", dirfd, "manifest"), 0);
	assert_int_equal(shms__manifest_read(dirfd, &out, detail),
	    SHMS_ESYMLINK);
	unlinkat(dirfd, "manifest", 0);
	/* A directory in its place. */
	assert_int_equal(mkdirat(dirfd, "manifest", 0700), 0);
	assert_true(shms__manifest_read(dirfd, &out, detail) < 0);
	unlinkat(dirfd, "manifest", AT_REMOVEDIR);
	/* Huge: refused by size before it is read. */
	write_file(dirfd, "manifest", buf, len, 0600);
	assert_int_equal(truncate_at(dirfd), 0);
	assert_int_equal(shms__manifest_read(dirfd, &out, detail),
	    SHMS_ECORRUPT);
	assert_non_null(strstr(detail, "bytes (expected"));

	unlinkat(dirfd, "manifest", 0);
	unlinkat(dirfd, "real", 0);
	close(dirfd);
	rmdir(path);
	shms__manifest_free(&m);
	free(buf);
}

static void
classify(void **state)
{
	struct shms__manifest m;

	sample(&m, 2);	/* generation 9: seg0, seg1 */
	assert_int_equal(shms__classify("ckpt.0000000000000009.seg0", &m),
	    SHMS_ENT_COMMITTED);
	assert_int_equal(shms__classify("ckpt.0000000000000009.seg7", &m),
	    SHMS_ENT_UNCOMMITTED);
	assert_int_equal(shms__classify("ckpt.000000000000000a.seg0", &m),
	    SHMS_ENT_UNCOMMITTED);
	assert_int_equal(shms__classify("ckpt.0000000000000008.seg0", &m),
	    SHMS_ENT_SUPERSEDED);
	assert_int_equal(shms__classify("ckpt.0000000000000001.seg0", NULL),
	    SHMS_ENT_UNCOMMITTED);
	assert_int_equal(shms__classify("arena.x", &m), SHMS_ENT_ARENA);
	assert_int_equal(shms__classify("lock", &m), SHMS_ENT_FOREIGN);
	assert_int_equal(shms__classify("junk", NULL), SHMS_ENT_FOREIGN);
	shms__manifest_free(&m);
}

/* Random damage and lengths, bounded and seeded: never a crash. */
static void
random_damage(void **state)
{
	struct shms__manifest m, out;
	unsigned char *img;
	uint64_t x = 42;
	size_t len, l;
	void *buf;
	int i, j, rc;

	sample(&m, 5);
	assert_int_equal(shms__manifest_encode(&m, &buf, &len), 0);
	shms__manifest_free(&m);
	img = malloc(len);
	assert_non_null(img);
	for (i = 0; i < 5000; i++) {
		memcpy(img, buf, len);
		for (j = 0; j < 1 + i % 3; j++) {
			x = x * 6364136223846793005ull + 1442695040888963407ull;
			img[(x >> 33) % len] ^= (unsigned char)(1 + (x >> 20) %
			    255);
		}
		l = i % 5 == 0 ? (size_t)(x >> 40) % (len + 1) : len;
		if (i % 2)
			resum(img, l < 24 ? 24 : l);
		rc = shms__manifest_parse(img, l, &out, NULL);
		if (rc == 0) {
			assert_true(out.count <= 5);
			shms__manifest_free(&out);
		} else if (rc != SHMS_ECORRUPT && rc != SHMS_EFORMAT)
			fail_msg("iteration %d: unexpected %d", i, rc);
	}
	free(img);
	free(buf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(roundtrip),
		cmocka_unit_test(encode_limit),
		cmocka_unit_test(corrupt_table),
		cmocka_unit_test(read_dir),
		cmocka_unit_test(classify),
		cmocka_unit_test(random_damage),
	};

	return cmocka_run_group_tests_name("manifest", tests, NULL, NULL);
}
