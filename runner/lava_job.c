#include "lava_job.h"
#include "profile.h"
#include "util.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define MAX_DEPTH 8

/* LAVA splits its QEMU command line on blanks and quotes (pexpect) and fills
 * {kernel}-style fields into it: anything that could be read as such is
 * refused rather than escaped. */
static int word_ok(const char *s)
{
	return !strpbrk(s, "\"'\\{}$`\n\r\t");
}

static int path_ok(const char *s)
{
	if (*s != '/')
		return 0;
	for (; *s; s++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			    "0123456789-_./+@%=,:~", *s))
			return 0;
	return 1;
}

/* One argv word for LAVA's command line: quoted if it has blanks. */
static void add_word(struct sb *sb, const char *w)
{
	if (strchr(w, ' ') || !*w)
		sb_addf(sb, "\"%s\"", w);
	else
		sb_adds(sb, w);
}

/* A YAML double-quoted scalar: JSON's string syntax is a subset of it. */
static void add_str(struct sb *sb, const char *s)
{
	json_t *j = json_string(s);
	char *q = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;

	sb_adds(sb, q ? q : "\"\"");
	free(q);
	json_decref(j);
}

static void add_opt(struct sb *sb, const char *flag, const char *value)
{
	struct sb w;

	sb_init(&w);
	sb_adds(&w, flag);
	if (value) {
		sb_adds(&w, " ");
		add_word(&w, value);
	}
	sb_adds(sb, "  - ");
	add_str(sb, w.buf);
	sb_adds(sb, "\n");
	sb_release(&w);
}

/* QEMU options kfarm's direct backend would give, past what qemu.jinja2
 * already sets (-nographic, a NIC, -monitor none); a repeated -m or
 * -machine is QEMU's last-one-wins. */
static int add_context(struct sb *sb, const struct profile *p, struct err *err)
{
	char mem[32];

	sb_adds(sb, "context:\n  arch: ");
	add_str(sb, p->arch);
	/* qemu.jinja2 always adds "-net nic,MODEL,macaddr=..."; its default
	 * model=virtio does not exist on every machine (sun4u). An id instead of
	 * a model leaves the machine's own NIC: kfarm's guest needs no network */
	sb_adds(sb, "\n  model: \"id=kfarm0\"\n  extra_options:\n");
	add_opt(sb, "-machine", p->machine);
	if (p->cpu)
		add_opt(sb, "-cpu", p->cpu);
	snprintf(mem, sizeof(mem), "%u", p->memory_mb);
	add_opt(sb, "-m", mem);
	add_opt(sb, "-no-reboot", NULL);
	for (int pass = 0; pass < 2; pass++) {
		char **v = pass ? p->args : p->firmware;

		for (; v && *v; v++) {
			if (!word_ok(*v)) {
				err_set(err, 0, "arch %s: QEMU argument '%s' cannot be "
					"passed through LAVA (quotes, braces or $)", p->arch, *v);
				return -1;
			}
			add_opt(sb, *v, NULL);
		}
	}
	if (!word_ok(p->machine) || (p->cpu && !word_ok(p->cpu))) {
		err_set(err, 0, "arch %s: machine or CPU name cannot be passed "
			"through LAVA", p->arch);
		return -1;
	}
	return 0;
}

static void add_image(struct sb *sb, const char *key, const char *arg, const char *path)
{
	char *url = xasprintf("file://%s", path);

	sb_addf(sb, "      %s:\n        image_arg: ", key);
	add_str(sb, arg);
	sb_adds(sb, "\n        url: ");
	add_str(sb, url);
	sb_adds(sb, "\n");
	free(url);
}

char *lava_job_definition(const struct vm_spec *spec, const char *name, struct err *err)
{
	struct sb sb;
	char *karg;

	if (!path_ok(spec->kernel) || !path_ok(spec->initrd)) {
		err_set(err, 0, "kernel '%s' or initramfs '%s': LAVA needs an absolute "
			"path of plain characters (it becomes a file:// URL)", spec->kernel,
			spec->initrd);
		return NULL;
	}
	if (!word_ok(spec->append)) {
		err_set(err, 0, "kernel command line '%s' cannot be passed through LAVA "
			"(quotes, braces or $)", spec->append);
		return NULL;
	}
	sb_init(&sb);
	sb_adds(&sb, "# kfarm: one boot of a candidate kernel with kfarm's initramfs\n"
		     "device_type: qemu\njob_name: ");
	add_str(&sb, name);
	sb_addf(&sb, "\npriority: medium\nvisibility: public\n"
		     "timeouts:\n  job:\n    seconds: %u\n  action:\n    seconds: %u\n"
		     "  connection:\n    seconds: %u\n",
		LAVA_JOB_TIMEOUT_S, LAVA_BOOT_TIMEOUT_S, LAVA_BOOT_TIMEOUT_S);
	if (add_context(&sb, spec->profile, err)) {
		sb_release(&sb);
		return NULL;
	}
	sb_adds(&sb, "actions:\n- deploy:\n    to: tmpfs\n    timeout:\n      minutes: 5\n"
		     "    images:\n");
	karg = xasprintf("-kernel {kernel} -append \"%s\"", spec->append);
	add_image(&sb, "kernel", karg, spec->kernel);
	add_image(&sb, "ramdisk", "-initrd {ramdisk}", spec->initrd);
	free(karg);
	sb_addf(&sb, "- boot:\n    method: qemu\n    media: tmpfs\n    timeout:\n"
		     "      seconds: %u\n    prompts:\n    - ", LAVA_BOOT_TIMEOUT_S);
	add_str(&sb, LAVA_DONE_LINE);
	sb_adds(&sb, "\n");
	return sb_detach(&sb);
}

