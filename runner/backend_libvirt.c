/* libvirt backend: each job is a transient domain (virDomainCreateXML) with
 * direct kernel boot, on the host the scheduler placed it (spec->host).
 *
 * - start only checks and prepares (domain XML, pipes); everything that talks
 *   to the host runs in one thread per VM, so the scheduler's epoll loop
 *   never waits on the network: upload the kernel and initramfs into the
 *   host's content-addressed cache over SFTP (ssh.h; a local URI boots the
 *   local paths), create the domain paused, watch its lifecycle events, open
 *   its console (<serial type='pty'> through virDomainOpenConsole), resume
 *   it, then copy the console stream (blocking virStreamRecv) into a pipe.
 *   The scheduler only sees that pipe, which hits EOF when the VM is over.
 * - When the console ends without us having stopped the domain, the thread
 *   waits briefly for libvirt's lifecycle event to tell a guest shutdown
 *   from QEMU failing, from the connection to the host being lost; its
 *   account goes on the err pipe (and to wait) before both pipes close.
 * - libvirt's event loop (keepalives, lifecycle events, close callbacks)
 *   runs in one helper thread while a connection is open; every thread here
 *   blocks all signals, so SIGINT/SIGTERM still reach the scheduler's
 *   signalfd.
 * - Domains are started with VIR_DOMAIN_START_AUTODESTROY: if kfarm dies or
 *   its connection drops, the daemon destroys them (the remote analogue of
 *   PR_SET_PDEATHSIG). */
#include "backend.h"
#include "hosts.h"
#include "profile.h"
#include "ssh.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define KEEPALIVE_INTERVAL 2
#define KEEPALIVE_COUNT 3
#define EVENT_WAIT_S 5.0
#define POLL_MS 10	/* console stream polling while it is quiet */
#define DOMAIN_PREFIX "kfarm-"

/* One open connection per host (host->lv). Freed on disconnect unless a VM
 * thread is stuck using it. */
struct lv_conn {
	virConnectPtr conn;
	pthread_mutex_t mu;	/* lost, lost_why, nthreads, files */
	int lost;
	char lost_why[128];
	int nthreads;		/* VM threads using this host */
	/* local files known to be in the host's cache this run */
	char **files;
	size_t nfiles;
	pthread_mutex_t ssh_mu;	/* one SFTP/command user of the SSH session at a time */
};

struct upload {
	char *local, *hash;
};

/* Shared by the VM (main thread), its thread and its event callback. */
struct lv_shared {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int refs;
	/* set before the thread starts, then read-only */
	struct lv_conn *c;
	struct kssh *ssh;	/* NULL: local host */
	char *host, *name, *xml, *xml_cpu_arg, *emulator, *version;
	struct upload up[2];
	size_t nup;
	int out_w, err_w;	/* the thread's ends of the pipes */
	/* under mu */
	virDomainPtr dom;
	virStreamPtr st;
	int cb_id;
	int stop_event;		/* VIR_DOMAIN_EVENT_STOPPED_* + 1, 0: none yet */
	int by_us, ended, host_down, infra;
	int created;		/* the domain was created */
	char why[256];
	char *cmdline;
};

struct lv_vm {
	struct lv_shared *sh;
	int stopped;
};

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int init_failed;
/* The event loop thread runs while a connection is open: at exit nothing of
 * libvirt (or the libssh under it) may still be running when the crypto
 * libraries' exit handlers do. Reader threads are counted for the same
 * reason. Only the main thread opens and closes connections. */
static pthread_t ev_thread;
static int ev_running, nconns;
static volatile int ev_quit;
static pthread_mutex_t readers_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t readers_cv = PTHREAD_COND_INITIALIZER;
static int nreaders;		/* VM threads alive, all hosts */
static pthread_mutex_t cpu_mu = PTHREAD_MUTEX_INITIALIZER;

static void quiet(void *data, virErrorPtr e)
{
	(void)data, (void)e;	/* errors are read with virGetLastErrorMessage */
}

static void *event_loop(void *arg)
{
	(void)arg;
	while (!ev_quit)
		if (virEventRunDefaultImpl() < 0)
			sleep(1);
	return NULL;
}

