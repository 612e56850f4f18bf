/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Internals shared by the migration files of src/hmm/: migrate.c
 * (migrate_vma_*), migrate_remote.c (the mappings of a page in other
 * processes, found by the anon rmap, and the state that records them),
 * migrate_device.c (eviction by pfn).
 */
#ifndef HMMSIM_HMM_MIGRATE_H
#define HMMSIM_HMM_MIGRATE_H

#include "hmm/internal.h"

/* The bits of a present PTE a migration entry carries back (young, dirty, soft-dirty). */
#define MIGRATION_KEEP	(_PAGE_ACCESSED | _PAGE_DIRTY | _PAGE_SOFT_DIRTY)

/* ---- migrate.c: entries ------------------------------------------------ */

/* Does @e map frame @pfn with a page a migration may take (a PTE, not the zero page)? */
bool hmm_entry_maps(pt_entry_t e, uint64_t pfn);

/* Is @e (a present PTE or a device-private entry) writable? */
bool hmm_entry_writable(pt_entry_t e);

/* Replace the PTE at @addr (the caller checked it is @old) by @e. Context: the ptl held. */
int hmm_replace_pte(struct mm_struct *mm, uint64_t addr, pt_entry_t old, pt_entry_t e);

/*
 * Replace @e, a present PTE or device-private entry of page @page of
 * @folio at @addr, by a migration entry (write, read-exclusive or read).
 * The rmap goes; the mapping's reference is the caller's to drop. Returns
 * 0, -EBUSY (an anon-exclusive page that may be pinned), or the table's
 * error. Context: @mm's ptl held.
 */
int hmm_unmap_to_migration(struct mm_struct *mm, uint64_t addr, pt_entry_t e,
			   struct folio *folio, uint64_t page);

/*
 * migrate_compound.c: set_pmd_migration_entry: the PMD leaf @e at @haddr
 * (a present THP or a device-private PMD of the order-9 @folio) becomes a
 * PMD migration entry (write, read-exclusive or read, young and dirty
 * carried); the rmap goes, the mapping's reference is the caller's to
 * drop. Returns 0, -EBUSY (an exclusive folio that may be pinned),
 * -ENOMEM. Context: @mm's ptl held.
 */
int hmm_unmap_pmd_to_migration(struct mm_struct *mm, uint64_t haddr, pt_entry_t e,
			       struct folio *folio);

/*
 * The migration entry for frame @old_pfn at @addr of @mm becomes an entry
 * for frame @new_pfn of @new (device-private or present), with rmap and a
 * reference for the mapping; nothing happens if @addr holds anything else.
 * Context: @mm's mmap_lock held; takes its ptl.
 */
void hmm_install_from_migration(struct mm_struct *mm, uint64_t addr, uint64_t old_pfn,
				struct folio *new, uint64_t new_pfn);

/* ---- migrate_remote.c: mappings in other processes --------------------- */

/*
 * What one migration (a migrate_vma, or a device eviction's src array:
 * the key) replaced by migration entries, process by process, from setup
 * to finalize, and which processes' mmap_locks it holds for reading.
 */
struct migrate_state;

/* The state of @key (created if @create and none exists), or NULL. */
struct migrate_state *migrate_state_find(const void *key, bool create);

/* Forget @st (NULL is fine): unlock the processes it holds and free it. */
void migrate_state_release(struct migrate_state *st);

/* Let go of the processes @st holds for nothing. */
void migrate_state_unlock_idle(struct migrate_state *st);

/* migrate_state_unlock_idle(), and release @st if it records nothing. */
void migrate_state_trim(struct migrate_state *st);

/* The system a state's pages belong to (set before the first unmap). */
void migrate_state_set_sys(struct migrate_state *st, struct mm_system *sys);
struct mm_system *migrate_state_sys(const struct migrate_state *st);

/* The length of a device eviction's src array (migrate_device.c). */
void migrate_state_set_npages(struct migrate_state *st, uint64_t npages);
uint64_t migrate_state_npages(const struct migrate_state *st);

/*
 * try_to_migrate: every mapping of frame @pfn of @folio (page @idx of
 * the migration) the rmap finds (mm_rmap_walk_anon) becomes a migration
 * entry, recorded in @st, whose processes stay read-locked. @self is a
 * process whose mmap_lock the caller holds (not locked again), or NULL.
 * Best effort: a process that stays busy, a mapping the walk cannot take,
 * or memory running out leaves the page mapped, which the caller sees in
 * folio_mapped(). Context: the folio locked and referenced; no ptl.
 */
void migrate_unmap_pfn(struct migrate_state *st, struct mm_struct *self, uint64_t idx,
		       struct folio *folio, uint64_t pfn);

/*
 * The PMD mappings (device-private PMD entries) of the large @folio, found
 * by the rmap, are split into PTEs (split_huge_pmd), their processes kept
 * read-locked in @st. Returns 0 when no PMD maps the folio any more,
 * -EBUSY (a process stayed busy, or a PMD came back), -ENOMEM.
 * Context: the folio locked and referenced; no ptl, no mmap_lock.
 */
int migrate_split_device_pmds(struct migrate_state *st, struct folio *folio);

/*
 * migrate_unmap_pfn() for migrate_vma: the page collected at @addr of
 * @args's VMA, whose mappings elsewhere (in any process, at any address)
 * go; the state is *@stp, created on first use.
 */
void migrate_unmap_remote(struct migrate_vma *args, struct migrate_state **stp, uint64_t idx,
			  uint64_t addr, struct folio *folio, uint64_t pfn);

/*
 * migrate_unmap_remote() for a compound source (migrate_compound.c): the
 * PMD mappings of the order-9 @folio in other processes (a THP or a
 * device-private PMD shared by fork) become PMD migration entries, recorded
 * as page @idx (the head's word). hmm_install_from_migration() puts PMDs
 * back at them. Best effort, as migrate_unmap_remote().
 */
void migrate_unmap_remote_pmd(struct migrate_vma *args, struct migrate_state **stp, uint64_t idx,
			      struct folio *folio);

/*
 * The compound source recorded as word @idx is being split for small
 * destinations: the PMD migration entries recorded for it elsewhere become
 * 512 PTE migration entries each, recorded as words @idx .. @idx + 511.
 * Returns 0, -ENOMEM (the records and entries split so far stay split and
 * recorded, which finalize handles either way). @st may be NULL.
 * Context: the processes recorded are read-locked by @st; takes their ptl.
 */
int migrate_split_remote_pmd(struct migrate_state *st, uint64_t idx);

/*
 * Every recorded remote migration entry of page @idx (frame @old_pfn)
 * becomes an entry for frame @new_pfn of @new. With @forget, the records
 * go (the page is given back early, in setup). @st may be NULL.
 */
void migrate_install_remote(struct migrate_state *st, uint64_t idx, uint64_t old_pfn,
			    struct folio *new, uint64_t new_pfn, bool forget);

/* The entry a filled hole gets for frame @pfn of fresh destination @new. */
pt_entry_t hmm_fresh_entry(const struct vm_area_struct *vma, const struct folio *new, uint64_t pfn);

#endif /* HMMSIM_HMM_MIGRATE_H */
