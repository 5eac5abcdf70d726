/*
 * hdr.c: the segment header page: encode, decode and validate.
 *
 * Another process wrote whatever we decode, so the header is copied out of
 * the caller's buffer once and every field is checked on the copy: magic,
 * format, size, checksum before any other field is believed, then each
 * field's range. Changes to the checks must follow format.h.
 */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "xxh.h"

#include "internal.h"

#define HUGE_OFF	(UINT64_C(2) << 20)

uint64_t
shms__hdr_sum(const struct shms__disk_hdr *h)
{
	struct shms__disk_hdr tmp;

	memcpy(&tmp, h, sizeof(tmp));
	tmp.hdr_xxh3 = 0;
	return XXH3_64bits(&tmp, sizeof(tmp));
}

void
shms__hdr_encode(struct shms_seg_info *info, struct shms__disk_hdr *out,
    int omit_magic)
{
	struct shms__disk_hdr h;
	uint64_t sum;

	memset(&h, 0, sizeof(h));
	memcpy(h.magic, SHMS__MAGIC, sizeof(h.magic));
	h.format = htole32(SHMS__FORMAT);
	h.hdr_size = htole32(SHMS__HDR_USED);
	h.kind = htole32((uint32_t)info->kind);
	h.state = htole32((uint32_t)info->state);
	h.flags = htole32(info->flags);
	h.layout_version = htole32(info->layout_version);
	h.generation = htole64(info->generation);
	h.payload_off = htole64(info->payload_off);
	h.payload_len = htole64(info->payload_len);
	h.payload_xxh3 = htole64(info->payload_xxh3);
	h.owner_pid = (int64_t)htole64((uint64_t)info->owner_pid);
	h.ctime_ns = htole64(info->ctime_ns);
	h.seal_ns = htole64(info->seal_ns);
	h.page_size = htole32(info->page_size);
	shms__name_put(h.name, info->name);
	shms__name_put(h.layout, info->layout);
	shms__name_put(h.build_id, info->build_id);
	/* The checksum always covers the magic, published or not. */
	sum = shms__hdr_sum(&h);
	h.hdr_xxh3 = htole64(sum);
	info->hdr_xxh3 = sum;
	info->format = SHMS__FORMAT;
	if (omit_magic)
		memset(h.magic, 0, sizeof(h.magic));
	memcpy(out, &h, sizeof(h));
}

void
shms__hdr_store(void *page, const struct shms__disk_hdr *h)
{
	unsigned char *p = page;

	memcpy(p + sizeof(h->magic), (const unsigned char *)h +
	    sizeof(h->magic), sizeof(*h) - sizeof(h->magic));
	__atomic_thread_fence(__ATOMIC_RELEASE);
	memcpy(p, h->magic, sizeof(h->magic));
}

static int
is_zero(const void *p, size_t n)
{
	const unsigned char *c = p;
	size_t i;

	for (i = 0; i < n; i++)
		if (c[i] != 0)
			return 0;
	return 1;
}

