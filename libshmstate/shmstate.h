/*
 * shmstate.h: keep a service's state in named shared-memory segments across
 * restarts, upgrades and exec.
 *
 * One public header. Every function returns int: 0 (or a non-negative count
 * where documented) on success, -errno for a system failure, or one of the
 * SHMS_E* codes below. shms_strerror() maps any code to text; the handle that
 * failed keeps a human detail string (path, expected vs found), see
 * shms_errdetail().
 *
 * Constructors take an out-parameter that is written only on success.
 * Destructors accept NULL. The two calls that end a handle with an outcome
 * to report, shms_ckpt_commit() and shms_adopt_finish(), say -EINVAL for
 * NULL (nothing was committed or removed); their abort calls are the
 * destructors. The library never prints and keeps no global mutable
 * state. See libshmstate(3).
 */
#ifndef SHMSTATE_H
#define SHMSTATE_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(SHMS_BUILDING) && defined(__GNUC__)
#define SHMS_EXPORT __attribute__((visibility("default")))
#else
#define SHMS_EXPORT
#endif

#define SHMS_VERSION_MAJOR	0
#define SHMS_VERSION_MINOR	1
#define SHMS_VERSION_PATCH	0
#define SHMS_VERSION_STRING	"0.1.0"

/* Default root of all state directories; overridden by $SHMSTATE_DIR. */
#define SHMS_DEFAULT_DIR	"/dev/shm/shmstate"

/*
 * Bounds. Service, segment and layout names are 1..SHMS_NAME_MAX bytes of
 * [A-Za-z0-9_.-], do not start with '.', and contain no "..".
 */
#define SHMS_NAME_MAX		63
#define SHMS_BUILDID_MAX	63
#define SHMS_MAX_SEGMENTS	4096		/* per checkpoint */
#define SHMS_SEG_MAX_SIZE	(UINT64_C(1) << 44)	/* 16 TiB payload */
#define SHMS_DETAIL_MAX		256

/*
 * Library error codes. All below -4095 so they never collide with -errno.
 */
enum shms_error {
	SHMS_ENOSTATE	= -4100,	/* no committed checkpoint */
	SHMS_ELAYOUT	= -4101,	/* layout name differs from expected */
	SHMS_EVERSION	= -4102,	/* layout version differs from expected */
	SHMS_EMAGIC	= -4103,	/* not a shmstate segment (bad magic) */
	SHMS_EFORMAT	= -4104,	/* unsupported on-shm format version */
	SHMS_EHDRSUM	= -4105,	/* header checksum mismatch */
	SHMS_ESUM	= -4106,	/* payload checksum mismatch */
	SHMS_ETRUNC	= -4107,	/* segment file shorter than its header says */
	SHMS_EMISSING	= -4108,	/* listed in the manifest but missing */
	SHMS_ELOCKED	= -4109,	/* state owned by another live process */
	SHMS_EFOREIGN	= -4110,	/* file or directory owned by another uid */
	SHMS_ESYMLINK	= -4111,	/* a symlink where a file was expected */
	SHMS_ENAME	= -4112,	/* invalid service, segment or layout name */
	SHMS_ECORRUPT	= -4113,	/* malformed header, manifest or metadata */
	SHMS_EDIRTY	= -4114,	/* arena left live by an owner that died */
	SHMS_ESTATE	= -4115,	/* segment in the wrong state for the call */
	SHMS_ENOSPACE	= -4116,	/* arena full */
	SHMS_ELIMIT	= -4117,	/* a compile-time bound was exceeded */
	SHMS_EPERMS	= -4118,	/* unsafe permissions: group/world
					   access, or a file with hard links */
	SHMS_ENOTFOUND	= -4119,	/* no such segment in this checkpoint */
	SHMS_EPROTO	= -4120,	/* malformed message (notify, handoff) */
};

/*
 * Returns a static string for any code this library returns: 0, -errno or
 * SHMS_E*. Never NULL.
 */
SHMS_EXPORT const char *shms_strerror(int code);

/* ------------------------------------------------------------------ */
/* Services                                                            */
/* ------------------------------------------------------------------ */

/*
 * A service's state directory, $SHMSTATE_DIR/<service>/ (0700). Opening it
 * for writing takes the service's exclusive owner lock.
 */
struct shms_svc;

#define SHMS_SVC_RDONLY	0x1u	/* inspect only: no lock, never writes */
#define SHMS_SVC_NOCREATE 0x2u	/* fail with -ENOENT if the dir is missing */

/*
 * Opens (creating if needed, mode 0700) the state directory of `service'
 * under `root' (NULL: $SHMSTATE_DIR, or SHMS_DEFAULT_DIR). Without
 * SHMS_SVC_RDONLY the caller becomes the service's one live owner: a
 * second owner gets SHMS_ELOCKED (the detail names the holder's pid).
 * Directories not owned by the caller's uid give SHMS_EFOREIGN; group or
 * world writable ones SHMS_EPERMS; a symlink SHMS_ESYMLINK.
 * On success *out is set; release with shms_svc_close().
 */
SHMS_EXPORT int shms_svc_open(struct shms_svc **out, const char *root,
    const char *service, unsigned flags);

/*
 * As shms_svc_open(); on failure, when detail is not NULL, also writes the
 * human detail (e.g. "/dev/shm/shmstate/kv: locked by pid 1234") into
 * detail (size bytes, NUL-terminated), since no handle exists to hold it.
 */
SHMS_EXPORT int shms_svc_open_detail(struct shms_svc **out, const char *root,
    const char *service, unsigned flags, char *detail, size_t size);

/*
 * Releases the lock and the handle. Returns -EBUSY (and closes nothing)
 * while a checkpoint, adoption or arena opened on it is still open.
 * NULL is a no-op returning 0.
 */
SHMS_EXPORT int shms_svc_close(struct shms_svc *svc);

/* Absolute path of the service directory; valid until close. */
SHMS_EXPORT const char *shms_svc_path(const struct shms_svc *svc);

