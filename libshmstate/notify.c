/*
 * notify.c: the sd_notify datagram protocol without libsystemd: send
 * (shms_notify*) and parse (shms_notify_parse) one datagram.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "internal.h"

/*
 * Fills *sa from $NOTIFY_SOCKET. Returns the address length, 0 when the
 * variable is unset or empty, -EINVAL when it is not a usable address.
 */
static int
notify_addr(struct sockaddr_un *sa)
{
	const char *e = getenv("NOTIFY_SOCKET");
	size_t n;

	if (e == NULL || *e == '\0')
		return 0;
	n = strlen(e);
	if ((e[0] != '/' && e[0] != '@') || n < 2 || n >= sizeof(sa->sun_path))
		return -EINVAL;
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, e, n);
	/* '@' names an abstract socket: a leading NUL, not NUL-terminated. */
	if (e[0] == '@') {
		sa->sun_path[0] = '\0';
		return (int)(offsetof(struct sockaddr_un, sun_path) + n);
	}
	return (int)(offsetof(struct sockaddr_un, sun_path) + n + 1);
}

int
shms_notify_with_fds(const char *state, const int *fds, size_t nfds)
{
	struct sockaddr_un sa;
	struct iovec iov;
	struct msghdr mh;
	union {
		struct cmsghdr	align;
		char		buf[CMSG_SPACE(sizeof(int) * SHMS_NOTIFY_FDS_MAX)];
	} cm;
	size_t len, i;
	int salen, s, rc = 1;

	if (state == NULL || (len = strlen(state)) == 0)
		return -EINVAL;
	if (len > SHMS_NOTIFY_MAX)
		return -EMSGSIZE;
	if (nfds > SHMS_NOTIFY_FDS_MAX || (nfds > 0 && fds == NULL))
		return -EINVAL;
	for (i = 0; i < nfds; i++)
		if (fds[i] < 0)
			return -EINVAL;
	if ((salen = notify_addr(&sa)) <= 0)
		return salen;

	s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s == -1)
		return -errno;
	memset(&mh, 0, sizeof(mh));
	iov.iov_base = (void *)(uintptr_t)state;
	iov.iov_len = len;
	mh.msg_name = &sa;
	mh.msg_namelen = (socklen_t)salen;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (nfds > 0) {
		struct cmsghdr *c;

		memset(&cm, 0, sizeof(cm));
		mh.msg_control = cm.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	/* The receiver's SO_PASSCRED makes the kernel attach our pid/uid. */
	if (sendmsg(s, &mh, MSG_NOSIGNAL) == -1)
		rc = -errno;
	close(s);
	return rc;
}

int
shms_notify(const char *state)
{
	return shms_notify_with_fds(state, NULL, 0);
}

int
shms_notifyf(const char *fmt, ...)
{
	char buf[SHMS_NOTIFY_MAX + 1];
	va_list ap;
	int n;

	if (fmt == NULL)
		return -EINVAL;
	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n > SHMS_NOTIFY_MAX)
		return -EMSGSIZE;
	return shms_notify(buf);
}

/* Decimal in [lo, hi] spanning exactly [s, s+n). */
static int
value_dec(const char *s, size_t n, uint64_t lo, uint64_t hi, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (n == 0 || n > 20)
		return SHMS_EPROTO;
	for (i = 0; i < n; i++) {
		unsigned d = (unsigned char)s[i] - '0';

		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return SHMS_EPROTO;
		v = v * 10 + d;
	}
	if (v < lo || v > hi)
		return SHMS_EPROTO;
	*out = v;
	return 0;
}

static int
value_one(const char *s, size_t n)
{
	return (n == 1 && s[0] == '1') ? 0 : SHMS_EPROTO;
}

static const struct {
	const char	*var;
	unsigned	 bit;
} notify_bools[] = {
	{ "READY",		SHMS_NOTIFY_READY },
	{ "STOPPING",		SHMS_NOTIFY_STOPPING },
	{ "RELOADING",		SHMS_NOTIFY_RELOADING },
	{ "FDSTORE",		SHMS_NOTIFY_FDSTORE },
	{ "FDSTOREREMOVE",	SHMS_NOTIFY_FDSTOREREMOVE },
	{ "WATCHDOG",		SHMS_NOTIFY_WATCHDOG },
};

static int
var_is(const char *var, size_t vlen, const char *name)
{
	return strlen(name) == vlen && memcmp(var, name, vlen) == 0;
}

