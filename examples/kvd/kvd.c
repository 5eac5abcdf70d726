/*
 * kvd: a small TCP key-value service built on libshmstate, the example
 * service that shmsupervise(8) wraps.
 *
 * It takes its listening socket from the socket-activation protocol
 * (shmsupervise or systemd), or binds one itself with -p. It reports
 * READY=1, STATUS=, STOPPING=1 with shms_notify(). On SIGTERM it stops
 * accepting, answers the requests already in hand, checkpoints its table
 * (copy mode) and exits 0; at start it adopts the last checkpoint, if any.
 * With -A the table lives in an arena instead (zero copy): a stop seals
 * it and a start adopts it in place, whatever its size.
 *
 * Protocol: one request per line, one reply line each.
 *	set KEY VALUE	-> OK			get KEY  -> VALUE v | NOTFOUND
 *	del KEY		-> DELETED | NOTFOUND	count    -> COUNT n
 *	fill N SIZE [PREFIX] -> OK n	(N generated values of SIZE bytes)
 *	ping -> PONG	quit -> (closes)	anything else -> ERROR reason
 */
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bsd/stdlib.h>

#include "shmstate.h"

/*
 * Layout "kvd" v1, one segment "table": records of
 *	uint32 klen, uint32 vlen, key[klen], value[vlen]
 * in host byte order (a checkpoint never leaves the machine). Bump the
 * version whenever this changes.
 */
#define KVD_LAYOUT		"kvd"
#define KVD_LAYOUT_VERSION	1u
#define KVD_SEGMENT		"table"
#define KVD_FDNAME		"kvd"

/*
 * Layout "kvd-arena" v1 (-A), arena "table": the root is a struct
 * arena_root; buckets is an array of tabsize entry offsets; entries are
 * struct arena_entry, chained by offset. Bump the version on any change.
 */
#define KVD_ARENA		"table"
#define KVD_ARENA_LAYOUT	"kvd-arena"
#define KVD_ARENA_VERSION	1u
#define KVD_ARENA_MAGIC		UINT64_C(0x6b76642d61726e31)	/* "kvd-arn1" */

struct arena_root {
	uint64_t	magic;
	uint64_t	tabsize;	/* power of two */
	uint64_t	count;
	uint64_t	buckets;	/* offset of uint64_t[tabsize] */
};

struct arena_entry {
	uint64_t	next;		/* offset, 0 ends the chain */
	uint32_t	klen, vlen;
	char		data[];		/* key, then value */
};

#define KEY_MAX		250
#define VAL_MAX		(64 * 1024)
#define LINE_MAX_	(KEY_MAX + VAL_MAX + 16)
#define CONNS_MAX	1024
#define FILL_MAX	(64u * 1024 * 1024)
#define DRAIN_MS	100		/* at most, for requests in hand at stop */
#define FRESH_MS	5		/* for a new connection's first request */
#define CHUNK		(1u << 20)	/* checkpoint write unit */

struct entry {
	struct entry	*next;
	uint32_t	 klen, vlen;
	char		 data[];	/* key, then value */
};

struct conn {
	int	 fd;
	size_t	 inlen;
	char	*in;			/* LINE_MAX_ + 1 bytes */
	size_t	 outlen, outoff;
	char	*out;
	size_t	 outcap;
	uint64_t served;		/* requests answered */
};

static struct entry	**tab;
static size_t		  tabsize = 1u << 16, count;
static struct conn	  conns[CONNS_MAX];
static int		  nconns;
static const char	 *fail_mode = "";
static const char	 *service = "kvd";
static struct shms_arena *arena;	/* -A: the table lives here */
static struct arena_root *aroot;
static char		 *abase;

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static uint64_t
hash(const char *k, size_t n)
{
	uint64_t h = 1469598103934665603ULL;

	while (n-- > 0)
		h = (h ^ (unsigned char)*k++) * 1099511628211ULL;
	return h;
}

static void
grow(void)
{
	struct entry **nt, *e, *next;
	size_t ns = tabsize * 2, i;

	if ((nt = calloc(ns, sizeof(*nt))) == NULL)
		return;	/* longer chains, still correct */
	for (i = 0; i < tabsize; i++)
		for (e = tab[i]; e != NULL; e = next) {
			size_t b = hash(e->data, e->klen) & (ns - 1);

			next = e->next;
			e->next = nt[b];
			nt[b] = e;
		}
	free(tab);
	tab = nt;
	tabsize = ns;
}

