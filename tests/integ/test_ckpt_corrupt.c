/*
 * test_ckpt_corrupt: each way a committed checkpoint can be damaged or
 * taken over gives its own typed error to a separate adopting process,
 * with a human detail, and never a crash. Every case has a service of its
 * own: a writer process commits a 2-segment checkpoint, we damage it from
 * the outside as another program (or a bug, or an attacker) would, then an
 * adopter process opens it, verifies, and reports the first error.
 *
 * Prints "corrupt: N cases, N typed errors as expected" and fails on any
 * mismatch.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <fcntl.h>
#include <stddef.h>

#include <xxhash.h>

#include "format.h"
#include "helper_kv.h"

#define SEG_LEN		((256u << 10) + 24)
#define TAG		42

static struct kvt_spec spec = {
	.nseg = 2,
	.seg_len = SEG_LEN,
	.chunk = 64u << 10,
	.progress_fd = -1,
	.ack_fd = -1,
};

static unsigned ncases, nok, nskip;


/* ---- the damage, done from outside the library ---- */

struct target {
	char	dir[4096];	/* service directory */
	char	seg[8192];	/* file of segment s1 */
	char	man[8192];	/* manifest */
};

static void
find_target(const char *service, struct target *t)
{
	struct dirent *de;
	size_t n;
	DIR *d;

	snprintf(t->dir, sizeof(t->dir), "%s/%s", getenv("SHMSTATE_DIR"),
	    service);
	snprintf(t->man, sizeof(t->man), "%s/manifest", t->dir);
	t->seg[0] = '\0';
	if ((d = opendir(t->dir)) == NULL)
		kvt_die("opendir %s: %s", t->dir, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		n = strlen(de->d_name);
		if (strncmp(de->d_name, "ckpt.", 5) == 0 && n > 3 &&
		    strcmp(de->d_name + n - 3, ".s1") == 0)
			snprintf(t->seg, sizeof(t->seg), "%s/%s", t->dir,
			    de->d_name);
	}
	closedir(d);
	if (t->seg[0] == '\0')
		kvt_die("%s: no ckpt.*.s1 file", t->dir);
}

static int
xopen(const char *path)
{
	int fd;

	if ((fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC)) < 0)
		kvt_die("open %s: %s", path, strerror(errno));
	return fd;
}

static void
patch(const char *path, off_t off, const void *buf, size_t len)
{
	int fd = xopen(path);

	if (pwrite(fd, buf, len, off) != (ssize_t)len)
		kvt_die("pwrite %s: %s", path, strerror(errno));
	close(fd);
}

static void
flip(const char *path, off_t off)
{
	unsigned char c;
	int fd = xopen(path);

	if (pread(fd, &c, 1, off) != 1)
		kvt_die("pread %s: %s", path, strerror(errno));
	c ^= 0x5a;
	if (pwrite(fd, &c, 1, off) != 1)
		kvt_die("pwrite %s: %s", path, strerror(errno));
	close(fd);
}

/*
 * Rewrites a header field and recomputes the header checksum, so that the
 * damage is seen for what it is (a format, a length) and not as a mere
 * checksum mismatch: what a buggy or hostile writer could produce.
 */
static void
rewrite_hdr(const char *path, size_t off, const void *val, size_t len)
{
	unsigned char h[SHMS__HDR_USED];
	uint64_t sum;
	int fd = xopen(path);

	if (pread(fd, h, sizeof(h), 0) != (ssize_t)sizeof(h))
		kvt_die("pread %s: %s", path, strerror(errno));
	memcpy(h + off, val, len);
	memset(h + offsetof(struct shms__disk_hdr, hdr_xxh3), 0, 8);
	sum = htole64(XXH3_64bits(h, sizeof(h)));
	memcpy(h + offsetof(struct shms__disk_hdr, hdr_xxh3), &sum, 8);
	if (pwrite(fd, h, sizeof(h), 0) != (ssize_t)sizeof(h))
		kvt_die("pwrite %s: %s", path, strerror(errno));
	close(fd);
}

static void
c_none(struct target *t)
{
	(void)t;
}

static void
c_magic(struct target *t)
{
	patch(t->seg, 0, "NOTSHMS!", 8);
}

static void
c_format(struct target *t)
{
	uint32_t v = htole32(SHMS__FORMAT + 98);

	rewrite_hdr(t->seg, offsetof(struct shms__disk_hdr, format), &v, 4);
}

static void
c_hdrsum(struct target *t)
{
	flip(t->seg, offsetof(struct shms__disk_hdr, ctime_ns) + 2);
}

static void
c_payload(struct target *t)
{
	flip(t->seg, SHMS__HDR_PAGE + SEG_LEN / 2);
}

