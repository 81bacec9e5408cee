/* kfarm run: builds the job list (default matrix or --kernel candidates),
 * checks every input before anything starts, runs the scheduler, stores each
 * finished job, prints progress and a summary. */
#include "accel.h"
#include "backend.h"
#include "build_regress.h"
#include "cache.h"
#include "cmds.h"
#include "hosts.h"
#include "job.h"
#include "kselftest.h"
#include "logdir.h"
#include "pin.h"
#include "profile.h"
#include "regress.h"
#include "sched.h"
#include "srcset.h"
#include "store.h"
#include "text.h"
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
	int64_t *stored;	/* per job (by seq): its final attempt's row, 0: none */
};

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
	"      --label NAME                the --source candidate's name\n"
	"      --kselftest T1,T2,...       also build these tools/testing/selftests targets of\n"
	"                                  each --source and run them as kselftest:T (their\n"
	"                                  config files merged into the kernel's)\n"
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
	/* programs packed in the initramfs: user:NAME, kselftest:TARGET */
	if (!strncmp(t, "user:", 5))
		t += 5;
	else if (!strncmp(t, "kselftest:", 10))
		t += 10;
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
	char sha[65], isha[65];
	char **suite = NULL;
	char *initrd = NULL;
	int initrd_given = 0;

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
		/* what that initramfs runs (its record), user programs too */
		cache_initramfs_suite(arch, initrd, &suite);
		initrd_given = 1;
	} else if (cache_initramfs(arch, &initrd, &suite)) {
		return -1;
	} else if (access(initrd, R_OK) < 0) {
		error_errno("cannot read initramfs '%s' (run 'make images')", initrd);
		free(initrd);
		strv_free(suite);
		return -1;
	}
	/* hashed once, from the bytes that boot (pin.h) */
	if (pin_file(image, sha, &j->boot_kernel) < 0 ||
	    pin_file(initrd, isha, &j->initrd) < 0) {
		free(initrd);
		strv_free(suite);
		return -1;
	}
	j->arch = xstrdup(arch);
	j->label = xstrdup(label);
	j->kernel = abspath(image);
	j->image_sha256 = xstrdup(sha);
	j->initrd_sha256 = xstrdup(isha);
	free(initrd);
	if (tests) {
		size_t n = 0;

		programs_left_out(arch, initrd_given ? suite : NULL, tests);
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

/* --smp / --variant values, each for one arch or (arch NULL) for all */
struct per_arch {
	char *arch, *val;
};

static void per_arch_add(struct per_arch **v, size_t *n, const char *arg)
{
	const char *eq = strchr(arg, '=');

	*v = xrealloc(*v, (*n + 1) * sizeof(**v));
	(*v)[*n].arch = eq ? xstrndup(arg, eq - arg) : NULL;
	(*v)[(*n)++].val = xstrdup(eq ? eq + 1 : arg);
}

static const char *per_arch_get(const struct per_arch *v, size_t n, const char *arch)
{
	const char *any = NULL;

	for (size_t i = 0; i < n; i++) {
		if (v[i].arch && !strcmp(v[i].arch, arch))
			return v[i].val;
		if (!v[i].arch)
			any = v[i].val;
	}
	return any;
}

static void per_arch_free(struct per_arch *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].arch), free(v[i].val);
	free(v);
}

struct machine_opts {
	struct per_arch *smp, *variant;
	size_t nsmp, nvariant;
	enum accel_req accel;
	int accel_given;
};

/* The job's machine (variant, vCPUs, accelerator) and its comparison key,
 * part of the candidate's identity so that only like machines compare. */
