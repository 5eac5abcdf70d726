/*
 * test_fault_matrix: every system call (and allocation) the library makes
 * during a checkpoint (begin, segment create, write, reserve/commit, seal,
 * commit with old-generation removal), during an adoption (begin, open
 * at each verification level, read, finish) and during an arena's run
 * (adopt verified, allocate past its size so it grows, set the root,
 * free, seal) is made to fail in turn: the
 * Nth call of symbol S fails with errno E, for N = 1, 2, ... until the
 * operation completes without reaching the Nth call, for E in ENOSPC,
 * EIO, EINTR, ENOMEM, EMFILE, EACCES (allocations: ENOMEM). The calls are
 * intercepted with -Wl,--wrap on the library's objects (tests/fault/
 * fault.mk); the library itself has no test hook.
 *
 * Each case runs in its own child on a fresh service holding a committed
 * checkpoint. For every case:
 *  - no crash (the child must exit normally);
 *  - a failed call returns a negative code naming the failure (the
 *    injected errno, or a detail that quotes it) with shms_errdetail()
 *    non-empty;
 *  - no leak: no allocation made during the operation and no fd opened by
 *    it outlives it, and the service closes (no handle left attached);
 *  - a failed checkpoint leaves no file of its generation behind;
 *  - the next adoption, without injection, in a new handle, yields the
 *    previous checkpoint or the new one, every segment complete and
 *    verified, never a mixture (after an adoption: the same checkpoint, or
 *    none when the adoption had reached its removal); an arena verifies
 *    (dirty or not) and its root is the old or the new object, whole.
 *
 * Then the kill matrix: the checkpoint writer is killed with SIGKILL right
 * before each system call it makes (every step boundary: segment create,
 * each write chunk, checksum and seal, manifest write, rename, old
 * generation removal), and the next adoption must again be old or new.
 *
 * Prints "fault-matrix: N cases, T torn, C crashes" (and the details of
 * each bad case) and "kill-matrix: N kills, T torn"; fails on any bad case.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <xxhash.h>

#include "internal.h"

/*
 * Defined only in a --coverage build (libgcov): a child leaving with
 * _exit() writes its line counts with it, or make coverage would not see
 * the thousand failure paths the matrix goes through.
 */
extern void __gcov_dump(void) __attribute__((weak));

/* ---- the interception ---- */

enum fsym {
	F_OPENAT, F_FSTAT, F_FSTATAT, F_FTRUNCATE, F_FALLOCATE, F_MMAP,
	F_PWRITE, F_PREAD, F_RENAMEAT, F_UNLINKAT, F_FSYNC, F_CLOSE,
	F_FCHMOD, F_FCNTL, F_FDOPENDIR, F_READDIR, F_FSTATFS, F_FLOCK,
	F_MADVISE, F_MALLOC,
	F_CALLOC, F_REALLOC, F_REALLOCARRAY, F_XXH3_CREATESTATE, F_NSYMS
};

static const char *const fsym_name[F_NSYMS] = {
	"openat", "fstat", "fstatat", "ftruncate", "fallocate", "mmap",
	"pwrite", "pread", "renameat", "unlinkat", "fsync", "close",
	"fchmod", "fcntl", "fdopendir", "readdir", "fstatfs", "flock",
	"madvise", "malloc",
	"calloc", "realloc", "reallocarray", "XXH3_createState",
};

static int
is_alloc(int sym)
{
	return sym >= F_MALLOC;
}

enum { M_OFF = 0, M_COUNT, M_FAIL, M_KILL };

#define LIVE_MAX	8192

static struct {
	int	 mode;
	int	 sym;		/* M_FAIL: which symbol */
	long	 n;		/* M_FAIL: which call of it; M_KILL: of all */
	int	 err;
	int	 fired;
	long	 calls[F_NSYMS];
	long	 total;
	void	*live[LIVE_MAX];	/* allocations made while armed */
	size_t	 nlive;
	int	 live_overflow;
} F;

static int
hit(int sym)
{
	if (F.mode == M_OFF)
		return 0;
	F.calls[sym]++;
	F.total++;
	if (F.mode == M_KILL && F.total == F.n)
		kill(getpid(), SIGKILL);
	if (F.mode == M_FAIL && sym == F.sym && F.calls[sym] == F.n &&
	    !F.fired) {
		F.fired = 1;
		errno = F.err;
		return 1;
	}
	return 0;
}

static void
live_add(void *p)
{
	if (F.mode == M_OFF || p == NULL)
		return;
	if (F.nlive == LIVE_MAX)
		F.live_overflow = 1;
	else
		F.live[F.nlive++] = p;
}

static void
live_del(void *p)
{
	size_t i;

	for (i = 0; i < F.nlive; i++)
		if (F.live[i] == p) {
			F.live[i] = F.live[--F.nlive];
			return;
		}
}

