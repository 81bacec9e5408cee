/* kfarm hosts: probes every host of the inventory (SSH, QEMU binaries,
 * libvirt) and says what each can run, how many slots are free, and why a
 * host is unusable. --trust NAME accepts NAME's unknown SSH host key. */
#include "backend.h"
#include "cmds.h"
#include "hosts.h"
#include "util.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char hosts_usage[] =
	"usage: kfarm hosts [--hosts FILE] [--trust NAME] [--json]\n"
	"\n"
	"Connects to every host of the inventory over SSH (strict host-key checking)\n"
	"and libvirt, and prints which arches it can run (the arch profiles' QEMU\n"
	"binaries present there), its free slots, and why a host is unusable.\n"
	"\n"
	"      --hosts FILE   the inventory (default $KFARM_HOSTS, else\n"
	"                     $XDG_CONFIG_HOME/kfarm/hosts.json); format in\n"
	"                     docs/hosts.example.json\n"
	"      --trust NAME   accept host NAME's SSH host key if it is unknown, adding\n"
	"                     it to the known_hosts file (check the fingerprint first);\n"
	"                     a changed key is never accepted\n"
	"      --json         machine-readable output\n"
	"  -h, --help         this text\n"
	"\n"
	"Exit status: 0 every host usable; 1 some host unusable; 2 bad usage or file.\n";

static void arch_list(const struct host *h, struct sb *sb)
{
	for (size_t a = 0; a < h->narches; a++)
		if (host_arch(h, h->arches[a].arch))
			sb_addf(sb, "%s%s", sb->len ? " " : "", h->arches[a].arch);
}

static json_t *host_json(const struct host *h)
{
	json_t *o = json_object(), *arr = json_array(), *miss = json_object();

	json_object_set_new(o, "name", json_string(h->name));
	json_object_set_new(o, "libvirt", json_string(h->uri));
	json_object_set_new(o, "up", json_boolean(h->up));
	json_object_set_new(o, "why", h->why ? json_string(h->why) : json_null());
	json_object_set_new(o, "slots", json_integer(h->slots));
	json_object_set_new(o, "free", h->up ? json_integer(h->busy >= h->slots ? 0 :
								 h->slots - h->busy)
					     : json_null());
	for (size_t a = 0; a < h->narches; a++) {
		const struct host_arch *ha = &h->arches[a];

		if (host_arch(h, ha->arch)) {
			json_t *x = json_object();

			json_object_set_new(x, "arch", json_string(ha->arch));
			json_object_set_new(x, "qemu", json_string(ha->path));
			json_object_set_new(x, "version", json_string(ha->version));
			json_array_append_new(arr, x);
		} else if (ha->why) {
			json_object_set_new(miss, ha->arch, json_string(ha->why));
		}
	}
	json_object_set_new(o, "arches", arr);
	json_object_set_new(o, "cannot_run", miss);
	json_object_set_new(o, "libvirt_version",
			    h->libvirt_version ? json_string(h->libvirt_version) : json_null());
	json_object_set_new(o, "hypervisor_version",
			    h->hv_version ? json_string(h->hv_version) : json_null());
	return o;
}

static void print_json(const struct hosts *hs)
{
	json_t *root = json_object(), *arr = json_array();

	for (size_t i = 0; i < hs->n; i++)
		json_array_append_new(arr, host_json(&hs->v[i]));
	json_object_set_new(root, "hosts", arr);
	json_dumpf(root, stdout, JSON_INDENT(2));
	putchar('\n');
	json_decref(root);
}

static void print_text(const struct hosts *hs)
{
	printf("%-16s %-5s %5s %5s  %s\n", "HOST", "STATE", "SLOTS", "FREE", "ARCHES");
	for (size_t i = 0; i < hs->n; i++) {
		const struct host *h = &hs->v[i];
		struct sb sb;

		sb_init(&sb);
		arch_list(h, &sb);
		if (h->up)
			printf("%-16s %-5s %5u %5u  %s\n", h->name, "up", h->slots,
			       h->busy >= h->slots ? 0 : h->slots - h->busy, sb.buf);
		else
			printf("%-16s %-5s %5u %5s  %s\n", h->name, "down", h->slots, "-", "-");
		sb_release(&sb);
	}
	for (size_t i = 0; i < hs->n; i++) {
		const struct host *h = &hs->v[i];

		if (!h->up) {
			printf("  %s: unusable: %s\n", h->name, h->why);
			continue;
		}
		printf("  %s: %s %s at %s", h->name, h->be ? h->be->name : "?", h->libvirt_version,
		       h->uri);
		if (h->hv_version)
			printf(" (hypervisor %s)", h->hv_version);
		printf("\n");
		for (size_t a = 0; a < h->narches; a++)
			if (h->arches[a].why)
				printf("  %s: cannot run %s: %s\n", h->name, h->arches[a].arch,
				       h->arches[a].why);
	}
}

/* Options into *file, *trust, *json; 0, 1 (--help shown) or -1 (bad usage). */
static int parse_opts(int argc, char **argv, char **file, char **trust, int *json)
{
	static const struct option opts[] = {
		{ "hosts", required_argument, NULL, 'H' },
		{ "trust", required_argument, NULL, 'T' },
		{ "json", no_argument, NULL, 'J' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'H':
			free(*file);
			*file = xstrdup(optarg);
			break;
		case 'T':
			free(*trust);
			*trust = xstrdup(optarg);
			break;
		case 'J':
			*json = 1;
			break;
		case 'h':
			fputs(hosts_usage, stdout);
			return 1;
		default:
			fputs(hosts_usage, stderr);
			return -1;
		}
	}
	if (optind < argc)
		return error("unexpected argument '%s' (see kfarm hosts --help)", argv[optind]);
	return 0;
}

int cmd_hosts(struct cmd_ctx *c, int argc, char **argv)
{
	const struct backend *be = backend_for_hosts();
	char *file = NULL, *trust = NULL;
	struct hosts hs = { 0 };
	struct err err;
	int json = 0, ret = 2, bad = 0, r;

	(void)c;
	r = parse_opts(argc, argv, &file, &trust, &json);
	if (r) {
		ret = r > 0 ? 0 : 2;
		goto out;
	}
	if (!file)
		file = hosts_default_path();
	if (hosts_load(file, &hs, &err)) {
		error("%s", err.msg);
		goto out;
	}
	if (trust && !hosts_find(&hs, trust)) {
		error("--trust: no host '%s' in '%s'", trust, file);
		goto out;
	}
	for (size_t i = 0; i < hs.n; i++) {
		struct host *h = &hs.v[i];

		bad |= host_probe_with(h, be, trust && !strcmp(trust, h->name) ? HOST_TRUST : 0) < 0;
	}
	if (json)
		print_json(&hs);
	else
		print_text(&hs);
	ret = bad ? 1 : 0;
out:
	hosts_release(&hs);
	free(file);
	free(trust);
	return ret;
}
