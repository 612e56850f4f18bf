// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * gpu_evict: giving device memory back.
 *  - gpu_release() with device pages of a process the device does not
 *    mirror (a fork child's share, its parent gone): they go back to system
 *    memory, by frame, as dmirror's release does; once it said -EBUSY;
 *  - migrate-on-first-touch with the device memory full evicts pages to
 *    make room (the evictions counter), least recently used first by a
 *    second-chance clock: pages the device used since the clock's hand
 *    last passed stay;
 *  - the data survives every move, and the checkers pass after each step.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gpu_test.h"

static int setup(void **state)
{
	gt_setup(NULL);
	return 0;
}

static int teardown(void **state)
{
	gt_teardown();
	return 0;
}

static uint64_t devmem_pages(struct gpu_dev *dev)
{
	struct gpu_stats st;

	gpu_stats(dev, &st);
	return st.devmem_pages;
}

/* Is page @i of [a, ...) in the device's memory (the device's own snapshot)? */
static bool on_device(struct gpu_dev *dev, struct mm_struct *mm, uint64_t a, uint64_t i)
{
	uint32_t f;

	gt_ret(gpu_snapshot(dev, mm, a + i * SZ_4K, SZ_4K, &f, NULL), 0);
	return f & GPU_SNAP_DEV_PRIVATE_LOCAL;
}

/* ------------------------------------------------------------------------ */
/* gpu_release                                                              */
/* ------------------------------------------------------------------------ */

static void release_unmirrored(enum gpu_exec exec, bool thp)
{
	struct gpu_config cfg = gt_config(GPU_FORMAT_GP100);
	const uint64_t len = thp ? SZ_2M : 64 * SZ_4K;
	struct mm_struct *parent, *child;
	struct gpu_result r;
	struct gpu_dev *dev;
	uint64_t a;
	int *buf = malloc(len);

	cfg.exec = exec;
	dev = gt_dev(&cfg);
	parent = gt_proc();
	a = thp ? gt_anon_thp(parent, len) : gt_anon(parent, len);
	gt_fill_ints(parent, a, len, 0);
	gt_ret(gpu_migrate_to_dev(dev, parent, a, len, NULL, &r), 0);
	assert_int_equal(devmem_pages(dev), len >> 12);
	/* The child shares the device pages; the device mirrors the parent only. */
	child = gt_fork(parent);
	gt_check();
	gt_exit(parent);
	assert_int_equal(devmem_pages(dev), len >> 12);
	gt_check();
	/* Released by frame: the child's pages go back to system memory. */
	gt_ret(gpu_release(dev), 0);
	assert_int_equal(devmem_pages(dev), 0);
	gt_check();
	assert_string_equal(gt_snapshot(dev, child, a, len),
			    thp ? "512:READ" : "64:READ");	/* still shared COW: read-only */
	gt_ret(mm_read(child, a, buf, len), 0);
	assert_true(gt_ints_ok(buf, len, 0));
	/* The child writes (a COW of a system page now) and reads it back. */
	gt_fill_ints(child, a, len, 7);
	gt_ret(mm_read(child, a, buf, len), 0);
	assert_true(gt_ints_ok(buf, len, 7));
	gt_ret(gpu_release(dev), 0);	/* nothing left: still 0 */
	gt_check();
	gt_exit(child);
	free(buf);
}

static void test_release_unmirrored(void **state)
{
	release_unmirrored(GPU_EXEC_CLOCK, false);
	release_unmirrored(GPU_EXEC_THREAD, false);
	release_unmirrored(GPU_EXEC_CLOCK, true);
}

/* The device mirrors the parent, not the child: both get their pages back. */
static void test_release_parent_and_child(void **state)
{
	struct gpu_config cfg = gt_config(GPU_FORMAT_X86);
	const uint64_t len = 32 * SZ_4K;
	struct mm_struct *parent, *child;
	struct gpu_result r;
	struct gpu_dev *dev;
	int *buf = malloc(len);
	uint64_t a;

	dev = gt_dev(&cfg);
	parent = gt_proc();
	a = gt_anon(parent, len);
	gt_fill_ints(parent, a, len, 3);
	gt_ret(gpu_migrate_to_dev(dev, parent, a, len, NULL, &r), 0);
	child = gt_fork(parent);
	/*
	 * The device may not write the shared pages (-EFAULT, gpu.h): the
	 * parent's CPU writes half, which brings those back and copies them.
	 */
	gt_ret(gpu_dev_memset(dev, parent, a, len / 2, 0, &r), -EFAULT);
	gt_ret(mm_memset(parent, a, 0, len / 2), 0);
	assert_int_equal(devmem_pages(dev), len / 2 >> 12);
	gt_check();
	gt_ret(gpu_release(dev), 0);
	assert_int_equal(devmem_pages(dev), 0);
	gt_check();
	gt_ret(mm_read(child, a, buf, len), 0);
	assert_true(gt_ints_ok(buf, len, 3));
	gt_ret(mm_read(parent, a + len / 2, buf, len / 2), 0);
	assert_true(gt_ints_ok(buf, len / 2, 3 + (int)(len / 2 / sizeof(int))));
	gt_ret(mm_read(parent, a, buf, len / 2), 0);
	assert_int_equal(buf[0], 0);
	assert_int_equal(buf[len / 2 / sizeof(int) - 1], 0);
	gt_ret(gpu_release(NULL), -EINVAL);
	gt_check();
	free(buf);
}

/* ------------------------------------------------------------------------ */
/* First touch with the memory full                                         */
/* ------------------------------------------------------------------------ */

#define MEM_PAGES	64

static struct gpu_dev *small_dev(void)
{
	struct gpu_config cfg = gt_config(GPU_FORMAT_GP100);

	cfg.migrate = GPU_MIGRATE_FIRST_TOUCH;
	cfg.map = GPU_MAP_PAGE;
	cfg.memory = MEM_PAGES * SZ_4K;
	return gt_dev(&cfg);
}

/* Touching more than the device holds: the later pages evict the earlier ones. */
static void test_first_touch_evicts(void **state)
{
	struct gpu_dev *dev = small_dev();
	struct mm_struct *mm = gt_proc();
	const uint64_t n = 3 * MEM_PAGES;
	uint64_t a = gt_anon(mm, n * SZ_4K), i, sum;
	struct gpu_result r;
	struct gpu_stats st;

	gt_fill_ints(mm, a, n * SZ_4K, 1);
	for (i = 0; i < n; i += MEM_PAGES) {
		gt_ret(gpu_dev_read(dev, mm, a + i * SZ_4K, MEM_PAGES * SZ_4K, NULL, &r), 0);
		/* What was just touched is on the device, in full. */
		assert_true(on_device(dev, mm, a, i));
		assert_true(on_device(dev, mm, a, i + MEM_PAGES - 1));
		gt_check();
	}
	gpu_stats(dev, &st);
	assert_int_equal(st.pages_to_dev, n);
	assert_int_equal(st.evictions, n - MEM_PAGES);
	assert_int_equal(st.pages_to_sys, st.evictions);
	assert_int_equal(st.devmem_pages, MEM_PAGES);
	for (i = 0; i < n - MEM_PAGES; i++)
		assert_false(on_device(dev, mm, a, i));
	/* Every byte where it went: the CPU and the device agree. */
	gt_ret(gpu_dev_read(dev, mm, a, n * SZ_4K, NULL, &r), 0);
	sum = r.sum;
	r.sum = 0;
	gt_ret(mm_read_sum(mm, a, n * SZ_4K, &r.sum), 0);
	assert_int_equal(sum, r.sum);
	gt_check();
}

/*
 * The clock's second chance: of the pages left on the device after an
 * eviction, those the device used since then stay when the next eviction
 * comes; the others go.
 */
static void test_evict_second_chance(void **state)
{
	struct gpu_dev *dev = small_dev();
	struct mm_struct *mm = gt_proc();
	const uint64_t n = 2 * MEM_PAGES;
	uint64_t a = gt_anon(mm, n * SZ_4K), i, kept = 0, used = 0, b1 = MEM_PAGES;
	uint64_t b2 = MEM_PAGES + MEM_PAGES / 2;
	bool touched[MEM_PAGES] = { false };
	struct gpu_result r;
	struct gpu_stats st;
	int *buf;

	gt_fill_ints(mm, a, n * SZ_4K, 0);
	/* A: the device's whole memory. */
	gt_ret(gpu_dev_read(dev, mm, a, MEM_PAGES * SZ_4K, NULL, &r), 0);
	/* B1: half of it evicted (the clock's first turn only clears). */
	gt_ret(gpu_dev_read(dev, mm, a + b1 * SZ_4K, MEM_PAGES / 2 * SZ_4K, NULL, &r), 0);
	gpu_stats(dev, &st);
	assert_int_equal(st.evictions, MEM_PAGES / 2);
	/* The device uses every other page of A still on it. */
	for (i = 0; i < MEM_PAGES; i++) {
		if (!on_device(dev, mm, a, i))
			continue;
		kept++;
		if (kept & 1) {
			gt_ret(gpu_dev_read(dev, mm, a + i * SZ_4K, SZ_4K, NULL, &r), 0);
			touched[i] = true;
			used++;
		}
	}
	assert_int_equal(kept, MEM_PAGES / 2);
	/* B2: as many pages as A has unused ones on the device: those go, the used stay. */
	gt_ret(gpu_dev_read(dev, mm, a + b2 * SZ_4K, (kept - used) * SZ_4K, NULL, &r), 0);
	gpu_stats(dev, &st);
	assert_int_equal(st.evictions, MEM_PAGES / 2 + (kept - used));
	for (i = 0; i < MEM_PAGES; i++) {
		if (touched[i])
			assert_true(on_device(dev, mm, a, i));
		else
			assert_false(on_device(dev, mm, a, i));
	}
	for (i = b1; i < b2 + kept - used; i++)
		assert_true(on_device(dev, mm, a, i));
	gt_check();
	buf = malloc(n * SZ_4K);
	gt_ret(mm_read(mm, a, buf, n * SZ_4K), 0);
	assert_true(gt_ints_ok(buf, n * SZ_4K, 0));
	free(buf);
	gt_check();
}

/* Nothing to evict (the memory full of pages being migrated now): the pages stay. */
static void test_first_touch_nothing_to_evict(void **state)
{
	struct gpu_dev *dev = small_dev();
	struct mm_struct *mm = gt_proc();
	const uint64_t n = 2 * MEM_PAGES;
	uint64_t a = gt_anon(mm, n * SZ_4K);
	struct gpu_result r;
	struct gpu_stats st;

	gt_fill_ints(mm, a, n * SZ_4K, 5);
	/* One run larger than the memory: what does not fit stays in system memory. */
	gt_ret(gpu_dev_read(dev, mm, a, n * SZ_4K, NULL, &r), 0);
	gpu_stats(dev, &st);
	assert_int_equal(st.devmem_pages, MEM_PAGES);
	assert_int_equal(r.cpages, n);
	gt_check();
	gt_ret(mm_read_sum(mm, a, n * SZ_4K, &r.sum), 0);
	gt_check();
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_release_unmirrored),
		T(test_release_parent_and_child),
		T(test_first_touch_evicts),
		T(test_evict_second_chance),
		T(test_first_touch_nothing_to_evict),
	};

	hmmsim_thread_register();
	return cmocka_run_group_tests_name("gpu_evict", tests, NULL, NULL);
}
