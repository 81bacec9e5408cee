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

#include "../../runner/accel.h"
#include "../../runner/profile.h"
#include "../../runner/util.h"

static void test_shipped_profiles(void **state)
{
	char **v = profile_list();
	int n = 0;

	(void)state;
	for (char **a = v; *a; a++, n++) {
		struct profile p;

		assert_int_equal(profile_load(*a, &p, NULL), 0);
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
	struct err err = { 0 };

	assert_int_equal(profile_parse(json, strlen(json), "x", &p, &err), -1);
	if (!strstr(err.msg, want))
		fail_msg("error '%s' does not mention '%s'", err.msg, want);
}

#define OKQ "\"qemu\":{\"binary\":\"q\",\"machine\":\"m\",\"memory_mb\":256}"
#define OKM "\"image_magic\":[{\"offset\":0,\"hex\":\"7f45\"}]"

static void test_malformed(void **state)
{
	struct profile p;
	struct err err;
	const char *good = "{\"arch\":\"x\",\"console\":\"ttyS0\"," OKM "," OKQ "}";

	(void)state;
	assert_int_equal(profile_parse(good, strlen(good), "x", &p, &err), 0);
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

/* The loaders fail into e with the file named (what kfarm prints). */
static void test_load_errors(void **state)
{
	char path[] = "/tmp/kfarm-test-profXXXXXX";
	int fd = mkstemp(path);
	const char *bad = "{\"arch\":\"x\",\"console\":5," OKM "," OKQ "}";
	struct profile p;
	struct err err;
	char *want;

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, bad, strlen(bad)), (int)strlen(bad));
	close(fd);
	assert_int_equal(profile_load_file(path, "x", &p, &err), -1);
	want = xasprintf("malformed profile '%s': ", path);
	if (strncmp(err.msg, want, strlen(want)) || !strstr(err.msg, "'console'"))
		fail_msg("error '%s' (wanted '%s' + the console's problem)", err.msg, want);
	free(want);
	unlink(path);
	assert_int_equal(profile_load_file(path, "x", &p, &err), -1);
	want = xasprintf("cannot read profile '%s': No such file or directory", path);
	assert_string_equal(err.msg, want);
	free(want);
	assert_int_equal(profile_load("no_such_arch", &p, &err), -1);
	want = xasprintf("unknown arch 'no_such_arch' (no profile %s/no_such_arch.json)",
			 KFARM_ARCHES_DIR);
	assert_string_equal(err.msg, want);
	free(want);
	assert_int_equal(profile_load("../etc", &p, &err), -1);
	assert_int_equal(strncmp(err.msg, "unknown arch '../etc' (no profile in ", 37), 0);
}

static void test_image_check(void **state)
{
	struct profile x86, alpha;
	struct err err;
	char path[] = "/tmp/kfarm-test-imgXXXXXX", *want;
	int fd = mkstemp(path);
	unsigned char buf[1024] = { 0 };

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(profile_load("x86_64", &x86, NULL), 0);
	assert_int_equal(profile_load("alpha", &alpha, NULL), 0);
	memcpy(buf + 0x202, "HdrS", 4);	/* x86 boot protocol header */
	assert_int_equal(write(fd, buf, sizeof(buf)), (int)sizeof(buf));
	close(fd);
	assert_int_equal(profile_check_image(&x86, path, NULL), 0);
	assert_int_equal(profile_check_image(&alpha, path, &err), -1);	/* wrong arch */
	want = xasprintf("'%s' is not a kernel image for alpha (no alpha image signature at "
			 "offset ", path);
	assert_int_equal(strncmp(err.msg, want, strlen(want)), 0);
	free(want);
	assert_int_equal(profile_check_image(&x86, "/nonexistent/bzImage", &err), -1);
	assert_string_equal(err.msg, "cannot read kernel image '/nonexistent/bzImage': No such "
			    "file or directory");
	truncate(path, 10);
	assert_int_equal(profile_check_image(&x86, path, NULL), -1);	/* too short */
	unlink(path);
	assert_int_equal(profile_load("no_such_arch", &x86, NULL) == 0 ? 1 : 0, 0);
	assert_int_equal(profile_load("../etc", &alpha, NULL) == 0 ? 1 : 0, 0);
	profile_release(&x86);
	profile_release(&alpha);
}

#define HEAD "{\"arch\":\"x\",\"console\":\"c\"," OKM ","
#define QSMP(n) "\"qemu\":{\"binary\":\"q\",\"machine\":\"m\",\"memory_mb\":256," \
		"\"max_smp\":" #n "}"

static void test_variants_parse(void **state)
{
	struct profile p;
	struct err err;
	const char *good = HEAD QSMP(4) ",\"variants\":{\"smp4\":{\"smp\":4},"
		"\"big\":{\"memory_mb\":1024,\"accel\":\"tcg\"}}}";

	(void)state;
	assert_int_equal(profile_parse(good, strlen(good), "x", &p, &err), 0);
	assert_int_equal(p.max_smp, 4);
	assert_int_equal(p.nvariants, 2);
	assert_string_equal(p.variants[0].name, "smp4");
	assert_int_equal(p.variants[0].smp, 4);
	assert_int_equal(p.variants[1].memory_mb, 1024);
	assert_int_equal(p.variants[1].accel, ACCEL_TCG);
	profile_release(&p);
	/* no max_smp: one vCPU only */
	assert_int_equal(profile_parse(HEAD OKQ "}", strlen(HEAD OKQ "}"), "x", &p, &err), 0);
	assert_int_equal(p.max_smp, 1);
	assert_int_equal(p.nvariants, 0);
	profile_release(&p);
	expect_bad(HEAD QSMP(0) "}", "qemu.max_smp");
	expect_bad(HEAD QSMP(65) "}", "qemu.max_smp");
	expect_bad(HEAD QSMP(2) ",\"variants\":{\"smp4\":{\"smp\":4}}}",
		   "variant 'smp4': smp must be an integer in 1..2");
	expect_bad(HEAD QSMP(2) ",\"variants\":{\"a\":{\"cpus\":2}}}", "unknown field 'cpus'");
	expect_bad(HEAD QSMP(2) ",\"variants\":{\"a\":{}}}", "non-empty object");
	expect_bad(HEAD QSMP(2) ",\"variants\":{\"A B\":{\"smp\":1}}}", "variant name");
	expect_bad(HEAD QSMP(2) ",\"variants\":{\"a\":{\"accel\":\"hvf\"}}}", "accel must be");
	expect_bad(HEAD QSMP(2) ",\"variants\":{\"a\":{\"memory_mb\":8}}}", "memory_mb");
	expect_bad(HEAD QSMP(2) ",\"variants\":[1]}", "'variants'");
}

