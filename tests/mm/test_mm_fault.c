// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * mm_fault: the fault paths one at a time (cpu-mm-spec §3.1, §3.2, §5, §9.1,
 * §9.2), with the folio accounting of §2.3 read back through phys, the dump
 * of DESIGN.md, the statistics, and the checkers after every operation.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "mm_test.h"

#define RW	(MM_PROT_READ | MM_PROT_WRITE)
#define ANON	(MM_MAP_PRIVATE | MM_MAP_ANONYMOUS)

/* The number of runs in a dump string. */
static unsigned int dump_runs(const char *d)
{
	unsigned int n = *d ? 1 : 0;

	for (; *d; d++)
		n += *d == ',';
	return n;
}

static void assert_pfn_is_zero_page(struct mm_struct *mm, uint64_t va)
{
	struct folio *zero = phys_zero_folio(mt_pool());
	struct mt_page pg;

	assert_non_null(zero);
	assert_true(mt_lookup(mm, va, &pg));
	assert_int_equal(pg.level, 0);
	assert_int_equal(pg.pfn, folio_pfn(zero));
	assert_false(pg.write);
	assert_true(pg.special);
}

/* A read of an empty anonymous page maps the 4 KiB zero page, uncounted. */
static void test_read_fault_zero_page(void **state)
{
	struct mm_struct *mm;
	struct mm_stats st0, st1;
	struct folio *zero;
	int zref, zmap;
	uint64_t a, sum = 1;
	const char *d;

	(void)state;
	mt_setup(NULL);
	mm = mt_proc(NULL);
	a = mt_anon(mm, SZ_16K);
	assert_codes(mm, a, SZ_16K, "4:-..");
	zero = phys_zero_folio(mt_pool());
	assert_non_null(zero);
	assert_true(is_zero_folio(zero));
	zref = folio_ref_count(zero);
	zmap = folio_mapcount(zero);
	st0 = mt_stats(mm);

	assert_int_equal(mt_touch(mm, a + 100), 0);
	assert_codes(mm, a, SZ_16K, "1:z..,3:-..");
	assert_pfn_is_zero_page(mm, a);
	/* Special mapping: no reference, no mapcount (§2.2, §9.1). */
	assert_int_equal(folio_ref_count(zero), zref);
	assert_int_equal(folio_mapcount(zero), zmap);
	st1 = mt_stats(mm);
	assert_int_equal(st1.zero_page, st0.zero_page + 1);
	assert_true(st1.faults >= st0.faults + 1);
	assert_int_equal(st1.anon_pages, st0.anon_pages);
	assert_int_equal(st1.rss_anon, st0.rss_anon);
	assert_int_equal(st1.notifications, st0.notifications);

	/* A second zero page: same frame, so two runs (frames do not follow). */
	assert_int_equal(mm_read_sum(mm, a + SZ_4K, SZ_4K, &sum), 0);
	assert_int_equal(sum, 0);
	assert_mm_ok();
	d = mt_dump(mm, a, SZ_16K);
	assert_int_equal(dump_runs(d), 3);
	assert_codes(mm, a, SZ_16K, "2:z..,2:-..");
	assert_int_equal(folio_ref_count(zero), zref);
	mt_expect(mm, a, 0, SZ_16K);
	mt_teardown();
}

/* A write to an empty page: order 0, refcount 1, mapcount 1, exclusive, writable. */
static void test_write_fault_order0(void **state)
{
	struct mm_struct *mm;
	struct mm_stats st0, st1;
	struct folio *f, *zero;
	struct mt_page pg;
	uint64_t a, idx;
	int zref;

	(void)state;
	mt_setup(NULL);
	mm = mt_proc(NULL);
	a = mt_anon(mm, SZ_16K);
	st0 = mt_stats(mm);
	mt_memset(mm, a + SZ_4K + 7, 0x5a, 10);
	assert_codes(mm, a, SZ_16K, "1:-..,1:pxw,2:-..");
	f = mt_folio(mm, a + SZ_4K, &idx);
	assert_int_equal(idx, 0);
	assert_int_equal(folio_order(f), 0);
	assert_true(folio_test_anon(f));
	assert_false(folio_test_hugetlb(f));
	assert_folio(f, 1, 1, 0, 0, 1, 1);
	assert_true(mt_lookup(mm, a + SZ_4K, &pg));
	assert_true(pg.write);
	assert_false(pg.special);
	assert_int_equal(pg.level, 0);
	mt_expect(mm, a + SZ_4K, 0, 7);
	mt_expect(mm, a + SZ_4K + 7, 0x5a, 10);
	mt_expect(mm, a + SZ_4K + 17, 0, SZ_4K - 17);
	st1 = mt_stats(mm);
	assert_int_equal(st1.anon_pages, st0.anon_pages + 1);
	assert_int_equal(st1.rss_anon, st0.rss_anon + 1);
	assert_int_equal(st1.thp_fault_alloc, st0.thp_fault_alloc);
	assert_int_equal(st1.notifications, st0.notifications);

	/* Write after read: the zero page is replaced by a new zeroed page. */
	zero = phys_zero_folio(mt_pool());
	zref = folio_ref_count(zero);
	mt_touch(mm, a + SZ_8K);
	assert_pfn_is_zero_page(mm, a + SZ_8K);
	mt_memset(mm, a + SZ_8K + 100, 0x11, 1);
	assert_codes(mm, a, SZ_16K, "1:-..,2:pxw,1:-..");
	assert_int_not_equal(mt_pfn(mm, a + SZ_8K), folio_pfn(zero));
	assert_int_equal(folio_ref_count(zero), zref);
	f = mt_folio(mm, a + SZ_8K, NULL);
	assert_folio(f, 1, 1, 0, 0, 1, 1);
	mt_expect(mm, a + SZ_8K, 0, 100);
	mt_expect(mm, a + SZ_8K + 100, 0x11, 1);
	mt_expect(mm, a + SZ_8K + 101, 0, SZ_4K - 101);
	assert_int_equal(mt_stats(mm).rss_anon, st0.rss_anon + 2);
	mt_teardown();
}

/* Assert that [va, va + 2M) is one PMD-mapped THP as after a write fault (§2.3). */
static struct folio *assert_fresh_thp(struct mm_struct *mm, uint64_t va)
{
	struct mt_page pg;
	struct folio *f;
	uint64_t idx;

	f = mt_folio(mm, va, &idx);
	assert_int_equal(idx, 0);
	assert_int_equal(folio_order(f), 9);
	assert_int_equal(folio_pfn(f) % 512, 0);
	assert_true(folio_test_anon(f));
	assert_false(folio_test_hugetlb(f));
	assert_folio(f, 1, 1, 1, 0, 0, 1);
	assert_int_equal(folio_page_pte_mapcount(f, 77), 0);
	assert_int_equal(folio_page_mapcount(f, 77), 1);
	assert_true(mt_lookup(mm, va + 77 * SZ_4K, &pg));
	assert_int_equal(pg.level, 1);
	assert_int_equal(pg.pfn, folio_pfn(f) + 77);
	assert_true(pg.write);
	assert_codes(mm, va, SZ_2M, "512:Hxw");
	return f;
}

