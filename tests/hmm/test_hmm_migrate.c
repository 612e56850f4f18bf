// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * hmm_migrate: device memory, migrate_vma, device-exclusive entries and pins
 * (linux-hmm.md §4, §5.6-5.7; cpu-mm-spec §2.5, §4.4, §8, §9.9, §9.10),
 * driven by a fake device in the style of test_hmm's dmirror: a devmem pool
 * whose migrate_to_ram copies the page back, migrations to the device and
 * back with data checks, page_free counts, fork, munmap, exclusive access
 * and pins. The checkers run after every step.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <hmmsim/hmm.h>

#include "mm_test.h"

#define RW	(MM_PROT_READ | MM_PROT_WRITE)
#define ANON	(MM_MAP_PRIVATE | MM_MAP_ANONYMOUS)
#define DEVMEM	(64 * SZ_1M)

/* ------------------------------------------------------------------------ */
/* The fake device                                                          */
/* ------------------------------------------------------------------------ */

struct fake_dev {
	struct hmm_devmem *dm;
	int expect_free_ref;		/* refcount page_free must see: 0, or 1 at one */
	/* Counters, atomic: the driver runs in any thread. */
	int page_free_calls;
	int bad_free_refs;		/* page_free calls at another refcount */
	int migrate_to_ram_calls;
	int errors;			/* anything the driver found wrong */
	int fail_alloc;			/* migrate_to_ram: refuse this many allocations */
	bool lazy;			/* migrate_to_ram: return 0 and do nothing */
};

static struct fake_dev dev, cdev;	/* device-private, device-coherent */

#define ATOMIC_INC(x)	__atomic_fetch_add(&(x), 1, __ATOMIC_RELAXED)

static void fake_page_free(struct folio *folio)
{
	struct fake_dev *d = folio->owner;

	ATOMIC_INC(d->page_free_calls);
	if (folio_ref_count(folio) != d->expect_free_ref)
		ATOMIC_INC(d->bad_free_refs);
}

static struct folio *machine_folio(uint64_t mpfn)
{
	return phys_pfn_to_folio(mt_machine(), migrate_pfn_to_pfn(mpfn));
}

