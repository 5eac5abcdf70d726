/*
 * test_arena_alloc.c: the arena allocator and its metadata checker, over
 * anonymous memory (no files): size classes, a randomized run against a
 * model, growth, out-of-space, bad frees, and a table of corruptions that
 * must give SHMS_ECORRUPT (never a crash or a hang).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "internal.h"
#include "arena_format.h"

#define MiB	(UINT64_C(1) << 20)

struct mem {
	char			*base;
	uint64_t		 max;
	uint64_t		 backed;
	int			 grows;
	struct shms__arena_heap	 h;
};

static int
mem_grow(void *ctx, uint64_t new_size)
{
	struct mem *m = ctx;

	assert_true(new_size > m->backed && new_size <= m->max);
	if (mprotect(m->base + m->backed, new_size - m->backed,
	    PROT_READ | PROT_WRITE) != 0)
		return -errno;
	m->backed = new_size;
	m->grows++;
	return 0;
}

static struct mem *
mem_new(uint64_t size, uint64_t max)
{
	struct mem *m = calloc(1, sizeof(*m));

	assert_non_null(m);
	/* a PROT_NONE guard page on either side */
	m->base = mmap(NULL, max + 8192, PROT_NONE, MAP_PRIVATE |
	    MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	assert_true(m->base != MAP_FAILED);
	m->base += 4096;
	assert_int_equal(mprotect(m->base, size, PROT_READ | PROT_WRITE), 0);
	m->max = max;
	m->backed = size;
	assert_int_equal(shms__arena_format(m->base, size, max,
	    SHMS__ARENA_PAGE), 0);
	shms__arena_heap_init(&m->h, m->base);
	if (max > size) {
		m->h.grow = mem_grow;
		m->h.grow_ctx = m;
	}
	return m;
}

static void
mem_free(struct mem *m)
{
	munmap(m->base - 4096, m->max + 8192);
	free(m);
}

static void
check_ok(struct mem *m, int full)
{
	char detail[SHMS_DETAIL_MAX] = "";
	int rc = shms__arena_check(m->base, m->backed, full, NULL, detail);

	if (rc != 0)
		fail_msg("check: %d %s", rc, detail);
}

static void
test_classes(void **state)
{
	struct shms__arena_geom g[SHMS__ARENA_NCLASSES];
	size_t s;
	unsigned c, prev = 0;

	(void)state;
	shms__arena_geom_init(g);
	assert_int_equal(g[SHMS__ARENA_NCLASSES - 1].size,
	    SHMS__ARENA_SMALL_MAX);
	for (c = 0; c < SHMS__ARENA_NCLASSES; c++) {
		assert_int_equal(g[c].size % 16, 0);
		assert_true(g[c].nobj >= 8);
		assert_true(SHMS__ARENA_SLAB_HDR + g[c].nobj * g[c].size <=
		    g[c].npages * SHMS__ARENA_PAGE);
		if (c > 0)
			assert_true(g[c].size > g[c - 1].size);
	}
	for (s = 1; s <= SHMS__ARENA_SMALL_MAX; s++) {
		c = shms__arena_class_of(s);
		assert_true(c < SHMS__ARENA_NCLASSES);
		assert_true(g[c].size >= s);
		/* smallest class that fits, and bounded waste */
		assert_true(c == 0 || g[c - 1].size < s);
		assert_true(c >= prev);
		assert_true(s <= 128 || g[c].size - s < s / 8 + 1);
		prev = c;
	}
}

/* The model: what each slot should hold. */
struct slot {
	uint64_t	off;
	size_t		size;
	uint8_t		fill;
};

static size_t
rand_size(unsigned *seed)
{
	unsigned r = (unsigned)rand_r(seed) % 1000;

	if (r < 800)
		return 1 + (size_t)rand_r(seed) % 256;
	if (r < 970)
		return 1 + (size_t)rand_r(seed) % 8192;
	if (r < 995)
		return 1 + (size_t)rand_r(seed) % SHMS__ARENA_SMALL_MAX;
	return SHMS__ARENA_SMALL_MAX + 1 + (size_t)rand_r(seed) % (300 << 10);
}

