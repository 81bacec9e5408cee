/* Patch series: loading (quilt dir, mbox), identity, and the first-failure
 * message patches_apply gives for patch(1)'s output. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../../runner/patches.h"
#include "../../runner/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void test_explain_hunk(void **state)
{
	struct err e;

	(void)state;
	patches_explain("0003-foo.patch",
			"patching file fs/open.c\nHunk #1 succeeded at 10 (offset 2 lines).\n"
			"patching file fs/fcntl.c\nHunk #1 succeeded at 5.\n"
			"Hunk #2 FAILED at 123.\n1 out of 2 hunks FAILED\n", &e);
	assert_string_equal(e.msg, "patch 0003-foo.patch: hunk #2 FAILED at 123 (fs/fcntl.c)");
	patches_explain("x.patch", "can't find file to patch at input line 5\n"
			"No file to patch.  Skipping patch.\n", &e);
	assert_string_equal(e.msg, "patch x.patch: can't find file to patch at input line 5");
	patches_explain("y.patch", "", &e);
	assert_string_equal(e.msg, "patch y.patch: patch failed without output");
	/* control bytes in patch(1)'s output never reach the message */
	patches_explain("z.patch", "patching file a\033[2Jb\nHunk #1 FAILED at 1.\n", &e);
	assert_string_equal(e.msg, "patch z.patch: hunk #1 FAILED at 1 (a?[2Jb)");
}

/* the identity is what images/kernel.sh's patches_hash computes:
 * sha256 of the patches' sha256s, one a line */
static void test_dir_hash(void **state)
{
	struct patch_series ps;
	struct err e;

	(void)state;
	assert_int_equal(patches_load(KFARM_ARCHES_DIR "/../images/patches/6.12", &ps, &e), 0);
	assert_int_equal(ps.n, 2);
	assert_string_equal(ps.v[0].name, "0001-alpha-fault-drop-show_signal_msg.patch");
	assert_string_equal(ps.hash, "ee671925738364b1c6c5ad93325e6aa80ee3418c6ec73ee8568848d42a9ab2f3");
	patches_release(&ps);
	assert_int_equal(patches_load(NULL, &ps, &e), 0);
	assert_string_equal(ps.hash, "none");
	patches_release(&ps);
}

static const char mbox[] =
	"From 0123456789abcdef0123456789abcdef01234567 Mon Sep 17 00:00:00 2001\n"
	"From: A <a@example.org>\nSubject: [PATCH 1/2] one\n\nbody\n---\n"
	"diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n"
	"From 1123456789abcdef0123456789abcdef01234567 Mon Sep 17 00:00:00 2001\n"
	"From: A <a@example.org>\nSubject: [PATCH 2/2] two\x01\n\nbody\n";

static void test_mbox(void **state)
{
	char path[] = "/tmp/kfarm-test-mbox-XXXXXX";
	int fd = mkstemp(path);
	struct patch_series ps;
	struct err e;

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, mbox, sizeof(mbox) - 1), (ssize_t)sizeof(mbox) - 1);
	close(fd);
	assert_int_equal(patches_load(path, &ps, &e), 0);
	assert_int_equal(ps.n, 2);
	assert_string_equal(ps.v[0].name, "mail 1 ([PATCH 1/2] one)");
	assert_string_equal(ps.v[1].name, "mail 2 ([PATCH 2/2] two)");
	assert_int_equal(access(ps.v[1].path, R_OK), 0);
	patches_release(&ps);
	unlink(path);
}

static void test_bad(void **state)
{
	struct patch_series ps;
	struct err e;

	(void)state;
	assert_int_equal(patches_load("/nonexistent/patches", &ps, &e), -1);
	assert_string_equal(e.msg, "cannot read patches '/nonexistent/patches': No such file or "
			    "directory");
	patches_release(&ps);
	assert_int_equal(patches_load("/proc/self", &ps, &e), -1);	/* no series, no *.patch */
	assert_non_null(strstr(e.msg, "has no series file and no *.patch"));
	patches_release(&ps);
}

static int put(const char *path, const char *text)
{
	return write_file_atomic(path, text, strlen(text));
}

/* patches_apply through patch(1): a patch that applies, then one whose hunk
 * does not (1, e names the patch, hunk and file) */
static void test_apply(void **state)
{
	char dir[] = "/tmp/kfarm-test-apply-XXXXXX", *file, *good, *bad, *text = NULL;
	struct patch_series ps;
	struct err e = { 0 };
	size_t n;

	(void)state;
	assert_non_null(mkdtemp(dir));
	file = xasprintf("%s/a", dir);
	good = xasprintf("%s.good.patch", dir);
	bad = xasprintf("%s.bad.patch", dir);
	assert_int_equal(put(file, "one\n"), 0);
	assert_int_equal(put(good, "--- a/a\n+++ b/a\n@@ -1 +1 @@\n-one\n+two\n"), 0);
	assert_int_equal(put(bad, "--- a/a\n+++ b/a\n@@ -1 +1 @@\n-zzz\n+three\n"), 0);
	assert_int_equal(patches_load(good, &ps, &e), 0);
	assert_int_equal(patches_apply(&ps, dir, &e), 0);
	patches_release(&ps);
	assert_int_equal(read_file(file, 64, &text, &n), 0);
	assert_string_equal(text, "two\n");
	free(text);
	assert_int_equal(patches_load(bad, &ps, &e), 0);
	assert_int_equal(patches_apply(&ps, dir, &e), 1);
	assert_non_null(strstr(e.msg, ": hunk #1 FAILED at 1 (a)"));
	assert_memory_equal(e.msg, "patch ", 6);
	patches_release(&ps);
	unlink(file), unlink(good), unlink(bad), rmdir(dir);
	free(file), free(good), free(bad);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_explain_hunk),
		cmocka_unit_test(test_dir_hash),
		cmocka_unit_test(test_mbox),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_apply),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
