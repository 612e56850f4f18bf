// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Non-present PMD leaves (cpu-mm-spec §1.5; linux-hmm.md §2, §4.3): the
 * device-private PMD entry that maps an order-9 device-private folio whole
 * (Linux 6.19, MIGRATE_VMA_SELECT_COMPOUND), and the PMD migration entry a
 * compound migration leaves while it runs.
 *
 * They are kernel swap-format words at the PMD level: the type in bits
 * 58-62 (SWP_DEVICE_READ / _WRITE, SWP_MIGRATION_*), the head frame, the
 * anon-exclusive bit; the pt engine keeps them as special leaves. A
 * device-private PMD accounts as a present PMD does: one reference, one
 * entire mapping, the head's anon-exclusive bit, 512 pages of anon RSS. A
 * migration entry holds nothing (the migration holds its own reference).
 *
 * What meets them: the CPU fault (fault.c: migration waits; device-private
 * goes to the pgmap's migrate_to_ram through the hmm layer, with the
 * faulting address), zap (zap.c: rmap and reference, page_free through the
 * device pool), split_huge_pmd (here: 512 PTEs of the same kind), fork
 * (here), mprotect (mprotect.c: write dropped), mremap (moved whole when
 * aligned, split otherwise), the walker, mm_dump ('D', 'M') and mm_check.
 */
#include "mm/internal.h"

#define PMD_PAGES	(MM_PMD_SIZE >> MM_PAGE_SHIFT)

int split_nonpresent_pmd(struct mm_struct *mm, uint64_t haddr, pt_entry_t e)
{
	struct folio *folio;
	int err;

	if (!is_device_private_entry(e))
		return pt_split(mm->pt, haddr, 1);	/* migration: nothing accounted */
	folio = pfn_folio(mm, pte_pfn(e));
	if (!folio)
		return pt_split(mm->pt, haddr, 1);
	/*
	 * __split_huge_pmd_locked for a device-private PMD: every page gets a
	 * device-private PTE of the entry's kind, exclusive if the entry was
	 * (the rmap first: it can run out of memory, and is undone alone).
	 */
	err = folio_add_anon_rmap_ptes(folio, 0, PMD_PAGES,
				       (e & _PAGE_SWP_EXCL) ? RMAP_EXCLUSIVE : 0);
	if (err)
		return err;
	err = pt_split(mm->pt, haddr, 1);
	if (err) {
		folio_remove_rmap_ptes(folio, 0, PMD_PAGES);
		return err;
	}
	folio_ref_add(folio, (int)PMD_PAGES - 1);
	folio_remove_rmap_pmd(folio);
	return 0;
}

int copy_device_pmd(struct mm_struct *child, struct vm_area_struct *vma, uint64_t haddr,
		    pt_entry_t e)
{
	struct mm_struct *parent = vma->mm;
	uint64_t pfn = pte_pfn(e);
	struct folio *folio = pfn_folio(parent, pfn);
	pt_entry_t ro = mk_swp_entry(SWP_DEVICE_READ, pfn, false);
	int err;

	if (!folio)
		return 0;
	/* A device-private folio cannot be pinned: the dup never asks for a copy. */
	err = folio_try_dup_anon_rmap_pmd(folio);
	if (err)
		return err;
	err = mm_set_pte(child, haddr, 1, ro);
	if (err) {
		folio_remove_rmap_pmd(folio);
		return err;
	}
	folio_get(folio);
	/* COW: the parent's entry loses write (and the exclusivity it no longer has). */
	if (pte_for_map(e) != ro) {
		mm_clear_pte(parent, haddr, 1);
		mm_set_pte(parent, haddr, 1, ro);
	}
	MM_STAT_ADD(child, rss_anon, PMD_PAGES);
	return 0;
}