int	__real_openat(int, const char *, int, ...);
int	__real_fstat(int, struct stat *);
int	__real_fstatat(int, const char *, struct stat *, int);
int	__real_ftruncate(int, off_t);
int	__real_fallocate(int, int, off_t, off_t);
void	*__real_mmap(void *, size_t, int, int, int, off_t);
ssize_t	__real_pwrite(int, const void *, size_t, off_t);
ssize_t	__real_pread(int, void *, size_t, off_t);
int	__real_renameat(int, const char *, int, const char *);
int	__real_unlinkat(int, const char *, int);
int	__real_fsync(int);
int	__real_close(int);
int	__real_fchmod(int, mode_t);
int	__real_fcntl(int, int, ...);
DIR	*__real_fdopendir(int);
struct dirent *__real_readdir(DIR *);
int	__real_fstatfs(int, struct statfs *);
int	__real_flock(int, int);
int	__real_madvise(void *, size_t, int);
void	*__real_malloc(size_t);
void	*__real_calloc(size_t, size_t);
void	*__real_realloc(void *, size_t);
void	*__real_reallocarray(void *, size_t, size_t);
void	__real_free(void *);
XXH3_state_t *__real_XXH3_createState(void);

int	__wrap_openat(int, const char *, int, ...);
int	__wrap_fstat(int, struct stat *);
int	__wrap_fstatat(int, const char *, struct stat *, int);
int	__wrap_ftruncate(int, off_t);
int	__wrap_fallocate(int, int, off_t, off_t);
void	*__wrap_mmap(void *, size_t, int, int, int, off_t);
ssize_t	__wrap_pwrite(int, const void *, size_t, off_t);
ssize_t	__wrap_pread(int, void *, size_t, off_t);
int	__wrap_renameat(int, const char *, int, const char *);
int	__wrap_unlinkat(int, const char *, int);
int	__wrap_fsync(int);
int	__wrap_close(int);
int	__wrap_fchmod(int, mode_t);
int	__wrap_fcntl(int, int, ...);
DIR	*__wrap_fdopendir(int);
struct dirent *__wrap_readdir(DIR *);
int	__wrap_fstatfs(int, struct statfs *);
int	__wrap_flock(int, int);
int	__wrap_madvise(void *, size_t, int);
void	*__wrap_malloc(size_t);
void	*__wrap_calloc(size_t, size_t);
void	*__wrap_realloc(void *, size_t);
void	*__wrap_reallocarray(void *, size_t, size_t);
void	__wrap_free(void *);
XXH3_state_t *__wrap_XXH3_createState(void);

int
__wrap_openat(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = 0;
	va_list ap;

	if (flags & (O_CREAT | O_TMPFILE)) {
		va_start(ap, flags);
		mode = (mode_t)va_arg(ap, int);
		va_end(ap);
	}
	if (hit(F_OPENAT))
		return -1;
	return __real_openat(dirfd, path, flags, mode);
}

#define WRAP(ret, fn, sym, fail, params, args)				\
ret									\
__wrap_##fn params							\
{									\
	if (hit(sym))							\
		return fail;						\
	return __real_##fn args;					\
}

WRAP(int, fstat, F_FSTAT, -1, (int fd, struct stat *st), (fd, st))
WRAP(int, fstatat, F_FSTATAT, -1, (int d, const char *p, struct stat *st,
    int fl), (d, p, st, fl))
WRAP(int, ftruncate, F_FTRUNCATE, -1, (int fd, off_t len), (fd, len))
WRAP(int, fallocate, F_FALLOCATE, -1, (int fd, int m, off_t o, off_t l),
    (fd, m, o, l))
WRAP(void *, mmap, F_MMAP, MAP_FAILED, (void *a, size_t l, int p, int f,
    int fd, off_t o), (a, l, p, f, fd, o))
WRAP(ssize_t, pwrite, F_PWRITE, -1, (int fd, const void *b, size_t n,
    off_t o), (fd, b, n, o))
WRAP(ssize_t, pread, F_PREAD, -1, (int fd, void *b, size_t n, off_t o),
    (fd, b, n, o))
WRAP(int, renameat, F_RENAMEAT, -1, (int a, const char *b, int c,
    const char *d), (a, b, c, d))
WRAP(int, unlinkat, F_UNLINKAT, -1, (int d, const char *p, int f), (d, p, f))
WRAP(int, fsync, F_FSYNC, -1, (int fd), (fd))
WRAP(int, fchmod, F_FCHMOD, -1, (int fd, mode_t m), (fd, m))
WRAP(DIR *, fdopendir, F_FDOPENDIR, NULL, (int fd), (fd))
WRAP(struct dirent *, readdir, F_READDIR, NULL, (DIR *d), (d))
WRAP(int, fstatfs, F_FSTATFS, -1, (int fd, struct statfs *s), (fd, s))
WRAP(int, flock, F_FLOCK, -1, (int fd, int op), (fd, op))
WRAP(int, madvise, F_MADVISE, -1, (void *a, size_t l, int adv), (a, l, adv))
WRAP(XXH3_state_t *, XXH3_createState, F_XXH3_CREATESTATE, NULL, (void), ())

