/* JUnit XML: one testsuite per job, as Jenkins and GitLab read it, and one
 * "builds" suite for the run's source builds; written by libxml2's
 * xmlTextWriter, text filtered to the characters XML 1.0 allows. */
#include "export.h"
#include "history.h"
#include "job.h"
#include "text.h"
#include "util.h"

#include <libxml/xmlwriter.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* XML 1.0's Char production (tab, LF, CR, U+0020-U+D7FF, U+E000-U+FFFD,
 * U+10000-U+10FFFF) without DEL and the C1 controls, which XML 1.0 (2.2)
 * discourages; everything else, and ill-formed UTF-8, becomes U+FFFD. */
static int xml_char(uint32_t cp)
{
	if (cp == TEXT_INVALID || (cp >= 0x7f && cp <= 0x9f))
		return 0;
	return cp == 0x9 || cp == 0xa || cp == 0xd || (cp >= 0x20 && cp <= 0xd7ff) ||
	       (cp >= 0xe000 && cp <= 0xfffd) || (cp >= 0x10000 && cp <= 0x10ffff);
}

static char *xml_chars(const char *s)
{
	struct sb sb;
	size_t len = strlen(s);

	sb_init(&sb);
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		size_t n = text_utf8_next(s + i, len - i, &cp);

		if (xml_char(cp))
			sb_add(&sb, s + i, n);
		else
			sb_adds(&sb, TEXT_REPLACEMENT);
		i += n;
	}
	return sb_detach(&sb);
}

/* xmlTextWriter calls with a sticky error: the first failure fails the
 * export, later calls do nothing. */
struct xw {
	xmlTextWriterPtr w;
	int err;
};

static void xw_check(struct xw *x, int rc)
{
	if (rc < 0)
		x->err = 1;
}

static void xw_start(struct xw *x, const char *el)
{
	if (!x->err)
		xw_check(x, xmlTextWriterStartElement(x->w, BAD_CAST el));
}

static void xw_end(struct xw *x)
{
	if (!x->err)
		xw_check(x, xmlTextWriterEndElement(x->w));
}

static void xw_attr(struct xw *x, const char *name, const char *val)
{
	char *v = xml_chars(val);

	if (!x->err)
		xw_check(x, xmlTextWriterWriteAttribute(x->w, BAD_CAST name, BAD_CAST v));
	free(v);
}

