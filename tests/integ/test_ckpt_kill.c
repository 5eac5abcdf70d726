/*
 * test_ckpt_kill: kill -9 the writer of a checkpoint at many moments; a
 * separate process then adopts, and must get EITHER the previous committed
 * checkpoint OR the new one, complete and byte-exact: never a mix, never
 * a half-written segment, never a crash.
 *
 * Three kinds of moments:
 *  - every step of a checkpoint (begin, each segment created, each chunk
 *    written, each segment sealed, right before commit, right after): the
 *    writer reports each step over a pipe and waits for our go-ahead, so
 *    the kill lands exactly there and the expected outcome is known;
 *  - random delays spread over the measured duration of a whole writer;
 *  - random delays inside shms_ckpt_commit() itself (from "before commit"
 *    to "after commit" as measured).
 * Between kills, the adopter also garbage-collects what the dead writers
 * left, as a restarted service would.
 *
 * Then the adopter itself is killed at every few steps of an adoption that
 * releases pages as it reads: before its first release the checkpoint
 * must still adopt intact; after it, the next adopter must be refused
 * (SHMS_ESTATE: consumed), never handed released pages as data.
 *
 * Prints "kill-matrix: N kills ..., T torn" and fails if T > 0.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <poll.h>

#include "helper_kv.h"

#define SERVICE		"killmatrix"
#define RANDOM_KILLS	24
#define COMMIT_KILLS	16
#define ADOPT_KILLS	12

static struct kvt_spec spec = {
	.nseg = 3,
	/* Not a multiple of the chunk or the page: the last chunk is short. */
	.seg_len = (1u << 20) + 4096 + 8,
	.chunk = 128u << 10,
	.progress_fd = -1,
	.ack_fd = -1,
};

static unsigned kills, torn, crashes, got_old, got_new, adopt_kills;
static unsigned adopt_intact, adopt_refused;


/* The writer child: checkpoint `tag' and exit 0, or report and exit 1. */
static pid_t
start_writer(uint64_t tag, int progress_fd, int ack_fd, int close1,
    int close2)
{
	struct kvt_spec sp = spec;
	struct shms_svc *svc;
	char why[KVT_WHY];
	uint64_t gen, commit_ns = 0;
	pid_t pid;
	int rc;

	fflush(NULL);
	if ((pid = fork()) < 0)
		kvt_die("fork: %s", strerror(errno));
	if (pid > 0)
		return pid;
	sp.commit_ns = &commit_ns;
	if (close1 >= 0)
		close(close1);
	if (close2 >= 0)
		close(close2);
	sp.progress_fd = progress_fd;
	sp.ack_fd = ack_fd;
	sp.reserve = (int)(tag & 1);
	if ((rc = shms_svc_open(&svc, NULL, SERVICE, 0)) < 0) {
		fprintf(stderr, "writer %" PRIu64 ": svc_open: %s\n", tag,
		    shms_strerror(rc));
		_exit(1);
	}
	if ((rc = kvt_write(svc, tag, &sp, &gen, why)) < 0) {
		fprintf(stderr, "writer %" PRIu64 ": %s\n", tag, why);
		_exit(1);
	}
	shms_svc_close(svc);
	/* For time_writer(): the commit's duration, measured here. */
	if (progress_fd >= 0 && ack_fd < 0 &&
	    write(progress_fd, &commit_ns, sizeof(commit_ns)) < 0)
		_exit(1);
	_exit(0);
}

static int
reap(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			kvt_die("waitpid: %s", strerror(errno));
	return st;
}

struct verify_arg {
	enum shms_verify verify;
};

/* The adopter child: which checkpoint is there, and is it exact? */
static void
verify_fn(struct kvt_result *r, void *arg)
{
	struct verify_arg *va = arg;
	struct shms_svc *svc;
	int rc;

	if ((rc = shms_svc_open(&svc, NULL, SERVICE, 0)) < 0) {
		r->rc = kvt_fail(NULL, rc, r->why, "svc_open");
		return;
	}
	r->rc = kvt_verify(svc, &spec, va->verify, -1, &r->tag, &r->gen,
	    r->why);
	/* Clear the dead writers' leftovers, as a restarted owner would. */
	if (r->rc == 0 && (rc = shms_svc_gc(svc, NULL, NULL)) < 0)
		r->rc = kvt_fail(svc, rc, r->why, "svc_gc");
	shms_svc_close(svc);
}

