// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * hmm_range_device: hmm_range_fault() on the entries a device leaves in
 * the CPU page table (linux-hmm.md §1.6, §8.6; cpu-mm-spec §9.9, §9.10),
 * with a fake device as in test_hmm_migrate.c (hmm_devmem_add,
 * migrate_vma_*, a migrate_to_ram that copies the page back):
 * device-private pages of dev_private_owner (VALID, never faulted, WRITE
 * from the entry) and of another owner (0, or migrated back when a fault
 * is asked), device-exclusive entries (0, or restored) and migration
 * entries (0).
 */
#include "hmm_range_test.h"

#define NMAX		64

static uint64_t pfns[NMAX], in[NMAX];

/* ------------------------------------------------------------------------ */
/* Device-private, device-exclusive and migration entries                   */
/* ------------------------------------------------------------------------ */

struct fake_dev {
	struct hmm_devmem *dm;
	int page_free_calls;		/* atomic */
	int migrate_to_ram_calls;
	int errors;
};

static struct fake_dev dev;

#define ATOMIC_INC(x)	__atomic_fetch_add(&(x), 1, __ATOMIC_RELAXED)

static void fake_page_free(struct folio *folio)
{
	ATOMIC_INC(((struct fake_dev *)folio->owner)->page_free_calls);
}

/* migrate_to_ram as dmirror_devmem_fault: the page back, its bytes copied. */
static int fake_migrate_to_ram(struct vm_fault *vmf)
{
	struct fake_dev *fd = vmf->page->owner;
	uint64_t src = 0, dst = 0;
	struct migrate_vma args = {
		.vma = vmf->vma, .src = &src, .dst = &dst,
		.start = vmf->address & ~(SZ_4K - 1),
		.end = (vmf->address & ~(SZ_4K - 1)) + SZ_4K,
		.pgmap_owner = fd, .flags = MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
		.fault_page = vmf->page,
	};
	struct folio *s, *f;

	ATOMIC_INC(fd->migrate_to_ram_calls);
	if (migrate_vma_setup(&args))
		return -EFAULT;
	s = phys_pfn_to_folio(mt_machine(), migrate_pfn_to_pfn(src));
	if (s && (src & MIGRATE_PFN_MIGRATE)) {
		f = folio_alloc(mt_pool(), 0, 0);
		if (f) {
			folio_lock(f);
			if (folio_copy_page(f, 0, s, 0))
				ATOMIC_INC(fd->errors);
			dst = migrate_pfn(folio_pfn(f));
		}
	}
	migrate_vma_pages(&args);
	migrate_vma_finalize(&args);
	return 0;
}

static const struct dev_pagemap_ops fake_ops = {
	.page_free = fake_page_free,
	.migrate_to_ram = fake_migrate_to_ram,
};

/* Migrate [a, a + n pages) of @mm to @dev's memory (dmirror_migrate_to_device). */
static void to_dev(struct mm_struct *mm, uint64_t a, uint64_t n)
{
	struct migrate_vma args = {
		.src = pfns, .dst = in, .start = a, .end = a + n * SZ_4K,
		.pgmap_owner = &dev, .flags = MIGRATE_VMA_SELECT_SYSTEM,
	};
	struct folio *s, *f;
	uint64_t i;

	mmap_read_lock(mm);
	args.vma = vma_lookup(mm, a);
	assert_ret(migrate_vma_setup(&args), 0);
	for (i = 0; i < n; i++) {
		if (!(pfns[i] & MIGRATE_PFN_MIGRATE))
			continue;
		s = phys_pfn_to_folio(mt_machine(), migrate_pfn_to_pfn(pfns[i]));
		f = hmm_devmem_alloc(dev.dm, 0);
		assert_non_null(f);
		assert_ret(s ? folio_copy_page(f, 0, s, 0) : folio_zero(f), 0);
		in[i] = migrate_pfn(folio_pfn(f));
	}
	migrate_vma_pages(&args);
	migrate_vma_finalize(&args);
	mmap_read_unlock(mm);
	assert_mm_ok();
}

/*
 * §1.6, §8.6: device-private entries of dev_private_owner are VALID (WRITE
 * from the entry) with the device pfn, never faulted, even when a write is
 * asked of a read-only one (after fork); another owner's are 0 in a
 * snapshot, and a fault request migrates them back through migrate_to_ram
 * (MIGRATE notification: -EBUSY, then the RAM page with the bytes).
 */
