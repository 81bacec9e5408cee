/*
 * kt_int.h - harness internals shared by kt.c (test side) and init.c
 * (runner side).  Tests include only kt.h.
 */
#ifndef KFARM_KT_INT_H
#define KFARM_KT_INT_H

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

extern struct kt_shared *kt_sh;
extern const char *kt_opts_str;
extern double kt_scale_val;
extern const char *kt_exe_path;

#endif
