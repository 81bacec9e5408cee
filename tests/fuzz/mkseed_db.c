/* Writes fuzz_db's seed: a kfarm database at this kfarm's schema, made
 * through store_job as kfarm run makes it (tree hx, x86_64: candidate A
 * passing alpha and beta; candidate B failing beta, confirmed twice), in
 * rollback-journal mode so the file is the whole database, in 512-byte pages
 * (small, within the fuzzer's -max_len). After a new
 * migration: build/fuzz/mkseed_db tests/fuzz/corpus/db/kfarm-2runs.sqlite */
#include "../../runner/job.h"
#include "../../runner/logdir.h"
#include "../../runner/store.h"
#include "../../runner/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char *logs;	/* the seed's logs directory: log paths are stored in it */

static int job(struct store *st, int64_t run, const char *label, int attempt, int fail,
	       const char *log)
{
	struct job *j = job_new();
	int64_t id;

	j->arch = xstrdup("x86_64");
	j->be = &backend_qemu;
	j->outcome = JOB_COMPLETE;
	j->attempt = attempt;
	j->t_header = 1;
	j->boot_s = 1.5;
	j->duration_s = 3;
	j->t_start = now_mono() - 3;
	j->t_end = now_mono();
	j->log_path = xasprintf("%s/%s", logs, log);
	j->nres = 2;
	j->res = xcalloc(2, sizeof(*j->res));
	j->res[0] = (struct result){ xstrdup("alpha"), RS_PASS, xstrdup(""), 0.1, 0 };
	j->res[1] = (struct result){ xstrdup("beta"), fail ? RS_FAIL : RS_PASS,
				     xstrdup(fail ? "kfarm.opt=fail" : ""), 0.1, 0 };
	j->candidate_id = store_candidate(st, "x86_64", label, "hx", label, "/k", NULL);
	id = j->candidate_id < 0 ? -1 : store_job(st, run, j, "localhost", NULL);
	job_free(j);
	return id < 0 ? -1 : 0;
}

int main(int argc, char **argv)
{
	struct err e;
	struct store *st;
	int64_t r;
	int bad = 0;

	if (argc != 2)
		return fprintf(stderr, "usage: mkseed_db OUT.sqlite\n"), 2;
	unlink(argv[1]);
	logs = logdir_of(argv[1]);
	if (!(st = store_open(argv[1], 0, &e)))
		return error("%s", e.msg), 1;
	r = store_run_begin(st, "run --tree hx --tests alpha,beta --kernel x86_64=image:A", NULL);
	bad |= r < 0 || job(st, r, "A", 0, 0, "run-1/01-x86_64-A.log");
	bad |= store_run_end(st, r, RUN_COMPLETE, NULL);
	r = store_run_begin(st, "run --tree hx --tests alpha,beta --kernel x86_64=image:B", NULL);
	bad |= r < 0 || job(st, r, "B", 0, 1, "run-2/01-x86_64-B.log");
	bad |= job(st, r, "B", 1, 1, "run-2/02-x86_64-B-confirm1.log");
	bad |= job(st, r, "B", 2, 1, "run-2/03-x86_64-B-confirm2.log");
	bad |= store_run_end(st, r, RUN_COMPLETE, NULL);
	bad |= sqlite3_exec(store_db(st), "PRAGMA journal_mode = DELETE; PRAGMA page_size = 512; VACUUM", NULL, NULL,
			    NULL) != SQLITE_OK;
	store_close(st);
	free(logs);
	return bad ? 1 : 0;
}
