/* kfarm status / history / show: the API's queries, printed for a terminal
 * (or as the same JSON with --json). */
#include "api.h"
#include "cmds.h"
#include "regress.h"
#include "store.h"
#include "util.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct qopts {
	char *db, *arch, *test, *tree;
	int json;
	unsigned long limit;
	int64_t id;
};

static const char query_usage[] =
	"usage: kfarm status [--db PATH] [--json]\n"
	"       kfarm history [--arch A] [--test T] [--limit N] [--db PATH] [--json]\n"
	"       kfarm show JOB [--db PATH] [--json] [--no-log]\n"
	"       kfarm regressions [--tree T] [--db PATH] [--json]\n";

/* Shared option parsing; want_id: a positional JOB id is required. */
static int parse(int argc, char **argv, struct qopts *q, int want_id, int *nolog)
{
	static const struct option opts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "arch", required_argument, NULL, 'a' },
		{ "test", required_argument, NULL, 't' },
		{ "tree", required_argument, NULL, 'r' },
		{ "limit", required_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'J' },
		{ "no-log", no_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;
	unsigned long id;

	memset(q, 0, sizeof(*q));
	q->limit = 20;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "d:a:t:n:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'd': q->db = optarg; break;
		case 'a': q->arch = optarg; break;
		case 't': q->test = optarg; break;
		case 'r': q->tree = optarg; break;
		case 'J': q->json = 1; break;
		case 'L': if (nolog) *nolog = 1; break;
		case 'n':
			if (parse_uint(optarg, 100000, &q->limit) || !q->limit)
				return error("--limit wants 1..100000, got '%s'", optarg), 2;
			break;
		case 'h':
			fputs(query_usage, stdout);
			return 1;
		default:
			fputs(query_usage, stderr);
			return 2;
		}
	}
	if (want_id) {
		if (optind >= argc)
			return error("which job? (kfarm show JOB)"), 2;
		if (parse_uint(argv[optind], 1ul << 53, &id) || !id)
			return error("job id must be a positive integer, got '%s'", argv[optind]), 2;
		q->id = id;
		optind++;
	}
	if (optind < argc)
		return error("unexpected argument '%s'", argv[optind]), 2;
	return 0;
}

static struct store *open_ro(struct qopts *q)
{
	char *def = NULL;
	struct store *st;

	if (!q->db)
		q->db = def = xasprintf("%s/kfarm.db", data_dir());
	st = store_open(q->db, STORE_READONLY);
	free(def);
	q->db = NULL;
	return st;
}

static const char *s(json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));

	return v ? v : "-";
}

static int finish(json_t *v, struct api_err *e, int json, void (*print)(json_t *))
{
	if (!v)
		return error("%s", e->msg), e->code == 404 ? 1 : 3;
	if (json) {
		json_dumpf(v, stdout, JSON_INDENT(2));
		putchar('\n');
	} else {
		print(v);
	}
	json_decref(v);
	return 0;
}

static void print_status(json_t *v)
{
	json_t *o;
	size_t i;

	printf("%-9s %-16s %-12s %6s  %s\n", "ARCH", "KERNEL", "OUTCOME", "BOOT", "RELEASE");
	json_array_foreach(json_object_get(v, "jobs"), i, o)
		printf("%-9s %-16.16s %-12s %5.1fs  %s\n", s(o, "arch"), s(o, "kernel"),
		       s(o, "outcome"), json_number_value(json_object_get(o, "boot_s")),
		       s(o, "release"));
	printf("\n%-9s %-20s %-8s %s\n", "ARCH", "TEST", "STATUS", "REASON");
	json_array_foreach(json_object_get(v, "results"), i, o)
		printf("%-9s %-20s %-8s %s\n", s(o, "arch"), s(o, "test"), s(o, "status"),
		       json_is_string(json_object_get(o, "reason")) ? s(o, "reason") : "");
}

typedef json_t *(*query_fn)(sqlite3 *db, const struct qopts *q, struct api_err *e);

/* The common shape of status/history/regressions: options, read-only open,
 * one query, printed as a table or JSON. */
static int run_query(int argc, char **argv, query_fn query, void (*print)(json_t *))
{
	struct qopts q;
	struct api_err e = { 0 };
	struct store *st;
	int ret = parse(argc, argv, &q, 0, NULL);

	if (ret)
		return ret == 1 ? 0 : ret;
	if (!(st = open_ro(&q)))
		return 3;
	ret = finish(query(store_db(st), &q, &e), &e, q.json, print);
	store_close(st);
	return ret;
}

static json_t *q_status(sqlite3 *db, const struct qopts *q, struct api_err *e)
{
	(void)q;
	return api_status(db, e);
}

int cmd_status(int argc, char **argv)
{
	return run_query(argc, argv, q_status, print_status);
}

