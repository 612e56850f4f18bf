// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * mm_ops: munmap, mprotect, madvise and mremap of subranges at 4 KiB, THP and
 * hugetlb sizes (cpu-mm-spec §3.3, §3.4, §5, §9.5 to §9.8): VMA splits, PMD
 * splits at unaligned edges with the folio kept compound and a deferred
 * split, hugetlb's refusal of unaligned partial operations, data across
 * mremap; and bad input, which must change nothing.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "mm_test.h"

#define RW	(MM_PROT_READ | MM_PROT_WRITE)
#define ANON	(MM_MAP_PRIVATE | MM_MAP_ANONYMOUS)
#define ALL	(UINT64_MAX & ~(SZ_4K - 1))

static uint64_t min64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static uint64_t max64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

static void assert_vma(struct mm_struct *mm, uint64_t va, uint64_t start, uint64_t end)
{
	struct vm_area_struct *v;

	mmap_read_lock(mm);
	v = vma_lookup(mm, va);
	if (!v || vma_start(v) != start || vma_end(v) != end) {
		print_error("VMA at %#" PRIx64 ": [%#" PRIx64 ", %#" PRIx64 "), expected [%#" PRIx64
			    ", %#" PRIx64 ")\n", va, v ? vma_start(v) : 0, v ? vma_end(v) : 0,
			    start, end);
		mmap_read_unlock(mm);
		fail();
	}
	mmap_read_unlock(mm);
}

static void assert_no_vma(struct mm_struct *mm, uint64_t va)
{
	struct vm_area_struct *v;

	mmap_read_lock(mm);
	v = vma_lookup(mm, va);
	mmap_read_unlock(mm);
	assert_null(v);
}

/* A PTE-mapped THP left partly mapped: compound, queued for deferred split. */
static void assert_deferred(struct folio *f)
{
	assert_int_equal(folio_order(f), 9);
	assert_int_equal(folio_entire_mapcount(f), 0);
	assert_true(folio_flags(f) & FOLIO_DEFERRED_SPLIT);
}

/* ---------------------------------------------------------------------- */
/* munmap                                                                  */
/* ---------------------------------------------------------------------- */

static void test_munmap_4k(void **state)
{
	struct mm_struct *mm;
	struct mt_snap snap;
	uint64_t a, live;
	char b;

	(void)state;
	mt_setup(NULL);
	mm = mt_proc(NULL);
	a = mt_anon(mm, SZ_64K);
	mt_memset(mm, a, 0x11, SZ_64K);
	live = mt_live_frames();
	assert_int_equal(mm_munmap(mm, a + 4 * SZ_4K, 4 * SZ_4K), 0);
	assert_mm_ok();
	assert_codes(mm, a, SZ_64K, "4:pxw,4:-..,8:pxw");
	assert_vma(mm, a, a, a + SZ_16K);
	assert_vma(mm, a + 8 * SZ_4K, a + 8 * SZ_4K, a + SZ_64K);
	assert_no_vma(mm, a + 5 * SZ_4K);
	assert_int_equal(mt_stats(mm).vmas, 2);
	assert_int_equal(mt_stats(mm).rss_anon, 12);
	assert_int_equal(mt_live_frames(), live - 4);
	assert_int_equal(mm_read(mm, a + 4 * SZ_4K, &b, 1), -EFAULT);
	mt_expect(mm, a, 0x11, SZ_16K);
	mt_expect(mm, a + 8 * SZ_4K, 0x11, 8 * SZ_4K);

	/* Across both VMAs and the hole. */
	assert_int_equal(mm_munmap(mm, a + 2 * SZ_4K, 8 * SZ_4K), 0);
	assert_mm_ok();
	assert_codes(mm, a, SZ_64K, "2:pxw,8:-..,6:pxw");
	assert_vma(mm, a, a, a + SZ_8K);
	assert_vma(mm, a + 10 * SZ_4K, a + 10 * SZ_4K, a + SZ_64K);
	assert_int_equal(mt_live_frames(), live - 8);

	/* Only a hole: fine, nothing changes. */
	mt_snap_take(mm, a, a + SZ_64K, &snap);
	assert_int_equal(mm_munmap(mm, a + 3 * SZ_4K, 4 * SZ_4K), 0);
	assert_snap_same(mm, a, a + SZ_64K, &snap);
	mt_snap_free(&snap);

	assert_int_equal(mm_munmap(mm, a, SZ_64K), 0);
	assert_mm_ok();
	assert_int_equal(mt_stats(mm).vmas, 0);
	assert_int_equal(mt_stats(mm).rss_anon, 0);
	assert_int_equal(mt_live_frames(), live - 16);
	mt_teardown();
}

static void test_munmap_thp(void **state)
{
	struct mm_struct *mm;
	struct mm_stats st;
	struct folio *f0, *f1, *g0, *g1;
	uint64_t a, b, c, live, f1_pfn;

	(void)state;
	mt_setup(NULL);
	mm = mt_proc(NULL);
	a = mt_anon_thp(mm, SZ_4M);
	mt_memset(mm, a, 0x22, SZ_4M);
	assert_codes(mm, a, SZ_4M, "1024:Hxw");
	f0 = mt_folio(mm, a, NULL);
	f1 = mt_folio(mm, a + SZ_2M, NULL);
	f1_pfn = folio_pfn(f1);
	live = mt_live_frames();
	st = mt_stats(mm);

	/* A whole block: the PMD goes, no split, the folio is freed. */
	assert_int_equal(mm_munmap(mm, a + SZ_2M, SZ_2M), 0);
	assert_mm_ok();
	assert_codes(mm, a, SZ_4M, "512:Hxw,512:-..");
	assert_int_equal(mt_live_frames(), live - 512);
	assert_int_equal(mt_stats(mm).thp_split_pmd, st.thp_split_pmd);
	assert_int_equal(mt_stats(mm).deferred_split, st.deferred_split);
	assert_int_equal(mt_stats(mm).rss_anon, st.rss_anon - 512);
	assert_vma(mm, a, a, a + SZ_2M);
	assert_null(phys_pfn_to_folio(mt_machine(), f1_pfn));

	/* Two pages inside: PMD split, the folio stays compound and waits (§3.3). */
	assert_int_equal(mm_munmap(mm, a + 5 * SZ_4K, 2 * SZ_4K), 0);
	assert_mm_ok();
	assert_codes(mm, a, SZ_2M, "5:Txw,2:-..,505:Txw");
	assert_int_equal(mt_pfn(mm, a), folio_pfn(f0));
	assert_int_equal(mt_pfn(mm, a + 7 * SZ_4K), folio_pfn(f0) + 7);
	assert_folio(f0, 510, 510, 0, 5, 0, -1);
	assert_int_equal(folio_page_pte_mapcount(f0, 4), 1);
	/* Exclusivity copied from the head to every page. */
	assert_true(folio_page_anon_exclusive(f0, 4));
	assert_true(folio_page_anon_exclusive(f0, 300));
	assert_deferred(f0);
	assert_int_equal(mt_live_frames(), live - 512);
	assert_int_equal(mt_stats(mm).thp_split_pmd, st.thp_split_pmd + 1);
	assert_int_equal(mt_stats(mm).deferred_split, st.deferred_split + 1);
	assert_int_equal(mt_stats(mm).rss_anon, st.rss_anon - 514);
	assert_vma(mm, a, a, a + 5 * SZ_4K);
	assert_vma(mm, a + 7 * SZ_4K, a + 7 * SZ_4K, a + SZ_2M);
	mt_expect(mm, a, 0x22, 5 * SZ_4K);
	mt_expect(mm, a + 7 * SZ_4K, 0x22, SZ_2M - 7 * SZ_4K);
	/* Still writable in place: no copy. */
	mt_memset(mm, a + 8 * SZ_4K, 0x23, 1);
	assert_int_equal(mt_pfn(mm, a + 8 * SZ_4K), folio_pfn(f0) + 8);

	/* Straddling two PMDs: both split, both deferred. */
	b = mt_anon_thp(mm, SZ_4M);
	mt_memset(mm, b, 0x33, SZ_4M);
	g0 = mt_folio(mm, b, NULL);
	g1 = mt_folio(mm, b + SZ_2M, NULL);
	st = mt_stats(mm);
	assert_int_equal(mm_munmap(mm, b + SZ_2M - SZ_8K, SZ_16K), 0);
	assert_mm_ok();
	assert_codes(mm, b, SZ_4M, "510:Txw,4:-..,510:Txw");
	assert_folio(g0, 510, 510, 0, 0, 1, 1);
	assert_folio(g1, 510, 510, 0, 511, 1, 1);
	assert_deferred(g0);
	assert_deferred(g1);
	assert_int_equal(mt_stats(mm).thp_split_pmd, st.thp_split_pmd + 2);
	assert_int_equal(mt_stats(mm).deferred_split, st.deferred_split + 2);
	mt_expect(mm, b, 0x33, SZ_2M - SZ_8K);
	mt_expect(mm, b + SZ_2M + SZ_8K, 0x33, SZ_2M - SZ_8K);

	/* The first page of a block. */
	c = mt_anon_thp(mm, SZ_2M);
	mt_memset(mm, c, 0x44, SZ_2M);
	assert_int_equal(mm_munmap(mm, c, SZ_4K), 0);
	assert_mm_ok();
	assert_codes(mm, c, SZ_2M, "1:-..,511:Txw");
	assert_deferred(mt_folio(mm, c + SZ_4K, NULL));
	assert_vma(mm, c + SZ_4K, c + SZ_4K, c + SZ_2M);

	/* Unmapping the rest frees the folio. */
	live = mt_live_frames();
	assert_int_equal(mm_munmap(mm, c + SZ_4K, SZ_2M - SZ_4K), 0);
	assert_mm_ok();
	assert_int_equal(mt_live_frames(), live - 512);
	mt_teardown();
}

