/*
 * shmsupervise: run a service, hold its listening sockets, upgrade it to a
 * new binary without refusing a connection, roll back a failed upgrade,
 * restart it when it crashes. See shmsupervise(8).
 */
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bsd/libutil.h>
#include <bsd/stdlib.h>
#include <bsd/string.h>
#include <bsd/unistd.h>

#include "log.h"
#include "shmsupervise.h"

#define MAX_RESTARTS_CAP	1000
#define EXIT_USAGE		2

struct config		 conf;
extern char		 notify_addr[PATH_MAX];

static enum sup_state	 state = ST_STARTING;
static struct child	 ch = { .binfd = -1, .errfd = -1, .execfd = -1 };
/*
 * The previous child after it handed over (X_SHMS_CHECKPOINT_US with its
 * state released) but before it exited: its exit (freeing a big heap
 * can take long) overlaps the successor's start. Reaped and logged.
 */
static struct child	 old_ch = { .binfd = -1, .errfd = -1,
			     .execfd = -1 };
static uint64_t		 old_deadline_kill;
static int		 notify_fd = -1, sig_fd = -1, lock_fd = -1;
static struct pidfh	*pfh;
static uint64_t		 t_start;		/* supervisor start */
static uint64_t		 deadline_ready, deadline_kill, deadline_restart;
static unsigned		 restarts;		/* total, for status */
static unsigned		 backoff_exp;		/* consecutive failures */
static uint64_t		 restart_times[MAX_RESTARTS_CAP + 1];
static unsigned		 restart_next;
static int		 stop_waiter = -1;
static int		 stop_requested;
static int		 exit_code;

/* The upgrade in progress, if up.phase != UP_NONE. */
static struct {
	enum up_phase	phase;
	char		kind[16];
	char		from[PATH_MAX], to[PATH_MAX];
	int		waiter;		/* control connection, or -1 */
	int		from_fd;	/* the old binary's file, for rollback */
	uint64_t	t_req, t_term, t_exit, t_fork, t_exec, t_ready;
	uint64_t	ckpt_us, adopt_us;
	int		old_killed, owned, have_ckpt, have_adopt;
	char		reason[512];
	char		errlines[SUP_ERR_LINES][SUP_ERR_LINE_MAX];
	unsigned	nerr;
} up = { .waiter = -1, .from_fd = -1 };

static struct up_report	 last;

uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

double
ms_between(uint64_t a, uint64_t b)
{
	if (a == 0 || b == 0 || b < a)
		return 0;
	return (double)(b - a) / 1e6;
}

const char *
state_name(enum sup_state st)
{
	switch (st) {
	case ST_STARTING:	return "starting";
	case ST_READY:		return "ready";
	case ST_UPGRADING:	return "upgrading";
	case ST_STOPPING:	return "stopping";
	case ST_BACKOFF:	return "backoff";
	}
	return "?";
}

static void
set_state(enum sup_state st)
{
	state = st;
	setproctitle("%s: %s%s", conf.name, state_name(st),
	    ch.pid > 0 ? "" : " (no child)");
	log_debug("state %s", state_name(st));
}

__attribute__((noreturn)) static void
usage(void)
{
	fprintf(stderr, "usage: shmsupervise --name NAME --listen "
	    "[FDNAME=]tcp:HOST:PORT|tcp:[V6]:PORT|unix:PATH[:MODE]\n"
	    "\t[--listen ...] [--stop-signal SIG] [--stop-timeout SEC]\n"
	    "\t[--ready-timeout SEC] [--max-restarts N] [--restart-window SEC]\n"
	    "\t[--backoff-max SEC] [--pidfile PATH] [--dir STATEDIR] [-d]\n"
	    "\t[--max-handoff-conns N] [--max-handoff-blob BYTES]\n"
	    "\t-- BINARY [ARG ...]\n");
	exit(EXIT_USAGE);
}

/* Seconds with up to 3 decimals, in (0, max] seconds, to ms. */
static unsigned
parse_secs(const char *opt, const char *s, unsigned max_s)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(v > 0) ||
	    v > max_s) {
		fprintf(stderr, "shmsupervise: %s: '%s': expected seconds in "
		    "(0, %u]\n", opt, s, max_s);
		usage();
	}
	return (unsigned)(v * 1000 + 0.5) ? (unsigned)(v * 1000 + 0.5) : 1;
}

static int
parse_signal(const char *s)
{
	static const struct { const char *n; int sig; } sigs[] = {
		{ "TERM", SIGTERM }, { "INT", SIGINT }, { "QUIT", SIGQUIT },
		{ "HUP", SIGHUP }, { "USR1", SIGUSR1 }, { "USR2", SIGUSR2 },
		{ "KILL", SIGKILL },
	};
	const char *errstr;
	size_t i;
	int n;

	if (strncasecmp(s, "SIG", 3) == 0)
		s += 3;
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (strcasecmp(s, sigs[i].n) == 0)
			return sigs[i].sig;
	n = (int)strtonum(s, 1, SIGRTMAX, &errstr);
	if (errstr != NULL) {
		fprintf(stderr, "shmsupervise: --stop-signal: '%s': unknown "
		    "signal\n", s);
		usage();
	}
	return n;
}

