// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * mm_cow: fork and copy-on-write (cpu-mm-spec §2.3, §2.4, §4.2, §4.3, §9.3,
 * §9.4) at 4 KiB, PMD THP and hugetlb sizes, per profile; data checks on both
 * sides; fork trees with a byte-level reference model of every process.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "mm_test.h"
#include "prng.h"

#define RW	(MM_PROT_READ | MM_PROT_WRITE)
#define ANON	(MM_MAP_PRIVATE | MM_MAP_ANONYMOUS)

/* A profile of 5.8 to 6.14: PMD split on COW, no large-folio reuse. NULL if none. */
static const struct mm_profile *profile_no_large_reuse(void)
{
	const struct mm_profile *const *pp;

	for (pp = mm_profiles; *pp; pp++)
		if (!(*pp)->large_folio_reuse && !(*pp)->thp_cow_copy_huge)
			return *pp;
	return NULL;
}

/* fork with 4 KiB pages: shared read-only, then copy or reuse by exclusivity. */
static void test_fork_4k(void **state)
{
	struct mm_struct *p, *c;
	struct mm_stats sp, sc;
	uint64_t a, pfn[4];
	struct folio *f;
	int i;

	(void)state;
	mt_setup(NULL);
	p = mt_proc(NULL);
	a = mt_anon(p, SZ_16K);
	for (i = 0; i < 4; i++) {
		mt_memset(p, a + i * SZ_4K, 0x10 + i, SZ_4K);
		pfn[i] = mt_pfn(p, a + i * SZ_4K);
	}
	assert_codes(p, a, SZ_16K, "4:pxw");
	c = mt_fork(p);
	/* §2.3 "same after fork": refcount 2, mapcount 2, not exclusive, both read-only. */
	assert_codes(p, a, SZ_16K, "4:p..");
	assert_codes(c, a, SZ_16K, "4:p..");
	for (i = 0; i < 4; i++) {
		assert_int_equal(mt_pfn(c, a + i * SZ_4K), pfn[i]);
		f = mt_folio(p, a + i * SZ_4K, NULL);
		assert_folio(f, 2, 2, 0, 0, 2, 0);
		mt_expect(c, a + i * SZ_4K, 0x10 + i, SZ_4K);
	}
	assert_int_equal(mt_stats(c).rss_anon, 4);
	assert_int_equal(mt_stats(c).vmas, mt_stats(p).vmas);

	/* The child writes: it copies; the parent's page keeps its data. */
	sp = mt_stats(p);
	sc = mt_stats(c);
	mt_memset(c, a + SZ_4K, 0xc1, SZ_4K);
	assert_int_not_equal(mt_pfn(c, a + SZ_4K), pfn[1]);
	assert_codes(c, a, SZ_16K, "1:p..,1:pxw,2:p..");
	assert_codes(p, a, SZ_16K, "1:p..,1:px.,2:p..");
	assert_int_equal(mt_pfn(p, a + SZ_4K), pfn[1]);
	assert_folio(mt_folio(c, a + SZ_4K, NULL), 1, 1, 0, 0, 1, 1);
	assert_folio(mt_folio(p, a + SZ_4K, NULL), 1, 1, 0, 0, 1, 0);
	assert_int_equal(mt_stats(c).cow_copy, sc.cow_copy + 1);
	assert_int_equal(mt_stats(p).notifications, sp.notifications);
	mt_expect(p, a + SZ_4K, 0x11, SZ_4K);
	mt_expect(c, a + SZ_4K, 0xc1, SZ_4K);

	/* The parent writes the page nobody else maps now: reuse, same frame, no copy. */
	mt_memset(p, a + SZ_4K + 8, 0x21, 8);
	assert_int_equal(mt_pfn(p, a + SZ_4K), pfn[1]);
	assert_folio(mt_folio(p, a + SZ_4K, NULL), 1, 1, 0, 0, 1, 1);
	assert_int_equal(mt_stats(p).cow_reuse, sp.cow_reuse + 1);
	assert_int_equal(mt_stats(p).cow_copy, sp.cow_copy);
	assert_int_equal(mt_stats(p).notifications, sp.notifications);
	mt_expect(p, a + SZ_4K, 0x11, 8);
	mt_expect(p, a + SZ_4K + 8, 0x21, 8);
	mt_expect(p, a + SZ_4K + 16, 0x11, SZ_4K - 16);
	mt_expect(c, a + SZ_4K, 0xc1, SZ_4K);

	/* The parent writes a shared page: it copies; then the child reuses the old one. */
	mt_memset(p, a + 2 * SZ_4K, 0x22, 1);
	assert_int_not_equal(mt_pfn(p, a + 2 * SZ_4K), pfn[2]);
	assert_int_equal(mt_stats(p).cow_copy, sp.cow_copy + 1);
	mt_expect(c, a + 2 * SZ_4K, 0x12, SZ_4K);
	mt_expect(p, a + 2 * SZ_4K, 0x22, 1);
	mt_expect(p, a + 2 * SZ_4K + 1, 0x12, SZ_4K - 1);
	sc = mt_stats(c);
	mt_memset(c, a + 2 * SZ_4K, 0xc2, 1);
	assert_int_equal(mt_pfn(c, a + 2 * SZ_4K), pfn[2]);
	assert_int_equal(mt_stats(c).cow_reuse, sc.cow_reuse + 1);
	assert_int_equal(mt_stats(c).cow_copy, sc.cow_copy);
	assert_codes(p, a, SZ_16K, "1:p..,2:pxw,1:p..");
	assert_codes(c, a, SZ_16K, "1:p..,2:pxw,1:p..");
	mt_expect(p, a + 2 * SZ_4K, 0x22, 1);

	/* After the child exits, the parent's pages are its own again: reuse. */
	mt_exit(c);
	assert_codes(p, a, SZ_16K, "1:px.,2:pxw,1:px.");
	assert_folio(mt_folio(p, a, NULL), 1, 1, 0, 0, 1, 0);
	sp = mt_stats(p);
	mt_memset(p, a, 0x30, SZ_4K);
	mt_memset(p, a + 3 * SZ_4K, 0x33, SZ_4K);
	assert_int_equal(mt_pfn(p, a), pfn[0]);
	assert_int_equal(mt_pfn(p, a + 3 * SZ_4K), pfn[3]);
	assert_int_equal(mt_stats(p).cow_reuse, sp.cow_reuse + 2);
	assert_int_equal(mt_stats(p).cow_copy, sp.cow_copy);
	assert_int_equal(mt_stats(p).notifications, sp.notifications);
	assert_codes(p, a, SZ_16K, "4:pxw");
	mt_teardown();
}

