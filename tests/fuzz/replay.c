/*
 * replay.c: runs a fuzz target's LLVMFuzzerTestOneInput() on files, without
 * libFuzzer, so that make check replays the corpus and the regression
 * inputs under the normal compiler (and under ASan with SAN=1).
 *   replay_<target> FILE|DIR...
 * A crash or an abort() in the target fails the run like any test.
 */
#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static unsigned long ninputs;

static void
run_file(const char *path)
{
	unsigned char *buf;
	struct stat st;
	FILE *f;
	size_t n;

	if ((f = fopen(path, "rb")) == NULL || fstat(fileno(f), &st) < 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	/* +1: a zero-length input still gets a valid, distinct pointer. */
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		fprintf(stderr, "replay: out of memory\n");
		exit(1);
	}
	n = fread(buf, 1, (size_t)st.st_size, f);
	fclose(f);
	if (n != (size_t)st.st_size) {
		fprintf(stderr, "replay: %s: short read\n", path);
		exit(1);
	}
	LLVMFuzzerTestOneInput(buf, n);
	free(buf);
	ninputs++;
}

static int
cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
run_path(const char *path)
{
	char **names = NULL, full[4096];
	struct dirent *de;
	size_t n = 0, cap = 0, i;
	struct stat st;
	DIR *d;

	if (stat(path, &st) < 0) {
		if (errno == ENOENT)
			return;		/* no regression inputs yet */
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	if (!S_ISDIR(st.st_mode)) {
		run_file(path);
		return;
	}
	if ((d = opendir(path)) == NULL) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			char **v;

			cap = cap ? cap * 2 : 64;
			if ((v = realloc(names, cap * sizeof(*names))) == NULL)
				exit(1);
			names = v;
		}
		if ((names[n++] = strdup(de->d_name)) == NULL)
			exit(1);
	}
	closedir(d);
	/* A fixed order, so a failure reproduces. */
	if (n > 0)
		qsort(names, n, sizeof(*names), cmp);
	for (i = 0; i < n; i++) {
		snprintf(full, sizeof(full), "%s/%s", path, names[i]);
		run_file(full);
		free(names[i]);
	}
	free(names);
}

int
main(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++)
		run_path(argv[i]);
	printf("%s: %lu inputs replayed\n", argc > 0 ? argv[0] : "replay",
	    ninputs);
	return 0;
}
