// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Machines, pools and the pfn index.
 *
 * A machine is a table of pool slots. Lookups read a slot's range before its
 * pool pointer and never dereference a pool whose range does not hold the
 * pfn, so a lookup runs without a lock while pools of other ranges come and
 * go. The pfn index of a pool has one slot per 2 MiB chunk: a folio of order
 * 9 or more is named by the chunk slots it covers (@big), smaller folios by
 * a 512-entry array of the chunk (@leaf), allocated on first use and kept:
 * a pool of THPs costs no per-frame index, a pool of 4 KiB folios 8 bytes a
 * frame, as the kernel's memmap is about 64.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "phys/internal.h"

static struct phys_machine default_machine = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
};

struct phys_machine *phys_machine_resolve(struct phys_machine *m)
{
	return m ? m : &default_machine;
}

int phys_report(char *msg, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (msg && len) {
		va_start(ap, fmt);
		vsnprintf(msg, len, fmt, ap);
		va_end(ap);
	}
	return -EUCLEAN;
}

HMMSIM_API int phys_machine_create(struct phys_machine **out)
{
	struct phys_machine *m;

	if (!out)
		return -EINVAL;
	m = hs_calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	pthread_mutex_init(&m->lock, NULL);
	*out = m;
	return 0;
}

HMMSIM_API int phys_machine_destroy(struct phys_machine *m)
{
	if (!m || m == &default_machine)
		return -EINVAL;
	pthread_mutex_lock(&m->lock);
	if (m->nr_pools) {
		pthread_mutex_unlock(&m->lock);
		return -EBUSY;
	}
	pthread_mutex_unlock(&m->lock);
	pthread_mutex_destroy(&m->lock);
	free(m);
	return 0;
}

/* ---- registration ------------------------------------------------------- */

/* Find a place for [*first, *first + nr) in @m and claim a slot; @m is locked. */
static int machine_place(struct phys_machine *m, uint64_t *first, uint64_t nr, unsigned int *slot)
{
	unsigned int free_slot = PHYS_MAX_POOLS;
	uint64_t start = *first;

	if (start == PHYS_PFN_AUTO) {
		/* After every pool, aligned to the largest order. */
		start = PHYS_PFN_AUTO_START;
		for (unsigned int i = 0; i < PHYS_MAX_POOLS; i++) {
			uint64_t end = m->slots[i].end;

			if (m->slots[i].pool && end > start)
				start = end;
		}
		start = align_down(start + (UINT64_C(1) << PHYS_MAX_ORDER) - 1, PHYS_MAX_ORDER);
	}
	if (start >= PHYS_PFN_LIMIT || nr > PHYS_PFN_LIMIT - start)
		return -EINVAL;
	for (unsigned int i = 0; i < PHYS_MAX_POOLS; i++) {
		struct pool_slot *s = &m->slots[i];

		if (!s->pool) {
			if (free_slot == PHYS_MAX_POOLS)
				free_slot = i;
			continue;
		}
		if (start < s->end && s->first < start + nr)
			return -EEXIST;
	}
	if (free_slot == PHYS_MAX_POOLS)
		return -ENOSPC;
	*first = start;
	*slot = free_slot;
	return 0;
}

static void machine_publish(struct phys_machine *m, struct phys_pool *pool)
{
	struct pool_slot *s = &m->slots[pool->slot];

	/* Readers load end (acquire) first, then first, then pool. */
	__atomic_store_n(&s->pool, pool, __ATOMIC_RELAXED);
	__atomic_store_n(&s->first, pool->first, __ATOMIC_RELAXED);
	__atomic_store_n(&s->end, pool->end, __ATOMIC_RELEASE);
	m->nr_pools++;
}

static void machine_unpublish(struct phys_machine *m, struct phys_pool *pool)
{
	struct pool_slot *s = &m->slots[pool->slot];

	__atomic_store_n(&s->end, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&s->first, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&s->pool, NULL, __ATOMIC_RELAXED);
	m->nr_pools--;
}

