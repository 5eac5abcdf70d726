/*
 * ctl_guard.c: survive SIGBUS while reading an arena through a mapping.
 *
 * shms_arena_inspect() maps the arena file; another process of the same
 * uid may truncate it meanwhile, and touching a page past the new end
 * raises SIGBUS. The library cannot catch that (a signal disposition is
 * process-global state), so shmctl does: ctl_guard_run() installs a
 * SIGBUS handler for the length of one call and, if a fault arrives
 * while it is armed, siglongjmp()s back out of the call.
 *
 * What the jump skips is the unwind of the guarded call: in
 * shms_arena_inspect() that is one munmap() and one close() (it allocates
 * nothing and takes no lock). guard_release() redoes both: it unmaps the
 * shared file mapping that holds the faulting address and closes the
 * descriptors of that same file that were opened during the call. Should
 * /proc be unreadable, they stay: at most one mapping and one descriptor
 * per fired guard, in a short-lived process that reads each arena once,
 * and the mapping holds only address space (its pages are the file's).
 */
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "shmctl.h"

/* Above this, descriptors are not looked at (the snapshot's size). */
#define GUARD_FD_MAX	1024

/*
 * Shared with the handler; written by it only while armed is set. One
 * guard at a time: shmctl is single-threaded and guards do not nest.
 */
static sigjmp_buf		guard_env;
static volatile sig_atomic_t	guard_armed;
static void *volatile		guard_addr;

/*
 * Async-signal-safe: reads and writes volatile flags, calls
 * sigemptyset(), sigaction(), raise() and siglongjmp() only. A SIGBUS
 * sent by kill(2) or raise() (si_code <= 0), or any SIGBUS while no guard
 * is armed, is not ours: it gets the default action, as if shmctl had no
 * handler.
 */
static void
guard_handler(int sig, siginfo_t *si, void *uc)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };

	(void)uc;
	if (guard_armed && si != NULL && si->si_code > 0) {
		guard_armed = 0;
		guard_addr = si->si_addr;
		siglongjmp(guard_env, 1);
	}
	sigemptyset(&dfl.sa_mask);
	sigaction(sig, &dfl, NULL);
	/* Pending until return unblocks it; a fault would also recur. */
	raise(sig);
}

/* Which descriptors below GUARD_FD_MAX are open (one byte each). */
static void
fd_snapshot(unsigned char *open_fds)
{
	int fd;

	for (fd = 0; fd < GUARD_FD_MAX; fd++)
		open_fds[fd] = fcntl(fd, F_GETFD) != -1;
}

/*
 * Finds the mapping holding addr in /proc/self/maps; 0 with its bounds
 * and file identity if it is a shared mapping of a file, else -1.
 */
static int
map_find(uintptr_t addr, uintptr_t *lo, uintptr_t *hi, dev_t *dev,
    ino_t *ino)
{
	char line[4096], perms[8];
	unsigned long long start, end, off, inode;
	unsigned int maj, mnr;
	FILE *fp;
	int rc = -1;

	if ((fp = fopen("/proc/self/maps", "re")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), fp) != NULL) {
		if (sscanf(line, "%llx-%llx %7s %llx %x:%x %llu", &start, &end,
		    perms, &off, &maj, &mnr, &inode) != 7)
			continue;
		if (addr < start || addr >= end)
			continue;
		if (perms[3] == 's' && inode != 0) {
			*lo = (uintptr_t)start;
			*hi = (uintptr_t)end;
			*dev = makedev(maj, mnr);
			*ino = (ino_t)inode;
			rc = 0;
		}
		break;
	}
	fclose(fp);
	return rc;
}

/*
 * After a fired guard: unmaps the mapping that faulted and closes the
 * descriptors of the same file opened during the call (not in before).
 * The guarded function is the only code of shmctl that maps that file.
 */
static void
guard_release(void *addr, const unsigned char *before)
{
	uintptr_t lo, hi;
	struct stat st;
	dev_t dev;
	ino_t ino;
	int fd;

	if (map_find((uintptr_t)addr, &lo, &hi, &dev, &ino) != 0)
		return;
	munmap((void *)lo, hi - lo);
	for (fd = 0; fd < GUARD_FD_MAX; fd++)
		if (!before[fd] && fstat(fd, &st) == 0 &&
		    st.st_dev == dev && st.st_ino == ino)
			close(fd);
}

int
ctl_guard_run(int (*fn)(void *), void *arg)
{
	static unsigned char before[GUARD_FD_MAX];
	struct sigaction sa, old;
	volatile int rc = 0;

	fd_snapshot(before);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = guard_handler;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, &old) != 0)
		return -errno;
	/* savemask 1: the jump out of the handler unblocks SIGBUS again. */
	if (sigsetjmp(guard_env, 1) == 0) {
		guard_armed = 1;
		rc = fn(arg);
		guard_armed = 0;
	} else {
		rc = CTL_GUARD_FIRED;
		guard_release(guard_addr, before);
	}
	sigaction(SIGBUS, &old, NULL);
	return rc;
}
