#include "build.h"
#include "source.h"
#include "text.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <openssl/evp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static const char *kernel_sh(void)
{
	const char *e = getenv("KFARM_KERNEL_SH");

	return e && *e ? e : KFARM_ARCHES_DIR "/../images/kernel.sh";
}

static void sha_text(const char *s, size_t n, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len;

	EVP_Digest(s, n, md, &len, EVP_sha256(), NULL);
	for (unsigned int i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
}

static char *jstr(json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));

	return v && *v ? xstrdup(v) : NULL;
}

int build_config_parse(const char *spec, struct build_config *c, struct err *e)
{
	const char *file = spec && *spec == '+' ? spec + 1 : spec;
	char *abs, sha[65], *base;

	memset(c, 0, sizeof(*c));
	if (!spec || !strcmp(spec, "kfarm") || !strcmp(spec, "defconfig")) {
		c->name = xstrdup(spec ? spec : "kfarm");
		c->arg = xstrdup(c->name);
		c->bdir = xstrdup(spec && *spec == 'd' ? "-defconfig" : "");
		return 0;
	}
	if (!*file || !(abs = realpath(file, NULL)))
		return err_set(e, 0, "--config '%s': %s", spec, *file ? strerror(errno) : "no file");
	if (access(abs, R_OK) < 0 || sha256_file(abs, sha) < 0) {
		free(abs);
		return err_set(e, 0, "--config '%s': cannot read it", spec);
	}
	/* the name is what the user compares by; the O= tree is per file */
	base = strrchr(abs, '/') + 1;
	c->name = xasprintf("%s%s", file == spec ? "file:" : "kfarm+", base);
	c->arg = xasprintf("%s:%s", file == spec ? "file" : "frag", abs);
	sha_text(abs, strlen(abs), sha);
	c->bdir = xasprintf("-%s-%.12s", file == spec ? "file" : "frag", sha);
	free(abs);
	return 0;
}

void build_config_release(struct build_config *c)
{
	free(c->name), free(c->arg), free(c->bdir);
	memset(c, 0, sizeof(*c));
}

void build_set(struct build *b, const char *arch, const struct build_config *c,
	       enum build_status status, const char *error)
{
	memset(b, 0, sizeof(*b));
	b->arch = xstrdup(arch);
	b->config = xstrdup(c->name);
	b->status = status;
	b->error = error ? xstrdup(error) : NULL;
	b->started = now_wall();
}

/* The script's own complaint ("kernel: error: no compiler ..."), valid
 * UTF-8 (gcc's quotes stay; rendered for a terminal when shown) */
static char *script_error(const char *out, int rc)
{
	const char *p = out, *last = NULL;

	for (; (p = strstr(p, "kernel: error: ")); p++)
		last = p + 15;
	if (!last)
		return xasprintf("images/kernel.sh exited with status %d", rc);
	return text_clip_utf8(last, strcspn(last, "\n"), 300);
}

static unsigned int make_jobs;
static int build_nice;
static void (*out_fn)(void *data, const char *arch, const char *line);
static void *out_data;

void build_set_output(void (*fn)(void *data, const char *arch, const char *line), void *data)
{
	out_fn = fn;
	out_data = data;
}

void build_set_jobs(unsigned int jobs, int nice)
{
	make_jobs = jobs;
	build_nice = nice;
}

static void read_result(struct build *b, const char *path)
{
	json_error_t je;
	json_t *r = json_load_file(path, 0, &je);
	const char *st = json_string_value(json_object_get(r, "status"));

	if (!r || !st) {
		b->status = BS_ERROR;
		b->error = xasprintf("images/kernel.sh left no result record: %s", je.text);
		json_decref(r);
		return;
	}
	b->status = !strcmp(st, "built") || !strcmp(st, "cached") ? BS_PASS : BS_FAIL;
	b->cached = strstr(st, "cached") != NULL;
	b->error = jstr(r, "error");
	b->compiler = jstr(r, "compiler");
	b->config_sha256 = jstr(r, "config_sha256");
	b->release = jstr(r, "release");
	b->key = jstr(r, "key");
	b->image = jstr(r, "image");
	b->log = jstr(r, "log");
	b->warnings = json_integer_value(json_object_get(r, "warnings"));
	if (b->status == BS_PASS && (!b->image || access(b->image, R_OK) < 0)) {
		b->status = BS_ERROR;
		free(b->error);
		b->error = xstrdup("the build passed but its image is missing from the cache");
	}
	json_decref(r);
}

/* environ plus JOBS=N when make's parallelism is set */
static char **child_env(char *jobs, size_t len)
{
	size_t n = 0;
	char **env;

	while (environ[n])
		n++;
	env = xcalloc(n + 2, sizeof(*env));
	for (size_t i = 0, k = 0; i < n; i++)
		if (strncmp(environ[i], "JOBS=", 5) || !make_jobs)
			env[k++] = environ[i];
	if (make_jobs) {
		snprintf(jobs, len, "JOBS=%u", make_jobs);
		for (n = 0; env[n]; n++)
			;
		env[n] = jobs;
	}
	return env;
}