/* Starts fn in a thread that blocks every signal (detached unless t). */
static int spawn(void *(*fn)(void *), void *arg, pthread_t *t)
{
	sigset_t all, old;
	pthread_t tmp;
	pthread_attr_t at;
	int r;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_init(&at);
	if (!t)
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	r = pthread_create(t ? t : &tmp, &at, fn, arg);
	pthread_attr_destroy(&at);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return r ? -1 : 0;
}

static void wake(int timer, void *opaque)
{
	(void)opaque;
	virEventRemoveTimeout(timer);
}

/* After the last connection closed (or at exit): the loop ends. */
static void event_loop_stop(void)
{
	if (!ev_running)
		return;
	ev_quit = 1;
	virEventAddTimeout(0, wake, NULL, NULL);
	pthread_join(ev_thread, NULL);
	ev_running = ev_quit = 0;
}

static void lv_init(void)
{
	if (virInitialize() < 0) {
		init_failed = 1;
		return;
	}
	virSetErrorFunc(NULL, quiet);
	if (virEventRegisterDefaultImpl() < 0)
		init_failed = 1;
	/* runs before the crypto libraries' exit handlers (registered earlier) */
	atexit(event_loop_stop);
}

static const char *lverr(void)
{
	const char *m = virGetLastErrorMessage();

	return m ? m : "unknown libvirt error";
}

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

static int conn_lost(struct lv_conn *c, char *why, size_t len)
{
	int lost;

	pthread_mutex_lock(&c->mu);
	lost = c->lost;
	if (!lost && virConnectIsAlive(c->conn) != 1) {
		lost = c->lost = 1;
		snprintf(c->lost_why, sizeof(c->lost_why), "connection closed");
	}
	if (lost && why)
		snprintf(why, len, "%s", c->lost_why);
	pthread_mutex_unlock(&c->mu);
	return lost;
}

static struct lv_conn *conn_get(struct host *h, char *err, size_t errlen)
{
	struct lv_conn *c = h->lv;

	pthread_once(&once, lv_init);
	if (init_failed) {
		snprintf(err, errlen, "cannot initialise libvirt: %s", lverr());
		return NULL;
	}
	if (c)
		return c;
	if (!ev_running) {
		if (spawn(event_loop, NULL, &ev_thread) < 0) {
			snprintf(err, errlen, "cannot start libvirt's event loop thread");
			return NULL;
		}
		ev_running = 1;
	}
	c = xcalloc(1, sizeof(*c));
	pthread_mutex_init(&c->mu, NULL);
	pthread_mutex_init(&c->ssh_mu, NULL);
	c->conn = virConnectOpen(h->uri);
	if (!c->conn) {
		snprintf(err, errlen, "cannot connect to '%s': %s", h->uri, lverr());
		pthread_mutex_destroy(&c->mu);
		pthread_mutex_destroy(&c->ssh_mu);
		free(c);
		if (!nconns)
			event_loop_stop();
		return NULL;
	}
	/* both only work with a remote driver; a local one needs neither */
	virConnectSetKeepAlive(c->conn, KEEPALIVE_INTERVAL, KEEPALIVE_COUNT);
	virConnectRegisterCloseCallback(c->conn, on_close, c, NULL);
	h->lv = c;
	nconns++;
	return c;
}

int libvirt_disconnect(struct host *h)
{
	struct lv_conn *c = h->lv;
	int busy;

	if (!c)
		return 0;
	/* let this host's VM threads finish (bounded) before the connection
	 * and the SSH session go */
	pthread_mutex_lock(&readers_mu);
	for (double until = now_mono() + 5; now_mono() < until;) {
		struct timespec ts;

		pthread_mutex_lock(&c->mu);
		busy = c->nthreads;
		pthread_mutex_unlock(&c->mu);
		if (!busy)
			break;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec++;
		pthread_cond_timedwait(&readers_cv, &readers_mu, &ts);
	}
	pthread_mutex_unlock(&readers_mu);
	pthread_mutex_lock(&c->mu);
	busy = c->nthreads;
	pthread_mutex_unlock(&c->mu);
	virConnectUnregisterCloseCallback(c->conn, on_close);
	/* a VM still referencing the connection keeps it alive until released */
	virConnectClose(c->conn);
	h->lv = NULL;
	if (!busy) {
		/* no VM thread left (seen under readers_mu, which each releases
		 * last) and no close callback running: nothing uses c any more */
		for (size_t i = 0; i < c->nfiles; i++)
			free(c->files[i]);
		free(c->files);
		pthread_mutex_destroy(&c->mu);
		pthread_mutex_destroy(&c->ssh_mu);
		free(c);
	}
	if (--nconns == 0 && !busy)
		event_loop_stop();
	return busy;
}