static struct entry **
lookup(const char *k, size_t klen)
{
	struct entry **pp = &tab[hash(k, klen) & (tabsize - 1)];

	for (; *pp != NULL; pp = &(*pp)->next)
		if ((*pp)->klen == klen && memcmp((*pp)->data, k, klen) == 0)
			break;
	return pp;
}

static int
put(const char *k, size_t klen, const char *v, size_t vlen)
{
	struct entry **pp = lookup(k, klen), *e;

	if ((e = malloc(sizeof(*e) + klen + vlen)) == NULL)
		return -1;
	e->klen = (uint32_t)klen;
	e->vlen = (uint32_t)vlen;
	memcpy(e->data, k, klen);
	memcpy(e->data + klen, v, vlen);
	if (*pp != NULL) {
		e->next = (*pp)->next;
		free(*pp);
		*pp = e;
		return 0;
	}
	e->next = NULL;
	*pp = e;
	if (++count > tabsize)
		grow();
	return 0;
}

/* ---- the table in an arena (-A): offsets, never pointers */

static uint64_t *
a_bucket(const char *k, size_t klen)
{
	uint64_t *b = (uint64_t *)(void *)(abase + aroot->buckets);

	return &b[hash(k, klen) & (aroot->tabsize - 1)];
}

/* The link (bucket or next field) that holds key's entry, or its end. */
static uint64_t *
a_lookup(const char *k, size_t klen)
{
	uint64_t *link = a_bucket(k, klen);

	while (*link != 0) {
		struct arena_entry *e = (void *)(abase + *link);

		if (e->klen == klen && memcmp(e->data, k, klen) == 0)
			break;
		link = &e->next;
	}
	return link;
}

static void
a_grow(void)
{
	uint64_t ns = aroot->tabsize * 2, nb, i, off, next;
	uint64_t *old, *nt;

	if (shms_arena_calloc(arena, ns, sizeof(uint64_t), &nb) != 0)
		return;	/* longer chains, still correct */
	old = (uint64_t *)(void *)(abase + aroot->buckets);
	nt = (uint64_t *)(void *)(abase + nb);
	for (i = 0; i < aroot->tabsize; i++)
		for (off = old[i]; off != 0; off = next) {
			struct arena_entry *e = (void *)(abase + off);
			uint64_t b = hash(e->data, e->klen) & (ns - 1);

			next = e->next;
			e->next = nt[b];
			nt[b] = off;
		}
	shms_arena_free(arena, aroot->buckets);
	aroot->buckets = nb;
	aroot->tabsize = ns;
}

static int
a_put(const char *k, size_t klen, const char *v, size_t vlen)
{
	uint64_t *link = a_lookup(k, klen), off;
	struct arena_entry *e;

	if (shms_arena_alloc(arena, sizeof(*e) + klen + vlen, &off) != 0)
		return -1;
	/* The arena may have grown: base is stable, link still valid. */
	e = (void *)(abase + off);
	e->klen = (uint32_t)klen;
	e->vlen = (uint32_t)vlen;
	memcpy(e->data, k, klen);
	memcpy(e->data + klen, v, vlen);
	if (*link != 0) {
		struct arena_entry *old = (void *)(abase + *link);
		uint64_t o = *link;

		e->next = old->next;
		*link = off;
		shms_arena_free(arena, o);
		return 0;
	}
	e->next = 0;
	*link = off;
	if (++aroot->count > aroot->tabsize)
		a_grow();
	return 0;
}

/*
 * Opens the arena table: adopts it in place, or creates it. A dirty one
 * (its owner died without sealing) cannot be trusted: start empty.
 * Returns the number of entries adopted, or an error code.
 */
