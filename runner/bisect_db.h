/* kfarm bisect's state in the history database (schema step 7): the
 * bisection, its steps and their runs, written as they happen so that a
 * killed bisection resumes from them; and the read side (/api/bisections,
 * kfarm report's culprits). */
#ifndef KFARM_BISECT_DB_H
#define KFARM_BISECT_DB_H

#include "api.h"
#include "bisect.h"

#include <sqlite3.h>
#include <stdint.h>

#define BISECT_MIGRATION \
	"CREATE TABLE bisections (" \
	"  id INTEGER PRIMARY KEY," \
	"  repo TEXT NOT NULL," \
	"  good TEXT NOT NULL," \
	"  bad TEXT NOT NULL," \
	"  arch TEXT NOT NULL," \
	"  mode TEXT NOT NULL CHECK (mode IN ('test', 'build', 'outcome'))," \
	"  test TEXT," \
	"  runs INTEGER NOT NULL," \
	"  commits INTEGER NOT NULL," \
	"  tree TEXT," \
	"  append TEXT," \
	"  revert_check INTEGER NOT NULL DEFAULT 0," \
	"  status TEXT NOT NULL CHECK (status IN ('running', 'found', 'unconfirmed'," \
	"    'noisy', 'not_good', 'not_bad', 'ambiguous', 'failed'))," \
	"  culprit TEXT," \
	"  subject TEXT," \
	"  author TEXT," \
	"  message TEXT," \
	"  revert TEXT CHECK (revert IN ('pass', 'fail', 'conflict'))," \
	"  started REAL NOT NULL," \
	"  finished REAL);" \
	"CREATE TABLE bisect_steps (" \
	"  id INTEGER PRIMARY KEY," \
	"  bisection_id INTEGER NOT NULL REFERENCES bisections(id)," \
	"  seq INTEGER NOT NULL," \
	"  kind TEXT NOT NULL CHECK (kind IN ('verify_good', 'verify_bad', 'step'," \
	"    'confirm_bad', 'confirm_good', 'revert'))," \
	"  commit_id TEXT NOT NULL," \
	"  verdict TEXT CHECK (verdict IN ('good', 'bad', 'skip'))," \
	"  runs INTEGER NOT NULL DEFAULT 0," \
	"  fails INTEGER NOT NULL DEFAULT 0," \
	"  infra INTEGER NOT NULL DEFAULT 0," \
	"  build_s REAL," \
	"  boot_s REAL," \
	"  wall_s REAL," \
	"  started REAL NOT NULL," \
	"  finished REAL," \
	"  UNIQUE (bisection_id, seq)," \
	"  UNIQUE (bisection_id, kind, commit_id));" \
	"CREATE TABLE bisect_runs (" \
	"  step_id INTEGER NOT NULL REFERENCES bisect_steps(id)," \
	"  attempt INTEGER NOT NULL," \
	"  pid INTEGER NOT NULL," \
	"  after_run INTEGER NOT NULL," \
	"  run_id INTEGER REFERENCES runs(id)," \
	"  result TEXT CHECK (result IN ('pass', 'fail', 'build_fail', 'infra', 'skip'))," \
	"  wall_s REAL," \
	"  PRIMARY KEY (step_id, attempt)) WITHOUT ROWID;"

struct bisect_rec {
	int64_t id;
	char *repo, *good, *bad, *arch, *test, *tree;	/* test: NULL unless BM_TEST */
	char *append;		/* kernel command-line arguments of every boot, or NULL */
	int revert_check;
	enum bisect_mode mode;
	unsigned int runs;
	long commits;
	char *status;
};

/* The write side and the bisection's own reads: a failure returns -1 with
 * "database: ..." in e (err.h; NULL: not told). */

/* An open bisection with these parameters (to resume; revert_check and
 * tree aside), else 0; -1 error. */
int64_t bisectdb_find_open(sqlite3 *db, const struct bisect_rec *b, struct err *e);
int64_t bisectdb_create(sqlite3 *db, const struct bisect_rec *b, struct err *e);
/* Loads bisection id into b (strings owned, bisectdb_rec_release); -1 if
 * none (code 404) or on an error. */
int bisectdb_load(sqlite3 *db, int64_t id, struct bisect_rec *b, struct err *e);
void bisectdb_rec_release(struct bisect_rec *b);
int bisectdb_finish(sqlite3 *db, int64_t id, const char *status, const char *culprit,
		    const char *subject, const char *author, const char *message,
		    const char *revert, struct err *e);

/* The step (kind, commit) of the bisection, created if new; its stored
 * verdict (BV_NONE while undecided) in *v. Step id, or -1. */
int64_t bisectdb_step(sqlite3 *db, int64_t bisection, const char *kind, const char *commit,
		      enum bisect_verdict *v, struct err *e);
int bisectdb_step_end(sqlite3 *db, int64_t step, enum bisect_verdict v,
		      const struct bisect_tally *t, double build_s, double boot_s, double wall_s,
		      struct err *e);

/* A step's runs: the finished ones' results in r (at most max), in attempt
 * order; the unfinished one (a run started by a bisection that was
 * killed), if any, in *pending_* (attempt 0: none). Count, or -1. */
struct bisect_pending {
	int attempt;
	long pid;
	int64_t after;
};
int bisectdb_runs(sqlite3 *db, int64_t step, enum bisect_run *r, size_t max,
		  struct bisect_pending *p, double *wall_s, struct err *e);
int bisectdb_run_begin(sqlite3 *db, int64_t step, int attempt, long pid, int64_t after,
		       struct err *e);
int bisectdb_run_end(sqlite3 *db, int64_t step, int attempt, int64_t run, enum bisect_run r,
		     double wall_s, struct err *e);

int64_t bisectdb_max_run(sqlite3 *db, struct err *e);
/* The run child `pid` began after run `after`: its id (0: none yet) and
 * whether it is still 'running'. */
int64_t bisectdb_run_of_pid(sqlite3 *db, int64_t after, long pid, int *running, struct err *e);
/* The run's own wall time (finished - started; 0 if unknown): for a run
 * adopted from a killed bisection, which did not time it. -1 on an error. */
double bisectdb_run_wall(sqlite3 *db, int64_t run, struct err *e);
/* How run `run` judged the step, and its build and boot seconds; -1 on an
 * error (*out is BR_INFRA then). */
int bisectdb_judge(sqlite3 *db, int64_t run, const char *arch, enum bisect_mode m,
		   const char *test, enum bisect_run *out, double *build_s, double *boot_s,
		   struct err *e);
/* The test's failure rate on candidates where it both passed and failed on
 * arch (0 when it never flaked there); -1 on an error. */
double bisectdb_flake_rate(sqlite3 *db, const char *arch, const char *test, struct err *e);

/* Read side: every bisection, newest first (limit); one with its steps. */
json_t *bisect_api_list(sqlite3 *db, int limit, struct err *e);
json_t *bisect_api_one(sqlite3 *db, int64_t id, struct err *e);
/* Adds "bisections" to a kfarm report (report.h): the found culprits of
 * its trees or candidates. */
int bisect_report_add(sqlite3 *db, json_t *report);
/* 1 if the database has bisections (a file older than step 7 has not). */
int bisectdb_present(sqlite3 *db);

#endif
