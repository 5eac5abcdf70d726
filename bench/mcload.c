/*
 * mcload: a memcached text-protocol load generator (shardcache, memcached).
 *
 * One thread, one epoll loop, C non-blocking connections, each with up to
 * P requests in flight (pipelining). Requests are get or set by a mix;
 * keys "<prefix><n>", n uniform or zipf over K keys; values of a fixed
 * size or uniform in a range, filled with a pattern of the key so that a
 * reader can check them. It runs for a duration, or a request count, or
 * fills every key once (-F), and prints `name: value unit' lines:
 * throughput, hit rate, latency percentiles (a log-linear histogram,
 * within 1/128), errors, requests failed on a lost connection, connects
 * refused. A lost connection is reconnected after -R ms (or not: -R -1).
 *
 * Gap mode (-g, connection handoff benchmark): per connection, the longest
 * time between two consecutive replies (or since the start, or from the
 * last reply to the end), in two windows: the baseline, until a line
 * "mark" arrives on stdin, and the window after it, until "stop" (or EOF)
 * arrives on stdin (or -d/-n/-T end the run). Each hit is checked against
 * the value a fill (-F, same -K and -v) stored: key and bytes. Extra
 * `gap_*' lines are printed after the usual ones.
 *
 *   mcload -p PORT [-H 127.0.0.1] [-c 50] [-P 1] [-r 90] [-k 100000]
 *          [-z THETA] [-v 1024 | -v MIN-MAX] [-d 10 | -n COUNT | -F]
 *          [-q OPS/S] [-R MS] [-K PREFIX] [-s SEED] [-T SECS] [-g]
 *          [-i USECS] [-o FILE]
 *
 * -i: a connection sends its next request no sooner than USECS after its
 * previous one (a paced load that leaves the CPUs some idle time).
 * -o: writes the latency histogram to a file, for pooling runs.
 */
#include <arpa/inet.h>
#include <err.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CONNS_MAX	4096
#define DEPTH_MAX	256
#define VALUE_MAX	(1024 * 1024)
#define INBUF		(VALUE_MAX + 4096)
#define OUT_LOW		(256 * 1024)	/* stop queueing above this */
#define DRAIN_NS	(5 * NS)	/* wait for replies after the end */
#define NS		UINT64_C(1000000000)
/*
 * Histogram, in ns, log-linear (HDR-style): exact below HSUB, then each
 * power of two split in HSUB linear steps, so a bucket is at most 1/HSUB
 * (0.8%) of its values wide; 1/32 put two servers' p99 in one 131 us
 * bucket at 4.4 ms.
 */
#define HBITS		7
#define HSUB		(1u << HBITS)
#define HBUCKETS	((64 - HBITS + 1) * HSUB)

enum { K_GET = 0, K_SET = 1 };
enum { C_DOWN = 0, C_CONNECTING, C_UP, C_DEAD };

struct lconn {
	int		 fd;
	int		 state;
	uint64_t	 retry_at;	/* C_DOWN: reconnect time */
	char		*in;
	size_t		 inlen;
	char		*out;
	size_t		 outlen, outoff, outcap;
	/* in flight, oldest first (ring) */
	uint8_t		 kind[DEPTH_MAX];
	uint64_t	 sent[DEPTH_MAX];
	uint64_t	 keyv[DEPTH_MAX];
	unsigned	 head, npend;
	/* -g: the last reply (or the start), longest gap per window */
	uint64_t	 last_reply;
	uint64_t	 gmax[2], gmax_end[2];
	uint64_t	 next_at;	/* -i: not before */
};

struct opts {
	const char	*host;
	int		 port;
	int		 conns;
	int		 depth;
	int		 get_pct;
	uint64_t	 keys;
	double		 theta;
	size_t		 vmin, vmax;
	double		 dur;
	uint64_t	 count;
	int		 fill;
	double		 rate;
	int		 reconnect_ms;
	const char	*prefix;
	uint64_t	 seed;
	double		 max_secs;
	int		 gap;
	uint64_t	 pace_ns;
	const char	*hist_path;
};

