#include "source.h"
#include "spawn.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

const char *source_kind_name(enum source_kind k)
{
	return k == SRC_GIT ? "git" : k == SRC_DIR ? "dir" : "tarball";
}

static void hex(const unsigned char *md, char out[65])
{
	for (int i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
}

static void sha_text(const char *s, size_t n, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len;

	EVP_Digest(s, n, md, &len, EVP_sha256(), NULL);
	hex(md, out);
}

static char *sha_prefix(const char *s, size_t n)
{
	char h[65];

	sha_text(s, n, h);
	return xstrndup(h, 12);
}

/* Runs git -C repo ARGS..., its output (bounded) in out; exit status, or -1
 * with e if git did not start. */
static int git(const char *repo, struct sb *out, struct err *e, const char *a1,
	       const char *a2, const char *a3, const char *a4)
{
	char *argv[] = { "git", "-C", (char *)repo, (char *)a1, (char *)a2, (char *)a3,
			 (char *)a4, NULL };

	sb_reset(out);
	return spawn_run(argv, NULL, NULL, out, 256 << 10, e);
}

static void chomp(struct sb *sb)
{
	while (sb->len && (sb->buf[sb->len - 1] == '\n' || sb->buf[sb->len - 1] == '\r'))
		sb->buf[--sb->len] = '\0';
}

/* VERSION.PATCHLEVEL.SUBLEVEL+EXTRAVERSION of a kernel Makefile's text, or NULL */
static char *makefile_version(const char *text)
{
	char v[4][32] = { "", "", "", "" };
	static const char *const keys[] = { "VERSION", "PATCHLEVEL", "SUBLEVEL", "EXTRAVERSION" };
	const char *p = text;

	for (int line = 0; *p && line < 20; line++) {
		size_t n = strcspn(p, "\n");

		for (int k = 0; k < 4; k++) {
			size_t kl = strlen(keys[k]);
			const char *q = p + kl;

			if (strncmp(p, keys[k], kl) || (*q != ' ' && *q != '='))
				continue;
			q += strspn(q, " ");
			if (*q++ != '=')
				continue;
			q += strspn(q, " ");
			snprintf(v[k], sizeof(v[k]), "%.*s", (int)(p + n - q), q);
		}
		p += n + (p[n] == '\n');
	}
	if (!*v[0] || !*v[1])
		return NULL;
	for (int k = 0; k < 4; k++)
		for (char *c = v[k]; *c; c++)
			if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'z') || *c == '-' ||
			      *c == '.' || *c == '_' || (*c >= 'A' && *c <= 'Z')))
				*c = '_';
	return xasprintf("%s.%s.%s%s", v[0], v[1], *v[2] ? v[2] : "0", v[3]);
}

static char *dir_version(const char *dir)
{
	char *mk = xasprintf("%s/Makefile", dir), *text, *v = NULL;
	size_t len;

	if (read_file(mk, 1u << 20, &text, &len) == 0) {
		v = makefile_version(text);
		free(text);
	}
	free(mk);
	return v;
}

/* A name fit for trees, labels and cache paths: [A-Za-z0-9_.-] */
static char *sanitize(const char *s, size_t max)
{
	char *r = xstrndup(s, max);

	for (char *c = r; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || *c == '_' || *c == '.' || *c == '-'))
			*c = '-';
	return r;
}

static const char *tar_suffix(const char *p)
{
	static const char *const sfx[] = { ".tar.xz", ".tar.gz", ".tgz", ".tar" };
	size_t n = strlen(p);

	for (size_t i = 0; i < ARRAY_SIZE(sfx); i++) {
		size_t k = strlen(sfx[i]);

		if (n > k && !strcmp(p + n - k, sfx[i]))
			return p + n - k;
	}
	return NULL;
}

static int resolve_git(struct source *s, struct err *e)
{
	struct sb out;
	char *rs = xasprintf("%s^{commit}", s->rev), *mk;
	int ret = -1, rc = 0;

	sb_init(&out);
	if (s->rev[0] == '-' ||
	    (rc = git(s->path, &out, e, "rev-parse", "--verify", "--quiet", rs))) {
		if (rc < 0)	/* git did not start: e says why */
			err_prefix(e, "%s: ", s->spec);
		else
			err_set(e, 0, "%s: unknown revision '%s' in git repository '%s'", s->spec,
				s->rev, s->path);
		goto out;
	}
	chomp(&out);
	if (out.len != 40) {
		err_set(e, 0, "%s: cannot resolve '%s' to a commit", s->spec, s->rev);
		goto out;
	}
	s->commit = xstrdup(out.buf);
	mk = xasprintf("%s:Makefile", s->commit);
	if (git(s->path, &out, NULL, "show", mk, NULL, NULL) ||
	    !(s->version = makefile_version(out.buf))) {
		err_set(e, 0, "%s: not a kernel source tree (no kernel Makefile at %.12s)",
			s->spec, s->commit);
		free(mk);
		goto out;
	}
	free(mk);
	if (!strcmp(s->rev, "HEAD")) {
		if (git(s->path, &out, NULL, "symbolic-ref", "--short", "-q", "HEAD") == 0)
			chomp(&out), s->branch = xstrdup(out.buf);
	} else {
		char *ref = xasprintf("refs/heads/%s", s->rev);

		if (git(s->path, &out, NULL, "show-ref", "--verify", "-q", ref) == 0)
			s->branch = xstrdup(s->rev);
		free(ref);
	}
	ret = 0;
out:
	free(rs);
	sb_release(&out);
	return ret;
}

