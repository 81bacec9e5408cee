/*
 * compaction: user pages must survive memory compaction intact.
 *
 * Worker processes each fill a private anonymous region with pages whose
 * every word is derived from (page index, generation) and whose last word
 * is a checksum, faulting in a filler page after each one, then unmap the
 * filler so every other physical page is free: memory is fragmented.  While the test writes /proc/sys/vm/compact_memory
 * repeatedly, the workers keep verifying every page and rewriting it with
 * the next generation; at the end every page is verified once more.
 * (The alpha "user-space corruption during memory compaction" bug was a
 * missing TLB flush on migration: writes landed in the old copy.)
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
 * Other options (kfarm.opt): compaction.workers (2), compaction.rounds (3),
 * compaction.seconds (time budget for the rounds, default 3 * scale),
 * compaction.corrupt=1 (worker 0 damages one page itself: checks that the
 * failure path reports, for testing the test).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../kt.h"

#define COMPACT "/proc/sys/vm/compact_memory"
#define MAX_WORKERS 8
#define K_STEP 0x9e3779b97f4a7c15ULL

struct bad {
	int set;
	int worker, final;
	uintptr_t addr;
	long index;
	uint64_t want_index, got_index, want_gen, got_gen;
	uint64_t stored_sum, computed_sum;
	long word;
	uint64_t want_word, got_word;
};

struct ctl {
	int ready, stop;
	struct {
		long pages;		/* kept (mapped) pages */
		long rounds;		/* full verify+rewrite passes */
		long mismatches;	/* while compacting */
		long final_mismatches;
		long pfn_known, moved;	/* from pagemap; -1 = unavailable */
		int failed;		/* setup error, errno */
	} w[MAX_WORKERS];
	struct bad bad;
};

static struct ctl *ctl;
static size_t psz;
static size_t words;

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

