/* Known-failure matching and the version order it relies on; loading, and
 * the refusal of a malformed file (in struct err). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

static void put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_load(void **state)
{
	char dir[] = "/tmp/kfarm-known-XXXXXX";
	char *good, *bad, *want;
	struct err e = { 0 };
	json_t *k;

	(void)state;
	assert_non_null(mkdtemp(dir));
	good = xasprintf("%s/good.json", dir);
	bad = xasprintf("%s/bad.json", dir);
	setenv("KFARM_KNOWN", dir, 1);
	put(good, "[{\"arch\": \"*\", \"test\": \"t\", \"status\": \"SKIP\", \"reason\": \"r\"}]");
	assert_non_null(k = known_load(&e));
	assert_int_equal(json_array_size(k), 1);
	json_decref(k);
	/* an entry without its reason */
	put(bad, "[{\"arch\": \"*\", \"test\": \"t\", \"status\": \"SKIP\"}]");
	assert_null(known_load(&e));
	want = xasprintf("known-failures file '%s' entry 1: needs arch, test, status and reason",
			 bad);
	assert_string_equal(e.msg, want);
	assert_int_equal(e.code, 500);
	free(want);
	/* not JSON */
	put(bad, "[{");
	err_clear(&e);
	assert_null(known_load(&e));
	want = xasprintf("malformed known-failures file '%s': ", bad);
	assert_ptr_equal(strstr(e.msg, want), e.msg);
	free(want);
	unlink(bad);
	unlink(good);
	rmdir(dir);
	unsetenv("KFARM_KNOWN");
	free(good);
	free(bad);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_version_cmp),
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_load),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
