/* The store, on real SQLite files: schema creation, a job stored whole or
 * not at all, and clear refusals of corrupt, foreign and read-only files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../runner/job.h"
#include "../../runner/store.h"
#include "../../runner/util.h"

static char dir[] = "/tmp/kfarm-store-XXXXXX";

static char *path(const char *name)
{
	return xasprintf("%s/%s", dir, name);
}

static int count(struct store *st, const char *table)
{
	char *sql = xasprintf("SELECT count(*) FROM %s", table);
	sqlite3_stmt *s;
	int n = -1;

	assert_int_equal(sqlite3_prepare_v2(store_db(st), sql, -1, &s, NULL), SQLITE_OK);
	if (sqlite3_step(s) == SQLITE_ROW)
		n = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	free(sql);
	return n;
}

static struct job *fake_finished_job(enum job_outcome o)
{
	struct job *j = job_new();

	j->arch = xstrdup("x86_64");
	j->be = &backend_qemu;
	j->outcome = o;
	j->t_start = now_mono() - 2;
	j->t_end = now_mono();
	j->nres = 2;
	j->res = xcalloc(2, sizeof(*j->res));
	j->res[0] = (struct result){ xstrdup("clone3/size"), RS_PASS, xstrdup(""), 0, 1 };
	j->res[1] = (struct result){ xstrdup("clone3"), RS_FAIL, xstrdup("boom"), 1.5, 0 };
	return j;
}

static void test_roundtrip_and_atomicity(void **state)
{
	char *p = path("a.db");
	struct store *st = store_open(p, 0);
	struct job *good, *bad;
	int64_t run, cand;

	(void)state;
	assert_non_null(st);
	run = store_run_begin(st, "kfarm run");
	assert_true(run > 0);
	cand = store_candidate(st, "x86_64", "t", NULL, "abc", "/k");
	assert_true(cand > 0);
	assert_int_equal(store_candidate(st, "x86_64", "t", NULL, "abc", "/k"), cand);
	good = fake_finished_job(JOB_COMPLETE);
	good->candidate_id = cand;
	assert_true(store_job(st, run, good, "h") > 0);
	assert_int_equal(count(st, "results"), 2);
	assert_int_equal(count(st, "latest"), 1);	/* top-level only */
	/* an outcome the schema refuses: the whole job must roll back */
	bad = fake_finished_job(JOB_PENDING);
	bad->candidate_id = cand;
	assert_int_equal(store_job(st, run, bad, "h"), -1);
	assert_int_equal(count(st, "jobs"), 1);
	assert_int_equal(count(st, "results"), 2);
	/* an infrastructure error is stored but never becomes "latest" */
	job_free(bad);
	bad = fake_finished_job(JOB_INFRA_ERROR);
	bad->candidate_id = cand;
	assert_true(store_job(st, run, bad, "h") > 0);
	sqlite3_stmt *s;
	assert_int_equal(sqlite3_prepare_v2(store_db(st), "SELECT j.outcome FROM latest l JOIN "
					    "results r ON r.id = l.result_id JOIN jobs j ON "
					    "j.id = r.job_id", -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(s, 0), "COMPLETE");
	sqlite3_finalize(s);
	assert_int_equal(store_run_end(st, run, "complete"), 0);
	job_free(good);
	job_free(bad);
	store_close(st);
	/* reopening is a no-op migration and sees the data */
	st = store_open(p, STORE_READONLY);
	assert_non_null(st);
	assert_int_equal(count(st, "jobs"), 2);
	store_close(st);
	free(p);
}

static void test_stale_run_marked_interrupted(void **state)
{
	char *p = path("b.db");
	struct store *st = store_open(p, 0);
	int64_t run;
	sqlite3_stmt *s;

	(void)state;
	run = store_run_begin(st, "kfarm run");
	/* pretend its kfarm is long gone */
	assert_int_equal(sqlite3_exec(store_db(st), "UPDATE runs SET pid = 999999999", NULL, NULL,
				      NULL), SQLITE_OK);
	assert_int_equal(store_mark_stale_runs(st), 0);
	sqlite3_prepare_v2(store_db(st), "SELECT status FROM runs WHERE id = ?", -1, &s, NULL);
	sqlite3_bind_int64(s, 1, run);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(s, 0), "interrupted");
	sqlite3_finalize(s);
	store_close(st);
	free(p);
}

static void test_refusals(void **state)
{
	char *corrupt = path("corrupt.db"), *foreign = path("foreign.db"), *ro = path("ro.db");
	sqlite3 *db;
	int fd;

	(void)state;
	fd = open(corrupt, O_WRONLY | O_CREAT, 0644);
	assert_int_equal(write(fd, "this is not an sqlite database, just garbage bytes........"
				   "................................................", 100), 100);
	close(fd);
	assert_null(store_open(corrupt, 0));

	sqlite3_open(foreign, &db);
	sqlite3_exec(db, "CREATE TABLE t (x)", NULL, NULL, NULL);
	sqlite3_close(db);
	assert_null(store_open(foreign, 0));

	store_close(store_open(ro, 0));
	chmod(ro, 0444);
	if (geteuid() != 0)	/* root writes through modes */
		assert_null(store_open(ro, 0));
	assert_null(store_open("/nonexistent-dir/x.db", 0));
	free(corrupt);
	free(foreign);
	free(ro);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_and_atomicity),
		cmocka_unit_test(test_stale_run_marked_interrupted),
		cmocka_unit_test(test_refusals),
	};
	int ret;

	if (!mkdtemp(dir))
		return 1;
	ret = cmocka_run_group_tests(tests, NULL, NULL);
	char *cmd[] = { "rm", "-rf", dir, NULL };
	if (fork() == 0)
		execvp(cmd[0], cmd);
	return ret;
}