/* The plain directory's fingerprint: path, Makefile version and every
 * file's (path, size, mtime) - a stat walk, no content hashing (~0.3 s on
 * a kernel tree); a touch without change counts as a new candidate. */
static EVP_MD_CTX *fp_ctx;
static size_t fp_root;

static int fp_visit(const char *path, const struct stat *st, int type, struct FTW *f)
{
	char line[64];

	(void)f;
	if (type == FTW_D && strlen(path) > fp_root && !strcmp(path + strlen(path) - 5, "/.git"))
		return FTW_SKIP_SUBTREE;
	if (type != FTW_F)
		return 0;
	EVP_DigestUpdate(fp_ctx, path + fp_root, strlen(path + fp_root) + 1);
	snprintf(line, sizeof(line), "%lld %lld.%09ld\n", (long long)st->st_size,
		 (long long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec);
	EVP_DigestUpdate(fp_ctx, line, strlen(line));
	return 0;
}

static int dir_fingerprint(struct source *s, struct err *e)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len;
	int rc;

	fp_ctx = EVP_MD_CTX_new();
	fp_root = strlen(s->path);
	EVP_DigestInit_ex(fp_ctx, EVP_sha256(), NULL);
	EVP_DigestUpdate(fp_ctx, s->path, strlen(s->path) + 1);
	EVP_DigestUpdate(fp_ctx, s->version, strlen(s->version) + 1);
	rc = nftw(s->path, fp_visit, 64, FTW_PHYS | FTW_ACTIONRETVAL);
	EVP_DigestFinal_ex(fp_ctx, md, &len);
	EVP_MD_CTX_free(fp_ctx);
	if (rc < 0)
		return err_set(e, 0, "%s: cannot read the source tree: %s", s->spec,
			       strerror(errno));
	hex(md, s->sha256);
	return 0;
}

/* Which kind, and its path (plus @REV for git); no identity yet. */
static int classify(const char *spec, struct source *s, struct err *e)
{
	struct stat st;
	char *path = xstrdup(spec), *at = NULL, *git_dir;

	if (stat(path, &st) < 0 && (at = strrchr(path, '@'))) {
		*at = '\0';
		s->rev = xstrdup(at + 1);
	}
	if (stat(path, &st) < 0) {
		err_set(e, 0, "source '%s': cannot read '%s': %s", spec, path, strerror(errno));
		free(path);
		return -1;
	}
	s->path = realpath(path, NULL);
	free(path);
	if (!s->path)
		return err_set(e, 0, "source '%s': %s", spec, strerror(errno));
	git_dir = xasprintf("%s/.git", s->path);
	if (S_ISDIR(st.st_mode) && access(git_dir, F_OK) == 0)
		s->kind = SRC_GIT;
	else if (S_ISDIR(st.st_mode))
		s->kind = SRC_DIR;
	else if (S_ISREG(st.st_mode) && tar_suffix(s->path))
		s->kind = SRC_TARBALL;
	else {
		free(git_dir);
		return err_set(e, 0, "source '%s' is neither a git repository, a kernel source "
			       "directory nor a .tar.xz/.tar.gz/.tar tarball", spec);
	}
	free(git_dir);
	if (s->rev && s->kind != SRC_GIT)
		return err_set(e, 0, "source '%s': @REV needs a git repository", spec);
	if (s->kind == SRC_GIT && !s->rev)
		s->rev = xstrdup("HEAD");
	if (s->kind == SRC_TARBALL && access(s->path, R_OK) < 0)
		return err_set(e, 0, "source '%s': cannot read the tarball: %s", spec,
			       strerror(errno));
	return 0;
}

/* tarball base name without .tar.*, and its version part ("6.1" of
 * linux-source-6.1.tar.xz, "6.1.100" of linux-6.1.100.tar.xz) */
static char *tar_base(const struct source *s)
{
	const char *b = strrchr(s->path, '/') + 1;

	return xstrndup(b, tar_suffix(b) - b);
}

static const char *tar_ver(const char *base)
{
	if (!strncmp(base, "linux-source-", 13))
		return base + 13;
	if (!strncmp(base, "linux-", 6))
		return base + 6;
	return base;
}

