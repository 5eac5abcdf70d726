/*
 * test_ckpt.c: copy-mode checkpoints on real tmpfs files: write, reserve
 * and commit, growth, threads, generations, abort; and the failure paths
 * (ENOSPC from fallocate and from the copy, rename, mmap, ftruncate) via
 * -Wl,--wrap, each leaving the previous checkpoint intact and adoptable.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
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

/*
 * Failure injection: once armed, a wrapped call succeeds `after' more
 * times and then fails with err until disarmed, like a tmpfs that stays
 * full.
 */
struct arm {
	int	on;
	int	after;
	int	err;
	int	hits;
};

static struct arm arm_fallocate, arm_pwrite, arm_renameat, arm_mmap,
    arm_ftruncate, arm_fsync_dir;

static void
arm(struct arm *a, int after, int err)
{
	a->on = 1;
	a->after = after;
	a->err = err;
	a->hits = 0;
}

static void
disarm_all(void)
{
	memset(&arm_fallocate, 0, sizeof(arm_fallocate));
	memset(&arm_pwrite, 0, sizeof(arm_pwrite));
	memset(&arm_renameat, 0, sizeof(arm_renameat));
	memset(&arm_mmap, 0, sizeof(arm_mmap));
	memset(&arm_ftruncate, 0, sizeof(arm_ftruncate));
	memset(&arm_fsync_dir, 0, sizeof(arm_fsync_dir));
}

static int
fires(struct arm *a)
{
	if (!a->on)
		return 0;
	if (a->after > 0) {
		a->after--;
		return 0;
	}
	a->hits++;
	errno = a->err;
	return 1;
}

int __real_fallocate(int, int, off_t, off_t);
int __wrap_fallocate(int, int, off_t, off_t);
ssize_t __real_pwrite(int, const void *, size_t, off_t);
ssize_t __wrap_pwrite(int, const void *, size_t, off_t);
int __real_renameat(int, const char *, int, const char *);
int __wrap_renameat(int, const char *, int, const char *);
void *__real_mmap(void *, size_t, int, int, int, off_t);
void *__wrap_mmap(void *, size_t, int, int, int, off_t);
int __real_ftruncate(int, off_t);
int __wrap_ftruncate(int, off_t);
int __real_fsync(int);
int __wrap_fsync(int);

int
__wrap_fallocate(int fd, int mode, off_t off, off_t len)
{
	return fires(&arm_fallocate) ? -1 :
	    __real_fallocate(fd, mode, off, len);
}

ssize_t
__wrap_pwrite(int fd, const void *buf, size_t len, off_t off)
{
	return fires(&arm_pwrite) ? -1 : __real_pwrite(fd, buf, len, off);
}

int
__wrap_renameat(int ofd, const char *o, int nfd, const char *n)
{
	return fires(&arm_renameat) ? -1 : __real_renameat(ofd, o, nfd, n);
}

void *
__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return fires(&arm_mmap) ? MAP_FAILED :
	    __real_mmap(addr, len, prot, flags, fd, off);
}

int
__wrap_ftruncate(int fd, off_t len)
{
	return fires(&arm_ftruncate) ? -1 : __real_ftruncate(fd, len);
}

/* Only a directory's fsync fails: the one after the commit's rename. */
int
__wrap_fsync(int fd)
{
	struct stat st;

	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode) &&
	    fires(&arm_fsync_dir))
		return -1;
	return __real_fsync(fd);
}

/* Adopts segment name (FULL verify) and compares with fill(seed). */
static void
expect_payload(struct shms_svc *svc, const char *name, size_t len,
    uint64_t seed)
{
	struct shms_adopt *ad;
	struct shms_seg *seg;
	const void *data;
	unsigned char *want;
	uint64_t got;
	int rc;

	assert_int_equal(shms_adopt_begin(svc, 0, &ad), 0);
	rc = shms_adopt_seg_open(ad, name, "lay", 1, SHMS_VERIFY_FULL, &seg);
	if (rc != 0)
		fail_msg("adopt %s: %s", name, shms_errdetail(svc));
	assert_int_equal(shms_seg_data(seg, &data, &got), 0);
	assert_true(got == len);
	want = malloc(len ? len : 1);
	assert_non_null(want);
	fill(want, len, seed, 0);
	assert_memory_equal(data, want, len);
	free(want);
	shms_adopt_abort(ad);
}

