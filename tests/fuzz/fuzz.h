/*
 * fuzz.h: shared by the fuzz targets (tests/fuzz/fuzz_*.c). Each target
 * defines LLVMFuzzerTestOneInput(); it is linked either with libFuzzer
 * (make fuzz) or with replay.c, a plain main() that feeds it files, so the
 * corpus and the regression inputs replay under any compiler (make check).
 */
#ifndef SHMS_FUZZ_H
#define SHMS_FUZZ_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An invariant the code under test broke: abort so the fuzzer reports it. */
#define FUZZ_ASSERT(c) do {						\
	if (!(c)) {							\
		fprintf(stderr, "%s:%d: invariant failed: %s\n",	\
		    __FILE__, __LINE__, #c);				\
		abort();						\
	}								\
} while (0)

/* Deterministic split points etc. from a seed in the input (xorshift64). */
static inline uint64_t
fuzz_rand(uint64_t *s)
{
	uint64_t x = *s ? *s : 0x9e3779b97f4a7c15u;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

#endif /* SHMS_FUZZ_H */
