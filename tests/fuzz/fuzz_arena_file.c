/*
 * fuzz_arena_file: a whole arena file (header page, allocator metadata,
 * payload) through the real paths a service and shmctl take: written as
 * "arena.f" into a private service directory, then shms_arena_inspect()
 * and shms_arena_adopt(); an adopted arena gets a few allocations and is
 * sealed, as a service would at its next stop.
 *
 * Input: one flag byte, then the file image. Flag bit 0 recomputes the
 * header checksum over the mutated header, so the fuzzer reaches the
 * arena checks; bit 1 adopts with SHMS_ARENA_VERIFY; bit 2 with
 * SHMS_ARENA_ADOPT_DIRTY. Invariants: no crash, no leak, no hang; every
 * refusal is an error with a detail.
 */
#include <endian.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "fuzz.h"

static struct shms_svc *svc;
static int dirfd_ = -1;
static char root[] = "/dev/shm/shms-fuzz-arena.XXXXXX";

/* The private state goes when the process does. */
static void
cleanup(void)
{
	char path[sizeof(root) + 16];

	shms_svc_close(svc);
	snprintf(path, sizeof(path), "%s/f/arena.f", root);
	unlink(path);
	snprintf(path, sizeof(path), "%s/f/lock", root);
	unlink(path);
	snprintf(path, sizeof(path), "%s/f", root);
	rmdir(path);
	rmdir(root);
}

static void
init(void)
{
	if (mkdtemp(root) == NULL || shms_svc_open(&svc, root, "f", 0) != 0)
		abort();
	dirfd_ = shms__svc_dirfd(svc);
	atexit(cleanup);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct shms_arena_stats st;
	struct shms_arena *a;
	unsigned flags = 0;
	unsigned char *img;
	uint64_t off;
	size_t len;
	int fd, rc;

	if (svc == NULL)
		init();
	if (size < 1 || size - 1 > (4u << 20))
		return 0;
	len = size - 1;
	if ((img = malloc(len ? len : 1)) == NULL)
		return 0;
	memcpy(img, data + 1, len);
	if ((data[0] & 1) && len >= sizeof(struct shms__disk_hdr)) {
		struct shms__disk_hdr h;
		uint64_t sum;

		memcpy(&h, img, sizeof(h));
		sum = htole64(shms__hdr_sum(&h));
		memcpy(img + offsetof(struct shms__disk_hdr, hdr_xxh3), &sum, 8);
	}
	if (data[0] & 2)
		flags |= SHMS_ARENA_VERIFY;
	if (data[0] & 4)
		flags |= SHMS_ARENA_ADOPT_DIRTY;
	fd = openat(dirfd_, "arena.f", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600);
	if (fd < 0 || (len > 0 && write(fd, img, len) != (ssize_t)len))
		abort();
	close(fd);
	free(img);

	rc = shms_arena_inspect(svc, "arena.f", flags & SHMS_ARENA_VERIFY, &st);
	FUZZ_ASSERT(rc == 0 || (rc < 0 && shms_errdetail(svc)[0] != '\0'));
	rc = shms_arena_adopt(svc, "f", NULL, 0, flags, &a);
	if (rc == 0) {
		FUZZ_ASSERT(shms_arena_size(a) > 0);
		if (shms_arena_alloc(a, 100, &off) == 0)
			memset(shms_arena_ptr(a, off), 1, 100);
		if (shms_arena_alloc(a, 20000, &off) == 0)
			shms_arena_free(a, off);
		shms_arena_seal(a, SHMS_ARENA_SUM);
	} else
		FUZZ_ASSERT(rc < 0 && shms_errdetail(svc)[0] != '\0');
	unlinkat(dirfd_, "arena.f", 0);
	return 0;
}
