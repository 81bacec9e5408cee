#include "libvirt_loop.h"
#include "vm_thread.h"

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int init_failed;
static pthread_t ev_thread;
static int ev_running, holders;
static volatile int ev_quit;

static void quiet(void *data, virErrorPtr e)
{
	(void)data, (void)e;	/* errors are read with virGetLastErrorMessage */
}

static void *event_loop(void *arg)
{
	(void)arg;
	while (!ev_quit)
		if (virEventRunDefaultImpl() < 0)
			sleep(1);
	return NULL;
}

static void wake(int timer, void *opaque)
{
	(void)opaque;
	virEventRemoveTimeout(timer);
}

/* After the last connection closed (or at exit): the loop ends. */
static void event_loop_stop(void)
{
	if (!ev_running)
		return;
	ev_quit = 1;
	virEventAddTimeout(0, wake, NULL, NULL);
	pthread_join(ev_thread, NULL);
	ev_running = ev_quit = 0;
}

static void lv_init(void)
{
	if (virInitialize() < 0) {
		init_failed = 1;
		return;
	}
	virSetErrorFunc(NULL, quiet);
	if (virEventRegisterDefaultImpl() < 0)
		init_failed = 1;
	/* runs before the crypto libraries' exit handlers (registered earlier) */
	atexit(event_loop_stop);
}

const char *lverr(void)
{
	const char *m = virGetLastErrorMessage();

	return m ? m : "unknown libvirt error";
}

int lv_loop_hold(struct err *err)
{
	pthread_once(&once, lv_init);
	if (init_failed) {
		err_set(err, 0, "cannot initialise libvirt: %s", lverr());
		return -1;
	}
	if (!ev_running) {
		if (vm_thread_start(event_loop, NULL, &ev_thread) < 0) {
			err_set(err, 0, "cannot start libvirt's event loop thread");
			return -1;
		}
		ev_running = 1;
	}
	holders++;
	return 0;
}

void lv_loop_drop(void)
{
	if (holders > 0 && --holders == 0)
		event_loop_stop();
}
