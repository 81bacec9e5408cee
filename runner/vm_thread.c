#include "vm_thread.h"
#include "backend.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int vm_pipes_open(struct vm *vm, int *out_w, int *err_w, struct err *err)
{
	int out[2], errp[2];

	if (pipe2(out, O_CLOEXEC) < 0) {
		err_set(err, 0, "pipe: %s", strerror(errno));
		return -1;
	}
	if (pipe2(errp, O_CLOEXEC) < 0) {
		err_set(err, 0, "pipe: %s", strerror(errno));
		close(out[0]);
		close(out[1]);
		return -1;
	}
	vm->console_fd = out[0];
	vm->err_fd = errp[0];
	*out_w = out[1];
	*err_w = errp[1];
	fcntl(vm->console_fd, F_SETFL, O_NONBLOCK);
	fcntl(vm->err_fd, F_SETFL, O_NONBLOCK);
	return 0;
}

int vm_thread_start(void *(*fn)(void *), void *arg, pthread_t *t)
{
	sigset_t all, old;
	pthread_t tmp;
	pthread_attr_t at;
	int r;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_init(&at);
	if (!t)
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	r = pthread_create(t ? t : &tmp, &at, fn, arg);
	pthread_attr_destroy(&at);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return r ? -1 : 0;
}

void vm_note(int fd, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0 || fd < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	write_all(fd, line, n);
}

void cond_wait_ms(pthread_cond_t *cv, pthread_mutex_t *mu, long ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L)
		ts.tv_sec++, ts.tv_nsec -= 1000000000L;
	pthread_cond_timedwait(cv, mu, &ts);
}
