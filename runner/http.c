#include "http.h"
#include "routes.h"
#include "store.h"
#include "util.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <sys/resource.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNECTIONS 8192

struct server {
	const struct http_opts *o;
	char **files;		/* the dashboard's files, listed at start */
	pthread_mutex_t lock;
	struct tconn **conns;	/* every thread's connection, closed at exit */
	size_t nconns;
};

/* Every database route's reply (JSON or text, not a log file) is kept per
 * thread for the database version it was made at (PRAGMA data_version, which
 * moves whenever another connection commits): a repeated request is a
 * lookup, and nothing is served that the database no longer says. Bounded
 * in entries and bytes; errors are never kept. */
#define CACHE_SLOTS 64
#define CACHE_BYTES (16u << 20)	/* per thread */
#define CACHE_MAX_REPLY (4u << 20)

struct cached {
	char *key;		/* the route and its checked parameters */
	char *body;
	size_t len;
	const char *type;	/* a literal: the route's Content-Type */
};

/* One read-only store per MHD thread, plus its cached replies. */
struct tconn {
	struct store *st;
	long long version;	/* of every entry in cache */
	struct cached cache[CACHE_SLOTS];
	size_t bytes;
	unsigned int next;	/* the slot replaced next when full */
};
static __thread struct tconn *tc;
/* This request's start (the thread's CPU clock) and its cache use, sent as
 * Server-Timing and X-Kfarm-Cache: what it cost the server, apart from
 * the scheduling of a busy machine (make bench reads them). */
static __thread double req_cpu0;
static __thread const char *req_cache;
/* and what else the request's thread went through meanwhile, sent as
 * X-Kfarm-Rusage: page faults (new memory, each one kernel time in its CPU
 * time) and context switches, voluntary (it waited: a lock, a read) or not
 * (another process took the CPU: its caches were someone else's after) */
static __thread struct rusage req_ru0;

static double thread_cpu(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void add_timing(struct MHD_Response *r)
{
	struct rusage ru;
	char v[96];

	snprintf(v, sizeof(v), "cpu;dur=%.3f", (thread_cpu() - req_cpu0) * 1000);
	MHD_add_response_header(r, "Server-Timing", v);
	if (!getrusage(RUSAGE_THREAD, &ru)) {
		snprintf(v, sizeof(v), "minflt=%ld majflt=%ld nvcsw=%ld nivcsw=%ld",
			 ru.ru_minflt - req_ru0.ru_minflt, ru.ru_majflt - req_ru0.ru_majflt,
			 ru.ru_nvcsw - req_ru0.ru_nvcsw, ru.ru_nivcsw - req_ru0.ru_nivcsw);
		MHD_add_response_header(r, "X-Kfarm-Rusage", v);
	}
	if (req_cache)
		MHD_add_response_header(r, "X-Kfarm-Cache", req_cache);
}

static struct store *thread_store(struct server *s)
{
	struct err e;
	struct tconn *t;

	if (tc)
		return tc->st;
	t = xcalloc(1, sizeof(*t));
	/* through the store: hardened against an edited file like every open */
	if (!(t->st = store_open(s->o->db_path, STORE_READONLY | STORE_SERVE, &e))) {
		error("%s", e.msg);
		free(t);
		return NULL;
	}
	t->version = -1;
	pthread_mutex_lock(&s->lock);
	s->conns = xrealloc(s->conns, (s->nconns + 1) * sizeof(*s->conns));
	s->conns[s->nconns++] = t;
	pthread_mutex_unlock(&s->lock);
	tc = t;
	return t->st;
}

static enum MHD_Result send_buf(struct MHD_Connection *c, int code, const char *type,
				const char *buf, size_t len, enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)buf, mode);
	enum MHD_Result ret;

	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", type);
	MHD_add_response_header(r, "Cache-Control", "no-store");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	add_timing(r);
	ret = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result send_json(struct MHD_Connection *c, int code, json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT);
	enum MHD_Result ret;

	json_decref(v);
	if (!s)
		return MHD_NO;
	ret = send_buf(c, code, "application/json", s, strlen(s), MHD_RESPMEM_MUST_FREE);
	return ret;
}

static enum MHD_Result send_error(struct MHD_Connection *c, int code, const char *msg)
{
	return send_json(c, code, json_pack("{s:s,s:i}", "error", msg, "status", code));
}

/* Sends the tail (at most max bytes) of a regular file; consumes fd. */
static enum MHD_Result send_fd(struct MHD_Connection *c, int fd, const char *type, size_t max)
{
	struct MHD_Response *r;
	struct stat sb;
	enum MHD_Result ret;

	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return send_error(c, 404, "file not found");
	}
	/* the tail is what matters in a long log */
	off_t off = (size_t)sb.st_size > max ? sb.st_size - (off_t)max : 0;
	r = MHD_create_response_from_fd_at_offset64(sb.st_size - off, fd, off);
	if (!r) {
		close(fd);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", type);
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	add_timing(r);
	ret = MHD_queue_response(c, 200, r);
	MHD_destroy_response(r);
	return ret;
}

