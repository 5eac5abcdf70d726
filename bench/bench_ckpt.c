/*
 * bench_ckpt: copy-mode checkpoint and adopt throughput, against memcpy
 * bandwidth measured in the same run, and peak memory during checkpoint
 * (freeing the heap as it writes) + adopt (releasing pages as it reads).
 * One `name: value unit' line per figure; medians of several runs.
 *
 *   bench_ckpt [-r runs] [-s sizes] [-c chunk] [-d root]
 *
 * The state is `size' bytes of heap in `chunk'-sized allocations, as a
 * service's state would be (many independent objects), filled with data
 * that does not compress or dedupe. A checkpoint streams each chunk into
 * a segment with shms_seg_write() (checksummed as it copies) and frees it;
 * an adoption reads each chunk back into a fresh allocation, checking the
 * checksum (STREAM: shms_seg_read(), or FULL: checked at open, then
 * copied out of the mapping) and releasing the pages it consumed.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/utsname.h>

#include <dirent.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <xxhash.h>

#include "shmstate.h"

#define SERVICE		"bench"
#define LAYOUT		"bench-blob"
#define MAX_SIZES	8
#define MAX_RUNS	15
#define MAX_THREADS	2
#define GIB		(1024.0 * 1024.0 * 1024.0)
#define MIB		(1024.0 * 1024.0)

struct state {
	size_t		 nchunk;
	size_t		 chunk;
	unsigned char	**ch;		/* NULL once freed */
	uint64_t	*sum;		/* XXH3 of each chunk, to check adopt */
};

struct job {
	struct state	*st;
	struct shms_seg	*seg;
	size_t		 first;		/* chunks first, first+step, ... */
	size_t		 step;
	enum shms_verify verify;
	int		 rc;
};

static const char *root;
static struct shms_svc *svc;
/* CPU seconds (all threads) of the last ckpt() or adopt(). */
static double last_cpu;

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * CPU time of the whole process. On a shared machine, wall time also
 * counts the time other processes held our cores; CPU time does not, so
 * the single-threaded ratios are given both ways.
 */
static uint64_t
cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void
lib_fail(int rc, const char *what)
{
	const char *d = svc != NULL ? shms_errdetail(svc) : "";

	errx(1, "%s: %s%s%s", what, shms_strerror(rc), *d ? ": " : "", d);
}

/* ---- memory sampling ---- */

/*
 * Memory in use for the state: this process's private and file-backed
 * resident pages (RssAnon + RssFile; the segment mappings count as
 * RssShmem and are left out here) plus every page the service directory's
 * files hold in tmpfs, mapped or not (st_blocks).
 */
static uint64_t
mem_now(const char *dir)
{
	char line[256], path[4096];
	unsigned long long kib;
	uint64_t total = 0;
	struct dirent *de;
	struct stat sb;
	FILE *f;
	DIR *d;

	if ((f = fopen("/proc/self/status", "r")) != NULL) {
		while (fgets(line, sizeof(line), f) != NULL)
			if (sscanf(line, "RssAnon: %llu kB", &kib) == 1 ||
			    sscanf(line, "RssFile: %llu kB", &kib) == 1)
				total += kib * 1024;
		fclose(f);
	}
	if ((d = opendir(dir)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			if (lstat(path, &sb) == 0 && S_ISREG(sb.st_mode))
				total += (uint64_t)sb.st_blocks * 512;
		}
		closedir(d);
	}
	return total;
}

struct sampler {
	pthread_t	 tid;
	const char	*dir;
	atomic_int	 stop;
	uint64_t	 peak;
};

static void *
sampler_main(void *arg)
{
	struct sampler *s = arg;
	struct timespec ts = { 0, 1000000 };	/* 1 ms */
	uint64_t m;

	while (!atomic_load(&s->stop)) {
		if ((m = mem_now(s->dir)) > s->peak)
			s->peak = m;
		nanosleep(&ts, NULL);
	}
	return NULL;
}

/* ---- the state ---- */

static void
state_make(struct state *st, uint64_t size, size_t chunk)
{
	uint64_t x = 0x9e3779b97f4a7c15u, *w;
	size_t i, k;

	st->chunk = chunk;
	st->nchunk = (size_t)((size + chunk - 1) / chunk);
	if ((st->ch = calloc(st->nchunk, sizeof(*st->ch))) == NULL ||
	    (st->sum = calloc(st->nchunk, sizeof(*st->sum))) == NULL)
		err(1, "state");
	for (i = 0; i < st->nchunk; i++) {
		if ((st->ch[i] = malloc(chunk)) == NULL)
			err(1, "state chunk");
		w = (uint64_t *)(void *)st->ch[i];
		for (k = 0; k < chunk / 8; k++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			w[k] = x;
		}
		st->sum[i] = XXH3_64bits(st->ch[i], chunk);
	}
}