static int
a_open(struct shms_svc *svc, uint64_t max_mib)
{
	uint64_t off;
	int rc;

	rc = shms_arena_adopt(svc, KVD_ARENA, KVD_ARENA_LAYOUT,
	    KVD_ARENA_VERSION, 0, &arena);
	if (rc == SHMS_EDIRTY) {
		fprintf(stderr, "kvd: arena left dirty by a crash: starting "
		    "empty\n");
		if ((rc = shms_arena_remove(svc, KVD_ARENA)) != 0)
			return rc;
		rc = SHMS_ENOTFOUND;
	}
	if (rc == 0) {
		abase = shms_arena_base(arena);
		aroot = shms_arena_ptr(arena, shms_arena_root(arena));
		if (aroot == NULL || aroot->magic != KVD_ARENA_MAGIC ||
		    aroot->tabsize == 0 ||
		    (aroot->tabsize & (aroot->tabsize - 1)) != 0)
			return SHMS_ECORRUPT;
		return (int)aroot->count;
	}
	if (rc != SHMS_ENOTFOUND)
		return rc;
	if ((rc = shms_arena_create(svc, KVD_ARENA, KVD_ARENA_LAYOUT,
	    KVD_ARENA_VERSION, UINT64_C(64) << 20, max_mib << 20, 0,
	    &arena)) != 0)
		return rc;
	abase = shms_arena_base(arena);
	if ((rc = shms_arena_calloc(arena, 1, sizeof(*aroot), &off)) != 0)
		return rc;
	aroot = (void *)(abase + off);
	aroot->magic = KVD_ARENA_MAGIC;
	aroot->tabsize = 1u << 16;
	if ((rc = shms_arena_calloc(arena, aroot->tabsize, sizeof(uint64_t),
	    &aroot->buckets)) != 0)
		return rc;
	return shms_arena_root_set(arena, off);
}

/* ---- the table, whichever way it is kept */

/* 1 and the value if found, 0 if not. */
static int
st_get(const char *k, size_t klen, const char **v, size_t *vlen)
{
	if (arena != NULL) {
		uint64_t *link = a_lookup(k, klen);
		struct arena_entry *e;

		if (*link == 0)
			return 0;
		e = (void *)(abase + *link);
		*v = e->data + klen;
		*vlen = e->vlen;
		return 1;
	} else {
		struct entry **pp = lookup(k, klen);

		if (*pp == NULL)
			return 0;
		*v = (*pp)->data + klen;
		*vlen = (*pp)->vlen;
		return 1;
	}
}

static int
st_put(const char *k, size_t klen, const char *v, size_t vlen)
{
	return arena != NULL ? a_put(k, klen, v, vlen) : put(k, klen, v, vlen);
}

/* 1 if deleted, 0 if absent. */
static int
st_del(const char *k, size_t klen)
{
	if (arena != NULL) {
		uint64_t *link = a_lookup(k, klen), o = *link;

		if (o == 0)
			return 0;
		*link = ((struct arena_entry *)(void *)(abase + o))->next;
		shms_arena_free(arena, o);
		aroot->count--;
	} else {
		struct entry **pp = lookup(k, klen), *e = *pp;

		if (e == NULL)
			return 0;
		*pp = e->next;
		free(e);
		count--;
	}
	return 1;
}

static size_t
st_count(void)
{
	return arena != NULL ? (size_t)aroot->count : count;
}

/* ---- checkpoint and adopt */

static int
checkpoint(struct shms_svc *svc, uint64_t *gen)
{
	struct shms_ckpt *ck;
	struct shms_seg *seg;
	uint64_t bytes = 0;
	struct entry *e, *next;
	size_t i, used = 0;
	char *p = NULL;
	int rc;

	if ((rc = shms_ckpt_begin(svc, 0, &ck)) != 0)
		return rc;
	for (i = 0; i < tabsize; i++)
		for (e = tab[i]; e != NULL; e = e->next)
			bytes += 8 + e->klen + e->vlen;
	if ((rc = shms_ckpt_seg_create(ck, KVD_SEGMENT, KVD_LAYOUT,
	    KVD_LAYOUT_VERSION, bytes, &seg)) != 0)
		goto fail;
	/*
	 * Serialize in place in 1 MiB reservations, freeing each entry once
	 * it is in shared memory, so the state is never held twice.
	 */
	for (i = 0; i < tabsize; i++) {
		for (e = tab[i]; e != NULL; e = next) {
			size_t need = 8 + e->klen + e->vlen;
			uint32_t hdr[2] = { e->klen, e->vlen };

			next = e->next;
			if (p != NULL && used + need > CHUNK) {
				if ((rc = shms_seg_commit(seg, used)) != 0)
					goto fail;
				p = NULL;
			}
			if (p == NULL) {
				if ((rc = shms_seg_reserve(seg, CHUNK > need ?
				    CHUNK : need, (void **)&p)) != 0)
					goto fail;
				used = 0;
			}
			memcpy(p + used, hdr, 8);
			memcpy(p + used + 8, e->data, e->klen + e->vlen);
			used += need;
			free(e);
		}
		tab[i] = NULL;
	}
	if (p != NULL && (rc = shms_seg_commit(seg, used)) != 0)
		goto fail;
	count = 0;
	if ((rc = shms_seg_close(seg)) != 0)
		goto fail;
	return shms_ckpt_commit(ck, 0, gen);
fail:
	shms_ckpt_abort(ck);
	return rc;
}

