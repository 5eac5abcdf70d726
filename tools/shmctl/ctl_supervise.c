/*
 * ctl_supervise.c: shmctl status, upgrade, restart, stop: requests to a
 * running shmsupervise(8) over $SHMSTATE_DIR/<name>/control.sock.
 *
 * The protocol is one request line; the reply is "ok[ text]" or
 * "error text", then "key value" lines, then the supervisor closes.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bsd/string.h>

#include "shmctl.h"

/* The supervisor's replies fit 16 KiB (struct ctl_buf): more is not one. */
#define REPLY_MAX	(64 * 1024)
#define KV_MAX		128

struct reply {
	char	 buf[REPLY_MAX + 1];
	char	*first;			/* first line */
	size_t	 n;
	char	*key[KV_MAX], *val[KV_MAX];
};

static const char *
root_path(const struct shmctl_opts *g)
{
	const char *e = getenv("SHMSTATE_DIR");

	if (g->root != NULL)
		return g->root;
	return e != NULL && e[0] != '\0' ? e : SHMS_DEFAULT_DIR;
}

/* Milliseconds left until deadline (CLOCK_MONOTONIC), at least 0. */
static int
ms_left(const struct timespec *deadline)
{
	struct timespec now;
	long long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (long long)(deadline->tv_sec - now.tv_sec) * 1000 +
	    (deadline->tv_nsec - now.tv_nsec) / 1000000;
	return ms > 0 ? (int)ms : 0;
}

/*
 * Sends req to the supervisor of service and reads the whole reply.
 * timeout_ms bounds the whole reply, not each read: a peer sending a byte
 * at a time cannot hold shmctl longer. timeout_ms < 0 waits as long as
 * the supervisor takes (an upgrade ends within its stop and ready
 * timeouts). Returns 0, or CTL_EXIT_FAIL after saying why.
 */
static int
request(const struct shmctl_opts *g, const char *service, const char *req,
    int timeout_ms, struct reply *r)
{
	struct sockaddr_un sa;
	struct timespec deadline;
	struct pollfd p;
	size_t len = 0;
	ssize_t n;
	char *line, *next;
	int s;

	if (shms_name_valid(service) != 0) {
		warnx("invalid service name: %s", ctl_vis(service));
		return CTL_EXIT_USAGE;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path),
	    "%s/%s/control.sock", root_path(g), service) >=
	    sizeof(sa.sun_path)) {
		warnx("%s: control socket path too long", service);
		return CTL_EXIT_FAIL;
	}
	if ((s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		err(CTL_EXIT_FAIL, "socket");
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		int e = errno;

		close(s);
		if (e == ENOENT || e == ECONNREFUSED)
			warnx("%s: no supervisor running (%s: %s)", service,
			    ctl_vis(sa.sun_path), strerror(e));
		else
			warnx("%s: %s", ctl_vis(sa.sun_path), strerror(e));
		return CTL_EXIT_FAIL;
	}
	if (send(s, req, strlen(req), MSG_NOSIGNAL) != (ssize_t)strlen(req)) {
		warn("%s: send", service);
		close(s);
		return CTL_EXIT_FAIL;
	}
	p.fd = s;
	p.events = POLLIN;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	for (;;) {
		int pr = poll(&p, 1, timeout_ms < 0 ? -1 : ms_left(&deadline));

		if (pr == -1 && errno == EINTR)
			continue;
		if (pr <= 0) {
			warnx("%s: no reply from the supervisor%s", service,
			    pr == 0 ? " (timeout)" : "");
			close(s);
			return CTL_EXIT_FAIL;
		}
		n = recv(s, r->buf + len, REPLY_MAX - len, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0 || (len += (size_t)n) == REPLY_MAX)
			break;
	}
	close(s);
	if (len == REPLY_MAX) {
		warnx("%s: reply from the supervisor longer than %d bytes: "
		    "refused", service, REPLY_MAX);
		return CTL_EXIT_FAIL;
	}
	r->buf[len] = '\0';
	/* Lines are C strings from here on: a NUL would cut one short. */
	if (len == 0 || memchr(r->buf, '\n', len) == NULL ||
	    memchr(r->buf, '\0', len) != NULL) {
		warnx("%s: malformed or empty reply from the supervisor",
		    service);
		return CTL_EXIT_FAIL;
	}
	r->n = 0;
	r->first = r->buf;
	next = strchr(r->buf, '\n');
	*next++ = '\0';
	while ((line = next) != NULL && *line != '\0' && r->n < KV_MAX) {
		char *sp;

		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if ((sp = strchr(line, ' ')) == NULL)
			continue;
		*sp = '\0';
		r->key[r->n] = line;
		r->val[r->n++] = sp + 1;
	}
	return 0;
}

