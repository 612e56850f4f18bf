// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * hugetlb: VMAs backed by a pool of preallocated 2 MiB or 1 GiB pages,
 * mapped by PMD or PUD leaves, never split, copied whole on a COW fault.
 * The mapper of a region reserves its pages at mmap time, so its faults
 * cannot fail for lack of pool. A private mapping's reservations are the
 * VMA's (vma->resv; a forked child has none); a shared mapping's are its
 * file's, per file offset (the inode's resv_map): every mapping of the
 * page, a fork child's included, faults it in with the reservation, which
 * stays with the file until truncation or release.
 */
#include "mm/internal.h"

static unsigned int hugetlb_order(const struct vm_area_struct *vma)
{
	return vma->hugetlb_shift - MM_PAGE_SHIFT;
}

static unsigned int hugetlb_level(const struct vm_area_struct *vma)
{
	return vma->hugetlb_shift == MM_PUD_SHIFT ? 2 : 1;
}

int hugetlb_reserve(struct vm_area_struct *vma)
{
	uint64_t n = (vma->end - vma->start) >> vma->hugetlb_shift;
	int err;

	/* Shared: the file reserves what no mapping of it has reserved yet. */
	if (vma->flags & VM_SHARED)
		return phys_file_reserve(vma->file, vma->pgoff << MM_PAGE_SHIFT,
					 vma->end - vma->start);
	err = phys_hugetlb_reserve(vma->mm->sys->hugetlb, hugetlb_order(vma), n);
	if (!err)
		vma->resv = n;
	return err ? -ENOMEM : 0;
}

/* Huge pages of [@start, @end) of @vma not faulted in yet. */
uint64_t hugetlb_unfaulted(struct vm_area_struct *vma, uint64_t start, uint64_t end)
{
	uint64_t addr, n = 0;
	unsigned int level;
	pt_entry_t e;

	for (addr = start; addr < end; addr += UINT64_C(1) << vma->hugetlb_shift)
		if (mm_get_pte(vma->mm, addr, &e, &level))
			n++;
	return n;
}

/* Give back the reservations @vma still holds (it is going away). */
void hugetlb_unreserve(struct vm_area_struct *vma)
{
	if (vma_is_hugetlb(vma) && vma->resv)
		phys_hugetlb_unreserve(vma->mm->sys->hugetlb, hugetlb_order(vma), vma->resv);
	vma->resv = 0;
}

static int hugetlb_add_rmap(struct vm_area_struct *vma, struct folio *folio, bool new_anon)
{
	unsigned int flags = new_anon ? RMAP_EXCLUSIVE : 0;
	int err = 0;

	if (vma->flags & VM_SHARED)
		return hugetlb_level(vma) == 2 ? folio_add_file_rmap_pud(folio) :
						 folio_add_file_rmap_pmd(folio);
	if (new_anon)
		err = folio_set_anon(folio);
	if (!err)
		err = hugetlb_level(vma) == 2 ? folio_add_anon_rmap_pud(folio, flags) :
						folio_add_anon_rmap_pmd(folio, flags);
	return err;
}

static void hugetlb_remove_rmap(struct vm_area_struct *vma, struct folio *folio)
{
	if (hugetlb_level(vma) == 2)
		folio_remove_rmap_pud(folio);
	else
		folio_remove_rmap_pmd(folio);
}

/* A missing huge page: from the pool (private) or the hugetlbfs file (shared). */
static int hugetlb_no_page(struct vm_area_struct *vma, uint64_t haddr, unsigned int flags)
{
	struct mm_struct *mm = vma->mm;
	pt_entry_t prot = _PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED | _PAGE_DIRTY;
	struct folio *folio;
	int err;

	if (vma->flags & VM_SHARED) {
		/* A reserved page consumes the file's reservation of it. */
		err = phys_file_get_folio(vma->file, vma_pgoff_of(vma, haddr),
					  PHYS_FGP_CREAT, &folio);
		if (err)
			return err == -ENOMEM ? -ENOMEM : -EFAULT;
	} else {
		/*
		 * The mapper's faults consume its reservations; a fork child, or
		 * a page refaulted after MADV_DONTNEED once they are used up,
		 * takes what the pool has left.
		 */
		folio = phys_hugetlb_alloc(mm->sys->hugetlb, hugetlb_order(vma), PHYS_HUGETLB_ZERO |
					   (vma->resv ? PHYS_HUGETLB_RESERVED : 0));
		if (!folio)
			return -ENOMEM;
		if (vma->resv)
			vma->resv--;
	}
	if (vma->flags & VM_WRITE)
		prot |= _PAGE_RW;
	err = hugetlb_add_rmap(vma, folio, !(vma->flags & VM_SHARED));
	if (!err)
		err = mm_set_pte(mm, haddr, hugetlb_level(vma), mk_pte(folio_pfn(folio), prot));
	if (err) {
		hugetlb_remove_rmap(vma, folio);
		folio_put(folio);
		return err;
	}
	if (!(vma->flags & VM_SHARED))
		vma->anon_vma = true;
	MM_STAT_ADD(mm, rss_anon, folio_nr_pages(folio));
	return 0;
}

