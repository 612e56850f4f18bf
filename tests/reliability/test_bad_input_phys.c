// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Bad input to the phys API (docs/bad-input.md, section phys): the rows
 * that tests/phys does not check, or checks without the errno. Each refused
 * call must return its errno (or NULL and errno) and leave everything as it
 * was: the pool's counters (phys_pool_stats), the folio it was given (every
 * count, flag and per-page mapcount), and phys_pool_check().
 */
#include <stdlib.h>

#include "phys_test.h"

/* Everything a refused call must not change about one folio. */
struct fsnap {
	uint64_t pfn;
	unsigned int order;
	uint32_t flags;
	int ref, map, entire, mapped, pins;
	void *mapping;
	int pte[512];
	bool excl[512];
};

static void fsnap_take(const struct folio *f, struct fsnap *s)
{
	uint64_t n;

	memset(s, 0, sizeof(*s));
	if (!f)
		return;
	s->pfn = folio_pfn(f);
	s->order = folio_order(f);
	s->flags = folio_flags(f);
	s->ref = folio_ref_count(f);
	s->map = folio_mapcount(f);
	s->entire = folio_entire_mapcount(f);
	s->mapped = folio_nr_pages_mapped(f);
	s->pins = folio_pin_count(f);
	s->mapping = folio_mapping(f);
	n = folio_nr_pages(f) < 512 ? folio_nr_pages(f) : 512;
	for (uint64_t i = 0; i < n; i++) {
		s->pte[i] = folio_page_pte_mapcount(f, i);
		s->excl[i] = folio_page_anon_exclusive(f, i);
	}
}

/*
 * Run @call (an int or int64_t result), expect @err, and show that nothing
 * changed: the pool's counters, folio @f (may be NULL) and the checkers.
 */
#define REFUSED(pool, f, call, err) do {				\
	struct phys_pool_stats _b = pool_stats(pool), _a;		\
	struct fsnap *_fb = malloc(2 * sizeof(struct fsnap));		\
	int64_t _r;							\
									\
	assert_non_null(_fb);						\
	fsnap_take((f), &_fb[0]);					\
	_r = (call);							\
	if (_r != (err))						\
		fail_msg("%s = %lld, expected %lld", #call, (long long)_r, (long long)(err)); \
	_a = pool_stats(pool);						\
	assert_stats_equal(&_b, &_a);					\
	fsnap_take((f), &_fb[1]);					\
	assert_memory_equal(&_fb[0], &_fb[1], sizeof(struct fsnap));	\
	free(_fb);							\
	assert_pool_check(pool);					\
	if (f)								\
		assert_folio_check(f);					\
} while (0)

/* The same for a call that returns a pointer: NULL and @err in errno. */
#define REFUSED_NULL(pool, f, call, err) do {				\
	struct phys_pool_stats _b = pool_stats(pool), _a;		\
	struct fsnap *_fb = malloc(2 * sizeof(struct fsnap));		\
	void *_p;							\
									\
	assert_non_null(_fb);						\
	fsnap_take((f), &_fb[0]);					\
	errno = 0;							\
	_p = (void *)(call);						\
	if (_p || errno != (err))					\
		fail_msg("%s = %p, errno %d, expected NULL and %d", #call, _p, errno, (err)); \
	_a = pool_stats(pool);						\
	assert_stats_equal(&_b, &_a);					\
	fsnap_take((f), &_fb[1]);					\
	assert_memory_equal(&_fb[0], &_fb[1], sizeof(struct fsnap));	\
	free(_fb);							\
	assert_pool_check(pool);					\
} while (0)

/* The 257th pool of a machine: -ENOSPC, no pool made, the machine as it was. */
static void test_pool_limit(void **state)
{
	struct phys_pool_config cfg = {
		.kind = PHYS_DEVICE_PRIVATE, .nr_frames = 16, .flags = PHYS_POOL_METADATA,
	};
	struct phys_pool **pools = calloc(PHYS_MAX_POOLS, sizeof(*pools));
	struct phys_machine *m = NULL;
	struct phys_pool *extra = NULL;

	(void)state;
	assert_non_null(pools);
	assert_int_equal(phys_machine_create(&m), 0);
	cfg.machine = m;
	for (unsigned int i = 0; i < PHYS_MAX_POOLS; i++) {
		cfg.first_pfn = (uint64_t)i * 16;
		pools[i] = make_pool_cfg(&cfg);
	}
	/* Where the next pool would go: nothing there, before or after. */
	cfg.first_pfn = (uint64_t)PHYS_MAX_POOLS * 16;
	errno = 0;
	assert_null(phys_pfn_to_pool(m, cfg.first_pfn));
	assert_int_equal(phys_pool_create(&cfg, &extra), -ENOSPC);
	assert_null(extra);
	cfg.first_pfn = PHYS_PFN_AUTO;
	assert_int_equal(phys_pool_create(&cfg, &extra), -ENOSPC);
	assert_null(extra);
	assert_null(phys_pfn_to_pool(m, (uint64_t)PHYS_MAX_POOLS * 16));
	for (unsigned int i = 0; i < PHYS_MAX_POOLS; i++)
		assert_ptr_equal(phys_pfn_to_pool(m, (uint64_t)i * 16 + 3), pools[i]);
	assert_int_equal(phys_machine_destroy(m), -EBUSY);
	/* One slot freed: the same config is accepted. */
	destroy_pool(pools[0]);
	cfg.first_pfn = 0;
	pools[0] = make_pool_cfg(&cfg);
	for (unsigned int i = 0; i < PHYS_MAX_POOLS; i++)
		destroy_pool(pools[i]);
	assert_int_equal(phys_machine_destroy(m), 0);
	free(pools);
}

