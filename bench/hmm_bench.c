// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * hmm_bench: the hmm layer. hmm_range_fault() snapshot throughput over 4K
 * PTEs, PTE-mapped THPs, PMD leaves (THP) and PUD leaves (hugetlb 1G),
 * each beside a memset() of the same output array (the limit); and the
 * map order against ODP-style detection (seed 000): the device page size
 * hmm_range_map_shift() reads off the CPU map order against the one
 * hmm_range_infer_shift() infers from the folio and the frames, in time
 * and in agreement, on a THP-backed range with 0%, 1% and 50% of its PMDs
 * split. Prints one JSON object on stdout; progress goes to stderr. See
 * bench/README.md.
 *
 * Method, in short:
 *  - a fresh system per run, metadata_only (frames carry no bytes), THP
 *    mode madvise, the current kernel profile, 1 GiB hugetlb pages set
 *    aside for the PUD leaves; one thread, registered;
 *  - every snapshot is the driver's retry loop (Documentation/mm/hmm.rst):
 *    mmu_interval_read_begin(), mmap_read_lock(), hmm_range_fault() with
 *    default_flags = 0 (no fault), -EBUSY -> again, then
 *    mmu_interval_read_retry() under the driver lock, against an interval
 *    notifier over the range whose invalidate sets the sequence under
 *    that lock; it alternates with memset() of the same array (the
 *    limit), 4 slices of --min-ms / 4 each;
 *  - split PMDs are made by mprotect() of one page read-only and back to
 *    read-write: the PMD is split, the 512 pages stay present, writable,
 *    contiguous and mapped by PTEs to the same THP, so ODP's inference
 *    allows 2M where the CPU maps 4K; the split PMDs are the first ones of
 *    a seeded permutation (1% is a subset of 50%, 50% of all);
 *  - the sizes (4K|64K|2M) are computed for every page with each method
 *    (the time per page), and as a driver walks the array (one query per
 *    device mapping, stepping by the size found);
 *  - each figure is the median over the runs with the min and max beside
 *    it; a ratio is the median of the per-run ratios;
 *  - every result is checked (entries, map orders, frames, both methods'
 *    sizes page by page, mapping counts, split counts, mm_get_stats(), the
 *    pool's frames after each run); a wrong result exits with status 1,
 *    slowness never does.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hmmsim/hmmsim.h>

#include "bench.h"

#define SZ_4K		MM_PAGE_SIZE
#define SZ_64K		(UINT64_C(1) << 16)
#define SZ_2M		MM_PMD_SIZE
#define SZ_1G		MM_PUD_SIZE
#define SZ_1M		(UINT64_C(1) << 20)
#define PTRS_PER_PMD	(SZ_2M / SZ_4K)
#define PMD_ORDER	(MM_PMD_SHIFT - MM_PAGE_SHIFT)
#define PUD_ORDER	(MM_PUD_SHIFT - MM_PAGE_SHIFT)
/* The device page sizes both methods choose from. */
#define DEV_SIZES	(SZ_4K | SZ_64K | SZ_2M)
#define MAX_RUNS	31
#define SEED		UINT64_C(0x5eed000a0de0f00d)
/* Alternations of snapshot and memset timing per snapshot workload. */
#define SNAP_ROUNDS	4
/* The page of a PMD block that mprotect() makes read-only and back. */
#define SPLIT_PAGE	255

/* ---- what is measured ------------------------------------------------------ */

/* The split levels of the map order vs ODP comparison, in percent of the PMDs. */
static const unsigned int split_pcts[] = { 0, 1, 50 };
#define N_LEVELS	(sizeof(split_pcts) / sizeof(split_pcts[0]))

/*
 * Every figure, in the order it is printed: the JSON object it sits in
 * (group, then workload) and its name there.
 */
#define ODP_METRICS(X, id, w)							\
	X(id##_HRF_NS,	"map_order_vs_odp", w, "hmm_range_fault_ns_per_page")	\
	X(id##_MAP_NS,	"map_order_vs_odp", w, "map_shift_ns_per_page")		\
	X(id##_INF_NS,	"map_order_vs_odp", w, "infer_shift_ns_per_page")	\
	X(id##_MAPW_NS,	"map_order_vs_odp", w, "map_walk_ns_per_page")		\
	X(id##_INFW_NS,	"map_order_vs_odp", w, "infer_walk_ns_per_page")

#define METRICS(X)								\
	X(S4K_PPS,	"snapshot", "pte_4k", "pages_per_s")			\
	X(S4K_NS,	"snapshot", "pte_4k", "ns_per_page")			\
	X(S4K_MEMSET,	"snapshot", "pte_4k", "memset_pages_per_s")		\
	X(SPTE_PPS,	"snapshot", "pte_mapped_thp", "pages_per_s")		\
	X(SPTE_NS,	"snapshot", "pte_mapped_thp", "ns_per_page")		\
	X(SPTE_MEMSET,	"snapshot", "pte_mapped_thp", "memset_pages_per_s")	\
	X(SPMD_PPS,	"snapshot", "pmd", "pages_per_s")			\
	X(SPMD_NS,	"snapshot", "pmd", "ns_per_page")			\
	X(SPMD_MEMSET,	"snapshot", "pmd", "memset_pages_per_s")		\
	X(SPUD_PPS,	"snapshot", "pud", "pages_per_s")			\
	X(SPUD_NS,	"snapshot", "pud", "ns_per_page")			\
	X(SPUD_MEMSET,	"snapshot", "pud", "memset_pages_per_s")		\
	ODP_METRICS(X, L0, "split_0pct")					\
	ODP_METRICS(X, L1, "split_1pct")					\
	ODP_METRICS(X, L50, "split_50pct")

#define METRIC_ENUM(id, group, workload, field) M_##id,
enum metric { METRICS(METRIC_ENUM) M_COUNT };

struct metric_def {
	const char *group, *workload, *field;
};

#define METRIC_DEF(id, group, workload, field) [M_##id] = { group, workload, field },
static const struct metric_def metric_defs[M_COUNT] = { METRICS(METRIC_DEF) };

/* The first metric of each split level; the level's others follow in ODP_METRICS order. */
static const enum metric level_base[N_LEVELS] = { M_L0_HRF_NS, M_L1_HRF_NS, M_L50_HRF_NS };

enum odp_field { O_HRF_NS, O_MAP_NS, O_INF_NS, O_MAPW_NS, O_INFW_NS };

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

#define ODP_RATIOS(id, w)							\
	{ "infer_vs_map_per_page_" w, M_##id##_INF_NS, M_##id##_MAP_NS,		\
	  "time of hmm_range_infer_shift / of hmm_range_map_shift, every page queried "	\
	  "(> 1: the map order is faster)" },					\
	{ "infer_vs_map_walk_" w, M_##id##_INFW_NS, M_##id##_MAPW_NS,		\
	  "time of the driver walk with the inference / with the map order (> 1: the "	\
	  "map order is faster)" },						\
	{ "infer_walk_vs_hmm_range_fault_" w, M_##id##_INFW_NS, M_##id##_HRF_NS,	\
	  "time of the driver walk with the inference / of the snapshot that fed it" },	\
	{ "map_walk_vs_hmm_range_fault_" w, M_##id##_MAPW_NS, M_##id##_HRF_NS,	\
	  "time of the driver walk with the map order / of the snapshot that fed it" }

static const struct ratio_def ratio_defs[] = {
	{ "snapshot_pte_4k_vs_memset", M_S4K_PPS, M_S4K_MEMSET,
	  "pages/s of the snapshot / of memset of the same array (the share of the limit "
	  "reached; < 1 always)" },
	{ "snapshot_pte_mapped_thp_vs_memset", M_SPTE_PPS, M_SPTE_MEMSET,
	  "as snapshot_pte_4k_vs_memset, over PTE-mapped THPs" },
	{ "snapshot_pmd_vs_memset", M_SPMD_PPS, M_SPMD_MEMSET,
	  "as snapshot_pte_4k_vs_memset, over PMD leaves" },
	{ "snapshot_pud_vs_memset", M_SPUD_PPS, M_SPUD_MEMSET,
	  "as snapshot_pte_4k_vs_memset, over PUD leaves" },
	{ "snapshot_pmd_vs_pte_4k", M_SPMD_PPS, M_S4K_PPS,
	  "snapshot pages/s over PMD leaves / over 4K PTEs" },
	{ "snapshot_pud_vs_pmd", M_SPUD_PPS, M_SPMD_PPS,
	  "snapshot pages/s over PUD leaves / over PMD leaves" },
	{ "snapshot_pte_mapped_thp_vs_pte_4k", M_SPTE_PPS, M_S4K_PPS,
	  "snapshot pages/s over PTE-mapped THPs / over 4K PTEs (both one PTE per page; "
	  "the former region has 2 more VMAs per split PMD)" },
	ODP_RATIOS(L0, "split_0pct"),
	ODP_RATIOS(L1, "split_1pct"),
	ODP_RATIOS(L50, "split_50pct"),
};

#define N_RATIOS (sizeof(ratio_defs) / sizeof(ratio_defs[0]))

static double ratio_runs[N_RATIOS][MAX_RUNS];

/*
 * struct odp_counts - what the two methods decide over a split level:
 * exact, the same in every run (checked).
 * @split_pmds:		PMDs split (PTE-mapped) out of the range's.
 * @map_mappings, @infer_mappings: device mappings a driver walking the
 *			output would create with each method.
 * @map_pages, @infer_pages: pages given 4K, 64K and 2M by each method.
 * @agree_pages:	pages where both give the same size.
 * @odp_larger_pages:	pages where the inference allows a larger page than
 *			the CPU maps (seed 000's correctness difference).
 * @map_larger_pages:	pages where the map order allows more (always 0).
 * @vmas:		VMAs over the range (hmmsim never merges them back).
 */
struct odp_counts {
	uint64_t split_pmds;
	uint64_t map_mappings;
	uint64_t infer_mappings;
	uint64_t map_pages[3];
	uint64_t infer_pages[3];
	uint64_t agree_pages;
	uint64_t odp_larger_pages;
	uint64_t map_larger_pages;
	uint64_t vmas;
};

static struct odp_counts odp_counts[N_LEVELS];

/*
 * struct opts - the command line.
 * @runs:	repetitions of every workload.
 * @size:	bytes of every range (a multiple of 2 MiB).
 * @min_ms:	every timed loop repeats until it took this long (3 passes
 *		at least).
 * @check:	mm_system_check() after each phase (untimed).
 * @quick:	a smoke run for CI.
 */
struct opts {
	int runs;
	uint64_t size;
	unsigned int min_ms;
	bool check;
	bool quick;
};

/*
 * struct ctx - what every workload of a run shares.
 * @sys:	the run's system.
 * @ram:	its memory; @hugetlb_1g: its 1 GiB hugetlb pages.
 * @npages, @npmds: of every range.
 * @pfns:	the output array (one word per page), shared by all.
 * @map, @inf:	each method's log2 size per page.
 * @perm:	the seeded order in which PMDs get split.
 * @retries:	-EBUSY and read_retry restarts of the snapshots (0 alone).
 * @snapshots:	hmm_range_fault() calls that succeeded.
 * @checks:	mm_system_check() calls made, all passed.
 */
struct ctx {
	struct mm_system *sys;
	uint64_t ram;
	uint64_t hugetlb_1g;
	const struct opts *o;
	int run;
	uint64_t npages, npmds;
	uint64_t *pfns;
	uint8_t *map, *inf;
	uint32_t *perm;
	uint64_t retries;
	uint64_t snapshots;
	unsigned int checks;
};

/*
 * struct mirror - the driver's side: an interval notifier over one range
 * and the lock its invalidate and the retry check take.
 */
struct mirror {
	struct mmu_interval_notifier notifier;
	pthread_mutex_t lock;
	struct mm_struct *mm;
	uint64_t invalidations;
};

static __attribute__((noreturn, format(printf, 1, 2))) void die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	va_start(ap, fmt);
	fputs("\nhmm_bench: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static void put(const struct ctx *c, enum metric m, double v)
{
	vals[m][c->run] = v;
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

/* ---- processes, regions and the mirror ------------------------------------------ */

static struct mm_struct *new_mm(const struct ctx *c)
{
	struct mm_struct *mm;
	int err = mm_create(c->sys, NULL, &mm);

	if (err)
		die("mm_create: %s", strerror(-err));
	return mm;
}

static struct mm_stats stats_of(struct mm_struct *mm)
{
	struct mm_stats st;

	mm_get_stats(mm, &st);
	return st;
}

/*
 * A private anonymous read-write region of @len bytes: PMD-aligned with
 * MADV_HUGEPAGE when @thp, MADV_NOHUGEPAGE otherwise (the system's mode is
 * madvise, so the advice alone decides); or, with @hugetlb, a private
 * hugetlb mapping of 1 GiB pages (1 GiB-aligned, as hugetlb must be).
 */
static uint64_t map_region(struct mm_struct *mm, uint64_t len, bool thp, bool hugetlb)
{
	struct mm_mmap_args a = {
		.len = len,
		.prot = MM_PROT_READ | MM_PROT_WRITE,
		.flags = MM_MAP_PRIVATE | MM_MAP_ANONYMOUS,
		.align = hugetlb ? SZ_1G : thp ? SZ_2M : 0,
	};
	uint64_t addr;
	int err;

	if (hugetlb)
		a.flags |= MM_MAP_HUGETLB | MM_MAP_HUGE_1GB;
	err = mm_mmap(mm, &a, &addr);
	if (err)
		die("mm_mmap of %" PRIu64 " bytes%s: %s", len, hugetlb ? " (hugetlb 1G)" : "",
		    strerror(-err));
	if (hugetlb)
		return addr;
	err = mm_madvise(mm, addr, len, thp ? MM_MADV_HUGEPAGE : MM_MADV_NOHUGEPAGE);
	if (err)
		die("mm_madvise: %s", strerror(-err));
	return addr;
}

/*
 * The CPU writes every byte of [@addr, @addr + @len) (one mm_memset(): a
 * write fault per 4K page, THP or hugetlb page, then plain writes), and
 * the faults must be exactly @faults.
 */
static void write_all(struct mm_struct *mm, uint64_t addr, uint64_t len, uint64_t faults,
		      const char *what)
{
	struct mm_stats st0 = stats_of(mm);
	int err = mm_memset(mm, addr, 1, len);

	if (err)
		die("%s: mm_memset of %#" PRIx64 "+%#" PRIx64 ": %s", what, addr, len,
		    strerror(-err));
	expect(what, "faults", stats_of(mm).faults - st0.faults, faults);
}

static bool mirror_invalidate(struct mmu_interval_notifier *sub,
			      const struct mmu_notifier_range *range, uint64_t cur_seq)
{
	struct mirror *m = (struct mirror *)sub;	/* the notifier comes first */

	pthread_mutex_lock(&m->lock);
	mmu_interval_set_seq(sub, cur_seq);
	/* A device would drop its mappings of the range here: it has none. */
	m->invalidations++;
	pthread_mutex_unlock(&m->lock);
	return true;
}

static const struct mmu_interval_notifier_ops mirror_ops = { .invalidate = mirror_invalidate };

static void mirror_init(struct mirror *m, struct mm_struct *mm, uint64_t addr, uint64_t len)
{
	int err;

	memset(m, 0, sizeof(*m));
	pthread_mutex_init(&m->lock, NULL);
	m->mm = mm;
	err = mmu_interval_notifier_insert(&m->notifier, mm, addr, len, &mirror_ops);
	if (err)
		die("mmu_interval_notifier_insert: %s", strerror(-err));
}

static void mirror_fini(struct mirror *m)
{
	int err = mmu_interval_notifier_remove(&m->notifier);

	if (err)
		die("mmu_interval_notifier_remove: %s", strerror(-err));
	pthread_mutex_destroy(&m->lock);
}

/*
 * One snapshot of [@addr, @addr + npages pages) into c->pfns, as a driver
 * takes it: read_begin, hmm_range_fault() under mmap_read_lock(), again on
 * -EBUSY, then read_retry under the driver lock (where a driver programs
 * its table).
 */
static void snapshot(struct ctx *c, struct mirror *m, uint64_t addr)
{
	struct hmm_range range = {
		.notifier = &m->notifier,
		.start = addr,
		.end = addr + (c->npages << MM_PAGE_SHIFT),
		.hmm_pfns = c->pfns,
		.default_flags = 0,
		.pfn_flags_mask = 0,
	};
	int err;

again:
	range.notifier_seq = mmu_interval_read_begin(&m->notifier);
	mmap_read_lock(m->mm);
	err = hmm_range_fault(&range);
	mmap_read_unlock(m->mm);
	if (err == -EBUSY) {
		c->retries++;
		goto again;
	}
	if (err)
		die("hmm_range_fault: %s", strerror(-err));
	pthread_mutex_lock(&m->lock);
	if (mmu_interval_read_retry(&m->notifier, range.notifier_seq)) {
		pthread_mutex_unlock(&m->lock);
		c->retries++;
		goto again;
	}
	/* A driver would program its page table from c->pfns here. */
	pthread_mutex_unlock(&m->lock);
	c->snapshots++;
}

/*
 * snapshot() again and again until @min_ns passed and @min_reps were
 * made; adds the calls to *@reps, returns the nanoseconds.
 */
static uint64_t run_snapshots(struct ctx *c, struct mirror *m, uint64_t addr, uint64_t min_ns,
			      uint64_t min_reps, uint64_t *reps)
{
	uint64_t n = 0, t0, t;

	t0 = now_ns();
	do {
		snapshot(c, m, addr);
		n++;
		t = now_ns() - t0;
	} while (t < min_ns || n < min_reps);
	*reps += n;
	return t;
}

/* memset() of the output array, likewise: the limit of any snapshot. */
static uint64_t run_memsets(struct ctx *c, uint64_t min_ns, uint64_t min_reps, uint64_t *reps)
{
	size_t bytes = c->npages * sizeof(c->pfns[0]);
	uint64_t n = 0, t0, t;

	t0 = now_ns();
	do {
		memset(c->pfns, (int)(n & 0xff), bytes);
		/* The array escapes: the stores cannot be dropped or merged. */
		__asm__ volatile("" : : "r"(c->pfns) : "memory");
		n++;
		t = now_ns() - t0;
	} while (t < min_ns || n < min_reps);
	*reps += n;
	return t;
}

/* Nanoseconds per page of snapshot(), for at least min_ms and 3 calls. */
static double time_snapshot(struct ctx *c, struct mirror *m, uint64_t addr)
{
	uint64_t reps = 0, ns;

	ns = run_snapshots(c, m, addr, (uint64_t)c->o->min_ms * 1000000u, 3, &reps);
	return ns_per(ns, reps * c->npages);
}

/*
 * Check a snapshot: every entry VALID and WRITE, nothing else among the
 * flags, the map order of its PMD block (@orders[pmd], or @order for all
 * when @orders is NULL), and the frames of each @span pages (1, 512 or
 * 262144) contiguous from a frame aligned to @span: the folio behind the
 * block, whole. With @folio_order, phys_pfn_to_folio() of each block's
 * first frame must have that order.
 */
static void check_snapshot(struct ctx *c, const char *what, const uint8_t *orders,
			   unsigned int order, uint64_t span, int folio_order_want)
{
	struct phys_machine *machine = mm_system_machine(c->sys);
	const uint64_t flags = HMM_PFN_VALID | HMM_PFN_WRITE;
	uint64_t i, pfn0 = 0;

	for (i = 0; i < c->npages; i++) {
		uint64_t e = c->pfns[i], pfn = hmm_pfn_to_pfn(e);
		unsigned int want = orders ? orders[i / PTRS_PER_PMD] : order;

		if ((e & HMM_PFN_FLAGS & ~HMM_PFN_ORDER_MASK) != flags)
			die("%s: page %" PRIu64 ": entry %#" PRIx64 " is not VALID|WRITE alone",
			    what, i, e);
		if (hmm_pfn_to_map_order(e) != want)
			die("%s: page %" PRIu64 ": map order %u, expected %u", what, i,
			    hmm_pfn_to_map_order(e), want);
		if (i % span == 0) {
			struct folio *folio = phys_pfn_to_folio(machine, pfn);

			pfn0 = pfn;
			if (pfn0 & (span - 1))
				die("%s: page %" PRIu64 ": frame %#" PRIx64
				    " not aligned to %" PRIu64 " pages", what, i, pfn0, span);
			if (!folio)
				die("%s: page %" PRIu64 ": no folio holds frame %#" PRIx64, what, i,
				    pfn0);
			if (folio_order_want >= 0 &&
			    folio_order(folio) != (unsigned int)folio_order_want)
				die("%s: page %" PRIu64 ": folio order %u, expected %d", what, i,
				    folio_order(folio), folio_order_want);
		} else if (pfn != pfn0 + i % span) {
			die("%s: page %" PRIu64 ": frame %#" PRIx64 ", expected %#" PRIx64
			    " (the leaf's or the THP's frames in order)", what, i, pfn,
			    pfn0 + i % span);
		}
	}
}

/*
 * A snapshot workload: snapshot() and memset() of the same array in
 * alternation, SNAP_ROUNDS times min_ms / SNAP_ROUNDS each, so both see
 * the same machine (it is shared); pages/s of both. The snapshot is
 * checked before the timing and after it.
 */
static void snapshot_bench(struct ctx *c, struct mirror *m, uint64_t addr, const char *what,
			   enum metric pps, const uint8_t *orders, unsigned int order,
			   uint64_t span, int folio_order_want)
{
	uint64_t slice = (uint64_t)c->o->min_ms * 1000000u / SNAP_ROUNDS;
	uint64_t sns = 0, mns = 0, sreps = 0, mreps = 0;

	snapshot(c, m, addr);
	check_snapshot(c, what, orders, order, span, folio_order_want);
	for (int r = 0; r < SNAP_ROUNDS; r++) {
		sns += run_snapshots(c, m, addr, slice, 1, &sreps);
		mns += run_memsets(c, slice, 1, &mreps);
	}
	snapshot(c, m, addr);
	check_snapshot(c, what, orders, order, span, folio_order_want);
	put(c, pps, per_s(sreps * c->npages, sns));
	put(c, pps + 1, ns_per(sns, sreps * c->npages));
	put(c, pps + 2, per_s(mreps * c->npages, mns));
}

/*
 * Split the PMD at @block of the THP region at @addr: mprotect() one of
 * its pages read-only, then back to read-write. split_huge_pmd() maps the
 * 512 pages by PTEs; the second mprotect() makes the page writable again
 * (an exclusive anon page), so the block is as before but for the leaf
 * size. The VMA is cut in three, and hmmsim never merges VMAs back.
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

/* Split PMDs perm[*done..want) of the region; orders[] follows. */
static void split_to(struct ctx *c, struct mm_struct *mm, uint64_t addr, uint8_t *orders,
		     uint64_t *done, uint64_t want, const char *what)
{
	struct mm_stats st0 = stats_of(mm), st;

	for (; *done < want; (*done)++) {
		split_pmd(mm, addr, c->perm[*done]);
		orders[c->perm[*done]] = 0;
	}
	st = stats_of(mm);
	expect(what, "thp_split_pmd", st.thp_split_pmd, *done);
	expect(what, "rss_anon", st.rss_anon, c->npages);
	expect(what, "faults since the splits", st.faults - st0.faults, 0);
	expect(what, "vmas", st.vmas, 1 + 2 * *done);
}

/* ---- map order against ODP-style inference ------------------------------------------ */

static unsigned int size_index(unsigned int shift)
{
	return shift == MM_PMD_SHIFT ? 2 : shift == 16 ? 1 : 0;
}

/*
 * The size of every page with @infer (hmm_range_infer_shift) or without
 * (hmm_range_map_shift), into @out; repeated for at least min_ms and 3
 * times. Returns ns per page.
 */
static double time_per_page(struct ctx *c, uint64_t addr, bool infer, uint8_t *out)
{
	struct phys_machine *machine = mm_system_machine(c->sys);
	uint64_t min_ns = (uint64_t)c->o->min_ms * 1000000u, reps = 0, t0, t, i;
	const uint64_t *pfns = c->pfns, n = c->npages;

	t0 = now_ns();
	do {
		if (infer) {
			for (i = 0; i < n; i++)
				out[i] = (uint8_t)hmm_range_infer_shift(machine, pfns, addr, n, i,
									DEV_SIZES);
		} else {
			for (i = 0; i < n; i++)
				out[i] = (uint8_t)hmm_range_map_shift(pfns, addr, n, i, DEV_SIZES);
		}
		reps++;
		t = now_ns() - t0;
	} while (t < min_ns || reps < 3);
	return ns_per(t, reps * n);
}

/*
 * A driver's walk over the output: one query per device mapping, stepping
 * by the size found (as examples/mirror.c). Counts the mappings in
 * *@mappings; repeated for at least min_ms and 3 times. Returns ns per page.
 */
static double time_walk(struct ctx *c, uint64_t addr, bool infer, uint64_t *mappings)
{
	struct phys_machine *machine = mm_system_machine(c->sys);
	uint64_t min_ns = (uint64_t)c->o->min_ms * 1000000u, reps = 0, t0, t, i, k = 0;
	const uint64_t *pfns = c->pfns, n = c->npages;
	unsigned int shift;

	t0 = now_ns();
	do {
		k = 0;
		for (i = 0; i < n; i += UINT64_C(1) << (shift - MM_PAGE_SHIFT), k++) {
			shift = infer ? hmm_range_infer_shift(machine, pfns, addr, n, i, DEV_SIZES)
				      : hmm_range_map_shift(pfns, addr, n, i, DEV_SIZES);
			if (shift < MM_PAGE_SHIFT)
				die("%s at page %" PRIu64 ": %u (not VALID?)",
				    infer ? "hmm_range_infer_shift" : "hmm_range_map_shift", i,
				    shift);
		}
		reps++;
		t = now_ns() - t0;
	} while (t < min_ns || reps < 3);
	*mappings = k;
	return ns_per(t, reps * n);
}

/*
 * One split level of the THP region at @addr (orders[] says which PMDs are
 * split): the snapshot, both methods per page and as a driver walk, then
 * the checks: the map order gives 2M on every page of a PMD leaf and 4K on
 * every page of a split one; the inference gives 2M everywhere (every block
 * is a whole THP, present, writable, contiguous); so they agree except on
 * the split PMDs' pages, where ODP allows the larger page.
 */
static void odp_level(struct ctx *c, struct mirror *m, uint64_t addr, const uint8_t *orders,
		      unsigned int level)
{
	const enum metric base = level_base[level];
	struct odp_counts k = { 0 };
	char what[64];
	uint64_t i, split = 0;

	snprintf(what, sizeof(what), "map_order_vs_odp split_%upct", split_pcts[level]);
	for (i = 0; i < c->npmds; i++)
		split += !orders[i];

	put(c, base + O_HRF_NS, time_snapshot(c, m, addr));
	/* c->pfns holds the last snapshot: the array both methods read. */
	check_snapshot(c, what, orders, 0, PTRS_PER_PMD, PMD_ORDER);
	put(c, base + O_MAP_NS, time_per_page(c, addr, false, c->map));
	put(c, base + O_INF_NS, time_per_page(c, addr, true, c->inf));
	put(c, base + O_MAPW_NS, time_walk(c, addr, false, &k.map_mappings));
	put(c, base + O_INFW_NS, time_walk(c, addr, true, &k.infer_mappings));

	k.split_pmds = split;
	k.vmas = stats_of(m->mm).vmas;
	for (i = 0; i < c->npages; i++) {
		unsigned int want_map = orders[i / PTRS_PER_PMD] ? MM_PMD_SHIFT : MM_PAGE_SHIFT;

		if (c->map[i] != want_map)
			die("%s: page %" PRIu64 ": hmm_range_map_shift %u, expected %u (map order "
			    "%u)", what, i, c->map[i], want_map, hmm_pfn_to_map_order(c->pfns[i]));
		if (c->inf[i] != MM_PMD_SHIFT)
			die("%s: page %" PRIu64 ": hmm_range_infer_shift %u, expected %u (a whole "
			    "THP, contiguous and writable)", what, i, c->inf[i], MM_PMD_SHIFT);
		k.map_pages[size_index(c->map[i])]++;
		k.infer_pages[size_index(c->inf[i])]++;
		k.agree_pages += c->map[i] == c->inf[i];
		k.odp_larger_pages += c->inf[i] > c->map[i];
		k.map_larger_pages += c->map[i] > c->inf[i];
	}
	expect(what, "map_larger_pages", k.map_larger_pages, 0);
	expect(what, "odp_larger_pages", k.odp_larger_pages, split * PTRS_PER_PMD);
	expect(what, "map_mappings", k.map_mappings, c->npmds - split + split * PTRS_PER_PMD);
	expect(what, "infer_mappings", k.infer_mappings, c->npmds);
	if (!split)
		expect(what, "agree_pages with nothing split", k.agree_pages, c->npages);

	if (c->run == 0)
		odp_counts[level] = k;
	else if (memcmp(&odp_counts[level], &k, sizeof(k)))
		die("%s: the counts differ from the first run's", what);
}

/* ---- the workloads ---------------------------------------------------------------- */

/* 4K PTEs: a MADV_NOHUGEPAGE region, fully written. */
static void phase_4k(struct ctx *c)
{
	uint64_t len = c->npages << MM_PAGE_SHIFT, addr;
	struct mm_struct *mm = new_mm(c);
	struct mirror m;
	struct mm_stats st;

	addr = map_region(mm, len, false, false);
	write_all(mm, addr, len, c->npages, "pte_4k");
	st = stats_of(mm);
	expect("pte_4k", "anon_pages", st.anon_pages, c->npages);
	expect("pte_4k", "thp_fault_alloc", st.thp_fault_alloc, 0);
	mirror_init(&m, mm, addr, len);
	snapshot_bench(c, &m, addr, "snapshot pte_4k", M_S4K_PPS, NULL, 0, 1, 0);
	system_check(c, "the 4K phase");
	mirror_fini(&m);
	mm_exit(mm);
}

/*
 * The THP region (every PMD a THP, fully written): the PMD-leaf
 * snapshot, then the map order against the inference at each split level,
 * splitting more PMDs between levels; then every PMD split, the
 * PTE-mapped-THP snapshot.
 */
static void phase_thp(struct ctx *c)
{
	uint64_t len = c->npages << MM_PAGE_SHIFT, addr, done = 0, want;
	struct mm_struct *mm = new_mm(c);
	uint8_t *orders = malloc(c->npmds);
	struct mirror m;
	struct mm_stats st;

	if (!orders)
		die("out of memory");
	memset(orders, PMD_ORDER, c->npmds);
	addr = map_region(mm, len, true, false);
	write_all(mm, addr, len, c->npmds, "thp");
	st = stats_of(mm);
	expect("thp", "thp_fault_alloc", st.thp_fault_alloc, c->npmds);
	expect("thp", "rss_anon", st.rss_anon, c->npages);
	mirror_init(&m, mm, addr, len);

	snapshot_bench(c, &m, addr, "snapshot pmd", M_SPMD_PPS, NULL, PMD_ORDER, PTRS_PER_PMD,
		       PMD_ORDER);

	for (unsigned int l = 0; l < N_LEVELS; l++) {
		want = (c->npmds * split_pcts[l] + 50) / 100;
		if (split_pcts[l] && !want)
			want = 1;
		fprintf(stderr, ", split %u%%", split_pcts[l]);
		split_to(c, mm, addr, orders, &done, want, "split");
		system_check(c, "the splits");
		odp_level(c, &m, addr, orders, l);
	}

	fputs(", pte-mapped thp", stderr);
	split_to(c, mm, addr, orders, &done, c->npmds, "split all");
	snapshot_bench(c, &m, addr, "snapshot pte_mapped_thp", M_SPTE_PPS, NULL, 0, PTRS_PER_PMD,
		       PMD_ORDER);
	/* Per split: CLEAR over the 2M (split_huge_pmd), PROTECTION_VMA twice. */
	expect("pte_mapped_thp", "mirror invalidations", m.invalidations, 3 * c->npmds);
	system_check(c, "the THP phase");
	mirror_fini(&m);
	mm_exit(mm);
	free(orders);
}

/*
 * PUD leaves: a private hugetlb mapping of 1 GiB pages, fully written;
 * the range is its first c->npages pages (all of it unless --size-mib is
 * not a multiple of 1024).
 */
static void phase_pud(struct ctx *c)
{
	uint64_t len = c->hugetlb_1g * SZ_1G, addr;
	struct mm_struct *mm = new_mm(c);
	struct mirror m;
	struct mm_stats st;

	addr = map_region(mm, len, false, true);
	write_all(mm, addr, len, c->hugetlb_1g, "pud");
	st = stats_of(mm);
	expect("pud", "hugetlb_faults", st.hugetlb_faults, c->hugetlb_1g);
	mirror_init(&m, mm, addr, c->npages << MM_PAGE_SHIFT);
	snapshot_bench(c, &m, addr, "snapshot pud", M_SPUD_PPS, NULL, PUD_ORDER,
		       UINT64_C(1) << PUD_ORDER, PUD_ORDER);
	system_check(c, "the PUD phase");
	mirror_fini(&m);
	mm_exit(mm);
}

static uint64_t live_frames(struct ctx *c)
{
	struct phys_pool_stats ps;

	phys_pool_stats(mm_system_pool(c->sys), &ps);
	return ps.live_frames;
}

/* One run: a fresh system, every workload, the system destroyed again. */
static void run_once(struct ctx *c)
{
	struct mm_system_config cfg = {
		.ram = c->ram,
		.hugetlb_1g = c->hugetlb_1g,
		.metadata_only = true,
		.thp = MM_THP_MADVISE,
	};
	uint64_t live;
	int err;

	err = mm_system_create(&cfg, &c->sys);
	if (err)
		die("mm_system_create: %s", strerror(-err));
	live = live_frames(c);

	fprintf(stderr, "hmm_bench: run %d/%d: 4k", c->run + 1, c->o->runs);
	phase_4k(c);
	fputs(", pmd", stderr);
	phase_thp(c);
	fputs(", pud\n", stderr);
	phase_pud(c);

	/* Every process has exited: every frame they used is back. */
	expect("end of run", "pool live_frames", live_frames(c), live);
	err = mm_system_destroy(c->sys);
	if (err)
		die("mm_system_destroy: %s", strerror(-err));
	c->sys = NULL;
}

/* ---- output ------------------------------------------------------------------------ */

static void print_method(struct json *j, const struct opts *o)
{
	char seed[24];

	json_obj(j, "method");
	json_str(j, "statistic",
		 "each figure is {median, min, max} over the runs; each ratio is the median (min, "
		 "max) of per-run ratios of two figures measured in the same run");
	json_str(j, "system",
		 "a fresh mm_system per run, metadata_only (frames carry no bytes), THP mode "
		 "madvise, profile current, hugetlb_1g pages set aside for the PUD leaves; one "
		 "thread (hmmsim_thread_register'd)");
	json_str(j, "snapshot",
		 "the driver retry loop: mmu_interval_read_begin, mmap_read_lock, hmm_range_fault "
		 "(default_flags 0, pfn_flags_mask 0: no faults), mmap_read_unlock, again on "
		 "-EBUSY, then mmu_interval_read_retry under the driver lock; an interval "
		 "notifier over the range whose invalidate sets the sequence under that lock; "
		 "snapshots and memset of the same output array (range_pages_4k words, the "
		 "limit) alternate, snapshot_slices slices of min_ms / snapshot_slices each, "
		 "so both see the same machine; the snapshot is checked before and after");
	json_str(j, "regions",
		 "every region fully written by one mm_memset (a write fault per page, THP or "
		 "hugetlb page, checked); pte_4k: MADV_NOHUGEPAGE; pmd: PMD-aligned "
		 "MADV_HUGEPAGE, a THP per PMD; pte_mapped_thp: the pmd region after every PMD "
		 "was split; pud: MAP_HUGETLB|MAP_HUGE_1GB private (hugetlb_1g pages), the range "
		 "its first range_bytes");
	json_str(j, "split",
		 "mprotect of one page (index 255) of the PMD read-only, then read-write: "
		 "split_huge_pmd maps the 512 pages by PTEs, all present, writable, contiguous and "
		 "of the same THP (order 9); the VMA is cut in three (hmmsim never merges VMAs); "
		 "split PMDs are the first of a seeded permutation, so 1% is a subset of 50%");
	json_str(j, "map_order_vs_odp",
		 "after one snapshot of the THP region: per_page: hmm_range_map_shift and "
		 "hmm_range_infer_shift (phys_pfn_to_folio, folio order, frame contiguity) on "
		 "every page, sizes 4K|64K|2M, results stored per page; walk: as a driver "
		 "programs its table, one query per device mapping, stepping by the size found; "
		 "each repeated for at least min_ms (3 times at least); ns per 4K page");
	json_str(j, "device_page_sizes", "4K|64K|2M");
	json_u64(j, "snapshot_slices", SNAP_ROUNDS);
	json_u64(j, "min_ms", o->min_ms);
	snprintf(seed, sizeof(seed), "%#" PRIx64, SEED);
	json_str(j, "seed", seed);
	json_close_obj(j);
}

static void print_counts(struct json *j, const struct ctx *c)
{
	static const char *const size_names[3] = { "4k", "64k", "2m" };

	json_obj(j, "map_order_vs_odp_counts");
	for (unsigned int l = 0; l < N_LEVELS; l++) {
		const struct odp_counts *k = &odp_counts[l];
		char name[32];

		snprintf(name, sizeof(name), "split_%upct", split_pcts[l]);
		json_obj(j, name);
		json_u64(j, "pmds", c->npmds);
		json_u64(j, "split_pmds", k->split_pmds);
		json_num(j, "split_fraction", (double)k->split_pmds / (double)c->npmds);
		json_u64(j, "vmas", k->vmas);
		json_u64(j, "map_mappings", k->map_mappings);
		json_u64(j, "infer_mappings", k->infer_mappings);
		json_obj(j, "map_pages");
		for (int s = 0; s < 3; s++)
			json_u64(j, size_names[s], k->map_pages[s]);
		json_close_obj(j);
		json_obj(j, "infer_pages");
		for (int s = 0; s < 3; s++)
			json_u64(j, size_names[s], k->infer_pages[s]);
		json_close_obj(j);
		json_u64(j, "agree_pages", k->agree_pages);
		json_num(j, "agreement", (double)k->agree_pages / (double)c->npages);
		json_u64(j, "odp_larger_pages", k->odp_larger_pages);
		json_u64(j, "map_larger_pages", k->map_larger_pages);
		json_close_obj(j);
	}
	json_str(j, "means",
		 "exact and identical in every run (checked): mappings a driver would create "
		 "with each method; pages given each size; agreement = agree_pages / pages; "
		 "odp_larger_pages: pages where the inference allows a larger device page than "
		 "the CPU maps (2M over a PTE-mapped THP: seed 000's correctness difference)");
	json_close_obj(j);
}

static void print_report(const struct opts *o, const struct ctx *c)
{
	const char *group = NULL, *workload = NULL;
	struct json j;

	json_begin(&j, stdout);
	json_str(&j, "benchmark", "hmm");
	json_str(&j, "hmmsim_version", hmmsim_version());
	json_bool(&j, "quick", o->quick);
	if (o->quick)
		json_str(&j, "note", "--quick: a smoke run (one run, a smaller range, short "
			 "loops); the numbers mean little");
	json_u64(&j, "cores", (uint64_t)sysconf(_SC_NPROCESSORS_ONLN));
	json_u64(&j, "runs", o->runs);
	json_obj(&j, "system");
	json_u64(&j, "ram", c->ram);
	json_u64(&j, "hugetlb_1g", c->hugetlb_1g);
	json_bool(&j, "metadata_only", true);
	json_str(&j, "thp", "madvise");
	json_str(&j, "profile", mm_profile_current.name);
	json_close_obj(&j);
	json_obj(&j, "sizes");
	json_u64(&j, "range_bytes", c->npages << MM_PAGE_SHIFT);
	json_u64(&j, "range_pages_4k", c->npages);
	json_u64(&j, "range_pmds", c->npmds);
	json_u64(&j, "output_array_bytes", c->npages * sizeof(c->pfns[0]));
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

	print_counts(&j, c);

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
	json_str(&j, "results",
		 "passed: every snapshot entry VALID|WRITE with the leaf's map order and the "
		 "folio's frames in order; map shift 2M on PMD leaves and 4K on split PMDs, "
		 "inferred 2M everywhere, mapping counts as expected; mm_get_stats after every "
		 "setup; the pool's live frames after each run");
	json_u64(&j, "snapshots", c->snapshots);
	json_u64(&j, "snapshot_retries", c->retries);
	json_u64(&j, "mm_system_check_calls", c->checks);
	json_close_obj(&j);
	json_end(&j);
}

/* ---- main ---------------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: hmm_bench [--quick] [--runs N] [--size-mib N] [--min-ms N] [--check]\n"
		"  --quick       smoke run: 1 run, 512 MiB ranges, 25 ms loops, checks on\n"
		"  --runs N      repetitions, median reported (default 5, at most %d)\n"
		"  --size-mib N  every range, MiB, a multiple of 2 (default 1024)\n"
		"  --min-ms N    every timed loop repeats for at least this long (default 100)\n"
		"  --check       mm_system_check() after each phase (the default with --quick)\n",
		MAX_RUNS);
}

static void parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ "runs", required_argument, NULL, 'r' },
		{ "size-mib", required_argument, NULL, 's' },
		{ "min-ms", required_argument, NULL, 'm' },
		{ "check", no_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	long runs = -1, min_ms = -1;
	long long size = -1;
	bool check = false;
	int ch;

	while ((ch = getopt_long(argc, argv, "qr:s:m:ch", longopts, NULL)) != -1) {
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
	o->size = (o->quick ? 512 : 1024) * SZ_1M;
	o->min_ms = o->quick ? 25 : 100;
	o->check = o->quick || check;
	if (runs != -1)
		o->runs = (int)runs;
	if (min_ms != -1)
		o->min_ms = (unsigned int)min_ms;
	if (o->runs < 1 || o->runs > MAX_RUNS)
		die("--runs must be 1..%d", MAX_RUNS);
	if (o->min_ms > 60000)
		die("--min-ms must be 0..60000");
	if (size != -1) {
		if (size < 2 || size % 2 || size > (1ll << 16))
			die("--size-mib must be an even number in [2, %lld]", 1ll << 16);
		o->size = (uint64_t)size * SZ_1M;
	}
}

int main(int argc, char **argv)
{
	struct opts o = { 0 };
	struct ctx c = { .o = &o };

	parse_args(argc, argv, &o);
	hmmsim_thread_register();

	c.npages = o.size >> MM_PAGE_SHIFT;
	c.npmds = o.size >> MM_PMD_SHIFT;
	c.hugetlb_1g = (o.size + SZ_1G - 1) / SZ_1G;
	/*
	 * The 4K and THP regions (one process at a time, but the THP
	 * region must find free 2M blocks), the hugetlb pages, a margin;
	 * metadata_only makes it cost the host only what is allocated.
	 */
	c.ram = 2 * o.size + c.hugetlb_1g * SZ_1G + 64 * SZ_1M;
	c.pfns = malloc(c.npages * sizeof(*c.pfns));
	c.map = malloc(c.npages);
	c.inf = malloc(c.npages);
	c.perm = malloc(c.npmds * sizeof(*c.perm));
	if (!c.pfns || !c.map || !c.inf || !c.perm)
		die("out of memory");
	permutation(c.perm, (uint32_t)c.npmds, SEED);

	for (int m = 0; m < M_COUNT; m++)
		for (int r = 0; r < MAX_RUNS; r++)
			vals[m][r] = NAN;
	for (c.run = 0; c.run < o.runs; c.run++)
		run_once(&c);
	for (size_t i = 0; i < N_RATIOS; i++)
		for (int r = 0; r < o.runs; r++)
			ratio_runs[i][r] = vals[ratio_defs[i].a][r] / vals[ratio_defs[i].b][r];
	print_report(&o, &c);
	free(c.pfns);
	free(c.map);
	free(c.inf);
	free(c.perm);
	hmmsim_thread_unregister();
	return 0;
}
