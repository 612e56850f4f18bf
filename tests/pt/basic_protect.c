// SPDX-License-Identifier: LGPL-2.1-or-later
/* pt_protect() and the atomic pt_test_and_set_bits() / pt_test_and_clear_bits(). */
#include <errno.h>

#include "basic.h"

void test_protect_bits(void **state)
{
	struct fx *fx = *state;
	const struct pt_format *fmt = fx->fmt;
	unsigned int ps = fmt->page_shift;
	uint64_t psz = UINT64_C(1) << ps, va = 32 * psz;
	pt_entry_t r = fmt->valid;

	/* Pages 0-3 and 5; page 4 is a hole. */
	assert_int_equal(pt_map(fx->t, va, 4 * psz, ps, fx_entry(fx, 0x10, r), 0), 0);
	assert_int_equal(pt_map(fx->t, va + 5 * psz, psz, ps, fx_entry(fx, 0x15, r), 0), 0);

	assert_int_equal(pt_protect(fx->t, va, 6 * psz, fmt->write, 0), 5);
	assert_pt_check(fx->t);
	assert_maps_range(fx, va, 4 * psz, 0x10, r | fmt->write);
	assert_maps(fx, va + 5 * psz, 0x15, r | fmt->write, 0);
	assert_hole(fx, va + 4 * psz);

	assert_int_equal(pt_protect(fx->t, va, 6 * psz, fmt->dirty | fx->sw0, fmt->write), 5);
	assert_pt_check(fx->t);
	assert_maps_range(fx, va, 4 * psz, 0x10, r | fmt->dirty | fx->sw0);
	assert_maps(fx, va + 5 * psz, 0x15, r | fmt->dirty | fx->sw0, 0);

	assert_int_equal(pt_protect(fx->t, va, 2 * psz, fmt->accessed, fmt->dirty), 2);
	assert_pt_check(fx->t);
	assert_maps_range(fx, va, 2 * psz, 0x10, r | fmt->accessed | fx->sw0);
	assert_maps_range(fx, va + 2 * psz, 2 * psz, 0x12, r | fmt->dirty | fx->sw0);
	assert_maps(fx, va + 5 * psz, 0x15, r | fmt->dirty | fx->sw0, 0);

	/* A hole has no leaf to change. */
	assert_int_equal(pt_protect(fx->t, va + 4 * psz, psz, fmt->write, 0), 0);
	assert_int_equal(pt_protect(fx->t, va + 64 * psz, 64 * psz, fmt->write, 0), 0);
	assert_hole(fx, va + 4 * psz);
	assert_pt_check(fx->t);
}

/* One page of a large leaf: the leaf is split, the page alone changes. */
void test_protect_split(void **state)
{
	struct fx *fx = *state;
	const struct pt_format *fmt = fx->fmt;
	uint64_t psz = UINT64_C(1) << fmt->page_shift;
	unsigned int sizes[64], n = fx_page_sizes(fx, sizes);
	pt_entry_t r = fmt->valid | fx->sw1;

	for (unsigned int i = 1; i < n; i++) {
		uint64_t page = UINT64_C(1) << sizes[i], va = 2 * page, mid = va + page / 2;
		uint64_t frame = 7 * fx_pages(fx, sizes[i]), pages = fx_pages(fx, sizes[i]);
		bool contig;
		unsigned int level = fx_size_level(fx, sizes[i], &contig);
		int64_t ret;

		assert_int_equal(pt_map(fx->t, va, page, sizes[i], fx_entry(fx, frame, r), 0), 0);
		assert_int_equal(pt_protect(fx->t, mid, psz, fmt->write, 0), 1);
		assert_pt_check(fx->t);
		assert_dirs_needed(fx);
		assert_maps(fx, mid, frame + pages / 2, r | fmt->write, 0);
		assert_maps_range(fx, va, page / 2, frame, r);
		if (page / 2 > psz)
			assert_maps_range(fx, mid + psz, page / 2 - psz, frame + pages / 2 + 1, r);

		/* The whole leaf: nothing straddles, nothing is split. */
		assert_int_equal(pt_map(fx->t, va + page, page, sizes[i],
					fx_entry(fx, frame + pages, r), 0), 0);
		ret = pt_protect(fx->t, va + page, page, fmt->write, 0);
		/* A contiguous run is one leaf, or its items are counted; nothing else. */
		if (ret != 1 && !(contig && ret == (1 << fmt->contig_shift[level])))
			fail_msg("protect of one whole leaf of 2^%u = %lld", sizes[i],
				 (long long)ret);
		assert_pt_check(fx->t);
		assert_maps(fx, va + 2 * page - 1, frame + 2 * pages - 1, r | fmt->write, level);
		assert_maps(fx, va + page, frame + pages, r | fmt->write, level);
		assert_int_equal(pt_unmap(fx->t, va, 2 * page, 0), 2 * page);
		assert_pt_check(fx->t);
		assert_dirs_needed(fx);
	}
}

