/* The hosts inventory and host probes (format and invariants in hosts.h). */
#include "hosts.h"
#include "profile.h"
#include "ssh.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_HOSTS_FILE (1u << 20)

static void host_clear_probe(struct host *h)
{
	for (size_t i = 0; i < h->narches; i++) {
		free(h->arches[i].arch);
		free(h->arches[i].binary);
		free(h->arches[i].path);
		free(h->arches[i].version);
		free(h->arches[i].why);
	}
	free(h->arches);
	h->arches = NULL;
	h->narches = 0;
	free(h->why);
	free(h->libvirt_version);
	free(h->hv_version);
	h->why = h->libvirt_version = h->hv_version = NULL;
	h->probed = h->up = 0;
	h->busy = 0;
}

void hosts_release(struct hosts *hs)
{
	for (size_t i = 0; i < hs->n; i++) {
		struct host *h = &hs->v[i];

		host_disconnect(h);
		host_clear_probe(h);
		free(h->name);
		free(h->uri);
		free(h->address);
		free(h->user);
		free(h->key);
	}
	free(hs->v);
	free(hs->known_hosts);
	memset(hs, 0, sizeof(*hs));
}

struct host *hosts_find(struct hosts *hs, const char *name)
{
	for (size_t i = 0; i < hs->n; i++)
		if (!strcmp(hs->v[i].name, name))
			return &hs->v[i];
	return NULL;
}

char *uri_escape(const char *s)
{
	struct sb sb;

	sb_init(&sb);
	for (; *s; s++) {
		unsigned char c = *s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    strchr("-._~/", c))
			sb_add(&sb, s, 1);
		else
			sb_addf(&sb, "%%%02X", c);
	}
	return sb_detach(&sb);
}

static char *uri_unescape(const char *s, size_t n)
{
	struct sb sb;

	sb_init(&sb);
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%' && i + 2 < n && isxdigit((unsigned char)s[i + 1]) &&
		    isxdigit((unsigned char)s[i + 2])) {
			char hex[3] = { s[i + 1], s[i + 2], 0 }, ch = (char)strtol(hex, NULL, 16);

			sb_add(&sb, &ch, 1);
			i += 2;
		} else {
			sb_add(&sb, s + i, 1);
		}
	}
	return sb_detach(&sb);
}

/* "~/x" -> $HOME/x; relative -> base/x; absolute unchanged. */
static char *expand_path(const char *p, const char *base)
{
	const char *home = getenv("HOME");

	if (p[0] == '~' && p[1] == '/')
		return xasprintf("%s/%s", home && *home ? home : "", p + 2);
	if (p[0] != '/' && base)
		return xasprintf("%s/%s", base, p);
	return xstrdup(p);
}

static int valid_name(const char *s)
{
	if (!*s || strlen(s) > 64)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '-' || *s == '.'))
			return 0;
	return 1;
}

/* The server part of a libvirt URI ("" when it names none: local). */
static int uri_split(const char *uri, char **user, char **server, unsigned int *port,
		     char **path, char **query)
{
	const char *p = strstr(uri, "://"), *auth, *end, *at, *colon;

	*user = *server = *path = *query = NULL;
	*port = 0;
	if (!p || p == uri)
		return -1;
	auth = p + 3;
	end = auth + strcspn(auth, "/?");
	at = memchr(auth, '@', end - auth);
	if (at) {
		*user = uri_unescape(auth, at - auth);
		auth = at + 1;
	}
	if (*auth == '[') {
		const char *rb = memchr(auth, ']', end - auth);

		if (!rb)
			return -1;
		*server = xstrndup(auth + 1, rb - auth - 1);
		colon = rb + 1 < end && rb[1] == ':' ? rb + 1 : NULL;
	} else {
		colon = memchr(auth, ':', end - auth);
		*server = xstrndup(auth, (colon ? colon : end) - auth);
	}
	if (colon) {
		unsigned long v;
		char *ps = xstrndup(colon + 1, end - colon - 1);
		int bad = parse_uint(ps, 65535, &v) || !v;

		free(ps);
		if (bad)
			return -1;
		*port = v;
	}
	*path = xstrndup(end, strcspn(end, "?"));
	end += strcspn(end, "?");
	*query = xstrdup(*end == '?' ? end + 1 : "");
	return 0;
}

