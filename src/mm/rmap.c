// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The anonymous reverse map: from a page of an anonymous folio to the
 * entries that map it, in any process of the system (rmap.h says how the
 * linear index makes that possible). Used by migration to unmap a page
 * everywhere (try_to_migrate) and by device eviction to find the mappings
 * of a device page it knows only by pfn.
 */
#include "mm/rmap.h"

bool mm_entry_maps_pfn(pt_entry_t e, unsigned int level, uint64_t addr, uint64_t pfn)
{
	uint64_t first = pte_pfn(e);

	if (pte_present(e)) {
		if (e & _PAGE_SPECIAL)
			return false;
	} else if (!is_migration_entry(e) && !is_device_private_entry(e) &&
		   pte_swp_type(e) != SWP_DEVICE_EXCLUSIVE) {
		return false;
	}
	if (level)
		first += (addr >> MM_PAGE_SHIFT) & ((UINT64_C(1) << (9 * level)) - 1);
	return first == pfn;
}

/*
 * Where the rmap looks: private VMAs, hugetlb left out. (Not only those
 * that have had anonymous pages: vma->anon_vma is set by faults under the
 * ptl, which the walk does not hold; the frame check filters the others.)
 */
static bool vma_has_anon_rmap(const struct vm_area_struct *vma)
{
	return !(vma->flags & VM_SHARED) && !vma_is_hugetlb(vma);
}

int mm_rmap_walk_anon_mm(struct mm_struct *mm, struct folio *folio, uint64_t page,
			 mm_rmap_one_fn one, void *arg)
{
	uint64_t idx = folio->index + page, pfn = folio_pfn(folio) + page, addr;
	struct vm_area_struct *vma;
	unsigned int level;
	pt_entry_t e;
	size_t i;
	int ret;

	for (i = 0; i < mm->nr_vmas; i++) {
		vma = mm->vmas[i];
		if (!vma_has_anon_rmap(vma) || idx < vma->pgoff ||
		    idx - vma->pgoff >= (vma->end - vma->start) >> MM_PAGE_SHIFT)
			continue;
		addr = vma->start + ((idx - vma->pgoff) << MM_PAGE_SHIFT);
		/*
		 * No ptl: the system's list lock may be held, which the fault
		 * path takes under the ptl. The page table is read the way
		 * lock-free walkers read it; @one looks again under the ptl.
		 */
		if (mm_get_pte(mm, addr, &e, &level) || !mm_entry_maps_pfn(e, level, addr, pfn))
			continue;
		ret = one(vma, addr, e, level, arg);
		if (ret)
			return ret;
	}
	return 0;
}

/* Counts the mappings found in one process. */
struct counting {
	const struct mm_rmap_walk_control *rwc;
	unsigned int found;
};

static int count_one(struct vm_area_struct *vma, uint64_t addr, pt_entry_t e,
		     unsigned int level, void *arg)
{
	struct counting *c = arg;
	c->found++;
	return c->rwc->one(vma, addr, e, level, c->rwc->arg);
}

int mm_rmap_walk_anon(struct mm_system *sys, struct folio *folio, uint64_t page,
		      const struct mm_rmap_walk_control *rwc)
{
	struct counting c = { .rwc = rwc };
	bool deferred = false;
	struct mm_struct *mm;
	unsigned int pass;
	int ret = 0;

	if (!sys || !folio || !rwc || !rwc->one || !folio_test_anon(folio) ||
	    page >= folio_nr_pages(folio))
		return -EINVAL;
	pthread_mutex_lock(&sys->lock);
	for (pass = 0; pass < 2 && !ret; pass++) {
		if (pass && !deferred)
			break;
		for (mm = sys->mms; mm && !ret; mm = mm->next) {
			ret = rwc->lock_mm ? rwc->lock_mm(mm, pass, rwc->arg) : 0;
			if (ret == 1 || (ret == -EBUSY && !pass)) {
				deferred |= ret == -EBUSY;
				ret = 0;
				continue;
			}
			if (ret)
				break;
			c.found = 0;
			ret = mm_rmap_walk_anon_mm(mm, folio, page, count_one, &c);
			if (rwc->unlock_mm)
				rwc->unlock_mm(mm, c.found, rwc->arg);
		}
	}
	pthread_mutex_unlock(&sys->lock);
	return ret;
}

bool mm_rmap_index_ok(const struct vm_area_struct *vma, uint64_t addr,
		      const struct folio *folio, uint64_t page)
{
	if (!folio_test_anon(folio) || !vma_has_anon_rmap(vma))
		return true;
	return folio->index + page == vma_pgoff_of(vma, addr);
}
