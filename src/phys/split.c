// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * split_folio_to_order(): break a large folio into smaller ones, in place.
 *
 * The kernel unmaps the folio everywhere (migration entries), freezes its
 * refcount at the expected value, rewrites the compound metadata, and maps
 * the pieces back. phys owns only the metadata, so it does the middle step
 * and leaves the page tables to the caller: each piece ends with the
 * mapcounts of its own pages and the references those mappings and the page
 * cache hold, exactly what remap_page() would rebuild, and the caller's
 * reference stays with the first piece. Whatever the caller does with the
 * page tables around the call (migration entries and notifiers, or nothing)
 * is the mm layer's business.
 *
 * Everything that can fail (descriptors, per-page arrays, index arrays) is
 * obtained before the refcount is frozen, so a failure changes nothing.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "phys/internal.h"
#include "base/alloc.h"

struct piece {
	struct folio *folio;
	int32_t *pmc;
	uint64_t *excl;
	int32_t ref;
};

static void pieces_release(struct phys_pool *pool, struct piece *pc, uint64_t n)
{
	pthread_mutex_lock(&pool->lock);
	for (uint64_t j = 1; j < n; j++) {
		if (pc[j].folio)
			desc_put_locked(pool, pc[j].folio);
	}
	pthread_mutex_unlock(&pool->lock);
	for (uint64_t j = 0; j < n; j++) {
		free(pc[j].pmc);
		free(pc[j].excl);
	}
	free(pc);
}

/* Obtain descriptors, arrays and index entries for @n pieces of 2^@order. */
static int pieces_prepare(struct folio *f, struct piece *pc, uint64_t n, unsigned int order,
			  bool with_pmc)
{
	struct phys_pool *pool = f->pool;
	uint64_t step = UINT64_C(1) << order;
	int ret = 0;

	for (uint64_t j = 0; j < n && order; j++) {
		pc[j].excl = hs_calloc(excl_words(order), sizeof(uint64_t));
		if (with_pmc)
			pc[j].pmc = hs_calloc(step, sizeof(int32_t));
		if (!pc[j].excl || (with_pmc && !pc[j].pmc))
			return -ENOMEM;
	}
	pthread_mutex_lock(&pool->lock);
	for (uint64_t j = 0; j < n && !ret; j++) {
		if (index_prepare_locked(pool, f->pfn + j * step, order))
			ret = -ENOMEM;
		else if (j && !(pc[j].folio = desc_get_locked(pool)))
			ret = -ENOMEM;
	}
	pthread_mutex_unlock(&pool->lock);
	return ret;
}

/*
 * Build piece @j from the frozen folio @f, whose per-page arrays were
 * @pmc and @excl_bits (the head's fields are overwritten on the way).
 */
static void piece_fill(struct folio *f, const int32_t *pmc, const uint64_t *excl_bits,
		       struct piece *pc, uint64_t j, unsigned int order, uint32_t flags,
		       int32_t cache)
{
	uint64_t step = UINT64_C(1) << order, start = j * step;
	struct folio *g = pc[j].folio;
	int32_t sum = 0, mapped = 0;

	if (j) {
		g->pfn = f->pfn + start;
		g->owner = f->owner;
		g->private = f->private;
		g->index = f->index + start;
		__atomic_store_n(&g->mapping, folio_mapping(f), __ATOMIC_RELAXED);
		g->_pincount = 0;
		g->_hugetlb = NULL;
		folio_set_state(g, FOLIO_STATE_LIVE);
	}
	g->order = order;
	g->_entire_mapcount = 0;
	g->_page_mapcount = pc[j].pmc;
	g->_excl = pc[j].excl;
	for (uint64_t i = 0; i < step; i++) {
		int32_t c = pmc ? atomic_read32(&pmc[start + i]) : 0;
		bool excl = (excl_bits[(start + i) / 64] >> ((start + i) % 64)) & 1;

		if (pc[j].pmc)
			pc[j].pmc[i] = c;
		sum += c;
		mapped += c > 0;
		if (excl && order)
			pc[j].excl[i / 64] |= UINT64_C(1) << (i % 64);
		else if (excl)
			flags |= FOLIO_ANON_EXCLUSIVE;
	}
	if (order) {
		g->_mapcount = 0;
		g->_large_mapcount = sum;
		g->_nr_pages_mapped = mapped;
	} else {
		g->_mapcount = sum;
		g->_large_mapcount = 0;
		g->_nr_pages_mapped = 0;
	}
	__atomic_store_n(&g->_flags, flags, __ATOMIC_RELAXED);
	pc[j].ref = sum + cache + g->_ref_bias + (j == 0);
}

