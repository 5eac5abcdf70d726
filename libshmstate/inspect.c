/*
 * inspect.c: what is in a service directory (shmctl list/info/verify/dump)
 * and its upkeep (rm, gc).
 *
 * Every file read here may have been written by a hostile or crashed
 * process. Headers are copied out once (shms__hdr_read); payloads are read
 * with pread rather than mapped, so a file truncated under us gives
 * SHMS_ETRUNC instead of SIGBUS; nothing follows a symlink; a bad file is
 * reported in its entry and never stops the walk.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bsd/string.h>
#include "xxh.h"

#include "internal.h"

/* A directory with more entries than this is refused: bounds memory. */
#define INSPECT_MAX_FILES	65536
/* pread/write unit when streaming a payload, and progress granularity. */
#define INSPECT_CHUNK		(1u << 20)

/* One name to report: a directory entry, or a manifest entry (mi >= 0)
 * whose file is missing. */
struct item {
	char	*name;
	long	 mi;
};

struct items {
	struct item	*v;
	size_t		 n, cap;
};

static void
items_free(struct items *it)
{
	size_t i;

	for (i = 0; i < it->n; i++)
		free(it->v[i].name);
	free(it->v);
	it->v = NULL;
	it->n = it->cap = 0;
}

static int
items_add(struct items *it, const char *name, long mi)
{
	struct item *nv;
	size_t ncap;

	if (it->n >= INSPECT_MAX_FILES)
		return SHMS_ELIMIT;
	if (it->n == it->cap) {
		ncap = it->cap ? it->cap * 2 : 32;
		if ((nv = reallocarray(it->v, ncap, sizeof(*nv))) == NULL)
			return -ENOMEM;
		it->v = nv;
		it->cap = ncap;
	}
	if ((it->v[it->n].name = strdup(name)) == NULL)
		return -ENOMEM;
	it->v[it->n++].mi = mi;
	return 0;
}

static int
item_cmp(const void *a, const void *b)
{
	return strcmp(((const struct item *)a)->name,
	    ((const struct item *)b)->name);
}

/* qsort() and bsearch() must not see the NULL of an empty list. */
static void
items_sort(struct items *it)
{
	if (it->n > 1)
		qsort(it->v, it->n, sizeof(*it->v), item_cmp);
}

static int
items_has(const struct items *it, size_t n, const char *name)
{
	struct item key;

	key.name = (char *)name;
	return n > 0 && bsearch(&key, it->v, n, sizeof(*it->v),
	    item_cmp) != NULL;
}

/* dir_walk callback: every name but the ones never reported. */
static int
collect_file(const char *name, void *arg)
{
	switch (shms__file_type(name)) {
	case SHMS__FT_LOCK:
	case SHMS__FT_MANIFEST:
	case SHMS__FT_SOCK:
		return 0;
	default:
		return items_add(arg, name, -1);
	}
}

/* A file name given by a caller: one path component, never "." or "..". */
static int
file_name_ok(const char *file)
{
	if (file == NULL || file[0] == '\0' || strchr(file, '/') != NULL ||
	    strcmp(file, ".") == 0 || strcmp(file, "..") == 0 ||
	    strlen(file) >= SHMS__FILE_MAX)
		return SHMS_ENAME;
	return 0;
}

/* The file a manifest entry's segment lives in. */
static void
mentry_file(const struct shms__mentry *me, char *buf)
{
	if (me->kind == SHMS_KIND_ARENA)
		snprintf(buf, SHMS__FILE_MAX, SHMS__ARENA_PREFIX "%s",
		    me->name);
	else
		shms__ckpt_file(buf, me->generation, me->name);
}

/* Sets e's error, with a detail "<file>: <fmt...>". */
static void entry_error(struct shms_entry *e, int code, const char *fmt, ...)
    SHMS__PRINTF(3, 4);

static void
entry_error(struct shms_entry *e, int code, const char *fmt, ...)
{
	va_list ap;
	int n;

	e->error = code;
	n = snprintf(e->detail, sizeof(e->detail), "%s: ", e->file);
	if (n < 0 || (size_t)n >= sizeof(e->detail))
		return;
	va_start(ap, fmt);
	vsnprintf(e->detail + n, sizeof(e->detail) - (size_t)n, fmt, ap);
	va_end(ap);
}

/*
 * The manifest is read once per walk; an invalid one is remembered (mrc)
 * so that its files are classified as if there were none, and reported.
 */
