// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Mapcounts and anon-exclusivity: the accounting half of the kernel's rmap.
 *
 * A large folio keeps three views of its mappings, as the kernel's: the
 * per-page PTE counts, the entire (PMD/PUD) count, and the total
 * (_large_mapcount), plus the number of pages with at least one PTE. They
 * are updated one atomic at a time: a reader racing with an update may see
 * them disagree for a moment, as in the kernel; the checkers run quiescent.
 * The per-page array appears on the first PTE mapping (installed by
 * compare-and-swap) and goes when the folio is freed or split.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "phys/internal.h"
#include "base/alloc.h"

size_t excl_words(unsigned int order)
{
	return ((UINT64_C(1) << order) + 63) / 64;
}

int32_t *folio_pmc(struct folio *f)
{
	int32_t *pmc = __atomic_load_n(&f->_page_mapcount, __ATOMIC_ACQUIRE);
	int32_t *fresh, *expected = NULL;

	if (pmc)
		return pmc;
	fresh = hs_calloc(folio_nr_pages(f), sizeof(*fresh));
	if (!fresh)
		return NULL;
	if (__atomic_compare_exchange_n(&f->_page_mapcount, &expected, fresh, false,
					__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return fresh;
	free(fresh);		/* another mapper installed one first */
	return expected;
}

static bool page_in(const struct folio *f, uint64_t page, uint64_t nr)
{
	return nr && page < folio_nr_pages(f) && nr <= folio_nr_pages(f) - page;
}

/* ---- queries ------------------------------------------------------------ */

HMMSIM_API int folio_mapcount(const struct folio *f)
{
	return f->order ? atomic_read32(&f->_large_mapcount) : atomic_read32(&f->_mapcount);
}

HMMSIM_API int folio_entire_mapcount(const struct folio *f)
{
	return f->order ? atomic_read32(&f->_entire_mapcount) : 0;
}

HMMSIM_API int folio_page_pte_mapcount(const struct folio *f, uint64_t page)
{
	const int32_t *pmc;

	if (!page_in(f, page, 1))
		return -EINVAL;
	if (!f->order)
		return atomic_read32(&f->_mapcount);
	pmc = __atomic_load_n(&f->_page_mapcount, __ATOMIC_ACQUIRE);
	return pmc ? atomic_read32(&pmc[page]) : 0;
}

HMMSIM_API int folio_page_mapcount(const struct folio *f, uint64_t page)
{
	int ret = folio_page_pte_mapcount(f, page);

	return ret < 0 ? ret : ret + folio_entire_mapcount(f);
}

HMMSIM_API int folio_nr_pages_mapped(const struct folio *f)
{
	if (!f->order)
		return atomic_read32(&f->_mapcount) > 0;
	return atomic_read32(&f->_nr_pages_mapped);
}

/* ---- anon-exclusive bits ------------------------------------------------ */

static bool excl_test(const struct folio *f, uint64_t page)
{
	if (!f->order)
		return folio_flags(f) & FOLIO_ANON_EXCLUSIVE;
	return (__atomic_load_n(&f->_excl[page / 64], __ATOMIC_ACQUIRE) >> (page % 64)) & 1;
}

static void excl_set(struct folio *f, uint64_t page)
{
	if (!f->order)
		folio_flags_or(f, FOLIO_ANON_EXCLUSIVE);
	else
		__atomic_fetch_or(&f->_excl[page / 64], UINT64_C(1) << (page % 64),
				  __ATOMIC_ACQ_REL);
}

static void excl_clear(struct folio *f, uint64_t page)
{
	if (!f->order)
		folio_flags_andnot(f, FOLIO_ANON_EXCLUSIVE);
	else
		__atomic_fetch_and(&f->_excl[page / 64], ~(UINT64_C(1) << (page % 64)),
				   __ATOMIC_ACQ_REL);
}

HMMSIM_API bool folio_page_anon_exclusive(const struct folio *f, uint64_t page)
{
	return page_in(f, page, 1) && excl_test(f, page);
}

HMMSIM_API int folio_set_page_anon_exclusive(struct folio *f, uint64_t page)
{
	if (!f || !page_in(f, page, 1) || !folio_live(f) || !folio_test_anon(f))
		return -EINVAL;
	excl_set(f, page);
	return 0;
}

HMMSIM_API int folio_clear_page_anon_exclusive(struct folio *f, uint64_t page)
{
	if (!f || !page_in(f, page, 1) || !folio_live(f))
		return -EINVAL;
	excl_clear(f, page);
	return 0;
}

/* ---- adding and removing mappings --------------------------------------- */

/* Checks common to every rmap call: a live, mappable folio of the right kind. */
static int rmap_ok(struct folio *f, bool anon, unsigned int flags)
{
	if (!f || !folio_live(f) || (flags & ~RMAP_EXCLUSIVE))
		return -EINVAL;
	if (folio_flags(f) & FOLIO_ZERO)
		return -EINVAL;		/* special mappings are never counted */
	if (folio_test_anon(f) != anon)
		return -EINVAL;
	if (!anon && flags)
		return -EINVAL;
	return 0;
}

static int add_ptes(struct folio *f, uint64_t page, unsigned int nr, unsigned int flags)
{
	int32_t *pmc;

	if (!page_in(f, page, nr) || folio_test_hugetlb(f))
		return -EINVAL;
	if (!f->order) {
		__atomic_fetch_add(&f->_mapcount, 1, __ATOMIC_ACQ_REL);
	} else {
		pmc = folio_pmc(f);
		if (!pmc)
			return -ENOMEM;
		for (uint64_t i = page; i < page + nr; i++) {
			if (__atomic_fetch_add(&pmc[i], 1, __ATOMIC_ACQ_REL) == 0)
				__atomic_fetch_add(&f->_nr_pages_mapped, 1, __ATOMIC_ACQ_REL);
		}
		__atomic_fetch_add(&f->_large_mapcount, nr, __ATOMIC_ACQ_REL);
	}
	if (flags & RMAP_EXCLUSIVE) {
		for (uint64_t i = page; i < page + nr; i++)
			excl_set(f, i);
	}
	return 0;
}

static int add_entire(struct folio *f, unsigned int order, unsigned int flags)
{
	if (f->order != order)
		return -EINVAL;
	__atomic_fetch_add(&f->_entire_mapcount, 1, __ATOMIC_ACQ_REL);
	__atomic_fetch_add(&f->_large_mapcount, 1, __ATOMIC_ACQ_REL);
	if (flags & RMAP_EXCLUSIVE)
		excl_set(f, 0);
	return 0;
}

/* Decrement *@p unless it is 0. */
static bool dec_unless_zero(int32_t *p, int32_t *was)
{
	int32_t old = __atomic_load_n(p, __ATOMIC_ACQUIRE);

	do {
		if (old <= 0)
			return false;
	} while (!__atomic_compare_exchange_n(p, &old, old - 1, false, __ATOMIC_ACQ_REL,
					      __ATOMIC_ACQUIRE));
	if (was)
		*was = old;
	return true;
}

static int remove_ptes(struct folio *f, uint64_t page, unsigned int nr)
{
	int32_t *pmc, was;
	uint64_t i;

	if (!f || !folio_live(f) || !page_in(f, page, nr))
		return -EINVAL;
	if (!f->order)
		return dec_unless_zero(&f->_mapcount, NULL) ? 0 : -EINVAL;
	pmc = __atomic_load_n(&f->_page_mapcount, __ATOMIC_ACQUIRE);
	if (!pmc)
		return -EINVAL;
	for (i = page; i < page + nr; i++) {
		if (!dec_unless_zero(&pmc[i], &was))
			goto undo;
		if (was == 1)
			__atomic_fetch_sub(&f->_nr_pages_mapped, 1, __ATOMIC_ACQ_REL);
	}
	__atomic_fetch_sub(&f->_large_mapcount, nr, __ATOMIC_ACQ_REL);
	return 0;
undo:
	/* A page of the range was not mapped: put the others back. */
	while (i-- > page) {
		if (__atomic_fetch_add(&pmc[i], 1, __ATOMIC_ACQ_REL) == 0)
			__atomic_fetch_add(&f->_nr_pages_mapped, 1, __ATOMIC_ACQ_REL);
	}
	return -EINVAL;
}

static int remove_entire(struct folio *f, unsigned int order)
{
	if (!f || !folio_live(f) || f->order != order)
		return -EINVAL;
	if (!dec_unless_zero(&f->_entire_mapcount, NULL))
		return -EINVAL;
	__atomic_fetch_sub(&f->_large_mapcount, 1, __ATOMIC_ACQ_REL);
	return 0;
}

HMMSIM_API int folio_add_new_anon_rmap(struct folio *f, unsigned int flags)
{
	bool was_anon;
	int ret;

	if (!f || !folio_live(f) || (flags & ~RMAP_EXCLUSIVE) || folio_mapcount(f) ||
	    (folio_flags(f) & FOLIO_ZERO) || (!folio_test_anon(f) && folio_mapping(f)))
		return -EINVAL;
	was_anon = folio_test_anon(f);
	folio_flags_or(f, FOLIO_ANON);
	if (folio_test_hugetlb(f) || f->order == PHYS_PMD_ORDER)
		ret = add_entire(f, f->order, flags);
	else
		ret = add_ptes(f, 0, folio_nr_pages(f), flags);
	if (ret && !was_anon)
		folio_flags_andnot(f, FOLIO_ANON);	/* a failure changes nothing */
	return ret;
}

HMMSIM_API int folio_add_anon_rmap_ptes(struct folio *f, uint64_t page, unsigned int nr,
					unsigned int flags)
{
	int ret = rmap_ok(f, true, flags);

	return ret ? ret : add_ptes(f, page, nr, flags);
}

HMMSIM_API int folio_add_anon_rmap_pmd(struct folio *f, unsigned int flags)
{
	int ret = rmap_ok(f, true, flags);

	return ret ? ret : add_entire(f, PHYS_PMD_ORDER, flags);
}

HMMSIM_API int folio_add_anon_rmap_pud(struct folio *f, unsigned int flags)
{
	int ret = rmap_ok(f, true, flags);

	return ret ? ret : add_entire(f, PHYS_PUD_ORDER, flags);
}

HMMSIM_API int folio_add_file_rmap_ptes(struct folio *f, uint64_t page, unsigned int nr)
{
	int ret = rmap_ok(f, false, 0);

	return ret ? ret : add_ptes(f, page, nr, 0);
}

HMMSIM_API int folio_add_file_rmap_pmd(struct folio *f)
{
	int ret = rmap_ok(f, false, 0);

	return ret ? ret : add_entire(f, PHYS_PMD_ORDER, 0);
}

HMMSIM_API int folio_add_file_rmap_pud(struct folio *f)
{
	int ret = rmap_ok(f, false, 0);

	return ret ? ret : add_entire(f, PHYS_PUD_ORDER, 0);
}

HMMSIM_API int folio_remove_rmap_ptes(struct folio *f, uint64_t page, unsigned int nr)
{
	return remove_ptes(f, page, nr);
}

HMMSIM_API int folio_remove_rmap_pmd(struct folio *f)
{
	return remove_entire(f, PHYS_PMD_ORDER);
}

HMMSIM_API int folio_remove_rmap_pud(struct folio *f)
{
	return remove_entire(f, PHYS_PUD_ORDER);
}

/* ---- fork and unmap helpers for anon-exclusivity ------------------------ */

HMMSIM_API int folio_try_dup_anon_rmap_ptes(struct folio *f, uint64_t page, unsigned int nr)
{
	bool any_excl = false;
	int ret = rmap_ok(f, true, 0);

	if (ret)
		return ret;
	if (!page_in(f, page, nr))
		return -EINVAL;
	for (uint64_t i = page; i < page + nr; i++)
		any_excl |= excl_test(f, i);
	/* An exclusive page that may be pinned must be copied for the child. */
	if (any_excl && folio_maybe_dma_pinned(f))
		return -EBUSY;
	ret = add_ptes(f, page, nr, 0);
	if (ret)
		return ret;
	for (uint64_t i = page; i < page + nr; i++)
		excl_clear(f, i);
	return 0;
}

HMMSIM_API int folio_try_dup_anon_rmap_pmd(struct folio *f)
{
	int ret = rmap_ok(f, true, 0);

	if (ret)
		return ret;
	if (f->order != PHYS_PMD_ORDER)
		return -EINVAL;
	if (excl_test(f, 0) && folio_maybe_dma_pinned(f))
		return -EBUSY;
	add_entire(f, PHYS_PMD_ORDER, 0);
	excl_clear(f, 0);
	return 0;
}

static int try_share(struct folio *f, uint64_t page)
{
	int ret = rmap_ok(f, true, 0);

	if (ret)
		return ret;
	if (!page_in(f, page, 1) || !excl_test(f, page))
		return -EINVAL;
	if (folio_maybe_dma_pinned(f))
		return -EBUSY;
	excl_clear(f, page);
	return 0;
}

HMMSIM_API int folio_try_share_anon_rmap_pte(struct folio *f, uint64_t page)
{
	return try_share(f, page);
}

HMMSIM_API int folio_try_share_anon_rmap_pmd(struct folio *f)
{
	if (f && f->order != PHYS_PMD_ORDER)
		return -EINVAL;
	return try_share(f, 0);
}
