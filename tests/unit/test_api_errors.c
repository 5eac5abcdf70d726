/*
 * test_api_errors.c: every public entry point's argument and state
 * errors, called the way a careless caller would: NULL handles and
 * out-params, bad flags, invalid names, calls in the wrong state, on a
 * read-only service, on files that are not there. Each must return its
 * documented code (with a detail where the call has a service) and change
 * nothing; what works afterwards is checked too.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core_test.h"

static int
count_cb(const struct shms_entry *e, void *arg)
{
	(*(int *)arg)++;
	return 0;
}

static int
svc_cb(const char *name, void *arg)
{
	(*(int *)arg)++;
	return 0;
}

static void
svc_errors(void **state)
{
	struct shms_svc *svc = (struct shms_svc *)0x1, *ro;
	char detail[SHMS_DETAIL_MAX];
	const char *name = test_service("apisvc");
	pid_t pid;
	int alive, n = 0;

	assert_int_equal(shms_svc_open(NULL, NULL, "x", 0), -EINVAL);
	assert_int_equal(shms_svc_open(&svc, NULL, "x", 0x80), -EINVAL);
	assert_ptr_equal(svc, (struct shms_svc *)0x1);	/* not written */
	assert_int_equal(shms_svc_open(&svc, NULL, "../x", 0), SHMS_ENAME);
	assert_int_equal(shms_svc_open(&svc, NULL, "", 0), SHMS_ENAME);
	assert_int_equal(shms_svc_open(&svc, NULL, "nosuch-svc",
	    SHMS_SVC_NOCREATE), -ENOENT);
	assert_int_equal(shms_svc_open(&svc, NULL, "nosuch-svc",
	    SHMS_SVC_RDONLY), -ENOENT);
	detail[0] = '\0';
	assert_true(shms_svc_open_detail(&svc, NULL, "a/b", 0, detail,
	    sizeof(detail)) < 0);
	assert_true(detail[0] != '\0');
	assert_ptr_equal(svc, (struct shms_svc *)0x1);

	assert_int_equal(shms_svc_close(NULL), 0);
	assert_non_null(shms_errdetail(NULL));
	assert_int_equal(shms_svc_owner(NULL, &pid, &alive), -EINVAL);
	assert_int_equal(shms_svc_set_build_id(NULL, "abc"), -EINVAL);
	assert_int_equal(shms_svc_list(NULL, count_cb, NULL), -EINVAL);
	assert_int_equal(shms_list_services(NULL, NULL, NULL), -EINVAL);
	assert_int_equal(shms_list_services("/nonexistent/root", svc_cb, &n),
	    -ENOENT);

	svc = open_w(name);
	assert_int_equal(shms_svc_owner(svc, NULL, &alive), -EINVAL);
	assert_int_equal(shms_svc_set_build_id(svc, ""), -EINVAL);
	assert_int_equal(shms_svc_list(svc, NULL, NULL), -EINVAL);
	assert_int_equal(shms_svc_manifest(svc, NULL), -EINVAL);
	/* The manifest and the lock are not files to verify or remove. */
	assert_true(shms_svc_verify(svc, "manifest", NULL, NULL) < 0);
	assert_true(shms_svc_remove(svc, "lock") < 0);
	assert_true(shms_svc_remove(svc, "../x") < 0);
	assert_true(shms_svc_remove(svc, "ckpt.nosuch") < 0);
	assert_true(shms_svc_dump(svc, "ckpt.0000000000000001.a", -1) < 0);

	/* A read-only handle may look, never change. */
	assert_int_equal(shms_svc_open(&ro, NULL, name, SHMS_SVC_RDONLY), 0);
	assert_true(shms_svc_gc(ro, NULL, NULL) < 0);
	assert_true(shms_svc_remove(ro, "ckpt.0000000000000001.a") < 0);
	assert_int_equal(shms_svc_list(ro, count_cb, &n), 0);
	assert_int_equal(shms_svc_close(ro), 0);
	assert_int_equal(shms_svc_close(svc), 0);
}

