// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Bad input to the hmm API (docs/bad-input.md, section hmm): interval
 * notifiers, hmm_range_fault and its order helpers, device memory,
 * migrate_vma_setup, migrate_device_range (and the no-ops of its _pages and
 * _finalize), make_device_exclusive and pin_user_pages. Each refused
 * call must return its errno and leave everything as it was: the interval
 * notifiers (every field, and which of them the next invalidation reaches),
 * the caller's output arrays, mm_dump() and the counters of every region,
 * the device pool, and the checkers.
 *
 * Run with the argument "known" for the case where the library does not do
 * what its header says (docs/bad-input.md, "Discrepancies"); it fails and
 * is not part of the meson suite.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <hmmsim/hmm.h>

#include "mm_test.h"

#define RW	(MM_PROT_READ | MM_PROT_WRITE)
#define ANON	(MM_MAP_PRIVATE | MM_MAP_ANONYMOUS)
#define NPAGES	16
#define PATTERN	UINT64_C(0x5a5a5a5a5a5a5a5a)

/* An interval notifier that counts what it is told, as a driver would. */
struct mirror {
	struct mmu_interval_notifier sub;
	unsigned int calls;
};

static bool mirror_invalidate(struct mmu_interval_notifier *sub,
			      const struct mmu_notifier_range *range, uint64_t cur_seq)
{
	struct mirror *m = (struct mirror *)sub;

	(void)range;
	m->calls++;
	mmu_interval_set_seq(sub, cur_seq);
	return true;
}

static const struct mmu_interval_notifier_ops mirror_ops = { .invalidate = mirror_invalidate };
static const struct mmu_interval_notifier_ops no_invalidate_ops = { .invalidate = NULL };

static unsigned int page_free_calls;

static void devmem_page_free(struct folio *folio)
{
	(void)folio;
	page_free_calls++;
}

static const struct dev_pagemap_ops devmem_ops = { .page_free = devmem_page_free };

/*
 * One process: rw anon (half populated, then a hole), read-only anon,
 * PROT_NONE, shared anon and hugetlb regions; an interval notifier over the
 * rw region; a device memory; and the pictures of all of it.
 */
struct world {
	struct mm_struct *mm;
	uint64_t a, ro, none, sh, h;
	struct mirror mir;
	struct hmm_devmem *dm;
	uint64_t pfns[NPAGES], src[NPAGES], dst[NPAGES];
	struct { uint64_t start, len; struct mt_snap snap; } r[5];
	struct mmu_interval_notifier sub_before;
	struct phys_pool_stats dev_before;
	int failures;
};

static void world_snap(struct world *w)
{
	for (unsigned int i = 0; i < 5; i++)
		mt_snap_take(w->mm, w->r[i].start, w->r[i].start + w->r[i].len, &w->r[i].snap);
	w->sub_before = w->mir.sub;
	phys_pool_stats(hmm_devmem_pool(w->dm), &w->dev_before);
	for (unsigned int i = 0; i < NPAGES; i++)
		w->pfns[i] = w->src[i] = w->dst[i] = PATTERN;
}

static void world_free_snaps(struct world *w)
{
	for (unsigned int i = 0; i < 5; i++)
		mt_snap_free(&w->r[i].snap);
}

static void world_init(struct world *w)
{
	struct mm_system_config cfg = { .hugetlb_2m = 2 };

	memset(w, 0, sizeof(*w));
	page_free_calls = 0;
	mt_setup(&cfg);
	w->mm = mt_proc(NULL);
	w->a = mt_anon(w->mm, NPAGES * SZ_4K);
	mt_memset(w->mm, w->a, 0x31, NPAGES / 2 * SZ_4K);
	w->ro = mt_mmap(w->mm, 4 * SZ_4K, MM_PROT_READ, ANON, 0, 0);
	mt_touch(w->mm, w->ro);
	w->none = mt_mmap(w->mm, 4 * SZ_4K, MM_PROT_NONE, ANON, 0, 0);
	w->sh = mt_mmap(w->mm, 4 * SZ_4K, RW, MM_MAP_SHARED | MM_MAP_ANONYMOUS, 0, 0);
	w->h = mt_hugetlb(w->mm, SZ_2M, 21);
	mt_memset(w->mm, w->h, 0x32, SZ_4K);
	assert_int_equal(mmu_interval_notifier_insert(&w->mir.sub, w->mm, w->a,
						      NPAGES * SZ_4K, &mirror_ops), 0);
	assert_int_equal(hmm_devmem_add(mt.sys, HMM_DEVMEM_PRIVATE, SZ_2M, &devmem_ops, w, 0,
					&w->dm), 0);
	assert_mm_ok();
	w->r[0].start = w->a;
	w->r[0].len = NPAGES * SZ_4K;
	w->r[1].start = w->ro;
	w->r[1].len = 4 * SZ_4K;
	w->r[2].start = w->none;
	w->r[2].len = 4 * SZ_4K;
	w->r[3].start = w->sh;
	w->r[3].len = 4 * SZ_4K;
	w->r[4].start = w->h;
	w->r[4].len = SZ_2M;
	world_snap(w);
}

