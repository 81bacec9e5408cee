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
 *   runs in one helper thread while a connection is open (libvirt_loop.h);
 *   the connections are per host (libvirt_conn.h), files reach the host
 *   through its staging (stage.h), the domain XML is libvirt_xml.h's, the
 *   VM's own thread libvirt_vm.h's. Every thread here blocks all signals
 *   (vm_thread.h), so SIGINT/SIGTERM still reach the scheduler's signalfd.
 * - Domains are started with VIR_DOMAIN_START_AUTODESTROY: if kfarm dies or
 *   its connection drops, the daemon destroys them (the remote analogue of
 *   PR_SET_PDEATHSIG). */
#include "backend.h"
#include "hosts.h"
#include "libvirt_conn.h"
#include "libvirt_vm.h"
#include "libvirt_xml.h"
#include "profile.h"
#include "stage.h"
#include "util.h"
#include "vm_thread.h"

#include <libvirt/libvirt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct lv_vm {
	struct lv_shared *sh;
	int stopped;
};

/* Checks that h can run spec now; *hap: h's QEMU for it. -1 with err
 * (vm->host_down set when it is the host's fault, not the job's). */
static int check_host(struct vm *vm, const struct vm_spec *spec, struct host *h,
		      const struct host_arch **hap, struct lv_conn **cp, struct err *err)
{
	const char *arch = lv_guest_arch(spec->profile);

	if (!h) {
		err_set(err, 0, "the libvirt backend needs a host (--libvirt-uri or --hosts)");
		return -1;
	}
	if (!arch || strlen(arch) >= 32) {
		err_set(err, 0, "arch %s: cannot tell libvirt's arch from QEMU binary '%s'",
			spec->profile->arch, spec->profile->qemu_binary);
		return -1;
	}
	*hap = host_arch(h, spec->profile->arch);
	if (!*hap) {
		err_set(err, 0, "host '%s' cannot run %s (no %s there)", h->name,
			spec->profile->arch, spec->profile->qemu_binary);
		return -1;
	}
	if (!h->local && !h->ssh) {
		err_set(err, 0, "host '%s' has no SSH session", h->name);
		vm->host_down = 1;
		return -1;
	}
	if (!h->be)
		h->be = &backend_libvirt;	/* never probed: connected here */
	if (!lv_conn_of(h) && lv_host_connect(h, err, 0) < 0) {
		vm->host_down = 1;
		return -1;
	}
	*cp = lv_conn_of(h);
	if (lv_conn_lost(*cp, err)) {
		err_prefix(err, "host '%s' lost: libvirt connection: ", h->name);
		vm->host_down = 1;
		return -1;
	}
	return 0;
}

static struct lv_shared *shared_new(struct lv_conn *c, const struct host *h,
				    const struct host_arch *ha, const struct vm_spec *spec)
{
	struct lv_shared *sh = xcalloc(1, sizeof(*sh));

	pthread_mutex_init(&sh->mu, NULL);
	pthread_cond_init(&sh->cv, NULL);
	sh->refs = 1;
	sh->c = c;
	sh->out_w = sh->err_w = -1;
	sh->cb_id = -1;
	sh->host = xstrdup(h->name);
	sh->emulator = xstrdup(ha->path);
	sh->version = xasprintf("%s (libvirt %s, host %s)", ha->version ? ha->version : "QEMU",
				h->libvirt_version ? h->libvirt_version : "?", h->name);
	snprintf(sh->arch, sizeof(sh->arch), "%s", lv_guest_arch(spec->profile));
	return sh;
}

/* Where local will be on the host; its upload (if any) is the thread's. */
static char *file_on_host(struct lv_shared *sh, const char *local, const char *sha,
			  struct err *err)
{
	char *where = stage_where(sh->c->stage, local, sha, err);

	if (where) {
		sh->up[sh->nup].local = xstrdup(local);
		sh->up[sh->nup++].hash = xstrdup(sha ? sha : "");
	}
	return where;
}

/* The domain's name and XML (both variants), with the files' host paths. */
static int make_domain(struct lv_shared *sh, const struct vm_spec *spec, int local, int *down,
		       struct err *err)
{
	static unsigned long seq;
	char *kernel, *initrd = NULL, hostname[64] = "kfarm";

	kernel = file_on_host(sh, spec->kernel, spec->kernel_sha256, err);
	if (kernel)
		initrd = file_on_host(sh, spec->initrd, spec->initrd_sha256, err);
	if (!initrd) {
		*down = !local;
		free(kernel);
		return -1;
	}
	gethostname(hostname, sizeof(hostname) - 1);
	hostname[strcspn(hostname, ". ")] = '\0';
	sh->name = xasprintf(LV_DOMAIN_PREFIX "%s-%d-%lu", hostname, (int)getpid(), ++seq);
	sh->xml = lv_domain_xml(sh->name, spec, sh->emulator, kernel, initrd, 0);
	if (spec->profile->cpu)
		sh->xml_cpu_arg = lv_domain_xml(sh->name, spec, sh->emulator, kernel, initrd, 1);
	free(kernel);
	free(initrd);
	return 0;
}

/* Checks what it can right away; everything that talks to the host (upload,
 * domain, console) happens in the VM's thread, so the scheduler's loop never
 * waits on the network. */
static int lv_start(struct vm *vm, const struct vm_spec *spec, struct err *err,
		    unsigned int flags)
{
	struct host *h = spec->host;
	const struct host_arch *ha = NULL;
	struct lv_conn *c = NULL;
	struct lv_shared *sh;
	struct lv_vm *lv;

	(void)flags;
	memset(vm, 0, sizeof(*vm));
	vm->console_fd = vm->err_fd = vm->exit_fd = -1;
	if (check_host(vm, spec, h, &ha, &c, err) < 0)
		return -1;
	sh = shared_new(c, h, ha, spec);
	lv = xcalloc(1, sizeof(*lv));
	lv->sh = sh;
	vm->priv = lv;
	if (make_domain(sh, spec, h->local, &vm->host_down, err) < 0)
		goto fail;
	vm->cmdline = xstrdup("(domain not created)");
	vm->version = xstrdup(sh->version);
	if (vm_pipes_open(vm, &sh->out_w, &sh->err_w, err) < 0)
		goto fail;
	lv_shared_ref(sh);
	lv_conn_enter(c);
	if (vm_thread_start(lv_thread, sh, NULL) < 0) {
		lv_conn_leave(c);
		lv_shared_unref(sh);
		err_set(err, 0, "cannot start a thread for the VM");
		goto fail;
	}
	return 0;
fail:
	/* no thread: ended as far as wait and release are concerned */
	sh->ended = 1;
	lv->stopped = 1;
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
		if (!lv_conn_lost(sh->c, NULL))
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
		lv_shared_unref(lv->sh);
		free(lv);
	}
	vm_clear(vm);
}

const struct backend backend_libvirt = {
	.name = "libvirt",
	.flags = BACKEND_HOSTS,
	.host_connect = lv_host_connect,
	.host_probe = lv_host_probe,
	.host_disconnect = lv_host_disconnect,
	.start = lv_start,
	.stop = lv_stop,
	.wait = lv_wait,
	.release = lv_release,
};
