// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Compound migration: migrate_vma with MIGRATE_VMA_SELECT_COMPOUND (Linux
 * 6.19, linux-hmm.md §4.3, cpu-mm-spec §9.9), the PMD-sized half of
 * mm/migrate_device.c.
 *
 * setup: a PMD block wholly inside the range is collected as one compound
 * source: a PMD-mapped THP (SELECT_SYSTEM) or a device-private PMD of the
 * caller's owner (SELECT_DEVICE_PRIVATE) becomes a PMD migration entry, and
 * src[i] holds the head frame with MIGRATE_PFN_COMPOUND, the 511 words after
 * it 0. An empty PMD slot (or the huge zero PMD) of a THP-eligible block is
 * a compound hole: MIGRATE | COMPOUND without VALID. Blocks the range only
 * partly covers, and every block without the flag, are split as before.
 *
 * The driver answers with a 2 MiB destination (dst[i] with COMPOUND, an
 * order-9 folio) or with 512 small ones (dst[i .. i + 511]); or none.
 *
 * pages: a 2 MiB destination takes the source whole (or fills the hole
 * with a PMD: a device-private PMD entry, or a PMD THP in RAM); small
 * destinations split the source first (its PMD migration entry into 512 PTE
 * migration entries, the folio into 512 order-0 folios, each locked and held
 * by the migration, src[i + k] filled in, COMPOUND cleared), or turn the hole
 * into 512 holes, and the migration goes on 4K by 4K.
 *
 * finalize: the PMD migration entry becomes the destination's PMD (or the
 * source's again), through hmm_install_from_migration(), which knows both
 * levels.
 */
#include <pthread.h>
#include <stdlib.h>

#include "hmm/migrate_compound.h"
#include "mm/rmap.h"
#include "base/alloc.h"

bool migrate_compound_block(const struct migrate_vma *args, uint64_t haddr)
{
	return (args->flags & MIGRATE_VMA_SELECT_COMPOUND) && is_aligned(haddr, MM_PMD_SHIFT) &&
	       haddr >= args->start && haddr + MM_PMD_SIZE <= args->end;
}

/*
 * The kernel offers a compound hole wherever the block is aligned; hmmsim
 * only where a THP fault could put a PMD too (THP mode and VMA flags
 * included), so that a VMA without THPs never gets a 2 MiB device folio.
 */
bool migrate_compound_hole(const struct migrate_vma *args, uint64_t haddr)
{
	return migrate_compound_block(args, haddr) && thp_eligible(args->vma, haddr);
}

/* ------------------------------------------------------------------------ */
/* setup                                                                    */
/* ------------------------------------------------------------------------ */

int hmm_unmap_pmd_to_migration(struct mm_struct *mm, uint64_t haddr, pt_entry_t e,
			       struct folio *folio)
{
	bool write = hmm_entry_writable(e);
	bool excl = folio_test_anon(folio) && folio_page_anon_exclusive(folio, 0);
	unsigned int type;
	pt_entry_t mig;
	int err;

	if (excl && folio_try_share_anon_rmap_pmd(folio))
		return -EBUSY;
	type = write ? SWP_MIGRATION_WRITE : excl ? SWP_MIGRATION_READ_EXCLUSIVE :
						    SWP_MIGRATION_READ;
	mig = mk_swp_entry(type, folio_pfn(folio), false);
	if (pte_present(e)) {
		mig |= e & MIGRATION_KEEP;
		if (e & _PAGE_DIRTY)
			folio_mark_dirty(folio);
	}
	mm_clear_pte(mm, haddr, 1);
	err = mm_set_pte(mm, haddr, 1, mig);
	if (err) {
		mm_set_pte(mm, haddr, 1, e);	/* the table is kept: this cannot fail */
		if (excl)
			folio_set_page_anon_exclusive(folio, 0);
		return err;
	}
	folio_remove_rmap_pmd(folio);
	return 0;
}

uint64_t migrate_collect_compound(struct migrate_vma *args, uint64_t haddr, pt_entry_t e,
				  struct folio *folio)
{
	struct mm_struct *mm = args->vma->mm;
	struct folio *fault = args->fault_page;
	uint64_t i = (haddr - args->start) >> MM_PAGE_SHIFT, k;
	bool write = hmm_entry_writable(e);
	uint64_t mpfn = 0;

