/* Known failures: versioned data files (known/NAME.json, or $KFARM_KNOWN) that
 * say a test's outcome is expected on an arch within a kernel range, with a
 * reason. A change to an expected outcome is reported as "known", never as a
 * regression. */
#ifndef KFARM_KNOWN_H
#define KFARM_KNOWN_H

#include "err.h"

#include <jansson.h>

/* All entries of every file, as one array ([] without the directory). NULL
 * with e set (code 500) when a file or one of its entries is malformed: a
 * known failure left out would be reported as a regression. */
json_t *known_load(struct err *e);
/* The reason if (arch, test, status) is expected for this release, or NULL. */
const char *known_match(json_t *known, const char *arch, const char *test,
			const char *status, const char *release);

#endif