static void test_machine(void **state)
{
	struct profile alpha, sparc;
	struct machine m;
	struct err err;
	char key[64];

	(void)state;
	assert_int_equal(profile_load("alpha", &alpha, NULL), 0);
	assert_int_equal(profile_load("sparc64", &sparc, NULL), 0);
	assert_int_equal(alpha.max_smp, 4);
	assert_int_equal(sparc.max_smp, 1);
	/* the default machine: one vCPU, the profile's memory, key "" */
	assert_int_equal(profile_machine(&alpha, NULL, 0, &m, &err), 0);
	assert_int_equal(m.smp, 1);
	assert_int_equal(m.memory_mb, alpha.memory_mb);
	machine_key(&alpha, &m, 0, key, sizeof(key));
	assert_string_equal(key, "");
	machine_key(&alpha, &m, 1, key, sizeof(key));
	assert_string_equal(key, "kvm");
	/* a variant, and --smp over it */
	assert_int_equal(profile_machine(&alpha, "smp4", 0, &m, &err), 0);
	assert_string_equal(m.variant, "smp4");
	assert_int_equal(m.smp, 4);
	machine_key(&alpha, &m, 0, key, sizeof(key));
	assert_string_equal(key, "smp4");
	assert_int_equal(profile_machine(&alpha, "smp4", 2, &m, &err), 0);
	assert_int_equal(m.smp, 2);
	m.memory_mb = 1024;
	machine_key(&alpha, &m, 1, key, sizeof(key));
	assert_string_equal(key, "smp2-m1024-kvm");
	/* refusals name the limit and the machine */
	assert_int_equal(profile_machine(&alpha, NULL, 5, &m, &err), -1);
	assert_non_null(strstr(err.msg, "at most 4"));
	assert_non_null(strstr(err.msg, "clipper"));
	assert_int_equal(profile_machine(&sparc, NULL, 2, &m, &err), -1);
	assert_non_null(strstr(err.msg, "sparc64: 2 vCPUs asked for"));
	assert_non_null(strstr(err.msg, "at most 1"));
	assert_int_equal(profile_machine(&sparc, "smp4", 0, &m, &err), -1);
	assert_non_null(strstr(err.msg, "no machine variant 'smp4' (known: none)"));
	assert_int_equal(profile_machine(&alpha, "smp8", 0, &m, &err), -1);
	assert_non_null(strstr(err.msg, "known: smp2, smp4"));
	profile_release(&alpha);
	profile_release(&sparc);
}

static void test_accel(void **state)
{
	char accel[8], why[256];
	enum accel_req r;

	(void)state;
	assert_int_equal(accel_req_parse("kvm", &r), 0);
	assert_int_equal(r, ACCEL_KVM);
	assert_int_equal(accel_req_parse("KVM", &r), -1);
	/* another arch: TCG with the reason; --accel kvm refused */
	assert_int_equal(accel_decide("alpha", ACCEL_AUTO, "x86_64", "/dev/null", accel, why,
				      sizeof(why)), 0);
	assert_string_equal(accel, "tcg");
	assert_string_equal(why, "guest arch alpha != host x86_64");
	assert_int_equal(accel_decide("alpha", ACCEL_KVM, "x86_64", "/dev/null", accel, why,
				      sizeof(why)), -1);
	/* arm64 is aarch64 to uname */
	assert_int_equal(accel_decide("arm64", ACCEL_AUTO, "aarch64", "/dev/null", accel, why,
				      sizeof(why)), 0);
	assert_string_equal(accel, "kvm");
	/* the device cannot be opened: the errno is the reason */
	assert_int_equal(accel_decide("x86_64", ACCEL_AUTO, "x86_64", "/nonexistent/kvm", accel,
				      why, sizeof(why)), 0);
	assert_string_equal(accel, "tcg");
	assert_string_equal(why, "/nonexistent/kvm: No such file or directory");
	assert_int_equal(accel_decide("x86_64", ACCEL_KVM, "x86_64", "/nonexistent/kvm", accel,
				      why, sizeof(why)), -1);
	/* forced emulation wins even where KVM would work */
	assert_int_equal(accel_decide("x86_64", ACCEL_TCG, "x86_64", "/dev/null", accel, why,
				      sizeof(why)), 0);
	assert_string_equal(accel, "tcg");
	assert_string_equal(why, "--accel tcg");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shipped_profiles),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_load_errors),
		cmocka_unit_test(test_image_check),
		cmocka_unit_test(test_variants_parse),
		cmocka_unit_test(test_machine),
		cmocka_unit_test(test_accel),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