/*
 * fork with PMD THPs, then COW on either side (§2.3 rows 4 to 7, §4.3, §9.4):
 * the writer's PMD is split and one 4 KiB page copied; with @profile's
 * large_folio_reuse, a PTE-mapped page exclusive to the mm is reused.
 */
static void thp_fork_cow(const struct mm_profile *prof)
{
	struct mm_struct *p, *c;
	struct mm_stats sp, sc;
	struct folio *f0, *f1;
	uint64_t a, b0, pfn9;
	char code[4];

	mt_setup(NULL);
	p = mt_proc(prof);
	a = mt_anon_thp(p, SZ_4M);
	mt_memset(p, a, 0xa0, SZ_2M);
	mt_memset(p, a + SZ_2M, 0xb0, SZ_2M);
	assert_codes(p, a, SZ_4M, "1024:Hxw");
	f0 = mt_folio(p, a, NULL);
	f1 = mt_folio(p, a + SZ_2M, NULL);
	b0 = folio_pfn(f0);

	c = mt_fork(p);
	assert_codes(p, a, SZ_4M, "1024:H..");
	assert_codes(c, a, SZ_4M, "1024:H..");
	assert_int_equal(mt_pfn(c, a), b0);
	assert_int_equal(mt_pfn(c, a + SZ_2M), folio_pfn(f1));
	/* §2.3 "PMD THP after fork". */
	assert_folio(f0, 2, 2, 2, 0, 0, 0);
	assert_folio(f1, 2, 2, 2, 0, 0, 0);
	assert_int_equal(mt_stats(c).rss_anon, 1024);

	/* The parent writes page 5: PMD split in the parent, one page copied. */
	sp = mt_stats(p);
	mt_memset(p, a + 5 * SZ_4K + 100, 0x55, 1);
	assert_codes(p, a, SZ_4M, "5:T..,1:pxw,506:T..,512:H..");
	assert_codes(c, a, SZ_4M, "5:H..,1:Hx.,506:H..,512:H..");
	assert_int_equal(mt_pfn(p, a), b0);
	assert_int_equal(mt_pfn(p, a + 6 * SZ_4K), b0 + 6);
	assert_int_equal(mt_pfn(p, a + 511 * SZ_4K), b0 + 511);
	assert_int_not_equal(mt_pfn(p, a + 5 * SZ_4K), b0 + 5);
	/* 2 -> 513 -> 512; the child's PMD keeps the whole folio mapped. */
	assert_folio(f0, 512, 512, 1, 5, 0, 0);
	assert_int_equal(folio_page_pte_mapcount(f0, 6), 1);
	assert_int_equal(folio_page_mapcount(f0, 6), 2);
	assert_int_equal(folio_page_mapcount(f0, 5), 1);
	assert_int_equal(folio_order(f0), 9);
	assert_false(folio_flags(f0) & FOLIO_DEFERRED_SPLIT);
	assert_folio(mt_folio(p, a + 5 * SZ_4K, NULL), 1, 1, 0, 0, 1, 1);
	assert_folio(f1, 2, 2, 2, 0, 0, 0);
	assert_int_equal(mt_stats(p).thp_split_pmd, sp.thp_split_pmd + 1);
	assert_int_equal(mt_stats(p).cow_copy, sp.cow_copy + 1);
	assert_int_equal(mt_stats(p).deferred_split, sp.deferred_split);
	assert_int_equal(mt_stats(p).thp_fault_alloc, sp.thp_fault_alloc);
	mt_expect(p, a, 0xa0, 5 * SZ_4K + 100);
	mt_expect(p, a + 5 * SZ_4K + 100, 0x55, 1);
	mt_expect(p, a + 5 * SZ_4K + 101, 0xa0, SZ_2M - 5 * SZ_4K - 101);
	mt_expect(c, a, 0xa0, SZ_2M);

	/* A second page: the child still maps the folio, so copy again (no split). */
	mt_memset(p, a + 6 * SZ_4K, 0x66, SZ_4K);
	assert_folio(f0, 511, 511, 1, 6, 0, 0);
	assert_int_equal(mt_stats(p).thp_split_pmd, sp.thp_split_pmd + 1);
	assert_int_equal(mt_stats(p).cow_copy, sp.cow_copy + 2);
	assert_codes(p, a, SZ_4M, "5:T..,2:pxw,505:T..,512:H..");
	mt_expect(c, a, 0xa0, SZ_2M);

	/* The child writes page 9 of its shared PMD: its own split and copy. */
	sc = mt_stats(c);
	mt_memset(c, a + 9 * SZ_4K, 0x99, 2);
	assert_codes(c, a, SZ_4M, "5:T..,2:Tx.,2:T..,1:pxw,502:T..,512:H..");
	assert_codes(p, a, SZ_4M, "5:T..,2:pxw,2:T..,1:Tx.,502:T..,512:H..");
	/* Parent's 510 PTEs + the child's 511. */
	assert_folio(f0, 1021, 1021, 0, 9, 1, 0);
	assert_int_equal(mt_stats(c).thp_split_pmd, sc.thp_split_pmd + 1);
	assert_int_equal(mt_stats(c).cow_copy, sc.cow_copy + 1);
	mt_expect(p, a + 9 * SZ_4K, 0xa0, SZ_4K);
	mt_expect(c, a + 9 * SZ_4K, 0x99, 2);
	mt_expect(c, a + 9 * SZ_4K + 2, 0xa0, SZ_4K - 2);
	mt_expect(c, a + 5 * SZ_4K, 0xa0, 2 * SZ_4K);

	/* The parent exits: page 9 of the folio loses its last mapping (§3.3 deferred split). */
	pfn9 = mt_pfn(c, a + 9 * SZ_4K);
	mt_exit(p);
	assert_folio(f0, 511, 511, 0, 9, 0, 0);
	assert_int_equal(folio_order(f0), 9);
	assert_true(folio_flags(f0) & FOLIO_DEFERRED_SPLIT);
	assert_folio(f1, 1, 1, 1, 0, 0, 0);
	assert_codes(c, a, SZ_4M, "9:Tx.,1:pxw,502:Tx.,512:Hx.");

	/* The child writes a PTE-mapped page of the folio it alone maps now (§4.3 large folio). */
	sc = mt_stats(c);
	mt_memset(c, a + 10 * SZ_4K, 0x10, SZ_4K);
	mt_code(c, a + 10 * SZ_4K, code);
	if (prof && !prof->large_folio_reuse) {
		assert_string_equal(code, "pxw");
		assert_int_not_equal(mt_pfn(c, a + 10 * SZ_4K), b0 + 10);
		assert_int_equal(mt_stats(c).cow_copy, sc.cow_copy + 1);
	} else {
		assert_string_equal(code, "Txw");
		assert_int_equal(mt_pfn(c, a + 10 * SZ_4K), b0 + 10);
		assert_int_equal(mt_stats(c).cow_reuse, sc.cow_reuse + 1);
		assert_int_equal(mt_stats(c).cow_copy, sc.cow_copy);
		assert_int_equal(mt_stats(c).notifications, sc.notifications);
	}
	assert_int_equal(mt_pfn(c, a + 9 * SZ_4K), pfn9);
	/* The PMD the child alone maps now: reused in place (§9.4). */
	sc = mt_stats(c);
	mt_memset(c, a + SZ_2M + 7, 0x77, 1);
	assert_codes(c, a + SZ_2M, SZ_2M, "512:Hxw");
	assert_int_equal(mt_pfn(c, a + SZ_2M), folio_pfn(f1));
	assert_folio(f1, 1, 1, 1, 0, 0, 1);
	assert_int_equal(mt_stats(c).thp_split_pmd, sc.thp_split_pmd);
	assert_int_equal(mt_stats(c).cow_copy, sc.cow_copy);
	mt_expect(c, a + SZ_2M, 0xb0, 7);
	mt_expect(c, a + SZ_2M + 7, 0x77, 1);
	mt_expect(c, a + SZ_2M + 8, 0xb0, SZ_2M - 8);
	mt_expect(c, a + 10 * SZ_4K, 0x10, SZ_4K);
	mt_expect(c, a + 11 * SZ_4K, 0xa0, SZ_2M - 11 * SZ_4K);
	mt_teardown();
}

