/*
 * fuzz_arena: arena metadata validation on adopt (shms__arena_check, the
 * verifier shms_arena_adopt() and shms_arena_inspect() run on a mapped
 * arena file), then the allocator working on whatever passed it, as an
 * application does right after adopting.
 *
 * Input: one flag byte, then the arena payload (offset 0 = the allocator
 * metadata). Flag bit 0: full check (SHMS_ARENA_VERIFY, or a dirty arena)
 * instead of the free-list walk; bits 1-7 seed the allocator calls.
 * Invariants: the checker never reads outside the payload (ASan) and
 * never hangs; the allocator, on metadata that passed, never crashes, and
 * calls that report success leave metadata that passes the full check.
 */
#include <string.h>

#include "internal.h"
#include "arena_format.h"
#include "fuzz.h"

#define NOPS	24

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct shms__arena_check_res res;
	struct shms__arena_heap *h;
	char detail[SHMS_DETAIL_MAX];
	uint64_t offs[NOPS], seed, off;
	size_t len, alloc_len, n = 0, i, sz;
	int full, rc, corrupt = 0;
	char *base;

	if (size < 1 || size - 1 > (8u << 20))
		return 0;
	full = data[0] & 1;
	seed = data[0] >> 1;
	len = size - 1;
	/* Page aligned like a mapping, exactly len bytes for ASan. */
	alloc_len = len ? len : 1;
	if ((base = aligned_alloc(4096, (alloc_len + 4095) & ~(size_t)4095))
	    == NULL)
		return 0;
	memcpy(base, data + 1, len);
	detail[0] = '\0';
	rc = shms__arena_check(base, len, full, &res, detail);
	if (rc != 0) {
		FUZZ_ASSERT(rc == SHMS_ECORRUPT || rc == SHMS_ETRUNC ||
		    rc == SHMS_EFORMAT);
		FUZZ_ASSERT(detail[0] != '\0');
		free(base);
		return 0;
	}
	FUZZ_ASSERT(res.size <= len && res.meta_bytes < res.size);
	FUZZ_ASSERT(res.root == 0 || res.root < res.size);

	if ((h = calloc(1, sizeof(*h))) == NULL) {
		free(base);
		return 0;
	}
	shms__arena_heap_init(h, base);
	h->grow = NULL;
	for (i = 0; i < NOPS && !corrupt; i++) {
		switch (fuzz_rand(&seed) % 5) {
		case 0:
		case 1:
			sz = (size_t)(fuzz_rand(&seed) % 3 == 0 ?
			    fuzz_rand(&seed) % (64u << 10) :
			    1 + fuzz_rand(&seed) % 512);
			rc = shms__arena_alloc(h, sz, &off);
			if (rc == 0) {
				FUZZ_ASSERT(off != 0 && off % 16 == 0 &&
				    off < h->meta->size);
				memset(base + off, 0x5a, sz);
				offs[n++] = off;
			}
			break;
		case 2:
			if (n == 0)
				continue;
			rc = shms__arena_free(h, offs[--n]);
			break;
		case 3:
			if (n == 0)
				continue;
			sz = (size_t)(fuzz_rand(&seed) % 9000);
			rc = shms__arena_realloc(h, offs[n - 1], sz, &off);
			if (rc == 0) {
				if (sz == 0)
					n--;
				else
					offs[n - 1] = off;
			}
			break;
		default:
			/* The root came from the file: maybe not an allocation. */
			if (res.root == 0)
				continue;
			rc = shms__arena_usable(h, res.root, &sz);
			if (rc == 0)
				FUZZ_ASSERT(res.root + sz <= h->meta->size);
			break;
		}
		FUZZ_ASSERT(rc == 0 || rc == -EINVAL || rc == SHMS_ENOSPACE ||
		    rc == SHMS_ECORRUPT);
		if (rc == SHMS_ECORRUPT) {
			FUZZ_ASSERT(h->detail[0] != '\0');
			corrupt = 1;
		}
	}
	/* What the full check accepted, the allocator keeps consistent. */
	if (full && !corrupt) {
		rc = shms__arena_check(base, len, 1, NULL, detail);
		if (rc != 0)
			fprintf(stderr, "after allocator calls: %s\n", detail);
		FUZZ_ASSERT(rc == 0);
	}
	free(h);
	free(base);
	return 0;
}
