// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * fork (dup_mmap, copy_page_range) and exit (exit_mmap).
 *
 * fork shares private anonymous pages read-only with anon-exclusive
 * cleared, except pages that may be DMA-pinned, which the child gets a copy
 * of at once; a pinned PMD THP is split in the parent first. The parent's
 * subscribers see PROTECTION_PAGE over each COW VMA (CLEAR for hugetlb).
 */
#include <stdlib.h>

#include "mm/internal.h"
#include "base/alloc.h"

struct fork_batch {
	unsigned int n;
	struct {
		uint64_t va, size;
		pt_entry_t e;
		unsigned int level;
	} leaf[512];
};

static int fork_collect(void *arg, uint64_t va, uint64_t size, pt_entry_t e, unsigned int level)
{
	struct fork_batch *b = arg;

	b->leaf[b->n].va = va;
	b->leaf[b->n].size = size;
	b->leaf[b->n].e = e;
	b->leaf[b->n++].level = level;
	return 0;
}

/* The child gets its own copy of a pinned page (copy_present_page). */
static int copy_for_child(struct mm_struct *child, struct vm_area_struct *vma, uint64_t va,
			  struct folio *src, uint64_t page, unsigned int level)
{
	pt_entry_t prot = _PAGE_PRESENT | _PAGE_USER | _PAGE_DIRTY |
			  ((vma->flags & VM_WRITE) ? _PAGE_RW : 0) |
			  ((vma->flags & VM_READ) ? 0 : _PAGE_PROTNONE);
	struct folio *new;
	int err;

	if (vma_is_hugetlb(vma))
		new = phys_hugetlb_alloc(child->sys->hugetlb, folio_order(src), 0);
	else
		new = folio_alloc(child->sys->pool, 0, 0);
	if (!new)
		return -ENOMEM;
	err = vma_is_hugetlb(vma) ? folio_copy(new, src) : folio_copy_page(new, 0, src, page);
	new->index = vma_pgoff_of(vma, va);	/* the child's VMA has the parent's pgoff */
	if (!err && vma_is_hugetlb(vma)) {
		err = folio_set_anon(new);
		if (!err)
			err = level == 2 ? folio_add_anon_rmap_pud(new, RMAP_EXCLUSIVE) :
					   folio_add_anon_rmap_pmd(new, RMAP_EXCLUSIVE);
	} else if (!err) {
		err = folio_add_new_anon_rmap(new, RMAP_EXCLUSIVE);
	}
	if (!err)
		err = mm_set_pte(child, va, level, mk_pte(folio_pfn(new), prot));
	if (err) {
		folio_put(new);
		return err;
	}
	MM_STAT_ADD(child, rss_anon, folio_nr_pages(new));
	return 0;
}

/* Share one present leaf of a private (COW) mapping with the child. */
static int copy_present(struct mm_struct *child, struct vm_area_struct *vma, uint64_t va,
			pt_entry_t e, unsigned int level)
{
	struct mm_struct *parent = vma->mm;
	uint64_t pfn = pte_pfn(e), page;
	struct folio *folio;
	int err;

	if (e & _PAGE_SPECIAL) {
		if (level) {
			err = mm_get_huge_zero(child, &folio);
			if (err)
				return err;
		}
		return mm_set_pte(child, va, level, e & ~_PAGE_ACCESSED);
	}
	folio = pfn_folio(parent, pfn);
	page = folio_page_idx(folio, pfn);
	/*
	 * The child's entry first: it is the one step that can fail for lack
	 * of memory, and failing before the accounting leaves nothing to undo.
	 */
	if (!folio_test_anon(folio)) {
		/* A page-cache page in a private mapping: already read-only. */
		err = mm_set_pte(child, va, level, e & ~_PAGE_ACCESSED);
		if (err)
			return err;
		folio_add_file_rmap_pte(folio, page);
		folio_get(folio);
		MM_STAT_INC(child, rss_file);
		return 0;
	}
	if (vma_is_hugetlb(vma) && folio_maybe_dma_pinned(folio))
		return copy_for_child(child, vma, va, folio, 0, level);
	err = mm_set_pte(child, va, level, e & ~(_PAGE_RW | _PAGE_ACCESSED));
	if (err)
		return err;
	if (vma_is_hugetlb(vma)) {
		err = level == 2 ? folio_add_anon_rmap_pud(folio, 0) :
				   folio_add_anon_rmap_pmd(folio, 0);
		if (!err)
			folio_clear_page_anon_exclusive(folio, 0);
	} else if (level) {
		err = folio_try_dup_anon_rmap_pmd(folio);
	} else {
		err = folio_try_dup_anon_rmap_ptes(folio, page, 1);
	}
	if (err) {
		mm_clear_pte(child, va, level);
		/* An exclusive page that may be pinned: the child gets a copy. */
		return err == -EBUSY && !level ? copy_for_child(child, vma, va, folio, page, 0) : err;
	}
	/* Two mms map it now: forget the one that mapped it alone (fault.c). */
	if (folio_test_large(folio))
		__atomic_store_n(&folio->mapping, NULL, __ATOMIC_RELEASE);
	folio_get(folio);
	if (e & _PAGE_RW)
		mm_update_pte(parent, va, level, 0, _PAGE_RW);
	MM_STAT_ADD(child, rss_anon, level ? folio_nr_pages(folio) : 1);
	return 0;
}