/* Returns entries adopted (>= 0), or an error code. */
static int
adopt(struct shms_svc *svc, uint64_t *gen)
{
	struct shms_adopt *ad;
	struct shms_seg *seg;
	const unsigned char *d;
	uint64_t len, off = 0;
	int rc, n = 0;

	if ((rc = shms_adopt_begin(svc, 0, &ad)) != 0)
		return rc == SHMS_ENOSTATE ? 0 : rc;
	*gen = shms_adopt_generation(ad);
	if ((rc = shms_adopt_seg_open(ad, KVD_SEGMENT, KVD_LAYOUT,
	    KVD_LAYOUT_VERSION, SHMS_VERIFY_FULL, &seg)) != 0 ||
	    (rc = shms_seg_data(seg, (const void **)&d, &len)) != 0) {
		shms_adopt_abort(ad);
		return rc;
	}
	/* Verified, but still bounds-checked record by record. */
	while (off < len) {
		uint32_t hdr[2];

		if (len - off < 8)
			goto corrupt;
		memcpy(hdr, d + off, 8);
		off += 8;
		if (hdr[0] == 0 || hdr[0] > KEY_MAX || hdr[1] > VAL_MAX ||
		    len - off < (uint64_t)hdr[0] + hdr[1])
			goto corrupt;
		if (put((const char *)d + off, hdr[0],
		    (const char *)d + off + hdr[0], hdr[1]) != 0) {
			shms_adopt_abort(ad);
			return -ENOMEM;
		}
		off += (uint64_t)hdr[0] + hdr[1];
		n++;
	}
	/*
	 * Keep the checkpoint until our own next one replaces it: if we die
	 * before that, the previous binary (a rollback) or our restart can
	 * adopt it again.
	 */
	shms_seg_close(seg);
	if ((rc = shms_adopt_finish(ad, SHMS_ADOPT_KEEP)) != 0)
		return rc;
	return n;
corrupt:
	shms_adopt_abort(ad);
	return SHMS_ECORRUPT;
}

/* ---- connections */

static void
out_add(struct conn *c, const char *s, size_t n)
{
	if (c->outlen + n > c->outcap) {
		size_t nc = c->outcap ? c->outcap : 4096;
		char *no;

		while (nc < c->outlen + n)
			nc *= 2;
		if ((no = realloc(c->out, nc)) == NULL)
			return;
		c->out = no;
		c->outcap = nc;
	}
	memcpy(c->out + c->outlen, s, n);
	c->outlen += n;
}

static void
out_str(struct conn *c, const char *s)
{
	out_add(c, s, strlen(s));
}

static void
conn_close(struct conn *c)
{
	close(c->fd);
	free(c->in);
	free(c->out);
	*c = conns[--nconns];
}

