/* Direct-QEMU backend: one qemu-system-* child per VM, console on a pipe.
 * The child is put in its own process group and gets PR_SET_PDEATHSIG, so a
 * QEMU never outlives kfarm, even when kfarm is SIGKILLed. */
#include "backend.h"
#include "exe.h"
#include "profile.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

struct qemu_vm {
	pid_t pid;
	int stopped;
	int reaped;
	struct vm_exit ex;
};

static void argv_push(char ***argv, size_t *n, const char *s)
{
	*argv = xrealloc(*argv, (*n + 2) * sizeof(char *));
	(*argv)[(*n)++] = xstrdup(s);
	(*argv)[*n] = NULL;
}

static char **qemu_argv(const struct vm_spec *spec)
{
	const struct profile *p = spec->profile;
	char **argv = NULL, buf[32];
	size_t n = 0;

	argv_push(&argv, &n, p->qemu_binary);
	argv_push(&argv, &n, "-M");
	argv_push(&argv, &n, p->machine);
	if (spec->accel) {
		argv_push(&argv, &n, "-accel");
		argv_push(&argv, &n, spec->accel);
	}
	if (spec->smp > 1) {
		snprintf(buf, sizeof(buf), "%u", spec->smp);
		argv_push(&argv, &n, "-smp");
		argv_push(&argv, &n, buf);
	}
	if (p->cpu) {
		argv_push(&argv, &n, "-cpu");
		argv_push(&argv, &n, p->cpu);
	}
	snprintf(buf, sizeof(buf), "%u", spec->memory_mb ? spec->memory_mb : p->memory_mb);
	argv_push(&argv, &n, "-m");
	argv_push(&argv, &n, buf);
	for (char **f = p->firmware; f && *f; f++)
		argv_push(&argv, &n, *f);
	for (char **a = p->args; a && *a; a++)
		argv_push(&argv, &n, *a);
	static const char *const fixed[] = {
		"-display", "none", "-serial", "stdio", "-monitor", "none",
		"-no-reboot",
	};
	for (size_t i = 0; i < ARRAY_SIZE(fixed); i++)
		argv_push(&argv, &n, fixed[i]);
	argv_push(&argv, &n, "-kernel");
	argv_push(&argv, &n, spec->kernel);
	argv_push(&argv, &n, "-initrd");
	argv_push(&argv, &n, spec->initrd);
	argv_push(&argv, &n, "-append");
	argv_push(&argv, &n, spec->append);
	return argv;
}

/* Shell-quoted rendering, for the record and for copy-paste; never executed. */
static char *render_argv(char **argv)
{
	struct sb sb;

	sb_init(&sb);
	for (char **a = argv; *a; a++) {
		int plain = **a != '\0';

		for (const char *s = *a; *s; s++)
			if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				    "0123456789-_./=:,+@%", *s))
				plain = 0;
		if (a != argv)
			sb_adds(&sb, " ");
		if (plain) {
			sb_adds(&sb, *a);
			continue;
		}
		sb_adds(&sb, "'");
		for (const char *s = *a; *s; s++) {
			if (*s == '\'')
				sb_adds(&sb, "'\\''");
			else
				sb_add(&sb, s, 1);
		}
		sb_adds(&sb, "'");
	}
	return sb_detach(&sb);
}

/* Runs "BINARY --version" (no shell) and returns its first line. */
char *qemu_binary_version(const char *binary)
{
	static struct cache { char *bin, *ver; } cache[16];
	static size_t ncache;
	char *path, *v;

	for (size_t i = 0; i < ncache; i++)
		if (!strcmp(cache[i].bin, binary))
			return xstrdup(cache[i].ver);
	path = exe_find(binary);
	v = path ? exe_version(path) : NULL;
	free(path);
	if (!v || !*v) {
		free(v);
		v = xstrdup("unknown");
	}
	if (ncache < ARRAY_SIZE(cache)) {
		cache[ncache].bin = xstrdup(binary);
		cache[ncache++].ver = xstrdup(v);
	}
	return v;
}

/* In the forked child: its own process group, killed with kfarm, console
 * and diagnostics on the pipes; an exec failure's errno goes on st_w. */
static void __attribute__((noreturn)) child(char **argv, pid_t parent, int out_w, int err_w,
					    int st_w)
{
	int null = open("/dev/null", O_RDONLY), e;
	sigset_t none;

	setpgid(0, 0);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);	/* kfarm died before prctl took effect */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	dup2(null, 0);
	dup2(out_w, 1);
	dup2(err_w, 2);
	execvp(argv[0], argv);
	e = errno;
	if (write(st_w, &e, sizeof(e)) < 0)
		_exit(127);
	_exit(127);
}