static void test_fork_thp(void **state)
{
	(void)state;
	thp_fork_cow(NULL);
}

static void test_fork_thp_no_large_reuse(void **state)
{
	const struct mm_profile *prof = profile_no_large_reuse();

	(void)state;
	if (!prof)
		skip();
	thp_fork_cow(prof);
}

/* Profile 5.7: a write to a shared PMD THP copies the whole THP (§4.1). */
static void test_fork_thp_57(void **state)
{
	struct mm_struct *p, *c;
	struct mm_stats sp, sc;
	struct folio *f0, *nf;
	uint64_t a;

	(void)state;
	mt_setup(NULL);
	p = mt_proc(mt_profile("5.7"));
	assert_true(mm_profile_of(p)->thp_cow_copy_huge);
	a = mt_anon_thp(p, SZ_2M);
	mt_memset(p, a, 0xa7, SZ_2M);
	f0 = mt_folio(p, a, NULL);
	c = mt_fork(p);
	assert_ptr_equal(mm_profile_of(c), mm_profile_of(p));
	sp = mt_stats(p);
	mt_memset(p, a + 5 * SZ_4K, 0x57, 3);
	assert_codes(p, a, SZ_2M, "512:Hxw");
	nf = mt_folio(p, a, NULL);
	assert_ptr_not_equal(nf, f0);
	assert_int_equal(folio_order(nf), 9);
	assert_folio(nf, 1, 1, 1, 0, 0, 1);
	assert_folio(f0, 1, 1, 1, 0, 0, 0);
	assert_codes(c, a, SZ_2M, "512:Hx.");
	assert_int_equal(mt_stats(p).cow_copy, sp.cow_copy + 1);
	assert_int_equal(mt_stats(p).thp_split_pmd, sp.thp_split_pmd);
	mt_expect(p, a, 0xa7, 5 * SZ_4K);
	mt_expect(p, a + 5 * SZ_4K, 0x57, 3);
	mt_expect(p, a + 5 * SZ_4K + 3, 0xa7, SZ_2M - 5 * SZ_4K - 3);
	mt_expect(c, a, 0xa7, SZ_2M);
	/* The child is alone on the old THP: PMD reuse. */
	sc = mt_stats(c);
	mt_memset(c, a, 0xcc, 1);
	assert_codes(c, a, SZ_2M, "512:Hxw");
	assert_ptr_equal(mt_folio(c, a, NULL), f0);
	assert_int_equal(mt_stats(c).cow_copy, sc.cow_copy);
	mt_expect(p, a, 0xa7, 1);
	mt_teardown();
}

