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
#include "fake_backend.h"

static int stops, releases;

struct stuck {
	int w;			/* the console's write end: never closed while it "runs" */
};

static int stuck_start(struct vm *vm, const struct vm_spec *spec, struct err *err,
		       unsigned int flags)
{
	int p[2];
	struct stuck *s;

	(void)spec, (void)err, (void)flags;
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

/* --- the scheduler over the fake backend: placement, retries, host loss,
 * and jobs pulled as slots free up --- */

static struct job *fake_job(const char *label)
{
	struct job *j = job_new();

	j->arch = xstrdup("x86_64");
	j->label = xstrdup(label);
	j->be = &fake_backend;
	return j;
}

static void reset_fake(void)
{
	memset(&fake, 0, sizeof(fake));
}

struct lazy {
	size_t made, total, back, out, max_out, complete;
};

static struct job *lazy_next(void *data)
{
	struct lazy *l = data;
	char name[32];

	if (l->made == l->total)
		return NULL;
	snprintf(name, sizeof(name), "j%zu", l->made++);
	if (++l->out > l->max_out)
		l->max_out = l->out;
	return fake_job(name);
}

static void lazy_put(struct job *j, void *data)
{
	struct lazy *l = data;

	l->back++;
	l->out--;
	l->complete += j->state == JS_DONE && j->outcome == JOB_COMPLETE && j->nres == 2;
	job_free(j);
}

/* 300 jobs through 4 slots: every one run and handed back, never more than
 * a few slots' worth out of the source at once. */
static void test_pull_source(void **state)
{
	struct lazy l = { .total = 300 };
	struct sched_source src = { lazy_next, lazy_put, &l, NULL, NULL, NULL };
	struct sched_opts o = {
		.jobs = 4, .boot_timeout = 10, .silence_timeout = 10, .total_timeout = 10,
	};

	(void)state;
	reset_fake();
	assert_int_equal(sched_run_source(&src, &o), 0);
	assert_int_equal(l.made, 300);
	assert_int_equal(l.back, 300);
	assert_int_equal(l.complete, 300);
	assert_true(fake.max_live <= 4);
	if (l.max_out > 2 * 4 + 8 + 4)
		fail_msg("%zu jobs out of the source at once", l.max_out);
	assert_int_equal(fake.live, 0);
}

static int done_calls, retry_calls;

static void count_done(struct job *j, int will_retry, void *data)
{
	(void)j, (void)data;
	done_calls++;
	retry_calls += will_retry;
}

/* A start failure is an attempt: retried once, then the job completes. */
static void test_retry_after_start_failure(void **state)
{
	struct job *jobs[3] = { fake_job("a"), fake_job("b"), fake_job("c") };
	struct sched_opts o = {
		.jobs = 2, .boot_timeout = 10, .silence_timeout = 10, .total_timeout = 10,
		.infra_retries = 1, .on_done = count_done,
	};

	(void)state;
	reset_fake();
	fake.fail_first = 1;
	for (int i = 0; i < 3; i++)
		jobs[i]->append = xstrdup("console=ttyS0");	/* one string each */
	done_calls = retry_calls = 0;
	assert_int_equal(sched_run(jobs, 3, &o), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(jobs[i]->outcome, JOB_COMPLETE);
		assert_int_equal(jobs[i]->attempt, 2);
		job_free(jobs[i]);
	}
	assert_int_equal(done_calls, 6);
	assert_int_equal(retry_calls, 3);
	assert_int_equal(fake.live, 0);
}

/* A console that trickles a byte at a time (QEMU's UART) from a guest that
 * stays until stopped: the scheduler pauses its watch after each small read
 * and must watch again, or the last result would never be seen before the
 * silence timeout (the write end stays open, so no EPOLLHUP comes). */
static void test_trickle(void **state)
{
	struct job *jobs[3] = { fake_job("a"), fake_job("b"), fake_job("c") };
	struct sched_opts o = {
		.jobs = 2, .boot_timeout = 10, .silence_timeout = 10, .total_timeout = 10,
	};

	(void)state;
	reset_fake();
	fake.trickle = fake.beta_passes = 1;
	assert_int_equal(sched_run(jobs, 3, &o), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(jobs[i]->outcome, JOB_COMPLETE);
		assert_null(jobs[i]->reason);
		assert_int_equal(jobs[i]->nres, 2);
		assert_int_equal(jobs[i]->res[1].status, RS_PASS);
		job_free(jobs[i]);
	}
	assert_int_equal(fake.releases, 3);
	assert_int_equal(fake.live, 0);
}

/* A lab's queue (LAVA with no device free) is not the kernel's time: a VM
 * queued longer than the boot and silence limits still completes, its
 * limits counted from when it began to run. */
static void test_queue_not_boot_time(void **state)
{
	struct job *j = fake_job("q");
	struct sched_opts o = {
		.jobs = 1, .boot_timeout = 0.5, .silence_timeout = 0.5, .total_timeout = 1,
	};

	(void)state;
	reset_fake();
	fake.trickle = fake.beta_passes = 1;
	fake.queue_s = 1.5;
	assert_int_equal(sched_run(&j, 1, &o), 0);
	if (j->outcome != JOB_COMPLETE)
		fail_msg("queued 1.5 s under a 0.5 s boot limit: %s (%s)",
			 job_outcome_name(j->outcome), j->reason ? j->reason : "");
	assert_true(j->t_run - j->t_start >= 1.4);
	assert_int_equal(j->attempt, 1);
	job_free(j);
	assert_int_equal(fake.live, 0);
}

/* Its own limit ends a VM still queued: INFRA_ERROR, retried, never
 * TIMEOUT (nothing of the kernel ran). */
static void test_queue_limit(void **state)
{
	struct job *j = fake_job("q");
	struct sched_opts o = {
		.jobs = 1, .boot_timeout = 10, .silence_timeout = 10, .total_timeout = 10,
		.queue_timeout = 1, .infra_retries = 1,
	};

	(void)state;
	reset_fake();
	fake.trickle = 1;
	fake.queue_s = 5;
	assert_int_equal(sched_run(&j, 1, &o), 0);
	assert_int_equal(j->outcome, JOB_INFRA_ERROR);
	assert_int_equal(j->attempt, 2);
	if (!j->reason || !strstr(j->reason, "still queued for a machine after 1s") ||
	    !strstr(j->reason, "before the VM started"))
		fail_msg("reason: %s", j->reason ? j->reason : "(none)");
	assert_int_equal(j->nres, 0);
	job_free(j);
	assert_int_equal(fake.live, 0);
}

/* A host that drops out: its pool goes down, its job moves to the other host
 * and the lost attempt is not counted against the retries (none here). */
static void test_host_lost(void **state)
{
	struct host a = { .name = "a" }, b = { .name = "b" };
	struct sched_pool pools[2] = {
		{ .name = "a", .slots = 1, .host = &a },
		{ .name = "b", .slots = 1, .host = &b },
	};
	struct job *jobs[2] = { fake_job("x"), fake_job("y") };
	struct sched_opts o = {
		.jobs = 2, .pools = pools, .npools = 2, .boot_timeout = 10,
		.silence_timeout = 10, .total_timeout = 10, .infra_retries = 0,
		.on_pool_down = on_pool_down,
	};
	unsigned int lost = 0;

	(void)state;
	reset_fake();
	fake.lose = &a;
	pool_downs = 0;
	assert_int_equal(sched_run(jobs, 2, &o), 0);
	assert_int_equal(pool_downs, 1);
	assert_true(pools[0].down && !pools[1].down);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(jobs[i]->outcome, JOB_COMPLETE);
		assert_ptr_equal(jobs[i]->host, &b);
		lost += jobs[i]->lost;
		job_free(jobs[i]);
	}
	assert_int_equal(lost, 1);
	assert_int_equal(pools[0].placed, 1);
}

