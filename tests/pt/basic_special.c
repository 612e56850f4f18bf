// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Special entries (valid bit clear, not empty: the kernel's migration or
 * device-private entries): stored, counted, looked up, walked, unmapped like
 * leaves, and a directory holding only them is never freed under them.
 */
#include <errno.h>

#include "basic.h"

/* The attribute bits of a special entry in these tests: never the valid bit. */
static pt_entry_t special_attrs(const struct fx *fx)
{
	return fx->sw0 | fx->fmt->dirty;
}

void test_special_map_lookup(void **state)
{
	struct fx *fx = *state;
	const struct pt_format *fmt = fx->fmt;
	unsigned int ps = fmt->page_shift;
	uint64_t psz = UINT64_C(1) << ps, va = 20 * psz;
	pt_entry_t sa = special_attrs(fx), e;
	struct pt_dump w = { 0 }, it = { 0 }, leaves = { 0 };
	unsigned int level;

	assert_int_equal(pt_map(fx->t, va, 3 * psz, ps, fx_entry(fx, 0x30, sa), 0), 0);
	assert_pt_check(fx->t);
	assert_dirs_needed(fx);
	for (uint64_t i = 0; i < 3; i++) {
		assert_int_equal(fx_lookup(fx, va + i * psz, &e, &level), 0);
		assert_false(pt_entry_present(fmt, e));
		assert_int_equal(level, 0);
		assert_int_equal(pt_test_strip(fmt, e), fx_entry(fx, 0x30 + i, sa));
	}
	assert_hole(fx, va + 3 * psz);

	/* Walks and iterators report them as leaves. */
	assert_int_equal(pt_dump_walk(fx->t, va - psz, 5 * psz, &w), 0);
	assert_dump_tiles(&w, va - psz, 5 * psz);
	pt_dump_leaves(&w, &leaves);
	assert_int_equal(leaves.n, 3);
	assert_int_equal(pt_dump_iter(fx->t, va - psz, 5 * psz, &it), 0);
	assert_dump_equal(&leaves, &it);
	pt_dump_fini(&w);
	pt_dump_fini(&it);
	pt_dump_fini(&leaves);

	/* They were mapped: unmap counts them. */
	assert_int_equal(pt_unmap(fx->t, va, 4 * psz, 0), 3 * psz);
	assert_pt_check(fx->t);
	assert_dirs_needed(fx);
	assert_hole(fx, va);
}

/* A special entry alone keeps its directory alive, whatever the policy or flag. */
void test_special_keeps_dir(void **state)
{
	struct fx *fx = *state;
	const struct pt_format *fmt = fx->fmt;
	unsigned int ps = fmt->page_shift;
	uint64_t psz = UINT64_C(1) << ps, va = UINT64_C(1) << fx->geo->shift[fx->top];
	struct pt_stats st0, st1, st;

	pt_table_stats(fx->t, &st0);
	assert_int_equal(pt_map(fx->t, va, psz, ps, fx_entry(fx, 5, special_attrs(fx)), 0), 0);
	assert_int_equal(pt_map(fx->t, va + psz, psz, ps, fx_entry(fx, 6, fmt->valid), 0), 0);
	pt_table_stats(fx->t, &st1);
	for (unsigned int l = 0; l < fx->top; l++)
		assert_int_equal(st1.dirs[l], st0.dirs[l] + 1);

	assert_int_equal(pt_unmap(fx->t, va + psz, psz, PT_UNMAP_FREE), psz);
	assert_pt_check(fx->t);
	pt_table_stats(fx->t, &st);
	assert_memory_equal(st.dirs, st1.dirs, sizeof(st.dirs));
	assert_maps(fx, va, 5, special_attrs(fx), 0);

	assert_int_equal(pt_unmap(fx->t, va, psz, PT_UNMAP_FREE), psz);
	assert_pt_check(fx->t);
	pt_table_stats(fx->t, &st);
	assert_memory_equal(st.dirs, st0.dirs, sizeof(st.dirs));
}

