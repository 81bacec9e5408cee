/*
 * futex: FUTEX_WAIT/FUTEX_WAKE between processes on a MAP_SHARED word,
 * EAGAIN when the word does not hold the expected value, ETIMEDOUT after
 * a relative timeout (and not before it), FUTEX_CMP_REQUEUE moving waiters
 * to a second word (and EAGAIN when its compare value is stale), private
 * futex ops, EINVAL for an unaligned address.
 */
#define _GNU_SOURCE
#include <limits.h>
#include <linux/futex.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../kt.h"

static long futex(uint32_t *uaddr, int op, uint32_t val,
		  const struct timespec *ts, uint32_t *uaddr2, uint32_t val3)
{
	return syscall(SYS_futex, uaddr, op, val, ts, uaddr2, val3);
}

struct shared {
	uint32_t f1, f2;
	int ready;
	char pad[8];
};

static struct shared *sh;

/* child: announce, wait on f1 while it is 0, exit 0 when woken */
static pid_t spawn_waiter(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		struct timespec ts = { .tv_sec = 20 };
		long r;

		__atomic_add_fetch(&sh->ready, 1, __ATOMIC_SEQ_CST);
		r = futex(&sh->f1, FUTEX_WAIT, 0, &ts, NULL, 0);
		_exit(r == 0 ? 0 : 10 + (errno & 0x3f));
	}
	return pid;
}

static int wait_ok(pid_t pid)
{
	int st;

	if (waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st);
}

/* keep waking `addr` until `want` sleepers have been woken or time is up */
static int wake_until(uint32_t *addr, int want, double limit)
{
	double end = kt_now() + limit;
	int woken = 0;

	while (woken < want && kt_now() < end) {
		long r = futex(addr, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
		if (r > 0)
			woken += (int)r;
		else
			usleep(1000);
	}
	return woken;
}

static void test_wait_wake(void)
{
	pid_t pid;
	int woken, code;

	sh->f1 = 0;
	sh->ready = 0;
	pid = spawn_waiter();
	woken = wake_until(&sh->f1, 1, 10 * kt_scale());
	code = wait_ok(pid);
	kt_check(woken == 1 && code == 0, "wait_wake_shared",
		 "woke %d waiters, waiter exit code %d (10+errno = wait failed)",
		 woken, code);
}

static void test_requeue(void)
{
	pid_t pids[2];
	int requeued = 0, woken, codes[2];
	double end;

	sh->f1 = 0;
	sh->f2 = 0;
	sh->ready = 0;
	pids[0] = spawn_waiter();
	pids[1] = spawn_waiter();

	/* a stale compare value must not move anybody */
	KT_EXPECT_ERR("cmp_requeue_stale_eagain",
		      futex(&sh->f1, FUTEX_CMP_REQUEUE, 0, (void *)(long)INT_MAX,
			    &sh->f2, 77),
		      EAGAIN);

	/* move both waiters from f1 to f2 without waking them */
	end = kt_now() + 10 * kt_scale();
	while (requeued < 2 && kt_now() < end) {
		long r = futex(&sh->f1, FUTEX_CMP_REQUEUE, 0,
			       (void *)(long)INT_MAX, &sh->f2, 0);
		if (r > 0)
			requeued += (int)r;
		else
			usleep(1000);
	}
	/* nobody is left on f1, both are on f2 */
	long left = futex(&sh->f1, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
	woken = wake_until(&sh->f2, 2, 5 * kt_scale());
	/* anything still asleep (a failure) must not hang the test */
	wake_until(&sh->f1, 2, 0.1);
	codes[0] = wait_ok(pids[0]);
	codes[1] = wait_ok(pids[1]);
	kt_check(requeued == 2 && left == 0 && woken == 2 && codes[0] == 0 &&
			 codes[1] == 0,
		 "cmp_requeue_moves_waiters",
		 "requeued %d, woken on f1 afterwards %ld, woken on f2 %d, exit codes %d %d",
		 requeued, left, woken, codes[0], codes[1]);
}

static void run(void)
{
	uint32_t word = 0;
	struct timespec ts = { .tv_nsec = 50 * 1000 * 1000 };
	double t0, dt;

	sh = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		  -1, 0);
	if (sh == MAP_FAILED)
		kt_brok("mmap shared: %s", kt_errname(errno));

	errno = 0;
	if (futex(&word, FUTEX_WAKE, 1, NULL, NULL, 0) < 0 && errno == ENOSYS)
		kt_skip_all("futex: ENOSYS (CONFIG_FUTEX)");

	KT_EXPECT_ERR("wait_wrong_value_eagain",
		      futex(&word, FUTEX_WAIT, 1, &ts, NULL, 0), EAGAIN);
	KT_EXPECT_ERR("wait_private_wrong_value_eagain",
		      futex(&word, FUTEX_WAIT_PRIVATE, 1, &ts, NULL, 0), EAGAIN);

	t0 = kt_now();
	long r = futex(&word, FUTEX_WAIT_PRIVATE, 0, &ts, NULL, 0);
	int e = errno;
	dt = kt_now() - t0;
	kt_check(r == -1 && e == ETIMEDOUT, "wait_timeout_etimedout",
		 "got %ld errno %s", r, kt_errname(e));
	kt_check(dt >= 0.049 && dt < 0.05 + 2.0 * kt_scale(), "wait_timeout_duration",
		 "50 ms timeout took %.3f s", dt);

	r = futex(&word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	kt_check(r == 0, "wake_nobody_returns_0", "FUTEX_WAKE returned %ld", r);

	KT_EXPECT_ERR("unaligned_einval",
		      futex((uint32_t *)((char *)sh + 1), FUTEX_WAIT, 0, &ts,
			    NULL, 0),
		      EINVAL);
	KT_EXPECT_ERR("bad_op_enosys",
		      futex(&word, 0x7f, 0, NULL, NULL, 0), ENOSYS);

	test_wait_wake();
	test_requeue();
}

KT_TEST(.name = "futex", .run = run, .timeout = 30,
	.desc = "futex wait/wake, EAGAIN, ETIMEDOUT, CMP_REQUEUE, EINVAL");
