/*
 * test_adopt.c: adopting a committed checkpoint, and every typed error of
 * a bad one, produced by editing real segment files: no state, layout,
 * version, magic, format, header and payload checksums (FULL and STREAM),
 * truncation, missing, consumed, foreign owner, symlink, unsafe mode,
 * header/manifest disagreement. Plus page release and finish.
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
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core_test.h"

#define MiB	((size_t)1 << 20)
#define LEN	(3 * MiB + 123)

static const char *const names[] = { "a", "b" };

static int fail_mmap;

void *__real_mmap(void *, size_t, int, int, int, off_t);
void *__wrap_mmap(void *, size_t, int, int, int, off_t);

void *
__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	if (fail_mmap) {
		errno = ENOMEM;
		return MAP_FAILED;
	}
	return __real_mmap(addr, len, prot, flags, fd, off);
}

/* A service with a committed checkpoint of segments a and b, LEN each. */
static struct shms_svc *
fresh(const char *prefix)
{
	struct shms_svc *svc = open_w(test_service(prefix));

	assert_true(make_ckpt(svc, names, 2, LEN) == 1);
	return svc;
}

/* Opens segment a with the given checks; returns the code. */
static int
try_open(struct shms_svc *svc, const char *layout, uint32_t version,
    enum shms_verify verify)
{
	struct shms_adopt *ad;
	struct shms_seg *seg;
	int rc;

	assert_int_equal(shms_adopt_begin(svc, 0, &ad), 0);
	rc = shms_adopt_seg_open(ad, "a", layout, version, verify, &seg);
	if (rc < 0 && shms_errdetail(svc)[0] == '\0')
		fail_msg("error %d without detail", rc);
	shms_adopt_abort(ad);
	return rc;
}

static void
expect_detail(struct shms_svc *svc, const char *part)
{
	if (strstr(shms_errdetail(svc), part) == NULL)
		fail_msg("detail \"%s\" lacks \"%s\"", shms_errdetail(svc),
		    part);
}

