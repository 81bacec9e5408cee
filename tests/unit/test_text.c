/* UTF-8 clipping and cleaning (what results are stored as) and terminal
 * rendering (what an operator's terminal is shown). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../runner/job.h"
#include "../../runner/text.h"
#include "../../runner/util.h"

#define R TEXT_REPLACEMENT

static void clip_is(const char *in, size_t len, size_t max, const char *want)
{
	char *got = text_clip_utf8(in, len, max);

	assert_string_equal(got, want);
	free(got);
}

static void test_clip_boundary(void **state)
{
	char reason[601];
	char *c;

	(void)state;
	clip_is("plain", 5, 512, "plain");
	clip_is("plain", 5, 3, "pla");
	clip_is("a\xc3\xa9", 3, 2, "a");		/* é does not fit: left out whole */
	clip_is("a\xc3\xa9", 3, 3, "a\xc3\xa9");
	clip_is("\xe2\x9c\x93\xe2\x9c\x93", 6, 5, "\xe2\x9c\x93");
	clip_is("\xf0\x9f\x98\x80!", 5, 4, "\xf0\x9f\x98\x80");
	clip_is("", 0, 10, "");
	/* the case: a 600-byte reason whose byte 512 is inside a
	 * 3-byte character (bytes 510..512) */
	memset(reason, 'r', 510);
	for (int i = 510; i + 3 <= 600; i += 3)
		memcpy(reason + i, "\xe2\x82\xac", 3);	/* € */
	reason[600] = '\0';
	c = text_clip_utf8(reason, 600, 512);
	assert_int_equal(strlen(c), 510);
	assert_true(text_utf8_valid(c, strlen(c)));
	assert_memory_equal(c, reason, 510);
	free(c);
}

static void test_clip_invalid(void **state)
{
	(void)state;
	/* one U+FFFD per maximal subpart, as Unicode (and Python) do it */
	clip_is("a\xc0\xaf" "b", 4, 64, "a" R R "b");			/* overlong '/' */
	clip_is("\xe0\x80\xaf", 3, 64, R R R);				/* overlong, 3 bytes */
	clip_is("\xed\xa0\x80" "x", 4, 64, R R R "x");			/* surrogate D800 */
	clip_is("\xf4\x90\x80\x80", 4, 64, R R R R);			/* U+110000 */
	clip_is("\xf5\x80", 2, 64, R R);
	clip_is("ok\xe2\x82", 4, 64, "ok" R);				/* truncated at the end */
	clip_is("\xe2\x82" "A", 3, 64, R "A");				/* truncated inside */
	clip_is("\xf0\x9f\x98" "x", 4, 64, R "x");
	clip_is("\x80\xbf", 2, 64, R R);					/* stray continuations */
	clip_is("\xff\xfe", 2, 64, R R);
	clip_is("a\0b", 3, 64, "a" R "b");					/* NUL would end the C string */
	/* a replacement that does not fit is left out, never cut */
	clip_is("ab\xff", 3, 4, "ab");
	/* valid text, even with controls, passes unchanged: storage keeps
	 * what the guest said, rendering is the terminal's business */
	clip_is("\x1b]0;t\x07 \xc2\x9b \xef\xbf\xbe", 13, 64, "\x1b]0;t\x07 \xc2\x9b \xef\xbf\xbe");
}

/* Random bytes, cleaned: valid for jansson, cleaned again unchanged,
 * never longer than asked. */
static void test_clip_random(void **state)
{
	unsigned int seed = 10;
	unsigned char buf[256];

	(void)state;
	for (int n = 0; n < 20000; n++) {
		size_t len = rand_r(&seed) % sizeof(buf), max = rand_r(&seed) % 300;
		char *c, *c2;
		json_t *js;

		for (size_t i = 0; i < len; i++)
			/* biased towards the bytes UTF-8 cares about */
			buf[i] = rand_r(&seed) % 3 ? 0x80 + rand_r(&seed) % 0x80 : rand_r(&seed);
		c = text_clip_utf8((char *)buf, len, max);
		assert_true(strlen(c) <= max);
		assert_true(text_utf8_valid(c, strlen(c)));
		js = json_string(c);
		assert_non_null(js);
		json_decref(js);
		c2 = text_clip_utf8(c, strlen(c), max);
		assert_string_equal(c, c2);
		free(c);
		free(c2);
	}
}

static void term_is(const char *in, const char *want)
{
	struct text_pool p = { 0 };

	assert_string_equal(text_term(&p, in), want);
	text_pool_release(&p);
}

