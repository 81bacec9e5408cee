#include "sched.h"
#include "util.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

/* A console read smaller than this pauses its watch for TRICKLE_PAUSE_S. */
#define TRICKLE_BYTES 1024
#define TRICKLE_PAUSE_S 0.005

enum src { SRC_CONSOLE, SRC_ERR, SRC_EXIT, SRC_SIGNAL, SRC_SOURCE };

/* epoll's data for one fd: which job, which stream (SRC_SOURCE: the
 * source's own fd) */
struct watch {
	struct job *job;
	enum src src;
	int fd;
};

struct slot {
	struct job *job;
	struct sched_pool *pool;
	struct watch w[3];
	int open_console, open_err, exited;
	double t_rearm;		/* console watch paused until then (a trickle), 0: watched */
	double t_stop;		/* when the VM was first told to stop, 0: not yet */
};

struct sched {
	int ep, sfd;
	const struct sched_opts *o;
	const struct sched_source *src;
	struct slot *slots;
	unsigned int nslots;
	struct sched_pool here, *pools;
	size_t npools;
	/* pulled from the source and not running: new, or back for a retry */
	struct job **pending;
	size_t npending, window;
	int exhausted;		/* the source has no more */
	int starved;		/* ... for now: it is waiting for more (sched_source.waiting) */
	struct watch sw[SCHED_SOURCE_FDS];	/* the source's fds being watched */
	unsigned int running;
	int interrupted;	/* the signal, 0: none */
};

static void state(struct sched *s, struct job *j)
{
	if (s->o->on_state)
		s->o->on_state(j, s->o->data);
}

static void put(struct sched *s, struct job *j)
{
	if (s->src->put)
		s->src->put(j, s->src->data);
}

static int finished(const struct sched *s)
{
	return s->exhausted && !s->npending && !s->running;
}

static void pending_push(struct sched *s, struct job *j)
{
	if (!(s->npending & (s->npending - 1)))
		s->pending = xrealloc(s->pending, (s->npending ? 2 * s->npending : 1) *
					  sizeof(*s->pending));
	s->pending[s->npending++] = j;
}

static struct job *pending_take(struct sched *s, size_t k)
{
	struct job *j = s->pending[k];

	memmove(s->pending + k, s->pending + k + 1, (--s->npending - k) * sizeof(*s->pending));
	return j;
}

/* Enough queued jobs to choose a placement from, never the whole run. */
static void unwatch_fd(struct sched *s, int fd);

/* The source's fds watched as it lists them now (an fd it closed has left
 * epoll already: EPOLL_CTL_DEL of it fails harmlessly). A watch stays in
 * its place (epoll holds its address); fd -1 marks a free one. */
static void sync_source_fds(struct sched *s, const int *fds, size_t n)
{
	for (size_t k = 0; k < SCHED_SOURCE_FDS; k++) {
		int keep = 0;

		for (size_t i = 0; i < n; i++)
			keep |= s->sw[k].fd >= 0 && fds[i] == s->sw[k].fd;
		if (s->sw[k].fd >= 0 && !keep) {
			unwatch_fd(s, s->sw[k].fd);
			s->sw[k].fd = -1;
		}
	}
	/* added each time: a number the source closed and reused is a new
	 * file for epoll (EEXIST: the same one, still watched) */
	for (size_t i = 0; i < n; i++) {
		size_t k, at = SCHED_SOURCE_FDS;
		struct epoll_event ev = { .events = EPOLLIN };

		for (k = 0; k < SCHED_SOURCE_FDS && at == SCHED_SOURCE_FDS; k++)
			if (s->sw[k].fd == fds[i])
				at = k;
		for (k = 0; k < SCHED_SOURCE_FDS && at == SCHED_SOURCE_FDS; k++)
			if (s->sw[k].fd < 0)
				at = k;
		if (fds[i] < 0 || at == SCHED_SOURCE_FDS)
			continue;
		s->sw[at] = (struct watch){ NULL, SRC_SOURCE, fds[i] };
		ev.data.ptr = &s->sw[at];
		if (epoll_ctl(s->ep, EPOLL_CTL_ADD, fds[i], &ev) < 0 && errno != EEXIST)
			die("epoll_ctl: %s", strerror(errno));
	}
}

