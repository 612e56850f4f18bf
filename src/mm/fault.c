// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Page faults at the PTE level, as mm/memory.c handles them: the zero page
 * for anonymous reads, a fresh exclusive page for anonymous writes, page
 * cache pages for shared and file mappings, and the write-protect fault
 * that reuses or copies (do_wp_page). THP and hugetlb faults are in huge.c
 * and hugetlb.c.
 *
 * Entries change under the mm's ptl. A copy drops the ptl around its
 * notifier, then takes it again and checks the entry did not change, as
 * the kernel's pte_same() check does; if it did, the fault is retried.
 */
#include <sched.h>

#include "mm/internal.h"

#define FAULT_FALLBACK	1

static struct folio *zero_folio(struct mm_struct *mm)
{
	return phys_zero_folio(mm->sys->pool);
}

static void rss_add(struct mm_struct *mm, const struct vm_area_struct *vma, int64_t pages)
{
	if (vma->file && !(vma->flags & VM_ANON))
		MM_STAT_ADD(mm, rss_file, pages);
	else
		MM_STAT_ADD(mm, rss_anon, pages);
}

/* A missing PTE: what the first access to a page installs. Unlocks the ptl. */
static int do_pte_missing(struct vm_area_struct *vma, uint64_t addr, unsigned int flags)
{
	struct mm_struct *mm = vma->mm;
	bool write = flags & FAULT_FLAG_WRITE;
	pt_entry_t prot = _PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED;
	struct folio *folio, *cache = NULL;
	uint64_t page = 0;
	int err;

	if (vma_is_anonymous(vma) && !write) {
		/* Reads of untouched anonymous memory map the shared zero page. */
		err = mm_set_pte(mm, addr, 0, mk_pte(folio_pfn(zero_folio(mm)), prot | _PAGE_SPECIAL));
		if (!err)
			MM_STAT_INC(mm, zero_page);
		pthread_mutex_unlock(&mm->ptl);
		return err;
	}

	if (!vma_is_anonymous(vma)) {
		err = phys_file_get_folio(vma->file, vma_pgoff_of(vma, addr), PHYS_FGP_CREAT, &cache);
		if (err) {
			pthread_mutex_unlock(&mm->ptl);
			return err == -ENOMEM ? -ENOMEM : -EFAULT;
		}
		page = vma_pgoff_of(vma, addr) - cache->index;
		if ((vma->flags & VM_SHARED) || !write) {
			/* The page cache page itself; the reference is the mapping's. */
			if ((vma->flags & VM_SHARED) && (vma->flags & VM_WRITE))
				prot |= _PAGE_RW | (write ? _PAGE_DIRTY : 0);
			err = folio_add_file_rmap_pte(cache, page);
			if (!err)
				err = mm_set_pte(mm, addr, 0, mk_pte(folio_pfn(cache) + page, prot));
			if (err) {
				folio_remove_rmap_pte(cache, page);
				folio_put(cache);
			} else {
				rss_add(mm, vma, 1);
			}
			pthread_mutex_unlock(&mm->ptl);
			return err;
		}
	}

	/* A private write: a new anonymous page, copied from the file if any. */
	folio = folio_alloc(mm->sys->pool, 0, cache ? 0 : FOLIO_ALLOC_ZERO);
	if (!folio) {
		err = -ENOMEM;
		goto out;
	}
	if (cache)
		folio_copy_page(folio, 0, cache, page);
	/* Its linear index, by which the rmap finds it (src/mm/rmap.c). */
	folio->index = vma_pgoff_of(vma, addr);
	err = folio_add_new_anon_rmap(folio, RMAP_EXCLUSIVE);
	if (!err)
		err = mm_set_pte(mm, addr, 0, mk_pte(folio_pfn(folio),
						   prot | _PAGE_RW | _PAGE_DIRTY));
	if (err) {
		folio_remove_rmap_pte(folio, 0);
		folio_put(folio);
		goto out;
	}
	vma->anon_vma = true;
	MM_STAT_INC(mm, anon_pages);
	MM_STAT_INC(mm, rss_anon);
out:
	pthread_mutex_unlock(&mm->ptl);
	if (cache)
		folio_put(cache);
	return err;
}

