// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The zero page and the huge zero folio: shared, flagged, never freed, never
 * counted by mappings, read-only bytes, and the huge one allocated on first
 * use (so it can fail under fragmentation) with a reference per user.
 */
#include "phys_test.h"

static void test_zero_page(void **state)
{
	struct phys_pool *pool = make_pool(PHYS_SYSTEM_RAM, 1024, 0);
	struct folio *z = phys_zero_folio(pool);
	unsigned char buf[64];
	const unsigned char *bytes;

	(void)state;
	assert_non_null(z);
	assert_ptr_equal(phys_zero_folio(pool), z);
	assert_true(is_zero_folio(z));
	assert_false(is_huge_zero_folio(z));
	assert_int_equal(folio_order(z), 0);
	assert_int_equal(folio_ref_count(z), 1);
	assert_ptr_equal(phys_pfn_to_folio(NULL, folio_pfn(z)), z);

	/* Its bytes are zeros, and stay so. */
	bytes = folio_data(z, 0);
	assert_non_null(bytes);
	for (uint64_t i = 0; i < SZ_4K; i++)
		assert_int_equal(bytes[i], 0);
	memset(buf, 0xaa, sizeof(buf));
	assert_int_equal(folio_write(z, 0, buf, sizeof(buf)), -EPERM);
	assert_int_equal(folio_zero(z), -EPERM);
	assert_int_equal(folio_copy_page(z, 0, z, 0), -EPERM);
	assert_int_equal(folio_read(z, 100, buf, sizeof(buf)), 0);
	for (size_t i = 0; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 0);

	/* Special mappings: no rmap, no anon, pins are no-ops. */
	assert_int_equal(folio_add_file_rmap_pte(z, 0), -EINVAL);
	assert_int_equal(folio_add_new_anon_rmap(z, 0), -EINVAL);
	assert_int_equal(folio_set_anon(z), -EINVAL);
	assert_int_equal(folio_pin(z), 0);
	assert_int_equal(folio_ref_count(z), 1);
	assert_int_equal(unpin_folio(z), 0);
	/* A GUP reference works; the pool's own one can never be dropped. */
	assert_int_equal(folio_get(z), 0);
	assert_int_equal(folio_put(z), 0);
	assert_int_equal(folio_put(z), -EINVAL);
	assert_int_equal(folio_ref_count(z), 1);
	assert_pool_check(pool);
	/* Copying from it zeroes the destination: the COW of a zero-page PTE. */
	{
		struct folio *f = alloc_ok(pool, 0, 0);

		assert_int_equal(folio_write(f, 0, "x", 1), 0);
		assert_int_equal(folio_copy(f, z), 0);
		assert_int_equal(folio_read(f, 0, buf, 1), 0);
		assert_int_equal(buf[0], 0);
		put_last(pool, f);
	}
	/* The zero page does not keep the pool alive. */
	destroy_pool(pool);
}

static void test_huge_zero(void **state)
{
	struct phys_pool *pool = make_pool(PHYS_SYSTEM_RAM, 4096, 0);
	struct phys_pool_stats st0 = pool_stats(pool);
	struct folio *h1, *h2;

	(void)state;
	/* Allocated on first use only. */
	h1 = phys_huge_zero_folio_get(pool);
	assert_non_null(h1);
	assert_true(is_huge_zero_folio(h1));
	assert_false(is_zero_folio(h1));
	assert_int_equal(folio_order(h1), PHYS_PMD_ORDER);
	assert_int_equal(pool_stats(pool).allocs[PHYS_PMD_ORDER], st0.allocs[PHYS_PMD_ORDER] + 1);
	/* One reference per user (per mm), on top of the pool's. */
	assert_int_equal(folio_ref_count(h1), 2);
	h2 = phys_huge_zero_folio_get(pool);
	assert_ptr_equal(h1, h2);
	assert_int_equal(folio_ref_count(h1), 3);
	assert_int_equal(folio_add_anon_rmap_pmd(h1, 0), -EINVAL);
	assert_int_equal(folio_add_file_rmap_pmd(h1), -EINVAL);
	assert_int_equal(folio_mapcount(h1), 0);
	assert_pool_check(pool);
	for (uint64_t i = 0; i < 512; i += 37) {
		const unsigned char *b = folio_data(h1, i);

		assert_int_equal(b[0] | b[SZ_4K - 1], 0);
	}
	assert_int_equal(folio_put(h1), 0);
	assert_int_equal(folio_put(h2), 0);
	/* The users are gone; the folio stays (a persistent huge zero folio). */
	assert_int_equal(folio_put(h1), -EINVAL);
	assert_int_equal(folio_ref_count(h1), 1);
	assert_pool_check(pool);
	destroy_pool(pool);

	/* Under fragmentation the first use fails; the fault falls back. */
	pool = make_pool(PHYS_SYSTEM_RAM, 4096, 0);
	assert_true(phys_pool_fragment(pool, 8) > 0);
	errno = 0;
	assert_null(phys_huge_zero_folio_get(pool));
	assert_int_equal(errno, ENOMEM);
	assert_pool_check(pool);
	phys_pool_unfragment(pool);
	h1 = phys_huge_zero_folio_get(pool);
	assert_non_null(h1);
	assert_int_equal(folio_put(h1), 0);
	destroy_pool(pool);

	/* Device memory has neither. */
	pool = make_pool(PHYS_DEVICE_PRIVATE, 1024, 0);
	errno = 0;
	assert_null(phys_zero_folio(pool));
	assert_int_equal(errno, EINVAL);
	assert_null(phys_huge_zero_folio_get(pool));
	destroy_pool(pool);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_zero_page),
		cmocka_unit_test(test_huge_zero),
	};
	int ret;

	hmmsim_thread_register();
	ret = cmocka_run_group_tests_name("phys_zero", tests, NULL, NULL);
	hmmsim_thread_unregister();
	return ret;
}
