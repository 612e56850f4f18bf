// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * pt_unmap(): a partial unmap splits a large leaf and keeps the rest, the
 * neighbours are untouched, and the return value counts what was mapped.
 */
#include <errno.h>

#include "basic.h"

/* Unmap one page at the start, middle and end of a leaf of every large size. */
void test_unmap_partial(void **state)
{
	struct fx *fx = *state;
	const struct pt_format *fmt = fx->fmt;
	uint64_t psz = UINT64_C(1) << fmt->page_shift;
	unsigned int sizes[64], n = fx_page_sizes(fx, sizes);
	pt_entry_t attrs = fmt->valid | fmt->write | fmt->accessed | fx->sw1;

	for (unsigned int i = 1; i < n; i++) {
		uint64_t page = UINT64_C(1) << sizes[i], va = 2 * page;
		uint64_t frame = 3 * fx_pages(fx, sizes[i]);
		uint64_t offs[] = { 0, page / 2, page - psz };
		struct pt_stats st0, st;

		pt_table_stats(fx->t, &st0);
		for (size_t k = 0; k < sizeof(offs) / sizeof(offs[0]); k++) {
			uint64_t off = offs[k];

			assert_int_equal(pt_map(fx->t, va, page, sizes[i],
						fx_entry(fx, frame, attrs), 0), 0);
			assert_int_equal(pt_unmap(fx->t, va + off, psz, 0), psz);
			assert_pt_check(fx->t);
			assert_dirs_needed(fx);
			assert_hole(fx, va + off);
			if (off)
				assert_maps_range(fx, va, off, frame, attrs);
			if (off + psz < page)
				assert_maps_range(fx, va + off + psz, page - off - psz,
						  frame + (off >> fmt->page_shift) + 1, attrs);
			assert_int_equal(pt_unmap(fx->t, va, page, 0), page - psz);
			assert_pt_check(fx->t);
			assert_hole(fx, va + page - 1);
		}

		/* Keep only the first and last pages (of a leaf of three pages or more). */
		if (page > 2 * psz) {
			uint64_t last = frame + fx_pages(fx, sizes[i]) - 1;

			assert_int_equal(
				pt_map(fx->t, va, page, sizes[i], fx_entry(fx, frame, attrs), 0),
				0);
			assert_int_equal(pt_unmap(fx->t, va + psz, page - 2 * psz, 0),
					 page - 2 * psz);
			assert_pt_check(fx->t);
			assert_maps(fx, va, frame, attrs, ANY_LEVEL);
			assert_maps(fx, va + page - psz, last, attrs, ANY_LEVEL);
			assert_hole(fx, va + psz);
			assert_hole(fx, va + page - 2 * psz);
			assert_int_equal(pt_unmap(fx->t, va, page, 0), 2 * psz);
			assert_pt_check(fx->t);
		}
		pt_table_stats(fx->t, &st);
		if (fx->reclaim == PT_RECLAIM_EAGER)
			assert_memory_equal(st.dirs, st0.dirs, sizeof(st.dirs));
	}
}

/* A range from the middle of one large leaf to the middle of the next. */
void test_unmap_straddle(void **state)
{
	struct fx *fx = *state;
	const struct pt_format *fmt = fx->fmt;
	unsigned int big = fx->geo->shift[1];
	uint64_t bsz = UINT64_C(1) << big, va = 6 * bsz, bp = fx_pages(fx, big);
	pt_entry_t attrs = fmt->valid | fmt->dirty;

	assert_int_equal(pt_map(fx->t, va, 2 * bsz, big, fx_entry(fx, 4 * bp, attrs), 0), 0);
	assert_int_equal(pt_unmap(fx->t, va + bsz / 2, bsz, 0), bsz);
	assert_pt_check(fx->t);
	assert_dirs_needed(fx);
	assert_maps_range(fx, va, bsz / 2, 4 * bp, attrs);
	assert_hole(fx, va + bsz / 2);
	assert_hole(fx, va + bsz + bsz / 2 - 1);
	assert_maps_range(fx, va + bsz + bsz / 2, bsz / 2, 5 * bp + bp / 2, attrs);
}

