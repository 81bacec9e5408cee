/* SSH to farm hosts with libssh: strict host keys, key/agent auth, quoted
 * remote commands, content-addressed SFTP uploads (invariants in ssh.h). */
#include "ssh.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <libssh/libssh.h>
#include <libssh/sftp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CACHE_REL ".cache/kfarm-remote/sha256"
#define MAX_CAPTURE (256u << 10)
#define CMD_TIMEOUT_S 120

struct kssh {
	ssh_session s;
	sftp_session sftp;
	char *name;		/* "NAME (ADDR:PORT)" for messages */
	char *fp;
	char *home;
	char *cache;		/* HOME/CACHE_REL, created */
	unsigned long seq;
};

void shell_quote(struct sb *sb, const char *arg)
{
	int plain = *arg != '\0';

	for (const char *s = arg; *s && plain; s++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%",
			    *s))
			plain = 0;
	if (plain) {
		sb_adds(sb, arg);
		return;
	}
	sb_adds(sb, "'");
	for (const char *s = arg; *s; s++) {
		if (*s == '\'')
			sb_adds(sb, "'\\''");
		else
			sb_add(sb, s, 1);
	}
	sb_adds(sb, "'");
}

char *shell_join(const char *const *argv)
{
	struct sb sb;

	sb_init(&sb);
	for (const char *const *a = argv; *a; a++) {
		if (a != argv)
			sb_adds(&sb, " ");
		shell_quote(&sb, *a);
	}
	return sb_detach(&sb);
}

static char *home_path(const char *rel)
{
	const char *home = getenv("HOME");

	return xasprintf("%s/%s", home && *home ? home : "/", rel);
}

char *kssh_known_hosts(const char *given)
{
	return given ? xstrdup(given) : home_path(".ssh/known_hosts");
}

/* The server's key as "TYPE SHA256:..." (type and fingerprint separately). */
static void server_key(ssh_session s, char **type, char **fp)
{
	ssh_key key = NULL;
	unsigned char *hash = NULL;
	size_t hlen = 0;
	char *f;

	*type = xstrdup("unknown");
	*fp = xstrdup("SHA256:?");
	if (ssh_get_server_publickey(s, &key) != SSH_OK)
		return;
	free(*type);
	*type = xstrdup(ssh_key_type_to_char(ssh_key_type(key)));
	if (ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &hlen) == 0) {
		f = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, hlen);
		if (f) {
			free(*fp);
			*fp = xstrdup(f);
			ssh_string_free_char(f);
		}
		ssh_clean_pubkey_hash(&hash);
	}
	ssh_key_free(key);
}

static int check_host_key(struct kssh *k, const struct ssh_target *t, const char *kh,
			  unsigned int flags, struct err *err)
{
	char *type, *fp;
	int ret = -1;

	server_key(k->s, &type, &fp);
	k->fp = xasprintf("%s %s", type, fp);
	switch (ssh_session_is_known_server(k->s)) {
	case SSH_KNOWN_HOSTS_OK:
		ret = 0;
		break;
	case SSH_KNOWN_HOSTS_CHANGED:
		err_set(err, 0,
			"host key of %s has CHANGED: it offers %s %s, not the key recorded in %s; "
			"refusing to connect (possible man-in-the-middle). If the host was "
			"reinstalled, remove the old entry (ssh-keygen -R '[%s]:%u' -f %s) and "
			"run 'kfarm hosts --trust %s'", k->name, type, fp, kh, t->address,
			t->port ? t->port : 22, kh, t->name);
		break;
	case SSH_KNOWN_HOSTS_OTHER:
		err_set(err, 0,
			"host key of %s has CHANGED type: it offers %s %s, but %s holds a key of "
			"another type for it; refusing to connect", k->name, type, fp, kh);
		break;
	case SSH_KNOWN_HOSTS_UNKNOWN:
	case SSH_KNOWN_HOSTS_NOT_FOUND:
		if (flags & KSSH_TRUST) {
			char *copy = xstrdup(kh);

			mkdir_p(dirname(copy), 0700);
			free(copy);
			if (ssh_session_update_known_hosts(k->s) != SSH_OK) {
				err_set(err, 0, "cannot add the host key of %s to %s: %s",
					k->name, kh, ssh_get_error(k->s));
				break;
			}
			fprintf(stderr, "kfarm: trusted host key of %s: %s %s (added to %s)\n",
				k->name, type, fp, kh);
			ret = 0;
			break;
		}
		err_set(err, 0,
			"host key of %s is unknown: %s %s is not in %s; refusing to connect. "
			"Check the fingerprint on the host (ssh-keygen -lf on its host key), "
			"then run 'kfarm hosts --trust %s'", k->name, type, fp, kh, t->name);
		break;
	default:
		err_set(err, 0, "cannot check the host key of %s against %s: %s", k->name,
			kh, ssh_get_error(k->s));
		break;
	}
	free(type);
	free(fp);
	return ret;
}

