/*
 * arena_alloc.c: the allocator inside an arena.
 *
 * Pure memory logic over a mapped payload (see arena_format.h): a page
 * heap of free spans in length bins with coalescing, and slabs carved
 * from it per size class. All state is in the arena (offsets only), so a
 * new process that maps the file anywhere continues where the old one
 * stopped. The in-band links (span and slab headers, free objects) are
 * checked for bounds and alignment every time they are followed: garbage
 * gives SHMS_ECORRUPT, never a wild access.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "arena_format.h"

#define PAGE		SHMS__ARENA_PAGE
#define PSHIFT		SHMS__ARENA_PSHIFT
#define HDR		SHMS__ARENA_SLAB_HDR
#define NBINS		SHMS__ARENA_NBINS
#define BIGBIN		(NBINS - 1)

static int corrupt(struct shms__arena_heap *, const char *, ...)
    SHMS__PRINTF(2, 3);

static int
corrupt(struct shms__arena_heap *h, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(h->detail, sizeof(h->detail), fmt, ap);
	va_end(ap);
	return SHMS_ECORRUPT;
}

static uint64_t
roundup(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

void
shms__arena_layout(uint64_t max_size, uint64_t *pagemap_off,
    uint64_t *data_off)
{
	uint64_t pm = roundup(sizeof(struct shms__arena_meta), PAGE);

	*pagemap_off = pm;
	*data_off = roundup(pm + (max_size >> PSHIFT) * sizeof(uint32_t),
	    PAGE);
}

unsigned
shms__arena_class_of(size_t size)
{
	unsigned p;

	if (size <= 128)
		return size == 0 ? 0 : (unsigned)((size - 1) >> 4);
	p = 63u - (unsigned)__builtin_clzll((unsigned long long)size - 1);
	return (p - 7) * 8 + (unsigned)((size - 1) >> (p - 3));
}

void
shms__arena_geom_init(struct shms__arena_geom *geom)
{
	unsigned c;

	for (c = 0; c < SHMS__ARENA_NCLASSES; c++) {
		struct shms__arena_geom *g = &geom[c];
		uint32_t np;

		if (c < 8)
			g->size = 16u * (c + 1);
		else
			g->size = (128u << (c / 8 - 1)) +
			    (c % 8 + 1) * (16u << (c / 8 - 1));
		np = (uint32_t)((HDR + 8u * g->size + PAGE - 1) / PAGE);
		g->npages = np < SHMS__ARENA_SLAB_MIN ? SHMS__ARENA_SLAB_MIN :
		    np;
		g->nobj = (g->npages * PAGE - HDR) / g->size;
		g->recip = ((UINT64_C(1) << 40) + g->size - 1) / g->size;
	}
}

void
shms__arena_heap_init(struct shms__arena_heap *h, char *base)
{
	struct shms__arena_meta *m = (struct shms__arena_meta *)(void *)base;

	h->base = base;
	h->meta = m;
	h->pagemap = (uint32_t *)(void *)(base + m->pagemap_off);
	h->size = m->size;
	h->max_size = m->max_size;
	h->data_off = m->data_off;
	h->align = m->align;
	h->detail[0] = '\0';
	shms__arena_geom_init(h->geom);
}

/* ---- free spans ---- */

static uint64_t
npages_now(const struct shms__arena_heap *h)
{
	return h->size >> PSHIFT;
}

static unsigned
bin_of(uint64_t npages)
{
	return npages < BIGBIN ? (unsigned)npages : BIGBIN;
}

/*
 * The span header at offset off, if off can be one: page-aligned inside
 * the data pages, with its magic, and the pagemap agreeing on its length.
 */
static struct shms__arena_span *
span_get(struct shms__arena_heap *h, uint64_t off)
{
	struct shms__arena_span *sp;
	uint64_t p = off >> PSHIFT;

	if ((off & (PAGE - 1)) != 0 || off < h->data_off || off >= h->size)
		return NULL;
	sp = (struct shms__arena_span *)(void *)(h->base + off);
	if (sp->magic != SHMS__SPAN_MAGIC || sp->npages == 0 ||
	    sp->npages > npages_now(h) - p ||
	    h->pagemap[p] != SHMS__PM_MK(SHMS__PM_FREE, sp->npages))
		return NULL;
	return sp;
}

