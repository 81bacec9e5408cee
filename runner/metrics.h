/* /metrics: the history summarised in Prometheus' text exposition format. */
#ifndef KFARM_METRICS_H
#define KFARM_METRICS_H

#include "api.h"

/* A malloc'd text body, or NULL with e filled. */
char *metrics_text(sqlite3 *db, struct err *e);

#endif
