/*
 * io_uring: io_uring_setup through the raw syscall, the rings mapped as the
 * kernel reports them, one IORING_OP_NOP submitted with io_uring_enter and
 * its CQE reaped (user_data echoed, res 0), then a batch of NOPs.  Bad
 * setup arguments give EINVAL.  ENOSYS skips naming CONFIG_IO_URING; the
 * kernel.io_uring_disabled sysctl (6.6+) is honoured and reported.
 */
#define _GNU_SOURCE
#include <linux/io_uring.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../kt.h"

#ifndef __NR_io_uring_setup
#ifdef __alpha__
#define __NR_io_uring_setup 535
#define __NR_io_uring_enter 536
#else
#define __NR_io_uring_setup 425
#define __NR_io_uring_enter 426
#endif
#endif

struct ring {
	int fd;
	struct io_uring_params p;
	void *sq_ptr, *cq_ptr;
	size_t sq_len, cq_len, sqes_len;
	uint32_t *sq_head, *sq_tail, *sq_mask, *sq_array;
	uint32_t *cq_head, *cq_tail, *cq_mask;
	struct io_uring_sqe *sqes;
	struct io_uring_cqe *cqes;
};

static long setup(unsigned int entries, struct io_uring_params *p)
{
	return syscall(__NR_io_uring_setup, entries, p);
}

static long enter(int fd, unsigned int submit, unsigned int wait,
		  unsigned int flags)
{
	return syscall(__NR_io_uring_enter, fd, submit, wait, flags, NULL, 0);
}

static int ring_map(struct ring *r)
{
	struct io_uring_params *p = &r->p;

	r->sq_len = p->sq_off.array + p->sq_entries * sizeof(uint32_t);
	r->cq_len = p->cq_off.cqes + p->cq_entries * sizeof(struct io_uring_cqe);
	if (p->features & IORING_FEAT_SINGLE_MMAP) {
		if (r->cq_len > r->sq_len)
			r->sq_len = r->cq_len;
		r->cq_len = r->sq_len;
	}
	r->sq_ptr = mmap(NULL, r->sq_len, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQ_RING);
	if (r->sq_ptr == MAP_FAILED)
		return -1;
	if (p->features & IORING_FEAT_SINGLE_MMAP)
		r->cq_ptr = r->sq_ptr;
	else
		r->cq_ptr = mmap(NULL, r->cq_len, PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_POPULATE, r->fd,
				 IORING_OFF_CQ_RING);
	if (r->cq_ptr == MAP_FAILED)
		return -1;
	r->sqes_len = p->sq_entries * sizeof(struct io_uring_sqe);
	r->sqes = mmap(NULL, r->sqes_len, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQES);
	if (r->sqes == MAP_FAILED)
		return -1;
	r->sq_head = (uint32_t *)((char *)r->sq_ptr + p->sq_off.head);
	r->sq_tail = (uint32_t *)((char *)r->sq_ptr + p->sq_off.tail);
	r->sq_mask = (uint32_t *)((char *)r->sq_ptr + p->sq_off.ring_mask);
	r->sq_array = (uint32_t *)((char *)r->sq_ptr + p->sq_off.array);
	r->cq_head = (uint32_t *)((char *)r->cq_ptr + p->cq_off.head);
	r->cq_tail = (uint32_t *)((char *)r->cq_ptr + p->cq_off.tail);
	r->cq_mask = (uint32_t *)((char *)r->cq_ptr + p->cq_off.ring_mask);
	r->cqes = (struct io_uring_cqe *)((char *)r->cq_ptr + p->cq_off.cqes);
	return 0;
}

static void queue_nop(struct ring *r, uint64_t data)
{
	uint32_t tail = *r->sq_tail, idx = tail & *r->sq_mask;
	struct io_uring_sqe *sqe = &r->sqes[idx];

	memset(sqe, 0, sizeof(*sqe));
	sqe->opcode = IORING_OP_NOP;
	sqe->user_data = data;
	r->sq_array[idx] = idx;
	__atomic_store_n(r->sq_tail, tail + 1, __ATOMIC_RELEASE);
}