/* Absolute path of an executable regular file, or -1 with why. */
static int
check_binary(const char *bin, char *out, size_t outlen, char *why,
    size_t whylen)
{
	char cand[PATH_MAX], *path, *p, *save = NULL;
	const char *env = getenv("PATH");
	struct stat st;

	if (strchr(bin, '/') == NULL) {
		/* execvp-style lookup, done once here. */
		if ((path = strdup(env != NULL ? env : "/usr/bin:/bin")) ==
		    NULL)
			fatal("strdup");
		for (p = strtok_r(path, ":", &save); p != NULL;
		    p = strtok_r(NULL, ":", &save)) {
			snprintf(cand, sizeof(cand), "%s/%s", p, bin);
			if (access(cand, X_OK) == 0)
				break;
		}
		free(path);
		if (p == NULL) {
			snprintf(why, whylen, "%s: not found in $PATH", bin);
			return -1;
		}
		bin = cand;
	}
	if (stat(bin, &st) == -1) {
		snprintf(why, whylen, "%s: %s", bin, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(why, whylen, "%s: not a regular file", bin);
		return -1;
	}
	if (access(bin, X_OK) == -1 || (st.st_mode & 0111) == 0) {
		snprintf(why, whylen, "%s: not executable", bin);
		return -1;
	}
	if (realpath(bin, out) == NULL || strlen(out) >= outlen) {
		snprintf(why, whylen, "%s: %s", bin, strerror(errno));
		return -1;
	}
	return 0;
}

/* ---- state of the service directory (read-only, through the library) */

static int
gen_cb(const struct shms_entry *e, void *arg)
{
	uint64_t *g = arg;

	if (e->status == SHMS_ENT_COMMITTED && e->error == 0 &&
	    e->info.generation > *g)
		*g = e->info.generation;
	return 0;
}

/* Generation of the committed checkpoint; 0 when there is none. */
static uint64_t
svc_generation(void)
{
	struct shms_svc *svc;
	uint64_t g = 0;

	if (shms_svc_open(&svc, conf.root, conf.name, SHMS_SVC_RDONLY) != 0)
		return 0;
	(void)shms_svc_list(svc, gen_cb, &g);
	shms_svc_close(svc);
	return g;
}

/* The pid recorded in the service's lock file by its last owner. */
static pid_t
svc_owner_pid(void)
{
	struct shms_svc *svc;
	pid_t pid = 0;
	int alive;

	if (shms_svc_open(&svc, conf.root, conf.name, SHMS_SVC_RDONLY) != 0)
		return 0;
	if (shms_svc_owner(svc, &pid, &alive) != 0)
		pid = 0;
	shms_svc_close(svc);
	return pid;
}

/* ---- child lifecycle */

static void	crash(const char *why);
static void	upgrade_done(const char *result);

/* Drops what a finished child still holds. */
static void
child_forget(struct child *c)
{
	child_close_fds(c);
	if (c->binfd >= 0)
		close(c->binfd);
	c->binfd = -1;
}

/* binfd >= 0: run that file (a rollback); ownership passes on. */
static void
start_child_fd(const char *binary, int binfd)
{
	struct passfd pf[SUP_PASSFD_MAX];
	char err[512];
	int i, npf = 0;

	/* The listening sockets, then what the fd store holds. */
	for (i = 0; i < conf.nls; i++) {
		pf[npf].fd = conf.ls[i].fd;
		pf[npf++].name = conf.ls[i].name;
	}
	npf += fdstore_passfds(pf + npf, SUP_PASSFD_MAX - npf);
	child_forget(&ch);
	if (child_start(&ch, binary, binfd, pf, npf, err, sizeof(err)) == -1) {
		log_warnx("%s: cannot start: %s", binary, err);
		ch.pid = 0;
		ch.wstatus = -1;
		if (state == ST_UPGRADING && up.phase != UP_NONE) {
			/* No process to roll back from: the old one, later. */
			snprintf(up.reason, sizeof(up.reason), "cannot start "
			    "%.300s: %.150s", binary, err);
			strlcpy(conf.binary, up.from, sizeof(conf.binary));
			upgrade_done("failed");
		}
		crash(err);
		return;
	}
	fdstore_passed(ch.pid);
	deadline_ready = ch.t_fork + (uint64_t)conf.ready_timeout_ms * 1000000;
	deadline_kill = 0;
	log_info("started %s, pid %ld%s", binary, (long)ch.pid,
	    fdstore_held() > 0 ? " with connections handed over" : "");
	if (state != ST_UPGRADING)
		set_state(ST_STARTING);
	else
		setproctitle("%s: %s", conf.name, state_name(state));
}

static void
start_child(const char *binary)
{
	start_child_fd(binary, -1);
}

static void
stop_child(void)
{
	if (ch.pid <= 0)
		return;
	ch.t_term = now_ns();
	child_signal(&ch, conf.stop_signal);
	deadline_kill = ch.t_term + (uint64_t)conf.stop_timeout_ms * 1000000;
	deadline_ready = 0;
	log_info("sent %s to pid %ld", strsignal(conf.stop_signal),
	    (long)ch.pid);
}

static void
report_finish(const char *result)
{
	double stop = ms_between(up.t_term, up.t_exit);
	double exec = ms_between(up.t_fork, up.t_exec);
	double ready = ms_between(up.t_exec, up.t_ready);
	double total = ms_between(up.t_req, up.t_ready ? up.t_ready :
	    now_ns());
	double own = ((double)up.ckpt_us + (double)up.adopt_us) / 1000;

	memset(&last, 0, sizeof(last));
	last.done = 1;
	strlcpy(last.kind, up.kind, sizeof(last.kind));
	strlcpy(last.result, result, sizeof(last.result));
	strlcpy(last.reason, up.reason, sizeof(last.reason));
	strlcpy(last.from, up.from, sizeof(last.from));
	strlcpy(last.to, up.to, sizeof(last.to));
	last.old_killed = up.old_killed;
	last.new_owned = up.owned;
	last.stop_ms = stop;
	last.ckpt_ms = (double)up.ckpt_us / 1000;
	last.exec_ms = exec;
	last.ready_ms = ready;
	last.adopt_ms = (double)up.adopt_us / 1000;
	last.total_ms = total;
	last.overhead_ms = total > own ? total - own : 0;
	memcpy(last.errlines, up.errlines, sizeof(up.errlines));
	last.nerr = up.nerr;
}

static void
add_report(struct ctl_buf *b, const char *prefix)
{
	char key[64];
	unsigned i;

#define KV(k, fmt, ...) do {						\
	snprintf(key, sizeof(key), "%s%s", prefix, k);			\
	ctl_addf(b, "%s " fmt "\n", key, __VA_ARGS__);			\
} while (0)
	KV("kind", "%s", last.kind);
	KV("result", "%s", last.result);
	if (last.reason[0] != '\0') {
		snprintf(key, sizeof(key), "%sreason", prefix);
		ctl_kv(b, key, last.reason);
	}
	KV("from", "%s", last.from);
	KV("to", "%s", last.to);
	KV("stop_ms", "%.3f", last.stop_ms);
	KV("checkpoint_ms", "%.3f", last.ckpt_ms);
	KV("exec_ms", "%.3f", last.exec_ms);
	KV("ready_ms", "%.3f", last.ready_ms);
	KV("adopt_ms", "%.3f", last.adopt_ms);
	KV("total_ms", "%.3f", last.total_ms);
	KV("overhead_ms", "%.3f", last.overhead_ms);
	KV("old_killed", "%d", last.old_killed);
	KV("new_owned_state", "%d", last.new_owned);
	for (i = 0; i < last.nerr; i++) {
		snprintf(key, sizeof(key), "%sstderr", prefix);
		ctl_kv(b, key, last.errlines[i]);
	}
#undef KV
}

