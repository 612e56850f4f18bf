/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Helpers shared by the phys test suites: pools made in one call, the
 * invariant checkers run after each step with their own words on failure,
 * and snapshots of a pool's counters to show that a refused call changed
 * nothing.
 */
#ifndef HMMSIM_TESTS_PHYS_TEST_H
#define HMMSIM_TESTS_PHYS_TEST_H

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <hmmsim/base.h>
#include <hmmsim/phys.h>

#define SZ_4K	(UINT64_C(1) << 12)
#define SZ_2M	(UINT64_C(1) << 21)
#define SZ_1G	(UINT64_C(1) << 30)
#define FRAMES_1G	(UINT64_C(1) << 18)

/* Fail the running test with phys_pool_check()'s own words when @p breaks an invariant. */
#define assert_pool_check(p) phys_test_pool_check((p), __FILE__, __LINE__)

static inline void phys_test_pool_check(struct phys_pool *pool, const char *file, int line)
{
	char msg[256] = "";
	int ret = phys_pool_check(pool, msg, sizeof(msg));

	if (ret) {
		print_error("phys_pool_check: %d: %s\n", ret, msg);
		_fail(file, line);
	}
}

#define assert_folio_check(f) phys_test_folio_check((f), __FILE__, __LINE__)

static inline void phys_test_folio_check(struct folio *f, const char *file, int line)
{
	char msg[256] = "";
	int ret = folio_check(f, msg, sizeof(msg));

	if (ret) {
		print_error("folio_check: %d: %s\n", ret, msg);
		_fail(file, line);
	}
}

#define assert_file_check(f) phys_test_file_check((f), __FILE__, __LINE__)

static inline void phys_test_file_check(struct phys_file *f, const char *file, int line)
{
	char msg[256] = "";
	int ret = phys_file_check(f, msg, sizeof(msg));

	if (ret) {
		print_error("phys_file_check: %d: %s\n", ret, msg);
		_fail(file, line);
	}
}

/* A pool of @nr frames of @kind with @flags, at an automatic pfn, or fail the test. */
static inline struct phys_pool *make_pool_cfg(struct phys_pool_config *cfg)
{
	struct phys_pool *pool = NULL;
	int ret = phys_pool_create(cfg, &pool);

	assert_int_equal(ret, 0);
	assert_non_null(pool);
	assert_pool_check(pool);
	return pool;
}

static inline struct phys_pool *make_pool(enum phys_kind kind, uint64_t nr, unsigned int flags)
{
	struct phys_pool_config cfg = {
		.kind = kind,
		.nr_frames = nr,
		.first_pfn = PHYS_PFN_AUTO,
		.flags = flags,
	};

	return make_pool_cfg(&cfg);
}

/* Check, then destroy, or fail the test. */
#define destroy_pool(p) do {					\
	assert_pool_check(p);					\
	assert_int_equal(phys_pool_destroy(p), 0);		\
} while (0)

/* Counters equal to a snapshot: proof that a refused call changed nothing. */
static inline void assert_stats_equal(const struct phys_pool_stats *a,
				      const struct phys_pool_stats *b)
{
	assert_memory_equal(a, b, sizeof(*a));
}

static inline struct phys_pool_stats pool_stats(struct phys_pool *pool)
{
	struct phys_pool_stats st;

	memset(&st, 0, sizeof(st));
	phys_pool_stats(pool, &st);
	return st;
}

/* Allocate or fail the test, then check the pool. */
static inline struct folio *alloc_ok(struct phys_pool *pool, unsigned int order,
				     unsigned int flags)
{
	struct folio *f = folio_alloc(pool, order, flags);

	assert_non_null(f);
	assert_int_equal(folio_order(f), order);
	assert_true(folio_pfn(f) % (UINT64_C(1) << order) == 0);
	assert_pool_check(pool);
	return f;
}

/* Drop the last reference (the folio is freed) and check. */
#define put_last(pool, f) do {					\
	assert_int_equal(folio_put(f), 1);			\
	assert_pool_check(pool);				\
} while (0)

#endif /* HMMSIM_TESTS_PHYS_TEST_H */
