/*
 * conn.c: worker threads and connections.
 *
 * The workers share one epoll set holding every connection and the
 * listening sockets; each takes a few ready connections per wait
 * (EVENTS_PER_WAIT), so that whichever worker is running serves what is
 * ready. With connections tied to one worker, a worker that the kernel
 * keeps off its core for a scheduler tick (4 ms at HZ=250: on a busy
 * machine a woken thread that is not owed CPU time waits for the tick)
 * stalls all of its connections while another worker idles; that made
 * shardcache's p99 at saturation (bench/RESULTS-shardcache.md).
 *
 * Connections are registered EPOLLONESHOT: the worker that takes an event
 * owns the connection until it re-arms it (conn_rearm) or closes it.
 * The timeout and stop scans also take connections, so ownership is the
 * `busy' flag: whoever holds it may touch the connection. A closed
 * connection goes to the grave, freed once every worker has passed the
 * top of its loop since (an event for it may sit in a worker's batch).
 * Sockets are non-blocking; after each batch of input the replies are
 * written at once and EPOLLOUT is used only while output is pending.
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
#include <sched.h>
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
#define TAG_STOP	(UINT64_C(1) << 62)
/*
 * Few, so that ready connections stay in the shared set for another
 * worker rather than in the batch of one that may be kept waiting: at
 * saturation 8 gave a p99 of 1.9 ms, 32 2.7 ms, 256 2.2 ms, memcached
 * 3.5 ms (bench/RESULTS-shardcache.md).
 */
#define EVENTS_PER_WAIT	8
#define ACCEPT_BATCH	16
#define READS_PER_EVENT	16
#define DRAIN_SCAN_NS	(100 * 1000000u)

