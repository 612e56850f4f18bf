// SPDX-License-Identifier: LGPL-2.1-or-later
/* pt_map() and pt_lookup(): every page size, the range limits, bad input, -EEXIST, remapping. */
#include <errno.h>

#include "basic.h"

/* Map two pages of each size, read every corner back, walk them, unmap them. */
void test_map_every_size(void **state)
{
	struct fx *fx = *state;
	const struct pt_format *fmt = fx->fmt;
	uint64_t psz = UINT64_C(1) << fmt->page_shift;
	unsigned int sizes[64], n = fx_page_sizes(fx, sizes);
	pt_entry_t attrs = fmt->valid | fmt->write | fx->sw0;

	for (unsigned int i = 0; i < n; i++) {
		unsigned int lg2 = sizes[i];
		uint64_t page = UINT64_C(1) << lg2, va = 3 * page, frame = 5 * fx_pages(fx, lg2);
		uint64_t offs[] = { 0, psz, page / 2, page - psz, page - 1 };
		struct pt_dump d = { 0 };
		struct pt_stats st0, st;
		unsigned int level, leaves = 0;
		bool contig;
		pt_entry_t e;

		level = fx_size_level(fx, lg2, &contig);
		pt_test_stats_settled(fx->t, &st0);
		assert_int_equal(pt_map(fx->t, va, 2 * page, lg2, fx_entry(fx, frame, attrs), 0),
				 0);
		assert_pt_check(fx->t);
		assert_dirs_needed(fx);

		for (uint64_t p = 0; p < 2; p++) {
			uint64_t start = va + p * page, f = frame + p * fx_pages(fx, lg2);

			for (size_t k = 0; k < sizeof(offs) / sizeof(offs[0]); k++)
				if (offs[k] < page)
					assert_maps(fx, start + offs[k],
						    f + (offs[k] >> fmt->page_shift), attrs, level);
			/* The engine sets the contig bit on runs, and only on them. */
			assert_int_equal(fx_lookup(fx, start + page - 1, &e, NULL), 0);
			assert_int_equal(!!(e & fmt->contig), contig);
		}
		assert_hole(fx, va - 1);
		assert_hole(fx, va + 2 * page);

		/* A walk sees each page once, with its size, between two holes. */
		assert_int_equal(pt_dump_walk(fx->t, va - page, 4 * page, &d), 0);
		assert_dump_tiles(&d, va - page, 4 * page);
		for (size_t r = 0; r < d.n; r++) {
			if (d.rec[r].hole)
				continue;
			assert_int_equal(d.rec[r].va, va + leaves * page);
			assert_int_equal(d.rec[r].size, page);
			assert_int_equal(d.rec[r].level, level);
			leaves++;
		}
		assert_int_equal(leaves, 2);
		pt_dump_fini(&d);

		assert_int_equal(pt_unmap(fx->t, va, 2 * page, 0), 2 * page);
		assert_pt_check(fx->t);
		assert_hole(fx, va);
		assert_hole(fx, va + 2 * page - 1);
		pt_test_stats_settled(fx->t, &st);
		if (fx->reclaim == PT_RECLAIM_EAGER) {
			assert_memory_equal(st.dirs, st0.dirs, sizeof(st.dirs));
			assert_int_equal(st.bytes, st0.bytes);
		}
	}
}

/* The very top of the space needs every level (as generic_pt's check_all_levels). */
void test_map_top_of_space(void **state)
{
	struct fx *fx = *state;
	const struct pt_format *fmt = fx->fmt;
	unsigned int sizes[64], n = fx_page_sizes(fx, sizes);
	pt_entry_t attrs = fmt->valid | fmt->dirty;

	for (unsigned int i = 0; i < n; i++) {
		uint64_t page = UINT64_C(1) << sizes[i], va = fx->end - 2 * page;
		uint64_t frame = 9 * fx_pages(fx, sizes[i]);
		bool contig;
		unsigned int level = fx_size_level(fx, sizes[i], &contig);

		assert_int_equal(
			pt_map(fx->t, va, 2 * page, sizes[i], fx_entry(fx, frame, attrs), 0), 0);
		assert_pt_check(fx->t);
		assert_maps(fx, fmt->last, frame + 2 * fx_pages(fx, sizes[i]) - 1, attrs, level);
		assert_maps(fx, va, frame, attrs, level);
		assert_int_equal(fx_lookup(fx, fx->end, NULL, NULL), -ERANGE);
		/* One more page would cross the last address (range before overlap). */
		assert_int_equal(pt_map(fx->t, fx->end - page, 2 * page, sizes[i],
					fx_entry(fx, frame, attrs), 0), -ERANGE);
		assert_int_equal(pt_unmap(fx->t, va, 2 * page, 0), 2 * page);
		assert_pt_check(fx->t);
		assert_dirs_needed(fx);
	}
}