/* Returns -1 to close the connection. */
static int
request(struct conn *c, char *line, size_t n)
{
	char buf[64], *sp, *arg;
	size_t klen;

	if (n > 0 && line[n - 1] == '\r')
		line[--n] = '\0';
	sp = memchr(line, ' ', n);
	arg = sp ? sp + 1 : line + n;
	if (sp)
		*sp = '\0';
	if (strcmp(line, "get") == 0 || strcmp(line, "del") == 0) {
		const char *v;
		size_t vlen;

		klen = strlen(arg);
		if (klen == 0 || klen > KEY_MAX || strchr(arg, ' ')) {
			out_str(c, "ERROR bad key\n");
			return 0;
		}
		if (line[0] == 'd')
			out_str(c, st_del(arg, klen) ? "DELETED\n" :
			    "NOTFOUND\n");
		else if (!st_get(arg, klen, &v, &vlen))
			out_str(c, "NOTFOUND\n");
		else {
			out_str(c, "VALUE ");
			out_add(c, v, vlen);
			out_str(c, "\n");
		}
	} else if (strcmp(line, "set") == 0) {
		char *v = strchr(arg, ' ');

		if (v == NULL || v == arg || (size_t)(v - arg) > KEY_MAX) {
			out_str(c, "ERROR usage: set KEY VALUE\n");
			return 0;
		}
		if (st_put(arg, (size_t)(v - arg), v + 1,
		    n - (size_t)(v + 1 - line)) != 0)
			out_str(c, "ERROR out of memory\n");
		else
			out_str(c, "OK\n");
	} else if (strcmp(line, "count") == 0) {
		snprintf(buf, sizeof(buf), "COUNT %zu\n", st_count());
		out_str(c, buf);
	} else if (strcmp(line, "fill") == 0) {
		unsigned long long num, size, i;
		char pfx[64] = "k", key[KEY_MAX + 1], *val;

		if (sscanf(arg, "%llu %llu %63s", &num, &size, pfx) < 2 ||
		    num > FILL_MAX || size == 0 || size > VAL_MAX) {
			out_str(c, "ERROR usage: fill N SIZE [PREFIX]\n");
			return 0;
		}
		if ((val = malloc(size)) == NULL) {
			out_str(c, "ERROR out of memory\n");
			return 0;
		}
		for (i = 0; i < num; i++) {
			int kl = snprintf(key, sizeof(key), "%s%llu", pfx, i);

			memset(val, 'a' + (int)(i % 26), size);
			if (st_put(key, (size_t)kl, val, size) != 0)
				break;
		}
		free(val);
		snprintf(buf, sizeof(buf), "OK %llu\n", i);
		out_str(c, buf);
	} else if (strcmp(line, "ping") == 0) {
		out_str(c, "PONG\n");
	} else if (strcmp(line, "quit") == 0) {
		return -1;
	} else
		out_str(c, "ERROR unknown command\n");
	return 0;
}

/* Reads and answers what is there. Returns -1 to close. */
static int
conn_input(struct conn *c)
{
	ssize_t r;
	char *nl;
	size_t used;

	r = read(c->fd, c->in + c->inlen, LINE_MAX_ - c->inlen);
	if (r == -1)
		return (errno == EAGAIN || errno == EINTR) ? 0 : -1;
	if (r == 0)
		return -1;
	c->inlen += (size_t)r;
	while ((nl = memchr(c->in, '\n', c->inlen)) != NULL) {
		*nl = '\0';
		used = (size_t)(nl - c->in) + 1;
		if (request(c, c->in, used - 1) == -1)
			return -1;
		c->served++;
		memmove(c->in, c->in + used, c->inlen - used);
		c->inlen -= used;
	}
	if (c->inlen == LINE_MAX_) {
		out_str(c, "ERROR line too long\n");
		return -1;
	}
	return 0;
}

static int
conn_flush(struct conn *c)
{
	ssize_t w;

	while (c->outoff < c->outlen) {
		w = write(c->fd, c->out + c->outoff, c->outlen - c->outoff);
		if (w == -1)
			return (errno == EAGAIN || errno == EINTR) ? 0 : -1;
		c->outoff += (size_t)w;
	}
	c->outoff = c->outlen = 0;
	return 0;
}

static void
accept_one(int lfd)
{
	int fd, one = 1;

	fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd == -1)
		return;
	if (nconns == CONNS_MAX) {
		close(fd);
		return;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	memset(&conns[nconns], 0, sizeof(conns[0]));
	conns[nconns].fd = fd;
	if ((conns[nconns].in = malloc(LINE_MAX_ + 1)) == NULL) {
		close(fd);
		return;
	}
	nconns++;
}

/*
 * One poll round over the connections (and lfd unless -1); returns the
 * number of connections that had activity.
 */
