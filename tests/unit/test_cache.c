/* The cache's records (cache.h) and pinned boot inputs (pin.h) fail into a
 * struct err with the message kfarm prints, and say nothing themselves; a
 * malformed record that is skipped is named in e all the same. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../runner/cache.h"
#include "../../runner/pin.h"
#include "../../runner/spawn.h"
#include "../../runner/util.h"

static void put(const char *dir, const char *name, const char *text)
{
	char *p = xasprintf("%s/%s", dir, name);
	FILE *f = fopen(p, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	free(p);
}

/* stderr into a file from here to silent_end, which checks it stayed empty:
 * a library module prints no error of its own (no assert in between: a
 * failure's message would go to the file). */
static int saved_fd = -1;
static char silent_path[] = "/tmp/kfarm-stderr-XXXXXX";

static void silent_begin(void)
{
	int fd = mkstemp(silent_path);

	assert_true(fd >= 0);
	fflush(stderr);
	saved_fd = dup(2);
	dup2(fd, 2);
	close(fd);
}

static void silent_end(void)
{
	struct stat st;

	fflush(stderr);
	dup2(saved_fd, 2);
	close(saved_fd);
	assert_int_equal(stat(silent_path, &st), 0);
	unlink(silent_path);
	strcpy(silent_path, "/tmp/kfarm-stderr-XXXXXX");
	assert_int_equal(st.st_size, 0);
}

static void expect_msg(const struct err *e, const char *want)
{
	if (strcmp(e->msg, want))
		fail_msg("error '%s', wanted '%s'", e->msg, want);
}

/* Nothing built yet: the messages that send the user to make images. */
static void test_cache_missing(void **state)
{
	char tmp[] = "/tmp/kfarm-cache-XXXXXX";
	struct default_kernel *d;
	struct err e, e2;
	char *want, *path, **tests;
	size_t n;
	int rc, rc2;

	(void)state;
	assert_non_null(mkdtemp(tmp));
	setenv("KFARM_CACHE", tmp, 1);
	silent_begin();
	rc = cache_defaults(&d, &n, &e);
	rc2 = cache_initramfs("x86_64", &path, &tests, &e2);
	silent_end();
	assert_int_equal(rc, -1);
	want = xasprintf("no default kernels in '%s/defaults' (No such file or directory): "
			 "run 'make images' first", tmp);
	expect_msg(&e, want);
	free(want);
	assert_int_equal(rc2, -1);
	want = xasprintf("no initramfs for arch 'x86_64' ('%s/initramfs/x86_64.json' missing): "
			 "run 'make images'", tmp);
	expect_msg(&e2, want);
	free(want);
	assert_null(path);
	assert_int_equal(spawn_rm_rf(tmp, NULL), 0);
}

/* A malformed record fails the lookup that needs it; one among others is
 * skipped, and named. */