static int accepts_none(const struct sched_pool *p, const struct job *j)
{
	(void)p, (void)j;
	return 0;
}

static size_t unrunnable_seen;

static void count_unrunnable(struct job *j, int will_retry, void *data)
{
	(void)data;
	unrunnable_seen += !will_retry && j->outcome == JOB_INFRA_ERROR &&
			   strstr(j->reason, "no host that is still up");
}

/* No host can run any of them: every job ends at once, not a queue's worth
 * per loop turn. */
static void test_none_runnable(void **state)
{
	struct host h = { .name = "h" };
	struct sched_pool pool = { .name = "h", .slots = 1, .host = &h, .accepts = accepts_none };
	struct lazy l = { .total = 200 };
	struct sched_source src = { lazy_next, lazy_put, &l, NULL, NULL, NULL };
	struct sched_opts o = {
		.jobs = 1, .pools = &pool, .npools = 1, .boot_timeout = 10,
		.silence_timeout = 10, .total_timeout = 10, .on_done = count_unrunnable,
	};
	double t0 = now_mono();

	(void)state;
	reset_fake();
	unrunnable_seen = 0;
	assert_int_equal(sched_run_source(&src, &o), 0);
	assert_int_equal(l.back, 200);
	assert_int_equal(unrunnable_seen, 200);
	assert_int_equal(fake.starts, 0);
	if (now_mono() - t0 > 1)
		fail_msg("took %.1fs", now_mono() - t0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_abandon_here),
		cmocka_unit_test(test_abandon_remote),
		cmocka_unit_test(test_pull_source),
		cmocka_unit_test(test_retry_after_start_failure),
		cmocka_unit_test(test_host_lost),
		cmocka_unit_test(test_trickle),
		cmocka_unit_test(test_queue_not_boot_time),
		cmocka_unit_test(test_queue_limit),
		cmocka_unit_test(test_none_runnable),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
