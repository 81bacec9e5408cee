/* kfarm run: option handling, then the run's stages in order (docs/design.md
 * has the map): plan (run_plan.h) -> build (run_build.h, --source only) ->
 * hosts (run_hosts.h) -> drive (run_drive.h) -> report (run_report.h).
 * --source candidates are resolved before anything starts; their builds run
 * inside drive's loop (drive_feed), so each arch boots as soon as its kernel
 * is built; with --kselftest they all come first. */
#include "backend.h"
#include "cmds.h"
#include "hosts.h"
#include "run_build.h"
#include "run_drive.h"
#include "run_hosts.h"
#include "run_plan.h"
#include "run_report.h"
#include "sched.h"
#include "store.h"
#include "util.h"

#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char run_usage[] =
	"usage: kfarm run [options]\n"
	"\n"
	"Boots every candidate kernel with kfarm's initramfs and records the results.\n"
	"With no --kernel, runs the default matrix (every arch x default kernel built\n"
	"by 'make images').\n"
	"\n"
	"  -k, --kernel ARCH=PATH[:LABEL]  a candidate kernel (repeatable)\n"
	"  -s, --source SPEC               build and boot a source candidate: git REPO[@REV],\n"
	"                                  a source directory or a tarball (repeatable; see\n"
	"                                  kfarm build --help); arches that fail to build\n"
	"                                  have their tests MISSING \"not built\"\n"
	"      --patches PATH              a quilt series dir or mbox on top of each --source\n"
	"      --config CONFIG             --source's config: defconfig, FILE or +FRAGMENT\n"
	"      --label NAME                the --source candidate's name\n"
	"      --kselftest T1,T2,...       also build these tools/testing/selftests targets of\n"
	"                                  each --source and run them as kselftest:T (their\n"
	"                                  config files merged into the kernel's)\n"
	"      --build-jobs N              --source: kernels built at once (default 1); each\n"
	"                                  arch boots as soon as its kernel is built, while\n"
	"                                  the others build (not with --kselftest)\n"
	"      --make-jobs N               --source: make -jN per build (default: number of\n"
	"                                  CPUs; builds run niced by 10, so booting VMs keep\n"
	"                                  their CPUs)\n"
	"  -a, --arch ARCH[,ARCH...]       only these arches\n"
	"      --kernels VER[,VER...]      only the default kernels of these versions (6.1, 6.12)\n"
	"  -t, --tests T1,T2,...           run these tests (default: the initramfs's suite;\n"
	"                                  user:NAME, kselftest:TARGET name packed programs)\n"
	"      --suite smoke               the default suite (the only one for now)\n"
	"      --initramfs ARCH=PATH       use this initramfs for ARCH\n"
	"      --append ARGS               extra kernel command-line arguments\n"
	"      --smp [ARCH=]N              vCPUs (default 1; at most the profile's max_smp)\n"
	"      --variant [ARCH=]NAME       a machine variant from the arch's profile\n"
	"      --accel auto|kvm|tcg        auto (default): KVM when the guest arch is the\n"
	"                                  host's and /dev/kvm opens, else TCG\n"
	"  -j, --jobs N                    parallel VMs (default: number of CPUs)\n"
	"      --timeout SECS              total time limit per job (default 600)\n"
	"      --boot-timeout SECS         limit until /init reports (default 120)\n"
	"      --silence-timeout SECS      limit on console silence (default 120)\n"
	"      --queue-timeout SECS        limit on waiting for a lab's device (LAVA), not\n"
	"                                  counted in the three above (default 3600)\n"
	"      --retries N                 retries after an infrastructure error (default 1)\n"
	"      --tree NAME                 the candidates' series (default: debian-VERSION for\n"
	"                                  default kernels, linux-X.Y from the guest's release)\n"
	"      --confirm N                 re-runs of a job whose results regressed (default 2)\n"
	"      --db PATH                   history database (default $XDG_DATA_HOME/kfarm/kfarm.db)\n"
	"      --backend qemu|libvirt|lava how VMs are run (default qemu: QEMU children here)\n"
	"      --libvirt-uri URI           libvirt connection for --backend libvirt (default\n"
	"                                  $LIBVIRT_DEFAULT_URI or qemu:///session)\n"
	"      --hosts FILE                spread the jobs over these hosts (libvirt + SSH;\n"
	"                                  see 'kfarm hosts' and docs/hosts.example.json)\n"
	"      --lava-url URL              LAVA server for --backend lava (its REST API)\n"
	"      --lava-token-file FILE      the LAVA API token (else $KFARM_LAVA_TOKEN; never\n"
	"                                  on the command line)\n"
	"      --json                      print a machine-readable summary on stdout\n"
	"  -h, --help                      this text\n"
	"\n"
	"Exit status: 0 every job completed and no test failed; 1 a kernel or test\n"
	"failure; 2 bad usage or input; 3 an infrastructure error; 130 interrupted.\n";

