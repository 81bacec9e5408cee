/* A job's console without a VM: only /init's KTAP document ends the suite,
 * never a kernel's own KUnit document printed before /init starts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../runner/hosts.h"
#include "../../runner/job.h"
#include "../../runner/util.h"

/* KUnit's output through printk, as a kernel built with KUNIT=y prints it
 * at boot: a complete document with its own plan */
static const char kunit_doc[] =
	"[    0.512000] KTAP version 1\n"
	"[    0.512010] 1..2\n"
	"[    0.512020]     KTAP version 1\n"
	"[    0.512030]     # Subtest: example\n"
	"[    0.512040]     1..1\n"
	"[    0.512050]     ok 1 example_simple_test\n"
	"[    0.512060] ok 1 example\n"
	"[    0.512070]     KTAP version 1\n"
	"[    0.512080]     # Subtest: list-kunit-test\n"
	"[    0.512090]     1..1\n"
	"[    0.512100]     ok 1 list_test_list_init\n"
	"[    0.512110] ok 2 list-kunit-test\n"
	"[    0.600000] Run /init as init process\n";

static const char init_head[] =
	"KTAP version 1\n"
	"# kfarm-init: uname Linux 6.12.117 #1 x86_64\n"
	"1..2\n"
	"  KTAP version 1\n"
	"  # Subtest: clone3\n"
	"  1..1\n"
	"  ok 1 child_exit_status\n"
	"ok 1 clone3\n";

static const char init_tail[] = "ok 2 futex\n# kfarm-init: done\n";

static struct job *console_job(void)
{
	struct job *j = job_new();

	j->lb = xcalloc(1, sizeof(*j->lb));	/* job_start's, without a VM */
	j->lberr = xcalloc(1, sizeof(*j->lberr));
	j->tests = xcalloc(3, sizeof(char *));
	j->tests[0] = xstrdup("clone3");
	j->tests[1] = xstrdup("futex");
	return j;
}

static void feed(struct job *j, const char *s)
{
	job_console(j, s, strlen(s));
}

static void test_kunit_then_init(void **state)
{
	struct job *j = console_job();
	struct vm_exit ex = { .exited = 1, .by_us = 1 };

	(void)state;
	feed(j, kunit_doc);
	assert_int_equal(j->ktap.plan, 2);	/* the KUnit doc is complete ... */
	assert_int_equal(j->ktap.ntop, 2);
	assert_false(job_suite_done(j));	/* ... and does not end the suite */
	feed(j, init_head);
	assert_false(job_suite_done(j));	/* /init: 1 of 2 */
	feed(j, init_tail);
	assert_true(job_suite_done(j));
	assert_string_equal(j->release, "6.12.117");
	/* KUnit's results nest under kunit:SUITE, /init's keep their names */
	assert_true(j->nres >= 6);
	assert_string_equal(j->res[0].test, "kunit:example/example_simple_test");
	assert_string_equal(j->res[1].test, "kunit:example");
	assert_int_equal(j->res[1].depth, 0);
	assert_string_equal(j->res[3].test, "kunit:list-kunit-test");
	assert_string_equal(j->res[4].test, "clone3/child_exit_status");
	assert_string_equal(j->res[5].test, "clone3");
	job_finish(j, &ex);
	assert_int_equal(j->outcome, JOB_COMPLETE);
	job_free(j);
}

static void test_kunit_only(void **state)
{
	struct job *j = console_job();
	struct vm_exit ex = { .exited = 1 };
	size_t missing = 0;

	(void)state;
	feed(j, kunit_doc);
	assert_false(job_suite_done(j));
	job_finish(j, &ex);
	assert_int_equal(j->outcome, JOB_BOOT_FAIL);
	assert_non_null(strstr(j->reason, "before /init"));
	for (size_t i = 0; i < j->nres; i++)
		missing += j->res[i].status == RS_MISSING;
	assert_int_equal(missing, 2);	/* clone3 and futex never ran */
	job_free(j);
}

/* /init's own document, unprefixed, with no KUnit before it */
static void test_init_alone(void **state)
{
	struct job *j = console_job();

	(void)state;
	feed(j, init_head);
	assert_false(job_suite_done(j));
	feed(j, init_tail);
	assert_true(job_suite_done(j));
	job_free(j);
}

/* A KUnit case that oopses and is caught (6.12's "try faulted"): the
 * kernel goes on, the case is not ok with the crash quoted, the job PANIC. */
