/* Architecture profiles: arches/ARCH.json, one per architecture (fields in
 * docs/design.md). A loaded profile is complete and validated; nothing else in
 * kfarm knows per-arch facts. */
#ifndef KFARM_PROFILE_H
#define KFARM_PROFILE_H

#include <stddef.h>

#include "err.h"

struct magic {
	size_t offset;
	unsigned char bytes[16];
	size_t len;
};

/* A named variant of the profile's machine (profile "variants" object);
 * 0 / ACCEL_AUTO: the profile's default. */
enum accel_req { ACCEL_AUTO, ACCEL_KVM, ACCEL_TCG };

struct variant {
	char *name;
	unsigned smp;
	unsigned memory_mb;
	enum accel_req accel;
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
	unsigned max_smp;	/* most vCPUs the QEMU machine takes (qemu.max_smp) */
	struct variant *variants;
	size_t nvariants;
	struct magic magic[4];
	size_t nmagic;
};

/* The machine a job boots: the profile's default with a variant and
 * overrides applied. key is its comparison key ("" = the default machine
 * under emulation; else e.g. "smp4", "smp2-m1024-kvm"). */
struct machine {
	char variant[33];	/* the variant's name, or "" */
	unsigned smp;
	unsigned memory_mb;
	enum accel_req accel;
};

/* Resolves variant (NULL: none) and an --smp override (0: none) against p;
 * an unknown variant or too many vCPUs is refused with the reason in err. */
int profile_machine(const struct profile *p, const char *variant, unsigned smp,
		    struct machine *m, struct err *err);
/* The comparison key of a machine whose accelerator resolved to kvm or not. */
void machine_key(const struct profile *p, const struct machine *m, int kvm, char *buf,
		 size_t len);
const char *accel_req_name(enum accel_req a);
/* "auto", "kvm", "tcg"; -1 for anything else */
int accel_req_parse(const char *s, enum accel_req *out);

/* Loads and validates arches/ARCH.json; -1 with the file and the problem in
 * e ("malformed profile 'PATH': ..."). */
int profile_load(const char *arch, struct profile *p, struct err *e);
/* Same, from a path (used by tests and fuzzers). */
int profile_load_file(const char *path, const char *want_arch, struct profile *p,
		      struct err *e);
/* Parses a profile from memory; errors are written into err (no printing). */
int profile_parse(const char *json, size_t len, const char *want_arch, struct profile *p,
		  struct err *err);
void profile_release(struct profile *p);

/* Checks that path is a readable kernel image for this arch; -1 with why
 * not in e. */
int profile_check_image(const struct profile *p, const char *path, struct err *e);

/* NULL-terminated list of arch names that have a profile (sorted). */
char **profile_list(void);

#endif
