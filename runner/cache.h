/* What `make images` left in the cache (layout in docs/design.md): the
 * default kernels and each arch's initramfs. Read-only here. */
#ifndef KFARM_CACHE_H
#define KFARM_CACHE_H

#include "err.h"

#include <stddef.h>

struct default_kernel {
	char *arch, *version, *status, *image, *release, *error;
};

/* Every defaults/ARCH-VER.json, sorted by arch then version; -1 with e when
 * there is no defaults/. A malformed file is skipped: 0, and e names it (the
 * first, and how many more), else e->msg is "". */
int cache_defaults(struct default_kernel **out, size_t *n, struct err *e);
void cache_defaults_free(struct default_kernel *d, size_t n);

/* initramfs/ARCH.json: the cpio path and its default test selection; -1
 * with e when it is missing or malformed. */
int cache_initramfs(const char *arch, char **path, char ***tests, struct err *e);
/* The same from any record mkinitramfs.sh wrote (ARCH-user.json, a
 * kselftest record): {"path", "tests"}. */
int cache_initramfs_file(const char *file, char **path, char ***tests, struct err *e);
/* The tests an initramfs given by path runs: those of the cache record that
 * names it (ARCH-user.json, ARCH-kselftest.json), else ARCH.json's: 0; 1
 * when there is no record at all (an initramfs of the user's own: no
 * error). A malformed record is skipped, and e names it (else e->msg is ""). */
int cache_initramfs_suite(const char *arch, const char *initrd, char ***tests,
			  struct err *e);

#endif