/* Everything the options give, filled by the table below. */
struct run_opts {
	struct plan_opts plan;
	struct sched_opts so;
	char **kernels;		/* --kernel values: argv's own strings, not copied */
	size_t nkernels;
	char **sources;
	char *patches, *config, *kselftest, *label, *db, *uri, *hosts_file, *lava_url, *lava_tok;
	unsigned long confirm;
	unsigned int build_jobs, make_jobs;
	int json, be_given, help;
};

#define OFF(f) offsetof(struct run_opts, f)
#define AT(o, off, type) ((type *)(void *)((char *)(o) + (off)))

static int set_str(struct run_opts *o, const char *arg, size_t off)
{
	free(*AT(o, off, char *));
	*AT(o, off, char *) = xstrdup(arg);
	return 0;
}

static int add_str(struct run_opts *o, const char *arg, size_t off)
{
	char ***v = AT(o, off, char **);
	size_t n = 0;

	while (*v && (*v)[n])
		n++;
	*v = xrealloc(*v, (n + 2) * sizeof(char *));
	(*v)[n] = xstrdup(arg);
	(*v)[n + 1] = NULL;
	return 0;
}

/* --kernel can be given 10,000 times: kept as argv's pointers, appended in
 * O(1), so the options cost 8 bytes a job */
static int add_kernel(struct run_opts *o, const char *arg, size_t off)
{
	(void)off;
	if (!(o->nkernels & (o->nkernels + 1)))	/* room for n + 1 and the NULL */
		o->kernels = xrealloc(o->kernels, 2 * (o->nkernels + 1) * sizeof(char *));
	o->kernels[o->nkernels++] = (char *)arg;
	o->kernels[o->nkernels] = NULL;
	return 0;
}

static int set_flag(struct run_opts *o, const char *arg, size_t off)
{
	(void)arg;
	*AT(o, off, int) = 1;
	return 0;
}

static int set_arches(struct run_opts *o, const char *arg, size_t off)
{
	(void)off;
	strv_free(o->plan.arches);
	o->plan.arches = split_list(arg);
	return 0;
}

static int set_versions(struct run_opts *o, const char *arg, size_t off)
{
	(void)off;
	strv_free(o->plan.versions);
	o->plan.versions = split_list(arg);
	return 0;
}

static int set_tests(struct run_opts *o, const char *arg, size_t off)
{
	(void)off;
	strv_free(o->plan.tests);
	o->plan.tests = split_list(arg);
	for (char **t = o->plan.tests; *t; t++)
		if (!valid_test_name(*t))
			return error("invalid test name '%s'", *t);
	return 0;
}

static int set_suite(struct run_opts *o, const char *arg, size_t off)
{
	(void)o, (void)off;
	return strcmp(arg, "smoke") ? error("unknown suite '%s' (known: smoke)", arg) : 0;
}

static int set_tree(struct run_opts *o, const char *arg, size_t off)
{
	if (!valid_test_name(arg))
		return error("invalid tree name '%s'", arg);
	return set_str(o, arg, off);
}

