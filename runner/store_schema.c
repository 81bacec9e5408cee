/* The history's schema, its one home: the migrations (each moves the file
 * one version on), migration on open, and the check that a file's schema is
 * exactly what they make. */
#include "bisect_db.h"
#include "summary.h"
#include "store_int.h"
#include "util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Each entry moves the schema from version i to i + 1. Never edit a
 * released entry: add a new one. */
static const char *const migrations[] = {
	/* 1: candidates, runs, jobs, results */
	"CREATE TABLE candidates ("
	"  id INTEGER PRIMARY KEY,"
	"  arch TEXT NOT NULL,"
	"  label TEXT NOT NULL,"
	"  tree TEXT,"
	"  image_sha256 TEXT NOT NULL,"
	"  image_path TEXT,"
	"  release TEXT,"
	"  created REAL NOT NULL,"
	"  UNIQUE (arch, label, image_sha256));"
	"CREATE TABLE runs ("
	"  id INTEGER PRIMARY KEY,"
	"  started REAL NOT NULL,"
	"  finished REAL,"
	"  status TEXT NOT NULL CHECK (status IN"
	"    ('running', 'complete', 'interrupted', 'failed')),"
	"  pid INTEGER,"
	"  argv TEXT);"
	"CREATE TABLE jobs ("
	"  id INTEGER PRIMARY KEY,"
	"  run_id INTEGER NOT NULL REFERENCES runs(id),"
	"  candidate_id INTEGER NOT NULL REFERENCES candidates(id),"
	"  arch TEXT NOT NULL,"
	"  attempt INTEGER NOT NULL,"
	"  outcome TEXT NOT NULL CHECK (outcome IN ('COMPLETE', 'BOOT_FAIL',"
	"    'PANIC', 'TIMEOUT', 'INFRA_ERROR')),"
	"  reason TEXT,"
	"  warning TEXT,"
	"  release TEXT,"
	"  boot_s REAL,"
	"  duration_s REAL,"
	"  started REAL NOT NULL,"
	"  finished REAL NOT NULL,"
	"  host TEXT,"
	"  backend TEXT,"
	"  qemu_version TEXT,"
	"  qemu_cmdline TEXT,"
	"  log_path TEXT);"
	"CREATE TABLE results ("
	"  id INTEGER PRIMARY KEY,"
	"  job_id INTEGER NOT NULL REFERENCES jobs(id),"
	"  test TEXT NOT NULL,"
	"  depth INTEGER NOT NULL,"
	"  status TEXT NOT NULL CHECK (status IN ('PASS', 'FAIL', 'SKIP', 'MISSING')),"
	"  reason TEXT,"
	"  duration_s REAL);"
	"CREATE INDEX jobs_run ON jobs(run_id);"
	"CREATE INDEX jobs_arch ON jobs(arch, id);"
	"CREATE INDEX results_job ON results(job_id);"
	"CREATE INDEX results_test ON results(test, job_id) WHERE depth = 0;"
	/* the latest top-level result per arch x test, kept by store_job so
	 * /api/status never scans the history */
	"CREATE TABLE latest ("
	"  arch TEXT NOT NULL,"
	"  test TEXT NOT NULL,"
	"  result_id INTEGER NOT NULL REFERENCES results(id),"
	"  PRIMARY KEY (arch, test)) WITHOUT ROWID;",
	/* 2 (issue 10, stale runs): the run's lock file, relative to the logs
	 * directory, flocked by its kfarm for the run's life; NULL for runs of
	 * kfarms before it */
	"ALTER TABLE runs ADD COLUMN lock TEXT;",
	/* 3: source candidates and their builds (kfarm build / run --source):
	 * a build is a result per (source, arch, config) */
	"CREATE TABLE sources ("
	"  id INTEGER PRIMARY KEY,"
	"  kind TEXT NOT NULL CHECK (kind IN ('git', 'dir', 'tarball')),"
	"  spec TEXT NOT NULL,"
	"  identity TEXT NOT NULL,"
	"  commit_id TEXT,"
	"  sha256 TEXT,"
	"  patches TEXT,"
	"  patches_hash TEXT NOT NULL,"
	"  tree TEXT NOT NULL,"
	"  label TEXT NOT NULL,"
	"  version TEXT,"
	"  created REAL NOT NULL,"
	"  UNIQUE (identity, tree, label));"
	"CREATE TABLE builds ("
	"  id INTEGER PRIMARY KEY,"
	"  run_id INTEGER NOT NULL REFERENCES runs(id),"
	"  source_id INTEGER NOT NULL REFERENCES sources(id),"
	"  candidate_id INTEGER REFERENCES candidates(id),"
	"  arch TEXT NOT NULL,"
	"  config TEXT NOT NULL,"
	"  config_sha256 TEXT,"
	"  status TEXT NOT NULL CHECK (status IN ('PASS', 'FAIL', 'ERROR')),"
	"  error TEXT,"
	"  warnings INTEGER,"
	"  duration_s REAL,"
	"  cached INTEGER NOT NULL DEFAULT 0,"
	"  compiler TEXT,"
	"  release TEXT,"
	"  kernel_key TEXT,"
	"  log_path TEXT,"
	"  started REAL NOT NULL,"
	"  finished REAL NOT NULL);"
	"CREATE INDEX builds_source ON builds(source_id, arch);"
	"ALTER TABLE candidates ADD COLUMN source_id INTEGER REFERENCES sources(id);",
	/* 4: machine variants and KVM: the machine each job booted (variant
	 * name, vCPUs, memory, accelerator and why), and each candidate's
	 * comparison key (profile.h machine_key; '' = the default machine under
	 * TCG), part of the candidate's identity: the table is rebuilt for the
	 * new UNIQUE (store_schema_migrate runs with foreign keys off, checked
	 * before commit) */
	"ALTER TABLE jobs ADD COLUMN variant TEXT;"
	"ALTER TABLE jobs ADD COLUMN smp INTEGER;"
	"ALTER TABLE jobs ADD COLUMN memory_mb INTEGER;"
	"ALTER TABLE jobs ADD COLUMN accel TEXT;"
	"ALTER TABLE jobs ADD COLUMN accel_reason TEXT;"
	"CREATE TABLE candidates_m ("
	"  id INTEGER PRIMARY KEY,"
	"  arch TEXT NOT NULL,"
	"  label TEXT NOT NULL,"
	"  tree TEXT,"
	"  image_sha256 TEXT NOT NULL,"
	"  image_path TEXT,"
	"  release TEXT,"
	"  created REAL NOT NULL,"
	"  source_id INTEGER REFERENCES sources(id),"
	"  machine TEXT NOT NULL DEFAULT '',"
	"  UNIQUE (arch, label, image_sha256, machine));"
	"INSERT INTO candidates_m (id, arch, label, tree, image_sha256, image_path, release,"
	"  created, source_id) SELECT id, arch, label, tree, image_sha256, image_path,"
	"  release, created, source_id FROM candidates;"
	"DROP TABLE candidates;"
	"ALTER TABLE candidates_m RENAME TO candidates;",
	/* 5: LAVA backend: the LAVA job behind a kfarm job, and its page */
	"ALTER TABLE jobs ADD COLUMN lava_job_id INTEGER;"
	"ALTER TABLE jobs ADD COLUMN lava_url TEXT;",
	/* 6 (issue 10, scale of the read side): summaries (summary.h), built
	 * from the history so far, after 4 and 5 (the candidates rebuilt with their
	 * machine, on which the summaries key their pairs) */
	SUMMARY_MIGRATION,
	/* 7 (issue 13, kfarm bisect): a bisection, its steps (each a commit
	 * judged good/bad/skip from its runs) and each run, a child kfarm run
	 * or build whose pid is stored before it is waited for, so that a
	 * bisection killed meanwhile adopts the run instead of repeating it */
	BISECT_MIGRATION,
	/* 8 (issue 12): NOT_BUILT,
	 * the job of an arch whose source candidate did not build (its tests
	 * MISSING "not built"), which is no boot failure: the jobs table is
	 * rebuilt for the new CHECK, with its indexes */
	"CREATE TABLE jobs_n ("
	"  id INTEGER PRIMARY KEY,"
	"  run_id INTEGER NOT NULL REFERENCES runs(id),"
	"  candidate_id INTEGER NOT NULL REFERENCES candidates(id),"
	"  arch TEXT NOT NULL,"
	"  attempt INTEGER NOT NULL,"
	"  outcome TEXT NOT NULL CHECK (outcome IN ('COMPLETE', 'BOOT_FAIL',"
	"    'PANIC', 'TIMEOUT', 'INFRA_ERROR', 'NOT_BUILT')),"
	"  reason TEXT, warning TEXT, release TEXT, boot_s REAL, duration_s REAL,"
	"  started REAL NOT NULL, finished REAL NOT NULL, host TEXT, backend TEXT,"
	"  qemu_version TEXT, qemu_cmdline TEXT, log_path TEXT, variant TEXT, smp INTEGER,"
	"  memory_mb INTEGER, accel TEXT, accel_reason TEXT, lava_job_id INTEGER,"
	"  lava_url TEXT);"
	"INSERT INTO jobs_n SELECT id, run_id, candidate_id, arch, attempt, outcome, reason,"
	"  warning, release, boot_s, duration_s, started, finished, host, backend,"
	"  qemu_version, qemu_cmdline, log_path, variant, smp, memory_mb, accel,"
	"  accel_reason, lava_job_id, lava_url FROM jobs;"
	/* the old "not built" jobs were stored as boot failures */
	"UPDATE jobs_n SET outcome = 'NOT_BUILT', reason = 'build: ' || substr(reason, 12)"
	"  WHERE outcome = 'BOOT_FAIL' AND reason LIKE 'not built: %' AND boot_s IS NULL;"
	"UPDATE sum_outcome SET n = (SELECT count(*) FROM jobs_n WHERE outcome = 'BOOT_FAIL')"
	"  WHERE outcome = 'BOOT_FAIL';"
	"INSERT OR REPLACE INTO sum_outcome SELECT 'NOT_BUILT', count(*) FROM jobs_n"
	"  WHERE outcome = 'NOT_BUILT' HAVING count(*) > 0;"
	"DELETE FROM sum_outcome WHERE n = 0;"
	/* legacy: the rename leaves alone the triggers that name jobs (which
	 * exists again after it) instead of refusing them */
	"PRAGMA legacy_alter_table = ON;"
	"DROP TABLE jobs;"
	"ALTER TABLE jobs_n RENAME TO jobs;"
	"PRAGMA legacy_alter_table = OFF;"
	"CREATE INDEX jobs_run ON jobs(run_id);"
	"CREATE INDEX jobs_arch ON jobs(arch, id);"
	"CREATE INDEX jobs_candidate ON jobs(candidate_id, id);"
	/* and the warnings of each build (build_warn.h): new = not seen in an
	 * earlier build of the tree x arch x config; build_warn_sum has their
	 * count, NULL when there was nothing to compare with. (Tables of their
	 * own, IF NOT EXISTS: the step can run again over its own result.) */
	"CREATE TABLE IF NOT EXISTS build_warnings ("
	"  build_id INTEGER NOT NULL REFERENCES builds(id),"
	"  warning TEXT NOT NULL,"
	"  new INTEGER NOT NULL,"
	"  PRIMARY KEY (build_id, warning)) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS build_warn_sum ("
	"  build_id INTEGER PRIMARY KEY REFERENCES builds(id),"
	"  new_warnings INTEGER);"
	"CREATE INDEX IF NOT EXISTS build_warnings_text ON build_warnings(warning);",
	/* 9 (issue 10, the read side at 1M results): /api/matrix's cells and
	 * each tree's latest changes kept as jobs are stored (summary.h), so
	 * that /api/matrix, /api/regressions and /metrics after a commit are
	 * one scan in their own order, not a seek per cell or test and a sort */
	SUMMARY_READ_MIGRATION,
	/* 10 (issue 14): /api/facts reads sysinfo's fact notes of the newest
	 * jobs; a partial covering index holds just those rows (three per job),
	 * so the route neither walks every result of every job it looks at nor
	 * reads the results table. The
	 * list must match api_facts.c's FACT_TESTS for the index to be used. */
	"CREATE INDEX IF NOT EXISTS results_facts ON results(job_id, test, status, reason)"
	" WHERE depth = 1 AND test IN"
	" ('sysinfo/cpus', 'sysinfo/preemption', 'sysinfo/io_uring');",
};

