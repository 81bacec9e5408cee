#include "api.h"
#include "build_db.h"
#include "dbstmt.h"
#include "dbtext.h"
#include "jsonw.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *fail(struct err *e, int code, const char *msg, sqlite3 *db)
{
	err_set(e, code, "%s%s%s", msg, db ? ": " : "", db ? sqlite3_errmsg(db) : "");
	return NULL;
}

/* Column i as JSON: integers, reals, text, or null. */
static json_t *col(sqlite3_stmt *s, int i)
{
	switch (sqlite3_column_type(s, i)) {
	case SQLITE_INTEGER:
		return json_integer(sqlite3_column_int64(s, i));
	case SQLITE_FLOAT:
		return json_real(sqlite3_column_double(s, i));
	case SQLITE_TEXT: {
		/* an edited database may hold invalid UTF-8: repaired, never dropped */
		const unsigned char *t = sqlite3_column_text(s, i);

		return dbtext_json(t, t ? (size_t)sqlite3_column_bytes(s, i) : 0);
	}
	default:
		return json_null();
	}
}

/* Every row as an object keyed by column name. */
static json_t *rows(sqlite3 *db, sqlite3_stmt *s, struct err *e)
{
	json_t *arr = json_array();
	int rc;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		json_t *o = json_object();

		for (int i = 0; i < sqlite3_column_count(s); i++)
			if (json_object_set_new(o, sqlite3_column_name(s, i), col(s, i)))
				rc = SQLITE_NOMEM;
		if (json_array_append_new(arr, o) || rc != SQLITE_ROW)
			break;
	}
	if (rc == SQLITE_ROW)
		rc = SQLITE_NOMEM;
	dbstmt_put(s);
	if (rc != SQLITE_DONE) {
		json_decref(arr);
		return fail(e, 500, "database query failed", db);
	}
	return arr;
}

static sqlite3_stmt *prep(sqlite3 *db, const char *sql, struct err *e)
{
	sqlite3_stmt *s;

	if (!(s = dbstmt_get(db, sql)))
		fail(e, 500, "database query failed", db);
	return s;
}

#define JOB_COLS \
	"j.id, j.run_id, j.arch, c.label AS kernel, c.tree, c.image_sha256," \
	" COALESCE(j.release, c.release) AS release, j.attempt, j.outcome, j.reason," \
	" j.warning, j.boot_s, j.duration_s, j.started, j.finished, j.host, j.backend," \
	" j.qemu_version, j.variant, j.smp, j.memory_mb, j.accel, j.accel_reason," \
	" c.machine"

/* a job's top-level tallies (summary.c) */
#define RUN_JOB_COUNTS \
	"COALESCE(n.pass, 0) AS pass, COALESCE(n.fail, 0) AS fail," \
	" COALESCE(n.skip, 0) AS skip, COALESCE(n.missing, 0) AS missing"

/* Each tree x arch's latest job: of the tree's latest candidate with
 * results on that arch (any machine: summary.h's sum_cand_arch), its latest
 * job there; with the job's top-level tallies. */
#define TREE_LATEST \
	"WITH lt AS (SELECT t.tree, t.arch, (SELECT max(j.id) FROM jobs j WHERE j.arch = t.arch" \
	"  AND j.candidate_id = (SELECT max(x.cand) FROM sum_cand_arch x WHERE x.tree = t.tree" \
	"   AND x.arch = t.arch)) AS job FROM (SELECT DISTINCT tree, arch FROM sum_tree_arch) t)" \
	" SELECT lt.tree AS card_tree, " JOB_COLS ", " RUN_JOB_COUNTS " FROM lt" \
	" JOIN jobs j ON j.id = lt.job JOIN candidates c ON c.id = j.candidate_id" \
	" LEFT JOIN sum_job n ON n.job_id = j.id ORDER BY lt.tree, lt.arch"

static int same_key(json_t *o, const char *tk, json_t *tree, json_t *arch)
{
	return json_equal(json_object_get(o, tk), tree) &&
	       json_equal(json_object_get(o, "arch"), arch);
}

/* The card of tree x arch in cards, made (with no job) if there is none. */
static json_t *card_of(json_t *cards, json_t *tree, json_t *arch)
{
	json_t *o;
	size_t i;

	json_array_foreach(cards, i, o)
		if (same_key(o, "tree", tree, arch))
			return o;
	o = json_pack("{s:O, s:O, s:n, s:[]}", "tree", tree, "arch", arch, "job", "builds");
	if (!o || json_array_append_new(cards, o))
		return NULL;
	return o;
}

/* One card per tree x arch: the latest boot job (or null) and the latest
 * builds (builds_latest, one per config) side by side. Sorted by tree then
 * arch as both queries are; a tree with builds only comes after. */
