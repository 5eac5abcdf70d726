/*
 * helper_arena: one step of an arena integration test per invocation, so
 * that each step runs in a process of its own (test_arena.sh):
 *
 *   hash-build N [exec]  build an N-entry hash table in arena "hash",
 *                        seal; with exec, execv "hash-check N" in place
 *   hash-check N         adopt "hash", look every key up, seal
 *   model SEED OPS [new] randomized alloc/free/realloc against a model
 *                        kept in the arena itself; checks every live
 *                        block left by the previous process first
 *   live-wait FILE       create arena "victim", write "ready" to FILE,
 *                        then wait (at most 60 s) to be killed
 *   dirty-check          adopt "victim": refused as dirty, then adopted
 *                        with SHMS_ARENA_ADOPT_DIRTY and checked
 *   huge                 on a huge-page state directory: arena "h" is
 *                        2 MiB aligned, mapped with huge pages, grows in
 *                        2 MiB steps; sealed, then huge-adopt via execv
 *   huge-adopt           adopt "h", check it, destroy it
 *
 * Exit status 0 on success; a message on stderr otherwise.
 */
#include <err.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shmstate.h"

#define SERVICE		"arena-integ"
#define MiB		(UINT64_C(1) << 20)

static struct shms_svc *svc;

static void
check(int rc, const char *what)
{
	if (rc != 0)
		errx(1, "%s: %s (%s)", what, shms_strerror(rc),
		    shms_errdetail(svc));
}

static void
svc_open(void)
{
	check(shms_svc_open(&svc, NULL, SERVICE, 0), "svc open");
}

static void
svc_close(void)
{
	check(shms_svc_close(svc), "svc close");
}

/* ---- hash table: buckets of offsets, chained entries ---- */

struct table {
	uint64_t	nbuckets;
	uint64_t	buckets;	/* offset of uint64_t[nbuckets] */
	uint64_t	count;
};

struct entry {
	uint64_t	next;
	uint64_t	value;
	char		key[24];
};

static uint64_t
hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	while (*s != '\0')
		h = (h ^ (uint8_t)*s++) * 1099511628211ull;
	return h;
}

static int
hash_build(long n, int do_exec, char **argv)
{
	struct shms_arena *a;
	struct table *t;
	uint64_t toff, *b, off;
	long i;

	svc_open();
	shms_arena_remove(svc, "hash");
	check(shms_arena_create(svc, "hash", "integ.hash", 1, 4 * MiB,
	    256 * MiB, 0, &a), "create");
	check(shms_arena_alloc(a, sizeof(*t), &toff), "alloc table");
	t = SHMS_REF(a, struct table, toff);
	t->nbuckets = 65536;
	t->count = 0;
	check(shms_arena_calloc(a, t->nbuckets, sizeof(uint64_t), &off),
	    "alloc buckets");
	t = SHMS_REF(a, struct table, toff);
	t->buckets = off;
	for (i = 0; i < n; i++) {
		struct entry *e;
		uint64_t h;

		check(shms_arena_alloc(a, sizeof(*e), &off), "alloc entry");
		/* the arena may have grown: base does not move */
		e = SHMS_REF(a, struct entry, off);
		snprintf(e->key, sizeof(e->key), "key-%ld", i);
		e->value = (uint64_t)i * 7 + 3;
		h = hash(e->key) % t->nbuckets;
		b = SHMS_REF(a, uint64_t, t->buckets);
		e->next = b[h];
		b[h] = off;
		t->count++;
	}
	check(shms_arena_root_set(a, toff), "root");
	check(shms_arena_seal(a, SHMS_ARENA_SUM), "seal");
	svc_close();
	printf("built %ld entries in pid %ld\n", n, (long)getpid());
	if (do_exec) {
		char *args[] = { argv[0], "hash-check", argv[2], NULL };

		fflush(stdout);
		execv("/proc/self/exe", args);
		err(1, "execv");
	}
	return 0;
}