static void test_munmap_hugetlb(void **state)
{
	struct mm_system_config cfg = { .hugetlb_2m = 4 };
	struct mm_struct *mm;
	struct mt_snap snap;
	uint64_t h;

	(void)state;
	mt_setup(&cfg);
	mm = mt_proc(NULL);
	h = mt_hugetlb(mm, SZ_4M, 21);
	mt_memset(mm, h, 0x55, SZ_4M);
	assert_int_equal(mt_hugetlb_free(0), 2);
	mt_snap_take(mm, h, h + SZ_4M, &snap);
	assert_int_equal(mm_munmap(mm, h, SZ_4K), -EINVAL);
	assert_int_equal(mm_munmap(mm, h + SZ_4K, SZ_2M), -EINVAL);
	assert_int_equal(mm_munmap(mm, h + SZ_1M, SZ_2M), -EINVAL);
	assert_int_equal(mm_munmap(mm, h + SZ_2M - SZ_4K, SZ_8K), -EINVAL);
	assert_snap_same(mm, h, h + SZ_4M, &snap);
	mt_snap_free(&snap);
	assert_int_equal(mm_munmap(mm, h + SZ_2M, SZ_2M), 0);
	assert_mm_ok();
	assert_codes(mm, h, SZ_4M, "512:Hxw,512:-..");
	assert_vma(mm, h, h, h + SZ_2M);
	assert_int_equal(mt_hugetlb_free(0), 3);
	mt_expect(mm, h, 0x55, SZ_2M);
	mt_teardown();
}

/* ---------------------------------------------------------------------- */
/* mprotect                                                                */
/* ---------------------------------------------------------------------- */

static void test_mprotect_4k(void **state)
{
	struct mt_vma v[4];
	struct mm_struct *mm;
	uint64_t a, pfn;
	struct mm_stats st;
	char b = 0;

	(void)state;
	mt_setup(NULL);
	mm = mt_proc(NULL);
	a = mt_anon(mm, SZ_64K);
	mt_memset(mm, a, 0x12, SZ_64K);
	pfn = mt_pfn(mm, a + SZ_8K);
	assert_int_equal(mm_mprotect(mm, a + SZ_8K, SZ_8K, MM_PROT_READ), 0);
	assert_mm_ok();
	assert_codes(mm, a, SZ_64K, "2:pxw,2:px.,12:pxw");
	assert_int_equal(mt_vmas(mm, a, a + SZ_64K, v, 4), 3);
	assert_int_equal(v[0].end, a + SZ_8K);
	assert_int_equal(v[1].start, a + SZ_8K);
	assert_int_equal(v[1].end, a + SZ_16K);
	assert_true(v[1].flags & VM_READ);
	assert_false(v[1].flags & VM_WRITE);
	assert_true(v[2].flags & VM_WRITE);
	assert_int_equal(mm_write(mm, a + SZ_8K, &b, 1), -EFAULT);
	assert_mm_ok();
	mt_expect(mm, a, 0x12, SZ_64K);

	/* Back to read-write: the page is written in place (exclusive: no copy). */
	assert_int_equal(mm_mprotect(mm, a + SZ_8K, SZ_8K, RW), 0);
	assert_mm_ok();
	st = mt_stats(mm);
	mt_memset(mm, a + SZ_8K, 0x13, 1);
	assert_int_equal(mt_pfn(mm, a + SZ_8K), pfn);
	assert_int_equal(mt_stats(mm).cow_copy, st.cow_copy);
	assert_int_equal(mt_stats(mm).notifications, st.notifications);
	assert_codes(mm, a, SZ_64K, "2:pxw,1:pxw,13:pxw");

	/* PROT_NONE: no access, data kept. */
	assert_int_equal(mm_mprotect(mm, a, SZ_4K, MM_PROT_NONE), 0);
	assert_mm_ok();
	assert_int_equal(mm_read(mm, a, &b, 1), -EFAULT);
	assert_int_equal(mm_write(mm, a, &b, 1), -EFAULT);
	assert_mm_ok();
	assert_int_equal(mm_mprotect(mm, a, SZ_4K, MM_PROT_READ), 0);
	assert_mm_ok();
	mt_expect(mm, a, 0x12, SZ_4K);
	mt_teardown();
}

static void test_mprotect_thp(void **state)
{
	struct mm_struct *mm;
	struct mm_stats st;
	struct folio *f1;
	uint64_t t;
	char b = 0;

	(void)state;
	mt_setup(NULL);
	mm = mt_proc(NULL);
	t = mt_anon_thp(mm, SZ_4M);
	mt_memset(mm, t, 0x21, SZ_4M);
	f1 = mt_folio(mm, t + SZ_2M, NULL);
	st = mt_stats(mm);

	/* A whole block: the PMD is rewritten in place. */
	assert_int_equal(mm_mprotect(mm, t, SZ_2M, MM_PROT_READ), 0);
	assert_mm_ok();
	assert_codes(mm, t, SZ_4M, "512:Hx.,512:Hxw");
	assert_int_equal(mt_stats(mm).thp_split_pmd, st.thp_split_pmd);
	assert_int_equal(mm_write(mm, t + 5, &b, 1), -EFAULT);
	assert_mm_ok();

	/* A sub-range: VMA split, PMD split at both edges of the range (one block). */
	assert_int_equal(mm_mprotect(mm, t + SZ_2M + 3 * SZ_4K, 2 * SZ_4K, MM_PROT_READ), 0);
	assert_mm_ok();
	assert_codes(mm, t, SZ_4M, "512:Hx.,3:Txw,2:Tx.,507:Txw");
	assert_int_equal(mt_pfn(mm, t + SZ_2M), folio_pfn(f1));
	assert_int_equal(mt_pfn(mm, t + SZ_2M + 4 * SZ_4K), folio_pfn(f1) + 4);
	assert_folio(f1, 512, 512, 0, 4, 1, 1);
	assert_int_equal(folio_order(f1), 9);
	/* Everything still mapped: no deferred split. */
	assert_false(folio_flags(f1) & FOLIO_DEFERRED_SPLIT);
	assert_int_equal(mt_stats(mm).deferred_split, st.deferred_split);
	assert_int_equal(mt_stats(mm).thp_split_pmd, st.thp_split_pmd + 1);
	assert_int_equal(mt_stats(mm).vmas, st.vmas + 3);
	assert_vma(mm, t + SZ_2M + 3 * SZ_4K, t + SZ_2M + 3 * SZ_4K, t + SZ_2M + 5 * SZ_4K);
	assert_int_equal(mm_write(mm, t + SZ_2M + 4 * SZ_4K, &b, 1), -EFAULT);
	assert_mm_ok();
	mt_memset(mm, t + SZ_2M + 5 * SZ_4K, 0x22, 1);
	assert_int_equal(mt_pfn(mm, t + SZ_2M + 5 * SZ_4K), folio_pfn(f1) + 5);
	mt_expect(mm, t, 0x21, SZ_2M + 5 * SZ_4K);
	mt_teardown();
}

