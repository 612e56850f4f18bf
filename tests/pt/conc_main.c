// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * test_pt_concurrency: readers against writers on disjoint ranges that share
 * directories, install and free races, atomic bits against protect. Each
 * phase runs for a bounded time (HMMSIM_TEST_TIME_SCALE scales it).
 */
#include "conc.h"

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_install_race),
		cmocka_unit_test(test_bits_never_lost),
		cmocka_unit_test(test_stress),
	};
	int ret;

	hmmsim_thread_register();
	ret = cmocka_run_group_tests_name("pt_concurrency", tests, NULL, NULL);
	hmmsim_thread_unregister();
	return ret;
}