static void
slot_check(struct mem *m, const struct slot *s)
{
	const uint8_t *p = (const uint8_t *)m->base + s->off;
	size_t i;

	for (i = 0; i < s->size; i++)
		if (p[i] != s->fill)
			fail_msg("offset %#jx byte %zu: %#x, expected %#x",
			    (uintmax_t)s->off, i, p[i], s->fill);
}

static void
run_model(struct mem *m, struct slot *slots, size_t nslots, unsigned seed,
    int ops)
{
	uint64_t live = 0;
	size_t i, got;
	int op;

	for (i = 0; i < nslots; i++)
		live += slots[i].off != 0;
	for (op = 0; op < ops; op++) {
		struct slot *s = &slots[(size_t)rand_r(&seed) % nslots];
		uint64_t off;
		int rc;

		if (s->off == 0) {
			s->size = rand_size(&seed);
			rc = shms__arena_alloc(&m->h, s->size, &s->off);
			assert_int_equal(rc, 0);
			assert_true(s->off % 16 == 0);
			assert_int_equal(shms__arena_usable(&m->h, s->off,
			    &got), 0);
			assert_true(got >= s->size);
			s->fill = (uint8_t)(1 + rand_r(&seed) % 255);
			memset(m->base + s->off, s->fill, s->size);
			live++;
		} else if (rand_r(&seed) % 3 == 0) {
			size_t nsz = rand_size(&seed);

			slot_check(m, s);
			rc = shms__arena_realloc(&m->h, s->off, nsz, &off);
			assert_int_equal(rc, 0);
			s->off = off;
			if (nsz < s->size)
				s->size = nsz;
			slot_check(m, s);
			s->size = nsz;
			s->fill = (uint8_t)(1 + rand_r(&seed) % 255);
			memset(m->base + s->off, s->fill, s->size);
		} else {
			slot_check(m, s);
			assert_int_equal(shms__arena_free(&m->h, s->off), 0);
			s->off = 0;
			live--;
		}
		assert_int_equal(m->h.meta->nallocs, live);
		if (op % 5000 == 4999)
			check_ok(m, 1);
	}
	for (i = 0; i < nslots; i++)
		if (slots[i].off != 0)
			slot_check(m, &slots[i]);
	check_ok(m, 1);
}

static void
test_random_model(void **state)
{
	struct mem *m = mem_new(64 * MiB, 64 * MiB);
	struct slot *slots = calloc(3000, sizeof(*slots));
	struct shms__arena_meta *mt = m->h.meta;
	size_t i;

	(void)state;
	check_ok(m, 1);
	run_model(m, slots, 3000, 12345, 40000);
	/* Everything freed: pages all come back and coalesce. */
	for (i = 0; i < 3000; i++)
		assert_int_equal(shms__arena_free(&m->h, slots[i].off), 0);
	check_ok(m, 1);
	assert_int_equal(mt->nallocs, 0);
	assert_int_equal(mt->in_use, 0);
	assert_int_equal(mt->large_pages, 0);
	assert_true(mt->free_pages + mt->slab_pages ==
	    (mt->size - mt->data_off) / SHMS__ARENA_PAGE);
	free(slots);
	mem_free(m);
}

/* A heap re-attached mid-run (as after adopt) continues the same model. */
static void
test_reattach(void **state)
{
	struct mem *m = mem_new(32 * MiB, 32 * MiB);
	struct slot *slots = calloc(1000, sizeof(*slots));

	(void)state;
	run_model(m, slots, 1000, 7, 10000);
	memset(&m->h, 0xa5, sizeof(m->h));
	shms__arena_heap_init(&m->h, m->base);
	run_model(m, slots, 1000, 8, 10000);
	free(slots);
	mem_free(m);
}