static int add_initramfs(struct run_opts *o, const char *arg, size_t off)
{
	const char *eq = strchr(arg, '=');
	struct plan_opts *p = &o->plan;

	(void)off;
	if (!eq || eq == arg || !eq[1])
		return error("--initramfs wants ARCH=PATH, got '%s'", arg);
	p->ovr = xrealloc(p->ovr, (p->novr + 1) * sizeof(*p->ovr));
	p->ovr[p->novr].arch = xstrndup(arg, eq - arg);
	p->ovr[p->novr++].path = xstrdup(eq + 1);
	return 0;
}

static int set_jobs(struct run_opts *o, const char *arg, size_t off)
{
	unsigned long ul;

	(void)off;
	if (parse_uint(arg, 1024, &ul) || !ul)
		return error("--jobs wants a number 1..1024, got '%s'", arg);
	o->so.jobs = ul;
	return 0;
}

static int set_count(struct run_opts *o, const char *arg, size_t off)
{
	unsigned long ul;

	if (parse_uint(arg, 256, &ul) || !ul)
		return error("wants a number 1..256, got '%s'", arg);
	*AT(o, off, unsigned int) = (unsigned int)ul;
	return 0;
}

static int set_seconds(struct run_opts *o, const char *arg, size_t off)
{
	double *dst = AT(o, off, double);

	if (parse_seconds(arg, dst) || *dst <= 0)
		return error("invalid time '%s' (seconds, or with s/m/h)", arg);
	return 0;
}

static int set_retries(struct run_opts *o, const char *arg, size_t off)
{
	unsigned long ul;

	(void)off;
	if (parse_uint(arg, 10, &ul))
		return error("--retries wants 0..10, got '%s'", arg);
	o->so.infra_retries = ul;
	return 0;
}

static int set_confirm(struct run_opts *o, const char *arg, size_t off)
{
	(void)off;
	return parse_uint(arg, 10, &o->confirm) ? error("--confirm wants 0..10, got '%s'", arg)
						 : 0;
}

static int set_backend(struct run_opts *o, const char *arg, size_t off)
{
	struct sb known;

	(void)off;
	o->plan.be = backend_find(arg);
	o->be_given = 1;
	if (o->plan.be)
		return 0;
	sb_init(&known);
	for (size_t i = 0; backends[i]; i++)
		sb_addf(&known, "%s%s", i ? ", " : "", backends[i]->name);
	error("unknown backend '%s' (known: %s)", arg, known.buf);
	sb_release(&known);
	return -1;
}

static int add_smp(struct run_opts *o, const char *arg, size_t off)
{
	(void)off;
	per_arch_add(&o->plan.mo.smp, &o->plan.mo.nsmp, arg);
	return 0;
}

static int add_variant(struct run_opts *o, const char *arg, size_t off)
{
	(void)off;
	per_arch_add(&o->plan.mo.variant, &o->plan.mo.nvariant, arg);
	return 0;
}

static int set_accel(struct run_opts *o, const char *arg, size_t off)
{
	(void)off;
	if (accel_req_parse(arg, &o->plan.mo.accel))
		return error("--accel wants auto, kvm or tcg, got '%s'", arg);
	o->plan.mo.accel_given = 1;
	return 0;
}

static int refuse_token(struct run_opts *o, const char *arg, size_t off)
{
	(void)o, (void)arg, (void)off;
	return error("--lava-token: a token on the command line is visible to every user "
		     "(ps); use --lava-token-file FILE or KFARM_LAVA_TOKEN");
}

