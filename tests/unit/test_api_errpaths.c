/*
 * test_api_errpaths.c: public-API error paths that `make coverage' found
 * unreached (tests/coverage/errpaths.py), reached here by real means: real
 * files planted in a real service directory, real segments truncated or
 * damaged behind the library's back, real sockets, a real fd limit
 * (RLIMIT_NOFILE) for the system calls that allocate a descriptor.
 * Each call must return its documented code, leave a detail where it
 * has a service, and change nothing that works afterwards.
 * The paths only a failing system call or allocation reaches are in
 * test_api_errpaths_sys.c (-Wl,--wrap).
 */
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <wchar.h>

#include <cmocka.h>
#include <xxhash.h>

#include "core_test.h"
#include "test_api_errpaths.h"

/* A regular file of the service: len bytes of c, mode 0600. */
static void
plant(struct shms_svc *svc, const char *file, int c, size_t len)
{
	char buf[4096];
	size_t off;
	int fd;

	fd = openat(shms__svc_dirfd(svc), file, O_CREAT | O_EXCL | O_WRONLY |
	    O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	memset(buf, c, sizeof(buf));
	for (off = 0; off < len; off += sizeof(buf))
		assert_true(write(fd, buf, len - off < sizeof(buf) ?
		    len - off : sizeof(buf)) > 0);
	close(fd);
}

static void
detail_has(struct shms_svc *svc, const char *what)
{
	if (strstr(shms_errdetail(svc), what) == NULL)
		fail_msg("detail \"%s\" lacks \"%s\"", shms_errdetail(svc), what);
}

/*
 * Lowers the fd limit to the lowest free descriptor, so that the next
 * call that needs a new one fails with EMFILE; returns the old limit.
 */
static struct rlimit
no_more_fds(void)
{
	struct rlimit old, rl;
	int fd = dup(0);

	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	rl = old;
	rl.rlim_cur = (rlim_t)fd;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
	return old;
}

static void
fds_back(struct rlimit old)
{
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
}

/* ---- checkpoint */

/* A planted file of the last generation: no generation is left. */
static void
ckpt_generations_exhausted(void **state)
{
	struct shms_svc *svc = open_w(test_service("ep-gen"));
	static const char *const names[] = { "a" };
	struct shms_ckpt *ck = (struct shms_ckpt *)0x1;

	plant(svc, "ckpt.ffffffffffffffff.a", 0, 4096);
	assert_int_equal(shms_ckpt_begin(svc, 0, &ck), SHMS_ELIMIT);
	assert_ptr_equal(ck, (struct shms_ckpt *)0x1);
	detail_has(svc, "generations exhausted");
	/* The checkpoint slot was given back: once the file goes, it works. */
	assert_int_equal(shms_svc_remove(svc, "ckpt.ffffffffffffffff.a"), 0);
	assert_int_equal(make_ckpt(svc, names, 1, 100), 1);
	assert_int_equal(shms_svc_close(svc), 0);
}

/* A segment truncated under an adopter's read: SHMS_ETRUNC, no SIGBUS. */
static void
seg_read_truncated(void **state)
{
	struct shms_svc *svc = open_w(test_service("ep-trunc"));
	static const char *const names[] = { "s" };
	struct shms_adopt *ad;
	struct shms_seg *seg;
	static char buf[65536];
	size_t got = 7;
	uint64_t gen;
	int fd;

	gen = make_ckpt(svc, names, 1, sizeof(buf));
	assert_int_equal(shms_adopt_begin(svc, 0, &ad), 0);
	assert_int_equal(shms_adopt_seg_open(ad, "s", "lay", 1,
	    SHMS_VERIFY_HEADER, &seg), 0);
	fd = seg_fd(svc, gen, "s", O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 4096 + 1000), 0);
	close(fd);
	assert_int_equal(shms_seg_read(seg, buf, sizeof(buf), &got),
	    SHMS_ETRUNC);
	assert_int_equal(got, 7);
	detail_has(svc, "read");
	shms_adopt_abort(ad);
	assert_int_equal(shms_svc_close(svc), 0);
}

