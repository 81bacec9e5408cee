/* kfarm export: a run's results as JUnit XML (one testsuite per job, as
 * Jenkins and GitLab read it, and one "builds" suite for the run's source
 * builds; written by libxml2's xmlTextWriter, text filtered to the
 * characters XML 1.0 allows) or as KCIDB v5 JSON (checkouts, builds, tests;
 * ids "kfarm:..."; a source build is a KCIDB build with its real status,
 * duration and log, the tests of its kernel under it; test paths encoded as
 * kcidb_path says), written atomically. A value that cannot be encoded fails
 * the export. */
#include "api.h"
#include "build_db.h"
#include "logdir.h"
#include "cmds.h"
#include "store.h"
#include "text.h"
#include "util.h"

#include <getopt.h>
#include <libxml/xmlwriter.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char export_usage[] =
	"usage: kfarm export (--junit FILE | --kcidb FILE) [--run ID] [--db PATH]\n"
	"\n"
	"Exports one run (default: the latest) as JUnit XML or KCIDB v5 JSON.\n";

static const char *js(json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));

	return v ? v : "";
}

static double jnum(json_t *o, const char *k)
{
	return json_number_value(json_object_get(o, k));
}

static void rfc3339(double t, char out[32])
{
	time_t s = (time_t)t;
	struct tm tm;

	gmtime_r(&s, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

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

static const char *problem_element(const char *st)
{
	return !strcmp(st, "FAIL") ? "failure" : !strcmp(st, "SKIP") ? "skipped" : "error";
}

/* A testcase, with its problem element unless it passed (st NULL). */
static void junit_case(struct xw *x, const char *name, const char *arch, double secs,
		       const char *st, const char *type, const char *message)
{
	xw_start(x, "testcase");
	xw_attr(x, "name", name);
	xw_attrf(x, "classname", "kfarm.%s", arch);
	xw_attrf(x, "time", "%.3f", secs > 0 ? secs : 0);
	if (st) {
		xw_start(x, problem_element(st));
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
	int unbuilt = !strcmp(outcome, "NOT_BUILT");	/* the build's failure is its own case */
	int job_bad = strcmp(outcome, "COMPLETE") != 0 && !unbuilt;
	int infra = !strcmp(outcome, "INFRA_ERROR");
	static const char *const props[] = { "release", "outcome", "qemu_version", "tree" };
	char ts[32];
	json_t *r;

	json_array_foreach(json_object_get(j, "results"), k, r) {
		const char *st = js(r, "status");

		if (json_integer_value(json_object_get(r, "depth")))
			continue;
		tests++;
		fail += !strcmp(st, "FAIL");
		err += !strcmp(st, "MISSING");
		skip += !strcmp(st, "SKIP");
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
		   unbuilt ? "SKIP" : job_bad ? (infra ? "ERROR" : "FAIL") : NULL, outcome,
		   js(j, "reason"));
	json_array_foreach(json_object_get(j, "results"), k, r) {
		const char *st = js(r, "status");

		if (json_integer_value(json_object_get(r, "depth")))
			continue;
		junit_case(x, js(r, "test"), js(j, "arch"), jnum(r, "duration_s"),
			   strcmp(st, "PASS") ? st : NULL, NULL, js(r, "reason"));
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
		fail += !strcmp(js(b, "status"), "FAIL");
		err += !strcmp(js(b, "status"), "ERROR");
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
		char name[400];

		snprintf(name, sizeof(name), "build %.120s %.120s (%.120s)", js(b, "arch"),
			 js(b, "kernel"), js(b, "config"));
		junit_case(x, name, js(b, "arch"), jnum(b, "duration_s"),
			   strcmp(st, "PASS") ? st : NULL, st, js(b, "error"));
	}
	xw_end(x);
}

static char *junit(json_t *run, json_t **jobs, size_t n, json_t *builds)
{
	xmlBufferPtr buf = xmlBufferCreate();
	struct xw x = { buf ? xmlNewTextWriterMemory(buf, 0) : NULL, 0 };
	char *out = NULL;

	if (!x.w) {
		xmlBufferFree(buf);
		error("JUnit export: cannot create an XML writer");
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
		error("JUnit export: the XML writer failed");
	else
		out = xstrdup((const char *)xmlBufferContent(buf));
	xmlBufferFree(buf);
	return out;
}

/* KCIDB test status from kfarm's test status and job outcome. */
static const char *kcidb_status(const char *st, const char *outcome)
{
	if (!strcmp(st, "PASS"))
		return "PASS";
	if (!strcmp(st, "SKIP"))
		return "SKIP";
	if (!strcmp(st, "FAIL"))
		return "FAIL";
	/* never ran: the kernel's fault unless the infrastructure's */
	return !strcmp(outcome, "INFRA_ERROR") ? "ERROR" : "MISS";
}

#define KCIDB_PATH_MAX 300

/* kfarm's test path ("a/b.c") as a KCIDB path ("kfarm.a.b-2Ec"): KCIDB
 * allows only [A-Za-z0-9_-] in a component and splits on '.', so each '/'
 * becomes '.', and within a component every byte outside [A-Za-z0-9_]
 * (including '-' and '.') becomes '-' and two upper-case hex digits; an
 * empty component is "-". The mapping is reversible. A path longer than
 * KCIDB_PATH_MAX ends at a character of the name, followed by "--" and 12
 * hex digits of the name's SHA-256 ("--" never occurs otherwise), so
 * clipped paths stay distinct. */
/* Encodes test into out, stopping before out would exceed room bytes;
 * returns 0 when all of it fit. */
static int kcidb_encode(const char *test, struct sb *out, size_t room)
{
	size_t len = strlen(test);
	int empty = 1;

	sb_adds(out, "kfarm.");
	for (size_t i = 0, n; i <= len; i += n) {
		char unit[16];
		size_t u = 0;
		uint32_t cp;

		n = 1;
		if (i == len || test[i] == '/') {
			if (empty)
				unit[u++] = '-';
			if (i < len)
				unit[u++] = '.';
			empty = 1;
		} else {
			n = text_utf8_next(test + i, len - i, &cp);
			for (size_t b = 0; b < n; b++) {
				unsigned char c = test[i + b];

				if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
				    (c >= '0' && c <= '9') || c == '_')
					unit[u++] = c;
				else
					u += snprintf(unit + u, sizeof(unit) - u, "-%02X", c);
			}
			empty = 0;
		}
		if (out->len + u > room)
			return -1;
		sb_add(out, unit, u);
	}
	return 0;
}

static void kcidb_path(const char *test, struct sb *out)
{
	unsigned char md[EVP_MAX_MD_SIZE] = { 0 };
	unsigned int mdlen = 0;

	if (!kcidb_encode(test, out, KCIDB_PATH_MAX))
		return;
	sb_reset(out);
	kcidb_encode(test, out, KCIDB_PATH_MAX - 14);
	if (!EVP_Digest(test, strlen(test), md, &mdlen, EVP_sha256(), NULL))
		die("KCIDB export: SHA-256 is not available");
	sb_adds(out, "--");
	for (int i = 0; i < 6; i++)
		sb_addf(out, "%02x", md[i]);
}

/* Appends o (NULL: it could not be built) to arr; -1 names the failure. */
static int append(json_t *arr, json_t *o, const char *what, json_t *job)
{
	if (!json_array_append_new(arr, o))
		return 0;
	return error("KCIDB export: cannot encode the %s of job %lld", what,
		     (long long)json_integer_value(json_object_get(job, "id")));
}

/* A candidate (image) is a checkout + a build for one arch, listed once. */
static int kcidb_build(json_t *checkouts, json_t *builds, json_t *j, const char *co,
		       const char *bu, const char *ts)
{
	size_t k;
	json_t *o;

	json_array_foreach(builds, k, o)
		if (!strcmp(js(o, "id"), bu))
			return 0;
	if (append(checkouts, json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", co,
					"origin", "kfarm", "tree_name",
					*js(j, "tree") ? js(j, "tree") : "unknown",
					"git_commit_name", js(j, "kernel"), "start_time", ts),
		   "checkout", j))
		return -1;
	return append(builds, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "id", bu,
					"origin", "kfarm", "checkout_id", co, "architecture",
					js(j, "arch"), "status", "PASS", "start_time", ts),
		      "build", j);
}

static int listed(json_t *arr, const char *id)
{
	size_t k;
	json_t *o;

	json_array_foreach(arr, k, o)
		if (!strcmp(js(o, "id"), id))
			return 1;
	return 0;
}

static void set_str(json_t *o, const char *k, const char *v)
{
	if (v && *v)
		json_object_set_new(o, k, json_string(v));
}

/* A source build (build_db.h's row) as a KCIDB checkout (its source, once)
 * and build: real status, duration, compiler, config, log and first error. */
static int kcidb_source_build(json_t *checkouts, json_t *builds, json_t *b, const char *logs)
{
	char co[64], bu[64], ts[32];
	json_t *c, *o;
	long long id = (long long)json_integer_value(json_object_get(b, "id"));

	snprintf(co, sizeof(co), "kfarm:src%lld",
		 (long long)json_integer_value(json_object_get(b, "source")));
	snprintf(bu, sizeof(bu), "kfarm:build%lld", id);
	if (listed(builds, bu))
		return 0;
	rfc3339(jnum(b, "started"), ts);
	if (!listed(checkouts, co)) {
		c = json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", co, "origin", "kfarm",
			      "tree_name", *js(b, "tree") ? js(b, "tree") : "unknown",
			      "git_commit_name", js(b, "kernel"), "start_time", ts);
		if (c) {
			set_str(c, "git_commit_hash", js(b, "commit_id"));
			/* KCIDB's patchset hash: sha256 of the patches' sha256s, as ours */
			if (strcmp(js(b, "patches_hash"), "none"))
				set_str(c, "patchset_hash", js(b, "patches_hash"));
			else
				json_object_set_new(c, "patchset_hash", json_string(""));
		}
		if (append(checkouts, c, "checkout", b))
			return -1;
	}
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:f, s:{s:I, s:O, s:b, s:s, s:s}}",
		      "id", bu, "origin", "kfarm", "checkout_id", co, "architecture",
		      js(b, "arch"), "status", js(b, "status"), "start_time", ts, "duration",
		      jnum(b, "duration_s"), "misc", "warnings",
		      (json_int_t)json_integer_value(json_object_get(b, "warnings")),
		      "new_warnings", json_object_get(b, "new_warnings") ?: json_null(),
		      "cached", json_integer_value(json_object_get(b, "cached")) != 0,
		      "config_sha256", js(b, "config_sha256"), "release", js(b, "release"));
	if (o) {
		set_str(o, "config_name", js(b, "config"));
		set_str(o, "compiler", js(b, "compiler"));
		set_str(o, "log_excerpt", js(b, "error"));
		if (*js(b, "log") && logs) {
			char *u = xasprintf("file://%s/%s", logs, js(b, "log"));

			json_object_set_new(o, "log_url", json_string(u));
			free(u);
		}
	}
	return append(builds, o, "build", b);
}

