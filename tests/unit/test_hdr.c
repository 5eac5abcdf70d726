/*
 * test_hdr.c: segment header encode/decode and the table of corrupt
 * headers, each with its exact error code.
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
#include <unistd.h>

#include <cmocka.h>

#include "internal.h"

static void
sample(struct shms_seg_info *in)
{
	memset(in, 0, sizeof(*in));
	strcpy(in->name, "kv");
	strcpy(in->layout, "kv-entries");
	strcpy(in->build_id, "0123456789abcdef");
	in->layout_version = 7;
	in->kind = SHMS_KIND_CKPT;
	in->state = SHMS_STATE_CLEAN;
	in->flags = SHMS__F_SUMMED;
	in->page_size = 4096;
	in->generation = 0x1122334455667788ull;
	in->payload_off = SHMS__HDR_PAGE;
	in->payload_len = 123456789;
	in->payload_xxh3 = 0xdeadbeefcafef00dull;
	in->owner_pid = 4242;
	in->ctime_ns = 1700000000000000000ull;
	in->seal_ns = 1700000000000000001ull;
}

static void
roundtrip(void **state)
{
	struct shms_seg_info in, out;
	struct shms__disk_hdr h;
	char detail[SHMS_DETAIL_MAX];

	sample(&in);
	shms__hdr_encode(&in, &h, 0);
	assert_memory_equal(h.magic, SHMS__MAGIC, 8);
	assert_int_equal(le32toh(h.format), SHMS__FORMAT);
	assert_true(in.hdr_xxh3 == le64toh(h.hdr_xxh3));
	assert_true(in.hdr_xxh3 == shms__hdr_sum(&h));
	assert_int_equal(shms__hdr_decode(&h, sizeof(h), &out, detail), 0);
	in.format = SHMS__FORMAT;
	assert_memory_equal(&in, &out, sizeof(in));

	/* Little-endian on the wire, whatever the host. */
	assert_int_equal(((unsigned char *)&h)[40], 0x88);
	assert_int_equal(((unsigned char *)&h)[47], 0x11);

	/* Huge-page layout: payload at 2 MiB. */
	in.flags |= SHMS__F_HUGE;
	in.payload_off = 2u << 20;
	in.page_size = 2u << 20;
	shms__hdr_encode(&in, &h, 0);
	assert_int_equal(shms__hdr_decode(&h, sizeof(h), &out, detail), 0);
	assert_true(out.payload_off == 2u << 20);
}

static void
omit_magic(void **state)
{
	struct shms_seg_info in, out;
	struct shms__disk_hdr h, page;

	sample(&in);
	shms__hdr_encode(&in, &h, 1);
	assert_int_equal(shms__hdr_decode(&h, sizeof(h), &out, NULL),
	    SHMS_EMAGIC);
	/* Publishing the magic completes a header whose sum covers it. */
	memcpy(h.magic, SHMS__MAGIC, 8);
	assert_int_equal(shms__hdr_decode(&h, sizeof(h), &out, NULL), 0);

	memset(&page, 0, sizeof(page));
	shms__hdr_store(&page, &h);
	assert_memory_equal(&page, &h, sizeof(h));
}

/* A mutation of an encoded header, and whether to fix the checksum after. */
struct corrupt {
	const char	*what;
	int		 resum;
	int		 want;
	void		(*fn)(struct shms__disk_hdr *h);
};

