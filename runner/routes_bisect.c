/* /api/bisections: every bisection newest first, and one with its steps
 * (bisect_db.c's queries). */
#include "routes_bisect.h"
#include "handler.h"
#include "bisect_db.h"

int route_bisections(const struct route_env *env, const struct route *r, struct reply *out)
{
	out->json = bisect_api_list(env->db, r->limit, &out->err);
	return out->json ? 0 : -1;
}

int route_bisection(const struct route_env *env, const struct route *r, struct reply *out)
{
	out->json = bisect_api_one(env->db, r->id, &out->err);
	return out->json ? 0 : -1;
}