/* An eligible aligned 2 MiB block in a MADV_HUGEPAGE region gets a PMD THP (§3.1, §9.2). */
static void test_thp_write_fault(void **state)
{
	struct mm_struct *mm;
	struct mm_stats st0, st1;
	uint64_t a;

	(void)state;
	mt_setup(NULL);
	assert_int_equal(mm_system_thp(mt.sys), MM_THP_MADVISE);
	mm = mt_proc(NULL);
	a = mt_anon_thp(mm, SZ_4M);
	st0 = mt_stats(mm);
	mt_memset(mm, a + SZ_2M + 12345, 0x77, 1);
	assert_codes(mm, a, SZ_4M, "512:-..,512:Hxw");
	assert_fresh_thp(mm, a + SZ_2M);
	st1 = mt_stats(mm);
	assert_int_equal(st1.thp_fault_alloc, st0.thp_fault_alloc + 1);
	assert_int_equal(st1.thp_fault_fallback, st0.thp_fault_fallback);
	assert_int_equal(st1.rss_anon, st0.rss_anon + 512);
	assert_int_equal(st1.anon_pages, st0.anon_pages);
	assert_int_equal(st1.notifications, st0.notifications);
	mt_expect(mm, a + SZ_2M, 0, 12345);
	mt_expect(mm, a + SZ_2M + 12345, 0x77, 1);
	mt_expect(mm, a + SZ_2M + 12346, 0, SZ_2M - 12346);
	/* Later writes in the block fault nothing new. */
	mt_memset(mm, a + SZ_2M, 0x21, SZ_2M);
	assert_fresh_thp(mm, a + SZ_2M);
	assert_int_equal(mt_stats(mm).thp_fault_alloc, st1.thp_fault_alloc);
	mt_teardown();
}

/* Blocks not inside the VMA, and blocks with a page table already, get 4 KiB pages. */
static void test_thp_ineligible(void **state)
{
	struct mm_struct *mm;
	uint64_t a, b, c;

	(void)state;
	mt_setup(NULL);
	mm = mt_proc(NULL);

	/* 3 MiB: the second block is cut by the VMA's end (§3.1.3). */
	a = mt_anon_thp(mm, 3 * SZ_1M);
	mt_memset(mm, a + SZ_2M + SZ_4K, 1, 1);
	assert_codes(mm, a, 3 * SZ_1M, "513:-..,1:pxw,254:-..");
	mt_memset(mm, a + 5, 2, 1);
	assert_codes(mm, a, 3 * SZ_1M, "512:Hxw,1:-..,1:pxw,254:-..");

	/* A VMA starting 4 KiB past a 2 MiB boundary: only the block inside it. */
	b = mt_mmap(mm, SZ_4M, RW, ANON, SZ_2M, SZ_4K);
	assert_int_equal(mm_madvise(mm, b, SZ_4M, MM_MADV_HUGEPAGE), 0);
	assert_mm_ok();
	mt_memset(mm, b + SZ_4K, 3, 1);
	mt_memset(mm, b - SZ_4K + SZ_2M, 4, 1);
	assert_codes(mm, b, SZ_4M, "1:-..,1:pxw,509:-..,512:Hxw,1:-..");

	/* A 4 KiB fault before MADV_HUGEPAGE leaves a page table: no THP there (§3.1.4). */
	c = mt_mmap(mm, SZ_4M, RW, ANON, SZ_2M, 0);
	mt_memset(mm, c, 5, 1);
	assert_codes(mm, c, SZ_4M, "1:pxw,1023:-..");
	assert_int_equal(mm_madvise(mm, c, SZ_4M, MM_MADV_HUGEPAGE), 0);
	assert_mm_ok();
	mt_memset(mm, c + SZ_4K, 6, 1);
	mt_memset(mm, c + SZ_2M + SZ_1M, 7, 1);
	assert_codes(mm, c, SZ_4M, "2:pxw,510:-..,512:Hxw");
	mt_expect(mm, c, 5, 1);
	mt_expect(mm, c + SZ_4K, 6, 1);
	mt_teardown();
}

/* thp=always, never and madvise; VM_NOHUGEPAGE; a runtime change of mode. */
static void test_thp_modes(void **state)
{
	struct mm_system_config cfg = { .thp = MM_THP_ALWAYS };
	struct mm_struct *mm;
	uint64_t a, b, c;
	struct mm_stats st;

	(void)state;
	mt_setup(&cfg);
	assert_int_equal(mm_system_thp(mt.sys), MM_THP_ALWAYS);
	mm = mt_proc(NULL);
	a = mt_mmap(mm, SZ_4M, RW, ANON, SZ_2M, 0);
	mt_memset(mm, a + SZ_2M + 3, 1, 1);
	assert_codes(mm, a, SZ_4M, "512:-..,512:Hxw");
	/* NOHUGEPAGE wins over always. */
	b = mt_mmap(mm, SZ_2M, RW, ANON, SZ_2M, 0);
	assert_int_equal(mm_madvise(mm, b, SZ_2M, MM_MADV_NOHUGEPAGE), 0);
	assert_mm_ok();
	mt_memset(mm, b, 1, 1);
	assert_codes(mm, b, SZ_2M, "1:pxw,511:-..");

	/* never: even MADV_HUGEPAGE gets 4 KiB pages, and that is no fallback. */
	assert_int_equal(mm_system_set_thp(mt.sys, MM_THP_NEVER), 0);
	assert_int_equal(mm_system_thp(mt.sys), MM_THP_NEVER);
	c = mt_anon_thp(mm, SZ_2M);
	st = mt_stats(mm);
	mt_memset(mm, c, 1, 1);
	mt_touch(mm, a);
	assert_codes(mm, c, SZ_2M, "1:pxw,511:-..");
	/* A read in never mode maps the 4 KiB zero page, not the huge one. */
	assert_codes(mm, a, SZ_2M, "1:z..,511:-..");
	assert_int_equal(mt_stats(mm).thp_fault_alloc, st.thp_fault_alloc);
	assert_int_equal(mt_stats(mm).thp_fault_fallback, st.thp_fault_fallback);
	assert_int_equal(mt_stats(mm).huge_zero_page, st.huge_zero_page);

	/* An unknown mode is refused and changes nothing. */
	assert_int_equal(mm_system_set_thp(mt.sys, (enum mm_thp_mode)77), -EINVAL);
	assert_int_equal(mm_system_thp(mt.sys), MM_THP_NEVER);

	/* madvise: only the MADV_HUGEPAGE region. */
	assert_int_equal(mm_system_set_thp(mt.sys, MM_THP_MADVISE), 0);
	a = mt_mmap(mm, SZ_2M, RW, ANON, SZ_2M, 0);
	mt_memset(mm, a, 1, 1);
	assert_codes(mm, a, SZ_2M, "1:pxw,511:-..");
	c = mt_anon_thp(mm, SZ_2M);
	mt_memset(mm, c, 1, 1);
	assert_codes(mm, c, SZ_2M, "512:Hxw");
	mt_teardown();
}