static void world_fini(struct world *w)
{
	world_free_snaps(w);
	assert_int_equal(mmu_interval_notifier_remove(&w->mir.sub), 0);
	mt_exit(w->mm);
	assert_int_equal(hmm_devmem_remove(w->dm), 0);
	hmmsim_barrier();
	assert_int_equal(w->failures, 0);
	mt_teardown();
}

/*
 * A refused call: @ret must be @expect; then the checkers, every region's
 * picture, the interval notifier, the device pool and the caller's arrays
 * (still PATTERN) must be as before, and no invalidation was sent.
 */
static void bad_check(struct world *w, long ret, long expect, const char *what, int line)
{
	struct phys_pool_stats dev_now;
	bool changed = false;

	mt_check_at(__FILE__, line);
	if (ret != expect) {
		print_error("line %d: %s = %ld, expected %ld\n", line, what, ret, expect);
		w->failures++;
	}
	for (unsigned int i = 0; i < 5; i++)
		changed |= mt_snap_differs(w->mm, w->r[i].start, w->r[i].start + w->r[i].len,
					   &w->r[i].snap);
	if (memcmp(&w->sub_before, &w->mir.sub, sizeof(w->mir.sub)) || w->mir.calls) {
		print_error("the interval notifier changed (%u invalidations)\n", w->mir.calls);
		changed = true;
	}
	phys_pool_stats(hmm_devmem_pool(w->dm), &dev_now);
	if (memcmp(&w->dev_before, &dev_now, sizeof(dev_now))) {
		print_error("the device pool's counters changed\n");
		changed = true;
	}
	for (unsigned int i = 0; i < NPAGES; i++) {
		if (w->pfns[i] != PATTERN || w->src[i] != PATTERN || w->dst[i] != PATTERN) {
			print_error("an output array changed at %u: pfns %#" PRIx64 " src %#"
				    PRIx64 " dst %#" PRIx64 "\n", i, w->pfns[i], w->src[i],
				    w->dst[i]);
			changed = true;
			break;
		}
	}
	if (changed) {
		print_error("line %d: %s = %ld but changed the state\n", line, what, ret);
		w->failures++;
		w->mir.calls = 0;
		world_free_snaps(w);
		world_snap(w);
	}
}

#define BAD(call, expect) bad_check(&w, (long)(call), (expect), #call, __LINE__)

/* A notifier struct must come back from a refused insert or remove byte for byte. */
#define SUB_REFUSED(sub, call, expect) do {					\
	struct mmu_interval_notifier _b = *(sub);				\
	BAD((call), (expect));							\
	assert_memory_equal(&_b, (sub), sizeof(_b));				\
} while (0)

