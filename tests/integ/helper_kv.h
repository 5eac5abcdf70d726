/*
 * helper_kv.h: shared by the checkpoint integration tests (test_ckpt_*.c,
 * helper_kv_state.c). A checkpoint of `nseg' segments "s0".."sN" whose
 * payload is a pure function of (tag, segment, offset), so that any
 * process can tell exactly which checkpoint it adopted and whether every
 * byte of it is right: a torn adoption (segments of two checkpoints, or a
 * half-written one) cannot pass kvt_verify().
 *
 * Everything is static: each test is one translation unit.
 */
#ifndef HELPER_KV_H
#define HELPER_KV_H

#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shmstate.h"

#define KVT_LAYOUT		"kvtest"
#define KVT_LAYOUT_VERSION	3u
#define KVT_WHY			512
/* Returned by kvt_child() when the child died from a signal. */
#define KVT_CRASHED		(-100000)

struct kvt_spec {
	unsigned	nseg;
	uint64_t	seg_len;	/* multiple of 8 */
	size_t		chunk;		/* multiple of 8 */
	int		reserve;	/* reserve/commit instead of write */
	int		no_hint;	/* size_hint 0: segments grow as written */
	int		release;	/* adopter: release pages as it reads */
	uint64_t	*commit_ns;	/* NULL, or gets how long commit took */
	const char	*layout;	/* NULL: KVT_LAYOUT */
	uint32_t	 version;	/* with layout; else KVT_LAYOUT_VERSION */
	int		progress_fd;	/* -1, or one byte per step */
	int		ack_fd;		/* -1, or wait for one byte per step */
};

struct kvt_result {
	int		rc;
	uint64_t	tag;
	uint64_t	gen;
	char		why[KVT_WHY];
};

static inline uint64_t
kvt_word(uint64_t tag, unsigned seg, uint64_t w)
{
	uint64_t z;

	/* Words 0 and 1 say what the segment claims to be. */
	if (w == 0)
		return tag;
	if (w == 1)
		return seg;
	z = tag * UINT64_C(0x9e3779b97f4a7c15) ^ ((uint64_t)seg << 48) ^ w;
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static inline void
kvt_fill(uint64_t tag, unsigned seg, uint64_t off, void *buf, size_t len)
{
	uint64_t *p = buf, w = off / 8;
	size_t i;

	for (i = 0; i < len / 8; i++)
		p[i] = kvt_word(tag, seg, w + i);
}

/* Returns the offset of the first wrong word, or UINT64_MAX if all match. */
static inline uint64_t
kvt_check(uint64_t tag, unsigned seg, uint64_t off, const void *buf,
    size_t len)
{
	const unsigned char *p = buf;
	uint64_t v, w = off / 8;
	size_t i;

	for (i = 0; i < len / 8; i++) {
		memcpy(&v, p + i * 8, 8);
		if (v != kvt_word(tag, seg, w + i))
			return off + i * 8;
	}
	return UINT64_MAX;
}

static inline uint64_t
kvt_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void kvt_why(char *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

static inline void
kvt_why(char *why, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, KVT_WHY, fmt, ap);
	va_end(ap);
}

static inline int
kvt_fail(struct shms_svc *svc, int rc, char *why, const char *what)
{
	const char *d = svc != NULL ? shms_errdetail(svc) : "";

	kvt_why(why, "%s: %s (%d)%s%s", what, shms_strerror(rc), rc,
	    *d ? ": " : "", d);
	return rc;
}

static inline const char *
kvt_layout(const struct kvt_spec *sp)
{
	return sp->layout != NULL ? sp->layout : KVT_LAYOUT;
}

static inline uint32_t
kvt_version(const struct kvt_spec *sp)
{
	return sp->layout != NULL ? sp->version : KVT_LAYOUT_VERSION;
}

static inline void kvt_die(const char *, ...)
    __attribute__((format(printf, 1, 2), noreturn));

/* Fatal test error: says so on stderr and exits 1. */
static inline void
kvt_die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "%s: ", program_invocation_short_name);
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

/* Tells the parent we reached a step, and waits for its go-ahead. */
static inline void
kvt_step(const struct kvt_spec *sp, char code)
{
	char c;
	ssize_t n;

	if (sp->progress_fd < 0)
		return;
	while ((n = write(sp->progress_fd, &code, 1)) < 0 && errno == EINTR)
		;
	if (sp->ack_fd < 0)
		return;
	while ((n = read(sp->ack_fd, &c, 1)) < 0 && errno == EINTR)
		;
	if (n != 1)
		_exit(97);	/* the parent is gone */
}

/* Steps kvt_write() reports, in order. */
static inline unsigned
kvt_nsteps(const struct kvt_spec *sp)
{
	uint64_t chunks = (sp->seg_len + sp->chunk - 1) / sp->chunk;

	/* begin, creates, writes, closes, before commit, after commit */
	return (unsigned)(1 + sp->nseg + sp->nseg * chunks + sp->nseg + 2);
}

