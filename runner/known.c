#include "known.h"
#include "util.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#ifndef KFARM_KNOWN_DIR
#define KFARM_KNOWN_DIR "known"
#endif

json_t *known_load(struct err *e)
{
	const char *dir = getenv("KFARM_KNOWN");
	json_t *all = json_array();
	int bad = 0;
	struct dirent *de;
	DIR *d;

	if (!dir || !*dir)
		dir = KFARM_KNOWN_DIR;
	d = opendir(dir);
	if (!d)
		return all;
	while (!bad && (de = readdir(d))) {
		size_t len = strlen(de->d_name), i;
		json_error_t jerr;
		json_t *v, *o;
		char *path;

		if (len < 6 || de->d_name[0] == '.' || strcmp(de->d_name + len - 5, ".json"))
			continue;
		path = xasprintf("%s/%s", dir, de->d_name);
		v = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
		if (!json_is_array(v))
			bad = err_set(e, 500, "malformed known-failures file '%s': %s", path,
				      v ? "not an array" : jerr.text);
		json_array_foreach(bad ? NULL : v, i, o) {
			if (!json_is_string(json_object_get(o, "arch")) ||
			    !json_is_string(json_object_get(o, "test")) ||
			    !json_is_string(json_object_get(o, "status")) ||
			    !json_is_string(json_object_get(o, "reason"))) {
				bad = err_set(e, 500, "known-failures file '%s' entry %zu: needs "
					      "arch, test, status and reason", path, i + 1);
				break;
			}
			json_array_append(all, o);
		}
		json_decref(v);
		free(path);
	}
	closedir(d);
	if (bad) {
		json_decref(all);
		return NULL;
	}
	return all;
}

static int eq(json_t *o, const char *key, const char *v)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s && (!strcmp(s, "*") || (v && !strcmp(s, v)));
}

const char *known_match(json_t *known, const char *arch, const char *test,
			const char *status, const char *release)
{
	json_t *o;
	size_t i;

	json_array_foreach(known, i, o) {
		const char *min = json_string_value(json_object_get(o, "min"));
		const char *max = json_string_value(json_object_get(o, "max"));

		if (!eq(o, "arch", arch) || !eq(o, "test", test) || !eq(o, "status", status))
			continue;
		/* min/max bound the release, compared numerically ("6.12" > "6.9") */
		if (min && (!release || version_cmp(release, min) < 0))
			continue;
		if (max && (!release || version_cmp(release, max) > 0))
			continue;
		return json_string_value(json_object_get(o, "reason"));
	}
	return NULL;
}
