/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A fake device driver for the rmap and eviction suites, in the style of
 * test_hmm's dmirror: a devmem pool whose migrate_to_ram copies one page
 * back, migrations of a range to the device and back (copying bytes), and
 * the eviction of the whole device memory by pfn (dmirror's device
 * removal: migrate_device_range, copy, _pages, _finalize), and a notifier
 * that records CLEAR events. Counters are atomic: the driver runs in any
 * thread.
 */
#ifndef HMMSIM_TESTS_HMM_DEV_TEST_H
#define HMMSIM_TESTS_HMM_DEV_TEST_H

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <hmmsim/hmm.h>

#include "mm_test.h"

#define RW	(MM_PROT_READ | MM_PROT_WRITE)
#define ANON	(MM_MAP_PRIVATE | MM_MAP_ANONYMOUS)

struct fake_dev {
	struct hmm_devmem *dm;
	int page_free_calls;
	int page_free_pages;		/* frames given back (a large folio counts them all) */
	int migrate_to_ram_calls;
	int errors;			/* anything the driver found wrong */
	int bad_free_refs;
};

#define ATOMIC_INC(x)	__atomic_fetch_add(&(x), 1, __ATOMIC_RELAXED)

static inline struct folio *machine_folio(uint64_t mpfn)
{
	if (!(mpfn & MIGRATE_PFN_VALID))
		return NULL;
	return phys_pfn_to_folio(mt_machine(), migrate_pfn_to_pfn(mpfn));
}

static void fake_page_free(struct folio *folio)
{
	struct fake_dev *d = folio->owner;

	ATOMIC_INC(d->page_free_calls);
	__atomic_fetch_add(&d->page_free_pages, (int)folio_nr_pages(folio), __ATOMIC_RELAXED);
	if (folio_ref_count(folio) != 0)
		ATOMIC_INC(d->bad_free_refs);
}

/* migrate_to_ram: the faulting page back to a new system page, its bytes copied. */
static int fake_migrate_to_ram(struct vm_fault *vmf)
{
	struct fake_dev *d = vmf->page->owner;
	uint64_t src = 0, dst = 0;
	struct migrate_vma args = {
		.vma = vmf->vma, .src = &src, .dst = &dst,
		.start = vmf->address, .end = vmf->address + SZ_4K,
		.pgmap_owner = d, .flags = MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
		.fault_page = vmf->page,
	};
	struct folio *spage, *dpage;

	ATOMIC_INC(d->migrate_to_ram_calls);
	if (migrate_vma_setup(&args)) {
		ATOMIC_INC(d->errors);
		return -EFAULT;
	}
	spage = machine_folio(src);
	if (spage && (src & MIGRATE_PFN_MIGRATE)) {
		dpage = folio_alloc(mt_pool(), 0, 0);
		if (!dpage) {
			migrate_vma_finalize(&args);
			return -ENOMEM;
		}
		folio_lock(dpage);
		if (folio_copy_page(dpage, 0, spage, (migrate_pfn_to_pfn(src) - folio_pfn(spage))))
			ATOMIC_INC(d->errors);
		dst = migrate_pfn(folio_pfn(dpage));
	}
	migrate_vma_pages(&args);
	migrate_vma_finalize(&args);
	return 0;
}

static const struct dev_pagemap_ops fake_ops = {
	.page_free = fake_page_free,
	.migrate_to_ram = fake_migrate_to_ram,
};

static inline void dev_add(struct fake_dev *d, enum hmm_devmem_type type, uint64_t size)
{
	memset(d, 0, sizeof(*d));
	assert_ret(hmm_devmem_add(mt.sys, type, size, &fake_ops, d, 0, &d->dm), 0);
}

/* Device pages in use. */
static inline uint64_t dev_live(struct fake_dev *d)
{
	struct phys_pool_stats st;

	phys_pool_stats(hmm_devmem_pool(d->dm), &st);
	return st.live_frames;
}

static inline void dev_remove(struct fake_dev *d)
{
	struct phys_pool_stats st;

	phys_pool_stats(hmm_devmem_pool(d->dm), &st);
	assert_int_equal(st.live_frames, 0);
	assert_int_equal(st.page_free_calls, d->page_free_calls);
	assert_int_equal(d->bad_free_refs, 0);
	assert_int_equal(d->errors, 0);
	assert_ret(hmm_devmem_remove(d->dm), 0);
	d->dm = NULL;
}

/*
 * [start, start + len) of @mm to @d's memory (@to_dev) or back to RAM,
 * copying the bytes. Returns the pages migrated, after the checkers.
 */
