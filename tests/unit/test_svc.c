/*
 * test_svc.c: state directories and the owner lock, on real directories
 * under $SHMSTATE_DIR and with a real forked child.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core_test.h"

static int
mode_of(const char *path)
{
	struct stat st;

	assert_int_equal(lstat(path, &st), 0);
	return (int)(st.st_mode & 07777);
}

static void
creates_dirs(void **state)
{
	char root[PATH_MAX], path[PATH_MAX + 64], pid[32], buf[32];
	struct shms_svc *svc;
	ssize_t n;
	int fd;

	snprintf(root, sizeof(root), "%s/newroot", test_root());
	assert_int_equal(shms_svc_open(&svc, root, "svc", 0), 0);
	snprintf(path, sizeof(path), "%s/svc", root);
	assert_string_equal(shms_svc_path(svc), path);
	assert_int_equal(mode_of(root), 0700);
	assert_int_equal(mode_of(path), 0700);
	snprintf(path, sizeof(path), "%s/svc/lock", root);
	assert_int_equal(mode_of(path), 0600);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	assert_true(n > 0);
	buf[n] = '\0';
	snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	assert_string_equal(buf, pid);
	assert_int_equal(shms_svc_close(svc), 0);
	assert_int_equal(shms_svc_close(NULL), 0);

	/* A user-given root is created, but not its parents. */
	snprintf(root, sizeof(root), "%s/no/such/parent", test_root());
	assert_int_equal(shms_svc_open(&svc, root, "svc", 0), -ENOENT);
}

static void
env_and_relative_root(void **state)
{
	char want[PATH_MAX + 64], cwd[PATH_MAX];
	struct shms_svc *svc;
	const char *name = test_service("env");

	snprintf(want, sizeof(want), "%s/%s", test_root(), name);
	svc = open_w(name);
	assert_string_equal(shms_svc_path(svc), want);
	assert_int_equal(shms_svc_close(svc), 0);

	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(test_root()), 0);
	assert_int_equal(shms_svc_open(&svc, "relroot//", "x", 0), 0);
	snprintf(want, sizeof(want), "%s/relroot/x", test_root());
	assert_string_equal(shms_svc_path(svc), want);
	assert_int_equal(shms_svc_close(svc), 0);
	assert_int_equal(chdir(cwd), 0);
}

static void
bad_args(void **state)
{
	struct shms_svc *svc = (void *)0x1;
	char detail[SHMS_DETAIL_MAX];

	assert_int_equal(shms_svc_open(&svc, NULL, "a/b", 0), SHMS_ENAME);
	assert_int_equal(shms_svc_open(&svc, NULL, "..", 0), SHMS_ENAME);
	assert_int_equal(shms_svc_open(&svc, NULL, NULL, 0), SHMS_ENAME);
	assert_int_equal(shms_svc_open(&svc, NULL, "ok", 0x80), -EINVAL);
	assert_int_equal(shms_svc_open(NULL, NULL, "ok", 0), -EINVAL);
	assert_ptr_equal(svc, (void *)0x1);
	assert_int_equal(shms_svc_open_detail(&svc, NULL, "", 0, detail,
	    sizeof(detail)), SHMS_ENAME);
	assert_string_equal(detail, "invalid service name");
}

static void
missing_dir(void **state)
{
	struct shms_svc *svc, *w;
	const char *name = test_service("missing");
	char path[PATH_MAX + 64];
	pid_t pid;
	int alive;

	assert_int_equal(shms_svc_open(&svc, NULL, name, SHMS_SVC_RDONLY),
	    -ENOENT);
	assert_int_equal(shms_svc_open(&svc, NULL, name, SHMS_SVC_NOCREATE),
	    -ENOENT);
	/* Nothing was created by either. */
	snprintf(path, sizeof(path), "%s/%s", test_root(), name);
	assert_int_equal(access(path, F_OK), -1);

	/* A directory with no lock file: nobody ever owned it. */
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(shms_svc_open(&svc, NULL, name, SHMS_SVC_RDONLY), 0);
	assert_int_equal(shms_svc_owner(svc, &pid, &alive), 0);
	assert_int_equal(pid, 0);
	assert_int_equal(alive, 0);
	/* A reader takes no lock: a writer can come in beside it. */
	assert_int_equal(shms_svc_open(&w, NULL, name, SHMS_SVC_NOCREATE), 0);
	assert_int_equal(shms_svc_owner(svc, &pid, &alive), 0);
	assert_int_equal(pid, getpid());
	assert_int_equal(alive, 1);
	assert_int_equal(shms_svc_close(w), 0);
	assert_int_equal(shms_svc_owner(svc, &pid, &alive), 0);
	assert_int_equal(pid, getpid());
	assert_int_equal(alive, 0);
	assert_int_equal(shms_svc_close(svc), 0);
}

