/* kfarm run, report (run_report.h). */
#include "run_report.h"
#include "history.h"
#include "job.h"
#include "store.h"
#include "text.h"
#include "util.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

/* A finished job as the summary shows it: its final attempt's row. */
struct shown {
	const char *arch, *label, *image, *outcome, *reason, *release, *host;
	const char *machine, *variant, *accel, *accel_reason;
	int oc;			/* enum job_outcome of .outcome, -1 unknown */
	int has_boot, attempt, smp, memory_mb;
	double boot_s, duration_s;
	long long cnt[4];	/* PASS, FAIL, SKIP, MISSING (enum res_status) */
};

enum { C_PASS, C_FAIL, C_SKIP, C_MISSING };

static const char *text_or(sqlite3_stmt *s, int i, const char *dflt)
{
	return sqlite3_column_type(s, i) == SQLITE_TEXT ? (const char *)sqlite3_column_text(s, i)
							 : dflt;
}

static sqlite3_stmt *prep_q(const struct run_report *r, const char *sql)
{
	sqlite3_stmt *q = NULL;

	if (sqlite3_prepare_v2(store_db(r->st), sql, -1, &q, NULL) != SQLITE_OK) {
		error("database '%s': cannot read the run back: %s", store_path(r->st),
		      sqlite3_errmsg(store_db(r->st)));
		q = NULL;
	}
	return q;
}

static sqlite3_stmt *prep_job_q(const struct run_report *r)
{
	return prep_q(r, "SELECT j.outcome, j.reason, j.release, j.boot_s, j.duration_s,"
			 " j.attempt, j.host, COALESCE(n.pass, 0), COALESCE(n.fail, 0),"
			 " COALESCE(n.skip, 0), COALESCE(n.missing, 0), j.arch, c.label,"
			 " c.image_path, c.machine, j.variant, j.smp, j.memory_mb, j.accel,"
			 " j.accel_reason FROM jobs j JOIN candidates c ON c.id = j.candidate_id"
			 " LEFT JOIN sum_job n ON n.job_id = j.id WHERE j.id = ?");
}

static sqlite3_stmt *prep_res_q(const struct run_report *r)
{
	return prep_q(r, "SELECT test, status, reason, depth FROM results WHERE job_id = ?"
			 " ORDER BY id");
}

/* Row id into *o (its strings live until q's next step); 0 if not found. */
static int job_shown(sqlite3_stmt *q, int64_t id, struct shown *o)
{
	if (!q || !id)
		return 0;
	sqlite3_reset(q);
	sqlite3_bind_int64(q, 1, id);
	if (sqlite3_step(q) != SQLITE_ROW)
		return 0;
	*o = (struct shown){
		.outcome = text_or(q, 0, "?"), .reason = text_or(q, 1, NULL),
		.release = text_or(q, 2, NULL), .has_boot = sqlite3_column_type(q, 3) != SQLITE_NULL,
		.boot_s = sqlite3_column_double(q, 3), .duration_s = sqlite3_column_double(q, 4),
		.attempt = sqlite3_column_int(q, 5), .host = text_or(q, 6, NULL),
		.arch = text_or(q, 11, "?"), .label = text_or(q, 12, "?"),
		.image = text_or(q, 13, ""), .machine = text_or(q, 14, ""),
		.variant = text_or(q, 15, NULL), .smp = sqlite3_column_int(q, 16),
		.memory_mb = sqlite3_column_int(q, 17), .accel = text_or(q, 18, ""),
		.accel_reason = text_or(q, 19, ""),
	};
	o->oc = job_outcome_parse(o->outcome);
	for (int k = 0; k < 4; k++)
		o->cnt[k] = sqlite3_column_int64(q, 7 + k);
	return 1;
}

