/* kfarm run, drive: progress, storing each finished job, confirmation runs. */
#include "accel.h"
#include "backend.h"
#include "build_regress.h"
#include "cache.h"
#include "cmds.h"
#include "hosts.h"
#include "job.h"
#include "logdir.h"
#include "pin.h"
#include "profile.h"
#include "regress.h"
#include "run.h"
#include "sched.h"
#include "srcset.h"
#include "store.h"
#include "text.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void progress_draw(struct run_ctx *c)
{
	double now = now_mono();

	if (!c->tty)
		return;
	if (c->drawn)
		fprintf(stderr, "\033[%dA", c->drawn);
	fprintf(stderr, "\033[2K%-9s %-16s %-12s %8s  %s\n", "ARCH", "KERNEL", "STATE",
		"ELAPSED", "RESULTS");
	for (size_t i = 0; i < c->n; i++) {
		struct job *j = c->jobs[i];
		const char *st = j->state == JS_DONE ? job_outcome_name(j->outcome)
						     : job_state_name(j->state);
		double el = j->state == JS_QUEUED ? 0
			    : (j->state == JS_DONE ? j->t_end : now) - j->t_start;

		fprintf(stderr, "\033[2K%-9s %-16.16s %-12s %7.1fs  %lu/%ld\n", j->arch,
			j->label, st, el, j->ktap.ntop, j->ktap.plan);
	}
	c->drawn = (int)c->n + 1;
	fflush(stderr);
}

void on_state(struct job *j, void *data)
{
	struct run_ctx *c = data;
	struct text_pool p = { 0 };

	if (c->tty) {
		progress_draw(c);
		return;
	}
	if (j->state == JS_DONE)
		fprintf(stderr, "[%7.1fs] %s %s: %s%s%s (%.1fs)\n", now_mono() - c->t0,
			j->arch, j->label, job_outcome_name(j->outcome),
			j->reason ? ": " : "", text_term(&p, j->reason), j->duration_s);
	else
		fprintf(stderr, "[%7.1fs] %s %s: %s%s%s\n", now_mono() - c->t0, j->arch, j->label,
			job_state_name(j->state), j->host && j->state == JS_BOOTING ? " on " : "",
			j->host && j->state == JS_BOOTING ? j->host->name : "");
	text_pool_release(&p);
}

void on_tick(void *data)
{
	progress_draw(data);
}

const char *job_host(const struct job *j)
{
	static char here[256];

	if (j->host)
		return j->host->name;
	if (!*here && gethostname(here, sizeof(here) - 1) < 0)
		strcpy(here, "localhost");
	return here;
}

/* What a stored, finished job no longer needs in memory. */
static void job_drop_results(struct job *j)
{
	job_free_results(j);
	ktap_release(&j->ktap);	/* idempotent: job_free releases it again */
	profile_release(&j->profile);	/* a confirmation clone loads its own */
}

void on_done(struct job *j, int will_retry, void *data)
{
	struct run_ctx *c = data;
	struct text_pool p = { 0 };

	if (will_retry && !c->tty)
		fprintf(stderr, "[%7.1fs] %s %s: infrastructure error on %s, retrying: %s\n",
			now_mono() - c->t0, j->arch, j->label, job_host(j),
			text_term(&p, j->reason));
	text_pool_release(&p);
	int64_t id = store_job(c->st, c->run, j, job_host(j));

	if (id < 0)
		c->store_failed = 1;
	if (!will_retry && j->seq >= 1 && (size_t)j->seq <= c->n)
		c->stored[j->seq - 1] = id > 0 ? id : 0;
	/* the summary reads them back from the store: memory stays flat in
	 * the number of finished jobs */
	if (id > 0 && !will_retry)
		job_drop_results(j);
}

/* Regression/fix/support/flaky changes this run's candidates brought. */
json_t *run_changes(struct run_ctx *c)
{
	struct api_err e = { 0 };
	json_t *r = regress_query(store_db(c->st), NULL, c->run, &e), *all;

	if (!r) {
		error("%s", e.msg);
		return json_array();
	}
	all = json_incref(json_object_get(r, "regressions"));
	json_decref(r);
	if (build_regress_append(store_db(c->st), NULL, c->run, all))
		error("cannot compare builds: %s", sqlite3_errmsg(store_db(c->st)));
	return all;
}

/* A failure is only a regression if it repeats: every job whose candidate
 * now shows a regression on its arch runs `confirm` more times; a test whose
 * outcome then differs is FLAKY, not a regression. */
int confirm_runs(struct run_ctx *c, struct sched_opts *so, unsigned long confirm,
			char *logdir)
{
	json_t *changes = run_changes(c), *o;
	size_t n0 = c->n, k;
	int interrupted = 0;

	for (size_t i = 0; i < n0; i++) {
		struct job *j = c->jobs[i];
		int hit = 0;

		json_array_foreach(changes, k, o)
			hit |= !strcmp(json_string_value(json_object_get(o, "kind")), "regression") &&
			       !strcmp(json_string_value(json_object_get(o, "arch")), j->arch) &&
			       !strcmp(json_string_value(json_object_get(json_object_get(o, "to"),
									  "kernel")), j->label) &&
			       json_integer_value(json_object_get(json_object_get(o, "to"), "job")) > 0 &&
			       j->outcome != JOB_INFRA_ERROR;
		if (!hit)
			continue;
		for (unsigned long r = 0; r < confirm; r++) {
			struct job *cl = job_clone(j);

			if (!cl)
				continue;
			cl->seq = (int)c->n + 1;
			cl->log_path = xasprintf("%s/%02d-%s-%s-confirm%lu.log", logdir, cl->seq,
						 cl->arch, cl->label, r + 1);
			add_job(c, cl);
		}
	}
	json_decref(changes);
	if (c->n > n0) {
		if (!c->tty)
			fprintf(stderr, "[%7.1fs] confirming %zu regressed job(s) with %zu re-run(s)\n",
				now_mono() - c->t0, c->n - n0, c->n - n0);
		interrupted = sched_run(c->jobs + n0, c->n - n0, so);
	}
	free(logdir);
	return interrupted;
}
