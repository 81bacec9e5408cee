/*
 * init.c - kfarm's guest /init (PID 1) and the runner side of the harness.
 *
 * As PID 1: mounts proc, sysfs, devtmpfs and tmpfs, makes sure the console
 * is on fds 0-2, reads kfarm.tests=, kfarm.scale= and kfarm.opt= from
 * /proc/cmdline, prints KTAP (header, uname, plan) before running anything,
 * runs each selected test in a forked child with a time limit, then the
 * programs under /kfarm/user/ and the kselftest targets under
 * /kfarm/kselftest/ (prog.c), prints "# kfarm-init: done", syncs and
 * reboots (QEMU's -no-reboot turns that into an exit).
 *
 * Not PID 1 (host testing): the same, minus mounts and reboot; parameters
 * come from argv ("kfarm.tests=a,b kfarm.scale=2 kfarm.userdir=DIR
 * kfarm.kselftestdir=DIR") and the
 * exit status is 0 when every result is ok.  Other modes:
 *   init --list            every test: name, default|explicit, timeout, desc
 *   init --list-default    the default selection, one name a line
 *   init --probe NAME ...  a test's helper mode (see struct kt_test.probe)
 *
 * The output contract is docs/design.md "Guest protocol".
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/klog.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kt.h"
#include "kt_int.h"
#include "prog.h"

#define USER_DIR "/kfarm/user"
#define USER_PREFIX "user:"
#define DEFAULT_TIMEOUT 30
#define USER_TIMEOUT 60
#define CAPTURE_MAX (256 * 1024)

struct entry {
	const char *name;
	const struct kt_test *test;	/* built-in, or NULL */
	char *user_path;		/* user program, or NULL */
	char *kselftest_dir;		/* kselftest target, or NULL */
};

static int pid1;
static int ntests;
static const struct kt_test **tests;	/* sorted by (order, name) */

/* ---- registry ---- */

static int test_cmp(const void *a, const void *b)
{
	const struct kt_test *x = *(const struct kt_test *const *)a;
	const struct kt_test *y = *(const struct kt_test *const *)b;

	if (x->order != y->order)
		return x->order < y->order ? -1 : 1;
	return strcmp(x->name, y->name);
}

static void load_registry(void)
{
	ntests = (int)(__stop_kt_tests - __start_kt_tests);
	tests = calloc((size_t)ntests + 1, sizeof(*tests));
	if (!tests)
		abort();
	for (int i = 0; i < ntests; i++)
		tests[i] = __start_kt_tests[i];
	qsort(tests, (size_t)ntests, sizeof(*tests), test_cmp);
}

static const struct kt_test *find_test(const char *name)
{
	for (int i = 0; i < ntests; i++)
		if (!strcmp(tests[i]->name, name))
			return tests[i];
	return NULL;
}

static unsigned int test_timeout(const struct kt_test *t)
{
	return t->timeout ? t->timeout : DEFAULT_TIMEOUT;
}

/* ---- PID 1 setup ---- */

static char setup_notes[1024];

static void note(const char *what, const char *path)
{
	size_t n = strlen(setup_notes);

	snprintf(setup_notes + n, sizeof(setup_notes) - n,
		 "# kfarm-init: %s %s: %s\n", what, path, strerror(errno));
}

static void try_mount(const char *src, const char *dir, const char *type,
		      const char *data)
{
	mkdir(dir, 0755);
	if (mount(src, dir, type, MS_NOSUID, data) < 0 && errno != EBUSY)
		note("cannot mount", dir);
}

