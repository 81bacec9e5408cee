/* LAVA's side of one kfarm job, as data: the job definition kfarm submits
 * for LAVA's `qemu` device type, and the console text inside the YAML log
 * LAVA serves (/api/v0.2/jobs/N/logs/). No I/O here. */
#ifndef KFARM_LAVA_JOB_H
#define KFARM_LAVA_JOB_H

#include "backend.h"
#include "err.h"

#include <stddef.h>

/* Where the boot ends: the guest's last line, or LAVA's boot timeout. */
#define LAVA_DONE_LINE "# kfarm-init: done"
#define LAVA_BOOT_TIMEOUT_S 600u	/* kfarm's default --timeout */
#define LAVA_JOB_TIMEOUT_S 900u		/* boot plus deploy and LAVA's own steps */

/* The YAML job definition booting spec's kernel and initramfs, deployed by
 * file:// URL (the workers must see kfarm's paths). NULL, with the reason in
 * err, when a path or argument cannot be said safely in LAVA's QEMU command. */
char *lava_job_definition(const struct vm_spec *spec, const char *name, struct err *err);

/* What a job's log has said so far, accumulated over lava_log_feed calls. */
struct lava_log {
	size_t lines;		/* log lines consumed (the next ?start=) */
	int done_seen;		/* the console showed LAVA_DONE_LINE */
	int bad_lines;		/* lines that were not LAVA log records */
	char error_type[32];	/* the lava/job result's error_type, or "" */
	char error_msg[256];	/* and its message */
	char boot_cmd[1024];	/* the QEMU command LAVA ran, or "" */
};

/* Consumes the complete lines of buf (a trailing partial line is left for
 * the next call; returns the bytes consumed) and hands each console line
 * (LAVA's "target" level, without its newline) to out. Lines over max_line
 * bytes are counted as bad and skipped. */
size_t lava_log_feed(struct lava_log *lg, const char *buf, size_t len, size_t max_line,
		     void (*out)(void *data, const char *line, size_t n), void *data);

#endif
