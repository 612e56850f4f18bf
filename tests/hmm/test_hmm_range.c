// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * hmm_range: hmm_range_fault() row by row (linux-hmm.md §1.2-§1.6, §8;
 * cpu-mm-spec §6.3, §9). The request is (in & mask) | default; a snapshot
 * never changes the CPU state (dump, stats, pools compared before and
 * after) nor faults; each CPU state of the decision table gives its output
 * or error: no VMA, a VMA without read, holes, present RO and RW PTEs, the
 * zero page, write requests on read-only VMAs (-EPERM) and after fork (COW:
 * -EBUSY from the caller's own interval, then success); bad input is
 * -EINVAL with nothing changed; a -EBUSY leaves the entries past the
 * restart point holding their input; a fault covers the rest of the PMD
 * span (§8.4). Every VALID output is checked against the CPU page table
 * (pfn, WRITE, order). Device entries: test_hmm_range_device.c; orders:
 * test_hmm_range_order.c.
 */
#include "hmm_range_test.h"

#define NMAX		1024

static uint64_t pfns[NMAX], in[NMAX];

/* ------------------------------------------------------------------------ */
/* Tests                                                                    */
/* ------------------------------------------------------------------------ */

/*
 * Bad input (hmm.h): NULL range, array or notifier; a removed notifier;
 * empty, reversed or misaligned ranges; a range leaving the interval;
 * request bits outside VALID | WRITE in the default or the mask. -EINVAL
 * every time, with a fault requested, and nothing changed: CPU state and
 * array alike.
 */
static void test_bad_input(void **state)
{
	struct mm_struct *mm;
	struct hmm_range r, b;
	struct mt_snap s;
	struct drv d, gone;
	unsigned int ebusy;
	struct req q;
	uint64_t a, i;

	(void)state;
	mt_setup(NULL);
	mm = mt_proc(NULL);
	a = mt_anon(mm, 16 * SZ_4K);
	mt_touch(mm, a + 4 * SZ_4K);
	drv_insert(&d, mm, a + 4 * SZ_4K, 8 * SZ_4K);	/* pages 4..11 */
	drv_insert(&gone, mm, a, 16 * SZ_4K);
	drv_remove(&gone);
	for (i = 0; i < 16; i++)
		pfns[i] = 0x5a00 + i;
	memset(&r, 0, sizeof(r));
	r.notifier = &d.sub;
	r.start = a + 4 * SZ_4K;
	r.end = a + 12 * SZ_4K;
	r.hmm_pfns = pfns;
	r.default_flags = WRITE;
	mt_snap_take(mm, a, a + 16 * SZ_4K, &s);

	mmap_read_lock(mm);
	r.notifier_seq = mmu_interval_read_begin(&d.sub);
	assert_ret(hmm_range_fault(NULL), -EINVAL);
#define BAD(field, value) do {					\
		b = r;						\
		b.field = value;				\
		assert_ret(hmm_range_fault(&b), -EINVAL);	\
	} while (0)
	BAD(hmm_pfns, NULL);
	BAD(notifier, NULL);
	BAD(notifier, &gone.sub);
	BAD(end, r.start);				/* empty */
	BAD(end, r.start - SZ_4K);			/* reversed */
	BAD(start, r.start + 1);
	BAD(end, r.end - 1);
	BAD(start, r.start - SZ_4K);			/* outside the interval */
	BAD(end, r.end + SZ_4K);
	BAD(default_flags, HMM_PFN_ERROR);
	BAD(default_flags, FAULT | (UINT64_C(1) << HMM_PFN_ORDER_SHIFT));
	BAD(default_flags, FAULT | 1);
	BAD(pfn_flags_mask, HMM_PFN_ERROR);
	BAD(pfn_flags_mask, ~UINT64_C(0));
	BAD(pfn_flags_mask, UINT64_C(1) << 60);
#undef BAD
	mmap_read_unlock(mm);
	assert_snap_same(mm, a, a + 16 * SZ_4K, &s);
	mt_snap_free(&s);
	for (i = 0; i < 16; i++)
		assert_int_equal(pfns[i], 0x5a00 + i);

	/* The same range, well formed, works and covers exactly the interval. */
	q = (struct req){ .start = r.start, .npages = 8, .dflt = WRITE };
	assert_ret(call_loop(&d, mm, &q, pfns, NULL, &ebusy), 0);
	assert_int_equal(ebusy, 1);		/* the zero page at page 4 was replaced */
	for (i = 0; i < 8; i++)
		assert_entry(mm, a + (4 + i) * SZ_4K, pfns[i]);
	for (i = 8; i < 16; i++)
		assert_int_equal(pfns[i], 0x5a00 + i);
	drv_remove(&d);
	assert_mm_ok();
	mt_teardown();
}

