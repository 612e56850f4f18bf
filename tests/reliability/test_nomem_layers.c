// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Allocation failure across every layer (issue 7): a workload of CPU
 * operations on a few processes runs once to count its allocations, then
 * again once for every N with the N-th allocation failed. Each operation
 * must succeed or return -ENOMEM (or the error it returns anyway), the
 * checkers must pass after every operation, and at the end every process
 * exits and the system must be destroyable: no folio, file or hugetlb page
 * left behind. ASan adds its own leak check.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <hmmsim/hmmsim.h>

#define SZ_4K	(UINT64_C(1) << 12)
#define SZ_2M	(UINT64_C(1) << 21)

struct world {
	struct mm_system *sys;
	struct mm_struct *p, *c;
	uint64_t a, h, s;	/* anon THP region, hugetlb region, shared region */
	int injected;		/* operations that returned -ENOMEM */
};

static void check(struct world *w, const char *step)
{
	char msg[256];
	int err = mm_system_check(w->sys, msg, sizeof(msg));

	if (err)
		fail_msg("after %s: %s", step, msg);
}

/* An operation's result: success, -ENOMEM, or @allowed (its error without injection). */
static void expect(struct world *w, const char *step, long ret, long allowed)
{
	if (getenv("HMMSIM_TEST_VERBOSE"))
		print_message("# %s: %ld\n", step, ret);
	if (ret == -ENOMEM)
		w->injected++;
	else if (ret < 0 && ret != allowed)
		fail_msg("%s returned %ld", step, ret);
	check(w, step);
}

static void workload(struct world *w)
{
	struct mm_mmap_args anon = {
		.len = 4 * SZ_2M, .prot = MM_PROT_READ | MM_PROT_WRITE,
		.flags = MM_MAP_PRIVATE | MM_MAP_ANONYMOUS,
	};
	struct mm_mmap_args huge = anon, shared = anon;
	uint64_t na, sum;
	int err;

	huge.len = 2 * SZ_2M;
	huge.flags |= MM_MAP_HUGETLB | MM_MAP_HUGE_2MB;
	shared.len = 16 * SZ_4K;
	shared.flags = MM_MAP_SHARED | MM_MAP_ANONYMOUS;

	err = mm_create(w->sys, NULL, &w->p);
	expect(w, "mm_create", err, 0);
	if (err)
		return;
	err = mm_mmap(w->p, &anon, &w->a);
	expect(w, "mmap anon", err, 0);
	if (!err) {
		expect(w, "madvise hugepage", mm_madvise(w->p, w->a, anon.len, MM_MADV_HUGEPAGE), 0);
		expect(w, "write", mm_memset(w->p, w->a, 1, 3 * SZ_2M), 0);
		expect(w, "read", mm_read_sum(w->p, w->a + 3 * SZ_2M, SZ_2M, &sum), 0);
	}
	err = mm_mmap(w->p, &huge, &w->h);
	expect(w, "mmap hugetlb", err, 0);
	if (!err)
		expect(w, "write hugetlb", mm_memset(w->p, w->h, 2, SZ_4K), 0);
	err = mm_mmap(w->p, &shared, &w->s);
	expect(w, "mmap shared", err, 0);
	if (!err)
		expect(w, "write shared", mm_memset(w->p, w->s, 3, 4 * SZ_4K), 0);

	err = mm_fork(w->p, &w->c);
	expect(w, "fork", err, 0);
	if (err)
		w->c = NULL;
	if (w->a) {
		expect(w, "cow in THP", mm_memset(w->p, w->a + SZ_2M + SZ_4K, 4, SZ_4K), 0);
		expect(w, "cow of huge zero", mm_memset(w->p, w->a + 3 * SZ_2M, 5, SZ_4K), 0);
		expect(w, "mprotect part", mm_mprotect(w->p, w->a + 16 * SZ_4K, SZ_4K,
						       MM_PROT_READ), 0);
		expect(w, "dontneed part", mm_madvise(w->p, w->a + 2 * SZ_2M + SZ_4K, 8 * SZ_4K,
						       MM_MADV_DONTNEED), 0);
		expect(w, "munmap part", mm_munmap(w->p, w->a + SZ_2M - 4 * SZ_4K, 8 * SZ_4K), 0);
	}
	if (w->c && w->h)
		expect(w, "hugetlb cow in child", mm_memset(w->c, w->h, 6, SZ_4K), 0);
	if (w->h) {
		err = mm_mremap(w->p, w->h, 2 * SZ_2M, 0, 0, SZ_2M, 0, &na);
		expect(w, "mremap hugetlb", err, 0);
		if (!err)
			w->h = na;
	}
	expect(w, "shrink", mm_system_shrink(w->sys) < 0 ? -EIO : 0, 0);
	if (w->c) {
		mm_exit(w->c);
		w->c = NULL;
		check(w, "child exit");
	}
	mm_exit(w->p);
	w->p = NULL;
	check(w, "exit");
}

