/*
 * Unit tests of shardcache's protocol parser and store, linked against
 * its objects: incremental parsing (any split of the input gives the same
 * replies), line caps, swallowing, multi-get resume at the output cap,
 * and the store's LRU, budget, expiry, CAS and counters. A random-input
 * run checks that no byte sequence crashes the parser (under ASan).
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sc.h"

static struct server srv;

struct tconn {
	struct conn	c;
	int		rc;
};

static int
setup(void **state)
{
	(void)state;
	memset(&srv, 0, sizeof(srv));
	settings_defaults(&settings);
	settings.wbuf_max = 8192;
	pthread_mutex_init(&srv.stats_lock, NULL);
	assert_int_equal(store_init(&srv.store, 4, 4 << 20, 64 << 10), 0);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	store_destroy(&srv.store);
	return 0;
}

static void
tc_init(struct tconn *t)
{
	memset(t, 0, sizeof(*t));
	t->c.fd = -1;
	t->c.rsize = SC_GETLINE_MAX + 64;
	t->c.rbuf = malloc(t->c.rsize);
	assert_non_null(t->c.rbuf);
}

/* Appends input (compacting first), runs the parser, returns its rc. */
static int
feed(struct tconn *t, const void *p, size_t n)
{
	struct conn *c = &t->c;

	if (c->rpos > 0) {
		memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
		c->rlen -= c->rpos;
		c->rpos = 0;
	}
	assert_true(c->rlen + n <= c->rsize);
	memcpy(c->rbuf + c->rlen, p, n);
	c->rlen += n;
	t->rc = proto_process(&srv, c);
	return t->rc;
}

/* Takes the output so far as a NUL-terminated malloc'd string. */
static char *
take(struct tconn *t)
{
	struct sbuf *b = &t->c.wb;
	char *s = malloc(b->len - b->off + 1);

	assert_non_null(s);
	if (b->len > b->off)
		memcpy(s, b->p + b->off, b->len - b->off);
	s[b->len - b->off] = '\0';
	b->len = b->off = 0;
	return s;
}

static void
tc_free(struct tconn *t)
{
	conn_release(&srv, &t->c);
}

static const char script[] =
	"set a 1 0 3\r\nabc\r\n"
	"get a b\r\n"
	"add a 0 0 1\r\nx\r\n"
	"append a 0 0 2\r\nde\r\n"
	"prepend a 0 0 1\r\n_\r\n"
	"get a\r\n"
	"set n 0 0 2\r\n10\r\n"
	"incr n 5\r\ndecr n 20\r\nincr n 18446744073709551615\r\n"
	"delete a\r\ndelete a\r\n"
	"touch n 100\r\ntouch a 1\r\n"
	"set big 0 0 70000\r\n"
	"bogus\r\n"
	"set k 0 0 3\r\nabcdef\r\n"
	"gat 0 n\r\n"
	"flush_all\r\nget n\r\n";

static const char expect[] =
	"STORED\r\n"
	"VALUE a 1 3\r\nabc\r\nEND\r\n"
	"NOT_STORED\r\n"
	"STORED\r\n"
	"STORED\r\n"
	"VALUE a 1 6\r\n_abcde\r\nEND\r\n"
	"STORED\r\n"
	"15\r\n0\r\n18446744073709551615\r\n"
	"DELETED\r\nNOT_FOUND\r\n"
	"TOUCHED\r\nNOT_FOUND\r\n"
	"SERVER_ERROR object too large for cache\r\n"
	/* the 70000+2 swallowed bytes are the next lines, then: */
	"";

