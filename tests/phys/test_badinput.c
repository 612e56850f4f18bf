// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Bad input: every refused call returns its errno and leaves the pool, the
 * folio and its counts exactly as they were (counters compared with a
 * snapshot, checkers run after each).
 */
#include "phys_test.h"

/* Run @call, expect @err, and show that nothing changed. */
#define refused(pool, call, err) do {					\
	struct phys_pool_stats _before = pool_stats(pool), _after;	\
	assert_int_equal((call), (err));				\
	_after = pool_stats(pool);					\
	assert_stats_equal(&_before, &_after);				\
	assert_pool_check(pool);					\
} while (0)

#define refused_null(pool, call, err) do {				\
	struct phys_pool_stats _before = pool_stats(pool), _after;	\
	errno = 0;							\
	assert_null(call);						\
	assert_int_equal(errno, (err));					\
	_after = pool_stats(pool);					\
	assert_stats_equal(&_before, &_after);				\
	assert_pool_check(pool);					\
} while (0)

static void test_bad_pool_configs(void **state)
{
	struct phys_pool_config cfg = { .nr_frames = 16, .first_pfn = PHYS_PFN_AUTO };
	struct phys_pool *pool = NULL, *other;
	static const struct phys_pgmap_ops ops;

	(void)state;
	assert_int_equal(phys_pool_create(NULL, &pool), -EINVAL);
	assert_int_equal(phys_pool_create(&cfg, NULL), -EINVAL);
	cfg.nr_frames = 0;
	assert_int_equal(phys_pool_create(&cfg, &pool), -EINVAL);
	cfg.nr_frames = 16;
	cfg.kind = 7;
	assert_int_equal(phys_pool_create(&cfg, &pool), -EINVAL);
	cfg.kind = PHYS_SYSTEM_RAM;
	cfg.flags = 1u << 20;
	assert_int_equal(phys_pool_create(&cfg, &pool), -EINVAL);
	cfg.flags = 0;
	cfg.ops = &ops;
	assert_int_equal(phys_pool_create(&cfg, &pool), -EINVAL);
	cfg.ops = NULL;
	cfg.first_pfn = (UINT64_C(1) << 40) - 8;
	assert_int_equal(phys_pool_create(&cfg, &pool), -EINVAL);
	cfg.first_pfn = UINT64_C(1) << 39;
	cfg.nr_frames = UINT64_C(1) << 40;
	assert_int_equal(phys_pool_create(&cfg, &pool), -EINVAL);
	assert_null(pool);

	cfg.nr_frames = 16;
	other = make_pool_cfg(&cfg);
	assert_int_equal(phys_pool_create(&cfg, &pool), -EEXIST);
	cfg.first_pfn += 15;
	assert_int_equal(phys_pool_create(&cfg, &pool), -EEXIST);
	cfg.first_pfn += 1;
	pool = make_pool_cfg(&cfg);		/* adjacent is fine */
	destroy_pool(pool);
	destroy_pool(other);
	assert_int_equal(phys_pool_destroy(NULL), -EINVAL);
	assert_int_equal(phys_machine_destroy(NULL), -EINVAL);
	assert_int_equal(phys_machine_create(NULL), -EINVAL);
}

static void test_bad_alloc(void **state)
{
	struct phys_pool *pool = make_pool(PHYS_SYSTEM_RAM, 512, 0);

	(void)state;
	refused_null(pool, folio_alloc(pool, PHYS_MAX_ORDER + 1, 0), EINVAL);
	refused_null(pool, folio_alloc(pool, 0, 1u << 9), EINVAL);
	errno = 0;
	assert_null(folio_alloc(NULL, 0, 0));
	assert_int_equal(errno, EINVAL);
	/* Larger than the pool: a failure, counted, nothing allocated. */
	errno = 0;
	assert_null(folio_alloc(pool, 10, 0));
	assert_int_equal(errno, ENOMEM);
	assert_int_equal(pool_stats(pool).failures[10], 1);
	assert_pool_check(pool);
	destroy_pool(pool);
}

