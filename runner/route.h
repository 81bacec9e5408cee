/* URL routing for the HTTP API, as a pure function so it can be fuzzed:
 * method + path + query values in, a route (or a precise error) out. */
#ifndef KFARM_ROUTE_H
#define KFARM_ROUTE_H

#include <stdint.h>

enum route_kind {
	RT_STATUS, RT_RUNS, RT_RUN, RT_JOB, RT_JOB_LOG, RT_HISTORY, RT_STATIC,
	RT_REGRESSIONS, RT_TREND, RT_TREES, RT_MATRIX, RT_METRICS,
	RT_ERROR,
};

struct route {
	enum route_kind kind;
	int64_t id;		/* RT_RUN, RT_JOB, RT_JOB_LOG */
	int limit;		/* RT_RUNS, RT_HISTORY */
	const char *arch;	/* RT_HISTORY filters (borrowed), or NULL */
	const char *test;
	const char *tree;	/* RT_REGRESSIONS, RT_MATRIX */
	const char *kernel;	/* RT_MATRIX */
	const char *file;	/* RT_STATIC: a file name without '/' (borrowed) */
	int code;		/* RT_ERROR: HTTP status */
	const char *error;	/* RT_ERROR: message */
};

/* get(name) returns a query parameter's value or NULL. */
typedef const char *(*query_get)(void *data, const char *name);

void route_parse(const char *method, const char *path, query_get get, void *data,
		 struct route *r);

#endif