/* reap up to `max` CQEs; returns how many, checks user_data order */
static int reap(struct ring *r, uint64_t first, int max, int *bad_res,
		uint64_t *bad_data)
{
	uint32_t head = *r->cq_head;
	int n = 0;

	while (n < max && head != __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE)) {
		struct io_uring_cqe *c = &r->cqes[head & *r->cq_mask];
		if (c->res != 0 && !*bad_res)
			*bad_res = c->res ? c->res : 1;
		if (c->user_data != first + (uint64_t)n && !*bad_data)
			*bad_data = c->user_data ? c->user_data : 1;
		head++;
		n++;
	}
	__atomic_store_n(r->cq_head, head, __ATOMIC_RELEASE);
	return n;
}

static void run(void)
{
	struct io_uring_params p;
	struct ring r;
	char buf[64] = "";
	long ret;
	int bad_res = 0, n;
	uint64_t bad_data = 0;

	if (kt_read_file("/proc/sys/kernel/io_uring_disabled", buf, sizeof(buf)) > 0)
		kt_diag("kernel.io_uring_disabled = %s", strtok(buf, "\n") ? buf : "?");
	memset(&r, 0, sizeof(r));
	errno = 0;
	ret = setup(8, &r.p);
	if (ret < 0 && errno == ENOSYS)
		kt_skip_all("io_uring_setup: ENOSYS (CONFIG_IO_URING not set)");
	if (ret < 0 && errno == EPERM && buf[0] == '2')
		kt_skip_all("io_uring disabled by kernel.io_uring_disabled=2");
	if (!kt_check(ret >= 0, "setup", "io_uring_setup(8): %s", kt_errname(errno)))
		return;
	r.fd = (int)ret;
	kt_diag("sq_entries %u cq_entries %u features 0x%x", r.p.sq_entries,
		r.p.cq_entries, r.p.features);
	if (!kt_check(ring_map(&r) == 0, "mmap_rings", "mmap: %s",
		      kt_errname(errno)))
		return;

	queue_nop(&r, 0xcafe);
	ret = enter(r.fd, 1, 1, IORING_ENTER_GETEVENTS);
	kt_check(ret == 1, "enter_submits_nop", "io_uring_enter returned %ld (%s)",
		 ret, kt_errname(errno));
	n = reap(&r, 0xcafe, 8, &bad_res, &bad_data);
	kt_check(n == 1 && !bad_res && !bad_data, "nop_cqe",
		 "%d CQEs, res %d, user_data 0x%llx (want 1, 0, 0xcafe)", n,
		 bad_res, (unsigned long long)(bad_data ? bad_data : 0xcafe));

	for (int i = 0; i < 8; i++)
		queue_nop(&r, 100 + (uint64_t)i);
	ret = enter(r.fd, 8, 8, IORING_ENTER_GETEVENTS);
	n = reap(&r, 100, 8, &bad_res, &bad_data);
	kt_check(ret == 8 && n == 8 && !bad_res && !bad_data, "nop_batch_of_8",
		 "enter %ld, %d CQEs, bad res %d, bad user_data 0x%llx", ret, n,
		 bad_res, (unsigned long long)bad_data);
	close(r.fd);

	memset(&p, 0, sizeof(p));
	KT_EXPECT_ERR("setup_0_entries_einval", setup(0, &p), EINVAL);
	memset(&p, 0, sizeof(p));
	p.resv[0] = 1;
	KT_EXPECT_ERR("setup_nonzero_resv_einval", setup(8, &p), EINVAL);
	memset(&p, 0, sizeof(p));
	p.flags = 0x80000000u;
	KT_EXPECT_ERR("setup_bad_flags_einval", setup(8, &p), EINVAL);
	KT_EXPECT_ERR("enter_bad_fd_ebadf", enter(-1, 0, 0, 0), EBADF);
}

KT_TEST(.name = "io_uring", .run = run, .timeout = 30,
	.desc = "io_uring setup, NOP submit and reap, EINVAL cases");
