/* libvirt backend: each job is a transient domain (virDomainCreateXML) with
 * direct kernel boot, on the host the scheduler placed it (spec->host).
 *
 * - Files: on a remote host the kernel and initramfs are first uploaded into
 *   the host's content-addressed cache over SFTP (ssh.h); a local URI boots
 *   the local paths.
 * - Console: <serial type='pty'> read through virDomainOpenConsole. The
 *   domain is created paused, its console opened, then resumed, so no early
 *   output is lost. One reader thread per VM pulls the stream (blocking
 *   virStreamRecv) into a pipe: the scheduler's epoll loop only ever sees
 *   that pipe, which hits EOF when the domain is gone. When the console
 *   ends without us having stopped the domain, the thread waits briefly for
 *   libvirt's lifecycle event to tell a guest shutdown from QEMU failing,
 *   from the connection to the host being lost; its account goes on the
 *   err pipe before both pipes close.
 * - libvirt's event loop (keepalives, lifecycle events, close callbacks)
 *   runs in one helper thread; every thread here blocks all signals, so
 *   SIGINT/SIGTERM still reach the scheduler's signalfd.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define KEEPALIVE_INTERVAL 5
#define KEEPALIVE_COUNT 3
#define EVENT_WAIT_S 5.0
#define DOMAIN_PREFIX "kfarm-"

/* One open connection per host (host->lv). */
struct lv_conn {
	virConnectPtr conn;
	pthread_mutex_t mu;
	int lost;
	char lost_why[128];
	/* local file -> remote cache path, for this host */
	struct { char *local, *remote; } *files;
	size_t nfiles;
};

/* Shared by the VM, its reader thread and its event callback. */
struct lv_shared {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int refs;
	struct lv_conn *c;
	virConnectPtr conn;	/* c->conn (the domain and stream hold references) */
	virDomainPtr dom;
	virStreamPtr st;
	int out_w, err_w;
	char *host;
	int stop_event;		/* VIR_DOMAIN_EVENT_STOPPED_* + 1, 0: none yet */
	int by_us, ended, host_down, infra;
	char why[256];
};

