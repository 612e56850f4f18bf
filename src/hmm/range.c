// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * hmm_range_fault (mm/hmm.c): one walk of the CPU page table over the
 * range, filling one word per page, with the decision table of
 * linux-hmm.md §1.6. A page that needs a fault stops the walk: every page
 * from it to the end of its leaf or hole is faulted (outside the walk's
 * read-side section), and the walk restarts there, after checking the
 * notifier sequence. The map order is the CPU leaf's level, never the
 * folio's: the seed-000 compound-mapping query.
 */
#include "hmm/internal.h"

/* The walk stopped to fault [fault_start, fault_end) (an internal -EBUSY). */
#define HMM_WALK_FAULT	1

struct hmm_walk {
	struct hmm_range *range;
	uint64_t last;			/* first page not yet final */
	uint64_t fault_start, fault_end;
	bool fault_write;
	int err;
};

static uint64_t *pfn_of(struct hmm_walk *w, uint64_t addr)
{
	return &w->range->hmm_pfns[(addr - w->range->start) >> MM_PAGE_SHIFT];
}

static uint64_t request(struct hmm_walk *w, uint64_t addr)
{
	return (*pfn_of(w, addr) & w->range->pfn_flags_mask) | w->range->default_flags;
}

/* Does a page in [addr, end) ask for a fault (given the CPU's VALID and WRITE)? */
static bool need_fault(struct hmm_walk *w, uint64_t addr, uint64_t end, bool valid, bool write,
		       bool *want_write)
{
	bool need = false;

	*want_write = false;
	if (!((w->range->default_flags | w->range->pfn_flags_mask) & HMM_PFN_REQ_FAULT))
		return false;	/* a snapshot: never faults */
	for (; addr < end; addr += MM_PAGE_SIZE) {
		uint64_t req = request(w, addr);

		if (!(req & HMM_PFN_REQ_FAULT))
			continue;
		if (!valid)
			need = true;
		if ((req & HMM_PFN_REQ_WRITE) && !write) {
			need = true;
			*want_write = true;
		}
	}
	return need;
}

static void fill(struct hmm_walk *w, uint64_t addr, uint64_t end, uint64_t value, uint64_t step)
{
	uint64_t *p = pfn_of(w, addr), *stop = p + ((end - addr) >> MM_PAGE_SHIFT);

	/* One pointer, not an index from range->start the stores could alias. */
	for (; p < stop; p++, value += step)
		*p = value;
	w->last = end;
}

/*
 * Stop the walk and fault [addr, end); -EPERM for a write to a read-only
 * VMA. A fault met at the PTE level (@level 0) runs to the end of the PMD
 * span, as hmm_vma_walk_pmd's does: every page after it is faulted too.
 */
static int ask_fault(struct hmm_walk *w, uint64_t addr, uint64_t end, bool write,
		     struct vm_area_struct *vma, int level)
{
	if (write && !(vma_flags(vma) & VM_WRITE)) {
		w->err = -EPERM;
		return w->err;
	}
	if (level == 0) {
		end = align_down(addr, MM_PMD_SHIFT) + MM_PMD_SIZE;
		if (end > w->range->end)
			end = w->range->end;
	}
	w->last = addr;
	w->fault_start = addr;
	w->fault_end = end;
	w->fault_write = write;
	return HMM_WALK_FAULT;
}

/* No VMA, or a VMA the device may not read: ERROR, or -EFAULT if a fault was asked. */
static int error_range(struct hmm_walk *w, uint64_t addr, uint64_t end)
{
	bool ww;

	if (need_fault(w, addr, end, false, false, &ww)) {
		w->err = -EFAULT;
		return w->err;
	}
	fill(w, addr, end, HMM_PFN_ERROR, 0);
	return 0;
}

static int hmm_test_walk(uint64_t start, uint64_t end, struct mm_walk *walk)
{
	struct hmm_walk *w = walk->private;

	if (vma_flags(walk->vma) & VM_READ)
		return 0;
	return error_range(w, start, end) ?: 1;
}

static int hmm_hole(uint64_t addr, uint64_t next, int level, struct mm_walk *walk)
{
	struct hmm_walk *w = walk->private;
	bool write;

	if (level < 0)
		return error_range(w, addr, next);
	if (need_fault(w, addr, next, false, false, &write))
		return ask_fault(w, addr, next, write, walk->vma, level);
	fill(w, addr, next, 0, 0);
	return 0;
}

static unsigned int level_order(unsigned int level)
{
	return level == 2 ? MM_PUD_SHIFT - MM_PAGE_SHIFT :
	       level == 1 ? MM_PMD_SHIFT - MM_PAGE_SHIFT : 0;
}

