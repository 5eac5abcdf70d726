/*
 * helper_kv_state: writes or adopts a pattern checkpoint (helper_kv.h) from
 * the command line, so that shell tests can put the writer and the adopter
 * in separate processes, mounts or moments.
 *
 *   helper_kv_state write  SERVICE TAG NSEG SEGLEN [write|reserve][-nohint]
 *   helper_kv_state verify SERVICE TAG NSEG SEGLEN [full|stream|header]
 *                          [abort|keep|finish]
 *
 * SEGLEN takes a k/m/g suffix. State lives under $SHMSTATE_DIR. Prints
 * "rc=N gen=G tag=T" and a reason; exits 0 on success, 2 on a library
 * error, 3 if the adopted content is not checkpoint TAG, exact.
 */
#include <limits.h>

#include <bsd/stdlib.h>

#include "helper_kv.h"

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: helper_kv_state write SERVICE TAG NSEG SEGLEN "
	    "[write|reserve][-nohint]\n"
	    "       helper_kv_state verify SERVICE TAG NSEG SEGLEN "
	    "[full|stream|header] [abort|keep|finish]\n");
	exit(64);
}

static uint64_t
size_arg(const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s)
		usage();
	switch (*end) {
	case 'k': v <<= 10; end++; break;
	case 'm': v <<= 20; end++; break;
	case 'g': v <<= 30; end++; break;
	}
	if (*end != '\0' || v == 0 || v % 8 != 0)
		usage();
	return v;
}

int
main(int argc, char **argv)
{
	struct kvt_spec sp = { .chunk = 256u << 10, .progress_fd = -1,
	    .ack_fd = -1 };
	enum shms_verify verify = SHMS_VERIFY_FULL;
	struct shms_svc *svc;
	char why[KVT_WHY] = "";
	uint64_t tag, gen = 0, got = 0;
	const char *e;
	int rc, finish = -1;

	if (argc < 6)
		usage();
	tag = (uint64_t)strtonum(argv[3], 1, LLONG_MAX, &e);
	if (e != NULL)
		usage();
	sp.nseg = (unsigned)strtonum(argv[4], 1, 64, &e);
	if (e != NULL)
		usage();
	sp.seg_len = size_arg(argv[5]);
	kvt_state_dir();
	if ((rc = shms_svc_open_detail(&svc, NULL, argv[2], 0, why,
	    sizeof(why))) < 0) {
		printf("rc=%d svc_open: %s: %s\n", rc, shms_strerror(rc), why);
		return 2;
	}
	if (strcmp(argv[1], "write") == 0) {
		if (argc > 6) {
			sp.reserve = strncmp(argv[6], "reserve", 7) == 0;
			sp.no_hint = strstr(argv[6], "-nohint") != NULL;
		}
		rc = kvt_write(svc, tag, &sp, &gen, why);
		got = tag;
	} else if (strcmp(argv[1], "verify") == 0) {
		if (argc > 6)
			verify = strcmp(argv[6], "stream") == 0 ?
			    SHMS_VERIFY_STREAM : strcmp(argv[6], "header") ==
			    0 ? SHMS_VERIFY_HEADER : SHMS_VERIFY_FULL;
		if (argc > 7)
			finish = strcmp(argv[7], "keep") == 0 ?
			    (int)SHMS_ADOPT_KEEP : strcmp(argv[7], "finish") ==
			    0 ? 0 : -1;
		rc = kvt_verify(svc, &sp, verify, finish, &got, &gen, why);
		if (rc == 0 && got != tag) {
			rc = -EBADMSG;
			kvt_why(why, "adopted checkpoint %" PRIu64 ", expected %"
			    PRIu64, got, tag);
		}
	} else
		usage();
	shms_svc_close(svc);
	printf("rc=%d gen=%" PRIu64 " tag=%" PRIu64 " %s\n", rc, gen, got,
	    rc == 0 ? "ok" : why);
	return rc == 0 ? 0 : rc == -EBADMSG ? 3 : 2;
}
