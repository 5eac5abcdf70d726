/*
 * svc.c: service state directories, the owner lock, error details.
 *
 * Layout of $SHMSTATE_DIR/<service>/ (0700):
 *   lock             owner lock (an OFD write lock), holds the owner's pid
 *   manifest         the committed checkpoint (see manifest.c)
 *   manifest.tmp     a manifest being written; stale if the lock is free
 *   ckpt.<gen>.<n>   checkpoint segments (ckpt.c)
 *   arena.<n>...     arenas
 *   control.sock     the supervisor's control socket
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bsd/string.h>

#include "internal.h"

struct shms_svc {
	int		 dirfd;
	int		 lockfd;	/* -1 when read-only */
	unsigned	 flags;
	unsigned	 attached;	/* atomic: open ckpt/adopt/arenas */
	unsigned	 in_ckpt;	/* atomic: a checkpoint is open */
	char		*path;
	char		 name[SHMS_NAME_MAX + 1];
	char		 build_id[SHMS_BUILDID_MAX + 1];
	/* Guards detail so threads failing at once do not tear it. */
	pthread_mutex_t	 mu;
	char		 detail[SHMS_DETAIL_MAX];
};

const char *
shms__root_path(const char *root)
{
	const char *env;

	if (root != NULL)
		return root;
	env = getenv("SHMSTATE_DIR");
	if (env != NULL && env[0] != '\0')
		return env;
	return SHMS_DEFAULT_DIR;
}

int
shms__dir_check(int fd, const char *name, int allow_root, char *detail)
{
	struct stat st;
	int rc;

	if (fstat(fd, &st) < 0) {
		rc = -errno;
		return shms__detail(detail, rc, "%s: fstat: %s", name,
		    shms_strerror(rc));
	}
	if (!S_ISDIR(st.st_mode))
		return shms__detail(detail, -ENOTDIR, "%s: not a directory",
		    name);
	if (st.st_uid != geteuid() && !(allow_root && st.st_uid == 0))
		return shms__detail(detail, SHMS_EFOREIGN,
		    "%s: owned by uid %u (expected %u)", name,
		    (unsigned)st.st_uid, (unsigned)geteuid());
	if ((st.st_mode & 022) != 0)
		return shms__detail(detail, SHMS_EPERMS,
		    "%s: mode 0%03o is group/world writable (expected 0700)",
		    name, (unsigned)(st.st_mode & 07777));
	return 0;
}

/* Opens a directory without following a final symlink. */
static int
open_dir_at(int atfd, const char *name, char *detail)
{
	struct stat st;
	int fd, rc;

	fd = openat(atfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (fd >= 0)
		return fd;
	rc = -errno;
	if ((rc == -ELOOP || rc == -ENOTDIR) &&
	    fstatat(atfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISLNK(st.st_mode))
		return shms__detail(detail, SHMS_ESYMLINK, "%s: is a symlink",
		    name);
	return shms__detail(detail, rc, "%s: %s", name, shms_strerror(rc));
}

/* mkdir -p with mode 0700 for every missing component. */
static int
mkdir_parents(const char *path)
{
	char buf[PATH_MAX];
	size_t i, n = strlen(path);

	if (n == 0 || n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, n + 1);
	for (i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, 0700) < 0 && errno != EEXIST)
			return -errno;
		buf[i] = path[i];
	}
	return 0;
}

int
shms__root_open(const char *root, int create, char *detail)
{
	const char *path = shms__root_path(root);
	int fd, rc;

	fd = open_dir_at(AT_FDCWD, path, detail);
	if (fd == -ENOENT && create) {
		rc = root == NULL ? mkdir_parents(path) :
		    (mkdir(path, 0700) < 0 && errno != EEXIST ? -errno : 0);
		if (rc < 0)
			return shms__detail(detail, rc, "%s: mkdir: %s", path,
			    shms_strerror(rc));
		fd = open_dir_at(AT_FDCWD, path, detail);
	}
	if (fd < 0)
		return fd;
	if ((rc = shms__dir_check(fd, path, 1, detail)) < 0) {
		close(fd);
		return rc;
	}
	return fd;
}

static char *
make_path(const char *root, const char *service)
{
	char cwd[PATH_MAX], *p;
	size_t n = strlen(root);
	int r;

	while (n > 1 && root[n - 1] == '/')
		n--;
	if (root[0] == '/')
		r = asprintf(&p, "%.*s/%s", (int)n, root, service);
	else if (getcwd(cwd, sizeof(cwd)) != NULL)
		r = asprintf(&p, "%s/%.*s/%s", cwd, (int)n, root, service);
	else
		return NULL;
	return r < 0 ? NULL : p;
}

/* Reads the decimal pid recorded in a lock file; 0 if none. */
static pid_t
lock_pid(int fd)
{
	char buf[24], *end;
	ssize_t n;
	long long v;

	n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	errno = 0;
	v = strtoll(buf, &end, 10);
	if (errno != 0 || end == buf || (*end != '\n' && *end != '\0') ||
	    v <= 0 || v > INT_MAX)
		return 0;
	return (pid_t)v;
}

