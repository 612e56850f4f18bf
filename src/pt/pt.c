// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The table, lookups, mapping and the atomic entry bit operations.
 *
 * Readers load entries with acquire semantics inside an RCU read-side
 * section and never lock. Every write to an entry is made under the lock of
 * the directory that holds it, after checking the directory is still live;
 * a directory is installed under its parent's lock with a re-check of the
 * entry, so two mappers racing for the same empty entry agree on one
 * directory and the loser frees its own before anyone saw it.
 */
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "pt/internal.h"

/* The valid and leaf bits of the unrolled lookup (x86's P and PSE). */
#define X86_VALID	UINT64_C(0x1)
#define X86_LEAF	UINT64_C(0x80)

HMMSIM_API int pt_table_create(const struct pt_format *fmt, const struct pt_config *cfg,
			       struct pt_table **out)
{
	static const struct pt_config defaults = { .reclaim = PT_RECLAIM_EAGER, .numa_node = -1 };
	struct pt_table *t;
	int err;

	if (!out)
		return -EINVAL;
	if (!cfg)
		cfg = &defaults;
	if ((cfg->reclaim != PT_RECLAIM_EAGER && cfg->reclaim != PT_RECLAIM_KEEP) ||
	    cfg->numa_node < -1)
		return -EINVAL;
	t = hs_calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->fmt = fmt;
	t->cfg = *cfg;
	t->refs = 1;
	err = pt_format_geometry(fmt, &t->geo);
	if (err)
		goto free_table;
	t->top_level = t->geo.levels - 1;
	t->top_shift = t->geo.shift[t->top_level];
	t->top_mask = t->geo.entries[t->top_level] - 1;
	t->dir_shift = fmt->dir_shift;
	t->dir_mask = (UINT64_C(1) << fmt->dir_shift) - 1;
	t->valid = fmt->valid;
	t->table_mask = fmt->valid | fmt->leaf;
	t->last = fmt->last;
	t->contig_bit = fmt->contig;
	if (fmt->page_shift == 12 && fmt->dir_shift == 9 && fmt->valid == X86_VALID &&
	    fmt->leaf == X86_LEAF && (t->geo.levels == 4 || t->geo.levels == 5))
		t->unrolled = t->geo.levels;
	t->pfn_field = ((UINT64_C(1) << fmt->oa_bits) - 1) << fmt->page_shift;
	if (fmt->oa_bits + fmt->page_shift == 64)
		t->pfn_field = ~((UINT64_C(1) << fmt->page_shift) - 1);
	t->known_bits = fmt->valid | fmt->write | fmt->dirty | fmt->accessed | fmt->leaf |
			fmt->contig | fmt->sw;
	t->ad_bits = fmt->accessed | fmt->dirty;
	err = pt_slab_init(t);
	if (err)
		goto free_table;
	err = pt_dir_alloc(t, t->top_level, 0, &t->top);
	if (err)
		goto fini_slab;
	*out = t;
	return 0;

fini_slab:
	pt_slab_fini(t);
free_table:
	free(t);
	return err;
}

/*
 * Destroyed tables whose frees are still in flight. Nothing needs the list
 * but leak checkers: the only other reference to such a table is in
 * liburcu's queue, which they cannot see.
 */
static pthread_mutex_t zombie_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pt_table *zombies;

/* The last reference: directories die with their chunks. */
void pt_table_put(struct pt_table *t)
{
	if (__atomic_sub_fetch(&t->refs, 1, __ATOMIC_ACQ_REL))
		return;
	pthread_mutex_lock(&zombie_lock);
	if (t->zombie_prev)
		t->zombie_prev->zombie_next = t->zombie_next;
	else if (zombies == t)
		zombies = t->zombie_next;
	if (t->zombie_next)
		t->zombie_next->zombie_prev = t->zombie_prev;
	pthread_mutex_unlock(&zombie_lock);
	pt_slab_fini(t);
	free(t);
}

HMMSIM_API void pt_table_destroy(struct pt_table *t)
{
	if (!t)
		return;
	/* Deferred frees still in flight finish the job (pt_table_put). */
	pthread_mutex_lock(&zombie_lock);
	t->zombie_next = zombies;
	if (zombies)
		zombies->zombie_prev = t;
	zombies = t;
	pthread_mutex_unlock(&zombie_lock);
	pt_table_put(t);
}

