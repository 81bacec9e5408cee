/* A patch series on top of a source candidate: a quilt directory (its
 * `series` file, else its *.patch in name order), an mbox of git
 * format-patch mails (one patch per mail) or one patch file. Identity =
 * sha256 of the patches' sha256s, one a line ("none" for no patches). */
#ifndef KFARM_PATCHES_H
#define KFARM_PATCHES_H

#include "err.h"

#include <stddef.h>

struct patch {
	char *name;		/* file name, or "mail N (Subject)" */
	char *path;		/* the file patch(1) reads */
	char sha256[65];
};

struct patch_series {
	char *path;		/* as given (absolute), NULL for none */
	struct patch *v;
	size_t n;
	char hash[65];
	char *tmpdir;		/* split mails, removed by patches_release */
};

/* Loads path (NULL: no patches); -1 with e on a problem. */
int patches_load(const char *path, struct patch_series *ps, struct err *e);
/* Applies the series to dir with patch -p1. 0 applied; 1 a patch does not
 * apply: e->msg = "patch NAME: hunk #2 FAILED at 123 (fs/fcntl.c)"; -1 patch(1)
 * could not run (e says so). */
int patches_apply(const struct patch_series *ps, const char *dir, struct err *e);
/* The first failure in patch(1)'s output, for patches_apply (exposed for tests). */
void patches_explain(const char *name, const char *output, struct err *e);
void patches_release(struct patch_series *ps);

#endif