/*
 * Human detail of the last error returned by a call on this service or on
 * any object opened from it ("…/ckpt.0000000000000002.kv: payload checksum
 * 0x… expected 0x…"). Empty string when there is none. Valid until the next
 * call on the same service; not thread-safe across threads sharing it.
 */
SHMS_EXPORT const char *shms_errdetail(const struct shms_svc *svc);

/*
 * Sets the writer build id recorded in every segment header written from
 * now on (1..SHMS_BUILDID_MAX printable bytes). Default: the GNU build-id
 * of the main executable in hex, or "unknown".
 */
SHMS_EXPORT int shms_svc_set_build_id(struct shms_svc *svc, const char *id);

/*
 * Owner of the service's lock: *pid is the pid recorded by the last owner
 * (0 if none ever), *alive is 1 if the lock is held now.
 */
SHMS_EXPORT int shms_svc_owner(struct shms_svc *svc, pid_t *pid, int *alive);

/* Returns 0 if `name' is a valid service/segment/layout name, SHMS_ENAME if not. */
SHMS_EXPORT int shms_name_valid(const char *name);

/* ------------------------------------------------------------------ */
/* Segment metadata                                                    */
/* ------------------------------------------------------------------ */

enum shms_seg_state {
	SHMS_STATE_CREATING	= 1,	/* being written; not yet sealed */
	SHMS_STATE_LIVE		= 2,	/* arena owned by a running process */
	SHMS_STATE_CLEAN	= 3,	/* sealed; safe to adopt */
	SHMS_STATE_CONSUMED	= 4,	/* adopter released pages; not adoptable */
};

enum shms_seg_kind {
	SHMS_KIND_CKPT	= 1,	/* copy-mode checkpoint segment */
	SHMS_KIND_ARENA	= 2,	/* zero-copy arena (or arena chunk) */
};

/* A plain copy of a validated segment header. */
struct shms_seg_info {
	char		name[SHMS_NAME_MAX + 1];
	char		layout[SHMS_NAME_MAX + 1];
	char		build_id[SHMS_BUILDID_MAX + 1];
	uint32_t	layout_version;
	uint32_t	format;		/* on-shm format version */
	int		kind;		/* enum shms_seg_kind */
	int		state;		/* enum shms_seg_state */
	uint32_t	flags;		/* on-shm flags, see libshmstate(3) */
	uint32_t	page_size;	/* page size of the backing mapping */
	uint64_t	generation;
	uint64_t	payload_off;
	uint64_t	payload_len;
	uint64_t	payload_xxh3;
	uint64_t	hdr_xxh3;
	int64_t		owner_pid;
	uint64_t	ctime_ns;	/* CLOCK_REALTIME ns at creation */
	uint64_t	seal_ns;	/* CLOCK_REALTIME ns at seal; 0 if unsealed */
	uint64_t	file_size;	/* st_size of the file */
};

/* ------------------------------------------------------------------ */
/* Checkpoint (copy mode)                                              */
/* ------------------------------------------------------------------ */

struct shms_ckpt;
struct shms_seg;

/*
 * Begins a checkpoint of a service opened for writing. Segments written
 * into it are invisible to adopters until shms_ckpt_commit() renames the
 * new manifest into place. flags must be 0.
 */
SHMS_EXPORT int shms_ckpt_begin(struct shms_svc *svc, unsigned flags,
    struct shms_ckpt **out);

/*
 * Creates segment `name' (unique within the checkpoint) holding data of the
 * application's layout `layout' at `layout_version'. size_hint (may be 0)
 * pre-sizes it; segments grow as needed. The returned handle belongs to the
 * checkpoint: close it with shms_seg_close() or let commit/abort do it.
 * Safe to call from several threads; each segment handle must be used by
 * one thread at a time.
 */
SHMS_EXPORT int shms_ckpt_seg_create(struct shms_ckpt *ck, const char *name,
    const char *layout, uint32_t layout_version, uint64_t size_hint,
    struct shms_seg **out);

/* Appends len bytes, checksumming as it copies. */
SHMS_EXPORT int shms_seg_write(struct shms_seg *seg, const void *buf,
    size_t len);

/*
 * Reserves len bytes at the end of the payload and sets *ptr to them, so
 * the caller can serialize in place. The pointer is valid until the next
 * write, reserve or close on this segment. shms_seg_commit(seg, n) with
 * n <= len appends the first n bytes; a reserve without commit adds
 * nothing.
 */
SHMS_EXPORT int shms_seg_reserve(struct shms_seg *seg, size_t len, void **ptr);
SHMS_EXPORT int shms_seg_commit(struct shms_seg *seg, size_t len);

/*
 * Commits the checkpoint: seals every segment, writes the manifest (every
 * segment's size, checksum and the generation) and renames it into place,
 * then removes the previous generation unless SHMS_CKPT_KEEP_OLD.
 * The handle is freed whatever the result; on failure the previous
 * committed checkpoint is untouched and the new files are removed.
 * The rename is the commit point: once it succeeded this returns 0. If
 * the directory fsync after it fails, the older generations are kept
 * (the next commit removes them) instead of failing a done commit.
 * *generation (may be NULL) receives the committed generation.
 */
#define SHMS_CKPT_KEEP_OLD	0x1u
SHMS_EXPORT int shms_ckpt_commit(struct shms_ckpt *ck, unsigned flags,
    uint64_t *generation);

/* Abandons the checkpoint and removes its files. NULL is a no-op. */
SHMS_EXPORT void shms_ckpt_abort(struct shms_ckpt *ck);

/* ------------------------------------------------------------------ */
/* Adopt                                                               */
/* ------------------------------------------------------------------ */

struct shms_adopt;

/*
 * Opens the last committed checkpoint of a service opened for writing.
 * SHMS_ENOSTATE if there is none. flags must be 0.
 */
SHMS_EXPORT int shms_adopt_begin(struct shms_svc *svc, unsigned flags,
    struct shms_adopt **out);

