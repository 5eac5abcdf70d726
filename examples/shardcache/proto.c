/*
 * proto.c: the memcached text protocol (memcached 1.6 protocol.txt).
 *
 * Incremental: proto_process() consumes what is complete in the read
 * buffer and returns PROTO_NEED_MORE at a partial line or value, like
 * PARSE_EUNFIN in Pelikan. Lines are capped (SC_LINE_MAX, or
 * SC_GETLINE_MAX for the get family); a value too large for an item is
 * answered and its declared bytes swallowed, like memcached's
 * conn_swallow. Replies and their error strings are memcached's, byte for
 * byte, so that clients and memcapable see no difference.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sc.h"

#define MAX_TOKENS	24		/* memcached's MAX_TOKENS */

struct token {
	char	*v;
	size_t	 n;
};

#define S(x)	x, sizeof(x) - 1

static const char *const bad_format = "CLIENT_ERROR bad command line format";

static void
reply(struct conn *c, const char *s, size_t n)
{
	if (c->noreply)
		return;
	if (sbuf_reserve(&c->wb, n + 2) < 0) {
		c->state = CONN_CLOSING;
		return;
	}
	memcpy(c->wb.p + c->wb.len, s, n);
	memcpy(c->wb.p + c->wb.len + n, "\r\n", 2);
	c->wb.len += n + 2;
}

static void
reply_str(struct conn *c, const char *s)
{
	reply(c, s, strlen(s));
}

/* memcached's safe_strtoull: base 10, no trailing garbage, no sign. */
static int
safe_strtoull(const char *str, uint64_t *out)
{
	unsigned long long l;
	char *end;

	errno = 0;
	l = strtoull(str, &end, 10);
	if (errno == ERANGE || end == str)
		return 0;
	if (*end != '\0' && !isspace((unsigned char)*end))
		return 0;
	if ((long long)l < 0 && strchr(str, '-') != NULL)
		return 0;
	*out = l;
	return 1;
}

/* memcached's safe_strtol, into 32 bits. */
static int
safe_strtol32(const char *str, int32_t *out)
{
	long l;
	char *end;

	errno = 0;
	l = strtol(str, &end, 10);
	if (errno == ERANGE || end == str)
		return 0;
	if (*end != '\0' && !isspace((unsigned char)*end))
		return 0;
	if (l > INT32_MAX || l < INT32_MIN)
		return 0;
	*out = (int32_t)l;
	return 1;
}

/* 32-bit client flags (memcached's safe_strtoflags). */
static int
safe_strtoflags(const char *str, uint32_t *out)
{
	uint64_t v;

	if (!safe_strtoull(str, &v) || v > UINT32_MAX)
		return 0;
	*out = (uint32_t)v;
	return 1;
}

/* Keys: 1..250 bytes, no control characters (spaces cannot occur). */
static int
key_ok(const char *k, size_t n)
{
	size_t i;

	if (n == 0 || n > SC_KEY_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)k[i] < 0x21 || (unsigned char)k[i] == 0x7f)
			return 0;
	return 1;
}

/*
 * Splits line (NUL-terminated, no newline) on spaces, in place, like
 * memcached's tokenize_command: at most MAX_TOKENS - 1 tokens, the last
 * holding the rest of the line. Returns the number of tokens.
 */
static size_t
tokenize(char *line, size_t len, struct token *t)
{
	size_t n = 0, i;
	char *s = line;

	for (i = 0; i < len; i++) {
		if (line[i] != ' ')
			continue;
		if (&line[i] != s) {
			t[n].v = s;
			t[n].n = (size_t)(&line[i] - s);
			line[i] = '\0';
			if (++n == MAX_TOKENS - 1) {
				s = &line[i + 1];
				i = len;
				break;
			}
		}
		s = &line[i + 1];
	}
	if (s < line + len) {
		t[n].v = s;
		t[n].n = (size_t)(line + len - s);
		n++;
	}
	return n;
}

static int
is_noreply(const struct token *t, size_t n)
{
	return n > 0 && t[n - 1].n == 7 && memcmp(t[n - 1].v, "noreply", 7)
	    == 0;
}

static int
tok_is(const struct token *t, const char *s)
{
	size_t n = strlen(s);

	return t->n == n && memcmp(t->v, s, n) == 0;
}

/* ---- storage commands ---- */

