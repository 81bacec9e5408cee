/* kfarm report, gathering: the store's rows for one scope as one JSON value
 * (rendering is in report_render.c). */
#include "report.h"
#include "dbtext.h"
#include "bisect_db.h"
#include "build_regress.h"
#include "history.h"
#include "known.h"
#include "regress.h"
#include "util.h"

#include <stdio.h>
#include <string.h>

/* The scope's jobs: ?1 > 0 one run's; else the latest candidate per arch of
 * tree ?2 that has a non-infrastructure job (as regress ranks them). */
#define SCOPE \
	"WITH sj AS (SELECT j.* FROM jobs j WHERE (?1 > 0 AND j.run_id = ?1)" \
	" OR (?1 <= 0 AND j.candidate_id IN (SELECT max(c.id) FROM candidates c" \
	"  WHERE c.tree = ?2 AND EXISTS (SELECT 1 FROM jobs x WHERE x.candidate_id = c.id" \
	"   AND x.outcome != 'INFRA_ERROR') GROUP BY c.arch))) "

struct gather {
	sqlite3 *db;
	int64_t run;
	const char *tree;
	struct err *e;
	json_t *r, *known;
};

/* Column readers: a value of the wrong type (a hand-edited or hostile
 * database) reads as NULL / 0, never as garbage; text is valid UTF-8
 * (repaired, dbtext.h), which jansson needs to keep it at all. */
static const char *col_text(sqlite3_stmt *s, int i, struct dbtext_keep *k)
{
	return sqlite3_column_type(s, i) == SQLITE_TEXT ? dbtext_col(s, i, k) : NULL;
}

static json_t *jcol(sqlite3_stmt *s, int i)
{
	json_t *v = NULL;

	if (sqlite3_column_type(s, i) == SQLITE_TEXT)
		v = dbtext_json(sqlite3_column_text(s, i), (size_t)sqlite3_column_bytes(s, i));
	return v ? v : json_null();
}

static json_int_t col_int(sqlite3_stmt *s, int i)
{
	return sqlite3_column_type(s, i) == SQLITE_INTEGER ? sqlite3_column_int64(s, i) : 0;
}

static json_t *jstr(const char *v)
{
	return v ? json_string(v) : json_null();
}

static int db_fail(struct gather *g, const char *what)
{
	err_set(g->e, 500, "database query failed (%s): %s", what, sqlite3_errmsg(g->db));
	return -1;
}

static sqlite3_stmt *prep(struct gather *g, const char *sql, const char *what)
{
	sqlite3_stmt *s;

	if (sqlite3_prepare_v2(g->db, sql, -1, &s, NULL) != SQLITE_OK) {
		db_fail(g, what);
		return NULL;
	}
	if (g->run > 0)
		sqlite3_bind_int64(s, 1, g->run);
	else
		sqlite3_bind_int64(s, 1, 0);
	if (g->tree)
		sqlite3_bind_text(s, 2, g->tree, -1, SQLITE_TRANSIENT);
	return s;
}

static int done(struct gather *g, sqlite3_stmt *s, int rc, const char *what)
{
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : db_fail(g, what);
}

/* One entry per arch x candidate: what booted and how it ended. */
static int gather_arches(struct gather *g)
{
	sqlite3_stmt *s = prep(g, SCOPE
		"SELECT j.arch, c.id, c.tree, c.label, max(COALESCE(j.release, c.release)),"
		" count(*), sum(j.outcome = 'COMPLETE'), sum(j.outcome = 'INFRA_ERROR'),"
		" sum(j.outcome = 'NOT_BUILT')"
		" FROM sj j JOIN candidates c ON c.id = j.candidate_id"
		" GROUP BY j.arch, c.id ORDER BY j.arch, c.id", "arches");
	json_t *arr = json_array();
	int rc;

	if (!s)
		return json_decref(arr), -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		json_array_append_new(arr, json_pack(
			"{s:o, s:I, s:o, s:o, s:o, s:I, s:I, s:I, s:I, s:i, s:i, s:i, s:i, s:i}",
			"arch", jcol(s, 0), "cand", col_int(s, 1),
			"tree", jcol(s, 2), "kernel", jcol(s, 3),
			"release", jcol(s, 4), "boots", col_int(s, 5),
			"complete", col_int(s, 6), "infra", col_int(s, 7),
			"not_built", col_int(s, 8),
			"total", 0, "pass", 0, "fail", 0, "skip", 0, "flaky", 0));
	json_object_set_new(g->r, "arches", arr);
	return done(g, s, rc, "arches");
}

