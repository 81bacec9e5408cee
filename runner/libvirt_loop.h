/* libvirt's process-wide side: initialisation (once) and the event-loop
 * thread that serves keepalives, lifecycle events and close callbacks. The
 * thread runs while some connection is open: at exit nothing of libvirt (or
 * the libssh under it) may still run when the crypto libraries' exit
 * handlers do. Only the main thread opens and closes connections. */
#ifndef KFARM_LIBVIRT_LOOP_H
#define KFARM_LIBVIRT_LOOP_H

#include <stddef.h>

#include "err.h"

/* Before a connection is opened: initialises libvirt (once) and starts the
 * loop if none runs. -1 with err. */
int lv_loop_hold(struct err *err);
/* After a connection is closed (or failed to open): the last one stops it. */
void lv_loop_drop(void);

/* libvirt's last error message in this thread (never NULL). */
const char *lverr(void);

#endif