/* Machines, pools and the zero pages: NULL and the wrong kind of pool. */
static void test_machine_and_zero(void **state)
{
	struct phys_pool *pool = make_pool(PHYS_SYSTEM_RAM, 2048, 0);
	struct phys_pool *dev = make_pool(PHYS_DEVICE_PRIVATE, 512, 0);

	(void)state;
	/* The default machine, named by its own pointer, is never destroyed. */
	REFUSED(pool, NULL, phys_machine_destroy(phys_pool_machine(pool)), -EINVAL);
	REFUSED_NULL(pool, NULL, phys_zero_folio(NULL), EINVAL);
	REFUSED_NULL(dev, NULL, phys_zero_folio(dev), EINVAL);
	REFUSED_NULL(pool, NULL, phys_huge_zero_folio_get(NULL), EINVAL);
	REFUSED_NULL(dev, NULL, phys_huge_zero_folio_get(dev), EINVAL);
	/* phys_pool_fragment(): orders from PHYS_MAX_ORDER up. */
	REFUSED(pool, NULL, phys_pool_fragment(pool, PHYS_MAX_ORDER), -EINVAL);
	REFUSED(pool, NULL, phys_pool_fragment(pool, 200), -EINVAL);
	destroy_pool(dev);
	destroy_pool(pool);
}

/* References and pins: NULL, and dropping every reference of a pinned folio. */
static void test_refs_and_pins(void **state)
{
	struct phys_pool *pool = make_pool(PHYS_SYSTEM_RAM, 2048, 0);
	struct folio *f = alloc_ok(pool, 2, 0);

	(void)state;
	REFUSED(pool, NULL, folio_ref_add(NULL, 1), -EINVAL);
	REFUSED(pool, NULL, folio_pin(NULL), -EINVAL);
	REFUSED(pool, NULL, unpin_folio(NULL), -EINVAL);
	REFUSED(pool, NULL, folio_set_flags(NULL, FOLIO_DIRTY), -EINVAL);
	REFUSED(pool, NULL, folio_clear_flags(NULL, FOLIO_DIRTY), -EINVAL);
	REFUSED(pool, NULL, folio_set_anon(NULL), -EINVAL);
	/* A pin holds a reference: putting all of them would free a pinned folio. */
	assert_int_equal(folio_pin(f), 0);
	assert_int_equal(folio_ref_count(f), 2);
	REFUSED(pool, f, folio_put_refs(f, 2), -EINVAL);
	assert_int_equal(unpin_folio(f), 0);
	put_last(pool, f);
	destroy_pool(pool);
}

