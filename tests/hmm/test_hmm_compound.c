// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * hmm_compound: migrate_vma with MIGRATE_VMA_SELECT_COMPOUND and the
 * device-private PMD entry (Linux 6.19; linux-hmm.md §1.6, §4.3;
 * cpu-mm-spec §1.5, §9.9, §9.10). A fake driver in the style of test_hmm's
 * dmirror that allocates 2 MiB device folios for compound sources (or,
 * when told, 512 small ones, so that the core splits the source), and
 * whose migrate_to_ram brings a device PMD back whole (or one page).
 * Round trips with data, the CPU table (a device PMD, then a PMD THP
 * again), hmm_range_fault's map order, CPU faults, fork and COW, the
 * operations that split a device PMD, pins, holes, bad destinations and
 * allocation failures; the checkers after every step.
 */
#include "hmm_range_test.h"

#define DEVMEM		(64 * SZ_1M)
#define PMD_PAGES	512

/* ------------------------------------------------------------------------ */
/* The fake device                                                          */
/* ------------------------------------------------------------------------ */

struct cdev {
	struct hmm_devmem *dm;
	/* Counters, atomic: the driver runs in any thread. */
	int page_free_calls;
	uint64_t pages_freed;
	int bad_free_refs;		/* page_free at a refcount other than 0 */
	int migrate_to_ram_calls;
	int errors;			/* anything the driver found wrong */
	uint64_t fault_addr;		/* the last migrate_to_ram's */
	unsigned int fault_order;
	/* Behaviour. */
	bool small;			/* small destinations for compound sources */
	bool fault_4k;			/* migrate_to_ram moves the faulting page only */
};

static struct cdev dev, other;

#define ATOMIC_INC(x)	__atomic_fetch_add(&(x), 1, __ATOMIC_RELAXED)

static void c_page_free(struct folio *folio)
{
	struct cdev *d = folio->owner;

	ATOMIC_INC(d->page_free_calls);
	__atomic_fetch_add(&d->pages_freed, folio_nr_pages(folio), __ATOMIC_RELAXED);
	if (folio_ref_count(folio) != 0)
		ATOMIC_INC(d->bad_free_refs);
}

static struct folio *machine_folio(uint64_t mpfn)
{
	if (!(mpfn & MIGRATE_PFN_VALID))
		return NULL;
	return phys_pfn_to_folio(mt_machine(), migrate_pfn_to_pfn(mpfn));
}

/* A locked destination of @order: device memory, or system memory. */
static struct folio *alloc_dst(struct cdev *d, bool to_dev, unsigned int order)
{
	struct folio *f;

	if (to_dev)
		return hmm_devmem_alloc(d->dm, order);
	f = folio_alloc(mt_pool(), order, 0);
	if (f)
		folio_lock(f);
	return f;
}

/*
 * One migration of [start, start + len) of @vma (the mmap_lock held), the
 * driver's side: a 2 MiB destination for a compound source (unless
 * d->small or it cannot be had: then 512 small ones), the data copied, or
 * zeroed for holes. No CMocka asserts: any thread may run it. Returns the
 * pages migrated, or a negative errno; *@cpages and *@src0 (may be NULL):
 * what setup collected and its first src word.
 */
static int64_t cmigrate_locked(struct cdev *d, struct vm_area_struct *vma, uint64_t start,
			       uint64_t len, unsigned int flags, struct folio *fault,
			       uint64_t *cpages, uint64_t *src0)
{
	uint64_t n = PAGES(len), i, k, moved = 0;
	uint64_t *src = calloc(n, sizeof(*src)), *dst = calloc(n, sizeof(*dst));
	struct migrate_vma args = {
		.vma = vma,
		.src = src,
		.dst = dst,
		.start = start,
		.end = start + len,
		.pgmap_owner = d,
		.flags = flags,
		.fault_page = fault,
	};
	bool to_dev = flags & MIGRATE_VMA_SELECT_SYSTEM;
	struct folio *s, *f;
	int err;

	if (!src || !dst) {
		free(src);
		free(dst);
		return -ENOMEM;
	}
	err = migrate_vma_setup(&args);
	if (err)
		goto out;
	if (cpages)
		*cpages = args.cpages;
	if (src0)
		*src0 = src[0];
	for (i = 0; i < n; i++) {
		if (!(src[i] & MIGRATE_PFN_MIGRATE))
			continue;
		s = machine_folio(src[i]);
		if (s && !folio_test_locked(s))
			ATOMIC_INC(d->errors);
		if (src[i] & MIGRATE_PFN_COMPOUND) {
			for (k = 1; k < PMD_PAGES; k++)
				if (i + k >= n || src[i + k])
					ATOMIC_INC(d->errors);
			if (s && folio_order(s) != 9)
				ATOMIC_INC(d->errors);
			if (!to_dev && !s) {
				i += PMD_PAGES - 1;
				continue;
			}
			f = d->small ? NULL : alloc_dst(d, to_dev, 9);
			if (f) {
				if (s ? folio_copy(f, s) : folio_zero(f))
					ATOMIC_INC(d->errors);
				dst[i] = migrate_pfn(folio_pfn(f)) | MIGRATE_PFN_COMPOUND;
			} else {
				for (k = 0; k < PMD_PAGES && i + k < n; k++) {
					f = alloc_dst(d, to_dev, 0);
					if (!f)
						continue;
					if (s ? folio_copy_page(f, 0, s, k) : folio_zero(f))
						ATOMIC_INC(d->errors);
					dst[i + k] = migrate_pfn(folio_pfn(f));
				}
			}
			i += PMD_PAGES - 1;
			continue;
		}
		if (!to_dev && !s)
			continue;	/* holes stay holes on the way back */
		f = alloc_dst(d, to_dev, 0);
		if (!f)
			continue;
		if (s ? folio_copy_page(f, 0, s, migrate_pfn_to_pfn(src[i]) - folio_pfn(s)) : folio_zero(f))
			ATOMIC_INC(d->errors);
		dst[i] = migrate_pfn(folio_pfn(f));
	}
	migrate_vma_pages(&args);
	for (i = 0; i < n; i++) {
		if (!(src[i] & MIGRATE_PFN_MIGRATE) || !dst[i])
			continue;
		moved += (dst[i] & MIGRATE_PFN_COMPOUND) ? PMD_PAGES : 1;
	}
	migrate_vma_finalize(&args);
out:
	free(src);
	free(dst);
	return err ? err : (int64_t)moved;
}

/*
 * The driver's migrate_to_ram (dmirror_devmem_fault): a folio mapped by a
 * device PMD comes back whole (SELECT_COMPOUND over its block), a page
 * otherwise, or with d->fault_4k only the faulting page.
 */
static int c_migrate_to_ram(struct vm_fault *vmf)
{
	struct cdev *d = vmf->page->owner;
	uint64_t start = vmf->address & ~(SZ_4K - 1), len = SZ_4K, block;
	int64_t n;

	ATOMIC_INC(d->migrate_to_ram_calls);
	__atomic_store_n(&d->fault_addr, vmf->address, __ATOMIC_RELAXED);
	__atomic_store_n(&d->fault_order, folio_order(vmf->page), __ATOMIC_RELAXED);
	block = vmf->address & ~(SZ_2M - 1);
	if (folio_order(vmf->page) && !d->fault_4k && block >= vma_start(vmf->vma) &&
	    block + SZ_2M <= vma_end(vmf->vma)) {
		start = block;
		len = SZ_2M;
	}
	n = cmigrate_locked(d, vmf->vma, start, len,
			    MIGRATE_VMA_SELECT_DEVICE_PRIVATE | MIGRATE_VMA_SELECT_COMPOUND,
			    vmf->page, NULL, NULL);
	return n < 0 ? (int)n : 0;
}

static const struct dev_pagemap_ops c_ops = {
	.page_free = c_page_free,
	.migrate_to_ram = c_migrate_to_ram,
};

static void dev_add(struct cdev *d)
{
	memset(d, 0, sizeof(*d));
	assert_ret(hmm_devmem_add(mt.sys, HMM_DEVMEM_PRIVATE, DEVMEM, &c_ops, d, 0, &d->dm), 0);
}

static void dev_remove(struct cdev *d)
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

