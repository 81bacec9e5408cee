/* kfarm status / history / show: the API's queries, printed for a terminal
 * (or as the same JSON with --json). */
#include "api.h"
#include "build_db.h"
#include "build_regress.h"
#include "cmds.h"
#include "logdir.h"
#include "regress.h"
#include "store.h"
#include "text.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_LOG_BYTES (64u << 20)

struct qopts {
	char *db, *arch, *test, *tree;
	int json, bisect;
	unsigned long limit;
	int64_t id;
};

static const char query_usage[] =
	"usage: kfarm status [--db PATH] [--json]\n"
	"       kfarm history [--arch A] [--test T] [--limit N] [--db PATH] [--json]\n"
	"       kfarm show JOB [--db PATH] [--json] [--no-log]\n"
	"       kfarm regressions [--tree T] [--db PATH] [--json] [--bisect]\n"
	"         (--bisect: kfarm bisect each confirmed regression between two\n"
	"         revisions of one git repository)\n";

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
		{ "bisect", no_argument, NULL, 'B' },
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
		case 'B': q->bisect = 1; break;
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

/* The store of the command's table entry (read-only), at --db or the default. */
static struct store *open_ro(struct cmd_ctx *c, const struct qopts *q)
{
	c->db = q->db;
	return cmd_store(c);
}

/* o's string k for the terminal ("-" when absent): the database is
 * guest-written, so never raw. */
static const char *s(struct text_pool *p, json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));

	return text_term(p, v ? v : "-");
}

static const char *reason(struct text_pool *p, json_t *o)
{
	return json_is_string(json_object_get(o, "reason")) ? s(p, o, "reason") : "";
}

static int finish(json_t *v, struct err *e, int json, void (*print)(json_t *))
{
	if (!v)
		return error("%s", e->msg), e->code == 404 ? 1 : 3;
	if (json && isatty(1)) {
		/* still JSON, but DEL and C1 controls as \u escapes too: jansson
		 * escapes only C0, and a raw DEL can only be inside a string */
		char *out = json_dumps(v, JSON_INDENT(2) | JSON_ENSURE_ASCII);

		for (const char *c = out; c && *c; c++)
			if (*c == 0x7f)
				fputs("\\u007f", stdout);
			else
				putchar(*c);
		putchar('\n');
		free(out);
	} else if (json) {
		json_dumpf(v, stdout, JSON_INDENT(2));
		putchar('\n');
	} else {
		print(v);
	}
	json_decref(v);
	return 0;
}

static void print_builds(json_t *a)
{
	struct text_pool p = { 0 };
	json_t *o;
	size_t i;

	if (!json_array_size(a))
		return;
	printf("\n%-9s %-16s %-20s %-6s %7s %5s  %s\n", "ARCH", "TREE", "KERNEL", "BUILD", "SECS",
	       "WARN", "RELEASE / FIRST ERROR");
	json_array_foreach(a, i, o) {
		printf("%-9s %-16.16s %-20.20s %-6s %6.1fs %5lld  %s\n", s(&p, o, "arch"), s(&p, o, "tree"),
		       s(&p, o, "kernel"), s(&p, o, "status"),
		       json_number_value(json_object_get(o, "duration_s")),
		       (long long)json_integer_value(json_object_get(o, "warnings")),
		       json_is_string(json_object_get(o, "error")) ? s(&p, o, "error") : s(&p, o, "release"));
		text_pool_release(&p);
	}
}

static void print_status(json_t *v)
{
	struct text_pool p = { 0 };
	json_t *o;
	size_t i;

	/* per tree x arch: the 6.1 and 6.12 candidates of one run side by side */
	printf("%-16s %-9s %-16s %-12s %6s %-14s %-6s %s\n", "TREE", "ARCH", "KERNEL", "OUTCOME",
	       "BOOT", "PASS/FAIL/SKIP", "BUILD", "RELEASE");
	json_array_foreach(json_object_get(v, "trees"), i, o) {
		json_t *j = json_object_get(o, "job"), *b = json_array_get(json_object_get(o, "builds"), 0);
		char counts[48] = "-";

		if (json_is_object(j))
			snprintf(counts, sizeof(counts), "%lld/%lld/%lld",
				 (long long)json_integer_value(json_object_get(j, "pass")),
				 (long long)json_integer_value(json_object_get(j, "fail")) +
				 json_integer_value(json_object_get(j, "missing")),
				 (long long)json_integer_value(json_object_get(j, "skip")));
		printf("%-16.16s %-9s %-16.16s %-12s %5.1fs %-14s %-6s %s\n", s(&p, o, "tree"),
		       s(&p, o, "arch"), json_is_object(j) ? s(&p, j, "kernel") : s(&p, b, "kernel"),
		       json_is_object(j) ? s(&p, j, "outcome") : "-",
		       json_number_value(json_object_get(j, "boot_s")), counts,
		       b ? s(&p, b, "status") : "-",
		       json_is_object(j) ? s(&p, j, "release") : s(&p, b, "release"));
		text_pool_release(&p);
	}
	print_builds(json_object_get(v, "builds"));
	printf("\n%-9s %-20s %-8s %s\n", "ARCH", "TEST", "STATUS", "REASON");
	json_array_foreach(json_object_get(v, "results"), i, o) {
		printf("%-9s %-20s %-8s %s\n", s(&p, o, "arch"), s(&p, o, "test"),
		       s(&p, o, "status"), reason(&p, o));
		text_pool_release(&p);
	}
}

