/*
 * state_adopt.c: adopt mode (zero copy). Each shard's root, hash table
 * and items live all the time in its own arena, "arena.s<S>.<i>" (S the
 * shard count), referenced by offsets: a restart maps the arenas and
 * serves at once, whatever their size, with no copy and no fix-up pass.
 * A clean stop seals them. What cannot be adopted starts that shard cold,
 * with a log line: a missing arena, a dirty one (its owner died without
 * sealing: removed, never trusted), a layout mismatch, an implausible
 * root. Arenas of another shard count are re-sharded: their items are
 * copied into the new shards, then removed.
 *
 * Budget: items are charged their size-class size against the shard's
 * share of -m; the arena itself may grow to 9/8 of that share plus 1 MiB
 * (see arena_max), and when it is full first, the shard evicts.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shmstate.h"
#include "sc.h"

#define AD_LAYOUT	"shardcache-arena"
#define AD_INIT_ROOM	(UINT64_C(1) << 20)	/* beyond the metadata */
#define AD_LOCK_WAIT_NS	(UINT64_C(10) * 1000 * 1000 * 1000)	/* 10 s */

struct adopt_state {
	struct shms_svc		*svc;
	struct shms_arena	**arenas;	/* one per shard */
	unsigned		 n;
};

static sc_ref
arena_mem_alloc(void *arg, size_t size)
{
	uint64_t off;

	if (shms_arena_alloc(arg, size, &off) < 0)
		return 0;
	return off;
}

static void
arena_mem_free(void *arg, sc_ref ref, size_t size)
{
	(void)size;
	(void)shms_arena_free(arg, ref);
}

/* The arena's size classes: 16-byte steps to 128, then 8 per power of
 * two, whole pages above SHMS_ARENA_SMALL_MAX. */
static size_t
arena_mem_charge(size_t size)
{
	unsigned p;
	size_t step;

	if (size <= 128)
		return size == 0 ? 16 : (size + 15) & ~(size_t)15;
	if (size > SHMS_ARENA_SMALL_MAX)
		return (size + 4095) & ~(size_t)4095;
	p = 63u - (unsigned)__builtin_clzll((unsigned long long)size - 1);
	step = (size_t)1 << (p - 3);
	return (size + step - 1) & ~(step - 1);
}

static const struct sc_mem_ops arena_mem = {
	.alloc = arena_mem_alloc,
	.free = arena_mem_free,
	.charge = arena_mem_charge,
};

/*
 * The arena may not grow past its share of -m plus 1/8 for size-class
 * rounding and partly used slabs, plus 1 MiB for the allocator's own
 * metadata: when it is full first, the shard evicts (shard_alloc_item)
 * until the allocation fits. So shared memory stays within
 * -m * 9/8 + 1 MiB per shard whatever the mix of item sizes.
 */
static uint64_t
arena_max(const struct store *s)
{
	uint64_t share = s->maxbytes / s->nshards;

	return share + share / 8 + (UINT64_C(1) << 20);
}

/*
 * A new arena starts with 1 MiB of room plus the allocator's metadata
 * (8 KiB + 1/1024 of max_size, shms_arena_create(3)): a fixed 1 MiB
 * could not hold the metadata of an arena above ~1 GiB, so adopt mode
 * failed to start with -m above ~7 GiB at 8 shards.
 */
static uint64_t
arena_init_size(uint64_t max)
{
	return AD_INIT_ROOM + (UINT64_C(8) << 10) + max / 1024;
}

static void
arena_name(char *buf, size_t len, unsigned nshards, unsigned i)
{
	snprintf(buf, len, "s%u.%04u", nshards, i);
}

/* Re-sharding: arenas written for another shard count. */
struct old_arena {
	char		name[SHMS_NAME_MAX + 1];
};

/*
 * Lists "arena.s<N>.<i>" files with N != nshards in the service
 * directory (names only; adopting validates them).
 */
