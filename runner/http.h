/* The HTTP layer: libmicrohttpd with a small thread pool, each thread with
 * its own read-only SQLite connection (WAL lets it read while a run writes).
 * Serves the JSON API (route.h, api.h) and the dashboard's static files. */
#ifndef KFARM_HTTP_H
#define KFARM_HTTP_H

#include "err.h"

struct http_opts {
	const char *listen;	/* "HOST:PORT"; loopback unless told otherwise */
	const char *db_path;
	const char *web_dir;	/* NULL: no dashboard */
	unsigned int threads;
};

/* Serves until SIGINT or SIGTERM: 0; -1 with e when it cannot listen or
 * start. The caller has opened db_path read-only once (kfarm serve fails
 * early on a bad file). */
int http_serve(const struct http_opts *o, struct err *e);

#endif