/*
 * Writes and commits checkpoint `tag': creates every segment, writes them
 * round-robin a chunk at a time (so a kill leaves several half-written),
 * closes them, commits. Returns 0 or the first error, explained in why.
 */
static inline int
kvt_write(struct shms_svc *svc, uint64_t tag, const struct kvt_spec *sp,
    uint64_t *gen, char *why)
{
	struct shms_seg *segs[64];
	struct shms_ckpt *ck;
	char name[16];
	uint64_t off;
	unsigned s;
	void *p, *buf;
	int rc;

	if (sp->nseg == 0 || sp->nseg > 64) {
		kvt_why(why, "bad nseg %u", sp->nseg);
		return -EINVAL;
	}
	if ((buf = malloc(sp->chunk)) == NULL)
		return -errno;
	if ((rc = shms_ckpt_begin(svc, 0, &ck)) < 0) {
		free(buf);
		return kvt_fail(svc, rc, why, "ckpt_begin");
	}
	kvt_step(sp, 'b');
	for (s = 0; s < sp->nseg; s++) {
		snprintf(name, sizeof(name), "s%u", s);
		if ((rc = shms_ckpt_seg_create(ck, name, kvt_layout(sp),
		    kvt_version(sp), sp->no_hint ? 0 : sp->seg_len,
		    &segs[s])) < 0) {
			kvt_fail(svc, rc, why, "seg_create");
			goto out;
		}
		kvt_step(sp, 'c');
	}
	for (off = 0; off < sp->seg_len; off += sp->chunk) {
		size_t n = sp->seg_len - off < sp->chunk ?
		    (size_t)(sp->seg_len - off) : sp->chunk;

		for (s = 0; s < sp->nseg; s++) {
			if (sp->reserve) {
				if ((rc = shms_seg_reserve(segs[s], n,
				    &p)) < 0) {
					kvt_fail(svc, rc, why, "seg_reserve");
					goto out;
				}
				kvt_fill(tag, s, off, p, n);
				rc = shms_seg_commit(segs[s], n);
			} else {
				kvt_fill(tag, s, off, buf, n);
				rc = shms_seg_write(segs[s], buf, n);
			}
			if (rc < 0) {
				kvt_fail(svc, rc, why, sp->reserve ?
				    "seg_commit" : "seg_write");
				goto out;
			}
			kvt_step(sp, 'w');
		}
	}
	for (s = 0; s < sp->nseg; s++) {
		if ((rc = shms_seg_close(segs[s])) < 0) {
			kvt_fail(svc, rc, why, "seg_close");
			goto out;
		}
		kvt_step(sp, 'e');
	}
	kvt_step(sp, 'C');
	free(buf);
	off = kvt_now_ns();
	if ((rc = shms_ckpt_commit(ck, 0, gen)) < 0)
		return kvt_fail(svc, rc, why, "ckpt_commit");
	if (sp->commit_ns != NULL)
		*sp->commit_ns = kvt_now_ns() - off;
	kvt_step(sp, 'D');
	return 0;
out:
	free(buf);
	shms_ckpt_abort(ck);
	return rc;
}

/*
 * Adopts the committed checkpoint and checks every byte of it against
 * the pattern, reporting steps as kvt_write() does: 'o' after each segment
 * is opened, 'r' after each chunk is read (and released if sp->release).
 * *tag receives the checkpoint's tag. The adoption is left as it is
 * (abort) unless finish_flags >= 0. Returns 0, the first library error,
 * or -EBADMSG if the content is wrong (torn or foreign).
 */
