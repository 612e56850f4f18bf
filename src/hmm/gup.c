// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * pin_user_pages (FOLL_PIN, mm/gup.c) as an hmm user sees it
 * (cpu-mm-spec §2.4, §4.4): every page is faulted the way the pin needs it,
 * then pinned under the ptl, so it cannot change between the check and the
 * pin.
 *  - A write pin needs a writable PTE: a write fault (COW where shared).
 *  - A read pin of an anon page that is not anon-exclusive needs an unshare
 *    (gup_must_unshare, FAULT_FLAG_UNSHARE): the page is reused if nothing
 *    else holds it, or copied, and the PTE stays read-only. mm's fault
 *    handler has no unshare, so it is done here with mm's own primitives.
 *  - A device-private page cannot be pinned: the fault on its entry
 *    migrates it to RAM through its driver first. A device-coherent page is
 *    migrated out too for FOLL_LONGTERM (migrate_device_coherent_folio).
 *  - Device-exclusive entries are given back to the CPU by the fault;
 *    migration entries are waited out.
 */
#include <sched.h>

#include "hmm/internal.h"

#define PIN_FLAGS	(FOLL_WRITE | FOLL_LONGTERM)

/* Rounds of fault-and-retry for one page before it counts as unreachable. */
#define PIN_MAX_TRIES	1024

/* wp_can_reuse_anon_folio, for an unshare: may @folio become exclusive in place? */
static bool can_reuse(struct mm_struct *mm, struct folio *folio, uint64_t addr, uint64_t page)
{
	if (!folio_test_large(folio))
		return folio_ref_count(folio) - folio_ref_bias(folio) == 1;
	return mm->profile->large_folio_reuse && !folio_maybe_dma_pinned(folio) &&
	       folio_ref_count(folio) == folio_mapcount(folio) &&
	       hmm_folio_mapped_only_here(mm, folio, addr, page);
}

/*
 * The unshare fault on the read-only anon PTE @orig at @addr: reuse (the
 * page just becomes exclusive, no notification) or copy into a new page
 * mapped read-only (CLEAR on the page, as wp_page_copy). Returns 0, -EAGAIN
 * (the entry changed: look again), -ENOMEM.
 */
static int unshare_pte(struct vm_area_struct *vma, uint64_t addr, pt_entry_t orig)
{
	struct mm_struct *mm = vma->mm;
	struct mmu_notifier_range range;
	struct folio *old, *new;
	uint64_t page;
	unsigned int level;
	pt_entry_t e;

	MM_STAT_INC(mm, faults);
	pthread_mutex_lock(&mm->ptl);
	if (mm_get_pte(mm, addr, &e, &level) || level || e != orig) {
		pthread_mutex_unlock(&mm->ptl);
		return -EAGAIN;
	}
	old = pfn_folio(mm, pte_pfn(e));
	page = folio_page_idx(old, pte_pfn(e));
	if (folio_page_anon_exclusive(old, page) || can_reuse(mm, old, addr, page)) {
		folio_set_page_anon_exclusive(old, page);
		pthread_mutex_unlock(&mm->ptl);
		return 0;
	}
	folio_get(old);
	pthread_mutex_unlock(&mm->ptl);

	new = folio_alloc(mm->sys->pool, 0, 0);
	if (!new) {
		folio_put(old);
		return -ENOMEM;
	}
	folio_copy_page(new, 0, old, page);
	new->index = vma_pgoff_of(vma, addr);	/* for the rmap */
	mmu_notifier_range_init(&range, MMU_NOTIFY_CLEAR, mm, addr, addr + MM_PAGE_SIZE);
	mmu_notifier_invalidate_range_start(&range);
	pthread_mutex_lock(&mm->ptl);
	if (mm_get_pte(mm, addr, &e, &level) || level || e != orig ||
	    folio_add_new_anon_rmap(new, RMAP_EXCLUSIVE)) {
		pthread_mutex_unlock(&mm->ptl);
		mmu_notifier_invalidate_range_end(&range);
		folio_put(new);
		folio_put(old);
		return -EAGAIN;
	}
	mm_clear_pte(mm, addr, 0);
	/* Unshare maps the copy read-only: no write was asked for. */
	if (mm_set_pte(mm, addr, 0, mk_pte(folio_pfn(new), _PAGE_PRESENT | _PAGE_USER |
					   _PAGE_ACCESSED))) {
		mm_set_pte(mm, addr, 0, orig);
		pthread_mutex_unlock(&mm->ptl);
		mmu_notifier_invalidate_range_end(&range);
		folio_remove_rmap_pte(new, 0);
		folio_put(new);
		folio_put(old);
		return -ENOMEM;
	}
	folio_remove_rmap_pte(old, page);
	folio_note_partial_unmap(mm, old);
	vma->anon_vma = true;
	MM_STAT_INC(mm, cow_copy);
	pthread_mutex_unlock(&mm->ptl);
	mmu_notifier_invalidate_range_end(&range);
	folio_put(old);		/* the old mapping's */
	folio_put(old);		/* ours */
	return 0;
}

