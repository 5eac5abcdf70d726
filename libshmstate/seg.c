/*
 * seg.c: calls that take either kind of segment handle.
 */
#include <errno.h>
#include <string.h>

#include "seg.h"

int
shms_seg_info(const struct shms_seg *seg, struct shms_seg_info *info)
{
	if (seg == NULL || info == NULL)
		return -EINVAL;
	memcpy(info, &seg->info, sizeof(*info));
	if (seg->mode == SHMS__SEG_WRITE && !seg->sealed)
		info->file_size = seg->file_len;
	return 0;
}

int
shms_seg_close(struct shms_seg *seg)
{
	if (seg == NULL)
		return 0;
	if (seg->mode == SHMS__SEG_READ) {
		shms__segr_close(seg);
		return 0;
	}
	/* The checkpoint keeps the sealed segment for its manifest. */
	return shms__segw_seal(seg);
}
