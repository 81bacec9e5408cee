/* Regression classification on real SQLite files, through store_job and
 * the summary tables: every kind, infrastructure errors excluded,
 * confirmation re-runs, known failures, a candidate moving to another tree,
 * and the migration rebuilding the summaries from an existing history. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../runner/regress.h"
#include "../../runner/summary.h"
#include "hist.h"

static char dir[] = "/tmp/kfarm-regress-XXXXXX";

static struct store *fresh(const char *name)
{
	char *p = xasprintf("%s/%s", dir, name);
	struct store *st;

	unlink(p);
	st = store_open(p, 0, NULL);
	free(p);
	assert_non_null(st);
	return st;
}

/* "kind arch test from->to" of every change, joined by ", " */
static char *changes(struct store *st, const char *tree, int64_t run)
{
	struct err e = { 0 };
	json_t *r = regress_query(store_db(st), tree, run, &e), *o;
	struct sb sb;
	size_t i;

	assert_non_null(r);
	sb_init(&sb);
	json_array_foreach(json_object_get(r, "regressions"), i, o)
		sb_addf(&sb, "%s%s %s %s %s->%s", i ? ", " : "",
			json_string_value(json_object_get(o, "kind")),
			json_string_value(json_object_get(o, "arch")),
			json_string_value(json_object_get(o, "test")),
			json_string_value(json_object_get(json_object_get(o, "from"), "status")),
			json_string_value(json_object_get(json_object_get(o, "to"), "status")));
	json_decref(r);
	return sb_detach(&sb);
}

static void test_kind_table(void **state)
{
	(void)state;
	assert_int_equal(regress_kind("PASS", "FAIL"), CH_REGRESSION);
	assert_int_equal(regress_kind("PASS", "MISSING"), CH_REGRESSION);
	assert_int_equal(regress_kind("FAIL", "PASS"), CH_FIX);
	assert_int_equal(regress_kind("MISSING", "PASS"), CH_FIX);
	assert_int_equal(regress_kind("SKIP", "PASS"), CH_SUPPORT);
	assert_int_equal(regress_kind("PASS", "SKIP"), CH_SUPPORT);
	assert_int_equal(regress_kind("PASS", "FLAKY"), CH_FLAKY);
	assert_int_equal(regress_kind("FLAKY", "PASS"), CH_FLAKY);
	assert_int_equal(regress_kind("SKIP", "FAIL"), CH_OTHER);
	assert_int_equal(regress_kind("FAIL", "MISSING"), CH_NONE);
	assert_int_equal(regress_kind("PASS", "PASS"), CH_NONE);
}

/* candidate A then B in tree "t": one of each kind, plus an INFRA_ERROR job
 * of B whose results would otherwise turn two tests FLAKY */
static void two_candidates(struct store *st, int64_t *run_b)
{
	static const char *const a[] = { "a=PASS", "a/sub=PASS", "b=FAIL", "c=SKIP", "d=PASS",
					 "e=SKIP", "f=PASS", "g=PASS", "h=MISSING", NULL };
	static const char *const b[] = { "a=FAIL", "a/sub=FAIL", "b=PASS", "c=PASS", "d=SKIP",
					 "e=FAIL", "f=PASS", "g=PASS", "h=FAIL", NULL };
	static const char *const b_flake[] = { "f=FAIL", NULL };
	static const char *const b_infra[] = { "a=PASS", "g=FAIL", NULL };
	int64_t r1 = store_run_begin(st, "a", NULL), r2;

	assert_true(hist_job(st, r1, "x86_64", "A", "t", "6.1.1", JOB_COMPLETE, 1, a) > 0);
	r2 = store_run_begin(st, "b", NULL);
	assert_true(hist_job(st, r2, "x86_64", "B", "t", "6.12.1", JOB_COMPLETE, 1, b) > 0);
	assert_true(hist_job(st, r2, "x86_64", "B", "t", "6.12.1", JOB_COMPLETE, 1, b_flake) > 0);
	assert_true(hist_job(st, r2, "x86_64", "B", "t", NULL, JOB_INFRA_ERROR, 0, b_infra) > 0);
	*run_b = r2;
}

