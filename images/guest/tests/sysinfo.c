/*
 * sysinfo: what machine and kernel the suite ran on. Reports, never judges:
 * the facts a dashboard compares per candidate are subtests that pass with
 * the fact as their note ("ok 2 preemption # PREEMPT_LAZY (uname -v)"):
 * CPUs online, the preemption model (7.0 makes lazy preemption the
 * default) and whether io_uring is enabled (kernel.io_uring_disabled, 6.6+).
 * The rest (uname, memory, command line) are "# " diagnostics.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "../kt.h"

#ifndef __NR_io_uring_setup
#ifdef __alpha__
#define __NR_io_uring_setup 535
#else
#define __NR_io_uring_setup 425
#endif
#endif

/* the build's model, as scripts/mkcompile_h writes it into uname -v */
static const char *preempt_built(const char *version)
{
	static const char *const words[] = {
		"PREEMPT_RT", "PREEMPT_LAZY", "PREEMPT_DYNAMIC",
	};
	const char *p;

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strstr(version, words[i]))
			return words[i];
	/* plain "PREEMPT" as a whole word */
	for (p = strstr(version, "PREEMPT"); p; p = strstr(p + 1, "PREEMPT"))
		if ((p == version || p[-1] == ' ') && (p[7] == ' ' || !p[7]))
			return "PREEMPT";
	return "none/voluntary (no PREEMPT in uname -v)";
}

/* the running model, "(lazy)" in "none voluntary full (lazy)", where debugfs
 * is mounted and shows it (never mounted here: on the host that would
 * change the host) */
static int preempt_running(char *out, size_t len)
{
	static const char path[] = "/sys/kernel/debug/sched/preempt";
	char buf[256], *open_p, *close_p;

	if (kt_read_file(path, buf, sizeof(buf)) <= 0)
		return -1;
	open_p = strchr(buf, '(');
	close_p = open_p ? strchr(open_p, ')') : NULL;
	if (!close_p)
		return -1;
	snprintf(out, len, "%.*s", (int)(close_p - open_p - 1), open_p + 1);
	return 0;
}

static void preemption(const char *version)
{
	char running[64];

	if (preempt_running(running, sizeof(running)) == 0)
		kt_pass_note("preemption", "%s (running, /sys/kernel/debug/sched/preempt; "
			     "built %s)", running, preempt_built(version));
	else
		kt_pass_note("preemption", "%s (uname -v)", preempt_built(version));
}

static void io_uring(void)
{
	static const char *const meaning[] = {
		"enabled", "restricted to io_uring_group", "disabled",
	};
	char buf[32];
	long v = -1, r;
	int e;

	if (kt_read_file("/proc/sys/kernel/io_uring_disabled", buf, sizeof(buf)) > 0 &&
	    sscanf(buf, "%ld", &v) == 1) {
		kt_pass_note("io_uring", "%s (kernel.io_uring_disabled = %ld)",
			     v >= 0 && v <= 2 ? meaning[v] : "unknown setting", v);
		return;
	}
	/* no sysctl (before 6.6, or no CONFIG_IO_URING): ask the syscall */
	errno = 0;
	r = syscall(__NR_io_uring_setup, 0, NULL);
	e = errno;
	if (r == -1 && e == ENOSYS)
		kt_pass_note("io_uring", "not built (io_uring_setup: ENOSYS; "
			     "/proc/sys/kernel/io_uring_disabled absent)");
	else
		kt_pass_note("io_uring", "enabled (io_uring_setup(0, NULL): %s; "
			     "/proc/sys/kernel/io_uring_disabled absent)",
			     r == -1 ? kt_errname(e) : "succeeded");
}

/* print the meminfo lines we care about */
static void meminfo(void)
{
	static const char *keys[] = { "MemTotal:", "MemFree:", "MemAvailable:",
				      "Shmem:", NULL };
	char buf[8192];

	if (kt_read_file("/proc/meminfo", buf, sizeof(buf)) < 0) {
		kt_diag("meminfo: /proc/meminfo unreadable");
		return;
	}
	for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
		for (int i = 0; keys[i]; i++)
			if (!strncmp(line, keys[i], strlen(keys[i])))
				kt_diag("meminfo: %s", line);
}

static void run(void)
{
	struct utsname u;
	struct sysinfo si;
	char buf[4096];

	if (uname(&u) == 0)
		kt_diag("uname -a: %s %s %s %s %s", u.sysname, u.nodename,
			u.release, u.version, u.machine);
	else
		snprintf(u.version, sizeof(u.version), "?");
	kt_pass_note("cpus", "online %ld configured %ld", sysconf(_SC_NPROCESSORS_ONLN),
		     sysconf(_SC_NPROCESSORS_CONF));
	if (kt_read_file("/sys/devices/system/cpu/online", buf, sizeof(buf)) > 0)
		kt_diag("cpu online mask: %s", strtok(buf, "\n"));
	preemption(u.version);
	io_uring();
	if (sysinfo(&si) == 0)
		kt_diag("sysinfo: totalram %llu MiB freeram %llu MiB procs %u uptime %lds",
			(unsigned long long)si.totalram * si.mem_unit >> 20,
			(unsigned long long)si.freeram * si.mem_unit >> 20,
			si.procs, si.uptime);
	meminfo();
	kt_diag("page size: %ld", sysconf(_SC_PAGESIZE));
	if (kt_read_file("/proc/cmdline", buf, sizeof(buf)) > 0)
		kt_diag("cmdline: %s", strtok(buf, "\n") ? buf : "");
}

KT_TEST(.name = "sysinfo", .run = run, .timeout = 10, .order = -10,
	.desc = "facts: CPUs, preemption model, io_uring enablement; uname, memory");
