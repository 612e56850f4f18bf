/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The test_pt_basic suite: one table per case (a fixture), run once per
 * format and reclaim policy. Each basic_*.c file holds the cases of one part
 * of the API; basic_main.c lists them.
 */
#ifndef HMMSIM_TESTS_PT_BASIC_H
#define HMMSIM_TESTS_PT_BASIC_H

#include "pt_test.h"

struct fx {
	const struct pt_format *fmt;
	enum pt_reclaim reclaim;
	struct pt_table *t;
	const struct pt_geometry *geo;
	unsigned int top;
	uint64_t end;		/* last + 1 */
	pt_entry_t sw0, sw1;	/* two sw bits of the format, or 0 */
};

int fx_setup(void **state);
int fx_teardown(void **state);

/* A case of @fn on a fresh table of @fmtp with @rec, named "fn/tag". */
#define FX_CASE(fn, fmtp, rec, tag)					\
	{								\
		.name = #fn "/" tag,					\
		.test_func = fn,					\
		.setup_func = fx_setup,					\
		.teardown_func = fx_teardown,				\
		.initial_state = &(struct fx){ .fmt = (fmtp), .reclaim = (rec) }, \
	}

/* Every case on the three built-in formats, eager. */
#define FX_CASES(fn)							\
	FX_CASE(fn, &pt_format_x86_64_4l, PT_RECLAIM_EAGER, "x86-4l"),	\
	FX_CASE(fn, &pt_format_x86_64_5l, PT_RECLAIM_EAGER, "x86-5l"),	\
	FX_CASE(fn, &pt_format_tiny, PT_RECLAIM_EAGER, "tiny")

/* ... and also on x86-4l and tiny with the keep policy. */
#define FX_CASES_BOTH(fn)						\
	FX_CASES(fn),							\
	FX_CASE(fn, &pt_format_x86_64_4l, PT_RECLAIM_KEEP, "x86-4l-keep"), \
	FX_CASE(fn, &pt_format_tiny, PT_RECLAIM_KEEP, "tiny-keep")

#define ANY_LEVEL (~0u)

static inline uint64_t fx_pages(const struct fx *fx, unsigned int lg2)
{
	return UINT64_C(1) << (lg2 - fx->fmt->page_shift);
}

static inline pt_entry_t fx_entry(const struct fx *fx, uint64_t frame, pt_entry_t attrs)
{
	return pt_make_entry(fx->fmt, frame, attrs);
}

/* The level holding leaves of 2^@lg2 bytes, and whether they are contiguous runs. */
unsigned int fx_size_level(const struct fx *fx, unsigned int lg2, bool *contig);

/* A bit of no field of the format (0 when every bit is taken). */
pt_entry_t fx_foreign_bit(const struct fx *fx);

/* The page sizes of the format, smallest first; returns how many. */
unsigned int fx_page_sizes(const struct fx *fx, unsigned int *lg2);

/*
 * The readers, each in its own read-side section, so that a failed assertion
 * never leaves the test inside one.
 */
int fx_lookup(struct fx *fx, uint64_t va, pt_entry_t *e, unsigned int *level);
pt_entry_t fx_lookup_entry(struct fx *fx, uint64_t va);
int fx_tas(struct fx *fx, uint64_t va, pt_entry_t bits);
int fx_tac(struct fx *fx, uint64_t va, pt_entry_t bits);
/* pt_iter_start(), and the number of leaves the iterator then yields (0 on error). */
int fx_iter_count(struct fx *fx, uint64_t va, uint64_t size, unsigned int *leaves);

/*
 * @va translates to @frame with the caller's attribute bits @attrs, through a
 * leaf at @level (or ANY_LEVEL), and the engine-owned bits agree with the
 * level: the leaf bit above level 0 on present leaves.
 */
#define assert_maps(fx, va, frame, attrs, level) \
	fx_check_maps((fx), (va), (frame), (attrs), (level), __FILE__, __LINE__)
void fx_check_maps(struct fx *fx, uint64_t va, uint64_t frame, pt_entry_t attrs,
		   unsigned int level, const char *file, int line);

/* Every page of [@va, @va + @size) maps @frame onwards with @attrs (checked by walk). */
#define assert_maps_range(fx, va, size, frame, attrs) \
	fx_check_range((fx), (va), (size), (frame), (attrs), __FILE__, __LINE__)
void fx_check_range(struct fx *fx, uint64_t va, uint64_t size, uint64_t frame, pt_entry_t attrs,
		    const char *file, int line);

#define assert_hole(fx, va) assert_int_equal(fx_lookup((fx), (va), NULL, NULL), -ENOENT)

/* The whole table and its directory counters, to prove a failed call changed nothing. */
struct fx_snap {
	struct pt_dump dump;
	struct pt_stats st;
};

void fx_snap_take(struct fx *fx, struct fx_snap *s);
#define assert_unchanged(fx, s) fx_check_unchanged((fx), (s), __FILE__, __LINE__)
void fx_check_unchanged(struct fx *fx, struct fx_snap *s, const char *file, int line);
void fx_snap_fini(struct fx_snap *s);

/* Under the eager policy, the directory counters are exactly what the leaves need. */
#define assert_dirs_needed(fx) fx_check_dirs_needed((fx), __FILE__, __LINE__)
void fx_check_dirs_needed(struct fx *fx, const char *file, int line);

/* basic_map.c */
void test_map_every_size(void **state);
void test_map_top_of_space(void **state);
void test_lookup_range(void **state);
void test_map_bad_input(void **state);
void test_map_exists(void **state);
void test_map_remap(void **state);
void test_map_over_empty_tables(void **state);

/* basic_unmap.c */
void test_unmap_partial(void **state);
void test_unmap_straddle(void **state);
void test_unmap_neighbour(void **state);
void test_unmap_bytes(void **state);
void test_unmap_bad_input(void **state);

/* basic_protect.c */
void test_protect_bits(void **state);
void test_protect_split(void **state);
void test_protect_bad_input(void **state);
void test_test_and_bits(void **state);
void test_test_and_bits_large(void **state);

/* basic_split.c */
void test_split_collapse_roundtrip(void **state);
void test_split_contig(void **state);
void test_split_bad_input(void **state);
void test_collapse_built(void **state);
void test_collapse_ors_ad(void **state);
void test_collapse_refuses(void **state);

/* basic_special.c */
void test_special_map_lookup(void **state);
void test_special_keeps_dir(void **state);
void test_special_large(void **state);
void test_special_ops(void **state);

/* basic_reclaim.c */
void test_reclaim_eager(void **state);
void test_reclaim_keep(void **state);
void test_reclaim_keep_pingpong(void **state);
void test_reclaim_eager_churns(void **state);

/* basic_walk.c */
void test_walk_every_size(void **state);
void test_walk_hole_levels(void **state);
void test_walk_clipped(void **state);
void test_walk_stop(void **state);
void test_walk_bad_input(void **state);
void test_iter_matches_walk(void **state);
void test_walk_mixed(void **state);

#endif /* HMMSIM_TESTS_PT_BASIC_H */
