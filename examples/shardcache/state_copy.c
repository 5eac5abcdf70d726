/*
 * state_copy.c: copy mode. Items live in the heap; a clean stop writes
 * each shard into its own copy-mode segment ("shard.NNNN"), in parallel,
 * freeing each item as it is written so the peak stays near 1x; a
 * "meta" segment carries the store-wide values (CAS counter, delayed
 * flush, shard count). The next start adopts the last committed
 * checkpoint: items come back in LRU order (hottest first, so a smaller
 * -m keeps the hottest), into whatever shard their key hashes to now (a
 * different shard count re-shards), expired ones are dropped, and the
 * CAS counter continues above every adopted CAS.
 *
 * Segment payloads (native little-endian; changes bump SC_LAYOUT_VERSION):
 *   shard.NNNN: struct ck_shard_hdr, then records: struct ck_rec, key,
 *               value (with "\r\n"), zero padding to 8 bytes.
 *   meta:       struct ck_meta.
 * Everything read back is untrusted: every length is checked against the
 * payload before use, and the payload checksum is verified first.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shmstate.h"
#include "sc.h"

#define CK_LAYOUT_ITEMS	"shardcache-items"
#define CK_LAYOUT_META	"shardcache-meta"
#define CK_MAGIC	UINT64_C(0x53434b5054303031)	/* SCKPT001 */
#define CK_RELEASE_STEP	(4u << 20)	/* give pages back every 4 MiB */

struct ck_shard_hdr {
	uint64_t	magic;
	uint32_t	shard;
	uint32_t	nshards;
};

struct ck_rec {
	uint32_t	nkey;
	uint32_t	nbytes;		/* incl. "\r\n" */
	uint32_t	flags;
	uint32_t	exptime;
	uint32_t	stime;
	uint32_t	pad;
	uint64_t	cas;
};

struct ck_meta {
	uint64_t	magic;
	uint32_t	nshards;
	uint32_t	layout_version;
	uint64_t	cas;
	int64_t		flush_at;
	int64_t		ckpt_time;
	uint64_t	items;
};

_Static_assert(sizeof(struct ck_rec) == 32, "ck_rec layout");
_Static_assert(sizeof(struct ck_shard_hdr) == 16, "ck_shard_hdr layout");
_Static_assert(sizeof(struct ck_meta) == 48, "ck_meta layout");

struct copy_state {
	struct shms_svc		*svc;
};

#define PAD8(n)		(((n) + 7) & ~(size_t)7)

static int
copy_open_svc(struct server *srv, struct copy_state *cs)
{
	int rc;

	rc = shms_svc_open(&cs->svc, settings.state_dir[0] ?
	    settings.state_dir : NULL, settings.service, 0);
	if (rc < 0) {
		log_warnx("state: cannot open service %s: %s", settings.service,
		    shms_strerror(rc));
		return rc;
	}
	(void)srv;
	return 0;
}

/* ---- adopt ---- */

struct adopt_job {
	struct server		*srv;
	struct shms_adopt	*ad;
	unsigned		 first, step, nsegs;
	char			(*names)[SHMS_NAME_MAX + 1];
	uint64_t		 adopted, dropped;
	int64_t			 now;
	int			 errors;
};

static int
adopt_segment(struct adopt_job *j, const char *name)
{
	struct shms_seg *seg;
	const struct ck_shard_hdr *h;
	const struct ck_rec *r;
	const char *p;
	const void *data;
	uint64_t len, off, rel = 0;
	size_t rl;
	int rc;

	rc = shms_adopt_seg_open(j->ad, name, CK_LAYOUT_ITEMS,
	    SC_LAYOUT_VERSION, SHMS_VERIFY_FULL, &seg);
	if (rc < 0) {
		log_warnx("state: segment %s not adopted: %s", name,
		    shms_strerror(rc));
		return rc;
	}
	if ((rc = shms_seg_data(seg, &data, &len)) < 0)
		goto out;
	p = data;
	h = data;
	if (len < sizeof(*h) || h->magic != CK_MAGIC) {
		log_warnx("state: segment %s: bad shard header", name);
		rc = SHMS_ECORRUPT;
		goto out;
	}
	for (off = sizeof(*h); off < len; ) {
		if (len - off < sizeof(*r)) {
			rc = SHMS_ECORRUPT;
			break;
		}
		r = (const struct ck_rec *)(p + off);
		rl = sizeof(*r) + (size_t)r->nkey + (size_t)r->nbytes;
		if (r->nkey == 0 || r->nkey > SC_KEY_MAX || r->nbytes < 2 ||
		    r->nbytes > SC_ITEM_MAX_SIZE_MAX || len - off < rl) {
			rc = SHMS_ECORRUPT;
			break;
		}
		if (store_insert_adopted(&j->srv->store, p + off + sizeof(*r),
		    r->nkey, r->flags, r->exptime, r->stime, r->cas,
		    p + off + sizeof(*r) + r->nkey, r->nbytes, j->now) == 0)
			j->adopted++;
		else
			j->dropped++;
		off += PAD8(rl) < len - off ? PAD8(rl) : len - off;
		if (off - rel >= CK_RELEASE_STEP) {
			(void)shms_seg_release(seg, rel, off - rel, 0);
			rel = off & ~(uint64_t)4095;
		}
	}
	if (rc == SHMS_ECORRUPT)
		log_warnx("state: segment %s: malformed record at %" PRIu64
		    "; the rest of it is dropped", name, off);
out:
	shms_seg_close(seg);
	return rc;
}

