#include "sched.h"
#include "hosts.h"
#include "util.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

enum src { SRC_CONSOLE, SRC_ERR, SRC_EXIT, SRC_SIGNAL };

/* epoll's data for one fd: which job, which stream */
struct watch {
	struct job *job;
	enum src src;
};

struct slot {
	struct job *job;
	size_t idx;		/* the job's index in the run */
	struct sched_pool *pool;
	struct watch w[3];
	int open_console, open_err, exited;
	double t_stop;		/* when the VM was first told to stop, 0: not yet */
};

struct sched {
	int ep, sfd;
	const struct sched_opts *o;
	struct slot *slots;
	unsigned int nslots;
	struct sched_pool here, *pools;
	size_t npools;
	unsigned int *lost;	/* per job: attempts lost with their host */
	unsigned int running;
	int interrupted;
};

static void state(struct sched *s, struct job *j)
{
	if (s->o->on_state)
		s->o->on_state(j, s->o->data);
}

static void watch_fd(struct sched *s, int fd, struct watch *w)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = w };

	if (fd >= 0 && epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev) < 0)
		die("epoll_ctl: %s", strerror(errno));
}

static void unwatch_fd(struct sched *s, int fd)
{
	if (fd >= 0)
		epoll_ctl(s->ep, EPOLL_CTL_DEL, fd, NULL);
}

static int start_job(struct sched *s, struct slot *sl, struct job *j, size_t idx)
{
	struct sched_pool *pool = sl->pool;

	memset(sl, 0, sizeof(*sl));
	sl->pool = pool;
	sl->idx = idx;
	sl->job = j;
	j->host = pool->host;
	pool->placed++;
	if (job_start(j) < 0) {
		sl->job = NULL;
		return -1;
	}
	for (int i = 0; i < 3; i++)
		sl->w[i] = (struct watch){ j, (enum src)i };
	watch_fd(s, j->vm.console_fd, &sl->w[SRC_CONSOLE]);
	watch_fd(s, j->vm.err_fd, &sl->w[SRC_ERR]);
	watch_fd(s, j->vm.exit_fd, &sl->w[SRC_EXIT]);
	sl->open_console = j->vm.console_fd >= 0;
	sl->open_err = j->vm.err_fd >= 0;
	s->running++;
	state(s, j);
	return 0;
}

static struct slot *slot_of(struct sched *s, struct job *j)
{
	for (unsigned int i = 0; i < s->nslots; i++)
		if (s->slots[i].job == j)
			return &s->slots[i];
	return NULL;
}

/* Drains what is readable; returns 0 at EOF. */
static int drain(struct job *j, int fd, enum src src)
{
	char buf[65536];

	for (int rounds = 0; rounds < 16; rounds++) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n > 0) {
			if (src == SRC_CONSOLE)
				job_console(j, buf, n);
			else
				job_stderr(j, buf, n);
			continue;
		}
		if (n == 0)
			return 0;
		if (errno == EINTR)
			continue;
		return errno == EAGAIN ? 1 : 0;
	}
	return 1;
}

static void pool_down(struct sched *s, struct sched_pool *p, const char *why)
{
	if (p->down)
		return;
	p->down = 1;
	if (s->o->on_pool_down)
		s->o->on_pool_down(p, why ? why : "host lost", s->o->data);
}

/* After a failed attempt: the host's fault takes the pool out and does not
 * count against the job's retries. Returns whether to retry. */
static int after_failure(struct sched *s, struct sched_pool *pool, struct job *j, size_t idx)
{
	if (j->vm.host_down) {
		pool_down(s, pool, j->reason);
		s->lost[idx]++;
		/* what it saw there comes again from the retry: keep no duplicates */
		for (size_t i = 0; j->outcome == JOB_INFRA_ERROR && i < j->nres; i++) {
			free(j->res[i].test);
			free(j->res[i].reason);
		}
		if (j->outcome == JOB_INFRA_ERROR)
			j->nres = 0;
	}
	return j->outcome == JOB_INFRA_ERROR &&
	       (unsigned)j->attempt - s->lost[idx] <= s->o->infra_retries;
}

static void finish_attempt(struct sched *s, struct slot *sl, unsigned int *left,
			   const struct vm_exit *ex);