/* ---- service */

/* The owner lock replaced by a symlink: refused, not followed. */
static void
svc_owner_lock_symlink(void **state)
{
	const char *name = test_service("ep-owner");
	struct shms_svc *svc = open_w(name), *ro;
	pid_t pid = 77;
	int alive = 77, dirfd;

	assert_int_equal(shms_svc_close(svc), 0);
	assert_int_equal(shms_svc_open(&ro, NULL, name, SHMS_SVC_RDONLY), 0);
	dirfd = shms__svc_dirfd(ro);
	assert_int_equal(unlinkat(dirfd, "lock", 0), 0);
	assert_int_equal(symlinkat("/etc/passwd", dirfd, "lock"), 0);
	assert_int_equal(shms_svc_owner(ro, &pid, &alive), SHMS_ESYMLINK);
	assert_int_equal(pid, 77);
	assert_int_equal(alive, 77);
	detail_has(ro, "symlink");
	assert_int_equal(unlinkat(dirfd, "lock", 0), 0);
	assert_int_equal(shms_svc_owner(ro, &pid, &alive), 0);
	assert_int_equal(pid, 0);
	assert_int_equal(shms_svc_close(ro), 0);
}

/* A directory under a file's name: unlink(2) refuses it, and says so. */
static void
svc_remove_directory(void **state)
{
	struct shms_svc *svc = open_w(test_service("ep-rm"));
	int dirfd = shms__svc_dirfd(svc);

	assert_int_equal(mkdirat(dirfd, "ckpt.0000000000000001.d", 0700), 0);
	assert_int_equal(shms_svc_remove(svc, "ckpt.0000000000000001.d"),
	    -EISDIR);
	detail_has(svc, "unlink");
	assert_int_equal(unlinkat(dirfd, "ckpt.0000000000000001.d",
	    AT_REMOVEDIR), 0);
	assert_int_equal(shms_svc_remove(svc, "ckpt.0000000000000001.d"),
	    SHMS_ENOTFOUND);
	assert_int_equal(shms_svc_close(svc), 0);
}

/* ---- arenas */