static char *query_get(const char *q, const char *key)
{
	size_t kl = strlen(key);

	while (*q) {
		size_t n = strcspn(q, "&");

		if (n > kl && !strncmp(q, key, kl) && q[kl] == '=')
			return uri_unescape(q + kl + 1, n - kl - 1);
		q += n + (q[n] == '&');
	}
	return NULL;
}

/* The transport of a libvirt URI: "libssh" in qemu+libssh://, "" for none. */
static char *uri_transport(const char *uri)
{
	const char *sep = strstr(uri, "://"), *plus = memchr(uri, '+', sep - uri);

	return plus ? xstrndup(plus + 1, sep - plus - 1) : xstrdup("");
}

/* Refuses a remote URI that would let libvirt accept a host key kfarm did
 * not check, and makes a libssh(2) URI check the known_hosts file kfarm
 * checks (kh, NULL: the default): added when missing, refused when other. */
static int uri_pin_host_keys(char **uri, const char *kh, char *err, size_t errlen)
{
	char *user, *server, *path, *query, *tr = NULL, *mine = kssh_known_hosts(kh);
	char *theirs = NULL;
	unsigned int port;
	int ret = -1, nkh = 0;

	if (uri_split(*uri, &user, &server, &port, &path, &query) < 0) {
		snprintf(err, errlen, "not a URI: '%s'", *uri);
		goto out;
	}
	tr = uri_transport(*uri);
	if (!*server) {
		ret = 0;	/* local: no SSH */
		goto out;
	}
	for (const char *q = query; *q;) {
		size_t n = strcspn(q, "&"), kl = strcspn(q, "=");
		char *k = uri_unescape(q, kl < n ? kl : n);
		char *v = kl < n ? uri_unescape(q + kl + 1, n - kl - 1) : xstrdup("");
		int refuse = 0;

		/* libvirt reads parameter names without regard to case */
		if (!strcasecmp(k, "known_hosts_verify"))
			refuse = strcasecmp(v, "normal") != 0;
		else if (!strcasecmp(k, "no_verify"))
			refuse = strcmp(v, "0") != 0;
		else if (!strcasecmp(k, "known_hosts") && !nkh++)
			theirs = xstrdup(v);
		else if (!strcasecmp(k, "known_hosts"))
			refuse = 1;
		if (refuse)
			snprintf(err, errlen,
				 "libvirt URI '%s': \"%s=%s\" would let libvirt accept host keys "
				 "kfarm has not checked; refusing (remove it; 'kfarm hosts --trust "
				 "NAME' records a new key)", *uri, k, v);
		free(k);
		free(v);
		if (refuse)
			goto out;
		q += n + (q[n] == '&');
	}
	if (!strcmp(tr, "libssh") || !strcmp(tr, "libssh2")) {
		if (theirs && strcmp(theirs, mine)) {
			snprintf(err, errlen,
				 "libvirt URI '%s' checks host keys against '%s', but kfarm checks "
				 "'%s': use the same file", *uri, theirs, mine);
		} else {
			if (!theirs) {
				char *e = uri_escape(mine), *u;

				u = xasprintf("%s%sknown_hosts=%s", *uri,
					      strchr(*uri, '?') ? (*query ? "&" : "") : "?", e);
				free(e);
				free(*uri);
				*uri = u;
			}
			ret = 0;
		}
	} else if (!strcmp(tr, "ssh") || !strcmp(tr, "ext")) {
		char *def = kssh_known_hosts(NULL);

		/* the ssh program reads ~/.ssh/known_hosts (and ~/.ssh/config);
		 * libvirt cannot point it at another file */
		if (theirs || strcmp(mine, def))
			snprintf(err, errlen,
				 "libvirt URI '%s': the %s transport cannot be told to check host "
				 "keys against '%s' as kfarm does; use qemu+libssh://", *uri, tr,
				 mine);
		else
			ret = 0;
		free(def);
	} else {
		ret = 0;	/* tls, tcp, unix: no SSH host key */
	}
out:
	free(user), free(server), free(path), free(query);
	free(tr);
	free(mine);
	free(theirs);
	return ret;
}

