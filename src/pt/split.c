// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Splitting a large leaf into a directory of smaller ones, and collapsing a
 * full, uniform directory back into one leaf.
 *
 * Both replace one entry of the parent by another that translates the same
 * addresses, with a single release store under the parent's lock: a reader
 * sees the old form or the new one, never a hole. A contiguous leaf splits
 * in place, by clearing the contiguous bit of its items.
 */
#include "pt/internal.h"

#define MAX_EDGE_SPLITS (2 * PT_MAX_LEVELS)

/* The leaf covering @va: its directory, slot and level. False for a hole. */
static bool find_leaf(struct pt_table *t, uint64_t va, pt_entry_t **dir_out,
		      pt_entry_t **slot_out, unsigned int *level_out)
{
	pt_entry_t *dir = t->top, *slot, e;
	unsigned int l;

	for (l = t->top_level;; l--) {
		slot = &dir[pt_index(t, va, l)];
		e = load_acquire(slot);
		if (!pte_is_table(t, e, l))
			break;
		dir = pte_table(t, e);
	}
	*dir_out = dir;
	*slot_out = slot;
	*level_out = l;
	return !pte_empty(e);
}

int pt_split_leaf(struct pt_table *t, pt_entry_t *dir, unsigned int level, uint64_t va,
		  uint32_t birth)
{
	const struct pt_format *fmt = t->fmt;
	struct pt_dir *d = pt_dir_of(t, dir);
	pt_entry_t *slot = &dir[pt_index(t, va, level)];
	pt_entry_t *child, e, attrs, step, lower_leaf;
	unsigned int i, n;
	int err;

	if (!level)
		return -EINVAL;
	err = pt_dir_alloc(t, level - 1, birth, &child);
	if (err)
		return err;

	pt_dir_lock(d);
	e = *slot;
	if (d->state != PT_DIR_LIVE || pte_empty(e) || pte_is_table(t, e, level)) {
		pt_dir_unlock(d);
		pt_dir_free_now(t, child);
		return -EAGAIN;
	}
	/* The new directory is private until the store below publishes it. */
	attrs = pt_entry_attrs(fmt, e) & ~fmt->leaf;
	lower_leaf = level > 1 ? fmt->leaf : 0;
	step = pt_item_frames(t, level - 1) << fmt->page_shift;
	n = t->geo.entries[level - 1];
	e = (e & t->pfn_field) | attrs | lower_leaf;
	for (i = 0; i < n; i++, e += step)
		child[i] = e;
	pt_dir_of(t, child)->count = n;
	store_release(slot, pte_mk_table(t, child));
	pt_dir_unlock(d);
	return 0;
}

/* Clear the contiguous bit of the run holding @va's item in @dir. */
static void split_contig(struct pt_table *t, pt_entry_t *dir, unsigned int level, uint64_t va)
{
	unsigned int run = 1u << t->fmt->contig_shift[level];
	unsigned int first = pt_index(t, va, level) & ~(run - 1);
	struct pt_dir *d = pt_dir_of(t, dir);
	unsigned int i;

	pt_dir_lock(d);
	for (i = first; i < first + run; i++)
		if (pte_contig(t, dir[i]))
			store_release(&dir[i], dir[i] & ~t->fmt->contig);
	pt_dir_unlock(d);
}

/*
 * Collapse the directory under the level-@level entry covering @va.
 * Context: the caller owns the range; inside a read-side section.
 */
static int collapse(struct pt_table *t, uint64_t va, unsigned int level)
{
	const struct pt_format *fmt = t->fmt;
	pt_entry_t *dir, *slot, *child, e, first, ad = 0, leaf;
	unsigned int i, n = t->geo.entries[level - 1];
	pt_entry_t step = pt_item_frames(t, level - 1) << fmt->page_shift;
	pt_entry_t same = ~(t->pfn_field | t->ad_bits | fmt->contig);
	struct pt_dir *pd, *cd;
	int err = 0;

	slot = pt_slot(t, va, level, &dir);
	if (!slot)
		return -ENOENT;
	e = load_acquire(slot);
	if (!pte_is_table(t, e, level))
		return -ENOENT;
	child = pte_table(t, e);
	pd = pt_dir_of(t, dir);
	cd = pt_dir_of(t, child);

	pt_dir_lock(pd);
	pt_dir_lock(cd);
	if (pd->state != PT_DIR_LIVE || *slot != e || cd->state != PT_DIR_LIVE) {
		err = -ENOENT;
		goto unlock;
	}
	first = child[0];
	if (cd->count != n || !pt_entry_present(fmt, first) ||
	    pte_is_table(t, first, level - 1) ||
	    pt_entry_pfn(fmt, first) & (pt_item_frames(t, level) - 1)) {
		err = -EINVAL;
		goto unlock;
	}
	for (i = 0; i < n; i++) {
		e = child[i];
		if ((e & t->pfn_field) != (first & t->pfn_field) + i * step ||
		    (e & same) != (first & same) || pte_is_table(t, e, level - 1)) {
			err = -EINVAL;
			goto unlock;
		}
		ad |= e & t->ad_bits;
	}
	leaf = (first & ~(t->ad_bits | fmt->contig)) | ad | fmt->leaf;
	WRITE_ONCE(cd->state, PT_DIR_DEAD);
	store_release(slot, leaf);
unlock:
	pt_dir_unlock(cd);
	pt_dir_unlock(pd);
	if (!err)
		pt_dir_free_deferred(t, child);
	return err;
}