/* hugetlb: shared at fork, the whole huge page copied on a write (§5, §9.4). */
static void test_fork_hugetlb(void **state)
{
	struct mm_system_config cfg = { .hugetlb_2m = 4 };
	struct mm_struct *p, *c;
	struct mm_stats sp, sc;
	struct folio *f0, *nf;
	uint64_t a;

	(void)state;
	mt_setup(&cfg);
	p = mt_proc(NULL);
	a = mt_hugetlb(p, SZ_4M, 21);
	mt_memset(p, a, 0xc0, SZ_4M);
	assert_codes(p, a, SZ_4M, "1024:Hxw");
	assert_int_equal(mt_hugetlb_free(0), 2);
	f0 = mt_folio(p, a, NULL);
	c = mt_fork(p);
	assert_codes(p, a, SZ_4M, "1024:H..");
	assert_codes(c, a, SZ_4M, "1024:H..");
	assert_folio(f0, 2, 2, 2, 0, 0, 0);
	assert_int_equal(mt_hugetlb_free(0), 2);

	sp = mt_stats(p);
	mt_memset(p, a + 7, 0x77, 1);
	assert_codes(p, a, SZ_4M, "512:Hxw,512:H..");
	nf = mt_folio(p, a, NULL);
	assert_ptr_not_equal(nf, f0);
	assert_true(folio_test_hugetlb(nf));
	assert_int_equal(folio_order(nf), 9);
	assert_folio(nf, 1, 1, 1, 0, 0, 1);
	assert_folio(f0, 1, 1, 1, 0, 0, 0);
	assert_int_equal(mt_hugetlb_free(0), 1);
	assert_int_equal(mt_stats(p).cow_copy, sp.cow_copy + 1);
	assert_codes(c, a, SZ_4M, "512:Hx.,512:H..");
	mt_expect(p, a, 0xc0, 7);
	mt_expect(p, a + 7, 0x77, 1);
	mt_expect(p, a + 8, 0xc0, SZ_4M - 8);
	mt_expect(c, a, 0xc0, SZ_4M);

	/* The child is alone on the old page: reuse. */
	sc = mt_stats(c);
	mt_memset(c, a + 9, 0x99, 1);
	assert_ptr_equal(mt_folio(c, a, NULL), f0);
	assert_codes(c, a, SZ_4M, "512:Hxw,512:H..");
	assert_int_equal(mt_stats(c).cow_copy, sc.cow_copy);
	assert_int_equal(mt_hugetlb_free(0), 1);
	mt_expect(p, a + 9, 0xc0, 1);

	mt_exit(c);
	assert_int_equal(mt_hugetlb_free(0), 2);
	mt_teardown();
}

