/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pt internals shared by the engine's files: the table, directory headers,
 * entry classification and the update-side helpers.
 */
#ifndef HMMSIM_PT_INTERNAL_H
#define HMMSIM_PT_INTERNAL_H

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>

#include <hmmsim/pt.h>

#include "base/compiler.h"
#include "base/rcu.h"

/* What a directory header's state says of it. */
enum pt_dir_state {
	PT_DIR_FREE = 0,	/* in the slab, not in any table */
	PT_DIR_LIVE,		/* linked, or about to be */
	PT_DIR_DEAD,		/* unlinked, waiting for its grace period */
};

/*
 * struct pt_dir - the header of one directory. Headers live in an array at
 * the start of the directory's slab chunk, found from the entries' address
 * (pt_dir_of()), so a directory costs its entries plus these 32 bytes.
 * @lock:	guards the entries' contents, @count and @state. Every write to
 *		an entry is made under it; readers load entries without it.
 * @count:	non-empty entries.
 * @level:	the directory's level.
 * @state:	enum pt_dir_state; a writer that locks a directory must check
 *		it is still live before changing it.
 * @birth:	the operation that created it (rollback frees only its own).
 * @rcu:	deferred free; while free, rcu.next links the slab's free list.
 */
struct pt_dir {
	pthread_spinlock_t lock;
	uint32_t count;
	uint8_t level;
	uint8_t state;
	uint16_t pad;
	uint32_t birth;
	struct rcu_head rcu;
};

_Static_assert(sizeof(struct pt_dir) == 32, "a directory header is 32 bytes");

struct pt_chunk;

struct pt_table {
	/* Read by every lookup: kept together, copied out of the format. */
	pt_entry_t *top;
	pt_entry_t valid;		/* fmt->valid */
	pt_entry_t table_mask;		/* fmt->valid | fmt->leaf */
	uint64_t last;			/* fmt->last */
	pt_entry_t contig_bit;		/* fmt->contig */
	unsigned int unrolled;		/* levels of an unrolled lookup, or 0 */
	uint64_t dir_mask;		/* index mask below the top */
	uint64_t top_mask;		/* index mask of the top */
	unsigned int top_level;
	unsigned int top_shift;
	unsigned int dir_shift;

	const struct pt_format *fmt;
	struct pt_geometry geo;
	pt_entry_t known_bits;		/* every attribute bit the format names */
	pt_entry_t pfn_field;		/* the frame number field, in place */
	pt_entry_t ad_bits;		/* accessed | dirty */
	struct pt_config cfg;
	uint32_t op_seq;		/* source of pt_dir.birth tags */

	/* Directory slab (dir.c). */
	pthread_mutex_t slab_lock;
	size_t slot_bytes;		/* bytes of one directory's entries */
	size_t chunk_bytes;		/* a chunk: headers, then slots */
	unsigned int hdr_slots;		/* slots of a chunk taken by headers */
	char *chunk;			/* chunk being carved */
	size_t chunk_next;		/* next unused slot index in it */
	struct pt_chunk *chunks;	/* every chunk, for destroy */
	struct pt_dir *free_list;
	uint64_t nchunks;

	/* Counters (atomic). */
	uint64_t dirs[PT_MAX_LEVELS];
	uint64_t allocs, frees, pending;
	/*
	 * The owner's reference plus one per deferred free in flight: the last
	 * to drop it frees the table, so destroy never waits for a grace period.
	 */
	uint64_t refs;
	struct pt_table *zombie_prev, *zombie_next;	/* destroyed, frees in flight */
};

/*
 * Loading an entry that may lead to a directory: ordered by the address
 * dependency, as rcu_dereference() is on every CPU hmmsim runs on, so a
 * plain load. ThreadSanitizer does not model dependency ordering: there it
 * is an acquire load, which pairs with the release store that published
 * the directory.
 */
#ifdef HMMSIM_TSAN
#define load_dep(p)	__atomic_load_n((p), __ATOMIC_ACQUIRE)
#else
#define load_dep(p)	__atomic_load_n((p), __ATOMIC_RELAXED)
#endif

