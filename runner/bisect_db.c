/* kfarm bisect's tables (schema step 7): written step by step by the
 * driver, read by the API, the report and a resumed bisection. Prepared
 * statements only. */
#include "bisect_db.h"
#include "dbq.h"
#include "history.h"
#include "job.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

/* The first column of the first row as an integer: 0 when there is none. */
static int64_t row_int64(sqlite3_stmt *s, int found)
{
	int64_t v = found > 0 ? sqlite3_column_int64(s, 0) : found;

	if (found > 0)
		sqlite3_finalize(s);
	return v;
}

int64_t bisectdb_find_open(sqlite3 *db, const struct bisect_rec *b, struct err *e)
{
	sqlite3_stmt *s;
	int found = dbq_row(db, e, &s, "SELECT id FROM bisections WHERE status = 'running'"
			    " AND repo = ? AND good = ? AND bad = ? AND arch = ? AND mode = ?"
			    " AND test IS ? AND append IS ? ORDER BY id DESC LIMIT 1", "ttttttt",
			    b->repo, b->good, b->bad, b->arch, bisect_mode_name(b->mode), b->test,
			    b->append);

	return row_int64(s, found);
}

int64_t bisectdb_create(sqlite3 *db, const struct bisect_rec *b, struct err *e)
{
	return dbq_exec(db, e, "cannot record the bisection",
			"INSERT INTO bisections (repo, good, bad, arch, mode, test,"
			" runs, commits, tree, append, revert_check, status, started)"
			" VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'running', ?)", "ttttttiIttid",
			b->repo, b->good, b->bad, b->arch, bisect_mode_name(b->mode), b->test,
			(int)b->runs, (int64_t)b->commits, b->tree, b->append, b->revert_check,
			now_wall());
}

int bisectdb_load(sqlite3 *db, int64_t id, struct bisect_rec *b, struct err *e)
{
	sqlite3_stmt *s;
	int rc = -1, found;

	memset(b, 0, sizeof(*b));
	found = dbq_row(db, e, &s, "SELECT repo, good, bad, arch, mode, test, runs, commits,"
			" tree, status, append, revert_check FROM bisections WHERE id = ?", "I", id);
	if (found < 0)
		return -1;
	if (found) {
		const char *m = (const char *)sqlite3_column_text(s, 4);

		b->id = id;
		b->repo = dbq_col(s, 0), b->good = dbq_col(s, 1), b->bad = dbq_col(s, 2);
		b->arch = dbq_col(s, 3), b->test = dbq_col(s, 5), b->tree = dbq_col(s, 8);
		b->status = dbq_col(s, 9);
		b->append = dbq_col(s, 10);
		b->revert_check = sqlite3_column_int(s, 11);
		b->mode = m && !strcmp(m, "build") ? BM_BUILD : m && !strcmp(m, "outcome") ?
			  BM_OUTCOME : BM_TEST;
		b->runs = (unsigned int)sqlite3_column_int(s, 6);
		b->commits = sqlite3_column_int64(s, 7);
		rc = b->repo && b->good && b->bad && b->arch && b->status ? 0 : -1;
		sqlite3_finalize(s);
	}
	if (rc)
		err_set(e, 404, "no bisection %lld in the database", (long long)id);
	return rc;
}

void bisectdb_rec_release(struct bisect_rec *b)
{
	free(b->repo), free(b->good), free(b->bad), free(b->arch), free(b->test);
	free(b->tree), free(b->status), free(b->append);
	memset(b, 0, sizeof(*b));
}

int bisectdb_finish(sqlite3 *db, int64_t id, const char *status, const char *culprit,
		    const char *subject, const char *author, const char *message,
		    const char *revert, struct err *e)
{
	return dbq_exec(db, e, "cannot finish the bisection",
			"UPDATE bisections SET status = ?, culprit = ?, subject = ?,"
			" author = ?, message = ?, revert = ?, finished = ? WHERE id = ?", "ttttttdI",
			status, culprit, subject, author, message, revert, now_wall(), id) < 0 ? -1 : 0;
}