static struct opts o = {
	.host = "127.0.0.1", .port = 11211, .conns = 50, .depth = 1,
	.get_pct = 90, .keys = 100000, .vmin = 1024, .vmax = 1024,
	.reconnect_ms = 10, .prefix = "key:", .seed = 1, .max_secs = 600,
};

struct lstats {
	uint64_t	issued, done, gets, hits, sets, errors, failed;
	uint64_t	refused, connect_errors, reconnects, closed;
	uint64_t	hist[HBUCKETS];
	uint64_t	lat_max;
};
static struct lstats st;

/* -g: window 0 (baseline) until "mark", window 1 until "stop". */
static struct {
	unsigned	win;
	uint64_t	t_mark, t_stop;	/* 0: not yet */
	struct lstats	at_mark, at_stop;
	char		line[64];
	size_t		linelen;
	int		eof;
} gp;
static char ctl_tag;	/* epoll data of stdin in -g */

static int ep;
static struct sockaddr_in sa;
static double *zipf_cdf;
static char *vpat;	/* the value pattern, VALUE_MAX + 64 bytes */
static uint64_t fill_next;

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
}

static uint64_t rng_s;

static uint64_t
rnd(void)
{
	/* splitmix64 */
	uint64_t z = (rng_s += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static double
rnd01(void)
{
	return (double)(rnd() >> 11) / (double)(UINT64_C(1) << 53);
}

/* Zipf over ranks 1..keys with exponent theta: CDF, then binary search. */
static void
zipf_init(void)
{
	double sum = 0;
	uint64_t i;

	if ((zipf_cdf = malloc(o.keys * sizeof(*zipf_cdf))) == NULL)
		err(1, "zipf table");
	for (i = 0; i < o.keys; i++) {
		sum += 1.0 / pow((double)(i + 1), o.theta);
		zipf_cdf[i] = sum;
	}
	for (i = 0; i < o.keys; i++)
		zipf_cdf[i] /= sum;
}

static uint64_t
pick_key(void)
{
	uint64_t lo = 0, hi = o.keys - 1, mid;
	double u;

	if (zipf_cdf == NULL)
		return rnd() % o.keys;
	u = rnd01();
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (zipf_cdf[mid] < u)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* Spread ranks over the key space: popular keys are not n = 0.. */
	return (lo * UINT64_C(0x9e3779b97f4a7c15)) % o.keys;
}

static size_t
pick_vsize(void)
{
	if (o.vmax == o.vmin)
		return o.vmin;
	return o.vmin + (size_t)(rnd() % (o.vmax - o.vmin + 1));
}

static void
hist_add(uint64_t v)
{
	unsigned b = 0, sub;

	if (v > st.lat_max)
		st.lat_max = v;
	if (v >= HSUB) {
		b = 63u - (unsigned)__builtin_clzll(v);	/* >= HBITS */
		sub = (unsigned)(v >> (b - HBITS)) & (HSUB - 1);
		st.hist[(b - HBITS + 1) * HSUB + sub]++;
		return;
	}
	st.hist[v]++;
}

/* The highest value, in ns, of bucket i. */
static double
bucket_top(unsigned i)
{
	unsigned b;

	if (i < HSUB)
		return i;
	b = i / HSUB + HBITS - 1;
	/* in double: the top bucket ends at 2^64 */
	return (double)(HSUB + i % HSUB + 1) *
	    (double)(UINT64_C(1) << (b - HBITS)) - 1;
}

/* The highest value, in ns, of the bucket holding the q-quantile. */
static double
hist_q(double q)
{
	uint64_t total = 0, want, acc = 0;
	unsigned i;

	for (i = 0; i < HBUCKETS; i++)
		total += st.hist[i];
	if (total == 0)
		return 0;
	want = (uint64_t)ceil(q * (double)total);
	if (want == 0)
		want = 1;
	for (i = 0; i < HBUCKETS; i++) {
		acc += st.hist[i];
		if (acc >= want)
			break;
	}
	return bucket_top(i);
}

static void
out_reserve(struct lconn *c, size_t n)
{
	char *p;
	size_t cap;

	if (c->outoff > 0 && c->outoff == c->outlen)
		c->outoff = c->outlen = 0;
	if (c->outlen + n <= c->outcap)
		return;
	if (c->outoff > 0) {
		memmove(c->out, c->out + c->outoff, c->outlen - c->outoff);
		c->outlen -= c->outoff;
		c->outoff = 0;
		if (c->outlen + n <= c->outcap)
			return;
	}
	cap = c->outcap ? c->outcap : 65536;
	while (cap < c->outlen + n)
		cap *= 2;
	if ((p = realloc(c->out, cap)) == NULL)
		err(1, "realloc");
	c->out = p;
	c->outcap = cap;
}

static void
set_events(struct lconn *c, uint32_t ev)
{
	struct epoll_event e;

	memset(&e, 0, sizeof(e));
	e.events = ev;
	e.data.ptr = c;
	(void)epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
}

static void
conn_open(struct lconn *c)
{
	struct epoll_event e;
	int one = 1;

	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		err(1, "socket");
	(void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->inlen = c->outlen = c->outoff = 0;
	c->head = c->npend = 0;
	memset(&e, 0, sizeof(e));
	e.data.ptr = c;
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		c->state = C_UP;
		e.events = EPOLLIN;
	} else if (errno == EINPROGRESS) {
		c->state = C_CONNECTING;
		e.events = EPOLLOUT;
	} else {
		if (errno == ECONNREFUSED)
			st.refused++;
		else
			st.connect_errors++;
		close(c->fd);
		c->fd = -1;
		c->state = o.reconnect_ms < 0 ? C_DEAD : C_DOWN;
		c->retry_at = now_ns() + (uint64_t)o.reconnect_ms * 1000000u;
		return;
	}
	if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &e) < 0)
		err(1, "epoll_ctl");
}

