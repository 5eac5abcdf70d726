/*
 * kv: a key-value demo of copy-mode checkpoint and adopt across execv.
 *
 * The table is an ordinary heap hash table, as in any service that was not
 * written with shared memory in mind. At a planned stop it is streamed
 * into one or more checkpoint segments, freeing each batch of entries as
 * soon as it is in shared memory, so the process never holds the state
 * twice. After the commit the process execs itself (or a newer binary)
 * with --adopt; the new image maps the checkpoint, reads it back while
 * giving the consumed pages back to the kernel, rebuilds the table and
 * checks that every entry survived by recomputing it from its index.
 *
 *   kv [-n entries] [-s segments]            load, checkpoint, exec, adopt
 *   kv --no-exec ...; kv --adopt ...         the same across two processes
 */
#include <sys/types.h>

#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bsd/stdlib.h>
#include <xxhash.h>

#include "shmstate.h"

/*
 * The application's layout: name and version recorded in every segment.
 * Bump KV_LAYOUT_VERSION whenever the record format below changes, so an
 * old checkpoint is refused with SHMS_EVERSION instead of misread.
 *
 * Layout "kv-demo" v1: a sequence of records
 *	uint16 klen, uint16 vlen, key[klen], value[vlen]
 * ended by a trailer record with klen == 0 and vlen == 0 followed by the
 * uint64 count of records in the segment. Host byte order: a checkpoint
 * never leaves the machine that wrote it.
 */
#define KV_LAYOUT		"kv-demo"
#define KV_LAYOUT_VERSION	1u
#define KV_SERVICE		"kv-demo"
#define KV_SEG_PREFIX		"kv."

#define KV_KEY_MAX		250
#define KV_VAL_MAX		1024
#define KV_REC_HDR		4
#define KV_TRAILER		(KV_REC_HDR + 8)
#define KV_ENTRIES_MAX		100000000LL
#define KV_SEGS_MAX		64

/*
 * Bytes serialized per reserve/commit (writer) and per read/release
 * (adopter). It bounds how much state exists twice at any moment: once in
 * the heap and once in shared memory.
 */
#define KV_BATCH		(1u << 20)
/* Heap bytes freed between two malloc_trim() calls. */
#define KV_TRIM_EVERY		(64u << 20)

struct kv_entry {
	struct kv_entry	*next;
	uint64_t	 hash;
	uint16_t	 klen;
	uint16_t	 vlen;
	char		 data[];	/* key, then value */
};

struct kv_table {
	struct kv_entry	**bucket;
	size_t		  nbucket;	/* a power of two */
	size_t		  count;
	uint64_t	  bytes;	/* serialized size of all records */
};

struct kv_opts {
	long long	 entries;
	int		 segments;
	uint64_t	 seed;
	uint32_t	 layout_version;
	const char	*service;
	const char	*exec_path;
	int		 adopt;
	int		 no_exec;
	int		 map;
	int		 keep;
	uint64_t	 t0_ns;		/* checkpoint start, passed across exec */
};

/* One segment being written or read by one thread. */
struct kv_job {
	struct shms_seg	*seg;
	struct kv_table	*tab;
	size_t		 b_lo, b_hi;	/* writer: bucket range */
	int		 map;		/* adopter: parse the mapping in place */
	struct kv_entry	*chain;		/* adopter: entries read */
	uint64_t	 count;
	uint64_t	 bytes;
	int		 rc;
	char		 why[128];	/* adopter: what was malformed */
};

