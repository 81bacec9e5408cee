/* The hosts inventory (format and invariants in hosts.h); probes are in
 * hosts_probe.c. */
#include "backend.h"
#include "hosts.h"
#include "ssh.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_HOSTS_FILE (1u << 20)

void host_clear_probe(struct host *h)
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

/* The query's host-key parameters: refuses one that turns libvirt's check
 * off, or a second known_hosts; *theirs: the one known_hosts given. */
static int check_key_params(const char *uri, const char *query, char **theirs, struct err *err)
{
	int nkh = 0;

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
			*theirs = xstrdup(v);
		else if (!strcasecmp(k, "known_hosts"))
			refuse = 1;
		if (refuse)
			err_set(err, 0,
				"libvirt URI '%s': \"%s=%s\" would let libvirt accept host keys "
				"kfarm has not checked; refusing (remove it; 'kfarm hosts --trust "
				"NAME' records a new key)", uri, k, v);
		free(k);
		free(v);
		if (refuse)
			return -1;
		q += n + (q[n] == '&');
	}
	return 0;
}

/* Refuses a remote URI that would let libvirt accept a host key kfarm did
 * not check, and makes a libssh(2) URI check the known_hosts file kfarm
 * checks (kh, NULL: the default): added when missing, refused when other. */
static int uri_pin_host_keys(char **uri, const char *kh, struct err *err)
{
	char *user, *server, *path, *query, *tr = NULL, *mine = kssh_known_hosts(kh);
	char *theirs = NULL;
	unsigned int port;
	int ret = -1;

	if (uri_split(*uri, &user, &server, &port, &path, &query) < 0) {
		err_set(err, 0, "not a URI: '%s'", *uri);
		goto out;
	}
	tr = uri_transport(*uri);
	if (!*server) {
		ret = 0;	/* local: no SSH */
		goto out;
	}
	if (check_key_params(*uri, query, &theirs, err) < 0)
		goto out;
	if (!strcmp(tr, "libssh") || !strcmp(tr, "libssh2")) {
		if (theirs && strcmp(theirs, mine)) {
			err_set(err, 0,
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
			err_set(err, 0,
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

static int get_opt_str(json_t *o, const char *key, const char *host, char **out, struct err *err)
{
	json_t *v = json_object_get(o, key);

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v) || !*json_string_value(v))
		return err_set(err, 0, "host '%s': \"%s\" must be a non-empty string", host, key);
	*out = xstrdup(json_string_value(v));
	return 0;
}

static int get_uint(json_t *o, const char *key, const char *host, unsigned int def,
		    unsigned int max, unsigned int *out, struct err *err)
{
	json_t *v = json_object_get(o, key);

	*out = def;
	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > max) {
		err_set(err, 0, "host '%s': \"%s\" must be an integer 1..%u", host, key, max);
		return -1;
	}
	*out = json_integer_value(v);
	return 0;
}

static int parse_host(json_t *o, struct host *h, const char *base, const char *kh, struct err *err)
{
	static const char *const known[] = { "name", "address", "port", "user", "key",
					     "libvirt", "slots", NULL };
	const char *name, *k;
	char *key = NULL;
	json_t *v;

	if (!json_is_object(o))
		return err_set(err, 0, "every entry of \"hosts\" must be an object");
	v = json_object_get(o, "name");
	if (!json_is_string(v) || !valid_name(json_string_value(v)))
		return err_set(err, 0, "every host needs a \"name\" (letters, digits, . _ -)");
	name = json_string_value(v);
	h->name = xstrdup(name);
	json_object_foreach(o, k, v) {
		int ok = 0;

		if (strcasestr(k, "pass"))
			return err_set(err, 0,
				       "host '%s': \"%s\": passwords are not accepted in the hosts "
				       "file; use a key file (\"key\") or ssh-agent", name, k);
		for (const char *const *kn = known; *kn; kn++)
			ok |= !strcmp(*kn, k);
		if (!ok)
			return err_set(err, 0, "host '%s': unknown field \"%s\"", name, k);
	}
	if (get_opt_str(o, "address", name, &h->address, err) ||
	    get_opt_str(o, "user", name, &h->user, err) ||
	    get_opt_str(o, "key", name, &key, err) ||
	    get_opt_str(o, "libvirt", name, &h->uri, err) ||
	    get_uint(o, "port", name, 22, 65535, &h->port, err) ||
	    get_uint(o, "slots", name, 1, 256, &h->slots, err)) {
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
			return err_set(err, 0, "host '%s': \"libvirt\": not a URI: '%s'", name,
				       h->uri);
	}
	if (!h->address && !h->local)
		return err_set(err, 0,
			       "host '%s': needs an \"address\" (SSH) unless its \"libvirt\" URI "
			       "is local", name);
	if (h->local && h->address)
		return err_set(err, 0,
			       "host '%s': a local libvirt URI and an SSH \"address\" together: "
			       "the VMs would not run where the files are uploaded", name);
	if (!h->uri)
		h->uri = derive_uri(h, kh);
	else if (uri_pin_host_keys(&h->uri, kh, err))
		return err_prefix(err, "host '%s': ", name);
	return 0;
}

int hosts_parse(const char *json, size_t len, const char *base, struct hosts *hs, struct err *err)
{
	json_error_t jerr;
	json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr), *arr, *v, *o;
	const char *k;
	size_t i;
	int ret = -1;

	memset(hs, 0, sizeof(*hs));
	if (!root) {
		err_set(err, 0, "line %d: %s", jerr.line, jerr.text);
		return -1;
	}
	if (!json_is_object(root)) {
		err_set(err, 0, "not a JSON object");
		goto out;
	}
	json_object_foreach(root, k, v) {
		if (strcmp(k, "hosts") && strcmp(k, "known_hosts")) {
			err_set(err, 0, "unknown field \"%s\"", k);
			goto out;
		}
	}
	v = json_object_get(root, "known_hosts");
	if (v) {
		if (!json_is_string(v) || !*json_string_value(v)) {
			err_set(err, 0, "\"known_hosts\" must be a path");
			goto out;
		}
		hs->known_hosts = expand_path(json_string_value(v), base);
	}
	arr = json_object_get(root, "hosts");
	if (!json_is_array(arr) || !json_array_size(arr)) {
		err_set(err, 0, "\"hosts\" must be a non-empty array");
		goto out;
	}
	hs->v = xcalloc(json_array_size(arr), sizeof(*hs->v));
	json_array_foreach(arr, i, o) {
		hs->n = i + 1;
		if (parse_host(o, &hs->v[i], base, hs->known_hosts, err))
			goto out;
		for (size_t p = 0; p < i; p++)
			if (!strcmp(hs->v[p].name, hs->v[i].name)) {
				err_set(err, 0, "host '%s' is listed twice", hs->v[i].name);
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

int hosts_load(const char *path, struct hosts *hs, struct err *err)
{
	char *data, *copy, *base;
	size_t len;
	int r;

	if (read_file(path, MAX_HOSTS_FILE, &data, &len) < 0)
		return err_set(err, 0, "cannot read hosts file '%s': %s", path, strerror(errno));
	copy = xstrdup(path);
	base = dirname(copy);
	r = hosts_parse(data, len, base, hs, err);
	free(copy);
	free(data);
	if (r)
		return err_prefix(err, "hosts file '%s': ", path);
	return 0;
}

int hosts_from_uri(const char *uri, unsigned int slots, struct hosts *hs, struct err *err)
{
	char *user, *server, *path, *query;
	unsigned int port;
	struct host *h;

	memset(hs, 0, sizeof(*hs));
	if (uri_split(uri, &user, &server, &port, &path, &query) < 0) {
		free(user), free(server), free(path), free(query);
		err_set(err, 0, "not a libvirt URI: '%s'", uri);
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
	if (uri_pin_host_keys(&h->uri, h->known_hosts, err)) {
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
	if (!backend_host_disconnect(h->be, h))
		kssh_close(h->ssh);	/* else a stuck VM thread may still use it */
	h->ssh = NULL;
	h->conn = NULL;
}

char *hosts_default_path(void)
{
	const char *e = getenv("KFARM_HOSTS"), *x = getenv("XDG_CONFIG_HOME");
	const char *home = getenv("HOME");

	if (e && *e)
		return xstrdup(e);
	if (x && *x)
		return xasprintf("%s/kfarm/hosts.json", x);
	return xasprintf("%s/.config/kfarm/hosts.json", home ? home : "");
}

