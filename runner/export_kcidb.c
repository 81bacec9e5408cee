/* KCIDB v5 JSON: checkouts, builds, tests; ids "kfarm:..."; a source build
 * is a KCIDB build with its real status, duration and log, the tests of its
 * kernel under it; test paths encoded as kcidb_path says. A value that
 * cannot be encoded fails the export. */
#include "export.h"
#include "history.h"
#include "job.h"
#include "text.h"
#include "util.h"

#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* KCIDB test status from kfarm's test status and job outcome. */
static const char *kcidb_status(const char *st, const char *outcome)
{
	switch (hist_status_parse(st)) {
	case HS_PASS: return "PASS";
	case HS_SKIP: return "SKIP";
	case HS_FAIL: return "FAIL";
	default:	/* never ran: the kernel's fault unless the infrastructure's */
		return job_outcome_parse(outcome) == JOB_INFRA_ERROR ? "ERROR" : "MISS";
	}
}

/* KCIDB status of a job's boot test from its outcome. */
static const char *kcidb_boot_status(const char *outcome)
{
	switch (job_outcome_parse(outcome)) {
	case JOB_COMPLETE: return "PASS";
	case JOB_INFRA_ERROR: return "ERROR";
	case JOB_NOT_BUILT: return "MISS";
	default: return "FAIL";
	}
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
static int append(json_t *arr, json_t *o, const char *what, json_t *job, struct err *e)
{
	if (!json_array_append_new(arr, o))
		return 0;
	return err_set(e, 0, "KCIDB export: cannot encode the %s of job %lld", what,
		       (long long)json_integer_value(json_object_get(job, "id")));
}

/* A candidate (image) is a checkout + a build for one arch, listed once. */
static int kcidb_build(json_t *checkouts, json_t *builds, json_t *j, const char *co,
		       const char *bu, const char *ts, struct err *e)
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
		   "checkout", j, e))
		return -1;
	return append(builds, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "id", bu,
					"origin", "kfarm", "checkout_id", co, "architecture",
					js(j, "arch"), "status", "PASS", "start_time", ts),
		      "build", j, e);
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
static int kcidb_source_build(json_t *checkouts, json_t *builds, json_t *b, const char *logs,
			      struct err *e)
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
		if (append(checkouts, c, "checkout", b, e))
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
	return append(builds, o, "build", b, e);
}

static int kcidb_job(json_t *checkouts, json_t *builds, json_t *tests, json_t *j,
		     json_t *src_build, const char *logs, struct err *e)
{
	const char *sha = js(j, "image_sha256"), *outcome = js(j, "outcome");
	long long jid = (long long)json_integer_value(json_object_get(j, "id"));
	char ts[32], co[96], bu[128], id[64];
	struct sb path;
	size_t k;
	json_t *r;

	rfc3339(jnum(j, "started"), ts);
	if (src_build) {	/* built from source: the tests hang under that build */
		if (kcidb_source_build(checkouts, builds, src_build, logs, e))
			return -1;
		snprintf(bu, sizeof(bu), "kfarm:build%lld",
			 (long long)json_integer_value(json_object_get(src_build, "id")));
	} else {
		snprintf(co, sizeof(co), "kfarm:%.16s", sha);
		snprintf(bu, sizeof(bu), "kfarm:%.16s-%.64s", sha, js(j, "arch"));
		if (kcidb_build(checkouts, builds, j, co, bu, ts, e))
			return -1;
	}
	snprintf(id, sizeof(id), "kfarm:job%lld-boot", jid);
	if (append(tests, json_pack(
		"{s:s, s:s, s:s, s:s, s:s, s:f, s:{s:s}, s:{s:s, s:s}}",
		"id", id, "origin", "kfarm", "build_id", bu, "path", "boot",
		"status", kcidb_boot_status(outcome),
		"duration", jnum(j, "duration_s"),
		"environment", "comment", js(j, "qemu_version"),
		"misc", "outcome", outcome, "reason", js(j, "reason")), "boot test", j, e))
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
			"misc", "test", js(r, "test"), "reason", js(r, "reason")), "results", j,
			   e)) {
			sb_release(&path);
			return -1;
		}
	}
	sb_release(&path);
	return 0;
}

static char *render(const struct export_input *in, struct err *e)
{
	json_t **jobs = in->jobs, **job_builds = in->job_builds, *run_builds = in->builds;
	size_t n = in->n;
	const char *logs = in->logs;
	json_t *root = json_pack("{s:{s:i,s:i}, s:[], s:[], s:[]}", "version", "major", 5,
				 "minor", 0, "checkouts", "builds", "tests");
	char *out = NULL;

	if (!root) {
		err_set(e, 0, "KCIDB export: cannot build the document");
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		if (kcidb_job(json_object_get(root, "checkouts"), json_object_get(root, "builds"),
			      json_object_get(root, "tests"), jobs[i],
			      json_array_get(job_builds[i], 0), logs, e))
			goto out;
	/* and the builds that booted nothing */
	json_t *b;
	size_t k;
	json_array_foreach(run_builds, k, b)
		if (kcidb_source_build(json_object_get(root, "checkouts"),
				       json_object_get(root, "builds"), b, logs, e))
			goto out;
	out = json_dumps(root, JSON_INDENT(1));
	if (!out)
		err_set(e, 0, "KCIDB export: cannot serialise the document");
out:
	json_decref(root);
	return out;
}

const struct exporter export_fmt_kcidb = {
	"kcidb", "KCIDB v5 JSON (checkouts, builds, tests)", render,
};
