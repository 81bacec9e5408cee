/* kfarm run --source's build stage. Builds overlap boots: kfarm run --source's builds run inside the
 * scheduler's loop (run_build_feed), so an arch whose kernel is ready boots
 * while another still builds. The build step here is a STAND-IN for
 * images/kernel.sh (KFARM_KERNEL_SH: a bash script that sleeps per arch and
 * writes kernel.sh's result record); the boots are the fake backend's; the
 * store is a real SQLite file, and the timestamps compared are the ones it
 * records (jobs.started, builds.finished). The same run with every build
 * first (run_build_sync, as before) is the control: there the fast arch's
 * boot starts only after the slow build ended. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../runner/run_build.h"
#include "../../runner/run_drive.h"
#include "../../runner/run_plan.h"
#include "../../runner/store.h"
#include "../../runner/text.h"
#include "../../runner/spawn.h"
#include "../../runner/util.h"
#include "fake_backend.h"
#include "fixture.h"

static char dir[] = "/tmp/kfarm-test-overlap.XXXXXX";
static char initrd[256], src[256];
static char *tests[] = { "alpha", "beta", NULL };
static struct initrd_override ovr[3] = { { "fast", initrd }, { "slow", initrd },
					 { "bad", initrd } };

/* the stand-in build: "slow" takes 3 s, "fast" 0.3 s */
static const char standin[] =
	"#!/bin/bash\n"
	"# STAND-IN for images/kernel.sh --src (test_overlap): no kernel is built\n"
	"while [ $# -gt 1 ]; do case $1 in --result) res=$2; shift;; --src|--id|--bdir|--config) shift;; esac; shift; done\n"
	"arch=$1\n"
	"echo 'kernel: phase configure' >&2\n"
	"if [ $arch = bad ]; then\n"
	"  printf 'kernel: x.c:1: error: \\xe2\\x80\\x98y\\xe2\\x80\\x99 undeclared \\x1b[2J \\xc2\\x9b \\xff\\n' >&2\n"
	"  printf '{\"status\":\"failed\",\"error\":\"x.c:1: error: \\xe2\\x80\\x98y\\xe2\\x80\\x99 undeclared\",\"key\":\"k\"}' >\"$res\"\n"
	"  exit 0\n"
	"fi\n"
	"echo \"kernel: phase compile steps 10 log $KFARM_CACHE/$arch.log\" >&2\n"
	"for i in 1 2 3 4 5 6 7 8 9 10; do echo \"  CC      step$i.o\" >>\"$KFARM_CACHE/$arch.log\"; done\n"
	"case $arch in slow) sleep 3;; *) sleep 0.3;; esac\n"
	"mkdir -p \"$KFARM_CACHE/kernels/$arch\"\n"
	"printf 'KFARM stand-in image' >\"$KFARM_CACHE/kernels/$arch/image\"\n"
	"printf '{\"status\":\"built\",\"image\":\"%s\",\"release\":\"6.1.0\",\"key\":\"k-%s\","
	"\"compiler\":\"gcc (stand-in)\",\"warnings\":0}' \"$KFARM_CACHE/kernels/$arch/image\" \"$arch\" >\"$res\"\n";

static int setup(void **state)
{
	static const char *const names[] = { "fast", "slow", "bad" };
	char path[300];

	(void)state;
	fixture_make(dir, names, 3, initrd, sizeof(initrd));
	snprintf(src, sizeof(src), "%s/linux", dir);
	assert_int_equal(mkdir(src, 0755), 0);
	snprintf(path, sizeof(path), "%s/Makefile", src);
	put_file(path, "VERSION = 6\nPATCHLEVEL = 1\nSUBLEVEL = 0\nEXTRAVERSION =\n");
	snprintf(path, sizeof(path), "%s/Kconfig", src);
	put_file(path, "");
	snprintf(path, sizeof(path), "%s/kernel.sh", dir);
	put_file(path, standin);
	setenv("KFARM_KERNEL_SH", path, 1);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return spawn_rm_rf(dir, NULL) ? -1 : 0;
}

static double value(struct store *st, const char *sql, const char *arch)
{
	sqlite3_stmt *q;
	double v = -1;

	assert_int_equal(sqlite3_prepare_v2(store_db(st), sql, -1, &q, NULL), SQLITE_OK);
	sqlite3_bind_text(q, 1, arch, -1, SQLITE_STATIC);
	if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_type(q, 0) != SQLITE_NULL)
		v = sqlite3_column_double(q, 0);
	sqlite3_finalize(q);
	return v;
}

