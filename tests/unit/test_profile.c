/* Arch profiles: the shipped ones load; malformed ones are refused with the
 * problem named; image signatures tell a kernel of the wrong arch. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../runner/profile.h"
#include "../../runner/util.h"

static void test_shipped_profiles(void **state)
{
	char **v = profile_list();
	int n = 0;

	(void)state;
	for (char **a = v; *a; a++, n++) {
		struct profile p;

		assert_int_equal(profile_load(*a, &p), 0);
		assert_string_equal(p.arch, *a);
		assert_non_null(p.qemu_binary);
		assert_true(p.nmagic > 0);
		profile_release(&p);
	}
	assert_true(n >= 5);
	strv_free(v);
}

static void expect_bad(const char *json, const char *want)
{
	struct profile p;
	char err[256] = "";

	assert_int_equal(profile_parse(json, strlen(json), "x", &p, err, sizeof(err)), -1);
	if (!strstr(err, want))
		fail_msg("error '%s' does not mention '%s'", err, want);
}

#define OKQ "\"qemu\":{\"binary\":\"q\",\"machine\":\"m\",\"memory_mb\":256}"
#define OKM "\"image_magic\":[{\"offset\":0,\"hex\":\"7f45\"}]"

static void test_malformed(void **state)
{
	struct profile p;
	char err[256];
	const char *good = "{\"arch\":\"x\",\"console\":\"ttyS0\"," OKM "," OKQ "}";

	(void)state;
	assert_int_equal(profile_parse(good, strlen(good), "x", &p, err, sizeof(err)), 0);
	profile_release(&p);
	expect_bad("{", "line 1");
	expect_bad("[]", "not a JSON object");
	expect_bad("{\"console\":\"c\"," OKM "," OKQ "}", "'arch'");
	expect_bad("{\"arch\":\"y\",\"console\":\"c\"," OKM "," OKQ "}", "declares arch 'y'");
	expect_bad("{\"arch\":\"x\",\"console\":5," OKM "," OKQ "}", "'console'");
	expect_bad("{\"arch\":\"x\",\"console\":\"c\"," OKQ "}", "image_magic");
	expect_bad("{\"arch\":\"x\",\"console\":\"c\",\"image_magic\":[{\"offset\":0,"
		   "\"hex\":\"zz\"}]," OKQ "}", "non-hex");
	expect_bad("{\"arch\":\"x\",\"console\":\"c\"," OKM "}", "'qemu'");
	expect_bad("{\"arch\":\"x\",\"console\":\"c\"," OKM ",\"qemu\":{\"binary\":\"q\","
		   "\"machine\":\"m\",\"memory_mb\":\"lots\"}}", "memory_mb");
	expect_bad("{\"arch\":\"x\",\"console\":\"c\"," OKM ",\"qemu\":{\"binary\":\"q\","
		   "\"machine\":\"m\",\"memory_mb\":64,\"args\":[1]}}", "'args'");
	expect_bad("{\"arch\":\"x\",\"arch\":\"x\"}", "duplicate");
}

static void test_image_check(void **state)
{
	struct profile x86, alpha;
	char path[] = "/tmp/kfarm-test-imgXXXXXX";
	int fd = mkstemp(path);
	unsigned char buf[1024] = { 0 };

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(profile_load("x86_64", &x86), 0);
	assert_int_equal(profile_load("alpha", &alpha), 0);
	memcpy(buf + 0x202, "HdrS", 4);	/* x86 boot protocol header */
	assert_int_equal(write(fd, buf, sizeof(buf)), (int)sizeof(buf));
	close(fd);
	assert_int_equal(profile_check_image(&x86, path), 0);
	assert_int_equal(profile_check_image(&alpha, path), -1);	/* wrong arch */
	assert_int_equal(profile_check_image(&x86, "/nonexistent/bzImage"), -1);
	truncate(path, 10);
	assert_int_equal(profile_check_image(&x86, path), -1);	/* too short */
	unlink(path);
	assert_int_equal(profile_load("no_such_arch", &x86) == 0 ? 1 : 0, 0);
	assert_int_equal(profile_load("../etc", &alpha) == 0 ? 1 : 0, 0);
	profile_release(&x86);
	profile_release(&alpha);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shipped_profiles),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_image_check),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