static void c_magic(struct shms__disk_hdr *h) { h->magic[0] = 'X'; }
static void c_magic_zero(struct shms__disk_hdr *h) { memset(h->magic, 0, 8); }
static void c_format(struct shms__disk_hdr *h) { h->format = htole32(2); }
static void c_format0(struct shms__disk_hdr *h) { h->format = 0; }
static void c_hdrsize(struct shms__disk_hdr *h) { h->hdr_size = htole32(511); }
static void c_sum(struct shms__disk_hdr *h) { h->hdr_xxh3 ^= 1; }
static void c_bitflip(struct shms__disk_hdr *h) { h->payload_len ^= htole64(1); }
static void c_nameflip(struct shms__disk_hdr *h) { h->name[0] ^= 0x20; }
static void c_kind0(struct shms__disk_hdr *h) { h->kind = 0; }
static void c_kind3(struct shms__disk_hdr *h) { h->kind = htole32(3); }
static void c_state0(struct shms__disk_hdr *h) { h->state = 0; }
static void c_state5(struct shms__disk_hdr *h) { h->state = htole32(5); }
static void c_statebig(struct shms__disk_hdr *h) { h->state = 0xffffffffu; }
static void c_flags(struct shms__disk_hdr *h) { h->flags |= htole32(0x80); }
static void c_name_nonul(struct shms__disk_hdr *h) { memset(h->name, 'a', 64); }
static void c_name_empty(struct shms__disk_hdr *h) { memset(h->name, 0, 64); }
static void c_name_slash(struct shms__disk_hdr *h) { memcpy(h->name, "a/b", 4); }
static void c_name_dotdot(struct shms__disk_hdr *h) { memcpy(h->name, "..", 3); }
static void c_name_ctrl(struct shms__disk_hdr *h) { h->name[1] = '\n'; }
static void c_name_utf8(struct shms__disk_hdr *h) { memcpy(h->name, "\xc3\xa9", 3); }
static void c_layout_nonul(struct shms__disk_hdr *h) { memset(h->layout, 'l', 64); }
static void c_layout_bad(struct shms__disk_hdr *h) { memcpy(h->layout, ".x", 3); }
static void c_build_nonul(struct shms__disk_hdr *h) { memset(h->build_id, 'b', 64); }
static void c_build_empty(struct shms__disk_hdr *h) { memset(h->build_id, 0, 64); }
static void c_build_space(struct shms__disk_hdr *h) { h->build_id[0] = ' '; }
static void c_off0(struct shms__disk_hdr *h) { h->payload_off = 0; }
static void c_off512(struct shms__disk_hdr *h) { h->payload_off = htole64(512); }
static void c_offhuge(struct shms__disk_hdr *h) { h->payload_off = htole64(2u << 20); }
static void c_huge_4k(struct shms__disk_hdr *h) { h->flags |= htole32(SHMS__F_HUGE); }
static void c_len_max(struct shms__disk_hdr *h) { h->payload_len = UINT64_MAX; }
static void c_len_over(struct shms__disk_hdr *h) { h->payload_len = htole64(SHMS_SEG_MAX_SIZE + 1); }
static void c_page0(struct shms__disk_hdr *h) { h->page_size = 0; }
static void c_page3k(struct shms__disk_hdr *h) { h->page_size = htole32(3072); }
static void c_pid(struct shms__disk_hdr *h) { h->owner_pid = (int64_t)htole64((uint64_t)-5); }
static void c_rsvd0(struct shms__disk_hdr *h) { h->reserved0 = 1; }
static void c_rsvd(struct shms__disk_hdr *h) { h->reserved[100] = 1; }

