#include "srcset.h"
#include "build_db.h"
#include "build_warn.h"
#include "cache.h"
#include "job.h"
#include "logdir.h"
#include "profile.h"
#include "store.h"
#include "text.h"
#include "util.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* tree and label names end up in paths and tables: [A-Za-z0-9_.-], 1..96 */
static int name_ok(const char *what, const char *v)
{
	size_t n = strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-");

	if (!*v || v[n] || n > 96 || *v == '.' || *v == '-')
		return error("invalid %s '%.100s' (1..96 of [A-Za-z0-9_.-])", what, v);
	return 0;
}

int srcset_resolve(struct srcset *ss, char **specs, const char *patches, char **arches,
		   const char *tree, const char *label)
{
	size_t n = 0;
	const char *config = ss->config;
	struct err e;

	memset(ss, 0, sizeof(*ss));
	ss->config = config;
	if (build_config_parse(config, &ss->cfg, &e))
		return error("%s", e.msg);
	if ((tree && name_ok("tree name", tree)) || (label && name_ok("label", label)))
		return -1;
	while (specs[n])
		n++;
	if (label && n > 1)
		return error("--label names one candidate; give one --source with it");
	ss->arches = arches ? arches : profile_list();
	if (arches) {
		char **copy = xcalloc(1, sizeof(char *));

		for (size_t i = 0; arches[i]; i++) {
			copy = xrealloc(copy, (i + 2) * sizeof(char *));
			copy[i] = xstrdup(arches[i]);
			copy[i + 1] = NULL;
		}
		ss->arches = copy;
	}
	while (ss->arches[ss->narch])
		ss->narch++;
	for (size_t a = 0; a < ss->narch; a++) {
		struct profile p;

		if (profile_load(ss->arches[a], &p, &e))
			return error("%s", e.msg);
		profile_release(&p);
	}
	if (!ss->narch)
		return error("no arch to build for");
	ss->src = xcalloc(n, sizeof(*ss->src));
	for (size_t i = 0; i < n; i++) {
		struct source *s = &ss->src[i];

		ss->n = i + 1;
		if (source_resolve(specs[i], patches, s, &e))
			return error("%s", e.msg);
		if (tree)
			free(s->tree), s->tree = xstrdup(tree);
		if (label)
			free(s->label), s->label = xstrdup(label);
		fprintf(stderr, "kfarm: source %s: %s %s (tree %s, label %s)\n", s->spec,
			source_kind_name(s->kind), s->id, s->tree, s->label);
	}
	ss->b = xcalloc(n * ss->narch, sizeof(*ss->b));
	ss->job = xcalloc(n * ss->narch, sizeof(*ss->job));
	return 0;
}

int srcset_prepare(struct srcset *ss, size_t i)
{
	struct source *s = &ss->src[i];
	struct err e = { 0 };
	int rc;

	fprintf(stderr, "kfarm: %s: fetch (preparing the tree)\n", s->spec);
	if ((rc = source_prepare(s, &e)) < 0) {
		ss->unprepared++;
		error("source '%s': %s", s->spec, e.msg);
		err_prefix(&e, "the source tree could not be prepared: ");
	} else if (rc == 1) {
		fprintf(stderr, "kfarm: %s: %s (nothing built)\n", s->spec, e.msg);
	}
	for (size_t a = 0; rc && a < ss->narch; a++)
		build_set(&ss->b[i * ss->narch + a], ss->arches[a], &ss->cfg,
			  rc < 0 ? BS_ERROR : BS_FAIL, e.msg);
	return rc;
}

/* srcset_prepare with SIGINT/SIGTERM held: git and tar finish what they
 * write into the cache (their children share the mask) and the signal
 * then stops the builds instead of leaving them orphaned. */
