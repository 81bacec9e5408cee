/*
 * clock: CLOCK_MONOTONIC never goes back; libc's clock_gettime (the vDSO
 * where the arch has one) agrees with the raw syscall, bracketed; BOOTTIME
 * is not behind MONOTONIC; clock_getres is sane; nanosleep and absolute
 * clock_nanosleep sleep at least as asked and not absurdly longer; process
 * CPU time advances; invalid clock ids and timespecs give EINVAL.
 */
#define _GNU_SOURCE
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../kt.h"

static double ts_sec(const struct timespec *t)
{
	return (double)t->tv_sec + (double)t->tv_nsec / 1e9;
}

static int ts_le(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec ||
	       (a->tv_sec == b->tv_sec && a->tv_nsec <= b->tv_nsec);
}

static long raw_gettime(clockid_t id, struct timespec *t)
{
	return syscall(SYS_clock_gettime, id, t);
}

static void test_monotonic(void)
{
	struct timespec prev, cur;
	int back = 0, n = 0;
	double end = kt_now() + 0.1 * kt_scale();

	clock_gettime(CLOCK_MONOTONIC, &prev);
	while (n < 200000 && (n % 1000 || kt_now() < end)) {
		clock_gettime(CLOCK_MONOTONIC, &cur);
		if (!ts_le(&prev, &cur) && !back++)
			kt_diag("went back: %ld.%09ld -> %ld.%09ld",
				(long)prev.tv_sec, prev.tv_nsec,
				(long)cur.tv_sec, cur.tv_nsec);
		prev = cur;
		n++;
	}
	kt_check(back == 0, "monotonic_never_decreases",
		 "%d of %d reads went backwards", back, n);
}

static void test_vdso_vs_syscall(void)
{
	struct timespec a, s, b;
	int bad = 0, n = 200, fails = 0;
	double worst = 0;

	kt_diag("vDSO: %s", getauxval(AT_SYSINFO_EHDR) ? "present" : "absent");
	for (int i = 0; i < n; i++) {
		clock_gettime(CLOCK_MONOTONIC, &a);
		if (raw_gettime(CLOCK_MONOTONIC, &s) < 0) {
			fails++;
			continue;
		}
		clock_gettime(CLOCK_MONOTONIC, &b);
		if (!ts_le(&a, &s) || !ts_le(&s, &b)) {
			if (!bad++)
				kt_diag("libc %.9f, syscall %.9f, libc %.9f",
					ts_sec(&a), ts_sec(&s), ts_sec(&b));
		}
		if (ts_sec(&b) - ts_sec(&a) > worst)
			worst = ts_sec(&b) - ts_sec(&a);
	}
	kt_diag("libc/syscall/libc bracket: worst %.6f s", worst);
	kt_check(!fails && !bad && worst < 0.5 * kt_scale(),
		 "libc_and_syscall_agree_monotonic",
		 "%d syscall failures, %d of %d out of order, worst bracket %.6f s",
		 fails, bad, n, worst);

	clock_gettime(CLOCK_REALTIME, &a);
	raw_gettime(CLOCK_REALTIME, &s);
	kt_check(ts_sec(&s) - ts_sec(&a) >= 0 && ts_sec(&s) - ts_sec(&a) < 1.0,
		 "libc_and_syscall_agree_realtime", "libc %.6f syscall %.6f",
		 ts_sec(&a), ts_sec(&s));

	clock_gettime(CLOCK_MONOTONIC, &a);
	clock_gettime(CLOCK_BOOTTIME, &b);
	kt_check(ts_sec(&b) + 1e-3 >= ts_sec(&a), "boottime_not_behind_monotonic",
		 "monotonic %.6f boottime %.6f", ts_sec(&a), ts_sec(&b));
}

static void test_sleep(void)
{
	struct timespec req = { .tv_nsec = 50 * 1000 * 1000 }, res, t;
	double t0, dt, slack = 1.0 * kt_scale();

	if (clock_getres(CLOCK_MONOTONIC, &res) == 0) {
		kt_diag("CLOCK_MONOTONIC resolution %ld ns", res.tv_nsec);
		kt_check(res.tv_sec == 0 && res.tv_nsec > 0, "getres_monotonic",
			 "resolution %ld.%09ld", (long)res.tv_sec, res.tv_nsec);
	} else {
		kt_fail("getres_monotonic", "clock_getres: %s", kt_errname(errno));
	}

	t0 = kt_now();
	int r = nanosleep(&req, NULL);
	dt = kt_now() - t0;
	kt_check(r == 0 && dt >= 0.05 && dt < 0.05 + slack, "nanosleep_50ms",
		 "returned %d, slept %.4f s", r, dt);

	clock_gettime(CLOCK_MONOTONIC, &t);
	t.tv_nsec += 30 * 1000 * 1000;
	if (t.tv_nsec >= 1000000000) {
		t.tv_nsec -= 1000000000;
		t.tv_sec++;
	}
	r = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL);
	clock_gettime(CLOCK_MONOTONIC, &res);
	kt_check(r == 0 && ts_le(&t, &res) && ts_sec(&res) - ts_sec(&t) < slack,
		 "clock_nanosleep_abstime", "returned %d, woke %.4f s after target",
		 r, ts_sec(&res) - ts_sec(&t));

	req.tv_nsec = 1000000000;
	KT_EXPECT_ERR("nanosleep_bad_nsec_einval", nanosleep(&req, NULL), EINVAL);
	req.tv_nsec = -1;
	KT_EXPECT_ERR("nanosleep_negative_einval", nanosleep(&req, NULL), EINVAL);
}

static void test_cputime(void)
{
	struct timespec a, b;
	volatile unsigned long x = 0;
	double t0;

	if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a) < 0) {
		if (errno == EINVAL)
			kt_skip("process_cputime_advances",
				"CPU-time clocks: EINVAL (CONFIG_POSIX_TIMERS)");
		else
			kt_fail("process_cputime_advances", "clock_gettime: %s",
				kt_errname(errno));
		return;
	}
	t0 = kt_now();
	while (kt_now() - t0 < 0.05)
		for (int i = 0; i < 10000; i++)
			x += (unsigned long)i;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
	kt_check(ts_sec(&b) > ts_sec(&a), "process_cputime_advances",
		 "%.6f -> %.6f after a 50 ms busy loop", ts_sec(&a), ts_sec(&b));
}

static void run(void)
{
	struct timespec t;

	test_monotonic();
	test_vdso_vs_syscall();
	test_sleep();
	test_cputime();
	KT_EXPECT_ERR("gettime_bad_clock_einval", raw_gettime(12345, &t), EINVAL);
	KT_EXPECT_ERR("settime_monotonic_einval",
		      clock_settime(CLOCK_MONOTONIC, &t), EINVAL);
}

KT_TEST(.name = "clock", .run = run, .timeout = 30,
	.desc = "monotonic clock, vDSO vs syscall, nanosleep, EINVAL cases");
