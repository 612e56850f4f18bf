// SPDX-License-Identifier: LGPL-2.1-or-later
/* Baselines of the pt benchmark (see baselines.h). */
#include <errno.h>
#include <stdlib.h>

#include <urcu/urcu-memb.h>
#include <urcu/rculfhash.h>

#ifdef HAVE_JUDY
#include <Judy.h>
#endif

#include "baselines.h"

/* ---- bare radix --------------------------------------------------------- */

#define RADIX_ENTRIES (1u << RADIX_BITS)

struct radix_node {
	uint64_t e[RADIX_ENTRIES];
};

_Static_assert(sizeof(struct radix_node) == 4096, "a radix node is one 4K page");

/* The counting allocator: the bytes asked for are the bytes reported. */
static struct radix_node *radix_node_alloc(struct radix *r)
{
	struct radix_node *n = calloc(1, sizeof(*n));

	if (n) {
		r->nodes++;
		r->bytes += sizeof(*n);
	}
	return n;
}

static inline unsigned int radix_index(uint64_t va, unsigned int level)
{
	return (va >> (RADIX_PAGE_SHIFT + level * RADIX_BITS)) & (RADIX_ENTRIES - 1);
}

int radix_init(struct radix *r)
{
	r->nodes = 0;
	r->bytes = 0;
	r->root = radix_node_alloc(r);
	return r->root ? 0 : -ENOMEM;
}

static void radix_free_node(struct radix_node *n, unsigned int level)
{
	if (level)
		for (unsigned int i = 0; i < RADIX_ENTRIES; i++)
			if (n->e[i])
				radix_free_node((struct radix_node *)(uintptr_t)n->e[i], level - 1);
	free(n);
}

void radix_destroy(struct radix *r)
{
	if (r->root)
		radix_free_node(r->root, RADIX_LEVELS - 1);
	r->root = NULL;
}

int radix_map(struct radix *r, uint64_t va, uint64_t val)
{
	struct radix_node *n = r->root;

	if (va > RADIX_LAST)
		return -ERANGE;
	for (unsigned int level = RADIX_LEVELS - 1; level; level--) {
		uint64_t *slot = &n->e[radix_index(va, level)];

		if (!*slot) {
			struct radix_node *child = radix_node_alloc(r);

			if (!child)
				return -ENOMEM;
			*slot = (uint64_t)(uintptr_t)child;
		}
		n = (struct radix_node *)(uintptr_t)*slot;
	}
	if (n->e[radix_index(va, 0)])
		return -EEXIST;
	n->e[radix_index(va, 0)] = val;
	return 0;
}

int radix_unmap(struct radix *r, uint64_t va)
{
	struct radix_node *n = r->root;
	uint64_t *slot;

	if (va > RADIX_LAST)
		return 0;
	for (unsigned int level = RADIX_LEVELS - 1; level; level--) {
		uint64_t e = n->e[radix_index(va, level)];

		if (!e)
			return 0;
		n = (struct radix_node *)(uintptr_t)e;
	}
	slot = &n->e[radix_index(va, 0)];
	if (!*slot)
		return 0;
	*slot = 0;
	return 1;
}

/* Same checks as pt_lookup(): the range, then a hole test at each level. */
uint64_t radix_lookup(const struct radix *r, uint64_t va)
{
	const struct radix_node *n = r->root;

	if (va > RADIX_LAST)
		return 0;
	for (unsigned int level = RADIX_LEVELS - 1; level; level--) {
		uint64_t e = n->e[radix_index(va, level)];

		if (!e)
			return 0;
		n = (const struct radix_node *)(uintptr_t)e;
	}
	return n->e[radix_index(va, 0)];
}

/* ---- radix under a reader-writer lock ----------------------------------- */

int radix_rw_init(struct radix_rw *rw)
{
	int ret = pthread_rwlock_init(&rw->lock, NULL);

	if (ret)
		return -ret;
	ret = radix_init(&rw->r);
	if (ret)
		pthread_rwlock_destroy(&rw->lock);
	return ret;
}

void radix_rw_destroy(struct radix_rw *rw)
{
	radix_destroy(&rw->r);
	pthread_rwlock_destroy(&rw->lock);
}

int radix_rw_map(struct radix_rw *rw, uint64_t va, uint64_t val)
{
	int ret;

	pthread_rwlock_wrlock(&rw->lock);
	ret = radix_map(&rw->r, va, val);
	pthread_rwlock_unlock(&rw->lock);
	return ret;
}

int radix_rw_unmap(struct radix_rw *rw, uint64_t va)
{
	int ret;

	pthread_rwlock_wrlock(&rw->lock);
	ret = radix_unmap(&rw->r, va);
	pthread_rwlock_unlock(&rw->lock);
	return ret;
}

uint64_t radix_rw_lookup(struct radix_rw *rw, uint64_t va)
{
	return radix_lookup(&rw->r, va);
}

/* ---- liburcu rculfhash -------------------------------------------------- */

/*
 * A node: the table's link, the key for the match callback, the value, and
 * the rcu_head that defers its free past the readers that may still see it.
 */
