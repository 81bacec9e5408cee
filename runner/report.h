/* What one run (or a tree's latest candidate per arch) found, gathered from
 * the store into one JSON value and rendered as the plain text a maintainer
 * pastes into a stable-review reply (totals first, one line per failure) or
 * as Markdown. Read-only; every column is checked for NULL and type, and
 * every guest- or database-derived string is rendered without control bytes. */
#ifndef KFARM_REPORT_H
#define KFARM_REPORT_H

#include "api.h"

#include <stdint.h>

enum report_format { RF_TEXT, RF_MARKDOWN };

/* run > 0: that run's jobs; else tree's latest candidate per arch. NULL with
 * e set (404: no such run, or a tree without candidates). */
json_t *report_build(sqlite3 *db, int64_t run, const char *tree, struct err *e);
/* The report as text; the caller frees it. */
char *report_render(json_t *r, enum report_format fmt);
/* "TREE RELEASE" of the report's first candidate, safe for a header. */
char *report_title(json_t *r);

#endif