static void record_bad(int worker, int final, const uint64_t *w,
		       uint64_t index, uint64_t gen)
{
	uint64_t base = page_base(index, gen);
	struct bad b = { .set = 1, .worker = worker, .final = final,
			 .addr = (uintptr_t)w, .index = (long)index,
			 .want_index = index, .got_index = w[0],
			 .want_gen = gen, .got_gen = w[1],
			 .stored_sum = w[words - 1], .computed_sum = checksum(w),
			 .word = -1 };
	int zero = 0;

	for (size_t k = 0; k < words; k++) {
		uint64_t want = k == 0 ? index : k == 1 ? gen
				: k == words - 1 ? b.stored_sum
						 : pattern(base, k);
		if (k == words - 1) {
			/* the expected checksum is that of the expected page */
			continue;
		}
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

/*
 * Fault in the kept region and a filler region alternately, page by page,
 * so their physical pages interleave; then one munmap() of the filler
 * frees every other physical page.  Stops at `fill_end` (emulation is slow).
 */
static void worker(int id, long max, long first_index, double fill_end)
{
	char *keep, *filler;
	uint64_t gen = 1, *pfn0, *pfn1;
	long n = max;
	int corrupt = id == 0 && kt_opt_long("compaction.corrupt", 0) == 1;

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
		if (i % 32 == 0 && i >= 32 && kt_now() > fill_end) {
			n = i;	/* out of time: drop the rest */
			munmap(keep + (size_t)i * psz, (size_t)(max - i) * psz);
			break;
		}
		write_page((uint64_t *)(keep + (size_t)i * psz),
			   (uint64_t)(first_index + i), gen);
		filler[(size_t)i * psz] = 1;
	}
	munmap(filler, (size_t)max * psz);	/* the holes */
	ctl->w[id].pages = n;
	ctl->w[id].pfn_known = read_pfns(keep, n, pfn0);
	__atomic_add_fetch(&ctl->ready, 1, __ATOMIC_SEQ_CST);

	while (!__atomic_load_n(&ctl->stop, __ATOMIC_SEQ_CST)) {
		if (corrupt && gen == 2)
			((uint64_t *)keep)[5] ^= 1;
		for (long i = 0; i < n; i++) {
			uint64_t *w = (uint64_t *)(keep + (size_t)i * psz);
			uint64_t idx = (uint64_t)(first_index + i);
			if (!page_ok(w, idx, gen)) {
				ctl->w[id].mismatches++;
				record_bad(id, 0, w, idx, gen);
			}
			write_page(w, idx, gen + 1);
		}
		gen++;
		ctl->w[id].rounds++;
	}
	for (long i = 0; i < n; i++) {
		uint64_t *w = (uint64_t *)(keep + (size_t)i * psz);
		uint64_t idx = (uint64_t)(first_index + i);
		if (!page_ok(w, idx, gen)) {
			ctl->w[id].final_mismatches++;
			record_bad(id, 1, w, idx, gen);
		}
	}
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

static void run(void)
{
	long avail_kb = mem_available_kb();
	long mb = kt_opt_long("compaction.mb", 1024);
	double fill_s = (double)kt_opt_long("compaction.fill_ms", 1500) / 1000;
	long nworkers = kt_opt_long("compaction.workers", 2);
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
	if (nworkers < 1 || nworkers > MAX_WORKERS)
		nworkers = 2;
	if (avail_kb > 0 && mb * 1024 > avail_kb * 55 / 100)
		mb = avail_kb * 55 / 100 / 1024;
	if (mb < 1)
		kt_skip_all("not enough memory available (%ld kB)", avail_kb);
	total_pages = mb * 1024 * 1024 / (long)psz;
	per = total_pages / 2 / nworkers;	/* kept pages; as many holes */
	kt_diag("MemAvailable %ld kB; filling up to %ld MiB = %ld pages of %zu bytes "
		"for up to %.1f s in %ld workers, every other page a filler freed afterwards",
		avail_kb, mb, total_pages, psz, fill_s, nworkers);

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
	t0 = kt_now();
	err = 0;
	while (done < rounds && (done < 1 || kt_now() - t0 < budget)) {
		err = compact_once();
		if (err)
			break;
		done++;
		usleep(20000);	/* let the workers touch everything again */
	}
	kt_diag("%d compaction rounds in %.2f s", done, kt_now() - t0);
	vmstat(after);
	kt_check(!err, "compact_memory_write", "write %s: %s", COMPACT,
		 kt_errname(-err));

	__atomic_store_n(&ctl->stop, 1, __ATOMIC_SEQ_CST);
	for (long i = 0; i < nworkers; i++) {
		int st;
		if (waitpid(pids[i], &st, 0) != pids[i] || !WIFEXITED(st) ||
		    WEXITSTATUS(st))
			kt_fail("worker_exit", "worker %ld: wait status 0x%x", i, st);
		mism += ctl->w[i].mismatches;
		fmism += ctl->w[i].final_mismatches;
		if (wrounds_min < 0 || ctl->w[i].rounds < wrounds_min)
			wrounds_min = ctl->w[i].rounds;
		if (ctl->w[i].moved < 0)
			have_pagemap = 0;
		else
			moved += ctl->w[i].moved;
		known += ctl->w[i].pfn_known;
	}
	kt_diag("workers: at least %ld full verify+rewrite passes each, then a final verify",
		wrounds_min);

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

	if (ctl->bad.set) {
		struct bad *b = &ctl->bad;
		kt_diag("first bad page (%s, worker %d): addr 0x%lx index %ld: "
			"index want %llu got %llu, generation want %llu got %llu, "
			"checksum stored 0x%llx computed 0x%llx, "
			"first bad word %ld want 0x%llx got 0x%llx",
			b->final ? "final check" : "while compacting", b->worker,
			(unsigned long)b->addr, b->index,
			(unsigned long long)b->want_index,
			(unsigned long long)b->got_index,
			(unsigned long long)b->want_gen,
			(unsigned long long)b->got_gen,
			(unsigned long long)b->stored_sum,
			(unsigned long long)b->computed_sum, b->word,
			(unsigned long long)b->want_word,
			(unsigned long long)b->got_word);
	}
	kt_check(mism == 0, "pages_intact_while_compacting",
		 "%ld page mismatches (first: addr 0x%lx index %ld gen want %llu got %llu)",
		 mism, (unsigned long)ctl->bad.addr, ctl->bad.index,
		 (unsigned long long)ctl->bad.want_gen,
		 (unsigned long long)ctl->bad.got_gen);
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
