// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Folio descriptors, allocation, references, pins, flags and the folio lock.
 *
 * Descriptors are type-stable: they come from chunks that live as long as
 * their pool and are recycled through a FIFO, so a stale pointer always
 * points at a folio descriptor of the same pool. That makes the speculative
 * folio_try_get() safe (it fails on a free descriptor, whose refcount is 0,
 * and the caller rechecks the pfn when it succeeds on a reused one), and it
 * keeps a freed descriptor poisoned as long as possible, so a late
 * folio_put() is caught. The pool, the bias and the kind flags of a
 * descriptor never change, so they can be read without ordering.
 */
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "phys/internal.h"
#include "base/alloc.h"

#define DESC_CHUNK	64

/* ---- descriptors and the live list (pool lock held) --------------------- */

static int desc_grow_locked(struct phys_pool *pool)
{
	struct desc_chunk *c = hs_calloc(1, sizeof(*c) + DESC_CHUNK * sizeof(struct folio));
	uint8_t bias = 0;

	if (!c)
		return -ENOMEM;
	if (pool->kind != PHYS_SYSTEM_RAM && (pool->flags & PHYS_POOL_FREE_AT_ONE))
		bias = 1;
	c->nr = DESC_CHUNK;
	c->next = pool->chunks;
	pool->chunks = c;
	for (unsigned int i = 0; i < DESC_CHUNK; i++) {
		struct folio *f = &c->folios[i];

		f->pool = pool;
		f->_ref_bias = bias;
		desc_put_locked(pool, f);
	}
	return 0;
}

struct folio *desc_get_locked(struct phys_pool *pool)
{
	struct folio *f;

	if (!pool->desc_head && desc_grow_locked(pool))
		return NULL;
	f = pool->desc_head;
	pool->desc_head = f->_next;
	if (!pool->desc_head)
		pool->desc_tail = NULL;
	f->_next = NULL;
	return f;
}

void desc_put_locked(struct phys_pool *pool, struct folio *f)
{
	folio_set_state(f, FOLIO_STATE_FREE);
	f->_next = NULL;
	f->_prev = NULL;
	if (pool->desc_tail)
		pool->desc_tail->_next = f;
	else
		pool->desc_head = f;
	pool->desc_tail = f;
}

void live_add_locked(struct phys_pool *pool, struct folio *f)
{
	f->_prev = NULL;
	f->_next = pool->live;
	if (pool->live)
		pool->live->_prev = f;
	pool->live = f;
	pool->st.live_folios++;
	pool->st.live_frames += folio_nr_pages(f);
}

void live_del_locked(struct phys_pool *pool, struct folio *f)
{
	if (f->_prev)
		f->_prev->_next = f->_next;
	else
		pool->live = f->_next;
	if (f->_next)
		f->_next->_prev = f->_prev;
	f->_next = f->_prev = NULL;
	pool->st.live_folios--;
	pool->st.live_frames -= folio_nr_pages(f);
}

/* At pool destruction: the per-page arrays of what is still live, then the chunks. */
void desc_free_all(struct phys_pool *pool)
{
	struct desc_chunk *c, *next;

	for (struct folio *f = pool->live; f; f = f->_next) {
		free(f->_page_mapcount);
		free(f->_excl);
	}
	for (c = pool->chunks; c; c = next) {
		next = c->next;
		free(c);
	}
	pool->chunks = NULL;
}

/* ---- allocation --------------------------------------------------------- */

static uint32_t kind_flags(const struct phys_pool *pool)
{
	switch (pool->kind) {
	case PHYS_DEVICE_PRIVATE:
		return FOLIO_DEVICE_PRIVATE;
	case PHYS_DEVICE_COHERENT:
		return FOLIO_DEVICE_COHERENT;
	default:
		return 0;
	}
}

struct folio *folio_make_locked(struct phys_pool *pool, uint64_t pfn, unsigned int order)
{
	uint64_t *excl = NULL;
	struct folio *f;

	if (index_prepare_locked(pool, pfn, order))
		return NULL;
	if (order) {
		excl = hs_calloc(excl_words(order), sizeof(*excl));
		if (!excl)
			return NULL;
	}
	f = desc_get_locked(pool);
	if (!f) {
		free(excl);
		return NULL;
	}
	/* Fields first; the refcount, stored last with release, publishes them. */
	f->pfn = pfn;
	f->order = order;
	f->owner = pool->kind == PHYS_SYSTEM_RAM ? NULL : pool->owner;
	f->private = NULL;
	f->index = 0;
	__atomic_store_n(&f->mapping, NULL, __ATOMIC_RELAXED);
	__atomic_store_n(&f->_flags, kind_flags(pool), __ATOMIC_RELAXED);
	f->_mapcount = 0;
	f->_entire_mapcount = 0;
	f->_large_mapcount = 0;
	f->_nr_pages_mapped = 0;
	f->_pincount = 0;
	f->_page_mapcount = NULL;
	f->_excl = excl;
	f->_hugetlb = NULL;
	folio_set_state(f, FOLIO_STATE_LIVE);
	index_set_locked(pool, pfn, order, f);
	live_add_locked(pool, f);
	__atomic_store_n(&f->_refcount, 1 + f->_ref_bias, __ATOMIC_RELEASE);
	return f;
}