static void test_mprotect_hugetlb(void **state)
{
	struct mm_system_config cfg = { .hugetlb_2m = 2 };
	struct mm_struct *mm;
	struct mt_snap snap;
	uint64_t h;
	char b = 0;

	(void)state;
	mt_setup(&cfg);
	mm = mt_proc(NULL);
	h = mt_hugetlb(mm, SZ_4M, 21);
	mt_memset(mm, h, 0x31, SZ_4M);
	mt_snap_take(mm, h, h + SZ_4M, &snap);
	assert_int_equal(mm_mprotect(mm, h + SZ_4K, SZ_2M, MM_PROT_READ), -EINVAL);
	assert_int_equal(mm_mprotect(mm, h, SZ_1M, MM_PROT_READ), -EINVAL);
	assert_snap_same(mm, h, h + SZ_4M, &snap);
	mt_snap_free(&snap);
	assert_int_equal(mm_mprotect(mm, h + SZ_2M, SZ_2M, MM_PROT_READ), 0);
	assert_mm_ok();
	assert_codes(mm, h, SZ_4M, "512:Hxw,512:Hx.");
	assert_vma(mm, h + SZ_2M, h + SZ_2M, h + SZ_4M);
	assert_int_equal(mm_write(mm, h + SZ_2M, &b, 1), -EFAULT);
	assert_mm_ok();
	mt_expect(mm, h, 0x31, SZ_4M);
	mt_teardown();
}

/* ---------------------------------------------------------------------- */
/* madvise                                                                 */
/* ---------------------------------------------------------------------- */

static void test_dontneed(void **state)
{
	struct mm_struct *mm;
	struct mm_stats st;
	struct folio *f0;
	uint64_t a, t, live;
	struct mt_page pg;

	(void)state;
	mt_setup(NULL);
	mm = mt_proc(NULL);
	a = mt_anon(mm, SZ_64K);
	mt_memset(mm, a, 0x33, SZ_64K);
	live = mt_live_frames();
	assert_int_equal(mm_madvise(mm, a + SZ_8K, SZ_8K, MM_MADV_DONTNEED), 0);
	assert_mm_ok();
	assert_codes(mm, a, SZ_64K, "2:pxw,2:-..,12:pxw");
	assert_int_equal(mt_stats(mm).vmas, 1);
	assert_int_equal(mt_live_frames(), live - 2);
	mt_expect(mm, a + SZ_8K, 0, SZ_8K);
	assert_codes(mm, a, SZ_64K, "2:pxw,2:z..,12:pxw");
	mt_expect(mm, a, 0x33, SZ_8K);
	mt_expect(mm, a + SZ_16K, 0x33, SZ_64K - SZ_16K);

	t = mt_anon_thp(mm, SZ_4M);
	mt_memset(mm, t, 0x44, SZ_4M);
	f0 = mt_folio(mm, t, NULL);
	live = mt_live_frames();
	st = mt_stats(mm);
	/* A whole block: zapped, no split. */
	assert_int_equal(mm_madvise(mm, t + SZ_2M, SZ_2M, MM_MADV_DONTNEED), 0);
	assert_mm_ok();
	assert_codes(mm, t, SZ_4M, "512:Hxw,512:-..");
	assert_int_equal(mt_live_frames(), live - 512);
	assert_int_equal(mt_stats(mm).thp_split_pmd, st.thp_split_pmd);
	/* A sub-range: PMD split (no VMA split), deferred split. */
	assert_int_equal(mm_madvise(mm, t + 5 * SZ_4K, 2 * SZ_4K, MM_MADV_DONTNEED), 0);
	assert_mm_ok();
	assert_codes(mm, t, SZ_4M, "5:Txw,2:-..,505:Txw,512:-..");
	assert_int_equal(mt_stats(mm).vmas, st.vmas);
	assert_int_equal(mt_stats(mm).thp_split_pmd, st.thp_split_pmd + 1);
	assert_int_equal(mt_stats(mm).deferred_split, st.deferred_split + 1);
	assert_folio(f0, 510, 510, 0, 5, 0, -1);
	assert_deferred(f0);
	/* The hole reads as zeros through the 4 KiB zero page (a page table exists). */
	mt_expect(mm, t + 5 * SZ_4K, 0, SZ_4K);
	assert_true(mt_lookup(mm, t + 5 * SZ_4K, &pg));
	assert_int_equal(pg.level, 0);
	assert_int_equal(pg.pfn, folio_pfn(phys_zero_folio(mt_pool())));
	/* A write there gets a small page, never a THP. */
	mt_memset(mm, t + 6 * SZ_4K, 0x45, 1);
	assert_codes(mm, t, SZ_2M, "5:Txw,1:z..,1:pxw,505:Txw");
	mt_expect(mm, t, 0x44, 5 * SZ_4K);
	mt_expect(mm, t + 7 * SZ_4K, 0x44, SZ_2M - 7 * SZ_4K);
	/* The empty block refaults a fresh zeroed THP. */
	mt_memset(mm, t + SZ_2M + 1, 0x46, 1);
	assert_codes(mm, t + SZ_2M, SZ_2M, "512:Hxw");
	mt_expect(mm, t + SZ_2M, 0, 1);
	mt_expect(mm, t + SZ_2M + 2, 0, SZ_2M - 2);
	mt_teardown();
}

/*
 * MADV_DONTNEED of hugetlb (5.18+): from a huge-page-aligned start, the end
 * rounded down (6.1+), so a huge page covered in part is kept. MADV_FREE
 * refuses hugetlb (hugetlb-madv-free), and before 5.18 so did DONTNEED.
 */
static void test_dontneed_hugetlb(void **state)
{
	struct mm_system_config cfg = { .hugetlb_2m = 3 };
	struct mm_struct *mm, *old;
	struct mt_snap snap;
	uint64_t h, o;

	(void)state;
	mt_setup(&cfg);
	mm = mt_proc(NULL);
	h = mt_hugetlb(mm, SZ_4M, 21);
	mt_memset(mm, h, 0x51, SZ_4M);
	assert_int_equal(mt_hugetlb_free(0), 1);
	mt_snap_take(mm, h, h + SZ_4M, &snap);
	assert_int_equal(mm_madvise(mm, h + SZ_4K, SZ_4K, MM_MADV_DONTNEED), -EINVAL);
	assert_int_equal(mm_madvise(mm, h + SZ_1M, SZ_2M, MM_MADV_DONTNEED), -EINVAL);
	assert_int_equal(mm_madvise(mm, h, SZ_4M, MM_MADV_FREE), -EINVAL);
	assert_int_equal(mm_madvise(mm, h + SZ_2M, SZ_4K, MM_MADV_FREE), -EINVAL);
	/* Less than a huge page from an aligned start: nothing to do, nobody told. */
	assert_int_equal(mm_madvise(mm, h + SZ_2M, SZ_1M, MM_MADV_DONTNEED), 0);
	assert_snap_same(mm, h, h + SZ_4M, &snap);
	mt_snap_free(&snap);
	assert_int_equal(mm_madvise(mm, h, SZ_2M + SZ_1M, MM_MADV_DONTNEED), 0);
	assert_mm_ok();
	assert_codes(mm, h, SZ_4M, "512:-..,512:Hxw");
	assert_int_equal(mt_hugetlb_free(0), 2);
	assert_int_equal(mt_stats(mm).vmas, 1);
	/* Refault: a fresh zeroed huge page. */
	mt_expect(mm, h, 0, SZ_2M);
	mt_expect(mm, h + SZ_2M, 0x51, SZ_2M);
	assert_int_equal(mt_hugetlb_free(0), 1);

	/* Before 5.18, neither advice takes hugetlb. */
	old = mt_proc(mm_profile_find("5.8"));
	o = mt_hugetlb(old, SZ_2M, 21);
	mt_memset(old, o, 0x52, SZ_2M);
	mt_snap_take(old, o, o + SZ_2M, &snap);
	assert_int_equal(mm_madvise(old, o, SZ_2M, MM_MADV_DONTNEED), -EINVAL);
	assert_int_equal(mm_madvise(old, o, SZ_2M, MM_MADV_FREE), -EINVAL);
	assert_snap_same(old, o, o + SZ_2M, &snap);
	mt_snap_free(&snap);
	mt_expect(old, o, 0x52, SZ_2M);
	mt_teardown();
}

