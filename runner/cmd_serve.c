/* kfarm serve: the read-only JSON API and dashboard. */
#include "cmds.h"
#include "http.h"
#include "routes.h"
#include "util.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef KFARM_WEB_DIR
#define KFARM_WEB_DIR "web"
#endif

/* the route list comes from the routes' table: it cannot fall behind */
static void serve_usage(FILE *f)
{
	fputs("usage: kfarm serve [--listen HOST:PORT] [--db PATH] [--web DIR] [--threads N]\n"
	      "\n"
	      "Serves the JSON API and the dashboard, read-only, on 127.0.0.1:8080 unless\n"
	      "told otherwise:\n", f);
	routes_usage(f);
}

int cmd_serve(struct cmd_ctx *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "db", required_argument, NULL, 'd' },
		{ "web", required_argument, NULL, 'w' },
		{ "threads", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *web = getenv("KFARM_WEB");
	struct http_opts o = {
		.listen = "127.0.0.1:8080", .web_dir = web && *web ? web : KFARM_WEB_DIR,
	};
	char *db = NULL;
	unsigned long n;
	struct stat sb;
	struct err e;
	int opt, ret;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "l:d:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'l':
			o.listen = optarg;
			break;
		case 'd':
			free(db);
			db = xstrdup(optarg);
			break;
		case 'w':
			o.web_dir = optarg;
			break;
		case 't':
			if (parse_uint(optarg, 256, &n) || !n) {
				free(db);
				return error("--threads wants 1..256, got '%s'", optarg), 2;
			}
			o.threads = n;
			break;
		case 'h':
			serve_usage(stdout);
			free(db);
			return 0;
		default:
			serve_usage(stderr);
			free(db);
			return 2;
		}
	}
	if (optind < argc) {
		free(db);
		return error("unexpected argument '%s'", argv[optind]), 2;
	}
	if (!o.threads) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);
		o.threads = cpus > 0 ? cpus : 1;
	}
	/* fail early and clearly on a database we cannot read or must refuse */
	c->db = db;
	o.db_path = cmd_db_path(c);
	if (stat(o.db_path, &sb) < 0) {
		error_errno("cannot open database '%s'", o.db_path);
		ret = 2;
	} else if (!cmd_store(c)) {
		ret = 2;
	} else if (http_serve(&o, &e)) {
		error("%s", e.msg);
		ret = 2;
	} else {
		ret = 0;
	}
	free(db);
	return ret;
}