/*
 * Whole-file OFD lock operation. F_OFD_SETLK: 0 or -errno (-EAGAIN/-EACCES
 * when held). F_OFD_GETLK: 1 if another open file description holds a
 * conflicting lock, 0 if not, or -errno. OFD locks, not flock(2), because
 * only they can be tested without being taken.
 */
static int
lock_op(int fd, int cmd, short type)
{
	struct flock fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = type;
	fl.l_whence = SEEK_SET;
	while (fcntl(fd, cmd, &fl) < 0)
		if (errno != EINTR)
			return -errno;
	if (cmd == F_OFD_GETLK)
		return fl.l_type != F_UNLCK;
	return 0;
}

/* Takes the owner lock of an open service directory. */
static int
take_lock(struct shms_svc *svc, char *detail)
{
	char pid[24];
	int fd, rc;

	fd = shms__create_excl(svc->dirfd, SHMS__LOCK_FILE, NULL);
	if (fd >= 0)
		close(fd);
	else if (fd != -EEXIST)
		return shms__detail(detail, fd, "%s/%s: create: %s",
		    svc->path, SHMS__LOCK_FILE, shms_strerror(fd));
	fd = shms__open_checked(svc->dirfd, SHMS__LOCK_FILE, O_RDWR, NULL,
	    detail);
	if (fd < 0)
		return fd;
	if ((rc = lock_op(fd, F_OFD_SETLK, F_WRLCK)) < 0) {
		if (rc == -EAGAIN || rc == -EACCES)
			rc = shms__detail(detail, SHMS_ELOCKED,
			    "%s: locked by pid %ld", svc->path,
			    (long)lock_pid(fd));
		else
			shms__detail(detail, rc, "%s/%s: lock: %s", svc->path,
			    SHMS__LOCK_FILE, shms_strerror(rc));
		close(fd);
		return rc;
	}
	/*
	 * Overwrite, then trim: a concurrent reader sees the old pid or the
	 * new one up to its newline, never an empty file.
	 */
	snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	rc = shms__pwrite_all(fd, pid, strlen(pid), 0);
	if (rc == 0 && ftruncate(fd, (off_t)strlen(pid)) < 0)
		rc = -errno;
	if (rc < 0) {
		close(fd);
		return shms__detail(detail, rc, "%s/%s: writing pid: %s",
		    svc->path, SHMS__LOCK_FILE, shms_strerror(rc));
	}
	svc->lockfd = fd;
	return 0;
}

