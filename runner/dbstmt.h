/* The read side's statements, kept per connection: a route's reply after a
 * commit runs the same few queries again, and preparing them (parsing and
 * planning SQL over kfarm's schema) was a fifth of its time. Keyed by the
 * connection and the SQL text's address: sql must be a literal. A kept
 * statement is handed to one user at a time (a nested use of the same SQL
 * gets one of its own, finalized after). Thread-safe. */
#ifndef KFARM_DBSTMT_H
#define KFARM_DBSTMT_H

#include <sqlite3.h>

/* sql prepared on db (kept, or afresh); NULL with the error left in db. */
sqlite3_stmt *dbstmt_get(sqlite3 *db, const char *sql);
/* Done with s (from dbstmt_get): reset and kept, or finalized. */
void dbstmt_put(sqlite3_stmt *s);
/* Finalizes db's kept statements: before the connection is closed. */
void dbstmt_forget(sqlite3 *db);

#endif
