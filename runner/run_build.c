/* kfarm run, build (run_build.h). */
#include "run_build.h"
#include "cache.h"
#include "job.h"
#include "store.h"
#include "text.h"
#include "util.h"

#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Is every selected arch bootable once built (an initramfs for it)? */
static int bootable(const struct srcset *ss, const struct plan_opts *o)
{
	for (size_t a = 0; a < ss->narch; a++) {
		char *initrd = NULL, **suite = NULL;
		int given = 0;
		struct err e;

		for (size_t k = 0; k < o->novr; k++)
			given |= !strcmp(o->ovr[k].arch, ss->arches[a]);
		if (!given && cache_initramfs(ss->arches[a], &initrd, &suite, &e))
			return error("%s", e.msg);
		free(initrd);
		strv_free(suite);
	}
	return 0;
}

/* A built candidate's job boots its kselftest initramfs (plan_spec.finish). */
static int ks_finish(const void *data, size_t key, struct job *j, int tests_given)
{
	struct err e;

	if (kselftest_job(data, key, j, tests_given, &e))
		return error("%s", e.msg);
	return 0;
}

int run_build_prepare(struct run_build *b, struct run_plan *p, char **specs,
		      const char *patches, const char *label)
{
	struct srcset *ss = &b->ss;

	b->plan = p;
	if (srcset_resolve(ss, specs, patches, p->o->arches, p->o->tree, label) ||
	    bootable(ss, p->o))
		return -1;
	kselftest_config(&b->ks);
	kselftest_build(&b->ks, ss);
	b->spec = xcalloc(ss->n * ss->narch + 1, sizeof(*b->spec));
	for (size_t i = 0; i < ss->n * ss->narch; i++)
		b->spec[i] = SIZE_MAX;
	return 0;
}

/* Build i has its result: a PASS is one more spec of the plan. */
static void built(struct run_build *b, size_t i)
{
	struct srcset *ss = &b->ss;
	const struct source *s = &ss->src[i / ss->narch];
	struct run_plan *p = b->plan;

	b->resolved++;
	if (ss->b[i].status != BS_PASS)
		return;
	b->spec[i] = plan_add(p, ss->b[i].arch, ss->b[i].image, s->label, s->tree);
	p->own[b->spec[i]].finish = ks_finish;
	p->own[b->spec[i]].fdata = &b->ks;
	p->own[b->spec[i]].fkey = i;
}

int run_build_sync(struct run_build *b)
{
	struct srcset *ss = &b->ss;

	srcset_build(ss);	/* an unprepared source: ERROR builds, exit 2 */
	for (size_t i = 0; i < ss->n * ss->narch; i++)
		if (ss->b[i].arch)
			built(b, i);
	return ss->interrupted;
}

/* --- the feed: builds inside the scheduler's loop --- */

static struct rb_proc *free_proc(struct run_build *b)
{
	for (unsigned int k = 0; k < b->build_jobs; k++)
		if (!b->procs[k].bp.pid)
			return &b->procs[k];
	return NULL;
}