/*
 * The unshare fault on a read-only anon PMD: an exclusive THP, or one only
 * this mapping holds, is kept (made exclusive); a shared one is split and
 * the PTE-level unshare copies the one page (do_huge_pmd_wp_page).
 */
static int unshare_pmd(struct vm_area_struct *vma, uint64_t addr, pt_entry_t orig)
{
	struct mm_struct *mm = vma->mm;
	struct folio *folio;
	unsigned int level;
	pt_entry_t e;
	int err;

	MM_STAT_INC(mm, faults);
	pthread_mutex_lock(&mm->ptl);
	if (mm_get_pte(mm, addr, &e, &level) || level != 1 || e != orig) {
		pthread_mutex_unlock(&mm->ptl);
		return -EAGAIN;
	}
	folio = pfn_folio(mm, pte_pfn(e));
	if (folio_page_anon_exclusive(folio, 0) ||
	    (folio_ref_count(folio) == 1 && !folio_maybe_dma_pinned(folio))) {
		folio_set_page_anon_exclusive(folio, 0);
		pthread_mutex_unlock(&mm->ptl);
		return 0;
	}
	pthread_mutex_unlock(&mm->ptl);
	err = split_huge_pmd(vma, addr);
	return err ? err : -EAGAIN;
}

/*
 * Make the page at @addr pinnable as @flags ask, and pin it into *@out.
 * Returns 0 or a negative errno.
 */
