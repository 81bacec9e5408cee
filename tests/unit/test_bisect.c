/* kfarm bisect's state machine: a step's verdict from its runs, the next
 * commit from the verdicts, runs per step from a flake rate; and its state
 * on a real SQLite file: a bisection replayed from stored steps after a
 * "kill" takes the same path and runs no step twice; a run left by a
 * killed bisection is found again; the history's flake rate and a run's
 * judgement read from the real schema. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../runner/bisect.h"
#include "../../runner/bisect_db.h"
#include "hist.h"

static char dir[] = "/tmp/kfarm-bisect-XXXXXX";

static enum bisect_verdict fold(enum bisect_mode m, const enum bisect_run *r, size_t n,
				unsigned int want, int full, int *give_up)
{
	struct bisect_tally t;

	return bisect_verdict(m, r, n, want, full, &t, give_up);
}

static void test_verdict_rules(void **state)
{
	enum bisect_run pass3[] = { BR_PASS, BR_PASS, BR_PASS };
	enum bisect_run pf[] = { BR_PASS, BR_FAIL };
	enum bisect_run infra[] = { BR_INFRA, BR_INFRA, BR_INFRA };
	enum bisect_run infra_pass[] = { BR_INFRA, BR_PASS };
	enum bisect_run bf[] = { BR_BUILD_FAIL };
	enum bisect_run skip[] = { BR_PASS, BR_SKIP };
	enum bisect_run fpp[] = { BR_FAIL, BR_PASS, BR_PASS };
	struct bisect_tally t;
	int g;

	(void)state;
	/* good only when every one of `want` runs passed */
	assert_int_equal(fold(BM_TEST, pass3, 2, 3, 0, &g), BV_NONE);
	assert_int_equal(g, 0);
	assert_int_equal(fold(BM_TEST, pass3, 3, 3, 0, &g), BV_GOOD);
	/* bad as soon as one fails ... */
	assert_int_equal(fold(BM_TEST, pf, 2, 5, 0, &g), BV_BAD);
	assert_int_equal(fold(BM_TEST, fpp, 1, 3, 0, &g), BV_BAD);
	/* ... except in full mode, which goes on to tell "fails" from "fails
	 * sometimes": bad once one also passed, or all failed */
	enum bisect_run fff[] = { BR_FAIL, BR_FAIL, BR_FAIL };

	assert_int_equal(fold(BM_TEST, fpp, 1, 3, 1, &g), BV_NONE);
	assert_int_equal(bisect_verdict(BM_TEST, fpp, 2, 3, 1, &t, &g), BV_BAD);
	assert_int_equal(t.pass, 1);
	assert_int_equal(t.fail, 1);
	assert_int_equal(fold(BM_TEST, fff, 2, 3, 1, &g), BV_NONE);
	assert_int_equal(bisect_verdict(BM_TEST, fff, 3, 3, 1, &t, &g), BV_BAD);
	assert_int_equal(t.pass, 0);
	/* infrastructure errors are never a verdict: retried, then given up */
	assert_int_equal(fold(BM_TEST, infra, 2, 1, 0, &g), BV_NONE);
	assert_int_equal(g, 0);
	assert_int_equal(fold(BM_TEST, infra, 3, 1, 0, &g), BV_NONE);
	assert_int_equal(g, 1);
	assert_int_equal(bisect_verdict(BM_TEST, infra_pass, 2, 1, 0, &t, &g), BV_GOOD);
	assert_int_equal(t.infra, 1);
	/* a build failure: skip, unless the build is what is bisected */
	assert_int_equal(fold(BM_TEST, bf, 1, 3, 0, &g), BV_SKIP);
	assert_int_equal(fold(BM_OUTCOME, bf, 1, 3, 0, &g), BV_SKIP);
	assert_int_equal(fold(BM_BUILD, bf, 1, 1, 0, &g), BV_BAD);
	/* the test skipped: cannot judge */
	assert_int_equal(fold(BM_TEST, skip, 2, 3, 0, &g), BV_SKIP);
	/* names round-trip */
	for (int r = BR_PASS; r <= BR_SKIP; r++) {
		enum bisect_run back;

		assert_int_equal(bisect_run_parse(bisect_run_name(r), &back), 0);
		assert_int_equal(back, r);
	}
	for (int v = BV_GOOD; v <= BV_SKIP; v++)
		assert_int_equal(bisect_verdict_parse(bisect_verdict_name(v)), v);
	assert_int_equal(bisect_verdict_parse("maybe"), BV_NONE);
}

