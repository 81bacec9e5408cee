#include "profile.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void profile_release(struct profile *p)
{
	free(p->arch);
	free(p->console);
	free(p->qemu_binary);
	free(p->machine);
	free(p->cpu);
	strv_free(p->firmware);
	strv_free(p->args);
	memset(p, 0, sizeof(*p));
}

static int bad(char *err, size_t len, const char *fmt, const char *what)
{
	snprintf(err, len, fmt, what);
	return -1;
}

static int get_str(json_t *o, const char *key, int required, char **out, char *err,
		   size_t errlen)
{
	json_t *v = json_object_get(o, key);

	if (!v || json_is_null(v)) {
		if (required)
			return bad(err, errlen, "missing field '%s'", key);
		*out = NULL;
		return 0;
	}
	if (!json_is_string(v) || (required && !*json_string_value(v)))
		return bad(err, errlen, "field '%s' must be a non-empty string", key);
	*out = xstrdup(json_string_value(v));
	return 0;
}

static int get_strv(json_t *o, const char *key, char ***out, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, key), *e;
	size_t i;

	*out = xcalloc(1, sizeof(char *));
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_array(v))
		return bad(err, errlen, "field '%s' must be an array of strings", key);
	free(*out);
	*out = xcalloc(json_array_size(v) + 1, sizeof(char *));
	json_array_foreach(v, i, e) {
		if (!json_is_string(e))
			return bad(err, errlen, "field '%s' must be an array of strings", key);
		(*out)[i] = xstrdup(json_string_value(e));
	}
	return 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int get_magic(json_t *o, struct profile *p, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, "image_magic"), *e;
	size_t i;

	if (!json_is_array(v) || !json_array_size(v))
		return bad(err, errlen, "field '%s' must be a non-empty array", "image_magic");
	if (json_array_size(v) > ARRAY_SIZE(p->magic))
		return bad(err, errlen, "field '%s' has too many patterns", "image_magic");
	json_array_foreach(v, i, e) {
		json_t *off = json_object_get(e, "offset"), *hex = json_object_get(e, "hex");
		struct magic *m = &p->magic[i];
		const char *h;
		size_t n;

		if (!json_is_integer(off) || json_integer_value(off) < 0 ||
		    json_integer_value(off) > 1 << 20 || !json_is_string(hex))
			return bad(err, errlen, "%s entries need an offset and a hex string",
				   "image_magic");
		h = json_string_value(hex);
		n = strlen(h);
		if (!n || n % 2 || n / 2 > sizeof(m->bytes))
			return bad(err, errlen, "%s hex must be 2..32 hex digits", "image_magic");
		for (size_t j = 0; j < n / 2; j++) {
			int hi = hexval(h[2 * j]), lo = hexval(h[2 * j + 1]);

			if (hi < 0 || lo < 0)
				return bad(err, errlen, "%s hex has a non-hex digit",
					   "image_magic");
			m->bytes[j] = hi << 4 | lo;
		}
		m->offset = json_integer_value(off);
		m->len = n / 2;
		p->nmagic++;
	}
	return 0;
}

int profile_parse(const char *json, size_t len, const char *want_arch, struct profile *p,
		  char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *root, *q, *mem;
	int ret = -1;

	memset(p, 0, sizeof(*p));
	root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		snprintf(err, errlen, "line %d: %s", jerr.line, jerr.text);
		return -1;
	}
	if (!json_is_object(root)) {
		snprintf(err, errlen, "not a JSON object");
		goto out;
	}
	if (get_str(root, "arch", 1, &p->arch, err, errlen) ||
	    get_str(root, "console", 1, &p->console, err, errlen) ||
	    get_magic(root, p, err, errlen))
		goto out;
	if (want_arch && strcmp(p->arch, want_arch)) {
		snprintf(err, errlen, "declares arch '%s', expected '%s'", p->arch, want_arch);
		goto out;
	}
	q = json_object_get(root, "qemu");
	if (!json_is_object(q)) {
		snprintf(err, errlen, "missing object 'qemu'");
		goto out;
	}
	if (get_str(q, "binary", 1, &p->qemu_binary, err, errlen) ||
	    get_str(q, "machine", 1, &p->machine, err, errlen) ||
	    get_str(q, "cpu", 0, &p->cpu, err, errlen) ||
	    get_strv(q, "firmware", &p->firmware, err, errlen) ||
	    get_strv(q, "args", &p->args, err, errlen))
		goto out;
	mem = json_object_get(q, "memory_mb");
	if (!json_is_integer(mem) || json_integer_value(mem) < 16 ||
	    json_integer_value(mem) > 65536) {
		snprintf(err, errlen, "qemu.memory_mb must be an integer in 16..65536");
		goto out;
	}
	p->memory_mb = json_integer_value(mem);
	ret = 0;
out:
	json_decref(root);
	if (ret)
		profile_release(p);
	return ret;
}

int profile_load_file(const char *path, const char *want_arch, struct profile *p)
{
	char err[256], *buf;
	size_t len;
	int ret;

	if (read_file(path, 1 << 20, &buf, &len) < 0)
		return error_errno("cannot read profile '%s'", path);
	ret = profile_parse(buf, len, want_arch, p, err, sizeof(err));
	free(buf);
	if (ret)
		return error("malformed profile '%s': %s", path, err);
	return 0;
}

static int valid_arch_name(const char *arch)
{
	if (!*arch || strlen(arch) > 32)
		return 0;
	for (const char *s = arch; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
			return 0;
	return 1;
}

int profile_load(const char *arch, struct profile *p)
{
	char *path;
	int ret;

	if (!valid_arch_name(arch))
		return error("unknown arch '%s' (no profile in %s)", arch, arches_dir());
	path = xasprintf("%s/%s.json", arches_dir(), arch);
	if (access(path, F_OK) < 0) {
		error("unknown arch '%s' (no profile %s)", arch, path);
		free(path);
		return -1;
	}
	ret = profile_load_file(path, arch, p);
	free(path);
	return ret;
}

int profile_check_image(const struct profile *p, const char *path)
{
	unsigned char buf[16];
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return error_errno("cannot read kernel image '%s'", path);
	for (size_t i = 0; i < p->nmagic; i++) {
		const struct magic *m = &p->magic[i];
		ssize_t n = pread(fd, buf, m->len, m->offset);

		if (n < 0) {
			error_errno("cannot read kernel image '%s'", path);
			close(fd);
			return -1;
		}
		if ((size_t)n != m->len || memcmp(buf, m->bytes, m->len)) {
			close(fd);
			return error("'%s' is not a kernel image for %s (no %s image "
				     "signature at offset %zu)", path, p->arch, p->arch, m->offset);
		}
	}
	close(fd);
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

char **profile_list(void)
{
	DIR *d = opendir(arches_dir());
	struct dirent *e;
	char **v = xcalloc(1, sizeof(char *));
	size_t n = 0;

	if (!d)
		return v;
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);

		if (len < 6 || strcmp(e->d_name + len - 5, ".json"))
			continue;
		v = xrealloc(v, (n + 2) * sizeof(char *));
		v[n++] = xstrndup(e->d_name, len - 5);
		v[n] = NULL;
	}
	closedir(d);
	qsort(v, n, sizeof(char *), cmp_str);
	return v;
}