static void test_every_kind(void **state)
{
	struct store *st = fresh("kinds.db");
	int64_t run_b;
	char *c;

	(void)state;
	two_candidates(st, &run_b);
	c = changes(st, "t", 0);
	/* b FAIL->PASS fix; c, d support; e SKIP->FAIL change; f flaky (its
	 * two jobs disagree); h FAIL<-MISSING still broken; a/sub is not
	 * top-level; the INFRA_ERROR job changes neither a nor g */
	assert_string_equal(c, "regression x86_64 a PASS->FAIL, fix x86_64 b FAIL->PASS, "
			       "support_change x86_64 c SKIP->PASS, support_change x86_64 d PASS->SKIP, "
			       "change x86_64 e SKIP->FAIL, flaky x86_64 f PASS->FLAKY");
	free(c);
	/* the same, asked as "the changes run B brought" */
	c = changes(st, NULL, run_b);
	assert_non_null(strstr(c, "regression x86_64 a PASS->FAIL"));
	assert_non_null(strstr(c, "flaky x86_64 f PASS->FLAKY"));
	free(c);
	/* run A brought nothing (no predecessor), other trees are unaffected */
	c = changes(st, NULL, 1);
	assert_string_equal(c, "");
	free(c);
	c = changes(st, "other", 0);
	assert_string_equal(c, "");
	free(c);
	store_close(st);
}

static void test_confirmation_runs(void **state)
{
	static const char *const fail[] = { "a=FAIL", NULL }, *const pass[] = { "a=PASS", NULL };
	struct store *st = fresh("confirm.db");
	int64_t run_b, r3;
	char *c;

	(void)state;
	two_candidates(st, &run_b);
	/* a confirmation re-run of B that fails again: still a regression */
	assert_true(hist_job(st, run_b, "x86_64", "B", "t", "6.12.1", JOB_COMPLETE, 1, fail) > 0);
	c = changes(st, "t", run_b);
	assert_non_null(strstr(c, "regression x86_64 a PASS->FAIL"));
	free(c);
	/* a later run of the same candidate that passes: the outcome differs, FLAKY */
	r3 = store_run_begin(st, "b again", NULL);
	assert_true(hist_job(st, r3, "x86_64", "B", "t", "6.12.1", JOB_COMPLETE, 1, pass) > 0);
	c = changes(st, "t", 0);
	assert_null(strstr(c, "regression"));
	assert_non_null(strstr(c, "flaky x86_64 a PASS->FLAKY"));
	free(c);
	store_close(st);
}

static void test_known_failure(void **state)
{
	struct store *st = fresh("known.db");
	char *kdir = xasprintf("%s/known", dir), *kfile = xasprintf("%s/k.json", kdir);
	int64_t run_b;
	FILE *f;
	char *c;

	(void)state;
	two_candidates(st, &run_b);
	assert_int_equal(mkdir_p(kdir, 0755), 0);
	f = fopen(kfile, "w");
	assert_non_null(f);
	fputs("[{\"arch\": \"x86_64\", \"test\": \"a\", \"status\": \"FAIL\", \"min\": \"6.12\","
	      " \"reason\": \"expected here\"}]", f);
	fclose(f);
	setenv("KFARM_KNOWN", kdir, 1);
	c = changes(st, "t", 0);
	unsetenv("KFARM_KNOWN");
	assert_non_null(strstr(c, "known x86_64 a PASS->FAIL"));
	assert_null(strstr(c, "regression"));
	free(c);
	unlink(kfile);
	rmdir(kdir);
	free(kfile);
	free(kdir);
	store_close(st);
}