static void
ckpt_errors(void **state)
{
	struct shms_svc *svc = open_w(test_service("apickpt")), *ro;
	struct shms_ckpt *ck = (struct shms_ckpt *)0x1;
	struct shms_seg *seg = (struct shms_seg *)0x1, *seg2;
	struct shms_seg_info info;
	void *p;
	const void *data;
	uint64_t len, got;

	assert_int_equal(shms_ckpt_begin(NULL, 0, &ck), -EINVAL);
	assert_int_equal(shms_ckpt_begin(svc, 0, NULL), -EINVAL);
	assert_int_equal(shms_ckpt_begin(svc, 0x10, &ck), -EINVAL);
	assert_ptr_equal(ck, (struct shms_ckpt *)0x1);
	assert_int_equal(shms_ckpt_seg_create(NULL, "a", "l", 1, 0, &seg),
	    -EINVAL);
	assert_int_equal(shms_seg_write(NULL, "x", 1), -EINVAL);
	assert_int_equal(shms_seg_reserve(NULL, 1, &p), -EINVAL);
	assert_int_equal(shms_seg_commit(NULL, 1), -EINVAL);
	assert_int_equal(shms_seg_info(NULL, &info), -EINVAL);
	assert_int_equal(shms_seg_close(NULL), 0);
	assert_int_equal(shms_ckpt_commit(NULL, 0, NULL), -EINVAL);
	shms_ckpt_abort(NULL);

	assert_int_equal(shms_ckpt_begin(svc, 0, &ck), 0);
	assert_int_equal(shms_ckpt_seg_create(ck, "a", "l", 1, 0, NULL),
	    -EINVAL);
	assert_int_equal(shms_ckpt_seg_create(ck, "../a", "l", 1, 0, &seg),
	    SHMS_ENAME);
	assert_int_equal(shms_ckpt_seg_create(ck, "a", "", 1, 0, &seg),
	    SHMS_ENAME);
	assert_int_equal(shms_ckpt_seg_create(ck, "a", "l", 1,
	    UINT64_MAX, &seg), SHMS_ELIMIT);
	assert_ptr_equal(seg, (struct shms_seg *)0x1);
	assert_int_equal(shms_ckpt_seg_create(ck, "a", "l", 1, 0, &seg), 0);
	/* A second segment of the same name. */
	assert_int_equal(shms_ckpt_seg_create(ck, "a", "l", 1, 0, &seg2),
	    -EEXIST);
	assert_true(shms_errdetail(svc)[0] != '\0');
	assert_int_equal(shms_seg_write(seg, NULL, 5), -EINVAL);
	assert_int_equal(shms_seg_reserve(seg, 8, NULL), -EINVAL);
	assert_int_equal(shms_seg_write(seg, "abc", 3), 0);
	/* Reading calls on a segment being written. */
	assert_int_equal(shms_seg_read(seg, &len, sizeof(len), &got),
	    -EINVAL);
	assert_int_equal(shms_seg_data(seg, &data, &got), -EINVAL);
	assert_int_equal(shms_seg_release(seg, 0, 1, 0), -EINVAL);
	assert_int_equal(shms_seg_info(seg, NULL), -EINVAL);
	assert_int_equal(shms_seg_close(seg), 0);
	/* Closed (sealed): no more writes. */
	assert_int_equal(shms_ckpt_commit(ck, 0x10, NULL), -EINVAL);

	/* A read-only service cannot checkpoint. */
	assert_int_equal(shms_svc_open(&ro, NULL, shms_svc_path(svc) +
	    strlen(test_root()) + 1, SHMS_SVC_RDONLY), 0);
	assert_true(shms_ckpt_begin(ro, 0, &ck) < 0);
	assert_true(shms_adopt_begin(ro, 0, (struct shms_adopt **)&p) < 0);
	assert_int_equal(shms_svc_close(ro), 0);
	assert_int_equal(shms_svc_close(svc), 0);
}