/*
 * A PROT_NONE huge zero PMD split by a partial munmap, mprotect or
 * MADV_DONTNEED becomes PROT_NONE zero-page PTEs (zero-pmd-protnone): no
 * page of the block turns readable, and mm_check() would say so.
 */
static void test_huge_zero_protnone_split(void **state)
{
	uint8_t buf[64];
	struct mm_struct *mm;
	uint64_t a, pg;
	int how;

	(void)state;
	mt_setup(NULL);
	mm = mt_proc(NULL);
	for (how = 0; how < 3; how++) {
		a = mt_anon_thp(mm, SZ_2M);
		assert_int_equal(mt_touch(mm, a + SZ_4K), 0);
		assert_codes(mm, a, SZ_2M, "512:z..");
		assert_int_equal(mm_mprotect(mm, a, SZ_2M, MM_PROT_NONE), 0);
		assert_mm_ok();
		switch (how) {
		case 0:
			assert_int_equal(mm_munmap(mm, a, SZ_4K), 0);
			break;
		case 1:
			assert_int_equal(mm_mprotect(mm, a, SZ_4K, MM_PROT_READ), 0);
			break;
		case 2:
			assert_int_equal(mm_madvise(mm, a, SZ_4K, MM_MADV_DONTNEED), 0);
			break;
		}
		assert_mm_ok();
		assert_codes(mm, a + SZ_4K, SZ_2M - SZ_4K, "511:z..");
		for (pg = 1; pg < 512; pg += 17)
			assert_int_equal(mm_read(mm, a + pg * SZ_4K, buf, sizeof(buf)), -EFAULT);
		if (how == 1)
			mt_expect(mm, a, 0, SZ_4K);	/* the page made readable again */
		assert_int_equal(mm_munmap(mm, a, SZ_2M), 0);
	}
	mt_teardown();
}

/* MADV_FREE: data old or zero; a partial THP is split, the folio too (§3.4). */
static void test_madv_free(void **state)
{
	struct mm_struct *mm, *c;
	uint8_t *buf = malloc(SZ_2M);
	uint64_t t, a, i;
	char code[4];
	int ret;

	(void)state;
	assert_non_null(buf);
	mt_setup(NULL);
	mm = mt_proc(NULL);

	/* Pages shared with a child: the child's data is never touched. */
	a = mt_anon(mm, SZ_16K);
	mt_memset(mm, a, 0x62, SZ_16K);
	c = mt_fork(mm);
	assert_int_equal(mm_madvise(mm, a, SZ_16K, MM_MADV_FREE), 0);
	assert_mm_ok();
	mt_expect(c, a, 0x62, SZ_16K);
	assert_int_equal(mm_read(mm, a, buf, SZ_16K), 0);
	for (i = 0; i < SZ_16K; i++)
		assert_true(buf[i] == 0x62 || buf[i] == 0);
	/* A write after MADV_FREE is kept. */
	mt_memset(mm, a + SZ_4K, 0x63, SZ_4K);
	mt_expect(mm, a + SZ_4K, 0x63, SZ_4K);
	mt_expect(c, a, 0x62, SZ_16K);
	mt_exit(c);

	/* A whole PMD: stays a PMD or goes; all old or all zero. */
	t = mt_anon_thp(mm, SZ_4M);
	mt_memset(mm, t, 0x61, SZ_4M);
	assert_int_equal(mm_madvise(mm, t + SZ_2M, SZ_2M, MM_MADV_FREE), 0);
	assert_mm_ok();
	mt_code(mm, t + SZ_2M, code);
	assert_true(code[0] == 'H' || code[0] == '-');
	assert_int_equal(mm_read(mm, t + SZ_2M, buf, SZ_2M), 0);
	for (i = 1; i < SZ_2M; i++)
		assert_int_equal(buf[i], buf[0]);
	assert_true(buf[0] == 0x61 || buf[0] == 0);
	assert_mm_ok();

	/* Part of an exclusive PMD THP. */
	ret = mm_madvise(mm, t + 5 * SZ_4K, 2 * SZ_4K, MM_MADV_FREE);
	assert_int_equal(ret, 0);
	assert_mm_ok();
	assert_int_equal(mm_read(mm, t, buf, SZ_2M), 0);
	for (i = 0; i < SZ_2M; i++) {
		if (i >= 5 * SZ_4K && i < 7 * SZ_4K)
			assert_true(buf[i] == 0x61 || buf[i] == 0);
		else
			assert_int_equal(buf[i], 0x61);
	}
	assert_mm_ok();
	for (i = 0; i < 512; i++) {
		if (i == 5 || i == 6)
			continue;
		mt_code(mm, t + i * SZ_4K, code);
		assert_int_equal(code[0] == 'p' || code[0] == 'T', 1);
	}
	/* The folio was exclusively mapped: split into small folios, as the kernel does. */
	assert_int_equal(folio_order(mt_folio(mm, t, NULL)), 0);
	assert_int_equal(folio_order(mt_folio(mm, t + SZ_1M, NULL)), 0);
	for (i = 0; i < 512; i++) {
		if (i == 5 || i == 6)
			continue;
		mt_code(mm, t + i * SZ_4K, code);
		assert_string_equal(code, "pxw");
	}
	mt_teardown();
	free(buf);
}

static void test_madv_hugepage(void **state)
{
	struct mt_vma v[4];
	struct mm_struct *mm;
	struct mm_stats st;
	uint64_t a, t;

	(void)state;
	mt_setup(NULL);
	mm = mt_proc(NULL);
	a = mt_mmap(mm, SZ_4M, RW, ANON, SZ_2M, 0);
	assert_int_equal(mm_madvise(mm, a + SZ_2M, SZ_2M, MM_MADV_HUGEPAGE), 0);
	assert_mm_ok();
	assert_int_equal(mt_vmas(mm, a, a + SZ_4M, v, 4), 2);
	assert_false(v[0].flags & VM_HUGEPAGE);
	assert_true(v[1].flags & VM_HUGEPAGE);
	assert_int_equal(v[1].start, a + SZ_2M);
	mt_memset(mm, a, 1, 1);
	mt_memset(mm, a + SZ_2M, 2, 1);
	assert_codes(mm, a, SZ_4M, "1:pxw,511:-..,512:Hxw");

	/* NOHUGEPAGE from inside a THP: the VMA boundary splits the PMD (§3.4). */
	t = mt_anon_thp(mm, SZ_4M);
	mt_memset(mm, t, 3, SZ_4M);
	st = mt_stats(mm);
	assert_int_equal(mm_madvise(mm, t + SZ_2M + 10 * SZ_4K, SZ_2M - 10 * SZ_4K,
				    MM_MADV_NOHUGEPAGE), 0);
	assert_mm_ok();
	assert_codes(mm, t, SZ_4M, "512:Hxw,512:Txw");
	assert_int_equal(mt_stats(mm).thp_split_pmd, st.thp_split_pmd + 1);
	assert_int_equal(mt_stats(mm).deferred_split, st.deferred_split);
	assert_int_equal(mt_vmas(mm, t, t + SZ_4M, v, 4), 2);
	assert_true(v[0].flags & VM_HUGEPAGE);
	assert_int_equal(v[0].end, t + SZ_2M + 10 * SZ_4K);
	assert_true(v[1].flags & VM_NOHUGEPAGE);
	assert_false(v[1].flags & VM_HUGEPAGE);

	/* NOHUGEPAGE over whole VMAs: no split, existing THPs stay. */
	st = mt_stats(mm);
	assert_int_equal(mm_madvise(mm, t, SZ_2M + 10 * SZ_4K, MM_MADV_NOHUGEPAGE), 0);
	assert_mm_ok();
	assert_codes(mm, t, SZ_2M, "512:Hxw");
	assert_int_equal(mt_stats(mm).thp_split_pmd, st.thp_split_pmd);
	/* New faults there are small. */
	assert_int_equal(mm_madvise(mm, t, SZ_2M, MM_MADV_DONTNEED), 0);
	assert_mm_ok();
	mt_memset(mm, t, 4, 1);
	assert_codes(mm, t, SZ_2M, "1:pxw,511:-..");
	mt_expect(mm, t + SZ_2M, 3, SZ_2M);
	mt_teardown();
}

