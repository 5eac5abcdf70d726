/*
 * bench_arena: zero-copy arenas (issue 3 part 10). One `name: value unit'
 * line per figure.
 *
 *  1. Allocation speed: one random alloc/free workload (pre-generated, so
 *     the RNG is not timed) run on glibc malloc and on an arena, single-
 *     threaded mode and SHMS_ARENA_THREADSAFE mode; best of 3; ratios.
 *  2. For each size: an arena filled with small objects (a linked list
 *     from the root) is sealed; a fresh exec'd process adopts it and
 *     reports the time from its main() to having the root (adopt), from
 *     the parent's fork() to the root (process start included), then the
 *     time to first-touch every page of it (a read per 4 KiB or 2 MiB
 *     page), to read one byte per 4 KiB after that (cache misses only),
 *     and the seal+unmap time. With
 *     4 KiB pages, and with 2 MiB pages on a tmpfs mounted huge=always
 *     when we are root (or BENCH_ARENA_HUGE_DIR names such a mount).
 *     Then copy mode on the same state: checkpoint of the payload into a
 *     segment plus adopt of it into the heap by a fresh process (reading
 *     with page release), and the ratio copy / arena adopt.
 *
 * Environment:
 *   BENCH_ARENA_SIZES     sizes, default 256m,1g,4g,8g (use 256m while
 *                         developing: the machine is shared)
 *   BENCH_ARENA_COPY_MAX  largest size also run in copy mode (default 4g;
 *                         copy mode needs twice the state in memory)
 *   BENCH_ARENA_HUGE      0 to skip huge pages
 *   BENCH_ARENA_HUGE_DIR  an existing huge=always tmpfs to use
 *   BENCH_ARENA_OPS       allocation workload length (default 4000000)
 *   SHMSTATE_DIR          where 4 KiB-page arenas go (default /dev/shm)
 */
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <err.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shmstate.h"

#define SERVICE		"bench-arena"
#define LAYOUT		"bench.list"
#define MiB		(UINT64_C(1) << 20)
#define GiB		(UINT64_C(1) << 30)

static const char *self;

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double
ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

static uint64_t
parse_size(const char *s)
{
	char *end;
	uint64_t v = strtoull(s, &end, 10);

	switch (*end) {
	case 'k': case 'K': v <<= 10; break;
	case 'm': case 'M': v <<= 20; break;
	case 'g': case 'G': v <<= 30; break;
	case '\0': break;
	default: errx(2, "bad size %s", s);
	}
	return v;
}

static const char *
size_name(uint64_t v, char *buf, size_t len)
{
	if (v % GiB == 0)
		snprintf(buf, len, "%ug", (unsigned)(v / GiB));
	else
		snprintf(buf, len, "%um", (unsigned)(v / MiB));
	return buf;
}

static void die(struct shms_svc *, int, const char *)
    __attribute__((noreturn));

static void
die(struct shms_svc *svc, int rc, const char *what)
{
	errx(1, "%s: %s (%s)", what, shms_strerror(rc),
	    svc != NULL ? shms_errdetail(svc) : "");
}

/* ---- 1. allocation speed ---- */

struct op {
	uint32_t	slot;
	uint32_t	size;
};

#define NSLOTS	100000u

static uint32_t
rnd(uint64_t *s)
{
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(*s >> 33);
}

static uint32_t
op_size(uint64_t *s)
{
	uint32_t r = rnd(s) % 1000;

	if (r < 800)
		return 8 + rnd(s) % 248;
	if (r < 980)
		return 256 + rnd(s) % 3840;
	if (r < 998)
		return 4096 + rnd(s) % 28672;
	return 32768 + rnd(s) % 98304;
}

static uint64_t
run_malloc(const struct op *ops, size_t n)
{
	void **slot = calloc(NSLOTS, sizeof(*slot));
	uint64_t t0;
	size_t i;

	t0 = now_ns();
	for (i = 0; i < n; i++) {
		void **p = &slot[ops[i].slot];

		if (*p != NULL) {
			free(*p);
			*p = NULL;
		} else {
			if ((*p = malloc(ops[i].size)) == NULL)
				err(1, "malloc");
			*(volatile char *)*p = 1;
		}
	}
	t0 = now_ns() - t0;
	for (i = 0; i < NSLOTS; i++)
		free(slot[i]);
	free(slot);
	return t0;
}

