/* What a route's handler is given and fills in: its environment and its
 * reply (routes.c's table and its handler files share these, so a handler
 * file never depends on the table). */
#ifndef KFARM_HANDLER_H
#define KFARM_HANDLER_H

#include "err.h"

#include <jansson.h>
#include <sqlite3.h>
#include <stddef.h>

/* What a handler may use: the thread's read-only connection (NULL for
 * RF_NODB routes; set by route_run from the store), the database's path,
 * the dashboard's files. */
struct route_env {
	sqlite3 *db;
	const char *db_path;
	const char *web_dir;
	char *const *files;	/* NULL-terminated, listed at start */
};

/* A handler's answer: one of json, text or fd (owned by the reply until
 * sent), or err when the handler returned -1. */
struct reply {
	const char *type;	/* Content-Type of text or fd */
	json_t *json;
	char *text;
	int fd;			/* -1: none; its last max bytes are sent */
	size_t max;
	struct err err;
};

#endif
