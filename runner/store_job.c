/* The store's jobs (store.h): candidates, and each finished job with its
 * results, latest rows and summaries in one transaction. */
#include "store.h"
#include "store_int.h"
#include "job.h"
#include "logdir.h"
#include "summary.h"
#include "util.h"

#include <stdio.h>
#include <string.h>

int64_t store_candidate(struct store *st, const char *arch, const char *label,
			const char *tree, const char *sha256, const char *image_path,
			struct err *e)
{
	return store_candidate_machine(st, arch, label, "", tree, sha256, image_path, e);
}

int64_t store_candidate_machine(struct store *st, const char *arch, const char *label,
				const char *machine, const char *tree, const char *sha256,
				const char *image_path, struct err *e)
{
	sqlite3_stmt *s = store_prep(st, "INSERT INTO candidates "
				   "(arch, label, tree, image_sha256, image_path, created, machine) "
				   "VALUES (?, ?, ?, ?, ?, ?, ?) "
				   "ON CONFLICT (arch, label, image_sha256, machine) DO UPDATE SET "
				   "image_path = excluded.image_path, "
				   "tree = COALESCE(excluded.tree, tree) RETURNING id", e);
	int64_t id = -1;

	if (!s)
		return -1;
	store_bind_text(s, 1, arch);
	store_bind_text(s, 2, label);
	store_bind_text(s, 3, tree);
	store_bind_text(s, 4, sha256);
	store_bind_text(s, 5, image_path);
	sqlite3_bind_double(s, 6, now_wall());
	store_bind_text(s, 7, machine ? machine : "");
	if (sqlite3_step(s) == SQLITE_ROW)
		id = sqlite3_column_int64(s, 0);
	if (id < 0)
		store_db_error(st, "cannot record candidate", e);
	store_done(st, s);
	return id;
}

int64_t store_job_candidate(struct store *st, const struct job *j, struct err *e)
{
	return store_candidate_machine(st, j->arch, j->label, j->machine_key, j->tree,
				       j->image_sha256, j->kernel, e);
}

/* The job's results, in the job's transaction. */
static int store_results(struct store *st, int64_t id, const struct job *j, struct err *e)
{
	sqlite3_stmt *s = store_prep(st, "INSERT INTO results (job_id, test, depth, status, reason,"
				   " duration_s) VALUES (?, ?, ?, ?, ?, ?)", e);

	if (!s)
		return -1;
	for (size_t i = 0; i < j->nres; i++) {
		const struct result *r = &j->res[i];

		sqlite3_reset(s);
		sqlite3_bind_int64(s, 1, id);
		store_bind_guest(s, 2, r->test);
		sqlite3_bind_int(s, 3, r->depth);
		store_bind_text(s, 4, res_status_name(r->status));
		store_bind_guest(s, 5, r->reason && *r->reason ? r->reason : NULL);
		if (r->depth == 0)
			sqlite3_bind_double(s, 6, r->duration_s);
		else
			sqlite3_bind_null(s, 6);
		if (sqlite3_step(s) != SQLITE_DONE) {
			store_db_error(st, "cannot store result", e);
			store_done(st, s);
			return -1;
		}
		sqlite3_reset(s);
	}
	store_done(st, s);
	return 0;
}

/* The machine the job booted (its key is in the candidate). */
static int store_job_machine(struct store *st, int64_t id, const struct job *j, struct err *e)
{
	sqlite3_stmt *s = store_prep(st, "UPDATE jobs SET variant = ?, smp = ?, memory_mb = ?,"
				   " accel = ?, accel_reason = ? WHERE id = ?", e);

	if (!s)
		return -1;
	store_bind_text(s, 1, *j->machine.variant ? j->machine.variant : NULL);
	sqlite3_bind_int(s, 2, j->machine.smp ? (int)j->machine.smp : 1);
	sqlite3_bind_int(s, 3, (int)(j->machine.memory_mb ? j->machine.memory_mb
							  : j->profile.memory_mb));
	store_bind_text(s, 4, *j->accel ? j->accel : NULL);
	store_bind_text(s, 5, j->accel_reason);
	sqlite3_bind_int64(s, 6, id);
	return store_step_done(st, s, "cannot store job machine", e);
}