/* everything the read side answers for a history, as one string */
static char *everything(struct store *st)
{
	static const char *const trees[] = { "t", "u", "linux-6.1", NULL };
	struct err e = { 0 };
	struct sb sb;

	sb_init(&sb);
	for (int64_t run = 0; run <= 6; run++) {
		char *c = changes(st, NULL, run);

		sb_addf(&sb, "run %lld: %s\n", (long long)run, c);
		free(c);
	}
	for (const char *const *t = trees; *t; t++) {
		json_t *m = regress_matrix(store_db(st), *t, NULL, &e);
		char *s;

		assert_non_null(m);
		s = json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS);
		sb_addf(&sb, "matrix %s: %s\n", *t, s);
		free(s);
		json_decref(m);
	}
	json_t *t = api_trees(store_db(st), &e);
	char *ts = json_dumps(t, JSON_COMPACT);

	assert_non_null(ts);
	sb_addf(&sb, "trees: %s\n", ts);
	free(ts);
	json_decref(t);
	return sb_detach(&sb);
}

static void history(struct store *st)
{
	static const char *const p[] = { "a=PASS", "b=PASS", NULL };
	static const char *const f[] = { "a=FAIL", "b=PASS", NULL };
	static const char *const s[] = { "a=SKIP", "b=MISSING", NULL };
	const char *const *seq[] = { p, f, p, s, f, p };

	for (int i = 0; i < 6; i++) {
		int64_t r = store_run_begin(st, "h", NULL);
		char label[8];

		snprintf(label, sizeof(label), "K%d", i);
		hist_job(st, r, "x86_64", label, i % 2 ? "t" : "u", "6.1.5", JOB_COMPLETE, 1, seq[i]);
		hist_job(st, r, "x86_64", label, i % 2 ? "t" : "u", "6.1.5", JOB_COMPLETE, 1,
			 seq[(i + 1) % 6]);
		hist_job(st, r, "arm64", label, NULL, i == 2 ? NULL : "6.1.5", JOB_COMPLETE, 1,
			 seq[i]);
		/* another machine of the same arch: its own pairs */
		hist_job_m(st, r, "x86_64", label, "smp4", i % 2 ? "t" : "u", "6.1.5",
			   JOB_COMPLETE, 1, seq[(i + 3) % 6]);
	}
}

static void test_tree_move_and_migration(void **state)
{
	struct store *st = fresh("mig.db");
	char *p = xasprintf("%s/mig.db", dir), *inc, *rebuilt;
	sqlite3 *db;

	(void)state;
	history(st);
	/* K1 of x86_64 re-registered under tree "u": its counts move with it */
	assert_true(store_candidate(st, "x86_64", "K1", "u", "K1", "/img", NULL) > 0);
	inc = everything(st);
	assert_non_null(strstr(inc, "flake_rate"));
	store_close(st);
	/* back to the schema before the summaries' migration (step 6),
	 * summaries gone: reopening must rebuild them */
	assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
	sqlite3_stmt *v;
	int version;

	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &v, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(v), SQLITE_ROW);
	version = sqlite3_column_int(v, 0);
	sqlite3_finalize(v);
	/* the summaries are step 6; later steps (7: bisections) are undone too */
	assert_true(version >= 6);
	char *back = xasprintf("PRAGMA user_version = %d", 5);

	if (version >= 7)
		assert_int_equal(sqlite3_exec(db, "DROP TABLE bisect_runs; DROP TABLE bisect_steps;"
					      " DROP TABLE bisections;", NULL, NULL, NULL), SQLITE_OK);

	assert_int_equal(sqlite3_exec(db,
		"DROP TRIGGER sum_tree_moved; DROP TABLE sum_cand_test; DROP TABLE sum_cand_arch;"
		" DROP TABLE sum_tree_arch; DROP TABLE sum_tree_label; DROP TABLE sum_flake; DROP TABLE sum_outcome;"
		" DROP TABLE sum_arch; DROP TABLE sum_run; DROP TABLE sum_job;"
		" DROP INDEX jobs_candidate; DROP INDEX runs_started; DROP INDEX candidates_label;",
		NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, back, NULL, NULL, NULL), SQLITE_OK);
	free(back);
	sqlite3_close(db);
	st = store_open(p, 0, NULL);
	assert_non_null(st);
	rebuilt = everything(st);
	assert_string_equal(inc, rebuilt);
	free(inc);
	free(rebuilt);
	free(p);
	store_close(st);
}

/* Candidates of one arch on two machines: each compared with the one before
 * it on its own machine, whether by run or each tree's latest. */