static uint64_t
now_ns(void)
{
	struct timespec ts;

	/* CLOCK_MONOTONIC is system-wide, so it still means something after exec. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double
secs(uint64_t a, uint64_t b)
{
	return (double)(b - a) / 1e9;
}

static double
mib(uint64_t n)
{
	return (double)n / (1024.0 * 1024.0);
}

/* Peak resident set of this process image, from /proc/self/status. */
static long
peak_rss_kib(void)
{
	char line[256];
	long v = -1;
	FILE *f;

	if ((f = fopen("/proc/self/status", "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmHWM: %ld kB", &v) == 1)
			break;
	fclose(f);
	return v;
}

/* ---- deterministic content: entry i is a pure function of (seed, i) ---- */

static uint64_t
splitmix64(uint64_t *s)
{
	uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static size_t
kv_key(uint64_t i, char *buf)
{
	return (size_t)snprintf(buf, KV_KEY_MAX + 1, "key:%" PRIu64, i);
}

/* Values are 16..128 bytes so that records are not all the same size. */
static size_t
kv_value(uint64_t seed, uint64_t i, char *buf)
{
	uint64_t s = seed ^ (i * UINT64_C(0xd1b54a32d192ed03));
	uint64_t w;
	size_t len, k;

	len = 16 + (size_t)(splitmix64(&s) % 113);
	for (k = 0; k < len; k += sizeof(w)) {
		w = splitmix64(&s);
		memcpy(buf + k, &w, len - k < sizeof(w) ? len - k : sizeof(w));
	}
	return len;
}

/* ---- the heap table ---- */

static void
table_init(struct kv_table *t, size_t expect)
{
	size_t n = 1024;

	while (n < expect && n < ((size_t)1 << 40))
		n <<= 1;
	if ((t->bucket = calloc(n, sizeof(*t->bucket))) == NULL)
		err(1, "table of %zu buckets", n);
	t->nbucket = n;
	t->count = 0;
	t->bytes = 0;
}

static void
table_grow(struct kv_table *t)
{
	struct kv_entry **nb, *e, *next;
	size_t n = t->nbucket * 2, i;

	if ((nb = calloc(n, sizeof(*nb))) == NULL)
		err(1, "table of %zu buckets", n);
	for (i = 0; i < t->nbucket; i++)
		for (e = t->bucket[i]; e != NULL; e = next) {
			next = e->next;
			e->next = nb[e->hash & (n - 1)];
			nb[e->hash & (n - 1)] = e;
		}
	free(t->bucket);
	t->bucket = nb;
	t->nbucket = n;
}

static struct kv_entry *
table_get(const struct kv_table *t, const char *key, size_t klen)
{
	uint64_t h = XXH3_64bits(key, klen);
	struct kv_entry *e;

	for (e = t->bucket[h & (t->nbucket - 1)]; e != NULL; e = e->next)
		if (e->hash == h && e->klen == klen &&
		    memcmp(e->data, key, klen) == 0)
			return e;
	return NULL;
}

/* Takes ownership of e; the caller guarantees the key is not present. */
static void
table_insert(struct kv_table *t, struct kv_entry *e)
{
	size_t b;

	if (t->count >= t->nbucket)
		table_grow(t);
	b = e->hash & (t->nbucket - 1);
	e->next = t->bucket[b];
	t->bucket[b] = e;
	t->count++;
	t->bytes += KV_REC_HDR + e->klen + e->vlen;
}

static struct kv_entry *
entry_new(const char *key, size_t klen, const char *val, size_t vlen)
{
	struct kv_entry *e;

	if ((e = malloc(sizeof(*e) + klen + vlen)) == NULL)
		err(1, "entry");
	e->next = NULL;
	e->hash = XXH3_64bits(key, klen);
	e->klen = (uint16_t)klen;
	e->vlen = (uint16_t)vlen;
	memcpy(e->data, key, klen);
	memcpy(e->data + klen, val, vlen);
	return e;
}

static void
table_load(struct kv_table *t, long long n, uint64_t seed)
{
	char key[KV_KEY_MAX + 1], val[KV_VAL_MAX];
	size_t klen, vlen;
	long long i;

	table_init(t, (size_t)n);
	for (i = 0; i < n; i++) {
		klen = kv_key((uint64_t)i, key);
		vlen = kv_value(seed, (uint64_t)i, val);
		table_insert(t, entry_new(key, klen, val, vlen));
	}
}

static void
table_free(struct kv_table *t)
{
	struct kv_entry *e, *next;
	size_t i;

	for (i = 0; i < t->nbucket; i++)
		for (e = t->bucket[i]; e != NULL; e = next) {
			next = e->next;
			free(e);
		}
	free(t->bucket);
	t->bucket = NULL;
	t->nbucket = t->count = 0;
}

/* Recomputes every entry from its index: the proof that nothing was lost. */
static void
table_verify(const struct kv_table *t, long long n, uint64_t seed)
{
	char key[KV_KEY_MAX + 1], val[KV_VAL_MAX];
	struct kv_entry *e;
	size_t klen, vlen;
	long long i;

	if (t->count != (size_t)n)
		errx(1, "verify: %zu entries, expected %lld", t->count, n);
	for (i = 0; i < n; i++) {
		klen = kv_key((uint64_t)i, key);
		vlen = kv_value(seed, (uint64_t)i, val);
		if ((e = table_get(t, key, klen)) == NULL)
			errx(1, "verify: %s missing", key);
		if (e->vlen != vlen || memcmp(e->data + klen, val, vlen) != 0)
			errx(1, "verify: %s has a wrong value", key);
	}
}

/* ---- checkpoint: stream the table out, freeing it as we go ---- */

/*
 * THE bounded-memory pattern: serialize a batch straight into the segment
 * (reserve hands out a pointer into shared memory), commit it, then free
 * the entries it held. At any moment only one batch exists twice, so the
 * peak stays near 1x the state instead of 2x.
 *
 * The price: once a batch is freed, a failed checkpoint cannot be
 * retried from the heap. The demo exits; a service that must keep
 * serving on failure checkpoints without freeing (peak 2x) instead.
 */
static void *
ckpt_worker(void *arg)
{
	struct kv_job *j = arg;
	struct kv_entry *e, *next, *done = NULL;
	uint64_t freed = 0, rec, trailer;
	size_t b, used = 0;
	char *p = NULL;
	int rc;

	for (b = j->b_lo; b < j->b_hi; b++) {
		/* Entries are scattered over the heap: fetch ahead. */
		if (b + 16 < j->b_hi && j->tab->bucket[b + 16] != NULL)
			__builtin_prefetch(j->tab->bucket[b + 16]);
		for (e = j->tab->bucket[b]; e != NULL; e = next) {
			next = e->next;
			rec = KV_REC_HDR + (uint64_t)e->klen + e->vlen;
			if (p == NULL || used + rec > KV_BATCH) {
				if (p != NULL &&
				    (rc = shms_seg_commit(j->seg, used)) < 0)
					goto fail;
				/* The batch is in shared memory: drop it. */
				freed += used;
				while (done != NULL) {
					struct kv_entry *d = done;

					done = d->next;
					free(d);
				}
				if (freed >= KV_TRIM_EVERY) {
					/* Freed chunks inside the heap are
					 * returned to the kernel only on trim. */
					malloc_trim(0);
					freed = 0;
				}
				if ((rc = shms_seg_reserve(j->seg, KV_BATCH,
				    (void **)&p)) < 0)
					goto fail;
				used = 0;
			}
			memcpy(p + used, &e->klen, 2);
			memcpy(p + used + 2, &e->vlen, 2);
			memcpy(p + used + KV_REC_HDR, e->data,
			    (size_t)e->klen + e->vlen);
			used += rec;
			j->count++;
			j->bytes += rec;
			e->next = done;
			done = e;
		}
		j->tab->bucket[b] = NULL;
	}
	if (p != NULL && (rc = shms_seg_commit(j->seg, used)) < 0)
		goto fail;
	while (done != NULL) {
		e = done;
		done = e->next;
		free(e);
	}
	trailer = j->count;
	{
		char t[KV_TRAILER] = { 0 };

		memcpy(t + KV_REC_HDR, &trailer, sizeof(trailer));
		if ((rc = shms_seg_write(j->seg, t, sizeof(t))) < 0)
			goto fail;
	}
	j->bytes += KV_TRAILER;
	/* Sealing (final checksum) happens here, in parallel with the others. */
	if ((rc = shms_seg_close(j->seg)) < 0) {
		j->seg = NULL;
		goto fail;
	}
	j->seg = NULL;
	return NULL;
fail:
	j->rc = rc;
	return NULL;
}

static void
run_jobs(struct kv_job *jobs, int n, void *(*fn)(void *))
{
	pthread_t tid[KV_SEGS_MAX];
	int i, rc;

	/* One thread per segment: independent segments copy in parallel. */
	for (i = 1; i < n; i++)
		if ((rc = pthread_create(&tid[i], NULL, fn, &jobs[i])) != 0) {
			errno = rc;
			err(1, "pthread_create");
		}
	fn(&jobs[0]);
	for (i = 1; i < n; i++)
		pthread_join(tid[i], NULL);
}

static void
fail_svc(struct shms_svc *svc, int rc, const char *what)
{
	const char *d = svc != NULL ? shms_errdetail(svc) : "";

	errx(1, "%s: %s%s%s", what, shms_strerror(rc), *d ? ": " : "", d);
}

static uint64_t
checkpoint(struct kv_table *t, const struct kv_opts *o)
{
	struct kv_job jobs[KV_SEGS_MAX];
	struct shms_svc *svc;
	struct shms_ckpt *ck;
	char name[SHMS_NAME_MAX + 1];
	uint64_t gen, total = 0, count = 0, t1;
	int i, rc;

	if ((rc = shms_svc_open(&svc, NULL, o->service, 0)) < 0)
		fail_svc(NULL, rc, o->service);
	if ((rc = shms_ckpt_begin(svc, 0, &ck)) < 0)
		fail_svc(svc, rc, "checkpoint");
	memset(jobs, 0, sizeof(jobs));
	for (i = 0; i < o->segments; i++) {
		jobs[i].tab = t;
		jobs[i].b_lo = t->nbucket * (size_t)i / (size_t)o->segments;
		jobs[i].b_hi = t->nbucket * (size_t)(i + 1) /
		    (size_t)o->segments;
		snprintf(name, sizeof(name), KV_SEG_PREFIX "%d", i);
		/*
		 * No size hint: a hint is reserved in shared memory up front,
		 * while the whole table is still in the heap (2x). Without
		 * one, the segment grows as the heap shrinks.
		 */
		if ((rc = shms_ckpt_seg_create(ck, name, KV_LAYOUT,
		    o->layout_version, 0, &jobs[i].seg)) < 0)
			fail_svc(svc, rc, name);
	}
	run_jobs(jobs, o->segments, ckpt_worker);
	for (i = 0; i < o->segments; i++) {
		if (jobs[i].rc < 0) {
			/* Abort removes the new files; the previous
			 * checkpoint, if any, is untouched. */
			shms_ckpt_abort(ck);
			fail_svc(svc, jobs[i].rc, "checkpoint write");
		}
		total += jobs[i].bytes;
		count += jobs[i].count;
	}
	free(t->bucket);
	t->bucket = NULL;
	malloc_trim(0);
	if ((rc = shms_ckpt_commit(ck, 0, &gen)) < 0)
		fail_svc(svc, rc, "commit");
	/* Close before exec: the new image takes the lock itself. */
	if ((rc = shms_svc_close(svc)) < 0)
		fail_svc(NULL, rc, "close");
	t1 = now_ns();
	printf("kv: checkpoint: %" PRIu64 " entries, %d segment%s, %.1f MiB "
	    "in %.3f s (%.0f MiB/s), generation %" PRIu64 "\n", count,
	    o->segments, o->segments > 1 ? "s" : "", mib(total),
	    secs(o->t0_ns, t1), mib(total) / secs(o->t0_ns, t1), gen);
	return total;
}

/* ---- adopt: read the checkpoint back, releasing pages as we go ---- */

/*
 * Parses complete records from buf[0..len); returns the bytes consumed,
 * or -1 with j->why set if the data is malformed. Everything read from
 * a segment is untrusted: every length is checked before use.
 */
static long
parse_records(struct kv_job *j, const char *buf, size_t len, int *end)
{
	size_t off = 0, rec;
	uint16_t klen, vlen;
	uint64_t n;

	while (!*end && len - off >= KV_REC_HDR) {
		memcpy(&klen, buf + off, 2);
		memcpy(&vlen, buf + off + 2, 2);
		if (klen == 0 && vlen == 0) {
			if (len - off < KV_TRAILER)
				break;
			memcpy(&n, buf + off + KV_REC_HDR, sizeof(n));
			if (n != j->count) {
				snprintf(j->why, sizeof(j->why), "trailer "
				    "says %" PRIu64 " records, read %" PRIu64,
				    n, j->count);
				return -1;
			}
			*end = 1;
			off += KV_TRAILER;
			break;
		}
		if (klen == 0 || klen > KV_KEY_MAX || vlen > KV_VAL_MAX) {
			snprintf(j->why, sizeof(j->why), "bad record "
			    "lengths %u/%u", klen, vlen);
			return -1;
		}
		rec = KV_REC_HDR + (size_t)klen + vlen;
		if (len - off < rec)
			break;
		{
			struct kv_entry *e = entry_new(buf + off + KV_REC_HDR,
			    klen, buf + off + KV_REC_HDR + klen, vlen);

			e->next = j->chain;
			j->chain = e;
		}
		j->count++;
		off += rec;
	}
	return (long)off;
}

/* Streaming read: the checksum is checked by the read that hits the end. */
static int
adopt_stream(struct kv_job *j)
{
	size_t have = 0, got;
	long used;
	int end = 0, rc;
	char *buf;

	if ((buf = malloc(KV_BATCH)) == NULL)
		return -errno;
	for (;;) {
		if ((rc = shms_seg_read(j->seg, buf + have, KV_BATCH - have,
		    &got)) < 0)
			break;
		/* Consumed pages go back to the kernel right away. */
		if ((rc = shms_seg_release(j->seg, 0, 0,
		    SHMS_RELEASE_READ)) < 0)
			break;
		j->bytes += got;
		have += got;
		if ((used = parse_records(j, buf, have, &end)) < 0) {
			rc = -EBADMSG;
			break;
		}
		memmove(buf, buf + used, have - (size_t)used);
		have -= (size_t)used;
		if (got == 0) {
			if (!end || have != 0) {
				snprintf(j->why, sizeof(j->why), "%s",
				    end ? "data after the trailer" :
				    "no trailer");
				rc = -EBADMSG;
			}
			break;
		}
	}
	free(buf);
	return rc;
}

/* In-place parse of the mapping; the payload was checksummed at open. */
static int
adopt_map(struct kv_job *j)
{
	struct shms_seg_info info;
	const void *data;
	uint64_t len, off = 0, rel = 0, cut;
	size_t chunk;
	long used;
	int end = 0, rc;

	if ((rc = shms_seg_data(j->seg, &data, &len)) < 0 ||
	    (rc = shms_seg_info(j->seg, &info)) < 0)
		return rc;
	while (off < len && !end) {
		chunk = len - off > KV_BATCH ? KV_BATCH : (size_t)(len - off);
		used = parse_records(j, (const char *)data + off, chunk, &end);
		if (used < 0)
			return -EBADMSG;
		if (used == 0) {
			snprintf(j->why, sizeof(j->why), "truncated record");
			return -EBADMSG;
		}
		off += (uint64_t)used;
		/* Release whole pages already parsed. */
		cut = off - off % (info.page_size ? info.page_size : 4096);
		if (cut > rel) {
			if ((rc = shms_seg_release(j->seg, rel, cut - rel,
			    0)) < 0)
				return rc;
			rel = cut;
		}
	}
	j->bytes = off;
	if (!end || off != len) {
		snprintf(j->why, sizeof(j->why), "%s",
		    end ? "data after the trailer" : "no trailer");
		return -EBADMSG;
	}
	return 0;
}

static void *
adopt_worker(void *arg)
{
	struct kv_job *j = arg;

	j->rc = j->map ? adopt_map(j) : adopt_stream(j);
	return NULL;
}

static void
chains_free(struct kv_job *jobs, int n)
{
	struct kv_entry *e, *next;
	int i;

	for (i = 0; i < n; i++)
		for (e = jobs[i].chain; e != NULL; e = next) {
			next = e->next;
			free(e);
		}
}

/*
 * Adopts the last committed checkpoint into t. Returns 1 on success, 0 if
 * the application must start cold (no state, or an incompatible layout),
 * and exits on anything else.
 */
static int
adopt(struct kv_table *t, const struct kv_opts *o, uint64_t *bytes)
{
	struct kv_job jobs[KV_SEGS_MAX];
	struct shms_seg_info info;
	struct shms_adopt *ad;
	struct shms_svc *svc;
	struct kv_entry *e, *next;
	size_t n, i;
	int rc;

	if ((rc = shms_svc_open(&svc, NULL, o->service, 0)) < 0)
		fail_svc(NULL, rc, o->service);
	if ((rc = shms_adopt_begin(svc, 0, &ad)) < 0) {
		if (rc != SHMS_ENOSTATE)
			fail_svc(svc, rc, "adopt");
		warnx("no committed checkpoint for %s: starting cold",
		    o->service);
		shms_svc_close(svc);
		return 0;
	}
	n = shms_adopt_count(ad);
	if (n == 0 || n > KV_SEGS_MAX)
		errx(1, "adopt: %zu segments in the checkpoint", n);
	memset(jobs, 0, sizeof(jobs));
	for (i = 0; i < n; i++) {
		if ((rc = shms_adopt_entry(ad, i, &info)) < 0)
			fail_svc(svc, rc, "adopt entry");
		rc = shms_adopt_seg_open(ad, info.name, KV_LAYOUT,
		    o->layout_version, o->map ? SHMS_VERIFY_FULL :
		    SHMS_VERIFY_STREAM, &jobs[i].seg);
		if (rc == SHMS_EVERSION || rc == SHMS_ELAYOUT) {
			/*
			 * Never guess at an incompatible layout. Leave the
			 * files as they are, so the build that wrote them
			 * can still be rolled back to, and start cold.
			 */
			warnx("checkpoint segment %s is layout %s v%u, this "
			    "build reads %s v%u (%s): starting cold",
			    info.name, info.layout, info.layout_version,
			    KV_LAYOUT, o->layout_version, shms_strerror(rc));
			shms_adopt_abort(ad);
			shms_svc_close(svc);
			return 0;
		}
		if (rc < 0)
			fail_svc(svc, rc, info.name);
		jobs[i].map = o->map;
	}
	run_jobs(jobs, (int)n, adopt_worker);
	*bytes = 0;
	for (i = 0; i < n; i++) {
		if (jobs[i].rc == -EBADMSG)
			errx(1, "adopt: segment %zu: malformed: %s", i,
			    jobs[i].why);
		if (jobs[i].rc < 0)
			fail_svc(svc, jobs[i].rc, "adopt read");
		*bytes += jobs[i].bytes;
	}
	/* Only now is every checksum known good: build the table. */
	table_init(t, (size_t)o->entries);
	for (i = 0; i < n; i++) {
		for (e = jobs[i].chain; e != NULL; e = next) {
			next = e->next;
			if (table_get(t, e->data, e->klen) != NULL)
				errx(1, "adopt: duplicate key %.*s", e->klen,
				    e->data);
			table_insert(t, e);
		}
		jobs[i].chain = NULL;
	}
	chains_free(jobs, (int)n);
	/* Removes the adopted generation: the state now lives in our heap. */
	if ((rc = shms_adopt_finish(ad, o->keep ? SHMS_ADOPT_KEEP : 0)) < 0)
		fail_svc(svc, rc, "adopt finish");
	if ((rc = shms_svc_close(svc)) < 0)
		fail_svc(NULL, rc, "close");
	return 1;
}

/* ---- main ---- */

static void __attribute__((noreturn))
usage(int status)
{
	fprintf(status ? stderr : stdout,
"usage: kv [-hkm] [-n entries] [-s segments] [-S service] [--seed N]\n"
"          [--layout-version V] [--exec PATH | --no-exec | --adopt]\n"
"\n"
"Loads N deterministic entries into a heap hash table, checkpoints them\n"
"into shared-memory segments (freeing the heap as it writes), then execs\n"
"itself (or PATH) with --adopt: the new image adopts the checkpoint,\n"
"releasing pages as it reads, and verifies every entry.\n"
"\n"
"  -n, --entries N         entries to load (default 100000)\n"
"  -s, --segments N        segments, one writer/reader thread each\n"
"                          (default 2, max %d)\n"
"  -S, --service NAME      service name (default " KV_SERVICE ")\n"
"      --seed N            content seed (default 1)\n"
"  -m, --map               adopt by parsing the mapping (full verify at\n"
"                          open) instead of streaming reads\n"
"  -k, --keep              keep the adopted checkpoint (do not remove it)\n"
"      --layout-version V  layout version this build writes and reads\n"
"                          (default %u; another value simulates an\n"
"                          incompatible build)\n"
"      --exec PATH         exec PATH instead of this binary after commit\n"
"      --no-exec           checkpoint and exit; adopt later with --adopt\n"
"      --adopt             adopt the committed checkpoint and verify it\n"
"\n"
"State lives under $SHMSTATE_DIR (default " SHMS_DEFAULT_DIR ").\n",
	    KV_SEGS_MAX, KV_LAYOUT_VERSION);
	exit(status);
}

enum { OPT_SEED = 256, OPT_LAYOUT, OPT_EXEC, OPT_NOEXEC, OPT_ADOPT, OPT_T0 };

static const struct option longopts[] = {
	{ "entries",		required_argument, NULL, 'n' },
	{ "segments",		required_argument, NULL, 's' },
	{ "service",		required_argument, NULL, 'S' },
	{ "map",		no_argument,	   NULL, 'm' },
	{ "keep",		no_argument,	   NULL, 'k' },
	{ "help",		no_argument,	   NULL, 'h' },
	{ "seed",		required_argument, NULL, OPT_SEED },
	{ "layout-version",	required_argument, NULL, OPT_LAYOUT },
	{ "exec",		required_argument, NULL, OPT_EXEC },
	{ "no-exec",		no_argument,	   NULL, OPT_NOEXEC },
	{ "adopt",		no_argument,	   NULL, OPT_ADOPT },
	/* Internal: checkpoint start time, to measure across exec. */
	{ "t0",			required_argument, NULL, OPT_T0 },
	{ NULL,			0,		   NULL, 0 }
};

static long long
num(const char *s, long long lo, long long hi, const char *what)
{
	const char *e;
	long long v = strtonum(s, lo, hi, &e);

	if (e != NULL)
		errx(1, "%s %s: %s", what, s, e);
	return v;
}

static void
parse_opts(int argc, char **argv, struct kv_opts *o)
{
	int c;

	o->entries = 100000;
	o->segments = 2;
	o->seed = 1;
	o->layout_version = KV_LAYOUT_VERSION;
	o->service = KV_SERVICE;
	while ((c = getopt_long(argc, argv, "hkmn:s:S:", longopts,
	    NULL)) != -1) {
		switch (c) {
		case 'n':
			o->entries = num(optarg, 1, KV_ENTRIES_MAX, "entries");
			break;
		case 's':
			o->segments = (int)num(optarg, 1, KV_SEGS_MAX,
			    "segments");
			break;
		case 'S':
			if (shms_name_valid(optarg) < 0)
				errx(1, "service %s: invalid name", optarg);
			o->service = optarg;
			break;
		case 'm':
			o->map = 1;
			break;
		case 'k':
			o->keep = 1;
			break;
		case 'h':
			usage(0);
		case OPT_SEED:
			o->seed = (uint64_t)num(optarg, 0, LLONG_MAX, "seed");
			break;
		case OPT_LAYOUT:
			o->layout_version = (uint32_t)num(optarg, 0,
			    UINT32_MAX, "layout version");
			break;
		case OPT_EXEC:
			o->exec_path = optarg;
			break;
		case OPT_NOEXEC:
			o->no_exec = 1;
			break;
		case OPT_ADOPT:
			o->adopt = 1;
			break;
		case OPT_T0:
			o->t0_ns = (uint64_t)num(optarg, 0, LLONG_MAX, "t0");
			break;
		default:
			usage(1);
		}
	}
	if (optind != argc)
		usage(1);
	if (o->adopt + o->no_exec + (o->exec_path != NULL) > 1)
		errx(1, "--adopt, --no-exec and --exec are exclusive");
}

/*
 * Replaces this process with the adopting image. Only what the new image
 * cannot find in shared memory goes on its command line: how to verify.
 */
static void __attribute__((noreturn))
exec_adopter(const struct kv_opts *o)
{
	char self[PATH_MAX], n[32], seed[32], t0[32];
	const char *path = o->exec_path;
	ssize_t len;

	if (path == NULL) {
		if ((len = readlink("/proc/self/exe", self,
		    sizeof(self) - 1)) < 0)
			err(1, "readlink /proc/self/exe");
		self[len] = '\0';
		path = self;
	}
	snprintf(n, sizeof(n), "%lld", o->entries);
	snprintf(seed, sizeof(seed), "%" PRIu64, o->seed);
	snprintf(t0, sizeof(t0), "%" PRIu64, o->t0_ns);
	{
		char *args[] = { (char *)path, "--adopt", "-n", n, "--seed",
		    seed, "-S", (char *)o->service, "--t0", t0,
		    o->map ? "--map" : NULL, NULL };

		printf("kv: exec %s --adopt\n", path);
		fflush(stdout);
		execv(path, args);
	}
	err(1, "execv %s", path);
}

int
main(int argc, char **argv)
{
	struct kv_opts o;
	struct kv_table t;
	uint64_t ta, tb, bytes;

	memset(&o, 0, sizeof(o));
	parse_opts(argc, argv, &o);
	/* Line-buffered even into a pipe, so output survives the exec. */
	setvbuf(stdout, NULL, _IOLBF, 0);

	if (!o.adopt) {
		ta = now_ns();
		table_load(&t, o.entries, o.seed);
		tb = now_ns();
		printf("kv: loaded %zu entries (%.1f MiB of records) in "
		    "%.3f s\n", t.count, mib(t.bytes), secs(ta, tb));
		o.t0_ns = now_ns();
		checkpoint(&t, &o);
		printf("kv: writer peak rss %.1f MiB\n",
		    (double)peak_rss_kib() / 1024.0);
		if (o.no_exec)
			return 0;
		exec_adopter(&o);
	}

	ta = now_ns();
	if (!adopt(&t, &o, &bytes)) {
		table_load(&t, o.entries, o.seed);
		printf("kv: cold start: loaded %zu entries in %.3f s\n",
		    t.count, secs(ta, now_ns()));
		table_free(&t);
		return 0;
	}
	tb = now_ns();
	printf("kv: adopt: %zu entries, %.1f MiB in %.3f s (%.0f MiB/s)\n",
	    t.count, mib(bytes), secs(ta, tb), mib(bytes) / secs(ta, tb));
	table_verify(&t, o.entries, o.seed);
	printf("kv: %lld entries verified after %s in %.3f s\n", o.entries,
	    o.t0_ns ? "exec" : "restart", secs(tb, now_ns()));
	if (o.t0_ns)
		printf("kv: checkpoint start to adopted: %.3f s\n",
		    secs(o.t0_ns, tb));
	printf("kv: adopter peak rss %.1f MiB\n",
	    (double)peak_rss_kib() / 1024.0);
	table_free(&t);
	return 0;
}
