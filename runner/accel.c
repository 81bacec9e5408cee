#include "accel.h"
#include "backend.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/utsname.h>
#include <sys/wait.h>
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

/* Boots kernel (no initramfs) under -accel kvm until its banner appears. */
static int probe_boot(const struct profile *p, const char *kernel, double timeout_s,
		      struct err *e)
{
	char append[64], win[8192];
	size_t have = 0;
	int fds[2], found = 0, status;
	double end = now_mono() + timeout_s;
	pid_t parent = getpid(), pid;

	snprintf(append, sizeof(append), "console=%s panic=-1", p->console);
	if (pipe2(fds, O_CLOEXEC) < 0) {
		err_set(e, 0, "KVM probe: pipe: %s", strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		const char *argv[] = {
			p->qemu_binary, "-M", p->machine, "-accel", "kvm", "-m", "256",
			"-display", "none", "-monitor", "none", "-serial", "stdio",
			"-no-reboot", "-kernel", kernel, "-append", append, NULL,
		};

		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		dup2(null, 0);
		dup2(fds[1], 1);
		dup2(null, 2);
		execvp(argv[0], (char **)argv);
		_exit(127);
	}
	close(fds[1]);
	if (pid < 0) {
		close(fds[0]);
		err_set(e, 0, "KVM probe: fork: %s", strerror(errno));
		return -1;
	}
	setpgid(pid, pid);
	while (!found) {
		struct pollfd pfd = { .fd = fds[0], .events = POLLIN };
		double left = end - now_mono();
		ssize_t n;

		if (left <= 0 || poll(&pfd, 1, (int)(left * 1000) + 1) <= 0)
			break;
		if (have == sizeof(win) - 1) {	/* keep the tail: a banner may straddle */
			memmove(win, win + have / 2, have - have / 2);
			have -= have / 2;
		}
		n = read(fds[0], win + have, sizeof(win) - 1 - have);
		if (n <= 0)
			break;
		have += n;
		win[have] = '\0';
		found = memmem(win, have, "Linux version", 13) != NULL;
	}
	close(fds[0]);
	kill(-pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	/* kvm_pvm is KVM without VT-x/AMD-V (a nested cloud VM's): a stock
	 * kernel was seen still in its decompressor after 150 s there */
	if (!found)
		err_set(e, 0, "/dev/kvm opens, but %s under -accel kvm printed no kernel "
			 "banner in %.0fs (KVM probe)%s", p->qemu_binary, timeout_s,
			 access("/sys/module/kvm_pvm", F_OK) ? "" :
			 "; the host's KVM is kvm_pvm (no VT-x/AMD-V)");
	return found ? 0 : -1;
}

int accel_probe_kvm(const struct profile *p, const char *kernel, double timeout_s,
		    struct err *e)
{
	char boot_id[64] = "", *ver = NULL, *path, *want, *buf = NULL;
	size_t blen;
	int ok;

	if (read_file("/proc/sys/kernel/random/boot_id", 63, &buf, &blen) == 0) {
		snprintf(boot_id, sizeof(boot_id), "%.*s", (int)strcspn(buf, "\n"), buf);
		free(buf);
	}
	ver = qemu_binary_version(p->qemu_binary);
	want = xasprintf("kfarm-kvm-probe 1 boot %s qemu %s\n", boot_id, ver);
	free(ver);
	path = xasprintf("%s/kvm-probe-%s", cache_dir(), p->arch);
	/* the record: the key line, then "ok" or the reason */
	if (*boot_id && read_file(path, 4096, &buf, &blen) == 0) {
		size_t kl = strlen(want);
		int hit = blen > kl && !memcmp(buf, want, kl);

		if (hit) {
			const char *res = buf + kl;

			ok = !strncmp(res, "ok\n", 3);
			if (!ok)
				err_set(e, 0, "%.*s (cached)", (int)strcspn(res, "\n"), res);
			free(buf);
			free(want);
			free(path);
			return ok ? 0 : -1;
		}
		free(buf);
	}
	ok = probe_boot(p, kernel, timeout_s, e) == 0;
	if (*boot_id && mkdir_p(cache_dir(), 0755) == 0) {
		char *tmp = xasprintf("%s.%d", path, (int)getpid());
		FILE *f = fopen(tmp, "w");

		if (f) {
			fprintf(f, "%s%s\n", want, ok ? "ok" : e->msg);
			if (fclose(f) == 0)
				rename(tmp, path);
		}
		unlink(tmp);
		free(tmp);
	}
	free(want);
	free(path);
	return ok ? 0 : -1;
}
