/*
 * adopt.c: opening the last committed checkpoint.
 *
 * The manifest and each segment header were written by another process
 * and are checked against each other: a segment is used only if its own
 * header is valid, sealed, and says exactly what the manifest says.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "seg.h"

int
shms_adopt_begin(struct shms_svc *svc, unsigned flags, struct shms_adopt **out)
{
	char detail[SHMS_DETAIL_MAX];
	struct shms_adopt *ad;
	int rc;

	if (svc == NULL || out == NULL || flags != 0)
		return -EINVAL;
	if ((rc = shms__svc_need_writer(svc)) < 0)
		return rc;
	if ((ad = calloc(1, sizeof(*ad))) == NULL)
		return shms__fail(svc, -ENOMEM, "%s: adopt: out of memory",
		    shms_svc_path(svc));
	rc = shms__manifest_read(shms__svc_dirfd(svc), &ad->man, detail);
	if (rc < 0) {
		free(ad);
		return shms__fail(svc, rc, "%s/%s", shms_svc_path(svc), detail);
	}
	if (strcmp(ad->man.service, shms__svc_name(svc)) != 0) {
		rc = shms__fail(svc, SHMS_ECORRUPT, "%s/%s: written for service "
		    "%s (expected %s)", shms_svc_path(svc), SHMS__MANIFEST_FILE,
		    ad->man.service, shms__svc_name(svc));
		goto fail;
	}
	if ((ad->open = calloc(ad->man.count ? ad->man.count : 1,
	    sizeof(*ad->open))) == NULL) {
		rc = shms__fail(svc, -ENOMEM, "%s: adopt: out of memory",
		    shms_svc_path(svc));
		goto fail;
	}
	if ((rc = pthread_mutex_init(&ad->mu, NULL)) != 0) {
		rc = -rc;
		goto fail;
	}
	ad->svc = svc;
	shms__svc_attach(svc);
	*out = ad;
	return 0;
fail:
	free(ad->open);
	shms__manifest_free(&ad->man);
	free(ad);
	return rc;
}

uint64_t
shms_adopt_generation(const struct shms_adopt *ad)
{
	return ad == NULL ? 0 : ad->man.generation;
}

size_t
shms_adopt_count(const struct shms_adopt *ad)
{
	return ad == NULL ? 0 : ad->man.count;
}

int
shms_adopt_entry(const struct shms_adopt *ad, size_t i,
    struct shms_seg_info *info)
{
	const struct shms__mentry *e;

	if (ad == NULL || info == NULL || i >= ad->man.count)
		return -EINVAL;
	e = &ad->man.entries[i];
	memset(info, 0, sizeof(*info));
	memcpy(info->name, e->name, sizeof(info->name));
	memcpy(info->layout, e->layout, sizeof(info->layout));
	memcpy(info->build_id, ad->man.build_id, sizeof(info->build_id));
	info->layout_version = e->layout_version;
	info->format = SHMS__FORMAT;
	info->kind = (int)e->kind;
	info->state = SHMS_STATE_CLEAN;
	info->flags = SHMS__F_SUMMED;
	info->page_size = 4096;
	info->generation = e->generation;
	info->payload_off = SHMS__HDR_PAGE;
	info->payload_len = e->payload_len;
	info->payload_xxh3 = e->payload_xxh3;
	info->hdr_xxh3 = e->hdr_xxh3;
	info->ctime_ns = ad->man.ctime_ns;
	return 0;
}

/* Where the segment's own header and its manifest entry disagree. */
static const char *
disagreement(const struct shms_seg_info *h, const struct shms__mentry *e)
{
	if (h->kind != SHMS_KIND_CKPT)
		return "kind";
	if (strcmp(h->name, e->name) != 0)
		return "segment name";
	if (strcmp(h->layout, e->layout) != 0)
		return "layout";
	if (h->layout_version != e->layout_version)
		return "layout version";
	if (h->generation != e->generation)
		return "generation";
	if (h->payload_len != e->payload_len)
		return "payload length";
	if (h->payload_xxh3 != e->payload_xxh3)
		return "payload checksum";
	return NULL;
}