/* kfarm run's options: one line each (short letter, or 0 for long only) */
static const struct run_opt {
	const char *name;
	int has_arg, letter;
	int (*set)(struct run_opts *o, const char *arg, size_t off);
	size_t off;
} run_opt_table[] = {
	{ "kernel", 1, 'k', add_kernel, 0 },
	{ "source", 1, 's', add_str, OFF(sources) },
	{ "patches", 1, 0, set_str, OFF(patches) },
	{ "config", 1, 0, set_str, OFF(config) },	/* checked by srcset_resolve */
	{ "label", 1, 0, set_str, OFF(label) },
	{ "kselftest", 1, 0, set_str, OFF(kselftest) },	/* kselftest_parse'd in cmd_run */
	{ "build-jobs", 1, 0, set_count, OFF(build_jobs) },
	{ "make-jobs", 1, 0, set_count, OFF(make_jobs) },
	{ "kernels", 1, 0, set_versions, 0 },
	{ "arch", 1, 'a', set_arches, 0 },
	{ "tests", 1, 't', set_tests, 0 },
	{ "suite", 1, 0, set_suite, 0 },
	{ "initramfs", 1, 0, add_initramfs, 0 },
	{ "append", 1, 0, set_str, OFF(plan.append) },
	{ "jobs", 1, 'j', set_jobs, 0 },
	{ "timeout", 1, 0, set_seconds, OFF(so.total_timeout) },
	{ "boot-timeout", 1, 0, set_seconds, OFF(so.boot_timeout) },
	{ "silence-timeout", 1, 0, set_seconds, OFF(so.silence_timeout) },
	{ "queue-timeout", 1, 0, set_seconds, OFF(so.queue_timeout) },
	{ "retries", 1, 0, set_retries, 0 },
	{ "tree", 1, 0, set_tree, OFF(plan.tree) },
	{ "confirm", 1, 0, set_confirm, 0 },
	{ "db", 1, 'd', set_str, OFF(db) },
	{ "json", 0, 0, set_flag, OFF(json) },
	{ "backend", 1, 0, set_backend, 0 },
	{ "libvirt-uri", 1, 0, set_str, OFF(uri) },
	{ "hosts", 1, 0, set_str, OFF(hosts_file) },
	{ "smp", 1, 0, add_smp, 0 },
	{ "variant", 1, 0, add_variant, 0 },
	{ "accel", 1, 0, set_accel, 0 },
	{ "lava-url", 1, 0, set_str, OFF(lava_url) },
	{ "lava-token-file", 1, 0, set_str, OFF(lava_tok) },
	/* exact name: else getopt takes it as an abbreviation of -file */
	{ "lava-token", 1, 0, refuse_token, 0 },
	{ "help", 0, 'h', set_flag, OFF(help) },
};

/* 0, or 2 (bad usage: printed) */
static int parse_opts(struct run_opts *o, int argc, char **argv)
{
	struct option lo[ARRAY_SIZE(run_opt_table) + 1] = { 0 };
	char shorts[2 * ARRAY_SIZE(run_opt_table) + 1] = "", *sp = shorts;
	int opt;

	for (size_t i = 0; i < ARRAY_SIZE(run_opt_table); i++) {
		const struct run_opt *t = &run_opt_table[i];

		lo[i] = (struct option){ t->name, t->has_arg ? required_argument : no_argument,
					 NULL, t->letter ? t->letter : 256 + (int)i };
		if (t->letter) {
			*sp++ = (char)t->letter;
			if (t->has_arg)
				*sp++ = ':';
		}
	}
	optind = 1;
	while ((opt = getopt_long(argc, argv, shorts, lo, NULL)) != -1) {
		const struct run_opt *t = NULL;

		for (size_t i = 0; i < ARRAY_SIZE(run_opt_table) && !t; i++)
			if (lo[i].val == opt)
				t = &run_opt_table[i];
		if (!t) {
			fputs(run_usage, stderr);
			return 2;
		}
		if (t->set(o, optarg, t->off))
			return 2;
		if (o->help)
			return 0;
	}
	if (optind < argc)
		return error("unexpected argument '%s' (see kfarm run --help)", argv[optind]), 2;
	return 0;
}

