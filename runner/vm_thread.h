/* A VM that a helper thread follows (libvirt, LAVA): the thread talks to
 * the host or service and feeds two pipes the scheduler watches, so the
 * scheduler's loop never waits on the network. The thread takes no signals
 * (SIGINT/SIGTERM stay with the scheduler's signalfd). */
#ifndef KFARM_VM_THREAD_H
#define KFARM_VM_THREAD_H

#include <pthread.h>
#include <stddef.h>

#include "err.h"

struct vm;

/* The console and diagnostics pipes: the read ends (non-blocking) become
 * vm->console_fd and vm->err_fd, the write ends go to *out_w and *err_w
 * (the thread's, closed by it to say the VM is over). -1 with err. */
int vm_pipes_open(struct vm *vm, int *out_w, int *err_w, struct err *err);

/* Starts fn(arg) in a thread with every signal blocked; detached unless t.
 * 0 or -1. */
int vm_thread_start(void *(*fn)(void *), void *arg, pthread_t *t);

/* One line ("...\n" added, cut at 510 bytes) onto fd, the err pipe; a
 * reader that went away is no error (nobody is left to tell). */
void vm_note(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* pthread_cond_timedwait for at most ms milliseconds (mu held). */
void cond_wait_ms(pthread_cond_t *cv, pthread_mutex_t *mu, long ms);

#endif