static void test_bad_refs(void **state)
{
	struct phys_pool *pool = make_pool(PHYS_SYSTEM_RAM, 512, 0);
	struct folio *f = alloc_ok(pool, 2, 0);

	(void)state;
	refused(pool, folio_put_refs(f, 0), -EINVAL);
	refused(pool, folio_put_refs(f, -3), -EINVAL);
	refused(pool, folio_put_refs(f, 2), -EINVAL);
	refused(pool, folio_ref_add(f, 0), -EINVAL);
	refused(pool, folio_ref_add(f, INT32_MAX), -EINVAL);
	assert_int_equal(folio_ref_count(f), 1);
	refused(pool, folio_put(NULL), -EINVAL);
	refused(pool, folio_get(NULL), -EINVAL);
	assert_false(folio_try_get(NULL));

	/* The last reference of a still-mapped folio: a broken caller, refused. */
	{
		struct folio *g = alloc_ok(pool, 0, 0);

		assert_int_equal(folio_add_new_anon_rmap(g, 0), 0);
		refused(pool, folio_put(g), -EINVAL);
		assert_int_equal(folio_ref_count(g), 1);
		assert_int_equal(folio_mapcount(g), 1);
		assert_int_equal(folio_remove_rmap_pte(g, 0), 0);
		put_last(pool, g);
	}

	/* Freed: poisoned. */
	put_last(pool, f);
	refused(pool, folio_put(f), -EINVAL);
	refused(pool, folio_get(f), -EINVAL);
	refused(pool, folio_ref_add(f, 1), -EINVAL);
	refused(pool, folio_pin(f), -EINVAL);
	refused(pool, unpin_folio(f), -EINVAL);
	refused(pool, folio_set_flags(f, FOLIO_DIRTY), -EINVAL);
	refused(pool, folio_set_anon(f), -EINVAL);
	refused(pool, folio_add_new_anon_rmap(f, 0), -EINVAL);
	refused(pool, folio_remove_rmap_pte(f, 0), -EINVAL);
	refused(pool, split_folio(f), -EINVAL);
	assert_false(folio_try_get(f));
	destroy_pool(pool);
}

