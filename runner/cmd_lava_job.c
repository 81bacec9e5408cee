/* kfarm lava-job: the LAVA job definition kfarm would submit for one arch and
 * candidate, for lavacli users and for LAVA job templates kept in git. */
#include "cache.h"
#include "cmds.h"
#include "job.h"
#include "lava_job.h"
#include "profile.h"
#include "util.h"

#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char lava_job_usage[] =
	"usage: kfarm lava-job --arch ARCH [options]\n"
	"\n"
	"Prints the LAVA job definition (YAML, device type qemu) that 'kfarm run\n"
	"--backend lava' submits for one boot. Kernel and initramfs are file:// URLs:\n"
	"the LAVA workers must see these paths.\n"
	"\n"
	"  -a, --arch ARCH          the arch profile (required)\n"
	"  -k, --kernel PATH        the candidate kernel (default: ARCH's newest default kernel)\n"
	"      --initramfs PATH     the initramfs (default: kfarm's for ARCH)\n"
	"  -t, --tests T1,T2,...    the test selection (default: the initramfs's suite)\n"
	"      --append ARGS        extra kernel command-line arguments\n"
	"  -h, --help               this text\n";

/* The newest built default kernel of arch, or NULL (printed why). */
static char *default_kernel(const char *arch)
{
	struct default_kernel *d;
	struct err e;
	size_t n;
	char *img = NULL;

	if (cache_defaults(&d, &n, &e)) {
		error("%s", e.msg);
		return NULL;
	}
	if (e.msg[0])	/* a malformed file, skipped */
		error("%s", e.msg);
	for (size_t i = 0; i < n; i++)
		if (!strcmp(d[i].arch, arch) && !strcmp(d[i].status, "built") && d[i].image) {
			free(img);
			img = xstrdup(d[i].image);
		}
	cache_defaults_free(d, n);
	free(d);
	if (!img)
		error("no built default kernel for %s (run 'make images' or give --kernel)", arch);
	return img;
}

static char *abs_path(const char *p)
{
	char buf[PATH_MAX];

	return realpath(p, buf) ? xstrdup(buf) : NULL;
}

static char **comma_list(const char *s)
{
	char **v = xcalloc(1, sizeof(char *));
	size_t n = 0;

	for (const char *p = s; *p;) {
		size_t len = strcspn(p, ",");

		if (len) {
			v = xrealloc(v, (n + 2) * sizeof(char *));
			v[n++] = xstrndup(p, len);
			v[n] = NULL;
		}
		p += len + (p[len] == ',');
	}
	return v;
}

static int print_definition(const char *arch, const char *kernel, const char *initrd,
			    char **tests, const char *append)
{
	struct profile p;
	struct err err;
	char *k = NULL, *i = NULL, *cmdline, *def, *name;
	int ret = 2;

	if (profile_load(arch, &p, &err))
		return error("%s", err.msg), 2;
	if (profile_check_image(&p, kernel, &err)) {
		error("%s", err.msg);
		goto out;
	}
	k = abs_path(kernel);
	i = abs_path(initrd);
	if (!k || !i) {
		error_errno("cannot resolve '%s'", !k ? kernel : initrd);
		goto out;
	}
	cmdline = job_cmdline(&p, tests, append);
	struct vm_spec spec = { .profile = &p, .kernel = k, .initrd = i, .append = cmdline };
	name = xasprintf("kfarm %s", arch);
	def = lava_job_definition(&spec, name, &err);
	if (def) {
		fputs(def, stdout);
		ret = 0;
	} else {
		error("%s", err.msg);
	}
	free(def);
	free(name);
	free(cmdline);
out:
	free(k);
	free(i);
	profile_release(&p);
	return ret;
}

int cmd_lava_job(struct cmd_ctx *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "arch", required_argument, NULL, 'a' },
		{ "kernel", required_argument, NULL, 'k' },
		{ "initramfs", required_argument, NULL, 'I' },
		{ "tests", required_argument, NULL, 't' },
		{ "append", required_argument, NULL, 'A' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *arch = NULL, *kernel = NULL, *initrd = NULL, *append = NULL, **tests = NULL;
	char **suite = NULL;
	struct err e;
	int opt, ret = 2;

	(void)c;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "a:k:t:h", opts, NULL)) != -1) {
		char **dst = opt == 'a' ? &arch : opt == 'k' ? &kernel : opt == 'I' ? &initrd
			   : opt == 'A' ? &append : NULL;

		if (dst) {
			free(*dst);
			*dst = xstrdup(optarg);
		} else if (opt == 't') {
			strv_free(tests);
			tests = comma_list(optarg);
		} else if (opt == 'h') {
			fputs(lava_job_usage, stdout);
			ret = 0;
			goto out;
		} else {
			fputs(lava_job_usage, stderr);
			goto out;
		}
	}
	if (optind < argc) {
		error("unexpected argument '%s' (see kfarm lava-job --help)", argv[optind]);
		goto out;
	}
	if (!arch) {
		error("--arch is required (see kfarm lava-job --help)");
		goto out;
	}
	if (!kernel && !(kernel = default_kernel(arch)))
		goto out;
	if (!initrd && cache_initramfs(arch, &initrd, &suite, &e)) {
		error("%s", e.msg);
		goto out;
	}
	if (access(initrd, R_OK) < 0) {
		error_errno("cannot read initramfs '%s'", initrd);
		goto out;
	}
	ret = print_definition(arch, kernel, initrd, tests, append);
out:
	free(arch);
	free(kernel);
	free(initrd);
	free(append);
	strv_free(tests);
	strv_free(suite);
	return ret;
}
