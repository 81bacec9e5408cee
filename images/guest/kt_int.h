/*
 * kt_int.h - harness internals shared by kt.c (test side) and init.c,
 * prog.c (runner side).  Tests include only kt.h.
 */
#ifndef KFARM_KT_INT_H
#define KFARM_KT_INT_H

#include <sys/types.h>

/* one per running test, in a MAP_SHARED page set up by init.c */
struct kt_shared {
	int total, pass, fail, skip;	/* subtest counts */
	int skip_all;			/* 0, 1 = being written, 2 = set */
	int brok;
	int first_skip_set;
	char skip_reason[256];
	char brok_reason[256];
	char first_skip[256];
};

enum { KT_VERDICT_SKIP, KT_VERDICT_BROK };

/* exit status of a test child that called kt_brok() */
#define KT_EXIT_BROK 3

/*
 * Waits for child `pid` (the leader of its own process group) while
 * reading its output from non-blocking `fd` through drain(fd, arg), which
 * returns 0 once fd is at end of file; it is also called at least every
 * 50 ms while fd is quiet (and must then return 1 on EAGAIN).  At `deadline` (kt_now() seconds;
 * 0: none) the group is killed.  Then whatever is left in the group is
 * killed, fd drained once more and, as PID 1 inherits orphans, every
 * exited child reaped.  The child's wait status in *status; returns 1 if
 * it was killed at the deadline, else 0.  fd stays open.
 */
int kt_reap(pid_t pid, int fd, double deadline, int (*drain)(int fd, void *arg), void *arg,
	    int *status);

extern struct kt_shared *kt_sh;
extern const char *kt_opts_str;
extern double kt_scale_val;
extern const char *kt_exe_path;

#endif
