// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * hmm_evict: migrate_device_range, migrate_device_pages and
 * migrate_device_finalize (linux-hmm.md §4.4, §5.6 RELEASE): a driver
 * evicts its whole device memory by pfn, as test_hmm does on device
 * removal. Every mapping of every device page, in every process and at
 * whatever address the process has it now (found by the anon reverse
 * map), becomes a system page with the same bytes; page_free runs for
 * every device page; busy, referenced and skipped pages stay on the device
 * with their mappings; allocation failures leave everything consistent.
 * The checkers run after every step.
 */
#include <inttypes.h>

#include "hmm_dev_test.h"

static struct fake_dev dev;

/* The device pool's frames: [*first, *first + return). */
static uint64_t pool_frames(struct fake_dev *d, uint64_t *first)
{
	struct phys_pool *pool = hmm_devmem_pool(d->dm);

	*first = phys_pool_first_pfn(pool);
	return phys_pool_nr_frames(pool);
}

/*
 * The driver's side after migrate_device_range(): a locked system page for
 * each MIGRATE entry, the bytes copied, except for the pages @skip_fn says.
 * Returns how many destinations it gave.
 */
static uint64_t give_destinations(const uint64_t *src, uint64_t *dst, uint64_t n,
				  bool (*skip_fn)(uint64_t i))
{
	struct folio *s, *f;
	uint64_t i, given = 0;

	for (i = 0; i < n; i++) {
		dst[i] = 0;
		if (!(src[i] & MIGRATE_PFN_MIGRATE) || (skip_fn && skip_fn(i)))
			continue;
		s = machine_folio(src[i]);
		assert_non_null(s);
		assert_true(folio_test_locked(s));
		assert_true(folio_is_zone_device(s));
		f = folio_alloc(mt_pool(), 0, 0);
		if (!f)
			continue;
		folio_lock(f);
		assert_ret(folio_copy_page(f, 0, s, migrate_pfn_to_pfn(src[i]) - folio_pfn(s)), 0);
		dst[i] = migrate_pfn(folio_pfn(f));
		given++;
	}
	return given;
}

/* The whole eviction of @d's memory; returns the pages migrated. */
static uint64_t evict(struct fake_dev *d, bool (*skip_fn)(uint64_t i), uint64_t *taken)
{
	uint64_t first, n = pool_frames(d, &first), i, moved = 0, nr_taken = 0;
	uint64_t *src = calloc(n, sizeof(*src)), *dst = calloc(n, sizeof(*dst));

	assert_non_null(src);
	assert_non_null(dst);
	assert_ret(migrate_device_range(mt.sys, src, first, n), 0);
	for (i = 0; i < n; i++) {
		if (!src[i])
			continue;
		assert_int_equal(src[i], migrate_pfn(first + i) | MIGRATE_PFN_MIGRATE);
		nr_taken++;
	}
	give_destinations(src, dst, n, skip_fn);
	migrate_device_pages(src, dst, n);
	for (i = 0; i < n; i++)
		moved += (src[i] & MIGRATE_PFN_MIGRATE) && dst[i];
	migrate_device_finalize(src, dst, n);
	free(src);
	free(dst);
	assert_int_equal(d->errors, 0);
	assert_mm_ok();
	if (taken)
		*taken = nr_taken;
	return moved;
}

/* The codes of [a, a + n pages) are all @code ("p.." etc.). */
static void assert_all_codes(struct mm_struct *mm, uint64_t a, uint64_t n, const char *code)
{
	char expect[32];

	snprintf(expect, sizeof(expect), "%" PRIu64 ":%s", n, code);
	assert_codes(mm, a, n * SZ_4K, expect);
}

/*
 * A parent and its child map the same device pages at different addresses
 * (the child mremapped), and the parent has device pages of its own: the
 * eviction brings all of them back, the shared ones shared (one system
 * page for both, read-only), the parent's own writable, and every device
 * page reaches page_free. Then the device can go.
 */