static int
span_push(struct shms__arena_heap *h, uint64_t p, uint64_t n)
{
	struct shms__arena_meta *m = h->meta;
	struct shms__arena_span *sp, *nx;
	unsigned b = bin_of(n);
	uint64_t off = p << PSHIFT;

	if (m->bins[b] != 0) {
		if ((nx = span_get(h, m->bins[b])) == NULL)
			return corrupt(h, "free span bin %u head %#jx invalid",
			    b, (uintmax_t)m->bins[b]);
		nx->prev = off;
	}
	sp = (struct shms__arena_span *)(void *)(h->base + off);
	sp->magic = SHMS__SPAN_MAGIC;
	sp->reserved = 0;
	sp->npages = n;
	sp->prev = 0;
	sp->next = m->bins[b];
	m->bins[b] = off;
	m->binmap[b / 64] |= UINT64_C(1) << (b % 64);
	h->pagemap[p] = SHMS__PM_MK(SHMS__PM_FREE, n);
	h->pagemap[p + n - 1] = SHMS__PM_MK(SHMS__PM_FREE, n);
	m->free_pages += n;
	m->nfree_spans++;
	return 0;
}

static int
span_unlink(struct shms__arena_heap *h, struct shms__arena_span *sp)
{
	struct shms__arena_meta *m = h->meta;
	struct shms__arena_span *o;
	uint64_t off = (uint64_t)((char *)sp - h->base);
	unsigned b = bin_of(sp->npages);

	if (m->free_pages < sp->npages || m->nfree_spans == 0)
		return corrupt(h, "free span counters below span at %#jx",
		    (uintmax_t)off);
	if (sp->prev != 0) {
		if ((o = span_get(h, sp->prev)) == NULL || o->next != off)
			return corrupt(h, "free span %#jx: bad prev link",
			    (uintmax_t)off);
		o->next = sp->next;
	} else {
		if (m->bins[b] != off)
			return corrupt(h, "free span %#jx: not its bin's head",
			    (uintmax_t)off);
		m->bins[b] = sp->next;
		if (sp->next == 0)
			m->binmap[b / 64] &= ~(UINT64_C(1) << (b % 64));
	}
	if (sp->next != 0) {
		if ((o = span_get(h, sp->next)) == NULL || o->prev != off)
			return corrupt(h, "free span %#jx: bad next link",
			    (uintmax_t)off);
		o->prev = sp->prev;
	}
	h->pagemap[off >> PSHIFT] = 0;
	h->pagemap[(off >> PSHIFT) + sp->npages - 1] = 0;
	sp->magic = 0;
	m->free_pages -= sp->npages;
	m->nfree_spans--;
	return 0;
}

/*
 * Returns pages [p, p+n) to the heap, merging with free neighbours. The
 * caller has cleared their pagemap entries.
 */
static int
span_free(struct shms__arena_heap *h, uint64_t p, uint64_t n)
{
	struct shms__arena_span *sp;
	uint64_t data = h->data_off >> PSHIFT, e;
	int rc;

	if (p > data && SHMS__PM_KIND(e = h->pagemap[p - 1]) == SHMS__PM_FREE) {
		uint64_t l = SHMS__PM_NPAGES(e);

		if (l == 0 || l > p - data ||
		    (sp = span_get(h, (p - l) << PSHIFT)) == NULL ||
		    sp->npages != l)
			return corrupt(h, "free span ending at page %ju "
			    "invalid", (uintmax_t)(p - 1));
		if ((rc = span_unlink(h, sp)) != 0)
			return rc;
		p -= l;
		n += l;
	}
	if (p + n < npages_now(h) &&
	    SHMS__PM_KIND(h->pagemap[p + n]) == SHMS__PM_FREE) {
		if ((sp = span_get(h, (p + n) << PSHIFT)) == NULL)
			return corrupt(h, "free span at page %ju invalid",
			    (uintmax_t)(p + n));
		n += sp->npages;
		if ((rc = span_unlink(h, sp)) != 0)
			return rc;
	}
	return span_push(h, p, n);
}

