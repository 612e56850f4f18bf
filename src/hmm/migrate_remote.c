// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The mappings of a page taken for migration in other processes (the
 * kernel's try_to_migrate and remove_migration_ptes through the rmap), for
 * migrate.c and migrate_device.c: found by the anon rmap, replaced by
 * migration entries, recorded until finalize puts the final entries in
 * (migrate.h).
 */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "hmm/migrate.h"
#include "mm/rmap.h"
#include "base/alloc.h"

/* ------------------------------------------------------------------------ */
/* Mappings in other processes                                              */
/* ------------------------------------------------------------------------ */

/*
 * The kernel finds every mapping of a folio through its anon_vma; hmmsim
 * walks its linear index (mm_rmap_walk_anon, src/mm/rmap.c): a page a
 * process shares with its fork relatives is found wherever each of them
 * maps it now, after an mremap too. What the unmap step replaced there is
 * recorded here, per migration (a migrate_vma, or a device eviction's
 * src array), until finalize puts the final entries in: the kernel finds
 * them again by rmap, hmmsim by this record.
 *
 * Those processes' mmap_locks stay held for reading from setup to finalize,
 * so that none of them forks, unmaps, mremaps or exits while it holds a
 * migration entry only this migration knows of. They are only ever
 * try-locked (or waited for briefly), so no lock order is created between
 * processes.
 */
struct remote_map {
	uint64_t idx;			/* the page in src[] */
	struct mm_struct *mm;
	uint64_t addr;
};

struct migrate_state {
	const void *key;		/* the migrate_vma, or the src array */
	struct mm_system *sys;
	uint64_t npages;		/* a device eviction's length */
	struct remote_map *maps;
	size_t nr_maps, cap_maps;
	struct mm_struct **mms;		/* read-locked by this migration */
	size_t nr_mms, cap_mms;
	struct migrate_state *next;
};

static pthread_mutex_t states_lock = PTHREAD_MUTEX_INITIALIZER;
static struct migrate_state *states;

struct migrate_state *migrate_state_find(const void *key, bool create)
{
	struct migrate_state *st;

	pthread_mutex_lock(&states_lock);
	for (st = states; st; st = st->next)
		if (st->key == key)
			break;
	if (!st && create) {
		st = hs_calloc(1, sizeof(*st));
		if (st) {
			st->key = key;
			st->next = states;
			states = st;
		}
	}
	pthread_mutex_unlock(&states_lock);
	return st;
}

/* Forget @st: unlock the processes it holds and free it. */
void migrate_state_release(struct migrate_state *st)
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

/* A walk of the rmap for one page: the mappings found, and the locks taken. */
struct remote_walk {
	struct migrate_state *st;
	struct mm_struct *self;		/* locked by the caller, or NULL */
	uint64_t idx, pfn;
	bool pmd;			/* looking for PMD mappings (of a large folio) */
	size_t need;			/* mappings to find: the page's mapcount */
	struct remote_map *cand;
	size_t nr, cap;
	struct mm_struct *fresh;	/* the process remote_lock() just locked */
	size_t nr_before;
};

/*
 * mm_rmap_walk_anon's lock_mm: walk the caller's process and those this
 * migration already holds once (first pass); try-lock the others, or in
 * the second pass wait for them a little, never long: a process may be in
 * the middle of an mmap, mprotect or fork (a moment), or in an exit that
 * waits for the list lock the walk holds. Room for the lock in st->mms is
 * made first, so that keeping it cannot fail.
 */
static int remote_lock(struct mm_struct *mm, bool wait, void *arg)
{
	struct remote_walk *w = arg;
	struct migrate_state *st = w->st;
	void *p;

	w->fresh = NULL;
	if (mm == w->self || state_holds(st, mm))
		return wait ? 1 : 0;
	p = grow(st->mms, &st->cap_mms, st->nr_mms, sizeof(*st->mms));
	if (!p)
		return -ENOMEM;
	st->mms = p;
	if (wait ? rdlock_briefly(&mm->mmap_lock) : pthread_rwlock_tryrdlock(&mm->mmap_lock))
		return -EBUSY;
	st->mms[st->nr_mms++] = mm;
	w->fresh = mm;
	w->nr_before = w->nr;
	return 0;
}

