/* Source candidates and their builds in the history database (schema step
 * 2 in store.c), and the read-only queries over them (/api/builds, status). */
#ifndef KFARM_BUILD_DB_H
#define KFARM_BUILD_DB_H

#include "err.h"

#include <jansson.h>
#include <sqlite3.h>
#include <stdint.h>

struct build;
struct source;

/* Finds or adds the source candidate; -1 with e set (as the two below). */
int64_t builddb_source(sqlite3 *db, const struct source *s, struct err *e);
/* Stores a build of source (log_rel: relative to the database's logs/). */
int64_t builddb_store(sqlite3 *db, int64_t run, int64_t source, const struct build *b,
		      const char *log_rel, struct err *e);
/* Ties a build to the candidate that boots its image. */
int builddb_link(sqlite3 *db, int64_t build, int64_t candidate, int64_t source,
		 struct err *e);

/* The latest `limit` builds, newest first, with their sources. */
json_t *api_builds(sqlite3 *db, int limit, struct err *e);
/* The builds of one run, oldest first. */
json_t *builds_of_run(sqlite3 *db, int64_t run, struct err *e);
/* Up to limit warning keys of a build (only the new ones with only_new). */
json_t *build_warnings_of(sqlite3 *db, int64_t build, int only_new, int limit);
/* The build behind a job's candidate ([] for a prebuilt kernel). */
json_t *builds_of_job(sqlite3 *db, int64_t job, struct err *e);
/* The latest build per tree x arch x config. */
json_t *builds_latest(sqlite3 *db, struct err *e);

#endif
