/*
 * test_api_errpaths_sys.c: public-API error paths that only a failing
 * system call or allocation reaches, with the fault hook of the fault
 * matrix (tests/fault): the symbols in test_api_errpaths_sys.wrap are
 * linked with -Wl,--wrap, and the Nth call of one of them (optionally
 * only calls with a given fcntl command) fails with a chosen errno.
 * Disarmed, every wrapper is the real call. Most cases sweep N = 1, 2, ...
 * until the operation completes without reaching the Nth call, so every
 * allocation or call of that kind inside it fails once.
 *
 * For every failure: the code returned names it, the out-parameter is
 * untouched, nothing is left behind (no file, no lock, no fd: the next
 * call on real shared memory works, and ASan's leak check runs at exit).
 */
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <dirent.h>
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
#include <unistd.h>

#include <cmocka.h>

#include "core_test.h"
#include "test_api_errpaths.h"

/* ---- the hook */

enum wsym {
	W_CALLOC, W_MALLOC, W_REALLOC, W_ASPRINTF, W_MUTEX_INIT, W_UNLINKAT,
	W_FCNTL, W_MMAP, W_FTRUNCATE, W_PWRITE, W_PREAD, W_FALLOCATE,
	W_FDOPENDIR, W_SENDMSG, W_MKDIRAT, W_STRDUP, W_REALLOCARRAY
};

static struct {
	int	sym;		/* -1: disarmed */
	long	n;		/* which call fails */
	int	err;
	int	cmd;		/* fcntl: only this command counts; -1 any */
	long	calls;
	int	fired;
} W = { .sym = -1 };

static void
arm_cmd(int sym, long n, int err, int cmd)
{
	W.sym = sym;
	W.n = n;
	W.err = err;
	W.cmd = cmd;
	W.calls = 0;
	W.fired = 0;
}

static void
arm(int sym, long n, int err)
{
	arm_cmd(sym, n, err, -1);
}

/* Disarms; returns whether the armed call was reached. */
static int
disarm(void)
{
	W.sym = -1;
	return W.fired;
}

static int
hit(int sym)
{
	if (sym != W.sym || W.fired || ++W.calls != W.n)
		return 0;
	W.fired = 1;
	errno = W.err;
	return 1;
}

void	*__real_calloc(size_t, size_t);
void	*__real_malloc(size_t);
void	*__real_realloc(void *, size_t);
int	 __real_pthread_mutex_init(pthread_mutex_t *,
	    const pthread_mutexattr_t *);
int	 __real_unlinkat(int, const char *, int);
int	 __real_fcntl(int, int, ...);
void	*__real_mmap(void *, size_t, int, int, int, off_t);
int	 __real_ftruncate(int, off_t);
ssize_t	 __real_pwrite(int, const void *, size_t, off_t);
ssize_t	 __real_pread(int, void *, size_t, off_t);
int	 __real_fallocate(int, int, off_t, off_t);
DIR	*__real_fdopendir(int);
ssize_t	 __real_sendmsg(int, const struct msghdr *, int);
int	 __real_mkdirat(int, const char *, mode_t);
char	*__real_strdup(const char *);
void	*__real_reallocarray(void *, size_t, size_t);

