/*
 * helper_ckpt: makes checkpoint state for the shmctl tests.
 *
 *   helper_ckpt [-cK] [-H secs] [-s service] name=size[:pattern] ...
 *   helper_ckpt -E size[:pattern]
 *
 * Writes one checkpoint of the service (default "svc", under
 * $SHMSTATE_DIR) with the given segments, layout "helper" version 1; byte
 * i of a segment is (pattern + i) & 0xff. -K keeps the previous
 * generation (so it becomes superseded), -c writes the segments and then
 * exits without committing (an uncommitted generation, as a crash leaves
 * it), -H prints "ready" once done and keeps the owner lock for secs
 * seconds (0: just take the lock). -E writes the payload a segment would
 * have to stdout, for cmp.
 */
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bsd/stdlib.h>

#include "shmstate.h"

#define CHUNK	65536

struct spec {
	char		name[SHMS_NAME_MAX + 1];
	uint64_t	size;
	unsigned	pattern;
};

static void
usage(void)
{
	fprintf(stderr, "usage: helper_ckpt [-cK] [-H secs] [-s service] "
	    "name=size[:pattern] ...\n"
	    "       helper_ckpt -E size[:pattern]\n");
	exit(2);
}

static void
parse_spec(const char *arg, struct spec *s, int named)
{
	char buf[256], *p = buf, *eq, *colon;
	const char *e;

	if (strlen(arg) >= sizeof(buf))
		errx(2, "%s: too long", arg);
	strcpy(buf, arg);
	memset(s, 0, sizeof(*s));
	if (named) {
		if ((eq = strchr(buf, '=')) == NULL)
			errx(2, "%s: expected name=size", arg);
		*eq = '\0';
		if (shms_name_valid(buf) != 0)
			errx(2, "%s: invalid segment name", buf);
		strcpy(s->name, buf);
		p = eq + 1;
	}
	if ((colon = strchr(p, ':')) != NULL) {
		*colon = '\0';
		s->pattern = (unsigned)strtonum(colon + 1, 0, 255, &e);
		if (e != NULL)
			errx(2, "%s: pattern %s", arg, e);
	}
	s->size = (uint64_t)strtonum(p, 0, 1LL << 34, &e);
	if (e != NULL)
		errx(2, "%s: size %s", arg, e);
}

static void
fill(unsigned char *buf, size_t n, uint64_t off, unsigned pattern)
{
	size_t i;

	for (i = 0; i < n; i++)
		buf[i] = (unsigned char)((pattern + off + i) & 0xff);
}

static void
expected(const char *arg)
{
	unsigned char buf[CHUNK];
	struct spec s;
	uint64_t off;
	size_t n;

	parse_spec(arg, &s, 0);
	for (off = 0; off < s.size; off += n) {
		n = s.size - off < CHUNK ? (size_t)(s.size - off) : CHUNK;
		fill(buf, n, off, s.pattern);
		if (fwrite(buf, 1, n, stdout) != n)
			err(1, "stdout");
	}
	if (fflush(stdout) != 0)
		err(1, "stdout");
}

static void
write_seg(struct shms_svc *svc, struct shms_ckpt *ck, const struct spec *s)
{
	unsigned char buf[CHUNK];
	struct shms_seg *seg;
	uint64_t off;
	size_t n;
	int rc;

	rc = shms_ckpt_seg_create(ck, s->name, "helper", 1, s->size, &seg);
	if (rc != 0)
		errx(1, "seg_create %s: %s: %s", s->name, shms_strerror(rc),
		    shms_errdetail(svc));
	for (off = 0; off < s->size; off += n) {
		n = s->size - off < CHUNK ? (size_t)(s->size - off) : CHUNK;
		fill(buf, n, off, s->pattern);
		if ((rc = shms_seg_write(seg, buf, n)) != 0)
			errx(1, "write %s: %s", s->name, shms_strerror(rc));
	}
	if ((rc = shms_seg_close(seg)) != 0)
		errx(1, "close %s: %s", s->name, shms_strerror(rc));
}

int
main(int argc, char *argv[])
{
	const char *service = "svc", *e;
	struct shms_svc *svc;
	struct shms_ckpt *ck;
	struct spec s;
	long long hold = -1;
	unsigned flags = 0;
	uint64_t gen;
	int ch, crash = 0, rc, i;

	while ((ch = getopt(argc, argv, "cE:H:Ks:")) != -1) {
		switch (ch) {
		case 'c':
			crash = 1;
			break;
		case 'E':
			expected(optarg);
			return 0;
		case 'H':
			hold = strtonum(optarg, 0, 3600, &e);
			if (e != NULL)
				errx(2, "-H %s: %s", optarg, e);
			break;
		case 'K':
			flags |= SHMS_CKPT_KEEP_OLD;
			break;
		case 's':
			service = optarg;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if ((rc = shms_svc_open(&svc, NULL, service, 0)) != 0)
		errx(1, "open %s: %s", service, shms_strerror(rc));
	if (argc > 0) {
		if ((rc = shms_ckpt_begin(svc, 0, &ck)) != 0)
			errx(1, "ckpt_begin: %s: %s", shms_strerror(rc),
			    shms_errdetail(svc));
		for (i = 0; i < argc; i++) {
			parse_spec(argv[i], &s, 1);
			write_seg(svc, ck, &s);
		}
		if (crash)
			_exit(0);	/* as if killed before the commit */
		if ((rc = shms_ckpt_commit(ck, flags, &gen)) != 0)
			errx(1, "commit: %s: %s", shms_strerror(rc),
			    shms_errdetail(svc));
		printf("generation %llu\n", (unsigned long long)gen);
	}
	if (hold >= 0) {
		printf("ready\n");
		fflush(stdout);
		sleep((unsigned)hold);
	}
	if ((rc = shms_svc_close(svc)) != 0)
		errx(1, "close: %s", shms_strerror(rc));
	return 0;
}