#define SCHEMA_VERSION ((int)ARRAY_SIZE(migrations))

int store_schema_migrate(struct store *st, unsigned int flags, struct err *e)
{
	int version, fk_bad = 0;
	char pragma[64];

	if (store_get_int(st, "PRAGMA user_version", &version, e))
		return -1;
	if (version > SCHEMA_VERSION)
		return err_set(e, 0, "database '%s' has schema version %d, newer than this "
			       "kfarm's %d", st->path, version, SCHEMA_VERSION);
	if (version == SCHEMA_VERSION)
		return 0;
	if (flags & STORE_READONLY)
		return err_set(e, 0, "database '%s' has schema version %d; run kfarm once to "
			       "migrate it to %d", st->path, version, SCHEMA_VERSION);
	if (version == 0) {
		int ntables;

		if (store_get_int(st, "SELECT count(*) FROM sqlite_master", &ntables, e))
			return -1;
		if (ntables)
			return err_set(e, 0, "database '%s' is not a kfarm database (it has "
				       "tables but no kfarm schema version)", st->path);
	}
	/* a step may rebuild a table others reference: foreign keys off (only
	 * possible outside a transaction), checked before the commit */
	if (store_exec(st, "PRAGMA foreign_keys = OFF", "cannot start migration", e) ||
	    store_exec(st, "BEGIN IMMEDIATE", "cannot start migration", e))
		return -1;
	for (int v = version; v < SCHEMA_VERSION; v++)
		if (store_exec(st, migrations[v], "migration failed", e))
			goto rollback;
	if (store_get_int(st, "SELECT count(*) FROM pragma_foreign_key_check", &fk_bad, e) ||
	    fk_bad) {
		if (fk_bad)
			err_set(e, 0, "database '%s': migration would break %d reference(s)",
				st->path, fk_bad);
		goto rollback;
	}
	snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", SCHEMA_VERSION);
	if (store_exec(st, pragma, "migration failed", e) ||
	    store_exec(st, "COMMIT", "commit", e))
		goto rollback;
	return store_exec(st, "PRAGMA foreign_keys = ON", "cannot enable foreign keys", e);
rollback:
	sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_exec(st->db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL);
	return -1;
}