static int qemu_start(struct vm *vm, const struct vm_spec *spec, struct err *err,
		      unsigned int flags)
{
	struct qemu_vm *q;
	char **argv;
	int out[2] = { -1, -1 }, errp[2] = { -1, -1 }, st[2] = { -1, -1 };
	pid_t parent = getpid(), pid;
	int child_errno = 0;
	ssize_t n;

	(void)flags;
	memset(vm, 0, sizeof(*vm));
	vm->console_fd = vm->err_fd = vm->exit_fd = -1;
	char *where = exe_find(spec->profile->qemu_binary);

	if (!where) {
		err_set(err, 0, "QEMU binary '%s' not found in PATH",
			spec->profile->qemu_binary);
		return -1;
	}
	free(where);
	argv = qemu_argv(spec);
	vm->cmdline = render_argv(argv);
	vm->version = qemu_binary_version(spec->profile->qemu_binary);
	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0 ||
	    pipe2(st, O_CLOEXEC) < 0) {
		err_set(err, 0, "pipe: %s", strerror(errno));
		goto fail;
	}
	pid = fork();
	if (pid < 0) {
		err_set(err, 0, "fork: %s", strerror(errno));
		goto fail;
	}
	if (pid == 0)
		child(argv, parent, out[1], errp[1], st[1]);
	/* also set it from this side: no window where a kill(-pgid) misses it */
	setpgid(pid, pid);
	close(out[1]);
	close(errp[1]);
	close(st[1]);
	while ((n = read(st[0], &child_errno, sizeof(child_errno))) < 0 && errno == EINTR)
		;
	close(st[0]);
	strv_free(argv);
	argv = NULL;
	q = xcalloc(1, sizeof(*q));
	q->pid = pid;
	vm->priv = q;
	vm->console_fd = out[0];
	vm->err_fd = errp[0];
	if (n == sizeof(child_errno)) {
		err_set(err, 0, "cannot execute '%s': %s", spec->profile->qemu_binary,
			strerror(child_errno));
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		q->reaped = 1;
		return -1;
	}
	vm->exit_fd = (int)syscall(SYS_pidfd_open, pid, 0);
	fcntl(vm->console_fd, F_SETFL, O_NONBLOCK);
	fcntl(vm->err_fd, F_SETFL, O_NONBLOCK);
	return 0;
fail:
	for (int i = 0; i < 2; i++) {
		if (out[i] >= 0)
			close(out[i]);
		if (errp[i] >= 0)
			close(errp[i]);
		if (st[i] >= 0)
			close(st[i]);
	}
	strv_free(argv);
	return -1;
}

static int qemu_stop(struct vm *vm, unsigned int flags)
{
	struct qemu_vm *q = vm->priv;

	(void)flags;
	if (!q || q->reaped)
		return 0;
	q->stopped = 1;
	/* the whole group: QEMU may have helpers */
	if (kill(-q->pid, SIGKILL) < 0 && errno == ESRCH)
		kill(q->pid, SIGKILL);
	return 0;
}

static int qemu_wait(struct vm *vm, struct vm_exit *ex, unsigned int flags)
{
	struct qemu_vm *q = vm->priv;
	int status;
	pid_t r;

	if (!q)
		return -1;
	if (!q->reaped) {
		do
			r = waitpid(q->pid, &status,
				    (flags & BACKEND_WAIT_BLOCK) ? 0 : WNOHANG);
		while (r < 0 && errno == EINTR);
		if (r == 0)
			return -1;
		q->reaped = 1;
		if (r == q->pid) {
			q->ex.exited = WIFEXITED(status);
			q->ex.status = WIFEXITED(status) ? WEXITSTATUS(status) : 0;
			q->ex.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
		}
		/* leftovers of the group, if any */
		kill(-q->pid, SIGKILL);
	}
	q->ex.by_us = q->stopped;
	*ex = q->ex;
	return 0;
}

static void qemu_release(struct vm *vm)
{
	struct qemu_vm *q = vm->priv;
	struct vm_exit ex;

	if (q && !q->reaped) {
		qemu_stop(vm, 0);
		qemu_wait(vm, &ex, BACKEND_WAIT_BLOCK);
	}
	if (vm->exit_fd >= 0)	/* the pidfd is ours, not the shared record's */
		close(vm->exit_fd);
	free(q);
	vm_clear(vm);
}

const struct backend backend_qemu = {
	.name = "qemu",
	.flags = BACKEND_KVM,
	.start = qemu_start,
	.stop = qemu_stop,
	.wait = qemu_wait,
	.release = qemu_release,
};
