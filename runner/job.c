#include "job.h"
#include "job_int.h"
#include "hosts.h"
#include "text.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Bounds so a flooding or garbage-spewing guest cannot grow kfarm. */
#define MAX_REASON 512

static const char *const outcomes[] = {
	[JOB_PENDING] = "PENDING", [JOB_COMPLETE] = "COMPLETE",
	[JOB_BOOT_FAIL] = "BOOT_FAIL", [JOB_PANIC] = "PANIC",
	[JOB_TIMEOUT] = "TIMEOUT", [JOB_INFRA_ERROR] = "INFRA_ERROR",
	[JOB_NOT_BUILT] = "NOT_BUILT",
};

const char *job_outcome_name(enum job_outcome o)
{
	return outcomes[o];
}

int job_outcome_parse(const char *s)
{
	for (size_t i = 0; s && i < ARRAY_SIZE(outcomes); i++)
		if (!strcmp(outcomes[i], s))
			return (int)i;
	return -1;
}

const char *res_status_name(enum res_status s)
{
	static const char *const n[] = {
		[RS_PASS] = "PASS", [RS_FAIL] = "FAIL", [RS_SKIP] = "SKIP",
		[RS_MISSING] = "MISSING",
	};
	return n[s];
}

const char *job_state_name(enum job_state s)
{
	static const char *const n[] = {
		[JS_QUEUED] = "queued", [JS_BOOTING] = "booting",
		[JS_RUNNING] = "running", [JS_DONE] = "done",
	};
	return n[s];
}


char *job_cmdline(const struct profile *p, char **tests, const char *append)
{
	struct sb cmd;

	sb_init(&cmd);
	sb_addf(&cmd, "console=%s panic=-1", p->console);
	if (tests && tests[0]) {
		sb_adds(&cmd, " kfarm.tests=");
		for (char **t = tests; *t; t++)
			sb_addf(&cmd, "%s%s", t == tests ? "" : ",", *t);
	}
	if (append && *append)
		sb_addf(&cmd, " %s", append);
	return sb_detach(&cmd);
}

struct job *job_new(void)
{
	struct job *j = xcalloc(1, sizeof(*j));

	j->log_fd = -1;
	j->log_max = 16u << 20;
	j->vm.console_fd = j->vm.err_fd = j->vm.exit_fd = -1;
	ktap_init(&j->ktap, job_on_result, j);
	return j;
}

void job_free_results(struct job *j)
{
	for (size_t i = 0; i < j->nres; i++) {
		free(j->res[i].test);
		free(j->res[i].reason);
	}
	free(j->res);
	j->res = NULL;
	j->nres = 0;
}

static void clear_outcome(struct job *j)
{
	job_free_results(j);
	free(j->reason);
	free(j->release);
	free(j->trouble_line);
	free(j->warning);
	free(j->qemu_err);
	free(j->timeout_reason);
	j->reason = j->release = j->trouble_line = j->warning = j->qemu_err = NULL;
	j->timeout_reason = NULL;
	j->trouble = CON_NONE;
	j->timed_out = 0;
	j->outcome = JOB_PENDING;
	j->boot_s = j->duration_s = 0;
	j->t_header = j->t_last_result = 0;
	free(j->lb);
	free(j->lberr);
	j->lb = j->lberr = NULL;
	j->log_bytes = 0;
	j->log_truncated = 0;
	ktap_release(&j->ktap);
	ktap_init(&j->ktap, job_on_result, j);
	j->init_doc = 0;
	j->init_run = 0;
	j->kernel_docs = 0;
	j->nkernel = 0;
	free(j->kcrash);
	j->kcrash = NULL;
	for (size_t i = 0; i < j->nkcrashed; i++) {
		free(j->kcrashed[i].name);
		free(j->kcrashed[i].line);
	}
	j->nkcrashed = 0;
}

/* The log belongs to one attempt: closed as soon as it ends, so a run's open
 * files stay bounded by its concurrency, not by how many jobs it finished. */
static void log_close(struct job *j)
{
	if (j->log_fd >= 0)
		close(j->log_fd);
	j->log_fd = -1;
}

