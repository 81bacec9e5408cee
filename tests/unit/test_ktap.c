/* KTAP parser: the examples of Documentation/dev-tools/ktap.rst, kselftest's
 * "# " nesting, directives, noise it must ignore, printk prefixes, and the
 * bounds that hold against hostile nesting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../runner/ktap.h"

struct got {
	char lines[64][160];
	int n;
};

static void cb(void *data, const struct ktap_result *r)
{
	struct got *g = data;

	if (g->n < 64)
		snprintf(g->lines[g->n++], 160, "%d %s %s [%s]", r->depth,
			 test_status_name(r->status), r->name, r->reason);
}

static struct got *parse(struct ktap *k, const char *text)
{
	struct got *g = calloc(1, sizeof(*g));

	ktap_init(k, cb, g);
	while (*text) {
		size_t n = strcspn(text, "\n");

		ktap_feed(k, text, n);
		text += n + (text[n] == '\n');
	}
	return g;
}

/* Feeds text line by line with prefix (printf format taking the line
 * number) in front of every line. */
static struct got *parse_prefixed(struct ktap *k, const char *text, const char *fmt)
{
	struct got *g = calloc(1, sizeof(*g));
	char line[512];
	int no = 0;

	ktap_init(k, cb, g);
	while (*text) {
		size_t n = strcspn(text, "\n");
		int p = snprintf(line, sizeof(line), fmt, no, 123456 + no);

		snprintf(line + p, sizeof(line) - p, "%.*s", (int)n, text);
		ktap_feed(k, line, strlen(line));
		text += n + (text[n] == '\n');
		no++;
	}
	return g;
}

static void test_rst_example(void **state)
{
	/* Documentation/dev-tools/ktap.rst, "Example KTAP output" */
	static const char text[] =
		"KTAP version 1\n"
		"1..1\n"
		"  KTAP version 1\n"
		"  1..3\n"
		"    KTAP version 1\n"
		"    1..1\n"
		"    # test_1: initializing test_1\n"
		"    ok 1 test_1\n"
		"  ok 1 example_test_1\n"
		"    KTAP version 1\n"
		"    1..2\n"
		"    ok 1 test_1 # SKIP test_1 skipped\n"
		"    ok 2 test_2\n"
		"  ok 2 example_test_2\n"
		"    KTAP version 1\n"
		"    1..3\n"
		"    ok 1 test_1\n"
		"    # test_2: FAIL\n"
		"    not ok 2 test_2\n"
		"    ok 3 test_3 # SKIP test_3 skipped\n"
		"  not ok 3 example_test_3\n"
		"not ok 1 main_test\n";
	struct ktap k;
	struct got *g = parse(&k, text);

	(void)state;
	assert_int_equal(g->n, 10);
	assert_string_equal(g->lines[0], "2 PASS main_test/example_test_1/test_1 []");
	assert_string_equal(g->lines[1], "1 PASS main_test/example_test_1 []");
	assert_string_equal(g->lines[2],
			    "2 SKIP main_test/example_test_2/test_1 [SKIP test_1 skipped]");
	assert_string_equal(g->lines[6], "2 FAIL main_test/example_test_3/test_2 []");
	assert_string_equal(g->lines[8], "1 FAIL main_test/example_test_3 []");
	assert_string_equal(g->lines[9], "0 FAIL main_test []");
	assert_int_equal(k.plan, 1);
	assert_int_equal(k.ntop, 1);
	assert_true(k.seen_header);
	ktap_release(&k);
	free(g);
}

static void test_kselftest_hash_nesting(void **state)
{
	/* run_kselftest.sh output: children prefixed with "# " */
	static const char text[] =
		"TAP version 13\n"
		"1..2\n"
		"# timeout set to 45\n"
		"# selftests: clone3: clone3\n"
		"# TAP version 13\n"
		"# 1..2\n"
		"# # clone3() syscall supported\n"
		"# ok 1 [1538] Result (0) matches expectation (0)\n"
		"# not ok 2 [1538] Result (-22) matches expectation (0)\n"
		"# # Totals: pass:1 fail:1 xfail:0 xpass:0 skip:0 error:0\n"
		"not ok 1 selftests: clone3: clone3 # exit=1\n"
		"ok 2 selftests: clone3: clone3_clear_sighand # SKIP no clone3\n";
	struct ktap k;
	struct got *g = parse(&k, text);

	(void)state;
	assert_int_equal(g->n, 4);
	assert_string_equal(g->lines[0], "1 PASS selftests: clone3: clone3/[1538] Result (0) "
					 "matches expectation (0) []");
	assert_string_equal(g->lines[2], "0 FAIL selftests: clone3: clone3 [exit=1]");
	assert_string_equal(g->lines[3],
			    "0 SKIP selftests: clone3: clone3_clear_sighand [SKIP no clone3]");
	assert_int_equal(k.plan, 2);
	ktap_release(&k);
	free(g);
}

