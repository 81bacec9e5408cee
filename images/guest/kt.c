/*
 * kt.c - the test-side half of the harness: result reporting into the
 * shared page, options, small helpers.  The runner side is in init.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kt.h"
#include "kt_int.h"

struct kt_shared *kt_sh;
const char *kt_opts_str = "";
double kt_scale_val = 1.0;
const char *kt_exe_path = "/proc/self/exe";

static void emit(const char *fmt, ...) KT_PRINTF(1, 2);

/* one write() per line so lines from several processes never interleave */
static void vemit(const char *prefix, const char *fmt, va_list ap)
{
	char buf[1024];
	size_t n = 0;

	if (prefix)
		n = (size_t)snprintf(buf, sizeof(buf), "%s", prefix);
	if (n < sizeof(buf))
		vsnprintf(buf + n, sizeof(buf) - n, fmt, ap);
	n = strlen(buf);
	/* results are single lines: fold any newline in a reason */
	for (size_t i = 0; i < n; i++)
		if (buf[i] == '\n')
			buf[i] = ' ';
	if (n >= sizeof(buf) - 1)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	fflush(stdout);
	for (size_t off = 0; off < n;) {
		ssize_t w = write(1, buf + off, n - off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		off += (size_t)w;
	}
}

static void emit(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vemit(NULL, fmt, ap);
	va_end(ap);
}

static int next_number(void)
{
	if (!kt_sh) {
		static int local;
		return ++local;
	}
	return __atomic_add_fetch(&kt_sh->total, 1, __ATOMIC_SEQ_CST);
}

static void count(int *field)
{
	if (kt_sh)
		__atomic_add_fetch(field, 1, __ATOMIC_SEQ_CST);
}

/* copy a reason once into `dst` (guarded by `flag`) */
static void set_once(int *flag, char *dst, size_t size, const char *s)
{
	int zero = 0;

	if (!kt_sh)
		return;
	if (__atomic_compare_exchange_n(flag, &zero, 1, 0, __ATOMIC_SEQ_CST,
					__ATOMIC_SEQ_CST)) {
		size_t n = strnlen(s, size - 1);
		memcpy(dst, s, n);
		dst[n] = 0;
		__atomic_store_n(flag, 2, __ATOMIC_SEQ_CST);
	}
}

void kt_pass(const char *name)
{
	count(kt_sh ? &kt_sh->pass : NULL);
	emit("ok %d %s", next_number(), name);
}

void kt_pass_note(const char *name, const char *fmt, ...)
{
	char note[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(note, sizeof(note), fmt, ap);
	va_end(ap);
	count(kt_sh ? &kt_sh->pass : NULL);
	emit("ok %d %s # %s", next_number(), name, note);
}

static void vresult(const char *name, int fail, const char *fmt, va_list ap)
{
	char reason[512];

	vsnprintf(reason, sizeof(reason), fmt, ap);
	if (kt_sh) {
		if (fail) {
			count(&kt_sh->fail);
		} else {
			count(&kt_sh->skip);
			set_once(&kt_sh->first_skip_set, kt_sh->first_skip,
				 sizeof(kt_sh->first_skip), reason);
		}
	}
	if (fail)
		emit("not ok %d %s # %s", next_number(), name, reason);
	else
		emit("ok %d %s # SKIP %s", next_number(), name, reason);
}

void kt_fail(const char *name, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vresult(name, 1, fmt, ap);
	va_end(ap);
}

void kt_skip(const char *name, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vresult(name, 0, fmt, ap);
	va_end(ap);
}

int kt_check(int cond, const char *name, const char *fmt, ...)
{
	va_list ap;

	if (cond) {
		kt_pass(name);
		return 1;
	}
	va_start(ap, fmt);
	vresult(name, 1, fmt, ap);
	va_end(ap);
	return 0;
}

void kt_diag(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vemit("# ", fmt, ap);
	va_end(ap);
}

static void vverdict(int kind, const char *fmt, va_list ap)
{
	char reason[512];

	vsnprintf(reason, sizeof(reason), fmt, ap);
	if (kt_sh) {
		int *flag = kind == KT_VERDICT_SKIP ? &kt_sh->skip_all
						    : &kt_sh->brok;
		set_once(flag, kind == KT_VERDICT_SKIP ? kt_sh->skip_reason
						       : kt_sh->brok_reason,
			 sizeof(kt_sh->skip_reason), reason);
	}
	if (kind == KT_VERDICT_SKIP)
		kt_diag("skip: %s", reason);
	else
		kt_diag("error: %s", reason);
}

void kt_skip_all(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vverdict(KT_VERDICT_SKIP, fmt, ap);
	va_end(ap);
	fflush(NULL);
	_exit(0);
}

void kt_conclude_skip(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vverdict(KT_VERDICT_SKIP, fmt, ap);
	va_end(ap);
}

void kt_brok(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vverdict(KT_VERDICT_BROK, fmt, ap);
	va_end(ap);
	fflush(NULL);
	_exit(KT_EXIT_BROK);
}

const char *kt_errname(int err)
{
	static __thread char buf[16];
	const char *s = strerrorname_np(err);

	if (s)
		return s;
	snprintf(buf, sizeof(buf), "errno%d", err);
	return buf;
}

const char *kt_signame(int sig)
{
	static __thread char buf[16];
	const char *s = sigabbrev_np(sig);

	if (s)
		snprintf(buf, sizeof(buf), "SIG%s", s);
	else
		snprintf(buf, sizeof(buf), "signal %d", sig);
	return buf;
}

/* find KEY in "k1=v1,k2=v2"; values run to the next comma */
const char *kt_opt(const char *key, const char *def)
{
	static __thread char val[256];
	size_t klen = strlen(key);
	const char *p = kt_opts_str;

	while (p && *p) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (len > klen && !strncmp(p, key, klen) && p[klen] == '=') {
			size_t vlen = len - klen - 1;
			if (vlen >= sizeof(val))
				vlen = sizeof(val) - 1;
			memcpy(val, p + klen + 1, vlen);
			val[vlen] = 0;
			return val;
		}
		p = end ? end + 1 : NULL;
	}
	return def;
}

long kt_opt_long(const char *key, long def)
{
	const char *v = kt_opt(key, NULL);
	char *end;
	long r;

	if (!v || !*v)
		return def;
	r = strtol(v, &end, 0);
	return *end ? def : r;
}

double kt_scale(void)
{
	return kt_scale_val;
}

double kt_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct utsname *uts(void)
{
	static struct utsname u;

	if (!u.sysname[0] && uname(&u) < 0)
		strcpy(u.machine, "?");
	return &u;
}

const char *kt_machine(void)
{
	return uts()->machine;
}

const char *kt_release(void)
{
	return uts()->release;
}

int kt_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

long kt_read_file(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t n = 0;

	if (fd < 0)
		return -1;
	while (n + 1 < size) {
		ssize_t r = read(fd, buf + n, size - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	buf[n] = 0;
	close(fd);
	return (long)n;
}

const char *kt_self_exe(void)
{
	return kt_exe_path;
}

int kt_reap(pid_t pid, int fd, double deadline, int (*drain)(int fd, void *arg), void *arg,
	    int *status)
{
	int timed_out = 0;

	for (int open_ = 1;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		double left = deadline > 0 ? deadline - kt_now() : 1;
		int ms = left <= 0 ? 0 : left > 0.05 ? 50 : (int)(left * 1000) + 1;

		if (open_) {
			poll(&p, 1, ms);
			open_ = drain(fd, arg);	/* also when quiet: drain keeps time */
		} else {
			usleep((useconds_t)ms * 1000);
		}
		if (waitpid(pid, status, WNOHANG) == pid)
			break;
		if (deadline > 0 && kt_now() >= deadline) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			while (waitpid(pid, status, 0) < 0 && errno == EINTR)
				;
			timed_out = 1;
			break;
		}
	}
	kill(-pid, SIGKILL);	/* whatever it left behind in its group */
	drain(fd, arg);
	while (waitpid(-1, NULL, WNOHANG) > 0)	/* orphans, as PID 1 */
		;
	return timed_out;
}
