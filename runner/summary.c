#include "summary.h"
#include "util.h"

#include <stdlib.h>

#define THIS_CAND(col) \
	"(SELECT c1." col " FROM jobs j1 JOIN candidates c1 ON c1.id = j1.candidate_id" \
	" WHERE j1.id = ?1)"

/* The job's tree x arch, if its candidate is that pair's matrix pick. */
#define JOB_PICK \
	"(SELECT c.tree AS tree, j.arch AS arch FROM jobs j JOIN candidates c" \
	"  ON c.id = j.candidate_id WHERE j.id = ?1 AND c.tree IS NOT NULL" \
	"  AND j.candidate_id = " SUMMARY_PICK("c.tree", "j.arch") ")"

/* The job's tree x arch x machine, if its candidate is one of its latest two. */
#define JOB_TRIPLE \
	"(SELECT c.tree AS tree, j.arch AS arch, c.machine AS machine FROM jobs j" \
	"  JOIN candidates c ON c.id = j.candidate_id WHERE j.id = ?1 AND c.tree IS NOT NULL" \
	"  AND j.candidate_id >= COALESCE((SELECT x.cand FROM sum_cand_arch x" \
	"   WHERE x.tree = c.tree AND x.arch = j.arch AND x.machine = c.machine" \
	"   ORDER BY x.cand DESC LIMIT 1 OFFSET 1), 0))"

/* The steps, in order, all keyed by the job id (?1). An infrastructure error
 * counts in the job tallies only: it says nothing about the kernel. */