/* Set the contiguous bit back on the run holding @va's item (undo). */
static void rejoin_contig(struct pt_table *t, uint64_t va)
{
	unsigned int level, run, first, i;
	pt_entry_t *dir, *slot;
	struct pt_dir *d;

	if (!find_leaf(t, va, &dir, &slot, &level))
		return;
	run = 1u << t->fmt->contig_shift[level];
	first = pt_index(t, va, level) & ~(run - 1);
	d = pt_dir_of(t, dir);
	pt_dir_lock(d);
	for (i = first; i < first + run; i++)
		store_release(&dir[i], dir[i] | t->fmt->contig);
	pt_dir_unlock(d);
}

/*
 * Split what straddles @va or @end so that every leaf of [@va, @end) lies
 * wholly inside it. Either every split is done or, on -ENOMEM, none is.
 */
int pt_split_edges(struct pt_table *t, uint64_t va, uint64_t end, uint32_t birth)
{
	struct {
		uint64_t va;
		unsigned int level;
	} done[MAX_EDGE_SPLITS];
	const uint64_t edges[2] = { va, end };
	unsigned int n = 0, i, level;
	bool rejoin[2] = { false, false };
	pt_entry_t *dir, *slot, e;
	int err;

	for (i = 0; i < 2; i++) {
		if (edges[i] > t->fmt->last || !find_leaf(t, edges[i], &dir, &slot, &level))
			continue;
		e = load_acquire(slot);
		if (pte_contig(t, e) && !is_aligned(edges[i], pt_leaf_shift(t, e, level))) {
			split_contig(t, dir, level, edges[i]);
			rejoin[i] = true;
		}
	}
	for (i = 0; i < 2; i++) {
		if (edges[i] > t->fmt->last)
			continue;
		while (find_leaf(t, edges[i], &dir, &slot, &level) && level &&
		       !is_aligned(edges[i], t->geo.shift[level])) {
			err = pt_split_leaf(t, dir, level, edges[i], birth);
			if (err == -EAGAIN)
				continue;
			if (err)
				goto undo;
			done[n].va = edges[i];
			done[n++].level = level;
		}
	}
	return 0;

undo:
	while (n--)
		collapse(t, done[n].va, done[n].level);
	for (i = 0; i < 2; i++)
		if (rejoin[i])
			rejoin_contig(t, edges[i]);
	return err;
}

HMMSIM_API int pt_split(struct pt_table *t, uint64_t va, unsigned int level)
{
	pt_entry_t *dir, *slot, e;
	int err;

	if (va > t->fmt->last)
		return -ERANGE;
	if (level >= t->geo.levels)
		return -EINVAL;
	hs_rcu_read_lock();
	do {
		slot = pt_slot(t, va, level, &dir);
		e = slot ? load_acquire(slot) : 0;
		if (pte_empty(e) || pte_is_table(t, e, level)) {
			err = -ENOENT;
		} else if (pte_contig(t, e)) {
			split_contig(t, dir, level, va);
			err = 0;
		} else {
			err = pt_split_leaf(t, dir, level, va, pt_new_birth(t));
		}
	} while (err == -EAGAIN);
	hs_rcu_read_unlock();
	return err;
}

HMMSIM_API int pt_collapse(struct pt_table *t, uint64_t va, unsigned int level)
{
	int err;

	if (va > t->fmt->last)
		return -ERANGE;
	if (!level || level >= t->geo.levels || !(t->fmt->leaf_levels & (1u << level)))
		return -EINVAL;
	hs_rcu_read_lock();
	err = collapse(t, va, level);
	hs_rcu_read_unlock();
	return err;
}