static void note(struct run_build *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct run_build *b, const char *fmt, ...)
{
	char line[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (b->drive)
		drive_note(b->drive, line);
	else
		fprintf(stderr, "%s\n", line);
}

static void script_out(void *data, const char *arch, const char *line)
{
	note(data, "  %s: %s", arch, line);
}

static void finish_proc(struct run_build *b, struct rb_proc *rp)
{
	struct srcset *ss = &b->ss;
	struct build *bd = &ss->b[rp->idx];

	build_finish(&rp->bp, bd);
	b->running--;
	if (bd->interrupted)
		ss->interrupted = bd->interrupted;
	note(b, "[%7.1fs] %s %s: build %s in %.0fs%s%s", now_mono() - b->t0, bd->arch,
	     ss->src[rp->idx / ss->narch].label, build_status_name(bd->status), bd->duration_s,
	     bd->cached ? " (cached)" : "", bd->status == BS_PASS ? ", boots next" : "");
	built(b, rp->idx);
}

/* Starts what can start: the next source's tree once every build of the
 * last one ended (a git clone moves on to the next revision), its arches
 * up to build_jobs at once. */
static void pump(struct run_build *b)
{
	struct srcset *ss = &b->ss;

	while (b->cur < ss->n && !ss->interrupted) {
		struct rb_proc *rp;

		if (!b->prepared) {
			int rc = srcset_prepare(ss, b->cur);

			if (rc) {	/* every arch of it a result (srcset_prepare) */
				for (size_t a = 0; a < ss->narch; a++)
					built(b, b->cur * ss->narch + a);
				b->cur++;
				continue;
			}
			b->prepared = 1;
			b->next_arch = 0;
		}
		while (b->next_arch < ss->narch && (rp = free_proc(b))) {
			size_t i = b->cur * ss->narch + b->next_arch++;

			rp->idx = i;
			rp->shown[0] = '\0';
			if (build_start(&ss->src[b->cur], &ss->cfg, ss->arches[i % ss->narch], &rp->bp,
					&ss->b[i]) < 0) {
				built(b, i);	/* ERROR: could not start */
				continue;
			}
			b->running++;
		}
		if (b->running || b->next_arch < ss->narch)
			return;
		b->cur++;
		b->prepared = 0;
	}
}

static int feed_waiting(void *data, int *fds, size_t max, size_t *nfds)
{
	struct run_build *b = data;

	pump(b);
	*nfds = 0;
	for (unsigned int k = 0; k < b->build_jobs; k++) {
		const struct build_proc *bp = &b->procs[k].bp;

		if (!bp->pid || *nfds + 2 > max)
			continue;
		if (bp->out_fd >= 0)
			fds[(*nfds)++] = bp->out_fd;
		else if (bp->pidfd >= 0)
			fds[(*nfds)++] = bp->pidfd;
	}
	return b->running || (b->cur < b->ss.n && !b->ss.interrupted);
}

static void feed_ready(void *data, int fd)
{
	struct run_build *b = data;

	for (unsigned int k = 0; k < b->build_jobs; k++) {
		struct rb_proc *rp = &b->procs[k];
		struct pollfd p = { rp->bp.pidfd, POLLIN, 0 };

		if (!rp->bp.pid || (fd != rp->bp.out_fd && fd != rp->bp.pidfd))
			continue;
		if (fd == rp->bp.out_fd && build_io(&rp->bp))
			return;
		/* output at EOF, but the script not gone yet: its pidfd will say */
		if (rp->bp.out_fd < 0 && rp->bp.pidfd >= 0 && poll(&p, 1, 0) == 0)
			return;
		finish_proc(b, rp);
		pump(b);
		return;
	}
}

static void feed_stop(void *data, int sig)
{
	struct run_build *b = data;

	for (unsigned int k = 0; k < b->build_jobs; k++)
		if (b->procs[k].bp.pid) {
			note(b, "kfarm: signal %d: stopping the %s build", sig, b->procs[k].bp.arch);
			build_signal(&b->procs[k].bp, sig);
		}
	for (unsigned int k = 0; k < b->build_jobs; k++)
		if (b->procs[k].bp.pid)
			finish_proc(b, &b->procs[k]);
	b->ss.interrupted = sig;
}

static void phase_of(struct rb_proc *rp, char *buf, size_t len, int coarse)
{
	struct build_proc *bp = &rp->bp;

	if (coarse && bp->phase == BP_COMPILE && bp->expect > 0) {
		long pct = 100 * (bp->steps < bp->expect ? bp->steps : bp->expect) / bp->expect;

		snprintf(buf, len, "compile %ld%%", pct / 10 * 10);
	} else if (coarse && bp->phase == BP_COMPILE) {
		snprintf(buf, len, "compile");
	} else {
		build_phase_text(bp, buf, len);
	}
}

static void feed_tick(void *data, int tty, double t0)
{
	struct run_build *b = data;
	struct srcset *ss = &b->ss;

	(void)t0;
	for (unsigned int k = 0; k < b->build_jobs; k++) {
		struct rb_proc *rp = &b->procs[k];
		char now[48];

		if (!rp->bp.pid)
			continue;
		build_follow(&rp->bp);
		if (tty)
			continue;
		/* plain lines: on a change of phase or of ten percent */
		phase_of(rp, now, sizeof(now), 1);
		if (strcmp(now, rp->shown)) {
			snprintf(rp->shown, sizeof(rp->shown), "%s", now);
			note(b, "[%7.1fs] %s %s: %s", now_mono() - b->t0, rp->bp.arch,
			     ss->src[rp->idx / ss->narch].label, now);
		}
	}
}

static int feed_draw(void *data, FILE *f)
{
	struct run_build *b = data;
	struct srcset *ss = &b->ss;
	struct text_pool tp = { 0 };
	int n = 0;

	for (unsigned int k = 0; k < b->build_jobs; k++, n++) {
		struct rb_proc *rp = &b->procs[k];
		char ph[48];

		if (!rp->bp.pid) {
			n--;
			continue;
		}
		phase_of(rp, ph, sizeof(ph), 0);
		fprintf(f, "\033[2K%-9s %-16.16s %-12s %7.1fs  build\n", rp->bp.arch,
			text_term(&tp, ss->src[rp->idx / ss->narch].label), ph,
			now_mono() - rp->bp.t0);
	}
	text_pool_release(&tp);
	return n;
}

static size_t feed_expected(void *data)
{
	struct run_build *b = data;
	size_t all = b->ss.n * b->ss.narch;

	return b->ss.interrupted ? 0 : all - b->resolved;
}

const struct drive_feed *run_build_feed(struct run_build *b, struct run_drive *d,
					unsigned int build_jobs, unsigned int make_jobs)
{
	b->drive = d;
	build_set_output(script_out, b);
	b->build_jobs = build_jobs ? build_jobs : 1;
	b->procs = xcalloc(b->build_jobs, sizeof(*b->procs));
	b->t0 = now_mono();
	build_set_jobs(make_jobs, 10);
	b->feed = (struct drive_feed){ feed_waiting, feed_ready, feed_stop, feed_tick, feed_draw,
				       feed_expected, b };
	return &b->feed;
}

/* srcset_record links builds to jobs by their candidates: the jobs exist
 * here only for that (drive builds its own from the same specs, same ids). */
int run_build_record(struct run_build *b, const struct run_plan *p, struct store *st,
		     int64_t run, const char *db_path)
{
	struct srcset *ss = &b->ss;
	size_t nb = ss->n * ss->narch;
	struct err e;
	int ret = 0;

	for (size_t i = 0; i < nb && !ret; i++) {
		struct job *j;

		if (b->spec[i] == SIZE_MAX)
			continue;
		j = ss->job[i] = plan_job(p, b->spec[i]);
		if (!j) {
			ret = -1;
		} else if ((j->candidate_id = store_job_candidate(st, j, &e)) < 0) {
			error("%s", e.msg);
			ret = -1;
		}
	}
	if (!ret)
		ret = srcset_record(ss, st, run, db_path, 1, p->o->tests) ||
		      (kselftest_record(&b->ks, ss, st, run, db_path, &e) && error("%s", e.msg));
	for (size_t i = 0; i < nb; i++) {
		job_free(ss->job[i]);
		ss->job[i] = NULL;
	}
	return ret;
}

int run_build_report(const struct run_build *b, FILE *f)
{
	int ret = b->ss.n ? srcset_report(&b->ss, f) : 0;

	if (b->ss.n)
		kselftest_report(&b->ks, &b->ss, f);
	return ret;
}

void run_build_release(struct run_build *b)
{
	if (b->drive)
		build_set_output(NULL, NULL);
	srcset_release(&b->ss);
	kselftest_release(&b->ks);
	free(b->spec);
	free(b->procs);
}
