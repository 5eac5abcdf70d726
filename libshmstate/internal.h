/*
 * Internal interfaces shared by the library's modules. Never installed.
 * Internal functions are prefixed shms__ and are hidden from the .so.
 */
#ifndef SHMS_INTERNAL_H
#define SHMS_INTERNAL_H

#include <stdarg.h>
#include <stdint.h>
#include <sys/types.h>

#include "shmstate.h"
#include "format.h"

#define SHMS__ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
/* A -errno, as opposed to 0 or an SHMS_E* code (all below -4095). */
#define SHMS__IS_ERRNO(rc)	((rc) < 0 && (rc) > -4096)

#if defined(__GNUC__)
#define SHMS__PRINTF(f, a)	__attribute__((format(printf, f, a)))
#else
#define SHMS__PRINTF(f, a)
#endif

/* ---- service (svc.c) ---- */

/* Directory fd of the service (O_DIRECTORY|O_CLOEXEC); owned by svc. */
int		 shms__svc_dirfd(const struct shms_svc *svc);
int		 shms__svc_writable(const struct shms_svc *svc);
const char	*shms__svc_name(const struct shms_svc *svc);
const char	*shms__svc_build_id(const struct shms_svc *svc);

/*
 * Root directory of all services: root if not NULL, else $SHMSTATE_DIR if
 * set and not empty, else SHMS_DEFAULT_DIR. Returns the path (static
 * string or root/env; do not free).
 */
const char	*shms__root_path(const char *root);

/*
 * Opens the root directory (O_DIRECTORY|O_NOFOLLOW|O_CLOEXEC) and checks
 * it: owned by us or by root (SHMS_EFOREIGN), not group/world writable
 * (SHMS_EPERMS), not a symlink (SHMS_ESYMLINK). With create, a missing
 * root is made 0700 (with its parents when root was NULL). Returns the fd.
 */
int		 shms__root_open(const char *root, int create, char *detail);

/*
 * Checks an open directory's owner (must be geteuid(), or also root when
 * allow_root) and mode (no group/world write). name is for the detail.
 */
int		 shms__dir_check(int fd, const char *name, int allow_root,
		    char *detail);

/*
 * Objects opened from a service (checkpoint, adoption, arena) attach to it
 * so that shms_svc_close() can refuse with -EBUSY while they live.
 * Thread-safe.
 */
void		 shms__svc_attach(struct shms_svc *svc);
void		 shms__svc_detach(struct shms_svc *svc);

/*
 * Prologue of calls that need the owner lock: clears the detail, then
 * returns 0, or -EBADF (with a detail) for a read-only handle.
 */
int		 shms__svc_need_writer(const struct shms_svc *svc);

/*
 * One checkpoint at a time per service (two would pick the same
 * generation). enter returns -EBUSY if one is open.
 */
int		 shms__svc_ckpt_enter(struct shms_svc *svc);
void		 shms__svc_ckpt_leave(struct shms_svc *svc);

/*
 * Records a detail string for the last error and returns code unchanged,
 * so callers can write: return shms__fail(svc, rc, "%s: ...", path);
 */
int		 shms__fail(const struct shms_svc *svc, int code,
		    const char *fmt, ...) SHMS__PRINTF(3, 4);
void		 shms__clear_detail(const struct shms_svc *svc);

/*
 * Writes the detail text into detail (SHMS_DETAIL_MAX bytes) when detail is
 * not NULL, and returns code unchanged. For helpers that have no service.
 */
int		 shms__detail(char *detail, int code, const char *fmt, ...)
		    SHMS__PRINTF(3, 4);

/* ---- names (name.c) ---- */

/* 0 or SHMS_ENAME; see SHMS_NAME_MAX in shmstate.h for the rules. */
int		 shms__name_valid(const char *name);

/*
 * Copies a NUL-padded on-shm name field (64 bytes) into out (64 bytes) if it
 * is NUL-terminated and valid; SHMS_ECORRUPT otherwise.
 */
int		 shms__name_field(const char field[64], char out[64]);

/* Stores s (at most 63 bytes) into a 64-byte NUL-padded on-shm field. */
void		 shms__name_put(char field[64], const char *s);

/* Build ids are 1..SHMS_BUILDID_MAX printable ASCII bytes. */
int		 shms__build_id_valid(const char *id);