/* Device frames in use. */
static uint64_t dev_live(struct cdev *d)
{
	struct phys_pool_stats st;

	phys_pool_stats(hmm_devmem_pool(d->dm), &st);
	return st.live_frames;
}

/* A migration from the test's thread: asserts, then the checkers. */
static uint64_t cmigrate(struct cdev *d, struct mm_struct *mm, uint64_t start, uint64_t len,
			 unsigned int flags, uint64_t *cpages, uint64_t *src0)
{
	struct vm_area_struct *vma;
	int64_t n;

	mmap_read_lock(mm);
	vma = vma_lookup(mm, start);
	assert_non_null(vma);
	n = cmigrate_locked(d, vma, start, len, flags, NULL, cpages, src0);
	mmap_read_unlock(mm);
	assert_true(n >= 0);
	assert_int_equal(d->errors, 0);
	assert_mm_ok();
	return (uint64_t)n;
}

#define TO_DEV	(MIGRATE_VMA_SELECT_SYSTEM | MIGRATE_VMA_SELECT_COMPOUND)
#define TO_SYS	(MIGRATE_VMA_SELECT_DEVICE_PRIVATE | MIGRATE_VMA_SELECT_COMPOUND)

/* Write byte seed + i to page i of [a, a + len). */
static void fill(struct mm_struct *mm, uint64_t a, uint64_t len, int seed)
{
	uint64_t i;

	for (i = 0; i < PAGES(len); i++)
		assert_ret(mm_memset(mm, a + i * SZ_4K, (seed + (int)i) & 0xff, SZ_4K), 0);
	assert_mm_ok();
}

static void expect_fill(struct mm_struct *mm, uint64_t a, uint64_t len, int seed)
{
	uint64_t i;

	for (i = 0; i < PAGES(len); i++)
		mt_expect(mm, a + i * SZ_4K, (seed + (int)i) & 0xff, SZ_4K);
}

/* The bytes of a device page, read as the device would (no CPU fault). */
static int dev_byte(struct mm_struct *mm, uint64_t va)
{
	struct mt_page pg;
	uint8_t b;

	assert_true(mt_lookup(mm, va, &pg));
	assert_int_equal(pg.kind, MM_PTE_DEVICE_PRIVATE);
	assert_non_null(pg.folio);
	assert_int_equal(folio_read(pg.folio, (pg.idx << 12) + (va & (SZ_4K - 1)), &b, 1), 0);
	return b;
}

/* The device-private PMD at @va: its folio, checked whole. */
static struct folio *device_pmd(struct mm_struct *mm, uint64_t va, bool write)
{
	struct mt_page pg;

	assert_true(mt_lookup(mm, va, &pg));
	assert_int_equal(pg.kind, MM_PTE_DEVICE_PRIVATE);
	assert_int_equal(pg.level, 1);
	assert_int_equal(pg.write, write);
	assert_non_null(pg.folio);
	assert_true(folio_is_device_private(pg.folio));
	assert_int_equal(folio_order(pg.folio), 9);
	assert_int_equal(pg.pfn, folio_pfn(pg.folio) + ((va & (SZ_2M - 1)) >> 12));
	assert_false(folio_test_locked(pg.folio));
	return pg.folio;
}

/* The PMD THP at @va: its folio. */
static struct folio *thp_pmd(struct mm_struct *mm, uint64_t va)
{
	struct mt_page pg;

	assert_true(mt_lookup(mm, va, &pg));
	assert_int_equal(pg.kind, MM_PTE_PRESENT);
	assert_int_equal(pg.level, 1);
	assert_non_null(pg.folio);
	assert_false(folio_is_zone_device(pg.folio));
	assert_int_equal(folio_order(pg.folio), 9);
	return pg.folio;
}

/* ------------------------------------------------------------------------ */
/* A notifier that records the events                                       */
/* ------------------------------------------------------------------------ */

#define MAX_EVENTS 64

struct recorder {
	struct mmu_notifier mn;
	unsigned int n;
	struct mmu_notifier_range ev[MAX_EVENTS];
};

static void rec_start(struct mmu_notifier *mn, const struct mmu_notifier_range *r)
{
	struct recorder *rec = (struct recorder *)mn;

	if (rec->n < MAX_EVENTS)
		rec->ev[rec->n] = *r;
	rec->n++;
}

static const struct mmu_notifier_ops rec_ops = { .invalidate_range_start = rec_start };

static void rec_attach(struct recorder *rec, struct mm_struct *mm)
{
	memset(rec, 0, sizeof(*rec));
	rec->mn.ops = &rec_ops;
	assert_ret(mmu_notifier_register(&rec->mn, mm), 0);
}

static void rec_detach(struct recorder *rec, struct mm_struct *mm)
{
	assert_ret(mmu_notifier_unregister(&rec->mn, mm), 0);
}

static unsigned int rec_count(const struct recorder *rec, enum mmu_notifier_event event,
			      void *owner, uint64_t start, uint64_t end)
{
	unsigned int i, n = 0;

	for (i = 0; i < rec->n && i < MAX_EVENTS; i++)
		n += rec->ev[i].event == event && rec->ev[i].owner == owner &&
		     rec->ev[i].start == start && rec->ev[i].end == end;
	return n;
}

/* ------------------------------------------------------------------------ */
/* Tests                                                                    */
/* ------------------------------------------------------------------------ */

/*
 * A PMD THP to the device and back, whole: one compound source word
 * (cpages 1), the MIGRATE notification and no CLEAR (no split), a
 * device-private PMD mapping a 2 MiB device folio (one reference, one
 * entire mapping, exclusive), the THP freed; back, a PMD THP again, the
 * device folio freed with one page_free. A range that does not cover a
 * whole block splits it, as without the flag.
 */
static void test_round_trip(void **state)
{
	struct mm_struct *mm;
	struct recorder rec;
	struct folio *f;
	uint64_t a, cpages, src0, live, rss;

	(void)state;
	mt_setup(NULL);
	dev_add(&dev);
	mm = mt_proc(NULL);
	a = mt_anon_thp(mm, SZ_4M);
	fill(mm, a, SZ_4M, 0x20);
	assert_codes(mm, a, SZ_4M, "1024:Hxw");
	live = mt_live_frames();
	rss = mt_stats(mm).rss_anon;

	rec_attach(&rec, mm);
	assert_int_equal(cmigrate(&dev, mm, a, SZ_2M, TO_DEV, &cpages, &src0), PMD_PAGES);
	assert_int_equal(cpages, 1);
	assert_true(src0 & MIGRATE_PFN_COMPOUND);
	assert_true(src0 & MIGRATE_PFN_WRITE);
	assert_int_equal(rec_count(&rec, MMU_NOTIFY_MIGRATE, &dev, a, a + SZ_2M), 1);
	assert_int_equal(rec.n, 1);
	rec_detach(&rec, mm);

	assert_codes(mm, a, SZ_4M, "512:Dxw,512:Hxw");
	f = device_pmd(mm, a + 77 * SZ_4K, true);
	assert_ptr_equal(f->owner, &dev);
	assert_folio(f, 1, 1, 1, 0, 0, 1);
	assert_int_equal(dev_live(&dev), PMD_PAGES);
	assert_int_equal(mt_live_frames(), live - PMD_PAGES);
	assert_int_equal(mt_stats(mm).rss_anon, rss);
	assert_int_equal(dev_byte(mm, a), 0x20);
	assert_int_equal(dev_byte(mm, a + 300 * SZ_4K), (0x20 + 300) & 0xff);
	assert_int_equal(dev.page_free_calls, 0);

	/* Back: the device block only (the THP next to it is not ours). */
	assert_int_equal(cmigrate(&dev, mm, a, SZ_4M, TO_SYS, &cpages, &src0), PMD_PAGES);
	assert_int_equal(cpages, 1);
	assert_codes(mm, a, SZ_4M, "512:Hxw,512:Hxw");
	f = thp_pmd(mm, a);
	assert_folio(f, 1, 1, 1, 0, 0, 1);
	assert_int_equal(dev.page_free_calls, 1);
	assert_int_equal(dev.pages_freed, PMD_PAGES);
	assert_int_equal(dev_live(&dev), 0);
	assert_int_equal(mt_live_frames(), live);
	assert_int_equal(mt_stats(mm).rss_anon, rss);
	expect_fill(mm, a, SZ_4M, 0x20);

	/* A range that cuts the block: split (PMD and folio), half of it moves. */
	assert_int_equal(cmigrate(&dev, mm, a + SZ_2M, SZ_1M, TO_DEV, &cpages, NULL), 256);
	assert_int_equal(cpages, 256);
	assert_codes(mm, a + SZ_2M, SZ_2M, "256:dxw,256:pxw");
	/* Without the flag, a whole block is split too (the kernel before 6.19). */
	assert_int_equal(cmigrate(&dev, mm, a, SZ_2M, MIGRATE_VMA_SELECT_SYSTEM, &cpages, NULL),
			 PMD_PAGES);
	assert_int_equal(cpages, PMD_PAGES);
	assert_codes(mm, a, SZ_2M, "512:dxw");
	assert_int_equal(cmigrate(&dev, mm, a, SZ_4M, TO_SYS, NULL, NULL), 768);
	expect_fill(mm, a, SZ_4M, 0x20);
	assert_int_equal(dev.page_free_calls, 1 + 768);

	mt_exit(mm);
	dev_remove(&dev);
	mt_teardown();
}