/* The whole bisection of n commits with the first bad one at `culprit`
 * (and commits in `skip` untestable): its steps, and what it found. */
static struct bisect_next bisect_all(size_t n, size_t culprit, const int *skip,
				     unsigned int *steps)
{
	enum bisect_verdict *v = calloc(n, sizeof(*v));
	struct bisect_next nx;

	v[0] = BV_GOOD, v[n - 1] = BV_BAD;
	*steps = 0;
	for (;;) {
		bisect_next(v, n, &nx);
		if (nx.kind != BN_STEP)
			break;
		assert_true(nx.index > 0 && nx.index < n - 1);
		assert_int_equal(v[nx.index], BV_NONE);	/* never the same commit twice */
		v[nx.index] = skip && skip[nx.index] ? BV_SKIP
			      : nx.index >= culprit ? BV_BAD : BV_GOOD;
		(*steps)++;
	}
	free(v);
	return nx;
}

static void test_next_step(void **state)
{
	unsigned int steps;
	struct bisect_next nx;

	(void)state;
	assert_int_equal(bisect_max_steps(16), 4);
	assert_int_equal(bisect_max_steps(17), 5);
	assert_int_equal(bisect_max_steps(1), 0);
	/* every culprit position of 16 and 20 commits: found within ceil(log2 N) */
	for (size_t n = 17; n <= 21; n += 4)
		for (size_t k = 1; k < n; k++) {
			nx = bisect_all(n, k, NULL, &steps);
			assert_int_equal(nx.kind, BN_FOUND);
			assert_int_equal(nx.index, k);
			assert_true(steps <= bisect_max_steps(n - 1));
		}
	/* adjacent good and bad: no step at all */
	nx = bisect_all(2, 1, NULL, &steps);
	assert_int_equal(nx.kind, BN_FOUND);
	assert_int_equal(steps, 0);
	/* a skipped commit in the way is stepped around */
	int skip[17] = { 0 };

	skip[8] = 1;
	for (size_t k = 1; k < 17; k++) {
		nx = bisect_all(17, k, skip, &steps);
		if (k == 8 || k == 9) {
			/* 8 untestable: 9 bad, 7 good leaves 8 or 9 */
			assert_int_equal(nx.kind, BN_AMBIGUOUS);
			assert_int_equal(nx.lo, 7);
			assert_int_equal(nx.hi, 9);
		} else {
			assert_int_equal(nx.kind, BN_FOUND);
			assert_int_equal(nx.index, k);
		}
	}
}

static void test_default_runs(void **state)
{
	(void)state;
	assert_int_equal(bisect_default_runs(0), 1);
	assert_int_equal(bisect_default_runs(-1), 1);
	/* 0.7^9 = 4.0 % <= 5 % < 0.7^8 = 5.8 % */
	assert_int_equal(bisect_default_runs(0.3), 9);
	assert_int_equal(bisect_default_runs(0.5), 5);
	assert_int_equal(bisect_default_runs(0.9), 2);
	assert_int_equal(bisect_default_runs(0.01), 20);
	/* a deterministic test is re-checked once, a flaky one twice as often */
	assert_int_equal(bisect_confirm_runs(0), 1);
	assert_int_equal(bisect_confirm_runs(1), 1);
	assert_int_equal(bisect_confirm_runs(6), 12);
	assert_int_equal(bisect_confirm_runs(20), 40);
}

static char *path(const char *name)
{
	return xasprintf("%s/%s", dir, name);
}

static const char *const C[] = {
	"0000000000000000000000000000000000000000", "1111111111111111111111111111111111111111",
	"2222222222222222222222222222222222222222", "3333333333333333333333333333333333333333",
	"4444444444444444444444444444444444444444", "5555555555555555555555555555555555555555",
	"6666666666666666666666666666666666666666", "7777777777777777777777777777777777777777",
	"8888888888888888888888888888888888888888",
};

/* One session of the driver's loop over the store, as cmd_bisect runs it:
 * a stored verdict is reused, else the oracle is asked (a "run"); stops
 * after `budget` runs (the kill). Returns 1 when the culprit was found. */