int64_t bisectdb_step(sqlite3 *db, int64_t bisection, const char *kind, const char *commit,
		      enum bisect_verdict *v, struct err *e)
{
	sqlite3_stmt *s;
	int found = dbq_row(db, e, &s, "SELECT id, verdict FROM bisect_steps WHERE bisection_id = ?"
			    " AND kind = ? AND commit_id = ?", "Itt", bisection, kind, commit);
	int64_t id = 0;

	*v = BV_NONE;
	if (found < 0)
		return -1;
	if (found) {
		id = sqlite3_column_int64(s, 0);
		*v = bisect_verdict_parse((const char *)sqlite3_column_text(s, 1));
		sqlite3_finalize(s);
	}
	if (id)
		return id;
	return dbq_exec(db, e, "cannot record the step",
			"INSERT INTO bisect_steps (bisection_id, seq, kind, commit_id, started)"
			" SELECT ?1, coalesce(max(seq), 0) + 1, ?2, ?3, ?4 FROM bisect_steps"
			" WHERE bisection_id = ?1", "Ittd", bisection, kind, commit, now_wall());
}

int bisectdb_step_end(sqlite3 *db, int64_t step, enum bisect_verdict v,
		      const struct bisect_tally *t, double build_s, double boot_s, double wall_s,
		      struct err *e)
{
	return dbq_exec(db, e, "cannot record the step's verdict",
			"UPDATE bisect_steps SET verdict = ?, runs = ?, fails = ?,"
			" infra = ?, build_s = ?, boot_s = ?, wall_s = ?, finished = ?"
			" WHERE id = ?", "tiiiddddI", bisect_verdict_name(v),
			(int)(t->pass + t->fail + t->skip + t->build_fail), (int)t->fail,
			(int)t->infra, build_s, boot_s, wall_s, now_wall(), step) < 0 ? -1 : 0;
}

int bisectdb_runs(sqlite3 *db, int64_t step, enum bisect_run *r, size_t max,
		  struct bisect_pending *p, double *wall_s, struct err *e)
{
	sqlite3_stmt *s = dbq_prep(db, "SELECT attempt, pid, after_run, result, wall_s FROM bisect_runs"
			       " WHERE step_id = ? ORDER BY attempt", e);
	int n = 0, rc;

	if (!s)
		return -1;
	memset(p, 0, sizeof(*p));
	*wall_s = 0;
	sqlite3_bind_int64(s, 1, step);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *res = (const char *)sqlite3_column_text(s, 3);

		*wall_s += sqlite3_column_double(s, 4);
		if (!res) {
			p->attempt = sqlite3_column_int(s, 0);
			p->pid = (long)sqlite3_column_int64(s, 1);
			p->after = sqlite3_column_int64(s, 2);
		} else if ((size_t)n < max && !bisect_run_parse(res, &r[n])) {
			n++;
		}
	}
	if (rc != SQLITE_DONE)
		err_set(e, 0, "database: cannot read the step's runs: %s", sqlite3_errmsg(db));
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? n : -1;
}

int bisectdb_run_begin(sqlite3 *db, int64_t step, int attempt, long pid, int64_t after,
		       struct err *e)
{
	return dbq_exec(db, e, "cannot record the step's run",
			"INSERT OR REPLACE INTO bisect_runs (step_id, attempt, pid,"
			" after_run) VALUES (?, ?, ?, ?)", "IiII", step, attempt, (int64_t)pid,
			after) < 0 ? -1 : 0;
}

int bisectdb_run_end(sqlite3 *db, int64_t step, int attempt, int64_t run, enum bisect_run r,
		     double wall_s, struct err *e)
{
	sqlite3_stmt *s = dbq_prep(db, "UPDATE bisect_runs SET run_id = ?, result = ?, wall_s = ?"
			       " WHERE step_id = ? AND attempt = ?", e);

	if (!s)
		return -1;
	if (run > 0)
		sqlite3_bind_int64(s, 1, run);
	else
		sqlite3_bind_null(s, 1);
	dbq_bind_text(s, 2, bisect_run_name(r));
	sqlite3_bind_double(s, 3, wall_s);
	sqlite3_bind_int64(s, 4, step);
	sqlite3_bind_int(s, 5, attempt);
	if (sqlite3_step(s) != SQLITE_DONE)
		err_set(e, 0, "database: cannot record the run's result: %s", sqlite3_errmsg(db));
	return sqlite3_finalize(s) == SQLITE_OK ? 0 : -1;
}

