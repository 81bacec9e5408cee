/* kfarm run, drive (run_drive.h). */
#include "run_drive.h"
#include "build_regress.h"
#include "history.h"
#include "hosts.h"
#include "job.h"
#include "regress.h"
#include "store.h"
#include "text.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *job_host(const struct job *j)
{
	static char here[256];

	if (j->host)
		return j->host->name;
	if (!*here && gethostname(here, sizeof(here) - 1) < 0)
		strcpy(here, "localhost");
	return here;
}

/* The live jobs (at most a few slots' worth), then how far the run is. Each
 * redraw covers at least as many lines as the last (no erase below). */
static void progress_draw(struct run_drive *d)
{
	double now = now_mono();
	int lines = 2;

	if (!d->tty)
		return;
	if (d->drawn)
		fprintf(stderr, "\033[%dA", d->drawn);
	fprintf(stderr, "\033[2K%-9s %-16s %-12s %8s  %s\n", "ARCH", "KERNEL", "STATE",
		"ELAPSED", "RESULTS");
	for (size_t i = 0; i < d->nlive; i++, lines++) {
		struct job *j = d->live[i];
		const char *st = j->state == JS_DONE ? job_outcome_name(j->outcome)
						     : job_state_name(j->state);
		double el = j->state == JS_QUEUED ? 0
			    : (j->state == JS_DONE ? j->t_end : now) - j->t_start;

		fprintf(stderr, "\033[2K%-9s %-16.16s %-12s %7.1fs  %lu/%ld\n", j->arch,
			j->label, st, el, j->ktap.ntop, j->ktap.plan);
	}
	if (d->feed && d->feed->draw)
		lines += d->feed->draw(d->feed->data, stderr);
	fprintf(stderr, "\033[2K%zu of %zu jobs done\n", d->ndone, d->total);
	for (; lines < d->drawn; lines++)
		fputs("\033[2K\n", stderr);
	d->drawn = lines;
	fflush(stderr);
}

void drive_note(struct run_drive *d, const char *line)
{
	if (d->tty && d->drawn) {
		/* the table goes, the line takes its place, the table follows */
		fprintf(stderr, "\033[%dA\033[J", d->drawn);
		d->drawn = 0;
	}
	fprintf(stderr, "%s\n", line);
	progress_draw(d);
}

static void on_state(struct job *j, void *data)
{
	struct run_drive *d = data;
	struct text_pool p = { 0 };

	if (d->tty) {
		progress_draw(d);
		return;
	}
	if (j->state == JS_DONE)
		fprintf(stderr, "[%7.1fs] %s %s: %s%s%s (%.1fs)\n", now_mono() - d->t0,
			j->arch, j->label, job_outcome_name(j->outcome),
			j->reason ? ": " : "", text_term(&p, j->reason), j->duration_s);
	else
		fprintf(stderr, "[%7.1fs] %s %s: %s%s%s\n", now_mono() - d->t0, j->arch, j->label,
			job_state_name(j->state), j->host && j->state == JS_BOOTING ? " on " : "",
			j->host && j->state == JS_BOOTING ? j->host->name : "");
	text_pool_release(&p);
}

static void count_total(struct run_drive *d)
{
	size_t t = plan_size(d->plan) + (d->feed && d->feed->expected
					 ? d->feed->expected(d->feed->data) : 0);

	if (!d->confirming && t > d->total)
		d->total = t;
}

static void on_tick(void *data)
{
	struct run_drive *d = data;

	if (d->feed && d->feed->tick)
		d->feed->tick(d->feed->data, d->tty, d->t0);
	count_total(d);
	progress_draw(d);
}

static void on_pool_down(struct sched_pool *p, const char *why, void *data)
{
	struct run_drive *d = data;
	struct text_pool tp = { 0 };

	fprintf(stderr, "[%7.1fs] host %s is down for this run (%s); its jobs go elsewhere\n",
		now_mono() - d->t0, p->name, text_term(&tp, why));
	text_pool_release(&tp);
}