/* Ends the upgrade: records the report and answers the waiter. */
static void
upgrade_done(const char *result)
{
	struct ctl_buf b = { .len = 0 };

	report_finish(result);
	if (strcmp(result, "ok") == 0 || strcmp(result, "degraded") == 0) {
		log_info("%s done: %s, pid %ld: stop %.3f ms (checkpoint "
		    "%.3f ms), exec %.3f ms, ready %.3f ms (adopt %.3f ms), "
		    "total %.3f ms, supervisor overhead %.3f ms", up.kind,
		    up.to, (long)ch.pid, last.stop_ms, last.ckpt_ms,
		    last.exec_ms, last.ready_ms, last.adopt_ms, last.total_ms,
		    last.overhead_ms);
		if (up.reason[0] != '\0')
			log_warnx("%s %s: %s", up.kind, result, up.reason);
		ctl_addf(&b, "ok %s to %s\n", up.kind, up.to);
	} else {
		log_warnx("%s %s: %s", up.kind, result, up.reason);
		ctl_addf(&b, "error %s %s: ", up.kind, result);
		ctl_text(&b, up.reason);
		ctl_addf(&b, "\n");
	}
	ctl_addf(&b, "pid %ld\n", (long)ch.pid);
	ctl_addf(&b, "binary %s\n", conf.binary);
	add_report(&b, "");
	if (up.waiter != -1)
		control_reply(up.waiter, b.buf);
	up.waiter = -1;
	up.phase = UP_NONE;
	if (up.from_fd >= 0)
		close(up.from_fd);
	up.from_fd = -1;
}

/* Child exited or was never started: restart later, or give up. */
static void
crash(const char *why)
{
	uint64_t now = now_ns(), window, delay_ms;
	unsigned i, n = 0;

	if (stop_requested)
		return;
	if (ch.t_ready != 0 && now - ch.t_ready >=
	    SUP_BACKOFF_RESET_S * 1000000000ULL)
		backoff_exp = 0;
	restarts++;
	restart_times[restart_next] = now;
	restart_next = (restart_next + 1) % (MAX_RESTARTS_CAP + 1);
	window = (uint64_t)conf.restart_window_s * 1000000000ULL;
	for (i = 0; i <= MAX_RESTARTS_CAP; i++)
		if (restart_times[i] != 0 && now - restart_times[i] < window)
			n++;
	if (n > conf.max_restarts) {
		log_warnx("%s: %u restarts within %u s (limit %u): giving up",
		    why, n - 1, conf.restart_window_s, conf.max_restarts);
		exit_code = 1;
		stop_requested = 1;
		return;
	}
	delay_ms = SUP_BACKOFF_MIN_MS;
	for (i = 0; i < backoff_exp && delay_ms < conf.backoff_max_ms; i++)
		delay_ms *= 2;
	if (delay_ms > conf.backoff_max_ms)
		delay_ms = conf.backoff_max_ms;
	backoff_exp++;
	deadline_restart = now + delay_ms * 1000000;
	log_warnx("%s: restart %u in %" PRIu64 " ms", why, restarts, delay_ms);
	set_state(ST_BACKOFF);
}

static void
rollback(void)
{
	pid_t owner = svc_owner_pid();
	int binfd;

	up.owned = owner != 0 && owner == ch.pid;
	up.nerr = child_errlines(&ch, up.errlines, 10);
	if (up.owned)
		strlcat(up.reason, "; the new binary had taken ownership of the "
		    "state (lock), which may have changed", sizeof(up.reason));
	if (strcmp(up.from, up.to) == 0 && strcmp(up.kind, "upgrade") != 0) {
		/* Restarting the same binary again would fail the same way. */
		up.phase = UP_ROLLBACK;
		ch.pid = 0;
		upgrade_done("failed");
		crash("restart failed");
		return;
	}
	log_warnx("%s failed: %s; rolling back to %s", up.kind, up.reason,
	    up.from);
	up.phase = UP_ROLLBACK;
	strlcpy(conf.binary, up.from, sizeof(conf.binary));
	/* The file that ran before, even if the path was replaced since. */
	binfd = up.from_fd;
	up.from_fd = -1;
	start_child_fd(up.from, binfd);
}

/* A new or restarted child failed before READY. */
static void
kill_unready(const char *why)
{
	strlcpy(up.reason, why, sizeof(up.reason));
	/* No state to save unless it took the lock: no need to be gentle. */
	if (svc_owner_pid() == ch.pid) {
		stop_child();
	} else {
		deadline_ready = 0;
		deadline_kill = now_ns() + (uint64_t)conf.stop_timeout_ms *
		    1000000;
		child_signal(&ch, SIGKILL);
	}
}

/* The old child is gone, or has handed over: start the new binary. */
static void
start_successor(uint64_t now, int killed, unsigned seen, uint64_t ckpt_us)
{
	up.t_exit = now;
	up.old_killed = killed;
	if (seen & SHMS_NOTIFY_CKPT_US)
		up.ckpt_us = ckpt_us;
	up.phase = UP_START;
	strlcpy(conf.binary, up.to, sizeof(conf.binary));
	start_child(up.to);
	if (ch.pid > 0)
		up.t_fork = ch.t_fork;
}