static json_t *status_trees(sqlite3 *db, json_t *builds, struct err *e)
{
	sqlite3_stmt *s = prep(db, TREE_LATEST, e);
	json_t *jobs, *cards = json_array(), *o, *c;
	size_t i;

	if (!s || !(jobs = rows(db, s, e))) {
		json_decref(cards);
		return NULL;
	}
	json_array_foreach(jobs, i, o) {
		json_t *tree = json_incref(json_object_get(o, "card_tree"));

		json_object_del(o, "card_tree");
		c = card_of(cards, tree, json_object_get(o, "arch"));
		json_decref(tree);
		if (!c || json_object_set(c, "job", o))
			goto oom;
	}
	json_array_foreach(builds, i, o)
		if (!(c = card_of(cards, json_object_get(o, "tree"), json_object_get(o, "arch"))) ||
		    json_array_append(json_object_get(c, "builds"), o))
			goto oom;
	json_decref(jobs);
	return cards;
oom:
	json_decref(jobs);
	json_decref(cards);
	return fail(e, 500, "out of memory", NULL);
}

/* The latest result per arch x test: ~tests x arches rows, the bulk of the
 * reply, written straight; the rest is small and built as values. */
char *api_status_text(sqlite3 *db, struct err *e)
{
	sqlite3_stmt *s;
	json_t *jobs, *arches, *builds, *trees, *rest, *o;
	struct sb sb;
	char *t;
	size_t i;
	int rc;

	s = prep(db, "SELECT j.arch, r.test, r.status, r.reason, r.job_id AS job,"
		     " c.label AS kernel, COALESCE(j.release, c.release) AS release,"
		     " j.finished AS time"
		     " FROM latest l JOIN results r ON r.id = l.result_id"
		     " JOIN jobs j ON j.id = r.job_id JOIN candidates c ON c.id = j.candidate_id"
		     " ORDER BY j.arch, r.test", e);
	if (!s)
		return NULL;
	sb_init(&sb);
	sb_adds(&sb, "{\"results\":");
	rc = jsonw_rows(&sb, s);
	dbstmt_put(s);
	if (rc != SQLITE_DONE) {
		sb_release(&sb);
		fail(e, 500, "database query failed", db);
		return NULL;
	}
	s = prep(db, "SELECT " JOB_COLS " FROM jobs j JOIN candidates c ON c.id = j.candidate_id"
		     " JOIN sum_arch a ON a.job = j.id ORDER BY j.arch",
		     e);
	if (!s || !(jobs = rows(db, s, e))) {
		sb_release(&sb);
		return NULL;
	}
	arches = json_array();
	json_array_foreach(jobs, i, o)
		json_array_append(arches, json_object_get(o, "arch"));
	if (!(builds = builds_latest(db, e)) || !(trees = status_trees(db, builds, e))) {
		json_decref(jobs);
		json_decref(arches);
		json_decref(builds);
		sb_release(&sb);
		return NULL;
	}
	rest = json_pack("{s:o, s:o, s:o, s:o}", "jobs", jobs, "arches", arches, "builds", builds,
			 "trees", trees);
	t = rest ? json_dumps(rest, JSON_COMPACT) : NULL;
	json_decref(rest);
	if (!t) {
		sb_release(&sb);
		fail(e, 500, "out of memory", NULL);
		return NULL;
	}
	sb_add(&sb, ",", 1);
	sb_adds(&sb, t + 1);	/* its members, after results */
	free(t);
	return sb_detach(&sb);
}

json_t *api_parsed(char *text, struct err *e)
{
	json_t *v = text ? json_loads(text, JSON_ALLOW_NUL, NULL) : NULL;

	if (text && !v)
		fail(e, 500, "out of memory", NULL);
	free(text);
	return v;
}

json_t *api_status(sqlite3 *db, struct err *e)
{
	return api_parsed(api_status_text(db, e), e);
}

#define RUNS_SQL \
	"SELECT r.id, r.started, r.finished, r.status, r.argv," \
	" COALESCE(n.jobs, 0) AS jobs, COALESCE(n.complete, 0) AS complete" \
	" FROM runs r LEFT JOIN sum_run n ON n.run_id = r.id" \
	" ORDER BY r.id DESC LIMIT ?"

/* A query whose one parameter is a limit, prepared and bound. */
static sqlite3_stmt *prep_limit(sqlite3 *db, const char *sql, int limit, struct err *e)
{
	sqlite3_stmt *s = prep(db, sql, e);

	if (s)
		sqlite3_bind_int(s, 1, limit);
	return s;
}