/* While every slot is busy top_up does not ask the source: its fds (a
 * build that started meanwhile) are kept watched here. */
static void refresh_source(struct sched *s)
{
	int fds[SCHED_SOURCE_FDS];
	size_t n = 0;

	if (!s->src->waiting || s->exhausted)
		return;
	s->src->waiting(s->src->data, fds, SCHED_SOURCE_FDS, &n);
	sync_source_fds(s, fds, n);
}

static void top_up(struct sched *s)
{
	s->starved = 0;
	while (!s->exhausted && s->npending < s->window) {
		struct job *j = s->src->next(s->src->data);
		int fds[SCHED_SOURCE_FDS];
		size_t n = 0;

		if (j) {
			pending_push(s, j);
			continue;
		}
		if (s->src->waiting && s->src->waiting(s->src->data, fds, SCHED_SOURCE_FDS, &n)) {
			s->starved = 1;
			sync_source_fds(s, fds, n);
			break;
		}
		s->exhausted = 1;
		sync_source_fds(s, NULL, 0);
	}
}

static void watch_fd(struct sched *s, int fd, struct watch *w)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = w };

	if (fd >= 0 && epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev) < 0)
		die("epoll_ctl: %s", strerror(errno));
}

static void watch_mod(struct sched *s, int fd, struct watch *w, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };

	if (fd >= 0)
		epoll_ctl(s->ep, EPOLL_CTL_MOD, fd, &ev);
}

static void unwatch_fd(struct sched *s, int fd)
{
	if (fd >= 0)
		epoll_ctl(s->ep, EPOLL_CTL_DEL, fd, NULL);
}

static void unwatch_vm(struct sched *s, struct job *j)
{
	unwatch_fd(s, j->vm.console_fd);
	unwatch_fd(s, j->vm.err_fd);
	unwatch_fd(s, j->vm.exit_fd);
}

static void pool_down(struct sched *s, struct sched_pool *p, const char *why)
{
	if (p->down)
		return;
	p->down = 1;
	if (s->o->on_pool_down)
		s->o->on_pool_down(p, why ? why : "host lost", s->o->data);
}

/* An attempt is over (its outcome decided by the job): report it, then
 * queue the retry or hand the final job back. The host's fault takes its
 * pool out. */
static void settle(struct sched *s, struct sched_pool *pool, struct job *j)
{
	int retry;

	if (j->vm.host_down)
		pool_down(s, pool, j->reason);
	retry = job_attempt_done(j, s->o->infra_retries);
	if (s->o->on_done)
		s->o->on_done(j, retry, s->o->data);
	state(s, j);
	if (retry) {
		job_reset(j);
		state(s, j);
		pending_push(s, j);
	} else {
		job_close(j);
		put(s, j);
	}
}

static void start_job(struct sched *s, struct slot *sl, struct job *j)
{
	struct sched_pool *pool = sl->pool;

	memset(sl, 0, sizeof(*sl));
	sl->pool = pool;
	j->host = pool->host;
	pool->placed++;
	if (job_start(j) < 0) {
		settle(s, pool, j);	/* a start failure is a finished attempt */
		return;
	}
	sl->job = j;
	for (int i = 0; i < 3; i++)
		sl->w[i] = (struct watch){ j, (enum src)i, -1 };
	watch_fd(s, j->vm.console_fd, &sl->w[SRC_CONSOLE]);
	watch_fd(s, j->vm.err_fd, &sl->w[SRC_ERR]);
	watch_fd(s, j->vm.exit_fd, &sl->w[SRC_EXIT]);
	sl->open_console = j->vm.console_fd >= 0;
	sl->open_err = j->vm.err_fd >= 0;
	s->running++;
	state(s, j);
}