/* hugetlb COW with an empty pool: the write fails, nothing else changes. */
static void test_fork_hugetlb_pool_empty(void **state)
{
	struct mm_system_config cfg = { .hugetlb_2m = 2 };
	struct mm_struct *p, *c1, *c2;
	uint64_t a;
	int ret;

	(void)state;
	mt_setup(&cfg);
	p = mt_proc(NULL);
	a = mt_hugetlb(p, SZ_2M, 21);
	mt_memset(p, a, 0x0f, SZ_2M);
	c1 = mt_fork(p);
	mt_memset(c1, a, 0x1f, 1);
	assert_int_equal(mt_hugetlb_free(0), 0);
	c2 = mt_fork(p);
	ret = mm_memset(c2, a + 5, 0x2f, 1);
	assert_true(ret < 0);
	assert_mm_ok();
	assert_codes(c2, a, SZ_2M, "512:H..");
	assert_codes(p, a, SZ_2M, "512:H..");
	mt_expect(c2, a, 0x0f, SZ_2M);
	mt_expect(p, a, 0x0f, SZ_2M);
	mt_expect(c1, a, 0x1f, 1);
	mt_exit(c2);
	/* The parent alone again: reuse, no page needed. */
	mt_memset(p, a, 0x3f, 1);
	assert_codes(p, a, SZ_2M, "512:Hxw");
	mt_teardown();
}

/* Reuse after the other side went away, at 4 KiB and PMD size, with no notification. */
static void test_reuse_after_exit(void **state)
{
	struct mm_struct *p, *c;
	struct mm_stats sp;
	uint64_t a, t, pfn;

	(void)state;
	mt_setup(NULL);
	p = mt_proc(NULL);
	a = mt_anon(p, SZ_8K);
	t = mt_anon_thp(p, SZ_2M);
	mt_memset(p, a, 1, SZ_8K);
	mt_memset(p, t, 2, SZ_2M);
	pfn = mt_pfn(p, t);
	c = mt_fork(p);
	mt_exit(c);
	assert_codes(p, a, SZ_8K, "2:px.");
	assert_codes(p, t, SZ_2M, "512:Hx.");
	sp = mt_stats(p);
	mt_memset(p, a + SZ_4K, 3, 1);
	mt_memset(p, t + SZ_1M, 4, 1);
	assert_codes(p, a, SZ_8K, "1:px.,1:pxw");
	assert_codes(p, t, SZ_2M, "512:Hxw");
	assert_int_equal(mt_pfn(p, t), pfn);
	assert_folio(mt_folio(p, t, NULL), 1, 1, 1, 0, 0, 1);
	assert_int_equal(mt_stats(p).cow_reuse, sp.cow_reuse + 2);
	assert_int_equal(mt_stats(p).cow_copy, sp.cow_copy);
	assert_int_equal(mt_stats(p).thp_split_pmd, sp.thp_split_pmd);
	assert_int_equal(mt_stats(p).notifications, sp.notifications);

	/* The child unmapping its copy has the same effect as its exit. */
	c = mt_fork(p);
	assert_int_equal(mm_munmap(c, t, SZ_2M), 0);
	assert_mm_ok();
	sp = mt_stats(p);
	mt_memset(p, t, 5, 1);
	assert_codes(p, t, SZ_2M, "512:Hxw");
	assert_int_equal(mt_pfn(p, t), pfn);
	assert_int_equal(mt_stats(p).thp_split_pmd, sp.thp_split_pmd);
	mt_expect(p, t, 5, 1);
	mt_expect(p, t + 1, 2, SZ_1M - 1);
	mt_expect(p, t + SZ_1M, 4, 1);
	mt_teardown();
}

