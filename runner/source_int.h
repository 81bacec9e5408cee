/* What source.c (resolving a candidate) and source_prepare.c (making its
 * tree in the cache) share; not for other modules. */
#ifndef KFARM_SOURCE_INT_H
#define KFARM_SOURCE_INT_H

#include "source.h"
#include "util.h"

#include <stddef.h>

void source_sha_text(const char *s, size_t n, char out[65]);
/* removes trailing newlines */
void source_chomp(struct sb *sb);
/* VERSION.PATCHLEVEL.SUBLEVEL of dir's kernel Makefile, or NULL */
char *source_dir_version(const char *dir);
/* a tarball's file name without its .tar* suffix; its version part */
char *source_tar_base(const struct source *s);
const char *source_tar_ver(const char *base);
/* kernel.sh's O= trees inside a tree of the cache (.kfarm-o-ARCH-NAME) */
int source_is_obj_tree(const char *name);

#endif