void	*__wrap_calloc(size_t, size_t);
void	*__wrap_malloc(size_t);
void	*__wrap_realloc(void *, size_t);
int	 __wrap_asprintf(char **, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
int	 __wrap_pthread_mutex_init(pthread_mutex_t *,
	    const pthread_mutexattr_t *);
int	 __wrap_unlinkat(int, const char *, int);
int	 __wrap_fcntl(int, int, ...);
void	*__wrap_mmap(void *, size_t, int, int, int, off_t);
int	 __wrap_ftruncate(int, off_t);
ssize_t	 __wrap_pwrite(int, const void *, size_t, off_t);
ssize_t	 __wrap_pread(int, void *, size_t, off_t);
int	 __wrap_fallocate(int, int, off_t, off_t);
DIR	*__wrap_fdopendir(int);
ssize_t	 __wrap_sendmsg(int, const struct msghdr *, int);
int	 __wrap_mkdirat(int, const char *, mode_t);
char	*__wrap_strdup(const char *);
void	*__wrap_reallocarray(void *, size_t, size_t);

void *
__wrap_calloc(size_t n, size_t size)
{
	return hit(W_CALLOC) ? NULL : __real_calloc(n, size);
}

void *
__wrap_malloc(size_t size)
{
	return hit(W_MALLOC) ? NULL : __real_malloc(size);
}

void *
__wrap_realloc(void *p, size_t size)
{
	return hit(W_REALLOC) ? NULL : __real_realloc(p, size);
}

int
__wrap_asprintf(char **p, const char *fmt, ...)
{
	va_list ap;
	int r;

	if (hit(W_ASPRINTF))
		return -1;
	va_start(ap, fmt);
	r = vasprintf(p, fmt, ap);
	va_end(ap);
	return r;
}

int
__wrap_pthread_mutex_init(pthread_mutex_t *m, const pthread_mutexattr_t *a)
{
	return hit(W_MUTEX_INIT) ? W.err : __real_pthread_mutex_init(m, a);
}

int
__wrap_unlinkat(int dirfd, const char *path, int flags)
{
	return hit(W_UNLINKAT) ? -1 : __real_unlinkat(dirfd, path, flags);
}

int
__wrap_fcntl(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	if ((W.cmd == -1 || W.cmd == cmd) && hit(W_FCNTL))
		return -1;
	return __real_fcntl(fd, cmd, arg);
}

void *
__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return hit(W_MMAP) ? MAP_FAILED :
	    __real_mmap(addr, len, prot, flags, fd, off);
}

int
__wrap_ftruncate(int fd, off_t len)
{
	return hit(W_FTRUNCATE) ? -1 : __real_ftruncate(fd, len);
}

ssize_t
__wrap_pwrite(int fd, const void *buf, size_t len, off_t off)
{
	return hit(W_PWRITE) ? -1 : __real_pwrite(fd, buf, len, off);
}

ssize_t
__wrap_pread(int fd, void *buf, size_t len, off_t off)
{
	return hit(W_PREAD) ? -1 : __real_pread(fd, buf, len, off);
}

int
__wrap_fallocate(int fd, int mode, off_t off, off_t len)
{
	return hit(W_FALLOCATE) ? -1 : __real_fallocate(fd, mode, off, len);
}

DIR *
__wrap_fdopendir(int fd)
{
	return hit(W_FDOPENDIR) ? NULL : __real_fdopendir(fd);
}

ssize_t
__wrap_sendmsg(int s, const struct msghdr *mh, int flags)
{
	return hit(W_SENDMSG) ? -1 : __real_sendmsg(s, mh, flags);
}

int
__wrap_mkdirat(int dirfd, const char *path, mode_t mode)
{
	return hit(W_MKDIRAT) ? -1 : __real_mkdirat(dirfd, path, mode);
}

char *
__wrap_strdup(const char *str)
{
	return hit(W_STRDUP) ? NULL : __real_strdup(str);
}

void *
__wrap_reallocarray(void *p, size_t n, size_t size)
{
	return hit(W_REALLOCARRAY) ? NULL : __real_reallocarray(p, n, size);
}

/* ---- helpers */

#define SWEEP_MAX	64	/* calls of one kind in one operation, at most */

static int
exists(struct shms_svc *svc, const char *file)
{
	return faccessat(shms__svc_dirfd(svc), file, F_OK,
	    AT_SYMLINK_NOFOLLOW) == 0;
}

static void
detail_set(struct shms_svc *svc)
{
	if (shms_errdetail(svc)[0] == '\0')
		fail_msg("no detail for the failure");
}

/* Adopts generation gen of svc fully verified: every byte as written. */
static void
adopt_ok(struct shms_svc *svc, const char *name, size_t len, size_t idx,
    unsigned finish)
{
	struct shms_adopt *ad;
	struct shms_seg *seg;
	const void *data;
	unsigned char *want = malloc(len ? len : 1);
	uint64_t got;

	assert_non_null(want);
	assert_int_equal(shms_adopt_begin(svc, 0, &ad), 0);
	assert_int_equal(shms_adopt_seg_open(ad, name, "lay", 1,
	    SHMS_VERIFY_FULL, &seg), 0);
	assert_int_equal(shms_seg_data(seg, &data, &got), 0);
	assert_int_equal(got, len);
	fill(want, len, idx, 0);
	assert_memory_equal(data, want, len);
	free(want);
	assert_int_equal(shms_adopt_finish(ad, finish), 0);
}

/* ---- services */

