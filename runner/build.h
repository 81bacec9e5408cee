/* One build of a prepared source candidate for one arch, through
 * images/kernel.sh --src (kfarm's recipe, cached by key). A build is a
 * result: PASS, FAIL (the kernel or its patches do not build) or ERROR
 * (infrastructure: no cross compiler, the script could not run). */
#ifndef KFARM_BUILD_H
#define KFARM_BUILD_H

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
	const char *status;	/* "PASS", "FAIL", "ERROR" */
	char *error;		/* first error line (file:line), NULL on PASS */
	char *compiler, *config_sha256, *release, *key;
	char *image;		/* the bootable image in the cache (PASS) */
	char *log;		/* the build log in the cache, or NULL */
	long warnings;
	double started, duration_s;	/* wall clock */
	int cached;		/* the result came from the cache */
};

/* Parses spec (NULL: kfarm's); prints the problem (unreadable file) and
 * returns -1. */
int build_config_parse(const char *spec, struct build_config *c);
void build_config_release(struct build_config *c);

/* Always fills b (ERROR with the reason when the script failed). */
void build_arch(const struct source *s, const struct build_config *c, const char *arch,
		struct build *b);
/* A result without a build (a patch that does not apply). */
void build_set(struct build *b, const char *arch, const struct build_config *c,
	       const char *status, const char *error);
void build_release(struct build *b);

#endif