/* rows() of a limited query as JSON text, wrapped in pre and post: the
 * same shape, written straight (jsonw.h). */
static char *limited_text(sqlite3 *db, const char *sql, int limit, const char *pre,
			  const char *post, struct err *e)
{
	sqlite3_stmt *s = prep_limit(db, sql, limit, e);
	struct sb sb;
	int rc;

	if (!s)
		return NULL;
	sb_init(&sb);
	sb_adds(&sb, pre);
	rc = jsonw_rows(&sb, s);
	sb_adds(&sb, post);
	dbstmt_put(s);
	if (rc != SQLITE_DONE) {
		sb_release(&sb);
		fail(e, 500, "database query failed", db);
		return NULL;
	}
	return sb_detach(&sb);
}

json_t *api_runs(sqlite3 *db, int limit, struct err *e)
{
	sqlite3_stmt *s = prep_limit(db, RUNS_SQL, limit, e);

	return s ? rows(db, s, e) : NULL;
}

char *api_runs_text(sqlite3 *db, int limit, struct err *e)
{
	return limited_text(db, RUNS_SQL, limit, "", "", e);
}

static json_t *one(sqlite3 *db, sqlite3_stmt *s, const char *what, struct err *e)
{
	json_t *arr = rows(db, s, e), *o;

	if (!arr)
		return NULL;
	if (!json_array_size(arr)) {
		json_decref(arr);
		err_set(e, 404, "no such %s", what);
		return NULL;
	}
	o = json_incref(json_array_get(arr, 0));
	json_decref(arr);
	return o;
}

/* The row of id (sql1) with, under key, the rows of sql2 for the same id. */
static json_t *one_with(sqlite3 *db, int64_t id, const char *what, const char *sql1,
			const char *key, const char *sql2, struct err *e)
{
	sqlite3_stmt *s = prep(db, sql1, e);
	json_t *o, *sub;

	if (!s)
		return NULL;
	sqlite3_bind_int64(s, 1, id);
	if (!(o = one(db, s, what, e)))
		return NULL;
	if (!(s = prep(db, sql2, e))) {
		json_decref(o);
		return NULL;
	}
	sqlite3_bind_int64(s, 1, id);
	if (!(sub = rows(db, s, e))) {
		json_decref(o);
		return NULL;
	}
	json_object_set_new(o, key, sub);
	return o;
}

json_t *api_run(sqlite3 *db, int64_t id, struct err *e)
{
	return one_with(db, id, "run", "SELECT id, started, finished, status, argv FROM runs"
				       " WHERE id = ?",
			"jobs", "SELECT " JOB_COLS ", " RUN_JOB_COUNTS
				" FROM jobs j JOIN candidates c ON c.id = j.candidate_id"
				" LEFT JOIN sum_job n ON n.job_id = j.id"
				" WHERE j.run_id = ? ORDER BY j.id", e);
}

json_t *api_job(sqlite3 *db, int64_t id, struct err *e)
{
	return one_with(db, id, "job", "SELECT " JOB_COLS ", j.qemu_cmdline, j.lava_job_id,"
				       " j.lava_url FROM jobs j JOIN candidates c"
				       " ON c.id = j.candidate_id WHERE j.id = ?",
			"results", "SELECT test, depth, status, reason, duration_s FROM results"
				   " WHERE job_id = ? ORDER BY id", e);
}

char *api_job_log_path(sqlite3 *db, int64_t id, struct err *e)
{
	sqlite3_stmt *s = prep(db, "SELECT log_path FROM jobs WHERE id = ?", e);
	char *path = NULL;
	int rc;

	if (!s)
		return NULL;
	sqlite3_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW && sqlite3_column_text(s, 0))
		path = xstrdup((const char *)sqlite3_column_text(s, 0));
	else if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		fail(e, 404, rc == SQLITE_ROW ? "job has no console log" : "no such job", NULL);
	else
		fail(e, 500, "database query failed", db);
	dbstmt_put(s);
	return path;
}

/* One statement per filter combination, so that each walks an index:
 * newest first, stopping at the limit (results are stored in job order, so
 * (job_id, id) descending is id descending). */