static void
svc_open_fails(void **state)
{
	struct shms_svc *svc = (struct shms_svc *)0x1;
	char name[SHMS_NAME_MAX + 1], detail[SHMS_DETAIL_MAX];
	long n;
	int rc;

	/* Every allocation of an open, then the mkdir of a new service. */
	for (n = 1; n <= SWEEP_MAX; n++) {
		arm(W_CALLOC, n, ENOMEM);
		rc = shms_svc_open(&svc, NULL, "ep-open", 0);
		if (!disarm())
			break;
		assert_int_equal(rc, -ENOMEM);
		assert_ptr_equal(svc, (struct shms_svc *)0x1);
	}
	assert_int_equal(rc, 0);
	assert_int_equal(shms_svc_close(svc), 0);
	svc = (struct shms_svc *)0x1;
	arm(W_ASPRINTF, 1, ENOMEM);
	assert_int_equal(shms_svc_open(&svc, NULL, "ep-open", 0), -ENOMEM);
	assert_true(disarm());
	for (n = 1; n <= SWEEP_MAX; n++) {
		snprintf(name, sizeof(name), "ep-mkdir-%ld", n);
		detail[0] = '\0';
		arm(W_MKDIRAT, n, ENOSPC);
		rc = shms_svc_open_detail(&svc, NULL, name, 0, detail,
		    sizeof(detail));
		if (!disarm())
			break;
		assert_int_equal(rc, -ENOSPC);
		assert_non_null(strstr(detail, "mkdir"));
	}
	assert_int_equal(rc, 0);
	assert_int_equal(shms_svc_close(svc), 0);
	/* The lock taken before the mutex failed is given back. */
	svc = (struct shms_svc *)0x1;
	arm(W_MUTEX_INIT, 1, EAGAIN);
	assert_int_equal(shms_svc_open(&svc, NULL, "ep-open", 0), -EAGAIN);
	assert_true(disarm());
	assert_ptr_equal(svc, (struct shms_svc *)0x1);
	svc = open_w("ep-open");
	assert_int_equal(shms_svc_close(svc), 0);
	/* The owner lock: taking it, and writing our pid into it. */
	svc = (struct shms_svc *)0x1;
	detail[0] = '\0';
	arm_cmd(W_FCNTL, 1, ENOLCK, F_OFD_SETLK);
	assert_int_equal(shms_svc_open_detail(&svc, NULL, "ep-open", 0, detail,
	    sizeof(detail)), -ENOLCK);
	assert_true(disarm());
	assert_non_null(strstr(detail, "lock"));
	arm(W_FTRUNCATE, 1, EIO);
	assert_int_equal(shms_svc_open_detail(&svc, NULL, "ep-open", 0, detail,
	    sizeof(detail)), -EIO);
	assert_true(disarm());
	assert_non_null(strstr(detail, "writing pid"));
	assert_ptr_equal(svc, (struct shms_svc *)0x1);
	svc = open_w("ep-open");
	assert_int_equal(shms_svc_close(svc), 0);
}

static void
svc_owner_lock_test_fails(void **state)
{
	const char *name = test_service("ep-own");
	struct shms_svc *svc = open_w(name), *ro;
	pid_t pid = 77;
	int alive = 77;

	assert_int_equal(shms_svc_open(&ro, NULL, name, SHMS_SVC_RDONLY), 0);
	arm_cmd(W_FCNTL, 1, ENOLCK, F_OFD_GETLK);
	assert_int_equal(shms_svc_owner(ro, &pid, &alive), -ENOLCK);
	assert_true(disarm());
	assert_int_equal(pid, 77);
	detail_set(ro);
	assert_int_equal(shms_svc_owner(ro, &pid, &alive), 0);
	assert_int_equal(pid, getpid());
	assert_int_equal(alive, 1);
	assert_int_equal(shms_svc_close(ro), 0);
	assert_int_equal(shms_svc_close(svc), 0);
}

/* ---- checkpoint */

