/*
 * harness: exercises /init's own verdicts, for testing the runner and the
 * harness.  Explicit only.  kfarm.opt=harness.mode=MODE:
 *   pass (default) | fail | skip | hang (runs into its time limit) |
 *   crash (SIGSEGV after one result) | silent (reports nothing) |
 *   brok (setup error) | spam (a thousand diagnostic lines)
 */
#define _GNU_SOURCE
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "../kt.h"

static void run(void)
{
	const char *mode = kt_opt("harness.mode", "pass");

	kt_diag("mode %s", mode);
	if (!strcmp(mode, "pass")) {
		kt_pass("one");
		kt_skip("two", "skipped on purpose");
	} else if (!strcmp(mode, "fail")) {
		kt_pass("one");
		kt_fail("two", "failed on purpose: %d", 42);
	} else if (!strcmp(mode, "skip")) {
		kt_skip_all("skipped on purpose");
	} else if (!strcmp(mode, "hang")) {
		kt_pass("before_hang");
		if (fork() == 0)	/* a group member must die with it */
			for (;;)
				pause();
		for (;;)
			pause();
	} else if (!strcmp(mode, "crash")) {
		kt_pass("before_crash");
		raise(SIGSEGV);
	} else if (!strcmp(mode, "silent")) {
		kt_diag("reporting nothing");
	} else if (!strcmp(mode, "brok")) {
		kt_brok("broken on purpose");
	} else if (!strcmp(mode, "spam")) {
		for (int i = 0; i < 1000; i++)
			kt_diag("line %d of 1000", i);
		kt_pass("after_spam");
	} else {
		kt_brok("unknown harness.mode '%s'", mode);
	}
}

KT_TEST(.name = "harness", .run = run, .timeout = 5, .explicit = 1,
	.desc = "harness self-test: harness.mode=pass|fail|skip|hang|crash|silent|brok|spam");
