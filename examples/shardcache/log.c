/*
 * log.c: logging to stderr with a timestamp and level, after httpd's
 * log.c API (log_warn, log_warnx, log_info, log_debug, fatal, fatalx).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sc.h"

int sc_verbose;

void
log_init(int verbose)
{
	sc_verbose = verbose;
}

static void vlog(const char *, int, const char *, va_list)
    SC_PRINTF(3, 0);

static void
vlog(const char *level, int err, const char *fmt, va_list ap)
{
	char msg[1024], ts[32];
	struct timespec now;
	struct tm tm;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	if (err != 0)
		fprintf(stderr, "%s.%03ldZ shardcache[%d] %s: %s: %s\n", ts,
		    now.tv_nsec / 1000000, (int)getpid(), level, msg,
		    strerror(err));
	else
		fprintf(stderr, "%s.%03ldZ shardcache[%d] %s: %s\n", ts,
		    now.tv_nsec / 1000000, (int)getpid(), level, msg);
}

#define LOGFN(name, level, witherr, minv)			\
void								\
name(const char *fmt, ...)					\
{								\
	int e = errno;						\
	va_list ap;						\
								\
	if (sc_verbose < (minv))				\
		return;						\
	va_start(ap, fmt);					\
	vlog(level, (witherr) ? e : 0, fmt, ap);		\
	va_end(ap);						\
	errno = e;						\
}

LOGFN(log_warn, "warning", 1, 0)
LOGFN(log_warnx, "warning", 0, 0)
LOGFN(log_info, "info", 0, 0)
LOGFN(log_debug, "debug", 0, 1)

void
fatal(const char *fmt, ...)
{
	int e = errno;
	va_list ap;

	va_start(ap, fmt);
	vlog("fatal", e, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog("fatal", 0, fmt, ap);
	va_end(ap);
	exit(1);
}