/* A read maps the huge zero PMD: one reference per mm, no mapcount (§3.2, §9.1). */
static void test_huge_zero_read(void **state)
{
	struct mm_struct *mm, *mm2;
	struct folio *hz;
	struct mm_stats st0;
	struct mt_page pg;
	uint64_t a, a2, idx;
	int ref;

	(void)state;
	mt_setup(NULL);
	mm = mt_proc(NULL);
	a = mt_anon_thp(mm, SZ_4M);
	st0 = mt_stats(mm);
	assert_int_equal(mt_touch(mm, a + SZ_2M + 5), 0);
	assert_codes(mm, a, SZ_4M, "512:-..,512:z..");
	hz = mt_folio(mm, a + SZ_2M, &idx);
	assert_int_equal(idx, 0);
	assert_true(is_huge_zero_folio(hz));
	assert_int_equal(folio_order(hz), 9);
	assert_true(mt_lookup(mm, a + SZ_2M + 9 * SZ_4K, &pg));
	assert_int_equal(pg.level, 1);
	assert_int_equal(pg.pfn, folio_pfn(hz) + 9);
	assert_false(pg.write);
	assert_int_equal(folio_mapcount(hz), 0);
	assert_int_equal(mt_stats(mm).huge_zero_page, st0.huge_zero_page + 1);
	assert_int_equal(mt_stats(mm).thp_fault_alloc, st0.thp_fault_alloc);
	assert_int_equal(mt_stats(mm).rss_anon, st0.rss_anon);
	ref = folio_ref_count(hz);
	assert_true(ref >= 1);

	/* A second PMD in the same mm: no new reference. */
	mt_touch(mm, a);
	assert_codes(mm, a, SZ_4M, "1024:z..");
	assert_ptr_equal(mt_folio(mm, a, NULL), hz);
	assert_int_equal(folio_ref_count(hz), ref);
	assert_int_equal(folio_mapcount(hz), 0);
	mt_expect(mm, a, 0, SZ_4M);

	/* Another mm takes one reference, and gives it back at exit. */
	mm2 = mt_proc(NULL);
	a2 = mt_anon_thp(mm2, SZ_2M);
	mt_touch(mm2, a2);
	assert_ptr_equal(mt_folio(mm2, a2, NULL), hz);
	assert_int_equal(folio_ref_count(hz), ref + 1);
	mt_touch(mm2, a2 + SZ_1M);
	assert_int_equal(folio_ref_count(hz), ref + 1);
	mt_exit(mm2);
	assert_int_equal(folio_ref_count(hz), ref);
	mt_teardown();
}

/*
 * A write to the huge zero PMD, per profile: 6.13+ allocates a THP in its
 * place; older kernels split it into 4 KiB zero-page PTEs and COW one page
 * (§3.2, §0 rule 7).
 */
static void test_huge_zero_write(void **state)
{
	const struct mm_profile *const *pp;
	struct folio *f;
	struct mm_struct *mm;
	struct mm_stats st0, st1;
	unsigned int tested = 0;
	bool new_style;
	uint64_t a;
	int v;

	(void)state;
	mt_setup(NULL);
	for (pp = mm_profiles; *pp; pp++) {
		v = mt_profile_version((*pp)->name);
		assert_true(v > 0);
		new_style = v >= 613;
		mm = mt_proc(*pp);
		a = mt_anon_thp(mm, SZ_2M);
		mt_touch(mm, a + 3 * SZ_4K);
		assert_codes(mm, a, SZ_2M, "512:z..");
		st0 = mt_stats(mm);
		mt_memset(mm, a + 3 * SZ_4K + 1, 0x42, 2);
		st1 = mt_stats(mm);
		if (new_style) {
			assert_codes(mm, a, SZ_2M, "512:Hxw");
			f = assert_fresh_thp(mm, a);
			assert_false(is_huge_zero_folio(f));
			assert_int_equal(st1.thp_split_pmd, st0.thp_split_pmd);
			assert_int_equal(st1.rss_anon, st0.rss_anon + 512);
		} else {
			assert_codes(mm, a, SZ_2M, "3:z..,1:pxw,508:z..");
			/* The other PTEs map the 4 KiB zero page, not the huge one's pages. */
			assert_pfn_is_zero_page(mm, a);
			assert_pfn_is_zero_page(mm, a + 4 * SZ_4K);
			assert_pfn_is_zero_page(mm, a + 511 * SZ_4K);
			f = mt_folio(mm, a + 3 * SZ_4K, NULL);
			assert_int_equal(folio_order(f), 0);
			assert_folio(f, 1, 1, 0, 0, 1, 1);
			assert_int_equal(st1.thp_split_pmd, st0.thp_split_pmd + 1);
			assert_int_equal(st1.rss_anon, st0.rss_anon + 1);
		}
		mt_expect(mm, a, 0, 3 * SZ_4K + 1);
		mt_expect(mm, a + 3 * SZ_4K + 1, 0x42, 2);
		mt_expect(mm, a + 3 * SZ_4K + 3, 0, SZ_2M - 3 * SZ_4K - 3);
		mt_exit(mm);
		tested++;
	}
	assert_true(tested >= 2);
	mt_teardown();
}

/* The profile table encodes the kernel versions of §11/§12.12. */
static void test_profiles(void **state)
{
	const struct mm_profile *const *pp;
	const struct mm_profile *p;
	int v, prev = 100000;
	bool seen_57 = false;

	(void)state;
	assert_ptr_equal(mm_profile_find("current"), &mm_profile_current);
	assert_ptr_equal(mm_profiles[0], &mm_profile_current);
	assert_null(mm_profile_find("no-such-kernel"));
	assert_null(mm_profile_find(""));
	for (pp = mm_profiles; *pp; pp++) {
		p = *pp;
		assert_non_null(p->name);
		assert_ptr_equal(mm_profile_find(p->name), p);
		v = mt_profile_version(p->name);
		assert_true(v > 0);
		/* Newest first. */
		assert_true(v < prev);
		prev = v;
		if (!strcmp(p->name, "5.7"))
			seen_57 = true;
		assert_int_equal(p->thp_cow_copy_huge, v < 508);
		assert_int_equal(p->huge_zero_wp_thp, v >= 613);
		assert_int_equal(p->large_folio_reuse, v >= 615);
		assert_int_equal(p->exclusive_mapcount, v >= 615);
		/* MADV_DONTNEED of hugetlb came with 5.18 (the end rounded down with 6.1). */
		assert_int_equal(p->hugetlb_dontneed, v >= 518);
		assert_int_equal(p->device_free_at_one, v < 518);
		assert_int_equal(p->dontneed_frees_tables, v >= 613);
		assert_int_equal(p->anon_align, v < 607 ? MM_ALIGN_NONE :
				 v < 612 ? MM_ALIGN_LARGE : MM_ALIGN_PMD_MULTIPLE);
	}
	assert_true(seen_57);
}

