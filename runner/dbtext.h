/* Text read back from a database, which may have been edited: as JSON, valid
 * UTF-8 always (jansson refuses anything else, and a refused value would
 * silently vanish from its object). */
#ifndef KFARM_DBTEXT_H
#define KFARM_DBTEXT_H

#include <jansson.h>
#include <sqlite3.h>
#include <stddef.h>

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid
 * (overlong, surrogate, above U+10FFFF, truncated). */
size_t dbtext_seq(const unsigned char *s, size_t n);
/* A JSON string of s[0..n), each invalid sequence replaced by U+FFFD.
 * NULL only when out of memory. */
json_t *dbtext_json(const unsigned char *s, size_t n);

/* Repaired copies made for one row, freed together. */
struct dbtext_keep {
	char *p[16];
	int n;
};
/* Column i as a C string of valid UTF-8 (the column's own text, or a
 * repaired copy kept in k), or NULL for SQL NULL. */
const char *dbtext_col(sqlite3_stmt *s, int i, struct dbtext_keep *k);
void dbtext_keep_release(struct dbtext_keep *k);

#endif
