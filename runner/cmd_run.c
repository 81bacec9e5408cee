/* kfarm run: builds the job list (default matrix or --kernel candidates),
 * checks every input before anything starts, runs the scheduler, stores each
 * finished job, prints progress and a summary. */
#include "backend.h"
#include "cache.h"
#include "cmds.h"
#include "hosts.h"
#include "job.h"
#include "logdir.h"
#include "profile.h"
#include "regress.h"
#include "sched.h"
#include "store.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct run_ctx {
	struct job **jobs;
	size_t n;
	struct store *st;
	int64_t run;
	int tty, drawn;
	double t0;
	int store_failed;
};

static const char run_usage[] =
	"usage: kfarm run [options]\n"
	"\n"
	"Boots every candidate kernel with kfarm's initramfs and records the results.\n"
	"With no --kernel, runs the default matrix (every arch x default kernel built\n"
	"by 'make images').\n"
	"\n"
	"  -k, --kernel ARCH=PATH[:LABEL]  a candidate kernel (repeatable)\n"
	"  -a, --arch ARCH[,ARCH...]       only these arches\n"
	"  -t, --tests T1,T2,...           run these tests (default: the initramfs's suite)\n"
	"      --suite smoke               the default suite (the only one for now)\n"
	"      --initramfs ARCH=PATH       use this initramfs for ARCH\n"
	"      --append ARGS               extra kernel command-line arguments\n"
	"  -j, --jobs N                    parallel VMs (default: number of CPUs)\n"
	"      --timeout SECS              total time limit per job (default 600)\n"
	"      --boot-timeout SECS         limit until /init reports (default 120)\n"
	"      --silence-timeout SECS      limit on console silence (default 120)\n"
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

/* "ARCH=PATH[:LABEL]" */
static int split_kernel(const char *arg, char **arch, char **path, char **label)
{
	const char *eq = strchr(arg, '='), *colon;

	if (!eq || eq == arg || !eq[1])
		return error("--kernel wants ARCH=PATH[:LABEL], got '%s'", arg);
	*arch = xstrndup(arg, eq - arg);
	colon = strrchr(eq + 1, ':');
	if (colon && !strchr(colon, '/') && colon[1]) {
		*path = xstrndup(eq + 1, colon - eq - 1);
		*label = xstrdup(colon + 1);
	} else {
		char *tmp = xstrdup(eq + 1);

		*path = xstrdup(eq + 1);
		*label = xstrdup(basename(tmp));
		free(tmp);
	}
	return 0;
}

static char **split_list(const char *s)
{
	char **v = xcalloc(1, sizeof(char *));
	size_t n = 0;

	while (*s) {
		size_t len = strcspn(s, ",");

		if (len) {
			v = xrealloc(v, (n + 2) * sizeof(char *));
			v[n++] = xstrndup(s, len);
			v[n] = NULL;
		}
		s += len + (s[len] == ',');
	}
	return v;
}

static int in_list(char **v, const char *s)
{
	for (; v && *v; v++)
		if (!strcmp(*v, s))
			return 1;
	return 0;
}

static char *abspath(const char *p)
{
	char buf[PATH_MAX];

	return realpath(p, buf) ? xstrdup(buf) : xstrdup(p);
}

struct initrd_override {
	char *arch, *path;
};

static int valid_test_name(const char *t)
{
	if (!*t)
		return 0;
	for (; *t; t++)
		if (!((*t >= 'a' && *t <= 'z') || (*t >= 'A' && *t <= 'Z') ||
		      (*t >= '0' && *t <= '9') || *t == '_' || *t == '-' || *t == '.'))
			return 0;
	return 1;
}