static void
test_grow(void **state)
{
	struct mem *m = mem_new(1 * MiB, 256 * MiB);
	uint64_t offs[64], big;
	int i;

	(void)state;
	for (i = 0; i < 64; i++) {
		assert_int_equal(shms__arena_alloc(&m->h, 1 * MiB, &offs[i]),
		    0);
		memset(m->base + offs[i], i + 1, 1 * MiB);
	}
	assert_true(m->grows > 0);
	assert_true(m->backed >= 64 * MiB);
	check_ok(m, 1);
	for (i = 0; i < 64; i++)
		assert_int_equal((uint8_t)m->base[offs[i] + MiB - 1], i + 1);
	/* Beyond max: out of space, nothing changed. */
	assert_int_equal(shms__arena_alloc(&m->h, 512 * MiB, &big),
	    SHMS_ENOSPACE);
	check_ok(m, 1);
	mem_free(m);
}

static void
test_full(void **state)
{
	struct mem *m = mem_new(4 * MiB, 4 * MiB);
	uint64_t off, first = 0, n = 0, used;
	int rc;

	(void)state;
	for (;;) {
		rc = shms__arena_alloc(&m->h, 1000, &off);
		if (rc != 0)
			break;
		memcpy(m->base + off, &n, sizeof(n));
		if (first == 0)
			first = off;
		n++;
	}
	assert_int_equal(rc, SHMS_ENOSPACE);
	assert_true(n > 3000);
	used = m->h.meta->nallocs;
	assert_int_equal(used, n);
	assert_int_equal(shms__arena_alloc(&m->h, 100000, &off),
	    SHMS_ENOSPACE);
	assert_int_equal(m->h.meta->nallocs, used);
	check_ok(m, 1);
	memcpy(&n, m->base + first, sizeof(n));
	assert_int_equal(n, 0);
	/* Freeing makes room again. */
	assert_int_equal(shms__arena_free(&m->h, first), 0);
	assert_int_equal(shms__arena_alloc(&m->h, 1000, &off), 0);
	assert_int_equal(off, first);
	mem_free(m);
}

static void
test_bad_free(void **state)
{
	struct mem *m = mem_new(8 * MiB, 8 * MiB);
	uint64_t a, big;
	size_t sz;

	(void)state;
	assert_int_equal(shms__arena_alloc(&m->h, 100, &a), 0);
	assert_int_equal(shms__arena_alloc(&m->h, 100000, &big), 0);
	assert_int_equal(shms__arena_free(&m->h, 0), 0);
	assert_int_equal(shms__arena_free(&m->h, 8), -EINVAL);
	assert_int_equal(shms__arena_free(&m->h, a + 16), -EINVAL);
	assert_int_equal(shms__arena_free(&m->h, a + 1), -EINVAL);
	assert_int_equal(shms__arena_free(&m->h, big + 4096), -EINVAL);
	assert_int_equal(shms__arena_free(&m->h, 8 * MiB), -EINVAL);
	assert_int_equal(shms__arena_free(&m->h, UINT64_MAX - 15), -EINVAL);
	assert_int_equal(shms__arena_usable(&m->h, big, &sz), 0);
	assert_int_equal(sz, 25 * 4096);
	assert_int_equal(shms__arena_free(&m->h, a), 0);
	/* A slab whose only object was freed again: double free. */
	assert_int_equal(shms__arena_free(&m->h, a), -EINVAL);
	assert_int_equal(shms__arena_free(&m->h, big), 0);
	assert_int_equal(shms__arena_free(&m->h, big), -EINVAL);
	check_ok(m, 1);
	mem_free(m);
}