static void
arena_inspect_bad_files(void **state)
{
	struct shms_svc *svc = open_w(test_service("ep-ains"));
	static const char *const names[] = { "seg" };
	struct shms_arena_stats st;
	struct shms_arena *a;
	char src[SHMS__FILE_MAX];
	uint64_t gen, off;
	static char buf[8192];
	ssize_t n;
	int in, out;

	/* A symlink: not followed. */
	assert_int_equal(symlinkat("/etc/passwd", shms__svc_dirfd(svc),
	    "arena.lnk"), 0);
	assert_int_equal(shms_arena_inspect(svc, "arena.lnk", 0, &st),
	    SHMS_ESYMLINK);
	detail_has(svc, "symlink");
	/* No header at all. */
	plant(svc, "arena.junk", 0x5a, 8192);
	assert_int_equal(shms_arena_inspect(svc, "arena.junk", 0, &st),
	    SHMS_EMAGIC);
	/* A sound checkpoint segment under an arena's name. */
	gen = make_ckpt(svc, names, 1, 5000);
	shms__ckpt_file(src, gen, "seg");
	in = openat(shms__svc_dirfd(svc), src, O_RDONLY | O_CLOEXEC);
	out = openat(shms__svc_dirfd(svc), "arena.seg", O_CREAT | O_EXCL |
	    O_WRONLY | O_CLOEXEC, 0600);
	assert_true(in >= 0 && out >= 0);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		assert_int_equal(write(out, buf, (size_t)n), n);
	close(in);
	close(out);
	assert_int_equal(shms_arena_inspect(svc, "arena.seg", 0, &st),
	    SHMS_ECORRUPT);
	detail_has(svc, "not an arena");
	/* A sealed, summed arena whose payload changed afterwards. */
	assert_int_equal(shms_arena_create(svc, "sum", "lay", 1, 1 << 20, 0,
	    0, &a), 0);
	assert_int_equal(shms_arena_alloc(a, 100, &off), 0);
	memset(shms_arena_ptr(a, off), 'x', 100);
	assert_int_equal(shms_arena_root_set(a, off), 0);
	assert_int_equal(shms_arena_seal(a, SHMS_ARENA_SUM), 0);
	assert_int_equal(shms_arena_inspect(svc, "arena.sum",
	    SHMS_ARENA_VERIFY, &st), 0);
	out = openat(shms__svc_dirfd(svc), "arena.sum", O_WRONLY | O_CLOEXEC);
	assert_true(out >= 0);
	assert_int_equal(pwrite(out, "y", 1, (off_t)(SHMS__HDR_PAGE + off)),
	    1);
	close(out);
	assert_int_equal(shms_arena_inspect(svc, "arena.sum",
	    SHMS_ARENA_VERIFY, &st), SHMS_ESUM);
	detail_has(svc, "checksum");
	/* Without the full check the metadata alone still holds. */
	assert_int_equal(shms_arena_inspect(svc, "arena.sum", 0, &st), 0);
	assert_int_equal(shms_arena_adopt(svc, "sum", "lay", 1,
	    SHMS_ARENA_VERIFY, &a), SHMS_ESUM);
	/* Allocator metadata damaged in a sealed arena. */
	out = openat(shms__svc_dirfd(svc), "arena.sum", O_WRONLY | O_CLOEXEC);
	assert_true(out >= 0);
	assert_int_equal(pwrite(out, "XXXXXXXX", 8, SHMS__HDR_PAGE), 8);
	close(out);
	assert_int_equal(shms_arena_inspect(svc, "arena.sum", 0, &st),
	    SHMS_ECORRUPT);
	detail_has(svc, "arena.sum");
	assert_int_equal(shms_svc_close(svc), 0);
}

static void
arena_remove_refused(void **state)
{
	struct shms_svc *svc = open_w(test_service("ep-arm"));
	struct shms_arena *a;
	int dirfd = shms__svc_dirfd(svc);

	/* Open in a handle: its owner would keep using a removed file. */
	assert_int_equal(shms_arena_create(svc, "open", "lay", 1, 1 << 20, 0,
	    0, &a), 0);
	assert_int_equal(shms_arena_remove(svc, "open"), -EBUSY);
	detail_has(svc, "open in a handle");
	assert_int_equal(faccessat(dirfd, "arena.open", F_OK, 0), 0);
	assert_int_equal(shms_arena_seal(a, 0), 0);
	assert_int_equal(shms_arena_remove(svc, "open"), 0);
	/* A directory under an arena's name: unlink(2) refuses it. */
	assert_int_equal(mkdirat(dirfd, "arena.dir", 0700), 0);
	assert_int_equal(shms_arena_remove(svc, "dir"), -EISDIR);
	detail_has(svc, "unlink");
	assert_int_equal(unlinkat(dirfd, "arena.dir", AT_REMOVEDIR), 0);
	assert_int_equal(shms_svc_close(svc), 0);
}

/*
 * Errors found by the library's helpers rather than by the API functions
 * themselves (errpaths.py's helper_error_paths, for information).
 */

static uint32_t hdr_state, hdr_payload_len;

static void
set_hdr(struct shms__disk_hdr *h)
{
	if (hdr_state != 0)
		h->state = htole32(hdr_state);
	if (hdr_payload_len != 0)
		h->payload_len = htole64(hdr_payload_len);
}

static void
set_ctime(struct shms__disk_hdr *h)
{
	h->ctime_ns = htole64(le64toh(h->ctime_ns) + 1);
}