/* The latest table and the candidate's release, in the job's transaction. */
static int store_job_after(struct store *st, int64_t id, const struct job *j, struct err *e)
{
	sqlite3_stmt *s;

	/* infrastructure errors say nothing about the kernel: not "latest" */
	if (j->outcome != JOB_INFRA_ERROR) {
		s = store_prep(st, "INSERT OR REPLACE INTO latest (arch, test, result_id)"
			       " SELECT ?, test, id FROM results WHERE job_id = ? AND depth = 0",
			       e);
		if (!s)
			return -1;
		store_bind_text(s, 1, j->arch);
		sqlite3_bind_int64(s, 2, id);
		if (store_step_done(st, s, "cannot update latest results", e))
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
		s = store_prep(st, "UPDATE candidates SET release = ?, tree = COALESCE(tree, ?)"
			     " WHERE id = ?", e);
		if (!s)
			return -1;
		store_bind_guest(s, 1, j->release);
		store_bind_text(s, 2, tree);
		sqlite3_bind_int64(s, 3, j->candidate_id);
		if (store_step_done(st, s, "cannot update candidate", e))
			return -1;
	}
	return 0;
}

/* The job into the summaries, their statements prepared once per store. */
static int store_summary(struct store *st, int64_t id, struct err *e)
{
#ifdef STORE_PREPARE_EACH
	if (summary_add_job(st->db, id))
#else
	if ((!st->sum && !(st->sum = summary_new(st->db))) || summary_add(st->sum, id))
#endif
		return store_db_error(st, "cannot update the summaries", e);
	return 0;
}

int64_t store_job(struct store *st, int64_t run, const struct job *j, const char *host,
		  struct err *e)
{
	sqlite3_stmt *s = NULL;
	int64_t id;

	if (store_exec(st, "BEGIN IMMEDIATE", "cannot start transaction", e))
		return -1;
	s = store_prep(st, "INSERT INTO jobs (run_id, candidate_id, arch, attempt, outcome, reason,"
		     " warning, release, boot_s, duration_s, started, finished, host, backend,"
		     " qemu_version, qemu_cmdline, log_path)"
		     " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", e);
	if (!s)
		goto rollback;
	double wall_end = now_wall(), mono_end = now_mono();
	sqlite3_bind_int64(s, 1, run);
	sqlite3_bind_int64(s, 2, j->candidate_id);
	store_bind_text(s, 3, j->arch);
	sqlite3_bind_int(s, 4, j->attempt);
	store_bind_text(s, 5, job_outcome_name(j->outcome));
	store_bind_guest(s, 6, j->reason);
	store_bind_guest(s, 7, j->warning);
	store_bind_guest(s, 8, j->release);
	if (j->t_header)
		sqlite3_bind_double(s, 9, j->boot_s);
	else
		sqlite3_bind_null(s, 9);
	sqlite3_bind_double(s, 10, j->duration_s);
	sqlite3_bind_double(s, 11, wall_end - (mono_end - j->t_start));
	sqlite3_bind_double(s, 12, wall_end - (mono_end - j->t_end));
	store_bind_text(s, 13, host);
	store_bind_text(s, 14, j->be ? j->be->name : NULL);
	store_bind_guest(s, 15, j->vm.version);
	store_bind_guest(s, 16, j->vm.cmdline);
	/* relative to the logs directory: the only place a log is read from */
	store_bind_text(s, 17, logdir_name(st->logs, j->log_path));
	if (store_step_done(st, s, "cannot store job", e))
		goto rollback;
	id = sqlite3_last_insert_rowid(st->db);
	if (j->vm.lava_id > 0) {
		s = store_prep(st, "UPDATE jobs SET lava_job_id = ?, lava_url = ? WHERE id = ?", e);
		if (!s)
			goto rollback;
		sqlite3_bind_int64(s, 1, j->vm.lava_id);
		store_bind_text(s, 2, j->vm.lava_url);
		sqlite3_bind_int64(s, 3, id);
		if (store_step_done(st, s, "cannot store the LAVA job", e))
			goto rollback;
	}
	/* last in the transaction: the candidate's tree and release are final */
	if (store_results(st, id, j, e) || store_job_after(st, id, j, e) ||
	    store_job_machine(st, id, j, e) || store_summary(st, id, e) ||
	    store_exec(st, "COMMIT", "cannot commit job", e))
		goto rollback;
	return id;
rollback:
	sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}