/* One VAR=VALUE line (no '\n') into m. */
static int
parse_line(const char *l, size_t n, struct shms_notify_msg *m)
{
	const char *eq = memchr(l, '=', n), *val;
	size_t vlen, i;
	uint64_t v;

	if (eq == NULL || eq == l)
		return SHMS_EPROTO;
	vlen = (size_t)(eq - l);
	for (i = 0; i < vlen; i++)
		if (!((l[i] >= 'A' && l[i] <= 'Z') ||
		    (l[i] >= '0' && l[i] <= '9') || l[i] == '_'))
			return SHMS_EPROTO;
	val = eq + 1;
	n -= vlen + 1;

	for (i = 0; i < SHMS__ARRAY_SIZE(notify_bools); i++)
		if (var_is(l, vlen, notify_bools[i].var)) {
			if (value_one(val, n) != 0)
				return SHMS_EPROTO;
			m->seen |= notify_bools[i].bit;
			return 0;
		}
	if (var_is(l, vlen, "STATUS")) {
		/* Free text; kept truncated, but must be printable UTF-8-ish. */
		size_t k = n < SHMS_STATUS_MAX ? n : SHMS_STATUS_MAX;

		for (i = 0; i < n; i++)
			if ((unsigned char)val[i] < 0x20 && val[i] != '\t')
				return SHMS_EPROTO;
		memcpy(m->status, val, k);
		m->status[k] = '\0';
		m->seen |= SHMS_NOTIFY_STATUS;
	} else if (var_is(l, vlen, "ERRNO")) {
		if (value_dec(val, n, 0, 4095, &v) != 0)
			return SHMS_EPROTO;
		m->errnum = (int)v;
		m->seen |= SHMS_NOTIFY_ERRNO;
	} else if (var_is(l, vlen, "MAINPID")) {
		if (value_dec(val, n, 1, INT_MAX, &v) != 0)
			return SHMS_EPROTO;
		m->mainpid = (pid_t)v;
		m->seen |= SHMS_NOTIFY_MAINPID;
	} else if (var_is(l, vlen, "FDNAME")) {
		if (n == 0 || n > SHMS_FDNAME_MAX)
			return SHMS_EPROTO;
		for (i = 0; i < n; i++)
			if (val[i] < 0x21 || val[i] > 0x7e || val[i] == ':')
				return SHMS_EPROTO;
		memcpy(m->fdname, val, n);
		m->fdname[n] = '\0';
		m->seen |= SHMS_NOTIFY_FDNAME;
	} else if (var_is(l, vlen, "X_SHMS_CHECKPOINT_US")) {
		if (value_dec(val, n, 0, UINT64_C(1) << 50, &v) != 0)
			return SHMS_EPROTO;
		m->ckpt_us = v;
		m->seen |= SHMS_NOTIFY_CKPT_US;
	} else if (var_is(l, vlen, "X_SHMS_ADOPT_US")) {
		if (value_dec(val, n, 0, UINT64_C(1) << 50, &v) != 0)
			return SHMS_EPROTO;
		m->adopt_us = v;
		m->seen |= SHMS_NOTIFY_ADOPT_US;
	} else if (var_is(l, vlen, "X_SHMS_CONNS_TAKEN")) {
		if (value_dec(val, n, 0, SHMS_LISTEN_FDS_MAX, &v) != 0)
			return SHMS_EPROTO;
		m->conns_taken = (uint32_t)v;
		m->seen |= SHMS_NOTIFY_CONNS_TAKEN;
	}
	/* Anything else: ignored, as sd_notify(3) asks of receivers. */
	return 0;
}

int
shms_notify_parse(const void *buf, size_t len, struct shms_notify_msg *msg)
{
	struct shms_notify_msg m;
	const char *p = buf, *end, *nl;
	int rc;

	if (buf == NULL || msg == NULL || len == 0 || len > SHMS_NOTIFY_MAX)
		return SHMS_EPROTO;
	if (memchr(buf, '\0', len) != NULL)
		return SHMS_EPROTO;
	memset(&m, 0, sizeof(m));
	end = p + len;
	/* One optional trailing newline. */
	if (end[-1] == '\n')
		end--;
	/* What remains must not end in an empty line. */
	if (end > p && end[-1] == '\n')
		return SHMS_EPROTO;
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		if ((rc = parse_line(p, (size_t)(nl - p), &m)) != 0)
			return rc;
		p = nl + 1;
	}
	if (m.seen == 0 && p == (const char *)buf)
		return SHMS_EPROTO;
	*msg = m;
	return 0;
}
