/*
 * conn.c: worker threads and connections.
 *
 * Each worker runs its own epoll loop and accepts from the shared listening
 * sockets (EPOLLEXCLUSIVE wakes one worker); accepted connections are
 * dealt round robin to the workers through a small queue and an eventfd,
 * as one woken worker would otherwise take a whole burst. A connection
 * then lives and dies on one thread and needs no locks. Sockets are
 * non-blocking; after each batch of input the replies are written at once
 * and EPOLLOUT is used only while output is pending.
 *
 * Bounds: the read buffer grows only as far as the longest allowed line
 * (values are read straight into their item); a connection whose unsent
 * output passes --output-max is not read from (backpressure) and is
 * closed after --drop-timeout; -c caps connections.
 *
 * Stop: the workers stop accepting, then close each connection at its next
 * request boundary (no request executing, every reply sent; a value being
 * received is finished first), or at the --stop-timeout deadline. Under
 * a supervisor ($NOTIFY_SOCKET) the connection is parked there instead,
 * with its unread bytes, for handoff.c to hand over; connections handed
 * to us join the workers in workers_start().
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include "sc.h"

#define TAG_LISTEN	(UINT64_C(1) << 63)
#define TAG_WAKE	(UINT64_C(1) << 62)
#define MAX_EVENTS	256
#define ACCEPT_BATCH	16
#define READS_PER_EVENT	16
#define HANDOFF_MAX	1024

struct worker {
	pthread_t	 tid;
	unsigned	 id;
	int		 epfd;
	int		 wakefd;
	struct server	*srv;
	struct conn	*conns;
	unsigned	 nconns;
	int		 draining;
	uint64_t	 deadline_ns;
	struct wstats	 st;
	/* connections handed over by the accepting worker */
	pthread_mutex_t	 qlock;
	int		 q[HANDOFF_MAX];
	unsigned	 qhead, qlen;
} __attribute__((aligned(64)));

/* Unit tests run proto without workers; their counters go here. */
static struct wstats unit_st;

struct wstats *
conn_wstats(struct conn *c)
{
	return c->w != NULL ? &c->w->st : &unit_st;
}

static const char too_many[] = "SERVER_ERROR too many connections\r\n";

void
conn_release(struct server *srv, struct conn *c)
{
	if (c->it != NULL) {
		item_abandon(&srv->store, c->it);
		c->it = NULL;
	}
	free(c->rbuf);
	c->rbuf = NULL;
	sbuf_free(&c->wb);
}

static void
conn_unlink(struct worker *w, struct conn *c)
{
	if (c->lprev != NULL)
		c->lprev->lnext = c->lnext;
	else
		w->conns = c->lnext;
	if (c->lnext != NULL)
		c->lnext->lprev = c->lprev;
	w->nconns--;
}

