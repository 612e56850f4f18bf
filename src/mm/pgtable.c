// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The CPU page table seen as the kernel's ptep helpers: one leaf at a time,
 * at the level it sits. Context: the mmap_lock, and the mm's ptl or the
 * mmap_lock held for writing.
 */
#include "mm/internal.h"

static const unsigned int level_shift[] = { MM_PAGE_SHIFT, MM_PMD_SHIFT, MM_PUD_SHIFT };

int mm_get_pte(struct mm_struct *mm, uint64_t addr, pt_entry_t *e, unsigned int *level)
{
	int err;

	hmmsim_read_lock();
	err = pt_lookup(mm->pt, addr, e, level);
	hmmsim_read_unlock();
	return err;
}

int mm_set_pte(struct mm_struct *mm, uint64_t addr, unsigned int level, pt_entry_t e)
{
	unsigned int shift = level_shift[level];

	return pt_map(mm->pt, align_down(addr, shift), UINT64_C(1) << shift, shift,
		      pte_for_map(e), 0);
}

void mm_clear_pte(struct mm_struct *mm, uint64_t addr, unsigned int level)
{
	unsigned int shift = level_shift[level];

	pt_unmap(mm->pt, align_down(addr, shift), UINT64_C(1) << shift, 0);
}

void mm_update_pte(struct mm_struct *mm, uint64_t addr, unsigned int level, pt_entry_t set,
		   pt_entry_t clear)
{
	unsigned int shift = level_shift[level];

	pt_protect(mm->pt, align_down(addr, shift), UINT64_C(1) << shift, set, clear & ~set);
}

HMMSIM_API enum mm_pte_kind mm_pte_kind(pt_entry_t pte)
{
	if (!pte)
		return MM_PTE_NONE;
	if (pte_present(pte))
		return (pte & _PAGE_PROTNONE) ? MM_PTE_PROTNONE : MM_PTE_PRESENT;
	switch (pte_swp_type(pte)) {
	case SWP_MIGRATION_READ:
	case SWP_MIGRATION_READ_EXCLUSIVE:
	case SWP_MIGRATION_WRITE:
		return MM_PTE_MIGRATION;
	case SWP_DEVICE_READ:
	case SWP_DEVICE_WRITE:
		return MM_PTE_DEVICE_PRIVATE;
	case SWP_DEVICE_EXCLUSIVE:
		return MM_PTE_DEVICE_EXCLUSIVE;
	default:
		return MM_PTE_NONE;
	}
}

HMMSIM_API uint64_t mm_pte_pfn(pt_entry_t pte)
{
	return pte_pfn(pte);
}

HMMSIM_API bool mm_pte_write(pt_entry_t pte)
{
	if (pte_present(pte))
		return pte & _PAGE_RW;
	return pte_swp_type(pte) == SWP_MIGRATION_WRITE || pte_swp_type(pte) == SWP_DEVICE_WRITE ||
	       pte_swp_type(pte) == SWP_DEVICE_EXCLUSIVE;
}

HMMSIM_API bool mm_pte_special(pt_entry_t pte)
{
	return pte_present(pte) && (pte & _PAGE_SPECIAL);
}

HMMSIM_API bool mm_pte_exclusive(pt_entry_t pte)
{
	return !pte_present(pte) && (pte & _PAGE_SWP_EXCL);
}
