/*
 * compaction: user pages must survive memory compaction intact.
 *
 * Worker processes (by default twice as many as CPUs), each with several
 * threads (one mm on several CPUs), fill a private anonymous region with
 * pages whose every word is derived from (page index, generation) and whose
 * last word is a checksum, faulting in a filler page after each one, then
 * unmap the filler so every other physical page is free: memory is
 * fragmented.  While the test writes /proc/sys/vm/compact_memory
 * repeatedly (and raises vm.compaction_proactiveness so kcompactd works
 * too), every thread keeps verifying its pages and rewriting them with the
 * next generation, publishing how far it got; before each pass it forces
 * its TLB to reload (sched_yield and an mprotect round trip).  A checker
 * process reads the workers' pages through process_vm_readv (or
 * /proc/PID/mem without CONFIG_CROSS_MEMORY_ATTACH) -- the page
 * tables, not the writer's TLB -- and compares them with the published
 * generation.  At the end every page is verified once more.
 * (The alpha "user-space corruption during memory compaction" bug,
 * CVE-2026-43258, was a missing TLB flush on migration: writes landed in
 * the old copy, seen by the writer only once its TLB reloads, but at once
 * through the page tables.)
 *
 * A mismatch fails with the first bad page's address, index, generation
 * and checksum, expected and got.  Migration evidence is reported from
 * /proc/vmstat (before/after deltas) and from /proc/self/pagemap (how many
 * of the workers' pages changed physical frame); with no evidence that any
 * page moved the run is inconclusive: SKIP.
 *
 * The fill is bounded twice so the test stays fast under emulation: at
 * most compaction.mb MiB (default 1024, and never more than 55% of
 * MemAvailable), and only as much as the workers write in
 * compaction.fill_ms milliseconds (default 1500); the rest is unmapped.
 * Other options (kfarm.opt): compaction.workers (2 x CPUs, 2..8),
 * compaction.threads (2, 1..4), compaction.rounds (3),
 * compaction.seconds (time budget for the rounds, default 3 * scale),
 * compaction.reload=0 (no forced TLB reloads), compaction.proactive=0
 * (leave vm.compaction_proactiveness alone); for testing the test,
 * compaction.corrupt=1 (worker 0 damages one page itself) or =2 (once
 * the checker runs, worker 0 stops writing one page but keeps publishing,
 * as writes into a stale translation would look).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../kt.h"

#define COMPACT "/proc/sys/vm/compact_memory"
#define PROACTIVE "/proc/sys/vm/compaction_proactiveness"
#define MAX_WORKERS 8
#define MAX_THREADS 4
#define K_STEP 0x9e3779b97f4a7c15ULL

/* where a bad page was seen */
enum { SEEN_WORKER, SEEN_FINAL, SEEN_CHECKER };

struct bad {
	int set;
	int worker, where;
	uintptr_t addr;
	long index;
	uint64_t want_index, got_index, want_gen, got_gen;
	uint64_t stored_sum, computed_sum;
	long word;
	uint64_t want_word, got_word;
};

/* one thread's slice of a worker's pages */
struct slice {
	uintptr_t base;		/* in the worker's address space */
	long pages, first_index;
	uint64_t seq;		/* generation << 32 | pages rewritten this pass */
	long rounds, mismatches, final_mismatches;
};

struct ctl {
	int ready, stop, checker_stop;
	struct {
		pid_t pid;
		long pages;		/* kept (mapped) pages */
		long pfn_known, moved;	/* from pagemap; -1 = unavailable */
		int failed;		/* setup error, errno */
	} w[MAX_WORKERS];
	struct slice t[MAX_WORKERS][MAX_THREADS];
	long checked, check_mismatches, check_passes;
	int check_via_procmem, check_started;
	struct bad bad;
};

static struct ctl *ctl;
static size_t psz;
static size_t words;
static int nthreads = 2, reload = 1;
static uint64_t mix(uint64_t x)
{
	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	return x ^ (x >> 29);
}

/* word k of page `index` at generation `gen`; the last word is a checksum */
static inline uint64_t pattern(uint64_t base, size_t k)
{
	return base + k * K_STEP;
}