void test_protect_bad_input(void **state)
{
	struct fx *fx = *state;
	const struct pt_format *fmt = fx->fmt;
	uint64_t psz = UINT64_C(1) << fmt->page_shift, va = 8 * psz;
	struct {
		const char *why;
		uint64_t va, size;
		pt_entry_t set, clear;
		int err;
	} cases[] = {
		{ "set valid", va, psz, fmt->valid, 0, -EINVAL },
		{ "clear valid", va, psz, 0, fmt->valid, -EINVAL },
		{ "set leaf", va, psz, fmt->leaf, 0, -EINVAL },
		{ "clear leaf", va, psz, 0, fmt->leaf, -EINVAL },
		{ "set a frame bit", va, psz, UINT64_C(1) << fmt->page_shift, 0, -EINVAL },
		{ "set and clear write", va, psz, fmt->write, fmt->write, -EINVAL },
		{ "set dirty|write, clear dirty", va, psz, fmt->dirty | fmt->write, fmt->dirty,
		  -EINVAL },
		{ "set a bit of no field", va, psz, fx_foreign_bit(fx), 0, -EINVAL },
		{ "va not aligned", va + 1, psz, fmt->write, 0, -EINVAL },
		{ "size 0", va, 0, fmt->write, 0, -EINVAL },
		{ "size not a page multiple", va, psz + 1, fmt->write, 0, -EINVAL },
		{ "past the last address", fx->end - psz, 2 * psz, fmt->write, 0, -ERANGE },
		{ "set contig", va, psz, fmt->contig, 0, -EINVAL },
	};
	size_t ncases = sizeof(cases) / sizeof(cases[0]) - !fmt->contig;
	struct fx_snap snap;

	assert_int_equal(pt_map(fx->t, va, psz, fmt->page_shift, fx_entry(fx, 3, fmt->valid), 0),
			 0);
	assert_int_equal(pt_map(fx->t, fx->end - psz, psz, fmt->page_shift,
				fx_entry(fx, 3, fmt->valid), 0), 0);
	fx_snap_take(fx, &snap);
	for (size_t i = 0; i < ncases; i++) {
		int64_t ret;

		if (!cases[i].set && !cases[i].clear)
			continue;	/* the format has no such bit */
		ret = pt_protect(fx->t, cases[i].va, cases[i].size, cases[i].set, cases[i].clear);
		if (ret != cases[i].err)
			fail_msg("%s: pt_protect() = %lld, expected %d", cases[i].why,
				 (long long)ret, cases[i].err);
		assert_unchanged(fx, &snap);
	}
	fx_snap_fini(&snap);
}