static uint64_t
run_arena(struct shms_svc *svc, const struct op *ops, size_t n,
    unsigned flags)
{
	uint64_t *slot = calloc(NSLOTS, sizeof(*slot)), t0;
	struct shms_arena *a;
	char *base;
	size_t i;
	int rc;

	shms_arena_remove(svc, "speed");
	rc = shms_arena_create(svc, "speed", LAYOUT, 1, 256 * MiB, 2 * GiB,
	    flags | SHMS_ARENA_NOHUGE, &a);
	if (rc != 0)
		die(svc, rc, "create speed arena");
	base = shms_arena_base(a);
	t0 = now_ns();
	for (i = 0; i < n; i++) {
		uint64_t *p = &slot[ops[i].slot];

		if (*p != 0) {
			rc = shms_arena_free(a, *p);
			*p = 0;
		} else {
			rc = shms_arena_alloc(a, ops[i].size, p);
			base[*p] = 1;
		}
		if (rc != 0)
			die(svc, rc, "arena alloc/free");
	}
	t0 = now_ns() - t0;
	free(slot);
	shms_arena_destroy(a);
	return t0;
}

static void
bench_alloc(struct shms_svc *svc)
{
	const char *e = getenv("BENCH_ARENA_OPS");
	size_t n = e != NULL ? (size_t)parse_size(e) : 4000000, i;
	uint64_t seed = 42, best[3] = { UINT64_MAX, UINT64_MAX, UINT64_MAX };
	struct op *ops = malloc(n * sizeof(*ops));
	int r;

	if (ops == NULL)
		err(1, "malloc");
	for (i = 0; i < n; i++) {
		ops[i].slot = rnd(&seed) % NSLOTS;
		ops[i].size = op_size(&seed);
	}
	for (r = 0; r < 3; r++) {
		uint64_t t;

		if ((t = run_malloc(ops, n)) < best[0])
			best[0] = t;
		if ((t = run_arena(svc, ops, n, 0)) < best[1])
			best[1] = t;
		if ((t = run_arena(svc, ops, n, SHMS_ARENA_THREADSAFE)) <
		    best[2])
			best[2] = t;
	}
	printf("alloc_ops: %zu ops\n", n);
	printf("alloc_glibc_ns_per_op: %.1f ns\n", (double)best[0] / n);
	printf("alloc_arena_ns_per_op: %.1f ns\n", (double)best[1] / n);
	printf("alloc_arena_mt_ns_per_op: %.1f ns\n", (double)best[2] / n);
	printf("alloc_arena_vs_glibc: %.2f x\n",
	    (double)best[1] / (double)best[0]);
	printf("alloc_arena_mt_vs_glibc: %.2f x\n",
	    (double)best[2] / (double)best[0]);
	fflush(stdout);
	free(ops);
}

/* ---- 2. adopt, touch, copy mode ---- */

struct obj {
	uint64_t	next;
	uint64_t	key;
	char		pad[32];
};

/* Fills a new arena of size bytes with 48-byte objects up to ~90%. */
static uint64_t
fill(struct shms_svc *svc, uint64_t size, unsigned flags, uint64_t *nobj)
{
	struct shms_arena *a;
	uint64_t head = 0, off, n = 0, want, t0, sum = 0;
	char *base;
	int rc;

	shms_arena_remove(svc, "state");
	rc = shms_arena_create(svc, "state", LAYOUT, 1, size, 0, flags, &a);
	if (rc != 0)
		die(svc, rc, "create state arena");
	base = shms_arena_base(a);
	want = size / 100 * 90 / 48;
	t0 = now_ns();
	while (n < want && (rc = shms_arena_alloc(a, sizeof(struct obj),
	    &off)) == 0) {
		struct obj *o = (struct obj *)(void *)(base + off);

		o->next = head;
		o->key = n++;
		head = off;
	}
	if (rc != 0 && rc != SHMS_ENOSPACE)
		die(svc, rc, "fill");
	shms_arena_root_set(a, head);
	t0 = now_ns() - t0;
	/*
	 * Fault in the free tail too, so that the adopter touches existing
	 * memory only (a fallocated page's first touch allocates it).
	 */
	for (off = 0; off < shms_arena_size(a); off += 4096)
		sum += (uint64_t)((volatile char *)base)[off];
	if ((rc = shms_arena_seal(a, 0)) != 0)
		die(svc, rc, "seal");
	*nobj = n + (sum == 0xdeadbeef);
	return t0;
}

/*
 * The exec'd adopter: argv: --child-adopt dir label fork_ns nobj flags
 * (flags: "p" adopts with SHMS_ARENA_POPULATE).
 */
