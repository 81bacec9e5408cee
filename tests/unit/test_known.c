/* Known-failure matching and the version order it relies on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../../runner/known.h"
#include "../../runner/util.h"

static void test_version_cmp(void **state)
{
	(void)state;
	assert_true(version_cmp("6.12", "6.9") > 0);
	assert_true(version_cmp("6.1.192", "6.1") > 0);
	assert_true(version_cmp("6.1", "6.1.192") < 0);
	assert_int_equal(version_cmp("6.12.117", "6.12.117"), 0);
	assert_true(version_cmp("6.12.117", "7.0") < 0);
	assert_true(version_cmp("6.99", "6.12.117") > 0);
}

static void test_match(void **state)
{
	json_t *k = json_pack("[{s:s,s:s,s:s,s:s,s:s}, {s:s,s:s,s:s,s:s}]",
			      "arch", "alpha", "test", "clone3", "status", "SKIP", "max", "6.9",
			      "reason", "no clone3 before 6.10",
			      "arch", "*", "test", "io_uring", "status", "SKIP", "reason", "off");

	(void)state;
	assert_string_equal(known_match(k, "alpha", "clone3", "SKIP", "6.1.192"),
			    "no clone3 before 6.10");
	assert_null(known_match(k, "alpha", "clone3", "SKIP", "6.12.117"));	/* out of range */
	assert_null(known_match(k, "alpha", "clone3", "FAIL", "6.1.192"));	/* other status */
	assert_null(known_match(k, "sparc64", "clone3", "SKIP", "6.1.192"));	/* other arch */
	assert_null(known_match(k, "alpha", "clone3", "SKIP", NULL));		/* no release */
	assert_string_equal(known_match(k, "riscv64", "io_uring", "SKIP", NULL), "off");
	json_decref(k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_version_cmp),
		cmocka_unit_test(test_match),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