/* A name from the file, safe to print: [A-Za-z0-9_] kept, the rest '?'. */
static const char *safe_name(const unsigned char *v, char out[48])
{
	size_t i;

	for (i = 0; v && v[i] && i < 47; i++)
		out[i] = (v[i] >= 'a' && v[i] <= 'z') || (v[i] >= 'A' && v[i] <= 'Z') ||
			 (v[i] >= '0' && v[i] <= '9') || v[i] == '_' ? v[i] : '?';
	out[i] = '\0';
	return out;
}

static char *col_dup(sqlite3_stmt *s, int i)
{
	const unsigned char *v = sqlite3_column_text(s, i);

	return v ? xstrdup((const char *)v) : NULL;
}

static int same(const char *x, const unsigned char *y)
{
	return (!x && !y) || (x && y && !strcmp(x, (const char *)y));
}

#define SCHEMA_QUERY \
	"SELECT type, name, tbl_name, sql FROM sqlite_master" \
	" WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
#define MAX_OBJECTS 256

/* kfarm's schema as its migrations make it, afresh in memory: 4 strings
 * per object (type, name, table, sql); returns the count or -1. */
static int build_reference(char *(*ref)[4])
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	int n = -1;

	if (sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
		goto out;
	for (size_t v = 0; v < ARRAY_SIZE(migrations); v++)
		if (sqlite3_exec(db, migrations[v], NULL, NULL, NULL) != SQLITE_OK)
			goto out;
	if (sqlite3_prepare_v2(db, SCHEMA_QUERY, -1, &s, NULL) != SQLITE_OK)
		goto out;
	for (n = 0; n < MAX_OBJECTS && sqlite3_step(s) == SQLITE_ROW; n++)
		for (int i = 0; i < 4; i++)
			ref[n][i] = col_dup(s, i);
out:
	sqlite3_finalize(s);
	sqlite3_close(db);
	return n;
}

