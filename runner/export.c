/* kfarm export's formats: one entry each here, each format in its own file
 * (export.h's contract). The command is cmd_export.c. */
#include "export.h"

/* each format's entry, in its own file */
extern const struct exporter export_fmt_junit, export_fmt_kcidb;

const struct exporter *const exporters[] = {
	&export_fmt_junit,
	&export_fmt_kcidb,
};
const size_t nexporters = sizeof(exporters) / sizeof(exporters[0]);
