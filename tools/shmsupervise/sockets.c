/*
 * sockets.c: the listening sockets the supervisor holds for its whole
 * life, and the notify socket its child reports on.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bsd/stdlib.h>
#include <bsd/string.h>

#include "log.h"
#include "shmsupervise.h"

/* Splits tcp:HOST:PORT or tcp:[V6]:PORT. Returns -1 on bad syntax. */
static int
tcp_split(const char *spec, char *host, size_t hostlen, long long *port)
{
	const char *p = spec + 4, *pc, *errstr;

	if (*p == '[') {
		const char *rb = strchr(p, ']');

		if (rb == NULL || rb[1] != ':' || (size_t)(rb - p - 1) >=
		    hostlen)
			return -1;
		memcpy(host, p + 1, (size_t)(rb - p - 1));
		host[rb - p - 1] = '\0';
		pc = rb + 1;
	} else {
		pc = strrchr(p, ':');
		if (pc == NULL || (size_t)(pc - p) >= hostlen)
			return -1;
		memcpy(host, p, (size_t)(pc - p));
		host[pc - p] = '\0';
	}
	*port = strtonum(pc + 1, 0, 65535, &errstr);
	if (errstr != NULL || host[0] == '\0')
		return -1;
	return 0;
}

/*
 * [NAME=]tcp:HOST:PORT, [NAME=]tcp:[V6ADDR]:PORT, [NAME=]unix:PATH[:MODE].
 * NAME (the fd's LISTEN_FDNAMES entry) defaults to defname.
 */
int
listen_parse(const char *arg, struct listener *l, const char *defname,
    char *err, size_t errlen)
{
	const char *eq = strchr(arg, '='), *colon = strchr(arg, ':');
	size_t i;

	memset(l, 0, sizeof(*l));
	l->fd = -1;
	if (eq != NULL && (colon == NULL || eq < colon)) {
		size_t n = (size_t)(eq - arg);

		if (n == 0 || n > SHMS_FDNAME_MAX) {
			snprintf(err, errlen, "%s: bad fd name", arg);
			return -1;
		}
		memcpy(l->name, arg, n);
		l->name[n] = '\0';
		for (i = 0; i < n; i++)
			if (l->name[i] < 0x21 || l->name[i] > 0x7e ||
			    l->name[i] == ':') {
				snprintf(err, errlen, "%s: fd name must be "
				    "printable, without ':'", arg);
				return -1;
			}
		arg = eq + 1;
	} else
		strlcpy(l->name, defname, sizeof(l->name));
	if (strncmp(arg, "tcp:", 4) != 0 && strncmp(arg, "unix:", 5) != 0) {
		snprintf(err, errlen, "%s: expected tcp:HOST:PORT or "
		    "unix:PATH[:MODE]", arg);
		return -1;
	}
	if (strlcpy(l->spec, arg, sizeof(l->spec)) >= sizeof(l->spec)) {
		snprintf(err, errlen, "%s: too long", arg);
		return -1;
	}
	if (strncmp(arg, "tcp:", 4) == 0) {
		char host[256];
		long long port;

		if (tcp_split(arg, host, sizeof(host), &port) == -1) {
			snprintf(err, errlen, "%s: expected tcp:HOST:PORT or "
			    "tcp:[V6]:PORT (PORT 0..65535, HOST '*' for any)",
			    arg);
			return -1;
		}
	} else if (arg[5] == '\0') {
		snprintf(err, errlen, "%s: empty path", arg);
		return -1;
	}
	return 0;
}

