/*
 * unaligned: 2-, 4- and 8-byte integer and 4-/8-byte floating-point loads
 * and stores at every misaligned offset, through volatile pointer casts so
 * the compiler emits the natural-width instruction.  Each must give the
 * right value (x86/arm64/riscv hardware or QEMU handles it; alpha and
 * sparc64 trap and the kernel emulates the access), or raise a clean
 * SIGBUS, which is reported as a SKIP for that access.  A wrong value, or
 * any other signal, is a failure.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>

#include "../kt.h"

static sigjmp_buf jb;
static volatile int got_sig;

static void on_sig(int sig)
{
	got_sig = sig;
	siglongjmp(jb, 1);
}

static union {
	uint64_t align;
	unsigned char b[64];
} buf;

static void fill(void)
{
	for (size_t i = 0; i < sizeof(buf.b); i++)
		buf.b[i] = (unsigned char)(0x11 + i * 13);
}

/*
 * One access kind: LOAD reads T at p and compares with memcpy; STORE
 * writes v and compares the bytes.  Offsets 1..sizeof(T)-1 and
 * sizeof(T)+1.., all misaligned.
 */
static void report(const char *name, int sig, int bad, int off);

#define ACCESS_TEST(NAME, T, VAL)						\
static __attribute__((noinline)) int NAME##_load(int off, T *out)		\
{										\
	if (sigsetjmp(jb, 1) == 0) {						\
		*out = *(volatile T *)(void *)(buf.b + off);			\
		return 0;							\
	}									\
	return got_sig;								\
}										\
static __attribute__((noinline)) int NAME##_store(int off, T v)		\
{										\
	if (sigsetjmp(jb, 1) == 0) {						\
		*(volatile T *)(void *)(buf.b + off) = v;			\
		return 0;							\
	}									\
	return got_sig;								\
}										\
static void NAME(void)								\
{										\
	int bad_load = 0, bad_store = 0, sig = 0, sig_store = 0, s;		\
	int off_load = -1, off_store = -1;					\
	for (int off = 1; off < 2 * (int)sizeof(T); off++) {			\
		T want, got, v = (T)(VAL);					\
		if (off % (int)sizeof(T) == 0)					\
			continue;						\
		fill();								\
		memcpy(&want, buf.b + off, sizeof(T));				\
		if ((s = NAME##_load(off, &got))) {				\
			if (!sig)						\
				sig = s;					\
		} else if (memcmp(&got, &want, sizeof(T)) && !bad_load++) {	\
			off_load = off;						\
		}								\
		fill();								\
		if ((s = NAME##_store(off, v))) {				\
			if (!sig_store)						\
				sig_store = s;					\
		} else if (memcmp(buf.b + off, &v, sizeof(T)) && !bad_store++) { \
			off_store = off;					\
		}								\
	}									\
	report("load_" #NAME, sig, bad_load, off_load);				\
	report("store_" #NAME, sig_store, bad_store, off_store);		\
}

static void report(const char *name, int sig, int bad, int off)
{
	if (sig == SIGBUS)
		kt_skip(name, "SIGBUS: misaligned access not fixed up");
	else if (sig)
		kt_fail(name, "%s on a misaligned access", kt_signame(sig));
	else
		kt_check(!bad, name, "%d wrong values, first at offset %d", bad,
			 off);
}

ACCESS_TEST(u16, uint16_t, 0xbeef)
ACCESS_TEST(u32, uint32_t, 0xdeadbeefu)
ACCESS_TEST(u64, uint64_t, 0x0123456789abcdefULL)
ACCESS_TEST(f32, float, 3.1415926f)
ACCESS_TEST(f64, double, 2.718281828459045)

static void run(void)
{
	struct sigaction sa = { .sa_handler = on_sig, .sa_flags = SA_NODEFER };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGILL, &sa, NULL);
	u16();
	u32();
	u64();
	f32();
	f64();
}

KT_TEST(.name = "unaligned", .run = run, .timeout = 30,
	.desc = "misaligned 2/4/8-byte int and float loads/stores");