HMMSIM_API const struct pt_format *pt_table_format(const struct pt_table *t)
{
	return t->fmt;
}

HMMSIM_API const struct pt_geometry *pt_table_geometry(const struct pt_table *t)
{
	return &t->geo;
}

HMMSIM_API unsigned int pt_leaf_shift(const struct pt_table *t, pt_entry_t entry,
				      unsigned int level)
{
	unsigned int shift = t->geo.shift[level];

	if (pte_contig(t, entry))
		shift += t->fmt->contig_shift[level];
	return shift;
}

int pt_check_range(const struct pt_table *t, uint64_t va, uint64_t size)
{
	if (!size || va + size < va || !is_aligned(va | size, t->fmt->page_shift))
		return -EINVAL;
	if (va + size - 1 > t->fmt->last)
		return -ERANGE;
	return 0;
}

/* What a lookup returns once it found the leaf @e at @l in @dir. */
static __attribute__((always_inline)) inline int
lookup_done(struct pt_table *t, const pt_entry_t *dir, uint64_t idx, pt_entry_t e,
	    unsigned int l, pt_entry_t *entry, unsigned int *level)
{
	if (pte_empty(e)) {
		if (level)
			*level = l;
		return -ENOENT;
	}
	if (unlikely(e & t->contig_bit))
		e = pte_run_first(t, e, l, idx);
	if (entry)
		*entry = e;
	if (level)
		*level = l;
	return 0;
}

/* One level down, if @*e is a table entry: the next entry in *@e. */
static __attribute__((always_inline)) inline bool
lookup_step(const pt_entry_t **dir, uint64_t *idx, pt_entry_t *e, uint64_t va, unsigned int shift,
	    uint64_t mask, pt_entry_t valid, pt_entry_t table_mask)
{
	if ((*e & table_mask) != valid)
		return false;
	/* A table entry is the address plus the valid bit: subtracting folds into the load. */
	*dir = (const pt_entry_t *)(uintptr_t)(*e - valid);
	*idx = (va >> shift) & mask;
	*e = load_dep(&(*dir)[*idx]);
	return true;
}

/*
 * The lookup of the 4K-page, 512-entry geometries with x86's valid and leaf
 * bits (x86-64 4- and 5-level, and device formats that choose the same
 * bits), unrolled with immediate shifts and masks as generic_pt's
 * PT_MAKE_LEVELS does: one load per level, one mask test per entry.
 */

static __attribute__((always_inline)) inline int
lookup_512(struct pt_table *t, uint64_t va, pt_entry_t *entry, unsigned int *level,
	   unsigned int levels)
{
	const pt_entry_t valid = X86_VALID, table_mask = X86_VALID | X86_LEAF;
	const pt_entry_t *dir = t->top;
	unsigned int l = levels - 1;
	uint64_t idx;
	pt_entry_t e;

	if (unlikely(va > t->last))
		return -ERANGE;
	idx = (va >> (12 + 9 * l)) & t->top_mask;
	e = load_dep(&dir[idx]);
	if (levels == 5) {
		if (!lookup_step(&dir, &idx, &e, va, 39, 511, valid, table_mask))
			goto out;
		l = 3;
	}
	if (!lookup_step(&dir, &idx, &e, va, 30, 511, valid, table_mask))
		goto out;
	l = 2;
	if (!lookup_step(&dir, &idx, &e, va, 21, 511, valid, table_mask))
		goto out;
	l = 1;
	if (!lookup_step(&dir, &idx, &e, va, 12, 511, valid, table_mask))
		goto out;
	l = 0;
out:
	return lookup_done(t, dir, idx, e, l, entry, level);
}

/* Any other geometry: the same walk as a loop. */
static __attribute__((noinline)) int lookup_generic(struct pt_table *t, uint64_t va,
						    pt_entry_t *entry, unsigned int *level)
{
	const pt_entry_t *dir = t->top;
	unsigned int l = t->top_level, shift = t->top_shift;
	uint64_t idx;
	pt_entry_t e;

	if (unlikely(va > t->last))
		return -ERANGE;
	idx = (va >> shift) & t->top_mask;
	e = load_dep(&dir[idx]);
	while (l) {
		shift -= t->dir_shift;
		if (!lookup_step(&dir, &idx, &e, va, shift, t->dir_mask, t->valid, t->table_mask))
			break;
		l--;
	}
	return lookup_done(t, dir, idx, e, l, entry, level);
}