/*
 * Segment file names. A checkpoint segment is "ckpt.<16 lowercase hex
 * generation>.<segment name>"; an arena is "arena.<name>" (the arena code
 * owns what follows "arena.").
 */
#define SHMS__CKPT_PREFIX	"ckpt."
#define SHMS__ARENA_PREFIX	"arena."
#define SHMS__LOCK_FILE		"lock"
#define SHMS__MANIFEST_FILE	"manifest"
#define SHMS__MANIFEST_TMP	"manifest.tmp"
#define SHMS__CONTROL_SOCK	"control.sock"
#define SHMS__FILE_MAX		(2 * SHMS_NAME_MAX + 32)	/* incl. NUL */

/* Formats "ckpt.<gen>.<name>" into buf (SHMS__FILE_MAX bytes). */
void		 shms__ckpt_file(char *buf, uint64_t gen, const char *name);

/*
 * Parses a checkpoint segment file name; returns 0 and fills *gen and name
 * (SHMS_NAME_MAX + 1 bytes, may be NULL) or SHMS_ENAME if file is not one.
 */
int		 shms__ckpt_file_parse(const char *file, uint64_t *gen,
		    char *name);

/* What a directory entry of a service directory is, by its name. */
enum shms__file_type {
	SHMS__FT_OTHER = 0,	/* unknown: never ours */
	SHMS__FT_CKPT,		/* ckpt.<gen>.<name> */
	SHMS__FT_ARENA,		/* arena.* */
	SHMS__FT_LOCK,		/* lock */
	SHMS__FT_MANIFEST,	/* manifest */
	SHMS__FT_MANIFEST_TMP,	/* manifest.tmp */
	SHMS__FT_SOCK,		/* control.sock */
};
enum shms__file_type shms__file_type(const char *file);

/* ---- header (hdr.c) ---- */

/*
 * Encodes info into the little-endian on-shm header, zeroing reserved
 * bytes and computing hdr_xxh3 (stored back into info->hdr_xxh3 too).
 * Writes magic unless omit_magic, so a writer can publish it last.
 */
void		 shms__hdr_encode(struct shms_seg_info *info,
		    struct shms__disk_hdr *out, int omit_magic);

/*
 * Copies the header out of buf (len bytes available, may be shorter than
 * a header) once, and validates it: magic, format, size, checksum, kind,
 * state, flags, names, payload_off and overflow-safe payload bounds. Does
 * not look at the file size; see shms__hdr_check_size(). On error, writes
 * a human reason to detail (SHMS_DETAIL_MAX bytes).
 */
int		 shms__hdr_decode(const void *buf, size_t len,
		    struct shms_seg_info *out, char *detail);

/* SHMS_ETRUNC unless payload_off + payload_len <= file_size. */
int		 shms__hdr_check_size(const struct shms_seg_info *info,
		    uint64_t file_size, char *detail);

/* XXH3 of a header as encoded, computed with hdr_xxh3 taken as zero. */
uint64_t	 shms__hdr_sum(const struct shms__disk_hdr *h);

/*
 * Stores an encoded header into a mapped header page so that a concurrent
 * reader never sees the magic before the rest: everything but the magic
 * first, a release fence, then the magic.
 */
void		 shms__hdr_store(void *page, const struct shms__disk_hdr *h);

/*
 * Reads the header of an open segment file with pread (copied out once),
 * decodes it and checks it against file_size. Sets out->file_size.
 */
int		 shms__hdr_read(int fd, uint64_t file_size,
		    struct shms_seg_info *out, char *detail);

/* CLOCK_REALTIME in ns. */
uint64_t	 shms__now_ns(void);

/* ---- files (file.c) ---- */

/*
 * Opens name in dirfd refusing symlinks (SHMS_ESYMLINK), non-regular
 * files (SHMS_ECORRUPT), files of another uid (SHMS_EFOREIGN), and
 * group/other-accessible modes or a second hard link (SHMS_EPERMS).
 * oflags as for openat (O_NOFOLLOW|O_CLOEXEC added; no O_CREAT). Never
 * blocks on a FIFO. A missing file is -ENOENT. On
 * success returns the fd and fills *size (may be NULL).
 */
int		 shms__open_checked(int dirfd, const char *name, int oflags,
		    uint64_t *size, char *detail);

