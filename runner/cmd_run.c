/* kfarm run: builds the job list (default matrix or --kernel candidates),
 * checks every input before anything starts, runs the scheduler, stores each
 * finished job, prints progress and a summary. */
#include "accel.h"
#include "backend.h"
#include "build_regress.h"
#include "cache.h"
#include "cmds.h"
#include "hosts.h"
#include "job.h"
#include "logdir.h"
#include "pin.h"
#include "profile.h"
#include "regress.h"
#include "sched.h"
#include "srcset.h"
#include "store.h"
#include "text.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "run.h"

static const char run_usage[] =
	"usage: kfarm run [options]\n"
	"\n"
	"Boots every candidate kernel with kfarm's initramfs and records the results.\n"
	"With no --kernel, runs the default matrix (every arch x default kernel built\n"
	"by 'make images').\n"
	"\n"
	"  -k, --kernel ARCH=PATH[:LABEL]  a candidate kernel (repeatable)\n"
	"  -s, --source SPEC               build and boot a source candidate: git REPO[@REV],\n"
	"                                  a source directory or a tarball (repeatable; see\n"
	"                                  kfarm build --help); arches that fail to build\n"
	"                                  have their tests MISSING \"not built\"\n"
	"      --patches PATH              a quilt series dir or mbox on top of each --source\n"
	"      --label NAME                the --source candidate's name\n"
	"  -a, --arch ARCH[,ARCH...]       only these arches\n"
	"  -t, --tests T1,T2,...           run these tests (default: the initramfs's suite)\n"
	"      --suite smoke               the default suite (the only one for now)\n"
	"      --initramfs ARCH=PATH       use this initramfs for ARCH\n"
	"      --append ARGS               extra kernel command-line arguments\n"
	"      --smp [ARCH=]N              vCPUs (default 1; at most the profile's max_smp)\n"
	"      --variant [ARCH=]NAME       a machine variant from the arch's profile\n"
	"      --accel auto|kvm|tcg        auto (default): KVM when the guest arch is the\n"
	"                                  host's and /dev/kvm opens, else TCG\n"
	"  -j, --jobs N                    parallel VMs (default: number of CPUs)\n"
	"      --timeout SECS              total time limit per job (default 600)\n"
	"      --boot-timeout SECS         limit until /init reports (default 120)\n"
	"      --silence-timeout SECS      limit on console silence (default 120)\n"
	"      --retries N                 retries after an infrastructure error (default 1)\n"
	"      --tree NAME                 the candidates' series (default: debian-VERSION for\n"
	"                                  default kernels, linux-X.Y from the guest's release)\n"
	"      --confirm N                 re-runs of a job whose results regressed (default 2)\n"
	"      --db PATH                   history database (default $XDG_DATA_HOME/kfarm/kfarm.db)\n"
	"      --backend qemu|libvirt|lava how VMs are run (default qemu: QEMU children here)\n"
	"      --libvirt-uri URI           libvirt connection for --backend libvirt (default\n"
	"                                  $LIBVIRT_DEFAULT_URI or qemu:///session)\n"
	"      --hosts FILE                spread the jobs over these hosts (libvirt + SSH;\n"
	"                                  see 'kfarm hosts' and docs/hosts.example.json)\n"
	"      --lava-url URL              LAVA server for --backend lava (its REST API)\n"
	"      --lava-token-file FILE      the LAVA API token (else $KFARM_LAVA_TOKEN; never\n"
	"                                  on the command line)\n"
	"      --json                      print a machine-readable summary on stdout\n"
	"  -h, --help                      this text\n"
	"\n"
	"Exit status: 0 every job completed and no test failed; 1 a kernel or test\n"
	"failure; 2 bad usage or input; 3 an infrastructure error; 130 interrupted.\n";

static char *argv_text(int argc, char **argv)
{
	struct sb sb;

	sb_init(&sb);
	for (int i = 0; i < argc; i++)
		sb_addf(&sb, "%s%s", i ? " " : "", argv[i]);
	return sb_detach(&sb);
}

