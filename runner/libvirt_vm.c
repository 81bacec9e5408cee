#include "libvirt_vm.h"
#include "libvirt_conn.h"
#include "libvirt_loop.h"
#include "stage.h"
#include "util.h"
#include "vm_thread.h"

#include <libvirt/virterror.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EVENT_WAIT_S 5.0
#define POLL_MS 10	/* console stream polling while it is quiet */

static pthread_mutex_t cpu_mu = PTHREAD_MUTEX_INITIALIZER;

void lv_shared_unref(void *p)
{
	struct lv_shared *sh = p;
	int last;

	pthread_mutex_lock(&sh->mu);
	last = --sh->refs == 0;
	pthread_mutex_unlock(&sh->mu);
	if (!last)
		return;
	if (sh->st)
		virStreamFree(sh->st);
	if (sh->dom)
		virDomainFree(sh->dom);
	if (sh->out_w >= 0)
		close(sh->out_w);
	if (sh->err_w >= 0)
		close(sh->err_w);
	for (size_t i = 0; i < sh->nup; i++) {
		free(sh->up[i].local);
		free(sh->up[i].hash);
	}
	pthread_cond_destroy(&sh->cv);
	pthread_mutex_destroy(&sh->mu);
	free(sh->host);
	free(sh->name);
	free(sh->xml);
	free(sh->xml_cpu_arg);
	free(sh->emulator);
	free(sh->version);
	free(sh->cmdline);
	free(sh);
}

void lv_shared_ref(struct lv_shared *sh)
{
	pthread_mutex_lock(&sh->mu);
	sh->refs++;
	pthread_mutex_unlock(&sh->mu);
}

static int on_lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail,
			void *opaque)
{
	struct lv_shared *sh = opaque;

	(void)conn, (void)dom;
	if (event != VIR_DOMAIN_EVENT_STOPPED)
		return 0;
	pthread_mutex_lock(&sh->mu);
	sh->stop_event = detail + 1;
	pthread_cond_broadcast(&sh->cv);
	pthread_mutex_unlock(&sh->mu);
	return 0;
}

/* Infrastructure failure seen by the VM thread; host: the host's fault. */
static void fail(struct lv_shared *sh, int host, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void fail(struct lv_shared *sh, int host, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&sh->mu);
	if (!sh->infra) {
		va_start(ap, fmt);
		vsnprintf(sh->why, sizeof(sh->why), fmt, ap);
		va_end(ap);
		sh->infra = 1;
		sh->host_down = host;
	}
	pthread_mutex_unlock(&sh->mu);
}

/* After the console ended on its own: why? Called with sh->mu held. */
static void classify_end(struct lv_shared *sh, const char *stream_err)
{
	double until = now_mono() + EVENT_WAIT_S;
	struct err lost;

	while (!sh->stop_event && !sh->by_us) {
		pthread_mutex_unlock(&sh->mu);
		if (lv_conn_lost(sh->c, &lost)) {
			pthread_mutex_lock(&sh->mu);
			sh->host_down = sh->infra = 1;
			snprintf(sh->why, sizeof(sh->why), "host '%s' lost: libvirt connection: %.127s",
				 sh->host, lost.msg);
			return;
		}
		pthread_mutex_lock(&sh->mu);
		if (sh->stop_event || sh->by_us || now_mono() >= until)
			break;
		cond_wait_ms(&sh->cv, &sh->mu, 200);
	}
	if (sh->by_us)
		return;
	switch (sh->stop_event - 1) {
	case VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN:
	case VIR_DOMAIN_EVENT_STOPPED_CRASHED:
		return;		/* the guest ended itself: the kernel's business */
	case VIR_DOMAIN_EVENT_STOPPED_DESTROYED:
		snprintf(sh->why, sizeof(sh->why),
			 "domain destroyed on host '%s' by someone else", sh->host);
		break;
	case VIR_DOMAIN_EVENT_STOPPED_FAILED:
		snprintf(sh->why, sizeof(sh->why), "QEMU on host '%s' failed (killed or crashed)",
			 sh->host);
		break;
	case -1:
		snprintf(sh->why, sizeof(sh->why),
			 "console of the domain on host '%s' ended (%s) with no stop event",
			 sh->host, stream_err);
		break;
	default:
		snprintf(sh->why, sizeof(sh->why), "domain on host '%s' stopped (event detail %d)",
			 sh->host, sh->stop_event - 1);
		break;
	}
	sh->infra = 1;
}

