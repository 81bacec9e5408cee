/* One build of a prepared source candidate for one arch, through
 * images/kernel.sh --src (kfarm's recipe, cached by key). A build is a
 * result: PASS, FAIL (the kernel or its patches do not build) or ERROR
 * (infrastructure: no cross compiler, the script could not run). */
#ifndef KFARM_BUILD_H
#define KFARM_BUILD_H

#include "err.h"
#include "history.h"
#include "util.h"

#include <stddef.h>
#include <sys/types.h>

struct source;

/* --config: kfarm's recipe (NULL or "kfarm"), "defconfig", "FILE" (a full
 * .config as the base) or "+FRAGMENT" (on top of kfarm's recipe); kfarm's
 * required options always go on top and are verified. */
struct build_config {
	char *name;		/* as recorded: kfarm, defconfig, file:NAME, kfarm+NAME */
	char *arg;		/* images/kernel.sh --config: kfarm, defconfig, file:P, frag:P */
	char *bdir;		/* suffix of the O= tree ("" for kfarm's) */
};

struct build {
	char *arch, *config;	/* config: build_config's name */
	enum build_status status;
	char *error;		/* first error line (file:line), NULL on PASS */
	char *compiler, *config_sha256, *release, *key;
	char *image;		/* the bootable image in the cache (PASS) */
	char *log;		/* the build log in the cache, or NULL */
	long warnings;
	double started, duration_s;	/* wall clock */
	int cached;		/* the result came from the cache */
	int interrupted;	/* the signal that stopped it (ERROR), 0: none */
};

/* A build running as a child in its own process group (images/kernel.sh,
 * its make and compilers): build_start, build_io whenever out_fd is
 * readable (the script's lines, printed as they come, sanitized for the
 * terminal, and its phase), build_follow now and then (make's progress in
 * the log), build_finish once out_fd is at EOF and pidfd readable. A signal
 * forwarded with build_signal goes to the whole group; the script then
 * records nothing (no image, no failure record) and the build is ERROR
 * "interrupted". */
enum build_phase { BP_CONFIGURE, BP_COMPILE, BP_DONE };

struct build_proc {
	pid_t pid;
	int pidfd, out_fd;	/* -1 when closed */
	char res[32];		/* the result record's temporary file */
	const char *arch;	/* borrowed from the build */
	struct sb out, line;	/* all output (bounded), the partial line */
	double t0;
	enum build_phase phase;
	char *log;		/* make's log (the script says where), or NULL */
	off_t log_off;
	long steps, expect;	/* kbuild steps logged; of a full build (0: unknown) */
	int at_bol, col, sig;	/* the log's line state; the forwarded signal */
};

/* make -j for every build: 0 = the script's default (nproc); nice: added
 * to the builds' niceness (so VMs booting meanwhile keep their CPU). */
void build_set_jobs(unsigned int make_jobs, int nice);
/* Where the script's lines go (rendered safe, "kernel: ..."): fn, or
 * stderr as "  ARCH: LINE" when fn is NULL. */
void build_set_output(void (*fn)(void *data, const char *arch, const char *line), void *data);
/* Starts the build of arch; b is filled (ERROR) if it cannot start: -1. */
int build_start(const struct source *s, const struct build_config *c, const char *arch,
		struct build_proc *bp, struct build *b);
/* Reads what is there; 0 at EOF (out_fd closed). */
int build_io(struct build_proc *bp);
/* Follows make's log: counts kbuild steps. */
void build_follow(struct build_proc *bp);
/* Sends sig to the build's process group (once; later calls repeat it). */
void build_signal(struct build_proc *bp, int sig);
/* Drains, waits for the script and fills b. */
void build_finish(struct build_proc *bp, struct build *b);
/* "configure", "compile 42%", "compile (812 steps)" */
void build_phase_text(const struct build_proc *bp, char *buf, size_t len);

/* Parses spec (NULL: kfarm's); -1 with e when the file cannot be read. */
int build_config_parse(const char *spec, struct build_config *c, struct err *e);
void build_config_release(struct build_config *c);

/* Builds and waits. Always fills b (ERROR with the reason when the script
 * failed); SIGINT/SIGTERM meanwhile go to the build (b->interrupted). */
void build_arch(const struct source *s, const struct build_config *c, const char *arch,
		struct build *b);
/* A result without a build (a patch that does not apply). */
void build_set(struct build *b, const char *arch, const struct build_config *c,
	       enum build_status status, const char *error);
void build_release(struct build *b);

#endif