/* The per-page queries and anon-exclusive bits: pages outside the folio, freed folios. */
static void test_pages_outside(void **state)
{
	struct phys_pool *pool = make_pool(PHYS_SYSTEM_RAM, 2048, 0);
	struct folio *m = alloc_ok(pool, 3, 0), *s = alloc_ok(pool, 0, 0);
	struct folio *gone = alloc_ok(pool, 0, 0);

	(void)state;
	assert_int_equal(folio_add_new_anon_rmap(m, RMAP_EXCLUSIVE), 0);
	assert_int_equal(folio_ref_add(m, 8), 0);	/* the eight PTE mappings' references */
	REFUSED(pool, m, folio_page_pte_mapcount(m, 8), -EINVAL);
	REFUSED(pool, m, folio_page_pte_mapcount(m, UINT64_MAX), -EINVAL);
	REFUSED(pool, m, folio_page_mapcount(m, 8), -EINVAL);
	REFUSED(pool, m, folio_page_anon_exclusive(m, 8), false);
	REFUSED(pool, m, folio_set_page_anon_exclusive(m, 8), -EINVAL);
	REFUSED(pool, m, folio_clear_page_anon_exclusive(m, 8), -EINVAL);
	REFUSED(pool, m, folio_clear_page_anon_exclusive(NULL, 0), -EINVAL);
	/* Ranges of PTE mappings: empty, or running past the folio. */
	REFUSED(pool, m, folio_remove_rmap_ptes(m, 0, 0), -EINVAL);
	REFUSED(pool, m, folio_remove_rmap_ptes(m, 7, 2), -EINVAL);
	REFUSED(pool, m, folio_try_dup_anon_rmap_ptes(m, 7, 2), -EINVAL);
	REFUSED(pool, m, folio_try_dup_anon_rmap_ptes(m, 0, 0), -EINVAL);
	REFUSED(pool, m, folio_try_share_anon_rmap_pte(m, 8), -EINVAL);
	/* Sharing a page that is not exclusive any more. */
	assert_int_equal(folio_try_share_anon_rmap_pte(m, 5), 0);
	REFUSED(pool, m, folio_try_share_anon_rmap_pte(m, 5), -EINVAL);
	/* An order-0 folio has one page. */
	assert_int_equal(folio_set_anon(s), 0);
	REFUSED(pool, s, folio_set_page_anon_exclusive(s, 1), -EINVAL);
	REFUSED(pool, s, folio_page_pte_mapcount(s, 1), -EINVAL);
	/* A freed folio: exclusivity cannot be set or cleared on it. */
	assert_int_equal(folio_set_anon(gone), 0);
	put_last(pool, gone);
	REFUSED(pool, NULL, folio_set_page_anon_exclusive(gone, 0), -EINVAL);
	REFUSED(pool, NULL, folio_clear_page_anon_exclusive(gone, 0), -EINVAL);

	assert_int_equal(folio_remove_rmap_ptes(m, 0, 8), 0);
	assert_int_equal(folio_put_refs(m, 8), 0);
	put_last(pool, m);
	put_last(pool, s);
	destroy_pool(pool);
}

/* Entire and PTE mappings that a hugetlb file folio cannot take. */
static void test_hugetlb_file_rmap(void **state)
{
	struct phys_pool *pool = make_pool(PHYS_SYSTEM_RAM, 4096, 0);
	struct phys_hugetlb *hp = NULL;
	struct phys_file *file = NULL;
	struct folio *h = NULL;

	(void)state;
	assert_int_equal(phys_hugetlb_create(pool, 2, 0, &hp), 0);
	assert_int_equal(phys_file_create_hugetlb(hp, PHYS_PMD_ORDER, 2 * SZ_2M, &file), 0);
	assert_int_equal(phys_file_get_folio(file, 0, PHYS_FGP_CREAT, &h), 0);
	REFUSED(pool, h, folio_add_file_rmap_pud(h), -EINVAL);		/* a 2 MiB folio */
	REFUSED(pool, h, folio_add_file_rmap_pte(h, 0), -EINVAL);	/* hugetlb: entire only */
	REFUSED(pool, h, folio_add_file_rmap_ptes(h, 0, 512), -EINVAL);
	REFUSED(pool, h, folio_remove_rmap_pmd(h), -EINVAL);		/* not mapped */
	REFUSED(pool, h, folio_add_anon_rmap_pmd(h, 0), -EINVAL);	/* not anon */
	REFUSED(pool, h, folio_set_anon(h), -EINVAL);			/* in a page cache */
	/* The hugetlb pool: NULL, orders and flags it does not know. */
	REFUSED(pool, NULL, phys_hugetlb_reserve(NULL, PHYS_PMD_ORDER, 1), -EINVAL);
	REFUSED(pool, NULL, phys_hugetlb_unreserve(NULL, PHYS_PMD_ORDER, 1), -EINVAL);
	REFUSED(pool, NULL, phys_hugetlb_unreserve(hp, 0, 0), -EINVAL);
	REFUSED(pool, NULL, phys_hugetlb_unreserve(hp, PHYS_MAX_ORDER + 1, 0), -EINVAL);
	REFUSED_NULL(pool, NULL, phys_hugetlb_alloc(hp, PHYS_PMD_ORDER, 1u << 7), EINVAL);
	REFUSED_NULL(pool, NULL, phys_hugetlb_alloc(NULL, PHYS_PMD_ORDER, 0), EINVAL);
	REFUSED_NULL(pool, NULL, phys_hugetlb_alloc(hp, PHYS_PUD_ORDER + 1, 0), EINVAL);
	/* hugetlb files: NULL pool or result. */
	REFUSED(pool, NULL, phys_file_create_hugetlb(NULL, PHYS_PMD_ORDER, SZ_2M, &file), -EINVAL);
	REFUSED(pool, NULL, phys_file_create_hugetlb(hp, PHYS_PMD_ORDER, SZ_2M, NULL), -EINVAL);
	{
		struct phys_hugetlb_stats hs;

		phys_hugetlb_stats(hp, &hs);
		assert_int_equal(hs.free[0], 1);
		assert_int_equal(hs.reserved[0], 0);
	}
	assert_int_equal(folio_put(h), 0);
	phys_file_put(file);
	assert_int_equal(phys_hugetlb_destroy(hp), 0);
	destroy_pool(pool);
}