static void *
adopt_thread(void *arg)
{
	struct adopt_job *j = arg;
	unsigned i;

	for (i = j->first; i < j->nsegs; i += j->step)
		if (adopt_segment(j, j->names[i]) < 0)
			j->errors++;
	return NULL;
}

static int
read_meta(struct shms_adopt *ad, struct ck_meta *m)
{
	struct shms_seg *seg;
	const void *data;
	uint64_t len;
	int rc;

	rc = shms_adopt_seg_open(ad, "meta", CK_LAYOUT_META,
	    SC_LAYOUT_VERSION, SHMS_VERIFY_FULL, &seg);
	if (rc < 0)
		return rc;
	if ((rc = shms_seg_data(seg, &data, &len)) == 0) {
		if (len != sizeof(*m))
			rc = SHMS_ECORRUPT;
		else {
			memcpy(m, data, sizeof(*m));
			if (m->magic != CK_MAGIC || m->nshards == 0 ||
			    m->nshards > SC_SHARDS_MAX)
				rc = SHMS_ECORRUPT;
		}
	}
	shms_seg_close(seg);
	return rc;
}

static void
cold(struct server *srv, const char *why, const char *detail)
{
	snprintf(srv->state_info.reason, sizeof(srv->state_info.reason),
	    "%s%s%s", why, detail[0] ? ": " : "", detail);
	srv->state_info.restart = "cold";
	log_info("state: starting cold: %s", srv->state_info.reason);
}

static int
copy_adopt(struct server *srv, struct copy_state *cs)
{
	struct sc_state_info *si = &srv->state_info;
	struct shms_adopt *ad;
	struct shms_seg_info info;
	struct adopt_job *jobs = NULL;
	pthread_t *tids = NULL;
	char (*names)[SHMS_NAME_MAX + 1] = NULL;
	struct ck_meta m = { 0 };
	uint64_t t0 = sc_now_ns();
	size_t i, count;
	unsigned nsegs = 0, nthr, k;
	int rc;

	rc = shms_adopt_begin(cs->svc, 0, &ad);
	if (rc == SHMS_ENOSTATE) {
		cold(srv, "no checkpoint", "");
		return 0;
	}
	if (rc < 0) {
		cold(srv, "checkpoint unreadable", shms_strerror(rc));
		return 0;
	}
	if ((rc = read_meta(ad, &m)) < 0) {
		cold(srv, "checkpoint meta segment refused (layout or "
		    "version mismatch, or corrupt)", shms_strerror(rc));
		shms_adopt_abort(ad);
		return 0;
	}
	if (m.nshards != srv->store.nshards)
		log_info("state: re-sharding %u shards into %u", m.nshards,
		    srv->store.nshards);
	count = shms_adopt_count(ad);
	names = calloc(count ? count : 1, sizeof(*names));
	if (names == NULL) {
		shms_adopt_abort(ad);
		return -ENOMEM;
	}
	for (i = 0; i < count; i++) {
		if (shms_adopt_entry(ad, i, &info) == 0 &&
		    strncmp(info.name, "shard.", 6) == 0)
			memcpy(names[nsegs++], info.name, sizeof(names[0]));
	}
	nthr = settings.threads < nsegs ? settings.threads : nsegs;
	if (nthr == 0)
		nthr = 1;
	jobs = calloc(nthr, sizeof(*jobs));
	tids = calloc(nthr, sizeof(*tids));
	if (jobs == NULL || tids == NULL) {
		free(jobs);
		free(tids);
		free(names);
		shms_adopt_abort(ad);
		return -ENOMEM;
	}
	store_cas_floor(&srv->store, m.cas);
	for (k = 0; k < nthr; k++) {
		jobs[k] = (struct adopt_job){ .srv = srv, .ad = ad, .first = k,
		    .step = nthr, .nsegs = nsegs, .names = names,
		    .now = sc_now() };
		if (pthread_create(&tids[k], NULL, adopt_thread, &jobs[k]) != 0)
			adopt_thread(&jobs[k]), tids[k] = 0;
	}
	si->items_adopted = si->items_dropped = 0;
	for (k = 0; k < nthr; k++) {
		if (tids[k] != 0)
			pthread_join(tids[k], NULL);
		si->items_adopted += jobs[k].adopted;
		si->items_dropped += jobs[k].dropped;
		if (jobs[k].errors)
			rc = -1;
	}
	if (m.flush_at > sc_now())
		__atomic_store_n(&srv->store.flush_at, m.flush_at,
		    __ATOMIC_RELAXED);
	si->generation = shms_adopt_generation(ad);
	si->restart = "copy";
	si->adopt_ns = sc_now_ns() - t0;
	/* The adopted generation is consumed: remove it. */
	if ((rc = shms_adopt_finish(ad, 0)) < 0)
		log_warnx("state: removing the adopted checkpoint: %s",
		    shms_strerror(rc));
	log_info("state: adopted %" PRIu64 " items (%" PRIu64 " dropped: "
	    "expired or over -m) from generation %" PRIu64 ", %u segments, "
	    "in %.3f s", si->items_adopted, si->items_dropped, si->generation,
	    nsegs, (double)si->adopt_ns / 1e9);
	free(jobs);
	free(tids);
	free(names);
	return 0;
}

