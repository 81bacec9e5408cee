/* Architecture profiles: arches/ARCH.json, one per architecture (fields in
 * docs/design.md). A loaded profile is complete and validated; nothing else in
 * kfarm knows per-arch facts. */
#ifndef KFARM_PROFILE_H
#define KFARM_PROFILE_H

#include <stddef.h>

struct magic {
	size_t offset;
	unsigned char bytes[16];
	size_t len;
};

struct profile {
	char *arch;
	char *console;
	char *qemu_binary;
	char *machine;
	char *cpu;		/* NULL: QEMU's default */
	unsigned memory_mb;
	char **firmware;	/* NULL-terminated extra argv */
	char **args;		/* NULL-terminated extra argv */
	struct magic magic[4];
	size_t nmagic;
};

/* Loads and validates arches/ARCH.json; on error prints the file and the
 * problem and returns -1. */
int profile_load(const char *arch, struct profile *p);
/* Same, from a path (used by tests and fuzzers). */
int profile_load_file(const char *path, const char *want_arch, struct profile *p);
/* Parses a profile from memory; errors are written into err (no printing). */
int profile_parse(const char *json, size_t len, const char *want_arch, struct profile *p,
		  char *err, size_t errlen);
void profile_release(struct profile *p);

/* Checks that path is a readable kernel image for this arch; prints why not. */
int profile_check_image(const struct profile *p, const char *path);

/* NULL-terminated list of arch names that have a profile (sorted). */
char **profile_list(void);

#endif
