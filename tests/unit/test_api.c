/* The API's queries on real SQLite files built through store_job: runs and
 * their tallies, a run's jobs, status, history filters, trees, /metrics;
 * and a crafted database answered without a crash or a dropped row. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../runner/api.h"
#include "../../runner/api_facts.h"
#include "../../runner/metrics.h"
#include "hist.h"

static char dir[] = "/tmp/kfarm-api-XXXXXX";
static struct store *st;
static int64_t job_fail, run1, run2;

static int setup(void **state)
{
	static const char *const ok[] = { "a=PASS", "a/x=PASS", "b=SKIP", NULL };
	static const char *const bad[] = { "a=FAIL", "a/x=FAIL", "b=MISSING", NULL };
	char *p = xasprintf("%s/api.db", dir);

	(void)state;
	st = store_open(p, 0, NULL);
	free(p);
	if (!st)
		return -1;
	run1 = store_run_begin(st, "kfarm run one", NULL);
	hist_job(st, run1, "x86_64", "A", "t", "6.1.1", JOB_COMPLETE, 1.5, ok);
	hist_job(st, run1, "alpha", "A", "t", "6.1.1", JOB_COMPLETE, 2.5, ok);
	store_run_end(st, run1, RUN_COMPLETE, NULL);
	run2 = store_run_begin(st, "kfarm run two", NULL);
	job_fail = hist_job(st, run2, "x86_64", "B", "t", "6.12.1", JOB_COMPLETE, 1.25, bad);
	hist_job(st, run2, "alpha", "B", "t", NULL, JOB_INFRA_ERROR, 0, ok);
	hist_job(st, run2, "arm64", "C", NULL, "6.12.3", JOB_PANIC, 0.75, bad);
	store_run_end(st, run2, RUN_COMPLETE, NULL);
	return job_fail > 0 ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	store_close(st);
	return 0;
}

static json_int_t ival(json_t *o, const char *k)
{
	assert_true(json_is_integer(json_object_get(o, k)));
	return json_integer_value(json_object_get(o, k));
}

static const char *sval(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static void test_runs_and_run(void **state)
{
	struct err e = { 0 };
	json_t *runs = api_runs(store_db(st), 10, &e), *run, *j;

	(void)state;
	assert_non_null(runs);
	assert_int_equal(json_array_size(runs), 2);
	j = json_array_get(runs, 0);	/* newest first */
	assert_int_equal(ival(j, "id"), run2);
	assert_int_equal(ival(j, "jobs"), 3);
	assert_int_equal(ival(j, "complete"), 1);
	assert_int_equal(ival(json_array_get(runs, 1), "jobs"), 2);
	json_decref(runs);
	run = api_run(store_db(st), run2, &e);
	assert_non_null(run);
	j = json_array_get(json_object_get(run, "jobs"), 0);
	assert_int_equal(ival(j, "id"), job_fail);
	assert_int_equal(ival(j, "pass"), 0);
	assert_int_equal(ival(j, "fail"), 1);	/* top level only: a/x is not counted */
	assert_int_equal(ival(j, "missing"), 1);
	assert_int_equal(ival(j, "skip"), 0);
	j = json_array_get(json_object_get(run, "jobs"), 1);
	assert_string_equal(sval(j, "outcome"), "INFRA_ERROR");
	assert_int_equal(ival(j, "pass"), 1);
	assert_int_equal(ival(j, "skip"), 1);
	json_decref(run);
	assert_null(api_run(store_db(st), 999, &e));
	assert_int_equal(e.code, 404);
}

static void test_status(void **state)
{
	struct err e = { 0 };
	json_t *s = api_status(store_db(st), &e), *jobs;

	(void)state;
	assert_non_null(s);
	jobs = json_object_get(s, "jobs");
	/* the latest job of each arch, even an INFRA_ERROR one */
	assert_int_equal(json_array_size(jobs), 3);
	assert_string_equal(sval(json_array_get(jobs, 0), "arch"), "alpha");
	assert_string_equal(sval(json_array_get(jobs, 0), "outcome"), "INFRA_ERROR");
	assert_string_equal(sval(json_array_get(jobs, 2), "arch"), "x86_64");
	assert_int_equal(ival(json_array_get(jobs, 2), "id"), job_fail);
	assert_int_equal(json_array_size(json_object_get(s, "arches")), 3);
	json_decref(s);
}