/*
 * Adds backing for at least need more pages, in steps of a quarter of the
 * arena so that a growing workload does not grow page by page, capped
 * at GROW_STEP_MAX (unless need is more): growth is backed at once
 * (fallocate), so a large step is memory held and not yet used (up to a
 * quarter of a large arena).
 */
#define GROW_STEP_MAX	(UINT64_C(2) << 20)

static int
heap_grow(struct shms__arena_heap *h, uint64_t need)
{
	struct shms__arena_meta *m = h->meta;
	uint64_t old = h->size, want, new, last = (old >> PSHIFT) - 1, e;
	int rc;

	/* A free span at the end merges with the new pages. */
	e = h->pagemap[last];
	if (SHMS__PM_KIND(e) == SHMS__PM_FREE && SHMS__PM_NPAGES(e) < need)
		need -= SHMS__PM_NPAGES(e);
	if (h->grow == NULL || old >= h->max_size ||
	    need > (h->max_size - old) >> PSHIFT) {
		snprintf(h->detail, sizeof(h->detail), "full: %ju more "
		    "pages needed, %ju bytes of at most %ju in use",
		    (uintmax_t)need, (uintmax_t)old, (uintmax_t)h->max_size);
		return SHMS_ENOSPACE;
	}
	want = old + (need << PSHIFT);
	if (want < old + old / 4)
		want = old + (old / 4 < GROW_STEP_MAX ? old / 4 : GROW_STEP_MAX);
	if (want < old + (need << PSHIFT))
		want = old + (need << PSHIFT);
	new = roundup(want, h->align);
	if (new > h->max_size || new < old)
		new = h->max_size;
	if ((rc = h->grow(h->grow_ctx, new)) != 0)
		return rc;
	m->size = h->size = new;
	return span_free(h, old >> PSHIFT, (new - old) >> PSHIFT);
}

/* Finds a free span of at least n pages. */
static int
span_find(struct shms__arena_heap *h, uint64_t n,
    struct shms__arena_span **out)
{
	struct shms__arena_meta *m = h->meta;
	struct shms__arena_span *sp;
	unsigned b = bin_of(n), w;
	uint64_t off, steps;

	for (w = b / 64; w < NBINS / 64; w++) {
		uint64_t bits = m->binmap[w];

		if (w == b / 64)
			bits &= ~UINT64_C(0) << (b % 64);
		if (bits == 0)
			continue;
		b = w * 64 + (unsigned)__builtin_ctzll(bits);
		if (b < BIGBIN) {
			if ((sp = span_get(h, m->bins[b])) == NULL ||
			    sp->npages != b)
				return corrupt(h, "free span bin %u head %#jx "
				    "invalid", b, (uintmax_t)m->bins[b]);
			*out = sp;
			return 0;
		}
		/* First fit among the long spans. */
		for (off = m->bins[b], steps = 0; off != 0; off = sp->next) {
			if (steps++ >= m->nfree_spans ||
			    steps > npages_now(h) ||
			    (sp = span_get(h, off)) == NULL)
				return corrupt(h, "long free span list broken "
				    "at %#jx", (uintmax_t)off);
			if (sp->npages >= n) {
				*out = sp;
				return 0;
			}
		}
		break;
	}
	return SHMS_ENOSPACE;
}

static int
pages_alloc(struct shms__arena_heap *h, uint64_t n, uint64_t *page)
{
	struct shms__arena_span *sp;
	uint64_t p, have;
	int rc;

	rc = span_find(h, n, &sp);
	if (rc == SHMS_ENOSPACE) {
		if ((rc = heap_grow(h, n)) != 0)
			return rc;
		rc = span_find(h, n, &sp);
	}
	if (rc != 0)
		return rc;
	p = (uint64_t)((char *)sp - h->base) >> PSHIFT;
	have = sp->npages;
	if ((rc = span_unlink(h, sp)) != 0)
		return rc;
	if (have > n && (rc = span_push(h, p + n, have - n)) != 0)
		return rc;
	*page = p;
	return 0;
}

/* ---- slabs ---- */

