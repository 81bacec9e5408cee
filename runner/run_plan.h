/* kfarm run, stage 1 (plan): options and defaults -> one job spec per job,
 * in run order, and the run's log layout. Every spec is checked before
 * anything starts (plan_check); a job is built from its spec only when the
 * run needs it (plan_job), so a plan holds a pointer per job, never a job.
 * Knows nothing of the store, the scheduler or hosts. */
#ifndef KFARM_RUN_PLAN_H
#define KFARM_RUN_PLAN_H

#include "accel.h"
#include "backend.h"

#include <stddef.h>
#include <stdint.h>

struct job;

struct initrd_override {
	char *arch, *path;
};

/* --smp / --variant values, each for one arch or (arch NULL) for all */
struct per_arch {
	char *arch, *val;
};

struct machine_opts {
	struct per_arch *smp, *variant;
	size_t nsmp, nvariant;
	enum accel_req accel;
	int accel_given;
};

/* What every job shares, as the options gave it (owned by cmd_run). */
struct plan_opts {
	char **arches, **tests;		/* NULL: every arch / the initramfs's suite */
	char **versions;		/* --kernels: default kernels of these versions */
	struct initrd_override *ovr;
	size_t novr;
	char *append, *tree;		/* tree: --tree, overrides each spec's */
	struct machine_opts mo;
	const struct backend *be;
};

/* One job to run: a kernel of an arch under a label in a tree. */
struct plan_spec {
	char *arch, *image, *label, *tree;
	/* a later stage's finishing touch on the job (the build stage's
	 * kselftest initramfs), or NULL: 0, or -1 printed */
	int (*finish)(const void *data, size_t key, struct job *j, int tests_given);
	const void *fdata;
	size_t fkey;
};

struct run_plan {
	const struct plan_opts *o;
	struct plan_spec *own;		/* default kernels, built candidates */
	size_t nown;
	const char **args;		/* --kernel ARCH=PATH[:LABEL] (borrowed) */
	size_t nargs;
	char *logdir;			/* plan_layout */
};

void plan_init(struct run_plan *p, const struct plan_opts *o);
/* The default matrix: every built default kernel of the selected arches. */
int plan_defaults(struct run_plan *p);
/* --kernel values (borrowed; syntax checked, --arch applied). */
int plan_kernels(struct run_plan *p, char **kernels);
/* One more spec (the build stage adds its candidates this way). */
size_t plan_add(struct run_plan *p, const char *arch, const char *image, const char *label,
		const char *tree);
/* Builds every job once and drops it: every input is checked (and each error
 * printed) before anything starts or is written. */
int plan_check(const struct run_plan *p);
size_t plan_size(const struct run_plan *p);
/* Job i, ready to run but for seq, log path and candidate; NULL: printed. */
struct job *plan_job(const struct run_plan *p, size_t i);
/* The distinct arches of the plan, in order (strv; the strings are owned). */
char **plan_arches(const struct run_plan *p);
/* The index of the first spec of arch (for messages about it). */
size_t plan_first_of(const struct run_plan *p, const char *arch);
/* Logs go to the database's own directory for run (made by store_run_begin). */
void plan_layout(struct run_plan *p, const char *db_path, int64_t run);
/* Job seq's console log; confirm > 0: its confirm-th confirmation run. */
char *plan_log_path(const struct run_plan *p, int seq, const struct job *j,
		    unsigned long confirm);
void plan_release(struct run_plan *p);

/* option helpers for cmd_run's table */
char **split_list(const char *s);
int in_list(char **v, const char *s);
int valid_test_name(const char *t);
void per_arch_add(struct per_arch **v, size_t *n, const char *arg);
void per_arch_free(struct per_arch *v, size_t n);

#endif