static void
state_check(const struct state *st)
{
	size_t i;

	for (i = 0; i < st->nchunk; i++)
		if (st->ch[i] == NULL ||
		    XXH3_64bits(st->ch[i], st->chunk) != st->sum[i])
			errx(1, "adopted chunk %zu differs", i);
}

static void
state_free(struct state *st)
{
	size_t i;

	for (i = 0; i < st->nchunk; i++)
		free(st->ch[i]);
	free(st->ch);
	free(st->sum);
}

/* ---- memcpy ---- */

struct cjob {
	unsigned char	*dst;
	const unsigned char *src;
	size_t		 len;
};

static void *
copy_main(void *arg)
{
	struct cjob *j = arg;

	memcpy(j->dst, j->src, j->len);
	return NULL;
}

/*
 * Bytes/s of memcpy of size bytes between warm buffers, by n threads;
 * *cpu_bw gets bytes per CPU second.
 */
static double
bench_memcpy(uint64_t size, int runs, int nthreads, double *cpu_bw)
{
	double v[MAX_RUNS], vc[MAX_RUNS];
	struct cjob j[MAX_THREADS];
	pthread_t tid[MAX_THREADS];
	unsigned char *src, *dst;
	uint64_t t0, c0;
	int r, i;

	if ((src = malloc(size)) == NULL || (dst = malloc(size)) == NULL)
		err(1, "memcpy buffers");
	memset(src, 0x5a, size);
	memset(dst, 0xa5, size);	/* fault it in: measure the copy only */
	for (i = 0; i < nthreads; i++) {
		j[i].src = src + size / (uint64_t)nthreads * (uint64_t)i;
		j[i].dst = dst + size / (uint64_t)nthreads * (uint64_t)i;
		j[i].len = (size_t)(size / (uint64_t)nthreads);
	}
	for (r = 0; r < runs; r++) {
		t0 = now_ns();
		c0 = cpu_ns();
		for (i = 1; i < nthreads; i++)
			if (pthread_create(&tid[i], NULL, copy_main, &j[i]))
				errx(1, "pthread_create");
		copy_main(&j[0]);
		for (i = 1; i < nthreads; i++)
			pthread_join(tid[i], NULL);
		v[r] = (double)size / ((double)(now_ns() - t0) / 1e9);
		vc[r] = (double)size / ((double)(cpu_ns() - c0) / 1e9);
	}
	free(src);
	free(dst);
	*cpu_bw = median(vc, runs);
	return median(v, runs);
}

/*
 * Bytes/s of memcpy into freshly allocated chunk-sized heap buffers, as
 * when a heap is rebuilt from anything: the page faults that fill new
 * memory are part of the price, and on a VM they can cost more than the
 * copy. Both a checkpoint (new tmpfs pages) and an adoption (new heap
 * pages) pay them, so this is the like-for-like floor.
 */
struct fjob {
	const unsigned char *src;
	unsigned char	**dst;
	size_t		 nchunk, chunk, first, step;
};

static void *
fresh_main(void *arg)
{
	struct fjob *j = arg;
	size_t i;

	for (i = j->first; i < j->nchunk; i += j->step) {
		if ((j->dst[i] = malloc(j->chunk)) == NULL)
			err(1, "malloc");
		memcpy(j->dst[i], j->src + i * j->chunk, j->chunk);
	}
	return NULL;
}