/* A huge zero PMD and zero pages across fork: the child reads zeros, writes its own. */
static void test_fork_zero_pages(void **state)
{
	struct mm_struct *p, *c;
	uint64_t a, t;

	(void)state;
	mt_setup(NULL);
	p = mt_proc(NULL);
	a = mt_anon(p, SZ_16K);
	t = mt_anon_thp(p, SZ_2M);
	mt_touch(p, a);
	mt_touch(p, t);
	assert_codes(p, t, SZ_2M, "512:z..");
	c = mt_fork(p);
	mt_expect(c, a, 0, SZ_16K);
	mt_expect(c, t, 0, SZ_2M);
	mt_memset(c, t + 3, 0x33, 1);
	mt_memset(c, a, 0x44, 1);
	mt_expect(p, t, 0, SZ_2M);
	mt_expect(p, a, 0, SZ_16K);
	assert_codes(p, t, SZ_2M, "512:z..");
	mt_expect(c, t + 3, 0x33, 1);
	mt_teardown();
}

/*
 * Pinned exclusive pages are copied for the child at fork, and the parent
 * keeps them writable and exclusive (§2.4, §4.2): an order-0 page, and a
 * PMD THP, whose PMD is split in the parent first.
 */
/*
 * A pinned page of a PROT_NONE VMA: the child's own copy is PROT_NONE too
 * (copy_for_child built it readable: found by mm_check's PROT_NONE rule).
 */
static void test_fork_pinned_protnone(void **state)
{
	struct mm_struct *p, *c;
	uint8_t byte;
	struct folio *f;
	uint64_t a;

	(void)state;
	mt_setup(NULL);
	p = mt_proc(NULL);
	a = mt_anon(p, SZ_8K);
	mt_memset(p, a, 0x61, SZ_8K);
	f = mt_folio(p, a, NULL);
	assert_int_equal(folio_pin(f), 0);
	assert_int_equal(mm_mprotect(p, a, SZ_8K, MM_PROT_NONE), 0);
	c = mt_fork(p);
	assert_int_not_equal(mt_pfn(c, a), folio_pfn(f));
	assert_int_equal(mm_read(c, a, &byte, 1), -EFAULT);
	assert_int_equal(mm_read(p, a, &byte, 1), -EFAULT);
	assert_int_equal(mm_mprotect(c, a, SZ_8K, MM_PROT_READ), 0);
	mt_expect(c, a, 0x61, SZ_8K);
	assert_int_equal(unpin_folio(f), 0);
	mt_teardown();
}

