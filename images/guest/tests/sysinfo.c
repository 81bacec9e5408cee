/*
 * sysinfo: what machine and kernel the suite ran on, as "# " diagnostics.
 * Always passes; it exists so every run records uname, the preemption
 * model, CPUs and memory next to its results.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "../kt.h"

static const char *preempt_model(const char *version)
{
	if (strstr(version, "PREEMPT_RT"))
		return "PREEMPT_RT (full realtime)";
	if (strstr(version, "PREEMPT_DYNAMIC"))
		return "PREEMPT_DYNAMIC (chosen at boot, see preempt=)";
	if (strstr(version, "PREEMPT "))
		return "PREEMPT (full)";
	if (strstr(version, "PREEMPT"))
		return "PREEMPT";
	return "none/voluntary (no PREEMPT in uname -v)";
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

	if (uname(&u) == 0) {
		kt_diag("uname -a: %s %s %s %s %s", u.sysname, u.nodename,
			u.release, u.version, u.machine);
		kt_diag("preemption: %s", preempt_model(u.version));
	}
	kt_diag("cpus: online %ld configured %ld", sysconf(_SC_NPROCESSORS_ONLN),
		sysconf(_SC_NPROCESSORS_CONF));
	if (kt_read_file("/sys/devices/system/cpu/online", buf, sizeof(buf)) > 0)
		kt_diag("cpu online mask: %s", strtok(buf, "\n"));
	if (sysinfo(&si) == 0)
		kt_diag("sysinfo: totalram %llu MiB freeram %llu MiB procs %u uptime %lds",
			(unsigned long long)si.totalram * si.mem_unit >> 20,
			(unsigned long long)si.freeram * si.mem_unit >> 20,
			si.procs, si.uptime);
	meminfo();
	kt_diag("page size: %ld", sysconf(_SC_PAGESIZE));
	if (kt_read_file("/proc/cmdline", buf, sizeof(buf)) > 0)
		kt_diag("cmdline: %s", strtok(buf, "\n") ? buf : "");
	kt_pass("collected");
}

KT_TEST(.name = "sysinfo", .run = run, .timeout = 10, .order = -10,
	.desc = "diagnostics: uname, preemption model, CPUs, memory");
