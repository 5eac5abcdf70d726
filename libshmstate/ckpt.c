/*
 * ckpt.c: copy-mode checkpoints.
 *
 * A checkpoint writes its segments as ckpt.<gen>.<name> with a generation
 * no file in the directory has used yet, then commits by renaming a new
 * manifest into place. Until that rename, adopters see only the previous
 * manifest and its files, so a failure or crash at any earlier point
 * leaves the previous checkpoint adoptable; files of the new generation
 * are then garbage, removed here on failure or by shms_svc_gc().
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bsd/string.h>

#include "seg.h"

int
shms_ckpt_begin(struct shms_svc *svc, unsigned flags, struct shms_ckpt **out)
{
	char detail[SHMS_DETAIL_MAX];
	struct shms__manifest m;
	struct shms_ckpt *ck;
	uint64_t committed = 0, files = 0;
	int rc;

	if (svc == NULL || out == NULL || flags != 0)
		return -EINVAL;
	if ((rc = shms__svc_need_writer(svc)) < 0)
		return rc;
	/*
	 * A corrupt manifest does not stop a new checkpoint: committing one
	 * replaces it. Its generation may not be believed, the files' may.
	 */
	if (shms__manifest_read(shms__svc_dirfd(svc), &m, detail) == 0) {
		committed = m.generation;
		shms__manifest_free(&m);
	}
	if ((rc = shms__svc_ckpt_enter(svc)) < 0)
		return shms__fail(svc, rc, "%s: another checkpoint is open",
		    shms_svc_path(svc));
	if ((rc = shms__max_file_generation(shms__svc_dirfd(svc), &files)) < 0) {
		shms__fail(svc, rc, "%s: readdir: %s", shms_svc_path(svc),
		    shms_strerror(rc));
		goto fail;
	}
	if (files > committed)
		committed = files;
	if (committed == UINT64_MAX) {
		rc = shms__fail(svc, SHMS_ELIMIT, "%s: generations exhausted",
		    shms_svc_path(svc));
		goto fail;
	}
	if ((ck = calloc(1, sizeof(*ck))) == NULL) {
		rc = shms__fail(svc, -ENOMEM, "%s: checkpoint: out of memory",
		    shms_svc_path(svc));
		goto fail;
	}
	if ((rc = pthread_mutex_init(&ck->mu, NULL)) != 0) {
		free(ck);
		rc = -rc;
		goto fail;
	}
	ck->svc = svc;
	ck->generation = committed + 1;
	shms__svc_attach(svc);
	*out = ck;
	return 0;
fail:
	shms__svc_ckpt_leave(svc);
	return rc;
}

static long
find_seg(const struct shms_ckpt *ck, const char *name)
{
	size_t i;

	for (i = 0; i < ck->nsegs; i++)
		if (strcmp(ck->segs[i]->info.name, name) == 0)
			return (long)i;
	return -1;
}

/* Takes seg out of the list (under ck->mu) and frees it. */
static void
drop_seg(struct shms_ckpt *ck, struct shms_seg *seg)
{
	long i;

	pthread_mutex_lock(&ck->mu);
	i = find_seg(ck, seg->info.name);
	if (i >= 0 && ck->segs[i] == seg) {
		memmove(&ck->segs[i], &ck->segs[i + 1],
		    (ck->nsegs - (size_t)i - 1) * sizeof(*ck->segs));
		ck->nsegs--;
	}
	pthread_mutex_unlock(&ck->mu);
	free(seg);
}

/* Adds seg to the list unless its name is taken; under ck->mu. */
static int
add_seg(struct shms_ckpt *ck, struct shms_seg *seg)
{
	struct shms_seg **v;
	size_t cap;

	if (find_seg(ck, seg->info.name) >= 0)
		return shms__fail(ck->svc, -EEXIST, "%s: segment %s already in "
		    "this checkpoint", shms_svc_path(ck->svc), seg->info.name);
	if (ck->nsegs >= SHMS_MAX_SEGMENTS)
		return shms__fail(ck->svc, SHMS_ELIMIT, "%s: more than %d "
		    "segments in one checkpoint", shms_svc_path(ck->svc),
		    SHMS_MAX_SEGMENTS);
	if (ck->nsegs == ck->cap) {
		cap = ck->cap ? ck->cap * 2 : 8;
		if ((v = reallocarray(ck->segs, cap, sizeof(*v))) == NULL)
			return shms__fail(ck->svc, -ENOMEM, "%s: segment %s: "
			    "out of memory", shms_svc_path(ck->svc),
			    seg->info.name);
		ck->segs = v;
		ck->cap = cap;
	}
	ck->segs[ck->nsegs++] = seg;
	return 0;
}

