// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Folio life cycles: references, the rmap accounting through the reference
 * states of cpu-mm-spec §2.3 (the caller plays the mm: it takes one
 * reference per mapping, as the kernel does), anon-exclusivity at fork,
 * pins, device pools and their page_free callback at refcount 0 and, with
 * the pre-5.18 switch, at refcount 1.
 */
#include "phys_test.h"

static struct phys_pool *sys_pool(void)
{
	return make_pool(PHYS_SYSTEM_RAM, 4 * 512, 0);
}

/* Map @f by a PTE as the mm would: reference, then rmap. */
static void map_pte(struct folio *f, uint64_t page, unsigned int flags)
{
	assert_int_equal(folio_get(f), 0);
	assert_int_equal(folio_add_anon_rmap_pte(f, page, flags), 0);
	assert_folio_check(f);
}

static void unmap_pte(struct folio *f, uint64_t page)
{
	assert_int_equal(folio_remove_rmap_pte(f, page), 0);
	assert_true(folio_put(f) >= 0);
}

static void test_refcount_cycle(void **state)
{
	struct phys_pool *pool = sys_pool();
	struct folio *f = alloc_ok(pool, 0, 0);

	(void)state;
	assert_int_equal(folio_ref_count(f), 1);
	assert_int_equal(folio_ref_bias(f), 0);
	assert_int_equal(folio_get(f), 0);
	assert_true(folio_try_get(f));
	assert_int_equal(folio_ref_add(f, 3), 0);
	assert_int_equal(folio_ref_count(f), 6);
	assert_pool_check(pool);
	assert_int_equal(folio_put_refs(f, 4), 0);
	assert_int_equal(folio_put(f), 0);
	assert_int_equal(folio_ref_count(f), 1);
	put_last(pool, f);
	/* Poisoned: every later use is refused, and the pool is intact. */
	assert_false(folio_try_get(f));
	assert_int_equal(folio_get(f), -EINVAL);
	assert_int_equal(folio_put(f), -EINVAL);
	assert_int_equal(folio_add_anon_rmap_pte(f, 0, 0), -EINVAL);
	assert_pool_check(pool);
	destroy_pool(pool);
}

/* §2.3: order-0 anon after a write fault, then fork, then the child's COW. */
static void test_order0_anon_states(void **state)
{
	struct phys_pool *pool = sys_pool();
	struct folio *f = alloc_ok(pool, 0, FOLIO_ALLOC_ZERO);

	(void)state;
	/* Write fault: the allocation's reference becomes the mapping's. */
	assert_int_equal(folio_add_new_anon_rmap(f, RMAP_EXCLUSIVE), 0);
	assert_true(folio_test_anon(f));
	assert_int_equal(folio_ref_count(f), 1);
	assert_int_equal(folio_mapcount(f), 1);
	assert_int_equal(folio_page_mapcount(f, 0), 1);
	assert_true(folio_page_anon_exclusive(f, 0));
	assert_pool_check(pool);

	/* fork: shared, not exclusive. */
	assert_int_equal(folio_get(f), 0);
	assert_int_equal(folio_try_dup_anon_rmap_ptes(f, 0, 1), 0);
	assert_int_equal(folio_ref_count(f), 2);
	assert_int_equal(folio_mapcount(f), 2);
	assert_false(folio_page_anon_exclusive(f, 0));
	assert_pool_check(pool);

	/* The child COWs: its mapping goes; the parent may reuse (ref 1). */
	unmap_pte(f, 0);
	assert_int_equal(folio_ref_count(f), 1);
	assert_int_equal(folio_mapcount(f), 1);
	assert_int_equal(folio_set_page_anon_exclusive(f, 0), 0);
	assert_pool_check(pool);

	/* munmap: mapping, then the last reference. */
	assert_int_equal(folio_remove_rmap_pte(f, 0), 0);
	put_last(pool, f);
	destroy_pool(pool);
}

