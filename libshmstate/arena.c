/*
 * arena.c: arena files, their life cycle (create, adopt, seal, close,
 * destroy), growth, and read-only inspection.
 *
 * One file per arena, "arena.<name>": the segment header page, then the
 * payload (offset 4096, or 2 MiB on huge pages so that the payload is
 * 2 MiB aligned). The whole of max_size is reserved in the address space
 * at open (PROT_NONE); the file is mapped over the front of it, and
 * growing extends the file (ftruncate + fallocate) and maps the new part
 * right after the old one with MAP_FIXED. So the base never moves, every
 * offset and every pointer stays valid, and there is one file to name,
 * list and remove.
 *
 * Ownership: a live arena's header names its owner pid, and the handle
 * holds an open-file-description write lock (F_OFD_SETLK) on the whole
 * file while it is open. Create and adopt also need the service's owner
 * lock, so a live arena whose lock is free was left by an owner that died
 * (or closed without sealing): dirty. OFD locks rather than flock(2) so
 * that an inspector can test the lock (F_OFD_GETLK) without ever holding
 * it for an instant, which would make a starting owner's adopt fail.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <bsd/string.h>
#include "xxh.h"

#include "internal.h"
#include "arena_format.h"

#ifndef HUGETLBFS_MAGIC
#define HUGETLBFS_MAGIC		0x958458f6
#endif
#ifndef TMPFS_MAGIC
#define TMPFS_MAGIC		0x01021994
#endif

#define HUGE			SHMS__ARENA_HUGE
#define PAGE			SHMS__ARENA_PAGE

_Static_assert(SHMS_ARENA_MAX_SIZE == SHMS__ARENA_MAX_SIZE, "max size");
_Static_assert(SHMS_ARENA_SMALL_MAX == SHMS__ARENA_SMALL_MAX, "small max");
_Static_assert(SHMS__HDR_PAGE == PAGE, "header page");

struct shms_arena {
	struct shms_arena_view	 view;		/* first: see shmstate.h */
	struct shms_svc		*svc;
	int			 fd;
	unsigned		 flags;
	char			*map;		/* file offset 0 */
	uint64_t		 map_len;	/* reserved, bytes */
	uint64_t		 payload_off;
	struct shms_seg_info	 info;		/* header as we last wrote it */
	pthread_mutex_t		 mu;		/* THREADSAFE only */
	struct shms__arena_heap	 heap;
	char			 file[SHMS__FILE_MAX];
};

#define CREATE_FLAGS	(SHMS_ARENA_THREADSAFE | SHMS_ARENA_NOHUGE)
#define ADOPT_FLAGS	(SHMS_ARENA_THREADSAFE | SHMS_ARENA_ADOPT_DIRTY | \
			 SHMS_ARENA_VERIFY | SHMS_ARENA_POPULATE)