/* Anonymous placement per profile (§3.1): 2 MiB-aligned where the profile says so. */
static void test_profile_anon_align(void **state)
{
	const struct mm_profile *const *pp;
	struct mm_struct *mm;
	uint64_t a;
	int i;

	(void)state;
	mt_setup(NULL);
	for (pp = mm_profiles; *pp; pp++) {
		mm = mt_proc(*pp);
		for (i = 0; i < 3; i++) {
			/* Odd-sized neighbours so that luck does not align the next one. */
			mt_anon(mm, SZ_4K * (i + 1));
			a = mt_anon(mm, SZ_4M);
			if ((*pp)->anon_align != MM_ALIGN_NONE)
				assert_int_equal(a & (SZ_2M - 1), 0);
			a = mt_anon(mm, 3 * SZ_1M);
			if ((*pp)->anon_align == MM_ALIGN_LARGE)
				assert_int_equal(a & (SZ_2M - 1), 0);
		}
		/* Current Linux: a 2 MiB-multiple region gets THPs with no alignment asked. */
		if ((*pp)->anon_align == MM_ALIGN_PMD_MULTIPLE) {
			a = mt_anon(mm, SZ_4M);
			assert_int_equal(mm_madvise(mm, a, SZ_4M, MM_MADV_HUGEPAGE), 0);
			assert_mm_ok();
			mt_memset(mm, a, 1, SZ_4M);
			assert_codes(mm, a, SZ_4M, "1024:Hxw");
		}
		mt_exit(mm);
	}
	mt_teardown();
}

/* A fragmented pool: the THP allocation fails and the fault falls back to 4 KiB (§3.1.5). */
static void test_thp_fallback(void **state)
{
	struct phys_pool_stats ps0, ps1;
	struct mm_struct *mm;
	struct mm_stats st0, st1;
	struct folio *f;
	char code[4];
	int64_t taken;
	uint64_t a, b;

	(void)state;
	mt_setup(NULL);
	mm = mt_proc(NULL);
	a = mt_anon_thp(mm, SZ_4M);
	taken = phys_pool_fragment(mt_pool(), 8);
	assert_true(taken > 0);
	assert_true(phys_pool_max_free_order(mt_pool()) <= 8);
	phys_pool_stats(mt_pool(), &ps0);
	st0 = mt_stats(mm);
	mt_memset(mm, a + 5 * SZ_4K + 9, 0x33, 4);
	st1 = mt_stats(mm);
	phys_pool_stats(mt_pool(), &ps1);
	assert_codes(mm, a, SZ_4M, "5:-..,1:pxw,1018:-..");
	f = mt_folio(mm, a + 5 * SZ_4K, NULL);
	assert_int_equal(folio_order(f), 0);
	assert_folio(f, 1, 1, 0, 0, 1, 1);
	assert_int_equal(st1.thp_fault_fallback, st0.thp_fault_fallback + 1);
	assert_int_equal(st1.thp_fault_alloc, st0.thp_fault_alloc);
	assert_int_equal(st1.anon_pages, st0.anon_pages + 1);
	assert_int_equal(st1.rss_anon, st0.rss_anon + 1);
	assert_true(ps1.failures[9] > ps0.failures[9]);
	mt_expect(mm, a + 5 * SZ_4K, 0, 9);
	mt_expect(mm, a + 5 * SZ_4K + 9, 0x33, 4);
	mt_expect(mm, a + 5 * SZ_4K + 13, 0, SZ_4K - 13);
	/* More writes in the block keep falling back to small pages. */
	mt_memset(mm, a, 0x44, SZ_16K);
	mt_expect(mm, a, 0x44, SZ_16K);
	mt_code(mm, a + 3 * SZ_4K, code);
	assert_string_equal(code, "pxw");
	/* A read maps a zero page, whatever the huge zero folio's fate. */
	mt_touch(mm, a + SZ_2M + SZ_4K);
	mt_code(mm, a + SZ_2M + SZ_4K, code);
	assert_int_equal(code[0], 'z');
	assert_mm_ok();

	/* Memory back in one piece: THPs again. */
	phys_pool_unfragment(mt_pool());
	b = mt_anon_thp(mm, SZ_2M);
	mt_memset(mm, b + 1, 0x55, 1);
	assert_fresh_thp(mm, b);
	mt_teardown();
}

/* PROT_NONE and read-only regions: -EFAULT, nothing mapped or changed. */
static void test_fault_permissions(void **state)
{
	struct mm_struct *mm;
	uint64_t n, r, w, sum;
	char buf[64];
	struct mt_page pg;

	(void)state;
	mt_setup(NULL);
	mm = mt_proc(NULL);
	n = mt_mmap(mm, SZ_16K, MM_PROT_NONE, ANON, 0, 0);
	assert_int_equal(mm_read(mm, n, buf, 1), -EFAULT);
	assert_mm_ok();
	assert_int_equal(mm_write(mm, n + SZ_4K, buf, 8), -EFAULT);
	assert_mm_ok();
	assert_int_equal(mm_memset(mm, n, 1, SZ_16K), -EFAULT);
	assert_mm_ok();
	assert_int_equal(mm_read_sum(mm, n, SZ_4K, &sum), -EFAULT);
	assert_mm_ok();
	assert_codes(mm, n, SZ_16K, "4:-..");
	assert_int_equal(mt_stats(mm).rss_anon, 0);

	r = mt_mmap(mm, SZ_16K, MM_PROT_READ, ANON, 0, 0);
	assert_int_equal(mm_write(mm, r, "x", 1), -EFAULT);
	assert_mm_ok();
	assert_codes(mm, r, SZ_16K, "4:-..");
	mt_expect(mm, r, 0, SZ_16K);
	assert_int_equal(mm_memset(mm, r + SZ_4K, 9, 1), -EFAULT);
	assert_mm_ok();
	assert_codes(mm, r, SZ_16K, "4:z..");
	mt_expect(mm, r, 0, SZ_16K);

	/* rw then ro: the pages before the faulting one are written. */
	w = mt_anon(mm, SZ_16K);
	assert_int_equal(mm_mprotect(mm, w + SZ_8K, SZ_8K, MM_PROT_READ), 0);
	assert_mm_ok();
	assert_int_equal(mm_memset(mm, w, 0x61, SZ_16K), -EFAULT);
	assert_mm_ok();
	assert_codes(mm, w, SZ_16K, "2:pxw,2:-..");
	mt_expect(mm, w, 0x61, SZ_8K);
	mt_expect(mm, w + SZ_8K, 0, SZ_8K);

	/* No VMA at all. */
	assert_int_equal(mm_read(mm, 0, buf, 1), -EFAULT);
	assert_mm_ok();
	assert_int_equal(mm_write(mm, MM_TASK_SIZE - SZ_4K, buf, 1), -EFAULT);
	assert_mm_ok();
	assert_int_equal(mm_munmap(mm, w + SZ_4K, SZ_4K), 0);
	assert_mm_ok();
	assert_int_equal(mm_read(mm, w, buf, sizeof(buf)), 0);
	assert_mm_ok();
	assert_int_equal(mm_read_sum(mm, w, SZ_8K, &sum), -EFAULT);
	assert_mm_ok();
	assert_int_equal(mm_write(mm, w + SZ_4K, buf, 1), -EFAULT);
	assert_mm_ok();
	assert_false(mt_lookup(mm, w + SZ_4K, &pg));
	mt_teardown();
}

