/* kfarm run's stages at their boundaries, with the fake backend and a real
 * SQLite file: the plan holds specs, not jobs, and checks them all up front;
 * drive builds each job only when a slot takes it, stores it and frees it,
 * re-runs a regression by policy; report reads everything back from the
 * store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../runner/job.h"
#include "../../runner/run_drive.h"
#include "../../runner/run_plan.h"
#include "../../runner/run_report.h"
#include "../../runner/store.h"
#include "../../runner/spawn.h"
#include "../../runner/util.h"
#include "fake_backend.h"
#include "fixture.h"

static char dir[] = "/tmp/kfarm-test-run.XXXXXX";
static char image[256], initrd[256], db[256];
static char *tests[] = { "alpha", "beta", NULL };
static struct initrd_override ovr = { "fakearch", initrd };
static char tree[] = "t";

static int setup(void **state)
{
	static const char *const arch[] = { "fakearch" };

	(void)state;
	fixture_make(dir, arch, 1, initrd, sizeof(initrd));
	snprintf(image, sizeof(image), "%s/image", dir);
	put_file(image, "KFARM stand-in kernel image\n");
	snprintf(db, sizeof(db), "%s/run.db", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return spawn_rm_rf(dir, NULL) ? -1 : 0;
}

static struct plan_opts popts(void)
{
	return (struct plan_opts){ .tests = tests, .ovr = &ovr, .novr = 1, .tree = tree,
				   .be = &fake_backend };
}

static char **kernel_args(size_t n, const char *prefix)
{
	char **v = xcalloc(n + 1, sizeof(char *));

	for (size_t i = 0; i < n; i++)
		v[i] = xasprintf("fakearch=%s:%s%zu", image, prefix, i);
	return v;
}

/* a plan of 1000 jobs is 1000 borrowed pointers, each job built on demand */
static void test_plan_specs(void **state)
{
	struct plan_opts o = popts();
	char *only[] = { "fakearch", NULL };
	char **args = kernel_args(1000, "k"), *other[] = { "otherarch=/x:y", NULL };
	struct run_plan p;
	struct job *j;

	(void)state;
	o.arches = only;
	plan_init(&p, &o);
	assert_int_equal(plan_kernels(&p, args), 0);
	assert_int_equal(plan_kernels(&p, other), 0);	/* not selected by --arch */
	assert_int_equal(plan_size(&p), 1000);
	assert_ptr_equal(p.args[999], args[999]);	/* borrowed, not copied */
	assert_int_equal(plan_check(&p), 0);
	j = plan_job(&p, 999);
	assert_non_null(j);
	assert_string_equal(j->label, "k999");
	assert_string_equal(j->tree, "t");
	assert_ptr_equal(j->be, &fake_backend);
	assert_string_equal(j->accel, "tcg");
	assert_non_null(j->image_sha256);
	job_free(j);
	plan_release(&p);
	strv_free(args);
}

static void test_plan_checks_everything(void **state)
{
	struct plan_opts o = popts();
	char *bad[] = { "fakearch", NULL }, *missing[] = { "fakearch=/nonexistent:z", NULL };
	char **args = kernel_args(3, "k");
	struct run_plan p;

	(void)state;
	plan_init(&p, &o);
	assert_int_equal(plan_kernels(&p, bad), -1);	/* no ARCH=PATH */
	assert_int_equal(plan_kernels(&p, args), 0);
	assert_int_equal(plan_kernels(&p, missing), 0);
	assert_int_equal(plan_check(&p), -1);	/* the last one, before anything runs */
	plan_release(&p);
	strv_free(args);
}

static long long count(struct store *st, const char *sql)
{
	sqlite3_stmt *q;
	long long n = -1;

	assert_int_equal(sqlite3_prepare_v2(store_db(st), sql, -1, &q, NULL), SQLITE_OK);
	if (sqlite3_step(q) == SQLITE_ROW)
		n = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return n;
}

