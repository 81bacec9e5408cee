#include "kselftest.h"
#include "build_db.h"
#include "cache.h"
#include "job.h"
#include "logdir.h"
#include "pin.h"
#include "source.h"
#include "spawn.h"
#include "srcset.h"
#include "store.h"
#include "util.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* a target's build row names its own config, kselftest:TARGET, set after */
static const struct build_config ks_cfg = { (char *)"kselftest", NULL, NULL };

#define SCRIPT(name) KFARM_ARCHES_DIR "/../images/" name

static const char *script(const char *env, const char *def)
{
	const char *e = getenv(env);

	return e && *e ? e : def;
}

int kselftest_parse(struct kselftest *ks, const char *arg, struct err *e)
{
	struct sb csv;
	const char *s = arg;
	size_t n = 0;

	kselftest_release(ks);
	ks->targets = xcalloc(1, sizeof(char *));
	sb_init(&csv);
	while (*s) {
		size_t len = strcspn(s, ",");

		if (len) {
			char *t = xstrndup(s, len);

			/* a selftests directory name: no paths, no options */
			if (strspn(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") !=
				    len || len > 64 || t[0] == '.' || t[0] == '-') {
				err_set(e, 0, "--kselftest: invalid target '%.80s' (a "
					"tools/testing/selftests directory name)", t);
				free(t);
				sb_release(&csv);
				kselftest_release(ks);
				return -1;
			}
			ks->targets = xrealloc(ks->targets, (n + 2) * sizeof(char *));
			ks->targets[n++] = t;
			ks->targets[n] = NULL;
			sb_addf(&csv, "%s%s", n > 1 ? "," : "", t);
		}
		s += len + (s[len] == ',');
	}
	if (!n) {
		sb_release(&csv);
		kselftest_release(ks);
		return err_set(e, 0, "--kselftest wants TARGET[,TARGET...]");
	}
	ks->csv = sb_detach(&csv);
	return 0;
}

void kselftest_config(const struct kselftest *ks)
{
	/* images/kernel.sh --src merges the targets' config files (and keys
	 * the build by them); the environment reaches it through build_arch */
	if (ks->targets)
		setenv("KFARM_KSELFTEST", ks->csv, 1);
}

static char *jstr(json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));

	return v && *v ? xstrdup(v) : NULL;
}

static void set_all(struct ks_arch *ka, const struct kselftest *ks, const char *arch,
		    enum build_status status, const char *why)
{
	for (size_t t = 0; ks->targets[t]; t++) {
		struct build *b;

		ka->tb = xrealloc(ka->tb, (ka->ntb + 1) * sizeof(*ka->tb));
		b = &ka->tb[ka->ntb++];
		build_set(b, arch, &ks_cfg, status, why);
		free(b->config);
		b->config = xasprintf("kselftest:%s", ks->targets[t]);
	}
}

/* Its exit status, or -1 with e (it did not start). */
static int run_script(char **argv, const char *arch, struct sb *out, struct err *e)
{
	int rc;

	sb_init(out);
	rc = spawn_run(argv, NULL, NULL, out, 256 << 10, e);
	for (const char *p = out->buf; p && *p;) {
		size_t n = strcspn(p, "\n");

		fprintf(stderr, "  %s: %.*s\n", arch, (int)(n > 300 ? 300 : n), p);
		p += n + (p[n] == '\n');
	}
	return rc;
}

/* The targets of one built arch: build, record each, pack the initramfs. */
static void build_one(struct kselftest *ks, const struct source *s, const struct build *kb,
		      struct ks_arch *ka)
{
	char res[] = "/tmp/kfarm-kselftest-XXXXXX", rec[] = "/tmp/kfarm-ksinitrd-XXXXXX";
	int fd = mkstemp(res), fd2 = mkstemp(rec), rc;
	double t0 = now_mono(), started = now_wall();
	json_error_t je;
	json_t *r = NULL, *e;
	char *tree = NULL;
	struct err se;	/* a script that did not start */
	struct sb out;
	size_t i;

	if (fd < 0 || fd2 < 0) {
		set_all(ka, ks, kb->arch, BS_ERROR, "cannot create a temporary file");
		goto out;
	}
	close(fd);
	close(fd2);
	char *argv[] = { "bash", (char *)script("KFARM_KSELFTEST_SH", SCRIPT("kselftest.sh")),
			 "--src", s->dir, "--id", s->id, "--result", res, kb->arch, ks->csv, NULL };