static void setup_pid1(void)
{
	try_mount("proc", "/proc", "proc", NULL);
	try_mount("sysfs", "/sys", "sysfs", NULL);
	try_mount("devtmpfs", "/dev", "devtmpfs", NULL);
	/* rootfs is writable anyway: a missing tmpfs only costs the note */
	try_mount("tmpfs", "/tmp", "tmpfs", "mode=1777");
	chmod("/tmp", 01777);
	/* POSIX shared memory (shm_open, sem_open: futex, mm selftests) */
	try_mount("tmpfs", "/dev/shm", "tmpfs", "mode=1777");
	/* ptys for prog.c's line-buffered streaming; without devpts (not in
	 * tinyconfig) prog.c falls back to a pipe, so no note */
	mkdir("/dev/pts", 0755);
	mount("devpts", "/dev/pts", "devpts", MS_NOSUID, "ptmxmode=0666,mode=0620");

	/* the kernel opens /dev/console for us if the initramfs has it */
	if (fcntl(1, F_GETFD) < 0) {
		int fd = open("/dev/console", O_RDWR | O_NOCTTY);
		if (fd >= 0) {
			dup2(fd, 0);
			dup2(fd, 1);
			dup2(fd, 2);
			if (fd > 2)
				close(fd);
		}
	}
	setenv("PATH", "/kfarm/user:/bin:/", 1);
	setenv("HOME", "/tmp", 1);
	if (chdir("/") < 0)
		note("cannot chdir", "/");
}

static void end_pid1(void)
{
	fflush(NULL);
	sync();
#ifdef __sparc__
	/* sun4u under QEMU: OpenBIOS cannot restart ("Reboot failed!" and a
	 * panic loop), but powers off cleanly */
	reboot(RB_POWER_OFF);
#endif
	reboot(RB_AUTOBOOT);
	reboot(RB_POWER_OFF);
	for (;;)
		pause();
}

/* ---- parameters ---- */

static char *param_tests;
static char *param_userdir;
static char *param_ksdir;

/* split a kernel-style command line; handles "key=a b" quoting */
static void parse_cmdline(char *s)
{
	while (*s) {
		char *tok, *d;
		int quoted = 0;

		while (*s == ' ' || *s == '\t' || *s == '\n')
			s++;
		if (!*s)
			break;
		tok = d = s;
		for (; *s; s++) {
			if (*s == '"') {
				quoted = !quoted;
				continue;
			}
			if (!quoted && (*s == ' ' || *s == '\t' || *s == '\n'))
				break;
			*d++ = *s;
		}
		if (*s)
			s++;
		*d = 0;

		if (!strncmp(tok, "kfarm.tests=", 12)) {
			param_tests = tok + 12;
		} else if (!strncmp(tok, "kfarm.scale=", 12)) {
			double v = strtod(tok + 12, NULL);
			if (v > 0 && v < 1e6)
				kt_scale_val = v;
		} else if (!strncmp(tok, "kfarm.opt=", 10)) {
			kt_opts_str = tok + 10;
		} else if (!strncmp(tok, "kfarm.userdir=", 14)) {
			param_userdir = tok + 14;
		} else if (!strncmp(tok, "kfarm.kselftestdir=", 19)) {
			param_ksdir = tok + 19;
		}
	}
}

/* ---- selection ---- */

static struct entry *sel;
static int nsel, capsel;

static void add_entry(const char *name, const struct kt_test *t, char *path, char *ksdir)
{
	if (nsel == capsel) {
		capsel = capsel ? 2 * capsel : 32;
		sel = realloc(sel, (size_t)capsel * sizeof(*sel));
		if (!sel)
			abort();
	}
	sel[nsel].name = name;
	sel[nsel].test = t;
	sel[nsel].user_path = path;
	sel[nsel].kselftest_dir = ksdir;
	nsel++;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* executables in the user directory, sorted by name */
static char **list_user(const char *dir, int *count)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **names = NULL;
	int n = 0, cap = 0;

	*count = 0;
	if (!d)
		return NULL;
	while ((de = readdir(d))) {
		char path[4096];
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (stat(path, &st) < 0 || !S_ISREG(st.st_mode) ||
		    !(st.st_mode & 0111))
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			names = realloc(names, (size_t)cap * sizeof(*names));
			if (!names)
				abort();
		}
		names[n++] = strdup(de->d_name);
	}
	closedir(d);
	if (n)
		qsort(names, (size_t)n, sizeof(*names), name_cmp);
	*count = n;
	return names;
}