static void
adopt_errors(void **state)
{
	static const char *const names[] = { "a", "b" };
	struct shms_svc *svc = open_w(test_service("apiadopt"));
	struct shms_adopt *ad = (struct shms_adopt *)0x1;
	struct shms_seg *seg = (struct shms_seg *)0x1;
	struct shms_seg_info info;
	const void *data;
	uint64_t got;
	char buf[16];

	assert_int_equal(shms_adopt_begin(NULL, 0, &ad), -EINVAL);
	assert_int_equal(shms_adopt_begin(svc, 0, NULL), -EINVAL);
	assert_int_equal(shms_adopt_begin(svc, 7, &ad), -EINVAL);
	/* Nothing committed yet. */
	assert_int_equal(shms_adopt_begin(svc, 0, &ad), SHMS_ENOSTATE);
	assert_ptr_equal(ad, (struct shms_adopt *)0x1);
	assert_true(shms_adopt_generation(NULL) == 0);
	assert_true(shms_adopt_count(NULL) == 0);
	assert_int_equal(shms_adopt_entry(NULL, 0, &info), -EINVAL);
	assert_int_equal(shms_adopt_finish(NULL, 0), -EINVAL);
	shms_adopt_abort(NULL);
	assert_int_equal(shms_seg_read(NULL, buf, 1, &got), -EINVAL);
	assert_int_equal(shms_seg_data(NULL, &data, &got), -EINVAL);
	assert_int_equal(shms_seg_release(NULL, 0, 1, 0), -EINVAL);

	make_ckpt(svc, names, 2, 100);
	assert_int_equal(shms_adopt_begin(svc, 0, &ad), 0);
	assert_int_equal(shms_adopt_entry(ad, 2, &info), -EINVAL);
	assert_int_equal(shms_adopt_entry(ad, 0, NULL), -EINVAL);
	assert_int_equal(shms_adopt_seg_open(NULL, "a", "lay", 1, 0, &seg),
	    -EINVAL);
	assert_int_equal(shms_adopt_seg_open(ad, "zz", "lay", 1, 0, &seg),
	    SHMS_ENOTFOUND);
	assert_int_equal(shms_adopt_seg_open(ad, "a", "other", 1, 0, &seg),
	    SHMS_ELAYOUT);
	assert_int_equal(shms_adopt_seg_open(ad, "a", "lay", 2, 0, &seg),
	    SHMS_EVERSION);
	assert_ptr_equal(seg, (struct shms_seg *)0x1);
	assert_int_equal(shms_adopt_seg_open(ad, "a", "lay", 1, 0, &seg), 0);
	/* Writing calls on a segment being read. */
	assert_int_equal(shms_seg_write(seg, "x", 1), -EINVAL);
	assert_int_equal(shms_seg_commit(seg, 0), -EINVAL);
	assert_int_equal(shms_seg_read(seg, NULL, 1, &got), -EINVAL);
	assert_int_equal(shms_seg_read(seg, buf, sizeof(buf), NULL), -EINVAL);
	assert_int_equal(shms_seg_data(seg, NULL, &got), -EINVAL);
	/* Releasing past the end, or what was not read yet. */
	assert_int_equal(shms_seg_release(seg, 50, 100, 0), -ERANGE);
	assert_int_equal(shms_seg_info(seg, NULL), -EINVAL);
	assert_int_equal(shms_seg_info(seg, &info), 0);
	assert_true(info.payload_len == 100);
	assert_int_equal(shms_seg_close(seg), 0);
	/* Bad flags: refused, the handle freed all the same, files kept. */
	assert_int_equal(shms_adopt_finish(ad, 0x40), -EINVAL);
	assert_int_equal(shms_adopt_begin(svc, 0, &ad), 0);
	assert_true(shms_adopt_count(ad) == 2);
	shms_adopt_abort(ad);
	assert_int_equal(shms_svc_close(svc), 0);
}

