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
	for (size_t i = 0; i < p->nvariants; i++)
		free(p->variants[i].name);
	free(p->variants);
	memset(p, 0, sizeof(*p));
}

static int get_str(json_t *o, const char *key, int required, char **out, struct err *err)
{
	json_t *v = json_object_get(o, key);

	if (!v || json_is_null(v)) {
		if (required)
			return err_set(err, 0, "missing field '%s'", key);
		*out = NULL;
		return 0;
	}
	if (!json_is_string(v) || (required && !*json_string_value(v)))
		return err_set(err, 0, "field '%s' must be a non-empty string", key);
	*out = xstrdup(json_string_value(v));
	return 0;
}

static int get_strv(json_t *o, const char *key, char ***out, struct err *err)
{
	json_t *v = json_object_get(o, key), *e;
	size_t i;

	*out = xcalloc(1, sizeof(char *));
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_array(v))
		return err_set(err, 0, "field '%s' must be an array of strings", key);
	free(*out);
	*out = xcalloc(json_array_size(v) + 1, sizeof(char *));
	json_array_foreach(v, i, e) {
		if (!json_is_string(e))
			return err_set(err, 0, "field '%s' must be an array of strings", key);
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

static int get_magic(json_t *o, struct profile *p, struct err *err)
{
	json_t *v = json_object_get(o, "image_magic"), *e;
	size_t i;

	if (!json_is_array(v) || !json_array_size(v))
		return err_set(err, 0, "field '%s' must be a non-empty array", "image_magic");
	if (json_array_size(v) > ARRAY_SIZE(p->magic))
		return err_set(err, 0, "field '%s' has too many patterns", "image_magic");
	json_array_foreach(v, i, e) {
		json_t *off = json_object_get(e, "offset"), *hex = json_object_get(e, "hex");
		struct magic *m = &p->magic[i];
		const char *h;
		size_t n;

		if (!json_is_integer(off) || json_integer_value(off) < 0 ||
		    json_integer_value(off) > 1 << 20 || !json_is_string(hex))
			return err_set(err, 0, "%s entries need an offset and a hex string",
				       "image_magic");
		h = json_string_value(hex);
		n = strlen(h);
		if (!n || n % 2 || n / 2 > sizeof(m->bytes))
			return err_set(err, 0, "%s hex must be 2..32 hex digits", "image_magic");
		for (size_t j = 0; j < n / 2; j++) {
			int hi = hexval(h[2 * j]), lo = hexval(h[2 * j + 1]);

			if (hi < 0 || lo < 0)
				return err_set(err, 0, "%s hex has a non-hex digit",
					       "image_magic");
			m->bytes[j] = hi << 4 | lo;
		}
		m->offset = json_integer_value(off);
		m->len = n / 2;
		p->nmagic++;
	}
	return 0;
}

const char *accel_req_name(enum accel_req a)
{
	return a == ACCEL_KVM ? "kvm" : a == ACCEL_TCG ? "tcg" : "auto";
}

int accel_req_parse(const char *s, enum accel_req *out)
{
	static const enum accel_req all[] = { ACCEL_AUTO, ACCEL_KVM, ACCEL_TCG };

	for (size_t i = 0; i < ARRAY_SIZE(all); i++)
		if (!strcmp(s, accel_req_name(all[i]))) {
			*out = all[i];
			return 0;
		}
	return -1;
}

static int valid_variant_name(const char *s)
{
	if (!*s || strlen(s) > 32)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' ||
		      *s == '-'))
			return 0;
	return 1;
}

/* {"smp": N, "memory_mb": M, "accel": "kvm"|"tcg"|"auto"}, at least one */
static int get_variant(const char *name, json_t *o, struct profile *p, struct variant *v,
		       struct err *err)
{
	const char *key;
	json_t *f;