static char *user_path(const char *dir, const char *name)
{
	char *p;

	if (asprintf(&p, "%s/%s", dir, name) < 0)
		abort();
	return p;
}

static void select_tests(const char *userdir, const char *ksdir)
{
	if (param_tests && *param_tests) {
		char *list = strdup(param_tests);
		for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
			if (!strncmp(tok, USER_PREFIX, strlen(USER_PREFIX)))
				add_entry(tok, NULL,
					  user_path(userdir,
						    tok + strlen(USER_PREFIX)), NULL);
			else if (!strncmp(tok, KSELFTEST_PREFIX, strlen(KSELFTEST_PREFIX)))
				add_entry(tok, NULL, NULL,
					  user_path(ksdir, tok + strlen(KSELFTEST_PREFIX)));
			else
				add_entry(tok, find_test(tok), NULL, NULL);
		}
		return;
	}
	for (int i = 0; i < ntests; i++)
		if (!tests[i]->explicit)
			add_entry(tests[i]->name, tests[i], NULL, NULL);

	int nu;
	char **names = list_user(userdir, &nu);
	for (int i = 0; i < nu; i++) {
		char *name;
		if (asprintf(&name, USER_PREFIX "%s", names[i]) < 0)
			abort();
		add_entry(name, NULL, user_path(userdir, names[i]), NULL);
	}
	names = prog_list_kselftest(ksdir, &nu);
	for (int i = 0; i < nu; i++) {
		char *name;
		if (asprintf(&name, KSELFTEST_PREFIX "%s", names[i]) < 0)
			abort();
		add_entry(name, NULL, NULL, user_path(ksdir, names[i]));
	}
}

/* ---- running one child ---- */

struct outcome {
	int status;		/* from waitpid */
	int timed_out;
	double seconds;
	char *out;		/* captured stdout+stderr */
	size_t len;
	int truncated;
};

/* Reads what is there into o (a struct outcome); 0 at end of file. */
static int capture(int fd, void *arg)
{
	struct outcome *o = arg;
	char buf[4096];

	for (;;) {
		ssize_t r = read(fd, buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 && errno == EAGAIN;
		if (o->len + (size_t)r > CAPTURE_MAX) {
			o->truncated = 1;
			continue;
		}
		memcpy(o->out + o->len, buf, (size_t)r);
		o->len += (size_t)r;
	}
}

static void reset_child_state(int outfd)
{
	sigset_t all;
	int null;

	setpgid(0, 0);
	for (int s = 1; s < NSIG; s++)
		signal(s, SIG_DFL);
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	null = open("/dev/null", O_RDONLY);
	if (null >= 0) {
		dup2(null, 0);
		close(null);
	} else {
		close(0);
	}
	dup2(outfd, 1);
	dup2(outfd, 2);
	if (outfd > 2)
		close(outfd);
}

/*
 * Fork; the child runs built-in test `t`; the parent collects output
 * until the child exits or `limit` seconds pass, then kills the child's
 * whole process group.
 */
static void run_child(const struct kt_test *t, double limit,
		      struct outcome *o)
{
	int pfd[2];
	pid_t pid;
	double start = kt_now();

	memset(o, 0, sizeof(*o));
	o->out = malloc(CAPTURE_MAX);
	if (!o->out || pipe2(pfd, O_CLOEXEC) < 0)
		abort();
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		o->status = -1;
		close(pfd[0]);
		close(pfd[1]);
		return;
	}
	if (pid == 0) {
		close(pfd[0]);
		/* dup2 clears O_CLOEXEC on fds 1 and 2 */
		reset_child_state(pfd[1]);
		setvbuf(stdout, NULL, _IOLBF, 0);
		setvbuf(stderr, NULL, _IONBF, 0);
		t->run();
		fflush(NULL);
		_exit(0);
	}
	setpgid(pid, pid);
	close(pfd[1]);
	fcntl(pfd[0], F_SETFL, O_NONBLOCK);
	o->timed_out = kt_reap(pid, pfd[0], start + limit, capture, o, &o->status);
	o->seconds = kt_now() - start;
	close(pfd[0]);
}

