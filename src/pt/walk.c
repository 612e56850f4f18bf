// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Read-side traversals: the callback walk and the iterator.
 *
 * One code path for every leaf size (seed 004): a leaf is whatever is not a
 * table, at whatever level it sits, and a contiguous run is reported once
 * by its first item.
 */
#include "pt/internal.h"

/* The end of the leaf at @level holding @va's item, and its first word in *@e. */
static uint64_t leaf_end(const struct pt_table *t, const pt_entry_t *dir, unsigned int level,
			 uint64_t va, pt_entry_t *e)
{
	unsigned int shift = t->geo.shift[level];

	if (pte_contig(t, *e)) {
		shift += t->fmt->contig_shift[level];
		*e = pte_run_first(t, *e, level, pt_index(t, va, level));
	}
	return align_down(va, shift) + (UINT64_C(1) << shift);
}

static int walk_level(struct pt_table *t, const struct pt_walk_ops *ops, void *arg,
		      const pt_entry_t *dir, unsigned int level, uint64_t va, uint64_t end)
{
	uint64_t next, hole = end;
	pt_entry_t e;
	int ret = 0;

	for (; va < end && !ret; va = next) {
		e = load_acquire(&dir[pt_index(t, va, level)]);
		next = align_down(va, t->geo.shift[level]) + pt_span(t, level);
		if (pte_empty(e)) {
			if (hole == end)
				hole = va;
			next = next < end ? next : end;
			continue;
		}
		if (hole != end) {
			if (ops->hole)
				ret = ops->hole(arg, hole, va - hole, level);
			hole = end;
			if (ret)
				break;
		}
		if (pte_is_table(t, e, level)) {
			next = next < end ? next : end;
			ret = walk_level(t, ops, arg, pte_table(t, e), level - 1, va, next);
			continue;
		}
		next = leaf_end(t, dir, level, va, &e);
		next = next < end ? next : end;
		if (ops->leaf)
			ret = ops->leaf(arg, va, next - va, e, level);
	}
	if (hole != end && !ret && ops->hole)
		ret = ops->hole(arg, hole, end - hole, level);
	return ret;
}

HMMSIM_API int pt_walk(struct pt_table *t, uint64_t va, uint64_t size,
		       const struct pt_walk_ops *ops, void *arg)
{
	int ret = pt_check_range(t, va, size);

	if (ret)
		return ret;
	if (!ops)
		return -EINVAL;
	hs_rcu_read_lock();
	ret = walk_level(t, ops, arg, t->top, t->top_level, va, va + size);
	hs_rcu_read_unlock();
	return ret;
}

HMMSIM_API int pt_iter_start(struct pt_iter *it, struct pt_table *t, uint64_t va, uint64_t size)
{
	int ret = pt_check_range(t, va, size);

	if (ret)
		return ret;
	it->t = t;
	it->next = va;
	it->end = va + size;
	it->level = 0;
	it->scan = t->top_level;
	it->dir[t->top_level] = t->top;
	it->va = it->size = 0;
	it->entry = 0;
	return 0;
}

/*
 * it->scan is the level being scanned and it->dir[] the directory at each
 * level on the way down to it: stepping past the last entry of a directory
 * climbs back to its parent, still held in it->dir[].
 */
HMMSIM_API int pt_iter_next(struct pt_iter *it)
{
	struct pt_table *t = it->t;
	unsigned int level = it->scan;
	uint64_t va, next;
	pt_entry_t e;
	bool found;

	while (it->next < it->end) {
		const pt_entry_t *dir = it->dir[level];

		va = it->next;
		e = load_acquire(&dir[pt_index(t, va, level)]);
		if (pte_is_table(t, e, level)) {
			it->dir[--level] = pte_table(t, e);
			continue;
		}
		found = !pte_empty(e);
		if (found) {
			next = leaf_end(t, dir, level, va, &e);
			it->va = va;
			it->entry = e;
			it->level = level;
		} else {
			next = align_down(va, t->geo.shift[level]) + pt_span(t, level);
		}
		if (next > it->end)
			next = it->end;
		it->next = next;
		while (level < t->top_level && is_aligned(next, t->geo.shift[level + 1]))
			level++;
		if (found) {
			it->size = next - va;
			it->scan = level;
			return 1;
		}
	}
	it->scan = level;
	return 0;
}
