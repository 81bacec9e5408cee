#include "route.h"

#include <stdlib.h>
#include <string.h>

#define LIMIT_DEFAULT 50
#define LIMIT_MAX 1000

static void err(struct route *r, int code, const char *msg)
{
	r->kind = RT_ERROR;
	r->code = code;
	r->error = msg;
}

/* A decimal id 1..2^53 with nothing else; returns 0 if invalid. */
static int64_t parse_id(const char *s, size_t len)
{
	int64_t v = 0;

	if (!len || len > 15 || *s == '0')
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

static int name_ok(const char *s, size_t max)
{
	size_t n = 0;

	for (; *s; s++, n++)
		if (n >= max || !((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
				  (*s >= '0' && *s <= '9') || strchr("_-.:/", *s)))
			return 0;
	return n > 0;
}

static int parse_limit(const char *v, int *out)
{
	int64_t n;

	if (!v) {
		*out = LIMIT_DEFAULT;
		return 0;
	}
	n = parse_id(v, strlen(v));
	if (n < 1 || n > LIMIT_MAX)
		return -1;
	*out = (int)n;
	return 0;
}

static int is_prefix(const char *path, const char *p, const char **rest)
{
	size_t n = strlen(p);

	if (strncmp(path, p, n))
		return 0;
	*rest = path + n;
	return 1;
}

void route_parse(const char *method, const char *path, query_get get, void *data,
		 struct route *r)
{
	const char *rest;

	memset(r, 0, sizeof(*r));
	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return err(r, 405, "method not allowed (the API is read-only)");
	if (!strcmp(path, "/api/status"))
		r->kind = RT_STATUS;
	else if (!strcmp(path, "/api/runs")) {
		r->kind = RT_RUNS;
		if (parse_limit(get(data, "limit"), &r->limit))
			return err(r, 400, "limit must be an integer 1..1000");
	} else if (!strcmp(path, "/api/history")) {
		r->kind = RT_HISTORY;
		r->arch = get(data, "arch");
		r->test = get(data, "test");
		if (r->arch && !name_ok(r->arch, 64))
			return err(r, 400, "arch must be a short name of [A-Za-z0-9_.-]");
		if (r->test && !name_ok(r->test, 256))
			return err(r, 400, "test must be a name of [A-Za-z0-9_.:/-]");
		if (parse_limit(get(data, "limit"), &r->limit))
			return err(r, 400, "limit must be an integer 1..1000");
	} else if (!strcmp(path, "/api/regressions") || !strcmp(path, "/api/matrix")) {
		r->kind = path[5] == 'r' ? RT_REGRESSIONS : RT_MATRIX;
		r->tree = get(data, "tree");
		r->kernel = get(data, "kernel");
		if (r->tree && !name_ok(r->tree, 128))
			return err(r, 400, "tree must be a name of [A-Za-z0-9_.:/-]");
		if (r->kernel && (r->kind != RT_MATRIX || !name_ok(r->kernel, 256)))
			return err(r, 400, "kernel must be a name of [A-Za-z0-9_.:/-]");
	} else if (!strcmp(path, "/api/trend")) {
		r->kind = RT_TREND;
		if (parse_limit(get(data, "limit"), &r->limit))
			return err(r, 400, "limit must be an integer 1..1000");
	} else if (!strcmp(path, "/api/trees")) {
		r->kind = RT_TREES;
	} else if (!strcmp(path, "/metrics")) {
		r->kind = RT_METRICS;
	} else if (is_prefix(path, "/api/runs/", &rest)) {
		r->kind = RT_RUN;
		if (!(r->id = parse_id(rest, strlen(rest))))
			return err(r, 400, "run id must be a positive integer");
	} else if (is_prefix(path, "/api/jobs/", &rest)) {
		const char *slash = strchr(rest, '/');
		size_t len = slash ? (size_t)(slash - rest) : strlen(rest);

		r->kind = RT_JOB;
		if (slash) {
			if (strcmp(slash, "/log"))
				return err(r, 404, "no such route");
			r->kind = RT_JOB_LOG;
		}
		if (!(r->id = parse_id(rest, len)))
			return err(r, 400, "job id must be a positive integer");
	} else if (is_prefix(path, "/api/", &rest) || !strcmp(path, "/api")) {
		return err(r, 404, "no such route");
	} else if (!strcmp(path, "/")) {
		r->kind = RT_STATIC;
		r->file = "index.html";
	} else if (path[0] == '/' && path[1] && !strchr(path + 1, '/') &&
		   path[1] != '.' && strlen(path) < 128) {
		r->kind = RT_STATIC;
		r->file = path + 1;
	} else {
		return err(r, 404, "not found");
	}
}
