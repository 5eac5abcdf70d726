/*
 * test_inspect.c: shms_svc_list and friends on real service directories
 * made with the checkpoint API, with garbage, uncommitted, superseded,
 * corrupt and symlinked files planted among them.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "internal.h"

#define SVC	"svc"

struct fx {
	char	root[256];
	char	dir[300];
};

/* ---- fixtures ---- */

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	/* Under the runner's private $SHMSTATE_DIR, so that it cleans up
	 * whatever a failed test leaves. */
	snprintf(f->root, sizeof(f->root), "%s/test_inspect.XXXXXX",
	    getenv("SHMSTATE_DIR") ? getenv("SHMSTATE_DIR") : "/dev/shm");
	assert_non_null(mkdtemp(f->root));
	snprintf(f->dir, sizeof(f->dir), "%s/" SVC, f->root);
	*state = f;
	return 0;
}

/* Removes root/<dir>/<file> two levels deep; never follows symlinks. */
static void
rm_tree(const char *path, int depth)
{
	char sub[1024];
	struct dirent *de;
	DIR *d;

	if (depth < 2 && (d = opendir(path)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0)
				continue;
			snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
			if (unlink(sub) == -1)
				rm_tree(sub, depth + 1);
		}
		closedir(d);
	}
	rmdir(path);
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	rm_tree(f->root, 0);
	free(f);
	return 0;
}

/* ---- helpers ---- */

static struct shms_svc *
svc_open(const struct fx *f, unsigned flags)
{
	struct shms_svc *svc;

	assert_int_equal(shms_svc_open(&svc, f->root, SVC, flags), 0);
	return svc;
}

static void
fill(unsigned char *buf, size_t n, unsigned pattern)
{
	size_t i;

	for (i = 0; i < n; i++)
		buf[i] = (unsigned char)(pattern + i);
}

/* Writes segments a (len_a) and b (100 bytes) as one checkpoint. */
static uint64_t
ckpt(const struct fx *f, size_t len_a, unsigned flags, int commit)
{
	static unsigned char buf[1 << 20];
	struct shms_svc *svc = svc_open(f, 0);
	struct shms_ckpt *ck;
	struct shms_seg *seg;
	uint64_t gen = 0;

	assert_true(len_a <= sizeof(buf));
	assert_int_equal(shms_ckpt_begin(svc, 0, &ck), 0);
	assert_int_equal(shms_ckpt_seg_create(ck, "a", "lay", 3, 0, &seg), 0);
	fill(buf, len_a, 1);
	assert_int_equal(shms_seg_write(seg, buf, len_a), 0);
	assert_int_equal(shms_seg_close(seg), 0);
	assert_int_equal(shms_ckpt_seg_create(ck, "b", "lay", 3, 0, &seg), 0);
	fill(buf, 100, 2);
	assert_int_equal(shms_seg_write(seg, buf, 100), 0);
	assert_int_equal(shms_seg_close(seg), 0);
	if (!commit)
		_exit(0);	/* in a child: as if it died here */
	assert_int_equal(shms_ckpt_commit(ck, flags, &gen), 0);
	assert_int_equal(shms_svc_close(svc), 0);
	return gen;
}

/* A checkpoint left uncommitted by a writer that died. */
static void
ckpt_crashed(const struct fx *f)
{
	int st;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		ckpt(f, 300, 0, 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* gen 1 (superseded), gen 2 (committed), gen 3 (uncommitted). */
static void
three_generations(const struct fx *f)
{
	assert_int_equal(ckpt(f, 5000, 0, 1), 1);
	assert_int_equal(ckpt(f, 7000, SHMS_CKPT_KEEP_OLD, 1), 2);
	ckpt_crashed(f);
}

static void
plant(const struct fx *f, const char *name, const void *data, size_t len)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static void
path_of(const struct fx *f, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", f->dir, name);
}

/* Overwrites one byte of a file at off. */
static void
poke(const struct fx *f, const char *name, off_t off, unsigned char v)
{
	char path[512];
	int fd;

	path_of(f, name, path, sizeof(path));
	assert_true((fd = open(path, O_WRONLY)) >= 0);
	assert_int_equal(pwrite(fd, &v, 1, off), 1);
	close(fd);
}

struct list {
	struct shms_entry	v[64];
	size_t			n;
};

static int
collect(const struct shms_entry *e, void *arg)
{
	struct list *l = arg;

	assert_true(l->n < 64);
	l->v[l->n++] = *e;
	return 0;
}

static void
list(const struct fx *f, struct list *l)
{
	struct shms_svc *svc = svc_open(f, SHMS_SVC_RDONLY);

	l->n = 0;
	assert_int_equal(shms_svc_list(svc, collect, l), 0);
	assert_int_equal(shms_svc_close(svc), 0);
}

static const struct shms_entry *
find(const struct list *l, const char *file)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->v[i].file, file) == 0)
			return &l->v[i];
	return NULL;
}

