#include "patches.h"
#include "spawn.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_PATCHES 4096
#define MAX_PATCH_BYTES (64u << 20)

static void add(struct patch_series *ps, const char *name, const char *path)
{
	ps->v = xrealloc(ps->v, (ps->n + 1) * sizeof(*ps->v));
	ps->v[ps->n].name = xstrdup(name);
	ps->v[ps->n].path = xstrdup(path);
	ps->v[ps->n].sha256[0] = '\0';
	ps->n++;
}

/* quilt's series file: one patch a line, '#' comments, options after it */
static int load_series(struct patch_series *ps, const char *dir, const char *series,
		       struct err *e)
{
	char *text, *line, *save = NULL;
	size_t len;

	if (read_file(series, 1u << 20, &text, &len) < 0)
		return err_set(e, 0, "cannot read patch series '%s': %s", series, strerror(errno));
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *p = line + strspn(line, " \t"), *path;

		p[strcspn(p, " \t#")] = '\0';
		if (!*p)
			continue;
		if (strstr(p, "..") || ps->n >= MAX_PATCHES) {
			free(text);
			return err_set(e, 0, "patch series '%s': bad entry '%.100s'", series, p);
		}
		path = xasprintf("%s/%s", dir, p);
		add(ps, p, path);
		free(path);
	}
	free(text);
	return 0;
}

static int patch_name_filter(const struct dirent *d)
{
	size_t n = strlen(d->d_name);

	return n > 6 && !strcmp(d->d_name + n - 6, ".patch");
}

static int load_dir(struct patch_series *ps, const char *dir, struct err *e)
{
	char *series = xasprintf("%s/series", dir);
	struct dirent **ents;
	int n, ret = 0;

	if (access(series, F_OK) == 0) {
		ret = load_series(ps, dir, series, e);
		free(series);
		return ret;
	}
	free(series);
	n = scandir(dir, &ents, patch_name_filter, alphasort);
	if (n < 0)
		return err_set(e, 0, "cannot read patch directory '%s': %s", dir, strerror(errno));
	for (int i = 0; i < n; i++) {
		char *path = xasprintf("%s/%s", dir, ents[i]->d_name);

		if (ps->n < MAX_PATCHES)
			add(ps, ents[i]->d_name, path);
		free(path);
		free(ents[i]);
	}
	free(ents);
	if (!ps->n)
		return err_set(e, 0, "patch directory '%s' has no series file and no *.patch", dir);
	return 0;
}

static int is_mail_start(const char *l, const char *end)
{
	if (end - l < 46 || strncmp(l, "From ", 5))
		return 0;
	for (int i = 5; i < 45; i++)
		if (!strchr("0123456789abcdef", l[i]))
			return 0;
	return l[45] == ' ';
}

/* "mail N (Subject)" with the subject's printable ASCII only */
static char *mail_name(size_t n, const char *mail, const char *end)
{
	const char *s = mail, *e;
	struct sb sb;

	sb_init(&sb);
	sb_addf(&sb, "mail %zu", n);
	while (s < end && *s != '\n') {	/* headers end at the first empty line */
		e = memchr(s, '\n', end - s);
		e = e ? e : end;
		if (e - s > 9 && !strncmp(s, "Subject: ", 9)) {
			sb_adds(&sb, " (");
			for (const char *c = s + 9; c < e && c < s + 90; c++)
				if (*c >= 0x20 && *c < 0x7f)
					sb_add(&sb, c, 1);
			sb_adds(&sb, ")");
			break;
		}
		s = e + 1;
	}
	return sb_detach(&sb);
}

/* One file per mail in a private temporary directory. */
static int load_mbox(struct patch_series *ps, const char *path, const char *text, size_t len,
		     struct err *e)
{
	const char *end = text + len, *p = text, *start = NULL;
	char tmpl[] = "/tmp/kfarm-mbox-XXXXXX";

	if (!mkdtemp(tmpl))
		return err_set(e, 0, "cannot create a temporary directory: %s", strerror(errno));
	ps->tmpdir = xstrdup(tmpl);
	for (;;) {
		const char *nl = p < end ? memchr(p, '\n', end - p) : NULL;
		int starts = p >= end || is_mail_start(p, end);

		if (starts && start) {
			char *name = mail_name(ps->n + 1, start, p);
			char *file = xasprintf("%s/%04zu.patch", ps->tmpdir, ps->n + 1);
			int bad = write_file_atomic(file, start, p - start) < 0 ||
				  ps->n >= MAX_PATCHES;

			if (!bad)
				add(ps, name, file);
			free(name);
			free(file);
			if (bad)
				return err_set(e, 0, "cannot split mbox '%s'", path);
		}
		if (p >= end)
			break;
		if (starts)
			start = p;
		p = nl ? nl + 1 : end;
	}
	if (!ps->n)
		return err_set(e, 0, "mbox '%s' has no git format-patch mail", path);
	return 0;
}

