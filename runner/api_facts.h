/* /api/facts: what each candidate's guest said of itself (sysinfo's notes:
 * CPUs, preemption model, io_uring), so that a changed default (7.0's lazy
 * preemption, io_uring switched off) shows as a change and not as one more
 * PASS. */
#ifndef KFARM_API_FACTS_H
#define KFARM_API_FACTS_H

#include <jansson.h>
#include <sqlite3.h>

#include "err.h"

/* Of the last `limit` jobs (tree: that tree's only), the latest per
 * candidate x variant, oldest first: {"facts": [names], "rows": [{job, tree,
 * kernel, arch, variant, release, facts: {name: note}, changed: {name:
 * previous note}}]}; a fact is changed against the previous row of the same
 * tree x arch x variant with a different value (the note before its " ("
 * evidence). NULL with e set (500) on database trouble. */
json_t *api_facts(sqlite3 *db, const char *tree, int limit, struct err *e);

#endif