static const char *const steps[] = {
	"INSERT INTO sum_outcome (outcome, n) SELECT outcome, 1 FROM jobs WHERE id = ?1"
	" ON CONFLICT (outcome) DO UPDATE SET n = n + 1",

	"INSERT INTO sum_run (run_id, jobs, complete)"
	" SELECT run_id, 1, outcome = 'COMPLETE' FROM jobs WHERE id = ?1"
	" ON CONFLICT (run_id) DO UPDATE SET jobs = jobs + 1,"
	"  complete = complete + excluded.complete",

	"INSERT INTO sum_arch (arch, job, boot_job)"
	" SELECT arch, id, CASE WHEN boot_s IS NOT NULL THEN id END FROM jobs WHERE id = ?1"
	" ON CONFLICT (arch) DO UPDATE SET job = max(job, excluded.job),"
	"  boot_job = COALESCE(max(boot_job, excluded.boot_job), boot_job, excluded.boot_job)",

	"INSERT INTO sum_job (job_id, pass, fail, skip, missing)"
	" SELECT ?1, total(status = 'PASS'), total(status = 'FAIL'), total(status = 'SKIP'),"
	"  total(status = 'MISSING') FROM results WHERE job_id = ?1 AND depth = 0",

	/* the flake counts of the rows this job changes: out with the old state... */
	"UPDATE sum_flake SET ncand = ncand - 1, nflaky = nflaky - s.flaky"
	" FROM jobs j, candidates c, sum_cand_test s"
	" WHERE j.id = ?1 AND j.outcome != 'INFRA_ERROR' AND c.id = j.candidate_id"
	"  AND s.cand = j.candidate_id AND s.arch = j.arch"
	"  AND s.test IN (SELECT test FROM results WHERE job_id = ?1 AND depth = 0)"
	"  AND sum_flake.tree = c.tree AND sum_flake.arch = s.arch AND sum_flake.test = s.test",

	"INSERT INTO sum_cand_test (cand, arch, test, npass, nskip, nfail, nmissing, reason,"
	"  job, release, norel)"
	" SELECT j.candidate_id, j.arch, r.test, r.status = 'PASS', r.status = 'SKIP',"
	"  r.status NOT IN ('PASS', 'SKIP', 'MISSING'), r.status = 'MISSING', r.reason, j.id,"
	"  j.release, j.release IS NULL"
	" FROM results r JOIN jobs j ON j.id = r.job_id"
	" WHERE r.job_id = ?1 AND r.depth = 0 AND j.outcome != 'INFRA_ERROR'"
	" ON CONFLICT (cand, arch, test) DO UPDATE SET"
	"  npass = npass + excluded.npass, nskip = nskip + excluded.nskip,"
	"  nfail = nfail + excluded.nfail, nmissing = nmissing + excluded.nmissing,"
	"  reason = COALESCE(max(reason, excluded.reason), reason, excluded.reason),"
	"  job = max(job, excluded.job),"
	"  release = COALESCE(max(release, excluded.release), release, excluded.release),"
	"  norel = norel + excluded.norel",

	/* ...and in with the new */
	"INSERT INTO sum_flake (tree, arch, test, ncand, nflaky)"
	" SELECT c.tree, s.arch, s.test, 1, s.flaky FROM jobs j"
	" JOIN candidates c ON c.id = j.candidate_id"
	" JOIN sum_cand_test s ON s.cand = j.candidate_id AND s.arch = j.arch"
	" WHERE j.id = ?1 AND j.outcome != 'INFRA_ERROR' AND c.tree IS NOT NULL"
	"  AND s.test IN (SELECT test FROM results WHERE job_id = ?1 AND depth = 0)"
	" ON CONFLICT (tree, arch, test) DO UPDATE SET ncand = ncand + 1,"
	"  nflaky = nflaky + excluded.nflaky",

	/* the job's tree x label row, recomputed (its release may have moved) */
	"DELETE FROM sum_tree_label WHERE (tree, label) = (SELECT c.tree, c.label FROM jobs j"
	" JOIN candidates c ON c.id = j.candidate_id WHERE j.id = ?1)",

	"INSERT INTO sum_tree_label " SUMMARY_TREE_LABEL(THIS_CAND("tree"), THIS_CAND("label")),

	"INSERT OR IGNORE INTO sum_cand_arch (cand, arch, tree, machine)"
	" SELECT j.candidate_id, j.arch, c.tree, c.machine FROM jobs j"
	" JOIN candidates c ON c.id = j.candidate_id WHERE j.id = ?1"
	"  AND j.outcome != 'INFRA_ERROR'"
	"  AND EXISTS (SELECT 1 FROM results WHERE job_id = ?1 AND depth = 0)",

	"INSERT OR IGNORE INTO sum_tree_arch (tree, arch, machine)"
	" SELECT c.tree, j.arch, c.machine FROM jobs j JOIN candidates c ON c.id = j.candidate_id"
	" WHERE j.id = ?1 AND c.tree IS NOT NULL AND j.outcome != 'INFRA_ERROR'"
	"  AND EXISTS (SELECT 1 FROM results WHERE job_id = ?1 AND depth = 0)",

	/* last, over the summaries above: the matrix's cells of the job's tree x
	 * arch, afresh when its candidate is that pair's pick (a new pick, its
	 * tests and release moved)... */
	"DELETE FROM sum_matrix WHERE (tree, arch) = (SELECT p.tree, p.arch FROM " JOB_PICK " p)",

	SUMMARY_MATRIX_CELLS(JOB_PICK),

	/* ...else (an older candidate's job) only the flake counts it moved */
	"UPDATE sum_matrix SET ncand = f.ncand, nflaky = f.nflaky"
	" FROM jobs j, candidates c, sum_flake f"
	" WHERE j.id = ?1 AND j.outcome != 'INFRA_ERROR' AND c.id = j.candidate_id"
	/* (a term of j and c alone: tested once, before any cell is looked at) */
	"  AND j.candidate_id IS NOT " SUMMARY_PICK("c.tree", "j.arch")
	"  AND sum_matrix.tree = c.tree AND sum_matrix.arch = j.arch"
	"  AND sum_matrix.test IN (SELECT test FROM results WHERE job_id = ?1 AND depth = 0)"
	"  AND f.tree = c.tree AND f.arch = j.arch AND f.test = sum_matrix.test",

	/* the changes of the job's tree x arch x machine, afresh when its
	 * candidate is one of that triple's latest two (the pair it is in, or
	 * the new latest moving the pair on) */
	"DELETE FROM sum_change WHERE (tree, arch, machine) = (SELECT tree, arch, machine"
	" FROM " JOB_TRIPLE ")",

	SUMMARY_CHANGE_INSERT SUMMARY_CHANGES(SUMMARY_PAIRS_OF(JOB_TRIPLE)),
};

struct summary {
	sqlite3_stmt *s[ARRAY_SIZE(steps)];
};

struct summary *summary_new(sqlite3 *db)
{
	struct summary *sum = xcalloc(1, sizeof(*sum));

	for (size_t i = 0; i < ARRAY_SIZE(steps); i++)
		if (sqlite3_prepare_v3(db, steps[i], -1, SQLITE_PREPARE_PERSISTENT, &sum->s[i],
				       NULL) != SQLITE_OK) {
			summary_free(sum);
			return NULL;
		}
	return sum;
}

void summary_free(struct summary *sum)
{
	if (!sum)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(steps); i++)
		sqlite3_finalize(sum->s[i]);
	free(sum);
}

int summary_add(struct summary *sum, int64_t job)
{
	for (size_t i = 0; i < ARRAY_SIZE(steps); i++) {
		sqlite3_stmt *s = sum->s[i];
		int rc;

		sqlite3_bind_int64(s, 1, job);
		rc = sqlite3_step(s);
		sqlite3_reset(s);
		if (rc != SQLITE_DONE)
			return -1;
	}
	return 0;
}

int summary_add_job(sqlite3 *db, int64_t job)
{
	struct summary *sum = summary_new(db);
	int ret = sum ? summary_add(sum, job) : -1;

	summary_free(sum);
	return ret;
}
