/* kfarm: multi-architecture kernel regression test farm runner. */
#include "cmds.h"
#include "util.h"

#include <stdio.h>
#include <string.h>

#ifndef KFARM_VERSION
#define KFARM_VERSION "0.1"
#endif

static const struct cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
} cmds[] = {
	{ "run", cmd_run, "boot candidate kernels and record their results" },
	{ "status", cmd_status, "latest outcome per arch and test" },
	{ "history", cmd_history, "past results of a test or arch" },
	{ "show", cmd_show, "one job's results and console log" },
	{ "regressions", cmd_regressions, "changes between each tree's last two candidates" },
	{ "export", cmd_export, "a run as JUnit XML or KCIDB v5 JSON" },
	{ "serve", cmd_serve, "serve the JSON API and dashboard over HTTP" },
	{ "hosts", cmd_hosts, "probe the remote hosts: arches, free slots, problems" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: kfarm COMMAND [options]\n\ncommands:\n");
	for (size_t i = 0; i < ARRAY_SIZE(cmds); i++)
		fprintf(f, "  %-9s %s\n", cmds[i].name, cmds[i].help);
	fprintf(f, "\n'kfarm COMMAND --help' describes each command's options.\n"
		   "Environment: KFARM_CACHE (images cache), KFARM_DATA (database dir),\n"
		   "KFARM_ARCHES (arch profiles dir).\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("kfarm %s\n", KFARM_VERSION);
		return 0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(cmds); i++)
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].fn(argc - 1, argv + 1);
	error("unknown command '%s' (see kfarm --help)", argv[1]);
	return 2;
}
