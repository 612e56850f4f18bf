// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Directories: where their memory comes from, how they die.
 *
 * A table carves its directories from 2 MiB chunks aligned to their size.
 * The first slots of a chunk hold the headers of all its slots, so the
 * header of a directory is found by address arithmetic and a directory of
 * 512 entries costs 4096 + 32 bytes: the dense-mapping cost stays near 8
 * bytes per 4K page. Freed slots go back to the table's free list, after an
 * RCU grace period, poisoned so that a reader that should not have seen them
 * reads garbage a test can catch.
 */
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "pt/internal.h"

#ifdef HMMSIM_ASAN
#include <sanitizer/asan_interface.h>
#define POISON_SLOT(p, n)	ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON_SLOT(p, n)	ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON_SLOT(p, n)	((void)(p), (void)(n))
#define UNPOISON_SLOT(p, n)	((void)(p), (void)(n))
#endif

#define PT_CHUNK_SHIFT	21
#define PT_CHUNK_BYTES	(UINT64_C(1) << PT_CHUNK_SHIFT)
/* The value freed entries are filled with: valid, and a wild pointer. */
#define PT_POISON	UINT64_C(0x6b6b6b6b6b6b6b6b)

/* Header slot 0 of every chunk describes the chunk. */
struct pt_chunk {
	struct pt_chunk *next;
	struct pt_table *table;
};

_Static_assert(sizeof(struct pt_chunk) <= sizeof(struct pt_dir), "chunk header fits a slot");

static char *chunk_base(const void *p)
{
	return (char *)((uintptr_t)p & ~(uintptr_t)(PT_CHUNK_BYTES - 1));
}

struct pt_dir *pt_dir_of(const struct pt_table *t, const pt_entry_t *entries)
{
	char *base = chunk_base(entries);

	return (struct pt_dir *)base + ((const char *)entries - base) / t->slot_bytes;
}

static pt_entry_t *dir_entries(const struct pt_table *t, struct pt_dir *d)
{
	char *base = chunk_base(d);

	return (pt_entry_t *)(base + (d - (struct pt_dir *)base) * t->slot_bytes);
}

int pt_slab_init(struct pt_table *t)
{
	size_t slots;

	/* The entries of a table pointer must leave its valid and leaf bits clear. */
	t->slot_bytes = sizeof(pt_entry_t) << t->fmt->dir_shift;
	while (t->slot_bytes < 64 || t->slot_bytes <= t->fmt->valid || t->slot_bytes <= t->fmt->leaf)
		t->slot_bytes <<= 1;
	if (t->slot_bytes > PT_CHUNK_BYTES / 32)
		return -EINVAL;
	slots = PT_CHUNK_BYTES / t->slot_bytes;
	t->chunk_bytes = PT_CHUNK_BYTES;
	t->hdr_slots = (slots * sizeof(struct pt_dir) + t->slot_bytes - 1) / t->slot_bytes;
	t->chunk = NULL;
	t->chunk_next = 0;
	t->chunks = NULL;
	t->free_list = NULL;
	return -pthread_mutex_init(&t->slab_lock, NULL);
}

void pt_slab_fini(struct pt_table *t)
{
	struct pt_chunk *c = t->chunks, *next;

	for (; c; c = next) {
		next = c->next;
		UNPOISON_SLOT(c, PT_CHUNK_BYTES);
		hs_region_free(c, PT_CHUNK_BYTES);
	}
	pthread_mutex_destroy(&t->slab_lock);
}

/* Take a slot from the free list or the current chunk. Under slab_lock. */
static struct pt_dir *slab_take(struct pt_table *t)
{
	struct pt_dir *d = t->free_list;
	struct pt_chunk *c;

	if (d) {
		t->free_list = (struct pt_dir *)d->rcu.next.next;
		return d;
	}
	if (!t->chunk || t->chunk_next == PT_CHUNK_BYTES / t->slot_bytes) {
		c = hs_region_alloc(PT_CHUNK_BYTES, PT_CHUNK_BYTES, t->cfg.numa_node);
		if (!c)
			return NULL;
		c->table = t;
		c->next = t->chunks;
		t->chunks = c;
		t->chunk = (char *)c;
		t->chunk_next = t->hdr_slots;
		t->nchunks++;
	}
	return (struct pt_dir *)t->chunk + t->chunk_next++;
}