int
shms_svc_open_detail(struct shms_svc **out, const char *root,
    const char *service, unsigned flags, char *detail, size_t size)
{
	char buf[SHMS_DETAIL_MAX] = "";
	struct shms_svc *svc;
	int rootfd, rc, create;

	if (out == NULL || (flags & ~(SHMS_SVC_RDONLY | SHMS_SVC_NOCREATE)))
		return -EINVAL;
	if (shms__name_valid(service) != 0) {
		rc = shms__detail(buf, SHMS_ENAME, "invalid service name");
		goto fail;
	}
	/* A reader never writes, so it never creates either. */
	create = !(flags & (SHMS_SVC_RDONLY | SHMS_SVC_NOCREATE));
	if ((svc = calloc(1, sizeof(*svc))) == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	svc->dirfd = svc->lockfd = -1;
	svc->flags = flags;
	strlcpy(svc->name, service, sizeof(svc->name));
	if ((svc->path = make_path(shms__root_path(root), service)) == NULL) {
		rc = -ENOMEM;
		goto err_free;
	}
	if ((rootfd = shms__root_open(root, create, buf)) < 0) {
		rc = rootfd;
		goto err_free;
	}
	if (create && mkdirat(rootfd, service, 0700) < 0 && errno != EEXIST) {
		rc = -errno;
		shms__detail(buf, rc, "%s: mkdir: %s", svc->path,
		    shms_strerror(rc));
		close(rootfd);
		goto err_free;
	}
	svc->dirfd = open_dir_at(rootfd, service, buf);
	close(rootfd);
	if (svc->dirfd < 0) {
		rc = svc->dirfd;
		shms__detail(buf, rc, "%s: %s", svc->path, rc == SHMS_ESYMLINK ?
		    "is a symlink" : shms_strerror(rc));
		goto err_free;
	}
	if ((rc = shms__dir_check(svc->dirfd, svc->path, 0, buf)) < 0)
		goto err_close;
	if (!(flags & SHMS_SVC_RDONLY)) {
		if ((rc = take_lock(svc, buf)) < 0)
			goto err_close;
		/* Only a dead writer can have left one: we hold the lock. */
		shms__unlink(svc->dirfd, SHMS__MANIFEST_TMP);
	}
	shms__default_build_id(svc->build_id);
	if ((rc = pthread_mutex_init(&svc->mu, NULL)) != 0) {
		rc = -rc;
		goto err_close;
	}
	*out = svc;
	return 0;

err_close:
	if (svc->lockfd >= 0)
		close(svc->lockfd);
	close(svc->dirfd);
err_free:
	free(svc->path);
	free(svc);
fail:
	if (detail != NULL && size > 0)
		strlcpy(detail, buf[0] ? buf : shms_strerror(rc), size);
	return rc;
}

int
shms_svc_open(struct shms_svc **out, const char *root, const char *service,
    unsigned flags)
{
	return shms_svc_open_detail(out, root, service, flags, NULL, 0);
}

int
shms_svc_close(struct shms_svc *svc)
{
	if (svc == NULL)
		return 0;
	if (__atomic_load_n(&svc->attached, __ATOMIC_ACQUIRE) != 0)
		return -EBUSY;
	if (svc->lockfd >= 0)
		close(svc->lockfd);
	close(svc->dirfd);
	pthread_mutex_destroy(&svc->mu);
	free(svc->path);
	free(svc);
	return 0;
}

const char *
shms_svc_path(const struct shms_svc *svc)
{
	return svc->path;
}

const char *
shms_errdetail(const struct shms_svc *svc)
{
	return svc == NULL ? "" : svc->detail;
}

int
shms_svc_set_build_id(struct shms_svc *svc, const char *id)
{
	if (svc == NULL || shms__build_id_valid(id) != 0)
		return shms__fail(svc, -EINVAL, "build id must be 1..%d "
		    "printable bytes", SHMS_BUILDID_MAX);
	pthread_mutex_lock(&svc->mu);
	strlcpy(svc->build_id, id, sizeof(svc->build_id));
	pthread_mutex_unlock(&svc->mu);
	return 0;
}

int
shms_svc_owner(struct shms_svc *svc, pid_t *pid, int *alive)
{
	char detail[SHMS_DETAIL_MAX];
	int fd, held = 0;
	pid_t p;

	if (svc == NULL || pid == NULL || alive == NULL)
		return -EINVAL;
	fd = shms__open_checked(svc->dirfd, SHMS__LOCK_FILE, O_RDONLY, NULL,
	    detail);
	if (fd == -ENOENT) {
		*pid = 0;
		*alive = 0;
		return 0;
	}
	if (fd < 0)
		return shms__fail(svc, fd, "%s/%s", svc->path, detail);
	p = lock_pid(fd);
	/*
	 * F_OFD_GETLK on a fresh open file description sees any holder, us
	 * too, without ever taking the lock: an inspector must not make a
	 * starting owner fail with SHMS_ELOCKED.
	 */
	held = lock_op(fd, F_OFD_GETLK, F_WRLCK);
	close(fd);
	if (held < 0)
		return shms__fail(svc, held, "%s/%s: lock test: %s",
		    svc->path, SHMS__LOCK_FILE, shms_strerror(held));
	*pid = p;
	*alive = held;
	return 0;
}

int
shms__svc_dirfd(const struct shms_svc *svc)
{
	return svc->dirfd;
}

int
shms__svc_writable(const struct shms_svc *svc)
{
	return svc->lockfd >= 0;
}

const char *
shms__svc_name(const struct shms_svc *svc)
{
	return svc->name;
}

const char *
shms__svc_build_id(const struct shms_svc *svc)
{
	return svc->build_id;
}

int
shms__svc_need_writer(const struct shms_svc *svc)
{
	shms__clear_detail(svc);
	if (svc->lockfd < 0)
		return shms__fail(svc, -EBADF, "%s: opened read-only",
		    svc->path);
	return 0;
}

void
shms__svc_attach(struct shms_svc *svc)
{
	__atomic_add_fetch(&svc->attached, 1, __ATOMIC_ACQ_REL);
}

void
shms__svc_detach(struct shms_svc *svc)
{
	__atomic_sub_fetch(&svc->attached, 1, __ATOMIC_ACQ_REL);
}

int
shms__svc_ckpt_enter(struct shms_svc *svc)
{
	unsigned zero = 0;

	if (!__atomic_compare_exchange_n(&svc->in_ckpt, &zero, 1, 0,
	    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return -EBUSY;
	return 0;
}

void
shms__svc_ckpt_leave(struct shms_svc *svc)
{
	__atomic_store_n(&svc->in_ckpt, 0, __ATOMIC_RELEASE);
}

int
shms__fail(const struct shms_svc *csvc, int code, const char *fmt, ...)
{
	/* The handle is const for callers; its detail is mutable state. */
	struct shms_svc *svc = (struct shms_svc *)(uintptr_t)csvc;
	va_list ap;

	if (svc == NULL)
		return code;
	pthread_mutex_lock(&svc->mu);
	va_start(ap, fmt);
	vsnprintf(svc->detail, sizeof(svc->detail), fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&svc->mu);
	return code;
}

void
shms__clear_detail(const struct shms_svc *csvc)
{
	struct shms_svc *svc = (struct shms_svc *)(uintptr_t)csvc;

	if (svc == NULL)
		return;
	pthread_mutex_lock(&svc->mu);
	svc->detail[0] = '\0';
	pthread_mutex_unlock(&svc->mu);
}