static void test_evict_all(void **state)
{
	struct mm_struct *parent, *child;
	uint64_t a, b, q, taken, i;
	struct recorder rec;

	(void)state;
	mt_setup(NULL);
	dev_add(&dev, HMM_DEVMEM_PRIVATE, 64 * SZ_4K);
	parent = mt_proc(NULL);
	a = mt_anon(parent, 32 * SZ_4K);
	fill(parent, a, 32 * SZ_4K, 0x20);
	assert_int_equal(dev_migrate(&dev, parent, a, 32 * SZ_4K, true), 32);
	child = mt_fork(parent);
	assert_ret(mm_mremap(child, a, 32 * SZ_4K, 0, 0, 0, 0, &b), 0);
	assert_true(b != a);
	assert_mm_ok();
	q = mt_anon(parent, 8 * SZ_4K);
	fill(parent, q, 8 * SZ_4K, 0x60);
	assert_int_equal(dev_migrate(&dev, parent, q, 8 * SZ_4K, true), 8);
	assert_all_codes(child, b, 32, "d..");
	assert_all_codes(parent, q, 8, "dxw");
	assert_int_equal(dev_live(&dev), 40);
	assert_ret(hmm_devmem_remove(dev.dm), -EBUSY);

	rec_attach(&rec, child);
	assert_int_equal(evict(&dev, NULL, &taken), 40);
	rec_detach(&rec, child);
	assert_clear_per_page(&rec, b, 32 * SZ_4K);	/* at the child's own addresses */
	assert_int_equal(rec.n, 32);
	assert_int_equal(taken, 40);
	assert_int_equal(dev_live(&dev), 0);
	assert_int_equal(dev.page_free_calls, 40);
	assert_int_equal(dev.migrate_to_ram_calls, 0);
	assert_all_codes(parent, a, 32, "p..");
	assert_all_codes(child, b, 32, "p..");
	assert_all_codes(parent, q, 8, "pxw");
	for (i = 0; i < 32; i++) {
		assert_int_equal(mt_pfn(parent, a + i * SZ_4K), mt_pfn(child, b + i * SZ_4K));
		assert_folio(mt_folio(child, b + i * SZ_4K, NULL), 2, 2, 0, 0, 2, 0);
	}
	expect_fill(parent, a, 32 * SZ_4K, 0x20);
	expect_fill(child, b, 32 * SZ_4K, 0x20);
	expect_fill(parent, q, 8 * SZ_4K, 0x60);
	/* COW still works on the evicted pages. */
	mt_memset(child, b, 0x5c, SZ_4K);
	mt_expect(parent, a, 0x20, SZ_4K);
	dev_remove(&dev);
	mt_exit(child);
	mt_exit(parent);
	mt_teardown();
}

static uint64_t skipped_index;

static bool skip_one(uint64_t i)
{
	return i == skipped_index;
}

/*
 * Pages that cannot go stay where they are, mapped: one locked by someone
 * else (the trylock fails: src 0), one with an extra reference (given back
 * after the unmap: src 0, its mappings restored), one the driver gives no
 * destination (MIGRATE until finalize, then its entries come back). A
 * second eviction takes them once they are free to go.
 */
