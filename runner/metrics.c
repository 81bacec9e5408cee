#include "metrics.h"
#include "dbstmt.h"
#include "regress.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Label values are escaped as the exposition format requires. */
static void label(struct sb *sb, const char *v)
{
	for (; v && *v; v++) {
		if (*v == '\\' || *v == '"')
			sb_addf(sb, "\\%c", *v);
		else if (*v == '\n')
			sb_adds(sb, "\\n");
		else
			sb_add(sb, v, 1);
	}
}

/* One sample per row: (label value, number) or (number). A NULL or
 * non-numeric value is a crafted database: an error, never a silent 0. */
static int query(sqlite3 *db, struct sb *sb, const char *sql, const char *name,
		 const char *lbl, struct err *e)
{
	sqlite3_stmt *s;
	int rc, v = lbl ? 1 : 0;

	if (!(s = dbstmt_get(db, sql)))
		goto err;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		int t = sqlite3_column_type(s, v);

		if ((lbl && sqlite3_column_type(s, 0) != SQLITE_TEXT) ||
		    (t != SQLITE_INTEGER && t != SQLITE_FLOAT)) {
			dbstmt_put(s);
			err_set(e, 500, "database holds a bad value for %s", name);
			return -1;
		}
		sb_adds(sb, name);
		if (lbl) {
			sb_addf(sb, "{%s=\"", lbl);
			label(sb, (const char *)sqlite3_column_text(s, 0));
			sb_adds(sb, "\"}");
		}
		sb_addf(sb, " %.17g\n", sqlite3_column_double(s, v));
	}
	dbstmt_put(s);
	if (rc == SQLITE_DONE)
		return 0;
err:
	err_set(e, 500, "database query failed: %s", sqlite3_errmsg(db));
	return -1;
}

char *metrics_text(sqlite3 *db, struct err *e)
{
	struct sb sb;
	int open_regs, flaky, kinds[CH_COUNT];

	sb_init(&sb);
	sb_adds(&sb, "# HELP kfarm_jobs_total Jobs recorded, by outcome.\n"
		     "# TYPE kfarm_jobs_total counter\n");
	if (query(db, &sb, "SELECT outcome, n FROM sum_outcome ORDER BY 1",
		  "kfarm_jobs_total", "outcome", e))
		goto err;
	sb_adds(&sb, "# HELP kfarm_last_run_timestamp_seconds Start of the latest run.\n"
		     "# TYPE kfarm_last_run_timestamp_seconds gauge\n");
	if (query(db, &sb, "SELECT COALESCE(max(started), 0) FROM runs",
		  "kfarm_last_run_timestamp_seconds", NULL, e))
		goto err;
	sb_adds(&sb, "# HELP kfarm_boot_seconds Boot to first KTAP line, latest job per arch.\n"
		     "# TYPE kfarm_boot_seconds gauge\n");
	if (query(db, &sb, "SELECT j.arch, j.boot_s FROM sum_arch a JOIN jobs j ON j.id = a.boot_job"
			   " ORDER BY j.arch",
		  "kfarm_boot_seconds", "arch", e))
		goto err;
	if (regress_count(db, kinds, e))
		goto err;
	open_regs = kinds[CH_REGRESSION];
	flaky = kinds[CH_FLAKY];
	sb_addf(&sb, "# HELP kfarm_open_regressions Regressions of each tree's latest candidate.\n"
		     "# TYPE kfarm_open_regressions gauge\nkfarm_open_regressions %d\n"
		     "# HELP kfarm_flaky_tests Tests flaky in each tree's latest candidate.\n"
		     "# TYPE kfarm_flaky_tests gauge\nkfarm_flaky_tests %d\n", open_regs, flaky);
	return sb_detach(&sb);
err:
	sb_release(&sb);
	return NULL;
}