static void
c_payload_end(struct target *t)
{
	/* The very last byte: a streaming reader only sees it at the end. */
	flip(t->seg, SHMS__HDR_PAGE + SEG_LEN - 1);
}

static void
c_trunc(struct target *t)
{
	if (truncate(t->seg, SHMS__HDR_PAGE + SEG_LEN / 2) < 0)
		kvt_die("truncate %s: %s", t->seg, strerror(errno));
}

static void
c_trunc_hdr(struct target *t)
{
	/* Shorter than the header itself. */
	if (truncate(t->seg, 100) < 0)
		kvt_die("truncate %s: %s", t->seg, strerror(errno));
}

static void
c_missing(struct target *t)
{
	if (unlink(t->seg) < 0)
		kvt_die("unlink %s: %s", t->seg, strerror(errno));
}

static void
c_symlink(struct target *t)
{
	char moved[8300];

	/* A link to a perfectly good copy: refused for being a link. */
	snprintf(moved, sizeof(moved), "%s/elsewhere", t->dir);
	if (rename(t->seg, moved) < 0 || symlink(moved, t->seg) < 0)
		kvt_die("symlink %s: %s", t->seg, strerror(errno));
}

static void
c_foreign(struct target *t)
{
	if (chown(t->seg, 65534, 65534) < 0)
		kvt_die("chown %s: %s", t->seg, strerror(errno));
}

static void
c_perms(struct target *t)
{
	if (chmod(t->seg, 0644) < 0)
		kvt_die("chmod %s: %s", t->seg, strerror(errno));
}

static void
c_manifest(struct target *t)
{
	flip(t->man, 300);	/* inside the first entry */
}

static void
c_manifest_trunc(struct target *t)
{
	if (truncate(t->man, 200) < 0)
		kvt_die("truncate %s: %s", t->man, strerror(errno));
}

static void
c_huge_len(struct target *t)
{
	uint64_t v = htole64(UINT64_MAX - 4095);

	rewrite_hdr(t->seg, offsetof(struct shms__disk_hdr, payload_len), &v,
	    8);
}

static void
c_bad_off(struct target *t)
{
	uint64_t v = htole64(13);

	rewrite_hdr(t->seg, offsetof(struct shms__disk_hdr, payload_off), &v,
	    8);
}

static void
c_other_gen(struct target *t)
{
	uint64_t v = htole64(7777);

	/* A sound header of another generation under this name. */
	rewrite_hdr(t->seg, offsetof(struct shms__disk_hdr, generation), &v,
	    8);
}

/* ---- the cases ---- */

struct ccase {
	const char	*name;
	void		(*damage)(struct target *);
	int		 want;		/* 0: any error, but no crash */
	enum shms_verify verify;
	const char	*layout;	/* adopter expects; NULL: the writer's */
	uint32_t	 version;
	int		 root_only;
	int		 no_ckpt;	/* no checkpoint is written at all */
};

static const struct ccase cases[] = {
	{ "intact", c_none, 1, SHMS_VERIFY_FULL, NULL, 0, 0, 0 },
	{ "intact-stream", c_none, 1, SHMS_VERIFY_STREAM, NULL, 0, 0, 0 },
	{ "no-state", c_none, SHMS_ENOSTATE, SHMS_VERIFY_FULL, NULL, 0, 0, 1 },
	{ "bad-magic", c_magic, SHMS_EMAGIC, SHMS_VERIFY_HEADER, NULL, 0, 0, 0 },
	{ "format-version", c_format, SHMS_EFORMAT, SHMS_VERIFY_HEADER, NULL,
	    0, 0, 0 },
	{ "header-checksum", c_hdrsum, SHMS_EHDRSUM, SHMS_VERIFY_HEADER, NULL,
	    0, 0, 0 },
	{ "payload-checksum", c_payload, SHMS_ESUM, SHMS_VERIFY_FULL, NULL, 0,
	    0, 0 },
	{ "payload-checksum-stream", c_payload_end, SHMS_ESUM,
	    SHMS_VERIFY_STREAM, NULL, 0, 0, 0 },
	{ "truncated", c_trunc, SHMS_ETRUNC, SHMS_VERIFY_HEADER, NULL, 0, 0,
	    0 },
	{ "truncated-header", c_trunc_hdr, SHMS_ETRUNC, SHMS_VERIFY_HEADER,
	    NULL, 0, 0, 0 },
	{ "listed-but-missing", c_missing, SHMS_EMISSING, SHMS_VERIFY_HEADER,
	    NULL, 0, 0, 0 },
	{ "wrong-layout", c_none, SHMS_ELAYOUT, SHMS_VERIFY_HEADER,
	    "otherlayout", KVT_LAYOUT_VERSION, 0, 0 },
	{ "wrong-layout-version", c_none, SHMS_EVERSION, SHMS_VERIFY_HEADER,
	    KVT_LAYOUT, KVT_LAYOUT_VERSION + 1, 0, 0 },
	{ "symlink", c_symlink, SHMS_ESYMLINK, SHMS_VERIFY_HEADER, NULL, 0, 0,
	    0 },
	{ "foreign-uid", c_foreign, SHMS_EFOREIGN, SHMS_VERIFY_HEADER, NULL, 0,
	    1, 0 },
	{ "group-readable", c_perms, SHMS_EPERMS, SHMS_VERIFY_HEADER, NULL, 0,
	    0, 0 },
	{ "manifest-checksum", c_manifest, SHMS_ECORRUPT, SHMS_VERIFY_HEADER,
	    NULL, 0, 0, 0 },
	{ "manifest-truncated", c_manifest_trunc, SHMS_ECORRUPT,
	    SHMS_VERIFY_HEADER, NULL, 0, 0, 0 },
	/* Hostile but checksummed headers: any clean error will do. */
	{ "huge-length", c_huge_len, 0, SHMS_VERIFY_FULL, NULL, 0, 0, 0 },
	{ "bad-payload-offset", c_bad_off, 0, SHMS_VERIFY_FULL, NULL, 0, 0,
	    0 },
	{ "other-generation", c_other_gen, 0, SHMS_VERIFY_FULL, NULL, 0, 0,
	    0 },
};