static void test_evict_busy(void **state)
{
	struct mm_struct *parent, *child;
	struct folio *locked, *held, *skipped;
	uint64_t a, first, taken;

	(void)state;
	mt_setup(NULL);
	dev_add(&dev, HMM_DEVMEM_PRIVATE, 16 * SZ_4K);
	pool_frames(&dev, &first);
	parent = mt_proc(NULL);
	a = mt_anon(parent, 8 * SZ_4K);
	fill(parent, a, 8 * SZ_4K, 0x70);
	assert_int_equal(dev_migrate(&dev, parent, a, 8 * SZ_4K, true), 8);
	child = mt_fork(parent);
	locked = mt_folio(parent, a + SZ_4K, NULL);
	held = mt_folio(parent, a + 2 * SZ_4K, NULL);
	skipped = mt_folio(parent, a + 3 * SZ_4K, NULL);
	assert_true(folio_trylock(locked));
	assert_ret(folio_get(held), 0);
	skipped_index = folio_pfn(skipped) - first;

	/*
	 * Taken: all but the locked one and the referenced one (given back at
	 * once, mapped as before). The checkers cannot know of the test's
	 * reference: they run once it is dropped.
	 */
	{
		uint64_t src[16], dst[16], i, moved = 0;

		assert_ret(migrate_device_range(mt.sys, src, first, 16), 0);
		for (i = 0, taken = 0; i < 16; i++)
			taken += !!src[i];
		assert_int_equal(taken, 6);
		assert_int_equal(src[folio_pfn(locked) - first], 0);
		assert_int_equal(src[folio_pfn(held) - first], 0);
		assert_int_equal(src[skipped_index], migrate_pfn(first + skipped_index) |
						     MIGRATE_PFN_MIGRATE);
		assert_folio(held, 3, 2, 0, 0, 2, 0);
		assert_false(folio_test_locked(held));
		assert_codes(child, a + 2 * SZ_4K, SZ_4K, "1:d..");
		assert_ret(folio_put(held), 0);
		assert_mm_ok();
		give_destinations(src, dst, 16, skip_one);
		migrate_device_pages(src, dst, 16);
		for (i = 0; i < 16; i++)
			moved += (src[i] & MIGRATE_PFN_MIGRATE) && dst[i];
		assert_int_equal(moved, 5);
		migrate_device_finalize(src, dst, 16);
		assert_mm_ok();
	}
	assert_int_equal(dev_live(&dev), 3);
	assert_int_equal(dev.page_free_calls, 5);
	assert_codes(parent, a, 8 * SZ_4K, "1:p..,3:d..,4:p..");
	assert_codes(child, a, 8 * SZ_4K, "1:p..,3:d..,4:p..");
	assert_folio(held, 2, 2, 0, 0, 2, 0);
	assert_folio(skipped, 2, 2, 0, 0, 2, 0);
	assert_false(folio_test_locked(skipped));
	assert_int_equal(dev_byte(child, a + 3 * SZ_4K), 0x73);

	folio_unlock(locked);
	skipped_index = UINT64_MAX;
	assert_int_equal(evict(&dev, NULL, &taken), 3);
	assert_int_equal(taken, 3);
	assert_int_equal(dev.page_free_calls, 8);
	expect_fill(parent, a, 8 * SZ_4K, 0x70);
	expect_fill(child, a, 8 * SZ_4K, 0x70);
	assert_int_equal(dev.migrate_to_ram_calls, 0);
	dev_remove(&dev);
	mt_exit(child);
	mt_exit(parent);
	mt_teardown();
}

/*
 * Part of the pool (a range that does not start at its first frame), and
 * device-coherent memory (mapped by present PTEs): the same semantics.
 */
static void test_evict_part_and_coherent(void **state)
{
	struct mm_struct *parent, *child;
	uint64_t a, b, first, n, src[4], dst[4], pfns[8], r0, i, in_range = 0;

	(void)state;
	mt_setup(NULL);
	dev_add(&dev, HMM_DEVMEM_COHERENT, 16 * SZ_4K);
	n = pool_frames(&dev, &first);
	assert_int_equal(n, 16);
	parent = mt_proc(NULL);
	a = mt_anon(parent, 8 * SZ_4K);
	fill(parent, a, 8 * SZ_4K, 0x90);
	{
		uint64_t s[8] = { 0 }, d[8] = { 0 };
		struct migrate_vma args = {
			.src = s, .dst = d, .start = a, .end = a + 8 * SZ_4K, .pgmap_owner = &dev,
			.flags = MIGRATE_VMA_SELECT_SYSTEM,
		};
		struct folio *f;

		mmap_read_lock(parent);
		args.vma = vma_lookup(parent, a);
		assert_ret(migrate_vma_setup(&args), 0);
		for (i = 0; i < 8; i++) {
			f = hmm_devmem_alloc(dev.dm, 0);
			assert_non_null(f);
			assert_ret(folio_copy_page(f, 0, machine_folio(s[i]), 0), 0);
			d[i] = migrate_pfn(folio_pfn(f));
		}
		migrate_vma_pages(&args);
		migrate_vma_finalize(&args);
		mmap_read_unlock(parent);
	}
	assert_mm_ok();
	assert_int_equal(dev_live(&dev), 8);
	child = mt_fork(parent);
	assert_ret(mm_mremap(child, a, 8 * SZ_4K, 0, 0, 0, 0, &b), 0);
	assert_mm_ok();
	/* Four frames from the one page 2 has (whatever pages they hold). */
	r0 = mt_pfn(parent, a + 2 * SZ_4K);
	assert_true(r0 >= first && r0 + 4 <= first + n);
	for (i = 0; i < 8; i++) {
		pfns[i] = mt_pfn(parent, a + i * SZ_4K);
		in_range += pfns[i] >= r0 && pfns[i] < r0 + 4;
	}
	assert_ret(migrate_device_range(mt.sys, src, r0, 4), 0);
	for (i = 0; i < 4; i++) {
		bool live = false;

		for (uint64_t k = 0; k < 8; k++)
			live |= pfns[k] == r0 + i;
		assert_int_equal(src[i], live ? migrate_pfn(r0 + i) | MIGRATE_PFN_MIGRATE : 0);
	}
	give_destinations(src, dst, 4, NULL);
	migrate_device_pages(src, dst, 4);
	migrate_device_finalize(src, dst, 4);
	assert_mm_ok();
	assert_int_equal(dev_live(&dev), 8 - in_range);
	assert_int_equal(dev.page_free_calls, in_range);
	for (i = 0; i < 8; i++) {
		uint64_t pfn = mt_pfn(parent, a + i * SZ_4K);

		assert_int_equal(pfn, mt_pfn(child, b + i * SZ_4K));
		if (pfns[i] >= r0 && pfns[i] < r0 + 4)
			assert_false(pfn >= first && pfn < first + n);
		else
			assert_int_equal(pfn, pfns[i]);
	}
	expect_fill(parent, a, 8 * SZ_4K, 0x90);
	expect_fill(child, b, 8 * SZ_4K, 0x90);
	mt_exit(child);
	mt_exit(parent);
	assert_int_equal(dev.page_free_calls, 8);
	dev_remove(&dev);
	mt_teardown();
}

