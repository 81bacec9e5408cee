/* What `make images` left in the cache (layout in docs/design.md): the
 * default kernels and each arch's initramfs. Read-only here. */
#ifndef KFARM_CACHE_H
#define KFARM_CACHE_H

#include <stddef.h>

struct default_kernel {
	char *arch, *version, *status, *image, *release, *error;
};

/* Every defaults/ARCH-VER.json, sorted by arch then version. */
int cache_defaults(struct default_kernel **out, size_t *n);
void cache_defaults_free(struct default_kernel *d, size_t n);

/* initramfs/ARCH.json: the cpio path and its default test selection. */
int cache_initramfs(const char *arch, char **path, char ***tests);
/* The same from any record mkinitramfs.sh wrote (ARCH-user.json, a
 * kselftest record): {"path", "tests"}. */
int cache_initramfs_file(const char *file, char **path, char ***tests);
/* The tests an initramfs given by path runs: those of the cache record that
 * names it (ARCH-user.json, ARCH-kselftest.json), else ARCH.json's. */
int cache_initramfs_suite(const char *arch, const char *initrd, char ***tests);

#endif