static char *derive_uri(const struct host *h, const char *known_hosts)
{
	struct sb sb;
	char *e, *kh;
	int v6 = strchr(h->address, ':') != NULL;

	sb_init(&sb);
	sb_adds(&sb, "qemu+libssh://");
	if (h->user) {
		e = uri_escape(h->user);
		sb_addf(&sb, "%s@", e);
		free(e);
	}
	sb_addf(&sb, v6 ? "[%s]" : "%s", h->address);
	if (h->port != 22)
		sb_addf(&sb, ":%u", h->port);
	sb_adds(&sb, "/system?");
	if (h->key) {
		e = uri_escape(h->key);
		sb_addf(&sb, "keyfile=%s&sshauth=privkey", e);
		free(e);
	} else {
		sb_adds(&sb, "sshauth=agent");	/* libvirt needs a keyfile for privkey */
	}
	/* the file kfarm checks, also when it is the default: libvirt's own
	 * default is another one ($XDG_CONFIG_HOME/libvirt/known_hosts) */
	kh = kssh_known_hosts(known_hosts);
	e = uri_escape(kh);
	sb_addf(&sb, "&known_hosts=%s", e);
	free(e);
	free(kh);
	return sb_detach(&sb);
}

static int bad(char *err, size_t errlen, const char *fmt, const char *a, const char *b)
{
	snprintf(err, errlen, fmt, a, b);
	return -1;
}

static int get_opt_str(json_t *o, const char *key, const char *host, char **out, char *err,
		       size_t errlen)
{
	json_t *v = json_object_get(o, key);

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v) || !*json_string_value(v))
		return bad(err, errlen, "host '%s': \"%s\" must be a non-empty string", host, key);
	*out = xstrdup(json_string_value(v));
	return 0;
}

static int get_uint(json_t *o, const char *key, const char *host, unsigned int def,
		    unsigned int max, unsigned int *out, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, key);

	*out = def;
	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > max) {
		snprintf(err, errlen, "host '%s': \"%s\" must be an integer 1..%u", host, key, max);
		return -1;
	}
	*out = json_integer_value(v);
	return 0;
}

static int parse_host(json_t *o, struct host *h, const char *base, const char *kh, char *err,
		      size_t errlen)
{
	static const char *const known[] = { "name", "address", "port", "user", "key",
					     "libvirt", "slots", NULL };
	const char *name, *k;
	char *key = NULL;
	json_t *v;

	if (!json_is_object(o))
		return bad(err, errlen, "every entry of \"hosts\" must be an object%s%s", "", "");
	v = json_object_get(o, "name");
	if (!json_is_string(v) || !valid_name(json_string_value(v)))
		return bad(err, errlen, "every host needs a \"name\" (letters, digits, . _ -)%s%s",
			   "", "");
	name = json_string_value(v);
	h->name = xstrdup(name);
	json_object_foreach(o, k, v) {
		int ok = 0;

		if (strcasestr(k, "pass"))
			return bad(err, errlen,
				   "host '%s': \"%s\": passwords are not accepted in the hosts "
				   "file; use a key file (\"key\") or ssh-agent", name, k);
		for (const char *const *kn = known; *kn; kn++)
			ok |= !strcmp(*kn, k);
		if (!ok)
			return bad(err, errlen, "host '%s': unknown field \"%s\"", name, k);
	}
	if (get_opt_str(o, "address", name, &h->address, err, errlen) ||
	    get_opt_str(o, "user", name, &h->user, err, errlen) ||
	    get_opt_str(o, "key", name, &key, err, errlen) ||
	    get_opt_str(o, "libvirt", name, &h->uri, err, errlen) ||
	    get_uint(o, "port", name, 22, 65535, &h->port, err, errlen) ||
	    get_uint(o, "slots", name, 1, 256, &h->slots, err, errlen)) {
		free(key);
		return -1;
	}
	if (key) {
		h->key = expand_path(key, base);
		free(key);
	}
	h->known_hosts = kh;
	if (h->uri) {
		char *user, *server, *path, *query;
		unsigned int port;
		int r = uri_split(h->uri, &user, &server, &port, &path, &query);

		h->local = r == 0 && !*server;
		free(user), free(server), free(path), free(query);
		if (r < 0)
			return bad(err, errlen, "host '%s': \"libvirt\": not a URI: '%s'", name,
				   h->uri);
	}
	if (!h->address && !h->local)
		return bad(err, errlen,
			   "host '%s': needs an \"address\" (SSH) unless its \"libvirt\" URI is "
			   "local%s", name, "");
	if (h->local && h->address)
		return bad(err, errlen,
			   "host '%s': a local libvirt URI and an SSH \"address\" together: the "
			   "VMs would not run where the files are uploaded%s", name, "");
	if (!h->uri)
		h->uri = derive_uri(h, kh);
	else {
		char why[768];

		if (uri_pin_host_keys(&h->uri, kh, why, sizeof(why)))
			return bad(err, errlen, "host '%s': %s", name, why);
	}
	return 0;
}

