// SPDX-License-Identifier: LGPL-2.1-or-later
/* mprotect and madvise: changing what VMAs allow and what their entries hold. */
#include "mm/internal.h"

/* PROTECTION_VMA notifications cover at most one top-level (P4D) chunk each. */
#define PROT_CHUNK_SHIFT 39

struct prot_walk {
	struct vm_area_struct *vma;
	struct mmu_notifier_range range;
	bool open;
	uint64_t end;
};

static void prot_notify(struct prot_walk *w, uint64_t va)
{
	uint64_t chunk_end;

	if (w->open && va < w->range.end)
		return;
	if (w->open)
		mmu_notifier_invalidate_range_end(&w->range);
	chunk_end = align_down(va, PROT_CHUNK_SHIFT) + (UINT64_C(1) << PROT_CHUNK_SHIFT);
	mmu_notifier_range_init(&w->range, MMU_NOTIFY_PROTECTION_VMA, w->vma->mm, va,
				chunk_end < w->end ? chunk_end : w->end);
	mmu_notifier_invalidate_range_start(&w->range);
	w->open = true;
}

/* The protection one present leaf gets under its VMA's new flags. */
static int prot_leaf(void *arg, uint64_t va, uint64_t size, pt_entry_t e, unsigned int level)
{
	struct prot_walk *w = arg;
	struct vm_area_struct *vma = w->vma;
	pt_entry_t set = 0, clear = _PAGE_RW | _PAGE_PROTNONE;
	struct folio *folio;

	if (!pte_present(e)) {
		/*
		 * A populated entry of any kind opens the notification (the
		 * kernel's is per populated PMD): a device holding a migrated or
		 * exclusive page must hear of the VMA's new protection.
		 */
		prot_notify(w, va);
		/* A writable device-private entry (PTE or PMD) loses write with the VMA. */
		if (pte_swp_type(e) == SWP_DEVICE_WRITE && !(vma->flags & VM_WRITE)) {
			mm_clear_pte(vma->mm, va, level);
			mm_set_pte(vma->mm, va, level, mk_swp_entry(SWP_DEVICE_READ, pte_pfn(e),
								     e & _PAGE_SWP_EXCL));
		}
		return 0;
	}
	prot_notify(w, va);
	if (!(vma->flags & VM_READ)) {
		set = _PAGE_PROTNONE;
	} else if ((vma->flags & VM_WRITE) && !(e & _PAGE_SPECIAL)) {
		/* can_change_pte_writable: shared, or an exclusive anon page. */
		folio = pfn_folio(vma->mm, pte_pfn(e));
		if ((vma->flags & VM_SHARED) ||
		    (folio && folio_test_anon(folio) &&
		     folio_page_anon_exclusive(folio, level ? 0 : folio_page_idx(folio, pte_pfn(e)))))
			set = _PAGE_RW;
	}
	clear &= ~set;
	if ((e | set) != e || (e & clear))
		mm_update_pte(vma->mm, va, level, set, clear);
	return 0;
}

/*
 * change_protection over [@start, @end) of @vma (already split to it),
 * with the kernel's lazy notification: it starts at the first populated
 * entry, and nothing is sent when nothing is populated.
 */
int change_protection(struct vm_area_struct *vma, uint64_t start, uint64_t end)
{
	static const struct pt_walk_ops ops = { .leaf = prot_leaf };
	struct prot_walk w = { .vma = vma, .end = end };

	pt_walk(vma->mm->pt, start, end - start, &ops, &w);
	if (w.open)
		mmu_notifier_invalidate_range_end(&w.range);
	return 0;
}

static int check_range(struct mm_struct *mm, uint64_t addr, uint64_t *len)
{
	if (!mm || !*len || (addr & (MM_PAGE_SIZE - 1)))
		return -EINVAL;
	*len = round_up_to(*len, MM_PAGE_SIZE);
	if (!*len || addr + *len < addr || addr + *len > MM_TASK_SIZE)
		return -EINVAL;
	return 0;
}

/*
 * Make [@start, @end) whole VMAs. The PMD leaves an edge cuts are split
 * before the VMAs (a failure then leaves no leaf across a VMA edge), after
 * the hugetlb check (a refused range changes nothing).
 */
