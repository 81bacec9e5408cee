/* The history's words, each list defined once: an X(ENUM, "NAME") list
 * gives the C enum, its names (as stored and shown) and its parser. The
 * schema's CHECK lists are frozen migration text; test_store keeps them
 * equal to these lists. */
#ifndef KFARM_HISTORY_H
#define KFARM_HISTORY_H

#define HIST_ENUM(e, s) e,

/* A test's status: a result's (results.status; job.h's enum res_status is
 * the same first four), or a candidate's over its jobs (FLAKY: they
 * disagree, summary.h; never stored in results). */
#define HIST_STATUSES(X) \
	X(HS_PASS, "PASS") X(HS_FAIL, "FAIL") X(HS_SKIP, "SKIP") X(HS_MISSING, "MISSING") \
	X(HS_FLAKY, "FLAKY")
enum hist_status { HIST_STATUSES(HIST_ENUM) HS_COUNT };

/* What a candidate's status for a test did against its predecessor's. */
#define CHANGE_KINDS(X) \
	X(CH_NONE, "none")		/* the same, or still broken */ \
	X(CH_REGRESSION, "regression")	/* PASS -> FAIL or MISSING */ \
	X(CH_FIX, "fix")		/* FAIL or MISSING -> PASS */ \
	X(CH_SUPPORT, "support_change")	/* SKIP <-> PASS */ \
	X(CH_FLAKY, "flaky")		/* either side FLAKY */ \
	X(CH_OTHER, "change")		/* any other change (SKIP -> FAIL, ...) */ \
	X(CH_KNOWN, "known")		/* to what the known-failures files expect */
enum change_kind { CHANGE_KINDS(HIST_ENUM) CH_COUNT };

/* A run's status (runs.status). */
#define RUN_STATUSES(X) \
	X(RUN_RUNNING, "running") X(RUN_COMPLETE, "complete") \
	X(RUN_INTERRUPTED, "interrupted") X(RUN_FAILED, "failed")
enum run_status { RUN_STATUSES(HIST_ENUM) RUN_COUNT };

/* A build's status (builds.status, build.h): ERROR is the infrastructure's
 * (no cross compiler, an interrupted build), not the kernel's. */
#define BUILD_STATUSES(X) X(BS_PASS, "PASS") X(BS_FAIL, "FAIL") X(BS_ERROR, "ERROR")
enum build_status { BUILD_STATUSES(HIST_ENUM) BS_COUNT };

const char *hist_status_name(enum hist_status s);
const char *build_status_name(enum build_status s);
const char *change_kind_name(enum change_kind k);
const char *run_status_name(enum run_status s);
/* The enum value named s (exactly, as stored), or -1 (NULL, unknown). */
int hist_status_parse(const char *s);
int change_kind_parse(const char *s);
int run_status_parse(const char *s);
int build_status_parse(const char *s);

#endif
