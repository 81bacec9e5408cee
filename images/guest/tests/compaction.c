/*
 * compaction: user pages must survive memory compaction intact.
 *
 * Worker processes fill private anonymous regions with pages whose every
 * word is derived from (page index, generation) and whose last word is a
 * checksum, faulting in a filler page after each one, then unmap the
 * filler so every other physical page is free: memory is fragmented.
 * While compaction runs, every worker thread keeps verifying its pages and
 * rewriting them with the next generation, publishing each page's
 * generation in a per-page seqlock.  A checker process reads the workers'
 * pages through process_vm_readv (or /proc/PID/mem without
 * CONFIG_CROSS_MEMORY_ATTACH) -- the page tables, not the writer's TLB --
 * and compares each with its published generation.  Each thread also runs
 * code from anonymous executable pages it rewrites every pass (VM_EXEC
 * pages migrate too).  At the end every page is verified once more.
 *
 * Why it is built this way (the alpha "user-space corruption during memory
 * compaction" bug, CVE-2026-43258, was a missing TLB shootdown on
 * migration): a write through a stale translation lands in the old copy,
 * so it is lost only if the writer touches a page again after the copy
 * and before its CPU drops the translation.  Under QEMU a context switch
 * drops all of them (Debian's alpha PALcode has no ASNs), so writers must
 * keep running: an epoch of compaction.sweeps passes over the same pages
 * without a TLB reload (warm-up makes QEMU's TLB big enough to hold them),
 * then a forced reload (yield + mprotect round trip), after which the
 * writer itself sees what it lost.
 *
 * Compaction moves a page only if its migrate scanner (from the zone's
 * start up) reaches it before meeting the free scanner (from the zone's
 * end down, taking free frames in partly used pageblocks only), so after
 * its fill each worker gives back its kept pages at the highest frames
 * (compaction.give_back, 50% of all kept pages) but one per pageblock,
 * and per-CPU free lists are kept small and flushed by freeing junk after
 * the holes: the rest then has free targets above it, and moves.
 *
 * Phases, each its own fill, compaction and check (default pinned+crowd;
 * "lazy" for 6.1's hole needs kcompactd, which does not run here: see
 * images/guest/README.md):
 *  - "pinned" (2+ CPUs): one writer thread per CPU but the first, each
 *    pinned to its CPU, single-threaded workers (compaction.pinned_threads=2:
 *    one mm on two CPUs, whose TLB reloads then flush each other);
 *    the parent compacts and the checker reads on CPU 0.  Nothing else
 *    runs on the writers' CPUs, so their translations live a whole epoch.
 *  - "crowd": more workers than CPUs (2 x CPUs, 2 threads each), unpinned,
 *    with vm.compaction_proactiveness raised (kcompactd, which runs on a
 *    borrowed mm) and each worker writing compact_memory itself once (its
 *    own pages migrated while its mm is current).
 *
 * A mismatch fails with the first bad page's address, index, generation
 * and checksum, expected and got.  Migration evidence is reported from
 * /proc/vmstat (before/after deltas per phase) and from /proc/self/pagemap
 * (how many of the workers' pages changed physical frame); with no
 * evidence that any page moved the run is inconclusive: SKIP.
 *
 * Each phase's fill is bounded so the test stays fast under emulation: at
 * most compaction.mb MiB (default 24, and never more than 55% of
 * MemAvailable), and only as much as the workers write in
 * compaction.fill_ms milliseconds (default 1500).  Options (kfarm.opt) are
 * in images/guest/README.md; for testing the test, compaction.corrupt=1
 * (a worker damages one page itself) or =2 (once the checker runs, a
 * worker stops writing one page but keeps publishing, as writes into a
 * stale translation would look).
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
#define PCP_FRACTION "/proc/sys/vm/percpu_pagelist_high_fraction"
#define STAT_INTERVAL "/proc/sys/vm/stat_interval"
#define JUNK_PAGES 288		/* per worker: freed last, pushes the holes out of the pcp lists */
#define MAX_WORKERS 8
#define MAX_THREADS 4
#define EXEC_PAGES 4		/* executable pages per thread */
#define K_STEP 0x9e3779b97f4a7c15ULL
#define PUB_NONE UINT32_MAX	/* pub[] of a page given back (never migrated) */
#define MAX_ZONES 8
#define NBINS 4096		/* frame histogram bins (the split of the fill) */
#define MAX_BLOCKS 4096		/* pageblocks told apart */

/* where a bad page was seen */
enum { SEEN_WORKER, SEEN_FINAL, SEEN_CHECKER, SEEN_EXEC };

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
	long live;		/* first page not given back (PUB_NONE) */
	uint32_t *pub;		/* per page: generation << 1 | writing, or PUB_NONE */
	int cpu;		/* pinned to, or -1 */
	int hop;		/* CPU visited at each epoch's start, or -1 */
	long passes, mismatches, final_mismatches, exec_mismatches, exec_calls;
	long switches;		/* context switches while writing (each empties its TLB) */
};

struct ctl {
	int ready, warm, stop, checker_stop, check_started;
	int filled, split_set;
	uint64_t split;		/* kept pages at frames from here up are given back */
	unsigned short hist[MAX_WORKERS][NBINS];	/* kept pages per frame bin */
	struct {
		pid_t pid;
		int nthreads;
		long pages;		/* kept (mapped) pages */
		long pfn_known, moved;	/* from pagemap; -1 = unavailable */
		long dropped;		/* kept pages given back: in a zone's last pageblock */
		uint64_t pfn_lo, pfn_hi;	/* kept pages' frames after the fill */
		int failed;		/* setup error, errno */
		int self_compacted;	/* 1 = wrote compact_memory itself */
	} w[MAX_WORKERS];
	struct slice t[MAX_WORKERS][MAX_THREADS];
	long checked, check_mismatches, check_passes;
	int check_via_procmem;
	struct bad bad;
};