/* The VM has exited (or its console closed with no pidfd): collect it. */
static void reap(struct sched *s, struct slot *sl, unsigned int *left)
{
	struct job *j = sl->job;
	struct vm_exit ex = { 0 };

	/* read whatever is still buffered in the pipes */
	if (sl->open_console)
		while (drain(j, j->vm.console_fd, SRC_CONSOLE) > 0)
			;
	if (sl->open_err)
		while (drain(j, j->vm.err_fd, SRC_ERR) > 0)
			;
	unwatch_fd(s, j->vm.console_fd);
	unwatch_fd(s, j->vm.err_fd);
	unwatch_fd(s, j->vm.exit_fd);
	j->be->wait(&j->vm, &ex, BACKEND_WAIT_BLOCK);
	finish_attempt(s, sl, left, &ex);
}

/* The attempt is over (ex: how the VM ended): outcome, report, retry or
 * release. */
static void finish_attempt(struct sched *s, struct slot *sl, unsigned int *left,
			   const struct vm_exit *ex)
{
	struct job *j = sl->job;
	int retry;

	job_finish(j, ex);
	sl->job = NULL;
	s->running--;
	retry = after_failure(s, sl->pool, j, sl->idx);
	if (s->o->on_done)
		s->o->on_done(j, retry, s->o->data);
	state(s, j);
	if (retry) {
		job_reset(j);
		state(s, j);
	} else {
		(*left)--;
		j->be->release(&j->vm);
		j->vm_started = 0;
	}
}

static double abandon_after(const struct sched *s)
{
	return s->o->abandon_after > 0 ? s->o->abandon_after : 30;
}

/* The VM did not end abandon_after seconds after it was told to: its backend
 * is stuck. Ends the attempt without waiting on the backend again (release
 * must not block: a backend thread keeps what it still uses). */
static void abandon(struct sched *s, struct slot *sl, unsigned int *left)
{
	struct job *j = sl->job;
	struct host *h = sl->pool->host;

	unwatch_fd(s, j->vm.console_fd);
	unwatch_fd(s, j->vm.err_fd);
	unwatch_fd(s, j->vm.exit_fd);
	if (!job_suite_done(j)) {
		j->outcome = JOB_INFRA_ERROR;
		j->reason = xasprintf("the VM did not end %.0fs after it was stopped%s%s%s; "
				      "gave up on its backend%s%s", abandon_after(s),
				      j->timeout_reason ? " (" : "",
				      j->timeout_reason ? j->timeout_reason : "",
				      j->timeout_reason ? ")" : "", h ? " on host " : "",
				      h ? h->name : "");
		/* a host that cannot end its VMs takes no more of them */
		j->vm.host_down = h && !h->local;
	}
	finish_attempt(s, sl, left, &(struct vm_exit){ .by_us = 1 });
}

static void check_deadlines(struct sched *s, double now, double *next, unsigned int *left)
{
	const struct sched_opts *o = s->o;

	for (unsigned int i = 0; i < s->nslots; i++) {
		struct slot *sl = &s->slots[i];
		struct job *j = sl->job;
		double d;

		if (!j)
			continue;
		if (sl->t_stop && now - sl->t_stop >= abandon_after(s)) {
			abandon(s, sl, left);
			continue;
		}
		if (sl->t_stop && sl->t_stop + abandon_after(s) < *next)
			*next = sl->t_stop + abandon_after(s);
		if (j->timed_out)
			continue;
		if (job_suite_done(j)) {
			/* last result is in: no need to wait for the guest */
			j->be->stop(&j->vm, 0);
			if (!sl->t_stop)
				sl->t_stop = now;
			continue;
		}
		if (!j->t_header && now - j->t_start >= o->boot_timeout) {
			char *why = xasprintf("boot timeout: no KTAP header after %.0fs",
					      o->boot_timeout);
			job_timeout(j, why);
			free(why);
		} else if (now - j->t_last_out >= o->silence_timeout) {
			char *why = xasprintf("silent for %.0fs", o->silence_timeout);
			job_timeout(j, why);
			free(why);
		} else if (now - j->t_start >= o->total_timeout) {
			char *why = xasprintf("time limit %.0fs reached", o->total_timeout);
			job_timeout(j, why);
			free(why);
		}
		if (j->timed_out) {
			sl->t_stop = now;
			if (now + abandon_after(s) < *next)
				*next = now + abandon_after(s);
			continue;
		}
		d = j->t_header ? j->t_start + o->total_timeout
				: j->t_start + o->boot_timeout;
		if (j->t_last_out + o->silence_timeout < d)
			d = j->t_last_out + o->silence_timeout;
		if (j->t_start + o->total_timeout < d)
			d = j->t_start + o->total_timeout;
		if (d < *next)
			*next = d;
	}
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
	if (!j->attempt)
		j->t_start = now_mono();
	j->t_end = now_mono();
	j->duration_s = j->t_end - j->t_start;
	j->outcome = JOB_INFRA_ERROR;
	free(j->reason);
	j->reason = xasprintf("no host that is still up can run %s", j->arch);
	j->state = JS_DONE;
	if (s->o->on_done)
		s->o->on_done(j, 0, s->o->data);
	state(s, j);
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
}

