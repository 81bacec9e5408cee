/*
 * unaligned: 2-, 4- and 8-byte integer and 4-/8-byte floating-point loads
 * and stores at every misaligned offset, through volatile pointer casts so
 * the compiler emits the natural-width instruction.
 *
 * Each access must give the right value, or raise a clean SIGBUS
 * (BUS_ADRALN at the accessed address).  x86_64 and arm64 handle misaligned
 * accesses in hardware and alpha's kernel emulates them (do_entUnaUser), so
 * there a SIGBUS fails.  Elsewhere a clean SIGBUS is the kernel's documented
 * answer (sparc64 emulates only some FP cases: mem_address_unaligned sends
 * SIGBUS for user mode) and the access is a SKIP naming the offsets.  A
 * wrong value, an unclean SIGBUS or any other signal is a failure.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "../kt.h"

#if defined(__x86_64__) || defined(__aarch64__) || defined(__alpha__)
#define MUST_WORK 1
#else
#define MUST_WORK 0
#endif

static sigjmp_buf jb;
static volatile int got_sig, got_code;
static void *volatile got_addr;

static void on_sig(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	got_sig = sig;
	got_code = si->si_code;
	got_addr = si->si_addr;
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

/* per access kind: what happened at each offset */
struct tally {
	int n, ok, bus, bad, other;
	char bus_offs[64], bad_what[160];
};

static void note(struct tally *t, int off, int sig, int value_ok)
{
	t->n++;
	if (!sig) {
		if (value_ok) {
			t->ok++;
		} else if (!t->bad++) {
			snprintf(t->bad_what, sizeof(t->bad_what),
				 "wrong value at offset %d", off);
		}
		return;
	}
	if (sig == SIGBUS && got_code == BUS_ADRALN &&
	    (char *)got_addr == (char *)buf.b + off) {
		size_t l = strlen(t->bus_offs);
		snprintf(t->bus_offs + l, sizeof(t->bus_offs) - l, "%s%d",
			 t->bus++ ? "," : "", off);
		return;
	}
	if (!t->other++)
		snprintf(t->bad_what, sizeof(t->bad_what),
			 "%s code %d addr %p at offset %d (access at %p)",
			 kt_signame(sig), got_code, got_addr, off,
			 (void *)(buf.b + off));
}

static void report(const char *name, const struct tally *t)
{
	if (t->bad || t->other)
		kt_fail(name, "%s", t->bad_what);
	else if (t->bus && MUST_WORK)
		kt_fail(name, "SIGBUS at offsets %s: misaligned access not handled",
			t->bus_offs);
	else if (t->bus)
		kt_skip(name, "clean SIGBUS at offsets %s (not emulated for user space on %s), %d of %d offsets gave right values",
			t->bus_offs, kt_machine(), t->ok, t->n);
	else
		kt_pass(name);
}

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
	struct tally ld = { 0 }, st = { 0 };					\
	for (int off = 1; off < 2 * (int)sizeof(T); off++) {			\
		T want, got, v = (T)(VAL);					\
		int s;								\
		if (off % (int)sizeof(T) == 0)					\
			continue;						\
		fill();								\
		memcpy(&want, buf.b + off, sizeof(T));				\
		s = NAME##_load(off, &got);					\
		note(&ld, off, s, !s && !memcmp(&got, &want, sizeof(T)));	\
		fill();								\
		s = NAME##_store(off, v);					\
		note(&st, off, s, !s && !memcmp(buf.b + off, &v, sizeof(T)));	\
	}									\
	report("load_" #NAME, &ld);						\
	report("store_" #NAME, &st);						\
}

ACCESS_TEST(u16, uint16_t, 0xbeef)
ACCESS_TEST(u32, uint32_t, 0xdeadbeefu)
ACCESS_TEST(u64, uint64_t, 0x0123456789abcdefULL)
ACCESS_TEST(f32, float, 3.1415926f)
ACCESS_TEST(f64, double, 2.718281828459045)

static void run(void)
{
	struct sigaction sa = { .sa_sigaction = on_sig,
				.sa_flags = SA_SIGINFO | SA_NODEFER };

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