HMMSIM_API struct phys_pool *phys_pfn_to_pool(struct phys_machine *m, uint64_t pfn)
{
	m = phys_machine_resolve(m);
	for (unsigned int i = 0; i < PHYS_MAX_POOLS; i++) {
		struct pool_slot *s = &m->slots[i];
		uint64_t end = __atomic_load_n(&s->end, __ATOMIC_ACQUIRE);

		if (pfn < end && pfn >= __atomic_load_n(&s->first, __ATOMIC_RELAXED)) {
			struct phys_pool *pool = __atomic_load_n(&s->pool, __ATOMIC_RELAXED);

			if (pool)
				return pool;
		}
	}
	errno = ERANGE;
	return NULL;
}

/* ---- the pfn index ------------------------------------------------------ */

static uint64_t chunk_of(const struct phys_pool *pool, uint64_t pfn)
{
	return (pfn - pool->base) >> PHYS_CHUNK_ORDER;
}

/* Make sure the entries a folio at @pfn of @order will use exist. */
int index_prepare_locked(struct phys_pool *pool, uint64_t pfn, unsigned int order)
{
	uint64_t c = chunk_of(pool, pfn);
	struct folio **leaf;

	if (order >= PHYS_CHUNK_ORDER || pool->leaf[c])
		return 0;
	leaf = hs_calloc(PHYS_CHUNK_PAGES, sizeof(*leaf));
	if (!leaf)
		return -ENOMEM;
	__atomic_store_n(&pool->leaf[c], leaf, __ATOMIC_RELEASE);
	return 0;
}

/* Point the index entries of [@pfn, @pfn + 2^@order) at @folio (or NULL). */
void index_set_locked(struct phys_pool *pool, uint64_t pfn, unsigned int order,
		      struct folio *folio)
{
	uint64_t c = chunk_of(pool, pfn);

	if (order >= PHYS_CHUNK_ORDER) {
		uint64_t n = UINT64_C(1) << (order - PHYS_CHUNK_ORDER);

		for (uint64_t i = 0; i < n; i++)
			__atomic_store_n(&pool->big[c + i], folio, __ATOMIC_RELEASE);
	} else {
		struct folio **leaf = pool->leaf[c];
		uint64_t off = (pfn - pool->base) & (PHYS_CHUNK_PAGES - 1);
		uint64_t n = UINT64_C(1) << order;

		for (uint64_t i = 0; i < n; i++)
			__atomic_store_n(&leaf[off + i], folio, __ATOMIC_RELEASE);
	}
}

struct folio *index_lookup(struct phys_pool *pool, uint64_t pfn)
{
	uint64_t c = chunk_of(pool, pfn);
	struct folio *f = __atomic_load_n(&pool->big[c], __ATOMIC_ACQUIRE);
	struct folio **leaf;

	if (f)
		return f;
	leaf = __atomic_load_n(&pool->leaf[c], __ATOMIC_ACQUIRE);
	if (!leaf)
		return NULL;
	return __atomic_load_n(&leaf[(pfn - pool->base) & (PHYS_CHUNK_PAGES - 1)],
			       __ATOMIC_ACQUIRE);
}

HMMSIM_API struct folio *phys_pfn_to_folio(struct phys_machine *m, uint64_t pfn)
{
	struct phys_pool *pool = phys_pfn_to_pool(m, pfn);
	struct folio *f;

	if (!pool)
		return NULL;
	f = index_lookup(pool, pfn);
	if (!f)
		errno = ENOENT;
	return f;
}

/* ---- pools -------------------------------------------------------------- */

#define POOL_FLAGS	(PHYS_POOL_METADATA | PHYS_POOL_FREE_AT_ONE | PHYS_POOL_NUMA)

static size_t host_round(size_t n)
{
	return (n + 4095) & ~(size_t)4095;
}