static void
conn_close(struct worker *w, struct conn *c)
{
	conn_unlink(w, c);
	/*
	 * close() alone leaves it in the epoll set while another process
	 * (the supervisor's fd store, holding handed-over connections until
	 * READY) still has the same open file: events would keep coming
	 * for a freed conn.
	 */
	(void)epoll_ctl(w->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	conn_release(w->srv, c);
	free(c);
	__atomic_sub_fetch(&w->srv->curr_conns, 1, __ATOMIC_RELAXED);
}

static void conn_set_events(struct worker *w, struct conn *c, int ev);

/*
 * A stop reached c's request boundary: close it, or under a supervisor
 * park it (fd open, unread bytes kept) for handoff_send().
 */
static void
conn_end(struct worker *w, struct conn *c)
{
	struct server *srv = w->srv;

	if (!srv->handoff) {
		conn_close(w, c);
		return;
	}
	conn_unlink(w, c);
	(void)epoll_ctl(w->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	c->w = NULL;
	c->lprev = NULL;
	pthread_mutex_lock(&srv->park_lock);
	c->lnext = srv->parked;
	srv->parked = c;
	pthread_mutex_unlock(&srv->park_lock);
	__atomic_sub_fetch(&srv->curr_conns, 1, __ATOMIC_RELAXED);
}

/*
 * Closes after an error reply without losing it: a close() with unread
 * input makes the kernel send RST, which can destroy the reply in
 * flight. So shut the write side and discard input until the peer
 * closes, for at most LINGER_S seconds or LINGER_BYTES.
 */
#define LINGER_S	2
#define LINGER_BYTES	(1u << 20)

static void
conn_linger(struct worker *w, struct conn *c)
{
	char buf[4096];
	ssize_t n;

	if (c->linger_since == 0) {
		c->linger_since = sc_now();
		(void)shutdown(c->fd, SHUT_WR);
	}
	for (;;) {
		n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			conn_set_events(w, c, EPOLLIN | EPOLLRDHUP);
			return;
		}
		if (n <= 0 || (c->linger_bytes += (uint64_t)n) > LINGER_BYTES) {
			conn_close(w, c);
			return;
		}
	}
}

static void
conn_set_events(struct worker *w, struct conn *c, int ev)
{
	struct epoll_event e;

	if (ev == c->epoll_events)
		return;
	memset(&e, 0, sizeof(e));
	e.events = (uint32_t)ev;
	e.data.ptr = c;
	if (epoll_ctl(w->epfd, EPOLL_CTL_MOD, c->fd, &e) == 0)
		c->epoll_events = ev;
}

/* Writes pending output. Returns 0, or -1 if the connection failed. */
static int
conn_flush(struct worker *w, struct conn *c)
{
	ssize_t n;

	while (c->wb.off < c->wb.len) {
		n = send(c->fd, c->wb.p + c->wb.off, c->wb.len - c->wb.off,
		    MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -1;
		}
		c->wb.off += (size_t)n;
		STAT_ADD(&w->st, bytes_written, (uint64_t)n);
	}
	c->wb.off = c->wb.len = 0;
	/* Give back a buffer grown by one large reply. */
	if (c->wb.cap > 16 * SC_WBUF_INIT)
		sbuf_free(&c->wb);
	return 0;
}

/*
 * Reads once: straight into the item when a value is being read and
 * nothing is buffered, else into the read buffer (grown up to SC_RBUF_MAX
 * only while a line is incomplete). Returns bytes, 0 at EOF, -EAGAIN, or
 * another -errno. A short read sets *drained: the socket is most likely
 * empty, and level-triggered epoll says if not, so the caller need not
 * spend a recv() on EAGAIN (memcached's try_read_network does the same).
 */
static ssize_t
conn_read(struct worker *w, struct conn *c, int *drained)
{
	char *dst, *p;
	size_t room, nsize;
	ssize_t n;

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
			if (c->rsize >= SC_RBUF_MAX)
				return -ENOBUFS;	/* proto caps lines */
			nsize = c->rsize ? c->rsize * 2 : SC_RBUF_INIT;
			if (nsize > SC_RBUF_MAX)
				nsize = SC_RBUF_MAX;
			if ((p = realloc(c->rbuf, nsize)) == NULL)
				return -ENOMEM;
			c->rbuf = p;
			c->rsize = nsize;
		}
		dst = c->rbuf + c->rlen;
		room = c->rsize - c->rlen;
	}
	do
		n = recv(c->fd, dst, room, MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? -EAGAIN :
		    -errno;
	if (n == 0)
		return 0;
	STAT_ADD(&w->st, bytes_read, (uint64_t)n);
	if ((size_t)n < room)
		*drained = 1;
	if (dst == c->rbuf + c->rlen)
		c->rlen += (size_t)n;
	else
		c->it_got += (size_t)n;
	return n;
}

/*
 * At a request boundary for a stop: no request executing (a value being
 * read, a multi-get paused at the output cap) and every reply sent.
 * Complete requests in rbuf are always executed before this is asked; a
 * partial command line is dropped: it was never executed, so the client
 * can retry it elsewhere (connection handoff will pass it on instead).
 */
static int
conn_idle(const struct conn *c)
{
	return c->state == CONN_CMD && c->wb.off == c->wb.len &&
	    c->get_resume == 0;
}

/*
 * Processes input, writes output, reads more, until the socket has no more
 * input, the output is at its cap, or the connection ends.
 */