	fprintf(stderr, "kfarm: building kselftests %s for %s %s\n", ks->csv, kb->arch, s->label);
	rc = run_script(argv, kb->arch, &out, &se);
	if (rc == 0)
		r = json_load_file(res, 0, &je);
	if (!r) {
		char *why = rc < 0 ? xstrdup(se.msg)
			    : rc ? xasprintf("images/kselftest.sh exited with status %d", rc)
			    : xasprintf("images/kselftest.sh left no result: %s", je.text);
		const char *k = out.buf ? strstr(out.buf, "kselftest: error: ") : NULL;

		if (k) {
			free(why);
			why = xstrndup(k + 18, strcspn(k + 18, "\n"));
		}
		set_all(ka, ks, kb->arch, BS_ERROR, why);
		free(why);
		sb_release(&out);
		goto out;
	}
	sb_release(&out);
	tree = jstr(r, "tree");
	json_array_foreach(json_object_get(r, "targets"), i, e) {
		const char *st = json_string_value(json_object_get(e, "status"));
		const char *err = json_string_value(json_object_get(e, "error"));
		struct build *b;

		ka->tb = xrealloc(ka->tb, (ka->ntb + 1) * sizeof(*ka->tb));
		b = &ka->tb[ka->ntb++];
		build_set(b, kb->arch, &ks_cfg, build_status_parse(st) == BS_PASS ? BS_PASS : BS_FAIL,
			  err);
		free(b->config);
		b->config = xasprintf("kselftest:%s",
				      json_string_value(json_object_get(e, "target")));
		b->log = jstr(e, "log");
		b->compiler = jstr(r, "compiler");
		b->key = jstr(r, "key");
		b->release = kb->release ? xstrdup(kb->release) : NULL;
		b->started = started;
		/* one script builds all targets: each gets its share */
		b->duration_s = (now_mono() - t0) / (double)json_array_size(json_object_get(r, "targets"));
	}
	json_decref(r);
	if (!tree)
		goto out;

	char *mk[] = { "bash", (char *)script("KFARM_MKINITRAMFS_SH", SCRIPT("mkinitramfs.sh")),
		       "--kselftest", tree, "--record", rec, kb->arch, NULL };
	rc = run_script(mk, kb->arch, &out, &se);
	sb_release(&out);
	if (rc == 0 && cache_initramfs_file(rec, &ka->initrd, &ka->tests, &se) == 0)
		goto out;
	for (size_t t = 0; t < ka->ntb; t++) {	/* built, but not bootable with us */
		ka->tb[t].status = BS_ERROR;
		free(ka->tb[t].error);
		ka->tb[t].error = rc <= 0 ? xstrdup(se.msg) :
				  xasprintf("images/mkinitramfs.sh --kselftest failed (status %d)", rc);
	}
out:
	unlink(res);
	unlink(rec);
	free(tree);
}

static void after_source(void *data, struct srcset *ss, size_t i)
{
	struct kselftest *ks = data;

	for (size_t a = 0; a < ss->narch; a++) {
		struct build *kb = &ss->b[i * ss->narch + a];
		struct ks_arch *ka = &ks->per[i * ss->narch + a];

		/* the build's config says the targets' options were merged */
		free(kb->config);
		kb->config = xstrdup("kfarm+kselftest");
		/* nothing to build the targets for (and nothing they failed at) */
		if (kb->status == BS_PASS)
			build_one(ks, &ss->src[i], kb, ka);
	}
}

void kselftest_build(struct kselftest *ks, struct srcset *ss)
{
	if (!ks->targets)
		return;
	ks->nper = ss->n * ss->narch;
	ks->per = xcalloc(ks->nper, sizeof(*ks->per));
	ss->after_source = after_source;
	ss->after_data = ks;
	/* an arch whose kernel does not build runs none of its targets */
	ss->more_tests = xcalloc(1, sizeof(char *));
	for (size_t t = 0, n = 0; ks->targets[t]; t++) {
		ss->more_tests = xrealloc(ss->more_tests, (n + 2) * sizeof(char *));
		ss->more_tests[n++] = xasprintf("kselftest:%s", ks->targets[t]);
		ss->more_tests[n] = NULL;
	}
}

int kselftest_job(const struct kselftest *ks, size_t i, struct job *j, int tests_given,
		  struct err *e)
{
	const struct ks_arch *ka;
	char sha[65];
	char *pinned;

	if (!ks->targets || i >= ks->nper)
		return 0;
	ka = &ks->per[i];
	if (ka->initrd) {
		if (pin_file(ka->initrd, sha, &pinned, e) < 0)
			return -1;
		free(j->initrd);
		free(j->initrd_sha256);
		j->initrd = pinned;
		j->initrd_sha256 = xstrdup(sha);
	}
	if (tests_given) {	/* --tests is exact: say what it leaves out */
		for (size_t k = 0; ks->targets[k]; k++) {
			char *name = xasprintf("kselftest:%s", ks->targets[k]);
			int named = 0;

			for (char **p = j->tests; p && *p; p++)
				named |= !strcmp(*p, name);
			if (!named)
				fprintf(stderr, "kfarm: %s: --tests leaves out %s (built and packed)\n",
					j->arch, name);
			free(name);
		}
		return 0;
	}
	/* what the initramfs runs is what is expected; a target that was not
	 * packed is expected too (MISSING, never silently absent) */
	size_t n = 0, cap;
	char **t;