int isolate_range(struct mm_struct *mm, uint64_t start, uint64_t end)
{
	int err = vma_check_split(mm, start, end);

	if (!err)
		err = split_huge_pmd_edges(mm, start, end);
	return err ? err : vma_split_range(mm, start, end);
}

HMMSIM_API int mm_mprotect(struct mm_struct *mm, uint64_t addr, uint64_t len, unsigned int prot)
{
	struct vm_area_struct *vma;
	uint64_t end;
	size_t i;
	int err;

	err = check_range(mm, addr, &len);
	if (err || (prot & ~(MM_PROT_READ | MM_PROT_WRITE)))
		return err ? err : -EINVAL;
	end = addr + len;
	mmap_write_lock(mm);
	err = range_fully_mapped(mm, addr, end) ? isolate_range(mm, addr, end) : -ENOMEM;
	for (i = vma_index(mm, addr); !err && i < mm->nr_vmas && mm->vmas[i]->start < end; i++) {
		vma = mm->vmas[i];
		vma->flags &= ~(VM_READ | VM_WRITE);
		if (prot)
			vma->flags |= VM_READ;
		if (prot & MM_PROT_WRITE)
			vma->flags |= VM_WRITE;
		change_protection(vma, vma->start, vma->end);
	}
	mmap_write_unlock(mm);
	return err;
}

/*
 * MADV_DONTNEED: zap, keep the VMA and the page tables. CLEAR per VMA. A
 * hugetlb VMA (5.18+) takes whole huge pages from an aligned start; the end
 * is rounded down, so a huge page the range only covers in part is kept
 * (6.1+), and an empty range does nothing, not even notify.
 */
static int madvise_dontneed(struct vm_area_struct *vma, uint64_t start, uint64_t end)
{
	struct mmu_notifier_range range;
	uint64_t hmask;
	int err;

	if (vma_is_hugetlb(vma)) {
		hmask = (UINT64_C(1) << vma->hugetlb_shift) - 1;
		if (!vma->mm->profile->hugetlb_dontneed || (start & hmask))
			return -EINVAL;
		end &= ~hmask;
		if (end <= start)
			return 0;
	}
	mmu_notifier_range_init(&range, MMU_NOTIFY_CLEAR, vma->mm, start, end);
	mmu_notifier_invalidate_range_start(&range);
	err = split_huge_pmd_edges(vma->mm, start, end);
	if (!err)
		zap_vma_range(vma, start, end);
	mmu_notifier_invalidate_range_end(&range);
	if (!err && vma->mm->profile->dontneed_frees_tables)
		pt_unmap(vma->mm->pt, start, end - start, PT_UNMAP_FREE);
	return err;
}

/*
 * MADV_FREE takes private anonymous memory only: not shmem, not files, and
 * not hugetlb, which vma_is_anonymous() here counts (Linux's hugetlb VMAs
 * have vm_ops: madvise_dontneed_free_valid_vma refuses them).
 */
static bool madvise_free_ok(const struct vm_area_struct *vma)
{
	return vma_is_anonymous(vma) && !vma_is_hugetlb(vma);
}

struct free_walk {
	struct mm_struct *mm;
};

/* MADV_FREE on one leaf: clean it (lazyfree); there is no reclaim to take it. */
static int free_leaf(void *arg, uint64_t va, uint64_t size, pt_entry_t e, unsigned int level)
{
	struct free_walk *w = arg;
	struct folio *folio;

	if (!pte_present(e) || (e & _PAGE_SPECIAL))
		return 0;
	folio = pfn_folio(w->mm, pte_pfn(e));
	if (folio && folio_test_anon(folio))
		folio_clear_dirty(folio);
	mm_update_pte(w->mm, va, level, 0, _PAGE_DIRTY);
	return 0;
}

/*
 * MADV_FREE: CLEAR over the range; a THP the range cuts is split (PMD, then
 * the folio when this mm alone maps it, as madvise_free_huge_pmd does).
 */