/* One card per tree x arch: two trees' candidates on one arch in one run
 * (the 6.1 and 6.12 defaults) are two cards, neither overwriting the other;
 * a later run of one tree moves only its own card. */
static void test_status_trees(void **state)
{
	static const char *const ok[] = { "a=PASS", "b=PASS", NULL };
	static const char *const bad[] = { "a=FAIL", "b=PASS", NULL };
	char *p = xasprintf("%s/trees.db", dir);
	struct store *t = store_open(p, 0, NULL);
	struct err e = { 0 };
	int64_t r1, r2, j61, j612, j61b;
	json_t *s, *cards, *c;

	(void)state;
	free(p);
	assert_non_null(t);
	r1 = store_run_begin(t, "defaults", NULL);
	j61 = hist_job(t, r1, "x86_64", "debian-6.1", NULL, "6.1.192", JOB_COMPLETE, 1, ok);
	j612 = hist_job(t, r1, "x86_64", "debian-6.12", NULL, "6.12.117", JOB_COMPLETE, 1, bad);
	store_run_end(t, r1, RUN_COMPLETE, NULL);
	s = api_status(store_db(t), &e);
	assert_non_null(s);
	assert_int_equal(json_array_size(json_object_get(s, "jobs")), 1);	/* per arch: one */
	cards = json_object_get(s, "trees");
	assert_int_equal(json_array_size(cards), 2);
	c = json_array_get(cards, 0);
	assert_string_equal(sval(c, "tree"), "linux-6.1");
	assert_string_equal(sval(c, "arch"), "x86_64");
	assert_int_equal(ival(json_object_get(c, "job"), "id"), j61);
	assert_int_equal(ival(json_object_get(c, "job"), "pass"), 2);
	assert_int_equal(json_array_size(json_object_get(c, "builds")), 0);
	c = json_array_get(cards, 1);
	assert_string_equal(sval(c, "tree"), "linux-6.12");
	assert_int_equal(ival(json_object_get(c, "job"), "id"), j612);
	assert_int_equal(ival(json_object_get(c, "job"), "fail"), 1);
	json_decref(s);
	/* a new 6.1 candidate: its card moves, 6.12's stays */
	r2 = store_run_begin(t, "6.1 again", NULL);
	j61b = hist_job(t, r2, "x86_64", "debian-6.1.193", NULL, "6.1.193", JOB_COMPLETE, 1, bad);
	store_run_end(t, r2, RUN_COMPLETE, NULL);
	s = api_status(store_db(t), &e);
	cards = json_object_get(s, "trees");
	assert_int_equal(json_array_size(cards), 2);
	assert_int_equal(ival(json_object_get(json_array_get(cards, 0), "job"), "id"), j61b);
	assert_int_equal(ival(json_object_get(json_array_get(cards, 1), "job"), "id"), j612);
	json_decref(s);
	store_close(t);
}

static void test_history_filters(void **state)
{
	struct err e = { 0 };
	json_t *h;

	(void)state;
	h = api_history(store_db(st), NULL, NULL, 50, &e);
	assert_int_equal(json_array_size(h), 10);	/* 5 jobs x 2 top-level */
	assert_int_equal(ival(json_array_get(h, 0), "job"),
			 ival(json_array_get(h, 1), "job"));
	assert_true(ival(json_array_get(h, 0), "job") > ival(json_array_get(h, 9), "job"));
	json_decref(h);
	h = api_history(store_db(st), "x86_64", NULL, 50, &e);
	assert_int_equal(json_array_size(h), 4);
	assert_string_equal(sval(json_array_get(h, 0), "status"), "MISSING");	/* b, newest */
	json_decref(h);
	h = api_history(store_db(st), NULL, "a", 2, &e);
	assert_int_equal(json_array_size(h), 2);
	assert_string_equal(sval(json_array_get(h, 0), "arch"), "arm64");
	assert_string_equal(sval(json_array_get(h, 1), "arch"), "alpha");
	json_decref(h);
	h = api_history(store_db(st), "x86_64", "a", 50, &e);
	assert_int_equal(json_array_size(h), 2);
	assert_string_equal(sval(json_array_get(h, 0), "status"), "FAIL");
	assert_string_equal(sval(json_array_get(h, 1), "status"), "PASS");
	json_decref(h);
	h = api_history(store_db(st), "x86_64", "a/x", 50, &e);
	assert_int_equal(json_array_size(h), 0);	/* subtests are not history */
	json_decref(h);
}

