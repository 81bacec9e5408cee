/* The scheduler: placement and deadlines. One epoll loop supervising up to
 * N VMs at once (console pipes, pidfds, SIGINT/SIGTERM through a signalfd,
 * deadlines as the loop's timeout). No threads. It pulls jobs from a source
 * as slots free up; it never decides an outcome nor calls the backend: the
 * job does both (job.h). */
#ifndef KFARM_SCHED_H
#define KFARM_SCHED_H

#include "job.h"

struct host;

/* A set of slots that run VMs: one host. Each queued job goes to an up pool
 * that accepts it, the one with the most free slots. A pool whose host
 * dropped out (the backend says so: vm.host_down) is marked down for the
 * rest of the run; its in-flight jobs come back as infrastructure retries,
 * which do not use up the job's retry budget. */
struct sched_pool {
	const char *name;
	unsigned int slots;
	struct host *host;		/* handed to each job placed here (job->host) */
	/* may this pool run j? NULL: any job */
	int (*accepts)(const struct sched_pool *p, const struct job *j);
	int down;			/* set by the scheduler */
	unsigned int placed;		/* attempts started here */
};

struct sched_opts {
	unsigned int jobs;		/* parallel VMs (at most) */
	struct sched_pool *pools;	/* NULL: one pool of `jobs` slots, here */
	size_t npools;
	double boot_timeout;		/* no KTAP header by then */
	double silence_timeout;		/* no console output for this long */
	double total_timeout;		/* whole job */
	/* a VM its backend still queues (LAVA: no device free) this long after
	 * it was submitted: the attempt ends as INFRA_ERROR. The three limits
	 * above count from when it began to run. 0: no limit */
	double queue_timeout;
	/* a VM told to stop (timeout, last result) that has not ended this
	 * long after is given up on: its backend is hung (an SFTP write to a
	 * dead host...). Its job ends as INFRA_ERROR (COMPLETE if every result
	 * was in), a remote host's pool goes down. 0: 30 s */
	double abandon_after;
	unsigned int infra_retries;	/* extra attempts after INFRA_ERROR */
	/* state changes (for progress); may be NULL */
	void (*on_state)(struct job *j, void *data);
	/* every finished attempt, retried or not, before any retry */
	void (*on_done)(struct job *j, int will_retry, void *data);
	/* a pool's host dropped out; may be NULL */
	void (*on_pool_down)(struct sched_pool *p, const char *why, void *data);
	/* about once a second, for progress; may be NULL */
	void (*on_tick)(void *data);
	void *data;
};

/* Where jobs come from and go back to. next: the next job to run, NULL
 * when there are no more (asked only when a slot could take one, so at most
 * a few slots' worth are out at once). put: a job the scheduler is done with,
 * after on_done reported its final attempt, or unfinished (JS_QUEUED, not
 * reported) when interrupted; NULL: the caller keeps its jobs. */
struct sched_source {
	struct job *(*next)(void *data);
	void (*put)(struct job *j, void *data);
	void *data;
	/* A source whose jobs become ready later (kernels still building):
	 * after next gave NULL, waiting says whether more will come (1) and
	 * fills fds (at most max; *nfds) with what it waits on; the loop
	 * watches them with the VMs and calls ready(fd) when one is readable
	 * (or hung up), then asks next again. With no fds it asks again each
	 * second. NULL: next's NULL is the end. */
	int (*waiting)(void *data, int *fds, size_t max, size_t *nfds);
	void (*ready)(void *data, int fd);
	/* interrupted by signal sig: stop what the source runs; may be NULL */
	void (*stop)(void *data, int sig);
};
#define SCHED_SOURCE_FDS 16

/* Runs every job the source gives to an outcome. Returns 0, or 1 when
 * interrupted by a signal (unfinished jobs are then left JS_QUEUED/stopped,
 * not reported). */
int sched_run_source(const struct sched_source *src, const struct sched_opts *o);
/* The same over an array the caller owns. */
int sched_run(struct job **jobs, size_t n, const struct sched_opts *o);

#endif