	/* The collector's reference, then the lock (trylock: best effort). */
	if (folio_get(folio))
		goto out;
	if (folio != fault && !folio_trylock(folio)) {
		folio_put(folio);
		goto out;
	}
	/*
	 * A pinned THP cannot give its exclusivity up: the kernel falls back to
	 * split_folio, which fails on the pin before unmapping anything, so
	 * the THP stays, PMD and all.
	 */
	if (hmm_unmap_pmd_to_migration(mm, haddr, e, folio)) {
		if (folio != fault)
			folio_unlock(folio);
		folio_put(folio);
		goto out;
	}
	folio_put(folio);	/* the mapping's; the collector keeps its own */
	mpfn = migrate_pfn(folio_pfn(folio)) | MIGRATE_PFN_MIGRATE | MIGRATE_PFN_COMPOUND |
	       (write ? MIGRATE_PFN_WRITE : 0);
	args->cpages++;
out:
	pthread_mutex_unlock(&mm->ptl);
	args->src[i] = mpfn;
	for (k = 1; k < MIGRATE_PMD_PAGES; k++)
		args->src[i + k] = 0;
	return haddr + MM_PMD_SIZE;
}

/*
 * split_folio of a large device-private folio that other processes map too
 * (a device PMD shared by fork, split in some of them): the kernel's
 * split_folio unmaps it everywhere and maps the pieces back. hmmsim splits
 * in place, which is safe while nothing can change a mapping of it: the
 * caller holds the folio lock (a device-private entry only changes under
 * it, or under its process's mmap_lock for writing), and every process that
 * maps it is read-locked here for the time of the split. Their PMDs of it
 * are split first (split_huge_pmd, CLEAR 2 MiB there).
 */
struct lock_set {
	struct mm_struct **mm;
	size_t n, cap;
};

static int rmap_found(struct vm_area_struct *vma, uint64_t addr, pt_entry_t e, unsigned int level,
		      void *arg)
{
	(void)vma;
	(void)addr;
	(void)e;
	(void)level;
	(void)arg;
	return 1;
}

static int rmap_split_pmd(struct vm_area_struct *vma, uint64_t addr, pt_entry_t e,
			  unsigned int level, void *arg)
{
	int *err = arg;

	(void)e;
	if (level == 1 && !*err)
		*err = split_huge_pmd(vma, align_down(addr, MM_PMD_SHIFT));
	return 0;
}

/* Does @mm map a page of @folio? Context: @mm's mmap_lock held, no ptl. */
static bool mm_maps_folio(struct mm_struct *mm, struct folio *folio)
{
	uint64_t k;

	for (k = 0; k < folio_nr_pages(folio); k++)
		if (mm_rmap_walk_anon_mm(mm, folio, k, rmap_found, NULL) == 1)
			return true;
	return false;
}

int migrate_split_device_folio(struct migrate_vma *args, struct folio *folio)
{
	struct mm_struct *self = args->vma->mm, *b;
	struct mm_system *sys = self->sys;
	struct lock_set ls = { 0 };
	void *p;
	size_t k;
	int err = 0;

	if (!folio_is_device_private(folio) || !folio_test_large(folio) ||
	    !folio_test_anon(folio))
		return -EINVAL;
	/* Every other process that maps it, read-locked (never waited for). */
	pthread_mutex_lock(&sys->lock);
	for (b = sys->mms; b && !err; b = b->next) {
		if (b == self)
			continue;
		if (ls.n == ls.cap) {
			p = hs_realloc(ls.mm, (ls.cap ? 2 * ls.cap : 8) * sizeof(*ls.mm));
			if (!p) {
				err = -ENOMEM;
				break;
			}
			ls.mm = p;
			ls.cap = ls.cap ? 2 * ls.cap : 8;
		}
		if (pthread_rwlock_tryrdlock(&b->mmap_lock)) {
			err = -EBUSY;	/* it may map it: retry later */
			break;
		}
		/*
		 * One that does not map it is let go at once, under the list
		 * lock: it may be an mm done exiting that waits for that lock
		 * to be freed.
		 */
		if (mm_maps_folio(b, folio))
			ls.mm[ls.n++] = b;
		else
			mmap_read_unlock(b);
	}
	pthread_mutex_unlock(&sys->lock);
	/* Their PMDs of it (and ours), then the folio. */
	for (k = 0; !err && k <= ls.n; k++)
		mm_rmap_walk_anon_mm(k < ls.n ? ls.mm[k] : self, folio, 0, rmap_split_pmd, &err);
	if (!err && folio_entire_mapcount(folio))
		err = -EBUSY;
	if (!err) {
		folio_clear_flags(folio, FOLIO_DEFERRED_SPLIT);
		err = split_folio(folio);
	}
	for (k = 0; k < ls.n; k++)
		mmap_read_unlock(ls.mm[k]);
	free(ls.mm);
	return err;
}