static uint64_t page_base(uint64_t index, uint64_t gen)
{
	return mix(index * 0x100000001b3ULL ^ (gen << 40) ^ gen);
}

static uint64_t checksum(const uint64_t *w)
{
	uint64_t s = 0;

	for (size_t k = 0; k < words - 1; k++)
		s = (s << 7 | s >> 57) ^ w[k];
	return s;
}

static void write_page(uint64_t *w, uint64_t index, uint64_t gen)
{
	uint64_t base = page_base(index, gen);

	w[0] = index;
	w[1] = gen;
	for (size_t k = 2; k < words - 1; k++)
		w[k] = pattern(base, k);
	w[words - 1] = checksum(w);
}

/* w: the page's contents (perhaps a copy); addr: where it is in the worker */
static void record_bad(int worker, int where, const uint64_t *w, uintptr_t addr,
		       uint64_t index, uint64_t gen)
{
	uint64_t base = page_base(index, gen);
	struct bad b = { .set = 1, .worker = worker, .where = where,
			 .addr = addr, .index = (long)index,
			 .want_index = index, .got_index = w[0],
			 .want_gen = gen, .got_gen = w[1],
			 .stored_sum = w[words - 1], .computed_sum = checksum(w),
			 .word = -1 };
	int zero = 0;

	/* the first differing word (the checksum is that of the expected page) */
	for (size_t k = 0; k < words - 1; k++) {
		uint64_t want = k == 0 ? index : k == 1 ? gen : pattern(base, k);

		if (w[k] != want) {
			b.word = (long)k;
			b.want_word = want;
			b.got_word = w[k];
			break;
		}
	}
	if (__atomic_compare_exchange_n(&ctl->bad.set, &zero, 2, 0,
					__ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
		ctl->bad = b;
	}
}

/* 1 if the page holds exactly (index, gen) */
static int page_ok(const uint64_t *w, uint64_t index, uint64_t gen)
{
	uint64_t base;

	if (w[0] != index || w[1] != gen)
		return 0;
	base = page_base(index, gen);
	for (size_t k = 2; k < words - 1; k++)
		if (w[k] != pattern(base, k))
			return 0;
	return w[words - 1] == checksum(w);
}

/* PFNs of `n` pages at `region` into pfn[]; returns how many are known */
static long read_pfns(char *region, long n, uint64_t *pfn)
{
	int fd = open("/proc/self/pagemap", O_RDONLY);
	size_t len = (size_t)n * sizeof(uint64_t);
	long known = 0;

	if (fd < 0)
		return -1;
	if (pread(fd, pfn, len, (off_t)((uintptr_t)region / psz * sizeof(uint64_t))) !=
	    (ssize_t)len) {
		close(fd);
		return -1;
	}
	close(fd);
	for (long i = 0; i < n; i++) {
		uint64_t e = pfn[i];
		pfn[i] = (e >> 63) ? (e & ((1ULL << 55) - 1)) : 0;
		if (pfn[i])
			known++;
	}
	return known;
}

/* Makes this CPU drop its translations of the slice: a yield (a context
 * switch if anything else is runnable) and an mprotect round trip (a TLB
 * flush of the range on every CPU running this mm). */
static void tlb_reload(struct slice *t)
{
	sched_yield();
	if (!reload)
		return;
	mprotect((void *)t->base, (size_t)t->pages * psz, PROT_READ);
	mprotect((void *)t->base, (size_t)t->pages * psz, PROT_READ | PROT_WRITE);
}

struct thread_arg {
	int worker;
	struct slice *t;
};

/* verify + rewrite passes over one slice until told to stop */
static void *slice_loop(void *arg)
{
	struct thread_arg *a = arg;
	struct slice *t = a->t;
	uint64_t gen = 1;
	long corrupt = a->worker == 0 && t == &ctl->t[0][0] ?
		       kt_opt_long("compaction.corrupt", 0) : 0;

	while (!__atomic_load_n(&ctl->stop, __ATOMIC_SEQ_CST)) {
		tlb_reload(t);
		if (corrupt == 1 && gen == 2)
			((uint64_t *)t->base)[5] ^= 1;
		for (long i = 0; i < t->pages; i++) {
			uint64_t *w = (uint64_t *)(t->base + (size_t)i * psz);
			uint64_t idx = (uint64_t)(t->first_index + i);

			if (!page_ok(w, idx, gen)) {
				t->mismatches++;
				record_bad(a->worker, SEEN_WORKER, w, (uintptr_t)w, idx, gen);
			}
			if (!(corrupt == 2 && i == 0 && ctl->check_started))
				write_page(w, idx, gen + 1);
			__atomic_store_n(&t->seq, gen << 32 | (uint64_t)(i + 1), __ATOMIC_RELEASE);
		}
		gen++;
		__atomic_store_n(&t->seq, gen << 32, __ATOMIC_RELEASE);
		t->rounds++;
	}
	tlb_reload(t);
	for (long i = 0; i < t->pages; i++) {
		uint64_t *w = (uint64_t *)(t->base + (size_t)i * psz);
		uint64_t idx = (uint64_t)(t->first_index + i);

		if (!page_ok(w, idx, gen)) {
			t->final_mismatches++;
			record_bad(a->worker, SEEN_FINAL, w, (uintptr_t)w, idx, gen);
		}
	}
	return NULL;
}

/*
 * Fault in the kept region and a filler region alternately, page by page,
 * so their physical pages interleave; then one munmap() of the filler
 * frees every other physical page.  Stops at `fill_end` (emulation is slow).
 * Then nthreads threads share the kept pages.
 */
static void worker(int id, long max, long first_index, double fill_end)
{
	char *keep, *filler;
	uint64_t *pfn0, *pfn1;
	long n = max, per;
	pthread_t th[MAX_THREADS];
	struct thread_arg args[MAX_THREADS];
	int started = 0;

	keep = mmap(NULL, (size_t)max * psz, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	filler = mmap(NULL, (size_t)max * psz, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	pfn0 = calloc((size_t)max, sizeof(uint64_t));
	pfn1 = calloc((size_t)max, sizeof(uint64_t));
	if (keep == MAP_FAILED || filler == MAP_FAILED || !pfn0 || !pfn1) {
		ctl->w[id].failed = errno ? errno : ENOMEM;
		__atomic_add_fetch(&ctl->ready, 1, __ATOMIC_SEQ_CST);
		_exit(1);
	}
	for (long i = 0; i < max; i++) {
		if (i % 32 == 0 && i >= 32 * nthreads && kt_now() > fill_end) {
			n = i;	/* out of time: drop the rest */
			munmap(keep + (size_t)i * psz, (size_t)(max - i) * psz);
			break;
		}
		write_page((uint64_t *)(keep + (size_t)i * psz),
			   (uint64_t)(first_index + i), 1);
		filler[(size_t)i * psz] = 1;
	}
	munmap(filler, (size_t)max * psz);	/* the holes */
	ctl->w[id].pages = n;
	ctl->w[id].pfn_known = read_pfns(keep, n, pfn0);
	per = n / nthreads;
	for (int k = 0; k < nthreads; k++) {
		struct slice *t = &ctl->t[id][k];

		t->base = (uintptr_t)keep + (size_t)(k * per) * psz;
		t->pages = k == nthreads - 1 ? n - k * per : per;
		t->first_index = first_index + k * per;
		t->seq = 1ULL << 32;
	}
	__atomic_add_fetch(&ctl->ready, 1, __ATOMIC_SEQ_CST);
	for (int k = 0; k < nthreads; k++) {
		args[k] = (struct thread_arg){ id, &ctl->t[id][k] };
		if (k > 0 && pthread_create(&th[k], NULL, slice_loop, &args[k]) == 0)
			started |= 1 << k;
		else if (k > 0)	/* run it ourselves after slice 0 */
			ctl->w[id].failed = EAGAIN;
	}
	slice_loop(&args[0]);
	for (int k = 1; k < nthreads; k++)
		if (started & 1 << k)
			pthread_join(th[k], NULL);
	if (ctl->w[id].pfn_known > 0 && read_pfns(keep, n, pfn1) > 0) {
		long moved = 0;
		for (long i = 0; i < n; i++)
			if (pfn0[i] && pfn1[i] && pfn0[i] != pfn1[i])
				moved++;
		ctl->w[id].moved = moved;
	} else {
		ctl->w[id].moved = -1;
	}
	_exit(0);
}

/*
 * The independent path: each page read through the worker's page tables
 * (process_vm_readv), checked against the generation its thread published.
 * Pages rewritten while being read are left out: seq before and after the
 * read tell which generation every other page must hold.
 */
#define CHUNK 32	/* pages per read */

/* len bytes of worker w at addr into buf: process_vm_readv, or /proc/PID/mem
 * where CONFIG_CROSS_MEMORY_ATTACH is off (both walk the page tables) */
static int read_remote(long w, uintptr_t addr, void *buf, size_t len, int *memfd)
{
	struct iovec l = { buf, len }, r = { (void *)addr, len };

	if (memfd[w] == -1) {
		ssize_t n = process_vm_readv(ctl->w[w].pid, &l, 1, &r, 1, 0);
		char path[64];

		if (n == (ssize_t)len)
			return 0;
		if (n >= 0 || errno != ENOSYS)
			return -1;
		snprintf(path, sizeof(path), "/proc/%d/mem", (int)ctl->w[w].pid);
		memfd[w] = open(path, O_RDONLY | O_CLOEXEC);
		if (memfd[w] < 0) {
			memfd[w] = -2;	/* neither path: give up on this worker */
			return -1;
		}
		ctl->check_via_procmem = 1;
	}
	if (memfd[w] == -2)
		return -1;
	return pread(memfd[w], buf, len, (off_t)addr) == (ssize_t)len ? 0 : -1;
}

/* CHUNK pages (or fewer) of a slice from i, checked against what was published */
static void check_chunk(long w, struct slice *t, long i, uint64_t *buf, int *memfd)
{
	long n = t->pages - i < CHUNK ? t->pages - i : CHUNK;
	uint64_t s1, s2, c1, c2, g = 0;

	s1 = __atomic_load_n(&t->seq, __ATOMIC_ACQUIRE);
	if (read_remote(w, t->base + (size_t)i * psz, buf, (size_t)n * psz, memfd))
		return;
	s2 = __atomic_load_n(&t->seq, __ATOMIC_ACQUIRE);
	if (s1 >> 32 != s2 >> 32)
		return;		/* a pass ended meanwhile */
	g = s1 >> 32;
	c1 = s1 & 0xffffffffu;
	c2 = s2 & 0xffffffffu;
	for (long k = 0; k < n; k++) {
		uint64_t j = (uint64_t)(i + k), gen, *p = buf + (size_t)k * words;

		/* pages c1..c2 may have been written while we read */
		if (j < c1)
			gen = g + 1;
		else if (j > c2)
			gen = g;
		else
			continue;
		ctl->checked++;
		if (!page_ok(p, (uint64_t)t->first_index + j, gen)) {
			ctl->check_mismatches++;
			record_bad((int)w, SEEN_CHECKER, p, t->base + (size_t)j * psz,
				   (uint64_t)t->first_index + j, gen);
		}
	}
}

/*
 * The independent path: each page read through the worker's page tables,
 * checked against the generation its thread published.
 */
static void checker(long nworkers)
{
	uint64_t *buf = malloc(CHUNK * psz);
	int memfd[MAX_WORKERS];

	if (!buf)
		_exit(1);
	for (long w = 0; w < MAX_WORKERS; w++)
		memfd[w] = -1;
	__atomic_store_n(&ctl->check_started, 1, __ATOMIC_SEQ_CST);
	while (!__atomic_load_n(&ctl->checker_stop, __ATOMIC_SEQ_CST)) {
		for (long w = 0; w < nworkers; w++)
			for (int k = 0; k < nthreads; k++)
				for (long i = 0; i < ctl->t[w][k].pages; i += CHUNK)
					check_chunk(w, &ctl->t[w][k], i, buf, memfd);
		ctl->check_passes++;
	}
	_exit(0);
}

/* ---- /proc/vmstat ---- */

static const char *const counters[] = {
	"pgmigrate_success", "pgmigrate_fail", "compact_migrate_scanned",
	"compact_free_scanned", "compact_isolated", "compact_stall",
	"compact_success", "compact_fail", "compact_daemon_wake", NULL,
};
#define NCOUNTERS (sizeof(counters) / sizeof(counters[0]) - 1)

/* fills v[]; -1 for counters the kernel does not have */
static void vmstat(long long *v)
{
	static char buf[32768];
	char *line, *save;

	for (size_t i = 0; i < NCOUNTERS; i++)
		v[i] = -1;
	if (kt_read_file("/proc/vmstat", buf, sizeof(buf)) < 0)
		return;
	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *sp = strchr(line, ' ');
		if (!sp)
			continue;
		*sp = 0;
		for (size_t i = 0; i < NCOUNTERS; i++)
			if (!strcmp(line, counters[i]))
				v[i] = atoll(sp + 1);
	}
}

static long mem_available_kb(void)
{
	char buf[8192], *p;

	if (kt_read_file("/proc/meminfo", buf, sizeof(buf)) < 0)
		return -1;
	p = strstr(buf, "MemAvailable:");
	if (!p)
		p = strstr(buf, "MemFree:");
	return p ? atol(strchr(p, ':') + 1) : -1;
}

static int compact_once(void)
{
	int fd = open(COMPACT, O_WRONLY);
	int r;

	if (fd < 0)
		return -errno;
	r = write(fd, "1\n", 2) == 2 ? 0 : -errno;
	close(fd);
	return r;
}

/* vm.compaction_proactiveness (5.9+): raised so kcompactd compacts too */
static long proactive(long set)
{
	char buf[32];
	long old = -1;
	int fd;

	if (kt_read_file(PROACTIVE, buf, sizeof(buf)) > 0)
		old = atol(buf);
	if (old < 0 || set < 0)
		return old;
	fd = open(PROACTIVE, O_WRONLY);
	if (fd >= 0) {
		snprintf(buf, sizeof(buf), "%ld\n", set);
		if (write(fd, buf, strlen(buf)) < 0)
			old = -1;
		close(fd);
	}
	return old;
}

static void report_bad(void)
{
	static const char *const where[] = {
		[SEEN_WORKER] = "by its writer while compacting",
		[SEEN_FINAL] = "by its writer in the final check",
		[SEEN_CHECKER] = "through the page tables (process_vm_readv)",
	};
	struct bad *b = &ctl->bad;

	if (!b->set)
		return;
	kt_diag("first bad page (worker %d, seen %s): addr 0x%lx index %ld: "
		"index want %llu got %llu, generation want %llu got %llu, "
		"checksum stored 0x%llx computed 0x%llx, "
		"first bad word %ld want 0x%llx got 0x%llx",
		b->worker, where[b->where], (unsigned long)b->addr, b->index,
		(unsigned long long)b->want_index, (unsigned long long)b->got_index,
		(unsigned long long)b->want_gen, (unsigned long long)b->got_gen,
		(unsigned long long)b->stored_sum, (unsigned long long)b->computed_sum,
		b->word, (unsigned long long)b->want_word, (unsigned long long)b->got_word);
}

/* the compaction rounds, with the checker reading alongside */
static int compact_phase(long nworkers, long rounds, double budget, int *done)
{
	double t0 = kt_now();
	long old = kt_opt_long("compaction.proactive", 1) ? proactive(100) : -1;
	pid_t chk = fork();
	int err = 0, st;

	if (chk == 0)
		checker(nworkers);
	*done = 0;
	while (*done < rounds && (*done < 1 || kt_now() - t0 < budget)) {
		err = compact_once();
		if (err)
			break;
		(*done)++;
		usleep(20000);	/* let the workers touch everything again */
	}
	usleep(20000);
	if (old >= 0)
		proactive(old);
	kt_diag("%d compaction rounds in %.2f s; vm.compaction_proactiveness %s", *done,
		kt_now() - t0, old >= 0 ? "raised to 100 meanwhile" : "left alone or absent");
	__atomic_store_n(&ctl->checker_stop, 1, __ATOMIC_SEQ_CST);
	if (chk > 0 && (waitpid(chk, &st, 0) != chk || !WIFEXITED(st) || WEXITSTATUS(st)))
		kt_fail("checker_exit", "checker: wait status 0x%x", st);
	if (chk < 0)
		kt_diag("checker: fork failed: %s", kt_errname(errno));
	return err;
}

static void run(void)
{
	long avail_kb = mem_available_kb(), ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	long mb = kt_opt_long("compaction.mb", 1024);
	double fill_s = (double)kt_opt_long("compaction.fill_ms", 1500) / 1000;
	long nworkers = kt_opt_long("compaction.workers", 2 * (ncpu > 1 ? ncpu : 1));
	long rounds = kt_opt_long("compaction.rounds", 3);
	double budget = (double)kt_opt_long("compaction.seconds", 3) * kt_scale();
	long long before[NCOUNTERS], after[NCOUNTERS];
	long total_pages, per, kept = 0, moved = 0, known = 0, mism = 0, fmism = 0;
	long wrounds_min = -1;
	pid_t pids[MAX_WORKERS];
	int err = 0, done = 0, have_vmstat = 0, have_pagemap = 1;
	double t0, t_fill;

	psz = (size_t)sysconf(_SC_PAGESIZE);
	words = psz / sizeof(uint64_t);
	nthreads = (int)kt_opt_long("compaction.threads", 2);
	if (nthreads < 1 || nthreads > MAX_THREADS)
		nthreads = 2;
	reload = kt_opt_long("compaction.reload", 1) != 0;
	if (nworkers < 1)
		nworkers = 2;
	if (nworkers > MAX_WORKERS)
		nworkers = MAX_WORKERS;
	if (avail_kb > 0 && mb * 1024 > avail_kb * 55 / 100)
		mb = avail_kb * 55 / 100 / 1024;
	if (mb < 1)
		kt_skip_all("not enough memory available (%ld kB)", avail_kb);
	total_pages = mb * 1024 * 1024 / (long)psz;
	per = total_pages / 2 / nworkers;	/* kept pages; as many holes */
	kt_diag("MemAvailable %ld kB; filling up to %ld MiB = %ld pages of %zu bytes "
		"for up to %.1f s in %ld workers x %d threads on %ld CPUs, every other "
		"page a filler freed afterwards; TLB reload before each pass: %s",
		avail_kb, mb, total_pages, psz, fill_s, nworkers, nthreads, ncpu,
		reload ? "yield + mprotect" : "yield only");

	err = compact_once();
	if (err == -EACCES || err == -EROFS || err == -EPERM)
		kt_skip_all("cannot write %s: %s", COMPACT, kt_errname(-err));

	ctl = mmap(NULL, sizeof(*ctl), PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (ctl == MAP_FAILED)
		kt_brok("mmap: %s", kt_errname(errno));

	t0 = kt_now();
	for (long i = 0; i < nworkers; i++) {
		pids[i] = fork();
		if (pids[i] < 0)
			kt_brok("fork: %s", kt_errname(errno));
		if (pids[i] == 0)
			worker((int)i, per, i * per, t0 + fill_s);
		ctl->w[i].pid = pids[i];
	}
	while (__atomic_load_n(&ctl->ready, __ATOMIC_SEQ_CST) < nworkers)
		usleep(10000);
	t_fill = kt_now() - t0;
	for (long i = 0; i < nworkers; i++) {
		if (ctl->w[i].failed)
			kt_brok("worker %ld could not map its memory: %s", i,
				kt_errname(ctl->w[i].failed));
		kept += ctl->w[i].pages;
		if (ctl->w[i].pfn_known <= 0)
			have_pagemap = 0;
	}
	kt_pass("fill_and_fragment");
	kt_diag("filled %ld MiB in %.2f s; %ld pages kept mapped", kept * 2 * (long)psz >> 20,
		t_fill, kept);

	vmstat(before);
	err = compact_phase(nworkers, rounds, budget, &done);
	vmstat(after);
	kt_check(!err, "compact_memory_write", "write %s: %s", COMPACT,
		 kt_errname(-err));

	__atomic_store_n(&ctl->stop, 1, __ATOMIC_SEQ_CST);
	for (long i = 0; i < nworkers; i++) {
		int st;
		if (waitpid(pids[i], &st, 0) != pids[i] || !WIFEXITED(st) ||
		    WEXITSTATUS(st))
			kt_fail("worker_exit", "worker %ld: wait status 0x%x", i, st);
		for (int k = 0; k < nthreads; k++) {
			struct slice *t = &ctl->t[i][k];

			mism += t->mismatches;
			fmism += t->final_mismatches;
			if (wrounds_min < 0 || t->rounds < wrounds_min)
				wrounds_min = t->rounds;
		}
		if (ctl->w[i].moved < 0)
			have_pagemap = 0;
		else
			moved += ctl->w[i].moved;
		known += ctl->w[i].pfn_known;
	}
	kt_diag("threads: at least %ld full verify+rewrite passes each, then a final verify; "
		"checker: %ld passes, %ld page reads compared (%s)", wrounds_min,
		ctl->check_passes, ctl->checked,
		ctl->check_via_procmem ? "/proc/PID/mem" : "process_vm_readv");

	for (size_t i = 0; i < NCOUNTERS; i++) {
		if (before[i] < 0)
			continue;
		if (!strcmp(counters[i], "pgmigrate_success"))
			have_vmstat = 1;
		kt_diag("vmstat %s %lld -> %lld (+%lld)", counters[i], before[i],
			after[i], after[i] - before[i]);
	}
	if (!have_vmstat)
		kt_diag("vmstat: no pgmigrate_success (CONFIG_VM_EVENT_COUNTERS off)");
	if (have_pagemap)
		kt_diag("pagemap: %ld of %ld kept pages changed physical frame",
			moved, known);
	else
		kt_diag("pagemap: PFNs unavailable (CONFIG_PROC_PAGE_MONITOR, or no CAP_SYS_ADMIN)");

	report_bad();
	kt_check(mism == 0, "pages_intact_while_compacting",
		 "%ld page mismatches (first: addr 0x%lx index %ld gen want %llu got %llu)",
		 mism, (unsigned long)ctl->bad.addr, ctl->bad.index,
		 (unsigned long long)ctl->bad.want_gen,
		 (unsigned long long)ctl->bad.got_gen);
	if (ctl->checked)
		kt_check(ctl->check_mismatches == 0, "pages_intact_through_page_tables",
			 "%ld of %ld pages read through the page tables (%s) held another "
			 "generation than their writer had published", ctl->check_mismatches,
			 ctl->checked, ctl->check_via_procmem ? "/proc/PID/mem"
							       : "process_vm_readv");
	else
		kt_skip("pages_intact_through_page_tables", "no page could be read through "
			"the page tables (process_vm_readv and /proc/PID/mem both failed)");
	kt_check(fmism == 0, "pages_intact_final",
		 "%ld of %ld pages bad at the end (first: addr 0x%lx index %ld gen want %llu got %llu)",
		 fmism, kept, (unsigned long)ctl->bad.addr, ctl->bad.index,
		 (unsigned long long)ctl->bad.want_gen,
		 (unsigned long long)ctl->bad.got_gen);

	long long migrated = have_vmstat ? after[0] - before[0] : -1;
	if (migrated > 0 || moved > 0) {
		kt_pass("migration_observed");
	} else {
		const char *why = !have_vmstat && !have_pagemap
			? "no evidence available: /proc/vmstat lacks pgmigrate_success "
			  "(CONFIG_VM_EVENT_COUNTERS) and pagemap PFNs are unavailable "
			  "(CONFIG_PROC_PAGE_MONITOR)"
			: "no page migrated during compaction";
		kt_skip("migration_observed", "%s", why);
		kt_conclude_skip("inconclusive: %s", why);
	}
}

KT_TEST(.name = "compaction", .run = run, .timeout = 120, .order = 10,
	.needs = KT_NEEDS({ COMPACT, "CONFIG_COMPACTION" }),
	.desc = "pages keep their contents while compact_memory migrates them");
