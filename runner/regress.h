/* Regressions: for every tree x arch x test, the latest candidate compared
 * with the one before it in the same tree. A candidate's status for a test is
 * the agreement of all its (non-infrastructure) jobs; when they disagree the
 * test is FLAKY for that candidate, and that is reported instead of a
 * regression. Infrastructure errors never create regressions. */
#ifndef KFARM_REGRESS_H
#define KFARM_REGRESS_H

#include "api.h"
#include "history.h"

/* The change from one status to another (history.h's words); a status
 * kfarm does not know is a change when it differs. */
enum change_kind regress_kind(const char *from, const char *to);

/* {"regressions": [...]} for one tree (NULL: all); with run > 0, the
 * changes brought by that run's candidates, else each tree's latest. */
json_t *regress_query(sqlite3 *db, const char *tree, int64_t run, struct err *e);
/* Each tree's latest changes counted by kind (what /metrics reports): 0, or
 * -1 with e set, as regress_query would fail. */
int regress_count(sqlite3 *db, int counts[CH_COUNT], struct err *e);
/* The matrix of one tree's candidate (latest per arch when kernel is NULL). */
json_t *regress_matrix(sqlite3 *db, const char *tree, const char *kernel, struct err *e);
/* The same as JSON text, written straight (what the server sends). */
char *regress_matrix_text(sqlite3 *db, const char *tree, const char *kernel, struct err *e);

#endif