HMMSIM_API pt_entry_t pt_lookup_entry(struct pt_table *t, uint64_t va)
{
	pt_entry_t e = 0;

	switch (t->unrolled) {
	case 4:
		lookup_512(t, va, &e, NULL, 4);
		break;
	case 5:
		lookup_512(t, va, &e, NULL, 5);
		break;
	default:
		lookup_generic(t, va, &e, NULL);
		break;
	}
	return e;
}

HMMSIM_API int pt_lookup(struct pt_table *t, uint64_t va, pt_entry_t *entry, unsigned int *level)
{
	switch (t->unrolled) {
	case 4:
		return lookup_512(t, va, entry, level, 4);
	case 5:
		return lookup_512(t, va, entry, level, 5);
	default:
		return lookup_generic(t, va, entry, level);
	}
}

pt_entry_t *pt_slot(struct pt_table *t, uint64_t va, unsigned int level, pt_entry_t **dir_out)
{
	pt_entry_t *dir = t->top;
	unsigned int l = t->top_level;
	pt_entry_t e;

	for (; l > level; l--) {
		e = load_acquire(&dir[pt_index(t, va, l)]);
		if (!pte_is_table(t, e, l))
			return NULL;
		dir = pte_table(t, e);
	}
	*dir_out = dir;
	return &dir[pt_index(t, va, level)];
}

/*
 * Make sure the entry @slot of @dir (at @level) points at a directory and
 * return it in *@child: the one there, or a new one. -EAGAIN when @dir died
 * under us (start over from the top), -EEXIST when a leaf is in the way.
 */
static int get_or_install_dir(struct pt_table *t, pt_entry_t *dir, unsigned int level,
			      pt_entry_t *slot, uint32_t birth, pt_entry_t **child)
{
	struct pt_dir *d = pt_dir_of(t, dir);
	pt_entry_t *fresh, e;
	int err;

	e = load_acquire(slot);
	if (pte_is_table(t, e, level)) {
		*child = pte_table(t, e);
		return 0;
	}
	if (!pte_empty(e))
		return -EEXIST;

	err = pt_dir_alloc(t, level - 1, birth, &fresh);
	if (err)
		return err;
	pt_dir_lock(d);
	if (d->state != PT_DIR_LIVE) {
		err = -EAGAIN;
	} else if (pte_empty(e = *slot)) {
		store_release(slot, pte_mk_table(t, fresh));
		WRITE_ONCE(d->count, d->count + 1);
		*child = fresh;
		fresh = NULL;
	} else if (pte_is_table(t, e, level)) {
		*child = pte_table(t, e);
	} else {
		err = -EEXIST;
	}
	pt_dir_unlock(d);
	if (fresh)
		pt_dir_free_now(t, fresh);
	return err;
}

struct map_op {
	unsigned int level;		/* level of the leaves */
	unsigned int run;		/* items written per leaf: 1, or a contig run */
	bool commit;			/* write; otherwise only prepare and check */
	pt_entry_t next;		/* the next item to write, leaf bits included */
	pt_entry_t step;		/* added to an item to get the next one */
	uint32_t birth;
};

/*
 * A subtree with no leaf: what PT_RECLAIM_KEEP leaves behind after an unmap.
 * A large leaf may replace it. Context: the caller owns its range.
 */
static bool subtree_empty(struct pt_table *t, const pt_entry_t *dir, unsigned int level)
{
	unsigned int i;
	pt_entry_t e;

	if (!READ_ONCE(pt_dir_of(t, dir)->count))
		return true;
	for (i = 0; i < t->geo.entries[level]; i++) {
		e = load_acquire(&dir[i]);
		if (pte_empty(e))
			continue;
		if (!pte_is_table(t, e, level) || !subtree_empty(t, pte_table(t, e), level - 1))
			return false;
	}
	return true;
}

/*
 * Kill an empty subtree whose parent entry a leaf has just replaced (under
 * the parent's lock: parent before child, as everywhere).
 */