/* ------------------------------------------------------------------------ */
/* finalize (and the restore of setup's unmap step)                         */
/* ------------------------------------------------------------------------ */

void hmm_install_pmd_from_migration(struct vm_area_struct *vma, uint64_t haddr, pt_entry_t e,
				    struct folio *new)
{
	struct mm_struct *mm = vma->mm;
	unsigned int type = pte_swp_type(e);
	bool write = type == SWP_MIGRATION_WRITE && (vma->flags & VM_WRITE);
	bool excl = type != SWP_MIGRATION_READ;
	pt_entry_t ne;

	if (folio_order(new) != PHYS_PMD_ORDER || !folio_test_anon(new))
		return;
	if (folio_is_device_private(new))
		ne = mk_swp_entry(write ? SWP_DEVICE_WRITE : SWP_DEVICE_READ, folio_pfn(new), excl);
	else
		ne = mk_pte(folio_pfn(new), _PAGE_PRESENT | _PAGE_USER | (e & MIGRATION_KEEP) |
			    (write ? _PAGE_RW : 0) | ((vma->flags & VM_READ) ? 0 : _PAGE_PROTNONE));
	if (folio_add_anon_rmap_pmd(new, excl ? RMAP_EXCLUSIVE : 0))
		return;
	folio_get(new);
	mm_clear_pte(mm, haddr, 1);
	if (mm_set_pte(mm, haddr, 1, ne)) {
		mm_set_pte(mm, haddr, 1, e);	/* the table is kept: this cannot fail */
		folio_remove_rmap_pmd(new);
		folio_put(new);
	}
}

/* ------------------------------------------------------------------------ */
/* pages                                                                    */
/* ------------------------------------------------------------------------ */

void migrate_notify_fill(struct migrate_vma *args, uint64_t addr, struct mmu_notifier_range *range,
			 bool *notified)
{
	if (*notified)
		return;
	mmu_notifier_range_init(range, MMU_NOTIFY_MIGRATE, args->vma->mm, addr, args->end);
	range->owner = args->pgmap_owner;
	mmu_notifier_invalidate_range_start(range);
	*notified = true;
}

/*
 * migrate_vma_insert_huge_pmd_page: the hole (an empty PMD slot, or the huge
 * zero PMD) at @haddr gets the order-9 folio @new whole: a device-private
 * PMD entry, or a present PMD for system (or coherent) memory, writable
 * with the VMA; a fresh exclusive anon folio with a reference for the
 * mapping. MIGRATE is cleared when the slot was filled meanwhile (a PTE
 * table there, even an empty one, is not a hole for a PMD).
 */
static void insert_huge_pmd(struct migrate_vma *args, uint64_t haddr, struct folio *new,
			    uint64_t *src)
{
	struct vm_area_struct *vma = args->vma;
	struct mm_struct *mm = vma->mm;
	uint64_t pfn = folio_pfn(new);
	unsigned int level;
	pt_entry_t e = 0, ne;
	bool zero = false;
	int err;

	if (!vma_is_anonymous(vma) || folio_order(new) != PHYS_PMD_ORDER ||
	    haddr < vma->start || haddr + MM_PMD_SIZE > vma->end)
		goto abort;
	ne = hmm_fresh_entry(vma, new, pfn);
	pthread_mutex_lock(&mm->ptl);
	err = mm_get_pte(mm, haddr, &e, &level);
	if (!err) {
		if (level != 1 || !pte_present(e) || !(e & _PAGE_SPECIAL))
			goto unlock_abort;
		zero = true;
	} else if (err != -ENOENT || level < 1) {
		goto unlock_abort;
	}
	new->index = vma_pgoff_of(vma, haddr);	/* for the rmap */
	if (folio_add_new_anon_rmap(new, RMAP_EXCLUSIVE))
		goto unlock_abort;
	folio_get(new);
	if (zero)
		mm_clear_pte(mm, haddr, 1);
	if (mm_set_pte(mm, haddr, 1, ne)) {
		if (zero)
			mm_set_pte(mm, haddr, 1, e);
		folio_remove_rmap_pmd(new);
		folio_put(new);
		goto unlock_abort;
	}
	vma->anon_vma = true;
	MM_STAT_ADD(mm, rss_anon, MIGRATE_PMD_PAGES);
	pthread_mutex_unlock(&mm->ptl);
	*src = MIGRATE_PFN_MIGRATE | MIGRATE_PFN_COMPOUND;
	return;

unlock_abort:
	pthread_mutex_unlock(&mm->ptl);
abort:
	*src &= ~MIGRATE_PFN_MIGRATE;
}

