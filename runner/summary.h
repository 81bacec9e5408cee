/* Read-side summaries: what /api/regressions, /api/matrix, /metrics, /api/runs
 * and the run summary need, kept up to date as each job is stored (in the
 * job's own transaction), so no request scans the history. regress.c reads
 * sum_cand_test exactly as it used to aggregate results per candidate x arch x
 * test; SUMMARY_MIGRATION builds every table from an existing history. */
#ifndef KFARM_SUMMARY_H
#define KFARM_SUMMARY_H

#include <sqlite3.h>
#include <stdint.h>

/* Adds the stored job (its row and results already inserted, its candidate
 * already updated) to every summary; 0, or -1 with the SQLite error left in db.
 * summary_new prepares the steps once (per store: a job's ingest would
 * otherwise prepare them all again); summary_add_job is new + add + free. */
struct summary;
struct summary *summary_new(sqlite3 *db);
int summary_add(struct summary *sum, int64_t job);
void summary_free(struct summary *sum);
int summary_add_job(sqlite3 *db, int64_t job);

/* The classification of one candidate x arch x test from its counts, as SQL:
 * FLAKY when its jobs disagree on pass/skip/fail, else the agreed status
 * (MISSING over FAIL, as max(status) always chose). */
#define SUMMARY_FLAKY "(((npass > 0) + (nskip > 0) + (nfail + nmissing > 0)) > 1)"

/* One tree x label row of sum_tree_label recomputed from the candidates:
 * the tree and label are SQL expressions (old.tree in a trigger...). */
#define SUMMARY_TREE_LABEL(tree, label) \
	"SELECT c.tree, c.label, max(c.release)," \
	" min((SELECT min(j.id) FROM jobs j WHERE j.candidate_id = c.id))" \
	" FROM candidates c WHERE c.tree = " tree " AND c.label = " label \
	"  AND EXISTS (SELECT 1 FROM jobs j WHERE j.candidate_id = c.id)" \
	" GROUP BY c.tree, c.label"

/* What the candidates' tree trigger does (the body of migration 6's
 * sum_tree_moved; migration 9 adds the matrix's cells after it). */
#define SUMMARY_TREE_MOVED \
	"  UPDATE sum_cand_arch SET tree = new.tree WHERE cand = new.id;" \
	/* no OR IGNORE in a trigger: the firing statement's policy would win */ \
	"  INSERT INTO sum_tree_arch (tree, arch, machine)" \
	"   SELECT new.tree, a.arch, a.machine FROM sum_cand_arch a WHERE a.cand = new.id" \
	"   AND new.tree IS NOT NULL AND NOT EXISTS (SELECT 1 FROM sum_tree_arch t" \
	"    WHERE t.tree = new.tree AND t.arch = a.arch AND t.machine = a.machine);" \
	"  UPDATE sum_flake SET ncand = ncand - 1, nflaky = nflaky - (SELECT s.flaky" \
	"   FROM sum_cand_test s WHERE s.cand = old.id AND s.arch = sum_flake.arch" \
	"   AND s.test = sum_flake.test)" \
	"  WHERE tree = old.tree AND EXISTS (SELECT 1 FROM sum_cand_test s WHERE s.cand = old.id" \
	"   AND s.arch = sum_flake.arch AND s.test = sum_flake.test);" \
	"  DELETE FROM sum_tree_label WHERE tree = old.tree AND label = old.label;" \
	"  INSERT INTO sum_tree_label " SUMMARY_TREE_LABEL("old.tree", "old.label") ";" \
	"  DELETE FROM sum_tree_label WHERE tree = new.tree AND label = new.label;" \
	"  INSERT INTO sum_tree_label " SUMMARY_TREE_LABEL("new.tree", "new.label") ";" \
	"  INSERT INTO sum_flake (tree, arch, test, ncand, nflaky)" \
	"   SELECT new.tree, arch, test, 1, flaky FROM sum_cand_test" \
	"   WHERE cand = new.id AND new.tree IS NOT NULL" \
	"   ON CONFLICT (tree, arch, test) DO UPDATE SET ncand = ncand + 1," \
	"    nflaky = nflaky + excluded.nflaky;"