static int
list_old(const char *dir, unsigned nshards, struct old_arena **out,
    unsigned *nout)
{
	struct old_arena *old = NULL, *p;
	unsigned n, i, nold = 0, cap = 0;
	struct dirent *de;
	DIR *d;

	if ((d = opendir(dir)) == NULL)
		return -errno;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, "arena.s", 7) != 0 ||
		    sscanf(de->d_name, "arena.s%u.%u", &n, &i) != 2 ||
		    n == nshards || strlen(de->d_name) - 6 > SHMS_NAME_MAX)
			continue;
		if (nold == cap) {
			cap = cap ? cap * 2 : 16;
			if (cap > 2 * SC_SHARDS_MAX ||
			    (p = realloc(old, cap * sizeof(*old))) == NULL) {
				closedir(d);
				free(old);
				return -ENOMEM;
			}
			old = p;
		}
		snprintf(old[nold++].name, sizeof(old[0].name), "%s",
		    de->d_name + 6);
	}
	closedir(d);
	*out = old;
	*nout = nold;
	return 0;
}

/* Copies the live items of an old arena into the store, then removes it. */
static void
reshard_one(struct server *srv, struct adopt_state *as, const char *name,
    int64_t now)
{
	struct sc_state_info *si = &srv->state_info;
	struct shms_arena *a;
	struct shard_root *r;
	struct item *it;
	uint64_t size, n = 0;
	uintptr_t base;
	sc_ref ref;
	int rc;

	rc = shms_arena_adopt(as->svc, name, AD_LAYOUT, SC_LAYOUT_VERSION, 0,
	    &a);
	if (rc < 0) {
		log_warnx("state: old arena %s not re-sharded: %s", name,
		    shms_strerror(rc));
		(void)shms_arena_remove(as->svc, name);
		return;
	}
	base = (uintptr_t)shms_arena_base(a);
	size = shms_arena_size(a);
	ref = shms_arena_root(a);
	r = (struct shard_root *)(base + ref);
	if (ref == 0 || ref > size - sizeof(*r) || r->lru_head > size) {
		log_warnx("state: old arena %s: implausible root", name);
		(void)shms_arena_destroy(a);
		return;
	}
	/*
	 * Head first (stored lately, or read and given a second chance at
	 * the tail), so the hottest items are the ones that fit.
	 */
	for (ref = r->lru_head; ref != 0 && n <= r->nitems; ref = it->next) {
		if (ref > size - sizeof(*it))
			break;
		it = (struct item *)(base + ref);
		if (it->nkey == 0 || it->nbytes < 2 ||
		    (size - ref - sizeof(*it)) < (uint64_t)it->nkey +
		    it->nbytes)
			break;
		if (store_insert_adopted(&srv->store, ITEM_key(it), it->nkey,
		    it->flags, it->exptime, it->stime, it->cas, ITEM_data(it),
		    it->nbytes, now) == 0)
			si->items_adopted++;
		else
			si->items_dropped++;
		n++;
	}
	(void)shms_arena_destroy(a);
}

static int
reshard(struct server *srv, struct adopt_state *as)
{
	struct old_arena *old = NULL;
	unsigned i, nold = 0;
	int rc;

	rc = list_old(shms_svc_path(as->svc), srv->store.nshards, &old, &nold);
	if (rc < 0)
		return rc;
	if (nold > 0)
		log_info("state: re-sharding %u arenas of another shard count "
		    "into %u shards", nold, srv->store.nshards);
	for (i = 0; i < nold; i++)
		reshard_one(srv, as, old[i].name, sc_now());
	free(old);
	return (int)nold;
}

/*
 * Adopts arena `name', waiting a bounded time while it is locked. The
 * predecessor has released the service lock (we hold it) but may still be
 * exiting, or was killed and its teardown of a large mapping is still under
 * way: its arena locks go with its last file reference. A lock that
 * outlives the wait is reported, never broken.
 */