static double
bench_memcpy_fresh(uint64_t size, size_t chunk, int runs, int nthreads)
{
	double v[MAX_RUNS];
	struct fjob j[MAX_THREADS];
	pthread_t tid[MAX_THREADS];
	unsigned char *src, **dst;
	size_t n = (size_t)(size / chunk), k;
	uint64_t t0;
	int r, i;

	if ((src = malloc(size)) == NULL ||
	    (dst = calloc(n, sizeof(*dst))) == NULL)
		err(1, "memcpy buffers");
	memset(src, 0x5a, size);
	for (r = 0; r < runs; r++) {
		for (i = 0; i < nthreads; i++)
			j[i] = (struct fjob){ src, dst, n, chunk, (size_t)i,
			    (size_t)nthreads };
		t0 = now_ns();
		for (i = 1; i < nthreads; i++)
			if (pthread_create(&tid[i], NULL, fresh_main, &j[i]))
				errx(1, "pthread_create");
		fresh_main(&j[0]);
		for (i = 1; i < nthreads; i++)
			pthread_join(tid[i], NULL);
		v[r] = (double)size / ((double)(now_ns() - t0) / 1e9);
		for (k = 0; k < n; k++)
			free(dst[k]);
	}
	free(dst);
	free(src);
	return median(v, runs);
}

/*
 * Bytes/s at which the kernel hands out new zeroed pages (chunk-sized
 * anonymous mappings prefaulted with MADV_POPULATE_WRITE, no copy): what
 * any copy into memory that did not exist before pays on top of the
 * copy. With memcpy's own rate it bounds the ratio to memcpy that a
 * checkpoint (new tmpfs pages) or an adoption (new heap) can reach here.
 */
