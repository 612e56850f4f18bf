// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Device-exclusive access (make_device_exclusive, mm/rmap.c, 6.15+): the
 * device gets a page for atomics while the CPU's PTE is a device-exclusive
 * entry; the next CPU access restores the PTE (mm's restore_exclusive_pte)
 * and the device learns of it through its notifier.
 *
 * The page is found as GUP with FOLL_WRITE | FOLL_SPLIT_PMD would: a write
 * fault makes it present, writable and exclusive, a PMD leaf is split. The
 * entry keeps the mapping's reference and, from 6.15, its mapcount (the
 * profile's exclusive_mapcount: before, the rmap was dropped, and mm's
 * restore and zap paths follow the same rule).
 */
#include "hmm/internal.h"

/* Faults, splits and races one call may go through before giving up. */
#define EXCLUSIVE_MAX_TRIES	64

/*
 * One attempt: take the page at @addr, present and writable at the PTE
 * level, with a reference. Returns 0 and the folio, 1 (something was done
 * to get there: try again), or a negative errno.
 */
static int get_writable_page(struct vm_area_struct *vma, uint64_t addr, struct folio **out,
			     pt_entry_t *entry)
{
	struct mm_struct *mm = vma->mm;
	struct folio *folio;
	unsigned int level;
	pt_entry_t e;
	int err;

	pthread_mutex_lock(&mm->ptl);
	err = mm_get_pte(mm, addr, &e, &level);
	if (!err && pte_present(e) && (e & _PAGE_RW) && !(e & (_PAGE_SPECIAL | _PAGE_PROTNONE))) {
		if (level) {
			pthread_mutex_unlock(&mm->ptl);
			err = split_huge_pmd(vma, addr);
			return err ? err : 1;
		}
		folio = pfn_folio(mm, pte_pfn(e));
		if (!folio || folio_get(folio)) {
			pthread_mutex_unlock(&mm->ptl);
			return -EFAULT;
		}
		pthread_mutex_unlock(&mm->ptl);
		*out = folio;
		*entry = e;
		return 0;
	}
	pthread_mutex_unlock(&mm->ptl);
	err = handle_mm_fault(vma, addr, FAULT_FLAG_WRITE | FAULT_FLAG_REMOTE);
	return err ? err : 1;
}

HMMSIM_API int make_device_exclusive(struct mm_struct *mm, uint64_t addr, void *owner,
				     struct folio **foliop)
{
	struct mmu_notifier_range range;
	struct vm_area_struct *vma;
	struct folio *folio;
	unsigned int level, tries;
	pt_entry_t e, orig;
	int err;

	if (!mm || !foliop || addr >= MM_TASK_SIZE)
		return -EINVAL;
	addr = align_down(addr, MM_PAGE_SHIFT);
	for (tries = 0; tries < EXCLUSIVE_MAX_TRIES; tries++) {
		vma = vma_lookup(mm, addr);
		if (!vma || !(vma->flags & VM_READ))
			return -EFAULT;
		/* GUP's -EFAULT in the kernel; -EPERM as hmm.h's other write checks. */
		if (!(vma->flags & VM_WRITE))
			return -EPERM;
		/* Only private anonymous pages can be made exclusive (else -EOPNOTSUPP). */
		if (vma_is_hugetlb(vma))
			return -EOPNOTSUPP;
		err = get_writable_page(vma, addr, &folio, &orig);
		if (err == 1)
			continue;
		if (err)
			return err;
		if (!folio_test_anon(folio) || folio_test_hugetlb(folio)) {
			folio_put(folio);
			return -EOPNOTSUPP;
		}
		/* The kernel sleeps on the lock; a driver holding it already would never wake. */
		if (!folio_trylock(folio)) {
			folio_put(folio);
			return -EBUSY;
		}

		mmu_notifier_range_init(&range, MMU_NOTIFY_EXCLUSIVE, mm, addr,
					addr + MM_PAGE_SIZE);
		range.owner = owner;
		mmu_notifier_invalidate_range_start(&range);
		pthread_mutex_lock(&mm->ptl);
		if (mm_get_pte(mm, addr, &e, &level) || level || e != orig) {
			/* Changed since the fault: start over. */
			pthread_mutex_unlock(&mm->ptl);
			mmu_notifier_invalidate_range_end(&range);
			folio_unlock(folio);
			folio_put(folio);
			continue;
		}
		if (e & _PAGE_DIRTY)
			folio_mark_dirty(folio);
		mm_clear_pte(mm, addr, 0);
		err = mm_set_pte(mm, addr, 0,
				 mk_swp_entry(SWP_DEVICE_EXCLUSIVE, pte_pfn(e), false));
		if (err) {
			mm_set_pte(mm, addr, 0, e);
		} else if (!mm->profile->exclusive_mapcount) {
			/* Before 6.15 the entry was no mapping as far as the rmap knew. */
			folio_remove_rmap_pte(folio, folio_page_idx(folio, pte_pfn(e)));
		}
		pthread_mutex_unlock(&mm->ptl);
		mmu_notifier_invalidate_range_end(&range);
		if (err) {
			folio_unlock(folio);
			folio_put(folio);
			return err;
		}
		*foliop = folio;
		return 0;
	}
	return -EBUSY;
}
