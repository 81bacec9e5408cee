/*
 * signals: delivery and return.  A handler runs, its sa_mask and the
 * signal itself are blocked inside it and the old mask is back after
 * sigreturn; a blocked signal stays pending until unblocked; SA_SIGINFO
 * carries sigqueue()'s si_code/si_value/si_pid; SA_ONSTACK runs on the
 * sigaltstack; and integer and floating-point registers survive handlers
 * that clobber them, delivered asynchronously in the middle of a loop by
 * another process.  Negative cases: SIGKILL/SIGSTOP handlers, a bad signal
 * number, a too-small alternate stack.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../kt.h"

static volatile sig_atomic_t hits;
static volatile int usr1_blocked_inside, usr2_blocked_inside;
static volatile int on_altstack, altstack_flag;
static char *alt_base;
static size_t alt_size = 64 * 1024;
static siginfo_t last_info;

static void plain_handler(int sig)
{
	sigset_t cur;

	(void)sig;
	sigprocmask(SIG_BLOCK, NULL, &cur);
	usr1_blocked_inside = sigismember(&cur, SIGUSR1);
	usr2_blocked_inside = sigismember(&cur, SIGUSR2);
	hits++;
}

static void info_handler(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	last_info = *si;
	hits++;
}

static void alt_handler(int sig)
{
	char here;
	stack_t cur;

	(void)sig;
	on_altstack = &here >= alt_base && &here < alt_base + alt_size;
	if (sigaltstack(NULL, &cur) == 0)
		altstack_flag = cur.ss_flags;
	hits++;
}

static void test_handler_and_mask(void)
{
	struct sigaction sa = { .sa_handler = plain_handler };
	sigset_t cur;

	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGUSR2);
	sigaction(SIGUSR1, &sa, NULL);
	hits = 0;
	raise(SIGUSR1);
	kt_check(hits == 1, "handler_runs", "handler ran %d times", (int)hits);
	kt_check(usr1_blocked_inside && usr2_blocked_inside,
		 "mask_inside_handler",
		 "inside the handler SIGUSR1 blocked %d, sa_mask SIGUSR2 blocked %d",
		 usr1_blocked_inside, usr2_blocked_inside);
	sigprocmask(SIG_BLOCK, NULL, &cur);
	kt_check(!sigismember(&cur, SIGUSR1) && !sigismember(&cur, SIGUSR2),
		 "mask_restored_after_sigreturn",
		 "after return SIGUSR1 blocked %d, SIGUSR2 blocked %d",
		 sigismember(&cur, SIGUSR1), sigismember(&cur, SIGUSR2));

	/* blocked: pending, not delivered, until unblocked */
	sigset_t b, pend;
	sigemptyset(&b);
	sigaddset(&b, SIGUSR1);
	sigprocmask(SIG_BLOCK, &b, NULL);
	hits = 0;
	raise(SIGUSR1);
	sigpending(&pend);
	int was_pending = sigismember(&pend, SIGUSR1), early = hits;
	sigprocmask(SIG_UNBLOCK, &b, NULL);
	kt_check(was_pending && early == 0 && hits == 1, "blocked_stays_pending",
		 "pending %d, ran while blocked %d, ran after unblock %d",
		 was_pending, early, (int)hits);
	signal(SIGUSR1, SIG_DFL);
}

