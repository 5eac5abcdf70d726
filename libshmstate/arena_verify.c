/*
 * arena_verify.c: validation of an arena's allocator metadata.
 *
 * The arena was written by another process: everything is untrusted.
 * Scalars are copied out once; every offset is bounds- and alignment-
 * checked before it is read; every list walk is bounded by a counter from
 * the (already validated) scalars, so a cycle ends in an error, not a hang.
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

struct vctx {
	const char			*base;
	struct shms__arena_meta		 m;	/* copied out */
	uint64_t			 total;	/* pages backed */
	uint64_t			 data;	/* first data page */
	struct shms__arena_geom		 geom[SHMS__ARENA_NCLASSES];
	char				*detail;
};

static int bad(struct vctx *, int, const char *, ...) SHMS__PRINTF(3, 4);

static int
bad(struct vctx *v, int code, const char *fmt, ...)
{
	va_list ap;

	if (v->detail != NULL) {
		va_start(ap, fmt);
		vsnprintf(v->detail, SHMS_DETAIL_MAX, fmt, ap);
		va_end(ap);
	}
	return code;
}

/* Pagemap entry of page p (< total). */
static uint32_t
pm(const struct vctx *v, uint64_t p)
{
	uint32_t e;

	memcpy(&e, v->base + v->m.pagemap_off + p * sizeof(e), sizeof(e));
	return e;
}

static unsigned
bin_of(uint64_t n)
{
	return n < NBINS - 1 ? (unsigned)n : NBINS - 1;
}

static int
check_scalars(struct vctx *v, uint64_t len)
{
	const struct shms__arena_meta *m = &v->m;
	uint64_t pmo, data, pages, sum;
	unsigned i;

	if (memcmp(m->magic, SHMS__ARENA_MAGIC, sizeof(m->magic)) != 0)
		return bad(v, SHMS_ECORRUPT, "arena metadata: bad magic");
	if (m->version != SHMS__ARENA_VERSION)
		return bad(v, SHMS_EFORMAT, "arena metadata version %u, "
		    "expected %u", m->version, SHMS__ARENA_VERSION);
	if (m->meta_size != sizeof(*m) || m->page_size != PAGE ||
	    m->nclasses != SHMS__ARENA_NCLASSES || m->nbins != NBINS ||
	    m->flags != 0)
		return bad(v, SHMS_ECORRUPT, "arena metadata: geometry "
		    "(meta %u page %u classes %u bins %u flags %#x) not ours",
		    m->meta_size, m->page_size, m->nclasses, m->nbins,
		    m->flags);
	if ((m->align != PAGE && m->align != SHMS__ARENA_HUGE) ||
	    m->size % m->align != 0 || m->max_size % m->align != 0 ||
	    m->size > m->max_size || m->max_size > SHMS__ARENA_MAX_SIZE)
		return bad(v, SHMS_ECORRUPT, "arena metadata: size %ju max "
		    "%ju align %ju invalid", (uintmax_t)m->size,
		    (uintmax_t)m->max_size, (uintmax_t)m->align);
	if (m->size > len)
		return bad(v, SHMS_ETRUNC, "arena metadata: size %ju but only "
		    "%ju bytes present", (uintmax_t)m->size, (uintmax_t)len);
	shms__arena_layout(m->max_size, &pmo, &data);
	if (m->pagemap_off != pmo || m->data_off != data || data >= m->size)
		return bad(v, SHMS_ECORRUPT, "arena metadata: pagemap %#jx "
		    "data %#jx, expected %#jx %#jx", (uintmax_t)m->pagemap_off,
		    (uintmax_t)m->data_off, (uintmax_t)pmo, (uintmax_t)data);
	v->total = m->size >> PSHIFT;
	v->data = data >> PSHIFT;
	if (m->root != 0 && (m->root < data || m->root >= m->size))
		return bad(v, SHMS_ECORRUPT, "arena root %#jx out of bounds",
		    (uintmax_t)m->root);
	pages = v->total - v->data;
	if (m->free_pages > pages || m->slab_pages > pages ||
	    m->large_pages > pages ||
	    m->free_pages + m->slab_pages + m->large_pages != pages)
		return bad(v, SHMS_ECORRUPT, "arena page counters (free %ju "
		    "slab %ju large %ju) do not add up to %ju",
		    (uintmax_t)m->free_pages, (uintmax_t)m->slab_pages,
		    (uintmax_t)m->large_pages, (uintmax_t)pages);
	if (m->nfree_spans > m->free_pages || m->nlarge > m->large_pages ||
	    m->nallocs < m->nlarge ||
	    m->in_use > (m->slab_pages + m->large_pages) << PSHIFT)
		return bad(v, SHMS_ECORRUPT, "arena counters inconsistent "
		    "(spans %ju large %ju allocs %ju in use %ju)",
		    (uintmax_t)m->nfree_spans, (uintmax_t)m->nlarge,
		    (uintmax_t)m->nallocs, (uintmax_t)m->in_use);
	for (i = 0; i < NBINS; i++) {
		int bit = (m->binmap[i / 64] >> (i % 64)) & 1;

		if (bit != (m->bins[i] != 0) || (i == 0 && m->bins[i] != 0))
			return bad(v, SHMS_ECORRUPT, "arena bin %u: bitmap "
			    "and list disagree", i);
	}
	for (i = 0, sum = 0; i < SHMS__ARENA_NCLASSES; i++) {
		const struct shms__arena_class *cl = &m->classes[i];

		if (cl->npartial > cl->nslabs ||
		    cl->nslabs > pages / v->geom[i].npages)
			return bad(v, SHMS_ECORRUPT, "arena class %u: %ju "
			    "partial of %ju slabs", i,
			    (uintmax_t)cl->npartial, (uintmax_t)cl->nslabs);
		sum += cl->nslabs * v->geom[i].npages;
	}
	if (sum != m->slab_pages)
		return bad(v, SHMS_ECORRUPT, "arena slab pages %ju, classes "
		    "hold %ju", (uintmax_t)m->slab_pages, (uintmax_t)sum);
	return 0;
}

