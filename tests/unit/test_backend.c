/* The backend table as a whole driver: every compiled-in backend has the VM
 * operations, the optional ones are reported as unsupported in one place
 * (also when reached through a host), a host of the inventory is connected,
 * probed and disconnected only through its backend's table (libvirt's own
 * in-process test driver, test:///default: a real connection, no daemon),
 * and the thread plumbing libvirt and LAVA share behaves. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../runner/backend.h"
#include "../../runner/hosts.h"
#include "../../runner/stage.h"
#include "../../runner/util.h"
#include "../../runner/vm_thread.h"

static void test_table(void **state)
{
	size_t n = 0;

	(void)state;
	for (const struct backend *const *b = backends; *b; b++, n++) {
		assert_non_null((*b)->name);
		assert_non_null((*b)->start);
		assert_non_null((*b)->stop);
		assert_non_null((*b)->wait);
		assert_non_null((*b)->release);
		assert_ptr_equal(backend_find((*b)->name), *b);
		/* host entries come as a set, and only with BACKEND_HOSTS */
		assert_int_equal(!!((*b)->flags & BACKEND_HOSTS), !!(*b)->host_connect);
		assert_int_equal(!!(*b)->host_connect, !!(*b)->host_disconnect);
	}
	assert_true(n >= 3);
	assert_ptr_equal(backends[0], &backend_qemu);	/* the default */
	assert_null(backend_find("nope"));
	assert_ptr_equal(backend_for_hosts(), &backend_libvirt);
	assert_true(backend_qemu.flags & BACKEND_KVM);
	assert_false(backend_libvirt.flags & BACKEND_KVM);
}

static void test_unsupported(void **state)
{
	struct host h = { .name = "x" };
	struct err err = { 0 };

	(void)state;
	assert_int_equal(backend_host_connect(&backend_qemu, &h, &err), -1);
	assert_string_equal(err.msg,
			    "the qemu backend cannot run VMs on the hosts of an inventory");
	assert_int_equal(backend_host_probe(&backend_lava, &h, &err), -1);
	assert_string_equal(err.msg, "the lava backend cannot probe a host");
	assert_int_equal(backend_connect(&backend_qemu, "http://x", NULL, NULL, &err),
			 -1);
	assert_non_null(strstr(err.msg, "the qemu backend cannot connect to a service"));
	assert_int_equal(backend_host_disconnect(&backend_qemu, &h), 0);	/* nothing open */
	assert_int_equal(backend_host_disconnect(NULL, &h), 0);
}

/* a host of the inventory given to a backend that cannot run VMs on hosts:
 * unusable, saying so, and nothing left connected */
static void test_probe_wrong_backend(void **state)
{
	struct hosts hs;
	struct err err;

	(void)state;
	assert_int_equal(hosts_from_uri("test:///default", 1, &hs, &err), 0);
	assert_true(hs.v[0].local);
	assert_int_equal(host_probe_with(&hs.v[0], &backend_qemu, 0), -1);
	assert_string_equal(hs.v[0].why,
			    "qemu: the qemu backend cannot run VMs on the hosts of an inventory");
	assert_false(hs.v[0].up);
	assert_null(hs.v[0].conn);
	hosts_release(&hs);
}

/* libvirt's test driver: connected and probed through the table, the
 * connection handle kept on the host, closed by host_disconnect */
static void test_probe_libvirt(void **state)
{
	struct hosts hs;
	struct host *h;
	struct err err;

	(void)state;
	assert_int_equal(hosts_from_uri("test:///default", 1, &hs, &err), 0);
	h = &hs.v[0];
	/* the result depends on this machine's QEMU binaries; what the
	 * backend filled does not */
	host_probe(h, 0);
	assert_ptr_equal(h->be, &backend_libvirt);
	assert_non_null(h->conn);
	assert_non_null(h->libvirt_version);
	assert_int_equal(h->busy, 0);	/* the test driver's domain is not kfarm's */
	if (!h->up)
		assert_string_equal(h->why, "no QEMU for any arch profile is installed");
	host_disconnect(h);
	assert_null(h->conn);
	/* probed again: a new connection */
	host_probe(h, 0);
	assert_non_null(h->conn);
	hosts_release(&hs);	/* disconnects */
}

static void test_stage_local(void **state)
{
	struct stage *st = stage_new(NULL, "here");
	struct err err = { 0 };
	char *p;

	(void)state;
	p = stage_where(st, "/some/kernel", NULL, &err);
	assert_string_equal(p, "/some/kernel");	/* a local host uses files where they are */
	free(p);
	assert_int_equal(stage_put(st, "/some/kernel", "", NULL, NULL, &err), 0);
	stage_free(st);
}

static void test_pipes(void **state)
{
	struct vm vm = { .console_fd = -1, .err_fd = -1, .exit_fd = -1 };
	int out_w, err_w;
	struct err err;
	char buf[1024];
	ssize_t n;
	double t0;
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
	char long_line[2000];

	(void)state;
	assert_int_equal(vm_pipes_open(&vm, &out_w, &err_w, &err), 0);
	assert_int_equal(read(vm.console_fd, buf, sizeof(buf)), -1);	/* non-blocking */
	assert_int_equal(errno, EAGAIN);
	vm_note(err_w, "host %s lost", "lab");
	n = read(vm.err_fd, buf, sizeof(buf));
	assert_int_equal(n, strlen("host lab lost\n"));
	assert_memory_equal(buf, "host lab lost\n", n);
	memset(long_line, 'x', sizeof(long_line) - 1);
	long_line[sizeof(long_line) - 1] = '\0';
	vm_note(err_w, "%s", long_line);
	n = read(vm.err_fd, buf, sizeof(buf));
	assert_int_equal(n, 511);	/* cut, still one line */
	assert_int_equal(buf[n - 1], '\n');
	close(out_w);
	close(err_w);
	assert_int_equal(read(vm.console_fd, buf, sizeof(buf)), 0);	/* EOF: the VM is over */
	vm_clear(&vm);
	assert_int_equal(vm.console_fd, -1);

	pthread_mutex_lock(&mu);
	t0 = now_mono();
	cond_wait_ms(&cv, &mu, 1200);	/* crosses a second boundary */
	assert_true(now_mono() - t0 >= 1.1);
	assert_true(now_mono() - t0 < 5);
	pthread_mutex_unlock(&mu);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_unsupported),
		cmocka_unit_test(test_probe_wrong_backend),
		cmocka_unit_test(test_probe_libvirt),
		cmocka_unit_test(test_stage_local),
		cmocka_unit_test(test_pipes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
