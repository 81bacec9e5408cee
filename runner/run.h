/* The stages of kfarm run (cmd_run.c calls them in order): plan
 * (run_plan.c: options -> jobs), build (run_build.c: --source candidates),
 * hosts (run_hosts.c: pools and backends), drive (run_drive.c: schedule,
 * store, confirm), report (run_report.c: summary and --json from the store). */
#ifndef KFARM_RUN_H
#define KFARM_RUN_H

#include "accel.h"
#include "backend.h"
#include "hosts.h"
#include "job.h"
#include "sched.h"
#include "srcset.h"
#include "store.h"

#include <jansson.h>
#include <stdio.h>

struct run_ctx {
	struct job **jobs;
	size_t n;
	struct store *st;
	int64_t run;
	int tty, drawn;
	double t0;
	int store_failed;
	int64_t *stored;	/* per job (by seq): its final attempt's row, 0: none */
};
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

/* plan */
int split_kernel(const char *arg, char **arch, char **path, char **label);
char **split_list(const char *s);
int in_list(char **v, const char *s);
int valid_test_name(const char *t);
int make_job(struct job *j, const char *arch, const char *image, const char *label,
	     char **tests, struct initrd_override *ovr, size_t novr, const char *append);
void per_arch_add(struct per_arch **v, size_t *n, const char *arg);
void per_arch_free(struct per_arch *v, size_t n);
int set_machine(struct job *j, const struct machine_opts *mo);
void add_job(struct run_ctx *c, struct job *j);
int default_jobs(struct run_ctx *c, char **arches, char **tests,
		 struct initrd_override *ovr, size_t novr, const char *append);
/* build */
int source_jobs(struct run_ctx *c, struct srcset *ss, char **specs, const char *patches,
		char **arches, const char *tree, const char *label, char **tests,
		struct initrd_override *ovr, size_t novr, const char *append);
/* hosts */
void on_pool_down(struct sched_pool *p, const char *why, void *data);
int setup_hosts(struct run_ctx *c, struct hosts *hs, struct sched_opts *so, int jobs_given);
int connect_backend(struct run_ctx *c, const struct backend *be, const char *url,
		    const char *secret_file, struct sched_opts *so, int jobs_given, int *ret);
/* drive */
void progress_draw(struct run_ctx *c);
void on_state(struct job *j, void *data);
void on_tick(void *data);
const char *job_host(const struct job *j);
void on_done(struct job *j, int will_retry, void *data);
json_t *run_changes(struct run_ctx *c);
int confirm_runs(struct run_ctx *c, struct sched_opts *so, unsigned long confirm, char *logdir);
/* report */
int run_verdict(struct run_ctx *c);
void print_summary(struct run_ctx *c, json_t *changes, FILE *f);
int print_json(struct run_ctx *c, json_t *changes);

#endif