/* One kfarm run --source over the arches in order; returns how long before
 * the slow build ended the fast arch's boot started (negative: after). */
static double one_run(char **arches, int overlap, unsigned int build_jobs, const char *name)
{
	struct plan_opts o = { .arches = arches, .tests = tests, .ovr = ovr, .novr = 3,
			       .be = &fake_backend };
	struct sched_opts so = { .jobs = 2, .boot_timeout = 10, .silence_timeout = 10,
				 .total_timeout = 10 };
	char db[300], *specs[] = { src, NULL };
	struct run_plan p;
	struct run_build b = { 0 };
	struct run_drive d;
	struct store *st;
	double boot, built;

	snprintf(db, sizeof(db), "%s/%s.db", dir, name);
	assert_non_null(st = store_open(db, 0, NULL));
	memset(&fake, 0, sizeof(fake));
	fake.beta_passes = 1;
	plan_init(&p, &o);
	assert_int_equal(run_build_prepare(&b, &p, specs, NULL, "c1"), 0);
	assert_int_equal(plan_check(&p), 0);
	assert_int_equal(drive_begin(&d, &p, st, "kfarm run --source (test)"), 0);
	if (overlap)
		d.feed = run_build_feed(&b, &d, build_jobs, 0);
	else
		assert_int_equal(run_build_sync(&b), 0);
	assert_int_equal(drive_run(&d, &so, 0), 0);
	assert_int_equal(run_build_record(&b, &p, st, d.run, db), 0);
	drive_end(&d, 0);
	assert_int_equal(fake.starts, 2);	/* both arches booted */
	assert_int_equal(value(st, "SELECT count(*) FROM builds WHERE status = 'PASS' AND arch = ?", "fast"), 1);
	assert_int_equal(value(st, "SELECT count(*) FROM jobs WHERE outcome = 'COMPLETE' AND arch = ?", "slow"), 1);
	boot = value(st, "SELECT min(started) FROM jobs WHERE arch = ?", "fast");
	built = value(st, "SELECT finished FROM builds WHERE arch = ?", "slow");
	assert_true(boot > 0 && built > 0);
	drive_release(&d);
	run_build_release(&b);
	plan_release(&p);
	store_close(st);
	return built - boot;
}

static void test_fast_arch_boots_while_slow_builds(void **state)
{
	char *fast_first[] = { "fast", "slow", NULL }, *slow_first[] = { "slow", "fast", NULL };

	(void)state;
	/* one build at a time (the default): fast builds, boots while slow builds */
	assert_true(one_run(fast_first, 1, 1, "one") > 2.0);
	/* two at once: slow listed first still does not hold fast's boot back */
	assert_true(one_run(slow_first, 1, 2, "two") > 2.0);
	/* the control: every build first, then the boots */
	assert_true(one_run(fast_first, 0, 1, "sync") < 0);
}

/* An arch whose kernel does not build: its --kselftest targets are MISSING
 * "not built" like its boot tests; the script's line keeps gcc's quotes
 * (UTF-8) on the terminal and neutralises ESC, C1 and a stray byte. */
