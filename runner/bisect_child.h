/* Child kfarm processes of a bisection: argv only, never a shell. */
#ifndef KFARM_BISECT_CHILD_H
#define KFARM_BISECT_CHILD_H

#include "err.h"

#include <sys/types.h>

/* Whether pid is alive and runs this kfarm binary (1 when it cannot tell). */
int pid_is_kfarm(long pid);
/* This kfarm with argv, stdin /dev/null, stdout and stderr appended to log;
 * its pid, or -1 with e. */
pid_t spawn_kfarm(char **argv, const char *log, struct err *e);
/* Waits for pid: its exit status, 128+N for signal N, or -1. */
int wait_kfarm(pid_t pid);

#endif
