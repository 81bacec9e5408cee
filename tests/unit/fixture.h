/* The stand-in world of the run-stage tests (test_run, test_run_build): a
 * temporary directory with arches/ (a STAND-IN profile per arch name: its
 * QEMU is /bin/true, its image magic "KFARM"), cache/ and an empty initrd,
 * with KFARM_ARCHES and KFARM_CACHE pointing there. No QEMU is run: the
 * boots are fake_backend.h's. */
#ifndef KFARM_TEST_FIXTURE_H
#define KFARM_TEST_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

static void put_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

/* dir: a mkdtemp template, made in place; initrd (PATH_MAX-ish) gets the
 * empty initrd's path. */
static void fixture_make(char *dir, const char *const *arches, size_t narch, char *initrd,
			 size_t len)
{
	char path[512], text[512];

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/arches", dir);
	assert_int_equal(mkdir(path, 0755), 0);
	setenv("KFARM_ARCHES", path, 1);
	snprintf(path, sizeof(path), "%s/cache", dir);
	assert_int_equal(mkdir(path, 0755), 0);
	setenv("KFARM_CACHE", path, 1);
	for (size_t i = 0; i < narch; i++) {
		snprintf(path, sizeof(path), "%s/arches/%s.json", dir, arches[i]);
		snprintf(text, sizeof(text),
			 "{ \"arch\": \"%s\", \"console\": \"ttyS0\","
			 " \"image_magic\": [ { \"offset\": 0, \"hex\": \"4b4641524d\" } ],"
			 " \"qemu\": { \"binary\": \"/bin/true\", \"machine\": \"none\","
			 " \"memory_mb\": 64 } }\n", arches[i]);
		put_file(path, text);
	}
	snprintf(initrd, len, "%s/initrd", dir);
	put_file(initrd, "");
}

#endif
