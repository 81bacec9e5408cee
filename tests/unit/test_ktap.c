/* KTAP parser: the examples of Documentation/dev-tools/ktap.rst, kselftest's
 * "# " nesting, directives, and noise it must ignore. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../runner/ktap.h"

struct got {
	char lines[64][160];
	int n;
};

static void cb(void *data, const struct ktap_result *r)
{
	struct got *g = data;

	if (g->n < 64)
		snprintf(g->lines[g->n++], 160, "%d %s %s [%s]", r->depth,
			 test_status_name(r->status), r->name, r->reason);
}

static struct got *parse(struct ktap *k, const char *text)
{
	struct got *g = calloc(1, sizeof(*g));

	ktap_init(k, cb, g);
	while (*text) {
		size_t n = strcspn(text, "\n");

		ktap_feed(k, text, n);
		text += n + (text[n] == '\n');
	}
	return g;
}

static void test_rst_example(void **state)
{
	/* Documentation/dev-tools/ktap.rst, "Example KTAP output" */
	static const char text[] =
		"KTAP version 1\n"
		"1..1\n"
		"  KTAP version 1\n"
		"  1..3\n"
		"    KTAP version 1\n"
		"    1..1\n"
		"    # test_1: initializing test_1\n"
		"    ok 1 test_1\n"
		"  ok 1 example_test_1\n"
		"    KTAP version 1\n"
		"    1..2\n"
		"    ok 1 test_1 # SKIP test_1 skipped\n"
		"    ok 2 test_2\n"
		"  ok 2 example_test_2\n"
		"    KTAP version 1\n"
		"    1..3\n"
		"    ok 1 test_1\n"
		"    # test_2: FAIL\n"
		"    not ok 2 test_2\n"
		"    ok 3 test_3 # SKIP test_3 skipped\n"
		"  not ok 3 example_test_3\n"
		"not ok 1 main_test\n";
	struct ktap k;
	struct got *g = parse(&k, text);

	(void)state;
	assert_int_equal(g->n, 10);
	assert_string_equal(g->lines[0], "2 PASS main_test/example_test_1/test_1 []");
	assert_string_equal(g->lines[1], "1 PASS main_test/example_test_1 []");
	assert_string_equal(g->lines[2],
			    "2 SKIP main_test/example_test_2/test_1 [SKIP test_1 skipped]");
	assert_string_equal(g->lines[6], "2 FAIL main_test/example_test_3/test_2 []");
	assert_string_equal(g->lines[8], "1 FAIL main_test/example_test_3 []");
	assert_string_equal(g->lines[9], "0 FAIL main_test []");
	assert_int_equal(k.plan, 1);
	assert_int_equal(k.ntop, 1);
	assert_true(k.seen_header);
	ktap_release(&k);
	free(g);
}

static void test_kselftest_hash_nesting(void **state)
{
	/* run_kselftest.sh output: children prefixed with "# " */
	static const char text[] =
		"TAP version 13\n"
		"1..2\n"
		"# timeout set to 45\n"
		"# selftests: clone3: clone3\n"
		"# TAP version 13\n"
		"# 1..2\n"
		"# # clone3() syscall supported\n"
		"# ok 1 [1538] Result (0) matches expectation (0)\n"
		"# not ok 2 [1538] Result (-22) matches expectation (0)\n"
		"# # Totals: pass:1 fail:1 xfail:0 xpass:0 skip:0 error:0\n"
		"not ok 1 selftests: clone3: clone3 # exit=1\n"
		"ok 2 selftests: clone3: clone3_clear_sighand # SKIP no clone3\n";
	struct ktap k;
	struct got *g = parse(&k, text);

	(void)state;
	assert_int_equal(g->n, 4);
	assert_string_equal(g->lines[0], "1 PASS selftests: clone3: clone3/[1538] Result (0) "
					 "matches expectation (0) []");
	assert_string_equal(g->lines[2], "0 FAIL selftests: clone3: clone3 [exit=1]");
	assert_string_equal(g->lines[3],
			    "0 SKIP selftests: clone3: clone3_clear_sighand [SKIP no clone3]");
	assert_int_equal(k.plan, 2);
	ktap_release(&k);
	free(g);
}

static void test_noise_and_directives(void **state)
{
	static const char text[] =
		"[    0.000000] Linux version 6.1.192\n"
		"Run /init as init process\n"
		"KTAP version 1\n"
		"1..5\n"
		"random: crng init done\n"
		"ok 1 first\n"
		"okay this is not a result\n"
		"not ok 2 second # TIMEOUT after 30s\n"
		"not ok 3 third # TODO not yet\n"
		"not ok 4 fourth # XFAIL known\n"
		"ok 5 - dash\\#escaped # SKIP why\n"
		"\x01\x02garbage\xff\n";
	struct ktap k;
	struct got *g = parse(&k, text);

	(void)state;
	assert_int_equal(g->n, 5);
	assert_string_equal(g->lines[0], "0 PASS first []");
	assert_string_equal(g->lines[1], "0 FAIL second [TIMEOUT after 30s]");
	assert_string_equal(g->lines[2], "0 SKIP third [TODO not yet]");
	assert_string_equal(g->lines[3], "0 PASS fourth [XFAIL known]");
	assert_string_equal(g->lines[4], "0 SKIP dash\\#escaped [SKIP why]");
	assert_int_equal(k.ntop, 5);
	ktap_release(&k);
	free(g);
}

static void test_missing_numbers_and_names(void **state)
{
	static const char text[] = "TAP version 14\n1..3\nok\nnot ok\nok 3\n";
	struct ktap k;
	struct got *g = parse(&k, text);

	(void)state;
	assert_int_equal(g->n, 3);
	assert_string_equal(g->lines[0], "0 PASS test 1 []");
	assert_string_equal(g->lines[1], "0 FAIL test 2 []");
	assert_string_equal(g->lines[2], "0 PASS test 3 []");
	ktap_release(&k);
	free(g);
}

static void test_truncated_stream(void **state)
{
	/* a guest that died mid-subtest: children never reach a parent */
	static const char text[] = "KTAP version 1\n1..3\nok 1 a\n  KTAP version 1\n"
				   "  1..2\n  ok 1 x\n";
	struct ktap k;
	struct got *g = parse(&k, text);

	(void)state;
	assert_int_equal(g->n, 1);
	assert_int_equal(k.plan, 3);
	assert_int_equal(k.ntop, 1);
	ktap_release(&k);
	free(g);
}

static void test_bail_out(void **state)
{
	struct ktap k;
	struct got *g = parse(&k, "TAP version 13\n1..2\nBail out! no disk\n");

	(void)state;
	assert_true(k.bailed);
	assert_int_equal(g->n, 0);
	ktap_release(&k);
	free(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rst_example),
		cmocka_unit_test(test_kselftest_hash_nesting),
		cmocka_unit_test(test_noise_and_directives),
		cmocka_unit_test(test_missing_numbers_and_names),
		cmocka_unit_test(test_truncated_stream),
		cmocka_unit_test(test_bail_out),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
