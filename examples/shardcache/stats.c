/*
 * stats.c: output buffers, and the `stats', `stats settings' and
 * `stats shmstate' replies (memcached's field names where they exist).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "sc.h"

int
sbuf_reserve(struct sbuf *b, size_t n)
{
	size_t cap;
	char *p;

	if (b->cap - b->len >= n)
		return 0;
	if (b->off > 0) {
		memmove(b->p, b->p + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
		if (b->cap - b->len >= n)
			return 0;
	}
	cap = b->cap ? b->cap : SC_WBUF_INIT;
	while (cap - b->len < n) {
		if (cap > SIZE_MAX / 2)
			return -ENOMEM;
		cap *= 2;
	}
	if ((p = realloc(b->p, cap)) == NULL)
		return -ENOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

int
sbuf_add(struct sbuf *b, const void *p, size_t n)
{
	if (sbuf_reserve(b, n) < 0)
		return -ENOMEM;
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

int
sbuf_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (sbuf_reserve(b, 256) < 0)
		return -ENOMEM;
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n >= b->cap - b->len) {
		if (sbuf_reserve(b, (size_t)n + 1) < 0)
			return -ENOMEM;
		va_start(ap, fmt);
		vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
	return 0;
}

void
sbuf_free(struct sbuf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

#define STAT_U64(name, v) \
	sbuf_printf(out, "STAT %s %" PRIu64 "\r\n", name, (uint64_t)(v))
#define STAT_STR(name, v) \
	sbuf_printf(out, "STAT %s %s\r\n", name, v)

void
stats_general(struct server *srv, struct sbuf *out)
{
	struct store_totals t;
	struct wstats w;
	struct rusage ru;
	int64_t now = sc_now();

	workers_stats(srv, &w);
	store_totals(&srv->store, &t);
	getrusage(RUSAGE_SELF, &ru);
	STAT_U64("pid", getpid());
	STAT_U64("uptime", now - srv->started);
	STAT_U64("time", now);
	STAT_STR("version", SC_VERSION);
	STAT_U64("pointer_size", 8 * sizeof(void *));
	sbuf_printf(out, "STAT rusage_user %ld.%06ld\r\n",
	    (long)ru.ru_utime.tv_sec, (long)ru.ru_utime.tv_usec);
	sbuf_printf(out, "STAT rusage_system %ld.%06ld\r\n",
	    (long)ru.ru_stime.tv_sec, (long)ru.ru_stime.tv_usec);
	STAT_U64("max_connections", settings.maxconns);
	STAT_U64("curr_connections",
	    __atomic_load_n(&srv->curr_conns, __ATOMIC_RELAXED));
	STAT_U64("total_connections", w.total_conns);
	STAT_U64("rejected_connections", w.rejected_conns);
	STAT_U64("connections_dropped", w.conn_dropped);
	STAT_U64("idle_kicks", w.idle_kicks);
	STAT_U64("cmd_get", w.cmd_get);
	STAT_U64("cmd_set", w.cmd_set);
	STAT_U64("cmd_flush", w.cmd_flush);
	STAT_U64("cmd_touch", w.cmd_touch);
	STAT_U64("get_hits", w.get_hits);
	STAT_U64("get_misses", w.get_misses);
	STAT_U64("get_expired", w.get_expired);
	STAT_U64("delete_misses", w.delete_misses);
	STAT_U64("delete_hits", w.delete_hits);
	STAT_U64("incr_misses", w.incr_misses);
	STAT_U64("incr_hits", w.incr_hits);
	STAT_U64("decr_misses", w.decr_misses);
	STAT_U64("decr_hits", w.decr_hits);
	STAT_U64("cas_misses", w.cas_misses);
	STAT_U64("cas_hits", w.cas_hits);
	STAT_U64("cas_badval", w.cas_badval);
	STAT_U64("touch_hits", w.touch_hits);
	STAT_U64("touch_misses", w.touch_misses);
	STAT_U64("store_too_large", w.store_too_large);
	STAT_U64("store_no_memory", w.store_no_memory);
	STAT_U64("bytes_read", w.bytes_read);
	STAT_U64("bytes_written", w.bytes_written);
	STAT_U64("limit_maxbytes", srv->store.maxbytes);
	STAT_U64("threads", srv->nworkers);
	STAT_U64("shards", srv->store.nshards);
	STAT_U64("hash_buckets", t.buckets);
	STAT_U64("bytes", t.bytes);
	STAT_U64("curr_items", t.curr_items);
	STAT_U64("total_items", t.st.total_items);
	STAT_U64("expired_unfetched", t.st.expired_unfetched);
	STAT_U64("evicted_unfetched", t.st.evicted_unfetched);
	STAT_U64("evictions", t.st.evictions);
	STAT_U64("reclaimed", t.st.reclaimed);
}

void
stats_settings(struct server *srv, struct sbuf *out)
{
	STAT_U64("maxbytes", settings.maxbytes);
	STAT_U64("maxconns", settings.maxconns);
	STAT_U64("tcpport", settings.port);
	STAT_STR("inter", settings.addr);
	STAT_U64("verbosity",
	    __atomic_load_n(&srv->verbosity, __ATOMIC_RELAXED));
	STAT_U64("num_threads", srv->nworkers);
	STAT_U64("shards", srv->store.nshards);
	STAT_STR("cas_enabled", settings.cas_disabled ? "no" : "yes");
	STAT_U64("tcp_backlog", settings.backlog);
	STAT_U64("item_size_max", settings.item_max);
	STAT_U64("idle_timeout", settings.idle_timeout);
	STAT_U64("output_max", settings.wbuf_max);
	STAT_U64("drop_timeout", settings.drop_timeout);
	STAT_U64("stop_timeout", settings.stop_timeout);
	STAT_STR("domain_socket", settings.unix_path[0] ?
	    settings.unix_path : "NULL");
	sbuf_printf(out, "STAT umask %o\r\n", (unsigned)settings.unix_mode);
	STAT_STR("state_mode", state_mode_name(settings.state));
	STAT_STR("state_service", settings.service);
	STAT_STR("verify_state", settings.verify_state ? "yes" : "no");
}

void
stats_shmstate(struct server *srv, struct sbuf *out)
{
	const struct sc_state_info *si = &srv->state_info;

	STAT_STR("mode", state_mode_name(si->mode));
	STAT_STR("restart", si->restart ? si->restart : "cold");
	if (si->reason[0] != '\0')
		STAT_STR("cold_reason", si->reason);
	STAT_U64("generation", si->generation);
	STAT_U64("items_adopted", si->items_adopted);
	STAT_U64("items_dropped", si->items_dropped);
	sbuf_printf(out, "STAT adopt_time %.6f\r\n",
	    (double)si->adopt_ns / 1e9);
	STAT_U64("last_checkpoint_time", si->last_ckpt_time);
	sbuf_printf(out, "STAT last_checkpoint_duration %.6f\r\n",
	    (double)si->last_ckpt_ns / 1e9);
	STAT_U64("last_checkpoint_items", si->last_ckpt_items);
	STAT_U64("shards", srv->store.nshards);
	STAT_U64("layout_version", SC_LAYOUT_VERSION);
	/* Connections our predecessor handed over at the last upgrade. */
	STAT_U64("handoff_conns_handed", srv->ho_handed);
	STAT_U64("handoff_conns_taken", srv->ho_taken);
	STAT_U64("handoff_conns_closed", srv->ho_closed);
}
