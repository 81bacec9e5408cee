/* The scheduler's second deadline. A backend that never ends its VM once
 * told to stop (as when its thread is stuck in an SFTP write to a dead host)
 * cannot be made to run here on purpose, so this is a stand-in backend
 * that does exactly that: its console never closes, stop does nothing, and
 * a blocking wait would hang the test. The run must still end, the job as an
 * infrastructure error, a remote host's pool down. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../runner/hosts.h"
#include "../../runner/job.h"
#include "../../runner/sched.h"
#include "../../runner/util.h"

static int stops, releases;

struct stuck {
	int w;			/* the console's write end: never closed while it "runs" */
};

static int stuck_start(struct vm *vm, const struct vm_spec *spec, char *err, size_t errlen,
		       unsigned int flags)
{
	int p[2];
	struct stuck *s;

	(void)spec, (void)err, (void)errlen, (void)flags;
	memset(vm, 0, sizeof(*vm));
	assert_int_equal(pipe(p), 0);
	s = xcalloc(1, sizeof(*s));
	s->w = p[1];
	vm->priv = s;
	vm->console_fd = p[0];
	vm->err_fd = vm->exit_fd = -1;
	return 0;
}

static int stuck_stop(struct vm *vm, unsigned int flags)
{
	(void)vm, (void)flags;
	stops++;
	return 0;
}

static int stuck_wait(struct vm *vm, struct vm_exit *ex, unsigned int flags)
{
	(void)vm, (void)ex;
	if (flags & BACKEND_WAIT_BLOCK)
		fail_msg("the scheduler waited on a backend that never ends");
	return -1;
}

static void stuck_release(struct vm *vm)
{
	struct stuck *s = vm->priv;

	releases++;
	if (s)
		close(s->w);
	if (vm->console_fd >= 0)
		close(vm->console_fd);
	free(s);
	memset(vm, 0, sizeof(*vm));
	vm->console_fd = vm->err_fd = vm->exit_fd = -1;
}

static const struct backend stuck = {
	.name = "stuck", .start = stuck_start, .stop = stuck_stop, .wait = stuck_wait,
	.release = stuck_release,
};

static struct job *stuck_job(void)
{
	struct job *j = job_new();

	j->arch = xstrdup("x86_64");
	j->label = xstrdup("stuck");
	j->be = &stuck;
	return j;
}

static void test_abandon_here(void **state)
{
	struct job *j = stuck_job();
	struct sched_opts o = {
		.jobs = 1, .boot_timeout = 0.2, .silence_timeout = 60, .total_timeout = 60,
		.abandon_after = 0.3,
	};
	double t0 = now_mono(), el;

	(void)state;
	stops = releases = 0;
	assert_int_equal(sched_run(&j, 1, &o), 0);
	el = now_mono() - t0;
	assert_true(el >= 0.5 && el < 3);
	assert_int_equal(j->state, JS_DONE);
	assert_int_equal(j->outcome, JOB_INFRA_ERROR);
	if (!strstr(j->reason, "did not end 0s after it was stopped (boot timeout") ||
	    !strstr(j->reason, "gave up on its backend"))
		fail_msg("reason: %s", j->reason);
	assert_true(stops >= 1);
	assert_int_equal(releases, 1);
	job_free(j);
}

static int pool_downs;

static void on_pool_down(struct sched_pool *p, const char *why, void *data)
{
	(void)p, (void)why, (void)data;
	pool_downs++;
}

/* On a remote host: the host is given up on, the job not retried there. */
static void test_abandon_remote(void **state)
{
	struct host h = { .name = "lab" };
	struct sched_pool pool = { .name = "lab", .slots = 1, .host = &h };
	struct job *j = stuck_job();
	struct sched_opts o = {
		.jobs = 1, .pools = &pool, .npools = 1, .boot_timeout = 0.2,
		.silence_timeout = 60, .total_timeout = 60, .abandon_after = 0.3,
		.infra_retries = 1, .on_pool_down = on_pool_down,
	};

	(void)state;
	pool_downs = 0;
	assert_int_equal(sched_run(&j, 1, &o), 0);
	assert_int_equal(pool_downs, 1);
	assert_true(pool.down);
	assert_int_equal(j->outcome, JOB_INFRA_ERROR);
	assert_int_equal(pool.placed, 1);	/* not retried on the host it was lost on */
	if (!strstr(j->reason, "no host that is still up"))
		fail_msg("reason: %s", j->reason);
	job_free(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_abandon_here),
		cmocka_unit_test(test_abandon_remote),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