struct only_here {
	struct folio *folio;
	uint64_t n;
};

static int count_folio_ptes(void *arg, uint64_t va, uint64_t size, pt_entry_t e,
			    unsigned int level)
{
	struct only_here *o = arg;

	if (!level && pte_present(e) && pte_pfn(e) - folio_pfn(o->folio) < folio_nr_pages(o->folio))
		o->n++;
	return 0;
}

/*
 * Is the large anon @folio mapped by this mm only? The kernel answers from
 * its mm-id tracking (6.15+). hmmsim keeps the one mm known to map it alone
 * in folio->mapping (fork clears it): that answers at once; otherwise one
 * walk of the span the folio's pages would occupy counts this mm's PTEs.
 */
static bool folio_mapped_only_here(struct mm_struct *mm, struct folio *folio, uint64_t addr,
				   uint64_t page)
{
	static const struct pt_walk_ops ops = { .leaf = count_folio_ptes };
	struct only_here o = { .folio = folio };
	uint64_t base = addr - page * MM_PAGE_SIZE;

	if (folio_entire_mapcount(folio))
		return false;	/* a PMD maps it, and not in this mm, where PTEs do */
	if (__atomic_load_n(&folio->mapping, __ATOMIC_ACQUIRE) == mm)
		return true;
	pt_walk(mm->pt, base, folio_size(folio), &ops, &o);
	if (o.n != (uint64_t)folio_mapcount(folio))
		return false;
	__atomic_store_n(&folio->mapping, mm, __ATOMIC_RELEASE);
	return true;
}

/* May a write fault reuse the anonymous page mapped read-only at @addr? */
static bool wp_can_reuse_anon(struct mm_struct *mm, struct folio *folio, uint64_t page,
			      uint64_t addr)
{
	if (folio_page_anon_exclusive(folio, page))
		return true;
	if (!folio_test_large(folio))
		return folio_ref_count(folio) == 1;
	return mm->profile->large_folio_reuse &&
	       folio_ref_count(folio) == folio_mapcount(folio) &&
	       folio_mapped_only_here(mm, folio, addr, page);
}

/*
 * A write to a present read-only PTE (do_wp_page). Called with the ptl
 * held; releases it. Returns 0, -EAGAIN (retry the fault), -ENOMEM.
 */