struct write_arg {
	const char	*service;
};

static void
write_fn(struct kvt_result *r, void *arg)
{
	struct write_arg *wa = arg;
	struct shms_svc *svc;
	int rc;

	if ((rc = shms_svc_open(&svc, NULL, wa->service, 0)) < 0) {
		r->rc = kvt_fail(NULL, rc, r->why, "svc_open");
		return;
	}
	r->rc = kvt_write(svc, TAG, &spec, &r->gen, r->why);
	shms_svc_close(svc);
}

struct adopt_arg {
	const char		*service;
	const struct ccase	*c;
};

static void
adopt_fn(struct kvt_result *r, void *arg)
{
	struct adopt_arg *aa = arg;
	struct kvt_spec sp = spec;
	struct shms_svc *svc;
	int rc;

	if ((rc = shms_svc_open(&svc, NULL, aa->service, 0)) < 0) {
		r->rc = kvt_fail(NULL, rc, r->why, "svc_open");
		return;
	}
	if (aa->c->layout != NULL) {
		sp.layout = aa->c->layout;
		sp.version = aa->c->version;
	}
	r->rc = kvt_verify(svc, &sp, aa->c->verify, -1, &r->tag, &r->gen,
	    r->why);
	if (r->rc == 0 && r->tag != TAG) {
		r->rc = -EBADMSG;
		kvt_why(r->why, "adopted tag %" PRIu64, r->tag);
	}
	shms_svc_close(svc);
}

static const char *
code_name(int rc)
{
	static const struct { int rc; const char *name; } names[] = {
		{ SHMS_ENOSTATE, "SHMS_ENOSTATE" },
		{ SHMS_ELAYOUT, "SHMS_ELAYOUT" },
		{ SHMS_EVERSION, "SHMS_EVERSION" },
		{ SHMS_EMAGIC, "SHMS_EMAGIC" },
		{ SHMS_EFORMAT, "SHMS_EFORMAT" },
		{ SHMS_EHDRSUM, "SHMS_EHDRSUM" },
		{ SHMS_ESUM, "SHMS_ESUM" },
		{ SHMS_ETRUNC, "SHMS_ETRUNC" },
		{ SHMS_EMISSING, "SHMS_EMISSING" },
		{ SHMS_ELOCKED, "SHMS_ELOCKED" },
		{ SHMS_EFOREIGN, "SHMS_EFOREIGN" },
		{ SHMS_ESYMLINK, "SHMS_ESYMLINK" },
		{ SHMS_ECORRUPT, "SHMS_ECORRUPT" },
		{ SHMS_EPERMS, "SHMS_EPERMS" },
		{ SHMS_ESTATE, "SHMS_ESTATE" },
		{ 0, "ok" },
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].rc == rc)
			return names[i].name;
	return shms_strerror(rc);
}

