#include "accel.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

/* kfarm's arch names against uname -m's */
static const char *uname_name(const char *arch)
{
	if (!strcmp(arch, "arm64"))
		return "aarch64";
	return arch;
}

int accel_decide(const char *arch, enum accel_req req, const char *host_machine,
		 const char *kvm_path, char accel[8], char *reason, size_t len)
{
	int fd;

	snprintf(accel, 8, "tcg");
	if (req == ACCEL_TCG) {
		snprintf(reason, len, "--accel tcg");
		return 0;
	}
	if (strcmp(uname_name(arch), host_machine)) {
		snprintf(reason, len, "guest arch %s != host %s", arch, host_machine);
		return req == ACCEL_KVM ? -1 : 0;
	}
	fd = open(kvm_path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		snprintf(reason, len, "%s: %s", kvm_path, strerror(errno));
		return req == ACCEL_KVM ? -1 : 0;
	}
	close(fd);
	snprintf(accel, 8, "kvm");
	snprintf(reason, len, "guest arch %s = host %s, %s opens read-write%s", arch,
		 host_machine, kvm_path, req == ACCEL_KVM ? " (--accel kvm)" : "");
	return 0;
}

int accel_choose(const char *arch, enum accel_req req, char accel[8], char *reason,
		 size_t len)
{
	struct utsname u;

	if (uname(&u) < 0)
		snprintf(u.machine, sizeof(u.machine), "unknown");
	return accel_decide(arch, req, u.machine, "/dev/kvm", accel, reason, len);
}