int cmd_run(struct cmd_ctx *cx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "kernel", required_argument, NULL, 'k' },
		{ "source", required_argument, NULL, 's' },
		{ "patches", required_argument, NULL, 'P' },
		{ "label", required_argument, NULL, 'L' },
		{ "arch", required_argument, NULL, 'a' },
		{ "tests", required_argument, NULL, 't' },
		{ "suite", required_argument, NULL, 'S' },
		{ "initramfs", required_argument, NULL, 'I' },
		{ "append", required_argument, NULL, 'A' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "boot-timeout", required_argument, NULL, 'B' },
		{ "silence-timeout", required_argument, NULL, 'Q' },
		{ "retries", required_argument, NULL, 'R' },
		{ "tree", required_argument, NULL, 'r' },
		{ "confirm", required_argument, NULL, 'C' },
		{ "db", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'J' },
		{ "backend", required_argument, NULL, 'b' },
		{ "libvirt-uri", required_argument, NULL, 'U' },
		{ "hosts", required_argument, NULL, 'H' },
		{ "smp", required_argument, NULL, 'p' },
		{ "variant", required_argument, NULL, 'V' },
		{ "accel", required_argument, NULL, 'X' },
		{ "lava-url", required_argument, NULL, 'W' },
		{ "lava-token-file", required_argument, NULL, 'F' },
		/* exact name: else getopt takes it as an abbreviation of -file */
		{ "lava-token", required_argument, NULL, 'K' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sched_opts so = {
		.jobs = 0, .boot_timeout = 120, .silence_timeout = 120, .total_timeout = 600,
		.infra_retries = 1,
	};
	char **kernels = NULL, **arches = NULL, **tests = NULL, *db = NULL, *append = NULL;
	char *tree = NULL, *uri = NULL, *hosts_file = NULL, *lava_url = NULL, *lava_tok = NULL;
	const struct backend *be = &backend_qemu;
	int be_given = 0;
	struct hosts hs = { 0 };
	unsigned long confirm = 2;
	struct initrd_override *ovr = NULL;
	size_t nk = 0, novr = 0;
	int json = 0, opt, ret = 2, interrupted;
	unsigned long ul;
	struct run_ctx c = { 0 };
	struct machine_opts mo = { 0 };
	char **sources = NULL, *patches = NULL, *src_label = NULL;	/* --source candidates */
	size_t nsrc = 0;
	struct srcset ss = { 0 };

	optind = 1;
	while ((opt = getopt_long(argc, argv, "k:s:a:t:j:d:h", opts, NULL)) != -1) {
		switch (opt) {
		case 's':
			sources = xrealloc(sources, (nsrc + 2) * sizeof(char *));
			sources[nsrc++] = xstrdup(optarg);
			sources[nsrc] = NULL;
			break;
		case 'P':
			free(patches);
			patches = xstrdup(optarg);
			break;
		case 'L':
			free(src_label);
			src_label = xstrdup(optarg);
			break;
		case 'k':
			kernels = xrealloc(kernels, (nk + 2) * sizeof(char *));
			kernels[nk++] = xstrdup(optarg);
			kernels[nk] = NULL;
			break;
		case 'a':
			strv_free(arches);
			arches = split_list(optarg);
			break;
		case 't':
			strv_free(tests);
			tests = split_list(optarg);
			for (char **t = tests; *t; t++)
				if (!valid_test_name(*t)) {
					error("invalid test name '%s'", *t);
					goto out;
				}
			break;
		case 'S':
			if (strcmp(optarg, "smoke")) {
				error("unknown suite '%s' (known: smoke)", optarg);
				goto out;
			}
			break;
		case 'I': {
			const char *eq = strchr(optarg, '=');

			if (!eq || eq == optarg || !eq[1]) {
				error("--initramfs wants ARCH=PATH, got '%s'", optarg);
				goto out;
			}
			ovr = xrealloc(ovr, (novr + 1) * sizeof(*ovr));
			ovr[novr].arch = xstrndup(optarg, eq - optarg);
			ovr[novr++].path = xstrdup(eq + 1);
			break;
		}
		case 'A':
			free(append);
			append = xstrdup(optarg);
			break;
		case 'j':
			if (parse_uint(optarg, 1024, &ul) || !ul) {
				error("--jobs wants a number 1..1024, got '%s'", optarg);
				goto out;
			}
			so.jobs = ul;
			break;
		case 'T':
		case 'B':
		case 'Q': {
			double *dst = opt == 'T' ? &so.total_timeout
				      : opt == 'B' ? &so.boot_timeout : &so.silence_timeout;

			if (parse_seconds(optarg, dst) || *dst <= 0) {
				error("invalid time '%s' (seconds, or with s/m/h)", optarg);
				goto out;
			}
			break;
		}
		case 'R':
			if (parse_uint(optarg, 10, &ul)) {
				error("--retries wants 0..10, got '%s'", optarg);
				goto out;
			}
			so.infra_retries = ul;
			break;
		case 'd':
			free(db);
			db = xstrdup(optarg);
			break;
		case 'r':
			if (!valid_test_name(optarg)) {
				error("invalid tree name '%s'", optarg);
				goto out;
			}
			free(tree);
			tree = xstrdup(optarg);
			break;
		case 'C':
			if (parse_uint(optarg, 10, &confirm)) {
				error("--confirm wants 0..10, got '%s'", optarg);
				goto out;
			}
			break;
		case 'J':
			json = 1;
			break;
		case 'b':
			be = backend_find(optarg);
			be_given = 1;
			if (!be) {
				error("unknown backend '%s' (known: qemu, libvirt, lava)", optarg);
				goto out;
			}
			break;
		case 'U':
			free(uri);
			uri = xstrdup(optarg);
			break;
		case 'H':
			free(hosts_file);
			hosts_file = xstrdup(optarg);
			break;
		case 'p':
			per_arch_add(&mo.smp, &mo.nsmp, optarg);
			break;
		case 'V':
			per_arch_add(&mo.variant, &mo.nvariant, optarg);
			break;
		case 'X':
			if (accel_req_parse(optarg, &mo.accel)) {
				error("--accel wants auto, kvm or tcg, got '%s'", optarg);
				goto out;
			}
			mo.accel_given = 1;
			break;
		case 'W':
			free(lava_url);
			lava_url = xstrdup(optarg);
			break;
		case 'F':
			free(lava_tok);
			lava_tok = xstrdup(optarg);
			break;
		case 'K':
			error("--lava-token: a token on the command line is visible to every user "
			      "(ps); use --lava-token-file FILE or KFARM_LAVA_TOKEN");
			goto out;
		case 'h':
			fputs(run_usage, stdout);
			ret = 0;
			goto out;
		default:
			fputs(run_usage, stderr);
			goto out;
		}
	}
	if (optind < argc) {
		error("unexpected argument '%s' (see kfarm run --help)", argv[optind]);
		goto out;
	}
	int jobs_given = so.jobs != 0;
	if (!so.jobs) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		so.jobs = n > 0 ? n : 1;
	}
	if (hosts_file && uri) {
		error("--hosts and --libvirt-uri exclude each other (a host's URI is in the file)");
		goto out;
	}
	if (hosts_file && be == &backend_qemu) {
		if (be_given) {
			error("--hosts runs VMs through libvirt; it cannot go with --backend qemu");
			goto out;
		}
		be = &backend_libvirt;
	}
	if (hosts_file && be == &backend_lava) {
		error("--hosts places VMs on libvirt hosts; with --backend lava, LAVA places them");
		goto out;
	}
	if ((lava_url || lava_tok) != (be == &backend_lava) ||
	    (be == &backend_lava && !lava_url)) {
		error(be == &backend_lava ? "--backend lava needs --lava-url URL"
					  : "--lava-url and --lava-token-file need --backend lava");
		goto out;
	}
	if (uri && be != &backend_libvirt) {
		error("--libvirt-uri needs --backend libvirt");
		goto out;
	}
	if (hosts_file) {
		if (hosts_load(hosts_file, &hs))
			goto out;
	} else if (be == &backend_libvirt) {
		char err[1024];
		const char *u = uri ? uri : getenv("LIBVIRT_DEFAULT_URI");

		if (hosts_from_uri(u && *u ? u : "qemu:///session", so.jobs, &hs, err,
				   sizeof(err))) {
			error("%s", err);
			goto out;
		}
	}
	if (so.boot_timeout > so.total_timeout)
		so.boot_timeout = so.total_timeout;

	/* every input is checked before anything starts or is written */
	if (nk && nsrc) {
		error("--kernel and --source exclude each other");
		goto out;
	}
	if ((patches || src_label) && !nsrc) {
		error("--patches and --label go with --source");
		goto out;
	}
	if (nsrc) {
		if (source_jobs(&c, &ss, sources, patches, arches, tree, src_label, tests, ovr, novr,
				append))
			goto out;
	} else if (nk) {
		for (size_t i = 0; i < nk; i++) {
			char *arch = NULL, *path = NULL, *label = NULL;
			struct job *j;

			if (split_kernel(kernels[i], &arch, &path, &label))
				goto out;
			if (arches && !in_list(arches, arch)) {
				free(arch), free(path), free(label);
				continue;
			}
			j = job_new();
			add_job(&c, j);
			int bad = make_job(j, arch, path, label, tests, ovr, novr, append);
			free(arch), free(path), free(label);
			if (bad)
				goto out;
		}
	} else if (default_jobs(&c, arches, tests, ovr, novr, append)) {
		goto out;
	}
	if (!c.n && !ss.n) {
		error("nothing to run (no matching kernels)");
		goto out;
	}
	for (size_t i = 0; i < c.n; i++) {
		c.jobs[i]->be = be;
		if (set_machine(c.jobs[i], &mo))
			goto out;
	}
	if (hs.n && setup_hosts(&c, &hs, &so, jobs_given)) {
		ret = 3;
		goto out;
	}
	if (be->connect && connect_backend(&c, be, lava_url, lava_tok, &so, jobs_given, &ret))
		goto out;

	cx->db = db;
	c.st = cmd_store(cx);
	if (!c.st)
		goto out;
	if (store_mark_stale_runs(c.st))
		goto out;
	char *at = argv_text(argc, argv);
	c.run = store_run_begin(c.st, at);
	free(at);
	if (c.run < 0)
		goto out;

	/* the database's own log directory, made by store_run_begin */
	char *logdir = logdir_run(store_path(c.st), c.run);
	for (size_t i = 0; i < c.n; i++) {
		struct job *j = c.jobs[i];

		j->seq = (int)i + 1;
		if (tree) {
			free(j->tree);
			j->tree = xstrdup(tree);
		}
		j->candidate_id = store_candidate_machine(c.st, j->arch, j->label,
							  j->machine_key, j->tree,
							  j->image_sha256, j->kernel);
		if (j->candidate_id < 0) {
			free(logdir);
			store_run_end(c.st, c.run, RUN_FAILED);
			goto out;
		}
		j->log_path = xasprintf("%s/%02d-%s-%s.log", logdir, j->seq, j->arch, j->label);
	}
	free(logdir);
	if (ss.n && srcset_record(&ss, c.st, c.run, cmd_db_path(cx), 1, tests)) {
		store_run_end(c.st, c.run, RUN_FAILED);
		ret = 3;
		goto out;
	}

	c.tty = isatty(2);
	c.t0 = now_mono();
	so.on_state = on_state;
	so.on_done = on_done;
	so.on_pool_down = on_pool_down;
	so.on_tick = c.tty ? on_tick : NULL;
	so.data = &c;
	interrupted = c.n ? sched_run(c.jobs, c.n, &so) : 0;
	if (!interrupted && confirm)
		interrupted = confirm_runs(&c, &so, confirm, logdir_run(store_path(c.st), c.run));
	progress_draw(&c);
	store_run_end(c.st, c.run, interrupted ? RUN_INTERRUPTED : RUN_COMPLETE);

	json_t *changes = run_changes(&c);

	int bad_json = 0;

	if (json)
		bad_json = print_json(&c, changes);
	else
		print_summary(&c, changes, stdout);
	json_decref(changes);

	ret = run_verdict(&c);	/* 0, 1 (failure) or 3 (infrastructure only) */
	if (ss.n) {
		int b = srcset_report(&ss, json ? stderr : stdout);

		if (b == 1 || (b == 3 && !ret))
			ret = b;
	}
	if (bad_json && !ret)
		ret = 3;
	if (c.store_failed) {
		error("some results could not be stored in '%s'", store_path(c.st));
		ret = 3;
	}
	if (interrupted) {
		error("interrupted; run %lld marked as such", (long long)c.run);
		ret = 130;
	}
out:
	for (size_t i = 0; i < c.n; i++)
		job_free(c.jobs[i]);
	free(c.jobs);
	free(c.stored);
	strv_free(kernels);
	strv_free(arches);
	strv_free(tests);
	for (size_t i = 0; i < novr; i++)
		free(ovr[i].arch), free(ovr[i].path);
	free(ovr);
	free(db);
	free(append);
	free(tree);
	free(uri);
	free(hosts_file);
	free(lava_url);
	free(lava_tok);
	free(so.pools);
	per_arch_free(mo.smp, mo.nsmp);
	per_arch_free(mo.variant, mo.nvariant);
	hosts_release(&hs);
	srcset_release(&ss);
	strv_free(sources);
	free(patches);
	free(src_label);
	return ret;
}

