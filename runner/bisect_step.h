/* A bisection in progress, and one step of it: its runs until a verdict. */
#ifndef KFARM_BISECT_STEP_H
#define KFARM_BISECT_STEP_H

#include "bisect.h"
#include "bisect_db.h"
#include "err.h"
#include "text.h"

#include <sqlite3.h>

struct bctx {
	sqlite3 *db;
	struct bisect_rec b;
	char *priv;		/* the private clone */
	char *db_path, *top, *logdir, *child_tree;
	int resumed;
	double wall;		/* this bisection's step wall time, all sessions */
	struct text_pool tp;
};

struct stepres {
	enum bisect_verdict v;
	struct bisect_tally t;
	double build_s, boot_s, wall_s;
	int reused;
};

/* Step kind (verify_good, step, confirm_bad, ...) of commit: its stored
 * verdict if it has one, else runs until bisect_verdict decides (want and
 * full: see there); the step's line printed. -1: give up, with why in e (a child
 * that refused its input or could not start, too many infrastructure
 * errors, the database). */
int do_step(struct bctx *c, const char *kind, const char *commit, unsigned int want,
	    int full, struct stepres *r, struct err *e);

#endif