#define SUMMARY_MIGRATION \
	"CREATE TABLE sum_cand_test (" \
	"  cand INTEGER NOT NULL, arch TEXT NOT NULL, test TEXT NOT NULL," \
	"  npass INTEGER NOT NULL, nskip INTEGER NOT NULL," \
	"  nfail INTEGER NOT NULL, nmissing INTEGER NOT NULL," \
	"  reason TEXT, job INTEGER NOT NULL," \
	"  release TEXT, norel INTEGER NOT NULL," \
	"  flaky INTEGER GENERATED ALWAYS AS " SUMMARY_FLAKY " VIRTUAL," \
	/* NULL (a damaged row, never written by kfarm) when a count is NULL; \
	 * the sum, as SQLite folds "col IS NULL" away for a NOT NULL column */ \
	"  status TEXT GENERATED ALWAYS AS (CASE WHEN (npass + nskip + nfail + nmissing) IS NULL" \
	"    THEN NULL WHEN " SUMMARY_FLAKY " THEN 'FLAKY'" \
	"    WHEN npass > 0 THEN 'PASS' WHEN nskip > 0 THEN 'SKIP'" \
	"    WHEN nmissing > 0 THEN 'MISSING' ELSE 'FAIL' END) VIRTUAL," \
	"  PRIMARY KEY (cand, arch, test)) WITHOUT ROWID;" \
	/* the candidates with results per arch, with their tree (the trigger \
	 * below keeps it the candidate's) and machine (part of the candidate's \
	 * identity, never changed), so that a tree x arch x machine's latest \
	 * two are one index seek; sum_tree_arch lists the triples ever seen */ \
	"CREATE TABLE sum_cand_arch (cand INTEGER NOT NULL, arch TEXT NOT NULL, tree TEXT," \
	"  machine TEXT NOT NULL, PRIMARY KEY (cand, arch)) WITHOUT ROWID;" \
	"CREATE INDEX sum_cand_arch_tree ON sum_cand_arch(tree, arch, machine, cand);" \
	"CREATE TABLE sum_tree_arch (tree TEXT NOT NULL, arch TEXT NOT NULL," \
	"  machine TEXT NOT NULL, PRIMARY KEY (tree, arch, machine)) WITHOUT ROWID;" \
	"CREATE TABLE sum_flake (tree TEXT NOT NULL, arch TEXT NOT NULL, test TEXT NOT NULL," \
	"  ncand INTEGER NOT NULL, nflaky INTEGER NOT NULL," \
	"  PRIMARY KEY (tree, arch, test)) WITHOUT ROWID;" \
	/* /api/trees: per tree x label, over its candidates that have jobs */ \
	"CREATE TABLE sum_tree_label (tree TEXT NOT NULL, label TEXT NOT NULL, release TEXT," \
	"  first_job INTEGER NOT NULL, PRIMARY KEY (tree, label)) WITHOUT ROWID;" \
	"CREATE INDEX sum_tree_label_order ON sum_tree_label(tree, first_job);" \
	"CREATE TABLE sum_outcome (outcome TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;" \
	"CREATE TABLE sum_arch (arch TEXT PRIMARY KEY, job INTEGER NOT NULL, boot_job INTEGER)" \
	"  WITHOUT ROWID;" \
	"CREATE TABLE sum_run (run_id INTEGER PRIMARY KEY, jobs INTEGER NOT NULL," \
	"  complete INTEGER NOT NULL);" \
	"CREATE TABLE sum_job (job_id INTEGER PRIMARY KEY, pass INTEGER NOT NULL," \
	"  fail INTEGER NOT NULL, skip INTEGER NOT NULL, missing INTEGER NOT NULL);" \
	"CREATE INDEX jobs_candidate ON jobs(candidate_id, id);" \
	"CREATE INDEX runs_started ON runs(started);" \
	"CREATE INDEX candidates_label ON candidates(label);" \
	"INSERT INTO sum_cand_test (cand, arch, test, npass, nskip, nfail, nmissing, reason," \
	"  job, release, norel)" \
	" SELECT j.candidate_id, j.arch, r.test, total(r.status = 'PASS'), total(r.status = 'SKIP')," \
	"  total(r.status NOT IN ('PASS', 'SKIP', 'MISSING')), total(r.status = 'MISSING')," \
	"  max(r.reason), max(j.id), max(j.release), total(j.release IS NULL)" \
	" FROM results r JOIN jobs j ON j.id = r.job_id" \
	" WHERE r.depth = 0 AND j.outcome != 'INFRA_ERROR'" \
	" GROUP BY j.candidate_id, j.arch, r.test;" \
	"INSERT INTO sum_cand_arch SELECT DISTINCT s.cand, s.arch, c.tree, c.machine" \
	" FROM sum_cand_test s JOIN candidates c ON c.id = s.cand;" \
	"INSERT INTO sum_tree_arch SELECT DISTINCT tree, arch, machine FROM sum_cand_arch" \
	" WHERE tree IS NOT NULL;" \
	"INSERT INTO sum_flake SELECT c.tree, s.arch, s.test, count(*), total(s.flaky)" \
	" FROM sum_cand_test s JOIN candidates c ON c.id = s.cand WHERE c.tree IS NOT NULL" \
	" GROUP BY c.tree, s.arch, s.test;" \
	"INSERT INTO sum_tree_label SELECT tree, label, max(release), min(first_job)" \
	" FROM (SELECT c.tree, c.label, c.release," \
	"  (SELECT min(j.id) FROM jobs j WHERE j.candidate_id = c.id) AS first_job" \
	"  FROM candidates c WHERE c.tree IS NOT NULL)" \
	" WHERE first_job IS NOT NULL GROUP BY tree, label;" \
	"INSERT INTO sum_outcome SELECT outcome, count(*) FROM jobs GROUP BY outcome;" \
	"INSERT INTO sum_arch SELECT arch, max(id), max(CASE WHEN boot_s IS NOT NULL THEN id END)" \
	" FROM jobs GROUP BY arch;" \
	"INSERT INTO sum_run SELECT run_id, count(*), total(outcome = 'COMPLETE') FROM jobs" \
	" GROUP BY run_id;" \
	"INSERT INTO sum_job SELECT j.id, total(r.status = 'PASS'), total(r.status = 'FAIL')," \
	"  total(r.status = 'SKIP'), total(r.status = 'MISSING')" \
	" FROM jobs j LEFT JOIN results r ON r.job_id = j.id AND r.depth = 0 GROUP BY j.id;" \
	/* a candidate's flake counts follow it when its tree changes (--tree \
	 * given later, or the release's series filled in) */ \
	"CREATE TRIGGER sum_tree_moved AFTER UPDATE OF tree ON candidates" \
	" WHEN old.tree IS NOT new.tree BEGIN" \
	SUMMARY_TREE_MOVED \
	" END;"

