/* kfarm build: builds source candidates for the selected arches with
 * kfarm's recipe and records every build as a result, without booting. */
#include "cmds.h"
#include "srcset.h"
#include "store.h"
#include "util.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char build_usage[] =
	"usage: kfarm build --source SPEC [options]\n"
	"\n"
	"Builds each source candidate for each arch (tinyconfig + arches/common.config +\n"
	"arches/ARCH.config, every option verified) and records the builds.\n"
	"\n"
	"  -s, --source SPEC        git REPO[@REV], a kernel source directory, or a\n"
	"                           .tar.xz/.tar.gz/.tar tarball (repeatable)\n"
	"  -p, --patches PATH       apply a quilt series dir or a git format-patch mbox\n"
	"  -c, --config CONFIG      defconfig (the arch's + kfarm's required options), FILE\n"
	"                           (a .config as the base, + kfarm's required options) or\n"
	"                           +FRAGMENT (kfarm's recipe + FRAGMENT); every option the\n"
	"                           fragments set is verified (default: kfarm's recipe)\n"
	"  -a, --arch ARCH[,...]    only these arches (default: every profile)\n"
	"      --tree NAME          the candidates' series (default: repo-branch, debian-VER)\n"
	"      --label NAME         the candidate's name (default: commit or tarball name)\n"
	"      --db PATH            history database (default $XDG_DATA_HOME/kfarm/kfarm.db)\n"
	"  -h, --help               this text\n"
	"\n"
	"Exit status: 0 every build passed; 1 a build (or a patch) failed; 2 bad usage\n"
	"or input; 3 an infrastructure error (e.g. a missing cross compiler); 130\n"
	"interrupted (SIGINT/SIGTERM: the build stopped, recorded as ERROR).\n";

static char **push(char **v, size_t *n, const char *s)
{
	v = xrealloc(v, (*n + 2) * sizeof(char *));
	v[(*n)++] = xstrdup(s);
	v[*n] = NULL;
	return v;
}

static char **split(const char *s)
{
	char **v = xcalloc(1, sizeof(char *));
	size_t n = 0;

	while (*s) {
		size_t len = strcspn(s, ",");
		char *one = xstrndup(s, len);

		if (len)
			v = push(v, &n, one);
		free(one);
		s += len + (s[len] == ',');
	}
	return v;
}

int cmd_build(struct cmd_ctx *cx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "source", required_argument, NULL, 's' },
		{ "patches", required_argument, NULL, 'p' },
		{ "config", required_argument, NULL, 'c' },
		{ "arch", required_argument, NULL, 'a' },
		{ "tree", required_argument, NULL, 'r' },
		{ "label", required_argument, NULL, 'l' },
		{ "db", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char **specs = NULL, **arches = NULL, *patches = NULL, *tree = NULL, *label = NULL;
	char *db = NULL;
	size_t ns = 0;
	struct srcset ss = { 0 };
	struct store *st = NULL;
	int opt, ret = 2;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "s:p:c:a:d:h", opts, NULL)) != -1) {
		switch (opt) {
		case 's': specs = push(specs, &ns, optarg); break;
		case 'p': free(patches), patches = xstrdup(optarg); break;
		case 'c': ss.config = optarg; break;
		case 'a': strv_free(arches), arches = split(optarg); break;
		case 'r': free(tree), tree = xstrdup(optarg); break;
		case 'l': free(label), label = xstrdup(optarg); break;
		case 'd': free(db), db = xstrdup(optarg); break;
		case 'h': fputs(build_usage, stdout); ret = 0; goto out;
		default: fputs(build_usage, stderr); goto out;
		}
	}
	if (optind < argc || !ns) {
		error(ns ? "unexpected argument '%s'" : "%s: no --source (see kfarm build --help)",
		      ns ? argv[optind] : "build");
		goto out;
	}
	if (srcset_resolve(&ss, specs, patches, arches, tree, label) || srcset_build(&ss))
		goto out;
	cx->db = db;
	struct err e;
	if (!(st = cmd_store(cx)) || (store_mark_stale_runs(st, &e) && error("%s", e.msg))) {
		ret = 3;
		goto out;
	}
	int64_t run = store_run_begin(st, "kfarm build", &e);
	if (run < 0)
		error("%s", e.msg);
	if (run < 0 || srcset_record(&ss, st, run, cmd_db_path(cx), 0, NULL)) {
		if (run >= 0 && store_run_end(st, run, RUN_FAILED, &e))
			error("%s", e.msg);
		ret = 3;
		goto out;
	}
	if (store_run_end(st, run, ss.interrupted ? RUN_INTERRUPTED : RUN_COMPLETE, &e))
		error("%s", e.msg);
	printf("build run %lld\n", (long long)run);
	ret = srcset_report(&ss, stdout);
	if (ss.unprepared) {
		error("%zu source tree(s) could not be prepared (see above)", ss.unprepared);
		ret = 2;
	}
	if (ss.interrupted) {
		error("interrupted (signal %d); run %lld marked as such", ss.interrupted,
		      (long long)run);
		ret = 130;
	}
out:
	srcset_release(&ss);
	strv_free(specs);
	strv_free(arches);
	free(patches), free(tree), free(label), free(db);
	return ret;
}
