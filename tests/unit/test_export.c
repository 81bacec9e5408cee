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

#include "../../runner/cmds.h"
#include "../../runner/job.h"
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

static void add(struct job *j, const char *test, enum res_status st, const char *reason,
		int depth)
{
	j->res = xrealloc(j->res, (j->nres + 1) * sizeof(*j->res));
	j->res[j->nres++] = (struct result){ xstrdup(test), st, xstrdup(reason), 0.25, depth };
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
	st = store_open(db, 0);
	if (!st)
		return -1;
	/* two 400-byte names (of 2-byte characters) equal in their first 380 */
	memset(long_a, 0, sizeof(long_a));
	for (int i = 0; i < 200; i++)
		memcpy(long_a + 2 * i, "\xc3\xa9", 2);
	memcpy(long_b, long_a, sizeof(long_b));
	memcpy(long_a + 380, "tail-a", 6);
	memcpy(long_b + 380, "tail-b", 6);
	run = store_run_begin(st, "kfarm run");
	j->arch = xstrdup("x86_64");
	j->be = &backend_qemu;
	j->outcome = JOB_PANIC;
	j->reason = xstrdup("Kernel panic \x1b]0;t\x07 \xef\xbf\xbf");
	j->release = xstrdup("6.1.0\x01");
	j->t_start = now_mono() - 2;
	j->t_end = now_mono();
	j->candidate_id = store_candidate(st, "x86_64", "L\xef\xbf\xbe", "t", "0123456789abcdef",
					  "/k");
	add(j, DOTTED, RS_PASS, "", 0);
	add(j, NONCHAR "/sub.case", RS_FAIL, CONTROLS, 1);
	add(j, NONCHAR, RS_FAIL, CONTROLS, 0);
	add(j, "x//y/", RS_SKIP, "empty components", 0);
	add(j, long_a, RS_SKIP, "long a", 0);
	add(j, long_b, RS_MISSING, "long b", 0);
	if (run <= 0 || j->candidate_id <= 0 || store_job(st, run, j, "host\x1b") <= 0)
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

static int export(const char *how, const char *out)
{
	char *argv[] = { "export", (char *)how, (char *)out, "--db", db, NULL };
	struct cmd_ctx c = { .flags = CMD_STORE_RO };
	int ret = cmd_export(&c, 5, argv);

	cmd_ctx_close(&c);
	return ret;
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_junit),
		cmocka_unit_test(test_kcidb),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
