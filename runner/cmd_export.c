/* kfarm export: one run's results in a format of exporters[] (export.h;
 * a format is its own file and one entry in export.c), written atomically. */
#include "export.h"
#include "api.h"
#include "build_db.h"
#include "logdir.h"
#include "cmds.h"
#include "store.h"
#include "util.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void export_usage(FILE *f)
{
	fputs("usage: kfarm export (", f);
	for (size_t i = 0; i < nexporters; i++)
		fprintf(f, "%s--%s FILE", i ? " | " : "", exporters[i]->name);
	fputs(") [--run ID] [--db PATH]\n\nExports one run (default: the latest) as:\n", f);
	for (size_t i = 0; i < nexporters; i++)
		fprintf(f, "  --%-8s %s\n", exporters[i]->name, exporters[i]->help);
}

struct export_opts {
	const struct exporter *ex;
	const char *out, *db;
	unsigned long run_id;
};

/* The command line into o; -1 to go on, else the exit status. */
static int export_parse(struct export_opts *o, int argc, char **argv)
{
	enum { OPT_RUN = 256, OPT_DB, OPT_FORMAT };	/* OPT_FORMAT + i: exporters[i] */
	struct option opts[nexporters + 4];
	int opt, nformats = 0;

	for (size_t i = 0; i < nexporters; i++)
		opts[i] = (struct option){ exporters[i]->name, required_argument, NULL,
					   OPT_FORMAT + (int)i };
	opts[nexporters] = (struct option){ "run", required_argument, NULL, OPT_RUN };
	opts[nexporters + 1] = (struct option){ "db", required_argument, NULL, OPT_DB };
	opts[nexporters + 2] = (struct option){ "help", no_argument, NULL, 'h' };
	opts[nexporters + 3] = (struct option){ NULL, 0, NULL, 0 };
	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (opt >= OPT_FORMAT && opt < OPT_FORMAT + (int)nexporters) {
			o->ex = exporters[opt - OPT_FORMAT];
			o->out = optarg;
			nformats++;
			continue;
		}
		switch (opt) {
		case OPT_DB: o->db = optarg; break;
		case OPT_RUN:
			if (parse_uint(optarg, 1ul << 53, &o->run_id) || !o->run_id)
				return error("--run wants a run id, got '%s'", optarg), 2;
			break;
		case 'h': export_usage(stdout); return 0;
		default: export_usage(stderr); return 2;
		}
	}
	if (nformats != 1 || optind < argc) {
		export_usage(stderr);
		return 2;
	}
	return -1;
}

/* The newest run's id; 0 (e set) if there is none. */
static unsigned long latest_run(struct store *st, struct err *e)
{
	json_t *runs = api_runs(store_db(st), 1, e);
	unsigned long run_id = 0;

	if (runs && json_array_size(runs))
		run_id = json_integer_value(json_object_get(json_array_get(runs, 0), "id"));
	json_decref(runs);
	if (!run_id)
		err_set(e, 404, "no runs in '%s' to export", store_path(st));
	return run_id;
}

/* Each of run's jobs in full, and its builds, appended to *jobs and
 * *job_builds (*n of them, freed by the caller even on failure). */
static int load_jobs(struct store *st, json_t *run, json_t ***jobs, json_t ***job_builds,
		     size_t *n, struct err *e)
{
	json_t *j;
	size_t i;

	json_array_foreach(json_object_get(run, "jobs"), i, j) {
		json_t *full = api_job(store_db(st), json_integer_value(json_object_get(j, "id")), e);

		if (!full)
			return err_prefix(e, "job: ");
		*jobs = xrealloc(*jobs, (*n + 1) * sizeof(**jobs));
		*job_builds = xrealloc(*job_builds, (*n + 1) * sizeof(**job_builds));
		(*job_builds)[*n] = builds_of_job(store_db(st), json_integer_value(json_object_get(j,
						  "id")), e);
		(*jobs)[(*n)++] = full;
		if (!(*job_builds)[*n - 1])
			return err_prefix(e, "job: ");
	}
	return 0;
}

int cmd_export(struct cmd_ctx *c, int argc, char **argv)
{
	struct export_opts o = { 0 };
	char *text = NULL;
	struct err e = { 0 };
	struct store *st = NULL;
	json_t *run = NULL, **jobs = NULL, **job_builds = NULL, *builds = NULL;
	char *logs = NULL;
	size_t n = 0;
	int ret = export_parse(&o, argc, argv);

	if (ret >= 0)
		return ret;
	ret = 2;
	c->db = o.db;
	if (!(st = cmd_store(c)))
		return 3;
	if (!o.run_id && !(o.run_id = latest_run(st, &e))) {
		error("%s", e.msg);
		goto out;
	}
	run = api_run(store_db(st), o.run_id, &e);
	if (!run) {
		error("run %lu: %s", o.run_id, e.msg);
		goto out;
	}
	if (load_jobs(st, run, &jobs, &job_builds, &n, &e)) {
		error("%s", e.msg);
		goto out;
	}
	if (!(builds = builds_of_run(store_db(st), (int64_t)o.run_id, &e))) {
		error("builds: %s", e.msg);
		goto out;
	}
	logs = logdir_of(store_path(st));
	text = o.ex->render(&(struct export_input){ run, jobs, job_builds, builds, n, logs }, &e);
	if (!text) {
		error("%s", e.msg);
		ret = 3;	/* nothing was written */
		goto out;
	}
	if (write_file_atomic(o.out, text, strlen(text)) < 0) {
		error_errno("cannot write '%s'", o.out);
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