static void pool_free_memory(struct phys_pool *pool)
{
	if (pool->leaf) {
		for (uint64_t c = 0; c < pool->nr_chunks; c++)
			free(pool->leaf[c]);
	}
	if (pool->big)
		hs_region_free(pool->big, pool->index_len);
	if (pool->bitmap_mem)
		hs_region_free(pool->bitmap_mem, pool->bitmap_len);
	if (pool->bytes)
		hs_region_free(pool->bytes, pool->bytes_len);
	desc_free_all(pool);
	pthread_mutex_destroy(&pool->lock);
	pthread_mutex_destroy(&pool->zero_lock);
	free(pool);
}

static int pool_alloc_memory(struct phys_pool *pool, const struct phys_pool_config *cfg)
{
	int node = (cfg->flags & PHYS_POOL_NUMA) ? cfg->numa_node : -1;
	size_t words = 0;
	uint64_t *mem;

	for (unsigned int k = 0; k <= PHYS_MAX_ORDER; k++)
		words += bitree_words(pool->span >> k);
	pool->bitmap_len = host_round(words * sizeof(uint64_t));
	pool->bitmap_mem = hs_region_alloc(pool->bitmap_len, 4096, -1);
	if (!pool->bitmap_mem)
		return -ENOMEM;
	mem = pool->bitmap_mem;
	for (unsigned int k = 0; k <= PHYS_MAX_ORDER; k++) {
		bitree_init(&pool->free[k], pool->span >> k, mem);
		mem += bitree_words(pool->span >> k);
	}

	/* Both index arrays in one region: @big, then @leaf. */
	pool->nr_chunks = pool->span >> PHYS_CHUNK_ORDER;
	pool->index_len = host_round(pool->nr_chunks * 2 * sizeof(void *));
	pool->big = hs_region_alloc(pool->index_len, 4096, -1);
	if (!pool->big)
		return -ENOMEM;
	pool->leaf = (struct folio ***)(pool->big + pool->nr_chunks);

	if (!(pool->flags & PHYS_POOL_METADATA)) {
		pool->bytes_len = (size_t)(pool->end - pool->first) * PHYS_PAGE_SIZE;
		pool->bytes = hs_region_alloc(pool->bytes_len, UINT64_C(1) << 21, node);
		if (!pool->bytes)
			return -ENOMEM;
	}
	return 0;
}

HMMSIM_API int phys_pool_create(const struct phys_pool_config *cfg, struct phys_pool **out)
{
	struct phys_machine *m;
	struct phys_pool *pool;
	uint64_t first;
	unsigned int slot;
	int ret;

	if (!cfg || !out || !cfg->nr_frames || (cfg->flags & ~POOL_FLAGS))
		return -EINVAL;
	if (cfg->kind != PHYS_SYSTEM_RAM && cfg->kind != PHYS_DEVICE_PRIVATE &&
	    cfg->kind != PHYS_DEVICE_COHERENT)
		return -EINVAL;
	if (cfg->kind == PHYS_SYSTEM_RAM && (cfg->ops || (cfg->flags & PHYS_POOL_FREE_AT_ONE)))
		return -EINVAL;
	if (cfg->nr_frames >= PHYS_PFN_LIMIT)
		return -EINVAL;

	pool = hs_calloc(1, sizeof(*pool));
	if (!pool)
		return -ENOMEM;
	pthread_mutex_init(&pool->lock, NULL);
	pthread_mutex_init(&pool->zero_lock, NULL);

	m = phys_machine_resolve(cfg->machine);
	pthread_mutex_lock(&m->lock);
	first = cfg->first_pfn;
	ret = machine_place(m, &first, cfg->nr_frames, &slot);
	if (ret)
		goto fail_locked;
	pool->machine = m;
	pool->slot = slot;
	pool->kind = cfg->kind;
	pool->flags = cfg->flags;
	pool->first = first;
	pool->end = first + cfg->nr_frames;
	pool->base = align_down(first, PHYS_MAX_ORDER);
	pool->span = align_down(pool->end + (UINT64_C(1) << PHYS_MAX_ORDER) - 1, PHYS_MAX_ORDER) -
		     pool->base;
	pool->ops = cfg->ops;
	pool->owner = cfg->owner;
	snprintf(pool->name, sizeof(pool->name), "%s", cfg->name ? cfg->name : "pool");
	pool->st.nr_frames = cfg->nr_frames;

	ret = pool_alloc_memory(pool, cfg);
	if (ret)
		goto fail_locked;
	buddy_init_free(pool);
	if (pool->kind == PHYS_SYSTEM_RAM) {
		ret = zero_pages_init(pool);
		if (ret)
			goto fail_locked;
	}
	/* Claimed under the machine lock: no other pool can take the range. */
	machine_publish(m, pool);
	pthread_mutex_unlock(&m->lock);
	*out = pool;
	return 0;

fail_locked:
	pthread_mutex_unlock(&m->lock);
	pool_free_memory(pool);
	return ret;
}