json_t *api_history(sqlite3 *db, const char *arch, const char *test, int limit,
		    struct err *e)
{
#define HISTORY_COLS \
	"SELECT j.arch, r.test, r.status, r.reason, r.duration_s, j.id AS job," \
	" j.run_id AS run, c.label AS kernel, COALESCE(j.release, c.release) AS release," \
	" j.outcome, j.finished AS time"
	static const char *const sql[] = {
		/* neither */
		HISTORY_COLS " FROM results r JOIN jobs j ON j.id = r.job_id"
		" JOIN candidates c ON c.id = j.candidate_id"
		" WHERE r.depth = 0 ORDER BY r.id DESC LIMIT ?3",
		/* arch: that arch's jobs, newest first */
		HISTORY_COLS " FROM jobs j JOIN results r ON r.job_id = j.id"
		" JOIN candidates c ON c.id = j.candidate_id"
		" WHERE j.arch = ?1 AND r.depth = 0 ORDER BY j.id DESC, r.id DESC LIMIT ?3",
		/* test (and maybe arch): results_test */
		HISTORY_COLS " FROM results r INDEXED BY results_test JOIN jobs j ON j.id = r.job_id"
		" JOIN candidates c ON c.id = j.candidate_id"
		" WHERE r.test = ?2 AND r.depth = 0 AND (?1 IS NULL OR j.arch = ?1)"
		" ORDER BY r.job_id DESC, r.id DESC LIMIT ?3",
	};
	sqlite3_stmt *s = prep(db, sql[test ? 2 : arch ? 1 : 0], e);

	if (!s)
		return NULL;
	if (arch)
		sqlite3_bind_text(s, 1, arch, -1, SQLITE_TRANSIENT);
	if (test)
		sqlite3_bind_text(s, 2, test, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(s, 3, limit);
	return rows(db, s, e);
#undef HISTORY_COLS
}

#define TREND_SQL \
	"SELECT * FROM (SELECT j.arch, c.label AS kernel," \
	" COALESCE(j.release, c.release) AS release, j.id AS job, j.finished AS time," \
	" j.boot_s FROM jobs j JOIN candidates c ON c.id = j.candidate_id" \
	" WHERE j.boot_s IS NOT NULL ORDER BY j.id DESC LIMIT ?) ORDER BY job"

json_t *api_trend(sqlite3 *db, int limit, struct err *e)
{
	sqlite3_stmt *s = prep_limit(db, TREND_SQL, limit, e);
	json_t *v;

	if (!s || !(v = rows(db, s, e)))
		return NULL;
	if (!(v = json_pack("{s:o}", "points", v)))
		return fail(e, 500, "out of memory", NULL);
	return v;
}

char *api_trend_text(sqlite3 *db, int limit, struct err *e)
{
	return limited_text(db, TREND_SQL, limit, "{\"points\":", "}", e);
}

/* Column i of s equal to the one kept in prev (type and bytes)? */
static int same_col(sqlite3_stmt *s, int i, int *type, struct sb *prev)
{
	int t = sqlite3_column_type(s, i);
	const void *v = t == SQLITE_NULL ? "" : sqlite3_column_blob(s, i);
	size_t n = t == SQLITE_NULL ? 0 : (size_t)sqlite3_column_bytes(s, i);
	int same = *type == t && prev->len == n && (!n || !memcmp(prev->buf, v, n));

	*type = t;
	sb_reset(prev);
	sb_add(prev, v ? v : "", n);
	return same;
}

/* {"trees":[{"tree":T,"candidates":[{"kernel","release","first_job"}...]}...]},
 * written straight from summary.c's one row per tree x candidate label. */
char *api_trees_text(sqlite3 *db, struct err *e)
{
	sqlite3_stmt *s = prep(db,
		"SELECT tree, label AS kernel, release, first_job FROM sum_tree_label"
		" ORDER BY tree, first_job", e);
	struct sb sb, prev;
	int rc, type = -1, n = 0;

	if (!s)
		return NULL;
	sb_init(&sb);
	sb_init(&prev);
	sb_adds(&sb, "{\"trees\":[");
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (!n++ || !same_col(s, 0, &type, &prev)) {
			if (n == 1)
				same_col(s, 0, &type, &prev);
			sb_adds(&sb, n > 1 ? "]},{\"tree\":" : "{\"tree\":");
			jsonw_col(&sb, s, 0);
			sb_adds(&sb, ",\"candidates\":[");
		} else {
			sb_add(&sb, ",", 1);
		}
		for (int i = 1; i < 4; i++) {
			sb_adds(&sb, i == 1 ? "{" : ",");
			jsonw_strz(&sb, sqlite3_column_name(s, i));
			sb_add(&sb, ":", 1);
			jsonw_col(&sb, s, i);
		}
		sb_add(&sb, "}", 1);
	}
	sb_adds(&sb, n ? "]}]}" : "]}");
	dbstmt_put(s);
	sb_release(&prev);
	if (rc != SQLITE_DONE) {
		sb_release(&sb);
		fail(e, 500, "database query failed", db);
		return NULL;
	}
	return sb_detach(&sb);
}

json_t *api_trees(sqlite3 *db, struct err *e)
{
	return api_parsed(api_trees_text(db, e), e);
}