static void
lock_in_process(void **state)
{
	struct shms_svc *a, *b;
	const char *name = test_service("lock");
	char detail[SHMS_DETAIL_MAX], want[64];

	a = open_w(name);
	assert_int_equal(shms_svc_open_detail(&b, NULL, name, 0, detail,
	    sizeof(detail)), SHMS_ELOCKED);
	snprintf(want, sizeof(want), "locked by pid %ld", (long)getpid());
	if (strstr(detail, want) == NULL)
		fail_msg("detail \"%s\" lacks \"%s\"", detail, want);
	assert_int_equal(shms_svc_open(&b, NULL, name, SHMS_SVC_NOCREATE),
	    SHMS_ELOCKED);
	assert_int_equal(shms_svc_close(a), 0);
	b = open_w(name);
	assert_int_equal(shms_svc_close(b), 0);
}

/* Waits for a child with a bound on time; returns its exit status. */
static int
reap(pid_t pid)
{
	int st, i;

	for (i = 0; i < 1000; i++) {
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	fail_msg("child %ld timed out", (long)pid);
	return -1;
}

static void
lock_across_fork(void **state)
{
	const char *name = test_service("fork");
	char detail[SHMS_DETAIL_MAX], want[64];
	struct shms_svc *svc;
	int go[2], held[2];
	pid_t pid;
	char c;

	/* The parent owns; a child is refused. */
	svc = open_w(name);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct shms_svc *s2;
		int rc = shms_svc_open_detail(&s2, NULL, name, 0, detail,
		    sizeof(detail));
		snprintf(want, sizeof(want), "locked by pid %ld",
		    (long)getppid());
		_exit(rc == SHMS_ELOCKED && strstr(detail, want) ? 0 : 1);
	}
	assert_int_equal(reap(pid), 0);
	assert_int_equal(shms_svc_close(svc), 0);

	/* A child owns; the parent is refused until the child exits. */
	assert_int_equal(pipe(go), 0);
	assert_int_equal(pipe(held), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct shms_svc *s2;
		if (shms_svc_open(&s2, NULL, name, 0) != 0)
			_exit(1);
		(void)!write(held[1], "h", 1);
		(void)!read(go[0], &c, 1);
		_exit(0);	/* exits holding it: the kernel drops it */
	}
	assert_int_equal(read(held[0], &c, 1), 1);
	assert_int_equal(shms_svc_open_detail(&svc, NULL, name, 0, detail,
	    sizeof(detail)), SHMS_ELOCKED);
	snprintf(want, sizeof(want), "locked by pid %ld", (long)pid);
	if (strstr(detail, want) == NULL)
		fail_msg("detail \"%s\" lacks \"%s\"", detail, want);
	assert_int_equal(write(go[1], "g", 1), 1);
	assert_int_equal(reap(pid), 0);
	svc = open_w(name);
	assert_int_equal(shms_svc_close(svc), 0);
	close(go[0]);
	close(go[1]);
	close(held[0]);
	close(held[1]);
}