struct walk {
	struct shms_svc		*svc;
	struct shms__manifest	 m;
	int			 mrc;	/* 0, SHMS_ENOSTATE or the error */
	char			 mdetail[SHMS_DETAIL_MAX];
};

static void
walk_init(struct walk *w, struct shms_svc *svc)
{
	memset(w, 0, sizeof(*w));
	w->svc = svc;
	w->mrc = shms__manifest_read(shms__svc_dirfd(svc), &w->m, w->mdetail);
}

/*
 * A manifest that could not be read for a system error (ENOMEM, EIO, ...)
 * says nothing about the committed state: the call fails with it rather
 * than classify and verify as if there were no manifest. Returns it, or 0.
 */
static int
walk_sys_error(const struct walk *w)
{
	if (SHMS__IS_ERRNO(w->mrc))
		return shms__fail(w->svc, w->mrc, "%s", w->mdetail);
	return 0;
}

static const struct shms__manifest *
walk_manifest(const struct walk *w)
{
	return w->mrc == 0 ? &w->m : NULL;
}

static void
walk_fini(struct walk *w)
{
	if (w->mrc == 0)
		shms__manifest_free(&w->m);
}

/* Fills e for a segment the manifest lists but whose file is absent. */
static void
entry_missing(struct shms_entry *e, const struct shms__mentry *me)
{
	e->status = SHMS_ENT_COMMITTED;
	strlcpy(e->info.name, me->name, sizeof(e->info.name));
	strlcpy(e->info.layout, me->layout, sizeof(e->info.layout));
	e->info.layout_version = me->layout_version;
	e->info.kind = (int)me->kind;
	e->info.generation = me->generation;
	e->info.payload_len = me->payload_len;
	e->info.payload_xxh3 = me->payload_xxh3;
	e->info.hdr_xxh3 = me->hdr_xxh3;
	entry_error(e, SHMS_EMISSING, "listed in the manifest but missing");
}

/*
 * Is file "arena.<name>", or a chunk "arena.<name>.<...>" (the arena code
 * owns the names after the prefix)? Anything else is a renamed or copied
 * arena, whose header would be adopted under the wrong name.
 */
static int
arena_file_of(const char *file, const char *name)
{
	const char *s = file + strlen(SHMS__ARENA_PREFIX);
	size_t n = strlen(name);

	return strncmp(s, name, n) == 0 && (s[n] == '\0' || s[n] == '.');
}

/* Does a valid header agree with the file's name and the manifest? */
static void
entry_agree(struct shms_entry *e, const struct shms__manifest *m,
    enum shms__file_type ft)
{
	const struct shms_seg_info *in = &e->info;
	const struct shms__mentry *me;
	char name[SHMS_NAME_MAX + 1];
	uint64_t gen;
	long i;

	switch (ft) {
	case SHMS__FT_CKPT:
		(void)shms__ckpt_file_parse(e->file, &gen, name);
		if (in->kind != SHMS_KIND_CKPT || in->generation != gen ||
		    strcmp(in->name, name) != 0) {
			entry_error(e, SHMS_ECORRUPT, "header is of another "
			    "segment (%s generation %llu)", in->name,
			    (unsigned long long)in->generation);
			return;
		}
		break;
	case SHMS__FT_ARENA:
		if (in->kind != SHMS_KIND_ARENA)
			entry_error(e, SHMS_ECORRUPT, "checkpoint header in "
			    "an arena file");
		else if (!arena_file_of(e->file, in->name))
			entry_error(e, SHMS_ECORRUPT, "header is of arena %s",
			    in->name);
		return;
	default:
		/* Arena chunk files are named by the arena code. */
		if (in->kind == SHMS_KIND_ARENA)
			e->status = SHMS_ENT_ARENA;
		else
			entry_error(e, SHMS_ENAME, "segment header under an "
			    "unexpected file name");
		return;
	}
	if (e->status != SHMS_ENT_COMMITTED || m == NULL ||
	    (i = shms__manifest_find(m, in->name)) < 0)
		return;
	me = &m->entries[i];
	/*
	 * The header checksum changes when an adopter marks the segment
	 * consumed, so it can be compared only while the segment is clean.
	 */
	if (strcmp(me->layout, in->layout) != 0 ||
	    me->layout_version != in->layout_version ||
	    me->payload_len != in->payload_len ||
	    me->payload_xxh3 != in->payload_xxh3 ||
	    (in->state == SHMS_STATE_CLEAN && me->hdr_xxh3 != in->hdr_xxh3))
		entry_error(e, SHMS_ECORRUPT, "header disagrees with the "
		    "manifest");
}

