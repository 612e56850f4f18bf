// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Bytes: frames carry real data in a bytes pool (each frame its own, a COW
 * copy independent of its source) and nothing in a metadata pool, where
 * reads give zeros and writes vanish.
 */
#include <stdlib.h>

#include "phys_test.h"

static void test_bytes_mode(void **state)
{
	struct phys_pool *pool = make_pool(PHYS_SYSTEM_RAM, 2048, 0);
	struct folio *thp = alloc_ok(pool, PHYS_PMD_ORDER, FOLIO_ALLOC_ZERO);
	struct folio *a = alloc_ok(pool, 0, 0), *b = alloc_ok(pool, 0, FOLIO_ALLOC_ZERO);
	unsigned char buf[SZ_4K];

	(void)state;
	assert_true(folio_has_data(thp));
	/* Each page of a large folio is its frame's 4 KiB, in pfn order. */
	for (uint64_t i = 0; i < 512; i++) {
		unsigned char *p = folio_data(thp, i);

		assert_non_null(p);
		assert_ptr_equal(p, (unsigned char *)folio_data(thp, 0) + i * SZ_4K);
		memset(p, (int)(i & 0xff), SZ_4K);
	}
	errno = 0;
	assert_null(folio_data(thp, 512));
	assert_int_equal(errno, EINVAL);
	/* Reads straddle pages. */
	assert_int_equal(folio_read(thp, 5 * SZ_4K - 2, buf, 4), 0);
	assert_int_equal(buf[0], 4);
	assert_int_equal(buf[3], 5);
	assert_int_equal(folio_read(thp, folio_size(thp) - 1, buf, 2), -EINVAL);
	assert_int_equal(folio_write(thp, folio_size(thp), buf, 1), -EINVAL);
	assert_int_equal(folio_write(thp, folio_size(thp), buf, 0), 0);

	/* COW of page 77 into a: a copy, then the copies diverge. */
	assert_int_equal(folio_copy_page(a, 0, thp, 77), 0);
	assert_int_equal(folio_write(a, 0, "child", 5), 0);
	assert_int_equal(folio_read(thp, 77 * SZ_4K, buf, 5), 0);
	for (int i = 0; i < 5; i++)
		assert_int_equal(buf[i], 77);
	assert_int_equal(folio_read(a, 5, buf, 1), 0);
	assert_int_equal(buf[0], 77);
	assert_int_equal(folio_copy_page(a, 1, thp, 0), -EINVAL);
	assert_int_equal(folio_copy(a, thp), -EINVAL);

	/* Whole-folio copy and zeroing. */
	assert_int_equal(folio_copy(b, a), 0);
	assert_int_equal(folio_read(b, 0, buf, 5), 0);
	assert_memory_equal(buf, "child", 5);
	assert_int_equal(folio_zero_range(b, 1, 3), 0);
	assert_int_equal(folio_read(b, 0, buf, 5), 0);
	assert_memory_equal(buf, "c\0\0\0d", 5);
	assert_int_equal(folio_zero_range(b, SZ_4K - 1, 2), -EINVAL);
	assert_int_equal(folio_zero(b), 0);
	assert_int_equal(folio_read(b, 0, buf, SZ_4K), 0);
	for (size_t i = 0; i < SZ_4K; i++)
		assert_int_equal(buf[i], 0);

	/* Freed and reallocated frames keep their bytes unless zeroing is asked for. */
	memset(folio_data(a, 0), 0x5a, SZ_4K);
	{
		uint64_t pfn = folio_pfn(a);

		put_last(pool, a);
		a = alloc_ok(pool, 0, 0);
		assert_int_equal(folio_pfn(a), pfn);
		assert_int_equal(((unsigned char *)folio_data(a, 0))[9], 0x5a);
		put_last(pool, a);
		a = alloc_ok(pool, 0, FOLIO_ALLOC_ZERO);
		assert_int_equal(folio_pfn(a), pfn);
		assert_int_equal(((unsigned char *)folio_data(a, 0))[9], 0);
	}
	put_last(pool, a);
	put_last(pool, b);
	put_last(pool, thp);
	destroy_pool(pool);
}

