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
 * become "allocate here" entries. PMD THPs are split first (split_huge_pmd,
 * then split_folio, as kernels before the compound support did). Then the
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
 * references, as in src/mm; no ptl is ever held across a notifier.
 */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include <time.h>

#include "hmm/internal.h"
#include "base/alloc.h"

#define SELECT_MASK	(MIGRATE_VMA_SELECT_SYSTEM | MIGRATE_VMA_SELECT_DEVICE_PRIVATE | \
			 MIGRATE_VMA_SELECT_DEVICE_COHERENT)
#define MIGRATE_FLAGS	(SELECT_MASK | MIGRATE_VMA_SELECT_COMPOUND)

/* The bits of a present PTE a migration entry carries back (young, dirty, soft-dirty). */
#define MIGRATION_KEEP	(_PAGE_ACCESSED | _PAGE_DIRTY | _PAGE_SOFT_DIRTY)

/* ------------------------------------------------------------------------ */
/* Mappings in other processes                                              */
/* ------------------------------------------------------------------------ */

/*
 * The kernel finds every mapping of a folio through its anon_vma; hmmsim
 * has no reverse map, so a page a process shares with its fork relatives is
 * looked for at the same address in the system's other processes (fork
 * keeps addresses). What the unmap step replaced there is recorded here,
 * per migrate_vma, until finalize puts the final entries in: the kernel
 * finds them again by rmap, hmmsim by this record.
 *
 * Those processes' mmap_locks stay held for reading from setup to finalize,
 * so that none of them forks, unmaps or exits while it holds a migration
 * entry only this migration knows of. They are only ever try-locked, so
 * no lock order is created between processes.
 */
struct remote_map {
	uint64_t idx;			/* the page in src[] */
	struct mm_struct *mm;
	uint64_t addr;
};

struct migrate_state {
	const struct migrate_vma *args;
	struct remote_map *maps;
	size_t nr_maps, cap_maps;
	struct mm_struct **mms;		/* read-locked by this migration */
	size_t nr_mms, cap_mms;
	struct migrate_state *next;
};

static pthread_mutex_t states_lock = PTHREAD_MUTEX_INITIALIZER;
static struct migrate_state *states;

static struct migrate_state *state_find(const struct migrate_vma *args, bool create)
{
	struct migrate_state *st;

	pthread_mutex_lock(&states_lock);
	for (st = states; st; st = st->next)
		if (st->args == args)
			break;
	if (!st && create) {
		st = hs_calloc(1, sizeof(*st));
		if (st) {
			st->args = args;
			st->next = states;
			states = st;
		}
	}
	pthread_mutex_unlock(&states_lock);
	return st;
}

/* Forget @st: unlock the processes it holds and free it. */
static void state_release(struct migrate_state *st)
{
	struct migrate_state **p;
	size_t i;

	if (!st)
		return;
	pthread_mutex_lock(&states_lock);
	for (p = &states; *p; p = &(*p)->next) {
		if (*p == st) {
			*p = st->next;
			break;
		}
	}
	pthread_mutex_unlock(&states_lock);
	for (i = 0; i < st->nr_mms; i++)
		mmap_read_unlock(st->mms[i]);
	free(st->maps);
	free(st->mms);
	free(st);
}

static bool state_holds(const struct migrate_state *st, const struct mm_struct *mm)
{
	size_t i;

	for (i = 0; i < st->nr_mms; i++)
		if (st->mms[i] == mm)
			return true;
	return false;
}

/* Room for one more element in a growing array of @size-byte elements. */
static void *grow(void *arr, size_t *cap, size_t nr, size_t size)
{
	size_t ncap;
	void *p;

	if (nr < *cap)
		return arr;
	ncap = *cap ? 2 * *cap : 8;
	p = hs_realloc(arr, ncap * size);
	if (p)
		*cap = ncap;
	return p;
}

/* ------------------------------------------------------------------------ */
/* Entries                                                                  */
/* ------------------------------------------------------------------------ */

