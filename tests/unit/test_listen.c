/*
 * test_listen.c: collecting socket-activation fds (LISTEN_PID, LISTEN_FDS,
 * LISTEN_FDNAMES) with real descriptors at 3, 4, 5.
 */
#include <sys/socket.h>

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

static void
set_env(const char *pid, const char *fds, const char *names)
{
	char buf[32];

	if (pid != NULL && strcmp(pid, "self") == 0) {
		snprintf(buf, sizeof(buf), "%ld", (long)getpid());
		pid = buf;
	}
	pid ? setenv("LISTEN_PID", pid, 1) : unsetenv("LISTEN_PID");
	fds ? setenv("LISTEN_FDS", fds, 1) : unsetenv("LISTEN_FDS");
	names ? setenv("LISTEN_FDNAMES", names, 1) :
	    unsetenv("LISTEN_FDNAMES");
}

/* Puts sockets on fds 3..3+n-1, not close-on-exec, as a supervisor does. */
static int
setup(void **state)
{
	int i, s;

	(void)state;
	for (i = 0; i < 3; i++) {
		s = socket(AF_INET, SOCK_STREAM, 0);
		if (s < 0)
			return -1;
		if (s != 3 + i) {
			if (dup2(s, 3 + i) < 0)
				return -1;
			close(s);
		}
	}
	close(6);	/* must not be open: the "fd not open" case */
	return 0;
}

static void
test_collect(void **state)
{
	struct shms_listen_fd fds[4];
	int i;

	(void)state;
	set_env("self", "3", "web:admin:web");
	memset(fds, 0, sizeof(fds));
	assert_int_equal(shms_listen_fds(fds, 4, 0), 3);
	for (i = 0; i < 3; i++) {
		assert_int_equal(fds[i].fd, 3 + i);
		assert_true(fcntl(3 + i, F_GETFD) & FD_CLOEXEC);
	}
	assert_string_equal(fds[0].name, "web");
	assert_string_equal(fds[1].name, "admin");
	assert_string_equal(fds[2].name, "web");
	assert_int_equal(shms_listen_fd("admin"), 4);
	assert_int_equal(shms_listen_fd("web"), 3);
	assert_int_equal(shms_listen_fd("nope"), SHMS_ENOTFOUND);
	assert_int_equal(shms_listen_fd(NULL), -EINVAL);

	/* No names: "unknown"; an empty name too. */
	set_env("self", "2", NULL);
	assert_int_equal(shms_listen_fds(fds, 4, 0), 2);
	assert_string_equal(fds[1].name, "unknown");
	set_env("self", "2", "a:");
	assert_int_equal(shms_listen_fds(fds, 4, 0), 2);
	assert_string_equal(fds[0].name, "a");
	assert_string_equal(fds[1].name, "unknown");
	set_env("self", "0", NULL);
	assert_int_equal(shms_listen_fds(fds, 4, 0), 0);
}

static void
test_not_ours(void **state)
{
	struct shms_listen_fd fds[4];

	(void)state;
	set_env(NULL, "3", "a:b:c");
	assert_int_equal(shms_listen_fds(fds, 4, 0), 0);
	set_env("1", "3", "a:b:c");	/* meant for another process */
	assert_int_equal(shms_listen_fds(fds, 4, 0), 0);
	assert_int_equal(shms_listen_fd("a"), SHMS_ENOTFOUND);
}

static void
test_malformed(void **state)
{
	static const char *bad[][3] = {
		{ "self", NULL, NULL },
		{ "self", "", NULL },
		{ "self", "-1", NULL },
		{ "self", "+1", NULL },
		{ "self", "1x", NULL },
		{ "self", " 1", NULL },
		{ "self", "16385", NULL },
		{ "self", "99999999999999999999", NULL },
		{ "x12", "1", NULL },
		{ "", "1", NULL },
		{ "self", "2", "a" },		/* fewer names than fds */
		{ "self", "2", "a:b:c" },	/* more */
		{ "self", "1", "a b" },		/* not printable */
		{ "self", "1", "a\tb" },
		{ "self", "4", "a:b:c:d" },	/* fd 6 is not open */
	};
	struct shms_listen_fd fds[8];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		set_env(bad[i][0], bad[i][1], bad[i][2]);
		if (shms_listen_fds(fds, 8, 0) != SHMS_EPROTO)
			fail_msg("case %zu (%s, %s, %s) not refused", i,
			    bad[i][0], bad[i][1] ? bad[i][1] : "-",
			    bad[i][2] ? bad[i][2] : "-");
	}
}

static void
test_limits_and_flags(void **state)
{
	struct shms_listen_fd fds[2];
	char longname[SHMS_FDNAME_MAX + 2];

	(void)state;
	set_env("self", "3", "a:b:c");
	assert_int_equal(shms_listen_fds(fds, 2, 0), SHMS_ELIMIT);
	assert_int_equal(shms_listen_fds(NULL, 1, 0), -EINVAL);
	assert_int_equal(shms_listen_fds(fds, 2, 0x80), -EINVAL);
	memset(longname, 'n', sizeof(longname));
	longname[sizeof(longname) - 1] = '\0';
	set_env("self", "1", longname);
	assert_int_equal(shms_listen_fds(fds, 2, 0), SHMS_EPROTO);
	longname[SHMS_FDNAME_MAX] = '\0';
	set_env("self", "1", longname);
	assert_int_equal(shms_listen_fds(fds, 2, 0), 1);

	set_env("self", "1", "x");
	assert_int_equal(shms_listen_fds(fds, 2, SHMS_LISTEN_UNSETENV), 1);
	assert_null(getenv("LISTEN_PID"));
	assert_null(getenv("LISTEN_FDS"));
	assert_null(getenv("LISTEN_FDNAMES"));
	assert_int_equal(shms_listen_fds(fds, 2, 0), 0);
	/* A failure leaves the variables alone. */
	set_env("self", "9", NULL);
	assert_int_equal(shms_listen_fds(fds, 2, SHMS_LISTEN_UNSETENV),
	    SHMS_ELIMIT);
	assert_non_null(getenv("LISTEN_PID"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_collect),
		cmocka_unit_test(test_not_ours),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_limits_and_flags),
	};

	return cmocka_run_group_tests_name("listen", tests, setup, NULL);
}