static int stopping(struct lv_shared *sh)
{
	int r;

	pthread_mutex_lock(&sh->mu);
	r = sh->by_us;
	pthread_mutex_unlock(&sh->mu);
	return r;
}

/* Arches whose CPU libvirt's CPU driver does not model (sparc64...): their
 * -cpu goes to QEMU as a pass-through argument. */
static char *cpu_passthrough[16];

static int cpu_by_arg(const char *arch)
{
	int r = 0;

	pthread_mutex_lock(&cpu_mu);
	for (size_t i = 0; i < ARRAY_SIZE(cpu_passthrough) && cpu_passthrough[i] && !r; i++)
		r = !strcmp(cpu_passthrough[i], arch);
	pthread_mutex_unlock(&cpu_mu);
	return r;
}

static void cpu_by_arg_set(const char *arch)
{
	pthread_mutex_lock(&cpu_mu);
	for (size_t i = 0; i < ARRAY_SIZE(cpu_passthrough); i++)
		if (!cpu_passthrough[i] || !strcmp(cpu_passthrough[i], arch)) {
			if (!cpu_passthrough[i])
				cpu_passthrough[i] = xstrdup(arch);
			break;
		}
	pthread_mutex_unlock(&cpu_mu);
}

/* Creates the domain paused, watches it, opens its console, resumes it. */
static int boot(struct lv_shared *sh, const char *arch)
{
	virConnectPtr conn = sh->c->conn;
	unsigned int fl = VIR_DOMAIN_START_PAUSED | VIR_DOMAIN_START_AUTODESTROY;
	virDomainPtr dom;
	virStreamPtr st;
	int by_us, cb;

	dom = virDomainCreateXML(conn, sh->xml_cpu_arg && cpu_by_arg(arch) ? sh->xml_cpu_arg
									     : sh->xml, fl);
	if (!dom && sh->xml_cpu_arg && virGetLastErrorCode() == VIR_ERR_NO_SUPPORT &&
	    !cpu_by_arg(arch)) {
		cpu_by_arg_set(arch);
		dom = virDomainCreateXML(conn, sh->xml_cpu_arg, fl);
	}
	if (!dom) {
		fail(sh, lv_conn_lost(sh->c, NULL), "libvirt on host '%s' cannot start the domain: %s",
		     sh->host, lverr());
		return -1;
	}
	pthread_mutex_lock(&sh->mu);
	sh->dom = dom;
	sh->created = 1;
	by_us = sh->by_us;
	pthread_mutex_unlock(&sh->mu);
	if (by_us) {
		virDomainDestroy(dom);
		return -1;
	}
	{
		char *native = virConnectDomainXMLToNative(conn, "qemu-argv", sh->xml, 0);
		/* from the emulator on: the environment libvirt sets is noise */
		const char *from = native ? strstr(native, sh->emulator) : NULL;
		char *cmd = xstrdup(from ? from : native ? native : sh->xml);

		cmd[strcspn(cmd, "\n")] = '\0';
		free(native);
		pthread_mutex_lock(&sh->mu);
		sh->cmdline = cmd;
		pthread_mutex_unlock(&sh->mu);
	}
	lv_shared_ref(sh);
	cb = virConnectDomainEventRegisterAny(conn, dom, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
					      VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle), sh, lv_shared_unref);
	if (cb < 0) {
		lv_shared_unref(sh);
		fail(sh, lv_conn_lost(sh->c, NULL), "libvirt on host '%s': cannot watch the domain: %s",
		     sh->host, lverr());
		return -1;
	}
	pthread_mutex_lock(&sh->mu);
	sh->cb_id = cb;
	pthread_mutex_unlock(&sh->mu);
	st = virStreamNew(conn, VIR_STREAM_NONBLOCK);
	if (!st || virDomainOpenConsole(dom, NULL, st, VIR_DOMAIN_CONSOLE_FORCE) < 0) {
		if (!stopping(sh))
			fail(sh, lv_conn_lost(sh->c, NULL),
			     "libvirt on host '%s': cannot open the console: %s", sh->host, lverr());
		if (st)
			virStreamFree(st);
		return -1;
	}
	pthread_mutex_lock(&sh->mu);
	sh->st = st;
	pthread_mutex_unlock(&sh->mu);
	if (virDomainResume(dom) < 0) {
		if (!stopping(sh))
			fail(sh, lv_conn_lost(sh->c, NULL),
			     "libvirt on host '%s' cannot resume the domain: %s", sh->host, lverr());
		return -1;
	}
	return 0;
}