/* Edits the header of file `file' of svc with set_hdr, checksum fixed. */
static void
edit_file_hdr(struct shms_svc *svc, const char *file)
{
	struct shms__disk_hdr h;
	int fd = openat(shms__svc_dirfd(svc), file, O_RDWR | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &h, sizeof(h), 0), (ssize_t)sizeof(h));
	set_hdr(&h);
	h.hdr_xxh3 = htole64(shms__hdr_sum(&h));
	assert_int_equal(pwrite(fd, &h, sizeof(h), 0), (ssize_t)sizeof(h));
	close(fd);
}

static void
helper_paths(void **state)
{
	struct shms_svc *svc = open_w(test_service("ep-help"));
	static const char *const names[] = { "s" };
	struct shms_handoff_stats hst;
	struct shms_arena_stats st;
	struct shms_listen_fd lf[2];
	struct shms_handoff_in *in;
	struct shms_arena *a;
	struct shms_adopt *ad;
	struct shms_ckpt *ck;
	struct shms_seg *seg;
	char file[SHMS__FILE_MAX];
	uint64_t gen, off;
	int p[2];

	/* A segment header sound in itself but not the manifest's. */
	gen = make_ckpt(svc, names, 1, 3000);
	edit_hdr(svc, gen, "s", set_ctime, 1);
	assert_int_equal(shms_adopt_begin(svc, 0, &ad), 0);
	assert_int_equal(shms_adopt_seg_open(ad, "s", "lay", 1,
	    SHMS_VERIFY_HEADER, &seg), SHMS_ECORRUPT);
	detail_has(svc, "header checksum");
	shms_adopt_abort(ad);
	/* A checkpoint's segment file already there when it is created. */
	assert_int_equal(shms_ckpt_begin(svc, 0, &ck), 0);
	shms__ckpt_file(file, gen + 1, "s");
	plant(svc, file, 0, 100);
	assert_int_equal(shms_ckpt_seg_create(ck, "s", "lay", 1, 0, &seg),
	    -EEXIST);
	detail_has(svc, "already exists");
	shms_ckpt_abort(ck);
	assert_int_equal(shms_svc_remove(svc, file), 0);
	/* Arena headers: another kind, a state, a geometry not an arena's. */
	shms__ckpt_file(file, gen, "s");
	assert_int_equal(linkat(shms__svc_dirfd(svc), file,
	    shms__svc_dirfd(svc), "arena.s", 0), 0);
	assert_int_equal(shms_svc_remove(svc, file), 0);
	assert_int_equal(shms_arena_adopt(svc, "s", NULL, 0, 0, &a),
	    SHMS_ECORRUPT);
	detail_has(svc, "not an arena");
	assert_int_equal(shms_arena_create(svc, "h", "lay", 1, 1 << 20, 0, 0,
	    &a), 0);
	/* Not page-aligned, inside a large allocation: not one. */
	assert_int_equal(shms_arena_alloc(a, 100000, &off), 0);
	assert_int_equal(shms_arena_free(a, off + 16), -EINVAL);
	assert_int_equal(shms_arena_free(a, off), 0);
	assert_int_equal(shms_arena_seal(a, 0), 0);
	hdr_state = SHMS_STATE_CONSUMED;
	edit_file_hdr(svc, "arena.h");
	assert_int_equal(shms_arena_adopt(svc, "h", "lay", 1, 0, &a),
	    SHMS_ESTATE);
	assert_int_equal(shms_arena_inspect(svc, "arena.h", 0, &st),
	    SHMS_ESTATE);
	hdr_state = SHMS_STATE_CLEAN;
	hdr_payload_len = 100000;
	edit_file_hdr(svc, "arena.h");
	assert_int_equal(shms_arena_adopt(svc, "h", "lay", 1, 0, &a),
	    SHMS_ECORRUPT);
	detail_has(svc, "geometry");
	hdr_state = hdr_payload_len = 0;
	assert_int_equal(shms_svc_gc(NULL, NULL, NULL), -EINVAL);
	assert_int_equal(shms_svc_close(svc), 0);
	/* Handed-over blobs that are no blob: a pipe, a sealed stub. */
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	lf[0].fd = p[0];
	strcpy(lf[0].name, SHMS_HANDOFF_BLOB_NAME);
	lf[1].fd = memfd_create("stub", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	assert_true(lf[1].fd >= 0);
	assert_int_equal(write(lf[1].fd, "SHMSHOFF", 8), 8);
	assert_int_equal(fcntl(lf[1].fd, F_ADD_SEALS, F_SEAL_SHRINK |
	    F_SEAL_GROW | F_SEAL_WRITE), 0);
	strcpy(lf[1].name, SHMS_HANDOFF_BLOB_NAME);
	assert_int_equal(shms_handoff_take(&in, lf, 2), 0);
	assert_int_equal(lf[0].fd, -1);
	assert_int_equal(lf[1].fd, -1);
	shms_handoff_stats(in, &hst);
	assert_int_equal(hst.bad_blobs, 2);
	assert_non_null(strstr(shms_handoff_detail(in), "blob"));
	assert_int_equal(shms_handoff_release(in, 0), 0);
	close(p[1]);
}

/* ---- connection handoff */

/* A blob of count records of the given lengths, trailing zero bytes. */
static size_t
blob(unsigned char *b, size_t cap, uint32_t count, uint32_t declared,
    uint32_t inlen, size_t body, size_t trailing)
{
	size_t len = 32 + (size_t)count * (32 + body) + trailing;
	uint32_t v32, i;
	uint64_t v64;

	assert_true(len <= cap);
	memset(b, 0, len);
	memcpy(b, "SHMSHOFF", 8);
	v32 = SHMS_HANDOFF_VERSION;
	memcpy(b + 16, &v32, 4);
	memcpy(b + 20, &declared, 4);
	v64 = len;
	memcpy(b + 24, &v64, 8);
	for (i = 0; i < count; i++)
		memcpy(b + 32 + i * (32 + body) + 16, &inlen, 4);
	v64 = XXH3_64bits(b + 16, len - 16);
	memcpy(b + 8, &v64, 8);
	return len;
}

static void
handoff_parse_bounds(void **state)
{
	static unsigned char b[4096];
	struct shms_handoff_rec r[2];
	size_t len;

	len = blob(b, sizeof(b), 1, 1, 5, 8, 0);
	assert_int_equal(shms_handoff_parse(b, len, r, 2), 1);
	assert_int_equal(r[0].inlen, 5);
	/* More records than a blob may carry, checksum and all sound. */
	len = blob(b, sizeof(b), 0, SHMS_HANDOFF_CONNS_MAX + 1, 0, 0, 0);
	assert_int_equal(shms_handoff_parse(b, len, r, 2), SHMS_EPROTO);
	/* A record whose bytes run past the end. */
	len = blob(b, sizeof(b), 1, 1, 100, 8, 0);
	assert_int_equal(shms_handoff_parse(b, len, r, 2), SHMS_EPROTO);
	/* Bytes after the last record. */
	len = blob(b, sizeof(b), 1, 1, 5, 8, 8);
	assert_int_equal(shms_handoff_parse(b, len, r, 2), SHMS_EPROTO);
}

static void
handoff_add_refused(void **state)
{
	struct shms_handoff *h;
	unsigned char *big;
	int sv[2], fd, i, rc = 0;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    sv), 0);
	assert_int_equal(shms_handoff_new(&h), 0);
	/* A descriptor that is not open. */
	fd = dup(sv[0]);
	close(fd);
	assert_int_equal(shms_handoff_add(h, fd, NULL, 0, NULL, 0, NULL, 0),
	    -EBADF);
	/* A blob of more than SHMS_HANDOFF_BLOB_MAX bytes. */
	big = calloc(1, SHMS_HANDOFF_DATA_MAX);
	assert_non_null(big);
	for (i = 0; i < 100 && rc == 0; i++)
		rc = shms_handoff_add(h, sv[0], big, SHMS_HANDOFF_DATA_MAX,
		    NULL, 0, NULL, 0);
	assert_int_equal(rc, SHMS_ELIMIT);
	assert_int_equal(i, SHMS_HANDOFF_BLOB_MAX / SHMS_HANDOFF_DATA_MAX);
	/* What fits still goes in. */
	assert_int_equal(shms_handoff_add(h, sv[0], big, 1000, NULL, 0, NULL,
	    0), 0);
	free(big);
	shms_handoff_free(h);
	close(sv[0]);
	close(sv[1]);
}