static const char *
store_reply(enum sc_res r)
{
	switch (r) {
	case SC_STORED:		return "STORED";
	case SC_NOT_STORED:	return "NOT_STORED";
	case SC_EXISTS:		return "EXISTS";
	case SC_NOT_FOUND:	return "NOT_FOUND";
	case SC_TOO_LARGE:	return "SERVER_ERROR object too large for cache";
	default:		return "SERVER_ERROR out of memory storing object";
	}
}

static void
process_update(struct server *srv, struct conn *c, struct token *t,
    size_t n, enum sc_op op)
{
	struct wstats *ws = conn_wstats(c);
	uint32_t flags;
	int32_t exptime, vlen;
	uint64_t cas = 0;
	enum sc_res res;
	struct item *it;

	c->noreply = is_noreply(t, n);
	if (!key_ok(t[1].v, t[1].n) ||
	    !safe_strtoflags(t[2].v, &flags) ||
	    !safe_strtol32(t[3].v, &exptime) ||
	    !safe_strtol32(t[4].v, &vlen) ||
	    (op == SC_OP_CAS && !safe_strtoull(t[5].v, &cas)) ||
	    vlen < 0 || vlen > INT32_MAX - 2) {
		reply_str(c, bad_format);
		return;
	}
	STAT_INC(ws, cmd_set);
	it = item_alloc(&srv->store, t[1].v, t[1].n, flags,
	    sc_exptime(exptime, sc_now()), (size_t)vlen + 2, &res);
	if (it == NULL) {
		if (res == SC_TOO_LARGE)
			STAT_INC(ws, store_too_large);
		else
			STAT_INC(ws, store_no_memory);
		reply_str(c, store_reply(res));
		c->state = CONN_SWALLOW;
		c->swallow = (uint64_t)vlen + 2;
		/* No stale value may survive a failed set. */
		if (op == SC_OP_SET)
			store_delete(&srv->store, t[1].v, t[1].n, sc_now());
		return;
	}
	c->it = it;
	c->it_got = 0;
	c->it_op = op;
	c->it_cas = cas;
	c->state = CONN_NREAD;
}

static void
complete_nread(struct server *srv, struct conn *c)
{
	struct wstats *ws = conn_wstats(c);
	struct item *it = c->it;
	enum sc_res res;

	c->it = NULL;
	c->state = CONN_CMD;
	if (memcmp(ITEM_data(it) + it->nbytes - 2, "\r\n", 2) != 0) {
		item_abandon(&srv->store, it);
		reply_str(c, "CLIENT_ERROR bad data chunk");
		return;
	}
	res = store_item(&srv->store, it, (enum sc_op)c->it_op, c->it_cas,
	    sc_now());
	if (c->it_op == SC_OP_CAS) {
		if (res == SC_STORED)
			STAT_INC(ws, cas_hits);
		else if (res == SC_EXISTS)
			STAT_INC(ws, cas_badval);
		else if (res == SC_NOT_FOUND)
			STAT_INC(ws, cas_misses);
	}
	reply_str(c, store_reply(res));
}

/* ---- retrieval ---- */

/*
 * get/gets/gat/gats over the unmodified line [p, end): keys are checked
 * first so that a bad key answers only CLIENT_ERROR; then each key is
 * looked up. When the output passes its cap the position is kept in
 * c->get_resume and the line stays unconsumed: returns 1 (blocked).
 */
static int
process_get(struct server *srv, struct conn *c, const char *line,
    const char *keys, const char *end, int with_cas, int64_t touch)
{
	struct wstats *ws = conn_wstats(c);
	const char *p, *k;
	int64_t now = sc_now();
	int rc;

	if (c->get_resume == 0) {
		for (p = keys; p < end; ) {
			while (p < end && *p == ' ')
				p++;
			for (k = p; p < end && *p != ' '; p++)
				;
			if (p > k && !key_ok(k, (size_t)(p - k))) {
				reply_str(c, bad_format);
				return 0;
			}
		}
		p = keys;
	} else
		p = line + c->get_resume;
	while (p < end) {
		while (p < end && *p == ' ')
			p++;
		for (k = p; p < end && *p != ' '; p++)
			;
		if (p == k)
			break;
		rc = store_get(&srv->store, k, (size_t)(p - k), with_cas,
		    touch, now, &c->wb);
		if (rc < 0) {
			c->get_resume = 0;
			reply_str(c, "SERVER_ERROR out of memory writing get "
			    "response");
			return 0;
		}
		if (touch != SC_NOTOUCH) {
			STAT_INC(ws, cmd_touch);
			if (rc)
				STAT_INC(ws, touch_hits);
			else
				STAT_INC(ws, touch_misses);
		}
		STAT_INC(ws, cmd_get);
		if (rc)
			STAT_INC(ws, get_hits);
		else
			STAT_INC(ws, get_misses);
		if (c->wb.len - c->wb.off > settings.wbuf_max && p < end) {
			c->get_resume = (size_t)(p - line);
			return 1;
		}
	}
	c->get_resume = 0;
	reply(c, S("END"));
	return 0;
}