static int
hash_check(long n)
{
	struct shms_arena *a;
	struct table *t;
	uint64_t *b;
	char key[24];
	long i, steps;

	svc_open();
	check(shms_arena_adopt(svc, "hash", "integ.hash", 1,
	    SHMS_ARENA_VERIFY, &a), "adopt");
	t = SHMS_REF(a, struct table, shms_arena_root(a));
	if (t == NULL || t->count != (uint64_t)n)
		errx(1, "table count %ju, expected %ld",
		    t == NULL ? 0 : (uintmax_t)t->count, n);
	b = SHMS_REF(a, uint64_t, t->buckets);
	for (i = 0; i < n; i++) {
		uint64_t off;

		snprintf(key, sizeof(key), "key-%ld", i);
		off = b[hash(key) % t->nbuckets];
		for (steps = 0; off != 0 && steps < n; steps++) {
			struct entry *e = SHMS_REF(a, struct entry, off);

			if (strcmp(e->key, key) == 0)
				break;
			off = e->next;
		}
		if (off == 0 || steps >= n)
			errx(1, "%s: not found", key);
		if (SHMS_REF(a, struct entry, off)->value !=
		    (uint64_t)i * 7 + 3)
			errx(1, "%s: wrong value", key);
	}
	check(shms_arena_seal(a, 0), "seal");
	svc_close();
	printf("found all %ld keys in pid %ld\n", n, (long)getpid());
	return 0;
}

/* ---- randomized allocator model, kept in the arena ---- */

#define NSLOTS	2000u

struct slot {
	uint64_t	off;
	uint64_t	size;
	uint64_t	fill;
};

static uint32_t
rnd(uint64_t *s)
{
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(*s >> 33);
}

static size_t
rnd_size(uint64_t *s)
{
	uint32_t r = rnd(s) % 1000;

	if (r < 800)
		return 1 + rnd(s) % 300;
	if (r < 990)
		return 1 + rnd(s) % 20000;
	return 32769 + rnd(s) % 200000;
}

static void
slot_check(struct shms_arena *a, const struct slot *sl, size_t i)
{
	const uint8_t *p = SHMS_REF(a, uint8_t, sl->off);
	uint64_t k;

	for (k = 0; k < sl->size; k++)
		if (p[k] != (uint8_t)sl->fill)
			errx(1, "slot %zu (offset %#jx) byte %ju: %#x, expected "
			    "%#x", i, (uintmax_t)sl->off, (uintmax_t)k, p[k],
			    (unsigned)(uint8_t)sl->fill);
}