static char *version_text(unsigned long v)
{
	return xasprintf("%lu.%lu.%lu", v / 1000000, v / 1000 % 1000, v % 1000);
}

int libvirt_probe(struct host *h, char *err, size_t errlen)
{
	struct lv_conn *c = conn_get(h, err, errlen);
	unsigned long lib = 0, hv = 0;
	virDomainPtr *doms = NULL;
	int n;

	if (!c)
		return -1;
	if (virConnectGetLibVersion(c->conn, &lib) < 0) {
		snprintf(err, errlen, "'%s' does not answer: %s", h->uri, lverr());
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

		h->busy += name && !strncmp(name, DOMAIN_PREFIX, strlen(DOMAIN_PREFIX));
		virDomainFree(doms[i]);
	}
	free(doms);
	if (n < 0) {
		snprintf(err, errlen, "cannot list domains on '%s': %s", h->uri, lverr());
		return -1;
	}
	return 0;
}

static void sh_unref(void *p)
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

static void sh_ref(struct lv_shared *sh)
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
	char lost[128];

	while (!sh->stop_event && !sh->by_us) {
		struct timespec ts;

		pthread_mutex_unlock(&sh->mu);
		if (conn_lost(sh->c, lost, sizeof(lost))) {
			pthread_mutex_lock(&sh->mu);
			sh->host_down = sh->infra = 1;
			snprintf(sh->why, sizeof(sh->why), "host '%s' lost: libvirt connection: %s",
				 sh->host, lost);
			return;
		}
		pthread_mutex_lock(&sh->mu);
		if (sh->stop_event || sh->by_us || now_mono() >= until)
			break;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 200 * 1000000L;
		if (ts.tv_nsec >= 1000000000L)
			ts.tv_sec++, ts.tv_nsec -= 1000000000L;
		pthread_cond_timedwait(&sh->cv, &sh->mu, &ts);
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

/* Puts the files in the host's cache (once per run and host). */
static int upload_files(struct lv_shared *sh)
{
	struct lv_conn *c = sh->c;
	char err[512];

	for (size_t i = 0; i < sh->nup; i++) {
		int known = 0;
		char *remote = NULL;

		pthread_mutex_lock(&c->ssh_mu);
		pthread_mutex_lock(&c->mu);
		for (size_t k = 0; k < c->nfiles && !known; k++)
			known = !strcmp(c->files[k], sh->up[i].hash);
		pthread_mutex_unlock(&c->mu);
		if (!known && !stopping(sh) &&
		    kssh_upload(sh->ssh, sh->up[i].local, sh->up[i].hash, &remote, err,
				sizeof(err)) < 0) {
			pthread_mutex_unlock(&c->ssh_mu);
			fail(sh, 1, "host '%s': %s", sh->host, err);
			return -1;
		}
		if (remote) {
			pthread_mutex_lock(&c->mu);
			c->files = xrealloc(c->files, (c->nfiles + 1) * sizeof(*c->files));
			c->files[c->nfiles++] = xstrdup(sh->up[i].hash);
			pthread_mutex_unlock(&c->mu);
			free(remote);
		}
		pthread_mutex_unlock(&c->ssh_mu);
	}
	return 0;
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
		fail(sh, conn_lost(sh->c, NULL, 0), "libvirt on host '%s' cannot start the domain: %s",
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
	sh_ref(sh);
	cb = virConnectDomainEventRegisterAny(conn, dom, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
					      VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle), sh, sh_unref);
	if (cb < 0) {
		sh_unref(sh);
		fail(sh, conn_lost(sh->c, NULL, 0), "libvirt on host '%s': cannot watch the domain: %s",
		     sh->host, lverr());
		return -1;
	}
	pthread_mutex_lock(&sh->mu);
	sh->cb_id = cb;
	pthread_mutex_unlock(&sh->mu);
	st = virStreamNew(conn, VIR_STREAM_NONBLOCK);
	if (!st || virDomainOpenConsole(dom, NULL, st, VIR_DOMAIN_CONSOLE_FORCE) < 0) {
		if (!stopping(sh))
			fail(sh, conn_lost(sh->c, NULL, 0),
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
			fail(sh, conn_lost(sh->c, NULL, 0),
			     "libvirt on host '%s' cannot resume the domain: %s", sh->host, lverr());
		return -1;
	}
	return 0;
}

struct vm_thread_arg {
	struct lv_shared *sh;
	char arch[32];
};

/* One per VM: files, domain, then the console into the pipe until the end;
 * the account of an abnormal end goes on the err pipe. */
static void *vm_thread(void *p)
{
	struct vm_thread_arg *a = p;
	struct lv_shared *sh = a->sh;
	struct lv_conn *c = sh->c;
	char buf[65536], serr[160] = "end of stream";
	int n = 0, out_ok = 1, booted = 0;

	if ((!sh->ssh || upload_files(sh) == 0) && !stopping(sh))
		booted = boot(sh, a->arch) == 0;
	/* Non-blocking reads: the event loop thread queues what arrives; a
	 * blocked virStreamRecv is not reliably woken when the connection
	 * drops, this loop sees the loss at once. */
	while (booted) {
		n = virStreamRecv(sh->st, buf, sizeof(buf));
		if (n > 0) {
			if (write_all(sh->out_w, buf, n) < 0) {
				out_ok = 0;	/* the job is gone */
				break;
			}
			continue;
		}
		if (n != -2 || conn_lost(c, NULL, 0))
			break;
		pthread_mutex_lock(&sh->mu);
		if (!sh->by_us) {
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += POLL_MS * 1000000L;
			if (ts.tv_nsec >= 1000000000L)
				ts.tv_sec++, ts.tv_nsec -= 1000000000L;
			pthread_cond_timedwait(&sh->cv, &sh->mu, &ts);
		}
		pthread_mutex_unlock(&sh->mu);
	}
	if (booted) {
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
	pthread_mutex_lock(&sh->mu);
	if (booted && out_ok)
		classify_end(sh, serr);
	if (sh->cb_id >= 0) {
		int cb = sh->cb_id;

		sh->cb_id = -1;
		pthread_mutex_unlock(&sh->mu);
		virConnectDomainEventDeregisterAny(c->conn, cb);
		pthread_mutex_lock(&sh->mu);
	}
	sh->ended = 1;
	if (sh->why[0] && !sh->by_us) {
		char line[300];
		int len = snprintf(line, sizeof(line), "%s\n", sh->why);

		write_all(sh->err_w, line, len);
	}
	close(sh->err_w);
	close(sh->out_w);
	sh->err_w = sh->out_w = -1;
	pthread_cond_broadcast(&sh->cv);
	pthread_mutex_unlock(&sh->mu);
	sh_unref(sh);
	free(a);
	pthread_mutex_lock(&readers_mu);
	pthread_mutex_lock(&c->mu);
	c->nthreads--;
	pthread_mutex_unlock(&c->mu);
	nreaders--;
	pthread_cond_broadcast(&readers_cv);
	pthread_mutex_unlock(&readers_mu);
	return NULL;
}

static void xml_text(struct sb *sb, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': sb_adds(sb, "&amp;"); break;
		case '<': sb_adds(sb, "&lt;"); break;
		case '>': sb_adds(sb, "&gt;"); break;
		case '\'': sb_adds(sb, "&apos;"); break;
		case '"': sb_adds(sb, "&quot;"); break;
		default: sb_add(sb, s, 1);
		}
	}
}

/* libvirt's arch name is QEMU's target name: qemu-system-TARGET. */
static const char *guest_arch(const struct profile *p)
{
	const char *b = strrchr(p->qemu_binary, '/');

	b = b ? b + 1 : p->qemu_binary;
	return strncmp(b, "qemu-system-", 12) ? NULL : b + 12;
}

static void qemu_arg(struct sb *x, const char *a)
{
	sb_adds(x, "    <qemu:arg value='");
	xml_text(x, a);
	sb_adds(x, "'/>\n");
}

/* cpu_arg: -cpu as a pass-through argument instead of <cpu>. */
static char *domain_xml(const char *name, const struct vm_spec *spec, const char *emulator,
			const char *kernel, const char *initrd, int cpu_arg)
{
	const struct profile *p = spec->profile;
	const char *arch = guest_arch(p);
	int x86 = !strcmp(arch, "x86_64") || !strcmp(arch, "i386");
	struct sb x;

	sb_init(&x);
	sb_adds(&x, "<domain type='qemu' "
		    "xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>\n  <name>");
	xml_text(&x, name);
	sb_addf(&x, "</name>\n  <memory unit='MiB'>%u</memory>\n  <vcpu>%u</vcpu>\n",
		spec->memory_mb ? spec->memory_mb : p->memory_mb, spec->smp ? spec->smp : 1);
	sb_adds(&x, "  <os>\n    <type arch='");
	xml_text(&x, arch);
	sb_adds(&x, "' machine='");
	xml_text(&x, p->machine);
	sb_adds(&x, "'>hvm</type>\n    <kernel>");
	xml_text(&x, kernel);
	sb_adds(&x, "</kernel>\n    <initrd>");
	xml_text(&x, initrd);
	sb_adds(&x, "</initrd>\n    <cmdline>");
	xml_text(&x, spec->append);
	sb_adds(&x, "</cmdline>\n  </os>\n");
	if (x86)
		sb_adds(&x, "  <features><acpi/></features>\n");
	if (p->cpu && !cpu_arg) {
		sb_adds(&x, "  <cpu mode='custom' match='exact' check='none'>"
			    "<model fallback='forbid'>");
		xml_text(&x, p->cpu);
		sb_adds(&x, "</model></cpu>\n");
	}
	sb_adds(&x, "  <on_poweroff>destroy</on_poweroff>\n  <on_reboot>destroy</on_reboot>\n"
		    "  <on_crash>destroy</on_crash>\n  <devices>\n    <emulator>");
	xml_text(&x, emulator);
	sb_adds(&x, "</emulator>\n    <serial type='pty'><target port='0'/></serial>\n"
		    "    <controller type='usb' model='none'/>\n"
		    "    <memballoon model='none'/>\n  </devices>\n");
	if ((p->firmware && *p->firmware) || (p->args && *p->args) || cpu_arg) {
		sb_adds(&x, "  <qemu:commandline>\n");
		if (cpu_arg) {
			qemu_arg(&x, "-cpu");
			qemu_arg(&x, p->cpu);
		}
		for (char **a = p->firmware; a && *a; a++)
			qemu_arg(&x, *a);
		for (char **a = p->args; a && *a; a++)
			qemu_arg(&x, *a);
		sb_adds(&x, "  </qemu:commandline>\n");
	}
	sb_adds(&x, "</domain>\n");
	return sb_detach(&x);
}

/* Where local file will be on host h; for a remote host, adds the upload.
 * sha: the file's hash as the run recorded it (pinned, pin.h). */
static char *file_on_host(struct host *h, struct lv_shared *sh, const char *local,
			  const char *sha, char *err, size_t errlen)
{
	char hash[65], *remote;

	if (h->local)
		return xstrdup(local);
	/* hashed once, when the run pinned it: no second read that could see
	 * other bytes */
	if (!sha || strlen(sha) != 64) {
		snprintf(err, errlen, "'%s' has no recorded sha256 to upload it by", local);
		return NULL;
	}
	memcpy(hash, sha, 65);
	/* no I/O (the home directory was found by the probe), so no waiting
	 * for the session's lock while a VM thread uploads */
	remote = kssh_cache_path(h->ssh, hash);
	if (!remote) {
		snprintf(err, errlen, "host '%s': its SSH session has no SFTP", h->name);
		return NULL;
	}
	sh->up[sh->nup].local = xstrdup(local);
	sh->up[sh->nup++].hash = xstrdup(hash);
	return remote;
}

/* Checks what it can right away; everything that talks to the host (upload,
 * domain, console) happens in the VM's thread, so the scheduler's loop never
 * waits on the network. */
static int lv_start(struct vm *vm, const struct vm_spec *spec, char *err, size_t errlen,
		    unsigned int flags)
{
	static unsigned long seq;
	struct host *h = spec->host;
	const struct host_arch *ha;
	struct lv_conn *c;
	struct lv_shared *sh;
	struct lv_vm *lv;
	struct vm_thread_arg *ta;
	char *kernel = NULL, *initrd = NULL, hostname[64] = "kfarm", lost[128];
	int out[2] = { -1, -1 }, errp[2] = { -1, -1 };

	(void)flags;
	memset(vm, 0, sizeof(*vm));
	vm->console_fd = vm->err_fd = vm->exit_fd = -1;
	if (!h) {
		snprintf(err, errlen, "the libvirt backend needs a host (--libvirt-uri or --hosts)");
		return -1;
	}
	if (!guest_arch(spec->profile) || strlen(guest_arch(spec->profile)) >= 32) {
		snprintf(err, errlen, "arch %s: cannot tell libvirt's arch from QEMU binary '%s'",
			 spec->profile->arch, spec->profile->qemu_binary);
		return -1;
	}
	ha = host_arch(h, spec->profile->arch);
	if (!ha) {
		snprintf(err, errlen, "host '%s' cannot run %s (no %s there)", h->name,
			 spec->profile->arch, spec->profile->qemu_binary);
		return -1;
	}
	c = conn_get(h, err, errlen);
	if (!c || conn_lost(c, lost, sizeof(lost))) {
		if (c)
			snprintf(err, errlen, "host '%s' lost: libvirt connection: %s", h->name, lost);
		vm->host_down = 1;
		return -1;
	}
	if (!h->local && !h->ssh) {
		snprintf(err, errlen, "host '%s' has no SSH session", h->name);
		vm->host_down = 1;
		return -1;
	}

	sh = xcalloc(1, sizeof(*sh));
	pthread_mutex_init(&sh->mu, NULL);
	pthread_cond_init(&sh->cv, NULL);
	sh->refs = 1;
	sh->c = c;
	sh->ssh = h->local ? NULL : h->ssh;
	sh->out_w = sh->err_w = -1;
	sh->cb_id = -1;
	sh->host = xstrdup(h->name);
	sh->emulator = xstrdup(ha->path);
	sh->version = xasprintf("%s (libvirt %s, host %s)", ha->version ? ha->version : "QEMU",
				h->libvirt_version ? h->libvirt_version : "?", h->name);
	lv = xcalloc(1, sizeof(*lv));
	lv->sh = sh;
	vm->priv = lv;

	kernel = file_on_host(h, sh, spec->kernel, spec->kernel_sha256, err, errlen);
	initrd = kernel ? file_on_host(h, sh, spec->initrd, spec->initrd_sha256, err, errlen)
			: NULL;
	if (!initrd) {
		vm->host_down = !h->local;
		goto fail;
	}
	gethostname(hostname, sizeof(hostname) - 1);
	hostname[strcspn(hostname, ". ")] = '\0';
	sh->name = xasprintf(DOMAIN_PREFIX "%s-%d-%lu", hostname, (int)getpid(), ++seq);
	sh->xml = domain_xml(sh->name, spec, ha->path, kernel, initrd, 0);
	if (spec->profile->cpu)
		sh->xml_cpu_arg = domain_xml(sh->name, spec, ha->path, kernel, initrd, 1);
	vm->cmdline = xstrdup("(domain not created)");
	vm->version = xstrdup(sh->version);

	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		goto fail;
	}
	sh->out_w = out[1];
	sh->err_w = errp[1];
	vm->console_fd = out[0];
	vm->err_fd = errp[0];
	out[0] = out[1] = errp[0] = errp[1] = -1;
	fcntl(vm->console_fd, F_SETFL, O_NONBLOCK);
	fcntl(vm->err_fd, F_SETFL, O_NONBLOCK);

	ta = xcalloc(1, sizeof(*ta));
	ta->sh = sh;
	snprintf(ta->arch, sizeof(ta->arch), "%s", guest_arch(spec->profile));
	sh_ref(sh);
	pthread_mutex_lock(&readers_mu);
	nreaders++;
	pthread_mutex_lock(&c->mu);
	c->nthreads++;
	pthread_mutex_unlock(&c->mu);
	pthread_mutex_unlock(&readers_mu);
	if (spawn(vm_thread, ta, NULL) < 0) {
		pthread_mutex_lock(&readers_mu);
		nreaders--;
		pthread_mutex_lock(&c->mu);
		c->nthreads--;
		pthread_mutex_unlock(&c->mu);
		pthread_mutex_unlock(&readers_mu);
		free(ta);
		sh_unref(sh);
		snprintf(err, errlen, "cannot start a thread for the VM");
		goto fail;
	}
	free(kernel);
	free(initrd);
	return 0;
fail:
	/* no thread: ended as far as wait and release are concerned */
	sh->ended = 1;
	lv->stopped = 1;
	for (int i = 0; i < 2; i++) {
		if (out[i] >= 0)
			close(out[i]);
		if (errp[i] >= 0)
			close(errp[i]);
	}
	free(kernel);
	free(initrd);
	return -1;
}

