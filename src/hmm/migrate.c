// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * migrate_vma (mm/migrate_device.c): move the pages of a range between
 * system memory and device memory in three steps, as linux-hmm.md §4.4 and
 * cpu-mm-spec §9.9 describe them.
 *
 * setup: under a MIGRATE notification carrying the pgmap owner, each
 * selected page is referenced, locked, and its entry replaced by a migration
 * entry at once (rmap and the mapping's reference dropped; the collector
 * keeps its own). Holes and zero-page entries of private anonymous VMAs
 * become "allocate here" entries. With SELECT_COMPOUND a whole PMD block
 * (a THP, a device-private PMD, an empty THP-eligible block) is collected
 * as one compound source (migrate_compound.c, Linux 6.19); other PMD leaves
 * and large folios are split first (split_huge_pmd, then split_folio), as
 * kernels before the compound support did. Then the
 * "unmap" step: the other processes that map a collected page lose it too
 * (try_to_migrate: a CLEAR notification per mapping there), and a page still
 * mapped, or held by someone else (a pin), gets its entries back.
 *
 * pages: the state of each source moves to its destination; holes get the
 * destination installed (the one fill that notifies: MIGRATE).
 *
 * finalize: every migration entry becomes the destination's entry
 * (device-private for device memory, a present PTE otherwise), or the
 * source's again where the migration did not happen; sources and
 * destinations are unlocked and the migration's references dropped, so a
 * device source reaches page_free once nothing maps it.
 *
 * Entries change under the ptl of their mm, with the rmap and the
 * references, as in src/mm; no ptl is ever held across a notifier. The
 * mappings in other processes are migrate_remote.c's (migrate.h).
 */
#include <pthread.h>
#include <string.h>

#include "hmm/migrate_compound.h"
#include "base/alloc.h"

#define SELECT_MASK	(MIGRATE_VMA_SELECT_SYSTEM | MIGRATE_VMA_SELECT_DEVICE_PRIVATE | \
			 MIGRATE_VMA_SELECT_DEVICE_COHERENT)
#define MIGRATE_FLAGS	(SELECT_MASK | MIGRATE_VMA_SELECT_COMPOUND)

/* ------------------------------------------------------------------------ */
/* Entries                                                                  */
/* ------------------------------------------------------------------------ */

struct folio *hmm_mpfn_folio(struct mm_struct *mm, uint64_t mpfn)
{
	if (!(mpfn & MIGRATE_PFN_VALID))
		return NULL;
	return pfn_folio(mm, migrate_pfn_to_pfn(mpfn));
}

static struct folio *mpfn_folio(struct mm_struct *mm, uint64_t mpfn)
{
	return hmm_mpfn_folio(mm, mpfn);
}

/* Does @e map frame @pfn with a page a migration may take (a PTE, not the zero page)? */
bool hmm_entry_maps(pt_entry_t e, uint64_t pfn)
{
	if (pte_pfn(e) != pfn)
		return false;
	if (pte_present(e))
		return !(e & _PAGE_SPECIAL);
	return pte_swp_type(e) == SWP_DEVICE_READ || pte_swp_type(e) == SWP_DEVICE_WRITE;
}

bool hmm_entry_writable(pt_entry_t e)
{
	return pte_present(e) ? (e & _PAGE_RW) : pte_swp_type(e) == SWP_DEVICE_WRITE;
}

/* Replace the PTE at @addr (the caller checked it is @old) by @e. Under the ptl. */
int hmm_replace_pte(struct mm_struct *mm, uint64_t addr, pt_entry_t old, pt_entry_t e)
{
	int err;

	mm_clear_pte(mm, addr, 0);
	err = mm_set_pte(mm, addr, 0, e);
	if (err)
		mm_set_pte(mm, addr, 0, old);	/* the table is kept: this cannot fail */
	return err;
}

/*
 * Replace @e, a present PTE or device-private entry of page @page of
 * @folio at @addr, by a migration entry: write if it was writable,
 * read-exclusive if the page was anon-exclusive (which a possibly pinned
 * page cannot give up: -EBUSY), read otherwise. The rmap goes; the
 * mapping's reference is the caller's to drop. Context: @mm's ptl held.
 */