HMMSIM_API int phys_pool_destroy(struct phys_pool *pool)
{
	uint64_t internal;

	if (!pool)
		return -EINVAL;
	pthread_mutex_lock(&pool->lock);
	internal = pool->nr_fillers + (pool->zero != NULL) + (pool->huge_zero != NULL);
	if (pool->st.live_folios != internal ||
	    __atomic_load_n(&pool->users, __ATOMIC_ACQUIRE)) {
		pthread_mutex_unlock(&pool->lock);
		return -EBUSY;
	}
	pthread_mutex_unlock(&pool->lock);

	pthread_mutex_lock(&pool->machine->lock);
	machine_unpublish(pool->machine, pool);
	pthread_mutex_unlock(&pool->machine->lock);
	pool_free_memory(pool);
	return 0;
}

HMMSIM_API enum phys_kind phys_pool_kind(const struct phys_pool *pool)
{
	return pool->kind;
}

HMMSIM_API uint64_t phys_pool_first_pfn(const struct phys_pool *pool)
{
	return pool->first;
}

HMMSIM_API uint64_t phys_pool_nr_frames(const struct phys_pool *pool)
{
	return pool->end - pool->first;
}

HMMSIM_API void *phys_pool_owner(const struct phys_pool *pool)
{
	return pool->owner;
}

HMMSIM_API struct phys_machine *phys_pool_machine(const struct phys_pool *pool)
{
	return pool->machine;
}

HMMSIM_API void phys_pool_stats(struct phys_pool *pool, struct phys_pool_stats *st)
{
	pthread_mutex_lock(&pool->lock);
	*st = pool->st;
	pthread_mutex_unlock(&pool->lock);
	st->page_free_calls = __atomic_load_n(&pool->page_free_calls, __ATOMIC_RELAXED);
}

/* ---- the checker -------------------------------------------------------- */

struct extent {
	uint64_t start, end;
	const struct folio *folio;	/* NULL for a free block */
};