static int madvise_free(struct vm_area_struct *vma, uint64_t start, uint64_t end)
{
	static const struct pt_walk_ops ops = { .leaf = free_leaf };
	struct free_walk w = { .mm = vma->mm };
	struct mmu_notifier_range range;
	const uint64_t edges[2] = { start, end };
	struct folio *folio;
	unsigned int i, level;
	pt_entry_t e;
	int err;

	if (!madvise_free_ok(vma))
		return -EINVAL;
	mmu_notifier_range_init(&range, MMU_NOTIFY_CLEAR, vma->mm, start, end);
	mmu_notifier_invalidate_range_start(&range);
	err = split_huge_pmd_edges(vma->mm, start, end);
	for (i = 0; !err && i < 2; i++) {
		if (is_aligned(edges[i], MM_PMD_SHIFT) || mm_get_pte(vma->mm, edges[i], &e, &level) ||
		    !pte_present(e) || (e & _PAGE_SPECIAL))
			continue;
		folio = pfn_folio(vma->mm, pte_pfn(e));
		if (!folio || !folio_test_large(folio) || folio_get(folio))
			continue;
		if (folio_trylock(folio)) {
			split_folio(folio);	/* -EBUSY when shared or pinned: left whole */
			folio_unlock(folio);
		}
		folio_put(folio);
	}
	if (!err)
		pt_walk(vma->mm->pt, start, end - start, &ops, &w);
	mmu_notifier_invalidate_range_end(&range);
	return err;
}

/* Would @vma take @advice over its part of [@start, @end)? */
static int madvise_check(struct vm_area_struct *vma, uint64_t start, uint64_t end,
			 enum mm_advice advice)
{
	uint64_t hmask = (UINT64_C(1) << vma->hugetlb_shift) - 1;

	if (advice == MM_MADV_FREE && !madvise_free_ok(vma))
		return -EINVAL;
	/* hugetlb: as madvise_dontneed() (the end is rounded, not refused). */
	if (advice == MM_MADV_DONTNEED && vma_is_hugetlb(vma) &&
	    (!vma->mm->profile->hugetlb_dontneed ||
	     ((start > vma->start ? start : vma->start) & hmask)))
		return -EINVAL;
	return 0;
}

HMMSIM_API int mm_madvise(struct mm_struct *mm, uint64_t addr, uint64_t len,
			  enum mm_advice advice)
{
	struct vm_area_struct *vma;
	uint64_t end, s, e;
	size_t i;
	int err;

	err = check_range(mm, addr, &len);
	if (err || (unsigned int)advice > MM_MADV_NOHUGEPAGE)
		return err ? err : -EINVAL;
	end = addr + len;
	mmap_write_lock(mm);
	err = range_fully_mapped(mm, addr, end) ? 0 : -ENOMEM;
	/* Every VMA must take the advice before any does. */
	for (i = vma_index(mm, addr); !err && i < mm->nr_vmas && mm->vmas[i]->start < end; i++)
		err = madvise_check(mm->vmas[i], addr, end, advice);
	/* A VMA edge inside a PMD leaf splits it (vma_adjust_trans_huge). */
	if (!err && (advice == MM_MADV_HUGEPAGE || advice == MM_MADV_NOHUGEPAGE))
		err = isolate_range(mm, addr, end);
	for (i = vma_index(mm, addr); !err && i < mm->nr_vmas && mm->vmas[i]->start < end; i++) {
		vma = mm->vmas[i];
		s = vma->start > addr ? vma->start : addr;
		e = vma->end < end ? vma->end : end;
		switch (advice) {
		case MM_MADV_DONTNEED:
			err = madvise_dontneed(vma, s, e);
			break;
		case MM_MADV_FREE:
			err = madvise_free(vma, s, e);
			break;
		case MM_MADV_HUGEPAGE:
			vma->flags = (vma->flags & ~VM_NOHUGEPAGE) | VM_HUGEPAGE;
			break;
		case MM_MADV_NOHUGEPAGE:
			vma->flags = (vma->flags & ~VM_HUGEPAGE) | VM_NOHUGEPAGE;
			break;
		}
	}
	mmap_write_unlock(mm);
	return err;
}