static void test_noise_and_directives(void **state)
{
	static const char text[] =
		"[    0.000000] Linux version 6.1.192\n"
		"Run /init as init process\n"
		"KTAP version 1\n"
		"1..5\n"
		"random: crng init done\n"
		"ok 1 first\n"
		"okay this is not a result\n"
		"not ok 2 second # TIMEOUT after 30s\n"
		"not ok 3 third # TODO not yet\n"
		"not ok 4 fourth # XFAIL known\n"
		"ok 5 - dash\\#escaped # SKIP why\n"
		"\x01\x02garbage\xff\n";
	struct ktap k;
	struct got *g = parse(&k, text);

	(void)state;
	assert_int_equal(g->n, 5);
	assert_string_equal(g->lines[0], "0 PASS first []");
	assert_string_equal(g->lines[1], "0 FAIL second [TIMEOUT after 30s]");
	assert_string_equal(g->lines[2], "0 SKIP third [TODO not yet]");
	assert_string_equal(g->lines[3], "0 PASS fourth [XFAIL known]");
	assert_string_equal(g->lines[4], "0 SKIP dash\\#escaped [SKIP why]");
	assert_int_equal(k.ntop, 5);
	ktap_release(&k);
	free(g);
}

static void test_missing_numbers_and_names(void **state)
{
	static const char text[] = "TAP version 14\n1..3\nok\nnot ok\nok 3\n";
	struct ktap k;
	struct got *g = parse(&k, text);

	(void)state;
	assert_int_equal(g->n, 3);
	assert_string_equal(g->lines[0], "0 PASS test 1 []");
	assert_string_equal(g->lines[1], "0 FAIL test 2 []");
	assert_string_equal(g->lines[2], "0 PASS test 3 []");
	ktap_release(&k);
	free(g);
}

static void test_truncated_stream(void **state)
{
	/* a guest that died mid-subtest: children never reach a parent */
	static const char text[] = "KTAP version 1\n1..3\nok 1 a\n  KTAP version 1\n"
				   "  1..2\n  ok 1 x\n";
	struct ktap k;
	struct got *g = parse(&k, text);

	(void)state;
	assert_int_equal(g->n, 1);
	assert_int_equal(k.plan, 3);
	assert_int_equal(k.ntop, 1);
	ktap_release(&k);
	free(g);
}

static void test_bail_out(void **state)
{
	struct ktap k;
	struct got *g = parse(&k, "TAP version 13\n1..2\nBail out! no disk\n");

	(void)state;
	assert_true(k.bailed);
	assert_int_equal(g->n, 0);
	ktap_release(&k);
	free(g);
}

/* ktap.rst: unknown lines do not influence results, even when they start
 * like KTAP and sit shallower than results waiting for their parent. */
static void test_lookalike_lines_change_nothing(void **state)
{
	static const char text[] =
		"KTAP version 1\n"
		"1..1\n"
		"  KTAP version 1\n"
		"  1..1\n"
		"    KTAP version 1\n"
		"    1..4\n"
		"    ok 1 x\n"
		"okay, noise\n"
		"    ok 2 y\n"
		"ok:\n"
		"1..x\n"
		"  1..y\n"
		"oksomething\n"
		"not okay\n"
		"KTAP versions are great\n"
		"    ok 3 z\n"
		"not ok:\n"
		"    ok 4 w\n"
		"  ok 1 sub\n"
		"ok 1 top\n";
	struct ktap k;
	struct got *g = parse(&k, text);

	(void)state;
	assert_int_equal(g->n, 6);
	assert_string_equal(g->lines[0], "2 PASS top/sub/x []");
	assert_string_equal(g->lines[1], "2 PASS top/sub/y []");
	assert_string_equal(g->lines[2], "2 PASS top/sub/z []");
	assert_string_equal(g->lines[3], "2 PASS top/sub/w []");
	assert_string_equal(g->lines[4], "1 PASS top/sub []");
	assert_string_equal(g->lines[5], "0 PASS top []");
	assert_int_equal(k.plan, 1);
	ktap_release(&k);
	free(g);
}