	memset(v, 0, sizeof(*v));
	v->name = xstrdup(name);
	if (!valid_variant_name(name))
		return err_set(err, 0, "variant name '%.40s' must be 1..32 of [a-z0-9_-]", name);
	if (!json_is_object(o) || !json_object_size(o))
		return err_set(err, 0, "variant '%s' must be a non-empty object", name);
	json_object_foreach(o, key, f) {
		json_int_t n = json_is_integer(f) ? json_integer_value(f) : -1;

		if (!strcmp(key, "smp")) {
			if (n < 1 || n > p->max_smp) {
				err_set(err, 0, "variant '%s': smp must be an integer in "
					"1..%u (qemu.max_smp)", name, p->max_smp);
				return -1;
			}
			v->smp = n;
		} else if (!strcmp(key, "memory_mb")) {
			if (n < 16 || n > 65536)
				return err_set(err, 0, "variant '%s': memory_mb must be an "
					       "integer in 16..65536", name);
			v->memory_mb = n;
		} else if (!strcmp(key, "accel")) {
			if (!json_is_string(f) || accel_req_parse(json_string_value(f), &v->accel))
				return err_set(err, 0, "variant '%s': accel must be \"auto\", "
					       "\"kvm\" or \"tcg\"", name);
		} else {
			err_set(err, 0, "variant '%s': unknown field '%.40s' (known: smp, "
				"memory_mb, accel)", name, key);
			return -1;
		}
	}
	return 0;
}

static int get_machine(json_t *root, json_t *q, struct profile *p, struct err *err)
{
	json_t *v = json_object_get(q, "max_smp"), *o;
	const char *name;

	p->max_smp = 1;
	if (v) {
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > 64)
			return err_set(err, 0, "%s must be an integer in 1..64", "qemu.max_smp");
		p->max_smp = json_integer_value(v);
	}
	v = json_object_get(root, "variants");
	if (!v)
		return 0;
	if (!json_is_object(v) || json_object_size(v) > 16)
		return err_set(err, 0, "field '%s' must be an object of at most 16 variants",
			       "variants");
	p->variants = xcalloc(json_object_size(v), sizeof(*p->variants));
	json_object_foreach(v, name, o)
		if (get_variant(name, o, p, &p->variants[p->nvariants++], err))
			return -1;
	return 0;
}

int profile_parse(const char *json, size_t len, const char *want_arch, struct profile *p,
		  struct err *err)
{
	json_error_t jerr;
	json_t *root, *q, *mem;
	int ret = -1;

	memset(p, 0, sizeof(*p));
	root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		err_set(err, 0, "line %d: %s", jerr.line, jerr.text);
		return -1;
	}
	if (!json_is_object(root)) {
		err_set(err, 0, "not a JSON object");
		goto out;
	}
	if (get_str(root, "arch", 1, &p->arch, err) ||
	    get_str(root, "console", 1, &p->console, err) ||
	    get_magic(root, p, err))
		goto out;
	if (want_arch && strcmp(p->arch, want_arch)) {
		err_set(err, 0, "declares arch '%s', expected '%s'", p->arch, want_arch);
		goto out;
	}
	q = json_object_get(root, "qemu");
	if (!json_is_object(q)) {
		err_set(err, 0, "missing object 'qemu'");
		goto out;
	}
	if (get_str(q, "binary", 1, &p->qemu_binary, err) ||
	    get_str(q, "machine", 1, &p->machine, err) ||
	    get_str(q, "cpu", 0, &p->cpu, err) ||
	    get_strv(q, "firmware", &p->firmware, err) ||
	    get_strv(q, "args", &p->args, err))
		goto out;
	mem = json_object_get(q, "memory_mb");
	if (!json_is_integer(mem) || json_integer_value(mem) < 16 ||
	    json_integer_value(mem) > 65536) {
		err_set(err, 0, "qemu.memory_mb must be an integer in 16..65536");
		goto out;
	}
	p->memory_mb = json_integer_value(mem);
	if (get_machine(root, q, p, err))
		goto out;
	ret = 0;