static void set_names(struct source *s)
{
	int patched = s->patches.n > 0;
	char *ph = xasprintf("%s%.8s", patched ? "+p" : "", patched ? s->patches.hash : "");
	char *rh = sha_prefix(s->path, strlen(s->path)), *t;

	if (s->kind == SRC_GIT) {
		const char *b = strrchr(s->path, '/') + 1;

		t = s->branch ? xasprintf("%s-%s", b, s->branch) : xstrdup(b);
		s->tree = sanitize(t, 64);
		free(t);
		s->label = xasprintf("%.12s%s", s->commit, ph);
		s->bdir = xasprintf("git-%s", rh);
	} else if (s->kind == SRC_DIR) {
		s->tree = sanitize(strrchr(s->path, '/') + 1, 64);
		s->label = xasprintf("dir-%.12s%s", s->sha256, ph);
		s->bdir = xasprintf("dir-%s", rh);
	} else {
		char *base = tar_base(s);
		int debian = !strncmp(base, "linux-source-", 13);

		t = debian ? xasprintf("debian-%s", tar_ver(base)) : xstrdup(base);
		s->tree = sanitize(t, 64);
		free(t);
		t = xasprintf("%s%s", base, ph);
		s->label = sanitize(t, 96);
		free(t);
		/* Debian's tarballs share make images' O= trees (build/ARCH-VER) */
		t = debian ? xasprintf("%s%s", tar_ver(base), patched ? "" : "-nopatch")
			   : xasprintf("tar-%.12s", s->sha256);
		s->bdir = sanitize(t, 64);
		free(t);
		free(base);
	}
	free(ph);
	free(rh);
}

void source_git_env_clear(void)
{
	static const char *const vars[] = {
		"GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_CONFIG", "GIT_CONFIG_PARAMETERS",
		"GIT_CONFIG_COUNT", "GIT_OBJECT_DIRECTORY", "GIT_DIR", "GIT_WORK_TREE",
		"GIT_IMPLICIT_WORK_TREE", "GIT_GRAFT_FILE", "GIT_INDEX_FILE",
		"GIT_NO_REPLACE_OBJECTS", "GIT_REPLACE_REF_BASE", "GIT_PREFIX",
		"GIT_INTERNAL_SUPER_PREFIX", "GIT_SHALLOW_FILE", "GIT_COMMON_DIR",
	};

	for (size_t i = 0; i < sizeof(vars) / sizeof(*vars); i++)
		unsetenv(vars[i]);
}

int source_resolve(const char *spec, const char *patches, struct source *s, struct err *e)
{
	memset(s, 0, sizeof(*s));
	s->lock_fd = -1;
	s->spec = xstrdup(spec);
	if (classify(spec, s, e))
		return -1;
	if (s->kind == SRC_GIT && resolve_git(s, e))
		return -1;
	if (s->kind == SRC_DIR) {
		char *kc = xasprintf("%s/Kconfig", s->path);
		int ok = access(kc, F_OK) == 0 && (s->version = dir_version(s->path));

		free(kc);
		if (!ok)
			return err_set(e, 0, "source '%s': not a kernel source tree (no kernel "
				       "Makefile and Kconfig)", spec);
		if (dir_fingerprint(s, e))
			return -1;
	}
	if (s->kind == SRC_TARBALL && sha256_file(s->path, s->sha256) < 0)
		return err_set(e, 0, "source '%s': cannot read the tarball: %s", spec,
			       strerror(errno));
	if (patches_load(patches, &s->patches, e))
		return -1;
	s->id = xasprintf("%s:%s+patches:%s", s->kind == SRC_GIT ? "git" : s->kind == SRC_DIR ?
			  "dir" : "tar", s->kind == SRC_GIT ? s->commit : s->sha256,
			  s->patches.hash);
	set_names(s);
	return 0;
}

/* ---- materializing */

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
	char *base = tar_base(s), *name, h[65];

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
	sha_text(in.buf, in.len, h);
	name = xasprintf("linux-%s-%s%.12s", tar_ver(base), s->patches.n ? "" : "nopatch-", h);
	sb_release(&in);
	free(base);
	return name;
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
		char *from = xasprintf("%s/.", s->path);
		char *argv[] = { "cp", "-a", "--reflink=auto", from, (char *)tmp, NULL };

		rc = spawn_run(argv, NULL, NULL, &out, 4096, e);
		free(from);
	}
	if (rc < 0) {	/* tar or cp did not start: e says why */
		sb_release(&out);
		return err_prefix(e, "cannot %s %s: ", s->kind == SRC_TARBALL ? "unpack" : "copy",
				  s->path);
	}
	if (rc) {
		chomp(&out);
		for (char *c = out.buf; *c; c++)	/* one line: tar and xz both speak */
			if (*c == '\n')
				*c = ';';
		err_set(e, 0, "cannot %s %s: %.200s", s->kind == SRC_TARBALL ? "unpack" : "copy",
			 s->path, out.len ? out.buf : "failed");
		sb_release(&out);
		return -1;
	}
	sb_release(&out);
	char *v = dir_version(tmp);
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
			chomp(&out);
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
		char *clean[] = { "git", "-C", dst, "clean", "-fdxq", NULL };

		sb_reset(&out);
		if ((g = spawn_run(argv, NULL, NULL, &out, 4096, e)) == 0)
			g = spawn_run(clean, NULL, NULL, NULL, 0, e);
		if (g) {
			chomp(&out);
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
		s->version = dir_version(s->dir);
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
