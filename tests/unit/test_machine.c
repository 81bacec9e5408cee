/* Machine variants in the store, on real SQLite files: a candidate's machine
 * is part of its identity, an older database gains it by migration with its
 * references intact, and regressions compare only like machines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../runner/job.h"
#include "../../runner/regress.h"
#include "../../runner/store.h"
#include "../../runner/util.h"

static char dir[] = "/tmp/kfarm-machine-XXXXXX";

static int64_t q_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *s;
	int64_t v = -1;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return v;
}

static void test_identity(void **state)
{
	char *p = xasprintf("%s/id.db", dir);
	struct store *st = store_open(p, 0, NULL);
	int64_t plain, smp4;

	(void)state;
	assert_non_null(st);
	plain = store_candidate(st, "alpha", "debian-6.12", "t", "sha", "/k", NULL);
	smp4 = store_candidate_machine(st, "alpha", "debian-6.12", "smp4", "t", "sha", "/k", NULL);
	assert_true(plain > 0 && smp4 > 0 && plain != smp4);
	assert_int_equal(store_candidate_machine(st, "alpha", "debian-6.12", "", "t", "sha", "/k", NULL),
			 plain);
	assert_int_equal(store_candidate_machine(st, "alpha", "debian-6.12", "smp4", "t", "sha",
						 "/k", NULL), smp4);
	store_close(st);
	free(p);
}

/* a database as schema version 1 left it */
static void test_migration_keeps_references(void **state)
{
	char *p = xasprintf("%s/v1.db", dir);
	sqlite3 *db;
	struct store *st;

	(void)state;
	assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
	/* migration 1 of runner/store_schema.c, verbatim (the schema check
	 * compares the text) */
	assert_int_equal(sqlite3_exec(db,
		"CREATE TABLE candidates ("
		"  id INTEGER PRIMARY KEY,"
		"  arch TEXT NOT NULL,"
		"  label TEXT NOT NULL,"
		"  tree TEXT,"
		"  image_sha256 TEXT NOT NULL,"
		"  image_path TEXT,"
		"  release TEXT,"
		"  created REAL NOT NULL,"
		"  UNIQUE (arch, label, image_sha256));"
		"CREATE TABLE runs ("
		"  id INTEGER PRIMARY KEY,"
		"  started REAL NOT NULL,"
		"  finished REAL,"
		"  status TEXT NOT NULL CHECK (status IN"
		"    ('running', 'complete', 'interrupted', 'failed')),"
		"  pid INTEGER,"
		"  argv TEXT);"
		"CREATE TABLE jobs ("
		"  id INTEGER PRIMARY KEY,"
		"  run_id INTEGER NOT NULL REFERENCES runs(id),"
		"  candidate_id INTEGER NOT NULL REFERENCES candidates(id),"
		"  arch TEXT NOT NULL,"
		"  attempt INTEGER NOT NULL,"
		"  outcome TEXT NOT NULL CHECK (outcome IN ('COMPLETE', 'BOOT_FAIL',"
		"    'PANIC', 'TIMEOUT', 'INFRA_ERROR')),"
		"  reason TEXT,"
		"  warning TEXT,"
		"  release TEXT,"
		"  boot_s REAL,"
		"  duration_s REAL,"
		"  started REAL NOT NULL,"
		"  finished REAL NOT NULL,"
		"  host TEXT,"
		"  backend TEXT,"
		"  qemu_version TEXT,"
		"  qemu_cmdline TEXT,"
		"  log_path TEXT);"
		"CREATE TABLE results ("
		"  id INTEGER PRIMARY KEY,"
		"  job_id INTEGER NOT NULL REFERENCES jobs(id),"
		"  test TEXT NOT NULL,"
		"  depth INTEGER NOT NULL,"
		"  status TEXT NOT NULL CHECK (status IN ('PASS', 'FAIL', 'SKIP', 'MISSING')),"
		"  reason TEXT,"
		"  duration_s REAL);"
		"CREATE INDEX jobs_run ON jobs(run_id);"
		"CREATE INDEX jobs_arch ON jobs(arch, id);"
		"CREATE INDEX results_job ON results(job_id);"
		"CREATE INDEX results_test ON results(test, job_id) WHERE depth = 0;"
	/* the latest top-level result per arch x test, kept by store_job so
	 * /api/status never scans the history */
		"CREATE TABLE latest ("
		"  arch TEXT NOT NULL,"
		"  test TEXT NOT NULL,"
		"  result_id INTEGER NOT NULL REFERENCES results(id),"
		"  PRIMARY KEY (arch, test)) WITHOUT ROWID;", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
		"INSERT INTO runs (id, started, status) VALUES (1, 1, 'complete');"
		"INSERT INTO candidates VALUES (7, 'alpha', 'k', 'tr', 'sha', '/k', '6.12.1', 1);"
		"INSERT INTO jobs (id, run_id, candidate_id, arch, attempt, outcome, started,"
		" finished) VALUES (1, 1, 7, 'alpha', 1, 'COMPLETE', 1, 2);"
		"PRAGMA user_version = 1;", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	st = store_open(p, 0, NULL);
	assert_non_null(st);
	db = store_db(st);
	assert_int_equal(q_int(db, "SELECT count(*) FROM candidates WHERE id = 7 AND"
				   " machine = '' AND release = '6.12.1' AND tree = 'tr'"), 1);
	assert_int_equal(q_int(db, "SELECT count(*) FROM jobs j JOIN candidates c"
				   " ON c.id = j.candidate_id"), 1);
	assert_int_equal(q_int(db, "SELECT count(*) FROM pragma_foreign_key_check"), 0);
	assert_int_equal(q_int(db, "PRAGMA foreign_keys"), 1);
	/* the old candidate is found again; the same image on 4 vCPUs is new */
	assert_int_equal(store_candidate(st, "alpha", "k", "tr", "sha", "/k", NULL), 7);
	assert_true(store_candidate_machine(st, "alpha", "k", "smp4", "tr", "sha", "/k", NULL) != 7);
	store_close(st);
	free(p);
}

static void add_job(struct store *st, int64_t run, const char *label, const char *machine,
		    enum res_status status)
{
	struct job *j = job_new();

	j->arch = xstrdup("alpha");
	j->be = &backend_qemu;
	j->outcome = JOB_COMPLETE;
	j->t_start = now_mono() - 1;
	j->t_end = now_mono();
	j->machine.smp = strcmp(machine, "smp4") ? 1 : 4;
	snprintf(j->machine_key, sizeof(j->machine_key), "%s", machine);
	j->candidate_id = store_candidate_machine(st, "alpha", label, machine, "tr", label, "/k", NULL);
	assert_true(j->candidate_id > 0);
	j->nres = 1;
	j->res = xcalloc(1, sizeof(*j->res));
	j->res[0] = (struct result){ xstrdup("compaction"), status, xstrdup(""), 1, 0 };
	assert_true(store_job(st, run, j, "h", NULL) > 0);
	job_free(j);
}

static void test_like_with_like(void **state)
{
	char *p = xasprintf("%s/rg.db", dir);
	struct store *st = store_open(p, 0, NULL);
	struct err e = { 0 };
	json_t *r;
	int64_t run;

	(void)state;
	assert_non_null(st);
	run = store_run_begin(st, "t", NULL);
	/* k1 passes on both machines; k2 fails on 4 vCPUs only */
	add_job(st, run, "k1", "", RS_PASS);
	add_job(st, run, "k1", "smp4", RS_PASS);
	add_job(st, run, "k2", "", RS_PASS);
	add_job(st, run, "k2", "smp4", RS_FAIL);
	r = regress_query(store_db(st), "tr", 0, &e);
	assert_non_null(r);
	json_t *v = json_object_get(r, "regressions");
	/* one regression (k1 -> k2 on smp4); the 1-vCPU k2 is not compared with
	 * the smp4 k1, nor the smp4 k2 with the 1-vCPU k2 */
	assert_int_equal(json_array_size(v), 1);
	json_t *o = json_array_get(v, 0);
	assert_string_equal(json_string_value(json_object_get(o, "kind")), "regression");
	assert_string_equal(json_string_value(json_object_get(json_object_get(o, "from"),
							     "kernel")), "k1");
	json_decref(r);
	/* the matrix: one cell per arch x test, the latest candidate */
	r = regress_matrix(store_db(st), "tr", NULL, &e);
	assert_non_null(r);
	assert_int_equal(json_array_size(json_object_get(r, "cells")), 1);
	assert_string_equal(json_string_value(json_object_get(
		json_array_get(json_object_get(r, "cells"), 0), "status")), "FAIL");
	json_decref(r);
	store_close(st);
	free(p);
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	static const char *const names[] = { "id.db", "v1.db", "rg.db" };
	static const char *const sfx[] = { "", "-wal", "-shm" };

	(void)state;
	for (size_t i = 0; i < 3; i++)
		for (size_t k = 0; k < 3; k++) {
			char *f = xasprintf("%s/%s%s", dir, names[i], sfx[k]);

			unlink(f);
			free(f);
		}
	rmdir(dir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_identity),
		cmocka_unit_test(test_migration_keeps_references),
		cmocka_unit_test(test_like_with_like),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
