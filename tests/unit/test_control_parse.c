/*
 * test_control_parse.c: the supervisor's control-request parser and reply
 * buffer (tools/shmsupervise/ctlproto.c, compiled in: it is a pure module
 * of the tool, not of the library).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../tools/shmsupervise/ctlproto.c"

static const struct {
	const char	*req;
	int		 ok;
	enum ctl_cmd	 cmd;
	const char	*arg;
	const char	*why;
} reqs[] = {
	{ "status",		1, CTL_STATUS,	"", NULL },
	{ "status\r",		1, CTL_STATUS,	"", NULL },
	{ "restart",		1, CTL_RESTART,	"", NULL },
	{ "stop",		1, CTL_STOP,	"", NULL },
	{ "upgrade",		1, CTL_UPGRADE,	"", NULL },
	{ "upgrade /usr/sbin/kvd", 1, CTL_UPGRADE, "/usr/sbin/kvd", NULL },
	{ "",			0, 0, NULL, "empty request" },
	{ "\r",			0, 0, NULL, "empty request" },
	{ "bogus",		0, 0, NULL, "unknown command" },
	{ "STATUS",		0, 0, NULL, "unknown command" },
	{ "statusx",		0, 0, NULL, "unknown command" },
	{ " status",		0, 0, NULL, "unknown command" },
	{ "status ",		0, 0, NULL, "command takes no argument" },
	{ "stop now",		0, 0, NULL, "command takes no argument" },
	{ "upgrade ",		0, 0, NULL, "expected one argument" },
	{ "upgrade  /a",	0, 0, NULL, "expected one argument" },
	{ "upgrade /a /b",	0, 0, NULL, "expected one argument" },
	{ "upgrade kvd",	0, 0, NULL, "binary must be an absolute path" },
	{ "upgrade /a\tb",	0, 0, NULL,
	    "request contains control or non-ASCII bytes" },
	{ "st\x01tus",		0, 0, NULL,
	    "request contains control or non-ASCII bytes" },
	{ "upgrade /caf\xc3\xa9", 0, 0, NULL,
	    "request contains control or non-ASCII bytes" },
	{ "status\r\r",		0, 0, NULL,
	    "request contains control or non-ASCII bytes" },
};

static void
test_table(void **state)
{
	struct ctl_req r;
	const char *why;
	size_t i;
	int rc;

	(void)state;
	for (i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		why = NULL;
		rc = ctl_parse(reqs[i].req, strlen(reqs[i].req), &r, &why);
		if (reqs[i].ok) {
			if (rc != 0)
				fail_msg("'%s' refused: %s", reqs[i].req, why);
			assert_int_equal(r.cmd, reqs[i].cmd);
			assert_string_equal(r.arg, reqs[i].arg);
		} else {
			if (rc != -1)
				fail_msg("'%s' accepted", reqs[i].req);
			assert_string_equal(why, reqs[i].why);
		}
	}
}

static void
test_bounds(void **state)
{
	static char big[CTL_REQ_MAX + 8], path[PATH_MAX + 16];
	struct ctl_req r;
	const char *why;

	(void)state;
	memset(big, 'a', sizeof(big));
	assert_int_equal(ctl_parse(big, CTL_REQ_MAX, &r, &why), -1);
	assert_string_equal(why, "request too long");
	/* Only len bytes are looked at. */
	assert_int_equal(ctl_parse("stopXYZ", 4, &r, &why), 0);
	assert_int_equal(r.cmd, CTL_STOP);
	/* The longest request: a path of CTL_REQ_MAX - 9 bytes. */
	memcpy(path, "upgrade /", 9);
	memset(path + 9, 'p', CTL_REQ_MAX);
	assert_int_equal(ctl_parse(path, CTL_REQ_MAX - 1, &r, &why), 0);
	assert_int_equal(strlen(r.arg), CTL_REQ_MAX - 1 - 8);
}

static void
test_reply_buffer(void **state)
{
	static struct ctl_buf b;
	char big[2048];
	size_t i;

	(void)state;
	b.len = 0;
	ctl_kv(&b, "binary", "/a\nb\x7f");
	assert_string_equal(b.buf, "binary /a?b?\n");
	/* Appends never overflow; the buffer stays NUL-terminated. */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	for (i = 0; i < 64; i++)
		ctl_addf(&b, "%s", big);
	assert_int_equal(b.len, sizeof(b.buf) - 1);
	assert_int_equal(b.buf[b.len], '\0');
}

/* Mutated requests: 0 or -1 with a reason, never a read past len. */
static void
test_random(void **state)
{
	static const char *seeds[] = { "status", "upgrade /usr/sbin/kvd",
	    "restart", "stop" };
	struct ctl_req r;
	const char *why;
	unsigned seed = 777, i, k;
	char buf[32];
	size_t len;
	int rc;

	(void)state;
	for (i = 0; i < 20000; i++) {
		const char *s0 = seeds[i % 4];

		len = strlen(s0);
		memcpy(buf, s0, len);
		for (k = 0; k < 1 + i % 3; k++) {
			seed = seed * 1103515245u + 12345u;
			buf[(seed >> 8) % len] = (char)(seed >> 16);
		}
		why = NULL;
		rc = ctl_parse(buf, len, &r, &why);
		assert_true(rc == 0 || (rc == -1 && why != NULL));
		if (rc == 0)
			assert_true(strlen(r.arg) < len);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_reply_buffer),
		cmocka_unit_test(test_random),
	};

	return cmocka_run_group_tests_name("control_parse", tests, NULL,
	    NULL);
}
