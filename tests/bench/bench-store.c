/* Store benchmark: ingest N results through store_job (one transaction per
 * job of 100 results, as kfarm run does), report results/s. The history has
 * the shape the read side works on: runs of 10 jobs (5 arches x 2 jobs of one
 * candidate), candidates in 4 trees (one left to the release's series), tests
 * that regress, get fixed, skip and flake, a few infrastructure errors and
 * jobs without a release. Deterministic: the same N gives the same history. */
#include "../../runner/job.h"
#include "../../runner/logdir.h"
#include "../../runner/store.h"
#include "../../runner/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>

#define PER_JOB 100
#define TOP 50

static unsigned int mix(unsigned int x)
{
	x ^= x >> 16;
	x *= 0x7feb352d;
	x ^= x >> 15;
	x *= 0x846ca68b;
	return x ^ (x >> 16);
}

/* test t of candidate `cand`, job `rep` of it */
static enum res_status status_of(long cand, int t, int rep)
{
	unsigned int h = mix((unsigned int)(cand * 131 + t));

	if (t % 10 == 9)
		return RS_SKIP;
	if (h % 97 == 0)
		return RS_FAIL;				/* a regression while it lasts */
	if (h % 89 == 0)
		return RS_MISSING;
	if (t == 13 && rep == 1 && (h & 3) == 0)
		return RS_FAIL;				/* a flake: its twin passed */
	return RS_PASS;
}

/* the last three subtests are sysinfo's facts (/api/facts), a changed
 * default every 50 runs */
static const char *const facts[2][3] = {
	{ "online 2 configured 2", "PREEMPT_DYNAMIC voluntary", "enabled" },
	{ "online 2 configured 2", "PREEMPT_LAZY", "disabled" },
};
static const char *const fact_tests[3] = { "sysinfo/cpus", "sysinfo/preemption", "sysinfo/io_uring" };

static void fill(struct job *j, long run, int arch, int rep, long n, const char *log)
{
	static const char *const arches[] = { "x86_64", "arm64", "riscv64", "sparc64", "alpha" };
	long cand = run * 5 + arch;

	free(j->arch);
	free(j->release);
	free(j->reason);
	free(j->log_path);
	j->arch = xstrdup(arches[arch]);
	j->release = n % 7 == 3 ? NULL : xasprintf("6.%ld.%ld", run % 3, run);
	j->outcome = n % 53 == 7 ? JOB_INFRA_ERROR : JOB_COMPLETE;
	j->reason = j->outcome == JOB_INFRA_ERROR ? xstrdup("bench: host went away") : NULL;
	j->log_path = xstrdup(log);
	j->t_header = 1;
	j->boot_s = 0.5 + (n % 10) / 10.0;
	j->duration_s = 2;
	for (int i = 0; i < PER_JOB; i++) {
		struct result *r = &j->res[i];
		int t = i % TOP;

		r->status = i < TOP ? status_of(cand, t, rep) : RS_PASS;
		free(r->reason);
		r->reason = i >= PER_JOB - 3 ? xasprintf("%s (bench)", facts[run / 50 % 2][i % 3])
			  : xstrdup(r->status == RS_FAIL ? "bench: assertion failed" : "");
	}
}

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "/tmp/kfarm-bench.db";
	long total = argc > 2 ? atol(argv[2]) : 1000000;
	static const char *const trees[] = { "mainline", "stable", "next", NULL };
	struct err e = { 0 };
	struct store *st = store_open(path, 0, &e);
	struct job *j = job_new();
	char *logs = logdir_of(path), *dir = xasprintf("%s/bench", logs);
	char *log = xasprintf("%s/job.log", dir);
	double t0;
	FILE *f;

	if (!st)
		return error("%s", e.msg), 1;
	/* one console log for every job, where kfarm keeps logs */
	mkdir(logs, 0755);
	mkdir(dir, 0755);
	f = fopen(log, "w");
	if (!f)
		return 1;
	fputs("console log of a bench job\n", f);
	fclose(f);
	j->be = &backend_qemu;
	j->nres = PER_JOB;
	j->res = xcalloc(PER_JOB, sizeof(*j->res));
	for (long i = 0; i < PER_JOB; i++)
		j->res[i] = (struct result){ i < TOP ? xasprintf("test%02ld", i)
					     : i >= PER_JOB - 3 ? xstrdup(fact_tests[i % 3])
					     : xasprintf("test%02ld/sub", i % TOP),
					     RS_PASS, xstrdup(""), 0.5, i < TOP ? 0 : 1 };
	t0 = now_mono();
	for (long n = 0, run = 0; n < total / PER_JOB; run++) {
		int64_t rid = store_run_begin(st, "bench", &e);
		char label[32];

		snprintf(label, sizeof(label), "k%ld", run);
		for (int k = 0; k < 10 && n < total / PER_JOB; k++, n++) {
			fill(j, run, k % 5, k / 5, n, log);
			j->candidate_id = store_candidate(st, j->arch, label, trees[run % 4], label,
							  "/k", &e);
			j->t_start = j->t_end = now_mono();
			if (rid < 0 || j->candidate_id < 0 || store_job(st, rid, j, "bench", &e) < 0)
				return error("%s", e.msg), 1;
		}
		store_run_end(st, rid, RUN_COMPLETE, NULL);
	}
	double dt = now_mono() - t0;
	/* and the process's own CPU time: on a shared machine, wall time also
	 * holds the other tenants' */
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
		     ru.ru_stime.tv_usec / 1e6;
	printf("store ingest: %ld results (%ld jobs) in %.2fs = %.0f results/s = %.1f jobs/s;"
	       " CPU %.2fs = %.1f jobs per CPU-second\n", total, total / PER_JOB, dt, total / dt,
	       total / PER_JOB / dt, cpu, cpu > 0 ? total / PER_JOB / cpu : 0);
	job_free(j);
	store_close(st);
	free(log);
	free(dir);
	free(logs);
	return 0;
}