/* Puts the files on the host (once per run and host, stage.h). */
static int stopping_cb(void *sh)
{
	return stopping(sh);
}

static int upload_files(struct lv_shared *sh)
{
	struct err err;

	for (size_t i = 0; i < sh->nup; i++)
		if (stage_put(sh->c->stage, sh->up[i].local, sh->up[i].hash, stopping_cb, sh,
			      &err) < 0) {
			fail(sh, 1, "%s", err.msg);
			return -1;
		}
	return 0;
}

/* The console into the pipe until it ends. Non-blocking reads: the event
 * loop thread queues what arrives; a blocked virStreamRecv is not reliably
 * woken when the connection drops, this loop sees the loss at once.
 * Returns virStreamRecv's last answer; *out_ok = 0 if the job went away. */
static int copy_console(struct lv_shared *sh, int *out_ok)
{
	char buf[65536];
	int n;

	for (;;) {
		n = virStreamRecv(sh->st, buf, sizeof(buf));
		if (n > 0) {
			if (write_all(sh->out_w, buf, n) < 0) {
				*out_ok = 0;	/* the job is gone */
				return n;
			}
			continue;
		}
		if (n != -2 || lv_conn_lost(sh->c, NULL))
			return n;
		pthread_mutex_lock(&sh->mu);
		if (!sh->by_us)
			cond_wait_ms(&sh->cv, &sh->mu, POLL_MS);
		pthread_mutex_unlock(&sh->mu);
	}
}

/* The VM is over: the account of an abnormal end on the err pipe, then both
 * pipes closed (EOF for the scheduler) and wait told. */
static void vm_over(struct lv_shared *sh, int booted, int out_ok, const char *serr)
{
	pthread_mutex_lock(&sh->mu);
	if (booted && out_ok)
		classify_end(sh, serr);
	if (sh->cb_id >= 0) {
		int cb = sh->cb_id;

		sh->cb_id = -1;
		pthread_mutex_unlock(&sh->mu);
		virConnectDomainEventDeregisterAny(sh->c->conn, cb);
		pthread_mutex_lock(&sh->mu);
	}
	sh->ended = 1;
	if (sh->why[0] && !sh->by_us)
		vm_note(sh->err_w, "%s", sh->why);
	close(sh->err_w);
	close(sh->out_w);
	sh->err_w = sh->out_w = -1;
	pthread_cond_broadcast(&sh->cv);
	pthread_mutex_unlock(&sh->mu);
}

/* One per VM: files, domain, then the console into the pipe until the end. */
void *lv_thread(void *p)
{
	struct lv_shared *sh = p;
	struct lv_conn *c = sh->c;
	char serr[160] = "end of stream";
	int n = 0, out_ok = 1, booted = 0;

	if (upload_files(sh) == 0 && !stopping(sh))
		booted = boot(sh, sh->arch) == 0;
	if (booted) {
		n = copy_console(sh, &out_ok);
		if (n == 0) {
			virStreamFinish(sh->st);
		} else {
			if (n == -1)
				snprintf(serr, sizeof(serr), "%s", lverr());
			virStreamAbort(sh->st);
		}
	} else if (sh->dom && !sh->by_us) {
		virDomainDestroy(sh->dom);	/* half set up: not ours to keep */
	}
	vm_over(sh, booted, out_ok, serr);
	lv_shared_unref(sh);
	lv_conn_leave(c);	/* the last touch of c */
	return NULL;
}

