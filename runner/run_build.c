/* kfarm run, build (run_build.h). */
#include "run_build.h"
#include "cache.h"
#include "job.h"
#include "store.h"
#include "util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Is every selected arch bootable once built (an initramfs for it)? */
static int bootable(const struct srcset *ss, const struct plan_opts *o)
{
	for (size_t a = 0; a < ss->narch; a++) {
		char *initrd = NULL, **suite = NULL;
		int given = 0;

		for (size_t k = 0; k < o->novr; k++)
			given |= !strcmp(o->ovr[k].arch, ss->arches[a]);
		if (!given && cache_initramfs(ss->arches[a], &initrd, &suite))
			return -1;
		free(initrd);
		strv_free(suite);
	}
	return 0;
}

/* A built candidate's job boots its kselftest initramfs (plan_spec.finish). */
static int ks_finish(const void *data, size_t key, struct job *j, int tests_given)
{
	return kselftest_job(data, key, j, tests_given);
}

int run_build(struct run_build *b, struct run_plan *p, char **specs, const char *patches,
	      const char *label)
{
	struct srcset *ss = &b->ss;

	if (srcset_resolve(ss, specs, patches, p->o->arches, p->o->tree, label) ||
	    bootable(ss, p->o))
		return -1;
	kselftest_config(&b->ks);
	kselftest_build(&b->ks, ss);
	if (srcset_build(ss))
		return -1;
	b->spec = xcalloc(ss->n * ss->narch + 1, sizeof(*b->spec));
	for (size_t i = 0; i < ss->n * ss->narch; i++) {
		const struct source *s = &ss->src[i / ss->narch];

		b->spec[i] = SIZE_MAX;
		if (strcmp(ss->b[i].status, "PASS"))
			continue;
		b->spec[i] = plan_add(p, ss->b[i].arch, ss->b[i].image, s->label, s->tree);
		p->own[b->spec[i]].finish = ks_finish;
		p->own[b->spec[i]].fdata = &b->ks;
		p->own[b->spec[i]].fkey = i;
	}
	return 0;
}

/* srcset_record links builds to jobs by their candidates: the jobs exist
 * here only for that (drive builds its own from the same specs, same ids). */
int run_build_record(struct run_build *b, const struct run_plan *p, struct store *st,
		     int64_t run, const char *db_path)
{
	struct srcset *ss = &b->ss;
	size_t nb = ss->n * ss->narch;
	int ret = 0;

	for (size_t i = 0; i < nb && !ret; i++) {
		struct job *j;

		if (b->spec[i] == SIZE_MAX)
			continue;
		j = ss->job[i] = plan_job(p, b->spec[i]);
		if (!j || (j->candidate_id = store_job_candidate(st, j)) < 0)
			ret = -1;
	}
	if (!ret)
		ret = srcset_record(ss, st, run, db_path, 1, p->o->tests) ||
		      kselftest_record(&b->ks, ss, st, run, db_path);
	for (size_t i = 0; i < nb; i++) {
		job_free(ss->job[i]);
		ss->job[i] = NULL;
	}
	return ret;
}

int run_build_report(const struct run_build *b, FILE *f)
{
	int ret = b->ss.n ? srcset_report(&b->ss, f) : 0;

	if (b->ss.n)
		kselftest_report(&b->ks, &b->ss, f);
	return ret;
}

void run_build_release(struct run_build *b)
{
	srcset_release(&b->ss);
	kselftest_release(&b->ks);
	free(b->spec);
}