/* ---------------------------------------------------------------------- */
/* mremap                                                                  */
/* ---------------------------------------------------------------------- */

static void test_mremap_thp(void **state)
{
	struct mm_struct *mm;
	struct mm_stats st;
	struct folio *f0, *f1;
	struct mt_vma v[2];
	uint64_t t, n = 0, m = 0, x;
	char b;

	(void)state;
	mt_setup(NULL);
	mm = mt_proc(NULL);
	t = mt_anon_thp(mm, SZ_4M);
	mt_memset(mm, t, 0x66, SZ_2M);
	mt_memset(mm, t + SZ_2M, 0x77, SZ_2M);
	f0 = mt_folio(mm, t, NULL);
	f1 = mt_folio(mm, t + SZ_2M, NULL);
	st = mt_stats(mm);

	/* Aligned: the PMD leaves move intact. */
	assert_int_equal(mm_mremap(mm, t, SZ_4M, 0, 0, SZ_2M, 0, &n), 0);
	assert_mm_ok();
	assert_int_equal(n & (SZ_2M - 1), 0);
	assert_true(n + SZ_4M <= t || n >= t + SZ_4M);
	assert_no_vma(mm, t);
	assert_no_vma(mm, t + SZ_4M - SZ_4K);
	assert_int_equal(mm_read(mm, t, &b, 1), -EFAULT);
	assert_codes(mm, n, SZ_4M, "1024:Hxw");
	assert_int_equal(mt_pfn(mm, n), folio_pfn(f0));
	assert_int_equal(mt_pfn(mm, n + SZ_2M), folio_pfn(f1));
	assert_folio(f0, 1, 1, 1, 0, 0, 1);
	assert_int_equal(mt_stats(mm).thp_split_pmd, st.thp_split_pmd);
	assert_int_equal(mt_stats(mm).rss_anon, st.rss_anon);
	assert_int_equal(mt_stats(mm).vmas, st.vmas);
	assert_int_equal(mt_vmas(mm, n, n + SZ_4M, v, 2), 1);
	assert_true(v[0].flags & VM_HUGEPAGE);
	mt_expect(mm, n, 0x66, SZ_2M);
	mt_expect(mm, n + SZ_2M, 0x77, SZ_2M);

	/* Unaligned: the PMDs are split, the folios stay whole and fully mapped. */
	assert_int_equal(mm_mremap(mm, n, SZ_4M, 0, 0, SZ_2M, SZ_4K, &m), 0);
	assert_mm_ok();
	assert_int_equal(m & (SZ_2M - 1), SZ_4K);
	assert_codes(mm, m, SZ_4M, "1024:Txw");
	assert_int_equal(mt_pfn(mm, m), folio_pfn(f0));
	assert_int_equal(mt_pfn(mm, m + 511 * SZ_4K), folio_pfn(f0) + 511);
	assert_int_equal(mt_pfn(mm, m + SZ_2M), folio_pfn(f1));
	assert_folio(f0, 512, 512, 0, 100, 1, 1);
	assert_false(folio_flags(f0) & FOLIO_DEFERRED_SPLIT);
	assert_int_equal(mt_stats(mm).thp_split_pmd, st.thp_split_pmd + 2);
	assert_int_equal(mt_stats(mm).deferred_split, st.deferred_split);
	mt_expect(mm, m, 0x66, SZ_2M);
	mt_expect(mm, m + SZ_2M, 0x77, SZ_2M);

	/*
	 * The moved VMA's start is no longer 2 MiB-congruent with its vm_pgoff.
	 * cpu-mm-spec §3.1.3 says THP faults stop there, but the kernel checks
	 * the pgoff congruence only for file VMAs (thp_vma_suitable_order():
	 * "Don't have to check pgoff for anonymous vma"), and Linux 6.18 does
	 * install a PMD THP in an aligned block of such a VMA (mm_kernel_diff,
	 * scenario mremap-unaligned). The kernel wins.
	 */
	x = m - SZ_4K + SZ_2M;
	assert_int_equal(mm_madvise(mm, x, SZ_2M, MM_MADV_DONTNEED), 0);
	assert_mm_ok();
	mt_memset(mm, x, 0x78, 1);
	assert_codes(mm, x, SZ_2M, "512:Hxw");
	mt_expect(mm, x, 0x78, 1);
	mt_expect(mm, x + 1, 0, SZ_2M - 1);
	mt_teardown();
}

static void test_mremap_4k_fixed(void **state)
{
	struct mm_struct *mm;
	uint64_t a, b, r = 0, pfn[4], live;
	int i;

	(void)state;
	mt_setup(NULL);
	mm = mt_proc(NULL);
	a = mt_anon(mm, SZ_16K);
	for (i = 0; i < 4; i++) {
		mt_memset(mm, a + i * SZ_4K, 0x80 + i, SZ_4K);
		pfn[i] = mt_pfn(mm, a + i * SZ_4K);
	}
	assert_int_equal(mm_mremap(mm, a, SZ_16K, 0, 0, 0, 0, &r), 0);
	assert_mm_ok();
	assert_int_not_equal(r, a);
	assert_no_vma(mm, a);
	for (i = 0; i < 4; i++) {
		assert_int_equal(mt_pfn(mm, r + i * SZ_4K), pfn[i]);
		mt_expect(mm, r + i * SZ_4K, 0x80 + i, SZ_4K);
	}
	assert_codes(mm, r, SZ_16K, "4:pxw");

	/* FIXED onto another mapping: that mapping is replaced. */
	b = mt_anon(mm, SZ_16K);
	mt_memset(mm, b, 0x99, SZ_16K);
	live = mt_live_frames();
	assert_int_equal(mm_mremap(mm, r, SZ_16K, MM_MAP_FIXED, b, 0, 0, &a), 0);
	assert_mm_ok();
	assert_int_equal(a, b);
	assert_no_vma(mm, r);
	for (i = 0; i < 4; i++) {
		assert_int_equal(mt_pfn(mm, b + i * SZ_4K), pfn[i]);
		mt_expect(mm, b + i * SZ_4K, 0x80 + i, SZ_4K);
	}
	assert_int_equal(mt_live_frames(), live - 4);
	assert_int_equal(mt_stats(mm).vmas, 1);
	mt_teardown();
}

static void test_mremap_hugetlb(void **state)
{
	struct mm_system_config cfg = { .hugetlb_2m = 2 };
	struct mm_struct *mm;
	struct mt_snap snap;
	uint64_t h, n = 0, m = 0;
	struct folio *f;

	(void)state;
	mt_setup(&cfg);
	mm = mt_proc(NULL);
	h = mt_hugetlb(mm, SZ_4M, 21);
	mt_memset(mm, h, 0x91, SZ_4M);
	f = mt_folio(mm, h, NULL);
	assert_int_equal(mm_mremap(mm, h, SZ_4M, 0, 0, SZ_2M, 0, &n), 0);
	assert_mm_ok();
	assert_int_equal(n & (SZ_2M - 1), 0);
	assert_codes(mm, n, SZ_4M, "1024:Hxw");
	assert_ptr_equal(mt_folio(mm, n, NULL), f);
	mt_expect(mm, n, 0x91, SZ_4M);
	assert_int_equal(mt_hugetlb_free(0), 0);
	mt_snap_take(mm, n, n + SZ_4M, &snap);
	assert_int_equal(mm_mremap(mm, n, SZ_4M, 0, 0, SZ_2M, SZ_4K, &m), -EINVAL);
	assert_snap_same(mm, n, n + SZ_4M, &snap);
	assert_int_equal(mm_mremap(mm, n, SZ_4M, MM_MAP_FIXED, n + SZ_1G + SZ_1M, 0, 0, &m),
			 -EINVAL);
	assert_snap_same(mm, n, n + SZ_4M, &snap);
	mt_snap_free(&snap);
	mt_teardown();
}

