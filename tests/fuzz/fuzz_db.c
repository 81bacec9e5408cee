/* libFuzzer: a mutated kfarm database (a real SQLite file on tmpfs), opened
 * read-only as kfarm serve opens it, and every API route's query run on it:
 * /api/status, runs, run, job, job log, history, regressions, matrix, trend,
 * trees and /metrics. Seed: a real kfarm database (tests/fuzz/corpus/db/kfarm-2runs.sqlite).
 * Invariants: no crash or leak; each route gives JSON that dumps and parses
 * back, or an error with a 4xx/5xx code and a message; a job's log opens
 * only as a regular file. */
#include "../../runner/api.h"
#include "../../runner/logdir.h"
#include "../../runner/metrics.h"
#include "../../runner/regress.h"
#include "../../runner/store.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char path[64], wal[72], shm[72];

static void check(json_t *v, const struct api_err *e)
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

static void routes(struct store *st)
{
	sqlite3 *db = store_db(st);
	struct api_err e;
	char *m;

#define R(call) do { memset(&e, 0, sizeof(e)); check(call, &e); } while (0)
	R(api_status(db, &e));
	R(api_runs(db, 50, &e));
	R(api_history(db, NULL, NULL, 50, &e));
	R(api_history(db, "x86_64", "alpha", 10, &e));
	R(regress_query(db, NULL, 0, &e));
	R(regress_query(db, "hx", 0, &e));
	R(regress_query(db, NULL, 2, &e));
	R(regress_matrix(db, NULL, NULL, &e));
	R(regress_matrix(db, "hx", "A", &e));
	R(api_trend(db, 50, &e));
	R(api_trees(db, &e));
	for (int64_t id = 1; id <= 3; id++) {
		R(api_run(db, id, &e));
		R(api_job(db, id, &e));
		memset(&e, 0, sizeof(e));
		char *name = api_job_log_path(db, id, &e);
		if (name) {
			const char *why;
			int code, fd = logdir_open(store_path(st), name, &code, &why);
			struct stat sb;

			if (fd >= 0 && (fstat(fd, &sb) || !S_ISREG(sb.st_mode)))
				abort();
			if (fd >= 0)
				close(fd);
			else if (code < 400 || !why)
				abort();
			free(name);
		} else if (e.code < 400) {
			abort();
		}
	}
	memset(&e, 0, sizeof(e));
	m = metrics_text(db, &e);
	if (!m && (e.code < 400 || !e.msg[0]))
		abort();
	free(m);
#undef R
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
	st = store_open(path, STORE_READONLY);
	if (st) {
		routes(st);
		store_close(st);
	}
	unlink(path);
	unlink(wal);
	unlink(shm);
	return 0;
}