static const char *
get(const struct reply *r, const char *key)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		if (strcmp(r->key[i], key) == 0)
			return r->val[i];
	return NULL;
}

/* A value to print: the peer's bytes escaped (ctl_vis), or dflt. */
static const char *
get_or(const struct reply *r, const char *key, const char *dflt)
{
	const char *v = get(r, key);

	return v != NULL ? ctl_vis(v) : dflt;
}

/*
 * A JSON number as the supervisor prints them: digits without a leading
 * zero, maybe one '.' with digits on both sides.
 */
static int
json_number(const char *v)
{
	size_t n = strspn(v, "0123456789");

	if (n == 0 || (n > 1 && v[0] == '0'))
		return 0;
	if (v[n] == '.') {
		v += n + 1;
		if ((n = strspn(v, "0123456789")) == 0)
			return 0;
	}
	return v[n] == '\0';
}

static int
is_ok(const struct reply *r)
{
	return strcmp(r->first, "ok") == 0 || strncmp(r->first, "ok ", 3) == 0;
}

/* Keys whose values are JSON numbers. */
static int
numeric(const char *key)
{
	static const char *nums[] = {
		"supervisor_pid", "pid", "generation", "uptime_s",
		"supervisor_uptime_s", "restarts", "stop_ms", "checkpoint_ms",
		"exec_ms", "ready_ms", "adopt_ms", "total_ms", "overhead_ms",
		"old_killed", "new_owned_state", "handoff_held",
		"handoff_handed", "handoff_taken", "handoff_closed",
		"handoff_over_limit", "handoff_refused",
	};
	size_t i;

	if (strncmp(key, "last_", 5) == 0)
		key += 5;
	for (i = 0; i < sizeof(nums) / sizeof(nums[0]); i++)
		if (strcmp(key, nums[i]) == 0)
			return 1;
	return 0;
}

static void
print_json(const struct reply *r)
{
	size_t i, j;
	int first = 1, arr;

	printf("{");
	for (i = 0; i < r->n; i++) {
		const char *k = r->key[i];

		/* Repeated keys (listen, stderr) become arrays, once. */
		for (j = 0; j < i; j++)
			if (strcmp(r->key[j], k) == 0)
				break;
		if (j < i)
			continue;
		arr = strcmp(k, "listen") == 0 || strstr(k, "stderr") != NULL;
		printf("%s\n  ", first ? "" : ",");
		first = 0;
		ctl_json_str(stdout, k);
		printf(": ");
		if (arr) {
			int f2 = 1;

			printf("[");
			for (j = i; j < r->n; j++) {
				if (strcmp(r->key[j], k) != 0)
					continue;
				printf("%s", f2 ? "" : ", ");
				f2 = 0;
				ctl_json_str(stdout, r->val[j]);
			}
			printf("]");
		} else if (numeric(k) && json_number(r->val[i]))
			printf("%s", r->val[i]);
		else if (strcmp(r->val[i], "-") == 0)
			printf("null");
		else
			ctl_json_str(stdout, r->val[i]);
	}
	printf("\n}\n");
}