int sched_run(struct job **jobs, size_t n, const struct sched_opts *o)
{
	struct sched s = { .o = o };
	struct watch sigw = { NULL, SRC_SIGNAL };
	unsigned int left = n;
	size_t next_job = 0;
	sigset_t mask, old;
	double last_tick = 0;

	init_slots(&s, o);
	s.lost = xcalloc(n ? n : 1, sizeof(*s.lost));
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

	while (left && !s.interrupted) {
		struct epoll_event ev[32];
		double now, next;
		int nev, tmo;

		/* fill free slots, queued jobs in turn, each where it fits, the
		 * ones fewest hosts can run first; a start failure is a finished
		 * attempt */
		while (left && s.running < o->jobs) {
			struct slot *sl = NULL;
			struct job *j = NULL;
			size_t idx = 0;
			unsigned int fewest = ~0u;

			for (size_t k = 0; k < n; k++) {
				size_t kx = (next_job + k) % n;
				unsigned int runnable;
				struct slot *cand;

				if (jobs[kx]->state != JS_QUEUED)
					continue;
				cand = place(&s, jobs[kx], &runnable);
				if (!runnable) {
					unrunnable(&s, jobs[kx]);
					left--;
				} else if (cand && runnable < fewest) {
					sl = cand, j = jobs[kx], idx = kx, fewest = runnable;
				}
			}
			if (!sl)
				break;
			next_job = idx + 1;
			if (start_job(&s, sl, j, idx) < 0) {
				int retry = after_failure(&s, sl->pool, j, idx);

				if (o->on_done)
					o->on_done(j, retry, o->data);
				state(&s, j);
				if (retry) {
					job_reset(j);
				} else {
					left--;
					j->be->release(&j->vm);
					j->vm_started = 0;
				}
			}
		}
		if (!left)
			break;
		now = now_mono();
		next = now + 1;
		check_deadlines(&s, now, &next, &left);
		if (!left)
			break;
		tmo = next > now ? (int)((next - now) * 1000) + 1 : 0;
		nev = epoll_wait(s.ep, ev, ARRAY_SIZE(ev), tmo);
		if (nev < 0 && errno != EINTR)
			die("epoll_wait: %s", strerror(errno));
		for (int i = 0; i < nev; i++) {
			struct watch *w = ev[i].data.ptr;
			struct slot *sl;

			if (w->src == SRC_SIGNAL) {
				struct signalfd_siginfo si;

				while (read(s.sfd, &si, sizeof(si)) == sizeof(si))
					;
				s.interrupted = 1;
				continue;
			}
			sl = slot_of(&s, w->job);
			if (!sl)
				continue;	/* reaped earlier in this batch */
			if (w->src == SRC_CONSOLE && sl->open_console &&
			    !drain(w->job, w->job->vm.console_fd, SRC_CONSOLE)) {
				sl->open_console = 0;
				unwatch_fd(&s, w->job->vm.console_fd);
			} else if (w->src == SRC_ERR && sl->open_err &&
				   !drain(w->job, w->job->vm.err_fd, SRC_ERR)) {
				sl->open_err = 0;
				unwatch_fd(&s, w->job->vm.err_fd);
			} else if (w->src == SRC_EXIT) {
				sl->exited = 1;
			}
			if (job_suite_done(w->job))
				w->job->be->stop(&w->job->vm, 0);	/* last result is in */
			if (sl->exited || (w->job->vm.exit_fd < 0 && !sl->open_console))
				reap(&s, sl, &left);
		}
		now = now_mono();
		if (o->on_tick && now - last_tick >= 1) {
			last_tick = now;
			o->on_tick(o->data);
		}
	}
	/* interrupted: end every VM we started, report nothing for them */
	for (unsigned int i = 0; i < s.nslots; i++) {
		struct job *j = s.slots[i].job;

		if (!j)
			continue;
		j->be->release(&j->vm);
		j->vm_started = 0;
		j->state = JS_QUEUED;
	}
	close(s.sfd);
	close(s.ep);
	free(s.slots);
	free(s.lost);
	sigprocmask(SIG_SETMASK, &old, NULL);
	return s.interrupted;
}