/*
 * hmm_range_fault over a device PMD (hmm_vma_handle_absent_pmd): the owner
 * gets every page's device frame with the PMD's order and write, never a
 * fault; another owner gets 0 in a snapshot, and with a fault request
 * the owner's migrate_to_ram brings the 2 MiB back (the faulting address,
 * the order-9 folio), then a THP is reported with order 9.
 */
static void test_range_fault(void **state)
{
	struct mm_struct *mm;
	struct drv d;
	struct folio *f;
	uint64_t a, *pfns, i;
	unsigned int ebusy;
	struct req q;

	(void)state;
	mt_setup(NULL);
	dev_add(&dev);
	dev_add(&other);
	mm = mt_proc(NULL);
	a = mt_anon_thp(mm, SZ_2M);
	fill(mm, a, SZ_2M, 0x31);
	assert_int_equal(cmigrate(&dev, mm, a, SZ_2M, TO_DEV, NULL, NULL), PMD_PAGES);
	f = device_pmd(mm, a, true);
	pfns = calloc(PMD_PAGES, sizeof(*pfns));
	assert_non_null(pfns);
	drv_insert(&d, mm, a, SZ_2M);

	/* The owner: reported whole, snapshot or fault alike, with order 9. */
	q = (struct req){ .start = a, .npages = PMD_PAGES, .owner = &dev };
	snapshot(&d, mm, &q, pfns, NULL);
	assert_all_cpu(mm, &q, pfns);
	for (i = 0; i < PMD_PAGES; i++) {
		assert_int_equal(hmm_pfn_to_pfn(pfns[i]), folio_pfn(f) + i);
		assert_int_equal(hmm_pfn_to_map_order(pfns[i]), 9);
		assert_true(pfns[i] & HMM_PFN_WRITE);
	}
	assert_int_equal(hmm_range_map_shift(pfns, a, PMD_PAGES, 100, (1u << 12) | (1u << 21)),
			 21);
	q.dflt = WRITE;
	assert_ret(call_loop(&d, mm, &q, pfns, NULL, &ebusy), 0);
	assert_all_cpu(mm, &q, pfns);
	assert_int_equal(dev.migrate_to_ram_calls, 0);
	/* A part of it: the same order, from the page it starts at. */
	q = (struct req){ .start = a + 5 * SZ_4K, .npages = 3, .owner = &dev };
	snapshot(&d, mm, &q, pfns, NULL);
	assert_int_equal(hmm_pfn_to_pfn(pfns[0]), folio_pfn(f) + 5);
	assert_int_equal(hmm_pfn_to_map_order(pfns[2]), 9);

	/* Another owner: ERROR in a snapshot, unlike a device-private PTE (0). */
	q = (struct req){ .start = a, .npages = PMD_PAGES, .owner = &other };
	snapshot(&d, mm, &q, pfns, NULL);
	for (i = 0; i < PMD_PAGES; i++)
		assert_int_equal(pfns[i], HMM_PFN_ERROR);
	/* ...and a fault brings it back to RAM through the owner, whole. */
	q = (struct req){ .start = a + 200 * SZ_4K, .npages = 8, .dflt = FAULT, .owner = &other };
	assert_ret(call_loop(&d, mm, &q, pfns, NULL, &ebusy), 0);
	assert_int_equal(dev.migrate_to_ram_calls, 1);
	assert_int_equal(dev.fault_addr, a + 200 * SZ_4K);
	assert_int_equal(dev.fault_order, 9);
	assert_int_equal(dev.page_free_calls, 1);
	assert_codes(mm, a, SZ_2M, "512:Hxw");
	assert_all_cpu(mm, &q, pfns);
	assert_int_equal(hmm_pfn_to_map_order(pfns[0]), 9);
	assert_mm_ok();
	expect_fill(mm, a, SZ_2M, 0x31);

	drv_remove(&d);
	free(pfns);
	mt_exit(mm);
	dev_remove(&dev);
	dev_remove(&other);
	mt_teardown();
}

/*
 * A CPU access to a device PMD calls migrate_to_ram with the faulting
 * address and the order-9 folio. The driver may bring all 2 MiB back (a
 * PMD THP again), or only the page: the core then splits the PMD (CLEAR
 * 2 MiB) and the device folio (one page_free for the page that left).
 */
static void test_cpu_fault(void **state)
{
	struct mm_struct *mm;
	struct recorder rec;
	struct folio *f;
	uint64_t a;

	(void)state;
	mt_setup(NULL);
	dev_add(&dev);
	mm = mt_proc(NULL);
	a = mt_anon_thp(mm, SZ_2M);
	fill(mm, a, SZ_2M, 0x40);
	assert_int_equal(cmigrate(&dev, mm, a, SZ_2M, TO_DEV, NULL, NULL), PMD_PAGES);

	/* A read of page 100: all of it comes back, as a PMD THP. */
	mt_expect(mm, a + 100 * SZ_4K, (0x40 + 100) & 0xff, SZ_4K);
	assert_int_equal(dev.migrate_to_ram_calls, 1);
	assert_int_equal(dev.fault_addr, a + 100 * SZ_4K);
	assert_int_equal(dev.fault_order, 9);
	assert_int_equal(dev.page_free_calls, 1);
	assert_codes(mm, a, SZ_2M, "512:Hxw");
	assert_folio(thp_pmd(mm, a), 1, 1, 1, 0, 0, 1);
	expect_fill(mm, a, SZ_2M, 0x40);

	/* A write to page 7 of a device PMD whose driver moves one page. */
	assert_int_equal(cmigrate(&dev, mm, a, SZ_2M, TO_DEV, NULL, NULL), PMD_PAGES);
	dev.fault_4k = true;
	rec_attach(&rec, mm);
	mt_memset(mm, a + 7 * SZ_4K, 0x77, SZ_4K);
	assert_int_equal(rec_count(&rec, MMU_NOTIFY_CLEAR, NULL, a, a + SZ_2M), 1);
	assert_int_equal(rec_count(&rec, MMU_NOTIFY_MIGRATE, &dev, a + 7 * SZ_4K,
				   a + 8 * SZ_4K), 1);
	rec_detach(&rec, mm);
	assert_int_equal(dev.migrate_to_ram_calls, 2);
	assert_codes(mm, a, SZ_2M, "7:dxw,1:pxw,504:dxw");
	assert_int_equal(dev.page_free_calls, 2);
	assert_int_equal(dev.pages_freed, PMD_PAGES + 1);
	assert_int_equal(dev_live(&dev), PMD_PAGES - 1);
	f = mt_folio(mm, a, NULL);
	assert_int_equal(folio_order(f), 0);
	assert_folio(f, 1, 1, 0, 0, 1, 1);
	mt_expect(mm, a + 7 * SZ_4K, 0x77, SZ_4K);
	assert_int_equal(dev_byte(mm, a + 8 * SZ_4K), (0x40 + 8) & 0xff);

	/* The rest by MIGRATE_TO_SYS, 4K by 4K now. */
	assert_int_equal(cmigrate(&dev, mm, a, SZ_2M, TO_SYS, NULL, NULL), PMD_PAGES - 1);
	assert_codes(mm, a, SZ_2M, "512:pxw");
	assert_int_equal(dev.page_free_calls, 1 + PMD_PAGES);
	assert_int_equal(dev_live(&dev), 0);
	mt_expect(mm, a + 7 * SZ_4K, 0x77, SZ_4K);
	mt_expect(mm, a + 8 * SZ_4K, (0x40 + 8) & 0xff, SZ_4K);
	mt_expect(mm, a + 511 * SZ_4K, (0x40 + 511) & 0xff, SZ_4K);

	mt_exit(mm);
	dev_remove(&dev);
	mt_teardown();
}