/* ---------------------------------------------------------------------- */
/* Bad input: a negative errno, nothing changed                            */
/* ---------------------------------------------------------------------- */

struct bad_world {
	struct mm_struct *mm;
	uint64_t t, h, g, lo, hi;
	struct mt_snap snap;
	uint64_t *out;
	int failures;
};

/*
 * @expect 0: any negative errno. A failure is reported and counted, and the
 * snapshot taken again, so that one bad case does not hide the others.
 */
static void bad_check(struct bad_world *w, long ret, long expect, const char *what, int line)
{
	if (ret >= 0 || (expect && ret != expect)) {
		print_error("line %d: %s = %ld, expected %ld (0: any error); out %#" PRIx64 "\n",
			    line, what, ret, expect, *w->out);
		w->failures++;
		mt_check_at(__FILE__, line);
		mt_snap_free(&w->snap);
		mt_snap_take(w->mm, w->lo, w->hi, &w->snap);
		return;
	}
	mt_check_at(__FILE__, line);
	if (mt_snap_differs(w->mm, w->lo, w->hi, &w->snap)) {
		print_error("line %d: %s failed (%ld) but changed the state\n", line, what, ret);
		w->failures++;
		mt_snap_free(&w->snap);
		mt_snap_take(w->mm, w->lo, w->hi, &w->snap);
	}
}

#define BAD(call, expect) bad_check(&w, (call), (expect), #call, __LINE__)

static void test_bad_input(void **state)
{
	struct mm_system_config cfg = { .hugetlb_2m = 4 };
	struct phys_file *file = NULL;
	struct mm_mmap_args args;
	struct bad_world w;
	uint64_t out = 0;

	(void)state;
	mt_setup(&cfg);
	w.mm = mt_proc(NULL);
	w.t = mt_anon_thp(w.mm, SZ_4M);
	mt_memset(w.mm, w.t, 0x10, SZ_2M);
	mt_memset(w.mm, w.t + SZ_2M + SZ_4K, 0x11, SZ_4K);
	w.h = mt_hugetlb(w.mm, SZ_4M, 21);
	mt_memset(w.mm, w.h, 0x12, SZ_2M);
	w.g = mt_anon(w.mm, SZ_16K);
	mt_memset(w.mm, w.g, 0x13, SZ_16K);
	assert_int_equal(mm_munmap(w.mm, w.g + SZ_4K, SZ_4K), 0);
	assert_mm_ok();
	w.lo = min64(min64(w.t, w.h), w.g);
	w.hi = max64(max64(w.t + SZ_4M, w.h + SZ_4M), w.g + SZ_16K);
	if (w.hi - w.lo > SZ_1G) {
		/* Far apart: watch the THP region only (the stats see the rest). */
		w.lo = w.t;
		w.hi = w.t + SZ_4M;
	}
	assert_int_equal(phys_file_create(mt_pool(), SZ_64K, &file), 0);
	w.out = &out;
	w.failures = 0;
	mt_snap_take(w.mm, w.lo, w.hi, &w.snap);

	/* munmap */
	BAD(mm_munmap(w.mm, w.t + 1, SZ_4K), -EINVAL);
	BAD(mm_munmap(w.mm, w.t + SZ_4K + 100, SZ_4K), -EINVAL);
	BAD(mm_munmap(w.mm, w.t, 0), -EINVAL);
	BAD(mm_munmap(w.mm, MM_TASK_SIZE - SZ_4K, SZ_8K), -EINVAL);
	BAD(mm_munmap(w.mm, MM_TASK_SIZE, SZ_4K), -EINVAL);
	BAD(mm_munmap(w.mm, ALL, SZ_8K), -EINVAL);
	BAD(mm_munmap(w.mm, w.t, ALL), -EINVAL);
	BAD(mm_munmap(w.mm, w.h + SZ_4K, SZ_4K), -EINVAL);
	BAD(mm_munmap(w.mm, w.h, SZ_1M), -EINVAL);
	BAD(mm_munmap(w.mm, w.h + SZ_2M - SZ_4K, SZ_2M), -EINVAL);

	/* mprotect */
	BAD(mm_mprotect(w.mm, w.t + 1, SZ_4K, MM_PROT_READ), -EINVAL);
	BAD(mm_mprotect(w.mm, w.t, SZ_4K, 1u << 7), -EINVAL);
	BAD(mm_mprotect(w.mm, w.t, SZ_4K, MM_PROT_READ | (1u << 4)), -EINVAL);
	BAD(mm_mprotect(w.mm, w.t, ALL, MM_PROT_READ), 0);
	BAD(mm_mprotect(w.mm, w.g + SZ_4K, SZ_4K, MM_PROT_READ), -ENOMEM);
	BAD(mm_mprotect(w.mm, w.g, SZ_16K, MM_PROT_READ), -ENOMEM);
	BAD(mm_mprotect(w.mm, w.g, SZ_8K, MM_PROT_NONE), -ENOMEM);
	BAD(mm_mprotect(w.mm, 0, SZ_4K, MM_PROT_READ), -ENOMEM);
	BAD(mm_mprotect(w.mm, w.h + SZ_4K, SZ_2M, MM_PROT_READ), -EINVAL);
	BAD(mm_mprotect(w.mm, w.h, SZ_2M + SZ_4K, MM_PROT_READ), -EINVAL);

	/* madvise */
	BAD(mm_madvise(w.mm, w.t + 1, SZ_4K, MM_MADV_DONTNEED), -EINVAL);
	BAD(mm_madvise(w.mm, w.t, SZ_4K, (enum mm_advice)99), -EINVAL);
	BAD(mm_madvise(w.mm, w.t, SZ_4K, (enum mm_advice)-1), -EINVAL);
	BAD(mm_madvise(w.mm, w.t, ALL, MM_MADV_DONTNEED), 0);
	BAD(mm_madvise(w.mm, w.g + SZ_4K, SZ_4K, MM_MADV_DONTNEED), -ENOMEM);
	BAD(mm_madvise(w.mm, w.g + SZ_4K, SZ_4K, MM_MADV_HUGEPAGE), -ENOMEM);
	BAD(mm_madvise(w.mm, w.g, SZ_16K, MM_MADV_DONTNEED), -ENOMEM);
	BAD(mm_madvise(w.mm, w.g, SZ_16K, MM_MADV_NOHUGEPAGE), -ENOMEM);
	BAD(mm_madvise(w.mm, 0, SZ_4K, MM_MADV_FREE), -ENOMEM);
	BAD(mm_madvise(w.mm, w.h + SZ_4K, SZ_4K, MM_MADV_DONTNEED), -EINVAL);

	/* mmap */
#define ARGS(l, p, f) (args = (struct mm_mmap_args){ .len = (l), .prot = (p), .flags = (f) }, &args)
	BAD(mm_mmap(w.mm, ARGS(0, RW, ANON), &out), -EINVAL);
	BAD(mm_mmap(w.mm, ARGS(SZ_4K, RW, ANON | MM_MAP_SHARED), &out), -EINVAL);
	BAD(mm_mmap(w.mm, ARGS(SZ_4K, RW, MM_MAP_ANONYMOUS), &out), -EINVAL);
	BAD(mm_mmap(w.mm, ARGS(SZ_4K, RW, ANON | (1u << 12)), &out), -EINVAL);
	BAD(mm_mmap(w.mm, ARGS(SZ_4K, RW | (1u << 5), ANON), &out), -EINVAL);
	BAD(mm_mmap(w.mm, ARGS(ALL, RW, ANON), &out), 0);
	BAD(mm_mmap(w.mm, ARGS(SZ_4K, RW, MM_MAP_PRIVATE), &out), -EINVAL);
	BAD(mm_mmap(w.mm, ARGS(SZ_2M, RW, ANON | MM_MAP_HUGETLB | MM_MAP_HUGE_2MB |
				       MM_MAP_HUGE_1GB), &out), -EINVAL);
	args = (struct mm_mmap_args){ .len = SZ_4K, .prot = RW, .flags = ANON | MM_MAP_FIXED,
				      .addr = w.t + 1 };
	BAD(mm_mmap(w.mm, &args, &out), -EINVAL);
	args.addr = MM_TASK_SIZE - SZ_4K;
	args.len = SZ_8K;
	BAD(mm_mmap(w.mm, &args, &out), 0);
	args = (struct mm_mmap_args){ .len = SZ_4K, .prot = RW, .flags = ANON, .align = 3 * SZ_4K };
	BAD(mm_mmap(w.mm, &args, &out), -EINVAL);
	args.align = SZ_4K / 2;
	BAD(mm_mmap(w.mm, &args, &out), -EINVAL);
	args.align = SZ_2M;
	args.offset = SZ_2M;
	BAD(mm_mmap(w.mm, &args, &out), -EINVAL);
	args.offset = 0x800;
	BAD(mm_mmap(w.mm, &args, &out), -EINVAL);
	/* A file and ANONYMOUS; a file offset that is not page-aligned. */
	args = (struct mm_mmap_args){ .len = SZ_4K, .prot = RW, .flags = ANON, .file = file };
	BAD(mm_mmap(w.mm, &args, &out), -EINVAL);
	args = (struct mm_mmap_args){ .len = SZ_4K, .prot = RW, .flags = MM_MAP_SHARED,
				      .file = file, .pgoff = 100 };
	BAD(mm_mmap(w.mm, &args, &out), -EINVAL);
	/* hugetlb placements that the huge page size does not divide. */
	args = (struct mm_mmap_args){ .len = SZ_2M, .prot = RW,
				      .flags = ANON | MM_MAP_HUGETLB | MM_MAP_HUGE_2MB,
				      .align = SZ_2M, .offset = SZ_4K };
	BAD(mm_mmap(w.mm, &args, &out), -EINVAL);
	args = (struct mm_mmap_args){ .len = SZ_2M, .prot = RW,
				      .flags = ANON | MM_MAP_HUGETLB | MM_MAP_HUGE_2MB |
					       MM_MAP_FIXED,
				      .addr = SZ_1G * 80 + SZ_1M };
	BAD(mm_mmap(w.mm, &args, &out), -EINVAL);
	args = (struct mm_mmap_args){ .len = SZ_1G, .prot = RW,
				      .flags = ANON | MM_MAP_HUGETLB | MM_MAP_HUGE_1GB |
					       MM_MAP_FIXED,
				      .addr = SZ_1G * 64 + SZ_2M };
	BAD(mm_mmap(w.mm, &args, &out), 0);
	/* An empty 2 MiB pool (two of four pages are left; ask for three). */
	args = (struct mm_mmap_args){ .len = 6 * SZ_1M, .prot = RW,
				      .flags = ANON | MM_MAP_HUGETLB | MM_MAP_HUGE_2MB };
	BAD(mm_mmap(w.mm, &args, &out), -ENOMEM);

	/* mremap */
	BAD(mm_mremap(w.mm, w.t, SZ_2M, 0, 0, 0, 0, &out), -EFAULT);
	BAD(mm_mremap(w.mm, w.t + SZ_4K, SZ_4M - SZ_4K, 0, 0, 0, 0, &out), 0);
	BAD(mm_mremap(w.mm, w.g + SZ_4K, SZ_4K, 0, 0, 0, 0, &out), -EFAULT);
	BAD(mm_mremap(w.mm, w.t + 1, SZ_4M, 0, 0, 0, 0, &out), -EINVAL);
	BAD(mm_mremap(w.mm, w.t, SZ_4M, 1u << 9, 0, 0, 0, &out), -EINVAL);
	BAD(mm_mremap(w.mm, w.t, SZ_4M, 0, 0, 3 * SZ_4K, 0, &out), -EINVAL);
	BAD(mm_mremap(w.mm, w.t, SZ_4M, 0, 0, SZ_2M, SZ_2M, &out), -EINVAL);
	BAD(mm_mremap(w.mm, w.t, SZ_4M, 0, 0, SZ_2M, 100, &out), -EINVAL);
	BAD(mm_mremap(w.mm, w.t, SZ_4M, MM_MAP_FIXED, w.t + SZ_2M, 0, 0, &out), -EINVAL);
	BAD(mm_mremap(w.mm, w.t, SZ_4M, MM_MAP_FIXED, w.t + 100, 0, 0, &out), -EINVAL);
	BAD(mm_mremap(w.mm, w.t, SZ_4M, MM_MAP_FIXED, MM_TASK_SIZE - SZ_2M, 0, 0, &out), 0);

	mt_snap_free(&w.snap);
	phys_file_put(file);
	assert_int_equal(w.failures, 0);
	mt_teardown();
}

