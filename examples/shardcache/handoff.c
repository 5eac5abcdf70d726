/*
 * handoff.c: client connections survive an upgrade (shms_handoff(3)).
 *
 * Stop: the workers park each connection at its request boundary (no
 * request executing, every reply sent, a value being received finished
 * first); what is left in its read buffer is at most a partial command
 * line, and that is handed over with the socket. Start: the connections
 * come back through LISTEN_FDS, each with its unread bytes, are taken
 * before READY=1 and join the workers right after it (main.c); the rest
 * of a split request is still in the socket and completes it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "shmstate.h"
#include "sc.h"

/* Our protocol state: only its version so far (always CONN_CMD). */
static const char app_state[4] = { 'S', 'C', '0', '1' };

static void
conn_free(struct server *srv, struct conn *c)
{
	conn_release(srv, c);
	free(c);
}

void
handoff_take(struct server *srv, struct shms_listen_fd *fds, int n)
{
	struct shms_handoff_stats st;
	struct shms_handoff_rec rec;
	struct shms_handoff_in *h;
	struct conn *c;
	size_t i, cnt;
	int fd, rc, fl;

	rc = shms_handoff_take(&h, fds, (size_t)n);
	if (rc < 0) {
		log_warnx("connection handoff: %s", shms_strerror(rc));
		return;
	}
	shms_handoff_stats(h, &st);
	srv->ho_handed = st.handed;
	srv->ho_closed = st.closed;
	if (st.bad_blobs > 0)
		log_warnx("connection handoff: %s", shms_handoff_detail(h));
	cnt = shms_handoff_count(h);
	for (i = 0; i < cnt; i++) {
		fd = shms_handoff_conn(h, i, &rec);
		c = calloc(1, sizeof(*c));
		/*
		 * O_NONBLOCK belongs to the open file, which our predecessor
		 * accepted non-blocking: set it only if it is not.
		 */
		if (c == NULL || rec.applen != sizeof(app_state) ||
		    memcmp(rec.app, app_state, sizeof(app_state)) != 0 ||
		    rec.inlen > SC_RBUF_MAX ||
		    (fl = fcntl(fd, F_GETFL)) < 0 || (!(fl & O_NONBLOCK) &&
		    fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0))
			goto drop;
		c->fd = fd;
		c->last_active = sc_now();
		if (rec.inlen > 0) {
			c->rsize = rec.inlen > SC_RBUF_INIT ? SC_RBUF_MAX :
			    SC_RBUF_INIT;
			if ((c->rbuf = malloc(c->rsize)) == NULL)
				goto drop;
			memcpy(c->rbuf, rec.in, rec.inlen);
			c->rlen = rec.inlen;
		}
		if (rec.outlen > 0 && sbuf_add(&c->wb, rec.out,
		    rec.outlen) < 0)
			goto drop;
		c->lnext = srv->handed;
		srv->handed = c;
		srv->ho_taken++;
		continue;
drop:
		/* Not ours to guess about: the client sees the end. */
		(void)shutdown(fd, SHUT_RDWR);
		close(fd);
		if (c != NULL)
			conn_free(srv, c);
		srv->ho_closed++;
	}
	if (srv->ho_handed > 0 || srv->ho_closed > 0)
		log_info("took %u of %u connection(s) handed over (%u closed)",
		    srv->ho_taken, srv->ho_handed, srv->ho_closed);
	(void)shms_handoff_release(h, srv->ho_taken);
}

void
handoff_send(struct server *srv)
{
	struct shms_handoff *h = NULL;
	struct conn *c;
	int rc;
	uint32_t n = 0, bad = 0;

	if (srv->parked == NULL)
		return;
	if ((rc = shms_handoff_new(&h)) < 0)
		log_warnx("connection handoff: %s", shms_strerror(rc));
	for (c = srv->parked; h != NULL && c != NULL; c = c->lnext) {
		size_t in = c->rlen - c->rpos, out = c->wb.len - c->wb.off;

		rc = shms_handoff_add(h, c->fd, in ? c->rbuf + c->rpos : NULL,
		    in, out ? c->wb.p + c->wb.off : NULL, out, app_state,
		    sizeof(app_state));
		if (rc < 0) {
			/* Left out: closed below like the rest, not handed. */
			(void)shutdown(c->fd, SHUT_RDWR);
			bad++;
		} else
			n++;
	}
	rc = h != NULL && n > 0 ? shms_handoff_send(h) : 0;
	if (rc < 0)
		log_warnx("handing over %u connection(s) failed: %s; they are "
		    "closed", n, shms_strerror(rc));
	else if (n > 0)
		log_info("handed over %d connection(s)%s", rc, bad ? " (some "
		    "could not be, closed)" : "");
	shms_handoff_free(h);
}

void
handoff_close(struct server *srv)
{
	struct conn *c, *next;

	/* The supervisor holds them now (or nobody does): our copies go. */
	for (c = srv->parked; c != NULL; c = next) {
		next = c->lnext;
		close(c->fd);
		conn_free(srv, c);
	}
	srv->parked = NULL;
}