/*
 * fork shares a device PMD whole, read-only on both sides (copy_huge_pmd:
 * one more reference and entire mapping, exclusivity gone). A CPU read in
 * the child brings the 2 MiB back for both processes (the parent's PMD is
 * taken too, as try_to_migrate would): one PMD THP, read-only in both. A
 * write in the parent then copies one 4K page (its PMD split), the child
 * keeps the old bytes.
 */
static void test_fork(void **state)
{
	struct mm_struct *parent, *child;
	struct recorder rec;
	struct folio *f;
	uint64_t a;

	(void)state;
	mt_setup(NULL);
	dev_add(&dev);
	parent = mt_proc(NULL);
	a = mt_anon_thp(parent, SZ_2M);
	fill(parent, a, SZ_2M, 0x50);
	assert_int_equal(cmigrate(&dev, parent, a, SZ_2M, TO_DEV, NULL, NULL), PMD_PAGES);

	rec_attach(&rec, parent);
	child = mt_fork(parent);
	assert_int_equal(rec_count(&rec, MMU_NOTIFY_PROTECTION_PAGE, NULL, a, a + SZ_2M), 1);
	rec_detach(&rec, parent);
	assert_codes(parent, a, SZ_2M, "512:D..");
	assert_codes(child, a, SZ_2M, "512:D..");
	f = device_pmd(parent, a, false);
	assert_ptr_equal(device_pmd(child, a, false), f);
	assert_folio(f, 2, 2, 2, 0, 0, 0);

	/* The child reads: both get the same THP back, read-only. */
	rec_attach(&rec, parent);
	mt_expect(child, a + 9 * SZ_4K, (0x50 + 9) & 0xff, SZ_4K);
	assert_int_equal(rec_count(&rec, MMU_NOTIFY_CLEAR, NULL, a, a + SZ_2M), 1);
	rec_detach(&rec, parent);
	assert_int_equal(dev.page_free_calls, 1);
	assert_codes(parent, a, SZ_2M, "512:H..");
	assert_codes(child, a, SZ_2M, "512:H..");
	f = thp_pmd(parent, a);
	assert_ptr_equal(thp_pmd(child, a), f);
	assert_folio(f, 2, 2, 2, 0, 0, 0);

	/* The parent writes a page: its PMD is split, that page copied. */
	mt_memset(parent, a + SZ_4K, 0x99, SZ_4K);
	mt_expect(child, a + SZ_4K, (0x50 + 1) & 0xff, SZ_4K);
	mt_expect(parent, a + SZ_4K, 0x99, SZ_4K);
	assert_codes(parent, a, 2 * SZ_4K, "1:T..,1:pxw");
	expect_fill(child, a, SZ_2M, 0x50);

	/* fork again with the device PMD, exit the child untouched: nothing freed. */
	assert_int_equal(cmigrate(&dev, child, a, SZ_2M, TO_DEV, NULL, NULL), PMD_PAGES);
	mt_exit(parent);
	parent = mt_fork(child);
	assert_folio(device_pmd(child, a, false), 2, 2, 2, 0, 0, 0);
	mt_exit(parent);
	assert_int_equal(dev.page_free_calls, 1);
	f = device_pmd(child, a, false);
	assert_folio(f, 1, 1, 1, 0, 0, 0);
	/* Alone again: a write fault brings it back read-only, then reuses it. */
	mt_memset(child, a + 3 * SZ_4K, 0x33, SZ_4K);
	assert_int_equal(dev.page_free_calls, 2);
	mt_expect(child, a + 3 * SZ_4K, 0x33, SZ_4K);
	mt_expect(child, a + 4 * SZ_4K, (0x50 + 4) & 0xff, SZ_4K);
	mt_exit(child);

	/*
	 * Shared, then split in one process only (an mprotect in the child):
	 * the folio is mapped by the parent's PMD and the child's PTEs. A
	 * 4K migration back (the child's VMA no longer holds the block) splits
	 * the folio everywhere: the parent's PMD too (CLEAR 2 MiB there).
	 */
	parent = mt_proc(NULL);
	a = mt_anon_thp(parent, SZ_2M);
	fill(parent, a, SZ_2M, 0x51);
	assert_int_equal(cmigrate(&dev, parent, a, SZ_2M, TO_DEV, NULL, NULL), PMD_PAGES);
	child = mt_fork(parent);
	assert_ret(mm_mprotect(child, a, SZ_1M, MM_PROT_READ), 0);
	assert_mm_ok();
	assert_codes(child, a, SZ_2M, "512:d..");
	assert_codes(parent, a, SZ_2M, "512:D..");
	f = device_pmd(parent, a, false);
	assert_folio(f, 513, 513, 1, 0, 1, 0);
	rec_attach(&rec, parent);
	mt_expect(child, a + 10 * SZ_4K, (0x51 + 10) & 0xff, SZ_4K);
	assert_int_equal(rec_count(&rec, MMU_NOTIFY_CLEAR, NULL, a, a + SZ_2M), 1);
	rec_detach(&rec, parent);
	assert_codes(child, a + 9 * SZ_4K, 3 * SZ_4K, "1:d..,1:p..,1:d..");
	assert_codes(parent, a + 9 * SZ_4K, 3 * SZ_4K, "1:d..,1:p..,1:d..");
	assert_int_equal(folio_order(mt_folio(parent, a, NULL)), 0);
	expect_fill(parent, a, SZ_2M, 0x51);
	expect_fill(child, a, SZ_2M, 0x51);
	mt_exit(child);
	mt_exit(parent);
	assert_int_equal(dev_live(&dev), 0);
	dev_remove(&dev);
	mt_teardown();
}

/*
 * What splits a device PMD (split_huge_pmd: 512 device-private PTEs over
 * the same folio, +511 references, each page exclusive as the entry was):
 * a partial munmap, mprotect, MADV_DONTNEED and an unaligned mremap. Whole,
 * a device PMD is zapped (one page_free for 2 MiB), protected and moved as
 * it is. The pages left come back 4K by 4K (the folio is split then).
 */
