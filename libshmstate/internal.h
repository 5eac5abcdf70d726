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
 * Objects opened from a service (checkpoint, adoption, arena) attach to it
 * so that shms_svc_close() can refuse with -EBUSY while they live.
 * Thread-safe.
 */
void		 shms__svc_attach(struct shms_svc *svc);
void		 shms__svc_detach(struct shms_svc *svc);

/*
 * Records a detail string for the last error and returns code unchanged,
 * so callers can write: return shms__fail(svc, rc, "%s: ...", path);
 */
int		 shms__fail(const struct shms_svc *svc, int code,
		    const char *fmt, ...) SHMS__PRINTF(3, 4);
void		 shms__clear_detail(const struct shms_svc *svc);

/* ---- names (name.c) ---- */

int		 shms__name_valid(const char *name);

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

/* CLOCK_REALTIME in ns. */
uint64_t	 shms__now_ns(void);

/* ---- files (file.c) ---- */

/*
 * Opens name in dirfd refusing symlinks (SHMS_ESYMLINK), non-regular
 * files, files of another uid (SHMS_EFOREIGN) and group/other-accessible
 * modes (SHMS_EPERMS). oflags as for openat (O_NOFOLLOW|O_CLOEXEC added).
 * On success returns the fd and fills *size.
 */
int		 shms__open_checked(int dirfd, const char *name, int oflags,
		    uint64_t *size, char *detail);

/* Creates name with O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC, mode 0600. */
int		 shms__create_excl(int dirfd, const char *name, char *detail);

/*
 * Makes [0, len) of fd backed by memory now (fallocate), so a full tmpfs
 * reports -ENOSPC here instead of SIGBUS on first touch.
 */
int		 shms__reserve(int fd, uint64_t off, uint64_t len);

/* Page size of the filesystem backing fd (4096 or the huge page size). */
uint32_t	 shms__fd_page_size(int fd);

#endif /* SHMS_INTERNAL_H */
