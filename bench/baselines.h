/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Baselines the pt engine is measured against, written for the benchmark:
 *
 *  - radix: a 4-level, 512-ary radix of uint64_t over a 48-bit space with
 *    malloc'd 4K nodes and no synchronization at all: the practical speed
 *    limit of a lookup in a table of this shape;
 *  - radix_rw: the same radix behind one pthread_rwlock_t, the classic way to
 *    make it concurrent;
 *  - lfht: liburcu's lock-free RCU hash table (cds_lfht) keyed by va >> 12,
 *    memb flavour, nodes freed with call_rcu;
 *  - judy: a JudyL array keyed by va >> 12 (only with HAVE_JUDY), not
 *    thread-safe, a single-thread speed and density reference.
 *
 * Every lookup here lives in this translation unit and the benchmark calls it
 * out of line, as it calls the engine's pt_lookup() in a library: neither side
 * gets inlined into the timing loop (the build has no LTO).
 *
 * A stored value is any nonzero word; lookups return 0 for a hole, so a hole
 * and a mapping cost the caller the same test.
 */
#ifndef HMMSIM_BENCH_BASELINES_H
#define HMMSIM_BENCH_BASELINES_H

#include <pthread.h>
#include <stdint.h>

#define RADIX_LEVELS	4
#define RADIX_BITS	9
#define RADIX_PAGE_SHIFT 12
#define RADIX_LAST	((UINT64_C(1) << (RADIX_PAGE_SHIFT + RADIX_LEVELS * RADIX_BITS)) - 1)

struct radix_node;

/*
 * struct radix - the bare radix.
 * @root:	top node, always allocated.
 * @nodes:	nodes allocated, the top included.
 * @bytes:	bytes asked of malloc for them (the counting allocator).
 */
struct radix {
	struct radix_node *root;
	uint64_t nodes;
	uint64_t bytes;
};

int radix_init(struct radix *r);
void radix_destroy(struct radix *r);
/* Store @val (nonzero) for the 4K page at @va. 0, -EEXIST, -ERANGE or -ENOMEM. */
int radix_map(struct radix *r, uint64_t va, uint64_t val);
/*
 * Clear the page at @va. Returns 1 if it was mapped, else 0. Nodes are kept
 * until radix_destroy(): freeing them needs a per-node count, which a bare
 * 4K node of 512 entries has no room for.
 */
int radix_unmap(struct radix *r, uint64_t va);
uint64_t radix_lookup(const struct radix *r, uint64_t va);

/* struct radix_rw - the radix behind a reader-writer lock. */
struct radix_rw {
	struct radix r;
	pthread_rwlock_t lock;
};

int radix_rw_init(struct radix_rw *rw);
void radix_rw_destroy(struct radix_rw *rw);
/* Updates take the write lock for the one operation. */
int radix_rw_map(struct radix_rw *rw, uint64_t va, uint64_t val);
int radix_rw_unmap(struct radix_rw *rw, uint64_t va);

/* Readers hold the read lock around a batch of radix_rw_lookup() calls. */
static inline void radix_rw_read_lock(struct radix_rw *rw)
{
	pthread_rwlock_rdlock(&rw->lock);
}

static inline void radix_rw_read_unlock(struct radix_rw *rw)
{
	pthread_rwlock_unlock(&rw->lock);
}

uint64_t radix_rw_lookup(struct radix_rw *rw, uint64_t va);

struct cds_lfht;

/*
 * struct lfht_map - cds_lfht from page number to value.
 * @ht:		the table, pre-sized (its best case: no resize while mapping).
 * @node_bytes:	bytes of the nodes this code allocated (the buckets are the
 *		library's and not counted here).
 */
struct lfht_map {
	struct cds_lfht *ht;
	uint64_t node_bytes;
};

/* Size the table for @expected keys. Needs no RCU registration. */
int lfht_map_init(struct lfht_map *m, uint64_t expected);
/* Remove what is left, destroy the table. Registered thread, outside a read-side section. */
void lfht_map_destroy(struct lfht_map *m);
/* Updates enter their own read-side section, as cds_lfht requires. */
int lfht_map_insert(struct lfht_map *m, uint64_t key, uint64_t val);
int lfht_map_remove(struct lfht_map *m, uint64_t key);
/* Context: inside urcu_memb_read_lock(). */
uint64_t lfht_map_lookup(struct lfht_map *m, uint64_t key);

/*
 * Register the calling thread with liburcu-memb unless it already is. Called
 * after hmmsim_thread_register(), which (hmmsim's RCU being liburcu-memb)
 * usually has done it already; liburcu's registration does not nest, so
 * registering twice would corrupt its reader list. Returns whether this call
 * registered, to pass to lfht_thread_unregister().
 */
int lfht_thread_register(void);
void lfht_thread_unregister(int registered);

#ifdef HAVE_JUDY
/* struct judy_map - a JudyL array from page number to value. */
struct judy_map {
	void *arr;
};

int judy_map_insert(struct judy_map *m, uint64_t key, uint64_t val);
int judy_map_remove(struct judy_map *m, uint64_t key);
uint64_t judy_map_lookup(struct judy_map *m, uint64_t key);
/* JudyLMemUsed(): bytes Judy has malloc'd for the array. */
uint64_t judy_map_mem_used(struct judy_map *m);
void judy_map_destroy(struct judy_map *m);
#endif

#endif /* HMMSIM_BENCH_BASELINES_H */