static int do_wp_page(struct vm_area_struct *vma, uint64_t addr, pt_entry_t orig)
{
	struct mm_struct *mm = vma->mm;
	uint64_t pfn = pte_pfn(orig), page = 0;
	struct folio *old = NULL, *new;
	struct mmu_notifier_range range;
	bool special = orig & _PAGE_SPECIAL;
	pt_entry_t e;
	unsigned int level;
	int err;

	if (!special) {
		old = pfn_folio(mm, pfn);
		page = folio_page_idx(old, pfn);
	}
	/* Shared mappings are written in place: a silent upgrade. */
	if ((vma->flags & VM_SHARED) && !special) {
		mm_update_pte(mm, addr, 0, _PAGE_RW | _PAGE_DIRTY | _PAGE_ACCESSED, 0);
		pthread_mutex_unlock(&mm->ptl);
		return 0;
	}
	if (old && folio_test_anon(old) && wp_can_reuse_anon(mm, old, page, addr)) {
		folio_set_page_anon_exclusive(old, page);
		mm_update_pte(mm, addr, 0, _PAGE_RW | _PAGE_DIRTY | _PAGE_ACCESSED, 0);
		MM_STAT_INC(mm, cow_reuse);
		pthread_mutex_unlock(&mm->ptl);
		return 0;
	}

	/* Copy: the zero page, a shared anon page, a file page in a private mapping. */
	if (old)
		folio_get(old);
	pthread_mutex_unlock(&mm->ptl);
	new = folio_alloc(mm->sys->pool, 0, special ? FOLIO_ALLOC_ZERO : 0);
	if (!new) {
		err = -ENOMEM;
		goto put_old;
	}
	if (old)
		folio_copy_page(new, 0, old, page);

	mmu_notifier_range_init(&range, MMU_NOTIFY_CLEAR, mm, align_down(addr, MM_PAGE_SHIFT),
				align_down(addr, MM_PAGE_SHIFT) + MM_PAGE_SIZE);
	mmu_notifier_invalidate_range_start(&range);
	pthread_mutex_lock(&mm->ptl);
	if (mm_get_pte(mm, addr, &e, &level) || e != orig || level) {
		pthread_mutex_unlock(&mm->ptl);
		mmu_notifier_invalidate_range_end(&range);
		folio_put(new);
		err = -EAGAIN;
		goto put_old;
	}
	mm_clear_pte(mm, addr, 0);
	new->index = vma_pgoff_of(vma, addr);
	folio_add_new_anon_rmap(new, RMAP_EXCLUSIVE);
	mm_set_pte(mm, addr, 0, mk_pte(folio_pfn(new), _PAGE_PRESENT | _PAGE_USER | _PAGE_RW |
				       _PAGE_DIRTY | _PAGE_ACCESSED));
	if (old) {
		folio_remove_rmap_pte(old, page);
		if (!folio_test_anon(old))
			rss_add(mm, vma, -1);
		else
			MM_STAT_SUB(mm, rss_anon, 1);
		folio_note_partial_unmap(mm, old);
	}
	MM_STAT_INC(mm, rss_anon);
	vma->anon_vma = true;
	MM_STAT_INC(mm, cow_copy);
	pthread_mutex_unlock(&mm->ptl);
	mmu_notifier_invalidate_range_end(&range);
	if (old)
		folio_put(old);	/* the old mapping's reference, after the end */
	err = 0;
put_old:
	if (old)
		folio_put(old);
	return err;
}

static mm_device_fault_fn device_fault;

void mm_set_device_fault_handler(mm_device_fault_fn fn)
{
	__atomic_store_n(&device_fault, fn, __ATOMIC_RELEASE);
}

int restore_exclusive_pte(struct vm_area_struct *vma, uint64_t addr, pt_entry_t orig)
{
	struct mm_struct *mm = vma->mm;
	struct mmu_notifier_range range;
	struct folio *folio;
	unsigned int level;
	pt_entry_t e;
	int err = 0;

	mmu_notifier_range_init(&range, MMU_NOTIFY_EXCLUSIVE, mm, align_down(addr, MM_PAGE_SHIFT),
				align_down(addr, MM_PAGE_SHIFT) + MM_PAGE_SIZE);
	mmu_notifier_invalidate_range_start(&range);
	pthread_mutex_lock(&mm->ptl);
	if (mm_get_pte(mm, addr, &e, &level) || e != orig || level) {
		err = -EAGAIN;
	} else {
		folio = pfn_folio(mm, pte_pfn(e));
		/* Before 6.15 the exclusive entry was not in the mapcount. */
		if (!mm->profile->exclusive_mapcount)
			folio_add_anon_rmap_pte(folio, folio_page_idx(folio, pte_pfn(e)),
						RMAP_EXCLUSIVE);
		/* The VMA's protection now: an mprotect since may have taken some. */
		mm_clear_pte(mm, addr, 0);
		mm_set_pte(mm, addr, 0, mk_pte(pte_pfn(e), _PAGE_PRESENT | _PAGE_USER |
					       _PAGE_DIRTY | _PAGE_ACCESSED |
					       ((vma->flags & VM_WRITE) ? _PAGE_RW : 0) |
					       ((vma->flags & VM_READ) ? 0 : _PAGE_PROTNONE)));
	}
	pthread_mutex_unlock(&mm->ptl);
	mmu_notifier_invalidate_range_end(&range);
	return err;
}

/*
 * A fault on a non-present entry (do_swap_page): wait out a migration, give
 * a device-exclusive page back to the CPU, or ask the device that owns a
 * device-private page to migrate it to RAM.
 */
