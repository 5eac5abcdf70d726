/*
 * test_notify.c: the sd_notify helpers: the strict datagram parser (a
 * table of good and bad messages), and real datagrams sent to path and
 * abstract sockets, with credentials and passed fds.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "shmstate.h"

static const struct {
	const char	*msg;
	int		 rc;
	unsigned	 seen;
} parses[] = {
	{ "READY=1",				0, SHMS_NOTIFY_READY },
	{ "READY=1\n",				0, SHMS_NOTIFY_READY },
	{ "READY=1\nSTATUS=serving 3 keys",	0,
	    SHMS_NOTIFY_READY | SHMS_NOTIFY_STATUS },
	{ "STOPPING=1\nSTATUS=bye\n",		0,
	    SHMS_NOTIFY_STOPPING | SHMS_NOTIFY_STATUS },
	{ "MAINPID=4242",			0, SHMS_NOTIFY_MAINPID },
	{ "ERRNO=2",				0, SHMS_NOTIFY_ERRNO },
	{ "FDSTORE=1\nFDNAME=conn-7",		0,
	    SHMS_NOTIFY_FDSTORE | SHMS_NOTIFY_FDNAME },
	{ "X_SHMS_CHECKPOINT_US=1500",		0, SHMS_NOTIFY_CKPT_US },
	{ "X_SHMS_ADOPT_US=0",			0, SHMS_NOTIFY_ADOPT_US },
	{ "X_SHMS_CONNS_TAKEN=16384",		0, SHMS_NOTIFY_CONNS_TAKEN },
	{ "WATCHDOG=1\nRELOADING=1",		0,
	    SHMS_NOTIFY_WATCHDOG | SHMS_NOTIFY_RELOADING },
	{ "STATUS=",				0, SHMS_NOTIFY_STATUS },
	{ "STATUS=tab\there",			0, SHMS_NOTIFY_STATUS },
	{ "X_UNKNOWN=whatever",			0, 0 },	/* ignored */
	{ "MONOTONIC_USEC=1",			0, 0 },
	{ "",					SHMS_EPROTO, 0 },
	{ "\n",					SHMS_EPROTO, 0 },
	{ "READY",				SHMS_EPROTO, 0 },
	{ "=1",					SHMS_EPROTO, 0 },
	{ "ready=1",				SHMS_EPROTO, 0 },
	{ "READY=0",				SHMS_EPROTO, 0 },
	{ "READY=11",				SHMS_EPROTO, 0 },
	{ "READY=1\n\nSTATUS=x",		SHMS_EPROTO, 0 },
	{ "READY=1\n\n",			SHMS_EPROTO, 0 },
	{ "READY =1",				SHMS_EPROTO, 0 },
	{ "MAINPID=0",				SHMS_EPROTO, 0 },
	{ "MAINPID=-1",				SHMS_EPROTO, 0 },
	{ "MAINPID=99999999999",		SHMS_EPROTO, 0 },
	{ "MAINPID=12a",			SHMS_EPROTO, 0 },
	{ "MAINPID=",				SHMS_EPROTO, 0 },
	{ "ERRNO=4096",				SHMS_EPROTO, 0 },
	{ "FDNAME=",				SHMS_EPROTO, 0 },
	{ "FDNAME=a:b",				SHMS_EPROTO, 0 },
	{ "FDNAME=a b",				SHMS_EPROTO, 0 },
	{ "STATUS=bell\a",			SHMS_EPROTO, 0 },
	{ "STATUS=cr\r",			SHMS_EPROTO, 0 },
	{ "X_SHMS_CHECKPOINT_US=99999999999999999999999", SHMS_EPROTO, 0 },
	{ "X_SHMS_ADOPT_US=1.5",		SHMS_EPROTO, 0 },
	{ "X_SHMS_CONNS_TAKEN=16385",		SHMS_EPROTO, 0 },
	{ "X_SHMS_CONNS_TAKEN=",		SHMS_EPROTO, 0 },
};

static void
test_parse_table(void **state)
{
	struct shms_notify_msg m;
	size_t i;
	int rc;

	(void)state;
	for (i = 0; i < sizeof(parses) / sizeof(parses[0]); i++) {
		memset(&m, 0xa5, sizeof(m));
		rc = shms_notify_parse(parses[i].msg, strlen(parses[i].msg),
		    &m);
		if (rc != parses[i].rc)
			fail_msg("'%s': rc %d, expected %d", parses[i].msg, rc,
			    parses[i].rc);
		if (rc == 0 && m.seen != parses[i].seen)
			fail_msg("'%s': seen 0x%x, expected 0x%x",
			    parses[i].msg, m.seen, parses[i].seen);
		/* Written only on success. */
		if (rc != 0 && m.seen != 0xa5a5a5a5u)
			fail_msg("'%s': output written on failure",
			    parses[i].msg);
	}
}

