/*
 * sc_loadgen: a small memcached text-protocol load generator for
 * shardcache and memcached. One thread, epoll, C connections, each with
 * one request in flight (or -P pipelined): get/set mix, uniform keys,
 * fixed value size. Prints `name: value unit' lines.
 *
 *   sc_loadgen -p PORT [-c 50] [-d 5] [-r 90] [-v 1024] [-k 10000] [-P 1]
 */
#include <arpa/inet.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
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

#define MAXC	1024
#define LATN	(1 << 22)

struct lconn {
	int		fd;
	char		in[1 << 16];
	size_t		inlen;
	int		pending;	/* requests in flight */
	int		kinds[64];	/* 0 get, 1 set, ring */
	uint64_t	sent_ns[64];
	int		head, tail;
};

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t rng = 88172645463325252ull;

static uint64_t
xs(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Length of one complete reply at p, or 0 if incomplete; -1 on garbage. */
static long
reply_len(const char *p, size_t n, int kind, int *err)
{
	const char *nl = memchr(p, '\n', n), *q;
	size_t off = 0;
	unsigned long len;

	*err = 0;
	if (nl == NULL)
		return 0;
	if (kind == 1) {	/* set */
		if (strncmp(p, "STORED\r\n", 8) != 0)
			*err = 1;
		return nl - p + 1;
	}
	/* get: VALUE k f n\r\n data\r\n END\r\n, or END\r\n */
	while (off < n) {
		nl = memchr(p + off, '\n', n - off);
		if (nl == NULL)
			return 0;
		if (strncmp(p + off, "END\r\n", 5) == 0)
			return nl - p + 1;
		if (strncmp(p + off, "VALUE ", 6) != 0) {
			*err = 1;
			return nl - p + 1;
		}
		q = nl - 2;
		while (q > p + off && q[-1] != ' ')
			q--;
		len = strtoul(q, NULL, 10);
		off = (size_t)(nl - p + 1) + len + 2;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	int port = 11211, nconn = 50, dur = 5, rpct = 90, vsize = 1024;
	int keys = 10000, pipe = 1, ch, ep, i, n, k, e;
	static struct lconn cs[MAXC];
	struct epoll_event ev, evs[256];
	struct sockaddr_in sa;
	uint64_t t0, t, tend, ops = 0, gets = 0, hits = 0, errs = 0, nl = 0;
	uint64_t *lat;
	char *val, req[2048];
	long r;

	while ((ch = getopt(argc, argv, "p:c:d:r:v:k:P:")) != -1) {
		switch (ch) {
		case 'p': port = atoi(optarg); break;
		case 'c': nconn = atoi(optarg); break;
		case 'd': dur = atoi(optarg); break;
		case 'r': rpct = atoi(optarg); break;
		case 'v': vsize = atoi(optarg); break;
		case 'k': keys = atoi(optarg); break;
		case 'P': pipe = atoi(optarg); break;
		default:
			errx(2, "usage: sc_loadgen -p port [-c conns] [-d secs] "
			    "[-r get%%] [-v size] [-k keys] [-P depth]");
		}
	}
	if (nconn < 1 || nconn > MAXC || pipe < 1 || pipe > 32 ||
	    vsize < 1 || vsize > 100000 || keys < 1)
		errx(2, "bad arguments");
	if ((lat = malloc(LATN * sizeof(*lat))) == NULL ||
	    (val = malloc((size_t)vsize)) == NULL)
		err(1, "malloc");
	memset(val, 'x', (size_t)vsize);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((ep = epoll_create1(0)) < 0)
		err(1, "epoll");
	for (i = 0; i < nconn; i++) {
		int one = 1;

		cs[i].fd = socket(AF_INET, SOCK_STREAM, 0);
		if (cs[i].fd < 0 || connect(cs[i].fd, (struct sockaddr *)&sa,
		    sizeof(sa)) < 0)
			err(1, "connect");
		setsockopt(cs[i].fd, IPPROTO_TCP, TCP_NODELAY, &one,
		    sizeof(one));
		ev.events = EPOLLIN;
		ev.data.ptr = &cs[i];
		epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev);
	}
	/* preload every key so gets hit */
	for (k = 0; k < keys; k++) {
		n = snprintf(req, sizeof(req), "set key:%d 0 0 %d noreply\r\n",
		    k, vsize);
		if (write(cs[0].fd, req, (size_t)n) != n ||
		    write(cs[0].fd, val, (size_t)vsize) != vsize ||
		    write(cs[0].fd, "\r\n", 2) != 2)
			err(1, "preload");
	}
	n = snprintf(req, sizeof(req), "version\r\n");
	if (write(cs[0].fd, req, (size_t)n) != n)
		err(1, "write");
	while (memchr(cs[0].in, '\n', cs[0].inlen) == NULL) {
		r = read(cs[0].fd, cs[0].in + cs[0].inlen,
		    sizeof(cs[0].in) - cs[0].inlen);
		if (r <= 0)
			err(1, "preload reply");
		cs[0].inlen += (size_t)r;
	}
	cs[0].inlen = 0;

	t0 = now_ns();
	tend = t0 + (uint64_t)dur * 1000000000u;
	for (;;) {
		t = now_ns();

		for (i = 0; i < nconn; i++) {
			struct lconn *c = &cs[i];

			while (t < tend && c->pending < pipe) {
				int kind = (int)(xs() % 100) >= rpct;
				int key = (int)(xs() % (uint64_t)keys);

				if (kind == 0)
					n = snprintf(req, sizeof(req),
					    "get key:%d\r\n", key);
				else
					n = snprintf(req, sizeof(req),
					    "set key:%d 0 0 %d\r\n", key,
					    vsize);
				if (write(c->fd, req, (size_t)n) != n ||
				    (kind == 1 &&
				    (write(c->fd, val, (size_t)vsize) !=
				    vsize || write(c->fd, "\r\n", 2) != 2)))
					err(1, "write");
				c->kinds[c->tail] = kind;
				c->sent_ns[c->tail] = t;
				c->tail = (c->tail + 1) % 64;
				c->pending++;
			}
		}
		n = epoll_wait(ep, evs, 256, 100);
		for (i = 0; i < n; i++) {
			struct lconn *c = evs[i].data.ptr;

			r = read(c->fd, c->in + c->inlen,
			    sizeof(c->in) - c->inlen);
			if (r <= 0)
				errx(1, "server closed a connection");
			c->inlen += (size_t)r;
			while (c->pending > 0) {
				int kind = c->kinds[c->head];

				r = reply_len(c->in, c->inlen, kind, &e);
				if (r <= 0)
					break;
				if (e)
					errs++;
				if (kind == 0) {
					gets++;
					if (strncmp(c->in, "VALUE", 5) == 0)
						hits++;
				}
				if (nl < LATN)
					lat[nl++] = now_ns() -
					    c->sent_ns[c->head];
				memmove(c->in, c->in + r, c->inlen - (size_t)r);
				c->inlen -= (size_t)r;
				c->head = (c->head + 1) % 64;
				c->pending--;
				ops++;
			}
		}
		if (now_ns() >= tend) {
			int left = 0;

			for (i = 0; i < nconn; i++)
				left += cs[i].pending;
			if (left == 0 || now_ns() > tend + 2000000000u)
				break;
		}
	}
	t = now_ns() - t0;
	qsort(lat, nl, sizeof(*lat), cmp_u64);
	printf("ops_per_sec: %.0f ops/s\n", (double)ops / ((double)t / 1e9));
	printf("get_hit_rate: %.4f ratio\n", gets ? (double)hits / gets : 0);
	printf("errors: %llu count\n", (unsigned long long)errs);
	if (nl > 0) {
		printf("p50: %.1f us\n", (double)lat[nl / 2] / 1e3);
		printf("p99: %.1f us\n", (double)lat[nl * 99 / 100] / 1e3);
		printf("p999: %.1f us\n", (double)lat[nl * 999 / 1000] / 1e3);
	}
	return errs != 0;
}