/* One node from libyaml's event stream as JSON (scalars as strings). */
static json_t *node(yaml_parser_t *ps, yaml_event_t *ev, int depth)
{
	json_t *v = NULL;

	if (depth > MAX_DEPTH)
		return NULL;
	if (ev->type == YAML_SCALAR_EVENT)
		return json_stringn((const char *)ev->data.scalar.value, ev->data.scalar.length);
	if (ev->type != YAML_MAPPING_START_EVENT && ev->type != YAML_SEQUENCE_START_EVENT)
		return NULL;
	int map = ev->type == YAML_MAPPING_START_EVENT;
	v = map ? json_object() : json_array();
	for (;;) {
		yaml_event_t k, e;
		json_t *child;

		if (!yaml_parser_parse(ps, &k))
			goto bad;
		if (k.type == YAML_MAPPING_END_EVENT || k.type == YAML_SEQUENCE_END_EVENT) {
			yaml_event_delete(&k);
			return v;
		}
		if (!map) {
			child = node(ps, &k, depth + 1);
			yaml_event_delete(&k);
			if (!child)
				goto bad;
			json_array_append_new(v, child);
			continue;
		}
		if (k.type != YAML_SCALAR_EVENT || !yaml_parser_parse(ps, &e)) {
			yaml_event_delete(&k);
			goto bad;
		}
		child = node(ps, &e, depth + 1);
		yaml_event_delete(&e);
		if (!child) {
			yaml_event_delete(&k);
			goto bad;
		}
		char *key = xstrndup((const char *)k.data.scalar.value, k.data.scalar.length);
		json_object_set_new(v, key, child);
		free(key);
		yaml_event_delete(&k);
	}
bad:
	json_decref(v);
	return NULL;
}

/* "- {dt: ..., lvl: ..., msg: ...}" as a JSON object, or NULL. */
static json_t *parse_record(const char *line, size_t len)
{
	yaml_parser_t ps;
	yaml_event_t ev;
	json_t *root = NULL;
	int ok = 1;

	if (!yaml_parser_initialize(&ps))
		return NULL;
	yaml_parser_set_input_string(&ps, (const unsigned char *)line, len);
	/* stream start, document start, then the node */
	for (int i = 0; i < 2 && ok; i++) {
		ok = yaml_parser_parse(&ps, &ev);
		if (ok)
			yaml_event_delete(&ev);
	}
	if (ok && yaml_parser_parse(&ps, &ev)) {
		root = node(&ps, &ev, 0);
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&ps);
	if (json_is_array(root) && json_array_size(root) == 1) {
		json_t *rec = json_incref(json_array_get(root, 0));

		json_decref(root);
		root = rec;
	}
	if (!json_is_object(root)) {
		json_decref(root);
		return NULL;
	}
	return root;
}

static void copy_field(char *dst, size_t n, json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	snprintf(dst, n, "%s", s ? s : "");
}

static void record(struct lava_log *lg, json_t *rec,
		   void (*out)(void *data, const char *line, size_t n), void *data)
{
	const char *lvl = json_string_value(json_object_get(rec, "lvl"));
	json_t *msg = json_object_get(rec, "msg");

	if (!lvl)
		return;
	if (!strcmp(lvl, "target") && json_is_string(msg)) {
		const char *s = json_string_value(msg);
		size_t n = json_string_length(msg);

		if (strstr(s, LAVA_DONE_LINE))
			lg->done_seen = 1;
		out(data, s, n);
	} else if (!strcmp(lvl, "info") && json_is_string(msg) &&
		   !strncmp(json_string_value(msg), "Boot command: ", 14)) {
		snprintf(lg->boot_cmd, sizeof(lg->boot_cmd), "%s", json_string_value(msg) + 14);
	} else if (!strcmp(lvl, "results") && json_is_object(msg)) {
		const char *def = json_string_value(json_object_get(msg, "definition"));
		const char *cs = json_string_value(json_object_get(msg, "case"));

		/* LAVA's verdict on the whole job */
		if (def && cs && !strcmp(def, "lava") && !strcmp(cs, "job")) {
			copy_field(lg->error_type, sizeof(lg->error_type), msg, "error_type");
			copy_field(lg->error_msg, sizeof(lg->error_msg), msg, "error_msg");
		}
	}
}

size_t lava_log_feed(struct lava_log *lg, const char *buf, size_t len, size_t max_line,
		     void (*out)(void *data, const char *line, size_t n), void *data)
{
	size_t used = 0;

	for (;;) {
		const char *nl = memchr(buf + used, '\n', len - used);
		size_t n;

		if (!nl)
			break;
		n = nl - (buf + used);
		lg->lines++;
		if (n > max_line) {
			lg->bad_lines++;
		} else if (n) {
			json_t *rec = parse_record(buf + used, n);

			if (rec)
				record(lg, rec, out, data);
			else
				lg->bad_lines++;
			json_decref(rec);
		}
		used += n + 1;
	}
	return used;
}