/* ---- other commands ---- */

static void
process_arith(struct server *srv, struct conn *c, struct token *t, size_t n,
    int incr)
{
	struct wstats *ws = conn_wstats(c);
	uint64_t delta, v;
	char buf[24];
	enum sc_res res;

	c->noreply = is_noreply(t, n);
	if (!key_ok(t[1].v, t[1].n)) {
		reply_str(c, bad_format);
		return;
	}
	if (!safe_strtoull(t[2].v, &delta)) {
		reply_str(c, "CLIENT_ERROR invalid numeric delta argument");
		return;
	}
	res = store_arith(&srv->store, t[1].v, t[1].n, incr, delta, sc_now(),
	    &v);
	switch (res) {
	case SC_STORED:
		if (incr)
			STAT_INC(ws, incr_hits);
		else
			STAT_INC(ws, decr_hits);
		reply(c, buf, (size_t)snprintf(buf, sizeof(buf), "%" PRIu64,
		    v));
		break;
	case SC_NOT_FOUND:
		if (incr)
			STAT_INC(ws, incr_misses);
		else
			STAT_INC(ws, decr_misses);
		reply(c, S("NOT_FOUND"));
		break;
	case SC_NON_NUMERIC:
		reply_str(c, "CLIENT_ERROR cannot increment or decrement "
		    "non-numeric value");
		break;
	default:
		reply_str(c, "SERVER_ERROR out of memory");
		break;
	}
}

static void
process_delete(struct server *srv, struct conn *c, struct token *t,
    size_t n)
{
	struct wstats *ws = conn_wstats(c);
	int hold0;

	if (n > 2) {
		hold0 = tok_is(&t[2], "0");
		c->noreply = is_noreply(t, n);
		if (!((n == 3 && (hold0 || c->noreply)) ||
		    (n == 4 && hold0 && c->noreply))) {
			reply_str(c, "CLIENT_ERROR bad command line format.  "
			    "Usage: delete <key> [noreply]");
			return;
		}
	}
	if (!key_ok(t[1].v, t[1].n)) {
		reply_str(c, bad_format);
		return;
	}
	if (store_delete(&srv->store, t[1].v, t[1].n, sc_now()) ==
	    SC_DELETED) {
		STAT_INC(ws, delete_hits);
		reply(c, S("DELETED"));
	} else {
		STAT_INC(ws, delete_misses);
		reply(c, S("NOT_FOUND"));
	}
}

static void
process_touch(struct server *srv, struct conn *c, struct token *t, size_t n)
{
	struct wstats *ws = conn_wstats(c);
	int32_t exptime;
	int64_t now = sc_now();

	c->noreply = is_noreply(t, n);
	if (!key_ok(t[1].v, t[1].n)) {
		reply_str(c, bad_format);
		return;
	}
	if (!safe_strtol32(t[2].v, &exptime)) {
		reply_str(c, "CLIENT_ERROR invalid exptime argument");
		return;
	}
	STAT_INC(ws, cmd_touch);
	if (store_touch(&srv->store, t[1].v, t[1].n, sc_exptime(exptime, now),
	    now) == SC_TOUCHED) {
		STAT_INC(ws, touch_hits);
		reply(c, S("TOUCHED"));
	} else {
		STAT_INC(ws, touch_misses);
		reply(c, S("NOT_FOUND"));
	}
}