/*
 * The old child says its checkpoint is committed. If it has also let go
 * of the service's lock, its successor can start now instead of after
 * its exit: the exit of a process with a big heap takes a while, and
 * nothing of the new one depends on it.
 */
static void
early_handoff(uint64_t when)
{
	struct shms_svc *svc;
	pid_t owner = 0;
	int alive = 1;

	/* One exiting child at a time: the previous one is still going. */
	if (old_ch.pid > 0)
		return;
	if (shms_svc_open(&svc, conf.root, conf.name, SHMS_SVC_RDONLY) == 0) {
		if (shms_svc_owner(svc, &owner, &alive) != 0)
			alive = 1;
		shms_svc_close(svc);
	}
	if (alive) {
		log_debug("pid %ld checkpointed but still holds the state: "
		    "waiting for its exit", (long)ch.pid);
		return;
	}
	log_debug("pid %ld handed over; starting its successor",
	    (long)ch.pid);
	old_ch = ch;
	old_deadline_kill = deadline_kill;
	memset(&ch, 0, sizeof(ch));
	ch.binfd = ch.errfd = ch.execfd = -1;
	deadline_kill = 0;
	start_successor(when, 0, old_ch.seen, old_ch.ckpt_us);
}

/*
 * The child runs in its own process group; what is left of it once the
 * child is gone (helpers it started) would outlive the service: stop it.
 * As a subreaper we reap those processes when they end.
 */
static void
kill_leftovers(pid_t pid)
{
	if (kill(-pid, SIGTERM) == 0)
		log_warnx("pid %ld left processes in its group: sent them "
		    "SIGTERM", (long)pid);
}

/* The handed-over child exited. */
static void
on_exit_old(int wstatus)
{
	char how[128];

	kill_leftovers(old_ch.pid);
	child_read_stderr(&old_ch, 1);
	child_forget(&old_ch);
	child_describe_exit(wstatus, how, sizeof(how));
	if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0)
		log_info("old pid %ld %s", (long)old_ch.pid, how);
	else
		log_warnx("old pid %ld %s after handing over", (long)old_ch.pid,
		    how);
	old_ch.pid = 0;
	old_deadline_kill = 0;
}

static void
on_exit_child(int wstatus)
{
	char how[128];
	pid_t pid = ch.pid;
	uint64_t now = now_ns();

	ch.t_exit = now;
	ch.wstatus = wstatus;
	kill_leftovers(pid);
	child_read_stderr(&ch, 1);
	child_close_fds(&ch);
	child_describe_exit(wstatus, how, sizeof(how));
	deadline_ready = deadline_kill = 0;
	log_info("pid %ld (%s) %s%s", (long)pid, ch.binary, how,
	    ch.killed ? " after SIGKILL" : "");

	if (state == ST_STOPPING || stop_requested) {
		ch.pid = 0;
		return;
	}
	if (state == ST_UPGRADING) {
		switch (up.phase) {
		case UP_STOP:
			if (ch.killed)
				log_warnx("old pid %ld needed SIGKILL after "
				    "%u ms: its state may not be clean",
				    (long)pid, conf.stop_timeout_ms);
			ch.pid = 0;
			start_successor(now, ch.killed, ch.seen, ch.ckpt_us);
			return;
		case UP_START:
			if (up.reason[0] == '\0')
				snprintf(up.reason, sizeof(up.reason),
				    "%.300s %s before READY", up.to, how);
			rollback();
			return;
		case UP_ROLLBACK:
			ch.pid = 0;
			snprintf(up.reason + strlen(up.reason),
			    sizeof(up.reason) - strlen(up.reason),
			    "; rollback to %s failed too: %s", up.from, how);
			upgrade_done("failed");
			crash("rollback failed");
			return;
		case UP_NONE:
			break;
		}
	}
	ch.pid = 0;
	crash(how);
}

/* READY=1, sent at `now' (the kernel's stamp of the datagram). */
static void
on_ready(uint64_t now)
{
	int degraded;

	if (ch.ready)
		return;
	/* It has taken what it will take of the handed-over connections. */
	degraded = fdstore_commit(ch.pid);
	ch.ready = 1;
	ch.t_ready = now;
	/* Exec and READY seen in one late wake-up: exec was no later. */
	if (ch.t_exec == 0 || ch.t_exec > now)
		ch.t_exec = now;
	deadline_ready = 0;
	log_info("pid %ld ready (%.3f ms after start)", (long)ch.pid,
	    ms_between(ch.t_fork, now));
	if (state == ST_UPGRADING && up.phase == UP_START) {
		up.t_exec = ch.t_exec;
		up.t_ready = now;
		if (ch.seen & SHMS_NOTIFY_ADOPT_US)
			up.adopt_us = ch.adopt_us;
		set_state(ST_READY);
		if (degraded)
			snprintf(up.reason, sizeof(up.reason), "%u of %u "
			    "connection(s) handed over were closed (not taken "
			    "by the new binary, or over the limit)",
			    fdstore_counts()->closed, fdstore_counts()->handed);
		upgrade_done(degraded ? "degraded" : "ok");
		return;
	}
	if (state == ST_UPGRADING && up.phase == UP_ROLLBACK) {
		set_state(ST_READY);
		upgrade_done("rolled-back");
		return;
	}
	if (state == ST_STARTING)
		set_state(ST_READY);
}

static void
on_ready_timeout(void)
{
	char why[256];

	snprintf(why, sizeof(why), "%.120s (pid %ld) did not report READY=1 "
	    "within %.3f s", ch.binary, (long)ch.pid,
	    conf.ready_timeout_ms / 1000.0);
	log_warnx("%s", why);
	deadline_ready = 0;
	if (state == ST_UPGRADING)
		kill_unready(why);
	else {
		/* Its exit, then a restart with backoff. */
		deadline_kill = now_ns() + (uint64_t)conf.stop_timeout_ms *
		    1000000;
		child_signal(&ch, SIGKILL);
	}
}

/*
 * Begins an upgrade (or restart/reload) to binary `to'. Refuses, without
 * touching the running child, when `to' cannot be run or another
 * operation is in progress. Returns 0 when started.
 */