static void
run_case(const struct ccase *c)
{
	char service[SHMS_NAME_MAX + 1];
	struct write_arg wa;
	struct adopt_arg aa;
	struct kvt_result r;
	struct target t;
	int ok;

	ncases++;
	if (c->root_only && geteuid() != 0) {
		nskip++;
		printf("  %-26s SKIP (needs root to chown)\n", c->name);
		return;
	}
	snprintf(service, sizeof(service), "c-%s", c->name);
	wa.service = service;
	if (c->no_ckpt) {
		/* The directory exists; no checkpoint was ever committed. */
		struct shms_svc *svc;
		int rc;

		if ((rc = shms_svc_open(&svc, NULL, service, 0)) < 0)
			kvt_die("%s: svc_open: %s", c->name, shms_strerror(rc));
		shms_svc_close(svc);
	} else {
		if (kvt_child(write_fn, &wa, &r) < 0 || r.rc != 0)
			kvt_die("%s: writer: %s", c->name, r.why);
		find_target(service, &t);
		c->damage(&t);
	}
	aa.service = service;
	aa.c = c;
	if (kvt_child(adopt_fn, &aa, &r) < 0)
		kvt_die("fork: %s", strerror(errno));
	if (c->want == 1)
		ok = r.rc == 0;
	else if (c->want == 0)
		ok = r.rc < 0 && r.rc != KVT_CRASHED && r.rc != -EBADMSG;
	else
		ok = r.rc == c->want;
	/* Every error must say where and why. */
	if (r.rc < 0 && r.rc != KVT_CRASHED && strchr(r.why, ':') == NULL)
		ok = 0;
	printf("  %-26s %s %s: %s\n", c->name, code_name(r.rc),
	    ok ? "ok" : "WRONG", r.rc == 0 ? "adopted intact" : r.why);
	if (!ok) {
		fprintf(stderr, "%s: got %s (%d), want %s\n", c->name,
		    code_name(r.rc), r.rc, c->want == 0 ? "any error" :
		    code_name(c->want == 1 ? 0 : c->want));
		return;
	}
	nok++;
}

static void
contend_fn(struct kvt_result *r, void *arg)
{
	struct shms_svc *svc;

	(void)arg;
	r->rc = shms_svc_open_detail(&svc, NULL, "c-locked", 0, r->why,
	    sizeof(r->why));
	if (r->rc == 0)
		shms_svc_close(svc);
}

/* A second owner is refused, and told which pid holds the state. */
static void
run_locked(void)
{
	char detail[KVT_WHY], pidstr[32], c;
	struct kvt_result r;
	struct shms_svc *svc;
	int p[2], q[2], rc, ok, st;
	pid_t pid;

	ncases++;
	if (pipe(p) < 0 || pipe(q) < 0)
		kvt_die("pipe: %s", strerror(errno));
	fflush(NULL);
	if ((pid = fork()) < 0)
		kvt_die("fork: %s", strerror(errno));
	if (pid == 0) {
		/* The owner: hold the service until told to go. */
		close(p[0]);
		close(q[1]);
		rc = shms_svc_open(&svc, NULL, "c-locked", 0);
		c = rc == 0 ? 'y' : 'n';
		if (write(p[1], &c, 1) != 1 || rc < 0)
			_exit(1);
		if (read(q[0], &c, 1) < 0)
			c = 0;
		shms_svc_close(svc);
		_exit(0);
	}
	close(p[1]);
	close(q[0]);
	if (read(p[0], &c, 1) != 1 || c != 'y')
		kvt_die("locked: the owner could not open the service");
	/* The contender runs in a process of its own, like a second server. */
	if (kvt_child(contend_fn, NULL, &r) < 0)
		kvt_die("fork: %s", strerror(errno));
	rc = r.rc;
	snprintf(detail, sizeof(detail), "%s", r.why);
	snprintf(pidstr, sizeof(pidstr), "%ld", (long)pid);
	ok = rc == SHMS_ELOCKED && strstr(detail, pidstr) != NULL;
	printf("  %-26s %s %s: %s\n", "locked-by-live-owner", code_name(rc),
	    ok ? "ok" : "WRONG", detail);
	if (write(q[1], "x", 1) != 1)
		kvt_die("write: %s", strerror(errno));
	close(q[1]);
	close(p[0]);
	waitpid(pid, &st, 0);
	/* Once the owner is gone, the state can be taken over. */
	if ((rc = shms_svc_open(&svc, NULL, "c-locked", 0)) != 0) {
		printf("  %-26s %s WRONG\n", "owner-gone", code_name(rc));
		ok = 0;
	} else
		shms_svc_close(svc);
	if (ok)
		nok++;
}

int
main(void)
{
	size_t i;

	kvt_state_dir();
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i]);
	run_locked();
	printf("corrupt: %u cases, %u typed errors as expected, %u skipped\n",
	    ncases, nok, nskip);
	return nok + nskip == ncases ? 0 : 1;
}
