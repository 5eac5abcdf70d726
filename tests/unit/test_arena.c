/*
 * test_arena.c: arena life cycle on real files in $SHMSTATE_DIR: create,
 * seal, adopt, dirty, layout and version checks, checksums, corrupt and
 * truncated files, out of space, growth, inspection, and allocation from
 * several threads.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "internal.h"
#include "arena_format.h"

#define MiB	(UINT64_C(1) << 20)
#define SVC	"arenatest"

static struct shms_svc *
svc_open(void)
{
	struct shms_svc *svc;

	assert_int_equal(shms_svc_open(&svc, NULL, SVC, 0), 0);
	return svc;
}

static void
svc_close(struct shms_svc *svc)
{
	assert_int_equal(shms_svc_close(svc), 0);
}

static int
arena_fd(struct shms_svc *svc, const char *name)
{
	char file[128];
	int fd;

	snprintf(file, sizeof(file), "arena.%s", name);
	fd = openat(shms__svc_dirfd(svc), file, O_RDWR);
	assert_true(fd >= 0);
	return fd;
}

/* Payload offset 4096: these tests create 4 KiB-page arenas. */
static void
file_poke(struct shms_svc *svc, const char *name, uint64_t off,
    const void *buf, size_t len)
{
	int fd = arena_fd(svc, name);

	assert_int_equal(pwrite(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
}

static struct shms_arena *
make(struct shms_svc *svc, const char *name, uint64_t size, uint64_t max,
    unsigned flags)
{
	struct shms_arena *a;
	int rc;

	shms_arena_remove(svc, name);
	rc = shms_arena_create(svc, name, "test.layout", 3, size, max,
	    flags | SHMS_ARENA_NOHUGE, &a);
	if (rc != 0)
		fail_msg("create: %s: %s", shms_strerror(rc),
		    shms_errdetail(svc));
	return a;
}

struct node {
	uint64_t	next;
	uint64_t	value;
	char		text[40];
};

/* A linked list of n nodes hanging off the root. */
static void
fill_list(struct shms_arena *a, int n)
{
	uint64_t head = 0, off;
	int i;

	for (i = 0; i < n; i++) {
		struct node *nd;

		assert_int_equal(shms_arena_alloc(a, sizeof(*nd), &off), 0);
		nd = SHMS_REF(a, struct node, off);
		nd->next = head;
		nd->value = (uint64_t)i;
		snprintf(nd->text, sizeof(nd->text), "node %d", i);
		head = off;
	}
	assert_int_equal(shms_arena_root_set(a, head), 0);
}

static void
check_list(struct shms_arena *a, int n)
{
	uint64_t off = shms_arena_root(a);
	char want[40];
	int i;

	for (i = n - 1; i >= 0; i--) {
		struct node *nd = SHMS_REF(a, struct node, off);

		assert_non_null(nd);
		assert_int_equal(nd->value, (uint64_t)i);
		snprintf(want, sizeof(want), "node %d", i);
		assert_string_equal(nd->text, want);
		assert_int_equal(shms_arena_off(a, nd), off);
		off = nd->next;
	}
	assert_int_equal(off, 0);
}

static void
test_seal_adopt(void **state)
{
	struct shms_svc *svc = svc_open();
	struct shms_arena *a;
	struct shms_arena_stats st;
	void *base1;

	(void)state;
	a = make(svc, "list", 4 * MiB, 0, 0);
	fill_list(a, 1000);
	base1 = shms_arena_base(a);
	assert_int_equal(shms_svc_close(svc), -EBUSY);
	assert_int_equal(shms_arena_stats(a, &st), 0);
	assert_int_equal(st.nallocs, 1000);
	assert_int_equal(st.state, SHMS_STATE_LIVE);
	assert_int_equal(st.generation, 1);
	assert_true(st.in_use >= 1000 * sizeof(struct node));
	assert_true(st.fragmentation >= 0.0 && st.fragmentation < 1.0);
	assert_int_equal(shms_arena_seal(a, 0), 0);

	assert_int_equal(shms_arena_inspect(svc, "arena.list", 0, &st), 0);
	assert_int_equal(st.state, SHMS_STATE_CLEAN);
	assert_int_equal(st.owner_pid, 0);
	assert_int_equal(st.nallocs, 1000);
	assert_true(st.root != 0);

	assert_int_equal(shms_arena_adopt(svc, "list", "test.layout", 3, 0,
	    &a), 0);
	check_list(a, 1000);
	assert_int_equal(shms_arena_stats(a, &st), 0);
	assert_int_equal(st.state, SHMS_STATE_LIVE);
	assert_int_equal(st.owner_pid, getpid());
	assert_int_equal(st.generation, 2);
	(void)base1;
	/* A second handle in the same process is refused. */
	{
		struct shms_arena *b;

		assert_int_equal(shms_arena_adopt(svc, "list", NULL, 0, 0, &b),
		    SHMS_ELOCKED);
	}
	assert_int_equal(shms_arena_inspect(svc, "arena.list", 0, &st), 0);
	assert_int_equal(st.state, SHMS_STATE_LIVE);
	assert_int_equal(st.owner_alive, 1);
	fill_list(a, 10);
	assert_int_equal(shms_arena_seal(a, SHMS_ARENA_SUM), 0);
	assert_int_equal(shms_arena_adopt(svc, "list", "test.layout", 3,
	    SHMS_ARENA_VERIFY, &a), 0);
	check_list(a, 10);
	assert_int_equal(shms_arena_destroy(a), 0);
	assert_int_equal(shms_arena_adopt(svc, "list", NULL, 0, 0, &a),
	    SHMS_ENOTFOUND);
	svc_close(svc);
}

static void
test_errors(void **state)
{
	struct shms_svc *svc = svc_open(), *ro;
	struct shms_arena *a, *b;

	(void)state;
	a = make(svc, "err", 1 * MiB, 0, 0);
	assert_int_equal(shms_arena_create(svc, "err", "x", 1, MiB, 0, 0, &b),
	    -EEXIST);
	assert_int_equal(shms_arena_create(svc, "../x", "x", 1, MiB, 0, 0,
	    &b), SHMS_ENAME);
	assert_int_equal(shms_arena_create(svc, "y", "x", 1, MiB, 0, 0x8000,
	    &b), -EINVAL);
	assert_int_equal(shms_arena_create(svc, "y", "x", 1, 8192, 0,
	    SHMS_ARENA_NOHUGE, &b), -EINVAL);
	assert_int_equal(shms_arena_create(svc, "y", "x", 1, MiB,
	    SHMS_ARENA_MAX_SIZE + 1, 0, &b), SHMS_ELIMIT);
	assert_int_equal(shms_arena_seal(a, 0), 0);
	assert_int_equal(shms_arena_adopt(svc, "err", "other", 3, 0, &b),
	    SHMS_ELAYOUT);
	assert_int_equal(shms_arena_adopt(svc, "err", "test.layout", 4, 0,
	    &b), SHMS_EVERSION);
	assert_int_equal(shms_arena_adopt(svc, "err", "test.layout", 3,
	    SHMS_ARENA_SUM, &b), -EINVAL);
	/* Read-only services inspect but never own. */
	assert_int_equal(shms_svc_open(&ro, NULL, SVC, SHMS_SVC_RDONLY), 0);
	assert_int_equal(shms_arena_adopt(ro, "err", NULL, 0, 0, &b), -EBADF);
	assert_int_equal(shms_arena_create(ro, "z", "x", 1, MiB, 0, 0, &b),
	    -EBADF);
	{
		struct shms_arena_stats st;

		assert_int_equal(shms_arena_inspect(ro, "arena.err",
		    SHMS_ARENA_VERIFY, &st), 0);
		assert_int_equal(shms_arena_inspect(ro, "arena.nope", 0, &st),
		    SHMS_ENOTFOUND);
		assert_int_equal(shms_arena_inspect(ro, "ckpt.x", 0, &st),
		    SHMS_ENAME);
	}
	assert_int_equal(shms_svc_close(ro), 0);
	assert_int_equal(shms_arena_remove(svc, "err"), 0);
	assert_int_equal(shms_arena_remove(svc, "err"), SHMS_ENOTFOUND);
	svc_close(svc);
}

static void
test_dirty(void **state)
{
	struct shms_svc *svc = svc_open();
	struct shms_arena *a;
	struct shms_arena_stats st;

	(void)state;
	a = make(svc, "dirty", 2 * MiB, 0, 0);
	fill_list(a, 100);
	assert_int_equal(shms_arena_close(a), 0);
	assert_int_equal(shms_arena_inspect(svc, "arena.dirty", 0, &st), 0);
	assert_int_equal(st.state, SHMS_STATE_LIVE);
	assert_int_equal(st.owner_alive, 0);
	assert_int_equal(shms_arena_adopt(svc, "dirty", "test.layout", 3, 0,
	    &a), SHMS_EDIRTY);
	assert_non_null(strstr(shms_errdetail(svc), "gone"));
	assert_int_equal(shms_arena_adopt(svc, "dirty", "test.layout", 3,
	    SHMS_ARENA_ADOPT_DIRTY, &a), 0);
	check_list(a, 100);
	assert_int_equal(shms_arena_destroy(a), 0);
	svc_close(svc);
}

/* Sealed with a checksum, then one payload byte flipped. */
static void
test_checksum(void **state)
{
	struct shms_svc *svc = svc_open();
	struct shms_arena *a;
	uint64_t off;
	char c = 'X';

	(void)state;
	a = make(svc, "sum", 2 * MiB, 0, 0);
	fill_list(a, 10);
	off = shms_arena_root(a);
	assert_int_equal(shms_arena_seal(a, SHMS_ARENA_SUM), 0);
	file_poke(svc, "sum", 4096 + off + 20, &c, 1);
	assert_int_equal(shms_arena_adopt(svc, "sum", "test.layout", 3,
	    SHMS_ARENA_VERIFY, &a), SHMS_ESUM);
	/* Without VERIFY the metadata is fine and adopt goes ahead. */
	assert_int_equal(shms_arena_adopt(svc, "sum", "test.layout", 3, 0,
	    &a), 0);
	assert_int_equal(shms_arena_destroy(a), 0);
	svc_close(svc);
}

/* Each metadata field damaged on file: adopt says SHMS_ECORRUPT. */
static void
test_corrupt_file(void **state)
{
	static const struct {
		const char	*what;
		uint64_t	 off;
	} fields[] = {
		{ "magic", offsetof(struct shms__arena_meta, magic) },
		{ "size", offsetof(struct shms__arena_meta, size) },
		{ "max_size", offsetof(struct shms__arena_meta, max_size) },
		{ "data_off", offsetof(struct shms__arena_meta, data_off) },
		{ "root", offsetof(struct shms__arena_meta, root) + 5 },
		{ "free_pages", offsetof(struct shms__arena_meta, free_pages) },
		{ "nfree_spans", offsetof(struct shms__arena_meta,
		    nfree_spans) },
		{ "bins[255]", offsetof(struct shms__arena_meta, bins[255]) },
		{ "partial", offsetof(struct shms__arena_meta,
		    classes[2].partial) },
		{ "npartial", offsetof(struct shms__arena_meta,
		    classes[2].npartial) },
	};
	struct shms_svc *svc = svc_open();
	struct shms_arena *a;
	size_t i;
	int rc;

	(void)state;
	for (i = 0; i < SHMS__ARRAY_SIZE(fields); i++) {
		uint8_t junk[2] = { 0x5a, 0xa5 };

		a = make(svc, "corrupt", 2 * MiB, 0, 0);
		fill_list(a, 50);	/* 64-byte nodes: class 3 */
		assert_int_equal(shms_arena_seal(a, 0), 0);
		file_poke(svc, "corrupt", 4096 + fields[i].off, junk, 2);
		rc = shms_arena_adopt(svc, "corrupt", "test.layout", 3, 0, &a);
		if (rc != SHMS_ECORRUPT)
			fail_msg("%s: adopt gave %d (%s)", fields[i].what, rc,
			    shms_errdetail(svc));
		assert_true(shms_errdetail(svc)[0] != '\0');
	}
	assert_int_equal(shms_arena_remove(svc, "corrupt"), 0);
	svc_close(svc);
}

/* List callback: the entry of file arena.moved. */
static int
find_moved(const struct shms_entry *e, void *arg)
{
	if (strcmp(e->file, "arena.moved") == 0)
		*(struct shms_entry *)arg = *e;
	return 0;
}

/*
 * A sound arena file under another arena's name (renamed, or copied over
 * it): its header names "orig". Adopting it would rewrite that header
 * under the wrong file; list and inspect must say so too.
 */
static void
test_renamed(void **state)
{
	struct shms_svc *svc = svc_open();
	struct shms_arena_stats st;
	struct shms_entry e;
	struct shms_arena *a;
	int dirfd = shms__svc_dirfd(svc);

	(void)state;
	shms_arena_remove(svc, "moved");
	a = make(svc, "orig", 2 * MiB, 0, 0);
	fill_list(a, 10);
	assert_int_equal(shms_arena_seal(a, 0), 0);
	assert_int_equal(renameat(dirfd, "arena.orig", dirfd, "arena.moved"),
	    0);
	assert_int_equal(shms_arena_adopt(svc, "moved", "test.layout", 3, 0,
	    &a), SHMS_ECORRUPT);
	assert_non_null(strstr(shms_errdetail(svc), "orig"));
	assert_int_equal(shms_arena_inspect(svc, "arena.moved", 0, &st),
	    SHMS_ECORRUPT);
	memset(&e, 0, sizeof(e));
	assert_int_equal(shms_svc_list(svc, find_moved, &e), 0);
	assert_string_equal(e.file, "arena.moved");
	assert_int_equal(e.error, SHMS_ECORRUPT);
	/* Back under its own name it is fine. */
	assert_int_equal(renameat(dirfd, "arena.moved", dirfd, "arena.orig"),
	    0);
	assert_int_equal(shms_arena_adopt(svc, "orig", "test.layout", 3, 0,
	    &a), 0);
	check_list(a, 10);
	assert_int_equal(shms_arena_destroy(a), 0);
	svc_close(svc);
}

static void
test_truncated(void **state)
{
	struct shms_svc *svc = svc_open();
	struct shms_arena *a;
	int fd;

	(void)state;
	a = make(svc, "trunc", 4 * MiB, 0, 0);
	assert_int_equal(shms_arena_seal(a, 0), 0);
	fd = arena_fd(svc, "trunc");
	assert_int_equal(ftruncate(fd, 3 * MiB), 0);
	close(fd);
	assert_int_equal(shms_arena_adopt(svc, "trunc", "test.layout", 3, 0,
	    &a), SHMS_ETRUNC);
	fd = arena_fd(svc, "trunc");
	assert_int_equal(ftruncate(fd, 100), 0);
	close(fd);
	assert_int_equal(shms_arena_adopt(svc, "trunc", "test.layout", 3, 0,
	    &a), SHMS_ETRUNC);
	assert_int_equal(shms_arena_remove(svc, "trunc"), 0);
	svc_close(svc);
}

static void
test_full_and_grow(void **state)
{
	struct shms_svc *svc = svc_open();
	struct shms_arena *a;
	struct shms_arena_stats st;
	uint64_t off, first = 0, n = 0, big;
	struct stat sb;
	int fd, rc;

	(void)state;
	a = make(svc, "full", 1 * MiB, 0, 0);
	while ((rc = shms_arena_alloc(a, 500, &off)) == 0) {
		memcpy(SHMS_REF(a, char, off), &n, sizeof(n));
		if (first == 0)
			first = off;
		n++;
	}
	assert_int_equal(rc, SHMS_ENOSPACE);
	assert_int_equal(shms_arena_root_set(a, first), 0);
	assert_int_equal(shms_arena_seal(a, 0), 0);
	assert_int_equal(shms_arena_adopt(svc, "full", "test.layout", 3,
	    SHMS_ARENA_VERIFY, &a), 0);
	assert_int_equal(shms_arena_stats(a, &st), 0);
	assert_int_equal(st.nallocs, n);
	memcpy(&n, SHMS_REF(a, char, shms_arena_root(a)), sizeof(n));
	assert_int_equal(n, 0);
	assert_int_equal(shms_arena_destroy(a), 0);

	/* Growable: 1 MiB that may become 64 MiB; references survive. */
	a = make(svc, "grow", 1 * MiB, 64 * MiB, 0);
	assert_int_equal(shms_arena_alloc(a, 100, &first), 0);
	strcpy(SHMS_REF(a, char, first), "first");
	assert_int_equal(shms_arena_alloc(a, 40 * MiB, &big), 0);
	memset(SHMS_REF(a, char, big), 0x77, 40 * MiB);
	assert_true(shms_arena_size(a) >= 40 * MiB);
	assert_int_equal(shms_arena_alloc(a, 30 * MiB, &off), SHMS_ENOSPACE);
	assert_string_equal(SHMS_REF(a, char, first), "first");
	assert_int_equal(shms_arena_root_set(a, big), 0);
	assert_int_equal(shms_arena_seal(a, SHMS_ARENA_SUM), 0);
	fd = arena_fd(svc, "grow");
	assert_int_equal(fstat(fd, &sb), 0);
	close(fd);
	assert_true((uint64_t)sb.st_size >= 40 * MiB);
	assert_int_equal(shms_arena_adopt(svc, "grow", "test.layout", 3,
	    SHMS_ARENA_VERIFY, &a), 0);
	assert_string_equal(SHMS_REF(a, char, first), "first");
	assert_int_equal(SHMS_REF(a, uint8_t, shms_arena_root(a))[40 * MiB -
	    1], 0x77);
	/* and it still grows after adoption */
	assert_int_equal(shms_arena_free(a, big), 0);
	assert_int_equal(shms_arena_alloc(a, 60 * MiB, &big), 0);
	assert_int_equal(shms_arena_destroy(a), 0);
	svc_close(svc);
}

static void
test_calloc_realloc(void **state)
{
	struct shms_svc *svc = svc_open();
	struct shms_arena *a;
	uint64_t off, o2;
	size_t us;
	char *p;

	(void)state;
	a = make(svc, "calloc", 2 * MiB, 0, 0);
	assert_int_equal(shms_arena_alloc(a, 256, &off), 0);
	memset(SHMS_REF(a, char, off), 0xff, 256);
	assert_int_equal(shms_arena_free(a, off), 0);
	assert_int_equal(shms_arena_calloc(a, 16, 16, &off), 0);
	p = SHMS_REF(a, char, off);
	for (us = 0; us < 256; us++)
		assert_int_equal(p[us], 0);
	assert_int_equal(shms_arena_calloc(a, SIZE_MAX / 2, 4, &o2), -EINVAL);
	strcpy(p, "keep me");
	assert_int_equal(shms_arena_realloc(a, off, 5000, &o2), 0);
	assert_string_equal(SHMS_REF(a, char, o2), "keep me");
	assert_int_equal(shms_arena_usable_size(a, o2, &us), 0);
	assert_true(us >= 5000);
	assert_int_equal(shms_arena_free(a, off), -EINVAL);
	assert_int_equal(shms_arena_root_set(a, o2 + 16), -EINVAL);
	assert_int_equal(shms_arena_root_set(a, 12345678), -EINVAL);
	assert_int_equal(shms_arena_destroy(a), 0);
	svc_close(svc);
}

/* Threads allocate, write, check and free concurrently. */
struct worker {
	struct shms_arena	*a;
	unsigned		 seed;
	int			 errors;
};

static void *
worker_run(void *arg)
{
	struct worker *w = arg;
	uint64_t offs[64] = { 0 };
	size_t sizes[64];
	int i, k;

	for (i = 0; i < 20000; i++) {
		k = rand_r(&w->seed) % 64;
		if (offs[k] != 0) {
			uint8_t *p = SHMS_REF(w->a, uint8_t, offs[k]);

			if (p[0] != (uint8_t)k ||
			    p[sizes[k] - 1] != (uint8_t)k)
				w->errors++;
			if (shms_arena_free(w->a, offs[k]) != 0)
				w->errors++;
			offs[k] = 0;
		} else {
			sizes[k] = 1 + (size_t)(rand_r(&w->seed) % 3000);
			if (rand_r(&w->seed) % 50 == 0)
				sizes[k] += 40000;
			if (shms_arena_alloc(w->a, sizes[k], &offs[k]) != 0) {
				w->errors++;
				offs[k] = 0;
				continue;
			}
			memset(SHMS_REF(w->a, uint8_t, offs[k]), k, sizes[k]);
		}
	}
	for (k = 0; k < 64; k++)
		if (shms_arena_free(w->a, offs[k]) != 0)
			w->errors++;
	return NULL;
}

static void
test_threads(void **state)
{
	struct shms_svc *svc = svc_open();
	struct shms_arena *a;
	struct shms_arena_stats st;
	struct worker w[4];
	pthread_t t[4];
	int i;

	(void)state;
	a = make(svc, "threads", 4 * MiB, 64 * MiB, SHMS_ARENA_THREADSAFE);
	for (i = 0; i < 4; i++) {
		w[i].a = a;
		w[i].seed = (unsigned)i + 1;
		w[i].errors = 0;
		assert_int_equal(pthread_create(&t[i], NULL, worker_run, &w[i]),
		    0);
	}
	for (i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(w[i].errors, 0);
	}
	assert_int_equal(shms_arena_stats(a, &st), 0);
	assert_int_equal(st.nallocs, 0);
	assert_int_equal(shms_arena_seal(a, 0), 0);
	assert_int_equal(shms_arena_inspect(svc, "arena.threads",
	    SHMS_ARENA_VERIFY, &st), 0);
	assert_int_equal(shms_arena_remove(svc, "threads"), 0);
	svc_close(svc);
}

/* Debug builds assert on references outside the arena. */
static void
test_ref_asserts(void **state)
{
#ifdef NDEBUG
	(void)state;
	skip();
#else
	struct shms_svc *svc = svc_open();
	struct shms_arena *a;
	uint64_t off;
	int i, st;

	(void)state;
	a = make(svc, "refs", 1 * MiB, 0, 0);
	assert_int_equal(shms_arena_alloc(a, 64, &off), 0);
	assert_ptr_equal(shms_arena_ptr(a, 0), NULL);
	assert_int_equal(shms_arena_off(a, NULL), 0);
	assert_ptr_equal(SHMS_REF(a, char, off), (char *)shms_arena_base(a) +
	    off);
	for (i = 0; i < 2; i++) {
		pid_t pid = fork();
		char x = 0;

		assert_true(pid >= 0);
		if (pid == 0) {
			signal(SIGABRT, SIG_DFL);
			/* keep the child's assert message out of the log */
			freopen("/dev/null", "w", stderr);
			if (i == 0)
				(void)SHMS_REF(a, char, shms_arena_size(a) + 16);
			else
				(void)shms_arena_off(a, &x);
			_exit(0);
		}
		assert_int_equal(waitpid(pid, &st, 0), pid);
		assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
	}
	assert_int_equal(shms_arena_destroy(a), 0);
	svc_close(svc);
#endif
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seal_adopt),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_dirty),
		cmocka_unit_test(test_checksum),
		cmocka_unit_test(test_corrupt_file),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_renamed),
		cmocka_unit_test(test_full_and_grow),
		cmocka_unit_test(test_calloc_realloc),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_ref_asserts),
	};

	return cmocka_run_group_tests_name("arena", tests, NULL, NULL);
}