static int kcidb_job(json_t *checkouts, json_t *builds, json_t *tests, json_t *j,
		     json_t *src_build, const char *logs)
{
	const char *sha = js(j, "image_sha256"), *outcome = js(j, "outcome");
	long long jid = (long long)json_integer_value(json_object_get(j, "id"));
	char ts[32], co[96], bu[128], id[64];
	struct sb path;
	size_t k;
	json_t *r;

	rfc3339(jnum(j, "started"), ts);
	if (src_build) {	/* built from source: the tests hang under that build */
		if (kcidb_source_build(checkouts, builds, src_build, logs))
			return -1;
		snprintf(bu, sizeof(bu), "kfarm:build%lld",
			 (long long)json_integer_value(json_object_get(src_build, "id")));
	} else {
		snprintf(co, sizeof(co), "kfarm:%.16s", sha);
		snprintf(bu, sizeof(bu), "kfarm:%.16s-%.64s", sha, js(j, "arch"));
		if (kcidb_build(checkouts, builds, j, co, bu, ts))
			return -1;
	}
	snprintf(id, sizeof(id), "kfarm:job%lld-boot", jid);
	if (append(tests, json_pack(
		"{s:s, s:s, s:s, s:s, s:s, s:f, s:{s:s}, s:{s:s, s:s}}",
		"id", id, "origin", "kfarm", "build_id", bu, "path", "boot",
		"status", !strcmp(outcome, "COMPLETE") ? "PASS"
			  : !strcmp(outcome, "INFRA_ERROR") ? "ERROR"
			  : !strcmp(outcome, "NOT_BUILT") ? "MISS" : "FAIL",
		"duration", jnum(j, "duration_s"),
		"environment", "comment", js(j, "qemu_version"),
		"misc", "outcome", outcome, "reason", js(j, "reason")), "boot test", j))
		return -1;
	sb_init(&path);
	json_array_foreach(json_object_get(j, "results"), k, r) {
		snprintf(id, sizeof(id), "kfarm:job%lld-%zu", jid, k);
		sb_reset(&path);
		kcidb_path(js(r, "test"), &path);
		if (append(tests, json_pack(
			"{s:s, s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s}}",
			"id", id, "origin", "kfarm", "build_id", bu, "path", path.buf,
			"status", kcidb_status(js(r, "status"), outcome), "start_time", ts,
			"misc", "test", js(r, "test"), "reason", js(r, "reason")), "results", j)) {
			sb_release(&path);
			return -1;
		}
	}
	sb_release(&path);
	return 0;
}