static struct slot *slot_of(struct sched *s, struct job *j)
{
	for (unsigned int i = 0; i < s->nslots; i++)
		if (s->slots[i].job == j)
			return &s->slots[i];
	return NULL;
}

static void finish_attempt(struct sched *s, struct slot *sl, const struct vm_exit *ex)
{
	struct job *j = sl->job;

	job_finish(j, ex);
	sl->job = NULL;
	s->running--;
	settle(s, sl->pool, j);
}

/* The VM has exited (or its console closed with no pidfd): collect it. */
static void reap(struct sched *s, struct slot *sl)
{
	struct job *j = sl->job;
	struct vm_exit ex = { 0 };
	size_t got = 0;

	/* read whatever is still buffered in the pipes */
	if (sl->open_console)
		while (job_read(j, j->vm.console_fd, 1, &got) > 0)
			;
	if (sl->open_err)
		while (job_read(j, j->vm.err_fd, 0, &got) > 0)
			;
	unwatch_vm(s, j);
	job_wait(j, &ex);
	finish_attempt(s, sl, &ex);
}

static double abandon_after(const struct sched *s)
{
	return s->o->abandon_after > 0 ? s->o->abandon_after : 30;
}

#define QUEUE_POLL_S 1.0	/* between two asks whether a queued VM runs yet */

/* The VM did not end abandon_after seconds after it was told to: its backend
 * is stuck. Ends the attempt without waiting on the backend again (release
 * must not block: a backend thread keeps what it still uses). */
static void abandon(struct sched *s, struct slot *sl)
{
	unwatch_vm(s, sl->job);
	job_abandon(sl->job, abandon_after(s));
	finish_attempt(s, sl, &(struct vm_exit){ .by_us = 1 });
}

static void check_slot(struct sched *s, struct slot *sl, double now, double *next)
{
	struct job *j = sl->job;
	char *why;
	double d;

	if (sl->t_stop && now - sl->t_stop >= abandon_after(s)) {
		abandon(s, sl);
		return;
	}
	if (sl->t_rearm && now >= sl->t_rearm) {
		sl->t_rearm = 0;
		watch_mod(s, j->vm.console_fd, &sl->w[SRC_CONSOLE], EPOLLIN);
	} else if (sl->t_rearm && sl->t_rearm < *next) {
		*next = sl->t_rearm;
	}
	if (sl->t_stop && sl->t_stop + abandon_after(s) < *next)
		*next = sl->t_stop + abandon_after(s);
	if (j->timed_out)
		return;
	d = now + QUEUE_POLL_S;
	if (job_queued(j)) {
		/* a lab's queue is no part of the kernel's time; its own limit
		 * ends the attempt as not started (INFRA_ERROR), never TIMEOUT */
		why = !s->o->queue_timeout || now - j->t_start < s->o->queue_timeout ? NULL :
		      xasprintf("still queued for a machine after %.0fs", s->o->queue_timeout);
	} else if (job_suite_done(j)) {
		/* last result is in: no need to wait for the guest */
		job_stop(j);
		if (!sl->t_stop)
			sl->t_stop = now;
		return;
	} else {
		why = job_limit_hit(j, s->o->boot_timeout, s->o->silence_timeout,
				    s->o->total_timeout, now);
		d = job_deadline(j, s->o->boot_timeout, s->o->silence_timeout,
				 s->o->total_timeout);
	}
	if (why) {
		job_timeout(j, why);
		free(why);
		sl->t_stop = now;
		if (now + abandon_after(s) < *next)
			*next = now + abandon_after(s);
		return;
	}
	if (d < *next)
		*next = d;
}

static void check_deadlines(struct sched *s, double now, double *next)
{
	for (unsigned int i = 0; i < s->nslots; i++)
		if (s->slots[i].job)
			check_slot(s, &s->slots[i], now, next);
}