static void
ckpt_begin_fails(void **state)
{
	struct shms_svc *svc = open_w(test_service("ep-ckb"));
	static const char *const names[] = { "a" };
	struct shms_ckpt *ck = (struct shms_ckpt *)0x1;
	struct shms_seg *seg;
	long n;
	int rc;

	make_ckpt(svc, names, 1, 3000);
	arm(W_FDOPENDIR, 1, EMFILE);
	assert_int_equal(shms_ckpt_begin(svc, 0, &ck), -EMFILE);
	assert_true(disarm());
	detail_set(svc);
	assert_ptr_equal(ck, (struct shms_ckpt *)0x1);
	arm(W_MUTEX_INIT, 1, EAGAIN);
	assert_int_equal(shms_ckpt_begin(svc, 0, &ck), -EAGAIN);
	assert_true(disarm());
	/*
	 * An allocation failing while the manifest is read only costs the
	 * manifest's generation (the files' is used): the begin succeeds.
	 */
	for (n = 1; n <= SWEEP_MAX; n++) {
		arm(W_CALLOC, n, ENOMEM);
		rc = shms_ckpt_begin(svc, 0, &ck);
		if (!disarm())
			break;
		if (rc == 0)
			shms_ckpt_abort(ck);
		else
			assert_int_equal(rc, -ENOMEM);
	}
	assert_int_equal(rc, 0);
	/* Each allocation of a segment's creation. */
	for (n = 1; n <= SWEEP_MAX; n++) {
		arm(W_CALLOC, n, ENOMEM);
		rc = shms_ckpt_seg_create(ck, "a", "lay", 1, 0, &seg);
		if (!disarm())
			break;
		assert_int_equal(rc, -ENOMEM);
	}
	assert_int_equal(rc, 0);
	assert_int_equal(shms_ckpt_commit(ck, 0, NULL), 0);
	assert_int_equal(shms_svc_close(svc), 0);
}

/* A failed reserve poisons the segment: commit says so too. */
static void
seg_commit_after_failure(void **state)
{
	struct shms_svc *svc = open_w(test_service("ep-cmt"));
	static const char *const names[] = { "a" };
	struct shms_ckpt *ck;
	struct shms_seg *seg;
	void *p;

	make_ckpt(svc, names, 1, 2000);
	assert_int_equal(shms_ckpt_begin(svc, 0, &ck), 0);
	assert_int_equal(shms_ckpt_seg_create(ck, "a", "lay", 1, 0, &seg), 0);
	arm(W_FALLOCATE, 1, ENOSPC);
	assert_int_equal(shms_seg_reserve(seg, 100, &p), -ENOSPC);
	assert_true(disarm());
	assert_int_equal(shms_seg_commit(seg, 0), -ENOSPC);
	assert_int_equal(shms_ckpt_commit(ck, 0, NULL), -ENOSPC);
	/* The previous checkpoint is the one there. */
	adopt_ok(svc, "a", 2000, 0, SHMS_ADOPT_KEEP);
	assert_int_equal(shms_svc_close(svc), 0);
}

/* ---- adopt */

static void
adopt_begin_open_fails(void **state)
{
	struct shms_svc *svc = open_w(test_service("ep-adb"));
	static const char *const names[] = { "a", "b" };
	struct shms_adopt *ad = (struct shms_adopt *)0x1;
	struct shms_seg *seg = (struct shms_seg *)0x1;
	int syms[] = { W_CALLOC, W_MALLOC };
	size_t k;
	long n;
	int rc;

	make_ckpt(svc, names, 2, 5000);
	for (k = 0; k < SHMS__ARRAY_SIZE(syms); k++) {
		for (n = 1; n <= SWEEP_MAX; n++) {
			arm(syms[k], n, ENOMEM);
			rc = shms_adopt_begin(svc, 0, &ad);
			if (!disarm())
				break;
			assert_int_equal(rc, -ENOMEM);
			assert_ptr_equal(ad, (struct shms_adopt *)0x1);
			detail_set(svc);
		}
		assert_int_equal(rc, 0);
		shms_adopt_abort(ad);
		ad = (struct shms_adopt *)0x1;
	}
	arm(W_MUTEX_INIT, 1, EAGAIN);
	assert_int_equal(shms_adopt_begin(svc, 0, &ad), -EAGAIN);
	assert_true(disarm());
	assert_int_equal(shms_adopt_begin(svc, 0, &ad), 0);
	for (n = 1; n <= SWEEP_MAX; n++) {
		arm(W_CALLOC, n, ENOMEM);
		rc = shms_adopt_seg_open(ad, "b", "lay", 1, SHMS_VERIFY_FULL,
		    &seg);
		if (!disarm())
			break;
		assert_int_equal(rc, -ENOMEM);
		assert_ptr_equal(seg, (struct shms_seg *)0x1);
	}
	assert_int_equal(rc, 0);
	shms_adopt_abort(ad);
	adopt_ok(svc, "b", 5000, 1, SHMS_ADOPT_KEEP);
	assert_int_equal(shms_svc_close(svc), 0);
}

