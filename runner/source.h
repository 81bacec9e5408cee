/* Source candidates: a git repository[@REV], a plain kernel source
 * directory or a tarball, plus an optional patch series. source_resolve
 * checks the input and computes the identity without writing anything;
 * source_prepare materializes the tree in the cache (layout in
 * docs/design.md) without touching the user's work tree or index. */
#ifndef KFARM_SOURCE_H
#define KFARM_SOURCE_H

#include "patches.h"

enum source_kind { SRC_GIT, SRC_DIR, SRC_TARBALL };

struct source {
	char *spec;		/* as given */
	enum source_kind kind;
	char *path;		/* absolute repository, directory or tarball */
	char *rev, *commit;	/* git: the revision as given (HEAD) and its commit id */
	char *branch;		/* git: the branch REV names (or HEAD's), or NULL */
	char sha256[65];	/* tarball: its sha256; dir: its fingerprint */
	struct patch_series patches;
	char *id;		/* identity: "git:COMMIT+patches:HASH" etc. */
	char *tree, *label;	/* defaults, replaced by --tree/--label */
	char *bdir;		/* name of its O= build trees (build/ARCH-BDIR) */
	/* after source_prepare */
	char *dir;		/* the tree to build */
	char *version;		/* VERSION.PATCHLEVEL.SUBLEVEL from its Makefile */
	int lock_fd;		/* held on the cached tree while it is built */
};

/* Resolves spec (+ patches path or NULL); -1 with e on a problem (missing
 * or unreadable path, unknown revision, not a kernel tree, bad patches). */
int source_resolve(const char *spec, const char *patches, struct source *s, struct err *e);
/* Materializes the tree. 0 ready; 1 a patch does not apply (e names the
 * patch and hunk; nothing usable is left); -1 infrastructure (e says). */
int source_prepare(struct source *s, struct err *e);
void source_release(struct source *s);
/* Drops the repository-local GIT_* variables (git rev-parse
 * --local-env-vars) from the environment: set by a caller (a git hook, git
 * rebase -x), GIT_DIR and GIT_WORK_TREE would point every git kfarm runs,
 * -C or not, at the caller's repository, a checkout or `git clean -fdx`
 * there instead of in the cache. main() calls it once. */
void source_git_env_clear(void);
const char *source_kind_name(enum source_kind k);

#endif
