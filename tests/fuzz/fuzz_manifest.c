/*
 * fuzz_manifest: checkpoint manifest parsing (shms__manifest_parse), the
 * commit record an adopter believes before opening any segment.
 *
 * Input: one flag byte, then the manifest image. Flag bit 0 recomputes the
 * checksum over the mutated image (xxh3 field taken as zero), so the
 * fuzzer reaches the entry checks. Invariants: a manifest that parses has
 * valid, distinct names and one generation, and encodes to an image that
 * parses to the same entries.
 */
#include <endian.h>
#include <string.h>

#include <xxhash.h>

#include "internal.h"
#include "fuzz.h"

#define XXH_OFF	offsetof(struct shms__disk_manifest, xxh3)

static void
fix_sum(unsigned char *buf, size_t len)
{
	uint64_t sum;

	memset(buf + XXH_OFF, 0, 8);
	sum = htole64(XXH3_64bits(buf, len));
	memcpy(buf + XXH_OFF, &sum, 8);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct shms__manifest m, m2;
	char detail[SHMS_DETAIL_MAX];
	unsigned char *buf;
	void *enc;
	size_t len, i, j;
	int rc;

	if (size < 1)
		return 0;
	if ((buf = malloc(size - 1 ? size - 1 : 1)) == NULL)
		return 0;
	memcpy(buf, data + 1, size - 1);
	if ((data[0] & 1) && size - 1 >= sizeof(struct shms__disk_manifest))
		fix_sum(buf, size - 1);
	detail[0] = '\0';
	rc = shms__manifest_parse(buf, size - 1, &m, detail);
	free(buf);
	if (rc != 0) {
		FUZZ_ASSERT(rc < 0 && (rc == -ENOMEM || detail[0] != '\0'));
		return 0;
	}
	FUZZ_ASSERT(m.count <= SHMS_MAX_SEGMENTS);
	FUZZ_ASSERT(shms_name_valid(m.service) == 0);
	for (i = 0; i < m.count; i++) {
		FUZZ_ASSERT(shms_name_valid(m.entries[i].name) == 0);
		FUZZ_ASSERT(shms_name_valid(m.entries[i].layout) == 0);
		FUZZ_ASSERT(m.entries[i].generation == m.generation);
		FUZZ_ASSERT(m.entries[i].payload_len <= SHMS_SEG_MAX_SIZE);
		FUZZ_ASSERT(shms__manifest_find(&m, m.entries[i].name) ==
		    (long)i);
		/* Checkpoint files of listed names classify as committed. */
		{
			char file[SHMS__FILE_MAX];

			shms__ckpt_file(file, m.generation, m.entries[i].name);
			FUZZ_ASSERT(shms__classify(file, &m) ==
			    SHMS_ENT_COMMITTED);
		}
	}
	/* Round trip. */
	rc = shms__manifest_encode(&m, &enc, &len);
	FUZZ_ASSERT(rc == 0);
	rc = shms__manifest_parse(enc, len, &m2, detail);
	FUZZ_ASSERT(rc == 0);
	FUZZ_ASSERT(m2.count == m.count && m2.generation == m.generation);
	FUZZ_ASSERT(strcmp(m2.service, m.service) == 0);
	FUZZ_ASSERT(strcmp(m2.build_id, m.build_id) == 0);
	for (j = 0; j < m.count; j++) {
		const struct shms__mentry *x = &m.entries[j], *y =
		    &m2.entries[j];

		/* Bytes after a name's NUL are not part of it. */
		FUZZ_ASSERT(strcmp(x->name, y->name) == 0);
		FUZZ_ASSERT(strcmp(x->layout, y->layout) == 0);
		FUZZ_ASSERT(x->layout_version == y->layout_version &&
		    x->kind == y->kind && x->payload_len == y->payload_len &&
		    x->payload_xxh3 == y->payload_xxh3 &&
		    x->hdr_xxh3 == y->hdr_xxh3 &&
		    x->generation == y->generation);
	}
	free(enc);
	shms__manifest_free(&m2);
	shms__manifest_free(&m);
	return 0;
}