static void
process_flush(struct server *srv, struct conn *c, struct token *t, size_t n)
{
	int32_t delay = 0;
	int64_t now = sc_now();

	c->noreply = is_noreply(t, n);
	if (n != (c->noreply ? 2u : 1u) && !safe_strtol32(t[1].v, &delay)) {
		reply_str(c, "CLIENT_ERROR invalid exptime argument");
		return;
	}
	STAT_INC(conn_wstats(c), cmd_flush);
	store_flush(&srv->store, delay > 0 ? sc_exptime(delay, now) : now,
	    now);
	reply(c, S("OK"));
}

static void
process_stats(struct server *srv, struct conn *c, struct token *t, size_t n)
{
	if (n == 1)
		stats_general(srv, &c->wb);
	else if (tok_is(&t[1], "settings"))
		stats_settings(srv, &c->wb);
	else if (tok_is(&t[1], "shmstate"))
		stats_shmstate(srv, &c->wb);
	else if (tok_is(&t[1], "reset")) {
		workers_stats_reset(srv);
		store_stats_reset(&srv->store);
		reply(c, S("RESET"));
		return;
	} else {
		reply(c, S("ERROR"));
		return;
	}
	reply(c, S("END"));
}

/* Which get-family command starts the line, if any: 1 get .. 4 gats. */
static int
get_family(const char *p, size_t n)
{
	while (n > 0 && *p == ' ') {
		p++;
		n--;
	}
	if (n >= 4 && memcmp(p, "get ", 4) == 0)
		return 1;
	if (n >= 5 && memcmp(p, "gets ", 5) == 0)
		return 2;
	if (n >= 4 && memcmp(p, "gat ", 4) == 0)
		return 3;
	if (n >= 5 && memcmp(p, "gats ", 5) == 0)
		return 4;
	return 0;
}

/*
 * Runs one command line [line, line + len) (newline and \r stripped).
 * Returns 1 when a multi-get stopped at the output cap (the line must
 * stay unconsumed), else 0.
 */
static int
process_line(struct server *srv, struct conn *c, char *line, size_t len)
{
	struct token t[MAX_TOKENS];
	const char *p, *end = line + len, *kstart;
	size_t n;
	int fam;
	int32_t gexp;
	uint64_t v;

	c->noreply = 0;
	if ((fam = get_family(line, len)) != 0) {
		for (p = line; *p == ' '; p++)
			;
		p += fam == 1 || fam == 3 ? 3 : 4;
		if (fam <= 2)
			return process_get(srv, c, line, p, end, fam == 2,
			    SC_NOTOUCH);
		/* gat <exptime> <key>*: the exptime is the second token */
		while (p < end && *p == ' ')
			p++;
		for (kstart = p; kstart < end && *kstart != ' '; kstart++)
			;
		{
			char num[16];
			size_t nl = (size_t)(kstart - p);

			if (nl == 0 || nl >= sizeof(num)) {
				reply_str(c, nl == 0 ? "ERROR" :
				    "CLIENT_ERROR invalid exptime argument");
				return 0;
			}
			memcpy(num, p, nl);
			num[nl] = '\0';
			if (!safe_strtol32(num, &gexp)) {
				reply_str(c, "CLIENT_ERROR invalid exptime "
				    "argument");
				return 0;
			}
		}
		return process_get(srv, c, line, kstart, end, fam == 4,
		    sc_exptime(gexp, sc_now()));
	}

	line[len] = '\0';
	n = tokenize(line, len, t);
	if (n == 0 || t[0].n < 2) {
		reply(c, S("ERROR"));
		return 0;
	}
	if (tok_is(&t[0], "set") || tok_is(&t[0], "add") ||
	    tok_is(&t[0], "replace") || tok_is(&t[0], "append") ||
	    tok_is(&t[0], "prepend")) {
		if (n != 5 && n != 6) {
			reply(c, S("ERROR"));
			return 0;
		}
		process_update(srv, c, t, n, tok_is(&t[0], "set") ? SC_OP_SET :
		    tok_is(&t[0], "add") ? SC_OP_ADD :
		    tok_is(&t[0], "replace") ? SC_OP_REPLACE :
		    tok_is(&t[0], "append") ? SC_OP_APPEND : SC_OP_PREPEND);
	} else if (tok_is(&t[0], "cas")) {
		if (n != 6 && n != 7)
			reply(c, S("ERROR"));
		else
			process_update(srv, c, t, n, SC_OP_CAS);
	} else if (tok_is(&t[0], "get") || tok_is(&t[0], "gets") ||
	    tok_is(&t[0], "gat") || tok_is(&t[0], "gats")) {
		reply(c, S("ERROR"));	/* no key */
	} else if (tok_is(&t[0], "incr") || tok_is(&t[0], "decr")) {
		if (n != 3 && n != 4)
			reply(c, S("ERROR"));
		else
			process_arith(srv, c, t, n, tok_is(&t[0], "incr"));
	} else if (tok_is(&t[0], "delete")) {
		if (n < 2 || n > 4)
			reply(c, S("ERROR"));
		else
			process_delete(srv, c, t, n);
	} else if (tok_is(&t[0], "touch")) {
		if (n != 3 && n != 4)
			reply(c, S("ERROR"));
		else
			process_touch(srv, c, t, n);
	} else if (tok_is(&t[0], "flush_all")) {
		if (n > 3)
			reply(c, S("ERROR"));
		else
			process_flush(srv, c, t, n);
	} else if (tok_is(&t[0], "stats")) {
		process_stats(srv, c, t, n);
	} else if (tok_is(&t[0], "version")) {
		reply(c, S("VERSION " SC_VERSION));
	} else if (tok_is(&t[0], "verbosity")) {
		if (n != 2 && n != 3) {
			reply(c, S("ERROR"));
			return 0;
		}
		c->noreply = is_noreply(t, n);
		if (!safe_strtoull(t[1].v, &v) || v > UINT32_MAX) {
			reply_str(c, bad_format);
			return 0;
		}
		__atomic_store_n(&srv->verbosity, (unsigned)v,
		    __ATOMIC_RELAXED);
		reply(c, S("OK"));
	} else if (tok_is(&t[0], "quit")) {
		c->state = CONN_CLOSING;
	} else
		reply(c, S("ERROR"));
	return 0;
}