void test_lookup_range(void **state)
{
	struct fx *fx = *state;
	uint64_t psz = UINT64_C(1) << fx->fmt->page_shift;
	pt_entry_t e = 0, want = fx_entry(fx, 42, fx->fmt->valid);
	unsigned int level = 99;

	assert_int_equal(fx_lookup(fx, 0, &e, &level), -ENOENT);
	assert_int_equal(fx_lookup(fx, fx->fmt->last, &e, &level), -ENOENT);
	assert_int_equal(fx_lookup(fx, fx->end, &e, &level), -ERANGE);
	assert_int_equal(fx_lookup(fx, UINT64_MAX, &e, &level), -ERANGE);

	assert_int_equal(pt_map(fx->t, fx->end - psz, psz, fx->fmt->page_shift, want, 0), 0);
	/* Either output may be NULL. */
	assert_int_equal(fx_lookup(fx, fx->fmt->last, NULL, NULL), 0);
	assert_int_equal(fx_lookup(fx, fx->fmt->last, &e, NULL), 0);
	assert_int_equal(pt_test_strip(fx->fmt, e), want);
	assert_int_equal(fx_lookup(fx, fx->fmt->last, NULL, &level), 0);
	assert_int_equal(level, 0);
	assert_int_equal(fx_lookup(fx, fx->end - psz - 1, &e, &level), -ENOENT);
	assert_int_equal(fx_lookup(fx, fx->end, &e, &level), -ERANGE);

	/* The translation-only lookup: the same leaf, or 0 for a hole or past the end. */
	assert_int_equal(fx_lookup(fx, fx->fmt->last, &e, NULL), 0);
	assert_int_equal(fx_lookup_entry(fx, fx->fmt->last), e);
	assert_int_equal(fx_lookup_entry(fx, fx->end - psz - 1), 0);
	assert_int_equal(fx_lookup_entry(fx, fx->end), 0);
	assert_int_equal(fx_lookup_entry(fx, UINT64_MAX), 0);
	assert_pt_check(fx->t);
}

/* A page size the format cannot map, between the page and the largest leaf. */
static unsigned int bad_page_lg2(const struct fx *fx)
{
	for (unsigned int lg2 = fx->fmt->page_shift + 1; lg2 < 40; lg2++)
		if (!(fx->geo->page_sizes & (UINT64_C(1) << lg2)))
			return lg2;
	fail_msg("every size maps");
	return 0;
}

struct bad_map {
	const char *why;
	uint64_t va, size;
	unsigned int lg2;
	pt_entry_t entry;
	unsigned int flags;
	int err, err2;	/* expected error; err2 also acceptable when nonzero */
};

#define BAD(w, v, s, l, e, f, er, ...) \
	{ .why = (w), .va = (v), .size = (s), .lg2 = (l), .entry = (e), .flags = (f), \
	  .err = (er), __VA_ARGS__ }