static int
adopt_wait(struct adopt_state *as, const char *name, struct shms_arena **a)
{
	const struct timespec step = { 0, 2 * 1000 * 1000 };	/* 2 ms */
	uint64_t deadline = sc_now_ns() + AD_LOCK_WAIT_NS;
	int rc, said = 0;

	for (;;) {
		rc = shms_arena_adopt(as->svc, name, AD_LAYOUT,
		    SC_LAYOUT_VERSION,
		    settings.verify_state ? SHMS_ARENA_VERIFY : 0, a);
		if (rc != SHMS_ELOCKED || sc_now_ns() >= deadline)
			return rc;
		if (!said++)
			log_info("state: arena %s is locked by an exiting "
			    "owner; waiting up to %d s", name,
			    (int)(AD_LOCK_WAIT_NS / 1000000000));
		(void)nanosleep(&step, NULL);
	}
}

static int
adopt_shard(struct server *srv, struct adopt_state *as, unsigned i)
{
	struct sc_state_info *si = &srv->state_info;
	struct shard *sh = &srv->store.shards[i];
	struct shms_arena *a = NULL;
	char name[SHMS_NAME_MAX + 1];
	sc_ref root;
	int rc;

	arena_name(name, sizeof(name), srv->store.nshards, i);
	rc = adopt_wait(as, name, &a);
	if (rc == SHMS_ELOCKED) {
		/*
		 * Still held after the wait: another live process owns it.
		 * Never remove or recreate what a live owner is using.
		 */
		log_warnx("state: arena %s is still owned by a live process: "
		    "%s", name, shms_errdetail(as->svc));
		return rc;
	}
	if (rc == 0) {
		rc = shard_attach(&srv->store, sh,
		    (uintptr_t)shms_arena_base(a), shms_arena_size(a),
		    &arena_mem, a, shms_arena_root(a), &root);
		if (rc == 0) {
			struct shms_arena_stats ast;

			as->arenas[i] = a;
			si->items_adopted += sh->root->nitems;
			si->items_dropped += sh->st.evictions;
			if (shms_arena_stats(a, &ast) == 0) {
				if (ast.generation > si->generation)
					si->generation = ast.generation;
				if (ast.max_size < arena_max(&srv->store))
					log_warnx("state: arena %s was made "
					    "for a smaller -m: it holds at most "
					    "%" PRIu64 " MiB until a cold start",
					    name, ast.max_size >> 20);
			}
			return 1;
		}
		log_warnx("state: arena %s: implausible root; shard %u "
		    "starts cold", name, i);
		(void)shms_arena_destroy(a);
	} else if (rc != SHMS_ENOTFOUND) {
		log_warnx("state: arena %s not adopted (%s); shard %u starts "
		    "cold", name, shms_strerror(rc), i);
		(void)shms_arena_remove(as->svc, name);
	}
	rc = shms_arena_create(as->svc, name, AD_LAYOUT, SC_LAYOUT_VERSION,
	    arena_init_size(arena_max(&srv->store)), arena_max(&srv->store), 0,
	    &a);
	if (rc < 0) {
		log_warnx("state: cannot create arena %s: %s: %s", name,
		    shms_strerror(rc), shms_errdetail(as->svc));
		return rc;
	}
	rc = shard_attach(&srv->store, sh, (uintptr_t)shms_arena_base(a),
	    shms_arena_size(a), &arena_mem, a, 0, &root);
	if (rc == 0)
		rc = shms_arena_root_set(a, root);
	if (rc < 0) {
		(void)shms_arena_destroy(a);
		return rc;
	}
	as->arenas[i] = a;
	return 0;
}

