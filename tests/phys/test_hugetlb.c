// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * hugetlb pools: preallocated 2 MiB and 1 GiB folios, exhaustion, the
 * return of a folio to its pool on the last put, reservations, and a pool
 * that cannot be built on fragmented memory.
 */
#include "phys_test.h"

static void test_hugetlb_alloc_exhaust(void **state)
{
	struct phys_pool *pool = make_pool(PHYS_SYSTEM_RAM, 3 * FRAMES_1G, PHYS_POOL_METADATA);
	struct phys_pool_stats st0 = pool_stats(pool);
	struct phys_hugetlb_stats hs;
	struct phys_hugetlb *hp = NULL;
	struct folio *f[4], *g;

	(void)state;
	assert_int_equal(phys_hugetlb_create(pool, 4, 1, &hp), 0);
	assert_pool_check(pool);
	/* The folios left the buddy at creation. */
	assert_int_equal(pool_stats(pool).free_frames, st0.free_frames - 4 * 512 - FRAMES_1G);
	phys_hugetlb_stats(hp, &hs);
	assert_int_equal(hs.total[0], 4);
	assert_int_equal(hs.free[0], 4);
	assert_int_equal(hs.total[1], 1);

	for (int i = 0; i < 4; i++) {
		f[i] = phys_hugetlb_alloc(hp, PHYS_PMD_ORDER, PHYS_HUGETLB_ZERO);
		assert_non_null(f[i]);
		assert_true(folio_test_hugetlb(f[i]));
		assert_int_equal(folio_order(f[i]), PHYS_PMD_ORDER);
		assert_int_equal(folio_ref_count(f[i]), 1);
	}
	errno = 0;
	assert_null(phys_hugetlb_alloc(hp, PHYS_PMD_ORDER, 0));
	assert_int_equal(errno, ENOMEM);
	g = phys_hugetlb_alloc(hp, PHYS_PUD_ORDER, 0);
	assert_non_null(g);
	assert_int_equal(folio_order(g), PHYS_PUD_ORDER);
	assert_null(phys_hugetlb_alloc(hp, PHYS_PUD_ORDER, 0));
	phys_hugetlb_stats(hp, &hs);
	assert_int_equal(hs.free[0], 0);
	assert_int_equal(hs.failures[0], 1);
	assert_int_equal(hs.failures[1], 1);
	assert_int_equal(hs.allocs[0], 4);

	/* A private hugetlb mapping: entire mappings only, never PTEs. */
	assert_int_equal(folio_add_new_anon_rmap(g, RMAP_EXCLUSIVE), 0);
	assert_int_equal(folio_entire_mapcount(g), 1);
	assert_true(folio_page_anon_exclusive(g, 0));
	assert_int_equal(folio_add_anon_rmap_pte(g, 3, 0), -EINVAL);
	assert_int_equal(folio_add_anon_rmap_pmd(g, 0), -EINVAL);	/* a PUD-sized folio */
	assert_int_equal(folio_add_anon_rmap_pmd(f[0], 0), -EINVAL);	/* not anon yet */
	assert_pool_check(pool);
	/* fork of the private mapping: shared, both mapped. */
	assert_int_equal(folio_get(g), 0);
	assert_int_equal(folio_add_anon_rmap_pud(g, 0), 0);
	assert_int_equal(folio_clear_page_anon_exclusive(g, 0), 0);
	assert_int_equal(folio_mapcount(g), 2);
	assert_pool_check(pool);
	assert_int_equal(folio_remove_rmap_pud(g), 0);
	assert_int_equal(folio_put(g), 0);
	assert_int_equal(folio_remove_rmap_pud(g), 0);

	/* The last put returns it to the hugetlb pool, not to the buddy. */
	st0 = pool_stats(pool);
	assert_int_equal(folio_put(g), 1);
	assert_int_equal(folio_put(g), -EINVAL);
	assert_false(folio_page_anon_exclusive(g, 0));
	assert_false(folio_test_anon(g));
	{
		struct phys_pool_stats st = pool_stats(pool);

		assert_stats_equal(&st, &st0);
	}
	assert_pool_check(pool);
	phys_hugetlb_stats(hp, &hs);
	assert_int_equal(hs.free[1], 1);
	assert_int_equal(phys_hugetlb_destroy(hp), -EBUSY);
	assert_int_equal(phys_pool_destroy(pool), -EBUSY);
	for (int i = 0; i < 4; i++)
		assert_int_equal(folio_put(f[i]), 1);
	/* Reused: the same folio comes back. */
	g = phys_hugetlb_alloc(hp, PHYS_PUD_ORDER, 0);
	assert_non_null(g);
	assert_int_equal(folio_put(g), 1);
	assert_pool_check(pool);
	assert_int_equal(phys_hugetlb_destroy(hp), 0);
	assert_int_equal(pool_stats(pool).free_blocks[PHYS_MAX_ORDER], 2);
	destroy_pool(pool);
}

