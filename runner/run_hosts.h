/* kfarm run, hosts: before the drive stage, the hosts that will run the
 * plan's jobs (connected and probed, each a scheduler pool) or a service
 * backend reached. Every job of the plan must be runnable somewhere. */
#ifndef KFARM_RUN_HOSTS_H
#define KFARM_RUN_HOSTS_H

#include "backend.h"
#include "hosts.h"
#include "run_plan.h"
#include "sched.h"

/* The usable hosts become so->pools; jobs_given: --jobs was set (else as
 * many as the hosts have free slots). -1: printed. */
int setup_hosts(const struct run_plan *p, struct hosts *hs, struct sched_opts *so,
		int jobs_given);
/* A backend that runs VMs through a service (LAVA): -1 with *ret the exit
 * status (2 bad input, 3 unreachable). */
int connect_backend(const struct run_plan *p, const struct backend *be, const char *url,
		    const char *secret_file, struct sched_opts *so, int jobs_given, int *ret);

#endif