static void test_siginfo(void)
{
	struct sigaction sa = { .sa_sigaction = info_handler,
				.sa_flags = SA_SIGINFO };
	union sigval v = { .sival_int = 0x1234 };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR2, &sa, NULL);
	hits = 0;
	memset(&last_info, 0, sizeof(last_info));
	if (sigqueue(getpid(), SIGUSR2, v) < 0) {
		kt_fail("sigqueue_siginfo", "sigqueue: %s", kt_errname(errno));
		return;
	}
	kt_check(hits == 1 && last_info.si_signo == SIGUSR2 &&
			 last_info.si_code == SI_QUEUE &&
			 last_info.si_value.sival_int == 0x1234 &&
			 last_info.si_pid == getpid() &&
			 last_info.si_uid == getuid(),
		 "sigqueue_siginfo",
		 "hits %d signo %d code %d (want SI_QUEUE %d) value 0x%x pid %d uid %d",
		 (int)hits, last_info.si_signo, last_info.si_code, SI_QUEUE,
		 last_info.si_value.sival_int, (int)last_info.si_pid,
		 (int)last_info.si_uid);

	/* realtime signals queue: three sent while blocked, three delivered */
	sigset_t b;
	sigemptyset(&b);
	sigaddset(&b, SIGRTMIN);
	sigaction(SIGRTMIN, &sa, NULL);
	sigprocmask(SIG_BLOCK, &b, NULL);
	hits = 0;
	for (int i = 0; i < 3; i++)
		sigqueue(getpid(), SIGRTMIN, v);
	sigprocmask(SIG_UNBLOCK, &b, NULL);
	kt_check(hits == 3, "rt_signals_queue", "3 queued, %d delivered",
		 (int)hits);
	signal(SIGUSR2, SIG_DFL);
	signal(SIGRTMIN, SIG_DFL);
}

static void test_altstack(void)
{
	struct sigaction sa = { .sa_handler = alt_handler,
				.sa_flags = SA_ONSTACK };
	stack_t ss = { 0 }, small = { 0 };

	alt_base = malloc(alt_size);
	if (!alt_base)
		kt_brok("malloc: %s", kt_errname(errno));
	small.ss_sp = alt_base;
	small.ss_size = 256;
	KT_EXPECT_ERR("sigaltstack_too_small_enomem", sigaltstack(&small, NULL),
		      ENOMEM);

	ss.ss_sp = alt_base;
	ss.ss_size = alt_size;
	if (sigaltstack(&ss, NULL) < 0) {
		kt_fail("sigaltstack_used", "sigaltstack: %s", kt_errname(errno));
		return;
	}
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	hits = 0;
	raise(SIGUSR1);
	kt_check(hits == 1 && on_altstack && (altstack_flag & SS_ONSTACK),
		 "sigaltstack_used",
		 "ran %d, on the alternate stack %d, ss_flags 0x%x", (int)hits,
		 on_altstack, altstack_flag);
	signal(SIGUSR1, SIG_DFL);
	ss.ss_flags = SS_DISABLE;
	sigaltstack(&ss, NULL);
}

static void test_negative(void)
{
	struct sigaction sa = { .sa_handler = plain_handler };

	KT_EXPECT_ERR("sigaction_sigkill_einval", sigaction(SIGKILL, &sa, NULL),
		      EINVAL);
	KT_EXPECT_ERR("sigaction_sigstop_einval", sigaction(SIGSTOP, &sa, NULL),
		      EINVAL);
	KT_EXPECT_ERR("kill_bad_signal_einval", kill(getpid(), 1000), EINVAL);
}

/*
 * Register preservation under asynchronous signals.  The loops keep many
 * values live in registers; a sibling process keeps signalling us; the
 * handler clobbers FP and integer registers.  Every chunk must give the
 * result the same chunk gives with signals blocked.
 */
static volatile sig_atomic_t async_hits;
static volatile double sink_d;
static volatile uint64_t sink_u;

static void clobber_handler(int sig)
{
	double a = sig * 1.5, b = 3.25, c = -7.0, d = 0.125, e = 11.0, f = 13.5;
	double g = 17.0, h = 19.75, i2 = 23.0, j = 29.5, k = 31.0, l = 37.25;
	uint64_t x = 0x9e3779b97f4a7c15ULL * (unsigned)sig, y = 3, z = 5, w = 7;

	for (int i = 0; i < 8; i++) {
		a = a * b + c; b = b * c - d; c = c * d + e; d = d * e - f;
		e = e * f + g; f = f * g - h; g = g * h + i2; h = h * i2 - j;
		i2 = i2 * j + k; j = j * k - l; k = k * l + a; l = l * a - b;
		x = x * 31 + y; y ^= z << 3; z += w * x; w = (w << 7) | (x >> 57);
	}
	sink_d = a + b + c + d + e + f + g + h + i2 + j + k + l;
	sink_u = x + y + z + w;
	async_hits++;
}

