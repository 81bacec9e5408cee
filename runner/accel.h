/* Which accelerator a job's QEMU uses: KVM when the guest arch is the host's
 * and /dev/kvm opens read-write, else TCG; the reason is kept for the job's
 * record. Checked at run time, never assumed. */
#ifndef KFARM_ACCEL_H
#define KFARM_ACCEL_H

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

#endif