/* Unmapping the last page of one leaf leaves the next leaf whole (generic_pt's unmap_split). */
void test_unmap_neighbour(void **state)
{
	struct fx *fx = *state;
	const struct pt_format *fmt = fx->fmt;
	unsigned int big = fx->geo->shift[1];
	uint64_t psz = UINT64_C(1) << fmt->page_shift, bsz = UINT64_C(1) << big, va = 2 * bsz;
	struct pt_dump d = { 0 };

	assert_int_equal(pt_map(fx->t, va, 2 * bsz, big, fx_entry(fx, 0, fmt->valid), 0), 0);
	assert_int_equal(pt_unmap(fx->t, va + bsz - psz, psz, 0), psz);
	assert_pt_check(fx->t);
	assert_int_equal(pt_dump_walk(fx->t, va + bsz, bsz, &d), 0);
	assert_int_equal(d.n, 1);
	assert_false(d.rec[0].hole);
	assert_int_equal(d.rec[0].level, 1);
	assert_int_equal(d.rec[0].size, bsz);
	pt_dump_fini(&d);

	/* And the same from the other side: unmap the first page of the second leaf. */
	assert_int_equal(pt_map(fx->t, va + bsz - psz, psz, fmt->page_shift,
				fx_entry(fx, fx_pages(fx, big) - 1, fmt->valid), 0), 0);
	assert_int_equal(pt_unmap(fx->t, va + bsz, psz, 0), psz);
	assert_pt_check(fx->t);
	assert_maps_range(fx, va, bsz, 0, fmt->valid);
	assert_maps(fx, va + bsz - 1, fx_pages(fx, big) - 1, fmt->valid, ANY_LEVEL);
}

/* The return value counts mapped bytes only, of every size, holes excluded. */
void test_unmap_bytes(void **state)
{
	struct fx *fx = *state;
	const struct pt_format *fmt = fx->fmt;
	unsigned int sizes[64], n = fx_page_sizes(fx, sizes);
	uint64_t top = UINT64_C(1) << sizes[n - 1], total = 0;
	pt_entry_t attrs = fmt->valid;

	/* One leaf of each size, each in its own slot of the largest size. */
	for (unsigned int i = 0; i < n; i++) {
		uint64_t page = UINT64_C(1) << sizes[i];

		assert_int_equal(pt_map(fx->t, (2 * i + 1) * top + page, page, sizes[i],
					fx_entry(fx, fx_pages(fx, sizes[i]), attrs), 0), 0);
		total += page;
	}
	assert_pt_check(fx->t);
	/* The first slot alone. */
	assert_int_equal(pt_unmap(fx->t, 0, 2 * top, 0), UINT64_C(1) << sizes[0]);
	total -= UINT64_C(1) << sizes[0];
	assert_int_equal(pt_unmap(fx->t, 0, 2 * top, 0), 0);
	/* The rest: the whole address space at once. */
	assert_int_equal(pt_unmap(fx->t, 0, fx->end, 0), total);
	assert_pt_check(fx->t);
	assert_int_equal(pt_unmap(fx->t, 0, fx->end, PT_UNMAP_FREE), 0);
	assert_pt_check(fx->t);
	assert_dirs_needed(fx);
}

void test_unmap_bad_input(void **state)
{
	struct fx *fx = *state;
	uint64_t psz = UINT64_C(1) << fx->fmt->page_shift;
	struct {
		const char *why;
		uint64_t va, size;
		unsigned int flags;
		int err, err2;
	} cases[] = {
		{ .why = "va not page aligned", .va = psz + 8, .size = psz, .err = -EINVAL },
		{ .why = "size not a page multiple", .va = psz, .size = psz + 8, .err = -EINVAL },
		{ .why = "size 0", .va = psz, .size = 0, .err = -EINVAL },
		{ .why = "unknown flag", .va = psz, .size = psz, .flags = 1u << 5, .err = -EINVAL },
		{ .why = "past the last address", .va = fx->end - psz, .size = 2 * psz,
		  .err = -ERANGE },
		{ .why = "at the end", .va = fx->end, .size = psz, .err = -ERANGE },
		{ .why = "va + size wraps", .va = psz, .size = UINT64_MAX << fx->fmt->page_shift,
		  .err = -EINVAL, .err2 = -ERANGE },
	};
	struct fx_snap snap;

	assert_int_equal(pt_map(fx->t, 0, 4 * psz, fx->fmt->page_shift,
				fx_entry(fx, 1, fx->fmt->valid), 0), 0);
	assert_int_equal(pt_map(fx->t, fx->end - psz, psz, fx->fmt->page_shift,
				fx_entry(fx, 1, fx->fmt->valid), 0), 0);
	fx_snap_take(fx, &snap);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t ret = pt_unmap(fx->t, cases[i].va, cases[i].size, cases[i].flags);

		if (ret != cases[i].err && !(cases[i].err2 && ret == cases[i].err2))
			fail_msg("%s: pt_unmap() = %lld, expected %d", cases[i].why,
				 (long long)ret, cases[i].err);
		assert_unchanged(fx, &snap);
	}
	fx_snap_fini(&snap);
}
