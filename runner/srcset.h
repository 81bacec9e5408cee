/* The source candidates of one kfarm build / kfarm run: every --source
 * resolved (all inputs checked before anything is built or written), each
 * tree prepared and built per arch, then recorded: sources, builds (logs
 * copied next to the database), and for kfarm run the jobs of arches that did
 * not build, their tests MISSING "not built". */
#ifndef KFARM_SRCSET_H
#define KFARM_SRCSET_H

#include "build.h"
#include "source.h"

#include <stdint.h>
#include <stdio.h>

struct job;
struct store;

struct srcset {
	struct source *src;
	size_t n;
	char **arches;		/* selected arches (owned) */
	size_t narch;
	struct build *b;	/* n x narch, [i * narch + a] */
	struct job **job;	/* the job booting each PASS build (borrowed), or NULL */
	const char *config;	/* --config as given (NULL: kfarm's recipe), set before
				 * srcset_resolve, which keeps it and checks it */
	struct build_config cfg;
	/* called by srcset_build after source i's arches, while its tree is
	 * still the one built (a git clone moves on to the next revision) */
	void (*after_source)(void *data, struct srcset *ss, size_t i);
	void *after_data;
	/* tests every job of an unbuilt arch expects besides the suite's
	 * (--kselftest's kselftest:TARGET), unless --tests names them */
	char **more_tests;
	int interrupted;	/* the signal that stopped srcset_build, 0: none */
	size_t unprepared;	/* sources whose tree could not be prepared (bad
				 * input: the command exits 2 once the rest is
				 * recorded); their arches are ERROR builds */
};

/* Resolves every spec; tree/label override the defaults (label: one source
 * only). Prints the problem and returns -1 (exit 2). */
int srcset_resolve(struct srcset *ss, char **specs, const char *patches, char **arches,
		   const char *tree, const char *label);
/* Prepares source i's tree: 0 ready; 1 a patch does not apply (every arch
 * of it a FAIL build naming the patch); -1 the tree cannot be prepared
 * (unpack failure, not a kernel tarball: printed, ss->unprepared counts it,
 * every arch of it an ERROR build with the reason). */
int srcset_prepare(struct srcset *ss, size_t i);
/* Prepares and builds everything, source by source, one build at a time
 * (SIGINT/SIGTERM stop it: ss->interrupted, the builds not started have no
 * arch). A source that cannot be prepared does not stop the others; -1
 * when none could be (nothing to record). */
int srcset_build(struct srcset *ss);
/* Stores sources and builds in run; links each build to its job's candidate
 * (jobs already stored as candidates); with tests_of_unbuilt, also stores a
 * job with every expected test MISSING "not built" for each unbuilt arch. */
int srcset_record(struct srcset *ss, struct store *st, int64_t run, const char *db_path,
		  int tests_of_unbuilt, char **tests);
/* Prints one line per build; returns 0 all PASS, 1 a FAIL, 3 an ERROR. */
int srcset_report(const struct srcset *ss, FILE *f);
void srcset_release(struct srcset *ss);

#endif