int run_report_verdict(const struct run_report *r)
{
	sqlite3_stmt *q = prep_job_q(r);
	int ret = 0, infra = 0;

	for (size_t i = 0; i < r->n; i++) {
		struct shown o;

		if (!job_shown(q, r->jobs[i], &o))
			continue;
		if (o.oc == JOB_INFRA_ERROR)
			infra = 1;
		else if (o.oc != JOB_COMPLETE || o.cnt[C_FAIL] || o.cnt[C_MISSING])
			ret = 1;
	}
	sqlite3_finalize(q);
	return !ret && infra ? 3 : ret;
}

static void print_failures(sqlite3_stmt *rq, int64_t id, const struct shown *s, FILE *f)
{
	if (!rq)
		return;
	sqlite3_reset(rq);
	sqlite3_bind_int64(rq, 1, id);
	while (sqlite3_step(rq) == SQLITE_ROW) {
		const char *st = text_or(rq, 1, "?"), *reason = text_or(rq, 2, "");
		int hs = hist_status_parse(st);
		struct text_pool p = { 0 };

		if (sqlite3_column_int(rq, 3) == 0 && (hs == HS_FAIL || hs == HS_MISSING))
			fprintf(f, "  %s %s: %s %s%s%s\n", text_term(&p, s->arch),
				text_term(&p, s->label), text_term(&p, text_or(rq, 0, "?")),
				text_term(&p, st), *reason ? ": " : "", text_term(&p, reason));
		text_pool_release(&p);
	}
}

static void print_changes(json_t *changes, FILE *f)
{
	struct text_pool p = { 0 };
	json_t *o;
	size_t ci;

	if (json_array_size(changes))
		fprintf(f, "\nchanges since the previous candidate of each tree:\n");
	json_array_foreach(changes, ci, o) {
		json_t *from = json_object_get(o, "from"), *to = json_object_get(o, "to");

		fprintf(f, "  %-14s %-12s %-8s %-16s %s %s -> %s %s\n",
			text_term(&p, json_string_value(json_object_get(o, "kind"))),
			text_term(&p, json_string_value(json_object_get(o, "tree"))),
			text_term(&p, json_string_value(json_object_get(o, "arch"))),
			text_term(&p, json_string_value(json_object_get(o, "test"))),
			text_term(&p, json_string_value(json_object_get(from, "kernel"))),
			text_term(&p, json_string_value(json_object_get(from, "status"))),
			text_term(&p, json_string_value(json_object_get(to, "kernel"))),
			text_term(&p, json_string_value(json_object_get(to, "status"))));
		text_pool_release(&p);
	}
}

/* Guest text (release, reasons, test names) and the history's strings go
 * through text_term: the summary is for a terminal. */
void run_report_summary(const struct run_report *r, json_t *changes, FILE *f)
{
	sqlite3_stmt *q = prep_job_q(r), *rq = prep_res_q(r);
	struct text_pool p = { 0 };
	struct shown s;
	int kw = 16, nshown = 0;

	/* the labels whole (a cut "linux-source-6.1" once read as 6.1 for 6.12),
	 * aligned up to 48 columns */
	for (size_t i = 0; i < r->n; i++)
		if (job_shown(q, r->jobs[i], &s)) {
			int w = (int)strlen(text_term(&p, s.label));

			kw = w > kw ? (w > 48 ? 48 : w) : kw;
			nshown++;
			text_pool_release(&p);
		}
	if (!nshown)	/* e.g. no arch built: the build table says why */
		fprintf(f, "\nrun %lld summary: no job booted\n", (long long)r->run);
	else
		fprintf(f, "\nrun %lld summary\n%-9s %-*s %-12s %6s %5s %5s %5s %5s  %s\n",
			(long long)r->run, "ARCH", kw, "KERNEL", "OUTCOME", "BOOT", "PASS", "FAIL",
			"SKIP", "MISS", "RELEASE");
	for (size_t i = 0; i < r->n; i++) {
		if (!job_shown(q, r->jobs[i], &s))
			continue;
		fprintf(f, "%-9s %-*s %-12s %5.1fs %5lld %5lld %5lld %5lld  %s\n",
			text_term(&p, s.arch), kw, text_term(&p, s.label), s.outcome, s.boot_s,
			s.cnt[C_PASS], s.cnt[C_FAIL], s.cnt[C_SKIP], s.cnt[C_MISSING],
			s.release ? text_term(&p, s.release) : "-");
		text_pool_release(&p);
	}
	for (size_t i = 0; i < r->n; i++) {
		if (!job_shown(q, r->jobs[i], &s))
			continue;
		if (s.oc != JOB_COMPLETE)
			fprintf(f, "  %s %s: %s: %s\n", text_term(&p, s.arch), text_term(&p, s.label),
				s.outcome, text_term(&p, s.reason));
		text_pool_release(&p);
		print_failures(rq, r->jobs[i], &s, f);
	}
	sqlite3_finalize(q);
	sqlite3_finalize(rq);
	print_changes(changes, f);
}