static uint64_t
roundup(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

/* Takes the arena file's ownership lock: 0, -EAGAIN if held, -errno. */
static int
own_lock(int fd)
{
	struct flock fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	if (fcntl(fd, F_OFD_SETLK, &fl) == 0)
		return 0;
	return errno == EACCES ? -EAGAIN : -errno;
}

/* Is the ownership lock of file held, i.e. is it open in some handle? */
static int
own_held(int dirfd, const char *file)
{
	struct flock fl;
	int fd, held = 0;

	fd = openat(dirfd, file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
	    O_NONBLOCK);
	if (fd < 0)
		return 0;
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	if (fcntl(fd, F_OFD_GETLK, &fl) == 0 && fl.l_type != F_UNLCK)
		held = 1;
	close(fd);
	return held;
}

static void
lock(struct shms_arena *a)
{
	if (a->flags & SHMS_ARENA_THREADSAFE)
		pthread_mutex_lock(&a->mu);
}

static void
unlock(struct shms_arena *a)
{
	if (a->flags & SHMS_ARENA_THREADSAFE)
		pthread_mutex_unlock(&a->mu);
}

/*
 * Does the filesystem under fd give huge pages to a shared mapping?
 * hugetlbfs always; tmpfs when mounted huge=always|within_size|advise
 * (we madvise) or when the administrator forces it for every mount.
 */
static int
fs_huge(int fd)
{
	char line[4096], want[32], *opts;
	struct statfs sfs;
	struct stat st;
	FILE *f;
	int huge = 0;

	if (fstatfs(fd, &sfs) != 0)
		return 0;
	if (sfs.f_type == HUGETLBFS_MAGIC)
		return sfs.f_bsize == (long)HUGE;
	if (sfs.f_type != TMPFS_MAGIC || fstat(fd, &st) != 0)
		return 0;
	if ((f = fopen("/sys/kernel/mm/transparent_hugepage/shmem_enabled",
	    "re")) != NULL) {
		if (fgets(line, sizeof(line), f) != NULL) {
			if (strstr(line, "[deny]") != NULL)
				huge = -1;
			else if (strstr(line, "[force]") != NULL)
				huge = 1;
		}
		fclose(f);
	}
	if (huge != 0)
		return huge > 0;
	/* mountinfo: "id parent maj:min root point opts ... - fs src sopts" */
	snprintf(want, sizeof(want), " %u:%u ", major(st.st_dev),
	    minor(st.st_dev));
	if ((f = fopen("/proc/self/mountinfo", "re")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strstr(line, want) == NULL ||
		    (opts = strstr(line, " - tmpfs ")) == NULL)
			continue;
		huge = strstr(opts, "huge=always") != NULL ||
		    strstr(opts, "huge=within_size") != NULL ||
		    strstr(opts, "huge=advise") != NULL;
		break;
	}
	fclose(f);
	return huge;
}

/*
 * Reserves len bytes of address space aligned to 2 MiB (so that a huge
 * payload at file offset 2 MiB is huge-aligned too).
 */
static char *
reserve_va(uint64_t len)
{
	uint64_t span = len + HUGE, lead;
	char *p, *al;

	p = mmap(NULL, (size_t)span, PROT_NONE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	al = (char *)roundup((uint64_t)(uintptr_t)p, HUGE);
	lead = (uint64_t)(al - p);
	if (lead != 0)
		munmap(p, (size_t)lead);
	munmap(al + len, (size_t)(span - lead - len));
	return al;
}

/* Maps file bytes [off, off + len) at a->map + off, over the reservation. */
static int
map_range(struct shms_arena *a, uint64_t off, uint64_t len, int populate)
{
	void *p;

	p = mmap(a->map + off, (size_t)len, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_FIXED | (populate ? MAP_POPULATE : 0), a->fd,
	    (off_t)off);
	if (p == MAP_FAILED)
		return -errno;
	/* Where the kernel allows THP on shmem, ask for it; EINVAL if not. */
	if (a->info.flags & SHMS__F_HUGE)
		(void)madvise(p, (size_t)len, MADV_HUGEPAGE);
	return 0;
}

/*
 * Reserves the address space for payload_off + max bytes and maps the
 * file's first payload_off + size bytes over it; sets the view.
 */
static int
map_arena(struct shms_arena *a, uint64_t max, uint64_t size, int populate)
{
	int rc;

	a->map_len = a->payload_off + max;
	if ((a->map = reserve_va(a->map_len)) == NULL)
		return shms__fail(a->svc, -errno, "%s: reserving %ju bytes of "
		    "address space: %s", a->file, (uintmax_t)a->map_len,
		    strerror(errno));
	if ((rc = map_range(a, 0, a->payload_off + size, populate)) != 0)
		return shms__fail(a->svc, rc, "%s: mmap: %s", a->file,
		    shms_strerror(rc));
	a->view.base = a->map + a->payload_off;
	a->view.size = size;
	return 0;
}

/* Writes the header (a->info) into the mapped header page. */
static void
hdr_write(struct shms_arena *a)
{
	struct shms__disk_hdr h;

	shms__hdr_encode(&a->info, &h, 0);
	shms__hdr_store(a->map, &h);
}

/* The allocator's grow callback: back payload bytes up to new_size. */
static int
arena_grow(void *ctx, uint64_t new_size)
{
	struct shms_arena *a = ctx;
	uint64_t old = a->info.payload_len, end = a->payload_off + new_size;
	int rc;

	if (a->payload_off + new_size > a->map_len) {
		snprintf(a->heap.detail, sizeof(a->heap.detail), "growing "
		    "to %ju bytes: past the arena's maximum of %ju bytes",
		    (uintmax_t)new_size,
		    (uintmax_t)(a->map_len - a->payload_off));
		return SHMS_ENOSPACE;
	}
	if (ftruncate(a->fd, (off_t)end) != 0) {
		rc = -errno;
		snprintf(a->heap.detail, sizeof(a->heap.detail), "growing "
		    "to %ju bytes: ftruncate: %s", (uintmax_t)new_size,
		    strerror(-rc));
		return rc;
	}
	rc = shms__reserve(a->fd, a->payload_off + old, new_size - old);
	if (rc == 0)
		rc = map_range(a, a->payload_off + old, new_size - old, 0);
	if (rc != 0) {
		/* A full tmpfs: give the pages back, keep what we had. */
		(void)ftruncate(a->fd, (off_t)(a->payload_off + old));
		snprintf(a->heap.detail, sizeof(a->heap.detail), "growing "
		    "to %ju bytes: %s", (uintmax_t)new_size,
		    shms_strerror(rc));
		return rc == -ENOSPC ? SHMS_ENOSPACE : rc;
	}
	a->info.payload_len = new_size;
	hdr_write(a);
	__atomic_store_n(&a->view.size, new_size, __ATOMIC_RELEASE);
	return 0;
}

static void
arena_free_handle(struct shms_arena *a)
{
	if (a->map != NULL)
		munmap(a->map, (size_t)a->map_len);
	if (a->fd >= 0)
		close(a->fd);
	if (a->flags & SHMS_ARENA_THREADSAFE)
		pthread_mutex_destroy(&a->mu);
	free(a);
}

/* Common checks and the handle for create and adopt. */
static int
arena_new(struct shms_svc *svc, const char *name, const char *layout,
    unsigned flags, unsigned allowed, struct shms_arena **out)
{
	struct shms_arena *a;
	int rc;

	if (svc == NULL || out == NULL || (flags & ~allowed) != 0)
		return -EINVAL;
	shms__clear_detail(svc);
	if (!shms__svc_writable(svc))
		return shms__fail(svc, -EBADF, "%s: service opened read-only "
		    "(arenas need the owner lock)", shms_svc_path(svc));
	if (name == NULL || shms__name_valid(name) != 0)
		return shms__fail(svc, SHMS_ENAME, "invalid arena name");
	if (layout != NULL && shms__name_valid(layout) != 0)
		return shms__fail(svc, SHMS_ENAME, "invalid layout name");
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return shms__fail(svc, -ENOMEM, "arena %s: allocating the "
		    "handle: %s", name, strerror(ENOMEM));
	a->svc = svc;
	a->fd = -1;
	a->flags = flags;
	snprintf(a->file, sizeof(a->file), SHMS__ARENA_PREFIX "%s", name);
	if ((flags & SHMS_ARENA_THREADSAFE) &&
	    (rc = pthread_mutex_init(&a->mu, NULL)) != 0) {
		free(a);
		return shms__fail(svc, -rc, "arena %s: pthread_mutex_init: %s",
		    name, strerror(rc));
	}
	*out = a;
	return 0;
}

static void
heap_attach(struct shms_arena *a)
{
	struct shms__arena_meta *m;

	shms__arena_heap_init(&a->heap, a->view.base);
	m = a->heap.meta;
	if (m->max_size > m->size) {
		a->heap.grow = arena_grow;
		a->heap.grow_ctx = a;
	}
}

int
shms_arena_create(struct shms_svc *svc, const char *name, const char *layout,
    uint32_t layout_version, uint64_t size, uint64_t max_size,
    unsigned flags, struct shms_arena **out)
{
	char detail[SHMS_DETAIL_MAX];
	struct shms_arena *a;
	uint64_t align, pm, data, end;
	int dirfd, rc;

	if (layout == NULL || size == 0)
		return -EINVAL;
	if ((rc = arena_new(svc, name, layout, flags, CREATE_FLAGS, &a)) != 0)
		return rc;
	dirfd = shms__svc_dirfd(svc);
	if (max_size < size)
		max_size = size;
	if (max_size > SHMS_ARENA_MAX_SIZE) {
		rc = shms__fail(svc, SHMS_ELIMIT, "arena max size %ju over "
		    "%ju", (uintmax_t)max_size,
		    (uintmax_t)SHMS_ARENA_MAX_SIZE);
		goto err_free;
	}
	if ((a->fd = shms__create_excl(dirfd, a->file, detail)) < 0) {
		rc = shms__fail(svc, a->fd, "%s", detail);
		goto err_free;
	}
	if ((rc = own_lock(a->fd)) != 0) {
		rc = shms__fail(svc, rc, "%s: lock: %s", a->file,
		    shms_strerror(rc));
		goto err_unlink;
	}
	if (!(flags & SHMS_ARENA_NOHUGE) && fs_huge(a->fd)) {
		align = HUGE;
		a->info.flags = SHMS__F_HUGE;
	} else {
		align = PAGE;
	}
	a->payload_off = align == HUGE ? HUGE : SHMS__HDR_PAGE;
	size = roundup(size, align);
	max_size = roundup(max_size, align);
	if (max_size > SHMS_ARENA_MAX_SIZE)
		max_size -= align;
	shms__arena_layout(max_size, &pm, &data);
	if (data >= size) {
		rc = shms__fail(svc, -EINVAL, "%s: %ju bytes cannot hold the "
		    "allocator metadata (%ju bytes for max size %ju)", a->file,
		    (uintmax_t)size, (uintmax_t)data, (uintmax_t)max_size);
		goto err_unlink;
	}
	end = a->payload_off + size;
	if (ftruncate(a->fd, (off_t)end) != 0 ||
	    (rc = shms__reserve(a->fd, 0, end)) != 0) {
		rc = rc != 0 ? rc : -errno;
		rc = shms__fail(svc, rc, "%s: backing %ju bytes: %s", a->file,
		    (uintmax_t)end, shms_strerror(rc));
		goto err_unlink;
	}
	if ((rc = map_arena(a, max_size, size, 0)) != 0)
		goto err_unlink;
	if ((rc = shms__arena_format(a->view.base, size, max_size, align)) != 0) {
		rc = shms__fail(svc, rc, "%s: formatting: %s", a->file,
		    shms_strerror(rc));
		goto err_unlink;
	}
	heap_attach(a);
	strlcpy(a->info.name, name, sizeof(a->info.name));
	strlcpy(a->info.layout, layout, sizeof(a->info.layout));
	strlcpy(a->info.build_id, shms__svc_build_id(svc),
	    sizeof(a->info.build_id));
	a->info.layout_version = layout_version;
	a->info.kind = SHMS_KIND_ARENA;
	a->info.state = SHMS_STATE_LIVE;
	a->info.page_size = (uint32_t)align;
	a->info.generation = 1;
	a->info.payload_off = a->payload_off;
	a->info.payload_len = size;
	a->info.owner_pid = getpid();
	a->info.ctime_ns = shms__now_ns();
	/* The header (magic last) goes after the metadata it describes. */
	hdr_write(a);
	shms__svc_attach(svc);
	*out = a;
	return 0;

err_unlink:
	unlinkat(dirfd, a->file, 0);
err_free:
	arena_free_handle(a);
	return rc;
}

/* Opens and locks the arena file; fills a->info from its header. */
static int
adopt_open(struct shms_arena *a, uint64_t *fsize)
{
	char detail[SHMS_DETAIL_MAX];
	struct shms_svc *svc = a->svc;
	int rc;

	a->fd = shms__open_checked(shms__svc_dirfd(svc), a->file, O_RDWR,
	    fsize, detail);
	if (a->fd == -ENOENT)
		return shms__fail(svc, SHMS_ENOTFOUND, "%s: no such arena",
		    a->file);
	if (a->fd < 0)
		return shms__fail(svc, a->fd, "%s", detail);
	if ((rc = own_lock(a->fd)) != 0) {
		if (rc == -EAGAIN)
			return shms__fail(svc, SHMS_ELOCKED, "%s: open in "
			    "another handle", a->file);
		return shms__fail(svc, rc, "%s: lock: %s", a->file,
		    shms_strerror(rc));
	}
	if ((rc = shms__hdr_read(a->fd, *fsize, &a->info, detail)) != 0)
		return shms__fail(svc, rc, "%s: %s", a->file, detail);
	if (a->info.kind != SHMS_KIND_ARENA)
		return shms__fail(svc, SHMS_ECORRUPT, "%s: not an arena "
		    "(kind %d)", a->file, a->info.kind);
	return 0;
}

/* Header checks shared by adopt and inspect: layout, state, geometry. */
static int
check_info(struct shms_svc *svc, const char *file,
    const struct shms_seg_info *in, const char *layout, uint32_t version)
{
	uint32_t want = (in->flags & SHMS__F_HUGE) ? HUGE : PAGE;

	/* A renamed or copied file: adopting would carry the wrong name on. */
	if (strcmp(in->name, file + strlen(SHMS__ARENA_PREFIX)) != 0)
		return shms__fail(svc, SHMS_ECORRUPT, "%s: header is of arena "
		    "%s", file, in->name);
	if (layout != NULL && strcmp(layout, in->layout) != 0)
		return shms__fail(svc, SHMS_ELAYOUT, "%s: layout \"%s\", "
		    "expected \"%s\"", file, in->layout, layout);
	if (layout != NULL && version != in->layout_version)
		return shms__fail(svc, SHMS_EVERSION, "%s: layout version %u, "
		    "expected %u", file, in->layout_version, version);
	if (in->state != SHMS_STATE_LIVE && in->state != SHMS_STATE_CLEAN)
		return shms__fail(svc, SHMS_ESTATE, "%s: state %d is not "
		    "live or clean", file, in->state);
	if (in->page_size != want || in->payload_len % want != 0 ||
	    in->payload_len < 2 * PAGE ||
	    in->payload_len > SHMS_ARENA_MAX_SIZE)
		return shms__fail(svc, SHMS_ECORRUPT, "%s: payload %ju bytes, "
		    "page size %u: not an arena geometry", file,
		    (uintmax_t)in->payload_len, in->page_size);
	return 0;
}

/*
 * Reads max_size from the metadata (pread: nothing is mapped yet) so that
 * the reservation is known; the full check comes once mapped.
 */
static int
read_max(struct shms_svc *svc, const char *file, int fd,
    const struct shms_seg_info *in, uint64_t *max)
{
	struct shms__arena_meta m;
	int rc;

	rc = shms__pread_all(fd, &m, sizeof(m), in->payload_off);
	if (rc != 0)
		return shms__fail(svc, rc, "%s: reading metadata: %s", file,
		    shms_strerror(rc));
	if (memcmp(m.magic, SHMS__ARENA_MAGIC, sizeof(m.magic)) != 0)
		return shms__fail(svc, SHMS_ECORRUPT, "%s: arena metadata: "
		    "bad magic", file);
	if (m.max_size < in->payload_len || m.max_size > SHMS_ARENA_MAX_SIZE ||
	    m.size != in->payload_len)
		return shms__fail(svc, SHMS_ECORRUPT, "%s: arena metadata: "
		    "size %ju max %ju, header says %ju", file,
		    (uintmax_t)m.size, (uintmax_t)m.max_size,
		    (uintmax_t)in->payload_len);
	*max = m.max_size;
	return 0;
}

/* Seal checksum over the payload. */
static int
check_sum(struct shms_svc *svc, const char *file,
    const struct shms_seg_info *in, const char *payload)
{
	uint64_t sum;

	if (!(in->flags & SHMS__F_ARENA_SUM) || in->state != SHMS_STATE_CLEAN)
		return 0;
	sum = XXH3_64bits(payload, (size_t)in->payload_len);
	if (sum != in->payload_xxh3)
		return shms__fail(svc, SHMS_ESUM, "%s: payload checksum "
		    "0x%016jx expected 0x%016jx", file, (uintmax_t)sum,
		    (uintmax_t)in->payload_xxh3);
	return 0;
}

int
shms_arena_adopt(struct shms_svc *svc, const char *name, const char *layout,
    uint32_t layout_version, unsigned flags, struct shms_arena **out)
{
	char detail[SHMS_DETAIL_MAX];
	struct shms_arena *a;
	uint64_t fsize, max;
	int rc;

	if ((rc = arena_new(svc, name, layout, flags, ADOPT_FLAGS, &a)) != 0)
		return rc;
	if ((rc = adopt_open(a, &fsize)) != 0 ||
	    (rc = check_info(svc, a->file, &a->info, layout,
	    layout_version)) != 0)
		goto err;
	if (a->info.state == SHMS_STATE_LIVE &&
	    !(flags & SHMS_ARENA_ADOPT_DIRTY)) {
		rc = shms__fail(svc, SHMS_EDIRTY, "%s: live, but its owner "
		    "pid %jd is gone (not sealed)", a->file,
		    (intmax_t)a->info.owner_pid);
		goto err;
	}
	if ((rc = read_max(svc, a->file, a->fd, &a->info, &max)) != 0)
		goto err;
	a->payload_off = a->info.payload_off;
	if ((rc = map_arena(a, max, a->info.payload_len,
	    (flags & SHMS_ARENA_POPULATE) != 0)) != 0)
		goto err;
	if ((flags & SHMS_ARENA_VERIFY) &&
	    (rc = check_sum(svc, a->file, &a->info, a->view.base)) != 0)
		goto err;
	/* A dirty arena stopped anywhere: look at everything. */
	rc = shms__arena_check(a->view.base, a->info.payload_len,
	    (flags & SHMS_ARENA_VERIFY) || a->info.state == SHMS_STATE_LIVE,
	    NULL, detail);
	if (rc != 0) {
		rc = shms__fail(svc, rc, "%s: %s", a->file, detail);
		goto err;
	}
	heap_attach(a);
	/* Ours before the caller sees a single pointer. */
	a->info.state = SHMS_STATE_LIVE;
	a->info.owner_pid = getpid();
	a->info.generation++;
	a->info.flags &= ~(SHMS__F_ARENA_SUM | SHMS__F_SUMMED);
	a->info.payload_xxh3 = 0;
	a->info.seal_ns = 0;
	strlcpy(a->info.build_id, shms__svc_build_id(svc),
	    sizeof(a->info.build_id));
	hdr_write(a);
	shms__svc_attach(svc);
	*out = a;
	return 0;

err:
	arena_free_handle(a);
	return rc;
}

/* Records the allocator's detail on the service; under the arena lock. */
static int
arena_fail(struct shms_arena *a, int rc)
{
	if (rc == SHMS_ECORRUPT || (rc != 0 && a->heap.detail[0] != '\0'))
		return shms__fail(a->svc, rc, "%s: %s", a->file,
		    a->heap.detail);
	return rc;
}

enum heap_op { OP_ALLOC, OP_REALLOC, OP_FREE, OP_USABLE };

/*
 * One allocator call under the arena lock; a failure gets its detail.
 * *out (alloc, realloc: the offset; usable: the size) only on success.
 */
static int
heap_call(struct shms_arena *a, enum heap_op op, uint64_t off, size_t size,
    uint64_t *out)
{
	uint64_t o = 0;
	size_t us;
	int rc;

	lock(a);
	a->heap.detail[0] = '\0';
	switch (op) {
	case OP_ALLOC:
		rc = shms__arena_alloc(&a->heap, size, &o);
		break;
	case OP_REALLOC:
		rc = shms__arena_realloc(&a->heap, off, size, &o);
		break;
	case OP_FREE:
		rc = shms__arena_free(&a->heap, off);
		break;
	default:
		rc = shms__arena_usable(&a->heap, off, &us);
		o = us;
		break;
	}
	if (rc != 0)
		rc = arena_fail(a, rc);
	unlock(a);
	if (rc == 0 && out != NULL)
		*out = o;
	return rc;
}

int
shms_arena_alloc(struct shms_arena *a, size_t size, uint64_t *off)
{
	if (a == NULL || off == NULL)
		return -EINVAL;
	return heap_call(a, OP_ALLOC, 0, size, off);
}

int
shms_arena_calloc(struct shms_arena *a, size_t n, size_t size, uint64_t *off)
{
	uint64_t o;
	int rc;

	if (size != 0 && n > SIZE_MAX / size)
		return -EINVAL;
	if ((rc = shms_arena_alloc(a, n * size, &o)) != 0)
		return rc;
	memset(a->view.base + o, 0, n * size);
	*off = o;
	return 0;
}

int
shms_arena_realloc(struct shms_arena *a, uint64_t off, size_t size,
    uint64_t *out)
{
	if (a == NULL || out == NULL)
		return -EINVAL;
	return heap_call(a, OP_REALLOC, off, size, out);
}

int
shms_arena_free(struct shms_arena *a, uint64_t off)
{
	if (a == NULL)
		return -EINVAL;
	if (off == 0)
		return 0;
	return heap_call(a, OP_FREE, off, 0, NULL);
}

int
shms_arena_usable_size(struct shms_arena *a, uint64_t off, size_t *size)
{
	uint64_t s;
	int rc;

	if (a == NULL || size == NULL)
		return -EINVAL;
	if ((rc = heap_call(a, OP_USABLE, off, 0, &s)) == 0)
		*size = (size_t)s;
	return rc;
}

int
shms_arena_root_set(struct shms_arena *a, uint64_t off)
{
	int rc;

	if (a == NULL)
		return -EINVAL;
	if (off != 0 && (rc = heap_call(a, OP_USABLE, off, 0, NULL)) != 0)
		return rc;
	__atomic_store_n(&a->heap.meta->root, off, __ATOMIC_RELEASE);
	return 0;
}

uint64_t
shms_arena_root(const struct shms_arena *a)
{
	return __atomic_load_n(&a->heap.meta->root, __ATOMIC_ACQUIRE);
}

void *
shms_arena_base(const struct shms_arena *a)
{
	return a->view.base;
}

uint64_t
shms_arena_size(const struct shms_arena *a)
{
	return __atomic_load_n(&a->view.size, __ATOMIC_ACQUIRE);
}

/* Stats from validated (or our own) counters and a header. */
static void
stats_fill(struct shms_arena_stats *st, const struct shms_seg_info *in,
    const struct shms__arena_check_res *r)
{
	uint64_t taken = (r->slab_pages + r->large_pages) * PAGE;

	memset(st, 0, sizeof(*st));
	st->size = r->size;
	st->max_size = r->max_size;
	st->meta_bytes = r->meta_bytes;
	st->nallocs = r->nallocs;
	st->in_use = r->in_use;
	st->free_bytes = r->free_pages * PAGE;
	st->slab_bytes = r->slab_pages * PAGE;
	st->large_bytes = r->large_pages * PAGE;
	st->largest_free = r->largest_free;
	st->fragmentation = taken == 0 || r->in_use > taken ? 0.0 :
	    1.0 - (double)r->in_use / (double)taken;
	st->root = r->root;
	st->generation = in->generation;
	st->owner_pid = in->owner_pid;
	st->state = in->state;
	st->page_size = in->page_size;
	st->layout_version = in->layout_version;
	strlcpy(st->layout, in->layout, sizeof(st->layout));
}

int
shms_arena_stats(struct shms_arena *a, struct shms_arena_stats *st)
{
	struct shms__arena_check_res r;

	if (a == NULL || st == NULL)
		return -EINVAL;
	lock(a);
	shms__arena_counters(&r, a->heap.meta);
	stats_fill(st, &a->info, &r);
	unlock(a);
	st->owner_alive = 1;
	return 0;
}

int
shms_arena_inspect(struct shms_svc *svc, const char *file, unsigned flags,
    struct shms_arena_stats *st)
{
	char detail[SHMS_DETAIL_MAX];
	struct shms__arena_check_res r;
	struct shms__arena_meta m;
	struct shms_seg_info in;
	uint64_t fsize;
	char *map = NULL;
	size_t len = 0;
	int fd, rc, alive;

	if (svc == NULL || file == NULL || st == NULL ||
	    (flags & ~SHMS_ARENA_VERIFY) != 0)
		return -EINVAL;
	shms__clear_detail(svc);
	if (shms__file_type(file) != SHMS__FT_ARENA ||
	    shms__name_valid(file + strlen(SHMS__ARENA_PREFIX)) != 0)
		return shms__fail(svc, SHMS_ENAME, "%s: not an arena file "
		    "name", file);
	fd = shms__open_checked(shms__svc_dirfd(svc), file, O_RDONLY, &fsize,
	    detail);
	if (fd == -ENOENT)
		return shms__fail(svc, SHMS_ENOTFOUND, "%s: no such arena",
		    file);
	if (fd < 0)
		return shms__fail(svc, fd, "%s", detail);
	if ((rc = shms__hdr_read(fd, fsize, &in, detail)) != 0) {
		rc = shms__fail(svc, rc, "%s: %s", file, detail);
		goto out;
	}
	if (in.kind != SHMS_KIND_ARENA) {
		rc = shms__fail(svc, SHMS_ECORRUPT, "%s: not an arena", file);
		goto out;
	}
	if ((rc = check_info(svc, file, &in, NULL, 0)) != 0)
		goto out;
	alive = in.state == SHMS_STATE_LIVE &&
	    own_held(shms__svc_dirfd(svc), file);
	if (alive) {
		/* Its owner is changing it: counters only, copied once. */
		rc = shms__pread_all(fd, &m, sizeof(m), in.payload_off);
		if (rc != 0) {
			rc = shms__fail(svc, rc, "%s: reading metadata: %s",
			    file, shms_strerror(rc));
			goto out;
		}
		shms__arena_counters(&r, &m);
	} else {
		len = (size_t)(in.payload_off + in.payload_len);
		map = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
		if (map == MAP_FAILED) {
			map = NULL;
			rc = shms__fail(svc, -errno, "%s: mmap: %s", file,
			    strerror(errno));
			goto out;
		}
		if ((flags & SHMS_ARENA_VERIFY) && (rc = check_sum(svc, file,
		    &in, map + in.payload_off)) != 0)
			goto out;
		rc = shms__arena_check(map + in.payload_off, in.payload_len,
		    (flags & SHMS_ARENA_VERIFY) != 0, &r, detail);
		if (rc != 0) {
			rc = shms__fail(svc, rc, "%s: %s", file, detail);
			goto out;
		}
	}
	stats_fill(st, &in, &r);
	st->owner_alive = alive;
out:
	if (map != NULL)
		munmap(map, len);
	close(fd);
	return rc;
}

/* Unmaps, unlocks and frees; detaches from the service. */
static void
arena_end(struct shms_arena *a)
{
	struct shms_svc *svc = a->svc;

	arena_free_handle(a);
	shms__svc_detach(svc);
}

int
shms_arena_seal(struct shms_arena *a, unsigned flags)
{
	if (a == NULL)
		return 0;
	if ((flags & ~(SHMS_ARENA_SUM | SHMS_ARENA_KEEPMAP)) != 0) {
		arena_end(a);
		return -EINVAL;
	}
	lock(a);
	if (flags & SHMS_ARENA_SUM) {
		a->info.payload_xxh3 = XXH3_64bits(a->view.base,
		    (size_t)a->info.payload_len);
		a->info.flags |= SHMS__F_ARENA_SUM;
	}
	a->info.state = SHMS_STATE_CLEAN;
	a->info.owner_pid = 0;
	a->info.seal_ns = shms__now_ns();
	hdr_write(a);
	unlock(a);
	/*
	 * Clean now; the page tables go with the process (exit). The
	 * mapping holds the open file description, and with it the OFD
	 * ownership lock: release that explicitly, or the successor finds
	 * the arena still owned.
	 */
	if (flags & SHMS_ARENA_KEEPMAP) {
		struct flock fl;

		memset(&fl, 0, sizeof(fl));
		fl.l_type = F_UNLCK;
		fl.l_whence = SEEK_SET;
		(void)fcntl(a->fd, F_OFD_SETLK, &fl);
		a->map = NULL;
	}
	arena_end(a);
	return 0;
}

int
shms_arena_close(struct shms_arena *a)
{
	if (a != NULL)
		arena_end(a);
	return 0;
}

int
shms_arena_destroy(struct shms_arena *a)
{
	int rc;

	if (a == NULL)
		return 0;
	rc = shms__unlink(shms__svc_dirfd(a->svc), a->file);
	arena_end(a);
	return rc;
}

int
shms_arena_remove(struct shms_svc *svc, const char *name)
{
	char file[SHMS__FILE_MAX];
	int dirfd;

	if (svc == NULL)
		return -EINVAL;
	shms__clear_detail(svc);
	if (!shms__svc_writable(svc))
		return shms__fail(svc, -EBADF, "%s: service opened read-only",
		    shms_svc_path(svc));
	if (name == NULL || shms__name_valid(name) != 0)
		return shms__fail(svc, SHMS_ENAME, "invalid arena name");
	snprintf(file, sizeof(file), SHMS__ARENA_PREFIX "%s", name);
	dirfd = shms__svc_dirfd(svc);
	if (own_held(dirfd, file))
		return shms__fail(svc, -EBUSY, "%s: open in a handle", file);
	if (unlinkat(dirfd, file, 0) != 0) {
		if (errno == ENOENT)
			return shms__fail(svc, SHMS_ENOTFOUND, "%s: no such "
			    "arena", file);
		return shms__fail(svc, -errno, "%s: unlink: %s", file,
		    strerror(errno));
	}
	return 0;
}