static void
expect_entry(const struct list *l, const char *file, int status, int error)
{
	const struct shms_entry *e = find(l, file);

	if (e == NULL)
		fail_msg("%s not listed", file);
	if (e->status != status || e->error != error)
		fail_msg("%s: status %d error %d (%s), want %d %d", file,
		    e->status, e->error, e->detail, status, error);
	if (error != 0 && strstr(e->detail, file) != e->detail)
		fail_msg("%s: detail '%s' does not name the file", file,
		    e->detail);
}

#define F1A	"ckpt.0000000000000001.a"
#define F1B	"ckpt.0000000000000001.b"
#define F2A	"ckpt.0000000000000002.a"
#define F2B	"ckpt.0000000000000002.b"
#define F3A	"ckpt.0000000000000003.a"
#define F3B	"ckpt.0000000000000003.b"

/* ---- tests ---- */

static void
test_classification(void **state)
{
	struct fx *f = *state;
	char path[512], target[512];
	unsigned char junk[1000];
	struct list l;
	size_t i;

	three_generations(f);
	memset(junk, 0xa5, sizeof(junk));
	plant(f, "junk", junk, sizeof(junk));
	plant(f, "manifest.tmp", junk, 10);
	path_of(f, "ckpt.0000000000000009.x", path, sizeof(path));
	path_of(f, F2B, target, sizeof(target));
	assert_int_equal(symlink(target, path), 0);
	path_of(f, "sub", path, sizeof(path));
	assert_int_equal(mkdir(path, 0700), 0);
	path_of(f, "fifo", path, sizeof(path));
	assert_int_equal(mkfifo(path, 0600), 0);
	/*
	 * A valid segment under another segment's name: a copy, since a
	 * hard link (two names, one inode) is refused as such.
	 */
	{
		static unsigned char copy[64 << 10];
		ssize_t n;
		int fd;

		path_of(f, F2A, target, sizeof(target));
		assert_true((fd = open(target, O_RDONLY)) >= 0);
		n = read(fd, copy, sizeof(copy));
		close(fd);
		assert_true(n > 0 && n < (ssize_t)sizeof(copy));
		plant(f, "ckpt.0000000000000005.c", copy, (size_t)n);
	}

	list(f, &l);
	expect_entry(&l, F1A, SHMS_ENT_SUPERSEDED, 0);
	expect_entry(&l, F1B, SHMS_ENT_SUPERSEDED, 0);
	expect_entry(&l, F2A, SHMS_ENT_COMMITTED, 0);
	expect_entry(&l, F2B, SHMS_ENT_COMMITTED, 0);
	expect_entry(&l, F3A, SHMS_ENT_UNCOMMITTED, 0);
	expect_entry(&l, F3B, SHMS_ENT_UNCOMMITTED, 0);
	expect_entry(&l, "ckpt.0000000000000009.x", SHMS_ENT_UNCOMMITTED,
	    SHMS_ESYMLINK);
	expect_entry(&l, "ckpt.0000000000000005.c", SHMS_ENT_UNCOMMITTED,
	    SHMS_ECORRUPT);
	expect_entry(&l, "manifest.tmp", SHMS_ENT_UNCOMMITTED, SHMS_EMAGIC);
	expect_entry(&l, "junk", SHMS_ENT_FOREIGN, SHMS_EMAGIC);
	expect_entry(&l, "sub", SHMS_ENT_FOREIGN, SHMS_ECORRUPT);
	expect_entry(&l, "fifo", SHMS_ENT_FOREIGN, SHMS_ECORRUPT);
	assert_null(find(&l, "lock"));
	assert_null(find(&l, "manifest"));
	assert_int_equal(l.n, 12);
	for (i = 1; i < l.n; i++)
		assert_true(strcmp(l.v[i - 1].file, l.v[i].file) < 0);

	/* The header fields came through. */
	const struct shms_entry *e = find(&l, F2A);
	assert_string_equal(e->info.name, "a");
	assert_string_equal(e->info.layout, "lay");
	assert_int_equal(e->info.layout_version, 3);
	assert_int_equal(e->info.kind, SHMS_KIND_CKPT);
	assert_int_equal(e->info.state, SHMS_STATE_CLEAN);
	assert_int_equal(e->info.generation, 2);
	assert_int_equal(e->info.payload_len, 7000);
	assert_true(e->info.file_size >= 7000 + e->info.payload_off);
	assert_int_equal(e->info.owner_pid, getpid());
}

