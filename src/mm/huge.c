// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Transparent huge pages at the PMD level (mm/huge_memory.c): the THP and
 * huge-zero faults, the write fault on a PMD, split_huge_pmd (which changes
 * only the page table: the folio stays compound), and the deferred-split
 * bookkeeping. There is no anonymous PUD THP, as in Linux.
 */
#include <stdlib.h>

#include "mm/internal.h"
#include "base/alloc.h"

#define FAULT_FALLBACK	1

bool thp_eligible(struct vm_area_struct *vma, uint64_t addr)
{
	uint64_t haddr = align_down(addr, MM_PMD_SHIFT);

	if (!vma_is_anonymous(vma) || vma_is_hugetlb(vma))
		return false;
	switch (mm_system_thp(vma->mm->sys)) {
	case MM_THP_NEVER:
		return false;
	case MM_THP_MADVISE:
		if (!(vma->flags & VM_HUGEPAGE))
			return false;
		break;
	case MM_THP_ALWAYS:
		if (vma->flags & VM_NOHUGEPAGE)
			return false;
		break;
	}
	/*
	 * The block inside the VMA. Anonymous VMAs skip the offset congruence
	 * file VMAs need (thp_vma_suitable_order), so one moved by an
	 * unaligned mremap still gets THPs, as Linux 6.18 shows.
	 */
	return haddr >= vma->start && haddr + MM_PMD_SIZE <= vma->end;
}

/* The huge zero folio, with the one reference an mm holds while it uses it. */
int mm_get_huge_zero(struct mm_struct *mm, struct folio **out)
{
	if (!mm->huge_zero) {
		mm->huge_zero = phys_huge_zero_folio_get(mm->sys->pool);
		if (!mm->huge_zero)
			return -ENOMEM;
	}
	*out = mm->huge_zero;
	return 0;
}

void mm_put_huge_zero(struct mm_struct *mm)
{
	if (mm->huge_zero)
		folio_put(mm->huge_zero);
	mm->huge_zero = NULL;
}

/* A large anon folio some of whose pages just lost their last mapping. */
void folio_note_partial_unmap(struct mm_struct *mm, struct folio *folio)
{
	/* Device-private folios are never queued (6.19's deferred_split_folio). */
	if (!folio_test_large(folio) || !folio_test_anon(folio) || folio_test_hugetlb(folio) ||
	    folio_is_zone_device(folio) || folio_entire_mapcount(folio) || !folio_mapped(folio) ||
	    (uint64_t)folio_nr_pages_mapped(folio) == folio_nr_pages(folio) ||
	    (folio_flags(folio) & FOLIO_DEFERRED_SPLIT))
		return;
	pthread_mutex_lock(&mm->sys->lock);
	if (mm->sys->nr_deferred == mm->sys->cap_deferred) {
		size_t cap = mm->sys->cap_deferred ? 2 * mm->sys->cap_deferred : 64;
		struct deferred *d = hs_realloc(mm->sys->deferred, cap * sizeof(*d));

		if (!d) {
			/* Not queued: it is split when freed, as without the shrinker. */
			pthread_mutex_unlock(&mm->sys->lock);
			return;
		}
		mm->sys->deferred = d;
		mm->sys->cap_deferred = cap;
	}
	mm->sys->deferred[mm->sys->nr_deferred].folio = folio;
	mm->sys->deferred[mm->sys->nr_deferred++].pfn = folio_pfn(folio);
	pthread_mutex_unlock(&mm->sys->lock);
	folio_set_flags(folio, FOLIO_DEFERRED_SPLIT);
	MM_STAT_INC(mm, deferred_split);
}

/*
 * deferred_split_scan: split the queued folios that can be split (no PMD
 * maps them, no unexpected reference). The queue holds no reference: a
 * folio freed meanwhile fails the speculative get or the pfn check.
 * hmmsim keeps the mappings in place while splitting (the pages do not
 * move), so no mirror is invalidated.
 */
