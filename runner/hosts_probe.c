/* Connecting to and probing one host of the inventory (hosts.h): SSH, the
 * arch profiles' QEMU binaries there, then the host's backend through the
 * table. The one part of the hosts module that chooses a backend. */
#include "backend.h"
#include "exe.h"
#include "hosts.h"
#include "profile.h"
#include "ssh.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Fills h->arches[i].path/version on this machine. */
static void probe_local(struct host *h)
{
	for (size_t i = 0; i < h->narches; i++) {
		struct host_arch *a = &h->arches[i];
		a->path = exe_find(a->binary);
		if (a->path)
			a->version = exe_version(a->path);
	}
}

/* The same over SSH: one remote command for every binary. */
static int probe_remote(struct host *h, struct err *err)
{
	static const char script[] =
		"for b in \"$@\"; do p=$(command -v \"$b\" 2>/dev/null) || p=; "
		"v=; if [ -n \"$p\" ] && [ -f \"$p\" ] && [ -x \"$p\" ]; then "
		"v=$(\"$p\" --version </dev/null 2>/dev/null | head -n 1); else p=; fi; "
		"printf '%s\\t%s\\t%s\\n' \"$b\" \"$p\" \"$v\"; done";
	const char **argv = xcalloc(h->narches + 5, sizeof(char *));
	char *out = NULL, *e = NULL, *line, *save = NULL;
	size_t n = 0;
	int st;

	argv[n++] = "sh";
	argv[n++] = "-c";
	argv[n++] = script;
	argv[n++] = "kfarm-probe";
	for (size_t i = 0; i < h->narches; i++)
		argv[n++] = h->arches[i].binary;
	st = kssh_run(h->ssh, argv, &out, &e, err);
	free(argv);
	if (st != 0) {
		if (st > 0)
			err_set(err, 0, "probe failed (exit %d): %s", st, e ? e : "");
		free(out);
		free(e);
		return -1;
	}
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *t1 = strchr(line, '\t'), *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;

		if (!t2)
			continue;
		*t1 = *t2 = '\0';
		for (size_t i = 0; i < h->narches; i++) {
			struct host_arch *a = &h->arches[i];

			if (strcmp(a->binary, line) || a->path || !t1[1])
				continue;
			a->path = xstrdup(t1 + 1);
			a->version = *(t2 + 1) ? xstrdup(t2 + 1) : NULL;
		}
	}
	free(out);
	free(e);
	return 0;
}

/* h->arches: one entry per arch profile, with its QEMU binary's name. */
static void list_arches(struct host *h)
{
	char **arches = profile_list();
	size_t n = 0;

	for (char **a = arches; a && *a; a++)
		n++;
	h->arches = xcalloc(n ? n : 1, sizeof(*h->arches));
	for (char **a = arches; a && *a; a++) {
		struct profile p;

		if (profile_load(*a, &p, NULL))	/* a broken profile: no arch here */
			continue;
		h->arches[h->narches].arch = xstrdup(*a);
		h->arches[h->narches++].binary = xstrdup(p.qemu_binary);
		profile_release(&p);
	}
	strv_free(arches);
}

/* SSH (unless local), then where each binary is and whether it runs. */
static int probe_binaries(struct host *h, unsigned int flags, struct err *err)
{
	if (!h->local && !h->ssh) {
		struct ssh_target t = {
			.name = h->name, .address = h->address, .port = h->port, .user = h->user,
			.key = h->key, .known_hosts = h->known_hosts,
		};

		h->ssh = kssh_open(&t, (flags & HOST_TRUST) ? KSSH_TRUST : 0, err);
		if (!h->ssh)
			return -1;
	}
	if (h->local) {
		probe_local(h);
	} else if (probe_remote(h, err) < 0) {
		return -1;
	} else if (!kssh_home(h->ssh)) {
		err_set(err, 0, "the SFTP subsystem does not work (needed for uploads)");
		return -1;
	}
	for (size_t i = 0; i < h->narches; i++) {
		struct host_arch *a = &h->arches[i];

		if (!a->path)
			a->why = xasprintf("%s not found (or not executable)", a->binary);
		else if (!a->version)
			a->why = xasprintf("%s does not run ('%s --version' failed)", a->binary,
					   a->path);
	}
	return 0;
}

int host_probe_with(struct host *h, const struct backend *be, unsigned int flags)
{
	struct err err;
	int any = 0;

	host_clear_probe(h);
	h->probed = 1;
	if (!be || (h->be && h->be != be)) {
		h->why = xasprintf("no backend for the host (%s)", be ? "already another's" : "none");
		return -1;
	}
	list_arches(h);
	if (probe_binaries(h, flags, &err) < 0) {
		h->why = xasprintf("ssh: %s", err.msg);
		return -1;
	}
	h->be = be;
	if (backend_host_connect(be, h, &err) < 0 ||
	    backend_host_probe(be, h, &err) < 0) {
		h->why = xasprintf("%s: %s", be->name, err.msg);
		return -1;
	}
	for (size_t i = 0; i < h->narches; i++)
		any |= host_arch(h, h->arches[i].arch) != NULL;
	if (!any) {
		h->why = xstrdup("no QEMU for any arch profile is installed");
		return -1;
	}
	h->up = 1;
	return 0;
}

int host_probe(struct host *h, unsigned int flags)
{
	return host_probe_with(h, h->be ? h->be : backend_for_hosts(), flags);
}