#define ALLOC_FLAGS	FOLIO_ALLOC_ZERO

HMMSIM_API struct folio *folio_alloc(struct phys_pool *pool, unsigned int order,
				     unsigned int flags)
{
	struct folio *f;
	uint64_t pfn;

	if (!pool || order > PHYS_MAX_ORDER || (flags & ~ALLOC_FLAGS)) {
		errno = EINVAL;
		return NULL;
	}
	/* An injected failure looks like an exhausted pool. */
	if (hs_alloc_should_fail()) {
		errno = ENOMEM;
		return NULL;
	}
	pthread_mutex_lock(&pool->lock);
	if (buddy_alloc_locked(pool, order, &pfn)) {
		pthread_mutex_unlock(&pool->lock);
		errno = ENOMEM;
		return NULL;
	}
	f = folio_make_locked(pool, pfn, order);
	if (!f) {
		/* Host memory, not simulated memory, ran out: undo quietly. */
		buddy_free_locked(pool, pfn, order);
		pool->st.allocs[order]--;
		pool->st.frees[order]--;
		pool->st.failures[order]++;
		pthread_mutex_unlock(&pool->lock);
		errno = ENOMEM;
		return NULL;
	}
	pthread_mutex_unlock(&pool->lock);
	if (flags & FOLIO_ALLOC_ZERO)
		folio_zero(f);
	return f;
}

/* ---- freeing ------------------------------------------------------------ */

void folio_free_to_buddy(struct folio *f)
{
	struct phys_pool *pool = f->pool;
	int32_t *pmc = f->_page_mapcount;
	uint64_t *excl = f->_excl;

	f->_page_mapcount = NULL;
	f->_excl = NULL;
	f->owner = NULL;
	f->private = NULL;
	f->index = 0;
	__atomic_store_n(&f->mapping, NULL, __ATOMIC_RELAXED);
	__atomic_store_n(&f->_flags, 0, __ATOMIC_RELEASE);
	f->_hugetlb = NULL;

	pthread_mutex_lock(&pool->lock);
	index_set_locked(pool, f->pfn, f->order, NULL);
	live_del_locked(pool, f);
	buddy_free_locked(pool, f->pfn, f->order);
	/* A bias-1 descriptor sits at 1 until here; free means 0 for everyone. */
	__atomic_store_n(&f->_refcount, 0, __ATOMIC_RELEASE);
	desc_put_locked(pool, f);
	pthread_mutex_unlock(&pool->lock);
	free(pmc);
	free(excl);
}

static void excl_clear_all(struct folio *f)
{
	if (f->_excl)
		memset(f->_excl, 0, excl_words(f->order) * sizeof(uint64_t));
	folio_flags_andnot(f, FOLIO_ANON_EXCLUSIVE);
}

void folio_release(struct folio *f)
{
	uint32_t flags = folio_flags(f);

	if (flags & FOLIO_HUGETLB) {
		hugetlb_free_folio(f);
		return;
	}
	if (flags & (FOLIO_DEVICE_PRIVATE | FOLIO_DEVICE_COHERENT)) {
		struct phys_pool *pool = f->pool;

		/* What free_zone_device_folio does before the driver hears of it. */
		excl_clear_all(f);
		folio_flags_andnot(f, FOLIO_ANON | FOLIO_DIRTY | FOLIO_DEFERRED_SPLIT);
		__atomic_store_n(&f->mapping, NULL, __ATOMIC_RELEASE);
		if (pool->ops && pool->ops->page_free)
			pool->ops->page_free(f, pool->owner);
		__atomic_fetch_add(&pool->page_free_calls, 1, __ATOMIC_RELAXED);
	}
	folio_free_to_buddy(f);
}

/* ---- references --------------------------------------------------------- */

static int32_t folio_total_mapcount(const struct folio *f)
{
	return f->order ? atomic_read32(&f->_large_mapcount) : atomic_read32(&f->_mapcount);
}