typedef json_t *(*query_fn)(sqlite3 *db, const struct qopts *q, struct err *e);

/* The common shape of status/history/regressions: options, read-only open,
 * one query, printed as a table or JSON. */
static int run_query(struct cmd_ctx *c, int argc, char **argv, query_fn query,
		     void (*print)(json_t *))
{
	struct qopts q;
	struct err e = { 0 };
	struct store *st;
	int ret = parse(argc, argv, &q, 0, NULL);

	if (ret)
		return ret == 1 ? 0 : ret;
	if (!(st = open_ro(c, &q)))
		return 3;
	return finish(query(store_db(st), &q, &e), &e, q.json, print);
}

static json_t *q_status(sqlite3 *db, const struct qopts *q, struct err *e)
{
	(void)q;
	return api_status(db, e);	/* with the source candidates' builds */
}

int cmd_status(struct cmd_ctx *c, int argc, char **argv)
{
	return run_query(c, argc, argv, q_status, print_status);
}

static void print_history(json_t *v)
{
	struct text_pool p = { 0 };
	json_t *o;
	size_t i;

	printf("%-6s %-9s %-16s %-20s %-8s %s\n", "JOB", "ARCH", "KERNEL", "TEST", "STATUS",
	       "REASON");
	json_array_foreach(v, i, o) {
		printf("%-6lld %-9s %-16.16s %-20s %-8s %s\n",
		       (long long)json_integer_value(json_object_get(o, "job")), s(&p, o, "arch"),
		       s(&p, o, "kernel"), s(&p, o, "test"), s(&p, o, "status"), reason(&p, o));
		text_pool_release(&p);
	}
}

static json_t *q_history(sqlite3 *db, const struct qopts *q, struct err *e)
{
	return api_history(db, q->arch, q->test, (int)q->limit, e);
}

int cmd_history(struct cmd_ctx *c, int argc, char **argv)
{
	return run_query(c, argc, argv, q_history, print_history);
}

static void print_job(json_t *v)
{
	struct text_pool p = { 0 };
	json_t *o;
	size_t i;

	printf("job %lld (run %lld): %s %s, release %s\noutcome: %s%s%s\n",
	       (long long)json_integer_value(json_object_get(v, "id")),
	       (long long)json_integer_value(json_object_get(v, "run_id")), s(&p, v, "arch"),
	       s(&p, v, "kernel"), s(&p, v, "release"), s(&p, v, "outcome"),
	       json_is_string(json_object_get(v, "reason")) ? ": " : "",
	       json_is_string(json_object_get(v, "reason")) ? s(&p, v, "reason") : "");
	text_pool_release(&p);
	printf("machine: %lld vCPU, %lld MiB%s%s, accel %s (%s)\n",
	       (long long)json_integer_value(json_object_get(v, "smp")),
	       (long long)json_integer_value(json_object_get(v, "memory_mb")),
	       json_is_string(json_object_get(v, "variant")) ? ", variant " : "",
	       json_is_string(json_object_get(v, "variant")) ? s(&p, v, "variant") : "",
	       s(&p, v, "accel"), s(&p, v, "accel_reason"));
	text_pool_release(&p);
	printf("qemu: %s\ncommand: %s\n", s(&p, v, "qemu_version"), s(&p, v, "qemu_cmdline"));
	text_pool_release(&p);
	json_array_foreach(json_object_get(v, "build"), i, o) {	/* a source candidate's */
		printf("build: %s in %.1fs%s, %lld warnings, %s, log %s%s%s\n", s(&p, o, "status"),
		       json_number_value(json_object_get(o, "duration_s")),
		       json_integer_value(json_object_get(o, "cached")) ? " (cached)" : "",
		       (long long)json_integer_value(json_object_get(o, "warnings")),
		       s(&p, o, "compiler"), s(&p, o, "log"), json_is_string(json_object_get(o, "error")) ?
		       "\nfirst error: " : "", json_is_string(json_object_get(o, "error")) ?
		       s(&p, o, "error") : "");
		text_pool_release(&p);
	}
	putchar('\n');
	json_array_foreach(json_object_get(v, "results"), i, o) {
		/* the depth comes from the database: bounded before it is a width */
		json_int_t d = json_integer_value(json_object_get(o, "depth"));
		int depth = d < 0 ? 0 : d > 16 ? 16 : (int)d;

		printf("%*s%-*s %-8s %s\n", 2 * depth, "", 40 - 2 * depth, s(&p, o, "test"),
		       s(&p, o, "status"), reason(&p, o));
		text_pool_release(&p);
	}
}