static void test_interval_notifier(void **state)
{
	struct mmu_interval_notifier sub;
	struct world w;

	(void)state;
	world_init(&w);
	memset(&sub, 0, sizeof(sub));
	SUB_REFUSED(&sub, mmu_interval_notifier_insert(&sub, w.mm, w.a, SZ_4K, NULL), -EINVAL);
	SUB_REFUSED(&sub, mmu_interval_notifier_insert(&sub, w.mm, w.a, SZ_4K, &no_invalidate_ops),
		    -EINVAL);
	SUB_REFUSED(&sub, mmu_interval_notifier_insert(NULL, w.mm, w.a, SZ_4K, &mirror_ops),
		    -EINVAL);
	SUB_REFUSED(&sub, mmu_interval_notifier_insert(&sub, NULL, w.a, SZ_4K, &mirror_ops),
		    -EINVAL);
	SUB_REFUSED(&sub, mmu_interval_notifier_insert(&sub, w.mm, w.a, 0, &mirror_ops),
		    -EOVERFLOW);
	SUB_REFUSED(&sub, mmu_interval_notifier_insert(&sub, w.mm, UINT64_MAX - SZ_4K + 1,
						       2 * SZ_4K, &mirror_ops), -EOVERFLOW);
	SUB_REFUSED(&sub, mmu_interval_notifier_insert(&sub, w.mm, 1, UINT64_MAX, &mirror_ops),
		    -EOVERFLOW);
	/* An interval that ends exactly at 2^64 counts as wrapping (the kernel's accepts it). */
	SUB_REFUSED(&sub, mmu_interval_notifier_insert(&sub, w.mm, UINT64_MAX - SZ_4K + 1, SZ_4K,
						       &mirror_ops), -EOVERFLOW);
	/* The same through the _locked variant, the mmap_lock held as it wants. */
	mmap_write_lock(w.mm);
	{
		struct mmu_interval_notifier b = sub;
		int r1 = mmu_interval_notifier_insert_locked(&sub, w.mm, w.a, SZ_4K, NULL);
		int r2 = mmu_interval_notifier_insert_locked(&sub, w.mm, w.a, 0, &mirror_ops);
		int r3 = mmu_interval_notifier_insert_locked(&w.mir.sub, w.mm, w.a, SZ_4K,
							     &mirror_ops);

		mmap_write_unlock(w.mm);
		BAD(r1, -EINVAL);
		BAD(r2, -EOVERFLOW);
		BAD(r3, -EINVAL);		/* already inserted */
		assert_memory_equal(&b, &sub, sizeof(b));
	}
	SUB_REFUSED(&sub, mmu_interval_notifier_insert_locked(&sub, NULL, w.a, SZ_4K, &mirror_ops),
		    -EINVAL);
	/* Already inserted: the interval keeps its range and its place. */
	BAD(mmu_interval_notifier_insert(&w.mir.sub, w.mm, w.sh, SZ_4K, &mirror_ops), -EINVAL);
	/* Removing what is not inserted. */
	SUB_REFUSED(&sub, mmu_interval_notifier_remove(&sub), -EINVAL);
	BAD(mmu_interval_notifier_remove(NULL), -EINVAL);

	/* None of it is watching: a change to the rw region reaches w.mir alone, once. */
	assert_int_equal(mm_madvise(w.mm, w.a, SZ_4K, MM_MADV_DONTNEED), 0);
	assert_int_equal(w.mir.calls, 1);
	assert_false(sub.inserted);
	w.mir.calls = 0;
	world_free_snaps(&w);
	world_snap(&w);
	world_fini(&w);
}

static int fault(struct world *w, struct hmm_range *r)
{
	int ret;

	mmap_read_lock(w->mm);
	ret = hmm_range_fault(r);
	mmap_read_unlock(w->mm);
	return ret;
}