static struct shms__arena_slab *
slab_at(struct shms__arena_heap *h, uint64_t off)
{
	return (struct shms__arena_slab *)(void *)(h->base + off);
}

/* A slab header at off that is plausible for class c, or NULL. */
static struct shms__arena_slab *
slab_get(struct shms__arena_heap *h, uint64_t off, unsigned c)
{
	const struct shms__arena_geom *g = &h->geom[c];
	struct shms__arena_slab *sl;

	if ((off & (PAGE - 1)) != 0 || off < h->data_off || off >= h->size ||
	    g->npages > npages_now(h) - (off >> PSHIFT))
		return NULL;
	sl = slab_at(h, off);
	if (sl->magic != SHMS__SLAB_MAGIC || sl->cls != c ||
	    sl->npages != g->npages || sl->nobj != g->nobj ||
	    sl->nfree > sl->nobj || sl->bump > sl->nobj)
		return NULL;
	return sl;
}

static int
slab_link(struct shms__arena_heap *h, struct shms__arena_slab *sl,
    uint64_t off)
{
	struct shms__arena_class *cl = &h->meta->classes[sl->cls];
	struct shms__arena_slab *nx;

	if (cl->partial != 0) {
		if ((nx = slab_get(h, cl->partial, sl->cls)) == NULL)
			return corrupt(h, "class %u partial head %#jx invalid",
			    sl->cls, (uintmax_t)cl->partial);
		nx->prev = off;
	}
	sl->next = cl->partial;
	sl->prev = 0;
	cl->partial = off;
	cl->npartial++;
	return 0;
}

static int
slab_unlink(struct shms__arena_heap *h, struct shms__arena_slab *sl,
    uint64_t off)
{
	struct shms__arena_class *cl = &h->meta->classes[sl->cls];
	struct shms__arena_slab *o;

	if (cl->npartial == 0)
		return corrupt(h, "class %u partial count is 0", sl->cls);
	if (sl->prev != 0) {
		if ((o = slab_get(h, sl->prev, sl->cls)) == NULL ||
		    o->next != off)
			return corrupt(h, "slab %#jx: bad prev link",
			    (uintmax_t)off);
		o->next = sl->next;
	} else {
		if (cl->partial != off)
			return corrupt(h, "slab %#jx: not its class's head",
			    (uintmax_t)off);
		cl->partial = sl->next;
	}
	if (sl->next != 0) {
		if ((o = slab_get(h, sl->next, sl->cls)) == NULL ||
		    o->prev != off)
			return corrupt(h, "slab %#jx: bad next link",
			    (uintmax_t)off);
		o->prev = sl->prev;
	}
	sl->next = sl->prev = 0;
	cl->npartial--;
	return 0;
}

static int
slab_new(struct shms__arena_heap *h, unsigned c, uint64_t *out)
{
	const struct shms__arena_geom *g = &h->geom[c];
	struct shms__arena_slab *sl;
	uint64_t p, i;
	int rc;

	if ((rc = pages_alloc(h, g->npages, &p)) != 0)
		return rc;
	for (i = 0; i < g->npages; i++)
		h->pagemap[p + i] = SHMS__PM_MKSLAB(c, i);
	sl = slab_at(h, p << PSHIFT);
	memset(sl, 0, sizeof(*sl));
	sl->magic = SHMS__SLAB_MAGIC;
	sl->cls = (uint16_t)c;
	sl->npages = (uint16_t)g->npages;
	sl->nobj = g->nobj;
	sl->nfree = g->nobj;
	h->meta->slab_pages += g->npages;
	h->meta->classes[c].nslabs++;
	*out = p << PSHIFT;
	return slab_link(h, sl, *out);
}

static int
slab_release(struct shms__arena_heap *h, struct shms__arena_slab *sl,
    uint64_t off)
{
	struct shms__arena_meta *m = h->meta;
	uint64_t p = off >> PSHIFT, n = sl->npages, i;
	int rc;

	if ((rc = slab_unlink(h, sl, off)) != 0)
		return rc;
	if (m->slab_pages < n || m->classes[sl->cls].nslabs == 0)
		return corrupt(h, "slab counters below slab at %#jx",
		    (uintmax_t)off);
	m->slab_pages -= n;
	m->classes[sl->cls].nslabs--;
	sl->magic = 0;
	for (i = 0; i < n; i++)
		h->pagemap[p + i] = 0;
	return span_free(h, p, n);
}

