#include "backend.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct backend *const backends[] = { &backend_qemu, &backend_libvirt, &backend_lava,
						     NULL };

const struct backend *backend_find(const char *name)
{
	for (size_t i = 0; backends[i]; i++)
		if (!strcmp(backends[i]->name, name))
			return backends[i];
	return NULL;
}

void vm_clear(struct vm *vm)
{
	if (vm->console_fd >= 0)
		close(vm->console_fd);
	if (vm->err_fd >= 0)
		close(vm->err_fd);
	free(vm->cmdline);
	free(vm->version);
	free(vm->lava_url);
	memset(vm, 0, sizeof(*vm));
	vm->console_fd = vm->err_fd = vm->exit_fd = -1;
}