/* Files in the service directory whose names start with prefix. */
static int
count_files(struct shms_svc *svc, const char *prefix)
{
	struct stat st;
	char file[SHMS__FILE_MAX];
	int n = 0;
	uint64_t g;

	for (g = 0; g < 64; g++) {
		static const char *const names[] = { "a", "b", "c", "big",
		    "t0", "t1" };
		size_t i;
		for (i = 0; i < SHMS__ARRAY_SIZE(names); i++) {
			shms__ckpt_file(file, g, names[i]);
			if (strncmp(file, prefix, strlen(prefix)) == 0 &&
			    fstatat(shms__svc_dirfd(svc), file, &st,
			    AT_SYMLINK_NOFOLLOW) == 0)
				n++;
		}
	}
	return n;
}

static void
write_and_adopt(void **state)
{
	static const size_t lens[] = { 0, 1, 5 * MiB + 3 };
	static const char *const names[] = { "a", "b", "c" };
	struct shms_svc *svc = open_w(test_service("rt"));
	struct shms_ckpt *ck;
	struct shms_seg *seg;
	struct shms_seg_info info;
	unsigned char *buf = malloc(6 * MiB);
	uint64_t gen = 0;
	size_t i, off, n;

	assert_non_null(buf);
	assert_int_equal(shms_ckpt_begin(svc, 0, &ck), 0);
	for (i = 0; i < 3; i++) {
		assert_int_equal(shms_ckpt_seg_create(ck, names[i], "lay", 1,
		    0, &seg), 0);
		fill(buf, lens[i], i, 0);
		/* Odd-sized pieces, so chunk boundaries fall everywhere. */
		for (off = 0; off < lens[i]; off += n) {
			n = lens[i] - off < 77777 ? lens[i] - off : 77777;
			assert_int_equal(shms_seg_write(seg, buf + off, n), 0);
		}
		assert_int_equal(shms_seg_info(seg, &info), 0);
		assert_int_equal(info.state, SHMS_STATE_CREATING);
		assert_true(info.payload_len == lens[i]);
		assert_true(info.generation == 1);
		assert_int_equal(info.kind, SHMS_KIND_CKPT);
		assert_true(info.owner_pid == getpid());
		if (i == 1) {
			/* Closing early seals it; commit still lists it. */
			assert_int_equal(shms_seg_close(seg), 0);
		}
	}
	assert_int_equal(shms_ckpt_commit(ck, 0, &gen), 0);
	assert_true(gen == 1);
	for (i = 0; i < 3; i++)
		expect_payload(svc, names[i], lens[i], i);
	free(buf);
	assert_int_equal(shms_svc_close(svc), 0);
}