/* Fills a job from (arch, image, label); prints why not and returns -1. */
static int make_job(struct job *j, const char *arch, const char *image, const char *label,
		    char **tests, struct initrd_override *ovr, size_t novr, const char *append)
{
	char sha[65];
	char **suite = NULL;
	char *initrd = NULL;

	if (profile_load(arch, &j->profile))
		return -1;
	if (profile_check_image(&j->profile, image))
		return -1;
	for (size_t i = 0; i < novr; i++)
		if (!strcmp(ovr[i].arch, arch))
			initrd = xstrdup(ovr[i].path);
	if (initrd) {
		if (access(initrd, R_OK) < 0) {
			error_errno("cannot read initramfs '%s'", initrd);
			free(initrd);
			return -1;
		}
		if (!tests) {
			char *dummy;

			if (cache_initramfs(arch, &dummy, &suite) == 0)
				free(dummy);
		}
	} else if (cache_initramfs(arch, &initrd, &suite)) {
		return -1;
	} else if (access(initrd, R_OK) < 0) {
		error_errno("cannot read initramfs '%s' (run 'make images')", initrd);
		free(initrd);
		strv_free(suite);
		return -1;
	}
	if (sha256_file(image, sha) < 0) {
		error_errno("cannot read kernel image '%s'", image);
		free(initrd);
		strv_free(suite);
		return -1;
	}
	j->arch = xstrdup(arch);
	j->label = xstrdup(label);
	j->kernel = abspath(image);
	j->initrd = abspath(initrd);
	j->image_sha256 = xstrdup(sha);
	free(initrd);
	if (tests) {
		size_t n = 0;

		while (tests[n])
			n++;
		j->tests = xcalloc(n + 1, sizeof(char *));
		for (size_t i = 0; i < n; i++)
			j->tests[i] = xstrdup(tests[i]);
		strv_free(suite);
	} else {
		j->tests = suite ? suite : xcalloc(1, sizeof(char *));
	}
	j->append = job_cmdline(&j->profile, tests, append);
	j->be = &backend_qemu;
	return 0;
}

static void add_job(struct run_ctx *c, struct job *j)
{
	c->jobs = xrealloc(c->jobs, (c->n + 1) * sizeof(*c->jobs));
	c->jobs[c->n++] = j;
}

/* The default matrix: every built default kernel of the selected arches. */
static int default_jobs(struct run_ctx *c, char **arches, char **tests,
			struct initrd_override *ovr, size_t novr, const char *append)
{
	struct default_kernel *d;
	size_t nd;
	int ret = 0;

	for (char **a = arches; a && *a; a++) {
		struct profile p;

		if (profile_load(*a, &p))
			return -1;
		profile_release(&p);
	}
	if (cache_defaults(&d, &nd))
		return -1;
	for (size_t i = 0; i < nd && !ret; i++) {
		struct job *j;
		char *label;

		if (arches && !in_list(arches, d[i].arch))
			continue;
		if (strcmp(d[i].status, "built")) {
			fprintf(stderr, "kfarm: skipping %s %s: kernel did not build: %s\n",
				d[i].arch, d[i].version, d[i].error ? d[i].error : "?");
			continue;
		}
		label = xasprintf("debian-%s", d[i].version);
		j = job_new();
		add_job(c, j);
		ret = make_job(j, d[i].arch, d[i].image ? d[i].image : "", label, tests, ovr,
			       novr, append);
		j->tree = label;	/* the Debian source's series */
	}
	cache_defaults_free(d, nd);
	free(d);
	return ret;
}

static void progress_draw(struct run_ctx *c)
{
	double now = now_mono();

	if (!c->tty)
		return;
	if (c->drawn)
		fprintf(stderr, "\033[%dA", c->drawn);
	fprintf(stderr, "\033[2K%-9s %-16s %-12s %8s  %s\n", "ARCH", "KERNEL", "STATE",
		"ELAPSED", "RESULTS");
	for (size_t i = 0; i < c->n; i++) {
		struct job *j = c->jobs[i];
		const char *st = j->state == JS_DONE ? job_outcome_name(j->outcome)
						     : job_state_name(j->state);
		double el = j->state == JS_QUEUED ? 0
			    : (j->state == JS_DONE ? j->t_end : now) - j->t_start;

		fprintf(stderr, "\033[2K%-9s %-16.16s %-12s %7.1fs  %lu/%ld\n", j->arch,
			j->label, st, el, j->ktap.ntop, j->ktap.plan);
	}
	c->drawn = (int)c->n + 1;
	fflush(stderr);
}

