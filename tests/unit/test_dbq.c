/* dbq: a row, no row and an error are told apart; every bind letter binds
 * its type (NULL text as SQL NULL); exec returns the insert id or -1; an
 * error comes back in struct err. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "../../runner/dbq.h"

static void test_row_exec(void **state)
{
	struct err e = { 0 };
	sqlite3 *db;
	sqlite3_stmt *s;

	(void)state;
	assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
	assert_int_equal(dbq_exec(db, NULL, "create", "CREATE TABLE t (a INTEGER, b INTEGER,"
				  " c REAL, d TEXT)", ""), 0);
	assert_int_equal(dbq_exec(db, NULL, "insert", "INSERT INTO t VALUES (?, ?, ?, ?)", "Iidt",
				  (int64_t)1 << 40, 7, 2.5, "x"), 1);
	assert_int_equal(dbq_exec(db, NULL, "insert", "INSERT INTO t VALUES (?, ?, ?, ?)", "Iidt",
				  (int64_t)-3, -1, 0.0, (const char *)NULL), 2);
	assert_int_equal(dbq_row(db, NULL, &s, "SELECT b, c, d FROM t WHERE a = ?", "I",
				 (int64_t)1 << 40), 1);
	assert_int_equal(sqlite3_column_int(s, 0), 7);
	assert_true(sqlite3_column_double(s, 1) == 2.5);
	assert_string_equal((const char *)sqlite3_column_text(s, 2), "x");
	sqlite3_finalize(s);
	assert_int_equal(dbq_row(db, NULL, &s, "SELECT a FROM t WHERE d IS ? AND b = ?", "ti",
				 (const char *)NULL, -1), 1);
	assert_int_equal(sqlite3_column_int64(s, 0), -3);
	assert_null(dbq_col(s, 1));	/* no such column: NULL */
	sqlite3_finalize(s);
	assert_int_equal(dbq_row(db, NULL, &s, "SELECT a FROM t WHERE a = ?", "I", (int64_t)5), 0);
	assert_null(s);
	/* an error is said in e, not printed */
	assert_int_equal(dbq_row(db, &e, &s, "SELECT nosuch FROM t", ""), -1);
	assert_string_equal(e.msg, "database: no such column: nosuch");
	assert_int_equal(dbq_exec(db, &e, "insert", "INSERT INTO nosuch VALUES (1)", ""), -1);
	assert_string_equal(e.msg, "database: no such table: nosuch");
	/* a constraint failing while stepping is an error too */
	assert_true(dbq_exec(db, NULL, "create", "CREATE TABLE u (k INTEGER PRIMARY KEY)", "") >= 0);
	assert_int_equal(dbq_exec(db, NULL, "insert", "INSERT INTO u VALUES (?)", "i", 1), 1);
	assert_int_equal(dbq_exec(db, &e, "insert", "INSERT INTO u VALUES (?)", "i", 1), -1);
	assert_string_equal(e.msg, "database: insert: UNIQUE constraint failed: u.k");
	sqlite3_close(db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_row_exec),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