static void series_hash(struct patch_series *ps)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen;

	if (!ps->n) {
		strcpy(ps->hash, "none");
		EVP_MD_CTX_free(ctx);
		return;
	}
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	for (size_t i = 0; i < ps->n; i++) {
		EVP_DigestUpdate(ctx, ps->v[i].sha256, 64);
		EVP_DigestUpdate(ctx, "\n", 1);
	}
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	for (unsigned int i = 0; i < 32; i++)
		sprintf(ps->hash + 2 * i, "%02x", md[i]);
}

int patches_load(const char *path, struct patch_series *ps, struct err *e)
{
	struct stat st;
	int ret = 0;

	memset(ps, 0, sizeof(*ps));
	strcpy(ps->hash, "none");
	if (!path)
		return 0;
	if (stat(path, &st) < 0)
		return err_set(e, 0, "cannot read patches '%s': %s", path, strerror(errno));
	ps->path = realpath(path, NULL);
	if (!ps->path)
		return err_set(e, 0, "cannot read patches '%s': %s", path, strerror(errno));
	if (S_ISDIR(st.st_mode)) {
		ret = load_dir(ps, ps->path, e);
	} else {
		char *text;
		size_t len;

		if (read_file(ps->path, MAX_PATCH_BYTES, &text, &len) < 0)
			return err_set(e, 0, "cannot read patches '%s': %s", path, strerror(errno));
		if (is_mail_start(text, text + len))
			ret = load_mbox(ps, ps->path, text, len, e);
		else
			add(ps, strrchr(ps->path, '/') + 1, ps->path);
		free(text);
	}
	for (size_t i = 0; !ret && i < ps->n; i++)
		if (sha256_file(ps->v[i].path, ps->v[i].sha256) < 0)
			ret = err_set(e, 0, "cannot read patch '%s': %s", ps->v[i].path,
				      strerror(errno));
	if (!ret)
		series_hash(ps);
	return ret;
}

static void clean_line(char *dst, size_t len, const char *s, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < n && k + 1 < len; i++)
		dst[k++] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	dst[k] = '\0';
}

void patches_explain(const char *name, const char *output, struct err *e)
{
	char file[256] = "", line[256] = "", first[256] = "";
	const char *p = output;

	while (*p) {
		size_t n = strcspn(p, "\n");

		clean_line(line, sizeof(line), p, n);
		if (!strncmp(line, "patching file ", 14)) {
			snprintf(file, sizeof(file), "%s", line + 14);
		} else if (!strncmp(line, "Hunk #", 6) && strstr(line, " FAILED at ")) {
			int hunk = 0;
			long at = 0;

			sscanf(line, "Hunk #%d FAILED at %ld", &hunk, &at);
			err_set(e, 0, "patch %s: hunk #%d FAILED at %ld (%s)", name, hunk, at,
				 file);
			return;
		} else if (!*first && (strstr(line, "can't find file") ||
				      strstr(line, "Reversed (or previously applied)") ||
				      strstr(line, "Only garbage") || strstr(line, "malformed"))) {
			snprintf(first, sizeof(first), "%s%s%s%s", line, *file ? " (" : "", file,
				 *file ? ")" : "");
		}
		p += n + (p[n] == '\n');
	}
	if (!*first)
		snprintf(first, sizeof(first), "%s", *line ? line : "patch failed without output");
	err_set(e, 0, "patch %s: %s", name, first);
}

int patches_apply(const struct patch_series *ps, const char *dir, struct err *e)
{
	for (size_t i = 0; i < ps->n; i++) {
		char *argv[] = { "patch", "-d", (char *)dir, "-p1", "--batch", "--forward",
				 "--no-backup-if-mismatch", "-r", "-", "-i", ps->v[i].path, NULL };
		struct sb out;
		int rc;

		sb_init(&out);
		/* rc < 0: patch(1) did not start, said below */
		rc = spawn_run(argv, NULL, NULL, &out, 64 << 10, NULL);
		if (rc < 0 || rc > 1) {
			if (rc < 0)
				err_set(e, 0, "cannot run patch(1) (apt-get install patch)");
			else
				patches_explain(ps->v[i].name, out.buf, e);
			sb_release(&out);
			return rc < 0 ? -1 : 1;
		}
		if (rc == 1) {
			patches_explain(ps->v[i].name, out.buf, e);
			sb_release(&out);
			return 1;
		}
		sb_release(&out);
	}
	return 0;
}

void patches_release(struct patch_series *ps)
{
	for (size_t i = 0; i < ps->n; i++) {
		if (ps->tmpdir)
			unlink(ps->v[i].path);
		free(ps->v[i].name);
		free(ps->v[i].path);
	}
	if (ps->tmpdir)
		rmdir(ps->tmpdir);
	free(ps->tmpdir);
	free(ps->v);
	free(ps->path);
	memset(ps, 0, sizeof(*ps));
}
