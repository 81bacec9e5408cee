/* Test helper shared by test_regress.c and test_api.c: builds a history in a
 * real SQLite file through store_job, as kfarm run does. */
#ifndef KFARM_TEST_HIST_H
#define KFARM_TEST_HIST_H

#include "../../runner/job.h"
#include "../../runner/store.h"
#include "../../runner/util.h"

#include <stdlib.h>
#include <string.h>

/* Stores one job of candidate (arch, label, machine key, tree) with results
 * given as "test=STATUS" strings (STATUS: PASS FAIL SKIP MISSING;
 * "test/sub=..." is a depth-1 result; "test=PASS#note": the note as its
 * reason); returns the job id. */
static inline int64_t hist_job_m(struct store *st, int64_t run, const char *arch,
				 const char *label, const char *machine, const char *tree,
				 const char *release, enum job_outcome o, double boot,
				 const char *const *res)
{
	struct job *j = job_new();
	size_t n = 0;
	int64_t id;

	while (res[n])
		n++;
	j->arch = xstrdup(arch);
	j->be = &backend_qemu;
	j->outcome = o;
	j->release = release ? xstrdup(release) : NULL;
	j->t_header = boot > 0;
	j->boot_s = boot;
	j->t_start = now_mono() - 1;
	j->t_end = now_mono();
	j->res = xcalloc(n + 1, sizeof(*j->res));
	for (size_t i = 0; i < n; i++) {
		const char *eq = strchr(res[i], '=');
		char *test = xstrndup(res[i], eq - res[i]);
		const char *note = strchr(eq, '#');
		enum res_status s = !strncmp(eq + 1, "PASS", 4) ? RS_PASS
				    : !strncmp(eq + 1, "FAIL", 4) ? RS_FAIL
				    : !strncmp(eq + 1, "SKIP", 4) ? RS_SKIP : RS_MISSING;

		j->res[i] = (struct result){ test, s, xstrdup(note ? note + 1 :
							      s == RS_FAIL ? "it broke" : ""),
					     0.1, strchr(test, '/') ? 1 : 0 };
	}
	j->nres = n;
	snprintf(j->machine_key, sizeof(j->machine_key), "%s", machine);
	j->candidate_id = store_candidate_machine(st, arch, label, machine, tree, label, "/img", NULL);
	id = j->candidate_id > 0 ? store_job(st, run, j, "here", NULL) : -1;
	job_free(j);
	return id;
}

/* The same on the default machine (key ''). */
static inline int64_t hist_job(struct store *st, int64_t run, const char *arch,
			       const char *label, const char *tree, const char *release,
			       enum job_outcome o, double boot, const char *const *res)
{
	return hist_job_m(st, run, arch, label, "", tree, release, o, boot, res);
}

#endif
