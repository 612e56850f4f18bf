// SPDX-License-Identifier: LGPL-2.1-or-later
/* pt_walk() and pt_iter: leaves of every size, holes and their levels, clipping, early stop. */
#include <errno.h>

#include "basic.h"

/* One leaf of each size in its own slot of the largest size; returns how many. */
static unsigned int map_each_size(struct fx *fx, uint64_t *slot)
{
	unsigned int sizes[64], n = fx_page_sizes(fx, sizes);

	*slot = UINT64_C(1) << sizes[n - 1];
	for (unsigned int i = 0; i < n; i++) {
		uint64_t page = UINT64_C(1) << sizes[i];
		pt_entry_t attrs = fx->fmt->valid | (i & 1 ? fx->fmt->write : fx->sw0);
		uint64_t frame = (i + 1) * fx_pages(fx, sizes[i]);

		assert_int_equal(pt_map(fx->t, (2 * i + 1) * *slot + page, page, sizes[i],
					fx_entry(fx, frame, attrs), 0), 0);
	}
	assert_pt_check(fx->t);
	return n;
}

void test_walk_every_size(void **state)
{
	struct fx *fx = *state;
	unsigned int sizes[64], n = fx_page_sizes(fx, sizes);
	uint64_t slot, span;
	struct pt_dump d = { 0 }, leaves = { 0 };

	assert_int_equal(map_each_size(fx, &slot), n);
	span = (2 * n + 2) * slot;
	assert_int_equal(pt_dump_walk(fx->t, 0, span, &d), 0);
	assert_dump_tiles(&d, 0, span);
	pt_dump_leaves(&d, &leaves);
	assert_int_equal(leaves.n, n);
	for (unsigned int i = 0; i < n; i++) {
		const struct pt_rec *r = &leaves.rec[i];
		uint64_t page = UINT64_C(1) << sizes[i];
		bool contig;

		/* Contiguous runs come once, with the size of the run. */
		assert_int_equal(r->va, (2 * i + 1) * slot + page);
		assert_int_equal(r->size, page);
		assert_int_equal(r->level, fx_size_level(fx, sizes[i], &contig));
		assert_int_equal(pt_test_frame(fx->t, r->entry, r->level, r->va),
				 (i + 1) * fx_pages(fx, sizes[i]));
		assert_true(pt_entry_present(fx->fmt, r->entry));
	}
	pt_dump_reset(&d);
	pt_dump_reset(&leaves);

	/* The whole address space in one walk. */
	assert_int_equal(pt_dump_walk(fx->t, 0, fx->end, &d), 0);
	assert_dump_tiles(&d, 0, fx->end);
	pt_dump_leaves(&d, &leaves);
	assert_int_equal(leaves.n, n);
	pt_dump_fini(&d);
	pt_dump_fini(&leaves);
}

/* pt_lookup() of a hole gives the level of the empty entry. */
static void assert_hole_level(struct fx *fx, uint64_t va, unsigned int want)
{
	unsigned int level = ~0u;

	assert_int_equal(fx_lookup(fx, va, NULL, &level), -ENOENT);
	assert_int_equal(level, want);
}

/*
 * A hole is reported at the level of the empty entry (eager: no empty
 * directories), by the walk and by pt_lookup() alike.
 */
void test_walk_hole_levels(void **state)
{
	struct fx *fx = *state;
	unsigned int ps = fx->fmt->page_shift;
	uint64_t psz = UINT64_C(1) << ps;
	struct pt_dump d = { 0 };

	assert_int_equal(pt_dump_walk(fx->t, 0, psz, &d), 0);
	assert_int_equal(d.n, 1);
	assert_true(d.rec[0].hole);
	assert_int_equal(d.rec[0].level, fx->top);
	assert_int_equal(d.rec[0].size, psz);
	assert_hole_level(fx, 0, fx->top);
	assert_hole_level(fx, fx->fmt->last, fx->top);

	assert_int_equal(pt_map(fx->t, 0, psz, ps, fx_entry(fx, 1, fx->fmt->valid), 0), 0);
	/* Entry 1 of the level-l directory above page 0 is empty, for every l. */
	for (unsigned int l = 0; l <= fx->top; l++) {
		uint64_t va = UINT64_C(1) << fx->geo->shift[l];

		pt_dump_reset(&d);
		assert_int_equal(pt_dump_walk(fx->t, va, psz, &d), 0);
		assert_int_equal(d.n, 1);
		assert_true(d.rec[0].hole);
		assert_int_equal(d.rec[0].va, va);
		assert_int_equal(d.rec[0].size, psz);
		assert_int_equal(d.rec[0].level, l);
		assert_hole_level(fx, va, l);
		assert_hole_level(fx, va + psz - 1, l);
	}

	/* The rest of the first level-1 item: holes at level 0 only, merged or not. */
	pt_dump_reset(&d);
	assert_int_equal(pt_dump_walk(fx->t, psz, (UINT64_C(1) << fx->geo->shift[1]) - psz, &d), 0);
	assert_dump_tiles(&d, psz, (UINT64_C(1) << fx->geo->shift[1]) - psz);
	for (size_t i = 0; i < d.n; i++) {
		assert_true(d.rec[i].hole);
		assert_int_equal(d.rec[i].level, 0);
	}
	pt_dump_fini(&d);
}

