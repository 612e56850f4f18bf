// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Range updates: unmap, protect, and the rollback of a failed map.
 *
 * All three are one traversal (update_level()) with a different action on
 * leaves and a different rule for freeing the directories they leave empty.
 * Large leaves straddling the range's edges are split first (split.c), so
 * the traversal only ever meets leaves wholly inside the range.
 */
#include "pt/internal.h"

enum zap_action {
	ZAP_NONE,	/* touch no leaf, only free directories */
	ZAP_CLEAR,	/* clear every leaf */
	ZAP_PROTECT,	/* set and clear attribute bits of present leaves */
};

enum zap_free {
	ZAP_KEEP,	/* free nothing */
	ZAP_FREE_EMPTY,	/* free every directory left empty */
	ZAP_FREE_BIRTH,	/* free the empty directories one operation created */
};

struct zap {
	enum zap_action action;
	enum zap_free free;
	uint32_t birth;
	pt_entry_t set, clear;
	int64_t done;	/* bytes cleared, or entries changed */
};

static void apply(struct pt_table *t, struct zap *z, struct pt_dir *d, pt_entry_t *slot,
		  unsigned int level)
{
	pt_entry_t e = *slot, ne;

	if (pte_empty(e))
		return;
	if (z->action == ZAP_CLEAR) {
		store_release(slot, 0);
		WRITE_ONCE(d->count, d->count - 1);
		z->done += pt_span(t, level);
		return;
	}
	if (!pt_entry_present(t->fmt, e))
		return;
	ne = (e | z->set) & ~z->clear;
	if (ne != e) {
		store_release(slot, ne);
		z->done++;
	}
}

static void maybe_free(struct pt_table *t, struct zap *z, pt_entry_t *dir, unsigned int level,
		       uint64_t va, pt_entry_t *child)
{
	struct pt_dir *cd = pt_dir_of(t, child);

	if (z->free == ZAP_KEEP || READ_ONCE(cd->count))
		return;
	if (z->free == ZAP_FREE_BIRTH && cd->birth != z->birth)
		return;
	pt_dir_try_unlink(t, dir, level, va, child);
}

/*
 * Visit [@va, @end) inside @dir of @level. Runs of leaves are changed under
 * one hold of the directory's lock; the lock is dropped before descending.
 */
static void update_level(struct pt_table *t, struct zap *z, pt_entry_t *dir, unsigned int level,
			 uint64_t va, uint64_t end)
{
	struct pt_dir *d = pt_dir_of(t, dir);
	bool locked = false;
	uint64_t next;
	pt_entry_t e;

	for (; va < end; va = next) {
		pt_entry_t *slot = &dir[pt_index(t, va, level)];

		next = align_down(va, t->geo.shift[level]) + pt_span(t, level);
		if (next > end)
			next = end;
		e = load_acquire(slot);
		if (pte_is_table(t, e, level)) {
			if (locked) {
				pt_dir_unlock(d);
				locked = false;
			}
			update_level(t, z, pte_table(t, e), level - 1, va, next);
			maybe_free(t, z, dir, level, va, pte_table(t, e));
		} else if (!pte_empty(e) && z->action != ZAP_NONE) {
			if (!locked) {
				pt_dir_lock(d);
				locked = true;
			}
			apply(t, z, d, slot, level);
		}
	}
	if (locked)
		pt_dir_unlock(d);
}

HMMSIM_API int64_t pt_unmap(struct pt_table *t, uint64_t va, uint64_t size, unsigned int flags)
{
	struct zap z = { .action = ZAP_CLEAR };
	int err;

	err = pt_check_range(t, va, size);
	if (err)
		return err;
	if (flags & ~PT_UNMAP_FREE)
		return -EINVAL;
	if ((flags & PT_UNMAP_FREE) || t->cfg.reclaim == PT_RECLAIM_EAGER)
		z.free = ZAP_FREE_EMPTY;

	hs_rcu_read_lock();
	err = pt_split_edges(t, va, va + size, pt_new_birth(t));
	if (!err)
		update_level(t, &z, t->top, t->top_level, va, va + size);
	hs_rcu_read_unlock();
	return err ? err : z.done;
}

HMMSIM_API int64_t pt_protect(struct pt_table *t, uint64_t va, uint64_t size, pt_entry_t set,
			      pt_entry_t clear)
{
	const struct pt_format *fmt = t->fmt;
	pt_entry_t allowed = fmt->write | fmt->dirty | fmt->accessed | fmt->sw;
	struct zap z = { .action = ZAP_PROTECT, .free = ZAP_KEEP, .set = set, .clear = clear };
	int err;

	err = pt_check_range(t, va, size);
	if (err)
		return err;
	if (((set | clear) & ~allowed) || (set & clear))
		return -EINVAL;
	if (!(set | clear))
		return 0;

	hs_rcu_read_lock();
	err = pt_split_edges(t, va, va + size, pt_new_birth(t));
	if (!err)
		update_level(t, &z, t->top, t->top_level, va, va + size);
	hs_rcu_read_unlock();
	return err ? err : z.done;
}

void pt_unmap_rollback(struct pt_table *t, uint64_t va, uint64_t reached, uint64_t end,
		       uint32_t birth)
{
	struct zap clear = { .action = ZAP_CLEAR, .free = ZAP_KEEP };
	struct zap reap = { .action = ZAP_NONE, .free = ZAP_FREE_BIRTH, .birth = birth };

	hs_rcu_read_lock();
	if (reached > va)
		update_level(t, &clear, t->top, t->top_level, va, reached);
	update_level(t, &reap, t->top, t->top_level, va, end);
	hs_rcu_read_unlock();
}