HMMSIM_API int64_t mm_system_shrink(struct mm_system *sys)
{
	struct deferred *q;
	size_t n, i;
	int64_t split = 0;

	pthread_mutex_lock(&sys->lock);
	q = sys->deferred;
	n = sys->nr_deferred;
	sys->deferred = NULL;
	sys->nr_deferred = sys->cap_deferred = 0;
	pthread_mutex_unlock(&sys->lock);
	for (i = 0; i < n; i++) {
		struct folio *folio = q[i].folio;

		if (!folio_try_get(folio))
			continue;
		if (folio_pfn(folio) == q[i].pfn && folio_test_large(folio) &&
		    (folio_flags(folio) & FOLIO_DEFERRED_SPLIT) && folio_trylock(folio)) {
			folio_clear_flags(folio, FOLIO_DEFERRED_SPLIT);
			if (!split_folio(folio))
				split++;
			folio_unlock(folio);
		}
		folio_put(folio);
	}
	free(q);
	return split;
}

/* Is the PMD slot of @addr still empty (no leaf, no PTE table)? Under the ptl. */
static bool pmd_none(struct mm_struct *mm, uint64_t addr)
{
	unsigned int level;
	pt_entry_t e;

	return mm_get_pte(mm, addr, &e, &level) == -ENOENT && level >= 1;
}

/*
 * An anonymous fault on an empty PMD of a THP-eligible block: the huge zero
 * PMD for a read, a new THP for a write. Returns 0, -EAGAIN (raced: retry),
 * or FAULT_FALLBACK (no huge page: use PTEs).
 */
int do_huge_pmd_anonymous_page(struct vm_area_struct *vma, uint64_t addr, unsigned int flags)
{
	struct mm_struct *mm = vma->mm;
	pt_entry_t prot = _PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED;
	struct folio *folio;
	int err;

	if (!(flags & FAULT_FLAG_WRITE)) {
		pthread_mutex_lock(&mm->ptl);
		err = mm_get_huge_zero(mm, &folio);
		if (!err && pmd_none(mm, addr)) {
			err = mm_set_pte(mm, addr, 1, mk_pte(folio_pfn(folio), prot | _PAGE_SPECIAL));
			if (!err) {
				vma->anon_vma = true;
				MM_STAT_INC(mm, huge_zero_page);
			}
			pthread_mutex_unlock(&mm->ptl);
			return err ? err : 0;
		}
		pthread_mutex_unlock(&mm->ptl);
		if (!err)
			return -EAGAIN;
		/* No huge zero folio: allocate a THP as for a write. */
	}

	folio = folio_alloc(mm->sys->pool, PHYS_PMD_ORDER, FOLIO_ALLOC_ZERO);
	if (!folio) {
		MM_STAT_INC(mm, thp_fault_fallback);
		return FAULT_FALLBACK;
	}
	pthread_mutex_lock(&mm->ptl);
	if (!pmd_none(mm, addr)) {
		pthread_mutex_unlock(&mm->ptl);
		folio_put(folio);
		return -EAGAIN;
	}
	if (vma->flags & VM_WRITE)
		prot |= _PAGE_RW;
	folio->index = vma_pgoff_of(vma, align_down(addr, MM_PMD_SHIFT));	/* for the rmap */
	err = folio_add_new_anon_rmap(folio, RMAP_EXCLUSIVE);
	if (!err)
		err = mm_set_pte(mm, addr, 1, mk_pte(folio_pfn(folio), prot | _PAGE_DIRTY));
	if (err) {
		pthread_mutex_unlock(&mm->ptl);
		folio_remove_rmap_pmd(folio);
		folio_put(folio);
		return err;
	}
	vma->anon_vma = true;
	MM_STAT_INC(mm, thp_fault_alloc);
	MM_STAT_ADD(mm, rss_anon, MM_PMD_SIZE >> MM_PAGE_SHIFT);
	pthread_mutex_unlock(&mm->ptl);
	return 0;
}

