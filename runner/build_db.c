#include "build_db.h"
#include "build.h"
#include "source.h"
#include "util.h"

#include <stdio.h>
#include <string.h>

static void bind_text(sqlite3_stmt *s, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(s, i);
}

static int64_t step_id(sqlite3 *db, sqlite3_stmt *s, int returning, const char *what,
		       struct err *e)
{
	int rc = sqlite3_step(s);
	int64_t id = -1;

	if (returning && rc == SQLITE_ROW)
		id = sqlite3_column_int64(s, 0);
	else if (!returning && rc == SQLITE_DONE)
		id = sqlite3_last_insert_rowid(db);
	sqlite3_finalize(s);
	if (id < 0)
		err_set(e, 0, "database: %s: %s", what, sqlite3_errmsg(db));
	return id;
}

int64_t builddb_source(sqlite3 *db, const struct source *s, struct err *e)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(db, "INSERT INTO sources (kind, spec, identity, commit_id, sha256,"
			       " patches, patches_hash, tree, label, version, created)"
			       " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
			       " ON CONFLICT (identity, tree, label) DO UPDATE SET"
			       " spec = excluded.spec RETURNING id", -1, &st, NULL) != SQLITE_OK)
		return err_set(e, 0, "database: %s", sqlite3_errmsg(db));
	bind_text(st, 1, source_kind_name(s->kind));
	bind_text(st, 2, s->spec);
	bind_text(st, 3, s->id);
	bind_text(st, 4, s->commit);
	bind_text(st, 5, s->kind != SRC_GIT ? s->sha256 : NULL);
	bind_text(st, 6, s->patches.path);
	bind_text(st, 7, s->patches.hash);
	bind_text(st, 8, s->tree);
	bind_text(st, 9, s->label);
	bind_text(st, 10, s->version);
	sqlite3_bind_double(st, 11, now_wall());
	return step_id(db, st, 1, "cannot record source candidate", e);
}

int64_t builddb_store(sqlite3 *db, int64_t run, int64_t source, const struct build *b,
		      const char *log_rel, struct err *e)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(db, "INSERT INTO builds (run_id, source_id, arch, config,"
			       " config_sha256, status, error, warnings, duration_s, cached,"
			       " compiler, release, kernel_key, log_path, started, finished)"
			       " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			       -1, &st, NULL) != SQLITE_OK)
		return err_set(e, 0, "database: %s", sqlite3_errmsg(db));
	sqlite3_bind_int64(st, 1, run);
	sqlite3_bind_int64(st, 2, source);
	bind_text(st, 3, b->arch);
	bind_text(st, 4, b->config);
	bind_text(st, 5, b->config_sha256);
	bind_text(st, 6, build_status_name(b->status));
	bind_text(st, 7, b->error);
	sqlite3_bind_int64(st, 8, b->warnings);
	sqlite3_bind_double(st, 9, b->duration_s);
	sqlite3_bind_int(st, 10, b->cached);
	bind_text(st, 11, b->compiler);
	bind_text(st, 12, b->release);
	bind_text(st, 13, b->key);
	bind_text(st, 14, log_rel);
	sqlite3_bind_double(st, 15, b->started);
	sqlite3_bind_double(st, 16, b->started + b->duration_s);
	return step_id(db, st, 0, "cannot record build", e);
}

int builddb_link(sqlite3 *db, int64_t build, int64_t candidate, int64_t source,
		 struct err *e)
{
	static const char *const sql[] = {
		"UPDATE builds SET candidate_id = ?1 WHERE id = ?2",
		"UPDATE candidates SET source_id = ?3 WHERE id = ?1",
	};

	for (size_t i = 0; i < ARRAY_SIZE(sql); i++) {
		sqlite3_stmt *st;

		if (sqlite3_prepare_v2(db, sql[i], -1, &st, NULL) != SQLITE_OK)
			return err_set(e, 0, "database: %s", sqlite3_errmsg(db));
		sqlite3_bind_int64(st, 1, candidate);
		sqlite3_bind_int64(st, 2, build);
		sqlite3_bind_int64(st, 3, source);
		if (step_id(db, st, 0, "cannot link build", e) < 0)
			return -1;
	}
	return 0;
}