static void test_bad_rmap(void **state)
{
	struct phys_pool *pool = make_pool(PHYS_SYSTEM_RAM, 2048, 0);
	struct folio *s = alloc_ok(pool, 0, 0);
	struct folio *l = alloc_ok(pool, PHYS_PMD_ORDER, 0);
	struct folio *m = alloc_ok(pool, 3, 0);

	(void)state;
	assert_int_equal(folio_add_new_anon_rmap(s, RMAP_EXCLUSIVE), 0);
	assert_int_equal(folio_add_new_anon_rmap(l, RMAP_EXCLUSIVE), 0);
	/* Unknown flags, pages outside the folio, empty ranges. */
	refused(pool, folio_add_anon_rmap_pte(s, 0, 1u << 5), -EINVAL);
	refused(pool, folio_add_anon_rmap_pte(s, 1, 0), -EINVAL);
	refused(pool, folio_add_anon_rmap_ptes(l, 500, 13, 0), -EINVAL);
	refused(pool, folio_add_anon_rmap_ptes(l, 0, 0, 0), -EINVAL);
	refused(pool, folio_add_anon_rmap_ptes(l, UINT64_MAX, 2, 0), -EINVAL);
	refused(pool, folio_page_mapcount(l, 512), -EINVAL);
	/* Wrong kinds: file rmap on anon, anon rmap on non-anon, exclusivity on file. */
	refused(pool, folio_add_file_rmap_pte(s, 0), -EINVAL);
	refused(pool, folio_add_anon_rmap_pte(m, 0, 0), -EINVAL);
	refused(pool, folio_set_page_anon_exclusive(m, 0), -EINVAL);
	refused(pool, folio_try_dup_anon_rmap_ptes(m, 0, 1), -EINVAL);
	/* Entire mappings of the wrong order; new-anon on a mapped folio. */
	refused(pool, folio_add_anon_rmap_pmd(s, 0), -EINVAL);
	refused(pool, folio_add_anon_rmap_pud(l, 0), -EINVAL);
	refused(pool, folio_add_file_rmap_pmd(m), -EINVAL);
	refused(pool, folio_add_new_anon_rmap(l, 0), -EINVAL);
	refused(pool, folio_try_dup_anon_rmap_pmd(s), -EINVAL);
	refused(pool, folio_try_share_anon_rmap_pmd(s), -EINVAL);

	/* Removing what is not there, counts never negative. */
	refused(pool, folio_remove_rmap_pmd(m), -EINVAL);
	refused(pool, folio_remove_rmap_pte(m, 0), -EINVAL);
	refused(pool, folio_remove_rmap_pud(l), -EINVAL);
	assert_int_equal(folio_ref_add(l, 5), 0);
	assert_int_equal(folio_add_anon_rmap_ptes(l, 10, 5, 0), 0);
	/* Pages 10..14 are mapped, 15 is not: the whole call is refused. */
	refused(pool, folio_remove_rmap_ptes(l, 10, 6), -EINVAL);
	assert_int_equal(folio_page_pte_mapcount(l, 10), 1);
	assert_int_equal(folio_page_pte_mapcount(l, 14), 1);
	assert_int_equal(folio_mapcount(l), 6);
	assert_int_equal(folio_nr_pages_mapped(l), 5);
	assert_int_equal(folio_remove_rmap_ptes(l, 10, 5), 0);
	assert_int_equal(folio_put_refs(l, 5), 0);
	assert_int_equal(folio_remove_rmap_pmd(l), 0);
	refused(pool, folio_remove_rmap_pmd(l), -EINVAL);
	assert_int_equal(folio_entire_mapcount(l), 0);
	assert_int_equal(folio_remove_rmap_pte(s, 0), 0);
	refused(pool, folio_remove_rmap_pte(s, 0), -EINVAL);
	assert_int_equal(folio_mapcount(s), 0);

	/* Flags: only the caller's. Unlocking an unlocked folio. */
	refused(pool, folio_set_flags(m, FOLIO_ZERO), -EINVAL);
	refused(pool, folio_clear_flags(m, FOLIO_DEVICE_PRIVATE | FOLIO_DIRTY), -EINVAL);
	refused(pool, folio_unlock(m), -EINVAL);
	refused(pool, unpin_folio(m), -EINVAL);

	put_last(pool, s);
	put_last(pool, l);
	put_last(pool, m);
	destroy_pool(pool);
}

static void test_bad_data_and_files(void **state)
{
	struct phys_pool *pool = make_pool(PHYS_SYSTEM_RAM, 512, 0);
	struct folio *f = alloc_ok(pool, 0, 0);
	struct phys_file *file = NULL;
	struct folio *out = NULL;
	char buf[8];

	(void)state;
	refused(pool, folio_read(f, SZ_4K - 4, buf, 8), -EINVAL);
	refused(pool, folio_read(f, UINT64_MAX, buf, 8), -EINVAL);
	refused(pool, folio_write(f, 0, NULL, 8), -EINVAL);
	refused(pool, folio_zero_range(f, 8, UINT64_MAX), -EINVAL);
	refused(pool, folio_copy_page(f, 0, f, 1), -EINVAL);

	assert_int_equal(phys_file_create(NULL, 4096, &file), -EINVAL);
	assert_int_equal(phys_file_create(pool, 4096, NULL), -EINVAL);
	assert_int_equal(phys_file_create(pool, 2 * SZ_4K, &file), 0);
	refused(pool, phys_file_get_folio(file, 0, 1u << 8, &out), -EINVAL);
	refused(pool, phys_file_get_folio(file, 0, PHYS_FGP_RESERVED | PHYS_FGP_CREAT, &out),
		-EINVAL);
	refused(pool, phys_file_get_folio(file, 2, PHYS_FGP_CREAT, &out), -EFAULT);
	refused(pool, phys_file_get_folio(file, UINT64_MAX, PHYS_FGP_CREAT, &out), -EFAULT);
	refused(pool, phys_file_write(file, SZ_4K, buf, SZ_4K + 1), -EINVAL);
	refused(pool, phys_file_read(file, UINT64_MAX, buf, 2), -EINVAL);
	refused(pool, phys_file_read(file, 0, NULL, 2), -EINVAL);
	assert_null(out);
	assert_int_equal(phys_file_nr_cached(file), 0);
	assert_file_check(file);
	/* A page-cache folio cannot become anon. */
	assert_int_equal(phys_file_get_folio(file, 1, PHYS_FGP_CREAT, &out), 0);
	refused(pool, folio_set_anon(out), -EINVAL);
	refused(pool, folio_add_new_anon_rmap(out, 0), -EINVAL);
	assert_int_equal(folio_put(out), 0);
	phys_file_put(file);

	/* Hugetlb with the wrong orders or flags. */
	{
		struct phys_hugetlb *hp = NULL;

		assert_int_equal(phys_hugetlb_create(NULL, 1, 0, &hp), -EINVAL);
		assert_int_equal(phys_hugetlb_create(pool, 0, 0, &hp), 0);
		refused_null(pool, phys_hugetlb_alloc(hp, 0, 0), EINVAL);
		refused_null(pool, phys_hugetlb_alloc(hp, PHYS_PMD_ORDER, 0), ENOMEM);
		assert_int_equal(phys_hugetlb_reserve(hp, PHYS_PMD_ORDER, 1), -ENOMEM);
		assert_int_equal(phys_hugetlb_unreserve(hp, PHYS_PMD_ORDER, 1), -EINVAL);
		assert_int_equal(phys_hugetlb_destroy(NULL), -EINVAL);
		assert_int_equal(phys_hugetlb_destroy(hp), 0);
	}
	put_last(pool, f);
	destroy_pool(pool);
}