static void
conn_drive(struct worker *w, struct conn *c)
{
	int rc, i, ev, drained = 0;
	ssize_t n;

	for (i = 0;; i++) {
		rc = proto_process(w->srv, c);
		if (conn_flush(w, c) < 0) {
			conn_close(w, c);
			return;
		}
		if (rc == PROTO_CLOSE) {
			c->state = CONN_CLOSING;
			if (c->wb.off == c->wb.len) {
				conn_linger(w, c);
				return;
			}
			break;
		}
		if (rc == PROTO_BLOCKED) {
			if (c->wb.len - c->wb.off <= settings.wbuf_max)
				continue;	/* drained meanwhile */
			if (c->blocked_since == 0)
				c->blocked_since = sc_now();
			break;
		}
		c->blocked_since = 0;
		if (w->draining && conn_idle(c)) {
			conn_end(w, c);
			return;
		}
		/*
		 * Stop only after processing what was read: bytes left in
		 * rbuf would not wake a level-triggered epoll again.
		 */
		if (c->closed_read || i == READS_PER_EVENT || drained)
			break;
		n = conn_read(w, c, &drained);
		if (n == -EAGAIN)
			break;
		if (n <= 0) {
			/* EOF or error: nothing more can be asked. */
			conn_close(w, c);
			return;
		}
		c->last_active = sc_now();
	}
	ev = 0;
	if (c->state != CONN_CLOSING && c->blocked_since == 0)
		ev |= EPOLLIN | EPOLLRDHUP;
	if (c->wb.off < c->wb.len)
		ev |= EPOLLOUT;
	conn_set_events(w, c, ev);
}

/*
 * Puts c (its fd open, counted in curr_conns) in w's epoll set and list.
 * Returns 0, or -1 with nothing done. ev: the first events to watch.
 */
static int
conn_attach(struct worker *w, struct conn *c, uint32_t ev)
{
	struct epoll_event e;

	c->w = w;
	memset(&e, 0, sizeof(e));
	e.events = ev;
	e.data.ptr = c;
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, c->fd, &e) < 0) {
		log_warn("epoll_ctl");
		return -1;
	}
	c->epoll_events = (int)e.events;
	c->lprev = NULL;
	c->lnext = w->conns;
	if (w->conns != NULL)
		w->conns->lprev = c;
	w->conns = c;
	w->nconns++;
	return 0;
}

/* Makes fd (accepted, counted in curr_conns) a connection of w. */
static void
conn_add(struct worker *w, int fd)
{
	struct server *srv = w->srv;
	struct conn *c;
	int one = 1;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (w->draining || (c = calloc(1, sizeof(*c))) == NULL) {
		if (!w->draining)
			log_warnx("out of memory accepting a connection");
		close(fd);
		__atomic_sub_fetch(&srv->curr_conns, 1, __ATOMIC_RELAXED);
		return;
	}
	c->fd = fd;
	c->last_active = sc_now();
	if (conn_attach(w, c, EPOLLIN | EPOLLRDHUP) < 0) {
		close(fd);
		free(c);
		__atomic_sub_fetch(&srv->curr_conns, 1, __ATOMIC_RELAXED);
		return;
	}
	STAT_INC(&w->st, total_conns);
}

/*
 * Passes fd to worker t (round robin: whichever worker epoll woke to
 * accept would otherwise take a whole burst of connections). Returns -1
 * when t's queue is full, and the caller keeps the connection.
 */
static int
conn_handoff(struct worker *t, int fd)
{
	uint64_t one = 1;
	int ok = 0;

	pthread_mutex_lock(&t->qlock);
	if (t->qlen < HANDOFF_MAX) {
		t->q[(t->qhead + t->qlen) % HANDOFF_MAX] = fd;
		t->qlen++;
		ok = 1;
	}
	pthread_mutex_unlock(&t->qlock);
	if (!ok)
		return -1;
	(void)write(t->wakefd, &one, sizeof(one));
	return 0;
}

/* Takes the connections other workers passed to w. */
static void
conn_take_handoffs(struct worker *w)
{
	int fds[64];
	unsigned n, i;

	do {
		pthread_mutex_lock(&w->qlock);
		for (n = 0; n < 64 && w->qlen > 0; n++) {
			fds[n] = w->q[w->qhead];
			w->qhead = (w->qhead + 1) % HANDOFF_MAX;
			w->qlen--;
		}
		pthread_mutex_unlock(&w->qlock);
		for (i = 0; i < n; i++)
			conn_add(w, fds[i]);
	} while (n == 64);
}

