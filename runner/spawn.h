/* Running a helper program (git, tar, patch, images/kernel.sh): argv only,
 * never a shell; stdin from /dev/null, stdout and stderr into a file or a
 * bounded buffer. */
#ifndef KFARM_SPAWN_H
#define KFARM_SPAWN_H

#include "err.h"

#include <stddef.h>

struct sb;

/* Runs argv[0] (searched in PATH) in cwd (NULL: here) and waits. Output goes
 * to the file out_path (appended) when given, else into out (at most max
 * bytes kept) when given, else to /dev/null. Returns the exit status, 128+N
 * for a death by signal N, or -1 with e ("cannot run git: No such file or
 * directory") if it did not start. */
int spawn_run(char *const argv[], const char *cwd, const char *out_path, struct sb *out,
	      size_t max, struct err *e);
/* rm -rf -- path (a tree kfarm made: an unpack, a test's scratch); rm's
 * exit status, or -1 with e. */
int spawn_rm_rf(const char *path, struct err *e);

#endif