/* The free slot for j: in the up pool that accepts it with the most free
 * slots. NULL if none is free now; *runnable = how many up pools accept j. */
static struct slot *place(struct sched *s, struct job *j, unsigned int *runnable)
{
	struct sched_pool *best = NULL;
	unsigned int best_free = 0;

	*runnable = 0;
	for (size_t p = 0; p < s->npools; p++) {
		struct sched_pool *pool = &s->pools[p];
		unsigned int nfree = 0;

		if (pool->down || (pool->accepts && !pool->accepts(pool, j)))
			continue;
		(*runnable)++;
		for (unsigned int i = 0; i < s->nslots; i++)
			nfree += s->slots[i].pool == pool && !s->slots[i].job;
		if (nfree > best_free)
			best = pool, best_free = nfree;
	}
	for (unsigned int i = 0; best && i < s->nslots; i++)
		if (s->slots[i].pool == best && !s->slots[i].job)
			return &s->slots[i];
	return NULL;
}

/* No host left that can run j: its final outcome. */
static void unrunnable(struct sched *s, struct job *j)
{
	char *why = xasprintf("no host that is still up can run %s", j->arch);

	job_give_up(j, why);
	free(why);
	if (s->o->on_done)
		s->o->on_done(j, 0, s->o->data);
	state(s, j);
	put(s, j);
}

/* The queued job to start next and its slot: the one fewest hosts can run,
 * in queue order; jobs no host can run any more are finished on the way. */
static struct job *pick(struct sched *s, struct slot **slp)
{
	size_t best = SIZE_MAX;
	unsigned int fewest = ~0u;

	for (size_t k = 0; k < s->npending;) {
		unsigned int runnable;
		struct slot *cand = place(s, s->pending[k], &runnable);

		if (!runnable) {
			unrunnable(s, pending_take(s, k));
			continue;
		}
		if (cand && runnable < fewest)
			best = k, *slp = cand, fewest = runnable;
		k++;
	}
	return best == SIZE_MAX ? NULL : pending_take(s, best);
}

/* Fills free slots from the queue, topped up from the source. */
static void fill(struct sched *s)
{
	while (s->running < s->o->jobs) {
		struct slot *sl = NULL;
		struct job *j;

		top_up(s);
		if (!(j = pick(s, &sl))) {
			if (!s->npending && !s->exhausted && !s->starved)
				continue;	/* all unrunnable: take the next ones now */
			break;
		}
		start_job(s, sl, j);
	}
}

static void on_event(struct sched *s, struct watch *w)
{
	struct job *j = w->job;
	struct slot *sl;
	size_t got = 0;

	if (w->src == SRC_SIGNAL) {
		struct signalfd_siginfo si;

		while (read(s->sfd, &si, sizeof(si)) == sizeof(si))
			s->interrupted = (int)si.ssi_signo;
		if (!s->interrupted)
			s->interrupted = SIGINT;
		return;
	}
	if (w->src == SRC_SOURCE) {
		s->src->ready(s->src->data, w->fd);
		return;
	}
	if (!(sl = slot_of(s, j)))
		return;	/* reaped earlier in this batch */
	if (w->src == SRC_CONSOLE && sl->open_console) {
		if (!job_read(j, j->vm.console_fd, 1, &got)) {
			sl->open_console = 0;
			unwatch_fd(s, j->vm.console_fd);
		} else if (got < TRICKLE_BYTES && !sl->t_rearm) {
			/* QEMU's serial backend writes a byte or a few at a time:
			 * waking for each cost a flooding guest's supervisor more
			 * CPU than the guest. Let a trickle gather for a moment
			 * (EPOLLHUP still reports a close). */
			watch_mod(s, j->vm.console_fd, w, 0);
			sl->t_rearm = now_mono() + TRICKLE_PAUSE_S;
		}
	} else if (w->src == SRC_ERR && sl->open_err && !job_read(j, j->vm.err_fd, 0, &got)) {
		sl->open_err = 0;
		unwatch_fd(s, j->vm.err_fd);
	} else if (w->src == SRC_EXIT) {
		sl->exited = 1;
	}
	if (job_suite_done(j))
		job_stop(j);	/* last result is in */
	if (sl->exited || (j->vm.exit_fd < 0 && !sl->open_console))
		reap(s, sl);
}