/*
 * adopt_finish: a manifest that cannot be read for a system error, or
 * cannot be removed, keeps every segment (the checkpoint stays adoptable);
 * a segment that cannot be removed is reported after the rest went.
 */
static void
adopt_finish_fails(void **state)
{
	struct shms_svc *svc = open_w(test_service("ep-adf"));
	static const char *const names[] = { "a", "b" };
	struct shms_adopt *ad;
	char file[SHMS__FILE_MAX];
	uint64_t gen;
	long n;
	int rc;

	gen = make_ckpt(svc, names, 2, 3000);
	assert_int_equal(shms_adopt_begin(svc, 0, &ad), 0);
	arm(W_MALLOC, 1, ENOMEM);
	assert_int_equal(shms_adopt_finish(ad, 0), -ENOMEM);
	assert_true(disarm());
	detail_set(svc);
	adopt_ok(svc, "a", 3000, 0, SHMS_ADOPT_KEEP);
	for (n = 1; n <= SWEEP_MAX; n++) {
		assert_int_equal(shms_adopt_begin(svc, 0, &ad), 0);
		arm(W_UNLINKAT, n, EIO);
		rc = shms_adopt_finish(ad, 0);
		if (!disarm())
			break;
		assert_int_equal(rc, -EIO);
		detail_set(svc);
		if (n == 1) {
			/* The manifest stayed: so did everything. */
			adopt_ok(svc, "b", 3000, 1, SHMS_ADOPT_KEEP);
			continue;
		}
		/* The manifest went; segment n - 1 was left: a leftover. */
		assert_false(exists(svc, "manifest"));
		shms__ckpt_file(file, gen, names[n - 2]);
		assert_true(exists(svc, file));
		assert_int_equal(shms_svc_gc(svc, NULL, NULL), 1);
		gen = make_ckpt(svc, names, 2, 3000);
	}
	assert_int_equal(rc, 0);
	assert_int_equal(n, 4);
	assert_int_equal(shms_svc_close(svc), 0);
}

/* ---- adopted segments */

static void
seg_release_fails(void **state)
{
	struct shms_svc *svc = open_w(test_service("ep-rel"));
	static const char *const names[] = { "a" };
	struct shms_adopt *ad;
	struct shms_seg *seg;
	struct shms_seg_info info;

	make_ckpt(svc, names, 1, 64 << 10);
	assert_int_equal(shms_adopt_begin(svc, 0, &ad), 0);
	assert_int_equal(shms_adopt_seg_open(ad, "a", "lay", 1,
	    SHMS_VERIFY_HEADER, &seg), 0);
	/* The header could not say consumed: nothing is released. */
	arm(W_PWRITE, 1, EIO);
	assert_int_equal(shms_seg_release(seg, 0, 32 << 10, 0), -EIO);
	assert_true(disarm());
	detail_set(svc);
	assert_int_equal(shms_seg_info(seg, &info), 0);
	assert_int_equal(info.state, SHMS_STATE_CLEAN);
	arm(W_FALLOCATE, 1, EOPNOTSUPP);
	assert_int_equal(shms_seg_release(seg, 0, 32 << 10, 0), -EOPNOTSUPP);
	assert_true(disarm());
	assert_int_equal(shms_seg_release(seg, 0, 32 << 10, 0), 0);
	shms_adopt_abort(ad);
	assert_int_equal(shms_svc_close(svc), 0);
}

/* ---- arenas */

static void
arena_create_fails(void **state)
{
	struct shms_svc *svc = open_w(test_service("ep-arc"));
	struct shms_arena *a = (struct shms_arena *)0x1;
	long n;
	int rc;

	arm_cmd(W_FCNTL, 1, ENOLCK, F_OFD_SETLK);
	assert_int_equal(shms_arena_create(svc, "x", "lay", 1, 1 << 20, 0, 0,
	    &a), -ENOLCK);
	assert_true(disarm());
	assert_false(exists(svc, "arena.x"));
	arm(W_FTRUNCATE, 1, ENOSPC);
	assert_int_equal(shms_arena_create(svc, "x", "lay", 1, 1 << 20, 0, 0,
	    &a), -ENOSPC);
	assert_true(disarm());
	assert_false(exists(svc, "arena.x"));
	arm(W_FALLOCATE, 1, ENOSPC);
	assert_int_equal(shms_arena_create(svc, "x", "lay", 1, 1 << 20, 0, 0,
	    &a), -ENOSPC);
	assert_true(disarm());
	detail_set(svc);
	assert_false(exists(svc, "arena.x"));
	for (n = 1; n <= SWEEP_MAX; n++) {
		arm(W_MMAP, n, ENOMEM);
		rc = shms_arena_create(svc, "x", "lay", 1, 1 << 20, 4 << 20, 0,
		    &a);
		if (!disarm())
			break;
		assert_int_equal(rc, -ENOMEM);
		assert_ptr_equal(a, (struct shms_arena *)0x1);
		assert_false(exists(svc, "arena.x"));
	}
	assert_int_equal(rc, 0);
	assert_int_equal(shms_arena_destroy(a), 0);
	assert_int_equal(shms_svc_close(svc), 0);
}