static void
adopt_all(void **state)
{
	struct shms_svc *svc = fresh("all");
	struct shms_adopt *ad;
	struct shms_seg *seg;
	struct shms_seg_info info;
	unsigned char *want = malloc(LEN), *got = malloc(LEN);
	const void *data;
	uint64_t len;
	size_t n, total;

	assert_non_null(want);
	assert_non_null(got);
	assert_int_equal(shms_adopt_begin(svc, 0, &ad), 0);
	assert_true(shms_adopt_generation(ad) == 1);
	assert_int_equal(shms_adopt_count(ad), 2);
	assert_int_equal(shms_adopt_entry(ad, 1, &info), 0);
	assert_string_equal(info.name, "b");
	assert_string_equal(info.layout, "lay");
	assert_true(info.payload_len == LEN);
	assert_true(info.generation == 1);
	assert_int_equal(info.state, SHMS_STATE_CLEAN);
	assert_int_equal(shms_adopt_entry(ad, 2, &info), -EINVAL);

	/* Mapped whole, verified up front. */
	assert_int_equal(shms_adopt_seg_open(ad, "a", "lay", 1,
	    SHMS_VERIFY_FULL, &seg), 0);
	assert_int_equal(shms_seg_data(seg, &data, &len), 0);
	assert_true(len == LEN);
	fill(want, LEN, 0, 0);
	assert_memory_equal(data, want, LEN);
	assert_int_equal(shms_seg_info(seg, &info), 0);
	assert_int_equal(info.state, SHMS_STATE_CLEAN);
	assert_true(info.file_size == 4096 + LEN);
	/* Writing calls are for checkpoint segments. */
	{
		void *p;
		assert_int_equal(shms_seg_write(seg, "x", 1), -EINVAL);
		assert_int_equal(shms_seg_reserve(seg, 1, &p), -EINVAL);
		assert_int_equal(shms_seg_commit(seg, 0), -EINVAL);
	}
	assert_true(info.owner_pid == getpid());
	assert_true(info.seal_ns >= info.ctime_ns);
	assert_string_equal(info.build_id, shms__svc_build_id(svc));
	/* Once per adoption. */
	{
		struct shms_seg *again;
		assert_int_equal(shms_adopt_seg_open(ad, "a", "lay", 1,
		    SHMS_VERIFY_HEADER, &again), -EBUSY);
	}
	assert_int_equal(shms_seg_close(seg), 0);

	/* Streamed in odd pieces, verified at the end. */
	assert_int_equal(shms_adopt_seg_open(ad, "b", "lay", 1,
	    SHMS_VERIFY_STREAM, &seg), 0);
	for (total = 0;; total += n) {
		assert_int_equal(shms_seg_read(seg, got + total,
		    total + 99999 > LEN ? LEN + 10 - total : 99999, &n), 0);
		if (n == 0)
			break;
	}
	assert_true(total == LEN);
	fill(want, LEN, 1, 0);
	assert_memory_equal(got, want, LEN);
	assert_int_equal(shms_adopt_seg_open(ad, "zz", NULL, 0,
	    SHMS_VERIFY_HEADER, &seg), SHMS_ENOTFOUND);
	assert_int_equal(shms_adopt_seg_open(ad, "a/", NULL, 0,
	    SHMS_VERIFY_HEADER, &seg), SHMS_ENAME);
	assert_int_equal(shms_adopt_seg_open(ad, "a", NULL, 0,
	    (enum shms_verify)7, &seg), -EINVAL);

	/* finish removes the generation, leaving no state. */
	assert_int_equal(shms_adopt_finish(ad, 0), 0);
	assert_int_equal(shms_adopt_begin(svc, 0, &ad), SHMS_ENOSTATE);
	assert_true(seg_fd(svc, 1, "a", O_RDONLY) < 0);
	assert_true(seg_fd(svc, 1, "b", O_RDONLY) < 0);
	free(want);
	free(got);
	assert_int_equal(shms_svc_close(svc), 0);
}

static void
no_state(void **state)
{
	struct shms_svc *svc = open_w(test_service("nostate"));
	struct shms_adopt *ad;

	assert_int_equal(shms_adopt_begin(svc, 0, &ad), SHMS_ENOSTATE);
	expect_detail(svc, "no manifest");
	assert_int_equal(shms_adopt_begin(svc, 1, &ad), -EINVAL);
	assert_int_equal(shms_svc_close(svc), 0);
}

static void
layout_and_version(void **state)
{
	struct shms_svc *svc = fresh("layout");

	assert_int_equal(try_open(svc, "other", 1, SHMS_VERIFY_HEADER),
	    SHMS_ELAYOUT);
	expect_detail(svc, "layout lay (expected other)");
	assert_int_equal(try_open(svc, "lay", 2, SHMS_VERIFY_HEADER),
	    SHMS_EVERSION);
	expect_detail(svc, "version 1 (expected 2)");
	assert_int_equal(try_open(svc, NULL, 99, SHMS_VERIFY_FULL), 0);
	assert_int_equal(try_open(svc, "lay", 1, SHMS_VERIFY_FULL), 0);
	assert_int_equal(shms_svc_close(svc), 0);
}

/* Closes a service and removes nothing: each case gets a fresh one. */
static void
svc_drop(struct shms_svc *svc)
{
	assert_int_equal(shms_svc_close(svc), 0);
}

static void h_format(struct shms__disk_hdr *h) { h->format = htole32(9); }
static void h_state(struct shms__disk_hdr *h) { h->state = htole32(SHMS_STATE_LIVE); }
static void h_version(struct shms__disk_hdr *h) { h->layout_version = htole32(2); }
static void h_len(struct shms__disk_hdr *h) { h->payload_len = htole64(LEN - 1); }
static void h_none(struct shms__disk_hdr *h) { (void)h; }

