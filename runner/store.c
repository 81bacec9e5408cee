#include "store.h"
#include "job.h"
#include "util.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct store {
	sqlite3 *db;
	char *path;
};

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
	/* machine variants and KVM: the machine each job booted (variant name,
	 * vCPUs, memory, accelerator and why), and each candidate's comparison
	 * key (profile.h machine_key; '' = the default machine under TCG), part
	 * of the candidate's identity: the table is rebuilt for the new UNIQUE
	 * (migrate() runs with foreign keys off, checked before commit) */
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
	"  machine TEXT NOT NULL DEFAULT '',"
	"  UNIQUE (arch, label, image_sha256, machine));"
	"INSERT INTO candidates_m (id, arch, label, tree, image_sha256, image_path, release,"
	"  created) SELECT id, arch, label, tree, image_sha256, image_path, release, created"
	"  FROM candidates;"
	"DROP TABLE candidates;"
	"ALTER TABLE candidates_m RENAME TO candidates;",
};

#define SCHEMA_VERSION ((int)ARRAY_SIZE(migrations))

static int db_error(struct store *st, const char *what)
{
	int code = sqlite3_errcode(st->db);

	if (code == SQLITE_NOTADB || code == SQLITE_CORRUPT)
		return error("database '%s' is corrupt or not a database: %s", st->path,
			     sqlite3_errmsg(st->db));
	if (code == SQLITE_READONLY)
		return error("database '%s' is read-only: %s", st->path,
			     sqlite3_errmsg(st->db));
	if (code == SQLITE_FULL || sqlite3_system_errno(st->db) == ENOSPC)
		return error("database '%s': disk full (no space left on device): %s", st->path,
			     sqlite3_errmsg(st->db));
	if (code == SQLITE_BUSY || code == SQLITE_LOCKED)
		return error("database '%s' is locked by another writer: %s", st->path,
			     sqlite3_errmsg(st->db));
	return error("database '%s': %s: %s", st->path, what, sqlite3_errmsg(st->db));
}