/* Can the order-9 @new take a compound source or hole (a fresh, unmapped folio)? */
static bool compound_dst_ok(const struct folio *new)
{
	return folio_order(new) == PHYS_PMD_ORDER && !folio_mapped(new) &&
	       !folio_test_hugetlb(new) && !(folio_flags(new) & FOLIO_ZERO);
}

/* ...or, as the first of 512 small destinations, an order-0 one? */
static bool small_dst_ok(const struct folio *new)
{
	return !folio_test_large(new) && !folio_mapped(new) && !folio_test_hugetlb(new) &&
	       !(folio_flags(new) & FOLIO_ZERO);
}

void migrate_unmap_compound(struct migrate_vma *args, struct migrate_state **stp, uint64_t i,
			    struct folio *folio)
{
	uint64_t pfn = folio_pfn(folio), k;

	/* The PMDs first: a page's count includes them. */
	migrate_unmap_remote_pmd(args, stp, i, folio);
	for (k = 0; k < MIGRATE_PMD_PAGES && folio_mapped(folio); k++) {
		if (folio_page_pte_mapcount(folio, k) > 0)
			migrate_unmap_remote(args, stp, i + k,
					     args->start + (i + k) * MM_PAGE_SIZE, folio, pfn + k);
	}
}

void migrate_install_compound_remote(struct migrate_state *st, uint64_t i, uint64_t old_pfn,
				     struct folio *new, uint64_t new_pfn, bool forget)
{
	uint64_t k;

	for (k = 0; st && k < MIGRATE_PMD_PAGES; k++)
		migrate_install_remote(st, i + k, old_pfn + k, new, new_pfn + k, forget);
}

/*
 * migrate_vma_split_unmapped_folio: the compound source at @i (@folio,
 * unmapped to a PMD migration entry) is split for small destinations: the
 * entry into 512 PTE migration entries, the folio into 512 order-0 folios,
 * each locked and held by the migration (the head keeps the fault handler's
 * reference too), and src[i + k] names page k with the head's flags.
 * hmmsim's split_folio keeps mappings as they are and gives each piece the
 * references its mappings hold, so the folio gets 512 PTE mappings for the
 * moment of the split (and the references they stand for), which then
 * become the migration's. On failure nothing has moved: the folio is whole,
 * mapped by its PMD migration entry, or by PTEs again if only the folio's
 * split failed (as split_huge_pmd would leave it). Returns 0 or a negative
 * errno.
 */
static int split_unmapped(struct migrate_vma *args, uint64_t i, struct folio *folio)
{
	struct mm_struct *mm = args->vma->mm;
	uint64_t haddr = args->start + i * MM_PAGE_SIZE, pfn = folio_pfn(folio), k;
	int extra = folio_ref_count(folio) - 1 - folio_ref_bias(folio);
	const int n = (int)MIGRATE_PMD_PAGES;
	struct folio *piece;
	unsigned int level;
	uint64_t flags;
	pt_entry_t e;
	int err;

	if (extra < 0 || extra > 1 || !folio_test_anon(folio))
		return -EBUSY;
	/* A fork relative's PMD migration entries of it are split (and recorded) first. */
	err = migrate_split_remote_pmd(migrate_state_find(args, false), i);
	if (err)
		return err;
	pthread_mutex_lock(&mm->ptl);
	if (mm_get_pte(mm, haddr, &e, &level) || level != 1 || !is_migration_entry(e) ||
	    pte_pfn(e) != pfn) {
		pthread_mutex_unlock(&mm->ptl);
		return -EAGAIN;
	}
	err = folio_add_anon_rmap_ptes(folio, 0, (unsigned int)n, 0);
	if (err)
		goto unlock;
	err = pt_split(mm->pt, haddr, 1);	/* 512 PTE migration entries */
	if (err) {
		folio_remove_rmap_ptes(folio, 0, (unsigned int)n);
		goto unlock;
	}
	folio_ref_add(folio, n - extra);
	folio_clear_flags(folio, FOLIO_DEFERRED_SPLIT);
	err = split_folio(folio);
	if (err) {
		folio_remove_rmap_ptes(folio, 0, (unsigned int)n);
		folio_put_refs(folio, n - extra);
		pthread_mutex_unlock(&mm->ptl);
		/* Whole again, mapped by PTEs (the table is split already). */
		for (k = 0; k < MIGRATE_PMD_PAGES; k++)
			hmm_install_from_migration(mm, haddr + k * MM_PAGE_SIZE, pfn + k, folio,
						   pfn + k);
		return err;
	}
	for (k = 0; k < MIGRATE_PMD_PAGES; k++) {
		piece = pfn_folio(mm, pfn + k);
		folio_remove_rmap_pte(piece, 0);
		if (k && !folio_trylock(piece))
			folio_lock(piece);
	}
	if (!extra)
		folio_put(folio);	/* the head had the caller's reference too */
	pthread_mutex_unlock(&mm->ptl);
	args->src[i] &= ~MIGRATE_PFN_COMPOUND;
	flags = args->src[i] & ((UINT64_C(1) << MIGRATE_PFN_SHIFT) - 1);
	for (k = 1; k < MIGRATE_PMD_PAGES; k++)
		args->src[i + k] = migrate_pfn(pfn + k) | flags;
	return 0;
unlock:
	pthread_mutex_unlock(&mm->ptl);
	return err;
}