static void
conn_accept(struct worker *w, int lfd)
{
	struct server *srv = w->srv;
	struct worker *t;
	int fd, i;

	for (i = 0; i < ACCEPT_BATCH; i++) {
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_warn("accept");
			return;
		}
		if (__atomic_add_fetch(&srv->curr_conns, 1, __ATOMIC_RELAXED) >
		    settings.maxconns) {
			__atomic_sub_fetch(&srv->curr_conns, 1,
			    __ATOMIC_RELAXED);
			(void)send(fd, too_many, sizeof(too_many) - 1,
			    MSG_NOSIGNAL | MSG_DONTWAIT);
			(void)shutdown(fd, SHUT_WR);
			close(fd);
			STAT_INC(&w->st, rejected_conns);
			continue;
		}
		t = &srv->workers[__atomic_fetch_add(&srv->next_worker, 1,
		    __ATOMIC_RELAXED) % srv->nworkers];
		if (t == w || conn_handoff(t, fd) < 0)
			conn_add(w, fd);
	}
}

/* Once a second: idle and blocked-writer timeouts. */
static void
conn_timeouts(struct worker *w)
{
	struct conn *c, *next;
	int64_t now = sc_now();

	for (c = w->conns; c != NULL; c = next) {
		next = c->lnext;
		if (c->linger_since != 0) {
			if (now - c->linger_since >= LINGER_S)
				conn_close(w, c);
		} else if (c->blocked_since != 0 &&
		    now - c->blocked_since >= (int64_t)settings.drop_timeout) {
			STAT_INC(&w->st, conn_dropped);
			conn_close(w, c);
		} else if (settings.idle_timeout > 0 &&
		    now - c->last_active >= (int64_t)settings.idle_timeout &&
		    c->blocked_since == 0) {
			STAT_INC(&w->st, idle_kicks);
			conn_close(w, c);
		}
	}
}

static void
worker_begin_drain(struct worker *w)
{
	struct server *srv = w->srv;
	struct conn *c, *next;
	unsigned i;

	w->draining = 1;
	w->deadline_ns = sc_now_ns() +
	    (uint64_t)settings.stop_timeout * 1000000000u;
	for (i = 0; i < srv->nlfds; i++)
		(void)epoll_ctl(w->epfd, EPOLL_CTL_DEL, srv->lfds[i], NULL);
	for (c = w->conns; c != NULL; c = next) {
		next = c->lnext;
		if (conn_idle(c))
			conn_end(w, c);
	}
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct epoll_event ev[MAX_EVENTS];
	int64_t last_tick = sc_now();
	uint64_t tag, v;
	int n, i, wake = 0;

	for (;;) {
		if (w->draining && (w->nconns == 0 ||
		    sc_now_ns() >= w->deadline_ns))
			break;
		n = epoll_wait(w->epfd, ev, MAX_EVENTS, w->draining ? 100 :
		    1000);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fatal("epoll_wait");
		}
		for (i = 0; i < n; i++) {
			tag = ev[i].data.u64;
			if (tag & TAG_LISTEN) {
				if (!w->draining)
					conn_accept(w, (int)(tag & 0xffff));
			} else if (tag & TAG_WAKE) {
				/*
				 * Handed-over connections, or a stop: drain
				 * after this batch, since closing connections
				 * now would free ones still listed in ev[].
				 */
				(void)read(w->wakefd, &v, sizeof(v));
				conn_take_handoffs(w);
				if (__atomic_load_n(&w->srv->stopping,
				    __ATOMIC_RELAXED))
					wake = 1;
			} else {
				struct conn *c = ev[i].data.ptr;

				if ((ev[i].events & EPOLLRDHUP) &&
				    !(ev[i].events & EPOLLIN))
					c->closed_read = 1;
				if ((ev[i].events & EPOLLERR)) {
					conn_close(w, c);
					continue;
				}
				if (c->state == CONN_CLOSING) {
					if (conn_flush(w, c) < 0)
						conn_close(w, c);
					else if (c->wb.off == c->wb.len)
						conn_linger(w, c);
					continue;
				}
				conn_drive(w, c);
			}
		}
		if (wake && !w->draining)
			worker_begin_drain(w);
		if (sc_now() != last_tick) {
			last_tick = sc_now();
			conn_timeouts(w);
		}
	}
	/*
	 * clang-tidy's analyzer assumes a list head with a predecessor here;
	 * conn_close() unlinks the head (lprev NULL) before freeing it.
	 */
	conn_take_handoffs(w);	/* draining: closes them */
	while (w->conns != NULL)
		/* NOLINTNEXTLINE(clang-analyzer-unix.Malloc) */
		conn_close(w, w->conns);
	return NULL;
}

