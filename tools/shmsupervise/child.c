/*
 * child.c: start the service with the socket-activation environment,
 * capture its stderr, describe how it ended.
 */
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bsd/string.h>

#include "log.h"
#include "shmsupervise.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC	(1U << 2)
#endif

extern char	**environ;

/* Notify address, set once by main (notify_open). */
char		 notify_addr[PATH_MAX];

static const char *env_ours[] = {
	"LISTEN_PID=", "LISTEN_FDS=", "LISTEN_FDNAMES=", "NOTIFY_SOCKET=",
	"SHMSTATE_DIR=", "SHMSTATE_SERVICE=",
};

static int
env_is_ours(const char *e)
{
	size_t i;

	for (i = 0; i < sizeof(env_ours) / sizeof(env_ours[0]); i++)
		if (strncmp(e, env_ours[i], strlen(env_ours[i])) == 0)
			return 1;
	return 0;
}

/*
 * The child's environment: ours minus the protocol variables, plus them
 * with our values. LISTEN_PID is left for the child to fill in, since
 * only it knows its pid; *pidslot points at it.
 */
static char **
build_env(const struct passfd *pf, int npf, char **pidslot)
{
	static char fds[32], dir[PATH_MAX + 16], svc[SHMS_NAME_MAX + 32],
	    nsock[PATH_MAX + 16], pid[32];
	static char names[SUP_PASSFD_MAX * (SHMS_FDNAME_MAX + 1) + 32];
	size_t n = 0, i, k = 0, m, len;
	char **env;
	int j;

	while (environ[n] != NULL)
		n++;
	if ((env = calloc(n + 8, sizeof(*env))) == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		if (!env_is_ours(environ[i]))
			env[k++] = environ[i];
	snprintf(fds, sizeof(fds), "LISTEN_FDS=%d", npf);
	/*
	 * Appended in place: strlcat would rescan thousands of names. Names
	 * are at most SHMS_FDNAME_MAX bytes and npf at most SUP_PASSFD_MAX,
	 * so they fit; a name that would not is refused rather than cut
	 * (the child would count fewer names than fds).
	 */
	m = strlcpy(names, "LISTEN_FDNAMES=", sizeof(names));
	for (j = 0; j < npf; j++) {
		len = strnlen(pf[j].name, SHMS_FDNAME_MAX + 1);
		if (len > SHMS_FDNAME_MAX || len + 2 > sizeof(names) - m) {
			free(env);
			errno = ENAMETOOLONG;
			return NULL;
		}
		if (j > 0)
			names[m++] = ':';
		memcpy(names + m, pf[j].name, len);
		m += len;
		names[m] = '\0';
	}
	snprintf(dir, sizeof(dir), "SHMSTATE_DIR=%s", conf.root);
	snprintf(svc, sizeof(svc), "SHMSTATE_SERVICE=%s", conf.name);
	snprintf(nsock, sizeof(nsock), "NOTIFY_SOCKET=%s", notify_addr);
	strlcpy(pid, "LISTEN_PID=", sizeof(pid));
	env[k++] = pid;
	env[k++] = fds;
	env[k++] = names;
	env[k++] = nsock;
	env[k++] = dir;
	env[k++] = svc;
	env[k] = NULL;
	*pidslot = pid;
	return env;
}

/* In the child, between fork and exec. Never returns. */
__attribute__((noreturn)) static void
child_exec(const char *binary, int binfd, const struct passfd *pf, int n,
    char **argv, char **env, char *pidslot, int errw, int execw,
    pid_t parent)
{
	int tmp[SUP_PASSFD_MAX], i, e, hi = 3 + n;
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	/* Terminal signals go to the supervisor, which forwards them. */
	setpgid(0, 0);
	/* Safety net: a supervisor killed with SIGKILL still stops us. */
	prctl(PR_SET_PDEATHSIG, conf.stop_signal);
	if (getppid() != parent)
		_exit(127);
	if (dup2(errw, STDERR_FILENO) == -1)
		goto fail;
	/* Move what must survive above the target range 3..3+n-1 first. */
	if ((execw = fcntl(execw, F_DUPFD_CLOEXEC, hi)) == -1)
		goto fail;
	if (binfd >= 0 && (binfd = fcntl(binfd, F_DUPFD_CLOEXEC, hi)) == -1)
		goto fail;
	for (i = 0; i < n; i++)
		if ((tmp[i] = fcntl(pf[i].fd, F_DUPFD_CLOEXEC, hi)) == -1)
			goto fail;
	for (i = 0; i < n; i++)
		if (dup2(tmp[i], 3 + i) == -1)	/* clears FD_CLOEXEC */
			goto fail;
	/* Nothing else leaks into the service, whatever opened it. */
	(void)close_range((unsigned)hi, ~0U, CLOSE_RANGE_CLOEXEC);
	snprintf(pidslot + strlen("LISTEN_PID="), 20, "%ld", (long)getpid());
	/*
	 * The file we started before, though the path now names another.
	 * A script cannot be run from a close-on-exec fd (ENOENT): its path
	 * then.
	 */
	if (binfd >= 0)
		syscall(SYS_execveat, binfd, "", argv, env, AT_EMPTY_PATH);
	execve(binary, argv, env);
fail:
	e = errno;
	(void)!write(execw, &e, sizeof(e));
	_exit(127);
}

/*
 * Forks and execs binary with conf.argv[1..] and the listening sockets.
 * Returns 0 with c filled (pid, pipes, t_fork), or -1 with err set.
 */
int
child_start(struct child *c, const char *binary, int binfd,
    const struct passfd *pf, int npf, char *err, size_t errlen)
{
	char *argv[SUP_ARGS_MAX + 1], **env, *pidslot;
	int errp[2] = { -1, -1 }, execp[2] = { -1, -1 }, i;
	pid_t parent = getpid(), pid;

	memset(c, 0, sizeof(*c));
	c->errfd = c->execfd = -1;
	/* Keep the file we start, for a rollback. */
	c->binfd = binfd >= 0 ? binfd : open(binary, O_PATH | O_CLOEXEC);
	strlcpy(c->binary, binary, sizeof(c->binary));
	argv[0] = c->binary;
	for (i = 1; i < conf.argc; i++)
		argv[i] = conf.argv[i];
	argv[i] = NULL;
	if (npf < 0 || npf > SUP_PASSFD_MAX) {
		snprintf(err, errlen, "%d fds to pass (at most %d)", npf,
		    SUP_PASSFD_MAX);
		return -1;
	}
	if ((env = build_env(pf, npf, &pidslot)) == NULL) {
		snprintf(err, errlen, "environment: %s", strerror(errno));
		return -1;
	}
	if (pipe2(errp, O_CLOEXEC) == -1 || pipe2(execp, O_CLOEXEC) == -1) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		goto fail;
	}
	c->t_fork = now_ns();
	pid = fork();
	if (pid == -1) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		goto fail;
	}
	if (pid == 0)
		child_exec(binary, binfd, pf, npf, argv, env, pidslot,
		    errp[1], execp[1], parent);
	free(env);
	close(errp[1]);
	close(execp[1]);
	fcntl(errp[0], F_SETFL, O_NONBLOCK);
	fcntl(execp[0], F_SETFL, O_NONBLOCK);
	c->pid = pid;
	c->errfd = errp[0];
	c->execfd = execp[0];
	return 0;
