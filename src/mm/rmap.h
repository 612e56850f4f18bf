/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The anonymous reverse map (rmap.c): where a page of an anonymous folio
 * is mapped, in every process of a system.
 *
 * The kernel keeps an anon_vma tree per family of processes; hmmsim keeps
 * only what makes the search work, as the kernel's linear index does: an
 * anonymous folio records in folio->index the linear page index of its
 * first page (vma_pgoff_of() of the address it was created at), and a
 * private VMA's pgoff survives fork (copied), mremap (kept) and splits
 * (advanced). So page @page of the folio can only be at
 *	vma->start + (folio->index + page - vma->pgoff) pages
 * in a private VMA whose pgoff range holds that index; the entry there
 * says whether it really is.
 */
#ifndef HMMSIM_MM_RMAP_H
#define HMMSIM_MM_RMAP_H

#include "mm/internal.h"

/*
 * Does the leaf @e of level @level, seen at @addr, map frame @pfn? A
 * present leaf (not the zero page), or a migration, device-private or
 * device-exclusive entry; for a PMD or PUD leaf, the frame of @addr's
 * page inside it.
 */
bool mm_entry_maps_pfn(pt_entry_t e, unsigned int level, uint64_t addr, uint64_t pfn);

/*
 * One mapping the walk found: the entry @e of level @level at @addr of
 * @vma maps the page (read without the ptl: look again under it). Return 0
 * to go on; anything else stops the walk and is its result.
 */
typedef int (*mm_rmap_one_fn)(struct vm_area_struct *vma, uint64_t addr, pt_entry_t e,
			      unsigned int level, void *arg);

/*
 * The mappings of page @page of the anonymous @folio in @mm: every private
 * VMA whose pgoff range holds the page's index, and whose entry at the
 * page's address maps it. hugetlb VMAs are
 * left out (their folios carry no linear index). Context: @mm's mmap_lock
 * held; no ptl of @mm (entries are read without it). Returns what @one
 * stopped the walk with, or 0.
 */
int mm_rmap_walk_anon_mm(struct mm_struct *mm, struct folio *folio, uint64_t page,
			 mm_rmap_one_fn one, void *arg);

/*
 * struct mm_rmap_walk_control - how mm_rmap_walk_anon() visits processes.
 * @lock_mm:	called for each process of the system, under the system's
 *		list lock (no ptl may be taken there), with @wait false in a
 *		first pass and true in a second one. Return 0 when @mm's
 *		mmap_lock is held (taken now, or already held by the caller):
 *		its mappings are then walked; 1 to pass @mm; -EBUSY when the
 *		lock could not be had: in the first pass @mm is left for the
 *		second, in the second the walk stops with -EBUSY; any other
 *		negative errno stops the walk with it. NULL: every process is
 *		walked as if the caller held all their locks.
 * @unlock_mm:	after the walk of a process @lock_mm returned 0 for, with
 *		how many mappings were found there (@one calls); may be NULL.
 * @one:	each mapping found (see mm_rmap_one_fn).
 * @arg:	for the callbacks.
 * The second pass happens only if some process was busy in the first one
 * and @one has not stopped the walk; it calls @lock_mm for every process
 * again, so @lock_mm must pass those whose mappings it already has.
 */
struct mm_rmap_walk_control {
	int (*lock_mm)(struct mm_struct *mm, bool wait, void *arg);
	void (*unlock_mm)(struct mm_struct *mm, unsigned int found, void *arg);
	mm_rmap_one_fn one;
	void *arg;
};

/*
 * rmap_walk_anon: every mapping of page @page of the anonymous @folio in
 * the processes of @sys. Returns what a callback stopped the walk with, or
 * 0; -EINVAL for a folio that is not anonymous or a page outside it.
 * Context: no ptl, not the system's list lock; the caller holds a
 * reference on @folio (and usually its lock, so that it stays where it is).
 */
int mm_rmap_walk_anon(struct mm_system *sys, struct folio *folio, uint64_t page,
		      const struct mm_rmap_walk_control *rwc);

/*
 * Is @folio's linear index right for page @page of it mapped at @addr of
 * @vma? Vacuously true where the rmap does not look (not anonymous, a
 * hugetlb or shared VMA). For the checkers.
 */
bool mm_rmap_index_ok(const struct vm_area_struct *vma, uint64_t addr,
		      const struct folio *folio, uint64_t page);

#endif /* HMMSIM_MM_RMAP_H */