static int
tcp_open(struct listener *l, char *err, size_t errlen)
{
	char host[256], portstr[16], addr[INET6_ADDRSTRLEN];
	struct addrinfo hints, *res = NULL;
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	int s = -1, one = 1, rc;
	long long port;

	if (tcp_split(l->spec, host, sizeof(host), &port) == -1)
		goto bad;
	snprintf(portstr, sizeof(portstr), "%lld", port);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((rc = getaddrinfo(strcmp(host, "*") == 0 ? NULL : host, portstr,
	    &hints, &res)) != 0) {
		snprintf(err, errlen, "%s: %s", l->spec, gai_strerror(rc));
		return -1;
	}
	s = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s == -1)
		goto syserr;
	if (setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1)
		goto syserr;
	/* An explicit v6 address is v6 only, so v4 can be listed apart. */
	if (res->ai_family == AF_INET6 && setsockopt(s, IPPROTO_IPV6,
	    IPV6_V6ONLY, &one, sizeof(one)) == -1)
		goto syserr;
	if (bind(s, res->ai_addr, res->ai_addrlen) == -1) {
		snprintf(err, errlen, "%s: bind: %s", l->spec, strerror(errno));
		goto fail;
	}
	if (listen(s, SOMAXCONN) == -1)
		goto syserr;
	if (getsockname(s, (struct sockaddr *)&ss, &sslen) == -1)
		goto syserr;
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, addr, sizeof(addr));
		snprintf(l->desc, sizeof(l->desc), "tcp:[%s]:%u", addr,
		    ntohs(s6->sin6_port));
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &s4->sin_addr, addr, sizeof(addr));
		snprintf(l->desc, sizeof(l->desc), "tcp:%s:%u", addr,
		    ntohs(s4->sin_port));
	}
	freeaddrinfo(res);
	l->fd = s;
	return 0;
bad:
	snprintf(err, errlen, "%s: expected tcp:HOST:PORT or tcp:[V6]:PORT "
	    "(PORT 0..65535, HOST '*' for any)", l->spec);
	return -1;
syserr:
	snprintf(err, errlen, "%s: %s", l->spec, strerror(errno));
fail:
	if (res != NULL)
		freeaddrinfo(res);
	if (s != -1)
		close(s);
	return -1;
}

/*
 * Binds a unix socket at path. An existing socket file is probed: if a
 * live process accepts on it, -1 with EADDRINUSE; if nobody does
 * (ECONNREFUSED: left by a dead process), it is replaced. Anything that
 * is not a socket is left alone and refused.
 */
int
unix_bind(const char *path, int type, mode_t mode, int *fdp, char *err,
    size_t errlen)
{
	struct sockaddr_un sa;
	struct stat st;
	mode_t omask;
	int s, rc;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlcpy(sa.sun_path, path, sizeof(sa.sun_path)) >=
	    sizeof(sa.sun_path)) {
		snprintf(err, errlen, "%s: path too long for a unix socket",
		    path);
		errno = ENAMETOOLONG;
		return -1;
	}
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "%s: exists and is not a socket",
			    path);
			errno = EEXIST;
			return -1;
		}
		s = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
		if (s == -1)
			goto syserr;
		rc = connect(s, (struct sockaddr *)&sa, sizeof(sa));
		if (rc == 0 || errno != ECONNREFUSED) {
			int e = rc == 0 ? EADDRINUSE : errno;

			close(s);
			snprintf(err, errlen, "%s: in use by a live process%s%s",
			    path, rc == 0 ? "" : ": ", rc == 0 ? "" :
			    strerror(e));
			errno = EADDRINUSE;
			return -1;
		}
		close(s);
		log_info("%s: replacing stale socket", path);
		if (unlink(path) == -1 && errno != ENOENT)
			goto syserr;
	}
	s = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
	if (s == -1)
		goto syserr;
	/* Never world-accessible, not even between bind and chmod. */
	omask = umask(0177);
	rc = bind(s, (struct sockaddr *)&sa, sizeof(sa));
	umask(omask);
	if (rc == -1 || chmod(path, mode) == -1) {
		int e = errno;

		snprintf(err, errlen, "%s: bind: %s", path, strerror(e));
		if (rc == 0)
			unlink(path);
		close(s);
		errno = e;
		return -1;
	}
	*fdp = s;
	return 0;
syserr:
	snprintf(err, errlen, "%s: %s", path, strerror(errno));
	return -1;
}