static void test_fork_pinned(void **state)
{
	struct mm_struct *p, *c;
	struct folio *f, *t;
	uint64_t a, h, i;
	char code[4];

	(void)state;
	mt_setup(NULL);
	p = mt_proc(NULL);
	a = mt_anon(p, SZ_8K);
	h = mt_anon_thp(p, SZ_2M);
	mt_memset(p, a, 0x51, SZ_8K);
	mt_memset(p, h, 0x52, SZ_2M);
	f = mt_folio(p, a, NULL);
	t = mt_folio(p, h, NULL);
	assert_int_equal(folio_pin(f), 0);
	assert_int_equal(folio_pin(t), 0);
	assert_mm_ok();
	c = mt_fork(p);
	/* The pinned page: the child has its own copy; the parent is untouched. */
	assert_int_not_equal(mt_pfn(c, a), folio_pfn(f));
	assert_int_equal(mt_pfn(p, a), folio_pfn(f));
	assert_codes(p, a, SZ_4K, "1:pxw");
	assert_true(folio_page_anon_exclusive(f, 0));
	assert_int_equal(folio_mapcount(f), 1);
	assert_int_equal(folio_ref_count(f), 1 + GUP_PIN_COUNTING_BIAS);
	mt_expect(c, a, 0x51, SZ_4K);
	/* The page next to it was not pinned: shared as usual. */
	assert_codes(p, a + SZ_4K, SZ_4K, "1:p..");
	assert_int_equal(mt_pfn(c, a + SZ_4K), mt_pfn(p, a + SZ_4K));
	/* The pinned THP: the parent's PMD split, every page copied for the child. */
	assert_codes(p, h, SZ_2M, "512:Txw");
	assert_int_equal(folio_order(t), 9);
	assert_int_equal(folio_mapcount(t), 512);
	assert_int_equal(folio_ref_count(t), 512 + 1);
	for (i = 0; i < 512; i += 97) {
		mt_code(c, h + i * SZ_4K, code);
		assert_int_equal(code[0], 'p');
		assert_int_equal(code[1], 'x');
		assert_ptr_not_equal(mt_folio(c, h + i * SZ_4K, NULL), t);
	}
	mt_expect(c, h, 0x52, SZ_2M);
	/* Writes stay on their side, with no COW in the parent. */
	mt_memset(p, h + 5, 0x53, 1);
	mt_memset(p, a + 5, 0x54, 1);
	assert_int_equal(mt_pfn(p, h + 5), folio_pfn(t));
	assert_int_equal(mt_pfn(p, a), folio_pfn(f));
	mt_expect(c, h + 5, 0x52, 1);
	mt_expect(c, a + 5, 0x51, 1);
	assert_int_equal(unpin_folio(f), 0);
	assert_int_equal(unpin_folio(t), 0);
	assert_mm_ok();
	mt_teardown();
}

/* ---------------------------------------------------------------------- */
/* Fork trees with a reference model                                       */
/* ---------------------------------------------------------------------- */

#define TREE_MAX	10
#define TREE_REGIONS	3

struct tproc {
	struct mm_struct *mm;
	uint8_t *mem[TREE_REGIONS];
	int gen;
};

struct tree {
	struct prng rng;
	struct tproc procs[TREE_MAX];
	int nr;
	uint64_t addr[TREE_REGIONS];
	uint64_t len[TREE_REGIONS];
	int max_gen;
};

static void tree_compare(struct tree *t, int i, int r, uint64_t off, uint64_t len)
{
	uint8_t *buf = malloc(len);
	uint64_t k;
	int ret;

	assert_non_null(buf);
	ret = mm_read(t->procs[i].mm, t->addr[r] + off, buf, len);
	assert_int_equal(ret, 0);
	if (memcmp(buf, t->procs[i].mem[r] + off, len)) {
		for (k = 0; buf[k] == t->procs[i].mem[r][off + k]; k++)
			;
		print_error("process %d (generation %d), region %d: byte %#" PRIx64
			    " is %#x, the model says %#x\n", i, t->procs[i].gen, r, off + k, buf[k],
			    t->procs[i].mem[r][off + k]);
		free(buf);
		fail();
	}
	free(buf);
}

static void tree_fork(struct tree *t, int i)
{
	struct tproc *c = &t->procs[t->nr];
	int r;

	c->mm = mt_fork(t->procs[i].mm);
	c->gen = t->procs[i].gen + 1;
	for (r = 0; r < TREE_REGIONS; r++) {
		c->mem[r] = malloc(t->len[r]);
		assert_non_null(c->mem[r]);
		memcpy(c->mem[r], t->procs[i].mem[r], t->len[r]);
	}
	if (c->gen > t->max_gen)
		t->max_gen = c->gen;
	t->nr++;
}

static void tree_exit(struct tree *t, int i)
{
	int r;

	mt_exit(t->procs[i].mm);
	for (r = 0; r < TREE_REGIONS; r++)
		free(t->procs[i].mem[r]);
	t->procs[i] = t->procs[--t->nr];
}

static void tree_write(struct tree *t, int i, int r)
{
	uint64_t max = r == 0 ? SZ_8K : SZ_64K;
	uint64_t len = 1 + prng_below(&t->rng, max);
	uint64_t off = prng_below(&t->rng, t->len[r] - len + 1);
	uint8_t *buf = malloc(len);
	uint64_t k;
	int j;

	assert_non_null(buf);
	for (k = 0; k < len; k++)
		buf[k] = (uint8_t)prng_next(&t->rng);
	assert_int_equal(mm_write(t->procs[i].mm, t->addr[r] + off, buf, len), 0);
	assert_mm_ok();
	memcpy(t->procs[i].mem[r] + off, buf, len);
	free(buf);
	/* Nobody else sees it; the writer does. */
	for (j = 0; j < t->nr; j++)
		tree_compare(t, j, r, off, len);
}