SHMS_EXPORT uint64_t shms_adopt_generation(const struct shms_adopt *ad);
SHMS_EXPORT size_t shms_adopt_count(const struct shms_adopt *ad);

/*
 * Fills *info for manifest entry i (0 <= i < count) from the manifest; the
 * segment file itself is not opened.
 */
SHMS_EXPORT int shms_adopt_entry(const struct shms_adopt *ad, size_t i,
    struct shms_seg_info *info);

/* Verification levels for shms_adopt_seg_open(). */
enum shms_verify {
	SHMS_VERIFY_HEADER	= 0,	/* header, sizes, manifest agreement */
	SHMS_VERIFY_FULL	= 1,	/* plus payload checksum, before return */
	SHMS_VERIFY_STREAM	= 2,	/* payload checksum checked by
					 * shms_seg_read(): the read that
					 * reaches the end returns SHMS_ESUM on
					 * a mismatch */
};

/*
 * Opens and maps (read-only) segment `name' of the adopted checkpoint.
 * layout must match exactly (SHMS_ELAYOUT) and layout_version too
 * (SHMS_EVERSION); pass layout NULL to accept any. The handle belongs to
 * the adoption; close it with shms_seg_close() or let finish do it.
 */
SHMS_EXPORT int shms_adopt_seg_open(struct shms_adopt *ad, const char *name,
    const char *layout, uint32_t layout_version, enum shms_verify verify,
    struct shms_seg **out);

/*
 * The whole payload, mapped read-only: valid until the segment is closed.
 * Pages released with shms_seg_release() read as zeros.
 */
SHMS_EXPORT int shms_seg_data(struct shms_seg *seg, const void **data,
    uint64_t *len);

/*
 * Copies up to len bytes from the read cursor into buf; *got receives the
 * count (0 at end). Returns 0, or SHMS_ESUM at the end of a
 * SHMS_VERIFY_STREAM segment whose checksum does not match.
 */
SHMS_EXPORT int shms_seg_read(struct shms_seg *seg, void *buf, size_t len,
    size_t *got);

/*
 * Gives back the memory of payload range [off, off+len) of an adopted
 * segment once consumed (punches the pages out of the file), so adopting
 * does not need twice the state's memory. The first release marks the
 * segment consumed: it can no longer be adopted again.
 * SHMS_RELEASE_READ additionally releases everything shms_seg_read() has
 * consumed so far (off and len are ignored).
 */
#define SHMS_RELEASE_READ	0x1u
SHMS_EXPORT int shms_seg_release(struct shms_seg *seg, uint64_t off,
    uint64_t len, unsigned flags);

/* Header info of an open segment (checkpoint or adopted). */
SHMS_EXPORT int shms_seg_info(const struct shms_seg *seg,
    struct shms_seg_info *info);

/*
 * Closes a segment handle. For a checkpoint segment this seals it (final
 * checksum, exact size) and may be done from the writing thread. NULL is a
 * no-op.
 */
SHMS_EXPORT int shms_seg_close(struct shms_seg *seg);

/*
 * Ends an adoption: closes its segments, then removes the adopted
 * generation (segments and manifest) unless SHMS_ADOPT_KEEP. The handle
 * is freed whatever the result. ad NULL is -EINVAL, not a no-op: it
 * reports what was removed, and nothing was (shms_adopt_abort(NULL) is).
 */
#define SHMS_ADOPT_KEEP		0x1u
SHMS_EXPORT int shms_adopt_finish(struct shms_adopt *ad, unsigned flags);

/* Ends an adoption leaving every file as it is. NULL is a no-op. */
SHMS_EXPORT void shms_adopt_abort(struct shms_adopt *ad);

/* ------------------------------------------------------------------ */
/* Inspection (shmctl)                                                 */
/* ------------------------------------------------------------------ */

/*
 * These calls read files that another process wrote, maybe a hostile one:
 * headers are copied out and validated, payloads are read with pread(2)
 * (a file truncated meanwhile gives SHMS_ETRUNC, not SIGBUS), symlinks are
 * never followed, and a bad file is reported in its entry, never fatal to
 * the walk. They work on a service opened SHMS_SVC_RDONLY unless stated.
 */

/* How a file in a service directory relates to the committed state. */
enum shms_entry_status {
	SHMS_ENT_COMMITTED	= 1,	/* listed in the current manifest */
	SHMS_ENT_UNCOMMITTED	= 2,	/* newer generation, never committed */
	SHMS_ENT_SUPERSEDED	= 3,	/* older generation */
	SHMS_ENT_ARENA		= 4,	/* an arena segment (or chunk) */
	SHMS_ENT_FOREIGN	= 5,	/* unknown or invalid file */
};

/*
 * One file of a service directory, as shms_svc_list() sees it. status
 * comes from the file name and the manifest (ckpt.<gen>.<name> files of
 * the committed generation that the manifest lists are COMMITTED; others
 * of a newer generation, or with no valid manifest, UNCOMMITTED; older
 * ones SUPERSEDED; arena.* and files whose header says arena ARENA;
 * anything else FOREIGN); error says whether the file itself is sound
 * (header, size, name and manifest agreement), so a committed segment can
 * be COMMITTED and broken. Special cases:
 *  - a segment the manifest lists but whose file is missing: status
 *    COMMITTED, error SHMS_EMISSING, info filled from the manifest;
 *  - "manifest.tmp" (an interrupted commit): UNCOMMITTED, SHMS_EMAGIC;
 *  - "manifest" itself appears only when it is invalid: COMMITTED with
 *    the reason in error (the committed state is then unknown, and
 *    shms_svc_gc() refuses to run);
 *  - "lock" and "control.sock" never appear.
 */
struct shms_entry {
	char			file[2 * SHMS_NAME_MAX + 32]; /* name in dir */
	int			status;	/* enum shms_entry_status */
	int			error;	/* 0, or why the file is not sound */
	char			detail[SHMS_DETAIL_MAX]; /* when error != 0 */
	struct shms_seg_info	info;	/* valid when error == 0; file_size
					 * is set whenever the file exists */
};

