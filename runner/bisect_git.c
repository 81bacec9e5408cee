/* The git side of kfarm bisect: argv-only git commands, the private clone in
 * the cache, the first-parent line between good and bad, the revert commit.
 * The user's repository is only ever read. */
#include "bisect_git.h"
#include "spawn.h"
#include "util.h"

#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* git -C dir ARGS (NULL-terminated, at most 12) into out (trimmed). */
int git_run(const char *dir, struct sb *out, ...)
{
	char *argv[16] = { "git", "-C", (char *)dir };
	va_list ap;
	int n = 3, rc;

	va_start(ap, out);
	while (n < 15 && (argv[n] = va_arg(ap, char *)))
		n++;
	va_end(ap);
	argv[n] = NULL;
	if (out)
		sb_reset(out);
	rc = spawn_run(argv, NULL, NULL, out, 1u << 22, NULL);
	while (out && out->len && (out->buf[out->len - 1] == '\n' || out->buf[out->len - 1] == ' '))
		out->buf[--out->len] = '\0';
	return rc;
}

char *git_rev_commit(const char *repo, const char *rev)
{
	struct sb out;
	char *spec = xasprintf("%s^{commit}", rev), *c = NULL;

	sb_init(&out);
	if (rev[0] != '-' && !git_run(repo, &out, "rev-parse", "--verify", "--quiet", spec, (char *)NULL) &&
	    out.len == 40)
		c = sb_detach(&out);
	sb_release(&out);
	free(spec);
	return c;
}

static char *hash_prefix(const char *s)
{
	unsigned char md[32];
	unsigned int n = 0;
	char *h = xmalloc(17);

	EVP_Digest(s, strlen(s), md, &n, EVP_sha256(), NULL);
	for (int i = 0; i < 8; i++)
		snprintf(h + 2 * i, 3, "%02x", md[i]);
	return h;
}

/* The private clone of repo in the cache (objects shared with it): the
 * bisection's checkouts and revert commits never touch the user's tree. */
char *git_private_clone(const char *repo, struct err *e)
{
	const char *base = strrchr(repo, '/') + 1;
	char *h = hash_prefix(repo), *dir = xasprintf("%s/bisect", cache_dir());
	char *dst = xasprintf("%s/%.40s-%s", dir, *base ? base : "repo", h);
	char *tmp = xasprintf("%s.tmp.%d", dst, (int)getpid());
	struct sb out;
	int rc = 0;

	sb_init(&out);
	if (access(dst, F_OK) < 0) {
		char *argv[] = { "git", "clone", "--shared", "--no-checkout", "--quiet",
				 (char *)repo, tmp, NULL };

		if (mkdir_p(dir, 0755) || (rc = spawn_run(argv, NULL, NULL, &out, 4096, e)) ||
		    rename(tmp, dst) < 0) {
			if (rc < 0)	/* git did not start: e says why */
				err_prefix(e, "cannot make a private clone of %s in %s: ", repo, dir);
			else
				err_set(e, 0, "cannot make a private clone of %s in %s: %.200s", repo,
					dir, out.buf);
			free(dst);
			dst = NULL;
		}
	}
	sb_release(&out);
	free(h), free(dir), free(tmp);
	return dst;
}

/* good's first-parent descendants up to bad, oldest first, good first. */
char **git_commit_line(const char *priv, const char *good, const char *bad, size_t *n)
{
	struct sb out;
	char *range = xasprintf("%s..%s", good, bad), **v = NULL;

	sb_init(&out);
	*n = 0;
	if (git_run(priv, NULL, "merge-base", "--is-ancestor", good, bad, (char *)NULL) ||
	    git_run(priv, &out, "rev-list", "--reverse", "--first-parent", "--ancestry-path", range, (char *)NULL) || !out.len)
		goto out;
	v = xcalloc(out.len / 41 + 3, sizeof(char *));
	v[(*n)++] = xstrdup(good);
	for (char *line = strtok(out.buf, "\n"); line; line = strtok(NULL, "\n"))
		v[(*n)++] = xstrdup(line);
	if (strcmp(v[*n - 1], bad)) {	/* bad is not on good's first-parent line */
		strv_free(v);
		v = NULL;
		*n = 0;
	}
out:
	sb_release(&out);
	free(range);
	return v;
}

/* bad with culprit reverted, as a commit of the private clone (dates fixed
 * so that a resumed bisection makes the same commit); NULL: conflict. */
char *git_revert_commit(const char *priv, const char *bad, const char *culprit, int *infra)
{
	struct sb out;
	char *id = NULL, *date;

	sb_init(&out);
	*infra = 0;
	if (git_run(priv, &out, "log", "-1", "--format=%cI", bad, (char *)NULL)) {
		*infra = 1;
		goto out;
	}
	date = sb_detach(&out);
	sb_init(&out);	/* detached: usable again only once re-initialised */
	setenv("GIT_AUTHOR_DATE", date, 1);
	setenv("GIT_COMMITTER_DATE", date, 1);
	free(date);
	if (git_run(priv, &out, "-c", "advice.detachedHead=false", "checkout", "--quiet", "--force",
		"--detach", bad, (char *)NULL)) {
		*infra = 1;
	} else if (git_run(priv, &out, "-c", "user.name=kfarm bisect", "-c",
		       "user.email=kfarm@localhost", "revert", "--no-edit", culprit, (char *)NULL)) {
		git_run(priv, NULL, "revert", "--abort", (char *)NULL);
	} else if (!git_run(priv, &out, "rev-parse", "HEAD", (char *)NULL) && out.len == 40) {
		id = xstrdup(out.buf);
	} else {
		*infra = 1;
	}
	unsetenv("GIT_AUTHOR_DATE");
	unsetenv("GIT_COMMITTER_DATE");
out:
	sb_release(&out);
	return id;
}