/* Every attempt is stored; the final one's row is what the report reads. */
static void on_done(struct job *j, int will_retry, void *data)
{
	struct run_drive *d = data;
	struct text_pool p = { 0 };
	struct err e;
	int64_t id;

	if (will_retry && !d->tty)
		fprintf(stderr, "[%7.1fs] %s %s: infrastructure error on %s, retrying: %s\n",
			now_mono() - d->t0, j->arch, j->label, job_host(j),
			text_term(&p, j->reason));
	text_pool_release(&p);
	id = store_job(d->st, d->run, j, job_host(j), &e);
	if (id < 0) {
		error("%s", e.msg);
		d->store_failed = 1;
	}
	if (!will_retry && j->seq >= 1 && (size_t)j->seq <= d->nseq)
		d->stored[j->seq - 1] = id > 0 ? id : 0;
}

/* A job for the next seq from spec i: its log name and candidate. */
static struct job *bind(struct run_drive *d, size_t i, unsigned long confirm)
{
	struct job *j = plan_job(d->plan, i);
	struct err e;

	if (!(d->nseq & (d->nseq - 1)))
		d->stored = xrealloc(d->stored, (d->nseq ? 2 * d->nseq : 1) * sizeof(*d->stored));
	d->stored[d->nseq++] = 0;
	if (!j) {
		d->plan_failed = 1;
		return NULL;
	}
	j->seq = (int)d->nseq;
	j->candidate_id = store_job_candidate(d->st, j, &e);
	if (j->candidate_id < 0) {
		error("%s", e.msg);
		d->store_failed = 1;
		job_free(j);
		return NULL;
	}
	j->log_path = plan_log_path(d->plan, j->seq, j, confirm);
	if (d->nlive == d->lcap) {
		d->lcap = d->lcap ? 2 * d->lcap : 16;
		d->live = xrealloc(d->live, d->lcap * sizeof(*d->live));
	}
	d->live[d->nlive++] = j;
	return j;
}

/* the scheduler's source: main pass, then the confirmation pass */
static struct job *next_job(void *data)
{
	struct run_drive *d = data;
	struct job *j = NULL;

	while (!j && !d->confirming && d->next < plan_size(d->plan))
		j = bind(d, d->next++, 0);
	while (!j && d->confirming && d->next < d->ncq) {
		size_t k = d->next++;

		j = bind(d, d->cq[k], d->cr[k]);
	}
	return j;
}

/* the feed's specs: only in the main pass, once the plan's are used up */
static int feed_waiting(void *data, int *fds, size_t max, size_t *nfds)
{
	struct run_drive *d = data;
	int more;

	*nfds = 0;
	if (d->confirming)
		return 0;
	more = d->feed->waiting(d->feed->data, fds, max, nfds);
	count_total(d);
	return more || d->next < plan_size(d->plan);
}

static void feed_ready(void *data, int fd)
{
	struct run_drive *d = data;

	d->feed->ready(d->feed->data, fd);
	count_total(d);
}

static void feed_stop(void *data, int sig)
{
	struct run_drive *d = data;

	d->feed->stop(d->feed->data, sig);
}

static void put_job(struct job *j, void *data)
{
	struct run_drive *d = data;

	for (size_t i = 0; i < d->nlive; i++)
		if (d->live[i] == j) {
			d->live[i] = d->live[--d->nlive];
			break;
		}
	d->ndone += j->state == JS_DONE;
	job_free(j);
}

int drive_begin(struct run_drive *d, struct run_plan *p, struct store *st,
		const char *argv_text)
{
	struct err e;

	*d = (struct run_drive){ .plan = p, .st = st, .total = plan_size(p) };
	if (store_mark_stale_runs(st, &e))
		return error("%s", e.msg);
	d->run = store_run_begin(st, argv_text, &e);
	if (d->run < 0)
		return error("%s", e.msg);
	/* the database's own log directory, made by store_run_begin */
	plan_layout(p, store_path(st), d->run);
	return 0;
}

json_t *drive_changes(struct store *st, int64_t run)
{
	struct err e = { 0 };
	json_t *r = regress_query(store_db(st), NULL, run, &e), *all;

	if (!r) {
		error("%s", e.msg);
		return json_array();
	}
	all = json_incref(json_object_get(r, "regressions"));
	json_decref(r);
	if (build_regress_append(store_db(st), NULL, run, all))
		error("cannot compare builds: %s", sqlite3_errmsg(store_db(st)));
	return all;
}

/* Did job row id (not an infrastructure error) land on one of changes'
 * regressions (its arch, its candidate's label)? */
