/*
 * control.c: the control socket, $SHMSTATE_DIR/<name>/control.sock (0600).
 * One request per connection; peers must be our uid or root (SO_PEERCRED),
 * requests are bounded and time out.
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "shmsupervise.h"

#define CTL_TIMEOUT_NS	(5ULL * 1000000000ULL)	/* to send the request */

struct conn {
	int		fd;		/* -1: free slot */
	int		busy;		/* request dispatched, reply pending */
	uint64_t	deadline;
	size_t		len;
	char		buf[CTL_REQ_MAX];
};

static int		ctl_fd = -1;
static struct conn	conns[SUP_CTL_CONNS];

int
control_open(const char *dir, char *err, size_t errlen)
{
	char path[PATH_MAX];
	int i;

	for (i = 0; i < SUP_CTL_CONNS; i++)
		conns[i].fd = -1;
	snprintf(path, sizeof(path), "%s/%s", dir, SUP_CONTROL_SOCK);
	if (unix_bind(path, SOCK_STREAM, 0600, &ctl_fd, err, errlen) == -1)
		return -1;
	if (listen(ctl_fd, 16) == -1 ||
	    fcntl(ctl_fd, F_SETFL, O_NONBLOCK) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		close(ctl_fd);
		unlink(path);
		ctl_fd = -1;
		return -1;
	}
	return 0;
}

void
control_close(const char *dir)
{
	char path[PATH_MAX];
	int i;

	for (i = 0; i < SUP_CTL_CONNS; i++)
		if (conns[i].fd != -1) {
			close(conns[i].fd);
			conns[i].fd = -1;
		}
	if (ctl_fd != -1) {
		snprintf(path, sizeof(path), "%s/%s", dir, SUP_CONTROL_SOCK);
		unlink(path);
		close(ctl_fd);
		ctl_fd = -1;
	}
}

int
control_listen_fd(void)
{
	return ctl_fd;
}

static void
conn_close(int id)
{
	if (conns[id].fd != -1)
		close(conns[id].fd);
	conns[id].fd = -1;
	conns[id].busy = 0;
	conns[id].len = 0;
}

/* Best effort: replies are small and the socket buffer is empty. */
static void
send_all(int fd, const char *text, size_t len)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	ssize_t n;
	int tries = 0;

	while (len > 0 && tries < 50) {
		n = send(fd, text, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			text += n;
			len -= (size_t)n;
		} else if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
			(void)poll(&p, 1, 10);
			tries++;
		} else
			return;
	}
}

/*
 * Closing with unread input makes the kernel reset the connection, and
 * the client could lose the reply: read what is pending first (bounded).
 */
static void
discard_input(int fd)
{
	char buf[4096];
	int i;

	(void)shutdown(fd, SHUT_WR);
	for (i = 0; i < 16; i++)
		if (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) <= 0)
			break;
}

void
control_reply(int id, const char *text)
{
	if (id < 0 || id >= SUP_CTL_CONNS || conns[id].fd == -1)
		return;
	send_all(conns[id].fd, text, strlen(text));
	discard_input(conns[id].fd);
	conn_close(id);
}

void
control_accept(void)
{
	static const char denied[] = "error permission denied\n",
	    busy[] = "error busy: too many control connections\n";
	struct ucred cr;
	socklen_t crlen = sizeof(cr);
	int fd, id;

	fd = accept4(ctl_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd == -1) {
		if (errno != EAGAIN && errno != EINTR)
			log_warn("control: accept");
		return;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &crlen) == -1 ||
	    crlen != sizeof(cr)) {
		log_warn("control: SO_PEERCRED");
		close(fd);
		return;
	}
	if (cr.uid != geteuid() && cr.uid != 0) {
		log_warnx("control: refused pid %ld uid %ld (not uid %ld or "
		    "root)", (long)cr.pid, (long)cr.uid, (long)geteuid());
		send_all(fd, denied, sizeof(denied) - 1);
		discard_input(fd);
		close(fd);
		return;
	}
	for (id = 0; id < SUP_CTL_CONNS; id++)
		if (conns[id].fd == -1)
			break;
	if (id == SUP_CTL_CONNS) {
		send_all(fd, busy, sizeof(busy) - 1);
		close(fd);
		return;
	}
	conns[id].fd = fd;
	conns[id].busy = 0;
	conns[id].len = 0;
	conns[id].deadline = now_ns() + CTL_TIMEOUT_NS;
}

/* Fills pfd with the connections waiting for a request; returns count. */
int
control_pollfds(struct pollfd *pfd, int max)
{
	int id, n = 0;

	for (id = 0; id < SUP_CTL_CONNS && n < max; id++) {
		if (conns[id].fd == -1)
			continue;
		pfd[n].fd = conns[id].fd;
		/* A busy one is watched for hangup only. */
		pfd[n].events = conns[id].busy ? 0 : POLLIN;
		pfd[n].revents = 0;
		n++;
	}
	return n;
}

static int
conn_by_fd(int fd)
{
	int id;

	for (id = 0; id < SUP_CTL_CONNS; id++)
		if (conns[id].fd == fd)
			return id;
	return -1;
}

static void
conn_error(int id, const char *why)
{
	char msg[256];

	snprintf(msg, sizeof(msg), "error %s\n", why);
	log_debug("control: %s", why);
	control_reply(id, msg);
}

static void
conn_read(int id)
{
	struct conn *c = &conns[id];
	struct ctl_req req;
	const char *why;
	char *nl;
	ssize_t n;

	n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(id);
		return;
	}
	c->len += (size_t)n;
	nl = memchr(c->buf, '\n', c->len);
	if (nl == NULL) {
		if (c->len == sizeof(c->buf))
			conn_error(id, "request too long");
		return;
	}
	if ((size_t)(nl - c->buf) + 1 != c->len) {
		conn_error(id, "one request per connection");
		return;
	}
	if (ctl_parse(c->buf, (size_t)(nl - c->buf), &req, &why) == -1) {
		conn_error(id, why);
		return;
	}
	c->busy = 1;
	sup_request(id, &req);
}

void
control_handle(struct pollfd *pfd, int n)
{
	int i, id;

	for (i = 0; i < n; i++) {
		if (pfd[i].revents == 0 || (id = conn_by_fd(pfd[i].fd)) < 0)
			continue;
		if (conns[id].busy) {
			/* The client went away before its reply. */
			if (pfd[i].revents & (POLLHUP | POLLERR)) {
				sup_conn_gone(id);
				conn_close(id);
			}
			continue;
		}
		conn_read(id);
	}
}

void
control_expire(uint64_t now)
{
	int id;

	for (id = 0; id < SUP_CTL_CONNS; id++)
		if (conns[id].fd != -1 && !conns[id].busy &&
		    now >= conns[id].deadline)
			conn_error(id, "timeout waiting for the request");
}

uint64_t
control_next_deadline(void)
{
	uint64_t d = UINT64_MAX;
	int id;

	for (id = 0; id < SUP_CTL_CONNS; id++)
		if (conns[id].fd != -1 && !conns[id].busy &&
		    conns[id].deadline < d)
			d = conns[id].deadline;
	return d;
}
