// SPDX-License-Identifier: LGPL-2.1-or-later
/* pt_split() and pt_collapse(): round trips, contiguous runs, and what collapse refuses. */
#include <errno.h>

#include "basic.h"

static bool leaf_level(const struct fx *fx, unsigned int l)
{
	return l < fx->geo->levels && (fx->fmt->leaf_levels & (1u << l));
}

/* Split a leaf of every large level and collapse it back: the same entry again. */
void test_split_collapse_roundtrip(void **state)
{
	struct fx *fx = *state;
	const struct pt_format *fmt = fx->fmt;
	uint64_t psz = UINT64_C(1) << fmt->page_shift;
	pt_entry_t attrs = fmt->valid | fmt->write | fx->sw0;

	for (unsigned int l = 1; leaf_level(fx, l); l++) {
		uint64_t page = UINT64_C(1) << fx->geo->shift[l], va = 2 * page;
		uint64_t frame = 3 * fx_pages(fx, fx->geo->shift[l]);
		struct pt_stats st0, st;
		struct pt_dump d = { 0 };
		pt_entry_t e0, e;
		unsigned int level;

		assert_int_equal(
			pt_map(fx->t, va, page, fx->geo->shift[l], fx_entry(fx, frame, attrs), 0),
			0);
		assert_int_equal(fx_lookup(fx, va, &e0, NULL), 0);
		pt_test_stats_settled(fx->t, &st0);

		assert_int_equal(pt_split(fx->t, va + page / 2 + psz, l), 0);
		assert_pt_check(fx->t);
		assert_dirs_needed(fx);
		assert_maps_range(fx, va, page, frame, attrs);
		/* Leaves of the next smaller level now, one directory more. */
		assert_int_equal(pt_dump_walk(fx->t, va, page, &d), 0);
		for (size_t i = 0; i < d.n; i++)
			assert_int_equal(d.rec[i].level, l - 1);
		pt_dump_fini(&d);
		pt_table_stats(fx->t, &st);
		assert_int_equal(st.dirs[l - 1], st0.dirs[l - 1] + 1);

		assert_int_equal(pt_collapse(fx->t, va + page - psz, l), 0);
		assert_pt_check(fx->t);
		assert_dirs_needed(fx);
		assert_int_equal(fx_lookup(fx, va + psz, &e, &level), 0);
		assert_int_equal(level, l);
		assert_int_equal(e, e0);
		pt_table_stats(fx->t, &st);
		assert_memory_equal(st.dirs, st0.dirs, sizeof(st.dirs));
		/* The collapsed directory is freed after a grace period. */
		pt_test_stats_settled(fx->t, &st);
		assert_int_equal(st.frees, st0.frees + 1);
		assert_int_equal(st.bytes, st0.bytes);

		assert_int_equal(pt_unmap(fx->t, va, page, 0), page);
		hmmsim_barrier();
		pt_table_stats(fx->t, &st);
		assert_int_equal(st.pending, 0);
		assert_int_equal(st.allocs - st.frees, pt_test_dirs(&st));
	}
}

/* A contiguous run splits into its items, each a page of its own. */
void test_split_contig(void **state)
{
	struct fx *fx = *state;
	const struct pt_format *fmt = fx->fmt;
	unsigned int ps = fmt->page_shift, lg2 = ps + fmt->contig_shift[0];
	uint64_t psz = UINT64_C(1) << ps, run = UINT64_C(1) << lg2, va = 6 * run;
	uint64_t items = UINT64_C(1) << fmt->contig_shift[0];
	pt_entry_t attrs = fmt->valid | fmt->dirty, e;
	struct fx_snap snap;
	int ret;

	if (!fmt->contig)
		skip();
	assert_int_equal(pt_map(fx->t, va, 2 * run, lg2, fx_entry(fx, 4 * items, attrs), 0), 0);
	for (uint64_t i = 0; i < 2 * items; i++) {
		assert_int_equal(fx_lookup(fx, va + i * psz, &e, NULL), 0);
		assert_true(e & fmt->contig);
	}
	assert_int_equal(pt_split(fx->t, va + run - psz, 0), 0);
	assert_pt_check(fx->t);
	for (uint64_t i = 0; i < items; i++) {
		assert_maps(fx, va + i * psz, 4 * items + i, attrs, 0);
		assert_int_equal(fx_lookup(fx, va + i * psz, &e, NULL), 0);
		assert_false(e & fmt->contig);
	}
	/* The next run is untouched. */
	assert_int_equal(fx_lookup(fx, va + run, &e, NULL), 0);
	assert_true(e & fmt->contig);
	assert_maps_range(fx, va, 2 * run, 4 * items, attrs);
	/* The items are plain pages now: nothing left to split there. */
	fx_snap_take(fx, &snap);
	ret = pt_split(fx->t, va, 0);
	if (ret != -ENOENT && ret != -EINVAL)
		fail_msg("split of a split run = %d", ret);
	assert_unchanged(fx, &snap);
	fx_snap_fini(&snap);
}