struct worker {
	pthread_t	 tid;
	unsigned	 id;
	struct server	*srv;
	int		 draining;
	uint64_t	 deadline_ns;
	uint64_t	 next_scan_ns;
	uint64_t	 quiesced;	/* atomic: srv->epoch at its loop top */
	struct wstats	 st;
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

/* ---- ownership: the busy flag, the list, the grave ---- */

static int
conn_trylock(struct conn *c)
{
	return __atomic_exchange_n(&c->busy, 1, __ATOMIC_ACQUIRE) == 0;
}

/* Others hold a connection only for a scan step or a re-arm: brief. */
static void
conn_lock(struct conn *c)
{
	while (!conn_trylock(c))
		(void)sched_yield();
}

static void
conn_unlock(struct conn *c)
{
	__atomic_store_n(&c->busy, 0, __ATOMIC_RELEASE);
}

/* conns_lock held. */
static void
conn_unlink(struct server *srv, struct conn *c)
{
	if (c->lprev != NULL)
		c->lprev->lnext = c->lnext;
	else
		srv->conns = c->lnext;
	if (c->lnext != NULL)
		c->lnext->lprev = c->lprev;
	c->lprev = c->lnext = NULL;
	__atomic_sub_fetch(&srv->nconns, 1, __ATOMIC_RELAXED);
}

/*
 * Frees what no worker can still hold: a connection closed at epoch E
 * left the epoll set before E, and a worker that read an epoch >= E at
 * the top of its loop has finished every batch taken before that.
 */
static void
grave_reap(struct server *srv)
{
	uint64_t min = UINT64_MAX, q;
	struct conn *c, **pp;
	unsigned i;

	for (i = 0; i < srv->nworkers; i++) {
		q = __atomic_load_n(&srv->workers[i].quiesced,
		    __ATOMIC_ACQUIRE);
		if (q < min)
			min = q;
	}
	pthread_mutex_lock(&srv->conns_lock);
	for (pp = &srv->grave; (c = *pp) != NULL;) {
		if (c->retired <= min) {
			*pp = c->lnext;
			free(c);
			__atomic_sub_fetch(&srv->ngrave, 1, __ATOMIC_RELAXED);
		} else
			pp = &c->lnext;
	}
	pthread_mutex_unlock(&srv->conns_lock);
}

/*
 * Takes c (held, conns_lock held) out of the epoll set, the list and the
 * count, for a close or a park; events already taken for it are skipped.
 * Out of the epoll set before any close(): close() alone would leave it
 * there while another process (the supervisor's fd store, holding
 * handed-over connections until READY) still has the same open file.
 */
static void
conn_detach(struct server *srv, struct conn *c)
{
	(void)epoll_ctl(srv->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	conn_unlink(srv, c);
	c->dead = 1;
	__atomic_sub_fetch(&srv->curr_conns, 1, __ATOMIC_RELAXED);
}

/* Closes c (held, conns_lock held) and lets go of it: to the grave. */
static void
conn_close_locked(struct server *srv, struct conn *c)
{
	conn_detach(srv, c);
	close(c->fd);
	conn_release(srv, c);
	c->retired = __atomic_add_fetch(&srv->epoch, 1, __ATOMIC_SEQ_CST);
	c->lnext = srv->grave;
	srv->grave = c;
	__atomic_add_fetch(&srv->ngrave, 1, __ATOMIC_RELAXED);
	conn_unlock(c);
}

static void
conn_close(struct worker *w, struct conn *c)
{
	struct server *srv = w->srv;

	pthread_mutex_lock(&srv->conns_lock);
	conn_close_locked(srv, c);
	pthread_mutex_unlock(&srv->conns_lock);
}

/*
 * A stop reached c's request boundary: close it, or under a supervisor
 * park it (fd open, unread bytes kept) for handoff_send(). c held,
 * conns_lock held; lets go of c.
 */
static void
conn_end_locked(struct server *srv, struct conn *c)
{
	if (!srv->handoff) {
		conn_close_locked(srv, c);
		return;
	}
	conn_detach(srv, c);
	c->w = NULL;
	pthread_mutex_lock(&srv->park_lock);
	c->lnext = srv->parked;
	srv->parked = c;
	pthread_mutex_unlock(&srv->park_lock);
	conn_unlock(c);
}

/*
 * Waits for ev on c again and lets go of it. Re-armed before it is let
 * go: once let go, a scan may close it and its fd number be reused.
 */
static void
conn_rearm(struct worker *w, struct conn *c, int ev)
{
	struct epoll_event e;

	memset(&e, 0, sizeof(e));
	e.events = (uint32_t)ev | EPOLLONESHOT;
	e.data.ptr = c;
	if (epoll_ctl(w->srv->epfd, EPOLL_CTL_MOD, c->fd, &e) < 0) {
		log_warn("epoll_ctl");
		conn_close(w, c);
		return;
	}
	conn_unlock(c);
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
			conn_rearm(w, c, EPOLLIN | EPOLLRDHUP);
			return;
		}
		if (n <= 0 || (c->linger_bytes += (uint64_t)n) > LINGER_BYTES) {
			conn_close(w, c);
			return;
		}
	}
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

static int
stopping(const struct server *srv)
{
	return __atomic_load_n(&srv->stopping, __ATOMIC_RELAXED);
}

/*
 * Processes input, writes output, reads more, until the socket has no more
 * input, the output is at its cap, or the connection ends. c held; lets
 * go of it (re-armed, closed or parked).
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
		if (stopping(w->srv) && conn_idle(c)) {
			pthread_mutex_lock(&w->srv->conns_lock);
			conn_end_locked(w->srv, c);
			pthread_mutex_unlock(&w->srv->conns_lock);
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
	conn_rearm(w, c, ev);
}

/* An event for c: take it, unless it was closed meanwhile, and serve it. */
static void
conn_event(struct worker *w, struct conn *c, uint32_t events)
{
	conn_lock(c);
	if (c->dead) {
		conn_unlock(c);
		return;
	}
	c->w = w;
	if ((events & EPOLLRDHUP) && !(events & EPOLLIN))
		c->closed_read = 1;
	if (events & EPOLLERR) {
		conn_close(w, c);
		return;
	}
	if (c->state == CONN_CLOSING) {
		if (conn_flush(w, c) < 0)
			conn_close(w, c);
		else if (c->wb.off == c->wb.len)
			conn_linger(w, c);
		else
			conn_rearm(w, c, EPOLLOUT);
		return;
	}
	conn_drive(w, c);
}

/*
 * Puts c (its fd open, counted in curr_conns) in the list and the epoll
 * set. Returns 0, or -1 with nothing done. ev: the first events to watch.
 * Held meanwhile, so that no scan ends it half-attached.
 */
static int
conn_attach(struct server *srv, struct conn *c, uint32_t ev)
{
	struct epoll_event e;

	c->busy = 1;
	pthread_mutex_lock(&srv->conns_lock);
	c->lprev = NULL;
	c->lnext = srv->conns;
	if (srv->conns != NULL)
		srv->conns->lprev = c;
	srv->conns = c;
	__atomic_add_fetch(&srv->nconns, 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&srv->conns_lock);
	memset(&e, 0, sizeof(e));
	e.events = ev | EPOLLONESHOT;
	e.data.ptr = c;
	if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, c->fd, &e) < 0) {
		log_warn("epoll_ctl");
		pthread_mutex_lock(&srv->conns_lock);
		conn_unlink(srv, c);
		pthread_mutex_unlock(&srv->conns_lock);
		return -1;
	}
	conn_unlock(c);
	return 0;
}