static void
header_errors(void **state)
{
	struct shms_svc *svc = fresh("hdr");
	unsigned char x = 'X';

	/* Bad magic. */
	poke(svc, 1, "a", 0, &x, 1);
	assert_int_equal(try_open(svc, "lay", 1, SHMS_VERIFY_HEADER),
	    SHMS_EMAGIC);
	expect_detail(svc, "ckpt.0000000000000001.a");
	poke(svc, 1, "a", 0, "S", 1);
	assert_int_equal(try_open(svc, "lay", 1, SHMS_VERIFY_HEADER), 0);

	/* A newer on-shm format (with a correct checksum). */
	edit_hdr(svc, 1, "a", h_format, 1);
	assert_int_equal(try_open(svc, "lay", 1, SHMS_VERIFY_HEADER),
	    SHMS_EFORMAT);
	svc_drop(svc);
}

static void
checksum_errors(void **state)
{
	struct shms_svc *svc = fresh("sum");
	struct shms_adopt *ad;
	struct shms_seg *seg;
	unsigned char *buf = malloc(LEN), b;
	size_t n, total = 0;
	int rc = 0, fd;

	assert_non_null(buf);
	/* A flipped header bit, checksum not fixed. */
	edit_hdr(svc, 1, "a", h_version, 0);
	assert_int_equal(try_open(svc, "lay", 1, SHMS_VERIFY_HEADER),
	    SHMS_EHDRSUM);
	edit_hdr(svc, 1, "a", h_version, 1);
	/* Now a valid header that says something the manifest does not. */
	assert_int_equal(try_open(svc, "lay", 1, SHMS_VERIFY_HEADER),
	    SHMS_ECORRUPT);
	expect_detail(svc, "disagree on the layout version");
	svc_drop(svc);

	/* One payload byte: only a payload check sees it. */
	svc = fresh("sum");
	fd = seg_fd(svc, 1, "a", O_RDONLY);
	assert_int_equal(pread(fd, &b, 1, 4096 + LEN / 2), 1);
	close(fd);
	b ^= 0x40;
	poke(svc, 1, "a", 4096 + LEN / 2, &b, 1);
	assert_int_equal(try_open(svc, "lay", 1, SHMS_VERIFY_HEADER), 0);
	assert_int_equal(try_open(svc, "lay", 1, SHMS_VERIFY_FULL), SHMS_ESUM);
	expect_detail(svc, "payload checksum");
	/* STREAM: reads succeed until the one that reaches the end. */
	assert_int_equal(shms_adopt_begin(svc, 0, &ad), 0);
	assert_int_equal(shms_adopt_seg_open(ad, "a", "lay", 1,
	    SHMS_VERIFY_STREAM, &seg), 0);
	while (total < LEN) {
		rc = shms_seg_read(seg, buf + total, MiB, &n);
		if (rc != 0)
			break;
		assert_true(n > 0);
		total += n;
	}
	assert_int_equal(rc, SHMS_ESUM);
	assert_true(total == 3 * MiB);	/* the last call failed */
	assert_int_equal(shms_seg_read(seg, buf, 10, &n), SHMS_ESUM);
	shms_adopt_abort(ad);
	free(buf);
	svc_drop(svc);
}

