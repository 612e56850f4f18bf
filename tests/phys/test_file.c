// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Simulated files: folios allocated on demand, zero-filled, holding cache
 * references; shared mappings of them; truncation and the last file
 * reference dropping the cache; hugetlb files; data through pread/pwrite.
 */
#include <stdlib.h>

#include "phys_test.h"

static void test_file_cache(void **state)
{
	struct phys_pool *pool = make_pool(PHYS_SYSTEM_RAM, 1024, 0);
	struct phys_file *file = NULL;
	struct folio *f, *g;
	unsigned char buf[16];

	(void)state;
	assert_int_equal(phys_file_create(pool, 10 * SZ_4K + 100, &file), 0);
	assert_int_equal(phys_file_size(file), 10 * SZ_4K + 100);
	assert_int_equal(phys_file_nr_cached(file), 0);
	/* Not cached, not created. */
	assert_int_equal(phys_file_get_folio(file, 3, 0, &f), -ENOENT);
	/* Past the end: the kernel's SIGBUS. The partial last page exists. */
	assert_int_equal(phys_file_get_folio(file, 11, PHYS_FGP_CREAT, &f), -EFAULT);
	assert_int_equal(phys_file_get_folio(file, 10, PHYS_FGP_CREAT, &f), 0);
	assert_int_equal(folio_put(f), 0);

	assert_int_equal(phys_file_get_folio(file, 3, PHYS_FGP_CREAT, &f), 0);
	assert_int_equal(phys_file_nr_cached(file), 2);
	assert_ptr_equal(folio_file(f), file);
	assert_ptr_equal(folio_mapping(f), file);
	assert_int_equal(f->index, 3);
	assert_false(folio_test_anon(f));
	assert_int_equal(folio_cache_refs(f), 1);
	/* The cache's reference and the caller's. */
	assert_int_equal(folio_ref_count(f), 2);
	assert_int_equal(folio_read(f, 0, buf, sizeof(buf)), 0);
	for (size_t i = 0; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 0);
	assert_file_check(file);
	assert_pool_check(pool);

	/* Two shared mappings (two processes) of index 3. */
	/* The lookup's reference becomes the mapping's. */
	assert_int_equal(folio_add_file_rmap_pte(f, 0), 0);
	assert_int_equal(phys_file_get_folio(file, 3, 0, &g), 0);
	assert_ptr_equal(g, f);
	assert_int_equal(folio_add_file_rmap_pte(g, 0), 0);
	assert_int_equal(folio_ref_count(f), 3);
	assert_int_equal(folio_mapcount(f), 2);
	assert_file_check(file);
	assert_pool_check(pool);
	/* Writing through the cache shows in the mapped folio. */
	assert_int_equal(phys_file_write(file, 3 * SZ_4K + 8, "shared", 6), 0);
	assert_int_equal(folio_read(f, 8, buf, 6), 0);
	assert_memory_equal(buf, "shared", 6);
	assert_true(folio_test_dirty(f));

	/* Truncate below index 3: the cache lets go, the mappings keep it alive. */
	assert_int_equal(phys_file_truncate(file, 2 * SZ_4K), 0);
	assert_null(folio_mapping(f));
	assert_int_equal(folio_ref_count(f), 2);
	assert_int_equal(phys_file_nr_cached(file), 0);
	assert_file_check(file);
	assert_pool_check(pool);
	assert_int_equal(folio_remove_rmap_pte(f, 0), 0);
	assert_int_equal(folio_put(f), 0);
	assert_int_equal(folio_remove_rmap_pte(f, 0), 0);
	put_last(pool, f);

	/* The pool cannot go while a file uses it; the last file put frees the cache. */
	assert_int_equal(phys_file_write(file, 0, "x", 1), 0);
	assert_int_equal(phys_file_nr_cached(file), 1);
	assert_int_equal(phys_pool_destroy(pool), -EBUSY);
	phys_file_get(file);
	phys_file_put(file);
	assert_int_equal(phys_file_nr_cached(file), 1);
	phys_file_put(file);
	assert_int_equal(pool_stats(pool).live_folios, 1);	/* the zero page */
	destroy_pool(pool);
}

