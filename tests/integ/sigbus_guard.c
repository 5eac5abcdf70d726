/*
 * sigbus_guard: checks shmctl's SIGBUS guard (tools/shmctl/ctl_guard.c)
 * on a real file truncated under a real mapping; run by
 * test_shmctl_arena_sigbus.sh, built by tools/shmctl/shmctl.mk.
 *
 *  - a guarded call that touches a page lost to a truncation returns
 *    CTL_GUARD_FIRED; the mapping and the descriptor it opened are gone,
 *    the caller's SIGBUS handler is back, SIGBUS is not left blocked;
 *    200 fired guards in a row leak neither;
 *  - a guarded call that returns gives its own value;
 *  - a fault outside any guard, and a SIGBUS sent by raise() inside one,
 *    still kill the process (checked in children).
 * Exit status 0 when all hold; "FAIL: ..." on stderr otherwise.
 */
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <err.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shmctl.h"

#define NPAGES	4

static char		 path[256];
static size_t		 pg;
static volatile char	 sink;	/* where page reads go, not optimized out */

struct touch {
	char	*map;	/* the mapping the call made */
	int	 fd;	/* its descriptor */
};

static void
fail(const char *what)
{
	fprintf(stderr, "FAIL: %s\n", what);
	exit(1);
}

static int
fd_count(void)
{
	struct dirent *d;
	DIR *dp;
	int n = 0;

	if ((dp = opendir("/proc/self/fd")) == NULL)
		err(1, "/proc/self/fd");
	while ((d = readdir(dp)) != NULL)
		if (d->d_name[0] != '.')
			n++;
	closedir(dp);
	return n;
}

/* Whether some mapping of this process holds address p. */
static int
mapped(const void *p)
{
	unsigned long long lo, hi;
	char line[4096];
	FILE *fp;
	int found = 0;

	if ((fp = fopen("/proc/self/maps", "re")) == NULL)
		err(1, "/proc/self/maps");
	while (!found && fgets(line, sizeof(line), fp) != NULL)
		if (sscanf(line, "%llx-%llx", &lo, &hi) == 2 &&
		    (uintptr_t)p >= lo && (uintptr_t)p < hi)
			found = 1;
	fclose(fp);
	return found;
}

/* A fresh NPAGES-page file. */
static void
make_file(void)
{
	int fd;

	if ((fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) < 0 || ftruncate(fd, (off_t)(NPAGES * pg)) != 0)
		err(1, "%s", path);
	close(fd);
}

/*
 * Like shms_arena_inspect() when the file is cut meanwhile: opens, maps,
 * the file loses all but its first page, then a lost page is read.
 */
static int
touch_lost(void *arg)
{
	struct touch *t = arg;
	int wfd;

	if ((t->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	t->map = mmap(NULL, NPAGES * pg, PROT_READ, MAP_SHARED, t->fd, 0);
	if (t->map == MAP_FAILED)
		return -2;
	if ((wfd = open(path, O_WRONLY | O_CLOEXEC)) < 0 ||
	    ftruncate(wfd, (off_t)pg) != 0)
		return -3;
	close(wfd);
	sink = t->map[(NPAGES - 1) * pg];
	return 0;
}

/* Reads every page of an intact mapping and cleans up. */
static int
touch_intact(void *arg)
{
	char *map;
	size_t i;
	int fd;

	(void)arg;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	map = mmap(NULL, NPAGES * pg, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (map == MAP_FAILED)
		return -2;
	for (i = 0; i < NPAGES; i++)
		sink = map[i * pg];
	munmap(map, NPAGES * pg);
	return -42;
}

static int
raise_bus(void *arg)
{
	(void)arg;
	raise(SIGBUS);
	return 0;
}

static void
sentinel(int sig)
{
	(void)sig;
	_exit(3);
}

/* Runs fn in a child; fails unless the child did not exit 0. */
static void
must_die(void (*fn)(void), const char *what)
{
	pid_t pid;
	int st;

	fflush(NULL);
	if ((pid = fork()) < 0)
		err(1, "fork");
	if (pid == 0) {
		signal(SIGBUS, SIG_DFL);
		fn();
		_exit(0);
	}
	if (waitpid(pid, &st, 0) != pid)
		err(1, "waitpid");
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		fail(what);
	printf("ok: %s (%s %d)\n", what, WIFSIGNALED(st) ? "signal" :
	    "exit", WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
}

static void
fault_unguarded(void)
{
	struct touch t;

	make_file();
	if (ctl_guard_run(touch_intact, NULL) != -42)
		_exit(0);
	/* The guard is off again: this fault must not be swallowed. */
	touch_lost(&t);
}

static void
raise_guarded(void)
{
	ctl_guard_run(raise_bus, NULL);
}

int
main(void)
{
	struct sigaction sa, cur;
	struct touch t;
	sigset_t mask;
	int base, i, rc;

	pg = (size_t)sysconf(_SC_PAGESIZE);
	snprintf(path, sizeof(path), "%s/sigbus_guard.%d",
	    getenv("SHMSTATE_DIR") ? getenv("SHMSTATE_DIR") : "/tmp",
	    (int)getpid());

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = sentinel;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, NULL) != 0)
		err(1, "sigaction");

	make_file();
	base = fd_count();
	memset(&t, 0, sizeof(t));
	rc = ctl_guard_run(touch_lost, &t);
	if (rc != CTL_GUARD_FIRED)
		fail("a fault in a guarded call did not fire the guard");
	if (t.map == NULL || mapped(t.map))
		fail("the mapping that faulted is still mapped");
	if (fcntl(t.fd, F_GETFD) != -1 || fd_count() != base)
		fail("the descriptor of the faulting file is still open");
	if (sigaction(SIGBUS, NULL, &cur) != 0 || cur.sa_handler != sentinel)
		fail("the previous SIGBUS disposition was not restored");
	if (sigprocmask(SIG_BLOCK, NULL, &mask) != 0 ||
	    sigismember(&mask, SIGBUS))
		fail("SIGBUS left blocked after the jump");
	printf("ok: fired, mapping and descriptor released, "
	    "disposition restored\n");

	for (i = 0; i < 200; i++) {
		make_file();
		if (ctl_guard_run(touch_lost, &t) != CTL_GUARD_FIRED)
			fail("a repeated guard did not fire");
		if (mapped(t.map))
			fail("a repeated guard left its mapping");
	}
	if (fd_count() != base)
		fail("200 fired guards leaked descriptors");
	printf("ok: 200 fired guards, no descriptor or mapping left\n");

	make_file();
	if ((rc = ctl_guard_run(touch_intact, NULL)) != -42)
		fail("a guarded call's own return value was not passed on");
	printf("ok: a call that returns gives its value\n");

	must_die(fault_unguarded, "a fault outside the guard still kills");
	must_die(raise_guarded, "a raised SIGBUS inside the guard still kills");
	unlink(path);
	return 0;
}
