/*
 * fuzz_mcproto: shardcache's memcached text protocol parser
 * (proto_process in examples/shardcache/proto.c) on a byte stream, the
 * way conn.c feeds it: bytes arrive in chunks split at arbitrary points
 * (a value read straight into its item when nothing is buffered, the
 * read buffer grown up to its cap), requests pipelined, output drained
 * between calls, a small output cap so multi-gets stop and resume.
 *
 * Input: two seed bytes (split points, output cap), then the stream.
 * Invariants: no crash or leak; the bytes answered do not depend on where
 * the stream was split (the stream is replayed as one chunk and compared;
 * time is frozen with --wrap=sc_now; "stats" replies, which carry rusage,
 * are left out of the comparison).
 */
#include <string.h>

#include "sc.h"
#include "fuzz.h"

#define RBUF_MAX	(SC_GETLINE_MAX + 64)	/* as conn.c */
#define OUT_MAX		(1u << 20)		/* compared output kept */

int64_t	__wrap_sc_now(void);

int64_t
__wrap_sc_now(void)
{
	return 1700000000;
}

struct out {
	char	*p;
	size_t	 len;
	int	 full;
};

static void
drain(struct conn *c, struct out *o)
{
	size_t n = c->wb.len - c->wb.off;

	if (n == 0)
		return;		/* wb.p may still be NULL */
	if (o != NULL && !o->full) {
		if (o->len + n > OUT_MAX)
			o->full = 1;
		else {
			memcpy(o->p + o->len, c->wb.p + c->wb.off, n);
			o->len += n;
		}
	}
	c->wb.off = c->wb.len = 0;
}

/* conn_read() of conn.c over an in-memory stream; -1 at the cap. */
static long
feed(struct conn *c, const uint8_t *src, size_t avail)
{
	size_t room, nsize;
	char *dst, *p;

	if (c->state == CONN_NREAD && c->rpos == c->rlen) {
		dst = ITEM_data(c->it) + c->it_got;
		room = c->it->nbytes - c->it_got;
	} else {
		if (c->rpos > 0 && c->rpos == c->rlen)
			c->rpos = c->rlen = 0;
		if (c->rlen == c->rsize && c->rpos > 0) {
			memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
			c->rlen -= c->rpos;
			c->rpos = 0;
		}
		if (c->rlen == c->rsize) {
			if (c->rsize >= RBUF_MAX)
				return -1;
			nsize = c->rsize ? c->rsize * 2 : SC_RBUF_INIT;
			if (nsize > RBUF_MAX)
				nsize = RBUF_MAX;
			if ((p = realloc(c->rbuf, nsize)) == NULL)
				return -1;
			c->rbuf = p;
			c->rsize = nsize;
		}
		dst = c->rbuf + c->rlen;
		room = c->rsize - c->rlen;
	}
	if (room > avail)
		room = avail;
	memcpy(dst, src, room);
	if (dst == c->rbuf + c->rlen)
		c->rlen += room;
	else
		c->it_got += room;
	return (long)room;
}

/* One connection over the stream; split 0 means one chunk at a time. */
static void
run(const uint8_t *data, size_t size, uint64_t seed, int split,
    size_t wbuf_max, struct out *o)
{
	struct server srv;
	struct conn c;
	size_t pos = 0, chunk;
	long n;
	int rc, rounds = 0;

	memset(&srv, 0, sizeof(srv));
	pthread_mutex_init(&srv.stats_lock, NULL);
	srv.state = &sc_state_none;
	srv.state_info.restart = "cold";
	if (store_init(&srv.store, 4, 4u << 20, 64u << 10) != 0)
		abort();
	settings.wbuf_max = wbuf_max;
	memset(&c, 0, sizeof(c));
	c.fd = -1;
	for (;;) {
		rc = proto_process(&srv, &c);
		drain(&c, o);
		if (rc == PROTO_CLOSE)
			break;
		if (rc == PROTO_BLOCKED) {
			/* Drained: a resumed get must make progress. */
			FUZZ_ASSERT(++rounds < 1000000);
			continue;
		}
		if (pos == size)
			break;		/* EOF */
		chunk = size - pos;
		if (split && chunk > 1)
			chunk = 1 + (size_t)(fuzz_rand(&seed) % (chunk < 300 ?
			    chunk : 300));
		if ((n = feed(&c, data + pos, chunk)) < 0)
			break;		/* conn.c closes: -ENOBUFS */
		pos += (size_t)n;
	}
	conn_release(&srv, &c);
	store_destroy(&srv.store);
	pthread_mutex_destroy(&srv.stats_lock);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct out a, b;		/* buffers kept across inputs */
	size_t wbuf_max;
	uint64_t seed;

	if (a.p == NULL) {
		settings_defaults(&settings);
		if ((a.p = malloc(OUT_MAX)) == NULL ||
		    (b.p = malloc(OUT_MAX)) == NULL)
			abort();
	}
	if (size < 2)
		return 0;
	seed = data[0] | (uint64_t)data[1] << 8;
	wbuf_max = 64 + (size_t)(data[1] & 0x3f) * 64;
	data += 2;
	size -= 2;
	a.len = b.len = 0;
	a.full = b.full = 0;
	run(data, size, seed, 1, wbuf_max, &a);
	run(data, size, seed, 0, wbuf_max, &b);
	if (!a.full && !b.full && memmem(data, size, "stats", 5) == NULL) {
		if (a.len != b.len || memcmp(a.p, b.p, a.len) != 0) {
			fprintf(stderr, "reply depends on split points: split "
			    "%zu bytes, whole %zu\n", a.len, b.len);
			abort();
		}
	}
	return 0;
}
