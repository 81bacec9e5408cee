/* libFuzzer: the hosts inventory loader on arbitrary JSON. */
#include "../../runner/hosts.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hosts hs;
	struct err err;

	if (hosts_parse((const char *)data, size, "/nonexistent", &hs, &err) == 0)
		hosts_release(&hs);
	return 0;
}