static int authenticate(struct kssh *k, const struct ssh_target *t, struct err *err)
{
	const char *user = t->user ? t->user : (getenv("USER") ? getenv("USER") : "root");
	int rc;

	if (t->key) {
		ssh_key pk = NULL;

		if (access(t->key, R_OK) < 0) {
			err_set(err, 0, "cannot read SSH key '%s' for %s: %s", t->key,
				k->name, strerror(errno));
			return -1;
		}
		if (ssh_pki_import_privkey_file(t->key, NULL, NULL, NULL, &pk) != SSH_OK) {
			err_set(err, 0,
				"cannot load SSH key '%s' for %s (a passphrase-protected key "
				"must be loaded into ssh-agent instead)", t->key, k->name);
			return -1;
		}
		rc = ssh_userauth_publickey(k->s, NULL, pk);
		ssh_key_free(pk);
		if (rc == SSH_AUTH_SUCCESS)
			return 0;
		err_set(err, 0, "%s refused key '%s' for user '%s'%s%s", k->name, t->key,
			user, rc == SSH_AUTH_ERROR ? ": " : "",
			rc == SSH_AUTH_ERROR ? ssh_get_error(k->s) : "");
		return -1;
	}
	if (getenv("SSH_AUTH_SOCK") && ssh_userauth_agent(k->s, NULL) == SSH_AUTH_SUCCESS)
		return 0;
	if (ssh_userauth_publickey_auto(k->s, NULL, NULL) == SSH_AUTH_SUCCESS)
		return 0;
	err_set(err, 0,
		"%s accepted no key for user '%s' (tried ssh-agent and ~/.ssh/id_*; set "
		"\"key\" in the hosts file)", k->name, user);
	return -1;
}

struct kssh *kssh_open(const struct ssh_target *t, unsigned int flags, struct err *err)
{
	struct kssh *k = xcalloc(1, sizeof(*k));
	int port = t->port ? (int)t->port : 22, verbosity = SSH_LOG_NOLOG;
	long timeout = t->timeout ? t->timeout : 5;
	bool no = false;
	char *kh = kssh_known_hosts(t->known_hosts);

