#include "history.h"
#include "job.h"
#include "util.h"

#include <string.h>

#define HIST_NAME(e, s) [e] = s,

static const char *const statuses[] = { HIST_STATUSES(HIST_NAME) };
static const char *const kinds[] = { CHANGE_KINDS(HIST_NAME) };
static const char *const runs[] = { RUN_STATUSES(HIST_NAME) };
static const char *const builds[] = { BUILD_STATUSES(HIST_NAME) };

/* job.h's result statuses are the stored ones, in the same order */
_Static_assert(HS_PASS == (int)RS_PASS && HS_FAIL == (int)RS_FAIL && HS_SKIP == (int)RS_SKIP &&
	       HS_MISSING == (int)RS_MISSING, "enum res_status and enum hist_status differ");

static int parse(const char *const *names, size_t n, const char *s)
{
	for (size_t i = 0; s && i < n; i++)
		if (!strcmp(names[i], s))
			return (int)i;
	return -1;
}

const char *hist_status_name(enum hist_status s)
{
	return statuses[s];
}

const char *change_kind_name(enum change_kind k)
{
	return kinds[k];
}

const char *run_status_name(enum run_status s)
{
	return runs[s];
}

int hist_status_parse(const char *s)
{
	return parse(statuses, ARRAY_SIZE(statuses), s);
}

int change_kind_parse(const char *s)
{
	return parse(kinds, ARRAY_SIZE(kinds), s);
}

int run_status_parse(const char *s)
{
	return parse(runs, ARRAY_SIZE(runs), s);
}

const char *build_status_name(enum build_status s)
{
	return builds[s];
}

int build_status_parse(const char *s)
{
	return parse(builds, ARRAY_SIZE(builds), s);
}