static void on_state(struct job *j, void *data)
{
	struct run_ctx *c = data;

	if (c->tty) {
		progress_draw(c);
		return;
	}
	if (j->state == JS_DONE)
		fprintf(stderr, "[%7.1fs] %s %s: %s%s%s (%.1fs)\n", now_mono() - c->t0,
			j->arch, j->label, job_outcome_name(j->outcome),
			j->reason ? ": " : "", j->reason ? j->reason : "", j->duration_s);
	else
		fprintf(stderr, "[%7.1fs] %s %s: %s%s%s\n", now_mono() - c->t0, j->arch, j->label,
			job_state_name(j->state), j->host && j->state == JS_BOOTING ? " on " : "",
			j->host && j->state == JS_BOOTING ? j->host->name : "");
}

static void on_tick(void *data)
{
	progress_draw(data);
}

static const char *job_host(const struct job *j)
{
	static char here[256];

	if (j->host)
		return j->host->name;
	if (!*here && gethostname(here, sizeof(here) - 1) < 0)
		strcpy(here, "localhost");
	return here;
}

static void on_done(struct job *j, int will_retry, void *data)
{
	struct run_ctx *c = data;

	if (will_retry && !c->tty)
		fprintf(stderr, "[%7.1fs] %s %s: infrastructure error on %s, retrying: %s\n",
			now_mono() - c->t0, j->arch, j->label, job_host(j),
			j->reason ? j->reason : "");
	if (store_job(c->st, c->run, j, job_host(j)) < 0)
		c->store_failed = 1;
}

static void on_pool_down(struct sched_pool *p, const char *why, void *data)
{
	struct run_ctx *c = data;

	fprintf(stderr, "[%7.1fs] host %s is down for this run (%s); its jobs go elsewhere\n",
		now_mono() - c->t0, p->name, why);
}

static int pool_accepts(const struct sched_pool *p, const struct job *j)
{
	return host_arch(p->host, j->arch) != NULL;
}

/* Connects to and probes every host; the usable ones become the
 * scheduler's pools. Every job must be runnable on one of them. */
static int setup_hosts(struct run_ctx *c, struct hosts *hs, struct sched_opts *so,
		       int jobs_given)
{
	unsigned int total = 0;
	size_t up = 0;

	so->pools = xcalloc(hs->n, sizeof(*so->pools));
	for (size_t i = 0; i < hs->n; i++) {
		struct host *h = &hs->v[i];
		struct sb arches;

		if (host_probe(h, 0) < 0) {
			warning("host %s is unusable: %s", h->name, h->why);
			host_disconnect(h);
			continue;
		}
		sb_init(&arches);
		for (size_t a = 0; a < h->narches; a++)
			if (host_arch(h, h->arches[a].arch))
				sb_addf(&arches, " %s", h->arches[a].arch);
		if (h->busy >= h->slots) {
			warning("host %s: all %u slots taken by other kfarm VMs", h->name, h->slots);
			sb_release(&arches);
			continue;
		}
		fprintf(stderr, "kfarm: host %s: %u of %u slots free, arches:%s\n", h->name,
			h->slots - h->busy, h->slots, arches.buf);
		sb_release(&arches);
		so->pools[up++] = (struct sched_pool){
			.name = h->name, .slots = h->slots - h->busy, .host = h,
			.accepts = pool_accepts,
		};
		total += h->slots - h->busy;
	}
	so->npools = up;
	if (!up)
		return error("no usable host");
	for (size_t i = 0; i < c->n; i++) {
		int ok = 0;

		for (size_t p = 0; p < up && !ok; p++)
			ok = pool_accepts(&so->pools[p], c->jobs[i]);
		if (!ok)
			return error("no usable host can run %s (%s): no %s on any of them",
				     c->jobs[i]->arch, c->jobs[i]->label,
				     c->jobs[i]->profile.qemu_binary);
	}
	if (!jobs_given || so->jobs > total)
		so->jobs = total;
	return 0;
}

