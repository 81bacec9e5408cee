/* The libvirt backend's per-host connection pool: one virConnect per host
 * of the inventory (host->conn, while host->be is a table with these host
 * entries; host_connect wants host->be set), with
 * keepalives, the loss of the connection as libvirt reports it, the host's
 * file staging (stage.h), and the count of VM threads still using it. A
 * connection is freed on disconnect unless a VM thread is stuck using it. */
#ifndef KFARM_LIBVIRT_CONN_H
#define KFARM_LIBVIRT_CONN_H

#include <libvirt/libvirt.h>
#include <pthread.h>
#include <stddef.h>

#include "err.h"

struct host;

struct lv_conn {
	virConnectPtr conn;	/* set at open, then read-only */
	struct stage *stage;	/* set at open, then read-only */
	pthread_mutex_t mu;	/* lost, lost_why, nthreads */
	int lost;
	char lost_why[128];
	int nthreads;		/* VM threads using this host */
};

/* The backend table's host entries (backend.h). */
int lv_host_connect(struct host *h, struct err *err, unsigned int flags);
int lv_host_probe(struct host *h, struct err *err, unsigned int flags);
int lv_host_disconnect(struct host *h, unsigned int flags);

/* h's open connection, or NULL (not connected, or another backend's host). */
struct lv_conn *lv_conn_of(const struct host *h);
/* True once the connection is gone; e (if given) says how. Any thread. */
int lv_conn_lost(struct lv_conn *c, struct err *e);
/* A VM thread starts (in the main thread, before it runs) and ends (in the
 * thread, its very last use of c). */
void lv_conn_enter(struct lv_conn *c);
void lv_conn_leave(struct lv_conn *c);

#define LV_DOMAIN_PREFIX "kfarm-"	/* every kfarm domain's name starts so */

#endif