/* A walk that starts or ends inside a leaf reports the leaf clipped, with its own entry. */
void test_walk_clipped(void **state)
{
	struct fx *fx = *state;
	unsigned int big = fx->geo->shift[1];
	uint64_t psz = UINT64_C(1) << fx->fmt->page_shift, bsz = UINT64_C(1) << big, va = 2 * bsz;
	uint64_t frame = 6 * fx_pages(fx, big);
	pt_entry_t e;
	struct pt_dump d = { 0 }, it = { 0 };

	assert_int_equal(pt_map(fx->t, va, bsz, big, fx_entry(fx, frame, fx->fmt->valid), 0), 0);
	assert_int_equal(fx_lookup(fx, va, &e, NULL), 0);

	assert_int_equal(pt_dump_walk(fx->t, va + psz, 2 * psz, &d), 0);
	assert_int_equal(d.n, 1);
	assert_false(d.rec[0].hole);
	assert_int_equal(d.rec[0].va, va + psz);
	assert_int_equal(d.rec[0].size, 2 * psz);
	assert_int_equal(d.rec[0].level, 1);
	assert_int_equal(d.rec[0].entry, e);
	assert_int_equal(pt_test_frame(fx->t, d.rec[0].entry, 1, d.rec[0].va), frame + 1);
	assert_int_equal(pt_dump_iter(fx->t, va + psz, 2 * psz, &it), 0);
	assert_dump_equal(&d, &it);

	pt_dump_reset(&d);
	pt_dump_reset(&it);
	assert_int_equal(pt_dump_walk(fx->t, va - psz, 2 * psz, &d), 0);
	assert_int_equal(d.n, 2);
	assert_true(d.rec[0].hole);
	assert_int_equal(d.rec[1].va, va);
	assert_int_equal(d.rec[1].size, psz);

	pt_dump_reset(&d);
	assert_int_equal(pt_dump_walk(fx->t, va + bsz - psz, 2 * psz, &d), 0);
	assert_int_equal(d.n, 2);
	assert_int_equal(d.rec[0].va, va + bsz - psz);
	assert_int_equal(d.rec[0].size, psz);
	assert_int_equal(pt_test_frame(fx->t, d.rec[0].entry, 1, d.rec[0].va),
			 frame + fx_pages(fx, big) - 1);
	assert_true(d.rec[1].hole);
	pt_dump_fini(&d);
	pt_dump_fini(&it);
}

struct stop_arg {
	unsigned int calls, stop_at;
	int ret;
};

static int stop_leaf(void *arg, uint64_t va, uint64_t size, pt_entry_t entry, unsigned int level)
{
	struct stop_arg *s = arg;

	return ++s->calls == s->stop_at ? s->ret : 0;
}

static int stop_hole(void *arg, uint64_t va, uint64_t size, unsigned int level)
{
	struct stop_arg *s = arg;

	return ++s->calls == s->stop_at ? s->ret : 0;
}

static int walk(struct fx *fx, uint64_t va, uint64_t size, const struct pt_walk_ops *ops,
		void *arg)
{
	int ret;

	hmmsim_read_lock();
	ret = pt_walk(fx->t, va, size, ops, arg);
	hmmsim_read_unlock();
	return ret;
}

void test_walk_stop(void **state)
{
	struct fx *fx = *state;
	unsigned int ps = fx->fmt->page_shift;
	uint64_t psz = UINT64_C(1) << ps, va = 64 * psz;
	const struct pt_walk_ops leaves_only = { .leaf = stop_leaf };
	const struct pt_walk_ops holes_only = { .hole = stop_hole };
	const struct pt_walk_ops none = { 0 };
	struct stop_arg s = { .stop_at = 3, .ret = 42 };

	assert_int_equal(pt_map(fx->t, va, 5 * psz, ps, fx_entry(fx, 1, fx->fmt->valid), 0), 0);
	assert_int_equal(walk(fx, 0, fx->end, &leaves_only, &s), 42);
	assert_int_equal(s.calls, 3);

	s = (struct stop_arg){ .stop_at = 1, .ret = -7 };
	assert_int_equal(walk(fx, va + 5 * psz, 4 * psz, &holes_only, &s), -7);
	assert_int_equal(s.calls, 1);

	/* A callback that never stops: every leaf once, then 0. */
	s = (struct stop_arg){ .stop_at = 0 };
	assert_int_equal(walk(fx, 0, fx->end, &leaves_only, &s), 0);
	assert_int_equal(s.calls, 5);
	assert_int_equal(walk(fx, 0, fx->end, &none, NULL), 0);
}

