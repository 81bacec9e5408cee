/* kfarm run, stage 2 (build), --source only: candidates resolved before
 * anything starts (run_build_prepare), then built in one of two ways:
 *   - overlapping the boots (run_build_feed): the builds run as children
 *     inside the scheduler's own loop (drive_feed); each arch that builds
 *     becomes a plan spec the moment its kernel is ready, so it boots while
 *     the other arches still build;
 *   - all first (run_build_sync), for --kselftest, whose targets are built
 *     per source after its kernels.
 * Once the jobs ran, record() stores sources and builds and ties each
 * build to its job's candidate.
 *
 * Cores: one build at a time (--build-jobs) at make -jNCPU (--make-jobs),
 * niced by 10, while up to --jobs VMs run at normal priority: a build uses
 * every core nothing else wants (the first arch, with nothing to boot yet,
 * builds at full speed), and a booting VM, whose timeouts are wall-clock,
 * takes its core from the build rather than waiting behind it. */
#ifndef KFARM_RUN_BUILD_H
#define KFARM_RUN_BUILD_H

#include "run_drive.h"
#include "run_plan.h"
#include "kselftest.h"
#include "srcset.h"

#include <stdint.h>
#include <stdio.h>

struct store;

struct rb_proc {
	struct build_proc bp;
	size_t idx;		/* its build: srcset.b[idx] */
	char shown[48];		/* the phase last printed (not a tty) */
};

struct run_build {
	struct srcset ss;
	struct kselftest ks;	/* --kselftest (kselftest_parse'd by cmd_run) */
	size_t *spec;		/* per build: its plan spec, SIZE_MAX: not built */
	/* overlapping (run_build_feed) */
	struct run_plan *plan;
	struct drive_feed feed;
	size_t cur, next_arch;	/* the source being built, its next arch */
	int prepared;		/* cur's tree is ready */
	struct rb_proc *procs;	/* build_jobs of them; bp.pid 0: free */
	unsigned int build_jobs, running;
	size_t resolved;	/* builds with a result */
	double t0;
	struct run_drive *drive;	/* its lines go above drive's progress */
};

/* Resolves specs and checks the arches can boot (-1: printed, bad input);
 * tree and label as kfarm run's --tree and --label. */
int run_build_prepare(struct run_build *b, struct run_plan *p, char **specs,
		      const char *patches, const char *label);
/* Builds every candidate now, each built arch a spec of the plan; returns
 * the signal that interrupted it, 0: none (a tree that could not be
 * prepared is ERROR builds, ss.unprepared). */
int run_build_sync(struct run_build *b);
/* The builds as d's feed (its lines above d's progress): build_jobs at
 * once (0: 1), make -j make_jobs (0: the script's default). */
const struct drive_feed *run_build_feed(struct run_build *b, struct run_drive *d,
					unsigned int build_jobs, unsigned int make_jobs);
int run_build_record(struct run_build *b, const struct run_plan *p, struct store *st,
		     int64_t run, const char *db_path);
/* srcset_report: 0, 1 a FAIL, 3 an ERROR */
int run_build_report(const struct run_build *b, FILE *f);
void run_build_release(struct run_build *b);

#endif