static void
arena_adopt_inspect_fail(void **state)
{
	struct shms_svc *svc = open_w(test_service("ep-ara"));
	struct shms_arena *a = NULL, *b = (struct shms_arena *)0x1;
	struct shms_arena_stats st;
	uint64_t off;
	long n;
	int rc;

	assert_int_equal(shms_arena_create(svc, "x", "lay", 1, 1 << 20, 0, 0,
	    &a), 0);
	assert_int_equal(shms_arena_alloc(a, 64, &off), 0);
	strcpy(shms_arena_ptr(a, off), "root");
	assert_int_equal(shms_arena_root_set(a, off), 0);
	/* Live, open in a handle: header and counters read with pread. */
	for (n = 1; n <= SWEEP_MAX; n++) {
		arm(W_PREAD, n, EIO);
		rc = shms_arena_inspect(svc, "arena.x", 0, &st);
		if (!disarm())
			break;
		assert_int_equal(rc, -EIO);
		detail_set(svc);
	}
	assert_int_equal(rc, 0);
	assert_int_equal(st.owner_alive, 1);
	assert_int_equal(shms_arena_seal(a, 0), 0);
	/* Sealed: mapped to be checked. */
	arm(W_MMAP, 1, ENOMEM);
	assert_int_equal(shms_arena_inspect(svc, "arena.x", 0, &st), -ENOMEM);
	assert_true(disarm());
	for (n = 1; n <= SWEEP_MAX; n++) {
		arm(W_MMAP, n, ENOMEM);
		rc = shms_arena_adopt(svc, "x", "lay", 1, 0, &b);
		if (!disarm())
			break;
		assert_int_equal(rc, -ENOMEM);
		assert_ptr_equal(b, (struct shms_arena *)0x1);
		detail_set(svc);
	}
	/* Still clean and whole after every failed adoption. */
	assert_int_equal(rc, 0);
	assert_string_equal(shms_arena_ptr(b, shms_arena_root(b)), "root");
	assert_int_equal(shms_arena_destroy(b), 0);
	assert_int_equal(shms_svc_close(svc), 0);
}

/* ---- inspection */

static int
count_cb(const struct shms_entry *e, void *arg)
{
	(*(int *)arg)++;
	return 0;
}