static void test_trees(void **state)
{
	struct err e = { 0 };
	json_t *t = api_trees(store_db(st), &e), *trees, *c;

	(void)state;
	assert_non_null(t);
	trees = json_object_get(t, "trees");
	/* C had no --tree: its release's series */
	assert_int_equal(json_array_size(trees), 2);
	assert_string_equal(sval(json_array_get(trees, 0), "tree"), "linux-6.12");
	assert_string_equal(sval(json_array_get(trees, 1), "tree"), "t");
	c = json_object_get(json_array_get(trees, 1), "candidates");
	assert_int_equal(json_array_size(c), 2);
	assert_string_equal(sval(json_array_get(c, 0), "kernel"), "A");
	assert_string_equal(sval(json_array_get(c, 1), "kernel"), "B");
	assert_string_equal(sval(json_array_get(c, 1), "release"), "6.12.1");
	json_decref(t);
}

static void test_metrics(void **state)
{
	struct err e = { 0 };
	char *m = metrics_text(store_db(st), &e);

	(void)state;
	assert_non_null(m);
	assert_non_null(strstr(m, "kfarm_jobs_total{outcome=\"COMPLETE\"} 3\n"));
	assert_non_null(strstr(m, "kfarm_jobs_total{outcome=\"INFRA_ERROR\"} 1\n"));
	assert_non_null(strstr(m, "kfarm_jobs_total{outcome=\"PANIC\"} 1\n"));
	/* the INFRA_ERROR job had no boot: alpha's latest boot is run one's */
	assert_non_null(strstr(m, "kfarm_boot_seconds{arch=\"alpha\"} 2.5\n"));
	assert_non_null(strstr(m, "kfarm_boot_seconds{arch=\"x86_64\"} 1.25\n"));
	/* x86_64 a: PASS -> FAIL, b: SKIP -> MISSING is a change, not a regression */
	assert_non_null(strstr(m, "kfarm_open_regressions 1\n"));
	free(m);
}

/* last: it damages the database */
/* Three candidates of tree "facts" on x86_64 (the second run twice) and one
 * on alpha: a fact whose value changes is marked with the previous note;
 * a note whose evidence alone changes is no change; the older job of a
 * candidate is not a row of its own. */