/* what one phase does differently */
struct phase {
	const char *name;
	int pinned;		/* writers one per CPU 1..n-1; needs 2+ CPUs */
	int crowd;		/* 2 x CPUs workers, kcompactd, self-compaction */
	int lazy;		/* kcompactd on a CPU lazily on a writer's mm */
};

static const struct phase phases[] = {
	{ "pinned", 1, 0, 0 },
	{ "lazy", 0, 0, 1 },
	{ "crowd", 0, 1, 0 },
};

/* The phases named in which ('+'-separated), one bit each by phases[]
 * order; a name that is no phase is the test's setup error (a typo would
 * leave a phase out without a word). */
static unsigned int chosen_phases(const char *which)
{
	unsigned int mask = 0;

	for (const char *p = which; *p;) {
		size_t n = strcspn(p, "+"), i;

		for (i = 0; i < sizeof(phases) / sizeof(phases[0]); i++)
			if (strlen(phases[i].name) == n && !strncmp(p, phases[i].name, n))
				break;
		if (i == sizeof(phases) / sizeof(phases[0]))
			kt_brok("unknown phase '%.*s' in compaction.phases=%s (of pinned, lazy, "
				"crowd, '+'-separated)", (int)(n < 32 ? n : 32), p, which);
		mask |= 1u << i;
		p += n + (p[n] == '+');
	}
	return mask;
}

static struct ctl *ctl;
static size_t psz;
static size_t words;
static int reload = 1, sweeps = 4, use_exec = 1;
/* the zones' frames [start, end) and frames per pageblock, from /proc */
static uint64_t zone_start[MAX_ZONES], zone_end[MAX_ZONES], pb_pages;
static int nzones;

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

/* ---- code in anonymous executable pages ---- */

/*
 * A function "return IMM" as machine code at p, for the arches kfarm
 * boots; 0 where unknown (the exec part is then left out).  IMM < 2048
 * fits every encoding used.
 */
static int emit_ret_imm(void *p, unsigned imm)
{
	uint32_t *u = p;
	unsigned char *b = p;

#if defined(__x86_64__)
	b[0] = 0xb8;			/* mov $imm, %eax */
	memcpy(b + 1, &imm, 4);
	b[5] = 0xc3;			/* ret */
	(void)u;
	return 1;
#elif defined(__aarch64__)
	u[0] = 0x52800000u | imm << 5;	/* movz w0, #imm */
	u[1] = 0xd65f03c0u;		/* ret */
	(void)b;
	return 1;
#elif defined(__riscv) && __riscv_xlen == 64
	u[0] = imm << 20 | 10 << 7 | 0x13;	/* addi a0, zero, imm */
	u[1] = 0x00008067u;			/* ret */
	(void)b;
	return 1;
#elif defined(__sparc__) && defined(__arch64__)
	u[0] = 0x81c3e008u;		/* retl */
	u[1] = 0x90102000u | imm;	/* mov imm, %o0 (delay slot) */
	(void)b;
	return 1;
#elif defined(__alpha__)
	u[0] = 0x201f0000u | imm;	/* lda $0, imm($31) */
	u[1] = 0x6bfa8001u;		/* ret $31, ($26), 1 */
	(void)b;
	return 1;
#else
	(void)u;
	(void)b;
	(void)imm;
	return 0;
#endif
}

static unsigned exec_value(uint64_t index, uint64_t gen)
{
	return (unsigned)(mix(index ^ gen << 20) & 0x7ff);
}

/* writes the code for (index, gen) into page p and makes it fetchable */
static void exec_write(char *p, uint64_t index, uint64_t gen)
{
	emit_ret_imm(p, exec_value(index, gen));
	__builtin___clear_cache(p, p + 16);
}

static unsigned exec_call(char *p)
{
	unsigned (*f)(void);

	memcpy(&f, &p, sizeof(f));	/* object to function pointer */
	return f();
}

/* ---- the writers ---- */

struct thread_arg {
	int worker, self_compact;
	struct slice *t;
	char *exec;		/* EXEC_PAGES pages, or NULL */
};

static int compact_once(void);
static int never_migrated(uint64_t pfn);

/*
 * Makes this CPU drop its translations of the slice: a yield (a context
 * switch if anything else is runnable) and an mprotect round trip (a TLB
 * flush on every CPU running this mm).
 */
static void tlb_reload(struct thread_arg *a)
{
	struct slice *t = a->t;

	sched_yield();
	if (!reload)
		return;
	mprotect((void *)t->base, (size_t)t->pages * psz, PROT_READ);
	mprotect((void *)t->base, (size_t)t->pages * psz, PROT_READ | PROT_WRITE);
	if (a->exec) {
		mprotect(a->exec, EXEC_PAGES * psz, PROT_READ);
		mprotect(a->exec, EXEC_PAGES * psz, PROT_READ | PROT_WRITE | PROT_EXEC);
	}
}

/*
 * Grow the emulator's TLB to hold the slice: touch every page, then force a
 * full flush, a few times (QEMU doubles a busy TLB at each flush).  A real
 * CPU's TLB is what it is; this only costs a few reads there.
 */
static void tlb_warmup(struct thread_arg *a)
{
	volatile uint64_t sink = 0;

	/* unpinned writers share their CPUs: a context switch empties the TLB
	 * anyway, and any thread grows its CPU's TLB */
	for (int r = 0; r < (a->t->cpu >= 0 ? 8 : 2); r++) {
		for (long i = 0; i < a->t->pages; i++)
			if (a->t->pub[i] != PUB_NONE)
				sink += *(volatile uint64_t *)(a->t->base + (size_t)i * psz);
		tlb_reload(a);
	}
	(void)sink;
}

static void set_cpu(pid_t pid, int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	if (cpu >= 0)
		CPU_SET(cpu, &set);
	else
		for (int c = 0; c < CPU_SETSIZE; c++)
			CPU_SET(c, &set);
	sched_setaffinity(pid, sizeof(set), &set);
}