/* handle_mm_fault() called directly: flags, bounds and VMA permissions. */
static void test_handle_mm_fault(void **state)
{
	struct vm_area_struct *vma;
	struct mm_struct *mm;
	uint64_t a, n, r;

	(void)state;
	mt_setup(NULL);
	mm = mt_proc(NULL);
	a = mt_anon(mm, SZ_16K);
	n = mt_mmap(mm, SZ_4K, MM_PROT_NONE, ANON, 0, 0);
	r = mt_mmap(mm, SZ_4K, MM_PROT_READ, ANON, 0, 0);

	mmap_read_lock(mm);
	vma = vma_lookup(mm, a);
	assert_non_null(vma);
	assert_int_equal(vma_start(vma), a);
	assert_int_equal(vma_end(vma), a + SZ_16K);
	assert_true(vma_flags(vma) & VM_READ);
	assert_true(vma_flags(vma) & VM_WRITE);
	assert_false(vma_flags(vma) & VM_SHARED);
	assert_ptr_equal(vma_mm(vma), mm);
	assert_int_equal(vma_hugetlb_shift(vma), 0);
	assert_int_equal(handle_mm_fault(vma, a, 1u << 12), -EINVAL);
	assert_int_equal(handle_mm_fault(vma, a + SZ_16K, 0), -EINVAL);
	assert_int_equal(handle_mm_fault(vma, a - SZ_4K, FAULT_FLAG_WRITE), -EINVAL);
	assert_int_equal(handle_mm_fault(vma, a + SZ_4K, FAULT_FLAG_WRITE | FAULT_FLAG_REMOTE), 0);
	assert_int_equal(handle_mm_fault(vma, a, 0), 0);
	/* Faulting what is there already is fine. */
	assert_int_equal(handle_mm_fault(vma, a + SZ_4K, FAULT_FLAG_WRITE), 0);
	vma = vma_lookup(mm, n);
	assert_non_null(vma);
	assert_int_equal(handle_mm_fault(vma, n, 0), -EFAULT);
	assert_int_equal(handle_mm_fault(vma, n, FAULT_FLAG_WRITE), -EFAULT);
	vma = vma_lookup(mm, r);
	assert_non_null(vma);
	assert_int_equal(handle_mm_fault(vma, r, FAULT_FLAG_WRITE), -EFAULT);
	assert_int_equal(handle_mm_fault(vma, r, 0), 0);
	assert_null(vma_lookup(mm, a + SZ_16K + 100 * SZ_1M));
	mmap_read_unlock(mm);
	assert_mm_ok();
	assert_codes(mm, a, SZ_16K, "1:z..,1:pxw,2:-..");
	assert_codes(mm, n, SZ_4K, "1:-..");
	assert_codes(mm, r, SZ_4K, "1:z..");
	mt_teardown();
}

/* hugetlb 2 MiB: reservation at mmap, pages from the pool on faults (§5, §2.3 last row). */
static void test_hugetlb_2m(void **state)
{
	struct mm_system_config cfg = { .hugetlb_2m = 4 };
	struct phys_hugetlb_stats hs;
	struct mm_mmap_args args = {
		.len = 6 * SZ_1M, .prot = RW,
		.flags = ANON | MM_MAP_HUGETLB | MM_MAP_HUGE_2MB,
	};
	struct mt_vma v[4];
	struct mm_struct *mm;
	struct mm_stats st0;
	struct mt_snap snap;
	struct folio *f;
	struct mt_page pg;
	uint64_t a, b, c = 0;

	(void)state;
	mt_setup(&cfg);
	assert_non_null(mm_system_hugetlb(mt.sys));
	mm = mt_proc(NULL);
	a = mt_hugetlb(mm, SZ_4M, 21);
	assert_int_equal(mt_vmas(mm, a, a + SZ_4M, v, 4), 1);
	assert_int_equal(v[0].start, a);
	assert_int_equal(v[0].end, a + SZ_4M);
	assert_true(v[0].flags & VM_HUGETLB);
	assert_int_equal(v[0].hugetlb_shift, 21);
	phys_hugetlb_stats(mm_system_hugetlb(mt.sys), &hs);
	assert_int_equal(hs.total[0], 4);
	assert_int_equal(hs.free[0], 4);
	assert_int_equal(hs.reserved[0], 2);
	assert_codes(mm, a, SZ_4M, "1024:-..");

	st0 = mt_stats(mm);
	mt_memset(mm, a + SZ_2M + 5, 0x3c, 3);
	assert_codes(mm, a, SZ_4M, "512:-..,512:Hxw");
	f = mt_folio(mm, a + SZ_2M, NULL);
	assert_true(folio_test_hugetlb(f));
	assert_int_equal(folio_order(f), 9);
	assert_folio(f, 1, 1, 1, 0, 0, 1);
	assert_true(mt_lookup(mm, a + SZ_2M + SZ_1M, &pg));
	assert_int_equal(pg.level, 1);
	assert_int_equal(pg.pfn, folio_pfn(f) + 256);
	assert_int_equal(mt_stats(mm).hugetlb_faults, st0.hugetlb_faults + 1);
	assert_int_equal(mt_stats(mm).thp_fault_alloc, st0.thp_fault_alloc);
	phys_hugetlb_stats(mm_system_hugetlb(mt.sys), &hs);
	assert_int_equal(hs.free[0], 3);
	assert_int_equal(hs.reserved[0], 1);
	mt_expect(mm, a + SZ_2M, 0, 5);
	mt_expect(mm, a + SZ_2M + 5, 0x3c, 3);
	mt_expect(mm, a + SZ_2M + 8, 0, SZ_2M - 8);

	/* A read fault allocates too: there is no hugetlb zero page. */
	mt_touch(mm, a + 17);
	assert_true(mt_lookup(mm, a, &pg));
	assert_int_equal(pg.level, 1);
	assert_non_null(pg.folio);
	assert_true(folio_test_hugetlb(pg.folio));
	assert_int_equal(mt_hugetlb_free(0), 2);

	/* More than the pool can reserve: -ENOMEM, nothing changed. */
	b = mt_anon(mm, SZ_4K);
	mt_memset(mm, b, 0x10, SZ_4K);
	mt_snap_take(mm, a, a + SZ_4M, &snap);
	assert_int_equal(mm_mmap(mm, &args, &c), -ENOMEM);
	assert_snap_same(mm, a, a + SZ_4M, &snap);
	mt_expect(mm, b, 0x10, SZ_4K);
	mt_snap_free(&snap);

	/* munmap gives the pages back. */
	assert_int_equal(mm_munmap(mm, a, SZ_4M), 0);
	assert_mm_ok();
	phys_hugetlb_stats(mm_system_hugetlb(mt.sys), &hs);
	assert_int_equal(hs.free[0], 4);
	assert_int_equal(hs.reserved[0], 0);
	mt_teardown();
}