/*
 * After a kill: adopts in a separate process and checks the outcome.
 * want is the tag that must be there, or 0 if either old or new may.
 * Returns the tag now committed.
 */
static uint64_t
check(uint64_t old, uint64_t new, uint64_t want, const char *when)
{
	static unsigned n;
	struct verify_arg va;
	struct kvt_result r;

	/* Alternate the two ways of reading a payload. */
	va.verify = (n++ & 1) ? SHMS_VERIFY_STREAM : SHMS_VERIFY_FULL;
	if (kvt_child(verify_fn, &va, &r) < 0)
		kvt_die("fork: %s", strerror(errno));
	if (r.rc == KVT_CRASHED) {
		crashes++;
		torn++;
		fprintf(stderr, "CRASH after kill %s: %s\n", when, r.why);
		return old;
	}
	if (r.rc < 0 || (r.tag != old && r.tag != new) ||
	    (want != 0 && r.tag != want)) {
		torn++;
		fprintf(stderr, "TORN after kill %s: rc %d tag %" PRIu64
		    " (old %" PRIu64 ", new %" PRIu64 ", want %" PRIu64 "): "
		    "%s\n", when, r.rc, r.tag, old, new, want, r.why);
		return old;
	}
	if (r.tag == new)
		got_new++;
	else
		got_old++;
	return r.tag;
}

static int
read_step(int fd, char *c, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	ssize_t n;

	if (poll(&pfd, 1, timeout_ms) <= 0)
		kvt_die("writer made no progress in %d ms", timeout_ms);
	while ((n = read(fd, c, 1)) < 0 && errno == EINTR)
		;
	return n == 1;
}

/*
 * Lets a child started by start(progress fd, ack fd, ...) run step by
 * step and kills it when it reports step k. Returns the code of step k;
 * *released tells whether an 'r' step (a release) came up to then.
 */
static char
kill_at(pid_t (*start)(uint64_t, int, int, int, int), uint64_t tag,
    unsigned k, int *released)
{
	int prog[2], ack[2], st;
	unsigned step = 0;
	char c = 0;
	pid_t pid;

	if (pipe(prog) < 0 || pipe(ack) < 0)
		kvt_die("pipe: %s", strerror(errno));
	pid = start(tag, prog[1], ack[0], prog[0], ack[1]);
	close(prog[1]);
	close(ack[0]);
	*released = 0;
	for (;;) {
		if (!read_step(prog[0], &c, 10000))
			kvt_die("child %" PRIu64 " exited before step %u", tag, k);
		*released |= c == 'r';
		if (step == k) {
			kill(pid, SIGKILL);
			break;
		}
		if (write(ack[1], "g", 1) != 1)
			kvt_die("ack: %s", strerror(errno));
		step++;
	}
	st = reap(pid);
	close(prog[0]);
	close(ack[1]);
	if (!WIFSIGNALED(st))
		kvt_die("child %" PRIu64 " was not killed (status %d)", tag, st);
	kills++;
	return c;
}

/* Kills the writer exactly when it reports step k. */
static uint64_t
kill_at_step(uint64_t committed, uint64_t tag, unsigned k)
{
	char c, when[64];
	int released;

	c = kill_at(start_writer, tag, k, &released);
	snprintf(when, sizeof(when), "at step %u '%c'", k, c);
	/* Only a kill after the commit returned may show the new tag. */
	return check(committed, tag, c == 'D' ? tag : committed, when);
}