HMMSIM_API int folio_ref_add(struct folio *f, int nr)
{
	int32_t old, bias;

	if (!f || nr <= 0)
		return -EINVAL;
	bias = f->_ref_bias;
	old = __atomic_load_n(&f->_refcount, __ATOMIC_RELAXED);
	do {
		if (old <= bias || old > INT32_MAX - nr)
			return -EINVAL;
	} while (!__atomic_compare_exchange_n(&f->_refcount, &old, old + nr, false,
					      __ATOMIC_ACQ_REL, __ATOMIC_RELAXED));
	return 0;
}

HMMSIM_API int folio_get(struct folio *f)
{
	return folio_ref_add(f, 1);
}

HMMSIM_API bool folio_try_get(struct folio *f)
{
	return f && folio_ref_add(f, 1) == 0;
}

HMMSIM_API int folio_put_refs(struct folio *f, int nr)
{
	int32_t old, new, bias;

	if (!f || nr <= 0)
		return -EINVAL;
	bias = f->_ref_bias;
	old = __atomic_load_n(&f->_refcount, __ATOMIC_ACQUIRE);
	do {
		if (old - bias < nr)
			return -EINVAL;		/* more than held: a freed folio included */
		new = old - nr;
		if (new == bias) {
			/*
			 * Whoever drops a mapping drops its count before its
			 * reference, so the last put sees every count at 0
			 * unless the caller's accounting is broken.
			 */
			if (folio_total_mapcount(f) || atomic_read32(&f->_entire_mapcount) ||
			    atomic_read32(&f->_pincount))
				return -EINVAL;
			if (folio_flags(f) & FOLIO_ZERO)
				return -EINVAL;
		}
	} while (!__atomic_compare_exchange_n(&f->_refcount, &old, new, false,
					      __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE));
	if (new != bias)
		return 0;
	folio_release(f);
	return 1;
}

HMMSIM_API int folio_put(struct folio *f)
{
	return folio_put_refs(f, 1);
}

/* ---- pins --------------------------------------------------------------- */

HMMSIM_API int folio_pin(struct folio *f)
{
	int ret;

	if (!f)
		return -EINVAL;
	if (is_zero_folio(f))
		return folio_live(f) ? 0 : -EINVAL;
	if (folio_is_device_private(f))
		return -EPERM;
	ret = folio_ref_add(f, f->order ? 1 : GUP_PIN_COUNTING_BIAS);
	if (ret)
		return ret;
	__atomic_fetch_add(&f->_pincount, 1, __ATOMIC_ACQ_REL);
	return 0;
}

HMMSIM_API int unpin_folio(struct folio *f)
{
	int32_t old;
	int ret;

	if (!f)
		return -EINVAL;
	if (is_zero_folio(f))
		return folio_live(f) ? 0 : -EINVAL;
	old = __atomic_load_n(&f->_pincount, __ATOMIC_ACQUIRE);
	do {
		if (old <= 0)
			return -EINVAL;
	} while (!__atomic_compare_exchange_n(&f->_pincount, &old, old - 1, false,
					      __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE));
	ret = folio_put_refs(f, f->order ? 1 : GUP_PIN_COUNTING_BIAS);
	if (ret < 0)
		__atomic_fetch_add(&f->_pincount, 1, __ATOMIC_ACQ_REL);
	return ret < 0 ? ret : 0;
}

HMMSIM_API bool folio_maybe_dma_pinned(const struct folio *f)
{
	if (f->order)
		return atomic_read32(&f->_pincount) > 0;
	return folio_ref_count(f) >= GUP_PIN_COUNTING_BIAS;
}

HMMSIM_API int folio_pin_count(const struct folio *f)
{
	return atomic_read32(&f->_pincount);
}

HMMSIM_API int folio_pin_refs(const struct folio *f)
{
	return atomic_read32(&f->_pincount) * (f->order ? 1 : GUP_PIN_COUNTING_BIAS);
}

HMMSIM_API int folio_cache_refs(const struct folio *f)
{
	if (folio_test_anon(f) || !folio_mapping(f))
		return 0;
	return folio_test_hugetlb(f) ? 1 : (int)folio_nr_pages(f);
}

/* ---- flags and the folio lock ------------------------------------------- */

HMMSIM_API int folio_set_flags(struct folio *f, uint32_t flags)
{
	if (!f || (flags & ~FOLIO_USER_FLAGS) || !folio_live(f))
		return -EINVAL;
	folio_flags_or(f, flags);
	return 0;
}

HMMSIM_API int folio_clear_flags(struct folio *f, uint32_t flags)
{
	if (!f || (flags & ~FOLIO_USER_FLAGS) || !folio_live(f))
		return -EINVAL;
	folio_flags_andnot(f, flags);
	return 0;
}

