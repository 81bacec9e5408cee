/* Materializing a source candidate's tree in the cache: one unpacked or
 * copied tree per identity, one private clone per repository. */
#include "source_int.h"
#include "spawn.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static int lock_name(struct source *s, const char *name, struct err *e)
{
	char *p = xasprintf("%s/src/.lock-%s", cache_dir(), name);

	s->lock_fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	free(p);
	if (s->lock_fd < 0 || flock(s->lock_fd, LOCK_EX) < 0)
		return err_set(e, 0, "cannot lock the source tree %s: %s", name, strerror(errno));
	return 0;
}

static void unlock(struct source *s)
{
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	s->lock_fd = -1;
}

/* The name make images gives Debian's unpacked tarball (recipe 1's PKEY:
 * tarball name, size, mtime and each patch's name and text), so both share
 * one tree, one O= tree and one ccache. */
static char *tarball_src_name(const struct source *s)
{
	struct stat st;
	struct sb in;
	char *base = source_tar_base(s), *name, h[65];

	stat(s->path, &st);
	sb_init(&in);
	sb_addf(&in, "tarball %s %lld %lld\n", strrchr(s->path, '/') + 1, (long long)st.st_size,
		(long long)st.st_mtime);
	if (!s->patches.n)
		sb_adds(&in, "nopatch\n");
	for (size_t i = 0; i < s->patches.n; i++) {
		char *text;
		size_t len;

		if (read_file(s->patches.v[i].path, 64u << 20, &text, &len) < 0)
			len = 0, text = xstrdup("");
		while (len && text[len - 1] == '\n')
			len--;
		sb_addf(&in, "patch %s\n", s->patches.v[i].name);
		sb_add(&in, text, len);
		sb_adds(&in, "\n");
		free(text);
	}
	source_sha_text(in.buf, in.len, h);
	name = xasprintf("linux-%s-%s%.12s", source_tar_ver(base), s->patches.n ? "" : "nopatch-", h);
	sb_release(&in);
	free(base);
	return name;
}

/* cp -a of dir's entries into tmp, but for O= trees; -1 if cp did not
 * start or dir cannot be read (e says why), else cp's exit status. */
static int copy_tree(const char *dir, const char *tmp, struct sb *out, struct err *e)
{
	size_t n = 0, cap = 16;
	char **argv = xmalloc(cap * sizeof(*argv));
	DIR *d = opendir(dir);
	struct dirent *de;
	int rc = -1;

	if (!d) {
		err_set(e, 0, "%s", strerror(errno));
		free(argv);
		return -1;
	}
	argv[n++] = xstrdup("cp");
	argv[n++] = xstrdup("-a");
	argv[n++] = xstrdup("--reflink=auto");
	argv[n++] = xstrdup("-t");
	argv[n++] = xstrdup(tmp);
	argv[n++] = xstrdup("--");
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") || source_is_obj_tree(de->d_name))
			continue;
		if (n + 2 > cap)
			argv = xrealloc(argv, (cap *= 2) * sizeof(*argv));
		argv[n++] = xasprintf("%s/%s", dir, de->d_name);
	}
	closedir(d);
	argv[n] = NULL;
	rc = spawn_run(argv, NULL, NULL, out, 4096, e);
	for (size_t i = 0; i < n; i++)
		free(argv[i]);
	free(argv);
	return rc;
}

/* Fills the temporary tree tmp (unpacked / copied), then patches it. */
static int fill_tree(struct source *s, const char *tmp, struct err *e)
{
	struct sb out;
	int rc;

	sb_init(&out);
	if (s->kind == SRC_TARBALL) {
		char *argv[] = { "tar", "-xf", s->path, "-C", (char *)tmp, "--strip-components=1",
				 "--no-same-owner", NULL };

		fprintf(stderr, "kfarm: unpacking %s\n", s->path);
		rc = spawn_run(argv, NULL, NULL, &out, 4096, e);
	} else {
		rc = copy_tree(s->path, tmp, &out, e);
	}
	if (rc < 0) {	/* tar or cp did not start: e says why */
		sb_release(&out);
		return err_prefix(e, "cannot %s %s: ", s->kind == SRC_TARBALL ? "unpack" : "copy",
				  s->path);
	}
	if (rc) {
		source_chomp(&out);
		for (char *c = out.buf; *c; c++)	/* one line: tar and xz both speak */
			if (*c == '\n')
				*c = ';';
		err_set(e, 0, "cannot %s %s: %.200s", s->kind == SRC_TARBALL ? "unpack" : "copy",
			 s->path, out.len ? out.buf : "failed");
		sb_release(&out);
		return -1;
	}
	sb_release(&out);
	char *v = source_dir_version(tmp);
	if (!v) {
		err_set(e, 0, "%s is not a kernel source tarball (no kernel Makefile)", s->path);
		return -1;
	}
	free(v);
	return patches_apply(&s->patches, tmp, e);
}

/* A tarball (or a patched plain directory): made once under a temporary
 * name, renamed when complete; immutable afterwards. */