static int prepare_held(struct srcset *ss, size_t i)
{
	struct timespec now = { 0, 0 };
	sigset_t m, old;
	int rc, sig;

	sigemptyset(&m);
	sigaddset(&m, SIGINT);
	sigaddset(&m, SIGTERM);
	sigaddset(&m, SIGHUP);
	sigprocmask(SIG_BLOCK, &m, &old);
	rc = srcset_prepare(ss, i);
	if ((sig = sigtimedwait(&m, NULL, &now)) > 0) {
		fprintf(stderr, "kfarm: signal %d while the tree was prepared: nothing built\n", sig);
		ss->interrupted = sig;
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	return rc;
}

int srcset_build(struct srcset *ss)
{
	for (size_t i = 0; i < ss->n && !ss->interrupted; i++) {
		struct source *s = &ss->src[i];
		int rc = prepare_held(ss, i);

		for (size_t a = 0; a < ss->narch && rc == 0 && !ss->interrupted; a++) {
			struct build *b = &ss->b[i * ss->narch + a];

			build_arch(s, &ss->cfg, ss->arches[a], b);
			ss->interrupted = b->interrupted;
		}
		if (ss->interrupted)
			break;
		if (rc == 0 && ss->after_source)
			ss->after_source(ss->after_data, ss, i);
	}
	return ss->unprepared == ss->n ? -1 : 0;
}

/* <db>.logs/run-N/build-ARCH-LABEL.log (logdir.h); returns the name to
 * store (relative to <db>.logs), or NULL if there is no log or no copy. */
static char *copy_log(const struct build *b, const struct source *s, const char *db_path,
		      int64_t run)
{
	char *dir = logdir_run(db_path, run), *rel, *abs, *data;
	size_t len;

	rel = xasprintf("run-%lld/build-%s-%s.log", (long long)run, b->arch, s->label);
	abs = xasprintf("%s/build-%s-%s.log", dir, b->arch, s->label);
	if (!b->log || read_file(b->log, 64u << 20, &data, &len) < 0) {
		free(rel);
		rel = NULL;
	} else {
		if (mkdir_p(dir, 0755) < 0 || write_file_atomic(abs, data, len) < 0) {
			warning("cannot copy build log to '%s'", abs);
			free(rel);
			rel = NULL;
		}
		free(data);
	}
	free(abs);
	free(dir);
	return rel;
}

static void missing(struct job *j, const char *test)
{
	j->res = xrealloc(j->res, (j->nres + 1) * sizeof(*j->res));
	j->res[j->nres++] = (struct result){ .test = xstrdup(test), .status = RS_MISSING,
					     .reason = xstrdup("not built") };
}

/* A job for an arch whose kernel did not build: every test MISSING; its log
 * is the build's (log_rel, under <db>.logs, or NULL). */
static int store_unbuilt(struct store *st, int64_t run, const struct source *s,
			 const struct build *b, char **tests, char **more, int64_t source_id,
			 int64_t build_id, const char *db_path, const char *log_rel)
{
	struct err e;
	struct job *j = job_new();
	char **suite = NULL, *initrd = NULL, **t;
	int64_t cand;
	int ret = -1;

	if (!tests && cache_initramfs(b->arch, &initrd, &suite, &e) == 0)
		free(initrd);
	else if (!tests)
		error("%s", e.msg);
	t = tests ? tests : suite;
	j->arch = xstrdup(b->arch);
	j->label = xstrdup(s->label);
	j->tree = xstrdup(s->tree);
	if (log_rel) {
		char *logs = logdir_of(db_path);

		j->log_path = xasprintf("%s/%s", logs, log_rel);
		free(logs);
	}
	j->outcome = JOB_NOT_BUILT;	/* no boot was tried: not a boot failure */
	j->reason = xasprintf("build %s: %s", build_status_name(b->status), b->error ? b->error : "no error line");
	for (size_t i = 0; t && t[i]; i++)
		missing(j, t[i]);
	for (size_t i = 0; !tests && more && more[i]; i++)
		missing(j, more[i]);
	cand = store_candidate(st, b->arch, s->label, s->tree, "not-built", NULL, &e);
	if (cand >= 0) {
		j->candidate_id = cand;
		if (store_job(st, run, j, NULL, &e) >= 0 &&
		    builddb_link(store_db(st), build_id, cand, source_id, &e) == 0)
			ret = 0;
	}
	if (ret)
		error("%s", e.msg);
	strv_free(suite);
	job_free(j);
	return ret;
}

int srcset_record(struct srcset *ss, struct store *st, int64_t run, const char *db_path,
		  int tests_of_unbuilt, char **tests)
{
	sqlite3 *db = store_db(st);
	struct err e;

	for (size_t i = 0; i < ss->n; i++) {
		const struct source *s = &ss->src[i];
		int64_t sid = builddb_source(db, s, &e);

		if (sid < 0)
			return error("%s", e.msg);
		for (size_t a = 0; a < ss->narch; a++) {
			const struct build *b = &ss->b[i * ss->narch + a];
			struct job *j = ss->job[i * ss->narch + a];
			char *rel;
			int64_t bid;

			if (!b->arch)	/* never started: the run was interrupted */
				continue;
			rel = copy_log(b, s, db_path, run);
			bid = builddb_store(db, run, sid, b, rel, &e);
			if (bid < 0)
				error("%s", e.msg);
			if (bid < 0 ||
			    (build_warn_store(db, bid, s->tree, b->arch, b->config, b->log, s->dir,
					      &e) && error("%s", e.msg)) ||
			    (j && builddb_link(db, bid, j->candidate_id, sid, &e) &&
			     error("%s", e.msg)) ||
			    (!j && tests_of_unbuilt && b->status != BS_PASS &&
			     store_unbuilt(st, run, s, b, tests, ss->more_tests, sid, bid, db_path, rel))) {
				free(rel);
				return -1;
			}
			free(rel);
		}
	}
	return 0;
}

int srcset_report(const struct srcset *ss, FILE *f)
{
	struct text_pool tp = { 0 };
	int ret = 0;

	fprintf(f, "\n%-9s %-24s %-6s %7s %5s  %s\n", "ARCH", "KERNEL", "BUILD", "SECS", "WARN",
	       "RELEASE / FIRST ERROR");
	for (size_t i = 0; i < ss->n; i++)
		for (size_t a = 0; a < ss->narch; a++) {
			const struct build *b = &ss->b[i * ss->narch + a];

			if (!b->arch)
				continue;
			fprintf(f, "%-9s %-24.24s %-6s %6.1fs %5ld  %s%s\n", b->arch,
				text_term(&tp, ss->src[i].label), build_status_name(b->status),
				b->duration_s, b->warnings,
				text_term(&tp, b->error ? b->error : b->release ? b->release : "-"),
				b->cached ? " (cached)" : "");
			if (b->status == BS_ERROR)
				ret = 3;
			else if (b->status != BS_PASS && !ret)
				ret = 1;
		}
	text_pool_release(&tp);
	return ret;
}

void srcset_release(struct srcset *ss)
{
	for (size_t i = 0; i < ss->n; i++)
		source_release(&ss->src[i]);
	for (size_t i = 0; ss->b && i < ss->n * ss->narch; i++)
		build_release(&ss->b[i]);
	free(ss->src);
	free(ss->b);
	free(ss->job);
	strv_free(ss->arches);
	strv_free(ss->more_tests);
	build_config_release(&ss->cfg);
	memset(ss, 0, sizeof(*ss));
}