static void publish(uint32_t *pub, uint64_t gen, int writing)
{
	if (writing) {
		__atomic_store_n(pub, (uint32_t)(gen << 1 | 1), __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
	} else {
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		__atomic_store_n(pub, (uint32_t)(gen << 1), __ATOMIC_RELEASE);
	}
}

/* one verify + rewrite pass at generation gen (pages hold gen, get gen + 1) */
static void pass(struct thread_arg *a, uint64_t gen, long corrupt)
{
	struct slice *t = a->t;

	if (corrupt == 1 && gen == 2 && t->live < t->pages)
		((uint64_t *)(t->base + (size_t)t->live * psz))[5] ^= 1;
	for (long i = 0; i < t->pages; i++) {
		uint64_t *w = (uint64_t *)(t->base + (size_t)i * psz);
		uint64_t idx = (uint64_t)(t->first_index + i);

		if (t->pub[i] == PUB_NONE)
			continue;
		if (!page_ok(w, idx, gen)) {
			t->mismatches++;
			record_bad(a->worker, SEEN_WORKER, w, (uintptr_t)w, idx, gen);
		}
		publish(&t->pub[i], gen + 1, 1);
		if (!(corrupt == 2 && i == t->live && ctl->check_started))
			write_page(w, idx, gen + 1);
		publish(&t->pub[i], gen + 1, 0);
	}
	for (int e = 0; a->exec && e < EXEC_PAGES; e++) {
		char *p = a->exec + (size_t)e * psz;
		uint64_t idx = (uint64_t)(t->first_index + e);
		unsigned got = exec_call(p);

		t->exec_calls++;
		if (got != exec_value(idx, gen))
			t->exec_mismatches++;
		exec_write(p, idx, gen + 1);
	}
	t->passes++;
}

/* this thread's context switches so far (voluntary and not) */
static long ctx_switches(void)
{
	char buf[4096], *p;
	long n = 0;

	if (kt_read_file("/proc/thread-self/status", buf, sizeof(buf)) <= 0)
		return 0;
	for (p = buf; (p = strstr(p, "ctxt_switches:")); p += 14)
		n += atol(p + 14);
	return n;
}

/*
 * Empties this CPU's per-CPU LRU batches (a munmap drains them): each
 * compact_memory write first drains every CPU's that is not empty by
 * work on that CPU, and a kworker running on a writer's CPU just before
 * the migration empties its TLB (a context switch, under QEMU).
 */
static void drain_local_lru(void)
{
	void *p = mmap(NULL, psz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p != MAP_FAILED) {
		*(volatile char *)p = 1;
		munmap(p, psz);
	}
}

/* epochs of `sweeps` passes between TLB reloads, until told to stop */
static void *slice_loop(void *arg)
{
	struct thread_arg *a = arg;
	struct slice *t = a->t;
	uint64_t gen = 1;
	long corrupt = a->worker == 0 && t == &ctl->t[0][0] ?
		       kt_opt_long("compaction.corrupt", 0) : 0;
	long epoch = 0;

	if (t->cpu >= 0)
		set_cpu(0, t->cpu);
	tlb_warmup(a);
	drain_local_lru();
	t->switches = -ctx_switches();
	__atomic_add_fetch(&ctl->warm, 1, __ATOMIC_SEQ_CST);
	while (!__atomic_load_n(&ctl->stop, __ATOMIC_SEQ_CST)) {
		if (t->hop >= 0) {
			/* leave our mm on the hop CPU, lazily, for kcompactd */
			set_cpu(0, t->hop);
			set_cpu(0, t->cpu);
		}
		tlb_reload(a);
		for (int s = 0; s < sweeps; s++) {
			pass(a, gen, corrupt);
			gen++;
			/* the mm's own compaction, mid-epoch: its TLB is not reloaded */
			if (a->self_compact && epoch == 1 && s == 0 &&
			    !__atomic_load_n(&ctl->stop, __ATOMIC_SEQ_CST) &&
			    compact_once() == 0)
				ctl->w[a->worker].self_compacted = 1;
		}
		epoch++;
	}
	t->switches += ctx_switches();
	tlb_reload(a);
	for (long i = 0; i < t->pages; i++) {
		uint64_t *w = (uint64_t *)(t->base + (size_t)i * psz);
		uint64_t idx = (uint64_t)(t->first_index + i);

		if (t->pub[i] == PUB_NONE)
			continue;
		if (!page_ok(w, idx, gen)) {
			t->final_mismatches++;
			record_bad(a->worker, SEEN_FINAL, w, (uintptr_t)w, idx, gen);
		}
	}
	for (int e = 0; a->exec && e < EXEC_PAGES; e++)
		if (exec_call(a->exec + (size_t)e * psz) !=
		    exec_value((uint64_t)(t->first_index + e), gen))
			t->exec_mismatches++;
	return NULL;
}

static uint64_t max_frame(void)
{
	uint64_t m = 0;

	for (int z = 0; z < nzones; z++)
		if (zone_end[z] > m)
			m = zone_end[z];
	return m;
}

static int frame_bin(uint64_t pfn)
{
	uint64_t m = max_frame();

	return m && pfn < m ? (int)(pfn * NBINS / m) : NBINS - 1;
}

/*
 * Compaction's free scanner takes its target frames from the zone's top
 * down, only in pageblocks that are partly in use (a wholly free block is
 * no target), and its migrate scanner moves pages from the bottom up to
 * where the two meet, never the zone's last pageblock; with no target left
 * it gives up early.  So that many kept pages move, the kept pages at
 * frames from ctl->split up (the top half of the fill, and any in a zone's
 * last pageblock) are given back, but for one per pageblock: their frames
 * and the fillers' beside them are free targets above the rest.
 */
static void give_back(int id, char *keep, long n, uint64_t *pfn0, uint32_t *pub)
{
	static unsigned char one[MAX_BLOCKS / 8];

	if (!pb_pages)
		return;
	memset(one, 0, sizeof(one));
	for (long i = 0; i < n; i++) {
		uint64_t b = pfn0[i] / pb_pages;

		if (!pfn0[i] || (pfn0[i] < ctl->split && !never_migrated(pfn0[i])))
			continue;
		if (b >= MAX_BLOCKS)
			b = MAX_BLOCKS - 1;
		if (!(one[b / 8] & 1 << b % 8)) {
			one[b / 8] |= (unsigned char)(1 << b % 8);	/* the block stays partly used */
			continue;
		}
		if (madvise(keep + (size_t)i * psz, psz, MADV_DONTNEED) == 0) {
			pub[i] = PUB_NONE;
			pfn0[i] = 0;
			ctl->w[id].dropped++;
		}
	}
}

/*
 * Fault in the kept region and a filler region alternately, page by page,
 * so their physical pages interleave; then one munmap() of the filler
 * frees every other physical page.  Stops at `fill_end` (emulation is slow).
 * Then the worker's threads share the kept pages.
 */
static void worker(int id, long max, long first_index, double fill_end,
		   uint32_t *pub, int self_compact)
{
	int nthreads = ctl->w[id].nthreads;
	char *keep, *filler, *junk, *exec = NULL;
	uint64_t *pfn0, *pfn1;
	long n = max, per;
	pthread_t th[MAX_THREADS];
	struct thread_arg args[MAX_THREADS];
	int started = 0;

	if (ctl->t[id][0].cpu >= 0)	/* fill where the first thread runs */
		set_cpu(0, ctl->t[id][0].cpu);
	keep = mmap(NULL, (size_t)max * psz, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	filler = mmap(NULL, (size_t)max * psz, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	pfn0 = calloc((size_t)max, sizeof(uint64_t));
	pfn1 = calloc((size_t)max, sizeof(uint64_t));
	if (keep == MAP_FAILED || filler == MAP_FAILED || !pfn0 || !pfn1) {
		ctl->w[id].failed = errno ? errno : ENOMEM;
		__atomic_add_fetch(&ctl->filled, 1, __ATOMIC_SEQ_CST);
		__atomic_add_fetch(&ctl->ready, 1, __ATOMIC_SEQ_CST);
		_exit(1);
	}
	if (use_exec) {
		exec = mmap(NULL, (size_t)nthreads * EXEC_PAGES * psz,
			    PROT_READ | PROT_WRITE | PROT_EXEC,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (exec == MAP_FAILED)
			exec = NULL;	/* W^X policies: the data pages still count */
	}
	/*
	 * Freed pages go to the freeing CPU's per-CPU lists first (up to its
	 * pcp high mark, 252 pages here with percpu_pagelist_high_fraction
	 * raised; 6.12 grows it to ~1,600 otherwise), where compaction's free
	 * scanner does not see them: the oldest are pushed out to the buddy
	 * lists by later frees.  So the holes are freed first and this junk
	 * after them.
	 */
	junk = mmap(NULL, JUNK_PAGES * psz, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	for (long i = 0; i < max; i++) {
		if (i % 32 == 0 && i >= 32 * nthreads && kt_now() > fill_end) {
			n = i;	/* out of time: drop the rest */
			munmap(keep + (size_t)i * psz, (size_t)(max - i) * psz);
			break;
		}
		write_page((uint64_t *)(keep + (size_t)i * psz),
			   (uint64_t)(first_index + i), 1);
		pub[i] = 1 << 1;
		filler[(size_t)i * psz] = 1;
	}
	munmap(filler, (size_t)max * psz);	/* the holes */
	ctl->w[id].pages = n;
	ctl->w[id].pfn_known = read_pfns(keep, n, pfn0);
	ctl->w[id].pfn_lo = UINT64_MAX;
	for (long i = 0; i < n; i++) {
		if (pfn0[i] && pfn0[i] < ctl->w[id].pfn_lo)
			ctl->w[id].pfn_lo = pfn0[i];
		if (pfn0[i] > ctl->w[id].pfn_hi)
			ctl->w[id].pfn_hi = pfn0[i];
		if (pfn0[i])
			ctl->hist[id][frame_bin(pfn0[i])]++;
	}
	__atomic_add_fetch(&ctl->filled, 1, __ATOMIC_SEQ_CST);
	while (!__atomic_load_n(&ctl->split_set, __ATOMIC_SEQ_CST))
		usleep(2000);
	give_back(id, keep, n, pfn0, pub);
	if (ctl->w[id].pfn_known > 0)
		ctl->w[id].pfn_known -= ctl->w[id].dropped;
	if (junk != MAP_FAILED)
		munmap(junk, JUNK_PAGES * psz);
	per = n / nthreads;
	for (int k = 0; k < nthreads; k++) {
		struct slice *t = &ctl->t[id][k];

		t->base = (uintptr_t)keep + (size_t)(k * per) * psz;
		t->pages = k == nthreads - 1 ? n - k * per : per;
		t->first_index = first_index + k * per;
		t->pub = pub + k * per;
		for (t->live = 0; t->live < t->pages && t->pub[t->live] == PUB_NONE; t->live++)
			;
		args[k] = (struct thread_arg){ id, self_compact && k == 0, t,
					       exec ? exec + (size_t)k * EXEC_PAGES * psz : NULL };
		for (int e = 0; args[k].exec && e < EXEC_PAGES; e++)
			exec_write(args[k].exec + (size_t)e * psz,
				   (uint64_t)(t->first_index + e), 1);
	}
	__atomic_add_fetch(&ctl->ready, 1, __ATOMIC_SEQ_CST);
	for (int k = 1; k < nthreads; k++) {
		if (pthread_create(&th[k], NULL, slice_loop, &args[k]) == 0)
			started |= 1 << k;
		else
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

/* ---- the checker: the independent path ---- */

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

/*
 * CHUNK pages (or fewer) of a slice from i, each checked against its
 * published generation: a seqlock read (even and unchanged across the read
 * = no write overlapped, so the page must hold exactly that generation).
 */
static void check_chunk(long w, struct slice *t, long i, uint64_t *buf, int *memfd)
{
	long n = t->pages - i < CHUNK ? t->pages - i : CHUNK;
	uint32_t p1[CHUNK];

	for (long k = 0; k < n; k++)
		p1[k] = __atomic_load_n(&t->pub[i + k], __ATOMIC_ACQUIRE);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (read_remote(w, t->base + (size_t)i * psz, buf, (size_t)n * psz, memfd))
		return;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	for (long k = 0; k < n; k++) {
		uint32_t p2 = __atomic_load_n(&t->pub[i + k], __ATOMIC_ACQUIRE);
		uint64_t *p = buf + (size_t)k * words, idx = (uint64_t)(t->first_index + i + k);

		if ((p1[k] & 1) || p1[k] != p2)
			continue;	/* written while we read */
		ctl->checked++;
		if (!page_ok(p, idx, p1[k] >> 1)) {
			ctl->check_mismatches++;
			record_bad((int)w, SEEN_CHECKER, p, t->base + (size_t)(i + k) * psz,
				   idx, p1[k] >> 1);
		}
	}
}

static void checker(long nworkers, int cpu)
{
	uint64_t *buf = malloc(CHUNK * psz);
	int memfd[MAX_WORKERS];

	if (!buf)
		_exit(1);
	if (cpu >= 0)
		set_cpu(0, cpu);
	for (long w = 0; w < MAX_WORKERS; w++)
		memfd[w] = -1;
	__atomic_store_n(&ctl->check_started, 1, __ATOMIC_SEQ_CST);
	while (!__atomic_load_n(&ctl->checker_stop, __ATOMIC_SEQ_CST)) {
		for (long w = 0; w < nworkers; w++)
			for (int k = 0; k < ctl->w[w].nthreads; k++)
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
	"compact_success", "compact_fail", "compact_daemon_wake",
	"compact_daemon_migrate_scanned", NULL,
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

/* a sysctl's old value (-1: absent or unwritable), set to `set` if >= 0 */
static long sysctl_swap(const char *path, long set)
{
	char buf[32];
	long old = -1;
	int fd;

	if (kt_read_file(path, buf, sizeof(buf)) > 0)
		old = atol(buf);
	if (old < 0 || set < 0)
		return old;
	fd = open(path, O_WRONLY);
	if (fd >= 0) {
		snprintf(buf, sizeof(buf), "%ld\n", set);
		if (write(fd, buf, strlen(buf)) < 0)
			old = -1;
		close(fd);
	}
	return old;
}

/* vm.compaction_proactiveness (5.9+): raised so kcompactd compacts too */
static long proactive(long set)
{
	return sysctl_swap(PROACTIVE, set);
}

static void report_bad(void)
{
	static const char *const where[] = {
		[SEEN_WORKER] = "by its writer while compacting",
		[SEEN_FINAL] = "by its writer in the final check",
		[SEEN_CHECKER] = "through the page tables (process_vm_readv)",
		[SEEN_EXEC] = "running its code",
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

/* the zones' frames and free pages, from /proc/zoneinfo (compaction's
 * migrate scanner starts at a zone's start, its free scanner at the end),
 * and the frames per pageblock, from /proc/pagetypeinfo */
static void zones(void)
{
	static char buf[65536];
	char *line, *save, *p, zone[32] = "";
	long long spanned = -1, nfree = -1;

	if (kt_read_file("/proc/pagetypeinfo", buf, sizeof(buf)) > 0 &&
	    (p = strstr(buf, "Pages per block:")))
		pb_pages = strtoull(p + 16, NULL, 10);
	if (kt_read_file("/proc/zoneinfo", buf, sizeof(buf)) < 0)
		return;
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		p = line + strspn(line, " ");
		if (!strncmp(p, "Node ", 5) && strstr(p, "zone")) {
			p = strstr(p, "zone") + 4;
			snprintf(zone, sizeof(zone), "%s", p + strspn(p, " "));
		} else if (!strncmp(p, "pages free", 10)) {
			nfree = atoll(p + 10);
		} else if (!strncmp(p, "spanned", 7)) {
			spanned = atoll(p + 7);
		} else if (!strncmp(p, "start_pfn:", 10)) {
			long long start = atoll(p + 10);

			if (spanned > 0 && nzones < MAX_ZONES) {
				zone_start[nzones] = (uint64_t)start;
				zone_end[nzones++] = (uint64_t)(start + spanned);
				kt_diag("zone %s: frames 0x%llx..0x%llx, %lld free, %llu per "
					"pageblock", zone, start, start + spanned - 1, nfree,
					(unsigned long long)pb_pages);
			}
			spanned = nfree = -1;
		}
	}
}

/* 1 if compaction never migrates frame pfn: in its zone's last pageblock */
static int never_migrated(uint64_t pfn)
{
	for (int z = 0; pb_pages && z < nzones; z++)
		if (pfn >= zone_start[z] && pfn < zone_end[z])
			return pfn >= (zone_end[z] - 1) / pb_pages * pb_pages;
	return 0;
}

/* pid of the kernel thread named `comm`, or -1 */
static pid_t find_kthread(const char *comm)
{
	char path[64], buf[64];

	for (pid_t pid = 2; pid < 4096; pid++) {
		snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
		if (kt_read_file(path, buf, sizeof(buf)) > 0 &&
		    !strncmp(buf, comm, strlen(comm)) && buf[strlen(comm)] == '\n')
			return pid;
	}
	return -1;
}

/* the frame from which the top pct % of the workers' kept pages lie
 * (0: give nothing back) */
static uint64_t split_frame(long nworkers, long pct)
{
	long total = 0, above = 0;

	if (pct <= 0 || !pb_pages || !max_frame())
		return UINT64_MAX;
	for (long w = 0; w < nworkers; w++)
		for (int b = 0; b < NBINS; b++)
			total += ctl->hist[w][b];
	for (int b = NBINS - 1; b > 0; b--) {
		for (long w = 0; w < nworkers; w++)
			above += ctl->hist[w][b];
		if (above * 100 >= total * pct)
			return (uint64_t)b * max_frame() / NBINS;
	}
	return UINT64_MAX;
}

/* the compaction rounds, with the checker reading alongside */
static int compact_phase(const struct phase *ph, long nworkers, long rounds,
			 double budget, int *done, int side_cpu)
{
	double t0 = kt_now();
	long old = (ph->crowd || ph->lazy) && kt_opt_long("compaction.proactive", 1)
		   ? proactive(100) : -1;
	/* lazy on 2 CPUs: no checker on the writer's CPU */
	pid_t chk = ph->lazy && side_cpu < 0 ? -2 : fork();
	int err = 0, st = 0;

	if (chk == 0)
		checker(nworkers, side_cpu);
	*done = 0;
	if (ph->lazy) {
		/* kcompactd alone migrates; one sleep, no wake-ups meanwhile */
		usleep((useconds_t)(budget * 1e6));
		rounds = 0;
	}
	while (*done < rounds && (*done < 1 || kt_now() - t0 < budget)) {
		err = compact_once();
		if (err)
			break;
		(*done)++;
		usleep(20000);	/* let the workers touch everything again */
	}
	/* let every writer end an epoch after the last migration */
	usleep((useconds_t)(200000 * kt_scale()));
	if (old >= 0)
		proactive(old);
	kt_diag("%s: %d compaction rounds in %.2f s; vm.compaction_proactiveness %s",
		ph->name, *done, kt_now() - t0,
		old >= 0 ? "raised to 100 meanwhile" : "left alone or absent");
	__atomic_store_n(&ctl->checker_stop, 1, __ATOMIC_SEQ_CST);
	if (chk > 0 && (waitpid(chk, &st, 0) != chk || !WIFEXITED(st) || WEXITSTATUS(st)))
		kt_fail("checker_exit", "checker: wait status 0x%x", st);
	if (chk == -1)
		kt_diag("checker: fork failed: %s", kt_errname(errno));
	return err;
}

/* totals over the phases */
struct totals {
	long kept, moved, known, mism, fmism, emism, ecalls, checked, cmism;
	long long migrated;
	int have_vmstat, have_pagemap, compact_err, via_procmem, self;
};

static void run_phase(const struct phase *ph, long ncpu, long avail_kb, struct totals *tot)
{
	long mb = kt_opt_long("compaction.mb", 24);
	double fill_s = (double)kt_opt_long("compaction.fill_ms", 1500) / 1000;
	long rounds = kt_opt_long("compaction.rounds", 3);
	double budget = (double)kt_opt_long("compaction.seconds", 3) * kt_scale();
	long nworkers, nthreads_all = 0, per, total_pages, kept = 0, moved = 0, known = 0;
	long mism = 0, fmism = 0, emism = 0, ecalls = 0, wpasses = -1, dropped = 0, sw = 0;
	long long before[NCOUNTERS], after[NCOUNTERS];
	pid_t pids[MAX_WORKERS];
	uint32_t *pub;
	int done = 0, err, pagemap = 1;
	double t0, t_fill;

	int side_cpu = -1;	/* parent and checker */
	long frac, stat_iv;
	pid_t kcd = -1;

	memset(ctl, 0, sizeof(*ctl));
	if (ph->lazy) {
		/* CPU 0: kcompactd, visited by each writer at each epoch's start,
		 * so that kcompactd runs there on a writer's mm (lazy TLB);
		 * writers single-threaded (mm_users 1) on CPUs 1..n-2; parent
		 * and checker on CPU n-1 (3+ CPUs; on 2, no checker) */
		kcd = find_kthread("kcompactd0");
		nworkers = ncpu >= 3 ? ncpu - 2 : 1;
		if (nworkers > MAX_WORKERS)
			nworkers = MAX_WORKERS;
		side_cpu = ncpu >= 3 ? (int)ncpu - 1 : -1;
		for (long i = 0; i < nworkers; i++) {
			ctl->w[i].nthreads = 1;
			ctl->t[i][0].cpu = (int)(1 + i);
			ctl->t[i][0].hop = 0;
			nthreads_all++;
		}
		if (kcd > 0)
			set_cpu(kcd, 0);
	} else if (ph->pinned) {
		/*
		 * one writer per CPU but CPU 0, single-threaded by default: a
		 * sibling thread's TLB reload (mprotect) flushes the whole mm on
		 * every CPU that runs it, its stale entries too
		 */
		long nt = ncpu - 1, pt = kt_opt_long("compaction.pinned_threads", 1);

		if (pt < 1 || pt > 2)
			pt = 1;
		if (nt > pt * MAX_WORKERS)
			nt = pt * MAX_WORKERS;
		nworkers = (nt + pt - 1) / pt;
		for (long i = 0; i < nworkers; i++) {
			ctl->w[i].nthreads = i == nworkers - 1 && nt % pt ? 1 : (int)pt;
			for (int k = 0; k < ctl->w[i].nthreads; k++) {
				ctl->t[i][k].cpu = (int)(1 + nthreads_all++);
				ctl->t[i][k].hop = -1;
			}
		}
		side_cpu = 0;
	} else {
		long th = kt_opt_long("compaction.threads", 2);

		nworkers = kt_opt_long("compaction.workers", 2 * ncpu);
		if (nworkers < 2)
			nworkers = 2;
		if (nworkers > MAX_WORKERS)
			nworkers = MAX_WORKERS;
		if (th < 1 || th > MAX_THREADS)
			th = 2;
		/* odd workers single-threaded: mm_users 1 takes other paths */
		for (long i = 0; i < nworkers; i++) {
			ctl->w[i].nthreads = i % 2 ? 1 : (int)th;
			for (int k = 0; k < ctl->w[i].nthreads; k++) {
				ctl->t[i][k].cpu = -1;
				ctl->t[i][k].hop = -1;
			}
			nthreads_all += ctl->w[i].nthreads;
		}
	}
	if (avail_kb > 0 && mb * 1024 > avail_kb * 55 / 100)
		mb = avail_kb * 55 / 100 / 1024;
	total_pages = mb * 1024 * 1024 / (long)psz;
	per = total_pages / 2 / nworkers;	/* kept pages; as many holes */
	pub = mmap(NULL, (size_t)(nworkers * per) * sizeof(*pub) + 1, PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (pub == MAP_FAILED)
		kt_brok("mmap: %s", kt_errname(errno));
	kt_diag("%s: filling up to %ld MiB for up to %.1f s in %ld workers, %ld threads%s%s, "
		"every other page a filler freed afterwards; %d passes per epoch, then a TLB "
		"reload (%s)", ph->name, mb, fill_s, nworkers, nthreads_all,
		ph->pinned ? " pinned to CPUs 1.., checker and compaction on CPU 0" :
		ph->lazy ? " pinned to CPUs 1.., each visiting CPU 0 (kcompactd's) at each "
			   "epoch's start; only kcompactd compacts" : " unpinned",
		ph->crowd ? "; each worker also compacts once itself" :
		ph->lazy ? (kcd > 0 ? "; kcompactd0 pinned to CPU 0" : "; kcompactd0 not found") : "",
		sweeps, reload ? "yield + mprotect" : "yield only");

	/* small per-CPU free lists, so the holes reach the buddy lists (junk) */
	frac = sysctl_swap(PCP_FRACTION, 1 << 20);
	/* no vmstat kworker on the writers' CPUs meanwhile (a context switch) */
	stat_iv = sysctl_swap(STAT_INTERVAL, 60);
	t0 = kt_now();
	for (long i = 0; i < nworkers; i++) {
		pids[i] = fork();
		if (pids[i] < 0)
			kt_brok("fork: %s", kt_errname(errno));
		if (pids[i] == 0)
			worker((int)i, per, i * per, t0 + fill_s, pub + i * per, ph->crowd);
		ctl->w[i].pid = pids[i];
	}
	while (__atomic_load_n(&ctl->filled, __ATOMIC_SEQ_CST) < nworkers)
		usleep(10000);
	ctl->split = split_frame(nworkers, kt_opt_long("compaction.give_back", 50));
	__atomic_store_n(&ctl->split_set, 1, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&ctl->ready, __ATOMIC_SEQ_CST) < nworkers)
		usleep(10000);
	t_fill = kt_now() - t0;
	for (long i = 0; i < nworkers; i++) {
		if (ctl->w[i].failed)
			kt_brok("worker %ld could not map its memory or start its threads: %s", i,
				kt_errname(ctl->w[i].failed));
		kept += ctl->w[i].pages - ctl->w[i].dropped;
		dropped += ctl->w[i].dropped;
		if (ctl->w[i].pfn_known <= 0)
			pagemap = 0;
	}
	/* migrations before the writers hold their pages in the TLB test nothing */
	while (__atomic_load_n(&ctl->warm, __ATOMIC_SEQ_CST) < nthreads_all &&
	       kt_now() - t0 < 10 * kt_scale())
		usleep(10000);
	kt_diag("%s: filled %ld MiB in %.2f s; %ld pages kept mapped, %ld given back (at frames "
		"from 0x%llx or in a zone's last pageblock, but one per pageblock: free targets "
		"above the rest); writers warm after %.2f s", ph->name,
		(kept + dropped) * 2 * (long)psz >> 20, t_fill, kept, dropped,
		(unsigned long long)ctl->split, kt_now() - t0);
	for (long i = 0; pagemap && i < nworkers; i++)
		kt_diag("%s: worker %ld: %ld kept pages in frames 0x%llx..0x%llx, %ld of them "
			"given back", ph->name, i,
			ctl->w[i].pages, (unsigned long long)ctl->w[i].pfn_lo,
			(unsigned long long)ctl->w[i].pfn_hi, ctl->w[i].dropped);

	if (side_cpu >= 0 || ph->lazy)
		set_cpu(0, side_cpu >= 0 ? side_cpu : 1);
	vmstat(before);
	err = compact_phase(ph, nworkers, rounds, budget, &done, side_cpu);
	vmstat(after);
	if (side_cpu >= 0 || ph->lazy)
		set_cpu(0, -1);
	if (kcd > 0)
		set_cpu(kcd, -1);
	if (err && !tot->compact_err)
		tot->compact_err = err;

	__atomic_store_n(&ctl->stop, 1, __ATOMIC_SEQ_CST);
	for (long i = 0; i < nworkers; i++) {
		int st;

		if (i == nworkers - 1 && frac >= 0)
			sysctl_swap(PCP_FRACTION, frac);
		if (i == nworkers - 1 && stat_iv >= 0)
			sysctl_swap(STAT_INTERVAL, stat_iv);
		if (waitpid(pids[i], &st, 0) != pids[i] || !WIFEXITED(st) ||
		    WEXITSTATUS(st))
			kt_fail("worker_exit", "%s: worker %ld: wait status 0x%x", ph->name, i, st);
		for (int k = 0; k < ctl->w[i].nthreads; k++) {
			struct slice *t = &ctl->t[i][k];

			mism += t->mismatches;
			fmism += t->final_mismatches;
			emism += t->exec_mismatches;
			ecalls += t->exec_calls;
			if (wpasses < 0 || t->passes < wpasses)
				wpasses = t->passes;
			sw += t->switches;
		}
		if (ctl->w[i].moved < 0)
			pagemap = 0;
		else
			moved += ctl->w[i].moved;
		known += ctl->w[i].pfn_known;
		tot->self += ctl->w[i].self_compacted;
	}
	kt_diag("%s: threads: at least %ld verify+rewrite passes each, then a final verify, "
		"%ld context switches in all while writing; checker: %ld passes, %ld page reads "
		"compared (%s); %ld calls into rewritten code pages", ph->name, wpasses, sw,
		ctl->check_passes, ctl->checked,
		ctl->check_via_procmem ? "/proc/PID/mem" : "process_vm_readv", ecalls);
	for (size_t i = 0; i < NCOUNTERS; i++) {
		if (before[i] < 0)
			continue;
		if (!strcmp(counters[i], "pgmigrate_success")) {
			tot->have_vmstat = 1;
			tot->migrated += after[i] - before[i];
		}
		kt_diag("%s: vmstat %s %lld -> %lld (+%lld)", ph->name, counters[i],
			before[i], after[i], after[i] - before[i]);
	}
	if (pagemap)
		kt_diag("%s: pagemap: %ld of %ld kept pages changed physical frame",
			ph->name, moved, known);
	else
		tot->have_pagemap = 0;
	kt_diag("%s: mismatches: %ld by the writers, %ld through the page tables, %ld in "
		"the final check, %ld in code pages", ph->name, mism, ctl->check_mismatches,
		fmism, emism);
	report_bad();
	tot->kept += kept;
	tot->moved += moved;
	tot->known += known;
	tot->mism += mism;
	tot->fmism += fmism;
	tot->emism += emism;
	tot->ecalls += ecalls;
	tot->checked += ctl->checked;
	tot->cmism += ctl->check_mismatches;
	tot->via_procmem |= ctl->check_via_procmem;
	munmap(pub, (size_t)(nworkers * per) * sizeof(*pub) + 1);
}

static void run(void)
{
	long avail_kb = mem_available_kb(), ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	/* '+' between phases: kfarm.opt= itself is KEY=VAL,KEY=VAL */
	const char *which = kt_opt("compaction.phases", "pinned+crowd");
	struct totals tot = { .have_pagemap = 1 };
	int err, ran = 0;
	unsigned int chosen;

	psz = (size_t)sysconf(_SC_PAGESIZE);
	words = psz / sizeof(uint64_t);
	reload = kt_opt_long("compaction.reload", 1) != 0;
	sweeps = (int)kt_opt_long("compaction.sweeps", 4);
	if (sweeps < 1)
		sweeps = 1;
	use_exec = kt_opt_long("compaction.exec", 1) != 0 && emit_ret_imm(&(uint64_t[2]){0}, 0);
	if (ncpu < 1)
		ncpu = 1;
	if (avail_kb > 0 && avail_kb < 2 * 1024)
		kt_skip_all("not enough memory available (%ld kB)", avail_kb);
	chosen = chosen_phases(which);
	kt_diag("MemAvailable %ld kB, %ld CPUs, page size %zu, phases %s", avail_kb, ncpu,
		psz, which);

	zones();
	err = compact_once();
	if (err == -EACCES || err == -EROFS || err == -EPERM)
		kt_skip_all("cannot write %s: %s", COMPACT, kt_errname(-err));

	ctl = mmap(NULL, sizeof(*ctl), PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (ctl == MAP_FAILED)
		kt_brok("mmap: %s", kt_errname(errno));

	for (size_t i = 0; i < sizeof(phases) / sizeof(phases[0]); i++) {
		const struct phase *ph = &phases[i];

		if (!(chosen & (1u << i)))
			continue;
		if ((ph->pinned || ph->lazy) && ncpu < 2) {
			kt_diag("%s: left out: one CPU (nothing to pin writers away from)", ph->name);
			continue;
		}
		run_phase(ph, ncpu, mem_available_kb(), &tot);
		ran++;
	}
	if (!ran)
		kt_brok("no phase to run (compaction.phases=%s, %ld CPUs)", which, ncpu);

	kt_check(!tot.compact_err, "compact_memory_write", "write %s: %s", COMPACT,
		 kt_errname(-tot.compact_err));
	if (tot.self)
		kt_diag("%d workers compacted from their own mm", tot.self);
	kt_check(tot.mism == 0, "pages_intact_while_compacting",
		 "%ld page mismatches seen by their writers (first bad page above)", tot.mism);
	if (tot.checked)
		kt_check(tot.cmism == 0, "pages_intact_through_page_tables",
			 "%ld of %ld pages read through the page tables (%s) held another "
			 "generation than their writer had published", tot.cmism, tot.checked,
			 tot.via_procmem ? "/proc/PID/mem" : "process_vm_readv");
	else
		kt_skip("pages_intact_through_page_tables", "no page could be read through "
			"the page tables (process_vm_readv and /proc/PID/mem both failed)");
	kt_check(tot.fmism == 0, "pages_intact_final",
		 "%ld of %ld pages bad at the end", tot.fmism, tot.kept);
	if (tot.ecalls)
		kt_check(tot.emism == 0, "code_intact_while_compacting",
			 "%ld of %ld calls into rewritten code pages returned another "
			 "generation's value", tot.emism, tot.ecalls);
	else
		kt_skip("code_intact_while_compacting", "no executable anonymous pages (%s)",
			use_exec ? "mmap PROT_EXEC refused" : "no code template for this arch "
			"or compaction.exec=0");

	if (tot.migrated > 0 || tot.moved > 0) {
		kt_pass("migration_observed");
	} else {
		const char *why = !tot.have_vmstat && !tot.have_pagemap
			? "no evidence available: /proc/vmstat lacks pgmigrate_success "
			  "(CONFIG_VM_EVENT_COUNTERS) and pagemap PFNs are unavailable "
			  "(CONFIG_PROC_PAGE_MONITOR)"
			: "no page migrated during compaction";
		kt_skip("migration_observed", "%s", why);
		kt_conclude_skip("inconclusive: %s", why);
	}
}

KT_TEST(.name = "compaction", .run = run, .timeout = 150, .order = 10,
	.needs = KT_NEEDS({ COMPACT, "CONFIG_COMPACTION" }),
	.desc = "pages keep their contents while compact_memory migrates them");