int
listen_open(struct listener *l, char *err, size_t errlen)
{
	char path[PATH_MAX], *c;
	mode_t mode = 0666;
	size_t n;

	if (strncmp(l->spec, "tcp:", 4) == 0)
		return tcp_open(l, err, errlen);
	strlcpy(path, l->spec + 5, sizeof(path));
	/* A trailing ":MODE" of 3-4 octal digits. */
	if ((c = strrchr(path, ':')) != NULL && (n = strlen(c + 1)) >= 3 &&
	    n <= 4 && strspn(c + 1, "01234567") == n) {
		mode = (mode_t)strtol(c + 1, NULL, 8);
		*c = '\0';
	}
	if (path[0] == '\0') {
		snprintf(err, errlen, "%s: empty path", l->spec);
		return -1;
	}
	if (unix_bind(path, SOCK_STREAM, mode, &l->fd, err, errlen) == -1)
		return -1;
	if (listen(l->fd, SOMAXCONN) == -1) {
		snprintf(err, errlen, "%s: listen: %s", path, strerror(errno));
		close(l->fd);
		unlink(path);
		l->fd = -1;
		return -1;
	}
	strlcpy(l->unlink_path, path, sizeof(l->unlink_path));
	snprintf(l->desc, sizeof(l->desc), "unix:%s:%04o", path,
	    (unsigned)mode);
	return 0;
}

void
listen_cleanup(struct listener *l)
{
	if (l->unlink_path[0] != '\0')
		unlink(l->unlink_path);
	if (l->fd != -1)
		close(l->fd);
	l->fd = -1;
}

/*
 * Opens the notify socket: dir/notify.sock, or an abstract name when the
 * path is too long for sun_path. addr receives the $NOTIFY_SOCKET value.
 * Returns the fd, or -1 (errno set).
 */
int
notify_open(const char *dir, char *addr, size_t addrlen)
{
	char path[PATH_MAX], err[256];
	struct sockaddr_un sa;
	int s = -1, one = 1;

	snprintf(path, sizeof(path), "%s/%s", dir, SUP_NOTIFY_SOCK);
	/* We hold the supervisor lock: any notify.sock left is stale. */
	(void)unlink(path);
	if (strlen(path) < sizeof(sa.sun_path)) {
		/* Writable by the owner only: the child runs as our uid. */
		if (unix_bind(path, SOCK_DGRAM, 0600, &s, err,
		    sizeof(err)) == -1) {
			log_warnx("%s", err);
			return -1;
		}
		strlcpy(addr, path, addrlen);
	} else {
		memset(&sa, 0, sizeof(sa));
		sa.sun_family = AF_UNIX;
		snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1,
		    "shmsupervise/%ld/%s", (long)getpid(), conf.name);
		s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (s == -1 || bind(s, (struct sockaddr *)&sa,
		    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
		    strlen(sa.sun_path + 1))) == -1) {
			if (s != -1)
				close(s);
			return -1;
		}
		snprintf(addr, addrlen, "@%s", sa.sun_path + 1);
	}
	if (setsockopt(s, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) == -1 ||
	    setsockopt(s, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one)) == -1 ||
	    fcntl(s, F_SETFL, O_NONBLOCK) == -1) {
		close(s);
		return -1;
	}
	return s;
}

/* A CLOCK_REALTIME stamp of the past as CLOCK_MONOTONIC ns (now if none). */
static uint64_t
mono_from_real(const struct timespec *ts)
{
	struct timespec rn;
	uint64_t now = now_ns(), real, then;

	if (ts == NULL || clock_gettime(CLOCK_REALTIME, &rn) == -1)
		return now;
	real = (uint64_t)rn.tv_sec * 1000000000ULL + (uint64_t)rn.tv_nsec;
	then = (uint64_t)ts->tv_sec * 1000000000ULL + (uint64_t)ts->tv_nsec;
	/* Clock steps: never in the future, never more than 1 s back. */
	if (then > real || real - then > 1000000000ULL)
		return now;
	return now - (real - then);
}

