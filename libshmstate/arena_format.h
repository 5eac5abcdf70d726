/*
 * Arena on-shm format and the allocator's internal interface. Internal;
 * never installed.
 *
 * An arena file "arena.<name>" is a segment (format.h header, kind
 * SHMS_KIND_ARENA) whose payload starts at payload_off (4096, or 2 MiB on
 * huge pages). References are offsets from the payload start (the arena
 * base). The payload is cut into 4 KiB pages:
 *
 *   [0, meta)            struct shms__arena_meta (offset 0: never a
 *                        valid allocation, so offset 0 is the null ref)
 *   [pagemap_off, ...)   one uint32_t per page of max_size
 *   [data_off, size)     pages handed to spans: free, large, or slab
 *
 * Everything here is little-endian, naturally aligned, and pinned by the
 * _Static_asserts below. Changes must bump SHMS__ARENA_VERSION.
 */
#ifndef SHMS_ARENA_FORMAT_H
#define SHMS_ARENA_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#define SHMS__ARENA_MAGIC	"SHMSAREN"	/* 8 bytes, no NUL */
#define SHMS__ARENA_VERSION	1u
#define SHMS__ARENA_PSHIFT	12u
#define SHMS__ARENA_PAGE	(1u << SHMS__ARENA_PSHIFT)
#define SHMS__ARENA_HUGE	(UINT64_C(2) << 20)

/*
 * Size classes: multiples of 16 up to 128, then 8 classes per doubling
 * (12.5% spacing, so internal fragmentation stays under 12.5%) up to
 * SMALL_MAX. Larger requests are page-granular spans.
 */
#define SHMS__ARENA_NCLASSES	72u
#define SHMS__ARENA_SMALL_MAX	32768u
#define SHMS__ARENA_SLAB_HDR	64u	/* in-band slab header, objects follow */
#define SHMS__ARENA_SLAB_MIN	16u	/* pages per slab, at least */

/*
 * Free page spans sit in bins by length: bins 1..NBINS-2 hold spans of
 * exactly that many pages, bin NBINS-1 everything longer (first fit).
 */
#define SHMS__ARENA_NBINS	256u

/*
 * Largest payload (and max_size): page numbers fit in 30 bits of a
 * pagemap entry. 4 TiB of virtual address space is reserved at most.
 */
#define SHMS__ARENA_MAX_SIZE	(UINT64_C(1) << 42)

/* Pagemap entry: kind in the top 2 bits. */
#define SHMS__PM_KIND(e)	((e) >> 30)
#define SHMS__PM_NONE		0u	/* interior of a span, or metadata */
#define SHMS__PM_FREE		1u	/* first/last page of a free span */
#define SHMS__PM_LARGE		2u	/* first page of a large allocation */
#define SHMS__PM_SLAB		3u	/* any page of a slab */
#define SHMS__PM_NPAGES(e)	((e) & 0x3fffffffu)	/* FREE, LARGE */
#define SHMS__PM_DELTA(e)	((e) & 0xffffu)		/* SLAB: page - first */
#define SHMS__PM_CLASS(e)	(((e) >> 16) & 0xffu)	/* SLAB */
#define SHMS__PM_MK(k, v)	(((uint32_t)(k) << 30) | (uint32_t)(v))
#define SHMS__PM_MKSLAB(c, d)	SHMS__PM_MK(SHMS__PM_SLAB, \
				    ((uint32_t)(c) << 16) | (uint32_t)(d))

struct shms__arena_class {
	uint64_t	partial;	/* first slab with free objects, or 0 */
	uint64_t	npartial;	/* length of that list */
	uint64_t	nslabs;		/* slabs of this class, full or not */
	uint64_t	reserved;
};

