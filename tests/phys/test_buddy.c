// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The buddy allocator: every order, splitting and coalescing back to one
 * max-order block, fragmentation that denies 2 MiB and 1 GiB while 4 KiB
 * still succeeds, the counters, machines and the pfn index.
 */
#include <stdlib.h>

#include "phys_test.h"

/* A device pool has no zero page, so all of its frames are the buddy's. */
static struct phys_pool *metadata_pool(uint64_t nr)
{
	return make_pool(PHYS_DEVICE_PRIVATE, nr, PHYS_POOL_METADATA);
}

static void test_every_order(void **state)
{
	struct phys_pool *pool = metadata_pool(2 * FRAMES_1G);
	struct phys_pool_stats st;
	struct folio *f[PHYS_MAX_ORDER + 1];

	(void)state;
	st = pool_stats(pool);
	assert_int_equal(st.free_blocks[PHYS_MAX_ORDER], 2);
	assert_int_equal(st.free_frames, 2 * FRAMES_1G);
	assert_int_equal(phys_pool_max_free_order(pool), PHYS_MAX_ORDER);

	/* Small to large: each order splits what the previous left. */
	for (unsigned int k = 0; k <= PHYS_MAX_ORDER; k++) {
		f[k] = alloc_ok(pool, k, 0);
		assert_ptr_equal(phys_pfn_to_folio(NULL, folio_pfn(f[k])), f[k]);
		assert_ptr_equal(phys_pfn_to_folio(NULL, folio_pfn(f[k]) +
						   folio_nr_pages(f[k]) - 1), f[k]);
		assert_int_equal(folio_ref_count(f[k]), 1);
		assert_int_equal(folio_mapcount(f[k]), 0);
	}
	st = pool_stats(pool);
	for (unsigned int k = 0; k <= PHYS_MAX_ORDER; k++)
		assert_int_equal(st.allocs[k], 1);
	assert_int_equal(st.live_folios, PHYS_MAX_ORDER + 1);
	assert_int_equal(st.live_frames, (UINT64_C(1) << (PHYS_MAX_ORDER + 1)) - 1);
	assert_int_equal(st.free_frames, 2 * FRAMES_1G - st.live_frames);
	assert_true(st.block_splits > 0);

	/* Lowest pfns first: order 0 takes the pool's first frame. */
	assert_int_equal(folio_pfn(f[0]), phys_pool_first_pfn(pool));

	/* Free in a scrambled order; the checker runs after each. */
	for (unsigned int k = 0; k <= PHYS_MAX_ORDER; k++) {
		unsigned int j = (k * 7) % (PHYS_MAX_ORDER + 1);

		put_last(pool, f[j]);
	}
	st = pool_stats(pool);
	for (unsigned int k = 0; k <= PHYS_MAX_ORDER; k++)
		assert_int_equal(st.frees[k], 1);
	/* Coalesced back to two max-order blocks and nothing else. */
	assert_int_equal(st.free_blocks[PHYS_MAX_ORDER], 2);
	for (unsigned int k = 0; k < PHYS_MAX_ORDER; k++)
		assert_int_equal(st.free_blocks[k], 0);
	assert_int_equal(st.free_frames, 2 * FRAMES_1G);
	assert_int_equal(st.block_merges, st.block_splits);
	destroy_pool(pool);
}

static void test_exhaust_order0(void **state)
{
	/* An unaligned start and an odd size: the carving must still cover it. */
	struct phys_pool_config cfg = {
		.kind = PHYS_DEVICE_PRIVATE,
		.nr_frames = 1000,
		.first_pfn = 5 * FRAMES_1G + 3,
	};
	struct phys_pool *pool = make_pool_cfg(&cfg);
	struct phys_pool_stats st0 = pool_stats(pool), st;
	struct folio **f = calloc(1000, sizeof(*f));

	(void)state;
	assert_non_null(f);
	assert_int_equal(st0.free_frames, 1000);
	for (int i = 0; i < 1000; i++) {
		f[i] = folio_alloc(pool, 0, 0);
		assert_non_null(f[i]);
		assert_true(folio_pfn(f[i]) >= cfg.first_pfn);
		assert_true(folio_pfn(f[i]) < cfg.first_pfn + 1000);
	}
	assert_pool_check(pool);
	errno = 0;
	assert_null(folio_alloc(pool, 0, 0));
	assert_int_equal(errno, ENOMEM);
	st = pool_stats(pool);
	assert_int_equal(st.free_frames, 0);
	assert_int_equal(st.failures[0], 1);
	for (int i = 999; i >= 0; i--)
		assert_int_equal(folio_put(f[i]), 1);
	assert_pool_check(pool);
	st = pool_stats(pool);
	assert_memory_equal(st.free_blocks, st0.free_blocks, sizeof(st.free_blocks));
	free(f);
	destroy_pool(pool);
}

