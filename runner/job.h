/* One job: one kernel booted once with kfarm's initramfs. Owns the VM's
 * console stream (log file, KTAP results, kernel-trouble lines) and decides
 * the job's outcome when the VM is gone. Knows nothing of the scheduler's
 * loop or of the store. */
#ifndef KFARM_JOB_H
#define KFARM_JOB_H

#include "backend.h"
#include "console.h"
#include "ktap.h"
#include "profile.h"

#include <stdint.h>

enum job_outcome {
	JOB_PENDING,
	JOB_COMPLETE,
	JOB_BOOT_FAIL,
	JOB_PANIC,
	JOB_TIMEOUT,
	JOB_INFRA_ERROR,
	JOB_NOT_BUILT,	/* never booted: its source candidate did not build */
};

enum job_state { JS_QUEUED, JS_BOOTING, JS_RUNNING, JS_DONE };

/* Per-test status as stored: KTAP's three plus "never ran". */
enum res_status { RS_PASS, RS_FAIL, RS_SKIP, RS_MISSING };

struct result {
	char *test;		/* path: "clone3" or "clone3/size_lt_64"; the kernel's
			 * own KUnit run before /init: "kunit:SUITE/case" */
	enum res_status status;
	char *reason;
	double duration_s;	/* top-level tests only, else 0 */
	int depth;
};

struct job {
	/* what to run (owned) */
	char *arch, *label, *kernel, *initrd, *append, *image_sha256, *tree;
	/* what boots: pinned copies of kernel and initrd (pin.h), whose bytes
	 * image_sha256 and initrd_sha256 are; kernel stays the path as given */
	char *boot_kernel, *initrd_sha256;
	char **tests;		/* expected top-level tests, in order */
	struct profile profile;
	struct machine machine;	/* vCPUs, memory, accelerator asked for */
	char accel[8];		/* "kvm" or "tcg", as decided before the boot */
	char *accel_reason;	/* why that accelerator */
	char machine_key[64];	/* comparison key (profile.h machine_key) */
	const struct backend *be;
	int64_t candidate_id;
	int seq;		/* position in the run, for names */
	char *log_path;
	size_t log_max;

	/* live state */
	struct host *host;	/* where the scheduler placed it (hosts.h); NULL: here */
	enum job_state state;
	int attempt;
	unsigned int lost;	/* attempts lost with their host: not counted as retries */
	double t_start, t_header, t_last_out, t_last_result, t_end;
	double t_run;		/* the VM began running: t_start, or later when its
				 * backend queued it (the limits count from here) */
	struct vm vm;
	int vm_started;
	int queued;		/* its backend may still be queueing it */
	struct ktap ktap;
	unsigned long init_doc;	/* ktap.ndocs of /init's document, 0 before its header */
	/* the kernel's own KUnit run (job.c): documents begun before the
	 * kernel's "Run /init as init process" line are the kernel's */
	int init_run;		/* that line was seen */
	unsigned long kernel_docs;	/* ktap.ndocs when it was */
	size_t nkernel;		/* res[0..nkernel) are the kernel's, named kunit: */
	char *kcrash;		/* first fatal line since the kernel's last result line */
	struct kcrash { char *name, *line; } kcrashed[16];	/* failed case -> its crash */
	size_t nkcrashed;
	struct linebuf *lb, *lberr;	/* only while the VM runs */
	int log_fd;
	size_t log_bytes;
	int log_truncated;
	enum con_kind trouble;	/* first fatal kernel line's kind */
	char *trouble_line;
	char *warning;		/* first WARNING: line */
	char *qemu_err;		/* last line QEMU printed on stderr */
	int timed_out;
	char *timeout_reason;

	/* outcome */
	enum job_outcome outcome;
	char *reason;
	char *release;		/* kernel release as the guest reported it */
	double boot_s, duration_s;
	struct result *res;
	size_t nres;
};

/* The kernel command line kfarm boots with: console, panic=-1, the test
 * selection (NULL: the initramfs's own) and extra arguments. */
char *job_cmdline(const struct profile *p, char **tests, const char *append);

struct job *job_new(void);
void job_free(struct job *j);
/* A fresh queued job with the same inputs (for confirmation runs). */
struct job *job_clone(const struct job *j);
/* Frees the results (a stored job no longer needs them in memory). */
void job_free_results(struct job *j);
/* Back to queued for another attempt (results and outcome dropped). */
void job_reset(struct job *j);

/* Starts the VM; returns -1 with the job finished as INFRA_ERROR. */
int job_start(struct job *j);
/* Feeds console bytes (console) or hypervisor stderr bytes (err). */
void job_console(struct job *j, const char *data, size_t n);
void job_stderr(struct job *j, const char *data, size_t n);
/* Feeds what fd has now (up to 1 MiB) as console (console) or stderr bytes,
 * adding their count to *got; 1: more may come, 0: fd closed or failed. */
int job_read(struct job *j, int fd, int console, size_t *got);
/* 1 while the backend still queues j's VM (LAVA, no device free yet); once
 * it runs, the limits below count from when it began. */
int job_queued(struct job *j);
/* Which limit j has run into at now, if any (the reason, malloc'd): no KTAP
 * header after boot s, no output for silence s, or total s in all. */
char *job_limit_hit(const struct job *j, double boot, double silence, double total, double now);
/* When the next of those limits falls due. */
double job_deadline(const struct job *j, double boot, double silence, double total);
/* True once the last result of /init's document is in: the top-level KTAP
 * document whose header (before its plan) carries "# kfarm-init:" lines.
 * Another document (a kernel's KUnit run, printed before /init starts) never
 * counts, complete or not. */
int job_suite_done(const struct job *j);
/* Tells the VM to end (its last result is in); it may take a while. */
void job_stop(struct job *j);
/* How the VM ended, once its console or exit fd said it did (blocks). */
void job_wait(struct job *j, struct vm_exit *ex);
/* Records a timeout and ends the VM. */
void job_timeout(struct job *j, const char *why);
/* Decides the outcome from what was seen and how the VM ended. */
void job_finish(struct job *j, const struct vm_exit *ex);
/* Gives up on a VM that did not end `after` seconds after it was told to
 * stop (its backend is hung): INFRA_ERROR unless every result was in, and a
 * remote host is marked down. The attempt then ends with job_finish. */
void job_abandon(struct job *j, double after);
/* Final INFRA_ERROR without another attempt (e.g. no host left for it). */
void job_give_up(struct job *j, const char *why);

/* An attempt's life ends in exactly one of two ways, decided here:
 * job_attempt_done() says retry (INFRA_ERROR within `retries`; an attempt
 * lost with its host, vm.host_down, is not counted and its results are
 * dropped: the retry sees them again), and the caller then job_reset()s the
 * job once it has reported the attempt; or final, and the caller job_close()s
 * it (the VM is released, outcome and results stay). */
int job_attempt_done(struct job *j, unsigned int retries);
void job_close(struct job *j);

const char *job_outcome_name(enum job_outcome o);
/* The outcome named s (exactly, as stored), or -1 (NULL, unknown). */
int job_outcome_parse(const char *s);
const char *res_status_name(enum res_status s);
const char *job_state_name(enum job_state s);

#endif
