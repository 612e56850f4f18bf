// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Reclaim policies: eager frees a directory with its last entry (after a
 * grace period), keep holds empty directories until PT_UNMAP_FREE so that a
 * range refilled over and over allocates nothing (the hmm_pt v2 review).
 */
#include <errno.h>

#include "basic.h"

static void assert_drained(struct fx *fx)
{
	struct pt_stats st;

	hmmsim_barrier();
	pt_table_stats(fx->t, &st);
	assert_int_equal(st.pending, 0);
	assert_int_equal(st.allocs - st.frees, pt_test_dirs(&st));
}

void test_reclaim_eager(void **state)
{
	struct fx *fx = *state;
	unsigned int ps = fx->fmt->page_shift, top = fx->top;
	uint64_t psz = UINT64_C(1) << ps, va = UINT64_C(1) << fx->geo->shift[top];
	uint64_t far = va + (UINT64_C(1) << fx->geo->shift[2]);
	pt_entry_t e = fx_entry(fx, 1, fx->fmt->valid);
	struct pt_stats st0, st1, st;

	assert_drained(fx);
	pt_table_stats(fx->t, &st0);
	assert_int_equal(pt_map(fx->t, va, psz, ps, e, 0), 0);
	pt_table_stats(fx->t, &st1);
	for (unsigned int l = 0; l < top; l++)
		assert_int_equal(st1.dirs[l], 1);
	assert_int_equal(st1.allocs - st0.allocs, top);
	assert_true(st1.bytes > st0.bytes);

	assert_int_equal(pt_unmap(fx->t, va, psz, 0), psz);
	assert_pt_check(fx->t);
	pt_table_stats(fx->t, &st);
	assert_memory_equal(st.dirs, st0.dirs, sizeof(st.dirs));
	/* Freed after a grace period: pending until then, never more than were unlinked. */
	assert_true(st.pending <= top);
	assert_true(st.frees <= st0.frees + top);
	pt_test_stats_settled(fx->t, &st);
	assert_int_equal(st.pending, 0);
	assert_int_equal(st.frees, st0.frees + top);
	assert_int_equal(st.bytes, st0.bytes);

	/* Two pages in one directory: the directory goes with the second. */
	assert_int_equal(pt_map(fx->t, va, 2 * psz, ps, e, 0), 0);
	assert_int_equal(pt_unmap(fx->t, va, psz, 0), psz);
	pt_table_stats(fx->t, &st);
	assert_memory_equal(st.dirs, st1.dirs, sizeof(st.dirs));
	assert_int_equal(pt_unmap(fx->t, va + psz, psz, 0), psz);
	pt_table_stats(fx->t, &st);
	assert_memory_equal(st.dirs, st0.dirs, sizeof(st.dirs));

	/* Pages under different level-1 directories: only the emptied branch goes. */
	assert_int_equal(pt_map(fx->t, va, psz, ps, e, 0), 0);
	assert_int_equal(pt_map(fx->t, far, psz, ps, e, 0), 0);
	pt_table_stats(fx->t, &st);
	assert_int_equal(st.dirs[0], 2);
	assert_int_equal(st.dirs[1], 2);
	assert_int_equal(pt_unmap(fx->t, va, psz, 0), psz);
	assert_pt_check(fx->t);
	assert_dirs_needed(fx);
	pt_table_stats(fx->t, &st);
	assert_int_equal(st.dirs[0], 1);
	assert_int_equal(st.dirs[1], 1);
	for (unsigned int l = 2; l < top; l++)
		assert_int_equal(st.dirs[l], 1);
	assert_int_equal(pt_unmap(fx->t, far, psz, 0), psz);
	assert_dirs_needed(fx);
	assert_drained(fx);
}