/* Offset off must be a data page: page aligned, inside [data, total). */
static int
page_off_ok(const struct vctx *v, uint64_t off)
{
	return (off & (PAGE - 1)) == 0 && (off >> PSHIFT) >= v->data &&
	    (off >> PSHIFT) < v->total;
}

static int
check_bins(struct vctx *v, struct shms__arena_check_res *r)
{
	uint64_t budget = v->m.nfree_spans, nspans = 0, pages = 0;
	unsigned b;

	for (b = 1; b < NBINS; b++) {
		uint64_t off = v->m.bins[b], prev = 0;

		while (off != 0) {
			struct shms__arena_span sp;
			uint64_t p = off >> PSHIFT;

			if (nspans++ >= budget)
				return bad(v, SHMS_ECORRUPT, "arena free "
				    "lists longer than their count %ju (cycle?)",
				    (uintmax_t)budget);
			if (!page_off_ok(v, off))
				return bad(v, SHMS_ECORRUPT, "arena bin %u: "
				    "span offset %#jx out of bounds", b,
				    (uintmax_t)off);
			memcpy(&sp, v->base + off, sizeof(sp));
			if (sp.magic != SHMS__SPAN_MAGIC || sp.npages == 0 ||
			    sp.npages > v->total - p ||
			    bin_of(sp.npages) != b || sp.prev != prev ||
			    pm(v, p) != SHMS__PM_MK(SHMS__PM_FREE, sp.npages) ||
			    pm(v, p + sp.npages - 1) !=
			    SHMS__PM_MK(SHMS__PM_FREE, sp.npages))
				return bad(v, SHMS_ECORRUPT, "arena bin %u: "
				    "span at %#jx invalid", b, (uintmax_t)off);
			pages += sp.npages;
			if (sp.npages << PSHIFT > r->largest_free)
				r->largest_free = sp.npages << PSHIFT;
			prev = off;
			off = sp.next;
		}
	}
	if (nspans != v->m.nfree_spans || pages != v->m.free_pages)
		return bad(v, SHMS_ECORRUPT, "arena free lists hold %ju spans "
		    "%ju pages, counters say %ju %ju", (uintmax_t)nspans,
		    (uintmax_t)pages, (uintmax_t)v->m.nfree_spans,
		    (uintmax_t)v->m.free_pages);
	return 0;
}

/* Is o the in-slab offset of an object below bump? */
static int
slot_ok(const struct shms__arena_geom *g, uint32_t bump, uint64_t o)
{
	return o >= HDR && (o - HDR) % g->size == 0 &&
	    (o - HDR) / g->size < bump;
}

/*
 * Checks the slab at page p of class c: pagemap, header, and the head of
 * its free object list; with full, every page's pagemap entry and the
 * whole free list. Returns its free object count in *nfree.
 */