/*
 * Calls cb for each file of the service, in name order (strcmp); a
 * non-zero return from cb stops the walk and is returned. Directories
 * holding more than 65536 entries give SHMS_ELIMIT.
 */
typedef int (*shms_entry_cb)(const struct shms_entry *e, void *arg);
SHMS_EXPORT int shms_svc_list(struct shms_svc *svc, shms_entry_cb cb,
    void *arg);

/*
 * Calls cb(name, arg) for each service directory under root (NULL:
 * $SHMSTATE_DIR, else SHMS_DEFAULT_DIR), in name order; entries that are
 * not directories or not valid names are skipped. -ENOENT if root does not
 * exist; a non-zero return from cb stops the walk and is returned.
 */
typedef int (*shms_service_cb)(const char *service, void *arg);
SHMS_EXPORT int shms_list_services(const char *root, shms_service_cb cb,
    void *arg);

/* Summary of a service's committed manifest. */
struct shms_manifest_info {
	char		service[SHMS_NAME_MAX + 1];
	char		build_id[SHMS_BUILDID_MAX + 1];
	uint64_t	generation;
	uint64_t	ctime_ns;	/* CLOCK_REALTIME ns at commit */
	uint32_t	count;		/* segments listed */
};

/*
 * Reads and validates the service's committed manifest into *out.
 * SHMS_ENOSTATE if there is none, SHMS_ECORRUPT/SHMS_EFORMAT/... if it is
 * invalid (see shms_errdetail()).
 */
SHMS_EXPORT int shms_svc_manifest(struct shms_svc *svc,
    struct shms_manifest_info *out);

/*
 * Re-validates file `file' of the service (as shms_svc_list() would) and
 * recomputes its payload checksum when the header carries one. A segment
 * still being written, or whose pages an adopter released, gives
 * SHMS_ESTATE; a live arena whose owner died SHMS_EDIRTY; a live arena
 * with a live owner is checked up to its header only. "manifest" checks
 * the manifest. progress (may be NULL) is called now and then with bytes
 * done and total.
 */
typedef void (*shms_progress_cb)(uint64_t done, uint64_t total, void *arg);
SHMS_EXPORT int shms_svc_verify(struct shms_svc *svc, const char *file,
    shms_progress_cb progress, void *arg);

/*
 * Removes file `file' of the service (a service opened for writing, so
 * the caller holds the lock; -EBADF otherwise). SHMS_ENOTFOUND if absent.
 * Never follows a symlink (the link itself is removed); "lock" is refused
 * with -EINVAL. Removing a committed segment breaks that checkpoint.
 */
SHMS_EXPORT int shms_svc_remove(struct shms_svc *svc, const char *file);

/*
 * Removes uncommitted and superseded generations (the leftovers of
 * writers that died, since a live writer would hold the lock), stale
 * temporary manifests and symlinks planted under checkpoint names. Keeps
 * committed segments, arenas and unknown files. cb (may be NULL) is told
 * each removed file; a non-zero return stops and is returned. Needs a
 * service opened for writing (-EBADF otherwise); refuses while the
 * manifest is invalid (its error), since the committed state is unknown.
 * Returns the number of files removed.
 */
SHMS_EXPORT int shms_svc_gc(struct shms_svc *svc, shms_entry_cb cb,
    void *arg);

/*
 * Streams the payload of file `file' to fd (shmctl dump), checking the
 * header first; when the header carries a payload checksum it is
 * recomputed while copying and a mismatch returns SHMS_ESUM after
 * everything was written.
 */
SHMS_EXPORT int shms_svc_dump(struct shms_svc *svc, const char *file, int fd);

/* ------------------------------------------------------------------ */
/* Arenas (zero copy)                                                  */
/* ------------------------------------------------------------------ */

/*
 * An arena is a segment file "arena.<name>" in the service directory that
 * holds the application's long-lived structures in place, with an
 * allocator inside it. References are byte offsets from the arena base
 * (uint64_t, 0 = null), never pointers, so the arena works at whatever
 * address a later process maps it: adopting needs no copy and no pointer
 * fix-up pass, and costs the same at 1 MiB or 8 GiB. See shms_arena(3).
 *
 * States: live (owned by the process that created or adopted it) and
 * clean (sealed at a planned stop). A live arena found by a new owner was
 * left by a process that died or did not seal it: it is dirty and refused
 * with SHMS_EDIRTY unless SHMS_ARENA_ADOPT_DIRTY.
 *
 * Creating and adopting need a service opened for writing (-EBADF
 * otherwise); the arena attaches to it, so shms_svc_close() says -EBUSY
 * until the arena is sealed, closed or destroyed. Error details go to the
 * service (shms_errdetail()).
 */
struct shms_arena;

/*
 * The first members of every struct shms_arena, read by the inline
 * helpers below; the rest of the handle is private. base never changes
 * while the arena is open (growth maps more pages after it); size grows.
 */
struct shms_arena_view {
	char		*base;	/* offset 0; offsets are relative to it */
	uint64_t	 size;	/* payload bytes mapped now */
};

#define SHMS_ARENA_MAX_SIZE	(UINT64_C(1) << 42)	/* 4 TiB */
#define SHMS_ARENA_SMALL_MAX	32768	/* larger requests are whole pages */

/* Flags. Each call rejects bits it does not take with -EINVAL. */
#define SHMS_ARENA_THREADSAFE	0x01u	/* create, adopt: allocator calls
					 * from several threads (a mutex) */
#define SHMS_ARENA_NOHUGE	0x02u	/* create: 4 KiB layout even on a
					 * huge-page filesystem */
#define SHMS_ARENA_ADOPT_DIRTY	0x04u	/* adopt: accept a dirty arena */
#define SHMS_ARENA_VERIFY	0x08u	/* adopt: check the seal checksum
					 * and walk all metadata; inspect:
					 * full metadata walk */
#define SHMS_ARENA_POPULATE	0x10u	/* adopt: pre-fault the mapping
					 * (cheap with huge pages only) */
