#include "cache.h"
#include "profile.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *jstr(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_string(v) ? xstrdup(json_string_value(v)) : NULL;
}

static json_t *load_json(const char *path, struct err *e)
{
	json_error_t jerr;
	json_t *o = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);

	if (!o)
		err_set(e, 0, "malformed cache file '%s': line %d: %s", path, jerr.line, jerr.text);
	else if (!json_is_object(o)) {
		err_set(e, 0, "malformed cache file '%s': not a JSON object", path);
		json_decref(o);
		o = NULL;
	}
	return o;
}

static int cmp_default(const void *x, const void *y)
{
	const struct default_kernel *a = x, *b = y;
	int c = strcmp(a->arch, b->arch);

	return c ? c : version_cmp(a->version, b->version);
}

int cache_defaults(struct default_kernel **out, size_t *n, struct err *e)
{
	char *dir = xasprintf("%s/defaults", cache_dir());
	DIR *d = opendir(dir);
	struct dirent *de;
	unsigned int nskip = 0;
	struct err first, one;

	*out = NULL;
	*n = 0;
	err_clear(e);
	if (!d) {
		err_set(e, 0, "no default kernels in '%s' (%s): run 'make images' first", dir,
			strerror(errno));
		free(dir);
		return -1;
	}
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		char *path;
		json_t *o;

		if (len < 6 || strcmp(de->d_name + len - 5, ".json") || de->d_name[0] == '.')
			continue;
		path = xasprintf("%s/%s", dir, de->d_name);
		o = load_json(path, &one);
		free(path);
		if (!o) {
			if (!nskip++)
				first = one;
			continue;
		}
		struct default_kernel k = {
			jstr(o, "arch"), jstr(o, "version"), jstr(o, "status"),
			jstr(o, "image"), jstr(o, "release"), jstr(o, "error"),
		};
		json_decref(o);
		if (!k.arch || !k.version || !k.status) {
			if (!nskip++)
				err_set(&first, 0, "malformed cache file '%s/%s': needs arch, "
					"version, status", dir, de->d_name);
			cache_defaults_free(&k, 1);
			continue;
		}
		*out = xrealloc(*out, (*n + 1) * sizeof(**out));
		(*out)[(*n)++] = k;
	}
	closedir(d);
	free(dir);
	qsort(*out, *n, sizeof(**out), cmp_default);
	if (nskip == 1)
		err_set(e, 0, "%s", first.msg);
	else if (nskip)
		err_set(e, 0, "%.400s (and %u more malformed cache files skipped)", first.msg,
			nskip - 1);
	return 0;
}

void cache_defaults_free(struct default_kernel *d, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(d[i].arch);
		free(d[i].version);
		free(d[i].status);
		free(d[i].image);
		free(d[i].release);
		free(d[i].error);
	}
}

int cache_initramfs_file(const char *file, char **path, char ***tests, struct err *e)
{
	json_t *o, *t, *v;
	size_t i;

	*path = NULL;
	*tests = NULL;
	o = load_json(file, e);
	if (!o)
		return -1;
	*path = jstr(o, "path");
	t = json_object_get(o, "tests");
	if (!*path || !json_is_array(t)) {
		err_set(e, 0, "malformed cache file '%s': needs path and tests", file);
		json_decref(o);
		free(*path);
		*path = NULL;
		return -1;
	}
	*tests = xcalloc(json_array_size(t) + 1, sizeof(char *));
	json_array_foreach(t, i, v)
		(*tests)[i] = xstrdup(json_is_string(v) ? json_string_value(v) : "?");
	json_decref(o);
	return 0;
}

int cache_initramfs(const char *arch, char **path, char ***tests, struct err *e)
{
	char *file = xasprintf("%s/initramfs/%s.json", cache_dir(), arch);
	int ret;

	*path = NULL;
	*tests = NULL;
	if (access(file, F_OK) < 0) {
		err_set(e, 0, "no initramfs for arch '%s' ('%s' missing): run 'make images'", arch,
			file);
		free(file);
		return -1;
	}
	ret = cache_initramfs_file(file, path, tests, e);
	free(file);
	return ret;
}

int cache_initramfs_suite(const char *arch, const char *initrd, char ***tests,
			  struct err *e)
{
	static const char *const kinds[] = { "-user", "-kselftest", "" };
	char real[PATH_MAX], *path;
	struct err one;

	*tests = NULL;
	err_clear(e);
	if (!realpath(initrd, real))
		snprintf(real, sizeof(real), "%s", initrd);
	for (size_t k = 0; k < sizeof(kinds) / sizeof(*kinds); k++) {
		char *file = xasprintf("%s/initramfs/%s%s.json", cache_dir(), arch, kinds[k]);
		char **t = NULL;

		if (access(file, F_OK) < 0) {
			free(file);
			continue;
		}
		if (cache_initramfs_file(file, &path, &t, &one) < 0) {
			if (e && !e->msg[0])	/* the first malformed record */
				*e = one;
		} else {
			int same = !strcmp(path, real);

			free(path);
			if (same || !*kinds[k]) {
				free(file);
				*tests = t;
				return 0;
			}
			strv_free(t);
		}
		free(file);
	}
	return 1;
}