/* A subtest whose own result line is lost: the next subtest's version line
 * shows its children orphaned; they are dropped and counted, never credited
 * to the next sibling. */
static void test_lost_result_line_not_credited(void **state)
{
	static const char text[] =
		"KTAP version 1\n"
		"1..1\n"
		"  KTAP version 1\n"
		"  1..2\n"
		"    KTAP version 1\n"
		"    1..2\n"
		"    ok 1 lost_a\n"
		"    not ok 2 lost_b\n"
		"    KTAP version 1\n"
		"    1..1\n"
		"    ok 1 child\n"
		"  ok 2 sub2\n"
		"ok 1 top\n";
	struct ktap k;
	struct got *g = parse(&k, text);

	(void)state;
	assert_int_equal(g->n, 3);
	assert_string_equal(g->lines[0], "2 PASS top/sub2/child []");
	assert_string_equal(g->lines[1], "1 PASS top/sub2 []");
	assert_string_equal(g->lines[2], "0 PASS top []");
	assert_int_equal(k.trunc.orphaned, 2);
	ktap_end(&k);
	assert_int_equal(k.nresults, k.nemitted + k.trunc.orphaned);
	ktap_release(&k);
	free(g);
}

/* A lost parent at an intermediate level: "gg" waits for a level-2 parent
 * that never comes ("b" is one level up), so it is dropped and counted. */
static void test_lost_intermediate_parent(void **state)
{
	static const char text[] =
		"KTAP version 1\n1..1\n"
		"  ok 1 a\n"
		"      ok 1 g\n"
		"        ok 1 gg\n"
		"  ok 2 b\n"
		"ok 1 top\n";
	struct ktap k;
	struct got *g = parse(&k, text);

	(void)state;
	assert_int_equal(g->n, 4);
	assert_string_equal(g->lines[0], "1 PASS top/a []");
	assert_string_equal(g->lines[1], "2 PASS top/b/g []");
	assert_string_equal(g->lines[2], "1 PASS top/b []");
	assert_int_equal(k.trunc.orphaned, 1);
	ktap_release(&k);
	free(g);
}

/* Only a "- " separator is removed: leading dashes belong to the name. */
static void test_dash_separator_only(void **state)
{
	static const char text[] =
		"KTAP version 1\n1..5\n"
		"ok 1 -EINVAL on bad fd\n"
		"ok 2 - named\n"
		"not ok 3 --verbose flag\n"
		"ok 4 -\n"
		"ok 5 - - x\n";
	struct ktap k;
	struct got *g = parse(&k, text);

	(void)state;
	assert_int_equal(g->n, 5);
	assert_string_equal(g->lines[0], "0 PASS -EINVAL on bad fd []");
	assert_string_equal(g->lines[1], "0 PASS named []");
	assert_string_equal(g->lines[2], "0 FAIL --verbose flag []");
	assert_string_equal(g->lines[3], "0 PASS - []");
	assert_string_equal(g->lines[4], "0 PASS - x []");
	ktap_release(&k);
	free(g);
}

/* printk prefixes (timestamps, caller ids, both) and a single leading
 * space change nothing: the same results as the bare KTAP. */
