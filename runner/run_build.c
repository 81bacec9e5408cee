/* kfarm run, build: --source candidates built, then a job per built arch. */
#include "accel.h"
#include "backend.h"
#include "build_regress.h"
#include "cache.h"
#include "cmds.h"
#include "hosts.h"
#include "job.h"
#include "logdir.h"
#include "pin.h"
#include "profile.h"
#include "regress.h"
#include "run.h"
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

/* --source: build every candidate for the selected arches, then a job for
 * each arch that built (the others are recorded by srcset_record). */
int source_jobs(struct run_ctx *c, struct srcset *ss, char **specs, const char *patches,
		       char **arches, const char *tree, const char *label, char **tests,
		       struct initrd_override *ovr, size_t novr, const char *append)
{
	if (srcset_resolve(ss, specs, patches, arches, tree, label))
		return -1;
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
		if (make_job(j, ss->b[i].arch, ss->b[i].image, s->label, tests, ovr, novr, append))
			return -1;
		j->tree = xstrdup(s->tree);
		ss->job[i] = j;
	}
	return 0;
}