static int start_failed(struct build_proc *bp)
{
	if (bp->res[0])
		unlink(bp->res);
	sb_release(&bp->out);
	sb_release(&bp->line);
	bp->phase = BP_DONE;
	return -1;
}

int build_start(const struct source *s, const struct build_config *c, const char *arch,
		struct build_proc *bp, struct build *b)
{
	int fd, pipefd[2], rc;
	char nice_arg[16], jobs[32], *bdir, **env;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, dfl;

	memset(bp, 0, sizeof(*bp));
	bp->pidfd = bp->out_fd = -1;
	bp->at_bol = 1;
	bp->t0 = now_mono();
	sb_init(&bp->out);
	sb_init(&bp->line);
	build_set(b, arch, c, BS_ERROR, NULL);
	bp->arch = b->arch;
	snprintf(bp->res, sizeof(bp->res), "/tmp/kfarm-build-XXXXXX");
	if ((fd = mkstemp(bp->res)) < 0) {
		bp->res[0] = '\0';
		b->error = xstrdup("cannot create a temporary file");
		return start_failed(bp);
	}
	close(fd);
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		b->error = xasprintf("pipe: %s", strerror(errno));
		return start_failed(bp);
	}
	bdir = xasprintf("%s%s", s->bdir, c->bdir);
	snprintf(nice_arg, sizeof(nice_arg), "%d", build_nice);
	char *argv[] = { "nice", "-n", nice_arg, "bash", (char *)kernel_sh(), "--src", s->dir,
			 "--id", s->id, "--bdir", bdir, "--config", c->arg, "--result", bp->res,
			 (char *)arch, NULL };

	fprintf(stderr, "kfarm: building %s %s (%s, config %s)\n", arch, s->label, s->tree,
		c->name);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
	/* its own process group, signals as the default: a signal for kfarm
	 * (kill PID) is forwarded to the whole build, not left to orphan it */
	posix_spawnattr_init(&at);
	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGINT);
	sigaddset(&dfl, SIGTERM);
	sigaddset(&dfl, SIGHUP);
	sigaddset(&dfl, SIGPIPE);
	posix_spawnattr_setpgroup(&at, 0);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &dfl);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
				      POSIX_SPAWN_SETSIGDEF);
	env = child_env(jobs, sizeof(jobs));
	rc = posix_spawnp(&bp->pid, argv[0], &fa, &at, argv, env);
	free(env);
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
	close(pipefd[1]);
	free(bdir);
	if (rc) {
		close(pipefd[0]);
		b->error = xasprintf("cannot run images/kernel.sh: %s", strerror(rc));
		return start_failed(bp);
	}
	bp->out_fd = pipefd[0];
	fcntl(bp->out_fd, F_SETFL, O_NONBLOCK);
	bp->pidfd = (int)syscall(SYS_pidfd_open, bp->pid, 0);
	return 0;
}

/* "kernel: phase compile steps N log PATH" (images/kernel.sh): the phase,
 * not shown; any other line is shown as it comes, rendered safe. */
static void script_line(struct build_proc *bp, const char *l, size_t n)
{
	struct text_pool tp = { 0 };
	char *one;

	if (n >= 14 && !strncmp(l, "kernel: phase ", 14)) {
		char *v = xstrndup(l + 14, n - 14), *p;

		if (!strncmp(v, "configure", 9))
			bp->phase = BP_CONFIGURE;
		else if (!strncmp(v, "compile", 7)) {
			bp->phase = BP_COMPILE;
			if ((p = strstr(v, " steps ")))
				bp->expect = strtol(p + 7, NULL, 10);
			if ((p = strstr(v, " log ")) && !bp->log) {
				struct stat st;

				bp->log = xstrdup(p + 5);
				/* make's steps from here: the configuration's are not */
				if (stat(bp->log, &st) == 0)
					bp->log_off = st.st_size;
			}
		}
		free(v);
		return;
	}
	one = text_clip_utf8(l, n, 400);
	if (out_fn)
		out_fn(out_data, bp->arch, text_term(&tp, one));
	else
		fprintf(stderr, "  %s: %s\n", bp->arch, text_term(&tp, one));
	free(one);
	text_pool_release(&tp);
}

static void take(struct build_proc *bp, const char *buf, size_t n)
{
	size_t max = 256 << 10;

	if (bp->out.len < max)
		sb_add(&bp->out, buf, n < max - bp->out.len ? n : max - bp->out.len);
	for (size_t i = 0; i < n; i++) {
		if (buf[i] != '\n') {
			if (bp->line.len < 4096)
				sb_add(&bp->line, buf + i, 1);
			continue;
		}
		script_line(bp, bp->line.buf, bp->line.len);
		sb_reset(&bp->line);
	}
}