static int
stop_at_second(const struct shms_entry *e, void *arg)
{
	int *n = arg;

	(void)e;
	return ++*n == 2 ? 42 : 0;
}

static void
test_list_stops(void **state)
{
	struct fx *f = *state;
	struct shms_svc *svc;
	int n = 0;

	three_generations(f);
	svc = svc_open(f, SHMS_SVC_RDONLY);
	assert_int_equal(shms_svc_list(svc, stop_at_second, &n), 42);
	assert_int_equal(n, 2);
	assert_int_equal(shms_svc_list(svc, NULL, NULL), -EINVAL);
	assert_int_equal(shms_svc_close(svc), 0);
}

static void
test_missing(void **state)
{
	struct fx *f = *state;
	const struct shms_entry *e;
	char path[512];
	struct list l;

	assert_int_equal(ckpt(f, 5000, 0, 1), 1);
	path_of(f, "ckpt.0000000000000001.a", path, sizeof(path));
	assert_int_equal(unlink(path), 0);
	list(f, &l);
	expect_entry(&l, F1A, SHMS_ENT_COMMITTED, SHMS_EMISSING);
	e = find(&l, F1A);
	assert_int_equal(e->info.payload_len, 5000);
	assert_string_equal(e->info.name, "a");
	expect_entry(&l, F1B, SHMS_ENT_COMMITTED, 0);
}

static void
test_corrupt_manifest(void **state)
{
	struct fx *f = *state;
	struct shms_manifest_info mi;
	struct shms_svc *svc;
	struct list l;

	three_generations(f);
	svc = svc_open(f, SHMS_SVC_RDONLY);
	assert_int_equal(shms_svc_manifest(svc, &mi), 0);
	assert_int_equal(mi.generation, 2);
	assert_int_equal(mi.count, 2);
	assert_string_equal(mi.service, SVC);
	assert_true(mi.ctime_ns > 0);
	assert_true(mi.build_id[0] != '\0');
	assert_int_equal(shms_svc_close(svc), 0);

	poke(f, "manifest", 60, 0xff);	/* inside the service name */
	list(f, &l);
	expect_entry(&l, "manifest", SHMS_ENT_COMMITTED, SHMS_ECORRUPT);
	/* With no trustworthy manifest, nothing is committed. */
	expect_entry(&l, F2A, SHMS_ENT_UNCOMMITTED, 0);
	expect_entry(&l, F1A, SHMS_ENT_UNCOMMITTED, 0);

	svc = svc_open(f, 0);
	assert_int_equal(shms_svc_manifest(svc, &mi), SHMS_ECORRUPT);
	assert_int_equal(shms_svc_gc(svc, NULL, NULL), SHMS_ECORRUPT);
	assert_non_null(strstr(shms_errdetail(svc), "gc refused"));
	assert_int_equal(shms_svc_verify(svc, "manifest", NULL, NULL),
	    SHMS_ECORRUPT);
	assert_int_equal(shms_svc_close(svc), 0);
	list(f, &l);
	assert_non_null(find(&l, F1A));	/* gc removed nothing */
}

static void
count_progress(uint64_t done, uint64_t total, void *arg)
{
	uint64_t *last = arg;

	assert_true(done <= total);
	assert_true(done > *last);
	*last = done;
}