static void test_range_fault(void **state)
{
	struct mmu_interval_notifier loose;
	struct mirror wide = { 0 }, gone = { 0 };
	struct mm_struct *other;
	struct hmm_range good, r;
	struct world w;

	(void)state;
	world_init(&w);
	good = (struct hmm_range){
		.notifier = &w.mir.sub,
		.notifier_seq = mmu_interval_read_begin(&w.mir.sub),
		.start = w.a,
		.end = w.a + NPAGES * SZ_4K,
		.hmm_pfns = w.pfns,
		.default_flags = HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE,
	};
	w.sub_before = w.mir.sub;

	BAD(hmm_range_fault(NULL), -EINVAL);
	r = good, r.hmm_pfns = NULL;
	BAD(fault(&w, &r), -EINVAL);
	r = good, r.notifier = NULL;
	BAD(fault(&w, &r), -EINVAL);
	/* A notifier that is not inserted. */
	memset(&loose, 0, sizeof(loose));
	r = good, r.notifier = &loose;
	BAD(fault(&w, &r), -EINVAL);
	/* Empty, reversed and misaligned ranges. */
	r = good, r.end = r.start;
	BAD(fault(&w, &r), -EINVAL);
	r = good, r.start = good.end, r.end = good.start;
	BAD(fault(&w, &r), -EINVAL);
	r = good, r.start += 8;
	BAD(fault(&w, &r), -EINVAL);
	r = good, r.end -= 1;
	BAD(fault(&w, &r), -EINVAL);
	/* Outside the notifier's interval, before or after it. */
	r = good, r.start -= SZ_4K, r.end -= SZ_4K;
	BAD(fault(&w, &r), -EINVAL);
	r = good, r.end += SZ_4K;
	BAD(fault(&w, &r), -EINVAL);
	/* Request bits other than VALID and WRITE, in the defaults or the mask. */
	r = good, r.default_flags |= HMM_PFN_ERROR;
	BAD(fault(&w, &r), -EINVAL);
	r = good, r.pfn_flags_mask = UINT64_C(1) << 53;
	BAD(fault(&w, &r), -EINVAL);
	r = good, r.pfn_flags_mask = 1;
	BAD(fault(&w, &r), -EINVAL);
	/* A sequence older than the interval's: retry, having done nothing. */
	r = good, r.notifier_seq -= 2;
	BAD(fault(&w, &r), -EBUSY);

	/* A second interval, over the other regions, for the access errors. */
	assert_int_equal(mmu_interval_notifier_insert(&wide.sub, w.mm, 0, MM_TASK_SIZE + SZ_1M,
						      &mirror_ops), 0);
	/* A write fault on a read-only VMA. */
	r = good, r.notifier = &wide.sub, r.notifier_seq = mmu_interval_read_begin(&wide.sub);
	r.start = w.ro, r.end = w.ro + 4 * SZ_4K;
	BAD(fault(&w, &r), -EPERM);
	/* Any fault on PROT_NONE, or where there is no VMA. */
	r.start = w.none, r.end = w.none + 4 * SZ_4K;
	r.default_flags = HMM_PFN_REQ_FAULT;
	BAD(fault(&w, &r), -EFAULT);
	r.start = MM_TASK_SIZE - 4 * SZ_4K, r.end = MM_TASK_SIZE;
	BAD(fault(&w, &r), -EFAULT);
	/* A range past user space, inside the interval: refused even as a snapshot. */
	r.start = MM_TASK_SIZE, r.end = MM_TASK_SIZE + SZ_4K;
	BAD(fault(&w, &r), -EINVAL);
	r.start = MM_TASK_SIZE - SZ_4K, r.default_flags = 0;
	BAD(fault(&w, &r), -EINVAL);
	assert_int_equal(wide.calls, 0);
	assert_int_equal(mmu_interval_notifier_remove(&wide.sub), 0);

	/* A notifier whose mm has exited stays inserted but watches nothing. */
	other = mt_proc(NULL);
	assert_int_equal(mmu_interval_notifier_insert(&gone.sub, other, 0, SZ_1M, &mirror_ops), 0);
	mt_exit(other);
	r = good, r.notifier = &gone.sub, r.start = 0, r.end = SZ_4K;
	BAD(fault(&w, &r), -EINVAL);
	assert_int_equal(mmu_interval_notifier_remove(&gone.sub), 0);
	world_fini(&w);
}

/* The order helpers read an output array; out-of-range queries answer 0. */
static void test_order_helpers(void **state)
{
	uint64_t pfns[4] = { HMM_PFN_VALID | 0x200, HMM_PFN_VALID | 0x201, 0, HMM_PFN_ERROR };
	uint64_t copy[4];

	(void)state;
	memcpy(copy, pfns, sizeof(pfns));
	assert_int_equal(hmm_range_map_shift(pfns, 0, 4, 4, UINT64_C(1) << 12), 0);
	assert_int_equal(hmm_range_map_shift(pfns, 0, 4, UINT64_MAX, UINT64_C(1) << 12), 0);
	assert_int_equal(hmm_range_map_shift(NULL, 0, 4, 0, UINT64_C(1) << 12), 0);
	assert_int_equal(hmm_range_map_shift(pfns, 0, 4, 2, UINT64_C(1) << 12), 0);
	assert_int_equal(hmm_range_map_shift(pfns, 0, 4, 3, UINT64_C(1) << 12), 0);
	/* No size of 4 KiB or more: a lone page. */
	assert_int_equal(hmm_range_map_shift(pfns, 0, 4, 0, UINT64_C(1) << 11), 12);
	assert_int_equal(hmm_range_map_shift(pfns, 0, 4, 0, 0), 12);
	assert_int_equal(hmm_range_infer_shift(NULL, pfns, 0, 4, 4, UINT64_C(1) << 12), 0);
	assert_int_equal(hmm_range_infer_shift(NULL, NULL, 0, 4, 0, UINT64_C(1) << 12), 0);
	assert_int_equal(hmm_range_infer_shift(NULL, pfns, 0, 4, 2, UINT64_C(1) << 12), 0);
	assert_memory_equal(copy, pfns, sizeof(pfns));
}

