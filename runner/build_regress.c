#include "build_regress.h"
#include "build_db.h"
#include "history.h"

#include <string.h>

static const char sql[] =
	"WITH per AS (SELECT s.tree, b.arch, b.config, b.source_id, s.label,"
	"  max(b.id) AS bid FROM builds b JOIN sources s ON s.id = b.source_id"
	"  WHERE b.status != 'ERROR' GROUP BY s.tree, b.arch, b.config, b.source_id),"
	" rk AS (SELECT per.*, row_number() OVER (PARTITION BY tree, arch, config"
	"  ORDER BY bid DESC) AS rk FROM per)"
	" SELECT a.tree, a.arch, a.config, p.label, bp.status, bp.id, a.label, ba.status,"
	"  ba.id, ba.error, (SELECT new_warnings FROM build_warn_sum WHERE build_id = ba.id)"
	" FROM rk a JOIN builds ba ON ba.id = a.bid"
	" JOIN rk p ON p.tree = a.tree AND p.arch = a.arch AND p.config = a.config AND p.rk = 2"
	" JOIN builds bp ON bp.id = p.bid"
	" WHERE a.rk = 1 AND (ba.status != bp.status"
	"  OR (SELECT new_warnings FROM build_warn_sum WHERE build_id = ba.id) > 0)"
	"  AND (?1 = 0 OR ba.run_id = ?1)"
	"  AND (?2 IS NULL OR a.tree = ?2) ORDER BY a.tree, a.arch";

static json_t *side(sqlite3_stmt *st, int col)
{
	return json_pack("{ss ss sI}", "kernel", (const char *)sqlite3_column_text(st, col),
			 "status", (const char *)sqlite3_column_text(st, col + 1), "build",
			 (json_int_t)sqlite3_column_int64(st, col + 2));
}

int build_regress_append(sqlite3 *db, const char *tree, int64_t run, json_t *arr)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, run);
	if (tree)
		sqlite3_bind_text(st, 2, tree, -1, SQLITE_TRANSIENT);
	while (sqlite3_step(st) == SQLITE_ROW) {
		json_t *o;
		enum change_kind kind;
		const char *to = (const char *)sqlite3_column_text(st, 7);
		const char *from = (const char *)sqlite3_column_text(st, 4);

		if (!to || !from)	/* NOT NULL in the schema: a damaged row */
			continue;
		kind = build_status_parse(to) == build_status_parse(from) ? CH_OTHER
		       : build_status_parse(to) == BS_FAIL ? CH_REGRESSION : CH_FIX;
		o = json_pack("{ss ss ss ss so so}", "kind", change_kind_name(kind),
			      "tree", (const char *)sqlite3_column_text(st, 0), "arch",
			      (const char *)sqlite3_column_text(st, 1), "test", "build",
			      "from", side(st, 3), "to", side(st, 6));

		if (sqlite3_column_type(st, 9) == SQLITE_TEXT) {
			json_object_set_new(json_object_get(o, "to"), "error",
					    json_string((const char *)sqlite3_column_text(st, 9)));
			/* the dashboard's reason column */
			json_object_set_new(o, "reason", json_sprintf("first error: %s",
					    (const char *)sqlite3_column_text(st, 9)));
		}
		if (sqlite3_column_int64(st, 10) > 0) {	/* new warnings: a change */
			json_t *t = json_object_get(o, "to");

			json_object_set_new(t, "new_warnings",
					    json_integer(sqlite3_column_int64(st, 10)));
			json_object_set_new(t, "warnings", build_warnings_of(db,
					    sqlite3_column_int64(st, 8), 1, 10));
			if (!json_object_get(o, "reason"))
				json_object_set_new(o, "reason", json_sprintf("%lld new warning(s): %s",
						    (long long)sqlite3_column_int64(st, 10),
						    json_string_value(json_array_get(
						    json_object_get(t, "warnings"), 0)) ?: "?"));
		}
		json_object_set_new(o, "config", json_string((const char *)
							     sqlite3_column_text(st, 2)));
		json_array_append_new(arr, o);
	}
	return sqlite3_finalize(st) == SQLITE_OK ? 0 : -1;
}