/*
 * A process just locked keeps its lock only if it maps the page. One that
 * does not may also be one that finished exiting while the walk waited
 * (exit_vmas() zapped everything and dropped the write lock; mm_free()
 * waits for the list lock the walk holds): keeping its lock would unlock
 * freed memory later. A process that maps the page cannot exit while its
 * lock is held.
 */
static void remote_unlock(struct mm_struct *mm, unsigned int found, void *arg)
{
	struct remote_walk *w = arg;

	(void)found;
	if (mm != w->fresh || w->nr != w->nr_before)
		return;
	mmap_read_unlock(mm);
	w->st->nr_mms--;	/* the last one: remote_lock() put it there */
}

/* A mapping of the page: a PTE (present or device-private) it can be taken from. */
static int remote_one(struct vm_area_struct *vma, uint64_t addr, pt_entry_t e,
		      unsigned int level, void *arg)
{
	struct remote_walk *w = arg;
	void *p;

	if (w->pmd ? level != 1 || !is_device_private_entry(e) :
		     level || !hmm_entry_maps(e, w->pfn))
		return 0;	/* not one to take: the count will not match */
	p = grow(w->cand, &w->cap, w->nr, sizeof(*w->cand));
	if (!p)
		return -ENOMEM;
	w->cand = p;
	w->cand[w->nr++] = (struct remote_map){ w->idx, vma->mm, addr };
	return w->nr == w->need;	/* all found: stop */
}

/*
 * try_to_migrate for the mappings of @folio (frame @pfn, page @idx of the
 * migration) outside the caller's own entry: find them all by the rmap,
 * locking the processes that have them (giving up if one stays busy or
 * memory runs out: the page then stays), and replace each mapping by a
 * migration entry, under a CLEAR notification of that process's page.
 */
void migrate_unmap_pfn(struct migrate_state *st, struct mm_struct *self, uint64_t idx,
		       struct folio *folio, uint64_t pfn)
{
	static const struct mm_rmap_walk_control rwc_ops = {
		.lock_mm = remote_lock, .unlock_mm = remote_unlock, .one = remote_one,
	};
	struct mm_rmap_walk_control rwc = rwc_ops;
	struct remote_walk w = { .st = st, .self = self, .idx = idx, .pfn = pfn };
	struct mmu_notifier_range range;
	struct mm_struct *b;
	unsigned int level;
	uint64_t addr;
	pt_entry_t e;
	int ret;
	void *p;

	w.need = folio_page_mapcount(folio, folio_page_idx(folio, pfn));
	if (!w.need)
		return;
	rwc.arg = &w;
	ret = mm_rmap_walk_anon(st->sys, folio, folio_page_idx(folio, pfn), &rwc);
	/* Only when every mapping was found can the page move at all. */
	if (ret < 0 || w.nr != w.need)
		goto out;
	for (size_t k = 0; k < w.nr; k++) {
		b = w.cand[k].mm;
		addr = w.cand[k].addr;
		p = grow(st->maps, &st->cap_maps, st->nr_maps, sizeof(*st->maps));
		if (!p)
			break;
		st->maps = p;
		mmu_notifier_range_init(&range, MMU_NOTIFY_CLEAR, b, addr, addr + MM_PAGE_SIZE);
		mmu_notifier_invalidate_range_start(&range);
		pthread_mutex_lock(&b->ptl);
		if (!mm_get_pte(b, addr, &e, &level) && !level && hmm_entry_maps(e, pfn) &&
		    !hmm_unmap_to_migration(b, addr, e, folio, folio_page_idx(folio, pfn))) {
			st->maps[st->nr_maps++] = w.cand[k];
			folio_put(folio);	/* that mapping's reference */
		}
		pthread_mutex_unlock(&b->ptl);
		mmu_notifier_invalidate_range_end(&range);
	}
out:
	/* Processes locked for nothing are let go by migrate_state_trim(). */
	free(w.cand);
}

