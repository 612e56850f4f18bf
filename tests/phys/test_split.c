// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * split_folio_to_order(): counts and bits distributed to the pieces as the
 * kernel's remap leaves them, unmapped pieces freed, and every refusal
 * (pins, extra references, a PMD mapping, no lock, bad orders) changing
 * nothing.
 */
#include "phys_test.h"

/* A PMD-mapped exclusive THP after split_huge_pmd: 512 PTEs, refcount 512. */
static struct folio *pte_mapped_thp(struct phys_pool *pool)
{
	struct folio *f = alloc_ok(pool, PHYS_PMD_ORDER, FOLIO_ALLOC_ZERO);

	assert_int_equal(folio_add_new_anon_rmap(f, RMAP_EXCLUSIVE), 0);
	/* split_huge_pmd: the head's exclusivity goes to every page. */
	assert_int_equal(folio_ref_add(f, 511), 0);
	assert_int_equal(folio_add_anon_rmap_ptes(f, 0, 512, RMAP_EXCLUSIVE), 0);
	assert_int_equal(folio_remove_rmap_pmd(f), 0);
	assert_int_equal(folio_ref_count(f), 512);
	assert_pool_check(pool);
	return f;
}

static void test_split_mapped_thp(void **state)
{
	struct phys_pool *pool = make_pool(PHYS_SYSTEM_RAM, 2048, 0);
	struct folio *f = pte_mapped_thp(pool);
	uint64_t pfn = folio_pfn(f);
	struct phys_pool_stats st0 = pool_stats(pool), st;

	(void)state;
	assert_int_equal(folio_mark_dirty(f), 0);
	assert_int_equal(folio_write(f, 3 * SZ_4K, "abc", 3), 0);
	/* The caller's reference and the lock, as split_huge_page wants. */
	assert_int_equal(folio_get(f), 0);
	folio_lock(f);
	assert_int_equal(split_folio(f), 0);
	assert_pool_check(pool);

	st = pool_stats(pool);
	assert_int_equal(st.live_folios, st0.live_folios + 511);
	assert_int_equal(st.live_frames, st0.live_frames);
	assert_int_equal(st.folio_splits, 1);
	/* The head keeps the descriptor, the lock and the caller's reference. */
	assert_int_equal(folio_order(f), 0);
	assert_int_equal(folio_pfn(f), pfn);
	assert_true(folio_test_locked(f));
	assert_int_equal(folio_ref_count(f), 2);
	assert_int_equal(folio_mapcount(f), 1);
	for (uint64_t i = 1; i < 512; i++) {
		struct folio *g = phys_pfn_to_folio(NULL, pfn + i);

		assert_non_null(g);
		assert_int_equal(folio_pfn(g), pfn + i);
		assert_int_equal(folio_order(g), 0);
		assert_int_equal(folio_ref_count(g), 1);
		assert_int_equal(folio_mapcount(g), 1);
		assert_true(folio_test_anon(g));
		assert_true(folio_test_dirty(g));
		assert_false(folio_test_locked(g));
		assert_true(folio_page_anon_exclusive(g, 0));
	}
	/* The bytes stay where they were. */
	{
		char buf[3];
		struct folio *g = phys_pfn_to_folio(NULL, pfn + 3);

		assert_int_equal(folio_read(g, 0, buf, 3), 0);
		assert_memory_equal(buf, "abc", 3);
	}
	/* Unmap everything: every piece goes back to the buddy. */
	for (uint64_t i = 1; i < 512; i++) {
		struct folio *g = phys_pfn_to_folio(NULL, pfn + i);

		assert_int_equal(folio_remove_rmap_pte(g, 0), 0);
		assert_int_equal(folio_put(g), 1);
	}
	assert_int_equal(folio_unlock(f), 0);
	assert_int_equal(folio_remove_rmap_pte(f, 0), 0);
	assert_int_equal(folio_put(f), 0);
	put_last(pool, f);
	st = pool_stats(pool);
	assert_int_equal(st.frees[0], 512);
	assert_int_equal(st.live_folios, st0.live_folios - 1);
	destroy_pool(pool);
}