static void test_like_machines(void **state)
{
	static const char *const p[] = { "a=PASS", NULL }, *const f[] = { "a=FAIL", NULL };
	struct store *st = fresh("mach.db");
	int64_t r1 = store_run_begin(st, "m", NULL), r2, r3;
	struct err e = { 0 };
	char *c;
	json_t *m;

	(void)state;
	hist_job_m(st, r1, "x86_64", "k1", "", "t", NULL, JOB_COMPLETE, 1, p);
	hist_job_m(st, r1, "x86_64", "k1", "smp4", "t", NULL, JOB_COMPLETE, 1, p);
	r2 = store_run_begin(st, "m", NULL);
	hist_job_m(st, r2, "x86_64", "k2", "", "t", NULL, JOB_COMPLETE, 1, p);
	hist_job_m(st, r2, "x86_64", "k2", "smp4", "t", NULL, JOB_COMPLETE, 1, f);
	assert_string_equal(c = changes(st, "t", r2), "regression x86_64 a PASS->FAIL");
	free(c);
	/* k3 on the default machine only: against k2 there (PASS), never
	 * against the later-stored smp4 k2 (FAIL) */
	r3 = store_run_begin(st, "m", NULL);
	hist_job_m(st, r3, "x86_64", "k3", "", "t", NULL, JOB_COMPLETE, 1, f);
	assert_string_equal(c = changes(st, "t", r3), "regression x86_64 a PASS->FAIL");
	free(c);
	/* each machine's latest pair: k2 -> k3 (default), k1 -> k2 (smp4) */
	assert_string_equal(c = changes(st, NULL, 0),
			    "regression x86_64 a PASS->FAIL, regression x86_64 a PASS->FAIL");
	free(c);
	/* the matrix: one cell per arch x test, the latest candidate labelled k2 */
	m = regress_matrix(store_db(st), "t", "k2", &e);
	assert_non_null(m);
	assert_int_equal(json_array_size(json_object_get(m, "cells")), 1);
	assert_string_equal(json_string_value(json_object_get(
		json_array_get(json_object_get(m, "cells"), 0), "status")), "FAIL");
	json_decref(m);
	store_close(st);
}

/* /api/matrix's cells as every request computed them before sum_matrix
 * (each tree x arch's latest of its machines' latest, the cells read from
 * sum_cand_test, sum_flake and the candidate), rows joined by newlines: the
 * reference that the kept table must equal. */
#define ROW(t) \
	"group_concat(" t ".tree || '|' || " t ".arch || '|' || " t ".test || '|' ||" \
	" COALESCE(" t ".status, '-') || '|' || COALESCE(" t ".reason, '-') || '|' ||" \
	" " t ".job || '|' || " t ".label || '|' || COALESCE(" t ".release, '-') || '|' ||" \
	" COALESCE(" t ".flake_rate, '-'), char(10))"
#define LIVE_MATRIX \
	"SELECT " ROW("m") " FROM (WITH pick AS MATERIALIZED (SELECT tree, arch, max(cur) AS cur" \
	" FROM (SELECT t.tree, t.arch, (SELECT x.cand FROM sum_cand_arch x WHERE x.tree = t.tree" \
	"  AND x.arch = t.arch AND x.machine = t.machine ORDER BY x.cand DESC LIMIT 1) AS cur" \
	"  FROM sum_tree_arch t) WHERE cur IS NOT NULL GROUP BY tree, arch)" \
	" SELECT p.tree, p.arch, t.test, t.status, t.reason, t.job, c.label," \
	" " SUMMARY_RELEASE("t", "c") " AS release," \
	" CAST(f.nflaky AS REAL) / f.ncand AS flake_rate" \
	" FROM pick p JOIN sum_cand_test t ON t.cand = p.cur AND t.arch = p.arch" \
	" JOIN candidates c ON c.id = p.cur" \
	" LEFT JOIN sum_flake f ON f.tree = p.tree AND f.arch = p.arch AND f.test = t.test" \
	" ORDER BY p.tree, t.test, p.arch) m"
