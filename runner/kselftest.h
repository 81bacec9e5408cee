/* --kselftest TARGETS on kfarm run --source: the candidate's own
 * tools/testing/selftests targets, built per arch with the arch's cross
 * compiler against its own UAPI headers (images/kselftest.sh), packed into
 * the initramfs (images/mkinitramfs.sh --kselftest) and run by /init as
 * kselftest:TARGET. Each target's build is a build result (config
 * "kselftest:TARGET": PASS, FAIL with the first error, ERROR); the kernel is
 * built with the targets' own config files merged (make kselftest-merge),
 * recorded as the build's config "kfarm+kselftest". */
#ifndef KFARM_KSELFTEST_H
#define KFARM_KSELFTEST_H

#include "build.h"
#include "err.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct job;
struct srcset;
struct store;

struct ks_arch {
	char *initrd;		/* the kselftest initramfs, NULL if none was packed */
	char **tests;		/* its record's tests, in run order */
	struct build *tb;	/* one per target */
	size_t ntb;
};

struct kselftest {
	char **targets;		/* NULL: no --kselftest */
	char *csv;
	struct ks_arch *per;	/* like srcset.b: [source * narch + arch] */
	size_t nper;
};

/* Checks "a,b,c" (selftests directory names); -1 with why not in e. */
int kselftest_parse(struct kselftest *ks, const char *arg, struct err *e);
/* Before srcset_build: the kernels get the targets' config files merged. */
void kselftest_config(const struct kselftest *ks);
/* After srcset_build: builds and packs the targets for every built arch. */
void kselftest_build(struct kselftest *ks, struct srcset *ss);
/* A job for build i: boots the kselftest initramfs and expects its tests
 * (unless tests were given); -1 with e when the initramfs cannot be pinned. */
int kselftest_job(const struct kselftest *ks, size_t i, struct job *j, int tests_given,
		  struct err *e);
/* Stores each target's build result next to the kernel builds; -1 with e. */
int kselftest_record(const struct kselftest *ks, const struct srcset *ss, struct store *st,
		     int64_t run, const char *db_path, struct err *e);
/* --tests is exact: says which user:/kselftest: programs of an initramfs's
 * suite it leaves out (none is dropped silently). */
void programs_left_out(const char *arch, char **suite, char **tests);
/* Prints one line per arch x target build. */
void kselftest_report(const struct kselftest *ks, const struct srcset *ss, FILE *f);
void kselftest_release(struct kselftest *ks);

#endif