int hosts_parse(const char *json, size_t len, const char *base, struct hosts *hs, char *err,
		size_t errlen)
{
	json_error_t jerr;
	json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr), *arr, *v, *o;
	const char *k;
	size_t i;
	int ret = -1;

	memset(hs, 0, sizeof(*hs));
	if (!root) {
		snprintf(err, errlen, "line %d: %s", jerr.line, jerr.text);
		return -1;
	}
	if (!json_is_object(root)) {
		snprintf(err, errlen, "not a JSON object");
		goto out;
	}
	json_object_foreach(root, k, v) {
		if (strcmp(k, "hosts") && strcmp(k, "known_hosts")) {
			snprintf(err, errlen, "unknown field \"%s\"", k);
			goto out;
		}
	}
	v = json_object_get(root, "known_hosts");
	if (v) {
		if (!json_is_string(v) || !*json_string_value(v)) {
			snprintf(err, errlen, "\"known_hosts\" must be a path");
			goto out;
		}
		hs->known_hosts = expand_path(json_string_value(v), base);
	}
	arr = json_object_get(root, "hosts");
	if (!json_is_array(arr) || !json_array_size(arr)) {
		snprintf(err, errlen, "\"hosts\" must be a non-empty array");
		goto out;
	}
	hs->v = xcalloc(json_array_size(arr), sizeof(*hs->v));
	json_array_foreach(arr, i, o) {
		hs->n = i + 1;
		if (parse_host(o, &hs->v[i], base, hs->known_hosts, err, errlen))
			goto out;
		for (size_t p = 0; p < i; p++)
			if (!strcmp(hs->v[p].name, hs->v[i].name)) {
				snprintf(err, errlen, "host '%s' is listed twice", hs->v[i].name);
				goto out;
			}
	}
	ret = 0;
out:
	json_decref(root);
	if (ret)
		hosts_release(hs);
	return ret;
}

int hosts_load(const char *path, struct hosts *hs)
{
	char *data, err[512], *copy, *base;
	size_t len;
	int r;

	if (read_file(path, MAX_HOSTS_FILE, &data, &len) < 0)
		return error_errno("cannot read hosts file '%s'", path);
	copy = xstrdup(path);
	base = dirname(copy);
	r = hosts_parse(data, len, base, hs, err, sizeof(err));
	free(copy);
	free(data);
	if (r)
		return error("hosts file '%s': %s", path, err);
	return 0;
}

int hosts_from_uri(const char *uri, unsigned int slots, struct hosts *hs, char *err,
		   size_t errlen)
{
	char *user, *server, *path, *query;
	unsigned int port;
	struct host *h;

	memset(hs, 0, sizeof(*hs));
	if (uri_split(uri, &user, &server, &port, &path, &query) < 0) {
		free(user), free(server), free(path), free(query);
		snprintf(err, errlen, "not a libvirt URI: '%s'", uri);
		return -1;
	}
	hs->v = h = xcalloc(1, sizeof(*h));
	hs->n = 1;
	h->uri = xstrdup(uri);
	h->slots = slots ? slots : 1;
	h->local = !*server;
	if (h->local) {
		h->name = xstrdup("local");
	} else {
		h->name = xstrdup(server);
		h->address = server;
		server = NULL;
		h->user = user;
		user = NULL;
		h->port = port ? port : 22;
		h->key = query_get(query, "keyfile");
		hs->known_hosts = query_get(query, "known_hosts");
		h->known_hosts = hs->known_hosts;
	}
	free(user), free(server), free(path), free(query);
	if (uri_pin_host_keys(&h->uri, h->known_hosts, err, errlen)) {
		hosts_release(hs);
		return -1;
	}
	return 0;
}