static void test_metadata_mode(void **state)
{
	/* A terabyte of simulated memory costs a few megabytes of host memory. */
	struct phys_pool *pool = make_pool(PHYS_SYSTEM_RAM, UINT64_C(1) << 28, PHYS_POOL_METADATA);
	struct folio *big = alloc_ok(pool, PHYS_MAX_ORDER, FOLIO_ALLOC_ZERO);
	struct folio *s = alloc_ok(pool, 0, 0);
	unsigned char buf[16];

	(void)state;
	assert_int_equal(phys_pool_nr_frames(pool), UINT64_C(1) << 28);
	assert_false(folio_has_data(s));
	errno = 0;
	assert_null(folio_data(s, 0));
	assert_int_equal(errno, ENODATA);
	assert_int_equal(folio_write(s, 0, "lost", 4), 0);
	memset(buf, 0xff, sizeof(buf));
	assert_int_equal(folio_read(s, 0, buf, sizeof(buf)), 0);
	for (size_t i = 0; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 0);
	assert_int_equal(folio_zero(big), 0);
	assert_int_equal(folio_copy_page(s, 0, big, 1000), 0);
	assert_int_equal(folio_read(s, 0, buf, 1), 0);
	assert_int_equal(folio_read(s, SZ_4K, buf, 1), -EINVAL);
	/* The zero pages exist here too, without bytes. */
	assert_non_null(phys_zero_folio(pool));
	assert_null(folio_data(phys_zero_folio(pool), 0));
	put_last(pool, s);
	put_last(pool, big);
	destroy_pool(pool);

	/* A metadata source copies zeros into a bytes destination. */
	{
		struct phys_pool *meta = make_pool(PHYS_DEVICE_PRIVATE, 16, PHYS_POOL_METADATA);
		struct phys_pool *ram = make_pool(PHYS_SYSTEM_RAM, 16, 0);
		struct folio *m = alloc_ok(meta, 0, 0), *r = alloc_ok(ram, 0, 0);

		memset(folio_data(r, 0), 0x33, SZ_4K);
		assert_int_equal(folio_copy(r, m), 0);
		assert_int_equal(((unsigned char *)folio_data(r, 0))[100], 0);
		assert_int_equal(folio_copy(m, r), 0);
		put_last(meta, m);
		put_last(ram, r);
		destroy_pool(meta);
		destroy_pool(ram);
	}
}

/* Device pools carry bytes too: the fake GPU reads what migration copied in. */
static void test_device_bytes(void **state)
{
	struct phys_pool *ram = make_pool(PHYS_SYSTEM_RAM, 64, 0);
	struct phys_pool *dev = make_pool(PHYS_DEVICE_PRIVATE, 64, 0);
	struct folio *s = alloc_ok(ram, 0, 0), *d = alloc_ok(dev, 0, 0);
	char buf[8];

	(void)state;
	assert_int_equal(folio_write(s, 100, "migrate", 7), 0);
	assert_int_equal(folio_copy(d, s), 0);
	assert_int_equal(folio_read(d, 100, buf, 7), 0);
	assert_memory_equal(buf, "migrate", 7);
	assert_ptr_not_equal(folio_data(d, 0), folio_data(s, 0));
	put_last(ram, s);
	put_last(dev, d);
	destroy_pool(ram);
	destroy_pool(dev);
}

/* Bytes placed on a host node: the same behaviour, wherever they live. */
static void test_numa_placement(void **state)
{
	struct phys_pool_config cfg = {
		.kind = PHYS_SYSTEM_RAM, .nr_frames = 1024, .first_pfn = PHYS_PFN_AUTO,
		.flags = PHYS_POOL_NUMA, .numa_node = 0, .name = "node0",
	};
	struct phys_pool *pool = make_pool_cfg(&cfg);
	struct folio *f = alloc_ok(pool, 4, FOLIO_ALLOC_ZERO);
	char buf[4];

	(void)state;
	assert_int_equal(folio_write(f, 15 * SZ_4K, "numa", 4), 0);
	assert_int_equal(folio_read(f, 15 * SZ_4K, buf, 4), 0);
	assert_memory_equal(buf, "numa", 4);
	put_last(pool, f);
	destroy_pool(pool);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bytes_mode),
		cmocka_unit_test(test_metadata_mode),
		cmocka_unit_test(test_device_bytes),
		cmocka_unit_test(test_numa_placement),
	};
	int ret;

	hmmsim_thread_register();
	ret = cmocka_run_group_tests_name("phys_data", tests, NULL, NULL);
	hmmsim_thread_unregister();
	return ret;
}