static void
arena_errors(void **state)
{
	struct shms_svc *svc = open_w(test_service("apiarena")), *ro;
	struct shms_arena *a = (struct shms_arena *)0x1;
	struct shms_arena_stats st;
	uint64_t off, o2;
	size_t us;

	assert_int_equal(shms_arena_create(NULL, "a", "l", 1, 1 << 20, 0, 0,
	    &a), -EINVAL);
	assert_int_equal(shms_arena_create(svc, "a", NULL, 1, 1 << 20, 0, 0,
	    &a), -EINVAL);
	assert_int_equal(shms_arena_create(svc, "a", "l", 1, 0, 0, 0, &a),
	    -EINVAL);
	assert_int_equal(shms_arena_create(svc, "a", "l", 1, 1 << 20, 0,
	    0x8000, &a), -EINVAL);
	assert_int_equal(shms_arena_create(svc, "../a", "l", 1, 1 << 20, 0,
	    0, &a), SHMS_ENAME);
	assert_int_equal(shms_arena_create(svc, "a", "l/x", 1, 1 << 20, 0,
	    0, &a), SHMS_ENAME);
	assert_int_equal(shms_arena_create(svc, "a", "l", 1, 1 << 20,
	    UINT64_MAX / 2, 0, &a), SHMS_ELIMIT);
	assert_true(shms_errdetail(svc)[0] != '\0');
	assert_ptr_equal(a, (struct shms_arena *)0x1);
	assert_int_equal(shms_arena_adopt(svc, "nosuch", "l", 1, 0, &a),
	    SHMS_ENOTFOUND);
	assert_int_equal(shms_arena_adopt(NULL, "a", "l", 1, 0, &a), -EINVAL);
	assert_int_equal(shms_arena_remove(NULL, "a"), -EINVAL);
	assert_int_equal(shms_arena_remove(svc, "nosuch"), SHMS_ENOTFOUND);
	assert_int_equal(shms_arena_remove(svc, "../x"), SHMS_ENAME);
	assert_int_equal(shms_arena_inspect(NULL, "arena.a", 0, &st),
	    -EINVAL);
	assert_true(shms_arena_inspect(svc, "arena.nosuch", 0, &st) < 0);

	assert_int_equal(shms_arena_alloc(NULL, 8, &off), -EINVAL);
	assert_int_equal(shms_arena_calloc(NULL, 1, 8, &off), -EINVAL);
	assert_int_equal(shms_arena_realloc(NULL, 0, 8, &off), -EINVAL);
	assert_int_equal(shms_arena_free(NULL, 8), -EINVAL);
	assert_int_equal(shms_arena_usable_size(NULL, 8, &us), -EINVAL);
	assert_int_equal(shms_arena_root_set(NULL, 0), -EINVAL);
	assert_int_equal(shms_arena_stats(NULL, &st), -EINVAL);
	assert_int_equal(shms_arena_seal(NULL, 0), 0);
	assert_int_equal(shms_arena_close(NULL), 0);
	assert_int_equal(shms_arena_destroy(NULL), 0);

	assert_int_equal(shms_arena_create(svc, "a", "l", 1, 1 << 20,
	    2 << 20, 0, &a), 0);
	/* The name is taken. */
	{
		struct shms_arena *b = (struct shms_arena *)0x1;

		assert_true(shms_arena_create(svc, "a", "l", 1, 1 << 20, 0, 0,
		    &b) < 0);
		assert_ptr_equal(b, (struct shms_arena *)0x1);
		/* Open in this handle: adopting it again is refused. */
		assert_int_equal(shms_arena_adopt(svc, "a", "l", 1, 0, &b),
		    SHMS_ELOCKED);
	}
	assert_int_equal(shms_arena_alloc(a, 8, NULL), -EINVAL);
	assert_int_equal(shms_arena_calloc(a, SIZE_MAX, 2, &off), -EINVAL);
	assert_int_equal(shms_arena_realloc(a, 0, 8, NULL), -EINVAL);
	assert_int_equal(shms_arena_usable_size(a, 8, NULL), -EINVAL);
	assert_int_equal(shms_arena_stats(a, NULL), -EINVAL);
	assert_int_equal(shms_arena_free(a, 0), 0);	/* like free(NULL) */
	/* Offsets that were never allocated. */
	assert_true(shms_arena_free(a, 12345) < 0);
	assert_true(shms_arena_usable_size(a, 12345, &us) < 0);
	assert_true(shms_arena_root_set(a, 12345) < 0);
	/* Past the maximum: full, with a detail. */
	assert_int_equal(shms_arena_alloc(a, 64 << 20, &off), SHMS_ENOSPACE);
	if (shms_errdetail(svc)[0] == '\0')
		fail_msg("ENOSPACE without a detail");
	assert_int_equal(shms_arena_alloc(a, 100, &off), 0);
	assert_int_equal(shms_arena_realloc(a, off, 64 << 20, &o2),
	    SHMS_ENOSPACE);
	assert_int_equal(shms_arena_usable_size(a, off, &us), 0);
	assert_true(us >= 100);
	assert_int_equal(shms_arena_seal(a, 0x100), -EINVAL);	/* ends it */

	/* A read-only service: no arenas made, adopted or removed. */
	assert_int_equal(shms_svc_open(&ro, NULL, shms_svc_path(svc) +
	    strlen(test_root()) + 1, SHMS_SVC_RDONLY), 0);
	assert_int_equal(shms_arena_create(ro, "b", "l", 1, 1 << 20, 0, 0,
	    &a), -EBADF);
	assert_int_equal(shms_arena_adopt(ro, "a", "l", 1, 0, &a), -EBADF);
	assert_true(shms_arena_remove(ro, "a") < 0);
	assert_int_equal(shms_svc_close(ro), 0);
	assert_int_equal(shms_arena_remove(svc, "a"), 0);
	assert_int_equal(shms_svc_close(svc), 0);
}

