/* kfarm run, plan (run_plan.h). */
#include "run_plan.h"
#include "cache.h"
#include "job.h"
#include "kselftest.h"
#include "logdir.h"
#include "pin.h"
#include "profile.h"
#include "util.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

char **split_list(const char *s)
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

int in_list(char **v, const char *s)
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

int valid_test_name(const char *t)
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
	struct err e;

	if (profile_load(arch, &j->profile, &e) || profile_check_image(&j->profile, image, &e))
		return error("%s", e.msg);
	for (size_t i = 0; i < novr; i++)
		if (!strcmp(ovr[i].arch, arch))
			initrd = xstrdup(ovr[i].path);
	if (initrd) {
		if (access(initrd, R_OK) < 0) {
			error_errno("cannot read initramfs '%s'", initrd);
			free(initrd);
			return -1;
		}
		/* what that initramfs runs (its record), user programs too; a
		 * malformed record is skipped (said) */
		cache_initramfs_suite(arch, initrd, &suite, &e);
		if (e.msg[0])
			error("%s", e.msg);
		initrd_given = 1;
	} else if (cache_initramfs(arch, &initrd, &suite, &e)) {
		return error("%s", e.msg);
	} else if (access(initrd, R_OK) < 0) {
		error_errno("cannot read initramfs '%s' (run 'make images')", initrd);
		free(initrd);
		strv_free(suite);
		return -1;
	}
	/* hashed once, from the bytes that boot (pin.h) */
	if (pin_file(image, sha, &j->boot_kernel, &e) < 0 ||
	    pin_file(initrd, isha, &j->initrd, &e) < 0) {
		free(initrd);
		strv_free(suite);
		return error("%s", e.msg);
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
	j->be = backends[0];	/* the default */
	return 0;
}

void per_arch_add(struct per_arch **v, size_t *n, const char *arg)
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

void per_arch_free(struct per_arch *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].arch), free(v[i].val);
	free(v);
}

/* The job's machine (variant, vCPUs, accelerator) and its comparison key,
 * part of the candidate's identity so that only like machines compare. */
static int set_machine(struct job *j, const struct machine_opts *mo)
{
	const char *smp_s = per_arch_get(mo->smp, mo->nsmp, j->arch);
	const char *variant = per_arch_get(mo->variant, mo->nvariant, j->arch);
	unsigned long smp = 0;
	enum accel_req req;
	struct err err;
	char reason[sizeof(err.msg)];

	if (smp_s && (parse_uint(smp_s, 64, &smp) || !smp))
		return error("--smp wants a number of vCPUs 1..64, got '%s'", smp_s);
	if (profile_machine(&j->profile, variant, smp, &j->machine, &err))
		return error("%s", err.msg);
	req = mo->accel_given ? mo->accel : j->machine.accel;
	if (!(j->be->flags & BACKEND_KVM)) {
		if (req == ACCEL_KVM)
			return error("%s: --accel kvm needs --backend qemu (the %s backend boots "
				     "with TCG)", j->arch, j->be->name);
		snprintf(j->accel, sizeof(j->accel), "tcg");
		snprintf(reason, sizeof(reason), "%s backend: domain type qemu (TCG)",
			 j->be->name);
	} else if (accel_choose(j->arch, req, j->accel, reason, sizeof(reason))) {
		return error("%s: --accel kvm is impossible here: %s", j->arch, reason);
	} else if (!strcmp(j->accel, "kvm") && accel_probe_kvm(&j->profile, j->kernel, 20, &err)) {
		if (req == ACCEL_KVM)
			return error("%s: --accel kvm is impossible here: %s", j->arch, err.msg);
		snprintf(j->accel, sizeof(j->accel), "tcg");
		snprintf(reason, sizeof(reason), "%s", err.msg);
	}
	j->accel_reason = xstrdup(reason);
	machine_key(&j->profile, &j->machine, !strcmp(j->accel, "kvm"), j->machine_key,
		    sizeof(j->machine_key));
	return 0;
}

void plan_init(struct run_plan *p, const struct plan_opts *o)
{
	*p = (struct run_plan){ .o = o };
}

size_t plan_add(struct run_plan *p, const char *arch, const char *image, const char *label,
		const char *tree)
{
	p->own = xrealloc(p->own, (p->nown + 1) * sizeof(*p->own));
	p->own[p->nown] = (struct plan_spec){
		.arch = xstrdup(arch), .image = xstrdup(image), .label = xstrdup(label),
		.tree = tree ? xstrdup(tree) : NULL,
	};
	return p->nown++;
}

