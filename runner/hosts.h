/* The hosts inventory: machines that run kfarm's VMs through libvirt, reached
 * for files and probes over SSH (ssh.h). One JSON file (docs/hosts.example.json):
 *
 *   { "known_hosts": "~/.ssh/known_hosts",
 *     "hosts": [ { "name": "lab-a", "address": "10.0.0.5", "port": 22,
 *                  "user": "kfarm", "key": "~/.ssh/kfarm_ed25519",
 *                  "libvirt": "qemu+libssh://kfarm@10.0.0.5/system", "slots": 4 } ] }
 *
 * A loaded inventory is validated: names unique, no password fields, every
 * host has an address or a local libvirt URI. A host whose "libvirt" is
 * omitted gets qemu+libssh://USER@ADDRESS:PORT/system with the same key and
 * known_hosts file, so libvirt checks the same host key kfarm does; a given
 * remote URI gets that file added (libssh), and one that turns libvirt's
 * host-key check off (known_hosts_verify=ignore|auto, no_verify) or points it
 * at another file is refused. A host is
 * usable once probed: SSH up, its backend's connection up (libvirt, through
 * the backend table: hosts know backends only as struct backend), and which
 * arch profiles' QEMU binaries exist there.
 *
 * hosts.c is the inventory (no backend known by name); hosts_probe.c connects
 * and probes, choosing the backend. */
#ifndef KFARM_HOSTS_H
#define KFARM_HOSTS_H

#include <stddef.h>

#include "err.h"

struct kssh;
struct backend;

struct host_arch {
	char *arch;		/* kfarm arch name */
	char *binary;		/* the profile's qemu binary */
	char *path;		/* absolute path on the host; NULL: not there */
	char *version;		/* first line of BINARY --version */
	char *why;		/* why not usable (NULL: usable) */
};

struct host {
	char *name, *uri, *address, *user, *key;
	unsigned int port, slots;
	int local;		/* no SSH: the libvirt URI is on this machine */
	const char *known_hosts;	/* the inventory's (NULL: ~/.ssh/known_hosts) */

	/* what host_probe found */
	int probed, up;
	char *why;		/* why unusable (NULL: usable) */
	struct host_arch *arches;
	size_t narches;
	char *libvirt_version, *hv_version;
	unsigned int busy;	/* kfarm domains already running there */

	/* live connections during a run */
	struct kssh *ssh;
	const struct backend *be;	/* whose connection conn is (set by host_probe) */
	void *conn;		/* that backend's own connection handle, or NULL */
	int down;		/* dropped out during this run */
};

struct hosts {
	char *known_hosts;
	struct host *v;
	size_t n;
};

/* Loads and validates FILE; -1 with the file and the problem in err. */
int hosts_load(const char *path, struct hosts *hs, struct err *err);
/* Same from memory, errors into err (for tests); base resolves relative key
 * paths (NULL: the current directory). */
int hosts_parse(const char *json, size_t len, const char *base, struct hosts *hs, struct err *err);
/* A one-host inventory for a libvirt URI (kfarm run --libvirt-uri): SSH
 * settings from the URI's user, server, port and keyfile/known_hosts
 * parameters; a local host when the URI names no server. */
int hosts_from_uri(const char *uri, unsigned int slots, struct hosts *hs, struct err *err);
void hosts_release(struct hosts *hs);
struct host *hosts_find(struct hosts *hs, const char *name);

#define HOST_TRUST 1u	/* accept (and record) an unknown SSH host key */

/* Connects to h (SSH unless local, then be's host_connect) and probes it;
 * fills the probe fields. Returns 0 if usable, else -1 with h->why set. The
 * connections stay open for a run (host_disconnect closes them).
 * host_probe: the inventory's backend (backend_for_hosts: libvirt). */
int host_probe_with(struct host *h, const struct backend *be, unsigned int flags);
int host_probe(struct host *h, unsigned int flags);
/* Closes what host_probe opened; h->ssh stays open (leaked) while the
 * backend says a VM of h's still uses it. */
void host_disconnect(struct host *h);
/* Forgets what host_probe found (the connections stay). */
void host_clear_probe(struct host *h);
/* h's QEMU for this arch, or NULL if it cannot run it. */
const struct host_arch *host_arch(const struct host *h, const char *arch);

/* $KFARM_HOSTS, else $XDG_CONFIG_HOME/kfarm/hosts.json (~/.config/...). */
char *hosts_default_path(void);

/* Percent-encodes s for a URI query value. */
char *uri_escape(const char *s);

#endif