static void
misc_errors(void **state)
{
	struct shms_listen_fd fds[2], *fdsp = (struct shms_listen_fd *)0x1;
	struct shms_handoff *h = (struct shms_handoff *)0x1;
	int fd;

	assert_int_equal(shms_listen_fds(NULL, 2, 0), -EINVAL);
	assert_int_equal(shms_listen_fds(fds, 2, 0x40), -EINVAL);
	assert_int_equal(shms_listen_fds_alloc(NULL, 0), -EINVAL);
	assert_int_equal(shms_listen_fds_alloc(&fdsp, 0x40), -EINVAL);
	assert_true(shms_listen_fd(NULL) < 0);
	assert_int_equal(shms_handoff_new(NULL), -EINVAL);
	assert_int_equal(shms_handoff_add(NULL, 0, NULL, 0, NULL, 0, NULL, 0), -EINVAL);
	assert_int_equal(shms_handoff_new(&h), 0);
	assert_int_equal(shms_handoff_add(h, -1, NULL, 0, NULL, 0, NULL, 0), -EINVAL);
	assert_int_equal(shms_handoff_add(h, 0, NULL, 5, NULL, 0, NULL, 0),
	    -EINVAL);
	/* Only sockets travel. */
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(shms_handoff_add(h, fd, NULL, 0, NULL, 0, NULL, 0),
	    -EINVAL);
	close(fd);
	shms_handoff_free(h);
	shms_handoff_free(NULL);
	assert_true(shms_name_valid(NULL) != 0);
	assert_true(shms_name_valid("a\nb") != 0);
	assert_non_null(shms_strerror(12345678));
	assert_non_null(shms_strerror(-99999));
}

static int
entry_cb(const struct shms_entry *e, void *arg)
{
	int *errs = arg;

	if (e->error != 0)
		(*errs)++;
	return 0;
}