static void test_split_ops(void **state)
{
	struct mm_struct *mm;
	struct recorder rec;
	struct folio *f;
	uint64_t a, b, na;

	(void)state;
	mt_setup(NULL);
	dev_add(&dev);
	mm = mt_proc(NULL);
	a = mt_anon_thp(mm, SZ_2M);
	fill(mm, a, SZ_2M, 0x60);
	assert_int_equal(cmigrate(&dev, mm, a, SZ_2M, TO_DEV, NULL, NULL), PMD_PAGES);
	f = device_pmd(mm, a, true);

	/* munmap of one page: CLEAR 2 MiB for the split, the folio stays (PTE-mapped). */
	rec_attach(&rec, mm);
	assert_ret(mm_munmap(mm, a + SZ_1M, SZ_4K), 0);
	assert_mm_ok();
	assert_int_equal(rec_count(&rec, MMU_NOTIFY_CLEAR, NULL, a, a + SZ_2M), 1);
	rec_detach(&rec, mm);
	assert_codes(mm, a, SZ_2M, "256:dxw,1:-..,255:dxw");
	assert_folio(f, 511, 511, 0, 0, 1, 1);
	assert_int_equal(dev.page_free_calls, 0);
	assert_int_equal(dev_byte(mm, a + 300 * SZ_4K), (0x60 + 300) & 0xff);

	/* mprotect read-only of two pages, MADV_DONTNEED of four. */
	assert_ret(mm_mprotect(mm, a, 2 * SZ_4K, MM_PROT_READ), 0);
	assert_mm_ok();
	assert_ret(mm_madvise(mm, a + 16 * SZ_4K, 4 * SZ_4K, MM_MADV_DONTNEED), 0);
	assert_mm_ok();
	assert_codes(mm, a, SZ_2M, "2:dx.,14:dxw,4:-..,236:dxw,1:-..,255:dxw");
	assert_folio(f, 507, 507, 0, 2, 1, 1);
	assert_int_equal(dev.page_free_calls, 0);

	/* Back: the folio is split (its unmapped pages freed), the rest moves. */
	assert_int_equal(cmigrate(&dev, mm, a, 2 * SZ_4K, TO_SYS, NULL, NULL), 2);
	assert_int_equal(dev.page_free_calls, 5 + 2);
	assert_int_equal(cmigrate(&dev, mm, a + 2 * SZ_4K, SZ_1M - 2 * SZ_4K, TO_SYS, NULL, NULL),
			 250);
	assert_int_equal(cmigrate(&dev, mm, a + SZ_1M + SZ_4K, SZ_1M - SZ_4K, TO_SYS, NULL, NULL),
			 255);
	assert_int_equal(dev.page_free_calls, PMD_PAGES);
	assert_int_equal(dev_live(&dev), 0);
	assert_codes(mm, a, 2 * SZ_4K, "2:px.");
	mt_expect(mm, a, 0x60, SZ_4K);
	mt_expect(mm, a + 16 * SZ_4K, 0, SZ_4K);
	mt_expect(mm, a + 20 * SZ_4K, (0x60 + 20) & 0xff, SZ_4K);
	mt_expect(mm, a + SZ_1M + SZ_4K, (0x60 + 257) & 0xff, SZ_4K);
	assert_ret(mm_munmap(mm, a, SZ_2M), 0);

	/* Whole: mprotect keeps the PMD (read-only), DONTNEED frees it in one go. */
	a = mt_anon_thp(mm, SZ_2M);
	fill(mm, a, SZ_2M, 0x61);
	assert_int_equal(cmigrate(&dev, mm, a, SZ_2M, TO_DEV, NULL, NULL), PMD_PAGES);
	assert_ret(mm_mprotect(mm, a, SZ_2M, MM_PROT_READ), 0);
	assert_mm_ok();
	assert_codes(mm, a, SZ_2M, "512:Dx.");
	assert_ret(mm_mprotect(mm, a, SZ_2M, MM_PROT_READ | MM_PROT_WRITE), 0);
	assert_mm_ok();
	mt_expect(mm, a + 5 * SZ_4K, (0x61 + 5) & 0xff, SZ_4K);	/* back, read-only */
	assert_codes(mm, a, SZ_2M, "512:Hx.");
	assert_int_equal(cmigrate(&dev, mm, a, SZ_2M, TO_DEV, NULL, NULL), PMD_PAGES);
	device_pmd(mm, a, false);	/* a read-only source stays read-only */
	assert_ret(mm_madvise(mm, a, SZ_2M, MM_MADV_DONTNEED), 0);
	assert_mm_ok();
	assert_int_equal(dev.page_free_calls, PMD_PAGES + 2);
	assert_codes(mm, a, SZ_2M, "512:-..");

	/* mremap: aligned, the PMD moves whole; unaligned, it is split first. */
	fill(mm, a, SZ_2M, 0x62);
	assert_int_equal(cmigrate(&dev, mm, a, SZ_2M, TO_DEV, NULL, NULL), PMD_PAGES);
	assert_ret(mm_mremap(mm, a, SZ_2M, 0, 0, SZ_2M, 0, &na), 0);
	assert_mm_ok();
	assert_codes(mm, na, SZ_2M, "512:Dxw");
	assert_int_equal(dev_byte(mm, na + 9 * SZ_4K), (0x62 + 9) & 0xff);
	assert_ret(mm_mremap(mm, na, SZ_2M, 0, 0, SZ_2M, SZ_4K, &b), 0);
	assert_mm_ok();
	assert_codes(mm, b, SZ_2M, "512:dxw");
	assert_int_equal(dev.page_free_calls, PMD_PAGES + 2);
	expect_fill(mm, b, SZ_2M, 0x62);

	/* exit drops a device PMD whole. */
	a = mt_anon_thp(mm, SZ_2M);
	assert_int_equal(cmigrate(&dev, mm, a, SZ_2M, TO_DEV, NULL, NULL), PMD_PAGES);
	assert_codes(mm, a, SZ_2M, "512:Dxw");
	mt_exit(mm);
	assert_int_equal(dev.page_free_calls, 2 * PMD_PAGES + 3);
	assert_int_equal(dev_live(&dev), 0);
	dev_remove(&dev);
	mt_teardown();
}

/*
 * A driver that answers a compound source with 512 small destinations
 * (6.19: the core splits the source, and the migration goes on 4K by 4K):
 * a THP to the device, a device PMD back to RAM, a compound hole filled, a
 * device PMD a fork shared (both processes' PMDs split).
 */
static void test_small_destinations(void **state)
{
	struct mm_struct *mm, *child;
	struct recorder rec;
	uint64_t a, b, c, cpages, src0, live;

	(void)state;
	mt_setup(NULL);
	dev_add(&dev);
	mm = mt_proc(NULL);
	a = mt_anon_thp(mm, SZ_2M);
	fill(mm, a, SZ_2M, 0x70);
	live = mt_live_frames();

	dev.small = true;
	rec_attach(&rec, mm);
	assert_int_equal(cmigrate(&dev, mm, a, SZ_2M, TO_DEV, &cpages, &src0), PMD_PAGES);
	assert_int_equal(cpages, 1);
	assert_true(src0 & MIGRATE_PFN_COMPOUND);
	assert_int_equal(rec.n, 1);	/* the MIGRATE of setup: the split is not seen */
	rec_detach(&rec, mm);
	assert_codes(mm, a, SZ_2M, "512:dxw");
	assert_folio(mt_folio(mm, a + 5 * SZ_4K, NULL), 1, 1, 0, 0, 1, 1);
	assert_int_equal(mt_live_frames(), live - PMD_PAGES);
	assert_int_equal(dev_byte(mm, a + 5 * SZ_4K), (0x70 + 5) & 0xff);
	assert_int_equal(cmigrate(&dev, mm, a, SZ_2M, TO_SYS, NULL, NULL), PMD_PAGES);
	assert_codes(mm, a, SZ_2M, "512:pxw");
	assert_int_equal(dev.page_free_calls, PMD_PAGES);
	expect_fill(mm, a, SZ_2M, 0x70);

	/* A device PMD back to small system pages: the device folio is split. */
	assert_ret(mm_munmap(mm, a, SZ_2M), 0);
	a = mt_anon_thp(mm, SZ_2M);
	fill(mm, a, SZ_2M, 0x71);
	dev.small = false;
	assert_int_equal(cmigrate(&dev, mm, a, SZ_2M, TO_DEV, NULL, NULL), PMD_PAGES);
	device_pmd(mm, a, true);
	dev.small = true;
	assert_int_equal(cmigrate(&dev, mm, a, SZ_2M, TO_SYS, &cpages, NULL), PMD_PAGES);
	assert_int_equal(cpages, 1);
	assert_codes(mm, a, SZ_2M, "512:pxw");
	assert_int_equal(dev.page_free_calls, 2 * PMD_PAGES);
	assert_int_equal(dev_live(&dev), 0);
	expect_fill(mm, a, SZ_2M, 0x71);

	/* A compound hole, 512 small destinations. */
	b = mt_anon_thp(mm, SZ_2M);
	assert_int_equal(cmigrate(&dev, mm, b, SZ_2M, TO_DEV, &cpages, &src0), PMD_PAGES);
	assert_int_equal(cpages, 1);
	assert_int_equal(src0, MIGRATE_PFN_MIGRATE | MIGRATE_PFN_COMPOUND);
	assert_codes(mm, b, SZ_2M, "512:dxw");
	assert_int_equal(dev_byte(mm, b + SZ_1M), 0);

	/* Shared by fork, back to small pages: the relative's PMD is split too. */
	dev.small = false;
	c = mt_anon_thp(mm, SZ_2M);
	fill(mm, c, SZ_2M, 0x72);
	assert_int_equal(cmigrate(&dev, mm, c, SZ_2M, TO_DEV, NULL, NULL), PMD_PAGES);
	child = mt_fork(mm);
	dev.small = true;
	mt_expect(child, c + 3 * SZ_4K, (0x72 + 3) & 0xff, SZ_4K);
	assert_codes(child, c, SZ_2M, "512:p..");
	assert_codes(mm, c, SZ_2M, "512:p..");
	assert_int_equal(folio_order(mt_folio(mm, c + 7 * SZ_4K, NULL)), 0);
	assert_int_equal(dev.page_free_calls, 3 * PMD_PAGES);
	expect_fill(child, c, SZ_2M, 0x72);
	expect_fill(mm, c, SZ_2M, 0x72);
	mt_exit(child);

	mt_exit(mm);
	assert_int_equal(dev.page_free_calls, 4 * PMD_PAGES);
	dev_remove(&dev);
	mt_teardown();
}

