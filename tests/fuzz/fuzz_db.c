/* libFuzzer: a mutated kfarm database (a real SQLite file on tmpfs), opened
 * read-only as kfarm serve opens it, and every route of the routes table
 * that reads the database run on it (routes.c: /api/status, runs, run, job,
 * job log, history, regressions, matrix, trend, trees, /metrics...), and
 * kfarm report's text and Markdown (no control byte in them).
 * A file kfarm serve refuses (an older schema among others) is opened once
 * read-write first, as kfarm run would, migrating it: so seeds of an older
 * schema keep reaching the routes, and migrations run on mutated files too.
 * Seed: a real kfarm database at the current schema
 * (tests/fuzz/corpus/db/kfarm-2runs.sqlite, written by mkseed_db.c).
 * Invariants: no crash or leak; each route gives JSON that dumps and parses
 * back, or an error with a 4xx/5xx code and a message; a job's log opens
 * only as a regular file. */
#include "../../runner/regress.h"
#include "../../runner/report.h"
#include "../../runner/routes.h"
#include "../../runner/store.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char path[64], wal[72], shm[72];

static void check(json_t *v, const struct err *e)
{
	if (!v) {
		if (e->code < 400 || e->code > 599 || !e->msg[0])
			abort();	/* a failure must say what and how */
		return;
	}
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	json_t *back = s ? json_loads(s, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL) : NULL;

	if (!s || !back)
		abort();	/* what a route built must serialize (NUL is valid JSON: \u0000) */
	json_decref(back);
	free(s);
	json_decref(v);
}

/* A handler's reply: JSON that round-trips, text, a regular file, or an
 * error with a 4xx/5xx code and a message. */
static void check_reply(int rc, struct reply *out)
{
	struct stat sb;

	if (rc) {
		if (out->err.code < 400 || out->err.code > 599 || !out->err.msg[0] ||
		    out->json || out->text || out->fd >= 0)
			abort();
		return;
	}
	if (out->json) {
		check(out->json, &out->err);
	} else if (out->text) {
		/* JSON written straight (jsonw.h) must parse as JSON */
		if (out->type && !strcmp(out->type, "application/json")) {
			json_t *v = json_loads(out->text, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);

			if (!v)
				abort();
			json_decref(v);
		}
		free(out->text);
	} else if (out->fd >= 0) {
		if (fstat(out->fd, &sb) || !S_ISREG(sb.st_mode))
			abort();	/* a job's log opens only as a regular file */
		close(out->fd);
	} else {
		abort();	/* success says something */
	}
}

/* Every route of the table that reads the database, so a new route is
 * fuzzed without touching this file: ids 1..3, without and with filters. */
/* kfarm report: built or refused with a reason; rendered without a control
 * byte (C0 but tab and newline, DEL, C1) whatever the database holds. */
static void report_ok(json_t *r, const struct err *e)
{
	if (!r) {
		if (e->code < 400 || e->code > 599 || !e->msg[0])
			abort();
		return;
	}
	for (int f = RF_TEXT; f <= RF_MARKDOWN; f++) {
		unsigned char *t = (unsigned char *)report_render(r, (enum report_format)f);

		for (size_t i = 0; t[i]; i++)
			if ((t[i] < 0x20 && t[i] != '\t' && t[i] != '\n') || t[i] == 0x7f ||
			    (t[i] == 0xc2 && t[i + 1] >= 0x80 && t[i + 1] <= 0x9f))
				abort();	/* a control byte would reach the terminal */
		free(t);
	}
	json_decref(r);
}

static void routes_all(struct store *st)
{
	struct route_env env = { .db = store_db(st), .db_path = store_path(st) };
	static const struct route params[] = {
		{ .limit = 50 },
		{ .limit = 10, .arch = "x86_64", .test = "alpha", .tree = "hx", .kernel = "A" },
	};
	struct err e;

	for (size_t i = 0; i < nroutes; i++) {
		if (routes[i].flags & RF_NODB)
			continue;
		for (int64_t id = 1; id <= 3; id++)
			for (size_t k = 0; k < sizeof(params) / sizeof(params[0]); k++) {
				struct route r = params[k];
				struct reply out = { .fd = -1 };

				r.def = &routes[i];
				r.id = id;
				check_reply(routes[i].handler(&env, &r, &out), &out);
			}
	}
	/* not a route: the regressions of one run, as kfarm run reports them */
	memset(&e, 0, sizeof(e));
	check(regress_query(store_db(st), NULL, 2, &e), &e);
	/* not a route either: kfarm report, of runs 1..3 and of tree hx */
	for (int64_t id = 0; id <= 3; id++) {
		memset(&e, 0, sizeof(e));
		report_ok(report_build(store_db(st), id, id ? NULL : "hx", &e), &e);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct store *st;
	int fd;

	if (!path[0]) {
		snprintf(path, sizeof(path), "/dev/shm/kfarm-fuzz-db-%d.db", (int)getpid());
		snprintf(wal, sizeof(wal), "%s-wal", path);
		snprintf(shm, sizeof(shm), "%s-shm", path);
	}
	unlink(wal);
	unlink(shm);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		abort();
	close(fd);
	st = store_open(path, STORE_READONLY, NULL);
	if (!st && (st = store_open(path, 0, NULL))) {
		store_close(st);
		st = store_open(path, STORE_READONLY, NULL);
	}
	if (st) {
		routes_all(st);
		store_close(st);
	}
	unlink(path);
	unlink(wal);
	unlink(shm);
	return 0;
}