static struct folio *mpfn_folio(struct mm_struct *mm, uint64_t mpfn)
{
	if (!(mpfn & MIGRATE_PFN_VALID))
		return NULL;
	return pfn_folio(mm, migrate_pfn_to_pfn(mpfn));
}

/* Does @e map frame @pfn with a page a migration may take (a PTE, not the zero page)? */
static bool entry_maps(pt_entry_t e, uint64_t pfn)
{
	if (pte_pfn(e) != pfn)
		return false;
	if (pte_present(e))
		return !(e & _PAGE_SPECIAL);
	return pte_swp_type(e) == SWP_DEVICE_READ || pte_swp_type(e) == SWP_DEVICE_WRITE;
}

static bool entry_writable(pt_entry_t e)
{
	return pte_present(e) ? (e & _PAGE_RW) : pte_swp_type(e) == SWP_DEVICE_WRITE;
}

/* Replace the PTE at @addr (the caller checked it is @old) by @e. Under the ptl. */
static int replace_pte(struct mm_struct *mm, uint64_t addr, pt_entry_t old, pt_entry_t e)
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
static int unmap_to_migration(struct mm_struct *mm, uint64_t addr, pt_entry_t e,
			      struct folio *folio, uint64_t page)
{
	bool write = entry_writable(e);
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
	err = replace_pte(mm, addr, e, mig);
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
 * non-present to anything never needs one. Context: @mm's mmap_lock held;
 * takes its ptl.
 */
static void install_from_migration(struct mm_struct *mm, uint64_t addr, uint64_t old_pfn,
				   struct folio *new, uint64_t new_pfn)
{
	struct vm_area_struct *vma = vma_lookup(mm, addr);
	unsigned int level, type;
	bool write, excl;
	pt_entry_t e, ne;