static void
test_parse_values(void **state)
{
	struct shms_notify_msg m;
	const char *s = "READY=1\nSTATUS=x y\nMAINPID=77\nERRNO=5\n"
	    "FDNAME=kvd\nX_SHMS_CHECKPOINT_US=123456\nX_SHMS_ADOPT_US=42";
	char big[SHMS_NOTIFY_MAX + 2];

	(void)state;
	assert_int_equal(shms_notify_parse(s, strlen(s), &m), 0);
	assert_string_equal(m.status, "x y");
	assert_int_equal(m.mainpid, 77);
	assert_int_equal(m.errnum, 5);
	assert_string_equal(m.fdname, "kvd");
	assert_int_equal(m.ckpt_us, 123456);
	assert_int_equal(m.adopt_us, 42);

	/* Embedded NUL, NULL arguments, oversized. */
	assert_int_equal(shms_notify_parse("READY=1\0", 8, &m), SHMS_EPROTO);
	assert_int_equal(shms_notify_parse(NULL, 3, &m), SHMS_EPROTO);
	assert_int_equal(shms_notify_parse("READY=1", 7, NULL), SHMS_EPROTO);
	memset(big, 'A', sizeof(big));
	memcpy(big, "STATUS=", 7);
	assert_int_equal(shms_notify_parse(big, SHMS_NOTIFY_MAX + 1, &m),
	    SHMS_EPROTO);
	/* A long STATUS is accepted and truncated. */
	assert_int_equal(shms_notify_parse(big, SHMS_NOTIFY_MAX, &m), 0);
	assert_int_equal(strlen(m.status), SHMS_STATUS_MAX);
	/* Not NUL-terminated: only len bytes are read. */
	assert_int_equal(shms_notify_parse("READY=1garbage", 7, &m), 0);
	assert_int_equal(m.seen, SHMS_NOTIFY_READY);
}

/* A datagram socket at a temporary path (or abstract name). */
static int
listener(struct sockaddr_un *sa, int abstract)
{
	int s, one = 1;

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (abstract)
		snprintf(sa->sun_path + 1, sizeof(sa->sun_path) - 1,
		    "shms-test-notify-%ld", (long)getpid());
	else
		snprintf(sa->sun_path, sizeof(sa->sun_path),
		    "/tmp/shms-test-notify-%ld.sock", (long)getpid());
	s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(s >= 0);
	if (!abstract)
		unlink(sa->sun_path);
	assert_int_equal(bind(s, (struct sockaddr *)sa, abstract ?
	    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
	    strlen(sa->sun_path + 1)) : sizeof(*sa)), 0);
	assert_int_equal(setsockopt(s, SOL_SOCKET, SO_PASSCRED, &one,
	    sizeof(one)), 0);
	return s;
}

