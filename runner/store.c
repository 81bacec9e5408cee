#include "store.h"
#include "store_int.h"
#include "dbstmt.h"
#include "dbtext.h"
#include "logdir.h"
#include "summary.h"
#include "text.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* SQLite's message can quote the file's schema text: controls (C0, DEL,
 * C1) and bytes that are not UTF-8 become '?' before a terminal sees them. */
static const char *errmsg(struct store *st, char out[512])
{
	const unsigned char *m = (const unsigned char *)sqlite3_errmsg(st->db);
	size_t n = m ? strlen((const char *)m) : 0, o = 0, k;

	for (size_t i = 0; i < n && o + 4 < 512; i += k ? k : 1) {
		k = dbtext_seq(m + i, n - i);
		if (!k || m[i] < 0x20 || m[i] == 0x7f || (k == 2 && m[i] == 0xc2 && m[i + 1] < 0xa0))
			out[o++] = '?';
		else
			memcpy(out + o, m + i, k), o += k;
	}
	out[o] = '\0';
	return out;
}

int store_db_error(struct store *st, const char *what, struct err *e)
{
	int code = sqlite3_errcode(st->db);
	char m[512];

	if (code == SQLITE_NOTADB || code == SQLITE_CORRUPT)
		return err_set(e, 0, "database '%s' is corrupt or not a database: %s", st->path,
			       errmsg(st, m));
	if (code == SQLITE_READONLY)
		return err_set(e, 0, "database '%s' is read-only: %s", st->path,
			       errmsg(st, m));
	if (code == SQLITE_FULL || sqlite3_system_errno(st->db) == ENOSPC)
		return err_set(e, 0, "database '%s': disk full (no space left on device): %s",
			       st->path, errmsg(st, m));
	if (code == SQLITE_BUSY || code == SQLITE_LOCKED)
		return err_set(e, 0, "database '%s' is locked by another writer: %s", st->path,
			       errmsg(st, m));
	return err_set(e, 0, "database '%s': %s: %s", st->path, what, errmsg(st, m));
}