int
workers_start(struct server *srv)
{
	struct epoll_event e;
	struct worker *w;
	unsigned i, j;
	int rc;

	srv->workers = aligned_alloc(64, sizeof(struct worker) *
	    settings.threads);
	if (srv->workers == NULL)
		return -ENOMEM;
	memset(srv->workers, 0, sizeof(struct worker) * settings.threads);
	for (i = 0; i < settings.threads; i++) {
		w = &srv->workers[i];
		w->id = i;
		w->srv = srv;
		pthread_mutex_init(&w->qlock, NULL);
		if ((w->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
		    (w->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
			return -errno;
		memset(&e, 0, sizeof(e));
		e.events = EPOLLIN;
		e.data.u64 = TAG_WAKE;
		if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->wakefd, &e) < 0)
			return -errno;
		for (j = 0; j < srv->nlfds; j++) {
			e.events = EPOLLIN | EPOLLEXCLUSIVE;
			e.data.u64 = TAG_LISTEN | (uint64_t)srv->lfds[j];
			if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, srv->lfds[j],
			    &e) < 0)
				return -errno;
		}
	}
	/* Set before any worker runs: `stats' reads it from workers. */
	srv->nworkers = settings.threads;
	/*
	 * Connections handed over by our predecessor, dealt round robin.
	 * EPOLLOUT fires at once: the first event processes what they
	 * brought along (unsent output, the start of a request).
	 */
	for (i = 0; srv->handed != NULL; i++) {
		struct conn *c = srv->handed;

		/*
		 * TCP_NODELAY is the socket's, set when our predecessor
		 * accepted it: one syscall per connection saved here.
		 */
		srv->handed = c->lnext;
		__atomic_add_fetch(&srv->curr_conns, 1, __ATOMIC_RELAXED);
		if (conn_attach(&srv->workers[i % settings.threads], c,
		    EPOLLIN | EPOLLRDHUP | EPOLLOUT) < 0) {
			close(c->fd);
			conn_release(srv, c);
			free(c);
			__atomic_sub_fetch(&srv->curr_conns, 1,
			    __ATOMIC_RELAXED);
		}
	}
	for (i = 0; i < settings.threads; i++) {
		rc = pthread_create(&srv->workers[i].tid, NULL, worker_main,
		    &srv->workers[i]);
		if (rc != 0)
			return -rc;	/* the caller exits */
	}
	return 0;
}

void
workers_stop(struct server *srv)
{
	uint64_t one = 1;
	unsigned i;

	__atomic_store_n(&srv->stopping, 1, __ATOMIC_RELAXED);
	for (i = 0; i < srv->nworkers; i++)
		(void)write(srv->workers[i].wakefd, &one, sizeof(one));
	/*
	 * Join every worker before closing any wake fd: a worker hands
	 * accepted connections to the others through their wake fds, so one
	 * still running may write to a sibling's (a closed, or reused, fd).
	 */
	for (i = 0; i < srv->nworkers; i++)
		pthread_join(srv->workers[i].tid, NULL);
	for (i = 0; i < srv->nworkers; i++) {
		close(srv->workers[i].epfd);
		close(srv->workers[i].wakefd);
	}
}

static void
stats_sum(struct server *srv, struct wstats *sum)
{
	const uint64_t *src;
	uint64_t *dst = (uint64_t *)sum;
	size_t i, k, n = sizeof(*sum) / sizeof(uint64_t);

	memset(sum, 0, sizeof(*sum));
	for (i = 0; i < srv->nworkers; i++) {
		src = (const uint64_t *)&srv->workers[i].st;
		for (k = 0; k < n; k++)
			dst[k] += __atomic_load_n(&src[k], __ATOMIC_RELAXED);
	}
}

void
workers_stats(struct server *srv, struct wstats *sum)
{
	uint64_t *dst = (uint64_t *)sum;
	const uint64_t *base = (const uint64_t *)&srv->stats_base;
	size_t k, n = sizeof(*sum) / sizeof(uint64_t);

	stats_sum(srv, sum);
	pthread_mutex_lock(&srv->stats_lock);
	for (k = 0; k < n; k++)
		dst[k] -= base[k];
	pthread_mutex_unlock(&srv->stats_lock);
}

void
workers_stats_reset(struct server *srv)
{
	struct wstats now;

	stats_sum(srv, &now);
	pthread_mutex_lock(&srv->stats_lock);
	srv->stats_base = now;
	pthread_mutex_unlock(&srv->stats_lock);
}