static int
begin_upgrade(const char *kind, const char *to, int waiter, char *why,
    size_t whylen)
{
	char abs[PATH_MAX];

	if (state == ST_UPGRADING || state == ST_STOPPING || stop_requested) {
		snprintf(why, whylen, "busy: %s in progress", state_name(state));
		return -1;
	}
	if (state == ST_STARTING) {
		snprintf(why, whylen, "busy: service is starting");
		return -1;
	}
	if (check_binary(to, abs, sizeof(abs), why, whylen) == -1)
		return -1;
	memset(&up, 0, sizeof(up));
	fdstore_new_round();
	up.waiter = waiter;
	/* Keep the running file: the path may be replaced by then. */
	up.from_fd = ch.binfd;
	ch.binfd = -1;
	strlcpy(up.kind, kind, sizeof(up.kind));
	strlcpy(up.from, conf.binary, sizeof(up.from));
	strlcpy(up.to, abs, sizeof(up.to));
	up.t_req = now_ns();
	log_info("%s requested: %s -> %s", kind, up.from, up.to);
	set_state(ST_UPGRADING);
	if (ch.pid > 0) {
		up.phase = UP_STOP;
		stop_child();
		up.t_term = ch.t_term;
	} else {
		/* In backoff: nothing to stop, start the new one now. */
		deadline_restart = 0;
		up.phase = UP_START;
		strlcpy(conf.binary, up.to, sizeof(conf.binary));
		start_child(up.to);
		up.t_fork = ch.t_fork;
	}
	return 0;
}

static void
begin_stop(int waiter)
{
	if (stop_requested) {
		if (waiter != -1)
			control_reply(waiter, "error busy: already stopping\n");
		return;
	}
	stop_requested = 1;
	stop_waiter = waiter;
	if (up.waiter != -1) {
		strlcpy(up.reason, "supervisor stopping", sizeof(up.reason));
		upgrade_done("failed");
	}
	set_state(ST_STOPPING);
	if (ch.pid > 0)
		stop_child();
}

/* ---- control requests */

static void
status_reply(int conn)
{
	struct ctl_buf b = { .len = 0 };
	uint64_t now = now_ns(), gen = svc_generation();
	int i;

	ctl_addf(&b, "ok\n");
	ctl_kv(&b, "name", conf.name);
	ctl_addf(&b, "supervisor_pid %ld\n", (long)getpid());
	ctl_addf(&b, "pid %ld\n", (long)ch.pid);
	ctl_kv(&b, "binary", conf.binary);
	ctl_addf(&b, "state %s\n", state_name(state));
	if (gen != 0)
		ctl_addf(&b, "generation %" PRIu64 "\n", gen);
	else
		ctl_addf(&b, "generation -\n");
	ctl_addf(&b, "uptime_s %.3f\n", ch.pid > 0 && ch.t_fork ?
	    ms_between(ch.t_fork, now) / 1000 : 0.0);
	ctl_addf(&b, "supervisor_uptime_s %.3f\n",
	    ms_between(t_start, now) / 1000);
	ctl_addf(&b, "restarts %u\n", restarts);
	{
		const struct fdstore_counts *fc = fdstore_counts();

		/* The last handoff: handed, taken, closed (+ why). */
		ctl_addf(&b, "handoff_held %d\nhandoff_handed %u\n"
		    "handoff_taken %u\nhandoff_closed %u\n"
		    "handoff_over_limit %u\nhandoff_refused %u\n",
		    fdstore_held(), fc->handed, fc->taken, fc->closed,
		    fc->over_limit, fc->refused);
	}
	if (ch.status[0] != '\0')
		ctl_kv(&b, "service_status", ch.status);
	for (i = 0; i < conf.nls; i++)
		ctl_addf(&b, "listen %s %s\n", conf.ls[i].name,
		    conf.ls[i].desc);
	if (last.done)
		add_report(&b, "last_");
	else
		ctl_addf(&b, "last_result none\n");
	control_reply(conn, b.buf);
}

void
sup_request(int conn, const struct ctl_req *req)
{
	char why[PATH_MAX + 128], msg[PATH_MAX + 160];

	switch (req->cmd) {
	case CTL_STATUS:
		status_reply(conn);
		return;
	case CTL_UPGRADE:
	case CTL_RESTART:
		if (begin_upgrade(req->cmd == CTL_RESTART ? "restart" :
		    "upgrade", req->arg[0] ? req->arg : conf.binary, conn,
		    why, sizeof(why)) == -1) {
			snprintf(msg, sizeof(msg), "error %s refused: %s\n",
			    req->cmd == CTL_RESTART ? "restart" : "upgrade",
			    why);
			log_warnx("%s", msg);
			control_reply(conn, msg);
		}
		return;
	case CTL_STOP:
		begin_stop(conn);
		return;
	}
}

void
sup_conn_gone(int conn)
{
	if (up.waiter == conn)
		up.waiter = -1;
	if (stop_waiter == conn)
		stop_waiter = -1;
}

/* ---- events */

/* fds that came with a notification: into the fd store, or closed. */
static void
handle_notify_fds(const struct shms_notify_msg *m)
{
	int *fds, n = notify_fds(&fds), i;

	if (n == 0)
		return;
	if (!(m->seen & SHMS_NOTIFY_FDSTORE)) {
		log_warnx("notify: %d fd(s) without FDSTORE=1 closed", n);
		for (i = 0; i < n; i++)
			close(fds[i]);
		return;
	}
	/* Stopping for good: no next child will take them. */
	fdstore_add(m->seen & SHMS_NOTIFY_FDNAME ? m->fdname : "", fds, n,
	    !(stop_requested || state == ST_STOPPING));
}