void job_reset(struct job *j)
{
	if (j->vm_started)
		job_close(j);
	log_close(j);
	clear_outcome(j);
	j->state = JS_QUEUED;
}

void job_free(struct job *j)
{
	if (!j)
		return;
	job_reset(j);
	ktap_release(&j->ktap);
	free(j->arch);
	free(j->label);
	free(j->kernel);
	free(j->initrd);
	free(j->append);
	free(j->image_sha256);
	free(j->boot_kernel);
	free(j->initrd_sha256);
	free(j->tree);
	free(j->accel_reason);
	free(j->log_path);
	strv_free(j->tests);
	profile_release(&j->profile);
	free(j);
}

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

struct job *job_clone(const struct job *j)
{
	struct job *c = job_new();
	size_t n = 0;

	c->arch = xstrdup(j->arch);
	c->label = xstrdup(j->label);
	c->kernel = xstrdup(j->kernel);
	c->initrd = xstrdup(j->initrd);
	c->append = xstrdup(j->append);
	c->image_sha256 = xstrdup(j->image_sha256);
	c->boot_kernel = dup_or_null(j->boot_kernel);
	c->initrd_sha256 = dup_or_null(j->initrd_sha256);
	c->tree = dup_or_null(j->tree);
	while (j->tests && j->tests[n])
		n++;
	c->tests = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		c->tests[i] = xstrdup(j->tests[i]);
	if (profile_load(j->arch, &c->profile, NULL)) {
		job_free(c);
		return NULL;
	}
	c->machine = j->machine;
	memcpy(c->accel, j->accel, sizeof(c->accel));
	c->accel_reason = dup_or_null(j->accel_reason);
	memcpy(c->machine_key, j->machine_key, sizeof(c->machine_key));
	c->be = j->be;
	c->candidate_id = j->candidate_id;
	c->log_max = j->log_max;
	return c;
}

/* Where console text becomes results: valid UTF-8, cut at a character. */
char *job_clip(const char *s, size_t len)
{
	return text_clip_utf8(s, len, MAX_REASON);
}

