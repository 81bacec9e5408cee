/* SSH to a farm host, over libssh. Invariants:
 * - a host key is accepted only if the known_hosts file has it; an unknown
 *   key is refused (and added only with KSSH_TRUST), a changed key is always
 *   refused; both errors name the host and the key's SHA256 fingerprint;
 * - authentication is by key file or ssh-agent, never by password;
 * - a remote command is an argv: every argument is quoted for the remote
 *   shell, so no argument can inject shell syntax;
 * - uploads land in a content-addressed cache (~/.cache/kfarm-remote/
 *   sha256/HASH) under a temporary name, are checked remotely against the
 *   hash and only then renamed into place: a partial upload is never used;
 *   a file already there is used only if it hashes (remotely) to its name.
 * A session is used by one thread at a time. */
#ifndef KFARM_SSH_H
#define KFARM_SSH_H

#include <stddef.h>

#include "err.h"

struct sb;

struct ssh_target {
	const char *name;		/* the host's name, for messages */
	const char *address;
	unsigned int port;		/* 0: 22 */
	const char *user;		/* NULL: the local user */
	const char *key;		/* private key file; NULL: agent, then ~/.ssh/id_* */
	const char *known_hosts;	/* NULL: ~/.ssh/known_hosts */
	unsigned int timeout;		/* connect timeout, seconds (0: 5) */
};

struct kssh;

#define KSSH_TRUST 1u	/* add an unknown host key to known_hosts */

/* Connects, checks the host key, authenticates. NULL with the reason in err. */
struct kssh *kssh_open(const struct ssh_target *t, unsigned int flags, struct err *err);
void kssh_close(struct kssh *k);
/* "SHA256:..." of the host key seen (valid after kssh_open, even if it
 * failed on the key: see kssh_last_fingerprint). */
const char *kssh_fingerprint(const struct kssh *k);
/* True while the session is connected. */
int kssh_alive(struct kssh *k);

/* Runs argv on the host. Captures stdout/stderr (each bounded, NUL-terminated;
 * either pointer may be NULL). Returns the exit status, or -1 with err set
 * when the command could not be run (session lost). */
int kssh_run(struct kssh *k, const char *const *argv, char **out, char **errout, struct err *err);

/* The remote path of local file (whose hex SHA-256 is sha256) in the host's
 * cache, uploading it first unless already there. 0 or -1 with err set. */
int kssh_upload(struct kssh *k, const char *local, const char *sha256, char **remote,
		struct err *err);
/* The remote user's home directory (absolute; NULL if SFTP fails). */
const char *kssh_home(struct kssh *k);
/* Where the file with this hash is (or goes) in the host's cache; NULL
 * unless kssh_home succeeded before. No I/O. */
char *kssh_cache_path(struct kssh *k, const char *sha256);

/* The known_hosts file kfarm checks: given, else ~/.ssh/known_hosts. */
char *kssh_known_hosts(const char *given);

/* POSIX-shell quoting: one argument, and a whole argv joined by spaces. */
void shell_quote(struct sb *sb, const char *arg);
char *shell_join(const char *const *argv);

#endif