static void
print_timings(const struct reply *r, const char *p)
{
	char k[7][40];
	static const char *names[] = { "stop_ms", "checkpoint_ms", "exec_ms",
	    "ready_ms", "adopt_ms", "total_ms", "overhead_ms" };
	size_t i;

	for (i = 0; i < 7; i++)
		snprintf(k[i], sizeof(k[i]), "%s%s", p, names[i]);
	printf("  phases: stop %s ms (service checkpoint %s ms), exec %s ms, "
	    "ready %s ms (service adopt %s ms)\n", get_or(r, k[0], "-"),
	    get_or(r, k[1], "-"), get_or(r, k[2], "-"), get_or(r, k[3], "-"),
	    get_or(r, k[4], "-"));
	printf("  total %s ms, supervisor overhead %s ms\n",
	    get_or(r, k[5], "-"), get_or(r, k[6], "-"));
}

static void
print_stderr(const struct reply *r, const char *key)
{
	size_t i;
	int any = 0;

	for (i = 0; i < r->n; i++)
		if (strcmp(r->key[i], key) == 0) {
			if (!any)
				printf("  last stderr lines of the new binary:\n");
			any = 1;
			printf("    %s\n", ctl_vis(r->val[i]));
		}
}

int
cmd_status(int argc, char **argv, const struct shmctl_opts *g)
{
	static struct reply r;
	unsigned opts;
	size_t i;
	int rc;

	if ((rc = ctl_opts(argc, argv, CTL_OPT_JSON, &opts)) >= 0)
		return rc;
	argc -= optind;
	argv += optind;
	if (argc != 1) {
		ctl_usage(ctl_find("status"), stderr);
		return CTL_EXIT_USAGE;
	}
	if ((rc = request(g, argv[0], "status\n", 10000, &r)) != 0)
		return rc;
	if (!is_ok(&r)) {
		warnx("%s: %s", argv[0], ctl_vis(r.first));
		return CTL_EXIT_FAIL;
	}
	if (opts & CTL_OPT_JSON) {
		print_json(&r);
		return CTL_EXIT_OK;
	}
	printf("%s: %s, pid %s, %s\n", get_or(&r, "name", argv[0]),
	    get_or(&r, "state", "?"), get_or(&r, "pid", "-"),
	    get_or(&r, "binary", "?"));
	printf("  generation %s, uptime %s s, restarts %s, supervisor pid "
	    "%s\n", get_or(&r, "generation", "-"),
	    get_or(&r, "uptime_s", "-"), get_or(&r, "restarts", "0"),
	    get_or(&r, "supervisor_pid", "-"));
	if (get(&r, "service_status") != NULL)
		printf("  service: %s\n", get_or(&r, "service_status", ""));
	for (i = 0; i < r.n; i++)
		if (strcmp(r.key[i], "listen") == 0)
			printf("  listen: %s\n", ctl_vis(r.val[i]));
	if (get(&r, "handoff_handed") != NULL)
		printf("  connections handed over at the last upgrade: %s, "
		    "taken back %s, closed %s (over limit %s, refused %s); "
		    "held now %s\n", get_or(&r, "handoff_handed", "0"),
		    get_or(&r, "handoff_taken", "0"),
		    get_or(&r, "handoff_closed", "0"),
		    get_or(&r, "handoff_over_limit", "0"),
		    get_or(&r, "handoff_refused", "0"),
		    get_or(&r, "handoff_held", "0"));
	if (strcmp(get_or(&r, "last_result", "none"), "none") == 0) {
		printf("  last upgrade: none\n");
		return CTL_EXIT_OK;
	}
	printf("  last %s: %s, %s -> %s\n", get_or(&r, "last_kind", "?"),
	    get_or(&r, "last_result", "?"),
	    get_or(&r, "last_from", "?"), get_or(&r, "last_to", "?"));
	if (get(&r, "last_reason") != NULL)
		printf("  reason: %s\n", get_or(&r, "last_reason", ""));
	print_timings(&r, "last_");
	print_stderr(&r, "last_stderr");
	return CTL_EXIT_OK;
}