/*
 * §1.2: request = (in & pfn_flags_mask) | default_flags, per entry. Bits
 * the mask drops are ignored (a per-entry REQ_FAULT too: then the call is a
 * snapshot); REQ_WRITE without REQ_FAULT asks for nothing; a hole one
 * entry asks for is faulted whole, as a read or a write (§8.4); an entry
 * asking for a write on the zero page gets a page, its neighbours that ask
 * nothing keep the zero page and are reported all the same.
 */
static void test_request(void **state)
{
	struct mm_struct *mm;
	struct req q;
	struct drv d;
	uint64_t a, i, out[24];
	unsigned int ebusy;

	(void)state;
	mt_setup(NULL);
	mm = mt_proc(NULL);
	a = mt_anon(mm, 64 * SZ_4K);
	drv_insert(&d, mm, 0, MM_TASK_SIZE);

	/* Requests in the entries, a zero mask: a snapshot of holes. */
	q = (struct req){ .start = a, .npages = 8 };
	for (i = 0; i < 8; i++)
		in[i] = WRITE | (i % 2 ? HMM_PFN_ERROR | 0x1234 : 0);
	snapshot(&d, mm, &q, pfns, in);
	assert_all(pfns, 8, 0);

	/* mask = FAULT | WRITE, no default, no entry asking a fault: nothing happens. */
	q.mask = WRITE;
	for (i = 0; i < 8; i++)
		in[i] = i % 2 ? HMM_PFN_REQ_WRITE : HMM_PFN_ERROR | 0x777;
	snapshot(&d, mm, &q, pfns, in);
	assert_all(pfns, 8, 0);

	/* Entry 5 asks for a read: the hole is faulted (zero page), all reported. */
	in[5] = FAULT | HMM_PFN_ERROR;		/* the FAULT bit counts, the rest not */
	assert_ret(call_loop(&d, mm, &q, pfns, in, &ebusy), 0);
	assert_int_equal(ebusy, 0);		/* filling holes notifies nobody */
	assert_codes(mm, a, 8 * SZ_4K, "8:z..");
	assert_all_cpu(mm, &q, pfns);

	/* Entry 6 asks for a write: a page there; 0..5 asked nothing and stay zero. */
	for (i = 0; i < 8; i++)
		in[i] = i == 6 ? WRITE : 0;
	assert_ret(call_loop(&d, mm, &q, pfns, in, &ebusy), 0);
	assert_true(ebusy >= 1);		/* the zero page replaced: CLEAR */
	assert_codes(mm, a, 7 * SZ_4K, "6:z..,1:pxw");
	assert_all_cpu(mm, &q, pfns);

	/* default FAULT, mask WRITE: reads everywhere, a write where asked. */
	mt_touch(mm, a + 8 * SZ_4K);
	for (i = 9; i < 16; i++)
		mt_touch(mm, a + i * SZ_4K);
	assert_codes(mm, a + 8 * SZ_4K, 8 * SZ_4K, "8:z..");
	q = (struct req){ .start = a + 8 * SZ_4K, .npages = 8, .dflt = FAULT,
			  .mask = HMM_PFN_REQ_WRITE };
	for (i = 0; i < 8; i++)
		in[i] = i == 7 ? HMM_PFN_REQ_WRITE : HMM_PFN_ERROR | HMM_PFN_VALID;
	assert_ret(call_loop(&d, mm, &q, pfns, in, &ebusy), 0);
	assert_codes(mm, a + 8 * SZ_4K, 8 * SZ_4K, "7:z..,1:pxw");
	assert_all_cpu(mm, &q, pfns);

	/* default FAULT | WRITE, no mask: the entries do not matter. */
	q = (struct req){ .start = a + 16 * SZ_4K, .npages = 8, .dflt = WRITE };
	for (i = 0; i < 8; i++)
		in[i] = 0;
	assert_ret(call_loop(&d, mm, &q, pfns, in, &ebusy), 0);
	assert_int_equal(ebusy, 0);
	assert_codes(mm, a + 16 * SZ_4K, 8 * SZ_4K, "8:pxw");
	assert_all_cpu(mm, &q, pfns);
	for (i = 0; i < 8; i++)
		assert_int_equal(pfns[i] & HMM_PFN_FLAGS, HMM_PFN_VALID | HMM_PFN_WRITE);

	/* default FAULT over 24 pages mapped and 8 holes: the holes faulted, the rest as was. */
	q = (struct req){ .start = a, .npages = 32 };
	snapshot(&d, mm, &q, pfns, NULL);
	memcpy(out, pfns, sizeof(out));
	assert_all(pfns + 24, 8, 0);
	q.dflt = FAULT;
	assert_ret(call_loop(&d, mm, &q, pfns, NULL, &ebusy), 0);
	assert_int_equal(ebusy, 0);
	assert_codes(mm, a + 24 * SZ_4K, 8 * SZ_4K, "8:z..");
	assert_all_cpu(mm, &q, pfns);
	for (i = 0; i < 24; i++)
		assert_int_equal(pfns[i], out[i]);
	drv_remove(&d);
	assert_mm_ok();
	mt_teardown();
}

