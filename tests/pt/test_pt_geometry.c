// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * pt_format_geometry(): the geometry of the built-in formats, the worked
 * example of the hmm_pt review (an inclusive last address), and formats the
 * engine must refuse.
 */
#include <errno.h>
#include <string.h>

#include "pt_test.h"

#define BIT(n) (UINT64_C(1) << (n))

static void assert_geometry(const struct pt_geometry *geo, unsigned int levels,
			    const uint8_t *shift, const uint32_t *entries, uint64_t page_sizes)
{
	assert_int_equal(geo->levels, levels);
	for (unsigned int l = 0; l < levels; l++) {
		assert_int_equal(geo->shift[l], shift[l]);
		assert_int_equal(geo->entries[l], entries[l]);
	}
	assert_int_equal(geo->page_sizes, page_sizes);
}

/*
 * The bits of every built-in format: one bit each, none shared, none inside
 * the frame number field (a frame would otherwise read as a flag).
 */
static void assert_format_bits(const struct pt_format *fmt)
{
	pt_entry_t bits[] = { fmt->valid, fmt->write, fmt->dirty, fmt->accessed, fmt->leaf };
	pt_entry_t pfn_field = ((BIT(fmt->oa_bits) - 1) << fmt->page_shift);
	pt_entry_t seen = fmt->sw;

	assert_true(fmt->page_shift + fmt->oa_bits <= 64);
	for (size_t i = 0; i < sizeof(bits) / sizeof(bits[0]); i++) {
		assert_int_equal(__builtin_popcountll(bits[i]), 1);
		assert_false(bits[i] & seen);
		seen |= bits[i];
	}
	if (fmt->contig) {
		assert_int_equal(__builtin_popcountll(fmt->contig), 1);
		assert_false(fmt->contig & seen);
		seen |= fmt->contig;
	}
	assert_false(seen & pfn_field);
}

static void test_x86_64_4l(void **state)
{
	static const uint8_t shift[] = { 12, 21, 30, 39 };
	static const uint32_t entries[] = { 512, 512, 512, 512 };
	struct pt_geometry geo;

	assert_int_equal(pt_format_geometry(&pt_format_x86_64_4l, &geo), 0);
	assert_geometry(&geo, 4, shift, entries, BIT(12) | BIT(21) | BIT(30));
	assert_int_equal(pt_format_x86_64_4l.last, BIT(48) - 1);
	assert_int_equal(pt_format_x86_64_4l.leaf_levels, 0x7);
	assert_format_bits(&pt_format_x86_64_4l);
}

static void test_x86_64_5l(void **state)
{
	static const uint8_t shift[] = { 12, 21, 30, 39, 48 };
	static const uint32_t entries[] = { 512, 512, 512, 512, 512 };
	struct pt_geometry geo;

	assert_int_equal(pt_format_geometry(&pt_format_x86_64_5l, &geo), 0);
	assert_geometry(&geo, 5, shift, entries, BIT(12) | BIT(21) | BIT(30));
	assert_int_equal(pt_format_x86_64_5l.last, BIT(57) - 1);
	assert_format_bits(&pt_format_x86_64_5l);
}

/* As pt.h describes it: 4 entries a directory, 24 bits, leaves 0..4, 2-item contig at 0. */
static void test_tiny(void **state)
{
	static const uint8_t shift[] = { 12, 14, 16, 18, 20, 22 };
	static const uint32_t entries[] = { 4, 4, 4, 4, 4, 4 };
	const struct pt_format *fmt = &pt_format_tiny;
	struct pt_geometry geo;

	assert_int_equal(pt_format_geometry(fmt, &geo), 0);
	/* The 8K contiguous leaf is a page size too: pt_map() takes page_lg2 13. */
	assert_geometry(&geo, 6, shift, entries,
			BIT(12) | BIT(13) | BIT(14) | BIT(16) | BIT(18) | BIT(20));
	assert_int_equal(fmt->last, BIT(24) - 1);
	assert_int_equal(fmt->leaf_levels, 0x1f);
	assert_int_equal(fmt->contig_shift[0], 1);
	for (int l = 1; l < PT_MAX_LEVELS; l++)
		assert_int_equal(fmt->contig_shift[l], 0);
	assert_format_bits(fmt);
}

/* A table reports the geometry of its format, and keeps the format it was given. */
static void test_table_geometry(void **state)
{
	const struct pt_format *fmts[] = {
		&pt_format_x86_64_4l, &pt_format_x86_64_5l, &pt_format_tiny,
	};

	for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
		struct pt_table *t = pt_test_create(fmts[i], PT_RECLAIM_EAGER);
		struct pt_geometry geo;
		struct pt_stats st;

		assert_int_equal(pt_format_geometry(fmts[i], &geo), 0);
		assert_ptr_equal(pt_table_format(t), fmts[i]);
		assert_memory_equal(pt_table_geometry(t), &geo, sizeof(geo));
		/* An empty table is its top directory alone. */
		pt_table_stats(t, &st);
		assert_int_equal(st.dirs[geo.levels - 1], 1);
		assert_int_equal(pt_test_dirs(&st), 1);
		assert_true(st.bytes > 0);
		pt_test_destroy(t);
	}
}

