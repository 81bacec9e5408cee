/* libFuzzer: URL routing and query validation over the real routes table.
 * Input: method \0 path \0 query-name \0 value pairs... */
#include "../../runner/routes.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct q {
	const char *kv[16];
	int n;
};

static const char *get(void *data, const char *name)
{
	struct q *q = data;

	for (int i = 0; i + 1 < q->n; i += 2)
		if (!strcmp(q->kv[i], name))
			return q->kv[i + 1];
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 2), *p, *end;
	const char *method, *path;
	struct q q = { { 0 }, 0 };
	struct route r;

	memcpy(buf, data, size);
	buf[size] = buf[size + 1] = '\0';
	end = buf + size;
	method = buf;
	p = buf + strlen(buf) + 1;
	path = p <= end ? p : "";
	if (p <= end)
		p += strlen(p) + 1;
	while (p <= end && q.n < 16) {
		q.kv[q.n++] = p;
		p += strlen(p) + 1;
	}
	route_parse(routes, nroutes, method, path, get, &q, &r);
	if (r.file && (!r.def || strchr(r.file, '/') || r.file[0] == '.'))
		abort();	/* a static file must never leave the web directory */
	if (!r.def && (r.code < 400 || !r.error))
		abort();
	if (r.def && (r.code || r.def < routes || r.def >= routes + nroutes))
		abort();	/* a route is an entry of the table, never half an error */
	free(buf);
	return 0;
}
