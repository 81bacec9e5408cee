/* kfarm export on a real SQLite history holding hostile text: the JUnit file
 * parses (libxml2 and xmllint) and validates against tests/data/junit.xsd;
 * KCIDB keeps every test, with paths KCIDB accepts and names kept whole. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <libxml/parser.h>
#include <libxml/xmlschemas.h>
#include <regex.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../runner/build.h"
#include "../../runner/build_db.h"
#include "../../runner/cmds.h"
#include "../../runner/job.h"
#include "../../runner/source.h"
#include "../../runner/store.h"
#include "../../runner/text.h"
#include "../../runner/util.h"

extern char **environ;

static char dir[] = "/tmp/kfarm-export-XXXXXX";
static char *db;

#define DOTTED "user:mincore_selftest.global.check_huge_pages"
#define NONCHAR "bad\xef\xbf\xbe\xef\xbf\xbfname"	/* U+FFFE U+FFFF: valid UTF-8, not XML */
#define CONTROLS "ctl\x01\x08\x0b\x0c\x1b[2J\x7f \xc2\x9b and \xff\xc0 invalid"

static char long_a[420], long_b[420];
static int64_t build_run;

static void add(struct job *j, const char *test, enum res_status st, const char *reason,
		int depth)
{
	j->res = xrealloc(j->res, (j->nres + 1) * sizeof(*j->res));
	j->res[j->nres++] = (struct result){ xstrdup(test), st, xstrdup(reason), 0.25, depth };
}

#define BUILD_ERR "arch/alpha/kernel/time.c:12:5: error: expected expression before ';'"

/* Run 1: a source candidate that built for arm64 (booted) and not for alpha
 * (its job NOT_BUILT, its test MISSING "not built"), as srcset records them. */
static int build_history(struct store *st)
{
	struct source s = { .kind = SRC_GIT, .spec = "/r@b", .commit = "c0ffee", .id = "git:c0ffee+patches:none",
			    .tree = "t-src", .label = "c0ffee" };
	struct build_config c;
	struct build b;
	const char *arch[] = { "arm64", "alpha" };
	int64_t sid;

	strcpy(s.patches.hash, "none");
	build_run = store_run_begin(st, "kfarm run --source", NULL);
	if (build_run <= 0 || build_config_parse(NULL, &c, NULL) || (sid = builddb_source(store_db(st), &s, NULL)) <= 0)
		return -1;
	for (int a = 0; a < 2; a++) {
		struct job *j = job_new();
		int64_t bid, cand;
		int rc;

		build_set(&b, arch[a], &c, a ? BS_FAIL : BS_PASS, a ? BUILD_ERR : NULL);
		b.duration_s = 61.5;
		b.compiler = xstrdup("gcc (Debian 12.2.0-14) 12.2.0");
		bid = builddb_store(store_db(st), build_run, sid, &b, "run-1/build-x.log", NULL);
		j->arch = xstrdup(arch[a]);
		j->be = &backend_qemu;
		j->outcome = a ? JOB_NOT_BUILT : JOB_COMPLETE;
		j->reason = a ? xstrdup("build FAIL: " BUILD_ERR) : NULL;
		j->t_start = now_mono() - 2;
		j->t_end = now_mono();
		cand = store_candidate(st, arch[a], "c0ffee", "t-src", a ? "not-built" : "feedface", "/k", NULL);
		j->candidate_id = cand;
		add(j, "sysinfo", a ? RS_MISSING : RS_PASS, a ? "not built" : "", 0);
		rc = bid > 0 && cand > 0 && store_job(st, build_run, j, NULL, NULL) > 0 &&
		     builddb_link(store_db(st), bid, cand, sid, NULL) == 0;
		job_free(j);
		build_release(&b);
		if (!rc)
			return -1;
	}
	build_config_release(&c);
	store_run_end(st, build_run, RUN_COMPLETE, NULL);
	return 0;
}

/* One run with one job whose names and reasons are what a hostile guest
 * (or a crafted database) can put there. */
