/*
 * handoff.c: connection handoff through the fd store. The old process
 * writes one blob (the state of every connection) to a sealed memfd and
 * sends it and the sockets with FDSTORE=1; the new one finds them in
 * LISTEN_FDS and matches sockets to records by their identity.
 *
 * Blob layout (host byte order):
 *   0  "SHMSHOFF"
 *   8  u64 XXH3-64 of bytes [16, len)
 *  16  u32 version, u32 record count
 *  24  u64 len (whole blob)
 *  32  records: u64 dev, u64 ino, u32 inlen, u32 outlen, u32 applen,
 *      u32 flags (0), then in, out, app bytes, zero-padded to 8.
 */
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xxh.h"

#include "internal.h"

#define HOFF_MAGIC	"SHMSHOFF"
#define HOFF_HDR	32
#define HOFF_REC	32
#define PAD8(n)		(((n) + 7) & ~(size_t)7)

static uint32_t
ld32(const unsigned char *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint64_t
ld64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

int
shms_handoff_parse(const void *buf, size_t len, struct shms_handoff_rec *recs,
    size_t max)
{
	const unsigned char *p = buf, *r;
	uint32_t count, i, inl, outl, appl;
	size_t off, need, k;

	if (buf == NULL || (recs == NULL && max != 0))
		return SHMS_EPROTO;
	if (len < HOFF_HDR || len > SHMS_HANDOFF_BLOB_MAX ||
	    memcmp(p, HOFF_MAGIC, 8) != 0 || ld64(p + 24) != len)
		return SHMS_EPROTO;
	if (ld32(p + 16) != SHMS_HANDOFF_VERSION)
		return SHMS_EVERSION;
	if (XXH3_64bits(p + 16, len - 16) != ld64(p + 8))
		return SHMS_ESUM;
	count = ld32(p + 20);
	if (count > SHMS_HANDOFF_CONNS_MAX)
		return SHMS_EPROTO;
	/* Validate everything before writing a record. */
	for (off = HOFF_HDR, i = 0; i < count; i++) {
		if (len - off < HOFF_REC)
			return SHMS_EPROTO;
		r = p + off;
		inl = ld32(r + 16);
		outl = ld32(r + 20);
		appl = ld32(r + 24);
		if (ld32(r + 28) != 0 || appl > SHMS_HANDOFF_APP_MAX ||
		    inl > SHMS_HANDOFF_DATA_MAX ||
		    outl > SHMS_HANDOFF_DATA_MAX - inl)
			return SHMS_EPROTO;
		need = PAD8((size_t)inl + outl + appl);
		if (len - off - HOFF_REC < need)
			return SHMS_EPROTO;
		/* Padding is zero: one encoding per blob. */
		for (k = (size_t)inl + outl + appl; k < need; k++)
			if (r[HOFF_REC + k] != 0)
				return SHMS_EPROTO;
		off += HOFF_REC + need;
	}
	if (off != len)
		return SHMS_EPROTO;
	if (count > max)
		return SHMS_ELIMIT;
	for (off = HOFF_HDR, i = 0; i < count; i++) {
		r = p + off;
		recs[i].dev = ld64(r);
		recs[i].ino = ld64(r + 8);
		recs[i].inlen = ld32(r + 16);
		recs[i].outlen = ld32(r + 20);
		recs[i].applen = ld32(r + 24);
		recs[i].in = r + HOFF_REC;
		recs[i].out = r + HOFF_REC + recs[i].inlen;
		recs[i].app = r + HOFF_REC + recs[i].inlen + recs[i].outlen;
		off += HOFF_REC + PAD8((size_t)recs[i].inlen + recs[i].outlen +
		    recs[i].applen);
	}
	return (int)count;
}

/* ---- the old side */

struct shms_handoff {
	unsigned char	*buf;		/* the blob being built */
	size_t		 len, cap;
	int		*fds;
	uint32_t	 n;
};

int
shms_handoff_new(struct shms_handoff **hp)
{
	struct shms_handoff *h;

	if (hp == NULL)
		return -EINVAL;
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return -ENOMEM;
	h->cap = 4096;
	if ((h->buf = calloc(1, h->cap)) == NULL ||
	    (h->fds = calloc(SHMS_HANDOFF_CONNS_MAX, sizeof(int))) == NULL) {
		shms_handoff_free(h);
		return -ENOMEM;
	}
	h->len = HOFF_HDR;
	*hp = h;
	return 0;
}

void
shms_handoff_free(struct shms_handoff *h)
{
	if (h == NULL)
		return;
	free(h->buf);
	free(h->fds);
	free(h);
}

int
shms_handoff_add(struct shms_handoff *h, int fd, const void *in, size_t inlen,
    const void *out, size_t outlen, const void *app, size_t applen)
{
	unsigned char *r, *p;
	struct stat st;
	size_t need, ncap;
	uint64_t v64;
	uint32_t v32;

	if (h == NULL || fd < 0 || (in == NULL && inlen != 0) ||
	    (out == NULL && outlen != 0) || (app == NULL && applen != 0))
		return -EINVAL;
	if (fstat(fd, &st) == -1)
		return -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EINVAL;
	if (h->n == SHMS_HANDOFF_CONNS_MAX || applen > SHMS_HANDOFF_APP_MAX ||
	    inlen > SHMS_HANDOFF_DATA_MAX ||
	    outlen > SHMS_HANDOFF_DATA_MAX - inlen)
		return SHMS_ELIMIT;
	need = HOFF_REC + PAD8(inlen + outlen + applen);
	if (need > SHMS_HANDOFF_BLOB_MAX - h->len)
		return SHMS_ELIMIT;
	if (h->len + need > h->cap) {
		for (ncap = h->cap; ncap < h->len + need; ncap *= 2)
			;
		if ((p = realloc(h->buf, ncap)) == NULL)
			return -ENOMEM;
		h->buf = p;
		h->cap = ncap;
	}
	r = h->buf + h->len;
	memset(r, 0, need);
	v64 = (uint64_t)st.st_dev;
	memcpy(r, &v64, 8);
	v64 = (uint64_t)st.st_ino;
	memcpy(r + 8, &v64, 8);
	v32 = (uint32_t)inlen;
	memcpy(r + 16, &v32, 4);
	v32 = (uint32_t)outlen;
	memcpy(r + 20, &v32, 4);
	v32 = (uint32_t)applen;
	memcpy(r + 24, &v32, 4);
	if (inlen)
		memcpy(r + HOFF_REC, in, inlen);
	if (outlen)
		memcpy(r + HOFF_REC + inlen, out, outlen);
	if (applen)
		memcpy(r + HOFF_REC + inlen + outlen, app, applen);
	h->len += need;
	h->fds[h->n++] = fd;
	return 0;
}

/* The blob in a memfd sealed against any change. Returns the fd. */
static int
blob_memfd(struct shms_handoff *h)
{
	uint32_t v32;
	uint64_t v64;
	size_t off;
	ssize_t n;
	int fd;

	memcpy(h->buf, HOFF_MAGIC, 8);
	v32 = SHMS_HANDOFF_VERSION;
	memcpy(h->buf + 16, &v32, 4);
	memcpy(h->buf + 20, &h->n, 4);
	v64 = h->len;
	memcpy(h->buf + 24, &v64, 8);
	v64 = XXH3_64bits(h->buf + 16, h->len - 16);
	memcpy(h->buf + 8, &v64, 8);

	fd = memfd_create("shms-handoff", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd == -1)
		return -errno;
	for (off = 0; off < h->len; off += (size_t)n) {
		n = write(fd, h->buf + off, h->len - off);
		if (n == -1 && errno == EINTR) {
			n = 0;
			continue;
		}
		if (n <= 0) {
			n = n == 0 ? -EIO : -errno;
			close(fd);
			return (int)n;
		}
	}
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW |
	    F_SEAL_WRITE | F_SEAL_SEAL) == -1) {
		n = -errno;
		close(fd);
		return (int)n;
	}
	return fd;
}

