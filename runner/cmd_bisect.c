/* kfarm bisect: from a good and a bad revision of a git repository to the
 * commit that broke a test, the build or the boot. Each step is an ordinary
 * child `kfarm run` (or `kfarm build`) of one commit of a private clone in
 * the cache, so every run is in the history like any other and the run
 * pipeline stays the one place that builds and boots. The decisions are in
 * bisect.c, the state in bisect_db.c (resumable after kill -9), git in
 * bisect_git.c, the child processes in bisect_child.c, one step and its
 * runs in bisect_step.c. */
#include "bisect.h"
#include "bisect_db.h"
#include "bisect_git.h"
#include "bisect_step.h"
#include "cmds.h"
#include "store.h"
#include "text.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

static const char bisect_usage[] =
	"usage: kfarm bisect --source REPO --good REV --bad REV --arch A\n"
	"                    (--test T | --build | --outcome) [options]\n"
	"       kfarm bisect --resume ID [--db PATH]\n"
	"\n"
	"Finds the commit between GOOD and BAD (first-parent line) that broke test T\n"
	"(a top-level or nested path, e.g. clone3/size_gt_page_e2big), the build, or\n"
	"the boot (the job's outcome) on arch A. Good and bad are verified first;\n"
	"each step builds the commit incrementally in a private clone in the cache\n"
	"and boots it as a normal run in the database; the culprit is confirmed\n"
	"(it fails again, its parent passes again: 2N runs when N > 1). A killed\n"
	"bisection resumes where it stopped: run the same command again, or\n"
	"--resume ID.\n"
	"\n"
	"  -s, --source REPO      the git repository (never modified)\n"
	"  -g, --good REV         a revision that passes\n"
	"  -b, --bad REV          a later revision that fails\n"
	"  -a, --arch A           the arch to build and boot\n"
	"  -t, --test T           judge by test T's result (FAIL or MISSING = bad)\n"
	"      --build            judge by the build (FAIL = bad)\n"
	"      --outcome          judge by the job's outcome (not COMPLETE = bad)\n"
	"  -n, --runs N           runs per step: bad if any fails, good if all pass\n"
	"                         (default: from the test's flake rate in the history)\n"
	"      --revert-check     also build BAD with the culprit reverted: must pass\n"
	"      --append ARGS      extra kernel command-line arguments for every boot\n"
	"      --tree NAME        the tree of the regression this bisection explains\n"
	"      --resume ID        continue bisection ID from its stored steps (with its\n"
	"                         stored --append, --runs and --revert-check)\n"
	"      --db PATH          history database (default $XDG_DATA_HOME/kfarm/kfarm.db)\n"
	"  -h, --help             this text\n"
	"\n"
	"A build failure makes a step `skip` (unless --build); an infrastructure\n"
	"error is retried, never a verdict. Exit status: 0 culprit found and\n"
	"confirmed; 1 stopped without one (good not good, bad not bad, too noisy,\n"
	"unconfirmed, ambiguous); 2 bad usage or input; 3 infrastructure error.\n";

static int finish(struct bctx *c, const char *status, const char *culprit, const char *msg,
		  const char *revert, int rc)
{
	struct sb subj, auth;
	struct err e;

	sb_init(&subj);
	sb_init(&auth);
	if (culprit) {
		git_run(c->priv, &subj, "log", "-1", "--format=%s", culprit, (char *)NULL);
		git_run(c->priv, &auth, "log", "-1", "--format=%an <%ae>", culprit, (char *)NULL);
	}
	if (bisectdb_finish(c->db, c->b.id, status, culprit, culprit ? subj.buf : NULL,
			    culprit ? auth.buf : NULL, msg, revert, &e)) {
		error("%s", e.msg);
		rc = 3;
	}
	printf("\nbisection %lld: %s\n", (long long)c->b.id, text_term(&c->tp, msg));
	if (culprit) {
		printf("culprit: %s\nsubject: %s\nauthor:  %s\n", culprit, text_term(&c->tp, subj.buf),
		       text_term(&c->tp, auth.buf));
		if (revert)
			printf("revert check: %s\n", revert);
	}
	printf("wall time of the steps: %.1fs\n", c->wall);
	sb_release(&subj);
	sb_release(&auth);
	return rc;
}