/*
 * A 2 MiB device folio mapped by device-private PMDs in a parent and its
 * child (which moved it, 2 MiB-aligned, so the PMD moved whole): the
 * eviction splits both PMDs, moves the folio page by page to 512 system
 * pages shared by both, and the device folio reaches page_free once.
 */
static void test_evict_compound(void **state)
{
	struct mm_struct *parent, *child;
	uint64_t a, b, i, s[512] = { 0 }, d[512] = { 0 };
	struct migrate_vma args = {
		.src = s, .dst = d, .pgmap_owner = &dev,
		.flags = MIGRATE_VMA_SELECT_SYSTEM | MIGRATE_VMA_SELECT_COMPOUND,
	};
	struct mt_page pg;
	struct folio *f;

	(void)state;
	mt_setup(NULL);
	dev_add(&dev, HMM_DEVMEM_PRIVATE, 4 * SZ_1M);
	parent = mt_proc(NULL);
	a = mt_anon_thp(parent, SZ_2M);
	fill(parent, a, SZ_2M, 0x40);
	assert_true(mt_lookup(parent, a, &pg));
	assert_int_equal(pg.level, 1);
	mmap_read_lock(parent);
	args.vma = vma_lookup(parent, a);
	args.start = a;
	args.end = a + SZ_2M;
	assert_ret(migrate_vma_setup(&args), 0);
	assert_true(s[0] & MIGRATE_PFN_COMPOUND);
	f = hmm_devmem_alloc(dev.dm, 9);
	assert_non_null(f);
	assert_ret(folio_copy(f, machine_folio(s[0])), 0);
	d[0] = migrate_pfn(folio_pfn(f)) | MIGRATE_PFN_COMPOUND;
	migrate_vma_pages(&args);
	migrate_vma_finalize(&args);
	mmap_read_unlock(parent);
	assert_mm_ok();
	assert_true(mt_lookup(parent, a, &pg));
	assert_int_equal(pg.level, 1);
	assert_int_equal(pg.kind, MM_PTE_DEVICE_PRIVATE);
	child = mt_fork(parent);
	assert_ret(mm_mremap(child, a, SZ_2M, 0, 0, SZ_2M, 0, &b), 0);
	assert_true(b != a);
	assert_mm_ok();
	assert_true(mt_lookup(child, b, &pg));
	assert_int_equal(pg.level, 1);
	assert_int_equal(pg.kind, MM_PTE_DEVICE_PRIVATE);
	assert_int_equal(dev_live(&dev), 512);

	assert_int_equal(evict(&dev, NULL, NULL), 512);
	assert_int_equal(dev_live(&dev), 0);
	assert_int_equal(dev.page_free_calls, 1);
	assert_int_equal(dev.page_free_pages, 512);
	assert_all_codes(parent, a, 512, "p..");
	assert_all_codes(child, b, 512, "p..");
	for (i = 0; i < 512; i += 37)
		assert_int_equal(mt_pfn(parent, a + i * SZ_4K), mt_pfn(child, b + i * SZ_4K));
	expect_fill(parent, a, SZ_2M, 0x40);
	expect_fill(child, b, SZ_2M, 0x40);
	mt_exit(child);
	mt_exit(parent);
	dev_remove(&dev);
	mt_teardown();
}