static int
child_adopt(char **argv)
{
	uint64_t t0 = now_ns(), fork_ns = strtoull(argv[4], NULL, 10), t1, t2;
	uint64_t t3, t4, nobj = strtoull(argv[5], NULL, 10), off, i, sum = 0;
	const char *label = argv[3];
	struct shms_svc *svc;
	struct shms_arena *a;
	volatile char *base;
	struct shms_arena_stats st;
	uint64_t size, p;
	int rc;

	if ((rc = shms_svc_open(&svc, argv[2], SERVICE, 0)) != 0)
		die(NULL, rc, "svc open");
	if ((rc = shms_arena_adopt(svc, "state", LAYOUT, 1,
	    strcmp(argv[6], "p") == 0 ? SHMS_ARENA_POPULATE : 0, &a)) != 0)
		die(svc, rc, "adopt");
	off = shms_arena_root(a);
	sum += SHMS_REF(a, struct obj, off)->key;
	t1 = now_ns();
	if ((rc = shms_arena_stats(a, &st)) != 0)
		die(svc, rc, "stats");
	base = shms_arena_base(a);
	size = shms_arena_size(a);
	/* first touch of every page of the mapping (4 KiB or 2 MiB) */
	for (p = 0; p < size; p += st.page_size)
		sum += (uint64_t)base[p];
	t2 = now_ns();
	/* then one read per 4 KiB: a cache miss each, whatever the pages */
	for (p = 0; p < size; p += 4096)
		sum += (uint64_t)base[p];
	t4 = now_ns();
	/* the root is the last object; walk a few to prove it is intact */
	for (i = 0; i < 1000 && off != 0; i++) {
		struct obj *o = SHMS_REF(a, struct obj, off);

		if (o->key != nobj - 1 - i)
			errx(1, "object %ju has key %ju", (uintmax_t)i,
			    (uintmax_t)o->key);
		off = o->next;
	}
	if ((rc = shms_arena_seal(a, 0)) != 0 ||
	    (rc = shms_svc_close(svc)) != 0)
		die(svc, rc, "seal");
	t3 = now_ns();
	printf("arena_%s_page_size: %u bytes\n", label, st.page_size);
	printf("arena_%s_adopt: %.3f ms\n", label, ms(t1 - t0));
	printf("arena_%s_start_to_root: %.3f ms\n", label, ms(t1 - fork_ns));
	printf("arena_%s_touch_all: %.1f ms\n", label, ms(t2 - t1));
	printf("arena_%s_read_every_4k: %.1f ms\n", label, ms(t4 - t2));
	printf("arena_%s_seal_unmap: %.1f ms\n", label, ms(t3 - t4));
	fflush(stdout);
	return sum == 0xdeadbeef;	/* keep the reads */
}

/* The exec'd copy-mode adopter: --child-copy dir label */
static int
child_copy(char **argv)
{
	uint64_t t0 = now_ns(), len, done = 0;
	struct shms_svc *svc;
	struct shms_adopt *ad;
	struct shms_seg *seg;
	struct shms_seg_info in;
	char *heap;
	size_t got;
	int rc;

	if ((rc = shms_svc_open(&svc, argv[2], SERVICE, 0)) != 0)
		die(NULL, rc, "svc open");
	if ((rc = shms_adopt_begin(svc, 0, &ad)) != 0 ||
	    (rc = shms_adopt_seg_open(ad, "state", LAYOUT, 1,
	    SHMS_VERIFY_STREAM, &seg)) != 0 ||
	    (rc = shms_seg_info(seg, &in)) != 0)
		die(svc, rc, "copy adopt");
	len = in.payload_len;
	if ((heap = malloc(len)) == NULL)
		err(1, "malloc");
	while (done < len) {
		size_t n = len - done > 64 * MiB ? 64 * MiB : len - done;

		if ((rc = shms_seg_read(seg, heap + done, n, &got)) != 0)
			die(svc, rc, "seg read");
		if (got == 0)
			break;
		done += got;
		if ((rc = shms_seg_release(seg, 0, 0, SHMS_RELEASE_READ)) != 0)
			die(svc, rc, "release");
	}
	if ((rc = shms_adopt_finish(ad, 0)) != 0)
		die(svc, rc, "adopt finish");
	printf("copy_%s_adopt: %.1f ms\n", argv[3], ms(now_ns() - t0));
	fflush(stdout);
	free(heap);
	shms_svc_close(svc);
	return 0;
}