	k->name = xasprintf("host '%s' (%s:%d)", t->name, t->address, port);
	k->s = ssh_new();
	if (!k->s)
		die("out of memory");
	ssh_options_set(k->s, SSH_OPTIONS_LOG_VERBOSITY, &verbosity);
	ssh_options_set(k->s, SSH_OPTIONS_PROCESS_CONFIG, &no);
	if (ssh_options_set(k->s, SSH_OPTIONS_HOST, t->address) < 0 ||
	    ssh_options_set(k->s, SSH_OPTIONS_PORT, &port) < 0 ||
	    (t->user && ssh_options_set(k->s, SSH_OPTIONS_USER, t->user) < 0) ||
	    ssh_options_set(k->s, SSH_OPTIONS_KNOWNHOSTS, kh) < 0 ||
	    ssh_options_set(k->s, SSH_OPTIONS_GLOBAL_KNOWNHOSTS, kh) < 0 ||
	    ssh_options_set(k->s, SSH_OPTIONS_TIMEOUT, &timeout) < 0) {
		err_set(err, 0, "bad SSH settings for %s: %s", k->name, ssh_get_error(k->s));
		goto fail;
	}
	double t0 = now_mono();
	if (ssh_connect(k->s) != SSH_OK) {
		if (now_mono() - t0 >= timeout - 0.5)
			err_set(err, 0, "cannot connect to %s: no answer within %lds (%s)",
				k->name, timeout, ssh_get_error(k->s));
		else
			err_set(err, 0, "cannot connect to %s: %s", k->name,
				ssh_get_error(k->s));
		goto fail;
	}
	if (check_host_key(k, t, kh, flags, err) < 0)
		goto fail;
	if (authenticate(k, t, err) < 0)
		goto fail;
	free(kh);
	return k;
fail:
	free(kh);
	kssh_close(k);
	return NULL;
}

void kssh_close(struct kssh *k)
{
	if (!k)
		return;
	if (k->sftp)
		sftp_free(k->sftp);
	if (k->s) {
		if (ssh_is_connected(k->s))
			ssh_disconnect(k->s);
		ssh_free(k->s);
	}
	free(k->name);
	free(k->fp);
	free(k->home);
	free(k->cache);
	free(k);
}

const char *kssh_fingerprint(const struct kssh *k)
{
	return k->fp;
}

int kssh_alive(struct kssh *k)
{
	return k && k->s && ssh_is_connected(k->s);
}

static void capture(struct sb *sb, const char *buf, int n)
{
	if (n > 0 && sb->len < MAX_CAPTURE)
		sb_add(sb, buf, sb->len + n > MAX_CAPTURE ? MAX_CAPTURE - sb->len : (size_t)n);
}

int kssh_run(struct kssh *k, const char *const *argv, char **out, char **errout, struct err *err)
{
	char *cmd = shell_join(argv), buf[16384];
	ssh_channel ch = ssh_channel_new(k->s);
	struct sb so, se;
	double deadline = now_mono() + CMD_TIMEOUT_S;
	int status = -1, n;

	sb_init(&so);
	sb_init(&se);
	if (!ch || ssh_channel_open_session(ch) != SSH_OK ||
	    ssh_channel_request_exec(ch, cmd) != SSH_OK) {
		err_set(err, 0, "cannot run '%s' on %s: %s", argv[0], k->name,
			ssh_get_error(k->s));
		goto out;
	}
	while (!ssh_channel_is_eof(ch)) {
		n = ssh_channel_read_timeout(ch, buf, sizeof(buf), 0, 200);
		if (n == SSH_ERROR)
			break;
		capture(&so, buf, n);
		while ((n = ssh_channel_read_nonblocking(ch, buf, sizeof(buf), 1)) > 0)
			capture(&se, buf, n);
		if (n == SSH_ERROR)
			break;
		if (now_mono() > deadline) {
			err_set(err, 0, "'%s' on %s: no end after %ds", argv[0], k->name,
				CMD_TIMEOUT_S);
			goto out;
		}
	}
	if (!ssh_channel_is_eof(ch)) {
		err_set(err, 0, "connection to %s lost while running '%s': %s", k->name,
			argv[0], ssh_get_error(k->s));
		goto out;
	}
	while ((n = ssh_channel_read_nonblocking(ch, buf, sizeof(buf), 1)) > 0)
		capture(&se, buf, n);
	status = ssh_channel_get_exit_status(ch);
	if (status < 0)
		err_set(err, 0, "'%s' on %s ended without an exit status", argv[0],
			k->name);
out:
	if (ch) {
		ssh_channel_close(ch);
		ssh_channel_free(ch);
	}
	free(cmd);
	if (out)
		*out = sb_detach(&so);
	else
		sb_release(&so);
	if (errout)
		*errout = sb_detach(&se);
	else
		sb_release(&se);
	return status;
}