	for (char **p = ka->tests ? ka->tests : j->tests; p && *p; p++)
		n++;
	for (cap = 0; ks->targets[cap]; cap++)
		;
	t = xcalloc(n + cap + 1, sizeof(char *));
	n = 0;
	for (char **p = ka->tests ? ka->tests : j->tests; p && *p; p++)
		t[n++] = xstrdup(*p);
	for (size_t k = 0; ks->targets[k]; k++) {
		char *name = xasprintf("kselftest:%s", ks->targets[k]);
		size_t m;

		for (m = 0; m < n && strcmp(t[m], name); m++)
			;
		if (m == n)
			t[n++] = name;
		else
			free(name);
	}
	strv_free(j->tests);
	j->tests = t;
	return 0;
}

/* <db>.logs/run-N/kselftest-ARCH-LABEL-TARGET.log, the name relative to
 * <db>.logs (NULL when there is no log) */
static char *copy_log(const struct build *b, const struct source *s, const char *db_path,
		      int64_t run)
{
	char *dir = logdir_run(db_path, run), *rel = NULL, *abs, *data;
	const char *target = b->config + strlen("kselftest:");
	size_t len;

	abs = xasprintf("%s/kselftest-%s-%s-%s.log", dir, b->arch, s->label, target);
	if (b->log && read_file(b->log, 64u << 20, &data, &len) == 0) {
		if (mkdir_p(dir, 0755) == 0 && write_file_atomic(abs, data, len) == 0)
			rel = xasprintf("run-%lld/kselftest-%s-%s-%s.log", (long long)run, b->arch,
					s->label, target);
		else
			warning("cannot copy kselftest build log to '%s'", abs);
		free(data);
	}
	free(abs);
	free(dir);
	return rel;
}

int kselftest_record(const struct kselftest *ks, const struct srcset *ss, struct store *st,
		     int64_t run, const char *db_path, struct err *e)
{
	sqlite3 *db = store_db(st);

	for (size_t i = 0; ks->targets && i < ss->n; i++) {
		int64_t sid = builddb_source(db, &ss->src[i], e);

		if (sid < 0)
			return -1;
		for (size_t a = 0; a < ss->narch; a++) {
			const struct ks_arch *ka = &ks->per[i * ss->narch + a];

			for (size_t t = 0; t < ka->ntb; t++) {
				char *rel = copy_log(&ka->tb[t], &ss->src[i], db_path, run);
				int64_t bid = builddb_store(db, run, sid, &ka->tb[t], rel, e);

				free(rel);
				if (bid < 0)
					return -1;
			}
		}
	}
	return 0;
}

static int listed(char **v, const char *s)
{
	for (; v && *v; v++)
		if (!strcmp(*v, s))
			return 1;
	return 0;
}

/* --tests is exact: say which programs packed in the initramfs it leaves
 * out, so that none is dropped silently. */
void programs_left_out(const char *arch, char **suite, char **tests)
{
	struct sb out;
	size_t n = 0;

	sb_init(&out);
	for (char **t = suite; t && *t; t++)
		if ((!strncmp(*t, "user:", 5) || !strncmp(*t, "kselftest:", 10)) &&
		    !listed(tests, *t) && n++ < 8)
			sb_addf(&out, "%s%s", n > 1 ? ", " : "", *t);
	if (n)
		fprintf(stderr, "kfarm: %s: --tests leaves out %zu program%s packed in the initramfs: "
			"%s%s\n", arch, n, n == 1 ? "" : "s", out.buf, n > 8 ? ", ..." : "");
	sb_release(&out);
}

void kselftest_report(const struct kselftest *ks, const struct srcset *ss, FILE *f)
{
	if (!ks->targets)
		return;
	fprintf(f, "\n%-9s %-24s %-22s %-6s  %s\n", "ARCH", "KERNEL", "KSELFTEST", "BUILD",
		"FIRST ERROR");
	for (size_t i = 0; i < ks->nper && i < ss->n * ss->narch; i++) {
		const struct ks_arch *ka = &ks->per[i];

		for (size_t t = 0; t < ka->ntb; t++)
			fprintf(f, "%-9s %-24.24s %-22.22s %-6s  %.100s\n", ka->tb[t].arch,
				ss->src[i / ss->narch].label, ka->tb[t].config + 10, build_status_name(ka->tb[t].status),
				ka->tb[t].error ? ka->tb[t].error : "-");
	}
}

void kselftest_release(struct kselftest *ks)
{
	for (size_t i = 0; i < ks->nper; i++) {
		struct ks_arch *ka = &ks->per[i];

		for (size_t t = 0; t < ka->ntb; t++)
			build_release(&ka->tb[t]);
		free(ka->tb);
		free(ka->initrd);
		strv_free(ka->tests);
	}
	free(ks->per);
	strv_free(ks->targets);
	free(ks->csv);
	memset(ks, 0, sizeof(*ks));
}