/* A backend that runs VMs through a service (LAVA): reached and probed before
 * anything is written; by default as many parallel jobs as it has VMs. */
static int connect_backend(struct run_ctx *c, const struct backend *be, const char *url,
			   const char *secret_file, struct sched_opts *so, int jobs_given,
			   int *ret)
{
	char **arches = xcalloc(c->n + 1, sizeof(char *)), err[512];
	size_t na = 0;
	int n;

	for (size_t i = 0; i < c->n; i++)
		if (!in_list(arches, c->jobs[i]->arch))
			arches[na++] = c->jobs[i]->arch;
	n = be->connect(url, secret_file, arches, err, sizeof(err), 0);
	free(arches);
	if (n < 0) {
		error("%s", err);
		*ret = n == -1 ? 2 : 3;
		return -1;
	}
	if (!jobs_given)
		so->jobs = (unsigned)n;
	return 0;
}

static void count(const struct job *j, int cnt[4])
{
	memset(cnt, 0, 4 * sizeof(int));
	for (size_t i = 0; i < j->nres; i++)
		if (j->res[i].depth == 0)
			cnt[j->res[i].status]++;
}

static void print_summary(struct run_ctx *c, json_t *changes, FILE *f)
{
	json_t *o;
	size_t ci;

	fprintf(f, "\nrun %lld summary\n%-9s %-16s %-12s %6s %5s %5s %5s %5s  %s\n",
		(long long)c->run, "ARCH", "KERNEL", "OUTCOME", "BOOT", "PASS", "FAIL", "SKIP",
		"MISS", "RELEASE");
	for (size_t i = 0; i < c->n; i++) {
		struct job *j = c->jobs[i];
		int cnt[4];

		count(j, cnt);
		fprintf(f, "%-9s %-16.16s %-12s %5.1fs %5d %5d %5d %5d  %s\n", j->arch, j->label,
			job_outcome_name(j->outcome), j->boot_s, cnt[RS_PASS], cnt[RS_FAIL],
			cnt[RS_SKIP], cnt[RS_MISSING], j->release ? j->release : "-");
	}
	for (size_t i = 0; i < c->n; i++) {
		struct job *j = c->jobs[i];

		if (j->outcome != JOB_COMPLETE)
			fprintf(f, "  %s %s: %s: %s\n", j->arch, j->label,
				job_outcome_name(j->outcome), j->reason ? j->reason : "");
		for (size_t k = 0; k < j->nres; k++) {
			const struct result *r = &j->res[k];

			if (r->depth == 0 && (r->status == RS_FAIL || r->status == RS_MISSING))
				fprintf(f, "  %s %s: %s %s%s%s\n", j->arch, j->label, r->test,
					res_status_name(r->status), *r->reason ? ": " : "",
					r->reason);
		}
	}
	if (json_array_size(changes))
		fprintf(f, "\nchanges since the previous candidate of each tree:\n");
	json_array_foreach(changes, ci, o) {
		json_t *from = json_object_get(o, "from"), *to = json_object_get(o, "to");

		fprintf(f, "  %-14s %-12s %-8s %-16s %s %s -> %s %s\n",
			json_string_value(json_object_get(o, "kind")),
			json_string_value(json_object_get(o, "tree")),
			json_string_value(json_object_get(o, "arch")),
			json_string_value(json_object_get(o, "test")),
			json_string_value(json_object_get(from, "kernel")),
			json_string_value(json_object_get(from, "status")),
			json_string_value(json_object_get(to, "kernel")),
			json_string_value(json_object_get(to, "status")));
	}
}