/* Makes fd (accepted, counted in curr_conns) a connection. */
static void
conn_add(struct worker *w, int fd)
{
	struct server *srv = w->srv;
	struct conn *c;
	int one = 1;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		log_warnx("out of memory accepting a connection");
		close(fd);
		__atomic_sub_fetch(&srv->curr_conns, 1, __ATOMIC_RELAXED);
		return;
	}
	c->fd = fd;
	c->last_active = sc_now();
	if (conn_attach(srv, c, EPOLLIN | EPOLLRDHUP) < 0) {
		close(fd);
		free(c);
		__atomic_sub_fetch(&srv->curr_conns, 1, __ATOMIC_RELAXED);
		return;
	}
	STAT_INC(&w->st, total_conns);
}

static void
conn_accept(struct worker *w, int lfd)
{
	struct server *srv = w->srv;
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
		conn_add(w, fd);
	}
}

/*
 * Once a second, by one worker: idle and blocked-writer timeouts. A
 * connection another worker is serving is not idle; skip it.
 */
static void
conn_timeouts(struct worker *w)
{
	struct server *srv = w->srv;
	struct conn *c, *next;
	int64_t now = sc_now();

	pthread_mutex_lock(&srv->conns_lock);
	for (c = srv->conns; c != NULL; c = next) {
		next = c->lnext;
		if (!conn_trylock(c))
			continue;
		if (c->linger_since != 0) {
			if (now - c->linger_since >= LINGER_S) {
				conn_close_locked(srv, c);
				continue;
			}
		} else if (c->blocked_since != 0 &&
		    now - c->blocked_since >= (int64_t)settings.drop_timeout) {
			STAT_INC(&w->st, conn_dropped);
			conn_close_locked(srv, c);
			continue;
		} else if (settings.idle_timeout > 0 &&
		    now - c->last_active >= (int64_t)settings.idle_timeout &&
		    c->blocked_since == 0) {
			STAT_INC(&w->st, idle_kicks);
			conn_close_locked(srv, c);
			continue;
		}
		conn_unlock(c);
	}
	pthread_mutex_unlock(&srv->conns_lock);
}

/*
 * Stopping: ends every connection at a request boundary that no worker
 * is serving (one being served ends itself when it gets there). Repeated
 * while draining, for one that was re-armed just before the stop.
 */
static void
conn_end_idle(struct server *srv)
{
	struct conn *c, *next;

	pthread_mutex_lock(&srv->conns_lock);
	for (c = srv->conns; c != NULL; c = next) {
		next = c->lnext;
		if (!conn_trylock(c))
			continue;
		if (conn_idle(c))
			conn_end_locked(srv, c);
		else
			conn_unlock(c);
	}
	pthread_mutex_unlock(&srv->conns_lock);
}

