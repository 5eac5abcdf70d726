/*
 * test_name.c: service/segment/layout names and segment file names.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "internal.h"

static const struct {
	const char	*name;
	int		 ok;
} names[] = {
	{ "a", 1 },
	{ "kv", 1 },
	{ "shard-01_v2.x", 1 },
	{ "A9", 1 },
	{ "a.b", 1 },
	{ "a-", 1 },
	{ "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij123", 1 },
	{ "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij1234", 0 },
	{ "", 0 },
	{ ".", 0 },
	{ "..", 0 },
	{ ".hidden", 0 },
	{ "a..b", 0 },
	{ "a/b", 0 },
	{ "/", 0 },
	{ "a b", 0 },
	{ "a\tb", 0 },
	{ "a\nb", 0 },
	{ "\x7f", 0 },
	{ "caf\xc3\xa9", 0 },
	{ "\xff", 0 },
	{ "a:b", 0 },
	{ "a\\b", 0 },
	{ "a*", 0 },
};

static void
name_table(void **state)
{
	size_t i;

	for (i = 0; i < SHMS__ARRAY_SIZE(names); i++) {
		int rc = shms_name_valid(names[i].name);
		if (rc != (names[i].ok ? 0 : SHMS_ENAME))
			fail_msg("name #%zu \"%s\": got %d", i, names[i].name,
			    rc);
	}
	assert_int_equal(shms_name_valid(NULL), SHMS_ENAME);
}

static void
name_embedded_nul(void **state)
{
	char field[64], out[64];

	/* "ab\0cd": the name is "ab", the padding must not matter... */
	memset(field, 0, sizeof(field));
	memcpy(field, "ab\0cd", 5);
	assert_int_equal(shms__name_field(field, out), 0);
	assert_string_equal(out, "ab");
	/* ...but a field with no NUL at all is corrupt. */
	memset(field, 'a', sizeof(field));
	assert_int_equal(shms__name_field(field, out), SHMS_ECORRUPT);
	memset(field, 0, sizeof(field));
	assert_int_equal(shms__name_field(field, out), SHMS_ECORRUPT);
	memcpy(field, "a/b", 4);
	assert_int_equal(shms__name_field(field, out), SHMS_ECORRUPT);
}

static void
build_ids(void **state)
{
	char id[80];

	assert_int_equal(shms__build_id_valid("0123abcdef"), 0);
	assert_int_equal(shms__build_id_valid("v1.2-rc3+git"), 0);
	assert_int_equal(shms__build_id_valid(""), -EINVAL);
	assert_int_equal(shms__build_id_valid(NULL), -EINVAL);
	assert_int_equal(shms__build_id_valid("a b"), -EINVAL);
	assert_int_equal(shms__build_id_valid("a\n"), -EINVAL);
	assert_int_equal(shms__build_id_valid("\xc3\xa9"), -EINVAL);
	memset(id, 'x', sizeof(id));
	id[SHMS_BUILDID_MAX] = '\0';
	assert_int_equal(shms__build_id_valid(id), 0);
	id[SHMS_BUILDID_MAX] = 'x';
	id[SHMS_BUILDID_MAX + 1] = '\0';
	assert_int_equal(shms__build_id_valid(id), -EINVAL);
}

static void
ckpt_files(void **state)
{
	char buf[SHMS__FILE_MAX], name[SHMS_NAME_MAX + 1];
	uint64_t gen;

	shms__ckpt_file(buf, 2, "kv");
	assert_string_equal(buf, "ckpt.0000000000000002.kv");
	assert_int_equal(shms__ckpt_file_parse(buf, &gen, name), 0);
	assert_true(gen == 2);
	assert_string_equal(name, "kv");

	shms__ckpt_file(buf, UINT64_MAX, "x.y-z");
	assert_string_equal(buf, "ckpt.ffffffffffffffff.x.y-z");
	assert_int_equal(shms__ckpt_file_parse(buf, &gen, name), 0);
	assert_true(gen == UINT64_MAX);
	assert_string_equal(name, "x.y-z");

	assert_int_equal(shms__ckpt_file_parse("ckpt.000000000000002.kv",
	    &gen, name), SHMS_ENAME);	/* 15 digits */
	assert_int_equal(shms__ckpt_file_parse("ckpt.00000000000000020.kv",
	    &gen, name), SHMS_ENAME);	/* 17 digits */
	assert_int_equal(shms__ckpt_file_parse("ckpt.000000000000000A.kv",
	    &gen, name), SHMS_ENAME);	/* upper case */
	assert_int_equal(shms__ckpt_file_parse("ckpt.0000000000000002.",
	    &gen, name), SHMS_ENAME);
	assert_int_equal(shms__ckpt_file_parse("ckpt.0000000000000002..x",
	    &gen, name), SHMS_ENAME);
	assert_int_equal(shms__ckpt_file_parse("ckpt.0000000000000002",
	    &gen, name), SHMS_ENAME);
	assert_int_equal(shms__ckpt_file_parse("arena.kv", &gen, name),
	    SHMS_ENAME);
	assert_int_equal(shms__ckpt_file_parse("ckpt.0000000000000002.a/b",
	    NULL, NULL), SHMS_ENAME);
}

static void
file_types(void **state)
{
	assert_int_equal(shms__file_type("lock"), SHMS__FT_LOCK);
	assert_int_equal(shms__file_type("manifest"), SHMS__FT_MANIFEST);
	assert_int_equal(shms__file_type("manifest.tmp"),
	    SHMS__FT_MANIFEST_TMP);
	assert_int_equal(shms__file_type("control.sock"), SHMS__FT_SOCK);
	assert_int_equal(shms__file_type("ckpt.0000000000000001.kv"),
	    SHMS__FT_CKPT);
	assert_int_equal(shms__file_type("arena.kv"), SHMS__FT_ARENA);
	assert_int_equal(shms__file_type("arena."), SHMS__FT_OTHER);
	assert_int_equal(shms__file_type("ckpt.1.kv"), SHMS__FT_OTHER);
	assert_int_equal(shms__file_type("core"), SHMS__FT_OTHER);
	assert_int_equal(shms__file_type("lock2"), SHMS__FT_OTHER);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(name_table),
		cmocka_unit_test(name_embedded_nul),
		cmocka_unit_test(build_ids),
		cmocka_unit_test(ckpt_files),
		cmocka_unit_test(file_types),
	};

	return cmocka_run_group_tests_name("name", tests, NULL, NULL);
}