static void test_printk_prefixes(void **state)
{
	static const char text[] =
		"KTAP version 1\n"
		"1..2\n"
		"    KTAP version 1\n"
		"    # Subtest: example\n"
		"    1..3\n"
		"    ok 1 example_simple_test\n"
		"    ok 2 example_skip_test # SKIP this test should be skipped\n"
		"        KTAP version 1\n"
		"        # Subtest: example_params_test\n"
		"        ok 1 - example value 3 # SKIP unsupported\n"
		"        ok 2 example value 2\n"
		"    not ok 3 example_params_test\n"
		"random: crng init done\n"
		"# example: pass:2 fail:1 skip:1 total:3\n"
		"not ok 1 example\n"
		"ok 2 other # SKIP\n";
	static const char *const fmts[] = {
		"[%5d.%06d] ",			/* CONFIG_PRINTK_TIME */
		"[    T%1$d] ",		/* CONFIG_PRINTK_CALLER, no time */
		"[     C%1$d] ",		/* caller on a CPU */
		"[%5d.%06d][    T1] ",		/* both */
		" ",			/* a single leading space */
		"[%5d.%06d]  ",			/* time and a single leading space */
	};
	struct ktap k0, k;
	struct got *want = parse(&k0, text);

	(void)state;
	assert_int_equal(want->n, 7);
	assert_string_equal(want->lines[2], "2 SKIP example/example_params_test/example value 3 "
					    "[SKIP unsupported]");
	for (size_t f = 0; f < sizeof(fmts) / sizeof(fmts[0]); f++) {
		struct got *g = parse_prefixed(&k, text, fmts[f]);
		assert_int_equal(g->n, want->n);
		for (int i = 0; i < want->n; i++)
			assert_string_equal(g->lines[i], want->lines[i]);
		assert_int_equal(k.plan, 2);
		assert_int_equal(k.ntop, 2);
		ktap_release(&k);
		free(g);
	}
	ktap_release(&k0);
	free(want);
}

/* KUnit prints its document through printk before /init prints its own:
 * each top-level version line starts a document with its own plan and
 * prefix. */
static void test_second_document(void **state)
{
	static const char text[] =
		"[    0.100000] KTAP version 1\n"
		"[    0.100001] 1..1\n"
		"[    0.100002]     KTAP version 1\n"
		"[    0.100003]     ok 1 case\n"
		"[    0.100004] ok 1 suite\n"
		"Run /init as init process\n"
		"KTAP version 1\n"
		"1..3\n"
		"ok 1 first\n";
	struct ktap k;
	struct got *g = parse(&k, text);

	(void)state;
	assert_int_equal(g->n, 3);
	assert_string_equal(g->lines[0], "1 PASS suite/case []");
	assert_string_equal(g->lines[2], "0 PASS first []");
	assert_int_equal(k.plan, 3);
	assert_int_equal(k.ntop, 1);
	ktap_release(&k);
	free(g);
}

struct count {
	unsigned long n, bytes, maxdepth, maxname, maxpend;
	struct ktap *k;
};

static void count_cb(void *data, const struct ktap_result *r)
{
	struct count *c = data;
	size_t len = strlen(r->name);

	c->n++;
	c->bytes += len + strlen(r->reason);
	if ((unsigned long)r->depth > c->maxdepth)
		c->maxdepth = r->depth;
	if (len > c->maxname)
		c->maxname = len;
}

static void feed_str(struct count *c, const char *s)
{
	ktap_feed(c->k, s, strlen(s));
	if (c->k->pend_bytes > c->maxpend)
		c->maxpend = c->k->pend_bytes;
}

/* The bomb, in process: 20 levels, 4096 results with 4000-byte
 * names at the deepest, one 4000-byte-named parent line per level. */
static void test_nesting_bomb(void **state)
{
	static char line[4200], name[4001];
	struct ktap k;
	struct count c = { .k = &k };
	const int levels = 20;

	(void)state;
	memset(name, 'n', 4000);
	ktap_init(&k, count_cb, &c);
	feed_str(&c, "KTAP version 1");
	feed_str(&c, "1..1");
	for (int l = 1; l < levels; l++) {
		snprintf(line, sizeof(line), "%*sKTAP version 1", 2 * l, "");
		feed_str(&c, line);
		snprintf(line, sizeof(line), "%*s1..1", 2 * l, "");
		feed_str(&c, line);
	}
	for (int i = 1; i <= 4096; i++) {
		snprintf(line, sizeof(line), "%*sok %d %s", 2 * (levels - 1), "", i, name);
		feed_str(&c, line);
	}
	for (int l = levels - 2; l >= 0; l--) {
		snprintf(line, sizeof(line), "%*sok 1 %s", 2 * l, "", name);
		feed_str(&c, line);
	}
	ktap_end(&k);
	/* levels 16..19 are past the cap; 0..15 reported, names clipped */
	assert_int_equal(c.n, KTAP_MAX_DEPTH);
	assert_int_equal(k.trunc.deep, 4096 + levels - 1 - KTAP_MAX_DEPTH);
	assert_true(k.trunc.clipped >= KTAP_MAX_DEPTH);
	assert_int_equal(c.maxdepth, KTAP_MAX_DEPTH - 1);
	assert_true(c.maxname <= KTAP_PATH_MAX);
	assert_true(c.maxpend < 64 * 1024);
	assert_int_equal(k.nresults, k.nemitted + k.trunc.deep + k.trunc.budget + k.trunc.orphaned);
	ktap_release(&k);
}

