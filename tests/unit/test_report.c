/* kfarm report on a real SQLite file made by store_open, rows written with
 * SQL: a regression, a stored reason with ESC and a byte that is not UTF-8,
 * and the builds section only when a builds table exists (its columns as
 * kfarm build's; rows of wrong type read as ERROR). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../runner/report.h"
#include "../../runner/store.h"
#include "../../runner/summary.h"
#include "../../runner/util.h"

static char dir[] = "/tmp/kfarm-test-report.XXXXXX";

static void exec(sqlite3 *db, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", sql, err);
}

static const char history[] =
	"INSERT INTO runs (id, started, status) VALUES (1, 1, 'complete'), (2, 2, 'complete');"
	"INSERT INTO candidates (id, arch, label, tree, image_sha256, created) VALUES"
	" (1, 'x86_64', 'A', 't', 'a', 1), (2, 'x86_64', 'B', 't', 'b', 2),"
	" (3, 'arm64', 'A', 't', 'c', 1), (4, 'arm64', 'B', 't', 'd', 2);"
	"INSERT INTO jobs (id, run_id, candidate_id, arch, attempt, outcome, release, started,"
	" finished, qemu_version) VALUES"
	" (1, 1, 1, 'x86_64', 1, 'COMPLETE', '6.1.192', 1, 1, 'QEMU 7.2'),"
	" (2, 1, 3, 'arm64', 1, 'COMPLETE', '6.1.192', 1, 1, 'QEMU 7.2'),"
	" (3, 2, 2, 'x86_64', 1, 'COMPLETE', '6.12.117', 2, 2, 'QEMU 7.2'),"
	" (4, 2, 4, 'arm64', 1, 'PANIC', '6.12.117', 2, 2, 'QEMU 7.2');"
	"INSERT INTO results (job_id, test, depth, status, reason) VALUES"
	" (1, 'futex', 0, 'PASS', NULL), (1, 'clone3', 0, 'PASS', NULL),"
	" (2, 'futex', 0, 'PASS', NULL), (2, 'clone3', 0, 'PASS', NULL),"
	" (3, 'futex', 0, 'FAIL', 'got ' || char(27) || '[2J' || CAST(x'ff' AS TEXT)),"
	" (3, 'clone3', 0, 'SKIP', 'off'),"
	" (4, 'futex', 0, 'MISSING', 'never ran: job PANIC'), (4, 'clone3', 0, 'PASS', NULL);";

static sqlite3 *setup(struct store **st)
{
	char *path = xasprintf("%s/r.db", dir);

	*st = store_open(path, 0, NULL);
	free(path);
	assert_non_null(*st);
	exec(store_db(*st), history);
	/* rows written with SQL: into the read-side summaries as store_job would */
	for (int64_t job = 1; job <= 4; job++)
		assert_int_equal(summary_add_job(store_db(*st), job), 0);
	return store_db(*st);
}

static char *render(sqlite3 *db, int64_t run, const char *tree, enum report_format f)
{
	struct err e = { 0 };
	json_t *r = report_build(db, run, tree, &e);
	char *t;

	if (!r)
		fail_msg("report_build: %s", e.msg);
	t = report_render(r, f);
	json_decref(r);
	return t;
}

static void test_text(void **state)
{
	struct store *st;
	sqlite3 *db = setup(&st);
	char *t = render(db, 2, NULL, RF_TEXT);

	(void)state;
	assert_non_null(strstr(t, "Qemu test results:\n\ttotal: 2 pass: 1 fail: 1\n"));
	assert_non_null(strstr(t, "Test results:\n\ttotal: 4 pass: 1 fail: 2 skip: 1\n"));
	assert_non_null(strstr(t, "\tarm64 (B): PANIC: -\n"));
	/* one entry for both arches; the ESC and the stray byte escaped */
	assert_non_null(strstr(t, "\tfutex: PASS -> FAIL on x86_64 (6.1.192 -> 6.12.117)\n"));
	assert_non_null(strstr(t, "\tfutex: PASS -> MISSING on arm64"));
	assert_non_null(strstr(t, "\tx86_64 futex: FAIL (got \\x1b[2J\xef\xbf\xbd)\n"));
	assert_null(strchr(t, 0x1b));
	assert_null(strstr(t, "Build results"));	/* no builds table */
	free(t);
	t = render(db, 0, "t", RF_MARKDOWN);	/* the tree's latest = run 2's */
	assert_non_null(strstr(t, "**Test results:** total: 4 pass: 1 fail: 2 skip: 1\n"));
	assert_non_null(strstr(t, "| x86\\_64 | B | 6.12.117 | 1/1 | 2 | 0 | 1 | 1 | 0 |\n"));
	free(t);
	store_close(st);
}

