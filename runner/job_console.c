#include "job_int.h"
#include "console.h"
#include "text.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *kcrash_for(const struct job *j, const char *path);

void job_add_result(struct job *j, const char *test, enum res_status st, const char *reason,
		    size_t rlen, double dur, int depth)
{
	if (j->nres >= JOB_MAX_RESULTS)
		return;
	if (!(j->nres & (j->nres - 1)) || !j->nres)
		j->res = xrealloc(j->res, (j->nres ? 2 * j->nres : 16) * sizeof(*j->res));
	j->res[j->nres++] = (struct result){
		.test = job_clip(test, strlen(test)), .status = st,
		.reason = job_clip(reason, rlen), .duration_s = dur, .depth = depth,
	};
}

void job_on_result(void *data, const struct ktap_result *r)
{
	struct job *j = data;
	static const enum res_status map[] = {
		[TS_PASS] = RS_PASS, [TS_FAIL] = RS_FAIL, [TS_SKIP] = RS_SKIP,
		[TS_MISSING] = RS_MISSING,
	};
	double now = now_mono(), dur = 0;

	if (r->depth == 0) {
		double since = j->t_last_result ? j->t_last_result : j->t_header;

		dur = since ? now - since : 0;
		j->t_last_result = now;
	}
	if (r->status == TS_FAIL && job_kernel_doc(j, j->ktap.ndocs)) {
		const char *crash = kcrash_for(j, r->name);

		if (crash) {
			char *why = xasprintf("crashed: %s%s%s", crash, *r->reason ? "; " : "",
					      r->reason);

			job_add_result(j, r->name, RS_FAIL, why, strlen(why), dur, r->depth);
			free(why);
			return;
		}
	}
	job_add_result(j, r->name, map[r->status], r->reason, strlen(r->reason), dur, r->depth);
}

static const char uname_tag[] = "# kfarm-init: uname ";
static const char init_tag[] = "# kfarm-init: ";

/* --- the kernel's own KTAP: its KUnit run, before /init starts ---
 * Results of a document begun before the kernel's "Run /init as init
 * process" line (init/main.c; or, without it, before /init's first note)
 * are the kernel's: named kunit:SUITE/case. A kernel that never got that
 * far (it panicked during its KUnit run) printed only its own documents. */

int job_kernel_doc(const struct job *j, unsigned long doc)
{
	if (!doc)
		return 0;
	if (j->init_run)
		return doc <= j->kernel_docs;
	return !j->init_doc || doc < j->init_doc;
}

/* Every result not yet claimed is the kernel's. */
void job_claim_kernel(struct job *j)
{
	for (size_t i = j->nkernel; i < j->nres; i++) {
		char *name = xasprintf("kunit:%s", j->res[i].test);

		free(j->res[i].test);
		j->res[i].test = job_clip(name, strlen(name));
		free(name);
	}
	j->nkernel = j->nres;
}

/* The case's own name in a "not ok N name # ..." line, into buf ("" if the
 * line is not one). */
static void failed_name(const char *s, size_t len, char *buf, size_t bufsz)
{
	size_t p = console_prefix_len(s, len), i, e;

	buf[0] = '\0';
	s += p, len -= p;
	while (len && (*s == ' ' || *s == '\t'))
		s++, len--;
	if (len < 7 || memcmp(s, "not ok ", 7))
		return;
	for (i = 7; i < len && (s[i] == ' ' || (s[i] >= '0' && s[i] <= '9')); i++)
		;
	if (i + 1 < len && s[i] == '-' && s[i + 1] == ' ')
		i += 2;
	for (e = i; e < len && s[e] != '#'; e++)
		;
	while (e > i && (s[e - 1] == ' ' || s[e - 1] == '\t'))
		e--;
	if (e - i < bufsz)
		snprintf(buf, bufsz, "%.*s", (int)(e - i), s + i);
}

/* A fatal line (an oops the kernel survives: KUnit's "try faulted") waits
 * for the kernel's next KTAP result line; a "not ok" one is the case that
 * crashed, and its result quotes the line. */
static void note_kcrash(struct job *j, enum con_kind k, const char *line, size_t len,
			unsigned long nresults_before)
{
	if (con_kind_fatal(k) && !j->kcrash && job_kernel_doc(j, j->ktap.ndocs)) {
		size_t p = console_prefix_len(line, len);

		j->kcrash = job_clip(line + p, len - p);
	}
	if (!j->kcrash || j->ktap.nresults == nresults_before)
		return;
	if (job_kernel_doc(j, j->ktap.ndocs) &&
	    j->nkcrashed < sizeof(j->kcrashed) / sizeof(*j->kcrashed)) {
		char name[KTAP_NAME_MAX + 1];

		failed_name(line, len, name, sizeof(name));
		if (*name) {
			j->kcrashed[j->nkcrashed].name = xstrdup(name);
			j->kcrashed[j->nkcrashed++].line = j->kcrash;
			j->kcrash = NULL;
		}
	}
	free(j->kcrash);
	j->kcrash = NULL;
}