static void test_device_private(void **state)
{
	struct mm_struct *mm, *child;
	struct mt_page pg;
	struct req q;
	struct drv d;
	uint64_t a, i;
	unsigned int ebusy;
	int other;

	(void)state;
	mt_setup(NULL);
	memset(&dev, 0, sizeof(dev));
	assert_ret(hmm_devmem_add(mt.sys, HMM_DEVMEM_PRIVATE, 16 * SZ_1M, &fake_ops, &dev, 0,
				  &dev.dm), 0);
	mm = mt_proc(NULL);
	a = mt_anon(mm, 8 * SZ_4K);
	for (i = 0; i < 8; i++)
		mt_memset(mm, a + i * SZ_4K, 0x50 + (int)i, SZ_4K);
	to_dev(mm, a, 6);
	assert_codes(mm, a, 8 * SZ_4K, "6:dxw,2:pxw");
	drv_insert(&d, mm, a, 8 * SZ_4K);
	d.owner = &dev;

	/* The owner: reported, never faulted, whatever is asked. */
	q = (struct req){ .start = a, .npages = 8, .owner = &dev };
	snapshot(&d, mm, &q, pfns, NULL);
	assert_all_cpu(mm, &q, pfns);
	for (i = 0; i < 6; i++) {
		assert_true(mt_lookup(mm, a + i * SZ_4K, &pg));
		assert_int_equal(pg.kind, MM_PTE_DEVICE_PRIVATE);
		assert_true(folio_is_device_private(pg.folio));
		assert_int_equal(pfns[i], HMM_PFN_VALID | HMM_PFN_WRITE | pg.pfn);
	}
	q.dflt = WRITE;
	snapshot(&d, mm, &q, pfns, NULL);	/* a fault asked, nothing needed */
	assert_all_cpu(mm, &q, pfns);
	assert_int_equal(dev.migrate_to_ram_calls, 0);

	/* Another owner: 0 in a snapshot... */
	q = (struct req){ .start = a, .npages = 8, .owner = &other };
	snapshot(&d, mm, &q, pfns, NULL);
	assert_all(pfns, 6, 0);
	assert_entry(mm, a + 6 * SZ_4K, pfns[6]);
	q.owner = NULL;
	snapshot(&d, mm, &q, pfns, NULL);
	assert_all(pfns, 6, 0);
	/* ...and a read request brings pages 0..1 back (they are all it asks for). */
	d.owner = &other;
	q = (struct req){ .start = a, .npages = 2, .dflt = FAULT, .owner = &other };
	assert_ret(call_loop(&d, mm, &q, pfns, NULL, &ebusy), 0);
	assert_true(ebusy >= 1);
	assert_int_equal(dev.migrate_to_ram_calls, 2);
	assert_int_equal(__atomic_load_n(&dev.page_free_calls, __ATOMIC_RELAXED), 2);
	assert_codes(mm, a, 8 * SZ_4K, "2:pxw,4:dxw,2:pxw");
	assert_all_cpu(mm, &q, pfns);
	mt_expect(mm, a, 0x50, SZ_4K);
	mt_expect(mm, a + SZ_4K, 0x51, SZ_4K);

	/* After fork the entries are read-only: the owner sees VALID without WRITE. */
	child = mt_fork(mm);
	assert_codes(mm, a + 2 * SZ_4K, 4 * SZ_4K, "4:d..");
	q = (struct req){ .start = a + 2 * SZ_4K, .npages = 4, .dflt = WRITE, .owner = &dev };
	snapshot(&d, mm, &q, pfns, NULL);
	assert_all_cpu(mm, &q, pfns);
	for (i = 0; i < 4; i++)
		assert_int_equal(pfns[i] & HMM_PFN_FLAGS, HMM_PFN_VALID);
	assert_int_equal(dev.migrate_to_ram_calls, 2);
	mt_exit(child);

	/* Another owner writing: back to RAM, then written. */
	q = (struct req){ .start = a + 2 * SZ_4K, .npages = 1, .dflt = WRITE, .owner = NULL };
	assert_ret(call_loop(&d, mm, &q, pfns, NULL, &ebusy), 0);
	assert_all_cpu(mm, &q, pfns);
	assert_true(pfns[0] & HMM_PFN_WRITE);
	assert_int_equal(dev.migrate_to_ram_calls, 3);
	mt_expect(mm, a + 2 * SZ_4K, 0x52, SZ_4K);

	mt_exit(mm);
	assert_int_equal(dev.errors, 0);
	assert_ret(hmm_devmem_remove(dev.dm), 0);
	drv_remove(&d);
	mt_teardown();
}