static void print_json(struct run_ctx *c, json_t *changes)
{
	json_t *root = json_object(), *arr = json_array();

	json_object_set(root, "changes", changes);
	json_object_set_new(root, "run", json_integer(c->run));
	for (size_t i = 0; i < c->n; i++) {
		struct job *j = c->jobs[i];
		json_t *o = json_object(), *res = json_array();
		int cnt[4];

		count(j, cnt);
		json_object_set_new(o, "arch", json_string(j->arch));
		json_object_set_new(o, "label", json_string(j->label));
		json_object_set_new(o, "kernel", json_string(j->kernel));
		json_object_set_new(o, "outcome", json_string(job_outcome_name(j->outcome)));
		json_object_set_new(o, "reason", j->reason ? json_string(j->reason) : json_null());
		json_object_set_new(o, "release", j->release ? json_string(j->release) : json_null());
		json_object_set_new(o, "boot_s", j->t_header ? json_real(j->boot_s) : json_null());
		json_object_set_new(o, "duration_s", json_real(j->duration_s));
		json_object_set_new(o, "attempts", json_integer(j->attempt));
		json_object_set_new(o, "host", json_string(job_host(j)));
		json_object_set_new(o, "pass", json_integer(cnt[RS_PASS]));
		json_object_set_new(o, "fail", json_integer(cnt[RS_FAIL]));
		json_object_set_new(o, "skip", json_integer(cnt[RS_SKIP]));
		json_object_set_new(o, "missing", json_integer(cnt[RS_MISSING]));
		for (size_t k = 0; k < j->nres; k++) {
			const struct result *r = &j->res[k];
			json_t *ro = json_object();

			json_object_set_new(ro, "test", json_string(r->test));
			json_object_set_new(ro, "status", json_string(res_status_name(r->status)));
			if (*r->reason)
				json_object_set_new(ro, "reason", json_string(r->reason));
			json_array_append_new(res, ro);
		}
		json_object_set_new(o, "results", res);
		json_array_append_new(arr, o);
	}
	json_object_set_new(root, "jobs", arr);
	json_dumpf(root, stdout, JSON_INDENT(2));
	putchar('\n');
	json_decref(root);
}

/* Regression/fix/support/flaky changes this run's candidates brought. */
static json_t *run_changes(struct run_ctx *c)
{
	struct api_err e = { 0 };
	json_t *r = regress_query(store_db(c->st), NULL, c->run, &e), *all;

	if (!r) {
		error("%s", e.msg);
		return json_array();
	}
	all = json_incref(json_object_get(r, "regressions"));
	json_decref(r);
	return all;
}

/* A failure is only a regression if it repeats: every job whose candidate
 * now shows a regression on its arch runs `confirm` more times; a test whose
 * outcome then differs is FLAKY, not a regression. */
static int confirm_runs(struct run_ctx *c, struct sched_opts *so, unsigned long confirm,
			char *logdir)
{
	json_t *changes = run_changes(c), *o;
	size_t n0 = c->n, k;
	int interrupted = 0;

	for (size_t i = 0; i < n0; i++) {
		struct job *j = c->jobs[i];
		int hit = 0;

		json_array_foreach(changes, k, o)
			hit |= !strcmp(json_string_value(json_object_get(o, "kind")), "regression") &&
			       !strcmp(json_string_value(json_object_get(o, "arch")), j->arch) &&
			       json_integer_value(json_object_get(json_object_get(o, "to"), "job")) > 0 &&
			       j->outcome != JOB_INFRA_ERROR;
		if (!hit)
			continue;
		for (unsigned long r = 0; r < confirm; r++) {
			struct job *cl = job_clone(j);

			if (!cl)
				continue;
			cl->seq = (int)c->n + 1;
			cl->log_path = xasprintf("%s/%02d-%s-%s-confirm%lu.log", logdir, cl->seq,
						 cl->arch, cl->label, r + 1);
			add_job(c, cl);
		}
	}
	json_decref(changes);
	if (c->n > n0) {
		if (!c->tty)
			fprintf(stderr, "[%7.1fs] confirming %zu regressed job(s) with %zu re-run(s)\n",
				now_mono() - c->t0, c->n - n0, c->n - n0);
		interrupted = sched_run(c->jobs + n0, c->n - n0, so);
	}
	free(logdir);
	return interrupted;
}