static void
test_realloc_large(void **state)
{
	struct mem *m = mem_new(16 * MiB, 16 * MiB);
	uint64_t a, b;

	(void)state;
	assert_int_equal(shms__arena_alloc(&m->h, 100000, &a), 0);
	memset(m->base + a, 7, 100000);
	/* Grows in place into the free span after it. */
	assert_int_equal(shms__arena_realloc(&m->h, a, 1000000, &b), 0);
	assert_int_equal(b, a);
	assert_int_equal((uint8_t)m->base[a + 99999], 7);
	assert_int_equal(shms__arena_realloc(&m->h, a, 50000, &b), 0);
	assert_int_equal(b, a);
	check_ok(m, 1);
	/* Large to small moves and keeps the prefix. */
	assert_int_equal(shms__arena_realloc(&m->h, a, 100, &b), 0);
	assert_true(b != a);
	assert_int_equal((uint8_t)m->base[b + 99], 7);
	assert_int_equal(shms__arena_realloc(&m->h, b, 0, &a), 0);
	assert_int_equal(a, 0);
	assert_int_equal(m->h.meta->nallocs, 0);
	check_ok(m, 1);
	mem_free(m);
}

/*
 * Corruption table: one change to a populated arena each, all of which
 * the checker must report as corrupt (or truncated), without crashing.
 */
struct corruption {
	const char	*what;
	void		(*apply)(struct mem *m, uint64_t arg);
	uint64_t	 arg;
	int		 full;	/* only the full check sees it */
};

#define META_FIELD(f)	offsetof(struct shms__arena_meta, f)

static void
poke64(struct mem *m, uint64_t field)
{
	uint64_t v;

	memcpy(&v, m->base + field, sizeof(v));
	v ^= UINT64_C(0x10000000001);
	memcpy(m->base + field, &v, sizeof(v));
}

static void
poke32(struct mem *m, uint64_t field)
{
	m->base[field] ^= 0x11;
}

static void
bin_cycle(struct mem *m, uint64_t unused)
{
	struct shms__arena_meta *mt = m->h.meta;
	unsigned b;

	(void)unused;
	for (b = 1; b < SHMS__ARENA_NBINS; b++)
		if (mt->bins[b] != 0) {
			struct shms__arena_span *sp = (void *)(m->base +
			    mt->bins[b]);
			sp->next = mt->bins[b];
			return;
		}
	fail();
}

static void
bin_wild(struct mem *m, uint64_t v)
{
	struct shms__arena_meta *mt = m->h.meta;
	unsigned b;

	for (b = 1; b < SHMS__ARENA_NBINS; b++)
		if (mt->bins[b] != 0) {
			mt->bins[b] = v;
			return;
		}
	fail();
}

static struct shms__arena_slab *
first_partial(struct mem *m)
{
	unsigned c;

	for (c = 0; c < SHMS__ARENA_NCLASSES; c++)
		if (m->h.meta->classes[c].partial != 0)
			return (void *)(m->base +
			    m->h.meta->classes[c].partial);
	fail();
	return NULL;
}

static void
slab_field(struct mem *m, uint64_t field)
{
	poke32(m, (uint64_t)((char *)first_partial(m) - m->base) + field);
}

static void
slab_cycle(struct mem *m, uint64_t unused)
{
	struct shms__arena_slab *sl = first_partial(m);
	uint32_t o = sl->free_head;

	(void)unused;
	assert_true(o != 0);
	memcpy((char *)sl + o, &o, sizeof(o));
}

static void
partial_wild(struct mem *m, uint64_t v)
{
	unsigned c;

	for (c = 0; c < SHMS__ARENA_NCLASSES; c++)
		if (m->h.meta->classes[c].partial != 0) {
			m->h.meta->classes[c].partial = v;
			return;
		}
}

static void
pagemap_poke(struct mem *m, uint64_t delta)
{
	uint64_t p = (m->h.meta->data_off >> SHMS__ARENA_PSHIFT) + delta;

	m->h.pagemap[p] ^= 0x40000000u;
}

static void
slab_full_field(struct mem *m, uint64_t field)
{
	/* the first data page is a full slab in the populated arena */
	poke32(m, m->h.meta->data_off + field);
}

