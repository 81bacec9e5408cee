/* A fake backend for the scheduler, job and run-stage tests: a "VM" is a
 * pipe holding a complete /init KTAP document (or nothing), closed at once,
 * so the scheduler sees a console that reports and ends. What it does is
 * set through `fake` before a run. No QEMU. */
#ifndef KFARM_TEST_FAKE_BACKEND_H
#define KFARM_TEST_FAKE_BACKEND_H

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../runner/backend.h"
#include "../../runner/util.h"

static struct {
	int starts, stops, releases, live, max_live;
	int fail_first;			/* each job's first start fails (an infra error) */
	const char *seen[64];		/* jobs started (by their command line) */
	int nseen;
	const struct host *lose;	/* a VM placed on this host: the host goes away */
	int exit_status;		/* how every VM exits */
	int beta_passes;		/* the document's second test passes */
	int trickle;			/* a child writes the document a byte at a time, as QEMU's
					 * UART does, then stays until stopped, as a guest does */
	pid_t writer[64];		/* those children, one per start */
	double queue_s;			/* with trickle: a lab's queue, this long before
					 * the VM runs (the queued entry says so) */
	double t_started[64];		/* each start's time, for queue_s */
} fake;

static const char fake_ktap[] =
	"KTAP version 1\n"
	"# kfarm-init: uname Linux 6.1.0-fake #1 x86_64\n"
	"1..2\n"
	"ok 1 alpha\n"
	"not ok 2 beta # fake failure\n"
	"# kfarm-init: done\n";
static const char fake_ktap_pass[] =
	"KTAP version 1\n"
	"# kfarm-init: uname Linux 6.1.0-fake #1 x86_64\n"
	"1..2\n"
	"ok 1 alpha\n"
	"ok 2 beta\n"
	"# kfarm-init: done\n";

static int fake_start(struct vm *vm, const struct vm_spec *spec, struct err *err,
		      unsigned int flags)
{
	int p[2];

	(void)flags;
	memset(vm, 0, sizeof(*vm));
	vm->console_fd = vm->err_fd = vm->exit_fd = -1;
	fake.starts++;
	int first = 1;

	for (int i = 0; i < fake.nseen; i++)
		first &= fake.seen[i] != spec->append;
	if (first && fake.nseen < 64)
		fake.seen[fake.nseen++] = spec->append;
	if (fake.fail_first && first) {
		return err_set(err, 0, "fake: start %d refused", fake.starts);
	}
	if (pipe(p))
		return err_set(err, 0, "pipe");
	const char *doc = fake.beta_passes ? fake_ktap_pass : fake_ktap;
	pid_t *writer = &fake.writer[(fake.starts - 1) % 64];

	if (fake.trickle) {
		pid_t pid = fork();

		if (pid < 0)
			return err_set(err, 0, "fork");
		if (pid == 0) {
			sigset_t none;

			sigemptyset(&none);	/* the scheduler blocks SIGTERM for its signalfd */
			sigprocmask(SIG_SETMASK, &none, NULL);
			close(p[0]);
			if (fake.queue_s > 0)
				nanosleep(&(struct timespec){ (time_t)fake.queue_s,
					(long)((fake.queue_s - (time_t)fake.queue_s) * 1e9) }, NULL);
			for (const char *c = doc; *c; c++) {
				nanosleep(&(struct timespec){ 0, 200000 }, NULL);
				if (write(p[1], c, 1) != 1)
					_exit(1);
			}
			pause();	/* until fake_stop */
			_exit(0);
		}
		*writer = pid;
		fake.t_started[writer - fake.writer] = now_mono();
		fcntl(p[0], F_SETFL, O_NONBLOCK);	/* as a real backend's console */
	} else if (!(fake.lose && spec->host == fake.lose) &&
		   write(p[1], doc, strlen(doc)) != (ssize_t)strlen(doc)) {
		return err_set(err, 0, "short write");
	}
	close(p[1]);
	vm->console_fd = p[0];
	vm->priv = fake.trickle ? (void *)writer : vm;	/* started */
	vm->host_down = fake.lose && spec->host == fake.lose;
	if (++fake.live > fake.max_live)
		fake.max_live = fake.live;
	return 0;
}

static int fake_stop(struct vm *vm, unsigned int flags)
{
	(void)flags;
	if (fake.trickle && vm->priv && *(pid_t *)vm->priv > 0)
		kill(*(pid_t *)vm->priv, SIGTERM);
	fake.stops++;
	return 0;
}

static int fake_wait(struct vm *vm, struct vm_exit *ex, unsigned int flags)
{
	(void)flags;
	ex->exited = 1;
	ex->status = vm->host_down ? 255 : fake.exit_status;
	ex->not_started = fake.trickle && vm->priv &&
			  now_mono() < fake.t_started[(pid_t *)vm->priv - fake.writer] + fake.queue_s;
	if (vm->host_down)
		snprintf(ex->why, sizeof(ex->why), "fake: connection to the host lost");
	return 0;
}

static void fake_release(struct vm *vm)
{
	fake.releases++;
	if (fake.trickle && vm->priv && *(pid_t *)vm->priv > 0) {
		kill(*(pid_t *)vm->priv, SIGKILL);
		waitpid(*(pid_t *)vm->priv, NULL, 0);
	}
	if (vm->priv)
		fake.live--;
	if (vm->console_fd >= 0)
		close(vm->console_fd);
	memset(vm, 0, sizeof(*vm));
	vm->console_fd = vm->err_fd = vm->exit_fd = -1;
}

/* Queued until queue_s after its start (trickle mode only). */
static int fake_queued(struct vm *vm, double *since, unsigned int flags)
{
	double t;

	(void)flags;
	if (!fake.trickle || !vm->priv)
		return 0;
	t = fake.t_started[(pid_t *)vm->priv - fake.writer] + fake.queue_s;
	*since = t;
	return now_mono() < t;
}

static const struct backend fake_backend = {
	.name = "fake", .start = fake_start, .stop = fake_stop, .wait = fake_wait,
	.release = fake_release, .queued = fake_queued,
};

#endif