/* §2.3: a PMD THP, fork, split_huge_pmd in the parent, the parent's COW of page k. */
static void test_thp_states(void **state)
{
	struct phys_pool *pool = sys_pool();
	struct folio *f = alloc_ok(pool, PHYS_PMD_ORDER, FOLIO_ALLOC_ZERO);
	const uint64_t k = 77;

	(void)state;
	assert_int_equal(folio_add_new_anon_rmap(f, RMAP_EXCLUSIVE), 0);
	assert_int_equal(folio_ref_count(f), 1);
	assert_int_equal(folio_mapcount(f), 1);
	assert_int_equal(folio_entire_mapcount(f), 1);
	assert_int_equal(folio_page_pte_mapcount(f, 5), 0);
	assert_int_equal(folio_page_mapcount(f, 5), 1);
	assert_true(folio_page_anon_exclusive(f, 0));
	assert_false(folio_page_anon_exclusive(f, 1));
	assert_pool_check(pool);

	/* fork */
	assert_int_equal(folio_get(f), 0);
	assert_int_equal(folio_try_dup_anon_rmap_pmd(f), 0);
	assert_int_equal(folio_ref_count(f), 2);
	assert_int_equal(folio_mapcount(f), 2);
	assert_int_equal(folio_entire_mapcount(f), 2);
	assert_false(folio_page_anon_exclusive(f, 0));
	assert_pool_check(pool);

	/* The parent splits its PMD: +512 PTE mappings, -1 PMD, refcount +511. */
	assert_int_equal(folio_ref_add(f, 511), 0);
	assert_int_equal(folio_add_anon_rmap_ptes(f, 0, 512, 0), 0);
	assert_int_equal(folio_remove_rmap_pmd(f), 0);
	assert_int_equal(folio_ref_count(f), 513);
	assert_int_equal(folio_mapcount(f), 513);
	assert_int_equal(folio_entire_mapcount(f), 1);
	assert_int_equal(folio_page_pte_mapcount(f, k), 1);
	assert_int_equal(folio_page_mapcount(f, k), 2);
	assert_int_equal(folio_nr_pages_mapped(f), 512);
	assert_pool_check(pool);

	/* The parent COWs page k: its PTE goes to a new page. */
	unmap_pte(f, k);
	assert_int_equal(folio_ref_count(f), 512);
	assert_int_equal(folio_mapcount(f), 512);
	assert_int_equal(folio_entire_mapcount(f), 1);
	assert_int_equal(folio_page_pte_mapcount(f, k), 0);
	assert_int_equal(folio_nr_pages_mapped(f), 511);
	assert_pool_check(pool);

	/* Both exit: the child's PMD, the parent's 511 PTEs. */
	assert_int_equal(folio_remove_rmap_pmd(f), 0);
	assert_int_equal(folio_put(f), 0);
	assert_int_equal(folio_remove_rmap_ptes(f, 0, k), 0);
	assert_int_equal(folio_remove_rmap_ptes(f, k + 1, 511 - k), 0);
	assert_int_equal(folio_put_refs(f, 510), 0);
	assert_int_equal(folio_mapcount(f), 0);
	put_last(pool, f);
	destroy_pool(pool);
}

/* mTHP: an order-4 folio is mapped by PTEs from the start, each page exclusive. */
static void test_mthp_new_anon(void **state)
{
	struct phys_pool *pool = sys_pool();
	struct folio *f = alloc_ok(pool, 4, 0);

	(void)state;
	assert_int_equal(folio_ref_add(f, 15), 0);
	assert_int_equal(folio_add_new_anon_rmap(f, RMAP_EXCLUSIVE), 0);
	assert_int_equal(folio_mapcount(f), 16);
	assert_int_equal(folio_entire_mapcount(f), 0);
	for (uint64_t i = 0; i < 16; i++) {
		assert_int_equal(folio_page_mapcount(f, i), 1);
		assert_true(folio_page_anon_exclusive(f, i));
	}
	assert_pool_check(pool);
	/* Partial munmap: 3 pages left, the mm would queue a deferred split. */
	assert_int_equal(folio_remove_rmap_ptes(f, 3, 13), 0);
	assert_int_equal(folio_put_refs(f, 13), 0);
	assert_int_equal(folio_set_flags(f, FOLIO_DEFERRED_SPLIT), 0);
	assert_int_equal(folio_nr_pages_mapped(f), 3);
	assert_int_equal(folio_ref_count(f), 3);
	assert_pool_check(pool);
	/* Mapped again by a PTE; unmapping left its exclusive bit, as the kernel does. */
	map_pte(f, 5, 0);
	assert_int_equal(folio_nr_pages_mapped(f), 4);
	assert_true(folio_page_anon_exclusive(f, 5));
	unmap_pte(f, 5);
	assert_int_equal(folio_nr_pages_mapped(f), 3);
	assert_int_equal(folio_remove_rmap_ptes(f, 0, 3), 0);
	assert_int_equal(folio_put_refs(f, 2), 0);
	put_last(pool, f);
	destroy_pool(pool);
}