static void test_file_rw_and_truncate(void **state)
{
	struct phys_pool *pool = make_pool(PHYS_SYSTEM_RAM, 1024, 0);
	struct phys_file *file = NULL;
	const size_t len = 5 * SZ_4K;
	unsigned char *in = malloc(len), *out = malloc(len);
	struct folio *f;

	(void)state;
	assert_int_equal(phys_file_create(pool, len, &file), 0);
	for (size_t i = 0; i < len; i++)
		in[i] = (unsigned char)(i * 31 + 7);
	/* Across page boundaries, and a hole left in the middle. */
	assert_int_equal(phys_file_write(file, 100, in, SZ_4K), 0);
	assert_int_equal(phys_file_write(file, 3 * SZ_4K + 5, in, SZ_4K), 0);
	assert_int_equal(phys_file_nr_cached(file), 4);
	assert_int_equal(phys_file_read(file, 0, out, len), 0);
	for (size_t i = 0; i < len; i++) {
		unsigned char want = 0;

		if (i >= 100 && i < 100 + SZ_4K)
			want = in[i - 100];
		else if (i >= 3 * SZ_4K + 5 && i < 4 * SZ_4K + 5)
			want = in[i - 3 * SZ_4K - 5];
		assert_int_equal(out[i], want);
	}
	/* Reads of holes do not allocate. */
	assert_int_equal(phys_file_nr_cached(file), 4);
	assert_int_equal(phys_file_read(file, len - 10, out, 11), -EINVAL);
	assert_int_equal(phys_file_write(file, len, in, 1), -EINVAL);

	/* Truncate to the middle of a page: its tail reads as zeros again. */
	assert_int_equal(phys_file_truncate(file, 3 * SZ_4K + 50), 0);
	assert_int_equal(phys_file_nr_cached(file), 3);
	assert_int_equal(phys_file_get_folio(file, 3, 0, &f), 0);
	assert_int_equal(folio_read(f, 0, out, SZ_4K), 0);
	for (size_t i = 0; i < SZ_4K; i++)
		assert_int_equal(out[i], i < 5 ? 0 : i < 50 ? in[i - 5] : 0);
	assert_int_equal(folio_put(f), 0);
	/* Growing again exposes zeros, not the old bytes. */
	assert_int_equal(phys_file_truncate(file, len), 0);
	assert_int_equal(phys_file_read(file, 4 * SZ_4K, out, 16), 0);
	for (size_t i = 0; i < 16; i++)
		assert_int_equal(out[i], 0);
	assert_file_check(file);
	assert_pool_check(pool);
	phys_file_put(file);
	free(in);
	free(out);
	destroy_pool(pool);
}

static void test_file_hugetlb(void **state)
{
	struct phys_pool *pool = make_pool(PHYS_SYSTEM_RAM, FRAMES_1G, 0);
	struct phys_hugetlb *hp = NULL;
	struct phys_file *file = NULL;
	struct folio *f, *g;

	(void)state;
	assert_int_equal(phys_hugetlb_create(pool, 2, 0, &hp), 0);
	assert_int_equal(phys_file_create_hugetlb(hp, PHYS_PMD_ORDER, SZ_2M + SZ_4K, &file),
			 -EINVAL);
	assert_int_equal(phys_file_create_hugetlb(hp, 3, SZ_2M, &file), -EINVAL);
	assert_int_equal(phys_file_create_hugetlb(hp, PHYS_PMD_ORDER, 3 * SZ_2M, &file), 0);
	/* Page index 700 lies in the second huge page. */
	assert_int_equal(phys_file_get_folio(file, 700, PHYS_FGP_CREAT, &f), 0);
	assert_true(folio_test_hugetlb(f));
	assert_int_equal(f->index, 512);
	/* The kernel's hugetlb special case: one cache reference per folio. */
	assert_int_equal(folio_cache_refs(f), 1);
	assert_int_equal(folio_ref_count(f), 2);
	assert_int_equal(folio_add_file_rmap_pmd(f), 0);
	assert_file_check(file);
	assert_pool_check(pool);
	assert_int_equal(phys_file_get_folio(file, 0, PHYS_FGP_CREAT, &g), 0);
	/* The pool is empty now: a third huge page cannot be had. */
	{
		struct folio *h;

		assert_int_equal(phys_file_get_folio(file, 1100, PHYS_FGP_CREAT, &h), -ENOMEM);
		assert_int_equal(phys_file_get_folio(file, 1100, PHYS_FGP_CREAT | PHYS_FGP_RESERVED,
						     &h), -EINVAL);
	}
	assert_int_equal(phys_file_write(file, SZ_2M + 10, "huge", 4), 0);
	{
		char buf[4];

		assert_int_equal(folio_read(f, 10, buf, 4), 0);
		assert_memory_equal(buf, "huge", 4);
	}
	assert_int_equal(phys_file_truncate(file, SZ_2M + 1), -EINVAL);
	assert_int_equal(folio_put(g), 0);
	assert_int_equal(phys_file_truncate(file, 0), 0);
	assert_int_equal(folio_remove_rmap_pmd(f), 0);
	assert_int_equal(folio_put(f), 1);	/* back to the hugetlb pool */
	assert_int_equal(phys_hugetlb_destroy(hp), -EBUSY);	/* the file still uses it */
	phys_file_put(file);
	assert_pool_check(pool);
	assert_int_equal(phys_hugetlb_destroy(hp), 0);
	destroy_pool(pool);
}