/* Options that exclude or need each other, and the hosts they name. */
static int check_opts(struct run_opts *o, struct hosts *hs)
{
	const struct backend *be = o->plan.be;
	const char *u = o->uri ? o->uri : getenv("LIBVIRT_DEFAULT_URI");
	int service;
	struct err err;

	if (o->kernels && o->sources)
		return error("--kernel and --source exclude each other");
	if (o->plan.versions && (o->kernels || o->sources))
		return error("--kernels picks default kernels: not with --kernel or --source");
	if ((o->patches || o->config || o->label || o->kselftest || o->build_jobs ||
	     o->make_jobs) && !o->sources)
		return error("--patches, --config, --label, --kselftest, --build-jobs and "
			     "--make-jobs go with --source");
	if (o->hosts_file && o->uri)
		return error("--hosts and --libvirt-uri exclude each other "
			     "(a host's URI is in the file)");
	if (o->hosts_file && !(be->flags & BACKEND_HOSTS)) {
		if (o->be_given)
			return error(be->connect ? "--hosts places VMs on the inventory's hosts; "
						   "with --backend %s, the service places them"
						 : "--hosts runs VMs on the inventory's hosts; "
						   "it cannot go with --backend %s", be->name);
		be = o->plan.be = backend_for_hosts();
	}
	service = be->connect != NULL;
	if ((o->lava_url || o->lava_tok) != service || (service && !o->lava_url))
		return service ? error("--backend %s needs --lava-url URL", be->name)
			       : error("--lava-url and --lava-token-file need --backend lava");
	if (o->uri && !(be->flags & BACKEND_HOSTS))
		return error("--libvirt-uri needs --backend libvirt");
	if (o->hosts_file)
		return hosts_load(o->hosts_file, hs, &err) ? error("%s", err.msg) : 0;
	if ((be->flags & BACKEND_HOSTS) &&
	    hosts_from_uri(u && *u ? u : "qemu:///session", o->so.jobs, hs, &err))
		return error("%s", err.msg);
	return 0;
}

static char *argv_text(int argc, char **argv)
{
	struct sb sb;

	sb_init(&sb);
	for (int i = 0; i < argc; i++)
		sb_addf(&sb, "%s%s", i ? " " : "", argv[i]);
	return sb_detach(&sb);
}

/* The exit status from what the stages left: 0, 1, 3 or 130. */
static int verdict(struct run_drive *d, struct run_build *b, int json, int bad_json,
		   int interrupted)
{
	struct run_report r = { d->st, d->run, d->stored, d->nseq };
	int ret = run_report_verdict(&r), bs = run_build_report(b, json ? stderr : stdout);

	if (bs == 1 || (bs == 3 && !ret))
		ret = bs;
	if (bad_json && !ret)
		ret = 3;
	if (d->plan_failed) {
		error("some jobs could not be prepared (see above)");
		ret = 3;
	}
	if (b->ss.unprepared) {
		error("%zu source tree(s) could not be prepared (see above)", b->ss.unprepared);
		ret = 2;
	}
	if (d->store_failed) {
		error("some results could not be stored in '%s'", store_path(d->st));
		ret = 3;
	}
	if (interrupted) {
		error("interrupted; run %lld marked as such", (long long)d->run);
		ret = 130;
	}
	return ret;
}

static void run_opts_release(struct run_opts *o)
{
	struct plan_opts *p = &o->plan;

	free(o->kernels);
	strv_free(o->sources);
	strv_free(p->arches), strv_free(p->tests), strv_free(p->versions);
	for (size_t i = 0; i < p->novr; i++)
		free(p->ovr[i].arch), free(p->ovr[i].path);
	free(p->ovr), free(p->append), free(p->tree);
	per_arch_free(p->mo.smp, p->mo.nsmp);
	per_arch_free(p->mo.variant, p->mo.nvariant);
	free(o->patches), free(o->config), free(o->kselftest), free(o->label), free(o->db);
	free(o->uri), free(o->hosts_file);
	free(o->lava_url), free(o->lava_tok), free(o->so.pools);
}

