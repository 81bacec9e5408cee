/* The HTTP API's routes, one table entry each: method, pattern, parameter
 * parser, handler and a line of help. The server (http.c), the `kfarm serve`
 * usage text and the /api index are all generated from it. */
#ifndef KFARM_ROUTES_H
#define KFARM_ROUTES_H

#include "handler.h"
#include "route.h"

#include <stdio.h>

extern const struct route_def routes[];
extern const size_t nroutes;

/* Runs r's handler on the store st (NULL for an RF_NODB route): 0, or -1
 * with out->err set. */
struct store;
int route_run(const struct route *r, struct route_env *env, struct store *st,
	      struct reply *out);

/* The route list for a usage text, one "  METHOD PATTERN  help" line each. */
void routes_usage(FILE *f);

#endif
