/*
 * mmap: anonymous mappings and protections.  Machine code for the arch
 * ("return 42") written into a page, made executable with mprotect and
 * called (after an icache flush); the same page without PROT_EXEC must
 * fault; PROT_NONE and read-only pages fault with SIGSEGV/SEGV_ACCERR at
 * the right address, unmapped ones with SEGV_MAPERR; mremap grows and
 * moves a mapping keeping its contents; MAP_SHARED is shared across fork
 * and MAP_PRIVATE is not; argument errors give EINVAL.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../kt.h"

static long page;
static sigjmp_buf jb;
static volatile int fault_sig, fault_code;
static void *volatile fault_addr;

static void on_fault(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	fault_sig = sig;
	fault_code = si->si_code;
	fault_addr = si->si_addr;
	siglongjmp(jb, 1);
}

/* access *p (read, or write if `write`); returns the signal or 0 */
static int touch(volatile char *p, int write)
{
	fault_sig = 0;
	fault_addr = NULL;
	if (sigsetjmp(jb, 1) == 0) {
		if (write)
			*p = 1;
		else
			(void)*p;
	}
	return fault_sig;
}

/* call code at p; returns the signal, or 0 with *ret set */
static int call(void *p, int *ret)
{
	int (*volatile fn)(void) = (int (*)(void))p;

	fault_sig = 0;
	if (sigsetjmp(jb, 1) == 0)
		*ret = fn();
	return fault_sig;
}

/* "return 42" for each arch, as 32-bit words in native byte order */
static const uint32_t ret42[] = {
#if defined(__x86_64__)
	0x00002ab8, 0x9090c300,		/* mov $42,%eax; ret; nop; nop */
#elif defined(__aarch64__)
	0x52800540, 0xd65f03c0,		/* mov w0,#42; ret */
#elif defined(__riscv) && __riscv_xlen == 64
	0x02a00513, 0x00008067,		/* li a0,42; ret */
#elif defined(__sparc__)
	0x81c3e008, 0x9010202a,		/* retl; mov 42,%o0 (delay slot) */
#elif defined(__alpha__)
	0x201f002a, 0x6bfa8001,		/* lda $0,42($31); ret */
#else
#define NO_RET42
	0,
#endif
};

static void test_exec(void)
{
	char *p = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int ret = 0, sig;

	if (p == MAP_FAILED)
		kt_brok("mmap: %s", kt_errname(errno));
#ifdef NO_RET42
	kt_skip("jit_return_42", "no instruction sequence for %s", kt_machine());
	munmap(p, (size_t)page);
	return;
#endif
	memcpy(p, ret42, sizeof(ret42));
	__builtin___clear_cache(p, p + sizeof(ret42));
#ifdef __sparc__
	/* gcc emits nothing for the builtin on sparc64; V9 wants FLUSH */
	for (size_t i = 0; i < sizeof(ret42); i += 8)
		__asm__ volatile("flush %0" : : "r"(p + i) : "memory");
#endif

	if (mprotect(p, (size_t)page, PROT_READ | PROT_EXEC) < 0) {
		kt_fail("jit_return_42", "mprotect PROT_EXEC: %s",
			kt_errname(errno));
	} else {
		sig = call(p, &ret);
		kt_check(!sig && ret == 42, "jit_return_42",
			 "got %s, returned %d",
			 sig ? kt_signame(sig) : "no signal", ret);
	}

	/* same page, readable but not executable */
	mprotect(p, (size_t)page, PROT_READ);
	ret = 0;
	sig = call(p, &ret);
	if (!sig && ret == 42)
		kt_skip("noexec_call_faults",
			"code ran without PROT_EXEC: %s does not enforce no-exec here",
			kt_machine());
	else
		kt_check(sig == SIGSEGV, "noexec_call_faults",
			 "got %s, want SIGSEGV", sig ? kt_signame(sig) : "no signal");
	munmap(p, (size_t)page);
}

static void test_protections(void)
{
	char *p = mmap(NULL, (size_t)page * 2, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int sig;

	if (p == MAP_FAILED)
		kt_brok("mmap: %s", kt_errname(errno));
	memset(p, 0x5a, (size_t)page * 2);
	kt_check(p[0] == 0x5a && p[2 * page - 1] == 0x5a, "anon_rw", "read back %x",
		 p[0]);

	/*
	 * aligned offsets: without byte loads (alpha before BWX) a char read
	 * is an ldq_u of the enclosing quadword, which is where it faults
	 */
	mprotect(p, (size_t)page, PROT_NONE);
	sig = touch(p + 64, 0);
	kt_check(sig == SIGSEGV && fault_code == SEGV_ACCERR &&
			 fault_addr == p + 64,
		 "prot_none_read_segv",
		 "got %s code %d addr %p, want SIGSEGV SEGV_ACCERR at %p",
		 sig ? kt_signame(sig) : "no signal", fault_code, fault_addr,
		 (void *)(p + 64));

	mprotect(p, (size_t)page, PROT_READ);
	sig = touch(p + 8, 1);
	kt_check(sig == SIGSEGV && fault_code == SEGV_ACCERR &&
			 fault_addr == p + 8,
		 "readonly_write_segv",
		 "got %s code %d addr %p, want SIGSEGV SEGV_ACCERR at %p",
		 sig ? kt_signame(sig) : "no signal", fault_code, fault_addr,
		 (void *)(p + 8));
	kt_check(p[8] == 0x5a, "readonly_still_readable", "read %x", p[8]);

	mprotect(p, (size_t)page, PROT_READ | PROT_WRITE);
	sig = touch(p + 8, 1);
	kt_check(sig == 0 && p[8] == 1, "mprotect_rw_again", "got %s",
		 sig ? kt_signame(sig) : "no signal");

	munmap(p, (size_t)page * 2);
	sig = touch(p + page, 0);
	kt_check(sig == SIGSEGV && fault_code == SEGV_MAPERR,
		 "unmapped_segv_maperr", "got %s code %d",
		 sig ? kt_signame(sig) : "no signal", fault_code);
}

static int check_pattern(const unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != (unsigned char)(i * 7 + seed))
			return 0;
	return 1;
}

