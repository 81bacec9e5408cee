/* The table of routes and their handlers. To add a route: one entry here
 * (and its query in api.c); first match wins, the dashboard's files last. */
#include "routes.h"
#include "api_facts.h"
#include "build_regress.h"
#include "build_db.h"
#include "logdir.h"
#include "metrics.h"
#include "regress.h"
#include "routes_bisect.h"
#include "store.h"
#include "util.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_LOG_BYTES (64u << 20)
#define MAX_FILE_BYTES (16u << 20)

static int json_reply(struct reply *out, json_t *v)
{
	out->json = v;
	return v ? 0 : -1;
}

/* a large reply's JSON written straight, not built as values first */
static int text_reply(struct reply *out, char *json)
{
	out->text = json;
	out->type = "application/json";
	return json ? 0 : -1;
}

static int p_history(struct route *r, query_get get, void *data)
{
	r->arch = get(data, "arch");
	r->test = get(data, "test");
	if (r->arch && !route_name(r->arch, 64))
		return route_fail(r, 400, "arch must be a short name of [A-Za-z0-9_.-]");
	if (r->test && !route_name(r->test, 256))
		return route_fail(r, 400, "test must be a name of [A-Za-z0-9_.:/-]");
	return route_limit(r, get, data);
}

/* tree for both; kernel for the matrix only (refused by /api/regressions) */
static int p_tree_kernel(struct route *r, query_get get, void *data, int kernel_ok)
{
	r->tree = get(data, "tree");
	r->kernel = get(data, "kernel");
	if (r->tree && !route_name(r->tree, 128))
		return route_fail(r, 400, "tree must be a name of [A-Za-z0-9_.:/-]");
	if (r->kernel && (!kernel_ok || !route_name(r->kernel, 256)))
		return route_fail(r, 400, "kernel must be a name of [A-Za-z0-9_.:/-]");
	return 0;
}

static int p_regressions(struct route *r, query_get get, void *data)
{
	return p_tree_kernel(r, get, data, 0);
}

static int p_matrix(struct route *r, query_get get, void *data)
{
	return p_tree_kernel(r, get, data, 1);
}

static int h_status(const struct route_env *env, const struct route *r, struct reply *out)
{
	(void)r;
	return text_reply(out, api_status_text(env->db, &out->err));
}

static int h_runs(const struct route_env *env, const struct route *r, struct reply *out)
{
	return text_reply(out, api_runs_text(env->db, r->limit, &out->err));
}

static int h_run(const struct route_env *env, const struct route *r, struct reply *out)
{
	return json_reply(out, api_run(env->db, r->id, &out->err));
}

static int h_job(const struct route_env *env, const struct route *r, struct reply *out)
{
	return json_reply(out, api_job(env->db, r->id, &out->err));
}

/* The job's console log, confined to the database's logs directory. */
static int h_job_log(const struct route_env *env, const struct route *r, struct reply *out)
{
	char *name = api_job_log_path(env->db, r->id, &out->err);

	if (!name)
		return -1;
	out->fd = logdir_open(env->db_path, name, &out->err);
	free(name);
	if (out->fd < 0)
		return err_prefix(&out->err, "job %lld: ", (long long)r->id);
	out->type = "text/plain; charset=utf-8";
	out->max = MAX_LOG_BYTES;
	return 0;
}

static int h_history(const struct route_env *env, const struct route *r, struct reply *out)
{
	return json_reply(out, api_history(env->db, r->arch, r->test, r->limit, &out->err));
}

static int h_regressions(const struct route_env *env, const struct route *r,
			 struct reply *out)
{
	json_t *v = regress_query(env->db, r->tree, 0, &out->err);

	/* builds too: PASS -> FAIL is a regression, new warnings a change */
	if (v && build_regress_append(env->db, r->tree, 0, json_object_get(v, "regressions"))) {
		json_decref(v);
		err_set(&out->err, 500, "database query failed (builds)");
		return -1;
	}
	return json_reply(out, v);
}

static int h_matrix(const struct route_env *env, const struct route *r, struct reply *out)
{
	return text_reply(out, regress_matrix_text(env->db, r->tree, r->kernel, &out->err));
}

static int h_trend(const struct route_env *env, const struct route *r, struct reply *out)
{
	return text_reply(out, api_trend_text(env->db, r->limit, &out->err));
}

static int h_trees(const struct route_env *env, const struct route *r, struct reply *out)
{
	(void)r;
	return text_reply(out, api_trees_text(env->db, &out->err));
}

static int h_builds(const struct route_env *env, const struct route *r, struct reply *out)
{
	return json_reply(out, api_builds(env->db, r->limit, &out->err));
}

/* limit: jobs looked at, 1..500 (default 100). At 1M results, 1000 jobs'
 * facts took 5.1 ms p99 of server CPU after a commit (routes.sh), over the
 * routes' 5 ms; the rows are candidates, a few hundred are a long table. */