static void init_slots(struct sched *s, const struct sched_opts *o)
{
	unsigned int k = 0;

	if (o->npools) {
		s->pools = o->pools;
		s->npools = o->npools;
	} else {
		s->here = (struct sched_pool){ .name = "here", .slots = o->jobs };
		s->pools = &s->here;
		s->npools = 1;
	}
	for (size_t p = 0; p < s->npools; p++)
		s->nslots += s->pools[p].slots;
	s->slots = xcalloc(s->nslots ? s->nslots : 1, sizeof(*s->slots));
	for (size_t p = 0; p < s->npools; p++)
		for (unsigned int i = 0; i < s->pools[p].slots; i++)
			s->slots[k++].pool = &s->pools[p];
	/* room to choose placements (fewest hosts first) without pulling the run */
	s->window = 2 * (size_t)s->nslots + 8;
}

/* interrupted: end every VM we started, report nothing for them */
static void drop_all(struct sched *s)
{
	for (unsigned int i = 0; i < s->nslots; i++) {
		struct job *j = s->slots[i].job;

		if (!j)
			continue;
		s->slots[i].job = NULL;
		job_reset(j);
		put(s, j);
	}
	while (s->npending)
		put(s, pending_take(s, 0));
}

static void loop(struct sched *s)
{
	double last_tick = 0;

	while (!s->interrupted) {
		struct epoll_event ev[32];
		double now, next;
		int nev;

		fill(s);
		if (finished(s))
			break;
		refresh_source(s);
		now = now_mono();
		next = now + 1;
		check_deadlines(s, now, &next);
		if (finished(s))
			break;
		nev = epoll_wait(s->ep, ev, ARRAY_SIZE(ev),
				 next > now ? (int)((next - now) * 1000) + 1 : 0);
		if (nev < 0 && errno != EINTR)
			die("epoll_wait: %s", strerror(errno));
		for (int i = 0; i < nev; i++)
			on_event(s, ev[i].data.ptr);
		now = now_mono();
		if (s->o->on_tick && now - last_tick >= 1) {
			last_tick = now;
			s->o->on_tick(s->o->data);
		}
	}
}

int sched_run_source(const struct sched_source *src, const struct sched_opts *o)
{
	struct sched s = { .o = o, .src = src };
	struct watch sigw = { NULL, SRC_SIGNAL, -1 };
	sigset_t mask, old;

	init_slots(&s, o);
	for (size_t k = 0; k < SCHED_SOURCE_FDS; k++)
		s.sw[k].fd = -1;
	s.ep = epoll_create1(EPOLL_CLOEXEC);
	if (s.ep < 0)
		die("epoll_create1: %s", strerror(errno));
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, &old);
	s.sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	watch_fd(&s, s.sfd, &sigw);
	loop(&s);
	if (s.interrupted && src->stop)
		src->stop(src->data, s.interrupted);
	drop_all(&s);
	close(s.sfd);
	close(s.ep);
	free(s.slots);
	free(s.pending);
	sigprocmask(SIG_SETMASK, &old, NULL);
	return s.interrupted != 0;
}

struct array_src {
	struct job **jobs;
	size_t n, next;
};

static struct job *array_next(void *data)
{
	struct array_src *a = data;

	return a->next < a->n ? a->jobs[a->next++] : NULL;
}

int sched_run(struct job **jobs, size_t n, const struct sched_opts *o)
{
	struct array_src a = { jobs, n, 0 };
	struct sched_source src = { array_next, NULL, &a, NULL, NULL, NULL };

	return sched_run_source(&src, o);
}