static void test_devmem(void **state)
{
	struct hmm_devmem *dm = NULL;
	struct world w;
	struct folio *f;

	(void)state;
	world_init(&w);
	BAD(hmm_devmem_add(mt.sys, HMM_DEVMEM_PRIVATE, SZ_2M, &devmem_ops, &w, 0, NULL), -EINVAL);
	BAD(hmm_devmem_add(mt.sys, HMM_DEVMEM_COHERENT, SZ_2M + 1, &devmem_ops, &w, 0, &dm),
	    -EINVAL);
	/* Device-private memory needs an owner (memremap_pages). */
	BAD(hmm_devmem_add(mt.sys, HMM_DEVMEM_PRIVATE, SZ_2M, &devmem_ops, NULL, 0, &dm), -EINVAL);
	assert_null(dm);
	/* hmm_devmem_alloc(): no device, an order past PHYS_MAX_ORDER. */
	errno = 0;
	BAD(hmm_devmem_alloc(NULL, 0) == NULL && errno == EINVAL, 1);
	errno = 0;
	BAD(hmm_devmem_alloc(w.dm, PHYS_MAX_ORDER + 1) == NULL && errno == EINVAL, 1);
	/* Larger than the device: ENOMEM, and the pool counts the failure. */
	errno = 0;
	f = hmm_devmem_alloc(w.dm, PHYS_PMD_ORDER + 1);
	assert_null(f);
	assert_int_equal(errno, ENOMEM);
	world_free_snaps(&w);
	world_snap(&w);
	/* Device memory in use: not removed, and still usable. */
	f = hmm_devmem_alloc(w.dm, 0);
	assert_non_null(f);
	world_free_snaps(&w);
	world_snap(&w);
	BAD(hmm_devmem_remove(w.dm), -EBUSY);
	assert_ptr_equal(phys_pfn_to_pool(mt_machine(), folio_pfn(f)), hmm_devmem_pool(w.dm));
	assert_int_equal(folio_unlock(f), 0);
	assert_int_equal(folio_put(f), 1);
	assert_int_equal(page_free_calls, 1);
	world_free_snaps(&w);
	world_snap(&w);
	world_fini(&w);
}

static void test_migrate_setup(void **state)
{
	struct migrate_vma good, m;
	struct folio *dpage;
	struct world w;

	(void)state;
	world_init(&w);
	dpage = hmm_devmem_alloc(w.dm, 0);
	assert_non_null(dpage);
	assert_int_equal(folio_unlock(dpage), 0);
	world_free_snaps(&w);
	world_snap(&w);
	mmap_read_lock(w.mm);
	good = (struct migrate_vma){
		.vma = vma_lookup(w.mm, w.a),
		.src = w.src,
		.dst = w.dst,
		.start = w.a,
		.end = w.a + NPAGES * SZ_4K,
		.pgmap_owner = &w,
		.flags = MIGRATE_VMA_SELECT_SYSTEM,
	};
	mmap_read_unlock(w.mm);
#define SETUP(args) ({ int _r; mmap_read_lock(w.mm); _r = migrate_vma_setup(args); \
		       mmap_read_unlock(w.mm); _r; })
	m = good, m.src = NULL;
	BAD(SETUP(&m), -EINVAL);
	m = good, m.start += 1;
	BAD(SETUP(&m), -EINVAL);
	m = good, m.end = m.start;
	BAD(SETUP(&m), -EINVAL);
	m = good, m.end += SZ_4K;		/* past the VMA */
	BAD(SETUP(&m), -EINVAL);
	m = good, m.flags = 0;
	BAD(SETUP(&m), -EINVAL);
	m = good, m.flags |= 1u << 9;
	BAD(SETUP(&m), -EINVAL);
	/* A fault page that is device-private but not locked (the core locks it). */
	m = good, m.fault_page = dpage;
	BAD(SETUP(&m), -EINVAL);
	/* A hugetlb VMA. */
	mmap_read_lock(w.mm);
	m = good, m.vma = vma_lookup(w.mm, w.h), m.start = w.h, m.end = w.h + NPAGES * SZ_4K;
	mmap_read_unlock(w.mm);
	BAD(SETUP(&m), -EINVAL);
