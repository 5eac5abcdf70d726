/*
 * fuzz_hdr: segment header validation (shms__hdr_decode and
 * shms__hdr_check_size), the first thing every reader of a segment runs
 * on bytes another process wrote.
 *
 * Input: one flag byte, then the header bytes. Flag bit 0 recomputes the
 * header checksum over the mutated bytes, so the fuzzer gets past it to
 * the range checks; bits 1-7 pick a file size to check against.
 * Invariants: a header that decodes re-encodes to a header that decodes
 * to the same info, and its bounds hold.
 */
#include <endian.h>
#include <string.h>

#include "internal.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct shms__disk_hdr h, h2;
	struct shms_seg_info info, again;
	char detail[SHMS_DETAIL_MAX];
	unsigned char *buf;
	uint64_t fsize;
	uint8_t flag;
	int rc;

	if (size < 1)
		return 0;
	flag = data[0];
	data++;
	size--;
	/* An exact-size copy, so ASan sees any read past the input. */
	if ((buf = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(buf, data, size);
	if ((flag & 1) && size >= sizeof(h)) {
		uint64_t sum;

		memcpy(&h, buf, sizeof(h));
		sum = htole64(shms__hdr_sum(&h));
		memcpy(buf + offsetof(struct shms__disk_hdr, hdr_xxh3), &sum,
		    sizeof(sum));
	}
	detail[0] = '\0';
	rc = shms__hdr_decode(buf, size, &info, detail);
	if (rc != 0) {
		FUZZ_ASSERT(rc < 0 && detail[0] != '\0');
		FUZZ_ASSERT(memchr(detail, '\0', sizeof(detail)) != NULL);
		free(buf);
		return 0;
	}
	FUZZ_ASSERT(info.payload_len <= SHMS_SEG_MAX_SIZE);
	FUZZ_ASSERT(info.kind == SHMS_KIND_CKPT || info.kind == SHMS_KIND_ARENA);
	FUZZ_ASSERT(memchr(info.name, '\0', sizeof(info.name)) != NULL);
	FUZZ_ASSERT(shms_name_valid(info.name) == 0);
	FUZZ_ASSERT(shms_name_valid(info.layout) == 0);

	fsize = (flag >> 1) == 0 ? info.payload_off + info.payload_len :
	    (uint64_t)(flag >> 1) * 4096u;
	rc = shms__hdr_check_size(&info, fsize, detail);
	FUZZ_ASSERT(rc == 0 || rc == SHMS_ETRUNC);
	FUZZ_ASSERT(rc != 0 || info.payload_off + info.payload_len <= fsize);

	/* Round trip: what decoded must encode and decode to the same. */
	shms__hdr_encode(&info, &h2, 0);
	rc = shms__hdr_decode(&h2, sizeof(h2), &again, detail);
	FUZZ_ASSERT(rc == 0);
	/* Bytes after a name's NUL are not part of it: compare as strings. */
	FUZZ_ASSERT(strcmp(info.name, again.name) == 0);
	FUZZ_ASSERT(strcmp(info.layout, again.layout) == 0);
	FUZZ_ASSERT(strcmp(info.build_id, again.build_id) == 0);
	memcpy(again.name, info.name, sizeof(info.name));
	memcpy(again.layout, info.layout, sizeof(info.layout));
	memcpy(again.build_id, info.build_id, sizeof(info.build_id));
	FUZZ_ASSERT(memcmp(&info, &again, sizeof(info)) == 0);
	free(buf);
	return 0;
}
