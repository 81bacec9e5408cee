#include "exe.h"
#include "spawn.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *exe_find(const char *name)
{
	const char *path = getenv("PATH");

	if (strchr(name, '/'))
		return access(name, X_OK) == 0 ? xstrdup(name) : NULL;
	if (!path)
		path = "/usr/bin:/bin";
	while (*path) {
		size_t n = strcspn(path, ":");
		char *cand = xasprintf("%.*s/%s", (int)n, path, name);

		if (n && access(cand, X_OK) == 0)
			return cand;
		free(cand);
		path += n + (path[n] == ':');
	}
	return NULL;
}

char *exe_version(const char *path)
{
	char *argv[] = { (char *)path, "--version", NULL };
	struct sb out;

	sb_init(&out);
	if (spawn_run(argv, NULL, NULL, &out, 4096, NULL) != 0) {
		sb_release(&out);
		return NULL;
	}
	out.buf[strcspn(out.buf, "\n")] = '\0';
	return sb_detach(&out);
}
