/* The HTTP API's routes, one table entry each: method, pattern, parameter
 * parser, handler and a line of help. The server (http.c), the `kfarm serve`
 * usage text and the /api index are all generated from it. */
#ifndef KFARM_ROUTES_H
#define KFARM_ROUTES_H

#include "api.h"
#include "route.h"

#include <stdio.h>

extern const struct route_def routes[];
extern const size_t nroutes;

/* What a handler may use: the thread's read-only connection (NULL for
 * RF_NODB routes; set by route_run from the store), the database's path,
 * the dashboard's files. */
struct route_env {
	sqlite3 *db;
	const char *db_path;
	const char *web_dir;
	char *const *files;	/* NULL-terminated, listed at start */
};

/* A handler's answer: one of json, text or fd (owned by the reply until
 * sent), or err when the handler returned -1. */
struct reply {
	const char *type;	/* Content-Type of text or fd */
	json_t *json;
	char *text;
	int fd;			/* -1: none; its last max bytes are sent */
	size_t max;
	struct api_err err;
};

/* Runs r's handler on the store st (NULL for an RF_NODB route): 0, or -1
 * with out->err set. */
struct store;
int route_run(const struct route *r, struct route_env *env, struct store *st,
	      struct reply *out);

/* The route list for a usage text, one "  METHOD PATTERN  help" line each. */
void routes_usage(FILE *f);

#endif
