/*
 * store.c: the sharded item store.
 *
 * The key space is split into nshards shards by the top bits of the key's
 * XXH3; the low bits pick the bucket. Each shard has its own lock, chained
 * hash table with intrusive items, LRU list and memory budget
 * (maxbytes / nshards), so shards never contend with each other and can be
 * checkpointed and adopted independently. An item is one allocation:
 * header, key, value and "\r\n".
 *
 * Every item and table charges its shard's budget; items allocated for a
 * store command in flight (pending) are charged too, so memory stays
 * within -m whatever clients send. Eviction takes from the LRU tail,
 * giving an item read since it was last there a second chance (below).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <xxhash.h>

#include "sc.h"

#define SHARD_MAGIC		UINT64_C(0x5343534841524431)	/* SCSHARD1 */
#define TABLE_INIT_BUCKETS	256
#define TABLE_MAX_BUCKETS	(UINT64_C(1) << 30)

int64_t
sc_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	return ts.tv_sec;
}

uint64_t
sc_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int64_t
sc_exptime(int64_t exptime, int64_t now)
{
	if (exptime == 0)
		return 0;
	if (exptime < 0)
		return 1;	/* long past: expired */
	if (exptime <= SC_REALTIME_MAXDELTA)
		exptime += now;
	if (exptime > UINT32_MAX)
		exptime = UINT32_MAX;
	return exptime;
}

/* ---- heap memory (none and copy modes) ---- */

static sc_ref
heap_alloc(void *arg, size_t size)
{
	(void)arg;
	return (sc_ref)(uintptr_t)malloc(size);
}

static void
heap_free(void *arg, sc_ref ref, size_t size)
{
	(void)arg;
	(void)size;
	free((void *)(uintptr_t)ref);
}

/* glibc: 8 bytes of chunk header, chunks are multiples of 16, min 32. */
static size_t
heap_charge(size_t size)
{
	size_t c = (size + 8 + 15) & ~(size_t)15;

	return c < 32 ? 32 : c;
}

static const struct sc_mem_ops heap_mem = {
	.alloc = heap_alloc,
	.free = heap_free,
	.charge = heap_charge,
};

size_t
item_total(size_t nkey, size_t nbytes)
{
	return sizeof(struct item) + nkey + nbytes;
}

static size_t
item_size(const struct item *it)
{
	return item_total(it->nkey, it->nbytes);
}

static size_t
item_charge(const struct shard *sh, const struct item *it)
{
	return sh->mem->charge(item_size(it));
}

uint64_t
store_hash(const char *key, size_t nkey)
{
	return XXH3_64bits(key, nkey);
}

struct shard *
store_shard(struct store *s, uint64_t hash)
{
	if (s->nshards == 1)
		return &s->shards[0];
	return &s->shards[hash >> s->shard_shift];
}

static sc_ref *
table(struct shard *sh)
{
	return sc_ptr(sh, sh->root->table);
}

static void shard_free_all(struct shard *sh);
static int evict_one(struct store *s, struct shard *sh,
    const struct item *keep, int64_t now);

static int
shard_init(struct shard *sh, uint64_t limit)
{
	struct shard_root *r = &sh->heap_root;
	size_t tsize = TABLE_INIT_BUCKETS * sizeof(sc_ref);
	pthread_mutexattr_t ma;
	void *t;

	/*
	 * Adaptive: spins briefly before sleeping. A hold is a lookup and a
	 * copy, far shorter than a sleep and a wake-up, and a worker put to
	 * sleep on a contended lock must then win a core back from whatever
	 * runs there (on a busy machine, a scheduler tick later).
	 */
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ADAPTIVE_NP);
	pthread_mutex_init(&sh->lock, &ma);
	pthread_mutexattr_destroy(&ma);
	sh->base = 0;
	sh->mem = &heap_mem;
	sh->mem_arg = NULL;
	sh->limit = limit;
	if ((t = calloc(1, tsize)) == NULL)
		return -ENOMEM;
	memset(r, 0, sizeof(*r));
	r->magic = SHARD_MAGIC;
	r->table = (sc_ref)(uintptr_t)t;
	r->nbuckets = TABLE_INIT_BUCKETS;
	r->used = heap_charge(tsize);
	sh->root = r;
	return 0;
}

