/* kfarm bisect's decisions, kept pure so they are unit-tested and a resumed
 * bisection (replaying stored verdicts) takes exactly the same path. */
#include "bisect.h"
#include "util.h"

#include <string.h>

enum bisect_verdict bisect_verdict(enum bisect_mode m, const enum bisect_run *r, size_t n,
				   unsigned int want, int full, struct bisect_tally *t,
				   int *give_up)
{
	struct bisect_tally z = { 0 };

	*give_up = 0;
	if (!t)
		t = &z;
	memset(t, 0, sizeof(*t));
	if (!want)
		want = 1;
	for (size_t i = 0; i < n; i++) {
		switch (r[i]) {
		case BR_PASS: t->pass++; break;
		case BR_FAIL: t->fail++; break;
		case BR_SKIP: t->skip++; break;
		case BR_INFRA: t->infra++; break;
		case BR_BUILD_FAIL:
			/* in a build bisection the build is the thing judged */
			if (m == BM_BUILD)
				t->fail++;
			else
				t->build_fail++;
			break;
		}
		if (t->build_fail || t->skip)
			return BV_SKIP;
		/* full: on until it fails always or sometimes (then it is noisy) */
		if (t->fail && (!full || t->pass))
			return BV_BAD;
		if (t->pass + t->fail >= want)
			return t->fail ? BV_BAD : BV_GOOD;
	}
	if (t->infra >= BISECT_MAX_INFRA)
		*give_up = 1;
	return BV_NONE;
}

void bisect_next(const enum bisect_verdict *v, size_t n, struct bisect_next *out)
{
	size_t hi = n - 1, lo = 0, best = 0, mid;
	int found = 0;

	for (size_t i = 0; i < n; i++)
		if (v[i] == BV_BAD) {
			hi = i;
			break;
		}
	for (size_t i = 0; i < hi; i++)
		if (v[i] == BV_GOOD)
			lo = i;
	memset(out, 0, sizeof(*out));
	if (hi == lo + 1) {
		out->kind = BN_FOUND;
		out->index = hi;
		return;
	}
	/* nearest untested, unskipped commit to the middle; ties to the older */
	mid = lo + (hi - lo) / 2;
	for (size_t d = 0; d < hi - lo && !found; d++) {
		size_t cand[2] = { mid - d, mid + d };

		for (int k = 0; k < 2 && !found; k++)
			if (cand[k] > lo && cand[k] < hi && v[cand[k]] == BV_NONE) {
				best = cand[k];
				found = 1;
			}
	}
	if (!found) {
		out->kind = BN_AMBIGUOUS;
		out->lo = lo;
		out->hi = hi;
		return;
	}
	out->kind = BN_STEP;
	out->index = best;
}

unsigned int bisect_max_steps(size_t n)
{
	unsigned int s = 0;

	while (n > ((size_t)1 << s))
		s++;
	return s;
}

unsigned int bisect_default_runs(double p)
{
	double all_pass = 1;
	unsigned int n = 0;

	if (!(p > 0))
		return 1;
	/* smallest n with (1 - p)^n <= 5 %, by multiplication (no libm) */
	while (n < 20 && (n < 2 || all_pass > 0.05)) {
		all_pass *= 1 - (p < 1 ? p : 1);
		n++;
	}
	return n;
}

unsigned int bisect_confirm_runs(unsigned int runs)
{
	return runs > 1 ? 2 * runs : 1;
}

static const char *const verdict_names[] = { [BV_GOOD] = "good", [BV_BAD] = "bad",
					     [BV_SKIP] = "skip" };
static const char *const run_names[] = { [BR_PASS] = "pass", [BR_FAIL] = "fail",
					 [BR_BUILD_FAIL] = "build_fail", [BR_INFRA] = "infra",
					 [BR_SKIP] = "skip" };
static const char *const mode_names[] = { [BM_TEST] = "test", [BM_BUILD] = "build",
					  [BM_OUTCOME] = "outcome" };

const char *bisect_verdict_name(enum bisect_verdict v)
{
	return (size_t)v < ARRAY_SIZE(verdict_names) ? verdict_names[v] : NULL;
}

enum bisect_verdict bisect_verdict_parse(const char *s)
{
	for (size_t i = 1; s && i < ARRAY_SIZE(verdict_names); i++)
		if (!strcmp(s, verdict_names[i]))
			return (enum bisect_verdict)i;
	return BV_NONE;
}

const char *bisect_run_name(enum bisect_run r)
{
	return (size_t)r < ARRAY_SIZE(run_names) ? run_names[r] : "?";
}

int bisect_run_parse(const char *s, enum bisect_run *out)
{
	for (size_t i = 0; s && i < ARRAY_SIZE(run_names); i++)
		if (!strcmp(s, run_names[i])) {
			*out = (enum bisect_run)i;
			return 0;
		}
	return -1;
}

const char *bisect_mode_name(enum bisect_mode m)
{
	return (size_t)m < ARRAY_SIZE(mode_names) ? mode_names[m] : "?";
}
