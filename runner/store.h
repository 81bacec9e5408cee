/* The history: one SQLite file in WAL mode (readers never block the run
 * that writes). Schema versioned by PRAGMA user_version and migrated on open.
 * A finished job is stored in one transaction: fully or not at all.
 * Prepared statements only. */
#ifndef KFARM_STORE_H
#define KFARM_STORE_H

#include "err.h"
#include "history.h"

#include <sqlite3.h>
#include <stdint.h>

struct job;
struct store;

#define STORE_READONLY 1u
#define STORE_SERVE 2u		/* a server thread's: waits at most 2 s for a lock */

/* Opens (creating and migrating unless STORE_READONLY); NULL on failure,
 * with e naming the file and the problem. Every function here that can
 * fail returns -1 (or NULL) and says why in e (err.h; NULL: not told). */
struct store *store_open(const char *path, unsigned int flags, struct err *e);
void store_close(struct store *st);
sqlite3 *store_db(struct store *st);
const char *store_path(struct store *st);
/* PRAGMA data_version: moves whenever another connection commits (what a
 * reader's cached reply depends on); -1 if it cannot be read. */
long long store_data_version(struct store *st);
/* Makes the query running on st (in another thread) stop soon. */
void store_interrupt(struct store *st);

/* enum run_status and its names: history.h */

/* Marks runs left 'running' by a kfarm that is gone as 'interrupted'. */
int store_mark_stale_runs(struct store *st, struct err *e);
int64_t store_run_begin(struct store *st, const char *argv_text, struct err *e);
int store_run_end(struct store *st, int64_t run, enum run_status status, struct err *e);
/* Finds or adds the candidate (arch, label, image sha256). */
int64_t store_candidate(struct store *st, const char *arch, const char *label,
			const char *tree, const char *sha256, const char *image_path,
			struct err *e);
/* Same for one machine (profile.h machine_key; store_candidate: ""), so
 * that only candidates on like machines are compared. */
int64_t store_candidate_machine(struct store *st, const char *arch, const char *label,
				const char *machine, const char *tree, const char *sha256,
				const char *image_path, struct err *e);
/* The candidate a job boots: store_candidate_machine on its fields. */
int64_t store_job_candidate(struct store *st, const struct job *j, struct err *e);
/* Stores a finished job and its results atomically; returns the job id. */
int64_t store_job(struct store *st, int64_t run, const struct job *j, const char *host,
		  struct err *e);

#endif