static const char *get_arg(void *data, const char *name)
{
	return MHD_lookup_connection_value(data, MHD_GET_ARGUMENT_KIND, name);
}

static enum MHD_Result send_reply(struct MHD_Connection *c, struct reply *out)
{
	if (out->fd >= 0)
		return send_fd(c, out->fd, out->type, out->max);
	if (out->text)
		return send_buf(c, 200, out->type, out->text, strlen(out->text),
				MHD_RESPMEM_MUST_FREE);
	return send_json(c, 200, out->json);
}

static void cache_clear(struct tconn *t)
{
	for (size_t i = 0; i < CACHE_SLOTS; i++) {
		free(t->cache[i].key);
		free(t->cache[i].body);
		t->cache[i] = (struct cached){ 0 };
	}
	t->bytes = 0;
}

/* The route's parameters as they were checked (route_parse): names are of
 * [A-Za-z0-9_.:/-] and never empty, so '|' separates and "" is absent. */
static char *cache_key(const struct route *rt)
{
	return xasprintf("%td|%lld|%d|%s|%s|%s|%s|%s", rt->def - routes, (long long)rt->id,
			 rt->limit, rt->file ? rt->file : "", rt->arch ? rt->arch : "",
			 rt->test ? rt->test : "", rt->tree ? rt->tree : "",
			 rt->kernel ? rt->kernel : "");
}

static struct cached *cache_find(struct tconn *t, const char *key)
{
	for (size_t i = 0; i < CACHE_SLOTS; i++)
		if (t->cache[i].key && !strcmp(t->cache[i].key, key))
			return &t->cache[i];
	return NULL;
}

/* Keeps body (taking it and key) if it fits, else frees both. */
static void cache_put(struct tconn *t, char *key, char *body, size_t len, const char *type)
{
	struct cached *k = NULL;

	if (len <= CACHE_MAX_REPLY)
		for (size_t i = 0; i < CACHE_SLOTS && !k; i++)
			if (!t->cache[i].key)
				k = &t->cache[i];
	while (len <= CACHE_MAX_REPLY && (!k || t->bytes + len > CACHE_BYTES)) {
		struct cached *old = &t->cache[t->next++ % CACHE_SLOTS];

		t->bytes -= old->len;
		free(old->key);
		free(old->body);
		*old = (struct cached){ 0 };
		k = k ? k : old;
	}
	if (!k) {
		free(key);
		free(body);
		return;
	}
	*k = (struct cached){ key, body, len, type };
	t->bytes += len;
}

/* A database route: from the cache when the database has not moved since
 * the reply was made, else run, sent and kept. */
static enum MHD_Result serve_db(struct MHD_Connection *c, struct route_env *env,
				const struct route *rt)
{
	struct reply out = { .fd = -1 };
	long long v = store_data_version(tc->st);
	struct cached *k;

	char *key, *body;
	const char *type;
	size_t len;

	if (v < 0 || v != tc->version) {
		cache_clear(tc);
		tc->version = v;
	}
	key = cache_key(rt);
	if (v >= 0 && (k = cache_find(tc, key))) {
		free(key);
		req_cache = "hit";
		return send_buf(c, 200, k->type, k->body, k->len, MHD_RESPMEM_MUST_COPY);
	}
	req_cache = "miss";
	if (route_run(rt, env, tc->st, &out)) {
		free(key);
		return send_error(c, out.err.code, out.err.msg);
	}
	if (out.fd >= 0) {	/* a file: read as it is now, never kept */
		free(key);
		return send_fd(c, out.fd, out.type, out.max);
	}
	if (out.text) {
		body = out.text;
		type = out.type;
	} else {
		body = json_dumps(out.json, JSON_COMPACT);
		type = "application/json";
		json_decref(out.json);
	}
	if (!body) {
		free(key);
		return MHD_NO;
	}
	len = strlen(body);
	enum MHD_Result ret = send_buf(c, 200, type, body, len, MHD_RESPMEM_MUST_COPY);
	if (v >= 0)
		cache_put(tc, key, body, len, type);
	else
		free(key), free(body);
	return ret;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
			       const char *method, const char *version, const char *upload,
			       size_t *upload_size, void **state)
{
	struct server *s = cls;
	struct route rt;
	struct route_env env = { .db_path = s->o->db_path, .web_dir = s->o->web_dir,
				 .files = s->files };
	struct reply out = { .fd = -1 };

	(void)version;
	(void)upload;
	if (!*state) {
		/* first call, headers only: anything but GET/HEAD is refused now,
		 * before its body is read (the API is read-only) */
		*state = (void *)1;
		if (strcmp(method, "GET") && strcmp(method, "HEAD"))
			return send_error(c, 405, "method not allowed (the API is read-only)");
		return MHD_YES;
	}
	if (*upload_size) {
		*upload_size = 0;
		return send_error(c, 413, "request bodies are not accepted");
	}
	req_cpu0 = thread_cpu();
	req_cache = NULL;
	if (getrusage(RUSAGE_THREAD, &req_ru0))
		memset(&req_ru0, 0, sizeof(req_ru0));
	route_parse(routes, nroutes, method, url, get_arg, c, &rt);
	if (!rt.def)
		return send_error(c, rt.code, rt.error);
	if (!(rt.def->flags & RF_NODB)) {
		if (!thread_store(s))
			return send_error(c, 503, "database unavailable");
		return serve_db(c, &env, &rt);
	}
	if (route_run(&rt, &env, NULL, &out))
		return send_error(c, out.err.code, out.err.msg);
	return send_reply(c, &out);
}

