/* struct err: the setter's return, bounds and NULL-safety, and the context
 * prefix (which reads the lower message before writing over it). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "../../runner/err.h"

static void test_set(void **state)
{
	struct err e = { 0 };

	(void)state;
	assert_int_equal(err_set(&e, 404, "no run %d", 7), -1);
	assert_int_equal(e.code, 404);
	assert_string_equal(e.msg, "no run 7");
	assert_int_equal(err_set(NULL, 500, "dropped %s", "x"), -1);
	err_clear(&e);
	assert_int_equal(e.code, 0);
	assert_string_equal(e.msg, "");
	err_clear(NULL);
}

static void test_bounded(void **state)
{
	char big[1000];
	struct err e;

	(void)state;
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	err_set(&e, 0, "%s", big);
	assert_int_equal(strlen(e.msg), sizeof(e.msg) - 1);
	/* a prefix that fills the message leaves it terminated */
	err_prefix(&e, "%s: ", big);
	assert_int_equal(strlen(e.msg), sizeof(e.msg) - 1);
	assert_int_equal(e.msg[0], 'a');
}

/* a cut never leaves half a UTF-8 character */
static void test_utf8_cut(void **state)
{
	struct err e;
	const size_t n = sizeof(e.msg);	/* n - 1 bytes of text fit */
	char big[sizeof(e.msg) + 8];

	(void)state;
	memset(big, 'a', sizeof(big));
	memcpy(big + n - 3, "\xc3\xa9", 2);	/* an e-acute as the last 2 that fit */
	big[n - 1] = '\0';
	err_set(&e, 0, "%s", big);
	assert_int_equal(strlen(e.msg), n - 1);
	memcpy(big + n - 3, "a\xc3\xa9", 3);	/* its second byte would not fit */
	big[n] = '\0';
	err_set(&e, 0, "%s", big);
	assert_int_equal(strlen(e.msg), n - 2);
	memcpy(big + n - 4, "\xe2\x82\xac\xe2\x82\xac", 6);	/* a whole euro sign, then one cut */
	big[n + 2] = '\0';
	err_set(&e, 0, "%s", big);
	assert_int_equal(strlen(e.msg), n - 1);
	assert_memory_equal(e.msg + n - 4, "\xe2\x82\xac", 3);
	err_set(&e, 0, "\xe2\x82\xac");
	err_prefix(&e, "%.*s", (int)(n - 3), big);	/* n - 3 + 3 bytes: the sign goes */
	assert_int_equal(strlen(e.msg), n - 3);
}

static void test_prefix(void **state)
{
	struct err e;

	(void)state;
	err_set(&e, 502, "connection refused");
	assert_int_equal(err_prefix(&e, "host '%s': ", "lab1"), -1);
	assert_string_equal(e.msg, "host 'lab1': connection refused");
	assert_int_equal(e.code, 502);
	err_prefix(&e, "ssh: ");
	assert_string_equal(e.msg, "ssh: host 'lab1': connection refused");
	assert_int_equal(err_prefix(NULL, "x: "), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_set),
		cmocka_unit_test(test_bounded),
		cmocka_unit_test(test_utf8_cut),
		cmocka_unit_test(test_prefix),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
