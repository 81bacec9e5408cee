/* Console logs read back from rows that may have been edited: only regular
 * files under the database's logs directory, on a real directory tree with
 * symlinks, a FIFO and traversal; and text from the database as UTF-8. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../runner/dbtext.h"
#include "../../runner/logdir.h"
#include "../../runner/util.h"

static char dir[] = "/tmp/kfarm-logdir-XXXXXX";
static char *db;

static void put(const char *rel, const char *text)
{
	char *p = xasprintf("%s/%s", dir, rel);

	assert_int_equal(write_file_atomic(p, text, strlen(text)), 0);
	free(p);
}

static int status_of(const char *name)
{
	struct err e = { 0 };
	int fd = logdir_open(db, name, &e);

	if (fd >= 0) {
		char buf[16] = "";
		ssize_t n = read(fd, buf, sizeof(buf) - 1);

		close(fd);
		assert_true(n > 0);
		assert_string_equal(buf, "console\n");
		return 200;
	}
	assert_true(e.msg[0] != '\0');
	return e.code;
}

static void test_confined(void **state)
{
	char *p;

	(void)state;
	db = xasprintf("%s/k.db", dir);
	p = xasprintf("%s/k.db.logs/run-1", dir);
	assert_int_equal(mkdir_p(p, 0755), 0);
	free(p);
	p = xasprintf("%s/logs/run-1", dir);	/* the old shared layout */
	assert_int_equal(mkdir_p(p, 0755), 0);
	free(p);
	put("k.db.logs/run-1/01-x.log", "console\n");
	put("logs/run-1/01-old.log", "console\n");
	put("secret", "not a log\n");

	assert_int_equal(status_of("run-1/01-x.log"), 200);
	p = xasprintf("%s/k.db.logs/run-1/01-x.log", dir);	/* absolute, inside */
	assert_int_equal(status_of(p), 200);
	free(p);
	p = xasprintf("%s/logs/run-1/01-old.log", dir);	/* an old row, inside */
	assert_int_equal(status_of(p), 200);
	free(p);
	assert_int_equal(status_of("run-1/nope.log"), 404);
	assert_int_equal(status_of("/etc/passwd"), 403);
	assert_int_equal(status_of("../secret"), 403);
	assert_int_equal(status_of("run-1/../../secret"), 403);
	assert_int_equal(status_of("run-1//01-x.log"), 403);
	assert_int_equal(status_of("./run-1/01-x.log"), 403);
	assert_int_equal(status_of(""), 403);
	p = xasprintf("%s/k.db.logs/../secret", dir);	/* absolute, escapes */
	assert_int_equal(status_of(p), 403);
	free(p);
	p = xasprintf("%s/logs/../secret", dir);
	assert_int_equal(status_of(p), 403);
	free(p);
	/* a symlink as the file, and as a directory on the way */
	p = xasprintf("%s/k.db.logs/run-1/link.log", dir);
	assert_int_equal(symlink("/etc/passwd", p), 0);
	free(p);
	assert_int_equal(status_of("run-1/link.log"), 403);
	p = xasprintf("%s/k.db.logs/run-2", dir);
	assert_int_equal(symlink("/etc", p), 0);
	free(p);
	assert_int_equal(status_of("run-2/passwd"), 403);
	/* a FIFO nobody writes: refused at once, not waited on */
	p = xasprintf("%s/k.db.logs/run-1/fifo.log", dir);
	assert_int_equal(mkfifo(p, 0644), 0);
	free(p);
	time_t t0 = time(NULL);
	assert_int_equal(status_of("run-1/fifo.log"), 403);
	assert_true(time(NULL) - t0 < 2);
	/* a directory */
	assert_int_equal(status_of("run-1"), 403);
	free(db);
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(logdir_name("/d/k.db.logs", "/d/k.db.logs/run-3/a.log"),
			    "run-3/a.log");
	assert_null(logdir_name("/d/k.db.logs", "/d/k.db.logsX/run-3/a.log"));
	assert_null(logdir_name("/d/k.db.logs", "/d/other.db.logs/run-3/a.log"));
	assert_null(logdir_name("/d/k.db.logs", NULL));
	char *a = logdir_run("/d/a.db", 7), *b = logdir_run("/d/b.db", 7);

	/* two databases in one directory never share a run's logs */
	assert_string_not_equal(a, b);
	assert_string_equal(a, "/d/a.db.logs/run-7");
	free(a);
	free(b);
}

static void expect_text(const char *in, size_t n, const char *want)
{
	json_t *v = dbtext_json((const unsigned char *)in, n);

	assert_non_null(v);
	assert_int_equal(json_string_length(v), strlen(want));
	assert_memory_equal(json_string_value(v), want, strlen(want));
	json_decref(v);
}

static void test_text(void **state)
{
	(void)state;
	expect_text("linux-6.1", 9, "linux-6.1");
	expect_text("caf\xc3\xa9", 5, "caf\xc3\xa9");
	expect_text("\xff", 1, "\xef\xbf\xbd");
	expect_text("a\xc3", 2, "a\xef\xbf\xbd");			/* cut mid-character */
	expect_text("\xc0\xaf", 2, "\xef\xbf\xbd\xef\xbf\xbd");	/* overlong '/' */
	expect_text("\xed\xa0\x80", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"); /* surrogate */
	expect_text("\xf4\x90\x80\x80", 4,
		    "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");	/* > U+10FFFF */
	expect_text("\xf0\x9f\x90\xa7!", 5, "\xf0\x9f\x90\xa7!");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_confined),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_text),
	};
	int ret;

	if (!mkdtemp(dir))
		return 1;
	ret = cmocka_run_group_tests(tests, NULL, NULL);
	char *cmd[] = { "rm", "-rf", dir, NULL };
	if (fork() == 0)
		execvp(cmd[0], cmd);
	return ret;
}
