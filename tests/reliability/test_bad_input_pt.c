// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Bad input to the pt API (docs/bad-input.md, section pt): the rows that
 * tests/pt does not check, or checks accepting either of two errors. Each
 * refused call must return its errno and leave the table as it was: the
 * walk of the whole address space, the directory counters and pt_check().
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "pt_test.h"

#define BIT(n)	(UINT64_C(1) << (n))

/* A table of @fmt with something at every leaf size, so that "unchanged" means something. */
struct world {
	const struct pt_format *fmt;
	struct pt_table *t;
	uint64_t psz, bsz;	/* the page, and the leaf size of level 1 */
	uint64_t small;		/* a plain page */
	uint64_t big;		/* a level-1 leaf */
	uint64_t end;		/* last + 1 */
};

static void world_init(struct world *w, const struct pt_format *fmt)
{
	const struct pt_geometry *geo;
	pt_entry_t a = fmt->valid | fmt->write;

	memset(w, 0, sizeof(*w));
	w->fmt = fmt;
	w->t = pt_test_create(fmt, PT_RECLAIM_EAGER);
	geo = pt_table_geometry(w->t);
	w->psz = BIT(fmt->page_shift);
	w->bsz = BIT(geo->shift[1]);
	w->end = fmt->last + 1;
	w->small = 4 * w->bsz;
	w->big = 6 * w->bsz;
	assert_int_equal(pt_map(w->t, w->small, 4 * w->psz, fmt->page_shift,
				pt_make_entry(fmt, 16, a), 0), 0);
	assert_int_equal(pt_map(w->t, w->big, w->bsz, geo->shift[1],
				pt_make_entry(fmt, 2 * (w->bsz / w->psz), a), 0), 0);
	/* The last page of the space, so that the top directories are all there. */
	assert_int_equal(pt_map(w->t, w->end - w->psz, w->psz, fmt->page_shift,
				pt_make_entry(fmt, 3, fmt->valid), 0), 0);
	assert_pt_check(w->t);
}

static void world_fini(struct world *w)
{
	pt_test_destroy(w->t);
}

struct snap {
	struct pt_dump dump;
	struct pt_stats st;
};

static void snap_take(struct world *w, struct snap *s)
{
	memset(s, 0, sizeof(*s));
	assert_int_equal(pt_dump_walk(w->t, 0, w->end, &s->dump), 0);
	pt_test_stats_settled(w->t, &s->st);
}

/* Run @call and expect @err; then pt_check(). */
#define REFUSED(w, call, err) refused_at((w), (int64_t)(call), (err), #call, __FILE__, __LINE__)

static void refused_at(struct world *w, int64_t ret, int64_t err, const char *what,
		       const char *file, int line)
{
	if (ret != err) {
		print_error("%s = %" PRId64 ", expected %" PRId64 "\n", what, ret, err);
		_fail(file, line);
	}
	pt_test_check(w->t, file, line);
}

/* The whole table equals @s (walk and settled counters), and passes pt_check(). */
static void check_same(struct world *w, struct snap *s)
{
	struct snap now;

	snap_take(w, &now);
	assert_dump_equal(&s->dump, &now.dump);
	assert_memory_equal(&s->st, &now.st, sizeof(now.st));
	assert_pt_check(w->t);
	pt_dump_fini(&now.dump);
}

/* A refused call: its errno, then the whole table as in @s. */
#define BAD(w, s, call, err) do {			\
	REFUSED((w), (call), (err));			\
	check_same((w), (s));				\
} while (0)

