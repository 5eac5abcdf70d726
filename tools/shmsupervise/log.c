/*
 * log.c: the log_* API of OpenBSD httpd, writing to stderr only: the
 * supervisor runs in the foreground under a terminal, a shell script or
 * systemd, and journald collects stderr. Lines carry an ISO 8601 UTC time
 * and the level, unless stderr is the journal ($JOURNAL_STREAM matches),
 * which timestamps by itself and reads the "<N>" priority prefix.
 */
#include <sys/stat.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static const char	*log_prog = "shmsupervise";
static char		 log_name[80] = "";
static int		 log_verbose;
static int		 log_journal;

void
log_init(const char *progname, int verbose)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	log_prog = progname;
	log_verbose = verbose;
	log_journal = 0;
	if (js != NULL && sscanf(js, "%llu:%llu", &dev, &ino) == 2 &&
	    fstat(STDERR_FILENO, &st) == 0 &&
	    (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino)
		log_journal = 1;
}

/* The service name, shown after the program name. */
void
log_setname(const char *name)
{
	snprintf(log_name, sizeof(log_name), "%s", name);
}

static const char *
level_name(int pri)
{
	switch (pri) {
	case LOG_CRIT:		return "fatal";
	case LOG_ERR:		return "error";
	case LOG_WARNING:	return "warning";
	case LOG_INFO:		return "info";
	default:		return "debug";
	}
}

static void vlog(int, const char *, const char *, va_list)
    __attribute__((format(printf, 3, 0)));

static void
vlog(int pri, const char *errstr, const char *fmt, va_list ap)
{
	char msg[2048], stamp[40];
	struct timespec ts;
	struct tm tm;
	int n;

	if (pri == LOG_DEBUG && !log_verbose)
		return;
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n >= 0 && errstr != NULL && (size_t)n < sizeof(msg))
		snprintf(msg + n, sizeof(msg) - (size_t)n, ": %s", errstr);
	if (log_journal) {
		fprintf(stderr, "<%d>%s%s%s: %s\n", pri, log_prog,
		    log_name[0] ? " " : "", log_name, msg);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ldZ %s[%ld]%s%s %s: %s\n", stamp,
	    ts.tv_nsec / 1000000, log_prog, (long)getpid(),
	    log_name[0] ? " " : "", log_name, level_name(pri), msg);
}

void
log_warn(const char *fmt, ...)
{
	const char *e = strerror(errno);
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_WARNING, e, fmt, ap);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_WARNING, NULL, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_INFO, NULL, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_DEBUG, NULL, fmt, ap);
	va_end(ap);
}

void
log_child(int pid, const char *line)
{
	if (log_journal) {
		fprintf(stderr, "<%d>child[%d]: %s\n", LOG_NOTICE, pid, line);
		return;
	}
	fprintf(stderr, "child[%d]: %s\n", pid, line);
}

void
fatal(const char *fmt, ...)
{
	const char *e = strerror(errno);
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_CRIT, e, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_CRIT, NULL, fmt, ap);
	va_end(ap);
	exit(1);
}