/*
 * A non-present entry (copy_nonpresent_pte): a device-private page (or a
 * device-private PMD, whole) is shared like an anon page (it cannot be
 * pinned), write access dropped on both sides; a device-exclusive entry is
 * first given back to the parent's CPU, then shared as a present page.
 * Migration entries belong to a migration in flight, which cannot be (fork
 * holds the mmap_lock for writing, migrate_vma its read side), so there
 * are none.
 */
static int copy_swap_entry(struct mm_struct *child, struct vm_area_struct *vma, uint64_t va,
			   pt_entry_t e, unsigned int at_level)
{
	struct mm_struct *parent = vma->mm;
	uint64_t pfn = pte_pfn(e);
	struct folio *folio;
	unsigned int level;
	pt_entry_t ro;
	int err;

	/* A device-private PMD (copy_huge_pmd): shared whole, read-only. */
	if (at_level == 1 && is_device_private_entry(e))
		return copy_device_pmd(child, vma, va, e);
	if (at_level)
		return 0;
	switch (pte_swp_type(e)) {
	case SWP_DEVICE_EXCLUSIVE:
		err = restore_exclusive_pte(vma, va, e);
		if (err || mm_get_pte(parent, va, &e, &level))
			return err;
		return copy_present(child, vma, va, e, level);
	case SWP_DEVICE_READ:
	case SWP_DEVICE_WRITE:
		folio = pfn_folio(parent, pfn);
		err = folio_try_dup_anon_rmap_ptes(folio, folio_page_idx(folio, pfn), 1);
		if (err)
			return err;
		ro = mk_swp_entry(SWP_DEVICE_READ, pfn, false);
		err = mm_set_pte(child, va, 0, ro);
		if (err) {
			folio_remove_rmap_pte(folio, folio_page_idx(folio, pfn));
			return err;
		}
		folio_get(folio);
		if (pte_swp_type(e) == SWP_DEVICE_WRITE) {
			mm_clear_pte(parent, va, 0);
			mm_set_pte(parent, va, 0, ro);
		}
		MM_STAT_INC(child, rss_anon);
		return 0;
	default:
		return 0;
	}
}

/* Share one present leaf of a shared hugetlb mapping (copied as it is). */
static int copy_shared(struct mm_struct *child, struct vm_area_struct *vma, uint64_t va,
		       pt_entry_t e, unsigned int level)
{
	struct folio *folio = pfn_folio(vma->mm, pte_pfn(e));
	int err;

	err = level == 2 ? folio_add_file_rmap_pud(folio) : folio_add_file_rmap_pmd(folio);
	if (!err)
		err = mm_set_pte(child, va, level, e & ~_PAGE_ACCESSED);
	if (err)
		return err;
	folio_get(folio);
	MM_STAT_ADD(child, rss_anon, folio_nr_pages(folio));
	return 0;
}

static int copy_range(struct mm_struct *child, struct vm_area_struct *vma, uint64_t start,
		      uint64_t end)
{
	static const struct pt_walk_ops ops = { .leaf = fork_collect };
	unsigned int shift = vma->hugetlb_shift > MM_PMD_SHIFT ? vma->hugetlb_shift : MM_PMD_SHIFT;
	struct fork_batch *b;
	uint64_t at, next;
	unsigned int i;
	struct folio *folio;
	int err = 0;

	b = hs_malloc(sizeof(*b));
	if (!b)
		return -ENOMEM;
	for (at = start; !err && at < end; at = next) {
		next = align_down(at, shift) + (UINT64_C(1) << shift);
		if (next > end)
			next = end;
		b->n = 0;
		pt_walk(vma->mm->pt, at, next - at, &ops, b);
		for (i = 0; !err && i < b->n; i++) {
			pt_entry_t e = b->leaf[i].e;
			unsigned int level = b->leaf[i].level;

			if (!pte_present(e)) {
				err = copy_swap_entry(child, vma, b->leaf[i].va, e, level);
				continue;
			}
			if (vma->flags & VM_SHARED) {
				err = copy_shared(child, vma, b->leaf[i].va, e, level);
				continue;
			}
			folio = (e & _PAGE_SPECIAL) ? NULL : pfn_folio(vma->mm, pte_pfn(e));
			if (level == 1 && !vma_is_hugetlb(vma) && folio &&
			    folio_maybe_dma_pinned(folio)) {
				/* A pinned THP: split the parent's PMD, copy page by page. */
				err = split_huge_pmd(vma, b->leaf[i].va);
				if (!err)
					err = copy_range(child, vma, b->leaf[i].va,
							 b->leaf[i].va + b->leaf[i].size);
				continue;
			}
			err = copy_present(child, vma, b->leaf[i].va, e, level);
		}
	}
	free(b);
	return err;
}