/* Below the depth cap, many long-named results at every level: names are
 * clipped as parsed, the waiting results stay within their byte budget, and
 * every result is either reported or counted. */
static void test_budget(void **state)
{
	static char line[4200], name[4001];
	struct ktap k;
	struct count c = { .k = &k };
	const int levels = 12, per = 4096;
	unsigned long in = 0;

	(void)state;
	memset(name, 'm', 4000);
	ktap_init(&k, count_cb, &c);
	feed_str(&c, "KTAP version 1");
	for (int l = levels - 1; l >= 0; l--) {
		for (int i = 1; l && i <= per; i++) {
			snprintf(line, sizeof(line), "%*sok %d %s", 2 * l, "", i, name);
			feed_str(&c, line);
			in += strlen(line) + 1;
		}
		snprintf(line, sizeof(line), "%*sok %d %s", 2 * l, "", per + 1, name);
		feed_str(&c, line);
		in += strlen(line) + 1;
	}
	ktap_end(&k);
	assert_true(c.maxpend <= KTAP_PENDING_BYTES);
	assert_true(k.trunc.budget > 0);
	assert_int_equal(k.trunc.deep, 0);
	assert_true(c.n > (unsigned long)per);
	assert_true(c.maxname <= KTAP_PATH_MAX);
	assert_int_equal(k.nresults, (unsigned long)(levels - 1) * (per + 1) + 1);
	assert_int_equal(k.nresults, k.nemitted + k.trunc.budget + k.trunc.orphaned);
	assert_true(c.bytes <= in);	/* output no larger than input */
	ktap_release(&k);
}

static void test_clip_and_note(void **state)
{
	static char line[4200], name[600];
	char note[512];
	struct ktap k;
	struct count c = { .k = &k };

	(void)state;
	/* a multibyte character straddling the bound is not split */
	memset(name, 'a', sizeof(name) - 1);
	memcpy(name + KTAP_NAME_MAX - 1, "\xc3\xa9", 2);
	ktap_init(&k, count_cb, &c);
	feed_str(&c, "KTAP version 1");
	feed_str(&c, "  KTAP version 1");
	feed_str(&c, "    KTAP version 1");
	snprintf(line, sizeof(line), "    ok 1 %s", name);
	feed_str(&c, line);
	snprintf(line, sizeof(line), "  ok 1 %s", name);
	feed_str(&c, line);
	snprintf(line, sizeof(line), "ok 1 %s # %s", name, name);
	feed_str(&c, line);
	assert_int_equal(c.n, 3);
	/* three names, the top's reason, the grandchild's joined path */
	assert_int_equal(k.trunc.clipped, 5);
	assert_int_equal(c.maxname, 2 * (KTAP_NAME_MAX - 1) + 1);
	feed_str(&c, "  ok 1 orphan");
	ktap_end(&k);
	assert_int_equal(k.trunc.orphaned, 1);
	assert_false(ktap_trunc_note(&k, note, 0));
	assert_true(ktap_trunc_note(&k, note, sizeof(note)));
	assert_string_equal(note, "parent result line missing (1 results dropped), 5 names "
				  "clipped (name 256, path 512, reason 512 bytes)");
	ktap_release(&k);

	memset(&c, 0, sizeof(c));
	c.k = &k;
	ktap_init(&k, count_cb, &c);
	snprintf(line, sizeof(line), "ok 1 %s", name);
	feed_str(&c, line);
	assert_int_equal(c.maxname, KTAP_NAME_MAX - 1);	/* stopped before the 2-byte char */
	assert_int_equal(k.trunc.clipped, 1);
	ktap_release(&k);
}

/* kselftest's rules, as /init nests a kselftest target: a program that
 * stopped early (clone3_set_tid planned 29, ran 21) has its unrun subtests
 * MISSING, and a nameless result is named by its description, so the name
 * does not depend on the arch's numbering. */