int hmm_unmap_to_migration(struct mm_struct *mm, uint64_t addr, pt_entry_t e,
			   struct folio *folio, uint64_t page)
{
	bool write = hmm_entry_writable(e);
	bool excl = folio_test_anon(folio) && folio_page_anon_exclusive(folio, page);
	unsigned int type;
	pt_entry_t mig;
	int err;

	if (excl && folio_try_share_anon_rmap_pte(folio, page))
		return -EBUSY;
	type = write ? SWP_MIGRATION_WRITE : excl ? SWP_MIGRATION_READ_EXCLUSIVE :
						    SWP_MIGRATION_READ;
	mig = mk_swp_entry(type, pte_pfn(e), false);
	if (pte_present(e)) {
		mig |= e & MIGRATION_KEEP;
		if (e & _PAGE_DIRTY)
			folio_mark_dirty(folio);
	}
	err = hmm_replace_pte(mm, addr, e, mig);
	if (err) {
		if (excl)
			folio_set_page_anon_exclusive(folio, page);
		return err;
	}
	folio_remove_rmap_pte(folio, page);
	return 0;
}

/*
 * remove_migration_pte: the migration entry for frame @old_pfn at @addr of
 * @mm becomes an entry for frame @new_pfn of @new: device-private (write if
 * the migration entry was) for device-private memory, a present PTE
 * otherwise; anon-exclusive unless it was a plain read entry; young and
 * dirty carried. rmap and one reference for the mapping. No notification:
 * non-present to anything never needs one. A PMD migration entry there
 * (compound migration) becomes the PMD of the order-9 @new (remove_migration_pmd).
 * Context: @mm's mmap_lock held; takes its ptl.
 */
void hmm_install_from_migration(struct mm_struct *mm, uint64_t addr, uint64_t old_pfn,
				struct folio *new, uint64_t new_pfn)
{
	struct vm_area_struct *vma = vma_lookup(mm, addr);
	unsigned int level, type;
	bool write, excl;
	pt_entry_t e, ne;

	pthread_mutex_lock(&mm->ptl);
	if (!vma || mm_get_pte(mm, addr, &e, &level) || level > 1 || pte_present(e) ||
	    pte_pfn(e) != old_pfn)
		goto out;
	type = pte_swp_type(e);
	if (type != SWP_MIGRATION_READ && type != SWP_MIGRATION_READ_EXCLUSIVE &&
	    type != SWP_MIGRATION_WRITE)
		goto out;
	if (level) {
		/* A PMD migration entry (compound): the whole order-9 @new. */
		if (new_pfn == folio_pfn(new))
			hmm_install_pmd_from_migration(vma, align_down(addr, MM_PMD_SHIFT), e, new);
		goto out;
	}
	write = type == SWP_MIGRATION_WRITE && (vma->flags & VM_WRITE);
	excl = type != SWP_MIGRATION_READ;
	if (folio_is_device_private(new)) {
		ne = mk_swp_entry(write ? SWP_DEVICE_WRITE : SWP_DEVICE_READ, new_pfn, excl);
	} else {
		ne = mk_pte(new_pfn, _PAGE_PRESENT | _PAGE_USER | (e & MIGRATION_KEEP) |
			    (write ? _PAGE_RW : 0) |
			    ((vma->flags & VM_READ) ? 0 : _PAGE_PROTNONE));
	}
	if (folio_add_anon_rmap_pte(new, folio_page_idx(new, new_pfn),
				    excl ? RMAP_EXCLUSIVE : 0))
		goto out;
	folio_get(new);
	if (hmm_replace_pte(mm, addr, e, ne)) {
		folio_remove_rmap_pte(new, folio_page_idx(new, new_pfn));
		folio_put(new);
	}
out:
	pthread_mutex_unlock(&mm->ptl);
}

/*
 * The entry a hole (or the zero page) of @vma gets for frame @pfn of a
 * fresh destination @new: a device-private entry, or a present PTE, young,
 * dirty when writable; anon-exclusive either way. The caller writes it at
 * the level it fills.
 */
