/* libFuzzer: the arch profile loader on arbitrary JSON. */
#include "../../runner/profile.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct profile p;
	char err[256];

	if (profile_parse((const char *)data, size, NULL, &p, err, sizeof(err)) == 0)
		profile_release(&p);
	return 0;
}