static void test_kselftest_plan_missing(void **state)
{
	static const char text[] =
		"KTAP version 1\n"
		"1..1\n"
		"  KTAP version 1\n"
		"  1..1\n"
		"    TAP version 13\n"
		"    1..5\n"
		"    ok 1 first\n"
		"    ok 2 # SKIP New time NS\n"
		"    # kfarm-init: 0.051 s\n"
		"  not ok 1 prog # crashed: SIGABRT\n"
		"not ok 1 kselftest:demo # 1 of 1 failed: prog\n";
	struct ktap k;
	struct got *g = parse(&k, text);

	(void)state;
	assert_int_equal(g->n, 7);
	assert_string_equal(g->lines[0], "2 PASS kselftest:demo/prog/first []");
	assert_string_equal(g->lines[1], "2 SKIP kselftest:demo/prog/New time NS [SKIP New time NS]");
	assert_string_equal(g->lines[2],
			    "2 MISSING kselftest:demo/prog/test 3 [never ran: plan 1..5, 2 results]");
	assert_string_equal(g->lines[4],
			    "2 MISSING kselftest:demo/prog/test 5 [never ran: plan 1..5, 2 results]");
	assert_string_equal(g->lines[5], "1 FAIL kselftest:demo/prog [crashed: SIGABRT]");
	assert_string_equal(g->lines[6], "0 FAIL kselftest:demo [1 of 1 failed: prog]");
	ktap_end(&k);
	assert_int_equal(k.nresults + k.nmissing, k.nemitted);
	ktap_release(&k);
	free(g);
}

/* A subtest that said ok but ran less than its plan is not ok; a nameless
 * result without a description keeps "test N". */
static void test_kselftest_short_plan_not_ok(void **state)
{
	static const char text[] =
		"KTAP version 1\n"
		"1..1\n"
		"  TAP version 13\n"
		"  1..3\n"
		"  ok 1\n"
		"ok 1 user:futex_waitv\n";
	struct ktap k;
	struct got *g = parse(&k, text);

	(void)state;
	assert_int_equal(g->n, 4);
	assert_string_equal(g->lines[0], "1 PASS user:futex_waitv/test 1 []");
	assert_string_equal(g->lines[1], "1 MISSING user:futex_waitv/test 2 [never ran: plan 1..3, 1 result]");
	assert_string_equal(g->lines[3], "0 FAIL user:futex_waitv [2 of plan 1..3 never ran]");
	ktap_release(&k);
	free(g);
}

/* A program that skips the rest after part of its plan (ksft_exit_skip:
 * clone3 on a kernel without it, sparc64 6.12) is SKIP, and so is what it
 * did not run: not MISSING, which would read as lost results. */
static void test_kselftest_skip_rest(void **state)
{
	static const char text[] =
		"KTAP version 1\n"
		"1..1\n"
		"  TAP version 13\n"
		"  1..3\n"
		"  ok 1 # SKIP clone3() syscall is not supported\n"
		"ok 1 user:clone3 # SKIP exit status 4\n";
	struct ktap k;
	struct got *g = parse(&k, text);

	(void)state;
	assert_int_equal(g->n, 4);
	assert_string_equal(g->lines[1], "1 SKIP user:clone3/test 2 "
			    "[SKIP not run, the test skipped the rest: plan 1..3, 1 result]");
	assert_string_equal(g->lines[3], "0 SKIP user:clone3 [SKIP exit status 4]");
	assert_int_equal(k.nmissing, 2);	/* made for the plan, as SKIP */
	ktap_release(&k);
	free(g);
}

/* "# Totals:" with failures makes an ok subtest not ok (kcmp_test exits 0
 * after three failures); all-zero totals change nothing. */
static void test_kselftest_totals(void **state)
{
	static const char text[] =
		"KTAP version 1\n"
		"1..2\n"
		"  TAP version 13\n"
		"  1..1\n"
		"  ok 1 a\n"
		"  # Totals: pass:1 fail:0 xfail:0 xpass:0 skip:0 error:0\n"
		"ok 1 user:good\n"
		"  TAP version 13\n"
		"  1..3\n"
		"  not ok 1 a\n"
		"  not ok 2 b\n"
		"  not ok 3 c\n"
		"  # Totals: pass:0 fail:3 xfail:0 xpass:0 skip:0 error:0\n"
		"ok 2 user:kcmp_test\n";
	struct ktap k;
	struct got *g = parse(&k, text);

	(void)state;
	assert_int_equal(g->n, 6);
	assert_string_equal(g->lines[1], "0 PASS user:good []");
	assert_string_equal(g->lines[5],
			    "0 FAIL user:kcmp_test [Totals: pass:0 fail:3 xfail:0 xpass:0 skip:0 error:0]");
	ktap_release(&k);
	free(g);
}