	pthread_mutex_lock(&mm->ptl);
	if (!vma || mm_get_pte(mm, addr, &e, &level) || level || pte_present(e) ||
	    pte_pfn(e) != old_pfn)
		goto out;
	type = pte_swp_type(e);
	if (type != SWP_MIGRATION_READ && type != SWP_MIGRATION_READ_EXCLUSIVE &&
	    type != SWP_MIGRATION_WRITE)
		goto out;
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
	if (replace_pte(mm, addr, e, ne)) {
		folio_remove_rmap_pte(new, folio_page_idx(new, new_pfn));
		folio_put(new);
	}
out:
	pthread_mutex_unlock(&mm->ptl);
}

/* ------------------------------------------------------------------------ */
/* Collection (setup)                                                       */
/* ------------------------------------------------------------------------ */

/*
 * Is every mapping of @folio one of @mm's PTEs, where its pages sit
 * around @addr (page @page of it)? The simulator's stand-in for the
 * kernel's exclusive-mapping knowledge. Context: @mm's ptl held.
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
		    pte_present(e) && pte_pfn(e) == folio_pfn(folio) + i)
			n++;
	}
	return n == (uint64_t)folio_mapcount(folio);
}

/*
 * Split @folio (PTE-mapped, page @page of it at @addr) into order-0
 * folios, as the collection of kernels before 6.19 does. Only a folio
 * mapped by this process alone is split: the kernel would unmap it
 * everywhere, hmmsim keeps the mappings in place, which is only safe while
 * this process's ptl holds them still. Context: the caller holds a
 * reference; no ptl. Returns true when split.
 */
static bool split_large(struct mm_struct *mm, struct folio *folio, uint64_t addr, uint64_t page)
{
	bool ok = false;

	if (!folio_trylock(folio))
		return false;
	pthread_mutex_lock(&mm->ptl);
	if (folio_test_large(folio) && !folio_test_hugetlb(folio) &&
	    hmm_folio_mapped_only_here(mm, folio, addr, page)) {
		folio_clear_flags(folio, FOLIO_DEFERRED_SPLIT);
		ok = !split_folio(folio);
	}
	pthread_mutex_unlock(&mm->ptl);
	folio_unlock(folio);
	return ok;
}

static void skip_range(struct migrate_vma *args, uint64_t start, uint64_t end)
{
	uint64_t addr;

	for (addr = start; addr < end; addr += MM_PAGE_SIZE)
		args->src[(addr - args->start) >> MM_PAGE_SHIFT] = 0;
}

/*
 * A PMD leaf at @addr (the ptl held, released here): the huge zero PMD is
 * split into zero-page PTEs, a THP is split (PMD, then folio). Returns
 * where to go on: @addr again after a split, or past the block, skipped.
 */
static uint64_t collect_pmd(struct migrate_vma *args, uint64_t addr, pt_entry_t e)
{
	struct vm_area_struct *vma = args->vma;
	struct mm_struct *mm = vma->mm;
	uint64_t haddr = align_down(addr, MM_PMD_SHIFT);
	uint64_t next = haddr + MM_PMD_SIZE < args->end ? haddr + MM_PMD_SIZE : args->end;
	struct folio *folio;
	bool split;

	if (!pte_present(e)) {
		pthread_mutex_unlock(&mm->ptl);
		goto skip;
	}
	if (e & _PAGE_SPECIAL) {
		pthread_mutex_unlock(&mm->ptl);
		if (split_huge_pmd(vma, haddr))
			goto skip;
		return addr;
	}
	folio = pfn_folio(mm, pte_pfn(e));
	if (!folio || !folio_test_anon(folio) || folio_get(folio)) {
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
		split = split_large(mm, folio, haddr, 0);
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
		if (folio_test_large(folio)) {
			bool split;

			if (folio_get(folio))
				goto out;
			pthread_mutex_unlock(&mm->ptl);
			split = split_large(mm, folio, addr, page);
			folio_put(folio);
			if (split)
				return addr;
			args->src[i] = 0;
			return addr + MM_PAGE_SIZE;
		}
	} else {
		if (pte_swp_type(e) != SWP_DEVICE_READ && pte_swp_type(e) != SWP_DEVICE_WRITE)
			goto out;	/* migration and device-exclusive entries */
		folio = pfn_folio(mm, pfn);
		if (!folio || !(args->flags & MIGRATE_VMA_SELECT_DEVICE_PRIVATE) ||
		    folio->owner != args->pgmap_owner)
			goto out;
		/* Large device-private folios come with compound migration (6.19). */
		if (folio_test_large(folio))
			goto out;
		page = 0;
	}
	write = entry_writable(e);

	/* The collector's reference, then the lock: trylock, best effort. */
	if (folio_get(folio))
		goto out;
	if (folio != fault_folio && !folio_trylock(folio)) {
		folio_put(folio);
		goto out;
	}
	if (unmap_to_migration(mm, addr, e, folio, page)) {
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

/*
 * try_to_migrate for the mappings of @folio (frame @pfn, collected at
 * @addr, page @idx of the range) in other processes: find them all at the
 * same address, try-lock those processes (giving up on any that is busy:
 * the page then stays), and replace each mapping by a migration entry,
 * under a CLEAR notification of that process's page.
 */
/* The read side of another process's mmap_lock, waiting at most 20 ms. */
static int rdlock_briefly(pthread_rwlock_t *lock)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += 20 * 1000 * 1000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	return pthread_rwlock_timedrdlock(lock, &ts);
}

static void unmap_remote(struct migrate_vma *args, struct migrate_state **stp, uint64_t idx,
			 uint64_t addr, struct folio *folio, uint64_t pfn)
{
	struct mm_struct *mm = args->vma->mm, *b;
	struct mm_system *sys = mm->sys;
	struct mmu_notifier_range range;
	struct migrate_state *st;
	struct mm_struct **cand = NULL;
	size_t nr = 0, cap = 0;
	void *p;
	unsigned int level;
	bool busy = false;
	pt_entry_t e;

	st = *stp ? *stp : state_find(args, true);
	if (!st)
		return;
	*stp = st;
	pthread_mutex_lock(&sys->lock);
	for (b = sys->mms; b; b = b->next) {
		if (b == mm || mm_get_pte(b, addr, &e, &level) || level || !entry_maps(e, pfn))
			continue;
		p = grow(cand, &cap, nr, sizeof(*cand));
		if (p)
			cand = p;
		p = p ? grow(st->mms, &st->cap_mms, st->nr_mms, sizeof(*st->mms)) : NULL;
		if (!p) {
			busy = true;
			break;
		}
		st->mms = p;
		if (!state_holds(st, b)) {
			/*
			 * Wait a little, never long: the process may be in the middle of
			 * an mmap, mprotect or fork (a moment), or in an exit that waits
			 * for the list lock we hold. Busy makes the fault retry.
			 */
			if (rdlock_briefly(&b->mmap_lock)) {
				busy = true;
				break;
			}
			/*
			 * Look again now that we hold it: while we waited, the process
			 * may have finished exiting (exit_vmas() zapped everything and
			 * the write lock was dropped; mm_free() now waits for the list
			 * lock we hold). Keeping its lock past our list lock would
			 * unlock freed memory later, maybe the next mm allocated there
			 * (whose reader count then underflows: its exit hangs). An mm
			 * that still maps the page cannot exit while we hold this.
			 */
			if (mm_get_pte(b, addr, &e, &level) || level || !entry_maps(e, pfn)) {
				mmap_read_unlock(b);
				continue;
			}
			st->mms[st->nr_mms++] = b;
		}
		cand[nr++] = b;
	}
	pthread_mutex_unlock(&sys->lock);

	/* Only when every other mapping was found can the page move at all. */
	if (busy || nr != (size_t)folio_mapcount(folio))
		goto out;
	for (size_t k = 0; k < nr; k++) {
		b = cand[k];
		p = grow(st->maps, &st->cap_maps, st->nr_maps, sizeof(*st->maps));
		if (!p)
			break;
		st->maps = p;
		mmu_notifier_range_init(&range, MMU_NOTIFY_CLEAR, b, addr, addr + MM_PAGE_SIZE);
		mmu_notifier_invalidate_range_start(&range);
		pthread_mutex_lock(&b->ptl);
		if (!mm_get_pte(b, addr, &e, &level) && !level && entry_maps(e, pfn) &&
		    !unmap_to_migration(b, addr, e, folio, 0)) {
			st->maps[st->nr_maps++] = (struct remote_map){ idx, b, addr };
			folio_put(folio);	/* that mapping's reference */
		}
		pthread_mutex_unlock(&b->ptl);
		mmu_notifier_invalidate_range_end(&range);
	}
out:
	/* Processes locked for nothing are let go by state_trim(). */
	free(cand);
}

/* Put back every entry of source page @idx (local and remote) and let the page go. */
static void restore_source(struct migrate_vma *args, struct migrate_state *st, uint64_t idx)
{
	struct mm_struct *mm = args->vma->mm;
	uint64_t pfn = migrate_pfn_to_pfn(args->src[idx]);
	struct folio *folio = pfn_folio(mm, pfn);
	size_t k;

	install_from_migration(mm, args->start + idx * MM_PAGE_SIZE, pfn, folio, pfn);
	for (k = 0; st && k < st->nr_maps; ) {
		if (st->maps[k].idx != idx) {
			k++;
			continue;
		}
		install_from_migration(st->maps[k].mm, st->maps[k].addr, pfn, folio, pfn);
		st->maps[k] = st->maps[--st->nr_maps];
	}
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
static bool refs_ok(const struct migrate_vma *args, const struct folio *folio)
{
	int expect = 1 + folio_ref_bias(folio) + (folio == args->fault_page);

	return !folio_mapped(folio) && folio_ref_count(folio) == expect;
}

/* The processes a migration locked but no longer needs (nothing of theirs recorded). */
static void state_trim(struct migrate_state *st)
{
	size_t i, k;

	for (i = 0; i < st->nr_mms; ) {
		for (k = 0; k < st->nr_maps; k++)
			if (st->maps[k].mm == st->mms[i])
				break;
		if (k < st->nr_maps) {
			i++;
			continue;
		}
		mmap_read_unlock(st->mms[i]);
		st->mms[i] = st->mms[--st->nr_mms];
	}
	if (!st->nr_maps)
		state_release(st);
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
		if (folio_mapped(folio))
			unmap_remote(args, &st, i, args->start + i * MM_PAGE_SIZE, folio, pfn);
		if (!refs_ok(args, folio))
			restore_source(args, st, i);
	}
	if (st)
		state_trim(st);
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
	if (folio_is_device_private(new))
		ne = mk_swp_entry((vma->flags & VM_WRITE) ? SWP_DEVICE_WRITE : SWP_DEVICE_READ, pfn,
				  true);
	else
		ne = mk_pte(pfn, _PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED |
			    ((vma->flags & VM_WRITE) ? _PAGE_RW | _PAGE_DIRTY : 0) |
			    ((vma->flags & VM_READ) ? 0 : _PAGE_PROTNONE));
	pthread_mutex_lock(&mm->ptl);
	err = mm_get_pte(mm, addr, &e, &level);
	if (!err) {
		if (level || !pte_present(e) || !(e & _PAGE_SPECIAL))
			goto unlock_abort;
		zero = true;
	} else if (err != -ENOENT) {
		goto unlock_abort;
	}
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
	uint64_t i, addr;

	if (!args || !args->vma || !args->src || !args->dst)
		return;
	mm = args->vma->mm;
	for (i = 0; i < args->npages; i++) {
		addr = args->start + i * MM_PAGE_SIZE;
		new = mpfn_folio(mm, args->dst[i]);
		/*
		 * Destinations are fresh order-0 folios: a large one would need
		 * compound migration, which this simulation leaves out.
		 */
		if (!new || folio_test_large(new) || folio_mapped(new) ||
		    folio_test_hugetlb(new) || (folio_flags(new) & FOLIO_ZERO)) {
			args->src[i] &= ~MIGRATE_PFN_MIGRATE;
			continue;
		}
		if (!(args->src[i] & MIGRATE_PFN_VALID)) {
			if (!(args->src[i] & MIGRATE_PFN_MIGRATE))
				continue;
			if (!notified) {
				/* The fill that notifies: from the first hole to the end. */
				mmu_notifier_range_init(&range, MMU_NOTIFY_MIGRATE, mm, addr,
							args->end);
				range.owner = args->pgmap_owner;
				mmu_notifier_invalidate_range_start(&range);
				notified = true;
			}
			insert_page(args, addr, new, &args->src[i]);
			continue;
		}
		if (!(args->src[i] & MIGRATE_PFN_MIGRATE))
			continue;
		old = mpfn_folio(mm, args->src[i]);
		if (new == old || (folio_is_zone_device(new) && !folio_test_anon(old)) ||
		    !refs_ok(args, old)) {
			args->src[i] &= ~MIGRATE_PFN_MIGRATE;
			continue;
		}
		/* folio_migrate_mapping and folio_migrate_flags: anon, dirty. */
		if (folio_test_anon(old) && folio_set_anon(new)) {
			args->src[i] &= ~MIGRATE_PFN_MIGRATE;
			continue;
		}
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
	size_t k;

	if (!args || !args->vma || !args->src || !args->dst)
		return;
	mm = args->vma->mm;
	st = state_find(args, false);
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
		install_from_migration(mm, args->start + i * MM_PAGE_SIZE, src_pfn, use, use_pfn);
		for (k = 0; st && k < st->nr_maps; k++)
			if (st->maps[k].idx == i)
				install_from_migration(st->maps[k].mm, st->maps[k].addr, src_pfn,
						       use, use_pfn);
		if (src != args->fault_page)
			folio_unlock(src);
		folio_put(src);		/* the collector's: a device source may be freed here */
		if (dst)
			release_dst(dst);
	}
	state_release(st);
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