static void test_cache_malformed(void **state)
{
	char tmp[] = "/tmp/kfarm-cache-XXXXXX";
	struct default_kernel *d;
	struct err e;
	char *dir, *want, *path, **tests;
	size_t n;
	int rc;

	(void)state;
	assert_non_null(mkdtemp(tmp));
	setenv("KFARM_CACHE", tmp, 1);
	dir = xasprintf("%s/defaults", tmp);
	assert_int_equal(mkdir_p(dir, 0755), 0);
	put(dir, "x86_64-6.1.json", "{\"arch\": \"x86_64\", \"version\": \"6.1\", "
	    "\"status\": \"built\", \"image\": \"/k\"}");
	put(dir, "alpha-6.1.json", "{\"arch\": \"alpha\"}");
	silent_begin();
	rc = cache_defaults(&d, &n, &e);
	silent_end();
	assert_int_equal(rc, 0);
	assert_int_equal(n, 1);
	assert_string_equal(d[0].arch, "x86_64");
	want = xasprintf("malformed cache file '%s/alpha-6.1.json': needs arch, version, status",
			 dir);
	expect_msg(&e, want);
	free(want);
	cache_defaults_free(d, n);
	free(d);
	put(dir, "sparc64-6.1.json", "{");
	assert_int_equal(cache_defaults(&d, &n, &e), 0);
	assert_int_equal(n, 1);
	assert_non_null(strstr(e.msg, "(and 1 more malformed cache files skipped)"));
	cache_defaults_free(d, n);
	free(d);
	free(dir);

	dir = xasprintf("%s/initramfs", tmp);
	assert_int_equal(mkdir_p(dir, 0755), 0);
	put(dir, "x86_64.json", "[1]");
	assert_int_equal(cache_initramfs("x86_64", &path, &tests, &e), -1);
	want = xasprintf("malformed cache file '%s/x86_64.json': not a JSON object", dir);
	expect_msg(&e, want);
	free(want);
	/* an --initramfs's suite: the broken user record skipped, ARCH.json's */
	put(dir, "x86_64.json", "{\"path\": \"/d.cpio.gz\", \"tests\": [\"sysinfo\"]}");
	put(dir, "x86_64-user.json", "{\"path\": \"/u.cpio.gz\"}");
	silent_begin();
	rc = cache_initramfs_suite("x86_64", "/u.cpio.gz", &tests, &e);
	silent_end();
	assert_int_equal(rc, 0);
	assert_string_equal(tests[0], "sysinfo");
	strv_free(tests);
	want = xasprintf("malformed cache file '%s/x86_64-user.json': needs path and tests", dir);
	expect_msg(&e, want);
	free(want);
	assert_int_equal(cache_initramfs_suite("alpha", "/a.cpio.gz", &tests, &e), 1);
	assert_string_equal(e.msg, "");
	free(dir);
	assert_int_equal(spawn_rm_rf(tmp, NULL), 0);
}

/* pin_file: the file's problem, and a fallback directory that is not
 * private (the cache not writable) refused, in e. */
static void test_pin(void **state)
{
	char tmp[] = "/tmp/kfarm-pin-XXXXXX";
	char sha[65], *pinned, *cache, *priv, *want;
	struct err e;
	int rc;

	(void)state;
	assert_non_null(mkdtemp(tmp));
	silent_begin();
	rc = pin_file("/nonexistent/bzImage", sha, &pinned, &e);
	silent_end();
	assert_int_equal(rc, -1);
	expect_msg(&e, "cannot read '/nonexistent/bzImage': No such file or directory");
	assert_null(pinned);
	assert_int_equal(pin_file(tmp, sha, &pinned, &e), -1);
	want = xasprintf("'%s' is not a regular file", tmp);
	expect_msg(&e, want);
	free(want);

	/* a cache that cannot hold pinned/ (a file: not even root makes it) */
	put(tmp, "cache", "");
	put(tmp, "kernel", "bytes");
	cache = xasprintf("%s/cache", tmp);
	setenv("KFARM_CACHE", cache, 1);
	setenv("XDG_RUNTIME_DIR", tmp, 1);
	priv = xasprintf("%s/kfarm-pinned", tmp);
	assert_int_equal(mkdir(priv, 0755), 0);
	assert_int_equal(chmod(priv, 0755), 0);
	free(cache);
	cache = xasprintf("%s/kernel", tmp);
	silent_begin();
	rc = pin_file(cache, sha, &pinned, &e);
	silent_end();
	assert_int_equal(rc, -1);
	want = xasprintf("'%s' is not a private directory of this user (refused)", priv);
	expect_msg(&e, want);
	free(want);
	assert_int_equal(chmod(priv, 0700), 0);
	assert_int_equal(pin_file(cache, sha, &pinned, &e), 0);
	assert_int_equal(strncmp(pinned, priv, strlen(priv)), 0);
	free(pinned);
	free(cache);
	free(priv);
	unsetenv("XDG_RUNTIME_DIR");
	assert_int_equal(spawn_rm_rf(tmp, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cache_missing),
		cmocka_unit_test(test_cache_malformed),
		cmocka_unit_test(test_pin),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