#define SHMS_ARENA_SUM		0x20u	/* seal: checksum the payload */
#define SHMS_ARENA_KEEPMAP	0x40u	/* seal: leave the unmapping to exit(2)
					 * (a process about to exit: unmapping
					 * a big arena of 4 KiB pages costs
					 * ~80 ms/GiB, which exit then overlaps
					 * with the successor's start) */

/*
 * Creates arena `name' of the application's `layout' at `layout_version'
 * with size payload bytes (rounded up to the page, or to 2 MiB when the
 * state directory is on huge pages), backed by memory now, so a full
 * tmpfs fails here (-ENOSPC) rather than later. max_size > size makes it
 * growable up to max_size (0: not growable); the whole range is reserved
 * in the address space, so references stay valid as it grows. The
 * allocator metadata takes 8 KiB plus 1/1024 of max_size.
 * -EEXIST if the arena exists, SHMS_ELIMIT above SHMS_ARENA_MAX_SIZE,
 * -EINVAL if size cannot hold the metadata. The new arena is live, owned
 * by the caller, with no root. On success *out is set.
 */
SHMS_EXPORT int shms_arena_create(struct shms_svc *svc, const char *name,
    const char *layout, uint32_t layout_version, uint64_t size,
    uint64_t max_size, unsigned flags, struct shms_arena **out);

/*
 * Adopts arena `name' in place: maps it, validates its header and
 * allocator metadata (bounded walks of every free list), and makes it
 * live under the caller (header rewritten, generation bumped) before
 * returning. layout must match (SHMS_ELAYOUT) and layout_version too
 * (SHMS_EVERSION); layout NULL accepts any. Errors: SHMS_ENOTFOUND,
 * SHMS_EDIRTY (live, owner gone; see SHMS_ARENA_ADOPT_DIRTY), SHMS_ELOCKED
 * (open in another handle), SHMS_ESTATE, SHMS_ETRUNC (file shorter than
 * the arena), SHMS_ECORRUPT (metadata; detail says which), SHMS_ESUM
 * (with SHMS_ARENA_VERIFY, sealed with SHMS_ARENA_SUM, checksum wrong),
 * and the header errors of shms_adopt_seg_open(). On success *out is set.
 */
SHMS_EXPORT int shms_arena_adopt(struct shms_svc *svc, const char *name,
    const char *layout, uint32_t layout_version, unsigned flags,
    struct shms_arena **out);

/*
 * Allocation. *off receives a 16-byte aligned offset of at least size
 * usable bytes (calloc: zeroed; n * size overflow is -EINVAL).
 * SHMS_ENOSPACE when the arena (grown to max_size) cannot hold it; the
 * arena is unchanged. SHMS_ECORRUPT when allocator metadata turns out
 * damaged. Without SHMS_ARENA_THREADSAFE the caller serializes calls.
 */
SHMS_EXPORT int shms_arena_alloc(struct shms_arena *a, size_t size,
    uint64_t *off);
SHMS_EXPORT int shms_arena_calloc(struct shms_arena *a, size_t n,
    size_t size, uint64_t *off);

/*
 * Resizes allocation off (0: like alloc) to size bytes, keeping the
 * contents up to the smaller size; *out receives the possibly moved
 * offset (size 0 frees it and sets *out to 0). On failure off is intact.
 */
SHMS_EXPORT int shms_arena_realloc(struct shms_arena *a, uint64_t off,
    size_t size, uint64_t *out);

/*
 * Frees allocation off; 0 is a no-op. -EINVAL for an offset that is not
 * a live allocation (detected for foreign offsets and most double frees).
 */
SHMS_EXPORT int shms_arena_free(struct shms_arena *a, uint64_t off);

/* Usable size of live allocation off into *size. */
SHMS_EXPORT int shms_arena_usable_size(struct shms_arena *a, uint64_t off,
    size_t *size);

/*
 * The root reference, stored in the arena: what a later adopter starts
 * from. root_set takes 0 or a live allocation's offset (-EINVAL else).
 */
SHMS_EXPORT int shms_arena_root_set(struct shms_arena *a, uint64_t off);
SHMS_EXPORT uint64_t shms_arena_root(const struct shms_arena *a);

/* Base address (valid until seal/close/destroy) and mapped payload size. */
SHMS_EXPORT void *shms_arena_base(const struct shms_arena *a);
SHMS_EXPORT uint64_t shms_arena_size(const struct shms_arena *a);

struct shms_arena_stats {
	uint64_t	size;		/* payload bytes backed now */
	uint64_t	max_size;	/* it may grow to */
	uint64_t	meta_bytes;	/* allocator metadata and page map */
	uint64_t	nallocs;	/* live allocations */
	uint64_t	in_use;		/* their usable bytes */
	uint64_t	free_bytes;	/* in free page spans */
	uint64_t	slab_bytes;	/* pages carved into small objects */
	uint64_t	large_bytes;	/* pages of large allocations */
	uint64_t	largest_free;	/* longest free span (inspect with
					 * SHMS_ARENA_VERIFY only, else 0) */
	double		fragmentation;	/* 1 - in_use / (slab + large) */
	uint64_t	root;		/* 0 if unset */
	uint64_t	generation;	/* bumped by every adopt */
	int64_t		owner_pid;	/* 0 when clean */
	int		state;		/* enum shms_seg_state */
	int		owner_alive;	/* inspect: live and owner running */
	uint32_t	page_size;	/* 4096 or 2 MiB (huge pages) */
	uint32_t	layout_version;
	char		layout[SHMS_NAME_MAX + 1];
};

/* Counters of an open arena (O(1), no walk). */
SHMS_EXPORT int shms_arena_stats(struct shms_arena *a,
    struct shms_arena_stats *st);

/*
 * Read-only inspection of arena file `file' ("arena.<name>") of a service
 * opened in any mode, for shmctl: header and allocator counters. Unless
 * the arena is live with a running owner (whose metadata moves under us),
 * the allocator metadata is validated: the free lists, or with
 * SHMS_ARENA_VERIFY every page, slab and counter, plus the seal checksum
 * if there is one. Errors as for adopt, except that a dirty arena is
 * inspected (state live, owner_alive 0) rather than refused. The file is
 * mapped, not pread: truncating it meanwhile (only another process of the
 * same uid could) raises SIGBUS in the inspector. shmctl(1) catches it and
 * reports the arena as truncated; another caller that may meet such a
 * truncation must catch SIGBUS itself.
 */
SHMS_EXPORT int shms_arena_inspect(struct shms_svc *svc, const char *file,
    unsigned flags, struct shms_arena_stats *st);

/*
 * Planned stop: marks the arena clean (with SHMS_ARENA_SUM, after
 * checksumming the payload, which adopt verifies under
 * SHMS_ARENA_VERIFY), unmaps it (unless SHMS_ARENA_KEEPMAP: the mapping
 * then stays until the process exits, and must not be touched) and frees
 * the handle whatever the result.
 * Every pointer into it becomes invalid. Other threads must be done
 * with it. NULL is a no-op.
 */
SHMS_EXPORT int shms_arena_seal(struct shms_arena *a, unsigned flags);

/*
 * Unmaps and frees the handle leaving the arena live: the next adopter
 * sees it dirty, as after a crash. NULL is a no-op.
 */
SHMS_EXPORT int shms_arena_close(struct shms_arena *a);

/* Removes the arena's file, then closes the handle. NULL is a no-op. */
SHMS_EXPORT int shms_arena_destroy(struct shms_arena *a);

/*
 * Removes arena `name' that is not open (e.g. a dirty one before a cold
 * start). SHMS_ENOTFOUND if absent; needs a service opened for writing.
 */
SHMS_EXPORT int shms_arena_remove(struct shms_svc *svc, const char *name);

/*
 * References to pointers and back. A pointer is valid while the arena is
 * open; an offset forever. In builds without NDEBUG an offset outside the
 * mapped payload, or a pointer outside the arena, fails an assert. For a
 * tight loop, keep base = shms_arena_base(a) and add offsets to it.
 */
static inline void *
shms_arena_ptr(const struct shms_arena *a, uint64_t off)
{
	const struct shms_arena_view *v = (const struct shms_arena_view *)
	    (const void *)a;

#ifdef __GNUC__
	assert(off < __atomic_load_n(&v->size, __ATOMIC_RELAXED));
#else
	assert(off < v->size);
#endif
	return off == 0 ? NULL : v->base + off;
}

static inline uint64_t
shms_arena_off(const struct shms_arena *a, const void *p)
{
	const struct shms_arena_view *v = (const struct shms_arena_view *)
	    (const void *)a;

	if (p == NULL)
		return 0;
#ifdef __GNUC__
	assert((const char *)p > v->base && (uint64_t)((const char *)p -
	    v->base) < __atomic_load_n(&v->size, __ATOMIC_RELAXED));
#else
	assert((const char *)p > v->base &&
	    (uint64_t)((const char *)p - v->base) < v->size);
#endif
	return (uint64_t)((const char *)p - v->base);
}

/* Typed reference: SHMS_REF(a, struct node, off)->next ... */
#define SHMS_REF(a, type, off)	((type *)shms_arena_ptr((a), (off)))


/* ------------------------------------------------------------------ */
/* Supervisor protocol helpers                                         */
/* ------------------------------------------------------------------ */
/*
 * The systemd socket-activation and sd_notify protocols, spoken without
 * libsystemd, so a service runs unchanged under shmsupervise(8) and under
 * systemd. See shms_notify(3).
 */

#define SHMS_LISTEN_FDS_START	3	/* first passed fd (SD_LISTEN_FDS_START) */
#define SHMS_LISTEN_FDS_MAX	16384	/* LISTEN_FDS above this is malformed
					 * (room for handed-over connections) */
#define SHMS_FDNAME_MAX		255	/* bytes of one fd name (FDNAME=) */
#define SHMS_NOTIFY_MAX		4096	/* bytes of one notify datagram */
#define SHMS_NOTIFY_FDS_MAX	253	/* fds in one notify datagram (SCM_MAX_FD) */
#define SHMS_STATUS_MAX		255	/* bytes of STATUS= kept by the parser */

/* One fd passed with the socket-activation protocol. */
struct shms_listen_fd {
	int	fd;				/* 3, 4, ... */
	char	name[SHMS_FDNAME_MAX + 1];	/* from LISTEN_FDNAMES, or "unknown" */
};

#define SHMS_LISTEN_UNSETENV	0x1u	/* unset LISTEN_PID/FDS/FDNAMES after */

/*
 * Collects the fds passed to this process: when $LISTEN_PID equals
 * getpid(), fds SHMS_LISTEN_FDS_START .. +$LISTEN_FDS-1, named from
 * $LISTEN_FDNAMES (':'-separated; missing names are "unknown"). Each fd is
 * set FD_CLOEXEC so it does not leak into programs the service runs.
 * Up to max entries are written to fds (may be NULL when max is 0).
 * Returns the number of fds passed (0 when none were passed to this
 * process), SHMS_ELIMIT when there are more than max, SHMS_EPROTO when
 * the variables are malformed (bad number, more than SHMS_LISTEN_FDS_MAX,
 * name count differing from the fd count, a name too long or with bytes
 * other than printable ASCII, an fd that is not open), -EINVAL for an
 * unknown flag. With SHMS_LISTEN_UNSETENV the three variables are
 * removed on success (setenv(3) is not thread-safe: call it early).
 * fds are written only on success.
 */
SHMS_EXPORT int shms_listen_fds(struct shms_listen_fd *fds, size_t max,
    unsigned flags);

/*
 * Returns the first passed fd named `name' (>= SHMS_LISTEN_FDS_START),
 * SHMS_ENOTFOUND when there is none (or nothing was passed), or the
 * errors of shms_listen_fds(). Sets FD_CLOEXEC on it; unsets nothing.
 */
SHMS_EXPORT int shms_listen_fd(const char *name);

/*
 * As shms_listen_fds() with an array of the right size, allocated: *fdsp
 * is set to it (free(3) it; NULL when nothing was passed). Returns the
 * count or the errors of shms_listen_fds().
 */
SHMS_EXPORT int shms_listen_fds_alloc(struct shms_listen_fd **fdsp,
    unsigned flags);

/*
 * Sends `state' (newline-separated VAR=VALUE assignments: "READY=1",
 * "STATUS=...", "STOPPING=1", "MAINPID=...", "ERRNO=...", "FDSTORE=1",
 * "FDNAME=...") as one datagram to $NOTIFY_SOCKET (a path, or '@' for an
 * abstract name). Returns 1 when sent, 0 when $NOTIFY_SOCKET is unset or
 * empty (not supervised: nothing to do), -EINVAL for an empty state or a
 * bad socket address, -EMSGSIZE when state is longer than
 * SHMS_NOTIFY_MAX, or -errno from socket(2)/sendmsg(2).
 */
SHMS_EXPORT int shms_notify(const char *state);

/* As shms_notify(), formatting state with printf(3) rules. */
SHMS_EXPORT int shms_notifyf(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/*
 * As shms_notify(), passing nfds (1..SHMS_NOTIFY_FDS_MAX) fds along with
 * SCM_RIGHTS, for the fd store: "FDSTORE=1\nFDNAME=conn" hands fds to the
 * supervisor, which passes them back on the next start through
 * LISTEN_FDS/LISTEN_FDNAMES. The caller keeps its own fds open.
 * -EINVAL if nfds is 0 or over the limit or an fd is negative.
 */
SHMS_EXPORT int shms_notify_with_fds(const char *state, const int *fds,
    size_t nfds);

/* Fields seen by shms_notify_parse(), in shms_notify_msg.seen. */
#define SHMS_NOTIFY_READY	0x001u	/* READY=1 */
#define SHMS_NOTIFY_STOPPING	0x002u	/* STOPPING=1 */
#define SHMS_NOTIFY_RELOADING	0x004u	/* RELOADING=1 */
#define SHMS_NOTIFY_STATUS	0x008u	/* STATUS=text */
#define SHMS_NOTIFY_ERRNO	0x010u	/* ERRNO=n */
#define SHMS_NOTIFY_MAINPID	0x020u	/* MAINPID=pid */
#define SHMS_NOTIFY_FDSTORE	0x040u	/* FDSTORE=1 */
#define SHMS_NOTIFY_FDNAME	0x080u	/* FDNAME=name */
#define SHMS_NOTIFY_WATCHDOG	0x100u	/* WATCHDOG=1 */
#define SHMS_NOTIFY_CKPT_US	0x200u	/* X_SHMS_CHECKPOINT_US=n */
#define SHMS_NOTIFY_ADOPT_US	0x400u	/* X_SHMS_ADOPT_US=n */
#define SHMS_NOTIFY_FDSTOREREMOVE 0x800u /* FDSTOREREMOVE=1 */
#define SHMS_NOTIFY_CONNS_TAKEN	0x1000u	/* X_SHMS_CONNS_TAKEN=n */

/* A parsed notify datagram. */
struct shms_notify_msg {
	unsigned	seen;		/* SHMS_NOTIFY_* bits */
	int		errnum;		/* ERRNO= */
	pid_t		mainpid;	/* MAINPID= */
	uint64_t	ckpt_us;	/* X_SHMS_CHECKPOINT_US=: the service's own
					 * checkpoint time at its stop, in us */
	uint64_t	adopt_us;	/* X_SHMS_ADOPT_US=: its adopt time, us */
	uint32_t	conns_taken;	/* X_SHMS_CONNS_TAKEN=: handed-over
					 * connections it took (shms_handoff(3)) */
	char		status[SHMS_STATUS_MAX + 1];	/* STATUS=, truncated */
	char		fdname[SHMS_FDNAME_MAX + 1];	/* FDNAME= */
};

/*
 * Parses one notify datagram of len bytes (not NUL-terminated; at most
 * SHMS_NOTIFY_MAX) into *msg. Pure: no I/O, no allocation. Lines are
 * VAR=VALUE separated by '\n' (a final '\n' is optional); VAR is
 * [A-Z0-9_]+. Unknown variables are ignored as sd_notify(3) requires;
 * known ones must be well formed (READY, STOPPING, RELOADING, FDSTORE,
 * FDSTOREREMOVE, WATCHDOG: "1"; ERRNO: 0..4095; MAINPID: 1..INT_MAX;
 * FDNAME: 1..SHMS_FDNAME_MAX printable bytes, no ':'; the X_SHMS_*_US
 * numbers: decimal microseconds; X_SHMS_CONNS_TAKEN: 0..SHMS_LISTEN_FDS_MAX). Returns 0, or SHMS_EPROTO for an empty or oversized
 * datagram, a NUL byte, an empty line, a line without '=', a bad VAR, or
 * a malformed known value. *msg is written only on success.
 */
SHMS_EXPORT int shms_notify_parse(const void *buf, size_t len,
    struct shms_notify_msg *msg);

/* ------------------------------------------------------------------ */
/* Connection handoff                                                  */
/* ------------------------------------------------------------------ */
/*
 * Established client connections survive an upgrade: at a request
 * boundary the old process passes each connection's fd, with its unread
 * input, unsent output and an opaque protocol state, to the supervisor's
 * fd store (FDSTORE=1, FDNAME=, SCM_RIGHTS on $NOTIFY_SOCKET); the next
 * process gets them back through LISTEN_FDS/LISTEN_FDNAMES and takes them
 * before READY=1. The per-connection state travels in one sealed memfd
 * (FDNAME=shms-blob), so it survives under systemd's
 * FileDescriptorStoreMax= too, where only fds and names are kept. Records
 * are keyed by the socket's identity (st_dev, st_ino), not by name or
 * order. See shms_handoff(3).
 */

#define SHMS_HANDOFF_CONN_NAME	"shms-conn"	/* FDNAME of a connection */
#define SHMS_HANDOFF_BLOB_NAME	"shms-blob"	/* FDNAME of the state memfd */
#define SHMS_HANDOFF_VERSION	1
#define SHMS_HANDOFF_CONNS_MAX	8192		/* connections in one blob */
#define SHMS_HANDOFF_APP_MAX	256		/* opaque state per connection */
#define SHMS_HANDOFF_DATA_MAX	(4u << 20)	/* input + output per connection */
#define SHMS_HANDOFF_BLOB_MAX	(256u << 20)	/* bytes of one blob */

/* One connection's record in a blob; pointers into the blob. */
struct shms_handoff_rec {
	uint64_t	 dev, ino;	/* fstat(2) of the socket */
	const void	*in;		/* unread input, oldest first */
	const void	*out;		/* output not yet sent */
	const void	*app;		/* the service's own protocol state */
	uint32_t	 inlen, outlen, applen;
};

/*
 * Parses a blob of len bytes (untrusted: from a file descriptor anyone
 * could have stored). Pure: no I/O, no allocation. Format (host byte
 * order, little-endian fields on every supported host): a 32-byte header
 * "SHMSHOFF", XXH3-64 of every byte after the first 16, version, record
 * count, total length; then per record dev, ino, inlen, outlen, applen,
 * flags (0), the three byte strings, padded to 8. Fills up to max records
 * (recs may be NULL when max is 0). Returns the record count,
 * SHMS_ELIMIT when it is more than max, SHMS_EPROTO for a malformed blob
 * (bad magic, length, bounds, padding, a record over
 * SHMS_HANDOFF_DATA_MAX or SHMS_HANDOFF_APP_MAX, trailing bytes),
 * SHMS_EVERSION for another version, SHMS_ESUM for a checksum mismatch.
 */
SHMS_EXPORT int shms_handoff_parse(const void *buf, size_t len,
    struct shms_handoff_rec *recs, size_t max);

/* The old side: a set of connections to hand over. */
struct shms_handoff;

SHMS_EXPORT int shms_handoff_new(struct shms_handoff **hp);
/*
 * Adds connection fd (a socket) with its state. The fd is not closed.
 * -EINVAL for a bad argument or an fd that is not a socket,
 * SHMS_ELIMIT over SHMS_HANDOFF_CONNS_MAX, SHMS_HANDOFF_DATA_MAX,
 * SHMS_HANDOFF_APP_MAX or SHMS_HANDOFF_BLOB_MAX, -ENOMEM.
 */
SHMS_EXPORT int shms_handoff_add(struct shms_handoff *h, int fd,
    const void *in, size_t inlen, const void *out, size_t outlen,
    const void *app, size_t applen);
/*
 * Writes the blob to a sealed memfd and sends it (FDNAME=shms-blob), then
 * the connections (FDNAME=shms-conn, SHMS_NOTIFY_FDS_MAX per datagram) to
 * $NOTIFY_SOCKET. Returns the number of connections sent, 0 when
 * $NOTIFY_SOCKET is unset (nothing sent), or -errno. The caller closes
 * its own fds afterwards either way.
 */
SHMS_EXPORT int shms_handoff_send(struct shms_handoff *h);
SHMS_EXPORT void shms_handoff_free(struct shms_handoff *h);

/* The new side: connections taken from LISTEN_FDS. */
struct shms_handoff_in;

/* Counts of one take, for stats. */
struct shms_handoff_stats {
	uint32_t	handed;		/* records in the blob(s) */
	uint32_t	taken;		/* connections matched to a record */
	uint32_t	closed;		/* closed: no record, not a socket,
					 * or a record without its fd */
	uint32_t	bad_blobs;	/* blobs refused (reason in detail) */
};

/*
 * Takes the handed-over connections out of fds[0..n) (as filled by
 * shms_listen_fds()): every entry named SHMS_HANDOFF_BLOB_NAME is read
 * and parsed (it must be a regular file sealed against writes, at most
 * SHMS_HANDOFF_BLOB_MAX) and closed; every entry named
 * SHMS_HANDOFF_CONN_NAME is matched by its identity to a record: a match
 * is kept in *hp, a socket without a record is shut down and closed
 * (its stream position is unknown). Both kinds get fd -1 in fds, so what
 * is left are the listening sockets. *hp is set even when nothing was
 * handed over. Returns the number of connections taken, or -ENOMEM /
 * -EINVAL (nothing changed then). A bad blob is not an error: its
 * connections are closed and counted.
 */
SHMS_EXPORT int shms_handoff_take(struct shms_handoff_in **hp,
    struct shms_listen_fd *fds, size_t n);
SHMS_EXPORT size_t shms_handoff_count(const struct shms_handoff_in *h);
/*
 * Connection i (< count): its fd (now the caller's) and record (valid
 * until shms_handoff_release()). Returns the fd.
 */
SHMS_EXPORT int shms_handoff_conn(const struct shms_handoff_in *h, size_t i,
    struct shms_handoff_rec *rec);
SHMS_EXPORT void shms_handoff_stats(const struct shms_handoff_in *h,
    struct shms_handoff_stats *st);
/* Why a blob was refused, or "". */
SHMS_EXPORT const char *shms_handoff_detail(const struct shms_handoff_in *h);
/*
 * Tells the fd store that `taken' connections were taken (before
 * READY=1): "FDSTOREREMOVE=1, FDNAME=shms-conn, X_SHMS_CONNS_TAKEN=n",
 * then "FDSTOREREMOVE=1, FDNAME=shms-blob", so systemd does not pass them
 * again; then frees h (NULL is fine). Returns what shms_notify() does.
 */
SHMS_EXPORT int shms_handoff_release(struct shms_handoff_in *h,
    size_t taken);

#ifdef __cplusplus
}
#endif

#endif /* SHMSTATE_H */