void job_log_write(struct job *j, const char *data, size_t n)
{
	static const char marker[] = "\n[kfarm: console log truncated here]\n";

	if (j->log_fd < 0 || j->log_truncated)
		return;
	if (j->log_bytes + n > j->log_max) {
		n = j->log_max - j->log_bytes;
		j->log_truncated = 1;
	}
	while (n) {
		ssize_t w = write(j->log_fd, data, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		data += w;
		n -= w;
		j->log_bytes += w;
	}
	if (j->log_truncated && write(j->log_fd, marker, sizeof(marker) - 1) < 0)
		return;
}

int job_start(struct job *j)
{
	struct err err;
	struct vm_spec spec = {
		.profile = &j->profile, .kernel = j->boot_kernel ? j->boot_kernel : j->kernel,
		.initrd = j->initrd, .append = j->append, .host = j->host,
		.kernel_sha256 = j->image_sha256, .initrd_sha256 = j->initrd_sha256,
		.smp = j->machine.smp, .memory_mb = j->machine.memory_mb,
		.accel = *j->accel ? j->accel : NULL,
	};

	j->attempt++;
	j->state = JS_BOOTING;
	j->lb = xcalloc(1, sizeof(*j->lb));
	j->lberr = xcalloc(1, sizeof(*j->lberr));
	j->t_start = j->t_run = j->t_last_out = now_mono();
	if (j->log_path) {
		j->log_fd = open(j->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (j->log_fd < 0)
			warning("cannot write console log '%s': %s", j->log_path,
				strerror(errno));
	}
	if (j->be->start(&j->vm, &spec, &err, 0) < 0) {
		j->vm_started = j->vm.priv != NULL;
		j->outcome = JOB_INFRA_ERROR;
		/* may quote a remote host */
		j->reason = text_clip_utf8(err.msg, strlen(err.msg), sizeof(err.msg));
		job_log_write(j, "[kfarm: ", 8);
		job_log_write(j, err.msg, strlen(err.msg));
		job_log_write(j, "]\n", 2);
		log_close(j);
		j->state = JS_DONE;
		j->t_end = now_mono();
		return -1;
	}
	j->vm_started = 1;
	j->queued = j->be->queued != NULL;
	return 0;
}

int job_queued(struct job *j)
{
	double since = 0;

	if (!j->queued)
		return 0;
	if (backend_vm_queued(j->be, &j->vm, &since))
		return 1;
	j->queued = 0;
	if (since > j->t_run)
		j->t_run = since;
	if (j->t_last_out < j->t_run)
		j->t_last_out = j->t_run;
	return 0;
}


int job_suite_done(const struct job *j)
{
	return j->init_doc && j->init_doc == j->ktap.ndocs && j->ktap.plan >= 0 &&
	       j->ktap.ntop >= (unsigned long)j->ktap.plan;
}

void job_stop(struct job *j)
{
	if (j->vm_started)
		j->be->stop(&j->vm, BACKEND_STOP_DONE);
}

void job_wait(struct job *j, struct vm_exit *ex)
{
	j->be->wait(&j->vm, ex, BACKEND_WAIT_BLOCK);
}

void job_timeout(struct job *j, const char *why)
{
	if (j->timed_out)
		return;
	j->timed_out = 1;
	j->timeout_reason = xstrdup(why);
	if (j->vm_started)
		j->be->stop(&j->vm, 0);
}

static int have_top(const struct job *j, const char *name)
{
	for (size_t i = 0; i < j->nres; i++)
		if (j->res[i].depth == 0 && !strcmp(j->res[i].test, name))
			return 1;
	return 0;
}

/* Whatever the KTAP bounds or JOB_MAX_RESULTS cost is said with the job (its
 * warning), never dropped silently. */
static void note_truncation(struct job *j)
{
	char note[384], cap[96] = "";
	unsigned long over = j->ktap.nemitted > j->nres ? j->ktap.nemitted - j->nres : 0;
	int any = ktap_trunc_note(&j->ktap, note, sizeof(note));
	char *w;

	if (!any && !over)
		return;
	if (over)
		snprintf(cap, sizeof(cap), "%sresult cap %d (%lu results dropped)",
			 any ? ", " : "", JOB_MAX_RESULTS, over);
	w = xasprintf("%s%sKTAP output truncated: %s%s", j->warning ? j->warning : "",
		      j->warning ? "; " : "", note, cap);
	free(j->warning);
	j->warning = w;
}

void job_finish(struct job *j, const struct vm_exit *ex)
{
	int done = job_suite_done(j);

	linebuf_flush(j->lb, job_on_line, j);
	linebuf_flush(j->lberr, job_on_err_line, j);
	/* the kernel died during its own KUnit run: its open suites are cut
	 * off there, their unrun cases MISSING */
	if (job_kernel_doc(j, j->ktap.ndocs)) {
		const char *why = j->trouble_line ? j->trouble_line :
				  j->timed_out ? j->timeout_reason : "the console ended";

		ktap_cut(&j->ktap, why + console_prefix_len(why, strlen(why)));
	}
	ktap_end(&j->ktap);
	if (!j->init_run && !j->init_doc)
		job_claim_kernel(j);
	note_truncation(j);
	log_close(j);
	free(j->lb);
	free(j->lberr);
	j->lb = j->lberr = NULL;
	j->t_end = now_mono();
	j->duration_s = j->t_end - j->t_start;
	j->state = JS_DONE;
	if (j->outcome != JOB_PENDING)
		goto missing;
	if (ex->not_started) {
		j->outcome = JOB_INFRA_ERROR;
		j->reason = xasprintf("%s before the VM started%s%s",
				      j->timed_out ? j->timeout_reason : "ended",
				      ex->why[0] ? ": " : "", ex->why);
	} else if (j->trouble_line) {
		j->outcome = JOB_PANIC;
		j->reason = xstrdup(j->trouble_line);
	} else if (j->timed_out) {
		j->outcome = JOB_TIMEOUT;
		j->reason = xstrdup(j->timeout_reason);
	} else if (ex->timed_out && !ex->by_us) {
		j->outcome = JOB_TIMEOUT;
		j->reason = xstrdup(ex->why[0] ? ex->why : "the backend's time limit was reached");
	} else if (done) {
		j->outcome = JOB_COMPLETE;
	} else if (!ex->by_us && (ex->signal || (ex->exited && ex->status))) {
		j->outcome = JOB_INFRA_ERROR;
		if (ex->why[0])
			j->reason = text_clip_utf8(ex->why, strlen(ex->why), sizeof(ex->why));
		else if (ex->signal)
			j->reason = xasprintf("%s killed by signal %d (%s)",
					      j->profile.qemu_binary, ex->signal,
					      strsignal(ex->signal));
		else
			j->reason = xasprintf("%s exited with status %d%s%s",
					      j->profile.qemu_binary, ex->status,
					      j->qemu_err ? ": " : "",
					      j->qemu_err ? j->qemu_err : "");
	} else if (!j->ktap.seen_header) {
		j->outcome = JOB_BOOT_FAIL;
		j->reason = xstrdup("VM ended before /init reported (no KTAP header)");
	} else if (!j->init_doc) {
		j->outcome = JOB_BOOT_FAIL;
		j->reason = xstrdup("VM ended before /init reported (only the kernel's own KTAP)");
	} else {
		j->outcome = JOB_BOOT_FAIL;
		j->reason = xasprintf("guest ended after %lu of %ld results",
				      j->ktap.ntop, j->ktap.plan);
	}
missing:
	/* tests that never reported are missing, never passed */
	if (j->outcome == JOB_INFRA_ERROR)
		return;
	for (char **t = j->tests; t && *t; t++)
		if (!have_top(j, *t)) {
			char *why = xasprintf("never ran: job %s", job_outcome_name(j->outcome));

			job_add_result(j, *t, RS_MISSING, why, strlen(why), 0, 0);
			free(why);
		}
}

void job_abandon(struct job *j, double after)
{
	const struct host *h = j->host;

	if (job_suite_done(j))
		return;
	free(j->reason);
	j->outcome = JOB_INFRA_ERROR;
	j->reason = xasprintf("the VM did not end %.0fs after it was stopped%s%s%s; "
			      "gave up on its backend%s%s", after, j->timeout_reason ? " (" : "",
			      j->timeout_reason ? j->timeout_reason : "",
			      j->timeout_reason ? ")" : "", h ? " on host " : "", h ? h->name : "");
	/* a host that cannot end its VMs takes no more of them */
	j->vm.host_down = h && !h->local;
}

void job_give_up(struct job *j, const char *why)
{
	if (!j->attempt)
		j->t_start = now_mono();
	j->t_end = now_mono();
	j->duration_s = j->t_end - j->t_start;
	j->outcome = JOB_INFRA_ERROR;
	free(j->reason);
	j->reason = xstrdup(why);
	j->state = JS_DONE;
}

int job_attempt_done(struct job *j, unsigned int retries)
{
	if (j->vm.host_down) {
		j->lost++;
		if (j->outcome == JOB_INFRA_ERROR)
			job_free_results(j);
	}
	return j->outcome == JOB_INFRA_ERROR && (unsigned)j->attempt - j->lost <= retries;
}

void job_close(struct job *j)
{
	if (j->be)
		j->be->release(&j->vm);
	j->vm_started = 0;
}

char *job_limit_hit(const struct job *j, double boot, double silence, double total, double now)
{
	if (!j->t_header && now - j->t_run >= boot)
		return xasprintf("boot timeout: no KTAP header after %.0fs", boot);
	if (now - j->t_last_out >= silence)
		return xasprintf("silent for %.0fs", silence);
	if (now - j->t_run >= total)
		return xasprintf("time limit %.0fs reached", total);
	return NULL;
}

double job_deadline(const struct job *j, double boot, double silence, double total)
{
	double d = j->t_header ? j->t_run + total : j->t_run + boot;

	if (j->t_last_out + silence < d)
		d = j->t_last_out + silence;
	if (j->t_run + total < d)
		d = j->t_run + total;
	return d;
}