static json_t *nstr(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *results_json(sqlite3_stmt *rq, int64_t id)
{
	json_t *res = json_array();

	if (!rq)
		return res;
	sqlite3_reset(rq);
	sqlite3_bind_int64(rq, 1, id);
	while (sqlite3_step(rq) == SQLITE_ROW) {
		const char *reason = text_or(rq, 2, NULL);
		json_t *ro = json_pack("{s:s, s:s}", "test", text_or(rq, 0, "?"),
				       "status", text_or(rq, 1, "?"));

		if (ro && reason && *reason && json_object_set_new(ro, "reason", nstr(reason)))
			json_decref(ro), ro = NULL;
		if (!ro || json_array_append_new(res, ro)) {
			json_decref(res);
			return NULL;
		}
	}
	return res;
}

/* One job's summary object, its results read back from the store. */
static json_t *job_json(sqlite3_stmt *q, sqlite3_stmt *rq, int64_t id)
{
	struct shown s;
	json_t *res;

	if (!job_shown(q, id, &s))
		return NULL;
	if (!(res = results_json(rq, id)))
		return NULL;
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:f, s:i, s:o, s:s, s:o, s:i,"
			 " s:i, s:s, s:s, s:I, s:I, s:I, s:I, s:o}",
			 "arch", s.arch, "label", s.label, "kernel", s.label, "image", s.image,
			 "outcome", s.outcome, "reason", nstr(s.reason), "release", nstr(s.release),
			 "boot_s", s.has_boot ? json_real(s.boot_s) : json_null(),
			 "duration_s", s.duration_s, "attempts", s.attempt, "host", nstr(s.host),
			 "machine", s.machine, "variant", nstr(s.variant), "smp", s.smp,
			 "memory_mb", s.memory_mb, "accel", s.accel, "accel_reason", s.accel_reason,
			 "pass", (json_int_t)s.cnt[C_PASS], "fail", (json_int_t)s.cnt[C_FAIL],
			 "skip", (json_int_t)s.cnt[C_SKIP], "missing", (json_int_t)s.cnt[C_MISSING],
			 "results", res);
}

int run_report_json(const struct run_report *r, json_t *changes)
{
	sqlite3_stmt *q = prep_job_q(r), *rq = prep_res_q(r);
	char *ch = json_dumps(changes, JSON_INDENT(2));
	int bad = !ch, first = 1;

	printf("{\n\"run\": %lld,\n\"changes\": %s,\n\"jobs\": [\n", (long long)r->run,
	       ch ? ch : "[]");
	free(ch);
	for (size_t i = 0; i < r->n; i++) {
		json_t *o;

		if (!r->jobs[i])
			continue;
		if (!(o = job_json(q, rq, r->jobs[i]))) {
			bad = 1;
			continue;
		}
		if (!first)
			fputs(",\n", stdout);
		first = 0;
		json_dumpf(o, stdout, JSON_INDENT(2));
		json_decref(o);
	}
	fputs("\n]\n}\n", stdout);
	sqlite3_finalize(q);
	sqlite3_finalize(rq);
	if (bad)
		error("some jobs could not be written to the JSON summary (a value jansson refused)");
	return bad;
}