static void test_fragment_helper(void **state)
{
	struct phys_pool *pool = metadata_pool(2 * FRAMES_1G);
	struct phys_pool_stats st;
	struct folio *a, *b, *c;
	int64_t taken;

	(void)state;
	taken = phys_pool_fragment(pool, 8);
	assert_int_equal(taken, FRAMES_1G);
	assert_pool_check(pool);
	assert_int_equal(phys_pool_max_free_order(pool), 8);

	/* 2 MiB and 1 GiB fail, as THP and hugetlb do on a fragmented host... */
	errno = 0;
	assert_null(folio_alloc(pool, 9, 0));
	assert_int_equal(errno, ENOMEM);
	assert_null(folio_alloc(pool, 18, 0));
	assert_pool_check(pool);
	/* ...while 4 KiB and 1 MiB succeed. */
	a = alloc_ok(pool, 0, 0);
	b = alloc_ok(pool, 8, 0);
	st = pool_stats(pool);
	assert_int_equal(st.failures[9], 1);
	assert_int_equal(st.failures[18], 1);
	assert_int_equal(st.failures[0], 0);

	/* Freeing does not merge past order 8 while the fillers stay. */
	put_last(pool, a);
	put_last(pool, b);
	assert_int_equal(phys_pool_max_free_order(pool), 8);

	phys_pool_unfragment(pool);
	assert_pool_check(pool);
	assert_int_equal(phys_pool_max_free_order(pool), PHYS_MAX_ORDER);
	c = alloc_ok(pool, 18, 0);
	put_last(pool, c);
	st = pool_stats(pool);
	assert_int_equal(st.free_blocks[PHYS_MAX_ORDER], 2);
	destroy_pool(pool);

	/* Fragmenting a full pool takes nothing; bad orders are refused. */
	pool = metadata_pool(64);
	assert_int_equal(phys_pool_fragment(pool, PHYS_MAX_ORDER), -EINVAL);
	assert_int_equal(phys_pool_fragment(pool, 0), 32);
	assert_int_equal(phys_pool_fragment(pool, 0), 0);
	assert_pool_check(pool);
	assert_int_equal(phys_pool_max_free_order(pool), 0);
	/* The fillers are the pool's: destroying it takes them too. */
	destroy_pool(pool);
}

/* Fragmentation by hand through the API: everything at order 0, every other freed. */
static void test_fragment_by_hand(void **state)
{
	const uint64_t nr = 4096;
	struct phys_pool *pool = metadata_pool(nr);
	struct folio **f = calloc(nr, sizeof(*f));
	struct folio *g;

	(void)state;
	assert_non_null(f);
	for (uint64_t i = 0; i < nr; i++)
		f[i] = folio_alloc(pool, 0, 0);
	for (uint64_t i = 0; i < nr; i += 2) {
		assert_int_equal(folio_put(f[i]), 1);
		f[i] = NULL;
	}
	assert_pool_check(pool);
	assert_int_equal(phys_pool_max_free_order(pool), 0);
	assert_null(folio_alloc(pool, 1, 0));
	assert_null(folio_alloc(pool, 9, 0));
	g = alloc_ok(pool, 0, 0);
	put_last(pool, g);
	/* Freeing the rest merges all the way up. */
	for (uint64_t i = 1; i < nr; i += 2)
		assert_int_equal(folio_put(f[i]), 1);
	assert_pool_check(pool);
	assert_int_equal(phys_pool_max_free_order(pool), 12);
	free(f);
	destroy_pool(pool);
}

