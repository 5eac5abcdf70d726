/*
 * segr.c: reading an adopted segment, and giving its memory back.
 *
 * shms_seg_read() copies with pread in cache-sized chunks and hashes each
 * chunk from the caller's buffer while it is still in cache. pread rather
 * than the mapping: no page-table work per page, so it and the later hole
 * punching are cheaper (measured ~1.7x), and a file cut short under us
 * reads short instead of raising SIGBUS. The caller's buffer is usually
 * new heap: its pages are faulted in with one madvise per chunk before
 * the copy, because a fault taken inside the kernel's copy costs more than
 * the same page supplied up front (adopt +15-20% measured, see
 * bench/RESULTS-ckpt.md).
 * Releasing punches holes in the tmpfs file, so memory is returned while
 * the adopter builds its heap copy; the header is marked CONSUMED before
 * the first hole so a second adoption of the same files is refused rather
 * than reading zeros.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "seg.h"

/*
 * Fault in the whole pages of [p, p + len) for writing. Advice only: a
 * kernel without MADV_POPULATE_WRITE (< 5.14) says EINVAL, and a bad
 * buffer is left for pread to report as EFAULT.
 */
static void
populate(unsigned char *p, size_t len)
{
	uintptr_t page = (uintptr_t)getpagesize();
	uintptr_t start = ((uintptr_t)p + page - 1) & ~(page - 1);
	uintptr_t end = ((uintptr_t)p + len) & ~(page - 1);

	if (end > start)
		(void)madvise((void *)start, end - start, MADV_POPULATE_WRITE);
}

static int
read_fail(struct shms_seg *seg, int rc, const char *what)
{
	return shms__fail(seg->svc, rc, "%s/%s: %s: %s",
	    shms_svc_path(seg->svc), seg->file, what, shms_strerror(rc));
}

int
shms_seg_read(struct shms_seg *seg, void *buf, size_t len, size_t *got)
{
	uint64_t left, sum;
	unsigned char *dst = buf;
	size_t n, done = 0;
	int rc;

	if (seg == NULL || got == NULL || seg->mode != SHMS__SEG_READ ||
	    (buf == NULL && len))
		return -EINVAL;
	if (seg->sum_err)
		return seg->sum_err;
	left = seg->info.payload_len - seg->cursor;
	if (len > left)
		len = (size_t)left;
	while (done < len) {
		n = len - done < SHMS__COPY_CHUNK ? len - done :
		    SHMS__COPY_CHUNK;
		if (n >= SHMS__POPULATE_MIN)
			populate(dst + done, n);
		rc = shms__pread_all(seg->fd, dst + done, n,
		    seg->info.payload_off + seg->cursor);
		if (rc < 0)
			return read_fail(seg, rc, "read");
		if (seg->xs != NULL)
			XXH3_64bits_update(seg->xs, dst + done, n);
		done += n;
		seg->cursor += n;
	}
	if (seg->xs != NULL && !seg->sum_done &&
	    seg->cursor == seg->info.payload_len) {
		seg->sum_done = 1;
		sum = XXH3_64bits_digest(seg->xs);
		if (sum != seg->info.payload_xxh3) {
			seg->sum_err = SHMS_ESUM;
			return shms__fail(seg->svc, SHMS_ESUM, "%s/%s: payload "
			    "checksum 0x%016" PRIx64 " (expected 0x%016" PRIx64
			    ")", shms_svc_path(seg->svc), seg->file, sum,
			    seg->info.payload_xxh3);
		}
	}
	*got = done;
	return 0;
}

/* Maps the whole file read-only, once. */
int
shms__segr_map(struct shms_seg *seg, int populate)
{
	void *p;
	int rc;

	if (seg->map != NULL)
		return 0;
	p = mmap(NULL, seg->info.file_size, PROT_READ,
	    MAP_SHARED | (populate ? MAP_POPULATE : 0), seg->fd, 0);
	if (p == MAP_FAILED) {
		rc = -errno;
		return shms__fail(seg->svc, rc, "%s/%s: mmap: %s",
		    shms_svc_path(seg->svc), seg->file, shms_strerror(rc));
	}
	seg->map = p;
	seg->map_len = seg->info.file_size;
	return 0;
}

int
shms_seg_data(struct shms_seg *seg, const void **data, uint64_t *len)
{
	int rc;

	if (seg == NULL || data == NULL || len == NULL ||
	    seg->mode != SHMS__SEG_READ)
		return -EINVAL;
	if ((rc = shms__segr_map(seg, 0)) < 0)
		return rc;
	*data = seg->map + seg->info.payload_off;
	*len = seg->info.payload_len;
	return 0;
}

/* Rewrites the header as CONSUMED: this generation is spent. */
static int
mark_consumed(struct shms_seg *seg)
{
	struct shms__disk_hdr h;
	struct shms_seg_info info = seg->info;
	int rc;

	info.state = SHMS_STATE_CONSUMED;
	shms__hdr_encode(&info, &h, 0);
	if ((rc = shms__pwrite_all(seg->fd, &h, sizeof(h), 0)) < 0)
		return read_fail(seg, rc, "marking consumed");
	seg->info = info;
	seg->consumed = 1;
	return 0;
}

static uint64_t
align_down(uint64_t v, uint64_t a)
{
	return v & ~(a - 1);
}

int
shms_seg_release(struct shms_seg *seg, uint64_t off, uint64_t len,
    unsigned flags)
{
	uint64_t plen, start, end;
	int rc;

	if (seg == NULL || seg->mode != SHMS__SEG_READ ||
	    (flags & ~SHMS_RELEASE_READ))
		return -EINVAL;
	plen = seg->info.payload_len;
	if (flags & SHMS_RELEASE_READ) {
		off = seg->released;
		len = seg->cursor - off;
	} else if (off > plen || len > plen - off)
		return shms__fail(seg->svc, -ERANGE, "%s/%s: release of [%"
		    PRIu64 ", +%" PRIu64 ") outside the %" PRIu64 "-byte "
		    "payload", shms_svc_path(seg->svc), seg->file, off, len,
		    plen);
	if (len == 0)
		return 0;
	if (!seg->consumed && (rc = mark_consumed(seg)) < 0)
		return rc;
	/*
	 * Only whole pages inside the range; the last one may extend past
	 * the payload's end since nothing lives there.
	 */
	start = align_down(seg->info.payload_off + off + seg->page - 1,
	    seg->page);
	end = seg->info.payload_off + off + len;
	end = off + len == plen ? align_down(end + seg->page - 1, seg->page) :
	    align_down(end, seg->page);
	if (end > start && fallocate(seg->fd, FALLOC_FL_PUNCH_HOLE |
	    FALLOC_FL_KEEP_SIZE, (off_t)start, (off_t)(end - start)) < 0)
		return read_fail(seg, -errno, "punching pages");
	/* Resume from the first byte not yet inside a punched page. */
	if ((flags & SHMS_RELEASE_READ) && end > start)
		seg->released = end - seg->info.payload_off > seg->cursor ?
		    seg->cursor : end - seg->info.payload_off;
	return 0;
}

void
shms__segr_close(struct shms_seg *seg)
{
	struct shms_adopt *ad = seg->ad;

	if (seg->map != NULL)
		munmap(seg->map, seg->map_len);
	if (seg->fd >= 0)
		close(seg->fd);
	XXH3_freeState(seg->xs);
	pthread_mutex_lock(&ad->mu);
	if (ad->open[seg->idx] == seg)
		ad->open[seg->idx] = NULL;
	pthread_mutex_unlock(&ad->mu);
	free(seg);
}