/*
 * fork+exec self with args; the child's output is copied to ours, and the
 * value of line "key: value" (if key is not NULL) is returned.
 */
static double
spawn(char *const args[], const char *key)
{
	char buf[8192], *line;
	size_t len = 0;
	double v = -1;
	ssize_t r;
	pid_t pid;
	int st, pfd[2];

	fflush(stdout);
	if (pipe(pfd) != 0)
		err(1, "pipe");
	if ((pid = fork()) < 0)
		err(1, "fork");
	if (pid == 0) {
		dup2(pfd[1], 1);
		close(pfd[0]);
		close(pfd[1]);
		execv(self, args);
		_exit(127);
	}
	close(pfd[1]);
	while (len < sizeof(buf) - 1 &&
	    (r = read(pfd[0], buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)r;
	close(pfd[0]);
	buf[len] = '\0';
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) ||
	    WEXITSTATUS(st) != 0)
		errx(1, "child %s failed", args[1]);
	fputs(buf, stdout);
	for (line = strtok(buf, "\n"); key != NULL && line != NULL;
	    line = strtok(NULL, "\n"))
		if (strncmp(line, key, strlen(key)) == 0 &&
		    line[strlen(key)] == ':')
			v = strtod(line + strlen(key) + 1, NULL);
	return v;
}

/* Runs the adopter; returns its adopt time in ms. */
static double
adopt_child(const char *dir, const char *label, uint64_t nobj,
    const char *flags)
{
	char fork_ns[32], n[32], key[96];
	char *args[] = { (char *)self, "--child-adopt", (char *)dir,
	    (char *)label, fork_ns, n, (char *)flags, NULL };

	snprintf(n, sizeof(n), "%ju", (uintmax_t)nobj);
	snprintf(key, sizeof(key), "arena_%s_adopt", label);
	snprintf(fork_ns, sizeof(fork_ns), "%ju", (uintmax_t)now_ns());
	return spawn(args, key);
}

/* Checkpoints the arena's payload as segment "state", copy mode. */
static uint64_t
checkpoint(struct shms_svc *svc)
{
	struct shms_arena *a;
	struct shms_ckpt *ck;
	struct shms_seg *seg;
	uint64_t t0, size;
	int rc;

	if ((rc = shms_arena_adopt(svc, "state", LAYOUT, 1, 0, &a)) != 0)
		die(svc, rc, "adopt for checkpoint");
	size = shms_arena_size(a);
	t0 = now_ns();
	if ((rc = shms_ckpt_begin(svc, 0, &ck)) != 0 ||
	    (rc = shms_ckpt_seg_create(ck, "state", LAYOUT, 1, size,
	    &seg)) != 0)
		die(svc, rc, "ckpt begin");
	if ((rc = shms_seg_write(seg, shms_arena_base(a), size)) != 0)
		die(svc, rc, "seg write");
	if ((rc = shms_ckpt_commit(ck, 0, NULL)) != 0)
		die(svc, rc, "commit");
	t0 = now_ns() - t0;
	shms_arena_destroy(a);
	return t0;
}

static void
one_size(const char *dir, uint64_t size, unsigned flags, const char *kind,
    int copy)
{
	struct shms_svc *svc;
	char label[64], sz[16];
	uint64_t nobj, fill_ns, ck_ns;
	double adopt_ms, copy_ms;
	char key[96];
	int rc;

	snprintf(label, sizeof(label), "%s_%s", size_name(size, sz,
	    sizeof(sz)), kind);
	if ((rc = shms_svc_open(&svc, dir, SERVICE, 0)) != 0)
		die(NULL, rc, "svc open");
	fill_ns = fill(svc, size, flags, &nobj);
	printf("arena_%s_objects: %ju objects\n", label, (uintmax_t)nobj);
	printf("arena_%s_fill: %.1f ns/object\n", label,
	    (double)fill_ns / (double)nobj);
	shms_svc_close(svc);
	adopt_ms = adopt_child(dir, label, nobj, "-");
	if (flags == 0) {
		/* huge pages: pre-faulting the whole mapping is cheap */
		snprintf(label, sizeof(label), "%s_huge_populate",
		    size_name(size, sz, sizeof(sz)));
		adopt_child(dir, label, nobj, "p");
	}
	if (!copy)
		goto out;
	if ((rc = shms_svc_open(&svc, dir, SERVICE, 0)) != 0)
		die(NULL, rc, "svc open");
	ck_ns = checkpoint(svc);
	shms_svc_close(svc);
	printf("copy_%s_checkpoint: %.1f ms\n", label, ms(ck_ns));
	{
		char *args[] = { (char *)self, "--child-copy", (char *)dir,
		    label, NULL };

		snprintf(key, sizeof(key), "copy_%s_adopt", label);
		copy_ms = spawn(args, key);
	}
	printf("copy_%s_total: %.1f ms\n", label, ms(ck_ns) + copy_ms);
	printf("copy_%s_vs_arena_adopt: %.0f x\n", label,
	    (ms(ck_ns) + copy_ms) / adopt_ms);
out:
	if ((rc = shms_svc_open(&svc, dir, SERVICE, 0)) == 0) {
		shms_arena_remove(svc, "state");
		shms_svc_close(svc);
	}
}