void test_map_bad_input(void **state)
{
	struct fx *fx = *state;
	const struct pt_format *fmt = fx->fmt;
	unsigned int ps = fmt->page_shift, big = fx->geo->shift[1];
	uint64_t psz = UINT64_C(1) << ps, bsz = UINT64_C(1) << big, va = 8 * psz;
	uint64_t max_frame = (UINT64_C(1) << fmt->oa_bits) - 1;
	pt_entry_t a = fmt->valid | fmt->write, e = fx_entry(fx, 16, a), fb = fx_foreign_bit(fx);
	pt_entry_t above = fx_entry(fx, max_frame + 1, 0);
	pt_entry_t wide = above & pt_test_caller_bits(fmt) ? 0 : above | a;
	unsigned int bad_lg2 = bad_page_lg2(fx);
	const struct bad_map cases[] = {
		BAD("va not page aligned", va + 512, psz, ps, e, 0, -EINVAL),
		BAD("size 0", va, 0, ps, e, 0, -EINVAL),
		BAD("size half a page", va, psz / 2, ps, e, 0, -EINVAL),
		BAD("size a page and a byte", va, psz + 1, ps, e, 0, -EINVAL),
		BAD("va not aligned to the large page", 4 * bsz + psz, bsz, big, e, 0, -EINVAL),
		BAD("size not a multiple of the large page", 4 * bsz, bsz + psz, big, e, 0,
		    -EINVAL),
		BAD("a page size the format cannot map", 0, UINT64_C(1) << bad_lg2, bad_lg2, e, 0,
		    -EINVAL),
		BAD("page size below the page", va, psz, ps - 1, e, 0, -EINVAL),
		BAD("page size 0", va, psz, 0, e, 0, -EINVAL),
		BAD("page size 64", va, psz, 64, e, 0, -EINVAL),
		BAD("page size 200", va, psz, 200, e, 0, -EINVAL),
		BAD("entry with the leaf bit", va, psz, ps, e | fmt->leaf, 0, -EINVAL),
		BAD("large entry with the leaf bit", 4 * bsz, bsz, big, e | fmt->leaf, 0, -EINVAL),
		/* (When every bit has a field, an entry of 0: still refused.) */
		BAD("entry with a bit of no field", va, psz, ps, fb ? e | fb : 0, 0, -EINVAL),
		BAD("entry with a frame only", va, psz, ps, fx_entry(fx, 16, 0), 0, -EINVAL),
		BAD("entry 0", va, psz, ps, 0, 0, -EINVAL),
		BAD("frames past the field", va, 2 * psz, ps, fx_entry(fx, max_frame, a), 0,
		    -EINVAL),
		/* Unless the bit above the field is the user's (x86: sw), then entry 0. */
		BAD("a frame wider than the field", va, psz, ps, wide, 0, -EINVAL),
		BAD("flag 0 (none is defined)", va, psz, ps, e, 1u << 0, -EINVAL),
		BAD("flag 7", va, psz, ps, e, 1u << 7, -EINVAL),
		BAD("flag 31", va, psz, ps, e, 1u << 31, -EINVAL),
		BAD("past the last address", fx->end - psz, 2 * psz, ps, e, 0, -ERANGE),
		BAD("at the end", fx->end, psz, ps, e, 0, -ERANGE),
		BAD("at the top of 64 bits", UINT64_MAX << ps, psz, ps, e, 0, -ERANGE,
		    .err2 = -EINVAL),
		BAD("va + size wraps to 0", 16 * psz, -(16 * psz), ps, e, 0, -EINVAL,
		    .err2 = -ERANGE),
		BAD("va + size wraps past 0", 16 * psz, UINT64_MAX << ps, ps, e, 0, -EINVAL,
		    .err2 = -ERANGE),
		BAD("entry with the contig bit", va, 2 * psz, ps, e | fmt->contig, 0, -EINVAL),
		BAD("contig entry with the contig bit", va, 2 * psz, ps + fmt->contig_shift[0],
		    e | fmt->contig, 0, -EINVAL),
		/* pt-contig-frame: pt_check() would call these runs broken. */
		BAD("contig leaf, first frame not aligned to it", va,
		    psz << fmt->contig_shift[0], ps + fmt->contig_shift[0], fx_entry(fx, 17, a), 0,
		    -EINVAL),
		BAD("two contig leaves, first frame not aligned", va,
		    (2 * psz) << fmt->contig_shift[0], ps + fmt->contig_shift[0],
		    fx_entry(fx, 17, fmt->valid), 0, -EINVAL),
	};
	size_t ncases = sizeof(cases) / sizeof(cases[0]) - (fmt->contig ? 0 : 4);
	struct fx_snap snap;

	/* Something mapped, so that "nothing changed" means something. */
	assert_int_equal(pt_map(fx->t, va + 4 * psz, 4 * psz, ps, fx_entry(fx, 1, fmt->valid), 0),
			 0);
	fx_snap_take(fx, &snap);
	for (size_t i = 0; i < ncases; i++) {
		const struct bad_map *c = &cases[i];
		int ret;

		ret = pt_map(fx->t, c->va, c->size, c->lg2, c->entry, c->flags);
		if (ret != c->err && !(c->err2 && ret == c->err2))
			fail_msg("%s: pt_map() = %d, expected %d", c->why, ret, c->err);
		assert_unchanged(fx, &snap);
	}
	fx_snap_fini(&snap);
}