int
shms_handoff_send(struct shms_handoff *h)
{
	const char *ns = getenv("NOTIFY_SOCKET");
	uint32_t i, k;
	int bfd, rc;

	if (h == NULL)
		return -EINVAL;
	if (ns == NULL || *ns == '\0')
		return 0;
	if (h->n == 0)
		return 0;
	if ((bfd = blob_memfd(h)) < 0)
		return bfd;
	/* The blob first: whoever gets a connection can find its record. */
	rc = shms_notify_with_fds("FDSTORE=1\nFDNAME=" SHMS_HANDOFF_BLOB_NAME,
	    &bfd, 1);
	close(bfd);
	if (rc < 0)
		return rc;
	for (i = 0; i < h->n; i += k) {
		k = h->n - i;
		if (k > SHMS_NOTIFY_FDS_MAX)
			k = SHMS_NOTIFY_FDS_MAX;
		rc = shms_notify_with_fds("FDSTORE=1\nFDNAME="
		    SHMS_HANDOFF_CONN_NAME, h->fds + i, k);
		if (rc < 0)
			return rc;
	}
	return (int)h->n;
}

/* ---- the new side */

struct hoff_conn {
	int			 fd;
	struct shms_handoff_rec	 rec;
};

struct shms_handoff_in {
	void			*blobs[8];	/* read copies, records point in */
	unsigned		 nblobs;
	struct hoff_conn	*conns;
	size_t			 n;
	struct shms_handoff_stats st;
	char			 detail[160];
};