/* A partly unmapped THP (the deferred-split case): unmapped pieces are freed at once. */
static void test_split_partial(void **state)
{
	struct phys_pool *pool = make_pool(PHYS_SYSTEM_RAM, 2048, 0);
	struct folio *f = pte_mapped_thp(pool);
	uint64_t pfn = folio_pfn(f);
	struct phys_pool_stats st0, st;

	(void)state;
	/* munmap of pages 100..511, and of page 0 */
	assert_int_equal(folio_remove_rmap_ptes(f, 100, 412), 0);
	assert_int_equal(folio_remove_rmap_pte(f, 0), 0);
	assert_int_equal(folio_put_refs(f, 413), 0);
	assert_int_equal(folio_ref_count(f), 99);
	st0 = pool_stats(pool);
	folio_lock(f);
	assert_int_equal(folio_get(f), 0);
	assert_int_equal(split_folio(f), 0);
	assert_pool_check(pool);
	st = pool_stats(pool);
	/* 412 pieces were freed; the head lives on with the caller's reference only. */
	assert_int_equal(st.frees[0], st0.frees[0] + 412);
	assert_int_equal(st.live_folios, st0.live_folios + 99);
	assert_int_equal(folio_ref_count(f), 1);
	assert_int_equal(folio_mapcount(f), 0);
	errno = 0;
	assert_null(phys_pfn_to_folio(NULL, pfn + 100));
	assert_int_equal(errno, ENOENT);
	for (uint64_t i = 1; i < 100; i++) {
		struct folio *g = phys_pfn_to_folio(NULL, pfn + i);

		assert_int_equal(folio_remove_rmap_pte(g, 0), 0);
		assert_int_equal(folio_put(g), 1);
	}
	folio_unlock(f);
	put_last(pool, f);
	destroy_pool(pool);
}

static void test_split_refusals(void **state)
{
	struct phys_pool *pool = make_pool(PHYS_SYSTEM_RAM, 2048, 0);
	struct folio *f = pte_mapped_thp(pool);
	struct folio *p = alloc_ok(pool, PHYS_PMD_ORDER, 0);
	struct phys_pool_stats st0;

	(void)state;
	assert_int_equal(folio_add_new_anon_rmap(p, RMAP_EXCLUSIVE), 0);
	assert_int_equal(folio_get(f), 0);
	assert_int_equal(folio_get(p), 0);
	st0 = pool_stats(pool);

	/* Not locked. */
	assert_int_equal(split_folio(f), -EINVAL);
	folio_lock(f);
	folio_lock(p);
	/* A GUP pin is an unexpected reference, as in the kernel. */
	assert_int_equal(folio_pin(f), 0);
	assert_int_equal(split_folio(f), -EBUSY);
	assert_int_equal(unpin_folio(f), 0);
	/* So is any transient reference. */
	assert_int_equal(folio_get(f), 0);
	assert_int_equal(split_folio(f), -EBUSY);
	assert_int_equal(folio_put(f), 0);
	/* A PMD still maps p: split the PMD first. */
	assert_int_equal(split_folio(p), -EBUSY);
	/* Orders: anon to order 1, up, or an order-0 folio. */
	assert_int_equal(split_folio_to_order(f, 1), -EINVAL);
	assert_int_equal(split_folio_to_order(f, 9), -EINVAL);
	assert_int_equal(split_folio_to_order(f, 12), -EINVAL);
	/* Nothing changed by any of it. */
	{
		struct phys_pool_stats st = pool_stats(pool);

		assert_stats_equal(&st, &st0);
	}
	assert_int_equal(folio_order(f), PHYS_PMD_ORDER);
	assert_int_equal(folio_ref_count(f), 513);
	assert_int_equal(folio_mapcount(f), 512);
	assert_int_equal(folio_pin_count(f), 0);
	assert_pool_check(pool);
	/* And now it may. */
	assert_int_equal(split_folio(f), 0);
	assert_pool_check(pool);
	for (uint64_t i = 1; i < 512; i++) {
		struct folio *g = phys_pfn_to_folio(NULL, folio_pfn(f) + i);

		assert_int_equal(folio_remove_rmap_pte(g, 0), 0);
		assert_int_equal(folio_put(g), 1);
	}
	assert_int_equal(folio_remove_rmap_pte(f, 0), 0);
	folio_unlock(f);
	assert_int_equal(folio_put(f), 0);
	put_last(pool, f);
	assert_int_equal(folio_remove_rmap_pmd(p), 0);
	folio_unlock(p);
	assert_int_equal(folio_put(p), 0);
	put_last(pool, p);

	/* Never for hugetlb or zero folios. */
	{
		struct phys_hugetlb *hp = NULL;
		struct folio *h, *z = phys_huge_zero_folio_get(pool);

		assert_non_null(z);
		assert_int_equal(split_folio(z), -EINVAL);
		assert_int_equal(folio_put(z), 0);
		assert_int_equal(phys_hugetlb_create(pool, 1, 0, &hp), 0);
		h = phys_hugetlb_alloc(hp, PHYS_PMD_ORDER, 0);
		assert_non_null(h);
		folio_lock(h);
		assert_int_equal(split_folio(h), -EINVAL);
		folio_unlock(h);
		assert_int_equal(folio_put(h), 1);
		assert_int_equal(phys_hugetlb_destroy(hp), 0);
	}
	destroy_pool(pool);
}

