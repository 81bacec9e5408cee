/* A build's compiler warnings as comparable keys, and which of them are new
 * against the earlier candidates of the same tree x arch x config (stored in
 * build_warnings, schema step 8). A key is "FILE: warning: TEXT": line and
 * column dropped (an edit above a warning does not make it new) and the
 * source tree's prefix dropped, as images/kernel.sh does for the first error.
 * Earlier builds are taken together: an incremental build's log holds only
 * the warnings of the files it recompiled. */
#ifndef KFARM_BUILD_WARN_H
#define KFARM_BUILD_WARN_H

#include "err.h"

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#define BUILD_WARN_MAX 1000	/* keys kept per build */

struct warn_list {
	char **v;		/* unique, in log order */
	size_t n;
};

/* Parses a log's text; src (or NULL) is the source tree the paths start with. */
void build_warn_parse(const char *text, size_t len, const char *src, struct warn_list *w);
void warn_list_release(struct warn_list *w);

/* Stores the warnings of build (tree, arch, config, from log_path, a file in
 * the cache, or NULL), each flagged new or not, and build_warn_sum.new_warnings (NULL
 * when no earlier build of that tree x arch x config has its warnings stored).
 * Returns -1 with the error in e. */
int build_warn_store(sqlite3 *db, int64_t build, const char *tree, const char *arch,
		     const char *config, const char *log_path, const char *src, struct err *e);

#endif