static int p_facts(struct route *r, query_get get, void *data)
{
	if (p_tree_kernel(r, get, data, 0) || route_limit(r, get, data))
		return -1;
	if (r->limit > 500)
		return route_fail(r, 400, "limit must be an integer 1..500");
	if (!get(data, "limit"))
		r->limit = 100;
	return 0;
}

static int h_facts(const struct route_env *env, const struct route *r, struct reply *out)
{
	return json_reply(out, api_facts(env->db, r->tree, r->limit, &out->err));
}

static int h_metrics(const struct route_env *env, const struct route *r, struct reply *out)
{
	(void)r;
	out->text = metrics_text(env->db, &out->err);
	out->type = "text/plain; version=0.0.4";
	return out->text ? 0 : -1;
}

/* /api: this table, so a client (or a person with curl) can see what there is */
static int h_index(const struct route_env *env, const struct route *r, struct reply *out)
{
	json_t *v = json_array();

	(void)env;
	(void)r;
	for (size_t i = 0; i < nroutes; i++)
		json_array_append_new(v, json_pack("{s:s,s:s,s:s}", "method", routes[i].method,
						   "pattern", routes[i].pattern, "help",
						   routes[i].help));
	return json_reply(out, v);
}

static const char *mime(const char *file)
{
	static const char *const types[][2] = {
		{ ".html", "text/html; charset=utf-8" },
		{ ".js", "text/javascript; charset=utf-8" },
		{ ".css", "text/css; charset=utf-8" },
		{ ".svg", "image/svg+xml" },
		{ ".png", "image/png" },
	};
	const char *dot = strrchr(file, '.');

	for (size_t i = 0; dot && i < ARRAY_SIZE(types); i++)
		if (!strcmp(dot, types[i][0]))
			return types[i][1];
	return "application/octet-stream";
}

/* Only the files listed at start, never a name from the request as a path. */
static int h_file(const struct route_env *env, const struct route *r, struct reply *out)
{
	const char *want = r->file ? r->file : "index.html";

	for (char *const *f = env->files; f && *f; f++)
		if (!strcmp(*f, want)) {
			char *path = xasprintf("%s/%s", env->web_dir, *f);

			out->fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
			free(path);
			out->type = mime(*f);
			out->max = MAX_FILE_BYTES;
			if (out->fd >= 0)
				return 0;
			err_set(&out->err, 404, "file not found");
			return -1;
		}
	err_set(&out->err, 404, "not found");
	return -1;
}

const struct route_def routes[] = {
	{ "GET", "/api", NULL, h_index, RF_NODB, "this list of routes, as JSON" },
	{ "GET", "/api/status", NULL, h_status, 0,
	  "latest result per arch x test and job per arch" },
	{ "GET", "/api/runs", route_limit, h_runs, 0, "the latest runs (?limit=1..1000)" },
	{ "GET", "/api/runs/{run}", NULL, h_run, 0, "one run and its jobs" },
	{ "GET", "/api/jobs/{job}", NULL, h_job, 0, "one job and its results" },
	{ "GET", "/api/jobs/{job}/log", NULL, h_job_log, 0, "the job's console log (its tail)" },
	{ "GET", "/api/history", p_history, h_history, 0,
	  "past results (?arch=&test=&limit=)" },
	{ "GET", "/api/regressions", p_regressions, h_regressions, 0,
	  "changes in each tree's last two candidates (?tree=)" },
	{ "GET", "/api/matrix", p_matrix, h_matrix, 0,
	  "arch x test results of a candidate (?tree=&kernel=)" },
	{ "GET", "/api/trend", route_limit, h_trend, 0, "boot times of the last jobs (?limit=)" },
	{ "GET", "/api/trees", NULL, h_trees, 0, "the trees and their candidates" },
	{ "GET", "/api/builds", route_limit, h_builds, 0,
	  "source candidates' builds, newest first (?limit=)" },
	{ "GET", "/api/facts", p_facts, h_facts, 0,
	  "what each candidate's guest said of itself (CPUs, preemption, io_uring) and what"
	  " changed (?tree=&limit=1..500)" },
	{ "GET", "/api/bisections", route_limit, route_bisections, 0,
	  "bisections, newest first, with their culprits (?limit=)" },
	{ "GET", "/api/bisections/{id}", NULL, route_bisection, 0,
	  "one bisection and its steps" },
	{ "GET", "/metrics", NULL, h_metrics, 0, "Prometheus metrics" },
	{ "GET", "/", NULL, h_file, RF_NODB, "the dashboard" },
	{ "GET", "/{file}", NULL, h_file, RF_NODB, "the dashboard's files" },
};
const size_t nroutes = ARRAY_SIZE(routes);

int route_run(const struct route *r, struct route_env *env, struct store *st,
	      struct reply *out)
{
	env->db = st ? store_db(st) : NULL;
	return r->def->handler(env, r, out);
}

void routes_usage(FILE *f)
{
	for (size_t i = 0; i < nroutes; i++)
		fprintf(f, "  %-4s %-21s %s\n", routes[i].method, routes[i].pattern,
			routes[i].help);
}