const struct host_arch *host_arch(const struct host *h, const char *arch)
{
	for (size_t i = 0; i < h->narches; i++)
		if (!strcmp(h->arches[i].arch, arch))
			return h->arches[i].path && !h->arches[i].why ? &h->arches[i] : NULL;
	return NULL;
}

void host_disconnect(struct host *h)
{
	if (!libvirt_disconnect(h))
		kssh_close(h->ssh);	/* else a stuck VM thread may still use it */
	h->ssh = NULL;
}

/* Runs argv here (no shell) and returns its stdout (bounded), or NULL. */
static char *run_local(char *const argv[])
{
	int fds[2];
	pid_t pid;
	struct sb sb;
	char buf[4096];
	ssize_t n;
	int status;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return NULL;
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return NULL;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);

		dup2(null, 0);
		dup2(fds[1], 1);
		dup2(null, 2);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(fds[1]);
	sb_init(&sb);
	while ((n = read(fds[0], buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		if (sb.len < 65536)
			sb_add(&sb, buf, n);
	}
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		sb_release(&sb);
		return NULL;
	}
	return sb_detach(&sb);
}

static char *find_in_path(const char *name)
{
	const char *path = getenv("PATH");

	if (strchr(name, '/'))
		return access(name, X_OK) == 0 ? xstrdup(name) : NULL;
	if (!path)
		path = "/usr/bin:/bin";
	while (*path) {
		size_t n = strcspn(path, ":");
		char *cand = xasprintf("%.*s/%s", (int)n, path, name);

		if (n && access(cand, X_OK) == 0)
			return cand;
		free(cand);
		path += n + (path[n] == ':');
	}
	return NULL;
}

/* Fills h->arches[i].path/version on this machine. */
static void probe_local(struct host *h)
{
	for (size_t i = 0; i < h->narches; i++) {
		struct host_arch *a = &h->arches[i];
		char *p = find_in_path(a->binary), *out;

		if (!p)
			continue;
		char *argv[] = { p, "--version", NULL };
		out = run_local(argv);
		a->path = p;
		if (out) {
			out[strcspn(out, "\n")] = '\0';
			a->version = out;
		}
	}
}

/* The same over SSH: one remote command for every binary. */
static int probe_remote(struct host *h, char *err, size_t errlen)
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
	st = kssh_run(h->ssh, argv, &out, &e, err, errlen);
	free(argv);
	if (st != 0) {
		if (st > 0)
			snprintf(err, errlen, "probe failed (exit %d): %s", st, e ? e : "");
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

int host_probe(struct host *h, unsigned int flags)
{
	char err[1024];
	char **arches = profile_list();
	size_t n = 0;

	host_clear_probe(h);
	h->probed = 1;
	for (char **a = arches; a && *a; a++)
		n++;
	h->arches = xcalloc(n ? n : 1, sizeof(*h->arches));
	for (char **a = arches; a && *a; a++) {
		struct profile p;

		if (profile_load(*a, &p))
			continue;
		h->arches[h->narches].arch = xstrdup(*a);
		h->arches[h->narches++].binary = xstrdup(p.qemu_binary);
		profile_release(&p);
	}
	strv_free(arches);
	if (!h->local && !h->ssh) {
		struct ssh_target t = {
			.name = h->name, .address = h->address, .port = h->port, .user = h->user,
			.key = h->key, .known_hosts = h->known_hosts,
		};

		h->ssh = kssh_open(&t, (flags & HOST_TRUST) ? KSSH_TRUST : 0, err, sizeof(err));
		if (!h->ssh) {
			h->why = xasprintf("ssh: %s", err);
			return -1;
		}
	}
	if (h->local)
		probe_local(h);
	else if (probe_remote(h, err, sizeof(err)) < 0) {
		h->why = xasprintf("ssh: %s", err);
		return -1;
	} else if (!kssh_home(h->ssh)) {
		h->why = xstrdup("ssh: the SFTP subsystem does not work (needed for uploads)");
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
	if (libvirt_probe(h, err, sizeof(err)) < 0) {
		h->why = xasprintf("libvirt: %s", err);
		return -1;
	}
	int any = 0;
	for (size_t i = 0; i < h->narches; i++)
		any |= host_arch(h, h->arches[i].arch) != NULL;
	if (!any) {
		h->why = xstrdup("no QEMU for any arch profile is installed");
		return -1;
	}
	h->up = 1;
	return 0;
}
