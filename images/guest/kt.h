/*
 * kt.h - kfarm guest test harness.
 *
 * Invariants:
 *  - A test is data: one `struct kt_test` per file, declared with KT_TEST()
 *    at the end of images/guest/tests/NAME.c.  KT_TEST places a pointer to it
 *    in the "kt_tests" linker section; the harness walks
 *    __start_kt_tests..__stop_kt_tests, so there is no central list.
 *  - Every test runs in a forked child, in its own process group, with a
 *    time limit of .timeout * kfarm.scale seconds.  The child's stdout and
 *    stderr go to a pipe read by /init, which prints them nested (two spaces)
 *    under the test's KTAP subtest header once the test ends.
 *  - Subtest results are counted in a MAP_SHARED page, so a crash after a
 *    kt_pass()/kt_fail() cannot lose it.  The overall result is: not ok if
 *    any subtest failed or the test crashed, timed out or reported nothing;
 *    ok # SKIP if every subtest skipped (or kt_skip_all() was called);
 *    ok otherwise.
 *  - Result functions may be called from processes the test forks: numbering
 *    and counting are atomic in the shared page.
 */
#ifndef KFARM_KT_H
#define KFARM_KT_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

/* a prerequisite: if `path` does not exist the harness skips the test */
struct kt_need {
	const char *path;	/* e.g. "/proc/sys/vm/compact_memory" */
	const char *config;	/* e.g. "CONFIG_COMPACTION" (named in the SKIP) */
};

struct kt_test {
	const char *name;
	void (*run)(void);
	unsigned int timeout;		/* seconds, before kfarm.scale; 0 = 30 */
	int explicit;			/* 1 = only when named in kfarm.tests */
	int order;			/* default run order: (order, name) */
	const struct kt_need *needs;	/* array ended by {0}, or NULL */
	const char *desc;		/* one line, for --list */
	/*
	 * optional helper mode: `init --probe NAME ARGS...` calls
	 * probe(argc, argv) with argv[0] = NAME, for tests that exec
	 * kt_self_exe(); its return value is the exit status
	 */
	int (*probe)(int argc, char **argv);
};

#define KT_CAT_(a, b) a##b
#define KT_CAT(a, b) KT_CAT_(a, b)

/* KT_NEEDS({"/path", "CONFIG_X"}, ...) for the .needs field */
#define KT_NEEDS(...) ((const struct kt_need[]){ __VA_ARGS__, { NULL, NULL } })

#define KT_TEST(...)							\
	static const struct kt_test KT_CAT(kt_test_, __LINE__) = {	\
		__VA_ARGS__						\
	};								\
	static const struct kt_test *const KT_CAT(kt_test_ptr_, __LINE__) \
	__attribute__((used, section("kt_tests"),			\
		       aligned(__alignof__(struct kt_test *)))) =	\
		&KT_CAT(kt_test_, __LINE__)

#define KT_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* subtest results; `name` should have no spaces */
void kt_pass(const char *name);
/* a pass carrying a fact ("ok N name # note"), for tests that report rather
 * than judge; the note must not start with a KTAP directive (SKIP, TODO) */
void kt_pass_note(const char *name, const char *fmt, ...) KT_PRINTF(2, 3);
void kt_fail(const char *name, const char *fmt, ...) KT_PRINTF(2, 3);
void kt_skip(const char *name, const char *fmt, ...) KT_PRINTF(2, 3);
/* pass if `cond`, else fail with the reason */
int kt_check(int cond, const char *name, const char *fmt, ...) KT_PRINTF(3, 4);
/* diagnostic line "# ..." */
void kt_diag(const char *fmt, ...) KT_PRINTF(1, 2);

/*
 * Whole-test verdicts.  kt_skip_all(): the test is a SKIP with this reason
 * (unless a subtest already failed, which stays a failure); ends the test.
 * kt_conclude_skip(): same but returns (for "ran, but inconclusive").
 * kt_brok(): the test's own setup broke (not a kernel verdict); ends the
 * test as not ok with "# ERROR reason".
 */
void kt_skip_all(const char *fmt, ...) KT_PRINTF(1, 2) __attribute__((noreturn));
void kt_conclude_skip(const char *fmt, ...) KT_PRINTF(1, 2);
void kt_brok(const char *fmt, ...) KT_PRINTF(1, 2) __attribute__((noreturn));

/*
 * Expect `expr` to fail with errno `want` (returning -1 or, for raw syscall
 * wrappers, -1 with errno set).  Evaluates to 1 on pass.
 */
#define KT_EXPECT_ERR(name, expr, want)					\
	({								\
		errno = 0;						\
		long kt_r_ = (long)(expr);				\
		int kt_e_ = errno;					\
		kt_check(kt_r_ == -1 && kt_e_ == (want), (name),	\
			 "got %ld errno %d (%s), want -1 %s", kt_r_,	\
			 kt_e_, kt_errname(kt_e_), kt_errname(want));	\
	})

/* "EINVAL" etc. for errno values (falls back to the number) */
const char *kt_errname(int err);
/* "SIGSEGV" etc. */
const char *kt_signame(int sig);

/* kfarm.opt=KEY=VAL,... ; kt_opt returns `def` when KEY is absent */
const char *kt_opt(const char *key, const char *def);
long kt_opt_long(const char *key, long def);
/* kfarm.scale (>= 1 in practice; multiplies time limits) */
double kt_scale(void);
/* monotonic seconds */
double kt_now(void);
/* "Linux 6.1.192 alpha" style strings for messages */
const char *kt_machine(void);	/* uname -m */
const char *kt_release(void);	/* uname -r */
/* 1 if the file exists */
int kt_exists(const char *path);
/* read a whole small file into buf (NUL-terminated); returns length or -1 */
long kt_read_file(const char *path, char *buf, size_t size);
/* path of this program, for exec-based tests */
const char *kt_self_exe(void);

/* ---- used by init.c ---- */
struct kt_shared;
extern const struct kt_test *const __start_kt_tests[];
extern const struct kt_test *const __stop_kt_tests[];

#endif