int
shms_ckpt_seg_create(struct shms_ckpt *ck, const char *name,
    const char *layout, uint32_t layout_version, uint64_t size_hint,
    struct shms_seg **out)
{
	struct shms_seg *seg;
	int rc;

	if (ck == NULL || out == NULL)
		return -EINVAL;
	if (shms__name_valid(name) != 0 || shms__name_valid(layout) != 0)
		return shms__fail(ck->svc, SHMS_ENAME, "invalid %s name \"%.*s\"",
		    shms__name_valid(name) ? "segment" : "layout",
		    SHMS_NAME_MAX + 1, shms__name_valid(name) ? (name ? name :
		    "(null)") : (layout ? layout : "(null)"));
	if (size_hint > SHMS_SEG_MAX_SIZE)
		return shms__fail(ck->svc, SHMS_ELIMIT, "%s: size hint %" PRIu64
		    " over the limit", name, size_hint);
	if ((seg = calloc(1, sizeof(*seg))) == NULL)
		return shms__fail(ck->svc, -ENOMEM, "%s: segment %s: out of "
		    "memory", shms_svc_path(ck->svc), name);
	seg->mode = SHMS__SEG_WRITE;
	seg->svc = ck->svc;
	seg->ck = ck;
	seg->fd = -1;
	shms__ckpt_file(seg->file, ck->generation, name);
	strlcpy(seg->info.name, name, sizeof(seg->info.name));
	strlcpy(seg->info.layout, layout, sizeof(seg->info.layout));
	strlcpy(seg->info.build_id, shms__svc_build_id(ck->svc),
	    sizeof(seg->info.build_id));
	seg->info.layout_version = layout_version;
	seg->info.kind = SHMS_KIND_CKPT;
	seg->info.state = SHMS_STATE_CREATING;
	seg->info.generation = ck->generation;
	seg->info.owner_pid = getpid();
	seg->info.ctime_ns = shms__now_ns();

	/* Claim the name first; the slow part runs outside the lock. */
	pthread_mutex_lock(&ck->mu);
	rc = add_seg(ck, seg);
	pthread_mutex_unlock(&ck->mu);
	if (rc < 0) {
		free(seg);
		return rc;
	}
	if ((rc = shms__segw_open(seg, size_hint)) < 0) {
		drop_seg(ck, seg);
		return rc;
	}
	*out = seg;
	return 0;
}

static int
remove_old_cb(const char *name, void *arg)
{
	const struct shms_ckpt *ck = arg;
	uint64_t gen;

	if (shms__ckpt_file_parse(name, &gen, NULL) == 0 &&
	    gen < ck->generation)
		shms__unlink(shms__svc_dirfd(ck->svc), name);
	return 0;
}

static void
ckpt_free(struct shms_ckpt *ck, int remove_files)
{
	size_t i;

	for (i = 0; i < ck->nsegs; i++) {
		if (remove_files)
			shms__segw_discard(ck->segs[i]);
		else if (!ck->segs[i]->sealed)
			shms__segw_seal(ck->segs[i]);
		free(ck->segs[i]);
	}
	free(ck->segs);
	pthread_mutex_destroy(&ck->mu);
	shms__svc_ckpt_leave(ck->svc);
	shms__svc_detach(ck->svc);
	free(ck);
}