/*
 * §1.6 rows without a readable VMA: a gap between VMAs, the space past the
 * last one and a PROT_NONE VMA (populated or not) are ERROR in a snapshot
 * and -EFAULT when a fault (read or write) is asked for any of their pages;
 * a page that asks nothing stays ERROR and the call succeeds.
 */
static void test_no_access(void **state)
{
	struct mm_struct *mm;
	struct req q;
	struct drv d;
	uint64_t a, i;
	unsigned int ebusy;

	(void)state;
	mt_setup(NULL);
	mm = mt_proc(NULL);
	/* Pages: 0..3 RW, 4..5 a gap, 6..11 PROT_NONE (6..9 populated before), then nothing. */
	a = mt_mmap(mm, 12 * SZ_4K, RW, ANON, SZ_64K, 0);
	mt_memset(mm, a, 0x10, 10 * SZ_4K);
	assert_ret(mm_munmap(mm, a + 4 * SZ_4K, 2 * SZ_4K), 0);
	assert_ret(mm_mprotect(mm, a + 6 * SZ_4K, 6 * SZ_4K, MM_PROT_NONE), 0);
	drv_insert(&d, mm, 0, MM_TASK_SIZE);

	/* Beyond the last VMA too. */
	q = (struct req){ .start = a, .npages = 16 };
	snapshot(&d, mm, &q, pfns, NULL);
	for (i = 0; i < 4; i++)
		assert_entry(mm, a + i * SZ_4K, pfns[i]);
	for (i = 4; i < 16; i++)
		assert_int_equal(pfns[i], HMM_PFN_ERROR);

	for (i = 4; i < 16; i++) {
		q = (struct req){ .start = a + i * SZ_4K, .npages = 1, .dflt = FAULT };
		assert_ret(call_once(&d, mm, &q, pfns), -EFAULT);
		q.dflt = WRITE;
		assert_ret(call_once(&d, mm, &q, pfns), -EFAULT);
	}
	/* Faults asked only where there is access: the rest stays ERROR. */
	q = (struct req){ .start = a, .npages = 16, .mask = WRITE };
	memset(in, 0, 16 * sizeof(in[0]));
	in[0] = in[3] = WRITE;
	assert_ret(call_loop(&d, mm, &q, pfns, in, &ebusy), 0);
	assert_entry(mm, a, pfns[0]);
	assert_entry(mm, a + 3 * SZ_4K, pfns[3]);
	for (i = 4; i < 16; i++)
		assert_int_equal(pfns[i], HMM_PFN_ERROR);
	/* One page asking, past a gap: -EFAULT. */
	in[13] = FAULT;
	assert_ret(call_loop(&d, mm, &q, pfns, in, &ebusy), -EFAULT);
	assert_codes(mm, a + 6 * SZ_4K, 4 * SZ_4K, "4:px.");	/* PROT_NONE kept its pages */
	drv_remove(&d);
	assert_mm_ok();
	mt_teardown();
}