/* The connection is gone: what was in flight failed. */
static void
conn_lost(struct lconn *c, int refused)
{
	if (refused)
		st.refused++;
	else if (c->state == C_CONNECTING)
		st.connect_errors++;
	else
		st.closed++;
	st.failed += c->npend;
	c->npend = 0;
	close(c->fd);
	c->fd = -1;
	c->state = o.reconnect_ms < 0 ? C_DEAD : C_DOWN;
	c->retry_at = now_ns() + (uint64_t)(o.reconnect_ms > 0 ?
	    o.reconnect_ms : 0) * 1000000u;
}

static int
conn_flush(struct lconn *c)
{
	ssize_t n;

	while (c->outoff < c->outlen) {
		n = send(c->fd, c->out + c->outoff, c->outlen - c->outoff,
		    MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			return -1;
		}
		c->outoff += (size_t)n;
	}
	set_events(c, EPOLLIN | (c->outoff < c->outlen ? EPOLLOUT : 0u));
	return 0;
}

/* Queues one request on c. */
static void
issue(struct lconn *c, uint64_t t)
{
	uint64_t key;
	size_t vs;
	int kind, n;
	unsigned slot;

	if (o.fill) {
		key = fill_next++;
		kind = K_SET;
	} else {
		key = pick_key();
		kind = (int)(rnd() % 100) < o.get_pct ? K_GET : K_SET;
	}
	out_reserve(c, 320 + (kind == K_SET ? o.vmax + 2 : 0));
	if (kind == K_GET) {
		n = sprintf(c->out + c->outlen, "get %s%llu\r\n", o.prefix,
		    (unsigned long long)key);
		st.gets++;
	} else {
		vs = pick_vsize();
		n = sprintf(c->out + c->outlen, "set %s%llu 0 0 %zu\r\n",
		    o.prefix, (unsigned long long)key, vs);
		/* The value is the pattern from offset key % 64. */
		memcpy(c->out + c->outlen + n, vpat + key % 64, vs);
		memcpy(c->out + c->outlen + n + vs, "\r\n", 2);
		n += (int)vs + 2;
		st.sets++;
	}
	c->outlen += (size_t)n;
	slot = (c->head + c->npend) % DEPTH_MAX;
	c->kind[slot] = (uint8_t)kind;
	c->sent[slot] = t;
	c->keyv[slot] = key;
	c->npend++;
	st.issued++;
}

