/* One build of a prepared source candidate for one arch, through
 * images/kernel.sh --src (kfarm's recipe, cached by key). A build is a
 * result: PASS, FAIL (the kernel or its patches do not build) or ERROR
 * (infrastructure: no cross compiler, the script could not run). */
#ifndef KFARM_BUILD_H
#define KFARM_BUILD_H

struct source;

struct build {
	char *arch, *config;	/* config: "kfarm" (tinyconfig + fragments) */
	const char *status;	/* "PASS", "FAIL", "ERROR" */
	char *error;		/* first error line (file:line), NULL on PASS */
	char *compiler, *config_sha256, *release, *key;
	char *image;		/* the bootable image in the cache (PASS) */
	char *log;		/* the build log in the cache, or NULL */
	long warnings;
	double started, duration_s;	/* wall clock */
	int cached;		/* the result came from the cache */
};

/* Always fills b (ERROR with the reason when the script failed). */
void build_arch(const struct source *s, const char *arch, struct build *b);
/* A result without a build (a patch that does not apply). */
void build_set(struct build *b, const char *arch, const char *status, const char *error);
void build_release(struct build *b);

#endif
