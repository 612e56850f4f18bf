// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * migrate_device_range, migrate_device_pages, migrate_device_finalize
 * (mm/migrate_device.c, v6.1+; linux-hmm.md §4.4): device memory evicted
 * by pfn, with no VMA, as a driver does when its device goes away.
 *
 * range: each live device page of the frames is referenced and locked
 * (a trylock: busy pages are left for another round), then every mapping
 * of it, in any process, found through the anon reverse map
 * (mm_rmap_walk_anon), becomes a migration entry (migrate_remote.c, which
 * keeps the processes read-locked until finalize). A device-private PMD is
 * split into PTEs first. The pages of one folio form a group: a large
 * folio moves page by page, and is given back whole when any of it cannot
 * be unmapped everywhere or someone else holds a reference.
 *
 * pages and finalize: as migrate_vma's, for the entries recorded, with the
 * state found again through the src array.
 */
#include "hmm/migrate.h"

#include <stdlib.h>

static struct folio *mpfn_folio(struct mm_system *sys, uint64_t mpfn)
{
	if (!(mpfn & MIGRATE_PFN_VALID))
		return NULL;
	return phys_pfn_to_folio(sys->machine, migrate_pfn_to_pfn(mpfn));
}

/* The end of the group of src entries that starts at @i: the same source folio. */
static uint64_t group_end(struct mm_system *sys, const uint64_t *src, uint64_t i,
			  uint64_t npages)
{
	struct folio *f = mpfn_folio(sys, src[i]);
	uint64_t end = i + 1;

	if (!f)
		return end;
	while (end < npages && mpfn_folio(sys, src[end]) == f)
		end++;
	return end;
}

/*
 * After the unmap: nothing maps the folio, and the only references are the
 * @n of this eviction (one per page taken), as migrate_vma_check_page.
 */
static bool group_ok(const struct folio *f, uint64_t n)
{
	return !folio_mapped(f) && folio_ref_count(f) == (int)n + folio_ref_bias(f);
}

/* Is the live folio at @pfn (if any) cut by the range [start, end)? */
static bool cuts_folio(struct mm_system *sys, uint64_t pfn, uint64_t start, uint64_t end)
{
	struct folio *f = phys_pfn_to_folio(sys->machine, pfn);
	bool cut = false;

	if (!f || !folio_try_get(f))
		return false;
	if (pfn >= folio_pfn(f) && pfn - folio_pfn(f) < folio_nr_pages(f))
		cut = folio_pfn(f) < start || folio_pfn(f) + folio_nr_pages(f) > end;
	folio_put(f);
	return cut;
}

static int check_range(struct mm_system *sys, uint64_t start, uint64_t npages)
{
	struct phys_pool *pool;
	uint64_t end = start + npages;

	if (end < start)
		return -EINVAL;		/* wraps */
	pool = phys_pfn_to_pool(sys->machine, start);
	if (!pool || !hmm_devmem_of_pfn(sys, start) ||
	    end > phys_pool_first_pfn(pool) + phys_pool_nr_frames(pool))
		return -EINVAL;
	if (cuts_folio(sys, start, start, end) || cuts_folio(sys, end - 1, start, end))
		return -EINVAL;
	return 0;
}

/* Take page @pfn: a reference, and the folio's lock unless @locked is it already. */
static uint64_t take_page(struct mm_system *sys, uint64_t pfn, struct folio **locked)
{
	struct folio *f = phys_pfn_to_folio(sys->machine, pfn);

	if (!f || !folio_try_get(f))
		return 0;	/* a free frame: a hole */
	/* The descriptor may have been freed and reused before the get. */
	if (pfn < folio_pfn(f) || pfn - folio_pfn(f) >= folio_nr_pages(f)) {
		folio_put(f);
		return 0;
	}
	if (f != *locked) {
		if (!folio_trylock(f)) {
			folio_put(f);
			return 0;
		}
		*locked = f;
	}
	return migrate_pfn(pfn) | MIGRATE_PFN_MIGRATE;
}

/* Give back the pages [i, end) of one group: their entries, the lock, the references. */
static void restore_group(struct migrate_state *st, struct mm_system *sys, uint64_t *src,
			  uint64_t i, uint64_t end)
{
	struct folio *f = mpfn_folio(sys, src[i]);
	uint64_t k, pfn;

	for (k = i; k < end; k++) {
		pfn = migrate_pfn_to_pfn(src[k]);
		migrate_install_remote(st, k, pfn, f, pfn, true);
	}
	folio_unlock(f);
	for (k = i; k < end; k++) {
		folio_put(f);
		src[k] = 0;
	}
}