/* Linux closes the fd even when close(2) reports an error. */
int
__wrap_close(int fd)
{
	int e;

	if (hit(F_CLOSE)) {
		e = errno;
		__real_close(fd);
		errno = e;
		return -1;
	}
	return __real_close(fd);
}

int
__wrap_fcntl(int fd, int cmd, ...)
{
	va_list ap;
	long arg;

	/* Every command the library uses takes an int or nothing. */
	va_start(ap, cmd);
	arg = va_arg(ap, long);
	va_end(ap);
	if (hit(F_FCNTL))
		return -1;
	return __real_fcntl(fd, cmd, arg);
}

void *
__wrap_malloc(size_t n)
{
	void *p;

	if (hit(F_MALLOC))
		return NULL;
	p = __real_malloc(n);
	live_add(p);
	return p;
}

void *
__wrap_calloc(size_t n, size_t m)
{
	void *p;

	if (hit(F_CALLOC))
		return NULL;
	p = __real_calloc(n, m);
	live_add(p);
	return p;
}

void *
__wrap_realloc(void *old, size_t n)
{
	void *p;

	if (hit(F_REALLOC))
		return NULL;
	if ((p = __real_realloc(old, n)) != NULL || n == 0)
		live_del(old);
	live_add(p);
	return p;
}

void *
__wrap_reallocarray(void *old, size_t n, size_t m)
{
	void *p;

	if (hit(F_REALLOCARRAY))
		return NULL;
	if ((p = __real_reallocarray(old, n, m)) != NULL)
		live_del(old);
	live_add(p);
	return p;
}

void
__wrap_free(void *p)
{
	if (p != NULL)
		live_del(p);
	__real_free(p);
}

/* ---- the state: three segments whose bytes say which checkpoint ---- */

#define NSEG		3
#define OLD_TAG		1
#define NEW_TAG		2

static const char *const seg_names[NSEG] = { "items", "index", "meta" };

/* Lengths differ between checkpoints, so a mixture cannot pass. */
static size_t
seg_len(uint64_t tag, int i)
{
	static const size_t base[NSEG] = { 300u << 10, 1024u << 10, 100 };

	return base[i] + (size_t)tag * 4096 + 8;
}

static unsigned char
pat(uint64_t tag, int i, size_t at)
{
	return (unsigned char)((tag * 131u + (unsigned)i * 17u + at * 7u +
	    (at >> 12)) & 0xff);
}

static void
fill(unsigned char *buf, uint64_t tag, int i, size_t off, size_t len)
{
	size_t k;

	for (k = 0; k < len; k++)
		buf[k] = pat(tag, i, off + k);
	if (off == 0 && len >= 8)
		memcpy(buf, &tag, 8);
}

static unsigned char *payload[3][NSEG];	/* [tag][seg], made up front */

/* ---- operations under test ---- */

struct opres {
	int	rc;
	char	detail[SHMS_DETAIL_MAX];
	char	where[64];
};

/* Checks the result of a call made right after clearing the detail. */
#define CHECK(rcv, what) do {						\
	if ((rc = (rcv)) < 0) {						\
		r->rc = rc;						\
		snprintf(r->detail, sizeof(r->detail), "%s",		\
		    shms_errdetail(svc));				\
		snprintf(r->where, sizeof(r->where), "%s", what);	\
		goto fail;						\
	}								\
} while (0)
#define STEP(call, what) do {						\
	shms__clear_detail(svc);					\
	CHECK(call, what);						\
} while (0)

/*
 * Checkpoint NEW_TAG: segment 0 by shms_seg_write (three chunks),
 * segment 1 by reserve/commit (two windows), segment 2 written and
 * closed (sealed) before commit; commit removes the old generation.
 */