/*
 * The size field of the VALUE header line ending at nl: its last field,
 * digits only, at most VALUE_MAX; -1 if not, so that a damaged or hostile
 * reply can neither wrap the length arithmetic nor index past the buffer.
 */
static long
value_size(const char *p, const char *nl)
{
	const char *sp = nl - 1, *d;
	long v = 0;

	while (sp > p && sp[-1] != ' ')
		sp--;
	if (sp == nl - 1 || *(nl - 1) != '\r')
		return -1;
	for (d = sp; d < nl - 1; d++) {
		if (*d < '0' || *d > '9' || (v = v * 10 + (*d - '0')) >
		    VALUE_MAX)
			return -1;
	}
	return v;
}

/*
 * Length of the complete reply at p for a request of this kind, 0 if
 * incomplete. *hit on a VALUE, *bad on anything unexpected (ERROR,
 * CLIENT_ERROR, SERVER_ERROR, NOT_STORED...), which is consumed as a line.
 */
static size_t
reply_len(const char *p, size_t n, int kind, int *hit, int *bad)
{
	const char *nl = memchr(p, '\n', n);
	size_t off, len;
	long v;

	*hit = *bad = 0;
	if (nl == NULL)
		return 0;
	off = (size_t)(nl - p) + 1;
	if (kind == K_SET) {
		*bad = off != 8 || memcmp(p, "STORED\r\n", 8) != 0;
		return off;
	}
	if (off == 5 && memcmp(p, "END\r\n", 5) == 0)
		return off;
	if (off < 12 || memcmp(p, "VALUE ", 6) != 0) {
		*bad = 1;
		return off;
	}
	if ((v = value_size(p, nl)) < 0) {
		*bad = 1;	/* out of step: give up on the connection */
		return (size_t)-1;
	}
	len = (size_t)v;
	if (n < off + len + 2 + 5)
		return 0;
	if (memcmp(p + off + len, "\r\nEND\r\n", 7) != 0) {
		*bad = 1;
		return (size_t)-1;
	}
	*hit = 1;
	return off + len + 7;
}

/*
 * -g: is the hit at p (r bytes: header, value, "\r\nEND\r\n") the value
 * a fill stored under key: "VALUE <prefix><key> <flags> <size>" with the
 * pattern from offset key % 64?
 */
static int
value_ok(const char *p, size_t r, uint64_t key)
{
	char want[256];
	const char *nl = memchr(p, '\n', r);
	size_t off, vlen;
	int n;

	n = snprintf(want, sizeof(want), "VALUE %s%llu ", o.prefix,
	    (unsigned long long)key);
	if (nl == NULL || n < 0 || (size_t)n >= sizeof(want))
		return 0;
	off = (size_t)(nl - p) + 1;
	if (off < (size_t)n + 2 || r < off + 7 ||
	    memcmp(p, want, (size_t)n) != 0)
		return 0;
	vlen = r - off - 7;
	if (value_size(p, nl) != (long)vlen || vlen < o.vmin ||
	    vlen > o.vmax)
		return 0;
	return memcmp(p + off, vpat + key % 64, vlen) == 0;
}

/* -g: a reply on c at t ends a gap; it counts in the current window. */
static void
gap_reply(struct lconn *c, uint64_t t)
{
	uint64_t g;

	if (gp.t_stop != 0 && t > gp.t_stop)
		return;
	g = t - c->last_reply;
	if (g > c->gmax[gp.win]) {
		c->gmax[gp.win] = g;
		c->gmax_end[gp.win] = t;
	}
	c->last_reply = t;
}