/* A format the engine accepts, to spoil one field at a time. */
static struct pt_format good_format(void)
{
	struct pt_format f = {
		.name = "bad-input-48",
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

/* pt_format_geometry() and pt_table_create(): the limits tests/pt does not spoil. */
static void test_format_limits(void **state)
{
	static const struct {
		const char *why;
		uint8_t page_shift, dir_shift;
		uint64_t last;
	} cases[] = {
		{ "page_shift 8 (pages below 512 bytes)", 8, 9, BIT(48) - 1 },
		{ "page_shift 31 (pages above 1 GiB)", 31, 9, BIT(48) - 1 },
		{ "dir_shift 14 (directories above 8192 entries)", 12, 14, BIT(48) - 1 },
		{ "last 2^63 (an address space of 2^63 + 1 bytes)", 12, 9, BIT(63) },
		{ "last UINT64_MAX", 12, 9, UINT64_MAX },
		{ "last below one page", 12, 9, BIT(12) - 1 },
	};
	struct pt_geometry geo, before;
	struct pt_format f = good_format();

	(void)state;
	assert_int_equal(pt_format_geometry(&f, &geo), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pt_table *t = NULL;
		int ret;

		f = good_format();
		f.page_shift = cases[i].page_shift;
		f.dir_shift = cases[i].dir_shift;
		f.last = cases[i].last;
		memset(&geo, 0x5a, sizeof(geo));
		before = geo;
		ret = pt_format_geometry(&f, &geo);
		if (ret != -EINVAL)
			fail_msg("%s: pt_format_geometry() = %d, expected -EINVAL", cases[i].why, ret);
		/* Refused: the output is not written. */
		assert_memory_equal(&geo, &before, sizeof(geo));
		ret = pt_table_create(&f, NULL, &t);
		if (ret != -EINVAL)
			fail_msg("%s: pt_table_create() = %d, expected -EINVAL", cases[i].why, ret);
		assert_null(t);
	}
	/* NULL for the format or the result. */
	f = good_format();
	assert_int_equal(pt_format_geometry(NULL, &geo), -EINVAL);
	assert_int_equal(pt_format_geometry(&f, NULL), -EINVAL);
}

/* pt_table_create(): a NULL result pointer, a NUMA node below -1, a NULL format. */
static void test_create_config(void **state)
{
	struct pt_config cfg = { .reclaim = PT_RECLAIM_EAGER, .numa_node = -2 };
	struct pt_table *t = NULL;

	(void)state;
	assert_int_equal(pt_table_create(&pt_format_tiny, NULL, NULL), -EINVAL);
	assert_int_equal(pt_table_create(&pt_format_tiny, &cfg, &t), -EINVAL);
	assert_null(t);
	cfg.numa_node = INT32_MIN;
	assert_int_equal(pt_table_create(&pt_format_tiny, &cfg, &t), -EINVAL);
	assert_null(t);
	assert_int_equal(pt_table_create(NULL, NULL, &t), -EINVAL);
	assert_null(t);
	/* -1 (the local node) is the default and fine. */
	cfg.numa_node = -1;
	assert_int_equal(pt_table_create(&pt_format_tiny, &cfg, &t), 0);
	pt_test_destroy(t);
}

/* Calls on a populated table, on each built-in format. */
static void bad_calls(const struct pt_format *fmt)
{
	struct world w;
	struct snap s;
	uint64_t top;

	world_init(&w, fmt);
	snap_take(&w, &s);
	top = UINT64_MAX << fmt->page_shift;

	/* pt_test_and_{set,clear}_bits(): no bits at all. */
	hmmsim_read_lock();
	{
		int r1 = pt_test_and_set_bits(w.t, w.small, 0);
		int r2 = pt_test_and_clear_bits(w.t, w.small, 0);

		hmmsim_read_unlock();
		BAD(&w, &s, r1, -EINVAL);
		BAD(&w, &s, r2, -EINVAL);
	}

	/* pt_walk(): no ops; the wrapping range (tests/pt accepts -EINVAL or -ERANGE). */
	BAD(&w, &s, pt_walk(w.t, 0, w.end, NULL, NULL), -EINVAL);
	BAD(&w, &s, pt_walk(w.t, w.psz, top, NULL, NULL), -EINVAL);

	/* pt_iter_start(): the wrapping range; the iterator yields nothing after it. */
	{
		struct pt_iter it;
		int r;

		hmmsim_read_lock();
		r = pt_iter_start(&it, w.t, w.psz, top);
		hmmsim_read_unlock();
		BAD(&w, &s, r, -EINVAL);
	}

	/* pt_map(), pt_unmap(): ranges that wrap past 2^64 are -EINVAL, not -ERANGE. */
	BAD(&w, &s, pt_map(w.t, top, w.psz, fmt->page_shift,
			   pt_make_entry(fmt, 1, fmt->valid), 0), -EINVAL);
	BAD(&w, &s, pt_map(w.t, 16 * w.psz, -(16 * w.psz), fmt->page_shift,
			   pt_make_entry(fmt, 1, fmt->valid), 0), -EINVAL);
	BAD(&w, &s, pt_unmap(w.t, w.psz, top, 0), -EINVAL);
	BAD(&w, &s, pt_unmap(w.t, top, w.psz, PT_UNMAP_FREE), -EINVAL);
	BAD(&w, &s, pt_protect(w.t, top, w.psz, fmt->write, 0), -EINVAL);

	/* pt_split() of a plain page at level 0 (tests/pt accepts -ENOENT or -EINVAL). */
	BAD(&w, &s, pt_split(w.t, w.small, 0), -EINVAL);
	/* pt_split() of the large leaf at the wrong level: no such leaf. */
	BAD(&w, &s, pt_split(w.t, w.big, 0), -ENOENT);
	/* pt_collapse() of a level-1 leaf (no directory under it), at level 0, past the end. */
	BAD(&w, &s, pt_collapse(w.t, w.big, 1), -ENOENT);
	BAD(&w, &s, pt_collapse(w.t, w.small, 0), -EINVAL);
	BAD(&w, &s, pt_collapse(w.t, UINT64_MAX, 1), -ERANGE);

	/* The translation-only lookup: 0 past the end, nothing changed. */
	hmmsim_read_lock();
	{
		pt_entry_t e1 = pt_lookup_entry(w.t, w.end), e2 = pt_lookup_entry(w.t, UINT64_MAX);

		hmmsim_read_unlock();
		BAD(&w, &s, e1, 0);
		BAD(&w, &s, e2, 0);
	}

	pt_dump_fini(&s.dump);
	world_fini(&w);
}

static void test_bad_calls_x86_4l(void **state)
{
	(void)state;
	bad_calls(&pt_format_x86_64_4l);
}

static void test_bad_calls_x86_5l(void **state)
{
	(void)state;
	bad_calls(&pt_format_x86_64_5l);
}

static void test_bad_calls_tiny(void **state)
{
	(void)state;
	bad_calls(&pt_format_tiny);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_limits),
		cmocka_unit_test(test_create_config),
		cmocka_unit_test(test_bad_calls_x86_4l),
		cmocka_unit_test(test_bad_calls_x86_5l),
		cmocka_unit_test(test_bad_calls_tiny),
	};
	int ret;

	hmmsim_thread_register();
	ret = cmocka_run_group_tests_name("bad_input_pt", tests, NULL, NULL);
	hmmsim_thread_unregister();
	return ret;
}
