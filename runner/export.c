/* kfarm export: a run's results as JUnit XML (one testsuite per job, as
 * Jenkins and GitLab read it) or as KCIDB v5 JSON (checkouts, builds, tests;
 * ids "kfarm:..."), written atomically. */
#include "api.h"
#include "cmds.h"
#include "store.h"
#include "util.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char export_usage[] =
	"usage: kfarm export (--junit FILE | --kcidb FILE) [--run ID] [--db PATH]\n"
	"\n"
	"Exports one run (default: the latest) as JUnit XML or KCIDB v5 JSON.\n";

static void xml_escape(struct sb *sb, const char *s)
{
	for (; s && *s; s++) {
		unsigned char c = *s;

		switch (c) {
		case '<': sb_adds(sb, "&lt;"); break;
		case '>': sb_adds(sb, "&gt;"); break;
		case '&': sb_adds(sb, "&amp;"); break;
		case '"': sb_adds(sb, "&quot;"); break;
		default:
			/* XML 1.0 forbids most control characters, even escaped */
			if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
				sb_adds(sb, "?");
			else
				sb_add(sb, s, 1);
		}
	}
}

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

static char *junit(json_t *run, json_t **jobs, size_t n)
{
	struct sb sb;

	sb_init(&sb);
	sb_addf(&sb, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		     "<testsuites name=\"kfarm run %lld\">\n",
		(long long)json_integer_value(json_object_get(run, "id")));
	for (size_t i = 0; i < n; i++) {
		json_t *j = jobs[i], *r;
		size_t k, tests = 0, fail = 0, err = 0, skip = 0;
		const char *outcome = js(j, "outcome");
		int job_bad = strcmp(outcome, "COMPLETE") != 0;
		char ts[32];

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
		if (job_bad) {
			if (!strcmp(outcome, "INFRA_ERROR"))
				err++;
			else
				fail++;
		}
		rfc3339(jnum(j, "started"), ts);
		sb_adds(&sb, "  <testsuite name=\"");
		xml_escape(&sb, js(j, "arch"));
		sb_adds(&sb, " ");
		xml_escape(&sb, js(j, "kernel"));
		sb_addf(&sb, "\" id=\"%lld\" tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" "
			     "skipped=\"%zu\" time=\"%.3f\" timestamp=\"%s\" hostname=\"",
			(long long)json_integer_value(json_object_get(j, "id")), tests, fail, err,
			skip, jnum(j, "duration_s"), ts);
		xml_escape(&sb, js(j, "host"));
		sb_adds(&sb, "\">\n    <properties>\n");
		static const char *const props[] = { "release", "outcome", "qemu_version", "tree" };
		for (size_t p = 0; p < ARRAY_SIZE(props); p++) {
			sb_addf(&sb, "      <property name=\"%s\" value=\"", props[p]);
			xml_escape(&sb, js(j, props[p]));
			sb_adds(&sb, "\"/>\n");
		}
		sb_adds(&sb, "    </properties>\n    <testcase name=\"boot\" classname=\"kfarm.");
		xml_escape(&sb, js(j, "arch"));
		sb_addf(&sb, "\" time=\"%.3f\"", jnum(j, "boot_s"));
		if (job_bad) {
			sb_addf(&sb, ">\n      <%s type=\"%s\" message=\"",
				!strcmp(outcome, "INFRA_ERROR") ? "error" : "failure", outcome);
			xml_escape(&sb, js(j, "reason"));
			sb_adds(&sb, "\"/>\n    </testcase>\n");
		} else {
			sb_adds(&sb, "/>\n");
		}
		json_array_foreach(json_object_get(j, "results"), k, r) {
			const char *st = js(r, "status");

			if (json_integer_value(json_object_get(r, "depth")))
				continue;
			sb_adds(&sb, "    <testcase name=\"");
			xml_escape(&sb, js(r, "test"));
			sb_adds(&sb, "\" classname=\"kfarm.");
			xml_escape(&sb, js(j, "arch"));
			sb_addf(&sb, "\" time=\"%.3f\"", jnum(r, "duration_s"));
			if (!strcmp(st, "PASS")) {
				sb_adds(&sb, "/>\n");
				continue;
			}
			sb_addf(&sb, ">\n      <%s message=\"",
				!strcmp(st, "FAIL") ? "failure" : !strcmp(st, "SKIP") ? "skipped"
											: "error");
			xml_escape(&sb, js(r, "reason"));
			sb_adds(&sb, "\"/>\n    </testcase>\n");
		}
		sb_adds(&sb, "  </testsuite>\n");
	}
	sb_adds(&sb, "</testsuites>\n");
	return sb_detach(&sb);
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

static char *kcidb(json_t **jobs, size_t n)
{
	json_t *root = json_pack("{s:{s:i,s:i}, s:[], s:[], s:[]}", "version", "major", 5,
				 "minor", 0, "checkouts", "builds", "tests");
	json_t *checkouts = json_object_get(root, "checkouts");
	json_t *builds = json_object_get(root, "builds");
	json_t *tests = json_object_get(root, "tests");
	char *out;

	for (size_t i = 0; i < n; i++) {
		json_t *j = jobs[i], *r;
		const char *sha = js(j, "image_sha256"), *outcome = js(j, "outcome");
		char ts[32], co[96], bu[128], id[160];
		size_t k;

		rfc3339(jnum(j, "started"), ts);
		/* a candidate (image) is a checkout + a build for one arch */
		snprintf(co, sizeof(co), "kfarm:%.16s", sha);
		snprintf(bu, sizeof(bu), "kfarm:%.16s-%s", sha, js(j, "arch"));
		int seen = 0;
		json_t *o;
		json_array_foreach(builds, k, o)
			seen |= !strcmp(js(o, "id"), bu);
		if (!seen) {
			json_array_append_new(checkouts, json_pack(
				"{s:s, s:s, s:s, s:s, s:s}", "id", co, "origin", "kfarm",
				"tree_name", *js(j, "tree") ? js(j, "tree") : "unknown",
				"git_commit_name", js(j, "kernel"), "start_time", ts));
			json_array_append_new(builds, json_pack(
				"{s:s, s:s, s:s, s:s, s:s, s:s}", "id", bu, "origin", "kfarm",
				"checkout_id", co, "architecture", js(j, "arch"),
				"status", "PASS", "start_time", ts));
		}
		snprintf(id, sizeof(id), "kfarm:job%lld-boot",
			 (long long)json_integer_value(json_object_get(j, "id")));
		json_array_append_new(tests, json_pack(
			"{s:s, s:s, s:s, s:s, s:s, s:f, s:{s:s}, s:{s:s, s:s}}",
			"id", id, "origin", "kfarm", "build_id", bu, "path", "boot",
			"status", !strcmp(outcome, "COMPLETE") ? "PASS"
				  : !strcmp(outcome, "INFRA_ERROR") ? "ERROR" : "FAIL",
			"duration", jnum(j, "duration_s"),
			"environment", "comment", js(j, "qemu_version"),
			"misc", "outcome", outcome, "reason", js(j, "reason")));
		json_array_foreach(json_object_get(j, "results"), k, r) {
			char path[300];

			snprintf(id, sizeof(id), "kfarm:job%lld-%zu",
				 (long long)json_integer_value(json_object_get(j, "id")), k);
			snprintf(path, sizeof(path), "kfarm.%s", js(r, "test"));
			for (char *p = path; *p; p++)
				if (*p == '/')
					*p = '.';
			json_array_append_new(tests, json_pack(
				"{s:s, s:s, s:s, s:s, s:s, s:s, s:{s:s}}",
				"id", id, "origin", "kfarm", "build_id", bu, "path", path,
				"status", kcidb_status(js(r, "status"), outcome), "start_time", ts,
				"misc", "reason", js(r, "reason")));
		}
	}
	out = json_dumps(root, JSON_INDENT(1));
	json_decref(root);
	return out;
}

int cmd_export(struct cmd_ctx *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "junit", required_argument, NULL, 'j' },
		{ "kcidb", required_argument, NULL, 'k' },
		{ "run", required_argument, NULL, 'r' },
		{ "db", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *junit_out = NULL, *kcidb_out = NULL;
	const char *db = NULL;
	char *text = NULL;
	unsigned long run_id = 0;
	struct api_err e = { 0 };
	struct store *st = NULL;
	json_t *run = NULL, **jobs = NULL;
	size_t n = 0;
	int opt, ret = 2;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'j': junit_out = optarg; break;
		case 'k': kcidb_out = optarg; break;
		case 'd': db = optarg; break;
		case 'r':
			if (parse_uint(optarg, 1ul << 53, &run_id) || !run_id)
				return error("--run wants a run id, got '%s'", optarg), 2;
			break;
		case 'h': fputs(export_usage, stdout); return 0;
		default: fputs(export_usage, stderr); return 2;
		}
	}
	if (!junit_out == !kcidb_out || optind < argc) {
		fputs(export_usage, stderr);
		return 2;
	}
	c->db = db;
	if (!(st = cmd_store(c)))
		return 3;
	if (!run_id) {
		json_t *runs = api_runs(store_db(st), 1, &e);

		if (runs && json_array_size(runs))
			run_id = json_integer_value(json_object_get(json_array_get(runs, 0), "id"));
		json_decref(runs);
		if (!run_id) {
			error("no runs in '%s' to export", store_path(st));
			goto out;
		}
	}
	run = api_run(store_db(st), run_id, &e);
	if (!run) {
		error("run %lu: %s", run_id, e.msg);
		goto out;
	}
	json_t *j;
	size_t i;
	json_array_foreach(json_object_get(run, "jobs"), i, j) {
		json_t *full = api_job(store_db(st), json_integer_value(json_object_get(j, "id")), &e);

		if (!full) {
			error("job: %s", e.msg);
			goto out;
		}
		jobs = xrealloc(jobs, (n + 1) * sizeof(*jobs));
		jobs[n++] = full;
	}
	text = junit_out ? junit(run, jobs, n) : kcidb(jobs, n);
	if (write_file_atomic(junit_out ? junit_out : kcidb_out, text, strlen(text)) < 0) {
		error_errno("cannot write '%s'", junit_out ? junit_out : kcidb_out);
		ret = 3;
		goto out;
	}
	ret = 0;
out:
	for (size_t k = 0; k < n; k++)
		json_decref(jobs[k]);
	free(jobs);
	free(text);
	json_decref(run);
	return ret;
}