int64_t bisectdb_max_run(sqlite3 *db, struct err *e)
{
	sqlite3_stmt *s;
	int found = dbq_row(db, e, &s, "SELECT coalesce(max(id), 0) FROM runs", "");

	return found > 0 ? row_int64(s, found) : -1;
}

int64_t bisectdb_run_of_pid(sqlite3 *db, int64_t after, long pid, int *running, struct err *e)
{
	sqlite3_stmt *s;
	int found = dbq_row(db, e, &s, "SELECT id, status = 'running' FROM runs WHERE id > ?"
			    " AND pid = ? ORDER BY id LIMIT 1", "II", after, (int64_t)pid);

	*running = found > 0 && sqlite3_column_int(s, 1);
	return row_int64(s, found);
}

double bisectdb_run_wall(sqlite3 *db, int64_t run, struct err *e)
{
	sqlite3_stmt *s;
	double w = 0;
	int found = dbq_row(db, e, &s, "SELECT coalesce(finished - started, 0) FROM runs"
			    " WHERE id = ?", "I", run);

	if (found > 0) {
		w = sqlite3_column_double(s, 0);
		sqlite3_finalize(s);
	}
	return found < 0 ? -1 : w > 0 ? w : 0;
}

/* A test's stored status as a run result (MISSING: it never ran, a failure
 * of the candidate: its job ended early) */
static enum bisect_run of_status(const char *st)
{
	switch (hist_status_parse(st)) {
	case HS_PASS: return BR_PASS;
	case HS_SKIP: return BR_SKIP;
	default: return BR_FAIL;
	}
}

int bisectdb_judge(sqlite3 *db, int64_t run, const char *arch, enum bisect_mode m,
		   const char *test, enum bisect_run *out, double *build_s, double *boot_s,
		   struct err *e)
{
	sqlite3_stmt *s;
	int found, bstatus = -2, outcome = -2;	/* -2: no row (or NULL), -1: unknown */
	int64_t job = 0;

	*build_s = *boot_s = 0;
	*out = BR_INFRA;
	found = dbq_row(db, e, &s, "SELECT status, duration_s FROM builds WHERE run_id = ?"
			" AND arch = ? ORDER BY id DESC LIMIT 1", "It", run, arch);
	if (found < 0)
		return -1;
	if (found) {
		const char *b = (const char *)sqlite3_column_text(s, 0);

		bstatus = b ? build_status_parse(b) : -2;
		*build_s = sqlite3_column_double(s, 1);
		sqlite3_finalize(s);
	}
	/* no build record: the child stopped before building (infrastructure) */
	if (bstatus == -2 || bstatus == BS_ERROR)
		return 0;
	if (bstatus == BS_FAIL || m == BM_BUILD) {
		*out = bstatus == BS_FAIL ? BR_BUILD_FAIL : BR_PASS;
		return 0;
	}
	found = dbq_row(db, e, &s, "SELECT id, outcome, coalesce(duration_s, 0) FROM jobs"
			" WHERE run_id = ? AND arch = ? ORDER BY attempt DESC, id DESC LIMIT 1",
			"It", run, arch);
	if (found < 0)
		return -1;
	if (found) {
		job = sqlite3_column_int64(s, 0);
		const char *o = (const char *)sqlite3_column_text(s, 1);

		outcome = o ? job_outcome_parse(o) : -2;
		*boot_s = sqlite3_column_double(s, 2);
		sqlite3_finalize(s);
	}
	if (outcome == -2 || outcome == JOB_INFRA_ERROR)
		return 0;
	if (m == BM_OUTCOME) {
		*out = outcome == JOB_COMPLETE ? BR_PASS : BR_FAIL;
		return 0;
	}
	/* a test the job never reported failed to run: the candidate's fault */
	found = dbq_row(db, e, &s, "SELECT status FROM results WHERE job_id = ? AND test = ?"
			" ORDER BY id LIMIT 1", "It", job, test);
	if (found < 0)
		return -1;
	*out = found ? of_status((const char *)sqlite3_column_text(s, 0)) : BR_FAIL;
	if (found)
		sqlite3_finalize(s);
	return 0;
}