int build_io(struct build_proc *bp)
{
	char buf[8192];

	while (bp->out_fd >= 0) {
		ssize_t n = read(bp->out_fd, buf, sizeof(buf));

		if (n > 0) {
			take(bp, buf, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 1;
		if (bp->line.len)
			script_line(bp, bp->line.buf, bp->line.len);
		sb_reset(&bp->line);
		close(bp->out_fd);
		bp->out_fd = -1;
	}
	return 0;
}

/* kbuild's quiet lines: two spaces, an upper-case word ("  CC      x.o") */
void build_follow(struct build_proc *bp)
{
	char buf[65536];
	int fd;
	ssize_t n;

	if (!bp->log || bp->phase != BP_COMPILE || (fd = open(bp->log, O_RDONLY | O_CLOEXEC)) < 0)
		return;
	while ((n = pread(fd, buf, sizeof(buf), bp->log_off)) > 0) {
		bp->log_off += n;
		for (ssize_t i = 0; i < n; i++) {
			char c = buf[i];

			if (c == '\n') {
				bp->at_bol = 1, bp->col = 0;
				continue;
			}
			if (bp->at_bol && ((bp->col < 2 && c == ' ') ||
					   (bp->col == 2 && c >= 'A' && c <= 'Z'))) {
				if (bp->col++ == 2) {
					bp->steps++;
					bp->at_bol = 0;
				}
				continue;
			}
			bp->at_bol = 0;
		}
	}
	close(fd);
}

void build_signal(struct build_proc *bp, int sig)
{
	if (bp->pid > 0) {
		bp->sig = sig;
		kill(-bp->pid, sig);
	}
}

void build_finish(struct build_proc *bp, struct build *b)
{
	int st, rc;

	while (build_io(bp)) {
		struct pollfd p = { bp->out_fd, POLLIN, 0 };

		poll(&p, 1, -1);
	}
	while (bp->pid > 0 && waitpid(bp->pid, &st, 0) < 0 && errno == EINTR)
		;
	rc = bp->pid <= 0 ? -1 : WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	if (bp->sig) {
		b->status = BS_ERROR;
		b->interrupted = bp->sig;
		free(b->error);
		b->error = xasprintf("interrupted (signal %d) during the build", bp->sig);
	} else if (rc == 0) {
		read_result(b, bp->res);
	} else if (bp->pid > 0) {
		b->error = script_error(bp->out.buf, rc);
	}
	b->duration_s = now_mono() - bp->t0;
	if (bp->pidfd >= 0)
		close(bp->pidfd);
	if (bp->res[0])
		unlink(bp->res);
	free(bp->log);
	sb_release(&bp->out);
	sb_release(&bp->line);
	bp->pid = 0;
	bp->pidfd = -1;
	bp->phase = BP_DONE;
}

void build_phase_text(const struct build_proc *bp, char *buf, size_t len)
{
	if (bp->phase == BP_CONFIGURE)
		snprintf(buf, len, "configure");
	else if (bp->phase == BP_COMPILE && bp->expect > 0)
		snprintf(buf, len, "compile %ld%%",
			 100 * (bp->steps < bp->expect ? bp->steps : bp->expect) / bp->expect);
	else if (bp->phase == BP_COMPILE)
		snprintf(buf, len, "compile (%ld steps)", bp->steps);
	else
		snprintf(buf, len, "done");
}

void build_arch(const struct source *s, const struct build_config *c, const char *arch,
		struct build *b)
{
	struct build_proc bp;
	sigset_t mask, old;
	int sfd;

	/* a signal while it builds is the build's: forwarded, then reported */
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, &old);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (build_start(s, c, arch, &bp, b) == 0) {
		while (build_io(&bp)) {
			struct pollfd p[2] = { { bp.out_fd, POLLIN, 0 }, { sfd, POLLIN, 0 } };
			struct signalfd_siginfo si;

			if (poll(p, 2, 1000) > 0 && (p[1].revents & POLLIN) &&
			    read(sfd, &si, sizeof(si)) == sizeof(si)) {
				fprintf(stderr, "kfarm: signal %u: stopping the %s build\n",
					si.ssi_signo, arch);
				build_signal(&bp, (int)si.ssi_signo);
			}
		}
		build_finish(&bp, b);
	}
	if (sfd >= 0)
		close(sfd);
	sigprocmask(SIG_SETMASK, &old, NULL);
}

void build_release(struct build *b)
{
	free(b->arch), free(b->config), free(b->error), free(b->compiler);
	free(b->config_sha256), free(b->release), free(b->key), free(b->image), free(b->log);
	memset(b, 0, sizeof(*b));
}
