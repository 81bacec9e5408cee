/* The command context: the database path's default and the store each
 * command's table entry asks for. */
#include "cmds.h"
#include "store.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

const char *cmd_db_path(struct cmd_ctx *c)
{
	if (!c->path)
		c->path = c->db ? xstrdup(c->db) : xasprintf("%s/kfarm.db", data_dir());
	return c->path;
}

struct store *cmd_store(struct cmd_ctx *c)
{
	if (c->st)
		return c->st;
	if (!(c->flags & (CMD_STORE_RO | CMD_STORE_RW))) {
		error("internal: this command has no database");
		return NULL;
	}
	if ((c->flags & CMD_STORE_RW) && !c->db && mkdir_p(data_dir(), 0755) < 0) {
		error_errno("cannot create '%s'", data_dir());
		return NULL;
	}
	struct err e;

	c->st = store_open(cmd_db_path(c), (c->flags & CMD_STORE_RW) ? 0 : STORE_READONLY, &e);
	if (!c->st)
		error("%s", e.msg);
	return c->st;
}

void cmd_ctx_close(struct cmd_ctx *c)
{
	store_close(c->st);
	free(c->path);
	c->st = NULL;
	c->path = NULL;
}