static int
adopt_open(struct server *srv)
{
	struct sc_state_info *si = &srv->state_info;
	struct adopt_state *as;
	uint64_t t0 = sc_now_ns();
	unsigned i, adopted = 0;
	int64_t fa = 0;
	int rc;

	si->mode = SC_STATE_ADOPT;
	si->restart = "cold";
	if ((as = calloc(1, sizeof(*as))) == NULL)
		return -ENOMEM;
	as->n = srv->store.nshards;
	if ((as->arenas = calloc(as->n, sizeof(*as->arenas))) == NULL) {
		free(as);
		return -ENOMEM;
	}
	srv->state_priv = as;
	rc = shms_svc_open(&as->svc, settings.state_dir[0] ?
	    settings.state_dir : NULL, settings.service, 0);
	if (rc < 0) {
		log_warnx("state: cannot open service %s: %s", settings.service,
		    shms_strerror(rc));
		as->svc = NULL;
		return rc;
	}
	for (i = 0; i < as->n; i++) {
		if ((rc = adopt_shard(srv, as, i)) < 0)
			return rc;
		adopted += (unsigned)rc;
		if (srv->store.shards[i].root->flush_at > fa)
			fa = srv->store.shards[i].root->flush_at;
	}
	if (fa > sc_now())
		__atomic_store_n(&srv->store.flush_at, fa, __ATOMIC_RELAXED);
	if ((rc = reshard(srv, as)) > 0)
		adopted = as->n;
	si->adopt_ns = sc_now_ns() - t0;
	if (adopted > 0) {
		si->restart = "adopt";
		log_info("state: adopted %u of %u shards in place, %" PRIu64
		    " items, in %.3f ms", adopted, as->n, si->items_adopted,
		    (double)si->adopt_ns / 1e6);
	} else {
		snprintf(si->reason, sizeof(si->reason), "no arenas to adopt");
		log_info("state: starting cold: no arenas to adopt");
	}
	return 0;
}

static int
adopt_save(struct server *srv)
{
	struct adopt_state *as = srv->state_priv;
	struct sc_state_info *si = &srv->state_info;
	uint64_t t0 = sc_now_ns(), items = 0;
	int64_t fa = __atomic_load_n(&srv->store.flush_at, __ATOMIC_RELAXED);
	struct shard *sh;
	unsigned i;
	int rc, err = 0;

	if (as == NULL)
		return 0;
	for (i = 0; i < as->n; i++) {
		if (as->arenas[i] == NULL)
			continue;
		sh = &srv->store.shards[i];
		pthread_mutex_lock(&sh->lock);
		sh->root->flush_at = fa;
		items += sh->root->nitems;
		/*
		 * We exit next: unmapping is left to exit(2), which then
		 * overlaps with our successor's start (~80 ms/GiB saved
		 * from the upgrade gap with 4 KiB pages).
		 */
		rc = shms_arena_seal(as->arenas[i], (settings.verify_state ?
		    SHMS_ARENA_SUM : 0) | SHMS_ARENA_KEEPMAP);
		as->arenas[i] = NULL;
		sh->root = NULL;	/* unmapped now */
		pthread_mutex_unlock(&sh->lock);
		if (rc < 0 && err == 0)
			err = rc;
	}
	si->last_ckpt_time = sc_now();
	si->last_ckpt_ns = sc_now_ns() - t0;
	si->last_ckpt_items = items;
	if (err < 0) {
		log_warnx("state: sealing arenas: %s: %s", shms_strerror(err),
		    shms_errdetail(as->svc));
		return err;
	}
	log_info("state: sealed %u arenas, %" PRIu64 " items, in %.3f ms",
	    as->n, items, (double)si->last_ckpt_ns / 1e6);
	/* X_SHMS_CHECKPOINT_US: main.c, once the state is released. */
	return 0;
}

static void
adopt_close(struct server *srv)
{
	struct adopt_state *as = srv->state_priv;
	unsigned i;

	if (as == NULL)
		return;
	/*
	 * Arenas still open here belong to a start that failed before any
	 * worker ran: nothing but consistent store operations touched them,
	 * so seal them rather than leave them dirty.
	 */
	for (i = 0; i < as->n; i++)
		if (as->arenas[i] != NULL)
			(void)shms_arena_seal(as->arenas[i], 0);
	(void)shms_svc_close(as->svc);
	free(as->arenas);
	free(as);
	srv->state_priv = NULL;
}

const struct sc_state_ops sc_state_adopt = {
	.name = "adopt",
	.open = adopt_open,
	.save = adopt_save,
	.close = adopt_close,
};
