/* URL routing for the HTTP API: a table of routes (routes.h) and a pure
 * matcher over it, so it can be fuzzed: method + path + query values in, the
 * route with its checked parameters (or a precise error) out. */
#ifndef KFARM_ROUTE_H
#define KFARM_ROUTE_H

#include <stddef.h>
#include <stdint.h>

struct route;
struct route_env;
struct reply;

/* get(name) returns a query parameter's value or NULL. */
typedef const char *(*query_get)(void *data, const char *name);
/* Checks the query parameters into r: 0, or -1 after route_fail(). */
typedef int (*route_params)(struct route *r, query_get get, void *data);
/* Fills the reply: 0, or -1 with out->code and out->msg set. */
typedef int (*route_handler)(const struct route_env *env, const struct route *r,
			     struct reply *out);

#define RF_NODB 1u	/* needs no database (the dashboard's files, the index) */

struct route_def {
	const char *method;	/* "GET" (which serves HEAD too) */
	/* literal segments, and one "{name}": a positive integer id, or (for
	 * {file} only) a file name of the dashboard */
	const char *pattern;
	route_params params;	/* NULL: no query parameters */
	route_handler handler;
	unsigned int flags;
	const char *help;	/* one line: the usage text and /api */
};

struct route {
	const struct route_def *def;	/* NULL: an error */
	int64_t id;		/* the pattern's {name}, when it has one */
	const char *file;	/* {file}: a name without '/' or a leading '.' */
	int limit;
	const char *arch, *test, *tree, *kernel;	/* query values (borrowed) or NULL */
	int code;		/* error: HTTP status */
	const char *error;	/* error: message */
	char msg[64];
};

void route_parse(const struct route_def *tab, size_t n, const char *method, const char *path,
		 query_get get, void *data, struct route *r);
/* Marks r failed with an HTTP status and a static message; returns -1. */
int route_fail(struct route *r, int code, const char *msg);

/* Parameter parsers shared by the table's entries. */
int route_limit(struct route *r, query_get get, void *data);	/* limit */
int route_name(const char *s, size_t max);	/* 1 if [A-Za-z0-9_.:/-]{1,max} */

#endif
