/*
 * On-shm formats: the segment header page and the checkpoint manifest.
 * Internal; never installed. All fields are little-endian, naturally
 * aligned, and pinned by the _Static_asserts below.
 *
 * Changes to any struct here must bump SHMS__FORMAT (segments) or
 * SHMS__MANIFEST_FORMAT (manifest).
 */
#ifndef SHMS_FORMAT_H
#define SHMS_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#define SHMS__MAGIC		"SHMSTATE"	/* 8 bytes, no NUL */
#define SHMS__FORMAT		1u
#define SHMS__HDR_PAGE		4096u	/* header page size on disk */
#define SHMS__HDR_USED		512u	/* bytes covered by hdr_xxh3 */

/* Header flags. Unknown bits are rejected on read. */
#define SHMS__F_SUMMED		0x1u	/* payload_xxh3 is valid */
#define SHMS__F_HUGE		0x2u	/* payload is 2 MiB aligned, huge pages */
#define SHMS__F_ARENA_SUM	0x4u	/* arena: full checksum taken at seal */
#define SHMS__F_KNOWN		(SHMS__F_SUMMED | SHMS__F_HUGE | SHMS__F_ARENA_SUM)

/*
 * The first SHMS__HDR_USED bytes of every segment file. hdr_xxh3 is
 * XXH3_64bits over these bytes with hdr_xxh3 itself zeroed. The rest of
 * the header page (up to payload_off) is zero.
 */
struct shms__disk_hdr {
	uint8_t		magic[8];	/* SHMS__MAGIC, written last */
	uint32_t	format;		/* SHMS__FORMAT */
	uint32_t	hdr_size;	/* SHMS__HDR_USED */
	uint64_t	hdr_xxh3;
	uint32_t	kind;		/* enum shms_seg_kind */
	uint32_t	state;		/* enum shms_seg_state */
	uint32_t	flags;		/* SHMS__F_* */
	uint32_t	layout_version;
	uint64_t	generation;
	uint64_t	payload_off;	/* SHMS__HDR_PAGE, or 2 MiB when huge */
	uint64_t	payload_len;
	uint64_t	payload_xxh3;
	int64_t		owner_pid;
	uint64_t	ctime_ns;
	uint64_t	seal_ns;
	uint32_t	page_size;
	uint32_t	reserved0;
	char		name[64];	/* NUL-padded */
	char		layout[64];	/* NUL-padded */
	char		build_id[64];	/* NUL-padded */
	uint8_t		reserved[SHMS__HDR_USED - 296];	/* zero */
};

_Static_assert(sizeof(struct shms__disk_hdr) == SHMS__HDR_USED, "hdr size");
_Static_assert(offsetof(struct shms__disk_hdr, format) == 8, "hdr format");
_Static_assert(offsetof(struct shms__disk_hdr, hdr_xxh3) == 16, "hdr xxh3");
_Static_assert(offsetof(struct shms__disk_hdr, kind) == 24, "hdr kind");
_Static_assert(offsetof(struct shms__disk_hdr, generation) == 40, "hdr gen");
_Static_assert(offsetof(struct shms__disk_hdr, payload_off) == 48, "hdr off");
_Static_assert(offsetof(struct shms__disk_hdr, owner_pid) == 72, "hdr pid");
_Static_assert(offsetof(struct shms__disk_hdr, page_size) == 96, "hdr page");
_Static_assert(offsetof(struct shms__disk_hdr, name) == 104, "hdr name");
_Static_assert(offsetof(struct shms__disk_hdr, layout) == 168, "hdr layout");
_Static_assert(offsetof(struct shms__disk_hdr, build_id) == 232, "hdr build");
_Static_assert(offsetof(struct shms__disk_hdr, reserved) == 296, "hdr rsvd");

/*
 * Checkpoint manifest: file "manifest" in the service directory, written
 * as "manifest.tmp" and renamed into place (the commit point). A fixed
 * header followed by count entries. xxh3 covers the whole file with the
 * xxh3 field zeroed.
 */
#define SHMS__MANIFEST_MAGIC	"SHMSMANI"
#define SHMS__MANIFEST_FORMAT	1u

struct shms__disk_manifest {
	uint8_t		magic[8];
	uint32_t	format;
	uint32_t	count;		/* <= SHMS_MAX_SEGMENTS */
	uint64_t	xxh3;
	uint64_t	generation;
	uint64_t	ctime_ns;
	uint32_t	entry_size;	/* sizeof(struct shms__disk_mentry) */
	uint32_t	reserved0;
	char		service[64];
	char		build_id[64];
	uint8_t		reserved[256 - 176];
};

struct shms__disk_mentry {
	char		name[64];
	char		layout[64];
	uint32_t	layout_version;
	uint32_t	kind;
	uint64_t	payload_len;
	uint64_t	payload_xxh3;
	uint64_t	hdr_xxh3;	/* of the sealed segment header */
	uint64_t	generation;
	uint8_t		reserved[256 - 168];
};

_Static_assert(sizeof(struct shms__disk_manifest) == 256, "manifest size");
_Static_assert(offsetof(struct shms__disk_manifest, xxh3) == 16, "man xxh3");
_Static_assert(offsetof(struct shms__disk_manifest, service) == 48, "man svc");
_Static_assert(sizeof(struct shms__disk_mentry) == 256, "mentry size");
_Static_assert(offsetof(struct shms__disk_mentry, payload_len) == 136,
    "mentry len");

#endif /* SHMS_FORMAT_H */