#define KEPT_MATRIX \
	"SELECT " ROW("m") " FROM (SELECT *, CAST(nflaky AS REAL) / ncand AS flake_rate" \
	" FROM sum_matrix ORDER BY tree, test, arch) m"

/* And each tree's latest changes as every request computed them before
 * sum_change (each tree x arch x machine's latest two candidates). */
#define CROW(t) \
	"group_concat(" t ".tree || '|' || " t ".arch || '|' || " t ".test || '|' ||" \
	" COALESCE(" t ".fk, '-') || '|' || COALESCE(" t ".fr, '-') || '|' ||" \
	" COALESCE(" t ".fs, '-') || '|' || " t ".fj || '|' || COALESCE(" t ".tk, '-') || '|' ||" \
	" COALESCE(" t ".tr, '-') || '|' || COALESCE(" t ".ts, '-') || '|' || " t ".tj || '|' ||" \
	" COALESCE(" t ".reason, '-'), char(10))"
#define NTH(n) \
	"(SELECT x.cand FROM sum_cand_arch x WHERE x.tree = t.tree AND x.arch = t.arch" \
	" AND x.machine = t.machine ORDER BY x.cand DESC LIMIT 1 OFFSET " n ")"
#define LIVE_CHANGES \
	"SELECT " CROW("m") " FROM (WITH pairs AS MATERIALIZED (SELECT tree, arch, machine, cur," \
	" prev FROM (SELECT t.tree, t.arch, t.machine, " NTH("0") " AS cur, " NTH("1") " AS prev" \
	" FROM sum_tree_arch t) WHERE cur IS NOT NULL)" \
	" SELECT p.tree, p.arch, cur.test, pc.label AS fk, " SUMMARY_RELEASE("prev", "pc") " AS fr," \
	" prev.status AS fs, prev.job AS fj, cc.label AS tk, " SUMMARY_RELEASE("cur", "cc") " AS tr," \
	" cur.status AS ts, cur.job AS tj, cur.reason AS reason" \
	" FROM pairs p JOIN sum_cand_test cur ON cur.cand = p.cur AND cur.arch = p.arch" \
	" JOIN sum_cand_test prev ON prev.cand = p.prev AND prev.arch = p.arch" \
	"  AND prev.test = cur.test" \
	" JOIN candidates cc ON cc.id = p.cur JOIN candidates pc ON pc.id = p.prev" \
	" WHERE cur.status IS NOT prev.status ORDER BY p.tree, p.arch, p.machine, cur.test) m"
#define KEPT_CHANGES \
	"SELECT " CROW("m") " FROM (SELECT tree, arch, test, from_kernel AS fk, from_release AS fr," \
	" from_status AS fs, from_job AS fj, to_kernel AS tk, to_release AS tr, to_status AS ts," \
	" to_job AS tj, reason FROM sum_change ORDER BY tree, arch, machine, test) m"

