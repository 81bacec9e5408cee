/* The scheduler: one epoll loop supervising up to N VMs at once (console
 * pipes, pidfds, SIGINT/SIGTERM through a signalfd, deadlines as the loop's
 * timeout). No threads. Infrastructure errors are retried; everything else
 * is final. */
#ifndef KFARM_SCHED_H
#define KFARM_SCHED_H

#include "job.h"

struct sched_opts {
	unsigned int jobs;		/* parallel VMs */
	double boot_timeout;		/* no KTAP header by then */
	double silence_timeout;		/* no console output for this long */
	double total_timeout;		/* whole job */
	unsigned int infra_retries;	/* extra attempts after INFRA_ERROR */
	/* state changes (for progress); may be NULL */
	void (*on_state)(struct job *j, void *data);
	/* every finished attempt, retried or not, before any retry */
	void (*on_done)(struct job *j, int will_retry, void *data);
	/* about once a second, for progress; may be NULL */
	void (*on_tick)(void *data);
	void *data;
};

/* Runs every job to an outcome. Returns 0, or 1 when interrupted by a
 * signal (unfinished jobs are then left JS_QUEUED/stopped, not reported). */
int sched_run(struct job **jobs, size_t n, const struct sched_opts *o);

#endif