struct lv_vm {
	struct lv_shared *sh;
	int cb_id;
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
static int nreaders;

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

static void lv_init(void)
{
	if (virInitialize() < 0) {
		init_failed = 1;
		return;
	}
	virSetErrorFunc(NULL, quiet);
	if (virEventRegisterDefaultImpl() < 0)
		init_failed = 1;
}

static void wake(int timer, void *opaque)
{
	(void)opaque;
	virEventRemoveTimeout(timer);
}

/* After the last connection closed: the loop ends. */
static void event_loop_stop(void)
{
	if (!ev_running)
		return;
	ev_quit = 1;
	virEventAddTimeout(0, wake, NULL, NULL);
	pthread_join(ev_thread, NULL);
	ev_running = ev_quit = 0;
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
	c->conn = virConnectOpen(h->uri);
	if (!c->conn) {
		snprintf(err, errlen, "cannot connect to '%s': %s", h->uri, lverr());
		pthread_mutex_destroy(&c->mu);
		free(c);
		return NULL;
	}
	/* both only work with a remote driver; a local one needs neither */
	virConnectSetKeepAlive(c->conn, KEEPALIVE_INTERVAL, KEEPALIVE_COUNT);
	virConnectRegisterCloseCallback(c->conn, on_close, c, NULL);
	h->lv = c;
	nconns++;
	return c;
}

void libvirt_disconnect(struct host *h)
{
	struct lv_conn *c = h->lv;

	if (!c)
		return;
	if (nconns == 1) {
		/* let readers finish with the connection before it goes */
		pthread_mutex_lock(&readers_mu);
		for (double until = now_mono() + 5; nreaders && now_mono() < until;) {
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec++;
			pthread_cond_timedwait(&readers_cv, &readers_mu, &ts);
		}
		pthread_mutex_unlock(&readers_mu);
	}
	virConnectUnregisterCloseCallback(c->conn, on_close);
	/* a VM still referencing the connection keeps it alive until released */
	virConnectClose(c->conn);
	for (size_t i = 0; i < c->nfiles; i++) {
		free(c->files[i].local);
		free(c->files[i].remote);
	}
	free(c->files);
	/* c->mu may still be used by a late close callback: leak the struct */
	h->lv = NULL;
	if (--nconns == 0)
		event_loop_stop();
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
	pthread_cond_destroy(&sh->cv);
	pthread_mutex_destroy(&sh->mu);
	free(sh->host);
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

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= w;
	}
	return 0;
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

static void *reader(void *arg)
{
	struct lv_shared *sh = arg;
	char buf[65536], serr[160] = "end of stream";
	int n, out_ok = 1;

	for (;;) {
		n = virStreamRecv(sh->st, buf, sizeof(buf));
		if (n > 0) {
			if (out_ok && write_all(sh->out_w, buf, n) < 0)
				out_ok = 0;	/* the job is gone; keep draining */
			if (!out_ok)
				break;
			continue;
		}
		break;
	}
	if (n == 0) {
		virStreamFinish(sh->st);
	} else {
		if (n < 0)
			snprintf(serr, sizeof(serr), "%s", lverr());
		virStreamAbort(sh->st);
	}
	pthread_mutex_lock(&sh->mu);
	if (out_ok)
		classify_end(sh, serr);
	sh->ended = 1;
	if (sh->why[0]) {
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
	pthread_mutex_lock(&readers_mu);
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

/* Arches whose CPU libvirt's CPU driver does not model (sparc64...): their
 * -cpu goes to QEMU as a pass-through argument. */
static char *cpu_passthrough[16];

static int cpu_by_arg(const char *arch)
{
	for (size_t i = 0; i < ARRAY_SIZE(cpu_passthrough) && cpu_passthrough[i]; i++)
		if (!strcmp(cpu_passthrough[i], arch))
			return 1;
	return 0;
}

static void qemu_arg(struct sb *x, const char *a)
{
	sb_adds(x, "    <qemu:arg value='");
	xml_text(x, a);
	sb_adds(x, "'/>\n");
}

static char *domain_xml(const char *name, const struct vm_spec *spec, const char *emulator,
			const char *kernel, const char *initrd)
{
	const struct profile *p = spec->profile;
	const char *arch = guest_arch(p);
	int x86 = !strcmp(arch, "x86_64") || !strcmp(arch, "i386");
	int cpu_arg = p->cpu && cpu_by_arg(arch);
	struct sb x;

	sb_init(&x);
	sb_adds(&x, "<domain type='qemu' "
		    "xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>\n  <name>");
	xml_text(&x, name);
	sb_addf(&x, "</name>\n  <memory unit='MiB'>%u</memory>\n  <vcpu>1</vcpu>\n", p->memory_mb);
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

/* sha256 of a local file, remembered by (path, size, mtime). */
static int file_hash(const char *path, char out[65])
{
	static struct { char *path; off_t size; struct timespec mtime; char hash[65]; } memo[64];
	static size_t n;
	struct stat st;

	if (stat(path, &st) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (!strcmp(memo[i].path, path) && memo[i].size == st.st_size &&
		    memo[i].mtime.tv_sec == st.st_mtim.tv_sec &&
		    memo[i].mtime.tv_nsec == st.st_mtim.tv_nsec) {
			memcpy(out, memo[i].hash, 65);
			return 0;
		}
	if (sha256_file(path, out) < 0)
		return -1;
	if (n < ARRAY_SIZE(memo)) {
		memo[n].path = xstrdup(path);
		memo[n].size = st.st_size;
		memo[n].mtime = st.st_mtim;
		memcpy(memo[n++].hash, out, 65);
	}
	return 0;
}

/* Where local file is on host h (uploading it once per run). */
static int place_file(struct host *h, struct lv_conn *c, const char *local, const char **remote,
		      char *err, size_t errlen)
{
	char hash[65], *r;

	if (h->local) {
		*remote = local;
		return 0;
	}
	for (size_t i = 0; i < c->nfiles; i++)
		if (!strcmp(c->files[i].local, local)) {
			*remote = c->files[i].remote;
			return 0;
		}
	if (file_hash(local, hash) < 0) {
		snprintf(err, errlen, "cannot read '%s': %s", local, strerror(errno));
		return -1;
	}
	if (!h->ssh) {
		snprintf(err, errlen, "host '%s' has no SSH session", h->name);
		return -2;
	}
	if (kssh_upload(h->ssh, local, hash, &r, err, errlen) < 0)
		return -2;
	c->files = xrealloc(c->files, (c->nfiles + 1) * sizeof(*c->files));
	c->files[c->nfiles].local = xstrdup(local);
	c->files[c->nfiles++].remote = r;
	*remote = r;
	return 0;
}

static int lv_start(struct vm *vm, const struct vm_spec *spec, char *err, size_t errlen,
		    unsigned int flags)
{
	static unsigned long seq;
	struct host *h = spec->host;
	const struct host_arch *ha;
	struct lv_conn *c;
	struct lv_shared *sh = NULL;
	struct lv_vm *lv = NULL;
	const char *kernel, *initrd;
	char *xml = NULL, *name = NULL, hostname[64] = "kfarm", lost[128];
	int out[2] = { -1, -1 }, errp[2] = { -1, -1 }, r;

	(void)flags;
	memset(vm, 0, sizeof(*vm));
	vm->console_fd = vm->err_fd = vm->exit_fd = -1;
	if (!h) {
		snprintf(err, errlen, "the libvirt backend needs a host (--libvirt-uri or --hosts)");
		return -1;
	}
	if (!guest_arch(spec->profile)) {
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
	r = place_file(h, c, spec->kernel, &kernel, err, errlen);
	if (!r)
		r = place_file(h, c, spec->initrd, &initrd, err, errlen);
	if (r) {
		vm->host_down = r == -2;
		return -1;
	}
	gethostname(hostname, sizeof(hostname) - 1);
	hostname[strcspn(hostname, ". ")] = '\0';
	name = xasprintf(DOMAIN_PREFIX "%s-%d-%lu", hostname, (int)getpid(), ++seq);
	xml = domain_xml(name, spec, ha->path, kernel, initrd);

	sh = xcalloc(1, sizeof(*sh));
	pthread_mutex_init(&sh->mu, NULL);
	pthread_cond_init(&sh->cv, NULL);
	sh->refs = 1;
	sh->c = c;
	sh->out_w = sh->err_w = -1;
	sh->host = xstrdup(h->name);
	sh->conn = c->conn;
	lv = xcalloc(1, sizeof(*lv));
	lv->sh = sh;
	lv->cb_id = -1;
	vm->priv = lv;

	sh->dom = virDomainCreateXML(c->conn, xml,
				     VIR_DOMAIN_START_PAUSED | VIR_DOMAIN_START_AUTODESTROY);
	if (!sh->dom && spec->profile->cpu && virGetLastErrorCode() == VIR_ERR_NO_SUPPORT &&
	    !cpu_by_arg(guest_arch(spec->profile))) {
		for (size_t i = 0; i < ARRAY_SIZE(cpu_passthrough); i++)
			if (!cpu_passthrough[i]) {
				cpu_passthrough[i] = xstrdup(guest_arch(spec->profile));
				break;
			}
		free(xml);
		xml = domain_xml(name, spec, ha->path, kernel, initrd);
		sh->dom = virDomainCreateXML(c->conn, xml, VIR_DOMAIN_START_PAUSED |
					     VIR_DOMAIN_START_AUTODESTROY);
	}
	if (!sh->dom) {
		snprintf(err, errlen, "libvirt on host '%s' cannot start the domain: %s", h->name,
			 lverr());
		vm->host_down = conn_lost(c, NULL, 0);
		goto fail;
	}
	{
		char *native = virConnectDomainXMLToNative(c->conn, "qemu-argv", xml, 0);

		/* from the emulator on: the environment libvirt sets is noise */
		const char *from = native ? strstr(native, ha->path) : NULL;

		vm->cmdline = xstrdup(from ? from : native ? native : xml);
		free(native);
		vm->cmdline[strcspn(vm->cmdline, "\n")] = '\0';
	}
	vm->version = xasprintf("%s (libvirt %s, host %s)",
				ha->version ? ha->version : "QEMU", h->libvirt_version ?
				h->libvirt_version : "?", h->name);
	sh_ref(sh);
	lv->cb_id = virConnectDomainEventRegisterAny(c->conn, sh->dom,
						     VIR_DOMAIN_EVENT_ID_LIFECYCLE,
						     VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle), sh,
						     sh_unref);
	if (lv->cb_id < 0) {
		sh_unref(sh);
		snprintf(err, errlen, "libvirt on host '%s': cannot watch the domain: %s", h->name,
			 lverr());
		goto fail_destroy;
	}
	sh->st = virStreamNew(c->conn, 0);
	if (!sh->st || virDomainOpenConsole(sh->dom, NULL, sh->st, VIR_DOMAIN_CONSOLE_FORCE) < 0) {
		snprintf(err, errlen, "libvirt on host '%s': cannot open the console: %s", h->name,
			 lverr());
		goto fail_destroy;
	}
	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		goto fail_destroy;
	}
	sh->out_w = out[1];
	sh->err_w = errp[1];
	vm->console_fd = out[0];
	vm->err_fd = errp[0];
	out[0] = out[1] = errp[0] = errp[1] = -1;
	fcntl(vm->console_fd, F_SETFL, O_NONBLOCK);
	fcntl(vm->err_fd, F_SETFL, O_NONBLOCK);
	sh_ref(sh);
	pthread_mutex_lock(&readers_mu);
	nreaders++;
	pthread_mutex_unlock(&readers_mu);
	if (spawn(reader, sh, NULL) < 0) {
		pthread_mutex_lock(&readers_mu);
		nreaders--;
		pthread_mutex_unlock(&readers_mu);
		sh_unref(sh);
		snprintf(err, errlen, "cannot start the console reader thread");
		goto fail_destroy;
	}
	if (virDomainResume(sh->dom) < 0) {
		snprintf(err, errlen, "libvirt on host '%s' cannot resume the domain: %s", h->name,
			 lverr());
		vm->host_down = conn_lost(c, NULL, 0);
		goto fail_destroy;
	}
	free(xml);
	free(name);
	return 0;
fail_destroy:
	lv->stopped = 1;
	pthread_mutex_lock(&sh->mu);
	sh->by_us = 1;
	pthread_mutex_unlock(&sh->mu);
	virDomainDestroy(sh->dom);
fail:
	for (int i = 0; i < 2; i++) {
		if (out[i] >= 0)
			close(out[i]);
		if (errp[i] >= 0)
			close(errp[i]);
	}
	free(xml);
	free(name);
	return -1;
}

static int lv_stop(struct vm *vm, unsigned int flags)
{
	struct lv_vm *lv = vm->priv;
	struct lv_shared *sh;
	int ended;

	(void)flags;
	if (!lv || lv->stopped)
		return 0;
	sh = lv->sh;
	lv->stopped = 1;
	pthread_mutex_lock(&sh->mu);
	sh->by_us = 1;
	ended = sh->ended;
	pthread_cond_broadcast(&sh->cv);
	pthread_mutex_unlock(&sh->mu);
	if (!ended && sh->dom && !conn_lost(sh->c, NULL, 0))
		virDomainDestroy(sh->dom);
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
	if (sh->infra && !sh->by_us) {
		ex->status = 1;
		snprintf(ex->why, sizeof(ex->why), "%s", sh->why);
	}
	vm->host_down = sh->host_down;
	pthread_mutex_unlock(&sh->mu);
	return 0;
}

static void lv_release(struct vm *vm)
{
	struct lv_vm *lv = vm->priv;

	if (lv) {
		struct lv_shared *sh = lv->sh;

		lv_stop(vm, 0);
		if (lv->cb_id >= 0)
			virConnectDomainEventDeregisterAny(sh->conn, lv->cb_id);
		sh_unref(sh);
		free(lv);
	}
	if (vm->console_fd >= 0)
		close(vm->console_fd);
	if (vm->err_fd >= 0)
		close(vm->err_fd);
	free(vm->cmdline);
	free(vm->version);
	memset(vm, 0, sizeof(*vm));
	vm->console_fd = vm->err_fd = vm->exit_fd = -1;
}

const struct backend backend_libvirt = {
	.name = "libvirt",
	.start = lv_start,
	.stop = lv_stop,
	.wait = lv_wait,
	.release = lv_release,
};
