#include "backend.h"

#include <string.h>

static const struct backend *const backends[] = { &backend_qemu, &backend_libvirt, &backend_lava,
						     NULL };

const struct backend *backend_find(const char *name)
{
	for (size_t i = 0; backends[i]; i++)
		if (!strcmp(backends[i]->name, name))
			return backends[i];
	return NULL;
}