/*
 * Device-exclusive entries (§1.6): 0 in a snapshot, a fault request
 * restores the PTE (EXCLUSIVE notification: -EBUSY, then the same page
 * writable). Migration entries (between migrate_vma_setup and finalize):
 * 0 in a snapshot.
 */
static void test_exclusive_migration(void **state)
{
	struct mm_struct *mm;
	struct migrate_vma args;
	struct folio *f;
	struct req q;
	struct drv d;
	uint64_t a, pfn, src[4], dst[4], seq, i;
	struct hmm_range r;
	unsigned int ebusy;

	(void)state;
	mt_setup(NULL);
	mm = mt_proc(NULL);
	a = mt_anon(mm, 4 * SZ_4K);
	mt_memset(mm, a, 0x60, 4 * SZ_4K);
	drv_insert(&d, mm, a, 4 * SZ_4K);
	pfn = mt_pfn(mm, a + SZ_4K);

	mmap_read_lock(mm);
	assert_ret(make_device_exclusive(mm, a + SZ_4K, &d, &f), 0);
	mmap_read_unlock(mm);
	folio_unlock(f);
	folio_put(f);
	assert_codes(mm, a, 4 * SZ_4K, "1:pxw,1:exw,2:pxw");
	q = (struct req){ .start = a, .npages = 4 };
	in[0] = in[1] = in[2] = in[3] = WRITE;		/* the zero mask drops them */
	snapshot(&d, mm, &q, pfns, in);
	assert_int_equal(pfns[1], 0);
	assert_entry(mm, a, pfns[0]);
	assert_entry(mm, a + 2 * SZ_4K, pfns[2]);
	q.dflt = FAULT;
	assert_ret(call_once(&d, mm, &q, pfns), -EBUSY);
	assert_codes(mm, a, 4 * SZ_4K, "4:pxw");
	assert_ret(call_loop(&d, mm, &q, pfns, NULL, &ebusy), 0);
	assert_all_cpu(mm, &q, pfns);
	assert_int_equal(pfns[1], HMM_PFN_VALID | HMM_PFN_WRITE | pfn);
	mt_expect(mm, a + SZ_4K, 0x60, SZ_4K);

	/* Migration entries, as a migration leaves them until finalize. */
	memset(&args, 0, sizeof(args));
	args.src = src;
	args.dst = dst;
	args.start = a;
	args.end = a + 4 * SZ_4K;
	args.flags = MIGRATE_VMA_SELECT_SYSTEM;
	mmap_read_lock(mm);
	args.vma = vma_lookup(mm, a);
	assert_ret(migrate_vma_setup(&args), 0);
	assert_int_equal(args.cpages, 4);
	q = (struct req){ .start = a, .npages = 4 };
	memset(pfns, 0xff, 4 * sizeof(pfns[0]));
	r = mkrange(&d, &q, pfns);
	r.notifier_seq = seq = mmu_interval_read_begin(&d.sub);
	assert_ret(hmm_range_fault(&r), 0);
	for (i = 0; i < 4; i++)
		assert_int_equal(pfns[i], 0);
	/* No destination: finalize puts the pages back. */
	migrate_vma_pages(&args);
	migrate_vma_finalize(&args);
	mmap_read_unlock(mm);
	assert_codes(mm, a, 4 * SZ_4K, "4:pxw");
	/* Silent: migration entry -> present. */
	assert_false(mmu_interval_read_retry(&d.sub, seq));
	mt_expect(mm, a, 0x60, 4 * SZ_4K);
	drv_remove(&d);
	assert_mm_ok();
	mt_teardown();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_device_private),
		cmocka_unit_test(test_exclusive_migration),
	};
	int ret;

	hmmsim_thread_register();
	ret = cmocka_run_group_tests_name("hmm_range_device", tests, NULL, NULL);
	hmmsim_thread_unregister();
	return ret;
}
