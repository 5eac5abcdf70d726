/*
 * gen_corpus: writes the seed corpora of the file-format fuzz targets
 * from files the library really produced: segment headers and manifests
 * of real checkpoints, and payloads of real arenas after real allocator
 * work. Run by `make fuzz-corpus`; the output is committed under
 * tests/fuzz/corpus/<target>/.
 *   gen_corpus CORPUS_DIR
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

static const char *out_dir;

static void
die(const char *what, int rc)
{
	fprintf(stderr, "gen_corpus: %s: %s\n", what, shms_strerror(rc));
	exit(1);
}

/* Writes flag byte + len bytes of buf as <out>/<target>/<name>. */
static void
put(const char *target, const char *name, int flag, const void *buf,
    size_t len)
{
	char path[4096];
	unsigned char f = (unsigned char)flag;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", out_dir, target);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%s/%s", out_dir, target, name);
	if ((fp = fopen(path, "wb")) == NULL)
		die(path, -errno);
	if (flag >= 0)
		fwrite(&f, 1, 1, fp);
	fwrite(buf, 1, len, fp);
	if (fclose(fp) != 0)
		die(path, -errno);
}

/* Reads [off, off + len) of file name in the service directory. */
static void *
slurp(struct shms_svc *svc, const char *name, uint64_t off, size_t *len)
{
	char path[4096];
	struct stat st;
	void *buf;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", shms_svc_path(svc), name);
	if ((fd = open(path, O_RDONLY)) < 0 || fstat(fd, &st) < 0)
		die(path, -errno);
	if (*len == 0)
		*len = (size_t)st.st_size - (size_t)off;
	if ((buf = malloc(*len)) == NULL ||
	    pread(fd, buf, *len, (off_t)off) != (ssize_t)*len)
		die(path, -EIO);
	close(fd);
	return buf;
}

static void
checkpoints(struct shms_svc *svc)
{
	static const size_t sizes[] = { 0, 100, 70000 };
	char name[32], file[SHMS__FILE_MAX];
	struct shms_ckpt *ck;
	struct shms_seg *seg;
	unsigned char *data;
	uint64_t gen;
	size_t i, len;
	void *buf;
	int rc, round;

	data = calloc(1, 70000);
	for (round = 0; round < 2; round++) {
		if ((rc = shms_ckpt_begin(svc, 0, &ck)) < 0)
			die("ckpt_begin", rc);
		for (i = 0; i < (round ? 3u : 1u); i++) {
			snprintf(name, sizeof(name), "shard-%zu", i);
			if ((rc = shms_ckpt_seg_create(ck, name, "kv.items",
			    (uint32_t)i + 1, 0, &seg)) < 0)
				die("seg_create", rc);
			memset(data, 'a' + (int)i, sizes[i]);
			if ((rc = shms_seg_write(seg, data, sizes[i])) < 0)
				die("seg_write", rc);
		}
		if ((rc = shms_ckpt_commit(ck, SHMS_CKPT_KEEP_OLD, &gen)) < 0)
			die("commit", rc);
		for (i = 0; i < (round ? 3u : 1u); i++) {
			snprintf(name, sizeof(name), "shard-%zu", i);
			shms__ckpt_file(file, gen, name);
			len = SHMS__HDR_USED;
			buf = slurp(svc, file, 0, &len);
			snprintf(name, sizeof(name), "ckpt-g%d-%zu", round, i);
			put("hdr", name, 0, buf, len);
			snprintf(name, sizeof(name), "ckpt-g%d-%zu-fix", round,
			    i);
			put("hdr", name, 1, buf, len);
			free(buf);
		}
		len = 0;
		buf = slurp(svc, SHMS__MANIFEST_FILE, 0, &len);
		snprintf(name, sizeof(name), "manifest-%d", round);
		put("manifest", name, 0, buf, len);
		snprintf(name, sizeof(name), "manifest-%d-fix", round);
		put("manifest", name, 1, buf, len);
		free(buf);
	}
	free(data);
}

/* An arena after some allocator work; sealed or left live (dirty). */
static void
arena(struct shms_svc *svc, const char *name, uint64_t size, uint64_t max,
    int seal)
{
	static const size_t sizes[] = { 16, 100, 500, 40000, 16, 100, 16,
	    500, 100, 16 };
	struct shms_arena *a;
	uint64_t offs[SHMS__ARRAY_SIZE(sizes)];
	char file[128], tname[128];
	size_t i, len;
	void *buf, *hdr;
	int rc;

	if ((rc = shms_arena_create(svc, name, "fuzz", 1, size, max, 0, &a)) <
	    0)
		die("arena_create", rc);
	for (i = 0; i < SHMS__ARRAY_SIZE(sizes); i++)
		if ((rc = shms_arena_alloc(a, sizes[i], &offs[i])) < 0)
			die("arena_alloc", rc);
	for (i = 0; i < SHMS__ARRAY_SIZE(sizes); i += 3)
		if ((rc = shms_arena_free(a, offs[i])) < 0)
			die("arena_free", rc);
	shms_arena_root_set(a, offs[1]);
	if (seal)
		rc = shms_arena_seal(a, SHMS_ARENA_SUM);
	else
		rc = shms_arena_close(a);
	if (rc < 0)
		die("arena seal/close", rc);
	snprintf(file, sizeof(file), "arena.%s", name);
	len = SHMS__HDR_USED;
	hdr = slurp(svc, file, 0, &len);
	snprintf(tname, sizeof(tname), "arena-%s", name);
	put("hdr", tname, 0, hdr, len);
	free(hdr);
	len = 0;
	buf = slurp(svc, file, 0, &len);
	snprintf(tname, sizeof(tname), "%s", name);
	put("arena_file", tname, 0, buf, len);
	snprintf(tname, sizeof(tname), "%s-verify-dirty", name);
	put("arena_file", tname, 6, buf, len);
	free(buf);
	len = 0;
	buf = slurp(svc, file, SHMS__HDR_PAGE, &len);
	snprintf(tname, sizeof(tname), "%s-light", name);
	put("arena", tname, 0x0a, buf, len);
	snprintf(tname, sizeof(tname), "%s-full", name);
	put("arena", tname, 0x0b, buf, len);
	free(buf);
}

int
main(int argc, char **argv)
{
	char root[] = "/dev/shm/shms-corpus.XXXXXX";
	struct shms_svc *svc;
	int rc;

	if (argc != 2) {
		fprintf(stderr, "usage: gen_corpus CORPUS_DIR\n");
		return 2;
	}
	out_dir = argv[1];
	if (mkdtemp(root) == NULL)
		die("mkdtemp", -errno);
	if ((rc = shms_svc_open(&svc, root, "corpus", 0)) < 0)
		die("svc_open", rc);
	shms_svc_set_build_id(svc, "fuzz-corpus");
	checkpoints(svc);
	arena(svc, "small", 256u << 10, 0, 1);
	arena(svc, "grow", 256u << 10, 512u << 10, 1);
	arena(svc, "dirty", 256u << 10, 0, 0);
	shms_svc_close(svc);
	/* The state is disposable. */
	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
		if (system(cmd) != 0)
			return 1;
	}
	return 0;
}