/* migrate_device_unmap: every mapping of every page taken, or the group goes back. */
static void unmap_groups(struct migrate_state *st, struct mm_system *sys, uint64_t *src,
			 uint64_t npages)
{
	uint64_t i, k, end, pfn;
	struct folio *f;

	for (i = 0; i < npages; i = end) {
		end = group_end(sys, src, i, npages);
		f = mpfn_folio(sys, src[i]);
		if (!f)
			continue;
		if (folio_entire_mapcount(f) && migrate_split_device_pmds(st, f)) {
			restore_group(st, sys, src, i, end);
			continue;
		}
		for (k = i; k < end; k++) {
			pfn = migrate_pfn_to_pfn(src[k]);
			if (folio_page_mapcount(f, folio_page_idx(f, pfn)) > 0)
				migrate_unmap_pfn(st, NULL, k, f, pfn);
		}
		if (!group_ok(f, end - i))
			restore_group(st, sys, src, i, end);
	}
	migrate_state_unlock_idle(st);
}

HMMSIM_API int migrate_device_range(struct mm_system *sys, uint64_t *src_pfns,
				    uint64_t start_pfn, uint64_t npages)
{
	struct migrate_state *st;
	struct folio *locked = NULL;
	uint64_t i;
	int err;

	if (!sys || !src_pfns || !npages)
		return -EINVAL;
	err = check_range(sys, start_pfn, npages);
	if (err)
		return err;
	if (migrate_state_find(src_pfns, false))
		return -EBUSY;
	st = migrate_state_find(src_pfns, true);
	if (!st)
		return -ENOMEM;
	migrate_state_set_sys(st, sys);
	migrate_state_set_npages(st, npages);
	for (i = 0; i < npages; i++)
		src_pfns[i] = take_page(sys, start_pfn + i, &locked);
	unmap_groups(st, sys, src_pfns, npages);
	return 0;
}

HMMSIM_API void migrate_device_pages(uint64_t *src_pfns, uint64_t *dst_pfns, uint64_t npages)
{
	struct migrate_state *st = src_pfns ? migrate_state_find(src_pfns, false) : NULL;
	struct folio *old, *new;
	struct mm_system *sys;
	uint64_t i, k, end;
	bool ok;

	if (!st || !dst_pfns)
		return;
	sys = migrate_state_sys(st);
	if (npages > migrate_state_npages(st))
		npages = migrate_state_npages(st);
	for (i = 0; i < npages; i = end) {
		end = group_end(sys, src_pfns, i, npages);
		old = mpfn_folio(sys, src_pfns[i]);
		if (!old)
			continue;
		ok = group_ok(old, end - i);
		for (k = i; k < end; k++) {
			if (!(src_pfns[k] & MIGRATE_PFN_MIGRATE))
				continue;
			new = mpfn_folio(sys, dst_pfns[k]);
			/* Fresh order-0 folios only, as migrate_vma_pages takes them. */
			if (!ok || !new || new == old || folio_test_large(new) || folio_mapped(new) ||
			    folio_test_hugetlb(new) || (folio_flags(new) & FOLIO_ZERO) ||
			    (folio_test_anon(old) && folio_set_anon(new))) {
				src_pfns[k] &= ~MIGRATE_PFN_MIGRATE;
				continue;
			}
			/* folio_migrate_mapping and folio_migrate_flags: index, dirty. */
			new->index = old->index + folio_page_idx(old, migrate_pfn_to_pfn(src_pfns[k]));
			if (folio_test_dirty(old))
				folio_mark_dirty(new);
		}
	}
}

static void release_dst(struct folio *dst)
{
	folio_unlock(dst);
	folio_put(dst);		/* the driver's allocation reference */
}

HMMSIM_API void migrate_device_finalize(uint64_t *src_pfns, uint64_t *dst_pfns, uint64_t npages)
{
	struct migrate_state *st = src_pfns ? migrate_state_find(src_pfns, false) : NULL;
	struct folio *src, *dst, *use;
	uint64_t i, k, end, src_pfn, use_pfn;
	struct mm_system *sys;

	if (!st)
		return;
	sys = migrate_state_sys(st);
	if (npages > migrate_state_npages(st))
		npages = migrate_state_npages(st);
	for (i = 0; i < npages; i = end) {
		end = group_end(sys, src_pfns, i, npages);
		src = mpfn_folio(sys, src_pfns[i]);
		for (k = i; k < end; k++) {
			dst = dst_pfns ? mpfn_folio(sys, dst_pfns[k]) : NULL;
			if (!src) {
				if (dst)
					release_dst(dst);
				continue;
			}
			src_pfn = migrate_pfn_to_pfn(src_pfns[k]);
			/* A destination migrate_device_pages() did not take stays unused. */
			if (!(src_pfns[k] & MIGRATE_PFN_MIGRATE) || !dst ||
			    (folio_test_anon(src) && !folio_test_anon(dst)) || folio_mapped(dst)) {
				if (dst)
					release_dst(dst);
				dst = NULL;
			}
			use = dst ? dst : src;
			use_pfn = dst ? migrate_pfn_to_pfn(dst_pfns[k]) : src_pfn;
			migrate_install_remote(st, k, src_pfn, use, use_pfn, false);
			if (dst)
				release_dst(dst);
		}
		if (!src)
			continue;
		folio_unlock(src);
		/* The eviction's references: a device page migrated everywhere is freed here. */
		folio_put_refs(src, (int)(end - i));
	}
	migrate_state_release(st);
}
