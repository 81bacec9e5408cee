/* Build warnings: keys from real kbuild log lines (O= relative and absolute
 * paths, line numbers dropped), and which are new against the earlier
 * candidates of a tree, stored in a real SQLite file and reported by
 * build_regress as a change. And schema step 8 over a history of before it:
 * the "not built" boot failures become NOT_BUILT. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../../runner/build.h"
#include "../../runner/build_db.h"
#include "../../runner/build_regress.h"
#include "../../runner/build_warn.h"
#include "../../runner/job.h"
#include "../../runner/source.h"
#include "../../runner/spawn.h"
#include "../../runner/store.h"
#include "../../runner/text.h"
#include "../../runner/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/kfarm-test-bwarn-XXXXXX";

#define SRC "/c/src/linux-6.1-abc"

static void test_parse(void **state)
{
	static const char log[] =
		"  CC      arch/alpha/kernel/time.o\n"
		"../../src/linux-6.1-abc/arch/alpha/kernel/time.c:12:5: warning: no previous"
		" prototype for 'f' [-Wmissing-prototypes]\n"
		"   12 | int f(void)\n"
		SRC "/mm/a.c:7: warning: unused variable 'x' [-Wunused-variable]\n"
		SRC "/mm/q.c:7:1: warning: \xe2\x80\x98q\xe2\x80\x99 defined but not used\x1b \xff\n"
		"./include/generated/b.h:1:1: warning: oops\n"
		/* from an O= tree inside the source tree (kernel.sh's): srctree = .. */
		"../fs/in.c:2:1: warning: in-tree O=\n"
		/* the same warning at another line: one key */
		"../../src/linux-6.1-abc/arch/alpha/kernel/time.c:40:5: warning: no previous"
		" prototype for 'f' [-Wmissing-prototypes]\n"
		"fs/c.c:3:1: error: not a warning\n"
		"WARNING: modpost: not a compiler warning";
	struct warn_list w;

	(void)state;
	build_warn_parse(log, strlen(log), SRC, &w);
	assert_int_equal(w.n, 5);
	assert_string_equal(w.v[0], "arch/alpha/kernel/time.c: warning: no previous prototype"
			    " for 'f' [-Wmissing-prototypes]");
	assert_string_equal(w.v[1], "mm/a.c: warning: unused variable 'x' [-Wunused-variable]");
	/* gcc's quotes kept, a control and a stray byte not */
	assert_string_equal(w.v[2], "mm/q.c: warning: \xe2\x80\x98q\xe2\x80\x99 defined but not"
			    " used? " TEXT_REPLACEMENT);
	assert_string_equal(w.v[3], "include/generated/b.h: warning: oops");
	assert_string_equal(w.v[4], "fs/in.c: warning: in-tree O=");
	warn_list_release(&w);
}

/* One build of commit (its own source) with the log text, stored as in a run. */
static int64_t build_with(struct store *st, const char *commit, const char *status,
			  const char *logtext)
{
	struct source s = { 0 };
	struct build b = { 0 };
	struct build_config c;
	char *log = xasprintf("%s/%s.log", dir, commit);
	int64_t run = store_run_begin(st, "t", NULL), sid, bid;

	assert_int_equal(write_file_atomic(log, logtext, strlen(logtext)), 0);
	s.kind = SRC_GIT;
	s.spec = s.path = (char *)"/r";
	s.commit = (char *)commit;
	s.id = xasprintf("git:%s+patches:none", commit);
	s.tree = s.label = (char *)"t";
	s.label = (char *)commit;
	strcpy(s.patches.hash, "none");
	assert_int_equal(build_config_parse(NULL, &c, NULL), 0);
	build_set(&b, "alpha", &c, build_status_parse(status), NULL);
	sid = builddb_source(store_db(st), &s, NULL);
	assert_true(sid > 0);
	bid = builddb_store(store_db(st), run, sid, &b, NULL, NULL);
	assert_true(bid > 0);
	assert_int_equal(build_warn_store(store_db(st), bid, "t", "alpha", "kfarm", log, SRC, NULL),
			 0);
	store_run_end(st, run, RUN_COMPLETE, NULL);
	build_release(&b);
	build_config_release(&c);
	free(s.id);
	free(log);
	return bid;
}

static long long new_of(struct store *st, int64_t bid)
{
	sqlite3_stmt *q;
	long long v;

	assert_int_equal(sqlite3_prepare_v2(store_db(st), "SELECT coalesce((SELECT new_warnings"
					    " FROM build_warn_sum WHERE build_id = id), -1)"
					    " FROM builds WHERE id = ?", -1, &q, NULL), SQLITE_OK);
	sqlite3_bind_int64(q, 1, bid);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	v = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return v;
}