static int do_swap_page(struct vm_area_struct *vma, uint64_t addr, pt_entry_t e,
			unsigned int flags)
{
	mm_device_fault_fn fn;
	int err;

	switch (pte_swp_type(e)) {
	case SWP_MIGRATION_READ:
	case SWP_MIGRATION_READ_EXCLUSIVE:
	case SWP_MIGRATION_WRITE:
		sched_yield();	/* migration_entry_wait */
		return -EAGAIN;
	case SWP_DEVICE_EXCLUSIVE:
		err = restore_exclusive_pte(vma, addr, e);
		return err ? err : -EAGAIN;
	case SWP_DEVICE_READ:
	case SWP_DEVICE_WRITE:
		fn = __atomic_load_n(&device_fault, __ATOMIC_ACQUIRE);
		if (!fn)
			return -EFAULT;
		err = fn(vma, addr, e, flags);
		return err ? err : -EAGAIN;
	default:
		return -EFAULT;
	}
}

/* One attempt at a fault; -EAGAIN asks for another. */
static int fault_once(struct vm_area_struct *vma, uint64_t addr, unsigned int flags)
{
	struct mm_struct *mm = vma->mm;
	bool write = flags & FAULT_FLAG_WRITE;
	unsigned int level;
	pt_entry_t e;
	int err;

	pthread_mutex_lock(&mm->ptl);
	err = mm_get_pte(mm, addr, &e, &level);
	if (err == -ENOENT) {
		if (level >= 1 && thp_eligible(vma, addr)) {
			pthread_mutex_unlock(&mm->ptl);
			err = do_huge_pmd_anonymous_page(vma, addr, flags);
			if (err != FAULT_FALLBACK)
				return err;
			pthread_mutex_lock(&mm->ptl);
			if (mm_get_pte(mm, addr, &e, &level) != -ENOENT) {
				pthread_mutex_unlock(&mm->ptl);
				return -EAGAIN;
			}
		}
		return do_pte_missing(vma, addr, flags);
	}
	if (!pte_present(e)) {
		pthread_mutex_unlock(&mm->ptl);
		return do_swap_page(vma, addr, e, flags);
	}
	if (level) {
		pthread_mutex_unlock(&mm->ptl);
		if (write && !(e & _PAGE_RW))
			return do_huge_pmd_wp_page(vma, addr, e, flags);
		pt_test_and_set_bits(mm->pt, addr, _PAGE_ACCESSED | (write ? _PAGE_DIRTY : 0));
		return 0;
	}
	if (write && !(e & _PAGE_RW))
		return do_wp_page(vma, addr, e);
	pt_test_and_set_bits(mm->pt, addr, _PAGE_ACCESSED | (write ? _PAGE_DIRTY : 0));
	pthread_mutex_unlock(&mm->ptl);
	return 0;
}

HMMSIM_API int handle_mm_fault(struct vm_area_struct *vma, uint64_t addr, unsigned int flags)
{
	int err;

	if (!vma || (flags & ~(FAULT_FLAG_WRITE | FAULT_FLAG_REMOTE | FAULT_FLAG_UNSHARE)) ||
	    addr < vma->start || addr >= vma->end)
		return -EINVAL;
	if (!(vma->flags & VM_READ) ||
	    ((flags & FAULT_FLAG_WRITE) && !(vma->flags & VM_WRITE)))
		return -EFAULT;
	MM_STAT_INC(vma->mm, faults);
	if (vma_is_hugetlb(vma))
		return hugetlb_fault(vma, addr, flags);
	do
		err = fault_once(vma, addr, flags);
	while (err == -EAGAIN);
	return err;
}

/* The fault a CPU access at @addr takes. Context: mmap_lock held for reading. */
int mm_fault_locked(struct mm_struct *mm, uint64_t addr, unsigned int flags)
{
	struct vm_area_struct *vma = vma_lookup(mm, addr);

	if (!vma)
		return -EFAULT;
	return handle_mm_fault(vma, addr, flags);
}