static void test_pins(void **state)
{
	struct phys_pool *pool = sys_pool();
	struct folio *s = alloc_ok(pool, 0, 0);
	struct folio *l = alloc_ok(pool, PHYS_PMD_ORDER, 0);

	(void)state;
	assert_int_equal(folio_add_new_anon_rmap(s, RMAP_EXCLUSIVE), 0);
	assert_int_equal(folio_add_new_anon_rmap(l, RMAP_EXCLUSIVE), 0);

	/* Order 0: the pin is a refcount bias of 1024. */
	assert_false(folio_maybe_dma_pinned(s));
	assert_int_equal(folio_pin(s), 0);
	assert_int_equal(folio_ref_count(s), 1 + GUP_PIN_COUNTING_BIAS);
	assert_true(folio_maybe_dma_pinned(s));
	assert_int_equal(folio_pin_count(s), 1);
	assert_int_equal(folio_pin_refs(s), GUP_PIN_COUNTING_BIAS);
	/* Large: one reference and one pincount. */
	assert_int_equal(folio_pin(l), 0);
	assert_int_equal(folio_ref_count(l), 2);
	assert_true(folio_maybe_dma_pinned(l));
	assert_int_equal(folio_pin_refs(l), 1);
	assert_pool_check(pool);

	/* fork of a pinned exclusive page: the dup fails, the caller copies. */
	assert_int_equal(folio_try_dup_anon_rmap_ptes(s, 0, 1), -EBUSY);
	assert_int_equal(folio_try_dup_anon_rmap_pmd(l), -EBUSY);
	assert_int_equal(folio_try_share_anon_rmap_pte(s, 0), -EBUSY);
	assert_int_equal(folio_try_share_anon_rmap_pmd(l), -EBUSY);
	assert_int_equal(folio_mapcount(s), 1);
	assert_true(folio_page_anon_exclusive(s, 0));
	assert_pool_check(pool);

	/* The kernel's false positive: 1024 plain references look like a pin. */
	assert_int_equal(unpin_folio(s), 0);
	assert_int_equal(unpin_folio(s), -EINVAL);
	assert_int_equal(folio_ref_add(s, GUP_PIN_COUNTING_BIAS), 0);
	assert_true(folio_maybe_dma_pinned(s));
	assert_int_equal(folio_pin_count(s), 0);
	assert_int_equal(folio_put_refs(s, GUP_PIN_COUNTING_BIAS), 0);

	/* Unpinned: share succeeds (migration), and clears exclusivity. */
	assert_int_equal(unpin_folio(l), 0);
	assert_int_equal(folio_try_share_anon_rmap_pmd(l), 0);
	assert_false(folio_page_anon_exclusive(l, 0));
	assert_int_equal(folio_try_share_anon_rmap_pmd(l), -EINVAL);	/* not exclusive */
	assert_pool_check(pool);

	/* A pinned folio cannot lose its last reference by a plain put. */
	assert_int_equal(folio_remove_rmap_pte(s, 0), 0);
	assert_int_equal(folio_pin(s), 0);
	assert_int_equal(folio_put_refs(s, 1 + GUP_PIN_COUNTING_BIAS), -EINVAL);
	assert_int_equal(unpin_folio(s), 0);
	put_last(pool, s);
	assert_int_equal(folio_remove_rmap_pmd(l), 0);
	put_last(pool, l);
	destroy_pool(pool);
}