/* A plain 4-level format with x86's bits, to derive variants from. */
static struct pt_format base_format(void)
{
	struct pt_format f = {
		.name = "test-48",
		.last = BIT(48) - 1,
		.page_shift = 12,
		.dir_shift = 9,
		.oa_bits = 40,
		.leaf_levels = 0x7,
		.valid = BIT(0),
		.write = BIT(1),
		.accessed = BIT(5),
		.dirty = BIT(6),
		.leaf = BIT(7),
		.sw = BIT(9) | BIT(10),
	};

	return f;
}

/*
 * The worked example of the hmm_pt v2 review: last is inclusive, so
 * 2^48 - 1 is four levels of 39/30/21/12, and one more address (2^48) needs
 * a fifth level whose top directory has only 2 entries.
 */
static void test_seed_001_example(void **state)
{
	static const uint8_t shift4[] = { 12, 21, 30, 39 };
	static const uint32_t entries4[] = { 512, 512, 512, 512 };
	static const uint8_t shift5[] = { 12, 21, 30, 39, 48 };
	static const uint32_t entries5[] = { 512, 512, 512, 512, 2 };
	static const uint32_t entries_half[] = { 512, 512, 512, 256 };
	struct pt_format f = base_format();
	struct pt_geometry geo;
	uint64_t sizes = BIT(12) | BIT(21) | BIT(30);

	assert_int_equal(pt_format_geometry(&f, &geo), 0);
	assert_geometry(&geo, 4, shift4, entries4, sizes);

	f.last = BIT(48);
	assert_int_equal(pt_format_geometry(&f, &geo), 0);
	assert_geometry(&geo, 5, shift5, entries5, sizes);

	/* The user half of x86: the top directory holds what is left, 256 entries. */
	f.last = BIT(47) - 1;
	assert_int_equal(pt_format_geometry(&f, &geo), 0);
	assert_geometry(&geo, 4, shift4, entries_half, sizes);
}

/* Not x86: a 64K granule with 8192-entry directories and 42 bits is 2 levels. */
static void test_64k_granule(void **state)
{
	static const uint8_t shift[] = { 16, 29 };
	static const uint32_t entries[] = { 8192, 8192 };
	struct pt_format f = base_format();
	struct pt_geometry geo;
	struct pt_table *t;
	pt_entry_t e;
	unsigned int level;

	f.last = BIT(42) - 1;
	f.page_shift = 16;
	f.dir_shift = 13;
	f.oa_bits = 32;
	f.leaf_levels = 0x3;
	assert_int_equal(pt_format_geometry(&f, &geo), 0);
	assert_geometry(&geo, 2, shift, entries, BIT(16) | BIT(29));

	/* The engine walks it with the same code: map a 512M leaf and a 64K page. */
	t = pt_test_create(&f, PT_RECLAIM_EAGER);
	assert_int_equal(pt_map(t, BIT(29), BIT(29), 29, pt_make_entry(&f, 8192, f.valid), 0), 0);
	assert_int_equal(pt_map(t, 0, BIT(16), 16, pt_make_entry(&f, 3, f.valid | f.write), 0), 0);
	assert_pt_check(t);
	hmmsim_read_lock();
	assert_int_equal(pt_lookup(t, BIT(29) + 5 * BIT(16) + 77, &e, &level), 0);
	assert_int_equal(level, 1);
	assert_int_equal(pt_test_frame(t, e, level, BIT(29) + 5 * BIT(16)), 8192 + 5);
	assert_int_equal(pt_lookup(t, 100, &e, &level), 0);
	assert_int_equal(level, 0);
	assert_int_equal(pt_test_strip(&f, e), pt_make_entry(&f, 3, f.valid | f.write));
	assert_int_equal(pt_lookup(t, BIT(16), &e, &level), -ENOENT);
	assert_int_equal(pt_lookup(t, BIT(42), &e, &level), -ERANGE);
	hmmsim_read_unlock();
	pt_test_destroy(t);
}

struct bad_format {
	const char *why;
	void (*mutate)(struct pt_format *f);
};

