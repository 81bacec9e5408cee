/* What every backend shares, and the one place a NULL (unsupported) entry
 * of the table is checked (backend.h). The table of backends is in
 * backends.c: the drivers use this file, so it must not know them. */
#include "backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int unsupported(const struct backend *be, const char *what, struct err *err)
{
	err_set(err, 0, "the %s backend cannot %s", be->name, what);
	return -1;
}

int backend_connect(const struct backend *be, const char *url, const char *secret_file,
		    char **arches, struct err *err)
{
	if (!be->connect)
		return unsupported(be, "connect to a service (it needs none)", err);
	return be->connect(url, secret_file, arches, err, 0);
}

int backend_host_connect(const struct backend *be, struct host *h, struct err *err)
{
	if (!be->host_connect)
		return unsupported(be, "run VMs on the hosts of an inventory", err);
	return be->host_connect(h, err, 0);
}

int backend_host_probe(const struct backend *be, struct host *h, struct err *err)
{
	if (!be->host_probe)
		return unsupported(be, "probe a host", err);
	return be->host_probe(h, err, 0);
}

int backend_host_disconnect(const struct backend *be, struct host *h)
{
	return be && be->host_disconnect ? be->host_disconnect(h, 0) : 0;
}

int backend_vm_queued(const struct backend *be, struct vm *vm, double *since)
{
	return be && be->queued ? be->queued(vm, since, 0) : 0;
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
