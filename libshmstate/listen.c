/*
 * listen.c: collect the fds passed with the systemd socket-activation
 * protocol (LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES; fds from 3).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

/* Strict decimal: digits only, no sign, no spaces, <= max. */
static int
parse_dec(const char *s, long long max, long long *out)
{
	long long v = 0;

	if (s == NULL || *s == '\0')
		return SHMS_EPROTO;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return SHMS_EPROTO;
		v = v * 10 + (*s - '0');
		if (v > max)
			return SHMS_EPROTO;
	}
	*out = v;
	return 0;
}

/*
 * Copies the next ':'-separated name of *p into name; advances *p past it.
 * Returns SHMS_EPROTO for a name that is too long or not printable.
 */
static int
next_name(const char **p, char name[SHMS_FDNAME_MAX + 1])
{
	const char *s = *p;
	size_t n = 0;

	while (*s != '\0' && *s != ':') {
		if (n == SHMS_FDNAME_MAX || *s < 0x21 || *s > 0x7e)
			return SHMS_EPROTO;
		name[n++] = *s++;
	}
	name[n] = '\0';
	if (*s == ':')
		s++;
	*p = s;
	return 0;
}

int
shms_listen_fds(struct shms_listen_fd *fds, size_t max, unsigned flags)
{
	const char *e, *names;
	long long pid, n;
	size_t i, seps;
	int rc;

	if ((flags & ~SHMS_LISTEN_UNSETENV) != 0 || (fds == NULL && max != 0))
		return -EINVAL;
	e = getenv("LISTEN_PID");
	if (e == NULL)
		return 0;
	if ((rc = parse_dec(e, INT_MAX, &pid)) != 0)
		return rc;
	/* Meant for another process (e.g. inherited through a shell). */
	if (pid != (long long)getpid())
		return 0;
	if ((rc = parse_dec(getenv("LISTEN_FDS"), SHMS_LISTEN_FDS_MAX, &n)) != 0)
		return rc;
	if ((size_t)n > max)
		return SHMS_ELIMIT;

	names = getenv("LISTEN_FDNAMES");
	if (names != NULL && n > 0) {
		/* systemd sends exactly one name per fd. */
		for (seps = 0, e = names; *e != '\0'; e++)
			seps += (*e == ':');
		if (seps + 1 != (size_t)n)
			return SHMS_EPROTO;
	}
	/* Validate everything before touching an fd or the output. */
	for (i = 0, e = names; i < (size_t)n; i++) {
		char tmp[SHMS_FDNAME_MAX + 1];
		int fd = SHMS_LISTEN_FDS_START + (int)i;

		if (fcntl(fd, F_GETFD) == -1)
			return SHMS_EPROTO;
		if (e != NULL && (rc = next_name(&e, tmp)) != 0)
			return rc;
	}
	for (i = 0, e = names; i < (size_t)n; i++) {
		int fd = SHMS_LISTEN_FDS_START + (int)i;
		int fl = fcntl(fd, F_GETFD);

		if (fl == -1 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) == -1)
			return -errno;
		fds[i].fd = fd;
		if (e != NULL)
			(void)next_name(&e, fds[i].name);
		if (e == NULL || fds[i].name[0] == '\0')
			strcpy(fds[i].name, "unknown");
	}
	if (flags & SHMS_LISTEN_UNSETENV) {
		unsetenv("LISTEN_PID");
		unsetenv("LISTEN_FDS");
		unsetenv("LISTEN_FDNAMES");
	}
	return (int)n;
}

int
shms_listen_fds_alloc(struct shms_listen_fd **fdsp, unsigned flags)
{
	struct shms_listen_fd *fds;
	const char *e = getenv("LISTEN_FDS");
	long long n;
	int rc;

	if (fdsp == NULL)
		return -EINVAL;
	/* Size it by what is announced; shms_listen_fds() validates. */
	if (e == NULL || parse_dec(e, SHMS_LISTEN_FDS_MAX, &n) != 0)
		n = 0;
	if ((fds = calloc((size_t)n + 1, sizeof(*fds))) == NULL)
		return -ENOMEM;
	rc = shms_listen_fds(fds, (size_t)n, flags);
	if (rc <= 0) {
		free(fds);
		fds = NULL;
	}
	if (rc >= 0)
		*fdsp = fds;
	return rc;
}

int
shms_listen_fd(const char *name)
{
	struct shms_listen_fd *fds = NULL;
	int i, n, rc = SHMS_ENOTFOUND;

	if (name == NULL)
		return -EINVAL;
	n = shms_listen_fds_alloc(&fds, 0);
	if (n < 0)
		rc = n;
	for (i = 0; i < n; i++)
		if (strcmp(fds[i].name, name) == 0) {
			rc = fds[i].fd;
			break;
		}
	free(fds);
	return rc;
}