int
proto_process(struct server *srv, struct conn *c)
{
	size_t avail, n, len, max;
	char *line, *nl;

	for (;;) {
		avail = c->rlen - c->rpos;
		switch (c->state) {
		case CONN_NREAD:
			n = c->it->nbytes - c->it_got;
			if (n > avail)
				n = avail;
			memcpy(ITEM_data(c->it) + c->it_got, c->rbuf + c->rpos,
			    n);
			c->rpos += n;
			c->it_got += n;
			if (c->it_got < c->it->nbytes)
				goto need_more;
			complete_nread(srv, c);
			continue;
		case CONN_SWALLOW:
			n = avail < c->swallow ? avail : (size_t)c->swallow;
			c->rpos += n;
			c->swallow -= n;
			if (c->swallow > 0)
				goto need_more;
			c->state = CONN_CMD;
			continue;
		case CONN_CLOSING:
			return PROTO_CLOSE;
		default:
			break;
		}
		if (c->wb.len - c->wb.off > settings.wbuf_max)
			return PROTO_BLOCKED;
		/* Before the first read rbuf is NULL: NULL + 0 is UB. */
		if (avail == 0)
			goto need_more;
		line = c->rbuf + c->rpos;
		nl = avail > 0 ? memchr(line, '\n', avail) : NULL;
		if (nl == NULL) {
			max = get_family(line, avail) ? SC_GETLINE_MAX :
			    SC_LINE_MAX;
			if (avail > max) {
				c->noreply = 0;
				reply(c, S("CLIENT_ERROR line too long"));
				c->state = CONN_CLOSING;
				return PROTO_CLOSE;
			}
			goto need_more;
		}
		len = (size_t)(nl - line);
		if (len > 0 && line[len - 1] == '\r')
			len--;
		/* Only lines over the short cap pay for the family test. */
		if (len > SC_LINE_MAX && (len > SC_GETLINE_MAX ||
		    !get_family(line, len))) {
			c->noreply = 0;
			reply(c, S("CLIENT_ERROR line too long"));
			c->state = CONN_CLOSING;
			return PROTO_CLOSE;
		}
		if (process_line(srv, c, line, len))
			return PROTO_BLOCKED;	/* line kept for resume */
		c->rpos = (size_t)(nl + 1 - c->rbuf);
		if (c->state == CONN_CLOSING)
			return PROTO_CLOSE;
	}
need_more:
	if (c->rpos == c->rlen)
		c->rpos = c->rlen = 0;
	return PROTO_NEED_MORE;
}