/* Bytes and files: NULL folios, buffers and files; writes into a zero folio. */
static void test_bytes_and_files(void **state)
{
	struct phys_pool *pool = make_pool(PHYS_SYSTEM_RAM, 2048, 0);
	struct folio *a = alloc_ok(pool, 0, 0), *z = phys_zero_folio(pool), *out = NULL;
	struct phys_file *file = NULL;
	char buf[16] = "0123456789abcdef";

	(void)state;
	assert_non_null(z);
	assert_int_equal(folio_write(a, 0, buf, sizeof(buf)), 0);
	REFUSED_NULL(pool, NULL, folio_data(NULL, 0), EINVAL);
	REFUSED(pool, a, folio_read(a, 0, NULL, 8), -EINVAL);
	REFUSED(pool, a, folio_read(NULL, 0, buf, 8), -EINVAL);
	REFUSED(pool, a, folio_write(NULL, 0, buf, 8), -EINVAL);
	REFUSED(pool, a, folio_zero_range(NULL, 0, 8), -EINVAL);
	REFUSED(pool, a, folio_copy(NULL, a), -EINVAL);
	REFUSED(pool, a, folio_copy(a, NULL), -EINVAL);
	REFUSED(pool, a, folio_copy_page(a, 0, NULL, 0), -EINVAL);
	REFUSED(pool, z, folio_copy(z, a), -EPERM);
	{
		char back[16];

		assert_int_equal(folio_read(a, 0, back, sizeof(back)), 0);
		assert_memory_equal(back, buf, sizeof(buf));
		assert_int_equal(folio_read(z, 0, back, sizeof(back)), 0);
		for (size_t i = 0; i < sizeof(back); i++)
			assert_int_equal(back[i], 0);
	}

	assert_int_equal(phys_file_create(pool, 2 * SZ_4K, &file), 0);
	REFUSED(pool, NULL, phys_file_get_folio(file, 0, PHYS_FGP_CREAT, NULL), -EINVAL);
	REFUSED(pool, NULL, phys_file_get_folio(NULL, 0, PHYS_FGP_CREAT, &out), -EINVAL);
	REFUSED(pool, NULL, phys_file_truncate(NULL, 0), -EINVAL);
	REFUSED(pool, NULL, phys_file_write(file, 0, NULL, 1), -EINVAL);
	REFUSED(pool, NULL, phys_file_read(file, 2 * SZ_4K, buf, 1), -EINVAL);
	REFUSED(pool, NULL, phys_file_write(file, UINT64_MAX, buf, 2), -EINVAL);
	assert_null(out);
	assert_int_equal(phys_file_nr_cached(file), 0);
	assert_int_equal(phys_file_size(file), 2 * SZ_4K);
	assert_file_check(file);
	phys_file_put(file);
	put_last(pool, a);
	destroy_pool(pool);
}

/* split_folio_to_order(): NULL, and an order-0 folio (nothing to split into). */
static void test_split_small(void **state)
{
	struct phys_pool *pool = make_pool(PHYS_SYSTEM_RAM, 2048, 0);
	struct folio *s = alloc_ok(pool, 0, 0);

	(void)state;
	folio_lock(s);
	REFUSED(pool, s, split_folio(s), -EINVAL);
	REFUSED(pool, s, split_folio_to_order(s, 0), -EINVAL);
	REFUSED(pool, NULL, split_folio(NULL), -EINVAL);
	assert_int_equal(folio_unlock(s), 0);
	put_last(pool, s);
	destroy_pool(pool);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pool_limit),
		cmocka_unit_test(test_machine_and_zero),
		cmocka_unit_test(test_refs_and_pins),
		cmocka_unit_test(test_pages_outside),
		cmocka_unit_test(test_hugetlb_file_rmap),
		cmocka_unit_test(test_bytes_and_files),
		cmocka_unit_test(test_split_small),
	};
	int ret;

	hmmsim_thread_register();
	ret = cmocka_run_group_tests_name("bad_input_phys", tests, NULL, NULL);
	hmmsim_thread_unregister();
	return ret;
}
