// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * gpu_migrate: the migration commands give what the kernel's test device
 * gives for the same sequence (hmm-tests.c, linux-hmm.md §5.6): cpages,
 * -ENOENT when migrating shared memory (or another device's page), -EINVAL
 * for a range with holes or without read permission; CPU faults, pins and
 * COW bring pages back; release evicts everything; THPs, fallbacks after a
 * failed large allocation, partial unmaps and mremap; coherent memory.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gpu_test.h"

#define NPAGES		(HMM_BUFFER_SIZE >> 12)

static struct gpu_dev *dev0, *dev1;
static struct mm_struct *mm;

static int setup(void **state)
{
	struct mm_system_config sc = { .hugetlb_2m = 4 };
	struct gpu_config c0 = gt_config(GPU_FORMAT_GP100), c1 = c0;

	gt_setup(&sc);
	c0.name = "gpu0";
	c1.name = "gpu1";
	dev0 = gt_dev(&c0);
	dev1 = gt_dev(&c1);
	mm = gt_proc();
	return 0;
}

static int teardown(void **state)
{
	gt_teardown();
	return 0;
}


static void test_migrate(void **state)
{
	uint64_t len = HMM_BUFFER_SIZE, a = gt_anon(mm, len);
	int *m = gt_buf(len, 0);
	struct gpu_result r;

	gt_fill_ints(mm, a, len, 0);
	gt_ret(gpu_migrate_to_dev(dev0, mm, a, len, m, &r), 0);
	assert_int_equal(r.cpages, NPAGES);
	assert_true(gt_ints_ok(m, len, 0));
	assert_string_equal(gt_snapshot(dev0, mm, a, len), "1024:WRITE|DEV_PRIVATE_LOCAL");
	gt_check();
	free(m);
}

static void test_migrate_file_private(void **state)
{
	uint64_t len = HMM_BUFFER_SIZE, a;
	struct phys_file *f;
	int *m = gt_buf(len, 0);
	struct gpu_result r;

	gt_ret(phys_file_create(mm_system_pool(gt.sys), len, &f), 0);
	a = gt_map_file(mm, f, len, RW, MM_MAP_PRIVATE);
	phys_file_put(f);
	gt_fill_ints(mm, a, len, 0);
	gt_ret(gpu_migrate_to_dev(dev0, mm, a, len, m, &r), 0);
	assert_int_equal(r.cpages, NPAGES);
	assert_true(gt_ints_ok(m, len, 0));
	gt_check();
	free(m);
}

static void test_migrate_fault(void **state)
{
	uint64_t len = HMM_BUFFER_SIZE, a = gt_anon(mm, len);
	int *m = gt_buf(len, 0);
	struct gpu_result r;
	struct gpu_stats st;

	gt_fill_ints(mm, a, len, 0);
	gt_ret(gpu_migrate_to_dev(dev0, mm, a, len, m, &r), 0);
	assert_int_equal(r.cpages, NPAGES);
	gt_ret(mm_read(mm, a, m, len / 2), 0);
	assert_true(gt_ints_ok(m, len / 2, 0));
	gpu_stats(dev0, &st);
	assert_int_equal(st.migrate_to_ram, NPAGES / 2);
	gt_check();
	gt_ret(gpu_migrate_to_dev(dev0, mm, a, len, m, &r), 0);
	assert_int_equal(r.cpages, NPAGES);
	assert_true(gt_ints_ok(m, len, 0));
	gt_check();
	free(m);
}

static void test_migrate_release(void **state)
{
	uint64_t len = HMM_BUFFER_SIZE, a = gt_anon(mm, len);
	int *m = gt_buf(len, 0);
	struct gpu_result r;
	struct gpu_stats st;

	gt_fill_ints(mm, a, len, 0);
	gt_ret(gpu_migrate_to_dev(dev0, mm, a, len, m, &r), 0);
	assert_int_equal(r.cpages, NPAGES);
	gt_ret(gpu_release(dev0), 0);
	gpu_stats(dev0, &st);
	assert_int_equal(st.devmem_pages, 0);
	assert_int_equal(st.pages_to_sys, NPAGES);
	assert_string_equal(gt_snapshot(dev0, mm, a, len), "1024:WRITE");
	gt_ret(mm_read(mm, a, m, len), 0);
	assert_true(gt_ints_ok(m, len, 0));
	gt_check();
	free(m);
}

static void test_migrate_shared(void **state)
{
	uint64_t len = HMM_BUFFER_SIZE, a = gt_mmap(mm, len, RW, SHARED_ANON, 0, 0);

	gt_ret(gpu_migrate_to_dev(dev0, mm, a, len, NULL, NULL), -ENOENT);
	gt_check();
}

static void test_migrate_mixed(void **state)
{
	uint64_t a = gt_mmap(mm, 6 * SZ_4K, MM_PROT_NONE, ANON, 0, 0);
	struct gpu_result r;
	int val = 3;

	gt_ret(gpu_migrate_to_dev(dev1, mm, a, 6 * SZ_4K, NULL, NULL), -EINVAL);
	gt_ret(mm_munmap(mm, a + SZ_4K, SZ_4K), 0);
	gt_ret(gpu_migrate_to_dev(dev1, mm, a, 3 * SZ_4K, NULL, NULL), -EINVAL);
	/* Page 2: the zero page, read-only. Page 3: data, read-only. Pages 4-5: data. */
	gt_ret(mm_mprotect(mm, a + 2 * SZ_4K, SZ_4K, MM_PROT_READ), 0);
	gt_ret(mm_read(mm, a + 2 * SZ_4K, &val, 1), 0);
	gt_ret(mm_mprotect(mm, a + 3 * SZ_4K, SZ_4K, RW), 0);
	gt_ret(mm_write(mm, a + 3 * SZ_4K, &val, sizeof(val)), 0);
	gt_ret(mm_mprotect(mm, a + 3 * SZ_4K, SZ_4K, MM_PROT_READ), 0);
	gt_ret(mm_mprotect(mm, a + 4 * SZ_4K, 2 * SZ_4K, RW), 0);
	gt_ret(mm_write(mm, a + 4 * SZ_4K, &val, sizeof(val)), 0);
	gt_ret(mm_write(mm, a + 5 * SZ_4K, &val, sizeof(val)), 0);
	gt_ret(gpu_migrate_to_dev(dev1, mm, a + 2 * SZ_4K, 4 * SZ_4K, NULL, &r), 0);
	assert_int_equal(r.cpages, 4);
	gt_check();
	/* Page 5 lives on device 1: device 0 cannot take it. */
	gt_ret(gpu_migrate_to_dev(dev0, mm, a + 5 * SZ_4K, SZ_4K, NULL, NULL), -ENOENT);
	gt_check();
}

static void test_migrate_multiple(void **state)
{
	uint64_t len = HMM_BUFFER_SIZE, a;
	int *m = gt_buf(len, 0);
	struct gpu_result r;
	int c;

	for (c = 0; c < 10; c++) {
		a = gt_anon(mm, len);
		gt_fill_ints(mm, a, len, c);
		gt_ret(gpu_migrate_to_dev(dev0, mm, a, len, m, &r), 0);
		assert_int_equal(r.cpages, NPAGES);
		assert_true(gt_ints_ok(m, len, c));
		gt_ret(mm_read(mm, a, m, len), 0);
		assert_true(gt_ints_ok(m, len, c));
		gt_ret(mm_munmap(mm, a, len), 0);
	}
	gt_check();
	free(m);
}

static void test_gup(void **state)
{
	uint64_t len = 4 * SZ_4K, a = gt_anon(mm, len);
	static const unsigned int flags[4] = { 0, 0, FOLL_LONGTERM, FOLL_LONGTERM };
	int *m = gt_buf(len, 0);
	struct gpu_result r;
	struct folio *f;
	int i;

	gt_fill_ints(mm, a, len, 0);
	gt_ret(gpu_migrate_to_dev(dev0, mm, a, len, m, &r), 0);
	assert_int_equal(r.cpages, 4);
	for (i = 0; i < 4; i++) {
		gt_ret(pin_user_pages(mm, a + i * SZ_4K, 1, FOLL_WRITE | flags[i], &f), 1);
		unpin_user_pages(&f, 1);
	}
	assert_string_equal(gt_snapshot(dev0, mm, a, len), "4:WRITE");
	gt_ret(mm_read(mm, a, m, len), 0);
	assert_true(gt_ints_ok(m, len, 0));
	gt_check();
	free(m);
}

static void test_cow_in_device(void **state)
{
	uint64_t len = 4 * SZ_4K, a = gt_anon(mm, len);
	struct mm_struct *child;
	struct gpu_result r;

	gt_fill_ints(mm, a, len, 0);
	gt_ret(gpu_migrate_to_dev(dev0, mm, a, len, NULL, &r), 0);
	assert_int_equal(r.cpages, 4);
	child = gt_fork(mm);
	gt_fill_ints(mm, a, len, 0);
	gt_exit(child);
	assert_string_equal(gt_snapshot(dev0, mm, a, len), "4:WRITE");
	gt_check();
}

static void test_write_own_cow_page(void **state)
{
	uint64_t len = 4 * SZ_4K, a = gt_anon(mm, len);
	struct mm_struct *child;
	struct gpu_result r;

	gt_fill_ints(mm, a, len, 0);
	gt_ret(gpu_migrate_to_dev(dev0, mm, a, len, NULL, &r), 0);
	child = gt_fork(mm);
	assert_string_equal(gt_snapshot(dev0, mm, a, len), "4:READ|DEV_PRIVATE_LOCAL");
	gt_ret(gpu_dev_memset(dev0, mm, a, len, 7, &r), -EFAULT);
	/* Reading is fine. */
	gt_ret(gpu_dev_read(dev0, mm, a, len, NULL, &r), 0);
	gt_check();
	gt_exit(child);
	gt_check();
}

static void test_migrate_anon_huge_empty(void **state)
{
	uint64_t len = SZ_2M, a = gt_mmap(mm, len, MM_PROT_READ, ANON, SZ_2M, 0);
	int *m = gt_buf(len, 0xff);
	struct gpu_result r;
	uint64_t i;

	gt_ret(mm_madvise(mm, a, len, MM_MADV_HUGEPAGE), 0);
	gt_ret(gpu_migrate_to_dev(dev0, mm, a, len, m, &r), 0);
	assert_int_equal(r.cpages, len >> 12);
	for (i = 0; i < len / sizeof(int); i++)
		assert_int_equal(m[i], 0);
	gt_check();
	free(m);
}

static void test_migrate_anon_huge_zero(void **state)
{
	uint64_t len = SZ_2M, a = gt_mmap(mm, len, MM_PROT_READ, ANON, SZ_2M, 0);
	int *m = gt_buf(len, 0xff);
	struct gpu_result r;
	uint64_t i;

	gt_ret(mm_madvise(mm, a, len, MM_MADV_HUGEPAGE), 0);
	gt_ret(mm_read(mm, a, m, 1), 0);	/* the huge zero page */
	assert_string_equal(gt_snapshot(dev0, mm, a, len), "512:READ|PMD");
	gt_ret(gpu_migrate_to_dev(dev0, mm, a, len, m, &r), 0);
	assert_int_equal(r.cpages, len >> 12);
	for (i = 0; i < len / sizeof(int); i++)
		assert_int_equal(m[i], 0);
	gt_check();
	memset(m, 0xff, len);
	gt_ret(mm_read(mm, a, m, len), 0);
	for (i = 0; i < len / sizeof(int); i++)
		assert_int_equal(m[i], 0);
	gt_check();
	free(m);
}

static void test_migrate_anon_huge_free(void **state)
{
	uint64_t len = SZ_2M, a = gt_anon_thp(mm, len);
	int *m = gt_buf(len, 0);
	struct gpu_result r;

	gt_fill_ints(mm, a, len, 0);
	gt_ret(gpu_migrate_to_dev(dev0, mm, a, len, m, &r), 0);
	assert_int_equal(r.cpages, len >> 12);
	assert_true(gt_ints_ok(m, len, 0));
	gt_ret(mm_madvise(mm, a, len, MM_MADV_FREE), 0);
	gt_check();
	free(m);
}

static void test_migrate_anon_huge_fault(void **state)
{
	uint64_t len = SZ_2M, a = gt_anon_thp(mm, len);
	int *m = gt_buf(len, 0);
	struct gpu_result r;

	gt_fill_ints(mm, a, len, 0);
	gt_ret(gpu_migrate_to_dev(dev0, mm, a, len, m, &r), 0);
	assert_int_equal(r.cpages, len >> 12);
	assert_true(gt_ints_ok(m, len, 0));
	/*
	 * The kernel from 6.19 keeps the THP whole on the device: the GPU asks
	 * for SELECT_COMPOUND, and the CPU maps the 2 MiB device folio with a
	 * device-private PMD, which hmm_range_fault reports with order 9.
	 */
	assert_string_equal(gt_snapshot(dev0, mm, a, len), "512:WRITE|PMD|DEV_PRIVATE_LOCAL");
	gt_ret(mm_read(mm, a, m, len), 0);
	assert_true(gt_ints_ok(m, len, 0));
	gt_check();
	free(m);
}

static void test_migrate_partial_unmap_fault(void **state)
{
	uint64_t len = SZ_2M, offsets[3] = { 0, SZ_2M / 4, SZ_2M / 2 }, i;
	int *m = gt_buf(len, 0);
	struct gpu_result r;
	int thp, j;

	for (thp = 0; thp < 2; thp++) {
		for (j = 0; j < 3; j++) {
			uint64_t a = gt_mmap(mm, len, RW, ANON, SZ_2M, 0);

			gt_ret(mm_madvise(mm, a, len, thp ? MM_MADV_HUGEPAGE : MM_MADV_NOHUGEPAGE),
			       0);
			gt_fill_ints(mm, a, len, 0);
			gt_ret(gpu_migrate_to_dev(dev0, mm, a, len, m, &r), 0);
			assert_int_equal(r.cpages, len >> 12);
			assert_true(gt_ints_ok(m, len, 0));
			gt_ret(mm_munmap(mm, a + offsets[j], len / 2), 0);
			gt_check();
			gt_ret(mm_read(mm, a, m, len), -EFAULT);
			for (i = 0; i < len; i += SZ_4K) {
				int v;

				if (i >= offsets[j] && i < offsets[j] + len / 2)
					continue;
				gt_ret(mm_read(mm, a + i, &v, sizeof(v)), 0);
				assert_int_equal(v, (int)(i / sizeof(int)));
			}
			gt_ret(mm_munmap(mm, a, len), 0);
			gt_check();
		}
	}
	free(m);
}

static void test_migrate_remap_fault(void **state)
{
	uint64_t len = SZ_2M, offsets[3] = { 0, SZ_2M / 4, SZ_2M / 2 };
	int *m = gt_buf(len, 0);
	struct gpu_result r;
	int before, thp, j;

	for (before = 0; before < 2; before++) {
		for (thp = 0; thp < 2; thp++) {
			for (j = 0; j < 3; j++) {
				uint64_t a = gt_mmap(mm, 4 * len, RW, ANON, SZ_2M, 0), b, n;

				gt_ret(mm_munmap(mm, a + len, 3 * len), 0);
				gt_ret(mm_madvise(mm, a, len, thp ? MM_MADV_HUGEPAGE :
								   MM_MADV_NOHUGEPAGE), 0);
				gt_fill_ints(mm, a, len, 0);
				b = a;
				if (before) {
					gt_ret(mm_mremap(mm, a, len, MM_MAP_FIXED,
							 a + len + offsets[j], 0, 0, &n), 0);
					b = n;
				}
				gt_ret(gpu_migrate_to_dev(dev0, mm, b, len, m, &r), 0);
				assert_int_equal(r.cpages, len >> 12);
				assert_true(gt_ints_ok(m, len, 0));
				if (!before) {
					gt_ret(mm_mremap(mm, a, len, MM_MAP_FIXED,
							 a + len + offsets[j], 0, 0, &n), 0);
					b = n;
				}
				gt_check();
				gt_ret(mm_read(mm, b, m, len), 0);
				assert_true(gt_ints_ok(m, len, 0));
				gt_ret(mm_munmap(mm, b, len), 0);
				gt_check();
			}
		}
	}
	free(m);
}

static void test_migrate_alloc_err(void **state)
{
	uint64_t len = SZ_2M, a = gt_anon_thp(mm, len);
	int *m = gt_buf(len, 0), v;
	struct gpu_result r;

	gt_fill_ints(mm, a, len, 0);
	gpu_fail_alloc(dev0, 1);
	gt_ret(gpu_migrate_to_dev(dev0, mm, a, len, m, &r), 0);
	assert_int_equal(r.cpages, len >> 12);
	assert_true(gt_ints_ok(m, len, 0));
	gt_ret(mm_read(mm, a + 2048 * sizeof(int), &v, sizeof(v)), 0);
	assert_int_equal(v, 2048);
	gpu_fail_alloc(dev0, 1);
	gt_ret(gpu_migrate_to_sys(dev0, mm, a, len, &r), 0);
	assert_int_equal(r.cpages, len / SZ_4K - 1);
	gt_ret(mm_read(mm, a, m, len), 0);
	assert_true(gt_ints_ok(m, len, 0));
	gpu_fail_alloc(dev0, 0);
	gt_check();
	free(m);
}

static void test_coherent(void **state)
{
	struct gpu_config cc = gt_config(GPU_FORMAT_GP100);
	struct gpu_dev *c0, *c1;
	uint64_t len = 8 * SZ_4K, a = gt_anon(mm, len);
	int *m = gt_buf(len, 0);
	struct gpu_result r;
	struct gpu_stats st;

	cc.memory_type = HMM_DEVMEM_COHERENT;
	c0 = gt_dev(&cc);
	c1 = gt_dev(&cc);
	gt_fill_ints(mm, a, len, 0);
	gt_ret(gpu_migrate_to_dev(c0, mm, a, len / 2, m, &r), 0);
	assert_int_equal(r.cpages, 4);
	assert_true(gt_ints_ok(m, len / 2, 0));
	gt_ret(gpu_migrate_to_dev(c1, mm, a + len / 2, len / 2, NULL, &r), 0);
	assert_string_equal(gt_snapshot(c0, mm, a, len),
			    "4:WRITE|DEV_COHERENT_LOCAL,4:WRITE|DEV_COHERENT_REMOTE");
	/* The CPU reads in place: nothing comes back. */
	gt_ret(mm_read(mm, a, m, len), 0);
	assert_true(gt_ints_ok(m, len, 0));
	gpu_stats(c0, &st);
	assert_int_equal(st.migrate_to_ram, 0);
	assert_int_equal(st.devmem_pages, 4);
	/* Device 0 reads device 1's memory where it is. */
	gt_ret(gpu_dev_read(c0, mm, a, len, m, &r), 0);
	assert_true(gt_ints_ok(m, len, 0));
	gt_check();
	gt_ret(gpu_migrate_to_sys(c0, mm, a, len, &r), 0);
	assert_int_equal(r.cpages, 4);
	gt_ret(gpu_migrate_to_sys(c1, mm, a, len, &r), 0);
	assert_int_equal(r.cpages, 4);
	assert_string_equal(gt_snapshot(c0, mm, a, len), "8:WRITE");
	gt_check();
	free(m);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_migrate),
		T(test_migrate_file_private),
		T(test_migrate_fault),
		T(test_migrate_release),
		T(test_migrate_shared),
		T(test_migrate_mixed),
		T(test_migrate_multiple),
		T(test_gup),
		T(test_cow_in_device),
		T(test_write_own_cow_page),
		T(test_migrate_anon_huge_empty),
		T(test_migrate_anon_huge_zero),
		T(test_migrate_anon_huge_free),
		T(test_migrate_anon_huge_fault),
		T(test_migrate_partial_unmap_fault),
		T(test_migrate_remap_fault),
		T(test_migrate_alloc_err),
		T(test_coherent),
	};

	hmmsim_thread_register();
	return cmocka_run_group_tests_name("gpu_migrate", tests, NULL, NULL);
}