/* -EEXIST when any leaf maps part of the range, and the free part stays free. */
void test_map_exists(void **state)
{
	struct fx *fx = *state;
	const struct pt_format *fmt = fx->fmt;
	unsigned int ps = fmt->page_shift, big = fx->geo->shift[1];
	uint64_t psz = UINT64_C(1) << ps, bsz = UINT64_C(1) << big, base = 4 * bsz;
	pt_entry_t e = fx_entry(fx, 0x100, fmt->valid | fmt->write);
	struct fx_snap snap;

	assert_int_equal(pt_map(fx->t, base + psz, 2 * psz, ps, fx_entry(fx, 1, fmt->valid), 0), 0);
	assert_int_equal(pt_map(fx->t, base + bsz, bsz, big, fx_entry(fx, 0, fmt->valid), 0), 0);
	fx_snap_take(fx, &snap);

	assert_int_equal(pt_map(fx->t, base, bsz, big, e, 0), -EEXIST);
	assert_unchanged(fx, &snap);
	assert_int_equal(pt_map(fx->t, base + psz, psz, ps, e, 0), -EEXIST);
	assert_unchanged(fx, &snap);
	/* The first page is free and the second is not: the first stays free. */
	assert_int_equal(pt_map(fx->t, base, 2 * psz, ps, e, 0), -EEXIST);
	assert_unchanged(fx, &snap);
	assert_int_equal(pt_map(fx->t, base + 2 * psz, 4 * psz, ps, e, 0), -EEXIST);
	assert_unchanged(fx, &snap);
	/* A page inside a large leaf is mapped, not a hole. */
	assert_int_equal(pt_map(fx->t, base + bsz + bsz / 2, psz, ps, e, 0), -EEXIST);
	assert_unchanged(fx, &snap);
	/* A range running from free pages into the large leaf. */
	assert_int_equal(pt_map(fx->t, base + bsz - 2 * psz, 4 * psz, ps, e, 0), -EEXIST);
	assert_unchanged(fx, &snap);
	if (fmt->contig) {
		assert_int_equal(pt_map(fx->t, base, 2 * psz, ps + fmt->contig_shift[0], e, 0),
				 -EEXIST);
		assert_unchanged(fx, &snap);
	}
	fx_snap_fini(&snap);
}

/*
 * Changing a mapping is unmap then map: new pages inside a split large leaf,
 * a large leaf where small pages were, small pages where a large leaf was,
 * and the next larger leaf over a large one.
 */