static void
conn_read(struct lconn *c, uint64_t t)
{
	size_t r, used = 0;
	ssize_t n;
	int hit, bad;

	for (;;) {
		n = recv(c->fd, c->in + c->inlen, INBUF - c->inlen, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			conn_lost(c, 0);
			return;
		}
		c->inlen += (size_t)n;
		/* one read per wakeup: epoll is level-triggered, so what is
		 * left in the socket (a full buffer) is read next round */
		break;
	}
	while (used < c->inlen) {
		if (c->npend == 0) {
			/* unsolicited: SERVER_ERROR too many connections */
			st.errors++;
			conn_lost(c, 0);
			return;
		}
		r = reply_len(c->in + used, c->inlen - used,
		    c->kind[c->head], &hit, &bad);
		if (r == (size_t)-1) {
			st.errors++;
			conn_lost(c, 0);
			return;
		}
		if (r == 0)
			break;
		if (o.gap) {
			if (hit && !value_ok(c->in + used, r,
			    c->keyv[c->head]))
				bad = 1;
			gap_reply(c, t);
		}
		used += r;
		st.done++;
		if (bad)
			st.errors++;
		if (hit)
			st.hits++;
		hist_add(t - c->sent[c->head]);
		c->head = (c->head + 1) % DEPTH_MAX;
		c->npend--;
	}
	if (used > 0) {
		memmove(c->in, c->in + used, c->inlen - used);
		c->inlen -= used;
	}
	if (c->inlen == INBUF)
		errx(1, "a reply larger than %d bytes", INBUF);
}

static void
usage(void)
{
	fprintf(stderr,
"usage: mcload [-H host] [-p port] [-c conns] [-P depth] [-r get%%]\n"
"	[-k keys] [-z theta] [-v size|min-max] [-d secs | -n count | -F]\n"
"	[-q ops/s] [-R reconnect_ms|-1] [-K prefix] [-s seed] [-T max_secs]\n"
"	[-g (gap mode: stdin lines mark, stop)] [-i pace_usecs]\n"
"	[-o histogram_file]\n");
	exit(2);
}

static uint64_t
num(const char *s, uint64_t lo, uint64_t hi)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
		errx(2, "%s: not a number in [%llu, %llu]", s,
		    (unsigned long long)lo, (unsigned long long)hi);
	return v;
}

static void
parse_args(int argc, char **argv)
{
	char *dash;
	int ch;

	while ((ch = getopt(argc, argv, "H:p:c:P:r:k:z:v:d:n:Fq:R:K:s:T:gi:o:"))
	    != -1) {
		switch (ch) {
		case 'H': o.host = optarg; break;
		case 'p': o.port = (int)num(optarg, 1, 65535); break;
		case 'c': o.conns = (int)num(optarg, 1, CONNS_MAX); break;
		case 'P': o.depth = (int)num(optarg, 1, DEPTH_MAX); break;
		case 'r': o.get_pct = (int)num(optarg, 0, 100); break;
		case 'k': o.keys = num(optarg, 1, UINT64_C(1) << 32); break;
		case 'z': o.theta = atof(optarg); break;
		case 'v':
			if ((dash = strchr(optarg, '-')) != NULL) {
				*dash = '\0';
				o.vmin = num(optarg, 1, VALUE_MAX);
				o.vmax = num(dash + 1, o.vmin, VALUE_MAX);
			} else
				o.vmin = o.vmax = num(optarg, 1, VALUE_MAX);
			break;
		case 'd': o.dur = atof(optarg); break;
		case 'n': o.count = num(optarg, 1, UINT64_MAX); break;
		case 'F': o.fill = 1; break;
		case 'q': o.rate = atof(optarg); break;
		case 'R':
			o.reconnect_ms = strcmp(optarg, "-1") == 0 ? -1 :
			    (int)num(optarg, 0, 60000);
			break;
		case 'K': o.prefix = optarg; break;
		case 's': o.seed = num(optarg, 0, UINT64_MAX); break;
		case 'T': o.max_secs = atof(optarg); break;
		case 'g': o.gap = 1; break;
		case 'i': o.pace_ns = num(optarg, 1, 1000000) * 1000; break;
		case 'o': o.hist_path = optarg; break;
		default: usage();
		}
	}
	if (argc != optind || o.theta < 0 || o.theta > 10 || o.dur < 0 ||
	    o.rate < 0 || o.max_secs <= 0 || strlen(o.prefix) > 200 ||
	    (o.gap && o.fill))
		usage();
	if (o.fill)
		o.count = o.keys;
	if (o.dur == 0 && o.count == 0)
		o.dur = 10;
	if (o.dur == 0 || o.dur > o.max_secs)
		o.dur = o.max_secs;	/* a count is bounded in time too */
}

