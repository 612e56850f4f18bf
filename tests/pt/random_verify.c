// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The comparison of table and model after every step of test_pt_random:
 * the checker, a walk of the window compared page by page, lookups, the
 * iterator, and the directory counters against what the leaves need.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "random.h"

void rt_log(struct rt *rt, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rt->log[rt->op % RT_LOG], sizeof(rt->log[0]), fmt, ap);
	va_end(ap);
}

void rt_fail_at(struct rt *rt, const char *file, int line, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	print_error("step %lu: %s\n", rt->op, msg);
	print_error("the last steps, oldest first:\n");
	for (unsigned long i = rt->op >= RT_LOG ? rt->op - RT_LOG + 1 : 0; i <= rt->op; i++)
		print_error("  %6lu %s\n", i, rt->log[i % RT_LOG]);
	_fail(file, line);
}

bool rt_leaf(struct rt *rt, uint64_t va, pt_entry_t *e, unsigned int *level, uint64_t *start,
	     unsigned int *lg2)
{
	int ret;

	hmmsim_read_lock();
	ret = pt_lookup(rt->t, va, e, level);
	hmmsim_read_unlock();
	if (ret == -ENOENT)
		return false;
	if (ret)
		rt_fail(rt, "pt_lookup(%#" PRIx64 ") = %d", va, ret);
	*lg2 = pt_test_leaf_lg2(rt->t, *e, *level);
	*start = va & ~((UINT64_C(1) << *lg2) - 1);
	return true;
}

/*
 * Page @va of the leaf @e (at @level) against the model. A contiguous run
 * is one page: its word (the first item's) speaks for every item.
 */
static void check_page(struct rt *rt, uint64_t va, pt_entry_t e, unsigned int level,
		       const char *how)
{
	const struct pt_format *fmt = rt->fmt;
	struct mpage *m = rt_page(rt, va);
	pt_entry_t got = pt_entry_attrs(fmt, pt_test_strip(fmt, e));
	uint64_t frame = pt_test_frame(rt->t, e, level, va);

	if (m->kind == M_HOLE)
		rt_fail(rt, "%s: %#" PRIx64 " maps %#" PRIx64 " at L%u, model: hole", how, va, e,
			level);
	if ((m->kind == M_PRESENT) != !!pt_entry_present(fmt, e) || frame != m->frame ||
	    got != m->attrs)
		rt_fail(rt, "%s: %#" PRIx64 " maps %#" PRIx64 " at L%u (frame %#" PRIx64
			" attrs %#" PRIx64 "), model: kind %u frame %#" PRIx64 " attrs %#" PRIx64,
			how, va, e, level, frame, got, m->kind, m->frame, m->attrs);
	if (!(fmt->leaf_levels & (1u << level)))
		rt_fail(rt, "%s: %#" PRIx64 " has a leaf at L%u", how, va, level);
	if (level && pt_entry_present(fmt, e) && !(e & fmt->leaf))
		rt_fail(rt, "%s: %#" PRIx64 " leaf at L%u without the leaf bit", how, va, level);
}

/* All the pages of a walked leaf: the fast loop, with check_page() to explain a mismatch. */
static void check_leaf(struct rt *rt, const struct pt_rec *r)
{
	const struct pt_format *fmt = rt->fmt;
	uint8_t kind = pt_entry_present(fmt, r->entry) ? M_PRESENT : M_SPECIAL;
	uint64_t frame = pt_entry_pfn(fmt, r->entry), n = r->size >> rt->ps;
	pt_entry_t attrs = pt_entry_attrs(fmt, pt_test_strip(fmt, r->entry));
	struct mpage *m = rt_page(rt, r->va);

	for (uint64_t k = 0; k < n; k++) {
		if (m[k].kind != kind || m[k].frame != frame + k || m[k].attrs != attrs)
			check_page(rt, r->va + (k << rt->ps), r->entry, r->level, "walk");
	}
	check_page(rt, r->va, r->entry, r->level, "walk");
}

static void verify_walk(struct rt *rt, struct pt_dump *d)
{
	if (pt_dump_walk(rt->t, rt->base, rt->size, d))
		rt_fail(rt, "pt_walk failed");
	assert_dump_tiles(d, rt->base, rt->size);
	for (size_t i = 0; i < d->n; i++) {
		const struct pt_rec *r = &d->rec[i];
		unsigned int lg2;

		if (r->hole) {
			struct mpage *m = rt_page(rt, r->va);

			for (uint64_t k = 0; k < r->size >> rt->ps; k++)
				if (m[k].kind != M_HOLE)
					rt_fail(rt,
						"walk: hole at %#" PRIx64 " (L%u), model: mapped",
						r->va + (k << rt->ps), r->level);
			continue;
		}
		/* The window is aligned to every leaf: nothing is clipped. */
		lg2 = pt_test_leaf_lg2(rt->t, r->entry, r->level);
		if (r->size != UINT64_C(1) << lg2 || (r->va & (r->size - 1)))
			rt_fail(rt, "walk: leaf %#" PRIx64 " +%#" PRIx64 " at L%u is not 2^%u",
				r->va, r->size, r->level, lg2);
		check_leaf(rt, r);
	}
}