static void
handoff_send_fails(void **state)
{
	struct shms_handoff_rec rec;
	struct shms_handoff *h;
	struct rlimit old;
	char path[108];
	int sv[2], s;

	assert_int_equal(shms_handoff_send(NULL), -EINVAL);
	assert_int_equal(shms_handoff_conn(NULL, 0, &rec), -EINVAL);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    sv), 0);
	assert_int_equal(shms_handoff_new(&h), 0);
	assert_int_equal(shms_handoff_add(h, sv[0], "in", 2, NULL, 0, NULL,
	    0), 0);
	/* No descriptor left for the blob's memfd. */
	s = bind_notify("test_api_errpaths", path, sizeof(path));
	old = no_more_fds();
	assert_int_equal(shms_handoff_send(h), -EMFILE);
	fds_back(old);
	/* No supervisor listening at $NOTIFY_SOCKET. */
	close(s);
	unlink(path);
	assert_int_equal(shms_handoff_send(h), -ENOENT);
	/* And with one, the same set goes through. */
	s = bind_notify("test_api_errpaths", path, sizeof(path));
	assert_int_equal(shms_handoff_send(h), 1);
	close(s);
	unlink(path);
	unsetenv("NOTIFY_SOCKET");
	shms_handoff_free(h);
	close(sv[0]);
	close(sv[1]);
}

