/* libFuzzer: the arch profile loader on arbitrary JSON. */
#include "../../runner/profile.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct profile p;
	struct err err;

	if (profile_parse((const char *)data, size, NULL, &p, &err) == 0)
		profile_release(&p);
	return 0;
}
