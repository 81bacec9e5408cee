/* job.c's private header, shared with its other half, job_console.c (what a
 * job makes of its console: its KTAP results, the kernel's own KUnit
 * documents before /init, crash lines, the release). job.h is the
 * interface; nothing else includes this. */
#ifndef KFARM_JOB_INT_H
#define KFARM_JOB_INT_H

#include "job.h"

#define JOB_MAX_RESULTS 4096	/* results kept per job; more are counted */

/* console text as stored: valid UTF-8, cut at a character (job.c) */
char *job_clip(const char *s, size_t len);
/* the console log file, bounded by log_max (job.c) */
void job_log_write(struct job *j, const char *data, size_t n);

void job_add_result(struct job *j, const char *test, enum res_status st, const char *reason,
		    size_t rlen, double dur, int depth);
/* ktap_cb of the job's parser */
void job_on_result(void *data, const struct ktap_result *r);
/* whether KTAP document doc (1-based) is the kernel's, not /init's */
int job_kernel_doc(const struct job *j, unsigned long doc);
/* names the kernel's results kunit:SUITE/... once they are known to be its */
void job_claim_kernel(struct job *j);
/* line_cb of the console and of QEMU's stderr */
void job_on_line(void *data, const char *line, size_t len);
void job_on_err_line(void *data, const char *line, size_t len);

#endif