/* The crash quoted for a failed result of path ".../NAME", or NULL. */
static const char *kcrash_for(const struct job *j, const char *path)
{
	size_t pl = strlen(path);

	for (size_t i = 0; i < j->nkcrashed; i++) {
		const char *n = j->kcrashed[i].name;
		size_t nl = strlen(n);

		if (nl <= pl && !strcmp(path + pl - nl, n) && (nl == pl || path[pl - nl - 1] == '/'))
			return j->kcrashed[i].line;
	}
	return NULL;
}

/* "Run /init as init process": the kernel's documents are over (one still
 * open is cut off there) and everything so far was theirs. */
static void note_init_run(struct job *j, const char *line, size_t len)
{
	static const char tail[] = " as init process";
	size_t p = console_prefix_len(line, len);

	line += p, len -= p;
	if (j->init_run || j->init_doc || len < 4 + sizeof(tail) - 1 || memcmp(line, "Run ", 4) ||
	    memcmp(line + len - (sizeof(tail) - 1), tail, sizeof(tail) - 1))
		return;
	if (j->ktap.ndocs)
		ktap_cut(&j->ktap, "the kernel started /init");
	j->init_run = 1;
	j->kernel_docs = j->ktap.ndocs;
	job_claim_kernel(j);
}

/* /init prints its notes between its version line and its plan, unindented
 * and without a printk prefix; a kernel's KUnit document has none. A note
 * outside any open document (before the first version line, or after a
 * kernel document's plan) names the next document as /init's. */
static void note_init_doc(struct job *j, const char *line, size_t len)
{
	if (j->init_doc || len < sizeof(init_tag) - 1 ||
	    memcmp(line, init_tag, sizeof(init_tag) - 1))
		return;
	if (j->ktap.seen_header && j->ktap.plan < 0 && !j->ktap.ntop)
		j->init_doc = j->ktap.ndocs;
	else
		j->init_doc = j->ktap.ndocs + 1;
	/* every result so far came from an earlier document: the kernel's own
	 * KUnit run, nested under kunit:SUITE (only once /init is known, so a
	 * guest that never names its document keeps its names) */
	if (!j->init_run)
		job_claim_kernel(j);
}

void job_on_line(void *data, const char *line, size_t len)
{
	struct job *j = data;
	enum con_kind k = console_classify(line, len);

	if (k == CON_WARNING) {
		if (!j->warning)
			j->warning = job_clip(line, len);
	} else if (con_kind_fatal(k) && !j->trouble_line) {
		j->trouble = k;
		j->trouble_line = job_clip(line, len);
	}
	if (!j->release && len > sizeof(uname_tag) - 1 &&
	    !memcmp(line, uname_tag, sizeof(uname_tag) - 1)) {
		/* "Linux RELEASE ..." */
		const char *s = line + sizeof(uname_tag) - 1, *e = line + len;
		const char *sp = memchr(s, ' ', e - s);

		if (sp) {
			const char *rel = sp + 1, *end = memchr(rel, ' ', e - rel);

			j->release = job_clip(rel, (end ? end : e) - rel);
		}
	}
	unsigned long nr = j->ktap.nresults;

	note_init_run(j, line, len);
	ktap_feed(&j->ktap, line, len);
	note_kcrash(j, k, line, len, nr);
	note_init_doc(j, line, len);
	if (j->ktap.seen_header && !j->t_header) {
		j->t_header = now_mono();
		j->boot_s = j->t_header - j->t_run;
		j->state = JS_RUNNING;
	}
}

void job_console(struct job *j, const char *data, size_t n)
{
	j->t_last_out = now_mono();
	if (j->queued) {	/* the guest speaks: it runs, whatever its backend said */
		j->queued = 0;
		j->t_run = j->t_last_out;
	}
	job_log_write(j, data, n);
	linebuf_feed(j->lb, data, n, job_on_line, j);
}

void job_on_err_line(void *data, const char *line, size_t len)
{
	struct job *j = data;

	if (!len)
		return;
	free(j->qemu_err);
	j->qemu_err = job_clip(line, len);
	job_log_write(j, "[qemu: ", 7);
	job_log_write(j, line, len);
	job_log_write(j, "]\n", 2);
}

void job_stderr(struct job *j, const char *data, size_t n)
{
	linebuf_feed(j->lberr, data, n, job_on_err_line, j);
}

int job_read(struct job *j, int fd, int console, size_t *got)
{
	char buf[65536];

	for (int rounds = 0; rounds < 16; rounds++) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n > 0) {
			*got += (size_t)n;
			if (console)
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