/* Whole script in one go, then byte by byte: the same replies. */
static void
test_split_equivalence(void **state)
{
	struct tconn t;
	char *whole, *bytes;
	char *acc;
	size_t i, n = sizeof(script) - 1, alen = 0;
	/* swallowed region: pad the script so the too-large value is
	 * swallowed in full and the rest parses */
	char *in;
	size_t inlen;
	const char *cut = strstr(script, "bogus\r\n");
	char *s;

	(void)state;
	(void)expect;
	inlen = (size_t)(cut - script) + 70002 + (n - (size_t)(cut - script));
	in = malloc(inlen);
	assert_non_null(in);
	memcpy(in, script, (size_t)(cut - script));
	memset(in + (cut - script), 'z', 70000);
	memcpy(in + (cut - script) + 70000, "\r\n", 2);
	memcpy(in + (cut - script) + 70002, cut, n - (size_t)(cut - script));

	tc_init(&t);
	/* feed in chunks that fit the read buffer */
	for (i = 0; i < inlen; i += 4096)
		feed(&t, in + i, inlen - i < 4096 ? inlen - i : 4096);
	whole = take(&t);
	tc_free(&t);
	assert_non_null(strstr(whole, "_abcde"));
	assert_non_null(strstr(whole, "ERROR\r\nCLIENT_ERROR bad data chunk"
	    "\r\nERROR\r\n"));
	assert_non_null(strstr(whole, "OK\r\nEND\r\n"));
	store_flush(&srv.store, 0, sc_now());

	tc_init(&t);
	acc = malloc(strlen(whole) + 1);
	assert_non_null(acc);
	for (i = 0; i < inlen; i++) {
		feed(&t, in + i, 1);
		s = take(&t);
		assert_true(alen + strlen(s) <= strlen(whole));
		memcpy(acc + alen, s, strlen(s));
		alen += strlen(s);
		free(s);
	}
	acc[alen] = '\0';
	bytes = acc;
	tc_free(&t);
	/* CAS-free script: only gets-free replies, so equal byte for byte */
	assert_string_equal(bytes, whole);
	free(whole);
	free(bytes);
	free(in);
}

static void
test_need_more(void **state)
{
	struct tconn t;
	char *s;

	(void)state;
	tc_init(&t);
	assert_int_equal(feed(&t, "set x 0 0 5\r\nab", 15), PROTO_NEED_MORE);
	assert_int_equal(t.c.state, CONN_NREAD);
	s = take(&t);
	assert_string_equal(s, "");
	free(s);
	assert_int_equal(feed(&t, "cde\r", 4), PROTO_NEED_MORE);
	assert_int_equal(feed(&t, "\n", 1), PROTO_NEED_MORE);
	s = take(&t);
	assert_string_equal(s, "STORED\r\n");
	free(s);
	assert_int_equal(feed(&t, "get", 3), PROTO_NEED_MORE);
	assert_int_equal(feed(&t, " x\r\n", 4), PROTO_NEED_MORE);
	s = take(&t);
	assert_string_equal(s, "VALUE x 0 5\r\nabcde\r\nEND\r\n");
	free(s);
	tc_free(&t);
}

static void
test_line_too_long(void **state)
{
	struct tconn t;
	char buf[SC_LINE_MAX + 10];
	char *s;

	(void)state;
	tc_init(&t);
	memset(buf, 'a', sizeof(buf));
	assert_int_equal(feed(&t, buf, SC_LINE_MAX), PROTO_NEED_MORE);
	assert_int_equal(feed(&t, buf, 10), PROTO_CLOSE);
	s = take(&t);
	assert_string_equal(s, "CLIENT_ERROR line too long\r\n");
	free(s);
	tc_free(&t);

	/* a get line may be longer, up to SC_GETLINE_MAX */
	tc_init(&t);
	assert_int_equal(feed(&t, "get ", 4), PROTO_NEED_MORE);
	memset(buf, ' ', sizeof(buf));
	assert_int_equal(feed(&t, buf, sizeof(buf)), PROTO_NEED_MORE);
	assert_int_equal(feed(&t, "k\r\n", 3), PROTO_NEED_MORE);
	s = take(&t);
	assert_string_equal(s, "END\r\n");
	free(s);
	tc_free(&t);
}