/*
 * A THP with a pinned page cannot give up its exclusivity: it is neither
 * migrated nor split (the kernel's split_folio fails on the pin before it
 * unmaps anything); the THP next to it moves. Unpinned, it moves too.
 */
static void test_pinned(void **state)
{
	struct mm_struct *mm;
	struct folio *pinned;
	uint64_t a, cpages;

	(void)state;
	mt_setup(NULL);
	dev_add(&dev);
	mm = mt_proc(NULL);
	a = mt_anon_thp(mm, SZ_4M);
	fill(mm, a, SZ_4M, 0x80);
	assert_int_equal(pin_user_pages(mm, a + 10 * SZ_4K, 1, FOLL_WRITE, &pinned), 1);
	assert_mm_ok();

	assert_int_equal(cmigrate(&dev, mm, a, SZ_2M, TO_DEV, &cpages, NULL), 0);
	assert_int_equal(cpages, 0);
	assert_codes(mm, a, SZ_4M, "1024:Hxw");
	assert_int_equal(cmigrate(&dev, mm, a, SZ_4M, TO_DEV, &cpages, NULL), PMD_PAGES);
	assert_int_equal(cpages, 1);
	assert_codes(mm, a, SZ_4M, "512:Hxw,512:Dxw");
	unpin_user_pages(&pinned, 1);
	assert_mm_ok();
	assert_int_equal(cmigrate(&dev, mm, a, SZ_2M, TO_DEV, NULL, NULL), PMD_PAGES);
	assert_codes(mm, a, SZ_4M, "512:Dxw,512:Dxw");
	assert_int_equal(cmigrate(&dev, mm, a, SZ_4M, TO_SYS, NULL, NULL), 2 * PMD_PAGES);
	expect_fill(mm, a, SZ_4M, 0x80);
	assert_int_equal(dev.page_free_calls, 2);

	mt_exit(mm);
	dev_remove(&dev);
	mt_teardown();
}

/*
 * Holes: an empty PMD slot of a THP-eligible block, and the huge zero PMD,
 * are compound holes a 2 MiB destination fills with a device PMD (the fill
 * notification: MIGRATE from the first hole on). A VMA without THP gets
 * 4K holes; a range that cuts the block too.
 */
static void test_holes(void **state)
{
	struct mm_struct *mm;
	struct recorder rec;
	uint64_t a, b, c, cpages, src0, rss;

	(void)state;
	mt_setup(NULL);
	dev_add(&dev);
	mm = mt_proc(NULL);
	a = mt_anon_thp(mm, SZ_4M);
	rss = mt_stats(mm).rss_anon;
	rec_attach(&rec, mm);
	assert_int_equal(cmigrate(&dev, mm, a, SZ_4M, TO_DEV, &cpages, &src0), 2 * PMD_PAGES);
	assert_int_equal(cpages, 2);
	assert_int_equal(src0, MIGRATE_PFN_MIGRATE | MIGRATE_PFN_COMPOUND);
	assert_int_equal(rec_count(&rec, MMU_NOTIFY_MIGRATE, &dev, a, a + SZ_4M), 2);
	assert_int_equal(rec.n, 2);
	rec_detach(&rec, mm);
	assert_codes(mm, a, SZ_4M, "512:Dxw,512:Dxw");
	assert_folio(device_pmd(mm, a, true), 1, 1, 1, 0, 0, 1);
	assert_int_equal(mt_stats(mm).rss_anon, rss + 2 * PMD_PAGES);
	assert_int_equal(dev_byte(mm, a + SZ_2M + 3), 0);

	/* The huge zero PMD. */
	b = mt_anon_thp(mm, SZ_2M);
	mt_touch(mm, b + SZ_4K);
	assert_codes(mm, b, SZ_2M, "512:z..");
	assert_int_equal(cmigrate(&dev, mm, b, SZ_2M, TO_DEV, &cpages, &src0), PMD_PAGES);
	assert_int_equal(src0, MIGRATE_PFN_MIGRATE | MIGRATE_PFN_COMPOUND);
	assert_codes(mm, b, SZ_2M, "512:Dxw");

	/* No THP in the VMA, or a range that cuts the block: 4K holes. */
	c = mt_mmap(mm, SZ_2M, RW, ANON, SZ_2M, 0);
	assert_ret(mm_madvise(mm, c, SZ_2M, MM_MADV_NOHUGEPAGE), 0);
	assert_int_equal(cmigrate(&dev, mm, c, SZ_2M, TO_DEV, &cpages, NULL), PMD_PAGES);
	assert_int_equal(cpages, PMD_PAGES);
	assert_codes(mm, c, SZ_2M, "512:dxw");
	assert_ret(mm_munmap(mm, c, SZ_2M), 0);
	c = mt_anon_thp(mm, SZ_2M);
	assert_int_equal(cmigrate(&dev, mm, c + SZ_4K, SZ_2M - SZ_4K, TO_DEV, &cpages, NULL),
			 PMD_PAGES - 1);
	assert_codes(mm, c, SZ_2M, "1:-..,511:dxw");

	/* Back: the holes' pages come back as THPs (whole) or pages. */
	assert_int_equal(cmigrate(&dev, mm, a, SZ_4M, TO_SYS, NULL, NULL), 2 * PMD_PAGES);
	assert_codes(mm, a, SZ_4M, "512:Hxw,512:Hxw");
	mt_expect(mm, a + 5, 0, SZ_4K);
	mt_exit(mm);
	assert_int_equal(dev.page_free_calls, 3 + 2 * PMD_PAGES - 1);
	dev_remove(&dev);
	mt_teardown();
}

/*
 * One migration step driven by hand: setup over [start, start + len),
 * then @give fills dst (it may leave anything), pages and finalize. The
 * src words after pages are copied to @out (npages words) when not NULL.
 */
static void step(struct mm_struct *mm, uint64_t start, uint64_t len, unsigned int flags,
		 void (*give)(uint64_t *src, uint64_t *dst, uint64_t n), uint64_t *out)
{
	uint64_t n = PAGES(len);
	uint64_t *src = calloc(n, sizeof(*src)), *dst = calloc(n, sizeof(*dst));
	struct migrate_vma args = {
		.src = src, .dst = dst, .start = start, .end = start + len,
		.pgmap_owner = &dev, .flags = flags,
	};

	assert_non_null(src);
	assert_non_null(dst);
	mmap_read_lock(mm);
	args.vma = vma_lookup(mm, start);
	assert_ret(migrate_vma_setup(&args), 0);
	give(src, dst, n);
	migrate_vma_pages(&args);
	if (out)
		memcpy(out, src, n * sizeof(*src));
	migrate_vma_finalize(&args);
	mmap_read_unlock(mm);
	free(src);
	free(dst);
	assert_mm_ok();
}

/* A 2 MiB device folio, COMPOUND, for the first word. */
static void give_compound(uint64_t *src, uint64_t *dst, uint64_t n)
{
	struct folio *f = hmm_devmem_alloc(dev.dm, 9);

	(void)src;
	(void)n;
	assert_non_null(f);
	dst[0] = migrate_pfn(folio_pfn(f)) | MIGRATE_PFN_COMPOUND;
}