static int sftp_ready(struct kssh *k, struct err *err)
{
	char *home;

	if (k->sftp)
		return 0;
	k->sftp = sftp_new(k->s);
	if (!k->sftp || sftp_init(k->sftp) != SSH_OK) {
		err_set(err, 0, "cannot start SFTP on %s: %s", k->name, ssh_get_error(k->s));
		if (k->sftp)
			sftp_free(k->sftp);
		k->sftp = NULL;
		return -1;
	}
	home = sftp_canonicalize_path(k->sftp, ".");
	if (!home) {
		err_set(err, 0, "cannot find the home directory on %s: %s", k->name,
			ssh_get_error(k->s));
		return -1;
	}
	k->home = xstrdup(home);
	ssh_string_free_char(home);
	return 0;
}

const char *kssh_home(struct kssh *k)
{
	if (sftp_ready(k, NULL) < 0)
		return NULL;
	return k->home;
}

char *kssh_cache_path(struct kssh *k, const char *sha256)
{
	return k->home ? xasprintf("%s/%s/%s", k->home, CACHE_REL, sha256) : NULL;
}

/* Creates the cache directory once per session; drops temporary files left
 * by uploads that were cut off more than an hour ago. */
static int cache_ready(struct kssh *k, struct err *err)
{
	char *dir, *e = NULL;
	int st;

	if (k->cache)
		return 0;
	if (sftp_ready(k, err) < 0)
		return -1;
	dir = xasprintf("%s/%s", k->home, CACHE_REL);
	const char *mk[] = { "mkdir", "-p", "--", dir, NULL };
	st = kssh_run(k, mk, NULL, &e, err);
	if (st != 0) {
		if (st > 0)
			err_set(err, 0, "cannot create '%s' on %s: %s", dir, k->name,
				e && *e ? e : "mkdir failed");
		free(e);
		free(dir);
		return -1;
	}
	free(e);
	const char *clean[] = { "find", dir, "-maxdepth", "1", "-name", "*.part-*", "-mmin", "+60",
				"-delete", NULL };
	kssh_run(k, clean, NULL, NULL, err);
	k->cache = dir;
	return 0;
}

/* 1 if the remote file hashes to sha256, 0 if not, -1 with err set when
 * the check could not run. */
static int remote_hash_is(struct kssh *k, const char *path, const char *sha256, struct err *err)
{
	static const char check[] =
		"h=$(sha256sum < \"$1\") || exit 3; [ \"${h%% *}\" = \"$2\" ] && exit 0; "
		"echo \"cached file does not match its name (got ${h%% *})\" >&2; exit 1";
	const char *argv[] = { "sh", "-c", check, "kfarm-cached", path, sha256, NULL };
	char *e = NULL;
	int rc = kssh_run(k, argv, NULL, &e, err);

	if (rc > 1)
		err_set(err, 0, "cannot check '%s' on %s: %s", path, k->name,
			e && *e ? e : "sha256sum failed");
	free(e);
	return rc == 0 ? 1 : rc == 1 ? 0 : -1;
}

/* Whether the cache already holds a good copy at final (same size, and it
 * hashes there to its name): 1 yes, 0 no (upload it), -1 with err. */
static int cached(struct kssh *k, const char *final, off_t size, const char *sha256,
		  struct err *err)
{
	sftp_attributes a = sftp_stat(k->sftp, final);
	int same;

