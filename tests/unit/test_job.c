/* A job's console without a VM: only /init's KTAP document ends the suite,
 * never a kernel's own KUnit document printed before /init starts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

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
		cmocka_unit_test(test_retry_within_budget),
		cmocka_unit_test(test_host_lost_not_counted),
		cmocka_unit_test(test_kernel_fault_final),
		cmocka_unit_test(test_give_up_and_abandon),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