static int
copy_open(struct server *srv)
{
	struct copy_state *cs;
	int rc;

	srv->state_info.mode = SC_STATE_COPY;
	srv->state_info.restart = "cold";
	if ((cs = calloc(1, sizeof(*cs))) == NULL)
		return -ENOMEM;
	if ((rc = copy_open_svc(srv, cs)) < 0) {
		free(cs);
		return rc;
	}
	srv->state_priv = cs;
	return copy_adopt(srv, cs);
}

/* ---- checkpoint ---- */

struct save_job {
	struct server		*srv;
	struct shms_ckpt	*ck;
	unsigned		 first, step;
	uint64_t		 items;
	int			 rc;
};

/*
 * Items are serialized straight into the segment, a chunk at a time: one
 * reserve/commit per SAVE_CHUNK bytes rather than per item.
 */
#define SAVE_CHUNK	(1u << 20)

struct save_ctx {
	struct shms_seg	*seg;
	char		*p;		/* reserved chunk */
	size_t		 cap, used;
	uint64_t	 items;
};

static int
save_flush(struct save_ctx *x)
{
	int rc = 0;

	if (x->p != NULL)
		rc = shms_seg_commit(x->seg, x->used);
	x->p = NULL;
	x->cap = x->used = 0;
	return rc;
}

static int
save_item(const struct item *it, void *arg)
{
	struct save_ctx *x = arg;
	struct ck_rec *r;
	size_t len = PAD8(sizeof(*r) + it->nkey + it->nbytes);
	void *p;
	int rc;

	if (len > x->cap - x->used) {
		if ((rc = save_flush(x)) < 0 ||
		    (rc = shms_seg_reserve(x->seg, len > SAVE_CHUNK ? len :
		    SAVE_CHUNK, &p)) < 0)
			return rc;
		x->p = p;
		x->cap = len > SAVE_CHUNK ? len : SAVE_CHUNK;
	}
	r = (struct ck_rec *)(x->p + x->used);
	memset(r, 0, sizeof(*r));
	r->nkey = it->nkey;
	r->nbytes = it->nbytes;
	r->flags = it->flags;
	r->exptime = it->exptime;
	r->stime = it->stime;
	r->cas = it->cas;
	memcpy(r + 1, ITEM_key(it), it->nkey + (size_t)it->nbytes);
	memset((char *)(r + 1) + it->nkey + it->nbytes, 0,
	    len - sizeof(*r) - it->nkey - it->nbytes);
	x->used += len;
	x->items++;
	return 0;
}

static int
save_shard(struct save_job *j, unsigned i)
{
	struct store *s = &j->srv->store;
	struct shard *sh = &s->shards[i];
	struct ck_shard_hdr h = { .magic = CK_MAGIC, .shard = i,
	    .nshards = s->nshards };
	struct save_ctx x = { 0 };
	char name[32];
	int rc;

	snprintf(name, sizeof(name), "shard.%04u", i);
	rc = shms_ckpt_seg_create(j->ck, name, CK_LAYOUT_ITEMS,
	    SC_LAYOUT_VERSION, sh->root->used, &x.seg);
	if (rc < 0)
		return rc;
	if ((rc = shms_seg_write(x.seg, &h, sizeof(h))) == 0 &&
	    (rc = shard_drain(s, sh, sc_now(), save_item, &x)) == 0)
		rc = save_flush(&x);
	j->items += x.items;
	if (rc < 0) {
		shms_seg_close(x.seg);
		return rc;
	}
	return shms_seg_close(x.seg);
}