/*
 * §1.6 present rows: a hole is 0, faults to the zero page on a read and a
 * page on a write (no notification, no -EBUSY); RW and RO PTEs are
 * reported as they are; the zero page is VALID read-only with the zero
 * pfn, a read request leaves it, a write request replaces it by a page
 * (CLEAR on the caller's interval: -EBUSY, then success). A write asked
 * of a read-only VMA is -EPERM, hole or page.
 */
static void test_present(void **state)
{
	struct mm_struct *mm;
	struct mm_stats st;
	struct mt_page pg;
	struct req q;
	struct drv d;
	uint64_t a, ro, zero;
	unsigned int ebusy;

	(void)state;
	mt_setup(NULL);
	mm = mt_proc(NULL);
	a = mt_anon(mm, 8 * SZ_4K);
	ro = mt_anon(mm, 4 * SZ_4K);
	drv_insert(&d, mm, 0, MM_TASK_SIZE);

	/* Holes: 0; read -> zero page; write -> page. */
	q = (struct req){ .start = a, .npages = 8 };
	snapshot(&d, mm, &q, pfns, NULL);
	assert_all(pfns, 8, 0);
	q = (struct req){ .start = a, .npages = 4, .dflt = FAULT };
	assert_ret(call_loop(&d, mm, &q, pfns, NULL, &ebusy), 0);
	assert_int_equal(ebusy, 0);
	assert_codes(mm, a, 4 * SZ_4K, "4:z..");
	assert_all_cpu(mm, &q, pfns);
	assert_true(mt_lookup(mm, a, &pg));
	zero = pg.pfn;
	assert_true(pg.folio && is_zero_folio(pg.folio));
	assert_all(pfns, 4, HMM_PFN_VALID | zero);
	q = (struct req){ .start = a + 4 * SZ_4K, .npages = 4, .dflt = WRITE };
	assert_ret(call_loop(&d, mm, &q, pfns, NULL, &ebusy), 0);
	assert_int_equal(ebusy, 0);
	assert_codes(mm, a + 4 * SZ_4K, 4 * SZ_4K, "4:pxw");
	assert_all_cpu(mm, &q, pfns);

	/* The zero page: a read request is satisfied as is. */
	st = mt_stats(mm);
	q = (struct req){ .start = a, .npages = 8, .dflt = FAULT };
	assert_ret(call_once(&d, mm, &q, pfns), 0);
	assert_int_equal(mt_stats(mm).faults, st.faults);
	assert_all(pfns, 4, HMM_PFN_VALID | zero);
	assert_all_cpu(mm, &q, pfns);
	/* A write request: a real page, after the caller's own -EBUSY. */
	q = (struct req){ .start = a + SZ_4K, .npages = 1, .dflt = WRITE };
	assert_ret(call_once(&d, mm, &q, pfns), -EBUSY);
	assert_codes(mm, a, 4 * SZ_4K, "1:z..,1:pxw,2:z..");
	assert_ret(call_loop(&d, mm, &q, pfns, NULL, &ebusy), 0);
	assert_int_equal(ebusy, 0);
	assert_entry(mm, a + SZ_4K, pfns[0]);
	assert_int_not_equal(hmm_pfn_to_pfn(pfns[0]), zero);
	assert_true(pfns[0] & HMM_PFN_WRITE);

	/* A read-only VMA: RO pages reported, a write is -EPERM (hole or page). */
	mt_memset(mm, ro, 0x20, 2 * SZ_4K);
	assert_ret(mm_mprotect(mm, ro, 4 * SZ_4K, MM_PROT_READ), 0);
	q = (struct req){ .start = ro, .npages = 4 };
	snapshot(&d, mm, &q, pfns, NULL);
	assert_entry(mm, ro, pfns[0]);
	assert_entry(mm, ro + SZ_4K, pfns[1]);
	assert_int_equal(pfns[0] & HMM_PFN_FLAGS, HMM_PFN_VALID);
	assert_int_equal(pfns[2], 0);
	q = (struct req){ .start = ro, .npages = 1, .dflt = WRITE };
	assert_ret(call_once(&d, mm, &q, pfns), -EPERM);
	q.start = ro + 3 * SZ_4K;
	assert_ret(call_once(&d, mm, &q, pfns), -EPERM);
	q = (struct req){ .start = ro, .npages = 4, .dflt = FAULT };
	assert_ret(call_loop(&d, mm, &q, pfns, NULL, &ebusy), 0);
	assert_codes(mm, ro, 4 * SZ_4K, "2:px.,2:z..");
	assert_all_cpu(mm, &q, pfns);
	drv_remove(&d);
	assert_mm_ok();
	mt_teardown();
}

