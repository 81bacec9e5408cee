/* Git for kfarm bisect: commands run with an argv (never a shell), the
 * bisection's private clone and the commits it steps through. */
#ifndef KFARM_BISECT_GIT_H
#define KFARM_BISECT_GIT_H

#include "err.h"

#include <stddef.h>

struct sb;

/* git -C dir ARGS (NULL-terminated, at most 12) into out (trimmed, may be
 * NULL); git's exit status, -1 if git did not start (no struct err: every
 * caller takes that as git failing, and the NULL-terminated ARGS come last). */
int git_run(const char *dir, struct sb *out, ...);
/* rev's full commit id in repo, or NULL (rev unknown or an option). */
char *git_rev_commit(const char *repo, const char *rev);
/* The private clone of repo in the cache (made if missing), or NULL with e. */
char *git_private_clone(const char *repo, struct err *e);
/* good's first-parent descendants up to bad, oldest first, good first (*n
 * of them); NULL if bad is not on that line. */
char **git_commit_line(const char *priv, const char *good, const char *bad, size_t *n);
/* bad with culprit reverted, as a commit of priv; NULL with *infra 0 on a
 * conflict, with *infra 1 when git failed otherwise. */
char *git_revert_commit(const char *priv, const char *bad, const char *culprit, int *infra);

#endif