static const struct corrupt table[] = {
	{ "bad magic", 0, SHMS_EMAGIC, c_magic },
	{ "zero magic", 0, SHMS_EMAGIC, c_magic_zero },
	{ "format 2", 1, SHMS_EFORMAT, c_format },
	{ "format 0", 0, SHMS_EFORMAT, c_format0 },
	{ "hdr_size", 1, SHMS_EFORMAT, c_hdrsize },
	{ "checksum", 0, SHMS_EHDRSUM, c_sum },
	{ "bit flip in a field", 0, SHMS_EHDRSUM, c_bitflip },
	{ "bit flip in the name", 0, SHMS_EHDRSUM, c_nameflip },
	{ "kind 0", 1, SHMS_ECORRUPT, c_kind0 },
	{ "kind 3", 1, SHMS_ECORRUPT, c_kind3 },
	{ "state 0", 1, SHMS_ECORRUPT, c_state0 },
	{ "state 5", 1, SHMS_ECORRUPT, c_state5 },
	{ "state ~0", 1, SHMS_ECORRUPT, c_statebig },
	{ "unknown flag", 1, SHMS_ECORRUPT, c_flags },
	{ "name without NUL", 1, SHMS_ECORRUPT, c_name_nonul },
	{ "empty name", 1, SHMS_ECORRUPT, c_name_empty },
	{ "name with /", 1, SHMS_ECORRUPT, c_name_slash },
	{ "name ..", 1, SHMS_ECORRUPT, c_name_dotdot },
	{ "name with newline", 1, SHMS_ECORRUPT, c_name_ctrl },
	{ "name in UTF-8", 1, SHMS_ECORRUPT, c_name_utf8 },
	{ "layout without NUL", 1, SHMS_ECORRUPT, c_layout_nonul },
	{ "layout .x", 1, SHMS_ECORRUPT, c_layout_bad },
	{ "build id without NUL", 1, SHMS_ECORRUPT, c_build_nonul },
	{ "empty build id", 1, SHMS_ECORRUPT, c_build_empty },
	{ "build id with space", 1, SHMS_ECORRUPT, c_build_space },
	{ "payload_off 0", 1, SHMS_ECORRUPT, c_off0 },
	{ "payload_off 512", 1, SHMS_ECORRUPT, c_off512 },
	{ "payload_off 2M without huge", 1, SHMS_ECORRUPT, c_offhuge },
	{ "huge flag with 4K offset", 1, SHMS_ECORRUPT, c_huge_4k },
	{ "payload_len ~0", 1, SHMS_ECORRUPT, c_len_max },
	{ "payload_len over max", 1, SHMS_ECORRUPT, c_len_over },
	{ "page size 0", 1, SHMS_ECORRUPT, c_page0 },
	{ "page size 3072", 1, SHMS_ECORRUPT, c_page3k },
	{ "negative pid", 1, SHMS_ECORRUPT, c_pid },
	{ "reserved0", 1, SHMS_ECORRUPT, c_rsvd0 },
	{ "reserved bytes", 1, SHMS_ECORRUPT, c_rsvd },
};

static void
corrupt_table(void **state)
{
	struct shms_seg_info in, out, canary;
	struct shms__disk_hdr h;
	char detail[SHMS_DETAIL_MAX];
	size_t i;
	int rc;

	for (i = 0; i < SHMS__ARRAY_SIZE(table); i++) {
		sample(&in);
		shms__hdr_encode(&in, &h, 0);
		table[i].fn(&h);
		if (table[i].resum)
			h.hdr_xxh3 = htole64(shms__hdr_sum(&h));
		memset(&out, 0xa5, sizeof(out));
		memcpy(&canary, &out, sizeof(out));
		detail[0] = '\0';
		rc = shms__hdr_decode(&h, sizeof(h), &out, detail);
		if (rc != table[i].want)
			fail_msg("%s: got %d (%s), want %d", table[i].what, rc,
			    detail, table[i].want);
		if (detail[0] == '\0')
			fail_msg("%s: no detail", table[i].what);
		/* The out-parameter is written only on success. */
		assert_memory_equal(&out, &canary, sizeof(out));
	}
}

static void
truncated_buffers(void **state)
{
	struct shms_seg_info in, out;
	struct shms__disk_hdr h;
	char detail[SHMS_DETAIL_MAX];
	size_t n;

	sample(&in);
	shms__hdr_encode(&in, &h, 0);
	for (n = 0; n < sizeof(h); n += 37)
		assert_int_equal(shms__hdr_decode(&h, n, &out, detail),
		    SHMS_ETRUNC);
	assert_int_equal(shms__hdr_decode(&h, sizeof(h) - 1, &out, detail),
	    SHMS_ETRUNC);
	assert_int_equal(shms__hdr_decode(NULL, 4096, &out, detail),
	    SHMS_ETRUNC);
	assert_int_equal(shms__hdr_decode(&h, sizeof(h), &out, NULL), 0);
}