static void
hoff_close(int fd)
{
	(void)shutdown(fd, SHUT_RDWR);
	close(fd);
}

/*
 * Reads a blob fd into a heap copy after checking it cannot change under
 * us. Returns 0 with *bp and *lenp set, -ENOMEM, or SHMS_EPROTO for a
 * blob to refuse (detail says why).
 */
static int
blob_read(int fd, void **bp, size_t *lenp, char *detail, size_t dlen)
{
	struct stat st;
	unsigned char *b;
	size_t off = 0;
	ssize_t n;
	int seals;

	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		snprintf(detail, dlen, "blob fd is not a regular file");
		return SHMS_EPROTO;
	}
	seals = fcntl(fd, F_GET_SEALS);
	if (seals == -1 || (seals & (F_SEAL_WRITE | F_SEAL_SHRINK)) !=
	    (F_SEAL_WRITE | F_SEAL_SHRINK)) {
		snprintf(detail, dlen, "blob memfd is not sealed");
		return SHMS_EPROTO;
	}
	if (st.st_size < HOFF_HDR || st.st_size > SHMS_HANDOFF_BLOB_MAX) {
		snprintf(detail, dlen, "blob of %lld bytes",
		    (long long)st.st_size);
		return SHMS_EPROTO;
	}
	/* Not the blob's fault: the caller fails, changing nothing. */
	if ((b = malloc((size_t)st.st_size)) == NULL)
		return -ENOMEM;
	while (off < (size_t)st.st_size) {
		n = pread(fd, b + off, (size_t)st.st_size - off, (off_t)off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(detail, dlen, "blob: short read");
			free(b);
			return SHMS_EPROTO;
		}
		off += (size_t)n;
	}
	*bp = b;
	*lenp = off;
	return 0;
}

static int
rec_cmp(const void *a, const void *b)
{
	const struct shms_handoff_rec *x = a, *y = b;

	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	return 0;
}