/* Lower layers' details may lack the file name; entries always start
 * with it. */
static void
entry_prefix(struct shms_entry *e)
{
	char tmp[SHMS_DETAIL_MAX];
	size_t n = strlen(e->file);

	if (strncmp(e->detail, e->file, n) == 0 && e->detail[n] == ':')
		return;
	strlcpy(tmp, e->detail, sizeof(tmp));
	entry_error(e, e->error, "%s", tmp[0] != '\0' ? tmp :
	    shms_strerror(e->error));
}

/*
 * Describes file `file' into e. With fdp, the opened file stays open for
 * the caller (-1 if it could not be opened), so that what is streamed is
 * what was validated. Returns 0, or -ENOENT if the file vanished.
 */
static int
entry_fill(const struct walk *w, const char *file, struct shms_entry *e,
    int *fdp)
{
	int dirfd = shms__svc_dirfd(w->svc);
	const struct shms__manifest *m = walk_manifest(w);
	enum shms__file_type ft;
	struct stat st;
	uint64_t size;
	int fd, rc;

	memset(e, 0, sizeof(*e));
	if (fdp != NULL)
		*fdp = -1;
	strlcpy(e->file, file, sizeof(e->file));
	if (strlen(file) >= sizeof(e->file)) {
		e->status = SHMS_ENT_FOREIGN;
		entry_error(e, SHMS_ENAME, "file name too long");
		return 0;
	}
	ft = shms__file_type(file);
	e->status = shms__classify(file, m);
	if (ft == SHMS__FT_MANIFEST) {
		/* Listed only when invalid, see shms_svc_list(). */
		e->status = SHMS_ENT_COMMITTED;
		if (w->mrc == 0)
			entry_error(e, SHMS_EMAGIC, "the manifest, not a "
			    "segment");
		else if (w->mrc == SHMS_ENOSTATE)
			return -ENOENT;
		else {
			e->error = w->mrc;
			strlcpy(e->detail, w->mdetail, sizeof(e->detail));
		}
		return 0;
	}
	if (fstatat(dirfd, file, &st, AT_SYMLINK_NOFOLLOW) == -1) {
		if (errno == ENOENT)
			return -ENOENT;
		entry_error(e, -errno, "stat: %s", strerror(errno));
		return 0;
	}
	if (S_ISLNK(st.st_mode)) {
		entry_error(e, SHMS_ESYMLINK, "symlink");
		return 0;
	}
	if (!S_ISREG(st.st_mode)) {
		entry_error(e, SHMS_ECORRUPT, "not a regular file");
		return 0;
	}
	e->info.file_size = (uint64_t)st.st_size;
	if (ft == SHMS__FT_MANIFEST_TMP) {
		e->status = SHMS_ENT_UNCOMMITTED;
		entry_error(e, SHMS_EMAGIC, "temporary manifest of an "
		    "interrupted commit");
		return 0;
	}
	/* O_NONBLOCK: a FIFO swapped in after the stat must not block. */
	fd = shms__open_checked(dirfd, file, O_RDONLY | O_NONBLOCK, &size,
	    e->detail);
	if (fd < 0) {
		if (fd == -ENOENT)
			return -ENOENT;
		e->error = fd;
		entry_prefix(e);
		return 0;
	}
	rc = shms__hdr_read(fd, size, &e->info, e->detail);
	e->info.file_size = size;
	if (rc != 0)
		e->error = rc;
	else
		entry_agree(e, m, ft);
	if (e->error == 0 && e->status == SHMS_ENT_FOREIGN)
		entry_error(e, SHMS_ENAME, "not a shmstate file name");
	if (e->error != 0)
		entry_prefix(e);
	if (fdp != NULL && e->error == 0)
		*fdp = fd;
	else
		close(fd);
	return 0;
}

/*
 * The sorted names to report: directory entries plus manifest entries
 * whose file is missing, plus "manifest" when it is invalid.
 */