static void assert_hugetlb_at(struct phys_hugetlb *hp, struct phys_file *file, uint64_t free,
			      uint64_t reserved, uint64_t file_reserved, const char *where,
			      int line)
{
	struct phys_hugetlb_stats hs;

	phys_hugetlb_stats(hp, &hs);
	if (hs.free[0] != free || hs.reserved[0] != reserved ||
	    (file && phys_file_nr_reserved(file) != file_reserved))
		fail_msg("%s:%d: %llu free, %llu reserved, the file %llu; expected %llu, %llu, "
			 "%llu",
			 where, line, (unsigned long long)hs.free[0],
			 (unsigned long long)hs.reserved[0],
			 (unsigned long long)(file ? phys_file_nr_reserved(file) : 0),
			 (unsigned long long)free, (unsigned long long)reserved,
			 (unsigned long long)file_reserved);
	if (file)
		phys_test_file_check(file, where, line);
}
#define assert_hugetlb(hp, file, free, resv, fresv) \
	assert_hugetlb_at((hp), (file), (free), (resv), (fresv), __FILE__, __LINE__)

/*
 * The reservation map of a hugetlb file (shared-hugetlb-resv): a page is
 * reserved once however many ranges cover it, its first allocation uses
 * the reservation (so nothing else can take it), and truncation and the
 * last put give back what was not used.
 */