static void
handle_notify(void)
{
	struct shms_notify_msg m;
	uint64_t when;
	pid_t from;
	int i, rc;

	for (i = 0; i < 64; i++) {
		if ((rc = notify_recv(notify_fd, &ch, &m, &from, &when)) == -1)
			return;
		if (rc == 0)
			continue;
		log_debug("notify from %ld: seen 0x%x", (long)from, m.seen);
		handle_notify_fds(&m);
		fdstore_report(from, &m);
		ch.seen |= m.seen;
		if (m.seen & SHMS_NOTIFY_STATUS)
			strlcpy(ch.status, m.status, sizeof(ch.status));
		if (m.seen & SHMS_NOTIFY_MAINPID)
			ch.mainpid = m.mainpid;
		if (m.seen & SHMS_NOTIFY_CKPT_US) {
			ch.ckpt_us = m.ckpt_us;
			if (state == ST_UPGRADING && up.phase == UP_STOP &&
			    from == ch.pid && !ch.killed) {
				early_handoff(when);
				continue;
			}
		}
		if (m.seen & SHMS_NOTIFY_ADOPT_US)
			ch.adopt_us = m.adopt_us;
		if (m.seen & SHMS_NOTIFY_ERRNO)
			log_warnx("pid %ld reports errno %d (%s)", (long)from,
			    m.errnum, strerror(m.errnum));
		if (m.seen & SHMS_NOTIFY_STOPPING)
			log_debug("pid %ld stopping", (long)from);
		if ((m.seen & SHMS_NOTIFY_READY) && ch.pid > 0 &&
		    ch.t_term == 0) {
			if (ch.execfd != -1)
				child_read_exec(&ch);
			on_ready(when);
		}
	}
}

static void
reap(void)
{
	pid_t pid;
	int st;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		if (pid == old_ch.pid) {
			on_exit_old(st);
			continue;
		}
		if (pid != ch.pid) {
			log_debug("reaped pid %ld (left by the service)",
			    (long)pid);
			continue;
		}
		/*
		 * Its last words (READY, checkpoint time) come first; they
		 * may hand it over and start its successor.
		 */
		handle_notify();
		if (pid == old_ch.pid) {
			on_exit_old(st);
			continue;
		}
		if (ch.execfd != -1)
			child_read_exec(&ch);
		on_exit_child(st);
	}
}

static void
handle_signals(void)
{
	struct signalfd_siginfo si;
	char why[PATH_MAX + 64];

	while (read(sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGCHLD:
			reap();
			break;
		case SIGTERM:
		case SIGINT:
			if (stop_requested && ch.pid > 0) {
				log_warnx("second %s: killing pid %ld",
				    strsignal((int)si.ssi_signo), (long)ch.pid);
				child_signal(&ch, SIGKILL);
			} else {
				log_info("%s: stopping",
				    strsignal((int)si.ssi_signo));
				begin_stop(-1);
			}
			break;
		case SIGHUP:
			if (begin_upgrade("reload", conf.binary, -1, why,
			    sizeof(why)) == -1)
				log_warnx("SIGHUP: reload refused: %s", why);
			break;
		case SIGUSR1:
		case SIGUSR2:
			child_signal(&ch, (int)si.ssi_signo);
			break;
		}
	}
}

static void
handle_timers(uint64_t now)
{
	if (deadline_ready != 0 && now >= deadline_ready && ch.pid > 0 &&
	    !ch.ready)
		on_ready_timeout();
	if (deadline_kill != 0 && now >= deadline_kill && ch.pid > 0) {
		if (!ch.killed)
			log_warnx("pid %ld still running %u ms after the stop "
			    "signal: SIGKILL", (long)ch.pid,
			    conf.stop_timeout_ms);
		child_signal(&ch, SIGKILL);
		deadline_kill = 0;
	}
	if (old_deadline_kill != 0 && now >= old_deadline_kill &&
	    old_ch.pid > 0) {
		log_warnx("old pid %ld still running %u ms after the stop "
		    "signal: SIGKILL", (long)old_ch.pid, conf.stop_timeout_ms);
		child_signal(&old_ch, SIGKILL);
		old_deadline_kill = 0;
	}
	if (deadline_restart != 0 && now >= deadline_restart &&
	    state == ST_BACKOFF) {
		deadline_restart = 0;
		start_child(conf.binary);
	}
	control_expire(now);
}

static int
next_timeout(uint64_t now)
{
	uint64_t d = control_next_deadline();

	if (deadline_ready != 0 && deadline_ready < d)
		d = deadline_ready;
	if (deadline_kill != 0 && deadline_kill < d)
		d = deadline_kill;
	if (old_deadline_kill != 0 && old_deadline_kill < d)
		d = old_deadline_kill;
	if (deadline_restart != 0 && deadline_restart < d)
		d = deadline_restart;
	if (d == UINT64_MAX)
		return -1;
	if (d <= now)
		return 0;
	/* Round up so that we wake after, not just before, the deadline. */
	return (int)((d - now + 999999) / 1000000);
}

static void
loop(void)
{
	struct pollfd pfd[8 + SUP_CTL_CONNS];
	int n, base, ictl, ierr, iexec, iold;

	while (!(stop_requested && ch.pid == 0 && old_ch.pid == 0)) {
		n = 0;
		pfd[n].fd = sig_fd;
		pfd[n++].events = POLLIN;
		pfd[n].fd = notify_fd;
		pfd[n++].events = POLLIN;
		ictl = n;
		pfd[n].fd = control_listen_fd();
		pfd[n++].events = POLLIN;
		ierr = iexec = iold = -1;
		if (old_ch.errfd != -1) {
			iold = n;
			pfd[n].fd = old_ch.errfd;
			pfd[n++].events = POLLIN;
		}
		if (ch.errfd != -1) {
			ierr = n;
			pfd[n].fd = ch.errfd;
			pfd[n++].events = POLLIN;
		}
		if (ch.execfd != -1) {
			iexec = n;
			pfd[n].fd = ch.execfd;
			pfd[n++].events = POLLIN;
		}
		base = n;
		n += control_pollfds(pfd + n, SUP_CTL_CONNS);
		for (int i = 0; i < n; i++)
			pfd[i].revents = 0;
		if (poll(pfd, (nfds_t)n, next_timeout(now_ns())) == -1) {
			if (errno == EINTR)
				continue;
			fatal("poll");
		}
		/* Exec, then notify (READY), then exits: their real order. */
		if (iexec != -1 && pfd[iexec].revents)
			child_read_exec(&ch);
		if (pfd[1].revents)
			handle_notify();
		if (ierr != -1 && pfd[ierr].revents)
			child_read_stderr(&ch, 0);
		if (iold != -1 && pfd[iold].revents)
			child_read_stderr(&old_ch, 0);
		if (pfd[0].revents)
			handle_signals();
		if (pfd[ictl].revents)
			control_accept();
		control_handle(pfd + base, n - base);
		handle_timers(now_ns());
	}
}