static void test_hugetlb_reservations(void **state)
{
	struct phys_pool *pool = make_pool(PHYS_SYSTEM_RAM, FRAMES_1G, PHYS_POOL_METADATA);
	struct phys_hugetlb *hp = NULL;
	struct phys_hugetlb_stats hs;
	struct folio *a, *b;

	(void)state;
	assert_int_equal(phys_hugetlb_create(pool, 3, 0, &hp), 0);
	/* An mmap of two huge pages reserves them; a third mmap of two cannot. */
	assert_int_equal(phys_hugetlb_reserve(hp, PHYS_PMD_ORDER, 2), 0);
	assert_int_equal(phys_hugetlb_reserve(hp, PHYS_PMD_ORDER, 2), -ENOMEM);
	assert_int_equal(phys_hugetlb_reserve(hp, PHYS_PUD_ORDER, 1), -ENOMEM);
	assert_int_equal(phys_hugetlb_reserve(hp, 5, 1), -EINVAL);
	/* Unreserved allocations take only what nobody reserved. */
	a = phys_hugetlb_alloc(hp, PHYS_PMD_ORDER, 0);
	assert_non_null(a);
	errno = 0;
	assert_null(phys_hugetlb_alloc(hp, PHYS_PMD_ORDER, 0));
	assert_int_equal(errno, ENOMEM);
	/* The reserved faults always succeed. */
	b = phys_hugetlb_alloc(hp, PHYS_PMD_ORDER, PHYS_HUGETLB_RESERVED);
	assert_non_null(b);
	phys_hugetlb_stats(hp, &hs);
	assert_int_equal(hs.reserved[0], 1);
	assert_int_equal(hs.free[0], 1);
	assert_int_equal(phys_hugetlb_unreserve(hp, PHYS_PMD_ORDER, 2), -EINVAL);
	assert_int_equal(phys_hugetlb_unreserve(hp, PHYS_PMD_ORDER, 1), 0);
	errno = 0;
	assert_null(phys_hugetlb_alloc(hp, PHYS_PMD_ORDER, PHYS_HUGETLB_RESERVED));
	assert_int_equal(errno, EINVAL);
	assert_null(phys_hugetlb_alloc(hp, PHYS_PMD_ORDER, 1u << 7));
	assert_int_equal(folio_put(a), 1);
	assert_int_equal(folio_put(b), 1);
	assert_pool_check(pool);
	assert_int_equal(phys_hugetlb_destroy(hp), 0);
	destroy_pool(pool);
}

static void test_hugetlb_create_fails(void **state)
{
	struct phys_pool *pool = make_pool(PHYS_SYSTEM_RAM, 2 * FRAMES_1G, PHYS_POOL_METADATA);
	struct phys_pool_stats st0;
	struct phys_hugetlb *hp = NULL;

	(void)state;
	/* More than the pool holds: nothing is kept. */
	st0 = pool_stats(pool);
	assert_int_equal(phys_hugetlb_create(pool, 0, 2, &hp), -ENOMEM);
	assert_null(hp);
	assert_int_equal(pool_stats(pool).free_frames, st0.free_frames);
	assert_pool_check(pool);
	/* Fragmented: 1 GiB pages cannot be had, 2 MiB ones neither at order 8. */
	assert_true(phys_pool_fragment(pool, 8) > 0);
	assert_int_equal(phys_hugetlb_create(pool, 0, 1, &hp), -ENOMEM);
	assert_int_equal(phys_hugetlb_create(pool, 1, 0, &hp), -ENOMEM);
	assert_pool_check(pool);
	phys_pool_unfragment(pool);
	assert_int_equal(phys_hugetlb_create(pool, 8, 1, &hp), 0);
	assert_int_equal(phys_hugetlb_destroy(hp), 0);
	/* Device memory cannot back hugetlb. */
	{
		struct phys_pool *dev = make_pool(PHYS_DEVICE_PRIVATE, 1024, 0);

		assert_int_equal(phys_hugetlb_create(dev, 1, 0, &hp), -EINVAL);
		destroy_pool(dev);
	}
	destroy_pool(pool);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hugetlb_alloc_exhaust),
		cmocka_unit_test(test_hugetlb_reservations),
		cmocka_unit_test(test_hugetlb_create_fails),
	};
	int ret;

	hmmsim_thread_register();
	ret = cmocka_run_group_tests_name("phys_hugetlb", tests, NULL, NULL);
	hmmsim_thread_unregister();
	return ret;
}
