/* The command context on real files: the default database path comes from
 * KFARM_DATA, a read-write command creates its directory and the database,
 * a read-only one creates nothing and names the file it could not open, the
 * store is opened once and closed by the dispatcher's cmd_ctx_close. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../runner/cmds.h"
#include "../../runner/store.h"
#include "../../runner/util.h"

static char dir[] = "/tmp/kfarm-cmdctx-XXXXXX";

static void rm_db(const char *db)
{
	static const char *const sfx[] = { "", "-wal", "-shm" };

	for (size_t i = 0; i < 3; i++) {
		char *p = xasprintf("%s%s", db, sfx[i]);

		unlink(p);
		free(p);
	}
}

static void test_default_path(void **state)
{
	char *data = xasprintf("%s/data", dir), *want = xasprintf("%s/kfarm.db", data);
	struct cmd_ctx c = { .flags = CMD_STORE_RO };
	struct stat sb;

	(void)state;
	setenv("KFARM_DATA", data, 1);
	assert_string_equal(cmd_db_path(&c), want);
	/* read-only: nothing to read, nothing created */
	assert_null(cmd_store(&c));
	assert_int_equal(stat(data, &sb), -1);
	cmd_ctx_close(&c);

	c = (struct cmd_ctx){ .flags = CMD_STORE_RW };
	assert_non_null(cmd_store(&c));
	assert_ptr_equal(cmd_store(&c), c.st);	/* opened once */
	assert_string_equal(store_path(c.st), want);
	assert_int_equal(stat(want, &sb), 0);
	cmd_ctx_close(&c);
	assert_null(c.st);

	/* now it exists: a read-only command opens it */
	c = (struct cmd_ctx){ .flags = CMD_STORE_RO };
	assert_non_null(cmd_store(&c));
	cmd_ctx_close(&c);
	rm_db(want);
	assert_int_equal(rmdir(data), 0);
	free(data);
	free(want);
}

static void test_db_option(void **state)
{
	char *db = xasprintf("%s/given.db", dir);
	struct cmd_ctx c = { .flags = CMD_STORE_RW, .db = db };

	(void)state;
	setenv("KFARM_DATA", "/nonexistent/kfarm-data", 1);
	assert_string_equal(cmd_db_path(&c), db);
	/* --db given: the default's directory is not made */
	assert_non_null(cmd_store(&c));
	cmd_ctx_close(&c);
	/* a command without a database in its table entry gets none */
	c = (struct cmd_ctx){ .flags = 0, .db = db };
	assert_null(cmd_store(&c));
	cmd_ctx_close(&c);
	rm_db(db);
	free(db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_path),
		cmocka_unit_test(test_db_option),
	};
	int ret;

	if (!mkdtemp(dir))
		return 1;
	ret = cmocka_run_group_tests(tests, NULL, NULL);
	return rmdir(dir) ? 1 : ret;
}
