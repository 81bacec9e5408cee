#include "regress.h"
#include "dbtext.h"
#include "known.h"
#include "util.h"

#include <stdio.h>
#include <string.h>

const char *change_kind_name(enum change_kind k)
{
	static const char *const n[] = {
		[CH_NONE] = "none", [CH_REGRESSION] = "regression", [CH_FIX] = "fix",
		[CH_SUPPORT] = "support_change", [CH_FLAKY] = "flaky", [CH_OTHER] = "change",
		[CH_KNOWN] = "known",
	};
	return n[k];
}

static int bad_status(const char *s)
{
	return !strcmp(s, "FAIL") || !strcmp(s, "MISSING");
}

enum change_kind regress_kind(const char *from, const char *to)
{
	if (!strcmp(from, to))
		return CH_NONE;
	if (!strcmp(from, "FLAKY") || !strcmp(to, "FLAKY"))
		return CH_FLAKY;
	if (!strcmp(from, "PASS") && bad_status(to))
		return CH_REGRESSION;
	if (bad_status(from) && !strcmp(to, "PASS"))
		return CH_FIX;
	if ((!strcmp(from, "SKIP") && !strcmp(to, "PASS")) ||
	    (!strcmp(from, "PASS") && !strcmp(to, "SKIP")))
		return CH_SUPPORT;
	if (bad_status(from) && bad_status(to))
		return CH_NONE;	/* still broken */
	return CH_OTHER;
}

static json_t *query_failed(sqlite3 *db, json_t *partial, struct api_err *e)
{
	json_decref(partial);
	e->code = 500;
	snprintf(e->msg, sizeof(e->msg), "database query failed: %s", sqlite3_errmsg(db));
	return NULL;
}

/* A row a kfarm never writes: the query fails, naming it, rather than
 * dropping it or crashing. Returns SQLITE_ABORT. */
static int bad_row(sqlite3_stmt *s, struct api_err *e, long long job, const char *what)
{
	e->code = 500;
	snprintf(e->msg, sizeof(e->msg), "database '%s' is damaged: a result of job %lld %s",
		 sqlite3_db_filename(sqlite3_db_handle(s), "main"), job, what);
	return SQLITE_ABORT;
}

/* One row per candidate x arch x test: the candidate's agreed status, or
 * FLAKY when its jobs disagree on pass/skip/fail; rk 1 = latest candidate of
 * that tree, arch and machine (like compares with like: profile.h
 * machine_key). */
#define EFFECTIVE \
	"WITH eff AS (" \
	" SELECT c.tree, c.id AS cand, c.label AS kernel, j.arch, c.machine, r.test," \
	"  CASE WHEN count(DISTINCT CASE r.status WHEN 'PASS' THEN 'P' WHEN 'SKIP' THEN 'S'" \
	"   ELSE 'F' END) > 1 THEN 'FLAKY' ELSE max(r.status) END AS status," \
	"  max(r.reason) AS reason, max(j.id) AS job," \
	"  max(COALESCE(j.release, c.release)) AS release, count(*) AS runs" \
	" FROM results r JOIN jobs j ON j.id = r.job_id" \
	" JOIN candidates c ON c.id = j.candidate_id" \
	" WHERE r.depth = 0 AND j.outcome != 'INFRA_ERROR' AND c.tree IS NOT NULL" \
	"  AND (?1 IS NULL OR c.tree = ?1)" \
	"  AND (?3 IS NULL OR c.tree IN (SELECT c3.tree FROM jobs j3" \
	"   JOIN candidates c3 ON c3.id = j3.candidate_id WHERE j3.run_id = ?3))" \
	" GROUP BY c.id, j.arch, r.test)," \
	" cands AS (SELECT DISTINCT tree, arch, machine, cand FROM eff)," \
	" ranked AS (SELECT tree, arch, machine, cand," \
	"  row_number() OVER (PARTITION BY tree, arch, machine ORDER BY cand DESC) AS rk" \
	"  FROM cands) "