struct lfht_entry {
	struct cds_lfht_node node;
	uint64_t key;
	uint64_t val;
	struct rcu_head rcu;
};

/* Murmur3's 64-bit finalizer: page numbers are dense, the bucket index must not be. */
static inline unsigned long lfht_hash(uint64_t key)
{
	key ^= key >> 33;
	key *= UINT64_C(0xff51afd7ed558ccd);
	key ^= key >> 33;
	key *= UINT64_C(0xc4ceb9fe1a85ec53);
	key ^= key >> 33;
	return (unsigned long)key;
}

static int lfht_match(struct cds_lfht_node *node, const void *key)
{
	return caa_container_of(node, struct lfht_entry, node)->key == *(const uint64_t *)key;
}

static void lfht_entry_free(struct rcu_head *head)
{
	free(caa_container_of(head, struct lfht_entry, rcu));
}

int lfht_map_init(struct lfht_map *m, uint64_t expected)
{
	unsigned long size = 1;

	while (size < expected)
		size <<= 1;
	m->node_bytes = 0;
	m->ht = cds_lfht_new_flavor(size, 1, 0, CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING,
				    &urcu_memb_flavor, NULL);
	return m->ht ? 0 : -ENOMEM;
}

void lfht_map_destroy(struct lfht_map *m)
{
	struct cds_lfht_iter it;
	struct cds_lfht_node *node;

	if (!m->ht)
		return;
	urcu_memb_read_lock();
	cds_lfht_for_each(m->ht, &it, node) {
		if (!cds_lfht_del(m->ht, node))
			urcu_memb_call_rcu(&caa_container_of(node, struct lfht_entry, node)->rcu,
					   lfht_entry_free);
	}
	urcu_memb_read_unlock();
	cds_lfht_destroy(m->ht, NULL);
	m->ht = NULL;
}

int lfht_map_insert(struct lfht_map *m, uint64_t key, uint64_t val)
{
	struct lfht_entry *e = malloc(sizeof(*e));
	struct cds_lfht_node *got;

	if (!e)
		return -ENOMEM;
	cds_lfht_node_init(&e->node);
	e->key = key;
	e->val = val;
	urcu_memb_read_lock();
	got = cds_lfht_add_unique(m->ht, lfht_hash(key), lfht_match, &key, &e->node);
	urcu_memb_read_unlock();
	if (got != &e->node) {
		free(e);
		return -EEXIST;
	}
	m->node_bytes += sizeof(*e);
	return 0;
}

int lfht_map_remove(struct lfht_map *m, uint64_t key)
{
	struct cds_lfht_iter it;
	struct cds_lfht_node *node;
	int removed = 0;

	urcu_memb_read_lock();
	cds_lfht_lookup(m->ht, lfht_hash(key), lfht_match, &key, &it);
	node = cds_lfht_iter_get_node(&it);
	if (node && !cds_lfht_del(m->ht, node))
		removed = 1;
	urcu_memb_read_unlock();
	if (removed) {
		/* Readers that found the node before the delete may still read it. */
		urcu_memb_call_rcu(&caa_container_of(node, struct lfht_entry, node)->rcu,
				   lfht_entry_free);
		m->node_bytes -= sizeof(struct lfht_entry);
	}
	return removed;
}

uint64_t lfht_map_lookup(struct lfht_map *m, uint64_t key)
{
	struct cds_lfht_iter it;
	struct cds_lfht_node *node;

	cds_lfht_lookup(m->ht, lfht_hash(key), lfht_match, &key, &it);
	node = cds_lfht_iter_get_node(&it);
	return node ? caa_container_of(node, struct lfht_entry, node)->val : 0;
}

int lfht_thread_register(void)
{
	if (URCU_TLS(urcu_memb_reader).registered)
		return 0;
	urcu_memb_register_thread();
	return 1;
}

void lfht_thread_unregister(int registered)
{
	if (registered)
		urcu_memb_unregister_thread();
}

/* ---- JudyL ---------------------------------------------------------------- */

#ifdef HAVE_JUDY
int judy_map_insert(struct judy_map *m, uint64_t key, uint64_t val)
{
	PWord_t pv = (PWord_t)JudyLIns(&m->arr, (Word_t)key, PJE0);

	if (pv == PJERR)
		return -ENOMEM;
	if (*pv)
		return -EEXIST;
	*pv = (Word_t)val;
	return 0;
}

int judy_map_remove(struct judy_map *m, uint64_t key)
{
	return JudyLDel(&m->arr, (Word_t)key, PJE0) == 1;
}

uint64_t judy_map_lookup(struct judy_map *m, uint64_t key)
{
	PWord_t pv = (PWord_t)JudyLGet(m->arr, (Word_t)key, PJE0);

	return pv ? (uint64_t)*pv : 0;
}

uint64_t judy_map_mem_used(struct judy_map *m)
{
	return (uint64_t)JudyLMemUsed(m->arr);
}

void judy_map_destroy(struct judy_map *m)
{
	JudyLFreeArray(&m->arr, PJE0);
	m->arr = NULL;
}
#endif