/* do_step, its error printed; run_step: with the bisection's --runs. */
static int run_step_n(struct bctx *c, const char *kind, const char *commit, unsigned int want,
		      int full, struct stepres *r)
{
	struct err e;

	return do_step(c, kind, commit, want, full, r, &e) ? error("%s", e.msg) : 0;
}

static int run_step(struct bctx *c, const char *kind, const char *commit, int full,
		    struct stepres *r)
{
	return run_step_n(c, kind, commit, c->b.runs, full, r);
}

/* The helpers below return -1 to stop on an infrastructure problem, 1 when
 * they ended the bisection (its exit status in *rc), 0 to go on. */

/* Good must be good and bad bad before any step. */
static int verify_ends(struct bctx *c, char **line, size_t n, int *rc)
{
	struct stepres r;
	char msg[512];

	if (run_step(c, "verify_good", line[0], 1, &r))
		return -1;
	if (r.v != BV_GOOD) {
		int noisy = r.v == BV_BAD && r.t.pass;

		if (r.v == BV_SKIP)
			snprintf(msg, sizeof(msg), "good revision %.12s cannot be judged (%s): stopped",
				 line[0], r.t.build_fail ? "it does not build" : "test skipped");
		else
			snprintf(msg, sizeof(msg), noisy ?
				 "signal too noisy: good revision %.12s failed %u of %u runs: stopped" :
				 "good revision %.12s is not good (failed %u of %u runs): stopped",
				 line[0], r.t.fail, r.t.fail + r.t.pass);
		*rc = finish(c, noisy ? "noisy" : "not_good", NULL, msg, NULL, 1);
		return 1;
	}
	if (run_step(c, "verify_bad", line[n - 1], 0, &r))
		return -1;
	if (r.v != BV_BAD) {
		if (r.v == BV_SKIP)
			snprintf(msg, sizeof(msg), "bad revision %.12s cannot be judged (%s): stopped",
				 line[n - 1], r.t.build_fail ? "it does not build" : "test skipped");
		else
			snprintf(msg, sizeof(msg), "bad revision %.12s is not bad (passed %u of %u "
				 "runs): stopped", line[n - 1], r.t.pass, r.t.pass);
		*rc = finish(c, "not_bad", NULL, msg, NULL, 1);
		return 1;
	}
	return 0;
}

/* Steps until bisect_next stops asking (its answer in *nx); *steps made. */
static int bisect_loop(struct bctx *c, char **line, size_t n, struct bisect_next *nx,
		       unsigned int *steps)
{
	enum bisect_verdict *v = xcalloc(n, sizeof(*v));
	struct stepres r;
	int rc = 0;

	v[0] = BV_GOOD, v[n - 1] = BV_BAD;
	for (;;) {
		bisect_next(v, n, nx);
		if (nx->kind != BN_STEP)
			break;
		if (run_step(c, "step", line[nx->index], 0, &r)) {
			rc = -1;
			break;
		}
		v[nx->index] = r.v;
		(*steps)++;
	}
	free(v);
	return rc;
}

/* The culprit must fail again and its parent pass again. */
static int confirm(struct bctx *c, const char *culprit, const char *parent, int *rc)
{
	struct stepres r;
	char msg[512];

	if (run_step(c, "confirm_bad", culprit, 0, &r))
		return -1;
	if (r.v != BV_BAD) {
		snprintf(msg, sizeof(msg), "signal too noisy: the first bad commit %.12s passed "
			 "%u runs on re-run: no culprit", culprit, r.t.pass);
		*rc = finish(c, "noisy", NULL, msg, NULL, 1);
		return 1;
	}
	if (run_step_n(c, "confirm_good", parent, bisect_confirm_runs(c->b.runs), 1, &r))
		return -1;
	if (r.v != BV_GOOD) {
		int noisy = r.v == BV_BAD && r.t.pass;

		snprintf(msg, sizeof(msg), noisy ? "signal too noisy: the culprit's parent %.12s "
			 "failed %u of %u runs on re-run: no culprit" : "unconfirmed: the culprit's "
			 "parent %.12s failed %u of %u runs on re-run", parent, r.t.fail,
			 r.t.fail + r.t.pass);
		*rc = finish(c, noisy ? "noisy" : "unconfirmed", NULL, msg, NULL, 1);
		return 1;
	}
	return 0;
}

