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
		assert_geometry(pt_table_geometry(t), geo.levels, geo.shift, geo.entries,
				geo.page_sizes);
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
	pt_entry_t e[2];
	unsigned int level[2];
	int ret[4];

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
	ret[0] = pt_lookup(t, BIT(29) + 5 * BIT(16) + 77, &e[0], &level[0]);
	ret[1] = pt_lookup(t, 100, &e[1], &level[1]);
	ret[2] = pt_lookup(t, BIT(16), NULL, NULL);
	ret[3] = pt_lookup(t, BIT(42), NULL, NULL);
	hmmsim_read_unlock();
	assert_int_equal(ret[0], 0);
	assert_int_equal(level[0], 1);
	assert_int_equal(pt_test_frame(t, e[0], level[0], BIT(29) + 5 * BIT(16)), 8192 + 5);
	assert_int_equal(ret[1], 0);
	assert_int_equal(level[1], 0);
	assert_int_equal(pt_test_strip(&f, e[1]), pt_make_entry(&f, 3, f.valid | f.write));
	assert_int_equal(ret[2], -ENOENT);
	assert_int_equal(ret[3], -ERANGE);
	pt_test_destroy(t);
}

/* Spoil @f the @i-th way; returns how, or NULL when there are no more ways. */
static const char *spoil(struct pt_format *f, unsigned int i)
{
	switch (i) {
	case 0:
		f->valid = BIT(12);
		return "valid bit inside the frame field";
	case 1:
		f->write = BIT(51);
		return "write bit inside the frame field";
	case 2:
		f->sw |= BIT(20);
		return "sw bit inside the frame field";
	case 3:
		f->dirty = f->write;
		return "dirty == write";
	case 4:
		f->sw |= f->accessed;
		return "sw overlaps accessed";
	case 5:
		f->leaf = f->valid;
		return "leaf == valid";
	case 6:
		f->valid = BIT(0) | BIT(2);
		return "valid is two bits";
	case 7:
		f->valid = 0;
		return "no valid bit";
	case 8:
		f->leaf_levels = 0x6;
		return "no leaf at level 0";
	case 9:
		f->leaf_levels = 0x17;
		return "leaf level above the top";
	case 10:
		f->leaf_levels = 0x1ff;
		return "leaf level past PT_MAX_LEVELS";
	case 11:
		f->leaf_levels = 0x5;
		return "leaf levels with a gap";
	case 12:
		f->dir_shift = 4;
		return "too many levels (9 of 4 bits)";
	case 13:
		f->last = UINT64_MAX;
		f->dir_shift = 1;
		return "way too many levels (1 bit each)";
	case 14:
		f->contig_shift[0] = 4;
		return "contig_shift without a contig bit";
	case 15:
		f->contig = BIT(52);
		f->contig_shift[3] = 4;
		return "contig_shift at a level without leaves";
	case 16:
		f->contig = BIT(13);
		f->contig_shift[0] = 4;
		return "contig bit inside the frame field";
	case 17:
		f->contig = f->dirty;
		f->contig_shift[0] = 4;
		return "contig == dirty";
	case 18:
		f->oa_bits = 60;
		return "frame field past bit 63";
	case 19:
		f->dir_shift = 0;
		return "directories of one entry";
	/*
	 * Widths and shifts of 64 and more: refused before any shift by
	 * them (undefined behaviour, which UBSan reports; pt-oa-bits).
	 */
	case 20:
		f->oa_bits = 64;
		return "frame field of 64 bits";
	case 21:
		f->oa_bits = 255;
		return "frame field of 255 bits";
	case 22:
		f->contig = BIT(52);
		f->contig_shift[0] = 64;
		return "contig_shift of 64";
	case 23:
		f->contig = BIT(52);
		f->contig_shift[1] = 200;
		return "contig_shift of 200";
	default:
		return NULL;
	}
}

static void test_bad_formats(void **state)
{
	struct pt_format good = base_format();
	struct pt_geometry geo, before;

	/* The base is good, so each refusal below is its mutation's doing. */
	assert_int_equal(pt_format_geometry(&good, &geo), 0);
	for (unsigned int i = 0;; i++) {
		struct pt_format f = base_format();
		struct pt_table *t = NULL;
		const char *why = spoil(&f, i);
		int ret;

		if (!why)
			break;
		memset(&geo, 0x5a, sizeof(geo));
		before = geo;
		ret = pt_format_geometry(&f, &geo);
		if (ret != -EINVAL)
			fail_msg("%s: pt_format_geometry() = %d, expected -EINVAL", why, ret);
		/* Refused: the output is not written, not even in part. */
		if (memcmp(&geo, &before, sizeof(geo)))
			fail_msg("%s: pt_format_geometry() wrote *geo", why);
		ret = pt_table_create(&f, NULL, &t);
		if (ret != -EINVAL)
			fail_msg("%s: pt_table_create() = %d, expected -EINVAL", why, ret);
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
