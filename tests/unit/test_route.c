/* HTTP routing over the real table: every route, the errors for bad ids and
 * parameters, and the table's own invariants (each pattern reaches its own
 * entry, cached routes take no parameters, the usage text lists them all). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../runner/routes.h"

struct q {
	const char *k[4], *v[4];
};

static const char *get(void *data, const char *name)
{
	struct q *q = data;

	for (int i = 0; i < 4 && q->k[i]; i++)
		if (!strcmp(q->k[i], name))
			return q->v[i];
	return NULL;
}

static struct route r(const char *method, const char *path, struct q *q)
{
	static struct q none;
	struct route rt;

	route_parse(routes, nroutes, method, path, get, q ? q : &none, &rt);
	return rt;
}

/* the pattern of the entry a request reached, or "error" */
static const char *pat(struct route rt)
{
	return rt.def ? rt.def->pattern : "error";
}

static void test_routes(void **state)
{
	struct route rt;
	struct q q = { { "arch", "test", "limit" }, { "alpha", "clone3", "5" } };
	struct q mq = { { "tree", "kernel" }, { "linux-6.1", "6.1.99" } };

	(void)state;
	assert_string_equal(pat(r("GET", "/api/status", NULL)), "/api/status");
	assert_string_equal(pat(r("GET", "/api", NULL)), "/api");
	rt = r("GET", "/api/runs", NULL);
	assert_string_equal(pat(rt), "/api/runs");
	assert_int_equal(rt.limit, 50);
	rt = r("GET", "/api/runs/42", NULL);
	assert_string_equal(pat(rt), "/api/runs/{run}");
	assert_int_equal(rt.id, 42);
	rt = r("GET", "/api/jobs/7/log", NULL);
	assert_string_equal(pat(rt), "/api/jobs/{job}/log");
	assert_int_equal(rt.id, 7);
	rt = r("HEAD", "/api/jobs/7", NULL);
	assert_string_equal(pat(rt), "/api/jobs/{job}");
	rt = r("GET", "/api/history", &q);
	assert_string_equal(pat(rt), "/api/history");
	assert_string_equal(rt.arch, "alpha");
	assert_string_equal(rt.test, "clone3");
	assert_int_equal(rt.limit, 5);
	rt = r("GET", "/api/matrix", &mq);
	assert_string_equal(pat(rt), "/api/matrix");
	assert_string_equal(rt.tree, "linux-6.1");
	assert_string_equal(rt.kernel, "6.1.99");
	assert_string_equal(pat(r("GET", "/metrics", NULL)), "/metrics");
	rt = r("GET", "/", NULL);
	assert_string_equal(pat(rt), "/");
	assert_null(rt.file);	/* the handler serves index.html */
	rt = r("GET", "/app.js", NULL);
	assert_string_equal(pat(rt), "/{file}");
	assert_string_equal(rt.file, "app.js");
}

static void test_errors(void **state)
{
	struct q badlimit = { { "limit" }, { "0" } }, hugelimit = { { "limit" }, { "1001" } };
	struct q badarch = { { "arch" }, { "x86;drop" } };
	struct q kernel = { { "kernel" }, { "6.1" } };
	static const char *const bad_ids[] = {
		"/api/runs/0", "/api/runs/-1", "/api/runs/abc", "/api/runs/1x",
		"/api/runs/0012", "/api/runs/99999999999999999999", "/api/jobs/", "/api/runs/",
		"/api/jobs/x/log",
	};
	struct route rt;

	(void)state;
	assert_int_equal(r("POST", "/api/status", NULL).code, 405);
	assert_int_equal(r("DELETE", "/api/runs/1", NULL).code, 405);
	assert_int_equal(r("POST", "/api/nope", NULL).code, 405);
	rt = r("GET", "/api/nope", NULL);
	assert_int_equal(rt.code, 404);
	assert_string_equal(rt.error, "no such route");
	assert_int_equal(r("GET", "/api/jobs/1/console", NULL).code, 404);
	for (size_t i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++) {
		rt = r("GET", bad_ids[i], NULL);
		assert_null(rt.def);
		assert_int_equal(rt.code, 400);
	}
	assert_string_equal(r("GET", "/api/runs/x", NULL).error,
			    "run id must be a positive integer");
	assert_string_equal(r("GET", "/api/jobs/0/log", NULL).error,
			    "job id must be a positive integer");
	assert_int_equal(r("GET", "/api/runs", &badlimit).code, 400);
	assert_int_equal(r("GET", "/api/history", &hugelimit).code, 400);
	assert_int_equal(r("GET", "/api/trend", &hugelimit).code, 400);
	assert_int_equal(r("GET", "/api/history", &badarch).code, 400);
	/* kernel= is the matrix's: /api/regressions refuses it */
	assert_int_equal(r("GET", "/api/regressions", &kernel).code, 400);
	assert_non_null(r("GET", "/api/matrix", &kernel).def);
	/* no way out of the web directory */
	assert_null(r("GET", "/../etc/passwd", NULL).def);
	assert_int_equal(r("GET", "/..", NULL).code, 404);
	assert_null(r("GET", "/.hidden", NULL).def);
	assert_null(r("GET", "/a/b", NULL).def);
	assert_null(r("GET", "/api/jobs/1/../../etc/passwd", NULL).def);
}

/* A request spelling each pattern (ids as 1) reaches that very entry: no
 * entry is shadowed by an earlier one. */
static void test_table(void **state)
{
	char path[128], *usage = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&usage, &len);

	(void)state;
	routes_usage(f);
	fclose(f);
	for (size_t i = 0; i < nroutes; i++) {
		const char *p = routes[i].pattern, *open = strchr(p, '{');
		struct route rt;

		if (open)
			snprintf(path, sizeof(path), "%.*s%s%s", (int)(open - p), p,
				 strncmp(open, "{file}", 6) ? "1" : "x.css", strchr(open, '}') + 1);
		else
			snprintf(path, sizeof(path), "%s", p);
		rt = r(routes[i].method, path, NULL);
		assert_ptr_equal(rt.def, &routes[i]);
		assert_non_null(routes[i].handler);
		assert_true(routes[i].help && *routes[i].help);
		assert_non_null(strstr(usage, p));
	}
	free(usage);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_routes),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
