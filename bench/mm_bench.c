// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * mm_bench: the simulated CPU address space (mm): fault throughput (4 KiB
 * and THP first-touch writes, zero-page and huge-zero-page reads, COW after
 * fork at 4 KiB and inside a split THP), fork and exit of a THP-backed and
 * of a 4 KiB-backed process, walk_page_range() and mm_dump(). Prints one
 * JSON object on stdout; progress goes to stderr. See bench/README.md.
 *
 * Method, in short:
 *  - a fresh system per run, metadata_only (frames carry no bytes: the
 *    figures are the simulator's bookkeeping, not memset/memcpy of the data,
 *    and the RAM of the simulated machine is not the host's), THP mode
 *    madvise, the current kernel profile;
 *  - every run repeats every workload on fresh processes, and each figure is
 *    the median over the runs with the min and max beside it; a ratio is the
 *    median of the per-run ratios;
 *  - faults are taken the way a CPU takes them: one mm_memset() or
 *    mm_read_sum() of one byte per page (4 KiB or 2 MiB stride); one
 *    workload calls handle_mm_fault() directly under mmap_read_lock() to
 *    show what the access path adds; THP regions (a few milliseconds of
 *    faults) are mapped, faulted and unmapped again for at least --min-ms;
 *  - exits are timed in wall and in thread-CPU time: every mm_exit() that
 *    freed page-table directories waits for their RCU callbacks;
 *  - every workload is checked: mm_get_stats() must count exactly the faults,
 *    pages, THPs, zero pages, copies, reuses and splits the workload makes,
 *    walks must see every leaf at the right level, dumps every page with the
 *    right code, and the pool must get every frame back at the end of a run.
 *    A mismatch exits with status 1 (slowness never does).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hmmsim/hmmsim.h>

#include "bench.h"

#define SZ_4K		MM_PAGE_SIZE
#define SZ_2M		MM_PMD_SIZE
#define SZ_1M		(UINT64_C(1) << 20)
#define PTRS_PER_PMD	(SZ_2M / SZ_4K)
#define MAX_RUNS	31
#define MAX_FORK_REPS	64
#define FORK_REPS_4K	3
#define EXIT1_REPS	3

/* ---- what is measured ------------------------------------------------------ */

/*
 * Every figure, in the order it is printed: the JSON object it sits in
 * (group, then workload) and its name there.
 */
#define METRICS(X)								\
	X(W4K_FPS,	"faults", "write_4k", "faults_per_s")			\
	X(W4K_PPS,	"faults", "write_4k", "pages_per_s")			\
	X(W4K_NS,	"faults", "write_4k", "ns_per_fault")			\
	X(W4K_RSS,	"faults", "write_4k", "host_rss_bytes_per_page")	\
	X(D4K_FPS,	"faults", "write_4k_handle_mm_fault", "faults_per_s")	\
	X(D4K_NS,	"faults", "write_4k_handle_mm_fault", "ns_per_fault")	\
	X(WTHP_FPS,	"faults", "write_thp", "faults_per_s")			\
	X(WTHP_PPS,	"faults", "write_thp", "pages_4k_per_s")		\
	X(WTHP_NS,	"faults", "write_thp", "ns_per_fault")			\
	X(RZ_FPS,	"faults", "read_zero_page", "faults_per_s")		\
	X(RZ_PPS,	"faults", "read_zero_page", "pages_per_s")		\
	X(RZ_NS,	"faults", "read_zero_page", "ns_per_fault")		\
	X(RHZ_FPS,	"faults", "read_huge_zero_page", "faults_per_s")	\
	X(RHZ_PPS,	"faults", "read_huge_zero_page", "pages_4k_per_s")	\
	X(RHZ_NS,	"faults", "read_huge_zero_page", "ns_per_fault")	\
	X(COW_FPS,	"faults", "cow_4k_copy", "faults_per_s")		\
	X(COW_NS,	"faults", "cow_4k_copy", "ns_per_fault")		\
	X(REUSE_FPS,	"faults", "cow_4k_reuse", "faults_per_s")		\
	X(REUSE_NS,	"faults", "cow_4k_reuse", "ns_per_fault")		\
	X(SPLIT_FPS,	"faults", "cow_thp_split", "faults_per_s")		\
	X(SPLIT_NS,	"faults", "cow_thp_split", "ns_per_fault")		\
	X(PTECOW_FPS,	"faults", "cow_pte_in_split_thp", "faults_per_s")	\
	X(PTECOW_NS,	"faults", "cow_pte_in_split_thp", "ns_per_fault")	\
	X(THPREUSE_FPS,	"faults", "cow_thp_reuse", "faults_per_s")		\
	X(THPREUSE_NS,	"faults", "cow_thp_reuse", "ns_per_fault")		\
	X(FORK_THP,	"fork", "thp", "fork_ms")				\
	X(EXIT_THP,	"fork", "thp", "exit_child_ms")				\
	X(EXIT_THP_CPU,	"fork", "thp", "exit_child_cpu_ms")			\
	X(FORK_4K,	"fork", "4k", "fork_ms")				\
	X(EXIT_4K,	"fork", "4k", "exit_child_ms")				\
	X(EXIT_4K_CPU,	"fork", "4k", "exit_child_cpu_ms")			\
	X(EXIT1,	"fork", "one_page_exit", "exit_ms")			\
	X(EXIT1_CPU,	"fork", "one_page_exit", "exit_cpu_ms")			\
	X(WALK4K_LPS,	"walk", "4k", "leaves_per_s")				\
	X(WALK4K_GPS,	"walk", "4k", "gib_per_s")				\
	X(WALK4K_MS,	"walk", "4k", "ms_per_walk")				\
	X(WALKTHP_LPS,	"walk", "thp", "leaves_per_s")				\
	X(WALKTHP_GPS,	"walk", "thp", "gib_per_s")				\
	X(WALKTHP_MS,	"walk", "thp", "ms_per_walk")				\
	X(DUMP4K_PPS,	"dump", "4k", "pages_per_s")				\
	X(DUMP4K_MS,	"dump", "4k", "ms_per_dump")				\
	X(DUMPTHP_PPS,	"dump", "thp", "pages_per_s")				\
	X(DUMPTHP_MS,	"dump", "thp", "ms_per_dump")

#define METRIC_ENUM(id, group, workload, field) M_##id,
enum metric { METRICS(METRIC_ENUM) M_COUNT };

struct metric_def {
	const char *group, *workload, *field;
};

#define METRIC_DEF(id, group, workload, field) [M_##id] = { group, workload, field },
static const struct metric_def metric_defs[M_COUNT] = { METRICS(METRIC_DEF) };

/* Per-run samples, NAN until measured. */
static double vals[M_COUNT][MAX_RUNS];

/*
 * A ratio: @name = @a / @b, per run, then the median. @means says which
 * way is better.
 */
struct ratio_def {
	const char *name;
	enum metric a, b;
	const char *means;
};

static const struct ratio_def ratio_defs[] = {
	{ "fork_thp_vs_4k", M_FORK_THP, M_FORK_4K,
	  "fork time of the THP-backed process / of the 4K-backed one, same size (< 1: THP "
	  "forks faster)" },
	{ "exit_child_thp_vs_4k", M_EXIT_THP, M_EXIT_4K,
	  "exit wall time of the THP child / of the 4K child (< 1: THP faster; both include "
	  "the RCU barrier of one_page_exit)" },
	{ "exit_child_cpu_thp_vs_4k", M_EXIT_THP_CPU, M_EXIT_4K_CPU,
	  "exit thread-CPU time of the THP child / of the 4K child (< 1: THP faster)" },
	{ "write_fault_pages_thp_vs_4k", M_WTHP_PPS, M_W4K_PPS,
	  "4K pages/s populated by THP write faults / by 4K write faults" },
	{ "write_fault_thp_vs_4k", M_WTHP_FPS, M_W4K_FPS,
	  "THP write faults/s / 4K write faults/s (the cost of one fault)" },
	{ "read_fault_pages_huge_zero_vs_zero", M_RHZ_PPS, M_RZ_PPS,
	  "4K pages/s mapped by huge-zero-page reads / by zero-page reads" },
	{ "write_4k_mm_memset_vs_handle_mm_fault", M_W4K_FPS, M_D4K_FPS,
	  "first-touch faults/s through mm_memset / through handle_mm_fault (< 1: the "
	  "CPU access path's share)" },
	{ "cow_4k_copy_vs_first_touch", M_COW_FPS, M_W4K_FPS,
	  "COW copy faults/s / first-touch write faults/s, both 4K" },
	{ "cow_pte_in_split_thp_vs_cow_4k", M_PTECOW_FPS, M_COW_FPS,
	  "COW faults/s on PTEs of a split THP / on order-0 pages" },
	{ "walk_gib_thp_vs_4k", M_WALKTHP_GPS, M_WALK4K_GPS,
	  "GiB/s walked over THP / over 4K pages" },
	{ "walk_leaves_thp_vs_4k", M_WALKTHP_LPS, M_WALK4K_LPS,
	  "leaves/s walked over THP / over 4K pages (the cost of one leaf)" },
	{ "dump_pages_thp_vs_4k", M_DUMPTHP_PPS, M_DUMP4K_PPS,
	  "pages/s dumped over THP / over 4K pages" },
};

#define N_RATIOS (sizeof(ratio_defs) / sizeof(ratio_defs[0]))

static double ratio_runs[N_RATIOS][MAX_RUNS];

/*
 * struct opts - the command line.
 * @runs:	repetitions of every workload.
 * @size:	bytes of the 4K regions and of the THP process that forks.
 * @thp_size:	bytes of the THP write and huge-zero read regions (more
 *		PMDs than @size, so those faults take measurable time).
 * @fork_reps:	fork + exit of the THP process per run (a fork takes a few
 *		hundred microseconds); the run's figure is their median. The
 *		4K process forks FORK_REPS_4K times.
 * @min_ms:	THP faults, huge-zero reads, walks and dumps repeat until
 *		they took this long.
 * @check:	mm_system_check() at the end of each phase (untimed).
 * @quick:	a smoke run for CI.
 */
struct opts {
	int runs;
	uint64_t size;
	uint64_t thp_size;
	int fork_reps;
	unsigned int min_ms;
	bool check;
	bool quick;
};

/*
 * struct ctx - what every workload of a run shares.
 * @sys:	the run's system (each run makes its own).
 * @ram:	its memory.
 * @o:		the options.
 * @run:	index of the current run.
 * @checks:	mm_system_check() calls made, all passed.
 */
struct ctx {
	struct mm_system *sys;
	uint64_t ram;
	const struct opts *o;
	int run;
	unsigned int checks;
};

static __attribute__((noreturn, format(printf, 1, 2))) void die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	va_start(ap, fmt);
	fputs("\nmm_bench: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static void put(const struct ctx *c, enum metric m, double v)
{
	vals[m][c->run] = v;
}

/* CPU time of the calling thread: what a call cost without the time it slept. */
static uint64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline double per_s(uint64_t n, uint64_t ns)
{
	return ns ? (double)n * 1e9 / (double)ns : NAN;
}

static inline double ns_per(uint64_t ns, uint64_t n)
{
	return n ? (double)ns / (double)n : NAN;
}

/* A statistic a workload must have moved by exactly @want. */
static void expect(const char *what, const char *stat, uint64_t got, uint64_t want)
{
	if (got != want)
		die("%s: %s is %" PRIu64 ", expected %" PRIu64, what, stat, got, want);
}

/* ---- processes and regions ---------------------------------------------------- */

static struct mm_struct *new_mm(const struct ctx *c)
{
	struct mm_struct *mm;
	int err = mm_create(c->sys, NULL, &mm);

	if (err)
		die("mm_create: %s", strerror(-err));
	return mm;
}

static struct mm_struct *fork_mm(struct mm_struct *parent)
{
	struct mm_struct *child;
	int err = mm_fork(parent, &child);

	if (err)
		die("mm_fork: %s", strerror(-err));
	return child;
}

/*
 * A private anonymous read-write region of @len bytes: PMD-aligned with
 * MADV_HUGEPAGE when @thp, MADV_NOHUGEPAGE otherwise (the system's mode is
 * madvise, so the advice alone decides).
 */
static uint64_t map_anon(struct mm_struct *mm, uint64_t len, bool thp)
{
	struct mm_mmap_args a = {
		.len = len,
		.prot = MM_PROT_READ | MM_PROT_WRITE,
		.flags = MM_MAP_PRIVATE | MM_MAP_ANONYMOUS,
		.align = thp ? SZ_2M : 0,
	};
	uint64_t addr;
	int err;

	err = mm_mmap(mm, &a, &addr);
	if (err)
		die("mm_mmap of %" PRIu64 " bytes: %s", len, strerror(-err));
	err = mm_madvise(mm, addr, len, thp ? MM_MADV_HUGEPAGE : MM_MADV_NOHUGEPAGE);
	if (err)
		die("mm_madvise: %s", strerror(-err));
	return addr;
}

static struct mm_stats stats_of(struct mm_struct *mm)
{
	struct mm_stats st;

	mm_get_stats(mm, &st);
	return st;
}

/*
 * The CPU touches one byte at @addr + i * @stride for each i < @n: a write
 * (mm_memset) or a read (mm_read_sum). Returns the nanoseconds it took.
 */
static uint64_t touch(struct mm_struct *mm, uint64_t addr, uint64_t n, uint64_t stride,
		      bool write, const char *what)
{
	uint64_t i, sum = 0, total = 0, t0;
	int err = 0;

	t0 = now_ns();
	for (i = 0; i < n && !err; i++) {
		if (write) {
			err = mm_memset(mm, addr + i * stride, 1, 1);
		} else {
			err = mm_read_sum(mm, addr + i * stride, 1, &sum);
			total += sum;
		}
	}
	t0 = now_ns() - t0;
	if (err)
		die("%s: %s at %#" PRIx64 ": %s", what, write ? "mm_memset" : "mm_read_sum",
		    addr + (i - 1) * stride, strerror(-err));
	/* metadata_only: every byte reads as zero, whatever was written. */
	if (total)
		die("%s: read %" PRIu64 " from a metadata-only system", what, total);
	return t0;
}

/* The untouched pages of each split THP block: every 4K page but the first. */
static uint64_t touch_rest_of_blocks(struct mm_struct *mm, uint64_t addr, uint64_t blocks,
				     const char *what)
{
	uint64_t b, ns = 0;

	for (b = 0; b < blocks; b++)
		ns += touch(mm, addr + b * SZ_2M + SZ_4K, PTRS_PER_PMD - 1, SZ_4K, true, what);
	return ns;
}

static void system_check(struct ctx *c, const char *where)
{
	char msg[512];
	int err;

	if (!c->o->check)
		return;
	err = mm_system_check(c->sys, msg, sizeof(msg));
	if (err)
		die("mm_system_check after %s: %s", where, msg);
	c->checks++;
}

/* ---- walks and dumps ----------------------------------------------------------- */

/* struct walk_count - what the trivial callbacks see. */
struct walk_count {
	unsigned int level;	/* the level every leaf must be at */
	uint64_t leaves;
	uint64_t bytes;
	uint64_t wrong_level;
	uint64_t holes;
};

static int count_leaf(uint64_t addr, uint64_t next, pt_entry_t entry, unsigned int level,
		      struct mm_walk *walk)
{
	struct walk_count *wc = walk->private;

	wc->leaves++;
	wc->bytes += next - addr;
	wc->wrong_level += level != wc->level;
	return 0;
}

static int count_hole(uint64_t addr, uint64_t next, int level, struct mm_walk *walk)
{
	struct walk_count *wc = walk->private;

	wc->holes++;
	return 0;
}

static const struct mm_walk_ops count_ops = {
	.leaf = count_leaf,
	.hole = count_hole,
};

/*
 * walk_page_range() over [@addr, @addr + @len), fully populated with leaves
 * at @level, again and again for at least min_ms (3 walks at least).
 * Records leaves/s, GiB/s and ms per walk.
 */
static void walk_bench(struct ctx *c, struct mm_struct *mm, uint64_t addr, uint64_t len,
		       unsigned int level, enum metric lps, enum metric gps, enum metric ms)
{
	struct walk_count wc = { .level = level };
	uint64_t leaves = len >> (level ? MM_PMD_SHIFT : MM_PAGE_SHIFT);
	uint64_t reps = 0, t0, t = 0, min_ns = (uint64_t)c->o->min_ms * 1000000u;
	int err;

	t0 = now_ns();
	do {
		mmap_read_lock(mm);
		err = walk_page_range(mm, addr, addr + len, &count_ops, &wc);
		mmap_read_unlock(mm);
		if (err)
			die("walk_page_range: %d", err);
		reps++;
		t = now_ns() - t0;
	} while (t < min_ns || reps < 3);
	expect("walk", "leaves", wc.leaves, reps * leaves);
	expect("walk", "bytes", wc.bytes, reps * len);
	expect("walk", "leaves at another level", wc.wrong_level, 0);
	expect("walk", "holes", wc.holes, 0);
	put(c, lps, per_s(reps * leaves, t));
	put(c, gps, per_s(reps * len, t) / (double)(UINT64_C(1) << 30));
	put(c, ms, ns_per(t, reps) / 1e6);
}

/*
 * Check a dump: runs of COUNT:CODE@PFN (or @-), comma-separated, that add
 * up to @pages pages, every one with @code.
 */
static void check_dump(const char *s, uint64_t pages, const char *code)
{
	uint64_t total = 0;
	size_t clen = strlen(code);
	char *end;

	while (*s) {
		uint64_t n = strtoull(s, &end, 10);

		if (end == s || *end != ':' || strncmp(end + 1, code, clen) || end[1 + clen] != '@')
			die("mm_dump: unexpected run at \"%.40s\" (every page should be %s)", s,
			    code);
		total += n;
		s = end + 2 + clen;
		s += strcspn(s, ",");
		if (*s == ',')
			s++;
	}
	expect("mm_dump", "pages", total, pages);
}

/* mm_dump() of a populated region, repeated for at least min_ms; pages/s and ms. */
static void dump_bench(struct ctx *c, struct mm_struct *mm, uint64_t addr, uint64_t len,
		       const char *code, enum metric pps, enum metric ms)
{
	uint64_t pages = len >> MM_PAGE_SHIFT, reps = 0, t0, t;
	uint64_t min_ns = (uint64_t)c->o->min_ms * 1000000u;
	/* The worst case: one run per page, "1:pxw@0x" and up to 10 hex digits and a comma. */
	size_t size = pages * 24 + 64;
	char *buf = malloc(size);
	int n;

	if (!buf)
		die("out of memory for the dump");
	t0 = now_ns();
	do {
		n = mm_dump(mm, addr, len, buf, size);
		if (n < 0 || (size_t)n >= size)
			die("mm_dump: %d (buffer %zu)", n, size);
		reps++;
		t = now_ns() - t0;
	} while (t < min_ns || reps < 3);
	check_dump(buf, pages, code);
	free(buf);
	put(c, pps, per_s(reps * pages, t));
	put(c, ms, ns_per(t, reps) / 1e6);
}

/* ---- the workloads ---------------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

static double median_u64(uint64_t *v, int n)
{
	qsort(v, n, sizeof(v[0]), cmp_u64);
	return n & 1 ? (double)v[n / 2] : ((double)v[n / 2 - 1] + (double)v[n / 2]) / 2;
}

/*
 * fork + exit of the child, @reps times: the fork's wall time, the exit's
 * wall and thread-CPU time, the median of each into the run's figures.
 * Between reps the parent writes one byte per @stride (a reuse fault each:
 * the child is gone), so every fork finds it writable and write-protects it
 * again, as the first did.
 */
static void fork_exit_reps(struct ctx *c, struct mm_struct *mm, uint64_t addr, uint64_t len,
			   uint64_t stride, int reps, enum metric fork_m, enum metric exit_m,
			   enum metric exit_cpu_m)
{
	uint64_t fork_ns[MAX_FORK_REPS], exit_ns[MAX_FORK_REPS], exit_cpu[MAX_FORK_REPS];
	uint64_t n = len / stride, t0, c0;
	struct mm_struct *child;
	struct mm_stats st, st0;
	int r;

	for (r = 0; r < reps; r++) {
		t0 = now_ns();
		child = fork_mm(mm);
		fork_ns[r] = now_ns() - t0;
		expect("fork", "child rss_anon", stats_of(child).rss_anon, len >> MM_PAGE_SHIFT);
		t0 = now_ns();
		c0 = cpu_ns();
		mm_exit(child);
		exit_cpu[r] = cpu_ns() - c0;
		exit_ns[r] = now_ns() - t0;
		st0 = stats_of(mm);
		expect("fork", "parent rss_anon after the child's exit", st0.rss_anon,
		       len >> MM_PAGE_SHIFT);
		touch(mm, addr, n, stride, true, "the parent after the child's exit");
		st = stats_of(mm);
		expect("fork", "parent cow_reuse after the child's exit",
		       st.cow_reuse - st0.cow_reuse, n);
		expect("fork", "parent cow_copy after the child's exit",
		       st.cow_copy - st0.cow_copy, 0);
		expect("fork", "parent thp_split_pmd", st.thp_split_pmd - st0.thp_split_pmd, 0);
	}
	put(c, fork_m, median_u64(fork_ns, reps) / 1e6);
	put(c, exit_m, median_u64(exit_ns, reps) / 1e6);
	put(c, exit_cpu_m, median_u64(exit_cpu, reps) / 1e6);
}

/*
 * 4K pages: first-touch writes (CPU path), walk, dump, fork and exit of
 * the child (FORK_REPS_4K times), then COW: a second child, the parent writes every page
 * (copies), the child writes every page (reuses: it is the last mapper).
 */
static void phase_4k(struct ctx *c)
{
	uint64_t len = c->o->size, n = len >> MM_PAGE_SHIFT, addr, ns, rss0;
	struct mm_struct *mm, *child;
	struct mm_stats st, st0;

	mm = new_mm(c);
	addr = map_anon(mm, len, false);
	rss0 = rss_settle();
	ns = touch(mm, addr, n, SZ_4K, true, "write_4k");
	put(c, M_W4K_RSS, (double)((int64_t)rss_bytes() - (int64_t)rss0) / (double)n);
	st = stats_of(mm);
	expect("write_4k", "faults", st.faults, n);
	expect("write_4k", "anon_pages", st.anon_pages, n);
	expect("write_4k", "rss_anon", st.rss_anon, n);
	expect("write_4k", "thp_fault_alloc", st.thp_fault_alloc, 0);
	expect("write_4k", "zero_page", st.zero_page, 0);
	put(c, M_W4K_FPS, per_s(n, ns));
	put(c, M_W4K_PPS, per_s(n, ns));
	put(c, M_W4K_NS, ns_per(ns, n));

	walk_bench(c, mm, addr, len, 0, M_WALK4K_LPS, M_WALK4K_GPS, M_WALK4K_MS);
	dump_bench(c, mm, addr, len, "pxw", M_DUMP4K_PPS, M_DUMP4K_MS);

	fork_exit_reps(c, mm, addr, len, SZ_4K, FORK_REPS_4K, M_FORK_4K, M_EXIT_4K, M_EXIT_4K_CPU);

	child = fork_mm(mm);
	st0 = stats_of(mm);
	ns = touch(mm, addr, n, SZ_4K, true, "cow_4k_copy");
	st = stats_of(mm);
	expect("cow_4k_copy", "faults", st.faults - st0.faults, n);
	expect("cow_4k_copy", "cow_copy", st.cow_copy - st0.cow_copy, n);
	expect("cow_4k_copy", "cow_reuse", st.cow_reuse - st0.cow_reuse, 0);
	expect("cow_4k_copy", "rss_anon", st.rss_anon, n);
	put(c, M_COW_FPS, per_s(n, ns));
	put(c, M_COW_NS, ns_per(ns, n));

	ns = touch(child, addr, n, SZ_4K, true, "cow_4k_reuse");
	st = stats_of(child);
	expect("cow_4k_reuse", "faults", st.faults, n);
	expect("cow_4k_reuse", "cow_reuse", st.cow_reuse, n);
	expect("cow_4k_reuse", "cow_copy", st.cow_copy, 0);
	expect("cow_4k_reuse", "rss_anon", st.rss_anon, n);
	put(c, M_REUSE_FPS, per_s(n, ns));
	put(c, M_REUSE_NS, ns_per(ns, n));

	system_check(c, "the 4K phase");
	mm_exit(child);
	mm_exit(mm);
}

/* 4K first-touch writes through handle_mm_fault() itself, under mmap_read_lock(). */
static void phase_4k_direct(struct ctx *c)
{
	uint64_t len = c->o->size, n = len >> MM_PAGE_SHIFT, addr, i, t0;
	struct vm_area_struct *vma;
	struct mm_struct *mm;
	struct mm_stats st;
	int err = 0;

	mm = new_mm(c);
	addr = map_anon(mm, len, false);
	mmap_read_lock(mm);
	vma = vma_lookup(mm, addr);
	if (!vma || vma_end(vma) - vma_start(vma) != len)
		die("vma_lookup: not the region just mapped");
	t0 = now_ns();
	for (i = 0; i < n && !err; i++)
		err = handle_mm_fault(vma, addr + i * SZ_4K, FAULT_FLAG_WRITE);
	t0 = now_ns() - t0;
	mmap_read_unlock(mm);
	if (err)
		die("handle_mm_fault: %s", strerror(-err));
	st = stats_of(mm);
	expect("write_4k_handle_mm_fault", "faults", st.faults, n);
	expect("write_4k_handle_mm_fault", "anon_pages", st.anon_pages, n);
	expect("write_4k_handle_mm_fault", "rss_anon", st.rss_anon, n);
	put(c, M_D4K_FPS, per_s(n, t0));
	put(c, M_D4K_NS, ns_per(t0, n));
	mm_exit(mm);
}

/* Reads of untouched memory at a 4 KiB stride: zero-page PTEs. */
static void phase_zero(struct ctx *c)
{
	uint64_t n = c->o->size >> MM_PAGE_SHIFT, addr, ns;
	struct mm_struct *mm;
	struct mm_stats st;

	mm = new_mm(c);
	addr = map_anon(mm, c->o->size, false);
	ns = touch(mm, addr, n, SZ_4K, false, "read_zero_page");
	st = stats_of(mm);
	expect("read_zero_page", "faults", st.faults, n);
	expect("read_zero_page", "zero_page", st.zero_page, n);
	expect("read_zero_page", "anon_pages", st.anon_pages, 0);
	expect("read_zero_page", "rss_anon", st.rss_anon, 0);
	put(c, M_RZ_FPS, per_s(n, ns));
	put(c, M_RZ_PPS, per_s(n, ns));
	put(c, M_RZ_NS, ns_per(ns, n));
	system_check(c, "the zero-page reads");
	mm_exit(mm);
}

/*
 * One fault per 2 MiB over a THP region: writes (each allocates a PMD THP)
 * or reads (each maps the huge zero PMD). A region takes a few
 * milliseconds, so it is mapped, faulted and unmapped again for at least
 * min_ms (3 times at least), in one process (munmap frees the page tables,
 * so every pass starts from empty ones, as a fresh process would); only
 * the faulting loops are timed.
 */
static void phase_thp_faults(struct ctx *c, bool write)
{
	const char *what = write ? "write_thp" : "read_huge_zero_page";
	uint64_t nb = c->o->thp_size >> MM_PMD_SHIFT, addr, ns = 0, reps = 0;
	uint64_t min_ns = (uint64_t)c->o->min_ms * 1000000u;
	struct mm_struct *mm = new_mm(c);
	struct mm_stats st, st0;
	int err;

	do {
		st0 = stats_of(mm);
		addr = map_anon(mm, c->o->thp_size, true);
		ns += touch(mm, addr, nb, SZ_2M, write, what);
		st = stats_of(mm);
		expect(what, "faults", st.faults - st0.faults, nb);
		expect(what, "thp_fault_alloc", st.thp_fault_alloc - st0.thp_fault_alloc,
		       write ? nb : 0);
		expect(what, "thp_fault_fallback", st.thp_fault_fallback, 0);
		expect(what, "huge_zero_page", st.huge_zero_page - st0.huge_zero_page,
		       write ? 0 : nb);
		expect(what, "anon_pages", st.anon_pages, 0);
		expect(what, "zero_page", st.zero_page, 0);
		expect(what, "rss_anon", st.rss_anon, write ? nb * PTRS_PER_PMD : 0);
		if (!reps)
			system_check(c, what);
		err = mm_munmap(mm, addr, c->o->thp_size);
		if (err)
			die("%s: mm_munmap: %s", what, strerror(-err));
		expect(what, "rss_anon after munmap", stats_of(mm).rss_anon, 0);
		reps++;
	} while (ns < min_ns || reps < 3);
	mm_exit(mm);
	if (write) {
		put(c, M_WTHP_FPS, per_s(reps * nb, ns));
		put(c, M_WTHP_PPS, per_s(reps * nb * PTRS_PER_PMD, ns));
		put(c, M_WTHP_NS, ns_per(ns, reps * nb));
	} else {
		put(c, M_RHZ_FPS, per_s(reps * nb, ns));
		put(c, M_RHZ_PPS, per_s(reps * nb * PTRS_PER_PMD, ns));
		put(c, M_RHZ_NS, ns_per(ns, reps * nb));
	}
}

/*
 * The exit of a process with one page: what every exit costs at least. Its
 * page table frees directories, so destroying it waits for their RCU
 * callbacks (hmmsim_barrier()): wall time against thread-CPU time shows it.
 */
static void phase_one_page_exit(struct ctx *c)
{
	uint64_t wall[EXIT1_REPS], cpu[EXIT1_REPS], addr, t0, c0;
	struct mm_struct *mm;
	int r;

	for (r = 0; r < EXIT1_REPS; r++) {
		mm = new_mm(c);
		addr = map_anon(mm, SZ_4K, false);
		touch(mm, addr, 1, SZ_4K, true, "one_page_exit");
		t0 = now_ns();
		c0 = cpu_ns();
		mm_exit(mm);
		cpu[r] = cpu_ns() - c0;
		wall[r] = now_ns() - t0;
	}
	put(c, M_EXIT1, median_u64(wall, EXIT1_REPS) / 1e6);
	put(c, M_EXIT1_CPU, median_u64(cpu, EXIT1_REPS) / 1e6);
}

/*
 * The THP-backed process of @size bytes (every PMD a THP): walk, dump,
 * fork + exit of the child fork_reps times, then COW
 * against a live child: the first write to each PMD (split + one 4K copy),
 * the other 511 pages of each (4K copies out of the split THP), and the
 * child's writes (it is the last mapper: it reuses the THP whole).
 */
static void phase_thp(struct ctx *c)
{
	uint64_t len = c->o->size, nb = len >> MM_PMD_SHIFT, n = len >> MM_PAGE_SHIFT;
	struct mm_struct *mm, *child;
	struct mm_stats st, st0;
	uint64_t addr, ns;

	mm = new_mm(c);
	addr = map_anon(mm, len, true);
	touch(mm, addr, nb, SZ_2M, true, "thp parent");
	st = stats_of(mm);
	expect("thp parent", "thp_fault_alloc", st.thp_fault_alloc, nb);
	expect("thp parent", "rss_anon", st.rss_anon, n);

	walk_bench(c, mm, addr, len, 1, M_WALKTHP_LPS, M_WALKTHP_GPS, M_WALKTHP_MS);
	dump_bench(c, mm, addr, len, "Hxw", M_DUMPTHP_PPS, M_DUMPTHP_MS);

	fork_exit_reps(c, mm, addr, len, SZ_2M, c->o->fork_reps, M_FORK_THP, M_EXIT_THP,
		       M_EXIT_THP_CPU);

	child = fork_mm(mm);
	st0 = stats_of(mm);
	ns = touch(mm, addr, nb, SZ_2M, true, "cow_thp_split");
	st = stats_of(mm);
	expect("cow_thp_split", "faults", st.faults - st0.faults, nb);
	expect("cow_thp_split", "thp_split_pmd", st.thp_split_pmd - st0.thp_split_pmd, nb);
	expect("cow_thp_split", "cow_copy", st.cow_copy - st0.cow_copy, nb);
	expect("cow_thp_split", "thp_fault_alloc", st.thp_fault_alloc - st0.thp_fault_alloc, 0);
	put(c, M_SPLIT_FPS, per_s(nb, ns));
	put(c, M_SPLIT_NS, ns_per(ns, nb));

	st0 = st;
	ns = touch_rest_of_blocks(mm, addr, nb, "cow_pte_in_split_thp");
	st = stats_of(mm);
	expect("cow_pte_in_split_thp", "faults", st.faults - st0.faults, n - nb);
	expect("cow_pte_in_split_thp", "cow_copy", st.cow_copy - st0.cow_copy, n - nb);
	expect("cow_pte_in_split_thp", "cow_reuse", st.cow_reuse - st0.cow_reuse, 0);
	expect("cow_pte_in_split_thp", "rss_anon", st.rss_anon, n);
	put(c, M_PTECOW_FPS, per_s(n - nb, ns));
	put(c, M_PTECOW_NS, ns_per(ns, n - nb));

	ns = touch(child, addr, nb, SZ_2M, true, "cow_thp_reuse");
	st = stats_of(child);
	expect("cow_thp_reuse", "child cow_reuse", st.cow_reuse, nb);
	expect("cow_thp_reuse", "child cow_copy", st.cow_copy, 0);
	expect("cow_thp_reuse", "child thp_split_pmd", st.thp_split_pmd, 0);
	put(c, M_THPREUSE_FPS, per_s(nb, ns));
	put(c, M_THPREUSE_NS, ns_per(ns, nb));

	system_check(c, "the THP phase");
	mm_exit(child);
	mm_exit(mm);
}

static uint64_t live_frames(struct ctx *c)
{
	struct phys_pool_stats ps;

	phys_pool_stats(mm_system_pool(c->sys), &ps);
	return ps.live_frames;
}

/*
 * One run: a fresh system (so the host memory a first touch costs is
 * measured afresh, not served from the descriptors of the last run), every
 * workload, and the system destroyed again.
 */
static void run_once(struct ctx *c)
{
	struct mm_system_config cfg = {
		.ram = c->ram,
		.metadata_only = true,
		.thp = MM_THP_MADVISE,
	};
	struct folio *hz;
	uint64_t live;
	int err;

	err = mm_system_create(&cfg, &c->sys);
	if (err)
		die("mm_system_create: %s", strerror(-err));
	/*
	 * The huge zero folio is allocated on first use and kept for the
	 * pool's life: make it now, so the run ends with the frames it began
	 * with.
	 */
	hz = phys_huge_zero_folio_get(mm_system_pool(c->sys));
	if (!hz)
		die("phys_huge_zero_folio_get: %s", strerror(errno));
	folio_put(hz);
	live = live_frames(c);

	fprintf(stderr, "mm_bench: run %d/%d: 4k", c->run + 1, c->o->runs);
	phase_4k(c);
	fputs(", handle_mm_fault", stderr);
	phase_4k_direct(c);
	fputs(", zero pages", stderr);
	phase_zero(c);
	phase_thp_faults(c, false);
	fputs(", thp faults", stderr);
	phase_thp_faults(c, true);
	fputs(", thp fork and cow", stderr);
	phase_thp(c);
	fputs(", exit\n", stderr);
	phase_one_page_exit(c);

	/* Every process has exited: every frame they used is back in the pool. */
	expect("end of run", "pool live_frames", live_frames(c), live);
	err = mm_system_destroy(c->sys);
	if (err)
		die("mm_system_destroy: %s", strerror(-err));
	c->sys = NULL;
}

/* ---- output ------------------------------------------------------------------------ */

static void print_method(struct json *j, const struct opts *o)
{
	json_obj(j, "method");
	json_str(j, "statistic",
		 "each figure is {median, min, max} over the runs; each ratio is the median (min, "
		 "max) of per-run ratios of two figures measured in the same run");
	json_str(j, "system",
		 "a fresh mm_system per run, metadata_only (frames carry no bytes: no memset or "
		 "memcpy of page data; the figures are the simulator's page-table, folio and "
		 "accounting work, and the simulated RAM costs the host only descriptors), THP "
		 "mode madvise, profile current; one thread (hmmsim_thread_register'd)");
	json_str(j, "faults",
		 "CPU accesses of one byte per page (mm_memset for writes, mm_read_sum for "
		 "reads) at a 4 KiB stride (4K regions: MADV_NOHUGEPAGE) or a 2 MiB stride "
		 "(THP regions: MADV_HUGEPAGE, PMD-aligned), timed around the loop, on fresh "
		 "processes; write_thp and read_huge_zero_page map, fault and munmap their "
		 "region again until min_ms (3 passes at least); write_4k_handle_mm_fault calls "
		 "handle_mm_fault(FAULT_FLAG_WRITE) per page under one mmap_read_lock, on the "
		 "VMA found once");
	json_str(j, "cow",
		 "cow_4k_copy: the parent writes every page of its 4K region after fork (the "
		 "child alive); cow_4k_reuse: then the child writes every page (last mapper); "
		 "cow_thp_split: the THP parent writes the first page of each PMD after fork "
		 "(split_huge_pmd + one 4K copy); cow_pte_in_split_thp: then the other 511 "
		 "pages of each; cow_thp_reuse: then the child writes one byte per PMD (last "
		 "mapper: reuses the THP whole)");
	json_str(j, "fork",
		 "mm_fork of a process whose region is fully populated (thp: every PMD a THP; "
		 "4k: every PTE an order-0 page), then mm_exit of the child; fork wall time, exit "
		 "wall and thread-CPU time (CLOCK_THREAD_CPUTIME_ID); thp: fork_reps times per "
		 "run, 4k: fork_reps_4k times, the run's figure their median; between reps the "
		 "parent writes one byte per page (reuse faults), so each fork write-protects it "
		 "again. one_page_exit: mm_exit of a process with one page, the floor of every "
		 "exit: destroying its page table waits for the RCU callbacks of the directories "
		 "it freed (hmmsim_barrier), which is sleep, not CPU");
	json_str(j, "walk",
		 "walk_page_range over the populated region under mmap_read_lock, leaf and hole "
		 "callbacks that count, repeated for at least min_ms and 3 walks");
	json_str(j, "dump",
		 "mm_dump of the populated region into a buffer large enough, repeated for at "
		 "least min_ms and 3 dumps");
	json_str(j, "host_rss_bytes_per_page",
		 "growth of this process's resident set (/proc/self/statm, after malloc_trim) "
		 "over the 4K first-touch writes, per simulated page: page tables, folio "
		 "descriptors and the pool's bookkeeping");
	json_u64(j, "fork_reps", o->fork_reps);
	json_u64(j, "fork_reps_4k", FORK_REPS_4K);
	json_u64(j, "one_page_exit_reps", EXIT1_REPS);
	json_u64(j, "min_ms", o->min_ms);
	json_close_obj(j);
}

static void print_report(const struct opts *o, const struct ctx *c)
{
	const char *group = NULL, *workload = NULL;
	struct json j;

	json_begin(&j, stdout);
	json_str(&j, "benchmark", "mm");
	json_str(&j, "hmmsim_version", hmmsim_version());
	json_bool(&j, "quick", o->quick);
	if (o->quick)
		json_str(&j, "note", "--quick: a smoke run (one run, small regions); the numbers "
			 "mean little");
	json_u64(&j, "cores", (uint64_t)sysconf(_SC_NPROCESSORS_ONLN));
	json_u64(&j, "runs", o->runs);
	json_obj(&j, "system");
	json_u64(&j, "ram", c->ram);
	json_bool(&j, "metadata_only", true);
	json_str(&j, "thp", "madvise");
	json_str(&j, "profile", mm_profile_current.name);
	json_close_obj(&j);
	json_obj(&j, "sizes");
	json_u64(&j, "region_bytes", o->size);
	json_u64(&j, "region_pages_4k", o->size >> MM_PAGE_SHIFT);
	json_u64(&j, "region_pmds", o->size >> MM_PMD_SHIFT);
	json_u64(&j, "thp_fault_region_bytes", o->thp_size);
	json_u64(&j, "thp_fault_region_pmds", o->thp_size >> MM_PMD_SHIFT);
	json_close_obj(&j);
	print_method(&j, o);

	for (int m = 0; m < M_COUNT; m++) {
		const struct metric_def *d = &metric_defs[m];

		if (!workload || strcmp(workload, d->workload) || strcmp(group, d->group)) {
			if (workload)
				json_close_obj(&j);
			if (!group || strcmp(group, d->group)) {
				if (group)
					json_close_obj(&j);
				json_obj(&j, d->group);
			}
			json_obj(&j, d->workload);
			group = d->group;
			workload = d->workload;
		}
		json_metric(&j, d->field, vals[m], o->runs);
	}
	json_close_obj(&j);
	json_close_obj(&j);

	json_obj(&j, "ratios");
	for (size_t i = 0; i < N_RATIOS; i++) {
		json_obj(&j, ratio_defs[i].name);
		json_num(&j, "median", median(ratio_runs[i], o->runs));
		json_num(&j, "min", min_finite(ratio_runs[i], o->runs));
		json_num(&j, "max", max_finite(ratio_runs[i], o->runs));
		json_str(&j, "means", ratio_defs[i].means);
		json_close_obj(&j);
	}
	json_close_obj(&j);

	json_obj(&j, "checks");
	json_str(&j, "stats", "passed: every workload's mm_get_stats deltas, walk and dump "
		 "contents, and the pool's live frames after each run were as expected");
	json_u64(&j, "mm_system_check_calls", c->checks);
	json_close_obj(&j);
	json_end(&j);
}

/* ---- main ---------------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: mm_bench [--quick] [--runs N] [--size-mib N] [--thp-mib N]\n"
		"                [--fork-reps N] [--min-ms N] [--check]\n"
		"  --quick       smoke run: 1 run, 64 MiB regions, 512 MiB THP regions, checks on\n"
		"  --runs N      repetitions, median reported (default 5, at most %d)\n"
		"  --size-mib N  4K regions and the THP process that forks, MiB, a multiple of 2\n"
		"                (default 1024)\n"
		"  --thp-mib N   THP write and huge-zero read regions, MiB, a multiple of 2\n"
		"                (default 16384)\n"
		"  --fork-reps N THP fork + exit per run (default 16, at most %d)\n"
		"  --min-ms N    walks and dumps repeat for at least this long (default 50)\n"
		"  --check       mm_system_check() after each phase (the default with --quick)\n",
		MAX_RUNS, MAX_FORK_REPS);
}

static void parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ "runs", required_argument, NULL, 'r' },
		{ "size-mib", required_argument, NULL, 's' },
		{ "thp-mib", required_argument, NULL, 't' },
		{ "fork-reps", required_argument, NULL, 'f' },
		{ "min-ms", required_argument, NULL, 'm' },
		{ "check", no_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	long runs = -1, reps = -1, min_ms = -1;
	long long size = -1, thp = -1;
	bool check = false;
	int ch;

	while ((ch = getopt_long(argc, argv, "qr:s:t:f:m:ch", longopts, NULL)) != -1) {
		switch (ch) {
		case 'q':
			o->quick = true;
			break;
		case 'r':
			runs = strtol(optarg, NULL, 0);
			break;
		case 's':
			size = strtoll(optarg, NULL, 0);
			break;
		case 't':
			thp = strtoll(optarg, NULL, 0);
			break;
		case 'f':
			reps = strtol(optarg, NULL, 0);
			break;
		case 'm':
			min_ms = strtol(optarg, NULL, 0);
			break;
		case 'c':
			check = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (optind < argc) {
		usage(stderr);
		exit(2);
	}
	/* --quick sets the defaults; explicit flags still win, in any order. */
	o->runs = o->quick ? 1 : 5;
	o->size = (o->quick ? 64 : 1024) * SZ_1M;
	o->thp_size = (o->quick ? 512 : 16384) * SZ_1M;
	o->fork_reps = o->quick ? 4 : 16;
	o->min_ms = o->quick ? 2 : 50;
	o->check = o->quick || check;
	if (runs != -1)
		o->runs = (int)runs;
	if (reps != -1)
		o->fork_reps = (int)reps;
	if (min_ms != -1)
		o->min_ms = (unsigned int)min_ms;
	if (o->runs < 1 || o->runs > MAX_RUNS)
		die("--runs must be 1..%d", MAX_RUNS);
	if (o->fork_reps < 1 || o->fork_reps > MAX_FORK_REPS)
		die("--fork-reps must be 1..%d", MAX_FORK_REPS);
	if (o->min_ms > 60000)
		die("--min-ms must be 0..60000");
	if (size != -1) {
		if (size < 2 || size % 2 || size > (1ll << 20))
			die("--size-mib must be an even number in [2, %lld]", 1ll << 20);
		o->size = (uint64_t)size * SZ_1M;
	}
	if (thp != -1) {
		if (thp < 2 || thp % 2 || thp > (1ll << 22))
			die("--thp-mib must be an even number in [2, %lld]", 1ll << 22);
		o->thp_size = (uint64_t)thp * SZ_1M;
	}
}

int main(int argc, char **argv)
{
	struct opts o = { 0 };
	struct ctx c = { .o = &o };

	parse_args(argc, argv, &o);
	hmmsim_thread_register();

	/*
	 * Room for the largest phase: a THP region, or a 4K region and its
	 * copies (the parent's COW copies while the child keeps the
	 * originals), with a margin; metadata_only makes it cost the host
	 * only the descriptors of what is allocated.
	 */
	c.ram = (o.thp_size > 2 * o.size ? o.thp_size : 2 * o.size) + 2 * o.size + 64 * SZ_1M;

	for (int m = 0; m < M_COUNT; m++)
		for (int r = 0; r < MAX_RUNS; r++)
			vals[m][r] = NAN;
	for (c.run = 0; c.run < o.runs; c.run++)
		run_once(&c);
	for (size_t i = 0; i < N_RATIOS; i++)
		for (int r = 0; r < o.runs; r++)
			ratio_runs[i][r] = vals[ratio_defs[i].a][r] / vals[ratio_defs[i].b][r];
	print_report(&o, &c);
	hmmsim_thread_unregister();
	return 0;
}