static void kill_subtree(struct pt_table *t, pt_entry_t *dir, unsigned int level)
{
	struct pt_dir *d = pt_dir_of(t, dir);
	unsigned int i;

	for (i = 0; level && i < t->geo.entries[level]; i++)
		if (pte_is_table(t, dir[i], level))
			kill_subtree(t, pte_table(t, dir[i]), level - 1);
	pt_dir_lock(d);
	WRITE_ONCE(d->state, PT_DIR_DEAD);
	pt_dir_unlock(d);
	pt_dir_free_deferred(t, dir);
}

/*
 * Fill (or, when preparing, check) the entries of @dir for [@va, @end) that
 * lie in it. Each must be empty or, for a large leaf, an empty subtree that
 * the leaf replaces. Returns the address reached, or a negative errno in
 * *@err (-EAGAIN: @dir died under us).
 */
static uint64_t fill_dir(struct pt_table *t, struct map_op *op, pt_entry_t *dir, uint64_t va,
			 uint64_t end, int *err)
{
	struct pt_dir *d = pt_dir_of(t, dir);
	unsigned int l = op->level, first = pt_index(t, va, l);
	uint64_t dir_end, n, i, filled = 0;
	pt_entry_t e;

	dir_end = l == t->top_level ? end :
		  align_down(va, t->geo.shift[l + 1]) + pt_span(t, l + 1);
	if (dir_end > end)
		dir_end = end;
	n = (dir_end - va) >> t->geo.shift[l];

	pt_dir_lock(d);
	*err = d->state == PT_DIR_LIVE ? 0 : -EAGAIN;
	for (i = 0; i < n && !*err; i++) {
		e = dir[first + i];
		if (!pte_empty(e) &&
		    !(pte_is_table(t, e, l) && subtree_empty(t, pte_table(t, e), l - 1)))
			*err = -EEXIST;
	}
	if (*err || !op->commit) {
		pt_dir_unlock(d);
		return *err ? va : dir_end;
	}
	for (i = 0; i < n; i++) {
		e = dir[first + i];
		store_release(&dir[first + i], op->next);
		op->next += op->step;
		if (pte_empty(e))
			filled++;
		else
			kill_subtree(t, pte_table(t, e), l - 1);
	}
	WRITE_ONCE(d->count, d->count + filled);
	pt_dir_unlock(d);
	return dir_end;
}
/*
 * Descend to each leaf directory of [@va, @end), installing directories on
 * the way, and fill it. On failure, returns the errno and in *@reached how
 * far the writes got.
 */
static int map_range(struct pt_table *t, struct map_op *op, uint64_t va, uint64_t end,
		     uint64_t *reached)
{
	pt_entry_t *dir, *child;
	unsigned int l;
	int err = 0;

	hs_rcu_read_lock();
	while (va < end) {
		dir = t->top;
		for (l = t->top_level; l > op->level; l--) {
			err = get_or_install_dir(t, dir, l, &dir[pt_index(t, va, l)], op->birth,
						 &child);
			if (err)
				break;
			dir = child;
		}
		if (!err)
			va = fill_dir(t, op, dir, va, end, &err);
		if (err == -EAGAIN)
			continue;
		if (err)
			break;
	}
	hs_rcu_read_unlock();
	*reached = va;
	return err;
}

/* Which level holds leaves of 2^@lg2 bytes, and as runs of how many items. */
static int leaf_level_of(const struct pt_table *t, unsigned int lg2, unsigned int *run)
{
	unsigned int l;

	if (lg2 >= 64 || !(t->geo.page_sizes & (UINT64_C(1) << lg2)))
		return -EINVAL;
	for (l = 0; l < t->geo.levels; l++) {
		if (t->geo.shift[l] == lg2) {
			*run = 1;
			return l;
		}
		if (t->fmt->contig_shift[l] && t->geo.shift[l] + t->fmt->contig_shift[l] == lg2) {
			*run = 1u << t->fmt->contig_shift[l];
			return l;
		}
	}
	return -EINVAL;
}

uint32_t pt_new_birth(struct pt_table *t)
{
	uint32_t b;

	do
		b = __atomic_add_fetch(&t->op_seq, 1, __ATOMIC_RELAXED);
	while (!b);
	return b;
}