uint64_t migrate_pages_compound(struct migrate_vma *args, uint64_t i,
				struct mmu_notifier_range *range, bool *notified)
{
	struct mm_struct *mm = args->vma->mm;
	uint64_t *src = &args->src[i], d = args->dst[i], k;
	uint64_t addr = args->start + i * MM_PAGE_SIZE;
	struct folio *new = hmm_mpfn_folio(mm, d), *old;

	if (i + MIGRATE_PMD_PAGES > args->npages || !is_aligned(addr, MM_PMD_SHIFT)) {
		*src &= ~MIGRATE_PFN_MIGRATE;	/* not a word setup wrote */
		return 1;
	}
	if (!(*src & MIGRATE_PFN_MIGRATE))
		return MIGRATE_PMD_PAGES;
	if (!new) {
		*src &= ~MIGRATE_PFN_MIGRATE;
		return MIGRATE_PMD_PAGES;
	}
	if (!(*src & MIGRATE_PFN_VALID)) {
		migrate_notify_fill(args, addr, range, notified);
		if (d & MIGRATE_PFN_COMPOUND) {
			if (compound_dst_ok(new))
				insert_huge_pmd(args, addr, new, src);
			else
				*src &= ~MIGRATE_PFN_MIGRATE;
			return MIGRATE_PMD_PAGES;
		}
		/* Small destinations: each page of the block is a hole of its own. */
		if (!small_dst_ok(new)) {
			*src &= ~MIGRATE_PFN_MIGRATE;
			return MIGRATE_PMD_PAGES;
		}
		*src &= ~MIGRATE_PFN_COMPOUND;
		for (k = 1; k < MIGRATE_PMD_PAGES; k++)
			src[k] = MIGRATE_PFN_MIGRATE;
		return 0;
	}
	old = hmm_mpfn_folio(mm, *src);
	if (!old || !hmm_migrate_refs_ok(args, old)) {
		*src &= ~MIGRATE_PFN_MIGRATE;
		return MIGRATE_PMD_PAGES;
	}
	if (d & MIGRATE_PFN_COMPOUND) {
		/* folio_migrate_mapping and folio_migrate_flags, for the whole folio. */
		if (!compound_dst_ok(new) || new == old ||
		    (folio_is_zone_device(new) && !folio_test_anon(old)) ||
		    (folio_test_anon(old) && folio_set_anon(new))) {
			*src &= ~MIGRATE_PFN_MIGRATE;
			return MIGRATE_PMD_PAGES;
		}
		new->index = old->index;	/* the rmap's linear index */
		if (folio_test_dirty(old))
			folio_mark_dirty(new);
		return MIGRATE_PMD_PAGES;
	}
	/*
	 * Small destinations: the source is split, then migrated page by page
	 * (a first destination that could not take a page splits nothing).
	 */
	if (!small_dst_ok(new) || split_unmapped(args, i, old)) {
		*src &= ~MIGRATE_PFN_MIGRATE;
		return MIGRATE_PMD_PAGES;
	}
	return 0;
}