/* Bad with the culprit reverted: *revert is "pass", "fail" or "conflict". */
static int check_revert(struct bctx *c, const char *culprit, const char **revert)
{
	struct stepres r;
	int infra;
	char *rev = git_revert_commit(c->priv, c->b.bad, culprit, &infra);

	if (infra) {
		free(rev);
		return -1;
	}
	if (!rev) {
		*revert = "conflict";
		printf("  revert check: %.12s does not revert cleanly on %.12s\n", culprit,
		       c->b.bad);
		return 0;
	}
	int bad = run_step(c, "revert", rev, 1, &r);

	free(rev);
	if (bad)
		return -1;
	*revert = r.v == BV_GOOD ? "pass" : "fail";
	return 0;
}

static int bisect_main(struct bctx *c, int revert_check)
{
	size_t n = 0;
	char **line = git_commit_line(c->priv, c->b.good, c->b.bad, &n);
	struct bisect_next nx;
	unsigned int steps = 0, maxs;
	int rc = 3, st;
	char msg[512];

	if (!line || n < 2) {
		error("%.12s is not an ancestor of %.12s on its first-parent line", c->b.good,
		      c->b.bad);
		rc = finish(c, "failed", NULL, "bad is not a first-parent descendant of good", NULL, 2);
		goto out;
	}
	maxs = bisect_max_steps(n - 1);
	printf("bisection %lld%s: %zu commits, at most %u steps; %s on %s, %u run(s) per step\n",
	       (long long)c->b.id, c->resumed ? " (resumed)" : "", n - 1, maxs,
	       c->b.mode == BM_TEST ? c->b.test : bisect_mode_name(c->b.mode), c->b.arch,
	       c->b.runs);
	printf("  logs: %s\n", c->logdir);
	if ((st = verify_ends(c, line, n, &rc)) > 0)
		goto out;
	if (st)
		goto fail;
	if (bisect_loop(c, line, n, &nx, &steps))
		goto fail;
	if (nx.kind == BN_AMBIGUOUS) {
		snprintf(msg, sizeof(msg), "the first bad commit is one of %zu after %.12s up to "
			 "%.12s (the others could not be judged)", nx.hi - nx.lo, line[nx.lo],
			 line[nx.hi]);
		rc = finish(c, "ambiguous", NULL, msg, NULL, 1);
		goto out;
	}
	const char *culprit = line[nx.index], *parent = line[nx.index - 1];

	printf("  first bad commit %.12s after %u step(s); confirming\n", culprit, steps);
	if ((st = confirm(c, culprit, parent, &rc)) > 0)
		goto out;
	if (st)
		goto fail;
	const char *revert = NULL;

	if (revert_check && check_revert(c, culprit, &revert))
		goto fail;
	snprintf(msg, sizeof(msg), "culprit found in %u step(s) (at most %u for %zu commits), "
		 "confirmed: it fails, its parent passes%s", steps, maxs, n - 1,
		 revert ? (!strcmp(revert, "pass") ? "; bad with it reverted passes" :
			   !strcmp(revert, "fail") ? "; bad with it reverted still FAILS" :
			   "; it does not revert cleanly on bad") : "");
	rc = finish(c, "found", culprit, msg, revert,
		    revert && strcmp(revert, "pass") ? 1 : 0);
	goto out;
fail:
	rc = finish(c, "failed", NULL, "stopped by an infrastructure problem (see above)", NULL, 3);
out:
	strv_free(line);
	return rc;
}

static char *top_of(const char *test)
{
	return xstrndup(test, strcspn(test, "/"));
}

struct bisect_opts {
	const char *repo_arg, *good, *bad, *arch, *test, *tree, *append;
	unsigned long runs, resume;
	int modes, revert;
	enum bisect_mode mode;
};