/*
 * §3.2: a collision is per interval, not per page: an invalidation of the
 * interval outside the range asked for is -EBUSY all the same, with the
 * output untouched.
 */
static void test_interval_collision(void **state)
{
	struct mm_struct *mm;
	struct hmm_range r;
	struct req q;
	struct drv d;
	uint64_t a, i;

	(void)state;
	mt_setup(NULL);
	mm = mt_proc(NULL);
	a = mt_anon(mm, 16 * SZ_4K);
	mt_memset(mm, a, 0x70, 16 * SZ_4K);
	drv_insert(&d, mm, a, 16 * SZ_4K);
	q = (struct req){ .start = a, .npages = 4 };
	for (i = 0; i < 4; i++)
		pfns[i] = 0x3300 + i;
	r = mkrange(&d, &q, pfns);
	r.notifier_seq = mmu_interval_read_begin(&d.sub);
	assert_ret(mm_madvise(mm, a + 15 * SZ_4K, SZ_4K, MM_MADV_DONTNEED), 0);
	mmap_read_lock(mm);
	assert_ret(hmm_range_fault(&r), -EBUSY);
	mmap_read_unlock(mm);
	for (i = 0; i < 4; i++)
		assert_int_equal(pfns[i], 0x3300 + i);
	/* Outside the interval: no collision. */
	r.notifier_seq = mmu_interval_read_begin(&d.sub);
	mt_anon(mm, SZ_4K);
	mmap_read_lock(mm);
	assert_ret(hmm_range_fault(&r), 0);
	mmap_read_unlock(mm);
	assert_all_cpu(mm, &q, pfns);
	drv_remove(&d);
	assert_mm_ok();
	mt_teardown();
}

/*
 * Out of memory (§1.4): a write request larger than the machine's memory fails with
 * -EFAULT (VM_FAULT_OOM is a VM_FAULT_ERROR), and what was faulted before stays consistent.
 */
static void test_enomem(void **state)
{
	struct mm_system_config cfg = { .ram = 16 * SZ_1M };
	uint64_t a, n = PAGES(32 * SZ_1M), *big;
	struct mm_struct *mm;
	unsigned int ebusy;
	struct req q;
	struct drv d;

	(void)state;
	mt_setup(&cfg);
	mm = mt_proc(NULL);
	a = mt_anon(mm, 32 * SZ_1M);
	drv_insert(&d, mm, a, 32 * SZ_1M);
	big = calloc(n, sizeof(*big));
	assert_non_null(big);
	q = (struct req){ .start = a, .npages = n, .dflt = WRITE };
	assert_ret(call_loop(&d, mm, &q, big, NULL, &ebusy), -EFAULT);
	assert_mm_ok();
	/* A read request needs no memory: the zero page past what was written. */
	q.dflt = FAULT;
	assert_ret(call_loop(&d, mm, &q, big, NULL, &ebusy), 0);
	assert_all_cpu(mm, &q, big);
	free(big);
	drv_remove(&d);
	assert_ret(mm_munmap(mm, a, 32 * SZ_1M), 0);
	assert_mm_ok();
	mt_teardown();
}

