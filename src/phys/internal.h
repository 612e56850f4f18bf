/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * phys internals: the pool, its buddy bitmaps, the pfn index, the folio
 * descriptor cache and the hooks the modules of src/phys share.
 */
#ifndef HMMSIM_PHYS_INTERNAL_H
#define HMMSIM_PHYS_INTERNAL_H

#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <hmmsim/phys.h>

#include "base/compiler.h"

/* The pfn index has one slot per 2 MiB chunk of frames. */
#define PHYS_CHUNK_ORDER	9
#define PHYS_CHUNK_PAGES	(UINT64_C(1) << PHYS_CHUNK_ORDER)

/* Frame numbers stay below this (a 52-bit physical address space). */
#define PHYS_PFN_LIMIT		(UINT64_C(1) << 40)

/* Where automatic pools start: pfn 0 is never handed out. */
#define PHYS_PFN_AUTO_START	(UINT64_C(1) << PHYS_MAX_ORDER)

#define BT_NONE			UINT64_MAX
#define BT_MAX_LEVELS		8

/* Life of a folio descriptor (folio->_state). */
enum {
	FOLIO_STATE_FREE = 0,		/* in the pool's descriptor cache (poisoned) */
	FOLIO_STATE_LIVE = 1,		/* allocated */
	FOLIO_STATE_HUGETLB_FREE = 2,	/* free in its hugetlb pool, refcount 0 */
};

/*
 * A bitmap with summary levels: bit i of level l + 1 is set iff word i of
 * level l is not zero. Finding the lowest set bit costs one word per level,
 * so a free list of a terabyte pool is a few words away from its first
 * block, and the memory is 2 bits per frame for all orders together
 * (mapped lazily: untouched words cost no host memory).
 */
struct bitree {
	unsigned int levels;
	uint64_t nbits[BT_MAX_LEVELS];
	uint64_t *lvl[BT_MAX_LEVELS];
};

size_t bitree_words(uint64_t nbits);
void bitree_init(struct bitree *bt, uint64_t nbits, uint64_t *mem);
void bitree_set(struct bitree *bt, uint64_t i);
void bitree_clear(struct bitree *bt, uint64_t i);
int bitree_test(const struct bitree *bt, uint64_t i);
uint64_t bitree_next(const struct bitree *bt, uint64_t from);

struct pool_slot {
	uint64_t first;
	uint64_t end;
	struct phys_pool *pool;
};

struct phys_machine {
	pthread_mutex_t lock;
	unsigned int nr_pools;
	struct pool_slot slots[PHYS_MAX_POOLS];
};

/* Descriptors come from the host in chunks that live as long as the pool. */
struct desc_chunk {
	struct desc_chunk *next;
	unsigned int nr;
	struct folio folios[];
};

struct phys_pool {
	/* Set at creation, read-only afterwards. */
	struct phys_machine *machine;
	unsigned int slot;
	enum phys_kind kind;
	unsigned int flags;
	uint64_t first, end;		/* frames [first, end) */
	uint64_t base;			/* first, aligned down to the max order */
	uint64_t span;			/* frames from base, aligned up to the max order */
	const struct phys_pgmap_ops *ops;
	void *owner;
	char name[32];
	unsigned char *bytes;		/* NULL in a metadata pool */
	size_t bytes_len;
	void *bitmap_mem;
	size_t bitmap_len;
	uint64_t nr_chunks;
	struct folio **big;		/* per chunk: the folio of order >= 9 on it */
	struct folio ***leaf;		/* per chunk: 512 entries for smaller folios */
	size_t index_len;

	/* Everything below under @lock. */
	pthread_mutex_t lock;
	struct bitree free[PHYS_MAX_ORDER + 1];
	struct phys_pool_stats st;	/* but page_free_calls, below */
	struct folio *live;		/* live folios, through _next/_prev */
	struct folio *desc_head;	/* free descriptors, oldest first, through _next */
	struct folio *desc_tail;
	struct desc_chunk *chunks;
	struct folio *fillers;		/* phys_pool_fragment(), through private */
	uint64_t nr_fillers;