pt_entry_t hmm_fresh_entry(const struct vm_area_struct *vma, const struct folio *new, uint64_t pfn)
{
	if (folio_is_device_private(new))
		return mk_swp_entry((vma->flags & VM_WRITE) ? SWP_DEVICE_WRITE : SWP_DEVICE_READ,
				    pfn, true);
	return mk_pte(pfn, _PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED |
		      ((vma->flags & VM_WRITE) ? _PAGE_RW | _PAGE_DIRTY : 0) |
		      ((vma->flags & VM_READ) ? 0 : _PAGE_PROTNONE));
}

/* ------------------------------------------------------------------------ */
/* Collection (setup)                                                       */
/* ------------------------------------------------------------------------ */

/*
 * Is every mapping of @folio one of @mm's PTEs (present or device-private),
 * where its pages sit around @addr (page @page of it)? The simulator's
 * stand-in for the kernel's exclusive-mapping knowledge. Context: @mm's
 * ptl held.
 */
bool hmm_folio_mapped_only_here(struct mm_struct *mm, struct folio *folio, uint64_t addr,
				uint64_t page)
{
	uint64_t base = addr - page * MM_PAGE_SIZE, i, n = 0;
	unsigned int level;
	pt_entry_t e;

	if (folio_entire_mapcount(folio))
		return false;
	for (i = 0; i < folio_nr_pages(folio); i++) {
		if (!mm_get_pte(mm, base + i * MM_PAGE_SIZE, &e, &level) && !level &&
		    hmm_entry_maps(e, folio_pfn(folio) + i))
			n++;
	}
	return n == (uint64_t)folio_mapcount(folio);
}

/*
 * Split @folio (PTE-mapped, page @page of it at @addr) into order-0
 * folios, as the collection of kernels before 6.19 does. Only a folio
 * mapped by this process alone is split: the kernel would unmap it
 * everywhere, hmmsim keeps the mappings in place, which is only safe while
 * this process's ptl holds them still. The folio of a device-private
 * fault (migrate_vma_split_folio) is locked and held by the fault handler
 * already: that lock and reference serve. Context: the caller holds a
 * reference (the fault handler's for that folio); no ptl. Returns true when
 * split.
 */
static bool split_large(struct migrate_vma *args, struct folio *folio, uint64_t addr,
			uint64_t page)
{
	struct mm_struct *mm = args->vma->mm;
	bool fault = folio == args->fault_page, ok = false, elsewhere = false;

	if (!fault && !folio_trylock(folio))
		return false;
	pthread_mutex_lock(&mm->ptl);
	if (folio_test_large(folio) && !folio_test_hugetlb(folio)) {
		if (hmm_folio_mapped_only_here(mm, folio, addr, page)) {
			folio_clear_flags(folio, FOLIO_DEFERRED_SPLIT);
			ok = !split_folio(folio);
		} else {
			elsewhere = folio_is_device_private(folio);
		}
	}
	pthread_mutex_unlock(&mm->ptl);
	/* A device folio must be split to come back: with its other mappings too. */
	if (elsewhere)
		ok = !migrate_split_device_folio(args, folio);
	if (!fault)
		folio_unlock(folio);
	return ok;
}

/*
 * A large folio met at the PTE level (the ptl held, released here): split
 * it, then collect its pages one by one (6.15+; 6.19 for device-private
 * ones). Returns where to go on: @addr again after the split, or the next
 * page, skipped.
 */
static uint64_t collect_large(struct migrate_vma *args, uint64_t addr, struct folio *folio,
			      uint64_t page)
{
	struct mm_struct *mm = args->vma->mm;
	bool fault = folio == args->fault_page, split;

	if (!fault && folio_get(folio)) {
		pthread_mutex_unlock(&mm->ptl);
		split = false;
	} else {
		pthread_mutex_unlock(&mm->ptl);
		split = split_large(args, folio, addr, page);
		if (!fault)
			folio_put(folio);
	}
	if (split)
		return addr;
	args->src[(addr - args->start) >> MM_PAGE_SHIFT] = 0;
	return addr + MM_PAGE_SIZE;
}

static void skip_range(struct migrate_vma *args, uint64_t start, uint64_t end)
{
	uint64_t addr;

	for (addr = start; addr < end; addr += MM_PAGE_SIZE)
		args->src[(addr - args->start) >> MM_PAGE_SHIFT] = 0;
}