/* The driver's migrate_to_ram (dmirror_devmem_fault): one page back, its bytes copied. */
static int fake_migrate_to_ram(struct vm_fault *vmf)
{
	struct fake_dev *d = vmf->page->owner;
	uint64_t src = 0, dst = 0;
	struct migrate_vma args = {
		.vma = vmf->vma,
		.src = &src,
		.dst = &dst,
		.start = vmf->address,
		.end = vmf->address + SZ_4K,
		.pgmap_owner = d,
		.flags = MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
		.fault_page = vmf->page,
	};
	struct folio *spage, *dpage;

	ATOMIC_INC(d->migrate_to_ram_calls);
	if (d->lazy)
		return 0;
	if (migrate_vma_setup(&args)) {
		ATOMIC_INC(d->errors);
		return -EFAULT;
	}
	spage = machine_folio(src);
	if (spage && (src & MIGRATE_PFN_MIGRATE)) {
		if (__atomic_load_n(&d->fail_alloc, __ATOMIC_RELAXED) > 0) {
			__atomic_fetch_sub(&d->fail_alloc, 1, __ATOMIC_RELAXED);
			migrate_vma_finalize(&args);
			return -ENOMEM;
		}
		dpage = folio_alloc(mt_pool(), 0, 0);
		if (!dpage) {
			migrate_vma_finalize(&args);
			return -ENOMEM;
		}
		folio_lock(dpage);
		if (folio_copy_page(dpage, 0, spage, 0))
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

static void dev_add(struct fake_dev *d, enum hmm_devmem_type type, unsigned int flags)
{
	memset(d, 0, sizeof(*d));
	d->expect_free_ref = (flags & HMM_DEVMEM_FREE_AT_ONE) ? 1 : 0;
	assert_ret(hmm_devmem_add(mt.sys, type, DEVMEM, &fake_ops, d, flags, &d->dm), 0);
	assert_ptr_equal(hmm_devmem_owner(d->dm), d);
	assert_non_null(hmm_devmem_pool(d->dm));
}

static void dev_remove(struct fake_dev *d)
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

/* Device pages in use. */
static uint64_t dev_live(struct fake_dev *d)
{
	struct phys_pool_stats st;

	phys_pool_stats(hmm_devmem_pool(d->dm), &st);
	return st.live_frames;
}

/*
 * One migration of [start, start + len) of @mm, the driver's side of it:
 * to @d's memory (@select SYSTEM: copy sources, zero holes, as
 * dmirror_migrate_to_device) or back to RAM (device selections: copy, as
 * dmirror_migrate_to_system). No CMocka asserts: any thread may run it.
 * Returns the pages migrated (*@cpages: what setup collected), or a
 * negative errno.
 */
static int64_t migrate_raw(struct fake_dev *d, struct mm_struct *mm, uint64_t start,
			   uint64_t len, unsigned int select, uint64_t *cpages)
{
	uint64_t n = PAGES(len), i, moved = 0;
	uint64_t *src = calloc(n, sizeof(*src)), *dst = calloc(n, sizeof(*dst));
	struct migrate_vma args = {
		.src = src,
		.dst = dst,
		.start = start,
		.end = start + len,
		.pgmap_owner = d,
		.flags = select,
	};
	bool to_device = select & MIGRATE_VMA_SELECT_SYSTEM;
	struct folio *s, *f;
	int err;

	if (!src || !dst) {
		free(src);
		free(dst);
		return -ENOMEM;
	}
	mmap_read_lock(mm);
	args.vma = vma_lookup(mm, start);
	err = args.vma ? migrate_vma_setup(&args) : -EFAULT;
	if (err)
		goto out;
	if (args.npages != n)
		ATOMIC_INC(d->errors);
	if (cpages)
		*cpages = args.cpages;
	for (i = 0; i < n; i++) {
		if (dst[i])
			ATOMIC_INC(d->errors);
		if (!(src[i] & MIGRATE_PFN_MIGRATE))
			continue;
		s = machine_folio(src[i]);
		if (s && !folio_test_locked(s))
			ATOMIC_INC(d->errors);
		if (to_device) {
			f = hmm_devmem_alloc(d->dm, 0);
			if (f && (!folio_test_locked(f) ||
				  folio_ref_count(f) != 1 + d->expect_free_ref))
				ATOMIC_INC(d->errors);
		} else {
			if (!s)
				continue;	/* holes stay holes on the way back */
			if (!folio_is_zone_device(s))
				ATOMIC_INC(d->errors);
			f = folio_alloc(mt_pool(), 0, 0);
			if (f)
				folio_lock(f);
		}
		if (!f)
			continue;	/* out of memory: that page stays */
		if (s ? folio_copy_page(f, 0, s, 0) : folio_zero(f))
			ATOMIC_INC(d->errors);
		dst[i] = migrate_pfn(folio_pfn(f));
	}
	migrate_vma_pages(&args);
	for (i = 0; i < n; i++)
		moved += (src[i] & MIGRATE_PFN_MIGRATE) && dst[i];
	migrate_vma_finalize(&args);
out:
	mmap_read_unlock(mm);
	free(src);
	free(dst);
	return err ? err : (int64_t)moved;
}

/* MIGRATE_TO_DEV, from the test's thread: asserts, then the checkers. */
static uint64_t to_dev(struct fake_dev *d, struct mm_struct *mm, uint64_t start, uint64_t len,
		       uint64_t *cpages)
{
	int64_t n = migrate_raw(d, mm, start, len, MIGRATE_VMA_SELECT_SYSTEM, cpages);

	assert_true(n >= 0);
	assert_int_equal(d->errors, 0);
	assert_mm_ok();
	return n;
}

/* MIGRATE_TO_SYS with the device selection @select, from the test's thread. */
static uint64_t to_sys(struct fake_dev *d, struct mm_struct *mm, uint64_t start, uint64_t len,
		       unsigned int select)
{
	int64_t n = migrate_raw(d, mm, start, len, select, NULL);

	assert_true(n >= 0);
	assert_int_equal(d->errors, 0);
	assert_mm_ok();
	return n;
}

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
	assert_int_equal(folio_read(pg.folio, va & (SZ_4K - 1), &b, 1), 0);
	return b;
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

/* The number of recorded events of @event with @owner over exactly [start, end). */
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
 * 4 KiB pages, holes and the zero page to the device and back (§9.9, §9.10):
 * the notification, the device-private entries and their accounting (§2.3),
 * RSS, a CPU read migrating one page back through migrate_to_ram, page_free
 * at refcount 0.
 */
static void test_migrate_4k(void **state)
{
	struct mm_struct *mm;
	struct recorder rec;
	struct mm_stats st0, st1;
	struct mt_page pg;
	uint64_t a, cpages, live, i;
	struct folio *f;

	(void)state;
	mt_setup(NULL);
	dev_add(&dev, HMM_DEVMEM_PRIVATE, 0);
	mm = mt_proc(NULL);
	a = mt_anon(mm, 16 * SZ_4K);
	fill(mm, a, 12 * SZ_4K, 0x10);
	mt_touch(mm, a + 12 * SZ_4K);		/* the zero page; 13..15 stay holes */
	assert_codes(mm, a, 16 * SZ_4K, "12:pxw,1:z..,3:-..");
	st0 = mt_stats(mm);
	live = mt_live_frames();

	rec_attach(&rec, mm);
	assert_int_equal(to_dev(&dev, mm, a, 16 * SZ_4K, &cpages), 16);
	assert_int_equal(cpages, 16);
	/* One MIGRATE for collection, one from the first hole for the fills. */
	assert_int_equal(rec_count(&rec, MMU_NOTIFY_MIGRATE, &dev, a, a + 16 * SZ_4K), 1);
	assert_int_equal(rec_count(&rec, MMU_NOTIFY_MIGRATE, &dev, a + 12 * SZ_4K,
				   a + 16 * SZ_4K), 1);
	assert_int_equal(rec.n, 2);
	rec_detach(&rec, mm);

	assert_codes(mm, a, 16 * SZ_4K, "16:dxw");
	for (i = 0; i < 16; i++) {
		f = mt_folio(mm, a + i * SZ_4K, NULL);
		assert_true(folio_is_device_private(f));
		assert_ptr_equal(f->owner, &dev);
		assert_false(folio_test_locked(f));
		assert_folio(f, 1, 1, 0, 0, 1, 1);
		assert_int_equal(dev_byte(mm, a + i * SZ_4K), i < 12 ? 0x10 + (int)i : 0);
	}
	st1 = mt_stats(mm);
	assert_int_equal(st1.rss_anon, st0.rss_anon + 4);	/* holes and zero page filled */
	assert_int_equal(mt_live_frames(), live - 12);		/* the sources were freed */
	assert_int_equal(dev_live(&dev), 16);
	assert_int_equal(dev.page_free_calls, 0);

	/* A CPU read of page 3 brings that page (only) back. */
	mt_expect(mm, a + 3 * SZ_4K, 0x13, SZ_4K);
	assert_int_equal(dev.migrate_to_ram_calls, 1);
	assert_int_equal(dev.page_free_calls, 1);
	assert_codes(mm, a, 16 * SZ_4K, "3:dxw,1:pxw,12:dxw");
	assert_true(mt_lookup(mm, a + 3 * SZ_4K, &pg));
	assert_true(pg.write);
	assert_folio(pg.folio, 1, 1, 0, 0, 1, 1);

	/* A CPU write of page 5 too, and the write lands. */
	mt_memset(mm, a + 5 * SZ_4K, 0x55, SZ_4K);
	assert_int_equal(dev.migrate_to_ram_calls, 2);
	assert_int_equal(dev.page_free_calls, 2);

	/* The rest comes back by MIGRATE_TO_SYS. */
	assert_int_equal(to_sys(&dev, mm, a, 16 * SZ_4K, MIGRATE_VMA_SELECT_DEVICE_PRIVATE), 14);
	assert_int_equal(dev.page_free_calls, 16);
	assert_int_equal(dev_live(&dev), 0);
	assert_codes(mm, a, 16 * SZ_4K, "16:pxw");
	for (i = 0; i < 16; i++) {
		if (i == 5)
			mt_expect(mm, a + i * SZ_4K, 0x55, SZ_4K);
		else
			mt_expect(mm, a + i * SZ_4K, i < 12 ? 0x10 + (int)i : 0, SZ_4K);
	}
	assert_int_equal(mt_stats(mm).rss_anon, st0.rss_anon + 4);
	assert_int_equal(dev.migrate_to_ram_calls, 2);

	mt_exit(mm);
	dev_remove(&dev);
	mt_teardown();
}

/*
 * A PMD THP to the device: split PMD (CLEAR 2 MiB, nested in the MIGRATE),
 * split folio, 512 device pages; and a migration of half a THP splits the
 * whole folio but moves only half. Data survives the round trip.
 */
static void test_migrate_thp(void **state)
{
	struct mm_struct *mm;
	struct recorder rec;
	struct mt_page pg;
	uint64_t a, cpages;

	(void)state;
	mt_setup(NULL);
	dev_add(&dev, HMM_DEVMEM_PRIVATE, 0);
	mm = mt_proc(NULL);
	a = mt_anon_thp(mm, SZ_4M);
	fill(mm, a, SZ_4M, 0x20);
	assert_codes(mm, a, SZ_4M, "1024:Hxw");

	rec_attach(&rec, mm);
	assert_int_equal(to_dev(&dev, mm, a, SZ_2M, &cpages), 512);
	assert_int_equal(cpages, 512);
	assert_int_equal(rec_count(&rec, MMU_NOTIFY_MIGRATE, &dev, a, a + SZ_2M), 1);
	assert_int_equal(rec_count(&rec, MMU_NOTIFY_CLEAR, NULL, a, a + SZ_2M), 1);
	assert_int_equal(rec.n, 2);
	rec_detach(&rec, mm);
	assert_codes(mm, a, SZ_4M, "512:dxw,512:Hxw");
	assert_int_equal(dev_live(&dev), 512);
	assert_int_equal(dev_byte(mm, a + 7 * SZ_4K), 0x27);

	/* Half of the second THP: the folio is split whole, half of it moves. */
	assert_int_equal(to_dev(&dev, mm, a + SZ_2M, SZ_1M, &cpages), 256);
	assert_codes(mm, a, SZ_4M, "768:dxw,256:pxw");
	assert_true(mt_lookup(mm, a + SZ_2M + SZ_1M, &pg));
	assert_int_equal(folio_order(pg.folio), 0);
	assert_folio(pg.folio, 1, 1, 0, 0, 1, 1);

	/* Back, by CPU faults for two pages and MIGRATE_TO_SYS for the rest. */
	mt_expect(mm, a + 100 * SZ_4K, (0x20 + 100) & 0xff, SZ_4K);
	mt_expect(mm, a + SZ_2M + 5 * SZ_4K, (0x20 + 512 + 5) & 0xff, SZ_4K);
	assert_int_equal(dev.migrate_to_ram_calls, 2);
	assert_int_equal(to_sys(&dev, mm, a, SZ_4M, MIGRATE_VMA_SELECT_DEVICE_PRIVATE), 766);
	assert_int_equal(dev.page_free_calls, 768);
	assert_codes(mm, a, SZ_4M, "1024:pxw");
	expect_fill(mm, a, SZ_4M, 0x20);

	/* The huge zero PMD is split into zero pages, which become fills. */
	a = mt_anon_thp(mm, SZ_2M);
	mt_touch(mm, a);
	assert_codes(mm, a, SZ_2M, "512:z..");
	assert_int_equal(to_dev(&dev, mm, a, SZ_2M, &cpages), 512);
	assert_codes(mm, a, SZ_2M, "512:dxw");
	mt_expect(mm, a + SZ_1M, 0, SZ_4K);

	mt_exit(mm);
	assert_int_equal(dev.page_free_calls, 768 + 512);
	dev_remove(&dev);
	mt_teardown();
}

/*
 * Before 5.18 a device page was free at refcount 1: allocated at 2, mapped
 * at 2 (1 + the bias), page_free on the 2 -> 1 transition (§4.5).
 */
static void test_free_at_one(void **state)
{
	struct mm_struct *mm;
	struct folio *f;
	uint64_t a;

	(void)state;
	mt_setup(NULL);
	dev_add(&dev, HMM_DEVMEM_PRIVATE, HMM_DEVMEM_FREE_AT_ONE);
	mm = mt_proc(mt_profile("5.8"));
	a = mt_anon(mm, 4 * SZ_4K);
	fill(mm, a, 4 * SZ_4K, 0x30);
	assert_int_equal(to_dev(&dev, mm, a, 4 * SZ_4K, NULL), 4);
	f = mt_folio(mm, a, NULL);
	assert_int_equal(folio_ref_bias(f), 1);
	assert_folio(f, 2, 1, 0, 0, 1, 1);

	mt_expect(mm, a + SZ_4K, 0x31, SZ_4K);		/* migrate_to_ram */
	assert_int_equal(dev.page_free_calls, 1);
	assert_int_equal(to_sys(&dev, mm, a, 4 * SZ_4K, MIGRATE_VMA_SELECT_DEVICE_PRIVATE), 3);
	assert_int_equal(dev.page_free_calls, 4);
	expect_fill(mm, a, 4 * SZ_4K, 0x30);

	/* munmap frees them too, at one. */
	assert_int_equal(to_dev(&dev, mm, a, 4 * SZ_4K, NULL), 4);
	assert_ret(mm_munmap(mm, a, 4 * SZ_4K), 0);
	assert_mm_ok();
	assert_int_equal(dev.page_free_calls, 8);
	mt_exit(mm);
	dev_remove(&dev);
	mt_teardown();
}

/*
 * fork shares device-private entries read-only (refcount and mapcount +1);
 * a CPU read in the child migrates the page out of both processes (the
 * parent's mapping too, as try_to_migrate would), a later write in one of
 * them COWs as usual.
 */
static void test_fork(void **state)
{
	struct mm_struct *parent, *child;
	struct recorder rec;
	struct mt_page pg, pc;
	struct folio *f;
	uint64_t a;

	(void)state;
	mt_setup(NULL);
	dev_add(&dev, HMM_DEVMEM_PRIVATE, 0);
	parent = mt_proc(NULL);
	a = mt_anon(parent, 4 * SZ_4K);
	fill(parent, a, 4 * SZ_4K, 0x40);
	assert_int_equal(to_dev(&dev, parent, a, 4 * SZ_4K, NULL), 4);
	child = mt_fork(parent);
	assert_codes(parent, a, 4 * SZ_4K, "4:d..");
	assert_codes(child, a, 4 * SZ_4K, "4:d..");
	f = mt_folio(parent, a, NULL);
	assert_folio(f, 2, 2, 0, 0, 2, 0);

	/* The child reads page 0: both processes get the same RAM page, read-only. */
	rec_attach(&rec, parent);
	mt_expect(child, a, 0x40, SZ_4K);
	assert_int_equal(rec_count(&rec, MMU_NOTIFY_CLEAR, NULL, a, a + SZ_4K), 1);
	rec_detach(&rec, parent);
	assert_int_equal(dev.page_free_calls, 1);
	assert_true(mt_lookup(parent, a, &pg));
	assert_true(mt_lookup(child, a, &pc));
	assert_int_equal(pg.kind, MM_PTE_PRESENT);
	assert_int_equal(pc.kind, MM_PTE_PRESENT);
	assert_int_equal(pg.pfn, pc.pfn);
	assert_false(pg.write);
	assert_folio(pg.folio, 2, 2, 0, 0, 2, 0);
	assert_codes(parent, a, 4 * SZ_4K, "1:p..,3:d..");

	/* The parent writes it: COW, the child keeps the old bytes. */
	mt_memset(parent, a, 0x99, SZ_4K);
	mt_expect(child, a, 0x40, SZ_4K);
	mt_expect(parent, a, 0x99, SZ_4K);

	/* The parent reads page 1: the same from the other side. */
	mt_expect(parent, a + SZ_4K, 0x41, SZ_4K);
	assert_int_equal(dev.page_free_calls, 2);
	assert_codes(child, a, 4 * SZ_4K, "1:px.,1:p..,2:d..");

	/* The child exits: pages 2 and 3 are the parent's alone again, still read-only. */
	mt_exit(child);
	f = mt_folio(parent, a + 2 * SZ_4K, NULL);
	assert_folio(f, 1, 1, 0, 0, 1, 0);
	assert_int_equal(dev.page_free_calls, 2);
	mt_expect(parent, a + 2 * SZ_4K, 0x42, SZ_4K);
	assert_int_equal(dev.page_free_calls, 3);
	/* A write to the read-only page: reused (it is the only mapping). */
	mt_memset(parent, a + 2 * SZ_4K, 0x77, SZ_4K);
	assert_codes(parent, a + 2 * SZ_4K, SZ_4K, "1:pxw");

	/* fork again, then the child exits without touching: nothing freed. */
	child = mt_fork(parent);
	assert_folio(mt_folio(parent, a + 3 * SZ_4K, NULL), 2, 2, 0, 0, 2, 0);
	mt_exit(child);
	assert_int_equal(dev.page_free_calls, 3);
	mt_exit(parent);
	assert_int_equal(dev.page_free_calls, 4);
	dev_remove(&dev);
	mt_teardown();
}

/* munmap, MADV_DONTNEED and exit drop device pages: page_free for each. */
static void test_unmap_frees(void **state)
{
	struct mm_struct *mm;
	uint64_t a;

	(void)state;
	mt_setup(NULL);
	dev_add(&dev, HMM_DEVMEM_PRIVATE, 0);
	mm = mt_proc(NULL);
	a = mt_anon(mm, 16 * SZ_4K);
	fill(mm, a, 16 * SZ_4K, 0x50);
	assert_int_equal(to_dev(&dev, mm, a, 16 * SZ_4K, NULL), 16);
	assert_ret(hmm_devmem_remove(dev.dm), -EBUSY);

	assert_ret(mm_munmap(mm, a, 4 * SZ_4K), 0);
	assert_mm_ok();
	assert_int_equal(dev.page_free_calls, 4);
	assert_ret(mm_madvise(mm, a + 4 * SZ_4K, 4 * SZ_4K, MM_MADV_DONTNEED), 0);
	assert_mm_ok();
	assert_int_equal(dev.page_free_calls, 8);
	assert_codes(mm, a + 4 * SZ_4K, 12 * SZ_4K, "4:-..,8:dxw");
	mt_exit(mm);
	assert_int_equal(dev.page_free_calls, 16);
	assert_int_equal(dev.migrate_to_ram_calls, 0);
	dev_remove(&dev);
	mt_teardown();
}

/*
 * make_device_exclusive: EXCLUSIVE(owner), the entry keeps the reference
 * and (6.15+) the mapcount; the folio comes back locked with a reference; a
 * CPU access restores the PTE (EXCLUSIVE, owner NULL). A THP is split
 * first; a hole is faulted writable first.
 */
static void test_exclusive(void **state)
{
	struct mm_struct *mm, *old;
	struct recorder rec;
	struct folio *f, *f2;
	uint64_t a, h, t, ro;

	(void)state;
	mt_setup(NULL);
	mm = mt_proc(NULL);
	a = mt_anon(mm, 4 * SZ_4K);
	fill(mm, a, 4 * SZ_4K, 0x60);

	rec_attach(&rec, mm);
	assert_ret(make_device_exclusive(mm, a + SZ_4K, &dev, &f), 0);
	assert_int_equal(rec_count(&rec, MMU_NOTIFY_EXCLUSIVE, &dev, a + SZ_4K, a + 2 * SZ_4K), 1);
	assert_true(folio_test_locked(f));
	assert_folio(f, 2, 1, 0, 0, 1, 1);
	assert_codes(mm, a, 4 * SZ_4K, "1:pxw,1:exw,2:pxw");
	folio_unlock(f);
	folio_put(f);
	assert_mm_ok();

	/* The CPU touches it: back to a present PTE, the device hears of it. */
	rec.n = 0;
	mt_expect(mm, a + SZ_4K, 0x61, SZ_4K);
	assert_int_equal(rec_count(&rec, MMU_NOTIFY_EXCLUSIVE, NULL, a + SZ_4K, a + 2 * SZ_4K), 1);
	assert_codes(mm, a, 4 * SZ_4K, "4:pxw");
	rec_detach(&rec, mm);

	/* A hole is faulted writable first. */
	h = mt_anon(mm, SZ_4K);
	assert_ret(make_device_exclusive(mm, h + 100, NULL, &f), 0);
	assert_codes(mm, h, SZ_4K, "1:exw");
	folio_unlock(f);
	folio_put(f);
	assert_mm_ok();
	mt_memset(mm, h, 0x11, SZ_4K);
	assert_codes(mm, h, SZ_4K, "1:pxw");

	/* A PMD THP is split first; the folio stays large. */
	t = mt_anon_thp(mm, SZ_2M);
	mt_memset(mm, t, 0x62, SZ_2M);
	assert_ret(make_device_exclusive(mm, t + 10 * SZ_4K, NULL, &f), 0);
	assert_int_equal(folio_order(f), 9);
	folio_unlock(f);
	folio_put(f);
	assert_mm_ok();
	assert_codes(mm, t, SZ_2M, "10:Txw,1:exw,501:Txw");
	mt_expect(mm, t + 10 * SZ_4K, 0x62, SZ_4K);

	/* Errors. */
	ro = mt_mmap(mm, SZ_4K, MM_PROT_READ, ANON, 0, 0);
	assert_ret(make_device_exclusive(mm, ro, NULL, &f), -EPERM);
	assert_ret(make_device_exclusive(mm, 0x10000, NULL, &f), -EFAULT);
	assert_ret(make_device_exclusive(NULL, a, NULL, &f), -EINVAL);
	assert_ret(make_device_exclusive(mm, a, NULL, NULL), -EINVAL);
	/* A folio already locked (exclusive and not released): -EBUSY. */
	assert_ret(make_device_exclusive(mm, a, NULL, &f), 0);
	assert_ret(make_device_exclusive(mm, a, NULL, &f2), -EBUSY);
	folio_unlock(f);
	folio_put(f);
	assert_mm_ok();

	/* A device-private page is migrated back first (GUP cannot take it). */
	dev_add(&dev, HMM_DEVMEM_PRIVATE, 0);
	assert_int_equal(to_dev(&dev, mm, a, 2 * SZ_4K, NULL), 2);
	assert_ret(make_device_exclusive(mm, a + SZ_4K, &dev, &f), 0);
	assert_int_equal(dev.migrate_to_ram_calls, 1);
	assert_false(folio_is_zone_device(f));
	folio_unlock(f);
	folio_put(f);
	assert_codes(mm, a, 2 * SZ_4K, "1:dxw,1:exw");
	assert_int_equal(to_sys(&dev, mm, a, 2 * SZ_4K, MIGRATE_VMA_SELECT_DEVICE_PRIVATE), 1);
	assert_codes(mm, a, 2 * SZ_4K, "1:pxw,1:exw");
	expect_fill(mm, a, 2 * SZ_4K, 0x60);

	/* Before 6.15 the exclusive entry did not count in the mapcount. */
	old = mt_proc(mt_profile("6.12"));
	a = mt_anon(old, SZ_4K);
	mt_memset(old, a, 0x63, SZ_4K);
	assert_ret(make_device_exclusive(old, a, NULL, &f), 0);
	assert_folio(f, 2, 0, 0, 0, 0, 1);
	folio_unlock(f);
	folio_put(f);
	assert_mm_ok();
	mt_expect(old, a, 0x63, SZ_4K);
	assert_folio(mt_folio(old, a, NULL), 1, 1, 0, 0, 1, 1);
	/* And munmap of one frees it. */
	assert_ret(make_device_exclusive(old, a, NULL, &f), 0);
	folio_unlock(f);
	folio_put(f);
	assert_ret(mm_munmap(old, a, SZ_4K), 0);
	assert_mm_ok();
	mt_exit(old);
	mt_exit(mm);
	dev_remove(&dev);
	mt_teardown();
}

/*
 * Pins: a write pin faults writable; a read pin of a page shared after
 * fork unshares it (copy, read-only, exclusive) so the pin stays coherent;
 * a pin of a device-private page migrates it back first; a long-term pin of
 * a device-coherent page moves it to RAM; a pinned page is not migrated.
 */
static void test_pins(void **state)
{
	struct mm_struct *mm, *child;
	struct folio *pins[4], *f;
	struct mt_page pg, pc;
	uint64_t a, h, ro, cpages;
	uint8_t b;

	(void)state;
	mt_setup(NULL);
	dev_add(&dev, HMM_DEVMEM_PRIVATE, 0);
	mm = mt_proc(NULL);
	a = mt_anon(mm, 4 * SZ_4K);

	/* A write pin of holes. */
	assert_int_equal(pin_user_pages(mm, a, 2, FOLL_WRITE, pins), 2);
	assert_codes(mm, a, 2 * SZ_4K, "2:pxw");
	assert_int_equal(folio_pin_count(pins[0]), 1);
	assert_true(folio_maybe_dma_pinned(pins[0]));
	assert_mm_ok();
	/* A pinned (exclusive) page is not migrated. */
	assert_int_equal(to_dev(&dev, mm, a, 2 * SZ_4K, &cpages), 0);
	assert_int_equal(cpages, 0);
	assert_codes(mm, a, 2 * SZ_4K, "2:pxw");
	unpin_user_pages(pins, 2);
	assert_mm_ok();

	/* A read pin after fork unshares: the parent's PTE maps a copy, read-only. */
	fill(mm, a, 4 * SZ_4K, 0x70);
	child = mt_fork(mm);
	assert_int_equal(pin_user_pages(mm, a, 1, 0, pins), 1);
	assert_true(mt_lookup(mm, a, &pg));
	assert_true(mt_lookup(child, a, &pc));
	assert_int_not_equal(pg.pfn, pc.pfn);
	assert_false(pg.write);
	assert_ptr_equal(pg.folio, pins[0]);
	assert_true(folio_page_anon_exclusive(pins[0], 0));
	assert_mm_ok();
	/* The parent's write reuses the pinned page: the pin sees it. */
	mt_memset(mm, a, 0x7f, SZ_4K);
	assert_true(mt_lookup(mm, a, &pg));
	assert_ptr_equal(pg.folio, pins[0]);
	assert_int_equal(folio_read(pins[0], 0, &b, 1), 0);
	assert_int_equal(b, 0x7f);
	mt_expect(child, a, 0x70, SZ_4K);
	unpin_user_pages(pins, 1);
	mt_exit(child);
	assert_mm_ok();

	/* The same on a THP: the PMD is split, the one page copied. */
	h = mt_anon_thp(mm, SZ_2M);
	mt_memset(mm, h, 0x44, SZ_2M);
	child = mt_fork(mm);
	assert_int_equal(pin_user_pages(mm, h + 5 * SZ_4K, 1, 0, pins), 1);
	assert_codes(mm, h, SZ_2M, "5:T..,1:px.,506:T..");
	assert_codes(child, h, SZ_2M, "5:H..,1:Hx.,506:H..");
	assert_int_equal(folio_order(pins[0]), 0);
	assert_int_equal(folio_read(pins[0], 0, &b, 1), 0);
	assert_int_equal(b, 0x44);
	assert_mm_ok();
	unpin_user_pages(pins, 1);
	mt_exit(child);
	assert_ret(mm_munmap(mm, h, SZ_2M), 0);
	mt_memset(mm, a, 0x7f, SZ_4K);		/* writable again after that fork */
	assert_mm_ok();

	/* A pin of a device-private page migrates it back first. */
	fill(mm, a + SZ_4K, 3 * SZ_4K, 0x71);
	assert_int_equal(to_dev(&dev, mm, a + SZ_4K, 3 * SZ_4K, NULL), 3);
	assert_int_equal(pin_user_pages(mm, a + SZ_4K, 2, 0, pins), 2);
	assert_int_equal(dev.migrate_to_ram_calls, 2);
	assert_int_equal(dev.page_free_calls, 2);
	assert_false(folio_is_zone_device(pins[0]));
	assert_int_equal(folio_read(pins[1], 0, &b, 1), 0);
	assert_int_equal(b, 0x72);
	assert_codes(mm, a + SZ_4K, 3 * SZ_4K, "2:pxw,1:dxw");
	assert_mm_ok();
	unpin_user_pages(pins, 2);
	assert_mm_ok();

	/* A long-term pin of a device-coherent page moves it to RAM. */
	dev_add(&cdev, HMM_DEVMEM_COHERENT, 0);
	assert_int_equal(to_dev(&cdev, mm, a, SZ_4K, NULL), 1);
	f = mt_folio(mm, a, NULL);
	assert_true(folio_is_device_coherent(f));
	assert_codes(mm, a, SZ_4K, "1:pxw");
	mt_expect(mm, a, 0x7f, SZ_4K);		/* CPU-addressable: no migration */
	assert_int_equal(cdev.migrate_to_ram_calls, 0);
	assert_int_equal(pin_user_pages(mm, a, 1, 0, pins), 1);
	assert_true(folio_is_device_coherent(pins[0]));	/* a short-term pin keeps it */
	unpin_user_pages(pins, 1);
	assert_int_equal(pin_user_pages(mm, a, 1, FOLL_LONGTERM, pins), 1);
	assert_false(folio_is_zone_device(pins[0]));
	assert_int_equal(cdev.page_free_calls, 1);
	mt_expect(mm, a, 0x7f, SZ_4K);
	unpin_user_pages(pins, 1);
	assert_mm_ok();
	/* Coherent pages come back with SELECT_DEVICE_COHERENT. */
	assert_int_equal(to_dev(&cdev, mm, a, SZ_4K, NULL), 1);
	assert_int_equal(to_sys(&cdev, mm, a, SZ_4K, MIGRATE_VMA_SELECT_DEVICE_PRIVATE), 0);
	assert_int_equal(to_sys(&cdev, mm, a, SZ_4K, MIGRATE_VMA_SELECT_DEVICE_COHERENT), 1);
	assert_int_equal(cdev.page_free_calls, 2);
	mt_expect(mm, a, 0x7f, SZ_4K);

	/* Errors. */
	ro = mt_mmap(mm, SZ_4K, MM_PROT_READ, ANON, 0, 0);
	assert_int_equal(pin_user_pages(mm, ro, 1, FOLL_WRITE, pins), -EPERM);
	assert_int_equal(pin_user_pages(mm, 0x10000, 1, 0, pins), -EFAULT);
	assert_int_equal(pin_user_pages(mm, a, 1, 1u << 7, pins), -EINVAL);
	assert_int_equal(pin_user_pages(mm, a + 1, 1, 0, pins), -EINVAL);
	assert_int_equal(pin_user_pages(NULL, a, 1, 0, pins), -EINVAL);
	assert_int_equal(pin_user_pages(mm, a, 0, 0, pins), 0);
	/* A range running into a hole: the pages before it are the result. */
	h = mt_anon(mm, 3 * SZ_4K);
	assert_ret(mm_munmap(mm, h + SZ_4K, SZ_4K), 0);
	assert_int_equal(pin_user_pages(mm, h, 3, FOLL_WRITE, pins), 1);
	unpin_user_pages(pins, 1);
	/* Read pin of the zero page: not counted. */
	assert_int_equal(pin_user_pages(mm, ro, 1, 0, pins), 1);
	assert_true(is_zero_folio(pins[0]));
	unpin_user_pages(pins, 1);
	assert_mm_ok();

	mt_exit(mm);
	dev_remove(&dev);
	dev_remove(&cdev);
	mt_teardown();
}

/* The failure paths: bad arguments, a driver that does not migrate, shared mappings. */
static void test_bad_input(void **state)
{
	struct mm_system_config cfg = { .hugetlb_2m = 2 };
	struct mm_struct *mm;
	struct migrate_vma args;
	struct hmm_devmem *dm;
	uint64_t src[8], dst[8], a, h, s, cpages;
	struct folio *f;
	char *before;

	(void)state;
	mt_setup(&cfg);
	dev_add(&dev, HMM_DEVMEM_PRIVATE, 0);
	mm = mt_proc(NULL);
	a = mt_anon(mm, 8 * SZ_4K);
	fill(mm, a, 8 * SZ_4K, 0x80);
	h = mt_hugetlb(mm, SZ_2M, 21);

	/* hmm_devmem_add. */
	assert_ret(hmm_devmem_add(NULL, HMM_DEVMEM_PRIVATE, SZ_2M, &fake_ops, &dev, 0, &dm),
		   -EINVAL);
	assert_ret(hmm_devmem_add(mt.sys, HMM_DEVMEM_PRIVATE, 0, &fake_ops, &dev, 0, &dm), -EINVAL);
	assert_ret(hmm_devmem_add(mt.sys, HMM_DEVMEM_PRIVATE, 100, &fake_ops, &dev, 0, &dm),
		   -EINVAL);
	assert_ret(hmm_devmem_add(mt.sys, 7, SZ_2M, &fake_ops, &dev, 0, &dm), -EINVAL);
	assert_ret(hmm_devmem_add(mt.sys, HMM_DEVMEM_PRIVATE, SZ_2M, NULL, &dev, 0, &dm), -EINVAL);
	assert_ret(hmm_devmem_add(mt.sys, HMM_DEVMEM_PRIVATE, SZ_2M, &fake_ops, &dev, 1u << 5,
				  &dm), -EINVAL);
	assert_ret(hmm_devmem_remove(NULL), -EINVAL);

	/* migrate_vma_setup. */
	mmap_read_lock(mm);
	memset(&args, 0, sizeof(args));
	args.vma = vma_lookup(mm, a);
	args.src = src;
	args.dst = dst;
	args.start = a;
	args.end = a + 8 * SZ_4K;
	args.pgmap_owner = &dev;
	args.flags = MIGRATE_VMA_SELECT_SYSTEM;
#define BAD(field, value) do {						\
		struct migrate_vma b = args;				\
		b.field = value;					\
		assert_ret(migrate_vma_setup(&b), -EINVAL);		\
	} while (0)
	assert_ret(migrate_vma_setup(NULL), -EINVAL);
	BAD(vma, NULL);
	BAD(src, NULL);
	BAD(dst, NULL);
	BAD(start, a + 1);
	BAD(end, a + 8 * SZ_4K - 1);
	BAD(end, a);
	BAD(end, a - SZ_4K);
	BAD(end, a + 9 * SZ_4K);	/* past the VMA */
	BAD(start, a - SZ_4K);
	BAD(flags, 0);
	BAD(flags, MIGRATE_VMA_SELECT_COMPOUND);
	BAD(flags, MIGRATE_VMA_SELECT_SYSTEM | (1u << 9));
	f = mt_folio(mm, a, NULL);
	BAD(fault_page, f);		/* not device-private */
	{
		struct migrate_vma b = args;

		b.vma = vma_lookup(mm, h);
		b.start = h;
		b.end = h + 8 * SZ_4K;
		assert_ret(migrate_vma_setup(&b), -EINVAL);	/* hugetlb */
	}
#undef BAD
	mmap_read_unlock(mm);
	assert_mm_ok();
	assert_codes(mm, a, 8 * SZ_4K, "8:pxw");

	/* A shared mapping migrates nothing. */
	s = mt_mmap(mm, 4 * SZ_4K, RW, MM_MAP_SHARED | MM_MAP_ANONYMOUS, 0, 0);
	mt_memset(mm, s, 0x33, 2 * SZ_4K);
	before = strdup(mt_dump(mm, s, 4 * SZ_4K));
	assert_non_null(before);
	assert_int_equal(to_dev(&dev, mm, s, 4 * SZ_4K, &cpages), 0);
	assert_int_equal(cpages, 0);
	assert_string_equal(mt_dump(mm, s, 4 * SZ_4K), before);
	free(before);
	mt_expect(mm, s, 0x33, 2 * SZ_4K);

	/* A driver that allocates nothing: the setup is undone by finalize. */
	mmap_read_lock(mm);
	assert_ret(migrate_vma_setup(&args), 0);
	assert_int_equal(args.cpages, 8);
	migrate_vma_pages(&args);
	for (int i = 0; i < 8; i++)
		assert_int_equal(src[i] & MIGRATE_PFN_MIGRATE, 0);
	migrate_vma_finalize(&args);
	mmap_read_unlock(mm);
	assert_mm_ok();
	assert_codes(mm, a, 8 * SZ_4K, "8:pxw");
	expect_fill(mm, a, 8 * SZ_4K, 0x80);

	/* migrate_to_ram failing: the CPU access fails (SIGBUS), nothing changes. */
	assert_int_equal(to_dev(&dev, mm, a, SZ_4K, NULL), 1);
	dev.fail_alloc = 1;
	assert_ret(mm_read(mm, a, &cpages, 1), -ENOMEM);
	assert_mm_ok();
	assert_codes(mm, a, SZ_4K, "1:dxw");
	mt_expect(mm, a, 0x80, SZ_4K);
	assert_int_equal(dev.page_free_calls, 1);

	/*
	 * A driver that says it migrated and did not: the fault is retried,
	 * then given up on (SIGBUS) instead of spinning forever.
	 */
	assert_int_equal(to_dev(&dev, mm, a, SZ_4K, NULL), 1);
	dev.lazy = true;
	assert_ret(mm_read(mm, a, &cpages, 1), -EFAULT);
	assert_true(dev.migrate_to_ram_calls > 1000);
	dev.lazy = false;
	assert_mm_ok();
	assert_codes(mm, a, SZ_4K, "1:dxw");

	/* A device still in use cannot go. */
	assert_ret(hmm_devmem_remove(dev.dm), -EBUSY);
	mt_exit(mm);
	dev_remove(&dev);
	mt_teardown();
}

/* ------------------------------------------------------------------------ */
/* Concurrency                                                              */
/* ------------------------------------------------------------------------ */

/*
 * Threads on one process and its fork child at once: two migrate ranges
 * of the parent to the device and back, one reads the parent's shared
 * pages (each CPU read of a device page migrates it back), one reads the
 * child's (the same pages, through the other process), one writes pages of
 * its own in the parent (COW, then device round trips), one pins and makes
 * pages exclusive. Every byte read is checked; the checkers run at the end.
 */
#define CONC_SHARED	64		/* pages shared with the child, never written */
#define CONC_OWN	32		/* pages the writer owns */
#define CONC_ITERS	3000

struct conc {
	struct mm_struct *parent, *child;
	uint64_t a;			/* CONC_SHARED pages, then CONC_OWN */
	uint8_t own[CONC_OWN];		/* the writer's current bytes */
	int errors;
	int done;			/* migrators finished */
	int moved;			/* pages the migrators moved */
};

static struct conc cs;

static uint32_t conc_rand(uint64_t *state)
{
	*state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
	return (uint32_t)(*state >> 33);
}

static uint8_t shared_byte(uint64_t page)
{
	return (uint8_t)(0xa0 + page);
}

static bool page_is(struct mm_struct *mm, uint64_t va, uint8_t b)
{
	static __thread uint8_t buf[SZ_4K];
	uint64_t i;

	if (mm_read(mm, va, buf, SZ_4K))
		return false;
	for (i = 0; i < SZ_4K; i++)
		if (buf[i] != b)
			return false;
	return true;
}

static void *conc_migrator(void *arg)
{
	uint64_t seed = (uintptr_t)arg, p, k;
	unsigned int it;
	int64_t n;

	hmmsim_thread_register();
	for (it = 0; it < CONC_ITERS; it++) {
		p = conc_rand(&seed) % (CONC_SHARED + CONC_OWN);
		k = 1 + conc_rand(&seed) % 16;
		if (p + k > CONC_SHARED + CONC_OWN)
			k = CONC_SHARED + CONC_OWN - p;
		n = migrate_raw(&dev, cs.parent, cs.a + p * SZ_4K, k * SZ_4K,
				(it % 3) ? MIGRATE_VMA_SELECT_SYSTEM :
					   MIGRATE_VMA_SELECT_DEVICE_PRIVATE, NULL);
		if (n < 0)
			ATOMIC_INC(cs.errors);
		else
			__atomic_fetch_add(&cs.moved, (int)n, __ATOMIC_RELAXED);
	}
	__atomic_fetch_add(&cs.done, 1, __ATOMIC_RELEASE);
	hmmsim_thread_unregister();
	return NULL;
}

static bool migrators_done(void)
{
	return __atomic_load_n(&cs.done, __ATOMIC_ACQUIRE) == 2;
}

static void *conc_reader(void *arg)
{
	struct mm_struct *mm = arg;
	uint64_t seed = (uintptr_t)mm, p;

	hmmsim_thread_register();
	while (!migrators_done()) {
		p = conc_rand(&seed) % CONC_SHARED;
		if (!page_is(mm, cs.a + p * SZ_4K, shared_byte(p)))
			ATOMIC_INC(cs.errors);
	}
	hmmsim_thread_unregister();
	return NULL;
}

static void *conc_writer(void *arg)
{
	uint64_t seed = 7, p, va;

	hmmsim_thread_register();
	while (!migrators_done()) {
		p = conc_rand(&seed) % CONC_OWN;
		va = cs.a + (CONC_SHARED + p) * SZ_4K;
		if (!page_is(cs.parent, va, cs.own[p]))
			ATOMIC_INC(cs.errors);
		cs.own[p]++;
		if (mm_memset(cs.parent, va, cs.own[p], SZ_4K))
			ATOMIC_INC(cs.errors);
	}
	hmmsim_thread_unregister();
	return NULL;
}

static void *conc_pinner(void *arg)
{
	uint64_t seed = 11, p;
	struct folio *f;
	uint8_t b;

	hmmsim_thread_register();
	while (!migrators_done()) {
		p = conc_rand(&seed) % CONC_SHARED;
		if (pin_user_pages(cs.parent, cs.a + p * SZ_4K, 1, 0, &f) != 1) {
			ATOMIC_INC(cs.errors);
			continue;
		}
		if (folio_read(f, 0, &b, 1) || b != shared_byte(p))
			ATOMIC_INC(cs.errors);
		unpin_user_pages(&f, 1);
		/* Device atomics on a shared page: the parent gets its own copy. */
		mmap_read_lock(cs.parent);
		if (!make_device_exclusive(cs.parent, cs.a + p * SZ_4K, &dev, &f)) {
			if (folio_read(f, 0, &b, 1) || b != shared_byte(p))
				ATOMIC_INC(cs.errors);
			folio_unlock(f);
			folio_put(f);
		}
		mmap_read_unlock(cs.parent);
	}
	hmmsim_thread_unregister();
	return NULL;
}

static void test_concurrency(void **state)
{
	pthread_t th[6];
	uint64_t p;
	int i;

	(void)state;
	mt_setup(NULL);
	dev_add(&dev, HMM_DEVMEM_PRIVATE, 0);
	memset(&cs, 0, sizeof(cs));
	cs.parent = mt_proc(NULL);
	cs.a = mt_anon(cs.parent, (CONC_SHARED + CONC_OWN) * SZ_4K);
	for (p = 0; p < CONC_SHARED; p++)
		mt_memset(cs.parent, cs.a + p * SZ_4K, shared_byte(p), SZ_4K);
	for (p = 0; p < CONC_OWN; p++)
		cs.own[p] = (uint8_t)p;
	fill(cs.parent, cs.a + CONC_SHARED * SZ_4K, CONC_OWN * SZ_4K, 0);
	/* Half the shared pages go to the device before the fork. */
	assert_int_equal(to_dev(&dev, cs.parent, cs.a, CONC_SHARED / 2 * SZ_4K, NULL),
			 CONC_SHARED / 2);
	cs.child = mt_fork(cs.parent);

	assert_int_equal(pthread_create(&th[0], NULL, conc_migrator, (void *)1), 0);
	assert_int_equal(pthread_create(&th[1], NULL, conc_migrator, (void *)2), 0);
	assert_int_equal(pthread_create(&th[2], NULL, conc_reader, cs.parent), 0);
	assert_int_equal(pthread_create(&th[3], NULL, conc_reader, cs.child), 0);
	assert_int_equal(pthread_create(&th[4], NULL, conc_writer, NULL), 0);
	assert_int_equal(pthread_create(&th[5], NULL, conc_pinner, NULL), 0);
	for (i = 0; i < 6; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	assert_int_equal(cs.errors, 0);
	assert_int_equal(dev.errors, 0);
	assert_mm_ok();
	print_message("device pages freed %d, migrate_to_ram %d, moved %d\n", dev.page_free_calls,
		      dev.migrate_to_ram_calls, cs.moved);

	/* Everything back, every byte where it belongs. */
	to_sys(&dev, cs.parent, cs.a, (CONC_SHARED + CONC_OWN) * SZ_4K,
	       MIGRATE_VMA_SELECT_DEVICE_PRIVATE);
	to_sys(&dev, cs.child, cs.a, (CONC_SHARED + CONC_OWN) * SZ_4K,
	       MIGRATE_VMA_SELECT_DEVICE_PRIVATE);
	assert_int_equal(dev_live(&dev), 0);
	for (p = 0; p < CONC_SHARED; p++) {
		mt_expect(cs.parent, cs.a + p * SZ_4K, shared_byte(p), SZ_4K);
		mt_expect(cs.child, cs.a + p * SZ_4K, shared_byte(p), SZ_4K);
	}
	for (p = 0; p < CONC_OWN; p++) {
		mt_expect(cs.parent, cs.a + (CONC_SHARED + p) * SZ_4K, cs.own[p], SZ_4K);
		mt_expect(cs.child, cs.a + (CONC_SHARED + p) * SZ_4K, (uint8_t)p, SZ_4K);
	}
	mt_exit(cs.child);
	mt_exit(cs.parent);
	dev_remove(&dev);
	mt_teardown();
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_migrate_4k),
		cmocka_unit_test(test_migrate_thp),
		cmocka_unit_test(test_free_at_one),
		cmocka_unit_test(test_fork),
		cmocka_unit_test(test_unmap_frees),
		cmocka_unit_test(test_exclusive),
		cmocka_unit_test(test_pins),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_concurrency),
	};
	const struct CMUnitTest conc_tests[] = {
		cmocka_unit_test(test_concurrency),
	};
	int ret;

	hmmsim_thread_register();
	/* "concurrency": only the threaded test (the ThreadSanitizer suite). */
	if (argc > 1 && !strcmp(argv[1], "concurrency"))
		ret = cmocka_run_group_tests_name("hmm_migrate_concurrency", conc_tests, NULL,
						  NULL);
	else
		ret = cmocka_run_group_tests_name("hmm_migrate", tests, NULL, NULL);
	hmmsim_thread_unregister();
	return ret;
}