out:
	json_decref(root);
	if (ret)
		profile_release(p);
	return ret;
}

int profile_load_file(const char *path, const char *want_arch, struct profile *p,
		      struct err *e)
{
	char *buf;
	size_t len;
	int ret;

	if (read_file(path, 1 << 20, &buf, &len) < 0)
		return err_set(e, 0, "cannot read profile '%s': %s", path, strerror(errno));
	ret = profile_parse(buf, len, want_arch, p, e);
	free(buf);
	if (ret)
		return err_prefix(e, "malformed profile '%s': ", path);
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

int profile_load(const char *arch, struct profile *p, struct err *e)
{
	char *path;
	int ret;

	if (!valid_arch_name(arch))
		return err_set(e, 0, "unknown arch '%s' (no profile in %s)", arch, arches_dir());
	path = xasprintf("%s/%s.json", arches_dir(), arch);
	if (access(path, F_OK) < 0) {
		err_set(e, 0, "unknown arch '%s' (no profile %s)", arch, path);
		free(path);
		return -1;
	}
	ret = profile_load_file(path, arch, p, e);
	free(path);
	return ret;
}

int profile_machine(const struct profile *p, const char *variant, unsigned smp,
		    struct machine *m, struct err *err)
{
	memset(m, 0, sizeof(*m));
	m->smp = 1;
	m->memory_mb = p->memory_mb;
	if (variant) {
		const struct variant *v = NULL;
		struct sb known;

		for (size_t i = 0; i < p->nvariants && !v; i++)
			if (!strcmp(p->variants[i].name, variant))
				v = &p->variants[i];
		if (!v) {
			sb_init(&known);
			for (size_t i = 0; i < p->nvariants; i++)
				sb_addf(&known, "%s%s", i ? ", " : "", p->variants[i].name);
			err_set(err, 0, "%s has no machine variant '%.40s' (known: %s)",
				p->arch, variant, p->nvariants ? known.buf : "none");
			sb_release(&known);
			return -1;
		}
		snprintf(m->variant, sizeof(m->variant), "%s", v->name);
		if (v->smp)
			m->smp = v->smp;
		if (v->memory_mb)
			m->memory_mb = v->memory_mb;
		m->accel = v->accel;
	}
	if (smp)
		m->smp = smp;
	if (m->smp > p->max_smp) {
		err_set(err, 0, "%s: %u vCPUs asked for, but QEMU's '%s' machine takes at "
			"most %u (qemu.max_smp in the %s profile)", p->arch, m->smp, p->machine,
			p->max_smp, p->arch);
		return -1;
	}
	return 0;
}

void machine_key(const struct profile *p, const struct machine *m, int kvm, char *buf,
		 size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	if (m->smp != 1)
		n += snprintf(buf + n, len - n, "smp%u", m->smp);
	if (m->memory_mb != p->memory_mb && n < len)
		n += snprintf(buf + n, len - n, "%sm%u", n ? "-" : "", m->memory_mb);
	if (kvm && n < len)
		snprintf(buf + n, len - n, "%skvm", n ? "-" : "");
}

int profile_check_image(const struct profile *p, const char *path, struct err *e)
{
	unsigned char buf[16];
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return err_set(e, 0, "cannot read kernel image '%s': %s", path, strerror(errno));
	for (size_t i = 0; i < p->nmagic; i++) {
		const struct magic *m = &p->magic[i];
		ssize_t n = pread(fd, buf, m->len, m->offset);

		if (n < 0) {
			err_set(e, 0, "cannot read kernel image '%s': %s", path, strerror(errno));
			close(fd);
			return -1;
		}
		if ((size_t)n != m->len || memcmp(buf, m->bytes, m->len)) {
			close(fd);
			return err_set(e, 0, "'%s' is not a kernel image for %s (no %s image "
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
