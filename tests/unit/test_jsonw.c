/* jsonw writes what jansson's compact dump writes for the same value:
 * random strings (any bytes, invalid UTF-8 repaired as dbtext does) and
 * random doubles (any bit pattern that is finite), compared byte for byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "../../runner/dbtext.h"
#include "../../runner/jsonw.h"

#include <math.h>

static void same(struct sb *sb, json_t *v)
{
	char *want = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

	assert_non_null(want);
	assert_string_equal(sb->buf, want);
	free(want);
	json_decref(v);
	sb_reset(sb);
}

static void test_strings(void **state)
{
	static const char *const fixed[] = { "", "plain", "a\"b\\c/d", "\n\t\r\b\f\x01\x1f\x7f",
		"\xc3\xa9t\xc3\xa9", "\xc3", "\xe2\x82", "\xed\xa0\x80", "\xf4\x90\x80\x80",
		"\xc0\xaf", "\xef\xbf\xbe" };
	struct sb sb;
	unsigned char buf[64];

	(void)state;
	sb_init(&sb);
	for (size_t i = 0; i < sizeof(fixed) / sizeof(*fixed); i++) {
		jsonw_strz(&sb, fixed[i]);
		same(&sb, dbtext_json((const unsigned char *)fixed[i], strlen(fixed[i])));
	}
	srand(1);
	for (int n = 0; n < 20000; n++) {
		size_t len = (size_t)rand() % sizeof(buf);

		for (size_t i = 0; i < len; i++)	/* biased to the interesting bytes */
			buf[i] = rand() % 4 ? (unsigned char)rand() : "\0\"\\\x80\xc3\xe2\xf0"[rand() % 7];
		jsonw_str(&sb, (const char *)buf, len);
		same(&sb, dbtext_json(buf, len));
	}
	jsonw_str(&sb, NULL, 0);
	assert_string_equal(sb.buf, "null");
	sb_release(&sb);
}

static void test_reals(void **state)
{
	static const double fixed[] = { 0, -0.0, 1, 2.5, 0.1, 1e300, 1e-300, -2.5e-7, 1e21, 1e22,
		123456789012345678.0, 5e-324, 1.7976931348623157e308 };
	struct sb sb;

	(void)state;
	sb_init(&sb);
	for (size_t i = 0; i < sizeof(fixed) / sizeof(*fixed); i++) {
		jsonw_real(&sb, fixed[i]);
		same(&sb, json_real(fixed[i]));
	}
	srand(2);
	for (int n = 0; n < 20000; n++) {
		uint64_t bits = (uint64_t)rand() << 40 ^ (uint64_t)rand() << 20 ^ (uint64_t)rand();
		double d;

		memcpy(&d, &bits, sizeof(d));
		if (!isfinite(d))
			continue;
		jsonw_real(&sb, d);
		same(&sb, json_real(d));
	}
	/* and the range written without printf (timestamps, durations, rates),
	 * log-uniform over 1e-5..1e18 and next to each power of ten */
	for (int n = 0; n < 200000; n++) {
		double d = (rand() & 1 ? -1 : 1) * (1 + 9.0 * rand() / RAND_MAX), p = 1e-5;
		uint64_t bits;

		for (int k = n % 23; k--;)
			d *= 10, p *= 10;
		d /= 1e5;
		jsonw_real(&sb, d);
		same(&sb, json_real(d));
		memcpy(&bits, &p, sizeof(p));	/* next to a power of ten, either side */
		bits += n & 1 ? 1 : -1;
		memcpy(&d, &bits, sizeof(d));
		jsonw_real(&sb, d);
		same(&sb, json_real(d));
	}
	for (int n = 0; n < 100000; n++) {	/* times as stored: now_wall(), k/10^j */
		double t = 1.7e9 + rand() / (double)RAND_MAX * 1e8, f = (double)(rand() % 1000) /
									  (n % 2 ? 1000 : 7);

		jsonw_real(&sb, t);
		same(&sb, json_real(t));
		jsonw_real(&sb, f);
		same(&sb, json_real(f));
	}
	sb_release(&sb);
}

static void test_ints(void **state)
{
	static const int64_t fixed[] = { 0, 1, -1, 9, 10, -10, INT64_MAX, INT64_MIN, 1234567890123 };
	struct sb sb;

	(void)state;
	sb_init(&sb);
	for (size_t i = 0; i < sizeof(fixed) / sizeof(*fixed); i++) {
		jsonw_int(&sb, fixed[i]);
		same(&sb, json_integer(fixed[i]));
	}
	for (int n = 0; n < 20000; n++) {
		int64_t v = (int64_t)((uint64_t)rand() << 40 ^ (uint64_t)rand() << 20 ^ (uint64_t)rand());

		jsonw_int(&sb, v >> (n % 64));
		same(&sb, json_integer(v >> (n % 64)));
	}
	sb_release(&sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_reals),
		cmocka_unit_test(test_ints),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