/* ---------------------------------------------------------------------- */
/* The page walker                                                         */
/* ---------------------------------------------------------------------- */

struct walk_rec {
	struct mm_struct *mm;
	uint64_t next;			/* where the next callback must start */
	uint64_t skip_start;		/* test_walk skips the VMA starting here (0: none) */
	unsigned int leaves[3], holes, outside, tests;
	uint64_t stop_at;		/* a leaf callback at this address stops the walk */
	bool bad;
};

static int walk_test(uint64_t start, uint64_t end, struct mm_walk *walk)
{
	struct walk_rec *w = walk->private;

	w->tests++;
	if (!walk->vma || start < vma_start(walk->vma) || end > vma_end(walk->vma) ||
	    start >= end)
		w->bad = true;
	if (w->skip_start && vma_start(walk->vma) == w->skip_start) {
		w->next = end;
		return 1;
	}
	return 0;
}

static int walk_leaf(uint64_t addr, uint64_t next, pt_entry_t entry, unsigned int level,
		     struct mm_walk *walk)
{
	const struct pt_format *fmt = &pt_format_x86_64_4l;
	struct walk_rec *w = walk->private;
	unsigned int shift = level == 2 ? MM_PUD_SHIFT : level == 1 ? MM_PMD_SHIFT : MM_PAGE_SHIFT;
	uint64_t va;

	if (addr != w->next || next <= addr || level > 2 || !walk->vma ||
	    next - addr > (UINT64_C(1) << shift) || mm_pte_kind(entry) == MM_PTE_NONE) {
		print_error("leaf [%#" PRIx64 ", %#" PRIx64 ") level %u, expected at %#" PRIx64
			    "\n", addr, next, level, w->next);
		w->bad = true;
	}
	/* Every page's frame from the leaf word, as the page table says. */
	for (va = addr; va < next; va += (next - addr) / 4 ? (next - addr) / 4 : SZ_4K)
		if (pt_leaf_pfn(fmt, entry, shift, va) != mt_pfn(w->mm, va))
			w->bad = true;
	w->leaves[level]++;
	w->next = next;
	return addr == w->stop_at ? 42 : 0;
}

static int walk_hole(uint64_t addr, uint64_t next, int level, struct mm_walk *walk)
{
	struct walk_rec *w = walk->private;
	struct mt_page pg;

	if (addr != w->next || next <= addr || (level < 0) != (walk->vma == NULL)) {
		print_error("hole [%#" PRIx64 ", %#" PRIx64 ") level %d, expected at %#" PRIx64
			    "\n", addr, next, level, w->next);
		w->bad = true;
	}
	if (mt_lookup(w->mm, addr, &pg) || mt_lookup(w->mm, next - SZ_4K, &pg))
		w->bad = true;
	if (level < 0)
		w->outside++;
	else
		w->holes++;
	w->next = next;
	return 0;
}

static const struct mm_walk_ops walk_all = {
	.test_walk = walk_test, .leaf = walk_leaf, .hole = walk_hole,
};

static int run_walk(struct walk_rec *w, uint64_t start, uint64_t end)
{
	int ret;

	w->next = start;
	mmap_read_lock(w->mm);
	ret = walk_page_range(w->mm, start, end, &walk_all, w);
	mmap_read_unlock(w->mm);
	assert_mm_ok();
	return ret;
}