static int extent_cmp(const void *a, const void *b)
{
	const struct extent *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

static int check_index_locked(struct phys_pool *pool, char *msg, size_t len)
{
	for (uint64_t c = 0; c < pool->nr_chunks; c++) {
		uint64_t cpfn = pool->base + (c << PHYS_CHUNK_ORDER);
		struct folio *big = pool->big[c];
		struct folio **leaf = pool->leaf[c];

		if (big && (folio_state(big) == FOLIO_STATE_FREE || big->order < PHYS_CHUNK_ORDER ||
			    cpfn < big->pfn || cpfn >= big->pfn + folio_nr_pages(big)))
			return phys_report(msg, len, "pfn index: chunk %#llx names a stale folio",
					   (unsigned long long)cpfn);
		if (!leaf)
			continue;
		for (uint64_t i = 0; i < PHYS_CHUNK_PAGES; i++) {
			struct folio *f = leaf[i];

			if (!f)
				continue;
			if (big || folio_state(f) == FOLIO_STATE_FREE ||
			    f->order >= PHYS_CHUNK_ORDER || cpfn + i < f->pfn ||
			    cpfn + i >= f->pfn + folio_nr_pages(f))
				return phys_report(msg, len, "pfn index: pfn %#llx names a "
						   "stale folio", (unsigned long long)(cpfn + i));
		}
	}
	return 0;
}

HMMSIM_API int phys_pool_check(struct phys_pool *pool, char *msg, size_t len)
{
	struct extent *ext = NULL;
	uint64_t n = 0, cap, live = 0, live_frames = 0, covered = 0;
	struct folio *f;
	int ret;

	pthread_mutex_lock(&pool->lock);
	ret = buddy_check_locked(pool, msg, len);
	if (ret)
		goto out;
	cap = pool->st.live_folios + 1;
	for (unsigned int k = 0; k <= PHYS_MAX_ORDER; k++)
		cap += pool->st.free_blocks[k];
	ext = malloc(cap * sizeof(*ext));
	if (!ext) {
		ret = -ENOMEM;
		goto out;
	}
	for (unsigned int k = 0; k <= PHYS_MAX_ORDER; k++) {
		uint64_t idx = 0;

		while ((idx = bitree_next(&pool->free[k], idx)) != BT_NONE) {
			uint64_t p = pool->base + (idx << k);

			ext[n++] = (struct extent){ p, p + (UINT64_C(1) << k), NULL };
			idx++;
		}
	}
	for (f = pool->live; f; f = f->_next) {
		uint8_t state = folio_state(f);

		if (n == cap) {
			ret = phys_report(msg, len, "live list longer than its counter");
			goto out;
		}
		if (state != FOLIO_STATE_LIVE && state != FOLIO_STATE_HUGETLB_FREE) {
			ret = phys_report(msg, len, "folio pfn %#llx on the live list is free",
					  (unsigned long long)f->pfn);
			goto out;
		}
		if (f->pool != pool || !is_aligned(f->pfn, f->order) || f->pfn < pool->first ||
		    f->pfn + folio_nr_pages(f) > pool->end) {
			ret = phys_report(msg, len, "folio pfn %#llx order %u misplaced",
					  (unsigned long long)f->pfn, f->order);
			goto out;
		}
		if (index_lookup(pool, f->pfn) != f ||
		    index_lookup(pool, f->pfn + folio_nr_pages(f) - 1) != f) {
			ret = phys_report(msg, len, "pfn index does not name folio pfn %#llx",
					  (unsigned long long)f->pfn);
			goto out;
		}
		ret = folio_check(f, msg, len);
		if (ret)
			goto out;
		ext[n++] = (struct extent){ f->pfn, f->pfn + folio_nr_pages(f), f };
		live++;
		live_frames += folio_nr_pages(f);
	}
	if (live != pool->st.live_folios || live_frames != pool->st.live_frames) {
		ret = phys_report(msg, len, "%llu live folios of %llu frames, counters say "
				  "%llu, %llu",
				  (unsigned long long)live, (unsigned long long)live_frames,
				  (unsigned long long)pool->st.live_folios,
				  (unsigned long long)pool->st.live_frames);
		goto out;
	}
	qsort(ext, n, sizeof(*ext), extent_cmp);
	for (uint64_t i = 0; i < n; i++) {
		if (i && ext[i].start < ext[i - 1].end) {
			ret = phys_report(msg, len, "pfn %#llx is both %s and %s",
					  (unsigned long long)ext[i].start,
					  ext[i - 1].folio ? "in a folio" : "free",
					  ext[i].folio ? "in a folio" : "free");
			goto out;
		}
		covered += ext[i].end - ext[i].start;
	}
	if (covered != pool->end - pool->first) {
		ret = phys_report(msg, len, "free %llu + allocated %llu frames != pool size %llu",
				  (unsigned long long)pool->st.free_frames,
				  (unsigned long long)live_frames,
				  (unsigned long long)(pool->end - pool->first));
		goto out;
	}
	ret = check_index_locked(pool, msg, len);
out:
	pthread_mutex_unlock(&pool->lock);
	free(ext);
	return ret;
}