static void
unsafe_modes(void **state)
{
	const char *name = test_service("modes");
	char path[PATH_MAX + 64], root[PATH_MAX], detail[SHMS_DETAIL_MAX];
	struct shms_svc *svc;

	svc = open_w(name);
	assert_int_equal(shms_svc_close(svc), 0);
	snprintf(path, sizeof(path), "%s/%s", test_root(), name);

	assert_int_equal(chmod(path, 0777), 0);
	assert_int_equal(shms_svc_open_detail(&svc, NULL, name, 0, detail,
	    sizeof(detail)), SHMS_EPERMS);
	assert_non_null(strstr(detail, "0777"));
	assert_int_equal(shms_svc_open(&svc, NULL, name, SHMS_SVC_RDONLY),
	    SHMS_EPERMS);
	assert_int_equal(chmod(path, 0720), 0);
	assert_int_equal(shms_svc_open(&svc, NULL, name, 0), SHMS_EPERMS);
	/* Readable by others is not a hijack risk. */
	assert_int_equal(chmod(path, 0755), 0);
	svc = open_w(name);
	assert_int_equal(shms_svc_close(svc), 0);
	assert_int_equal(chmod(path, 0700), 0);

	/* The root is checked the same way. */
	snprintf(root, sizeof(root), "%s/openroot", test_root());
	assert_int_equal(mkdir(root, 0700), 0);
	assert_int_equal(chmod(root, 01777), 0);
	assert_int_equal(shms_svc_open(&svc, root, "x", 0), SHMS_EPERMS);
	assert_int_equal(chmod(root, 0700), 0);

	/* A lock file others can write would let them fake an owner. */
	snprintf(path, sizeof(path), "%s/%s/lock", test_root(), name);
	assert_int_equal(chmod(path, 0666), 0);
	assert_int_equal(shms_svc_open(&svc, NULL, name, 0), SHMS_EPERMS);
	assert_int_equal(chmod(path, 0600), 0);
}

static void
symlinks(void **state)
{
	const char *name = test_service("link");
	char path[PATH_MAX + 64], target[PATH_MAX + 64], root[PATH_MAX];
	char detail[SHMS_DETAIL_MAX];
	struct shms_svc *svc;

	/* The service directory is a symlink to a good directory. */
	snprintf(target, sizeof(target), "%s/%s.real", test_root(), name);
	snprintf(path, sizeof(path), "%s/%s", test_root(), name);
	assert_int_equal(mkdir(target, 0700), 0);
	assert_int_equal(symlink(target, path), 0);
	assert_int_equal(shms_svc_open_detail(&svc, NULL, name, 0, detail,
	    sizeof(detail)), SHMS_ESYMLINK);
	assert_non_null(strstr(detail, "symlink"));
	assert_int_equal(shms_svc_open(&svc, NULL, name, SHMS_SVC_RDONLY),
	    SHMS_ESYMLINK);
	/* A dangling one is not followed to create anything either. */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(symlink("/nonexistent-shmstate", path), 0);
	assert_int_equal(shms_svc_open(&svc, NULL, name, 0), SHMS_ESYMLINK);
	assert_int_equal(unlink(path), 0);

	/* The root. */
	snprintf(root, sizeof(root), "%s/linkroot", test_root());
	assert_int_equal(symlink(test_root(), root), 0);
	assert_int_equal(shms_svc_open(&svc, root, "x", 0), SHMS_ESYMLINK);
	assert_int_equal(unlink(root), 0);

	/* The lock file. */
	svc = open_w(name);
	assert_int_equal(shms_svc_close(svc), 0);
	snprintf(path, sizeof(path), "%s/%s/lock", test_root(), name);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(symlink(target, path), 0);
	assert_int_equal(shms_svc_open(&svc, NULL, name, 0), SHMS_ESYMLINK);
	assert_int_equal(unlink(path), 0);
}

static void
foreign_owner(void **state)
{
	const char *name = test_service("foreign");
	char path[PATH_MAX + 64], detail[SHMS_DETAIL_MAX];
	struct shms_svc *svc;

	if (geteuid() != 0)
		skip();
	svc = open_w(name);
	assert_int_equal(shms_svc_close(svc), 0);
	snprintf(path, sizeof(path), "%s/%s", test_root(), name);
	assert_int_equal(chown(path, 65534, 65534), 0);
	assert_int_equal(shms_svc_open_detail(&svc, NULL, name, 0, detail,
	    sizeof(detail)), SHMS_EFOREIGN);
	assert_non_null(strstr(detail, "uid 65534"));
	assert_int_equal(chown(path, 0, 0), 0);

	snprintf(path, sizeof(path), "%s/%s/lock", test_root(), name);
	assert_int_equal(chown(path, 65534, 65534), 0);
	assert_int_equal(shms_svc_open(&svc, NULL, name, 0), SHMS_EFOREIGN);
	assert_int_equal(chown(path, 0, 0), 0);
	svc = open_w(name);
	assert_int_equal(shms_svc_close(svc), 0);
}