static int
walk_items(const struct walk *w, struct items *it)
{
	const struct shms__manifest *m = walk_manifest(w);
	char file[SHMS__FILE_MAX];
	size_t ndir;
	uint32_t i;
	int rc;

	memset(it, 0, sizeof(*it));
	rc = shms__dir_walk(shms__svc_dirfd(w->svc), collect_file, it);
	if (rc == 0 && w->mrc != 0 && w->mrc != SHMS_ENOSTATE)
		rc = items_add(it, SHMS__MANIFEST_FILE, -1);
	if (rc != 0)
		goto fail;
	ndir = it->n;
	items_sort(it);
	for (i = 0; m != NULL && i < m->count; i++) {
		mentry_file(&m->entries[i], file);
		if (!items_has(it, ndir, file) &&
		    (rc = items_add(it, file, (long)i)) != 0)
			goto fail;
	}
	items_sort(it);
	return 0;
fail:
	items_free(it);
	return rc;
}

/* Calls cb for every entry; the core of list and gc. */
static int
walk_run(struct walk *w, shms_entry_cb cb, void *arg)
{
	struct shms_entry *e;
	struct items it;
	size_t i;
	int rc;

	if ((rc = walk_sys_error(w)) != 0)
		return rc;
	if ((rc = walk_items(w, &it)) != 0)
		return shms__fail(w->svc, rc, "%s: cannot list",
		    shms_svc_path(w->svc));
	if ((e = malloc(sizeof(*e))) == NULL) {
		items_free(&it);
		return -ENOMEM;
	}
	for (i = 0, rc = 0; i < it.n && rc == 0; i++) {
		if (it.v[i].mi >= 0) {
			memset(e, 0, sizeof(*e));
			strlcpy(e->file, it.v[i].name, sizeof(e->file));
			entry_missing(e, &w->m.entries[it.v[i].mi]);
		} else if (entry_fill(w, it.v[i].name, e, NULL) != 0)
			continue;	/* removed since the readdir */
		rc = cb(e, arg);
	}
	free(e);
	items_free(&it);
	return rc;
}

int
shms_svc_list(struct shms_svc *svc, shms_entry_cb cb, void *arg)
{
	struct walk w;
	int rc;

	if (svc == NULL || cb == NULL)
		return -EINVAL;
	shms__clear_detail(svc);
	walk_init(&w, svc);
	rc = walk_run(&w, cb, arg);
	walk_fini(&w);
	return rc;
}

struct svc_names {
	int		dirfd;
	struct items	it;
};

