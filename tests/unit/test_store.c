/* The store, on real SQLite files: schema creation, a job stored whole or
 * not at all, and clear refusals of corrupt, foreign and read-only files;
 * stale runs told from live ones by their lock; hardened connections. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
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
	struct store *st = store_open(p, 0, NULL);
	struct job *good, *bad;
	int64_t run, cand;

	(void)state;
	assert_non_null(st);
	run = store_run_begin(st, "kfarm run", NULL);
	assert_true(run > 0);
	cand = store_candidate(st, "x86_64", "t", NULL, "abc", "/k", NULL);
	assert_true(cand > 0);
	assert_int_equal(store_candidate(st, "x86_64", "t", NULL, "abc", "/k", NULL), cand);
	good = fake_finished_job(JOB_COMPLETE);
	good->candidate_id = cand;
	assert_true(store_job(st, run, good, "h", NULL) > 0);
	assert_int_equal(count(st, "results"), 2);
	assert_int_equal(count(st, "latest"), 1);	/* top-level only */
	/* an outcome the schema refuses: the whole job must roll back */
	bad = fake_finished_job(JOB_PENDING);
	bad->candidate_id = cand;
	assert_int_equal(store_job(st, run, bad, "h", NULL), -1);
	assert_int_equal(count(st, "jobs"), 1);
	assert_int_equal(count(st, "results"), 2);
	/* an infrastructure error is stored but never becomes "latest" */
	job_free(bad);
	bad = fake_finished_job(JOB_INFRA_ERROR);
	bad->candidate_id = cand;
	assert_true(store_job(st, run, bad, "h", NULL) > 0);
	sqlite3_stmt *s;
	assert_int_equal(sqlite3_prepare_v2(store_db(st), "SELECT j.outcome FROM latest l JOIN "
					    "results r ON r.id = l.result_id JOIN jobs j ON "
					    "j.id = r.job_id", -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(s, 0), "COMPLETE");
	sqlite3_finalize(s);
	assert_int_equal(store_run_end(st, run, RUN_COMPLETE, NULL), 0);
	job_free(good);
	job_free(bad);
	store_close(st);
	/* reopening is a no-op migration and sees the data */
	st = store_open(p, STORE_READONLY, NULL);
	assert_non_null(st);
	assert_int_equal(count(st, "jobs"), 2);
	store_close(st);
	free(p);
}