void test_split_bad_input(void **state)
{
	struct fx *fx = *state;
	const struct pt_format *fmt = fx->fmt;
	unsigned int ps = fmt->page_shift, big = fx->geo->shift[1];
	uint64_t psz = UINT64_C(1) << ps, bsz = UINT64_C(1) << big, va = 4 * bsz;
	struct fx_snap snap;
	int ret;

	assert_int_equal(pt_map(fx->t, va, psz, ps, fx_entry(fx, 1, fmt->valid), 0), 0);
	assert_int_equal(pt_map(fx->t, va + bsz, bsz, big, fx_entry(fx, 0, fmt->valid), 0), 0);
	fx_snap_take(fx, &snap);

	/* No leaf of that level: a hole, a table, a leaf of another level. */
	assert_int_equal(pt_split(fx->t, va + 8 * bsz, 1), -ENOENT);
	assert_int_equal(pt_split(fx->t, va, 1), -ENOENT);
	assert_int_equal(pt_split(fx->t, va + bsz + psz, 2), -ENOENT);
	assert_unchanged(fx, &snap);
	/* A plain small page has nothing to split into. */
	ret = pt_split(fx->t, va, 0);
	if (ret != -ENOENT && ret != -EINVAL)
		fail_msg("split of a small page = %d", ret);
	/* Levels that do not exist or hold no leaves. */
	assert_int_equal(pt_split(fx->t, va, fx->geo->levels), -EINVAL);
	assert_int_equal(pt_split(fx->t, va, 99), -EINVAL);
	if (!leaf_level(fx, fx->top)) {
		ret = pt_split(fx->t, va, fx->top);
		if (ret != -ENOENT && ret != -EINVAL)
			fail_msg("split at the top = %d", ret);
	}
	assert_int_equal(pt_split(fx->t, fx->end, 1), -ERANGE);
	assert_unchanged(fx, &snap);
	fx_snap_fini(&snap);
}

/*
 * A directory filled page by page with following frames collapses too, as
 * khugepaged finds one; on tiny, also a directory of contiguous runs and one
 * of level-1 leaves.
 */
void test_collapse_built(void **state)
{
	struct fx *fx = *state;
	const struct pt_format *fmt = fx->fmt;
	unsigned int ps = fmt->page_shift, big = fx->geo->shift[1];
	uint64_t psz = UINT64_C(1) << ps, bsz = UINT64_C(1) << big, va = 8 * bsz;
	uint64_t bp = fx_pages(fx, big), frame = 5 * bp;
	pt_entry_t attrs = fmt->valid | fmt->write;
	struct pt_stats st0, st;

	pt_table_stats(fx->t, &st0);
	for (uint64_t i = 0; i < bp; i++)
		assert_int_equal(
			pt_map(fx->t, va + i * psz, psz, ps, fx_entry(fx, frame + i, attrs), 0), 0);
	assert_int_equal(pt_collapse(fx->t, va, 1), 0);
	assert_pt_check(fx->t);
	assert_dirs_needed(fx);
	assert_maps(fx, va + bsz - 1, frame + bp - 1, attrs, 1);
	pt_table_stats(fx->t, &st);
	assert_int_equal(st.dirs[0], st0.dirs[0]);

	if (fmt->contig) {
		unsigned int lg2 = ps + fmt->contig_shift[0];

		va += bsz;
		for (uint64_t off = 0; off < bsz; off += UINT64_C(1) << lg2)
			assert_int_equal(pt_map(fx->t, va + off, UINT64_C(1) << lg2, lg2,
						fx_entry(fx, frame + (off >> ps), attrs), 0), 0);
		assert_int_equal(pt_collapse(fx->t, va, 1), 0);
		assert_pt_check(fx->t);
		assert_maps(fx, va + bsz - 1, frame + bp - 1, attrs, 1);
	}
	if (leaf_level(fx, 2) && fx->geo->entries[1] <= 64) {
		uint64_t gsz = UINT64_C(1) << fx->geo->shift[2], gva = 4 * gsz;
		uint64_t gframe = 3 * fx_pages(fx, fx->geo->shift[2]);

		for (uint64_t off = 0; off < gsz; off += bsz)
			assert_int_equal(pt_map(fx->t, gva + off, bsz, big,
						fx_entry(fx, gframe + (off >> ps), attrs), 0), 0);
		assert_int_equal(pt_collapse(fx->t, gva + gsz / 2, 2), 0);
		assert_pt_check(fx->t);
		assert_dirs_needed(fx);
		assert_maps(fx, gva + gsz - psz, gframe + (gsz >> ps) - 1, attrs, 2);
	}
}

/* Dirty and accessed may differ between the pages: the leaf gets their OR. */
void test_collapse_ors_ad(void **state)
{
	struct fx *fx = *state;
	const struct pt_format *fmt = fx->fmt;
	unsigned int big = fx->geo->shift[1];
	uint64_t psz = UINT64_C(1) << fmt->page_shift, bsz = UINT64_C(1) << big, va = 2 * bsz;
	pt_entry_t attrs = fmt->valid | fx->sw1;

	assert_int_equal(pt_map(fx->t, va, bsz, fmt->page_shift, fx_entry(fx, 0, attrs), 0), 0);
	assert_int_equal(fx_tas(fx, va, fmt->dirty), 0);
	assert_int_equal(fx_tas(fx, va + bsz - psz, fmt->accessed), 0);
	assert_int_equal(pt_collapse(fx->t, va, 1), 0);
	assert_pt_check(fx->t);
	assert_maps(fx, va + psz, 1, attrs | fmt->dirty | fmt->accessed, 1);
}

