/* kfarm run, hosts (run_hosts.h). */
#include "run_hosts.h"
#include "job.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>

static int pool_accepts(const struct sched_pool *p, const struct job *j)
{
	return host_arch(p->host, j->arch) != NULL;
}

/* Every arch of the plan must have a pool that accepts it: said with the
 * first job of that arch and the emulator it needs. */
static int unplaceable(const struct run_plan *p, const struct sched_opts *so)
{
	char **arches = plan_arches(p);
	int bad = 0;

	for (char **a = arches; *a && !bad; a++) {
		struct job *j = plan_job(p, plan_first_of(p, *a));
		int ok = 0;

		for (size_t k = 0; j && k < so->npools && !ok; k++)
			ok = pool_accepts(&so->pools[k], j);
		if (j && !ok)
			error("no usable host can run %s (%s): no %s on any of them", j->arch,
			      j->label, j->profile.qemu_binary);
		bad = !j || !ok;
		job_free(j);
	}
	strv_free(arches);
	return bad ? -1 : 0;
}

/* Connects to and probes every host; the usable ones become the
 * scheduler's pools. Every job must be runnable on one of them. */
int setup_hosts(const struct run_plan *p, struct hosts *hs, struct sched_opts *so,
		int jobs_given)
{
	unsigned int total = 0;
	size_t up = 0;

	so->pools = xcalloc(hs->n, sizeof(*so->pools));
	for (size_t i = 0; i < hs->n; i++) {
		struct host *h = &hs->v[i];
		struct sb arches;

		if (host_probe_with(h, p->o->be, 0) < 0) {
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
	if (unplaceable(p, so))
		return -1;
	if (!jobs_given || so->jobs > total)
		so->jobs = total;
	return 0;
}

/* A backend that runs VMs through a service (LAVA): reached and probed before
 * anything is written; by default as many parallel jobs as it has VMs. */
int connect_backend(const struct run_plan *p, const struct backend *be, const char *url,
		    const char *secret_file, struct sched_opts *so, int jobs_given, int *ret)
{
	char **arches = plan_arches(p);
	struct err err;
	int n;

	n = backend_connect(be, url, secret_file, arches, &err);
	strv_free(arches);
	if (n < 0) {
		error("%s", err.msg);
		*ret = n == -1 ? 2 : 3;
		return -1;
	}
	if (!jobs_given)
		so->jobs = (unsigned)n;
	return 0;
}