static int
model(uint64_t seed, long ops, int fresh)
{
	struct shms_arena_stats st;
	struct shms_arena *a;
	struct slot *slots;
	uint64_t moff, live = 0;
	size_t i;
	long op;

	svc_open();
	if (fresh) {
		shms_arena_remove(svc, "model");
		check(shms_arena_create(svc, "model", "integ.model", 1,
		    8 * MiB, 512 * MiB, 0, &a), "create");
		check(shms_arena_calloc(a, NSLOTS, sizeof(struct slot),
		    &moff), "alloc model");
		check(shms_arena_root_set(a, moff), "root");
	} else {
		check(shms_arena_adopt(svc, "model", "integ.model", 1,
		    SHMS_ARENA_VERIFY, &a), "adopt");
		moff = shms_arena_root(a);
	}
	slots = SHMS_REF(a, struct slot, moff);
	for (i = 0; i < NSLOTS; i++)
		if (slots[i].off != 0) {
			slot_check(a, &slots[i], i);
			live++;
		}
	printf("pid %ld: %ju live blocks intact\n", (long)getpid(),
	    (uintmax_t)live);
	for (op = 0; op < ops; op++) {
		struct slot *s = &slots[rnd(&seed) % NSLOTS];
		uint64_t off;

		if (s->off == 0) {
			s->size = rnd_size(&seed);
			check(shms_arena_alloc(a, s->size, &off), "alloc");
			s->off = off;
			s->fill = 1 + rnd(&seed) % 255;
			memset(SHMS_REF(a, uint8_t, s->off), (int)s->fill,
			    s->size);
		} else if (rnd(&seed) % 3 == 0) {
			size_t nsz = rnd_size(&seed);

			slot_check(a, s, (size_t)(s - slots));
			check(shms_arena_realloc(a, s->off, nsz, &off),
			    "realloc");
			s->off = off;
			if (nsz < s->size)
				s->size = nsz;
			slot_check(a, s, (size_t)(s - slots));
			s->size = nsz;
			s->fill = 1 + rnd(&seed) % 255;
			memset(SHMS_REF(a, uint8_t, s->off), (int)s->fill,
			    s->size);
		} else {
			slot_check(a, s, (size_t)(s - slots));
			check(shms_arena_free(a, s->off), "free");
			s->off = 0;
		}
	}
	check(shms_arena_stats(a, &st), "stats");
	for (i = 0, live = 0; i < NSLOTS; i++)
		live += slots[i].off != 0;
	if (st.nallocs != live + 1)
		errx(1, "arena counts %ju allocations, model %ju + 1",
		    (uintmax_t)st.nallocs, (uintmax_t)live);
	check(shms_arena_seal(a, SHMS_ARENA_SUM), "seal");
	check(shms_arena_inspect(svc, "arena.model", SHMS_ARENA_VERIFY, &st),
	    "inspect");
	svc_close();
	printf("pid %ld: %ld ops, %ju live, %.1f%% fragmentation\n",
	    (long)getpid(), ops, (uintmax_t)live, st.fragmentation * 100);
	return 0;
}

/* ---- kill -9 while live ---- */

struct node {
	uint64_t	next;
	uint64_t	n;
};

static int
live_wait(const char *file)
{
	struct shms_arena *a;
	uint64_t head = 0, off;
	FILE *f;
	int i;

	svc_open();
	shms_arena_remove(svc, "victim");
	check(shms_arena_create(svc, "victim", "integ.list", 1, 4 * MiB, 0,
	    0, &a), "create");
	for (i = 0; i < 1000; i++) {
		struct node *nd;

		check(shms_arena_alloc(a, sizeof(*nd), &off), "alloc");
		nd = SHMS_REF(a, struct node, off);
		nd->next = head;
		nd->n = (uint64_t)i;
		head = off;
	}
	check(shms_arena_root_set(a, head), "root");
	if ((f = fopen(file, "w")) == NULL || fprintf(f, "ready\n") < 0 ||
	    fclose(f) != 0)
		err(1, "%s", file);
	sleep(60);
	/* not killed: the test is broken; leave the arena dirty anyway */
	shms_arena_close(a);
	svc_close();
	return 3;
}

static int
dirty_check(void)
{
	struct shms_arena *a;
	uint64_t off;
	int rc, i;

	svc_open();
	rc = shms_arena_adopt(svc, "victim", "integ.list", 1, 0, &a);
	if (rc != SHMS_EDIRTY)
		errx(1, "adopt of a dirty arena gave %d (%s), expected "
		    "SHMS_EDIRTY", rc, shms_strerror(rc));
	printf("refused: %s\n", shms_errdetail(svc));
	check(shms_arena_adopt(svc, "victim", "integ.list", 1,
	    SHMS_ARENA_ADOPT_DIRTY, &a), "adopt dirty");
	off = shms_arena_root(a);
	for (i = 999; i >= 0; i--) {
		struct node *nd = SHMS_REF(a, struct node, off);

		if (nd == NULL || nd->n != (uint64_t)i)
			errx(1, "node %d wrong after adopting dirty", i);
		off = nd->next;
	}
	check(shms_arena_destroy(a), "destroy");
	svc_close();
	printf("adopted dirty with the flag, 1000 nodes intact\n");
	return 0;
}

/* ---- huge pages ---- */

