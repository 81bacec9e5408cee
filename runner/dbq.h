/* One statement, run once: prepare, bind by a letter per '?', step. For a
 * module's small queries and writes over the history database (needs only
 * SQLite and util.c, so any module may use it). Errors are printed with
 * error(); prepared statements only. */
#ifndef KFARM_DBQ_H
#define KFARM_DBQ_H

#include <sqlite3.h>
#include <stdint.h>

/* binds: one letter per parameter, in order: 'I' int64_t, 'i' int,
 * 'd' double, 't' const char * (NULL binds NULL). */

/* The first row of sql: 1 with *out on it (read its columns, then
 * sqlite3_finalize), 0 when there is none, -1 on an error. */
int dbq_row(sqlite3 *db, sqlite3_stmt **out, const char *sql, const char *binds, ...);
/* Runs sql to its end: the last insert id (0 if none), -1 on an error,
 * printed as "database: WHAT: reason". */
int64_t dbq_exec(sqlite3 *db, const char *what, const char *sql, const char *binds, ...);

sqlite3_stmt *dbq_prep(sqlite3 *db, const char *sql);
void dbq_bind_text(sqlite3_stmt *s, int i, const char *v);
/* Column i as an allocated string, NULL for SQL NULL. */
char *dbq_col(sqlite3_stmt *s, int i);

#endif