/*
 * A PMD leaf at @addr (the ptl held, released here). With
 * SELECT_COMPOUND and the whole block in the range, a THP or device-private
 * PMD is collected whole and the huge zero PMD is a compound hole
 * (migrate_compound.c). Otherwise the huge zero PMD is split into zero-page
 * PTEs, a THP is split (PMD, then folio), a device-private PMD is split
 * (then its folio, at the PTE level). Returns where to go on: @addr again
 * after a split, or past the block, collected or skipped.
 */
static uint64_t collect_pmd(struct migrate_vma *args, uint64_t addr, pt_entry_t e)
{
	struct vm_area_struct *vma = args->vma;
	struct mm_struct *mm = vma->mm;
	uint64_t haddr = align_down(addr, MM_PMD_SHIFT);
	uint64_t next = haddr + MM_PMD_SIZE < args->end ? haddr + MM_PMD_SIZE : args->end;
	bool whole = migrate_compound_block(args, haddr);
	struct folio *folio;
	bool split;

	if (!pte_present(e)) {
		/* A device-private PMD of ours; migration entries are skipped. */
		folio = is_device_private_entry(e) ? pfn_folio(mm, pte_pfn(e)) : NULL;
		if (!folio || !(args->flags & MIGRATE_VMA_SELECT_DEVICE_PRIVATE) ||
		    folio->owner != args->pgmap_owner) {
			pthread_mutex_unlock(&mm->ptl);
			goto skip;
		}
		if (whole)
			return migrate_collect_compound(args, haddr, e, folio);
		pthread_mutex_unlock(&mm->ptl);
		if (split_huge_pmd(vma, haddr))
			goto skip;
		return addr;
	}
	if (e & _PAGE_SPECIAL) {
		pthread_mutex_unlock(&mm->ptl);
		if ((args->flags & MIGRATE_VMA_SELECT_COMPOUND) &&
		    !(args->flags & MIGRATE_VMA_SELECT_SYSTEM))
			goto skip;	/* 6.19 leaves it alone for a device selection */
		if (whole) {
			/* The huge zero PMD is a hole (6.19), replaced whole or split later. */
			args->src[(haddr - args->start) >> MM_PAGE_SHIFT] =
				MIGRATE_PFN_MIGRATE | MIGRATE_PFN_COMPOUND;
			args->cpages++;
			skip_range(args, haddr + MM_PAGE_SIZE, next);
			return next;
		}
		if (split_huge_pmd(vma, haddr))
			goto skip;
		return addr;
	}
	folio = pfn_folio(mm, pte_pfn(e));
	if (!folio || !folio_test_anon(folio)) {
		pthread_mutex_unlock(&mm->ptl);
		goto skip;
	}
	if (args->flags & MIGRATE_VMA_SELECT_COMPOUND) {
		/* 6.19 takes a THP only for what the selection asks. */
		if (folio_is_device_coherent(folio) ?
		    !(args->flags & MIGRATE_VMA_SELECT_DEVICE_COHERENT) ||
		    folio->owner != args->pgmap_owner :
		    !(args->flags & MIGRATE_VMA_SELECT_SYSTEM)) {
			pthread_mutex_unlock(&mm->ptl);
			goto skip;
		}
		if (whole)
			return migrate_collect_compound(args, haddr, e, folio);
	}
	if (folio_get(folio)) {
		pthread_mutex_unlock(&mm->ptl);
		goto skip;
	}
	pthread_mutex_unlock(&mm->ptl);
	if (!folio_trylock(folio)) {
		folio_put(folio);
		goto skip;
	}
	split = !split_huge_pmd(vma, haddr);
	folio_unlock(folio);
	if (split)
		split = split_large(args, folio, haddr, 0);
	folio_put(folio);
	if (split)
		return addr;
skip:
	skip_range(args, addr, next);
	return next;
}

/*
 * One PTE at @addr, page @i of the range (the ptl held, released here).
 * Returns where to go on: @addr again after a split, or the next page.
 */