/*
 * A device-exclusive entry restored after an mprotect takes the VMA's
 * protection now (restore_exclusive_pte made it writable and readable
 * whatever the VMA said: a write to a read-only mapping went through).
 */
static void test_exclusive_restore_prot(void **state)
{
	struct mm_struct *mm, *c;
	struct folio *f = NULL;
	uint8_t byte = 9;
	uint64_t a;

	(void)state;
	mt_setup(NULL);
	mm = mt_proc(NULL);
	a = mt_anon(mm, SZ_16K);
	mt_memset(mm, a, 0x71, SZ_16K);
	/* Exclusive, then read-only: a read restores a read-only entry. */
	mmap_read_lock(mm);
	assert_int_equal(make_device_exclusive(mm, a, NULL, &f), 0);
	mmap_read_unlock(mm);
	folio_unlock(f);
	folio_put(f);
	assert_int_equal(mm_mprotect(mm, a, SZ_16K, MM_PROT_READ), 0);
	mt_expect(mm, a, 0x71, SZ_4K);
	assert_mm_ok();
	assert_int_equal(mm_write(mm, a, &byte, 1), -EFAULT);
	mt_expect(mm, a, 0x71, SZ_4K);
	/* Exclusive, then PROT_NONE: fork restores it, inaccessible on both sides. */
	assert_int_equal(mm_mprotect(mm, a, SZ_16K, MM_PROT_READ | MM_PROT_WRITE), 0);
	mmap_read_lock(mm);
	assert_int_equal(make_device_exclusive(mm, a + SZ_4K, NULL, &f), 0);
	mmap_read_unlock(mm);
	folio_unlock(f);
	folio_put(f);
	assert_int_equal(mm_mprotect(mm, a, SZ_16K, MM_PROT_NONE), 0);
	c = mt_fork(mm);
	assert_int_equal(mm_read(mm, a + SZ_4K, &byte, 1), -EFAULT);
	assert_int_equal(mm_read(c, a + SZ_4K, &byte, 1), -EFAULT);
	assert_int_equal(mm_mprotect(c, a, SZ_16K, MM_PROT_READ), 0);
	mt_expect(c, a + SZ_4K, 0x71, SZ_4K);
	mt_teardown();
}

static void assert_hugetlb_pool_at(uint64_t free, uint64_t reserved, const char *file, int line)
{
	struct phys_hugetlb_stats hs;

	phys_hugetlb_stats(mm_system_hugetlb(mt.sys), &hs);
	if (hs.free[0] != free || hs.reserved[0] != reserved) {
		print_error("hugetlb pool: %" PRIu64 " free, %" PRIu64 " reserved; expected %"
			    PRIu64 ", %" PRIu64 "\n", hs.free[0], hs.reserved[0], free, reserved);
		_fail(file, line);
	}
	mt_check_at(file, line);
}
#define assert_hugetlb_pool(free, reserved) \
	assert_hugetlb_pool_at((free), (reserved), __FILE__, __LINE__)

/*
 * Shared hugetlb (shared-hugetlb-resv): the mmap reserves per page of the
 * file, and a fault of a reserved page uses the reservation, even when the
 * rest of the pool is gone. The reservations are the file's: a fork child's
 * faults use them, they outlive the parent's munmap and exit, and they go
 * with the file (its last mapping).
 */
static void test_hugetlb_shared_resv(void **state)
{
	struct mm_system_config cfg = { .hugetlb_2m = 3 };
	const unsigned int shared = MM_MAP_SHARED | MM_MAP_ANONYMOUS | MM_MAP_HUGETLB |
				    MM_MAP_HUGE_2MB;
	struct mm_mmap_args args = {
		.len = SZ_2M, .prot = RW, .flags = ANON | MM_MAP_HUGETLB | MM_MAP_HUGE_2MB,
	};
	struct mm_struct *mm, *c;
	uint64_t s, p, out = 0;

	(void)state;
	mt_setup(&cfg);
	mm = mt_proc(NULL);
	s = mt_mmap(mm, SZ_4M, RW, shared, 0, 0);
	assert_hugetlb_pool(3, 2);
	p = mt_hugetlb(mm, SZ_2M, 21);
	mt_memset(mm, p, 0x11, SZ_2M);
	/* Nothing unreserved is left: the shared faults live on their reservations. */
	assert_hugetlb_pool(2, 2);
	mt_memset(mm, s, 0x22, SZ_2M);
	assert_hugetlb_pool(1, 1);
	/* The child maps the same file: its fault uses the file's reservation. */
	c = mt_fork(mm);
	mt_memset(c, s + SZ_2M, 0x33, SZ_2M);
	assert_hugetlb_pool(0, 0);
	mt_expect(mm, s, 0x22, SZ_2M);
	mt_expect(mm, s + SZ_2M, 0x33, SZ_2M);
	mt_expect(c, s, 0x22, SZ_2M);
	mt_exit(c);
	assert_int_equal(mm_munmap(mm, s, SZ_4M), 0);
	assert_hugetlb_pool(2, 0);

	/* The parent unmaps and exits before the child faults: the file keeps them. */
	s = mt_mmap(mm, SZ_4M, RW, shared, 0, 0);
	assert_hugetlb_pool(2, 2);
	c = mt_fork(mm);
	assert_int_equal(mm_munmap(mm, s + SZ_2M, SZ_2M), 0);
	assert_hugetlb_pool(2, 2);
	assert_int_equal(mm_mmap(mm, &args, &out), -ENOMEM);
	assert_int_equal(out, 0);
	/* (The child still maps the parent's private page: copy-on-write.) */
	mt_exit(mm);
	assert_hugetlb_pool(2, 2);
	mt_memset(c, s + SZ_2M, 0x44, SZ_2M);
	mt_memset(c, s, 0x55, SZ_2M);
	assert_hugetlb_pool(0, 0);
	mt_expect(c, p, 0x11, SZ_2M);
	/* munmap of the last mapping releases the file: its pages go back. */
	assert_int_equal(mm_munmap(c, s, SZ_4M), 0);
	assert_hugetlb_pool(2, 0);
	mt_teardown();
}