/* A write to a read-only private huge page: reuse, or copy all of it (hugetlb_wp). */
static int hugetlb_wp(struct vm_area_struct *vma, uint64_t haddr, pt_entry_t orig)
{
	struct mm_struct *mm = vma->mm;
	unsigned int level = hugetlb_level(vma), l;
	uint64_t size = UINT64_C(1) << vma->hugetlb_shift;
	struct folio *old = pfn_folio(mm, pte_pfn(orig)), *new;
	struct mmu_notifier_range range;
	pt_entry_t e;

	if ((vma->flags & VM_SHARED) || folio_page_anon_exclusive(old, 0) ||
	    (folio_ref_count(old) == 1 && !folio_maybe_dma_pinned(old))) {
		if (!(vma->flags & VM_SHARED))
			folio_set_page_anon_exclusive(old, 0);
		mm_update_pte(mm, haddr, level, _PAGE_RW | _PAGE_DIRTY | _PAGE_ACCESSED, 0);
		MM_STAT_INC(mm, cow_reuse);
		return 0;
	}
	new = phys_hugetlb_alloc(mm->sys->hugetlb, hugetlb_order(vma), 0);
	if (!new)
		return -ENOMEM;
	folio_copy(new, old);
	mmu_notifier_range_init(&range, MMU_NOTIFY_CLEAR, mm, haddr, haddr + size);
	pthread_mutex_unlock(&mm->ptl);
	mmu_notifier_invalidate_range_start(&range);
	pthread_mutex_lock(&mm->ptl);
	if (mm_get_pte(mm, haddr, &e, &l) || e != orig) {
		pthread_mutex_unlock(&mm->ptl);
		mmu_notifier_invalidate_range_end(&range);
		pthread_mutex_lock(&mm->ptl);
		folio_put(new);
		return -EAGAIN;
	}
	mm_clear_pte(mm, haddr, level);
	hugetlb_add_rmap(vma, new, true);
	mm_set_pte(mm, haddr, level, mk_pte(folio_pfn(new), _PAGE_PRESENT | _PAGE_USER | _PAGE_RW |
					    _PAGE_DIRTY | _PAGE_ACCESSED));
	hugetlb_remove_rmap(vma, old);
	pthread_mutex_unlock(&mm->ptl);
	mmu_notifier_invalidate_range_end(&range);
	folio_put(old);
	MM_STAT_INC(mm, cow_copy);
	pthread_mutex_lock(&mm->ptl);
	return 0;
}

int hugetlb_fault(struct vm_area_struct *vma, uint64_t addr, unsigned int flags)
{
	struct mm_struct *mm = vma->mm;
	uint64_t haddr = align_down(addr, vma->hugetlb_shift);
	unsigned int level;
	pt_entry_t e;
	int err;

	MM_STAT_INC(mm, hugetlb_faults);
	pthread_mutex_lock(&mm->ptl);
	do {
		err = mm_get_pte(mm, haddr, &e, &level);
		if (err == -ENOENT)
			err = hugetlb_no_page(vma, haddr, flags);
		else if (!pte_present(e))
			err = -EFAULT;
		else if ((flags & FAULT_FLAG_WRITE) && !(e & _PAGE_RW))
			err = hugetlb_wp(vma, haddr, e);
		else
			pt_test_and_set_bits(mm->pt, addr, _PAGE_ACCESSED |
					     ((flags & FAULT_FLAG_WRITE) ? _PAGE_DIRTY : 0));
	} while (err == -EAGAIN);
	pthread_mutex_unlock(&mm->ptl);
	return err;
}
