/* kfarm export's formats: one entry each in exporters[] (export.c), each
 * rendering a run as one document from what the store holds, or NULL with
 * the problem in e (nothing is written then; cmd_export.c says it). */
#ifndef KFARM_EXPORT_H
#define KFARM_EXPORT_H

#include "err.h"

#include <jansson.h>
#include <stddef.h>
#include <time.h>

/* One run as the API gives it: the run, each job in full with its source
 * builds, the run's builds, and the logs directory (for log URLs). */
struct export_input {
	json_t *run, **jobs, **job_builds, *builds;
	size_t n;
	const char *logs;
};

struct exporter {
	const char *name;	/* its option: --NAME FILE */
	const char *help;	/* one line of the usage text */
	char *(*render)(const struct export_input *in, struct err *e);
};

extern const struct exporter *const exporters[];
extern const size_t nexporters;

/* a member as text ("" when absent) or number (0); a time as RFC 3339 */
static inline const char *js(json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));

	return v ? v : "";
}

static inline double jnum(json_t *o, const char *k)
{
	return json_number_value(json_object_get(o, k));
}

static inline void rfc3339(double t, char out[32])
{
	time_t s = (time_t)t;
	struct tm tm;

	gmtime_r(&s, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

#endif