int plan_defaults(struct run_plan *p)
{
	struct default_kernel *d;
	char **arches = p->o->arches;
	struct err e;
	size_t nd;

	for (char **a = arches; a && *a; a++) {
		struct profile pr;

		if (profile_load(*a, &pr, &e))
			return error("%s", e.msg);
		profile_release(&pr);
	}
	if (cache_defaults(&d, &nd, &e))
		return error("%s", e.msg);
	if (e.msg[0])	/* a malformed file, skipped */
		error("%s", e.msg);
	for (size_t i = 0; i < nd; i++) {
		char *label;

		if ((arches && !in_list(arches, d[i].arch)) ||
		    (p->o->versions && !in_list(p->o->versions, d[i].version)))
			continue;
		if (strcmp(d[i].status, "built")) {
			fprintf(stderr, "kfarm: skipping %s %s: kernel did not build: %s\n",
				d[i].arch, d[i].version, d[i].error ? d[i].error : "?");
			continue;
		}
		label = xasprintf("debian-%s", d[i].version);
		/* the Debian source's series */
		plan_add(p, d[i].arch, d[i].image ? d[i].image : "", label, label);
		free(label);
	}
	cache_defaults_free(d, nd);
	free(d);
	return 0;
}

int plan_kernels(struct run_plan *p, char **kernels)
{
	for (char **k = kernels; k && *k; k++) {
		char *arch, *path, *label;
		int keep;

		if (split_kernel(*k, &arch, &path, &label))
			return -1;
		keep = !p->o->arches || in_list(p->o->arches, arch);
		free(arch), free(path), free(label);
		if (!keep)
			continue;
		if (!(p->nargs & (p->nargs - 1)))
			p->args = xrealloc(p->args, (p->nargs ? 2 * p->nargs : 1) * sizeof(*p->args));
		p->args[p->nargs++] = *k;
	}
	return 0;
}

size_t plan_size(const struct run_plan *p)
{
	return p->nown + p->nargs;
}

struct job *plan_job(const struct run_plan *p, size_t i)
{
	const struct plan_opts *o = p->o;
	struct plan_spec sp = { 0 }, *s = &sp;
	struct job *j = job_new();
	int bad;

	if (i < p->nown)
		s = &p->own[i];
	else if (split_kernel(p->args[i - p->nown], &sp.arch, &sp.image, &sp.label))
		goto fail;
	bad = make_job(j, s->arch, s->image, s->label, o->tests, o->ovr, o->novr, o->append);
	if (!bad) {
		j->tree = o->tree ? xstrdup(o->tree) : s->tree ? xstrdup(s->tree) : NULL;
		j->be = o->be;
		bad = set_machine(j, &o->mo);
	}
	if (!bad && s->finish)
		bad = s->finish(s->fdata, s->fkey, j, o->tests != NULL);
	free(sp.arch), free(sp.image), free(sp.label);
	if (!bad)
		return j;
fail:
	job_free(j);
	return NULL;
}

int plan_check(const struct run_plan *p)
{
	for (size_t i = 0; i < plan_size(p); i++) {
		struct job *j = plan_job(p, i);

		if (!j)
			return -1;
		job_free(j);
	}
	return 0;
}

/* spec i's arch (malloc'd) */
static char *spec_arch(const struct run_plan *p, size_t i)
{
	const char *a, *eq;

	if (i < p->nown)
		return xstrdup(p->own[i].arch);
	a = p->args[i - p->nown];
	eq = strchr(a, '=');
	return xstrndup(a, eq ? (size_t)(eq - a) : strlen(a));
}

char **plan_arches(const struct run_plan *p)
{
	char **v = xcalloc(1, sizeof(char *));
	size_t n = 0;

	for (size_t i = 0; i < plan_size(p); i++) {
		char *a = spec_arch(p, i);

		if (in_list(v, a)) {
			free(a);
			continue;
		}
		v = xrealloc(v, (n + 2) * sizeof(char *));
		v[n++] = a;
		v[n] = NULL;
	}
	return v;
}

size_t plan_first_of(const struct run_plan *p, const char *arch)
{
	for (size_t i = 0; i < plan_size(p); i++) {
		char *a = spec_arch(p, i);
		int same = !strcmp(a, arch);

		free(a);
		if (same)
			return i;
	}
	return 0;
}

void plan_layout(struct run_plan *p, const char *db_path, int64_t run)
{
	free(p->logdir);
	p->logdir = logdir_run(db_path, run);
}

char *plan_log_path(const struct run_plan *p, int seq, const struct job *j,
		    unsigned long confirm)
{
	if (confirm)
		return xasprintf("%s/%02d-%s-%s-confirm%lu.log", p->logdir, seq, j->arch,
				 j->label, confirm);
	return xasprintf("%s/%02d-%s-%s.log", p->logdir, seq, j->arch, j->label);
}

void plan_release(struct run_plan *p)
{
	for (size_t i = 0; i < p->nown; i++) {
		free(p->own[i].arch), free(p->own[i].image);
		free(p->own[i].label), free(p->own[i].tree);
	}
	free(p->own);
	free(p->args);
	free(p->logdir);
	*p = (struct run_plan){ 0 };
}