static void test_machines_and_lookup(void **state)
{
	struct phys_machine *m = NULL;
	struct phys_pool_config cfg = {
		.kind = PHYS_SYSTEM_RAM,
		.nr_frames = 1024,
		.first_pfn = PHYS_PFN_AUTO,
	};
	struct phys_pool *a, *b, *c = NULL;
	struct folio *f;

	(void)state;
	assert_int_equal(phys_machine_create(&m), 0);
	cfg.machine = m;
	a = make_pool_cfg(&cfg);
	b = make_pool_cfg(&cfg);
	/* Automatic placement: past every pool, 1 GiB aligned, never at pfn 0. */
	assert_true(phys_pool_first_pfn(a) >= FRAMES_1G);
	assert_int_equal(phys_pool_first_pfn(a) % FRAMES_1G, 0);
	assert_true(phys_pool_first_pfn(b) >= phys_pool_first_pfn(a) + 1024);
	assert_ptr_equal(phys_pool_machine(a), m);
	assert_int_equal(phys_pool_nr_frames(a), 1024);
	assert_int_equal(phys_pool_kind(a), PHYS_SYSTEM_RAM);

	/* Overlap is refused, nothing created. */
	cfg.first_pfn = phys_pool_first_pfn(a) + 1000;
	assert_int_equal(phys_pool_create(&cfg, &c), -EEXIST);
	assert_null(c);

	/* Lookups: the pool, the folio, a free frame, a frame of no pool. */
	f = alloc_ok(a, 3, 0);
	assert_ptr_equal(phys_pfn_to_pool(m, folio_pfn(f) + 5), a);
	assert_ptr_equal(phys_pfn_to_folio(m, folio_pfn(f) + 5), f);
	errno = 0;
	assert_null(phys_pfn_to_folio(m, phys_pool_first_pfn(a) + 1023));
	assert_int_equal(errno, ENOENT);
	errno = 0;
	assert_null(phys_pfn_to_folio(m, phys_pool_first_pfn(a) + 1024));
	assert_int_equal(errno, ERANGE);
	errno = 0;
	assert_null(phys_pfn_to_pool(m, 0));
	assert_int_equal(errno, ERANGE);
	/* Another machine does not see this one's pools. */
	assert_null(phys_pfn_to_pool(NULL, folio_pfn(f)));

	assert_int_equal(phys_machine_destroy(m), -EBUSY);
	assert_int_equal(phys_pool_destroy(a), -EBUSY);	/* f is live */
	put_last(a, f);
	destroy_pool(a);
	destroy_pool(b);
	assert_int_equal(phys_machine_destroy(m), 0);
}

static void test_stats_counters(void **state)
{
	struct phys_pool *pool = metadata_pool(1024);
	struct phys_pool_stats st;
	struct folio *f[4];

	(void)state;
	f[0] = alloc_ok(pool, 0, 0);	/* splits 1024 -> 512 ... -> 1: 10 splits */
	st = pool_stats(pool);
	assert_int_equal(st.block_splits, 10);
	for (unsigned int k = 0; k < 10; k++)
		assert_int_equal(st.free_blocks[k], 1);
	f[1] = alloc_ok(pool, 0, 0);
	f[2] = alloc_ok(pool, 1, 0);
	f[3] = alloc_ok(pool, 9, 0);
	assert_int_equal(folio_pfn(f[1]), folio_pfn(f[0]) + 1);
	assert_int_equal(folio_pfn(f[2]), folio_pfn(f[0]) + 2);
	assert_int_equal(folio_pfn(f[3]), folio_pfn(f[0]) + 512);
	assert_null(folio_alloc(pool, 9, 0));
	st = pool_stats(pool);
	assert_int_equal(st.allocs[0], 2);
	assert_int_equal(st.allocs[1], 1);
	assert_int_equal(st.allocs[9], 1);
	assert_int_equal(st.failures[9], 1);
	assert_int_equal(st.free_frames, 1024 - 516);
	for (int i = 0; i < 4; i++)
		put_last(pool, f[i]);
	st = pool_stats(pool);
	assert_int_equal(st.frees[0], 2);
	assert_int_equal(st.free_blocks[10], 1);
	assert_int_equal(st.live_folios, 0);
	destroy_pool(pool);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_order),
		cmocka_unit_test(test_exhaust_order0),
		cmocka_unit_test(test_fragment_helper),
		cmocka_unit_test(test_fragment_by_hand),
		cmocka_unit_test(test_machines_and_lookup),
		cmocka_unit_test(test_stats_counters),
	};
	int ret;

	hmmsim_thread_register();
	ret = cmocka_run_group_tests_name("phys_buddy", tests, NULL, NULL);
	hmmsim_thread_unregister();
	return ret;
}
