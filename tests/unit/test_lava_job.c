/* LAVA job definitions say what the direct backend would run, refuse what
 * LAVA's command line cannot carry; LAVA's YAML log yields the console lines
 * (escapes decoded, partial lines kept for later) and the job's verdict. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "../../runner/lava_job.h"
#include "../../runner/profile.h"
#include "../../runner/util.h"

static char *definition(const char *arch, const char *append, struct err *err)
{
	struct profile p;
	char *d;

	assert_int_equal(profile_load(arch, &p, NULL), 0);
	struct vm_spec spec = { .profile = &p, .kernel = "/k/image", .initrd = "/i/a.cpio.gz",
				.append = append };
	d = lava_job_definition(&spec, "kfarm test", err);
	profile_release(&p);
	return d;
}

static void test_definition(void **state)
{
	struct err err = { 0 };
	char *d;

	(void)state;
	d = definition("sparc64", "console=ttyS0 panic=-1 kfarm.tests=a,b", &err);
	assert_non_null(d);
	assert_non_null(strstr(d, "device_type: qemu\n"));
	assert_non_null(strstr(d, "  arch: \"sparc64\"\n"));
	/* not the template's model=virtio: sun4u has none */
	assert_non_null(strstr(d, "  model: \"id=kfarm0\"\n"));
	assert_non_null(strstr(d, "  - \"-machine sun4u\"\n"));
	/* a CPU name with blanks stays one QEMU argument */
	assert_non_null(strstr(d, "  - \"-cpu \\\"TI UltraSparc IIi\\\"\"\n"));
	assert_non_null(strstr(d, "  - \"-m 512\"\n"));
	assert_non_null(strstr(d, "-no-reboot"));
	assert_non_null(strstr(d, "image_arg: \"-kernel {kernel} -append \\\"console=ttyS0 "
				  "panic=-1 kfarm.tests=a,b\\\"\""));
	assert_non_null(strstr(d, "url: \"file:///k/image\""));
	assert_non_null(strstr(d, "url: \"file:///i/a.cpio.gz\""));
	assert_non_null(strstr(d, "    - \"# kfarm-init: done\"\n"));
	free(d);
	d = definition("riscv64", "console=ttyS0", &err);
	assert_non_null(strstr(d, "  - \"-bios\"\n  - \"default\"\n"));
	free(d);
}

static void test_refused(void **state)
{
	struct err err = { 0 };
	struct profile p;

	(void)state;
	assert_null(definition("x86_64", "console=ttyS0 init=\"/bin/sh\"", &err));
	assert_non_null(strstr(err.msg, "kernel command line"));
	assert_null(definition("x86_64", "a={kernel}", &err));
	assert_null(definition("x86_64", "a=$(reboot)", &err));
	assert_int_equal(profile_load("x86_64", &p, NULL), 0);
	struct vm_spec spec = { .profile = &p, .kernel = "/k/my image", .initrd = "/i",
				.append = "x" };
	assert_null(lava_job_definition(&spec, "n", &err));
	assert_non_null(strstr(err.msg, "/k/my image"));
	spec.kernel = "relative/image";
	assert_null(lava_job_definition(&spec, "n", &err));
	profile_release(&p);
}

struct got {
	char buf[4096];
	size_t len;
	int lines;
};

static void collect(void *data, const char *line, size_t n)
{
	struct got *g = data;

	assert_true(g->len + n + 1 < sizeof(g->buf));
	memcpy(g->buf + g->len, line, n);
	g->len += n;
	g->buf[g->len++] = '|';
	g->buf[g->len] = '\0';
	g->lines++;
}

static void test_log(void **state)
{
	static const char log[] =
		"- {\"dt\": \"2026-12-01T23:15:48.7\", \"lvl\": \"info\", \"msg\": \"Boot command: "
		"/usr/bin/qemu-system-x86_64 -m 512\"}\n"
		"- {\"dt\": \"x\", \"lvl\": \"target\", \"msg\": \"TAP version 13\"}\n"
		"- {\"dt\": \"x\", \"lvl\": \"debug\", \"msg\": [\"a\", \"b\"]}\n"
		"- {\"dt\": \"x\", \"lvl\": \"target\", \"msg\": \"ok 1 x \\\"q\\\" \\x01\\e\\u00e9\"}\n"
		"not yaml at all: [\n"
		"- {\"dt\": \"x\", \"lvl\": \"target\", \"msg\": \"# kfarm-init: done\"}\n"
		"- {\"dt\": \"x\", \"lvl\": \"results\", \"msg\": {\"case\": \"job\", \"definition\": "
		"\"lava\", \"error_msg\": \"Cannot find command 'qemu-system-alpha' in $PATH\", "
		"\"error_type\": \"Infrastructure\", \"result\": \"fail\"}}\n"
		"- {\"dt\": \"x\", \"lvl\": \"target\", \"msg\": \"partial";
	struct lava_log lg = { 0 };
	struct got g = { .len = 0 };
	size_t used;

	(void)state;
	used = lava_log_feed(&lg, log, strlen(log), 1 << 20, collect, &g);
	assert_int_equal(used, strrchr(log, '\n') - log + 1);
	assert_int_equal(lg.lines, 7);
	assert_int_equal(lg.bad_lines, 1);
	assert_int_equal(g.lines, 3);
	assert_string_equal(g.buf, "TAP version 13|ok 1 x \"q\" \x01\x1b\xc3\xa9|# kfarm-init: done|");
	assert_true(lg.done_seen);
	assert_string_equal(lg.error_type, "Infrastructure");
	assert_string_equal(lg.error_msg, "Cannot find command 'qemu-system-alpha' in $PATH");
	assert_string_equal(lg.boot_cmd, "/usr/bin/qemu-system-x86_64 -m 512");
	/* an over-long line is skipped, not buffered */
	static const char longer[] = "- {\"lvl\": \"target\", \"msg\": \"long\"}\n";
	used = lava_log_feed(&lg, longer, strlen(longer), 10, collect, &g);
	assert_int_equal(used, strlen(longer));
	assert_int_equal(lg.bad_lines, 2);
	assert_int_equal(g.lines, 3);
}

/* nesting deeper than the parser's bound is a bad line, not a crash */
static void test_deep(void **state)
{
	struct sb sb;
	struct lava_log lg = { 0 };
	struct got g = { .len = 0 };

	(void)state;
	sb_init(&sb);
	sb_adds(&sb, "- {\"lvl\": \"results\", \"msg\": ");
	for (int i = 0; i < 10000; i++)
		sb_adds(&sb, "[");
	for (int i = 0; i < 10000; i++)
		sb_adds(&sb, "]");
	sb_adds(&sb, "}\n");
	lava_log_feed(&lg, sb.buf, sb.len, 1 << 20, collect, &g);
	assert_int_equal(lg.bad_lines, 1);
	sb_release(&sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_definition),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_log),
		cmocka_unit_test(test_deep),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