static void xw_attrf(struct xw *x, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void xw_attrf(struct xw *x, const char *name, const char *fmt, ...)
{
	char buf[128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	xw_attr(x, name, buf);
}

/* A testcase's problem element, if any. */
enum problem { P_NONE, P_FAILURE, P_SKIPPED, P_ERROR };

/* A result's: a MISSING test (or one of an unknown status) is an error. */
static enum problem result_problem(const char *status)
{
	switch (hist_status_parse(status)) {
	case HS_PASS: return P_NONE;
	case HS_FAIL: return P_FAILURE;
	case HS_SKIP: return P_SKIPPED;
	default: return P_ERROR;
	}
}

/* A testcase, with its problem element unless it passed (P_NONE). */
static void junit_case(struct xw *x, const char *name, const char *arch, double secs,
		       enum problem pr, const char *type, const char *message)
{
	static const char *const element[] = {
		[P_FAILURE] = "failure", [P_SKIPPED] = "skipped", [P_ERROR] = "error",
	};

	xw_start(x, "testcase");
	xw_attr(x, "name", name);
	xw_attrf(x, "classname", "kfarm.%s", arch);
	xw_attrf(x, "time", "%.3f", secs > 0 ? secs : 0);
	if (pr != P_NONE) {
		xw_start(x, element[pr]);
		if (type)
			xw_attr(x, "type", type);
		xw_attr(x, "message", message);
		xw_end(x);
	}
	xw_end(x);
}

static void junit_suite(struct xw *x, json_t *j)
{
	size_t k, tests = 0, fail = 0, err = 0, skip = 0;
	const char *outcome = js(j, "outcome");
	int o = job_outcome_parse(outcome);
	int unbuilt = o == JOB_NOT_BUILT;	/* the build's failure is its own case */
	int job_bad = o != JOB_COMPLETE && !unbuilt;
	int infra = o == JOB_INFRA_ERROR;
	static const char *const props[] = { "release", "outcome", "qemu_version", "tree" };
	char ts[32];
	json_t *r;

	json_array_foreach(json_object_get(j, "results"), k, r) {
		int st = hist_status_parse(js(r, "status"));

		if (json_integer_value(json_object_get(r, "depth")))
			continue;
		tests++;
		fail += st == HS_FAIL;
		err += st == HS_MISSING;
		skip += st == HS_SKIP;
	}
	/* the boot itself is a test case, so a dead kernel shows up */
	tests++;
	if (job_bad)
		*(infra ? &err : &fail) += 1;
	skip += unbuilt;
	rfc3339(jnum(j, "started"), ts);
	xw_start(x, "testsuite");
	xw_attrf(x, "name", "%s %s", js(j, "arch"), js(j, "kernel"));
	xw_attrf(x, "id", "%lld", (long long)json_integer_value(json_object_get(j, "id")));
	xw_attrf(x, "tests", "%zu", tests);
	xw_attrf(x, "failures", "%zu", fail);
	xw_attrf(x, "errors", "%zu", err);
	xw_attrf(x, "skipped", "%zu", skip);
	xw_attrf(x, "time", "%.3f", jnum(j, "duration_s") > 0 ? jnum(j, "duration_s") : 0);
	xw_attr(x, "timestamp", ts);
	xw_attr(x, "hostname", js(j, "host"));
	xw_start(x, "properties");
	for (size_t p = 0; p < ARRAY_SIZE(props); p++) {
		xw_start(x, "property");
		xw_attr(x, "name", props[p]);
		xw_attr(x, "value", js(j, props[p]));
		xw_end(x);
	}
	xw_end(x);
	junit_case(x, "boot", js(j, "arch"), jnum(j, "boot_s"),
		   unbuilt ? P_SKIPPED : !job_bad ? P_NONE : infra ? P_ERROR : P_FAILURE, outcome,
		   js(j, "reason"));
	json_array_foreach(json_object_get(j, "results"), k, r) {
		if (json_integer_value(json_object_get(r, "depth")))
			continue;
		junit_case(x, js(r, "test"), js(j, "arch"), jnum(r, "duration_s"),
			   result_problem(js(r, "status")), NULL, js(r, "reason"));
	}
	xw_end(x);
}

/* The run's source builds: one case each, FAIL a failure, ERROR an error. */
static void junit_builds(struct xw *x, json_t *builds)
{
	size_t k, fail = 0, err = 0;
	double secs = 0;
	json_t *b;

	if (!json_array_size(builds))
		return;
	json_array_foreach(builds, k, b) {
		int st = build_status_parse(js(b, "status"));

		fail += st == BS_FAIL;
		err += st == BS_ERROR;
		secs += jnum(b, "duration_s");
	}
	xw_start(x, "testsuite");
	xw_attr(x, "name", "builds");
	xw_attrf(x, "tests", "%zu", json_array_size(builds));
	xw_attrf(x, "failures", "%zu", fail);
	xw_attrf(x, "errors", "%zu", err);
	xw_attr(x, "skipped", "0");
	xw_attrf(x, "time", "%.3f", secs);
	json_array_foreach(builds, k, b) {
		const char *st = js(b, "status");
		int bs = build_status_parse(st);
		char name[400];

		snprintf(name, sizeof(name), "build %.120s %.120s (%.120s)", js(b, "arch"),
			 js(b, "kernel"), js(b, "config"));
		junit_case(x, name, js(b, "arch"), jnum(b, "duration_s"),
			   bs == BS_PASS ? P_NONE : bs == BS_FAIL ? P_FAILURE : P_ERROR, st,
			   js(b, "error"));
	}
	xw_end(x);
}

static char *render(const struct export_input *in, struct err *e)
{
	json_t *run = in->run, **jobs = in->jobs, *builds = in->builds;
	size_t n = in->n;
	xmlBufferPtr buf = xmlBufferCreate();
	struct xw x = { buf ? xmlNewTextWriterMemory(buf, 0) : NULL, 0 };
	char *out = NULL;

	if (!x.w) {
		xmlBufferFree(buf);
		err_set(e, 0, "JUnit export: cannot create an XML writer");
		return NULL;
	}
	xw_check(&x, xmlTextWriterSetIndent(x.w, 1));
	xw_check(&x, xmlTextWriterSetIndentString(x.w, BAD_CAST "  "));
	xw_check(&x, xmlTextWriterStartDocument(x.w, NULL, "UTF-8", NULL));
	xw_start(&x, "testsuites");
	xw_attrf(&x, "name", "kfarm run %lld",
		 (long long)json_integer_value(json_object_get(run, "id")));
	junit_builds(&x, builds);
	for (size_t i = 0; i < n && !x.err; i++)
		junit_suite(&x, jobs[i]);
	if (!x.err)
		xw_check(&x, xmlTextWriterEndDocument(x.w));
	xmlFreeTextWriter(x.w);	/* flushes into buf */
	if (x.err)
		err_set(e, 0, "JUnit export: the XML writer failed");
	else
		out = xstrdup((const char *)xmlBufferContent(buf));
	xmlBufferFree(buf);
	return out;
}

const struct exporter export_fmt_junit = {
	"junit", "JUnit XML (one testsuite per job, and the run's builds)", render,
};
