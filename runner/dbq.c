#include "dbq.h"
#include "util.h"

#include <stdarg.h>

sqlite3_stmt *dbq_prep(sqlite3 *db, const char *sql, struct err *e)
{
	sqlite3_stmt *s;

	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) {
		err_set(e, 0, "database: %s", sqlite3_errmsg(db));
		return NULL;
	}
	return s;
}

void dbq_bind_text(sqlite3_stmt *s, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(s, i);
}

char *dbq_col(sqlite3_stmt *s, int i)
{
	const unsigned char *t = sqlite3_column_text(s, i);

	return t ? xstrdup((const char *)t) : NULL;
}

static sqlite3_stmt *prep_bind(sqlite3 *db, struct err *e, const char *sql, const char *binds,
				va_list ap)
{
	sqlite3_stmt *s = dbq_prep(db, sql, e);

	for (int i = 1; s && binds[i - 1]; i++) {
		switch (binds[i - 1]) {
		case 'I': sqlite3_bind_int64(s, i, va_arg(ap, int64_t)); break;
		case 'i': sqlite3_bind_int(s, i, va_arg(ap, int)); break;
		case 'd': sqlite3_bind_double(s, i, va_arg(ap, double)); break;
		case 't': dbq_bind_text(s, i, va_arg(ap, const char *)); break;
		default: die("dbq: bind letter '%c'", binds[i - 1]);
		}
	}
	return s;
}

int dbq_row(sqlite3 *db, struct err *e, sqlite3_stmt **out, const char *sql, const char *binds,
	    ...)
{
	va_list ap;
	int rc;

	va_start(ap, binds);
	*out = prep_bind(db, e, sql, binds, ap);
	va_end(ap);
	if (!*out)
		return -1;
	rc = sqlite3_step(*out);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc != SQLITE_DONE)
		err_set(e, 0, "database: %s", sqlite3_errmsg(db));
	sqlite3_finalize(*out);
	*out = NULL;
	return rc == SQLITE_DONE ? 0 : -1;
}

int64_t dbq_exec(sqlite3 *db, struct err *e, const char *what, const char *sql,
		 const char *binds, ...)
{
	sqlite3_stmt *s;
	va_list ap;
	int rc;

	va_start(ap, binds);
	s = prep_bind(db, e, sql, binds, ap);
	va_end(ap);
	if (!s)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		;
	if (rc != SQLITE_DONE)
		err_set(e, 0, "database: %s: %s", what, sqlite3_errmsg(db));
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? sqlite3_last_insert_rowid(db) : -1;
}