static const char kunit_crash_doc[] =
	"[    0.500000] KTAP version 1\n"
	"[    0.500010] 1..1\n"
	"[    0.500020]     KTAP version 1\n"
	"[    0.500030]     # Subtest: example\n"
	"[    0.500040]     # module: kunit_example_test\n"
	"[    0.500050]     1..3\n"
	"[    0.500060]     ok 1 example_simple_test\n"
	"[    0.500070] BUG: kernel NULL pointer dereference, address: 0000000000000000\n"
	"[    0.500080] #PF: supervisor read access in kernel mode\n"
	"[    0.500090] Oops: Oops: 0000 [#1] PREEMPT NOPTI\n"
	"[    0.500100] ---[ end trace 0000000000000000 ]---\n"
	"[    0.500110]     # example_crash_test: try faulted: last line seen "
	"lib/kunit/kunit-example-test.c:292\n"
	"[    0.500120]     # example_crash_test: internal error occurred preventing "
	"test case from running: -4\n"
	"[    0.500130]     not ok 2 example_crash_test\n"
	"[    0.500140]     ok 3 example_skip_test # SKIP this test should be skipped\n"
	"[    0.500150] # example: pass:1 fail:1 skip:1 total:3\n"
	"[    0.500160] not ok 1 example\n"
	"[    0.600000] Run /init as init process\n";

static const struct result *find(const struct job *j, const char *test)
{
	for (size_t i = 0; i < j->nres; i++)
		if (!strcmp(j->res[i].test, test))
			return &j->res[i];
	return NULL;
}

static void test_kunit_crashed_case(void **state)
{
	struct job *j = console_job();
	struct vm_exit ex = { .exited = 1, .by_us = 1 };
	const struct result *r;

	(void)state;
	feed(j, kunit_crash_doc);
	feed(j, init_head);
	feed(j, init_tail);
	assert_true(job_suite_done(j));
	job_finish(j, &ex);
	assert_int_equal(j->outcome, JOB_PANIC);
	assert_non_null(strstr(j->reason, "BUG: kernel NULL pointer dereference"));
	r = find(j, "kunit:example/example_crash_test");
	assert_non_null(r);
	assert_int_equal(r->status, RS_FAIL);
	assert_non_null(strstr(r->reason, "crashed: "));
	assert_non_null(strstr(r->reason, "BUG: kernel NULL pointer dereference"));
	r = find(j, "kunit:example/example_simple_test");	/* not blamed */
	assert_non_null(r);
	assert_int_equal(r->status, RS_PASS);
	assert_string_equal(r->reason, "");
	r = find(j, "kunit:example/example_skip_test");
	assert_non_null(r);
	assert_int_equal(r->status, RS_SKIP);
	r = find(j, "kunit:example");	/* its suite failed, but did not crash */
	assert_non_null(r);
	assert_int_equal(r->status, RS_FAIL);
	assert_null(strstr(r->reason, "crashed"));
	assert_non_null(find(j, "clone3/child_exit_status"));	/* /init's keep their names */
	job_free(j);
}

/* kunit_crash_doc's lines, each with its printk prefix replaced by pre */
static char *reprefix(const char *pre)
{
	struct sb b;

	sb_init(&b);
	for (const char *l = kunit_crash_doc; *l;) {
		const char *nl = strchr(l, '\n'), *body = strstr(l, "] ") + 2;

		sb_addf(&b, "%s%.*s\n", pre, (int)(nl - body), body);
		l = nl + 1;
	}
	return b.buf;
}

/* "test|status|depth|reason" of every result of one console, after /init */
static char *results_of(const char *console)
{
	struct job *j = console_job();
	struct vm_exit ex = { .exited = 1, .by_us = 1 };
	struct sb b;

	feed(j, console);
	feed(j, init_head);
	feed(j, init_tail);
	job_finish(j, &ex);
	sb_init(&b);
	for (size_t i = 0; i < j->nres; i++)
		sb_addf(&b, "%s|%d|%d|%s\n", j->res[i].test, j->res[i].status, j->res[i].depth,
			j->res[i].reason ? j->res[i].reason : "");
	sb_addf(&b, "outcome %d", j->outcome);
	job_free(j);
	return b.buf;
}

/* printk's prefixes change nothing: none (no CONFIG_PRINTK_TIME), a
 * timestamp, a caller id, both, a single leading space */