/* A huge=always tmpfs: BENCH_ARENA_HUGE_DIR, or one we mount as root. */
static const char *
huge_dir(uint64_t max, int *mounted)
{
	static char dir[] = "/tmp/bench-arena-huge.XXXXXX";
	const char *e = getenv("BENCH_ARENA_HUGE_DIR");
	char opts[64];

	*mounted = 0;
	if ((e = getenv("BENCH_ARENA_HUGE")) != NULL && strcmp(e, "0") == 0)
		return NULL;
	if ((e = getenv("BENCH_ARENA_HUGE_DIR")) != NULL)
		return e;
	if (geteuid() != 0 || mkdtemp(dir) == NULL)
		return NULL;
	snprintf(opts, sizeof(opts), "huge=always,size=%ju,mode=0700",
	    (uintmax_t)(max + 64 * MiB));
	if (mount("tmpfs", dir, "tmpfs", 0, opts) != 0) {
		rmdir(dir);
		return NULL;
	}
	*mounted = 1;
	return dir;
}

int
main(int argc, char **argv)
{
	const char *sizes = getenv("BENCH_ARENA_SIZES"), *e, *hd;
	uint64_t size[8], copy_max = 4 * GiB, max = 0;
	char dir4k[] = "/dev/shm/bench-arena.XXXXXX", *list, *tok;
	struct shms_svc *svc;
	int n = 0, i, rc, mounted;

	self = "/proc/self/exe";
	if (argc >= 7 && strcmp(argv[1], "--child-adopt") == 0)
		return child_adopt(argv);
	if (argc >= 4 && strcmp(argv[1], "--child-copy") == 0)
		return child_copy(argv);
	if ((self = realpath("/proc/self/exe", NULL)) == NULL)
		err(1, "realpath");
	if ((e = getenv("BENCH_ARENA_COPY_MAX")) != NULL)
		copy_max = parse_size(e);
	list = strdup(sizes != NULL ? sizes : "256m,1g,4g,8g");
	for (tok = strtok(list, ","); tok != NULL && n < 8;
	    tok = strtok(NULL, ",")) {
		size[n] = parse_size(tok);
		if (size[n] > max)
			max = size[n];
		n++;
	}
	if (mkdtemp(dir4k) == NULL)
		err(1, "mkdtemp");

	if ((rc = shms_svc_open(&svc, dir4k, SERVICE, 0)) != 0)
		die(NULL, rc, "svc open");
	bench_alloc(svc);
	shms_svc_close(svc);

	for (i = 0; i < n; i++)
		one_size(dir4k, size[i], SHMS_ARENA_NOHUGE, "4k",
		    size[i] <= copy_max);
	if ((hd = huge_dir(max, &mounted)) != NULL) {
		for (i = 0; i < n; i++)
			one_size(hd, size[i], 0, "huge", 0);
		if (mounted) {
			umount(hd);
			rmdir(hd);
		}
	} else {
		printf("huge_pages: skipped (BENCH_ARENA_HUGE=0, or not "
		    "root and no BENCH_ARENA_HUGE_DIR)\n");
	}
	if ((rc = shms_svc_open(&svc, dir4k, SERVICE, 0)) == 0) {
		shms_arena_remove(svc, "speed");
		shms_svc_close(svc);
	}
	/* best effort: the service dir and its lock file */
	{
		char p[256];

		snprintf(p, sizeof(p), "%s/%s/lock", dir4k, SERVICE);
		unlink(p);
		snprintf(p, sizeof(p), "%s/%s", dir4k, SERVICE);
		rmdir(p);
		rmdir(dir4k);
	}
	free(list);
	return 0;
}