/* ---- printing ---- */

static void print_nested(const struct outcome *o)
{
	const char *p = o->out, *end = o->out + o->len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);

		printf("  %.*s\n", (int)n, p);
		p += n + (nl ? 1 : 0);
	}
	if (o->truncated)
		printf("  # kfarm-init: output truncated at %d bytes\n",
		       CAPTURE_MAX);
	printf("  # kfarm-init: %.3f s\n", o->seconds);
}

/* returns 1 for ok, 0 for not ok */
static int report(int n, const char *name, const struct outcome *o,
		  double limit)
{
	const struct kt_shared *sh = kt_sh;
	int st = o->status;

	if (sh->total > 0) {
		printf("  KTAP version 1\n");
		printf("  # Subtest: %s\n", name);
		printf("  1..%d\n", sh->total);
	}
	print_nested(o);

	if (o->timed_out) {
		printf("not ok %d %s # TIMEOUT after %.0fs\n", n, name, limit);
		return 0;
	}
	if (st == -1) {
		printf("not ok %d %s # ERROR cannot fork\n", n, name);
		return 0;
	}
	if (WIFSIGNALED(st)) {
		printf("not ok %d %s # crashed: %s\n", n, name,
		       kt_signame(WTERMSIG(st)));
		return 0;
	}
	if (sh->brok == 2) {
		printf("not ok %d %s # ERROR %s\n", n, name, sh->brok_reason);
		return 0;
	}
	if (WEXITSTATUS(st) != 0) {
		printf("not ok %d %s # ERROR exit status %d\n", n, name,
		       WEXITSTATUS(st));
		return 0;
	}
	if (sh->fail > 0) {
		printf("not ok %d %s\n", n, name);
		return 0;
	}
	if (sh->skip_all == 2) {
		printf("ok %d %s # SKIP %s\n", n, name, sh->skip_reason);
		return 1;
	}
	if (sh->total == 0) {
		printf("not ok %d %s # ERROR no results reported\n", n, name);
		return 0;
	}
	if (sh->skip == sh->total) {
		printf("ok %d %s # SKIP %s\n", n, name,
		       sh->first_skip_set == 2 ? sh->first_skip : "");
		return 1;
	}
	printf("ok %d %s\n", n, name);
	return 1;
}

static int run_entry(int n, const struct entry *e)
{
	struct outcome o;
	double limit;
	int ok;

	if (e->user_path) {
		limit = (double)kt_opt_long("user.timeout", USER_TIMEOUT) *
			kt_scale_val;
		return prog_run_user(n, e->name, e->user_path, limit);
	}
	if (e->kselftest_dir)
		return prog_run_kselftest(n, e->name, e->kselftest_dir, kt_scale_val);
	if (!e->test) {
		printf("not ok %d %s # ERROR unknown test\n", n, e->name);
		return 0;
	}
	for (const struct kt_need *nd = e->test->needs; nd && nd->path; nd++) {
		if (!kt_exists(nd->path)) {
			printf("ok %d %s # SKIP %s missing (%s)\n", n, e->name,
			       nd->path, nd->config ? nd->config : "?");
			return 1;
		}
	}
	limit = (double)test_timeout(e->test) * kt_scale_val;
	limit = (double)(long)(limit + 0.999);
	memset(kt_sh, 0, sizeof(*kt_sh));
	run_child(e->test, limit, &o);
	ok = report(n, e->name, &o, limit);
	free(o.out);
	return ok;
}

/* ---- modes ---- */