static uint64_t collect_pte(struct migrate_vma *args, uint64_t addr, pt_entry_t e)
{
	struct vm_area_struct *vma = args->vma;
	struct mm_struct *mm = vma->mm;
	struct folio *fault_folio = args->fault_page;
	uint64_t i = (addr - args->start) >> MM_PAGE_SHIFT, pfn = pte_pfn(e), page;
	uint64_t mpfn = 0;
	struct folio *folio;
	bool write;

	if (pte_present(e)) {
		if (e & _PAGE_SPECIAL) {
			/* The zero page is a hole with something to replace. */
			if (args->flags & MIGRATE_VMA_SELECT_SYSTEM) {
				mpfn = MIGRATE_PFN_MIGRATE;
				args->cpages++;
			}
			goto out;
		}
		folio = pfn_folio(mm, pfn);
		if (!folio)
			goto out;
		if (folio_is_device_coherent(folio)) {
			if (!(args->flags & MIGRATE_VMA_SELECT_DEVICE_COHERENT) ||
			    folio->owner != args->pgmap_owner)
				goto out;
		} else if (!(args->flags & MIGRATE_VMA_SELECT_SYSTEM)) {
			goto out;
		}
		/* Page-cache pages (file and shared mappings) never go to a device. */
		if (!folio_test_anon(folio) || folio_test_hugetlb(folio))
			goto out;
		page = folio_page_idx(folio, pfn);
		if (folio_test_large(folio))
			return collect_large(args, addr, folio, page);
	} else {
		if (!is_device_private_entry(e))
			goto out;	/* migration and device-exclusive entries */
		folio = pfn_folio(mm, pfn);
		if (!folio || !(args->flags & MIGRATE_VMA_SELECT_DEVICE_PRIVATE) ||
		    folio->owner != args->pgmap_owner)
			goto out;
		/* A PTE-mapped large device folio (its PMD was split): split it (6.19). */
		page = folio_page_idx(folio, pfn);
		if (folio_test_large(folio))
			return collect_large(args, addr, folio, page);
	}
	write = hmm_entry_writable(e);

	/* The collector's reference, then the lock: trylock, best effort. */
	if (folio_get(folio))
		goto out;
	if (folio != fault_folio && !folio_trylock(folio)) {
		folio_put(folio);
		goto out;
	}
	if (hmm_unmap_to_migration(mm, addr, e, folio, page)) {
		if (folio != fault_folio)
			folio_unlock(folio);
		folio_put(folio);
		goto out;
	}
	folio_put(folio);	/* the mapping's; the collector keeps its own */
	mpfn = migrate_pfn(pfn) | MIGRATE_PFN_MIGRATE | (write ? MIGRATE_PFN_WRITE : 0);
	args->cpages++;
out:
	pthread_mutex_unlock(&mm->ptl);
	args->src[i] = mpfn;
	return addr + MM_PAGE_SIZE;
}

static void migrate_vma_collect(struct migrate_vma *args)
{
	struct vm_area_struct *vma = args->vma;
	struct mm_struct *mm = vma->mm;
	struct mmu_notifier_range range;
	unsigned int level, shift;
	uint64_t addr, next, a;
	pt_entry_t e;
	int err;

	mmu_notifier_range_init(&range, MMU_NOTIFY_MIGRATE, mm, args->start, args->end);
	range.owner = args->pgmap_owner;
	mmu_notifier_invalidate_range_start(&range);
	for (addr = args->start; addr < args->end; addr = next) {
		pthread_mutex_lock(&mm->ptl);
		err = mm_get_pte(mm, addr, &e, &level);
		if (err) {
			/* A hole as large as the empty entry: allocate-and-clear slots. */
			shift = MM_PAGE_SHIFT + 9 * (err == -ENOENT ? level : 0);
			next = align_down(addr, shift) + (UINT64_C(1) << shift);
			if (next > args->end)
				next = args->end;
			pthread_mutex_unlock(&mm->ptl);
			for (a = addr; a < next; a += MM_PAGE_SIZE) {
				uint64_t i = (a - args->start) >> MM_PAGE_SHIFT;

				if (err == -ENOENT && level && vma_is_anonymous(vma) &&
				    migrate_compound_hole(args, a)) {
					/* A whole empty PMD slot: one compound hole (6.19). */
					args->src[i] = MIGRATE_PFN_MIGRATE | MIGRATE_PFN_COMPOUND;
					args->cpages++;
					skip_range(args, a + MM_PAGE_SIZE, a + MM_PMD_SIZE);
					a += MM_PMD_SIZE - MM_PAGE_SIZE;
					continue;
				}
				args->src[i] = vma_is_anonymous(vma) ? MIGRATE_PFN_MIGRATE : 0;
				args->cpages += vma_is_anonymous(vma);
			}
			continue;
		}
		if (level)
			next = collect_pmd(args, addr, e);
		else
			next = collect_pte(args, addr, e);
	}
	mmu_notifier_invalidate_range_end(&range);
}