static void test_flags_and_lock(void **state)
{
	struct phys_pool *pool = sys_pool();
	struct folio *f = alloc_ok(pool, 0, 0);

	(void)state;
	assert_false(folio_test_dirty(f));
	assert_int_equal(folio_mark_dirty(f), 0);
	assert_true(folio_test_dirty(f));
	assert_int_equal(folio_clear_dirty(f), 0);
	assert_false(folio_test_dirty(f));
	assert_int_equal(folio_set_flags(f, FOLIO_ANON), -EINVAL);
	assert_int_equal(folio_set_flags(f, FOLIO_HUGETLB), -EINVAL);
	assert_false(folio_test_hugetlb(f));
	assert_false(folio_is_zone_device(f));
	assert_null(f->owner);

	assert_true(folio_trylock(f));
	assert_true(folio_test_locked(f));
	assert_false(folio_trylock(f));
	assert_int_equal(folio_unlock(f), 0);
	assert_int_equal(folio_unlock(f), -EINVAL);
	folio_lock(f);
	assert_int_equal(folio_unlock(f), 0);

	/* Non-anon folios take file rmaps, never exclusivity. */
	assert_int_equal(folio_add_anon_rmap_pte(f, 0, 0), -EINVAL);
	assert_int_equal(folio_set_page_anon_exclusive(f, 0), -EINVAL);
	assert_int_equal(folio_get(f), 0);
	assert_int_equal(folio_add_file_rmap_pte(f, 0), 0);
	assert_int_equal(folio_mapcount(f), 1);
	assert_pool_check(pool);
	assert_int_equal(folio_remove_rmap_pte(f, 0), 0);
	assert_int_equal(folio_put(f), 0);
	assert_int_equal(folio_set_anon(f), 0);
	assert_true(folio_test_anon(f));
	put_last(pool, f);
	destroy_pool(pool);
}

struct devmem {
	int frees;
	int last_ref;
	uint64_t last_pfn;
	void *last_private;
	bool last_excl;
};

static void dev_page_free(struct folio *f, void *owner)
{
	struct devmem *d = owner;

	d->frees++;
	d->last_ref = folio_ref_count(f);
	d->last_pfn = folio_pfn(f);
	d->last_private = f->private;
	d->last_excl = folio_page_anon_exclusive(f, 0);
}

static const struct phys_pgmap_ops dev_ops = { .page_free = dev_page_free };

static struct phys_pool *dev_pool(enum phys_kind kind, struct devmem *d, unsigned int flags)
{
	struct phys_pool_config cfg = {
		.kind = kind,
		.nr_frames = 1024,
		.first_pfn = PHYS_PFN_AUTO,
		.flags = flags,
		.ops = &dev_ops,
		.owner = d,
	};

	return make_pool_cfg(&cfg);
}

/* v6.1+: a device page is freed at refcount 0, through page_free. */
static void test_device_free_at_zero(void **state)
{
	struct devmem d = { 0 };
	struct phys_pool *pool = dev_pool(PHYS_DEVICE_PRIVATE, &d, 0);
	struct folio *f = alloc_ok(pool, 0, 0);
	struct phys_pool_stats st;
	int backing = 42;

	(void)state;
	assert_true(folio_is_device_private(f));
	assert_true(folio_is_zone_device(f));
	assert_ptr_equal(f->owner, &d);
	assert_ptr_equal(phys_pool_owner(pool), &d);
	assert_null(phys_zero_folio(pool));
	assert_int_equal(folio_ref_count(f), 1);
	assert_int_equal(folio_pin(f), -EPERM);	/* never pinned */
	f->private = &backing;			/* zone_device_data */

	/* Migrated in: a device-private entry holds a reference and a mapcount. */
	assert_int_equal(folio_set_anon(f), 0);
	assert_int_equal(folio_add_anon_rmap_pte(f, 0, RMAP_EXCLUSIVE), 0);
	assert_int_equal(folio_ref_count(f), 1);
	assert_int_equal(folio_mapcount(f), 1);
	assert_pool_check(pool);
	/* fork copies the entry */
	assert_int_equal(folio_get(f), 0);
	assert_int_equal(folio_try_dup_anon_rmap_ptes(f, 0, 1), 0);
	assert_int_equal(folio_mapcount(f), 2);
	unmap_pte(f, 0);
	assert_int_equal(d.frees, 0);
	assert_int_equal(folio_remove_rmap_pte(f, 0), 0);
	assert_int_equal(folio_put(f), 1);
	assert_int_equal(d.frees, 1);
	assert_int_equal(d.last_ref, 0);
	assert_ptr_equal(d.last_private, &backing);
	assert_false(d.last_excl);
	st = pool_stats(pool);
	assert_int_equal(st.page_free_calls, 1);
	assert_int_equal(st.live_folios, 0);
	assert_pool_check(pool);
	assert_int_equal(folio_put(f), -EINVAL);
	assert_int_equal(d.frees, 1);
	destroy_pool(pool);
}

