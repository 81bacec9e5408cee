/*
 * prog.h - /init's runner for programs it did not build: user programs
 * (/kfarm/user/NAME, one top-level result "user:NAME") and kselftest
 * targets (/kfarm/kselftest/TARGET/, one top-level result "kselftest:TARGET"
 * with one nested result per program).  Output is streamed to the console
 * line by line as it comes (through a pty when the kernel has one, so a
 * stdio-buffered program is line-buffered), indented under its result.
 * Results follow kselftest's rules: exit 0 ok, 4 SKIP (with the program's
 * own "1..0 # SKIP reason"), a "# Totals:" line with failures is not ok
 * whatever the exit status; a script whose interpreter is missing is SKIP.
 */
#ifndef KFARM_PROG_H
#define KFARM_PROG_H

#define KSELFTEST_DIR "/kfarm/kselftest"
#define KSELFTEST_PREFIX "kselftest:"
#define KSELFTEST_DEFAULT_TIMEOUT 45	/* kselftest/runner.sh's default */

/* Runs one user program as top-level test n; returns 1 ok, 0 not ok. */
int prog_run_user(int n, const char *name, const char *path, double limit);
/* Runs kselftest target `target` from dir (its programs listed in
 * dir/kfarm-list, timeout from dir/settings, scaled by scale) as top-level
 * test n; returns 1 ok, 0 not ok. */
int prog_run_kselftest(int n, const char *name, const char *dir, double scale);
/* Targets packed under root (each a directory with kfarm-list), sorted;
 * *count receives their number. */
char **prog_list_kselftest(const char *root, int *count);

#endif
