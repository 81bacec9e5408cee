/* The compiled-in backends: adding one is its file plus a line here. */
#include "backend.h"

#include <stddef.h>
#include <string.h>

const struct backend *const backends[] = {
	&backend_qemu,		/* the default: the first entry */
	&backend_libvirt,
	&backend_lava,
	NULL,
};

const struct backend *backend_find(const char *name)
{
	for (size_t i = 0; backends[i]; i++)
		if (!strcmp(backends[i]->name, name))
			return backends[i];
	return NULL;
}

const struct backend *backend_for_hosts(void)
{
	for (size_t i = 0; backends[i]; i++)
		if (backends[i]->flags & BACKEND_HOSTS)
			return backends[i];
	return NULL;
}
