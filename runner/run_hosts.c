/* kfarm run, hosts: the scheduler's pools and a service backend's connection. */
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

void on_pool_down(struct sched_pool *p, const char *why, void *data)
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
int setup_hosts(struct run_ctx *c, struct hosts *hs, struct sched_opts *so,
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
int connect_backend(struct run_ctx *c, const struct backend *be, const char *url,
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