/* Kills the writer delay_ns after it starts, or after it reports 'C'. */
static uint64_t
kill_after(uint64_t committed, uint64_t tag, uint64_t delay_ns,
    int from_commit, const char *what)
{
	struct timespec ts;
	int prog[2] = { -1, -1 }, st;
	char c = 0, when[80];
	pid_t pid;

	if (from_commit && pipe(prog) < 0)
		kvt_die("pipe: %s", strerror(errno));
	pid = start_writer(tag, prog[1], -1, prog[0], -1);
	if (from_commit) {
		close(prog[1]);
		while (c != 'C')
			if (!read_step(prog[0], &c, 10000))
				kvt_die("writer %" PRIu64 " exited before commit",
				    tag);
	}
	if (delay_ns < 2000000) {
		/* Spin: a short sleep overshoots by the timer slack (50 us),
		 * longer than a whole commit. */
		uint64_t end = kvt_now_ns() + delay_ns;

		while (kvt_now_ns() < end)
			;
	} else {
		ts.tv_sec = (time_t)(delay_ns / 1000000000u);
		ts.tv_nsec = (long)(delay_ns % 1000000000u);
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
	kill(pid, SIGKILL);
	st = reap(pid);
	if (from_commit)
		close(prog[0]);
	if (WIFEXITED(st) && WEXITSTATUS(st) != 0)
		kvt_die("writer %" PRIu64 " failed (exit %d)", tag,
		    WEXITSTATUS(st));
	kills++;
	snprintf(when, sizeof(when), "%s +%.3f ms (%s)", what,
	    (double)delay_ns / 1e6,
	    WIFSIGNALED(st) ? "killed" : "had finished");
	/* A writer that finished before the kill must have committed. */
	return check(committed, tag, WIFEXITED(st) ? tag : 0, when);
}

/*
 * The adopter child: reads every segment with STREAM verification,
 * releasing pages as it goes, reporting each step and waiting for our
 * go-ahead.
 */
static pid_t
start_adopter(uint64_t unused, int progress_fd, int ack_fd, int close1,
    int close2)
{
	struct kvt_spec sp = spec;
	struct shms_svc *svc;
	char why[KVT_WHY];
	uint64_t tag, gen;
	pid_t pid;
	int rc;

	(void)unused;
	fflush(NULL);
	if ((pid = fork()) < 0)
		kvt_die("fork: %s", strerror(errno));
	if (pid > 0)
		return pid;
	close(close1);
	close(close2);
	sp.progress_fd = progress_fd;
	sp.ack_fd = ack_fd;
	sp.release = 1;
	if ((rc = shms_svc_open(&svc, NULL, SERVICE, 0)) < 0)
		_exit(1);
	rc = kvt_verify(svc, &sp, SHMS_VERIFY_STREAM, 0, &tag, &gen, why);
	if (rc < 0)
		fprintf(stderr, "adopter: %s\n", why);
	_exit(rc < 0);
}

/*
 * Kills an adopter at step k. Before its first release the checkpoint
 * must still adopt, exact; after it, the checkpoint is consumed and the
 * next adopter must be refused (SHMS_ESTATE), never handed zeros as data.
 * Then a new checkpoint is written for the next round.
 */
static uint64_t
kill_adopter_at(uint64_t committed, uint64_t tag, unsigned k)
{
	struct verify_arg va = { SHMS_VERIFY_FULL };
	struct kvt_result r;
	int st, released, ok;
	pid_t pid;
	char c;

	c = kill_at(start_adopter, tag, k, &released);
	adopt_kills++;
	if (kvt_child(verify_fn, &va, &r) < 0)
		kvt_die("fork: %s", strerror(errno));
	ok = released ? r.rc == SHMS_ESTATE :
	    r.rc == 0 && r.tag == committed;
	if (ok && released)
		adopt_refused++;
	else if (ok)
		adopt_intact++;
	else {
		torn++;
		crashes += r.rc == KVT_CRASHED;
		fprintf(stderr, "BAD after adopter kill at step %u '%c': rc %d "
		    "tag %" PRIu64 " (want %s): %s\n", k, c, r.rc, r.tag,
		    released ? "SHMS_ESTATE" : "intact", r.why);
	}
	/* A fresh checkpoint for the next round. */
	pid = start_writer(tag, -1, -1, -1, -1);
	st = reap(pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		kvt_die("writer %" PRIu64 " failed (status %d)", tag, st);
	return tag;
}

/* Runs a whole writer, timing it and its commit. */
static void
time_writer(uint64_t tag, uint64_t *total_ns, uint64_t *commit_ns)
{
	uint64_t t0;
	int prog[2], st;
	char c = 0;
	pid_t pid;

	if (pipe(prog) < 0)
		kvt_die("pipe: %s", strerror(errno));
	t0 = kvt_now_ns();
	pid = start_writer(tag, prog[1], -1, prog[0], -1);
	close(prog[1]);
	while (c != 'D')
		if (!read_step(prog[0], &c, 10000))
			kvt_die("writer %" PRIu64 " exited before commit", tag);
	if (read(prog[0], commit_ns, sizeof(*commit_ns)) !=
	    (ssize_t)sizeof(*commit_ns))
		kvt_die("writer %" PRIu64 ": no commit time", tag);
	st = reap(pid);
	close(prog[0]);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		kvt_die("writer %" PRIu64 " failed (status %d)", tag, st);
	*total_ns = kvt_now_ns() - t0;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Files left in the service directory: the committed set, nothing more. */
static unsigned
count_files(void)
{
	char path[4096];
	struct dirent *de;
	unsigned n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "%s/%s", getenv("SHMSTATE_DIR"), SERVICE);
	if ((d = opendir(path)) == NULL)
		kvt_die("opendir %s: %s", path, strerror(errno));
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, "ckpt.", 5) == 0)
			n++;
	closedir(d);
	return n;
}