static __attribute__((noipa)) double fp_chunk(double seed, int n)
{
	double a = seed, b = 1.0001, c = 0.9999, d = 1.5, e = 2.5, f = 0.5;
	double g = 0.25, h = 1.75, k = 3.0, m = 0.125;

	for (int i = 0; i < n; i++) {
		a = a * b + c * 0.5;
		b = b * 0.999 + d * 0.001;
		c = c * 1.001 - e * 0.0005;
		d = d * 0.9995 + f * 0.0003;
		e = e * 1.0002 - g * 0.0001;
		f = f * 0.9998 + h * 0.0002;
		g = g * 1.0001 - k * 0.00005;
		h = h * 0.9999 + m * 0.0004;
		k = k * 1.00005 - a * 1e-9;
		m = m * 0.99995 + b * 1e-7;
		if (a > 1e6)
			a *= 1e-3;
	}
	return a + b + c + d + e + f + g + h + k + m;
}

static __attribute__((noipa)) uint64_t int_chunk(uint64_t seed, int n)
{
	uint64_t a = seed, b = 1, c = 2, d = 3, e = 5, f = 8, g = 13, h = 21;

	for (int i = 0; i < n; i++) {
		a = a * 6364136223846793005ULL + b;
		b ^= a >> 13;
		c += b * 7;
		d = (d << 5) ^ (c >> 3) ^ a;
		e += d ^ (e >> 11);
		f = f * 3 + e;
		g ^= f + (g << 9);
		h += g ^ a;
	}
	return a ^ b ^ c ^ d ^ e ^ f ^ g ^ h;
}

static void test_async_preserve(void)
{
	enum { CHUNK = 20000, MAX_CHUNKS = 400 };
	struct sigaction sa = { .sa_handler = clobber_handler };
	double ref_d, budget = 1.0 * kt_scale();
	uint64_t ref_u;
	sigset_t b;
	pid_t parent = getpid(), pid;
	int chunks = 0, bad_d = 0, bad_u = 0;
	double got_d = 0, start;
	uint64_t got_u = 0;

	sigemptyset(&b);
	sigaddset(&b, SIGUSR1);
	sigprocmask(SIG_BLOCK, &b, NULL);
	ref_d = fp_chunk(1.0, CHUNK);
	ref_u = int_chunk(12345, CHUNK);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);

	pid = fork();
	if (pid == 0) {
		for (;;) {
			if (kill(parent, SIGUSR1) < 0)
				_exit(0);
			usleep(500);
		}
	}
	async_hits = 0;
	sigprocmask(SIG_UNBLOCK, &b, NULL);
	start = kt_now();
	while (chunks < MAX_CHUNKS && kt_now() - start < budget) {
		double d = fp_chunk(1.0, CHUNK);
		uint64_t u = int_chunk(12345, CHUNK);
		if (d != ref_d && !bad_d++)
			got_d = d;
		if (u != ref_u && !bad_u++)
			got_u = u;
		chunks++;
	}
	sigprocmask(SIG_BLOCK, &b, NULL);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	/* a SIGUSR1 may still be pending: let the handler take it */
	sigprocmask(SIG_UNBLOCK, &b, NULL);
	signal(SIGUSR1, SIG_DFL);

	kt_diag("async: %d chunks of %d iterations, %d signals handled", chunks,
		CHUNK, (int)async_hits);
	if (async_hits == 0) {
		kt_skip("fp_regs_preserved_async", "no signal arrived during the loop");
		kt_skip("int_regs_preserved_async", "no signal arrived during the loop");
		return;
	}
	kt_check(!bad_d, "fp_regs_preserved_async",
		 "%d of %d chunks differ: got %.17g want %.17g", bad_d, chunks,
		 got_d, ref_d);
	kt_check(!bad_u, "int_regs_preserved_async",
		 "%d of %d chunks differ: got 0x%llx want 0x%llx", bad_u, chunks,
		 (unsigned long long)got_u, (unsigned long long)ref_u);
}

static void run(void)
{
	test_handler_and_mask();
	test_siginfo();
	test_altstack();
	test_negative();
	test_async_preserve();
}

KT_TEST(.name = "signals", .run = run, .timeout = 30,
	.desc = "handlers, masks, sigqueue siginfo, sigaltstack, FP/int regs across async signals");