void test_map_remap(void **state)
{
	struct fx *fx = *state;
	const struct pt_format *fmt = fx->fmt;
	unsigned int ps = fmt->page_shift, big = fx->geo->shift[1], bigger = fx->geo->shift[2];
	uint64_t psz = UINT64_C(1) << ps, bsz = UINT64_C(1) << big, base = 4 * bsz;
	uint64_t bpages = fx_pages(fx, big);
	pt_entry_t a = fmt->valid, b = fmt->valid | fmt->write | fmt->dirty | fx->sw0;
	struct pt_stats st0, st;

	/* Other pages inside a large leaf: it is split, its rest is untouched. */
	assert_int_equal(pt_map(fx->t, base, bsz, big, fx_entry(fx, 3 * bpages, a), 0), 0);
	assert_int_equal(pt_unmap(fx->t, base + psz, 2 * psz, 0), 2 * psz);
	assert_int_equal(pt_map(fx->t, base + psz, 2 * psz, ps, fx_entry(fx, 0x7, b), 0), 0);
	assert_pt_check(fx->t);
	assert_dirs_needed(fx);
	assert_maps_range(fx, base, psz, 3 * bpages, a);
	assert_maps_range(fx, base + psz, 2 * psz, 0x7, b);
	assert_maps_range(fx, base + 3 * psz, bsz - 3 * psz, 3 * bpages + 3, a);

	/* A large leaf where the small pages were: the directory under it goes. */
	pt_table_stats(fx->t, &st0);
	assert_int_equal(pt_unmap(fx->t, base, bsz, 0), bsz);
	assert_int_equal(pt_map(fx->t, base, bsz, big, fx_entry(fx, 6 * bpages, b), 0), 0);
	assert_pt_check(fx->t);
	assert_dirs_needed(fx);
	assert_maps(fx, base + bsz - 1, 7 * bpages - 1, b, 1);
	pt_table_stats(fx->t, &st);
	assert_int_equal(st.dirs[0], st0.dirs[0] - 1);

	/* Small pages where the large leaf was. */
	assert_int_equal(pt_unmap(fx->t, base, bsz, 0), bsz);
	assert_int_equal(pt_map(fx->t, base, bsz, ps, fx_entry(fx, 0x1000, a), 0), 0);
	assert_pt_check(fx->t);
	assert_maps_range(fx, base, bsz, 0x1000, a);
	assert_maps(fx, base + bsz - psz, 0x1000 + bpages - 1, a, 0);

	/* The next larger leaf where a large one and small ones were. */
	if (fmt->leaf_levels & (1u << 2)) {
		uint64_t gsz = UINT64_C(1) << bigger, gbase = 2 * gsz;

		assert_int_equal(pt_map(fx->t, gbase + bsz, bsz, big, fx_entry(fx, 0, a), 0), 0);
		assert_int_equal(pt_map(fx->t, gbase + 3 * bsz, psz, ps, fx_entry(fx, 0, a), 0), 0);
		assert_int_equal(pt_unmap(fx->t, gbase, gsz, 0), bsz + psz);
		assert_int_equal(pt_map(fx->t, gbase, gsz, bigger,
					fx_entry(fx, 5 * fx_pages(fx, bigger), b), 0), 0);
		assert_pt_check(fx->t);
		assert_dirs_needed(fx);
		assert_maps(fx, gbase + bsz + psz, 5 * fx_pages(fx, bigger) + bpages + 1, b, 2);
	}
}

/*
 * Empty directories under the range (kept by the keep policy) do not make
 * a large map fail; they are replaced and freed (generic_pt's
 * map_table_to_oa).
 */
void test_map_over_empty_tables(void **state)
{
	struct fx *fx = *state;
	const struct pt_format *fmt = fx->fmt;
	unsigned int ps = fmt->page_shift;
	pt_entry_t a = fmt->valid | fmt->write;

	for (unsigned int l = 1; l < fx->top; l++) {
		uint64_t sz = UINT64_C(1) << fx->geo->shift[l], base = 2 * sz;
		struct pt_stats st0, st;

		if (!(fmt->leaf_levels & (1u << l)))
			continue;
		pt_table_stats(fx->t, &st0);
		/* A page in every level-0 directory under the future leaf. */
		for (uint64_t va = base; va < base + sz; va += UINT64_C(1) << fx->geo->shift[1])
			assert_int_equal(pt_map(fx->t, va, UINT64_C(1) << ps, ps,
						fx_entry(fx, 1, a), 0), 0);
		assert_int_equal(pt_unmap(fx->t, base, sz, 0),
				 (int64_t)(sz >> fx->geo->shift[1]) << ps);
		assert_pt_check(fx->t);
		assert_int_equal(pt_map(fx->t, base, sz, fx->geo->shift[l],
					fx_entry(fx, fx_pages(fx, fx->geo->shift[l]), a), 0), 0);
		assert_pt_check(fx->t);
		assert_maps(fx, base + sz / 2, fx_pages(fx, fx->geo->shift[l]) +
			    fx_pages(fx, fx->geo->shift[l]) / 2, a, l);
		pt_table_stats(fx->t, &st);
		for (unsigned int k = 0; k < l; k++)
			assert_int_equal(st.dirs[k], st0.dirs[k]);
		assert_int_equal(pt_unmap(fx->t, base, sz, PT_UNMAP_FREE), sz);
		assert_pt_check(fx->t);
		/* Large levels of x86: one level up is enough. */
		if (fx->geo->entries[1] > 64)
			break;
	}
}