static const char *js(json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));

	return v ? v : "";
}

static json_t *arch_entry(struct gather *g, json_int_t cand, const char *arch)
{
	size_t i;
	json_t *a;

	json_array_foreach(json_object_get(g->r, "arches"), i, a)
		if (json_integer_value(json_object_get(a, "cand")) == cand &&
		    !strcmp(js(a, "arch"), arch ? arch : ""))
			return a;
	return NULL;
}

static void bump(json_t *a, const char *k)
{
	json_object_set_new(a, k, json_integer(json_integer_value(json_object_get(a, k)) + 1));
}

/* One row of gather_tests: counted on its arch, listed unless it passed. */
static void tests_row(struct gather *g, sqlite3_stmt *s, json_t *fails, json_t *flakes,
		      json_t *known)
{
	struct dbtext_keep k = { 0 };
	const char *arch = col_text(s, 1, &k), *test = col_text(s, 2, &k), *st = col_text(s, 3, &k);
	json_t *a = arch_entry(g, col_int(s, 0), arch), *item;
	const char *why;
	int hs;

	if (!a || !st || !test)
		goto out;
	bump(a, "total");
	hs = hist_status_parse(st);
	if (hs == HS_PASS || hs == HS_SKIP) {
		bump(a, hs == HS_PASS ? "pass" : "skip");
		goto out;
	}
	item = json_pack("{s:o, s:s, s:s, s:o, s:I, s:I}", "arch", jstr(arch), "test", test,
			 "status", st, "reason", jcol(s, 4), "fails", col_int(s, 5),
			 "runs", col_int(s, 6));
	if (hs == HS_FLAKY) {
		bump(a, "flaky");
		json_array_append_new(flakes, item);
		goto out;
	}
	bump(a, "fail");
	why = known_match(g->known, arch ? arch : "", test, st, col_text(s, 7, &k));
	if (why) {
		json_object_set_new(item, "reason", json_string(why));
		json_array_append_new(known, item);
	} else {
		json_array_append_new(fails, item);
	}
out:
	dbtext_keep_release(&k);
}

/* Each top-level test's status in the scope, agreed over its jobs (FLAKY
 * when they disagree), counted per arch; failures, known failures and
 * flakes listed. The tests of a job that never booted for want of a
 * kernel (infrastructure, an unbuilt arch) are not results: the boots'
 * and builds' sections say why. */
static int gather_tests(struct gather *g)
{
	sqlite3_stmt *s = prep(g, SCOPE
		"SELECT j.candidate_id, j.arch, r.test,"
		" CASE WHEN count(DISTINCT CASE r.status WHEN 'PASS' THEN 'P' WHEN 'SKIP' THEN 'S'"
		"  ELSE 'F' END) > 1 THEN 'FLAKY' ELSE max(r.status) END,"
		" max(CASE WHEN r.status IN ('FAIL', 'MISSING') THEN r.reason END),"
		" sum(r.status IN ('FAIL', 'MISSING')), count(*),"
		" max(COALESCE(j.release, c.release))"
		" FROM results r JOIN sj j ON j.id = r.job_id JOIN candidates c ON c.id = j.candidate_id"
		" WHERE r.depth = 0 AND j.outcome NOT IN ('INFRA_ERROR', 'NOT_BUILT')"
		" GROUP BY j.candidate_id, j.arch, r.test ORDER BY j.arch, r.test", "tests");
	json_t *fails = json_array(), *flakes = json_array(), *known = json_array();
	int rc;

	if (!s)
		return json_decref(fails), json_decref(flakes), json_decref(known), -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		tests_row(g, s, fails, flakes, known);
	json_object_set_new(g->r, "failures", fails);
	json_object_set_new(g->r, "flakes", flakes);
	json_object_set_new(g->r, "known", known);
	return done(g, s, rc, "tests");
}