/*
 * -o: the latency histogram, "top_ns count" per non-empty bucket, so that
 * runs can be pooled: a p99 of all requests of several runs is steadier
 * than the median of each run's p99 when a run's p99 sits on a
 * scheduler tick.
 */
static void
hist_write(const char *path)
{
	FILE *f;
	unsigned i;

	if ((f = fopen(path, "w")) == NULL)
		err(1, "%s", path);
	fprintf(f, "# mcload latency histogram: bucket top (ns), count\n");
	for (i = 0; i < HBUCKETS; i++)
		if (st.hist[i] != 0)
			fprintf(f, "%.0f %llu\n", bucket_top(i),
			    (unsigned long long)st.hist[i]);
	if (ferror(f) | fclose(f))
		err(1, "%s", path);
}

static void
report(uint64_t elapsed)
{
	double secs = (double)elapsed / 1e9;

	printf("duration: %.3f s\n", secs);
	printf("requests: %llu count\n", (unsigned long long)st.done);
	printf("ops_per_sec: %.0f ops/s\n", (double)st.done / secs);
	printf("gets: %llu count\n", (unsigned long long)st.gets);
	printf("sets: %llu count\n", (unsigned long long)st.sets);
	printf("get_hit_rate: %.4f ratio\n", st.gets ?
	    (double)st.hits / (double)st.gets : 0.0);
	printf("p50: %.1f us\n", hist_q(0.50) / 1e3);
	printf("p99: %.1f us\n", hist_q(0.99) / 1e3);
	printf("p999: %.1f us\n", hist_q(0.999) / 1e3);
	printf("max: %.1f us\n", (double)st.lat_max / 1e3);
	printf("errors: %llu count\n", (unsigned long long)st.errors);
	printf("failed: %llu count\n", (unsigned long long)st.failed);
	printf("refused: %llu count\n", (unsigned long long)st.refused);
	printf("connect_errors: %llu count\n",
	    (unsigned long long)st.connect_errors);
	printf("closed: %llu count\n", (unsigned long long)st.closed);
	printf("reconnects: %llu count\n", (unsigned long long)st.reconnects);
}

static double
ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* -g: the lines read from stdin so far ("mark", "stop"). */
static void
ctl_read(uint64_t t, uint64_t *tend)
{
	char *nl;
	ssize_t n;
	size_t len;

	n = read(STDIN_FILENO, gp.line + gp.linelen,
	    sizeof(gp.line) - 1 - gp.linelen);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		gp.eof = 1;
		(void)epoll_ctl(ep, EPOLL_CTL_DEL, STDIN_FILENO, NULL);
		if (gp.t_stop == 0)
			gp.t_stop = t;
		goto stop;
	}
	gp.linelen += (size_t)n;
	gp.line[gp.linelen] = '\0';
	while ((nl = strchr(gp.line, '\n')) != NULL) {
		*nl = '\0';
		if (strcmp(gp.line, "mark") == 0 && gp.t_mark == 0 &&
		    gp.t_stop == 0) {
			gp.t_mark = t;
			gp.at_mark = st;
			gp.win = 1;
		} else if (strcmp(gp.line, "stop") == 0 && gp.t_stop == 0)
			gp.t_stop = t;
		len = (size_t)(nl + 1 - gp.line);
		memmove(gp.line, nl + 1, gp.linelen - len + 1);
		gp.linelen -= len;
	}
	if (gp.linelen == sizeof(gp.line) - 1)
		gp.linelen = 0;	/* not a command: forget it */
stop:
	if (gp.t_stop != 0 && gp.t_stop < *tend) {
		gp.at_stop = st;
		*tend = gp.t_stop;
	}
}

