/*
 * shardcache: internal interfaces shared by its modules.
 *
 * Modules (Pelikan/twemcache layout):
 *   settings.c  command line, defaults, usage
 *   store.c     shards: hash table, LRU, memory budget, expiry, CAS
 *   proto.c     memcached text protocol: incremental parser and commands
 *   conn.c      connections and worker threads (epoll, buffers, limits)
 *   stats.c     counters and the stats replies
 *   state.c     state backends (none, copy, adopt) behind one interface
 *   state_copy.c  copy mode: checkpoint/adopt through copy-mode segments
 *   main.c      startup, sockets (own or LISTEN_FDS), signals, shutdown
 *   log.c       httpd-style logging to stderr
 */
#ifndef SHARDCACHE_SC_H
#define SHARDCACHE_SC_H

#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SC_VERSION		"1.6.18-shardcache-0.1"

#define SC_KEY_MAX		250	/* memcached's KEY_MAX_LENGTH */
#define SC_LINE_MAX		2048	/* command line, get family excepted */
#define SC_GETLINE_MAX		65536	/* get/gets/gat/gats line */
#define SC_RBUF_INIT		4096
#define SC_RBUF_MAX		(SC_GETLINE_MAX + 64)	/* a read buffer's most */
#define SC_WBUF_INIT		4096
#define SC_REALTIME_MAXDELTA	(60 * 60 * 24 * 30)
#define SC_SHARDS_MAX		4096	/* also SHMS_MAX_SEGMENTS - 1 */
#define SC_ITEM_MIN_SIZE_MAX	1024
#define SC_ITEM_MAX_SIZE_MAX	(1024 * 1024 * 1024)

#if defined(__GNUC__)
#define SC_PRINTF(f, a)	__attribute__((format(printf, f, a)))
#else
#define SC_PRINTF(f, a)
#endif

/* ---- log.c ---- */

extern int sc_verbose;
void	log_init(int verbose);
void	log_warn(const char *, ...) SC_PRINTF(1, 2);
void	log_warnx(const char *, ...) SC_PRINTF(1, 2);
void	log_info(const char *, ...) SC_PRINTF(1, 2);
void	log_debug(const char *, ...) SC_PRINTF(1, 2);
void	fatal(const char *, ...) SC_PRINTF(1, 2) __attribute__((noreturn));
void	fatalx(const char *, ...) SC_PRINTF(1, 2) __attribute__((noreturn));

/* ---- settings.c ---- */

enum sc_state_mode {
	SC_STATE_NONE = 0,
	SC_STATE_COPY = 1,
	SC_STATE_ADOPT = 2,
};

#define SC_LISTEN_MAX	16

struct settings {
	int		 port;		/* -p; 0 with LISTEN_FDS or -s only */
	char		 addr[256];	/* -l */
	char		 unix_path[108]; /* -s */
	int		 unix_mode;	/* -a */
	unsigned	 threads;	/* -t */
	unsigned	 shards;	/* -S (0: default) */
	uint64_t	 maxbytes;	/* -m, bytes */
	uint64_t	 item_max;	/* -I, bytes */
	unsigned	 maxconns;	/* -c */
	int		 backlog;	/* -b */
	size_t		 wbuf_max;	/* --output-max: stop reading above */
	unsigned	 idle_timeout;	/* -o idle_timeout / --idle-timeout, s */
	unsigned	 drop_timeout;	/* --drop-timeout: blocked writer, s */
	unsigned	 stop_timeout;	/* --stop-timeout: drain on stop, s */
	int		 state;		/* enum sc_state_mode */
	char		 service[64];	/* --service: state directory name */
	char		 state_dir[256]; /* --state-dir (else $SHMSTATE_DIR) */
	int		 verbose;	/* -v */
	int		 cas_disabled;	/* -C */
	int		 verify_state;	/* --verify-state */
};

extern struct settings settings;

void	settings_defaults(struct settings *s);
int	settings_parse(struct settings *s, int argc, char **argv);
const char *state_mode_name(int mode);
int	parse_size(const char *arg, uint64_t unit, uint64_t *out);

/* ---- time ---- */