static inline int
kvt_verify(struct shms_svc *svc, const struct kvt_spec *sp,
    enum shms_verify verify, int finish_flags, uint64_t *tag, uint64_t *gen,
    char *why)
{
	struct shms_seg_info info;
	struct shms_adopt *ad;
	struct shms_seg *seg;
	const void *data;
	uint64_t len, off, bad, t = UINT64_MAX;
	size_t i, got, n;
	unsigned s;
	char name[16];
	unsigned char *buf = NULL;
	int rc;

	if ((rc = shms_adopt_begin(svc, 0, &ad)) < 0)
		return kvt_fail(svc, rc, why, "adopt_begin");
	*gen = shms_adopt_generation(ad);
	if ((n = shms_adopt_count(ad)) != sp->nseg) {
		kvt_why(why, "%zu segments, expected %u", n, sp->nseg);
		rc = -EBADMSG;
		goto out;
	}
	if ((buf = malloc(sp->chunk)) == NULL) {
		rc = -errno;
		goto out;
	}
	for (i = 0; i < n; i++) {
		if ((rc = shms_adopt_entry(ad, i, &info)) < 0) {
			kvt_fail(svc, rc, why, "adopt_entry");
			goto out;
		}
		if (sscanf(info.name, "s%u", &s) != 1 || s >= sp->nseg) {
			kvt_why(why, "unexpected segment %s", info.name);
			rc = -EBADMSG;
			goto out;
		}
		snprintf(name, sizeof(name), "s%u", s);
		if ((rc = shms_adopt_seg_open(ad, name, kvt_layout(sp),
		    kvt_version(sp), verify, &seg)) < 0) {
			kvt_fail(svc, rc, why, "adopt_seg_open");
			goto out;
		}
		kvt_step(sp, 'o');
		if (verify == SHMS_VERIFY_STREAM) {
			off = 0;
			for (;;) {
				if ((rc = shms_seg_read(seg, buf, sp->chunk,
				    &got)) < 0) {
					kvt_fail(svc, rc, why, "seg_read");
					goto out;
				}
				if (got == 0)
					break;
				if (sp->release && (rc = shms_seg_release(seg,
				    0, 0, SHMS_RELEASE_READ)) < 0) {
					kvt_fail(svc, rc, why, "seg_release");
					goto out;
				}
				kvt_step(sp, 'r');
				if (off + got > sp->seg_len) {
					kvt_why(why, "%s: read past %" PRIu64,
					    name, sp->seg_len);
					rc = -EBADMSG;
					goto out;
				}
				/* The first segment read says which tag. */
				if (off == 0 && t == UINT64_MAX && got >= 8)
					memcpy(&t, buf, 8);
				if ((bad = kvt_check(t, s, off, buf,
				    got)) != UINT64_MAX) {
					kvt_why(why, "%s: wrong byte at %"
					    PRIu64 " (tag %" PRIu64 ")", name,
					    bad, t);
					rc = -EBADMSG;
					goto out;
				}
				off += got;
			}
			len = off;
		} else {
			if ((rc = shms_seg_data(seg, &data, &len)) < 0) {
				kvt_fail(svc, rc, why, "seg_data");
				goto out;
			}
			if (len >= 8 && t == UINT64_MAX)
				memcpy(&t, data, 8);
			if (len == sp->seg_len && (bad = kvt_check(t, s, 0,
			    data, len)) != UINT64_MAX) {
				kvt_why(why, "%s: wrong byte at %" PRIu64
				    " (tag %" PRIu64 ")", name, bad, t);
				rc = -EBADMSG;
				goto out;
			}
		}
		if (len != sp->seg_len) {
			kvt_why(why, "%s: %" PRIu64 " bytes, expected %" PRIu64,
			    name, len, sp->seg_len);
			rc = -EBADMSG;
			goto out;
		}
		if ((rc = shms_seg_close(seg)) < 0) {
			kvt_fail(svc, rc, why, "seg_close");
			goto out;
		}
	}
	*tag = t;
	free(buf);
	if (finish_flags < 0) {
		shms_adopt_abort(ad);
		return 0;
	}
	if ((rc = shms_adopt_finish(ad, (unsigned)finish_flags)) < 0)
		return kvt_fail(svc, rc, why, "adopt_finish");
	return 0;
out:
	free(buf);
	shms_adopt_abort(ad);
	return rc;
}

/*
 * Runs fn in a child process and returns its result: the child sends a
 * struct kvt_result through a pipe. A child killed by a signal gives
 * rc == KVT_CRASHED.
 */
typedef void (*kvt_fn)(struct kvt_result *res, void *arg);

static inline int
kvt_child(kvt_fn fn, void *arg, struct kvt_result *res)
{
	struct kvt_result r;
	ssize_t n;
	pid_t pid;
	int p[2], st;

	memset(res, 0, sizeof(*res));
	if (pipe(p) < 0)
		return -errno;
	fflush(NULL);
	if ((pid = fork()) < 0)
		return -errno;
	if (pid == 0) {
		close(p[0]);
		memset(&r, 0, sizeof(r));
		fn(&r, arg);
		n = write(p[1], &r, sizeof(r));
		_exit(n == (ssize_t)sizeof(r) ? 0 : 98);
	}
	close(p[1]);
	n = read(p[0], res, sizeof(*res));
	close(p[0]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (WIFSIGNALED(st)) {
		res->rc = KVT_CRASHED;
		kvt_why(res->why, "child killed by signal %d", WTERMSIG(st));
	} else if (n != (ssize_t)sizeof(*res)) {
		res->rc = KVT_CRASHED;
		kvt_why(res->why, "child exited %d without a result",
		    WEXITSTATUS(st));
	}
	return 0;
}


/*
 * The tests run under scripts/run-tests.sh with a private $SHMSTATE_DIR;
 * run by hand, they make one under /dev/shm so they never touch real state.
 */
static inline const char *
kvt_state_dir(void)
{
	static char tmpl[] = "/dev/shm/shmstate-kvt.XXXXXX";
	const char *d = getenv("SHMSTATE_DIR");

	if (d != NULL && *d != '\0')
		return d;
	if (mkdtemp(tmpl) == NULL) {
		perror("mkdtemp");
		exit(1);
	}
	setenv("SHMSTATE_DIR", tmpl, 1);
	fprintf(stderr, "SHMSTATE_DIR=%s\n", tmpl);
	return tmpl;
}

#endif /* HELPER_KV_H */
