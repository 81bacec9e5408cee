/* HTTP routing: every route, and the errors for bad ids and parameters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "../../runner/route.h"

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

	route_parse(method, path, get, q ? q : &none, &rt);
	return rt;
}

static void test_routes(void **state)
{
	struct route rt;
	struct q q = { { "arch", "test", "limit" }, { "alpha", "clone3", "5" } };

	(void)state;
	assert_int_equal(r("GET", "/api/status", NULL).kind, RT_STATUS);
	rt = r("GET", "/api/runs", NULL);
	assert_int_equal(rt.kind, RT_RUNS);
	assert_int_equal(rt.limit, 50);
	rt = r("GET", "/api/runs/42", NULL);
	assert_int_equal(rt.kind, RT_RUN);
	assert_int_equal(rt.id, 42);
	rt = r("GET", "/api/jobs/7/log", NULL);
	assert_int_equal(rt.kind, RT_JOB_LOG);
	assert_int_equal(rt.id, 7);
	rt = r("HEAD", "/api/jobs/7", NULL);
	assert_int_equal(rt.kind, RT_JOB);
	rt = r("GET", "/api/history", &q);
	assert_int_equal(rt.kind, RT_HISTORY);
	assert_string_equal(rt.arch, "alpha");
	assert_string_equal(rt.test, "clone3");
	assert_int_equal(rt.limit, 5);
	rt = r("GET", "/", NULL);
	assert_int_equal(rt.kind, RT_STATIC);
	assert_string_equal(rt.file, "index.html");
	rt = r("GET", "/app.js", NULL);
	assert_int_equal(rt.kind, RT_STATIC);
	assert_string_equal(rt.file, "app.js");
}

static void test_errors(void **state)
{
	struct q badlimit = { { "limit" }, { "0" } }, hugelimit = { { "limit" }, { "1001" } };
	struct q badarch = { { "arch" }, { "x86;drop" } };
	static const char *const bad_ids[] = {
		"/api/runs/0", "/api/runs/-1", "/api/runs/abc", "/api/runs/1x",
		"/api/runs/0012", "/api/runs/99999999999999999999", "/api/jobs/", "/api/runs/",
	};

	(void)state;
	assert_int_equal(r("POST", "/api/status", NULL).code, 405);
	assert_int_equal(r("DELETE", "/api/runs/1", NULL).code, 405);
	assert_int_equal(r("GET", "/api/nope", NULL).code, 404);
	assert_int_equal(r("GET", "/api/jobs/1/console", NULL).code, 404);
	for (size_t i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++) {
		struct route rt = r("GET", bad_ids[i], NULL);

		assert_int_equal(rt.kind, RT_ERROR);
		assert_int_equal(rt.code, 400);
	}
	assert_int_equal(r("GET", "/api/runs", &badlimit).code, 400);
	assert_int_equal(r("GET", "/api/history", &hugelimit).code, 400);
	assert_int_equal(r("GET", "/api/history", &badarch).code, 400);
	/* no way out of the web directory */
	assert_int_equal(r("GET", "/../etc/passwd", NULL).kind, RT_ERROR);
	assert_int_equal(r("GET", "/..", NULL).kind, RT_ERROR);
	assert_int_equal(r("GET", "/.hidden", NULL).kind, RT_ERROR);
	assert_int_equal(r("GET", "/a/b", NULL).kind, RT_ERROR);
	assert_int_equal(r("GET", "/api/jobs/1/../../etc/passwd", NULL).kind, RT_ERROR);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_routes),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