static void
reserve_commit(void **state)
{
	struct shms_svc *svc = open_w(test_service("res"));
	struct shms_ckpt *ck;
	struct shms_seg *seg;
	unsigned char *want = malloc(24 * MiB);
	size_t len = 0, i, n;
	void *p;

	assert_non_null(want);
	fill(want, 24 * MiB, 7, 0);
	assert_int_equal(shms_ckpt_begin(svc, 0, &ck), 0);
	assert_int_equal(shms_ckpt_seg_create(ck, "a", "lay", 1, 0, &seg), 0);
	/* Reserve 1000, use 600. */
	assert_int_equal(shms_seg_reserve(seg, 1000, &p), 0);
	memcpy(p, want, 600);
	assert_int_equal(shms_seg_commit(seg, 600), 0);
	len = 600;
	/* A commit without a reserve, or over it, is refused. */
	assert_int_equal(shms_seg_commit(seg, 1), -EINVAL);
	assert_int_equal(shms_seg_reserve(seg, 10, &p), 0);
	assert_int_equal(shms_seg_commit(seg, 11), -EINVAL);
	/* A reserve then a write: the reservation adds nothing. */
	assert_int_equal(shms_seg_write(seg, want + len, 5000), 0);
	len += 5000;
	assert_int_equal(shms_seg_commit(seg, 1), -EINVAL);
	/* Many small reserves across many windows. */
	for (i = 0; i < 300; i++) {
		n = 4096 + i * 131;
		assert_int_equal(shms_seg_reserve(seg, n, &p), 0);
		memcpy(p, want + len, n);
		assert_int_equal(shms_seg_commit(seg, n), 0);
		len += n;
	}
	/* One reserve larger than any window. */
	n = 20 * MiB - len;
	assert_int_equal(shms_seg_reserve(seg, 20 * MiB, &p), 0);
	memcpy(p, want + len, n);
	assert_int_equal(shms_seg_commit(seg, n), 0);
	len += n;
	assert_int_equal(shms_seg_reserve(seg, 0, &p), 0);
	assert_int_equal(shms_seg_commit(seg, 0), 0);
	assert_int_equal(shms_ckpt_commit(ck, 0, NULL), 0);
	expect_payload(svc, "a", len, 7);
	free(want);
	assert_int_equal(shms_svc_close(svc), 0);
}

static void
growth_and_exact_size(void **state)
{
	struct shms_svc *svc = open_w(test_service("grow"));
	struct shms_ckpt *ck;
	struct shms_seg *seg;
	unsigned char piece[4096];
	struct stat st;
	size_t i;
	int fd;

	assert_int_equal(shms_ckpt_begin(svc, 0, &ck), 0);
	assert_int_equal(shms_ckpt_seg_create(ck, "big", "lay", 1, 0, &seg),
	    0);
	for (i = 0; i < 10000; i++) {
		fill(piece, sizeof(piece), 3, i * sizeof(piece));
		assert_int_equal(shms_seg_write(seg, piece, sizeof(piece)), 0);
	}
	/* A size hint larger than the payload: cut back at seal. */
	assert_int_equal(shms_ckpt_seg_create(ck, "a", "lay", 1, 64 * MiB,
	    &seg), 0);
	assert_int_equal(shms_seg_write(seg, "x", 1), 0);
	assert_int_equal(shms_ckpt_commit(ck, 0, NULL), 0);
	expect_payload(svc, "big", 10000 * sizeof(piece), 3);
	fd = seg_fd(svc, 1, "a", O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, 4096 + 1);
	assert_int_equal(st.st_mode & 0777, 0600);
	close(fd);
	assert_int_equal(shms_svc_close(svc), 0);
}

struct job {
	struct shms_ckpt	*ck;
	const char		*name;
	uint64_t		 seed;
	size_t			 len;
	int			 rc;
};

static void *
writer(void *arg)
{
	struct job *j = arg;
	struct shms_seg *seg;
	unsigned char *buf = malloc(MiB);
	size_t off;

	if (buf == NULL) {
		j->rc = -ENOMEM;
		return NULL;
	}
	j->rc = shms_ckpt_seg_create(j->ck, j->name, "lay", 1, 0, &seg);
	for (off = 0; j->rc == 0 && off < j->len; off += MiB) {
		fill(buf, MiB, j->seed, off);
		j->rc = shms_seg_write(seg, buf, MiB);
	}
	if (j->rc == 0)
		j->rc = shms_seg_close(seg);
	free(buf);
	return NULL;
}