static int regressed(sqlite3_stmt *q, int64_t id, json_t *changes)
{
	const char *arch, *label;
	size_t k;
	json_t *o;
	int hit = 0;

	sqlite3_reset(q);
	sqlite3_bind_int64(q, 1, id);
	if (sqlite3_step(q) != SQLITE_ROW || sqlite3_column_type(q, 0) != SQLITE_TEXT ||
	    sqlite3_column_type(q, 1) != SQLITE_TEXT ||
	    sqlite3_column_type(q, 2) != SQLITE_TEXT ||
	    !strcmp((const char *)sqlite3_column_text(q, 2), job_outcome_name(JOB_INFRA_ERROR)))
		return 0;
	arch = (const char *)sqlite3_column_text(q, 0);
	label = (const char *)sqlite3_column_text(q, 1);
	json_array_foreach(changes, k, o) {
		json_t *to = json_object_get(o, "to");
		int kind = change_kind_parse(json_string_value(json_object_get(o, "kind")));
		const char *a = json_string_value(json_object_get(o, "arch"));
		const char *l = json_string_value(json_object_get(to, "kernel"));

		hit |= kind == CH_REGRESSION && a && l && !strcmp(a, arch) &&
		       !strcmp(l, label) && json_integer_value(json_object_get(to, "job")) > 0;
	}
	return hit;
}

/* A failure is only a regression if it repeats: every job whose candidate
 * now shows a regression on its arch runs `confirm` more times; a test whose
 * outcome then differs is FLAKY, not a regression. */
static size_t plan_confirmations(struct run_drive *d, unsigned long confirm)
{
	json_t *changes = drive_changes(d->st, d->run);
	sqlite3_stmt *q = NULL;
	size_t nmain = d->nseq;

	if (sqlite3_prepare_v2(store_db(d->st), "SELECT j.arch, c.label, j.outcome FROM jobs j"
			       " JOIN candidates c ON c.id = j.candidate_id WHERE j.id = ?", -1,
			       &q, NULL) != SQLITE_OK) {
		error("cannot read the run back: %s", sqlite3_errmsg(store_db(d->st)));
		nmain = 0;
	}
	for (size_t i = 0; i < nmain; i++) {
		if (!d->stored[i] || !regressed(q, d->stored[i], changes))
			continue;
		d->cq = xrealloc(d->cq, (d->ncq + confirm) * sizeof(*d->cq));
		d->cr = xrealloc(d->cr, (d->ncq + confirm) * sizeof(*d->cr));
		for (unsigned long r = 0; r < confirm; r++, d->ncq++) {
			d->cq[d->ncq] = i;	/* main pass: seq i + 1 is spec i */
			d->cr[d->ncq] = r + 1;
		}
	}
	sqlite3_finalize(q);
	json_decref(changes);
	return d->ncq;
}

int drive_run(struct run_drive *d, struct sched_opts *so, unsigned long confirm)
{
	struct sched_source src = { next_job, put_job, d, NULL, NULL, NULL };
	int interrupted;

	if (d->feed)
		src.waiting = feed_waiting, src.ready = feed_ready, src.stop = feed_stop;
	d->tty = isatty(2);
	d->t0 = now_mono();
	so->on_state = on_state;
	so->on_done = on_done;
	so->on_pool_down = on_pool_down;
	so->on_tick = d->tty || d->feed ? on_tick : NULL;
	so->data = d;
	count_total(d);
	interrupted = d->total || d->feed ? sched_run_source(&src, so) : 0;
	if (interrupted || !confirm || !plan_confirmations(d, confirm))
		return interrupted;
	if (!d->tty)
		fprintf(stderr, "[%7.1fs] confirming %zu regressed job(s) with %zu re-run(s)\n",
			now_mono() - d->t0, d->ncq, d->ncq);
	d->next = 0;
	d->confirming = 1;
	d->total += d->ncq;
	return sched_run_source(&src, so);
}

void drive_end(struct run_drive *d, int interrupted)
{
	struct err e;

	progress_draw(d);
	if (store_run_end(d->st, d->run, interrupted ? RUN_INTERRUPTED : RUN_COMPLETE, &e))
		error("%s", e.msg);
}

void drive_release(struct run_drive *d)
{
	for (size_t i = 0; i < d->nlive; i++)
		job_free(d->live[i]);
	free(d->live);
	free(d->stored);
	free(d->cq);
	free(d->cr);
}