static void test_unbuilt_kselftests_and_output(void **state)
{
	struct plan_opts o = { .arches = (char *[]){ "bad", NULL }, .ovr = ovr, .novr = 3,
			       .be = &fake_backend };
	char db[300], errf[300], *specs[] = { src, NULL }, *out = NULL;
	struct run_plan p;
	struct run_build b = { 0 };
	struct run_drive d;
	struct store *st;
	size_t len;
	int saved = dup(2), fd;

	(void)state;
	snprintf(db, sizeof(db), "%s/ks.db", dir);
	snprintf(errf, sizeof(errf), "%s/stderr", dir);
	assert_non_null(st = store_open(db, 0, NULL));
	plan_init(&p, &o);
	assert_int_equal(kselftest_parse(&b.ks, "clone3,futex", NULL), 0);
	assert_int_equal(run_build_prepare(&b, &p, specs, NULL, "k1"), 0);
	assert_int_equal(drive_begin(&d, &p, st, "kfarm run --source --kselftest (test)"), 0);
	fd = open(errf, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	dup2(fd, 2);
	assert_int_equal(run_build_sync(&b), 0);
	fflush(stderr);
	dup2(saved, 2);
	close(fd);
	close(saved);
	assert_int_equal(b.ss.b[0].status, BS_FAIL);
	assert_string_equal(b.ss.b[0].error, "x.c:1: error: \xe2\x80\x98y\xe2\x80\x99 undeclared");
	assert_int_equal(run_build_record(&b, &p, st, d.run, db), 0);
	drive_end(&d, 0);
	assert_int_equal(value(st, "SELECT count(*) FROM results r JOIN jobs j ON j.id = r.job_id"
			       " WHERE j.outcome = 'NOT_BUILT' AND r.status = 'MISSING'"
			       " AND r.reason = 'not built' AND r.test LIKE 'kselftest:%' AND j.arch = ?",
			       "bad"), 2);
	assert_int_equal(read_file(errf, 1 << 20, &out, &len), 0);
	assert_non_null(strstr(out, "  bad: kernel: x.c:1: error: \xe2\x80\x98y\xe2\x80\x99 undeclared"
				    " \\x1b[2J \\u009b " TEXT_REPLACEMENT "\n"));
	assert_null(strstr(out, "???"));
	assert_null(strchr(out, 0x1b));
	free(out);
	drive_release(&d);
	run_build_release(&b);
	plan_release(&p);
	store_close(st);
}

/* A source whose tree cannot be prepared (a garbage tarball) does not stop
 * the others, in either build loop: its arch is an ERROR build with the
 * reason, the good source's arch builds and boots, and unprepared counts it
 * (the command exits 2 once everything is recorded). */
static void test_unprepared_source_loses_nothing(void **state)
{
	struct plan_opts o = { .arches = (char *[]){ "fast", NULL }, .tests = tests, .ovr = ovr,
			       .novr = 3, .be = &fake_backend };
	struct sched_opts so = { .jobs = 2, .boot_timeout = 10, .silence_timeout = 10,
				 .total_timeout = 10 };
	char db[300], bad[300], *specs[] = { bad, src, NULL };

	(void)state;
	snprintf(bad, sizeof(bad), "%s/garbage.tar.xz", dir);
	put_file(bad, "this is not an xz stream\n");
	for (int overlap = 0; overlap < 2; overlap++) {
		struct run_plan p;
		struct run_build b = { 0 };
		struct run_drive d;
		struct store *st;

		snprintf(db, sizeof(db), "%s/unprepared-%d.db", dir, overlap);
		assert_non_null(st = store_open(db, 0, NULL));
		memset(&fake, 0, sizeof(fake));
		plan_init(&p, &o);
		assert_int_equal(run_build_prepare(&b, &p, specs, NULL, NULL), 0);
		assert_int_equal(drive_begin(&d, &p, st, "kfarm run --source (test)"), 0);
		if (overlap)
			d.feed = run_build_feed(&b, &d, 1, 0);
		else
			assert_int_equal(run_build_sync(&b), 0);
		assert_int_equal(drive_run(&d, &so, 0), 0);
		assert_int_equal(b.ss.unprepared, 1);
		assert_int_equal(b.ss.b[0].status, BS_ERROR);
		assert_non_null(strstr(b.ss.b[0].error, "the source tree could not be prepared: "
					"cannot unpack "));
		assert_int_equal(b.ss.b[1].status, BS_PASS);
		assert_int_equal(fake.starts, 1);
		assert_int_equal(run_build_record(&b, &p, st, d.run, db), 0);
		drive_end(&d, 0);
		assert_int_equal(value(st, "SELECT count(*) FROM builds WHERE arch = ?", "fast"), 2);
		assert_int_equal(value(st, "SELECT count(*) FROM builds WHERE status = 'ERROR'"
				       " AND error LIKE 'the source tree could not be prepared: %'"
				       " AND arch = ?", "fast"), 1);
		assert_int_equal(value(st, "SELECT count(*) FROM jobs WHERE outcome = 'COMPLETE'"
				       " AND arch = ?", "fast"), 1);
		drive_release(&d);
		run_build_release(&b);
		plan_release(&p);
		store_close(st);
	}
}

int main(void)
{
	const struct CMUnitTest t[] = {
		cmocka_unit_test(test_fast_arch_boots_while_slow_builds),
		cmocka_unit_test(test_unbuilt_kselftests_and_output),
		cmocka_unit_test(test_unprepared_source_loses_nothing),
	};

	return cmocka_run_group_tests(t, setup, teardown);
}