/* Before 5.18 (seed 002): an idle device page sits at refcount 1; page_free on 2 -> 1. */
static void test_device_free_at_one(void **state)
{
	struct devmem d = { 0 };
	struct phys_pool *pool = dev_pool(PHYS_DEVICE_PRIVATE, &d, PHYS_POOL_FREE_AT_ONE);
	struct folio *f = alloc_ok(pool, 0, 0);

	(void)state;
	assert_int_equal(folio_ref_bias(f), 1);
	assert_int_equal(folio_ref_count(f), 2);
	assert_int_equal(folio_set_anon(f), 0);
	assert_int_equal(folio_add_anon_rmap_pte(f, 0, RMAP_EXCLUSIVE), 0);
	assert_pool_check(pool);
	assert_int_equal(folio_get(f), 0);
	assert_int_equal(folio_ref_count(f), 3);
	assert_int_equal(folio_put(f), 0);
	assert_int_equal(d.frees, 0);
	assert_int_equal(folio_remove_rmap_pte(f, 0), 0);
	assert_int_equal(folio_put(f), 1);
	assert_int_equal(d.frees, 1);
	assert_int_equal(d.last_ref, 1);	/* the transition the 2017 hook caught */
	assert_pool_check(pool);
	/* Free is free: no reference can be taken or dropped any more. */
	assert_int_equal(folio_get(f), -EINVAL);
	assert_int_equal(folio_put(f), -EINVAL);
	/* A large device folio, the same way. */
	f = alloc_ok(pool, 4, 0);
	assert_int_equal(folio_ref_count(f), 2);
	assert_int_equal(folio_put(f), 1);
	assert_int_equal(d.frees, 2);
	destroy_pool(pool);

	/* The switch makes no sense for system RAM. */
	{
		struct phys_pool_config cfg = {
			.kind = PHYS_SYSTEM_RAM, .nr_frames = 16, .first_pfn = PHYS_PFN_AUTO,
			.flags = PHYS_POOL_FREE_AT_ONE,
		};
		struct phys_pool *p = NULL;

		assert_int_equal(phys_pool_create(&cfg, &p), -EINVAL);
		assert_null(p);
	}
}

static void test_device_coherent(void **state)
{
	struct devmem d = { 0 };
	struct phys_pool *pool = dev_pool(PHYS_DEVICE_COHERENT, &d, 0);
	struct folio *f = alloc_ok(pool, 0, 0);

	(void)state;
	assert_true(folio_is_device_coherent(f));
	assert_false(folio_is_device_private(f));
	/* Coherent memory is CPU-addressable: short pins are allowed. */
	assert_int_equal(folio_pin(f), 0);
	assert_int_equal(unpin_folio(f), 0);
	assert_int_equal(folio_put(f), 1);
	assert_int_equal(d.frees, 1);
	destroy_pool(pool);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refcount_cycle),
		cmocka_unit_test(test_order0_anon_states),
		cmocka_unit_test(test_thp_states),
		cmocka_unit_test(test_mthp_new_anon),
		cmocka_unit_test(test_pins),
		cmocka_unit_test(test_flags_and_lock),
		cmocka_unit_test(test_device_free_at_zero),
		cmocka_unit_test(test_device_free_at_one),
		cmocka_unit_test(test_device_coherent),
	};
	int ret;

	hmmsim_thread_register();
	ret = cmocka_run_group_tests_name("phys_folio", tests, NULL, NULL);
	hmmsim_thread_unregister();
	return ret;
}