int pt_dir_alloc(struct pt_table *t, unsigned int level, uint32_t birth, pt_entry_t **out)
{
	struct pt_dir *d;
	pt_entry_t *entries;

	if ((t->cfg.alloc_hook && t->cfg.alloc_hook(t->cfg.hook_priv, level)) ||
	    hs_alloc_should_fail())
		return -ENOMEM;
	pthread_mutex_lock(&t->slab_lock);
	d = slab_take(t);
	pthread_mutex_unlock(&t->slab_lock);
	if (!d)
		return -ENOMEM;

	entries = dir_entries(t, d);
	UNPOISON_SLOT(entries, t->slot_bytes);
	memset(entries, 0, t->slot_bytes);
	pthread_spin_init(&d->lock, PTHREAD_PROCESS_PRIVATE);
	d->count = 0;
	d->level = level;
	d->birth = birth;
	store_release(&d->state, PT_DIR_LIVE);
	__atomic_fetch_add(&t->dirs[level], 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&t->allocs, 1, __ATOMIC_RELAXED);
	*out = entries;
	return 0;
}

/* Back to the slab: poisoned, then on the free list. */
static void slab_put(struct pt_table *t, struct pt_dir *d)
{
	pt_entry_t *entries = dir_entries(t, d);
	size_t i;

	for (i = 0; i < t->slot_bytes / sizeof(pt_entry_t); i++)
		WRITE_ONCE(entries[i], PT_POISON);
	POISON_SLOT(entries, t->slot_bytes);
	pthread_spin_destroy(&d->lock);
	WRITE_ONCE(d->state, PT_DIR_FREE);
	pthread_mutex_lock(&t->slab_lock);
	d->rcu.next.next = (struct cds_wfcq_node *)t->free_list;
	t->free_list = d;
	pthread_mutex_unlock(&t->slab_lock);
	__atomic_fetch_add(&t->frees, 1, __ATOMIC_RELAXED);
}

/* A directory that was never published: no reader can hold it. */
void pt_dir_free_now(struct pt_table *t, pt_entry_t *entries)
{
	struct pt_dir *d = pt_dir_of(t, entries);

	__atomic_fetch_sub(&t->dirs[d->level], 1, __ATOMIC_RELAXED);
	slab_put(t, d);
}

static void dir_free_rcu(struct rcu_head *head)
{
	struct pt_dir *d = container_of(head, struct pt_dir, rcu);
	struct pt_table *t;

	hs_rcu_callback_enter(head);
	t = ((struct pt_chunk *)chunk_base(d))->table;
	slab_put(t, d);
	__atomic_fetch_sub(&t->pending, 1, __ATOMIC_RELAXED);
	hs_rcu_callback_exit();
	pt_table_put(t);
}

/*
 * Free a directory already unlinked and marked dead: readers that loaded
 * its address before the unlink may still walk it until a grace period.
 */
void pt_dir_free_deferred(struct pt_table *t, pt_entry_t *entries)
{
	struct pt_dir *d = pt_dir_of(t, entries);

	__atomic_fetch_sub(&t->dirs[d->level], 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&t->pending, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&t->refs, 1, __ATOMIC_RELAXED);
	hs_call_rcu(&d->rcu, dir_free_rcu);
}

/*
 * Unlink @child from the entry of @parent covering @va and free it, if the
 * entry still points at it and it is still empty and live. Lock order is
 * parent, then child, everywhere in the engine. Marking the child dead under
 * its lock is what stops a writer that found it before the unlink: a writer
 * checks the state after taking the lock and starts over.
 * Returns whether the child was freed (the parent's count then dropped).
 */
bool pt_dir_try_unlink(struct pt_table *t, pt_entry_t *parent, unsigned int parent_level,
		       uint64_t va, pt_entry_t *child)
{
	struct pt_dir *pd = pt_dir_of(t, parent), *cd = pt_dir_of(t, child);
	pt_entry_t *slot = &parent[pt_index(t, va, parent_level)];
	bool freed = false;

	pt_dir_lock(pd);
	if (pd->state == PT_DIR_LIVE && *slot == pte_mk_table(t, child)) {
		pt_dir_lock(cd);
		if (cd->state == PT_DIR_LIVE && cd->count == 0) {
			WRITE_ONCE(cd->state, PT_DIR_DEAD);
			freed = true;
		}
		pt_dir_unlock(cd);
		if (freed) {
			store_release(slot, 0);
			WRITE_ONCE(pd->count, pd->count - 1);
		}
	}
	pt_dir_unlock(pd);
	if (freed)
		pt_dir_free_deferred(t, child);
	return freed;
}