/* The release of a candidate x arch x test (sum_cand_test s, candidates
 * c): the jobs' own, or the candidate's for the jobs that reported none
 * (max(COALESCE(j.release, c.release)) over the jobs, as one aggregate used
 * to compute it). */
#define SUMMARY_RELEASE(s, c) \
	"CASE WHEN " s ".norel > 0 AND " c ".release IS NOT NULL THEN" \
	" COALESCE(max(" s ".release, " c ".release), " c ".release)" \
	" ELSE " s ".release END"

/* The matrix's candidate of a tree x arch: the latest of its machines'
 * latest (each one seek of sum_cand_arch_tree). */
#define SUMMARY_PICK(tree, arch) \
	"(SELECT max((SELECT x.cand FROM sum_cand_arch x WHERE x.tree = m.tree" \
	"   AND x.arch = m.arch AND x.machine = m.machine ORDER BY x.cand DESC LIMIT 1))" \
	"  FROM sum_tree_arch m WHERE m.tree = " tree " AND m.arch = " arch ")"

/* sum_matrix's rows for the (tree, arch) pairs of the subquery pairs, as
 * /api/matrix shows them: the pick's tests, what it says of each, and the
 * flake counts of its tree x arch x test. */
#define SUMMARY_MATRIX_CELLS(pairs) \
	"INSERT INTO sum_matrix (tree, test, arch, cand, status, reason, job, label, release," \
	"  ncand, nflaky)" \
	" SELECT p.tree, t.test, p.arch, t.cand, t.status, t.reason, t.job, c.label," \
	"  " SUMMARY_RELEASE("t", "c") ", f.ncand, f.nflaky" \
	" FROM (SELECT q.tree, q.arch, " SUMMARY_PICK("q.tree", "q.arch") " AS cur" \
	"  FROM " pairs " q) p" \
	" JOIN sum_cand_test t ON t.cand = p.cur AND t.arch = p.arch" \
	" JOIN candidates c ON c.id = p.cur" \
	" LEFT JOIN sum_flake f ON f.tree = p.tree AND f.arch = p.arch AND f.test = t.test"

/* A tree x arch x machine's latest candidate with results (n = 0) or the
 * one before it (n = 1), for each row of t (sum_cand_arch_tree: one seek). */
#define SUMMARY_NTH(t, n) \
	"(SELECT x.cand FROM sum_cand_arch x WHERE x.tree = " t ".tree" \
	" AND x.arch = " t ".arch AND x.machine = " t ".machine" \
	" ORDER BY x.cand DESC LIMIT 1 OFFSET " n ")"

/* The pairs (tree, arch, machine, cur, prev) of the triples of the subquery
 * triples: each one's latest candidate and the one before it. */
#define SUMMARY_PAIRS_OF(triples) \
	"(SELECT t.tree, t.arch, t.machine, " SUMMARY_NTH("t", "0") " AS cur," \
	"  " SUMMARY_NTH("t", "1") " AS prev FROM " triples " t)"

/* Each pair's tests seen on both sides whose status differs, with what each
 * side says (regress.c's columns, after the pair's machine). */