/* White-box: the checkers name what is wrong when a folio's fields are corrupted. */
static void expect_corrupt(struct phys_pool *pool, struct folio *f, const char *what)
{
	char msg[256] = "";

	assert_int_equal(folio_check(f, msg, sizeof(msg)), -EUCLEAN);
	assert_non_null(strstr(msg, what));
	msg[0] = 0;
	assert_int_equal(phys_pool_check(pool, msg, sizeof(msg)), -EUCLEAN);
	assert_non_null(strstr(msg, what));
}

static void test_checkers_catch_corruption(void **state)
{
	struct phys_pool *pool = make_pool(PHYS_SYSTEM_RAM, 2048, 0);
	struct folio *s = alloc_ok(pool, 0, 0), *l = alloc_ok(pool, PHYS_PMD_ORDER, 0);
	char msg[256];

	(void)state;
	s->_mapcount = 3;			/* three mappings, one reference */
	expect_corrupt(pool, s, "refcount 1 < 3");
	s->_mapcount = -1;
	expect_corrupt(pool, s, "negative");
	s->_mapcount = 0;
	s->_flags |= FOLIO_ANON_EXCLUSIVE;	/* exclusive but not anon */
	expect_corrupt(pool, s, "anon-exclusive");
	s->_flags &= ~FOLIO_ANON_EXCLUSIVE;
	l->_large_mapcount = 2;			/* mappings nobody counted */
	expect_corrupt(pool, l, "but mapcount 2");
	l->_large_mapcount = 0;
	assert_pool_check(pool);
	/* A folio that claims frames it does not hold. */
	l->pfn += 1;
	assert_int_equal(phys_pool_check(pool, msg, sizeof(msg)), -EUCLEAN);
	assert_non_null(strstr(msg, "misplaced"));
	l->pfn -= 1;
	assert_pool_check(pool);
	put_last(pool, s);
	put_last(pool, l);
	destroy_pool(pool);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_pool_configs),
		cmocka_unit_test(test_bad_alloc),
		cmocka_unit_test(test_bad_refs),
		cmocka_unit_test(test_bad_rmap),
		cmocka_unit_test(test_bad_data_and_files),
		cmocka_unit_test(test_checkers_catch_corruption),
	};
	int ret;

	hmmsim_thread_register();
	ret = cmocka_run_group_tests_name("phys_badinput", tests, NULL, NULL);
	hmmsim_thread_unregister();
	return ret;
}