void migrate_unmap_remote(struct migrate_vma *args, struct migrate_state **stp, uint64_t idx,
			  uint64_t addr, struct folio *folio, uint64_t pfn)
{
	struct migrate_state *st;

	(void)addr;	/* its entry is a migration entry now: the walk passes it */
	st = *stp ? *stp : migrate_state_find(args, true);
	if (!st)
		return;
	st->sys = args->vma->mm->sys;
	*stp = st;
	migrate_unmap_pfn(st, args->vma->mm, idx, folio, pfn);
}

void migrate_state_set_sys(struct migrate_state *st, struct mm_system *sys)
{
	st->sys = sys;
}

struct mm_system *migrate_state_sys(const struct migrate_state *st)
{
	return st->sys;
}

void migrate_state_set_npages(struct migrate_state *st, uint64_t npages)
{
	st->npages = npages;
}

uint64_t migrate_state_npages(const struct migrate_state *st)
{
	return st->npages;
}

/* The processes a migration locked but no longer needs (nothing of theirs recorded). */
void migrate_state_unlock_idle(struct migrate_state *st)
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
}

void migrate_state_trim(struct migrate_state *st)
{
	migrate_state_unlock_idle(st);
	if (!st->nr_maps)
		migrate_state_release(st);
}

void migrate_install_remote(struct migrate_state *st, uint64_t idx, uint64_t old_pfn,
			    struct folio *new, uint64_t new_pfn, bool forget)
{
	size_t k;

	for (k = 0; st && k < st->nr_maps; ) {
		if (st->maps[k].idx != idx) {
			k++;
			continue;
		}
		hmm_install_from_migration(st->maps[k].mm, st->maps[k].addr, old_pfn, new,
					   new_pfn);
		if (forget)
			st->maps[k] = st->maps[--st->nr_maps];
		else
			k++;
	}
}

int migrate_split_device_pmds(struct migrate_state *st, struct folio *folio)
{
	static const struct mm_rmap_walk_control rwc_ops = {
		.lock_mm = remote_lock, .unlock_mm = remote_unlock, .one = remote_one,
	};
	struct mm_rmap_walk_control rwc = rwc_ops;
	struct remote_walk w = { .st = st, .pfn = folio_pfn(folio), .pmd = true };
	struct vm_area_struct *vma;
	int ret, err = 0;

	w.need = folio_entire_mapcount(folio);
	if (!w.need)
		return 0;
	rwc.arg = &w;
	ret = mm_rmap_walk_anon(st->sys, folio, 0, &rwc);
	if (ret < 0)
		err = ret;
	for (size_t k = 0; k < w.nr && !err; k++) {
		vma = vma_lookup(w.cand[k].mm, w.cand[k].addr);
		if (vma)
			err = split_huge_pmd(vma, align_down(w.cand[k].addr, MM_PMD_SHIFT));
	}
	free(w.cand);
	if (!err && folio_entire_mapcount(folio))
		err = -EBUSY;
	return err;
}

/*
 * Compound migration (migrate_compound.c): a PMD mapping of a folio taken
 * whole, a present THP PMD or a device-private PMD.
 */
static int remote_one_pmd(struct vm_area_struct *vma, uint64_t addr, pt_entry_t e,
			  unsigned int level, void *arg)
{
	struct remote_walk *w = arg;
	void *p;

	if (level != 1 || !hmm_entry_maps(e, w->pfn))
		return 0;	/* not one to take: the count will not match */
	p = grow(w->cand, &w->cap, w->nr, sizeof(*w->cand));
	if (!p)
		return -ENOMEM;
	w->cand = p;
	w->cand[w->nr++] = (struct remote_map){ w->idx, vma->mm, align_down(addr, MM_PMD_SHIFT) };
	return w->nr == w->need;	/* all found: stop */
}