static char **list_files(const char *dir)
{
	char **v = xcalloc(1, sizeof(char *));
	size_t n = 0;
	DIR *d = dir ? opendir(dir) : NULL;
	struct dirent *e;

	if (!d)
		return v;
	while ((e = readdir(d))) {
		struct stat sb;
		char *p;

		if (e->d_name[0] == '.')
			continue;
		p = xasprintf("%s/%s", dir, e->d_name);
		if (stat(p, &sb) == 0 && S_ISREG(sb.st_mode)) {
			v = xrealloc(v, (n + 2) * sizeof(char *));
			v[n++] = xstrdup(e->d_name);
			v[n] = NULL;
		}
		free(p);
	}
	closedir(d);
	return v;
}

static int listen_on(const char *spec, struct err *e)
{
	char host[256];
	const char *colon = strrchr(spec, ':');
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV }, *ai;
	unsigned long port;
	int fd, one = 1, rc;

	if (!colon || colon == spec || (size_t)(colon - spec) >= sizeof(host) ||
	    parse_uint(colon + 1, 65535, &port))
		return err_set(e, 0, "invalid --listen '%s' (want HOST:PORT, e.g. 127.0.0.1:8080)",
			       spec);
	memcpy(host, spec, colon - spec);
	host[colon - spec] = '\0';
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	rc = getaddrinfo(host, colon + 1, &hints, &ai);
	if (rc)
		return err_set(e, 0, "invalid --listen address '%s': %s", spec, gai_strerror(rc));
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err_set(e, 0, "cannot listen on %s: %s", spec, strerror(errno));
		freeaddrinfo(ai);
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 1024) < 0) {
		err_set(e, 0, "cannot listen on %s: %s", spec, strerror(errno));
		close(fd);
		freeaddrinfo(ai);
		return -1;
	}
	freeaddrinfo(ai);
	return fd;
}

int http_serve(const struct http_opts *o, struct err *e)
{
	struct server s = { .o = o };
	struct MHD_Daemon *d;
	sigset_t mask;
	int fd, sig;

	fd = listen_on(o->listen, e);
	if (fd < 0)
		return -1;
	pthread_mutex_init(&s.lock, NULL);
	s.files = list_files(o->web_dir);
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
			     MHD_USE_TURBO | MHD_USE_SUPPRESS_DATE_NO_CLOCK,
			     0, NULL, NULL, handler, &s,
			     MHD_OPTION_LISTEN_SOCKET, fd,
			     MHD_OPTION_THREAD_POOL_SIZE, o->threads,
			     MHD_OPTION_CONNECTION_LIMIT, (unsigned int)MAX_CONNECTIONS,
			     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)30,
			     MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32768,
			     MHD_OPTION_END);
	if (!d) {
		close(fd);
		strv_free(s.files);
		return err_set(e, 0, "cannot start HTTP server on %s", o->listen);
	}
	fprintf(stderr, "kfarm: serving %s on http://%s/\n", o->db_path, o->listen);
	sigwait(&mask, &sig);
	/* a query still running (a huge or hostile database) must not hold up
	 * the exit: MHD_stop_daemon waits for every thread */
	pthread_mutex_lock(&s.lock);
	for (size_t i = 0; i < s.nconns; i++)
		store_interrupt(s.conns[i]->st);
	pthread_mutex_unlock(&s.lock);
	MHD_stop_daemon(d);
	close(fd);
	for (size_t i = 0; i < s.nconns; i++) {
		store_close(s.conns[i]->st);
		cache_clear(s.conns[i]);
		free(s.conns[i]);
	}
	free(s.conns);
	strv_free(s.files);
	pthread_mutex_destroy(&s.lock);
	return 0;
}
