// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * gpu_bench: the fake GPU (issue 5). A device streams over a THP-backed
 * buffer (1 GiB) with three page-size policies (seed 000): the CPU map
 * order used (GPU_SIZE_MAP_ORDER, nouveau), ignored (GPU_SIZE_4K), and
 * replaced by ODP-style detection (GPU_SIZE_INFER); PTE writes per page
 * size, TLB misses, simulated time and host time; with no PMD split and
 * with 1% of the PMDs split on the CPU side. Prints one JSON object on
 * stdout; progress goes to stderr. See bench/README.md.
 *
 * Method, in short:
 *  - a fresh system per run, metadata_only (frames carry no bytes: the
 *    device reads zeros, and the sums are checked), THP mode madvise; one
 *    thread, registered;
 *  - per split level, one process maps the buffer PMD-aligned with
 *    MADV_HUGEPAGE and writes it all (a THP per PMD), then 1% of the PMDs
 *    (the first of a seeded permutation, at least one) are split by
 *    mprotect() of one page read-only and back to read-write: the 512
 *    pages stay present, writable, contiguous and of the same THP, mapped
 *    by PTEs (and the VMA is cut in three: hmmsim never merges VMAs);
 *  - per policy, a fresh device (GP100 format, clock executor, default
 *    cost model, TLB and fault batch, no device memory), which streams
 *    twice over the buffer with gpu_dev_read() of 2 MiB at a time: a cold
 *    pass (faults, PTE writes) and a warm pass (mappings in place); the
 *    device is destroyed before the next policy;
 *  - counters come from gpu_stats() around each pass; host time is
 *    CLOCK_MONOTONIC around the pass's calls;
 *  - each figure is the median over the runs with the min and max beside
 *    it; a ratio is the median of the per-run ratios;
 *  - every result is checked (PTE writes per size against the CPU
 *    mapping, pages read, sums, no fault in the warm pass, the device
 *    counters identical in every run, gpu_check(), mm_system_check() with
 *    --check, the pool's frames after each run); a wrong result exits with
 *    status 1, slowness never does.
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
#define SEED		UINT64_C(0x5eed000a0de0f00d)
/* The page of a PMD block that mprotect() makes read-only and back. */
#define SPLIT_PAGE	255
/* Bytes of one gpu_dev_read() of the stream. */
#define CHUNK		SZ_2M

/* ---- what is measured ------------------------------------------------------ */

enum policy { P_MAP_ORDER, P_4K_ONLY, P_ODP, N_POLICIES };

static const char *const policy_names[N_POLICIES] = { "map_order", "4k_only", "odp" };
static const enum gpu_size_policy policy_sizes[N_POLICIES] = {
	GPU_SIZE_MAP_ORDER, GPU_SIZE_4K, GPU_SIZE_INFER,
};

/* Split levels, in percent of the PMDs. */
static const unsigned int split_pcts[] = { 0, 1 };
#define N_LEVELS	(sizeof(split_pcts) / sizeof(split_pcts[0]))

enum pass { COLD, WARM, N_PASSES };

/*
 * struct counts - what the device did over one level and policy: exact,
 * the same in every run (checked).
 */
struct counts {
	uint64_t pte_writes[GPU_NR_PAGE_SIZES];
	uint64_t pte_writes_total;
	uint64_t tlb_misses[N_PASSES];
	uint64_t tlb_hits[N_PASSES];
	uint64_t faults;
	uint64_t fault_rounds;
	uint64_t fault_batches;
	uint64_t fault_duplicates;
	uint64_t range_faults;
	uint64_t commands;
	uint64_t dirs;
	uint64_t sim_ns[N_PASSES];
	uint64_t split_pmds;
};

static struct counts counts[N_LEVELS][N_POLICIES];

/* Host nanoseconds per run, level, policy and pass; NAN until measured. */
static double host_ns[N_LEVELS][N_POLICIES][N_PASSES][MAX_RUNS];
/* Simulated nanoseconds of both passes, per run (exact, but kept per run for the ratios). */
static double sim_ns[N_LEVELS][N_POLICIES][MAX_RUNS];
static double pte_writes[N_LEVELS][N_POLICIES][MAX_RUNS];
static double tlb_misses[N_LEVELS][N_POLICIES][MAX_RUNS];

enum quantity { Q_PTE_WRITES, Q_TLB_MISSES, Q_SIM_TIME, Q_HOST_TIME };

struct ratio_def {
	const char *name;
	enum quantity q;
	enum policy a, b;
	const char *means;
};

static const struct ratio_def ratio_defs[] = {
	{ "pte_writes_4k_only_vs_map_order", Q_PTE_WRITES, P_4K_ONLY, P_MAP_ORDER,
	  "device PTE writes with 4K only / with the map order (512 when every PMD is a THP)" },
	{ "tlb_misses_4k_only_vs_map_order", Q_TLB_MISSES, P_4K_ONLY, P_MAP_ORDER,
	  "device TLB misses over both passes, 4K only / map order" },
	{ "sim_time_4k_only_vs_map_order", Q_SIM_TIME, P_4K_ONLY, P_MAP_ORDER,
	  "device simulated time over both passes, 4K only / map order" },
	{ "host_time_4k_only_vs_map_order", Q_HOST_TIME, P_4K_ONLY, P_MAP_ORDER,
	  "host time of both passes, 4K only / map order" },
	{ "pte_writes_odp_vs_map_order", Q_PTE_WRITES, P_ODP, P_MAP_ORDER,
	  "device PTE writes, ODP-style / map order" },
	{ "tlb_misses_odp_vs_map_order", Q_TLB_MISSES, P_ODP, P_MAP_ORDER,
	  "device TLB misses over both passes, ODP-style / map order" },
	{ "sim_time_odp_vs_map_order", Q_SIM_TIME, P_ODP, P_MAP_ORDER,
	  "device simulated time over both passes, ODP-style / map order (> 1: the map order "
	  "is cheaper on the device)" },
	{ "host_time_odp_vs_map_order", Q_HOST_TIME, P_ODP, P_MAP_ORDER,
	  "host time of both passes, ODP-style / map order (the inference's cost on the host)" },
};

#define N_RATIOS (sizeof(ratio_defs) / sizeof(ratio_defs[0]))

static double ratio_runs[N_LEVELS][N_RATIOS][MAX_RUNS];

/*
 * struct opts - the command line.
 * @runs:	repetitions.
 * @size:	bytes of the buffer (a multiple of 2 MiB).
 * @check:	mm_system_check() after each level (untimed).
 * @quick:	a smoke run for CI.
 */
struct opts {
	int runs;
	uint64_t size;
	bool check;
	bool quick;
};

/*
 * struct ctx - what every workload of a run shares.
 * @sys:	the run's system; @ram: its memory.
 * @npages, @npmds: of the buffer.
 * @perm:	the seeded order in which PMDs get split.
 * @checks:	mm_system_check() calls made, all passed; @gpu_checks likewise.
 */
struct ctx {
	struct mm_system *sys;
	uint64_t ram;
	const struct opts *o;
	int run;
	uint64_t npages, npmds;
	uint32_t *perm;
	unsigned int checks;
	unsigned int gpu_checks;
	uint64_t reads;
};

static __attribute__((noreturn, format(printf, 1, 2))) void die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	va_start(ap, fmt);
	fputs("\ngpu_bench: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static void expect(const char *what, const char *stat, uint64_t got, uint64_t want)
{
	if (got != want)
		die("%s: %s is %" PRIu64 ", expected %" PRIu64, what, stat, got, want);
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

static struct mm_stats stats_of(struct mm_struct *mm)
{
	struct mm_stats st;

	mm_get_stats(mm, &st);
	return st;
}

/* ---- the buffer ---------------------------------------------------------------- */

/* The THP-backed buffer of process @mm, fully written: a THP per PMD. */
static uint64_t map_buffer(struct ctx *c, struct mm_struct *mm)
{
	uint64_t len = c->npages * SZ_4K, addr;
	struct mm_mmap_args a = {
		.len = len,
		.prot = MM_PROT_READ | MM_PROT_WRITE,
		.flags = MM_MAP_PRIVATE | MM_MAP_ANONYMOUS,
		.align = SZ_2M,
	};
	struct mm_stats st;
	int err;

	err = mm_mmap(mm, &a, &addr);
	if (!err)
		err = mm_madvise(mm, addr, len, MM_MADV_HUGEPAGE);
	if (!err)
		err = mm_memset(mm, addr, 0x5a, len);
	if (err)
		die("the buffer of %" PRIu64 " bytes: %s", len, strerror(-err));
	st = stats_of(mm);
	expect("buffer", "thp_fault_alloc", st.thp_fault_alloc, c->npmds);
	expect("buffer", "rss_anon", st.rss_anon, c->npages);
	return addr;
}

/*
 * Split the PMD at @block: mprotect() one page read-only, then back to
 * read-write. The 512 pages stay mapped, by PTEs, to the same THP.
 */
static void split_pmd(struct mm_struct *mm, uint64_t addr, uint64_t block)
{
	uint64_t va = addr + block * SZ_2M + SPLIT_PAGE * SZ_4K;
	int err;

	err = mm_mprotect(mm, va, SZ_4K, MM_PROT_READ);
	if (!err)
		err = mm_mprotect(mm, va, SZ_4K, MM_PROT_READ | MM_PROT_WRITE);
	if (err)
		die("mm_mprotect of %#" PRIx64 ": %s", va, strerror(-err));
}

/* ---- the device's stream ------------------------------------------------------------ */

static struct gpu_dev *new_dev(struct ctx *c, enum policy p)
{
	struct gpu_config cfg;
	struct gpu_dev *dev;
	int err;

	gpu_config_init(&cfg);
	cfg.name = policy_names[p];
	cfg.format = GPU_FORMAT_GP100;
	cfg.exec = GPU_EXEC_CLOCK;
	cfg.map = GPU_MAP_LARGE;
	cfg.size = policy_sizes[p];
	cfg.migrate = GPU_MIGRATE_NEVER;
	cfg.memory = 0;
	err = gpu_dev_create(c->sys, &cfg, &dev);
	if (err)
		die("gpu_dev_create (%s): %s", policy_names[p], strerror(-err));
	return dev;
}

/*
 * One pass of the device over the buffer, CHUNK bytes per gpu_dev_read().
 * Returns the host nanoseconds; the pages read must be the buffer's and
 * the sum zero (metadata-only frames read as zeros).
 */
static uint64_t stream(struct ctx *c, struct gpu_dev *dev, struct mm_struct *mm, uint64_t addr,
		       const char *what)
{
	uint64_t len = c->npages * SZ_4K, off, pages = 0, sum = 0, t0, t;
	struct gpu_result r;
	int err;

	t0 = now_ns();
	for (off = 0; off < len; off += CHUNK) {
		err = gpu_dev_read(dev, mm, addr + off, CHUNK, NULL, &r);
		if (err)
			die("%s: gpu_dev_read at %#" PRIx64 ": %s", what, addr + off,
			    strerror(-err));
		pages += r.cpages;
		sum += r.sum;
	}
	gpu_sync(dev);
	t = now_ns() - t0;
	c->reads += len / CHUNK;
	expect(what, "pages read", pages, c->npages);
	expect(what, "byte sum (metadata-only: zeros)", sum, 0);
	return t;
}

static void gpu_check_or_die(struct ctx *c, struct gpu_dev *dev, const char *what)
{
	char msg[512];

	if (gpu_check(dev, msg, sizeof(msg)))
		die("%s: gpu_check: %s", what, msg);
	c->gpu_checks++;
}

/*
 * The PTE writes the cold pass must make, by policy, over @split split
 * PMDs of the buffer (GP100: 4K, 64K and 2M pages):
 *  - map order: 2M per PMD leaf, 4K per page of a split PMD;
 *  - 4K only: one 4K entry per page;
 *  - ODP-style: 2M per PMD leaf; over a split PMD what the inference finds
 *    in the window it faults, which hmmsim clips to the VMA (the split cut
 *    it in three): checked against the exact counts of the first run, and
 *    at least as large as the map order's pages.
 */
static void check_cold(struct ctx *c, enum policy p, unsigned int level, const struct counts *k)
{
	char what[64];
	uint64_t split = k->split_pmds, whole = c->npmds - split;

	snprintf(what, sizeof(what), "split_%upct %s", split_pcts[level], policy_names[p]);
	expect(what, "pte_writes_1g", k->pte_writes[GPU_PS_1G], 0);
	switch (p) {
	case P_MAP_ORDER:
		expect(what, "pte_writes_2m (the PMD leaves)", k->pte_writes[GPU_PS_2M], whole);
		expect(what, "pte_writes_64k", k->pte_writes[GPU_PS_64K], 0);
		expect(what, "pte_writes_4k", k->pte_writes[GPU_PS_4K], split * PTRS_PER_PMD);
		break;
	case P_4K_ONLY:
		expect(what, "pte_writes_2m", k->pte_writes[GPU_PS_2M], 0);
		expect(what, "pte_writes_64k", k->pte_writes[GPU_PS_64K], 0);
		expect(what, "pte_writes_4k", k->pte_writes[GPU_PS_4K], c->npages);
		break;
	case P_ODP:
		if (k->pte_writes[GPU_PS_2M] < whole)
			die("%s: pte_writes_2m is %" PRIu64 ", expected at least %" PRIu64, what,
			    k->pte_writes[GPU_PS_2M], whole);
		if (k->pte_writes[GPU_PS_4K] > split * PTRS_PER_PMD)
			die("%s: pte_writes_4k is %" PRIu64 ", more than the map order's %" PRIu64,
			    what, k->pte_writes[GPU_PS_4K], split * PTRS_PER_PMD);
		expect(what, "pages mapped",
		       k->pte_writes[GPU_PS_2M] * PTRS_PER_PMD + k->pte_writes[GPU_PS_64K] * 16 +
		       k->pte_writes[GPU_PS_4K], c->npages);
		if (!split)
			expect(what, "pte_writes_2m with nothing split", k->pte_writes[GPU_PS_2M],
			       c->npmds);
		break;
	default:
		break;
	}
	/* One fault per page never mapped yet: at most one per page. */
	if (k->faults > c->npages || !k->faults)
		die("%s: %" PRIu64 " faults for %" PRIu64 " pages", what, k->faults, c->npages);
}

/* One policy over the buffer of @mm: a cold and a warm pass, checked. */
static void run_policy(struct ctx *c, struct mm_struct *mm, uint64_t addr, unsigned int level,
		       enum policy p, uint64_t split)
{
	struct gpu_dev *dev = new_dev(c, p);
	struct gpu_stats s0, s1, s2;
	struct counts k = { .split_pmds = split };
	char what[64];
	uint64_t t;
	int s, err;

	snprintf(what, sizeof(what), "split_%upct %s", split_pcts[level], policy_names[p]);
	gpu_stats(dev, &s0);
	t = stream(c, dev, mm, addr, what);
	host_ns[level][p][COLD][c->run] = (double)t;
	gpu_stats(dev, &s1);
	t = stream(c, dev, mm, addr, what);
	host_ns[level][p][WARM][c->run] = (double)t;
	gpu_stats(dev, &s2);

	for (s = 0; s < GPU_NR_PAGE_SIZES; s++) {
		k.pte_writes[s] = s1.pte_writes[s] - s0.pte_writes[s];
		k.pte_writes_total += k.pte_writes[s];
		expect(what, "PTE writes in the warm pass", s2.pte_writes[s] - s1.pte_writes[s], 0);
	}
	k.tlb_misses[COLD] = s1.tlb_misses - s0.tlb_misses;
	k.tlb_misses[WARM] = s2.tlb_misses - s1.tlb_misses;
	k.tlb_hits[COLD] = s1.tlb_hits - s0.tlb_hits;
	k.tlb_hits[WARM] = s2.tlb_hits - s1.tlb_hits;
	k.sim_ns[COLD] = s1.sim_ns - s0.sim_ns;
	k.sim_ns[WARM] = s2.sim_ns - s1.sim_ns;
	k.faults = s1.faults - s0.faults;
	k.fault_rounds = s1.fault_rounds - s0.fault_rounds;
	k.fault_batches = s1.fault_batches - s0.fault_batches;
	k.fault_duplicates = s1.fault_duplicates - s0.fault_duplicates;
	k.range_faults = s1.range_faults - s0.range_faults;
	k.commands = s2.commands - s0.commands;
	k.dirs = s2.dirs;
	expect(what, "faults in the warm pass", s2.faults - s1.faults, 0);
	expect(what, "invalidations", s2.invalidations - s0.invalidations, 0);
	expect(what, "-EBUSY retries", s2.ebusy_retries - s0.ebusy_retries, 0);
	/* The warm pass: one TLB access per page (the cold one adds the replays). */
	expect(what, "TLB accesses of the warm pass (one per page)",
	       k.tlb_misses[WARM] + k.tlb_hits[WARM], c->npages);
	check_cold(c, p, level, &k);
	gpu_check_or_die(c, dev, what);

	sim_ns[level][p][c->run] = (double)(k.sim_ns[COLD] + k.sim_ns[WARM]);
	pte_writes[level][p][c->run] = (double)k.pte_writes_total;
	tlb_misses[level][p][c->run] = (double)(k.tlb_misses[COLD] + k.tlb_misses[WARM]);
	if (c->run == 0)
		counts[level][p] = k;
	else if (memcmp(&counts[level][p], &k, sizeof(k)))
		die("%s: the device counters differ from the first run's", what);

	err = gpu_dev_destroy(dev);
	if (err)
		die("%s: gpu_dev_destroy: %s", what, strerror(-err));
}

/* One split level: a process, its buffer, the splits, every policy. */
static void run_level(struct ctx *c, unsigned int level)
{
	uint64_t want = (c->npmds * split_pcts[level] + 50) / 100, i, addr;
	struct mm_struct *mm;
	struct mm_stats st;
	int err;

	if (split_pcts[level] && !want)
		want = 1;
	err = mm_create(c->sys, NULL, &mm);
	if (err)
		die("mm_create: %s", strerror(-err));
	addr = map_buffer(c, mm);
	for (i = 0; i < want; i++)
		split_pmd(mm, addr, c->perm[i]);
	st = stats_of(mm);
	expect("split", "thp_split_pmd", st.thp_split_pmd, want);
	expect("split", "rss_anon", st.rss_anon, c->npages);
	system_check(c, "the splits");
	for (int p = 0; p < N_POLICIES; p++) {
		fprintf(stderr, "%s%s", p ? ", " : "", policy_names[p]);
		run_policy(c, mm, addr, level, (enum policy)p, want);
	}
	system_check(c, "the stream");
	mm_exit(mm);
}

static uint64_t live_frames(struct ctx *c)
{
	struct phys_pool_stats ps;

	phys_pool_stats(mm_system_pool(c->sys), &ps);
	return ps.live_frames;
}

static void run_once(struct ctx *c)
{
	struct mm_system_config cfg = {
		.ram = c->ram,
		.metadata_only = true,
		.thp = MM_THP_MADVISE,
	};
	uint64_t live;
	int err;

	err = mm_system_create(&cfg, &c->sys);
	if (err)
		die("mm_system_create: %s", strerror(-err));
	live = live_frames(c);
	for (unsigned int l = 0; l < N_LEVELS; l++) {
		fprintf(stderr, "gpu_bench: run %d/%d, split %u%%: ", c->run + 1, c->o->runs,
			split_pcts[l]);
		run_level(c, l);
		fputc('\n', stderr);
	}
	expect("end of run", "pool live_frames", live_frames(c), live);
	err = mm_system_destroy(c->sys);
	if (err)
		die("mm_system_destroy: %s", strerror(-err));
	c->sys = NULL;
}

/* ---- output ------------------------------------------------------------------------ */

static void print_method(struct json *j)
{
	char seed[24];
	struct gpu_config cfg;

	gpu_config_init(&cfg);
	json_obj(j, "method");
	json_str(j, "statistic",
		 "host times are {median, min, max} over the runs; device counters and simulated "
		 "times are exact (the clock executor is deterministic) and identical in every run "
		 "(checked); each ratio is the median (min, max) of per-run ratios");
	json_str(j, "system",
		 "a fresh mm_system per run, metadata_only (frames carry no bytes), THP mode "
		 "madvise; one thread (hmmsim_thread_register'd)");
	json_str(j, "buffer",
		 "one process per split level: a PMD-aligned MADV_HUGEPAGE private anonymous "
		 "mapping, written whole by the CPU (a THP per PMD, checked)");
	json_str(j, "split",
		 "mprotect of one page (index 255) of the PMD read-only, then read-write: "
		 "split_huge_pmd maps the 512 pages by PTEs, all present, writable, contiguous and "
		 "of the same THP; the VMA is cut in three (hmmsim never merges VMAs); the split "
		 "PMDs are the first of a seeded permutation, at least one");
	json_str(j, "stream",
		 "per policy a fresh device, GPU_MAP_LARGE, streams twice over the buffer with "
		 "gpu_dev_read of chunk_bytes at a time (buf NULL): cold (faults, PTE writes) then "
		 "warm (mappings in place); counters from gpu_stats around each pass; host time "
		 "around each pass's calls and gpu_sync");
	json_str(j, "policies",
		 "map_order: GPU_SIZE_MAP_ORDER (the CPU leaf's size, nouveau); 4k_only: "
		 "GPU_SIZE_4K; odp: GPU_SIZE_INFER (fault the aligned 2M block inside the VMA, "
		 "infer sizes from folios and frame contiguity)");
	json_str(j, "format", gpu_format_name(GPU_FORMAT_GP100));
	json_str(j, "exec", "clock");
	json_u64(j, "chunk_bytes", CHUNK);
	json_u64(j, "tlb_sets", cfg.tlb_sets);
	json_u64(j, "tlb_ways", cfg.tlb_ways);
	json_u64(j, "fault_batch", cfg.fault_batch);
	json_u64(j, "access_bytes", cfg.access_bytes);
	json_obj(j, "cost");
	json_u64(j, "pte_write_ns", cfg.cost.pte_write_ns);
	json_u64(j, "pte_clear_ns", cfg.cost.pte_clear_ns);
	json_u64(j, "tlb_invalidate_ns", cfg.cost.tlb_invalidate_ns);
	json_u64(j, "fault_batch_ns", cfg.cost.fault_batch_ns);
	json_u64(j, "fault_page_ns", cfg.cost.fault_page_ns);
	json_u64(j, "walk_ns", cfg.cost.walk_ns);
	json_num(j, "copy_gibps", cfg.cost.copy_gibps);
	json_close_obj(j);
	snprintf(seed, sizeof(seed), "%#" PRIx64, SEED);
	json_str(j, "seed", seed);
	json_close_obj(j);
}

static void print_policy(struct json *j, const struct opts *o, unsigned int l, enum policy p)
{
	const struct counts *k = &counts[l][p];

	json_obj(j, policy_names[p]);
	json_obj(j, "pte_writes");
	json_u64(j, "4k", k->pte_writes[GPU_PS_4K]);
	json_u64(j, "64k", k->pte_writes[GPU_PS_64K]);
	json_u64(j, "2m", k->pte_writes[GPU_PS_2M]);
	json_u64(j, "1g", k->pte_writes[GPU_PS_1G]);
	json_u64(j, "total", k->pte_writes_total);
	json_close_obj(j);
	json_obj(j, "tlb_misses");
	json_u64(j, "cold", k->tlb_misses[COLD]);
	json_u64(j, "warm", k->tlb_misses[WARM]);
	json_u64(j, "total", k->tlb_misses[COLD] + k->tlb_misses[WARM]);
	json_close_obj(j);
	json_obj(j, "tlb_hits");
	json_u64(j, "cold", k->tlb_hits[COLD]);
	json_u64(j, "warm", k->tlb_hits[WARM]);
	json_close_obj(j);
	json_u64(j, "faults", k->faults);
	json_u64(j, "fault_rounds", k->fault_rounds);
	json_u64(j, "fault_batches", k->fault_batches);
	json_u64(j, "fault_duplicates", k->fault_duplicates);
	json_u64(j, "range_faults", k->range_faults);
	json_u64(j, "commands", k->commands);
	json_u64(j, "dirs", k->dirs);
	json_obj(j, "sim_ns");
	json_u64(j, "cold", k->sim_ns[COLD]);
	json_u64(j, "warm", k->sim_ns[WARM]);
	json_u64(j, "total", k->sim_ns[COLD] + k->sim_ns[WARM]);
	json_close_obj(j);
	json_obj(j, "host_ns");
	json_metric(j, "cold", host_ns[l][p][COLD], o->runs);
	json_metric(j, "warm", host_ns[l][p][WARM], o->runs);
	json_close_obj(j);
	json_close_obj(j);
}

/*
 * Where ODP-style detection maps larger than the CPU leaf: the pages of
 * the split PMDs it maps 2M or 64K (the map order maps them 4K).
 */
static void print_odp_larger(struct json *j, const struct ctx *c, unsigned int l)
{
	const struct counts *k = &counts[l][P_ODP];
	uint64_t whole = c->npmds - k->split_pmds;

	json_obj(j, "odp_over_pte_mapped_thp");
	json_u64(j, "pages_2m", (k->pte_writes[GPU_PS_2M] - whole) * PTRS_PER_PMD);
	json_u64(j, "pages_64k", k->pte_writes[GPU_PS_64K] * 16);
	json_u64(j, "pages_4k", k->pte_writes[GPU_PS_4K]);
	json_str(j, "means",
		 "the split PMDs' pages (mapped 4K by the CPU and by the map order) by the device "
		 "page size ODP-style detection gives them; its fault window is the 2M block "
		 "clipped to the faulting VMA, and the split left the block in three VMAs, so it "
		 "infers from part of the THP");
	json_close_obj(j);
}

static void print_report(const struct opts *o, const struct ctx *c)
{
	struct json j;
	char name[80];

	json_begin(&j, stdout);
	json_str(&j, "benchmark", "gpu");
	json_str(&j, "hmmsim_version", hmmsim_version());
	json_bool(&j, "quick", o->quick);
	if (o->quick)
		json_str(&j, "note", "--quick: a smoke run (3 runs, a 512 MiB buffer); the numbers "
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
	json_u64(&j, "buffer_bytes", c->npages * SZ_4K);
	json_u64(&j, "buffer_pages_4k", c->npages);
	json_u64(&j, "buffer_pmds", c->npmds);
	json_close_obj(&j);
	print_method(&j);

	for (unsigned int l = 0; l < N_LEVELS; l++) {
		snprintf(name, sizeof(name), "split_%upct", split_pcts[l]);
		json_obj(&j, name);
		json_u64(&j, "split_pmds", counts[l][0].split_pmds);
		json_u64(&j, "pte_mapped_thp_pages", counts[l][0].split_pmds * PTRS_PER_PMD);
		print_odp_larger(&j, c, l);
		for (int p = 0; p < N_POLICIES; p++)
			print_policy(&j, o, l, (enum policy)p);
		json_close_obj(&j);
	}

	json_obj(&j, "ratios");
	for (unsigned int l = 0; l < N_LEVELS; l++) {
		for (size_t i = 0; i < N_RATIOS; i++) {
			/* The unsplit buffer's ratios carry the plain names run-all reads. */
			if (l == 0)
				snprintf(name, sizeof(name), "%s", ratio_defs[i].name);
			else
				snprintf(name, sizeof(name), "%s_split_%upct", ratio_defs[i].name,
					 split_pcts[l]);
			json_obj(&j, name);
			json_num(&j, "median", median(ratio_runs[l][i], o->runs));
			json_num(&j, "min", min_finite(ratio_runs[l][i], o->runs));
			json_num(&j, "max", max_finite(ratio_runs[l][i], o->runs));
			json_str(&j, "means", ratio_defs[i].means);
			json_close_obj(&j);
		}
	}
	json_close_obj(&j);

	json_obj(&j, "checks");
	json_str(&j, "results",
		 "passed: the buffer a THP per PMD; thp_split_pmd as asked; per policy the cold "
		 "pass's PTE writes per size (map order: 2M per PMD leaf and 4K per page of a split "
		 "PMD; 4K only: one per page; ODP-style: 2M at least per PMD leaf, every page once), "
		 "pages read and sums, no fault, PTE write, invalidation or retry in the warm "
		 "pass and one TLB access per page in it; gpu_check after each policy; the counters "
		 "identical in every run; the pool's live frames after each run");
	json_u64(&j, "gpu_dev_read_calls", c->reads);
	json_u64(&j, "gpu_check_calls", c->gpu_checks);
	json_u64(&j, "mm_system_check_calls", c->checks);
	json_close_obj(&j);
	json_end(&j);
}

/* ---- main ---------------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: gpu_bench [--quick] [--runs N] [--size-mib N] [--check]\n"
		"  --quick       smoke run: 3 runs over 512 MiB, checks on\n"
		"  --runs N      repetitions, median reported (default 15, at most %d)\n"
		"  --size-mib N  the buffer, MiB, a multiple of 2 (default 1024)\n"
		"  --check       mm_system_check() after each level (the default with --quick)\n",
		MAX_RUNS);
}

static void parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ "runs", required_argument, NULL, 'r' },
		{ "size-mib", required_argument, NULL, 's' },
		{ "check", no_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	long runs = -1;
	long long size = -1;
	bool check = false;
	int ch;

	while ((ch = getopt_long(argc, argv, "qr:s:ch", longopts, NULL)) != -1) {
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
	o->runs = o->quick ? 3 : 15;
	o->size = (o->quick ? 512 : 1024) * SZ_1M;
	o->check = o->quick || check;
	if (runs != -1)
		o->runs = (int)runs;
	if (o->runs < 1 || o->runs > MAX_RUNS)
		die("--runs must be 1..%d", MAX_RUNS);
	if (size != -1) {
		if (size < 2 || size % 2 || size > (1ll << 16))
			die("--size-mib must be an even number in [2, %lld]", 1ll << 16);
		o->size = (uint64_t)size * SZ_1M;
	}
}

static double quantity(enum quantity q, unsigned int l, enum policy p, int r)
{
	switch (q) {
	case Q_PTE_WRITES:
		return pte_writes[l][p][r];
	case Q_TLB_MISSES:
		return tlb_misses[l][p][r];
	case Q_SIM_TIME:
		return sim_ns[l][p][r];
	case Q_HOST_TIME:
		return host_ns[l][p][COLD][r] + host_ns[l][p][WARM][r];
	}
	return NAN;
}

int main(int argc, char **argv)
{
	struct opts o = { 0 };
	struct ctx c = { .o = &o };

	parse_args(argc, argv, &o);
	hmmsim_thread_register();

	c.npages = o.size >> MM_PAGE_SHIFT;
	c.npmds = o.size >> MM_PMD_SHIFT;
	/* One buffer at a time, which must find free 2M blocks; a margin. */
	c.ram = 2 * o.size + 64 * SZ_1M;
	c.perm = malloc(c.npmds * sizeof(*c.perm));
	if (!c.perm)
		die("out of memory");
	permutation(c.perm, (uint32_t)c.npmds, SEED);

	for (unsigned int l = 0; l < N_LEVELS; l++)
		for (int p = 0; p < N_POLICIES; p++)
			for (int r = 0; r < MAX_RUNS; r++) {
				host_ns[l][p][COLD][r] = host_ns[l][p][WARM][r] = NAN;
				sim_ns[l][p][r] = pte_writes[l][p][r] = tlb_misses[l][p][r] = NAN;
			}
	for (c.run = 0; c.run < o.runs; c.run++)
		run_once(&c);
	for (unsigned int l = 0; l < N_LEVELS; l++)
		for (size_t i = 0; i < N_RATIOS; i++)
			for (int r = 0; r < o.runs; r++)
				ratio_runs[l][i][r] =
					quantity(ratio_defs[i].q, l, ratio_defs[i].a, r) /
					quantity(ratio_defs[i].q, l, ratio_defs[i].b, r);
	print_report(&o, &c);
	free(c.perm);
	hmmsim_thread_unregister();
	return 0;
}
