/* One step of a bisection: its runs as child kfarms (one left by a killed
 * bisection adopted, never run again) until its verdict, which is stored. */
#include "bisect_step.h"
#include "bisect_child.h"
#include "bisect_git.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_RUNS 64	/* results kept per step: 40 runs (a confirmation of 20) + retries */

/* One child run of commit for step; its result. -1 with e: cannot continue
 * (bad usage reported by the child, it could not start, the database). */
static int run_once(struct bctx *c, int64_t step, int seq, const char *kind,
		    const char *commit, int attempt, enum bisect_run *res, double *build_s,
		    double *boot_s, double *wall, struct err *e)
{
	char *src = xasprintf("%s@%s", c->priv, commit);
	char *log = xasprintf("%s/%02d-%s-%.12s-%d.log", c->logdir, seq, kind, commit, attempt);
	char *label = xasprintf("%s-%.12s", c->child_tree, commit);
	char *argv[24];
	int n = 0, rc;
	int64_t after = bisectdb_max_run(c->db, e), run;
	int running;
	double t0 = now_mono();
	pid_t pid;

	argv[n++] = "kfarm";
	argv[n++] = c->b.mode == BM_BUILD ? "build" : "run";
	argv[n++] = "--source", argv[n++] = src;
	argv[n++] = "--arch", argv[n++] = c->b.arch;
	argv[n++] = "--tree", argv[n++] = c->child_tree;
	/* a label of its own: the same commit run by the user is another
	 * candidate, whose tree the bisection must not take over */
	argv[n++] = "--label", argv[n++] = label;
	argv[n++] = "--db", argv[n++] = c->db_path;
	if (c->b.mode != BM_BUILD) {
		/* the bisection repeats runs itself: no confirmation re-runs */
		argv[n++] = "--confirm", argv[n++] = "0";
		if (c->top)
			argv[n++] = "--tests", argv[n++] = c->top;
		if (c->b.append)
			argv[n++] = "--append", argv[n++] = c->b.append;
	}
	argv[n] = NULL;
	rc = -1;
	if (after < 0 || (pid = spawn_kfarm(argv, log, e)) < 0)
		goto out;
	/* stored before waiting: a bisection killed now adopts this run */
	if (bisectdb_run_begin(c->db, step, attempt, (long)pid, after, e))
		goto out;
	rc = wait_kfarm(pid);
	*wall = now_mono() - t0;
	if (rc == 2) {
		err_set(e, 0, "kfarm %s --source %s refused its input (exit 2); see %s", argv[1],
			src, log);
		rc = -1;
		goto out;
	}
	/* a database that cannot say the run's result stops the bisection (a
	 * resumed one adopts the run) */
	rc = -1;
	run = bisectdb_run_of_pid(c->db, after, (long)pid, &running, e);
	if (run < 0)
		goto out;
	if (run > 0) {
		if (bisectdb_judge(c->db, run, c->b.arch, c->b.mode, c->b.test, res, build_s,
				   boot_s, e))
			goto out;
	} else {
		*res = BR_INFRA;
	}
	rc = bisectdb_run_end(c->db, step, attempt, run, *res, *wall, e);
out:
	free(src), free(log), free(label);
	return rc;
}

/* A run started by a killed bisection: wait for its kfarm to finish, then
 * take its result like any other (never run again). */
static int adopt(struct bctx *c, int64_t step, const struct bisect_pending *p,
		 struct err *e)
{
	enum bisect_run res = BR_INFRA;
	double b = 0, t = 0, wall = 0;
	int64_t run;
	int running;

	if (pid_is_kfarm(p->pid))
		printf("  waiting for the step's run left by the killed bisection (pid %ld)\n",
		       p->pid);
	fflush(stdout);
	while (pid_is_kfarm(p->pid))
		sleep(1);
	run = bisectdb_run_of_pid(c->db, p->after, p->pid, &running, e);
	if (run < 0 ||
	    (run > 0 && !running &&
	     bisectdb_judge(c->db, run, c->b.arch, c->b.mode, c->b.test, &res, &b, &t, e)) ||
	    (run > 0 && (wall = bisectdb_run_wall(c->db, run, e)) < 0))
		return -1;
	return bisectdb_run_end(c->db, step, p->attempt, run > 0 ? run : 0, res, wall, e);
}