/* A hugetlb length rounds up to the huge page size (mm.h, struct mm_mmap_args). */
static void test_hugetlb_len_rounding(void **state)
{
	struct mm_system_config cfg = { .hugetlb_2m = 2 };
	struct mm_struct *mm;
	struct mt_vma v[2];
	uint64_t a;

	(void)state;
	mt_setup(&cfg);
	mm = mt_proc(NULL);
	a = mt_hugetlb(mm, 3 * SZ_1M, 21);
	assert_int_equal(mt_vmas(mm, a, a + SZ_4M, v, 2), 1);
	assert_int_equal(v[0].end - v[0].start, SZ_4M);
	mt_memset(mm, a + SZ_4M - 1, 1, 1);
	assert_codes(mm, a, SZ_4M, "512:-..,512:Hxw");
	mt_teardown();
}

/* hugetlb 1 GiB: a PUD leaf. Metadata-only frames: no gigabyte to zero. */
static void test_hugetlb_1g(void **state)
{
	struct mm_system_config cfg = {
		.ram = 2 * SZ_1G, .hugetlb_1g = 1, .metadata_only = true,
	};
	struct mm_mmap_args args = {
		.len = SZ_1G, .prot = RW, .flags = ANON | MM_MAP_HUGETLB | MM_MAP_HUGE_1GB,
	};
	struct mm_struct *mm;
	struct mt_page pg;
	struct folio *f;
	uint64_t a, b = 0;

	(void)state;
	mt_setup(&cfg);
	mm = mt_proc(NULL);
	a = mt_hugetlb(mm, SZ_1G, 30);
	assert_int_equal(mt_hugetlb_free(1), 1);
	mt_memset(mm, a + 5 * SZ_1M, 1, 1);
	assert_codes(mm, a, SZ_1G, "262144:Hxw");
	assert_true(mt_lookup(mm, a + 7 * SZ_4K, &pg));
	assert_int_equal(pg.level, 2);
	f = pg.folio;
	assert_non_null(f);
	assert_int_equal(pg.pfn, folio_pfn(f) + 7);
	assert_true(folio_test_hugetlb(f));
	assert_int_equal(folio_order(f), 18);
	assert_folio(f, 1, 1, 1, 0, 0, 1);
	assert_int_equal(mt_hugetlb_free(1), 0);
	/* The pool is empty: a second mapping cannot reserve. */
	assert_int_equal(mm_mmap(mm, &args, &b), -ENOMEM);
	assert_mm_ok();
	/* No 2 MiB pages in this system. */
	args.len = SZ_2M;
	args.flags = ANON | MM_MAP_HUGETLB | MM_MAP_HUGE_2MB;
	assert_int_equal(mm_mmap(mm, &args, &b), -ENOMEM);
	assert_mm_ok();
	assert_int_equal(mm_munmap(mm, a, SZ_1G), 0);
	assert_mm_ok();
	assert_int_equal(mt_hugetlb_free(1), 1);
	mt_teardown();
}

/* No hugetlb pool at all: mmap fails cleanly. */
static void test_hugetlb_empty_pool(void **state)
{
	struct mm_mmap_args args = {
		.len = SZ_2M, .prot = RW, .flags = ANON | MM_MAP_HUGETLB | MM_MAP_HUGE_2MB,
	};
	struct mm_struct *mm;
	struct mt_snap snap;
	uint64_t a, b = 0;

	(void)state;
	mt_setup(NULL);
	mm = mt_proc(NULL);
	a = mt_anon(mm, SZ_64K);
	mt_memset(mm, a, 1, SZ_8K);
	mt_snap_take(mm, a, a + SZ_64K, &snap);
	assert_int_equal(mm_mmap(mm, &args, &b), -ENOMEM);
	args.len = SZ_1G;
	args.flags = ANON | MM_MAP_HUGETLB | MM_MAP_HUGE_1GB;
	assert_int_equal(mm_mmap(mm, &args, &b), -ENOMEM);
	assert_snap_same(mm, a, a + SZ_64K, &snap);
	assert_int_equal(mt_stats(mm).vmas, 1);
	mt_snap_free(&snap);
	mt_teardown();
}

/*
 * Shared and private file mappings: the page cache folio is mapped (refcount
 * = cache + mappings, §2.3), a private write copies it into an anon page.
 */
