/*
 * prog.c - user programs and kselftest targets under /init (see prog.h).
 *
 * Why stream: a long kselftest program that prints nothing for minutes
 * looks dead to the runner's silence timeout, and a program whose stdout is
 * fully buffered (a pipe) loses everything when it is killed on timeout.
 * A pty makes stdio line-buffered; the pipe is the fallback when the kernel
 * has no devpts (tinyconfig), said in the program's trailing note.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "kt.h"
#include "kt_int.h"
#include "prog.h"

#define LINE_CAP 4096			/* longer lines are printed in pieces */
#define OUT_MAX (256 * 1024)		/* bytes of one program's output shown */
#define REASON_MAX 200
#define HEARTBEAT_S 30			/* a quiet program's "still running" note, every
					 * (kfarm.opt=user.heartbeat=S) */

/* What one program printed that decides or explains its result. */
struct scan {
	const char *indent;
	char line[LINE_CAP];
	size_t n;
	size_t shown, dropped;
	char skip[REASON_MAX];		/* "1..0 # SKIP reason" */
	char bail[REASON_MAX];		/* "Bail out! reason" */
	char loader[REASON_MAX];	/* the dynamic loader's complaint */
	char totals[REASON_MAX];	/* "# Totals:" with fail or error > 0 */
	double t_start, t_said;		/* the program's start, its last line or our heartbeat */
	double heartbeat;		/* seconds of quiet before a heartbeat (user.heartbeat) */
};

struct run_out {
	int status;		/* from waitpid, -1: could not fork */
	int timed_out;
	int via_pty;
	double seconds;
};

/* a reason goes on one KTAP line: no controls, no '#' confusion needed */
static void set_reason(char *dst, const char *s, size_t len)
{
	size_t k = 0;

	while (len && isspace((unsigned char)*s))
		s++, len--;
	while (len && isspace((unsigned char)s[len - 1]))
		len--;
	for (size_t i = 0; i < len && k + 1 < REASON_MAX; i++)
		dst[k++] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	dst[k] = '\0';
}

static int starts(const char *s, size_t len, const char *p)
{
	size_t n = strlen(p);

	return len >= n && !memcmp(s, p, n);
}

/* "name:N" in a kselftest Totals line */
static long total_of(const char *s, size_t len, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i + n < len; i++)
		if (!memcmp(s + i, name, n) && (i == 0 || s[i - 1] == ' '))
			return strtol(s + i + n, NULL, 10);
	return 0;
}

static void scan_line(struct scan *sc, const char *s, size_t len)
{
	while (len && (*s == ' ' || *s == '\t'))
		s++, len--;
	if (starts(s, len, "1..0") && !sc->skip[0]) {
		const char *h = memchr(s, '#', len);

		if (h) {
			size_t rl = len - (size_t)(h + 1 - s);
			const char *r = h + 1;

			while (rl && *r == ' ')
				r++, rl--;
			if (rl >= 4 && !strncasecmp(r, "SKIP", 4))
				r += 4, rl -= 4;
			set_reason(sc->skip, r, rl);
		}
		if (!sc->skip[0])
			snprintf(sc->skip, sizeof(sc->skip), "no tests to run (plan 1..0)");
	} else if (starts(s, len, "Bail out!") && !sc->bail[0]) {
		set_reason(sc->bail, s, len);
	} else if (starts(s, len, "# Totals:")) {
		char tmp[LINE_CAP + 1];

		memcpy(tmp, s, len);
		tmp[len] = '\0';
		if (total_of(tmp, len, "fail:") > 0 || total_of(tmp, len, "error:") > 0)
			set_reason(sc->totals, s + 2, len - 2);
		else
			sc->totals[0] = '\0';
	} else if (!sc->loader[0] && memmem(s, len, "error while loading shared libraries", 36)) {
		set_reason(sc->loader, s, len);
	}
}

static void emit_line(struct scan *sc, const char *s, size_t len)
{
	while (len && s[len - 1] == '\r')
		len--;
	scan_line(sc, s, len);
	if (sc->shown + len > OUT_MAX) {
		sc->dropped += len + 1;
		return;
	}
	sc->shown += len + 1;
	printf("%s%.*s\n", sc->indent, (int)len, s);
	sc->t_said = kt_now();
}

