// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * hmm_range_order: the map order of hmm_range_fault() (linux-hmm.md §1.3,
 * §1.6, §2, §8.5; cpu-mm-spec §3, §5, §10.3) and the two page-size queries
 * built on it. Every leaf kind: PTE (0), PMD THP and huge zero PMD (9, on
 * every page, pfn = head + offset, with ranges cutting the leaf), hugetlb
 * 2M (9) and 1G (18); after each kind of split (partial mprotect, COW of
 * one page after fork, partial munmap, partial DONTNEED, a write to the
 * huge zero PMD before 6.13, the deferred-split shrinker, mremap,
 * MADV_FREE, MADV_NOHUGEPAGE, make_device_exclusive): order 0 on the
 * PTE-mapped pages. hmm_range_map_shift() and hmm_range_infer_shift() on
 * real outputs, where a PTE-mapped THP gives 4K by the map order and 2M by
 * inference (the unit tests on hand-built arrays: test_hmm_range_shift.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <hmmsim/hmm.h>

#include "mm_test.h"

#define RW		(MM_PROT_READ | MM_PROT_WRITE)
#define ANON		(MM_MAP_PRIVATE | MM_MAP_ANONYMOUS)
#define FAULT		HMM_PFN_REQ_FAULT
#define WRITE		(HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE)
#define V		HMM_PFN_VALID
#define W		HMM_PFN_WRITE
#define ORDER(o)	((uint64_t)(o) << HMM_PFN_ORDER_SHIFT)
#define SIZES		(SZ_4K | SZ_64K | SZ_2M | SZ_1G)
#define MAX_TRIES	64
#define NMAX		2048

/* ------------------------------------------------------------------------ */
/* The driver                                                               */
/* ------------------------------------------------------------------------ */

struct drv {
	struct mmu_interval_notifier sub;	/* first: the callback casts */
	pthread_mutex_t lock;
};

static bool drv_invalidate(struct mmu_interval_notifier *sub,
			   const struct mmu_notifier_range *range, uint64_t cur_seq)
{
	struct drv *d = (struct drv *)sub;

	pthread_mutex_lock(&d->lock);
	mmu_interval_set_seq(sub, cur_seq);
	pthread_mutex_unlock(&d->lock);
	return true;
}

static const struct mmu_interval_notifier_ops drv_ops = { .invalidate = drv_invalidate };

static void drv_insert(struct drv *d, struct mm_struct *mm)
{
	memset(d, 0, sizeof(*d));
	pthread_mutex_init(&d->lock, NULL);
	assert_ret(mmu_interval_notifier_insert(&d->sub, mm, 0, MM_TASK_SIZE, &drv_ops), 0);
}

static void drv_remove(struct drv *d)
{
	assert_ret(mmu_interval_notifier_remove(&d->sub), 0);
	pthread_mutex_destroy(&d->lock);
}

/*
 * The driver's loop over [start, start + n pages) with @flags as
 * default_flags: the result, *@ebusy the -EBUSY returns. A snapshot
 * (@flags 0) must also leave the CPU state as it was.
 */
static int range_fault(struct drv *d, struct mm_struct *mm, uint64_t start, uint64_t n,
		       uint64_t flags, uint64_t *pfns, unsigned int *ebusy)
{
	struct hmm_range r = {
		.notifier = &d->sub, .start = start, .end = start + n * SZ_4K,
		.hmm_pfns = pfns, .default_flags = flags,
	};
	unsigned int tries, busy = 0;
	struct mt_snap s;
	int ret = -EBUSY;

	if (!flags)
		mt_snap_take(mm, start, start + n * SZ_4K, &s);
	for (tries = 0; tries < MAX_TRIES; tries++) {
		memset(pfns, 0, n * sizeof(*pfns));
		r.notifier_seq = mmu_interval_read_begin(&d->sub);
		mmap_read_lock(mm);
		ret = hmm_range_fault(&r);
		mmap_read_unlock(mm);
		if (ret == -EBUSY) {
			busy++;
			continue;
		}
		if (ret)
			break;
		pthread_mutex_lock(&d->lock);
		if (!mmu_interval_read_retry(&d->sub, r.notifier_seq)) {
			pthread_mutex_unlock(&d->lock);
			break;
		}
		pthread_mutex_unlock(&d->lock);
	}
	if (ebusy)
		*ebusy = busy;
	if (!flags) {
		assert_snap_same(mm, start, start + n * SZ_4K, &s);
		mt_snap_free(&s);
	}
	return ret;
}

/*
 * Every entry of [start, start + n pages) VALID, with @order, the CPU's
 * frame and write bit; *@head (if not NULL) gets the frame the aligned
 * leaf would start at, for the caller's head + offset check.
 */
#define assert_out(mm, start, n, pfns, order) \
	assert_out_at((mm), (start), (n), (pfns), (order), __FILE__, __LINE__)
static void assert_out_at(struct mm_struct *mm, uint64_t start, uint64_t n, const uint64_t *pfns,
			  unsigned int order, const char *file, int line)
{
	static const unsigned int lorder[] = { 0, 9, 18 };
	struct mt_page pg;
	uint64_t i, va;

	for (i = 0; i < n; i++) {
		va = start + i * SZ_4K;
		if (!mt_lookup(mm, va, &pg) || !(pfns[i] & V) || (pfns[i] & HMM_PFN_ERROR) ||
		    hmm_pfn_to_pfn(pfns[i]) != pg.pfn || !!(pfns[i] & W) != pg.write ||
		    hmm_pfn_to_map_order(pfns[i]) != order || lorder[pg.level] != order) {
			print_error("page %#" PRIx64 ": entry %#" PRIx64 ", expected order %u; the "
				    "CPU maps pfn %#" PRIx64 " write %d level %u\n", va, pfns[i],
				    order, pg.pfn, pg.write, pg.level);
			_fail(file, line);
		}
	}
}

/* Frames head + offset from the aligned start of a leaf of @order. */
#define assert_head_offset(start, n, pfns, order) \
	assert_head_offset_at((start), (n), (pfns), (order), __FILE__, __LINE__)
static void assert_head_offset_at(uint64_t start, uint64_t n, const uint64_t *pfns,
				  unsigned int order, const char *file, int line)
{
	uint64_t span = UINT64_C(1) << order, i, off, head;

	off = (start >> MM_PAGE_SHIFT) & (span - 1);
	head = hmm_pfn_to_pfn(pfns[0]) - off;
	for (i = 0; i < n; i++) {
		off = ((start >> MM_PAGE_SHIFT) + i) & (span - 1);
		if (off == 0)
			head = hmm_pfn_to_pfn(pfns[i]);
		if ((head & (span - 1)) || hmm_pfn_to_pfn(pfns[i]) != head + off ||
		    (i && off && (pfns[i] & HMM_PFN_FLAGS) != (pfns[i - 1] & HMM_PFN_FLAGS))) {
			print_error("entry %" PRIu64 " is %#" PRIx64 ": not head %#" PRIx64
				    " + %" PRIu64 " of an aligned order-%u leaf, flags as the "
				    "previous\n", i, pfns[i], head, off, order);
			_fail(file, line);
		}
	}
}

static uint64_t pfns[NMAX];

/* ------------------------------------------------------------------------ */
/* Leaf kinds                                                               */
/* ------------------------------------------------------------------------ */

/*
 * PTE: 0. PMD THP: 9 on every page, head + offset, also for ranges that
 * start and end inside the leaf; a fault request on one page of an empty
 * THP-eligible 2M installs the THP (no -EBUSY). An mprotect of the whole
 * THP keeps the leaf (9, read-only). The huge zero PMD: 9, read-only; a
 * write request replaces it by a THP (6.13+: -EBUSY, then 9 writable).
 */
static void test_pmd_leaves(void **state)
{
	struct mm_struct *mm;
	struct mt_page pg;
	struct drv d;
	uint64_t a, p, z;
	unsigned int ebusy;

	(void)state;
	mt_setup(NULL);
	mm = mt_proc(NULL);
	drv_insert(&d, mm);
	p = mt_anon(mm, 8 * SZ_4K);
	mt_memset(mm, p, 0x10, 8 * SZ_4K);
	assert_ret(range_fault(&d, mm, p, 8, 0, pfns, NULL), 0);
	assert_out(mm, p, 8, pfns, 0);

	a = mt_anon_thp(mm, 2 * SZ_2M);
	mt_memset(mm, a, 0x11, SZ_2M);
	assert_codes(mm, a, SZ_2M, "512:Hxw");
	assert_ret(range_fault(&d, mm, a, 512, 0, pfns, NULL), 0);
	assert_out(mm, a, 512, pfns, 9);
	assert_head_offset(a, 512, pfns, 9);
	assert_true(pfns[0] & W);
	/* A range cut inside the leaf, on both sides. */
	assert_ret(range_fault(&d, mm, a + 100 * SZ_4K, 300, FAULT, pfns, &ebusy), 0);
	assert_int_equal(ebusy, 0);
	assert_out(mm, a + 100 * SZ_4K, 300, pfns, 9);
	assert_head_offset(a + 100 * SZ_4K, 300, pfns, 9);
	assert_int_equal(hmm_pfn_to_pfn(pfns[0]), mt_pfn(mm, a) + 100);

	/* A write asked on one page of the empty second 2M: a THP, whole. */
	assert_ret(range_fault(&d, mm, a + SZ_2M + 7 * SZ_4K, 1, WRITE, pfns, &ebusy), 0);
	assert_int_equal(ebusy, 0);
	assert_codes(mm, a + SZ_2M, SZ_2M, "512:Hxw");
	assert_out(mm, a + SZ_2M + 7 * SZ_4K, 1, pfns, 9);
	assert_ret(range_fault(&d, mm, a, 1024, 0, pfns, NULL), 0);
	assert_out(mm, a, 1024, pfns, 9);
	assert_head_offset(a, 1024, pfns, 9);

	/* mprotect of a whole THP changes the PMD in place. */
	assert_ret(mm_mprotect(mm, a, SZ_2M, MM_PROT_READ), 0);
	assert_ret(range_fault(&d, mm, a, 512, FAULT, pfns, NULL), 0);
	assert_out(mm, a, 512, pfns, 9);
	assert_false(pfns[0] & W);
	assert_head_offset(a, 512, pfns, 9);

	/* The huge zero PMD, by a read request. */
	z = mt_anon_thp(mm, SZ_2M);
	assert_ret(range_fault(&d, mm, z + SZ_4K, 2, FAULT, pfns, &ebusy), 0);
	assert_int_equal(ebusy, 0);
	assert_codes(mm, z, SZ_2M, "512:z..");
	assert_true(mt_lookup(mm, z, &pg));
	assert_true(pg.level == 1 && is_huge_zero_folio(pg.folio));
	assert_ret(range_fault(&d, mm, z, 512, 0, pfns, NULL), 0);
	assert_out(mm, z, 512, pfns, 9);
	assert_head_offset(z, 512, pfns, 9);
	assert_int_equal(pfns[0], V | ORDER(9) | folio_pfn(pg.folio));
	/* A write request: a THP instead (6.13+), the caller's interval invalidated. */
	assert_ret(range_fault(&d, mm, z + 3 * SZ_4K, 1, WRITE, pfns, &ebusy), 0);
	assert_int_equal(ebusy, 1);
	assert_codes(mm, z, SZ_2M, "512:Hxw");
	assert_ret(range_fault(&d, mm, z, 512, 0, pfns, NULL), 0);
	assert_out(mm, z, 512, pfns, 9);
	assert_head_offset(z, 512, pfns, 9);
	drv_remove(&d);
	assert_mm_ok();
	mt_teardown();
}

/*
 * hugetlb 2M (cpu-mm-spec §5): 9 on every page, head + offset, for a range
 * inside the page too; a fault request on a hole allocates the page. After
 * fork a write request copies the huge page (CLEAR: -EBUSY), 9 again.
 */
static void test_hugetlb_2m(void **state)
{
	struct mm_system_config cfg = { .hugetlb_2m = 4 };
	struct mm_struct *mm, *child;
	struct drv d;
	uint64_t h, old;
	unsigned int ebusy;

	(void)state;
	mt_setup(&cfg);
	mm = mt_proc(NULL);
	drv_insert(&d, mm);
	h = mt_hugetlb(mm, 2 * SZ_2M, 21);
	assert_ret(range_fault(&d, mm, h, 1024, 0, pfns, NULL), 0);
	assert_false(pfns[0] & V);
	assert_false(pfns[1023] & V);
	mt_memset(mm, h, 0x20, SZ_2M);
	assert_ret(range_fault(&d, mm, h, 512, 0, pfns, NULL), 0);
	assert_out(mm, h, 512, pfns, 9);
	assert_head_offset(h, 512, pfns, 9);
	/* The second huge page by a fault request on a page in its middle. */
	assert_ret(range_fault(&d, mm, h + SZ_2M + SZ_1M, 16, FAULT, pfns, &ebusy), 0);
	assert_int_equal(ebusy, 0);
	assert_out(mm, h + SZ_2M + SZ_1M, 16, pfns, 9);
	assert_head_offset(h + SZ_2M + SZ_1M, 16, pfns, 9);
	assert_ret(range_fault(&d, mm, h, 1024, FAULT, pfns, NULL), 0);
	assert_out(mm, h, 1024, pfns, 9);

	child = mt_fork(mm);
	old = mt_pfn(mm, h);
	assert_ret(range_fault(&d, mm, h, 512, 0, pfns, NULL), 0);
	assert_out(mm, h, 512, pfns, 9);
	assert_false(pfns[0] & W);
	assert_ret(range_fault(&d, mm, h + 5 * SZ_4K, 2, WRITE, pfns, &ebusy), 0);
	assert_true(ebusy >= 1);
	assert_ret(range_fault(&d, mm, h, 512, 0, pfns, NULL), 0);
	assert_out(mm, h, 512, pfns, 9);
	assert_head_offset(h, 512, pfns, 9);
	assert_true(pfns[0] & W);
	assert_int_not_equal(hmm_pfn_to_pfn(pfns[0]), old);
	assert_int_equal(mt_pfn(child, h), old);
	mt_expect(mm, h, 0x20, SZ_2M);
	mt_exit(child);
	drv_remove(&d);
	assert_mm_ok();
	mt_teardown();
}

/*
 * hugetlb 1G: a fault request on the hole installs the PUD leaf (one
 * -EFAULT-free pass over every page of it); 18 on every page, head +
 * offset; map_shift allows 1G on the whole range, 2M on a cut of it.
 * Metadata-only frames: no gigabyte to zero.
 */
static void test_hugetlb_1g(void **state)
{
	struct mm_system_config cfg = {
		.ram = 2 * SZ_1G + 64 * SZ_1M, .hugetlb_1g = 1, .metadata_only = true,
	};
	uint64_t n = SZ_1G / SZ_4K, *big;
	struct mm_struct *mm;
	struct drv d;
	uint64_t h;
	unsigned int ebusy;

	(void)state;
	mt_setup(&cfg);
	mm = mt_proc(NULL);
	drv_insert(&d, mm);
	big = calloc(n, sizeof(*big));
	assert_non_null(big);
	h = mt_hugetlb(mm, SZ_1G, 30);
	assert_ret(range_fault(&d, mm, h + SZ_2M, 4, FAULT, pfns, &ebusy), 0);
	assert_int_equal(ebusy, 0);
	assert_out(mm, h + SZ_2M, 4, pfns, 18);
	assert_ret(range_fault(&d, mm, h, n, 0, big, NULL), 0);
	assert_out(mm, h, n, big, 18);
	assert_head_offset(h, n, big, 18);
	assert_int_equal(hmm_range_map_shift(big, h, n, 0, SIZES), 30);
	assert_int_equal(hmm_range_map_shift(big, h, n, n - 1, SIZES), 30);
	assert_int_equal(hmm_range_map_shift(big, h, n, 12345, SZ_4K | SZ_2M), 21);
	assert_int_equal(hmm_range_infer_shift(mt_machine(), big, h, n, 777, SIZES), 30);
	/* A 4M cut from the middle: 2M at most, by both. */
	assert_int_equal(hmm_range_map_shift(big + 1024, h + SZ_4M, 1024, 5, SIZES), 21);
	assert_int_equal(hmm_range_infer_shift(mt_machine(), big + 1024, h + SZ_4M, 1024, 5,
					       SIZES), 21);
	free(big);
	drv_remove(&d);
	assert_mm_ok();
	mt_teardown();
}

/* ------------------------------------------------------------------------ */
/* Splits                                                                   */
/* ------------------------------------------------------------------------ */

/*
 * Order 0 on every page a split left PTE-mapped, the frames still the
 * folio's (head + offset), the flags per page: by a partial mprotect, a
 * partial munmap, a partial DONTNEED, a COW of one page after fork, then
 * the shrinker splitting the folios themselves; a THP left alone keeps 9.
 */
static void test_splits(void **state)
{
	struct mm_struct *mm, *mm2, *child;
	uint64_t a, f, head[4], i;
	unsigned int ebusy;
	struct drv d, d2;

	(void)state;
	mt_setup(NULL);
	mm = mt_proc(NULL);
	mm2 = mt_proc(NULL);
	drv_insert(&d, mm);
	drv_insert(&d2, mm2);
	a = mt_anon_thp(mm, 4 * SZ_2M);
	mt_memset(mm, a, 0x30, 4 * SZ_2M);
	assert_codes(mm, a, 4 * SZ_2M, "2048:Hxw");
	for (i = 0; i < 4; i++)
		head[i] = mt_pfn(mm, a + i * SZ_2M);

	/* THP 0: mprotect of page 10. */
	assert_ret(mm_mprotect(mm, a + 10 * SZ_4K, SZ_4K, MM_PROT_READ), 0);
	/* THP 1: munmap of its first page. */
	assert_ret(mm_munmap(mm, a + SZ_2M, SZ_4K), 0);
	/* THP 2: DONTNEED of pages 0..1. */
	assert_ret(mm_madvise(mm, a + 2 * SZ_2M, 2 * SZ_4K, MM_MADV_DONTNEED), 0);
	assert_mm_ok();
	assert_codes(mm, a, 4 * SZ_2M,
		     "10:Txw,1:Tx.,501:Txw,1:-..,511:Txw,2:-..,510:Txw,512:Hxw");

	assert_ret(range_fault(&d, mm, a, 2048, 0, pfns, NULL), 0);
	assert_out(mm, a, 512, pfns, 0);
	assert_false(pfns[10] & W);
	assert_true(pfns[11] & W);
	assert_int_equal(pfns[1], V | W | (head[0] + 1));
	assert_int_equal(pfns[10], V | (head[0] + 10));
	assert_int_equal(pfns[512], HMM_PFN_ERROR);
	assert_out(mm, a + SZ_2M + SZ_4K, 511, pfns + 513, 0);
	assert_int_equal(pfns[513], V | W | (head[1] + 1));
	assert_int_equal(pfns[1024], 0);
	assert_int_equal(pfns[1025], 0);
	assert_out(mm, a + 2 * SZ_2M + 2 * SZ_4K, 510, pfns + 1026, 0);
	assert_int_equal(pfns[1026], V | W | (head[2] + 2));
	assert_out(mm, a + 3 * SZ_2M, 512, pfns + 1536, 9);
	assert_head_offset(a + 3 * SZ_2M, 512, pfns + 1536, 9);
	/* A fault request does not put them back together. */
	assert_ret(range_fault(&d, mm, a + 2 * SZ_2M, 512, FAULT, pfns, &ebusy), 0);
	assert_out(mm, a + 2 * SZ_2M, 512, pfns, 0);

	/* The shrinker splits the partially unmapped folios: same frames, order 0. */
	assert_true(mm_system_shrink(mt.sys) >= 1);
	assert_mm_ok();
	assert_ret(range_fault(&d, mm, a + SZ_2M + SZ_4K, 511, 0, pfns, NULL), 0);
	assert_out(mm, a + SZ_2M + SZ_4K, 511, pfns, 0);
	assert_int_equal(pfns[0], V | W | (head[1] + 1));

	/* COW of one page after fork, in a process of its own. */
	f = mt_anon_thp(mm2, SZ_2M);
	mt_memset(mm2, f, 0x31, SZ_2M);
	head[0] = mt_pfn(mm2, f);
	child = mt_fork(mm2);
	assert_ret(range_fault(&d2, mm2, f, 512, 0, pfns, NULL), 0);
	assert_out(mm2, f, 512, pfns, 9);
	assert_false(pfns[0] & W);
	mt_memset(mm2, f + 5 * SZ_4K, 0x32, SZ_4K);
	assert_codes(mm2, f, SZ_2M, "5:T..,1:pxw,506:T..");
	assert_ret(range_fault(&d2, mm2, f, 512, 0, pfns, NULL), 0);
	assert_out(mm2, f, 512, pfns, 0);
	for (i = 0; i < 512; i++)
		if (i != 5)
			assert_int_equal(pfns[i], V | (head[0] + i));
	assert_int_not_equal(hmm_pfn_to_pfn(pfns[5]), head[0] + 5);
	assert_true(pfns[5] & W);
	/* The child's PMD is whole (page 5 mapped by it alone now). */
	assert_codes(child, f, SZ_2M, "5:H..,1:Hx.,506:H..");
	mt_exit(child);
	drv_remove(&d);
	drv_remove(&d2);
	assert_mm_ok();
	mt_teardown();
}

/*
 * More splits, each leaving the rest of the folio PTE-mapped (order 0) or
 * not (9): mremap to a place 2M-aligned (the PMD moves: 9) and not (split:
 * 0, same frames); MADV_FREE of part of a THP; MADV_NOHUGEPAGE of part
 * of one (a VMA edge inside the leaf); make_device_exclusive of one page.
 */
static void test_splits_more(void **state)
{
	struct mm_struct *mm;
	struct folio *f;
	uint64_t a, n, m, t, head[2], i;
	struct drv d;

	(void)state;
	mt_setup(NULL);
	mm = mt_proc(NULL);
	drv_insert(&d, mm);

	a = mt_anon_thp(mm, 2 * SZ_2M);
	mt_memset(mm, a, 0x50, 2 * SZ_2M);
	head[0] = mt_pfn(mm, a);
	head[1] = mt_pfn(mm, a + SZ_2M);
	assert_ret(mm_mremap(mm, a, 2 * SZ_2M, 0, 0, SZ_2M, 0, &n), 0);
	assert_mm_ok();
	assert_ret(range_fault(&d, mm, n, 1024, 0, pfns, NULL), 0);
	assert_out(mm, n, 1024, pfns, 9);
	assert_int_equal(pfns[0], V | W | ORDER(9) | head[0]);
	assert_int_equal(pfns[1023], V | W | ORDER(9) | (head[1] + 511));
	assert_ret(mm_mremap(mm, n, 2 * SZ_2M, 0, 0, SZ_2M, 16 * SZ_4K, &m), 0);
	assert_mm_ok();
	assert_ret(range_fault(&d, mm, m, 1024, 0, pfns, NULL), 0);
	assert_out(mm, m, 1024, pfns, 0);
	for (i = 0; i < 1024; i++)
		assert_int_equal(pfns[i], V | W | (head[i / 512] + i % 512));

	/* MADV_FREE of 8 pages in the middle of a THP. */
	t = mt_anon_thp(mm, 3 * SZ_2M);
	mt_memset(mm, t, 0x51, 3 * SZ_2M);
	assert_ret(mm_madvise(mm, t + 100 * SZ_4K, 8 * SZ_4K, MM_MADV_FREE), 0);
	assert_mm_ok();
	assert_ret(range_fault(&d, mm, t, 512, 0, pfns, NULL), 0);
	for (i = 0; i < 512; i++)
		if (pfns[i] & V)
			assert_int_equal(hmm_pfn_to_map_order(pfns[i]), 0);
	assert_out(mm, t, 100, pfns, 0);

	/* MADV_NOHUGEPAGE of the second half of the second THP. */
	assert_ret(mm_madvise(mm, t + SZ_2M + SZ_1M, SZ_1M, MM_MADV_NOHUGEPAGE), 0);
	assert_mm_ok();
	assert_ret(range_fault(&d, mm, t + SZ_2M, 512, FAULT, pfns, NULL), 0);
	assert_out(mm, t + SZ_2M, 512, pfns, 0);

	/* make_device_exclusive of page 3 of the third: the others PTE-mapped, 0. */
	mmap_read_lock(mm);
	assert_ret(make_device_exclusive(mm, t + 2 * SZ_2M + 3 * SZ_4K, NULL, &f), 0);
	mmap_read_unlock(mm);
	folio_unlock(f);
	folio_put(f);
	assert_mm_ok();
	assert_ret(range_fault(&d, mm, t + 2 * SZ_2M, 512, 0, pfns, NULL), 0);
	assert_int_equal(pfns[3], 0);
	assert_out(mm, t + 2 * SZ_2M, 3, pfns, 0);
	assert_out(mm, t + 2 * SZ_2M + 4 * SZ_4K, 508, pfns + 4, 0);
	drv_remove(&d);
	assert_mm_ok();
	mt_teardown();
}

/*
 * A write request on the huge zero PMD before 6.13 (cpu-mm-spec §3.2, §9.2):
 * the PMD is split into zero PTEs and every page of the span COWed: order 0
 * pages, each its own frame, writable.
 */
static void test_huge_zero_split(void **state)
{
	struct mm_struct *mm;
	struct drv d;
	uint64_t z;
	unsigned int ebusy;

	(void)state;
	mt_setup(NULL);
	mm = mt_proc(mt_profile("6.12"));
	drv_insert(&d, mm);
	z = mt_anon_thp(mm, SZ_2M);
	mt_touch(mm, z);
	assert_codes(mm, z, SZ_2M, "512:z..");
	assert_ret(range_fault(&d, mm, z, 512, 0, pfns, NULL), 0);
	assert_out(mm, z, 512, pfns, 9);
	assert_ret(range_fault(&d, mm, z, 512, WRITE, pfns, &ebusy), 0);
	assert_true(ebusy >= 1);
	assert_codes(mm, z, SZ_2M, "512:pxw");
	assert_out(mm, z, 512, pfns, 0);
	mt_expect(mm, z, 0, SZ_2M);
	drv_remove(&d);
	assert_mm_ok();
	mt_teardown();
}

/*
 * The two on real outputs: THP and hugetlb agree (2M); a PTE-mapped THP
 * whose pages are all present and writable again gives 4K by the map
 * order and 2M by inference (the over-grant seed 000 is about); with one
 * read-only page, inference still grants 64K blocks around it; after the
 * shrinker split the folio, inference gives 4K too.
 */
static void test_shift_real(void **state)
{
	struct mm_system_config cfg = { .hugetlb_2m = 2 };
	struct phys_machine *m;
	struct mm_struct *mm;
	struct drv d;
	uint64_t a, h, i;

	(void)state;
	mt_setup(&cfg);
	m = mt_machine();
	mm = mt_proc(NULL);
	drv_insert(&d, mm);
	a = mt_anon_thp(mm, 2 * SZ_2M);
	h = mt_hugetlb(mm, SZ_2M, 21);
	mt_memset(mm, a, 0x40, 2 * SZ_2M);
	mt_memset(mm, h, 0x41, SZ_2M);

	assert_ret(range_fault(&d, mm, a, 1024, 0, pfns, NULL), 0);
	for (i = 0; i < 1024; i += 73) {
		assert_int_equal(hmm_range_map_shift(pfns, a, 1024, i, SIZES), 21);
		assert_int_equal(hmm_range_infer_shift(m, pfns, a, 1024, i, SIZES), 21);
	}
	assert_ret(range_fault(&d, mm, h, 512, 0, pfns, NULL), 0);
	assert_int_equal(hmm_range_map_shift(pfns, h, 512, 17, SIZES), 21);
	assert_int_equal(hmm_range_infer_shift(m, pfns, h, 512, 17, SIZES), 21);

	/* PTE-mapped by an mprotect of one page; writable again. */
	assert_ret(mm_mprotect(mm, a + 10 * SZ_4K, SZ_4K, MM_PROT_READ), 0);
	assert_ret(range_fault(&d, mm, a, 512, 0, pfns, NULL), 0);
	assert_out(mm, a, 512, pfns, 0);
	assert_int_equal(hmm_range_map_shift(pfns, a, 512, 0, SIZES), 12);
	assert_int_equal(hmm_range_infer_shift(m, pfns, a, 512, 0, SIZES), 12);
	assert_int_equal(hmm_range_infer_shift(m, pfns, a, 512, 40, SIZES), 16);
	assert_ret(mm_mprotect(mm, a + 10 * SZ_4K, SZ_4K, RW), 0);
	assert_ret(range_fault(&d, mm, a, 512, FAULT | HMM_PFN_REQ_WRITE, pfns, NULL), 0);
	assert_codes(mm, a, SZ_2M, "512:Txw");
	assert_out(mm, a, 512, pfns, 0);
	for (i = 0; i < 512; i += 31) {
		assert_int_equal(hmm_range_map_shift(pfns, a, 512, i, SIZES), 12);
		assert_int_equal(hmm_range_infer_shift(m, pfns, a, 512, i, SIZES), 21);
	}

	/* The second THP loses a page to munmap; the shrinker splits the folio. */
	assert_ret(mm_munmap(mm, a + 2 * SZ_2M - SZ_4K, SZ_4K), 0);
	assert_ret(range_fault(&d, mm, a + SZ_2M, 511, 0, pfns, NULL), 0);
	assert_int_equal(hmm_range_infer_shift(m, pfns, a + SZ_2M, 511, 0, SIZES), 16);
	assert_true(mm_system_shrink(mt.sys) >= 1);
	assert_ret(range_fault(&d, mm, a + SZ_2M, 511, 0, pfns, NULL), 0);
	assert_out(mm, a + SZ_2M, 511, pfns, 0);
	assert_int_equal(hmm_range_infer_shift(m, pfns, a + SZ_2M, 511, 0, SIZES), 12);
	assert_int_equal(hmm_range_map_shift(pfns, a + SZ_2M, 511, 0, SIZES), 12);
	drv_remove(&d);
	assert_mm_ok();
	mt_teardown();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pmd_leaves),
		cmocka_unit_test(test_hugetlb_2m),
		cmocka_unit_test(test_hugetlb_1g),
		cmocka_unit_test(test_splits),
		cmocka_unit_test(test_splits_more),
		cmocka_unit_test(test_huge_zero_split),
		cmocka_unit_test(test_shift_real),
	};
	int ret;

	hmmsim_thread_register();
	ret = cmocka_run_group_tests_name("hmm_range_order", tests, NULL, NULL);
	hmmsim_thread_unregister();
	return ret;
}
