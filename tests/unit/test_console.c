/* Console classifier and line splitter, on lines taken from real kernels. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "../../runner/console.h"

static enum con_kind cls(const char *s)
{
	return console_classify(s, strlen(s));
}

static void test_classify(void **state)
{
	(void)state;
	assert_int_equal(cls("Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100"),
			 CON_PANIC);
	assert_int_equal(cls("[    2.345678] Kernel panic - not syncing: VFS: Unable to mount root fs"),
			 CON_PANIC);
	assert_int_equal(cls("Oops: 0000 [#1] PREEMPT SMP NOPTI"), CON_OOPS);
	assert_int_equal(cls("Oops[#1]:"), CON_OOPS);
	assert_int_equal(cls("Internal error: Oops: 0000000096000004 [#1] SMP"), CON_INTERNAL);
	assert_int_equal(cls("Unable to handle kernel NULL pointer dereference at virtual address 0"),
			 CON_OOPS);
	assert_int_equal(cls("BUG: kernel NULL pointer dereference, address: 0000000000000000"),
			 CON_BUG);
	assert_int_equal(cls("kernel BUG at mm/migrate.c:123!"), CON_BUG);
	assert_int_equal(cls("WARNING: CPU: 0 PID: 1 at kernel/fork.c:100 copy_process+0x1/0x2"),
			 CON_WARNING);
	assert_int_equal(cls("<4>WARNING: CPU: 0 PID: 1 at x"), CON_WARNING);
	assert_int_equal(cls("Attempted to kill init! exitcode=0x0000000b"), CON_INIT_KILLED);
	/* not trouble */
	assert_int_equal(cls("ok 1 clone3"), CON_NONE);
	assert_int_equal(cls("# BUG: this is a test's diagnostic"), CON_NONE);
	assert_int_equal(cls("Oopsie"), CON_NONE);
	assert_int_equal(cls(""), CON_NONE);
	assert_int_equal(cls("["), CON_NONE);
	assert_true(con_kind_fatal(CON_PANIC));
	assert_false(con_kind_fatal(CON_WARNING));
}

static size_t plen(const char *s)
{
	return console_prefix_len(s, strlen(s));
}

/* printk's prefixes: CONFIG_PRINTK_TIME, CONFIG_PRINTK_CALLER, both. */
static void test_printk_prefix(void **state)
{
	(void)state;
	assert_int_equal(plen("[    0.123456] ok 1 x"), 15);
	assert_int_equal(plen("[12345.000001] x"), 15);
	assert_int_equal(plen("[    T1] x"), 9);
	assert_int_equal(plen("[     C0] x"), 10);
	assert_int_equal(plen("[    0.123456][  T123] x"), 23);
	assert_int_equal(plen("[    0.123456]"), 14);	/* empty message */
	assert_int_equal(plen(" BUG: x"), 1);	/* one leading space */
	assert_int_equal(plen("  ok 1 x"), 0);	/* KTAP's indentation */
	assert_int_equal(plen("\tok 1 x"), 0);
	/* not printk's shape */
	assert_int_equal(plen("[drm] x"), 0);
	assert_int_equal(plen("[ 0.1 x"), 0);
	assert_int_equal(plen("[.5] x"), 0);
	assert_int_equal(plen("[    0.] x"), 0);
	assert_int_equal(plen("[    X1] x"), 0);
	assert_int_equal(plen("[T] x"), 0);
	assert_int_equal(plen(" [    0.1] x"), 1);	/* the space only: no prefix after it */
	assert_int_equal(plen("["), 0);
	assert_int_equal(plen(""), 0);
	/* the classifier sees through every form */
	assert_int_equal(cls("[    0.123456][    T1] Kernel panic - not syncing: x"), CON_PANIC);
	assert_int_equal(cls("[    T1] BUG: kernel NULL pointer dereference"), CON_BUG);
	assert_int_equal(cls("[     C1] Oops: 0000 [#1] SMP"), CON_OOPS);
	assert_int_equal(cls("<4>[    1.000000][    T1] WARNING: CPU: 0 PID: 1 at x"), CON_WARNING);
	assert_int_equal(cls("[   12.000001] Unable to handle kernel paging request"), CON_OOPS);
	/* ... and only through printk's own prefix */
	assert_int_equal(cls("[drm] BUG: not the kernel's line"), CON_NONE);
	assert_int_equal(cls("[    0.1]  BUG: indented, not a kernel BUG line"), CON_NONE);
}

struct lines {
	int n;
	size_t lens[8];
	char first[64];
};

static void on_line(void *data, const char *line, size_t len)
{
	struct lines *l = data;

	if (l->n == 0)
		strncpy(l->first, line, sizeof(l->first) - 1);
	if (l->n < 8)
		l->lens[l->n] = len;
	l->n++;
}

static void test_linebuf(void **state)
{
	static struct linebuf lb;
	struct lines l = { 0 };
	static char big[3 * CONSOLE_LINE_MAX];

	(void)state;
	linebuf_feed(&lb, "ab", 2, on_line, &l);
	linebuf_feed(&lb, "c\r\nd\0e\n", 7, on_line, &l);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.first, "abc");
	assert_int_equal(l.lens[1], 3);	/* "d?e" */
	memset(big, 'x', sizeof(big));
	memset(&l, 0, sizeof(l));
	linebuf_feed(&lb, big, sizeof(big), on_line, &l);
	linebuf_flush(&lb, on_line, &l);
	assert_int_equal(l.n, 4);	/* cut into bounded pieces */
	assert_int_equal(l.lens[0], CONSOLE_LINE_MAX - 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_printk_prefix),
		cmocka_unit_test(test_linebuf),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
