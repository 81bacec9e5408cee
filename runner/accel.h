/* Which accelerator a job's QEMU uses: KVM when the guest arch is the host's
 * and /dev/kvm opens read-write, else TCG; the reason is kept for the job's
 * record. Checked at run time, never assumed. */
#ifndef KFARM_ACCEL_H
#define KFARM_ACCEL_H

#include "err.h"
#include "profile.h"

#include <stddef.h>

/* Decides for guest `arch` on a host whose `uname -m` is host_machine, with
 * the KVM device at kvm_path. Writes "kvm" or "tcg" into accel and the why
 * into reason. Returns -1 (reason says why) only when req is ACCEL_KVM and
 * KVM cannot be used. */
int accel_decide(const char *arch, enum accel_req req, const char *host_machine,
		 const char *kvm_path, char accel[8], char *reason, size_t len);
/* Same for this machine (uname, /dev/kvm). */
int accel_choose(const char *arch, enum accel_req req, char accel[8], char *reason,
		 size_t len);
/* An open /dev/kvm is not proof that KVM runs a kernel (seen: a nested host
 * where firmware runs under -accel kvm but Linux never prints). So KVM is
 * used only once `kernel` printed its banner under -accel kvm within
 * timeout_s; the answer is remembered for this host boot and QEMU version
 * in $KFARM_CACHE/kvm-probe-ARCH. Returns 0 if it did, else -1 with e. */
int accel_probe_kvm(const struct profile *p, const char *kernel, double timeout_s,
		    struct err *e);

#endif
