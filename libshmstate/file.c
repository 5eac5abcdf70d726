/*
 * file.c: opening, creating and sizing files inside a service directory.
 *
 * Every file is reached through the service's directory fd with
 * O_NOFOLLOW, and checked with fstat() on the opened descriptor (not the
 * name) so a swap between check and use is impossible.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "internal.h"

#ifndef HUGETLBFS_MAGIC
#define HUGETLBFS_MAGIC	0x958458f6
#endif

/* After ELOOP/ENOTDIR from an O_NOFOLLOW open: was it a symlink? */
static int
is_symlink_at(int dirfd, const char *name)
{
	struct stat st;

	return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISLNK(st.st_mode);
}

int
shms__open_checked(int dirfd, const char *name, int oflags, uint64_t *size,
    char *detail)
{
	struct stat st;
	int fd, rc;

	/* O_NONBLOCK: a FIFO planted in the directory must not hang us. */
	fd = openat(dirfd, name, oflags | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		rc = -errno;
		if ((rc == -ELOOP || rc == -ENOTDIR || rc == -ENXIO) &&
		    is_symlink_at(dirfd, name))
			return shms__detail(detail, SHMS_ESYMLINK,
			    "%s: is a symlink", name);
		return shms__detail(detail, rc, "%s: open: %s", name,
		    shms_strerror(rc));
	}
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		close(fd);
		return shms__detail(detail, rc, "%s: fstat: %s", name,
		    shms_strerror(rc));
	}
	if (!S_ISREG(st.st_mode))
		rc = shms__detail(detail, SHMS_ECORRUPT,
		    "%s: not a regular file (mode 0%o)", name,
		    (unsigned)st.st_mode);
	else if (st.st_uid != geteuid())
		rc = shms__detail(detail, SHMS_EFOREIGN,
		    "%s: owned by uid %u (expected %u)", name,
		    (unsigned)st.st_uid, (unsigned)geteuid());
	else if ((st.st_mode & 077) != 0)
		rc = shms__detail(detail, SHMS_EPERMS,
		    "%s: mode 0%03o (expected 0600)", name,
		    (unsigned)(st.st_mode & 0777));
	else if (st.st_nlink != 1)
		/*
		 * Another name shares the inode, maybe outside the state
		 * directory: whoever holds it sees or changes our state.
		 */
		rc = shms__detail(detail, SHMS_EPERMS,
		    "%s: %ju hard links (expected 1)", name,
		    (uintmax_t)st.st_nlink);
	else
		rc = 0;
	if (rc == 0 && (oflags & O_NONBLOCK) == 0 &&
	    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0) {
		rc = -errno;
		shms__detail(detail, rc, "%s: fcntl: %s", name,
		    shms_strerror(rc));
	}
	if (rc < 0) {
		close(fd);
		return rc;
	}
	if (size != NULL)
		*size = (uint64_t)st.st_size;
	return fd;
}

int
shms__create_excl(int dirfd, const char *name, char *detail)
{
	int fd, rc;

	fd = openat(dirfd, name,
	    O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		return shms__detail(detail, rc, "%s: create: %s", name,
		    shms_strerror(rc));
	}
	/* A umask cannot widen 0600, but fix anything narrower. */
	if (fchmod(fd, 0600) < 0) {
		rc = -errno;
		close(fd);
		unlinkat(dirfd, name, 0);
		return shms__detail(detail, rc, "%s: fchmod: %s", name,
		    shms_strerror(rc));
	}
	return fd;
}

int
shms__reserve(int fd, uint64_t off, uint64_t len)
{
	if (len == 0)
		return 0;
	if (off > INT64_MAX || len > (uint64_t)INT64_MAX - off)
		return -EFBIG;
	while (fallocate(fd, 0, (off_t)off, (off_t)len) < 0) {
		/*
		 * tmpfs stops a large fallocate with EINTR when a signal
		 * arrives; the pages it allocated stay, so go on.
		 */
		if (errno == EINTR)
			continue;
		/*
		 * Filesystems without fallocate keep working; they just
		 * lose the early ENOSPC.
		 */
		if (errno == EOPNOTSUPP)
			return 0;
		return -errno;
	}
	return 0;
}

uint32_t
shms__fd_page_size(int fd)
{
	struct statfs sfs;

	if (fstatfs(fd, &sfs) == 0 && sfs.f_type == HUGETLBFS_MAGIC &&
	    sfs.f_bsize > 4096 && (sfs.f_bsize & (sfs.f_bsize - 1)) == 0 &&
	    sfs.f_bsize <= (1L << 30))
		return (uint32_t)sfs.f_bsize;
	return 4096;
}

int
shms__pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
	const char *p = buf;
	ssize_t n;

	while (len > 0) {
		n = pwrite(fd, p, len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

int
shms__pread_all(int fd, void *buf, size_t len, uint64_t off)
{
	char *p = buf;
	ssize_t n;

	while (len > 0) {
		n = pread(fd, p, len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return SHMS_ETRUNC;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

int
shms__unlink(int dirfd, const char *name)
{
	if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

int
shms__dir_walk(int dirfd, int (*cb)(const char *name, void *arg), void *arg)
{
	DIR *d;
	struct dirent *de;
	int fd, rc = 0;

	/* A fresh open: fdopendir() would share dirfd's offset. */
	if ((fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -errno;
	if ((d = fdopendir(fd)) == NULL) {
		rc = -errno;
		close(fd);
		return rc;
	}
	for (;;) {
		errno = 0;
		if ((de = readdir(d)) == NULL) {
			if (errno != 0)
				rc = -errno;
			break;
		}
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if ((rc = cb(de->d_name, arg)) != 0)
			break;
	}
	closedir(d);
	return rc;
}

static int
max_gen_cb(const char *name, void *arg)
{
	uint64_t *max = arg, gen;

	if (shms__ckpt_file_parse(name, &gen, NULL) == 0 && gen > *max)
		*max = gen;
	return 0;
}

int
shms__max_file_generation(int dirfd, uint64_t *gen)
{
	uint64_t max = 0;
	int rc;

	if ((rc = shms__dir_walk(dirfd, max_gen_cb, &max)) < 0)
		return rc;
	*gen = max;
	return 0;
}
