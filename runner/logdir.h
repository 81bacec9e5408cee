/* Console logs belong to their database: <db>.logs/run-N/, so two databases
 * in one directory never share (or show each other's) logs. Rows store log
 * names relative to that directory. A database can be copied or edited, so
 * opening a log a row names is confined: a regular file under the logs
 * directory only, never through a symlink or "..", never blocking (FIFO). */
#ifndef KFARM_LOGDIR_H
#define KFARM_LOGDIR_H

#include "err.h"

#include <stdint.h>

/* "<db>.logs", malloc'd. */
char *logdir_of(const char *db_path);
/* "<db>.logs/run-N", malloc'd. */
char *logdir_run(const char *db_path, int64_t run);
/* The name to store for a log at path: the part under logs_dir, or NULL. */
const char *logdir_name(const char *logs_dir, const char *path);

/* Opens a name read from a row, read-only, O_CLOEXEC. Relative names are
 * under <db>.logs; absolute ones (rows of older kfarms) only if they lie under
 * <db>.logs or the old shared <dir of db>/logs. Returns the fd, or -1 with
 * e->code 403 (refused), 404 (absent) or 500 and the reason in e->msg. */
int logdir_open(const char *db_path, const char *name, struct err *e);

#endif