json_t *regress_query(sqlite3 *db, const char *tree, int64_t run, struct api_err *e)
{
	sqlite3_stmt *s;
	json_t *arr = json_array(), *root, *known = known_load();
	int rc;

	/* each candidate against its predecessor: the candidates of one run, or
	 * each tree's latest */
	rc = sqlite3_prepare_v2(db, EFFECTIVE
		"SELECT cur.tree, cur.arch, cur.test,"
		" prev.kernel, prev.release, prev.status, prev.job,"
		" cur.kernel, cur.release, cur.status, cur.job, cur.reason"
		" FROM ranked rc JOIN ranked rp ON rp.tree = rc.tree AND rp.arch = rc.arch"
		"  AND rp.machine = rc.machine AND rp.rk = rc.rk + 1"
		" JOIN eff cur ON cur.cand = rc.cand AND cur.arch = rc.arch"
		" JOIN eff prev ON prev.cand = rp.cand AND prev.arch = rp.arch"
		"  AND prev.test = cur.test"
		" WHERE (?3 IS NOT NULL AND rc.cand IN"
		"   (SELECT candidate_id FROM jobs WHERE run_id = ?3))"
		"  OR (?3 IS NULL AND rc.rk = 1)"
		" ORDER BY cur.tree, cur.arch, cur.test", -1, &s, NULL);
	if (rc != SQLITE_OK)
		goto dberr;
	if (tree)
		sqlite3_bind_text(s, 1, tree, -1, SQLITE_TRANSIENT);
	if (run > 0)
		sqlite3_bind_int64(s, 3, run);
	/* text columns as valid UTF-8 (repaired): older kfarms cut reasons
	 * mid-character, and jansson refuses such text */
	struct dbtext_keep kp = { { 0 }, 0 };
#define T(i) dbtext_col(s, (i), &kp)
	while (dbtext_keep_release(&kp), (rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *from = T(5), *to = T(9);

		/* NOT NULL in kfarm's schema, but the file may have been edited */
		if (!from || !to) {
			rc = bad_row(s, e, sqlite3_column_int64(s, from ? 10 : 6), "has no status");
			break;
		}
		enum change_kind k = regress_kind(from, to);
		const char *reason = T(11);
		const char *expected = known_match(known, T(1), T(2), to, T(8));

		if (k == CH_NONE)
			continue;
		if (expected && k != CH_FIX && k != CH_FLAKY) {
			k = CH_KNOWN;	/* expected: reported, never a regression */
			reason = expected;
		}
		json_t *row = json_pack(
			"{s:s, s:s, s:s, s:s, s:{s:s?, s:s?, s:s, s:I}, s:{s:s?, s:s?, s:s, s:I},"
			" s:s?}",
			"tree", T(0), "arch", T(1), "test", T(2),
			"kind", change_kind_name(k),
			"from", "kernel", T(3), "release", T(4), "status", from,
			"job", (json_int_t)sqlite3_column_int64(s, 6),
			"to", "kernel", T(7), "release", T(8), "status", to,
			"job", (json_int_t)sqlite3_column_int64(s, 10),
			"reason", reason);

		if (!row || json_array_append_new(arr, row)) {
			rc = bad_row(s, e, sqlite3_column_int64(s, 10), "has a NULL name");
			break;
		}
	}
	dbtext_keep_release(&kp);
	sqlite3_finalize(s);
	json_decref(known);
	if (rc == SQLITE_ABORT) {
		json_decref(arr);
		return NULL;
	}
	if (rc != SQLITE_DONE)
		return query_failed(db, arr, e);
	root = json_object();
	json_object_set_new(root, "regressions", arr);
	return root;
dberr:
	json_decref(known);
	return query_failed(db, arr, e);
}

json_t *regress_matrix(sqlite3 *db, const char *tree, const char *kernel, struct api_err *e)
{
	sqlite3_stmt *s;
	json_t *cells = json_array(), *root;
	int rc;

	/* flake rate: share of this arch x test's candidates that were FLAKY */
	rc = sqlite3_prepare_v2(db, EFFECTIVE
		", pick AS (SELECT r.tree, r.arch, max(r.cand) AS cand FROM ranked r"
		"   JOIN candidates c ON c.id = r.cand WHERE (?2 IS NULL AND r.rk = 1)"
		"   OR c.label = ?2 GROUP BY r.tree, r.arch)"
		"SELECT e.tree, e.arch, e.test, e.status, e.reason, e.job, e.kernel, e.release,"
		" (SELECT avg(f.status = 'FLAKY') FROM eff f WHERE f.arch = e.arch"
		"   AND f.test = e.test AND f.tree = e.tree) AS flake_rate"
		" FROM eff e JOIN pick p ON p.cand = e.cand AND p.arch = e.arch"
		" WHERE ?1 IS NULL OR e.tree = ?1"
		" ORDER BY e.tree, e.test, e.arch", -1, &s, NULL);
	if (rc != SQLITE_OK)
		goto dberr;
	if (tree)
		sqlite3_bind_text(s, 1, tree, -1, SQLITE_TRANSIENT);
	if (kernel)
		sqlite3_bind_text(s, 2, kernel, -1, SQLITE_TRANSIENT);
	struct dbtext_keep kp = { { 0 }, 0 };
	while (dbtext_keep_release(&kp), (rc = sqlite3_step(s)) == SQLITE_ROW) {
		json_t *cell = json_pack(
			"{s:s, s:s, s:s, s:s, s:s?, s:I, s:s, s:s?, s:f}",
			"tree", T(0), "arch", T(1), "test", T(2), "status", T(3), "reason", T(4),
			"job", (json_int_t)sqlite3_column_int64(s, 5),
			"kernel", T(6), "release", T(7),
			"flake_rate", sqlite3_column_double(s, 8));

		if (!cell || json_array_append_new(cells, cell)) {
			rc = bad_row(s, e, sqlite3_column_int64(s, 5), "has no status or a NULL name");
			break;
		}
	}
	dbtext_keep_release(&kp);
	sqlite3_finalize(s);
	if (rc == SQLITE_ABORT) {
		json_decref(cells);
		return NULL;
	}
	if (rc != SQLITE_DONE)
		goto dberr;
#undef T
	root = json_pack("{s:s?, s:s?}", "tree", tree, "kernel", kernel);
	if (!root || json_object_set_new(root, "cells", cells)) {
		json_decref(root);
		e->code = 500;
		snprintf(e->msg, sizeof(e->msg), "out of memory");
		return NULL;
	}
	return root;
dberr:
	return query_failed(db, cells, e);
}
