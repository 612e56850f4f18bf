// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * test_pt_basic: the pt API one call at a time, on every built-in format and
 * both reclaim policies, with pt_check() after each step.
 */
#include "basic.h"

int main(void)
{
	const struct CMUnitTest tests[] = {
		FX_CASES_BOTH(test_map_every_size),
		FX_CASES(test_map_top_of_space),
		FX_CASES(test_lookup_range),
		FX_CASES(test_map_bad_input),
		FX_CASES_BOTH(test_map_exists),
		FX_CASES_BOTH(test_map_remap),
		FX_CASES_BOTH(test_map_over_empty_tables),

		FX_CASES_BOTH(test_unmap_partial),
		FX_CASES(test_unmap_straddle),
		FX_CASES(test_unmap_neighbour),
		FX_CASES_BOTH(test_unmap_bytes),
		FX_CASES(test_unmap_bad_input),

		FX_CASES(test_protect_bits),
		FX_CASES_BOTH(test_protect_split),
		FX_CASES(test_protect_bad_input),
		FX_CASES(test_test_and_bits),
		FX_CASES(test_test_and_bits_large),

		FX_CASES_BOTH(test_split_collapse_roundtrip),
		FX_CASE(test_split_contig, &pt_format_tiny, PT_RECLAIM_EAGER, "tiny"),
		FX_CASES(test_split_bad_input),
		FX_CASES_BOTH(test_collapse_built),
		FX_CASES(test_collapse_ors_ad),
		FX_CASES_BOTH(test_collapse_refuses),

		FX_CASES_BOTH(test_special_map_lookup),
		FX_CASES_BOTH(test_special_keeps_dir),
		FX_CASES_BOTH(test_special_large),
		FX_CASES(test_special_ops),

		FX_CASES(test_reclaim_eager),
		FX_CASE(test_reclaim_keep, &pt_format_x86_64_4l, PT_RECLAIM_KEEP, "x86-4l-keep"),
		FX_CASE(test_reclaim_keep, &pt_format_x86_64_5l, PT_RECLAIM_KEEP, "x86-5l-keep"),
		FX_CASE(test_reclaim_keep, &pt_format_tiny, PT_RECLAIM_KEEP, "tiny-keep"),
		FX_CASE(test_reclaim_keep_pingpong, &pt_format_x86_64_4l, PT_RECLAIM_KEEP,
			"x86-4l-keep"),
		FX_CASE(test_reclaim_keep_pingpong, &pt_format_tiny, PT_RECLAIM_KEEP, "tiny-keep"),
		FX_CASE(test_reclaim_eager_churns, &pt_format_x86_64_4l, PT_RECLAIM_EAGER,
			"x86-4l"),
		FX_CASE(test_reclaim_eager_churns, &pt_format_tiny, PT_RECLAIM_EAGER, "tiny"),

		FX_CASES_BOTH(test_walk_every_size),
		FX_CASES(test_walk_hole_levels),
		FX_CASES(test_walk_clipped),
		FX_CASES(test_walk_stop),
		FX_CASES(test_walk_bad_input),
		FX_CASES(test_iter_matches_walk),
		FX_CASES(test_walk_mixed),
	};
	int ret;

	hmmsim_thread_register();
	ret = cmocka_run_group_tests_name("pt_basic", tests, NULL, NULL);
	hmmsim_thread_unregister();
	return ret;
}
