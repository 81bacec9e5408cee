/* kfarm run, report: summary and --json, read back from the store. */
#include "accel.h"
#include "backend.h"
#include "build_regress.h"
#include "cache.h"
#include "cmds.h"
#include "hosts.h"
#include "job.h"
#include "logdir.h"
#include "pin.h"
#include "profile.h"
#include "regress.h"
#include "run.h"
#include "sched.h"
#include "srcset.h"
#include "store.h"
#include "text.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A finished job as the summary shows it: read back from the store (by its
 * final attempt's row), or from memory when it was never stored. */
struct shown {
	const char *outcome, *reason, *release, *host;
	int has_boot, attempt;
	double boot_s, duration_s;
	long long cnt[4];
};

static const char *text_or(sqlite3_stmt *s, int i, const char *dflt)
{
	return sqlite3_column_type(s, i) == SQLITE_TEXT ? (const char *)sqlite3_column_text(s, i)
							 : dflt;
}

static void job_shown(struct run_ctx *c, sqlite3_stmt *q, size_t i, struct shown *o)
{
	struct job *j = c->jobs[i];

	*o = (struct shown){ job_outcome_name(j->outcome), j->reason, j->release, job_host(j),
			     j->t_header != 0, j->attempt, j->boot_s, j->duration_s, { 0 } };
	for (size_t k = 0; k < j->nres; k++)	/* never stored: still in memory */
		if (j->res[k].depth == 0)
			o->cnt[j->res[k].status]++;
	if (!q || !c->stored[i])
		return;
	memset(o->cnt, 0, sizeof(o->cnt));
	sqlite3_reset(q);
	sqlite3_bind_int64(q, 1, c->stored[i]);
	if (sqlite3_step(q) != SQLITE_ROW)
		return;
	o->outcome = text_or(q, 0, "?");
	o->reason = text_or(q, 1, NULL);
	o->release = text_or(q, 2, NULL);
	o->has_boot = sqlite3_column_type(q, 3) != SQLITE_NULL;
	o->boot_s = sqlite3_column_double(q, 3);
	o->duration_s = sqlite3_column_double(q, 4);
	o->attempt = sqlite3_column_int(q, 5);
	o->host = text_or(q, 6, NULL);
	for (int k = 0; k < 4; k++)
		o->cnt[k] = sqlite3_column_int64(q, 7 + k);
}

static sqlite3_stmt *prep_q(struct run_ctx *c, const char *sql)
{
	sqlite3_stmt *q = NULL;

	if (sqlite3_prepare_v2(store_db(c->st), sql, -1, &q, NULL) != SQLITE_OK) {
		error("database '%s': cannot read the run back: %s", store_path(c->st),
		      sqlite3_errmsg(store_db(c->st)));
		q = NULL;
	}
	return q;
}

static sqlite3_stmt *prep_job_q(struct run_ctx *c)
{
	return prep_q(c, "SELECT j.outcome, j.reason, j.release, j.boot_s, j.duration_s,"
			 " j.attempt, j.host, COALESCE(n.pass, 0), COALESCE(n.fail, 0),"
			 " COALESCE(n.skip, 0), COALESCE(n.missing, 0)"
			 " FROM jobs j LEFT JOIN sum_job n ON n.job_id = j.id WHERE j.id = ?");
}

static sqlite3_stmt *prep_res_q(struct run_ctx *c)
{
	return prep_q(c, "SELECT test, status, reason, depth FROM results WHERE job_id = ?"
			 " ORDER BY id");
}

/* 0 all passed, 1 a kernel or test failure, 3 only infrastructure errors */
int run_verdict(struct run_ctx *c)
{
	sqlite3_stmt *q = prep_job_q(c);
	int ret = 0, infra = 0;

	for (size_t i = 0; i < c->n; i++) {
		struct shown o;

		job_shown(c, q, i, &o);
		if (!strcmp(o.outcome, "INFRA_ERROR"))
			infra = 1;
		else if (strcmp(o.outcome, "COMPLETE") || o.cnt[RS_FAIL] || o.cnt[RS_MISSING])
			ret = 1;
	}
	sqlite3_finalize(q);
	return !ret && infra ? 3 : ret;
}

static void print_failures(struct run_ctx *c, sqlite3_stmt *rq, size_t i, FILE *f)
{
	struct job *j = c->jobs[i];

	if (!rq || !c->stored[i])
		return;
	sqlite3_reset(rq);
	sqlite3_bind_int64(rq, 1, c->stored[i]);
	while (sqlite3_step(rq) == SQLITE_ROW) {
		const char *st = text_or(rq, 1, "?"), *reason = text_or(rq, 2, "");
		struct text_pool p = { 0 };

		if (sqlite3_column_int(rq, 3) == 0 && (!strcmp(st, "FAIL") || !strcmp(st, "MISSING")))
			fprintf(f, "  %s %s: %s %s%s%s\n", j->arch, j->label,
				text_term(&p, text_or(rq, 0, "?")), text_term(&p, st),
				*reason ? ": " : "", text_term(&p, reason));
		text_pool_release(&p);
	}
}