void migrate_unmap_remote_pmd(struct migrate_vma *args, struct migrate_state **stp, uint64_t idx,
			      struct folio *folio)
{
	static const struct mm_rmap_walk_control rwc_ops = {
		.lock_mm = remote_lock, .unlock_mm = remote_unlock, .one = remote_one_pmd,
	};
	struct mm_rmap_walk_control rwc = rwc_ops;
	struct remote_walk w = { .self = args->vma->mm, .idx = idx, .pfn = folio_pfn(folio) };
	struct mmu_notifier_range range;
	struct migrate_state *st;
	struct mm_struct *b;
	unsigned int level;
	uint64_t haddr;
	pt_entry_t e;
	int ret;
	void *p;

	w.need = folio_entire_mapcount(folio);
	if (!w.need)
		return;
	st = *stp ? *stp : migrate_state_find(args, true);
	if (!st)
		return;
	st->sys = args->vma->mm->sys;
	*stp = st;
	w.st = st;
	rwc.arg = &w;
	ret = mm_rmap_walk_anon(st->sys, folio, 0, &rwc);
	if (ret < 0 || w.nr != w.need)
		goto out;
	for (size_t k = 0; k < w.nr; k++) {
		b = w.cand[k].mm;
		haddr = w.cand[k].addr;
		p = grow(st->maps, &st->cap_maps, st->nr_maps, sizeof(*st->maps));
		if (!p)
			break;
		st->maps = p;
		/* try_to_migrate_one on a PMD: CLEAR over the folio's extent there. */
		mmu_notifier_range_init(&range, MMU_NOTIFY_CLEAR, b, haddr, haddr + MM_PMD_SIZE);
		mmu_notifier_invalidate_range_start(&range);
		pthread_mutex_lock(&b->ptl);
		if (!mm_get_pte(b, haddr, &e, &level) && level == 1 && hmm_entry_maps(e, w.pfn) &&
		    !hmm_unmap_pmd_to_migration(b, haddr, e, folio)) {
			st->maps[st->nr_maps++] = w.cand[k];
			folio_put(folio);	/* that mapping's reference */
		}
		pthread_mutex_unlock(&b->ptl);
		mmu_notifier_invalidate_range_end(&range);
	}
out:
	/* Processes locked for nothing are let go by migrate_state_trim(). */
	free(w.cand);
}

int migrate_split_remote_pmd(struct migrate_state *st, uint64_t idx)
{
	size_t k, nr = st ? st->nr_maps : 0;
	struct remote_map m;
	unsigned int level;
	uint64_t j;
	pt_entry_t e;
	void *p;
	int err;

	for (k = 0; k < nr; k++) {
		m = st->maps[k];
		if (m.idx != idx)
			continue;
		/* Room for the 511 records first: then nothing below can fail half-way. */
		while (st->cap_maps < st->nr_maps + MM_PMD_SIZE / MM_PAGE_SIZE) {
			p = grow(st->maps, &st->cap_maps, st->cap_maps, sizeof(*st->maps));
			if (!p)
				return -ENOMEM;
			st->maps = p;
		}
		pthread_mutex_lock(&m.mm->ptl);
		err = mm_get_pte(m.mm, m.addr, &e, &level);
		if (!err && level == 1 && is_migration_entry(e))
			err = pt_split(m.mm->pt, m.addr, 1);
		else
			err = 1;	/* a PTE record: nothing to split */
		pthread_mutex_unlock(&m.mm->ptl);
		if (err < 0)
			return err;
		if (err)
			continue;
		for (j = 1; j < MM_PMD_SIZE / MM_PAGE_SIZE; j++)
			st->maps[st->nr_maps++] = (struct remote_map){ idx + j, m.mm,
								       m.addr + j * MM_PAGE_SIZE };
	}
	return 0;
}