#undef SETUP
	assert_int_equal(folio_put(dpage), 1);
	world_free_snaps(&w);
	world_snap(&w);
	world_fini(&w);
}

/*
 * migrate_device_range: half of the rw region on the device first (the
 * eviction has something to take), a live large device folio for the
 * misaligned rows, then each refused call changes nothing.
 */
static void test_migrate_device_range(void **state)
{
	uint64_t src[NPAGES] = { 0 }, dst[NPAGES] = { 0 }, first, n, busy[1], keep;
	struct migrate_vma args;
	struct mm_system *other;
	struct folio *big, *f;
	struct world w;

	(void)state;
	world_init(&w);
	mmap_read_lock(w.mm);
	args = (struct migrate_vma){
		.vma = vma_lookup(w.mm, w.a), .src = src, .dst = dst, .start = w.a,
		.end = w.a + NPAGES / 2 * SZ_4K, .pgmap_owner = &w,
		.flags = MIGRATE_VMA_SELECT_SYSTEM,
	};
	assert_int_equal(migrate_vma_setup(&args), 0);
	for (unsigned int i = 0; i < NPAGES / 2; i++) {
		f = hmm_devmem_alloc(w.dm, 0);
		assert_non_null(f);
		dst[i] = migrate_pfn(folio_pfn(f));
	}
	migrate_vma_pages(&args);
	migrate_vma_finalize(&args);
	mmap_read_unlock(w.mm);
	big = hmm_devmem_alloc(w.dm, 4);
	assert_non_null(big);
	first = phys_pool_first_pfn(hmm_devmem_pool(w.dm));
	n = phys_pool_nr_frames(hmm_devmem_pool(w.dm));
	assert_int_equal(mm_system_create(NULL, &other), 0);
	w.mir.calls = 0;
	world_free_snaps(&w);
	world_snap(&w);

	BAD(migrate_device_range(NULL, w.src, first, n), -EINVAL);
	BAD(migrate_device_range(mt.sys, NULL, first, n), -EINVAL);
	BAD(migrate_device_range(mt.sys, w.src, first, 0), -EINVAL);
	BAD(migrate_device_range(mt.sys, w.src, UINT64_MAX - 3, 8), -EINVAL);
	BAD(migrate_device_range(mt.sys, w.src, first, UINT64_MAX), -EINVAL);
	BAD(migrate_device_range(mt.sys, w.src, phys_pool_first_pfn(mt_pool()), 4), -EINVAL);
	BAD(migrate_device_range(mt.sys, w.src, first - 1, 4), -EINVAL);
	BAD(migrate_device_range(mt.sys, w.src, first + n - 2, 4), -EINVAL);
	BAD(migrate_device_range(mt.sys, w.src, first + n, 1), -EINVAL);
	BAD(migrate_device_range(other, w.src, first, 4), -EINVAL);
	BAD(migrate_device_range(mt.sys, w.src, folio_pfn(big) + 1, 4), -EINVAL);
	BAD(migrate_device_range(mt.sys, w.src, folio_pfn(big) + 8, 16), -EINVAL);
	BAD(migrate_device_range(mt.sys, w.src, folio_pfn(big) - 1, 2), -EINVAL);
	/* pages and finalize with an array no eviction knows, or NULL: nothing. */
	migrate_device_pages(w.src, w.dst, NPAGES);
	BAD(0, 0);
	migrate_device_finalize(w.src, w.dst, NPAGES);
	BAD(0, 0);
	migrate_device_pages(NULL, NULL, NPAGES);
	migrate_device_finalize(NULL, NULL, NPAGES);
	BAD(0, 0);

	/* The array of an eviction not finalized yet. */
	assert_int_equal(migrate_device_range(mt.sys, busy, dst[0] >> MIGRATE_PFN_SHIFT, 1), 0);
	keep = busy[0];
	assert_int_equal(keep, dst[0] | MIGRATE_PFN_MIGRATE);
	w.mir.calls = 0;
	world_free_snaps(&w);
	world_snap(&w);
	BAD(migrate_device_range(mt.sys, busy, dst[0] >> MIGRATE_PFN_SHIFT, 1), -EBUSY);
	assert_int_equal(busy[0], keep);
	migrate_device_finalize(busy, NULL, 1);

	assert_int_equal(mm_system_destroy(other), 0);
	assert_int_equal(folio_unlock(big), 0);
	assert_int_equal(folio_put(big), 1);
	world_fini(&w);		/* the exit frees the device pages */
}