static int
check_slab(struct vctx *v, uint64_t p, unsigned c, int full,
    uint32_t *nfree)
{
	const struct shms__arena_geom *g = &v->geom[c];
	struct shms__arena_slab sl;
	uint64_t off = p << PSHIFT, i, steps, limit;
	uint32_t o;

	if (p < v->data || g->npages > v->total - p)
		return bad(v, SHMS_ECORRUPT, "arena slab %#jx out of bounds",
		    (uintmax_t)off);
	for (i = 0; i < (full ? g->npages : 1); i++)
		if (pm(v, p + i) != SHMS__PM_MKSLAB(c, i))
			return bad(v, SHMS_ECORRUPT, "arena slab %#jx: "
			    "pagemap[%ju] %#x", (uintmax_t)off,
			    (uintmax_t)(p + i), pm(v, p + i));
	memcpy(&sl, v->base + off, sizeof(sl));
	if (sl.magic != SHMS__SLAB_MAGIC || sl.cls != c ||
	    sl.npages != g->npages || sl.nobj != g->nobj ||
	    sl.bump > sl.nobj || sl.nfree > sl.nobj ||
	    sl.nfree < sl.nobj - sl.bump)
		return bad(v, SHMS_ECORRUPT, "arena slab %#jx (class %u): "
		    "header invalid", (uintmax_t)off, c);
	limit = sl.nfree - (sl.nobj - sl.bump);
	if (!full) {
		/* The head only: the allocator checks each link it pops. */
		if ((sl.free_head == 0) != (limit == 0) ||
		    (sl.free_head != 0 && !slot_ok(g, sl.bump, sl.free_head)))
			return bad(v, SHMS_ECORRUPT, "arena slab %#jx: free "
			    "list head %#x invalid", (uintmax_t)off,
			    sl.free_head);
		*nfree = sl.nfree;
		return 0;
	}
	for (o = sl.free_head, steps = 0; o != 0; steps++) {
		if (steps >= limit || !slot_ok(g, sl.bump, o))
			return bad(v, SHMS_ECORRUPT, "arena slab %#jx: free "
			    "list broken at %#x", (uintmax_t)off, o);
		memcpy(&o, v->base + off + o, sizeof(o));
	}
	if (steps != limit)
		return bad(v, SHMS_ECORRUPT, "arena slab %#jx: %ju free "
		    "objects listed, header says %ju", (uintmax_t)off,
		    (uintmax_t)steps, (uintmax_t)limit);
	*nfree = sl.nfree;
	return 0;
}

static int
check_partial(struct vctx *v, struct shms__arena_check_res *r)
{
	unsigned c;
	int rc;

	for (c = 0; c < SHMS__ARENA_NCLASSES; c++) {
		const struct shms__arena_class *cl = &v->m.classes[c];
		uint64_t off = cl->partial, prev = 0, n = 0;

		while (off != 0) {
			struct shms__arena_slab sl;
			uint32_t nfree;

			if (n++ >= cl->npartial)
				return bad(v, SHMS_ECORRUPT, "arena class %u: "
				    "partial list longer than %ju (cycle?)", c,
				    (uintmax_t)cl->npartial);
			if (!page_off_ok(v, off))
				return bad(v, SHMS_ECORRUPT, "arena class %u: "
				    "slab offset %#jx out of bounds", c,
				    (uintmax_t)off);
			if ((rc = check_slab(v, off >> PSHIFT, c, 0,
			    &nfree)) != 0)
				return rc;
			memcpy(&sl, v->base + off, sizeof(sl));
			if (nfree == 0 || sl.prev != prev)
				return bad(v, SHMS_ECORRUPT, "arena slab %#jx: "
				    "in partial list of class %u wrongly",
				    (uintmax_t)off, c);
			r->slab_free_bytes += (uint64_t)nfree *
			    v->geom[c].size;
			prev = off;
			off = sl.next;
		}
		if (n != cl->npartial)
			return bad(v, SHMS_ECORRUPT, "arena class %u: %ju "
			    "partial slabs listed, count %ju", c, (uintmax_t)n,
			    (uintmax_t)cl->npartial);
	}
	return 0;
}