static int prepare_copy(struct source *s, struct err *e)
{
	char *name = s->kind == SRC_TARBALL ? tarball_src_name(s)
		     : xasprintf("dir-%.16s", s->id + 4);
	char *dst = xasprintf("%s/src/%s", cache_dir(), name);
	char *tmp = xasprintf("%s/src/.tmp-%s.%d", cache_dir(), name, (int)getpid());
	int rc = 0;

	if (lock_name(s, name, e)) {
		rc = -1;
	} else if (access(dst, F_OK) < 0) {
		spawn_rm_rf(tmp, NULL);
		if (mkdir(tmp, 0755) < 0) {
			err_set(e, 0, "cannot create %s: %s", tmp, strerror(errno));
			rc = -1;
		} else if ((rc = fill_tree(s, tmp, e)) == 0 && rename(tmp, dst) < 0) {
			err_set(e, 0, "cannot rename %s: %s", tmp, strerror(errno));
			rc = -1;
		}
		if (rc)
			spawn_rm_rf(tmp, NULL);
	}
	unlock(s);
	if (!rc)
		s->dir = xstrdup(dst);
	free(name), free(dst), free(tmp);
	return rc;
}

/* One cache-private clone per repository (sharing its objects), checked
 * out at the candidate's commit: successive revisions change only the files
 * that differ, so the O= tree rebuilds only what changed. Locked until
 * source_release (the builds use it). */
static int prepare_git(struct source *s, struct err *e)
{
	char *name = xasprintf("git-%s", s->bdir + 4);
	char *dst = xasprintf("%s/src/%s", cache_dir(), name);
	char *tmp = xasprintf("%s/src/.tmp-%s.%d", cache_dir(), name, (int)getpid());
	struct sb out;
	int rc = -1, g;

	sb_init(&out);
	if (lock_name(s, name, e))
		goto out;
	if (access(dst, F_OK) < 0) {
		char *argv[] = { "git", "clone", "--shared", "--no-checkout", "--quiet", s->path,
				 tmp, NULL };

		spawn_rm_rf(tmp, NULL);
		if ((g = spawn_run(argv, NULL, NULL, &out, 4096, e)) || rename(tmp, dst) < 0) {
			source_chomp(&out);
			if (g < 0)	/* git did not start: e says why */
				err_prefix(e, "cannot clone %s: ", s->path);
			else
				err_set(e, 0, "cannot clone %s: %.200s", s->path, out.buf);
			spawn_rm_rf(tmp, NULL);
			goto out;
		}
	}
	fprintf(stderr, "kfarm: checking out %.12s of %s into src/%s\n", s->commit, s->path, name);
	{
		char *argv[] = { "git", "-C", dst, "-c", "advice.detachedHead=false", "checkout",
				 "--quiet", "--force", "--detach", s->commit, NULL };
		/* the O= trees kernel.sh keeps inside the clone survive */
		char *clean[] = { "git", "-C", dst, "clean", "-fdxq", "-e", "/.kfarm-o-*", NULL };

		sb_reset(&out);
		if ((g = spawn_run(argv, NULL, NULL, &out, 4096, e)) == 0)
			g = spawn_run(clean, NULL, NULL, NULL, 0, e);
		if (g) {
			source_chomp(&out);
			if (g < 0)
				err_prefix(e, "cannot check out %.12s: ", s->commit);
			else
				err_set(e, 0, "cannot check out %.12s: %.200s", s->commit, out.buf);
			goto out;
		}
	}
	rc = patches_apply(&s->patches, dst, e);
	if (!rc)
		s->dir = xstrdup(dst);
out:
	sb_release(&out);
	free(name), free(dst), free(tmp);
	return rc;
}

int source_prepare(struct source *s, struct err *e)
{
	char *srcdir = xasprintf("%s/src", cache_dir());
	int rc = mkdir_p(srcdir, 0755);

	free(srcdir);
	err_clear(e);
	if (rc < 0) {
		err_set(e, 0, "cannot create %s/src: %s", cache_dir(), strerror(errno));
		return -1;
	}
	if (s->kind == SRC_GIT)
		rc = prepare_git(s, e);
	else if (s->kind == SRC_DIR && !s->patches.n)
		rc = (s->dir = xstrdup(s->path)) ? 0 : -1;
	else
		rc = prepare_copy(s, e);
	if (!rc && !s->version)
		s->version = source_dir_version(s->dir);
	if (!rc && !s->version) {
		err_set(e, 0, "%s: not a kernel source tree", s->spec);
		rc = -1;
	}
	return rc;
}

void source_release(struct source *s)
{
	unlock(s);
	patches_release(&s->patches);
	free(s->spec), free(s->path), free(s->rev), free(s->commit), free(s->branch);
	free(s->id), free(s->tree), free(s->label), free(s->bdir), free(s->dir), free(s->version);
	memset(s, 0, sizeof(*s));
	s->lock_fd = -1;
}
