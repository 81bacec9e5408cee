/* kfarm run, stage 3 (drive): begins the run in the store, hands the plan's
 * jobs to the scheduler one at a time as slots free up, stores every
 * finished attempt and frees the job, re-runs regressed jobs by policy
 * (--confirm), ends the run. What it keeps per job is the row of its final
 * attempt; everything else about a finished job is in the store. */
#ifndef KFARM_RUN_DRIVE_H
#define KFARM_RUN_DRIVE_H

#include "run_plan.h"
#include "sched.h"

#include <jansson.h>
#include <stdint.h>

struct store;

/* Specs that become ready while the run runs (source candidates still
 * building, run_build.h): once the plan's specs are used up, drive asks
 * the feed, in the scheduler's own loop, whether more will come. */
struct drive_feed {
	/* starts what can start; 1: more specs will come (fds: what it waits
	 * on), 0: no more */
	int (*waiting)(void *data, int *fds, size_t max, size_t *nfds);
	void (*ready)(void *data, int fd);	/* one of its fds is readable */
	void (*stop)(void *data, int sig);	/* interrupted */
	/* about once a second: progress (tty: rows for draw, else lines on a
	 * change) */
	void (*tick)(void *data, int tty, double t0);
	int (*draw)(void *data, FILE *f);	/* tty rows; returns how many */
	size_t (*expected)(void *data);		/* specs still to come */
	void *data;
};

struct run_drive {
	const struct run_plan *plan;
	struct store *st;
	int64_t run;
	int64_t *stored;	/* per seq - 1: its final attempt's row, 0: none */
	size_t nseq;		/* jobs handed out (seq of the last one) */
	size_t next;		/* next plan spec (or cq entry) of this pass */
	int confirming;		/* the confirmation pass */
	size_t *cq, ncq;	/* confirmation pass: plan specs to run again */
	unsigned long *cr;	/* ... and which confirmation each is */
	struct job **live;	/* handed to the scheduler, not back yet */
	size_t nlive, lcap, ndone, total;
	int tty, drawn, store_failed, plan_failed;
	double t0;
	const struct drive_feed *feed;	/* NULL: the plan is all there is */
};

/* Marks stale runs, begins the run (argv_text its command line) and lays
 * out its logs. -1: printed. */
int drive_begin(struct run_drive *d, struct run_plan *p, struct store *st,
		const char *argv_text);
/* Runs every job of the plan (and of d->feed as its specs come), then
 * confirm re-runs of each regressed one. Returns 1 when interrupted. so's
 * callbacks are drive's own. */
int drive_run(struct run_drive *d, struct sched_opts *so, unsigned long confirm);
/* Prints a line (already safe for a terminal) above the progress table. */
void drive_note(struct run_drive *d, const char *line);
/* Ends the run (complete, or interrupted) and redraws the progress table. */
void drive_end(struct run_drive *d, int interrupted);
/* Regression/fix/support/flaky changes the run's candidates brought. */
json_t *drive_changes(struct store *st, int64_t run);
void drive_release(struct run_drive *d);

#endif
