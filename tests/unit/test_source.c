/* Source candidates: kinds, identities and default names, resolved from
 * real files and a real git repository made here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../../runner/build.h"
#include "../../runner/source.h"
#include "../../runner/spawn.h"
#include "../../runner/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[] = "/tmp/kfarm-test-source-XXXXXX";

static void put(const char *name, const char *text)
{
	char *p = xasprintf("%s/%s", dir, name);

	assert_int_equal(write_file_atomic(p, text, strlen(text)), 0);
	free(p);
}

static void sh_git(const char *a, const char *b, const char *c)
{
	char *argv[] = { "git", "-C", dir, "-c", "user.name=t", "-c", "user.email=t@t",
			 (char *)a, (char *)b, (char *)c, NULL };

	assert_int_equal(spawn_run(argv, NULL, NULL, NULL, 0, NULL), 0);
}

static void test_dir_and_git(void **state)
{
	struct source s;
	struct err e;
	char *spec;

	(void)state;
	assert_non_null(mkdtemp(dir));
	put("Makefile", "# SPDX\nVERSION = 6\nPATCHLEVEL = 1\nSUBLEVEL = 192\nEXTRAVERSION =\n");
	put("Kconfig", "mainmenu \"Linux\"\n");
	assert_int_equal(source_resolve(dir, NULL, &s, &e), 0);
	assert_int_equal(s.kind, SRC_DIR);
	assert_string_equal(s.version, "6.1.192");
	assert_true(!strncmp(s.id, "dir:", 4) && strstr(s.id, "+patches:none"));
	assert_true(!strncmp(s.label, "dir-", 4));
	source_release(&s);

	sh_git("init", "-q", NULL);
	{
		char *argv[] = { "git", "-C", dir, "checkout", "-q", "-b", "topic/x", NULL };

		assert_int_equal(spawn_run(argv, NULL, NULL, NULL, 0, NULL), 0);
	}
	sh_git("add", "-A", NULL);
	sh_git("commit", "-qm", "one");
	assert_int_equal(source_resolve(dir, NULL, &s, &e), 0);
	assert_int_equal(s.kind, SRC_GIT);
	assert_string_equal(s.rev, "HEAD");
	assert_int_equal(strlen(s.commit), 40);
	assert_string_equal(s.branch, "topic/x");
	assert_true(!strcmp(s.tree + strlen(s.tree) - 8, "-topic-x"));	/* no '/' in names */
	assert_int_equal(strncmp(s.label, s.commit, 12), 0);
	assert_true(!strncmp(s.id, "git:", 4) && !strncmp(s.id + 4, s.commit, 40));
	source_release(&s);

	spec = xasprintf("%s@no-such-revision", dir);
	assert_int_equal(source_resolve(spec, NULL, &s, &e), -1);
	assert_non_null(strstr(e.msg, ": unknown revision 'no-such-revision' in git repository"));
	source_release(&s);
	free(spec);
	spec = xasprintf("%s@--output=/tmp/x", dir);	/* never an option to git */
	assert_int_equal(source_resolve(spec, NULL, &s, &e), -1);
	source_release(&s);
	free(spec);
}

static void test_tarball_names(void **state)
{
	struct source s;
	struct err e;
	char *tb = xasprintf("%s/linux-source-6.1.tar.xz", dir);

	(void)state;
	put("linux-source-6.1.tar.xz", "not really xz");
	assert_int_equal(source_resolve(tb, NULL, &s, &e), 0);
	assert_int_equal(s.kind, SRC_TARBALL);
	assert_string_equal(s.tree, "debian-6.1");
	assert_string_equal(s.bdir, "6.1-nopatch");	/* make images' --nopatch O= tree */
	assert_true(!strncmp(s.id, "tar:", 4) && strlen(s.sha256) == 64);
	source_release(&s);
	assert_int_equal(source_resolve(tb, KFARM_ARCHES_DIR "/../images/patches/6.1", &s, &e),
			 0);
	assert_string_equal(s.bdir, "6.1");		/* make images' O= tree */
	assert_int_equal(s.patches.n, 1);
	source_release(&s);
	free(tb);
	tb = xasprintf("%s/Kconfig@HEAD", dir);
	assert_int_equal(source_resolve(tb, NULL, &s, &e), -1);	/* @REV on a file */
	assert_non_null(strstr(e.msg, "' is neither a git repository, a kernel source directory nor"));
	source_release(&s);
	free(tb);
	{
		char *argv[] = { "rm", "-rf", dir, NULL };

		spawn_run(argv, NULL, NULL, NULL, 0, NULL);
	}
}

static int exists(const char *a, const char *b)
{
	char *p = xasprintf("%s/%s", a, b);
	int r = access(p, F_OK) == 0;

	free(p);
	return r;
}