static int set_machine(struct job *j, const struct machine_opts *mo)
{
	const char *smp_s = per_arch_get(mo->smp, mo->nsmp, j->arch);
	const char *variant = per_arch_get(mo->variant, mo->nvariant, j->arch);
	unsigned long smp = 0;
	enum accel_req req;
	char err[256], reason[256];

	if (smp_s && (parse_uint(smp_s, 64, &smp) || !smp))
		return error("--smp wants a number of vCPUs 1..64, got '%s'", smp_s);
	if (profile_machine(&j->profile, variant, smp, &j->machine, err, sizeof(err)))
		return error("%s", err);
	req = mo->accel_given ? mo->accel : j->machine.accel;
	if (j->be != &backend_qemu) {
		if (req == ACCEL_KVM)
			return error("%s: --accel kvm needs --backend qemu (the %s backend boots "
				     "with TCG)", j->arch, j->be->name);
		snprintf(j->accel, sizeof(j->accel), "tcg");
		snprintf(reason, sizeof(reason), "%s backend: domain type qemu (TCG)",
			 j->be->name);
	} else if (accel_choose(j->arch, req, j->accel, reason, sizeof(reason))) {
		return error("%s: --accel kvm is impossible here: %s", j->arch, reason);
	} else if (!strcmp(j->accel, "kvm") &&
		   accel_probe_kvm(&j->profile, j->kernel, 20, reason, sizeof(reason))) {
		if (req == ACCEL_KVM)
			return error("%s: --accel kvm is impossible here: %s", j->arch, reason);
		snprintf(j->accel, sizeof(j->accel), "tcg");
	}
	j->accel_reason = xstrdup(reason);
	machine_key(&j->profile, &j->machine, !strcmp(j->accel, "kvm"), j->machine_key,
		    sizeof(j->machine_key));
	return 0;
}

static void add_job(struct run_ctx *c, struct job *j)
{
	c->jobs = xrealloc(c->jobs, (c->n + 1) * sizeof(*c->jobs));
	c->stored = xrealloc(c->stored, (c->n + 1) * sizeof(*c->stored));
	c->stored[c->n] = 0;
	c->jobs[c->n++] = j;
}