/* The command line into o (and --db into cx); -1 to go on, else the exit status. */
static int bisect_parse(struct cmd_ctx *cx, struct bisect_opts *o, int argc, char **argv)
{
	enum { OPT_BUILD = 256, OPT_OUTCOME, OPT_REVERT, OPT_APPEND, OPT_TREE, OPT_RESUME, OPT_DB };
	static const struct option opts[] = {
		{ "source", required_argument, NULL, 's' },
		{ "good", required_argument, NULL, 'g' },
		{ "bad", required_argument, NULL, 'b' },
		{ "arch", required_argument, NULL, 'a' },
		{ "test", required_argument, NULL, 't' },
		{ "build", no_argument, NULL, OPT_BUILD },
		{ "outcome", no_argument, NULL, OPT_OUTCOME },
		{ "runs", required_argument, NULL, 'n' },
		{ "revert-check", no_argument, NULL, OPT_REVERT },
		{ "append", required_argument, NULL, OPT_APPEND },
		{ "tree", required_argument, NULL, OPT_TREE },
		{ "resume", required_argument, NULL, OPT_RESUME },
		{ "db", required_argument, NULL, OPT_DB },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "s:g:b:a:t:n:h", opts, NULL)) != -1) {
		switch (opt) {
		case 's': o->repo_arg = optarg; break;
		case 'g': o->good = optarg; break;
		case 'b': o->bad = optarg; break;
		case 'a': o->arch = optarg; break;
		case 't': o->test = optarg, o->mode = BM_TEST, o->modes++; break;
		case OPT_BUILD: o->mode = BM_BUILD, o->modes++; break;
		case OPT_OUTCOME: o->mode = BM_OUTCOME, o->modes++; break;
		case 'n':
			if (parse_uint(optarg, 20, &o->runs) || !o->runs)
				return error("--runs wants 1..20, got '%s'", optarg), 2;
			break;
		case OPT_REVERT: o->revert = 1; break;
		case OPT_APPEND: o->append = optarg; break;
		case OPT_TREE: o->tree = optarg; break;
		case OPT_RESUME:
			if (parse_uint(optarg, 1ul << 53, &o->resume) || !o->resume)
				return error("--resume wants a bisection id, got '%s'", optarg), 2;
			break;
		case OPT_DB: cx->db = optarg; break;
		case 'h': fputs(bisect_usage, stdout); return 0;
		default: fputs(bisect_usage, stderr); return 2;
		}
	}
	if (optind < argc)
		return error("unexpected argument '%s'", argv[optind]), 2;
	if (!o->resume && (!o->repo_arg || !o->good || !o->bad || !o->arch || o->modes != 1))
		return error("bisect needs --source, --good, --bad, --arch and one of --test, "
			     "--build, --outcome (see kfarm bisect --help)"), 2;
	if (o->test && (!*o->test || strlen(o->test) > 512))
		return error("--test wants a test path"), 2;
	if (o->arch && (!*o->arch || strcspn(o->arch, "/,. ") != strlen(o->arch)))
		return error("--arch wants one arch name, got '%s'", o->arch), 2;
	return -1;
}

/* A new bisection's input into c->b, all checked before anything is written
 * (read-only git): 0, or 2 (reported). */
static int check_new(struct bctx *c, const struct bisect_opts *o)
{
	char real[PATH_MAX];

	if (!realpath(o->repo_arg, real))
		return error_errno("source '%s'", o->repo_arg), 2;
	c->b.repo = xstrdup(real);
	if (git_run(c->b.repo, NULL, "rev-parse", "--git-dir", (char *)NULL))
		return error("source '%s' is not a git repository", o->repo_arg), 2;
	if (!(c->b.good = git_rev_commit(c->b.repo, o->good)) ||
	    !(c->b.bad = git_rev_commit(c->b.repo, o->bad)))
		return error("%s: unknown revision '%s' in git repository '%s'", o->repo_arg,
			     c->b.good ? o->bad : o->good, c->b.repo), 2;
	size_t n;
	char **line = git_commit_line(c->b.repo, c->b.good, c->b.bad, &n);
	char *mk = xasprintf("%s:Makefile", c->b.good);
	struct sb out;

	sb_init(&out);
	if (git_run(c->b.repo, &out, "show", mk, (char *)NULL) || !strstr(out.buf, "PATCHLEVEL =")) {
		error("%s: not a kernel source tree (no kernel Makefile at %.12s)", o->repo_arg,
		      c->b.good);
		line = (strv_free(line), NULL);
		n = 0;
	} else if (!line) {
		error("%.12s (--good) is not an ancestor of %.12s (--bad) on its first-parent "
		      "line", c->b.good, c->b.bad);
	}
	sb_release(&out);
	free(mk);
	strv_free(line);
	if (!line)
		return 2;
	c->b.commits = (long)n - 1;
	c->b.arch = xstrdup(o->arch);
	c->b.mode = o->mode;
	c->b.test = o->mode == BM_TEST ? xstrdup(o->test) : NULL;
	c->b.tree = o->tree ? xstrdup(o->tree) : NULL;
	c->b.append = o->append ? xstrdup(o->append) : NULL;
	c->b.revert_check = o->revert;
	return 0;
}

