/* Read-only queries behind the JSON API and the CLI's status/history/show.
 * Each returns a new JSON value, or NULL with *code set (404 unknown id,
 * 500 database trouble) and a message in err. */
#ifndef KFARM_API_H
#define KFARM_API_H

#include <jansson.h>
#include <sqlite3.h>
#include <stdint.h>

#include "err.h"

/* The latest result per arch x test, job per arch, build per tree x arch x
 * config, and "trees": one card per tree x arch with its latest job (the
 * tree's latest candidate there; null if it has none) and builds. */
json_t *api_status(sqlite3 *db, struct err *e);
char *api_status_text(sqlite3 *db, struct err *e);	/* the same, as JSON text */
json_t *api_runs(sqlite3 *db, int limit, struct err *e);
/* api_runs and api_trend as JSON text (the same shape, written straight:
 * what the server sends), or NULL with e set. */
char *api_runs_text(sqlite3 *db, int limit, struct err *e);
char *api_trend_text(sqlite3 *db, int limit, struct err *e);
json_t *api_run(sqlite3 *db, int64_t id, struct err *e);
json_t *api_job(sqlite3 *db, int64_t id, struct err *e);
/* The job's console log path (from the database, never from the request). */
char *api_job_log_path(sqlite3 *db, int64_t id, struct err *e);
json_t *api_history(sqlite3 *db, const char *arch, const char *test, int limit,
		    struct err *e);

/* Boot seconds of the last `limit` jobs, oldest first. */
json_t *api_trend(sqlite3 *db, int limit, struct err *e);
/* Trees and their candidates in order. */
json_t *api_trees(sqlite3 *db, struct err *e);
char *api_trees_text(sqlite3 *db, struct err *e);	/* the same, as JSON text */

/* A reply written as JSON text, parsed (the CLI's and tests' values, so
 * that the two never differ); consumes text; NULL (e set) if it was. */
json_t *api_parsed(char *text, struct err *e);

#endif