struct shms__arena_meta {
	uint8_t		magic[8];	/* SHMS__ARENA_MAGIC, written last */
	uint32_t	version;	/* SHMS__ARENA_VERSION */
	uint32_t	meta_size;	/* sizeof(struct shms__arena_meta) */
	uint32_t	page_size;	/* SHMS__ARENA_PAGE */
	uint32_t	nclasses;	/* SHMS__ARENA_NCLASSES */
	uint32_t	nbins;		/* SHMS__ARENA_NBINS */
	uint32_t	flags;		/* zero */
	uint64_t	size;		/* payload bytes backed by the file now */
	uint64_t	max_size;	/* payload bytes the arena may grow to */
	uint64_t	align;		/* growth granularity (page or 2 MiB) */
	uint64_t	pagemap_off;
	uint64_t	data_off;	/* first page any span may use */
	uint64_t	root;		/* the application's root reference */
	/* Counters; every list walk is bounded by them. */
	uint64_t	nallocs;	/* live allocations */
	uint64_t	in_use;		/* their usable bytes */
	uint64_t	free_pages;	/* pages in free spans */
	uint64_t	nfree_spans;
	uint64_t	slab_pages;
	uint64_t	large_pages;
	uint64_t	nlarge;		/* live large allocations */
	uint64_t	reserved[5];
	uint64_t	binmap[SHMS__ARENA_NBINS / 64];	/* bin non-empty */
	uint64_t	bins[SHMS__ARENA_NBINS];	/* first span, or 0 */
	struct shms__arena_class classes[SHMS__ARENA_NCLASSES];
};

/* In-band header of a free span, at its first page. */
#define SHMS__SPAN_MAGIC	0x4e415053u	/* "SPAN" */
struct shms__arena_span {
	uint32_t	magic;
	uint32_t	reserved;
	uint64_t	npages;
	uint64_t	next;		/* bin list, offsets, 0 = end */
	uint64_t	prev;
};

/*
 * In-band header of a slab, at its first page. Objects start at
 * SHMS__ARENA_SLAB_HDR; objects [bump, nobj) were never handed out, so a
 * fresh slab touches its pages only as they are used. Free objects hold
 * the in-slab byte offset of the next free one in their first 4 bytes.
 */
#define SHMS__SLAB_MAGIC	0x42414c53u	/* "SLAB" */
struct shms__arena_slab {
	uint32_t	magic;
	uint16_t	cls;
	uint16_t	npages;
	uint32_t	nobj;
	uint32_t	nfree;		/* free objects, never-used included */
	uint32_t	bump;
	uint32_t	free_head;	/* in-slab offset of a free object, 0 */
	uint64_t	next;		/* class partial list, offsets */
	uint64_t	prev;
	uint8_t		reserved[SHMS__ARENA_SLAB_HDR - 40];
};

_Static_assert(sizeof(struct shms__arena_class) == 32, "class size");
_Static_assert(offsetof(struct shms__arena_meta, size) == 32, "meta size");
_Static_assert(offsetof(struct shms__arena_meta, root) == 72, "meta root");
_Static_assert(offsetof(struct shms__arena_meta, binmap) == 176,
    "meta binmap");
_Static_assert(offsetof(struct shms__arena_meta, bins) == 208, "meta bins");
_Static_assert(offsetof(struct shms__arena_meta, classes) == 2256,
    "meta classes");
_Static_assert(sizeof(struct shms__arena_meta) == 4560, "meta sizeof");
_Static_assert(sizeof(struct shms__arena_span) == 32, "span size");
_Static_assert(sizeof(struct shms__arena_slab) == SHMS__ARENA_SLAB_HDR,
    "slab size");
_Static_assert(SHMS__ARENA_NBINS % 64 == 0, "binmap words");

/* ------------------------------------------------------------------ */
/* Allocator internals (arena_alloc.c, arena_verify.c)                 */
/* ------------------------------------------------------------------ */

/* Per-class geometry, derived from the class number; handle-local. */
struct shms__arena_geom {
	uint32_t	size;
	uint32_t	npages;
	uint32_t	nobj;
	uint64_t	recip;		/* ceil(2^40 / size), exact division */
};

/*
 * The allocator's view of a mapped arena. base is the payload start; the
 * mapping is never moved, so growing only raises meta->size.
 * grow(ctx, new_size) backs payload bytes up to new_size (file and
 * mapping) or returns a negative code; NULL means the arena cannot grow.
 */
