/* JSON written straight into a buffer, for the replies too large to build
 * as jansson values first (a value per cell costs more than the query):
 * the same text jansson's JSON_COMPACT dump gives for the same values, and
 * text from the database always valid UTF-8 (dbtext.h's repair). */
#ifndef KFARM_JSONW_H
#define KFARM_JSONW_H

#include "util.h"

#include <sqlite3.h>
#include <stdint.h>
#include <stddef.h>

/* A JSON string of s[0..n) (NULL: null), invalid UTF-8 as U+FFFD. */
void jsonw_str(struct sb *sb, const char *s, size_t n);
void jsonw_strz(struct sb *sb, const char *s);
void jsonw_real(struct sb *sb, double v);
void jsonw_int(struct sb *sb, int64_t v);
/* Column i as JSON: integer, real, text (all its bytes) or null. */
void jsonw_col(struct sb *sb, sqlite3_stmt *s, int i);
/* Every row of s as an object keyed by column name, as an array: the
 * SQLite result code that ended it (SQLITE_DONE when all went well). */
int jsonw_rows(struct sb *sb, sqlite3_stmt *s);

#endif