static void
worker_begin_drain(struct worker *w)
{
	struct server *srv = w->srv;
	unsigned i, n;
	uint64_t v;

	w->draining = 1;
	w->deadline_ns = sc_now_ns() +
	    (uint64_t)settings.stop_timeout * 1000000000u;
	/*
	 * The first worker to see the stop stops accepting (else the
	 * level-triggered listening sockets would keep waking the draining
	 * workers); the last clears the stop, level-triggered too.
	 */
	n = __atomic_add_fetch(&srv->nstopped, 1, __ATOMIC_ACQ_REL);
	if (n == 1)
		for (i = 0; i < srv->nlfds; i++)
			(void)epoll_ctl(srv->epfd, EPOLL_CTL_DEL, srv->lfds[i],
			    NULL);
	if (n == srv->nworkers)
		(void)read(srv->stopfd, &v, sizeof(v));
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct server *srv = w->srv;
	struct epoll_event ev[EVENTS_PER_WAIT];
	int64_t now, last;
	uint64_t tag, now_ns;
	int n, i;

	for (;;) {
		__atomic_store_n(&w->quiesced,
		    __atomic_load_n(&srv->epoch, __ATOMIC_SEQ_CST),
		    __ATOMIC_RELEASE);
		if (__atomic_load_n(&srv->ngrave, __ATOMIC_RELAXED) != 0)
			grave_reap(srv);
		if (!w->draining && stopping(srv))
			worker_begin_drain(w);
		if (w->draining) {
			/* Scan first: it may end the last connections. */
			now_ns = sc_now_ns();
			if (now_ns >= w->next_scan_ns) {
				w->next_scan_ns = now_ns + DRAIN_SCAN_NS;
				conn_end_idle(srv);
			}
			if (__atomic_load_n(&srv->nconns, __ATOMIC_RELAXED) ==
			    0 || now_ns >= w->deadline_ns)
				break;
		}
		now = sc_now();
		last = __atomic_load_n(&srv->tick, __ATOMIC_RELAXED);
		if (now != last && __atomic_compare_exchange_n(&srv->tick,
		    &last, now, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
			conn_timeouts(w);
		n = epoll_wait(srv->epfd, ev, EVENTS_PER_WAIT,
		    w->draining ? 100 : 1000);
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
			} else if (tag & TAG_STOP) {
				if (!w->draining)
					worker_begin_drain(w);
				else
					(void)sched_yield();
			} else
				conn_event(w, ev[i].data.ptr, ev[i].events);
		}
	}
	return NULL;
}

int
workers_start(struct server *srv)
{
	struct epoll_event e;
	struct conn *c;
	unsigned i;
	int rc;

	srv->workers = aligned_alloc(64, sizeof(struct worker) *
	    settings.threads);
	if (srv->workers == NULL)
		return -ENOMEM;
	memset(srv->workers, 0, sizeof(struct worker) * settings.threads);
	pthread_mutex_init(&srv->conns_lock, NULL);
	if ((srv->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
	    (srv->stopfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
		return -errno;
	memset(&e, 0, sizeof(e));
	e.events = EPOLLIN;
	e.data.u64 = TAG_STOP;
	if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, srv->stopfd, &e) < 0)
		return -errno;
	for (i = 0; i < srv->nlfds; i++) {
		e.events = EPOLLIN;
		e.data.u64 = TAG_LISTEN | (uint64_t)srv->lfds[i];
		if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, srv->lfds[i], &e) < 0)
			return -errno;
	}
	for (i = 0; i < settings.threads; i++) {
		srv->workers[i].id = i;
		srv->workers[i].srv = srv;
	}
	/* Set before any worker runs: `stats' reads it from workers. */
	srv->nworkers = settings.threads;
	/*
	 * Connections handed over by our predecessor. EPOLLOUT fires at
	 * once: the first event processes what they brought along (unsent
	 * output, the start of a request). TCP_NODELAY is the socket's, set
	 * when our predecessor accepted it.
	 */
	while ((c = srv->handed) != NULL) {
		srv->handed = c->lnext;
		__atomic_add_fetch(&srv->curr_conns, 1, __ATOMIC_RELAXED);
		if (conn_attach(srv, c, EPOLLIN | EPOLLRDHUP | EPOLLOUT) < 0) {
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
	struct conn *c;
	unsigned i;

	__atomic_store_n(&srv->stopping, 1, __ATOMIC_RELAXED);
	(void)write(srv->stopfd, &one, sizeof(one));
	for (i = 0; i < srv->nworkers; i++)
		pthread_join(srv->workers[i].tid, NULL);
	/* Alone now: close what the deadline left, then empty the grave. */
	while ((c = srv->conns) != NULL) {
		c->busy = 1;
		conn_close_locked(srv, c);
	}
	while ((c = srv->grave) != NULL) {
		srv->grave = c->lnext;
		free(c);
	}
	srv->ngrave = 0;
	close(srv->epfd);
	close(srv->stopfd);
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