static void test_facts(void **state)
{
	static const char *const c1[] = { "sysinfo=PASS", "sysinfo/cpus=PASS#online 1 configured 1",
		"sysinfo/preemption=PASS#PREEMPT_DYNAMIC voluntary (running; built PREEMPT_DYNAMIC)",
		"sysinfo/io_uring=PASS#enabled (kernel.io_uring_disabled = 0)", NULL };
	static const char *const c2[] = { "sysinfo=PASS", "sysinfo/cpus=PASS#online 1 configured 1",
		"sysinfo/preemption=PASS#PREEMPT_LAZY (uname -v)",
		"sysinfo/io_uring=PASS#enabled (io_uring_setup(0, NULL): EFAULT)", NULL };
	struct err e = { 0 };
	int64_t run = store_run_begin(st, "kfarm run facts", NULL);
	json_t *f, *rows, *r;

	(void)state;
	hist_job(st, run, "x86_64", "F1", "facts", "6.12.1", JOB_COMPLETE, 1, c1);
	hist_job(st, run, "alpha", "F1", "facts", "6.12.1", JOB_COMPLETE, 1, c2);
	hist_job(st, run, "x86_64", "F2", "facts", "7.0.0", JOB_COMPLETE, 1, c2);
	hist_job(st, run, "x86_64", "F2", "facts", "7.0.0", JOB_COMPLETE, 1, c2);
	store_run_end(st, run, RUN_COMPLETE, NULL);

	assert_non_null(f = api_facts(store_db(st), "facts", 100, &e));
	assert_int_equal(json_array_size(json_object_get(f, "facts")), 3);
	rows = json_object_get(f, "rows");
	assert_int_equal(json_array_size(rows), 3);	/* F2's two jobs: one row */
	r = json_array_get(rows, 0);
	assert_string_equal(sval(r, "kernel"), "F1");
	assert_string_equal(sval(r, "arch"), "x86_64");
	assert_int_equal(json_object_size(json_object_get(r, "changed")), 0);
	r = json_array_get(rows, 2);
	assert_string_equal(sval(r, "kernel"), "F2");
	assert_string_equal(sval(json_object_get(r, "facts"), "preemption"), "PREEMPT_LAZY (uname -v)");
	/* preemption changed, io_uring's evidence only, cpus not at all */
	assert_int_equal(json_object_size(json_object_get(r, "changed")), 1);
	assert_string_equal(sval(json_object_get(r, "changed"), "preemption"),
			    "PREEMPT_DYNAMIC voluntary (running; built PREEMPT_DYNAMIC)");
	/* alpha's first candidate changes nothing (no earlier one there) */
	assert_int_equal(json_object_size(json_object_get(json_array_get(rows, 1), "changed")), 0);
	json_decref(f);
	/* another tree's candidates are not these; the limit counts jobs */
	assert_non_null(f = api_facts(store_db(st), "t", 100, &e));
	assert_int_equal(json_array_size(json_object_get(f, "rows")), 0);
	json_decref(f);
	assert_non_null(f = api_facts(store_db(st), NULL, 1, &e));
	assert_int_equal(json_array_size(json_object_get(f, "rows")), 1);
	json_decref(f);
}

static void test_crafted_database(void **state)
{
	struct err e = { 0 };
	char *m;

	(void)state;
	assert_int_equal(sqlite3_exec(store_db(st), "UPDATE candidates SET tree = CAST(X'FF80' AS TEXT)"
				      " WHERE label = 'A'", NULL, NULL, NULL), SQLITE_OK);
	/* invalid UTF-8 is repaired (U+FFFD), never dropped */
	json_t *t = api_trees(store_db(st), &e);

	json_t *tr;
	size_t i;
	int repaired = 0;

	assert_non_null(t);
	assert_int_equal(json_array_size(json_object_get(t, "trees")), 4);
	json_array_foreach(json_object_get(t, "trees"), i, tr)
		repaired += strstr(sval(tr, "tree"), "\xef\xbf\xbd") != NULL;
	assert_int_equal(repaired, 1);
	json_decref(t);
	assert_int_equal(sqlite3_exec(store_db(st), "UPDATE sum_outcome SET n = 'many'",
				      NULL, NULL, NULL), SQLITE_OK);
	m = metrics_text(store_db(st), &e);
	assert_null(m);
	assert_int_equal(e.code, 500);
	assert_non_null(strstr(e.msg, "kfarm_jobs_total"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_runs_and_run),
		cmocka_unit_test(test_status),
		cmocka_unit_test(test_status_trees),
		cmocka_unit_test(test_history_filters),
		cmocka_unit_test(test_trees),
		cmocka_unit_test(test_metrics),
		cmocka_unit_test(test_facts),
		cmocka_unit_test(test_crafted_database),
	};
	int ret;

	unsetenv("KFARM_KNOWN");
	if (!mkdtemp(dir))
		return 1;
	ret = cmocka_run_group_tests(tests, setup, teardown);
	char *cmd[] = { "rm", "-rf", dir, NULL };
	if (fork() == 0)
		execvp(cmd[0], cmd);
	return ret;
}