/*
 * split_huge_pmd: the PMD leaf covering @addr becomes a PTE table mapping
 * the same pages (an anon THP stays one compound folio, +511 references,
 * each page PTE-mapped and as exclusive as the head was; the huge zero PMD
 * becomes 512 zero-page PTEs; a device-private PMD 512 device-private PTEs
 * over its folio, a PMD migration entry 512 PTE ones). CLEAR over the 2 MiB
 * block, even nested.
 * Context: mmap_lock held; takes the ptl. Returns 0 (also when there was
 * nothing to split), -ENOMEM.
 */
int split_huge_pmd(struct vm_area_struct *vma, uint64_t addr)
{
	struct mm_struct *mm = vma->mm;
	uint64_t haddr = align_down(addr, MM_PMD_SHIFT), i;
	struct mmu_notifier_range range;
	struct folio *folio;
	unsigned int level;
	pt_entry_t e, zero;
	int err = 0;
	bool excl;

	if (mm_get_pte(mm, haddr, &e, &level) || level != 1 || vma_is_hugetlb(vma))
		return 0;
	mmu_notifier_range_init(&range, MMU_NOTIFY_CLEAR, mm, haddr, haddr + MM_PMD_SIZE);
	mmu_notifier_invalidate_range_start(&range);
	pthread_mutex_lock(&mm->ptl);
	if (mm_get_pte(mm, haddr, &e, &level) || level != 1)
		goto unlock;
	if (e & _PAGE_SPECIAL) {
		/*
		 * Not subpages of the huge zero folio: the 4 KiB zero page, with
		 * the PMD's protection (PROT_NONE stays inaccessible).
		 */
		zero = mk_pte(folio_pfn(phys_zero_folio(mm->sys->pool)),
			      _PAGE_PRESENT | _PAGE_USER | _PAGE_SPECIAL |
			      (e & (_PAGE_ACCESSED | _PAGE_PROTNONE)));
		mm_clear_pte(mm, haddr, 1);
		for (i = 0; i < MM_PMD_SIZE; i += MM_PAGE_SIZE) {
			err = mm_set_pte(mm, haddr + i, 0, zero);
			if (err)
				break;
		}
		if (err)	/* leave the block empty: it refaults */
			pt_unmap(mm->pt, haddr, MM_PMD_SIZE, 0);
	} else if (pte_present(e)) {
		/* Both steps that can run out of memory first, undone in turn. */
		folio = pfn_folio(mm, pte_pfn(e));
		excl = folio_page_anon_exclusive(folio, 0);
		err = folio_add_anon_rmap_ptes(folio, 0, MM_PMD_SIZE >> MM_PAGE_SHIFT,
					       excl ? RMAP_EXCLUSIVE : 0);
		if (err)
			goto unlock;
		err = pt_split(mm->pt, haddr, 1);
		if (err) {
			folio_remove_rmap_ptes(folio, 0, MM_PMD_SIZE >> MM_PAGE_SHIFT);
			goto unlock;
		}
		folio_ref_add(folio, (int)(MM_PMD_SIZE >> MM_PAGE_SHIFT) - 1);
		folio_remove_rmap_pmd(folio);
		if (e & _PAGE_DIRTY)
			folio_mark_dirty(folio);
	} else {
		/* A device-private PMD (512 device PTEs) or a PMD migration entry. */
		err = split_nonpresent_pmd(mm, haddr, e);
	}
	if (!err)
		MM_STAT_INC(mm, thp_split_pmd);
unlock:
	pthread_mutex_unlock(&mm->ptl);
	mmu_notifier_invalidate_range_end(&range);
	return err;
}

/* Split the PMD leaves that [@start, @end) cuts through (a VMA edge inside a 2 MiB block). */
int split_huge_pmd_edges(struct mm_struct *mm, uint64_t start, uint64_t end)
{
	const uint64_t edges[2] = { start, end };
	struct vm_area_struct *vma;
	unsigned int i;
	int err;

	for (i = 0; i < 2; i++) {
		if (is_aligned(edges[i], MM_PMD_SHIFT))
			continue;
		vma = vma_lookup(mm, edges[i]);
		if (!vma || vma_is_hugetlb(vma))
			continue;
		err = split_huge_pmd(vma, edges[i]);
		if (err)
			return err;
	}
	return 0;
}