static void
test_verify(void **state)
{
	struct fx *f = *state;
	struct shms_svc *svc;
	const struct shms_entry *e;
	uint64_t done = 0;
	struct list l;
	char path[512];

	assert_int_equal(ckpt(f, 1 << 20, 0, 1), 1);
	assert_int_equal(ckpt(f, 3 << 18, SHMS_CKPT_KEEP_OLD, 1), 2);
	svc = svc_open(f, SHMS_SVC_RDONLY);
	assert_int_equal(shms_svc_verify(svc, F2A, count_progress, &done), 0);
	assert_int_equal(done, 3 << 18);
	assert_int_equal(shms_svc_verify(svc, F1A, NULL, NULL), 0);
	assert_int_equal(shms_svc_verify(svc, "manifest", NULL, NULL), 0);

	/* A flipped payload byte. */
	poke(f, F2A, 4096 + 12345, 0);
	assert_int_equal(shms_svc_verify(svc, F2A, NULL, NULL), SHMS_ESUM);
	assert_non_null(strstr(shms_errdetail(svc), "checksum"));
	assert_int_equal(shms_svc_verify(svc, F2B, NULL, NULL), 0);

	/* A flipped header byte: the entry itself is bad. */
	poke(f, F1B, 40, 9);	/* generation */
	list(f, &l);
	expect_entry(&l, F1B, SHMS_ENT_SUPERSEDED, SHMS_EHDRSUM);
	assert_int_equal(shms_svc_verify(svc, F1B, NULL, NULL), SHMS_EHDRSUM);

	/* Truncated under its header's length. */
	path_of(f, F1A, path, sizeof(path));
	assert_int_equal(truncate(path, 4096 + 100), 0);
	list(f, &l);
	expect_entry(&l, F1A, SHMS_ENT_SUPERSEDED, SHMS_ETRUNC);
	assert_int_equal(shms_svc_verify(svc, F1A, NULL, NULL), SHMS_ETRUNC);
	e = find(&l, F1A);
	assert_int_equal(e->info.file_size, 4096 + 100);

	assert_int_equal(shms_svc_verify(svc, "nosuch", NULL, NULL),
	    SHMS_ENOTFOUND);
	assert_int_equal(shms_svc_verify(svc, "../" SVC "/lock", NULL, NULL),
	    SHMS_ENAME);
	assert_int_equal(shms_svc_verify(svc, "", NULL, NULL), SHMS_ENAME);
	assert_int_equal(shms_svc_verify(svc, "lock", NULL, NULL),
	    SHMS_ETRUNC);
	assert_int_equal(shms_svc_close(svc), 0);
}

static void
test_verify_symlink(void **state)
{
	struct fx *f = *state;
	struct shms_svc *svc;
	char path[512], target[512];

	assert_int_equal(ckpt(f, 100, 0, 1), 1);
	path_of(f, F1A, target, sizeof(target));
	path_of(f, "ckpt.0000000000000001.z", path, sizeof(path));
	assert_int_equal(symlink(target, path), 0);
	svc = svc_open(f, SHMS_SVC_RDONLY);
	assert_int_equal(shms_svc_verify(svc, "ckpt.0000000000000001.z",
	    NULL, NULL), SHMS_ESYMLINK);
	assert_int_equal(shms_svc_dump(svc, "ckpt.0000000000000001.z",
	    STDERR_FILENO), SHMS_ESYMLINK);
	assert_int_equal(shms_svc_close(svc), 0);
}

struct removed {
	char	files[16][SHMS__FILE_MAX];
	int	n;
};

static int
note_removed(const struct shms_entry *e, void *arg)
{
	struct removed *r = arg;

	assert_true(r->n < 16);
	strcpy(r->files[r->n++], e->file);
	return 0;
}