static void test_term(void **state)
{
	struct text_pool p = { 0 };
	const char *a, *b;

	(void)state;
	term_is("clone3 \xc3\xa9\xe2\x9c\x93", "clone3 \xc3\xa9\xe2\x9c\x93");
	term_is(NULL, "");
	term_is("\x1b]0;pwned\x07", "\\x1b]0;pwned\\x07");			/* OSC 0 */
	term_is("\x1b]52;c;aGk=\x1b\\", "\\x1b]52;c;aGk=\\x1b\\");		/* OSC 52 */
	term_is("x\x1b[3Aall tests passed", "x\\x1b[3Aall tests passed");
	term_is("\xc2\x9b" "2J \xc2\x9d" "0;t", "\\u009b2J \\u009d0;t");	/* C1 CSI, OSC */
	term_is("\x9b" "2J", R "2J");					/* a raw C1 byte */
	term_is("del\x7f", "del\\x7f");
	term_is("a\tb\nc\rd", "a b\\x0ac\\x0dd");
	term_is("\xe2\x80\xae" "gnp.exe", "\\u202egnp.exe");		/* bidi override */
	term_is("bad\xff\xc0", "bad" R R);
	/* pool strings stay valid until released */
	a = text_term(&p, "first\x1b");
	b = text_term(&p, "second");
	assert_string_equal(a, "first\\x1b");
	assert_string_equal(b, "second");
	text_pool_release(&p);
}

static char *write_rendered(const char *in, size_t len)
{
	char *out = NULL;
	size_t olen = 0;
	FILE *f = open_memstream(&out, &olen);

	text_term_write(f, in, len);
	fclose(f);
	return out;
}

static void test_term_write(void **state)
{
	size_t big = 200000;
	char *in = malloc(big), *out;

	(void)state;
	out = write_rendered("a\r\nb\x1b[2J\tc\n\rz", 13);
	assert_string_equal(out, "a\nb\\x1b[2J\tc\n\\x0dz");
	free(out);
	/* characters across the writer's internal chunks stay whole */
	for (size_t i = 0; i + 2 <= big; i += 2)
		memcpy(in + i, "\xc3\xa9", 2);
	out = write_rendered(in, big);
	assert_int_equal(strlen(out), big);
	assert_memory_equal(out, in, big);
	free(out);
	free(in);
}

/* Whatever the input, what reaches the terminal holds no control byte, no
 * C1 control and only valid UTF-8. */
static void test_term_random(void **state)
{
	unsigned int seed = 7;
	char buf[200];

	(void)state;
	for (int n = 0; n < 20000; n++) {
		size_t len = rand_r(&seed) % (sizeof(buf) - 1);
		struct text_pool p = { 0 };
		const unsigned char *o;

		for (size_t i = 0; i < len; i++)
			buf[i] = (char)(rand_r(&seed) % 2 ? rand_r(&seed) % 0x21 : 0x80 + rand_r(&seed) % 0x80);
		buf[len] = '\0';
		o = (const unsigned char *)text_term(&p, buf);
		assert_true(text_utf8_valid((const char *)o, strlen((const char *)o)));
		for (size_t i = 0; o[i]; i++) {
			assert_true(o[i] >= 0x20 && o[i] != 0x7f);
			assert_false(o[i] == 0xc2 && o[i + 1] >= 0x80 && o[i + 1] <= 0x9f);
		}
		text_pool_release(&p);
	}
}

/* Console text as job.c turns it into results: names, reasons, the release
 * and the warning line come out valid UTF-8, reasons cut at a character. */
static void test_console_to_results(void **state)
{
	struct job *j = job_new();
	struct sb in;

	(void)state;
	j->lb = xcalloc(1, sizeof(*j->lb));
	sb_init(&in);
	sb_adds(&in, "# kfarm-init: uname Linux 6.1.0\xff\xc0 #1\n"
		     "WARNING: CPU: 0 PID: 1 at x.c:1 \xed\xa0\x80\n"
		     "KTAP version 1\n1..2\nnot ok 1 bad_\xf4\x90\x80\x80 # ");
	for (int i = 0; i < 510; i++)
		sb_adds(&in, "r");
	for (int i = 0; i < 30; i++)
		sb_adds(&in, "\xe2\x82\xac");	/* bytes 510..512 are a character */
	sb_adds(&in, "\nok 2 fine\n");
	job_console(j, in.buf, in.len);
	assert_int_equal(j->nres, 2);
	assert_string_equal(j->res[0].test, "bad_" R R R R);
	assert_int_equal(strlen(j->res[0].reason), 510);
	assert_true(text_utf8_valid(j->res[0].reason, 510));
	assert_string_equal(j->release, "6.1.0" R R);
	assert_non_null(j->warning);
	assert_true(text_utf8_valid(j->warning, strlen(j->warning)));
	free(j->lb);
	j->lb = NULL;
	sb_release(&in);
	job_free(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clip_boundary),
		cmocka_unit_test(test_clip_invalid),
		cmocka_unit_test(test_clip_random),
		cmocka_unit_test(test_term),
		cmocka_unit_test(test_term_write),
		cmocka_unit_test(test_term_random),
		cmocka_unit_test(test_console_to_results),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