HMMSIM_API int folio_set_anon(struct folio *f)
{
	if (!f || !folio_live(f) || (folio_flags(f) & FOLIO_ZERO))
		return -EINVAL;
	if (!folio_test_anon(f) && folio_mapping(f))
		return -EINVAL;		/* in a page cache */
	folio_flags_or(f, FOLIO_ANON);
	return 0;
}

HMMSIM_API bool folio_trylock(struct folio *f)
{
	return !(__atomic_fetch_or(&f->_flags, FOLIO_LOCKED, __ATOMIC_ACQUIRE) & FOLIO_LOCKED);
}

HMMSIM_API void folio_lock(struct folio *f)
{
	while (!folio_trylock(f))
		sched_yield();
}

HMMSIM_API int folio_unlock(struct folio *f)
{
	if (!(__atomic_fetch_and(&f->_flags, ~FOLIO_LOCKED, __ATOMIC_RELEASE) & FOLIO_LOCKED))
		return -EINVAL;
	return 0;
}

/* ---- the folio checker -------------------------------------------------- */

HMMSIM_API int folio_check(const struct folio *f, char *msg, size_t len)
{
	unsigned long long pfn = f->pfn;
	uint8_t state = folio_state(f);
	uint32_t flags = folio_flags(f);
	int32_t ref = folio_ref_count(f), pins = atomic_read32(&f->_pincount);
	int32_t entire = atomic_read32(&f->_entire_mapcount);
	int32_t total = folio_total_mapcount(f);
	int64_t sum = 0, mapped = 0, need;

	if (state != FOLIO_STATE_LIVE && state != FOLIO_STATE_HUGETLB_FREE)
		return phys_report(msg, len, "folio pfn %#llx is free", pfn);
	if (ref < 0 || pins < 0 || entire < 0 || total < 0)
		return phys_report(msg, len, "folio pfn %#llx: negative count (ref %d pin %d "
				   "entire %d map %d)", pfn, ref, pins, entire, total);
	if (!f->order) {
		if (entire || atomic_read32(&f->_large_mapcount) || f->_page_mapcount)
			return phys_report(msg, len, "order-0 folio pfn %#llx: large counts",
					   pfn);
	} else {
		const int32_t *pmc = __atomic_load_n(&f->_page_mapcount, __ATOMIC_ACQUIRE);

		for (uint64_t i = 0; pmc && i < folio_nr_pages(f); i++) {
			int32_t c = atomic_read32(&pmc[i]);

			if (c < 0)
				return phys_report(msg, len, "folio pfn %#llx page %llu: "
						   "mapcount %d", pfn, (unsigned long long)i, c);
			sum += c;
			mapped += c > 0;
		}
		if (sum + entire != total)
			return phys_report(msg, len, "folio pfn %#llx: %lld PTE + %d entire "
					   "mappings but mapcount %d", pfn, (long long)sum,
					   entire, total);
		if (mapped != atomic_read32(&f->_nr_pages_mapped))
			return phys_report(msg, len, "folio pfn %#llx: %lld pages mapped, "
					   "counter %d", pfn, (long long)mapped,
					   atomic_read32(&f->_nr_pages_mapped));
		if ((flags & FOLIO_HUGETLB) && sum)
			return phys_report(msg, len, "hugetlb folio pfn %#llx is PTE-mapped",
					   pfn);
	}
	if (state == FOLIO_STATE_HUGETLB_FREE) {
		if (ref || total || pins)
			return phys_report(msg, len, "free hugetlb folio pfn %#llx: ref %d "
					   "map %d", pfn, ref, total);
		return 0;
	}
	if ((flags & FOLIO_ZERO) && total)
		return phys_report(msg, len, "zero folio pfn %#llx has mapcount %d", pfn, total);
	if (!(flags & FOLIO_ANON)) {
		bool excl = flags & FOLIO_ANON_EXCLUSIVE;

		for (size_t w = 0; f->_excl && w < excl_words(f->order); w++)
			excl |= __atomic_load_n(&f->_excl[w], __ATOMIC_RELAXED) != 0;
		if (excl)
			return phys_report(msg, len, "non-anon folio pfn %#llx is anon-exclusive",
					   pfn);
	}
	need = (int64_t)total + folio_pin_refs(f) + folio_cache_refs(f) + f->_ref_bias;
	if (ref < need || ref <= f->_ref_bias)
		return phys_report(msg, len, "folio pfn %#llx: refcount %d < %lld (map %d pin "
				   "refs %d cache %d bias %d)", pfn, ref, (long long)need, total,
				   folio_pin_refs(f), folio_cache_refs(f), f->_ref_bias);
	return 0;
}