#define SUMMARY_CHANGES(pairs) \
	"SELECT p.tree AS tree, p.arch AS arch, p.machine AS machine, cur.test AS test," \
	" pc.label AS from_kernel, " SUMMARY_RELEASE("prev", "pc") " AS from_release," \
	" prev.status AS from_status, prev.job AS from_job, cc.label AS to_kernel," \
	" " SUMMARY_RELEASE("cur", "cc") " AS to_release, cur.status AS to_status," \
	" cur.job AS to_job, cur.reason AS reason" \
	" FROM " pairs " p JOIN sum_cand_test cur ON cur.cand = p.cur AND cur.arch = p.arch" \
	" JOIN sum_cand_test prev ON prev.cand = p.prev AND prev.arch = p.arch" \
	"  AND prev.test = cur.test" \
	" JOIN candidates cc ON cc.id = p.cur JOIN candidates pc ON pc.id = p.prev" \
	" WHERE cur.status IS NOT prev.status"	/* the same status is no change */

#define SUMMARY_CHANGE_INSERT \
	"INSERT INTO sum_change (tree, arch, machine, test, from_kernel, from_release," \
	"  from_status, from_job, to_kernel, to_release, to_status, to_job, reason) "

/* Kept as jobs are stored, for the read side at any history's size, and
 * built from the summaries (each runs again over its own result):
 * - sum_matrix, /api/matrix's cells (each tree x arch's pick, SUMMARY_PICK)
 *   in the order the route writes them: one scan, no seek per cell;
 * - sum_change, the changes of each tree x arch x machine's latest pair
 *   (what /api/regressions and /metrics report, before known failures are
 *   matched, which is done as they are read: the files can change), in
 *   the order /api/regressions lists them.
 * The tree trigger rebuilds both for the pairs a candidate leaves and joins. */
#define SUMMARY_READ_MIGRATION \
	"CREATE TABLE IF NOT EXISTS sum_matrix (tree TEXT NOT NULL, test TEXT NOT NULL," \
	"  arch TEXT NOT NULL, cand INTEGER NOT NULL, status TEXT, reason TEXT," \
	"  job INTEGER NOT NULL, label TEXT, release TEXT, ncand INTEGER, nflaky INTEGER," \
	"  PRIMARY KEY (tree, test, arch)) WITHOUT ROWID;" \
	"DELETE FROM sum_matrix;" \
	SUMMARY_MATRIX_CELLS("(SELECT DISTINCT tree, arch FROM sum_tree_arch)") ";" \
	"CREATE TABLE IF NOT EXISTS sum_change (tree TEXT NOT NULL, arch TEXT NOT NULL," \
	"  machine TEXT NOT NULL, test TEXT NOT NULL, from_kernel TEXT, from_release TEXT," \
	"  from_status TEXT, from_job INTEGER, to_kernel TEXT, to_release TEXT, to_status TEXT," \
	"  to_job INTEGER, reason TEXT, PRIMARY KEY (tree, arch, machine, test)) WITHOUT ROWID;" \
	"DELETE FROM sum_change;" \
	SUMMARY_CHANGE_INSERT SUMMARY_CHANGES(SUMMARY_PAIRS_OF("sum_tree_arch")) ";" \
	"DROP TRIGGER IF EXISTS sum_tree_moved;" \
	"CREATE TRIGGER sum_tree_moved AFTER UPDATE OF tree ON candidates" \
	" WHEN old.tree IS NOT new.tree BEGIN" \
	SUMMARY_TREE_MOVED \
	"  DELETE FROM sum_matrix WHERE tree IN (old.tree, new.tree)" \
	"   AND arch IN (SELECT arch FROM sum_cand_arch WHERE cand = new.id);" \
	"  " SUMMARY_MATRIX_CELLS("(SELECT t.tree, a.arch FROM (SELECT old.tree AS tree" \
	"   UNION SELECT new.tree) t, (SELECT DISTINCT arch FROM sum_cand_arch" \
	"   WHERE cand = new.id) a WHERE t.tree IS NOT NULL)") ";" \
	"  DELETE FROM sum_change WHERE tree IN (old.tree, new.tree)" \
	"   AND (arch, machine) IN (SELECT arch, machine FROM sum_cand_arch WHERE cand = new.id);" \
	"  " SUMMARY_CHANGE_INSERT SUMMARY_CHANGES(SUMMARY_PAIRS_OF("(SELECT t.tree, a.arch," \
	"   a.machine FROM (SELECT old.tree AS tree UNION SELECT new.tree) t, (SELECT DISTINCT" \
	"   arch, machine FROM sum_cand_arch WHERE cand = new.id) a WHERE t.tree IS NOT NULL)")) ";" \
	" END;"

#endif