/* Jobs that did not complete, one line per arch x kernel x outcome x reason. */
static int gather_boots(struct gather *g)
{
	sqlite3_stmt *s = prep(g, SCOPE
		"SELECT j.arch, c.label, j.outcome, j.reason, count(*)"
		" FROM sj j JOIN candidates c ON c.id = j.candidate_id"
		" WHERE j.outcome NOT IN ('COMPLETE', 'NOT_BUILT')"
		" GROUP BY j.arch, c.label, j.outcome, j.reason ORDER BY j.arch", "boots");
	json_t *arr = json_array();
	int rc;

	if (!s)
		return json_decref(arr), -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		json_array_append_new(arr, json_pack("{s:o, s:o, s:o, s:o, s:I}",
			"arch", jcol(s, 0), "kernel", jcol(s, 1),
			"outcome", jcol(s, 2), "reason", jcol(s, 3),
			"count", col_int(s, 4)));
	json_object_set_new(g->r, "bad_boots", arr);
	return done(g, s, rc, "boots");
}

static int gather_qemu(struct gather *g)
{
	sqlite3_stmt *s = prep(g, SCOPE
		"SELECT DISTINCT j.arch, j.qemu_version FROM sj j ORDER BY 1, 2", "qemu");
	json_t *arr = json_array();
	int rc;

	if (!s)
		return json_decref(arr), -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		json_array_append_new(arr, json_pack("{s:o, s:o}", "arch", jcol(s, 0),
						     "version", jcol(s, 1)));
	json_object_set_new(g->r, "qemu", arr);
	return done(g, s, rc, "qemu");
}

/* Builds, when the store has them (kfarm build's table): the scope's run, or
 * for a tree the runs that booted its latest candidates; a failed build has
 * no candidate. */
static int gather_builds(struct gather *g)
{
	sqlite3_stmt *s;
	json_t *failed, *b;
	int rc, have = 0;

	if (sqlite3_prepare_v2(g->db, "SELECT 1 FROM sqlite_master WHERE type = 'table'"
			       " AND name = 'builds'", -1, &s, NULL) != SQLITE_OK)
		return db_fail(g, "builds table");
	rc = sqlite3_step(s);
	have = rc == SQLITE_ROW;
	sqlite3_finalize(s);
	if (!have)
		return rc == SQLITE_DONE ? 0 : db_fail(g, "builds table");
	s = prep(g, SCOPE
		"SELECT b.arch, b.config, b.status, b.error FROM builds b"
		" WHERE (?1 > 0 AND b.run_id = ?1) OR (?1 <= 0 AND b.run_id IN"
		"  (SELECT run_id FROM sj) AND (b.candidate_id IS NULL OR b.candidate_id IN"
		"  (SELECT candidate_id FROM sj))) ORDER BY b.arch, b.config", "builds");
	if (!s)
		return -1;
	failed = json_array();
	b = json_pack("{s:i, s:i, s:i, s:i}", "total", 0, "pass", 0, "fail", 0, "error", 0);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		int bs = build_status_parse(sqlite3_column_type(s, 2) == SQLITE_TEXT
					    ? (const char *)sqlite3_column_text(s, 2) : NULL);

		if (bs < 0)	/* not a status: a damaged row says nothing good */
			bs = BS_ERROR;
		bump(b, "total");
		bump(b, bs == BS_PASS ? "pass" : bs == BS_FAIL ? "fail" : "error");
		if (bs != BS_PASS)
			json_array_append_new(failed, json_pack("{s:o, s:o, s:s, s:o}",
				"arch", jcol(s, 0), "config", jcol(s, 1),
				"status", build_status_name((enum build_status)bs),
				"error", jcol(s, 3)));
	}
	json_object_set_new(b, "failed", failed);
	/* a run of prebuilt images has no builds: no section */
	if (json_integer_value(json_object_get(b, "total")) > 0)
		json_object_set_new(g->r, "builds", b);
	else
		json_decref(b);
	return done(g, s, rc, "builds");
}