/* The database, and the bisection in it: --resume's, the open one with the
 * same input (its stored runs and commits), or a new one. 0, or the exit status. */
static int open_bisection(struct cmd_ctx *cx, struct bctx *c, const struct bisect_opts *o)
{
	char real[PATH_MAX];
	struct store *st;
	struct err e;

	if (!(st = cmd_store(cx)))
		return 3;
	if (store_mark_stale_runs(st, &e))
		return error("%s", e.msg), 3;
	c->db = store_db(st);
	if (!realpath(cmd_db_path(cx), real))
		return error_errno("database '%s'", cmd_db_path(cx)), 3;
	c->db_path = xstrdup(real);
	if (o->resume) {
		if (bisectdb_load(c->db, (int64_t)o->resume, &c->b, &e))
			return error("%s", e.msg), 2;
		if (strcmp(c->b.status, "running"))
			printf("bisection %lld had ended (%s); running it to its end again from "
			       "its stored steps\n", (long long)o->resume, c->b.status);
		c->resumed = 1;
	} else if ((c->b.id = bisectdb_find_open(c->db, &c->b, &e)) > 0) {
		struct bisect_rec old;

		if (bisectdb_load(c->db, c->b.id, &old, &e))
			return error("%s", e.msg), 3;
		c->b.runs = old.runs;	/* the stored verdicts were made with these */
		c->b.commits = old.commits;
		c->b.revert_check |= old.revert_check;
		bisectdb_rec_release(&old);
		c->resumed = 1;
	} else if (c->b.id < 0) {
		error("%s", e.msg);
	}
	if (!(c->priv = git_private_clone(c->b.repo, &e)))
		return error("%s", e.msg), 3;
	if (!c->resumed) {
		if (o->runs) {
			c->b.runs = (unsigned int)o->runs;
		} else {
			double p = o->mode == BM_TEST ?
				   bisectdb_flake_rate(c->db, c->b.arch, c->b.test, &e) : 0;

			if (p < 0) {
				error("%s", e.msg);
				p = 0;
			}

			c->b.runs = bisect_default_runs(p);
			if (p > 0)
				printf("%s on %s flaked at %.0f%% in the history: %u runs per step\n",
				       c->b.test, c->b.arch, 100 * p, c->b.runs);
		}
		if ((c->b.id = bisectdb_create(c->db, &c->b, &e)) < 0)
			return error("%s", e.msg), 3;
	}
	return 0;
}

/* The bisection's log directory, and its lock in *lock_fd: one kfarm drives
 * a bisection, a second would run its steps again. 0, or -1 (reported). */
static int lock_bisection(struct bctx *c, int *lock_fd)
{
	c->child_tree = xasprintf("bisect-%lld", (long long)c->b.id);
	c->top = c->b.test ? top_of(c->b.test) : NULL;
	c->logdir = xasprintf("%s.logs/bisect-%lld", c->db_path, (long long)c->b.id);
	if (mkdir_p(c->logdir, 0755))
		return error_errno("cannot make '%s'", c->logdir), -1;
	char *lock = xasprintf("%s/bisect.lock", c->logdir);

	*lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	free(lock);
	if (*lock_fd < 0 || flock(*lock_fd, LOCK_EX | LOCK_NB) < 0) {
		error("bisection %lld is being run by another kfarm (its lock in %s is held)",
		      (long long)c->b.id, c->logdir);
		return -1;
	}
	return 0;
}

int cmd_bisect(struct cmd_ctx *cx, int argc, char **argv)
{
	struct bisect_opts o = { .mode = BM_TEST };
	struct bctx c = { 0 };
	int ret = bisect_parse(cx, &o, argc, argv), lock_fd = -1;

	if (ret >= 0)
		return ret;
	if (!o.resume && (ret = check_new(&c, &o)))
		goto out;
	if ((ret = open_bisection(cx, &c, &o)))
		goto out;
	ret = 3;
	if (lock_bisection(&c, &lock_fd))
		goto out;
	ret = bisect_main(&c, c.b.revert_check || o.revert);
out:
	if (lock_fd >= 0)
		close(lock_fd);
	bisectdb_rec_release(&c.b);
	free(c.priv), free(c.db_path), free(c.top), free(c.logdir), free(c.child_tree);
	text_pool_release(&c.tp);
	return ret;
}