static char *kcidb(json_t **jobs, size_t n, json_t **job_builds, json_t *run_builds,
		   const char *logs)
{
	json_t *root = json_pack("{s:{s:i,s:i}, s:[], s:[], s:[]}", "version", "major", 5,
				 "minor", 0, "checkouts", "builds", "tests");
	char *out = NULL;

	if (!root) {
		error("KCIDB export: cannot build the document");
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		if (kcidb_job(json_object_get(root, "checkouts"), json_object_get(root, "builds"),
			      json_object_get(root, "tests"), jobs[i],
			      json_array_get(job_builds[i], 0), logs))
			goto out;
	/* and the builds that booted nothing */
	json_t *b;
	size_t k;
	json_array_foreach(run_builds, k, b)
		if (kcidb_source_build(json_object_get(root, "checkouts"),
				       json_object_get(root, "builds"), b, logs))
			goto out;
	out = json_dumps(root, JSON_INDENT(1));
	if (!out)
		error("KCIDB export: cannot serialise the document");
out:
	json_decref(root);
	return out;
}

struct export_opts {
	const char *junit_out, *kcidb_out, *db;
	unsigned long run_id;
};

/* The command line into o; -1 to go on, else the exit status. */
static int export_parse(struct export_opts *o, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "junit", required_argument, NULL, 'j' },
		{ "kcidb", required_argument, NULL, 'k' },
		{ "run", required_argument, NULL, 'r' },
		{ "db", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'j': o->junit_out = optarg; break;
		case 'k': o->kcidb_out = optarg; break;
		case 'd': o->db = optarg; break;
		case 'r':
			if (parse_uint(optarg, 1ul << 53, &o->run_id) || !o->run_id)
				return error("--run wants a run id, got '%s'", optarg), 2;
			break;
		case 'h': fputs(export_usage, stdout); return 0;
		default: fputs(export_usage, stderr); return 2;
		}
	}
	if (!o->junit_out == !o->kcidb_out || optind < argc) {
		fputs(export_usage, stderr);
		return 2;
	}
	return -1;
}