void test_test_and_bits(void **state)
{
	struct fx *fx = *state;
	const struct pt_format *fmt = fx->fmt;
	unsigned int ps = fmt->page_shift;
	uint64_t psz = UINT64_C(1) << ps, va = 12 * psz;
	pt_entry_t d = fmt->dirty, a = fmt->accessed, r = fmt->valid | fmt->write;
	struct fx_snap snap;

	assert_int_equal(pt_map(fx->t, va, psz, ps, fx_entry(fx, 9, r), 0), 0);
	assert_int_equal(fx_tas(fx, va, d), 0);
	assert_maps(fx, va, 9, r | d, 0);
	assert_int_equal(fx_tas(fx, va + psz - 1, d), 1);
	assert_int_equal(fx_tas(fx, va, d | a), 0);	/* not all of them were set */
	assert_maps(fx, va, 9, r | d | a, 0);
	assert_int_equal(fx_tas(fx, va, d | a), 1);
	assert_int_equal(fx_tac(fx, va, d), 1);
	assert_int_equal(fx_tac(fx, va, d), 0);
	assert_maps(fx, va, 9, r | a, 0);
	assert_int_equal(fx_tac(fx, va, d | a), 0);	/* dirty was clear: not all set */
	assert_maps(fx, va, 9, r, 0);
	if (fx->sw0) {
		assert_int_equal(fx_tas(fx, va, fx->sw0), 0);
		assert_int_equal(fx_tas(fx, va, fx->sw0), 1);
		assert_maps(fx, va, 9, r | fx->sw0, 0);
		assert_int_equal(fx_tac(fx, va, fx->sw0), 1);
	}
	assert_pt_check(fx->t);

	/*
	 * A contiguous run is one page: a bit set or cleared through any item
	 * is set or cleared for the whole run, seen through any item, and the
	 * run stays a run (pt_check() checks its items agree).
	 */
	if (fmt->contig) {
		uint64_t run = UINT64_C(1) << (ps + fmt->contig_shift[0]), cva = 4 * run;
		pt_entry_t bits[] = { d, a, fx->sw0, d | a | fx->sw0 };

		assert_int_equal(pt_map(fx->t, cva, run, ps + fmt->contig_shift[0],
					fx_entry(fx, 0x20, r), 0), 0);
		for (size_t i = 0; i < sizeof(bits) / sizeof(bits[0]); i++) {
			pt_entry_t b = bits[i];

			assert_int_equal(fx_tas(fx, cva + psz, b), 0);
			assert_pt_check(fx->t);
			assert_maps(fx, cva, 0x20, r | b, 0);
			assert_maps(fx, cva + psz, 0x21, r | b, 0);
			assert_int_equal(fx_tas(fx, cva, b), 1);
			assert_int_equal(fx_tac(fx, cva, b), 1);
			assert_pt_check(fx->t);
			assert_int_equal(fx_tac(fx, cva + psz, b), 0);
			assert_maps(fx, cva + psz, 0x21, r, 0);
		}
		/* Split, the items keep what the run had. */
		assert_int_equal(fx_tas(fx, cva + psz, d), 0);
		assert_int_equal(pt_split(fx->t, cva, 0), 0);
		assert_maps(fx, cva, 0x20, r | d, 0);
		assert_maps(fx, cva + psz, 0x21, r | d, 0);
		assert_pt_check(fx->t);
	}

	fx_snap_take(fx, &snap);
	assert_int_equal(fx_tas(fx, va, fmt->write), -EINVAL);
	assert_int_equal(fx_tac(fx, va, fmt->write), -EINVAL);
	assert_int_equal(fx_tas(fx, va, fmt->valid), -EINVAL);
	assert_int_equal(fx_tac(fx, va, fmt->valid), -EINVAL);
	assert_int_equal(fx_tas(fx, va, fmt->leaf), -EINVAL);
	assert_int_equal(fx_tas(fx, va, UINT64_C(1) << ps), -EINVAL);
	assert_int_equal(fx_tas(fx, va + psz, d), -ENOENT);
	assert_int_equal(fx_tac(fx, va + psz, d), -ENOENT);
	assert_int_equal(fx_tas(fx, fx->end, d), -ERANGE);
	assert_int_equal(fx_tac(fx, UINT64_MAX, d), -ERANGE);
	assert_unchanged(fx, &snap);
	fx_snap_fini(&snap);
}

/* A large leaf is one entry: a bit set through any of its pages is set for all. */
void test_test_and_bits_large(void **state)
{
	struct fx *fx = *state;
	const struct pt_format *fmt = fx->fmt;
	uint64_t psz = UINT64_C(1) << fmt->page_shift;
	pt_entry_t r = fmt->valid;

	for (unsigned int l = 1; l < fx->geo->levels; l++) {
		uint64_t page = UINT64_C(1) << fx->geo->shift[l], va = 2 * page;
		uint64_t frame = fx_pages(fx, fx->geo->shift[l]);

		if (!(fmt->leaf_levels & (1u << l)))
			continue;
		assert_int_equal(pt_map(fx->t, va, page, fx->geo->shift[l], fx_entry(fx, frame, r),
					0), 0);
		assert_int_equal(fx_tas(fx, va + page - psz, fmt->accessed), 0);
		assert_maps(fx, va, frame, r | fmt->accessed, l);
		assert_int_equal(fx_tas(fx, va + page / 2, fmt->accessed), 1);
		assert_int_equal(fx_tac(fx, va, fmt->accessed), 1);
		assert_maps(fx, va + page - psz, frame + fx_pages(fx, fx->geo->shift[l]) - 1, r, l);
		assert_int_equal(pt_unmap(fx->t, va, page, 0), page);
		assert_pt_check(fx->t);
	}
}