static void test_new_against_earlier(void **state)
{
	static const char full[] = SRC "/a.c:1:1: warning: one\n" SRC "/b.c:2:1: warning: two\n";
	/* an incremental build: only b.c recompiled, its warning moved a line */
	static const char incr[] = SRC "/b.c:3:1: warning: two\n";
	static const char more[] = SRC "/b.c:3:1: warning: two\n" SRC "/b.c:9:1: warning: three\n";
	char *p;
	struct store *st;
	json_t *arr = json_array(), *o;
	int64_t b1, b2, b3, b4;

	(void)state;
	strcpy(dir, "/tmp/kfarm-test-bwarn-XXXXXX");
	assert_non_null(mkdtemp(dir));
	p = xasprintf("%s/w.db", dir);
	assert_non_null(st = store_open(p, 0, NULL));
	b1 = build_with(st, "c1", "PASS", full);
	assert_int_equal(new_of(st, b1), -1);		/* nothing to compare with */
	b2 = build_with(st, "c2", "PASS", incr);
	assert_int_equal(new_of(st, b2), 0);		/* seen before, at another line */
	b3 = build_with(st, "c3", "FAIL", more);
	assert_int_equal(new_of(st, b3), 1);
	assert_int_equal(build_regress_append(store_db(st), NULL, 0, arr), 0);
	/* c2 -> c3: PASS -> FAIL, the new warning with it */
	assert_int_equal(json_array_size(arr), 1);
	o = json_object_get(json_array_get(arr, 0), "to");
	assert_int_equal(json_integer_value(json_object_get(o, "new_warnings")), 1);
	assert_string_equal(json_string_value(json_array_get(json_object_get(o, "warnings"), 0)),
			    "b.c: warning: three");
	json_array_clear(arr);
	b4 = build_with(st, "c4", "FAIL", more);
	assert_int_equal(new_of(st, b4), 0);		/* c3 had it already */
	assert_int_equal(build_regress_append(store_db(st), NULL, 0, arr), 0);
	assert_int_equal(json_array_size(arr), 0);	/* still failing, nothing new */
	b4 = build_with(st, "c5", "FAIL", SRC "/d.c:1:1: warning: four\n");
	assert_int_equal(build_regress_append(store_db(st), NULL, 0, arr), 0);
	assert_int_equal(json_array_size(arr), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 0), "kind")),
			    "change");
	json_decref(arr);
	store_close(st);
	free(p);
	{
		char *argv[] = { "rm", "-rf", dir, NULL };

		spawn_run(argv, NULL, NULL, NULL, 0, NULL);
	}
}

static char *one(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *q;
	char *v;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	v = xstrdup((const char *)sqlite3_column_text(q, 0));
	sqlite3_finalize(q);
	return v;
}

static void test_migration_not_built(void **state)
{
	char *p, *v;
	struct store *st;
	sqlite3 *db;
	int64_t run;

	(void)state;
	strcpy(dir, "/tmp/kfarm-test-bwarn-XXXXXX");
	assert_non_null(mkdtemp(dir));
	p = xasprintf("%s/m.db", dir);
	assert_non_null(st = store_open(p, 0, NULL));
	run = store_run_begin(st, "t", NULL);
	for (int i = 0; i < 2; i++) {	/* a "not built" job of old, and a real boot failure */
		struct job *j = job_new();

		j->arch = xstrdup("alpha");
		j->outcome = JOB_BOOT_FAIL;
		j->reason = xstrdup(i ? "VM ended before /init reported (no KTAP header)"
				      : "not built: fs/a.c:1:2: error: x");
		j->candidate_id = store_candidate(st, "alpha", i ? "k" : "c0ffee", "t",
						  i ? "img" : "not-built", "/k", NULL);
		assert_true(store_job(st, run, j, NULL, NULL) > 0);
		job_free(j);
	}
	store_close(st);
	/* back to before step 8 (it and step 9 can run over their own result) */
	assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
	v = xstrdup("7");
	char *back = xasprintf("PRAGMA user_version = %s", v);

	assert_int_equal(sqlite3_exec(db, back, NULL, NULL, NULL), SQLITE_OK);
	free(back), free(v);
	sqlite3_close(db);
	assert_non_null(st = store_open(p, 0, NULL));
	v = one(store_db(st), "SELECT group_concat(outcome || ': ' || reason, ' | ') FROM jobs");
	assert_string_equal(v, "NOT_BUILT: build: fs/a.c:1:2: error: x"
			    " | BOOT_FAIL: VM ended before /init reported (no KTAP header)");
	free(v);
	v = one(store_db(st), "SELECT group_concat(outcome || '=' || n) FROM sum_outcome");
	assert_string_equal(v, "BOOT_FAIL=1,NOT_BUILT=1");
	free(v);
	store_close(st);
	free(p);
	{
		char *argv[] = { "rm", "-rf", dir, NULL };

		spawn_run(argv, NULL, NULL, NULL, 0, NULL);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_new_against_earlier),
		cmocka_unit_test(test_migration_not_built),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