/* A plan of a million with nothing run costs KTAP_MISSING_MAX results, the
 * last naming the rest. */
static void test_kselftest_missing_bounded(void **state)
{
	static const char text[] =
		"KTAP version 1\n"
		"1..1\n"
		"  1..1000000\n"
		"not ok 1 user:huge # crashed: SIGSEGV\n";
	struct ktap k;
	struct got *g = parse(&k, text);

	(void)state;
	assert_int_equal(k.nemitted, KTAP_MISSING_MAX + 1);
	assert_int_equal(k.nmissing, KTAP_MISSING_MAX);
	ktap_release(&k);
	free(g);
}

/* ktap_line.c alone: what one line says, with no parser state. */
static void test_line_syntax(void **state)
{
#define L(s) s, sizeof(s) - 1
	struct ktap_parsed r;
	const char *s = "# #   ok 3 - deep # SKIP no";
	size_t len = strlen(s);
	int indent = 0;

	(void)state;
	assert_int_equal(ktap_classify(L("ok")), KL_RESULT);
	assert_int_equal(ktap_classify(L("not ok 2 x")), KL_RESULT);
	assert_int_equal(ktap_classify(L("okay")), KL_NONE);
	assert_int_equal(ktap_classify(L("KTAP version 1  ")), KL_VERSION);
	assert_int_equal(ktap_classify(L("KTAP version 1x")), KL_NONE);
	assert_int_equal(ktap_classify(L("1..7")), KL_PLAN);
	assert_int_equal(ktap_classify(L("1..x")), KL_NONE);
	assert_int_equal(ktap_classify(L("Bail out! disk")), KL_BAIL);
	assert_int_equal(ktap_plan_count(L("1..1000000")), 1000000);
	assert_int_equal(ktap_plan_count(L("1..1000001")), -1);
	assert_int_equal(ktap_totals_failed(L("# Totals: pass:3 fail:0 xfail:0 xpass:0 skip:1 error:0")), 0);
	assert_int_equal(ktap_totals_failed(L("# Totals: pass:3 fail:0 error:2")), 1);
	assert_int_equal(ktap_totals_failed(L("# Total: fail:1")), -1);
	assert_int_equal(ktap_unnest(&s, &len, &indent), 2);
	assert_int_equal(indent, 2);
	ktap_parse_result(s, len, 9, &r);
	assert_int_equal(r.num, 3);
	assert_int_equal(r.st, TS_SKIP);
	assert_int_equal(r.namelen, 4);
	assert_memory_equal(r.name, "deep", 4);
	ktap_parse_result(L("not ok # TIMEOUT: 30 s"), 9, &r);
	assert_int_equal(r.num, 9);
	assert_int_equal(r.st, TS_FAIL);
	assert_int_equal(r.namelen, 0);
	{
		const char *d;
		size_t dl;

		ktap_description(&r, &d, &dl);
		assert_int_equal(dl, 4);
		assert_memory_equal(d, "30 s", 4);
	}
	assert_int_equal(ktap_clip_len(L("ab\xc3\xa9"), 3), 2);	/* not inside the e-acute */
#undef L
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rst_example),
		cmocka_unit_test(test_kselftest_hash_nesting),
		cmocka_unit_test(test_noise_and_directives),
		cmocka_unit_test(test_missing_numbers_and_names),
		cmocka_unit_test(test_truncated_stream),
		cmocka_unit_test(test_bail_out),
		cmocka_unit_test(test_lookalike_lines_change_nothing),
		cmocka_unit_test(test_lost_result_line_not_credited),
		cmocka_unit_test(test_lost_intermediate_parent),
		cmocka_unit_test(test_dash_separator_only),
		cmocka_unit_test(test_printk_prefixes),
		cmocka_unit_test(test_second_document),
		cmocka_unit_test(test_nesting_bomb),
		cmocka_unit_test(test_budget),
		cmocka_unit_test(test_clip_and_note),
		cmocka_unit_test(test_kselftest_plan_missing),
		cmocka_unit_test(test_kselftest_short_plan_not_ok),
		cmocka_unit_test(test_kselftest_skip_rest),
		cmocka_unit_test(test_kselftest_totals),
		cmocka_unit_test(test_kselftest_missing_bounded),
		cmocka_unit_test(test_line_syntax),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
