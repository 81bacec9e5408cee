#include "regress.h"
#include "dbstmt.h"
#include "dbtext.h"
#include "job.h"
#include "jsonw.h"
#include "known.h"
#include "summary.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* from x to: the whole classification, one cell each */
static const enum change_kind kind_of[HS_COUNT][HS_COUNT] = {
	/*                PASS           FAIL           SKIP        MISSING        FLAKY */
	[HS_PASS] =    { CH_NONE,       CH_REGRESSION, CH_SUPPORT, CH_REGRESSION, CH_FLAKY },
	[HS_FAIL] =    { CH_FIX,        CH_NONE,       CH_OTHER,   CH_NONE,       CH_FLAKY },
	[HS_SKIP] =    { CH_SUPPORT,    CH_OTHER,      CH_NONE,    CH_OTHER,      CH_FLAKY },
	[HS_MISSING] = { CH_FIX,        CH_NONE,       CH_OTHER,   CH_NONE,       CH_FLAKY },
	[HS_FLAKY] =   { CH_FLAKY,      CH_FLAKY,      CH_FLAKY,   CH_FLAKY,      CH_NONE },
};

enum change_kind regress_kind(const char *from, const char *to)
{
	int f = hist_status_parse(from), t = hist_status_parse(to);

	if (f < 0 || t < 0)	/* a word kfarm does not write: an edited database */
		return !strcmp(from, to) ? CH_NONE : f == HS_FLAKY || t == HS_FLAKY ? CH_FLAKY
									   : CH_OTHER;
	return kind_of[f][t];
}

static json_t *query_failed(sqlite3 *db, json_t *partial, struct err *e)
{
	json_decref(partial);
	err_set(e, 500, "database query failed: %s", sqlite3_errmsg(db));
	return NULL;
}

/* A row a kfarm never writes: the query fails, naming it, rather than
 * dropping it or crashing. Returns SQLITE_ABORT. */
static int bad_row(sqlite3_stmt *s, struct err *e, long long job, const char *what)
{
	err_set(e, 500, "database '%s' is damaged: a result of job %lld %s",
		sqlite3_db_filename(sqlite3_db_handle(s), "main"), job, what);
	return SQLITE_ABORT;
}

/* The columns scan() reads, in /api/regressions' order. */
#define CHANGE_COLS \
	"SELECT tree, arch, test, from_kernel, from_release, from_status, from_job," \
	" to_kernel, to_release, to_status, to_job, reason," \
	" (SELECT j.outcome FROM jobs j WHERE j.id = from_job) AS from_outcome," \
	" (SELECT j.outcome FROM jobs j WHERE j.id = to_job) AS to_outcome FROM "
#define CHANGE_ORDER " ORDER BY tree, arch, machine, test"

/* Each tree's (?1: one tree's) latest changes: each tree x arch x
 * machine's latest candidate against the one before it on that machine,
 * kept by summary.c (sum_change) in this order. */
#define LATEST_CHANGES CHANGE_COLS "sum_change WHERE ?1 IS NULL OR tree = ?1" CHANGE_ORDER

/* The changes the candidates of run ?3 brought: each against the one before
 * it in its tree x arch x machine. */
#define RUN_PAIRS \
	"SELECT x.tree, x.arch, x.machine, x.cand AS cur, (SELECT max(y.cand)" \
	"  FROM sum_cand_arch y WHERE y.tree = x.tree AND y.arch = x.arch" \
	"  AND y.machine = x.machine AND y.cand < x.cand) AS prev" \
	" FROM sum_cand_arch x WHERE x.tree IS NOT NULL AND (?1 IS NULL OR x.tree = ?1)" \
	"  AND x.cand IN (SELECT candidate_id FROM jobs WHERE run_id = ?3)"
#define RUN_CHANGES \
	"WITH pairs AS MATERIALIZED (" RUN_PAIRS ") " CHANGE_COLS "(" SUMMARY_CHANGES("pairs") ")" \
	CHANGE_ORDER

/* The matrix of the candidates labelled ?2 (in tree ?1): the latest per
 * tree x arch, its cells from the summaries. */
#define KERNEL_PICK \
	"SELECT x.tree, x.arch, max(x.cand) AS cur FROM candidates c" \
	" JOIN sum_cand_arch x ON x.cand = c.id WHERE c.label = ?2 AND x.tree IS NOT NULL" \
	"  AND (?1 IS NULL OR x.tree = ?1) GROUP BY x.tree, x.arch"
#define KERNEL_CELLS \
	"WITH pick AS MATERIALIZED (" KERNEL_PICK ")" \
	" SELECT p.tree, p.arch, t.test, t.status, t.reason, t.job, c.label," \
	" " SUMMARY_RELEASE("t", "c") "," \
	" CAST(f.nflaky AS REAL) / f.ncand AS flake_rate" \
	" FROM pick p JOIN sum_cand_test t ON t.cand = p.cur AND t.arch = p.arch" \
	" JOIN candidates c ON c.id = p.cur" \
	" LEFT JOIN sum_flake f ON f.tree = p.tree AND f.arch = p.arch AND f.test = t.test" \
	" ORDER BY p.tree, t.test, p.arch"

/* Each tree x arch's pick (one tree's: ?1): sum_matrix, kept by summary.c
 * in this order. */
#define LATEST_COLS \
	"SELECT tree, arch, test, status, reason, job, label, release," \
	" CAST(nflaky AS REAL) / ncand AS flake_rate FROM sum_matrix"
#define LATEST_CELLS LATEST_COLS " ORDER BY tree, test, arch"
#define TREE_CELLS LATEST_COLS " WHERE tree = ?1 ORDER BY test, arch"

/* Each change of the pairs (a run's, or each tree's latest): appended to
 * arr as objects, or (arr NULL) counted by kind in counts. SQLITE_DONE, or
 * an error code with e set. */