static void
test_swallow_split(void **state)
{
	struct tconn t;
	char chunk[1000];
	char *s;
	int i;

	(void)state;
	tc_init(&t);
	feed(&t, "set k 0 0 1\r\nv\r\n", 16);
	free(take(&t));
	assert_int_equal(feed(&t, "set k 0 0 100000\r\n", 18),
	    PROTO_NEED_MORE);
	assert_int_equal(t.c.state, CONN_SWALLOW);
	memset(chunk, 'q', sizeof(chunk));
	for (i = 0; i < 100; i++)
		feed(&t, chunk, sizeof(chunk));
	assert_int_equal(t.c.state, CONN_SWALLOW);
	feed(&t, "\r\nget k\r\n", 9);
	s = take(&t);
	/* the failed set removed the old value, like memcached */
	assert_string_equal(s, "SERVER_ERROR object too large for cache\r\n"
	    "END\r\n");
	free(s);
	tc_free(&t);
}

static void
test_multiget_resume(void **state)
{
	struct tconn t;
	char val[3000], line[600];
	char *s;
	size_t n, total = 0;
	int rc, rounds = 0;

	(void)state;
	memset(val, 'v', sizeof(val));
	tc_init(&t);
	feed(&t, "set mv 0 0 3000\r\n", 17);
	feed(&t, val, sizeof(val));
	feed(&t, "\r\n", 2);
	free(take(&t));
	strcpy(line, "get");
	for (n = 0; n < 100; n++)
		strcat(line, " mv");
	strcat(line, "\r\n");
	rc = feed(&t, line, strlen(line));
	while (rc == PROTO_BLOCKED && rounds++ < 1000) {
		assert_true(t.c.wb.len - t.c.wb.off <= settings.wbuf_max +
		    sizeof(val) + 64);
		s = take(&t);
		total += strlen(s);
		free(s);
		rc = proto_process(&srv, &t.c);
	}
	assert_int_equal(rc, PROTO_NEED_MORE);
	assert_true(rounds > 1);
	s = take(&t);
	total += strlen(s);
	assert_true(strlen(s) >= 5 && strcmp(s + strlen(s) - 5, "END\r\n") ==
	    0);
	free(s);
	assert_int_equal(total, 100 * (strlen("VALUE mv 0 3000\r\n") + 3002) +
	    5);
	tc_free(&t);
}

static void
test_store_lru_budget(void **state)
{
	struct store s;
	struct store_totals tot;
	struct item *it;
	enum sc_res res;
	char key[32];
	struct sbuf out = { 0 };
	int i, n;
	int64_t now = sc_now();

	(void)state;
	assert_int_equal(store_init(&s, 1, 1 << 20, 64 << 10), 0);
	for (i = 0; i < 1000; i++) {
		n = snprintf(key, sizeof(key), "key%d", i);
		it = item_alloc(&s, key, (size_t)n, 0, 0, 10002, &res);
		assert_non_null(it);
		memset(ITEM_data(it), 'x', 10000);
		memcpy(ITEM_data(it) + 10000, "\r\n", 2);
		assert_int_equal(store_item(&s, it, SC_OP_SET, 0, now),
		    SC_STORED);
		/* key0 stays hot */
		assert_int_equal(store_get(&s, "key0", 4, 0, SC_NOTOUCH, now,
		    &out), 1);
		out.len = 0;
	}
	store_totals(&s, &tot);
	assert_true(tot.bytes <= 1 << 20);
	assert_true(tot.st.evictions > 800);
	assert_int_equal(store_get(&s, "key1", 4, 0, SC_NOTOUCH, now, &out),
	    0);
	assert_int_equal(store_get(&s, "key999", 6, 0, SC_NOTOUCH, now, &out),
	    1);
	assert_int_equal(store_get(&s, "key0", 4, 0, SC_NOTOUCH, now, &out),
	    1);
	/* too large for -I */
	assert_null(item_alloc(&s, "big", 3, 0, 0, 70000, &res));
	assert_int_equal(res, SC_TOO_LARGE);
	sbuf_free(&out);
	store_destroy(&s);
}

