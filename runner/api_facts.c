#include "api_facts.h"
#include "dbstmt.h"
#include "dbtext.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* sysinfo's subtests that state a fact in their note */
static const char *const facts[] = { "cpus", "preemption", "io_uring" };
#define NFACTS (sizeof(facts) / sizeof(*facts))

/* as in store_schema.c's results_facts partial index (migration 10) */
#define FACT_TESTS "('sysinfo/cpus', 'sysinfo/preemption', 'sysinfo/io_uring')"

/* The newest jobs first, through the primary key, each with its sysinfo
 * notes (results_facts): the scan stops at the limit whatever the history. */
#define FACTS_SQL \
	"WITH lj AS (SELECT j.id, j.candidate_id, COALESCE(j.variant, '') AS variant, c.tree," \
	"  c.label, j.arch, COALESCE(j.release, c.release) AS release" \
	"  FROM jobs j JOIN candidates c ON c.id = j.candidate_id" \
	"  WHERE ?1 IS NULL OR c.tree = ?1 ORDER BY j.id DESC LIMIT ?2)" \
	" SELECT lj.id, lj.candidate_id, lj.variant, lj.tree, lj.label, lj.arch, lj.release," \
	"  r.test, r.reason FROM lj JOIN results r INDEXED BY results_facts ON r.job_id = lj.id" \
	" WHERE r.depth = 1 AND r.test IN " FACT_TESTS " AND r.status = 'PASS'" \
	" ORDER BY lj.id DESC"

static json_t *text(sqlite3_stmt *s, int i)
{
	const unsigned char *t = sqlite3_column_text(s, i);

	return t ? dbtext_json(t, (size_t)sqlite3_column_bytes(s, i)) : json_null();
}

/* a note's value: what comes before its " (evidence)" */
static size_t value_len(const char *note)
{
	const char *p = strstr(note, " (");

	return p ? (size_t)(p - note) : strlen(note);
}

static int same_value(json_t *a, json_t *b)
{
	const char *x = json_string_value(a), *y = json_string_value(b);
	size_t n;

	if (!x || !y)
		return !x && !y;
	n = value_len(x);
	return n == value_len(y) && !memcmp(x, y, n);
}

/* rows is oldest first: each row against the last earlier row of its tree x
 * arch x variant (a map from that place to its row) */
static void mark_changes(json_t *rows)
{
	json_t *last = json_object(), *r;
	size_t i;

	json_array_foreach(rows, i, r) {
		json_t *ch = json_object(), *prev, *now = json_object_get(r, "facts");
		char *key = NULL;

		if (asprintf(&key, "%s\x1f%s\x1f%s", json_string_value(json_object_get(r, "tree")) ?: "",
			     json_string_value(json_object_get(r, "arch")) ?: "",
			     json_string_value(json_object_get(r, "variant")) ?: "") < 0)
			key = NULL;
		prev = key ? json_object_get(last, key) : NULL;
		for (size_t f = 0; prev && f < NFACTS; f++) {
			json_t *was = json_object_get(json_object_get(prev, "facts"), facts[f]);
			json_t *is = json_object_get(now, facts[f]);

			if (was && is && !same_value(was, is))
				json_object_set(ch, facts[f], was);
		}
		if (key)
			json_object_set(last, key, r);
		free(key);
		json_object_set_new(r, "changed", ch);
	}
	json_decref(last);
}

static json_t *new_row(sqlite3_stmt *s)
{
	return json_pack("{s:I,s:o,s:o,s:o,s:o,s:o,s:o}", "job",
			 (json_int_t)sqlite3_column_int64(s, 0), "variant", text(s, 2), "tree",
			 text(s, 3), "kernel", text(s, 4), "arch", text(s, 5), "release",
			 text(s, 6), "facts", json_object());
}

json_t *api_facts(sqlite3 *db, const char *tree, int limit, struct err *e)
{
	sqlite3_stmt *s = dbstmt_get(db, FACTS_SQL);
	json_t *rows = json_array(), *row = NULL, *seen = json_object();
	int64_t job = -1;
	int rc = SQLITE_ERROR;

	if (!s)
		goto out;
	sqlite3_bind_text(s, 1, tree, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(s, 2, limit);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *test = (const char *)sqlite3_column_text(s, 7);
		char key[64];

		if (sqlite3_column_int64(s, 0) != job) {
			/* a candidate's older jobs (retries, confirmations) repeat it */
			job = sqlite3_column_int64(s, 0);
			snprintf(key, sizeof(key), "%lld/%s", (long long)sqlite3_column_int64(s, 1),
				 (const char *)sqlite3_column_text(s, 2));
			row = NULL;
			if (json_object_get(seen, key))
				continue;
			json_object_set_new(seen, key, json_true());
			json_array_append_new(rows, row = new_row(s));
		}
		if (row && test && !strncmp(test, "sysinfo/", 8))
			json_object_set_new(json_object_get(row, "facts"), test + 8, text(s, 8));
	}
	dbstmt_put(s);
out:
	json_decref(seen);
	if (rc != SQLITE_DONE) {
		err_set(e, 500, "database query failed: %s", sqlite3_errmsg(db));
		json_decref(rows);
		return NULL;
	}
	/* oldest first, as a table is read and changes are judged */
	json_t *asc = json_array(), *names = json_array();

	for (size_t i = json_array_size(rows); i-- > 0;)
		json_array_append(asc, json_array_get(rows, i));
	json_decref(rows);
	mark_changes(asc);
	for (size_t f = 0; f < NFACTS; f++)
		json_array_append_new(names, json_string(facts[f]));
	return json_pack("{s:o,s:o}", "facts", names, "rows", asc);
}