/* The default matrix: every built default kernel of the selected arches. */
static int default_jobs(struct run_ctx *c, char **arches, char **versions, char **tests,
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

		if ((arches && !in_list(arches, d[i].arch)) ||
		    (versions && !in_list(versions, d[i].version)))
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

/* --source: build every candidate for the selected arches, then a job for
 * each arch that built (the others are recorded by srcset_record). */
static int source_jobs(struct run_ctx *c, struct srcset *ss, char **specs, const char *patches,
		       char **arches, const char *tree, const char *label, char **tests,
		       struct initrd_override *ovr, size_t novr, const char *append,
		       struct kselftest *ks)
{
	if (srcset_resolve(ss, specs, patches, arches, tree, label))
		return -1;
	kselftest_config(ks);
	kselftest_build(ks, ss);
	for (size_t a = 0; a < ss->narch; a++) {	/* bootable once built? */
		char *initrd = NULL, **suite = NULL;
		int given = 0;

		for (size_t k = 0; k < novr; k++)
			given |= !strcmp(ovr[k].arch, ss->arches[a]);
		if (!given && cache_initramfs(ss->arches[a], &initrd, &suite))
			return -1;
		free(initrd);
		strv_free(suite);
	}
	if (srcset_build(ss))
		return -1;
	for (size_t i = 0; i < ss->n * ss->narch; i++) {
		const struct source *s = &ss->src[i / ss->narch];
		struct job *j;

		if (strcmp(ss->b[i].status, "PASS"))
			continue;
		j = job_new();
		add_job(c, j);
		if (make_job(j, ss->b[i].arch, ss->b[i].image, s->label, tests, ovr, novr, append) ||
		    kselftest_job(ks, i, j, tests != NULL))
			return -1;
		j->tree = xstrdup(s->tree);
		ss->job[i] = j;
	}
	return 0;
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
	struct text_pool p = { 0 };

	if (c->tty) {
		progress_draw(c);
		return;
	}
	if (j->state == JS_DONE)
		fprintf(stderr, "[%7.1fs] %s %s: %s%s%s (%.1fs)\n", now_mono() - c->t0,
			j->arch, j->label, job_outcome_name(j->outcome),
			j->reason ? ": " : "", text_term(&p, j->reason), j->duration_s);
	else
		fprintf(stderr, "[%7.1fs] %s %s: %s%s%s\n", now_mono() - c->t0, j->arch, j->label,
			job_state_name(j->state), j->host && j->state == JS_BOOTING ? " on " : "",
			j->host && j->state == JS_BOOTING ? j->host->name : "");
	text_pool_release(&p);
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

/* What a stored, finished job no longer needs in memory. */
static void job_drop_results(struct job *j)
{
	job_free_results(j);
	ktap_release(&j->ktap);	/* idempotent: job_free releases it again */
	profile_release(&j->profile);	/* a confirmation clone loads its own */
}

static void on_done(struct job *j, int will_retry, void *data)
{
	struct run_ctx *c = data;
	struct text_pool p = { 0 };

	if (will_retry && !c->tty)
		fprintf(stderr, "[%7.1fs] %s %s: infrastructure error on %s, retrying: %s\n",
			now_mono() - c->t0, j->arch, j->label, job_host(j),
			text_term(&p, j->reason));
	text_pool_release(&p);
	int64_t id = store_job(c->st, c->run, j, job_host(j));

	if (id < 0)
		c->store_failed = 1;
	if (!will_retry && j->seq >= 1 && (size_t)j->seq <= c->n)
		c->stored[j->seq - 1] = id > 0 ? id : 0;
	/* the summary reads them back from the store: memory stays flat in
	 * the number of finished jobs */
	if (id > 0 && !will_retry)
		job_drop_results(j);
}

static void on_pool_down(struct sched_pool *p, const char *why, void *data)
{
	struct run_ctx *c = data;
	struct text_pool tp = { 0 };

	fprintf(stderr, "[%7.1fs] host %s is down for this run (%s); its jobs go elsewhere\n",
		now_mono() - c->t0, p->name, text_term(&tp, why));
	text_pool_release(&tp);
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

/* A finished job as the summary shows it: read back from the store (by its
 * final attempt's row), or from memory when it was never stored. */
struct shown {
	const char *outcome, *reason, *release, *host;
	int has_boot, attempt;
	double boot_s, duration_s;
	long long cnt[4];
};

static const char *text_or(sqlite3_stmt *s, int i, const char *dflt)
{
	return sqlite3_column_type(s, i) == SQLITE_TEXT ? (const char *)sqlite3_column_text(s, i)
							 : dflt;
}

static void job_shown(struct run_ctx *c, sqlite3_stmt *q, size_t i, struct shown *o)
{
	struct job *j = c->jobs[i];

	*o = (struct shown){ job_outcome_name(j->outcome), j->reason, j->release, job_host(j),
			     j->t_header != 0, j->attempt, j->boot_s, j->duration_s, { 0 } };
	for (size_t k = 0; k < j->nres; k++)	/* never stored: still in memory */
		if (j->res[k].depth == 0)
			o->cnt[j->res[k].status]++;
	if (!q || !c->stored[i])
		return;
	memset(o->cnt, 0, sizeof(o->cnt));
	sqlite3_reset(q);
	sqlite3_bind_int64(q, 1, c->stored[i]);
	if (sqlite3_step(q) != SQLITE_ROW)
		return;
	o->outcome = text_or(q, 0, "?");
	o->reason = text_or(q, 1, NULL);
	o->release = text_or(q, 2, NULL);
	o->has_boot = sqlite3_column_type(q, 3) != SQLITE_NULL;
	o->boot_s = sqlite3_column_double(q, 3);
	o->duration_s = sqlite3_column_double(q, 4);
	o->attempt = sqlite3_column_int(q, 5);
	o->host = text_or(q, 6, NULL);
	for (int k = 0; k < 4; k++)
		o->cnt[k] = sqlite3_column_int64(q, 7 + k);
}

static sqlite3_stmt *prep_q(struct run_ctx *c, const char *sql)
{
	sqlite3_stmt *q = NULL;

	if (sqlite3_prepare_v2(store_db(c->st), sql, -1, &q, NULL) != SQLITE_OK) {
		error("database '%s': cannot read the run back: %s", store_path(c->st),
		      sqlite3_errmsg(store_db(c->st)));
		q = NULL;
	}
	return q;
}

static sqlite3_stmt *prep_job_q(struct run_ctx *c)
{
	return prep_q(c, "SELECT j.outcome, j.reason, j.release, j.boot_s, j.duration_s,"
			 " j.attempt, j.host, COALESCE(n.pass, 0), COALESCE(n.fail, 0),"
			 " COALESCE(n.skip, 0), COALESCE(n.missing, 0)"
			 " FROM jobs j LEFT JOIN sum_job n ON n.job_id = j.id WHERE j.id = ?");
}

static sqlite3_stmt *prep_res_q(struct run_ctx *c)
{
	return prep_q(c, "SELECT test, status, reason, depth FROM results WHERE job_id = ?"
			 " ORDER BY id");
}

/* 0 all passed, 1 a kernel or test failure, 3 only infrastructure errors */
static int run_verdict(struct run_ctx *c)
{
	sqlite3_stmt *q = prep_job_q(c);
	int ret = 0, infra = 0;

	for (size_t i = 0; i < c->n; i++) {
		struct shown o;

		job_shown(c, q, i, &o);
		if (!strcmp(o.outcome, "INFRA_ERROR"))
			infra = 1;
		else if (strcmp(o.outcome, "COMPLETE") || o.cnt[RS_FAIL] || o.cnt[RS_MISSING])
			ret = 1;
	}
	sqlite3_finalize(q);
	return !ret && infra ? 3 : ret;
}

static void print_failures(struct run_ctx *c, sqlite3_stmt *rq, size_t i, FILE *f)
{
	struct job *j = c->jobs[i];

	if (!rq || !c->stored[i])
		return;
	sqlite3_reset(rq);
	sqlite3_bind_int64(rq, 1, c->stored[i]);
	while (sqlite3_step(rq) == SQLITE_ROW) {
		const char *st = text_or(rq, 1, "?"), *reason = text_or(rq, 2, "");
		struct text_pool p = { 0 };

		if (sqlite3_column_int(rq, 3) == 0 && (!strcmp(st, "FAIL") || !strcmp(st, "MISSING")))
			fprintf(f, "  %s %s: %s %s%s%s\n", j->arch, j->label,
				text_term(&p, text_or(rq, 0, "?")), text_term(&p, st),
				*reason ? ": " : "", text_term(&p, reason));
		text_pool_release(&p);
	}
}

/* Guest text (release, reasons, test names) and the history's strings go
 * through text_term: the summary is for a terminal. */
static void print_summary(struct run_ctx *c, json_t *changes, FILE *f)
{
	sqlite3_stmt *q = prep_job_q(c), *rq = prep_res_q(c);
	struct text_pool p = { 0 };
	json_t *o;
	size_t ci;

	fprintf(f, "\nrun %lld summary\n%-9s %-16s %-12s %6s %5s %5s %5s %5s  %s\n",
		(long long)c->run, "ARCH", "KERNEL", "OUTCOME", "BOOT", "PASS", "FAIL", "SKIP",
		"MISS", "RELEASE");
	for (size_t i = 0; i < c->n; i++) {
		struct job *j = c->jobs[i];
		struct shown s;

		job_shown(c, q, i, &s);
		fprintf(f, "%-9s %-16.16s %-12s %5.1fs %5lld %5lld %5lld %5lld  %s\n", j->arch,
			j->label, s.outcome, s.boot_s, s.cnt[RS_PASS], s.cnt[RS_FAIL],
			s.cnt[RS_SKIP], s.cnt[RS_MISSING], s.release ? text_term(&p, s.release) : "-");
		text_pool_release(&p);
	}
	for (size_t i = 0; i < c->n; i++) {
		struct job *j = c->jobs[i];
		struct shown s;

		job_shown(c, q, i, &s);
		if (strcmp(s.outcome, "COMPLETE"))
			fprintf(f, "  %s %s: %s: %s\n", j->arch, j->label, s.outcome,
				text_term(&p, s.reason));
		text_pool_release(&p);
		print_failures(c, rq, i, f);
	}
	sqlite3_finalize(q);
	sqlite3_finalize(rq);
	if (json_array_size(changes))
		fprintf(f, "\nchanges since the previous candidate of each tree:\n");
	json_array_foreach(changes, ci, o) {
		json_t *from = json_object_get(o, "from"), *to = json_object_get(o, "to");

		fprintf(f, "  %-14s %-12s %-8s %-16s %s %s -> %s %s\n",
			text_term(&p, json_string_value(json_object_get(o, "kind"))),
			text_term(&p, json_string_value(json_object_get(o, "tree"))),
			text_term(&p, json_string_value(json_object_get(o, "arch"))),
			text_term(&p, json_string_value(json_object_get(o, "test"))),
			text_term(&p, json_string_value(json_object_get(from, "kernel"))),
			text_term(&p, json_string_value(json_object_get(from, "status"))),
			text_term(&p, json_string_value(json_object_get(to, "kernel"))),
			text_term(&p, json_string_value(json_object_get(to, "status"))));
		text_pool_release(&p);
	}
}

static json_t *nstr(const char *s)
{
	return s ? json_string(s) : json_null();
}

/* One job's summary object, its results read back from the store. */
static json_t *job_json(struct run_ctx *c, sqlite3_stmt *q, sqlite3_stmt *rq, size_t i)
{
	struct job *j = c->jobs[i];
	json_t *res = json_array();
	struct shown s;

	job_shown(c, q, i, &s);
	if (rq && c->stored[i]) {
		sqlite3_reset(rq);
		sqlite3_bind_int64(rq, 1, c->stored[i]);
		while (sqlite3_step(rq) == SQLITE_ROW) {
			const char *reason = text_or(rq, 2, NULL);
			json_t *ro = json_pack("{s:s, s:s}", "test", text_or(rq, 0, "?"),
					       "status", text_or(rq, 1, "?"));

			if (ro && reason && *reason)
				json_object_set_new(ro, "reason", nstr(reason));
			if (!ro || json_array_append_new(res, ro)) {
				json_decref(res);
				return NULL;
			}
		}
	}
	return json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:f, s:i, s:o, s:s, s:o, s:i, s:i,"
			 " s:s, s:s, s:I, s:I, s:I, s:I, s:o}",
			 "arch", j->arch, "label", j->label, "kernel", j->kernel,
			 "outcome", s.outcome, "reason", nstr(s.reason), "release", nstr(s.release),
			 "boot_s", s.has_boot ? json_real(s.boot_s) : json_null(),
			 "duration_s", s.duration_s, "attempts", s.attempt,
			 "host", nstr(s.host ? s.host : job_host(j)),
			 /* the machine asked for, kept in memory (never freed with the results) */
			 "machine", j->machine_key,
			 "variant", *j->machine.variant ? json_string(j->machine.variant) : json_null(),
			 "smp", (int)j->machine.smp, "memory_mb", (int)j->machine.memory_mb,
			 "accel", j->accel, "accel_reason", j->accel_reason ? j->accel_reason : "",
			 "pass", (json_int_t)s.cnt[RS_PASS], "fail", (json_int_t)s.cnt[RS_FAIL],
			 "skip", (json_int_t)s.cnt[RS_SKIP], "missing", (json_int_t)s.cnt[RS_MISSING],
			 "results", res);
}

/* Streamed job by job, so that a long run's summary needs no memory per job. */
static int print_json(struct run_ctx *c, json_t *changes)
{
	sqlite3_stmt *q = prep_job_q(c), *rq = prep_res_q(c);
	char *ch = json_dumps(changes, JSON_INDENT(2));
	int bad = !ch;

	printf("{\n\"run\": %lld,\n\"changes\": %s,\n\"jobs\": [\n", (long long)c->run, ch ? ch : "[]");
	free(ch);
	for (size_t i = 0; i < c->n; i++) {
		json_t *o = job_json(c, q, rq, i);

		if (!o) {
			bad = 1;
			continue;
		}
		if (i)
			fputs(",\n", stdout);
		json_dumpf(o, stdout, JSON_INDENT(2));
		json_decref(o);
	}
	fputs("\n]\n}\n", stdout);
	sqlite3_finalize(q);
	sqlite3_finalize(rq);
	if (bad)
		error("some jobs could not be written to the JSON summary (a value jansson refused)");
	return bad;
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
	if (build_regress_append(store_db(c->st), NULL, c->run, all))
		error("cannot compare builds: %s", sqlite3_errmsg(store_db(c->st)));
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
			       !strcmp(json_string_value(json_object_get(json_object_get(o, "to"),
									  "kernel")), j->label) &&
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
		{ "source", required_argument, NULL, 's' },
		{ "patches", required_argument, NULL, 'P' },
		{ "label", required_argument, NULL, 'L' },
		{ "kselftest", required_argument, NULL, 'G' },
		{ "kernels", required_argument, NULL, 'g' },
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
		{ "smp", required_argument, NULL, 'p' },
		{ "variant", required_argument, NULL, 'V' },
		{ "accel", required_argument, NULL, 'X' },
		{ "lava-url", required_argument, NULL, 'W' },
		{ "lava-token-file", required_argument, NULL, 'F' },
		/* exact name: else getopt takes it as an abbreviation of -file */
		{ "lava-token", required_argument, NULL, 'K' },
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
	struct machine_opts mo = { 0 };
	char **sources = NULL, *patches = NULL, *src_label = NULL;	/* --source candidates */
	size_t nsrc = 0;
	struct srcset ss = { 0 };
	struct kselftest ks = { 0 };
	char **versions = NULL;		/* --kernels: default kernel versions */

	optind = 1;
	while ((opt = getopt_long(argc, argv, "k:s:a:t:j:d:h", opts, NULL)) != -1) {
		switch (opt) {
		case 's':
			sources = xrealloc(sources, (nsrc + 2) * sizeof(char *));
			sources[nsrc++] = xstrdup(optarg);
			sources[nsrc] = NULL;
			break;
		case 'P':
			free(patches);
			patches = xstrdup(optarg);
			break;
		case 'g':
			strv_free(versions);
			versions = split_list(optarg);
			break;
		case 'G':
			if (kselftest_parse(&ks, optarg))
				goto out;
			break;
		case 'L':
			free(src_label);
			src_label = xstrdup(optarg);
			break;
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
		case 'p':
			per_arch_add(&mo.smp, &mo.nsmp, optarg);
			break;
		case 'V':
			per_arch_add(&mo.variant, &mo.nvariant, optarg);
			break;
		case 'X':
			if (accel_req_parse(optarg, &mo.accel)) {
				error("--accel wants auto, kvm or tcg, got '%s'", optarg);
				goto out;
			}
			mo.accel_given = 1;
			break;
		case 'W':
			free(lava_url);
			lava_url = xstrdup(optarg);
			break;
		case 'F':
			free(lava_tok);
			lava_tok = xstrdup(optarg);
			break;
		case 'K':
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
		char err[1024];
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
	if (nk && nsrc) {
		error("--kernel and --source exclude each other");
		goto out;
	}
	if (versions && (nk || nsrc)) {
		error("--kernels picks default kernels: not with --kernel or --source");
		goto out;
	}
	if ((patches || src_label || ks.targets) && !nsrc) {
		error("--patches, --label and --kselftest go with --source");
		goto out;
	}
	if (nsrc) {
		if (source_jobs(&c, &ss, sources, patches, arches, tree, src_label, tests, ovr, novr,
				append, &ks))
			goto out;
	} else if (nk) {
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
	} else if (default_jobs(&c, arches, versions, tests, ovr, novr, append)) {
		goto out;
	}
	if (!c.n && !ss.n) {
		error("nothing to run (no matching kernels)");
		goto out;
	}
	for (size_t i = 0; i < c.n; i++) {
		c.jobs[i]->be = be;
		if (set_machine(c.jobs[i], &mo))
			goto out;
	}
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
		j->candidate_id = store_candidate_machine(c.st, j->arch, j->label,
							  j->machine_key, j->tree,
							  j->image_sha256, j->kernel);
		if (j->candidate_id < 0) {
			free(logdir);
			store_run_end(c.st, c.run, RUN_FAILED);
			goto out;
		}
		j->log_path = xasprintf("%s/%02d-%s-%s.log", logdir, j->seq, j->arch, j->label);
	}
	free(logdir);
	if (ss.n && (srcset_record(&ss, c.st, c.run, cmd_db_path(cx), 1, tests) ||
		     kselftest_record(&ks, &ss, c.st, c.run, cmd_db_path(cx)))) {
		store_run_end(c.st, c.run, RUN_FAILED);
		ret = 3;
		goto out;
	}

	c.tty = isatty(2);
	c.t0 = now_mono();
	so.on_state = on_state;
	so.on_done = on_done;
	so.on_pool_down = on_pool_down;
	so.on_tick = c.tty ? on_tick : NULL;
	so.data = &c;
	interrupted = c.n ? sched_run(c.jobs, c.n, &so) : 0;
	if (!interrupted && confirm)
		interrupted = confirm_runs(&c, &so, confirm, logdir_run(store_path(c.st), c.run));
	progress_draw(&c);
	store_run_end(c.st, c.run, interrupted ? RUN_INTERRUPTED : RUN_COMPLETE);

	json_t *changes = run_changes(&c);

	int bad_json = 0;

	if (json)
		bad_json = print_json(&c, changes);
	else
		print_summary(&c, changes, stdout);
	json_decref(changes);

	ret = run_verdict(&c);	/* 0, 1 (failure) or 3 (infrastructure only) */
	if (ss.n) {
		int b = srcset_report(&ss, json ? stderr : stdout);

		kselftest_report(&ks, &ss, json ? stderr : stdout);

		if (b == 1 || (b == 3 && !ret))
			ret = b;
	}
	if (bad_json && !ret)
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
	free(c.stored);
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
	per_arch_free(mo.smp, mo.nsmp);
	per_arch_free(mo.variant, mo.nvariant);
	hosts_release(&hs);
	srcset_release(&ss);
	kselftest_release(&ks);
	strv_free(versions);
	strv_free(sources);
	free(patches);
	free(src_label);
	return ret;
}