static void test_mremap(void)
{
	size_t small = (size_t)page * 2, large = (size_t)page * 64;
	unsigned char *p, *q, *dst;
	int zero = 1;

	p = mmap(NULL, small, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		kt_brok("mmap: %s", kt_errname(errno));
	for (size_t i = 0; i < small; i++)
		p[i] = (unsigned char)(i * 7 + 3);

	q = mremap(p, small, large, MREMAP_MAYMOVE);
	if (q == MAP_FAILED) {
		kt_fail("mremap_grow_keeps_contents", "mremap: %s",
			kt_errname(errno));
		munmap(p, small);
		return;
	}
	for (size_t i = small; i < large; i++)
		zero &= q[i] == 0;
	q[large - 1] = 9;
	kt_check(check_pattern(q, small, 3) && zero, "mremap_grow_keeps_contents",
		 "old bytes intact %d, new bytes zero %d",
		 check_pattern(q, small, 3), zero);

	/* move to a fixed address reserved beforehand */
	dst = mmap(NULL, large, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (dst == MAP_FAILED)
		kt_brok("mmap: %s", kt_errname(errno));
	p = mremap(q, large, large, MREMAP_MAYMOVE | MREMAP_FIXED, dst);
	if (p != dst) {
		kt_fail("mremap_fixed_moves", "mremap to %p: got %p (%s)",
			(void *)dst, (void *)p, kt_errname(errno));
		munmap(q, large);
		munmap(dst, large);
		return;
	}
	int sig = touch((char *)q, 0);
	kt_check(check_pattern(p, small, 3) && p[large - 1] == 9 &&
			 sig == SIGSEGV,
		 "mremap_fixed_moves",
		 "contents intact %d, last byte %d, old address gives %s",
		 check_pattern(p, small, 3), p[large - 1],
		 sig ? kt_signame(sig) : "no signal");
	/* shrink in place */
	q = mremap(p, large, small, 0);
	kt_check(q == p && check_pattern(q, small, 3), "mremap_shrink",
		 "got %p want %p", (void *)q, (void *)p);
	munmap(p, large);
}

static void test_shared_private(void)
{
	volatile int *s = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE,
			       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	volatile int *pr = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	pid_t pid;

	if (s == MAP_FAILED || pr == MAP_FAILED)
		kt_brok("mmap: %s", kt_errname(errno));
	*s = 1;
	*pr = 1;
	pid = fork();
	if (pid == 0) {
		*s = 2;
		*pr = 2;
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	kt_check(*s == 2, "map_shared_visible_across_fork", "parent sees %d", *s);
	kt_check(*pr == 1, "map_private_cow_across_fork", "parent sees %d", *pr);
	munmap((void *)s, (size_t)page);
	munmap((void *)pr, (size_t)page);
}

static void run(void)
{
	struct sigaction sa = { .sa_sigaction = on_fault,
				.sa_flags = SA_SIGINFO | SA_NODEFER };
	char *p;

	page = sysconf(_SC_PAGESIZE);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGILL, &sa, NULL);

	test_protections();
	test_exec();
	test_mremap();
	test_shared_private();

	KT_EXPECT_ERR("mmap_len0_einval",
		      mmap(NULL, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) ==
				      MAP_FAILED ? -1 : 0,
		      EINVAL);
	p = mmap(NULL, (size_t)page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	KT_EXPECT_ERR("mprotect_unaligned_einval",
		      mprotect(p + 1, (size_t)page, PROT_READ), EINVAL);
	KT_EXPECT_ERR("munmap_unaligned_einval", munmap(p + 1, (size_t)page),
		      EINVAL);
	KT_EXPECT_ERR("mremap_size0_einval",
		      mremap(p, (size_t)page, 0, MREMAP_MAYMOVE) == MAP_FAILED ? -1 : 0,
		      EINVAL);
	munmap(p, (size_t)page);
}

KT_TEST(.name = "mmap", .run = run, .timeout = 30,
	.desc = "mmap/mprotect/mremap: JIT return-42, PROT_NONE/RO faults, mremap");