/* Large special leaves: frames count up, and they split like any leaf. */
void test_special_large(void **state)
{
	struct fx *fx = *state;
	const struct pt_format *fmt = fx->fmt;
	uint64_t psz = UINT64_C(1) << fmt->page_shift;
	pt_entry_t sa = special_attrs(fx);

	for (unsigned int l = 1; l < fx->geo->levels; l++) {
		unsigned int lg2 = fx->geo->shift[l];
		uint64_t page = UINT64_C(1) << lg2, va = 2 * page, frame = 3 * fx_pages(fx, lg2);

		if (!(fmt->leaf_levels & (1u << l)))
			continue;
		assert_int_equal(pt_map(fx->t, va, 2 * page, lg2, fx_entry(fx, frame, sa), 0), 0);
		assert_pt_check(fx->t);
		assert_maps(fx, va + page + psz, frame + fx_pages(fx, lg2) + 1, sa, l);
		assert_maps_range(fx, va, 2 * page, frame, sa);

		/* A partial unmap keeps the rest, as for present leaves. */
		assert_int_equal(pt_unmap(fx->t, va + psz, psz, 0), psz);
		assert_pt_check(fx->t);
		assert_maps_range(fx, va + 2 * psz, page - 2 * psz, frame + 2, sa);
		assert_maps(fx, va, frame, sa, ANY_LEVEL);

		/* An explicit split of the second leaf (a PMD migration entry split). */
		assert_int_equal(pt_split(fx->t, va + page, l), 0);
		assert_pt_check(fx->t);
		assert_maps(fx, va + page, frame + fx_pages(fx, lg2), sa, l - 1);
		assert_maps_range(fx, va + page, page, frame + fx_pages(fx, lg2), sa);

		assert_int_equal(pt_unmap(fx->t, va, 2 * page, 0), 2 * page - psz);
		assert_pt_check(fx->t);
		assert_dirs_needed(fx);
	}
}

/* Operations on present leaves skip special ones or refuse them. */
void test_special_ops(void **state)
{
	struct fx *fx = *state;
	const struct pt_format *fmt = fx->fmt;
	unsigned int ps = fmt->page_shift;
	uint64_t psz = UINT64_C(1) << ps, va = 40 * psz;
	pt_entry_t sa = special_attrs(fx), r = fmt->valid;
	struct fx_snap snap;

	assert_int_equal(pt_map(fx->t, va, psz, ps, fx_entry(fx, 7, sa), 0), 0);
	assert_int_equal(pt_map(fx->t, va + psz, psz, ps, fx_entry(fx, 8, r), 0), 0);

	/* test-and-set sees no present leaf. */
	fx_snap_take(fx, &snap);
	assert_int_equal(fx_tas(fx, va, fmt->accessed), -ENOENT);
	assert_int_equal(fx_tac(fx, va, fmt->dirty), -ENOENT);
	/* A special entry maps its page: no map over it. */
	assert_int_equal(pt_map(fx->t, va, psz, ps, fx_entry(fx, 1, r), 0), -EEXIST);
	assert_unchanged(fx, &snap);
	fx_snap_fini(&snap);

	/* protect changes the present page only. */
	assert_int_equal(pt_protect(fx->t, va, 2 * psz, fmt->write, 0), 1);
	assert_int_equal(pt_protect(fx->t, va, 2 * psz, fmt->accessed, fmt->dirty), 1);
	assert_pt_check(fx->t);
	assert_maps(fx, va, 7, sa, 0);
	assert_maps(fx, va + psz, 8, r | fmt->write | fmt->accessed, 0);

	/* Unmap and map turns one kind into the other. */
	assert_int_equal(pt_unmap(fx->t, va, 2 * psz, 0), 2 * psz);
	assert_int_equal(pt_map(fx->t, va, 2 * psz, ps, fx_entry(fx, 0x50, r), 0), 0);
	assert_maps_range(fx, va, 2 * psz, 0x50, r);
	assert_int_equal(pt_unmap(fx->t, va + psz, psz, 0), psz);
	assert_int_equal(pt_map(fx->t, va + psz, psz, ps, fx_entry(fx, 0x60, sa), 0), 0);
	assert_pt_check(fx->t);
	assert_maps(fx, va, 0x50, r, 0);
	assert_maps(fx, va + psz, 0x60, sa, 0);
}