/* ---- setup and teardown */

static void
cleanup(void)
{
	int i;

	/* A fatal path must not leave the service running unsupervised. */
	if (ch.pid > 0) {
		kill(ch.pid, conf.stop_signal);
		ch.pid = 0;
	}
	if (old_ch.pid > 0) {
		kill(-old_ch.pid, SIGKILL);
		old_ch.pid = 0;
	}
	control_close(conf.dir);
	if (notify_addr[0] == '/')
		unlink(notify_addr);
	for (i = 0; i < conf.nls; i++)
		listen_cleanup(&conf.ls[i]);
	if (pfh != NULL) {
		pidfile_remove(pfh);
		pfh = NULL;
	}
}

/* The state directory root/name, 0700, ours, no symlinks. */
static void
make_dirs(void)
{
	char p[PATH_MAX];
	struct stat st;
	size_t i, n;

	strlcpy(p, conf.root, sizeof(p));
	n = strlen(p);
	for (i = 1; i <= n; i++) {
		if (p[i] != '/' && p[i] != '\0')
			continue;
		p[i] = '\0';
		if (mkdir(p, 0700) == -1 && errno != EEXIST)
			fatal("mkdir %s", p);
		p[i] = conf.root[i];
	}
	if (mkdir(conf.dir, 0700) == -1 && errno != EEXIST)
		fatal("mkdir %s", conf.dir);
	if (lstat(conf.dir, &st) == -1)
		fatal("%s", conf.dir);
	if (!S_ISDIR(st.st_mode))
		fatalx("%s: not a directory", conf.dir);
	if (st.st_uid != geteuid())
		fatalx("%s: owned by uid %ld, not us", conf.dir,
		    (long)st.st_uid);
	if (st.st_mode & 022)
		fatalx("%s: group/world writable", conf.dir);
}

static void
take_lock(void)
{
	char path[PATH_MAX], buf[32];
	ssize_t n;

	if (snprintf(path, sizeof(path), "%s/%s", conf.dir, SUP_LOCK_FILE) >=
	    (int)sizeof(path))
		fatalx("%s: path too long", conf.dir);
	lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (lock_fd == -1)
		fatal("%s", path);
	if (flock(lock_fd, LOCK_EX | LOCK_NB) == -1) {
		if (errno != EWOULDBLOCK)
			fatal("flock %s", path);
		n = pread(lock_fd, buf, sizeof(buf) - 1, 0);
		buf[n > 0 ? n : 0] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		fatalx("another shmsupervise is running for %s (pid %s)",
		    conf.name, buf[0] ? buf : "?");
	}
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(lock_fd, 0) == -1 || pwrite(lock_fd, buf, (size_t)n, 0)
	    != n)
		fatal("%s", path);
}

/*
 * Handed-over connections are held here and passed on (each passed fd is
 * briefly open twice in the forked child): the soft limit goes to the
 * hard one.
 */
static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			log_warn("setrlimit RLIMIT_NOFILE");
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur !=
	    RLIM_INFINITY && rl.rlim_cur < 2 * (rlim_t)conf.max_handoff_conns +
	    256)
		log_warnx("open files limit %lu is low for --max-handoff-conns "
		    "%u", (unsigned long)rl.rlim_cur, conf.max_handoff_conns);
}

static void
open_signals(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	if (sigprocmask(SIG_BLOCK, &set, NULL) == -1)
		fatal("sigprocmask");
	sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sig_fd == -1)
		fatal("signalfd");
	signal(SIGPIPE, SIG_IGN);
}

enum {
	OPT_LISTEN = 256, OPT_STOPSIG, OPT_STOPTMO, OPT_READYTMO,
	OPT_MAXRESTARTS, OPT_WINDOW, OPT_BACKOFF, OPT_PIDFILE, OPT_DIR,
	OPT_NAME, OPT_MAXHOCONNS, OPT_MAXHOBLOB,
};

static const struct option longopts[] = {
	{ "name",		required_argument,	NULL, OPT_NAME },
	{ "listen",		required_argument,	NULL, OPT_LISTEN },
	{ "stop-signal",	required_argument,	NULL, OPT_STOPSIG },
	{ "stop-timeout",	required_argument,	NULL, OPT_STOPTMO },
	{ "ready-timeout",	required_argument,	NULL, OPT_READYTMO },
	{ "max-handoff-conns",	required_argument,	NULL, OPT_MAXHOCONNS },
	{ "max-handoff-blob",	required_argument,	NULL, OPT_MAXHOBLOB },
	{ "max-restarts",	required_argument,	NULL, OPT_MAXRESTARTS },
	{ "restart-window",	required_argument,	NULL, OPT_WINDOW },
	{ "backoff-max",	required_argument,	NULL, OPT_BACKOFF },
	{ "pidfile",		required_argument,	NULL, OPT_PIDFILE },
	{ "dir",		required_argument,	NULL, OPT_DIR },
	{ "debug",		no_argument,		NULL, 'd' },
	{ "help",		no_argument,		NULL, 'h' },
	{ NULL,			0,			NULL, 0 },
};