static int exec_sql(struct store *st, const char *sql, const char *what)
{
	if (sqlite3_exec(st->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return db_error(st, what);
	return 0;
}

static int get_int(struct store *st, const char *sql, int *out)
{
	sqlite3_stmt *s;
	int rc;

	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
		return db_error(st, "cannot read schema");
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	if (rc != SQLITE_ROW)
		return db_error(st, "cannot read schema");
	return 0;
}

static int migrate(struct store *st, unsigned int flags)
{
	int version, fk_bad = 0;
	char pragma[64];

	if (get_int(st, "PRAGMA user_version", &version))
		return -1;
	if (version > SCHEMA_VERSION)
		return error("database '%s' has schema version %d, newer than this kfarm's %d",
			     st->path, version, SCHEMA_VERSION);
	if (version == SCHEMA_VERSION)
		return 0;
	if (flags & STORE_READONLY)
		return error("database '%s' has schema version %d; run kfarm once to "
			     "migrate it to %d", st->path, version, SCHEMA_VERSION);
	if (version == 0) {
		int ntables;

		if (get_int(st, "SELECT count(*) FROM sqlite_master", &ntables))
			return -1;
		if (ntables)
			return error("database '%s' is not a kfarm database (it has tables but "
				     "no kfarm schema version)", st->path);
	}
	/* a step may rebuild a table that others reference: foreign keys off
	 * (only possible outside a transaction), checked before the commit */
	if (exec_sql(st, "PRAGMA foreign_keys = OFF", "cannot start migration") ||
	    exec_sql(st, "BEGIN IMMEDIATE", "cannot start migration"))
		return -1;
	for (int v = version; v < SCHEMA_VERSION; v++)
		if (exec_sql(st, migrations[v], "migration failed"))
			goto rollback;
	if (get_int(st, "SELECT count(*) FROM pragma_foreign_key_check", &fk_bad) || fk_bad) {
		error("database '%s': migration would break %d reference(s)", st->path, fk_bad);
		goto rollback;
	}
	snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", SCHEMA_VERSION);
	if (exec_sql(st, pragma, "migration failed") || exec_sql(st, "COMMIT", "commit"))
		goto rollback;
	return exec_sql(st, "PRAGMA foreign_keys = ON", "cannot enable foreign keys");
rollback:
	sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_exec(st->db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL);
	return -1;
}

struct store *store_open(const char *path, unsigned int flags)
{
	struct store *st = xcalloc(1, sizeof(*st));
	int oflags = (flags & STORE_READONLY) ? SQLITE_OPEN_READONLY
					      : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;

	st->path = xstrdup(path);
	if (sqlite3_open_v2(path, &st->db, oflags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		error("cannot open database '%s': %s", path,
		      st->db ? sqlite3_errmsg(st->db) : "out of memory");
		goto err;
	}
	sqlite3_extended_result_codes(st->db, 0);
	sqlite3_busy_timeout(st->db, 5000);
	if (!(flags & STORE_READONLY) && sqlite3_db_readonly(st->db, "main") == 1) {
		error("database '%s' is read-only", path);
		goto err;
	}
	/* touch the file: a corrupt header shows up here, before anything else */
	int dummy;
	if (get_int(st, "PRAGMA schema_version", &dummy))
		goto err;
	if (!(flags & STORE_READONLY)) {
		if (exec_sql(st, "PRAGMA journal_mode = WAL", "cannot enable WAL") ||
		    exec_sql(st, "PRAGMA synchronous = NORMAL", "cannot set synchronous") ||
		    exec_sql(st, "PRAGMA foreign_keys = ON", "cannot enable foreign keys"))
			goto err;
	}
	if (migrate(st, flags))
		goto err;
	return st;
err:
	store_close(st);
	return NULL;
}

void store_close(struct store *st)
{
	if (!st)
		return;
	sqlite3_close(st->db);
	free(st->path);
	free(st);
}

sqlite3 *store_db(struct store *st)
{
	return st->db;
}

const char *store_path(struct store *st)
{
	return st->path;
}

static sqlite3_stmt *prep(struct store *st, const char *sql)
{
	sqlite3_stmt *s;

	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK) {
		db_error(st, "cannot prepare statement");
		return NULL;
	}
	return s;
}

static void bind_text(sqlite3_stmt *s, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(s, i);
}

/* Steps a statement to completion; returns 0 on SQLITE_DONE. */
static int step_done(struct store *st, sqlite3_stmt *s, const char *what)
{
	int rc = sqlite3_step(s);

	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return db_error(st, what);
	return 0;
}

int store_mark_stale_runs(struct store *st)
{
	sqlite3_stmt *s = prep(st, "SELECT id, pid FROM runs WHERE status = 'running'");
	int64_t stale[64];
	int n = 0;

	if (!s)
		return -1;
	while (sqlite3_step(s) == SQLITE_ROW && n < (int)ARRAY_SIZE(stale)) {
		pid_t pid = sqlite3_column_int(s, 1);
		char path[64], comm[32] = "";
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
		f = fopen(path, "r");
		if (f) {
			if (!fgets(comm, sizeof(comm), f))
				comm[0] = '\0';
			fclose(f);
		}
		if (pid <= 0 || strncmp(comm, "kfarm", 5))
			stale[n++] = sqlite3_column_int64(s, 0);
	}
	sqlite3_finalize(s);
	for (int i = 0; i < n; i++) {
		s = prep(st, "UPDATE runs SET status = 'interrupted' WHERE id = ?");
		if (!s)
			return -1;
		sqlite3_bind_int64(s, 1, stale[i]);
		if (step_done(st, s, "cannot mark run interrupted"))
			return -1;
		warning("run %lld was interrupted (its kfarm is gone); marked as such",
			(long long)stale[i]);
	}
	return 0;
}

int64_t store_run_begin(struct store *st, const char *argv_text)
{
	sqlite3_stmt *s = prep(st, "INSERT INTO runs (started, status, pid, argv) "
				   "VALUES (?, 'running', ?, ?)");

	if (!s)
		return -1;
	sqlite3_bind_double(s, 1, now_wall());
	sqlite3_bind_int(s, 2, getpid());
	bind_text(s, 3, argv_text);
	if (step_done(st, s, "cannot record run"))
		return -1;
	return sqlite3_last_insert_rowid(st->db);
}

int store_run_end(struct store *st, int64_t run, const char *status)
{
	sqlite3_stmt *s = prep(st, "UPDATE runs SET status = ?, finished = ? WHERE id = ?");

	if (!s)
		return -1;
	bind_text(s, 1, status);
	sqlite3_bind_double(s, 2, now_wall());
	sqlite3_bind_int64(s, 3, run);
	return step_done(st, s, "cannot finish run");
}

int64_t store_candidate(struct store *st, const char *arch, const char *label,
			const char *tree, const char *sha256, const char *image_path)
{
	return store_candidate_machine(st, arch, label, "", tree, sha256, image_path);
}

int64_t store_candidate_machine(struct store *st, const char *arch, const char *label,
				const char *machine, const char *tree, const char *sha256,
				const char *image_path)
{
	sqlite3_stmt *s = prep(st, "INSERT INTO candidates "
				   "(arch, label, tree, image_sha256, image_path, created, machine) "
				   "VALUES (?, ?, ?, ?, ?, ?, ?) "
				   "ON CONFLICT (arch, label, image_sha256, machine) DO UPDATE SET "
				   "image_path = excluded.image_path, "
				   "tree = COALESCE(excluded.tree, tree) RETURNING id");
	int64_t id = -1;

	if (!s)
		return -1;
	bind_text(s, 1, arch);
	bind_text(s, 2, label);
	bind_text(s, 3, tree);
	bind_text(s, 4, sha256);
	bind_text(s, 5, image_path);
	sqlite3_bind_double(s, 6, now_wall());
	bind_text(s, 7, machine ? machine : "");
	if (sqlite3_step(s) == SQLITE_ROW)
		id = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	if (id < 0)
		db_error(st, "cannot record candidate");
	return id;
}

/* The machine the job booted (its key is in the candidate). */
static int store_job_machine(struct store *st, int64_t id, const struct job *j)
{
	sqlite3_stmt *s = prep(st, "UPDATE jobs SET variant = ?, smp = ?, memory_mb = ?,"
				   " accel = ?, accel_reason = ? WHERE id = ?");

	if (!s)
		return -1;
	bind_text(s, 1, *j->machine.variant ? j->machine.variant : NULL);
	sqlite3_bind_int(s, 2, j->machine.smp ? (int)j->machine.smp : 1);
	sqlite3_bind_int(s, 3, (int)(j->machine.memory_mb ? j->machine.memory_mb
							  : j->profile.memory_mb));
	bind_text(s, 4, *j->accel ? j->accel : NULL);
	bind_text(s, 5, j->accel_reason);
	sqlite3_bind_int64(s, 6, id);
	return step_done(st, s, "cannot store job machine");
}

int64_t store_job(struct store *st, int64_t run, const struct job *j, const char *host)
{
	sqlite3_stmt *s = NULL;
	int64_t id;

	if (exec_sql(st, "BEGIN IMMEDIATE", "cannot start transaction"))
		return -1;
	s = prep(st, "INSERT INTO jobs (run_id, candidate_id, arch, attempt, outcome, reason,"
		     " warning, release, boot_s, duration_s, started, finished, host, backend,"
		     " qemu_version, qemu_cmdline, log_path)"
		     " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
	if (!s)
		goto rollback;
	double wall_end = now_wall(), mono_end = now_mono();
	sqlite3_bind_int64(s, 1, run);
	sqlite3_bind_int64(s, 2, j->candidate_id);
	bind_text(s, 3, j->arch);
	sqlite3_bind_int(s, 4, j->attempt);
	bind_text(s, 5, job_outcome_name(j->outcome));
	bind_text(s, 6, j->reason);
	bind_text(s, 7, j->warning);
	bind_text(s, 8, j->release);
	if (j->t_header)
		sqlite3_bind_double(s, 9, j->boot_s);
	else
		sqlite3_bind_null(s, 9);
	sqlite3_bind_double(s, 10, j->duration_s);
	sqlite3_bind_double(s, 11, wall_end - (mono_end - j->t_start));
	sqlite3_bind_double(s, 12, wall_end - (mono_end - j->t_end));
	bind_text(s, 13, host);
	bind_text(s, 14, j->be ? j->be->name : NULL);
	bind_text(s, 15, j->vm.version);
	bind_text(s, 16, j->vm.cmdline);
	bind_text(s, 17, j->log_path);
	if (step_done(st, s, "cannot store job"))
		goto rollback;
	id = sqlite3_last_insert_rowid(st->db);

	s = prep(st, "INSERT INTO results (job_id, test, depth, status, reason, duration_s)"
		     " VALUES (?, ?, ?, ?, ?, ?)");
	if (!s)
		goto rollback;
	for (size_t i = 0; i < j->nres; i++) {
		const struct result *r = &j->res[i];

		sqlite3_reset(s);
		sqlite3_bind_int64(s, 1, id);
		bind_text(s, 2, r->test);
		sqlite3_bind_int(s, 3, r->depth);
		bind_text(s, 4, res_status_name(r->status));
		bind_text(s, 5, r->reason && *r->reason ? r->reason : NULL);
		if (r->depth == 0)
			sqlite3_bind_double(s, 6, r->duration_s);
		else
			sqlite3_bind_null(s, 6);
		if (sqlite3_step(s) != SQLITE_DONE) {
			sqlite3_finalize(s);
			db_error(st, "cannot store result");
			goto rollback;
		}
	}
	sqlite3_finalize(s);
	/* infrastructure errors say nothing about the kernel: not "latest" */
	if (j->outcome != JOB_INFRA_ERROR) {
		s = prep(st, "INSERT OR REPLACE INTO latest (arch, test, result_id)"
			     " SELECT ?, test, id FROM results WHERE job_id = ? AND depth = 0");
		if (!s)
			goto rollback;
		bind_text(s, 1, j->arch);
		sqlite3_bind_int64(s, 2, id);
		if (step_done(st, s, "cannot update latest results"))
			goto rollback;
	}
	if (j->release) {
		/* a candidate without --tree belongs to its release's series */
		char tree[64];
		int major = 0, minor = 0;

		if (sscanf(j->release, "%d.%d", &major, &minor) == 2)
			snprintf(tree, sizeof(tree), "linux-%d.%d", major, minor);
		else
			snprintf(tree, sizeof(tree), "linux-unknown");
		s = prep(st, "UPDATE candidates SET release = ?, tree = COALESCE(tree, ?)"
			     " WHERE id = ?");
		if (!s)
			goto rollback;
		bind_text(s, 1, j->release);
		bind_text(s, 2, tree);
		sqlite3_bind_int64(s, 3, j->candidate_id);
		if (step_done(st, s, "cannot update candidate"))
			goto rollback;
	}
	if (store_job_machine(st, id, j))
		goto rollback;
	if (exec_sql(st, "COMMIT", "cannot commit job"))
		goto rollback;
	return id;
rollback:
	sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}