static double
bench_page_supply(uint64_t size, size_t chunk, int runs)
{
	double v[MAX_RUNS];
	size_t n = (size_t)(size / chunk), k;
	void **p;
	uint64_t t0;
	int r;

	if ((p = calloc(n, sizeof(*p))) == NULL)
		err(1, "page supply");
	for (r = 0; r < runs; r++) {
		t0 = now_ns();
		for (k = 0; k < n; k++) {
			p[k] = mmap(NULL, chunk, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (p[k] == MAP_FAILED)
				err(1, "mmap");
			if (madvise(p[k], chunk, MADV_POPULATE_WRITE) < 0)
				err(1, "madvise(MADV_POPULATE_WRITE)");
		}
		v[r] = (double)size / ((double)(now_ns() - t0) / 1e9);
		for (k = 0; k < n; k++)
			munmap(p[k], chunk);
	}
	free(p);
	return median(v, runs);
}

/* ---- checkpoint ---- */

static void *
ckpt_main(void *arg)
{
	struct job *j = arg;
	struct state *st = j->st;
	size_t i;
	int rc;

	for (i = j->first; i < st->nchunk; i += j->step) {
		if ((rc = shms_seg_write(j->seg, st->ch[i], st->chunk)) < 0) {
			j->rc = rc;
			return NULL;
		}
		/* In shared memory now: the heap copy goes. */
		free(st->ch[i]);
		st->ch[i] = NULL;
	}
	j->rc = shms_seg_close(j->seg);
	return NULL;
}

static void
run_jobs(struct job *jobs, int n, void *(*fn)(void *))
{
	pthread_t tid[MAX_THREADS];
	int i;

	for (i = 1; i < n; i++)
		if (pthread_create(&tid[i], NULL, fn, &jobs[i]) != 0)
			errx(1, "pthread_create");
	fn(&jobs[0]);
	for (i = 1; i < n; i++)
		pthread_join(tid[i], NULL);
	for (i = 0; i < n; i++)
		if (jobs[i].rc < 0)
			lib_fail(jobs[i].rc, "segment");
}

/* Seconds to checkpoint the whole state into nthreads segments. */
static double
ckpt(struct state *st, int nthreads)
{
	struct job jobs[MAX_THREADS];
	struct shms_ckpt *ck;
	char name[16];
	uint64_t t0 = now_ns(), c0 = cpu_ns();
	int i, rc;

	if ((rc = shms_ckpt_begin(svc, 0, &ck)) < 0)
		lib_fail(rc, "ckpt_begin");
	memset(jobs, 0, sizeof(jobs));
	for (i = 0; i < nthreads; i++) {
		jobs[i].st = st;
		jobs[i].first = (size_t)i;
		jobs[i].step = (size_t)nthreads;
		snprintf(name, sizeof(name), "s%d", i);
		/*
		 * No size hint: a hint is allocated up front, which would
		 * hold the whole state in shared memory while it is still in
		 * the heap. Growing in steps keeps the peak near 1x.
		 */
		if ((rc = shms_ckpt_seg_create(ck, name, LAYOUT, 1, 0,
		    &jobs[i].seg)) < 0)
			lib_fail(rc, "seg_create");
	}
	run_jobs(jobs, nthreads, ckpt_main);
	if ((rc = shms_ckpt_commit(ck, 0, NULL)) < 0)
		lib_fail(rc, "commit");
	last_cpu = (double)(cpu_ns() - c0) / 1e9;
	return (double)(now_ns() - t0) / 1e9;
}

/* ---- adopt ---- */

static void *
adopt_main(void *arg)
{
	struct job *j = arg;
	struct state *st = j->st;
	const unsigned char *data = NULL;
	uint64_t len, off = 0;
	size_t i, got;
	int rc = 0;

	if (j->verify == SHMS_VERIFY_FULL &&
	    (rc = shms_seg_data(j->seg, (const void **)&data, &len)) < 0)
		goto out;
	for (i = j->first; i < st->nchunk; i += j->step) {
		if ((st->ch[i] = malloc(st->chunk)) == NULL) {
			rc = -ENOMEM;
			goto out;
		}
		if (data != NULL) {
			/* Checked at open: copy out, then give it back. */
			memcpy(st->ch[i], data + off, st->chunk);
			rc = shms_seg_release(j->seg, off, st->chunk, 0);
			off += st->chunk;
		} else {
			rc = shms_seg_read(j->seg, st->ch[i], st->chunk, &got);
			if (rc == 0 && got != st->chunk)
				rc = -EIO;
			if (rc == 0)
				rc = shms_seg_release(j->seg, 0, 0,
				    SHMS_RELEASE_READ);
		}
		if (rc < 0)
			goto out;
	}
	if (data == NULL) {
		/* The read that reaches the end checks the checksum. */
		rc = shms_seg_read(j->seg, &len, sizeof(len), &got);
		if (rc == 0 && got != 0)
			rc = -EIO;
	}
	if (rc == 0)
		rc = shms_seg_close(j->seg);
out:
	j->rc = rc;
	return NULL;
}

/* Seconds to adopt the committed checkpoint back into the heap. */
static double
adopt(struct state *st, int nthreads, enum shms_verify verify)
{
	struct job jobs[MAX_THREADS];
	struct shms_adopt *ad;
	char name[16];
	uint64_t t0 = now_ns(), c0 = cpu_ns();
	int i, rc;

	if ((rc = shms_adopt_begin(svc, 0, &ad)) < 0)
		lib_fail(rc, "adopt_begin");
	if ((int)shms_adopt_count(ad) != nthreads)
		errx(1, "adopt: %zu segments", shms_adopt_count(ad));
	memset(jobs, 0, sizeof(jobs));
	for (i = 0; i < nthreads; i++) {
		jobs[i].st = st;
		jobs[i].first = (size_t)i;
		jobs[i].step = (size_t)nthreads;
		jobs[i].verify = verify;
		snprintf(name, sizeof(name), "s%d", i);
		/* FULL reads the payload once here, before returning. */
		if ((rc = shms_adopt_seg_open(ad, name, LAYOUT, 1, verify,
		    &jobs[i].seg)) < 0)
			lib_fail(rc, name);
	}
	/*
	 * FULL verification ran in the opens above, one segment after the
	 * other; copying out runs in parallel.
	 */
	run_jobs(jobs, nthreads, adopt_main);
	if ((rc = shms_adopt_finish(ad, 0)) < 0)
		lib_fail(rc, "adopt_finish");
	last_cpu = (double)(cpu_ns() - c0) / 1e9;
	return (double)(now_ns() - t0) / 1e9;
}

/* ---- driver ---- */

static uint64_t
parse_size(const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s)
		errx(1, "bad size %s", s);
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	}
	if (*end != '\0' || v < (1u << 20))
		errx(1, "bad size %s (at least 1m)", s);
	return v;
}

static void
label(uint64_t size, char *buf, size_t len)
{
	if (size % (1u << 30) == 0)
		snprintf(buf, len, "%" PRIu64 "g", size >> 30);
	else
		snprintf(buf, len, "%" PRIu64 "m", size >> 20);
}

static void
figure(const char *name, const char *lbl, const char *suffix, double v,
    const char *unit)
{
	printf("%s_%s%s: %.2f %s\n", name, lbl, suffix, v, unit);
}