int
main(void)
{
	uint64_t committed, tag = 0, tot[3], com[3], total_ns, commit_ns;
	uint64_t delay, t0 = kvt_now_ns();
	unsigned k, i, nsteps, files, old0, new0;

	kvt_state_dir();
	srandom((unsigned)getpid());
	nsteps = kvt_nsteps(&spec);

	/* A first committed checkpoint, timing the writer as we go. */
	for (i = 0; i < 3; i++)
		time_writer(++tag, &tot[i], &com[i]);
	committed = check(tag - 1, tag, tag, "none (initial)");
	qsort(tot, 3, sizeof(tot[0]), cmp_u64);
	qsort(com, 3, sizeof(com[0]), cmp_u64);
	total_ns = tot[1];
	commit_ns = com[1] > 20000 ? com[1] : 20000;
	printf("writer: %.2f ms (commit %.3f ms), %u steps\n",
	    (double)total_ns / 1e6, (double)com[1] / 1e6, nsteps);

	for (k = 0; k < nsteps; k++) {
		tag++;
		committed = kill_at_step(committed, tag, k);
	}
	for (i = 0; i < RANDOM_KILLS; i++) {
		/* Spread over [0, 1.1 x duration), jittered within a slot. */
		delay = total_ns * 11 / 10 * i / RANDOM_KILLS +
		    (uint64_t)random() % (total_ns * 11 / 10 / RANDOM_KILLS + 1);
		tag++;
		committed = kill_after(committed, tag, delay, 0, "random");
	}
	old0 = got_old;
	new0 = got_new;
	for (i = 0; i < COMMIT_KILLS; i++) {
		delay = commit_ns * 3 / 2 * i / COMMIT_KILLS +
		    (uint64_t)random() % (commit_ns * 3 / 2 / COMMIT_KILLS + 1);
		tag++;
		committed = kill_after(committed, tag, delay, 1, "in commit");
	}
	nsteps = spec.nseg * (1 + (unsigned)((spec.seg_len + spec.chunk - 1) /
	    spec.chunk));
	for (i = 0; i < ADOPT_KILLS; i++) {
		tag++;
		committed = kill_adopter_at(committed, tag,
		    i * nsteps / ADOPT_KILLS);
	}
	printf("adopter kills: %u before a release (adopted intact after), "
	    "%u after (refused as consumed)\n", adopt_intact, adopt_refused);
	nsteps = kvt_nsteps(&spec);
	/* Shows whether the commit kills landed on both sides of the rename. */
	printf("in commit: old %u, new %u\n", got_old - old0, got_new - new0);
	files = count_files();
	printf("kill-matrix: %u kills (writer: %u at steps, %u random, %u in "
	    "commit; adopter: %u), %u torn, %u crashes; adopted old %u, new "
	    "%u; %u files left; %.1f s\n", kills, nsteps, RANDOM_KILLS,
	    COMMIT_KILLS, adopt_kills, torn, crashes, got_old, got_new, files,
	    (double)(kvt_now_ns() - t0) / 1e9);
	if (files != spec.nseg)
		kvt_die("%u checkpoint files left after gc, expected %u", files,
		    spec.nseg);
	return torn == 0 ? 0 : 1;
}