	/* Zero pages: @zero is set at creation, @huge_zero once under @zero_lock. */
	pthread_mutex_t zero_lock;
	struct folio *zero;
	struct folio *huge_zero;

	/* Hugetlb pools and files using the pool; page_free callbacks made (atomic). */
	unsigned long users;
	uint64_t page_free_calls;
};

/* The default machine (pool.c). */
struct phys_machine *phys_machine_resolve(struct phys_machine *m);

/* Buddy (buddy.c); the pool's lock is held. */
void buddy_init_free(struct phys_pool *pool);
int buddy_alloc_locked(struct phys_pool *pool, unsigned int order, uint64_t *pfn);
void buddy_free_locked(struct phys_pool *pool, uint64_t pfn, unsigned int order);
int buddy_check_locked(struct phys_pool *pool, char *msg, size_t len);

/* pfn index (pool.c); the pool's lock is held. */
int index_prepare_locked(struct phys_pool *pool, uint64_t pfn, unsigned int order);
void index_set_locked(struct phys_pool *pool, uint64_t pfn, unsigned int order,
		      struct folio *folio);
struct folio *index_lookup(struct phys_pool *pool, uint64_t pfn);

/* Descriptors and the live list (folio.c); the pool's lock is held. */
struct folio *desc_get_locked(struct phys_pool *pool);
void desc_put_locked(struct phys_pool *pool, struct folio *folio);
void live_add_locked(struct phys_pool *pool, struct folio *folio);
void live_del_locked(struct phys_pool *pool, struct folio *folio);
void desc_free_all(struct phys_pool *pool);

/*
 * Describe frames [@pfn, @pfn + 2^@order), already taken out of the buddy,
 * as a new live folio: refcount 1 + bias, no flags but the pool's kind, no
 * bytes touched. NULL when the host has no memory for the descriptor or the
 * pfn index (the caller gives the frames back).
 */
struct folio *folio_make_locked(struct phys_pool *pool, uint64_t pfn, unsigned int order);

/* The descriptor's refcount reached its bias: free it (folio.c). */
void folio_release(struct folio *folio);

/* Return a folio whose refcount is at its bias to the buddy (folio.c). */
void folio_free_to_buddy(struct folio *folio);

/* Per-page state of large folios (rmap.c). */
int32_t *folio_pmc(struct folio *folio);
size_t excl_words(unsigned int order);

/* Hugetlb pools (hugetlb.c): take back a folio whose last reference went. */
void hugetlb_free_folio(struct folio *folio);
struct phys_pool *hugetlb_pool(struct phys_hugetlb *hp);
void hugetlb_use(struct phys_hugetlb *hp, int delta);

/* Zero pages (zero.c). */
int zero_pages_init(struct phys_pool *pool);

static inline bool folio_live(const struct folio *folio)
{
	return __atomic_load_n(&folio->_refcount, __ATOMIC_ACQUIRE) > folio->_ref_bias;
}

static inline uint8_t folio_state(const struct folio *folio)
{
	return __atomic_load_n(&folio->_state, __ATOMIC_ACQUIRE);
}

static inline void folio_set_state(struct folio *folio, uint8_t state)
{
	__atomic_store_n(&folio->_state, state, __ATOMIC_RELEASE);
}

static inline void folio_flags_or(struct folio *folio, uint32_t flags)
{
	__atomic_fetch_or(&folio->_flags, flags, __ATOMIC_ACQ_REL);
}

static inline void folio_flags_andnot(struct folio *folio, uint32_t flags)
{
	__atomic_fetch_and(&folio->_flags, ~flags, __ATOMIC_ACQ_REL);
}

static inline int32_t atomic_read32(const int32_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

/* Format a checker message into @msg (when not NULL) and return -EUCLEAN. */
int phys_report(char *msg, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif /* HMMSIM_PHYS_INTERNAL_H */