static int pin_one(struct mm_struct *mm, uint64_t addr, unsigned int flags, struct folio **out)
{
	static const unsigned int shift[] = { MM_PAGE_SHIFT, MM_PMD_SHIFT, MM_PUD_SHIFT };
	bool write = flags & FOLL_WRITE;
	unsigned int fault = (write ? FAULT_FLAG_WRITE : 0) | FAULT_FLAG_REMOTE;
	struct vm_area_struct *vma;
	struct folio *folio;
	unsigned int level, tries;
	uint64_t pfn, page;
	pt_entry_t e;
	void *owner;
	int err;

	for (tries = 0; tries < PIN_MAX_TRIES; tries++) {
		vma = vma_lookup(mm, addr);
		/* check_vma_flags: no VMA or no access. */
		if (!vma || !(vma->flags & VM_READ))
			return -EFAULT;
		/*
		 * The kernel's GUP says -EFAULT here too; hmm.h keeps -EPERM
		 * for a write the VMA forbids, as hmm_range_fault() does.
		 */
		if (write && !(vma->flags & VM_WRITE))
			return -EPERM;
		pthread_mutex_lock(&mm->ptl);
		err = mm_get_pte(mm, addr, &e, &level);
		if (err || !pte_present(e) || (write && !(e & _PAGE_RW))) {
			/* Holes, device-private, device-exclusive, migration, COW. */
			pthread_mutex_unlock(&mm->ptl);
			err = handle_mm_fault(vma, addr, fault);
			if (err)
				return err;
			continue;
		}
		if (e & _PAGE_PROTNONE) {
			pthread_mutex_unlock(&mm->ptl);
			return -EFAULT;
		}
		pfn = pt_leaf_pfn(&pt_format_x86_64_4l, e, shift[level], addr);
		folio = pfn_folio(mm, pfn);
		if (!folio) {
			pthread_mutex_unlock(&mm->ptl);
			return -EFAULT;
		}
		page = level ? 0 : folio_page_idx(folio, pfn);
		if (!write && folio_test_anon(folio) && !(folio_flags(folio) & FOLIO_ZERO) &&
		    !folio_page_anon_exclusive(folio, page)) {
			pthread_mutex_unlock(&mm->ptl);
			if (folio_test_hugetlb(folio)) {
				/*
				 * hugetlb's unshare copies the huge page read-only;
				 * hmmsim takes the write fault instead (the entry ends
				 * writable), or pins the shared page of a read-only VMA.
				 */
				if (!(vma->flags & VM_WRITE))
					goto pin;
				err = handle_mm_fault(vma, addr,
						      FAULT_FLAG_WRITE | FAULT_FLAG_REMOTE);
			} else {
				err = level ? unshare_pmd(vma, addr, e) : unshare_pte(vma, addr, e);
			}
			if (err && err != -EAGAIN)
				return err;
			continue;
		}
		if ((flags & FOLL_LONGTERM) && folio_is_device_coherent(folio)) {
			owner = folio->owner;
			pthread_mutex_unlock(&mm->ptl);
			err = hmm_migrate_coherent_to_ram(vma, addr, owner);
			if (err && err != -EAGAIN)
				return err;
			if (err)
				sched_yield();
			continue;
		}
		err = folio_pin(folio);
		pthread_mutex_unlock(&mm->ptl);
		if (err)
			return err;
		*out = folio;
		return 0;
pin:
		/* The read-only hugetlb case: pin what is there, under the ptl again. */
		pthread_mutex_lock(&mm->ptl);
		if (!mm_get_pte(mm, addr, &e, &level) && pte_present(e) &&
		    pfn_folio(mm, pt_leaf_pfn(&pt_format_x86_64_4l, e, shift[level], addr)) ==
		    folio) {
			err = folio_pin(folio);
			pthread_mutex_unlock(&mm->ptl);
			if (err)
				return err;
			*out = folio;
			return 0;
		}
		pthread_mutex_unlock(&mm->ptl);
	}
	return -EFAULT;
}

HMMSIM_API int64_t pin_user_pages(struct mm_struct *mm, uint64_t start, uint64_t nr,
				  unsigned int flags, struct folio **folios)
{
	uint64_t i;
	int err = 0;

	if (!mm || !folios || (flags & ~PIN_FLAGS) || (start & (MM_PAGE_SIZE - 1)))
		return -EINVAL;
	if (!nr)
		return 0;
	if (start >= MM_TASK_SIZE || nr > (MM_TASK_SIZE - start) >> MM_PAGE_SHIFT)
		return -EFAULT;
	mmap_read_lock(mm);
	for (i = 0; i < nr; i++) {
		err = pin_one(mm, start + i * MM_PAGE_SIZE, flags, &folios[i]);
		if (err)
			break;
	}
	mmap_read_unlock(mm);
	/* As GUP: the pages pinned before a failure are the result, if any. */
	return i ? (int64_t)i : err;
}

HMMSIM_API void unpin_user_pages(struct folio **folios, uint64_t nr)
{
	uint64_t i;

	if (!folios)
		return;
	for (i = 0; i < nr; i++)
		if (folios[i])
			unpin_folio(folios[i]);
}
