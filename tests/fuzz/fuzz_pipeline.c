/* libFuzzer: the whole console -> job -> store path. Input: 1 byte of how the
 * VM ended, then console bytes ("\0\0" and after: QEMU's stderr). The job
 * decides its outcome (job_finish with a synthetic vm_exit) and is stored by
 * store_job into a real SQLite file on tmpfs. Invariants: the store succeeds
 * (every result stored) or fails leaving nothing behind; every stored string
 * is valid UTF-8 (kfarm cleans text when storing); the log name is stored
 * relative to the database's logs directory. */
#include "../../runner/dbtext.h"
#include "../../runner/job.h"
#include "../../runner/logdir.h"
#include "../../runner/store.h"
#include "../../runner/util.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct store *st;
static int64_t run, cand;
static char *logs;

static void setup(void)
{
	char path[64];

	snprintf(path, sizeof(path), "/dev/shm/kfarm-fuzz-pipeline-%d.db", (int)getpid());
	unlink(path);
	if (!(st = store_open(path, 0, NULL)) || (run = store_run_begin(st, "fuzz", NULL)) < 0 ||
	    (cand = store_candidate(st, "x86_64", "A", "hx", "abc", "/k", NULL)) < 0)
		abort();
	logs = logdir_of(path);
}

static int64_t count(const char *sql, int64_t id)
{
	sqlite3_stmt *s;
	int64_t n = -1;

	if (sqlite3_prepare_v2(store_db(st), sql, -1, &s, NULL) != SQLITE_OK)
		abort();
	sqlite3_bind_int64(s, 1, id);
	if (sqlite3_step(s) == SQLITE_ROW)
		n = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return n;
}

static void utf8_ok(sqlite3_stmt *s, int i)
{
	const unsigned char *t = sqlite3_column_text(s, i);
	size_t n = t ? (size_t)sqlite3_column_bytes(s, i) : 0, k;

	for (size_t p = 0; p < n; p += k)
		if (!(k = dbtext_seq(t + p, n - p)) && !getenv("FUZZ_PIPELINE_NO_UTF8"))
			abort();	/* invalid UTF-8 stored */
		else if (!k)
			k = 1;
}

/* Every text the job's rows hold is valid UTF-8. */
static void check_stored(int64_t id, const struct job *j)
{
	static const char *const q[] = {
		"SELECT arch, outcome, reason, warning, release, log_path FROM jobs WHERE id = ?",
		"SELECT test, status, reason, '', '', '' FROM results WHERE job_id = ?",
	};

	for (size_t k = 0; k < 2; k++) {
		sqlite3_stmt *s;

		if (sqlite3_prepare_v2(store_db(st), q[k], -1, &s, NULL) != SQLITE_OK)
			abort();
		sqlite3_bind_int64(s, 1, id);
		while (sqlite3_step(s) == SQLITE_ROW) {
			for (int i = 0; i < 6; i++)
				utf8_ok(s, i);
			if (k == 0 && strcmp((const char *)sqlite3_column_text(s, 5),
					     "run-1/01-x86_64-A.log"))
				abort();	/* stored relative to the logs dir */
		}
		sqlite3_finalize(s);
	}
	if (count("SELECT count(*) FROM results WHERE job_id = ?", id) != (int64_t)j->nres)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vm_exit ex = { 0 };
	struct job *j;
	const char *sep;
	int64_t before, id;

	if (!st)
		setup();
	if (!size)
		return 0;
	j = job_new();
	j->arch = xstrdup("x86_64");
	j->label = xstrdup("A");
	j->be = &backend_qemu;
	j->profile.qemu_binary = xstrdup("qemu-system-x86_64");
	j->candidate_id = cand;
	j->tests = xcalloc(3, sizeof(char *));
	j->tests[0] = xstrdup("alpha");
	j->tests[1] = xstrdup("beta");
	j->log_path = xasprintf("%s/run-1/01-x86_64-A.log", logs);	/* never opened */
	j->lb = xcalloc(1, sizeof(*j->lb));
	j->lberr = xcalloc(1, sizeof(*j->lberr));
	j->t_start = j->t_last_out = now_mono();
	j->state = JS_BOOTING;
	ex.by_us = data[0] & 1;
	ex.exited = !!(data[0] & 2);
	ex.status = data[0] >> 4;
	ex.signal = data[0] & 4 ? 9 : 0;
	if (data[0] & 8)
		job_timeout(j, "silent for 5s");
	data++, size--;
	sep = memmem(data, size, "\0\0", 2);
	if (sep) {
		size_t n = (const uint8_t *)sep - data;

		job_console(j, (const char *)data, n);
		job_stderr(j, sep + 2, size - n - 2);
	} else {
		job_console(j, (const char *)data, size);
	}
	job_finish(j, &ex);
	before = count("SELECT count(*) FROM jobs WHERE ?1 = ?1", 0);
	id = store_job(st, run, j, "h", NULL);
	if (id < 0) {
		/* a clean failure: nothing of it stored */
		if (count("SELECT count(*) FROM jobs WHERE ?1 = ?1", 0) != before)
			abort();
	} else {
		check_stored(id, j);
		/* keep the file small: the next input starts from the same state */
		char *sql = xasprintf("DELETE FROM latest; DELETE FROM results WHERE job_id = %lld;"
				      " DELETE FROM jobs WHERE id = %lld", (long long)id,
				      (long long)id);
		if (sqlite3_exec(store_db(st), sql, NULL, NULL, NULL) != SQLITE_OK)
			abort();
		free(sql);
	}
	job_free(j);
	return 0;
}
