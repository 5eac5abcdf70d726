/*
 * test_err.c: every code the library returns has a text.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "internal.h"

static void
library_codes(void **state)
{
	const char *seen[32];
	int code, i, n = 0;

	/* The whole block, so a code added to the enum needs a text. */
	for (code = SHMS_ENOSTATE; code >= SHMS_EPROTO; code--) {
		const char *t = shms_strerror(code);
		assert_non_null(t);
		if (strcmp(t, "unknown error") == 0)
			fail_msg("code %d has no text", code);
		for (i = 0; i < n; i++)
			if (strcmp(seen[i], t) == 0)
				fail_msg("code %d shares text \"%s\"", code, t);
		assert_true(n < 32);
		seen[n++] = t;
	}
	assert_string_equal(shms_strerror(SHMS_ELOCKED),
	    "state is locked by a live owner");
}

static void
errno_codes(void **state)
{
	assert_string_equal(shms_strerror(0), "success");
	assert_string_equal(shms_strerror(-ENOENT),
	    "No such file or directory");
	assert_string_equal(shms_strerror(-ENOSPC),
	    "No space left on device");
	assert_string_equal(shms_strerror(-EBUSY),
	    "Device or resource busy");
	assert_string_equal(shms_strerror(SHMS_EPROTO - 1), "unknown error");
	assert_string_equal(shms_strerror(1), "unknown error");
	assert_string_equal(shms_strerror(-4095), "unknown error");
	assert_non_null(shms_strerror(-4000));
	assert_non_null(shms_strerror(-2147483647 - 1));
}

static void
detail_helper(void **state)
{
	char d[SHMS_DETAIL_MAX], big[2 * SHMS_DETAIL_MAX];

	assert_int_equal(shms__detail(d, SHMS_ETRUNC, "x %d", 5), SHMS_ETRUNC);
	assert_string_equal(d, "x 5");
	assert_int_equal(shms__detail(NULL, -EIO, "ignored"), -EIO);
	memset(big, 'y', sizeof(big));
	big[sizeof(big) - 1] = '\0';
	shms__detail(d, 0, "%s", big);
	assert_int_equal(strlen(d), SHMS_DETAIL_MAX - 1);
	assert_string_equal(shms_errdetail(NULL), "");
	assert_int_equal(shms__fail(NULL, SHMS_ESUM, "no svc"), SHMS_ESUM);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(library_codes),
		cmocka_unit_test(errno_codes),
		cmocka_unit_test(detail_helper),
	};

	return cmocka_run_group_tests_name("err", tests, NULL, NULL);
}