/* -g: the figures of both windows. */
static void
gap_report(struct lconn *cs, uint64_t t0, uint64_t tend)
{
	/* counted in the window: at "stop" less at "mark" */
	static const struct {
		const char	*name;
		size_t		 off;
	} wc[] = {
		{ "replies", offsetof(struct lstats, done) },
		{ "hits", offsetof(struct lstats, hits) },
		{ "errors", offsetof(struct lstats, errors) },
		{ "failed", offsetof(struct lstats, failed) },
		{ "closed", offsetof(struct lstats, closed) },
		{ "reconnects", offsetof(struct lstats, reconnects) },
		{ "refused", offsetof(struct lstats, refused) },
	};
	uint64_t *m = calloc((size_t)o.conns, sizeof(*m));
	uint64_t mark = gp.t_mark ? gp.t_mark : tend, best[2] = { 0, 0 };
	const struct lstats *a = &gp.at_mark, *b = &gp.at_stop;
	int i, w, arg[2] = { -1, -1 };

	if (m == NULL)
		err(1, "calloc");
	if (gp.t_mark == 0)
		gp.at_mark = gp.at_stop;
	for (i = 0; i < o.conns; i++) {
		struct lconn *c = &cs[i];

		/* a gap still open at the end counts up to the end */
		if (tend - c->last_reply > c->gmax[gp.win]) {
			c->gmax[gp.win] = tend - c->last_reply;
			c->gmax_end[gp.win] = tend;
		}
		for (w = 0; w < 2; w++)
			if (c->gmax[w] > best[w]) {
				best[w] = c->gmax[w];
				arg[w] = i;
			}
		m[i] = c->gmax[1];
	}
	qsort(m, (size_t)o.conns, sizeof(*m), cmp_u64);
	printf("gap_baseline_s: %.3f s\n", (double)(mark - t0) / 1e9);
	printf("gap_baseline_max: %.3f ms\n", ms(best[0]));
	printf("gap_baseline_replies: %llu count\n",
	    (unsigned long long)a->done);
	printf("gap_baseline_errors: %llu count\n",
	    (unsigned long long)(a->errors + a->failed));
	printf("gap_baseline_closed: %llu count\n",
	    (unsigned long long)a->closed);
	printf("gap_window_s: %.3f s\n", (double)(tend - mark) / 1e9);
	printf("gap_window_max: %.3f ms\n", ms(best[1]));
	printf("gap_window_max_conn: %d index\n", arg[1]);
	printf("gap_window_max_end: %.3f ms\n", arg[1] < 0 ? 0.0 :
	    ms(cs[arg[1]].gmax_end[1] - mark));
	printf("gap_window_conn_median: %.3f ms\n", ms(m[o.conns / 2]));
	for (i = 0; i < (int)(sizeof(wc) / sizeof(wc[0])); i++)
		printf("gap_window_%s: %llu count\n", wc[i].name,
		    (unsigned long long)(*(const uint64_t *)((const char *)b +
		    wc[i].off) - *(const uint64_t *)((const char *)a +
		    wc[i].off)));
	free(m);
}

/* -i: waits until the next paced send is due (at most 1 ms). */
static int
paced_wait(const struct lconn *cs, struct epoll_event *evs, int max,
    uint64_t t)
{
	struct timespec ts;
	uint64_t next = t + 1000000;
	int i;

	for (i = 0; i < o.conns; i++)
		if (cs[i].state == C_UP && cs[i].npend < (unsigned)o.depth &&
		    cs[i].next_at < next)
			next = cs[i].next_at;
	next = next > t ? next - t : 0;
	ts.tv_sec = 0;
	ts.tv_nsec = (long)next;
	return epoll_pwait2(ep, evs, max, &ts, NULL);
}