static void
two_threads(void **state)
{
	struct shms_svc *svc = open_w(test_service("thr"));
	struct job jobs[2] = {
		{ NULL, "t0", 10, 24 * MiB, -1 },
		{ NULL, "t1", 11, 16 * MiB, -1 },
	};
	pthread_t th[2];
	struct shms_ckpt *ck;
	int i;

	assert_int_equal(shms_ckpt_begin(svc, 0, &ck), 0);
	for (i = 0; i < 2; i++) {
		jobs[i].ck = ck;
		assert_int_equal(pthread_create(&th[i], NULL, writer,
		    &jobs[i]), 0);
	}
	for (i = 0; i < 2; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(jobs[i].rc, 0);
	}
	assert_int_equal(shms_ckpt_commit(ck, 0, NULL), 0);
	for (i = 0; i < 2; i++)
		expect_payload(svc, jobs[i].name, jobs[i].len, jobs[i].seed);
	assert_int_equal(shms_svc_close(svc), 0);
}

static void
generations(void **state)
{
	static const char *const names[] = { "a", "b" };
	struct shms_svc *svc = open_w(test_service("gen"));
	struct shms_ckpt *ck, *ck2;
	struct shms_seg *seg;
	uint64_t gen;
	int fd;

	assert_true(make_ckpt(svc, names, 2, 100) == 1);
	assert_true(make_ckpt(svc, names, 2, 100) == 2);
	assert_int_equal(count_files(svc, "ckpt.0000000000000001"), 0);
	assert_int_equal(count_files(svc, "ckpt.0000000000000002"), 2);

	/* KEEP_OLD leaves generation 2 beside 3. */
	assert_int_equal(shms_ckpt_begin(svc, 0, &ck), 0);
	assert_int_equal(shms_ckpt_seg_create(ck, "a", "lay", 1, 0, &seg), 0);
	assert_int_equal(shms_ckpt_commit(ck, SHMS_CKPT_KEEP_OLD, &gen), 0);
	assert_true(gen == 3);
	assert_int_equal(count_files(svc, "ckpt.0000000000000002"), 2);
	assert_int_equal(count_files(svc, "ckpt.0000000000000003"), 1);

	/* Leftovers of a crashed checkpoint push the next generation up. */
	fd = openat(shms__svc_dirfd(svc), "ckpt.0000000000000009.a",
	    O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_true(make_ckpt(svc, names, 1, 10) == 10);
	/* And everything older went with that commit. */
	assert_int_equal(count_files(svc, "ckpt.0000000000000002"), 0);
	assert_int_equal(count_files(svc, "ckpt.0000000000000003"), 0);
	assert_int_equal(count_files(svc, "ckpt.0000000000000009"), 0);
	assert_int_equal(count_files(svc, "ckpt.000000000000000a"), 1);

	/* One checkpoint at a time. */
	assert_int_equal(shms_ckpt_begin(svc, 0, &ck), 0);
	assert_int_equal(shms_ckpt_begin(svc, 0, &ck2), -EBUSY);
	shms_ckpt_abort(ck);
	assert_int_equal(shms_ckpt_begin(svc, 0, &ck), 0);
	assert_int_equal(shms_ckpt_commit(ck, 0x10, NULL), -EINVAL);
	assert_int_equal(shms_ckpt_begin(svc, 1, &ck), -EINVAL);
	/* An empty checkpoint is a valid state with no segments. */
	assert_int_equal(shms_ckpt_begin(svc, 0, &ck), 0);
	assert_int_equal(shms_ckpt_commit(ck, 0, &gen), 0);
	assert_true(gen == 11);
	assert_int_equal(shms_svc_close(svc), 0);
}

static void
abort_keeps_previous(void **state)
{
	static const char *const names[] = { "a" };
	struct shms_svc *svc = open_w(test_service("abort"));
	struct shms_ckpt *ck;
	struct shms_seg *seg;

	make_ckpt(svc, names, 1, 3000);
	assert_int_equal(shms_ckpt_begin(svc, 0, &ck), 0);
	assert_int_equal(shms_ckpt_seg_create(ck, "a", "lay", 1, 0, &seg), 0);
	assert_int_equal(shms_seg_write(seg, "new", 3), 0);
	assert_int_equal(count_files(svc, "ckpt.0000000000000002"), 1);
	shms_ckpt_abort(ck);
	shms_ckpt_abort(NULL);
	assert_int_equal(count_files(svc, "ckpt.0000000000000002"), 0);
	expect_payload(svc, "a", 3000, 0);
	assert_int_equal(shms_svc_close(svc), 0);
}

static void
create_errors(void **state)
{
	struct shms_svc *svc = open_w(test_service("cerr"));
	struct shms_ckpt *ck;
	struct shms_seg *seg, *seg2;

	assert_int_equal(shms_ckpt_begin(svc, 0, &ck), 0);
	assert_int_equal(shms_ckpt_seg_create(ck, "a", "lay", 1, 0, &seg), 0);
	assert_int_equal(shms_ckpt_seg_create(ck, "a", "lay", 1, 0, &seg2),
	    -EEXIST);
	assert_non_null(strstr(shms_errdetail(svc), "already"));
	assert_int_equal(shms_ckpt_seg_create(ck, "../x", "lay", 1, 0, &seg2),
	    SHMS_ENAME);
	assert_int_equal(shms_ckpt_seg_create(ck, "b", "", 1, 0, &seg2),
	    SHMS_ENAME);
	assert_int_equal(shms_ckpt_seg_create(ck, "b", NULL, 1, 0, &seg2),
	    SHMS_ENAME);
	assert_int_equal(shms_ckpt_seg_create(ck, "b", "lay", 1,
	    SHMS_SEG_MAX_SIZE + 1, &seg2), SHMS_ELIMIT);
	assert_int_equal(shms_ckpt_seg_create(ck, "b", "lay", 1, 0, NULL),
	    -EINVAL);
	/* Reading calls are for adopted segments. */
	{
		const void *d;
		uint64_t l;
		size_t got;
		char b[4];
		assert_int_equal(shms_seg_data(seg, &d, &l), -EINVAL);
		assert_int_equal(shms_seg_read(seg, b, 4, &got), -EINVAL);
		assert_int_equal(shms_seg_release(seg, 0, 0, 0), -EINVAL);
	}
	/* Sealed segments take no more data. */
	assert_int_equal(shms_seg_close(seg), 0);
	/* (the handle stays valid until commit: it belongs to ck) */
	assert_int_equal(shms_seg_write(seg, "x", 1), SHMS_ESTATE);
	assert_int_equal(shms_seg_write(NULL, "x", 1), -EINVAL);
	assert_int_equal(shms_seg_close(NULL), 0);
	assert_int_equal(shms_ckpt_commit(ck, 0, NULL), 0);
	assert_int_equal(shms_svc_close(svc), 0);
}

/* A checkpoint that fails in some way must leave generation 1 as it was. */
static void
check_previous_intact(struct shms_svc *svc)
{
	assert_int_equal(count_files(svc, "ckpt.0000000000000002"), 0);
	assert_int_equal(faccessat(shms__svc_dirfd(svc), "manifest.tmp", F_OK,
	    0), -1);
	expect_payload(svc, "a", 2 * MiB, 0);
}

static struct shms_svc *
svc_with_previous(const char *prefix)
{
	static const char *const names[] = { "a" };
	struct shms_svc *svc = open_w(test_service(prefix));

	assert_true(make_ckpt(svc, names, 1, 2 * MiB) == 1);
	return svc;
}

static void
enospc_mid_write(void **state)
{
	struct shms_svc *svc = svc_with_previous("nospc");
	unsigned char *buf = malloc(8 * MiB);
	struct shms_ckpt *ck;
	struct shms_seg *seg;

	assert_non_null(buf);
	fill(buf, 8 * MiB, 5, 0);
	assert_int_equal(shms_ckpt_begin(svc, 0, &ck), 0);
	assert_int_equal(shms_ckpt_seg_create(ck, "a", "lay", 1, 0, &seg), 0);
	arm(&arm_pwrite, 20, ENOSPC);
	assert_int_equal(shms_seg_write(seg, buf, 8 * MiB), -ENOSPC);
	assert_true(arm_pwrite.hits > 0);
	assert_non_null(strstr(shms_errdetail(svc), "No space left"));
	/* Sticky: the segment is missing data; later calls say so too. */
	disarm_all();
	assert_int_equal(shms_seg_write(seg, buf, 10), -ENOSPC);
	assert_int_equal(shms_ckpt_commit(ck, 0, NULL), -ENOSPC);
	check_previous_intact(svc);
	free(buf);
	assert_int_equal(shms_svc_close(svc), 0);
}

static void
enospc_fallocate(void **state)
{
	struct shms_svc *svc = svc_with_previous("falloc");
	struct shms_ckpt *ck;
	struct shms_seg *seg, *seg2;
	void *p;

	assert_int_equal(shms_ckpt_begin(svc, 0, &ck), 0);
	/* Pre-sizing fails: no segment, no file. */
	arm(&arm_fallocate, 0, ENOSPC);
	assert_int_equal(shms_ckpt_seg_create(ck, "a", "lay", 1, 8 * MiB,
	    &seg), -ENOSPC);
	assert_int_equal(count_files(svc, "ckpt.0000000000000002"), 0);
	disarm_all();
	/* The name is free again. */
	assert_int_equal(shms_ckpt_seg_create(ck, "a", "lay", 1, 0, &seg), 0);
	/* A reserve that cannot be backed fails, and for good... */
	arm(&arm_fallocate, 0, ENOSPC);
	assert_int_equal(shms_seg_reserve(seg, 4 * MiB, &p), -ENOSPC);
	disarm_all();
	assert_int_equal(shms_seg_reserve(seg, 4 * MiB, &p), -ENOSPC);
	assert_int_equal(shms_seg_write(seg, "x", 1), -ENOSPC);
	assert_int_equal(shms_seg_close(seg), -ENOSPC);
	/* ...and mmap failing for a reserve window too. */
	assert_int_equal(shms_ckpt_seg_create(ck, "b", "lay", 1, 0, &seg2), 0);
	arm(&arm_mmap, 0, ENOMEM);
	assert_int_equal(shms_seg_reserve(seg2, 4 * MiB, &p), -ENOMEM);
	disarm_all();
	assert_int_equal(shms_seg_reserve(seg2, 4 * MiB, &p), -ENOMEM);
	/* The run of failures still aborts cleanly. */
	shms_ckpt_abort(ck);
	check_previous_intact(svc);
	assert_int_equal(shms_svc_close(svc), 0);
}

static void
rename_fails(void **state)
{
	struct shms_svc *svc = svc_with_previous("rename");
	struct shms_ckpt *ck;
	struct shms_seg *seg;

	assert_int_equal(shms_ckpt_begin(svc, 0, &ck), 0);
	assert_int_equal(shms_ckpt_seg_create(ck, "a", "lay", 1, 0, &seg), 0);
	assert_int_equal(shms_seg_write(seg, "abc", 3), 0);
	arm(&arm_renameat, 0, EIO);
	assert_int_equal(shms_ckpt_commit(ck, 0, NULL), -EIO);
	disarm_all();
	assert_non_null(strstr(shms_errdetail(svc), "rename"));
	check_previous_intact(svc);
	assert_int_equal(shms_svc_close(svc), 0);
}

static void
ftruncate_fails(void **state)
{
	struct shms_svc *svc = svc_with_previous("trunc");
	struct shms_ckpt *ck;
	struct shms_seg *seg;

	/* At create (sizing the header page). */
	assert_int_equal(shms_ckpt_begin(svc, 0, &ck), 0);
	arm(&arm_ftruncate, 0, EIO);
	assert_int_equal(shms_ckpt_seg_create(ck, "a", "lay", 1, 0, &seg),
	    -EIO);
	disarm_all();
	/* At seal, during commit. */
	assert_int_equal(shms_ckpt_seg_create(ck, "a", "lay", 1, MiB, &seg),
	    0);
	assert_int_equal(shms_seg_write(seg, "abc", 3), 0);
	arm(&arm_ftruncate, 0, EIO);
	assert_int_equal(shms_ckpt_commit(ck, 0, NULL), -EIO);
	disarm_all();
	check_previous_intact(svc);
	assert_int_equal(shms_svc_close(svc), 0);
}

static void
manifest_write_fails(void **state)
{
	struct shms_svc *svc = svc_with_previous("manw");
	struct shms_ckpt *ck;
	struct shms_seg *seg;

	assert_int_equal(shms_ckpt_begin(svc, 0, &ck), 0);
	assert_int_equal(shms_ckpt_seg_create(ck, "a", "lay", 1, 0, &seg), 0);
	assert_int_equal(shms_seg_write(seg, "abc", 3), 0);
	/* Sealing writes the header (1 pwrite); the manifest is next. */
	arm(&arm_pwrite, 1, ENOSPC);
	assert_int_equal(shms_ckpt_commit(ck, 0, NULL), -ENOSPC);
	disarm_all();
	check_previous_intact(svc);
	assert_int_equal(shms_svc_close(svc), 0);
}

/*
 * The rename is the commit point: a directory fsync failing after it
 * does not undo the commit. shms_ckpt_commit returns 0 and the new
 * generation is what adopters get; the previous generation's files stay
 * (the rename may not be durable yet) until the next commit removes them.
 */
static void
dir_fsync_fails_after_rename(void **state)
{
	static const char *const names[] = { "a" };
	struct shms_svc *svc = open_w(test_service("dirsync"));
	struct shms_ckpt *ck;
	struct shms_seg *seg;
	unsigned char buf[5000];
	uint64_t gen = 0;

	make_ckpt(svc, names, 1, 3000);
	assert_int_equal(shms_ckpt_begin(svc, 0, &ck), 0);
	assert_int_equal(shms_ckpt_seg_create(ck, "a", "lay", 1, 0, &seg), 0);
	fill(buf, sizeof(buf), 7, 0);
	assert_int_equal(shms_seg_write(seg, buf, sizeof(buf)), 0);
	arm(&arm_fsync_dir, 0, EIO);
	assert_int_equal(shms_ckpt_commit(ck, 0, &gen), 0);
	assert_true(arm_fsync_dir.hits >= 1);
	disarm_all();
	assert_true(gen == 2);
	expect_payload(svc, "a", 5000, 7);
	assert_int_equal(count_files(svc, "ckpt.0000000000000001"), 1);
	/* The next commit, synced, removes every older generation. */
	make_ckpt(svc, names, 1, 100);
	assert_int_equal(count_files(svc, "ckpt.0000000000000001"), 0);
	assert_int_equal(count_files(svc, "ckpt.0000000000000002"), 0);
	expect_payload(svc, "a", 100, 0);
	assert_int_equal(shms_svc_close(svc), 0);
}

static int
teardown(void **state)
{
	disarm_all();
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(write_and_adopt, teardown),
		cmocka_unit_test_teardown(reserve_commit, teardown),
		cmocka_unit_test_teardown(growth_and_exact_size, teardown),
		cmocka_unit_test_teardown(two_threads, teardown),
		cmocka_unit_test_teardown(generations, teardown),
		cmocka_unit_test_teardown(abort_keeps_previous, teardown),
		cmocka_unit_test_teardown(create_errors, teardown),
		cmocka_unit_test_teardown(enospc_mid_write, teardown),
		cmocka_unit_test_teardown(enospc_fallocate, teardown),
		cmocka_unit_test_teardown(rename_fails, teardown),
		cmocka_unit_test_teardown(ftruncate_fails, teardown),
		cmocka_unit_test_teardown(manifest_write_fails, teardown),
		cmocka_unit_test_teardown(dir_fsync_fails_after_rename,
		    teardown),
	};

	test_root();
	return cmocka_run_group_tests_name("ckpt", tests, NULL, NULL);
}