static int session(sqlite3 *db, int64_t id, size_t culprit, int budget, int *oracle_calls,
		   size_t *found)
{
	size_t n = ARRAY_SIZE(C);
	enum bisect_verdict v[ARRAY_SIZE(C)] = { BV_GOOD };
	struct bisect_next nx;

	v[n - 1] = BV_BAD;
	for (;;) {
		enum bisect_verdict sv;
		int64_t step;

		bisect_next(v, n, &nx);
		if (nx.kind != BN_STEP)
			break;
		step = bisectdb_step(db, id, "step", C[nx.index], &sv, NULL);
		assert_true(step > 0);
		if (sv == BV_NONE) {
			struct bisect_tally t = { 0 };
			enum bisect_run r = nx.index >= culprit ? BR_FAIL : BR_PASS;

			if (budget-- == 0)
				return 0;	/* killed before this step's run */
			(*oracle_calls)++;
			assert_int_equal(bisectdb_run_begin(db, step, 1, 4242, 0, NULL), 0);
			assert_int_equal(bisectdb_run_end(db, step, 1, 0, r, 1.5, NULL), 0);
			sv = r == BR_FAIL ? BV_BAD : BV_GOOD;
			(r == BR_FAIL ? &t.fail : &t.pass)[0]++;
			assert_int_equal(bisectdb_step_end(db, step, sv, &t, 1, 2, 3, NULL), 0);
		}
		v[nx.index] = sv;
	}
	assert_int_equal(nx.kind, BN_FOUND);
	*found = nx.index;
	return 1;
}

static void test_store_resume(void **state)
{
	char *db_path = path("b.db");
	struct store *st = store_open(db_path, 0, NULL);
	sqlite3 *db;
	struct bisect_rec b = { 0 }, back;
	int64_t id, again;
	int calls = 0, calls_clean = 0;
	size_t found = 0, found_clean = 0;

	(void)state;
	assert_non_null(st);
	db = store_db(st);
	b.repo = "/src/linux", b.good = (char *)C[0], b.bad = (char *)C[8];
	b.arch = "x86_64", b.test = "clone3/size_gt_page_e2big", b.mode = BM_TEST;
	b.runs = 1, b.commits = 8;
	assert_int_equal(bisectdb_find_open(db, &b, NULL), 0);
	id = bisectdb_create(db, &b, NULL);
	assert_true(id > 0);
	assert_int_equal(bisectdb_find_open(db, &b, NULL), id);
	/* a different test is a different bisection */
	b.test = "clone3";
	assert_int_equal(bisectdb_find_open(db, &b, NULL), 0);
	b.test = "clone3/size_gt_page_e2big";
	/* other boot arguments, other verdicts: not the same bisection */
	b.append = "kfarm.opt=flaky.fail_pct=0";
	assert_int_equal(bisectdb_find_open(db, &b, NULL), 0);
	b.append = NULL;
	assert_int_equal(bisectdb_load(db, id, &back, NULL), 0);
	assert_string_equal(back.good, C[0]);
	assert_string_equal(back.status, "running");
	assert_int_equal(back.mode, BM_TEST);
	bisectdb_rec_release(&back);
	/* none such: said in struct err (404), not printed */
	struct err e = { 0 };
	assert_int_equal(bisectdb_load(db, 999, &back, &e), -1);
	assert_string_equal(e.msg, "no bisection 999 in the database");
	assert_int_equal(e.code, 404);
	bisectdb_rec_release(&back);

	/* killed after one run, resumed: same culprit, no step run twice */
	assert_int_equal(session(db, id, 5, 1, &calls, &found), 0);
	assert_int_equal(calls, 1);
	assert_int_equal(session(db, id, 5, -1, &calls, &found), 1);
	assert_int_equal(found, 5);
	int64_t clean = bisectdb_create(db, &(struct bisect_rec){ .repo = "/other", .good =
		(char *)C[0], .bad = (char *)C[8], .arch = "x86_64", .mode = BM_BUILD, .runs = 1,
		.commits = 8 }, NULL);
	assert_int_equal(session(db, clean, 5, -1, &calls_clean, &found_clean), 1);
	assert_int_equal(found_clean, found);
	assert_int_equal(calls, calls_clean);
	assert_true((unsigned int)calls <= bisect_max_steps(8));

	/* a run started by a killed bisection is returned as pending */
	enum bisect_verdict v;
	enum bisect_run runs[4];
	struct bisect_pending p;
	double wall;
	int64_t step = bisectdb_step(db, id, "confirm_bad", C[5], &v, NULL);

	assert_true(step > 0);
	assert_int_equal(v, BV_NONE);
	assert_int_equal(bisectdb_run_begin(db, step, 1, 777, 3, NULL), 0);
	assert_int_equal(bisectdb_runs(db, step, runs, 4, &p, &wall, NULL), 0);
	assert_int_equal(p.attempt, 1);
	assert_int_equal(p.pid, 777);
	assert_int_equal(p.after, 3);
	assert_int_equal(bisectdb_run_end(db, step, 1, 0, BR_FAIL, 2.5, NULL), 0);
	assert_int_equal(bisectdb_runs(db, step, runs, 4, &p, &wall, NULL), 1);
	assert_int_equal(p.attempt, 0);
	assert_int_equal(runs[0], BR_FAIL);
	/* the same (kind, commit) is the same step */
	again = bisectdb_step(db, id, "confirm_bad", C[5], &v, NULL);
	assert_int_equal(again, step);

	assert_int_equal(bisectdb_finish(db, id, "found", C[5], "subject", "A <a@b>", "msg",
					 NULL, NULL), 0);
	assert_int_equal(bisectdb_find_open(db, &b, NULL), 0);
	err_clear(&e);
	json_t *one = bisect_api_one(db, id, &e), *list = bisect_api_list(db, 10, &e);

	assert_non_null(one);
	assert_string_equal(json_string_value(json_object_get(one, "culprit")), C[5]);
	assert_true(json_array_size(json_object_get(one, "steps")) >= 3);
	assert_int_equal(json_array_size(json_object_get(list, "bisections")), 2);
	json_decref(one), json_decref(list);
	assert_null(bisect_api_one(db, 999, &e));
	assert_int_equal(e.code, 404);
	store_close(st);
	/* the file with step 7 passes the schema check when opened again */
	st = store_open(db_path, STORE_READONLY, NULL);
	assert_non_null(st);
	store_close(st);
	free(db_path);
}

