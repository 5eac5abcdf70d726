/*
 * seg.h: the checkpoint, adoption and segment handles, shared by ckpt.c,
 * segw.c (writing), adopt.c and segr.c (reading) and seg.c. Private to
 * those files.
 */
#ifndef SHMS_SEG_H
#define SHMS_SEG_H

#include <pthread.h>
#include <stdint.h>

#include "xxh.h"

#include "internal.h"

/* Bytes copied (or read) and hashed per step, so the hash reads cache. */
#define SHMS__COPY_CHUNK	(128u * 1024)
/* Reads at least this long prefault the caller's buffer (segr.c). */
#define SHMS__POPULATE_MIN	(64u * 1024)

struct shms_ckpt {
	struct shms_svc		*svc;
	uint64_t		 generation;
	pthread_mutex_t		 mu;	/* segs, nsegs */
	struct shms_seg		**segs;
	size_t			 nsegs;
	size_t			 cap;
};

struct shms_adopt {
	struct shms_svc		*svc;
	struct shms__manifest	 man;
	pthread_mutex_t		 mu;	/* open */
	struct shms_seg		**open;	/* man.count slots, by entry */
};

enum { SHMS__SEG_WRITE = 1, SHMS__SEG_READ = 2 };

struct shms_seg {
	int			 mode;
	struct shms_svc		*svc;
	char			 file[SHMS__FILE_MAX];
	int			 fd;
	unsigned char		*map;
	uint64_t		 map_len;
	uint32_t		 page;		/* backing page size */
	struct shms_seg_info	 info;
	XXH3_state_t		*xs;

	/*
	 * Writing (SHMS__SEG_WRITE); info.payload_len is the length so far.
	 * map/map_len is the reserve() window, at file offset win_off.
	 */
	struct shms_ckpt	*ck;
	uint64_t		 win_off;
	uint64_t		 file_len;	/* allocated file size */
	size_t			 reserved;	/* outstanding reserve() */
	int			 err;		/* sticky write failure */
	int			 sealed;

	/* Reading (SHMS__SEG_READ). */
	struct shms_adopt	*ad;
	size_t			 idx;		/* manifest entry */
	enum shms_verify	 verify;
	uint64_t		 cursor;	/* shms_seg_read() position */
	uint64_t		 released;	/* RELEASE_READ done up to */
	int			 consumed;	/* header says CONSUMED */
	int			 sum_err;	/* stream check result */
	int			 sum_done;
};

/* segw.c */
int	 shms__segw_open(struct shms_seg *seg, uint64_t size_hint);
int	 shms__segw_seal(struct shms_seg *seg);
void	 shms__segw_discard(struct shms_seg *seg);

/* segr.c */
int	 shms__segr_map(struct shms_seg *seg, int populate);
void	 shms__segr_close(struct shms_seg *seg);

#endif /* SHMS_SEG_H */