/* The leaf a one-page walk reports at @va, or the level of its hole. */
static int walk_one(struct rt *rt, uint64_t va, pt_entry_t *e, unsigned int *level)
{
	struct pt_dump d = { 0 };
	int hole;

	if (pt_dump_walk(rt->t, va, rt->psz, &d) || d.n != 1)
		rt_fail(rt, "walk of the page at %#" PRIx64 " failed", va);
	*e = d.rec[0].entry;
	*level = d.rec[0].level;
	hole = d.rec[0].hole;
	pt_dump_fini(&d);
	return hole;
}

/* pt_lookup(), pt_lookup_entry() (and a one-page walk, if @walk) agree, with the model. */
static void verify_lookup(struct rt *rt, uint64_t va, bool walk)
{
	pt_entry_t e = 0, we, fast;
	unsigned int level = ~0u, wl;
	int ret;

	hmmsim_read_lock();
	ret = pt_lookup(rt->t, va, &e, &level);
	fast = pt_lookup_entry(rt->t, va);
	hmmsim_read_unlock();
	if (ret && ret != -ENOENT)
		rt_fail(rt, "pt_lookup(%#" PRIx64 ") = %d", va, ret);
	if (fast != (ret ? 0 : e))
		rt_fail(rt, "%#" PRIx64 ": pt_lookup_entry() = %#" PRIx64 ", pt_lookup() %d, %#"
			PRIx64, va, fast, ret, e);
	if (!ret)
		check_page(rt, va, e, level, "lookup");
	else if (rt_page(rt, va)->kind != M_HOLE)
		rt_fail(rt, "lookup: %#" PRIx64 " is a hole, model: mapped", va);
	/* A hole's level is the level of the empty entry, for the lookup as for the walk. */
	if (walk && (walk_one(rt, va, &we, &wl) != !!ret || wl != level || (!ret && we != e)))
		rt_fail(rt, "%#" PRIx64 ": lookup %d at L%u (%#" PRIx64 "), walk: L%u %#" PRIx64,
			va, ret, level, e, wl, we);
}

/*
 * The directory counters against what the leaves of the window need (every
 * operation stays in the window; now and then a walk of the whole space
 * checks that nothing lies outside it).
 */
static void verify_dirs(struct rt *rt, const struct pt_dump *window)
{
	uint64_t need[PT_MAX_LEVELS];
	struct pt_stats st;

	if (rt->op % 64 == 0) {
		struct pt_dump all = { 0 }, leaves = { 0 }, mine = { 0 };

		if (pt_dump_walk(rt->t, 0, rt->fmt->last + 1, &all))
			rt_fail(rt, "pt_walk of the whole space failed");
		pt_dump_leaves(&all, &leaves);
		pt_dump_leaves(window, &mine);
		if (!pt_dump_equal(&leaves, &mine))
			rt_fail(rt, "leaves outside the window");
		pt_dump_fini(&all);
		pt_dump_fini(&leaves);
		pt_dump_fini(&mine);
	}
	pt_dump_needed_dirs(rt->t, window, need);
	pt_table_stats(rt->t, &st);
	for (int l = 0; l < PT_MAX_LEVELS; l++) {
		/* Eager holds exactly what the leaves need; keep may hold more. */
		if (st.dirs[l] < need[l] ||
		    (rt->reclaim == PT_RECLAIM_EAGER && st.dirs[l] != need[l]))
			rt_fail(rt, "dirs[%d] = %" PRIu64 ", the leaves need %" PRIu64, l,
				st.dirs[l], need[l]);
	}
}

void rt_verify(struct rt *rt)
{
	struct pt_dump d = { 0 }, leaves = { 0 }, it = { 0 };
	char msg[256] = "";

	if (pt_check(rt->t, msg, sizeof(msg)))
		rt_fail(rt, "pt_check: %s", msg);
	verify_walk(rt, &d);
	if (rt->full_lookup && rt->op % 8 == 0) {
		for (uint64_t va = rt->base; va < rt->base + rt->size; va += rt->psz)
			verify_lookup(rt, va, false);
	} else {
		/* Every record's first and last page; random pages, with a walk of each. */
		for (size_t i = 0; i < d.n; i++) {
			verify_lookup(rt, d.rec[i].va, false);
			verify_lookup(rt, d.rec[i].va + d.rec[i].size - rt->psz, false);
		}
		for (int i = 0; i < 64; i++)
			verify_lookup(rt, rt->base + prng_below(&rt->rng, rt->npages) * rt->psz,
				      true);
	}
	verify_dirs(rt, &d);
	/* The iterator yields the walk's leaves, now and then (it is the same picture). */
	if (rt->op % 16 == 0) {
		pt_dump_leaves(&d, &leaves);
		if (pt_dump_iter(rt->t, rt->base, rt->size, &it))
			rt_fail(rt, "pt_iter_start failed");
		if (!pt_dump_equal(&leaves, &it)) {
			pt_dump_print(&leaves, "walk");
			pt_dump_print(&it, "iter");
			rt_fail(rt, "the iterator and the walk disagree");
		}
	}
	pt_dump_fini(&d);
	pt_dump_fini(&leaves);
	pt_dump_fini(&it);
}