static void bad_valid_in_pfn(struct pt_format *f)	{ f->valid = BIT(12); }
static void bad_write_in_pfn(struct pt_format *f)	{ f->write = BIT(51); }
static void bad_sw_in_pfn(struct pt_format *f)		{ f->sw |= BIT(20); }
static void bad_overlap(struct pt_format *f)		{ f->dirty = f->write; }
static void bad_overlap_sw(struct pt_format *f)		{ f->sw |= f->accessed; }
static void bad_overlap_leaf(struct pt_format *f)	{ f->leaf = f->valid; }
static void bad_two_bits(struct pt_format *f)		{ f->valid = BIT(0) | BIT(2); }
static void bad_no_valid(struct pt_format *f)		{ f->valid = 0; }
static void bad_no_leaf0(struct pt_format *f)		{ f->leaf_levels = 0x6; }
static void bad_leaf_above_top(struct pt_format *f)	{ f->leaf_levels = 0x17; }
static void bad_leaf_past_max(struct pt_format *f)	{ f->leaf_levels = 0x1ff; }
static void bad_too_many(struct pt_format *f)		{ f->dir_shift = 4; }
static void bad_way_too_many(struct pt_format *f)	{ f->last = UINT64_MAX; f->dir_shift = 1; }
static void bad_contig_no_bit(struct pt_format *f)	{ f->contig_shift[0] = 4; }
static void bad_contig_no_leaf(struct pt_format *f)	{ f->contig = BIT(52); f->contig_shift[3] = 4; }
static void bad_contig_in_pfn(struct pt_format *f)	{ f->contig = BIT(13); f->contig_shift[0] = 4; }
static void bad_contig_overlap(struct pt_format *f)	{ f->contig = f->dirty; f->contig_shift[0] = 4; }
static void bad_oa_too_wide(struct pt_format *f)	{ f->oa_bits = 60; }
static void bad_no_dir_bits(struct pt_format *f)	{ f->dir_shift = 0; }

static const struct bad_format bad_formats[] = {
	{ "valid bit inside the frame field", bad_valid_in_pfn },
	{ "write bit inside the frame field", bad_write_in_pfn },
	{ "sw bit inside the frame field", bad_sw_in_pfn },
	{ "dirty == write", bad_overlap },
	{ "sw overlaps accessed", bad_overlap_sw },
	{ "leaf == valid", bad_overlap_leaf },
	{ "valid is two bits", bad_two_bits },
	{ "no valid bit", bad_no_valid },
	{ "no leaf at level 0", bad_no_leaf0 },
	{ "leaf level above the top", bad_leaf_above_top },
	{ "leaf level past PT_MAX_LEVELS", bad_leaf_past_max },
	{ "too many levels (9 of 4 bits)", bad_too_many },
	{ "way too many levels (1 bit each)", bad_way_too_many },
	{ "contig_shift without a contig bit", bad_contig_no_bit },
	{ "contig_shift at a level without leaves", bad_contig_no_leaf },
	{ "contig bit inside the frame field", bad_contig_in_pfn },
	{ "contig == dirty", bad_contig_overlap },
	{ "frame field past bit 63", bad_oa_too_wide },
	{ "directories of one entry", bad_no_dir_bits },
};

static void test_bad_formats(void **state)
{
	struct pt_format good = base_format();
	struct pt_geometry geo;

	/* The base is good, so each refusal below is its mutation's doing. */
	assert_int_equal(pt_format_geometry(&good, &geo), 0);
	for (size_t i = 0; i < sizeof(bad_formats) / sizeof(bad_formats[0]); i++) {
		struct pt_format f = base_format();
		struct pt_table *t = NULL;
		int ret;

		bad_formats[i].mutate(&f);
		ret = pt_format_geometry(&f, &geo);
		if (ret != -EINVAL)
			fail_msg("%s: pt_format_geometry() = %d, expected -EINVAL", bad_formats[i].why,
				 ret);
		ret = pt_table_create(&f, NULL, &t);
		if (ret != -EINVAL)
			fail_msg("%s: pt_table_create() = %d, expected -EINVAL", bad_formats[i].why,
				 ret);
	}
}

/* A config the engine does not know is refused too; NULL is the default. */
static void test_bad_config(void **state)
{
	struct pt_config cfg = { .reclaim = (enum pt_reclaim)7, .numa_node = -1 };
	struct pt_table *t = NULL;

	assert_int_equal(pt_table_create(&pt_format_tiny, &cfg, &t), -EINVAL);
	assert_int_equal(pt_table_create(&pt_format_tiny, NULL, &t), 0);
	assert_non_null(t);
	pt_test_destroy(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_x86_64_4l),
		cmocka_unit_test(test_x86_64_5l),
		cmocka_unit_test(test_tiny),
		cmocka_unit_test(test_table_geometry),
		cmocka_unit_test(test_seed_001_example),
		cmocka_unit_test(test_64k_granule),
		cmocka_unit_test(test_bad_formats),
		cmocka_unit_test(test_bad_config),
	};
	int ret;

	hmmsim_thread_register();
	ret = cmocka_run_group_tests_name("pt_geometry", tests, NULL, NULL);
	hmmsim_thread_unregister();
	return ret;
}