static void test_exclusive_and_pins(void **state)
{
	struct folio *f = NULL, *pins[NPAGES];
	struct world w;

	(void)state;
	world_init(&w);
	memset(pins, 0, sizeof(pins));
	mmap_read_lock(w.mm);
	{
		int r1 = make_device_exclusive(w.mm, MM_TASK_SIZE, NULL, &f);
		int r2 = make_device_exclusive(w.mm, w.none, NULL, &f);
		int r3 = make_device_exclusive(w.mm, w.h, NULL, &f);
		int r4 = make_device_exclusive(w.mm, w.ro, NULL, &f);

		mmap_read_unlock(w.mm);
		BAD(r1, -EINVAL);
		BAD(r2, -EFAULT);
		BAD(r3, -EOPNOTSUPP);
		BAD(r4, -EPERM);
	}
	assert_null(f);

	BAD(pin_user_pages(w.mm, w.a, 1, 0, NULL), -EINVAL);
	BAD(pin_user_pages(w.mm, MM_TASK_SIZE - SZ_4K, 2, 0, pins), -EFAULT);
	BAD(pin_user_pages(w.mm, MM_TASK_SIZE, 1, 0, pins), -EFAULT);
	BAD(pin_user_pages(w.mm, w.none, 1, 0, pins), -EFAULT);
	BAD(pin_user_pages(w.mm, w.ro, 1, FOLL_WRITE | FOLL_LONGTERM, pins), -EPERM);
	for (unsigned int i = 0; i < NPAGES; i++)
		assert_null(pins[i]);
	/* Nothing is pinned: the rw region's first page has no pin. */
	assert_int_equal(folio_pin_count(mt_folio(w.mm, w.a, NULL)), 0);
	/* unpin_user_pages() of no array: a no-op, nothing changed. */
	unpin_user_pages(NULL, 4);
	BAD(0, 0);
	world_fini(&w);
}

/*
 * Known discrepancy: make_device_exclusive() of a shared mapping returns
 * -EOPNOTSUPP (not among the header's errors) after faulting the page in
 * writable, so the refused call has changed the mapping.
 */
static void known_exclusive_shared(void **state)
{
	struct folio *f = NULL;
	struct world w;
	int ret;

	(void)state;
	world_init(&w);
	mmap_read_lock(w.mm);
	ret = make_device_exclusive(w.mm, w.sh, NULL, &f);
	mmap_read_unlock(w.mm);
	/* Refused, so nothing may have changed; and with one of the header's errors. */
	BAD(ret, ret);
	if (ret != -EFAULT && ret != -EPERM && ret != -EBUSY && ret != -ENOMEM)
		fail_msg("make_device_exclusive(shared) = %d, not an error hmm.h lists", ret);
	world_fini(&w);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_interval_notifier),
		cmocka_unit_test(test_range_fault),
		cmocka_unit_test(test_order_helpers),
		cmocka_unit_test(test_devmem),
		cmocka_unit_test(test_migrate_setup),
		cmocka_unit_test(test_migrate_device_range),
		cmocka_unit_test(test_exclusive_and_pins),
	};
	const struct CMUnitTest known[] = {
		cmocka_unit_test(known_exclusive_shared),
	};
	int ret;

	hmmsim_thread_register();
	if (argc > 1 && !strcmp(argv[1], "known"))
		ret = cmocka_run_group_tests_name("bad_input_hmm_known", known, NULL, NULL);
	else
		ret = cmocka_run_group_tests_name("bad_input_hmm", tests, NULL, NULL);
	hmmsim_thread_unregister();
	return ret;
}
