/*
 * segw.c: writing a checkpoint segment.
 *
 * shms_seg_write() copies with pwrite(2) in cache-sized chunks and feeds
 * the payload checksum each chunk right after the copy, while it is still
 * in cache: one pass over the data. pwrite rather than stores into a
 * shared mapping because tmpfs then allocates each page inside the copy,
 * with no page-table work per page (measured ~1.7x faster), and a full
 * tmpfs is an -ENOSPC from the call, never a SIGBUS.
 *
 * shms_seg_reserve() hands out a pointer into a mapped window of the file
 * for in-place serialization. The window's range is fallocate()d first,
 * for the same reason: no SIGBUS when memory runs out. Windows grow
 * geometrically with the payload but are capped, and so is the file's
 * overshoot, which seal truncates away.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "seg.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE	23
#endif

#define MIB		(UINT64_C(1) << 20)
#define WIN_MIN		(1 * MIB)
#define WIN_MAX		(64 * MIB)
#define PAGE		UINT64_C(4096)

static uint64_t
round_up(uint64_t v, uint64_t align)
{
	return (v + align - 1) & ~(align - 1);
}

static int
seg_fail(struct shms_seg *seg, int rc, const char *what)
{
	return shms__fail(seg->svc, rc, "%s/%s: %s: %s", shms_svc_path(seg->svc),
	    seg->file, what, shms_strerror(rc));
}

/*
 * Writes the header. A new segment gets everything but the magic first,
 * so a reader never sees the magic on a half-written header.
 */
static int
put_hdr(struct shms_seg *seg, int magic_last)
{
	struct shms__disk_hdr h;
	const size_t m = sizeof(h.magic);
	int rc;

	shms__hdr_encode(&seg->info, &h, 0);
	if (magic_last)
		rc = shms__pwrite_all(seg->fd, (char *)&h + m, sizeof(h) - m,
		    m);
	else
		rc = shms__pwrite_all(seg->fd, &h, sizeof(h), 0);
	if (rc == 0 && magic_last)
		rc = shms__pwrite_all(seg->fd, h.magic, m, 0);
	return rc < 0 ? seg_fail(seg, rc, "writing header") : 0;
}

static int
check_writable(struct shms_seg *seg, uint64_t n)
{
	if (seg->sealed)
		return shms__fail(seg->svc, SHMS_ESTATE, "%s/%s: already sealed",
		    shms_svc_path(seg->svc), seg->file);
	if (seg->err)
		return seg->err;
	if (n > SHMS_SEG_MAX_SIZE - seg->info.payload_len)
		return shms__fail(seg->svc, SHMS_ELIMIT, "%s/%s: payload over "
		    "%" PRIu64 " bytes", shms_svc_path(seg->svc), seg->file,
		    SHMS_SEG_MAX_SIZE);
	return 0;
}

/* Allocates the file up to end (ENOSPC here, not SIGBUS later). */
static int
allocate_to(struct shms_seg *seg, uint64_t end)
{
	int rc;

	if (end <= seg->file_len)
		return 0;
	if ((rc = shms__reserve(seg->fd, seg->file_len,
	    end - seg->file_len)) < 0)
		return seg_fail(seg, rc, "fallocate");
	seg->file_len = end;
	return 0;
}

int
shms__segw_open(struct shms_seg *seg, uint64_t size_hint)
{
	int rc;

	seg->fd = shms__create_excl(shms__svc_dirfd(seg->svc), seg->file,
	    NULL);
	if (seg->fd < 0) {
		rc = seg->fd;
		if (rc == -EEXIST)
			return shms__fail(seg->svc, rc, "%s/%s: already exists",
			    shms_svc_path(seg->svc), seg->file);
		return seg_fail(seg, rc, "create");
	}
	seg->page = shms__fd_page_size(seg->fd);
	if (seg->page != PAGE) {
		/* hugetlbfs has no write(2); checkpoints need tmpfs. */
		rc = shms__fail(seg->svc, -EOPNOTSUPP, "%s/%s: page size %"
		    PRIu32 ": checkpoints need a tmpfs state directory",
		    shms_svc_path(seg->svc), seg->file, seg->page);
		goto fail;
	}
	seg->info.payload_off = SHMS__HDR_PAGE;
	seg->info.page_size = seg->page;
	if ((seg->xs = XXH3_createState()) == NULL) {
		rc = seg_fail(seg, -ENOMEM, "checksum state");
		goto fail;
	}
	XXH3_64bits_reset(seg->xs);
	if (ftruncate(seg->fd, SHMS__HDR_PAGE) < 0) {
		rc = seg_fail(seg, -errno, "ftruncate");
		goto fail;
	}
	seg->file_len = SHMS__HDR_PAGE;
	if ((rc = allocate_to(seg, SHMS__HDR_PAGE +
	    round_up(size_hint, PAGE))) < 0 || (rc = put_hdr(seg, 1)) < 0)
		goto fail;
	return 0;
fail:
	shms__segw_discard(seg);
	return rc;
}