/* Put back every entry of source page @idx (local and remote) and let the page go. */
static void restore_source(struct migrate_vma *args, struct migrate_state *st, uint64_t idx)
{
	struct mm_struct *mm = args->vma->mm;
	uint64_t pfn = migrate_pfn_to_pfn(args->src[idx]);
	struct folio *folio = pfn_folio(mm, pfn);

	hmm_install_from_migration(mm, args->start + idx * MM_PAGE_SIZE, pfn, folio, pfn);
	if (args->src[idx] & MIGRATE_PFN_COMPOUND)
		migrate_install_compound_remote(st, idx, pfn, folio, pfn, true);
	else
		migrate_install_remote(st, idx, pfn, folio, pfn, true);
	if (folio != args->fault_page)
		folio_unlock(folio);
	folio_put(folio);
	args->src[idx] = 0;
}

/*
 * migrate_vma_check_page: after unmapping, only the collector (and the
 * fault handler, for the faulting page) may hold the page; a pin or any
 * other reference keeps it where it is.
 */
bool hmm_migrate_refs_ok(const struct migrate_vma *args, const struct folio *folio)
{
	int expect = 1 + folio_ref_bias(folio) + (folio == args->fault_page);

	return !folio_mapped(folio) && folio_ref_count(folio) == expect;
}

static void migrate_vma_unmap(struct migrate_vma *args)
{
	struct mm_struct *mm = args->vma->mm;
	struct migrate_state *st = NULL;
	struct folio *folio;
	uint64_t i, pfn;

	for (i = 0; i < args->npages; i++) {
		if (!(args->src[i] & MIGRATE_PFN_VALID))
			continue;
		pfn = migrate_pfn_to_pfn(args->src[i]);
		folio = pfn_folio(mm, pfn);
		if (folio_mapped(folio) && (args->src[i] & MIGRATE_PFN_COMPOUND))
			migrate_unmap_compound(args, &st, i, folio);
		else if (folio_mapped(folio))
			migrate_unmap_remote(args, &st, i, args->start + i * MM_PAGE_SIZE, folio, pfn);
		if (!hmm_migrate_refs_ok(args, folio))
			restore_source(args, st, i);
	}
	if (st)
		migrate_state_trim(st);
	args->cpages = 0;
	for (i = 0; i < args->npages; i++)
		args->cpages += !!(args->src[i] & MIGRATE_PFN_MIGRATE);
}