int64_t	sc_now(void);		/* unix seconds, CLOCK_REALTIME_COARSE */
uint64_t sc_now_ns(void);	/* CLOCK_MONOTONIC ns */

/*
 * memcached's exptime rules: 0 never; < 0 already expired; up to 30 days
 * relative to now; above, absolute unix time. Returns the absolute time
 * to store (0 = never; an already past time means expired).
 */
int64_t	sc_exptime(int64_t exptime, int64_t now);

/* ---- buffers ---- */

/* A growable byte buffer (connection output, stats text). */
struct sbuf {
	char	*p;
	size_t	 len;
	size_t	 cap;
	size_t	 off;		/* bytes already consumed from the front */
};

int	sbuf_reserve(struct sbuf *b, size_t n);	/* 0 or -ENOMEM */
int	sbuf_add(struct sbuf *b, const void *p, size_t n);
int	sbuf_printf(struct sbuf *b, const char *fmt, ...) SC_PRINTF(2, 3);
void	sbuf_free(struct sbuf *b);

/* ---- store.c ---- */

/*
 * Items and tables refer to each other by ref: a byte offset from the
 * shard's base. In heap mode base is 0 and a ref is the address itself;
 * in an arena base is the mapping address and a ref is an offset into the
 * arena, so the same code runs on memory adopted in place at any address.
 * Ref 0 is null (an arena's offset 0 is its header, never an item).
 * Changes to struct item or struct shard_root must bump
 * SC_LAYOUT_VERSION.
 */
typedef uint64_t sc_ref;

#define SC_LAYOUT_VERSION	1

#define IT_LINKED	0x01u	/* in the hash table and the LRU */
#define IT_FETCHED	0x02u	/* read since stored */
#define IT_ACTIVE	0x04u	/* read since it last reached the LRU tail;
				   advisory: a binary without it ignores it */

struct item {
	sc_ref		hnext;		/* next in hash chain */
	sc_ref		prev;		/* LRU: towards the head (newer) */
	sc_ref		next;		/* LRU: towards the tail (older) */
	uint64_t	hash;		/* XXH3 of the key */
	uint64_t	cas;
	uint32_t	exptime;	/* absolute unix s; 0 never */
	uint32_t	stime;		/* unix s of the store (flush_all) */
	uint32_t	flags;		/* client flags */
	uint32_t	nbytes;		/* value length incl. "\r\n" */
	uint8_t		nkey;
	uint8_t		iflags;		/* IT_* */
	uint16_t	pad;
	char		data[];		/* key, then value and "\r\n" */
};

#define ITEM_key(it)	((it)->data)
#define ITEM_data(it)	((it)->data + (it)->nkey)

/* Persistent per-shard state: lives in the arena in adopt mode. */
struct shard_root {
	uint64_t	magic;
	sc_ref		table;		/* sc_ref[nbuckets] */
	uint64_t	nbuckets;	/* power of two */
	uint64_t	nitems;
	uint64_t	used;		/* bytes charged against the limit */
	sc_ref		lru_head;	/* most recently used */
	sc_ref		lru_tail;
	uint64_t	max_cas;
	int64_t		flush_at;	/* store's delayed flush, at seal */
	uint64_t	nshards;	/* shard count it was written for */
	uint64_t	shard;		/* its index */
};

/*
 * Where a shard's memory comes from: the heap (none and copy modes) or an
 * arena (adopt mode). alloc returns a ref or 0; charge is the size the
 * budget counts for it (header and rounding included).
 */
struct sc_mem_ops {
	sc_ref	(*alloc)(void *arg, size_t size);
	void	(*free)(void *arg, sc_ref ref, size_t size);
	size_t	(*charge)(size_t size);
};

struct shard_stats {
	uint64_t	evictions;
	uint64_t	evicted_unfetched;
	uint64_t	expired_unfetched;
	uint64_t	reclaimed;
	uint64_t	total_items;
	uint64_t	oom;
};

struct shard {
	pthread_mutex_t		 lock;
	uintptr_t		 base;
	struct shard_root	*root;
	struct shard_root	 heap_root;
	uint64_t		 limit;		/* bytes */
	uint64_t		 pending;	/* allocated, not yet linked */
	const struct sc_mem_ops	*mem;
	void			*mem_arg;
	struct shard_stats	 st;
} __attribute__((aligned(64)));