	if (!a) {
		if (sftp_get_error(k->sftp) == SSH_FX_NO_SUCH_FILE)
			return 0;
		err_set(err, 0, "cannot look for '%s' on %s: %s", final, k->name,
			ssh_is_connected(k->s) ? "SFTP error" : ssh_get_error(k->s));
		return -1;
	}
	same = a->type == SSH_FILEXFER_TYPE_REGULAR && a->size == (uint64_t)size;
	sftp_attributes_free(a);
	/* the same size is not the same bytes: a cached file is used only if it
	 * hashes to its name; otherwise it is uploaded again */
	return same ? remote_hash_is(k, final, sha256, err) : 0;
}

/* fd's bytes into the new remote file tmp. 0 or -1 with err. */
static int send_file(struct kssh *k, int fd, const char *local, const char *tmp, struct err *err)
{
	sftp_file f = sftp_open(k->sftp, tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	char buf[65536];

	if (!f) {
		err_set(err, 0, "cannot create '%s' on %s: %s", tmp, k->name,
			ssh_get_error(k->s));
		return -1;
	}
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf)), off = 0;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err_set(err, 0, "cannot read '%s': %s", local, strerror(errno));
			sftp_close(f);
			return -1;
		}
		if (n == 0)
			break;
		while (off < n) {
			ssize_t w = sftp_write(f, buf + off, n - off);

			if (w <= 0) {
				err_set(err, 0, "upload of '%s' to %s cut off: %s", local,
					k->name, ssh_get_error(k->s));
				sftp_close(f);
				return -1;
			}
			off += w;
		}
	}
	if (sftp_close(f) != SSH_NO_ERROR) {
		err_set(err, 0, "upload of '%s' to %s cut off at close: %s", local, k->name,
			ssh_get_error(k->s));
		return -1;
	}
	return 0;
}

/* Checked on the host, then renamed: the cache name only ever holds a
 * complete file with the right contents. 0 or -1 with err. */
static int place(struct kssh *k, const char *local, const char *tmp, const char *sha256,
		 const char *final, struct err *err)
{
	static const char verify[] =
		"h=$(sha256sum < \"$1\") || exit 3; h=${h%% *}; "
		"if [ \"$h\" != \"$2\" ]; then rm -f -- \"$1\"; "
		"echo \"checksum mismatch after upload (got $h)\" >&2; exit 3; fi; "
		"chmod 0644 -- \"$1\" && mv -f -- \"$1\" \"$3\"";
	const char *argv[] = { "sh", "-c", verify, "kfarm-upload", tmp, sha256, final, NULL };
	char *e = NULL;
	int rc = kssh_run(k, argv, NULL, &e, err);

	if (rc > 0)
		err_set(err, 0, "upload of '%s' to %s rejected: %s", local, k->name,
			e && *e ? e : "verification failed");
	free(e);
	return rc == 0 ? 0 : -1;
}

int kssh_upload(struct kssh *k, const char *local, const char *sha256, char **remote,
		struct err *err)
{
	char *final = NULL, *tmp = NULL, host[64] = "local";
	struct stat st;
	int fd = -1, have;

	if (cache_ready(k, err) < 0)
		return -1;
	final = xasprintf("%s/%s", k->cache, sha256);
	fd = open(local, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		err_set(err, 0, "cannot read '%s': %s", local, strerror(errno));
		goto fail;
	}
	have = cached(k, final, st.st_size, sha256, err);
	if (have < 0)
		goto fail;
	if (!have) {
		gethostname(host, sizeof(host) - 1);
		host[strcspn(host, "/ ")] = '\0';
		tmp = xasprintf("%s.part-%s-%d-%lu", final, host, (int)getpid(), ++k->seq);
		if (send_file(k, fd, local, tmp, err) < 0 ||
		    place(k, local, tmp, sha256, final, err) < 0)
			goto fail;
	}
	free(tmp);
	close(fd);
	*remote = final;
	return 0;
fail:
	if (tmp && k->sftp && ssh_is_connected(k->s))
		sftp_unlink(k->sftp, tmp);
	if (fd >= 0)
		close(fd);
	free(tmp);
	free(final);
	return -1;
}
