/* --kselftest's input and the expected tests of a packed initramfs: target
 * names are plain selftests directories; an --initramfs's expected tests are
 * those of the record that names it (user programs too), else ARCH.json's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../runner/cache.h"
#include "../../runner/kselftest.h"
#include "../../runner/spawn.h"
#include "../../runner/util.h"

static void test_parse(void **state)
{
	struct kselftest ks = { 0 };

	(void)state;
	assert_int_equal(kselftest_parse(&ks, "clone3,futex,,mm", NULL), 0);
	assert_string_equal(ks.csv, "clone3,futex,mm");
	assert_string_equal(ks.targets[2], "mm");
	assert_null(ks.targets[3]);
	assert_int_equal(kselftest_parse(&ks, "clone3,../etc", NULL), -1);
	assert_null(ks.targets);	/* a refused list leaves nothing behind */
	assert_int_equal(kselftest_parse(&ks, "-x", NULL), -1);
	assert_int_equal(kselftest_parse(&ks, ".hidden", NULL), -1);
	assert_int_equal(kselftest_parse(&ks, ",", NULL), -1);
	assert_int_equal(kselftest_parse(&ks, "a b", NULL), -1);
	kselftest_release(&ks);
}

static void put(const char *dir, const char *name, const char *text)
{
	char *p = xasprintf("%s/%s", dir, name);
	FILE *f = fopen(p, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	free(p);
}

static void test_suite_of_initramfs(void **state)
{
	char tmp[] = "/tmp/kfarm-ks-XXXXXX";
	char *ini, *rec, **t;

	(void)state;
	assert_non_null(mkdtemp(tmp));
	ini = xasprintf("%s/initramfs", tmp);
	assert_int_equal(mkdir_p(ini, 0755), 0);
	setenv("KFARM_CACHE", tmp, 1);
	rec = xasprintf("{\"path\": \"%s/u.cpio.gz\", \"tests\": [\"sysinfo\", \"user:a\"]}", ini);
	put(ini, "x86_64-user.json", rec);
	free(rec);
	rec = xasprintf("{\"path\": \"%s/d.cpio.gz\", \"tests\": [\"sysinfo\", \"clone3\"]}", ini);
	put(ini, "x86_64.json", rec);
	free(rec);
	put(ini, "u.cpio.gz", "");
	put(ini, "other.cpio.gz", "");

	rec = xasprintf("%s/u.cpio.gz", ini);
	assert_int_equal(cache_initramfs_suite("x86_64", rec, &t, NULL), 0);
	assert_string_equal(t[1], "user:a");	/* the user programs are expected */
	assert_null(t[2]);
	strv_free(t);
	free(rec);
	rec = xasprintf("%s/other.cpio.gz", ini);
	assert_int_equal(cache_initramfs_suite("x86_64", rec, &t, NULL), 0);
	assert_string_equal(t[1], "clone3");	/* no record names it: the default */
	strv_free(t);
	free(rec);
	assert_int_equal(cache_initramfs_suite("alpha", "/nonexistent", &t, NULL), 1);
	assert_null(t);

	assert_int_equal(spawn_rm_rf(tmp, NULL), 0);
	free(ini);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_suite_of_initramfs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