HMMSIM_API int split_folio_to_order(struct folio *f, unsigned int new_order)
{
	struct phys_pool *pool;
	struct piece *pc;
	uint32_t flags, keep;
	unsigned int order;
	int32_t expected, cache, old_cache;
	int32_t *old_pmc;
	uint64_t *old_excl;
	uint64_t n;
	bool file;
	int ret;

	if (!f || !folio_live(f))
		return -EINVAL;
	order = f->order;
	flags = folio_flags(f);
	if (!order || new_order >= order || (flags & (FOLIO_HUGETLB | FOLIO_ZERO)) ||
	    !(flags & FOLIO_LOCKED))
		return -EINVAL;
	if ((flags & FOLIO_ANON) && new_order == 1)
		return -EINVAL;		/* the kernel keeps anon folios off order 1 */
	if (atomic_read32(&f->_entire_mapcount))
		return -EBUSY;		/* a PMD/PUD still maps it: split that first */

	pool = f->pool;
	n = UINT64_C(1) << (order - new_order);
	file = !(flags & FOLIO_ANON) && folio_mapping(f);
	old_cache = file ? (int32_t)folio_nr_pages(f) : 0;
	cache = file ? (int32_t)(UINT64_C(1) << new_order) : 0;
	pc = hs_calloc(n, sizeof(*pc));
	if (!pc)
		return -ENOMEM;
	pc[0].folio = f;
	ret = pieces_prepare(f, pc, n, new_order, f->_page_mapcount != NULL);
	if (ret) {
		pieces_release(pool, pc, n);
		return ret;
	}

	/* Freeze: only the caller's reference, the mappings and the cache may remain. */
	expected = atomic_read32(&f->_large_mapcount) + old_cache + 1 + f->_ref_bias;
	if (!__atomic_compare_exchange_n(&f->_refcount, &expected, 0, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_RELAXED)) {
		pieces_release(pool, pc, n);
		return -EBUSY;
	}

	/* What the pieces inherit: the kind, anon and dirty; the head keeps the lock. */
	keep = flags & (FOLIO_ANON | FOLIO_DIRTY | FOLIO_DEVICE_PRIVATE | FOLIO_DEVICE_COHERENT);
	old_pmc = f->_page_mapcount;
	old_excl = f->_excl;
	for (uint64_t j = n; j-- > 0;)
		piece_fill(f, old_pmc, old_excl, pc, j, new_order, keep | (j ? 0 : FOLIO_LOCKED),
			   cache);

	pthread_mutex_lock(&pool->lock);
	for (uint64_t j = 1; j < n; j++) {
		live_add_locked(pool, pc[j].folio);
		/* Their frames were counted already, in the head's old order. */
		pool->st.live_frames -= UINT64_C(1) << new_order;
	}
	for (uint64_t j = 0; j < n; j++)
		index_set_locked(pool, pc[j].folio->pfn, new_order, pc[j].folio);
	if (order >= PHYS_CHUNK_ORDER && new_order < PHYS_CHUNK_ORDER)
		index_set_locked(pool, f->pfn, order, NULL);	/* drop the chunk entries */
	pool->st.folio_splits++;
	pthread_mutex_unlock(&pool->lock);

	/* Unfreeze: tails first, the caller's piece last. */
	for (uint64_t j = n; j-- > 0;)
		__atomic_store_n(&pc[j].folio->_refcount, pc[j].ref, __ATOMIC_RELEASE);
	free(old_pmc);
	free(old_excl);

	/* Pieces nothing maps or caches are free now. */
	for (uint64_t j = 1; j < n; j++) {
		struct folio *g = pc[j].folio;

		if (pc[j].ref == g->_ref_bias)
			folio_release(g);
	}
	free(pc);
	return 0;
}