int
shard_attach(struct store *s, struct shard *sh, uintptr_t base,
    uint64_t mapped_size, const struct sc_mem_ops *mem, void *arg,
    sc_ref root, sc_ref *rootp)
{
	struct shard_root *r;
	size_t tsize = TABLE_INIT_BUCKETS * sizeof(sc_ref);
	sc_ref rref, tref;

	if (root != 0) {
		if (root > mapped_size ||
		    mapped_size - root < sizeof(struct shard_root))
			return -EINVAL;
		r = (struct shard_root *)(base + root);
		if (r->magic != SHARD_MAGIC || r->nbuckets == 0 ||
		    (r->nbuckets & (r->nbuckets - 1)) != 0 ||
		    r->nbuckets > TABLE_MAX_BUCKETS || r->table == 0 ||
		    r->table > mapped_size ||
		    (mapped_size - r->table) / sizeof(sc_ref) < r->nbuckets ||
		    r->lru_head > mapped_size || r->lru_tail > mapped_size ||
		    (r->lru_head == 0) != (r->lru_tail == 0) ||
		    (r->lru_head == 0) != (r->nitems == 0))
			return -EINVAL;
		rref = root;
	} else {
		if ((rref = mem->alloc(arg, sizeof(*r))) == 0)
			return -ENOMEM;
		if ((tref = mem->alloc(arg, tsize)) == 0) {
			mem->free(arg, rref, sizeof(*r));
			return -ENOMEM;
		}
		r = (struct shard_root *)(base + rref);
		memset(r, 0, sizeof(*r));
		memset((void *)(base + tref), 0, tsize);
		r->magic = SHARD_MAGIC;
		r->table = tref;
		r->nbuckets = TABLE_INIT_BUCKETS;
		r->used = mem->charge(tsize) + mem->charge(sizeof(*r));
		r->nshards = s->nshards;
		r->shard = (uint64_t)(sh - s->shards);
	}
	if (sh->root == &sh->heap_root) {
		shard_free_all(sh);
		free((void *)(uintptr_t)sh->heap_root.table);
	}
	sh->base = base;
	sh->mem = mem;
	sh->mem_arg = arg;
	sh->root = r;
	store_cas_floor(s, r->max_cas);
	/* Adopted under a smaller -m: evict down to the new budget now. */
	while (r->used > sh->limit && evict_one(s, sh, NULL, sc_now()) == 0)
		;
	*rootp = rref;
	return 0;
}

int
store_init(struct store *s, unsigned nshards, uint64_t maxbytes,
    uint64_t item_max)
{
	unsigned i, bits = 0;
	int rc;

	if (nshards == 0 || nshards > SC_SHARDS_MAX ||
	    (nshards & (nshards - 1)) != 0)
		return -EINVAL;
	while ((1u << bits) < nshards)
		bits++;
	memset(s, 0, sizeof(*s));
	s->nshards = nshards;
	s->shard_shift = 64 - bits;
	s->item_max = item_max;
	s->maxbytes = maxbytes;
	s->shards = aligned_alloc(64, sizeof(struct shard) * nshards);
	if (s->shards == NULL)
		return -ENOMEM;
	memset(s->shards, 0, sizeof(struct shard) * nshards);
	for (i = 0; i < nshards; i++) {
		if ((rc = shard_init(&s->shards[i], maxbytes / nshards)) < 0) {
			s->nshards = i;
			store_destroy(s);
			return rc;
		}
	}
	return 0;
}

static void
shard_free_all(struct shard *sh)
{
	struct shard_root *r = sh->root;
	sc_ref ref, next;
	struct item *it;

	for (ref = r->lru_head; ref != 0; ref = next) {
		it = sc_ptr(sh, ref);
		next = it->next;
		r->used -= item_charge(sh, it);
		sh->mem->free(sh->mem_arg, ref, item_size(it));
	}
	r->lru_head = r->lru_tail = 0;
	memset(table(sh), 0, r->nbuckets * sizeof(sc_ref));
	r->nitems = 0;
}

