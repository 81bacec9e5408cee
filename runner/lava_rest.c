#include "lava_rest.h"
#include "util.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BODY (16u << 20)

static struct {
	char *url;		/* without the trailing slash */
	char *token;
	char *version;		/* the server's */
} cfg;

/* --- HTTP --- */

static size_t on_body(char *p, size_t sz, size_t n, void *u)
{
	struct sb *b = u;

	if (b->len + sz * n > MAX_BODY)
		return 0;
	sb_add(b, p, sz * n);
	return sz * n;
}

/* One request to the LAVA API; returns the HTTP status, or -1 with err. */
long lava_http(const char *method, const char *path, const char *body, struct sb *out,
		 long timeout_s, struct err *err)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	char *url = xasprintf("%s%s", cfg.url, path), *auth = NULL;
	long code = -1;
	CURLcode r;

	sb_reset(out);
	if (!c) {
		err_set(err, 0, "cannot set up an HTTP request");
		free(url);
		return -1;
	}
	if (cfg.token) {
		auth = xasprintf("Authorization: Token %s", cfg.token);
		h = curl_slist_append(h, auth);
	}
	h = curl_slist_append(h, "Accept: application/json, application/yaml");
	if (body)
		h = curl_slist_append(h, "Content-Type: application/json");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 5L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout_s);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
	if (body)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	r = curl_easy_perform(c);
	if (r == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	else
		err_set(err, 0, "%s %s: %s", method, url, curl_easy_strerror(r));
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	if (auth) {
		explicit_bzero(auth, strlen(auth));
		free(auth);
	}
	free(url);
	return code;
}

/* GET path as JSON; NULL with err unless HTTP 200. */
json_t *lava_get_json(const char *path, long *code, struct err *err)
{
	struct sb b;
	json_t *j = NULL;

	sb_init(&b);
	*code = lava_http("GET", path, NULL, &b, 20, err);
	if (*code == 200 && !(j = json_loadb(b.buf, b.len, 0, NULL)))
		err_set(err, 0, "GET %s%s: not JSON", cfg.url, path);
	else if (*code > 0 && *code != 200)
		err_set(err, 0, "GET %s%s: HTTP %ld: %.120s", cfg.url, path, *code, b.buf);
	sb_release(&b);
	return j;
}

/* --- connect and probe --- */

static int read_token(const char *file, struct err *err)
{
	char *t = NULL;
	size_t len = 0;

	if (file) {
		if (read_file(file, 4096, &t, &len) < 0) {
			err_set(err, 0, "cannot read LAVA token file '%s': %s", file,
				strerror(errno));
			return -1;
		}
	} else if (getenv("KFARM_LAVA_TOKEN")) {
		t = xstrdup(getenv("KFARM_LAVA_TOKEN"));
		len = strlen(t);
	} else {
		err_set(err, 0, "no LAVA token: give --lava-token-file FILE or set "
			"KFARM_LAVA_TOKEN");
		return -1;
	}
	while (len && strchr(" \t\r\n", t[len - 1]))
		t[--len] = '\0';
	for (size_t i = 0; i < len; i++)
		if (t[i] <= ' ' || t[i] > '~')
			len = 0;
	if (!len) {
		err_set(err, 0, "LAVA token%s%s%s is empty or not one printable word",
			file ? " file '" : " in KFARM_LAVA_TOKEN", file ? file : "", file ? "'" : "");
		free(t);
		return -1;
	}
	cfg.token = t;
	return 0;
}

/* The token must name a user: LAVA serves anonymous readers too. */
static int check_token(struct err *err)
{
	long code;
	json_t *j = lava_get_json("/api/v0.2/system/whoami/", &code, err);
	const char *user = json_string_value(json_object_get(j, "user"));
	int ret = 0;

	if (code == 401 || code == 403) {
		err_set(err, 0, "LAVA at %s refused the token (HTTP %ld)", cfg.url, code);
		ret = -1;
	} else if (!j) {
		err_prefix(err, "cannot reach LAVA at %s: ", cfg.url);
		ret = -2;
	} else if (!user || !*user) {
		err_set(err, 0, "LAVA at %s does not know the token (anonymous)", cfg.url);
		ret = -1;
	}
	json_decref(j);
	return ret;
}

/* A qemu device that can take jobs, and the device type knows each arch. */
static int check_devices(char **arches, struct err *err)
{
	long code;
	json_t *j = lava_get_json("/api/v0.2/devices/?device_type=qemu&limit=500", &code, err), *d;
	size_t i, usable = 0, all = 0;
	struct sb tpl;

	if (!j)
		return -2;
	json_array_foreach(json_object_get(j, "results"), i, d) {
		const char *h = json_string_value(json_object_get(d, "health"));

		all++;
		usable += h && (!strcmp(h, "Good") || !strcmp(h, "Unknown"));
	}
	json_decref(j);
	if (usable > 1024)
		usable = 1024;
	if (!usable) {
		err_set(err, 0, "LAVA at %s has no usable qemu device (%zu qemu devices, "
			"none Good or Unknown)", cfg.url, all);
		return -2;
	}
	sb_init(&tpl);
	code = lava_http("GET", "/api/v0.2/devicetypes/qemu/template/", NULL, &tpl, 20, err);
	for (char **a = arches; code == 200 && a && *a; a++) {
		char *item = xasprintf("- %s\n", *a), *quoted = xasprintf("'%s'", *a);
		int known = strstr(tpl.buf, item) || strstr(tpl.buf, quoted);

		free(item);
		free(quoted);
		if (!known) {
			err_set(err, 0, "LAVA at %s: the qemu device type does not list "
				"arch %s", cfg.url, *a);
			sb_release(&tpl);
			return -2;
		}
	}
	sb_release(&tpl);
	return (int)usable;
}

int lava_connect(const char *url, const char *secret_file, char **arches, struct err *err,
		 unsigned int flags)
{
	static int curl_ready;
	long code;
	json_t *v;
	size_t n;
	int r;

	(void)flags;
	if (!url || (strncmp(url, "http://", 7) && strncmp(url, "https://", 8)) ||
	    strpbrk(url, " \t\r\n?#")) {
		err_set(err, 0, "--lava-url wants http://HOST[:PORT][/PATH], got '%s'",
			url ? url : "(none)");
		return -1;
	}
	if (!curl_ready && curl_global_init(CURL_GLOBAL_DEFAULT)) {
		err_set(err, 0, "cannot initialise libcurl");
		return -2;
	}
	curl_ready = 1;
	free(cfg.url);
	cfg.url = xstrdup(url);
	n = strlen(cfg.url);
	while (n > 8 && cfg.url[n - 1] == '/')
		cfg.url[--n] = '\0';
	if (read_token(secret_file, err))
		return -1;
	if ((r = check_token(err)))
		return r;
	v = lava_get_json("/api/v0.2/system/version/", &code, err);
	free(cfg.version);
	cfg.version = xasprintf("LAVA %s", json_string_value(json_object_get(v, "version"))
				? json_string_value(json_object_get(v, "version")) : "?");
	json_decref(v);
	return check_devices(arches, err);
}


const char *lava_server_url(void)
{
	return cfg.url;
}

const char *lava_server_version(void)
{
	return cfg.version ? cfg.version : "LAVA";
}
