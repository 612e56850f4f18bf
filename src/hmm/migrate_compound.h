/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Compound migration (Linux 6.19's MIGRATE_VMA_SELECT_COMPOUND), shared by
 * migrate.c (the three steps) and migrate_compound.c (what they do with a
 * whole PMD block).
 */
#ifndef HMMSIM_HMM_MIGRATE_COMPOUND_H
#define HMMSIM_HMM_MIGRATE_COMPOUND_H

#include "hmm/migrate.h"

#define MIGRATE_PMD_PAGES	(MM_PMD_SIZE >> MM_PAGE_SHIFT)

/* ---- migrate.c ---------------------------------------------------------- */

/*
 * migrate_vma_check_page: only the collector (and the fault handler, for
 * the faulting folio) holds @folio, and nothing maps it.
 */
bool hmm_migrate_refs_ok(const struct migrate_vma *args, const struct folio *folio);

/* The folio a src or dst word names (VALID), or NULL. */
struct folio *hmm_mpfn_folio(struct mm_struct *mm, uint64_t mpfn);

/* ---- migrate_compound.c ------------------------------------------------- */

/* Does @args take the PMD block at @haddr whole (SELECT_COMPOUND, all of it in the range)? */
bool migrate_compound_block(const struct migrate_vma *args, uint64_t haddr);

/* ...and may a hole there be filled by a 2 MiB destination (a THP-eligible block)? */
bool migrate_compound_hole(const struct migrate_vma *args, uint64_t haddr);

/*
 * migrate_vma_collect_huge_pmd: the PMD leaf @e at @haddr (a THP, or a
 * device-private PMD of the caller's owner) mapping @folio becomes a PMD
 * migration entry; src gets the head frame with MIGRATE and COMPOUND (and
 * WRITE), the other 511 words 0. A folio locked elsewhere or pinned is left
 * in place, its words 0 (a pinned THP is not migrated, nor split).
 * Context: @args's mm's ptl held; released here. Returns the address past
 * the block.
 */
uint64_t migrate_collect_compound(struct migrate_vma *args, uint64_t haddr, pt_entry_t e,
				  struct folio *folio);

/*
 * remove_migration_pmd: the PMD migration entry @e at @haddr of @vma
 * becomes a device-private PMD (@new device-private) or a present PMD THP
 * mapping @new, an order-9 anon folio, with rmap and a reference.
 * Context: the ptl held.
 */
void hmm_install_pmd_from_migration(struct vm_area_struct *vma, uint64_t haddr, pt_entry_t e,
				    struct folio *new);

/*
 * try_to_migrate for a compound source (@folio, the word at @i) that other
 * processes still map: their PMDs become PMD migration entries (recorded
 * as word @i), then their PTEs of each page k (a relative that split its
 * PMD) PTE migration entries (recorded as word @i + k). Best effort: what
 * is left mapped shows in folio_mapped().
 */
void migrate_unmap_compound(struct migrate_vma *args, struct migrate_state **stp, uint64_t i,
			    struct folio *folio);

/*
 * The remote records of the compound source at word @i (frames @old_pfn +
 * k) become entries of @new (frames @new_pfn + k): PMDs where they were
 * PMDs, PTEs where they were PTEs. @forget as migrate_install_remote().
 */
void migrate_install_compound_remote(struct migrate_state *st, uint64_t i, uint64_t old_pfn,
				     struct folio *new, uint64_t new_pfn, bool forget);

/*
 * split_folio of a large device-private @folio that other processes map
 * too (migrate_vma_split_folio): their PMDs of it split, then the folio,
 * while every process that maps it is read-locked. Context: @folio locked
 * and held (its fault handler's hold and lock count); @args's mm's
 * mmap_lock held, no ptl. Returns 0, -EBUSY (a process is busy, or a
 * reference is held elsewhere: retry), -ENOMEM, -EINVAL (not such a folio).
 */
int migrate_split_device_folio(struct migrate_vma *args, struct folio *folio);

/*
 * migrate_vma_pages for the compound source word at @i: a 2 MiB
 * destination takes the folio whole (or fills the hole with a PMD); small
 * destinations split the source (migrate_vma_split_unmapped_folio: the PMD
 * migration entry into 512 PTE ones, the folio into 512 order-0 folios,
 * locked and held by the migration) or the hole, and then every word of the
 * block speaks for itself. Returns the words dealt with: 512, or 0 after
 * such a split (the caller goes on through them one by one). The first
 * hole filled opens the MIGRATE notification (*@range, *@notified).
 */
uint64_t migrate_pages_compound(struct migrate_vma *args, uint64_t i,
				struct mmu_notifier_range *range, bool *notified);

/* The fill notification of migrate_vma_pages: from the first hole at @addr to the end. */
void migrate_notify_fill(struct migrate_vma *args, uint64_t addr, struct mmu_notifier_range *range,
			 bool *notified);

#endif /* HMMSIM_HMM_MIGRATE_COMPOUND_H */
