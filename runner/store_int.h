/* The store's inside, shared by store.c (connections, the statement
 * helpers below), store_run.c (runs and their locks), store_job.c
 * (candidates, jobs and their results) and store_schema.c (the schema, its
 * migrations and the check that a file's schema is kfarm's). Not for other
 * modules: they use store.h. */
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

/* SQLite's error for the file (terminal-safe) into e; returns -1. */
int store_db_error(struct store *st, const char *what, struct err *e);
int store_exec(struct store *st, const char *sql, const char *what, struct err *e);
int store_get_int(struct store *st, const char *sql, int *out, struct err *e);

/* A statement prepared once per store and kept (sql must be a literal: it
 * is keyed by its address); NULL with e set. store_done resets it for its
 * next use. */
sqlite3_stmt *store_prep(struct store *st, const char *sql, struct err *e);
void store_done(struct store *st, sqlite3_stmt *s);
/* Binds v, or NULL; _guest: text from the guest, QEMU or a remote host,
 * stored as valid UTF-8 only. */
void store_bind_text(sqlite3_stmt *s, int i, const char *v);
void store_bind_guest(sqlite3_stmt *s, int i, const char *v);
/* Steps s to completion and store_done()s it: 0 on SQLITE_DONE, else -1
 * with SQLite's error (what failed) in e. */
int store_step_done(struct store *st, sqlite3_stmt *s, const char *what, struct err *e);

/* Brings the file to this kfarm's schema version (refused read-only). */
int store_schema_migrate(struct store *st, unsigned int flags, struct err *e);
/* The file's schema must be exactly what the migrations make. */
int store_schema_check(struct store *st, struct err *e);

#endif