/* A tree of the cache holds kernel.sh's O= trees (.kfarm-o-*): read as a
 * plain directory candidate, they are neither its identity nor copied. */
static void test_obj_trees_are_not_source(void **state)
{
	struct source s;
	struct err e;
	char fp[65], cache[] = "/tmp/kfarm-test-source-cache-XXXXXX";

	(void)state;
	strcpy(dir, "/tmp/kfarm-test-source-XXXXXX");
	assert_non_null(mkdtemp(dir));
	assert_non_null(mkdtemp(cache));
	put("Makefile", "VERSION = 6\nPATCHLEVEL = 1\nSUBLEVEL = 0\nEXTRAVERSION =\n");
	put("Kconfig", "mainmenu \"Linux\"\n");
	assert_int_equal(source_resolve(dir, NULL, &s, &e), 0);
	memcpy(fp, s.sha256, sizeof(fp));
	source_release(&s);
	{
		char *o = xasprintf("%s/.kfarm-o-x86_64-6.1", dir);

		assert_int_equal(mkdir(o, 0755), 0);
		free(o);
	}
	put(".kfarm-o-x86_64-6.1/vmlinux.o", "an object");
	assert_int_equal(source_resolve(dir, NULL, &s, &e), 0);
	assert_string_equal(s.sha256, fp);		/* build output: same identity */
	source_release(&s);

	put("series", "0001.patch\n");
	put("0001.patch", "--- a/Kconfig\n+++ b/Kconfig\n@@ -1 +1,2 @@\n mainmenu \"Linux\"\n+# patched\n");
	setenv("KFARM_CACHE", cache, 1);
	assert_int_equal(source_resolve(dir, dir, &s, &e), 0);
	assert_string_not_equal(s.sha256, fp);		/* series, 0001.patch: new files */
	assert_int_equal(source_prepare(&s, &e), 0);
	assert_true(exists(s.dir, "Kconfig") && exists(s.dir, "Makefile"));
	assert_false(exists(s.dir, ".kfarm-o-x86_64-6.1"));	/* not copied */
	source_release(&s);
	unsetenv("KFARM_CACHE");
	{
		char *argv[] = { "rm", "-rf", dir, cache, NULL };

		spawn_run(argv, NULL, NULL, NULL, 0, NULL);
	}
}

/* --config: the recorded name, kernel.sh's argument and the O= suffix */
static void test_config_parse(void **state)
{
	struct build_config c;
	struct err e;
	char *f, *plus, *want;

	(void)state;
	strcpy(dir, "/tmp/kfarm-test-source-XXXXXX");
	assert_non_null(mkdtemp(dir));
	f = xasprintf("%s/debug.config", dir), plus = xasprintf("+%s", f);
	assert_int_equal(build_config_parse(NULL, &c, &e), 0);
	assert_string_equal(c.name, "kfarm");
	assert_string_equal(c.bdir, "");	/* make images' O= trees */
	build_config_release(&c);
	assert_int_equal(build_config_parse("defconfig", &c, &e), 0);
	assert_string_equal(c.arg, "defconfig");
	assert_string_equal(c.bdir, "-defconfig");
	build_config_release(&c);
	assert_int_equal(build_config_parse(f, &c, &e), -1);	/* no such file yet */
	assert_int_equal(build_config_parse(plus, &c, &e), -1);
	assert_int_equal(build_config_parse("+", &c, &e), -1);
	assert_string_equal(e.msg, "--config '+': no file");
	put("debug.config", "CONFIG_IKCONFIG=y\n");
	assert_int_equal(build_config_parse(plus, &c, &e), 0);
	assert_string_equal(c.name, "kfarm+debug.config");
	want = xasprintf("frag:%s", f);
	assert_string_equal(c.arg, want);
	assert_true(!strncmp(c.bdir, "-frag-", 6) && strlen(c.bdir) == 18);
	build_config_release(&c);
	free(want);
	assert_int_equal(build_config_parse(f, &c, &e), 0);
	assert_string_equal(c.name, "file:debug.config");
	assert_true(!strncmp(c.arg, "file:/", 6));
	assert_true(!strncmp(c.bdir, "-file-", 6));
	build_config_release(&c);
	free(f), free(plus);
	{
		char *argv[] = { "rm", "-rf", dir, NULL };

		spawn_run(argv, NULL, NULL, NULL, 0, NULL);
	}
}

int main(void)
{
	/* run under git rebase -x or a hook, the test's own git commands would
	 * otherwise commit into the outer repository */
	source_git_env_clear();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dir_and_git),
		cmocka_unit_test(test_tarball_names),
		cmocka_unit_test(test_obj_trees_are_not_source),
		cmocka_unit_test(test_config_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