static char *one_text(struct store *st, const char *sql)
{
	sqlite3_stmt *s;
	char *v;

	assert_int_equal(sqlite3_prepare_v2(store_db(st), sql, -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	v = xstrdup(sqlite3_column_text(s, 0) ? (const char *)sqlite3_column_text(s, 0) : "");
	sqlite3_finalize(s);
	return v;
}

static void assert_matrix_kept(struct store *st, int changes)
{
	char *live = one_text(st, LIVE_MATRIX), *kept = one_text(st, KEPT_MATRIX);

	assert_true(*live);
	assert_string_equal(kept, live);
	free(live);
	free(kept);
	live = one_text(st, LIVE_CHANGES);
	kept = one_text(st, KEPT_CHANGES);
	assert_int_equal(!!*live, changes);
	assert_string_equal(kept, live);
	free(live);
	free(kept);
}

/* sum_matrix and sum_change kept job by job equal the matrix and each
 * tree's latest changes computed from scratch, after
 * each thing that moves a cell: a new pick, its own further jobs (tests
 * added, the verdict turning FLAKY), an older candidate's job (only the
 * flake counts move), an infrastructure error (the candidate's release
 * filled in), a candidate on another machine, and candidates moving between
 * trees (--tree given later; the release's series). */
static void test_matrix_kept(void **state)
{
	static const char *const p[] = { "a=PASS", "b=PASS", NULL };
	static const char *const f[] = { "a=FAIL", "c=PASS", NULL };
	static const char *const b[] = { "a=FAIL", "b=FAIL", "c=SKIP", NULL };
	struct store *st = fresh("matrix.db");
	int64_t r = store_run_begin(st, "m", NULL);

	(void)state;
	hist_job(st, r, "x86_64", "K1", "t", "6.1.1", JOB_COMPLETE, 1, p);
	assert_matrix_kept(st, 0);
	hist_job(st, r, "x86_64", "K2", "t", NULL, JOB_COMPLETE, 1, p);
	hist_job(st, r, "arm64", "K2", "t", "6.1.2", JOB_COMPLETE, 1, p);
	assert_matrix_kept(st, 0);
	hist_job(st, r, "x86_64", "K2", "t", NULL, JOB_COMPLETE, 1, f);	/* a FLAKY, c new */
	assert_matrix_kept(st, 1);
	hist_job(st, r, "x86_64", "K1", "t", "6.1.1", JOB_COMPLETE, 1, f);	/* K1's flake */
	assert_matrix_kept(st, 0);	/* K1's a FLAKY too: no change left */
	hist_job(st, r, "x86_64", "K2", "t", "6.1.9", JOB_INFRA_ERROR, 0, p);	/* release */
	assert_matrix_kept(st, 0);
	hist_job_m(st, r, "x86_64", "K0", "smp4", "t", "6.1.0", JOB_COMPLETE, 1, f);
	assert_matrix_kept(st, 0);
	hist_job(st, r, "x86_64", "K4", "t", "6.1.4", JOB_COMPLETE, 1, b);
	assert_matrix_kept(st, 1);	/* K4 against K2 */
	/* K2 of x86_64 re-registered under tree "u": t's pair becomes K1, K4 */
	assert_true(store_candidate(st, "x86_64", "K2", "u", "K2", "/img", NULL) > 0);
	assert_matrix_kept(st, 1);
	hist_job(st, r, "x86_64", "K3", NULL, "6.2.1", JOB_COMPLETE, 1, p);	/* linux-6.2 */
	hist_job(st, r, "x86_64", "K1", "u", "6.1.1", JOB_COMPLETE, 1, p);	/* K1 moves too */
	assert_matrix_kept(st, 0);	/* t: K4 alone; u: K1 before K2, both a FLAKY */
	hist_job_m(st, r, "x86_64", "K5", "smp4", "t", "6.1.5", JOB_COMPLETE, 1, p);
	assert_matrix_kept(st, 1);	/* smp4: K5 against K0 */
	store_close(st);
}

static void test_bad_text_repaired_not_dropped(void **state)
{
	struct store *st = fresh("bad.db");
	int64_t run_b;
	char *before, *after;

	(void)state;
	two_candidates(st, &run_b);
	before = changes(st, "t", 0);
	/* an edited database: B's label is not UTF-8; every change is still
	 * reported (the label repaired), none dropped */
	assert_int_equal(sqlite3_exec(store_db(st), "UPDATE candidates SET label ="
				      " CAST(X'C328' AS TEXT) WHERE label = 'B'", NULL, NULL, NULL),
			 SQLITE_OK);
	after = changes(st, "t", 0);
	assert_string_equal(before, after);
	free(before);
	free(after);
	store_close(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kind_table),
		cmocka_unit_test(test_every_kind),
		cmocka_unit_test(test_confirmation_runs),
		cmocka_unit_test(test_known_failure),
		cmocka_unit_test(test_tree_move_and_migration),
		cmocka_unit_test(test_like_machines),
		cmocka_unit_test(test_matrix_kept),
		cmocka_unit_test(test_bad_text_repaired_not_dropped),
	};
	int ret;

	unsetenv("KFARM_KNOWN");
	if (!mkdtemp(dir))
		return 1;
	ret = cmocka_run_group_tests(tests, NULL, NULL);
	char *cmd[] = { "rm", "-rf", dir, NULL };
	if (fork() == 0)
		execvp(cmd[0], cmd);
	return ret;
}
