/*
 * test_security_api: the library's file-system defences, through the
 * public API on real files (as root, other uids via setresuid in a child;
 * the cases that need root skip cleanly otherwise):
 *  - modes: state directories 0700, segment, manifest and arena files
 *    0600, whatever the umask;
 *  - refusal of another uid's state, and of our state by another uid;
 *  - a group/world writable or foreign-owned root or service directory;
 *  - symlinks planted for the root, the service directory, the manifest
 *    and a segment; a hardlink planted for a segment or the manifest
 *    (st_nlink > 1: another name, maybe outside the state directory,
 *    shares the inode);
 *  - names with "..", "/", a leading ".", empty and 10 KB long, at every
 *    entry point that takes one.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "shmstate.h"

static char root[1100];
static unsigned seq;
static uid_t nobody_uid;
static gid_t nobody_gid;

/* A fresh root directory (0700) under $SHMSTATE_DIR for each test. */
static int
setup(void **state)
{
	const char *base = getenv("SHMSTATE_DIR");

	(void)state;
	snprintf(root, sizeof(root), "%s/sec-%u-%u",
	    base != NULL && *base != '\0' ? base : "/dev/shm", (unsigned)getpid(),
	    seq++);
	assert_int_equal(mkdir(root, 0700), 0);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[1200];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%.1100s'", root);
	return system(cmd) == 0 ? 0 : -1;
}

static void
path(char *buf, size_t len, const char *fmt, ...)
{
	char rest[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rest, sizeof(rest), fmt, ap);
	va_end(ap);
	snprintf(buf, len, "%.1050s/%.1000s", root, rest);
}

static mode_t
mode_of(const char *p)
{
	struct stat st;

	assert_int_equal(lstat(p, &st), 0);
	return st.st_mode & 07777;
}

/* Commits one checkpoint of `service' with segment "items". */
static void
make_state(const char *service)
{
	static const char data[1000];
	struct shms_svc *svc;
	struct shms_ckpt *ck;
	struct shms_seg *seg;

	assert_int_equal(shms_svc_open(&svc, root, service, 0), 0);
	assert_int_equal(shms_ckpt_begin(svc, 0, &ck), 0);
	assert_int_equal(shms_ckpt_seg_create(ck, "items", "sec", 1, 0, &seg),
	    0);
	assert_int_equal(shms_seg_write(seg, data, sizeof(data)), 0);
	assert_int_equal(shms_ckpt_commit(ck, 0, NULL), 0);
	assert_int_equal(shms_svc_close(svc), 0);
}

/*
 * Adopts `service': the result of shms_svc_open, else of adopt_begin,
 * else of opening segment "items"; 0 if all worked. The detail of a
 * failure must not be empty.
 */
static int
try_adopt(const char *service)
{
	struct shms_svc *svc;
	struct shms_adopt *ad;
	struct shms_seg *seg;
	char detail[SHMS_DETAIL_MAX] = "";
	int rc;

	rc = shms_svc_open_detail(&svc, root, service, 0, detail,
	    sizeof(detail));
	if (rc < 0) {
		assert_true(detail[0] != '\0');
		return rc;
	}
	if ((rc = shms_adopt_begin(svc, 0, &ad)) == 0) {
		rc = shms_adopt_seg_open(ad, "items", "sec", 1,
		    SHMS_VERIFY_FULL, &seg);
		if (rc < 0)
			assert_true(shms_errdetail(svc)[0] != '\0');
		shms_adopt_abort(ad);
	} else
		assert_true(shms_errdetail(svc)[0] != '\0');
	shms_svc_close(svc);
	return rc;
}

static int
have_root(void)
{
	if (geteuid() == 0 && nobody_uid != 0)
		return 1;
	print_message("skipped: needs root and a 'nobody' user\n");
	return 0;
}