/* Stage 1 (plan): every input checked and every job planned, hosts and the
 * backend connected, before anything starts or is written. Returns 0, or
 * the exit status (printed). */
static int run_setup(struct run_opts *o, struct hosts *hs, struct run_plan *plan,
		     struct run_build *b)
{
	int jobs_given, ret = 2;
	struct err err;

	b->ss.config = o->config;
	if (o->kselftest && kselftest_parse(&b->ks, o->kselftest, &err))
		return error("%s", err.msg), 2;
	if (!(jobs_given = o->so.jobs != 0)) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		o->so.jobs = n > 0 ? n : 1;
	}
	if (o->so.boot_timeout > o->so.total_timeout)
		o->so.boot_timeout = o->so.total_timeout;
	if (check_opts(o, hs) ||
	    (o->sources ? run_build_prepare(b, plan, o->sources, o->patches, o->label)
			: o->kernels ? plan_kernels(plan, o->kernels) : plan_defaults(plan)))
		return 2;
	if (!plan_size(plan) && !b->ss.n)
		return error("nothing to run (no matching kernels)"), 2;
	if (plan_check(plan))
		return 2;
	if (hs->n && setup_hosts(plan, hs, &o->so, jobs_given))
		return 3;
	if (o->plan.be->connect &&
	    connect_backend(plan, o->plan.be, o->lava_url, o->lava_tok, &o->so, jobs_given, &ret))
		return ret;
	return 0;
}

/* Stages 2-5 (build, drive, store, report) over one run of the store. */
static int run_stages(struct run_opts *o, struct run_plan *plan, struct run_build *b,
		      struct run_drive *d, struct store *st, const char *db_path, char *at)
{
	int ret, interrupted = 0, bad_json = 0;
	struct err e;

	ret = drive_begin(d, plan, st, at);
	free(at);
	if (ret < 0)
		return 2;
	/* --source: the builds overlap the boots (drive's feed), or with
	 * --kselftest all come first */
	if (b->ss.n && b->ks.targets) {
		build_set_jobs(o->make_jobs, 0);
		interrupted = run_build_sync(b);
	} else if (b->ss.n) {
		d->feed = run_build_feed(b, d, o->build_jobs, o->make_jobs);
	}
	if (!interrupted)
		interrupted = drive_run(d, &o->so, o->confirm);
	if (b->ss.n && run_build_record(b, plan, st, d->run, db_path)) {
		if (store_run_end(st, d->run, RUN_FAILED, &e))
			error("%s", e.msg);
		return 3;
	}
	drive_end(d, interrupted);

	json_t *changes = drive_changes(d->st, d->run);
	struct run_report r = { d->st, d->run, d->stored, d->nseq };

	if (o->json)
		bad_json = run_report_json(&r, changes);
	else
		run_report_summary(&r, changes, stdout);
	json_decref(changes);
	return verdict(d, b, o->json, bad_json, interrupted);
}

int cmd_run(struct cmd_ctx *cx, int argc, char **argv)
{
	struct run_opts o = {
		.so = { .boot_timeout = 120, .silence_timeout = 120, .total_timeout = 600,
			.queue_timeout = 3600,
			.infra_retries = 1 },
		.plan.be = backends[0], .confirm = 2,
	};
	struct hosts hs = { 0 };
	struct run_plan plan;
	struct run_build b = { 0 };
	struct run_drive d = { 0 };
	int ret;

	plan_init(&plan, &o.plan);
	if ((ret = parse_opts(&o, argc, argv)) || o.help) {
		if (o.help)
			fputs(run_usage, stdout);
	} else if (!(ret = run_setup(&o, &hs, &plan, &b))) {
		cx->db = o.db;
		ret = !cmd_store(cx) ? 2 : run_stages(&o, &plan, &b, &d, cx->st, cmd_db_path(cx),
						       argv_text(argc, argv));
	}
	drive_release(&d);
	run_build_release(&b);
	plan_release(&plan);
	hosts_release(&hs);
	run_opts_release(&o);
	return ret;
}