/* The same, made once per process (it is the same every time: running
 * every migration cost each store_open ~14 ms, the first request of each
 * server thread and every CLI command) and kept for its life. */
static char *(*reference)[4];
static int nreference = -1;
static pthread_once_t reference_once = PTHREAD_ONCE_INIT;

static void make_reference(void)
{
	reference = xcalloc(MAX_OBJECTS, sizeof(*reference));
	nreference = build_reference(reference);
}

static int reference_schema(char *(**ref)[4])
{
	pthread_once(&reference_once, make_reference);
	*ref = reference;
	return nreference;
}

/* The file's schema must be exactly kfarm's: an edited database (a view or
 * trigger of the attacker's, a table rebuilt without its constraints) is
 * refused, naming the object. Data edits are the column readers' concern. */
int store_schema_check(struct store *st, struct err *e)
{
	char *(*ref)[4];
	int seen[MAX_OBJECTS] = { 0 }, n = reference_schema(&ref), rc, ret = 0, k;
	sqlite3_stmt *s = NULL;
	char t[48], nm[48];

	if (n < 0)
		return err_set(e, 0, "cannot build kfarm's schema in memory");
	if (sqlite3_prepare_v2(st->db, SCHEMA_QUERY, -1, &s, NULL) != SQLITE_OK) {
		ret = store_db_error(st, "cannot read schema", e);
		goto out;
	}
	while (!ret && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		for (k = 0; k < n; k++)
			if (same(ref[k][0], sqlite3_column_text(s, 0)) &&
			    same(ref[k][1], sqlite3_column_text(s, 1)))
				break;
		if (k < n && same(ref[k][2], sqlite3_column_text(s, 2)) &&
		    same(ref[k][3], sqlite3_column_text(s, 3)))
			seen[k] = 1;
		else
			ret = err_set(e, 0, "database '%s' was edited outside kfarm: its %s '%s' "
				      "is not kfarm's (refused)", st->path,
				      safe_name(sqlite3_column_text(s, 0), t),
				      safe_name(sqlite3_column_text(s, 1), nm));
	}
	if (!ret && rc != SQLITE_DONE)
		ret = store_db_error(st, "cannot read schema", e);
	for (k = 0; !ret && k < n; k++)
		if (!seen[k])
			ret = err_set(e, 0, "database '%s' was edited outside kfarm: kfarm's %s "
				      "'%s' is missing (refused)", st->path, ref[k][0], ref[k][1]);
out:
	sqlite3_finalize(s);
	return ret;
}