static void
bench_size(uint64_t size, size_t chunk, int runs)
{
	double mc[MAX_THREADS + 1], mf[MAX_THREADS + 1], ck[2 * MAX_RUNS],
	    as[MAX_RUNS], ckc[2 * MAX_RUNS], asc[MAX_RUNS], afc[MAX_RUNS], mcc,
	    unused,
	    af[MAX_RUNS], c, s, f, ps;
	const char *ratio, *fresh;
	struct sampler smp;
	struct state st;
	char lbl[32], dir[4096];
	const char *sfx;
	int nt, r;

	label(size, lbl, sizeof(lbl));
	mc[1] = bench_memcpy(size, runs, 1, &mcc);
	mc[2] = bench_memcpy(size, runs, 2, &unused);
	mf[1] = bench_memcpy_fresh(size, chunk, runs, 1);
	mf[2] = bench_memcpy_fresh(size, chunk, runs, 2);
	figure("memcpy", lbl, "", mc[1] / GIB, "GiB/s");
	figure("memcpy", lbl, "_2t", mc[2] / GIB, "GiB/s");
	figure("memcpy_fresh", lbl, "", mf[1] / GIB, "GiB/s");
	figure("memcpy_fresh", lbl, "_2t", mf[2] / GIB, "GiB/s");
	ps = bench_page_supply(size, chunk, runs);
	figure("page_supply", lbl, "", ps / GIB, "GiB/s");
	/* copy + page supply, each at its own rate, against the copy alone */
	figure("new_memory_ceiling", lbl, "_ratio", ps / (ps + mc[1]), "x");

	for (nt = 1; nt <= MAX_THREADS; nt++) {
		sfx = nt == 1 ? "" : "_2t";
		for (r = 0; r < runs; r++) {
			state_make(&st, size, chunk);
			ck[2 * r] = ckpt(&st, nt);
			ckc[2 * r] = last_cpu;
			as[r] = adopt(&st, nt, SHMS_VERIFY_STREAM);
			asc[r] = last_cpu;
			state_check(&st);
			ck[2 * r + 1] = ckpt(&st, nt);
			ckc[2 * r + 1] = last_cpu;
			af[r] = adopt(&st, nt, SHMS_VERIFY_FULL);
			afc[r] = last_cpu;
			state_check(&st);
			state_free(&st);
		}
		c = (double)size / median(ck, 2 * runs);
		s = (double)size / median(as, runs);
		f = (double)size / median(af, runs);
		/* Ratios to memcpy between warm buffers, and to memcpy
		 * into fresh memory, with the same number of threads. */
		ratio = nt == 1 ? "_ratio" : "_2t_ratio";
		fresh = nt == 1 ? "_fresh_ratio" : "_2t_fresh_ratio";
		figure("ckpt", lbl, sfx, c / GIB, "GiB/s");
		figure("ckpt", lbl, ratio, c / mc[nt], "x");
		figure("ckpt", lbl, fresh, c / mf[nt], "x");
		figure("adopt", lbl, sfx, s / GIB, "GiB/s");
		figure("adopt", lbl, ratio, s / mc[nt], "x");
		figure("adopt", lbl, fresh, s / mf[nt], "x");
		figure("adopt_full", lbl, sfx, f / GIB, "GiB/s");
		figure("adopt_full", lbl, ratio, f / mc[nt], "x");
		figure("adopt_full", lbl, fresh, f / mf[nt], "x");
		if (nt == 1) {
			/* Per CPU second, against memcpy per CPU second. */
			figure("ckpt", lbl, "_cpu_ratio", (double)size /
			    median(ckc, 2 * runs) / mcc, "x");
			figure("adopt", lbl, "_cpu_ratio", (double)size /
			    median(asc, runs) / mcc, "x");
			figure("adopt_full", lbl, "_cpu_ratio", (double)size /
			    median(afc, runs) / mcc, "x");
		}
		fflush(stdout);
	}

	/* Memory, in a run of its own: sampling costs a little CPU. */
	snprintf(dir, sizeof(dir), "%s/%s", root, SERVICE);
	for (r = 0; r < runs; r++) {
		state_make(&st, size, chunk);
		memset(&smp, 0, sizeof(smp));
		smp.dir = dir;
		atomic_init(&smp.stop, 0);
		if (pthread_create(&smp.tid, NULL, sampler_main, &smp) != 0)
			errx(1, "pthread_create");
		ckpt(&st, 1);
		adopt(&st, 1, SHMS_VERIFY_STREAM);
		atomic_store(&smp.stop, 1);
		pthread_join(smp.tid, NULL);
		state_check(&st);
		state_free(&st);
		as[r] = (double)smp.peak;
	}
	f = median(as, runs);
	figure("peak_mem", lbl, "", f / MIB, "MiB");
	figure("peak_mem", lbl, "_ratio", f / (double)size, "x");
	fflush(stdout);
}

