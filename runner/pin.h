/* Boot inputs pinned by content. A kernel or initramfs is opened once, and
 * the bytes read from that one descriptor are both hashed and copied into
 * $KFARM_CACHE/pinned/SHA256 (temporary name, then rename): the copy is what
 * boots, so the sha256 kfarm records is always the booted image, even when
 * the original is replaced or rewritten meanwhile (make kernels FORCE=1).
 * A copy no run has used for 30 days is removed by the next run. A user
 * who cannot write the cache pins into a private per-user directory. */
#ifndef KFARM_PIN_H
#define KFARM_PIN_H

#include "err.h"

/* Hashes and pins path; *pinned (malloc'd) is the copy to boot. Returns 0,
 * or -1 with the file and the problem in e. */
int pin_file(const char *path, char sha[65], char **pinned, struct err *e);

#endif
