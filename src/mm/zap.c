// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Zapping: removing the leaves of a range with their accounting
 * (zap_pte_range, zap_huge_pmd). The caller has split the PMD leaves that
 * straddle the range and opened the notifier; references are dropped only
 * after the entries are gone, as the kernel drops them after the TLB flush.
 */
#include "mm/internal.h"

#define ZAP_BATCH 512

struct zap_batch {
	struct mm_struct *mm;
	const struct vm_area_struct *vma;
	unsigned int n;
	struct folio *folio[ZAP_BATCH];
};

static void rss_sub(struct mm_struct *mm, const struct vm_area_struct *vma, uint64_t pages,
		    const struct folio *folio)
{
	if (folio_test_anon(folio) || (vma->flags & VM_ANON))
		MM_STAT_SUB(mm, rss_anon, pages);
	else
		MM_STAT_SUB(mm, rss_file, pages);
}

/* Take down the mapping accounting of one leaf; its reference goes later. */
static int zap_leaf(void *arg, uint64_t va, uint64_t size, pt_entry_t e, unsigned int level)
{
	struct zap_batch *z = arg;
	struct folio *folio;

	if (pte_present(e) && (e & _PAGE_SPECIAL))
		return 0;	/* the zero pages: nothing to account */
	if (!pte_present(e) && pte_swp_type(e) != SWP_DEVICE_READ &&
	    pte_swp_type(e) != SWP_DEVICE_WRITE && pte_swp_type(e) != SWP_DEVICE_EXCLUSIVE)
		return 0;	/* migration entries hold nothing */
	folio = pfn_folio(z->mm, pte_pfn(e));
	if (!folio)
		return 0;
	if (level == 0) {
		if (pte_swp_type(e) != SWP_DEVICE_EXCLUSIVE || z->mm->profile->exclusive_mapcount)
			folio_remove_rmap_pte(folio, folio_page_idx(folio, pte_pfn(e)));
		rss_sub(z->mm, z->vma, 1, folio);
	} else {
		if (level == 1)
			folio_remove_rmap_pmd(folio);
		else
			folio_remove_rmap_pud(folio);
		rss_sub(z->mm, z->vma, size >> MM_PAGE_SHIFT, folio);
	}
	z->folio[z->n++] = folio;
	return 0;
}

static void zap_flush(struct zap_batch *z)
{
	unsigned int i;

	for (i = 0; i < z->n; i++)
		folio_note_partial_unmap(z->mm, z->folio[i]);
	for (i = 0; i < z->n; i++)
		folio_put(z->folio[i]);
	z->n = 0;
}

/*
 * Unmap the leaves of [@start, @end) in @vma. Directories stay (the
 * caller frees page tables where the VMA goes away).
 * Context: mmap_lock held for writing, or for reading with the ptl.
 */
void zap_vma_range(struct vm_area_struct *vma, uint64_t start, uint64_t end)
{
	static const struct pt_walk_ops ops = { .leaf = zap_leaf };
	struct zap_batch z = { .mm = vma->mm, .vma = vma };
	unsigned int chunk_shift = vma->hugetlb_shift > MM_PMD_SHIFT ? vma->hugetlb_shift :
								       MM_PMD_SHIFT;
	uint64_t at, next;

	/* A chunk holds at most ZAP_BATCH leaves: one PTE table's worth. */
	for (at = start; at < end; at = next) {
		next = align_down(at, chunk_shift) + (UINT64_C(1) << chunk_shift);
		if (next > end)
			next = end;
		pt_walk(vma->mm->pt, at, next - at, &ops, &z);
		pt_unmap(vma->mm->pt, at, next - at, 0);
		zap_flush(&z);
	}
}