/* Is o (an in-slab byte offset) the start of an object handed out? */
static int
slot_ok(const struct shms__arena_geom *g, const struct shms__arena_slab *sl,
    uint64_t o)
{
	uint64_t d, q;

	if (o < HDR)
		return 0;
	d = o - HDR;
	q = (d * g->recip) >> 40;
	return q < sl->bump && q * g->size == d;
}

static int
alloc_small(struct shms__arena_heap *h, unsigned c, uint64_t *off)
{
	const struct shms__arena_geom *g = &h->geom[c];
	struct shms__arena_meta *m = h->meta;
	struct shms__arena_slab *sl;
	uint64_t so = m->classes[c].partial;
	uint32_t o;
	int rc;

	if (so == 0 && (rc = slab_new(h, c, &so)) != 0)
		return rc;
	if ((sl = slab_get(h, so, c)) == NULL || sl->nfree == 0)
		return corrupt(h, "class %u partial slab %#jx invalid", c,
		    (uintmax_t)so);
	if (sl->free_head != 0) {
		o = sl->free_head;
		if (!slot_ok(g, sl, o))
			return corrupt(h, "slab %#jx: free object %#x invalid",
			    (uintmax_t)so, o);
		memcpy(&sl->free_head, h->base + so + o, sizeof(uint32_t));
	} else if (sl->bump < sl->nobj) {
		o = HDR + sl->bump * g->size;
		sl->bump++;
	} else {
		return corrupt(h, "slab %#jx: free count %u but no free object",
		    (uintmax_t)so, sl->nfree);
	}
	if (--sl->nfree == 0 && (rc = slab_unlink(h, sl, so)) != 0)
		return rc;
	m->nallocs++;
	m->in_use += g->size;
	*off = so + o;
	return 0;
}

static int
alloc_large(struct shms__arena_heap *h, size_t size, uint64_t *off)
{
	struct shms__arena_meta *m = h->meta;
	uint64_t n = ((uint64_t)size + PAGE - 1) >> PSHIFT, p;
	int rc;

	if ((uint64_t)size > h->max_size)
		return SHMS_ENOSPACE;
	if ((rc = pages_alloc(h, n, &p)) != 0)
		return rc;
	h->pagemap[p] = SHMS__PM_MK(SHMS__PM_LARGE, n);
	m->large_pages += n;
	m->nlarge++;
	m->nallocs++;
	m->in_use += n << PSHIFT;
	*off = p << PSHIFT;
	return 0;
}

/*
 * The geometry the handle trusts (checked at adopt) against what the
 * arena says now: a wild write to the metadata must not move our bounds.
 */
static int
geometry_ok(struct shms__arena_heap *h)
{
	const struct shms__arena_meta *m = h->meta;

	if (m->size != h->size || m->max_size != h->max_size ||
	    m->data_off != h->data_off || m->align != h->align)
		return corrupt(h, "arena metadata geometry changed under the "
		    "allocator (size %#jx, expected %#jx)",
		    (uintmax_t)m->size, (uintmax_t)h->size);
	return 0;
}

int
shms__arena_alloc(struct shms__arena_heap *h, size_t size, uint64_t *off)
{
	int rc;

	if ((rc = geometry_ok(h)) != 0)
		return rc;
	if (size <= SHMS__ARENA_SMALL_MAX)
		return alloc_small(h, shms__arena_class_of(size), off);
	return alloc_large(h, size, off);
}

/* What a live allocation's offset points at. */
struct where {
	int				 large;
	unsigned			 cls;
	uint64_t			 first;	/* slab or span offset */
	uint64_t			 npages;
	struct shms__arena_slab		*sl;
};