/*
 * Allocation failure at each point of an eviction (hmmsim's own structures
 * and the driver's destinations): -ENOMEM with nothing changed, or pages
 * left on the device with their mappings; every byte still right, and a
 * clean eviction afterwards takes what is left.
 */
static void evict_setup(struct mm_struct **parent, struct mm_struct **child, uint64_t *a,
			uint64_t *b)
{
	mt_setup(NULL);
	dev_add(&dev, HMM_DEVMEM_PRIVATE, 16 * SZ_4K);
	*parent = mt_proc(NULL);
	*a = mt_anon(*parent, 8 * SZ_4K);
	fill(*parent, *a, 8 * SZ_4K, 0xb0);
	assert_int_equal(dev_migrate(&dev, *parent, *a, 8 * SZ_4K, true), 8);
	*child = mt_fork(*parent);
	assert_ret(mm_mremap(*child, *a, 8 * SZ_4K, 0, 0, 0, 0, b), 0);
	assert_mm_ok();
}

static unsigned int nomem_returns;

static void evict_nomem_step(void)
{
	uint64_t first, n = pool_frames(&dev, &first), i;
	uint64_t src[16], dst[16];
	int ret;

	for (i = 0; i < n; i++)
		src[i] = dst[i] = 0xdead;
	ret = migrate_device_range(mt.sys, src, first, n);
	if (ret) {
		assert_int_equal(ret, -ENOMEM);
		nomem_returns++;
		for (i = 0; i < n; i++)
			assert_int_equal(src[i], 0xdead);
		return;
	}
	give_destinations(src, dst, n, NULL);
	migrate_device_pages(src, dst, n);
	migrate_device_finalize(src, dst, n);
}

static void test_evict_alloc_failure(void **state)
{
	struct mm_struct *parent, *child;
	uint64_t a, b, total, nth, left;
	unsigned int partial = 0;

	(void)state;
	evict_setup(&parent, &child, &a, &b);
	hmmsim_inject_alloc_failure(0);
	evict_nomem_step();
	total = hmmsim_inject_alloc_failure(0);
	assert_int_equal(dev.page_free_calls, 8);
	mt_exit(child);
	mt_exit(parent);
	dev_remove(&dev);
	mt_teardown();
	assert_true(total >= 9);	/* the state and at least a destination per page */

	for (nth = 1; nth <= total; nth++) {
		evict_setup(&parent, &child, &a, &b);
		hmmsim_inject_alloc_failure(nth);
		evict_nomem_step();
		hmmsim_inject_alloc_failure(0);
		assert_mm_ok();
		assert_int_equal(dev.errors, 0);
		assert_int_equal(dev.page_free_calls + dev_live(&dev), 8);
		/* What stayed on the device is still shared, mapped by both. */
		for (uint64_t i = 0; i < 8; i++)
			assert_int_equal(mt_pfn(parent, a + i * SZ_4K), mt_pfn(child, b + i * SZ_4K));
		left = dev_live(&dev);
		partial += left && left < 8;
		assert_int_equal(evict(&dev, NULL, NULL), left);
		assert_int_equal(dev_live(&dev), 0);
		assert_int_equal(dev.migrate_to_ram_calls, 0);
		expect_fill(parent, a, 8 * SZ_4K, 0xb0);
		expect_fill(child, b, 8 * SZ_4K, 0xb0);
		mt_exit(child);
		mt_exit(parent);
		dev_remove(&dev);
		mt_teardown();
	}
	/* Both kinds of failure happened: refused whole, and pages left behind. */
	print_message("# an eviction makes %" PRIu64 " allocations; %u refused, %u partial\n",
		      total, nomem_returns, partial);
	assert_true(nomem_returns >= 1);
	assert_true(partial >= 1);
}