/* fds of the message notify_recv() returned last; the caller owns them. */
static int	rfds[SHMS_NOTIFY_FDS_MAX];
static int	nrfds;

int
notify_fds(int **fds)
{
	int n = nrfds;

	*fds = rfds;
	nrfds = 0;
	return n;
}

int
notify_recv(int s, const struct child *c, struct shms_notify_msg *msg,
    pid_t *pidp, uint64_t *when)
{
	char buf[SHMS_NOTIFY_MAX + 1];
	union {
		struct cmsghdr	align;
		char		b[CMSG_SPACE(sizeof(struct ucred)) +
				    CMSG_SPACE(sizeof(struct timespec)) +
				    CMSG_SPACE(sizeof(int) *
				    SHMS_NOTIFY_FDS_MAX)];
	} cm;
	struct ucred *cred = NULL;
	struct timespec *ts = NULL;
	struct cmsghdr *h;
	struct msghdr mh;
	struct iovec iov;
	ssize_t n;
	int nfds = 0, rc;

	memset(&mh, 0, sizeof(mh));
	iov.iov_base = buf;
	iov.iov_len = sizeof(buf);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cm.b;
	mh.msg_controllen = sizeof(cm.b);
	n = recvmsg(s, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC | MSG_TRUNC);
	if (n == -1)
		return -1;
	for (h = CMSG_FIRSTHDR(&mh); h != NULL; h = CMSG_NXTHDR(&mh, h)) {
		if (h->cmsg_level != SOL_SOCKET)
			continue;
		if (h->cmsg_type == SCM_CREDENTIALS &&
		    h->cmsg_len == CMSG_LEN(sizeof(struct ucred)))
			cred = (struct ucred *)CMSG_DATA(h);
		else if (h->cmsg_type == SCM_TIMESTAMPNS &&
		    h->cmsg_len == CMSG_LEN(sizeof(struct timespec)))
			ts = (struct timespec *)CMSG_DATA(h);
		else if (h->cmsg_type == SCM_RIGHTS) {
			int *fds = (int *)CMSG_DATA(h), i, k;

			k = (int)((h->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			for (i = 0; i < k && nfds < SHMS_NOTIFY_FDS_MAX; i++)
				rfds[nfds++] = fds[i];
			for (; i < k; i++)
				close(fds[i]);
		}
	}
	nrfds = 0;
	if (mh.msg_flags & MSG_CTRUNC)
		log_warnx("notify: control data truncated");
	if (cred == NULL) {
		log_warnx("notify: message without credentials dropped");
		goto drop;
	}
	/*
	 * Only our child (or the main pid it declared) may speak; it cannot
	 * be a recycled pid, since we have not reaped it. A root supervisor
	 * accepts a child that dropped privileges.
	 */
	if (c->pid == 0 || (cred->pid != c->pid &&
	    (c->mainpid == 0 || cred->pid != c->mainpid)) ||
	    (cred->uid != geteuid() && geteuid() != 0)) {
		log_warnx("notify: message from pid %ld uid %ld dropped "
		    "(not the child)", (long)cred->pid, (long)cred->uid);
		goto drop;
	}
	/* The buffer holds SHMS_NOTIFY_MAX + 1: one byte over is no TRUNC. */
	if (n > SHMS_NOTIFY_MAX || (mh.msg_flags & MSG_TRUNC)) {
		log_warnx("notify: oversized message from pid %ld dropped",
		    (long)cred->pid);
		goto drop;
	}
	if ((rc = shms_notify_parse(buf, (size_t)n, msg)) != 0) {
		log_warnx("notify: malformed message from pid %ld dropped: %s",
		    (long)cred->pid, shms_strerror(rc));
		goto drop;
	}
	nrfds = nfds;
	*pidp = cred->pid;
	*when = mono_from_real(ts);
	return 1;
drop:
	/* fds are kept only with a well-formed message from the child. */
	for (rc = 0; rc < nfds; rc++)
		close(rfds[rc]);
	if (nfds > 0)
		log_warnx("notify: %d passed fd(s) closed with it", nfds);
	return 0;
}