struct shms__arena_heap {
	char			*base;
	struct shms__arena_meta	*meta;
	uint32_t		*pagemap;
	/* Copies of the validated geometry: bounds never come from shm. */
	uint64_t		 size;
	uint64_t		 max_size;
	uint64_t		 data_off;
	uint64_t		 align;
	int			(*grow)(void *ctx, uint64_t new_size);
	void			*grow_ctx;
	char			 detail[256];	/* why SHMS_ECORRUPT */
	struct shms__arena_geom	 geom[SHMS__ARENA_NCLASSES];
};

/* Payload layout for a given max_size: where the pagemap and data start. */
void	 shms__arena_layout(uint64_t max_size, uint64_t *pagemap_off,
	    uint64_t *data_off);

/* Class for a request of size bytes (1..SMALL_MAX). */
unsigned shms__arena_class_of(size_t size);

/* Fills the per-class geometry table. */
void	 shms__arena_geom_init(struct shms__arena_geom *geom);

/*
 * Formats a fresh arena over base[0, size) (zeroed memory, e.g. a new
 * file) that may grow to max_size bytes in steps of align. Writes the
 * magic last. size and max_size must be multiples of align, which is a
 * multiple of the page; SHMS__ARENA_MAX_SIZE at most; -EINVAL if the
 * metadata and one page do not fit in size.
 */
int	 shms__arena_format(char *base, uint64_t size, uint64_t max_size,
	    uint64_t align);

/*
 * Attaches heap to a formatted arena at base without checking it (see
 * shms__arena_check for that).
 */
void	 shms__arena_heap_init(struct shms__arena_heap *h, char *base);

/*
 * Allocator calls. Not thread-safe: the caller serializes. Return 0,
 * -EINVAL (bad argument, or an offset that is not a live allocation's),
 * SHMS_ENOSPACE (nothing changed), SHMS_ECORRUPT (h->detail says why),
 * or the grow callback's error.
 */
int	 shms__arena_alloc(struct shms__arena_heap *h, size_t size,
	    uint64_t *off);
int	 shms__arena_free(struct shms__arena_heap *h, uint64_t off);
int	 shms__arena_realloc(struct shms__arena_heap *h, uint64_t off,
	    size_t size, uint64_t *out);
int	 shms__arena_usable(struct shms__arena_heap *h, uint64_t off,
	    size_t *size);

/* What shms__arena_check found. */
struct shms__arena_check_res {
	uint64_t	size;
	uint64_t	max_size;
	uint64_t	root;
	uint64_t	nallocs;
	uint64_t	in_use;
	uint64_t	free_pages;
	uint64_t	nfree_spans;
	uint64_t	slab_pages;
	uint64_t	large_pages;
	uint64_t	meta_bytes;	/* data_off */
	uint64_t	slab_free_bytes;	/* free slots in partial slabs */
	uint64_t	largest_free;	/* bytes; full check only */
};

/*
 * Validates the allocator metadata of an arena payload of which len bytes
 * are readable at base: scalars (copied out once), every free page-span
 * list and partial-slab list with each slab's header and free-list head
 * (offsets in bounds and aligned, lengths bounded by the counters, cycles
 * caught by step bounds) and, with full, the whole pagemap, every slab
 * and every free object list. Without full the cost grows with the number
 * of free spans and partial slabs, not with the arena's size. Never reads outside [base, base + len), never
 * loops unboundedly. Returns 0 and fills *res (may be NULL), or
 * SHMS_ECORRUPT with a reason in detail (SHMS_DETAIL_MAX bytes).
 * Also the fuzzing entry point for arena metadata.
 */
int	 shms__arena_check(const char *base, uint64_t len, int full,
	    struct shms__arena_check_res *res, char *detail);

/* The counters of m (a copy, or our own live metadata), no walk. */
void	 shms__arena_counters(struct shms__arena_check_res *r,
	    const struct shms__arena_meta *m);

#endif /* SHMS_ARENA_FORMAT_H */