struct store {
	unsigned	 nshards;
	unsigned	 shard_shift;	/* 64 - log2(nshards) */
	struct shard	*shards;
	uint64_t	 item_max;	/* max total item size */
	uint64_t	 maxbytes;
	uint64_t	 cas;		/* last CAS handed out (atomic) */
	int64_t		 flush_at;	/* delayed flush_all time (atomic) */
	int		 cas_disabled;
};

/* Results of store operations. */
enum sc_res {
	SC_STORED = 0,
	SC_NOT_STORED,
	SC_EXISTS,
	SC_NOT_FOUND,
	SC_DELETED,
	SC_TOUCHED,
	SC_NON_NUMERIC,
	SC_TOO_LARGE,
	SC_NO_MEMORY,
};

enum sc_op {
	SC_OP_SET = 0,
	SC_OP_ADD,
	SC_OP_REPLACE,
	SC_OP_APPEND,
	SC_OP_PREPEND,
	SC_OP_CAS,
};

int	store_init(struct store *s, unsigned nshards, uint64_t maxbytes,
	    uint64_t item_max);
void	store_destroy(struct store *s);
uint64_t store_hash(const char *key, size_t nkey);
struct shard *store_shard(struct store *s, uint64_t hash);
size_t	item_total(size_t nkey, size_t nbytes);

static inline void *
sc_ptr(const struct shard *sh, sc_ref ref)
{
	return (void *)(sh->base + (uintptr_t)ref);
}

static inline sc_ref
sc_refof(const struct shard *sh, const void *p)
{
	return (sc_ref)((uintptr_t)p - sh->base);
}

/*
 * Allocates an unlinked item for a store command, charged to its shard
 * (evicting from the LRU tail to make room). NULL with *res SC_TOO_LARGE
 * or SC_NO_MEMORY. The caller fills ITEM_data and then passes it to
 * store_item() or item_abandon().
 */
struct item *item_alloc(struct store *s, const char *key, size_t nkey,
	    uint32_t flags, int64_t exptime, size_t nbytes, enum sc_res *res);
void	item_abandon(struct store *s, struct item *it);

/* Links (or merges, for append/prepend) it; consumes it in every case. */
enum sc_res store_item(struct store *s, struct item *it, enum sc_op op,
	    uint64_t cas, int64_t now);

/*
 * Lookup for get/gets/gat/gats: on a hit appends the VALUE line and the
 * data to out under the shard lock. touch_exp >= 0 also sets the exptime
 * (gat). Returns 1 hit, 0 miss, -ENOMEM if out cannot grow.
 */
#define SC_NOTOUCH	(-1)
int	store_get(struct store *s, const char *key, size_t nkey, int with_cas,
	    int64_t touch_exp, int64_t now, struct sbuf *out);
enum sc_res store_delete(struct store *s, const char *key, size_t nkey,
	    int64_t now);
enum sc_res store_touch(struct store *s, const char *key, size_t nkey,
	    int64_t exptime, int64_t now);
enum sc_res store_arith(struct store *s, const char *key, size_t nkey,
	    int incr, uint64_t delta, int64_t now, uint64_t *value);
void	store_flush(struct store *s, int64_t when, int64_t now);

/* Aggregated over shards (takes each lock briefly). */
struct store_totals {
	uint64_t		curr_items;
	uint64_t		bytes;		/* charged */
	uint64_t		buckets;
	struct shard_stats	st;
};
void	store_totals(struct store *s, struct store_totals *t);
/* `stats reset': zeroes the shards' counters (not items or bytes). */
void	store_stats_reset(struct store *s);

/*
 * For state backends. store_insert_adopted() links an item read back from
 * a checkpoint at the LRU tail (the checkpoint is written head first),
 * into whatever shard the key hashes to now; items already expired or
 * not fitting are dropped (returns 0 linked, 1 dropped).
 */
int	store_insert_adopted(struct store *s, const char *key, size_t nkey,
	    uint32_t flags, int64_t exptime, int64_t stime, uint64_t cas,
	    const char *data, size_t nbytes, int64_t now);
void	store_cas_floor(struct store *s, uint64_t cas);