int
shms__hdr_decode(const void *buf, size_t len, struct shms_seg_info *out,
    char *detail)
{
	struct shms__disk_hdr h;
	struct shms_seg_info info;
	uint64_t sum, want_off;
	uint32_t v;

	if (buf == NULL || len < sizeof(h))
		return shms__detail(detail, SHMS_ETRUNC,
		    "header truncated (expected %u bytes, found %zu)",
		    SHMS__HDR_USED, buf == NULL ? (size_t)0 : len);
	memcpy(&h, buf, sizeof(h));

	if (memcmp(h.magic, SHMS__MAGIC, sizeof(h.magic)) != 0)
		return shms__detail(detail, SHMS_EMAGIC, "bad magic "
		    "(expected \"%s\")", SHMS__MAGIC);
	if ((v = le32toh(h.format)) != SHMS__FORMAT)
		return shms__detail(detail, SHMS_EFORMAT, "on-shm format %"
		    PRIu32 " (expected %u)", v, SHMS__FORMAT);
	if ((v = le32toh(h.hdr_size)) != SHMS__HDR_USED)
		return shms__detail(detail, SHMS_EFORMAT, "header size %"
		    PRIu32 " (expected %u)", v, SHMS__HDR_USED);
	sum = shms__hdr_sum(&h);
	if (sum != le64toh(h.hdr_xxh3))
		return shms__detail(detail, SHMS_EHDRSUM, "header checksum "
		    "0x%016" PRIx64 " (expected 0x%016" PRIx64 ")", sum,
		    (uint64_t)le64toh(h.hdr_xxh3));

	/* From here on the bytes are what the writer meant; check ranges. */
	memset(&info, 0, sizeof(info));
	info.format = SHMS__FORMAT;
	info.hdr_xxh3 = sum;
	info.kind = (int)le32toh(h.kind);
	info.state = (int)le32toh(h.state);
	info.flags = le32toh(h.flags);
	info.layout_version = le32toh(h.layout_version);
	info.generation = le64toh(h.generation);
	info.payload_off = le64toh(h.payload_off);
	info.payload_len = le64toh(h.payload_len);
	info.payload_xxh3 = le64toh(h.payload_xxh3);
	info.owner_pid = (int64_t)le64toh((uint64_t)h.owner_pid);
	info.ctime_ns = le64toh(h.ctime_ns);
	info.seal_ns = le64toh(h.seal_ns);
	info.page_size = le32toh(h.page_size);

	if (info.kind != SHMS_KIND_CKPT && info.kind != SHMS_KIND_ARENA)
		return shms__detail(detail, SHMS_ECORRUPT, "unknown kind %u",
		    (unsigned)info.kind);
	if (info.state < SHMS_STATE_CREATING ||
	    info.state > SHMS_STATE_CONSUMED)
		return shms__detail(detail, SHMS_ECORRUPT, "unknown state %u",
		    (unsigned)info.state);
	if ((info.flags & ~SHMS__F_KNOWN) != 0)
		return shms__detail(detail, SHMS_ECORRUPT, "unknown flags "
		    "0x%" PRIx32, info.flags & ~SHMS__F_KNOWN);
	if (shms__name_field(h.name, info.name) != 0)
		return shms__detail(detail, SHMS_ECORRUPT,
		    "invalid segment name");
	if (shms__name_field(h.layout, info.layout) != 0)
		return shms__detail(detail, SHMS_ECORRUPT,
		    "invalid layout name");
	if (memchr(h.build_id, '\0', sizeof(h.build_id)) == NULL ||
	    shms__build_id_valid(h.build_id) != 0)
		return shms__detail(detail, SHMS_ECORRUPT, "invalid build id");
	memcpy(info.build_id, h.build_id, sizeof(info.build_id));
	want_off = (info.flags & SHMS__F_HUGE) ? HUGE_OFF : SHMS__HDR_PAGE;
	if (info.payload_off != want_off)
		return shms__detail(detail, SHMS_ECORRUPT, "payload offset %"
		    PRIu64 " (expected %" PRIu64 ")", info.payload_off,
		    want_off);
	if (info.payload_len > SHMS_SEG_MAX_SIZE)
		return shms__detail(detail, SHMS_ECORRUPT, "payload length %"
		    PRIu64 " over the limit %" PRIu64, info.payload_len,
		    SHMS_SEG_MAX_SIZE);
	if (info.page_size < 4096 || (info.page_size & (info.page_size - 1)))
		return shms__detail(detail, SHMS_ECORRUPT, "page size %" PRIu32,
		    info.page_size);
	if (info.owner_pid < 0)
		return shms__detail(detail, SHMS_ECORRUPT, "owner pid %" PRId64,
		    info.owner_pid);
	if (h.reserved0 != 0 || !is_zero(h.reserved, sizeof(h.reserved)))
		return shms__detail(detail, SHMS_ECORRUPT,
		    "reserved header bytes not zero");
	memcpy(out, &info, sizeof(info));
	return 0;
}

int
shms__hdr_check_size(const struct shms_seg_info *info, uint64_t file_size,
    char *detail)
{
	/* payload_off and payload_len are bounded by decode: no overflow. */
	if (info->payload_off > file_size ||
	    info->payload_len > file_size - info->payload_off)
		return shms__detail(detail, SHMS_ETRUNC, "file is %" PRIu64
		    " bytes (expected at least %" PRIu64 ")", file_size,
		    info->payload_off + info->payload_len);
	return 0;
}

int
shms__hdr_read(int fd, uint64_t file_size, struct shms_seg_info *out,
    char *detail)
{
	struct shms__disk_hdr h;
	struct shms_seg_info info;
	size_t n = sizeof(h);
	int rc;

	if (file_size < n)
		n = (size_t)file_size;
	if ((rc = shms__pread_all(fd, &h, n, 0)) < 0)
		return shms__detail(detail, rc, "reading header: %s",
		    shms_strerror(rc));
	if ((rc = shms__hdr_decode(&h, n, &info, detail)) < 0)
		return rc;
	if ((rc = shms__hdr_check_size(&info, file_size, detail)) < 0)
		return rc;
	info.file_size = file_size;
	memcpy(out, &info, sizeof(info));
	return 0;
}

uint64_t
shms__now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