static void
test_gc(void **state)
{
	struct fx *f = *state;
	char path[512], target[512];
	struct removed r = { .n = 0 };
	struct shms_svc *svc;
	struct stat st;
	struct list l;

	three_generations(f);
	plant(f, "junk", "x", 1);
	plant(f, "ckpt.0000000000000002.zz", "garbage", 7);
	path_of(f, "outside", target, sizeof(target));
	plant(f, "outside", "keep me", 7);
	path_of(f, "ckpt.0000000000000009.x", path, sizeof(path));
	assert_int_equal(symlink(target, path), 0);
	path_of(f, "ckpt.0000000000000008.dir", path, sizeof(path));
	assert_int_equal(mkdir(path, 0700), 0);

	svc = svc_open(f, SHMS_SVC_RDONLY);
	assert_int_equal(shms_svc_gc(svc, NULL, NULL), -EBADF);
	assert_int_equal(shms_svc_close(svc), 0);

	svc = svc_open(f, 0);
	assert_int_equal(shms_svc_gc(svc, note_removed, &r), 6);
	assert_int_equal(r.n, 6);
	assert_string_equal(r.files[0], F1A);
	assert_string_equal(r.files[1], F1B);
	assert_string_equal(r.files[2], "ckpt.0000000000000002.zz");
	assert_string_equal(r.files[3], F3A);
	assert_string_equal(r.files[4], F3B);
	assert_string_equal(r.files[5], "ckpt.0000000000000009.x");
	assert_int_equal(shms_svc_gc(svc, NULL, NULL), 0);
	assert_int_equal(shms_svc_close(svc), 0);

	/* The symlink went, not its target. */
	assert_int_equal(lstat(target, &st), 0);
	list(f, &l);
	expect_entry(&l, F2A, SHMS_ENT_COMMITTED, 0);
	expect_entry(&l, F2B, SHMS_ENT_COMMITTED, 0);
	expect_entry(&l, "junk", SHMS_ENT_FOREIGN, SHMS_ETRUNC);
	expect_entry(&l, "outside", SHMS_ENT_FOREIGN, SHMS_ETRUNC);
	expect_entry(&l, "ckpt.0000000000000008.dir", SHMS_ENT_UNCOMMITTED,
	    SHMS_ECORRUPT);
	assert_int_equal(l.n, 5);
}

static int
stop_gc(const struct shms_entry *e, void *arg)
{
	(void)e;
	(void)arg;
	return 7;
}

static void
test_gc_stops(void **state)
{
	struct fx *f = *state;
	struct shms_svc *svc;
	struct list l;

	three_generations(f);
	svc = svc_open(f, 0);
	assert_int_equal(shms_svc_gc(svc, stop_gc, NULL), 7);
	assert_int_equal(shms_svc_close(svc), 0);
	list(f, &l);
	assert_null(find(&l, F1A));	/* removed, then the walk stopped */
	assert_non_null(find(&l, F1B));
}

static void
test_remove(void **state)
{
	struct fx *f = *state;
	char path[512], target[512];
	struct shms_svc *svc;
	struct stat st;
	struct list l;

	three_generations(f);
	svc = svc_open(f, SHMS_SVC_RDONLY);
	assert_int_equal(shms_svc_remove(svc, F1A), -EBADF);
	assert_int_equal(shms_svc_close(svc), 0);

	path_of(f, "ln", path, sizeof(path));
	path_of(f, F1B, target, sizeof(target));
	assert_int_equal(symlink(target, path), 0);
	svc = svc_open(f, 0);
	assert_int_equal(shms_svc_remove(svc, F1A), 0);
	assert_int_equal(shms_svc_remove(svc, F1A), SHMS_ENOTFOUND);
	assert_int_equal(shms_svc_remove(svc, "lock"), -EINVAL);
	assert_int_equal(shms_svc_remove(svc, "../" SVC), SHMS_ENAME);
	assert_int_equal(shms_svc_remove(svc, ".."), SHMS_ENAME);
	assert_int_equal(shms_svc_remove(svc, NULL), SHMS_ENAME);
	assert_int_equal(shms_svc_remove(svc, "ln"), 0);
	assert_int_equal(lstat(target, &st), 0);
	assert_int_equal(shms_svc_remove(svc, F2A), 0);
	assert_int_equal(shms_svc_close(svc), 0);
	list(f, &l);
	assert_null(find(&l, F1A));
	assert_null(find(&l, "ln"));
	expect_entry(&l, F2A, SHMS_ENT_COMMITTED, SHMS_EMISSING);
}

