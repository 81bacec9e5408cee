/* One statement, run once: prepare, bind by a letter per '?', step. For a
 * module's small queries and writes over the history database (needs only
 * SQLite, err.c and util.c, so any module may use it). A failure returns -1
 * (or NULL) with "database: ..." in e (err.h; NULL: not told), which comes
 * before the SQL here, as the binds are variadic; prepared statements only. */
#ifndef KFARM_DBQ_H
#define KFARM_DBQ_H

#include "err.h"

#include <sqlite3.h>
#include <stdint.h>

/* binds: one letter per parameter, in order: 'I' int64_t, 'i' int,
 * 'd' double, 't' const char * (NULL binds NULL). */

/* The first row of sql: 1 with *out on it (read its columns, then
 * sqlite3_finalize), 0 when there is none, -1 on an error. */
int dbq_row(sqlite3 *db, struct err *e, sqlite3_stmt **out, const char *sql, const char *binds,
	    ...);
/* Runs sql to its end: the last insert id (0 if none), -1 on an error,
 * set as "database: WHAT: reason". */
int64_t dbq_exec(sqlite3 *db, struct err *e, const char *what, const char *sql,
		 const char *binds, ...);

sqlite3_stmt *dbq_prep(sqlite3 *db, const char *sql, struct err *e);
void dbq_bind_text(sqlite3_stmt *s, int i, const char *v);
/* Column i as an allocated string, NULL for SQL NULL. */
char *dbq_col(sqlite3_stmt *s, int i);

#endif
