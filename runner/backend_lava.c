/* LAVA backend: each VM is a LAVA job on the `qemu` device type, submitted
 * through LAVA's REST API (/api/v0.2/). A thread per VM follows the job by
 * polling its state and its YAML log, and writes the guest's console lines
 * into the pipe the scheduler watches, so kfarm's own console/KTAP/outcome
 * pipeline judges the kernel. The thread never touches the job struct; its
 * pipes and signal mask are vm_thread.h's, the REST calls lava_rest.h's. */
#include "backend.h"
#include "lava_job.h"
#include "lava_rest.h"
#include "profile.h"
#include "util.h"
#include "vm_thread.h"

#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define POLL_S 1.0		/* between two looks at a running job */
#define UNREACHABLE_S 30.0	/* LAVA silent this long: the attempt is lost */
#define GRACE_S 10.0		/* stopped before it: the done line may be in the
				 * worker's next log batch */
#define DONE_GRACE_S 25.0	/* the same, stopped because the last result is in:
				 * a loaded worker's batches come later, and a
				 * job canceled then is no longer Complete in LAVA
				 * (below the scheduler's 30 s abandon limit) */
#define MAX_LOG_LINE (1u << 20)

struct lava_vm {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int refs;
	long id;
	int out_w, err_w;	/* the thread's ends of the pipes */
	int stop, done_stop, ended, by_us, infra, timeout, cancelled, finished;
	double t_stop;
	double t_submit, t_running;	/* when LAVA ran it: 0 while queued */
	char why[256];
	char *boot_cmd;
};

/* --- the thread following one LAVA job --- */

static void lv_unref(struct lava_vm *lv)
{
	int last;

	pthread_mutex_lock(&lv->mu);
	last = --lv->refs == 0;
	pthread_mutex_unlock(&lv->mu);
	if (!last)
		return;
	if (lv->out_w >= 0)
		close(lv->out_w);
	if (lv->err_w >= 0)
		close(lv->err_w);
	pthread_mutex_destroy(&lv->mu);
	pthread_cond_destroy(&lv->cv);
	free(lv->boot_cmd);
	free(lv);
}

/* A line of kfarm's own on the err pipe. */
#define note(lv, ...) vm_note((lv)->err_w, __VA_ARGS__)

static void on_console(void *data, const char *line, size_t n)
{
	struct lava_vm *lv = data;

	/* a reader that went away (the job is over) needs nothing more */
	if (write_all(lv->out_w, line, n) == 0)
		write_all(lv->out_w, "\n", 1);
}

/* New log lines since the last call, console lines into the pipe. */
static int pull_log(struct lava_vm *lv, struct lava_log *lg, struct err *err)
{
	char path[96];
	struct sb b;
	long code;

	snprintf(path, sizeof(path), "/api/v0.2/jobs/%ld/logs/?start=%zu", lv->id, lg->lines);
	sb_init(&b);
	code = lava_http("GET", path, NULL, &b, 30, err);
	if (code == 200)
		lava_log_feed(lg, b.buf, b.len, MAX_LOG_LINE, on_console, lv);
	sb_release(&b);
	/* 404: no log yet (queued) */
	return code == 200 || code == 404 ? 0 : -1;
}

static void cancel(struct lava_vm *lv)
{
	struct err err;
	char path[64];
	struct sb b;

	pthread_mutex_lock(&lv->mu);
	if (lv->cancelled || lv->finished) {
		pthread_mutex_unlock(&lv->mu);
		return;
	}
	lv->cancelled = 1;
	pthread_mutex_unlock(&lv->mu);
	snprintf(path, sizeof(path), "/api/v0.2/jobs/%ld/cancel/", lv->id);
	sb_init(&b);
	if (lava_http("GET", path, NULL, &b, 10, &err) != 200)
		note(lv, "LAVA job %ld: cancel failed: %s", lv->id, err.msg);
	sb_release(&b);
}

/* LAVA's verdict on a finished job, in kfarm's terms. Returns 1 when the run
 * is to be interrupted (someone else canceled it in LAVA). */
static int verdict(struct lava_vm *lv, const char *health, const struct lava_log *lg)
{
	const char *t = lg->error_type, *m = lg->error_msg;
	int stop;

	pthread_mutex_lock(&lv->mu);
	stop = lv->stop;
	pthread_mutex_unlock(&lv->mu);
	if (*t)
		note(lv, "LAVA job %ld finished: %s (%s error: %s)", lv->id, health, t, m);
	else
		note(lv, "LAVA job %ld finished: %s", lv->id, health);
	if (!strcmp(health, "Complete"))
		return 0;
	if (!strcmp(health, "Canceled"))
		return !stop;
	if (!strcmp(t, "LAVATimeout") || strstr(m, "timed out")) {
		lv->timeout = 1;
		snprintf(lv->why, sizeof(lv->why), "LAVA job %ld: %.200s", lv->id, m);
	} else if (!strcmp(t, "Infrastructure") && strstr(m, "Connection closed")) {
		/* QEMU ended before the done line: the console says why */
	} else if (strcmp(t, "Job") && strcmp(t, "Test")) {
		lv->infra = 1;
		snprintf(lv->why, sizeof(lv->why), "LAVA job %ld %s: %s error: %.160s", lv->id,
			 health, *t ? t : "unknown", *m ? m : "(no message)");
	}
	return 0;
}

static void mark_running(struct lava_vm *lv)
{
	double t = now_mono();

	pthread_mutex_lock(&lv->mu);
	if (lv->t_running) {
		pthread_mutex_unlock(&lv->mu);
		return;
	}
	lv->t_running = t;
	pthread_mutex_unlock(&lv->mu);
	note(lv, "LAVA job %ld running, after %.0fs in LAVA's queue", lv->id, t - lv->t_submit);
}

static void end(struct lava_vm *lv, const struct lava_log *lg)
{
	pthread_mutex_lock(&lv->mu);
	if (*lg->boot_cmd && !lv->boot_cmd)
		lv->boot_cmd = xstrdup(lg->boot_cmd);
	lv->ended = 1;
	pthread_cond_broadcast(&lv->cv);
	pthread_mutex_unlock(&lv->mu);
	close(lv->out_w);
	close(lv->err_w);
	lv->out_w = lv->err_w = -1;
}

/* Sleeps POLL_S, less if stop is called (a quarter of it once stopped, so
 * the grace is not spent hammering the server); returns the stop flag and,
 * once stopped, how long to wait for the done line. */
static int nap(struct lava_vm *lv, double *t_stop, double *grace)
{
	int stop;

	pthread_mutex_lock(&lv->mu);
	cond_wait_ms(&lv->cv, &lv->mu, (long)(POLL_S * (lv->stop ? 250 : 1000)));
	stop = lv->stop;
	*t_stop = lv->t_stop;
	*grace = lv->done_stop ? DONE_GRACE_S : GRACE_S;
	pthread_mutex_unlock(&lv->mu);
	return stop;
}

static void *follow(void *arg)
{
	struct lava_vm *lv = arg;
	struct lava_log lg = { 0 };
	struct err err = { 0 };
	char path[64], dev[64] = "";
	double last_ok = now_mono(), t_stop = 0, grace = GRACE_S;
	int stop = 0;

	snprintf(path, sizeof(path), "/api/v0.2/jobs/%ld/", lv->id);
	for (;;) {
		long code;
		json_t *j;
		const char *state, *health, *d;

		if (pull_log(lv, &lg, &err) == 0 &&
		    (j = lava_get_json(path, &code, &err))) {
			last_ok = now_mono();
			state = json_string_value(json_object_get(j, "state"));
			health = json_string_value(json_object_get(j, "health"));
			d = json_string_value(json_object_get(j, "actual_device"));
			if (d && !*dev) {
				snprintf(dev, sizeof(dev), "%s", d);
				note(lv, "LAVA job %ld runs on device %s", lv->id, dev);
			}
			/* a log means the dispatcher has it, whatever the state says */
			if (state && (!strcmp(state, "Running") || lg.lines > 0))
				mark_running(lv);
			if (state && !strcmp(state, "Finished")) {
				char h[32];

				snprintf(h, sizeof(h), "%s", health ? health : "?");
				json_decref(j);
				pull_log(lv, &lg, &err);
				pthread_mutex_lock(&lv->mu);
				lv->finished = 1;
				pthread_mutex_unlock(&lv->mu);
				if (verdict(lv, h, &lg))
					break;
				end(lv, &lg);
				return NULL;
			}
			json_decref(j);
		} else if (now_mono() - last_ok > UNREACHABLE_S) {
			lv->infra = 1;
			snprintf(lv->why, sizeof(lv->why), "LAVA server unreachable for %.0fs "
				 "(LAVA job %ld may still run): %.150s", UNREACHABLE_S, lv->id,
				 err.msg);
			end(lv, &lg);
			return NULL;
		}
		/* after the done line the guest's work is over: LAVA's own
		 * bookkeeping (power off, the worker's next ping) is no concern of
		 * the run, and the job completes there by itself */
		if (stop && (lg.done_seen || !lv->t_running || now_mono() - t_stop >= grace)) {
			if (!lg.done_seen)
				cancel(lv);
			end(lv, &lg);
			return NULL;
		}
		stop = nap(lv, &t_stop, &grace);
	}
	/* canceled in LAVA, not by kfarm: the lab stopped the run, as ^C would.
	 * The VM stays "running" so nothing is recorded for it. */
	note(lv, "LAVA job %ld was canceled in LAVA: interrupting the run", lv->id);
	kill(getpid(), SIGINT);
	pthread_mutex_lock(&lv->mu);
	while (!lv->stop)
		pthread_cond_wait(&lv->cv, &lv->mu);
	pthread_mutex_unlock(&lv->mu);
	end(lv, &lg);
	return NULL;
}

/* --- the backend table --- */

static char *job_name(const struct vm_spec *spec)
{
	char *dir = xstrdup(spec->kernel), *slash = strrchr(dir, '/'), *base, *name;

	if (slash)
		*slash = '\0';
	base = strrchr(dir, '/');
	name = xasprintf("kfarm %s %s", spec->profile->arch, base ? base + 1 : dir);
	free(dir);
	return name;
}

/* POSTs the definition; the LAVA job id, or -1 with err. */
static long submit(const char *def, struct err *err)
{
	json_t *body = json_pack("{s:s}", "definition", def), *r;
	char *text = json_dumps(body, 0);
	struct sb b;
	long code, id = -1;

	sb_init(&b);
	code = lava_http("POST", "/api/v0.2/jobs/", text, &b, 30, err);
	r = code > 0 ? json_loadb(b.buf, b.len, 0, NULL) : NULL;
	if (code == 201)
		id = (long)json_integer_value(json_array_get(json_object_get(r, "job_ids"), 0));
	if (code == 201 && id <= 0)
		err_set(err, 0, "LAVA at %s accepted the job but named no job id", lava_server_url());
	else if (code > 0 && code != 201)
		err_set(err, 0, "LAVA at %s refused the job (HTTP %ld): %.160s", lava_server_url(),
			code, json_string_value(json_object_get(r, "message"))
			? json_string_value(json_object_get(r, "message")) : b.buf);
	else if (code < 0)
		err_prefix(err, "cannot submit to LAVA: ");
	json_decref(r);
	json_decref(body);
	free(text);
	sb_release(&b);
	return code == 201 ? id : -1;
}

static int lava_start(struct vm *vm, const struct vm_spec *spec, struct err *err,
		      unsigned int flags)
{
	struct lava_vm *lv;
	char *def, *name;
	int out_w, err_w;
	long id;

	(void)flags;
	memset(vm, 0, sizeof(*vm));
	vm->console_fd = vm->err_fd = vm->exit_fd = -1;
	if (!lava_server_url()) {
		err_set(err, 0, "the LAVA backend needs --lava-url");
		return -1;
	}
	name = job_name(spec);
	def = lava_job_definition(spec, name, err);
	free(name);
	if (!def)
		return -1;
	if (vm_pipes_open(vm, &out_w, &err_w, err) < 0) {
		free(def);
		return -1;
	}
	id = submit(def, err);
	free(def);
	if (id < 0) {
		close(out_w);
		close(err_w);
		vm_clear(vm);	/* no priv: release will not be called */
		return -1;
	}
	vm->lava_id = id;
	vm->lava_url = xasprintf("%s/scheduler/job/%ld", lava_server_url(), id);
	vm->cmdline = xasprintf("(LAVA job %ld, %s)", id, vm->lava_url);
	vm->version = xstrdup(lava_server_version());
	lv = xcalloc(1, sizeof(*lv));
	pthread_mutex_init(&lv->mu, NULL);
	pthread_cond_init(&lv->cv, NULL);
	lv->refs = 2;
	lv->id = id;
	lv->t_submit = now_mono();
	lv->out_w = out_w;
	lv->err_w = err_w;
	vm->priv = lv;
	note(lv, "LAVA job %ld: %s", id, vm->lava_url);
	if (vm_thread_start(follow, lv, NULL) < 0) {
		lv->refs = 1;
		lv->ended = lv->infra = 1;
		err_set(err, 0, "cannot start a thread to follow LAVA job %ld", id);
		cancel(lv);
		return -1;
	}
	return 0;
}

static int lava_stop(struct vm *vm, unsigned int flags)
{
	struct lava_vm *lv = vm->priv;

	if (!lv)
		return 0;
	pthread_mutex_lock(&lv->mu);
	if (!lv->stop) {
		lv->stop = 1;
		lv->done_stop = !!(flags & BACKEND_STOP_DONE);
		lv->by_us = !lv->ended;
		lv->t_stop = now_mono();
		pthread_cond_broadcast(&lv->cv);
	} else if (!(flags & BACKEND_STOP_DONE)) {
		lv->done_stop = 0;	/* a timeout or ^C after all: no more waiting */
	}
	pthread_mutex_unlock(&lv->mu);
	return 0;
}

static int lava_wait(struct vm *vm, struct vm_exit *ex, unsigned int flags)
{
	struct lava_vm *lv = vm->priv;

	if (!lv)
		return -1;
	pthread_mutex_lock(&lv->mu);
	if (!lv->ended && !(flags & BACKEND_WAIT_BLOCK)) {
		pthread_mutex_unlock(&lv->mu);
		return -1;
	}
	while (!lv->ended)
		pthread_cond_wait(&lv->cv, &lv->mu);
	memset(ex, 0, sizeof(*ex));
	ex->exited = 1;
	ex->by_us = lv->by_us;
	ex->status = lv->infra && !lv->by_us;
	ex->timed_out = lv->timeout;
	ex->not_started = !lv->t_running;
	if ((lv->infra || lv->timeout) && !lv->by_us)
		snprintf(ex->why, sizeof(ex->why), "%s", lv->why);
	if (lv->boot_cmd) {
		free(vm->cmdline);
		vm->cmdline = xstrdup(lv->boot_cmd);
	}
	pthread_mutex_unlock(&lv->mu);
	return 0;
}

static int lava_queued(struct vm *vm, double *since, unsigned int flags)
{
	struct lava_vm *lv = vm->priv;
	int q;

	(void)flags;
	if (!lv)
		return 0;
	pthread_mutex_lock(&lv->mu);
	q = !lv->t_running && !lv->ended;
	*since = lv->t_running;
	pthread_mutex_unlock(&lv->mu);
	return q;
}

static void lava_release(struct vm *vm)
{
	struct lava_vm *lv = vm->priv;

	if (lv) {
		lava_stop(vm, 0);
		/* now, not in the thread: kfarm may be about to exit */
		if (!lv->ended)
			cancel(lv);
		lv_unref(lv);
	}
	vm_clear(vm);
}

const struct backend backend_lava = {
	.name = "lava",
	.connect = lava_connect,
	.start = lava_start,
	.stop = lava_stop,
	.wait = lava_wait,
	.release = lava_release,
	.queued = lava_queued,
};