/*
 * Write requests after fork (cpu-mm-spec §9.4): the parent's pages are
 * read-only; a write request COWs them, each COW invalidates the caller's
 * own interval (-EBUSY), and the loop ends with every page the parent's own
 * copy, writable, the child's untouched. A partial -EBUSY keeps the input
 * past the restart point (§1.4, §8.4).
 */
static void test_cow(void **state)
{
	struct mm_struct *mm, *child;
	struct mt_page pg, pc;
	struct req q;
	struct drv d;
	uint64_t a, i, seq;
	struct hmm_range r;
	unsigned int ebusy;

	(void)state;
	mt_setup(NULL);
	mm = mt_proc(NULL);
	a = mt_anon(mm, 8 * SZ_4K);
	mt_memset(mm, a, 0x30, 8 * SZ_4K);
	child = mt_fork(mm);
	drv_insert(&d, mm, a, 8 * SZ_4K);

	q = (struct req){ .start = a, .npages = 8 };
	snapshot(&d, mm, &q, pfns, NULL);
	assert_all_cpu(mm, &q, pfns);
	for (i = 0; i < 8; i++) {
		assert_int_equal(pfns[i] & HMM_PFN_FLAGS, HMM_PFN_VALID);
		assert_int_equal(hmm_pfn_to_pfn(pfns[i]), mt_pfn(child, a + i * SZ_4K));
	}
	/* A read request is satisfied by the shared pages. */
	q.dflt = FAULT;
	assert_ret(call_once(&d, mm, &q, pfns), 0);
	assert_codes(mm, a, 8 * SZ_4K, "8:p..");

	/* Pages 3..4 asked for writing; the input elsewhere is a marker the mask drops. */
	q = (struct req){ .start = a, .npages = 8, .mask = WRITE };
	for (i = 0; i < 8; i++)
		in[i] = (i == 3 || i == 4) ? WRITE : 0x9000 + i;
	memcpy(pfns, in, 8 * sizeof(in[0]));
	r = mkrange(&d, &q, pfns);
	r.notifier_seq = seq = mmu_interval_read_begin(&d.sub);
	mmap_read_lock(mm);
	assert_ret(hmm_range_fault(&r), -EBUSY);
	mmap_read_unlock(mm);
	assert_true(mmu_interval_read_retry(&d.sub, seq));
	/* Final below the restart point (page 3), the input from it on. */
	for (i = 0; i < 3; i++)
		assert_entry(mm, a + i * SZ_4K, pfns[i]);
	for (i = 3; i < 8; i++)
		assert_int_equal(pfns[i], in[i]);
	assert_codes(mm, a + 3 * SZ_4K, SZ_4K, "1:pxw");

	/* The first call's fault ran to the end of the PMD span (pages 3..7): done. */
	assert_ret(call_loop(&d, mm, &q, pfns, in, &ebusy), 0);
	assert_int_equal(ebusy, 0);
	assert_all_cpu(mm, &q, pfns);
	assert_true((pfns[3] & HMM_PFN_WRITE) && (pfns[4] & HMM_PFN_WRITE));
	assert_false(pfns[2] & HMM_PFN_WRITE);
	for (i = 3; i < 5; i++) {
		assert_true(mt_lookup(mm, a + i * SZ_4K, &pg));
		assert_true(mt_lookup(child, a + i * SZ_4K, &pc));
		assert_int_not_equal(pg.pfn, pc.pfn);
	}

	/* All of it for writing: every page its own, after one -EBUSY per copy at most. */
	q = (struct req){ .start = a, .npages = 8, .dflt = WRITE };
	assert_ret(call_loop(&d, mm, &q, pfns, NULL, &ebusy), 0);
	assert_true(ebusy >= 1 && ebusy <= 6);
	assert_codes(mm, a, 8 * SZ_4K, "8:pxw");
	assert_codes(child, a, 8 * SZ_4K, "8:px.");
	assert_all_cpu(mm, &q, pfns);
	mt_expect(child, a, 0x30, 8 * SZ_4K);
	mt_expect(mm, a, 0x30, 8 * SZ_4K);
	mt_exit(child);
	drv_remove(&d);
	assert_mm_ok();
	mt_teardown();
}