/*
 * MADV_DONTNEED of the only page of a PTE table: from 6.13 (CONFIG_PT_RECLAIM)
 * the emptied table is freed and the next fault in that PMD span can map a
 * THP; before, the empty table stays and the span faults 4 KiB pages.
 */
static void test_dontneed_frees_tables(void **state)
{
	const struct mm_profile *const *pp;
	struct mm_struct *mm;
	uint64_t a;

	(void)state;
	mt_setup(NULL);
	for (pp = mm_profiles; *pp; pp++) {
		mm = mt_proc(*pp);
		a = mt_anon_thp(mm, SZ_2M);
		assert_ret(mm_madvise(mm, a, SZ_2M, MM_MADV_NOHUGEPAGE), 0);
		mt_memset(mm, a, 1, SZ_4K);
		assert_codes(mm, a, SZ_2M, "1:pxw,511:-..");
		assert_ret(mm_madvise(mm, a, SZ_2M, MM_MADV_DONTNEED), 0);
		assert_ret(mm_madvise(mm, a, SZ_2M, MM_MADV_HUGEPAGE), 0);
		mt_memset(mm, a, 2, SZ_4K);
		assert_codes(mm, a, SZ_2M, (*pp)->dontneed_frees_tables ? "512:Hxw" :
									   "1:pxw,511:-..");
		mt_expect(mm, a, 2, SZ_4K);
		assert_mm_ok();
		mt_exit(mm);
	}
	mt_teardown();
}

/*
 * walk_page_range(): one path for PTEs, PMD leaves (THP and hugetlb) and PUD
 * leaves (hugetlb 1G), holes inside VMAs and gaps between them, clipped to
 * the range, never splitting what it walks (seed 004, §6).
 */
static void test_walker(void **state)
{
	struct mm_system_config cfg = {
		.ram = 2 * SZ_1G + 64 * SZ_1M, .hugetlb_2m = 2, .hugetlb_1g = 1,
		.metadata_only = true,
	};
	struct walk_rec w;
	struct mm_struct *mm;
	uint64_t a, t, h, g, lo, hi;
	char *before;

	(void)state;
	mt_setup(&cfg);
	mm = mt_proc(NULL);
	t = mt_anon_thp(mm, SZ_2M);
	a = mt_mmap(mm, SZ_64K, RW, ANON, 0, 0);
	h = mt_hugetlb(mm, SZ_4M, 21);
	g = mt_hugetlb(mm, SZ_1G, 30);
	mt_memset(mm, t, 1, SZ_2M);
	mt_memset(mm, a + SZ_4K, 1, SZ_8K);
	mt_memset(mm, h + SZ_2M, 1, 1);
	mt_memset(mm, g + SZ_1M, 1, 1);
	lo = min64(min64(t, a), min64(h, g));
	hi = max64(max64(t + SZ_2M, a + SZ_64K), max64(h + SZ_4M, g + SZ_1G));

	/* Everything, from below the lowest VMA to above the highest. */
	memset(&w, 0, sizeof(w));
	w.mm = mm;
	before = strdup(mt_dump(mm, t, SZ_2M));
	assert_int_equal(run_walk(&w, lo - SZ_2M, hi + SZ_2M), 0);
	assert_false(w.bad);
	assert_int_equal(w.next, hi + SZ_2M);
	/* THP block, hugetlb 2M page: PMD leaves; the 1G page: a PUD leaf. */
	assert_int_equal(w.leaves[1], 2);
	assert_int_equal(w.leaves[2], 1);
	/* Two PTEs of the small region. */
	assert_int_equal(w.leaves[0], 2);
	assert_true(w.outside >= 2);
	assert_true(w.holes >= 3);
	assert_int_equal(w.tests, 4);
	/* Walking does not split. */
	assert_string_equal(mt_dump(mm, t, SZ_2M), before);
	free(before);

	/* Clipped inside leaves: the THP's middle, the 1G page's middle. */
	memset(&w, 0, sizeof(w));
	w.mm = mm;
	assert_int_equal(run_walk(&w, t + SZ_1M, t + SZ_1M + SZ_16K), 0);
	assert_false(w.bad);
	assert_int_equal(w.leaves[1], 1);
	memset(&w, 0, sizeof(w));
	w.mm = mm;
	assert_int_equal(run_walk(&w, g + SZ_2M, g + SZ_4M), 0);
	assert_false(w.bad);
	assert_int_equal(w.leaves[2], 1);
	assert_int_equal(w.next, g + SZ_4M);

	/* test_walk skips a VMA: no callback inside it. */
	memset(&w, 0, sizeof(w));
	w.mm = mm;
	w.skip_start = t;
	assert_int_equal(run_walk(&w, t, t + SZ_2M), 0);
	assert_false(w.bad);
	assert_int_equal(w.leaves[0] + w.leaves[1] + w.holes, 0);

	/* A callback's nonzero value stops the walk and comes back. */
	memset(&w, 0, sizeof(w));
	w.mm = mm;
	w.stop_at = a + SZ_4K;
	assert_int_equal(run_walk(&w, a, a + SZ_64K), 42);
	assert_int_equal(w.next, a + SZ_8K);

	/* Bad ranges. */
	memset(&w, 0, sizeof(w));
	w.mm = mm;
	assert_int_equal(run_walk(&w, a, a), -EINVAL);
	assert_int_equal(run_walk(&w, a + SZ_4K, a), -EINVAL);
	assert_int_equal(run_walk(&w, a + 1, a + SZ_4K), -EINVAL);
	assert_int_equal(w.leaves[0] + w.holes + w.outside, 0);
	mt_teardown();
}

/* The system's own bad input: a clear error, nothing created or destroyed. */
static void test_system_bad_input(void **state)
{
	struct mm_system_config cfg;
	struct mm_system *sys = NULL;
	struct mm_struct *mm;
	uint64_t a;

	(void)state;
	cfg = (struct mm_system_config){ .ram = 1000 * SZ_4K + 1 };
	assert_int_equal(mm_system_create(&cfg, &sys), -EINVAL);
	cfg = (struct mm_system_config){ .thp = (enum mm_thp_mode)7 };
	assert_int_equal(mm_system_create(&cfg, &sys), -EINVAL);
	cfg = (struct mm_system_config){ .ram = 64 * SZ_1M, .hugetlb_2m = 64 };
	assert_int_equal(mm_system_create(&cfg, &sys), -ENOMEM);
	cfg = (struct mm_system_config){ .ram = 64 * SZ_1M, .hugetlb_1g = 1 };
	assert_int_equal(mm_system_create(&cfg, &sys), -ENOMEM);
	assert_null(sys);

	/* A system with a live process is not destroyed. */
	mt_setup(NULL);
	mm = mt_proc(NULL);
	a = mt_anon(mm, SZ_16K);
	mt_memset(mm, a, 0x42, SZ_16K);
	assert_int_equal(mm_system_destroy(mt.sys), -EBUSY);
	assert_mm_ok();
	mt_expect(mm, a, 0x42, SZ_16K);
	mt_teardown();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_munmap_4k),
		cmocka_unit_test(test_munmap_thp),
		cmocka_unit_test(test_munmap_hugetlb),
		cmocka_unit_test(test_mprotect_4k),
		cmocka_unit_test(test_mprotect_thp),
		cmocka_unit_test(test_mprotect_hugetlb),
		cmocka_unit_test(test_dontneed),
		cmocka_unit_test(test_dontneed_hugetlb),
		cmocka_unit_test(test_huge_zero_protnone_split),
		cmocka_unit_test(test_madv_free),
		cmocka_unit_test(test_madv_hugepage),
		cmocka_unit_test(test_mremap_thp),
		cmocka_unit_test(test_mremap_4k_fixed),
		cmocka_unit_test(test_mremap_hugetlb),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_walker),
		cmocka_unit_test(test_dontneed_frees_tables),
		cmocka_unit_test(test_system_bad_input),
	};
	int ret;

	hmmsim_thread_register();
	ret = cmocka_run_group_tests_name("mm_ops", tests, NULL, NULL);
	hmmsim_thread_unregister();
	return ret;
}