/* A program may be quiet for minutes by design (timers' raw_skew sleeps
 * 120 s after a half line): say that it still runs, so that the runner's
 * silence timeout keeps meaning "the guest stopped", while the program's
 * own limit is its settings timeout. A half line stays whole: the note is
 * printed before it on its own line. */
static void heartbeat(struct scan *sc)
{
	double now = kt_now();

	if (now - sc->t_said < sc->heartbeat)
		return;
	printf("%s# kfarm-init: still running after %.0f s\n", sc->indent, now - sc->t_start);
	fflush(stdout);
	sc->t_said = now;
}

static void feed(struct scan *sc, const char *buf, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (buf[i] == '\n') {
			emit_line(sc, sc->line, sc->n);
			sc->n = 0;
			continue;
		}
		if (sc->n == sizeof(sc->line)) {
			emit_line(sc, sc->line, sc->n);
			sc->n = 0;
		}
		sc->line[sc->n++] = buf[i];
	}
}

/* reads what is there through sc (a struct scan); returns 0 at end of
 * file (EOF, or EIO on a pty whose last writer is gone), 1 otherwise */
static int drain(int fd, void *arg)
{
	struct scan *sc = arg;
	char buf[4096];

	for (;;) {
		ssize_t r = read(fd, buf, sizeof(buf));

		if (r > 0) {
			feed(sc, buf, (size_t)r);
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			heartbeat(sc);
		return r < 0 && errno == EAGAIN;
	}
}

static int open_pty(char *slave, size_t n)
{
	int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);

	if (m < 0)
		return -1;
	if (grantpt(m) < 0 || unlockpt(m) < 0 || ptsname_r(m, slave, n)) {
		close(m);
		return -1;
	}
	return m;
}

