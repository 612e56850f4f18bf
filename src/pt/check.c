// SPDX-License-Identifier: LGPL-2.1-or-later
/* The invariant checker and the counters. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "pt/internal.h"

struct check {
	char *msg;
	size_t len;
	uint64_t dirs[PT_MAX_LEVELS];
};

static int fail(struct check *c, const char *fmt, ...)
{
	va_list ap;

	if (c->msg && c->len) {
		va_start(ap, fmt);
		vsnprintf(c->msg, c->len, fmt, ap);
		va_end(ap);
	}
	return -EUCLEAN;
}

/* A contiguous run: whole, aligned, one attribute set, frames in order. */
static int check_run(struct pt_table *t, struct check *c, const pt_entry_t *dir,
		     unsigned int level, unsigned int idx, uint64_t va)
{
	unsigned int run = 1u << t->fmt->contig_shift[level], i;
	pt_entry_t first = dir[idx & ~(run - 1)];
	pt_entry_t same = ~(t->pfn_field | t->ad_bits);
	pt_entry_t step = pt_item_frames(t, level) << t->fmt->page_shift;

	if (!t->fmt->contig_shift[level])
		return fail(c, "contiguous leaf at level %u, which has none (va 0x%" PRIx64 ")",
			    level, va);
	if (pt_entry_pfn(t->fmt, first) & (pt_item_frames(t, level) * run - 1))
		return fail(c, "contiguous run at 0x%" PRIx64 " has a misaligned frame", va);
	for (i = 0; i < run; i++) {
		pt_entry_t e = dir[(idx & ~(run - 1)) + i];

		if ((e & same) != (first & same) ||
		    (e & t->pfn_field) != (first & t->pfn_field) + i * step)
			return fail(c, "contiguous run at 0x%" PRIx64 " is broken at item %u",
				    va, i);
	}
	return 0;
}

static int check_dir(struct pt_table *t, struct check *c, const pt_entry_t *dir,
		     unsigned int level, uint64_t base)
{
	struct pt_dir *d = pt_dir_of(t, dir);
	unsigned int i, count = 0;
	int err;

	if (d->state != PT_DIR_LIVE)
		return fail(c, "reachable directory at level %u (va 0x%" PRIx64 ") is %s", level,
			    base, d->state == PT_DIR_DEAD ? "dead" : "freed");
	if (d->level != level)
		return fail(c, "directory at level %u says level %u", level, d->level);
	c->dirs[level]++;
	for (i = 0; i < t->geo.entries[level]; i++) {
		pt_entry_t e = dir[i];
		uint64_t va = base + ((uint64_t)i << t->geo.shift[level]);

		if (pte_empty(e))
			continue;
		count++;
		if (pte_is_table(t, e, level)) {
			err = check_dir(t, c, pte_table(t, e), level - 1, va);
			if (err)
				return err;
			continue;
		}
		if (!(t->fmt->leaf_levels & (1u << level)))
			return fail(c, "leaf at level %u, which holds none (va 0x%" PRIx64 ")",
				    level, va);
		if (level && !(e & t->fmt->leaf))
			return fail(c, "leaf at level %u without the leaf bit (va 0x%" PRIx64 ")",
				    level, va);
		if (!level && (e & t->fmt->leaf))
			return fail(c, "level-0 entry with the leaf bit (va 0x%" PRIx64 ")", va);
		if (pt_entry_present(t->fmt, e) && (e & ~(t->known_bits | t->pfn_field)))
			return fail(c, "leaf with unknown bits 0x%" PRIx64 " (va 0x%" PRIx64 ")", e,
				    va);
		if (pte_contig(t, e)) {
			err = check_run(t, c, dir, level, i, va);
			if (err)
				return err;
		}
	}
	if (count != d->count)
		return fail(c, "directory at level %u (va 0x%" PRIx64 ") counts %u, holds %u",
			    level, base, d->count, count);
	return 0;
}

HMMSIM_API int pt_check(struct pt_table *t, char *msg, size_t len)
{
	struct check c = { .msg = msg, .len = len };
	unsigned int l;
	int err;

	if (msg && len)
		msg[0] = 0;
	hs_rcu_read_lock();
	err = check_dir(t, &c, t->top, t->top_level, 0);
	hs_rcu_read_unlock();
	if (err)
		return err;
	for (l = 0; l < t->geo.levels; l++)
		if (c.dirs[l] != READ_ONCE(t->dirs[l]))
			return fail(&c, "level %u: %" PRIu64 " directories reachable, %" PRIu64
				    " counted", l, c.dirs[l], READ_ONCE(t->dirs[l]));
	return 0;
}

HMMSIM_API void pt_table_stats(struct pt_table *t, struct pt_stats *st)
{
	uint64_t in_use = 0;
	unsigned int l;

	for (l = 0; l < PT_MAX_LEVELS; l++) {
		st->dirs[l] = READ_ONCE(t->dirs[l]);
		in_use += st->dirs[l];
	}
	st->allocs = READ_ONCE(t->allocs);
	st->frees = READ_ONCE(t->frees);
	st->pending = READ_ONCE(t->pending);
	st->bytes = (in_use + st->pending) * (t->slot_bytes + sizeof(struct pt_dir));
	pthread_mutex_lock(&t->slab_lock);
	st->reserved = t->nchunks << 21;
	pthread_mutex_unlock(&t->slab_lock);
}