void
store_destroy(struct store *s)
{
	unsigned i;
	struct shard *sh;

	if (s->shards == NULL)
		return;
	for (i = 0; i < s->nshards; i++) {
		sh = &s->shards[i];
		if (sh->root == &sh->heap_root) {
			shard_free_all(sh);
			free((void *)(uintptr_t)sh->root->table);
		}
		pthread_mutex_destroy(&sh->lock);
	}
	free(s->shards);
	s->shards = NULL;
}

static uint64_t
next_cas(struct store *s)
{
	if (s->cas_disabled)
		return 0;
	return __atomic_add_fetch(&s->cas, 1, __ATOMIC_RELAXED);
}

void
store_cas_floor(struct store *s, uint64_t cas)
{
	uint64_t cur = __atomic_load_n(&s->cas, __ATOMIC_RELAXED);

	while (cur < cas && !__atomic_compare_exchange_n(&s->cas, &cur, cas,
	    0, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

/* ---- LRU and table, shard lock held ---- */

static void
lru_unlink(struct shard *sh, struct item *it)
{
	struct shard_root *r = sh->root;

	if (it->prev != 0)
		((struct item *)sc_ptr(sh, it->prev))->next = it->next;
	else
		r->lru_head = it->next;
	if (it->next != 0)
		((struct item *)sc_ptr(sh, it->next))->prev = it->prev;
	else
		r->lru_tail = it->prev;
	it->prev = it->next = 0;
}

static void
lru_push_head(struct shard *sh, struct item *it)
{
	struct shard_root *r = sh->root;
	sc_ref ref = sc_refof(sh, it);

	it->prev = 0;
	it->next = r->lru_head;
	if (r->lru_head != 0)
		((struct item *)sc_ptr(sh, r->lru_head))->prev = ref;
	else
		r->lru_tail = ref;
	r->lru_head = ref;
}

static void
lru_push_tail(struct shard *sh, struct item *it)
{
	struct shard_root *r = sh->root;
	sc_ref ref = sc_refof(sh, it);

	it->next = 0;
	it->prev = r->lru_tail;
	if (r->lru_tail != 0)
		((struct item *)sc_ptr(sh, r->lru_tail))->next = ref;
	else
		r->lru_head = ref;
	r->lru_tail = ref;
}

/*
 * A read marks the item instead of moving it to the LRU head: the move
 * writes both neighbours and the old head (cache misses, and the head is
 * a line every worker writes), all under the shard lock, and the time a
 * lock is held is what another worker waits when the holder's core is
 * taken from it. Eviction moves a marked tail item to the head and clears
 * the mark (CLOCK, like memcached's ITEM_ACTIVE), so an item read since
 * it last reached the tail still outlives one that was not.
 */
static void
lru_mark(struct item *it)
{
	it->iflags |= IT_ACTIVE;
}

static sc_ref *
bucket(struct shard *sh, uint64_t hash)
{
	return &table(sh)[hash & (sh->root->nbuckets - 1)];
}

static struct item *
table_find(struct shard *sh, uint64_t hash, const char *key, size_t nkey,
    sc_ref **prevp)
{
	sc_ref *pp = bucket(sh, hash);
	struct item *it;

	while (*pp != 0) {
		it = sc_ptr(sh, *pp);
		if (it->hash == hash && it->nkey == nkey &&
		    memcmp(ITEM_key(it), key, nkey) == 0) {
			if (prevp != NULL)
				*prevp = pp;
			return it;
		}
		pp = &it->hnext;
	}
	return NULL;
}

static void
table_grow(struct shard *sh)
{
	struct shard_root *r = sh->root;
	uint64_t n = r->nbuckets * 2, i;
	size_t osz = r->nbuckets * sizeof(sc_ref), nsz = n * sizeof(sc_ref);
	sc_ref *ot = table(sh), *nt, ref, next, nref;
	struct item *it;

	if (n > TABLE_MAX_BUCKETS ||
	    r->used + sh->mem->charge(nsz) > sh->limit)
		return;		/* keep chaining rather than exceed -m */
	if ((nref = sh->mem->alloc(sh->mem_arg, nsz)) == 0)
		return;
	nt = sc_ptr(sh, nref);
	memset(nt, 0, nsz);
	for (i = 0; i < r->nbuckets; i++) {
		for (ref = ot[i]; ref != 0; ref = next) {
			it = sc_ptr(sh, ref);
			next = it->hnext;
			it->hnext = nt[it->hash & (n - 1)];
			nt[it->hash & (n - 1)] = ref;
		}
	}
	sh->mem->free(sh->mem_arg, r->table, osz);
	r->used += sh->mem->charge(nsz) - sh->mem->charge(osz);
	r->table = nref;
	r->nbuckets = n;
}

static void
item_link(struct shard *sh, struct item *it)
{
	sc_ref *b = bucket(sh, it->hash);

	it->hnext = *b;
	*b = sc_refof(sh, it);
	lru_push_head(sh, it);
	it->iflags |= IT_LINKED;
	sh->root->nitems++;
	sh->st.total_items++;
	if (it->cas > sh->root->max_cas)
		sh->root->max_cas = it->cas;
	/*
	 * The table doubles when chains average 2: 4 to 8 bytes of table
	 * per item (at 1.5, 5.3 to 10.7), for a short walk that compares
	 * the stored hash before touching the key.
	 */
	if (sh->root->nitems > sh->root->nbuckets * 2)
		table_grow(sh);
}

/* Unlinks and frees; the item's charge is returned to the budget. */
static void
item_unlink_free(struct shard *sh, struct item *it)
{
	sc_ref *pp = bucket(sh, it->hash);

	while (*pp != 0 && sc_ptr(sh, *pp) != (void *)it)
		pp = &((struct item *)sc_ptr(sh, *pp))->hnext;
	if (*pp != 0)
		*pp = it->hnext;
	lru_unlink(sh, it);
	sh->root->nitems--;
	sh->root->used -= item_charge(sh, it);
	sh->mem->free(sh->mem_arg, sc_refof(sh, it), item_size(it));
}

static int
item_dead(struct store *s, const struct item *it, int64_t now)
{
	int64_t fa;

	if (it->exptime != 0 && it->exptime <= now)
		return 1;
	fa = __atomic_load_n(&s->flush_at, __ATOMIC_RELAXED);
	return fa != 0 && fa <= now && (int64_t)it->stime < fa;
}

/*
 * Finds a live item; a dead one found on the way is reclaimed (lazy
 * expiry, like memcached's do_item_get).
 */
static struct item *
find_live(struct store *s, struct shard *sh, uint64_t hash, const char *key,
    size_t nkey, int64_t now)
{
	struct item *it = table_find(sh, hash, key, nkey, NULL);

	if (it != NULL && item_dead(s, it, now)) {
		if (!(it->iflags & IT_FETCHED))
			sh->st.expired_unfetched++;
		sh->st.reclaimed++;
		item_unlink_free(sh, it);
		it = NULL;
	}
	return it;
}

/*
 * Evicts the LRU tail (never `keep'); -1 when there is nothing to evict.
 * A marked tail item goes back to the head, unmarked, instead; at most
 * EVICT_RESCUES of them per eviction, so a set costs a bounded walk even
 * when every item has been read.
 */
#define EVICT_RESCUES	32

static int
evict_one(struct store *s, struct shard *sh, const struct item *keep,
    int64_t now)
{
	struct item *it;
	unsigned tries;
	int dead;

	for (tries = 0;; tries++) {
		it = sh->root->lru_tail != 0 ? sc_ptr(sh, sh->root->lru_tail) :
		    NULL;
		if (it == keep && it != NULL)
			it = it->prev != 0 ? sc_ptr(sh, it->prev) : NULL;
		if (it == NULL)
			return -1;
		dead = item_dead(s, it, now);
		if (dead || !(it->iflags & IT_ACTIVE) || tries == EVICT_RESCUES)
			break;
		it->iflags &= (uint8_t)~IT_ACTIVE;
		lru_unlink(sh, it);
		lru_push_head(sh, it);
	}
	if (dead) {
		sh->st.reclaimed++;
		if (!(it->iflags & IT_FETCHED))
			sh->st.expired_unfetched++;
	} else {
		sh->st.evictions++;
		if (!(it->iflags & IT_FETCHED))
			sh->st.evicted_unfetched++;
	}
	item_unlink_free(sh, it);
	return 0;
}

/* Evicts until charge more bytes fit the shard's budget. */
static int
make_room(struct store *s, struct shard *sh, size_t charge,
    const struct item *keep, int64_t now)
{
	while (sh->root->used + sh->pending + charge > sh->limit)
		if (evict_one(s, sh, keep, now) < 0)
			return -1;
	return 0;
}

/* Allocates an unlinked item in sh, shard lock held. */
static struct item *
shard_alloc_item(struct store *s, struct shard *sh, size_t nkey,
    size_t nbytes, const struct item *keep, int64_t now, enum sc_res *res)
{
	size_t size = item_total(nkey, nbytes), charge;
	struct item *it;
	sc_ref ref;

	if (size > s->item_max || nkey > SC_KEY_MAX || nbytes > UINT32_MAX) {
		*res = SC_TOO_LARGE;
		return NULL;
	}
	charge = sh->mem->charge(size);
	if (make_room(s, sh, charge, keep, now) < 0)
		goto oom;
	/*
	 * An arena can be full before the budget is (fragmentation, or a
	 * smaller arena adopted under a larger -m): evict until it fits.
	 */
	while ((ref = sh->mem->alloc(sh->mem_arg, size)) == 0)
		if (evict_one(s, sh, keep, now) < 0)
			goto oom;
	it = sc_ptr(sh, ref);
	memset(it, 0, sizeof(*it));
	it->nkey = (uint8_t)nkey;
	it->nbytes = (uint32_t)nbytes;
	sh->pending += charge;
	return it;
oom:
	sh->st.oom++;
	*res = SC_NO_MEMORY;
	return NULL;
}

struct item *
item_alloc(struct store *s, const char *key, size_t nkey, uint32_t flags,
    int64_t exptime, size_t nbytes, enum sc_res *res)
{
	uint64_t hash = store_hash(key, nkey);
	struct shard *sh = store_shard(s, hash);
	struct item *it;

	pthread_mutex_lock(&sh->lock);
	it = shard_alloc_item(s, sh, nkey, nbytes, NULL, sc_now(), res);
	pthread_mutex_unlock(&sh->lock);
	if (it == NULL)
		return NULL;
	it->hash = hash;
	it->flags = flags;
	it->exptime = (uint32_t)exptime;
	memcpy(ITEM_key(it), key, nkey);
	return it;
}

/* Returns a pending item's charge and memory; shard lock held. */
static void
pending_free(struct shard *sh, struct item *it)
{
	sh->pending -= item_charge(sh, it);
	sh->mem->free(sh->mem_arg, sc_refof(sh, it), item_size(it));
}

void
item_abandon(struct store *s, struct item *it)
{
	struct shard *sh = store_shard(s, it->hash);

	pthread_mutex_lock(&sh->lock);
	pending_free(sh, it);
	pthread_mutex_unlock(&sh->lock);
}

/* Moves pending it into the table in place of old (may be NULL). */
static void
replace_with(struct store *s, struct shard *sh, struct item *old,
    struct item *it, int64_t now)
{
	if (old != NULL)
		item_unlink_free(sh, old);
	sh->pending -= item_charge(sh, it);
	sh->root->used += item_charge(sh, it);
	it->stime = (uint32_t)now;
	it->cas = next_cas(s);
	item_link(sh, it);
}

enum sc_res
store_item(struct store *s, struct item *it, enum sc_op op, uint64_t cas,
    int64_t now)
{
	struct shard *sh = store_shard(s, it->hash);
	struct item *old, *nit;
	enum sc_res res;
	size_t ov, nv;

	pthread_mutex_lock(&sh->lock);
	old = find_live(s, sh, it->hash, ITEM_key(it), it->nkey, now);
	switch (op) {
	case SC_OP_SET:
		replace_with(s, sh, old, it, now);
		res = SC_STORED;
		break;
	case SC_OP_ADD:
		if (old != NULL) {
			/* memcached bumps the existing item on a failed add */
			lru_mark(old);
			res = SC_NOT_STORED;
			goto drop;
		}
		replace_with(s, sh, NULL, it, now);
		res = SC_STORED;
		break;
	case SC_OP_REPLACE:
		if (old == NULL) {
			res = SC_NOT_STORED;
			goto drop;
		}
		replace_with(s, sh, old, it, now);
		res = SC_STORED;
		break;
	case SC_OP_CAS:
		if (old == NULL) {
			res = SC_NOT_FOUND;
			goto drop;
		}
		if (old->cas != cas) {
			res = SC_EXISTS;
			goto drop;
		}
		replace_with(s, sh, old, it, now);
		res = SC_STORED;
		break;
	case SC_OP_APPEND:
	case SC_OP_PREPEND:
		if (old == NULL) {
			res = SC_NOT_STORED;
			goto drop;
		}
		if (cas != 0 && old->cas != cas) {
			res = SC_EXISTS;
			goto drop;
		}
		ov = old->nbytes - 2;
		nv = it->nbytes;
		nit = shard_alloc_item(s, sh, old->nkey, ov + nv, old, now,
		    &res);
		if (nit == NULL) {
			res = SC_NOT_STORED;	/* memcached: NOT_STORED */
			goto drop;
		}
		nit->hash = old->hash;
		nit->flags = old->flags;	/* append keeps the old flags */
		nit->exptime = old->exptime;
		memcpy(ITEM_key(nit), ITEM_key(old), old->nkey);
		if (op == SC_OP_APPEND) {
			memcpy(ITEM_data(nit), ITEM_data(old), ov);
			memcpy(ITEM_data(nit) + ov, ITEM_data(it), nv);
		} else {
			memcpy(ITEM_data(nit), ITEM_data(it), nv - 2);
			memcpy(ITEM_data(nit) + nv - 2, ITEM_data(old), ov);
			memcpy(ITEM_data(nit) + nv - 2 + ov, "\r\n", 2);
		}
		replace_with(s, sh, old, nit, now);
		res = SC_STORED;
		goto drop;
	default:
		res = SC_NOT_STORED;
		goto drop;
	}
	pthread_mutex_unlock(&sh->lock);
	return res;
drop:
	pending_free(sh, it);
	pthread_mutex_unlock(&sh->lock);
	return res;
}

/* A get reply's first bytes: not a C string. */
static const char value_prefix[6] = "VALUE ";

/* Room for a get reply's header beyond its key: "VALUE", 3 numbers, CRLF. */
#define GET_HDR_MAX	(sizeof(value_prefix) + 3 * 21 + 2)

/* Writes v in decimal at p (up to 20 bytes); returns the end. */
static char *
put_u64(char *p, uint64_t v)
{
	char t[20];
	size_t n = 0;

	do
		t[n++] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	while (n > 0)
		*p++ = t[--n];
	return p;
}

int
store_get(struct store *s, const char *key, size_t nkey, int with_cas,
    int64_t touch_exp, int64_t now, struct sbuf *out)
{
	uint64_t hash = store_hash(key, nkey);
	struct shard *sh = store_shard(s, hash);
	struct item *it;
	char *p;
	int rc = 0;

	pthread_mutex_lock(&sh->lock);
	it = find_live(s, sh, hash, key, nkey, now);
	if (it == NULL)
		goto out;
	if (touch_exp != SC_NOTOUCH)
		it->exptime = (uint32_t)touch_exp;
	if (sbuf_reserve(out, GET_HDR_MAX + nkey + it->nbytes) < 0) {
		rc = -ENOMEM;
		goto out;
	}
	/* "VALUE <key> <flags> <bytes>[ <cas>]\r\n", then the value */
	p = out->p + out->len;
	memcpy(p, value_prefix, sizeof(value_prefix));
	memcpy(p + sizeof(value_prefix), key, nkey);
	p += sizeof(value_prefix) + nkey;
	*p++ = ' ';
	p = put_u64(p, it->flags);
	*p++ = ' ';
	p = put_u64(p, it->nbytes - 2);
	if (with_cas) {
		*p++ = ' ';
		p = put_u64(p, it->cas);
	}
	*p++ = '\r';
	*p++ = '\n';
	memcpy(p, ITEM_data(it), it->nbytes);
	out->len = (size_t)(p - out->p) + it->nbytes;
	it->iflags |= IT_FETCHED;
	lru_mark(it);
	rc = 1;
out:
	pthread_mutex_unlock(&sh->lock);
	return rc;
}

enum sc_res
store_delete(struct store *s, const char *key, size_t nkey, int64_t now)
{
	uint64_t hash = store_hash(key, nkey);
	struct shard *sh = store_shard(s, hash);
	struct item *it;

	pthread_mutex_lock(&sh->lock);
	it = find_live(s, sh, hash, key, nkey, now);
	if (it != NULL)
		item_unlink_free(sh, it);
	pthread_mutex_unlock(&sh->lock);
	return it != NULL ? SC_DELETED : SC_NOT_FOUND;
}

enum sc_res
store_touch(struct store *s, const char *key, size_t nkey, int64_t exptime,
    int64_t now)
{
	uint64_t hash = store_hash(key, nkey);
	struct shard *sh = store_shard(s, hash);
	struct item *it;

	pthread_mutex_lock(&sh->lock);
	it = find_live(s, sh, hash, key, nkey, now);
	if (it != NULL) {
		it->exptime = (uint32_t)exptime;
		it->iflags |= IT_FETCHED;
		lru_mark(it);
	}
	pthread_mutex_unlock(&sh->lock);
	return it != NULL ? SC_TOUCHED : SC_NOT_FOUND;
}

/*
 * memcached's safe_strtoull on item data: digits, optionally surrounded
 * by spaces (decr pads in place), nothing else, no sign, no overflow.
 */
static int
parse_counter(const char *p, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	size_t i = 0;
	int digits = 0;

	while (i < n && p[i] == ' ')
		i++;
	for (; i < n && p[i] >= '0' && p[i] <= '9'; i++) {
		if (v > (UINT64_MAX - (uint64_t)(p[i] - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(p[i] - '0');
		digits++;
	}
	while (i < n && p[i] == ' ')
		i++;
	if (digits == 0 || i != n)
		return -1;
	*out = v;
	return 0;
}

enum sc_res
store_arith(struct store *s, const char *key, size_t nkey, int incr,
    uint64_t delta, int64_t now, uint64_t *value)
{
	uint64_t hash = store_hash(key, nkey);
	struct shard *sh = store_shard(s, hash);
	struct item *it, *nit;
	enum sc_res res;
	uint64_t v;
	char buf[24];
	size_t n;

	pthread_mutex_lock(&sh->lock);
	it = find_live(s, sh, hash, key, nkey, now);
	if (it == NULL) {
		res = SC_NOT_FOUND;
		goto out;
	}
	if (parse_counter(ITEM_data(it), it->nbytes - 2, &v) < 0) {
		res = SC_NON_NUMERIC;
		goto out;
	}
	if (incr)
		v += delta;		/* wraps at 2^64, like memcached */
	else
		v = delta > v ? 0 : v - delta;
	n = (size_t)(put_u64(buf, v) - buf);
	if (n + 2 <= it->nbytes) {
		/* memcached rewrites in place, padding with spaces */
		memcpy(ITEM_data(it), buf, n);
		memset(ITEM_data(it) + n, ' ', it->nbytes - 2 - n);
		it->cas = next_cas(s);
		if (it->cas > sh->root->max_cas)
			sh->root->max_cas = it->cas;
		lru_mark(it);
	} else {
		nit = shard_alloc_item(s, sh, it->nkey, n + 2, it, now, &res);
		if (nit == NULL)
			goto out;
		nit->hash = it->hash;
		nit->flags = it->flags;
		nit->exptime = it->exptime;
		memcpy(ITEM_key(nit), ITEM_key(it), it->nkey);
		memcpy(ITEM_data(nit), buf, n);
		memcpy(ITEM_data(nit) + n, "\r\n", 2);
		replace_with(s, sh, it, nit, now);
	}
	*value = v;
	res = SC_STORED;
out:
	pthread_mutex_unlock(&sh->lock);
	return res;
}

void
store_flush(struct store *s, int64_t when, int64_t now)
{
	unsigned i;
	struct shard *sh;

	if (when > now) {
		__atomic_store_n(&s->flush_at, when, __ATOMIC_RELAXED);
		return;
	}
	/*
	 * Immediate: free everything now rather than lazily, so the memory
	 * is back at once. A delayed flush still pending is cancelled, like
	 * memcached where the last flush_all sets the time.
	 */
	__atomic_store_n(&s->flush_at, 0, __ATOMIC_RELAXED);
	for (i = 0; i < s->nshards; i++) {
		sh = &s->shards[i];
		pthread_mutex_lock(&sh->lock);
		shard_free_all(sh);
		pthread_mutex_unlock(&sh->lock);
	}
}

void
store_totals(struct store *s, struct store_totals *t)
{
	unsigned i;
	struct shard *sh;

	memset(t, 0, sizeof(*t));
	for (i = 0; i < s->nshards; i++) {
		sh = &s->shards[i];
		pthread_mutex_lock(&sh->lock);
		t->curr_items += sh->root->nitems;
		t->bytes += sh->root->used + sh->pending;
		t->buckets += sh->root->nbuckets;
		t->st.evictions += sh->st.evictions;
		t->st.evicted_unfetched += sh->st.evicted_unfetched;
		t->st.expired_unfetched += sh->st.expired_unfetched;
		t->st.reclaimed += sh->st.reclaimed;
		t->st.total_items += sh->st.total_items;
		t->st.oom += sh->st.oom;
		pthread_mutex_unlock(&sh->lock);
	}
}

void
store_stats_reset(struct store *s)
{
	unsigned i;

	for (i = 0; i < s->nshards; i++) {
		pthread_mutex_lock(&s->shards[i].lock);
		memset(&s->shards[i].st, 0, sizeof(s->shards[i].st));
		pthread_mutex_unlock(&s->shards[i].lock);
	}
}

int
store_insert_adopted(struct store *s, const char *key, size_t nkey,
    uint32_t flags, int64_t exptime, int64_t stime, uint64_t cas,
    const char *data, size_t nbytes, int64_t now)
{
	uint64_t hash = store_hash(key, nkey);
	struct shard *sh = store_shard(s, hash);
	struct shard_root *r;
	struct item *it, *old;
	size_t size = item_total(nkey, nbytes), charge;
	sc_ref ref;
	int rc = 1;

	if (nkey == 0 || nkey > SC_KEY_MAX || nbytes < 2 ||
	    size > s->item_max || (exptime != 0 && exptime <= now))
		return 1;
	store_cas_floor(s, cas);
	pthread_mutex_lock(&sh->lock);
	r = sh->root;
	charge = sh->mem->charge(size);
	/* Adopted items arrive hottest first: never evict for them. */
	if (r->used + sh->pending + charge > sh->limit)
		goto out;
	if ((old = table_find(sh, hash, key, nkey, NULL)) != NULL)
		goto out;	/* a duplicate in a corrupt checkpoint */
	if ((ref = sh->mem->alloc(sh->mem_arg, size)) == 0)
		goto out;
	it = sc_ptr(sh, ref);
	memset(it, 0, sizeof(*it));
	it->nkey = (uint8_t)nkey;
	it->nbytes = (uint32_t)nbytes;
	it->hash = hash;
	it->flags = flags;
	it->exptime = (uint32_t)exptime;
	it->stime = (uint32_t)stime;
	it->cas = cas;
	memcpy(ITEM_key(it), key, nkey);
	memcpy(ITEM_data(it), data, nbytes);
	memcpy(ITEM_data(it) + nbytes - 2, "\r\n", 2);
	r->used += charge;
	item_link(sh, it);
	/* item_link put it at the head; adopted order is head first */
	lru_unlink(sh, it);
	lru_push_tail(sh, it);
	sh->st.total_items--;
	rc = 0;
out:
	pthread_mutex_unlock(&sh->lock);
	return rc;
}

int
shard_drain(struct store *s, struct shard *sh, int64_t now,
    int (*cb)(const struct item *, void *), void *arg)
{
	struct item *it;
	int rc = 0;

	pthread_mutex_lock(&sh->lock);
	while (sh->root->lru_head != 0) {
		it = sc_ptr(sh, sh->root->lru_head);
		if (!item_dead(s, it, now) && (rc = cb(it, arg)) < 0)
			break;
		item_unlink_free(sh, it);
	}
	pthread_mutex_unlock(&sh->lock);
	return rc;
}