static void
inspect_alloc_fails(void **state)
{
	struct shms_svc *svc = open_w(test_service("ep-ins"));
	static const char *const names[] = { "a" };
	int syms[] = { W_MALLOC, W_PREAD };
	int allocs[] = { W_MALLOC, W_STRDUP, W_REALLOCARRAY };
	char file[SHMS__FILE_MAX];
	uint64_t gen;
	int fd, fd2, rc, cnt = 0;
	size_t k;
	long n;

	gen = make_ckpt(svc, names, 1, 100);
	shms__ckpt_file(file, gen, "a");
	fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	arm(W_MALLOC, 1, ENOMEM);
	assert_int_equal(shms_svc_dump(svc, file, fd), -ENOMEM);
	assert_true(disarm());
	arm(W_MALLOC, 1, ENOMEM);
	assert_int_equal(shms_svc_verify(svc, file, NULL, NULL), -ENOMEM);
	assert_true(disarm());
	assert_int_equal(shms_svc_dump(svc, file, fd), 0);
	assert_int_equal(shms_svc_verify(svc, file, NULL, NULL), 0);
	/* Each allocation and each read of a dump. */
	for (k = 0; k < SHMS__ARRAY_SIZE(syms); k++) {
		for (n = 1; n <= SWEEP_MAX; n++) {
			arm(syms[k], n, k == 0 ? ENOMEM : EIO);
			rc = shms_svc_dump(svc, file, fd);
			if (!disarm())
				break;
			assert_int_equal(rc, k == 0 ? -ENOMEM : -EIO);
		}
		assert_int_equal(rc, 0);
	}
	/* Each allocation of a listing. */
	for (k = 0; k < SHMS__ARRAY_SIZE(allocs); k++) {
		for (n = 1; n <= SWEEP_MAX; n++) {
			arm(allocs[k], n, ENOMEM);
			rc = shms_svc_list(svc, count_cb, &cnt);
			if (!disarm())
				break;
			assert_int_equal(rc, -ENOMEM);
		}
		assert_int_equal(rc, 0);
	}
	/* A leftover gc cannot remove: said, and kept. */
	shms__ckpt_file(file, gen + 5, "a");
	fd2 = openat(shms__svc_dirfd(svc), file, O_CREAT | O_EXCL | O_WRONLY |
	    O_CLOEXEC, 0600);
	assert_true(fd2 >= 0);
	close(fd2);
	arm(W_UNLINKAT, 1, EIO);
	assert_int_equal(shms_svc_gc(svc, NULL, NULL), -EIO);
	assert_true(disarm());
	detail_set(svc);
	assert_true(exists(svc, file));
	assert_int_equal(shms_svc_gc(svc, NULL, NULL), 1);
	close(fd);
	assert_int_equal(shms_svc_close(svc), 0);
}

/* ---- connection handoff */

struct rx {
	int	fd;
	char	name[SHMS_FDNAME_MAX + 1];
};

/* The fds of every datagram queued on s, with their FDNAME. */
static size_t
drain(int s, struct shms_listen_fd *lf, size_t max)
{
	char buf[SHMS_NOTIFY_MAX + 1];
	union {
		struct cmsghdr	align;
		char		b[CMSG_SPACE(sizeof(int) * 4)];
	} cm;
	struct shms_notify_msg m;
	struct msghdr mh;
	struct iovec iov;
	struct cmsghdr *h;
	size_t k = 0, i, cnt;
	ssize_t n;

	for (;;) {
		memset(&mh, 0, sizeof(mh));
		iov.iov_base = buf;
		iov.iov_len = sizeof(buf);
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = cm.b;
		mh.msg_controllen = sizeof(cm.b);
		if ((n = recvmsg(s, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC)) < 0)
			break;
		assert_int_equal(shms_notify_parse(buf, (size_t)n, &m), 0);
		for (h = CMSG_FIRSTHDR(&mh); h != NULL;
		    h = CMSG_NXTHDR(&mh, h)) {
			cnt = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (i = 0; i < cnt; i++) {
				assert_true(k < max);
				memcpy(&lf[k].fd, CMSG_DATA(h) + i *
				    sizeof(int), sizeof(int));
				strcpy(lf[k++].name, m.fdname);
			}
		}
	}
	return k;
}