/* Guest text (release, reasons, test names) and the history's strings go
 * through text_term: the summary is for a terminal. */
void print_summary(struct run_ctx *c, json_t *changes, FILE *f)
{
	sqlite3_stmt *q = prep_job_q(c), *rq = prep_res_q(c);
	struct text_pool p = { 0 };
	json_t *o;
	size_t ci;

	fprintf(f, "\nrun %lld summary\n%-9s %-16s %-12s %6s %5s %5s %5s %5s  %s\n",
		(long long)c->run, "ARCH", "KERNEL", "OUTCOME", "BOOT", "PASS", "FAIL", "SKIP",
		"MISS", "RELEASE");
	for (size_t i = 0; i < c->n; i++) {
		struct job *j = c->jobs[i];
		struct shown s;

		job_shown(c, q, i, &s);
		fprintf(f, "%-9s %-16.16s %-12s %5.1fs %5lld %5lld %5lld %5lld  %s\n", j->arch,
			j->label, s.outcome, s.boot_s, s.cnt[RS_PASS], s.cnt[RS_FAIL],
			s.cnt[RS_SKIP], s.cnt[RS_MISSING], s.release ? text_term(&p, s.release) : "-");
		text_pool_release(&p);
	}
	for (size_t i = 0; i < c->n; i++) {
		struct job *j = c->jobs[i];
		struct shown s;

		job_shown(c, q, i, &s);
		if (strcmp(s.outcome, "COMPLETE"))
			fprintf(f, "  %s %s: %s: %s\n", j->arch, j->label, s.outcome,
				text_term(&p, s.reason));
		text_pool_release(&p);
		print_failures(c, rq, i, f);
	}
	sqlite3_finalize(q);
	sqlite3_finalize(rq);
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

static json_t *nstr(const char *s)
{
	return s ? json_string(s) : json_null();
}

/* One job's summary object, its results read back from the store. */
static json_t *job_json(struct run_ctx *c, sqlite3_stmt *q, sqlite3_stmt *rq, size_t i)
{
	struct job *j = c->jobs[i];
	json_t *res = json_array();
	struct shown s;

	job_shown(c, q, i, &s);
	if (rq && c->stored[i]) {
		sqlite3_reset(rq);
		sqlite3_bind_int64(rq, 1, c->stored[i]);
		while (sqlite3_step(rq) == SQLITE_ROW) {
			const char *reason = text_or(rq, 2, NULL);
			json_t *ro = json_pack("{s:s, s:s}", "test", text_or(rq, 0, "?"),
					       "status", text_or(rq, 1, "?"));

			if (ro && reason && *reason)
				json_object_set_new(ro, "reason", nstr(reason));
			if (!ro || json_array_append_new(res, ro)) {
				json_decref(res);
				return NULL;
			}
		}
	}
	return json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:f, s:i, s:o, s:s, s:o, s:i, s:i,"
			 " s:s, s:s, s:I, s:I, s:I, s:I, s:o}",
			 "arch", j->arch, "label", j->label, "kernel", j->kernel,
			 "outcome", s.outcome, "reason", nstr(s.reason), "release", nstr(s.release),
			 "boot_s", s.has_boot ? json_real(s.boot_s) : json_null(),
			 "duration_s", s.duration_s, "attempts", s.attempt,
			 "host", nstr(s.host ? s.host : job_host(j)),
			 /* the machine asked for, kept in memory (never freed with the results) */
			 "machine", j->machine_key,
			 "variant", *j->machine.variant ? json_string(j->machine.variant) : json_null(),
			 "smp", (int)j->machine.smp, "memory_mb", (int)j->machine.memory_mb,
			 "accel", j->accel, "accel_reason", j->accel_reason ? j->accel_reason : "",
			 "pass", (json_int_t)s.cnt[RS_PASS], "fail", (json_int_t)s.cnt[RS_FAIL],
			 "skip", (json_int_t)s.cnt[RS_SKIP], "missing", (json_int_t)s.cnt[RS_MISSING],
			 "results", res);
}

/* Streamed job by job, so that a long run's summary needs no memory per job. */
int print_json(struct run_ctx *c, json_t *changes)
{
	sqlite3_stmt *q = prep_job_q(c), *rq = prep_res_q(c);
	char *ch = json_dumps(changes, JSON_INDENT(2));
	int bad = !ch;

	printf("{\n\"run\": %lld,\n\"changes\": %s,\n\"jobs\": [\n", (long long)c->run, ch ? ch : "[]");
	free(ch);
	for (size_t i = 0; i < c->n; i++) {
		json_t *o = job_json(c, q, rq, i);

		if (!o) {
			bad = 1;
			continue;
		}
		if (i)
			fputs(",\n", stdout);
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