static int
serve_round(int lfd, int sfd, int timeout, int *stop)
{
	struct pollfd pfd[CONNS_MAX + 2];
	int n = 0, i, base, active = 0;

	pfd[n].fd = sfd;
	pfd[n++].events = POLLIN;
	pfd[n].fd = lfd;
	pfd[n++].events = POLLIN;
	base = n;
	for (i = 0; i < nconns; i++) {
		pfd[n].fd = conns[i].fd;
		pfd[n++].events = POLLIN |
		    (conns[i].outlen > conns[i].outoff ? POLLOUT : 0);
	}
	if (poll(pfd, (nfds_t)n, timeout) == -1)
		return 0;
	if (pfd[0].revents & POLLIN) {
		struct signalfd_siginfo si;

		while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
			*stop = 1;
	}
	/* Backwards, so conn_close's swap-with-last keeps indexes valid. */
	for (i = nconns - 1; i >= 0; i--) {
		struct pollfd *p = &pfd[base + i];

		if (p->revents == 0)
			continue;
		active++;
		if (((p->revents & (POLLIN | POLLHUP | POLLERR)) &&
		    conn_input(&conns[i]) == -1) ||
		    conn_flush(&conns[i]) == -1) {
			(void)conn_flush(&conns[i]);
			conn_close(&conns[i]);
		}
	}
	if (lfd != -1 && (pfd[1].revents & POLLIN))
		for (i = 0; i < 64; i++)
			accept_one(lfd);
	return active;
}

static int
bind_self(const char *addr, const char *port)
{
	struct sockaddr_in sin;
	const char *errstr;
	int s, one = 1;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)strtonum(port, 1, 65535, &errstr));
	if (errstr != NULL)
		errx(2, "-p %s: port is %s", port, errstr);
	if (inet_pton(AF_INET, addr, &sin.sin_addr) != 1)
		errx(2, "-b %s: not an IPv4 address", addr);
	if ((s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		err(1, "socket");
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(s, (struct sockaddr *)&sin, sizeof(sin)) == -1)
		err(1, "bind %s:%s", addr, port);
	if (listen(s, SOMAXCONN) == -1)
		err(1, "listen");
	return s;
}

static void
usage(void)
{
	fprintf(stderr, "usage: kvd [-A [-M MAX_MIB]] [-p PORT [-b ADDR]] "
	    "[-n SERVICE]\n\t[-F start|hang|crash|nostop|owned]\n");
	exit(2);
}