static void
busy_while_attached(void **state)
{
	struct shms_svc *svc = open_w(test_service("busy"));
	struct shms_ckpt *ck, *ck2;
	struct shms_adopt *ad;

	assert_int_equal(shms_ckpt_begin(svc, 0, &ck), 0);
	assert_int_equal(shms_svc_close(svc), -EBUSY);
	shms_ckpt_abort(ck);
	/* An adoption too. */
	assert_int_equal(shms_ckpt_begin(svc, 0, &ck), 0);
	assert_int_equal(shms_ckpt_commit(ck, 0, NULL), 0);
	assert_int_equal(shms_adopt_begin(svc, 0, &ad), 0);
	assert_int_equal(shms_svc_close(svc), -EBUSY);
	assert_int_equal(shms_ckpt_begin(svc, 0, &ck2), 0);
	shms_ckpt_abort(ck2);
	assert_int_equal(shms_svc_close(svc), -EBUSY);
	shms_adopt_abort(ad);
	assert_int_equal(shms_svc_close(svc), 0);
}

static void
readonly_refuses_writes(void **state)
{
	const char *name = test_service("ro");
	struct shms_svc *w = open_w(name), *svc;
	struct shms_ckpt *ck;
	struct shms_adopt *ad;

	assert_int_equal(shms_svc_close(w), 0);
	assert_int_equal(shms_svc_open(&svc, NULL, name, SHMS_SVC_RDONLY), 0);
	assert_int_equal(shms_ckpt_begin(svc, 0, &ck), -EBADF);
	assert_non_null(strstr(shms_errdetail(svc), "read-only"));
	assert_int_equal(shms_adopt_begin(svc, 0, &ad), -EBADF);
	assert_int_equal(shms_svc_close(svc), 0);
}

static void
build_id(void **state)
{
	struct shms_svc *svc = open_w(test_service("bid"));
	const char *id = shms__svc_build_id(svc);
	size_t i;

	/* Built with gcc/clang defaults on Debian: a GNU build-id note. */
	assert_true(strcmp(id, "unknown") == 0 || strlen(id) >= 16);
	for (i = 0; id[i]; i++)
		assert_true(strchr("0123456789abcdefunkow", id[i]) != NULL);
	assert_int_equal(shms_svc_set_build_id(svc, "v1.2.3-g1234"), 0);
	assert_string_equal(shms__svc_build_id(svc), "v1.2.3-g1234");
	assert_int_equal(shms_svc_set_build_id(svc, ""), -EINVAL);
	assert_int_equal(shms_svc_set_build_id(svc, "has space"), -EINVAL);
	assert_int_equal(shms_svc_set_build_id(svc, NULL), -EINVAL);
	assert_string_equal(shms__svc_build_id(svc), "v1.2.3-g1234");
	assert_int_equal(shms_svc_close(svc), 0);
}

static void
stale_tmp_removed(void **state)
{
	const char *name = test_service("stale");
	struct shms_svc *svc = open_w(name);
	int fd;

	fd = openat(shms__svc_dirfd(svc), "manifest.tmp",
	    O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(shms_svc_close(svc), 0);
	/* A reader leaves it... */
	assert_int_equal(shms_svc_open(&svc, NULL, name, SHMS_SVC_RDONLY), 0);
	assert_int_equal(faccessat(shms__svc_dirfd(svc), "manifest.tmp", F_OK,
	    0), 0);
	assert_int_equal(shms_svc_close(svc), 0);
	/* ...the next owner removes it. */
	svc = open_w(name);
	assert_int_equal(faccessat(shms__svc_dirfd(svc), "manifest.tmp", F_OK,
	    0), -1);
	assert_int_equal(shms_svc_close(svc), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(creates_dirs),
		cmocka_unit_test(env_and_relative_root),
		cmocka_unit_test(bad_args),
		cmocka_unit_test(missing_dir),
		cmocka_unit_test(lock_in_process),
		cmocka_unit_test(lock_across_fork),
		cmocka_unit_test(unsafe_modes),
		cmocka_unit_test(symlinks),
		cmocka_unit_test(foreign_owner),
		cmocka_unit_test(busy_while_attached),
		cmocka_unit_test(readonly_refuses_writes),
		cmocka_unit_test(build_id),
		cmocka_unit_test(stale_tmp_removed),
	};

	test_root();
	return cmocka_run_group_tests_name("svc", tests, NULL, NULL);
}