void test_walk_bad_input(void **state)
{
	struct fx *fx = *state;
	uint64_t psz = UINT64_C(1) << fx->fmt->page_shift;
	const struct pt_walk_ops ops = { .leaf = stop_leaf, .hole = stop_hole };
	struct stop_arg s = { 0 };
	unsigned int n;
	int ret;

	assert_int_equal(walk(fx, psz, 0, &ops, &s), -EINVAL);
	assert_int_equal(walk(fx, fx->end - psz, 2 * psz, &ops, &s), -ERANGE);
	assert_int_equal(walk(fx, fx->end, psz, &ops, &s), -ERANGE);
	ret = walk(fx, psz, UINT64_MAX << fx->fmt->page_shift, &ops, &s);
	assert_true(ret == -EINVAL || ret == -ERANGE);
	/* A walk that fails reports nothing. */
	assert_int_equal(s.calls, 0);

	assert_int_equal(fx_iter_count(fx, psz, 0, &n), -EINVAL);
	assert_int_equal(fx_iter_count(fx, fx->end - psz, 2 * psz, &n), -ERANGE);
	ret = fx_iter_count(fx, psz, UINT64_MAX << fx->fmt->page_shift, &n);
	assert_true(ret == -EINVAL || ret == -ERANGE);
	/* An empty table yields nothing. */
	assert_int_equal(fx_iter_count(fx, 0, fx->end, &n), 0);
	assert_int_equal(n, 0);
}

/* The iterator yields exactly the leaves the walk reports, over many ranges. */
void test_iter_matches_walk(void **state)
{
	struct fx *fx = *state;
	unsigned int ps = fx->fmt->page_shift, n;
	uint64_t psz = UINT64_C(1) << ps, slot;

	n = map_each_size(fx, &slot);
	/* Add small pages, a special entry and holes around the first slot. */
	assert_int_equal(pt_map(fx->t, slot - 4 * psz, 2 * psz, ps, fx_entry(fx, 3, fx->fmt->valid),
				0), 0);
	assert_int_equal(pt_map(fx->t, slot - psz, psz, ps,
				fx_entry(fx, 3, fx->sw0 | fx->fmt->dirty), 0), 0);

	for (unsigned int i = 0; i < n; i++) {
		uint64_t base = (2 * i + 1) * slot;
		/* Whole, around a slot, starting inside small leaves, inside a large one. */
		uint64_t ranges[][2] = {
			{ 0, fx->end },
			{ base - slot, 3 * slot },
			{ base, slot },
			{ base + psz, 2 * slot - psz },
			{ base + 3 * psz, 5 * psz },
			{ slot - 4 * psz, 8 * psz },
		};

		for (size_t k = 0; k < sizeof(ranges) / sizeof(ranges[0]); k++) {
			struct pt_dump w = { 0 }, leaves = { 0 }, it = { 0 };

			assert_int_equal(pt_dump_walk(fx->t, ranges[k][0], ranges[k][1], &w), 0);
			assert_dump_tiles(&w, ranges[k][0], ranges[k][1]);
			pt_dump_leaves(&w, &leaves);
			assert_int_equal(pt_dump_iter(fx->t, ranges[k][0], ranges[k][1], &it), 0);
			assert_dump_equal(&leaves, &it);
			pt_dump_fini(&w);
			pt_dump_fini(&leaves);
			pt_dump_fini(&it);
		}
	}
}

/* A 2M/1G/2M mix (generic_pt's regression from Amazon): exactly three leaves, no holes. */
void test_walk_mixed(void **state)
{
	struct fx *fx = *state;
	unsigned int s1 = fx->geo->shift[1], s2 = fx->geo->shift[2];
	uint64_t sz1 = UINT64_C(1) << s1, sz2 = UINT64_C(1) << s2, b = 4 * sz2;
	pt_entry_t a = fx->fmt->valid | fx->fmt->write;
	struct pt_dump d = { 0 };

	assert_int_equal(pt_map(fx->t, b - sz1, sz1, s1, fx_entry(fx, 0, a), 0), 0);
	assert_int_equal(pt_map(fx->t, b, sz2, s2, fx_entry(fx, fx_pages(fx, s2), a), 0), 0);
	assert_int_equal(pt_map(fx->t, b + sz2, sz1, s1, fx_entry(fx, 2 * fx_pages(fx, s2), a), 0),
			 0);
	assert_pt_check(fx->t);
	assert_int_equal(pt_dump_walk(fx->t, b - sz1, sz2 + 2 * sz1, &d), 0);
	assert_int_equal(d.n, 3);
	assert_int_equal(d.rec[0].level, 1);
	assert_int_equal(d.rec[1].level, 2);
	assert_int_equal(d.rec[2].level, 1);
	assert_dump_tiles(&d, b - sz1, sz2 + 2 * sz1);
	pt_dump_fini(&d);
}