static int setup(void **state)
{
	struct store *st;
	struct job *j = job_new();
	int64_t run;

	(void)state;
	if (!mkdtemp(dir))
		return -1;
	db = xasprintf("%s/e.db", dir);
	st = store_open(db, 0, NULL);
	if (!st)
		return -1;
	/* two 400-byte names (of 2-byte characters) equal in their first 380 */
	memset(long_a, 0, sizeof(long_a));
	for (int i = 0; i < 200; i++)
		memcpy(long_a + 2 * i, "\xc3\xa9", 2);
	memcpy(long_b, long_a, sizeof(long_b));
	memcpy(long_a + 380, "tail-a", 6);
	memcpy(long_b + 380, "tail-b", 6);
	if (build_history(st))
		return -1;
	run = store_run_begin(st, "kfarm run", NULL);
	j->arch = xstrdup("x86_64");
	j->be = &backend_qemu;
	j->outcome = JOB_PANIC;
	j->reason = xstrdup("Kernel panic \x1b]0;t\x07 \xef\xbf\xbf");
	j->release = xstrdup("6.1.0\x01");
	j->t_start = now_mono() - 2;
	j->t_end = now_mono();
	j->candidate_id = store_candidate(st, "x86_64", "L\xef\xbf\xbe", "t", "0123456789abcdef",
					  "/k", NULL);
	add(j, DOTTED, RS_PASS, "", 0);
	add(j, NONCHAR "/sub.case", RS_FAIL, CONTROLS, 1);
	add(j, NONCHAR, RS_FAIL, CONTROLS, 0);
	add(j, "x//y/", RS_SKIP, "empty components", 0);
	add(j, long_a, RS_SKIP, "long a", 0);
	add(j, long_b, RS_MISSING, "long b", 0);
	if (run <= 0 || j->candidate_id <= 0 || store_job(st, run, j, "host\x1b", NULL) <= 0)
		return -1;
	/* and one reason as a crafted database holds it: not UTF-8 at all */
	if (sqlite3_exec(store_db(st), "UPDATE results SET reason = CAST(x'41ff1b5b3241' AS TEXT)"
			 " WHERE test = 'x//y/'", NULL, NULL, NULL) != SQLITE_OK)
		return -1;
	store_close(st);
	job_free(j);
	return 0;
}

static int teardown(void **state)
{
	char *cmd[] = { "rm", "-rf", dir, NULL };
	pid_t pid;

	(void)state;
	if (posix_spawnp(&pid, "rm", NULL, NULL, cmd, environ) == 0)
		waitpid(pid, NULL, 0);
	free(db);
	return 0;
}

static int export_run(const char *how, const char *out, int64_t run)
{
	char id[24];
	char *argv[] = { "export", (char *)how, (char *)out, "--db", db, "--run", id, NULL };
	struct cmd_ctx c = { .flags = CMD_STORE_RO };
	int ret;

	snprintf(id, sizeof(id), "%lld", (long long)run);
	ret = cmd_export(&c, run ? 7 : 5, argv);

	cmd_ctx_close(&c);
	return ret;
}

static int export(const char *how, const char *out)
{
	return export_run(how, out, 0);
}

static int xmllint_ok(const char *path)
{
	char *argv[] = { "xmllint", "--noout", (char *)path, NULL };
	pid_t pid;
	int status;

	if (posix_spawnp(&pid, "xmllint", NULL, NULL, argv, environ))
		return 0;
	return waitpid(pid, &status, 0) == pid && WIFEXITED(status) && !WEXITSTATUS(status);
}