static void
op_ckpt(struct shms_svc *svc, struct opres *r)
{
	struct shms_ckpt *ck = NULL;
	struct shms_seg *seg[NSEG] = { NULL };
	const unsigned char *src;
	size_t len, half;
	void *p;
	int rc, i;

	r->rc = 0;
	STEP(shms_ckpt_begin(svc, 0, &ck), "ckpt_begin");
	for (i = 0; i < NSEG; i++)
		STEP(shms_ckpt_seg_create(ck, seg_names[i], "fault.v1", 1,
		    i == 1 ? 4096 : 0, &seg[i]), "seg_create");
	src = payload[NEW_TAG][0];
	len = seg_len(NEW_TAG, 0);
	STEP(shms_seg_write(seg[0], src, len), "seg_write");
	src = payload[NEW_TAG][1];
	len = seg_len(NEW_TAG, 1);
	half = len / 2;
	STEP(shms_seg_reserve(seg[1], half, &p), "seg_reserve");
	memcpy(p, src, half);
	STEP(shms_seg_commit(seg[1], half), "seg_commit");
	STEP(shms_seg_reserve(seg[1], len - half, &p), "seg_reserve");
	memcpy(p, src + half, len - half);
	STEP(shms_seg_commit(seg[1], len - half), "seg_commit");
	STEP(shms_seg_write(seg[2], payload[NEW_TAG][2], seg_len(NEW_TAG, 2)),
	    "seg_write");
	STEP(shms_seg_close(seg[2]), "seg_close");
	/* commit frees the handle whatever happens. */
	shms__clear_detail(svc);
	rc = shms_ckpt_commit(ck, 0, NULL);
	ck = NULL;
	CHECK(rc, "ckpt_commit");
	return;
fail:
	shms_ckpt_abort(ck);
}

/*
 * Adopts and consumes the committed checkpoint: each segment at another
 * verification level, its bytes compared, then finish (removal).
 */
static void
op_adopt(struct shms_svc *svc, struct opres *r, uint64_t tag)
{
	static unsigned char buf[64u << 10];
	struct shms_adopt *ad = NULL;
	struct shms_seg *seg;
	const void *data;
	uint64_t len;
	size_t got, off;
	int rc, i;

	r->rc = 0;
	STEP(shms_adopt_begin(svc, 0, &ad), "adopt_begin");
	for (i = 0; i < NSEG; i++) {
		STEP(shms_adopt_seg_open(ad, seg_names[i], "fault.v1", 1,
		    i == 0 ? SHMS_VERIFY_FULL : i == 1 ? SHMS_VERIFY_STREAM :
		    SHMS_VERIFY_HEADER, &seg), "adopt_seg_open");
		if (i == 1) {
			for (off = 0;; off += got) {
				STEP(shms_seg_read(seg, buf, sizeof(buf), &got),
				    "seg_read");
				if (got == 0)
					break;
				if (off + got > seg_len(tag, i) ||
				    memcmp(buf, payload[tag][i] + off, got) != 0) {
					r->rc = 1;	/* wrong bytes: torn */
					snprintf(r->where, sizeof(r->where),
					    "seg_read returned wrong bytes");
					goto fail;
				}
			}
			len = off;
		} else {
			STEP(shms_seg_data(seg, &data, &len), "seg_data");
			if (len == seg_len(tag, i) &&
			    memcmp(data, payload[tag][i], len) != 0)
				len = 0;
		}
		if (len != seg_len(tag, i)) {
			r->rc = 1;
			snprintf(r->where, sizeof(r->where), "segment %d wrong",
			    i);
			goto fail;
		}
		STEP(shms_seg_close(seg), "seg_close");
	}
	shms__clear_detail(svc);
	rc = shms_adopt_finish(ad, 0);
	ad = NULL;
	CHECK(rc, "adopt_finish");
	return;
fail:
	shms_adopt_abort(ad);
}

/*
 * Adopts arena "heap" (verified), allocates the NEW_TAG object (large
 * enough to grow the arena), makes it the root, frees the old root and
 * seals, as a service does across one run. A failure after the adopt
 * still seals: that is what a service does at its stop.
 */
#define ARENA_OLD_LEN	(300u << 10)
#define ARENA_NEW_LEN	(2560u << 10)

static void
arena_fill(unsigned char *p, uint64_t tag, size_t len)
{
	size_t k;

	for (k = 0; k < len; k++)
		p[k] = pat(tag, 7, k);
	memcpy(p, &tag, 8);
}

static void
op_arena(struct shms_svc *svc, struct opres *r)
{
	struct shms_arena *a = NULL;
	uint64_t off, old;
	int rc;

	r->rc = 0;
	STEP(shms_arena_adopt(svc, "heap", "fault.v1", 1, SHMS_ARENA_VERIFY,
	    &a), "arena_adopt");
	old = shms_arena_root(a);
	STEP(shms_arena_alloc(a, ARENA_NEW_LEN, &off), "arena_alloc");
	arena_fill(shms_arena_ptr(a, off), NEW_TAG, ARENA_NEW_LEN);
	STEP(shms_arena_root_set(a, off), "arena_root_set");
	STEP(shms_arena_free(a, old), "arena_free");
fail:
	if (a != NULL) {
		shms__clear_detail(svc);
		rc = shms_arena_seal(a, SHMS_ARENA_SUM);
		if (rc < 0 && r->rc == 0) {
			r->rc = rc;
			snprintf(r->detail, sizeof(r->detail), "%s",
			    shms_errdetail(svc));
			snprintf(r->where, sizeof(r->where), "arena_seal");
		}
	}
}