static void
file_size_check(void **state)
{
	struct shms_seg_info in;
	char detail[SHMS_DETAIL_MAX];

	sample(&in);
	assert_int_equal(shms__hdr_check_size(&in, 4096 + 123456789, detail),
	    0);
	assert_int_equal(shms__hdr_check_size(&in, 4096 + 123456788, detail),
	    SHMS_ETRUNC);
	assert_non_null(strstr(detail, "expected at least"));
	assert_int_equal(shms__hdr_check_size(&in, 0, detail), SHMS_ETRUNC);
	assert_int_equal(shms__hdr_check_size(&in, 4095, detail), SHMS_ETRUNC);
	assert_int_equal(shms__hdr_check_size(&in, UINT64_MAX, detail), 0);
	in.payload_len = 0;
	assert_int_equal(shms__hdr_check_size(&in, 4096, detail), 0);
}

/* shms__hdr_read() on real files of every size up to a header. */
static void
read_from_file(void **state)
{
	char path[] = "/dev/shm/shmstate-hdr.XXXXXX";
	struct shms_seg_info in, out;
	struct shms__disk_hdr h;
	char detail[SHMS_DETAIL_MAX];
	int fd;

	sample(&in);
	in.payload_len = 10;
	shms__hdr_encode(&in, &h, 0);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(shms__hdr_read(fd, 0, &out, detail), SHMS_ETRUNC);
	assert_int_equal(pwrite(fd, &h, 100, 0), 100);
	assert_int_equal(shms__hdr_read(fd, 100, &out, detail), SHMS_ETRUNC);
	assert_int_equal(pwrite(fd, &h, sizeof(h), 0), (ssize_t)sizeof(h));
	assert_int_equal(shms__hdr_read(fd, sizeof(h), &out, detail),
	    SHMS_ETRUNC);
	assert_int_equal(ftruncate(fd, 4096 + 10), 0);
	assert_int_equal(shms__hdr_read(fd, 4096 + 10, &out, detail), 0);
	assert_true(out.file_size == 4096 + 10);
	/* A caller that believes a larger size than the file has. */
	assert_int_equal(ftruncate(fd, 100), 0);
	assert_int_equal(shms__hdr_read(fd, 4096 + 10, &out, detail),
	    SHMS_ETRUNC);
	close(fd);
}

/*
 * Random damage, bounded and seeded: every result is a code from the set
 * decode may return, and a success decodes to a self-consistent header.
 */
static void
random_damage(void **state)
{
	struct shms_seg_info in, out;
	unsigned char buf[sizeof(struct shms__disk_hdr)];
	uint64_t x = 0x1234567;
	int i, j, rc, ok = 0;

	sample(&in);
	for (i = 0; i < 20000; i++) {
		shms__hdr_encode(&in, (struct shms__disk_hdr *)buf, 0);
		for (j = 0; j < 1 + i % 4; j++) {
			x = x * 6364136223846793005ull + 1442695040888963407ull;
			buf[(x >> 33) % sizeof(buf)] ^= (unsigned char)(1 +
			    (x >> 20) % 255);
		}
		if (i % 2)	/* half with a fixed checksum: reach the checks */
			((struct shms__disk_hdr *)buf)->hdr_xxh3 = htole64(
			    shms__hdr_sum((struct shms__disk_hdr *)buf));
		rc = shms__hdr_decode(buf, sizeof(buf) - (i % 7 == 0), &out,
		    NULL);
		switch (rc) {
		case 0:
			ok++;
			assert_true(out.payload_len <= SHMS_SEG_MAX_SIZE);
			assert_int_equal(shms__name_valid(out.name), 0);
			assert_int_equal(shms__name_valid(out.layout), 0);
			break;
		case SHMS_ETRUNC: case SHMS_EMAGIC: case SHMS_EFORMAT:
		case SHMS_EHDRSUM: case SHMS_ECORRUPT:
			break;
		default:
			fail_msg("iteration %d: unexpected %d", i, rc);
		}
	}
	/* Some damage is benign (times, checksums, a valid name byte). */
	assert_true(ok > 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(roundtrip),
		cmocka_unit_test(omit_magic),
		cmocka_unit_test(corrupt_table),
		cmocka_unit_test(truncated_buffers),
		cmocka_unit_test(file_size_check),
		cmocka_unit_test(read_from_file),
		cmocka_unit_test(random_damage),
	};

	return cmocka_run_group_tests_name("hdr", tests, NULL, NULL);
}