/* Creates name with O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC, mode 0600. */
int		 shms__create_excl(int dirfd, const char *name, char *detail);

/*
 * Makes [off, off+len) of fd backed by memory now (fallocate, extending the
 * file if needed), so a full tmpfs reports -ENOSPC here instead of SIGBUS
 * on first touch. File systems without fallocate return 0.
 */
int		 shms__reserve(int fd, uint64_t off, uint64_t len);

/* Page size of the filesystem backing fd (4096 or the huge page size). */
uint32_t	 shms__fd_page_size(int fd);

/* Writes/reads exactly len bytes at off, retrying on EINTR/short counts. */
int		 shms__pwrite_all(int fd, const void *buf, size_t len,
		    uint64_t off);
int		 shms__pread_all(int fd, void *buf, size_t len, uint64_t off);

/* unlinkat(dirfd, name, 0); ENOENT counts as success. */
int		 shms__unlink(int dirfd, const char *name);

/*
 * Highest generation among the ckpt.* files in dirfd (0 if none) into
 * *gen. Never follows symlinks; ignores names that do not parse.
 */
int		 shms__max_file_generation(int dirfd, uint64_t *gen);

/*
 * Calls cb(name, arg) for every entry of dirfd except "." and "..", in
 * readdir order; a non-zero return from cb stops and is returned.
 */
int		 shms__dir_walk(int dirfd, int (*cb)(const char *name,
		    void *arg), void *arg);

/* ---- manifest (manifest.c) ---- */

/* One manifest entry, decoded. Names are NUL-terminated and valid. */
struct shms__mentry {
	char		name[SHMS_NAME_MAX + 1];
	char		layout[SHMS_NAME_MAX + 1];
	uint32_t	layout_version;
	uint32_t	kind;
	uint64_t	payload_len;
	uint64_t	payload_xxh3;
	uint64_t	hdr_xxh3;
	uint64_t	generation;
};

/* A decoded, validated manifest. Release with shms__manifest_free(). */
struct shms__manifest {
	uint64_t		 generation;
	uint64_t		 ctime_ns;
	char			 service[SHMS_NAME_MAX + 1];
	char			 build_id[SHMS_BUILDID_MAX + 1];
	uint32_t		 count;
	struct shms__mentry	*entries;	/* count entries, malloc'd */
};

/*
 * Encodes m into a malloc'd buffer (*buf, *len; free() it), computing the
 * checksum.
 */
int		 shms__manifest_encode(const struct shms__manifest *m,
		    void **buf, size_t *len);

/*
 * Validates an untrusted manifest image (len bytes) and decodes it into
 * *out: exact size, magic (SHMS_ECORRUPT), format (SHMS_EFORMAT), count,
 * entry size, checksum, names, no duplicate names, each entry's generation
 * equals the manifest's, lengths within SHMS_SEG_MAX_SIZE. Everything
 * else is SHMS_ECORRUPT. *out is written only on success.
 */
int		 shms__manifest_parse(const void *buf, size_t len,
		    struct shms__manifest *out, char *detail);

/*
 * Reads and parses dirfd's "manifest" (symlink/owner/mode checked like a
 * segment). SHMS_ENOSTATE if there is none.
 */
int		 shms__manifest_read(int dirfd, struct shms__manifest *out,
		    char *detail);

/* Index of entry `name' in m, or -1. */
long		 shms__manifest_find(const struct shms__manifest *m,
		    const char *name);

void		 shms__manifest_free(struct shms__manifest *m);

/*
 * How file `file' of a service directory relates to the committed state
 * m (NULL: none): enum shms_entry_status. ckpt files listed in m are
 * COMMITTED; other ckpt files of a newer generation UNCOMMITTED, of an
 * older generation SUPERSEDED, of the committed generation but unlisted
 * UNCOMMITTED; arena.* ARENA;
 * everything else (lock, manifest, unknown names) FOREIGN.
 */
int		 shms__classify(const char *file, const struct shms__manifest *m);

/* ---- build id (buildid.c) ---- */

/* Hex GNU build-id of the main executable, or "unknown", into buf. */
void		 shms__default_build_id(char buf[SHMS_BUILDID_MAX + 1]);

#endif /* SHMS_INTERNAL_H */
