/* kfarm run, stage 2 (build), between plan and drive: --source candidates
 * resolved, prepared and built (srcset.h); each arch that built becomes one
 * more spec of the plan. Once the run exists, record() stores sources and
 * builds and ties each build to its job's candidate. */
#ifndef KFARM_RUN_BUILD_H
#define KFARM_RUN_BUILD_H

#include "run_plan.h"
#include "kselftest.h"
#include "srcset.h"

#include <stdint.h>
#include <stdio.h>

struct store;

struct run_build {
	struct srcset ss;
	struct kselftest ks;	/* --kselftest (kselftest_parse'd by cmd_run) */
	size_t *spec;		/* per build: its plan spec, SIZE_MAX: not built */
};

/* Resolves and builds specs (-1: printed, bad input); tree and label as
 * kfarm run's --tree and --label. */
int run_build(struct run_build *b, struct run_plan *p, char **specs, const char *patches,
	      const char *label);
int run_build_record(struct run_build *b, const struct run_plan *p, struct store *st,
		     int64_t run, const char *db_path);
/* srcset_report: 0, 1 a FAIL, 3 an ERROR */
int run_build_report(const struct run_build *b, FILE *f);
void run_build_release(struct run_build *b);

#endif