static int
make_arena(struct shms_svc *svc)
{
	struct shms_arena *a;
	uint64_t off;
	int rc;

	if ((rc = shms_arena_create(svc, "heap", "fault.v1", 1, 1u << 20,
	    4u << 20, 0, &a)) < 0)
		return rc;
	if ((rc = shms_arena_alloc(a, ARENA_OLD_LEN, &off)) < 0 ||
	    (arena_fill(shms_arena_ptr(a, off), OLD_TAG, ARENA_OLD_LEN),
	    rc = shms_arena_root_set(a, off)) < 0) {
		shms_arena_close(a);
		return rc;
	}
	return shms_arena_seal(a, SHMS_ARENA_SUM);
}

/* ---- checking the outcome ---- */

enum { OUT_TORN = 0, OUT_OLD, OUT_NEW, OUT_NONE };

/* What the next adopter finds; why (if torn) into why. */
static int
next_adopt(const char *service, char *why, size_t whylen)
{
	struct shms_svc *svc;
	struct shms_adopt *ad;
	struct shms_seg *seg;
	const void *data;
	uint64_t len, tag = 0, t;
	int rc, i, out = OUT_TORN;

	if ((rc = shms_svc_open(&svc, NULL, service, 0)) < 0) {
		snprintf(why, whylen, "svc_open: %s", shms_strerror(rc));
		return OUT_TORN;
	}
	if ((rc = shms_adopt_begin(svc, 0, &ad)) < 0) {
		if (rc == SHMS_ENOSTATE)
			out = OUT_NONE;
		else
			snprintf(why, whylen, "adopt_begin: %s: %s",
			    shms_strerror(rc), shms_errdetail(svc));
		shms_svc_close(svc);
		return out;
	}
	if (shms_adopt_count(ad) != NSEG) {
		snprintf(why, whylen, "%zu segments", shms_adopt_count(ad));
		goto done;
	}
	for (i = 0; i < NSEG; i++) {
		if ((rc = shms_adopt_seg_open(ad, seg_names[i], "fault.v1", 1,
		    SHMS_VERIFY_FULL, &seg)) < 0) {
			snprintf(why, whylen, "seg_open %s: %s: %s",
			    seg_names[i], shms_strerror(rc), shms_errdetail(svc));
			goto done;
		}
		shms_seg_data(seg, &data, &len);
		t = 0;
		if (len >= 8)
			memcpy(&t, data, 8);
		if (i == 0)
			tag = t;
		if ((tag != OLD_TAG && tag != NEW_TAG) || t != tag ||
		    len != seg_len(tag, i) ||
		    memcmp(data, payload[tag][i], len) != 0) {
			snprintf(why, whylen, "segment %s: tag %" PRIu64
			    " (first %" PRIu64 "), %" PRIu64 " bytes",
			    seg_names[i], t, tag, len);
			shms_seg_close(seg);
			goto done;
		}
		shms_seg_close(seg);
	}
	out = tag == OLD_TAG ? OUT_OLD : OUT_NEW;
done:
	shms_adopt_finish(ad, SHMS_ADOPT_KEEP);
	shms_svc_close(svc);
	return out;
}

/*
 * What the next adopter of the arena finds: its metadata must verify
 * (dirty accepted: a failed run may leave it live) and the root must be
 * the old or the new object, complete.
 */
static int
next_arena(const char *service, char *why, size_t whylen, int *dirty)
{
	struct shms_svc *svc;
	struct shms_arena *a;
	unsigned char *p, *want;
	uint64_t root, tag = 0;
	size_t len, usable;
	int rc, out = OUT_TORN;

	if ((rc = shms_svc_open(&svc, NULL, service, 0)) < 0) {
		snprintf(why, whylen, "svc_open: %s", shms_strerror(rc));
		return OUT_TORN;
	}
	*dirty = shms_arena_adopt(svc, "heap", "fault.v1", 1,
	    SHMS_ARENA_VERIFY, &a) == SHMS_EDIRTY;
	if (*dirty)
		rc = shms_arena_adopt(svc, "heap", "fault.v1", 1,
		    SHMS_ARENA_VERIFY | SHMS_ARENA_ADOPT_DIRTY, &a);
	else
		rc = 0;
	if (rc < 0 || (!*dirty && a == NULL)) {
		snprintf(why, whylen, "arena_adopt: %s: %s", shms_strerror(rc),
		    shms_errdetail(svc));
		shms_svc_close(svc);
		return OUT_TORN;
	}
	root = shms_arena_root(a);
	if (root != 0 && shms_arena_usable_size(a, root, &usable) == 0 &&
	    usable >= 8) {
		p = shms_arena_ptr(a, root);
		memcpy(&tag, p, 8);
		len = tag == OLD_TAG ? ARENA_OLD_LEN : ARENA_NEW_LEN;
		if ((tag == OLD_TAG || tag == NEW_TAG) && usable >= len &&
		    (want = malloc(len)) != NULL) {
			arena_fill(want, tag, len);
			if (memcmp(p, want, len) == 0)
				out = tag == OLD_TAG ? OUT_OLD : OUT_NEW;
			free(want);
		}
	}
	if (out == OUT_TORN)
		snprintf(why, whylen, "arena root %#" PRIx64 " tag %" PRIu64
		    " not a complete object", root, tag);
	shms_arena_seal(a, 0);
	shms_svc_close(svc);
	return out;
}