double bisectdb_flake_rate(sqlite3 *db, const char *arch, const char *test, struct err *e)
{
	sqlite3_stmt *s;
	double p = 0;
	int found;

	if ((found = dbq_row(db, e, &s, "SELECT coalesce(sum(f), 0), coalesce(sum(n), 0) FROM ("
		    " SELECT sum(r.status = 'FAIL') AS f, count(*) AS n"
		    " FROM results r JOIN jobs j ON j.id = r.job_id"
		    " WHERE j.arch = ? AND r.test = ? AND j.outcome != 'INFRA_ERROR'"
		    "   AND r.status IN ('PASS', 'FAIL')"
		    " GROUP BY j.candidate_id"
		    " HAVING sum(r.status = 'FAIL') > 0 AND sum(r.status = 'PASS') > 0)", "tt",
		    arch, test)) <= 0)
		return found;
	if (sqlite3_column_int64(s, 1) > 0)
		p = (double)sqlite3_column_int64(s, 0) / (double)sqlite3_column_int64(s, 1);
	sqlite3_finalize(s);
	return p;
}

/* Every row of s as a JSON object keyed by column name. */
static json_t *rows(sqlite3 *db, sqlite3_stmt *s, struct err *e)
{
	json_t *arr = json_array();

	while (sqlite3_step(s) == SQLITE_ROW) {
		json_t *o = json_object();

		for (int c = 0; c < sqlite3_column_count(s); c++) {
			const char *k = sqlite3_column_name(s, c);
			json_t *v;

			switch (sqlite3_column_type(s, c)) {
			case SQLITE_INTEGER: v = json_integer(sqlite3_column_int64(s, c)); break;
			case SQLITE_FLOAT: v = json_real(sqlite3_column_double(s, c)); break;
			case SQLITE_NULL: v = json_null(); break;
			default: v = json_string((const char *)sqlite3_column_text(s, c));
			}
			/* a string jansson refuses (not UTF-8) is shown as null */
			json_object_set_new(o, k, v ? v : json_null());
		}
		json_array_append_new(arr, o);
	}
	if (sqlite3_finalize(s) != SQLITE_OK) {
		json_decref(arr);
		err_set(e, 500, "database query failed: %s", sqlite3_errmsg(db));
		return NULL;
	}
	return arr;
}

static sqlite3_stmt *api_prep(sqlite3 *db, const char *sql, struct err *e)
{
	sqlite3_stmt *s;

	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK)
		return s;
	err_set(e, 500, "database query failed: %s", sqlite3_errmsg(db));
	return NULL;
}

#define BISECT_COLS \
	"SELECT b.id, b.repo, b.good, b.bad, b.arch, b.mode, b.test, b.runs, b.commits," \
	" b.tree, b.append, b.status, b.culprit, b.subject, b.author, b.message, b.revert," \
	" b.started," \
	" b.finished, (SELECT count(*) FROM bisect_steps t WHERE t.bisection_id = b.id" \
	"  AND t.kind = 'step') AS steps, (SELECT sum(t.wall_s) FROM bisect_steps t" \
	"  WHERE t.bisection_id = b.id) AS wall_s FROM bisections b"

int bisectdb_present(sqlite3 *db)
{
	sqlite3_stmt *s;
	int yes = 0;

	if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type = 'table'"
			       " AND name = 'bisections'", -1, &s, NULL) != SQLITE_OK)
		return 0;
	yes = sqlite3_step(s) == SQLITE_ROW;
	sqlite3_finalize(s);
	return yes;
}