/* ---- supervisor protocol */

static void
listen_fd_malformed(void **state)
{
	char pid[32];

	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	setenv("LISTEN_PID", pid, 1);
	setenv("LISTEN_FDS", "two", 1);
	assert_int_equal(shms_listen_fd("web"), SHMS_EPROTO);
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_PID");
	assert_int_equal(shms_listen_fd("web"), SHMS_ENOTFOUND);
}

static void
notify_fails(void **state)
{
	struct rlimit old;
	char path[108];
	int s;

	/* A wide character the C locale cannot encode: vsnprintf fails. */
	assert_int_equal(shms_notifyf("STATUS=%lc", (wint_t)0x4e2d), -EINVAL);
	/* No descriptor left for the socket. */
	s = bind_notify("test_api_errpaths", path, sizeof(path));
	old = no_more_fds();
	assert_int_equal(shms_notify("READY=1"), -EMFILE);
	fds_back(old);
	assert_int_equal(shms_notify("READY=1"), 1);
	close(s);
	unlink(path);
	unsetenv("NOTIFY_SOCKET");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ckpt_generations_exhausted),
		cmocka_unit_test(seg_read_truncated),
		cmocka_unit_test(svc_owner_lock_symlink),
		cmocka_unit_test(svc_remove_directory),
		cmocka_unit_test(arena_inspect_bad_files),
		cmocka_unit_test(arena_remove_refused),
		cmocka_unit_test(helper_paths),
		cmocka_unit_test(handoff_parse_bounds),
		cmocka_unit_test(handoff_add_refused),
		cmocka_unit_test(handoff_send_fails),
		cmocka_unit_test(listen_fd_malformed),
		cmocka_unit_test(notify_fails),
	};

	test_root();
	return cmocka_run_group_tests_name("api_errpaths", tests, NULL, NULL);
}