static int
count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

/* Files of generation > gen (and manifest.tmp) left in the directory. */
static int
leftovers(const char *service, uint64_t gen, char *what, size_t whatlen)
{
	char path[4096];
	struct dirent *de;
	uint64_t g;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "%s/%s", shms__root_path(NULL), service);
	if ((d = opendir(path)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if ((shms__ckpt_file_parse(de->d_name, &g, NULL) == 0 &&
		    g > gen) || strcmp(de->d_name, SHMS__MANIFEST_TMP) == 0) {
			if (n++ == 0)
				snprintf(what, whatlen, "%.100s", de->d_name);
		}
	}
	closedir(d);
	return n;
}

static void
remove_service(const char *service)
{
	char path[4096], file[4400];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "%s/%s", shms__root_path(NULL), service);
	if ((d = opendir(path)) != NULL) {
		while ((de = readdir(d)) != NULL)
			if (de->d_name[0] != '.') {
				snprintf(file, sizeof(file), "%s/%s", path,
				    de->d_name);
				unlink(file);
			}
		closedir(d);
	}
	rmdir(path);
}

/* Commits checkpoint `tag' the plain way (no injection). */
static int
make_ckpt(struct shms_svc *svc, uint64_t tag, uint64_t *gen)
{
	struct shms_ckpt *ck;
	struct shms_seg *seg;
	int rc, i;

	if ((rc = shms_ckpt_begin(svc, 0, &ck)) < 0)
		return rc;
	for (i = 0; i < NSEG; i++) {
		if ((rc = shms_ckpt_seg_create(ck, seg_names[i], "fault.v1", 1,
		    0, &seg)) < 0 || (rc = shms_seg_write(seg,
		    payload[tag][i], seg_len(tag, i))) < 0) {
			shms_ckpt_abort(ck);
			return rc;
		}
	}
	return shms_ckpt_commit(ck, 0, gen);
}

/* ---- one case ---- */

enum { OP_CKPT = 0, OP_ADOPT = 1, OP_ARENA = 2 };

static const char *const op_name[] = { "checkpoint", "adopt", "arena" };

struct caseres {
	int	fired;
	int	rc;
	int	outcome;
	int	bad;		/* bit set: why this case is bad */
	char	msg[600];
};

#define BAD_TORN	0x01
#define BAD_ERROR	0x02	/* error does not name the failure */
#define BAD_LEAK	0x04
#define BAD_FILES	0x08
#define BAD_SETUP	0x10

/*
 * An error without shms_errdetail() fails the run like a torn adopt:
 * every failure must name what failed. fault-matrix-unnamed counts those
 * cases (they are in fault-matrix-bad too).
 */

static unsigned ncase;

