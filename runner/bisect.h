/* kfarm bisect's pure logic: one step's verdict from its runs, the next
 * commit to test from the verdicts so far, and how many runs a flaky test
 * needs. No I/O: the driver (cmd_bisect.c) and its store (bisect_db.c)
 * keep the state, so a resumed bisection replays the same decisions. */
#ifndef KFARM_BISECT_H
#define KFARM_BISECT_H

#include <stddef.h>

/* What the bisection judges: a test's result, the build, the job's outcome. */
enum bisect_mode { BM_TEST, BM_BUILD, BM_OUTCOME };

/* One run of one step (names as stored: bisect_run_name). */
enum bisect_run { BR_PASS, BR_FAIL, BR_BUILD_FAIL, BR_INFRA, BR_SKIP };

/* A step's verdict (names as stored: bisect_verdict_name); BV_NONE = none yet. */
enum bisect_verdict { BV_NONE, BV_GOOD, BV_BAD, BV_SKIP };

/* Infrastructure errors tolerated per step before the bisection gives up. */
#define BISECT_MAX_INFRA 3

struct bisect_tally {
	unsigned int pass, fail, skip, build_fail, infra;
};

/* The verdict of runs r[0..n) for a step that wants `want` passing runs:
 * BAD as soon as one fails (with `full`, only once one also passed or all
 * `want` failed, so that a verification tells "fails" from "fails
 * sometimes"), GOOD when
 * `want` runs passed and none failed, SKIP when the step cannot be judged (a
 * build failure unless mode is BM_BUILD, the test itself skipped).
 * Infrastructure errors are never a verdict. BV_NONE: run again
 * (*give_up set when BISECT_MAX_INFRA infrastructure errors were seen). */
enum bisect_verdict bisect_verdict(enum bisect_mode m, const enum bisect_run *r, size_t n,
				   unsigned int want, int full, struct bisect_tally *t,
				   int *give_up);

/* The bisection over commits 0..n-1 (0 = good, n-1 = bad, oldest first) */
enum bisect_next_kind { BN_STEP, BN_FOUND, BN_AMBIGUOUS };
struct bisect_next {
	enum bisect_next_kind kind;
	size_t index;		/* BN_STEP: commit to test; BN_FOUND: the culprit */
	size_t lo, hi;		/* BN_AMBIGUOUS: first bad is in (lo, hi], all between skipped */
};

/* From the verdicts v[0..n): the last GOOD before the first BAD bounds the
 * range; the next step is the unskipped commit nearest its middle. */
void bisect_next(const enum bisect_verdict *v, size_t n, struct bisect_next *out);

/* ceil(log2(n)): the most steps a bisection of n commits (good excluded) takes
 * without skips. */
unsigned int bisect_max_steps(size_t n);

/* Runs per step for a test failing at rate p on a flaky candidate: enough
 * that a bad commit passes all of them with probability <= 5 %; 1 when
 * the history shows no flakiness (p <= 0), at most 20. */
unsigned int bisect_default_runs(double p);

/* Runs for re-checking the culprit's parent: it passed `runs` runs once
 * by luck if it is bad after all, and the blame rests on it passing again,
 * so a flaky test (runs > 1) gets twice as many (an innocent commit is then
 * blamed with (1-p)^(3 runs), not (1-p)^(2 runs)). */
unsigned int bisect_confirm_runs(unsigned int runs);

const char *bisect_verdict_name(enum bisect_verdict v);	/* "good", ... or NULL */
enum bisect_verdict bisect_verdict_parse(const char *s);	/* BV_NONE if unknown */
const char *bisect_run_name(enum bisect_run r);
int bisect_run_parse(const char *s, enum bisect_run *out);	/* -1 if unknown */
const char *bisect_mode_name(enum bisect_mode m);

#endif