/* A 4K device folio flagged COMPOUND for the first word. */
static void give_small_compound(uint64_t *src, uint64_t *dst, uint64_t n)
{
	struct folio *f = hmm_devmem_alloc(dev.dm, 0);

	(void)src;
	(void)n;
	assert_non_null(f);
	dst[0] = migrate_pfn(folio_pfn(f)) | MIGRATE_PFN_COMPOUND;
}

/* A 2 MiB device folio without COMPOUND for the first word. */
static void give_large_plain(uint64_t *src, uint64_t *dst, uint64_t n)
{
	struct folio *f = hmm_devmem_alloc(dev.dm, 9);

	(void)src;
	(void)n;
	assert_non_null(f);
	dst[0] = migrate_pfn(folio_pfn(f));
}

/* Small destinations for all but the first word. */
static void give_all_but_first(uint64_t *src, uint64_t *dst, uint64_t n)
{
	struct folio *f;
	uint64_t i;

	(void)src;
	for (i = 1; i < n; i++) {
		f = hmm_devmem_alloc(dev.dm, 0);
		assert_non_null(f);
		dst[i] = migrate_pfn(folio_pfn(f));
	}
}

/* A small destination for the first word only (its data copied). */
static void give_first_small(uint64_t *src, uint64_t *dst, uint64_t n)
{
	struct folio *f = hmm_devmem_alloc(dev.dm, 0), *s = machine_folio(src[0]);

	(void)n;
	assert_non_null(f);
	assert_non_null(s);
	assert_int_equal(folio_copy_page(f, 0, s, 0), 0);
	dst[0] = migrate_pfn(folio_pfn(f));
}

/* What a refused migration must leave as it was: the dump, RSS, system frames. */
struct picture {
	char *dump;
	uint64_t rss, live;
};

static void picture_take(struct mm_struct *mm, uint64_t a, uint64_t len, struct picture *p)
{
	p->dump = strdup(mt_dump(mm, a, len));
	assert_non_null(p->dump);
	p->rss = mt_stats(mm).rss_anon;
	p->live = mt_live_frames();
}

static void picture_same(struct mm_struct *mm, uint64_t a, uint64_t len, struct picture *p)
{
	assert_string_equal(mt_dump(mm, a, len), p->dump);
	assert_int_equal(mt_stats(mm).rss_anon, p->rss);
	assert_int_equal(mt_live_frames(), p->live);
	assert_int_equal(dev_live(&dev), 0);
	free(p->dump);
}

/*
 * Destinations migrate_vma_pages() refuses (docs/bad-input.md): the source
 * word loses MIGRATE, finalize puts the source back as it was and the
 * destination goes back to the device (page_free); nothing else changes.
 */
static void test_bad_destinations(void **state)
{
	struct mm_struct *mm;
	struct picture pic;
	uint64_t a, t, out[PMD_PAGES];
	int frees;

	(void)state;
	mt_setup(NULL);
	dev_add(&dev);
	mm = mt_proc(NULL);
	a = mt_anon(mm, 4 * SZ_4K);
	fill(mm, a, 4 * SZ_4K, 0x90);
	t = mt_anon_thp(mm, SZ_2M);
	fill(mm, t, SZ_2M, 0x91);

	/* A 2 MiB (COMPOUND) destination for a 4K source, or a 4K hole. */
	picture_take(mm, a, 4 * SZ_4K, &pic);
	step(mm, a + SZ_4K, SZ_4K, TO_DEV, give_compound, out);
	assert_false(out[0] & MIGRATE_PFN_MIGRATE);
	picture_same(mm, a, 4 * SZ_4K, &pic);
	assert_int_equal(dev.page_free_calls, 1);
	assert_ret(mm_madvise(mm, a + 2 * SZ_4K, SZ_4K, MM_MADV_DONTNEED), 0);
	picture_take(mm, a, 4 * SZ_4K, &pic);
	step(mm, a + 2 * SZ_4K, SZ_4K, TO_DEV, give_compound, out);
	assert_false(out[0] & MIGRATE_PFN_MIGRATE);
	picture_same(mm, a, 4 * SZ_4K, &pic);
	assert_int_equal(dev.page_free_calls, 2);

	/* For a compound source: a 4K folio flagged COMPOUND, a 2 MiB one without. */
	picture_take(mm, t, SZ_2M, &pic);
	step(mm, t, SZ_2M, TO_DEV, give_small_compound, out);
	assert_false(out[0] & MIGRATE_PFN_MIGRATE);
	assert_true(out[0] & MIGRATE_PFN_COMPOUND);
	picture_same(mm, t, SZ_2M, &pic);
	picture_take(mm, t, SZ_2M, &pic);
	step(mm, t, SZ_2M, TO_DEV, give_large_plain, out);
	assert_false(out[0] & MIGRATE_PFN_MIGRATE);
	picture_same(mm, t, SZ_2M, &pic);
	/* Small destinations but none for the first word: nothing moves. */
	picture_take(mm, t, SZ_2M, &pic);
	step(mm, t, SZ_2M, TO_DEV, give_all_but_first, out);
	assert_false(out[0] & MIGRATE_PFN_MIGRATE);
	picture_same(mm, t, SZ_2M, &pic);
	frees = 2 + 1 + 1 + (PMD_PAGES - 1);
	assert_int_equal(dev.page_free_calls, frees);
	assert_int_equal(dev_live(&dev), 0);

	/* One small destination, for the first page: the THP is split, one page moves. */
	step(mm, t, SZ_2M, TO_DEV, give_first_small, out);
	assert_true(out[0] & MIGRATE_PFN_MIGRATE);
	assert_false(out[0] & MIGRATE_PFN_COMPOUND);
	assert_true(out[1] & MIGRATE_PFN_VALID);
	assert_false(out[1] & MIGRATE_PFN_MIGRATE);
	assert_codes(mm, t, SZ_2M, "1:dxw,511:pxw");
	assert_int_equal(folio_order(mt_folio(mm, t + SZ_4K, NULL)), 0);
	expect_fill(mm, t, SZ_2M, 0x91);
	expect_fill(mm, a, 2 * SZ_4K, 0x90);

	mt_exit(mm);
	dev_remove(&dev);
	mt_teardown();
}

/*
 * A compound workload run with one allocation failing (every allocation in
 * turn, hmmsim_inject_alloc_failure): migrations both ways (2 MiB and small
 * destinations), a CPU fault on a device PMD, an mprotect that splits one,
 * a fork whose child reads it and a device PMD both map (small
 * destinations: split in both). Whatever fails fails cleanly: the checkers
 * pass afterwards, every byte reads back, and the device and system memory
 * all come back.
 */
static void nomem_workload(struct mm_struct *mm, uint64_t a)
{
	struct vm_area_struct *vma;
	struct mm_struct *child;
	uint8_t b;

	mmap_read_lock(mm);
	vma = vma_lookup(mm, a);
	cmigrate_locked(&dev, vma, a, 3 * SZ_2M, TO_DEV, NULL, NULL, NULL);
	dev.small = true;
	cmigrate_locked(&dev, vma, a + SZ_2M, SZ_2M, TO_SYS, NULL, NULL, NULL);
	cmigrate_locked(&dev, vma, a + SZ_2M, SZ_2M, TO_DEV, NULL, NULL, NULL);
	dev.small = false;
	mmap_read_unlock(mm);
	mm_read(mm, a + 3 * SZ_4K, &b, 1);
	mmap_read_lock(mm);
	cmigrate_locked(&dev, vma_lookup(mm, a), a, SZ_2M, TO_DEV, NULL, NULL, NULL);
	mmap_read_unlock(mm);
	if (!mm_mprotect(mm, a + SZ_1M, SZ_4K, MM_PROT_READ))
		mm_mprotect(mm, a + SZ_1M, SZ_4K, MM_PROT_READ | MM_PROT_WRITE);
	if (!mm_fork(mm, &child)) {
		mm_read(child, a + SZ_2M + 5 * SZ_4K, &b, 1);
		/* A device PMD both map, back to small pages: split everywhere. */
		dev.small = true;
		mm_read(child, a + 2 * SZ_2M + 9 * SZ_4K, &b, 1);
		dev.small = false;
		mm_exit(child);
	}
}