static void
child_case(int op, int mode, int sym, long n, int err, int wfd)
{
	char service[64], why[600] = "", detail[SHMS_DETAIL_MAX];
	struct caseres res;
	struct shms_svc *svc;
	struct opres r;
	uint64_t gen = 0;
	int rc, fds;
	size_t leaked;
	ssize_t w;

	memset(&res, 0, sizeof(res));
	memset(&r, 0, sizeof(r));
	snprintf(service, sizeof(service), "fault-%u", ncase);
	remove_service(service);
	if ((rc = shms_svc_open(&svc, NULL, service, 0)) < 0 ||
	    (rc = (op == OP_ARENA ? make_arena(svc) :
	    make_ckpt(svc, OLD_TAG, &gen))) < 0) {
		res.bad = BAD_SETUP;
		snprintf(res.msg, sizeof(res.msg), "setup: %s",
		    shms_strerror(rc));
		goto out;
	}
	fds = count_fds();
	memset(&F, 0, sizeof(F));
	F.sym = sym;
	F.n = n;
	F.err = err;
	F.mode = mode;
	if (op == OP_CKPT)
		op_ckpt(svc, &r);
	else if (op == OP_ADOPT)
		op_adopt(svc, &r, OLD_TAG);
	else
		op_arena(svc, &r);
	F.mode = M_OFF;
	res.fired = F.fired;
	res.rc = r.rc;
	leaked = F.nlive;
	snprintf(detail, sizeof(detail), "%s", r.detail);

	if (r.rc == 1) {
		res.bad |= BAD_TORN;
		snprintf(why, sizeof(why), "%s", r.where);
	} else if (r.rc < 0 && (r.detail[0] == '\0' || (r.rc != -err &&
	    strstr(r.detail, strerror(err)) == NULL)) &&
	    /* EACCES from F_OFD_SETLK is how a held lock answers. */
	    !(sym == F_FCNTL && err == EACCES && r.rc == SHMS_ELOCKED)) {
		res.bad |= BAD_ERROR;
		snprintf(why, sizeof(why), "%s: %s, detail \"%.180s\"", r.where,
		    shms_strerror(r.rc), detail);
	}
	if (leaked > 0 || F.live_overflow || count_fds() != fds) {
		res.bad |= BAD_LEAK;
		snprintf(why + strlen(why), sizeof(why) - strlen(why),
		    "%s%zu allocations, fds %d -> %d", why[0] ? "; " : "",
		    leaked, fds, count_fds());
	}
	if ((rc = shms_svc_close(svc)) < 0) {
		res.bad |= BAD_LEAK;
		snprintf(why + strlen(why), sizeof(why) - strlen(why),
		    "%ssvc_close: %s", why[0] ? "; " : "", shms_strerror(rc));
	}
	/* A failed commit leaves no file of its own behind. */
	if (op == OP_CKPT && r.rc < 0) {
		char what[128] = "";
		int k = leftovers(service, gen, what, sizeof(what));

		if (k > 0) {
			res.bad |= BAD_FILES;
			snprintf(why + strlen(why), sizeof(why) - strlen(why),
			    "%s%d files left (%s)", why[0] ? "; " : "", k, what);
		}
	}
	if (op == OP_ARENA) {
		char w2[300] = "";
		int dirty = 0;

		res.outcome = next_arena(service, w2, sizeof(w2), &dirty);
		/* A run that reported success left it clean and new. */
		if (r.rc == 0 && (res.outcome != OUT_NEW || dirty))
			res.outcome = OUT_TORN;
		if (res.outcome == OUT_TORN) {
			res.bad |= BAD_TORN;
			snprintf(why + strlen(why), sizeof(why) - strlen(why),
			    "%snext adopt: %s%s", why[0] ? "; " : "",
			    w2[0] ? w2 : "not new after success",
			    dirty ? " (dirty)" : "");
		}
	} else {
		char w2[300] = "";

		res.outcome = next_adopt(service, w2, sizeof(w2));
		if (op == OP_CKPT && (res.outcome == OUT_NONE ||
		    (r.rc == 0 && res.outcome != OUT_NEW)))
			res.outcome = OUT_TORN;
		if (op == OP_ADOPT && (res.outcome == OUT_NEW ||
		    (r.rc == 0 && res.outcome != OUT_NONE)))
			res.outcome = OUT_TORN;
		if (res.outcome == OUT_TORN) {
			res.bad |= BAD_TORN;
			snprintf(why + strlen(why), sizeof(why) - strlen(why),
			    "%snext adopt: %s", why[0] ? "; " : "",
			    w2[0] ? w2 : "unexpected state");
		}
	}
	snprintf(res.msg, sizeof(res.msg), "%s", why);
out:
	remove_service(service);
	do
		w = write(wfd, &res, sizeof(res));
	while (w < 0 && errno == EINTR);
	/*
	 * _exit(): the leak check that matters is ours (allocations made by
	 * the operation, tracked above); LeakSanitizer runs once, in the
	 * parent, instead of in each of a thousand children.
	 */
	if (__gcov_dump != NULL)
		__gcov_dump();
	_exit(0);
}

/* Runs one case in a child. Returns 0 ok, -1 crash (child died). */
static int
run_case(int op, int mode, int sym, long n, int err, struct caseres *res)
{
	int p[2], st;
	pid_t pid;
	ssize_t got;

	if (pipe(p) < 0) {
		perror("pipe");
		exit(1);
	}
	fflush(NULL);
	if ((pid = fork()) < 0) {
		perror("fork");
		exit(1);
	}
	if (pid == 0) {
		close(p[0]);
		child_case(op, mode, sym, n, err, p[1]);
	}
	close(p[1]);
	memset(res, 0, sizeof(*res));
	do
		got = read(p[0], res, sizeof(*res));
	while (got < 0 && errno == EINTR);
	close(p[0]);
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR) {
			perror("waitpid");
			exit(1);
		}
	ncase++;
	if (got != (ssize_t)sizeof(*res) || !WIFEXITED(st) ||
	    WEXITSTATUS(st) != 0) {
		snprintf(res->msg, sizeof(res->msg), "child %s %d",
		    WIFSIGNALED(st) ? "killed by signal" : "exit",
		    WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
		return -1;
	}
	return 0;
}