int
main(int argc, char **argv)
{
	static struct epoll_event evs[512];
	struct lconn *cs, *c;
	uint64_t t0, t, tend, quota, stopped = 0;
	int i, n, live;
	socklen_t len;
	int soerr;

	parse_args(argc, argv);
	rng_s = o.seed * UINT64_C(0x2545F4914F6CDD1D) + 1;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)o.port);
	if (inet_pton(AF_INET, o.host, &sa.sin_addr) != 1)
		errx(2, "%s: not an IPv4 address", o.host);
	if (o.theta > 0 && !o.fill)
		zipf_init();
	if ((vpat = malloc(VALUE_MAX + 64)) == NULL ||
	    (cs = calloc((size_t)o.conns, sizeof(*cs))) == NULL)
		err(1, "malloc");
	for (i = 0; i < VALUE_MAX + 64; i++)
		vpat[i] = (char)('a' + i % 26);
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
		err(1, "epoll_create1");
	for (i = 0; i < o.conns; i++) {
		if ((cs[i].in = malloc(INBUF)) == NULL)
			err(1, "malloc");
		conn_open(&cs[i]);
	}
	t0 = now_ns();
	tend = t0 + (uint64_t)(o.dur * 1e9);
	if (o.gap) {
		struct epoll_event e;

		for (i = 0; i < o.conns; i++)
			cs[i].last_reply = t0;
		memset(&e, 0, sizeof(e));
		e.events = EPOLLIN;
		e.data.ptr = &ctl_tag;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, STDIN_FILENO, &e) < 0)
			err(2, "-g: stdin must be a pipe or terminal");
	}
	for (;;) {
		t = now_ns();
		live = 0;
		for (i = 0; i < o.conns; i++) {
			c = &cs[i];
			if (c->state == C_DOWN && t < tend && t >= c->retry_at) {
				st.reconnects++;
				conn_open(c);
			}
			if (c->state != C_UP) {
				live += c->state != C_DEAD;
				continue;
			}
			live++;
			while (t < tend && c->npend < (unsigned)o.depth &&
			    (o.count == 0 || st.issued < o.count) &&
			    c->outlen - c->outoff < OUT_LOW) {
				if (o.rate > 0) {
					quota = (uint64_t)((double)(t - t0) *
					    o.rate / 1e9) + 1;
					if (st.issued >= quota)
						break;
				}
				if (o.pace_ns != 0) {
					if (t < c->next_at)
						break;
					c->next_at = t + o.pace_ns;
				}
				issue(c, t);
			}
			if (c->outoff < c->outlen && conn_flush(c) < 0)
				conn_lost(c, 0);
		}
		if (t >= tend || (o.count != 0 && st.issued >= o.count)) {
			unsigned pend = 0;

			if (stopped == 0) {
				stopped = t;
				if (o.gap && gp.t_stop == 0) {
					gp.t_stop = t;
					gp.at_stop = st;
				}
			}
			for (i = 0; i < o.conns; i++)
				pend += cs[i].state == C_UP ? cs[i].npend : 0;
			if (pend == 0 || t >= stopped + DRAIN_NS)
				break;
		}
		if (live == 0 && o.reconnect_ms < 0)
			break;
		if (o.pace_ns != 0)
			n = paced_wait(cs, evs, 512, t);
		else
			n = epoll_wait(ep, evs, 512, o.rate > 0 ||
			    o.reconnect_ms >= 0 ? 1 : 100);
		if (n < 0 && errno != EINTR)
			err(1, "epoll_wait");
		t = now_ns();
		for (i = 0; i < n; i++) {
			if (evs[i].data.ptr == &ctl_tag) {
				ctl_read(t, &tend);
				continue;
			}
			c = evs[i].data.ptr;
			if (c->state == C_CONNECTING) {
				len = sizeof(soerr);
				soerr = 0;
				(void)getsockopt(c->fd, SOL_SOCKET, SO_ERROR,
				    &soerr, &len);
				if (soerr != 0) {
					conn_lost(c, soerr == ECONNREFUSED);
					continue;
				}
				c->state = C_UP;
				set_events(c, EPOLLIN);
				continue;
			}
			if (c->state != C_UP)
				continue;
			if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
				conn_read(c, t);
			if (c->state == C_UP && (evs[i].events & EPOLLOUT) &&
			    conn_flush(c) < 0)
				conn_lost(c, 0);
		}
	}
	t = now_ns();
	/* What is still in flight at the end did not complete: failed. */
	for (i = 0; i < o.conns; i++)
		if (cs[i].state == C_UP)
			st.failed += cs[i].npend;
	report(t - t0);
	if (o.hist_path != NULL)
		hist_write(o.hist_path);
	if (o.gap)
		gap_report(cs, t0, gp.t_stop);
	for (i = 0; i < o.conns; i++) {
		if (cs[i].fd >= 0)
			close(cs[i].fd);
		free(cs[i].in);
		free(cs[i].out);
	}
	free(cs);
	free(vpat);
	free(zipf_cdf);
	close(ep);
	return 0;
}