static const struct corruption corruptions[] = {
	{ "magic", poke32, META_FIELD(magic), 0 },
	{ "version", poke32, META_FIELD(version), 0 },
	{ "meta_size", poke32, META_FIELD(meta_size), 0 },
	{ "page_size", poke32, META_FIELD(page_size), 0 },
	{ "nclasses", poke32, META_FIELD(nclasses), 0 },
	{ "nbins", poke32, META_FIELD(nbins), 0 },
	{ "flags", poke32, META_FIELD(flags), 0 },
	{ "size", poke64, META_FIELD(size), 0 },
	{ "max_size", poke64, META_FIELD(max_size), 0 },
	{ "align", poke64, META_FIELD(align), 0 },
	{ "pagemap_off", poke64, META_FIELD(pagemap_off), 0 },
	{ "data_off", poke64, META_FIELD(data_off), 0 },
	{ "root", poke64, META_FIELD(root), 0 },
	{ "nallocs", poke64, META_FIELD(nallocs), 1 },
	{ "in_use", poke64, META_FIELD(in_use), 0 },
	{ "free_pages", poke64, META_FIELD(free_pages), 0 },
	{ "nfree_spans", poke64, META_FIELD(nfree_spans), 0 },
	{ "slab_pages", poke64, META_FIELD(slab_pages), 0 },
	{ "large_pages", poke64, META_FIELD(large_pages), 0 },
	{ "nlarge", poke64, META_FIELD(nlarge), 0 },
	{ "binmap", poke32, META_FIELD(binmap), 0 },
	{ "bins[1]", poke64, META_FIELD(bins[1]), 0 },
	{ "bins[255]", poke64, META_FIELD(bins[255]), 0 },
	{ "class partial", poke64, META_FIELD(classes[0].partial), 0 },
	{ "class npartial", poke64, META_FIELD(classes[0].npartial), 0 },
	{ "class nslabs", poke64, META_FIELD(classes[0].nslabs), 0 },
	{ "bin list cycle", bin_cycle, 0, 0 },
	{ "bin head out of bounds", bin_wild, UINT64_C(1) << 40, 0 },
	{ "bin head unaligned", bin_wild, 3 * 4096 + 8, 0 },
	{ "bin head into metadata", bin_wild, 4096, 0 },
	{ "partial head wild", partial_wild, UINT64_C(0xffffffffffff000), 0 },
	{ "partial head unaligned", partial_wild, 64 * 4096 + 64, 0 },
	{ "slab magic", slab_field, offsetof(struct shms__arena_slab, magic),
	    0 },
	{ "slab nobj", slab_field, offsetof(struct shms__arena_slab, nobj), 0 },
	{ "slab nfree", slab_field, offsetof(struct shms__arena_slab, nfree),
	    0 },
	{ "slab bump", slab_field, offsetof(struct shms__arena_slab, bump), 0 },
	{ "slab free_head", slab_field,
	    offsetof(struct shms__arena_slab, free_head), 0 },
	{ "slab free list cycle", slab_cycle, 0, 1 },
	{ "full slab header", slab_full_field,
	    offsetof(struct shms__arena_slab, nfree), 1 },
	{ "pagemap kind", pagemap_poke, 0, 1 },
};

static struct mem *
populated(void)
{
	struct mem *m = mem_new(16 * MiB, 16 * MiB);
	struct slot *slots = calloc(500, sizeof(*slots));

	run_model(m, slots, 500, 99, 3000);
	/* a root, and at least one partial slab with a free list */
	assert_int_equal(shms__arena_alloc(&m->h, 40, &m->h.meta->root), 0);
	free(slots);
	return m;
}

static void
test_corruptions(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < SHMS__ARRAY_SIZE(corruptions); i++) {
		const struct corruption *c = &corruptions[i];
		struct mem *m = populated();
		char detail[SHMS_DETAIL_MAX] = "";
		int rc;

		check_ok(m, 1);
		c->apply(m, c->arg);
		rc = shms__arena_check(m->base, m->backed, 1, NULL, detail);
		if (rc != SHMS_ECORRUPT && rc != SHMS_EFORMAT &&
		    rc != SHMS_ETRUNC)
			fail_msg("%s: full check returned %d", c->what, rc);
		assert_true(detail[0] != '\0');
		if (!c->full) {
			rc = shms__arena_check(m->base, m->backed, 0, NULL,
			    detail);
			if (rc == 0)
				fail_msg("%s: quick check missed it", c->what);
		}
		mem_free(m);
	}
}