static const int errnos[] = { ENOSPC, EIO, EINTR, ENOMEM, EMFILE, EACCES };

static unsigned cases, torn, crashes, badcount, absorbed, eintr_ok,
    eintr_err, unnamed;
static int eintr_syms[F_NSYMS];	/* EINTR from it failed the operation */

static void
matrix(int op)
{
	struct caseres res;
	size_t e;
	long n;
	int sym;

	for (sym = 0; sym < F_NSYMS; sym++) {
		for (e = 0; e < SHMS__ARRAY_SIZE(errnos); e++) {
			if (is_alloc(sym) && errnos[e] != ENOMEM)
				continue;
			for (n = 1; n < 10000; n++) {
				int crash = run_case(op, M_FAIL, sym, n,
				    errnos[e], &res) < 0;

				if (!crash && !res.fired)
					break;	/* op done before call n */
				cases++;
				if (!crash && res.rc == 0)
					absorbed++;
				if (!crash && errnos[e] == EINTR) {
					if (res.rc == 0)
						eintr_ok++;
					else {
						eintr_err++;
						eintr_syms[sym] = 1;
					}
				}
				if (crash)
					crashes++;
				if (!crash && (res.bad & BAD_TORN))
					torn++;
				if (!crash && (res.bad & BAD_ERROR))
					unnamed++;
				if (crash || res.bad) {
					badcount++;
					printf("BAD %s: %s call %ld -> %s: %s\n",
					    op_name[op], fsym_name[sym], n,
					    strerror(errnos[e]), res.msg);
				}
			}
		}
	}
}

static void
kill_matrix(unsigned *nkills, unsigned *ktorn)
{
	struct caseres res;
	long n;

	/* A kill before every call of the checkpoint, whichever symbol. */
	for (n = 1; n < 100000; n++) {
		int crash = run_case(OP_CKPT, M_KILL, 0, n, 0, &res) < 0;

		if (!crash)
			break;		/* finished before call n */
		/* The child died where we killed it; adopt in a new one. */
		(*nkills)++;
		{
			char service[64], why[300] = "";
			int out;

			snprintf(service, sizeof(service), "fault-%u",
			    ncase - 1);
			out = next_adopt(service, why, sizeof(why));
			if (out != OUT_OLD && out != OUT_NEW) {
				(*ktorn)++;
				printf("BAD kill before call %ld: next adopt: "
				    "%s\n", n, why[0] ? why : "no state");
			}
			remove_service(service);
		}
	}
}

int
main(void)
{
	struct timespec t0, t1;
	unsigned nkills = 0, ktorn = 0;
	uint64_t tag;
	int i;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (getenv("SHMSTATE_DIR") == NULL) {
		static char dir[] = "/dev/shm/shms-fault.XXXXXX";

		if (mkdtemp(dir) == NULL) {
			perror("mkdtemp");
			return 1;
		}
		setenv("SHMSTATE_DIR", dir, 1);
	}
	for (tag = OLD_TAG; tag <= NEW_TAG; tag++)
		for (i = 0; i < NSEG; i++) {
			if ((payload[tag][i] = malloc(seg_len(tag, i))) == NULL)
				return 1;
			fill(payload[tag][i], tag, i, 0, seg_len(tag, i));
		}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	matrix(OP_CKPT);
	matrix(OP_ADOPT);
	matrix(OP_ARENA);
	kill_matrix(&nkills, &ktorn);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("fault-matrix: %u cases, %u torn, %u crashes\n", cases, torn,
	    crashes);
	printf("fault-matrix-bad: %u cases\n", badcount);
	printf("fault-matrix-absorbed: %u cases\n", absorbed);
	printf("fault-matrix-unnamed: %u cases\n", unnamed);
	printf("fault-eintr: %u retried or absorbed, %u returned an error\n",
	    eintr_ok, eintr_err);
	printf("fault-eintr-fails-on:");
	for (i = 0; i < F_NSYMS; i++)
		if (eintr_syms[i])
			printf(" %s", fsym_name[i]);
	printf("\n");
	printf("kill-matrix: %u kills, %u torn\n", nkills, ktorn);
	printf("fault-matrix-time: %.1f s\n", (double)(t1.tv_sec -
	    t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	for (tag = OLD_TAG; tag <= NEW_TAG; tag++)
		for (i = 0; i < NSEG; i++)
			free(payload[tag][i]);
	return badcount == 0 && ktorn == 0 ? 0 : 1;
}