static void
file_errors(void **state)
{
	struct shms_svc *svc = fresh("file");
	char path[SHMS__FILE_MAX];
	int fd;

	/* Truncated by one byte. */
	fd = seg_fd(svc, 1, "a", O_RDWR);
	assert_int_equal(ftruncate(fd, 4096 + LEN - 1), 0);
	assert_int_equal(try_open(svc, "lay", 1, SHMS_VERIFY_HEADER),
	    SHMS_ETRUNC);
	/* Cut inside the header. */
	assert_int_equal(ftruncate(fd, 100), 0);
	assert_int_equal(try_open(svc, "lay", 1, SHMS_VERIFY_HEADER),
	    SHMS_ETRUNC);
	/* Empty. */
	assert_int_equal(ftruncate(fd, 0), 0);
	assert_int_equal(try_open(svc, "lay", 1, SHMS_VERIFY_HEADER),
	    SHMS_ETRUNC);
	close(fd);

	/* Listed but missing. */
	shms__ckpt_file(path, 1, "a");
	assert_int_equal(unlinkat(shms__svc_dirfd(svc), path, 0), 0);
	assert_int_equal(try_open(svc, "lay", 1, SHMS_VERIFY_HEADER),
	    SHMS_EMISSING);
	expect_detail(svc, "missing");

	/* A symlink to a perfectly good segment. */
	shms__ckpt_file(path, 1, "b");
	assert_int_equal(symlinkat(path, shms__svc_dirfd(svc),
	    "ckpt.0000000000000001.a"), 0);
	assert_int_equal(try_open(svc, "lay", 1, SHMS_VERIFY_HEADER),
	    SHMS_ESYMLINK);
	assert_int_equal(unlinkat(shms__svc_dirfd(svc),
	    "ckpt.0000000000000001.a", 0), 0);

	/* A FIFO must neither hang nor be read. */
	assert_int_equal(mkfifoat(shms__svc_dirfd(svc),
	    "ckpt.0000000000000001.a", 0600), 0);
	assert_int_equal(try_open(svc, "lay", 1, SHMS_VERIFY_HEADER),
	    SHMS_ECORRUPT);
	expect_detail(svc, "not a regular file");
	svc_drop(svc);

	/* Group-readable. */
	svc = fresh("file");
	fd = seg_fd(svc, 1, "a", O_RDONLY);
	assert_int_equal(fchmod(fd, 0640), 0);
	assert_int_equal(try_open(svc, "lay", 1, SHMS_VERIFY_HEADER),
	    SHMS_EPERMS);
	assert_int_equal(fchmod(fd, 0600), 0);
	/* Another uid's file (root can make one). */
	if (geteuid() == 0) {
		assert_int_equal(fchown(fd, 65534, 65534), 0);
		assert_int_equal(try_open(svc, "lay", 1, SHMS_VERIFY_HEADER),
		    SHMS_EFOREIGN);
		expect_detail(svc, "uid 65534");
		assert_int_equal(fchown(fd, 0, 0), 0);
	}
	close(fd);
	assert_int_equal(try_open(svc, "lay", 1, SHMS_VERIFY_FULL), 0);
	svc_drop(svc);
}

static void
state_errors(void **state)
{
	struct shms_svc *svc = fresh("state");

	/* Listed, valid, but never sealed. */
	edit_hdr(svc, 1, "a", h_state, 1);
	assert_int_equal(try_open(svc, "lay", 1, SHMS_VERIFY_HEADER),
	    SHMS_ESTATE);
	svc_drop(svc);

	/* Header length differs from the manifest's. */
	svc = fresh("state");
	edit_hdr(svc, 1, "a", h_len, 1);
	assert_int_equal(try_open(svc, "lay", 1, SHMS_VERIFY_HEADER),
	    SHMS_ECORRUPT);
	expect_detail(svc, "payload length");
	svc_drop(svc);

	/* A rewritten (re-sealed) header: the manifest pins its checksum. */
	svc = fresh("state");
	edit_hdr(svc, 1, "a", h_none, 0);
	assert_int_equal(try_open(svc, "lay", 1, SHMS_VERIFY_HEADER), 0);
	svc_drop(svc);
}