static int
locate(struct shms__arena_heap *h, uint64_t off, struct where *w)
{
	uint64_t p = off >> PSHIFT;
	uint32_t e;
	int rc;

	if ((rc = geometry_ok(h)) != 0)
		return rc;
	if (off < h->data_off || off >= h->size || (off & 15) != 0)
		return -EINVAL;
	e = h->pagemap[p];
	switch (SHMS__PM_KIND(e)) {
	case SHMS__PM_SLAB:
		w->large = 0;
		w->cls = SHMS__PM_CLASS(e);
		if (w->cls >= SHMS__ARENA_NCLASSES || SHMS__PM_DELTA(e) > p)
			return corrupt(h, "pagemap[%ju] %#x invalid",
			    (uintmax_t)p, e);
		w->first = (p - SHMS__PM_DELTA(e)) << PSHIFT;
		if ((w->sl = slab_get(h, w->first, w->cls)) == NULL)
			return corrupt(h, "slab %#jx (class %u) invalid",
			    (uintmax_t)w->first, w->cls);
		if (!slot_ok(&h->geom[w->cls], w->sl, off - w->first))
			return -EINVAL;
		return 0;
	case SHMS__PM_LARGE:
		w->large = 1;
		w->first = off;
		w->npages = SHMS__PM_NPAGES(e);
		if ((off & (PAGE - 1)) != 0)
			return -EINVAL;
		if (w->npages == 0 || w->npages > npages_now(h) - p)
			return corrupt(h, "pagemap[%ju] %#x invalid",
			    (uintmax_t)p, e);
		return 0;
	default:
		return -EINVAL;
	}
}

static int
free_at(struct shms__arena_heap *h, uint64_t off, const struct where *w)
{
	struct shms__arena_meta *m = h->meta;
	uint64_t sz;

	if (w->large) {
		sz = w->npages << PSHIFT;
		if (m->large_pages < w->npages || m->nlarge == 0 ||
		    m->nallocs == 0 || m->in_use < sz)
			return corrupt(h, "large counters below allocation "
			    "%#jx", (uintmax_t)off);
		h->pagemap[off >> PSHIFT] = 0;
		m->large_pages -= w->npages;
		m->nlarge--;
		m->nallocs--;
		m->in_use -= sz;
		return span_free(h, off >> PSHIFT, w->npages);
	} else {
		const struct shms__arena_geom *g = &h->geom[w->cls];
		struct shms__arena_slab *sl = w->sl;
		uint32_t o = (uint32_t)(off - w->first);
		int rc;

		if (sl->nfree >= sl->nobj)
			return -EINVAL;		/* double free */
		if (m->nallocs == 0 || m->in_use < g->size)
			return corrupt(h, "counters below allocation %#jx",
			    (uintmax_t)off);
		memcpy(h->base + off, &sl->free_head, sizeof(uint32_t));
		sl->free_head = o;
		m->nallocs--;
		m->in_use -= g->size;
		if (sl->nfree++ == 0 &&
		    (rc = slab_link(h, sl, w->first)) != 0)
			return rc;
		/* Keep one empty slab per class so alloc/free at a slab
		 * boundary does not carve and release pages each time. */
		if (sl->nfree == sl->nobj &&
		    m->classes[w->cls].npartial > 1)
			return slab_release(h, sl, w->first);
		return 0;
	}
}

int
shms__arena_free(struct shms__arena_heap *h, uint64_t off)
{
	struct where w;
	int rc;

	if (off == 0)
		return 0;
	if ((rc = locate(h, off, &w)) != 0)
		return rc;
	return free_at(h, off, &w);
}

int
shms__arena_usable(struct shms__arena_heap *h, uint64_t off, size_t *size)
{
	struct where w;
	int rc;

	if ((rc = locate(h, off, &w)) != 0)
		return rc;
	*size = w.large ? (size_t)(w.npages << PSHIFT) : h->geom[w.cls].size;
	return 0;
}

