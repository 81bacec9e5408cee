#include "store.h"
#include "store_int.h"
#include "dbtext.h"
#include "job.h"
#include "logdir.h"
#include "summary.h"
#include "text.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

/* SQLite's message can quote the file's schema text: controls (C0, DEL,
 * C1) and bytes that are not UTF-8 become '?' before a terminal sees them. */
static const char *errmsg(struct store *st, char out[512])
{
	const unsigned char *m = (const unsigned char *)sqlite3_errmsg(st->db);
	size_t n = m ? strlen((const char *)m) : 0, o = 0, k;

	for (size_t i = 0; i < n && o + 4 < 512; i += k ? k : 1) {
		k = dbtext_seq(m + i, n - i);
		if (!k || m[i] < 0x20 || m[i] == 0x7f || (k == 2 && m[i] == 0xc2 && m[i + 1] < 0xa0))
			out[o++] = '?';
		else
			memcpy(out + o, m + i, k), o += k;
	}
	out[o] = '\0';
	return out;
}

int store_db_error(struct store *st, const char *what)
{
	int code = sqlite3_errcode(st->db);
	char m[512];

	if (code == SQLITE_NOTADB || code == SQLITE_CORRUPT)
		return error("database '%s' is corrupt or not a database: %s", st->path,
			     errmsg(st, m));
	if (code == SQLITE_READONLY)
		return error("database '%s' is read-only: %s", st->path,
			     errmsg(st, m));
	if (code == SQLITE_FULL || sqlite3_system_errno(st->db) == ENOSPC)
		return error("database '%s': disk full (no space left on device): %s", st->path,
			     errmsg(st, m));
	if (code == SQLITE_BUSY || code == SQLITE_LOCKED)
		return error("database '%s' is locked by another writer: %s", st->path,
			     errmsg(st, m));
	return error("database '%s': %s: %s", st->path, what, errmsg(st, m));
}