static int hmm_nonpresent(struct hmm_walk *w, uint64_t addr, uint64_t next, pt_entry_t e,
			  unsigned int level, struct mm_walk *walk)
{
	struct hmm_devmem *dm;
	uint64_t flags;
	bool write;

	if (mm_pte_kind(e) == MM_PTE_DEVICE_PRIVATE) {
		dm = hmm_devmem_of_pfn(mm_system_of(walk->mm), mm_pte_pfn(e));
		if (dm && hmm_devmem_owner(dm) && hmm_devmem_owner(dm) == w->range->dev_private_owner) {
			/*
			 * Our own device's page: reported, never faulted. A
			 * device-private PMD (hmm_vma_handle_absent_pmd) gives every
			 * page its frame and the PMD's order.
			 */
			flags = HMM_PFN_VALID | (mm_pte_write(e) ? HMM_PFN_WRITE : 0) |
				((uint64_t)level_order(level) << HMM_PFN_ORDER_SHIFT);
			fill(w, addr, next, pt_leaf_pfn(&pt_format_x86_64_4l, e,
							MM_PAGE_SHIFT + level_order(level), addr) |
					    flags, 1);
			return 0;
		}
	}
	/* Another owner's device page, a migration or exclusive entry: faultable. */
	if (need_fault(w, addr, next, false, false, &write))
		return ask_fault(w, addr, next, write, walk->vma, level);
	/*
	 * Not faulted: 0, the pages may be faulted in later; but another
	 * owner's device-private PMD is ERROR, unlike its PTE form, as 6.19's
	 * hmm_vma_handle_absent_pmd reports it.
	 */
	fill(w, addr, next, level && mm_pte_kind(e) == MM_PTE_DEVICE_PRIVATE ? HMM_PFN_ERROR : 0,
	     0);
	return 0;
}

static int hmm_leaf(uint64_t addr, uint64_t next, pt_entry_t e, unsigned int level,
		    struct mm_walk *walk)
{
	static const unsigned int shift[] = { MM_PAGE_SHIFT, MM_PMD_SHIFT, MM_PUD_SHIFT };
	struct hmm_walk *w = walk->private;
	uint64_t pfn, flags;
	bool write;

	if (mm_pte_kind(e) != MM_PTE_PRESENT && mm_pte_kind(e) != MM_PTE_PROTNONE)
		return hmm_nonpresent(w, addr, next, e, level, walk);
	pfn = pt_leaf_pfn(&pt_format_x86_64_4l, e, shift[level], addr);
	if (mm_pte_kind(e) == MM_PTE_PROTNONE) {
		/* Present but not accessible (NUMA hint): the pfn, no flags. */
		if (need_fault(w, addr, next, false, false, &write))
			return ask_fault(w, addr, next, write, walk->vma, level);
		fill(w, addr, next, pfn, 1);
		return 0;
	}
	/*
	 * One decision for the whole leaf span: any page that needs a fault
	 * faults all of [addr, next).
	 */
	if (need_fault(w, addr, next, true, mm_pte_write(e), &write))
		return ask_fault(w, addr, next, write, walk->vma, level);
	flags = HMM_PFN_VALID | (mm_pte_write(e) ? HMM_PFN_WRITE : 0) |
		((uint64_t)level_order(level) << HMM_PFN_ORDER_SHIFT);
	fill(w, addr, next, pfn | flags, 1);
	return 0;
}

static const struct mm_walk_ops hmm_walk_ops = {
	.test_walk = hmm_test_walk,
	.leaf = hmm_leaf,
	.hole = hmm_hole,
};

/* hmm_vma_fault: a CPU-like fault on every page of the span, then the walk restarts. */
static int hmm_do_fault(struct mm_struct *mm, struct hmm_walk *w)
{
	unsigned int flags = FAULT_FLAG_REMOTE | (w->fault_write ? FAULT_FLAG_WRITE : 0);
	struct vm_area_struct *vma;
	uint64_t addr;
	int err;

	for (addr = w->fault_start; addr < w->fault_end; addr += MM_PAGE_SIZE) {
		vma = vma_lookup(mm, addr);
		if (!vma)
			return -EFAULT;
		err = handle_mm_fault(vma, addr, flags);
		if (err)
			return -EFAULT;	/* VM_FAULT_OOM is a VM_FAULT_ERROR too */
	}
	return 0;
}

HMMSIM_API int hmm_range_fault(struct hmm_range *range)
{
	const uint64_t req_bits = HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE;
	struct hmm_walk w = { .range = range };
	struct mmu_interval_notifier *sub;
	struct mm_struct *mm;
	int ret;

	if (!range || !range->hmm_pfns || !(sub = range->notifier) || !sub->inserted ||
	    !(mm = sub->mm))
		return -EINVAL;
	if (range->start >= range->end || ((range->start | range->end) & (MM_PAGE_SIZE - 1)) ||
	    range->start < sub->start || range->end - 1 > sub->last ||
	    ((range->default_flags | range->pfn_flags_mask) & ~req_bits))
		return -EINVAL;

	w.last = range->start;
	for (;;) {
		if (mmu_interval_check_retry(sub, range->notifier_seq))
			return -EBUSY;
		w.err = 0;
		ret = walk_page_range(mm, w.last, range->end, &hmm_walk_ops, &w);
		if (ret == HMM_WALK_FAULT) {
			ret = hmm_do_fault(mm, &w);
			if (ret)
				return ret;
			continue;
		}
		return w.err ? w.err : ret;
	}
}