/*
 * Moves shard sh onto another allocator (adopt mode: an arena at base).
 * root 0 formats a new empty root and table there and returns its ref in
 * *rootp; otherwise root is an adopted root, validated against
 * mapped_size (magic, table bounds, counts) before use. The heap table
 * is freed. Returns 0, -ENOMEM, or -EINVAL for an implausible root.
 */
int	shard_attach(struct store *s, struct shard *sh, uintptr_t base,
	    uint64_t mapped_size, const struct sc_mem_ops *mem, void *arg,
	    sc_ref root, sc_ref *rootp);
/*
 * Walks sh from the LRU head, calling cb on each live item and freeing
 * every item after it (checkpointing frees as it writes). Stops at the
 * first negative cb return and returns it; 0 when the shard is empty.
 */
int	shard_drain(struct store *s, struct shard *sh, int64_t now,
	    int (*cb)(const struct item *, void *), void *arg);

/* ---- stats.c ---- */

/* Per-worker counters: written only by the owning worker (relaxed). */
struct wstats {
	uint64_t	cmd_get, get_hits, get_misses, get_expired;
	uint64_t	cmd_set, cmd_touch, touch_hits, touch_misses;
	uint64_t	cmd_flush;
	uint64_t	delete_hits, delete_misses;
	uint64_t	incr_hits, incr_misses, decr_hits, decr_misses;
	uint64_t	cas_hits, cas_misses, cas_badval;
	uint64_t	bytes_read, bytes_written;
	uint64_t	rejected_conns, conn_dropped, idle_kicks;
	uint64_t	total_conns;
	uint64_t	store_too_large, store_no_memory;
};

#define STAT_INC(ws, f)	__atomic_store_n(&(ws)->f, (ws)->f + 1, \
			    __ATOMIC_RELAXED)
#define STAT_ADD(ws, f, n) __atomic_store_n(&(ws)->f, (ws)->f + (n), \
			    __ATOMIC_RELAXED)

/* What `stats shmstate' reports; filled by the state backend. */
struct sc_state_info {
	int		mode;		/* enum sc_state_mode */
	const char	*restart;	/* "cold", "copy", "adopt" */
	char		 reason[160];	/* why cold, if it was */
	uint64_t	 generation;	/* adopted generation */
	uint64_t	 items_adopted;
	uint64_t	 items_dropped;	/* expired or not fitting */
	uint64_t	 adopt_ns;
	int64_t		 last_ckpt_time; /* unix s, 0 never */
	uint64_t	 last_ckpt_ns;
	uint64_t	 last_ckpt_items;
};

struct server;
void	stats_general(struct server *srv, struct sbuf *out);
void	stats_settings(struct server *srv, struct sbuf *out);
void	stats_shmstate(struct server *srv, struct sbuf *out);

/* ---- conn.c / proto.c ---- */

enum conn_state {
	CONN_CMD = 0,		/* reading command lines */
	CONN_NREAD,		/* reading a value into c->it */
	CONN_SWALLOW,		/* discarding c->swallow bytes */
	CONN_CLOSING,		/* flush what is queued, then close */
};

struct worker;

struct conn {
	int		 fd;
	int		 state;		/* enum conn_state */
	struct worker	*w;		/* the worker driving it now */
	struct conn	*lprev, *lnext;	/* server's connection list */
	int		 busy;		/* atomic: held by one thread */
	int		 dead;		/* closed or parked: skip its events */
	uint64_t	 retired;	/* epoch of its close (conn.c) */
	char		*rbuf;
	size_t		 rsize, rlen, rpos;
	struct sbuf	 wb;
	/* value being read (CONN_NREAD) */
	struct item	*it;
	size_t		 it_got;
	int		 it_op;		/* enum sc_op */
	uint64_t	 it_cas;
	int		 noreply;
	uint64_t	 swallow;	/* CONN_SWALLOW bytes left */
	size_t		 get_resume;	/* multi-get key cursor, 0 = none */
	int		 epoll_events;
	int		 closed_read;	/* peer shut down its side */
	int64_t		 last_active;	/* sc_now() of last input */
	int64_t		 blocked_since;	/* 0, or when output hit the cap */
	int64_t		 linger_since;	/* write side shut, draining input */
	uint64_t	 linger_bytes;
};

