/*
 * clone3: the clone3() syscall through raw syscall(), as the kernel's
 * selftests/clone3 do: a child is created and its exit status seen, the
 * argument-size and flag checks return the documented errors, and
 * CLONE_CLEAR_SIGHAND resets handlers (but not ignored signals) in the child.
 * ENOSYS (alpha before 6.10, sparc before 7.0) skips the whole test.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../kt.h"

#ifndef __NR_clone3
#ifdef __alpha__
#define __NR_clone3 545
#else
#define __NR_clone3 435
#endif
#endif

#ifndef CLONE_CLEAR_SIGHAND
#define CLONE_CLEAR_SIGHAND 0x100000000ULL
#endif

/* uapi struct clone_args (VER2, 88 bytes), spelled out for old headers */
struct kt_clone_args {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal;
	uint64_t stack, stack_size, tls, set_tid, set_tid_size, cgroup;
};

#define CLONE_ARGS_SIZE_VER0 64

static long clone3_raw(void *args, size_t size)
{
	return syscall(__NR_clone3, args, size);
}

/* clone3 with `args`; the child _exits(code); returns the wait status */
static int spawn(struct kt_clone_args *args, int code, int *status)
{
	long pid = clone3_raw(args, sizeof(*args));

	if (pid < 0)
		return -1;
	if (pid == 0)
		_exit(code);
	if (waitpid((pid_t)pid, status, __WALL) != pid)
		return -1;
	return 0;
}

static void handler(int sig)
{
	(void)sig;
}

/* child side of clear_sighand: 0 if handlers were reset as documented */
static int check_cleared(void)
{
	struct sigaction a, b;

	if (sigaction(SIGUSR1, NULL, &a) || sigaction(SIGUSR2, NULL, &b))
		return 10;
	if (a.sa_handler != SIG_DFL)
		return 11;	/* handler survived */
	if (b.sa_handler != SIG_IGN)
		return 12;	/* ignored disposition must stay */
	return 0;
}

static void test_clear_sighand(void)
{
	struct kt_clone_args args = { .flags = CLONE_CLEAR_SIGHAND,
				      .exit_signal = SIGCHLD };
	struct sigaction sa = { .sa_handler = handler };
	int status;
	long pid;

	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGUSR2, SIG_IGN);
	pid = clone3_raw(&args, sizeof(args));
	if (pid == 0)
		_exit(check_cleared());
	if (pid < 0) {
		kt_fail("clear_sighand_resets", "clone3: %s", kt_errname(errno));
		return;
	}
	if (waitpid((pid_t)pid, &status, 0) != pid) {
		kt_fail("clear_sighand_resets", "waitpid: %s", kt_errname(errno));
		return;
	}
	kt_check(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		 "clear_sighand_resets",
		 "child saw %s (status 0x%x)",
		 WIFEXITED(status) && WEXITSTATUS(status) == 11
			 ? "SIGUSR1 handler still installed"
		 : WIFEXITED(status) && WEXITSTATUS(status) == 12
			 ? "SIGUSR2 no longer ignored"
			 : "an error",
		 status);
	signal(SIGUSR1, SIG_DFL);
	signal(SIGUSR2, SIG_DFL);
}

static void run(void)
{
	struct kt_clone_args args = { .exit_signal = SIGCHLD };
	long page = sysconf(_SC_PAGESIZE);
	unsigned char *big;
	int status = 0;
	long r;

	/* probe with an invalid size first: ENOSYS beats EINVAL */
	errno = 0;
	r = clone3_raw(&args, 8);
	if (r < 0 && errno == ENOSYS)
		kt_skip_all("clone3 not implemented on %s %s (syscall %d ENOSYS)",
			    kt_machine(), kt_release(), __NR_clone3);

	if (spawn(&args, 42, &status) < 0)
		kt_fail("child_exit_status", "clone3: %s", kt_errname(errno));
	else
		kt_check(WIFEXITED(status) && WEXITSTATUS(status) == 42,
			 "child_exit_status", "wait status 0x%x, want exit 42",
			 status);

	/* exit_signal 0: only __WALL finds the child (FACTS.md) */
	args.exit_signal = 0;
	if (spawn(&args, 7, &status) < 0)
		kt_fail("exit_signal_0_wall", "clone3/waitpid(__WALL): %s",
			kt_errname(errno));
	else
		kt_check(WIFEXITED(status) && WEXITSTATUS(status) == 7,
			 "exit_signal_0_wall", "wait status 0x%x, want exit 7",
			 status);
	args.exit_signal = SIGCHLD;

	KT_EXPECT_ERR("size_lt_64_einval",
		      clone3_raw(&args, CLONE_ARGS_SIZE_VER0 - 8), EINVAL);
	KT_EXPECT_ERR("size_0_einval", clone3_raw(&args, 0), EINVAL);

	big = mmap(NULL, (size_t)page * 2, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (big == MAP_FAILED)
		kt_brok("mmap: %s", kt_errname(errno));
	memcpy(big, &args, sizeof(args));
	KT_EXPECT_ERR("size_gt_page_e2big",
		      clone3_raw(big, (size_t)page + 8), E2BIG);

	/* a larger struct whose unknown tail is zero is accepted */
	r = clone3_raw(big, 256);
	if (r == 0)
		_exit(0);
	if (r > 0)
		waitpid((pid_t)r, &status, 0);
	kt_check(r > 0, "zero_tail_accepted", "size 256 with zero tail: %s",
		 kt_errname(errno));

	big[255] = 1;	/* non-zero byte beyond every known field */
	KT_EXPECT_ERR("nonzero_tail_e2big", clone3_raw(big, 256), E2BIG);
	munmap(big, (size_t)page * 2);

	args.exit_signal = 0x100;	/* outside CSIGNAL */
	KT_EXPECT_ERR("bad_exit_signal_einval", clone3_raw(&args, sizeof(args)),
		      EINVAL);
	args.exit_signal = 65;		/* > _NSIG on every arch we run */
	KT_EXPECT_ERR("exit_signal_65_einval", clone3_raw(&args, sizeof(args)),
		      EINVAL);
	args.exit_signal = SIGCHLD;

	/* the selftest's case: sharing handlers and clearing them conflict */
	args.flags = CLONE_CLEAR_SIGHAND | CLONE_SIGHAND | CLONE_VM;
	KT_EXPECT_ERR("sighand_and_clear_sighand_einval",
		      clone3_raw(&args, sizeof(args)), EINVAL);
	args.flags = 0;

	test_clear_sighand();
}

KT_TEST(.name = "clone3", .run = run, .timeout = 30,
	.desc = "clone3: child, size/flag errors, CLONE_CLEAR_SIGHAND");