static void test_file_hugetlb_reserve(void **state)
{
	struct phys_pool *pool = make_pool(PHYS_SYSTEM_RAM, FRAMES_1G, 0);
	struct phys_hugetlb *hp = NULL;
	struct phys_file *file = NULL, *plain = NULL, *other = NULL;
	struct folio *f, *g;

	(void)state;
	assert_int_equal(phys_hugetlb_create(pool, 3, 0, &hp), 0);
	assert_int_equal(phys_file_create_hugetlb(hp, PHYS_PMD_ORDER, 4 * SZ_2M, &file), 0);
	assert_int_equal(phys_file_create(pool, SZ_2M, &plain), 0);
	assert_hugetlb(hp, file, 3, 0, 0);

	/* Bad input: refused, nothing reserved. */
	assert_int_equal(phys_file_reserve(NULL, 0, SZ_2M), -EINVAL);
	assert_int_equal(phys_file_reserve(plain, 0, SZ_2M), -EINVAL);
	assert_int_equal(phys_file_reserve(file, SZ_4K, SZ_2M), -EINVAL);
	assert_int_equal(phys_file_reserve(file, 0, SZ_2M + SZ_4K), -EINVAL);
	assert_int_equal(phys_file_reserve(file, 3 * SZ_2M, 2 * SZ_2M), -EINVAL);
	assert_int_equal(phys_file_reserve(file, 5 * SZ_2M, SZ_2M), -EINVAL);
	assert_int_equal(phys_file_reserve(file, 2 * SZ_2M, -2 * SZ_2M), -EINVAL);
	assert_int_equal(phys_file_reserve(file, 0, 0), 0);
	assert_hugetlb(hp, file, 3, 0, 0);

	/* Pages 0 and 1; then 0 to 2 (a second mapping): only page 2 more. */
	assert_int_equal(phys_file_reserve(file, 0, 2 * SZ_2M), 0);
	assert_hugetlb(hp, file, 3, 2, 2);
	assert_int_equal(phys_file_reserve(file, 0, 3 * SZ_2M), 0);
	assert_hugetlb(hp, file, 3, 3, 3);
	assert_int_equal(phys_file_reserve(file, SZ_2M, SZ_2M), 0);
	assert_hugetlb(hp, file, 3, 3, 3);
	/* Page 3 needs one more than the pool has: -ENOMEM, nothing reserved. */
	assert_int_equal(phys_file_reserve(file, 2 * SZ_2M, 2 * SZ_2M), -ENOMEM);
	assert_hugetlb(hp, file, 3, 3, 3);
	/* Nobody else can take a reserved page... */
	assert_null(phys_hugetlb_alloc(hp, PHYS_PMD_ORDER, 0));
	assert_int_equal(errno, ENOMEM);
	assert_int_equal(phys_file_create_hugetlb(hp, PHYS_PMD_ORDER, SZ_2M, &other), 0);
	assert_int_equal(phys_file_get_folio(other, 0, PHYS_FGP_CREAT, &g), -ENOMEM);
	phys_file_put(other);
	/* ...but the file's own faults use them, all of them. */
	assert_int_equal(phys_file_get_folio(file, 0, PHYS_FGP_CREAT, &f), 0);
	assert_hugetlb(hp, file, 2, 2, 2);
	assert_int_equal(phys_file_write(file, 2 * SZ_2M + 7, "resv", 4), 0);
	assert_hugetlb(hp, file, 1, 1, 1);
	/* A cached page is not reserved again. */
	assert_int_equal(phys_file_reserve(file, 0, SZ_2M), 0);
	assert_hugetlb(hp, file, 1, 1, 1);
	/* Truncation gives back page 1's reservation, and frees page 2. */
	assert_int_equal(phys_file_truncate(file, SZ_2M), 0);
	assert_hugetlb(hp, file, 2, 0, 0);
	/* Growing reserves nothing; the last put gives back what is left. */
	assert_int_equal(phys_file_truncate(file, 3 * SZ_2M), 0);
	assert_int_equal(phys_file_reserve(file, SZ_2M, 2 * SZ_2M), 0);
	assert_hugetlb(hp, file, 2, 2, 2);
	assert_int_equal(folio_put(f), 0);
	phys_file_put(file);
	assert_hugetlb(hp, NULL, 3, 0, 0);
	phys_file_put(plain);
	assert_pool_check(pool);
	assert_int_equal(phys_hugetlb_destroy(hp), 0);
	destroy_pool(pool);
}

static void test_file_metadata(void **state)
{
	struct phys_pool *pool = make_pool(PHYS_SYSTEM_RAM, 1024, PHYS_POOL_METADATA);
	struct phys_file *file = NULL;
	unsigned char buf[8];

	(void)state;
	assert_int_equal(phys_file_create(pool, 1 << 20, &file), 0);
	assert_int_equal(phys_file_write(file, 10, "dropped!", 8), 0);
	assert_int_equal(phys_file_nr_cached(file), 1);
	memset(buf, 0xff, sizeof(buf));
	assert_int_equal(phys_file_read(file, 10, buf, 8), 0);
	for (size_t i = 0; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 0);
	assert_file_check(file);
	phys_file_put(file);
	/* Files live on system RAM only. */
	{
		struct phys_pool *dev = make_pool(PHYS_DEVICE_PRIVATE, 16, 0);

		assert_int_equal(phys_file_create(dev, 4096, &file), -EINVAL);
		destroy_pool(dev);
	}
	destroy_pool(pool);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_file_cache),
		cmocka_unit_test(test_file_rw_and_truncate),
		cmocka_unit_test(test_file_hugetlb),
		cmocka_unit_test(test_file_hugetlb_reserve),
		cmocka_unit_test(test_file_metadata),
	};
	int ret;

	hmmsim_thread_register();
	ret = cmocka_run_group_tests_name("phys_file", tests, NULL, NULL);
	hmmsim_thread_unregister();
	return ret;
}