static inline uint64_t dev_migrate(struct fake_dev *d, struct mm_struct *mm, uint64_t start,
				   uint64_t len, bool to_dev)
{
	uint64_t n = PAGES(len), i, moved = 0;
	uint64_t *src = calloc(n, sizeof(*src)), *dst = calloc(n, sizeof(*dst));
	struct migrate_vma args = {
		.src = src, .dst = dst, .start = start, .end = start + len, .pgmap_owner = d,
		.flags = to_dev ? MIGRATE_VMA_SELECT_SYSTEM : MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
	};
	struct folio *s, *f;

	assert_non_null(src);
	assert_non_null(dst);
	mmap_read_lock(mm);
	args.vma = vma_lookup(mm, start);
	assert_non_null(args.vma);
	assert_ret(migrate_vma_setup(&args), 0);
	for (i = 0; i < n; i++) {
		if (!(src[i] & MIGRATE_PFN_MIGRATE))
			continue;
		s = machine_folio(src[i]);
		if (!to_dev && !s)
			continue;
		f = to_dev ? hmm_devmem_alloc(d->dm, 0) : folio_alloc(mt_pool(), 0, 0);
		if (!f)
			continue;
		if (!to_dev)
			folio_lock(f);
		if (s ? folio_copy_page(f, 0, s, (migrate_pfn_to_pfn(src[i]) - folio_pfn(s))) : folio_zero(f))
			ATOMIC_INC(d->errors);
		dst[i] = migrate_pfn(folio_pfn(f));
	}
	migrate_vma_pages(&args);
	for (i = 0; i < n; i++)
		moved += (src[i] & MIGRATE_PFN_MIGRATE) && dst[i];
	migrate_vma_finalize(&args);
	mmap_read_unlock(mm);
	free(src);
	free(dst);
	assert_int_equal(d->errors, 0);
	assert_mm_ok();
	return moved;
}

/* Write byte seed + i to page i of [a, a + len). */
static inline void fill(struct mm_struct *mm, uint64_t a, uint64_t len, int seed)
{
	for (uint64_t i = 0; i < PAGES(len); i++)
		assert_ret(mm_memset(mm, a + i * SZ_4K, (seed + (int)i) & 0xff, SZ_4K), 0);
	assert_mm_ok();
}

static inline void expect_fill(struct mm_struct *mm, uint64_t a, uint64_t len, int seed)
{
	for (uint64_t i = 0; i < PAGES(len); i++)
		mt_expect(mm, a + i * SZ_4K, (seed + (int)i) & 0xff, SZ_4K);
}

/* The byte at @va of a device-private page, read as the device would (no CPU fault). */
static inline int dev_byte(struct mm_struct *mm, uint64_t va)
{
	struct mt_page pg;
	uint8_t b;

	assert_true(mt_lookup(mm, va, &pg));
	assert_int_equal(pg.kind, MM_PTE_DEVICE_PRIVATE);
	assert_non_null(pg.folio);
	assert_int_equal(folio_read(pg.folio, pg.idx * SZ_4K + (va & (SZ_4K - 1)), &b, 1), 0);
	return b;
}

/* A notifier that records the CLEAR events it is told about. */
#define MAX_EVENTS 256

struct recorder {
	struct mmu_notifier mn;
	unsigned int n;
	struct mmu_notifier_range ev[MAX_EVENTS];
};

static inline void rec_start(struct mmu_notifier *mn, const struct mmu_notifier_range *r)
{
	struct recorder *rec = (struct recorder *)mn;

	if (rec->n < MAX_EVENTS)
		rec->ev[rec->n] = *r;
	rec->n++;
}

static const struct mmu_notifier_ops rec_ops = { .invalidate_range_start = rec_start };

static inline void rec_attach(struct recorder *rec, struct mm_struct *mm)
{
	memset(rec, 0, sizeof(*rec));
	rec->mn.ops = &rec_ops;
	assert_ret(mmu_notifier_register(&rec->mn, mm), 0);
}

static inline void rec_detach(struct recorder *rec, struct mm_struct *mm)
{
	assert_ret(mmu_notifier_unregister(&rec->mn, mm), 0);
}

/* CLEAR events over exactly one page of [start, start + len), each page once. */
static inline void assert_clear_per_page(const struct recorder *rec, uint64_t start, uint64_t len)
{
	uint64_t i;
	unsigned int k, n;

	assert_true(rec->n <= MAX_EVENTS);
	for (i = 0; i < PAGES(len); i++) {
		for (k = 0, n = 0; k < rec->n; k++)
			n += rec->ev[k].event == MMU_NOTIFY_CLEAR &&
			     rec->ev[k].start == start + i * SZ_4K &&
			     rec->ev[k].end == start + (i + 1) * SZ_4K;
		assert_int_equal(n, 1);
	}
}

#endif /* HMMSIM_TESTS_HMM_DEV_TEST_H */