/* The changes against each candidate's predecessor (regress.h), one entry
 * per test x kind x from/to (statuses, kernels, releases) with the arches it
 * happened on. */
static int gather_changes(struct gather *g)
{
	json_t *q = regress_query(g->db, g->run > 0 ? NULL : g->tree, g->run, g->e);
	json_t *groups = json_array(), *index = json_object(), *c;
	size_t i;

	if (!q)
		return json_decref(groups), json_decref(index), -1;
	/* a build PASS -> FAIL is a regression too (as kfarm regressions says) */
	if (build_regress_append(g->db, g->run > 0 ? NULL : g->tree, g->run > 0 ? g->run : 0,
				 json_object_get(q, "regressions"))) {
		json_decref(q), json_decref(groups), json_decref(index);
		return db_fail(g, "build changes");
	}
	json_array_foreach(json_object_get(q, "regressions"), i, c) {
		json_t *from = json_object_get(c, "from"), *to = json_object_get(c, "to"), *e;
		char *key;

		/* builds that broke differently (their first errors) are not one */
		key = xasprintf("%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s", js(c, "kind"),
				js(c, "test"), js(from, "status"), js(to, "status"),
				js(from, "kernel"), js(to, "kernel"), js(c, "tree"),
				js(from, "release"), js(to, "release"),
				strcmp(js(c, "test"), "build") ? "" : js(c, "reason"));
		e = json_object_get(index, key);
		if (!e) {
			e = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o?, s:s, s:o?, s:o?, s:[]}",
				"kind", js(c, "kind"), "test", js(c, "test"), "tree", js(c, "tree"),
				"from", js(from, "status"), "to", js(to, "status"),
				"from_release", json_deep_copy(json_object_get(from, "release")),
				"from_kernel", js(from, "kernel"),
				"to_release", json_deep_copy(json_object_get(to, "release")),
				"reason", json_deep_copy(json_object_get(c, "reason")), "arches");
			json_object_set_new(index, key, e);
			json_array_append(groups, e);
		}
		json_array_append_new(json_object_get(e, "arches"), json_string(js(c, "arch")));
		free(key);
	}
	json_decref(q);
	json_decref(index);
	json_object_set_new(g->r, "changes", groups);
	return 0;
}

static int scope_exists(struct gather *g)
{
	sqlite3_stmt *s = prep(g, SCOPE "SELECT count(*) FROM sj", "scope");
	json_int_t n = 0;

	if (!s)
		return -1;
	if (sqlite3_step(s) == SQLITE_ROW)
		n = col_int(s, 0);
	sqlite3_finalize(s);
	if (n)
		return 0;
	if (g->run > 0)
		return err_set(g->e, 404, "run %lld: no such run, or it has no jobs",
			       (long long)g->run);
	return err_set(g->e, 404, "tree '%.64s' has no candidates with jobs", g->tree);
}

json_t *report_build(sqlite3 *db, int64_t run, const char *tree, struct err *e)
{
	struct gather g = { .db = db, .run = run, .tree = tree, .e = e };

	g.r = json_pack("{s:I, s:o}", "run", (json_int_t)(run > 0 ? run : 0), "tree",
			tree ? dbtext_json((const unsigned char *)tree, strlen(tree)) : json_null());
	g.known = known_load(e);
	if (!g.known ||
	    scope_exists(&g) || gather_arches(&g) || gather_tests(&g) || gather_boots(&g) ||
	    gather_qemu(&g) || gather_builds(&g) || gather_changes(&g) ||
	    bisect_report_add(db, g.r)) {
		json_decref(g.r);
		g.r = NULL;
	}
	json_decref(g.known);
	return g.r;
}