/* Runs fn() as nobody in a child; returns its exit status. */
static int
as_nobody(int (*fn)(void))
{
	pid_t pid;
	int st;

	fflush(NULL);
	if ((pid = fork()) == 0) {
		if (setgroups(0, NULL) < 0 ||
		    setresgid(nobody_gid, nobody_gid, nobody_gid) < 0 ||
		    setresuid(nobody_uid, nobody_uid, nobody_uid) < 0)
			_exit(100);
		_exit(fn());
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

/* ---- modes ---- */

static void
test_modes(void **state)
{
	struct shms_svc *svc;
	struct shms_arena *a;
	char p[2200];
	mode_t old;

	(void)state;
	/* A permissive umask must not widen anything. */
	old = umask(0);
	path(p, sizeof(p), "fresh");
	assert_int_equal(shms_svc_open(&svc, p, "svc", 0), 0);
	assert_int_equal(shms_arena_create(svc, "heap", "sec", 1, 1u << 20, 0,
	    0, &a), 0);
	assert_int_equal(shms_arena_seal(a, 0), 0);
	assert_int_equal(shms_svc_close(svc), 0);
	snprintf(root, sizeof(root), "%.1090s", p);
	make_state("svc");
	umask(old);
	*strrchr(root, '/') = '\0';

	assert_int_equal(mode_of(p), 0700);	/* a root it created */
	path(p, sizeof(p), "fresh/svc");
	assert_int_equal(mode_of(p), 0700);
	path(p, sizeof(p), "fresh/svc/manifest");
	assert_int_equal(mode_of(p), 0600);
	path(p, sizeof(p), "fresh/svc/ckpt.0000000000000001.items");
	assert_int_equal(mode_of(p), 0600);
	path(p, sizeof(p), "fresh/svc/arena.heap");
	assert_int_equal(mode_of(p), 0600);
	path(p, sizeof(p), "fresh/svc/lock");
	assert_int_equal(mode_of(p) & 077, 0);
}

/* ---- unsafe directories ---- */

static void
test_writable_dirs(void **state)
{
	char p[2200];

	(void)state;
	make_state("svc");
	path(p, sizeof(p), "svc");
	assert_int_equal(chmod(p, 0770), 0);
	assert_int_equal(try_adopt("svc"), SHMS_EPERMS);
	assert_int_equal(chmod(p, 0702), 0);
	assert_int_equal(try_adopt("svc"), SHMS_EPERMS);
	assert_int_equal(chmod(p, 0700), 0);
	assert_int_equal(chmod(root, 0777), 0);
	assert_int_equal(try_adopt("svc"), SHMS_EPERMS);
	assert_int_equal(chmod(root, 01777), 0);	/* sticky: still no */
	assert_int_equal(try_adopt("svc"), SHMS_EPERMS);
	assert_int_equal(chmod(root, 0700), 0);
	assert_int_equal(try_adopt("svc"), 0);
}

static void
test_group_readable_files(void **state)
{
	char p[2200];

	(void)state;
	make_state("svc");
	path(p, sizeof(p), "svc/ckpt.0000000000000001.items");
	assert_int_equal(chmod(p, 0640), 0);
	assert_int_equal(try_adopt("svc"), SHMS_EPERMS);
	assert_int_equal(chmod(p, 0600), 0);
	path(p, sizeof(p), "svc/manifest");
	assert_int_equal(chmod(p, 0604), 0);
	assert_int_equal(try_adopt("svc"), SHMS_EPERMS);
}

/* ---- other uids ---- */

static void
test_foreign_owned(void **state)
{
	char p[2200];

	(void)state;
	if (!have_root())
		return;
	make_state("svc");
	/* A segment, the manifest, the service dir, the root of another uid. */
	path(p, sizeof(p), "svc/ckpt.0000000000000001.items");
	assert_int_equal(chown(p, nobody_uid, nobody_gid), 0);
	assert_int_equal(try_adopt("svc"), SHMS_EFOREIGN);
	assert_int_equal(chown(p, 0, 0), 0);
	path(p, sizeof(p), "svc/manifest");
	assert_int_equal(chown(p, nobody_uid, nobody_gid), 0);
	assert_int_equal(try_adopt("svc"), SHMS_EFOREIGN);
	assert_int_equal(chown(p, 0, 0), 0);
	path(p, sizeof(p), "svc");
	assert_int_equal(chown(p, nobody_uid, nobody_gid), 0);
	assert_int_equal(try_adopt("svc"), SHMS_EFOREIGN);
	assert_int_equal(chown(p, 0, 0), 0);
	assert_int_equal(chown(root, nobody_uid, nobody_gid), 0);
	assert_int_equal(try_adopt("svc"), SHMS_EFOREIGN);
	assert_int_equal(chown(root, 0, 0), 0);
	assert_int_equal(try_adopt("svc"), 0);
}

static int
nobody_opens(void)
{
	struct shms_svc *svc;
	int rc;

	/* Writable open (owner lock) and read-only inspection alike. */
	if ((rc = shms_svc_open(&svc, root, "svc", 0)) == 0 ||
	    (rc = shms_svc_open(&svc, root, "svc", SHMS_SVC_RDONLY)) == 0)
		return 1;
	return rc == -EACCES || rc == SHMS_EFOREIGN ? 0 : 2;
}

static void
test_other_uid_refused(void **state)
{
	char p[2200];
	struct stat before, after;

	(void)state;
	if (!have_root())
		return;
	make_state("svc");
	path(p, sizeof(p), "svc/manifest");
	assert_int_equal(stat(p, &before), 0);
	/* The 0700 root stops nobody first... */
	assert_int_equal(as_nobody(nobody_opens), 0);
	/* ...and with a traversable root, the 0700 service directory. */
	assert_int_equal(chmod(root, 0711), 0);
	assert_int_equal(as_nobody(nobody_opens), 0);
	assert_int_equal(chmod(root, 0700), 0);
	assert_int_equal(stat(p, &after), 0);
	assert_true(before.st_mtime == after.st_mtime &&
	    before.st_ino == after.st_ino);
	assert_int_equal(try_adopt("svc"), 0);
}

/* State that nobody wrote, in a root of its own, is refused to root. */
static int
nobody_writes(void)
{
	static const char data[100];
	struct shms_svc *svc;
	struct shms_ckpt *ck;
	struct shms_seg *seg;

	/* No cmocka asserts in a child: plain checks. */
	if (shms_svc_open(&svc, root, "theirs", 0) < 0)
		return 1;
	if (shms_ckpt_begin(svc, 0, &ck) < 0 ||
	    shms_ckpt_seg_create(ck, "items", "sec", 1, 0, &seg) < 0 ||
	    shms_seg_write(seg, data, sizeof(data)) < 0 ||
	    shms_ckpt_commit(ck, 0, NULL) < 0)
		return 2;
	return shms_svc_close(svc) < 0 ? 3 : 0;
}

static void
test_state_of_other_uid(void **state)
{
	char p[2200];
	(void)state;
	char base[1100];
	struct stat bst;

	if (!have_root())
		return;
	/* nobody must reach its root: open up the private parent a bit. */
	snprintf(base, sizeof(base), "%.1090s", root);
	*strrchr(base, '/') = '\0';
	assert_int_equal(stat(base, &bst), 0);
	assert_int_equal(chmod(base, 0711), 0);
	assert_int_equal(chown(root, nobody_uid, nobody_gid), 0);
	assert_int_equal(as_nobody(nobody_writes), 0);
	assert_int_equal(chmod(base, bst.st_mode & 07777), 0);
	/* Root of another uid. */
	assert_int_equal(try_adopt("theirs"), SHMS_EFOREIGN);
	/* Our root, their service directory and files. */
	assert_int_equal(chown(root, 0, 0), 0);
	assert_int_equal(try_adopt("theirs"), SHMS_EFOREIGN);
	path(p, sizeof(p), "theirs");
	assert_int_equal(chown(p, 0, 0), 0);
	assert_int_equal(try_adopt("theirs"), SHMS_EFOREIGN);	/* manifest */
}

/* ---- planted links ---- */

static void
test_symlinks(void **state)
{
	char p[2200], q[2200];

	(void)state;
	make_state("svc");
	make_state("other");
	/* A segment that is a symlink to a valid segment elsewhere. */
	path(p, sizeof(p), "svc/ckpt.0000000000000001.items");
	path(q, sizeof(q), "other/ckpt.0000000000000001.items");
	assert_int_equal(unlink(p), 0);
	assert_int_equal(symlink(q, p), 0);
	assert_int_equal(try_adopt("svc"), SHMS_ESYMLINK);
	/* The manifest. */
	path(p, sizeof(p), "svc/manifest");
	path(q, sizeof(q), "other/manifest");
	assert_int_equal(unlink(p), 0);
	assert_int_equal(symlink(q, p), 0);
	assert_int_equal(try_adopt("svc"), SHMS_ESYMLINK);
	/* The service directory. */
	path(p, sizeof(p), "link");
	path(q, sizeof(q), "other");
	assert_int_equal(symlink(q, p), 0);
	assert_int_equal(try_adopt("link"), SHMS_ESYMLINK);
	/* The root itself. */
	snprintf(q, sizeof(q), "%.1050s", root);
	snprintf(p, sizeof(p), "%.1050s.link", q);
	assert_int_equal(symlink(q, p), 0);
	snprintf(root, sizeof(root), "%.1090s", p);
	assert_int_equal(try_adopt("other"), SHMS_ESYMLINK);
	snprintf(root, sizeof(root), "%.1090s", q);
	assert_int_equal(unlink(p), 0);
	assert_int_equal(try_adopt("other"), 0);
}

static void
test_hardlinks(void **state)
{
	char p[2200], q[2200];

	(void)state;
	make_state("svc");
	/* Another name for a segment, outside the service directory. */
	path(p, sizeof(p), "svc/ckpt.0000000000000001.items");
	path(q, sizeof(q), "elsewhere");
	assert_int_equal(link(p, q), 0);
	assert_int_equal(try_adopt("svc"), SHMS_EPERMS);
	assert_int_equal(unlink(q), 0);
	assert_int_equal(try_adopt("svc"), 0);
	path(p, sizeof(p), "svc/manifest");
	assert_int_equal(link(p, q), 0);
	assert_int_equal(try_adopt("svc"), SHMS_EPERMS);
	assert_int_equal(unlink(q), 0);
	assert_int_equal(try_adopt("svc"), 0);
}

/* ---- names ---- */

static void
test_names(void **state)
{
	static const char *const bad[] = { "..", "../etc", "a/b", "/abs",
	    ".hidden", "a..b", "", "a b", "tab\t", "new\nline", "caf\xc3\xa9" };
	struct shms_svc *svc;
	struct shms_ckpt *ck;
	struct shms_seg *seg;
	struct shms_adopt *ad;
	struct shms_arena *a;
	char *big;
	size_t i;

	(void)state;
	big = malloc(10241);
	assert_non_null(big);
	memset(big, 'a', 10240);
	big[10240] = '\0';
	make_state("svc");
	assert_int_equal(shms_svc_open(&svc, root, "svc", 0), 0);
	assert_int_equal(shms_ckpt_begin(svc, 0, &ck), 0);
	assert_int_equal(shms_adopt_begin(svc, 0, &ad), 0);
	for (i = 0; i <= sizeof(bad) / sizeof(bad[0]); i++) {
		const char *n = i < sizeof(bad) / sizeof(bad[0]) ? bad[i] : big;
		struct shms_svc *s2;

		assert_int_equal(shms_name_valid(n), SHMS_ENAME);
		assert_int_equal(shms_svc_open(&s2, root, n, 0), SHMS_ENAME);
		assert_int_equal(shms_ckpt_seg_create(ck, n, "sec", 1, 0, &seg),
		    SHMS_ENAME);
		assert_int_equal(shms_ckpt_seg_create(ck, "ok", n, 1, 0, &seg),
		    SHMS_ENAME);
		assert_int_equal(shms_adopt_seg_open(ad, n, NULL, 0,
		    SHMS_VERIFY_HEADER, &seg), SHMS_ENAME);
		assert_int_equal(shms_arena_create(svc, n, "sec", 1, 1u << 20,
		    0, 0, &a), SHMS_ENAME);
		assert_int_equal(shms_arena_adopt(svc, n, NULL, 0, 0, &a),
		    SHMS_ENAME);
		assert_int_equal(shms_arena_remove(svc, n), SHMS_ENAME);
		assert_true(shms_svc_verify(svc, n, NULL, NULL) < 0);
		assert_true(shms_svc_remove(svc, n) < 0);
	}
	/* Nothing escaped the service directory or appeared in it. */
	{
		char p[2200];
		struct stat st;

		path(p, sizeof(p), "etc");
		assert_int_not_equal(lstat(p, &st), 0);
		path(p, sizeof(p), "svc/manifest");
		assert_int_equal(lstat(p, &st), 0);
	}
	shms_adopt_abort(ad);
	shms_ckpt_abort(ck);
	assert_int_equal(shms_svc_close(svc), 0);
	free(big);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_modes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writable_dirs, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_group_readable_files,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreign_owned, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_other_uid_refused, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_state_of_other_uid, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_symlinks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hardlinks, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_names, setup, teardown),
	};
	struct passwd *pw = getpwnam("nobody");

	if (pw != NULL) {
		nobody_uid = pw->pw_uid;
		nobody_gid = pw->pw_gid;
	}
	return cmocka_run_group_tests_name("security_api", tests, NULL, NULL);
}
