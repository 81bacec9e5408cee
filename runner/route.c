#include "route.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIMIT_DEFAULT 50
#define LIMIT_MAX 1000
#define FILE_MAX 126

int route_fail(struct route *r, int code, const char *msg)
{
	r->def = NULL;
	r->code = code;
	r->error = msg;
	return -1;
}

/* A decimal id 1..2^53 with nothing else; returns 0 if invalid. */
static int64_t parse_id(const char *s, size_t len)
{
	int64_t v = 0;

	if (!len || len > 15 || *s == '0')
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

int route_name(const char *s, size_t max)
{
	size_t n = 0;

	for (; *s; s++, n++)
		if (n >= max || !((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
				  (*s >= '0' && *s <= '9') || strchr("_-.:/", *s)))
			return 0;
	return n > 0;
}

int route_limit(struct route *r, query_get get, void *data)
{
	const char *v = get(data, "limit");
	int64_t n;

	r->limit = LIMIT_DEFAULT;
	if (!v)
		return 0;
	n = parse_id(v, strlen(v));
	if (n < 1 || n > LIMIT_MAX)
		return route_fail(r, 400, "limit must be an integer 1..1000");
	r->limit = (int)n;
	return 0;
}

/* Matches path against pattern; a "{name}" takes one segment (possibly
 * empty), returned in cap and caplen with its name in name and namelen. */
static int match(const char *pat, const char *path, const char **name, size_t *namelen,
		 const char **cap, size_t *caplen)
{
	while (*pat) {
		if (*pat == '{') {
			const char *close = strchr(pat, '}');

			if (!close)
				return 0;
			*name = pat + 1;
			*namelen = close - pat - 1;
			*cap = path;
			*caplen = strcspn(path, "/");
			path += *caplen;
			pat = close + 1;
		} else if (*pat++ != *path++) {
			return 0;
		}
	}
	return !*path;
}

/* Checks the captured segment: a dashboard file name or a positive id. */
static int capture(struct route *r, const char *name, size_t namelen, const char *cap,
		   size_t len)
{
	if (namelen == 4 && !strncmp(name, "file", 4)) {
		if (!len || len > FILE_MAX || cap[0] == '.')
			return route_fail(r, 404, "not found");
		r->file = cap;
		return 0;
	}
	if (!(r->id = parse_id(cap, len))) {
		snprintf(r->msg, sizeof(r->msg), "%.*s id must be a positive integer",
			 (int)(namelen > 16 ? 16 : namelen), name);
		return route_fail(r, 400, r->msg);
	}
	return 0;
}

static int method_ok(const char *want, const char *method)
{
	return !strcmp(want, method) || (!strcmp(want, "GET") && !strcmp(method, "HEAD"));
}

void route_parse(const struct route_def *tab, size_t n, const char *method, const char *path,
		 query_get get, void *data, struct route *r)
{
	const char *name = NULL, *cap = NULL;
	size_t namelen = 0, caplen = 0, i, served = 0;

	memset(r, 0, sizeof(*r));
	for (i = 0; i < n; i++)
		served |= method_ok(tab[i].method, method);
	if (!served)
		return (void)route_fail(r, 405, "method not allowed (the API is read-only)");
	for (i = 0; i < n; i++) {
		name = cap = NULL;
		if (match(tab[i].pattern, path, &name, &namelen, &cap, &caplen))
			break;
	}
	if (i == n) {
		if (!strncmp(path, "/api/", 5) || !strcmp(path, "/api"))
			route_fail(r, 404, "no such route");
		else
			route_fail(r, 404, "not found");
		return;
	}
	if (!method_ok(tab[i].method, method))
		return (void)route_fail(r, 405, "method not allowed (the API is read-only)");
	if (cap && capture(r, name, namelen, cap, caplen))
		return;
	if (tab[i].params && tab[i].params(r, get, data))
		return;
	r->def = &tab[i];
}
