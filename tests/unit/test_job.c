/* A job's console without a VM: only /init's KTAP document ends the suite,
 * never a kernel's own KUnit document printed before /init starts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kunit_then_init),
		cmocka_unit_test(test_kunit_only),
		cmocka_unit_test(test_init_alone),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
