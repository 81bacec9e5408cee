/* The store's inside, shared by store.c (connections, runs, jobs) and
 * store_schema.c (the schema, its migrations and the check that a file's
 * schema is kfarm's). Not for other modules: they use store.h. */
#ifndef KFARM_STORE_INT_H
#define KFARM_STORE_INT_H

#include "store.h"

#include <stddef.h>

struct store_stmt {
	const char *sql;	/* the literal it was prepared from */
	sqlite3_stmt *s;
};

struct store {
	sqlite3 *db;
	struct store_stmt stmts[32];	/* store.c's prep(): prepared once */
	size_t nstmts;
	struct summary *sum;	/* summary.h, prepared at the first job */
	sqlite3_stmt *data_version;	/* store_data_version, prepared at first use */
	char *path;
	char *logs;		/* logdir_of(path) */
	int lock_fd;		/* the flock of this process's run, or -1 */
};

/* Prints SQLite's error for the file (terminal-safe) and returns -1. */
int store_db_error(struct store *st, const char *what);
int store_exec(struct store *st, const char *sql, const char *what);
int store_get_int(struct store *st, const char *sql, int *out);

/* Brings the file to this kfarm's schema version (refused read-only). */
int store_schema_migrate(struct store *st, unsigned int flags);
/* The file's schema must be exactly what the migrations make. */
int store_schema_check(struct store *st);

#endif
