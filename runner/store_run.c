/* The store's runs (store.h): a run's row, its lock for the run's life,
 * and the runs whose kfarm is gone. */
#include "store.h"
#include "store_int.h"
#include "history.h"
#include "logdir.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

/* A run is alive while its kfarm holds the flock on the run's lock file: the
 * kernel drops it when the process dies, however it dies, and a lock knows
 * nothing of PIDs, so neither a recycled PID nor a container sharing the
 * database (PIDs repeat across namespaces) keeps a dead run 'running'. A
 * lock file that cannot be examined (permissions) counts as alive. Runs of
 * kfarms before locks (lock IS NULL) have only /proc/PID/comm to go by. */
static int run_alive(struct store *st, const char *lock, pid_t pid)
{
	char path[64], comm[32] = "";
	struct err e;
	int fd, busy;
	FILE *f;

	if (lock) {
		fd = logdir_open(st->path, lock, &e);
		if (fd < 0)
			return e.code != 404;
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

int store_mark_stale_runs(struct store *st, struct err *e)
{
	int64_t stale[64];
	sqlite3_stmt *s;
	int n = 0;

	/* one write transaction: a run that ends meanwhile (its status written
	 * before its lock is dropped) is never overwritten as interrupted */
	if (store_exec(st, "BEGIN IMMEDIATE", "cannot start transaction", e))
		return -1;
	if (!(s = store_prep(st, "SELECT id, pid, lock FROM runs WHERE status = ?", e)))
		goto rollback;
	store_bind_text(s, 1, run_status_name(RUN_RUNNING));
	while (sqlite3_step(s) == SQLITE_ROW && n < (int)ARRAY_SIZE(stale))
		if (!run_alive(st, (const char *)sqlite3_column_text(s, 2),
			       (pid_t)sqlite3_column_int(s, 1)))
			stale[n++] = sqlite3_column_int64(s, 0);
	store_done(st, s);
	for (int i = 0; i < n; i++) {
		s = store_prep(st, "UPDATE runs SET status = ? WHERE id = ? AND status = ?", e);
		if (!s)
			goto rollback;
		store_bind_text(s, 1, run_status_name(RUN_INTERRUPTED));
		sqlite3_bind_int64(s, 2, stale[i]);
		store_bind_text(s, 3, run_status_name(RUN_RUNNING));
		if (store_step_done(st, s, "cannot mark run interrupted", e))
			goto rollback;
	}
	if (store_exec(st, "COMMIT", "cannot commit", e))
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
static char *take_run_lock(struct store *st, int64_t run, struct err *e)
{
	char *dir = logdir_run(st->path, run), *path = xasprintf("%s/run.lock", dir);
	char *name = NULL;
	int fd = -1;

	if (mkdir_p(dir, 0755) < 0)
		err_set(e, 0, "cannot create log directory '%s': %s", dir, strerror(errno));
	else if ((fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644)) < 0)
		err_set(e, 0, "cannot create run lock '%s': %s", path, strerror(errno));
	else if (flock(fd, LOCK_EX | LOCK_NB) < 0)
		err_set(e, 0, "cannot lock '%s': %s", path, strerror(errno));
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

int64_t store_run_begin(struct store *st, const char *argv_text, struct err *e)
{
	sqlite3_stmt *s;
	int64_t run;
	char *lock;

	/* the row becomes visible with its lock already held */
	if (store_exec(st, "BEGIN IMMEDIATE", "cannot start transaction", e))
		return -1;
	s = store_prep(st, "INSERT INTO runs (started, status, pid, argv) VALUES (?, ?, ?, ?)", e);
	if (!s)
		goto rollback;
	sqlite3_bind_double(s, 1, now_wall());
	store_bind_text(s, 2, run_status_name(RUN_RUNNING));
	sqlite3_bind_int(s, 3, getpid());
	store_bind_text(s, 4, argv_text);
	if (store_step_done(st, s, "cannot record run", e))
		goto rollback;
	run = sqlite3_last_insert_rowid(st->db);
	if (!(lock = take_run_lock(st, run, e)))
		goto rollback;
	s = store_prep(st, "UPDATE runs SET lock = ? WHERE id = ?", e);
	if (s) {
		store_bind_text(s, 1, lock);
		sqlite3_bind_int64(s, 2, run);
	}
	free(lock);
	if (!s || store_step_done(st, s, "cannot record run lock", e) ||
	    store_exec(st, "COMMIT", "cannot commit run", e))
		goto rollback;
	return run;
rollback:
	sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	if (st->lock_fd >= 0)
		close(st->lock_fd);
	st->lock_fd = -1;
	return -1;
}

int store_run_end(struct store *st, int64_t run, enum run_status status, struct err *e)
{
	sqlite3_stmt *s = store_prep(st, "UPDATE runs SET status = ?, finished = ? WHERE id = ?",
				     e);
	int ret;

	if (!s)
		return -1;
	store_bind_text(s, 1, run_status_name(status));
	sqlite3_bind_double(s, 2, now_wall());
	sqlite3_bind_int64(s, 3, run);
	ret = store_step_done(st, s, "cannot finish run", e);
	/* only after the status is committed: see store_mark_stale_runs */
	if (!ret && st->lock_fd >= 0) {
		close(st->lock_fd);
		st->lock_fd = -1;
	}
	return ret;
}