/* Prints the tail of the job's console log, opened confined to the
 * database's logs directory; returns 0, or 3 when the row names a file
 * kfarm refuses to open. */
static int print_log(struct store *st, int64_t job, const char *name)
{
	struct err e;
	char buf[65536];
	struct stat sb;
	ssize_t n;
	int fd = logdir_open(store_path(st), name, &e);

	printf("\n--- console log of job %lld ---\n", (long long)job);
	fflush(stdout);
	if (fd < 0) {
		error("job %lld: %s", (long long)job, e.msg);
		return e.code == 404 ? 0 : 3;
	}
	if (fstat(fd, &sb) == 0 && (size_t)sb.st_size > MAX_LOG_BYTES)
		lseek(fd, sb.st_size - (off_t)MAX_LOG_BYTES, SEEK_SET);
	for (size_t left = MAX_LOG_BYTES; left && (n = read(fd, buf, sizeof(buf))) != 0;) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			error_errno("job %lld: cannot read console log", (long long)job);
			break;
		}
		n = (size_t)n > left ? (ssize_t)left : n;
		/* rendered for the terminal, raw bytes stay in the file (a
		 * character split between two reads shows as U+FFFD) */
		text_term_write(stdout, buf, n);
		left -= n;
	}
	close(fd);
	return 0;
}

int cmd_show(struct cmd_ctx *c, int argc, char **argv)
{
	struct qopts q;
	struct err e = { 0 };
	struct store *st;
	int nolog = 0, ret = parse(argc, argv, &q, 1, &nolog);
	char *name;

	if (ret)
		return ret == 1 ? 0 : ret;
	if (!(st = open_ro(c, &q)))
		return 3;
	json_t *job = api_job(store_db(st), q.id, &e), *b;

	if (job && (b = builds_of_job(store_db(st), q.id, &e)))
		json_object_set_new(job, "build", b);
	ret = finish(job, &e, q.json, print_job);
	if (!ret && !q.json && !nolog && (name = api_job_log_path(store_db(st), q.id, &e))) {
		ret = print_log(st, q.id, name);
		free(name);
	}
	return ret;
}

/* " (job N)", or "" for a change with no job (a build's) */
static const char *job_of(json_t *side, char *buf, size_t n)
{
	json_int_t id = json_integer_value(json_object_get(side, "job"));

	if (id <= 0)
		return "";
	snprintf(buf, n, " (job %lld)", (long long)id);
	return buf;
}

static void print_regressions(json_t *v)
{
	struct text_pool p = { 0 };
	json_t *o;
	size_t i;

	printf("%-14s %-14s %-9s %-20s %s\n", "KIND", "TREE", "ARCH", "TEST", "CHANGE");
	json_array_foreach(json_object_get(v, "regressions"), i, o) {
		json_t *f = json_object_get(o, "from"), *t = json_object_get(o, "to");

		char fj[32], tj[32];

		printf("%-14s %-14s %-9s %-20s %s %s%s -> %s %s%s\n",
		       s(&p, o, "kind"), s(&p, o, "tree"), s(&p, o, "arch"), s(&p, o, "test"),
		       s(&p, f, "kernel"), s(&p, f, "status"), job_of(f, fj, sizeof(fj)),
		       s(&p, t, "kernel"), s(&p, t, "status"), job_of(t, tj, sizeof(tj)));
		if (json_is_string(json_object_get(t, "error")))	/* a build's first error */
			printf("%-14s first error: %s\n", "", s(&p, t, "error"));
		json_t *w;	/* a build's new warnings */
		size_t wi;
		json_array_foreach(json_object_get(t, "warnings"), wi, w)
			printf("%-14s new warning: %s\n", "", text_term(&p, json_string_value(w)));
		text_pool_release(&p);
	}
}

/* exit 1 when a regression is open, so scripts can gate on it */
static int open_regressions;
static struct cmd_ctx *regress_ctx;	/* for --bisect: the database's path */
static int bisect_rc = -1;

static json_t *q_regressions(sqlite3 *db, const struct qopts *q, struct err *e)
{
	json_t *v = regress_query(db, q->tree, 0, e), *o;
	size_t i;

	if (v && build_regress_append(db, q->tree, 0, json_object_get(v, "regressions")))
		warning("cannot compare builds: %s", sqlite3_errmsg(db));

	json_array_foreach(v ? json_object_get(v, "regressions") : NULL, i, o) {
		open_regressions |= change_kind_parse(json_string_value(json_object_get(o, "kind"))) ==
				    CH_REGRESSION;
	}
	if (v && q->bisect)
		bisect_rc = bisect_regressions(db, cmd_db_path(regress_ctx),
					       json_object_get(v, "regressions"));
	return v;
}

int cmd_regressions(struct cmd_ctx *c, int argc, char **argv)
{
	int ret;

	regress_ctx = c;
	ret = run_query(c, argc, argv, q_regressions, print_regressions);
	if (!ret && bisect_rc == 3)
		return 3;	/* a bisection broke: infrastructure */
	return ret ? ret : open_regressions;
}
