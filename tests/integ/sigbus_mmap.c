/*
 * sigbus_mmap.c: linked into a test build of shmctl (shmctl_sigbus, see
 * tools/shmctl/shmctl.mk) with -Wl,--wrap=mmap, so that a truncation
 * "while shmctl reads the arena" happens at a known point instead of by
 * luck: a read-only mapping of the file named by $SHMCTL_TEST_TRUNCATE
 * (a file name in the service directory, e.g. arena.hash) is made for
 * real, then the file is truncated to 4096 bytes (its header page) before
 * the caller gets the mapping. The next touch past 4096 raises SIGBUS, as
 * when another process truncates it. Nothing else is changed.
 */
#include <sys/mman.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void	*__real_mmap(void *, size_t, int, int, int, off_t);
void	*__wrap_mmap(void *, size_t, int, int, int, off_t);

#define TRUNC_TO	4096

void *
__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	char link[64], path[4096];
	const char *want, *base;
	void *p;
	ssize_t n;
	int wfd, saved;

	p = __real_mmap(addr, len, prot, flags, fd, off);
	want = getenv("SHMCTL_TEST_TRUNCATE");
	if (p == MAP_FAILED || fd < 0 || prot != PROT_READ || want == NULL)
		return p;
	saved = errno;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	if ((n = readlink(link, path, sizeof(path) - 1)) > 0) {
		path[n] = '\0';
		base = strrchr(path, '/');
		base = base != NULL ? base + 1 : path;
		if (strcmp(base, want) == 0 &&
		    (wfd = open(path, O_WRONLY | O_CLOEXEC)) >= 0) {
			if (ftruncate(wfd, TRUNC_TO) != 0)
				perror("sigbus_mmap: ftruncate");
			else
				fprintf(stderr, "sigbus_mmap: truncated %s "
				    "to %d bytes after mapping it\n", base,
				    TRUNC_TO);
			close(wfd);
		}
	}
	errno = saved;
	return p;
}
