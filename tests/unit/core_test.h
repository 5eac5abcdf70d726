/*
 * core_test.h: helpers shared by the core unit tests (svc, ckpt, adopt):
 * a private state root, deterministic payloads, checkpoints, and editing
 * segment files behind the library's back.
 */
#ifndef CORE_TEST_H
#define CORE_TEST_H

#include <endian.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

/* $SHMSTATE_DIR as set by run-tests.sh, or a fresh one when run by hand. */
static inline const char *
test_root(void)
{
	static char dir[64];
	const char *env = getenv("SHMSTATE_DIR");

	if (env != NULL && env[0] != '\0')
		return env;
	strcpy(dir, "/dev/shm/shmstate-unit.XXXXXX");
	assert_non_null(mkdtemp(dir));
	setenv("SHMSTATE_DIR", dir, 1);
	return dir;
}

/* A service name unique within this process. */
static inline const char *
test_service(const char *prefix)
{
	static char name[SHMS_NAME_MAX + 1];
	static unsigned n;

	snprintf(name, sizeof(name), "%s-%u", prefix, n++);
	return name;
}

static inline struct shms_svc *
open_w(const char *service)
{
	struct shms_svc *svc;
	int rc = shms_svc_open(&svc, NULL, service, 0);

	if (rc != 0)
		fail_msg("shms_svc_open(%s): %s", service, shms_strerror(rc));
	return svc;
}

/* Byte i of payload `seed'. */
static inline void
fill(void *buf, size_t len, uint64_t seed, uint64_t at)
{
	unsigned char *p = buf;
	size_t i;

	for (i = 0; i < len; i++) {
		uint64_t x = (at + i) * 0x9e3779b97f4a7c15ull + seed;
		p[i] = (unsigned char)(x >> 29);
	}
}

/* One segment per name, len bytes each, seeded by index; returns gen. */
static inline uint64_t
make_ckpt(struct shms_svc *svc, const char *const *names, size_t n,
    size_t len)
{
	struct shms_ckpt *ck;
	struct shms_seg *seg;
	unsigned char *buf = malloc(len ? len : 1);
	uint64_t gen = 0;
	size_t i;
	int rc;

	assert_non_null(buf);
	assert_int_equal(shms_ckpt_begin(svc, 0, &ck), 0);
	for (i = 0; i < n; i++) {
		rc = shms_ckpt_seg_create(ck, names[i], "lay", 1, 0, &seg);
		if (rc != 0)
			fail_msg("seg_create: %s", shms_errdetail(svc));
		fill(buf, len, i, 0);
		assert_int_equal(shms_seg_write(seg, buf, len), 0);
	}
	rc = shms_ckpt_commit(ck, 0, &gen);
	if (rc != 0)
		fail_msg("commit: %s: %s", shms_strerror(rc),
		    shms_errdetail(svc));
	free(buf);
	return gen;
}

static inline int
seg_fd(struct shms_svc *svc, uint64_t gen, const char *name, int flags)
{
	char file[SHMS__FILE_MAX];

	shms__ckpt_file(file, gen, name);
	return openat(shms__svc_dirfd(svc), file, flags | O_CLOEXEC);
}

/* Overwrites bytes of a segment file. */
static inline void
poke(struct shms_svc *svc, uint64_t gen, const char *name, uint64_t off,
    const void *buf, size_t len)
{
	int fd = seg_fd(svc, gen, name, O_WRONLY);

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
}

/* Edits the on-disk header with fn, then fixes its checksum if resum. */
static inline void
edit_hdr(struct shms_svc *svc, uint64_t gen, const char *name,
    void (*fn)(struct shms__disk_hdr *), int resum)
{
	struct shms__disk_hdr h;
	int fd = seg_fd(svc, gen, name, O_RDWR);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &h, sizeof(h), 0), (ssize_t)sizeof(h));
	fn(&h);
	if (resum)
		h.hdr_xxh3 = htole64(shms__hdr_sum(&h));
	assert_int_equal(pwrite(fd, &h, sizeof(h), 0), (ssize_t)sizeof(h));
	close(fd);
}

#endif /* CORE_TEST_H */
