/* How a job's VM is started and ended, and where. The scheduler and the
 * hosts only see this table (libvirt's driver pattern): a backend fills it
 * with designated initialisers, and a NULL entry means "not supported".
 * Every operation takes flags so the table never has to grow twins. */
#ifndef KFARM_BACKEND_H
#define KFARM_BACKEND_H

#include <sys/types.h>

#include "err.h"

struct profile;
struct host;

/* What to boot. */
struct vm_spec {
	const struct profile *profile;
	const char *kernel;
	const char *initrd;
	const char *append;	/* kernel command line */
	/* hex SHA-256 of the kernel's and initrd's bytes, or NULL: unknown */
	const char *kernel_sha256, *initrd_sha256;
	unsigned smp, memory_mb;	/* 0: the profile's default */
	const char *accel;	/* "kvm" or "tcg"; NULL: QEMU's default */
	struct host *host;	/* where (hosts.h); NULL: this machine */
};

/* A running VM as the scheduler watches it. */
struct vm {
	int console_fd;		/* guest console bytes; EOF when the VM is gone */
	int err_fd;		/* the hypervisor's own diagnostics, or -1 */
	int exit_fd;		/* readable once the VM has ended (a pidfd), or -1 */
	char *cmdline;		/* the exact command, for the record */
	char *version;		/* hypervisor version, for the record */
	int host_down;		/* the host failed (connection lost, files not placed),
				 * not this VM: retry elsewhere */
	long lava_id;		/* the LAVA job running it (backend_lava), or 0 */
	char *lava_url;		/* and its page on the LAVA server, or NULL */
	void *priv;
};

/* How a VM ended, as the backend saw it. */
struct vm_exit {
	int exited;		/* exit status valid */
	int status;		/* exit code */
	int signal;		/* killed by this signal (0: none) */
	int by_us;		/* we ended it (stop was called) */
	int not_started;	/* it never ran: stopped (or failed) while being set up
				 * (files still uploading...): never the kernel's doing */
	int timed_out;		/* the backend's own time limit ended it (why says which) */
	char why[256];		/* the backend's own account of an abnormal end, or "" */
};

/* A backend is a whole driver: where its VMs run (a service it connects to,
 * or the hosts of the inventory it connects to one by one), then the VMs.
 * The VM operations are required; every other entry may be NULL, meaning
 * "not supported", and is only ever called through the backend_* wrappers
 * below, which say so. */
struct backend {
	const char *name;
	unsigned int flags;	/* BACKEND_* below */

	/* --- a service that places the VMs itself (LAVA) ---
	 * Once before any job starts: reaches the service (url; secret_file
	 * holds its credential, or NULL) and checks it can run every arch in the
	 * NULL-terminated arches. Returns how many VMs it can run at once (> 0);
	 * -1 when the caller's input is wrong (URL, credential); -2 when the
	 * service is unreachable or unfit. The reason is in err. */
	int (*connect)(const char *url, const char *secret_file, char **arches, struct err *err,
		       unsigned int flags);

	/* --- hosts of the inventory (hosts.h), reached by hosts_probe.c ---
	 * host_connect opens h->conn (the backend's own handle; h->ssh is open
	 * unless h->local) or reuses it; host_probe fills h->libvirt_version,
	 * hv_version and busy through it; both -1 with the reason in err.
	 * host_disconnect closes h->conn, waiting (bounded) for VMs still using
	 * it; returns nonzero if some still do (h->ssh must then stay open). */
	int (*host_connect)(struct host *h, struct err *err, unsigned int flags);
	int (*host_probe)(struct host *h, struct err *err, unsigned int flags);
	int (*host_disconnect)(struct host *h, unsigned int flags);

	/* --- the VMs (required) ---
	 * start: on failure returns -1 and writes the reason into err: a
	 * failure here is an infrastructure error, never the kernel's. */
	int (*start)(struct vm *vm, const struct vm_spec *spec, struct err *err,
		     unsigned int flags);
	/* Ends the VM now; safe to call more than once. With BACKEND_STOP_DONE
	 * the guest's work is over (its last result is in): a backend whose
	 * VM ends by itself may give it a while to, up to the scheduler's
	 * abandon limit (30 s), rather than kill it. */
	int (*stop)(struct vm *vm, unsigned int flags);
	/* Collects how it ended once exit_fd is readable (or, with
	 * BACKEND_WAIT_BLOCK, waits). Returns 0 when it has ended. */
	int (*wait)(struct vm *vm, struct vm_exit *ex, unsigned int flags);
	/* Frees everything; ends the VM first if it still runs. */
	void (*release)(struct vm *vm);
	/* Optional, for a service that queues VMs (LAVA): 1 while the VM still
	 * waits for a machine, its boot and time limits not yet running; 0 once
	 * it runs, *since then saying when it began (now_mono's clock). A VM
	 * stopped while queued ends with vm_exit.not_started. */
	int (*queued)(struct vm *vm, double *since, unsigned int flags);
};

/* backend.flags */
#define BACKEND_HOSTS 1u	/* its VMs run on hosts of the inventory (vm_spec.host) */
#define BACKEND_KVM 2u		/* it can boot with KVM (else TCG only) */
/* operation flags */
#define BACKEND_WAIT_BLOCK 1u
#define BACKEND_STOP_DONE 2u

extern const struct backend backend_qemu;
extern const struct backend backend_libvirt;
extern const struct backend backend_lava;

/* The optional entries, NULL checked here and only here: -1 with "the NAME
 * backend cannot ..." in err when be lacks the entry (host_disconnect: 0,
 * nothing to close). */
int backend_connect(const struct backend *be, const char *url, const char *secret_file,
		    char **arches, struct err *err);
int backend_host_connect(const struct backend *be, struct host *h, struct err *err);
int backend_host_probe(const struct backend *be, struct host *h, struct err *err);
int backend_host_disconnect(const struct backend *be, struct host *h);
/* be->queued, or 0 (running since start) when be has none. */
int backend_vm_queued(const struct backend *be, struct vm *vm, double *since);

/* First line of "BINARY --version" (run without a shell, remembered). */
char *qemu_binary_version(const char *binary);

/* The release tail every backend shares, once its own state is gone: closes
 * the console and diagnostics fds, frees the record strings, resets vm. */
void vm_clear(struct vm *vm);

/* The compiled-in backends (backends.c, the one table a new backend is
 * added to): lookup by name; the first one whose VMs run on the
 * inventory's hosts (what --hosts means); NULL-terminated list. */
const struct backend *backend_find(const char *name);
const struct backend *backend_for_hosts(void);
extern const struct backend *const backends[];

#endif