/* Every page, every span, every slab; counters recomputed. */
static int
check_full(struct vctx *v)
{
	uint64_t nfree = 0, fpages = 0, nlarge = 0, lpages = 0, spages = 0;
	uint64_t nallocs = 0, in_use = 0, p = v->data, i, n;
	uint64_t nslabs[SHMS__ARENA_NCLASSES] = { 0 };
	uint64_t npart[SHMS__ARENA_NCLASSES] = { 0 };
	int rc, prev_free = 0;
	unsigned c;

	for (i = 0; i < v->data; i++)
		if (pm(v, i) != 0)
			return bad(v, SHMS_ECORRUPT, "arena pagemap[%ju] of a "
			    "metadata page is %#x", (uintmax_t)i, pm(v, i));
	while (p < v->total) {
		uint32_t e = pm(v, p), fr;

		switch (SHMS__PM_KIND(e)) {
		case SHMS__PM_FREE:
		case SHMS__PM_LARGE:
			n = SHMS__PM_NPAGES(e);
			if (n == 0 || n > v->total - p)
				return bad(v, SHMS_ECORRUPT, "arena pagemap"
				    "[%ju] %#x: bad length", (uintmax_t)p, e);
			for (i = 1; i < n; i++)
				if (pm(v, p + i) != (i == n - 1 &&
				    SHMS__PM_KIND(e) == SHMS__PM_FREE ? e : 0))
					return bad(v, SHMS_ECORRUPT, "arena "
					    "pagemap[%ju] %#x inside a span",
					    (uintmax_t)(p + i), pm(v, p + i));
			if (SHMS__PM_KIND(e) == SHMS__PM_FREE) {
				struct shms__arena_span sp;

				memcpy(&sp, v->base + (p << PSHIFT),
				    sizeof(sp));
				if (prev_free || sp.magic != SHMS__SPAN_MAGIC ||
				    sp.npages != n)
					return bad(v, SHMS_ECORRUPT, "arena "
					    "free span at page %ju invalid or "
					    "not merged", (uintmax_t)p);
				nfree++;
				fpages += n;
				prev_free = 1;
			} else {
				nlarge++;
				lpages += n;
				nallocs++;
				in_use += n << PSHIFT;
				prev_free = 0;
			}
			p += n;
			break;
		case SHMS__PM_SLAB:
			c = SHMS__PM_CLASS(e);
			if (c >= SHMS__ARENA_NCLASSES || SHMS__PM_DELTA(e) != 0)
				return bad(v, SHMS_ECORRUPT, "arena pagemap"
				    "[%ju] %#x: bad slab start", (uintmax_t)p,
				    e);
			if ((rc = check_slab(v, p, c, 1, &fr)) != 0)
				return rc;
			nslabs[c]++;
			npart[c] += fr > 0;
			spages += v->geom[c].npages;
			nallocs += v->geom[c].nobj - fr;
			in_use += (uint64_t)(v->geom[c].nobj - fr) *
			    v->geom[c].size;
			p += v->geom[c].npages;
			prev_free = 0;
			break;
		default:
			return bad(v, SHMS_ECORRUPT, "arena page %ju belongs "
			    "to no span", (uintmax_t)p);
		}
	}
	for (c = 0; c < SHMS__ARENA_NCLASSES; c++)
		if (nslabs[c] != v->m.classes[c].nslabs ||
		    npart[c] != v->m.classes[c].npartial)
			return bad(v, SHMS_ECORRUPT, "arena class %u: %ju slabs "
			    "(%ju partial) found, counters say %ju (%ju)", c,
			    (uintmax_t)nslabs[c], (uintmax_t)npart[c],
			    (uintmax_t)v->m.classes[c].nslabs,
			    (uintmax_t)v->m.classes[c].npartial);
	if (nfree != v->m.nfree_spans || fpages != v->m.free_pages ||
	    nlarge != v->m.nlarge || lpages != v->m.large_pages ||
	    spages != v->m.slab_pages || nallocs != v->m.nallocs ||
	    in_use != v->m.in_use)
		return bad(v, SHMS_ECORRUPT, "arena counters differ from the "
		    "pagemap (allocs %ju/%ju, in use %ju/%ju)",
		    (uintmax_t)nallocs, (uintmax_t)v->m.nallocs,
		    (uintmax_t)in_use, (uintmax_t)v->m.in_use);
	return 0;
}

int
shms__arena_check(const char *base, uint64_t len, int full,
    struct shms__arena_check_res *res, char *detail)
{
	struct shms__arena_check_res r;
	struct vctx *v, vs;
	int rc;

	v = &vs;
	memset(&r, 0, sizeof(r));
	v->base = base;
	v->detail = detail;
	if (len < sizeof(v->m))
		return bad(v, SHMS_ETRUNC, "arena payload %ju bytes, shorter "
		    "than its metadata", (uintmax_t)len);
	memcpy(&v->m, base, sizeof(v->m));
	shms__arena_geom_init(v->geom);
	if ((rc = check_scalars(v, len)) != 0 ||
	    (rc = check_bins(v, &r)) != 0 ||
	    (rc = check_partial(v, &r)) != 0 ||
	    (full && (rc = check_full(v)) != 0))
		return rc;
	if (res != NULL) {
		shms__arena_counters(res, &v->m);
		res->slab_free_bytes = r.slab_free_bytes;
		res->largest_free = r.largest_free;
	}
	return 0;
}

void
shms__arena_counters(struct shms__arena_check_res *r,
    const struct shms__arena_meta *m)
{
	memset(r, 0, sizeof(*r));
	r->size = m->size;
	r->max_size = m->max_size;
	r->root = m->root;
	r->nallocs = m->nallocs;
	r->in_use = m->in_use;
	r->free_pages = m->free_pages;
	r->nfree_spans = m->nfree_spans;
	r->slab_pages = m->slab_pages;
	r->large_pages = m->large_pages;
	r->meta_bytes = m->data_off;
}
