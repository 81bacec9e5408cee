#include "build.h"
#include "source.h"
#include "spawn.h"
#include "util.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *kernel_sh(void)
{
	const char *e = getenv("KFARM_KERNEL_SH");

	return e && *e ? e : KFARM_ARCHES_DIR "/../images/kernel.sh";
}

static void sha_text(const char *s, size_t n, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len;

	EVP_Digest(s, n, md, &len, EVP_sha256(), NULL);
	for (unsigned int i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
}

static char *jstr(json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));

	return v && *v ? xstrdup(v) : NULL;
}

int build_config_parse(const char *spec, struct build_config *c)
{
	const char *file = spec && *spec == '+' ? spec + 1 : spec;
	char *abs, sha[65], *base;

	memset(c, 0, sizeof(*c));
	if (!spec || !strcmp(spec, "kfarm") || !strcmp(spec, "defconfig")) {
		c->name = xstrdup(spec ? spec : "kfarm");
		c->arg = xstrdup(c->name);
		c->bdir = xstrdup(spec && *spec == 'd' ? "-defconfig" : "");
		return 0;
	}
	if (!*file || !(abs = realpath(file, NULL)))
		return error("--config '%s': %s", spec, *file ? strerror(errno) : "no file");
	if (access(abs, R_OK) < 0 || sha256_file(abs, sha) < 0) {
		free(abs);
		return error("--config '%s': cannot read it", spec);
	}
	/* the name is what the user compares by; the O= tree is per file */
	base = strrchr(abs, '/') + 1;
	c->name = xasprintf("%s%s", file == spec ? "file:" : "kfarm+", base);
	c->arg = xasprintf("%s:%s", file == spec ? "file" : "frag", abs);
	sha_text(abs, strlen(abs), sha);
	c->bdir = xasprintf("-%s-%.12s", file == spec ? "file" : "frag", sha);
	free(abs);
	return 0;
}

void build_config_release(struct build_config *c)
{
	free(c->name), free(c->arg), free(c->bdir);
	memset(c, 0, sizeof(*c));
}

void build_set(struct build *b, const char *arch, const struct build_config *c,
	       const char *status, const char *error)
{
	memset(b, 0, sizeof(*b));
	b->arch = xstrdup(arch);
	b->config = xstrdup(c->name);
	b->status = status;
	b->error = error ? xstrdup(error) : NULL;
	b->started = now_wall();
}

/* The script's own complaint ("kernel: error: no compiler ..."), printable */
static char *script_error(const char *out, int rc)
{
	const char *p = out, *last = NULL;
	char line[300];
	size_t k = 0;

	for (; (p = strstr(p, "kernel: error: ")); p++)
		last = p + 15;
	if (!last)
		return xasprintf("images/kernel.sh exited with status %d", rc);
	for (; *last && *last != '\n' && k + 1 < sizeof(line); last++)
		line[k++] = (*last >= 0x20 && *last < 0x7f) ? *last : '?';
	line[k] = '\0';
	return xstrdup(line);
}

static void print_output(const char *arch, const char *out)
{
	for (const char *p = out; *p;) {
		size_t n = strcspn(p, "\n");

		fprintf(stderr, "  %s: ", arch);
		for (size_t i = 0; i < n && i < 400; i++)
			fputc((p[i] >= 0x20 && p[i] < 0x7f) ? p[i] : '?', stderr);
		fputc('\n', stderr);
		p += n + (p[n] == '\n');
	}
}

static void read_result(struct build *b, const char *path)
{
	json_error_t je;
	json_t *r = json_load_file(path, 0, &je);
	const char *st = json_string_value(json_object_get(r, "status"));

	if (!r || !st) {
		b->status = "ERROR";
		b->error = xasprintf("images/kernel.sh left no result record: %s", je.text);
		json_decref(r);
		return;
	}
	b->status = !strcmp(st, "built") || !strcmp(st, "cached") ? "PASS" : "FAIL";
	b->cached = strstr(st, "cached") != NULL;
	b->error = jstr(r, "error");
	b->compiler = jstr(r, "compiler");
	b->config_sha256 = jstr(r, "config_sha256");
	b->release = jstr(r, "release");
	b->key = jstr(r, "key");
	b->image = jstr(r, "image");
	b->log = jstr(r, "log");
	b->warnings = json_integer_value(json_object_get(r, "warnings"));
	if (!strcmp(b->status, "PASS") && (!b->image || access(b->image, R_OK) < 0)) {
		b->status = "ERROR";
		free(b->error);
		b->error = xstrdup("the build passed but its image is missing from the cache");
	}
	json_decref(r);
}

void build_arch(const struct source *s, const struct build_config *c, const char *arch,
		struct build *b)
{
	char res[] = "/tmp/kfarm-build-XXXXXX";
	int fd = mkstemp(res), rc;
	struct sb out;
	double t0 = now_mono();

	build_set(b, arch, c, "ERROR", NULL);
	if (fd < 0) {
		b->error = xstrdup("cannot create a temporary file");
		return;
	}
	close(fd);
	char *bdir = xasprintf("%s%s", s->bdir, c->bdir);
	char *argv[] = { "bash", (char *)kernel_sh(), "--src", s->dir, "--id", s->id, "--bdir",
			 bdir, "--config", c->arg, "--result", res, (char *)arch, NULL };

	fprintf(stderr, "kfarm: building %s %s (%s, config %s)\n", arch, s->label, s->tree,
		c->name);
	sb_init(&out);
	rc = spawn_run(argv, NULL, NULL, &out, 256 << 10);
	print_output(arch, out.buf);
	if (rc == 0)
		read_result(b, res);
	else
		b->error = script_error(out.buf, rc);
	b->duration_s = now_mono() - t0;
	unlink(res);
	free(bdir);
	sb_release(&out);
}

void build_release(struct build *b)
{
	free(b->arch), free(b->config), free(b->error), free(b->compiler);
	free(b->config_sha256), free(b->release), free(b->key), free(b->image), free(b->log);
	memset(b, 0, sizeof(*b));
}
