/* How a job's VM is started and ended. The scheduler only sees this table
 * (libvirt's driver pattern): a backend fills it with designated
 * initialisers, and a NULL entry means "not supported". Every operation
 * takes flags so the table never has to grow twins. */
#ifndef KFARM_BACKEND_H
#define KFARM_BACKEND_H

#include <sys/types.h>

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

struct backend {
	const char *name;
	/* Starts the VM. On failure returns -1 and writes the reason into err:
	 * a failure here is an infrastructure error, never the kernel's. */
	int (*start)(struct vm *vm, const struct vm_spec *spec, char *err, size_t errlen,
		     unsigned int flags);
	/* Ends the VM now; safe to call more than once. */
	int (*stop)(struct vm *vm, unsigned int flags);
	/* Collects how it ended once exit_fd is readable (or, with
	 * BACKEND_WAIT_BLOCK, waits). Returns 0 when it has ended. */
	int (*wait)(struct vm *vm, struct vm_exit *ex, unsigned int flags);
	/* Frees everything; ends the VM first if it still runs. */
	void (*release)(struct vm *vm);
	/* Optional, once before any job starts: reaches the service that runs
	 * the VMs (url; secret_file holds its credential, or NULL) and checks it
	 * can run every arch in the NULL-terminated arches. Returns how many VMs
	 * it can run at once (> 0); -1 when the caller's input is wrong (URL,
	 * credential); -2 when the service is unreachable or unfit. The reason
	 * is in err. */
	int (*connect)(const char *url, const char *secret_file, char **arches, char *err,
		       size_t errlen, unsigned int flags);
};

#define BACKEND_WAIT_BLOCK 1u

extern const struct backend backend_qemu;
extern const struct backend backend_libvirt;
extern const struct backend backend_lava;

/* First line of "BINARY --version" (run without a shell, remembered). */
char *qemu_binary_version(const char *binary);

/* The release tail every backend shares, once its own state is gone: closes
 * the console and diagnostics fds, frees the record strings, resets vm. */
void vm_clear(struct vm *vm);

/* NULL-terminated list of compiled-in backends; lookup by name. */
const struct backend *backend_find(const char *name);

#endif
