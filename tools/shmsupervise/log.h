/*
 * log.h: httpd-style logging for shmsupervise: levelled, timestamped lines
 * on stderr, or "<N>"-prefixed lines (sd-daemon(3) priorities) when stderr
 * is connected to the journal.
 */
#ifndef SUP_LOG_H
#define SUP_LOG_H

#include <stdarg.h>

#define LOG_ATTR(f, a)	__attribute__((format(printf, f, a)))

void	log_init(const char *progname, int verbose);
void	log_setname(const char *name);
void	log_warn(const char *, ...) LOG_ATTR(1, 2);
void	log_warnx(const char *, ...) LOG_ATTR(1, 2);
void	log_info(const char *, ...) LOG_ATTR(1, 2);
void	log_debug(const char *, ...) LOG_ATTR(1, 2);
/* A line of a child's stderr, forwarded as it is. */
void	log_child(int pid, const char *line);
__attribute__((noreturn))
void	fatal(const char *, ...) LOG_ATTR(1, 2);
__attribute__((noreturn))
void	fatalx(const char *, ...) LOG_ATTR(1, 2);

#endif /* SUP_LOG_H */