static void *
save_thread(void *arg)
{
	struct save_job *j = arg;
	unsigned i;
	int rc;

	for (i = j->first; i < j->srv->store.nshards; i += j->step)
		if ((rc = save_shard(j, i)) < 0 && j->rc == 0)
			j->rc = rc;
	return NULL;
}

static int
copy_save(struct server *srv)
{
	struct copy_state *cs = srv->state_priv;
	struct sc_state_info *si = &srv->state_info;
	struct save_job *jobs;
	pthread_t *tids;
	struct shms_ckpt *ck;
	struct shms_seg *seg;
	struct ck_meta m;
	uint64_t t0 = sc_now_ns(), gen = 0, items = 0;
	unsigned nthr, k;
	int rc, err = 0;

	if (cs == NULL)
		return 0;
	if ((rc = shms_ckpt_begin(cs->svc, 0, &ck)) < 0) {
		log_warnx("state: checkpoint: %s: %s", shms_strerror(rc),
		    shms_errdetail(cs->svc));
		return rc;
	}
	nthr = settings.threads < srv->store.nshards ? settings.threads :
	    srv->store.nshards;
	jobs = calloc(nthr, sizeof(*jobs));
	tids = calloc(nthr, sizeof(*tids));
	if (jobs == NULL || tids == NULL) {
		free(jobs);
		free(tids);
		shms_ckpt_abort(ck);
		return -ENOMEM;
	}
	for (k = 0; k < nthr; k++) {
		jobs[k] = (struct save_job){ .srv = srv, .ck = ck, .first = k,
		    .step = nthr };
		if (pthread_create(&tids[k], NULL, save_thread, &jobs[k]) != 0)
			save_thread(&jobs[k]), tids[k] = 0;
	}
	for (k = 0; k < nthr; k++) {
		if (tids[k] != 0)
			pthread_join(tids[k], NULL);
		items += jobs[k].items;
		if (jobs[k].rc < 0 && err == 0)
			err = jobs[k].rc;
	}
	free(jobs);
	free(tids);
	if (err < 0) {
		log_warnx("state: checkpoint failed writing shards: %s: %s",
		    shms_strerror(err), shms_errdetail(cs->svc));
		shms_ckpt_abort(ck);
		return err;
	}
	memset(&m, 0, sizeof(m));
	m.magic = CK_MAGIC;
	m.nshards = srv->store.nshards;
	m.layout_version = SC_LAYOUT_VERSION;
	m.cas = __atomic_load_n(&srv->store.cas, __ATOMIC_RELAXED);
	m.flush_at = __atomic_load_n(&srv->store.flush_at, __ATOMIC_RELAXED);
	m.ckpt_time = sc_now();
	m.items = items;
	rc = shms_ckpt_seg_create(ck, "meta", CK_LAYOUT_META,
	    SC_LAYOUT_VERSION, sizeof(m), &seg);
	if (rc == 0 && (rc = shms_seg_write(seg, &m, sizeof(m))) == 0)
		rc = shms_seg_close(seg);
	if (rc < 0) {
		log_warnx("state: checkpoint meta: %s", shms_strerror(rc));
		shms_ckpt_abort(ck);
		return rc;
	}
	if ((rc = shms_ckpt_commit(ck, 0, &gen)) < 0) {
		log_warnx("state: checkpoint commit: %s: %s",
		    shms_strerror(rc), shms_errdetail(cs->svc));
		return rc;
	}
	si->last_ckpt_time = m.ckpt_time;
	si->last_ckpt_ns = sc_now_ns() - t0;
	si->last_ckpt_items = items;
	log_info("state: checkpoint generation %" PRIu64 ": %" PRIu64
	    " items in %u shards, %.3f s", gen, items, srv->store.nshards,
	    (double)si->last_ckpt_ns / 1e9);
	/* X_SHMS_CHECKPOINT_US: main.c, once the state is released. */
	return 0;
}

static void
copy_close(struct server *srv)
{
	struct copy_state *cs = srv->state_priv;

	if (cs == NULL)
		return;
	(void)shms_svc_close(cs->svc);
	free(cs);
	srv->state_priv = NULL;
}

const struct sc_state_ops sc_state_copy = {
	.name = "copy",
	.open = copy_open,
	.save = copy_save,
	.close = copy_close,
};