/* upgrade, restart, stop: one request, wait for the outcome. */
static int
action(const char *cmd, const char *service, const char *binary,
    const struct shmctl_opts *g)
{
	static struct reply r;
	char req[PATH_MAX + 32], abs[PATH_MAX];
	int rc;

	if (binary != NULL && binary[0] != '/') {
		/* The supervisor has its own cwd: send an absolute path. */
		if (getcwd(abs, sizeof(abs)) == NULL)
			err(CTL_EXIT_FAIL, "getcwd");
		if (strlcat(abs, "/", sizeof(abs)) >= sizeof(abs) ||
		    strlcat(abs, binary, sizeof(abs)) >= sizeof(abs))
			errx(CTL_EXIT_FAIL, "%s: path too long", binary);
		binary = abs;
	}
	if (binary != NULL && strpbrk(binary, " \t\r\n") != NULL) {
		warnx("%s: the binary path may not contain white space",
		    ctl_vis(binary));
		return CTL_EXIT_USAGE;
	}
	if ((size_t)snprintf(req, sizeof(req), "%s%s%s\n", cmd,
	    binary ? " " : "", binary ? binary : "") >= sizeof(req))
		errx(CTL_EXIT_FAIL, "request too long");
	if ((rc = request(g, service, req, -1, &r)) != 0)
		return rc;
	if (!is_ok(&r)) {
		warnx("%s: %s", service, ctl_vis(r.first));
		print_stderr(&r, "stderr");
		if (get(&r, "pid") != NULL && strcmp(get(&r, "pid"), "0") != 0)
			printf("  now running: %s, pid %s\n",
			    get_or(&r, "binary", "?"), get_or(&r, "pid", "-"));
		return CTL_EXIT_FAIL;
	}
	if (strcmp(cmd, "stop") == 0) {
		printf("%s: stopped\n", service);
		return CTL_EXIT_OK;
	}
	printf("%s: %s done: %s, pid %s\n", service, cmd,
	    get_or(&r, "binary", "?"), get_or(&r, "pid", "-"));
	print_timings(&r, "");
	return CTL_EXIT_OK;
}

int
cmd_upgrade(int argc, char **argv, const struct shmctl_opts *g)
{
	static const struct option opts[] = {
		{ "binary",	required_argument,	NULL, 'b' },
		{ "help",	no_argument,		NULL, 'h' },
		{ NULL,		0,			NULL, 0 },
	};
	const char *binary = NULL;
	int ch;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "b:h", opts, NULL)) != -1) {
		if (ch == 'b') {
			binary = optarg;
			continue;
		}
		return ctl_std_opt(argv[0], ch);
	}
	argc -= optind;
	argv += optind;
	if (argc != 1 || (binary != NULL && binary[0] == '\0')) {
		ctl_usage(ctl_find("upgrade"), stderr);
		return CTL_EXIT_USAGE;
	}
	return action("upgrade", argv[0], binary, g);
}

/* restart and stop: SERVICE only. */
static int
simple(const char *cmd, int argc, char **argv, const struct shmctl_opts *g)
{
	int rc;

	if ((rc = ctl_opts(argc, argv, 0, NULL)) >= 0)
		return rc;
	argc -= optind;
	argv += optind;
	if (argc != 1) {
		ctl_usage(ctl_find(cmd), stderr);
		return CTL_EXIT_USAGE;
	}
	return action(cmd, argv[0], NULL, g);
}

int
cmd_restart(int argc, char **argv, const struct shmctl_opts *g)
{
	return simple("restart", argc, argv, g);
}

int
cmd_stop(int argc, char **argv, const struct shmctl_opts *g)
{
	return simple("stop", argc, argv, g);
}