static void
test_live_owner(void **state)
{
	struct fx *f = *state;
	struct shms_svc *svc;
	int go[2], ready[2], st, alive;
	pid_t pid, owner;
	char c;

	three_generations(f);
	assert_int_equal(pipe(go), 0);
	assert_int_equal(pipe(ready), 0);
	if ((pid = fork()) == 0) {
		struct shms_svc *mine;

		close(go[1]);
		if (shms_svc_open(&mine, f->root, SVC, 0) != 0)
			_exit(1);
		(void)write(ready[1], "r", 1);
		(void)read(go[0], &c, 1);	/* until the parent is done */
		_exit(0);
	}
	assert_true(pid > 0);
	close(go[0]);
	close(ready[1]);
	assert_int_equal(read(ready[0], &c, 1), 1);

	/* Nobody else gets the lock, so nobody can rm or gc. */
	assert_int_equal(shms_svc_open(&svc, f->root, SVC, SHMS_SVC_NOCREATE),
	    SHMS_ELOCKED);
	svc = svc_open(f, SHMS_SVC_RDONLY);
	assert_int_equal(shms_svc_owner(svc, &owner, &alive), 0);
	assert_int_equal(owner, pid);
	assert_int_equal(alive, 1);
	assert_int_equal(shms_svc_remove(svc, F1A), -EBADF);
	assert_int_equal(shms_svc_gc(svc, NULL, NULL), -EBADF);
	assert_int_equal(shms_svc_verify(svc, F2A, NULL, NULL), 0);

	close(go[1]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_int_equal(shms_svc_owner(svc, &owner, &alive), 0);
	assert_int_equal(alive, 0);
	assert_int_equal(shms_svc_close(svc), 0);
	svc = svc_open(f, SHMS_SVC_NOCREATE);
	assert_int_equal(shms_svc_gc(svc, NULL, NULL), 4);
	assert_int_equal(shms_svc_close(svc), 0);
	close(ready[0]);
}

static void
test_dump(void **state)
{
	struct fx *f = *state;
	unsigned char want[7000], got[7001];
	struct shms_svc *svc;
	char tmp[] = "/dev/shm/test_inspect_dump.XXXXXX";
	int fd;

	assert_int_equal(ckpt(f, 7000, 0, 1), 1);
	fill(want, sizeof(want), 1);
	assert_true((fd = mkstemp(tmp)) >= 0);
	unlink(tmp);
	svc = svc_open(f, SHMS_SVC_RDONLY);
	assert_int_equal(shms_svc_dump(svc, F1A, fd), 0);
	assert_int_equal(pread(fd, got, sizeof(got), 0), 7000);
	assert_memory_equal(got, want, sizeof(want));

	/* Everything is written, then the mismatch is reported. */
	poke(f, F1A, 4096 + 10, 0xee);
	assert_int_equal(ftruncate(fd, 0), 0);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(shms_svc_dump(svc, F1A, fd), SHMS_ESUM);
	assert_int_equal(pread(fd, got, sizeof(got), 0), 7000);
	assert_int_equal(got[10], 0xee);

	assert_int_equal(shms_svc_dump(svc, "lock", fd), SHMS_ETRUNC);
	assert_int_equal(shms_svc_dump(svc, "nope", fd), SHMS_ENOTFOUND);
	assert_int_equal(shms_svc_dump(svc, F1B, -1), -EBADF);
	assert_int_equal(shms_svc_close(svc), 0);
	close(fd);
}

static int
note_service(const char *name, void *arg)
{
	struct removed *r = arg;

	assert_true(r->n < 16);
	strcpy(r->files[r->n++], name);
	return 0;
}

static int
stop_service(const char *name, void *arg)
{
	(void)arg;
	assert_string_equal(name, "alpha");
	return 5;
}

static void
test_list_services(void **state)
{
	struct fx *f = *state;
	struct removed r = { .n = 0 };
	struct shms_svc *svc;
	char path[512];

	assert_int_equal(shms_svc_open(&svc, f->root, "zeta", 0), 0);
	assert_int_equal(shms_svc_close(svc), 0);
	assert_int_equal(shms_svc_open(&svc, f->root, "alpha", 0), 0);
	assert_int_equal(shms_svc_close(svc), 0);
	snprintf(path, sizeof(path), "%s/file", f->root);
	close(open(path, O_CREAT | O_WRONLY, 0600));
	snprintf(path, sizeof(path), "%s/link", f->root);
	assert_int_equal(symlink("/tmp", path), 0);
	snprintf(path, sizeof(path), "%s/.hidden", f->root);
	assert_int_equal(mkdir(path, 0700), 0);

	assert_int_equal(shms_list_services(f->root, note_service, &r), 0);
	assert_int_equal(r.n, 2);
	assert_string_equal(r.files[0], "alpha");
	assert_string_equal(r.files[1], "zeta");
	assert_int_equal(shms_list_services(f->root, stop_service, NULL), 5);
	snprintf(path, sizeof(path), "%s/none", f->root);
	assert_int_equal(shms_list_services(path, note_service, &r), -ENOENT);
	assert_int_equal(shms_list_services(f->root, NULL, NULL), -EINVAL);
}

static void
test_manifest_none(void **state)
{
	struct fx *f = *state;
	struct shms_manifest_info mi;
	struct shms_svc *svc;
	struct list l;

	ckpt_crashed(f);
	svc = svc_open(f, SHMS_SVC_RDONLY);
	assert_int_equal(shms_svc_manifest(svc, &mi), SHMS_ENOSTATE);
	assert_int_equal(shms_svc_verify(svc, "manifest", NULL, NULL),
	    SHMS_ENOSTATE);
	assert_int_equal(shms_svc_close(svc), 0);
	list(f, &l);
	expect_entry(&l, "ckpt.0000000000000001.a", SHMS_ENT_UNCOMMITTED, 0);
	assert_null(find(&l, "manifest"));
}

/* An arena header, written by hand the way the arena code would. */
static void
plant_arena(const struct fx *f, const char *file, int state, int64_t owner)
{
	unsigned char page[SHMS__HDR_PAGE + 4096];
	struct shms__disk_hdr h;
	struct shms_seg_info in;

	memset(&in, 0, sizeof(in));
	strcpy(in.name, "heap");
	strcpy(in.layout, "tbl");
	strcpy(in.build_id, "test");
	in.layout_version = 1;
	in.kind = SHMS_KIND_ARENA;
	in.state = state;
	in.page_size = 4096;
	in.generation = 1;
	in.payload_off = SHMS__HDR_PAGE;
	in.payload_len = 4096;
	in.owner_pid = owner;
	in.ctime_ns = shms__now_ns();
	shms__hdr_encode(&in, &h, 0);
	memset(page, 0, sizeof(page));
	memcpy(page, &h, sizeof(h));
	plant(f, file, page, sizeof(page));
}

static void
test_arena(void **state)
{
	struct fx *f = *state;
	struct shms_svc *svc;
	struct list l;
	pid_t dead;
	int st;

	/* A pid that surely does not hold the lock: a reaped child's. */
	if ((dead = fork()) == 0)
		_exit(0);
	assert_int_equal(waitpid(dead, &st, 0), dead);
	svc = svc_open(f, 0);
	assert_int_equal(shms_svc_close(svc), 0);
	plant_arena(f, "arena.heap", SHMS_STATE_LIVE, dead);
	plant_arena(f, "arena.heap.1", SHMS_STATE_CLEAN, dead);
	plant_arena(f, "chunk7", SHMS_STATE_CLEAN, dead);
	list(f, &l);
	expect_entry(&l, "arena.heap", SHMS_ENT_ARENA, 0);
	expect_entry(&l, "arena.heap.1", SHMS_ENT_ARENA, 0);
	expect_entry(&l, "chunk7", SHMS_ENT_ARENA, 0);

	svc = svc_open(f, SHMS_SVC_RDONLY);
	assert_int_equal(shms_svc_verify(svc, "arena.heap", NULL, NULL),
	    SHMS_EDIRTY);
	assert_int_equal(shms_svc_verify(svc, "arena.heap.1", NULL, NULL), 0);
	assert_int_equal(shms_svc_close(svc), 0);
	/* gc keeps arenas, dirty or not. */
	svc = svc_open(f, 0);
	assert_int_equal(shms_svc_gc(svc, NULL, NULL), 0);
	assert_int_equal(shms_svc_close(svc), 0);
	list(f, &l);
	assert_int_equal(l.n, 3);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn)	cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_classification),
		T(test_list_stops),
		T(test_missing),
		T(test_corrupt_manifest),
		T(test_verify),
		T(test_verify_symlink),
		T(test_gc),
		T(test_gc_stops),
		T(test_remove),
		T(test_live_owner),
		T(test_dump),
		T(test_list_services),
		T(test_manifest_none),
		T(test_arena),
#undef T
	};

	return cmocka_run_group_tests_name("inspect", tests, NULL, NULL);
}