fail:
	free(env);
	for (i = 0; i < 2; i++) {
		if (errp[i] != -1)
			close(errp[i]);
		if (execp[i] != -1)
			close(execp[i]);
	}
	return -1;
}

/* The exec pipe: EOF means exec succeeded; an int means it failed. */
void
child_read_exec(struct child *c)
{
	ssize_t n;
	int e;

	n = read(c->execfd, &e, sizeof(e));
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n == (ssize_t)sizeof(e)) {
		log_warnx("%s: exec: %s", c->binary, strerror(e));
		snprintf(c->line, sizeof(c->line), "exec %.160s: %.60s", c->binary,
		    strerror(e));
		strlcpy(c->ring[c->ring_next], c->line, SUP_ERR_LINE_MAX);
		c->ring_next = (c->ring_next + 1) % SUP_ERR_LINES;
		if (c->ring_count < SUP_ERR_LINES)
			c->ring_count++;
		c->line[0] = '\0';
	} else
		c->t_exec = now_ns();
	close(c->execfd);
	c->execfd = -1;
}

static void
push_line(struct child *c)
{
	c->line[c->linelen] = '\0';
	log_child(c->pid, c->line);
	strlcpy(c->ring[c->ring_next], c->line, SUP_ERR_LINE_MAX);
	c->ring_next = (c->ring_next + 1) % SUP_ERR_LINES;
	if (c->ring_count < SUP_ERR_LINES)
		c->ring_count++;
	c->linelen = 0;
}

/*
 * Reads what the child wrote to stderr, forwards complete lines and keeps
 * the last ones. Overlong lines are split. final: the child is gone, so
 * read to EOF (bounded) and flush a partial line.
 */
void
child_read_stderr(struct child *c, int final)
{
	char buf[4096];
	ssize_t n;
	int rounds;

	if (c->errfd == -1)
		return;
	for (rounds = 0; rounds < 64; rounds++) {
		n = read(c->errfd, buf, sizeof(buf));
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* EOF, or a grandchild keeps it open: stop either way. */
			if (n == 0 || final) {
				close(c->errfd);
				c->errfd = -1;
			}
			break;
		}
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == '\n') {
				push_line(c);
				continue;
			}
			c->line[c->linelen++] = buf[i];
			if (c->linelen == sizeof(c->line) - 1)
				push_line(c);
		}
		if (!final)
			break;
	}
	if (c->errfd == -1 && c->linelen > 0)
		push_line(c);
}

/* Closes the pipes; the binary fd is closed by child_forget(). */
void
child_close_fds(struct child *c)
{
	if (c->errfd != -1)
		close(c->errfd);
	if (c->execfd != -1)
		close(c->execfd);
	c->errfd = c->execfd = -1;
}

unsigned
child_errlines(const struct child *c, char out[][SUP_ERR_LINE_MAX],
    unsigned n)
{
	unsigned i, k = c->ring_count < n ? c->ring_count : n;
	unsigned start = (c->ring_next + SUP_ERR_LINES - k) % SUP_ERR_LINES;

	for (i = 0; i < k; i++)
		strlcpy(out[i], c->ring[(start + i) % SUP_ERR_LINES],
		    SUP_ERR_LINE_MAX);
	return k;
}

void
child_describe_exit(int wstatus, char *buf, size_t len)
{
	if (WIFEXITED(wstatus))
		snprintf(buf, len, "exited with status %d",
		    WEXITSTATUS(wstatus));
	else if (WIFSIGNALED(wstatus))
		snprintf(buf, len, "killed by signal %d (%s)%s",
		    WTERMSIG(wstatus), strsignal(WTERMSIG(wstatus)),
		    WCOREDUMP(wstatus) ? ", core dumped" : "");
	else
		snprintf(buf, len, "ended with wait status 0x%x", wstatus);
}

void
child_signal(struct child *c, int sig)
{
	if (c->pid <= 0)
		return;
	if (sig == SIGKILL)
		c->killed = 1;
	if (kill(c->pid, sig) == -1 && errno != ESRCH)
		log_warn("kill %ld", (long)c->pid);
}