static void print_history(json_t *v)
{
	json_t *o;
	size_t i;

	printf("%-6s %-9s %-16s %-20s %-8s %s\n", "JOB", "ARCH", "KERNEL", "TEST", "STATUS",
	       "REASON");
	json_array_foreach(v, i, o)
		printf("%-6lld %-9s %-16.16s %-20s %-8s %s\n",
		       (long long)json_integer_value(json_object_get(o, "job")), s(o, "arch"),
		       s(o, "kernel"), s(o, "test"), s(o, "status"),
		       json_is_string(json_object_get(o, "reason")) ? s(o, "reason") : "");
}

static json_t *q_history(sqlite3 *db, const struct qopts *q, struct api_err *e)
{
	return api_history(db, q->arch, q->test, (int)q->limit, e);
}

int cmd_history(int argc, char **argv)
{
	return run_query(argc, argv, q_history, print_history);
}

static void print_job(json_t *v)
{
	json_t *o;
	size_t i;

	printf("job %lld (run %lld): %s %s, release %s\noutcome: %s%s%s\n",
	       (long long)json_integer_value(json_object_get(v, "id")),
	       (long long)json_integer_value(json_object_get(v, "run_id")), s(v, "arch"),
	       s(v, "kernel"), s(v, "release"), s(v, "outcome"),
	       json_is_string(json_object_get(v, "reason")) ? ": " : "",
	       json_is_string(json_object_get(v, "reason")) ? s(v, "reason") : "");
	printf("machine: %lld vCPU, %lld MiB%s%s, accel %s (%s)\n",
	       (long long)json_integer_value(json_object_get(v, "smp")),
	       (long long)json_integer_value(json_object_get(v, "memory_mb")),
	       json_is_string(json_object_get(v, "variant")) ? ", variant " : "",
	       json_is_string(json_object_get(v, "variant")) ? s(v, "variant") : "",
	       s(v, "accel"), s(v, "accel_reason"));
	printf("qemu: %s\ncommand: %s\n\n", s(v, "qemu_version"), s(v, "qemu_cmdline"));
	json_array_foreach(json_object_get(v, "results"), i, o)
		printf("%*s%-*s %-8s %s\n",
		       2 * (int)json_integer_value(json_object_get(o, "depth")), "",
		       40 - 2 * (int)json_integer_value(json_object_get(o, "depth")),
		       s(o, "test"), s(o, "status"),
		       json_is_string(json_object_get(o, "reason")) ? s(o, "reason") : "");
}

int cmd_show(int argc, char **argv)
{
	struct qopts q;
	struct api_err e = { 0 };
	struct store *st;
	int nolog = 0, ret = parse(argc, argv, &q, 1, &nolog);
	char *log;

	if (ret)
		return ret == 1 ? 0 : ret;
	if (!(st = open_ro(&q)))
		return 3;
	ret = finish(api_job(store_db(st), q.id, &e), &e, q.json, print_job);
	if (!ret && !q.json && !nolog && (log = api_job_log_path(store_db(st), q.id, &e))) {
		char *buf;
		size_t len;

		printf("\n--- console log %s ---\n", log);
		if (read_file(log, 64u << 20, &buf, &len) == 0) {
			fwrite(buf, 1, len, stdout);
			free(buf);
		} else {
			error_errno("cannot read console log '%s'", log);
		}
		free(log);
	}
	store_close(st);
	return ret;
}

static void print_regressions(json_t *v)
{
	json_t *o;
	size_t i;

	printf("%-14s %-14s %-9s %-20s %s\n", "KIND", "TREE", "ARCH", "TEST", "CHANGE");
	json_array_foreach(json_object_get(v, "regressions"), i, o) {
		json_t *f = json_object_get(o, "from"), *t = json_object_get(o, "to");

		printf("%-14s %-14s %-9s %-20s %s %s (job %lld) -> %s %s (job %lld)\n",
		       s(o, "kind"), s(o, "tree"), s(o, "arch"), s(o, "test"), s(f, "kernel"),
		       s(f, "status"), (long long)json_integer_value(json_object_get(f, "job")),
		       s(t, "kernel"), s(t, "status"),
		       (long long)json_integer_value(json_object_get(t, "job")));
	}
}

/* exit 1 when a regression is open, so scripts can gate on it */
static int open_regressions;

static json_t *q_regressions(sqlite3 *db, const struct qopts *q, struct api_err *e)
{
	json_t *v = regress_query(db, q->tree, 0, e), *o;
	size_t i;

	json_array_foreach(v ? json_object_get(v, "regressions") : NULL, i, o)
		open_regressions |= !strcmp(json_string_value(json_object_get(o, "kind")),
					    "regression");
	return v;
}

int cmd_regressions(int argc, char **argv)
{
	int ret = run_query(argc, argv, q_regressions, print_regressions);

	return ret ? ret : open_regressions;
}