/* copy_page_range for one VMA, with the notification the kernel sends. */
static int copy_vma(struct mm_struct *child, struct vm_area_struct *vma)
{
	struct mmu_notifier_range range;
	bool cow = !(vma->flags & VM_SHARED);
	int err;

	/* vma_needs_copy: anon pages or hugetlb; other mappings refault. */
	if (!vma_is_hugetlb(vma) && (!cow || !vma->anon_vma))
		return 0;
	if (cow)
		mmu_notifier_range_init(&range, vma_is_hugetlb(vma) ? MMU_NOTIFY_CLEAR :
				MMU_NOTIFY_PROTECTION_PAGE, vma->mm, vma->start, vma->end);
	if (cow)
		mmu_notifier_invalidate_range_start(&range);
	err = copy_range(child, vma, vma->start, vma->end);
	if (cow)
		mmu_notifier_invalidate_range_end(&range);
	return err;
}

static void exit_vmas(struct mm_struct *mm)
{
	struct vm_area_struct *vma;
	size_t i;

	for (i = 0; i < mm->nr_vmas; i++) {
		vma = mm->vmas[i];
		hugetlb_unreserve(vma);
		zap_vma_range(vma, vma->start, vma->end);
	}
	while (mm->nr_vmas) {
		vma = mm->vmas[mm->nr_vmas - 1];
		vma_remove(mm, vma);
		vma_free(vma);
	}
}

HMMSIM_API int mm_fork(struct mm_struct *parent, struct mm_struct **out)
{
	struct vm_area_struct *vma, *cvma;
	struct mm_struct *child;
	size_t i;
	int err;

	if (!parent || !out)
		return -EINVAL;
	err = mm_alloc(parent->sys, parent->profile, &child);
	if (err)
		return err;
	/* Half-built: an rmap-style walk from another mm must not see it. */
	mmap_write_lock(child);
	mmap_write_lock(parent);
	for (i = 0; !err && i < parent->nr_vmas; i++) {
		vma = parent->vmas[i];
		cvma = vma_alloc(child, vma->start, vma->end, vma->flags);
		if (!cvma) {
			err = -ENOMEM;
			break;
		}
		cvma->pgoff = vma->pgoff;
		cvma->hugetlb_shift = vma->hugetlb_shift;
		cvma->anon_vma = vma->anon_vma;
		cvma->file = vma->file;
		if (cvma->file)
			phys_file_get(cvma->file);
		err = vma_insert(child, cvma);
		if (err) {
			vma_free(cvma);
			break;
		}
		err = copy_vma(child, vma);
	}
	mmap_write_unlock(parent);
	if (err) {
		exit_vmas(child);
		mmap_write_unlock(child);
		mm_free(child);
		return err;
	}
	mmap_write_unlock(child);
	*out = child;
	return 0;
}

HMMSIM_API void mm_exit(struct mm_struct *mm)
{
	struct mmu_notifier_range range;

	if (!mm)
		return;
	mmap_write_lock(mm);
	mmu_notifier_release(mm);
	mmu_notifier_range_init(&range, MMU_NOTIFY_RELEASE, mm, 0, MM_ALL_END);
	mmu_notifier_invalidate_range_start(&range);
	mmu_notifier_invalidate_range_end(&range);
	mmu_notifier_range_init(&range, MMU_NOTIFY_UNMAP, mm, 0, MM_ALL_END);
	mmu_notifier_invalidate_range_start(&range);
	exit_vmas(mm);
	mmu_notifier_invalidate_range_end(&range);
	mmap_write_unlock(mm);
	/* The page table goes whole, with its chunks: no directory freed one by one. */
	mm_free(mm);
}
