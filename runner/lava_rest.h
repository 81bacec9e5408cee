/* Talking to one LAVA server's REST API (/api/v0.2/): the server and its
 * token, set once by lava_connect before any job starts, then requests from
 * any thread (libcurl, one handle per request). The token is only ever sent
 * in the Authorization header. */
#ifndef KFARM_LAVA_REST_H
#define KFARM_LAVA_REST_H

#include "err.h"
#include "util.h"

#include <jansson.h>
#include <stddef.h>

/* backend.connect: checks the URL, reads the token (secret_file, else
 * $KFARM_LAVA_TOKEN), has the server name its user, and probes the qemu
 * device type for arches. Returns the usable qemu devices (> 0), -1 for bad
 * input (URL, token), -2 for an unreachable or unfit server. */
int lava_connect(const char *url, const char *secret_file, char **arches, struct err *err,
		 unsigned int flags);

/* One request (path from /api/...; body: JSON or NULL) into out; returns the
 * HTTP status, or -1 with the reason in err. */
long lava_http(const char *method, const char *path, const char *body, struct sb *out,
	       long timeout_s, struct err *err);
/* GET as JSON; NULL with err unless HTTP 200 (*code: the status or -1). */
json_t *lava_get_json(const char *path, long *code, struct err *err);

const char *lava_server_url(void);	/* NULL before lava_connect */
const char *lava_server_version(void);	/* "LAVA 2023.01" */

#endif
