/*
 * xxh.h: XXH3 as the library uses it.
 *
 * Distributions build libxxhash for the x86-64 baseline (SSE2). Its
 * dispatching entry points pick AVX2 or AVX-512 at run time instead: 3x
 * the speed on a cache-hot chunk (measured 24 vs 7 GiB/s), which is what
 * every checksum of a checkpoint or an adoption hashes. The digests are
 * the same. lib.mk defines SHMS_XXH_DISPATCH only where linking them
 * works (Debian's shared libxxhash has them, its static archive not).
 */
#ifndef SHMS_XXH_H
#define SHMS_XXH_H

#include <xxhash.h>
#ifdef SHMS_XXH_DISPATCH
#include <xxh_x86dispatch.h>
#endif

#endif