#define BUILD_COLS \
	"SELECT b.id, b.run_id AS run, s.tree, s.label AS kernel, s.kind, s.identity," \
	" s.version, b.arch, b.config, b.status, b.error, b.warnings, b.duration_s," \
	" b.cached, b.compiler, b.release, b.config_sha256, b.candidate_id AS candidate," \
	" b.log_path AS log, b.started, w.new_warnings, b.finished, s.commit_id," \
	" s.patches_hash, s.id AS source FROM builds b JOIN sources s ON s.id = b.source_id" \
	" LEFT JOIN build_warn_sum w ON w.build_id = b.id"

static json_t *query(sqlite3 *db, const char *sql, int64_t param, struct err *e)
{
	sqlite3_stmt *st;
	json_t *arr = json_array();

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		goto fail;
	if (param > 0)
		sqlite3_bind_int64(st, 1, param);
	while (sqlite3_step(st) == SQLITE_ROW) {
		json_t *o = json_object();

		for (int c = 0; c < sqlite3_column_count(st); c++) {
			const char *k = sqlite3_column_name(st, c);

			switch (sqlite3_column_type(st, c)) {
			case SQLITE_INTEGER:
				json_object_set_new(o, k, json_integer(sqlite3_column_int64(st, c)));
				break;
			case SQLITE_FLOAT:
				json_object_set_new(o, k, json_real(sqlite3_column_double(st, c)));
				break;
			case SQLITE_NULL:
				json_object_set_new(o, k, json_null());
				break;
			default:
				json_object_set_new(o, k, json_string((const char *)
								      sqlite3_column_text(st, c)));
			}
		}
		json_array_append_new(arr, o);
	}
	if (sqlite3_finalize(st) != SQLITE_OK)
		goto fail;
	return arr;
fail:
	json_decref(arr);
	err_set(e, 500, "database query failed: %s", sqlite3_errmsg(db));
	return NULL;
}

json_t *api_builds(sqlite3 *db, int limit, struct err *e)
{
	json_t *a = query(db, BUILD_COLS " ORDER BY b.id DESC LIMIT ?", limit, e);

	return a ? json_pack("{so}", "builds", a) : NULL;
}

json_t *builds_latest(sqlite3 *db, struct err *e)
{
	return query(db, BUILD_COLS " WHERE b.id IN (SELECT max(b2.id) FROM builds b2"
		     " JOIN sources s2 ON s2.id = b2.source_id"
		     " GROUP BY s2.tree, b2.arch, b2.config) ORDER BY s.tree, b.arch", 0, e);
}

json_t *builds_of_run(sqlite3 *db, int64_t run, struct err *e)
{
	return query(db, BUILD_COLS " WHERE b.run_id = ? ORDER BY b.id", run, e);
}

json_t *build_warnings_of(sqlite3 *db, int64_t build, int only_new, int limit)
{
	sqlite3_stmt *st;
	json_t *arr = json_array();

	/* in key order (file, then text) */
	if (sqlite3_prepare_v2(db, "SELECT warning FROM build_warnings WHERE build_id = ?1"
			       " AND (?2 = 0 OR new) LIMIT ?3", -1, &st, NULL) != SQLITE_OK)
		return arr;
	sqlite3_bind_int64(st, 1, build);
	sqlite3_bind_int(st, 2, only_new);
	sqlite3_bind_int(st, 3, limit);
	while (sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(arr, json_string((const char *)sqlite3_column_text(st, 0)));
	sqlite3_finalize(st);
	return arr;
}

json_t *builds_of_job(sqlite3 *db, int64_t job, struct err *e)
{
	return query(db, BUILD_COLS " WHERE b.candidate_id = (SELECT candidate_id FROM jobs"
		     " WHERE id = ?) ORDER BY b.id DESC LIMIT 1", job, e);
}