int store_exec(struct store *st, const char *sql, const char *what)
{
	if (sqlite3_exec(st->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return store_db_error(st, what);
	return 0;
}

int store_get_int(struct store *st, const char *sql, int *out)
{
	sqlite3_stmt *s;
	int rc;

	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
		return store_db_error(st, "cannot read schema");
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	if (rc != SQLITE_ROW)
		return store_db_error(st, "cannot read schema");
	return 0;
}

/* A database can be shared, copied or edited: nothing in the file may run
 * code or get around the schema (defensive mode, untrusted schema), and no
 * value is large enough to exhaust memory. Readers also ignore the file's
 * triggers and views: kfarm reads tables only. */
static int harden(struct store *st, unsigned int flags)
{
	int ro = !!(flags & STORE_READONLY), ok = 1;

	ok &= sqlite3_db_config(st->db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL) == SQLITE_OK;
	ok &= sqlite3_db_config(st->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, (int *)NULL) ==
	      SQLITE_OK;
	ok &= sqlite3_db_config(st->db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, (int *)NULL) ==
	      SQLITE_OK;
	if (ro) {
		ok &= sqlite3_db_config(st->db, SQLITE_DBCONFIG_ENABLE_TRIGGER, 0, (int *)NULL) ==
		      SQLITE_OK;
		ok &= sqlite3_db_config(st->db, SQLITE_DBCONFIG_ENABLE_VIEW, 0, (int *)NULL) ==
		      SQLITE_OK;
	}
	if (!ok)
		return error("database '%s': cannot enable SQLite's defensive mode", st->path);
	sqlite3_limit(st->db, SQLITE_LIMIT_LENGTH, 16 << 20);
	return store_exec(st, "PRAGMA trusted_schema = OFF", "cannot distrust the schema");
}

struct store *store_open(const char *path, unsigned int flags)
{
	struct store *st = xcalloc(1, sizeof(*st));
	int oflags = (flags & STORE_READONLY) ? SQLITE_OPEN_READONLY
					      : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;

	st->path = xstrdup(path);
	st->logs = logdir_of(path);
	st->lock_fd = -1;
	if (sqlite3_open_v2(path, &st->db, oflags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		error("cannot open database '%s': %s", path,
		      st->db ? sqlite3_errmsg(st->db) : "out of memory");
		goto err;
	}
	sqlite3_extended_result_codes(st->db, 0);
	sqlite3_busy_timeout(st->db, (flags & STORE_SERVE) ? 2000 : 5000);
	if (harden(st, flags))
		goto err;
	if (!(flags & STORE_READONLY) && sqlite3_db_readonly(st->db, "main") == 1) {
		error("database '%s' is read-only", path);
		goto err;
	}
	/* touch the file: a corrupt header shows up here, before anything else */
	int dummy;
	if (store_get_int(st, "PRAGMA schema_version", &dummy))
		goto err;
	if (!(flags & STORE_READONLY)) {
		if (store_exec(st, "PRAGMA journal_mode = WAL", "cannot enable WAL") ||
		    store_exec(st, "PRAGMA synchronous = NORMAL", "cannot set synchronous") ||
		    store_exec(st, "PRAGMA foreign_keys = ON", "cannot enable foreign keys"))
			goto err;
	}
	if (store_schema_migrate(st, flags) || store_schema_check(st))
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
	for (size_t i = 0; i < st->nstmts; i++)
		sqlite3_finalize(st->stmts[i].s);
	summary_free(st->sum);
	sqlite3_finalize(st->data_version);
	sqlite3_close(st->db);
	if (st->lock_fd >= 0)
		close(st->lock_fd);
	free(st->path);
	free(st->logs);
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

long long store_data_version(struct store *st)
{
	long long v = -1;

	if (!st->data_version && sqlite3_prepare_v3(st->db, "PRAGMA data_version", -1,
						    SQLITE_PREPARE_PERSISTENT, &st->data_version,
						    NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st->data_version) == SQLITE_ROW)
		v = sqlite3_column_int64(st->data_version, 0);
	sqlite3_reset(st->data_version);
	return v;
}

void store_interrupt(struct store *st)
{
	sqlite3_interrupt(st->db);
}

/* The store's statements, prepared once per store and kept: a run stores
 * thousands of jobs with the same dozen statements. Keyed by the SQL text's
 * address (each a literal at one call site). STORE_PREPARE_EACH builds the
 * old way, one prepare per use, for make bench's before/after figure. */
static sqlite3_stmt *prep(struct store *st, const char *sql)
{
	sqlite3_stmt *s;
	size_t i;

#ifndef STORE_PREPARE_EACH
	for (i = 0; i < st->nstmts; i++)
		if (st->stmts[i].sql == sql) {
			sqlite3_clear_bindings(st->stmts[i].s);
			return st->stmts[i].s;
		}
#endif
	if (sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL) !=
	    SQLITE_OK) {
		store_db_error(st, "cannot prepare statement");
		return NULL;
	}
#ifndef STORE_PREPARE_EACH
	if (st->nstmts < ARRAY_SIZE(st->stmts))
		st->stmts[st->nstmts++] = (struct store_stmt){ sql, s };
#endif
	(void)i;
	return s;
}

/* A statement from prep() is finished with: reset for its next use. */
static void done(struct store *st, sqlite3_stmt *s)
{
	for (size_t i = 0; i < st->nstmts; i++)
		if (st->stmts[i].s == s) {
			sqlite3_reset(s);
			return;
		}
	sqlite3_finalize(s);
}

static void bind_text(sqlite3_stmt *s, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(s, i);
}

/* Text from the guest, QEMU or a remote host: stored as valid UTF-8 only. */
static void bind_guest(sqlite3_stmt *s, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(s, i, text_clip_utf8(v, strlen(v), SIZE_MAX), -1, free);
	else
		sqlite3_bind_null(s, i);
}

/* Steps a statement to completion; returns 0 on SQLITE_DONE. */
static int step_done(struct store *st, sqlite3_stmt *s, const char *what)
{
	int rc = sqlite3_step(s);

	if (rc != SQLITE_DONE) {
		store_db_error(st, what);	/* before the reset: its message */
		done(st, s);
		return -1;
	}
	done(st, s);
	return 0;
}

/* A run is alive while its kfarm holds the flock on the run's lock file: the
 * kernel drops it when the process dies, however it dies, and a lock knows
 * nothing of PIDs, so neither a recycled PID nor a container sharing the
 * database (PIDs repeat across namespaces) keeps a dead run 'running'. A
 * lock file that cannot be examined (permissions) counts as alive. Runs of
 * kfarms before locks (lock IS NULL) have only /proc/PID/comm to go by. */
static int run_alive(struct store *st, const char *lock, pid_t pid)
{
	char path[64], comm[32] = "";
	const char *why;
	int code, fd, busy;
	FILE *f;

	if (lock) {
		fd = logdir_open(st->path, lock, &code, &why);
		if (fd < 0)
			return code != 404;
		busy = flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK;
		close(fd);
		return busy;
	}
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	f = pid > 0 ? fopen(path, "r") : NULL;
	if (f) {
		if (!fgets(comm, sizeof(comm), f))
			comm[0] = '\0';
		fclose(f);
	}
	return pid > 0 && !strncmp(comm, "kfarm", 5);
}

int store_mark_stale_runs(struct store *st)
{
	int64_t stale[64];
	sqlite3_stmt *s;
	int n = 0;

	/* one write transaction: a run that ends meanwhile (its status written
	 * before its lock is dropped) is never overwritten as interrupted */
	if (store_exec(st, "BEGIN IMMEDIATE", "cannot start transaction"))
		return -1;
	if (!(s = prep(st, "SELECT id, pid, lock FROM runs WHERE status = ?")))
		goto rollback;
	bind_text(s, 1, run_status_name(RUN_RUNNING));
	while (sqlite3_step(s) == SQLITE_ROW && n < (int)ARRAY_SIZE(stale))
		if (!run_alive(st, (const char *)sqlite3_column_text(s, 2),
			       (pid_t)sqlite3_column_int(s, 1)))
			stale[n++] = sqlite3_column_int64(s, 0);
	done(st, s);
	for (int i = 0; i < n; i++) {
		s = prep(st, "UPDATE runs SET status = ? WHERE id = ? AND status = ?");
		if (!s)
			goto rollback;
		bind_text(s, 1, run_status_name(RUN_INTERRUPTED));
		sqlite3_bind_int64(s, 2, stale[i]);
		bind_text(s, 3, run_status_name(RUN_RUNNING));
		if (step_done(st, s, "cannot mark run interrupted"))
			goto rollback;
	}
	if (store_exec(st, "COMMIT", "cannot commit"))
		goto rollback;
	for (int i = 0; i < n; i++)
		warning("run %lld was interrupted (its kfarm is gone); marked as such",
			(long long)stale[i]);
	return 0;
rollback:
	sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

/* Creates the run's log directory and takes its lock for this process's
 * life (O_CLOEXEC: a leftover child must not keep a dead run alive). */
static char *take_run_lock(struct store *st, int64_t run)
{
	char *dir = logdir_run(st->path, run), *path = xasprintf("%s/run.lock", dir);
	char *name = NULL;
	int fd = -1;

	if (mkdir_p(dir, 0755) < 0)
		error_errno("cannot create log directory '%s'", dir);
	else if ((fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644)) < 0)
		error_errno("cannot create run lock '%s'", path);
	else if (flock(fd, LOCK_EX | LOCK_NB) < 0)
		error_errno("cannot lock '%s'", path);
	else
		name = xasprintf("run-%lld/run.lock", (long long)run);
	if (!name && fd >= 0)
		close(fd);
	else if (name)
		st->lock_fd = fd;
	free(dir);
	free(path);
	return name;
}

int64_t store_run_begin(struct store *st, const char *argv_text)
{
	sqlite3_stmt *s;
	int64_t run;
	char *lock;

	/* the row becomes visible with its lock already held */
	if (store_exec(st, "BEGIN IMMEDIATE", "cannot start transaction"))
		return -1;
	s = prep(st, "INSERT INTO runs (started, status, pid, argv) VALUES (?, ?, ?, ?)");
	if (!s)
		goto rollback;
	sqlite3_bind_double(s, 1, now_wall());
	bind_text(s, 2, run_status_name(RUN_RUNNING));
	sqlite3_bind_int(s, 3, getpid());
	bind_text(s, 4, argv_text);
	if (step_done(st, s, "cannot record run"))
		goto rollback;
	run = sqlite3_last_insert_rowid(st->db);
	if (!(lock = take_run_lock(st, run)))
		goto rollback;
	s = prep(st, "UPDATE runs SET lock = ? WHERE id = ?");
	if (s) {
		bind_text(s, 1, lock);
		sqlite3_bind_int64(s, 2, run);
	}
	free(lock);
	if (!s || step_done(st, s, "cannot record run lock") ||
	    store_exec(st, "COMMIT", "cannot commit run"))
		goto rollback;
	return run;
rollback:
	sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	if (st->lock_fd >= 0)
		close(st->lock_fd);
	st->lock_fd = -1;
	return -1;
}

int store_run_end(struct store *st, int64_t run, enum run_status status)
{
	sqlite3_stmt *s = prep(st, "UPDATE runs SET status = ?, finished = ? WHERE id = ?");
	int ret;

	if (!s)
		return -1;
	bind_text(s, 1, run_status_name(status));
	sqlite3_bind_double(s, 2, now_wall());
	sqlite3_bind_int64(s, 3, run);
	ret = step_done(st, s, "cannot finish run");
	/* only after the status is committed: see store_mark_stale_runs */
	if (!ret && st->lock_fd >= 0) {
		close(st->lock_fd);
		st->lock_fd = -1;
	}
	return ret;
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
	if (id < 0)
		store_db_error(st, "cannot record candidate");
	done(st, s);
	return id;
}

int64_t store_job_candidate(struct store *st, const struct job *j)
{
	return store_candidate_machine(st, j->arch, j->label, j->machine_key, j->tree,
				       j->image_sha256, j->kernel);
}

/* The job's results, in the job's transaction. */
static int store_results(struct store *st, int64_t id, const struct job *j)
{
	sqlite3_stmt *s = prep(st, "INSERT INTO results (job_id, test, depth, status, reason,"
				   " duration_s) VALUES (?, ?, ?, ?, ?, ?)");

	if (!s)
		return -1;
	for (size_t i = 0; i < j->nres; i++) {
		const struct result *r = &j->res[i];

		sqlite3_reset(s);
		sqlite3_bind_int64(s, 1, id);
		bind_guest(s, 2, r->test);
		sqlite3_bind_int(s, 3, r->depth);
		bind_text(s, 4, res_status_name(r->status));
		bind_guest(s, 5, r->reason && *r->reason ? r->reason : NULL);
		if (r->depth == 0)
			sqlite3_bind_double(s, 6, r->duration_s);
		else
			sqlite3_bind_null(s, 6);
		if (sqlite3_step(s) != SQLITE_DONE) {
			store_db_error(st, "cannot store result");
			done(st, s);
			return -1;
		}
		sqlite3_reset(s);
	}
	done(st, s);
	return 0;
}

/* The latest table and the candidate's release, in the job's transaction. */
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

static int store_job_after(struct store *st, int64_t id, const struct job *j)
{
	sqlite3_stmt *s;

	/* infrastructure errors say nothing about the kernel: not "latest" */
	if (j->outcome != JOB_INFRA_ERROR) {
		s = prep(st, "INSERT OR REPLACE INTO latest (arch, test, result_id)"
			     " SELECT ?, test, id FROM results WHERE job_id = ? AND depth = 0");
		if (!s)
			return -1;
		bind_text(s, 1, j->arch);
		sqlite3_bind_int64(s, 2, id);
		if (step_done(st, s, "cannot update latest results"))
			return -1;
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
			return -1;
		bind_guest(s, 1, j->release);
		bind_text(s, 2, tree);
		sqlite3_bind_int64(s, 3, j->candidate_id);
		if (step_done(st, s, "cannot update candidate"))
			return -1;
	}
	return 0;
}

/* The job into the summaries, their statements prepared once per store. */
static int store_summary(struct store *st, int64_t id)
{
#ifdef STORE_PREPARE_EACH
	if (summary_add_job(st->db, id))
#else
	if ((!st->sum && !(st->sum = summary_new(st->db))) || summary_add(st->sum, id))
#endif
		return store_db_error(st, "cannot update the summaries");
	return 0;
}

int64_t store_job(struct store *st, int64_t run, const struct job *j, const char *host)
{
	sqlite3_stmt *s = NULL;
	int64_t id;

	if (store_exec(st, "BEGIN IMMEDIATE", "cannot start transaction"))
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
	bind_guest(s, 6, j->reason);
	bind_guest(s, 7, j->warning);
	bind_guest(s, 8, j->release);
	if (j->t_header)
		sqlite3_bind_double(s, 9, j->boot_s);
	else
		sqlite3_bind_null(s, 9);
	sqlite3_bind_double(s, 10, j->duration_s);
	sqlite3_bind_double(s, 11, wall_end - (mono_end - j->t_start));
	sqlite3_bind_double(s, 12, wall_end - (mono_end - j->t_end));
	bind_text(s, 13, host);
	bind_text(s, 14, j->be ? j->be->name : NULL);
	bind_guest(s, 15, j->vm.version);
	bind_guest(s, 16, j->vm.cmdline);
	/* relative to the logs directory: the only place a log is read from */
	bind_text(s, 17, logdir_name(st->logs, j->log_path));
	if (step_done(st, s, "cannot store job"))
		goto rollback;
	id = sqlite3_last_insert_rowid(st->db);
	if (j->vm.lava_id > 0) {
		s = prep(st, "UPDATE jobs SET lava_job_id = ?, lava_url = ? WHERE id = ?");
		if (!s)
			goto rollback;
		sqlite3_bind_int64(s, 1, j->vm.lava_id);
		bind_text(s, 2, j->vm.lava_url);
		sqlite3_bind_int64(s, 3, id);
		if (step_done(st, s, "cannot store the LAVA job"))
			goto rollback;
	}
	/* last in the transaction: the candidate's tree and release are final */
	if (store_results(st, id, j) || store_job_after(st, id, j) ||
	    store_job_machine(st, id, j) || store_summary(st, id) ||
	    store_exec(st, "COMMIT", "cannot commit job"))
		goto rollback;
	return id;
rollback:
	sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}