/* Entry classification, the hot path's only decoding: masks, no calls. */
static inline bool pte_empty(pt_entry_t e)
{
	return e == 0;
}

static inline bool pte_is_table(const struct pt_table *t, pt_entry_t e, unsigned int level)
{
	return level && (e & t->fmt->valid) && !(e & t->fmt->leaf);
}

static inline pt_entry_t *pte_table(const struct pt_table *t, pt_entry_t e)
{
	return (pt_entry_t *)(uintptr_t)(e & ~t->fmt->valid);
}

static inline pt_entry_t pte_mk_table(const struct pt_table *t, pt_entry_t *dir)
{
	return (pt_entry_t)(uintptr_t)dir | t->fmt->valid;
}

static inline unsigned int pt_index(const struct pt_table *t, uint64_t va, unsigned int level)
{
	return (va >> t->geo.shift[level]) & (t->geo.entries[level] - 1);
}

static inline uint64_t pt_span(const struct pt_table *t, unsigned int level)
{
	return UINT64_C(1) << t->geo.shift[level];
}

/* Is this leaf one item of a contiguous run? */
static inline bool pte_contig(const struct pt_table *t, pt_entry_t e)
{
	return t->fmt->contig && (e & t->fmt->contig);
}

/* Frames one item of @level spans. */
static inline uint64_t pt_item_frames(const struct pt_table *t, unsigned int level)
{
	return UINT64_C(1) << (t->geo.shift[level] - t->fmt->page_shift);
}

/*
 * The first word of the contiguous run that item @idx (holding @e) belongs
 * to, derived from @e itself: the items of a run share their attributes and
 * count their frames up, so no second load can see the run half unmapped.
 */
static inline pt_entry_t pte_run_first(const struct pt_table *t, pt_entry_t e, unsigned int level,
				       uint64_t idx)
{
	uint64_t back = idx & ((UINT64_C(1) << t->fmt->contig_shift[level]) - 1);

	return e - ((back * pt_item_frames(t, level)) << t->fmt->page_shift);
}

/* dir.c: directory slab, lifetime and freeing. */
struct pt_dir *pt_dir_of(const struct pt_table *t, const pt_entry_t *entries);
int pt_slab_init(struct pt_table *t);
void pt_table_put(struct pt_table *t);
void pt_slab_fini(struct pt_table *t);
int pt_dir_alloc(struct pt_table *t, unsigned int level, uint32_t birth, pt_entry_t **out);
void pt_dir_free_now(struct pt_table *t, pt_entry_t *entries);
void pt_dir_free_deferred(struct pt_table *t, pt_entry_t *entries);
bool pt_dir_try_unlink(struct pt_table *t, pt_entry_t *parent, unsigned int parent_level,
		       uint64_t va, pt_entry_t *child);

static inline void pt_dir_lock(struct pt_dir *d)
{
	pthread_spin_lock(&d->lock);
}

static inline void pt_dir_unlock(struct pt_dir *d)
{
	pthread_spin_unlock(&d->lock);
}

/* Shared argument checks: 0, -EINVAL or -ERANGE. */
int pt_check_range(const struct pt_table *t, uint64_t va, uint64_t size);

/* Descend to the entry of @level covering @va. NULL if the path is cut. */
pt_entry_t *pt_slot(struct pt_table *t, uint64_t va, unsigned int level, pt_entry_t **dir_out);

/* A fresh nonzero tag for the directories one operation creates. */
uint32_t pt_new_birth(struct pt_table *t);

/*
 * zap.c: undo a failed map of [@va, @end) that wrote [@va, @reached): clear
 * what it wrote and free the directories it created (tagged @birth).
 */
void pt_unmap_rollback(struct pt_table *t, uint64_t va, uint64_t reached, uint64_t end,
		       uint32_t birth);

/* split.c: splitting and collapsing leaves. */
int pt_split_leaf(struct pt_table *t, pt_entry_t *dir, unsigned int level, uint64_t va,
		  uint32_t birth);
int pt_split_edges(struct pt_table *t, uint64_t va, uint64_t end, uint32_t birth);

#endif /* HMMSIM_PT_INTERNAL_H */