static int
collect_service(const char *name, void *arg)
{
	struct svc_names *sn = arg;
	struct stat st;

	if (shms__name_valid(name) != 0 ||
	    fstatat(sn->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1 ||
	    !S_ISDIR(st.st_mode))
		return 0;
	return items_add(&sn->it, name, -1);
}

int
shms_list_services(const char *root, shms_service_cb cb, void *arg)
{
	struct svc_names sn;
	size_t i;
	int rc;

	if (cb == NULL)
		return -EINVAL;
	memset(&sn, 0, sizeof(sn));
	if ((sn.dirfd = shms__root_open(root, 0, NULL)) < 0)
		return sn.dirfd;
	rc = shms__dir_walk(sn.dirfd, collect_service, &sn);
	close(sn.dirfd);
	if (rc == 0)
		items_sort(&sn.it);
	for (i = 0; rc == 0 && i < sn.it.n; i++)
		rc = cb(sn.it.v[i].name, arg);
	items_free(&sn.it);
	return rc;
}

int
shms_svc_manifest(struct shms_svc *svc, struct shms_manifest_info *out)
{
	struct shms__manifest m;
	char detail[SHMS_DETAIL_MAX];
	int rc;

	if (svc == NULL || out == NULL)
		return -EINVAL;
	shms__clear_detail(svc);
	rc = shms__manifest_read(shms__svc_dirfd(svc), &m, detail);
	if (rc != 0)
		return shms__fail(svc, rc, "%s", detail);
	memset(out, 0, sizeof(*out));
	strlcpy(out->service, m.service, sizeof(out->service));
	strlcpy(out->build_id, m.build_id, sizeof(out->build_id));
	out->generation = m.generation;
	out->ctime_ns = m.ctime_ns;
	out->count = m.count;
	shms__manifest_free(&m);
	return 0;
}

/* Is the arena's recorded owner the process holding the lock now? */
static int
owner_alive(struct shms_svc *svc, int64_t owner)
{
	pid_t pid;
	int alive;

	if (shms_svc_owner(svc, &pid, &alive) != 0)
		return 0;
	return alive && (int64_t)pid == owner;
}

/*
 * Opens file for streaming: validates it like shms_svc_list() and leaves
 * the validated fd in *fdp. Records the failure detail on svc.
 */
static int
open_valid(struct shms_svc *svc, const char *file, struct shms_entry *e,
    int *fdp)
{
	struct walk w;
	int rc;

	if (svc == NULL || file_name_ok(file) != 0)
		return svc == NULL ? -EINVAL :
		    shms__fail(svc, SHMS_ENAME, "invalid file name");
	shms__clear_detail(svc);
	walk_init(&w, svc);
	if ((rc = walk_sys_error(&w)) != 0) {
		walk_fini(&w);
		return rc;
	}
	rc = entry_fill(&w, file, e, fdp);
	walk_fini(&w);
	if (rc == -ENOENT)
		return shms__fail(svc, SHMS_ENOTFOUND, "%s: no such file",
		    file);
	if (rc == 0 && e->error != 0)
		rc = e->error;
	if (rc != 0)
		return shms__fail(svc, rc, "%s", e->detail);
	return 0;
}

/*
 * Streams [payload_off, payload_off + payload_len) of fd through XXH3 and,
 * if out >= 0, to out. *sum receives the checksum.
 */
static int
stream_payload(struct shms_svc *svc, int fd, const struct shms_entry *e,
    int out, shms_progress_cb progress, void *arg, uint64_t *sum)
{
	const struct shms_seg_info *in = &e->info;
	XXH3_state_t *st;
	uint64_t done = 0;
	size_t n, w;
	ssize_t r;
	char *buf;
	int rc = 0;

	st = XXH3_createState();
	buf = malloc(INSPECT_CHUNK);
	if (st == NULL || buf == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	(void)XXH3_64bits_reset(st);
	while (done < in->payload_len) {
		n = in->payload_len - done < INSPECT_CHUNK ?
		    (size_t)(in->payload_len - done) : INSPECT_CHUNK;
		rc = shms__pread_all(fd, buf, n, in->payload_off + done);
		if (rc != 0) {
			rc = shms__fail(svc, rc, "%s: read at payload offset "
			    "%llu: %s", e->file, (unsigned long long)done,
			    shms_strerror(rc));
			goto out;
		}
		(void)XXH3_64bits_update(st, buf, n);
		for (w = 0; out >= 0 && w < n; w += (size_t)r) {
			r = write(out, buf + w, n - w);
			if (r == -1 && errno == EINTR) {
				r = 0;
				continue;
			}
			if (r == -1) {
				rc = shms__fail(svc, -errno, "%s: write: %s",
				    e->file, strerror(errno));
				goto out;
			}
		}
		done += n;
		if (progress != NULL)
			progress(done, in->payload_len, arg);
	}
	*sum = XXH3_64bits_digest(st);
out:
	free(buf);
	XXH3_freeState(st);
	return rc;
}

/* Does this header carry a payload checksum that must hold now? */
static int
payload_summed(const struct shms_seg_info *in)
{
	return in->state == SHMS_STATE_CLEAN &&
	    (in->flags & (SHMS__F_SUMMED | SHMS__F_ARENA_SUM)) != 0;
}

static int
check_sum(struct shms_svc *svc, const struct shms_entry *e, uint64_t sum)
{
	if (!payload_summed(&e->info) || sum == e->info.payload_xxh3)
		return 0;
	return shms__fail(svc, SHMS_ESUM, "%s: payload checksum 0x%016llx "
	    "expected 0x%016llx", e->file, (unsigned long long)sum,
	    (unsigned long long)e->info.payload_xxh3);
}

int
shms_svc_verify(struct shms_svc *svc, const char *file,
    shms_progress_cb progress, void *arg)
{
	struct shms_manifest_info mi;
	struct shms_entry *e;
	uint64_t sum;
	int fd = -1, rc;

	if (file != NULL && strcmp(file, SHMS__MANIFEST_FILE) == 0)
		return shms_svc_manifest(svc, &mi);
	if ((e = malloc(sizeof(*e))) == NULL)
		return -ENOMEM;
	if ((rc = open_valid(svc, file, e, &fd)) != 0)
		goto out;
	switch (e->info.state) {
	case SHMS_STATE_CREATING:
		rc = shms__fail(svc, SHMS_ESTATE, "%s: still being written "
		    "(no final checksum)", file);
		goto out;
	case SHMS_STATE_CONSUMED:
		rc = shms__fail(svc, SHMS_ESTATE, "%s: consumed (an adopter "
		    "released its pages)", file);
		goto out;
	case SHMS_STATE_LIVE:
		if (!owner_alive(svc, e->info.owner_pid))
			rc = shms__fail(svc, SHMS_EDIRTY, "%s: live, but its "
			    "owner pid %lld is gone", file,
			    (long long)e->info.owner_pid);
		/* A live arena changes under us: no checksum to hold it
		 * to. Its allocator check is shms_arena_inspect()'s. */
		goto out;
	}
	if (!payload_summed(&e->info))
		goto out;
	rc = stream_payload(svc, fd, e, -1, progress, arg, &sum);
	if (rc == 0)
		rc = check_sum(svc, e, sum);
out:
	if (fd >= 0)
		close(fd);
	free(e);
	return rc;
}

int
shms_svc_dump(struct shms_svc *svc, const char *file, int out)
{
	struct shms_entry *e;
	uint64_t sum;
	int fd = -1, rc;

	if (out < 0)
		return -EBADF;
	if ((e = malloc(sizeof(*e))) == NULL)
		return -ENOMEM;
	rc = open_valid(svc, file, e, &fd);
	if (rc == 0)
		rc = stream_payload(svc, fd, e, out, NULL, NULL, &sum);
	if (rc == 0)
		rc = check_sum(svc, e, sum);
	if (fd >= 0)
		close(fd);
	free(e);
	return rc;
}

/* The prologue of calls that change the directory: they need the lock. */
static int
begin_write(struct shms_svc *svc)
{
	if (svc == NULL)
		return -EINVAL;
	shms__clear_detail(svc);
	if (!shms__svc_writable(svc))
		return shms__fail(svc, -EBADF, "%s: service opened read-only "
		    "(the lock is needed)", shms_svc_path(svc));
	return 0;
}

int
shms_svc_remove(struct shms_svc *svc, const char *file)
{
	int rc;

	if ((rc = begin_write(svc)) != 0)
		return rc;
	if (file_name_ok(file) != 0)
		return shms__fail(svc, SHMS_ENAME, "invalid file name");
	if (shms__file_type(file) == SHMS__FT_LOCK)
		return shms__fail(svc, -EINVAL, "%s: the owner lock is not "
		    "removed on its own", file);
	if (unlinkat(shms__svc_dirfd(svc), file, 0) == -1) {
		if (errno == ENOENT)
			return shms__fail(svc, SHMS_ENOTFOUND, "%s: no such "
			    "file", file);
		return shms__fail(svc, -errno, "%s: unlink: %s", file,
		    strerror(errno));
	}
	return 0;
}

struct gc {
	struct shms_svc	*svc;
	shms_entry_cb	 cb;
	void		*arg;
	int		 removed;
};

static int
gc_entry(const struct shms_entry *e, void *arg)
{
	struct gc *g = arg;

	if (e->status != SHMS_ENT_UNCOMMITTED &&
	    e->status != SHMS_ENT_SUPERSEDED)
		return 0;
	if (e->error == SHMS_EMISSING)
		return 0;
	/*
	 * unlinkat removes a symlink, never its target; a directory planted
	 * under a checkpoint name (EISDIR) is left for a human.
	 */
	if (unlinkat(shms__svc_dirfd(g->svc), e->file, 0) == -1) {
		if (errno == ENOENT || errno == EISDIR)
			return 0;
		return shms__fail(g->svc, -errno, "%s: unlink: %s", e->file,
		    strerror(errno));
	}
	g->removed++;
	return g->cb != NULL ? g->cb(e, g->arg) : 0;
}

int
shms_svc_gc(struct shms_svc *svc, shms_entry_cb cb, void *arg)
{
	struct walk w;
	struct gc g;
	int rc;

	if ((rc = begin_write(svc)) != 0)
		return rc;
	walk_init(&w, svc);
	if (w.mrc != 0 && w.mrc != SHMS_ENOSTATE) {
		rc = shms__fail(svc, w.mrc, "%s (gc refused: the committed "
		    "state is unknown)", w.mdetail);
		walk_fini(&w);
		return rc;
	}
	g.svc = svc;
	g.cb = cb;
	g.arg = arg;
	g.removed = 0;
	rc = walk_run(&w, gc_entry, &g);
	walk_fini(&w);
	return rc != 0 ? rc : g.removed;
}