HMMSIM_API int migrate_vma_setup(struct migrate_vma *args)
{
	struct vm_area_struct *vma;
	struct folio *fp;

	if (!args || !args->vma || !args->src || !args->dst)
		return -EINVAL;
	vma = args->vma;
	if ((args->start | args->end) & (MM_PAGE_SIZE - 1) || args->start >= args->end ||
	    args->start < vma->start || args->end > vma->end || vma_is_hugetlb(vma))
		return -EINVAL;
	if (!(args->flags & SELECT_MASK) || (args->flags & ~MIGRATE_FLAGS))
		return -EINVAL;
	fp = args->fault_page;
	if (fp && (!folio_is_device_private(fp) || !folio_test_locked(fp)))
		return -EINVAL;

	args->npages = (args->end - args->start) >> MM_PAGE_SHIFT;
	args->cpages = 0;
	memset(args->src, 0, args->npages * sizeof(*args->src));
	memset(args->dst, 0, args->npages * sizeof(*args->dst));
	migrate_vma_collect(args);
	if (args->cpages)
		migrate_vma_unmap(args);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* migrate_vma_pages                                                        */
/* ------------------------------------------------------------------------ */

/*
 * migrate_vma_insert_page: a hole (or the zero page) of a private anonymous
 * VMA gets @new: a device-private entry, or a present PTE for system or
 * coherent memory; a fresh exclusive anon page, with a reference for the
 * mapping. MIGRATE is cleared when the slot was filled meanwhile.
 */
static void insert_page(struct migrate_vma *args, uint64_t addr, struct folio *new,
			uint64_t *src)
{
	struct vm_area_struct *vma = args->vma;
	struct mm_struct *mm = vma->mm;
	uint64_t pfn = folio_pfn(new);
	unsigned int level;
	pt_entry_t e = 0, ne;
	bool zero = false;
	int err;

	if (!vma_is_anonymous(vma))
		goto abort;
	ne = hmm_fresh_entry(vma, new, pfn);
	pthread_mutex_lock(&mm->ptl);
	err = mm_get_pte(mm, addr, &e, &level);
	if (!err) {
		if (level || !pte_present(e) || !(e & _PAGE_SPECIAL))
			goto unlock_abort;
		zero = true;
	} else if (err != -ENOENT) {
		goto unlock_abort;
	}
	new->index = vma_pgoff_of(vma, addr);	/* for the rmap */
	if (folio_add_new_anon_rmap(new, RMAP_EXCLUSIVE))
		goto unlock_abort;
	folio_get(new);
	if (zero)
		mm_clear_pte(mm, addr, 0);
	if (mm_set_pte(mm, addr, 0, ne)) {
		if (zero)
			mm_set_pte(mm, addr, 0, e);
		folio_remove_rmap_pte(new, 0);
		folio_put(new);
		goto unlock_abort;
	}
	vma->anon_vma = true;
	MM_STAT_INC(mm, rss_anon);
	pthread_mutex_unlock(&mm->ptl);
	*src = MIGRATE_PFN_MIGRATE;
	return;

unlock_abort:
	pthread_mutex_unlock(&mm->ptl);
abort:
	*src &= ~MIGRATE_PFN_MIGRATE;
}

HMMSIM_API void migrate_vma_pages(struct migrate_vma *args)
{
	struct mmu_notifier_range range;
	struct folio *new, *old;
	struct mm_struct *mm;
	bool notified = false;
	uint64_t i, n, addr;

	if (!args || !args->vma || !args->src || !args->dst)
		return;
	mm = args->vma->mm;
	for (i = 0; i < args->npages; i++) {
		addr = args->start + i * MM_PAGE_SIZE;
		if (args->src[i] & MIGRATE_PFN_COMPOUND) {
			/* A whole PMD block; after a split its words go on one by one. */
			n = migrate_pages_compound(args, i, &range, &notified);
			if (n) {
				i += n - 1;
				continue;
			}
		}
		new = mpfn_folio(mm, args->dst[i]);
		/*
		 * Destinations of single pages are fresh order-0 folios: a 2 MiB
		 * one (COMPOUND) goes only with a compound source, which the
		 * kernel then leaves in place.
		 */
		if (!new || folio_test_large(new) || folio_mapped(new) ||
		    folio_test_hugetlb(new) || (folio_flags(new) & FOLIO_ZERO) ||
		    (args->dst[i] & MIGRATE_PFN_COMPOUND)) {
			args->src[i] &= ~MIGRATE_PFN_MIGRATE;
			continue;
		}
		if (!(args->src[i] & MIGRATE_PFN_VALID)) {
			if (!(args->src[i] & MIGRATE_PFN_MIGRATE))
				continue;
			/* The fill that notifies: from the first hole to the end. */
			migrate_notify_fill(args, addr, &range, &notified);
			insert_page(args, addr, new, &args->src[i]);
			continue;
		}
		if (!(args->src[i] & MIGRATE_PFN_MIGRATE))
			continue;
		old = mpfn_folio(mm, args->src[i]);
		if (new == old || (folio_is_zone_device(new) && !folio_test_anon(old)) ||
		    !hmm_migrate_refs_ok(args, old)) {
			args->src[i] &= ~MIGRATE_PFN_MIGRATE;
			continue;
		}
		/* folio_migrate_mapping and folio_migrate_flags: anon and index, dirty. */
		if (folio_test_anon(old) && folio_set_anon(new)) {
			args->src[i] &= ~MIGRATE_PFN_MIGRATE;
			continue;
		}
		new->index = old->index +
			     folio_page_idx(old, migrate_pfn_to_pfn(args->src[i]));
		if (folio_test_dirty(old))
			folio_mark_dirty(new);
	}
	if (notified)
		mmu_notifier_invalidate_range_end(&range);
}

/* ------------------------------------------------------------------------ */
/* migrate_vma_finalize                                                     */
/* ------------------------------------------------------------------------ */

static void release_dst(struct folio *dst)
{
	folio_unlock(dst);
	folio_put(dst);		/* the driver's allocation reference */
}

HMMSIM_API void migrate_vma_finalize(struct migrate_vma *args)
{
	struct migrate_state *st;
	struct folio *src, *dst, *use;
	struct mm_struct *mm;
	uint64_t i, src_pfn, use_pfn;

	if (!args || !args->vma || !args->src || !args->dst)
		return;
	mm = args->vma->mm;
	st = migrate_state_find(args, false);
	for (i = 0; i < args->npages; i++) {
		dst = mpfn_folio(mm, args->dst[i]);
		if (!(args->src[i] & MIGRATE_PFN_VALID)) {
			if (dst)
				release_dst(dst);
			continue;
		}
		src_pfn = migrate_pfn_to_pfn(args->src[i]);
		src = pfn_folio(mm, src_pfn);
		/* A destination migrate_vma_pages() did not take (anon) stays unused. */
		if (!(args->src[i] & MIGRATE_PFN_MIGRATE) || !dst || !folio_test_anon(dst) ||
		    folio_mapped(dst)) {
			if (dst)
				release_dst(dst);
			dst = NULL;
		}
		use = dst ? dst : src;
		use_pfn = dst ? migrate_pfn_to_pfn(args->dst[i]) : src_pfn;
		hmm_install_from_migration(mm, args->start + i * MM_PAGE_SIZE, src_pfn, use, use_pfn);
		if (args->src[i] & MIGRATE_PFN_COMPOUND)
			migrate_install_compound_remote(st, i, src_pfn, use, use_pfn, false);
		else
			migrate_install_remote(st, i, src_pfn, use, use_pfn, false);
		if (src != args->fault_page)
			folio_unlock(src);
		folio_put(src);		/* the collector's: a device source may be freed here */
		if (dst)
			release_dst(dst);
	}
	migrate_state_release(st);
}

/* ------------------------------------------------------------------------ */
/* For GUP: a long-term pin of a device-coherent page moves it out first    */
/* ------------------------------------------------------------------------ */

int hmm_migrate_coherent_to_ram(struct vm_area_struct *vma, uint64_t addr, void *owner)
{
	struct migrate_vma args = {
		.vma = vma,
		.start = align_down(addr, MM_PAGE_SHIFT),
		.end = align_down(addr, MM_PAGE_SHIFT) + MM_PAGE_SIZE,
		.pgmap_owner = owner,
		.flags = MIGRATE_VMA_SELECT_DEVICE_COHERENT,
	};
	uint64_t src = 0, dst = 0;
	struct folio *old, *new;
	int err;

	args.src = &src;
	args.dst = &dst;
	err = migrate_vma_setup(&args);
	if (err)
		return err;
	if (!args.cpages)
		return -EAGAIN;
	old = mpfn_folio(vma->mm, src);
	if (!old || !(src & MIGRATE_PFN_MIGRATE)) {
		migrate_vma_finalize(&args);
		return -EAGAIN;
	}
	new = folio_alloc(vma->mm->sys->pool, 0, 0);
	if (!new) {
		migrate_vma_finalize(&args);
		return -ENOMEM;
	}
	folio_lock(new);
	folio_copy_page(new, 0, old, 0);
	dst = migrate_pfn(folio_pfn(new));
	migrate_vma_pages(&args);
	err = (src & MIGRATE_PFN_MIGRATE) ? 0 : -EAGAIN;
	migrate_vma_finalize(&args);
	return err;
}