static void test_builds(void **state)
{
	struct store *st;
	sqlite3 *db = setup(&st);
	char *t;

	(void)state;
	exec(db, "INSERT INTO sources (id, kind, spec, identity, patches_hash, tree, label, created)"
		 " VALUES (1, 'tarball', 'x.tar.xz', 'tar:1', '', 't', 'B', 2);"
		 "INSERT INTO builds (run_id, source_id, candidate_id, arch, config, status, error,"
		 " started, finished) VALUES"
		 " (2, 1, 2, 'x86_64', 'tiny', 'PASS', NULL, 2, 2),"
		 " (2, 1, 4, 'arm64', 'tiny', 'PASS', NULL, 2, 2),"
		 " (2, 1, NULL, 'alpha', 'tiny', 'FAIL', 'fault.c:242:9: error: implicit declaration', 2, 2),"
		 " (2, 1, NULL, 'sparc64', 'tiny', 'ERROR', NULL, 2, 2),"
		 " (1, 1, 1, 'x86_64', 'tiny', 'FAIL', 'old', 1, 1);");
	t = render(db, 2, NULL, RF_TEXT);
	assert_non_null(strstr(t, "\n\nBuild results:\n\ttotal: 4 pass: 2 fail: 1 error: 1\n"
				  "Failed builds:\n\talpha:tiny: fault.c:242:9: error: implicit"
				  " declaration\n\tsparc64:tiny (ERROR, not the kernel's fault): -\n"
				  "Qemu test results:"));
	free(t);
	store_close(st);
}

/* A build PASS -> FAIL is one of the report's regressions (with its first
 * error), and an arch that did not build is "not built", not a failed boot. */
static void test_build_regression_not_built(void **state)
{
	struct store *st;
	sqlite3 *db = setup(&st);
	char *t;

	(void)state;
	exec(db, "INSERT INTO sources (id, kind, spec, identity, patches_hash, tree, label, created)"
		 " VALUES (1, 'git', 'r@A', 'git:a', '', 't', 'A', 1),"
		 " (2, 'git', 'r@B', 'git:b', '', 't', 'B', 2);"
		 "INSERT INTO candidates (id, arch, label, tree, image_sha256, created) VALUES"
		 " (5, 'alpha', 'B', 't', 'not-built', 2), (6, 'sparc64', 'B', 't', 'not-built', 2);"
		 "INSERT INTO jobs (id, run_id, candidate_id, arch, attempt, outcome, reason, started,"
		 " finished) VALUES (5, 2, 5, 'alpha', 1, 'NOT_BUILT', 'build FAIL: time.c:9: error: x',"
		 " 2, 2), (6, 2, 6, 'sparc64', 1, 'NOT_BUILT', 'build FAIL: fcntl.c:1: error: y', 2, 2);"
		 "INSERT INTO results (job_id, test, depth, status, reason) VALUES"
		 " (5, 'futex', 0, 'MISSING', 'not built'), (6, 'futex', 0, 'MISSING', 'not built');"
		 "INSERT INTO builds (run_id, source_id, candidate_id, arch, config, status, error,"
		 " started, finished) VALUES"
		 " (1, 1, NULL, 'alpha', 'kfarm', 'PASS', NULL, 1, 1),"
		 " (2, 2, 5, 'alpha', 'kfarm', 'FAIL', 'time.c:9: error: x', 2, 2),"
		 " (1, 1, NULL, 'sparc64', 'kfarm', 'PASS', NULL, 1, 1),"
		 " (2, 2, 6, 'sparc64', 'kfarm', 'FAIL', 'fcntl.c:1: error: y', 2, 2);");
	assert_int_equal(summary_add_job(db, 5), 0);
	assert_int_equal(summary_add_job(db, 6), 0);
	t = render(db, 2, NULL, RF_TEXT);
	assert_non_null(strstr(t, "Qemu test results:\n\ttotal: 2 pass: 1 fail: 1 not built: 2\n"));
	/* an unbuilt arch's tests are no results: run 2's are x86_64's and arm64's */
	assert_non_null(strstr(t, "Test results:\n\ttotal: 4 pass: 1 fail: 2 skip: 1\n"));
	assert_null(strstr(t, "alpha futex"));
	/* two builds broken two ways: each with its own first error */
	assert_non_null(strstr(t, "\tbuild: PASS -> FAIL on sparc64: first error: fcntl.c:1: error: y\n"));
	assert_null(strstr(t, "NOT_BUILT"));	/* not listed as a failed boot */
	assert_non_null(strstr(t, "Regressions (against the previous candidate):\n"));
	assert_non_null(strstr(t, "\tbuild: PASS -> FAIL on alpha: first error: time.c:9: error: x\n"));
	free(t);
	store_close(st);
}

static int group_setup(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int per_test(void **state)
{
	static const char *const sfx[] = { "", "-wal", "-shm" };

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(sfx); i++) {
		char *p = xasprintf("%s/r.db%s", dir, sfx[i]);

		unlink(p);
		free(p);
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	per_test(state);
	return rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_text, per_test),
		cmocka_unit_test_setup(test_builds, per_test),
		cmocka_unit_test_setup(test_build_regression_not_built, per_test),
	};
	setenv("KFARM_KNOWN", "/nonexistent", 1);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