/* Replace the PMD at @haddr (still @orig) by a new THP; the caller notified. */
static int replace_pmd(struct vm_area_struct *vma, uint64_t haddr, pt_entry_t orig,
		       struct folio *new)
{
	struct mm_struct *mm = vma->mm;
	unsigned int level;
	pt_entry_t e;

	if (mm_get_pte(mm, haddr, &e, &level) || level != 1 || e != orig)
		return -EAGAIN;
	mm_clear_pte(mm, haddr, 1);
	new->index = vma_pgoff_of(vma, haddr);
	folio_add_new_anon_rmap(new, RMAP_EXCLUSIVE);
	mm_set_pte(mm, haddr, 1, mk_pte(folio_pfn(new), _PAGE_PRESENT | _PAGE_USER | _PAGE_RW |
					_PAGE_DIRTY | _PAGE_ACCESSED));
	return 0;
}

/*
 * A write to a read-only PMD leaf (do_huge_pmd_wp_page): the huge zero PMD
 * is replaced by a THP (6.13+) or split; an exclusive THP is reused in
 * place; a shared one is split so that the PTE-level fault copies one 4 KiB
 * page (5.8+), or copied whole (5.7). Returns 0 or -EAGAIN (retry the fault,
 * now at the PTE level), -ENOMEM.
 */
int do_huge_pmd_wp_page(struct vm_area_struct *vma, uint64_t addr, pt_entry_t pmd,
			unsigned int flags)
{
	struct mm_struct *mm = vma->mm;
	const struct mm_profile *prof = mm->profile;
	uint64_t haddr = align_down(addr, MM_PMD_SHIFT);
	struct mmu_notifier_range range;
	struct folio *folio = NULL, *new;
	bool zero = pmd & _PAGE_SPECIAL;
	int err;

	if (!zero) {
		folio = pfn_folio(mm, pte_pfn(pmd));
		pthread_mutex_lock(&mm->ptl);
		if (folio_page_anon_exclusive(folio, 0) ||
		    (folio_ref_count(folio) == 1 && !folio_maybe_dma_pinned(folio))) {
			folio_set_page_anon_exclusive(folio, 0);
			mm_update_pte(mm, haddr, 1, _PAGE_RW | _PAGE_DIRTY | _PAGE_ACCESSED, 0);
			MM_STAT_INC(mm, cow_reuse);
			pthread_mutex_unlock(&mm->ptl);
			return 0;
		}
		pthread_mutex_unlock(&mm->ptl);
	}
	if (zero ? prof->huge_zero_wp_thp : prof->thp_cow_copy_huge) {
		new = folio_alloc(mm->sys->pool, PHYS_PMD_ORDER, zero ? FOLIO_ALLOC_ZERO : 0);
		if (new) {
			if (folio)
				folio_copy(new, folio);
			mmu_notifier_range_init(&range, MMU_NOTIFY_CLEAR, mm, haddr,
						haddr + MM_PMD_SIZE);
			mmu_notifier_invalidate_range_start(&range);
			pthread_mutex_lock(&mm->ptl);
			err = replace_pmd(vma, haddr, pmd, new);
			if (!err && folio)
				folio_remove_rmap_pmd(folio);
			pthread_mutex_unlock(&mm->ptl);
			mmu_notifier_invalidate_range_end(&range);
			if (err) {
				folio_put(new);
				return err;
			}
			if (folio)
				folio_put(folio);
			MM_STAT_INC(mm, cow_copy);
			MM_STAT_INC(mm, thp_fault_alloc);
			if (zero)
				MM_STAT_ADD(mm, rss_anon, MM_PMD_SIZE >> MM_PAGE_SHIFT);
			return 0;
		}
		MM_STAT_INC(mm, thp_fault_fallback);
	}
	/* Split, and let the PTE-level fault copy (or reuse) the one page. */
	err = split_huge_pmd(vma, haddr);
	return err ? err : -EAGAIN;
}