static int count_cases(xmlNode *n, const char *name, int *bad_ctl)
{
	int c = 0;

	for (; n; n = n->next) {
		if (n->type != XML_ELEMENT_NODE)
			continue;
		if (!strcmp((const char *)n->name, "testcase")) {
			xmlChar *v = xmlGetProp(n, BAD_CAST "name");

			c += v && !strcmp((const char *)v, name);
			xmlFree(v);
		}
		for (xmlAttr *a = n->properties; a; a = a->next) {
			xmlChar *v = xmlNodeListGetString(n->doc, a->children, 1);

			for (const unsigned char *p = v; p && *p; p++)
				*bad_ctl |= (*p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r') ||
					    *p == 0x7f || (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f);
			xmlFree(v);
		}
		c += count_cases(n->children, name, bad_ctl);
	}
	return c;
}

static void test_junit(void **state)
{
	char *out = xasprintf("%s/junit.xml", dir);
	char *xsd = xasprintf("%s/../tests/data/junit.xsd", KFARM_ARCHES_DIR);
	xmlSchemaParserCtxtPtr pc;
	xmlSchemaValidCtxtPtr vc;
	xmlSchemaPtr schema;
	xmlDocPtr doc;
	int bad_ctl = 0;

	(void)state;
	assert_int_equal(export("--junit", out), 0);
	assert_true(xmllint_ok(out));
	doc = xmlReadFile(out, NULL, XML_PARSE_NONET);
	assert_non_null(doc);
	pc = xmlSchemaNewParserCtxt(xsd);
	schema = xmlSchemaParse(pc);
	assert_non_null(schema);
	vc = xmlSchemaNewValidCtxt(schema);
	assert_int_equal(xmlSchemaValidateDoc(vc, doc), 0);
	/* the noncharacters became U+FFFD, the rest of the name is kept */
	assert_int_equal(count_cases(xmlDocGetRootElement(doc),
				     "bad" TEXT_REPLACEMENT TEXT_REPLACEMENT "name", &bad_ctl), 1);
	assert_int_equal(count_cases(xmlDocGetRootElement(doc), DOTTED, &bad_ctl), 1);
	assert_false(bad_ctl);
	xmlSchemaFreeValidCtxt(vc);
	xmlSchemaFree(schema);
	xmlSchemaFreeParserCtxt(pc);
	xmlFreeDoc(doc);
	free(xsd);
	free(out);
}

static json_t *test_with(json_t *tests, const char *key, const char *val)
{
	size_t i;
	json_t *t;

	json_array_foreach(tests, i, t) {
		json_t *v = !strcmp(key, "path") ? json_object_get(t, "path")
						 : json_object_get(json_object_get(t, "misc"), key);

		if (v && !strcmp(json_string_value(v), val))
			return t;
	}
	return NULL;
}

static void test_kcidb(void **state)
{
	char *out = xasprintf("%s/kcidb.json", dir);
	regex_t re;
	json_t *root, *tests, *t, *ta, *tb;
	size_t i;

	(void)state;
	assert_int_equal(export("--kcidb", out), 0);
	root = json_load_file(out, 0, NULL);
	assert_non_null(root);
	tests = json_object_get(root, "tests");
	/* every result plus the boot, none dropped */
	assert_int_equal(json_array_size(tests), 7);
	/* KCIDB v5's test path pattern, and ids unique */
	assert_int_equal(regcomp(&re, "^([a-zA-Z0-9_-]+(\\.[a-zA-Z0-9_-]+)*)?$",
				 REG_EXTENDED | REG_NOSUB), 0);
	json_array_foreach(tests, i, t) {
		const char *p = json_string_value(json_object_get(t, "path"));

		assert_non_null(p);
		assert_true(strlen(p) <= 300);
		assert_int_equal(regexec(&re, p, 0, NULL, 0), 0);
		for (size_t k = 0; k < i; k++)
			assert_string_not_equal(json_string_value(json_object_get(t, "id")),
				json_string_value(json_object_get(json_array_get(tests, k), "id")));
	}
	regfree(&re);
	/* a name with dots stays one component; '/' still nests */
	assert_non_null(test_with(tests, "path",
				  "kfarm.user-3Amincore_selftest-2Eglobal-2Echeck_huge_pages"));
	assert_non_null(test_with(tests, "path",
				  "kfarm.bad-EF-BF-BE-EF-BF-BFname.sub-2Ecase"));
	assert_non_null(test_with(tests, "path", "kfarm.x.-.y.-"));
	/* long names: clipped to distinct paths, whole in misc */
	ta = test_with(tests, "test", long_a);
	tb = test_with(tests, "test", long_b);
	assert_non_null(ta);
	assert_non_null(tb);
	assert_string_not_equal(json_string_value(json_object_get(ta, "path")),
				json_string_value(json_object_get(tb, "path")));
	assert_non_null(strstr(json_string_value(json_object_get(ta, "path")), "--"));
	assert_string_equal(json_string_value(json_object_get(tb, "status")), "MISS");
	json_decref(root);
	free(out);
}

/* JUnit of a run with source builds: a "builds" suite, the failed build a
 * failure with its first error; the unbuilt arch's boot skipped, its test an
 * error (MISSING), never a pass; valid against the schema */
static void test_junit_builds(void **state)
{
	char *out = xasprintf("%s/junit-b.xml", dir), *text;
	size_t len;

	(void)state;
	assert_int_equal(export_run("--junit", out, build_run), 0);
	assert_true(xmllint_ok(out));
	assert_int_equal(read_file(out, 1 << 20, &text, &len), 0);
	assert_non_null(strstr(text, "<testsuite name=\"builds\" tests=\"2\" failures=\"1\" errors=\"0\""));
	assert_non_null(strstr(text, "<testcase name=\"build alpha c0ffee (kfarm)\" classname=\"kfarm.alpha\""
			       " time=\"61.500\">\n      <failure type=\"FAIL\" message=\"arch/alpha/kernel/time.c:12:5:"));
	assert_non_null(strstr(text, "<testcase name=\"build arm64 c0ffee (kfarm)\" classname=\"kfarm.arm64\""
			       " time=\"61.500\"/>"));
	assert_non_null(strstr(text, "<skipped type=\"NOT_BUILT\" message=\"build FAIL: "));
	assert_non_null(strstr(text, "<testcase name=\"sysinfo\" classname=\"kfarm.alpha\" time=\"0.250\">\n"
			       "      <error message=\"not built\"/>"));
	{
		xmlDocPtr doc = xmlReadFile(out, NULL, XML_PARSE_NONET);
		char *xsd = xasprintf("%s/../tests/data/junit.xsd", KFARM_ARCHES_DIR);
		xmlSchemaParserCtxtPtr pc = xmlSchemaNewParserCtxt(xsd);
		xmlSchemaPtr schema = xmlSchemaParse(pc);
		xmlSchemaValidCtxtPtr vc = xmlSchemaNewValidCtxt(schema);

		assert_int_equal(xmlSchemaValidateDoc(vc, doc), 0);
		xmlSchemaFreeValidCtxt(vc);
		xmlSchemaFree(schema);
		xmlSchemaFreeParserCtxt(pc);
		xmlFreeDoc(doc);
		free(xsd);
	}
	free(text);
	free(out);
}

/* KCIDB of the same run: one checkout for the source (its commit), a build
 * per arch with its real status, duration, compiler, log and first error,
 * and each job's tests under its own build (the unbuilt arch's MISS) */
static void test_kcidb_builds(void **state)
{
	char *out = xasprintf("%s/kcidb-b.json", dir), *url;
	json_t *root, *b, *t, *fail = NULL;
	size_t i;

	(void)state;
	assert_int_equal(export_run("--kcidb", out, build_run), 0);
	root = json_load_file(out, 0, NULL);
	assert_non_null(root);
	assert_int_equal(json_array_size(json_object_get(root, "checkouts")), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(root,
			    "checkouts"), 0), "git_commit_hash")), "c0ffee");
	assert_int_equal(json_array_size(json_object_get(root, "builds")), 2);
	json_array_foreach(json_object_get(root, "builds"), i, b) {
		assert_true(json_real_value(json_object_get(b, "duration")) == 61.5);
		assert_string_equal(json_string_value(json_object_get(b, "config_name")), "kfarm");
		assert_non_null(strstr(json_string_value(json_object_get(b, "compiler")), "gcc"));
		if (!strcmp(json_string_value(json_object_get(b, "architecture")), "alpha"))
			fail = b;
		else
			assert_string_equal(json_string_value(json_object_get(b, "status")), "PASS");
	}
	assert_non_null(fail);
	assert_string_equal(json_string_value(json_object_get(fail, "status")), "FAIL");
	assert_string_equal(json_string_value(json_object_get(fail, "log_excerpt")), BUILD_ERR);
	url = xasprintf("file://%s.logs/run-1/build-x.log", db);
	assert_string_equal(json_string_value(json_object_get(fail, "log_url")), url);
	free(url);
	json_array_foreach(json_object_get(root, "tests"), i, t) {
		const char *bid = json_string_value(json_object_get(t, "build_id"));

		assert_non_null(bid);
		assert_true(!strncmp(bid, "kfarm:build", 11));	/* no made-up builds */
		if (!strcmp(bid, json_string_value(json_object_get(fail, "id"))))
			assert_string_equal(json_string_value(json_object_get(t, "status")), "MISS");
	}
	json_decref(root);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_junit),
		cmocka_unit_test(test_kcidb),
		cmocka_unit_test(test_junit_builds),
		cmocka_unit_test(test_kcidb_builds),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