/* Validates the open segment file against the manifest and the caller. */
static int
check_seg(struct shms_seg *seg, const struct shms__mentry *e,
    const char *layout, uint32_t layout_version, uint64_t size)
{
	const char *path = shms_svc_path(seg->svc), *what;
	char detail[SHMS_DETAIL_MAX];
	struct shms_seg_info *in = &seg->info;
	int rc;

	if ((rc = shms__hdr_read(seg->fd, size, in, detail)) < 0)
		return shms__fail(seg->svc, rc, "%s/%s: %s", path, seg->file,
		    detail);
	if ((what = disagreement(in, e)) != NULL)
		return shms__fail(seg->svc, SHMS_ECORRUPT, "%s/%s: header and "
		    "manifest disagree on the %s", path, seg->file, what);
	if (in->state == SHMS_STATE_CONSUMED)
		return shms__fail(seg->svc, SHMS_ESTATE, "%s/%s: already "
		    "consumed by an earlier adoption", path, seg->file);
	if (in->state != SHMS_STATE_CLEAN || !(in->flags & SHMS__F_SUMMED))
		return shms__fail(seg->svc, SHMS_ESTATE, "%s/%s: state %d, "
		    "flags 0x%" PRIx32 " (expected clean and summed)", path,
		    seg->file, in->state, in->flags);
	if (in->hdr_xxh3 != e->hdr_xxh3)
		return shms__fail(seg->svc, SHMS_ECORRUPT, "%s/%s: header "
		    "checksum 0x%016" PRIx64 " differs from the manifest's "
		    "0x%016" PRIx64, path, seg->file, in->hdr_xxh3,
		    e->hdr_xxh3);
	if (layout != NULL && strcmp(layout, in->layout) != 0)
		return shms__fail(seg->svc, SHMS_ELAYOUT, "%s/%s: layout %s "
		    "(expected %s)", path, seg->file, in->layout, layout);
	if (layout != NULL && layout_version != in->layout_version)
		return shms__fail(seg->svc, SHMS_EVERSION, "%s/%s: layout %s "
		    "version %" PRIu32 " (expected %" PRIu32 ")", path,
		    seg->file, in->layout, in->layout_version, layout_version);
	return 0;
}

static int
map_seg(struct shms_seg *seg)
{
	uint64_t sum;
	int rc;

	/*
	 * Only a full check maps now, pre-faulted since it reads every page.
	 * Otherwise the mapping waits for shms_seg_data(): a reader that only
	 * uses shms_seg_read() never pays for page tables, and punching
	 * holes has no mapped pages to zap.
	 */
	if (seg->verify == SHMS_VERIFY_FULL) {
		if ((rc = shms__segr_map(seg, 1)) < 0)
			return rc;
		sum = XXH3_64bits(seg->map + seg->info.payload_off,
		    (size_t)seg->info.payload_len);
		if (sum != seg->info.payload_xxh3)
			return shms__fail(seg->svc, SHMS_ESUM, "%s/%s: payload "
			    "checksum 0x%016" PRIx64 " (expected 0x%016" PRIx64
			    ")", shms_svc_path(seg->svc), seg->file, sum,
			    seg->info.payload_xxh3);
	} else if (seg->verify == SHMS_VERIFY_STREAM) {
		if ((seg->xs = XXH3_createState()) == NULL)
			return shms__fail(seg->svc, -ENOMEM, "%s/%s: out of "
			    "memory", shms_svc_path(seg->svc), seg->file);
		XXH3_64bits_reset(seg->xs);
	}
	return 0;
}

int
shms_adopt_seg_open(struct shms_adopt *ad, const char *name,
    const char *layout, uint32_t layout_version, enum shms_verify verify,
    struct shms_seg **out)
{
	char detail[SHMS_DETAIL_MAX];
	struct shms_seg *seg;
	uint64_t size;
	long idx;
	int rc = 0;

