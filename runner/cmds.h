/* One function per subcommand; each parses its own options and returns the
 * process exit status. The dispatcher (main.c) gives each a context that
 * opens the store its table entry asks for, at the one default path. */
#ifndef KFARM_CMDS_H
#define KFARM_CMDS_H

struct store;

#include <jansson.h>
#include <sqlite3.h>

#define CMD_STORE_RO 1u	/* reads the history: opened read-only */
#define CMD_STORE_RW 2u	/* writes it: created and migrated if need be */

struct cmd_ctx {
	unsigned int flags;	/* from the command table: CMD_STORE_* or 0 */
	const char *db;		/* the command's --db, or NULL for the default */
	char *path;		/* resolved by cmd_db_path */
	struct store *st;	/* opened by cmd_store, closed by cmd_ctx_close */
};

/* --db, or $KFARM_DATA/kfarm.db (XDG's data home by default): the only
 * place the default is spelled. */
const char *cmd_db_path(struct cmd_ctx *c);
/* The command's store, opened on first call (after the command checked its
 * input: nothing is created for a refused command) read-only or read-write
 * as its flags say; the default's directory is created for CMD_STORE_RW.
 * NULL with the error printed. */
struct store *cmd_store(struct cmd_ctx *c);
void cmd_ctx_close(struct cmd_ctx *c);

int cmd_run(struct cmd_ctx *c, int argc, char **argv);
int cmd_build(struct cmd_ctx *c, int argc, char **argv);
int cmd_serve(struct cmd_ctx *c, int argc, char **argv);
int cmd_status(struct cmd_ctx *c, int argc, char **argv);
int cmd_history(struct cmd_ctx *c, int argc, char **argv);
int cmd_show(struct cmd_ctx *c, int argc, char **argv);
int cmd_regressions(struct cmd_ctx *c, int argc, char **argv);
int cmd_export(struct cmd_ctx *c, int argc, char **argv);
int cmd_hosts(struct cmd_ctx *c, int argc, char **argv);
int cmd_bisect(struct cmd_ctx *c, int argc, char **argv);
/* kfarm regressions --bisect: one kfarm bisect (a child) per confirmed
 * regression in regs whose two sides are commits of one git repository;
 * the worst exit status of those bisections. */
int bisect_regressions(sqlite3 *db, const char *db_path, json_t *regs);
int cmd_report(struct cmd_ctx *c, int argc, char **argv);
int cmd_lava_job(struct cmd_ctx *c, int argc, char **argv);

#endif