int
shms_seg_write(struct shms_seg *seg, const void *buf, size_t len)
{
	const unsigned char *src = buf;
	uint64_t off;
	size_t n;
	int rc;

	if (seg == NULL || seg->mode != SHMS__SEG_WRITE || (buf == NULL && len))
		return -EINVAL;
	if ((rc = check_writable(seg, len)) < 0)
		return rc;
	seg->reserved = 0;
	while (len > 0) {
		n = len < SHMS__COPY_CHUNK ? len : SHMS__COPY_CHUNK;
		off = seg->info.payload_off + seg->info.payload_len;
		if ((rc = shms__pwrite_all(seg->fd, src, n, off)) < 0) {
			/* The file may hold part of the chunk: poisoned. */
			seg->err = rc;
			return seg_fail(seg, rc, "write");
		}
		XXH3_64bits_update(seg->xs, src, n);
		src += n;
		len -= n;
		seg->info.payload_len += n;
		if (off + n > seg->file_len)
			seg->file_len = off + n;
	}
	return 0;
}

int
shms_seg_reserve(struct shms_seg *seg, size_t len, void **ptr)
{
	uint64_t at, end, start, size;
	void *p;
	int rc;

	if (seg == NULL || ptr == NULL || seg->mode != SHMS__SEG_WRITE)
		return -EINVAL;
	if ((rc = check_writable(seg, len)) < 0)
		return rc;
	seg->reserved = 0;
	at = seg->info.payload_off + seg->info.payload_len;
	end = at + len;
	if (seg->map == NULL || at < seg->win_off ||
	    end > seg->win_off + seg->map_len) {
		start = at & ~(PAGE - 1);
		size = seg->info.payload_len / 4;
		size = size < WIN_MIN ? WIN_MIN : size > WIN_MAX ? WIN_MAX :
		    size;
		if (size < end - start)
			size = end - start;
		size = round_up(size, PAGE);
		/* Sticky, like a failed write: the application must abort. */
		if ((rc = allocate_to(seg, start + size)) < 0)
			return seg->err = rc;
		p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED,
		    seg->fd, (off_t)start);
		if (p == MAP_FAILED)
			return seg->err = seg_fail(seg, -errno, "mmap");
		if (seg->map != NULL)
			munmap(seg->map, seg->map_len);
		/* One call instead of a fault per page; best effort. */
		(void)madvise(p, size, MADV_POPULATE_WRITE);
		seg->map = p;
		seg->map_len = size;
		seg->win_off = start;
	}
	seg->reserved = len;
	*ptr = seg->map + (at - seg->win_off);
	return 0;
}

int
shms_seg_commit(struct shms_seg *seg, size_t len)
{
	unsigned char *p;
	int rc;

	if (seg == NULL || seg->mode != SHMS__SEG_WRITE)
		return -EINVAL;
	if ((rc = check_writable(seg, 0)) < 0)
		return rc;
	if (len > seg->reserved)
		return shms__fail(seg->svc, -EINVAL, "%s/%s: commit of %zu "
		    "bytes after a reserve of %zu", shms_svc_path(seg->svc),
		    seg->file, len, seg->reserved);
	p = seg->map + (seg->info.payload_off + seg->info.payload_len -
	    seg->win_off);
	XXH3_64bits_update(seg->xs, p, len);
	seg->info.payload_len += len;
	seg->reserved = 0;
	return 0;
}

/* Unmaps and closes, leaving the file for the caller to remove. */
static void
release_resources(struct shms_seg *seg)
{
	if (seg->map != NULL)
		munmap(seg->map, seg->map_len);
	seg->map = NULL;
	if (seg->fd >= 0)
		close(seg->fd);
	seg->fd = -1;
	XXH3_freeState(seg->xs);
	seg->xs = NULL;
}

int
shms__segw_seal(struct shms_seg *seg)
{
	uint64_t size;
	int rc;

	if (seg->sealed || seg->err)
		return seg->err;
	if (seg->map != NULL)
		munmap(seg->map, seg->map_len);
	seg->map = NULL;
	seg->info.payload_xxh3 = XXH3_64bits_digest(seg->xs);
	seg->info.flags |= SHMS__F_SUMMED;
	seg->info.state = SHMS_STATE_CLEAN;
	seg->info.seal_ns = shms__now_ns();
	size = seg->info.payload_off + seg->info.payload_len;
	/* Cut reserve windows and size hints back to the payload. */
	if (ftruncate(seg->fd, (off_t)size) < 0)
		rc = seg_fail(seg, -errno, "ftruncate");
	else if ((rc = put_hdr(seg, 0)) < 0)
		;
	else if (fsync(seg->fd) < 0 && errno != EINVAL)
		rc = seg_fail(seg, -errno, "fsync");
	seg->info.file_size = size;
	release_resources(seg);
	seg->sealed = 1;
	seg->err = rc;
	return rc;
}

void
shms__segw_discard(struct shms_seg *seg)
{
	release_resources(seg);
	shms__unlink(shms__svc_dirfd(seg->svc), seg->file);
}