/* Receives one datagram; returns its length, fills creds and fds. */
static ssize_t
receive(int s, char *buf, size_t len, struct ucred *cr, int *fds, int *nfds)
{
	union {
		struct cmsghdr	align;
		char		b[CMSG_SPACE(sizeof(struct ucred)) +
				    CMSG_SPACE(sizeof(int) * 8)];
	} cm;
	struct msghdr mh;
	struct iovec iov = { buf, len };
	struct cmsghdr *h;
	ssize_t n;

	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cm.b;
	mh.msg_controllen = sizeof(cm.b);
	n = recvmsg(s, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	*nfds = 0;
	for (h = CMSG_FIRSTHDR(&mh); h != NULL; h = CMSG_NXTHDR(&mh, h)) {
		if (h->cmsg_type == SCM_CREDENTIALS)
			memcpy(cr, CMSG_DATA(h), sizeof(*cr));
		if (h->cmsg_type == SCM_RIGHTS) {
			*nfds = (int)((h->cmsg_len - CMSG_LEN(0)) /
			    sizeof(int));
			memcpy(fds, CMSG_DATA(h), sizeof(int) * (size_t)*nfds);
		}
	}
	return n;
}

static void
roundtrip(int abstract)
{
	struct sockaddr_un sa;
	struct ucred cr;
	char buf[SHMS_NOTIFY_MAX + 8], env[sizeof(sa.sun_path) + 2];
	int s, fds[8], nfds, pass[2];
	ssize_t n;
	struct stat a, b;

	s = listener(&sa, abstract);
	if (abstract)
		snprintf(env, sizeof(env), "@%s", sa.sun_path + 1);
	else
		snprintf(env, sizeof(env), "%s", sa.sun_path);
	assert_int_equal(setenv("NOTIFY_SOCKET", env, 1), 0);

	assert_int_equal(shms_notify("READY=1\nSTATUS=up"), 1);
	memset(&cr, 0, sizeof(cr));
	n = receive(s, buf, sizeof(buf), &cr, fds, &nfds);
	assert_int_equal(n, 17);
	assert_memory_equal(buf, "READY=1\nSTATUS=up", 17);
	assert_int_equal(cr.pid, getpid());
	assert_int_equal(cr.uid, getuid());

	assert_int_equal(shms_notifyf("X_SHMS_ADOPT_US=%d", 12), 1);
	n = receive(s, buf, sizeof(buf), &cr, fds, &nfds);
	assert_int_equal(n, 18);

	/* fds for the fd store arrive as new descriptors of the same files. */
	assert_int_equal(pipe2(pass, O_CLOEXEC), 0);
	assert_int_equal(shms_notify_with_fds("FDSTORE=1\nFDNAME=p", pass,
	    2), 1);
	n = receive(s, buf, sizeof(buf), &cr, fds, &nfds);
	assert_int_equal(n, 18);
	assert_int_equal(nfds, 2);
	assert_int_equal(fstat(fds[0], &a), 0);
	assert_int_equal(fstat(pass[0], &b), 0);
	assert_int_equal(a.st_ino, b.st_ino);
	close(fds[0]);
	close(fds[1]);
	close(pass[0]);
	close(pass[1]);

	close(s);
	if (!abstract)
		unlink(sa.sun_path);
	unsetenv("NOTIFY_SOCKET");
}

static void
test_send_path(void **state)
{
	(void)state;
	roundtrip(0);
}

static void
test_send_abstract(void **state)
{
	(void)state;
	roundtrip(1);
}

static void
test_send_errors(void **state)
{
	char big[SHMS_NOTIFY_MAX + 2];
	int fd = 0;

	(void)state;
	unsetenv("NOTIFY_SOCKET");
	assert_int_equal(shms_notify("READY=1"), 0);	/* not supervised */
	setenv("NOTIFY_SOCKET", "", 1);
	assert_int_equal(shms_notify("READY=1"), 0);
	setenv("NOTIFY_SOCKET", "relative/path", 1);
	assert_int_equal(shms_notify("READY=1"), -EINVAL);
	setenv("NOTIFY_SOCKET", "/nonexistent/dir/notify.sock", 1);
	assert_int_equal(shms_notify("READY=1"), -ENOENT);
	assert_int_equal(shms_notify(""), -EINVAL);
	assert_int_equal(shms_notify(NULL), -EINVAL);
	memset(big, 'A', sizeof(big));
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(shms_notify(big), -EMSGSIZE);
	assert_int_equal(shms_notifyf("%s", big), -EMSGSIZE);
	assert_int_equal(shms_notify_with_fds("FDSTORE=1", NULL, 1), -EINVAL);
	fd = -1;
	assert_int_equal(shms_notify_with_fds("FDSTORE=1", &fd, 1), -EINVAL);
	assert_int_equal(shms_notify_with_fds("FDSTORE=1", &fd,
	    SHMS_NOTIFY_FDS_MAX + 1), -EINVAL);
	unsetenv("NOTIFY_SOCKET");
}

/*
 * Random and mutated datagrams: the parser must return 0 or SHMS_EPROTO,
 * never read past len (ASan), and write a NUL-terminated status.
 */
static void
test_parse_random(void **state)
{
	static const char *seeds[] = { "READY=1\nSTATUS=x", "MAINPID=12",
	    "FDSTORE=1\nFDNAME=a", "X_SHMS_ADOPT_US=5\n" };
	struct shms_notify_msg m;
	unsigned seed = 12345, i, k;
	char buf[64];
	size_t len;
	int rc;

	(void)state;
	for (i = 0; i < 20000; i++) {
		const char *s0 = seeds[i % 4];

		len = strlen(s0);
		memcpy(buf, s0, len);
		for (k = 0; k < 1 + i % 4; k++) {
			seed = seed * 1103515245u + 12345u;
			buf[(seed >> 8) % len] = (char)(seed >> 16);
		}
		seed = seed * 1103515245u + 12345u;
		if (i % 3 == 0)
			len = (seed >> 8) % (len + 1);
		rc = shms_notify_parse(buf, len, &m);
		assert_true(rc == 0 || rc == SHMS_EPROTO);
		if (rc == 0)
			assert_true(strlen(m.status) <= SHMS_STATUS_MAX);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_table),
		cmocka_unit_test(test_parse_values),
		cmocka_unit_test(test_parse_random),
		cmocka_unit_test(test_send_path),
		cmocka_unit_test(test_send_abstract),
		cmocka_unit_test(test_send_errors),
	};

	return cmocka_run_group_tests_name("notify", tests, NULL, NULL);
}