HMMSIM_API int pt_map(struct pt_table *t, uint64_t va, uint64_t size, unsigned int page_lg2,
		      pt_entry_t entry, unsigned int flags)
{
	const struct pt_format *fmt = t->fmt;
	struct map_op op;
	uint64_t frames, reached;
	int level, err;

	err = pt_check_range(t, va, size);
	if (err)
		return err;
	level = leaf_level_of(t, page_lg2, &op.run);
	if (level < 0 || flags || !is_aligned(va | size, page_lg2))
		return -EINVAL;
	/* No engine bits, no unknown bits, and something besides the frame. */
	if ((entry & (fmt->leaf | fmt->contig)) || (entry & ~(t->known_bits | t->pfn_field)) ||
	    !(entry & ~t->pfn_field))
		return -EINVAL;
	/* The frame of the last page must fit the field. */
	frames = size >> fmt->page_shift;
	if (frames - 1 > (t->pfn_field >> fmt->page_shift) - pt_entry_pfn(fmt, entry))
		return -EINVAL;
	/*
	 * A contiguous leaf maps one page of 2^page_lg2 bytes: its first frame
	 * is aligned to that size, as pt_check() and the hardware want.
	 */
	if (op.run > 1 &&
	    (pt_entry_pfn(fmt, entry) & ((UINT64_C(1) << (page_lg2 - fmt->page_shift)) - 1)))
		return -EINVAL;

	op.level = level;
	op.step = pt_item_frames(t, level) << fmt->page_shift;
	op.next = entry | (level ? fmt->leaf : 0) | (op.run > 1 ? fmt->contig : 0);
	op.birth = pt_new_birth(t);
	/*
	 * A large leaf may replace empty subtrees, which a failure could not
	 * bring back: make every directory and check every entry first, then
	 * write. Level-0 leaves replace nothing and go in one pass.
	 */
	op.commit = level == 0;
	err = map_range(t, &op, va, va + size, &reached);
	if (!err && !op.commit) {
		op.commit = true;
		err = map_range(t, &op, va, va + size, &reached);
	}
	if (err)
		pt_unmap_rollback(t, va, op.commit ? reached : va, va + size, op.birth);
	return err;
}

/*
 * Set or clear @bits in the leaf that translates @va, under its directory's
 * lock so that a split, collapse or protect never loses the change.
 */
static int change_bits(struct pt_table *t, uint64_t va, pt_entry_t bits, bool set)
{
	pt_entry_t *dir, *slot, e;
	struct pt_dir *d;
	unsigned int l;
	int ret;

	if (va > t->fmt->last)
		return -ERANGE;
	if (!bits || (bits & ~(t->ad_bits | t->fmt->sw)))
		return -EINVAL;
	hs_rcu_read_lock();
	for (;;) {
		dir = t->top;
		for (l = t->top_level;; l--) {
			slot = &dir[pt_index(t, va, l)];
			e = load_acquire(slot);
			if (!pte_is_table(t, e, l))
				break;
			dir = pte_table(t, e);
		}
		if (!pt_entry_present(t->fmt, e)) {
			ret = -ENOENT;
			break;
		}
		d = pt_dir_of(t, dir);
		pt_dir_lock(d);
		if (d->state == PT_DIR_LIVE && *slot == e) {
			/* A contiguous leaf is one page: all its items change together. */
			pt_entry_t *first = slot, *last = slot;

			if (pte_contig(t, e)) {
				unsigned int run = 1u << t->fmt->contig_shift[l];

				first = &dir[pt_index(t, va, l) & ~(run - 1)];
				last = first + run - 1;
			}
			ret = (e & bits) == bits;
			for (slot = first; slot <= last; slot++)
				store_release(slot, set ? *slot | bits : *slot & ~bits);
			pt_dir_unlock(d);
			break;
		}
		pt_dir_unlock(d);
	}
	hs_rcu_read_unlock();
	return ret;
}

HMMSIM_API int pt_test_and_set_bits(struct pt_table *t, uint64_t va, pt_entry_t bits)
{
	return change_bits(t, va, bits, true);
}

HMMSIM_API int pt_test_and_clear_bits(struct pt_table *t, uint64_t va, pt_entry_t bits)
{
	return change_bits(t, va, bits, false);
}