int
main(int argc, char *argv[])
{
	struct shms_listen_fd fds[8];
	const char *port = NULL, *addr = "127.0.0.1", *e;
	struct shms_svc *svc;
	uint64_t gen = 0, t0, crash_at = 0, max_mib = 4096;
	const char *errstr;
	sigset_t set;
	int ch, lfd = -1, sfd, n, rc, stop = 0, i, use_arena = 0;

	while ((ch = getopt(argc, argv, "AM:b:F:n:p:")) != -1) {
		switch (ch) {
		case 'A': use_arena = 1; break;
		case 'M':
			max_mib = (uint64_t)strtonum(optarg, 64, 1 << 22,
			    &errstr);
			if (errstr != NULL)
				errx(2, "-M %s: MiB is %s", optarg, errstr);
			break;
		case 'b': addr = optarg; break;
		case 'F': fail_mode = optarg; break;
		case 'n': service = optarg; break;
		case 'p': port = optarg; break;
		default: usage();
		}
	}
	if ((e = getenv("SHMSTATE_SERVICE")) != NULL && e[0] != '\0')
		service = e;
	setvbuf(stderr, NULL, _IOLBF, 0);

	/* Failure modes for the supervisor's rollback tests. */
	if (strcmp(fail_mode, "start") == 0) {
		fprintf(stderr, "kvd: simulated failure at start\n");
		exit(3);
	}
	if (strcmp(fail_mode, "hang") == 0) {
		fprintf(stderr, "kvd: simulated hang before READY\n");
		for (i = 0; i < 3600; i++)
			sleep(1);
		exit(3);
	}

	n = shms_listen_fds(fds, 8, SHMS_LISTEN_UNSETENV);
	if (n < 0)
		errx(1, "LISTEN_FDS: %s", shms_strerror(n));
	for (i = 0; i < n && lfd == -1; i++)
		if (strcmp(fds[i].name, KVD_FDNAME) == 0)
			lfd = fds[i].fd;
	if (lfd == -1 && n > 0)
		lfd = fds[0].fd;
	if (lfd == -1) {
		if (port == NULL)
			errx(2, "no socket passed (LISTEN_FDS) and no -p PORT");
		lfd = bind_self(addr, port);
	}
	fcntl(lfd, F_SETFL, fcntl(lfd, F_GETFL) | O_NONBLOCK);

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (strcmp(fail_mode, "nostop") == 0)
		signal(SIGTERM, SIG_IGN);
	else
		sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	if ((sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) == -1)
		err(1, "signalfd");
	if ((tab = calloc(tabsize, sizeof(*tab))) == NULL)
		err(1, "calloc");

	t0 = now_us();
	if ((rc = shms_svc_open(&svc, NULL, service, 0)) != 0)
		errx(1, "state of %s: %s", service, shms_strerror(rc));
	if (strcmp(fail_mode, "owned") == 0) {
		fprintf(stderr, "kvd: simulated failure after taking the "
		    "state\n");
		exit(3);
	}
	if (use_arena) {
		if ((rc = a_open(svc, max_mib)) < 0)
			errx(1, "arena %s/%s: %s: %s", service, KVD_ARENA,
			    shms_strerror(rc), shms_errdetail(svc));
		gen = rc > 0;
	} else if ((rc = adopt(svc, &gen)) < 0)
		errx(1, "adopt %s: %s: %s", service, shms_strerror(rc),
		    shms_errdetail(svc));
	t0 = now_us() - t0;
	fprintf(stderr, "kvd: %s with %zu keys (%s) in %.3f ms\n",
	    gen ? "adopted" : "cold start", st_count(), use_arena ? "arena" :
	    "copy", t0 / 1000.0);
	shms_notifyf("READY=1\nSTATUS=serving %zu keys\nX_SHMS_ADOPT_US=%"
	    PRIu64 "\nMAINPID=%ld", st_count(), t0, (long)getpid());
	if (strcmp(fail_mode, "crash") == 0)
		crash_at = now_ms() + 300;

	while (!stop) {
		serve_round(lfd, sfd, crash_at ? 50 : 1000, &stop);
		if (crash_at && now_ms() >= crash_at) {
			fprintf(stderr, "kvd: simulated crash after READY\n");
			abort();
		}
	}

	/*
	 * Stop: no new connections (they wait in the supervisor's backlog),
	 * answer what the open ones have sent, then checkpoint.
	 */
	shms_notify("STOPPING=1\nSTATUS=stopping");
	close(lfd);
	t0 = now_ms();
	while (nconns > 0 && now_ms() - t0 < DRAIN_MS) {
		serve_round(-1, sfd, 5, &stop);
		/*
		 * A connection is done once what it sent has been answered:
		 * nothing partial in, nothing pending out. One that has not
		 * sent its first request yet gets FRESH_MS for it.
		 */
		for (i = nconns - 1; i >= 0; i--)
			if (conns[i].inlen == 0 &&
			    conns[i].outlen == conns[i].outoff &&
			    (conns[i].served > 0 || now_ms() - t0 >= FRESH_MS))
				conn_close(&conns[i]);
	}
	while (nconns > 0) {
		(void)conn_flush(&conns[nconns - 1]);
		conn_close(&conns[nconns - 1]);
	}
	t0 = now_us();
	n = (int)st_count();
	if (arena != NULL) {
		/* Zero copy: the table stays where it is, marked clean. */
		if ((rc = shms_arena_seal(arena, 0)) != 0)
			errx(1, "seal %s/%s: %s: %s", service, KVD_ARENA,
			    shms_strerror(rc), shms_errdetail(svc));
		arena = NULL;
	} else if ((rc = checkpoint(svc, &gen)) != 0)
		errx(1, "checkpoint %s: %s: %s", service, shms_strerror(rc),
		    shms_errdetail(svc));
	t0 = now_us() - t0;
	/*
	 * Let go of the state before saying the checkpoint is done: the
	 * supervisor may start our successor at once, while our own exit
	 * (freeing the heap) is still under way.
	 */
	shms_svc_close(svc);
	fprintf(stderr, "kvd: %s %d keys in %.3f ms\n", use_arena ?
	    "sealed the arena with" : "checkpointed", n, t0 / 1000.0);
	shms_notifyf("X_SHMS_CHECKPOINT_US=%" PRIu64, t0);
	free(tab);
	return 0;
}