static void
manifest_errors(void **state)
{
	struct shms_svc *svc = fresh("man");
	struct shms_adopt *ad;
	unsigned char x;
	int fd;

	fd = openat(shms__svc_dirfd(svc), "manifest", O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &x, 1, 300), 1);
	x ^= 1;
	assert_int_equal(pwrite(fd, &x, 1, 300), 1);
	assert_int_equal(shms_adopt_begin(svc, 0, &ad), SHMS_ECORRUPT);
	expect_detail(svc, "manifest");
	x ^= 1;
	assert_int_equal(pwrite(fd, &x, 1, 300), 1);
	assert_int_equal(fchmod(fd, 0644), 0);
	assert_int_equal(shms_adopt_begin(svc, 0, &ad), SHMS_EPERMS);
	assert_int_equal(fchmod(fd, 0600), 0);
	close(fd);
	assert_int_equal(shms_adopt_begin(svc, 0, &ad), 0);
	shms_adopt_abort(ad);
	shms_adopt_abort(NULL);
	svc_drop(svc);
}

/* Blocks of the segment file, in 512-byte units. */
static long long
blocks(struct shms_svc *svc, const char *name)
{
	struct stat st;
	int fd = seg_fd(svc, 1, name, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	close(fd);
	return (long long)st.st_blocks;
}

static void
release(void **state)
{
	struct shms_svc *svc = fresh("rel");
	struct shms_adopt *ad;
	struct shms_seg *seg;
	struct shms_seg_info info;
	unsigned char *buf = malloc(LEN), zero[4096];
	long long before, after;
	const unsigned char *data;
	const void *d;
	uint64_t len;
	size_t n, total = 0;

	assert_non_null(buf);
	memset(zero, 0, sizeof(zero));
	assert_int_equal(shms_adopt_begin(svc, 0, &ad), 0);
	assert_int_equal(shms_adopt_seg_open(ad, "a", "lay", 1,
	    SHMS_VERIFY_HEADER, &seg), 0);
	before = blocks(svc, "a");
	assert_true(before >= (long long)(LEN / 512));
	assert_int_equal(shms_seg_release(seg, 1, LEN, 0), -ERANGE);
	assert_int_equal(shms_seg_release(seg, UINT64_MAX, 2, 0), -ERANGE);
	assert_int_equal(shms_seg_release(seg, 0, 0, 0x10), -EINVAL);
	/* 1 MiB from an unaligned offset: the pages inside go. */
	assert_int_equal(shms_seg_release(seg, 100, MiB, 0), 0);
	after = blocks(svc, "a");
	assert_true(before - after >= (long long)(MiB / 512 - 16));
	assert_int_equal(shms_seg_data(seg, &d, &len), 0);
	data = d;
	assert_memory_equal(data + 4096, zero, sizeof(zero));
	fill(buf, 100, 0, 0);
	assert_memory_equal(data, buf, 100);	/* before the range: kept */
	/* The header now says consumed. */
	assert_int_equal(shms_seg_info(seg, &info), 0);
	assert_int_equal(info.state, SHMS_STATE_CONSUMED);
	shms_adopt_abort(ad);

	/* So a second adoption of the same generation is refused. */
	assert_int_equal(try_open(svc, "lay", 1, SHMS_VERIFY_HEADER),
	    SHMS_ESTATE);
	expect_detail(svc, "consumed");

	/* RELEASE_READ frees what was read, as it is read. */
	assert_int_equal(shms_adopt_begin(svc, 0, &ad), 0);
	assert_int_equal(shms_adopt_seg_open(ad, "b", "lay", 1,
	    SHMS_VERIFY_STREAM, &seg), 0);
	before = blocks(svc, "b");
	for (;;) {
		assert_int_equal(shms_seg_read(seg, buf + total, 300000, &n),
		    0);
		if (n == 0)
			break;
		total += n;
		assert_int_equal(shms_seg_release(seg, 0, 0,
		    SHMS_RELEASE_READ), 0);
	}
	assert_true(total == LEN);
	after = blocks(svc, "b");
	/* Everything but the header page is gone. */
	assert_true(after <= 8);
	assert_true(before - after >= (long long)(LEN / 512));
	{
		unsigned char *want = malloc(LEN);
		assert_non_null(want);
		fill(want, LEN, 1, 0);
		assert_memory_equal(buf, want, LEN);
		free(want);
	}
	assert_int_equal(shms_adopt_finish(ad, 0), 0);
	free(buf);
	svc_drop(svc);
}

static void
finish_keep(void **state)
{
	struct shms_svc *svc = fresh("keep");
	struct shms_adopt *ad;
	struct shms_seg *seg;

	assert_int_equal(shms_adopt_begin(svc, 0, &ad), 0);
	assert_int_equal(shms_adopt_seg_open(ad, "a", "lay", 1,
	    SHMS_VERIFY_FULL, &seg), 0);
	assert_int_equal(shms_adopt_finish(ad, SHMS_ADOPT_KEEP), 0);
	/* Still there, still adoptable. */
	assert_int_equal(try_open(svc, "lay", 1, SHMS_VERIFY_FULL), 0);
	assert_int_equal(shms_adopt_begin(svc, 0, &ad), 0);
	assert_int_equal(shms_adopt_finish(ad, 0x40), -EINVAL);
	assert_int_equal(try_open(svc, "lay", 1, SHMS_VERIFY_FULL), 0);
	svc_drop(svc);
}

static void
finish_after_new_commit(void **state)
{
	struct shms_svc *svc = fresh("newer");
	struct shms_adopt *ad;

	/* Adopt generation 1, commit 2 meanwhile, finish the adoption. */
	assert_int_equal(shms_adopt_begin(svc, 0, &ad), 0);
	assert_true(make_ckpt(svc, names, 1, 10) == 2);
	assert_int_equal(shms_adopt_finish(ad, 0), 0);
	/* The newer manifest survives. */
	assert_int_equal(shms_adopt_begin(svc, 0, &ad), 0);
	assert_true(shms_adopt_generation(ad) == 2);
	shms_adopt_abort(ad);
	svc_drop(svc);
}

static void
mmap_fails(void **state)
{
	struct shms_svc *svc = fresh("mmap");

	struct shms_adopt *ad;
	struct shms_seg *seg;
	const void *d = NULL;
	uint64_t len = 1;

	/* A full check maps at open... */
	fail_mmap = 1;
	assert_int_equal(try_open(svc, "lay", 1, SHMS_VERIFY_FULL), -ENOMEM);
	fail_mmap = 0;
	expect_detail(svc, "mmap");
	/* ...the others when the mapping is first asked for. */
	assert_int_equal(shms_adopt_begin(svc, 0, &ad), 0);
	assert_int_equal(shms_adopt_seg_open(ad, "a", "lay", 1,
	    SHMS_VERIFY_HEADER, &seg), 0);
	fail_mmap = 1;
	assert_int_equal(shms_seg_data(seg, &d, &len), -ENOMEM);
	fail_mmap = 0;
	assert_null(d);
	assert_true(len == 1);
	assert_int_equal(shms_seg_data(seg, &d, &len), 0);
	assert_true(len == LEN);
	shms_adopt_abort(ad);
	assert_int_equal(try_open(svc, "lay", 1, SHMS_VERIFY_FULL), 0);
	svc_drop(svc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(adopt_all),
		cmocka_unit_test(no_state),
		cmocka_unit_test(layout_and_version),
		cmocka_unit_test(header_errors),
		cmocka_unit_test(checksum_errors),
		cmocka_unit_test(file_errors),
		cmocka_unit_test(state_errors),
		cmocka_unit_test(manifest_errors),
		cmocka_unit_test(release),
		cmocka_unit_test(finish_keep),
		cmocka_unit_test(finish_after_new_commit),
		cmocka_unit_test(mmap_fails),
	};

	test_root();
	return cmocka_run_group_tests_name("adopt", tests, NULL, NULL);
}