static void exec_sql(sqlite3 *db, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", sql, err);
}

static void test_flake_rate_and_judge(void **state)
{
	char *db_path = path("h.db");
	struct store *st = store_open(db_path, 0, NULL);
	static const char *const pass[] = { "flaky=PASS", "clone3=PASS", "clone3/a=PASS", NULL };
	static const char *const fail[] = { "flaky=FAIL", "clone3=FAIL", "clone3/a=FAIL", NULL };
	static const char *const none[] = { NULL };
	int64_t run, j;
	enum bisect_run r;
	double b, t;
	sqlite3 *db;

	(void)state;
	assert_non_null(st);
	db = store_db(st);
	run = store_run_begin(st, "test", NULL);
	/* flaky: 3 of 10 runs of one candidate fail; clone3 never flaked */
	for (int i = 0; i < 10; i++)
		hist_job_m(st, run, "x86_64", "A", "", "t", "6.1", JOB_COMPLETE, 1,
			   i < 3 ? (const char *const[]){ "flaky=FAIL", NULL }
				 : (const char *const[]){ "flaky=PASS", NULL });
	hist_job_m(st, run, "x86_64", "B", "", "t", "6.1", JOB_COMPLETE, 1,
		   (const char *const[]){ "flaky=FAIL", NULL });	/* B always fails */
	assert_float_equal(bisectdb_flake_rate(db, "x86_64", "flaky", NULL), 0.3, 1e-9);
	assert_float_equal(bisectdb_flake_rate(db, "arm64", "flaky", NULL), 0, 0);
	assert_float_equal(bisectdb_flake_rate(db, "x86_64", "clone3", NULL), 0, 0);
	assert_int_equal(bisect_default_runs(bisectdb_flake_rate(db, "x86_64", "flaky", NULL)), 9);

	/* judging a run: build first, then the job, then the test (nested too) */
	exec_sql(db, "INSERT INTO sources (id, kind, spec, identity, patches_hash, tree, label,"
		 " created) VALUES (1, 'git', 'r', 'git:x', 'none', 't', 'l', 0)");
	int64_t r2 = store_run_begin(st, "step", NULL);

	j = hist_job_m(st, r2, "x86_64", "C", "", "t", "6.1", JOB_COMPLETE, 1, fail);
	assert_true(j > 0);
	assert_int_equal(bisectdb_judge(db, r2, "x86_64", BM_TEST, "clone3/a", &r, &b, &t, NULL), 0);
	assert_int_equal(r, BR_INFRA);	/* no build recorded: the child broke */
	char *sql = xasprintf("INSERT INTO builds (run_id, source_id, arch, config, status,"
			      " duration_s, started, finished) VALUES (%lld, 1, 'x86_64', 'kfarm',"
			      " 'PASS', 31.5, 0, 0)", (long long)r2);
	exec_sql(db, sql);
	free(sql);
	assert_int_equal(bisectdb_judge(db, r2, "x86_64", BM_TEST, "clone3/a", &r, &b, &t, NULL), 0);
	assert_int_equal(r, BR_FAIL);
	assert_float_equal(b, 31.5, 1e-9);
	assert_int_equal(bisectdb_judge(db, r2, "x86_64", BM_TEST, "nosuch", &r, &b, &t, NULL), 0);
	assert_int_equal(r, BR_FAIL);	/* never reported: failed to run */
	assert_int_equal(bisectdb_judge(db, r2, "x86_64", BM_OUTCOME, NULL, &r, &b, &t, NULL), 0);
	assert_int_equal(r, BR_PASS);
	assert_int_equal(bisectdb_judge(db, r2, "x86_64", BM_BUILD, NULL, &r, &b, &t, NULL), 0);
	assert_int_equal(r, BR_PASS);

	int64_t r3 = store_run_begin(st, "step", NULL);

	hist_job_m(st, r3, "x86_64", "D", "", "t", "6.1", JOB_INFRA_ERROR, 0, none);
	sql = xasprintf("INSERT INTO builds (run_id, source_id, arch, config, status, started,"
			" finished) VALUES (%lld, 1, 'x86_64', 'kfarm', 'PASS', 0, 0)", (long long)r3);
	exec_sql(db, sql);
	free(sql);
	assert_int_equal(bisectdb_judge(db, r3, "x86_64", BM_TEST, "clone3", &r, &b, &t, NULL), 0);
	assert_int_equal(r, BR_INFRA);

	int64_t r4 = store_run_begin(st, "step", NULL);

	hist_job_m(st, r4, "x86_64", "E", "", "t", "6.1", JOB_COMPLETE, 1, pass);
	sql = xasprintf("INSERT INTO builds (run_id, source_id, arch, config, status, started,"
			" finished) VALUES (%lld, 1, 'x86_64', 'kfarm', 'FAIL', 0, 0)", (long long)r4);
	exec_sql(db, sql);
	free(sql);
	assert_int_equal(bisectdb_judge(db, r4, "x86_64", BM_TEST, "clone3", &r, &b, &t, NULL), 0);
	assert_int_equal(r, BR_BUILD_FAIL);
	assert_int_equal(bisectdb_judge(db, r4, "x86_64", BM_BUILD, NULL, &r, &b, &t, NULL), 0);
	assert_int_equal(r, BR_BUILD_FAIL);	/* bisect_verdict makes it bad for --build */

	/* the child's run is found by its pid after the run counted before it */
	int running;
	int64_t max = bisectdb_max_run(db, NULL);

	assert_int_equal(max, r4);
	assert_int_equal(bisectdb_run_of_pid(db, r3, (long)getpid(), &running, NULL), r4);
	assert_int_equal(running, 1);
	assert_int_equal(bisectdb_run_of_pid(db, r4, (long)getpid(), &running, NULL), 0);
	store_close(st);
	free(db_path);
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char *cmd[] = { "rm", "-rf", dir, NULL };

	(void)state;
	if (fork() == 0) {
		execvp(cmd[0], cmd);
		_exit(127);
	}
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_verdict_rules),
		cmocka_unit_test(test_next_step),
		cmocka_unit_test(test_default_runs),
		cmocka_unit_test(test_store_resume),
		cmocka_unit_test(test_flake_rate_and_judge),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