static char *argv_text(int argc, char **argv)
{
	struct sb sb;

	sb_init(&sb);
	for (int i = 0; i < argc; i++)
		sb_addf(&sb, "%s%s", i ? " " : "", argv[i]);
	return sb_detach(&sb);
}

int cmd_run(struct cmd_ctx *cx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "kernel", required_argument, NULL, 'k' },
		{ "arch", required_argument, NULL, 'a' },
		{ "tests", required_argument, NULL, 't' },
		{ "suite", required_argument, NULL, 'S' },
		{ "initramfs", required_argument, NULL, 'I' },
		{ "append", required_argument, NULL, 'A' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "boot-timeout", required_argument, NULL, 'B' },
		{ "silence-timeout", required_argument, NULL, 'Q' },
		{ "retries", required_argument, NULL, 'R' },
		{ "tree", required_argument, NULL, 'r' },
		{ "confirm", required_argument, NULL, 'C' },
		{ "db", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'J' },
		{ "backend", required_argument, NULL, 'b' },
		{ "libvirt-uri", required_argument, NULL, 'U' },
		{ "hosts", required_argument, NULL, 'H' },
		{ "lava-url", required_argument, NULL, 'L' },
		{ "lava-token-file", required_argument, NULL, 'F' },
		/* exact name: else getopt takes it as an abbreviation of -file */
		{ "lava-token", required_argument, NULL, 'X' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sched_opts so = {
		.jobs = 0, .boot_timeout = 120, .silence_timeout = 120, .total_timeout = 600,
		.infra_retries = 1,
	};
	char **kernels = NULL, **arches = NULL, **tests = NULL, *db = NULL, *append = NULL;
	char *tree = NULL, *uri = NULL, *hosts_file = NULL, *lava_url = NULL, *lava_tok = NULL;
	const struct backend *be = &backend_qemu;
	int be_given = 0;
	struct hosts hs = { 0 };
	unsigned long confirm = 2;
	struct initrd_override *ovr = NULL;
	size_t nk = 0, novr = 0;
	int json = 0, opt, ret = 2, interrupted;
	unsigned long ul;
	struct run_ctx c = { 0 };

	optind = 1;
	while ((opt = getopt_long(argc, argv, "k:a:t:j:d:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'k':
			kernels = xrealloc(kernels, (nk + 2) * sizeof(char *));
			kernels[nk++] = xstrdup(optarg);
			kernels[nk] = NULL;
			break;
		case 'a':
			strv_free(arches);
			arches = split_list(optarg);
			break;
		case 't':
			strv_free(tests);
			tests = split_list(optarg);
			for (char **t = tests; *t; t++)
				if (!valid_test_name(*t)) {
					error("invalid test name '%s'", *t);
					goto out;
				}
			break;
		case 'S':
			if (strcmp(optarg, "smoke")) {
				error("unknown suite '%s' (known: smoke)", optarg);
				goto out;
			}
			break;
		case 'I': {
			const char *eq = strchr(optarg, '=');

			if (!eq || eq == optarg || !eq[1]) {
				error("--initramfs wants ARCH=PATH, got '%s'", optarg);
				goto out;
			}
			ovr = xrealloc(ovr, (novr + 1) * sizeof(*ovr));
			ovr[novr].arch = xstrndup(optarg, eq - optarg);
			ovr[novr++].path = xstrdup(eq + 1);
			break;
		}
		case 'A':
			free(append);
			append = xstrdup(optarg);
			break;
		case 'j':
			if (parse_uint(optarg, 1024, &ul) || !ul) {
				error("--jobs wants a number 1..1024, got '%s'", optarg);
				goto out;
			}
			so.jobs = ul;
			break;
		case 'T':
		case 'B':
		case 'Q': {
			double *dst = opt == 'T' ? &so.total_timeout
				      : opt == 'B' ? &so.boot_timeout : &so.silence_timeout;

			if (parse_seconds(optarg, dst) || *dst <= 0) {
				error("invalid time '%s' (seconds, or with s/m/h)", optarg);
				goto out;
			}
			break;
		}
		case 'R':
			if (parse_uint(optarg, 10, &ul)) {
				error("--retries wants 0..10, got '%s'", optarg);
				goto out;
			}
			so.infra_retries = ul;
			break;
		case 'd':
			free(db);
			db = xstrdup(optarg);
			break;
		case 'r':
			if (!valid_test_name(optarg)) {
				error("invalid tree name '%s'", optarg);
				goto out;
			}
			free(tree);
			tree = xstrdup(optarg);
			break;
		case 'C':
			if (parse_uint(optarg, 10, &confirm)) {
				error("--confirm wants 0..10, got '%s'", optarg);
				goto out;
			}
			break;
		case 'J':
			json = 1;
			break;
		case 'b':
			be = backend_find(optarg);
			be_given = 1;
			if (!be) {
				error("unknown backend '%s' (known: qemu, libvirt, lava)", optarg);
				goto out;
			}
			break;
		case 'U':
			free(uri);
			uri = xstrdup(optarg);
			break;
		case 'H':
			free(hosts_file);
			hosts_file = xstrdup(optarg);
			break;
		case 'L':
			free(lava_url);
			lava_url = xstrdup(optarg);
			break;
		case 'F':
			free(lava_tok);
			lava_tok = xstrdup(optarg);
			break;
		case 'X':
			error("--lava-token: a token on the command line is visible to every user "
			      "(ps); use --lava-token-file FILE or KFARM_LAVA_TOKEN");
			goto out;
		case 'h':
			fputs(run_usage, stdout);
			ret = 0;
			goto out;
		default:
			fputs(run_usage, stderr);
			goto out;
		}
	}
	if (optind < argc) {
		error("unexpected argument '%s' (see kfarm run --help)", argv[optind]);
		goto out;
	}
	int jobs_given = so.jobs != 0;
	if (!so.jobs) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		so.jobs = n > 0 ? n : 1;
	}
	if (hosts_file && uri) {
		error("--hosts and --libvirt-uri exclude each other (a host's URI is in the file)");
		goto out;
	}
	if (hosts_file && be == &backend_qemu) {
		if (be_given) {
			error("--hosts runs VMs through libvirt; it cannot go with --backend qemu");
			goto out;
		}
		be = &backend_libvirt;
	}
	if (hosts_file && be == &backend_lava) {
		error("--hosts places VMs on libvirt hosts; with --backend lava, LAVA places them");
		goto out;
	}
	if ((lava_url || lava_tok) != (be == &backend_lava) ||
	    (be == &backend_lava && !lava_url)) {
		error(be == &backend_lava ? "--backend lava needs --lava-url URL"
					  : "--lava-url and --lava-token-file need --backend lava");
		goto out;
	}
	if (uri && be != &backend_libvirt) {
		error("--libvirt-uri needs --backend libvirt");
		goto out;
	}
	if (hosts_file) {
		if (hosts_load(hosts_file, &hs))
			goto out;
	} else if (be == &backend_libvirt) {
		char err[256];
		const char *u = uri ? uri : getenv("LIBVIRT_DEFAULT_URI");

		if (hosts_from_uri(u && *u ? u : "qemu:///session", so.jobs, &hs, err,
				   sizeof(err))) {
			error("%s", err);
			goto out;
		}
	}
	if (so.boot_timeout > so.total_timeout)
		so.boot_timeout = so.total_timeout;

	/* every input is checked before anything starts or is written */
	if (nk) {
		for (size_t i = 0; i < nk; i++) {
			char *arch = NULL, *path = NULL, *label = NULL;
			struct job *j;

			if (split_kernel(kernels[i], &arch, &path, &label))
				goto out;
			if (arches && !in_list(arches, arch)) {
				free(arch), free(path), free(label);
				continue;
			}
			j = job_new();
			add_job(&c, j);
			int bad = make_job(j, arch, path, label, tests, ovr, novr, append);
			free(arch), free(path), free(label);
			if (bad)
				goto out;
		}
	} else if (default_jobs(&c, arches, tests, ovr, novr, append)) {
		goto out;
	}
	if (!c.n) {
		error("nothing to run (no matching kernels)");
		goto out;
	}
	for (size_t i = 0; i < c.n; i++)
		c.jobs[i]->be = be;
	if (hs.n && setup_hosts(&c, &hs, &so, jobs_given)) {
		ret = 3;
		goto out;
	}
	if (be->connect && connect_backend(&c, be, lava_url, lava_tok, &so, jobs_given, &ret))
		goto out;

	cx->db = db;
	c.st = cmd_store(cx);
	if (!c.st)
		goto out;
	if (store_mark_stale_runs(c.st))
		goto out;
	char *at = argv_text(argc, argv);
	c.run = store_run_begin(c.st, at);
	free(at);
	if (c.run < 0)
		goto out;

	/* the database's own log directory, made by store_run_begin */
	char *logdir = logdir_run(store_path(c.st), c.run);
	for (size_t i = 0; i < c.n; i++) {
		struct job *j = c.jobs[i];

		j->seq = (int)i + 1;
		if (tree) {
			free(j->tree);
			j->tree = xstrdup(tree);
		}
		j->candidate_id = store_candidate(c.st, j->arch, j->label, j->tree,
						  j->image_sha256, j->kernel);
		if (j->candidate_id < 0) {
			free(logdir);
			store_run_end(c.st, c.run, RUN_FAILED);
			goto out;
		}
		j->log_path = xasprintf("%s/%02d-%s-%s.log", logdir, j->seq, j->arch, j->label);
	}
	free(logdir);

	c.tty = isatty(2);
	c.t0 = now_mono();
	so.on_state = on_state;
	so.on_done = on_done;
	so.on_pool_down = on_pool_down;
	so.on_tick = c.tty ? on_tick : NULL;
	so.data = &c;
	interrupted = sched_run(c.jobs, c.n, &so);
	if (!interrupted && confirm)
		interrupted = confirm_runs(&c, &so, confirm, logdir_run(store_path(c.st), c.run));
	progress_draw(&c);
	store_run_end(c.st, c.run, interrupted ? RUN_INTERRUPTED : RUN_COMPLETE);

	json_t *changes = run_changes(&c);

	if (json)
		print_json(&c, changes);
	else
		print_summary(&c, changes, stdout);
	json_decref(changes);

	ret = 0;
	int infra = 0;
	for (size_t i = 0; i < c.n; i++) {
		struct job *j = c.jobs[i];
		int cnt[4];

		count(j, cnt);
		if (j->outcome == JOB_INFRA_ERROR)
			infra = 1;
		else if (j->outcome != JOB_COMPLETE || cnt[RS_FAIL] || cnt[RS_MISSING])
			ret = 1;
	}
	if (!ret && infra)
		ret = 3;
	if (c.store_failed) {
		error("some results could not be stored in '%s'", store_path(c.st));
		ret = 3;
	}
	if (interrupted) {
		error("interrupted; run %lld marked as such", (long long)c.run);
		ret = 130;
	}
out:
	for (size_t i = 0; i < c.n; i++)
		job_free(c.jobs[i]);
	free(c.jobs);
	strv_free(kernels);
	strv_free(arches);
	strv_free(tests);
	for (size_t i = 0; i < novr; i++)
		free(ovr[i].arch), free(ovr[i].path);
	free(ovr);
	free(db);
	free(append);
	free(tree);
	free(uri);
	free(hosts_file);
	free(lava_url);
	free(lava_tok);
	free(so.pools);
	hosts_release(&hs);
	return ret;
}