void test_reclaim_keep(void **state)
{
	struct fx *fx = *state;
	unsigned int ps = fx->fmt->page_shift, top = fx->top;
	uint64_t psz = UINT64_C(1) << ps, span = UINT64_C(1) << fx->geo->shift[top], va = span;
	pt_entry_t e = fx_entry(fx, 1, fx->fmt->valid);
	struct pt_stats st0, st1, st;
	struct pt_dump d = { 0 };

	pt_test_stats_settled(fx->t, &st0);
	assert_int_equal(pt_map(fx->t, va, psz, ps, e, 0), 0);
	pt_test_stats_settled(fx->t, &st1);
	assert_int_equal(pt_unmap(fx->t, va, psz, 0), psz);
	assert_pt_check(fx->t);
	pt_test_stats_settled(fx->t, &st);
	assert_memory_equal(st.dirs, st1.dirs, sizeof(st.dirs));
	assert_int_equal(st.bytes, st1.bytes);
	assert_int_equal(st.frees, st1.frees);
	assert_hole(fx, va);
	/* The kept directories hold nothing a walk would report. */
	assert_int_equal(pt_dump_walk(fx->t, va, span, &d), 0);
	assert_dump_tiles(&d, va, span);
	for (size_t i = 0; i < d.n; i++)
		assert_true(d.rec[i].hole);
	pt_dump_fini(&d);

	/* Refilling allocates nothing. */
	assert_int_equal(pt_map(fx->t, va + psz, psz, ps, e, 0), 0);
	pt_table_stats(fx->t, &st);
	assert_int_equal(st.allocs, st1.allocs);
	assert_int_equal(pt_unmap(fx->t, va, span, 0), psz);
	assert_pt_check(fx->t);

	/* The owner frees the range: everything under it goes. */
	assert_int_equal(pt_unmap(fx->t, va, span, PT_UNMAP_FREE), 0);
	assert_pt_check(fx->t);
	pt_table_stats(fx->t, &st);
	assert_memory_equal(st.dirs, st0.dirs, sizeof(st.dirs));
	pt_test_stats_settled(fx->t, &st);
	assert_int_equal(st.bytes, st0.bytes);
	assert_int_equal(st.pending, 0);
	assert_int_equal(st.frees, st0.frees + top);

	/* PT_UNMAP_FREE on mapped pages unmaps and frees at once. */
	assert_int_equal(pt_map(fx->t, va, 2 * psz, ps, e, 0), 0);
	assert_int_equal(pt_unmap(fx->t, va, span, PT_UNMAP_FREE), 2 * psz);
	assert_pt_check(fx->t);
	pt_table_stats(fx->t, &st);
	assert_memory_equal(st.dirs, st0.dirs, sizeof(st.dirs));
	hmmsim_barrier();
	pt_table_stats(fx->t, &st);
	assert_int_equal(st.allocs - st.frees, pt_test_dirs(&st));
}

#define PINGPONG_PAGES	48
#define PINGPONG_ROUNDS	16

/* Pages spread over several directories of every level below the top. */
static uint64_t pingpong_va(struct fx *fx, unsigned int i)
{
	uint64_t stride = (UINT64_C(1) << fx->geo->shift[1]) + (UINT64_C(1) << fx->fmt->page_shift);

	if (fx->geo->entries[1] <= 64)
		stride = (UINT64_C(1) << fx->geo->shift[2]) / 3 & ~((UINT64_C(1) << 12) - 1);
	return (UINT64_C(1) << fx->geo->shift[fx->top]) + i * stride;
}

/* One round: map every page (frames change per round), read back, unmap all. */
static void pingpong_round(struct fx *fx, unsigned int round)
{
	unsigned int ps = fx->fmt->page_shift;
	uint64_t psz = UINT64_C(1) << ps, first = pingpong_va(fx, 0);
	uint64_t span = pingpong_va(fx, PINGPONG_PAGES - 1) + psz - first;

	for (unsigned int i = 0; i < PINGPONG_PAGES; i++)
		assert_int_equal(pt_map(fx->t, pingpong_va(fx, i), psz, ps,
					fx_entry(fx, round * 100 + i, fx->fmt->valid), 0), 0);
	for (unsigned int i = 0; i < PINGPONG_PAGES; i++)
		assert_maps(fx, pingpong_va(fx, i), round * 100 + i, fx->fmt->valid, 0);
	assert_int_equal(pt_unmap(fx->t, first, span, 0), PINGPONG_PAGES * psz);
	assert_pt_check(fx->t);
}

void test_reclaim_keep_pingpong(void **state)
{
	struct fx *fx = *state;
	struct pt_stats st1, st;

	pingpong_round(fx, 0);
	pt_table_stats(fx->t, &st1);
	for (unsigned int r = 1; r < PINGPONG_ROUNDS; r++) {
		pingpong_round(fx, r);
		pt_table_stats(fx->t, &st);
		assert_int_equal(st.allocs, st1.allocs);
		assert_int_equal(st.frees, st1.frees);
		assert_memory_equal(st.dirs, st1.dirs, sizeof(st.dirs));
	}
}

/* The same workload under eager reclaim churns: the keep test above can fail. */
void test_reclaim_eager_churns(void **state)
{
	struct fx *fx = *state;
	struct pt_stats st0, st;

	pingpong_round(fx, 0);
	for (unsigned int r = 1; r < 4; r++) {
		pt_table_stats(fx->t, &st0);
		pingpong_round(fx, r);
		pt_table_stats(fx->t, &st);
		assert_true(st.allocs > st0.allocs);
		assert_int_equal(pt_test_dirs(&st), 1);
	}
	assert_drained(fx);
}