/* Bad input: an errno and nothing changed (docs/bad-input.md, section hmm). */
static void test_evict_bad_input(void **state)
{
	struct mm_struct *mm;
	struct folio *big;
	uint64_t a, first, n, src[16], busy[1], busy_copy, i;
	struct phys_pool_stats before, after;

	(void)state;
	mt_setup(NULL);
	dev_add(&dev, HMM_DEVMEM_PRIVATE, 4 * SZ_1M);
	n = pool_frames(&dev, &first);
	mm = mt_proc(NULL);
	a = mt_anon(mm, 4 * SZ_4K);
	fill(mm, a, 4 * SZ_4K, 0xc0);
	assert_int_equal(dev_migrate(&dev, mm, a, 4 * SZ_4K, true), 4);
	big = hmm_devmem_alloc(dev.dm, 9);	/* a live large folio */
	assert_non_null(big);
	phys_pool_stats(hmm_devmem_pool(dev.dm), &before);
	for (i = 0; i < 16; i++)
		src[i] = 0xdead;
#define BAD(call, err) do {							\
		assert_ret((call), (err));					\
		for (i = 0; i < 16; i++)					\
			assert_int_equal(src[i], 0xdead);			\
		phys_pool_stats(hmm_devmem_pool(dev.dm), &after);		\
		assert_memory_equal(&before, &after, sizeof(before));		\
		assert_codes(mm, a, 4 * SZ_4K, "4:dxw");			\
		assert_mm_ok();							\
	} while (0)
	BAD(migrate_device_range(NULL, src, first, 4), -EINVAL);
	BAD(migrate_device_range(mt.sys, NULL, first, 4), -EINVAL);
	BAD(migrate_device_range(mt.sys, src, first, 0), -EINVAL);
	BAD(migrate_device_range(mt.sys, src, UINT64_MAX - 1, 4), -EINVAL);	/* wraps */
	BAD(migrate_device_range(mt.sys, src, first, UINT64_MAX), -EINVAL);
	/* System RAM, frames before and past the pool, a range running off its end. */
	BAD(migrate_device_range(mt.sys, src, phys_pool_first_pfn(mt_pool()), 4), -EINVAL);
	BAD(migrate_device_range(mt.sys, src, first - 1, 4), -EINVAL);
	BAD(migrate_device_range(mt.sys, src, first + n, 1), -EINVAL);
	BAD(migrate_device_range(mt.sys, src, first + n - 2, 4), -EINVAL);
	/* Misaligned: the range starts or ends inside the live large folio. */
	BAD(migrate_device_range(mt.sys, src, folio_pfn(big) + 1, 4), -EINVAL);
	BAD(migrate_device_range(mt.sys, src, folio_pfn(big) - 4, 8), -EINVAL);
	/* Another system's view of the same frames: not a pool of that system. */
	{
		struct mm_system *other;

		assert_ret(mm_system_create(NULL, &other), 0);
		BAD(migrate_device_range(other, src, first, 4), -EINVAL);
		assert_ret(mm_system_destroy(other), 0);
	}
	/* An array an unfinished eviction (of the first page) is using. */
	assert_ret(migrate_device_range(mt.sys, busy, mt_pfn(mm, a), 1), 0);
	busy_copy = busy[0];
	assert_int_equal(busy_copy, migrate_pfn(mt_pfn(mm, a)) | MIGRATE_PFN_MIGRATE);
	assert_ret(migrate_device_range(mt.sys, busy, mt_pfn(mm, a), 1), -EBUSY);
	assert_int_equal(busy[0], busy_copy);
	/* pages and finalize on an array no eviction knows: nothing. */
	migrate_device_pages(src, src, 16);
	migrate_device_finalize(src, src, 16);
	migrate_device_pages(NULL, NULL, 16);
	migrate_device_finalize(NULL, NULL, 16);
	for (i = 0; i < 16; i++)
		assert_int_equal(src[i], 0xdead);
	migrate_device_finalize(busy, NULL, 1);	/* no destinations: everything stays */
	assert_codes(mm, a, 4 * SZ_4K, "4:dxw");
	assert_mm_ok();
#undef BAD
	folio_unlock(big);
	assert_int_equal(folio_put(big), 1);
	expect_fill(mm, a, 4 * SZ_4K, 0xc0);
	mt_exit(mm);
	dev_remove(&dev);
	mt_teardown();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_evict_all),
		cmocka_unit_test(test_evict_busy),
		cmocka_unit_test(test_evict_part_and_coherent),
		cmocka_unit_test(test_evict_compound),
		cmocka_unit_test(test_evict_alloc_failure),
		cmocka_unit_test(test_evict_bad_input),
	};
	int ret;

	hmmsim_thread_register();
	ret = cmocka_run_group_tests_name("hmm_evict", tests, NULL, NULL);
	hmmsim_thread_unregister();
	return ret;
}