static struct mm_system *new_system(void)
{
	struct mm_system_config cfg = { .ram = 64 << 20, .hugetlb_2m = 6 };
	struct mm_system *sys;

	hmmsim_inject_alloc_failure(0);
	assert_int_equal(mm_system_create(&cfg, &sys), 0);
	return sys;
}

static void test_every_allocation(void **state)
{
	struct world w = { 0 };
	uint64_t total, n;
	int failing_runs = 0;

	/* Count the workload's allocation points. */
	w.sys = new_system();
	hmmsim_inject_alloc_failure(0);
	workload(&w);
	total = hmmsim_inject_alloc_failure(0);
	assert_int_equal(w.injected, 0);
	assert_int_equal(mm_system_destroy(w.sys), 0);
	print_message("# the workload makes %" PRIu64 " allocations\n", total);
	assert_true(total > 50);

	n = getenv("HMMSIM_TEST_NTH") ? strtoull(getenv("HMMSIM_TEST_NTH"), NULL, 0) : 1;
	for (; n <= total; n++) {
		memset(&w, 0, sizeof(w));
		w.sys = new_system();
		hmmsim_inject_alloc_failure(n);
		workload(&w);
		hmmsim_inject_alloc_failure(0);
		failing_runs += w.injected > 0;
		/* Everything went back: a leaked folio, file or page makes this -EBUSY. */
		if (mm_system_destroy(w.sys)) {
			struct phys_pool_stats ps;
			struct phys_hugetlb_stats hs;

			phys_pool_stats(mm_system_pool(w.sys), &ps);
			phys_hugetlb_stats(mm_system_hugetlb(w.sys), &hs);
			fail_msg("failing allocation %" PRIu64 ": the system leaked (%" PRIu64
				 " folios live, hugetlb 2M %" PRIu64 " free %" PRIu64
				 " reserved of %" PRIu64 ")", n, ps.live_folios, hs.free[0],
				 hs.reserved[0], hs.total[0]);
		}
	}
	print_message("# %d of %" PRIu64 " runs saw -ENOMEM from an operation\n", failing_runs,
		      total);
	/* The failures that no operation saw were absorbed (a THP fallback, a retry). */
	assert_true(failing_runs > 0);
}

/* mm_system_create itself, failing at each of its own allocations. */
static void test_system_create(void **state)
{
	struct mm_system_config cfg = { .ram = 64 << 20, .hugetlb_2m = 2 };
	struct mm_system *sys;
	uint64_t total, n;

	hmmsim_inject_alloc_failure(0);
	assert_int_equal(mm_system_create(&cfg, &sys), 0);
	total = hmmsim_inject_alloc_failure(0);
	assert_int_equal(mm_system_destroy(sys), 0);
	n = getenv("HMMSIM_TEST_NTH") ? strtoull(getenv("HMMSIM_TEST_NTH"), NULL, 0) : 1;
	for (; n <= total; n++) {
		hmmsim_inject_alloc_failure(n);
		assert_int_equal(mm_system_create(&cfg, &sys), -ENOMEM);
		hmmsim_inject_alloc_failure(0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_system_create),
		cmocka_unit_test(test_every_allocation),
	};
	int ret;

	hmmsim_thread_register();
	ret = cmocka_run_group_tests_name("nomem_layers", tests, NULL, NULL);
	hmmsim_barrier();
	hmmsim_thread_unregister();
	return ret;
}