static void
test_store_expiry_cas_arith(void **state)
{
	struct store s;
	struct item *it;
	enum sc_res res;
	struct sbuf out = { 0 };
	uint64_t v, cas1;
	int64_t now = sc_now();

	(void)state;
	assert_int_equal(sc_exptime(0, now), 0);
	assert_int_equal(sc_exptime(-1, now), 1);
	assert_int_equal(sc_exptime(10, now), now + 10);
	assert_int_equal(sc_exptime(SC_REALTIME_MAXDELTA + 1, now),
	    SC_REALTIME_MAXDELTA + 1);
	assert_int_equal(store_init(&s, 2, 2 << 20, 64 << 10), 0);
	it = item_alloc(&s, "e", 1, 0, now + 5, 3, &res);
	memcpy(ITEM_data(it), "1\r\n", 3);
	assert_int_equal(store_item(&s, it, SC_OP_SET, 0, now), SC_STORED);
	assert_int_equal(store_get(&s, "e", 1, 1, SC_NOTOUCH, now + 4, &out),
	    1);
	assert_int_equal(sscanf(out.p, "VALUE e 0 1 %" SCNu64, &cas1), 1);
	out.len = 0;
	assert_int_equal(store_get(&s, "e", 1, 0, SC_NOTOUCH, now + 5, &out),
	    0);

	it = item_alloc(&s, "c", 1, 0, 0, 3, &res);
	memcpy(ITEM_data(it), "9\r\n", 3);
	assert_int_equal(store_item(&s, it, SC_OP_SET, 0, now), SC_STORED);
	it = item_alloc(&s, "c", 1, 0, 0, 3, &res);
	memcpy(ITEM_data(it), "8\r\n", 3);
	assert_int_equal(store_item(&s, it, SC_OP_CAS, cas1, now), SC_EXISTS);
	assert_int_equal(store_arith(&s, "c", 1, 1, 1, now, &v), SC_STORED);
	assert_int_equal(v, 10);
	assert_int_equal(store_arith(&s, "c", 1, 0, 100, now, &v), SC_STORED);
	assert_int_equal(v, 0);
	assert_int_equal(store_arith(&s, "zz", 2, 1, 1, now, &v),
	    SC_NOT_FOUND);
	assert_int_equal(store_touch(&s, "c", 1, now + 1, now), SC_TOUCHED);
	assert_int_equal(store_delete(&s, "c", 1, now + 2), SC_NOT_FOUND);
	sbuf_free(&out);
	store_destroy(&s);
}

/* Random input in random chunks never crashes or overflows a buffer. */
static void
test_random_input(void **state)
{
	static const char *const words[] = { "set ", "get ", "gets ", "cas ",
	    "incr ", "decr ", "touch ", "gat ", "delete ", "append ",
	    "prepend ", "add ", "replace ", "flush_all", "stats", "version",
	    "verbosity ", "noreply", " ", "\r\n", "\n", "0 ", "1 ", "-1 ",
	    "99999999999 ", "k ", "\r", "\0" };
	struct tconn t;
	char buf[512];
	unsigned seed = 12345;
	size_t n, k;
	int i, j, rc;

	(void)state;
	tc_init(&t);
	for (i = 0; i < 20000; i++) {
		n = 0;
		for (j = 0; j < 8 && n < sizeof(buf) - 32; j++) {
			seed = seed * 1103515245u + 12345u;
			if ((seed >> 16) % 4 == 0) {
				buf[n++] = (char)(seed >> 8);
			} else {
				k = (seed >> 16) % (sizeof(words) /
				    sizeof(words[0]));
				memcpy(buf + n, words[k], strlen(words[k]) +
				    (words[k][0] == '\0'));
				n += strlen(words[k]) + (words[k][0] == '\0');
			}
		}
		rc = feed(&t, buf, n);
		free(take(&t));
		if (rc == PROTO_CLOSE) {
			tc_free(&t);
			tc_init(&t);
		}
	}
	tc_free(&t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_split_equivalence, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_need_more, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_line_too_long, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_swallow_split, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_multiget_resume, setup,
		    teardown),
		cmocka_unit_test(test_store_lru_budget),
		cmocka_unit_test(test_store_expiry_cas_arith),
		cmocka_unit_test_setup_teardown(test_random_input, setup,
		    teardown),
	};

	return cmocka_run_group_tests_name("shardcache", tests, NULL, NULL);
}