/* Grows or shrinks large allocation w in place; SHMS_ENOSPACE if it can't. */
static int
resize_large(struct shms__arena_heap *h, const struct where *w, uint64_t n)
{
	struct shms__arena_meta *m = h->meta;
	struct shms__arena_span *sp;
	uint64_t p = w->first >> PSHIFT, have, next = p + w->npages;
	int rc;

	if (n == w->npages)
		return 0;
	if (n < w->npages) {
		h->pagemap[p] = SHMS__PM_MK(SHMS__PM_LARGE, n);
		m->large_pages -= w->npages - n;
		m->in_use -= (w->npages - n) << PSHIFT;
		return span_free(h, p + n, w->npages - n);
	}
	if (next >= npages_now(h) ||
	    SHMS__PM_KIND(h->pagemap[next]) != SHMS__PM_FREE)
		return SHMS_ENOSPACE;
	if ((sp = span_get(h, next << PSHIFT)) == NULL)
		return corrupt(h, "free span at page %ju invalid",
		    (uintmax_t)next);
	have = sp->npages;
	if (w->npages + have < n)
		return SHMS_ENOSPACE;
	if ((rc = span_unlink(h, sp)) != 0)
		return rc;
	if (w->npages + have > n &&
	    (rc = span_push(h, p + n, w->npages + have - n)) != 0)
		return rc;
	h->pagemap[p] = SHMS__PM_MK(SHMS__PM_LARGE, n);
	m->large_pages += n - w->npages;
	m->in_use += (n - w->npages) << PSHIFT;
	return 0;
}

int
shms__arena_realloc(struct shms__arena_heap *h, uint64_t off, size_t size,
    uint64_t *out)
{
	struct where w;
	uint64_t cur, nw;
	int rc;

	if (off == 0)
		return shms__arena_alloc(h, size, out);
	if ((rc = locate(h, off, &w)) != 0)
		return rc;
	if (size == 0) {
		if ((rc = free_at(h, off, &w)) != 0)
			return rc;
		*out = 0;
		return 0;
	}
	cur = w.large ? w.npages << PSHIFT : h->geom[w.cls].size;
	if (!w.large && size <= cur && size > cur / 2) {
		*out = off;
		return 0;
	}
	if (w.large && size > SHMS__ARENA_SMALL_MAX &&
	    (uint64_t)size <= h->max_size) {
		rc = resize_large(h, &w, ((uint64_t)size + PAGE - 1) >> PSHIFT);
		if (rc != SHMS_ENOSPACE) {
			if (rc == 0)
				*out = off;
			return rc;
		}
	}
	if ((rc = shms__arena_alloc(h, size, &nw)) != 0)
		return rc;
	/* alloc may have grown the arena: the mapping never moves, so
	 * off is still valid. */
	memcpy(h->base + nw, h->base + off, cur < size ? cur : size);
	if ((rc = locate(h, off, &w)) != 0 || (rc = free_at(h, off, &w)) != 0)
		return rc;
	*out = nw;
	return 0;
}

int
shms__arena_format(char *base, uint64_t size, uint64_t max_size,
    uint64_t align)
{
	struct shms__arena_meta *m = (struct shms__arena_meta *)(void *)base;
	struct shms__arena_heap h;
	uint64_t pm, data, magic;
	int rc;

	if (align < PAGE || align % PAGE != 0 || size % align != 0 ||
	    max_size % align != 0 || size > max_size ||
	    max_size > SHMS__ARENA_MAX_SIZE)
		return -EINVAL;
	shms__arena_layout(max_size, &pm, &data);
	if (data >= size)
		return -EINVAL;
	memset(m, 0, sizeof(*m));
	m->version = SHMS__ARENA_VERSION;
	m->meta_size = sizeof(*m);
	m->page_size = PAGE;
	m->nclasses = SHMS__ARENA_NCLASSES;
	m->nbins = NBINS;
	m->size = size;
	m->max_size = max_size;
	m->align = align;
	m->pagemap_off = pm;
	m->data_off = data;
	shms__arena_heap_init(&h, base);
	memset(h.pagemap, 0, (size_t)((max_size >> PSHIFT) * sizeof(uint32_t)));
	if ((rc = span_push(&h, data >> PSHIFT, (size - data) >> PSHIFT)) != 0)
		return rc;
	/* Magic last, released, so a reader never sees it before the rest. */
	memcpy(&magic, SHMS__ARENA_MAGIC, sizeof(magic));
	__atomic_store_n((uint64_t *)(void *)m->magic, magic, __ATOMIC_RELEASE);
	return 0;
}