/* ShmemPmdMapped of this process in kB, or -1 if the kernel omits it. */
static long
pmd_mapped_kb(void)
{
	char line[256];
	long v = -1;
	FILE *f;

	if ((f = fopen("/proc/self/smaps_rollup", "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "ShmemPmdMapped: %ld kB", &v) == 1)
			break;
	fclose(f);
	return v;
}

static void
huge_expect(struct shms_arena *a, const char *when)
{
	struct shms_arena_stats st;
	long kb;

	check(shms_arena_stats(a, &st), "stats");
	if (st.page_size != 2u << 20)
		errx(1, "%s: page size %u, expected 2 MiB", when, st.page_size);
	if ((uintptr_t)shms_arena_base(a) % (2u << 20) != 0)
		errx(1, "%s: base %p not 2 MiB aligned", when,
		    shms_arena_base(a));
	kb = pmd_mapped_kb();
	printf("%s: page size %u, ShmemPmdMapped %ld kB\n", when,
	    st.page_size, kb);
	if (kb == 0)
		errx(1, "%s: no huge page mapped", when);
}

static int
huge(char **argv)
{
	char *args[] = { argv[0], "huge-adopt", NULL };
	struct shms_arena *a;
	uint64_t off;

	svc_open();
	shms_arena_remove(svc, "h");
	check(shms_arena_create(svc, "h", "integ.huge", 1, 5 * MiB, 64 * MiB,
	    0, &a), "create");
	if (shms_arena_size(a) != 6 * MiB)
		errx(1, "size %ju, expected 5 MiB rounded up to 6 MiB",
		    (uintmax_t)shms_arena_size(a));
	check(shms_arena_alloc(a, 20 * MiB, &off), "alloc 20 MiB");
	memset(SHMS_REF(a, char, off), 0x3c, 20 * MiB);
	if (shms_arena_size(a) % (2 * MiB) != 0)
		errx(1, "grew to %ju, not a 2 MiB multiple",
		    (uintmax_t)shms_arena_size(a));
	huge_expect(a, "created");
	check(shms_arena_root_set(a, off), "root");
	check(shms_arena_seal(a, SHMS_ARENA_SUM), "seal");
	svc_close();
	fflush(stdout);
	execv("/proc/self/exe", args);
	err(1, "execv");
}

static int
huge_adopt(void)
{
	struct shms_arena *a;
	const uint8_t *p;
	uint64_t i;

	svc_open();
	check(shms_arena_adopt(svc, "h", "integ.huge", 1,
	    SHMS_ARENA_VERIFY | SHMS_ARENA_POPULATE, &a), "adopt");
	p = SHMS_REF(a, uint8_t, shms_arena_root(a));
	for (i = 0; i < 20 * MiB; i += 4096)
		if (p[i] != 0x3c)
			errx(1, "byte %ju lost", (uintmax_t)i);
	huge_expect(a, "adopted");
	check(shms_arena_destroy(a), "destroy");
	svc_close();
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "hash-build") == 0)
		return hash_build(atol(argv[2]), argc > 3 &&
		    strcmp(argv[3], "exec") == 0, argv);
	if (argc >= 3 && strcmp(argv[1], "hash-check") == 0)
		return hash_check(atol(argv[2]));
	if (argc >= 4 && strcmp(argv[1], "model") == 0)
		return model(strtoull(argv[2], NULL, 10), atol(argv[3]),
		    argc > 4 && strcmp(argv[4], "new") == 0);
	if (argc >= 3 && strcmp(argv[1], "live-wait") == 0)
		return live_wait(argv[2]);
	if (argc >= 2 && strcmp(argv[1], "dirty-check") == 0)
		return dirty_check();
	if (argc >= 2 && strcmp(argv[1], "huge") == 0)
		return huge(argv);
	if (argc >= 2 && strcmp(argv[1], "huge-adopt") == 0)
		return huge_adopt();
	fprintf(stderr, "usage: see helper_arena.c\n");
	return 2;
}