static void child(const char *path, const char *cwd, int out, const char *slave)
{
	sigset_t none;
	int null;

	setsid();
	if (slave) {
		struct termios t;

		out = open(slave, O_RDWR);
		if (out < 0)
			_exit(127);
		ioctl(out, TIOCSCTTY, 0);
		/* raw: no "\r\n", no echo */
		if (tcgetattr(out, &t) == 0) {
			cfmakeraw(&t);
			tcsetattr(out, TCSANOW, &t);
		}
	}
	for (int s = 1; s < NSIG; s++)
		signal(s, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	null = open("/dev/null", O_RDONLY);
	if (null >= 0 && null != 0) {
		dup2(null, 0);
		close(null);
	}
	dup2(out, 1);
	dup2(out, 2);
	if (out > 2)
		close(out);
	if (cwd && chdir(cwd) < 0)
		fprintf(stderr, "# cannot chdir %s: %s\n", cwd, strerror(errno));
	execl(path, path, (char *)NULL);
	fprintf(stderr, "# cannot exec %s: %s\n", path, strerror(errno));
	_exit(127);
}

/* Runs path (in cwd) for at most limit seconds (0: no limit of its own),
 * streaming its output through sc. */
static void run(const char *path, const char *cwd, double limit, struct scan *sc,
		struct run_out *o)
{
	char slave[128];
	int fd, pfd[2] = { -1, -1 };
	double start = kt_now();
	pid_t pid;

	memset(o, 0, sizeof(*o));
	sc->t_start = sc->t_said = start;
	sc->heartbeat = (double)kt_opt_long("user.heartbeat", HEARTBEAT_S);
	fd = open_pty(slave, sizeof(slave));
	o->via_pty = fd >= 0;
	if (fd < 0) {
		if (pipe2(pfd, O_CLOEXEC) < 0) {
			o->status = -1;
			return;
		}
		fd = pfd[0];
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		o->status = -1;
		close(fd);
		if (pfd[1] >= 0)
			close(pfd[1]);
		return;
	}
	if (pid == 0)
		child(path, cwd, pfd[1], o->via_pty ? slave : NULL);
	setpgid(pid, pid);
	if (pfd[1] >= 0)
		close(pfd[1]);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	o->timed_out = kt_reap(pid, fd, limit > 0 ? start + limit : 0, drain, sc, &o->status);
	o->seconds = kt_now() - start;
	if (sc->n) {
		emit_line(sc, sc->line, sc->n);
		sc->n = 0;
	}
	close(fd);
}

/* A script whose interpreter the guest lacks ("#!/bin/sh": there is no
 * shell): the reason to SKIP it, or 0. */
static int missing_interpreter(const char *path, char *why, size_t n)
{
	char head[256], interp[200];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t r;
	size_t k = 0, i = 2;

	if (fd < 0)
		return 0;
	r = read(fd, head, sizeof(head) - 1);
	close(fd);
	if (r < 2 || head[0] != '#' || head[1] != '!')
		return 0;
	head[r] = '\0';
	while (head[i] == ' ' || head[i] == '\t')
		i++;
	while (head[i] && !isspace((unsigned char)head[i]) && k + 1 < sizeof(interp))
		interp[k++] = head[i++];
	interp[k] = '\0';
	if (k && access(interp, X_OK) == 0)
		return 0;
	snprintf(why, n, "script for %s, which kfarm's guest does not have",
		 k ? interp : "(no interpreter)");
	return 1;
}

enum verdict { V_FAIL, V_PASS, V_SKIP };

/* kselftest's rules; why receives the directive or reason */
static enum verdict judge(const struct run_out *o, const struct scan *sc, double limit,
			  char *why, size_t n)
{
	int st = o->status, code;

	why[0] = '\0';
	if (o->timed_out) {
		snprintf(why, n, "TIMEOUT after %.0fs", limit);
		return V_FAIL;
	}
	if (st == -1) {
		snprintf(why, n, "ERROR cannot fork");
		return V_FAIL;
	}
	if (WIFSIGNALED(st)) {
		snprintf(why, n, "crashed: %s", kt_signame(WTERMSIG(st)));
		return V_FAIL;
	}
	code = WEXITSTATUS(st);
	if (code == 4) {
		snprintf(why, n, "SKIP %s", sc->skip[0] ? sc->skip : "exit status 4");
		return V_SKIP;
	}
	if (code == 0 && sc->totals[0]) {
		snprintf(why, n, "exit status 0 but %s", sc->totals);
		return V_FAIL;
	}
	if (code == 0)
		return V_PASS;
	snprintf(why, n, "exit status %d%s%s", code,
		 sc->loader[0] || sc->bail[0] || sc->totals[0] ? ": " : "",
		 sc->loader[0] ? sc->loader : sc->bail[0] ? sc->bail : sc->totals);
	return V_FAIL;
}

static void print_result(const char *indent, enum verdict v, int n, const char *name,
			 const char *why)
{
	printf("%s%s %d %s%s%s\n", indent, v == V_FAIL ? "not ok" : "ok", n, name,
	       why[0] ? " # " : "", why);
}

/* One program: output and notes under indent+"  ", its result at indent. */
static enum verdict run_one(const char *indent, int n, const char *name, const char *path,
			    const char *cwd, double limit)
{
	char sub[32], why[2 * REASON_MAX + 64];
	struct scan *sc;
	struct run_out o;
	enum verdict v;

	if (access(path, X_OK) < 0) {
		snprintf(why, sizeof(why), "ERROR %s: %s", path, strerror(errno));
		print_result(indent, V_FAIL, n, name, why);
		return V_FAIL;
	}
	if (missing_interpreter(path, why + 5, sizeof(why) - 5)) {
		memcpy(why, "SKIP ", 5);
		print_result(indent, V_SKIP, n, name, why);
		return V_SKIP;
	}
	snprintf(sub, sizeof(sub), "%s  ", indent);
	sc = calloc(1, sizeof(*sc));
	if (!sc)
		abort();
	sc->indent = sub;
	run(path, cwd, limit, sc, &o);
	if (sc->dropped)
		printf("%s# kfarm-init: output truncated at %d bytes (%zu more dropped)\n", sub,
		       OUT_MAX, sc->dropped);
	printf("%s# kfarm-init: %.3f s%s\n", sub, o.seconds, o.via_pty ? "" : " (pipe: no pty)");
	v = judge(&o, sc, limit, why, sizeof(why));
	print_result(indent, v, n, name, why);
	free(sc);
	return v;
}

int prog_run_user(int n, const char *name, const char *path, double limit)
{
	return run_one("", n, name, path, NULL, limit) != V_FAIL;
}

/* "timeout=N" from the target's settings file, else kselftest's default */
static long settings_timeout(const char *dir)
{
	char path[4096], buf[4096];
	long t = KSELFTEST_DEFAULT_TIMEOUT;

	snprintf(path, sizeof(path), "%s/settings", dir);
	if (kt_read_file(path, buf, sizeof(buf)) < 0)
		return t;
	for (char *l = strtok(buf, "\n"); l; l = strtok(NULL, "\n"))
		if (!strncmp(l, "timeout=", 8))
			t = strtol(l + 8, NULL, 10);
	return t < 0 ? KSELFTEST_DEFAULT_TIMEOUT : t;
}

static char **read_list(const char *dir, int *count)
{
	char path[4096], *buf;
	char **v = NULL;
	int n = 0;

	*count = 0;
	snprintf(path, sizeof(path), "%s/kfarm-list", dir);
	buf = malloc(1 << 16);
	if (!buf)
		abort();
	if (kt_read_file(path, buf, 1 << 16) < 0) {
		free(buf);
		return NULL;
	}
	for (char *l = strtok(buf, "\n"); l; l = strtok(NULL, "\n")) {
		if (!*l || strstr(l, ".."))
			continue;
		v = realloc(v, (size_t)(n + 1) * sizeof(*v));
		if (!v || !(v[n++] = strdup(l)))
			abort();
	}
	free(buf);
	*count = n;
	return v;
}

int prog_run_kselftest(int n, const char *name, const char *dir, double scale)
{
	long tmo = settings_timeout(dir);
	double limit = tmo ? (double)(long)((double)tmo * scale + 0.999) : 0;
	int np, nfail = 0, nskip = 0;
	char **progs = read_list(dir, &np);
	char failed[REASON_MAX] = "", path0[4096], builderr[REASON_MAX];
	size_t fl = 0;

	if (access(dir, X_OK) < 0 || !progs) {
		printf("not ok %d %s # ERROR %s: %s\n", n, name, dir,
		       access(dir, X_OK) < 0 ? strerror(errno) : "no kfarm-list");
		return 0;
	}
	printf("  KTAP version 1\n");
	printf("  # Subtest: %s\n", name);
	if (tmo)
		printf("  # kfarm-init: timeout %.0fs per program (settings timeout=%ld)\n",
		       limit, tmo);
	else
		printf("  # kfarm-init: no time limit per program (settings timeout=0)\n");
	snprintf(path0, sizeof(path0), "%s/kfarm-build-error", dir);
	if (kt_read_file(path0, builderr, sizeof(builderr)) > 0) {
		builderr[strcspn(builderr, "\n")] = '\0';
		printf("  # kfarm-init: target did not build completely: %s\n", builderr);
	} else {
		builderr[0] = '\0';
	}
	printf("  1..%d\n", np);
	for (int i = 0; i < np; i++) {
		char path[4096], cwd[4096], *slash;
		const char *base;
		enum verdict v;

		snprintf(path, sizeof(path), "%s/%s", dir, progs[i]);
		snprintf(cwd, sizeof(cwd), "%s", path);
		slash = strrchr(cwd, '/');
		*slash = '\0';
		/* named as kselftest collects it: futex/functional's programs are
		 * "functional/futex_wait", and the two run.sh stay apart */
		base = progs[i];
		v = run_one("  ", i + 1, base, path, cwd, limit);
		if (v == V_SKIP)
			nskip++;
		if (v == V_FAIL) {
			nfail++;
			if (fl + strlen(base) + 3 < sizeof(failed))
				fl += (size_t)snprintf(failed + fl, sizeof(failed) - fl, "%s%s",
						       fl ? ", " : "", base);
		}
		free(progs[i]);
	}
	free(progs);
	if (nfail) {
		printf("not ok %d %s # %d of %d failed: %s\n", n, name, nfail, np, failed);
		return 0;
	}
	if (!np && builderr[0]) {
		printf("not ok %d %s # ERROR not built: %s\n", n, name, builderr);
		return 0;
	}
	if (nskip == np)
		printf("ok %d %s # SKIP %s\n", n, name,
		       np ? "every program skipped" : "no programs");
	else
		printf("ok %d %s\n", n, name);
	return 1;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

char **prog_list_kselftest(const char *root, int *count)
{
	DIR *d = opendir(root);
	struct dirent *de;
	char **v = NULL;
	int n = 0;

	*count = 0;
	if (!d)
		return NULL;
	while ((de = readdir(d))) {
		char path[4096];

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s/kfarm-list", root, de->d_name);
		if (access(path, R_OK) < 0)
			continue;
		v = realloc(v, (size_t)(n + 1) * sizeof(*v));
		if (!v || !(v[n++] = strdup(de->d_name)))
			abort();
	}
	closedir(d);
	if (n)
		qsort(v, (size_t)n, sizeof(*v), name_cmp);
	*count = n;
	return v;
}