int
shms_handoff_take(struct shms_handoff_in **hp, struct shms_listen_fd *fds,
    size_t n)
{
	struct shms_handoff_rec *recs = NULL, key, *hit;
	struct shms_handoff_in *h;
	unsigned char *used = NULL;
	size_t i, nrec = 0, nconn = 0;
	struct stat st;
	int rc;

	if (hp == NULL || (fds == NULL && n != 0))
		return -EINVAL;
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		nconn += strcmp(fds[i].name, SHMS_HANDOFF_CONN_NAME) == 0;
	if ((h->conns = calloc(nconn + 1, sizeof(*h->conns))) == NULL)
		goto nomem;
	/* The blobs: every record of every one, for lookup by identity. */
	for (i = 0; i < n; i++) {
		struct shms_handoff_rec *more;
		size_t len, cnt;
		void *b;

		if (fds[i].fd < 0 ||
		    strcmp(fds[i].name, SHMS_HANDOFF_BLOB_NAME) != 0)
			continue;
		/* Blob fds are closed once nothing can fail: see below. */
		rc = h->nblobs < SHMS__ARRAY_SIZE(h->blobs) ?
		    blob_read(fds[i].fd, &b, &len, h->detail,
		    sizeof(h->detail)) : SHMS_EPROTO;
		if (rc == -ENOMEM)
			goto nomem;
		if (rc < 0) {
			h->st.bad_blobs++;
			continue;
		}
		rc = shms_handoff_parse(b, len, NULL, 0);
		if (rc < 0 && rc != SHMS_ELIMIT) {
			snprintf(h->detail, sizeof(h->detail), "blob: %s",
			    shms_strerror(rc));
			h->st.bad_blobs++;
			free(b);
			continue;
		}
		/* Valid: rc is 0 records, or SHMS_ELIMIT for some. */
		cnt = ld32((unsigned char *)b + 20);
		more = realloc(recs, (nrec + cnt + 1) * sizeof(*recs));
		if (more == NULL) {
			free(b);
			goto nomem;
		}
		recs = more;
		(void)shms_handoff_parse(b, len, recs + nrec, cnt);
		nrec += cnt;
		h->blobs[h->nblobs++] = b;
	}
	h->st.handed = (uint32_t)nrec;
	if (nrec > 0) {
		qsort(recs, nrec, sizeof(*recs), rec_cmp);
		if ((used = calloc(nrec, 1)) == NULL)
			goto nomem;
	}
	/* -ENOMEM above leaves fds as they were, so a retry can work. */
	for (i = 0; i < n; i++)
		if (fds[i].fd >= 0 &&
		    strcmp(fds[i].name, SHMS_HANDOFF_BLOB_NAME) == 0) {
			close(fds[i].fd);
			fds[i].fd = -1;
		}
	for (i = 0; i < n; i++) {
		if (fds[i].fd < 0 ||
		    strcmp(fds[i].name, SHMS_HANDOFF_CONN_NAME) != 0)
			continue;
		hit = NULL;
		if (fstat(fds[i].fd, &st) == 0 && S_ISSOCK(st.st_mode) &&
		    nrec > 0) {
			key.dev = (uint64_t)st.st_dev;
			key.ino = (uint64_t)st.st_ino;
			hit = bsearch(&key, recs, nrec, sizeof(*recs),
			    rec_cmp);
		}
		if (hit != NULL && used[hit - recs]) {
			/*
			 * Another fd of a socket taken already: shutting it
			 * down would end the connection we keep.
			 */
			close(fds[i].fd);
		} else if (hit == NULL) {
			/* Unknown stream position: never guess. */
			hoff_close(fds[i].fd);
			h->st.closed++;
		} else {
			used[hit - recs] = 1;
			h->conns[h->n].fd = fds[i].fd;
			h->conns[h->n++].rec = *hit;
		}
		fds[i].fd = -1;
	}
	h->st.taken = (uint32_t)h->n;
	/* Records whose connection did not come back: closed on the way. */
	h->st.closed += (uint32_t)(nrec - h->n);
	free(recs);
	free(used);
	*hp = h;
	return (int)h->n;
nomem:
	free(recs);
	free(used);
	for (i = 0; i < h->nblobs; i++)
		free(h->blobs[i]);
	free(h->conns);
	free(h);
	return -ENOMEM;
}

size_t
shms_handoff_count(const struct shms_handoff_in *h)
{
	return h != NULL ? h->n : 0;
}

int
shms_handoff_conn(const struct shms_handoff_in *h, size_t i,
    struct shms_handoff_rec *rec)
{
	if (h == NULL || i >= h->n)
		return -EINVAL;
	if (rec != NULL)
		*rec = h->conns[i].rec;
	return h->conns[i].fd;
}

void
shms_handoff_stats(const struct shms_handoff_in *h,
    struct shms_handoff_stats *st)
{
	if (st == NULL)
		return;
	if (h == NULL)
		memset(st, 0, sizeof(*st));
	else
		*st = h->st;
}

const char *
shms_handoff_detail(const struct shms_handoff_in *h)
{
	return h != NULL ? h->detail : "";
}

int
shms_handoff_release(struct shms_handoff_in *h, size_t taken)
{
	unsigned i;
	int rc = 0;

	if (h == NULL)
		return 0;
	/* Nothing was handed over: nothing to tell. */
	if (h->st.handed > 0 || h->st.closed > 0 || h->st.bad_blobs > 0) {
		rc = shms_notifyf("FDSTOREREMOVE=1\nFDNAME="
		    SHMS_HANDOFF_CONN_NAME "\nX_SHMS_CONNS_TAKEN=%zu", taken);
		if (rc >= 0)
			rc = shms_notify("FDSTOREREMOVE=1\nFDNAME="
			    SHMS_HANDOFF_BLOB_NAME);
	}
	for (i = 0; i < h->nblobs; i++)
		free(h->blobs[i]);
	free(h->conns);
	free(h);
	return rc;
}