int
main(int argc, char *argv[], char *envp[])
{
	const char *listens[SUP_LISTEN_MAX], *errstr, *root;
	char err[PATH_MAX + 256];
	pid_t other;
	int ch_, i, nl = 0;

	setproctitle_init(argc, argv, envp);
	conf.stop_signal = SIGTERM;
	conf.stop_timeout_ms = 30000;
	conf.ready_timeout_ms = 60000;
	conf.max_restarts = 5;
	conf.restart_window_s = 60;
	conf.backoff_max_ms = 30000;
	conf.max_handoff_conns = 4096;
	conf.max_handoff_blob = 64u << 20;

	while ((ch_ = getopt_long(argc, argv, "+dh", longopts, NULL)) != -1) {
		switch (ch_) {
		case OPT_NAME:
			if (shms_name_valid(optarg) != 0) {
				fprintf(stderr, "shmsupervise: --name: '%s': "
				    "1..%d bytes of [A-Za-z0-9_.-], not "
				    "starting with '.'\n", optarg,
				    SHMS_NAME_MAX);
				usage();
			}
			strlcpy(conf.name, optarg, sizeof(conf.name));
			break;
		case OPT_LISTEN:
			if (nl == SUP_LISTEN_MAX) {
				fprintf(stderr, "shmsupervise: more than %d "
				    "--listen\n", SUP_LISTEN_MAX);
				usage();
			}
			listens[nl++] = optarg;
			break;
		case OPT_STOPSIG:
			conf.stop_signal = parse_signal(optarg);
			break;
		case OPT_STOPTMO:
			conf.stop_timeout_ms = parse_secs("--stop-timeout",
			    optarg, 3600);
			break;
		case OPT_READYTMO:
			conf.ready_timeout_ms = parse_secs("--ready-timeout",
			    optarg, 86400);
			break;
		case OPT_MAXRESTARTS:
			conf.max_restarts = (unsigned)strtonum(optarg, 0,
			    MAX_RESTARTS_CAP, &errstr);
			if (errstr != NULL) {
				fprintf(stderr, "shmsupervise: --max-restarts:"
				    " '%s' is %s (0..%d)\n", optarg, errstr,
				    MAX_RESTARTS_CAP);
				usage();
			}
			break;
		case OPT_WINDOW:
			conf.restart_window_s = (parse_secs("--restart-window",
			    optarg, 86400) + 999) / 1000;
			break;
		case OPT_BACKOFF:
			conf.backoff_max_ms = parse_secs("--backoff-max",
			    optarg, 3600);
			break;
		case OPT_MAXHOCONNS:
			conf.max_handoff_conns = (unsigned)strtonum(optarg, 0,
			    SUP_HANDOFF_CONNS_CAP, &errstr);
			if (errstr != NULL) {
				fprintf(stderr, "shmsupervise: "
				    "--max-handoff-conns: '%s' is %s (0..%d)\n",
				    optarg, errstr, SUP_HANDOFF_CONNS_CAP);
				usage();
			}
			break;
		case OPT_MAXHOBLOB:
			conf.max_handoff_blob = (uint64_t)strtonum(optarg, 0,
			    SHMS_HANDOFF_BLOB_MAX, &errstr);
			if (errstr != NULL) {
				fprintf(stderr, "shmsupervise: "
				    "--max-handoff-blob: '%s' is %s (0..%u "
				    "bytes)\n", optarg, errstr,
				    SHMS_HANDOFF_BLOB_MAX);
				usage();
			}
			break;
		case OPT_PIDFILE:
			conf.pidfile = optarg;
			break;
		case OPT_DIR:
			if (optarg[0] == '\0')
				usage();
			strlcpy(conf.root, optarg, sizeof(conf.root));
			break;
		case 'd':
			conf.debug = 1;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (conf.name[0] == '\0') {
		fprintf(stderr, "shmsupervise: --name is required\n");
		usage();
	}
	if (argc < 1) {
		fprintf(stderr, "shmsupervise: no service binary given\n");
		usage();
	}
	if (argc > SUP_ARGS_MAX) {
		fprintf(stderr, "shmsupervise: more than %d arguments\n",
		    SUP_ARGS_MAX);
		usage();
	}
	if (check_binary(argv[0], conf.binary, sizeof(conf.binary), err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "shmsupervise: %s\n", err);
		usage();
	}
	for (i = 0; i < argc; i++)
		conf.argv[i] = argv[i];
	conf.argc = argc;
	for (i = 0; i < nl; i++)
		if (listen_parse(listens[i], &conf.ls[i], conf.name, err,
		    sizeof(err)) == -1) {
			fprintf(stderr, "shmsupervise: --listen %s\n", err);
			usage();
		}
	conf.nls = nl;

	log_init("shmsupervise", conf.debug);
	log_setname(conf.name);
	if (conf.root[0] == '\0') {
		root = getenv("SHMSTATE_DIR");
		strlcpy(conf.root, root && root[0] ? root : SHMS_DEFAULT_DIR,
		    sizeof(conf.root));
	}
	if (snprintf(conf.dir, sizeof(conf.dir), "%s/%s", conf.root,
	    conf.name) >= (int)sizeof(conf.dir))
		fatalx("state directory path too long");

	make_dirs();
	take_lock();
	if (conf.pidfile != NULL) {
		pfh = pidfile_open(conf.pidfile, 0600, &other);
		if (pfh == NULL) {
			if (errno == EEXIST)
				fatalx("%s: already running, pid %ld",
				    conf.pidfile, (long)other);
			fatal("pidfile %s", conf.pidfile);
		}
	}
	atexit(cleanup);
	raise_nofile();
	open_signals();
	/* Orphans of the service become ours to reap, not init's. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) == -1)
		log_warn("PR_SET_CHILD_SUBREAPER");
	for (i = 0; i < conf.nls; i++) {
		if (listen_open(&conf.ls[i], err, sizeof(err)) == -1)
			fatalx("listen %s", err);
		log_info("listening on %s (fd name %s)", conf.ls[i].desc,
		    conf.ls[i].name);
	}
	if ((notify_fd = notify_open(conf.dir, notify_addr,
	    sizeof(notify_addr))) == -1)
		fatal("notify socket in %s", conf.dir);
	if (control_open(conf.dir, err, sizeof(err)) == -1)
		fatalx("control socket: %s", err);
	if (pfh != NULL && pidfile_write(pfh) == -1)
		fatal("pidfile_write %s", conf.pidfile);

	t_start = now_ns();
	start_child(conf.binary);
	loop();
	fdstore_drop("supervisor stopping");

	if (stop_waiter != -1)
		control_reply(stop_waiter, exit_code ? "error stopped after "
		    "failures\n" : "ok stopped\n");
	log_info("exiting with status %d", exit_code);
	return exit_code;
}
