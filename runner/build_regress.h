/* Build changes: per tree x arch x config, the latest source candidate's
 * build against the previous candidate's (ERROR builds say nothing about
 * the kernel and are left out). PASS -> FAIL is a regression, FAIL -> PASS
 * a fix; objects shaped like regress_query's, with test "build" and the
 * failing side's first error line. */
#ifndef KFARM_BUILD_REGRESS_H
#define KFARM_BUILD_REGRESS_H

#include <jansson.h>
#include <sqlite3.h>
#include <stdint.h>

/* Appends to arr; tree NULL = all trees; run > 0 = only changes whose
 * newer build is in that run. Returns -1 on a database error. */
int build_regress_append(sqlite3 *db, const char *tree, int64_t run, json_t *arr);

#endif