json_t *bisect_api_list(sqlite3 *db, int limit, struct err *e)
{
	sqlite3_stmt *s;
	json_t *a;

	if (!bisectdb_present(db))
		return json_pack("{s:[]}", "bisections");
	if (!(s = api_prep(db, BISECT_COLS " ORDER BY b.id DESC LIMIT ?", e)))
		return NULL;
	sqlite3_bind_int(s, 1, limit > 0 ? limit : 100);
	a = rows(db, s, e);
	return a ? json_pack("{s:o}", "bisections", a) : NULL;
}

json_t *bisect_api_one(sqlite3 *db, int64_t id, struct err *e)
{
	sqlite3_stmt *s;
	json_t *a, *b, *steps;

	if (!bisectdb_present(db) || !(s = api_prep(db, BISECT_COLS " WHERE b.id = ?", e)))
		goto none;
	sqlite3_bind_int64(s, 1, id);
	if (!(a = rows(db, s, e)))
		return NULL;
	if (!json_array_size(a)) {
		json_decref(a);
		goto none;
	}
	b = json_incref(json_array_get(a, 0));
	json_decref(a);
	if (!(s = api_prep(db, "SELECT t.seq, t.kind, t.commit_id AS \"commit\", t.verdict,"
			   " t.runs, t.fails, t.infra, t.build_s, t.boot_s, t.wall_s,"
			   " (SELECT group_concat(r.run_id) FROM bisect_runs r"
			   "  WHERE r.step_id = t.id AND r.run_id IS NOT NULL) AS run_ids"
			   " FROM bisect_steps t WHERE t.bisection_id = ? ORDER BY t.seq", e)) ||
	    (sqlite3_bind_int64(s, 1, id), !(steps = rows(db, s, e)))) {
		json_decref(b);
		return NULL;
	}
	json_object_set_new(b, "steps", steps);
	return b;
none:
	if (!e->code) {
		err_set(e, 404, "no bisection %lld", (long long)id);
	}
	return NULL;
}

/* The culprits a report names: found bisections of the report's trees, or
 * whose bad commit is one of its candidates (a label starts with the
 * commit's first 12 digits). */
int bisect_report_add(sqlite3 *db, json_t *r)
{
	json_t *arr = json_array(), *a;
	sqlite3_stmt *s;
	size_t i;

	if (!bisectdb_present(db))
		return json_object_set_new(r, "bisections", arr), 0;
	if (sqlite3_prepare_v2(db, "SELECT arch, coalesce(test, mode), culprit, subject, author,"
			       " (SELECT count(*) FROM bisect_steps t WHERE t.bisection_id = b.id"
			       "  AND t.kind = 'step'), commits, id FROM bisections b"
			       " WHERE status = 'found' AND (tree = ?1 OR substr(bad, 1, 12) ="
			       "  substr(?2, 1, 12)) ORDER BY id", -1, &s, NULL) != SQLITE_OK) {
		json_decref(arr);
		return -1;
	}
	json_array_foreach(json_object_get(r, "arches"), i, a) {
		int64_t seen = 0;

		sqlite3_reset(s);
		dbq_bind_text(s, 1, json_string_value(json_object_get(a, "tree")));
		dbq_bind_text(s, 2, json_string_value(json_object_get(a, "kernel")));
		while (sqlite3_step(s) == SQLITE_ROW) {
			int64_t id = sqlite3_column_int64(s, 7);
			json_t *o;
			size_t k;
			int dup = 0;

			json_array_foreach(arr, k, o)
				dup |= json_integer_value(json_object_get(o, "id")) == id;
			if (dup || id == seen)
				continue;
			seen = id;
			o = json_pack("{s:I, s:s?, s:s?, s:s?, s:s?, s:s?, s:I, s:I}", "id",
				      (json_int_t)id, "arch", sqlite3_column_text(s, 0),
				      "test", sqlite3_column_text(s, 1),
				      "culprit", sqlite3_column_text(s, 2),
				      "subject", sqlite3_column_text(s, 3),
				      "author", sqlite3_column_text(s, 4),
				      "steps", (json_int_t)sqlite3_column_int64(s, 5),
				      "commits", (json_int_t)sqlite3_column_int64(s, 6));
			if (o)
				json_array_append_new(arr, o);
		}
	}
	sqlite3_finalize(s);
	json_object_set_new(r, "bisections", arr);
	return 0;
}
