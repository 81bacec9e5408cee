/* kfarm regressions --bisect: one child `kfarm bisect` per confirmed
 * regression between two revisions of one git repository. */
#include "bisect_child.h"
#include "cmds.h"
#include "history.h"
#include "util.h"

#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

/* The git source (repository path and commit) behind one side of a
 * regression: its job's candidate, or its build. 0, or -1 if not git. */
static int side_source(sqlite3 *db, json_t *side, char **repo, char **commit)
{
	int64_t job = json_integer_value(json_object_get(side, "job"));
	int64_t build = json_integer_value(json_object_get(side, "build"));
	sqlite3_stmt *s;
	int rc = -1;

	*repo = *commit = NULL;
	if (sqlite3_prepare_v2(db, job ? "SELECT s.kind, s.spec, s.commit_id FROM jobs j"
			       " JOIN candidates c ON c.id = j.candidate_id"
			       " JOIN sources s ON s.id = c.source_id WHERE j.id = ?"
			       : "SELECT s.kind, s.spec, s.commit_id FROM builds b"
			       " JOIN sources s ON s.id = b.source_id WHERE b.id = ?",
			       -1, &s, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(s, 1, job ? job : build);
	if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0) &&
	    !strcmp((const char *)sqlite3_column_text(s, 0), "git") && sqlite3_column_text(s, 1) &&
	    sqlite3_column_text(s, 2)) {
		const char *spec = (const char *)sqlite3_column_text(s, 1);
		const char *at = strrchr(spec, '@');

		*repo = at ? xstrndup(spec, (size_t)(at - spec)) : xstrdup(spec);
		*commit = xstrdup((const char *)sqlite3_column_text(s, 2));
		rc = 0;
	}
	sqlite3_finalize(s);
	return rc;
}

int bisect_regressions(sqlite3 *db, const char *db_path, json_t *regs)
{
	json_t *o;
	size_t i;
	int started = 0, worst = 0;

	json_array_foreach(regs, i, o) {
		const char *kind = json_string_value(json_object_get(o, "kind"));
		const char *tree = json_string_value(json_object_get(o, "tree"));
		const char *arch = json_string_value(json_object_get(o, "arch"));
		const char *test = json_string_value(json_object_get(o, "test"));
		char *r1, *c1, *r2, *c2;

		/* confirmed regressions only; a bisection's own steps are no tree to bisect */
		if (change_kind_parse(kind) != CH_REGRESSION || !tree || !arch || !test ||
		    !strncmp(tree, "bisect-", 7))
			continue;
		if (!side_source(db, json_object_get(o, "from"), &r1, &c1) &&
		    !side_source(db, json_object_get(o, "to"), &r2, &c2)) {
			if (!strcmp(r1, r2) && strcmp(c1, c2)) {
				int build = !strcmp(test, "build");
				char *argv[] = { "kfarm", "bisect", "--source", r1, "--good", c1,
						 "--bad", c2, "--arch", (char *)arch, "--tree",
						 (char *)tree, "--db", (char *)db_path,
						 build ? "--build" : "--test", build ? NULL : (char *)test,
						 NULL };
				pid_t pid;
				int rc;

				printf("\nbisecting %s %s on %s: %.12s..%.12s of %s\n", tree, test, arch,
				       c1, c2, r1);
				fflush(stdout);
				if (posix_spawn(&pid, "/proc/self/exe", NULL, NULL, argv, environ)) {
					worst = 3;
				} else {
					rc = wait_kfarm(pid);
					worst = rc > worst ? rc : worst;
					started++;
				}
			}
			free(r2), free(c2);
		}
		free(r1), free(c1);
	}
	if (!started)
		printf("\nno confirmed regression between two revisions of one git repository "
		       "to bisect\n");
	return worst;
}
