#include "source_int.h"
#include "spawn.h"
#include "util.h"

#include <dirent.h>
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

void source_sha_text(const char *s, size_t n, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len;

	EVP_Digest(s, n, md, &len, EVP_sha256(), NULL);
	hex(md, out);
}

static char *sha_prefix(const char *s, size_t n)
{
	char h[65];

	source_sha_text(s, n, h);
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

void source_chomp(struct sb *sb)
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

char *source_dir_version(const char *dir)
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
	source_chomp(&out);
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
			source_chomp(&out), s->branch = xstrdup(out.buf);
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

/* kernel.sh's O= trees inside a tree of the cache (src/T/.kfarm-o-ARCH-NAME):
 * build output, not source, wherever such a tree is read as a candidate. */
int source_is_obj_tree(const char *name)
{
	return !strncmp(name, ".kfarm-o-", 9);
}

/* The plain directory's fingerprint: path, Makefile version and every
 * file's (path, size, mtime) - a stat walk, no content hashing (~0.3 s on
 * a kernel tree); a touch without change counts as a new candidate. */
static EVP_MD_CTX *fp_ctx;
static size_t fp_root;

static int fp_visit(const char *path, const struct stat *st, int type, struct FTW *f)
{
	char line[64];

	if (type == FTW_D && strlen(path) > fp_root && !strcmp(path + strlen(path) - 5, "/.git"))
		return FTW_SKIP_SUBTREE;
	if (type == FTW_D && f->level == 1 && source_is_obj_tree(path + f->base))
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
char *source_tar_base(const struct source *s)
{
	const char *b = strrchr(s->path, '/') + 1;

	return xstrndup(b, tar_suffix(b) - b);
}

const char *source_tar_ver(const char *base)
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
		char *base = source_tar_base(s);
		int debian = !strncmp(base, "linux-source-", 13);

		t = debian ? xasprintf("debian-%s", source_tar_ver(base)) : xstrdup(base);
		s->tree = sanitize(t, 64);
		free(t);
		t = xasprintf("%s%s", base, ph);
		s->label = sanitize(t, 96);
		free(t);
		/* Debian's tarballs share make images' O= trees (build/ARCH-VER) */
		t = debian ? xasprintf("%s%s", source_tar_ver(base), patched ? "" : "-nopatch")
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
		int ok = access(kc, F_OK) == 0 && (s->version = source_dir_version(s->path));

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