/*
 * §1.5 step 3, §8.4, cpu-mm-spec §6.3: a fault needed at a PTE faults every
 * page from it to the end of the current PMD span (the walk's sub-range),
 * with the flags the request needs, whether those pages asked or not, as
 * hmm_vma_fault(addr, end) does from hmm_vma_handle_pte: one write request
 * on page 2 of 8 shared pages COWs pages 2..7, and the caller needs a
 * single retry.
 */
static void test_fault_span_cow(void **state)
{
	struct mm_struct *mm, *child;
	struct req q;
	struct drv d;
	uint64_t a;
	unsigned int ebusy;

	(void)state;
	mt_setup(NULL);
	mm = mt_proc(NULL);
	a = mt_mmap(mm, 8 * SZ_4K, RW, ANON, SZ_64K, 0);	/* inside one PMD */
	mt_memset(mm, a, 0x40, 8 * SZ_4K);
	child = mt_fork(mm);
	drv_insert(&d, mm, 0, MM_TASK_SIZE);

	q = (struct req){ .start = a, .npages = 8, .mask = WRITE };
	memset(in, 0, 8 * sizeof(in[0]));
	in[2] = WRITE;
	assert_ret(call_loop(&d, mm, &q, pfns, in, &ebusy), 0);
	assert_all_cpu(mm, &q, pfns);
	assert_codes(mm, a, 8 * SZ_4K, "2:p..,6:pxw");
	assert_int_equal(ebusy, 1);
	mt_exit(child);
	drv_remove(&d);
	assert_mm_ok();
	mt_teardown();
}

/*
 * The same for holes (§8.4): page 1 present, a read asked on hole 0 only,
 * and the fault runs to the end of the PMD span: holes 2..7 get the zero
 * page too.
 */
static void test_fault_span_hole(void **state)
{
	struct mm_struct *mm;
	struct req q;
	struct drv d;
	uint64_t b;
	unsigned int ebusy;

	(void)state;
	mt_setup(NULL);
	mm = mt_proc(NULL);
	b = mt_mmap(mm, 8 * SZ_4K, RW, ANON, SZ_64K, 0);	/* inside one PMD */
	drv_insert(&d, mm, 0, MM_TASK_SIZE);
	mt_memset(mm, b + SZ_4K, 0x41, SZ_4K);
	q = (struct req){ .start = b, .npages = 8, .mask = WRITE };
	memset(in, 0, 8 * sizeof(in[0]));
	in[0] = FAULT;
	assert_ret(call_loop(&d, mm, &q, pfns, in, &ebusy), 0);
	assert_int_equal(ebusy, 0);
	assert_codes(mm, b, 8 * SZ_4K, "1:z..,1:pxw,6:z..");
	drv_remove(&d);
	assert_mm_ok();
	mt_teardown();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_request),
		cmocka_unit_test(test_no_access),
		cmocka_unit_test(test_present),
		cmocka_unit_test(test_interval_collision),
		cmocka_unit_test(test_enomem),
		cmocka_unit_test(test_cow),
		cmocka_unit_test(test_fault_span_cow),
		cmocka_unit_test(test_fault_span_hole),
	};
	int ret;

	hmmsim_thread_register();
	ret = cmocka_run_group_tests_name("hmm_range", tests, NULL, NULL);
	hmmsim_thread_unregister();
	return ret;
}
