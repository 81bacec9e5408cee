/* Staging: "make this local file present on that host", for a backend whose
 * VMs boot files on a host reached over SSH. A file goes once per host and
 * run into the host's content-addressed cache (kssh_upload: checked there
 * against its hash, never half-written); on a local host files are used
 * where they are. Any thread; one SSH user at a time (ssh.h's rule). */
#ifndef KFARM_STAGE_H
#define KFARM_STAGE_H

#include <stddef.h>

#include "err.h"

struct kssh;
struct stage;

/* ssh: the host's session (kept by the caller, outliving the stage); NULL:
 * a local host. host names it in messages. */
struct stage *stage_new(struct kssh *ssh, const char *host);
void stage_free(struct stage *st);

/* Where local (whose hex SHA-256, as the run recorded it, is sha256) is or
 * will be on the host. No I/O. NULL with err (a remote file needs its
 * hash; the session needs SFTP). */
char *stage_where(struct stage *st, const char *local, const char *sha256, struct err *err);

/* Puts it there unless already put this run. cancelled(arg), if given, is
 * asked once the session is ours: nonzero skips the upload. 0 (present or
 * skipped), or -1 with err. */
int stage_put(struct stage *st, const char *local, const char *sha256,
	      int (*cancelled)(void *), void *arg, struct err *err);

#endif