/* Random byte flips in the metadata: never a crash or a hang. */
static void
test_fuzz_meta(void **state)
{
	struct mem *m = populated();
	char *copy = malloc(m->backed);
	unsigned seed = 42;
	int i, j, bad = 0;

	(void)state;
	memcpy(copy, m->base, m->backed);
	for (i = 0; i < 300; i++) {
		char detail[SHMS_DETAIL_MAX];
		uint64_t span = m->h.meta->data_off + 64 * 4096;

		for (j = 0; j < 1 + i % 4; j++)
			m->base[(uint64_t)rand_r(&seed) % span] ^=
			    (char)(1 << (rand_r(&seed) % 8));
		bad += shms__arena_check(m->base, m->backed, 1, NULL,
		    detail) != 0;
		memcpy(m->base, copy, m->backed);
	}
	assert_true(bad > 0);
	free(copy);
	mem_free(m);
}

/*
 * Random byte flips in the metadata and the first slabs, then allocator
 * calls on the damaged arena (as after a user's wild write): they may
 * fail, with SHMS_ECORRUPT or -EINVAL, but never touch memory outside
 * the arena or loop forever. The arena is mapped with guard pages
 * around it, so an escape would fault.
 */
static void
test_fuzz_runtime(void **state)
{
	const char *e = getenv("ARENA_FUZZ_ITERS");	/* longer runs */
	int i, j, bad = 0, iters = e != NULL ? atoi(e) : 60;
	unsigned seed = getenv("ARENA_FUZZ_SEED") != NULL ?
	    (unsigned)atoi(getenv("ARENA_FUZZ_SEED")) : e != NULL ?
	    (unsigned)getpid() : 4242;

	(void)state;
	for (i = 0; i < iters; i++) {
		struct mem *m = populated();
		uint64_t span = m->h.meta->data_off + 128 * 4096, offs[64];
		int k;

		/* half the flips in the metadata scalars and list heads */
		for (j = 0; j < 1 + i % 8; j++)
			m->base[(uint64_t)rand_r(&seed) % (j % 2 ? span :
			    sizeof(struct shms__arena_meta))] ^=
			    (char)(1 << (rand_r(&seed) % 8));
		memset(offs, 0, sizeof(offs));
		for (k = 0; k < 300; k++) {
			uint64_t *o = &offs[rand_r(&seed) % 64];
			int rc;

			if (*o != 0) {
				rc = shms__arena_free(&m->h, *o);
				*o = 0;
			} else {
				rc = shms__arena_alloc(&m->h, 1 + (size_t)
				    rand_r(&seed) % 70000, o);
				if (rc != 0)
					*o = 0;
			}
			if (rc != 0) {
				assert_true(rc == SHMS_ECORRUPT ||
				    rc == -EINVAL || rc == SHMS_ENOSPACE);
				bad++;
			}
			/* a block handed out must lie inside the arena */
			assert_true(*o == 0 || (*o >= m->h.meta->data_off &&
			    *o < m->backed));
		}
		mem_free(m);
	}
	assert_true(bad > 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classes),
		cmocka_unit_test(test_random_model),
		cmocka_unit_test(test_reattach),
		cmocka_unit_test(test_grow),
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_bad_free),
		cmocka_unit_test(test_realloc_large),
		cmocka_unit_test(test_corruptions),
		cmocka_unit_test(test_fuzz_meta),
		cmocka_unit_test(test_fuzz_runtime),
	};

	return cmocka_run_group_tests_name("arena_alloc", tests, NULL, NULL);
}
