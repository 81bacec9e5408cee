#include "libvirt_conn.h"
#include "backend.h"
#include "hosts.h"
#include "libvirt_loop.h"
#include "stage.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define KEEPALIVE_INTERVAL 2
#define KEEPALIVE_COUNT 3
#define DISCONNECT_WAIT_S 5

/* Held by a VM thread for its last touch of its connection, so that a
 * disconnect that sees no thread left knows none still runs there. */
static pthread_mutex_t threads_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t threads_cv = PTHREAD_COND_INITIALIZER;

static void on_close(virConnectPtr conn, int reason, void *opaque)
{
	static const char *const why[] = {
		[VIR_CONNECT_CLOSE_REASON_ERROR] = "I/O error",
		[VIR_CONNECT_CLOSE_REASON_EOF] = "end of file from the host",
		[VIR_CONNECT_CLOSE_REASON_KEEPALIVE] = "no keepalive answer",
		[VIR_CONNECT_CLOSE_REASON_CLIENT] = "closed by kfarm",
	};
	struct lv_conn *c = opaque;

	(void)conn;
	pthread_mutex_lock(&c->mu);
	c->lost = 1;
	snprintf(c->lost_why, sizeof(c->lost_why), "%s",
		 reason >= 0 && reason < (int)ARRAY_SIZE(why) ? why[reason] : "closed");
	pthread_mutex_unlock(&c->mu);
}

int lv_conn_lost(struct lv_conn *c, struct err *e)
{
	int lost;

	pthread_mutex_lock(&c->mu);
	lost = c->lost;
	if (!lost && virConnectIsAlive(c->conn) != 1) {
		lost = c->lost = 1;
		snprintf(c->lost_why, sizeof(c->lost_why), "connection closed");
	}
	if (lost)
		err_set(e, 0, "%s", c->lost_why);
	pthread_mutex_unlock(&c->mu);
	return lost;
}

/* h->conn is ours when h's backend connects hosts with this file's code
 * (a backend table of ours, without knowing which one: no link to it). */
static int ours(const struct host *h)
{
	return h->be && h->be->host_connect == lv_host_connect;
}

struct lv_conn *lv_conn_of(const struct host *h)
{
	return ours(h) ? h->conn : NULL;
}

static void conn_free(struct lv_conn *c)
{
	stage_free(c->stage);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

int lv_host_connect(struct host *h, struct err *err, unsigned int flags)
{
	struct lv_conn *c;

	(void)flags;
	if (lv_conn_of(h))
		return 0;
	if (!ours(h)) {
		err_set(err, 0, "host '%s' is not the libvirt backend's", h->name);
		return -1;
	}
	if (!h->local && !h->ssh) {
		/* its files could not be staged there */
		err_set(err, 0, "host '%s' has no SSH session", h->name);
		return -1;
	}
	if (lv_loop_hold(err) < 0)
		return -1;
	c = xcalloc(1, sizeof(*c));
	pthread_mutex_init(&c->mu, NULL);
	c->conn = virConnectOpen(h->uri);
	if (!c->conn) {
		err_set(err, 0, "cannot connect to '%s': %s", h->uri, lverr());
		conn_free(c);
		lv_loop_drop();
		return -1;
	}
	c->stage = stage_new(h->local ? NULL : h->ssh, h->name);
	/* both only work with a remote driver; a local one needs neither */
	virConnectSetKeepAlive(c->conn, KEEPALIVE_INTERVAL, KEEPALIVE_COUNT);
	virConnectRegisterCloseCallback(c->conn, on_close, c, NULL);
	h->conn = c;
	return 0;
}

static int threads_of(struct lv_conn *c)
{
	int n;

	pthread_mutex_lock(&c->mu);
	n = c->nthreads;
	pthread_mutex_unlock(&c->mu);
	return n;
}

int lv_host_disconnect(struct host *h, unsigned int flags)
{
	struct lv_conn *c = lv_conn_of(h);
	int busy;

	(void)flags;
	if (!c)
		return 0;
	/* let this host's VM threads finish (bounded) before the connection
	 * and the SSH session go */
	pthread_mutex_lock(&threads_mu);
	for (double until = now_mono() + DISCONNECT_WAIT_S;
	     threads_of(c) && now_mono() < until;) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec++;
		pthread_cond_timedwait(&threads_cv, &threads_mu, &ts);
	}
	pthread_mutex_unlock(&threads_mu);
	busy = threads_of(c);
	virConnectUnregisterCloseCallback(c->conn, on_close);
	/* a VM still referencing the connection keeps it alive until released */
	virConnectClose(c->conn);
	h->conn = NULL;
	if (!busy) {
		/* no VM thread left (seen under threads_mu, which each releases
		 * last) and no close callback running: nothing uses c any more */
		conn_free(c);
		lv_loop_drop();
	}
	return busy;
}

void lv_conn_enter(struct lv_conn *c)
{
	pthread_mutex_lock(&threads_mu);
	pthread_mutex_lock(&c->mu);
	c->nthreads++;
	pthread_mutex_unlock(&c->mu);
	pthread_mutex_unlock(&threads_mu);
}

void lv_conn_leave(struct lv_conn *c)
{
	pthread_mutex_lock(&threads_mu);
	pthread_mutex_lock(&c->mu);
	c->nthreads--;
	pthread_mutex_unlock(&c->mu);
	pthread_cond_broadcast(&threads_cv);
	pthread_mutex_unlock(&threads_mu);
}

static char *version_text(unsigned long v)
{
	return xasprintf("%lu.%lu.%lu", v / 1000000, v / 1000 % 1000, v % 1000);
}

int lv_host_probe(struct host *h, struct err *err, unsigned int flags)
{
	struct lv_conn *c = lv_conn_of(h);
	unsigned long lib = 0, hv = 0;
	virDomainPtr *doms = NULL;
	int n;

	(void)flags;
	if (!c && lv_host_connect(h, err, 0) < 0)
		return -1;
	c = lv_conn_of(h);
	if (virConnectGetLibVersion(c->conn, &lib) < 0) {
		err_set(err, 0, "'%s' does not answer: %s", h->uri, lverr());
		return -1;
	}
	free(h->libvirt_version);
	h->libvirt_version = version_text(lib);
	if (virConnectGetVersion(c->conn, &hv) == 0 && hv) {
		free(h->hv_version);
		h->hv_version = version_text(hv);
	}
	n = virConnectListAllDomains(c->conn, &doms, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
	h->busy = 0;
	for (int i = 0; i < n; i++) {
		const char *name = virDomainGetName(doms[i]);

		h->busy += name && !strncmp(name, LV_DOMAIN_PREFIX, strlen(LV_DOMAIN_PREFIX));
		virDomainFree(doms[i]);
	}
	free(doms);
	if (n < 0) {
		err_set(err, 0, "cannot list domains on '%s': %s", h->uri, lverr());
		return -1;
	}
	return 0;
}