static void
handoff_alloc_fails(void **state)
{
	struct shms_handoff *h = (struct shms_handoff *)0x1;
	struct shms_handoff_in *in = (struct shms_handoff_in *)0x1;
	struct shms_listen_fd lf[4], keep[4];
	static char big[8192];
	char path[108];
	int syms[] = { W_CALLOC, W_MALLOC, W_REALLOC };
	int sv[2], s, rc;
	size_t k, i, got;
	long n;

	for (n = 1; n <= SWEEP_MAX; n++) {
		arm(W_CALLOC, n, ENOMEM);
		rc = shms_handoff_new(&h);
		if (!disarm())
			break;
		assert_int_equal(rc, -ENOMEM);
		assert_ptr_equal(h, (struct shms_handoff *)0x1);
	}
	assert_int_equal(rc, 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    sv), 0);
	/* Growing the blob past its first 4 KiB. */
	arm(W_REALLOC, 1, ENOMEM);
	assert_int_equal(shms_handoff_add(h, sv[0], big, sizeof(big), NULL, 0,
	    "app", 3), -ENOMEM);
	assert_true(disarm());
	assert_int_equal(shms_handoff_add(h, sv[0], big, sizeof(big), NULL, 0,
	    "app", 3), 0);
	/* Each datagram: the blob's, then the connections'. */
	s = bind_notify("test_api_errpaths_sys", path, sizeof(path));
	for (n = 1; n <= SWEEP_MAX; n++) {
		arm(W_SENDMSG, n, ENOBUFS);
		rc = shms_handoff_send(h);
		if (!disarm())
			break;
		assert_int_equal(rc, -ENOBUFS);
		got = drain(s, lf, 4);
		for (i = 0; i < got; i++)
			close(lf[i].fd);
	}
	assert_int_equal(n, 3);
	assert_int_equal(rc, 1);
	got = drain(s, lf, 4);
	assert_int_equal(got, 2);
	for (i = 0; i < got; i++)
		close(lf[i].fd);
	/*
	 * Taking: each allocation fails in turn, and then nothing changed:
	 * the same fds are there to take again.
	 */
	for (k = 0; k < SHMS__ARRAY_SIZE(syms); k++) {
		for (n = 1; n <= SWEEP_MAX; n++) {
			assert_int_equal(shms_handoff_send(h), 1);
			got = drain(s, lf, 4);
			assert_int_equal(got, 2);
			memcpy(keep, lf, sizeof(lf));
			arm(syms[k], n, ENOMEM);
			rc = shms_handoff_take(&in, lf, got);
			if (!disarm())
				break;
			assert_int_equal(rc, -ENOMEM);
			assert_ptr_equal(in, (struct shms_handoff_in *)0x1);
			assert_memory_equal(lf, keep, sizeof(lf[0]) * got);
			assert_int_equal(shms_handoff_take(&in, lf, got), 1);
			for (i = 0; i < got; i++)
				assert_int_equal(lf[i].fd, -1);
			close(shms_handoff_conn(in, 0, NULL));
			assert_int_equal(shms_handoff_release(in, 1), 1);
			in = (struct shms_handoff_in *)0x1;
			(void)drain(s, lf, 4);
		}
		assert_int_equal(rc, 1);
		close(shms_handoff_conn(in, 0, NULL));
		assert_int_equal(shms_handoff_release(in, 1), 1);
		in = (struct shms_handoff_in *)0x1;
		(void)drain(s, lf, 4);
	}
	shms_handoff_free(h);
	close(s);
	unlink(path);
	unsetenv("NOTIFY_SOCKET");
	close(sv[0]);
	close(sv[1]);
}

/* ---- socket activation */

static void
listen_fails(void **state)
{
	struct shms_listen_fd *fds = (struct shms_listen_fd *)0x1, one;
	int saved, sv[2];
	char pid[32];

	/* fd 3 a socket passed to us, as a supervisor would. */
	saved = fcntl(3, F_DUPFD_CLOEXEC, 10);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(dup2(sv[0], 3), 3);
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	setenv("LISTEN_PID", pid, 1);
	setenv("LISTEN_FDS", "1", 1);
	setenv("LISTEN_FDNAMES", "web", 1);
	arm_cmd(W_FCNTL, 1, EBADF, F_SETFD);
	assert_int_equal(shms_listen_fds(&one, 1, 0), -EBADF);
	assert_true(disarm());
	arm(W_CALLOC, 1, ENOMEM);
	assert_int_equal(shms_listen_fds_alloc(&fds, 0), -ENOMEM);
	assert_true(disarm());
	assert_ptr_equal(fds, (struct shms_listen_fd *)0x1);
	assert_int_equal(shms_listen_fds_alloc(&fds, 0), 1);
	assert_int_equal(fds[0].fd, 3);
	assert_string_equal(fds[0].name, "web");
	free(fds);
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	close(3);
	if (saved >= 0) {
		assert_int_equal(dup2(saved, 3), 3);
		close(saved);
	}
	close(sv[0]);
	close(sv[1]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(svc_open_fails),
		cmocka_unit_test(svc_owner_lock_test_fails),
		cmocka_unit_test(ckpt_begin_fails),
		cmocka_unit_test(seg_commit_after_failure),
		cmocka_unit_test(adopt_begin_open_fails),
		cmocka_unit_test(adopt_finish_fails),
		cmocka_unit_test(seg_release_fails),
		cmocka_unit_test(arena_create_fails),
		cmocka_unit_test(arena_adopt_inspect_fail),
		cmocka_unit_test(inspect_alloc_fails),
		cmocka_unit_test(handoff_alloc_fails),
		cmocka_unit_test(listen_fails),
	};

	test_root();
	return cmocka_run_group_tests_name("api_errpaths_sys", tests, NULL,
	    NULL);
}