/* Results of proto_process(). */
enum {
	PROTO_NEED_MORE = 0,	/* consumed everything usable */
	PROTO_BLOCKED = 1,	/* output over the cap: stop reading */
	PROTO_CLOSE = 2,	/* close after flushing the output */
};

int	proto_process(struct server *srv, struct conn *c);
/* Frees what a connection holds (item in flight, buffers); not the fd. */
void	conn_release(struct server *srv, struct conn *c);

/* ---- handoff.c ---- */

struct shms_listen_fd;

/*
 * Takes the connections handed over to this process out of fds (their
 * entries become -1) into srv->handed, and tells the fd store how many
 * it took (before READY=1). Call before workers_start().
 */
void	handoff_take(struct server *srv, struct shms_listen_fd *fds, int n);
/*
 * After workers_stop(): hands srv->parked over (or shuts down those that
 * could not be). handoff_close() then drops our copies: after the
 * checkpoint is reported, since nothing waits for it.
 */
void	handoff_send(struct server *srv);
void	handoff_close(struct server *srv);

/* ---- state.c ---- */

/*
 * A state backend keeps the store across restarts. open() runs before the
 * workers start: it fills the store from the last checkpoint (copy), or
 * attaches the shards to their arenas (adopt), or does nothing (none),
 * and fills srv->state_info. save() runs after the workers have stopped
 * (copy: checkpoint, freeing as it writes; adopt: mark the arenas clean).
 * close() releases the service directory. A backend that cannot use the
 * previous state logs why and starts cold; only a failure to serve at
 * all is returned as an error.
 */
struct sc_state_ops {
	const char	*name;
	int		(*open)(struct server *srv);
	int		(*save)(struct server *srv);
	void		(*close)(struct server *srv);
};

extern const struct sc_state_ops sc_state_none;
extern const struct sc_state_ops sc_state_copy;
extern const struct sc_state_ops sc_state_adopt;
const struct sc_state_ops *state_ops(int mode);

/* ---- the server ---- */

struct server {
	struct store		 store;
	struct worker		*workers;
	unsigned		 nworkers;
	int			 lfds[SC_LISTEN_MAX];
	unsigned		 nlfds;
	int64_t			 started;	/* unix s */
	uint64_t		 curr_conns;	/* atomic */
	int			 stopping;	/* atomic */
	/*
	 * conn.c: the workers' shared epoll set and connection list;
	 * closed connections wait in the grave until no worker can still
	 * hold an event for them.
	 */
	int			 epfd;
	int			 stopfd;
	pthread_mutex_t		 conns_lock;
	struct conn		*conns;		/* under conns_lock */
	unsigned		 nconns;	/* atomic; changed under lock */
	struct conn		*grave;		/* under conns_lock */
	unsigned		 ngrave;	/* atomic; changed under lock */
	uint64_t		 epoch;		/* atomic */
	unsigned		 nstopped;	/* atomic: workers draining */
	int64_t			 tick;		/* atomic: last timeout scan */
	unsigned		 verbosity;
	const struct sc_state_ops *state;
	void			*state_priv;
	struct sc_state_info	 state_info;
	pthread_mutex_t		 stats_lock;
	struct wstats		 stats_base;	/* at the last reset */
	/*
	 * Connection handoff (handoff.c): under a supervisor, a stop parks
	 * each connection at its request boundary instead of closing it,
	 * and hands the parked ones over; a start takes what was handed.
	 */
	int			 handoff;	/* $NOTIFY_SOCKET was set */
	pthread_mutex_t		 park_lock;
	struct conn		*parked;	/* linked by lnext */
	struct conn		*handed;	/* taken, for workers_start */
	uint32_t		 ho_handed, ho_taken, ho_closed;
};

struct wstats *conn_wstats(struct conn *c);

int	workers_start(struct server *srv);
void	workers_stop(struct server *srv);
void	workers_stats(struct server *srv, struct wstats *sum);
/* `stats reset': later sums count from now (a baseline, no races). */
void	workers_stats_reset(struct server *srv);

#endif /* SHARDCACHE_SC_H */