/* To a middle order: pieces keep per-page counts, exclusivity per page. */
static void test_split_to_mthp(void **state)
{
	struct phys_pool *pool = make_pool(PHYS_SYSTEM_RAM, 2048, 0);
	struct folio *f = pte_mapped_thp(pool);
	uint64_t pfn = folio_pfn(f);

	(void)state;
	/* Page 17 mapped twice more (another mm), page 18 unmapped, page 19 not exclusive. */
	assert_int_equal(folio_ref_add(f, 2), 0);
	assert_int_equal(folio_add_anon_rmap_ptes(f, 17, 1, 0), 0);
	assert_int_equal(folio_add_anon_rmap_ptes(f, 17, 1, 0), 0);
	assert_int_equal(folio_remove_rmap_pte(f, 18), 0);
	assert_int_equal(folio_put(f), 0);
	assert_int_equal(folio_clear_page_anon_exclusive(f, 19), 0);
	assert_pool_check(pool);

	folio_lock(f);
	assert_int_equal(folio_get(f), 0);
	assert_int_equal(split_folio_to_order(f, 4), 0);
	assert_pool_check(pool);
	assert_int_equal(folio_order(f), 4);
	assert_int_equal(folio_ref_count(f), 17);
	assert_int_equal(folio_mapcount(f), 16);
	{
		struct folio *g = phys_pfn_to_folio(NULL, pfn + 16);

		assert_int_equal(folio_order(g), 4);
		assert_int_equal(folio_pfn(g), pfn + 16);
		assert_ptr_equal(phys_pfn_to_folio(NULL, pfn + 31), g);
		assert_int_equal(folio_mapcount(g), 17);
		assert_int_equal(folio_ref_count(g), 17);
		assert_int_equal(folio_nr_pages_mapped(g), 15);
		assert_int_equal(folio_page_mapcount(g, 1), 3);
		assert_int_equal(folio_page_mapcount(g, 2), 0);
		assert_true(folio_page_anon_exclusive(g, 2));
		assert_false(folio_page_anon_exclusive(g, 3));
		assert_true(folio_page_anon_exclusive(g, 4));
		assert_folio_check(g);
	}
	/* Tear everything down through the pieces. */
	for (uint64_t j = 0; j < 32; j++) {
		struct folio *g = phys_pfn_to_folio(NULL, pfn + 16 * j);

		for (uint64_t i = 0; i < 16; i++) {
			while (folio_page_pte_mapcount(g, i) > 0) {
				assert_int_equal(folio_remove_rmap_pte(g, i), 0);
				assert_true(folio_put(g) >= 0);
			}
		}
	}
	assert_int_equal(folio_ref_count(f), 1);
	folio_unlock(f);
	put_last(pool, f);
	assert_int_equal(pool_stats(pool).live_folios, 1);	/* the zero page */
	destroy_pool(pool);
}

/* 1 GiB to 2 MiB in a metadata pool: the chunk index follows. */
static void test_split_1g(void **state)
{
	struct phys_pool *pool = make_pool(PHYS_DEVICE_COHERENT, FRAMES_1G, PHYS_POOL_METADATA);
	struct folio *f = alloc_ok(pool, PHYS_MAX_ORDER, 0);
	struct folio *g;

	(void)state;
	/* The allocation's reference is the caller's; an extra one is refused. */
	folio_lock(f);
	assert_int_equal(folio_get(f), 0);
	assert_int_equal(split_folio_to_order(f, PHYS_PMD_ORDER), -EBUSY);
	assert_int_equal(folio_put(f), 0);
	assert_int_equal(split_folio_to_order(f, PHYS_PMD_ORDER), 0);
	assert_pool_check(pool);
	/* Nothing mapped the other 511 pieces: freed through page_free (none set) to the buddy. */
	assert_int_equal(pool_stats(pool).frees[PHYS_PMD_ORDER], 511);
	assert_int_equal(pool_stats(pool).page_free_calls, 511);
	assert_int_equal(folio_order(f), PHYS_PMD_ORDER);
	assert_int_equal(folio_ref_count(f), 1);
	errno = 0;
	assert_null(phys_pfn_to_folio(NULL, folio_pfn(f) + 512));
	assert_int_equal(errno, ENOENT);
	g = alloc_ok(pool, 0, 0);
	assert_int_equal(folio_pfn(g), folio_pfn(f) + 512);
	put_last(pool, g);
	folio_unlock(f);
	put_last(pool, f);
	assert_int_equal(phys_pool_max_free_order(pool), PHYS_MAX_ORDER);
	destroy_pool(pool);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_mapped_thp),
		cmocka_unit_test(test_split_partial),
		cmocka_unit_test(test_split_refusals),
		cmocka_unit_test(test_split_to_mthp),
		cmocka_unit_test(test_split_1g),
	};
	int ret;

	hmmsim_thread_register();
	ret = cmocka_run_group_tests_name("phys_split", tests, NULL, NULL);
	hmmsim_thread_unregister();
	return ret;
}
