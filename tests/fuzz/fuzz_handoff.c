/*
 * fuzz_handoff: the connection handoff blob parser (shms_handoff_parse),
 * which a new process runs on a memfd taken from the fd store. The first
 * input byte is a flag: bit 0 recomputes the checksum and bit 1 the
 * length field, so the fuzzer gets past them to the record bounds.
 * Invariants: a parsed record lies inside the blob, within the per-record
 * bounds; errors are only the documented ones.
 */
#include <string.h>

#include <xxhash.h>

#include "shmstate.h"
#include "fuzz.h"

#define MAXREC	64

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct shms_handoff_rec recs[MAXREC];
	const unsigned char *lo, *hi;
	unsigned char *buf, flag;
	unsigned sum = 0;
	size_t len, k;
	uint64_t v;
	int rc, i;

	if (size < 1)
		return 0;
	flag = data[0];
	len = size - 1;
	/* An exact-size copy: the parser must not read past len. */
	if ((buf = malloc(len ? len : 1)) == NULL)
		return 0;
	memcpy(buf, data + 1, len);
	if ((flag & 2) && len >= 32) {
		v = len;
		memcpy(buf + 24, &v, 8);
	}
	if ((flag & 1) && len >= 32) {
		v = XXH3_64bits(buf + 16, len - 16);
		memcpy(buf + 8, &v, 8);
	}
	rc = shms_handoff_parse(buf, len, recs, MAXREC);
	if (rc < 0) {
		FUZZ_ASSERT(rc == SHMS_EPROTO || rc == SHMS_ELIMIT ||
		    rc == SHMS_EVERSION || rc == SHMS_ESUM);
		free(buf);
		return 0;
	}
	FUZZ_ASSERT(rc <= MAXREC && len >= 32);
	lo = buf + 32;
	hi = buf + len;
	for (i = 0; i < rc; i++) {
		const struct shms_handoff_rec *r = &recs[i];

		FUZZ_ASSERT(r->applen <= SHMS_HANDOFF_APP_MAX);
		FUZZ_ASSERT((size_t)r->inlen + r->outlen <=
		    SHMS_HANDOFF_DATA_MAX);
		FUZZ_ASSERT((const unsigned char *)r->in >= lo &&
		    (const unsigned char *)r->in + r->inlen <= hi);
		FUZZ_ASSERT((const unsigned char *)r->out >= lo &&
		    (const unsigned char *)r->out + r->outlen <= hi);
		FUZZ_ASSERT((const unsigned char *)r->app >= lo &&
		    (const unsigned char *)r->app + r->applen <= hi);
		/* Touch every byte: ASan checks what the asserts claim. */
		for (k = 0; k < r->inlen; k++)
			sum += ((const unsigned char *)r->in)[k];
		for (k = 0; k < r->outlen; k++)
			sum += ((const unsigned char *)r->out)[k];
		for (k = 0; k < r->applen; k++)
			sum += ((const unsigned char *)r->app)[k];
	}
	(void)sum;
	free(buf);
	return 0;
}