static void step_line(struct bctx *c, int seq, const char *kind, const char *commit,
		      const struct stepres *r)
{
	struct sb subj;

	sb_init(&subj);
	git_run(c->priv, &subj, "log", "-1", "--format=%s", commit, (char *)NULL);
	printf("  %2d %-12s %.12s %-4s runs %u fail %u%s  build %5.1fs boot %5.1fs wall %6.1fs%s  %s\n",
	       seq, kind, commit, bisect_verdict_name(r->v) ? bisect_verdict_name(r->v) : "-",
	       r->t.pass + r->t.fail + r->t.skip + r->t.build_fail, r->t.fail,
	       r->t.build_fail ? " (build failed)" : r->t.infra ? " (infra retried)" : "",
	       r->build_s, r->boot_s, r->wall_s, r->reused ? " (stored)" : "",
	       text_term(&c->tp, subj.buf));
	fflush(stdout);
	sb_release(&subj);
}

static int step_seq(struct bctx *c, int64_t step)
{
	sqlite3_stmt *s;
	int seq = 0;

	if (sqlite3_prepare_v2(c->db, "SELECT seq, coalesce(build_s, 0), coalesce(boot_s, 0)"
			       " FROM bisect_steps WHERE id = ?", -1, &s, NULL) != SQLITE_OK)
		return 0;
	sqlite3_bind_int64(s, 1, step);
	if (sqlite3_step(s) == SQLITE_ROW)
		seq = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	return seq;
}

/* One step: its stored verdict if it has one, else runs (adopting one left
 * by a killed bisection) until bisect_verdict decides. -1: give up. */
int do_step(struct bctx *c, const char *kind, const char *commit, unsigned int want,
	    int full, struct stepres *r, struct err *e)
{
	enum bisect_run runs[MAX_RUNS];
	struct bisect_pending p;
	enum bisect_verdict stored;
	int64_t step = bisectdb_step(c->db, c->b.id, kind, commit, &stored, e);
	int seq, give_up;
	double wall_done;

	memset(r, 0, sizeof(*r));
	if (step < 0)
		return -1;
	seq = step_seq(c, step);
	for (;;) {
		int n = bisectdb_runs(c->db, step, runs, MAX_RUNS, &p, &wall_done, e);

		if (n < 0)
			return -1;
		if (p.attempt) {
			if (adopt(c, step, &p, e))
				return -1;
			continue;
		}
		r->v = bisect_verdict(c->b.mode, runs, (size_t)n, want, full, &r->t, &give_up);
		if (stored != BV_NONE || r->v != BV_NONE) {
			sqlite3_stmt *s;

			if (stored != BV_NONE) {	/* decided before a kill: reuse it */
				r->reused = 1;
				r->v = stored;
			}
			r->wall_s = wall_done;
			/* per run, so that a run's several jobs (retries) count its build once */
			if (sqlite3_prepare_v2(c->db, "SELECT coalesce(sum((SELECT sum(b.duration_s)"
					       " FROM builds b WHERE b.run_id = r.run_id)), 0),"
					       " coalesce(sum((SELECT sum(j.duration_s) FROM jobs j"
					       " WHERE j.run_id = r.run_id)), 0) FROM bisect_runs r"
					       " WHERE r.step_id = ?", -1, &s, NULL) == SQLITE_OK) {
				sqlite3_bind_int64(s, 1, step);
				if (sqlite3_step(s) == SQLITE_ROW)
					r->build_s = sqlite3_column_double(s, 0),
					r->boot_s = sqlite3_column_double(s, 1);
				sqlite3_finalize(s);
			}
			if (!r->reused && bisectdb_step_end(c->db, step, r->v, &r->t, r->build_s,
							    r->boot_s, r->wall_s, e))
				return -1;
			c->wall += r->wall_s;
			step_line(c, seq, kind, commit, r);
			return 0;
		}
		if (give_up || n >= MAX_RUNS)
			return err_set(e, 0, "step %d (%.12s): %u infrastructure errors, no "
				       "verdict; see %s", seq, commit, r->t.infra, c->logdir);
		enum bisect_run res = BR_INFRA;
		double b = 0, t = 0, w = 0;

		if (run_once(c, step, seq, kind, commit, n + 1, &res, &b, &t, &w, e))
			return -1;
	}
}