int store_exec(struct store *st, const char *sql, const char *what, struct err *e)
{
	if (sqlite3_exec(st->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return store_db_error(st, what, e);
	return 0;
}

int store_get_int(struct store *st, const char *sql, int *out, struct err *e)
{
	sqlite3_stmt *s;
	int rc;

	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
		return store_db_error(st, "cannot read schema", e);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	if (rc != SQLITE_ROW)
		return store_db_error(st, "cannot read schema", e);
	return 0;
}

/* A database can be shared, copied or edited: nothing in the file may run
 * code or get around the schema (defensive mode, untrusted schema), and no
 * value is large enough to exhaust memory. Readers also ignore the file's
 * triggers and views: kfarm reads tables only. */
static int harden(struct store *st, unsigned int flags, struct err *e)
{
	int ro = !!(flags & STORE_READONLY), ok = 1;

	ok &= sqlite3_db_config(st->db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL) == SQLITE_OK;
	ok &= sqlite3_db_config(st->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, (int *)NULL) ==
	      SQLITE_OK;
	ok &= sqlite3_db_config(st->db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, (int *)NULL) ==
	      SQLITE_OK;
	if (ro) {
		ok &= sqlite3_db_config(st->db, SQLITE_DBCONFIG_ENABLE_TRIGGER, 0, (int *)NULL) ==
		      SQLITE_OK;
		ok &= sqlite3_db_config(st->db, SQLITE_DBCONFIG_ENABLE_VIEW, 0, (int *)NULL) ==
		      SQLITE_OK;
	}
	if (!ok)
		return err_set(e, 0, "database '%s': cannot enable SQLite's defensive mode",
			       st->path);
	sqlite3_limit(st->db, SQLITE_LIMIT_LENGTH, 16 << 20);
	return store_exec(st, "PRAGMA trusted_schema = OFF", "cannot distrust the schema", e);
}

struct store *store_open(const char *path, unsigned int flags, struct err *e)
{
	struct store *st = xcalloc(1, sizeof(*st));
	int oflags = (flags & STORE_READONLY) ? SQLITE_OPEN_READONLY
					      : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;

	st->path = xstrdup(path);
	st->logs = logdir_of(path);
	st->lock_fd = -1;
	if (sqlite3_open_v2(path, &st->db, oflags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		err_set(e, 0, "cannot open database '%s': %s", path,
			st->db ? sqlite3_errmsg(st->db) : "out of memory");
		goto err;
	}
	sqlite3_extended_result_codes(st->db, 0);
	sqlite3_busy_timeout(st->db, (flags & STORE_SERVE) ? 2000 : 5000);
	if (harden(st, flags, e))
		goto err;
	if (!(flags & STORE_READONLY) && sqlite3_db_readonly(st->db, "main") == 1) {
		err_set(e, 0, "database '%s' is read-only", path);
		goto err;
	}
	/* touch the file: a corrupt header shows up here, before anything else */
	int dummy;
	if (store_get_int(st, "PRAGMA schema_version", &dummy, e))
		goto err;
	if (!(flags & STORE_READONLY)) {
		if (store_exec(st, "PRAGMA journal_mode = WAL", "cannot enable WAL", e) ||
		    store_exec(st, "PRAGMA synchronous = NORMAL", "cannot set synchronous", e) ||
		    store_exec(st, "PRAGMA foreign_keys = ON", "cannot enable foreign keys", e))
			goto err;
	}
	if (store_schema_migrate(st, flags, e) || store_schema_check(st, e))
		goto err;
	return st;
err:
	store_close(st);
	return NULL;
}

void store_close(struct store *st)
{
	if (!st)
		return;
	for (size_t i = 0; i < st->nstmts; i++)
		sqlite3_finalize(st->stmts[i].s);
	summary_free(st->sum);
	sqlite3_finalize(st->data_version);
	dbstmt_forget(st->db);
	sqlite3_close(st->db);
	if (st->lock_fd >= 0)
		close(st->lock_fd);
	free(st->path);
	free(st->logs);
	free(st);
}

sqlite3 *store_db(struct store *st)
{
	return st->db;
}

const char *store_path(struct store *st)
{
	return st->path;
}

long long store_data_version(struct store *st)
{
	long long v = -1;

	if (!st->data_version && sqlite3_prepare_v3(st->db, "PRAGMA data_version", -1,
						    SQLITE_PREPARE_PERSISTENT, &st->data_version,
						    NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st->data_version) == SQLITE_ROW)
		v = sqlite3_column_int64(st->data_version, 0);
	sqlite3_reset(st->data_version);
	return v;
}

void store_interrupt(struct store *st)
{
	sqlite3_interrupt(st->db);
}

/* The store's statements, prepared once per store and kept: a run stores
 * thousands of jobs with the same dozen statements. Keyed by the SQL text's
 * address (each a literal at one call site). STORE_PREPARE_EACH builds the
 * old way, one prepare per use, for make bench's before/after figure. */
sqlite3_stmt *store_prep(struct store *st, const char *sql, struct err *e)
{
	sqlite3_stmt *s;
	size_t i;

#ifndef STORE_PREPARE_EACH
	for (i = 0; i < st->nstmts; i++)
		if (st->stmts[i].sql == sql) {
			sqlite3_clear_bindings(st->stmts[i].s);
			return st->stmts[i].s;
		}
#endif
	if (sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL) !=
	    SQLITE_OK) {
		store_db_error(st, "cannot prepare statement", e);
		return NULL;
	}
#ifndef STORE_PREPARE_EACH
	if (st->nstmts < ARRAY_SIZE(st->stmts))
		st->stmts[st->nstmts++] = (struct store_stmt){ sql, s };
#endif
	(void)i;
	return s;
}

/* A statement from prep() is finished with: reset for its next use. */
void store_done(struct store *st, sqlite3_stmt *s)
{
	for (size_t i = 0; i < st->nstmts; i++)
		if (st->stmts[i].s == s) {
			sqlite3_reset(s);
			return;
		}
	sqlite3_finalize(s);
}

void store_bind_text(sqlite3_stmt *s, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(s, i);
}

/* Text from the guest, QEMU or a remote host: stored as valid UTF-8 only. */
void store_bind_guest(sqlite3_stmt *s, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(s, i, text_clip_utf8(v, strlen(v), SIZE_MAX), -1, free);
	else
		sqlite3_bind_null(s, i);
}

/* Steps a statement to completion; returns 0 on SQLITE_DONE. */
int store_step_done(struct store *st, sqlite3_stmt *s, const char *what, struct err *e)
{
	int rc = sqlite3_step(s);

	if (rc != SQLITE_DONE) {
		store_db_error(st, what, e);	/* before the reset: its message */
		store_done(st, s);
		return -1;
	}
	store_done(st, s);
	return 0;
}