static const char *run_status(struct store *st, int64_t run)
{
	static char buf[32];
	sqlite3_stmt *s;

	sqlite3_prepare_v2(store_db(st), "SELECT status FROM runs WHERE id = ?", -1, &s, NULL);
	sqlite3_bind_int64(s, 1, run);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	snprintf(buf, sizeof(buf), "%s", (const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	return buf;
}

/* A child that begins a run on p and then either exits without ending it
 * (its kfarm died) or waits on fd; returns its pid. */
static pid_t child_run(const char *p, int wait_fd)
{
	pid_t pid = fork();

	if (pid == 0) {
		struct store *st = store_open(p, 0, NULL);
		char c;

		if (!st || store_run_begin(st, "child run", NULL) < 0)
			_exit(1);
		if (wait_fd >= 0 && read(wait_fd, &c, 1) < 0)
			_exit(1);
		_exit(0);	/* no store_run_end: gone while 'running' */
	}
	return pid;
}

static void test_stale_runs(void **state)
{
	char *p = path("b.db");
	struct store *st = store_open(p, 0, NULL);
	int pfd[2], wst;
	pid_t kid, fake;

	(void)state;
	store_close(st);
	/* a run whose kfarm is still alive stays 'running' */
	assert_int_equal(pipe(pfd), 0);
	kid = child_run(p, pfd[0]);
	for (int i = 0; i < 500; i++) {	/* until its run is recorded */
		st = store_open(p, STORE_READONLY, NULL);
		int n = count(st, "runs");
		store_close(st);
		if (n == 1)
			break;
		usleep(10000);
	}
	st = store_open(p, 0, NULL);
	assert_int_equal(store_mark_stale_runs(st, NULL), 0);
	assert_string_equal(run_status(st, 1), "running");
	/* its kfarm dies: interrupted */
	assert_int_equal(write(pfd[1], "x", 1), 1);
	waitpid(kid, &wst, 0);
	assert_int_equal(WEXITSTATUS(wst), 0);
	assert_int_equal(store_mark_stale_runs(st, NULL), 0);
	assert_string_equal(run_status(st, 1), "interrupted");
	/* issue 10: a dead run whose PID now belongs to a live process named
	 * "kfarm..." (a kfarm serve with the recycled PID) is still interrupted */
	kid = child_run(p, -1);
	waitpid(kid, &wst, 0);
	fake = fork();
	if (fake == 0) {
		prctl(PR_SET_NAME, "kfarm-serve");
		pause();
		_exit(0);
	}
	usleep(50000);
	char *sql = xasprintf("UPDATE runs SET pid = %d WHERE id = 2", (int)fake);
	assert_int_equal(sqlite3_exec(store_db(st), sql, NULL, NULL, NULL), SQLITE_OK);
	free(sql);
	assert_int_equal(store_mark_stale_runs(st, NULL), 0);
	assert_string_equal(run_status(st, 2), "interrupted");
	kill(fake, SIGKILL);
	waitpid(fake, NULL, 0);
	/* our own run, alive, is left alone; once ended its status is kept */
	int64_t run = store_run_begin(st, "own run", NULL);
	assert_int_equal(store_mark_stale_runs(st, NULL), 0);
	assert_string_equal(run_status(st, run), "running");
	assert_int_equal(store_run_end(st, run, RUN_COMPLETE, NULL), 0);
	assert_int_equal(store_mark_stale_runs(st, NULL), 0);
	assert_string_equal(run_status(st, run), "complete");
	/* a run of a kfarm before locks, with a PID no process has */
	assert_int_equal(sqlite3_exec(store_db(st), "INSERT INTO runs (started, status, pid) "
				      "VALUES (0, 'running', 999999999)", NULL, NULL, NULL),
			 SQLITE_OK);
	assert_int_equal(store_mark_stale_runs(st, NULL), 0);
	assert_string_equal(run_status(st, sqlite3_last_insert_rowid(store_db(st))),
			    "interrupted");
	close(pfd[0]);
	close(pfd[1]);
	store_close(st);
	free(p);
}

/* Every connection distrusts the file; readers ignore its views and
 * triggers; log names are stored relative to <db>.logs. */
static void test_hardened_and_log_names(void **state)
{
	char *p = path("h.db"), *logs = path("h.db.logs/run-1/01-x.log");
	struct store *st = store_open(p, 0, NULL);
	struct job *j = fake_finished_job(JOB_COMPLETE);
	sqlite3_stmt *s;
	int v = -1;

	(void)state;
	assert_non_null(st);
	sqlite3_db_config(store_db(st), SQLITE_DBCONFIG_DEFENSIVE, -1, &v);
	assert_int_equal(v, 1);
	sqlite3_db_config(store_db(st), SQLITE_DBCONFIG_TRUSTED_SCHEMA, -1, &v);
	assert_int_equal(v, 0);
	int64_t run = store_run_begin(st, "r", NULL);
	j->candidate_id = store_candidate(st, "x86_64", "t", NULL, "abc", "/k", NULL);
	j->log_path = xstrdup(logs);
	assert_true(store_job(st, run, j, NULL, NULL) > 0);
	assert_int_equal(sqlite3_prepare_v2(store_db(st), "SELECT log_path FROM jobs", -1, &s,
					    NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(s, 0), "run-1/01-x.log");
	sqlite3_finalize(s);
	store_run_end(st, run, RUN_COMPLETE, NULL);
	store_close(st);
	st = store_open(p, STORE_READONLY, NULL);
	assert_non_null(st);
	sqlite3_db_config(store_db(st), SQLITE_DBCONFIG_ENABLE_TRIGGER, -1, &v);
	assert_int_equal(v, 0);
	sqlite3_db_config(store_db(st), SQLITE_DBCONFIG_ENABLE_VIEW, -1, &v);
	assert_int_equal(v, 0);
	store_close(st);
	/* a writable_schema edit: defensive mode refuses it */
	st = store_open(p, 0, NULL);
	assert_int_not_equal(sqlite3_exec(store_db(st), "PRAGMA writable_schema = ON; "
					  "UPDATE sqlite_master SET sql = 'x'", NULL, NULL, NULL),
			     SQLITE_OK);
	store_close(st);
	/* an object kfarm did not create (as sqlite3 would add it), or a table
	 * rebuilt without its constraints: the file is refused, read or write */
	sqlite3 *raw;
	assert_int_equal(sqlite3_open(p, &raw), SQLITE_OK);
	assert_int_equal(sqlite3_exec(raw, "CREATE VIEW v AS SELECT 1", NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(raw);
	assert_null(store_open(p, STORE_READONLY, NULL));
	assert_null(store_open(p, 0, NULL));
	assert_int_equal(sqlite3_open(p, &raw), SQLITE_OK);
	assert_int_equal(sqlite3_exec(raw, "DROP VIEW v; CREATE TABLE r2 AS SELECT * FROM results;"
				      " DROP TABLE results; ALTER TABLE r2 RENAME TO results;"
				      " CREATE INDEX results_job ON results(job_id);"
				      " CREATE INDEX results_test ON results(test, job_id)"
				      " WHERE depth = 0;", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(raw);
	assert_null(store_open(p, STORE_READONLY, NULL));
	st = NULL;
	job_free(j);
	free(p);
	free(logs);
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
	assert_null(store_open(corrupt, 0, NULL));

	sqlite3_open(foreign, &db);
	sqlite3_exec(db, "CREATE TABLE t (x)", NULL, NULL, NULL);
	sqlite3_close(db);
	assert_null(store_open(foreign, 0, NULL));

	store_close(store_open(ro, 0, NULL));
	chmod(ro, 0444);
	if (geteuid() != 0)	/* root writes through modes */
		assert_null(store_open(ro, 0, NULL));
	assert_null(store_open("/nonexistent-dir/x.db", 0, NULL));
	free(corrupt);
	free(foreign);
	free(ro);
}

/* A refusal comes back in struct err, naming the file and the problem
 * (the store prints nothing: the command does, once). */
static void test_errors_in_err(void **state)
{
	char *corrupt = path("e-corrupt.db"), *newer = path("e-newer.db");
	char *foreign = path("e-foreign.db"), *edited = path("e-edited.db");
	char *locked = path("e-lock.db"), *want, *logs;
	struct err e = { 0 };
	struct store *st;
	struct job *j;
	sqlite3 *db;
	int fd;

	(void)state;
	/* not an SQLite file */
	fd = open(corrupt, O_WRONLY | O_CREAT, 0644);
	for (int i = 0; i < 8; i++)
		assert_int_equal(write(fd, "not an sqlite database, garbage.", 32), 32);
	close(fd);
	assert_null(store_open(corrupt, 0, &e));
	want = xasprintf("database '%s' is corrupt or not a database: ", corrupt);
	assert_non_null(strstr(e.msg, want));
	assert_ptr_equal(strstr(e.msg, want), e.msg);
	free(want);

	/* a newer kfarm's file: refused read-only and read-write */
	store_close(store_open(newer, 0, NULL));
	assert_int_equal(sqlite3_open(newer, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 9999", NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	want = xasprintf("database '%s' has schema version 9999, newer than this kfarm's ", newer);
	for (unsigned int flags = 0; flags <= STORE_READONLY; flags += STORE_READONLY) {
		err_clear(&e);
		assert_null(store_open(newer, flags, &e));
		assert_ptr_equal(strstr(e.msg, want), e.msg);
	}
	free(want);

	/* someone else's tables */
	assert_int_equal(sqlite3_open(foreign, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "CREATE TABLE t (x)", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	err_clear(&e);
	assert_null(store_open(foreign, 0, &e));
	want = xasprintf("database '%s' is not a kfarm database (it has tables but no kfarm "
			 "schema version)", foreign);
	assert_string_equal(e.msg, want);
	free(want);

	/* an object kfarm did not make */
	store_close(store_open(edited, 0, NULL));
	assert_int_equal(sqlite3_open(edited, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "CREATE VIEW v AS SELECT 1", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	err_clear(&e);
	assert_null(store_open(edited, STORE_READONLY, &e));
	want = xasprintf("database '%s' was edited outside kfarm: its view 'v' is not kfarm's "
			 "(refused)", edited);
	assert_string_equal(e.msg, want);
	free(want);

	/* a run whose log directory cannot be made (a file is in its way) */
	assert_non_null(st = store_open(locked, 0, NULL));
	logs = xasprintf("%s.logs", locked);
	fd = open(logs, O_WRONLY | O_CREAT, 0644);
	close(fd);
	err_clear(&e);
	assert_int_equal(store_run_begin(st, "r", &e), -1);
	assert_non_null(strstr(e.msg, "cannot create log directory '"));
	/* a job the schema refuses (its outcome): rolled back, said why */
	j = fake_finished_job(JOB_PENDING);
	j->candidate_id = store_candidate(st, "x86_64", "t", NULL, "abc", "/k", NULL);
	assert_true(j->candidate_id > 0);
	err_clear(&e);
	assert_int_equal(store_job(st, 0, j, "h", &e), -1);
	want = xasprintf("database '%s': cannot store job: ", locked);
	assert_ptr_equal(strstr(e.msg, want), e.msg);
	free(want);
	job_free(j);
	store_close(st);
	unlink(logs);
	free(logs);
	free(corrupt);
	free(newer);
	free(foreign);
	free(edited);
	free(locked);
}

/* The quoted names of "COLUMN IN (...)" in a table's CREATE text. */
static int check_list(struct store *st, const char *table, const char *column,
		      char names[8][16])
{
	sqlite3_stmt *s;
	const char *sql, *p, *end;
	char *in = xasprintf("%s IN", column);
	int n = 0;

	assert_int_equal(sqlite3_prepare_v2(store_db(st), "SELECT sql FROM sqlite_master"
					    " WHERE type = 'table' AND name = ?", -1, &s, NULL),
			 SQLITE_OK);
	sqlite3_bind_text(s, 1, table, -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	sql = (const char *)sqlite3_column_text(s, 0);
	assert_non_null(p = strstr(sql, in));
	assert_non_null(end = strchr(p, ')'));
	while ((p = strchr(p, '\'')) && p < end && n < 8) {
		const char *q = strchr(p + 1, '\'');

		assert_true(q - p - 1 < 16);
		memcpy(names[n], p + 1, q - p - 1);
		names[n++][q - p - 1] = '\0';
		p = q + 1;
	}
	sqlite3_finalize(s);
	free(in);
	return n;
}

/* The C names of outcomes, result and run statuses are exactly what the schema's
 * CHECK constraints allow: the migrations are frozen text, so the two are
 * kept in step here rather than generated from one table. */
static void test_check_names(void **state)
{
	char *p = path("names.db"), names[8][16];
	struct store *st = store_open(p, 0, NULL);
	int n;

	(void)state;
	assert_non_null(st);
	n = check_list(st, "jobs", "outcome", names);
	assert_int_equal(n, JOB_NOT_BUILT - JOB_COMPLETE + 1);
	for (int o = JOB_COMPLETE; o <= JOB_NOT_BUILT; o++)
		assert_string_equal(names[o - JOB_COMPLETE], job_outcome_name(o));
	n = check_list(st, "results", "status", names);
	assert_int_equal(n, RS_MISSING - RS_PASS + 1);
	for (int r = RS_PASS; r <= RS_MISSING; r++)
		assert_string_equal(names[r - RS_PASS], res_status_name(r));
	n = check_list(st, "runs", "status", names);
	assert_int_equal(n, RUN_FAILED - RUN_RUNNING + 1);
	for (int r = RUN_RUNNING; r <= RUN_FAILED; r++)
		assert_string_equal(names[r - RUN_RUNNING], run_status_name(r));
	/* history.h's lists: job.c's result names are its stored statuses, and
	 * every name parses back to its value (nothing else does) */
	for (int r = RS_PASS; r <= RS_MISSING; r++)
		assert_string_equal(res_status_name(r), hist_status_name((enum hist_status)r));
	assert_int_equal(hist_status_parse("FLAKY"), HS_FLAKY);
	for (int i = 0; i < HS_COUNT; i++)
		assert_int_equal(hist_status_parse(hist_status_name(i)), i);
	for (int i = 0; i < CH_COUNT; i++)
		assert_int_equal(change_kind_parse(change_kind_name(i)), i);
	for (int i = 0; i < RUN_COUNT; i++)
		assert_int_equal(run_status_parse(run_status_name(i)), i);
	assert_int_equal(hist_status_parse("pass"), -1);
	assert_int_equal(hist_status_parse(NULL), -1);
	assert_int_equal(change_kind_parse("Regression"), -1);
	assert_int_equal(run_status_parse(""), -1);
	/* builds' statuses are history.h's list too; outcomes parse back */
	n = check_list(st, "builds", "status", names);
	assert_int_equal(n, BS_COUNT);
	for (int b = 0; b < BS_COUNT; b++) {
		assert_string_equal(names[b], build_status_name(b));
		assert_int_equal(build_status_parse(names[b]), b);
	}
	for (int o = JOB_PENDING; o <= JOB_NOT_BUILT; o++)
		assert_int_equal(job_outcome_parse(job_outcome_name(o)), o);
	assert_int_equal(job_outcome_parse("complete"), -1);
	assert_int_equal(build_status_parse(NULL), -1);
	store_close(st);
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_and_atomicity),
		cmocka_unit_test(test_stale_runs),
		cmocka_unit_test(test_hardened_and_log_names),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_errors_in_err),
		cmocka_unit_test(test_check_names),
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