/* Change the pages of [@va, @va + @size) to @e: unmap, then map. */
static void remap(struct fx *fx, uint64_t va, uint64_t size, pt_entry_t e)
{
	unsigned int ps = fx->fmt->page_shift;

	assert_int_equal(pt_unmap(fx->t, va, size, 0), size);
	assert_int_equal(pt_map(fx->t, va, size, ps, e, 0), 0);
}

static void expect_refused(struct fx *fx, uint64_t va, unsigned int level, int err,
			   const char *why)
{
	struct fx_snap snap;
	int ret;

	fx_snap_take(fx, &snap);
	ret = pt_collapse(fx->t, va, level);
	if (ret != err)
		fail_msg("collapse with %s = %d, expected %d", why, ret, err);
	assert_unchanged(fx, &snap);
	fx_snap_fini(&snap);
}

void test_collapse_refuses(void **state)
{
	struct fx *fx = *state;
	const struct pt_format *fmt = fx->fmt;
	unsigned int ps = fmt->page_shift, big = fx->geo->shift[1];
	uint64_t psz = UINT64_C(1) << ps, bsz = UINT64_C(1) << big, va = 4 * bsz;
	uint64_t frame = 2 * fx_pages(fx, big);
	pt_entry_t a = fmt->valid | fmt->write, e = fx_entry(fx, frame, a);

	/* A full, uniform directory of small pages that would collapse... */
	assert_int_equal(pt_map(fx->t, va, bsz, ps, e, 0), 0);

	/* ...but for one missing page, */
	assert_int_equal(pt_unmap(fx->t, va + 3 * psz, psz, 0), psz);
	expect_refused(fx, va, 1, -EINVAL, "a hole");
	assert_int_equal(pt_map(fx->t, va + 3 * psz, psz, ps, fx_entry(fx, frame + 3, a), 0), 0);

	/* one page with other permissions, */
	assert_int_equal(pt_protect(fx->t, va + psz, psz, 0, fmt->write), 1);
	expect_refused(fx, va, 1, -EINVAL, "a read-only page");
	assert_int_equal(pt_protect(fx->t, va + psz, psz, fmt->write, 0), 1);
	if (fx->sw0) {
		assert_int_equal(pt_protect(fx->t, va + bsz - psz, psz, fx->sw0, 0), 1);
		expect_refused(fx, va, 1, -EINVAL, "an sw bit on one page");
		assert_int_equal(pt_protect(fx->t, va + bsz - psz, psz, 0, fx->sw0), 1);
	}

	/* one page with a frame out of the run, */
	remap(fx, va + 2 * psz, psz, fx_entry(fx, frame + 100, a));
	expect_refused(fx, va, 1, -EINVAL, "a frame out of order");
	remap(fx, va + 2 * psz, psz, fx_entry(fx, frame + 2, a));

	/* one special entry, */
	remap(fx, va + psz, psz, fx_entry(fx, frame + 1, fx->sw0 | fmt->write));
	expect_refused(fx, va, 1, -EINVAL, "a special entry");
	remap(fx, va + psz, psz, fx_entry(fx, frame + 1, a));

	/* or frames in order from an unaligned start. */
	remap(fx, va, bsz, fx_entry(fx, frame + 1, a));
	expect_refused(fx, va, 1, -EINVAL, "an unaligned first frame");
	remap(fx, va, bsz, e);

	/* One level up, the directory holds a table, not leaves. */
	if (leaf_level(fx, 2))
		expect_refused(fx, va, 2, -EINVAL, "a table in the directory");
	/* Levels without leaves, or none at all. */
	if (!leaf_level(fx, fx->top))
		expect_refused(fx, va, fx->top, -EINVAL, "the top level");
	expect_refused(fx, va, 0, -EINVAL, "level 0");
	expect_refused(fx, va, fx->geo->levels, -EINVAL, "a level past the top");
	expect_refused(fx, va, 99, -EINVAL, "level 99");
	/* No directory under the entry: empty, or a leaf. */
	expect_refused(fx, va + 2 * bsz, 1, -ENOENT, "an empty entry");
	assert_int_equal(pt_map(fx->t, va + bsz, bsz, big, e, 0), 0);
	expect_refused(fx, va + bsz, 1, -ENOENT, "a leaf");
	expect_refused(fx, fx->end, 1, -ERANGE, "va past the end");

	/* After all this, the directory does collapse. */
	assert_int_equal(pt_collapse(fx->t, va, 1), 0);
	assert_pt_check(fx->t);
	assert_maps(fx, va + bsz - 1, frame + fx_pages(fx, big) - 1, a, 1);
}
