/* The bisections' routes (/api/bisections, /api/bisections/{id}): handlers
 * for entries of routes.c's table, kept apart from the shared file. */
#ifndef KFARM_ROUTES_BISECT_H
#define KFARM_ROUTES_BISECT_H

#include "route.h"

int route_bisections(const struct route_env *env, const struct route *r, struct reply *out);
int route_bisection(const struct route_env *env, const struct route *r, struct reply *out);

#endif