static int lv_stop(struct vm *vm, unsigned int flags)
{
	struct lv_vm *lv = vm->priv;
	struct lv_shared *sh;
	virDomainPtr dom = NULL;

	(void)flags;
	if (!lv || lv->stopped)
		return 0;
	sh = lv->sh;
	lv->stopped = 1;
	pthread_mutex_lock(&sh->mu);
	sh->by_us = 1;
	if (!sh->ended && sh->dom) {
		dom = sh->dom;
		virDomainRef(dom);
	}
	pthread_cond_broadcast(&sh->cv);
	pthread_mutex_unlock(&sh->mu);
	/* not created yet: the thread sees by_us and destroys it itself */
	if (dom) {
		if (!conn_lost(sh->c, NULL, 0))
			virDomainDestroy(dom);
		virDomainFree(dom);
	}
	return 0;
}

static int lv_wait(struct vm *vm, struct vm_exit *ex, unsigned int flags)
{
	struct lv_vm *lv = vm->priv;
	struct lv_shared *sh;

	if (!lv)
		return -1;
	sh = lv->sh;
	pthread_mutex_lock(&sh->mu);
	if (!sh->ended && !(flags & BACKEND_WAIT_BLOCK)) {
		pthread_mutex_unlock(&sh->mu);
		return -1;
	}
	while (!sh->ended)
		pthread_cond_wait(&sh->cv, &sh->mu);
	memset(ex, 0, sizeof(*ex));
	ex->exited = 1;
	ex->by_us = sh->by_us;
	/* stopped before the domain existed: a timeout that ran out while
	 * the files were uploading says nothing about the kernel */
	ex->not_started = !sh->created;
	if (sh->infra && (!sh->by_us || ex->not_started)) {
		ex->status = 1;
		snprintf(ex->why, sizeof(ex->why), "%s", sh->why);
	}
	vm->host_down = sh->host_down && (!sh->by_us || ex->not_started);
	if (sh->cmdline) {
		free(vm->cmdline);
		vm->cmdline = xstrdup(sh->cmdline);
	}
	pthread_mutex_unlock(&sh->mu);
	return 0;
}

static void lv_release(struct vm *vm)
{
	struct lv_vm *lv = vm->priv;

	if (lv) {
		lv_stop(vm, 0);
		sh_unref(lv->sh);
		free(lv);
	}
	vm_clear(vm);
}

const struct backend backend_libvirt = {
	.name = "libvirt",
	.start = lv_start,
	.stop = lv_stop,
	.wait = lv_wait,
	.release = lv_release,
};