/* One run through drive and report: returns the verdict, *summary the text. */
static int one_run(struct store *st, char **args, unsigned long confirm, unsigned int slots,
		   struct run_drive *d, char **summary)
{
	struct plan_opts o = popts();
	struct sched_opts so = { .jobs = slots, .boot_timeout = 10, .silence_timeout = 10,
				 .total_timeout = 10 };
	struct run_plan p;
	struct run_report r;
	size_t len;
	FILE *f = open_memstream(summary, &len);
	int verdict, interrupted;

	plan_init(&p, &o);
	assert_int_equal(plan_kernels(&p, args), 0);
	assert_int_equal(plan_check(&p), 0);
	assert_int_equal(drive_begin(d, &p, st, "kfarm run (test)"), 0);
	interrupted = drive_run(d, &so, confirm);
	assert_int_equal(interrupted, 0);
	drive_end(d, 0);
	assert_int_equal(d->nlive, 0);	/* every job freed once stored */
	r = (struct run_report){ st, d->run, d->stored, d->nseq };
	json_t *changes = drive_changes(st, d->run);
	run_report_summary(&r, changes, f);
	json_decref(changes);
	fclose(f);
	verdict = run_report_verdict(&r);
	plan_release(&p);
	return verdict;
}

static void test_drive_report(void **state)
{
	struct store *st = store_open(db, 0, NULL);
	char **args = kernel_args(50, "d"), *summary = NULL, *s;
	struct run_drive d;
	int lines = 0;

	(void)state;
	assert_non_null(st);
	memset(&fake, 0, sizeof(fake));
	assert_int_equal(one_run(st, args, 0, 3, &d, &summary), 1);	/* beta fails */
	assert_true(fake.max_live <= 3);
	assert_int_equal(fake.live, 0);
	assert_int_equal(d.nseq, 50);
	assert_int_equal(count(st, "SELECT count(*) FROM jobs"), 50);
	assert_int_equal(count(st, "SELECT count(*) FROM jobs WHERE outcome = 'COMPLETE'"), 50);
	for (s = summary; (s = strstr(s, "\nfakearch  d")); s++)
		lines++;
	assert_int_equal(lines, 50);
	assert_non_null(strstr(summary, "fakearch d49: beta FAIL: fake failure"));
	free(summary);
	drive_release(&d);
	strv_free(args);
	store_close(st);
}

/* A regression is confirmed by re-running the job that showed it. */
static void test_confirm_policy(void **state)
{
	struct store *st = store_open(db, 0, NULL);
	char *good[] = { NULL, NULL }, *bad[] = { NULL, NULL }, *summary = NULL;
	struct run_drive d;

	(void)state;
	assert_non_null(st);
	good[0] = xasprintf("fakearch=%s:good", image);
	bad[0] = xasprintf("fakearch=%s:bad", image);
	memset(&fake, 0, sizeof(fake));
	fake.beta_passes = 1;
	assert_int_equal(one_run(st, good, 2, 2, &d, &summary), 0);
	assert_int_equal(d.nseq, 1);	/* nothing regressed: no re-runs */
	drive_release(&d);
	free(summary);
	fake.beta_passes = 0;
	assert_int_equal(one_run(st, bad, 2, 2, &d, &summary), 1);
	assert_int_equal(d.nseq, 3);	/* the job and its 2 confirmations */
	assert_non_null(strstr(summary, "regression"));
	drive_release(&d);
	free(summary);
	free(good[0]);
	free(bad[0]);
	store_close(st);
}

int main(void)
{
	const struct CMUnitTest t[] = {
		cmocka_unit_test(test_plan_specs),
		cmocka_unit_test(test_plan_checks_everything),
		cmocka_unit_test(test_drive_report),
		cmocka_unit_test(test_confirm_policy),
	};

	return cmocka_run_group_tests(t, setup, teardown);
}