/*
 * The machine, as comment lines: figures mean little without it, and on
 * a shared machine the load average says how much to trust them.
 */
static void
print_machine(void)
{
	char line[256], model[256] = "?";
	double load[3] = { -1, -1, -1 };
	struct utsname u;
	FILE *f;

	if ((f = fopen("/proc/cpuinfo", "r")) != NULL) {
		while (fgets(line, sizeof(line), f) != NULL)
			if (sscanf(line, "model name : %255[^\n]", model) == 1)
				break;
		fclose(f);
	}
	getloadavg(load, 3);
	printf("# cpu: %s, %ld cpus; kernel %s; load average %.2f\n", model,
	    sysconf(_SC_NPROCESSORS_ONLN), uname(&u) == 0 ? u.release : "?",
	    load[0]);
}

static void __attribute__((noreturn))
usage(int status)
{
	fprintf(status ? stderr : stdout,
	    "usage: bench_ckpt [-h] [-r runs] [-s size,...] [-c chunk] "
	    "[-d root]\n"
	    "  -s  state sizes, k/m/g suffixes (default $BENCH_SIZES, or "
	    "1g,4g)\n"
	    "  -r  runs per figure, the median is printed (default "
	    "$BENCH_RUNS, or 3)\n"
	    "  -c  heap allocation size of the state (default 4m)\n"
	    "  -d  state root (default: a new directory in /dev/shm)\n");
	exit(status);
}

int
main(int argc, char **argv)
{
	uint64_t sizes[MAX_SIZES];
	const char *spec = getenv("BENCH_SIZES"), *e;
	char *list, *tok, *save, tmpl[] = "/dev/shm/shmstate-bench.XXXXXX";
	size_t chunk = 4u << 20;
	int nsizes = 0, runs = 3, c, i, rc, own_root = 0;

	if (getenv("BENCH_RUNS") != NULL)
		runs = atoi(getenv("BENCH_RUNS"));
	while ((c = getopt(argc, argv, "c:d:hr:s:")) != -1) {
		switch (c) {
		case 'c':
			chunk = (size_t)parse_size(optarg);
			break;
		case 'd':
			root = optarg;
			break;
		case 'h':
			usage(0);
		case 'r':
			runs = atoi(optarg);
			break;
		case 's':
			spec = optarg;
			break;
		default:
			usage(1);
		}
	}
	if (optind != argc)
		usage(1);
	if (runs < 1 || runs > MAX_RUNS)
		errx(1, "runs must be 1..%d", MAX_RUNS);
	if (spec == NULL || *spec == '\0')
		spec = "1g,4g";
	if ((list = strdup(spec)) == NULL)
		err(1, "strdup");
	for (tok = strtok_r(list, ", ", &save); tok != NULL;
	    tok = strtok_r(NULL, ", ", &save)) {
		if (nsizes == MAX_SIZES)
			errx(1, "at most %d sizes", MAX_SIZES);
		sizes[nsizes++] = parse_size(tok);
		if (sizes[nsizes - 1] % chunk != 0)
			errx(1, "size %s is not a multiple of the chunk", tok);
	}
	free(list);
	if (nsizes == 0)
		usage(1);

	/*
	 * A fixed threshold (glibc raises it on the fly otherwise), so every
	 * chunk is its own mapping and free() returns it to the kernel at
	 * once: the heap shrinks as the checkpoint grows.
	 */
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
	if (root == NULL) {
		if (mkdtemp(tmpl) == NULL)
			err(1, "mkdtemp");
		root = tmpl;
		own_root = 1;
	}
	if ((rc = shms_svc_open(&svc, root, SERVICE, 0)) < 0) {
		e = shms_strerror(rc);
		errx(1, "%s/%s: %s", root, SERVICE, e);
	}
	printf("# bench_ckpt: runs %d, chunk %zu MiB, state in %s\n", runs,
	    chunk >> 20, root);
	print_machine();
	for (i = 0; i < nsizes; i++)
		bench_size(sizes[i], chunk, runs);
	print_machine();
	shms_svc_close(svc);
	if (own_root) {
		char path[4096];

		snprintf(path, sizeof(path), "%s/%s/lock", root, SERVICE);
		unlink(path);
		snprintf(path, sizeof(path), "%s/%s", root, SERVICE);
		rmdir(path);
		rmdir(root);
	}
	return 0;
}