static int not_built_missing(const char *status, const char *outcome)
{
	return hist_status_parse(status) == HS_MISSING && outcome &&
	       job_outcome_parse(outcome) == JOB_NOT_BUILT;
}

static int scan(sqlite3 *db, const char *tree, int64_t run, json_t *arr,
		int counts[CH_COUNT], struct err *e)
{
	sqlite3_stmt *s;
	json_t *known = known_load(e);
	int rc;

	if (!known)
		return SQLITE_ERROR;
	/* each candidate against its predecessor: the candidates of one run, or
	 * each tree's latest */
	s = dbstmt_get(db, run > 0 ? RUN_CHANGES : LATEST_CHANGES);
	if (!s) {
		rc = sqlite3_errcode(db);
		json_decref(known);
		query_failed(db, NULL, e);
		return rc;
	}
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

		/* a test of a candidate that did not build did not change: the
		 * build's own change (build_regress.c) says what did */
		if (not_built_missing(from, T(12)) || not_built_missing(to, T(13)))
			continue;
		const char *expected = known_match(known, T(1), T(2), to, T(8));

		if (k == CH_NONE)
			continue;
		if (expected && k != CH_FIX && k != CH_FLAKY) {
			k = CH_KNOWN;	/* expected: reported, never a regression */
			reason = expected;
		}
		if (!arr) {	/* counted: the names a row needs are checked all the same */
			if (!T(0) || !T(1) || !T(2)) {
				rc = bad_row(s, e, sqlite3_column_int64(s, 10), "has a NULL name");
				break;
			}
			counts[k]++;
			continue;
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
	dbstmt_put(s);
	json_decref(known);
	if (rc != SQLITE_DONE && rc != SQLITE_ABORT)
		query_failed(db, NULL, e);
	return rc;
}

json_t *regress_query(sqlite3 *db, const char *tree, int64_t run, struct err *e)
{
	json_t *arr = json_array(), *root;

	if (scan(db, tree, run, arr, NULL, e) != SQLITE_DONE) {
		json_decref(arr);
		return NULL;
	}
	root = json_object();
	json_object_set_new(root, "regressions", arr);
	return root;
}

int regress_count(sqlite3 *db, int counts[CH_COUNT], struct err *e)
{
	memset(counts, 0, CH_COUNT * sizeof(*counts));
	return scan(db, NULL, 0, NULL, counts, e) == SQLITE_DONE ? 0 : -1;
}

/* A cell's text column after its key (written as given): NULL (an edited
 * database) fails the row unless null_ok. */
static int cell_str(struct sb *sb, const char *key, sqlite3_stmt *s, int i, int null_ok)
{
	const char *t = (const char *)sqlite3_column_text(s, i);

	if (!t && !null_ok)
		return -1;
	sb_adds(sb, key);
	/* as a C string, up to a NUL, as the cells always were */
	jsonw_str(sb, t, t ? strnlen(t, (size_t)sqlite3_column_bytes(s, i)) : 0);
	return 0;
}

char *regress_matrix_text(sqlite3 *db, const char *tree, const char *kernel, struct err *e)
{
	sqlite3_stmt *s;
	struct sb sb;
	int rc, n = 0;

	/* flake rate: share of this tree x arch x test's candidates that were
	 * FLAKY (summary.c counts them) */
	s = dbstmt_get(db, kernel ? KERNEL_CELLS : tree ? TREE_CELLS : LATEST_CELLS);
	if (!s) {
		query_failed(db, NULL, e);
		return NULL;
	}
	if (tree)
		sqlite3_bind_text(s, 1, tree, -1, SQLITE_TRANSIENT);
	if (kernel)
		sqlite3_bind_text(s, 2, kernel, -1, SQLITE_TRANSIENT);
	sb_init(&sb);
	sb_adds(&sb, "{\"tree\":");
	jsonw_strz(&sb, tree);
	sb_adds(&sb, ",\"kernel\":");
	jsonw_strz(&sb, kernel);
	sb_adds(&sb, ",\"cells\":[");
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		sb_adds(&sb, n++ ? ",{" : "{");
		if (cell_str(&sb, "\"tree\":", s, 0, 0) || cell_str(&sb, ",\"arch\":", s, 1, 0) ||
		    cell_str(&sb, ",\"test\":", s, 2, 0) || cell_str(&sb, ",\"status\":", s, 3, 0) ||
		    cell_str(&sb, ",\"reason\":", s, 4, 1)) {
			rc = bad_row(s, e, sqlite3_column_int64(s, 5), "has no status or a NULL name");
			break;
		}
		sb_adds(&sb, ",\"job\":");
		jsonw_int(&sb, sqlite3_column_int64(s, 5));
		if (cell_str(&sb, ",\"kernel\":", s, 6, 0) || cell_str(&sb, ",\"release\":", s, 7, 1)) {
			rc = bad_row(s, e, sqlite3_column_int64(s, 5), "has no status or a NULL name");
			break;
		}
		sb_adds(&sb, ",\"flake_rate\":");
		jsonw_real(&sb, sqlite3_column_double(s, 8));
		sb_add(&sb, "}", 1);
	}
	sb_adds(&sb, "]}");
	dbstmt_put(s);
	if (rc == SQLITE_DONE)
		return sb_detach(&sb);
	sb_release(&sb);
	if (rc != SQLITE_ABORT)
		query_failed(db, NULL, e);
	return NULL;
}

/* The same, as a value (the CLI and tests): parsed from the text, so the
 * two never differ. */
json_t *regress_matrix(sqlite3 *db, const char *tree, const char *kernel, struct err *e)
{
	return api_parsed(regress_matrix_text(db, tree, kernel, e), e);
}
