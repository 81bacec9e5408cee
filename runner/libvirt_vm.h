/* One libvirt VM as its thread runs it (lv_thread): the files put on the
 * host, the domain created paused, watched and resumed, its console copied
 * into the pipe the scheduler reads, and, when the console ends without us
 * having stopped it, why (a guest shutdown, QEMU failing, the host lost).
 * struct lv_shared is what the VM (main thread), its thread and its event
 * callback share; backend_libvirt.c makes it and reads the outcome. */
#ifndef KFARM_LIBVIRT_VM_H
#define KFARM_LIBVIRT_VM_H

#include <libvirt/libvirt.h>
#include <pthread.h>
#include <stddef.h>

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
	char *host, *name, *xml, *xml_cpu_arg, *emulator, *version;
	char arch[32];		/* libvirt's */
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

/* References: the VM holds one, its thread one, the lifecycle callback one;
 * the last unref frees everything (unref's void *: libvirt's free callback). */
void lv_shared_ref(struct lv_shared *sh);
void lv_shared_unref(void *sh);

/* The VM's thread (vm_thread_start), given sh with one reference for it; it
 * ends with lv_conn_leave(sh->c). */
void *lv_thread(void *sh);

#endif