static void test_kunit_prefixes(void **state)
{
	static const char *const pre[] = { "", "[    0.512000] ", "[    T1] ",
					   "[    0.512000][    T1] ", "[  123.000001][     C0] ", " " };
	char *bare = reprefix(pre[0]), *want = results_of(bare);

	(void)state;
	assert_non_null(strstr(want, "kunit:example/example_crash_test|1|1|crashed: BUG"));
	for (size_t i = 1; i < sizeof(pre) / sizeof(pre[0]); i++) {
		char *doc = reprefix(pre[i]), *got = results_of(doc);

		assert_string_equal(got, want);
		free(doc);
		free(got);
	}
	free(bare);
	free(want);
}

/* The kernel panics in the middle of its KUnit run (oops=panic): the suite
 * it was in is cut off, what it reported is kept, its unrun cases and the
 * suites that never started are MISSING, never absent. */
static const char kunit_panic_doc[] =
	"[    0.500000] KTAP version 1\n"
	"[    0.500010] 1..3\n"
	"[    0.500020]     KTAP version 1\n"
	"[    0.500030]     # Subtest: list-kunit-test\n"
	"[    0.500040]     1..1\n"
	"[    0.500050]     ok 1 list_test_list_init\n"
	"[    0.500060] ok 1 list-kunit-test\n"
	"[    0.500070]     KTAP version 1\n"
	"[    0.500080]     # Subtest: example\n"
	"[    0.500090]     1..4\n"
	"[    0.500100]     ok 1 example_simple_test\n"
	"[    0.500110]         KTAP version 1\n"
	"[    0.500120]         # Subtest: example_params_test\n"
	"[    0.500130]         ok 1 example value 3 # SKIP unsupported param value 3\n"
	"[    0.500140] BUG: kernel NULL pointer dereference, address: 0000000000000000\n"
	"[    0.500150] Oops: 0000 [#1] PREEMPT NOPTI\n"
	"[    0.500160] Kernel panic - not syncing: Fatal exception\n";

static void test_kunit_panic_cut_off(void **state)
{
	struct job *j = console_job();
	struct vm_exit ex = { .exited = 1 };
	const struct result *r;

	(void)state;
	feed(j, kunit_panic_doc);
	job_finish(j, &ex);
	assert_int_equal(j->outcome, JOB_PANIC);
	r = find(j, "kunit:list-kunit-test");	/* a whole suite before it */
	assert_non_null(r);
	assert_int_equal(r->status, RS_PASS);
	r = find(j, "kunit:example/example_simple_test");
	assert_non_null(r);
	assert_int_equal(r->status, RS_PASS);
	r = find(j, "kunit:example/example_params_test/example value 3");
	assert_non_null(r);
	assert_int_equal(r->status, RS_SKIP);
	r = find(j, "kunit:example/example_params_test");	/* open when it died */
	assert_non_null(r);
	assert_int_equal(r->status, RS_FAIL);
	assert_non_null(strstr(r->reason, "cut off: BUG: kernel NULL pointer dereference"));
	for (int n = 3; n <= 4; n++) {	/* plan 1..4: 2 ran */
		char name[64];

		snprintf(name, sizeof(name), "kunit:example/test %d", n);
		r = find(j, name);
		assert_non_null(r);
		assert_int_equal(r->status, RS_MISSING);
		assert_non_null(strstr(r->reason, "never ran: plan 1..4"));
	}
	r = find(j, "kunit:example");
	assert_non_null(r);
	assert_int_equal(r->status, RS_FAIL);
	assert_int_equal(r->depth, 0);
	assert_non_null(strstr(r->reason, "cut off: "));
	r = find(j, "kunit:test 3");	/* the third suite never started */
	assert_non_null(r);
	assert_int_equal(r->status, RS_MISSING);
	assert_int_equal(r->depth, 0);
	r = find(j, "clone3");		/* /init never ran */
	assert_non_null(r);
	assert_int_equal(r->status, RS_MISSING);
	assert_int_equal(j->ktap.trunc.orphaned, 0);	/* nothing dropped */
	job_free(j);
}

/* A cut-off document that is not the kernel's (a guest's /init dying) is
 * left as before: no results made up for it. */