static void test_alloc_failure(void **state)
{
	struct mm_system_config cfg = { .ram = 64 * SZ_1M };
	struct mm_struct *mm;
	uint64_t a, total, n, step_n;

	(void)state;
	/* Count the workload's allocations. */
	mt_setup(&cfg);
	dev_add(&dev);
	mm = mt_proc(NULL);
	a = mt_anon_thp(mm, 3 * SZ_2M);
	fill(mm, a, 3 * SZ_2M, 0xa0);
	hmmsim_inject_alloc_failure(0);
	nomem_workload(mm, a);
	total = hmmsim_inject_alloc_failure(0);
	assert_mm_ok();
	expect_fill(mm, a, 3 * SZ_2M, 0xa0);
	mt_exit(mm);
	dev_remove(&dev);
	mt_teardown();
	assert_true(total > 20);
	print_message("# the compound workload makes %" PRIu64 " allocations\n", total);

	/*
	 * Fail each in turn: a stride through them (about 32 runs), or every
	 * one with HMMSIM_TEST_EVERY set (HMMSIM_TEST_NTH: the first).
	 */
	step_n = getenv("HMMSIM_TEST_EVERY") ? 1 : total / 32 + 1;
	n = getenv("HMMSIM_TEST_NTH") ? strtoull(getenv("HMMSIM_TEST_NTH"), NULL, 0) : 1;
	for (; n <= total; n += step_n) {
		mt_setup(&cfg);
		dev_add(&dev);
		mm = mt_proc(NULL);
		a = mt_anon_thp(mm, 3 * SZ_2M);
		fill(mm, a, 3 * SZ_2M, 0xa0);
		hmmsim_inject_alloc_failure(n);
		nomem_workload(mm, a);
		hmmsim_inject_alloc_failure(0);
		if (getenv("HMMSIM_TEST_VERBOSE"))
			print_message("# failing allocation %" PRIu64 "\n", n);
		assert_int_equal(dev.errors, 0);
		assert_mm_ok();
		/* Every byte as written (device pages come back by CPU faults). */
		expect_fill(mm, a, 3 * SZ_2M, 0xa0);
		mt_exit(mm);
		dev_remove(&dev);
		mt_teardown();
	}
}

/*
 * Threads: two migrators move random 2 MiB blocks of a parent to the device
 * and back (compound, sometimes a part of a block, which splits it; now
 * and then from the child), the parent and its fork child read pages all
 * along (CPU faults on device PMDs shared by both, PMD migration entries to
 * wait out).
 * Every byte stays what it was; the checkers pass at the end.
 */
#define CONC_BLOCKS	4
#define CONC_ITERS	150

static struct {
	struct mm_struct *parent, *child;
	uint64_t a;
	int done, errors, moved;
} cs;

static uint32_t conc_rand(uint64_t *state)
{
	*state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
	return (uint32_t)(*state >> 33);
}

static int64_t conc_migrate(struct mm_struct *mm, uint64_t start, uint64_t len,
			    unsigned int flags)
{
	struct vm_area_struct *vma;
	int64_t n;

	mmap_read_lock(mm);
	vma = vma_lookup(mm, start);
	n = vma ? cmigrate_locked(&dev, vma, start, len, flags, NULL, NULL, NULL) : -EFAULT;
	mmap_read_unlock(mm);
	return n;
}

static void *conc_migrator(void *arg)
{
	uint64_t seed = (uintptr_t)arg, b, off, len;
	struct mm_struct *mm;
	unsigned int it;
	int64_t n;

	hmmsim_thread_register();
	for (it = 0; it < CONC_ITERS; it++) {
		b = conc_rand(&seed) % CONC_BLOCKS;
		off = (it % 5 == 4) ? (conc_rand(&seed) % 256) * SZ_4K : 0;
		len = off ? SZ_1M : SZ_2M;
		mm = (it % 7 == 3) ? cs.child : cs.parent;
		n = conc_migrate(mm, cs.a + b * SZ_2M + off, len, (it % 2) ? TO_DEV : TO_SYS);
		if (n < 0)
			ATOMIC_INC(cs.errors);
		else
			__atomic_fetch_add(&cs.moved, (int)n, __ATOMIC_RELAXED);
	}
	__atomic_fetch_add(&cs.done, 1, __ATOMIC_RELEASE);
	hmmsim_thread_unregister();
	return NULL;
}

static void *conc_reader(void *arg)
{
	static __thread uint8_t buf[SZ_4K];
	struct mm_struct *mm = arg;
	uint64_t seed = (uintptr_t)mm, p, i;

	hmmsim_thread_register();
	while (__atomic_load_n(&cs.done, __ATOMIC_ACQUIRE) < 2) {
		p = conc_rand(&seed) % (CONC_BLOCKS * PMD_PAGES);
		if (mm_read(mm, cs.a + p * SZ_4K, buf, SZ_4K)) {
			ATOMIC_INC(cs.errors);
			continue;
		}
		for (i = 0; i < SZ_4K; i++) {
			if (buf[i] != ((0xb0 + p) & 0xff)) {
				ATOMIC_INC(cs.errors);
				break;
			}
		}
	}
	hmmsim_thread_unregister();
	return NULL;
}

static void test_concurrency(void **state)
{
	pthread_t th[4];
	int i;

	(void)state;
	mt_setup(NULL);
	dev_add(&dev);
	memset(&cs, 0, sizeof(cs));
	cs.parent = mt_proc(NULL);
	cs.a = mt_anon_thp(cs.parent, CONC_BLOCKS * SZ_2M);
	fill(cs.parent, cs.a, CONC_BLOCKS * SZ_2M, 0xb0);
	assert_int_equal(cmigrate(&dev, cs.parent, cs.a, SZ_2M, TO_DEV, NULL, NULL), PMD_PAGES);
	cs.child = mt_fork(cs.parent);

	assert_int_equal(pthread_create(&th[0], NULL, conc_migrator, (void *)1), 0);
	assert_int_equal(pthread_create(&th[1], NULL, conc_migrator, (void *)2), 0);
	assert_int_equal(pthread_create(&th[2], NULL, conc_reader, cs.parent), 0);
	assert_int_equal(pthread_create(&th[3], NULL, conc_reader, cs.child), 0);
	for (i = 0; i < 4; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	assert_int_equal(cs.errors, 0);
	assert_int_equal(dev.errors, 0);
	assert_mm_ok();
	print_message("# moved %d pages, %d migrate_to_ram, %d page_free\n", cs.moved,
		      dev.migrate_to_ram_calls, dev.page_free_calls);

	expect_fill(cs.parent, cs.a, CONC_BLOCKS * SZ_2M, 0xb0);
	expect_fill(cs.child, cs.a, CONC_BLOCKS * SZ_2M, 0xb0);
	assert_int_equal(dev_live(&dev), 0);
	mt_exit(cs.child);
	mt_exit(cs.parent);
	dev_remove(&dev);
	mt_teardown();
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_range_fault),
		cmocka_unit_test(test_cpu_fault),
		cmocka_unit_test(test_fork),
		cmocka_unit_test(test_split_ops),
		cmocka_unit_test(test_small_destinations),
		cmocka_unit_test(test_pinned),
		cmocka_unit_test(test_holes),
		cmocka_unit_test(test_bad_destinations),
		cmocka_unit_test(test_alloc_failure),
		cmocka_unit_test(test_concurrency),
	};
	const struct CMUnitTest conc_tests[] = {
		cmocka_unit_test(test_concurrency),
	};
	int ret;

	hmmsim_thread_register();
	/* HMMSIM_TEST_FILTER: a CMocka name pattern, to run some tests only. */
	if (getenv("HMMSIM_TEST_FILTER"))
		cmocka_set_test_filter(getenv("HMMSIM_TEST_FILTER"));
	/* "concurrency": only the threaded test (the ThreadSanitizer suite). */
	if (argc > 1 && !strcmp(argv[1], "concurrency"))
		ret = cmocka_run_group_tests(conc_tests, NULL, NULL);
	else
		ret = cmocka_run_group_tests(tests, NULL, NULL);
	hmmsim_thread_unregister();
	return ret;
}
