/* kfarm: multi-architecture kernel regression test farm runner. */
#include "cmds.h"
#include "source.h"
#include "util.h"

#include <stdio.h>
#include <string.h>

#ifndef KFARM_VERSION
#define KFARM_VERSION "0.1"
#endif

/* flags: the store the command needs (cmds.h), opened through its context */
static const struct cmd {
	const char *name;
	int (*fn)(struct cmd_ctx *c, int argc, char **argv);
	unsigned int flags;
	const char *help;
} cmds[] = {
	{ "run", cmd_run, CMD_STORE_RW, "boot candidate kernels and record their results" },
	{ "build", cmd_build, CMD_STORE_RW, "build source candidates and record the builds" },
	{ "status", cmd_status, CMD_STORE_RO, "latest outcome per arch and test" },
	{ "history", cmd_history, CMD_STORE_RO, "past results of a test or arch" },
	{ "show", cmd_show, CMD_STORE_RO, "one job's results and console log" },
	{ "regressions", cmd_regressions, CMD_STORE_RO,
	  "changes between each tree's last two candidates" },
	{ "bisect", cmd_bisect, CMD_STORE_RW, "find the commit that broke a test, build or boot" },
	{ "report", cmd_report, CMD_STORE_RO,
	  "a run's results as a review reply: text, Markdown or email" },
	{ "export", cmd_export, CMD_STORE_RO, "a run as JUnit XML or KCIDB v5 JSON" },
	{ "serve", cmd_serve, CMD_STORE_RO, "serve the JSON API and dashboard over HTTP" },
	{ "hosts", cmd_hosts, 0, "probe the remote hosts: arches, free slots, problems" },
	{ "lava-job", cmd_lava_job, 0, "the LAVA job definition kfarm would submit" },
};

static int dispatch(const struct cmd *cmd, int argc, char **argv)
{
	struct cmd_ctx c = { .flags = cmd->flags };
	int ret = cmd->fn(&c, argc, argv);

	cmd_ctx_close(&c);
	return ret;
}

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
	source_git_env_clear();
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
			return dispatch(&cmds[i], argc - 1, argv + 1);
	error("unknown command '%s' (see kfarm --help)", argv[1]);
	return 2;
}