/* Writes manifest.tmp from the sealed segments and syncs it. */
static int
write_manifest(struct shms_ckpt *ck)
{
	struct shms_svc *svc = ck->svc;
	struct shms__manifest m;
	void *buf = NULL;
	size_t len, i;
	int fd, rc;

	memset(&m, 0, sizeof(m));
	m.generation = ck->generation;
	m.ctime_ns = shms__now_ns();
	strlcpy(m.service, shms__svc_name(svc), sizeof(m.service));
	strlcpy(m.build_id, shms__svc_build_id(svc), sizeof(m.build_id));
	m.count = (uint32_t)ck->nsegs;
	if ((m.entries = calloc(ck->nsegs ? ck->nsegs : 1,
	    sizeof(*m.entries))) == NULL)
		return shms__fail(svc, -ENOMEM, "%s: manifest: out of memory",
		    shms_svc_path(svc));
	for (i = 0; i < ck->nsegs; i++) {
		const struct shms_seg_info *in = &ck->segs[i]->info;
		struct shms__mentry *e = &m.entries[i];

		memcpy(e->name, in->name, sizeof(e->name));
		memcpy(e->layout, in->layout, sizeof(e->layout));
		e->layout_version = in->layout_version;
		e->kind = SHMS_KIND_CKPT;
		e->payload_len = in->payload_len;
		e->payload_xxh3 = in->payload_xxh3;
		e->hdr_xxh3 = in->hdr_xxh3;
		e->generation = ck->generation;
	}
	rc = shms__manifest_encode(&m, &buf, &len);
	free(m.entries);
	if (rc < 0)
		return shms__fail(svc, rc, "%s: manifest: %s",
		    shms_svc_path(svc), shms_strerror(rc));
	shms__unlink(shms__svc_dirfd(svc), SHMS__MANIFEST_TMP);
	fd = shms__create_excl(shms__svc_dirfd(svc), SHMS__MANIFEST_TMP, NULL);
	if (fd < 0) {
		free(buf);
		return shms__fail(svc, fd, "%s/%s: create: %s",
		    shms_svc_path(svc), SHMS__MANIFEST_TMP, shms_strerror(fd));
	}
	rc = shms__pwrite_all(fd, buf, len, 0);
	if (rc == 0 && fsync(fd) < 0 && errno != EINVAL)
		rc = -errno;
	close(fd);
	free(buf);
	if (rc < 0)
		return shms__fail(svc, rc, "%s/%s: write: %s",
		    shms_svc_path(svc), SHMS__MANIFEST_TMP, shms_strerror(rc));
	return 0;
}

int
shms_ckpt_commit(struct shms_ckpt *ck, unsigned flags, uint64_t *generation)
{
	struct shms_svc *svc;
	int dirfd, synced, rc = 0;
	size_t i;

	if (ck == NULL)
		return -EINVAL;
	svc = ck->svc;
	dirfd = shms__svc_dirfd(svc);
	if (flags & ~SHMS_CKPT_KEEP_OLD) {
		rc = shms__fail(svc, -EINVAL, "shms_ckpt_commit: flags 0x%x",
		    flags);
		goto fail;
	}
	pthread_mutex_lock(&ck->mu);
	for (i = 0; i < ck->nsegs && rc == 0; i++)
		rc = shms__segw_seal(ck->segs[i]);
	pthread_mutex_unlock(&ck->mu);
	if (rc < 0)
		goto fail;
	if ((rc = write_manifest(ck)) < 0)
		goto fail;
	/* The commit point. */
	if (renameat(dirfd, SHMS__MANIFEST_TMP, dirfd,
	    SHMS__MANIFEST_FILE) < 0) {
		rc = -errno;
		shms__fail(svc, rc, "%s/%s: rename: %s", shms_svc_path(svc),
		    SHMS__MANIFEST_TMP, shms_strerror(rc));
		goto fail;
	}
	/*
	 * Committed: every adopter from now on sees the new generation, so
	 * the commit succeeded whatever follows. Removing the previous
	 * generation is best effort: if the directory fsync failed (a
	 * disk-backed root), the rename may not survive a power loss, so
	 * its files stay as the fallback; the next commit removes them.
	 */
	synced = fsync(dirfd) == 0 || errno == EINVAL;
	if (synced && !(flags & SHMS_CKPT_KEEP_OLD))
		shms__dir_walk(dirfd, remove_old_cb, ck);
	if (generation != NULL)
		*generation = ck->generation;
	ckpt_free(ck, 0);
	return 0;
fail:
	shms__unlink(dirfd, SHMS__MANIFEST_TMP);
	ckpt_free(ck, 1);
	return rc;
}

void
shms_ckpt_abort(struct shms_ckpt *ck)
{
	if (ck == NULL)
		return;
	ckpt_free(ck, 1);
}