	if (ad == NULL || out == NULL || (verify != SHMS_VERIFY_HEADER &&
	    verify != SHMS_VERIFY_FULL && verify != SHMS_VERIFY_STREAM))
		return -EINVAL;
	if (shms__name_valid(name) != 0 ||
	    (layout != NULL && shms__name_valid(layout) != 0))
		return shms__fail(ad->svc, SHMS_ENAME, "invalid %s name",
		    shms__name_valid(name) ? "segment" : "layout");
	if ((idx = shms__manifest_find(&ad->man, name)) < 0)
		return shms__fail(ad->svc, SHMS_ENOTFOUND, "%s: no segment %s "
		    "in generation %" PRIu64, shms_svc_path(ad->svc), name,
		    ad->man.generation);
	if ((seg = calloc(1, sizeof(*seg))) == NULL)
		return shms__fail(ad->svc, -ENOMEM, "%s: segment %s: out of "
		    "memory", shms_svc_path(ad->svc), name);
	seg->mode = SHMS__SEG_READ;
	seg->svc = ad->svc;
	seg->ad = ad;
	seg->idx = (size_t)idx;
	seg->verify = verify;
	seg->fd = -1;
	shms__ckpt_file(seg->file, ad->man.generation, name);
	pthread_mutex_lock(&ad->mu);
	if (ad->open[idx] != NULL)
		rc = shms__fail(ad->svc, -EBUSY, "%s/%s: already open",
		    shms_svc_path(ad->svc), seg->file);
	else
		ad->open[idx] = seg;
	pthread_mutex_unlock(&ad->mu);
	if (rc < 0) {
		free(seg);
		return rc;
	}
	/* O_RDWR: releasing pages punches holes and marks the header. */
	seg->fd = shms__open_checked(shms__svc_dirfd(ad->svc), seg->file,
	    O_RDWR, &size, detail);
	if (seg->fd < 0) {
		rc = seg->fd;
		if (rc == -ENOENT)
			rc = shms__fail(ad->svc, SHMS_EMISSING, "%s/%s: listed in "
			    "the manifest but missing", shms_svc_path(ad->svc),
			    seg->file);
		else
			shms__fail(ad->svc, rc, "%s/%s", shms_svc_path(ad->svc),
			    detail);
		goto fail;
	}
	seg->page = shms__fd_page_size(seg->fd);
	if ((rc = check_seg(seg, &ad->man.entries[idx], layout,
	    layout_version, size)) < 0 || (rc = map_seg(seg)) < 0)
		goto fail;
	*out = seg;
	return 0;
fail:
	shms__segr_close(seg);
	return rc;
}

static void
close_all(struct shms_adopt *ad)
{
	uint32_t i;

	for (i = 0; i < ad->man.count; i++)
		if (ad->open[i] != NULL)
			shms__segr_close(ad->open[i]);
}

static void
adopt_free(struct shms_adopt *ad)
{
	shms__svc_detach(ad->svc);
	pthread_mutex_destroy(&ad->mu);
	free(ad->open);
	shms__manifest_free(&ad->man);
	free(ad);
}

int
shms_adopt_finish(struct shms_adopt *ad, unsigned flags)
{
	char file[SHMS__FILE_MAX], detail[SHMS_DETAIL_MAX];
	struct shms__manifest cur;
	int dirfd, rc = 0, r;
	uint32_t i;

	if (ad == NULL)
		return -EINVAL;
	close_all(ad);
	if (flags & ~SHMS_ADOPT_KEEP) {
		rc = shms__fail(ad->svc, -EINVAL, "shms_adopt_finish: flags 0x%x",
		    flags);
		goto out;
	}
	if (flags & SHMS_ADOPT_KEEP)
		goto out;
	dirfd = shms__svc_dirfd(ad->svc);
	/*
	 * The manifest goes first, so a crash halfway leaves no manifest
	 * pointing at missing files. Only remove it if it still names the
	 * adopted generation: a checkpoint may have been committed since.
	 * While it may still list the segments (it could not be read for a
	 * system error, or not be removed), they stay: removing them would
	 * leave a manifest naming missing files.
	 */
	if ((r = shms__manifest_read(dirfd, &cur, detail)) == 0) {
		if (cur.generation == ad->man.generation &&
		    (r = shms__unlink(dirfd, SHMS__MANIFEST_FILE)) < 0)
			rc = shms__fail(ad->svc, r, "%s/%s: unlink: %s",
			    shms_svc_path(ad->svc), SHMS__MANIFEST_FILE,
			    shms_strerror(r));
		shms__manifest_free(&cur);
		if (rc < 0)
			goto out;
	} else if (SHMS__IS_ERRNO(r)) {
		rc = shms__fail(ad->svc, r, "%s/%s", shms_svc_path(ad->svc),
		    detail);
		goto out;
	}
	for (i = 0; i < ad->man.count; i++) {
		shms__ckpt_file(file, ad->man.generation,
		    ad->man.entries[i].name);
		if ((r = shms__unlink(dirfd, file)) < 0 && rc == 0)
			rc = shms__fail(ad->svc, r, "%s/%s: unlink: %s",
			    shms_svc_path(ad->svc), file, shms_strerror(r));
	}
out:
	adopt_free(ad);
	return rc;
}

void
shms_adopt_abort(struct shms_adopt *ad)
{
	if (ad == NULL)
		return;
	close_all(ad);
	adopt_free(ad);
}
