/*
 * readme: the API example of README.md, as a program that runs, so the
 * example stays true. `make check` (check-readme) verifies that the
 * README's code block is exactly the region between the README markers
 * below, then runs the program: it fills a table, checkpoints it, execs
 * itself and adopts the table in the new image.
 */
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shmstate.h"

struct table {
	unsigned	n;
	unsigned	v[1024];
};

/* README begin */
#define TRY(call) do { int rc_ = (call); if (rc_ < 0) \
	errx(1, "%s: %s", #call, shms_strerror(rc_)); } while (0)

/* At a planned stop: copy the table into a checkpoint and commit it. */
static void
save(const struct table *t)
{
	struct shms_svc *svc;
	struct shms_ckpt *ck;
	struct shms_seg *seg;

	TRY(shms_svc_open(&svc, NULL, "readme", 0));	/* the one owner */
	TRY(shms_ckpt_begin(svc, 0, &ck));
	TRY(shms_ckpt_seg_create(ck, "table", "readme.table", 1, sizeof(*t),
	    &seg));
	TRY(shms_seg_write(seg, t, sizeof(*t)));
	TRY(shms_ckpt_commit(ck, 0, NULL));	/* atomic: all or nothing */
	TRY(shms_svc_close(svc));
}

/* In the next process: adopt it. Returns 0 if there is nothing to adopt. */
static int
load(struct table *t)
{
	struct shms_svc *svc;
	struct shms_adopt *ad;
	struct shms_seg *seg;
	const void *p;
	uint64_t len;
	int rc;

	TRY(shms_svc_open(&svc, NULL, "readme", 0));
	if ((rc = shms_adopt_begin(svc, 0, &ad)) == SHMS_ENOSTATE) {
		TRY(shms_svc_close(svc));
		return 0;			/* first start: cold */
	}
	TRY(rc);
	TRY(shms_adopt_seg_open(ad, "table", "readme.table", 1,
	    SHMS_VERIFY_FULL, &seg));	/* layout, version, checksum */
	TRY(shms_seg_data(seg, &p, &len));
	if (len != sizeof(*t))
		errx(1, "table: %llu bytes", (unsigned long long)len);
	memcpy(t, p, sizeof(*t));
	TRY(shms_adopt_finish(ad, 0));	/* closes seg, removes the state */
	TRY(shms_svc_close(svc));
	return 1;
}
/* README end */

int
main(int argc, char **argv)
{
	static struct table t;
	char *args[] = { argv[0], "--adopted", NULL };
	unsigned i;

	if (argc > 1 && strcmp(argv[1], "--adopted") == 0) {
		if (!load(&t))
			errx(1, "nothing to adopt after exec");
		for (i = 0; i < t.n; i++)
			if (t.v[i] != i * i)
				errx(1, "entry %u: %u, expected %u", i, t.v[i],
				    i * i);
		if (load(&t))
			errx(1, "the adopted checkpoint was not removed");
		printf("readme: %u entries survived the exec\n", t.n);
		return 0;
	}
	if (load(&t))
		errx(1, "state left over from an earlier run");
	t.n = 1024;
	for (i = 0; i < t.n; i++)
		t.v[i] = i * i;
	save(&t);
	execv("/proc/self/exe", args);
	err(1, "execv /proc/self/exe");
}