/* Errors that come from the state on disk rather than the arguments. */
static void
state_errors(void **state)
{
	static const char *const names[] = { "a" };
	char root[PATH_MAX], path[PATH_MAX], file[SHMS__FILE_MAX];
	char longname[256];
	const char *name = test_service("apistate");
	struct shms_svc *svc;
	struct shms_ckpt *ck;
	struct shms_seg *seg;
	struct shms_adopt *ad;
	int fd, errs = 0;

	/*
	 * A root whose parents do not exist yet: an explicit one is not
	 * made up (ENOENT); $SHMSTATE_DIR (root NULL) is made with its
	 * parents, mode 0700.
	 */
	snprintf(root, sizeof(root), "%s/deep/er/root", test_root());
	assert_int_equal(shms_svc_open(&svc, root, "x", 0), -ENOENT);
	snprintf(path, sizeof(path), "%s", test_root());
	assert_int_equal(setenv("SHMSTATE_DIR", root, 1), 0);
	assert_int_equal(shms_svc_open(&svc, NULL, "x", 0), 0);
	assert_int_equal(shms_svc_close(svc), 0);
	/* Without $SHMSTATE_DIR: the default root, only looked at here. */
	assert_int_equal(unsetenv("SHMSTATE_DIR"), 0);
	assert_true(shms_svc_open(&svc, NULL, "no-such-service-apierr",
	    SHMS_SVC_RDONLY) < 0);
	assert_int_equal(setenv("SHMSTATE_DIR", path, 1), 0);
	/* A root that is a file. */
	snprintf(root, sizeof(root), "%s/plainfile", test_root());
	fd = open(root, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(shms_svc_open(&svc, root, "x", 0), -ENOTDIR);

	/* Files that are not ours in a service directory: listed, flagged. */
	svc = open_w(name);
	make_ckpt(svc, names, 1, 10);
	snprintf(path, sizeof(path), "%s/junk", shms_svc_path(svc));
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	memcpy(longname, "ckpt.", 5);
	snprintf(path, sizeof(path), "%s/%s", shms_svc_path(svc), longname);
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(shms_svc_list(svc, entry_cb, &errs), 0);
	assert_true(errs >= 2);
	/* gc leaves what is not ours alone. */
	assert_int_equal(shms_svc_gc(svc, NULL, NULL), 0);
	assert_int_equal(access(path, F_OK), 0);

	/* A segment still being written cannot be verified. */
	assert_int_equal(shms_ckpt_begin(svc, 0, &ck), 0);
	assert_int_equal(shms_ckpt_seg_create(ck, "w", "lay", 1, 0, &seg), 0);
	assert_int_equal(shms_seg_write(seg, "abc", 3), 0);
	shms__ckpt_file(file, 2, "w");
	assert_int_equal(shms_svc_verify(svc, file, NULL, NULL), SHMS_ESTATE);
	shms_ckpt_abort(ck);
	assert_int_equal(shms_svc_close(svc), 0);

	/* A checkpoint moved under another service's name is not adopted. */
	snprintf(path, sizeof(path), "%s/%s", test_root(), name);
	snprintf(root, sizeof(root), "%s/%s-moved", test_root(), name);
	assert_int_equal(rename(path, root), 0);
	snprintf(path, sizeof(path), "%s-moved", name);
	svc = open_w(path);
	assert_int_equal(shms_adopt_begin(svc, 0, &ad), SHMS_ECORRUPT);
	assert_non_null(strstr(shms_errdetail(svc), "service"));
	assert_int_equal(shms_svc_close(svc), 0);
}

/* The compile-time bounds: segments per checkpoint, payload size. */
static void
limit_errors(void **state)
{
	static const char *const names[] = { "c" };
	struct shms_svc *svc = open_w(test_service("apilimit"));
	struct shms_ckpt *ck;
	struct shms_seg *seg, *first = NULL;
	struct shms_adopt *ad;
	char name[32], file[SHMS__FILE_MAX], buf[4096];
	uint64_t got;
	void *p = NULL;
	int i, rc = 0;

	assert_int_equal(shms_ckpt_begin(svc, 0, &ck), 0);
	for (i = 0; i <= SHMS_MAX_SEGMENTS && rc == 0; i++) {
		snprintf(name, sizeof(name), "s%d", i);
		rc = shms_ckpt_seg_create(ck, name, "lay", 1, 0, &seg);
		if (rc == 0 && first == NULL)
			first = seg;
		else if (rc == 0)
			assert_int_equal(shms_seg_close(seg), 0);
	}
	assert_int_equal(rc, SHMS_ELIMIT);
	assert_int_equal(i, SHMS_MAX_SEGMENTS + 1);
	assert_int_equal(shms_seg_reserve(first, SIZE_MAX, &p), SHMS_ELIMIT);
	assert_null(p);
	shms_ckpt_abort(ck);

	/* A consumed segment (an adopter released its pages) is not verified. */
	make_ckpt(svc, names, 1, 3 * 4096);
	assert_int_equal(shms_adopt_begin(svc, 0, &ad), 0);
	assert_int_equal(shms_adopt_seg_open(ad, "c", "lay", 1, 0, &seg), 0);
	assert_int_equal(shms_seg_read(seg, buf, sizeof(buf), &got), 0);
	assert_int_equal(shms_seg_release(seg, 0, sizeof(buf), 0), 0);
	shms__ckpt_file(file, shms_adopt_generation(ad), "c");
	assert_int_equal(shms_svc_verify(svc, file, NULL, NULL), SHMS_ESTATE);
	shms_adopt_abort(ad);
	assert_int_equal(shms_notifyf(NULL), -EINVAL);
	assert_int_equal(shms_svc_close(svc), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(svc_errors),
		cmocka_unit_test(ckpt_errors),
		cmocka_unit_test(adopt_errors),
		cmocka_unit_test(arena_errors),
		cmocka_unit_test(misc_errors),
		cmocka_unit_test(state_errors),
		cmocka_unit_test(limit_errors),
	};

	test_root();
	return cmocka_run_group_tests_name("api_errors", tests, NULL, NULL);
}