/* The newest run's id; 0 (reported) if there is none. */
static unsigned long latest_run(struct store *st, struct api_err *e)
{
	json_t *runs = api_runs(store_db(st), 1, e);
	unsigned long run_id = 0;

	if (runs && json_array_size(runs))
		run_id = json_integer_value(json_object_get(json_array_get(runs, 0), "id"));
	json_decref(runs);
	if (!run_id)
		error("no runs in '%s' to export", store_path(st));
	return run_id;
}

/* Each of run's jobs in full, and its builds, appended to *jobs and
 * *job_builds (*n of them, freed by the caller even on failure). */
static int load_jobs(struct store *st, json_t *run, json_t ***jobs, json_t ***job_builds,
		     size_t *n, struct api_err *e)
{
	json_t *j;
	size_t i;

	json_array_foreach(json_object_get(run, "jobs"), i, j) {
		json_t *full = api_job(store_db(st), json_integer_value(json_object_get(j, "id")), e);

		if (!full) {
			error("job: %s", e->msg);
			return -1;
		}
		*jobs = xrealloc(*jobs, (*n + 1) * sizeof(**jobs));
		*job_builds = xrealloc(*job_builds, (*n + 1) * sizeof(**job_builds));
		(*job_builds)[*n] = builds_of_job(store_db(st), json_integer_value(json_object_get(j,
						  "id")), e);
		(*jobs)[(*n)++] = full;
		if (!(*job_builds)[*n - 1]) {
			error("job: %s", e->msg);
			return -1;
		}
	}
	return 0;
}

int cmd_export(struct cmd_ctx *c, int argc, char **argv)
{
	struct export_opts o = { 0 };
	char *text = NULL;
	struct api_err e = { 0 };
	struct store *st = NULL;
	json_t *run = NULL, **jobs = NULL, **job_builds = NULL, *builds = NULL;
	char *logs = NULL;
	size_t n = 0;
	int ret = export_parse(&o, argc, argv);
	const char *junit_out = o.junit_out, *kcidb_out = o.kcidb_out;

	if (ret >= 0)
		return ret;
	ret = 2;
	c->db = o.db;
	if (!(st = cmd_store(c)))
		return 3;
	if (!o.run_id && !(o.run_id = latest_run(st, &e)))
		goto out;
	run = api_run(store_db(st), o.run_id, &e);
	if (!run) {
		error("run %lu: %s", o.run_id, e.msg);
		goto out;
	}
	if (load_jobs(st, run, &jobs, &job_builds, &n, &e))
		goto out;
	if (!(builds = builds_of_run(store_db(st), (int64_t)o.run_id, &e))) {
		error("builds: %s", e.msg);
		goto out;
	}
	logs = logdir_of(store_path(st));
	text = junit_out ? junit(run, jobs, n, builds) : kcidb(jobs, n, job_builds, builds, logs);
	if (!text) {
		ret = 3;	/* the error is named; nothing was written */
		goto out;
	}
	if (write_file_atomic(junit_out ? junit_out : kcidb_out, text, strlen(text)) < 0) {
		error_errno("cannot write '%s'", junit_out ? junit_out : kcidb_out);
		ret = 3;
		goto out;
	}
	ret = 0;
out:
	for (size_t k = 0; k < n; k++)
		json_decref(jobs[k]), json_decref(job_builds[k]);
	free(jobs);
	free(job_builds);
	json_decref(builds);
	free(logs);
	free(text);
	json_decref(run);
	return ret;
}
