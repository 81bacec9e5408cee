/*
 * flaky: fails with probability flaky.fail_pct percent (kfarm.opt, default
 * 50), passes otherwise.  Explicit only: it exists to test the runner's
 * retry and flake handling.
 */
#define _GNU_SOURCE
#include <sys/random.h>

#include "../kt.h"

static void run(void)
{
	long pct = kt_opt_long("flaky.fail_pct", 50);
	unsigned int r = 0;

	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r) &&
	    getrandom(&r, sizeof(r), GRND_INSECURE) != sizeof(r))
		kt_brok("getrandom: %s", kt_errname(errno));
	r %= 100;
	kt_diag("fail_pct %ld, drew %u", pct, r);
	kt_check((long)r >= pct, "coin", "drew %u < fail_pct %ld", r, pct);
}

KT_TEST(.name = "flaky", .run = run, .timeout = 10, .explicit = 1,
	.desc = "fails with probability flaky.fail_pct (runner tests)");