static int list(int all)
{
	for (int i = 0; i < ntests; i++) {
		const struct kt_test *t = tests[i];
		if (!all) {
			if (!t->explicit)
				printf("%s\n", t->name);
			continue;
		}
		printf("%-12s %-8s %4us  %s\n", t->name,
		       t->explicit ? "explicit" : "default", test_timeout(t),
		       t->desc ? t->desc : "");
	}
	return 0;
}

static int probe(int argc, char **argv)
{
	const struct kt_test *t = find_test(argv[0]);

	if (!t || !t->probe) {
		fprintf(stderr, "init: no probe mode for '%s'\n", argv[0]);
		return 2;
	}
	return t->probe(argc, argv);
}

/* Host mode: the arguments stand for the kernel command line. Only whole
 * arguments are kept (a cut one could read as another option); the first
 * that does not fit and everything after it are dropped, and said so. */
static void host_cmdline(char *buf, size_t size, int argc, char **argv)
{
	size_t n = 0;

	buf[0] = '\0';
	for (int i = 1; i < argc; i++) {
		size_t len = strlen(argv[i]);

		if (len + 2 > size - n) {
			size_t k = strlen(setup_notes);

			snprintf(setup_notes + k, sizeof(setup_notes) - k,
				 "# kfarm-init: command line over %zu bytes: "
				 "argument %d and the %d after it ignored\n",
				 size - 1, i, argc - 1 - i);
			return;
		}
		memcpy(buf + n, argv[i], len);
		n += len;
		buf[n++] = ' ';
		buf[n] = '\0';
	}
}

int main(int argc, char **argv)
{
	static char cmdline[8192];
	struct utsname u;
	int failed = 0;

	load_registry();
	if (argc > 2 && !strcmp(argv[1], "--probe"))
		return probe(argc - 2, argv + 2);
	if (argc > 1 && !strcmp(argv[1], "--list"))
		return list(1);
	if (argc > 1 && !strcmp(argv[1], "--list-default"))
		return list(0);

	pid1 = getpid() == 1;
	if (pid1) {
		setup_pid1();
		if (kt_read_file("/proc/cmdline", cmdline, sizeof(cmdline)) < 0)
			note("cannot read", "/proc/cmdline");
	} else {
		host_cmdline(cmdline, sizeof(cmdline), argc, argv);
	}
	/* the console shared with the kernel: another CPU's KERN_INFO line (a
	 * late driver probe) can land inside one of /init's KTAP lines, so
	 * while /init writes only levels 0-4 reach it (warnings, oopses and
	 * panics still do; everything stays in dmesg), unless the command
	 * line sets its own loglevel */
	if (pid1 && !strstr(cmdline, "loglevel"))
		klogctl(8 /* SYSLOG_ACTION_CONSOLE_LEVEL */, NULL, 5);
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	if (pid1 && !kt_exists(kt_exe_path))
		kt_exe_path = "/init";	/* no procfs */

	printf("KTAP version 1\n");
	if (uname(&u) == 0)
		printf("# kfarm-init: uname %s %s %s %s\n", u.sysname,
		       u.release, u.version, u.machine);
	fputs(setup_notes, stdout);

	parse_cmdline(cmdline);
	if (kt_scale_val != 1.0)
		printf("# kfarm-init: scale %g\n", kt_scale_val);
	if (*kt_opts_str)
		printf("# kfarm-init: opt %s\n", kt_opts_str);

	kt_sh = mmap(NULL, sizeof(struct kt_shared), PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (kt_sh == MAP_FAILED) {
		printf("1..0 # SKIP cannot map the shared result page\n");
		if (pid1)
			end_pid1();
		return 1;
	}

	select_tests(param_userdir ? param_userdir
		     : pid1 ? USER_DIR : "/nonexistent",
		     param_ksdir ? param_ksdir : pid1 ? KSELFTEST_DIR : "/nonexistent");
	printf("1..%d\n", nsel);
	for (int i = 0; i < nsel; i++)
		if (!run_entry(i + 1, &sel[i]))
			failed++;

	printf("# kfarm-init: done\n");
	if (pid1)
		end_pid1();
	return failed ? 1 : 0;
}