static void test_init_doc_not_cut(void **state)
{
	struct job *j = console_job();
	struct vm_exit ex = { .exited = 1 };

	(void)state;
	feed(j, "[    0.600000] Run /init as init process\n");
	feed(j, init_head);
	feed(j, "  KTAP version 1\n  # Subtest: futex\n  1..3\n  ok 1 wait\n");
	feed(j, "Kernel panic - not syncing: Attempted to kill init! exitcode=0x0000000b\n");
	job_finish(j, &ex);
	assert_int_equal(j->outcome, JOB_PANIC);
	assert_int_equal(j->ktap.ncut, 0);
	assert_null(find(j, "futex/wait"));	/* orphaned, as before */
	assert_non_null(find(j, "clone3"));
	assert_int_equal(find(j, "futex")->status, RS_MISSING);
	assert_null(find(j, "kunit:clone3"));
	job_free(j);
}

/* --- the job decides how an attempt ends (sched.c only reports it) --- */

static struct job *infra_job(int attempt)
{
	struct job *j = console_job();
	struct vm_exit ex = { .exited = 1, .status = 1 };

	j->attempt = attempt;
	feed(j, init_head);
	job_finish(j, &ex);	/* exit status 1, not by us, not done: INFRA_ERROR */
	assert_int_equal(j->outcome, JOB_INFRA_ERROR);
	return j;
}

static void test_retry_within_budget(void **state)
{
	struct job *j = infra_job(1);

	(void)state;
	assert_true(job_attempt_done(j, 1));	/* attempt 1 of 1 + 1 retry */
	job_reset(j);
	assert_int_equal(j->state, JS_QUEUED);
	assert_int_equal(j->outcome, JOB_PENDING);
	assert_int_equal(j->nres, 0);
	job_free(j);
	j = infra_job(2);
	assert_false(job_attempt_done(j, 1));	/* budget spent: final */
	job_close(j);
	assert_int_equal(j->outcome, JOB_INFRA_ERROR);	/* kept once final */
	assert_true(j->nres > 0);
	job_free(j);
}

/* An attempt lost with its host is not counted, and what it saw there is
 * dropped (the retry reports it again). */
static void test_host_lost_not_counted(void **state)
{
	struct job *j = infra_job(1);

	(void)state;
	j->vm.host_down = 1;
	assert_true(job_attempt_done(j, 0));
	assert_int_equal(j->lost, 1);
	assert_int_equal(j->nres, 0);
	job_free(j);
}

/* Anything else is final at once. */
static void test_kernel_fault_final(void **state)
{
	struct job *j = console_job();
	struct vm_exit ex = { .exited = 1 };

	(void)state;
	j->attempt = 1;
	feed(j, "Kernel panic - not syncing: boom\n");
	job_finish(j, &ex);
	assert_int_equal(j->outcome, JOB_PANIC);
	assert_false(job_attempt_done(j, 5));
	job_free(j);
}

static void test_give_up_and_abandon(void **state)
{
	struct host remote = { .name = "lab" };
	struct job *j = console_job();
	struct vm_exit ex = { .by_us = 1 };

	(void)state;
	job_give_up(j, "no host that is still up can run x86_64");
	assert_int_equal(j->state, JS_DONE);
	assert_int_equal(j->outcome, JOB_INFRA_ERROR);
	assert_string_equal(j->reason, "no host that is still up can run x86_64");
	job_free(j);

	j = console_job();	/* a hung backend on a remote host */
	j->host = &remote;
	j->attempt = 1;
	feed(j, init_head);
	job_abandon(j, 30);
	assert_int_equal(j->outcome, JOB_INFRA_ERROR);
	assert_true(j->vm.host_down);
	assert_non_null(strstr(j->reason, "did not end 30s after it was stopped"));
	assert_non_null(strstr(j->reason, "on host lab"));
	job_finish(j, &ex);
	assert_int_equal(j->outcome, JOB_INFRA_ERROR);
	job_free(j);

	j = console_job();	/* every result in: it completed, hung or not */
	feed(j, init_head);
	feed(j, init_tail);
	job_abandon(j, 30);
	job_finish(j, &ex);
	assert_int_equal(j->outcome, JOB_COMPLETE);
	job_free(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kunit_then_init),
		cmocka_unit_test(test_kunit_only),
		cmocka_unit_test(test_init_alone),
		cmocka_unit_test(test_kunit_crashed_case),
		cmocka_unit_test(test_kunit_prefixes),
		cmocka_unit_test(test_kunit_panic_cut_off),
		cmocka_unit_test(test_init_doc_not_cut),
		cmocka_unit_test(test_retry_within_budget),
		cmocka_unit_test(test_host_lost_not_counted),
		cmocka_unit_test(test_kernel_fault_final),
		cmocka_unit_test(test_give_up_and_abandon),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