static void test_file_mappings(void **state)
{
	struct mm_mmap_args args = { .len = SZ_64K, .prot = RW, .flags = MM_MAP_SHARED };
	struct phys_file *file = NULL;
	struct mm_struct *mm, *c;
	struct folio *f, *pf;
	uint64_t s = 0, p = 0;
	uint8_t buf[16];
	char code[4];

	(void)state;
	mt_setup(NULL);
	assert_int_equal(phys_file_create(mt_pool(), SZ_64K, &file), 0);
	assert_int_equal(phys_file_write(file, SZ_4K, "cached", 6), 0);
	mm = mt_proc(NULL);
	args.file = file;
	assert_int_equal(mm_mmap(mm, &args, &s), 0);
	assert_mm_ok();

	/* A shared write lands in the page cache. */
	mt_memset(mm, s + 10, 0x5f, 4);
	f = mt_folio(mm, s, NULL);
	assert_false(folio_test_anon(f));
	assert_ptr_equal(folio_file(f), file);
	assert_int_equal(folio_ref_count(f), folio_cache_refs(f) + 1);
	assert_int_equal(folio_mapcount(f), 1);
	mt_code(mm, s, code);
	assert_string_equal(code, "pxw");
	assert_int_equal(phys_file_read(file, 10, buf, 4), 0);
	assert_memory_equal(buf, "\x5f\x5f\x5f\x5f", 4);
	assert_int_equal(mt_stats(mm).rss_file, 1);
	/* A read maps the cached page, not the zero page. */
	assert_int_equal(mm_read(mm, s + SZ_4K, buf, 6), 0);
	assert_memory_equal(buf, "cached", 6);
	mt_code(mm, s + SZ_4K, code);
	assert_int_equal(code[0], 'p');
	assert_int_equal(code[1], 'x');
	assert_mm_ok();

	/* A private mapping of the same file: read the cache, write a private copy. */
	args.flags = MM_MAP_PRIVATE;
	assert_int_equal(mm_mmap(mm, &args, &p), 0);
	assert_mm_ok();
	assert_int_equal(mm_read(mm, p + 10, buf, 4), 0);
	assert_memory_equal(buf, "\x5f\x5f\x5f\x5f", 4);
	assert_ptr_equal(mt_folio(mm, p, NULL), f);
	assert_int_equal(folio_mapcount(f), 2);
	assert_int_equal(folio_ref_count(f), folio_cache_refs(f) + 2);
	mt_code(mm, p, code);
	assert_string_equal(code, "p..");
	mt_memset(mm, p + 10, 0x60, 1);
	pf = mt_folio(mm, p, NULL);
	assert_ptr_not_equal(pf, f);
	assert_true(folio_test_anon(pf));
	assert_folio(pf, 1, 1, 0, 0, 1, 1);
	assert_int_equal(folio_mapcount(f), 1);
	assert_int_equal(folio_ref_count(f), folio_cache_refs(f) + 1);
	mt_expect(mm, p + 10, 0x60, 1);
	mt_expect(mm, p + 11, 0x5f, 3);
	mt_expect(mm, s + 10, 0x5f, 4);
	assert_int_equal(phys_file_read(file, 10, buf, 1), 0);
	assert_int_equal(buf[0], 0x5f);

	/* fork: the shared mapping stays shared, the private copy is COW. */
	c = mt_fork(mm);
	mt_memset(c, s + 20, 0x61, 1);
	mt_expect(mm, s + 20, 0x61, 1);
	mt_memset(mm, s + 21, 0x62, 1);
	mt_expect(c, s + 21, 0x62, 1);
	mt_expect(c, p + 10, 0x60, 1);
	mt_memset(c, p + 10, 0x63, 1);
	mt_expect(mm, p + 10, 0x60, 1);
	assert_int_equal(folio_ref_count(f), folio_cache_refs(f) + folio_mapcount(f));
	mt_exit(c);

	/* munmap drops the mappings; the cache keeps its page. */
	assert_int_equal(mm_munmap(mm, s, SZ_64K), 0);
	assert_int_equal(mm_munmap(mm, p, SZ_64K), 0);
	assert_mm_ok();
	assert_int_equal(folio_mapcount(f), 0);
	assert_int_equal(folio_ref_count(f), folio_cache_refs(f));
	assert_int_equal(mt_stats(mm).rss_file, 0);
	mt_exit(mm);
	phys_file_put(file);
	mt_teardown();
}

/* Shared anonymous memory: one copy, seen by parent and child alike. */
static void test_shared_anon(void **state)
{
	struct mm_struct *mm, *c;
	struct folio *f;
	char code[4];
	uint64_t s;

	(void)state;
	mt_setup(NULL);
	mm = mt_proc(NULL);
	s = mt_mmap(mm, SZ_64K, RW, MM_MAP_SHARED | MM_MAP_ANONYMOUS, 0, 0);
	mt_memset(mm, s, 0x71, SZ_8K);
	f = mt_folio(mm, s, NULL);
	assert_false(folio_test_anon(f));
	c = mt_fork(mm);
	mt_expect(c, s, 0x71, SZ_8K);
	mt_memset(c, s + SZ_4K, 0x72, 1);
	mt_expect(mm, s + SZ_4K, 0x72, 1);
	assert_ptr_equal(mt_folio(c, s, NULL), f);
	assert_int_equal(mt_pfn(c, s + SZ_4K), mt_pfn(mm, s + SZ_4K));
	mt_code(c, s, code);
	assert_int_equal(code[0], 'p');
	assert_int_equal(code[1], '.');
	assert_int_equal(folio_mapcount(f), 2);
	mt_exit(c);
	assert_int_equal(folio_mapcount(f), 1);
	mt_expect(mm, s + SZ_4K, 0x72, 1);
	mt_teardown();
}

/* mm_dump() input checks and one literal string. */
static void test_dump_format(void **state)
{
	struct mm_struct *mm;
	char buf[256], expect[256];
	uint64_t a, pfn;
	int ret;

	(void)state;
	mt_setup(NULL);
	mm = mt_proc(NULL);
	a = mt_anon_thp(mm, SZ_4M);
	assert_int_equal(mm_madvise(mm, a + SZ_2M, SZ_2M, MM_MADV_NOHUGEPAGE), 0);
	assert_mm_ok();
	mt_memset(mm, a, 1, 1);
	mt_memset(mm, a + SZ_2M + SZ_1M, 2, 1);
	pfn = mt_pfn(mm, a);
	ret = mm_dump(mm, a, SZ_4M + 0, buf, sizeof(buf));
	assert_true(ret > 0);
	/* DESIGN.md: 512 pages of one PMD leaf, then one page, then holes. */
	if (strstr(buf, "@0x"))
		snprintf(expect, sizeof(expect), "512:Hxw@%#" PRIx64 ",256:-..@-,1:pxw@%#" PRIx64
			 ",255:-..@-", pfn, mt_pfn(mm, a + SZ_2M + SZ_1M));
	else
		snprintf(expect, sizeof(expect), "512:Hxw@%" PRIu64 ",256:-..@-,1:pxw@%" PRIu64
			 ",255:-..@-", pfn, mt_pfn(mm, a + SZ_2M + SZ_1M));
	assert_string_equal(buf, expect);
	assert_int_equal(ret, (int)strlen(expect));
	mt_dump(mm, a - SZ_2M, 3 * SZ_2M);
	assert_int_equal(mm_dump(mm, a + 1, SZ_4K, buf, sizeof(buf)), -EINVAL);
	assert_mm_ok();
	mt_teardown();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_fault_zero_page),
		cmocka_unit_test(test_write_fault_order0),
		cmocka_unit_test(test_thp_write_fault),
		cmocka_unit_test(test_thp_ineligible),
		cmocka_unit_test(test_thp_modes),
		cmocka_unit_test(test_huge_zero_read),
		cmocka_unit_test(test_huge_zero_write),
		cmocka_unit_test(test_profiles),
		cmocka_unit_test(test_profile_anon_align),
		cmocka_unit_test(test_thp_fallback),
		cmocka_unit_test(test_fault_permissions),
		cmocka_unit_test(test_handle_mm_fault),
		cmocka_unit_test(test_hugetlb_2m),
		cmocka_unit_test(test_hugetlb_len_rounding),
		cmocka_unit_test(test_hugetlb_shared_resv),
		cmocka_unit_test(test_exclusive_restore_prot),
		cmocka_unit_test(test_hugetlb_1g),
		cmocka_unit_test(test_hugetlb_empty_pool),
		cmocka_unit_test(test_file_mappings),
		cmocka_unit_test(test_shared_anon),
		cmocka_unit_test(test_dump_format),
	};
	int ret;

	hmmsim_thread_register();
	ret = cmocka_run_group_tests_name("mm_fault", tests, NULL, NULL);
	hmmsim_thread_unregister();
	return ret;
}