static void fork_tree(const struct mm_profile *prof, uint64_t seed, int steps)
{
	struct mm_system_config cfg = { .hugetlb_2m = 24 };
	struct tree *t = calloc(1, sizeof(*t));
	int s, i, r, op, youngest;

	assert_non_null(t);
	prng_seed(&t->rng, seed);
	mt_setup(&cfg);
	t->procs[0].mm = mt_proc(prof);
	t->nr = 1;
	t->len[0] = SZ_64K;
	t->len[1] = SZ_4M;
	t->len[2] = SZ_2M;
	t->addr[0] = mt_anon(t->procs[0].mm, t->len[0]);
	t->addr[1] = mt_anon_thp(t->procs[0].mm, t->len[1]);
	t->addr[2] = mt_hugetlb(t->procs[0].mm, t->len[2], 21);
	for (r = 0; r < TREE_REGIONS; r++) {
		t->procs[0].mem[r] = calloc(1, t->len[r]);
		assert_non_null(t->procs[0].mem[r]);
	}
	/* Populate with THPs (a whole-block write) and scattered small pages. */
	for (r = 0; r < TREE_REGIONS; r++) {
		memset(t->procs[0].mem[r], 0x5c + r, t->len[r] / 2);
		mt_memset(t->procs[0].mm, t->addr[r], 0x5c + r, t->len[r] / 2);
	}
	for (s = 0; s < steps; s++) {
		op = (int)prng_below(&t->rng, 100);
		i = (int)prng_below(&t->rng, t->nr);
		r = (int)prng_below(&t->rng, TREE_REGIONS);
		if (op < 20 && t->nr < TREE_MAX) {
			/* Half the forks from the youngest generation: deep trees. */
			if (prng_chance(&t->rng, 50)) {
				youngest = 0;
				for (int j = 1; j < t->nr; j++)
					if (t->procs[j].gen > t->procs[youngest].gen)
						youngest = j;
				i = youngest;
			}
			tree_fork(t, i);
		} else if (op < 30 && t->nr > 1) {
			tree_exit(t, i);
		} else if (op < 85) {
			tree_write(t, i, r);
		} else if (op < 95) {
			uint64_t len = 1 + prng_below(&t->rng, SZ_64K);

			if (len > t->len[r])
				len = t->len[r];
			tree_compare(t, i, r, prng_below(&t->rng, t->len[r] - len + 1), len);
			assert_mm_ok();
		} else {
			tree_compare(t, i, r, 0, t->len[r]);
			assert_mm_ok();
		}
	}
	for (i = 0; i < t->nr; i++)
		for (r = 0; r < TREE_REGIONS; r++)
			tree_compare(t, i, r, 0, t->len[r]);
	assert_mm_ok();
	printf("# fork tree (%s): %d steps, %d processes left, %d generations\n",
	       prof ? prof->name : "current", steps, t->nr, t->max_gen);
	assert_true(t->max_gen >= 3);
	while (t->nr)
		tree_exit(t, t->nr - 1);
	/* Everything given back: only the zero pages and hugetlb pool remain. */
	assert_int_equal(mt_hugetlb_free(0), 24);
	mt_teardown();
	free(t);
}

static void test_fork_tree(void **state)
{
	(void)state;
	fork_tree(NULL, prng_test_seed("fork tree, current", 0x5eed0001), 400);
}

static void test_fork_tree_57(void **state)
{
	(void)state;
	fork_tree(mt_profile("5.7"), prng_test_seed("fork tree, 5.7", 0x5eed0002), 300);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fork_4k),
		cmocka_unit_test(test_fork_thp),
		cmocka_unit_test(test_fork_thp_no_large_reuse),
		cmocka_unit_test(test_fork_thp_57),
		cmocka_unit_test(test_fork_hugetlb),
		cmocka_unit_test(test_fork_hugetlb_pool_empty),
		cmocka_unit_test(test_reuse_after_exit),
		cmocka_unit_test(test_fork_zero_pages),
		cmocka_unit_test(test_fork_pinned),
		cmocka_unit_test(test_fork_pinned_protnone),
		cmocka_unit_test(test_fork_tree),
		cmocka_unit_test(test_fork_tree_57),
	};
	int ret;

	hmmsim_thread_register();
	ret = cmocka_run_group_tests_name("mm_cow", tests, NULL, NULL);
	hmmsim_thread_unregister();
	return ret;
}
