/* Store benchmark: ingest N results through store_job (one transaction per
 * job of 100 results, as kfarm run does), report results/s. */
#include "../../runner/job.h"
#include "../../runner/store.h"
#include "../../runner/util.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "/tmp/kfarm-bench.db";
	long total = argc > 2 ? atol(argv[2]) : 1000000, per_job = 100;
	static const char *const arches[] = { "x86_64", "arm64", "riscv64", "sparc64", "alpha" };
	struct store *st = store_open(path, 0);
	double t0;

	if (!st)
		return 1;
	int64_t run = store_run_begin(st, "bench");
	struct job *j = job_new();
	j->be = &backend_qemu;
	j->outcome = JOB_COMPLETE;
	j->nres = per_job;
	j->res = xcalloc(per_job, sizeof(*j->res));
	for (long i = 0; i < per_job; i++)
		j->res[i] = (struct result){ xasprintf("test%02ld", i % 50), (i % 7) ? RS_PASS : RS_SKIP,
					     xstrdup(""), 0.5, i < 50 ? 0 : 1 };
	t0 = now_mono();
	for (long n = 0; n < total / per_job; n++) {
		free(j->arch);
		j->arch = xstrdup(arches[n % 5]);
		j->candidate_id = store_candidate(st, j->arch, "bench", "bench", "sha", "/k");
		j->t_start = now_mono();
		j->t_end = now_mono();
		if (store_job(st, run, j, "bench") < 0)
			return 1;
	}
	double dt = now_mono() - t0;
	printf("store ingest: %ld results in %.2fs = %.0f results/s\n", total, dt, total / dt);
	store_run_end(st, run, RUN_COMPLETE);
	job_free(j);
	store_close(st);
	return 0;
}
