// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * gpu_races: interleavings the soak once hit by chance, made to happen on
 * purpose through the driver's test hooks (src/gpu/internal.h, reachable
 * because the tests link the static library). Each test arms a hook that
 * runs in the middle of one operation, does there what another thread would
 * have done at that moment, and then checks the data and the checkers:
 *  - a folio split (the deferred-split shrinker) between a device access's
 *    lookup of the frame and its use of the bytes: the access must still
 *    reach the frame (it once dropped a memset and read zeros);
 *  - a device fault whose hmm_range_fault() saw the zero page after its own
 *    device's migration had cleared the mirror but before that migration
 *    replaced the zero page by device memory (notifying only itself): the
 *    fault must not map the zero page over the device page once the
 *    migration is done (it once did; gpu_check() saw the stale entry).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "gpu_test.h"

#include "gpu/internal.h"

/* The hooks' state: what they wait for and what they act on. */
static struct {
	atomic_int stage;		/* see each test */
	atomic_int acted;
	uint64_t addr, pfn;
	struct mm_system *sys;
} hk;

/* The thread that plays the other side in a two-thread test. */
static _Thread_local bool other_side;

/* Wait (at most 10 s) until hk.stage reaches @stage; false on timeout. */
static bool wait_stage(int stage)
{
	struct timespec t = { 0, 100 * 1000 };
	long i;

	for (i = 0; i < 100000; i++) {
		if (atomic_load(&hk.stage) >= stage)
			return true;
		nanosleep(&t, NULL);
	}
	return false;
}

static void hooks_reset(gpu_hook_fn *fn)
{
	atomic_store(&hk.stage, 0);
	atomic_store(&hk.acted, 0);
	__atomic_store_n(&gpu_test_hook, fn, __ATOMIC_RELEASE);
}

/* ------------------------------------------------------------------------ */
/* A folio split under a device access                                      */
/* ------------------------------------------------------------------------ */

/* At the access of hk.pfn, once: the shrinker splits the folio holding it. */
static void split_hook(enum gpu_hook_point point, struct gpu_dev *dev, uint64_t arg)
{
	(void)dev;
	if (point != GPU_HOOK_ACCESS_FRAME || arg != hk.pfn || atomic_exchange(&hk.acted, 1))
		return;
	atomic_store(&hk.stage, (int)mm_system_shrink(hk.sys));
}

static void split_under_access(enum gpu_format format)
{
	struct gpu_config cfg = gt_config(format);
	struct gpu_mapping map;
	struct gpu_result r;
	struct mm_struct *mm;
	struct gpu_dev *dev;
	uint8_t got[SZ_4K];
	uint64_t a, page = 5;
	unsigned int i;

	cfg.size = GPU_SIZE_4K;		/* 4K leaves into the large folio */
	dev = gt_dev(&cfg);
	mm = gt_proc();
	a = gt_anon_thp(mm, SZ_2M);
	gt_ret(mm_memset(mm, a, 1, SZ_2M), 0);
	assert_string_equal(gt_snapshot(dev, mm, a, SZ_4K), "1:WRITE|PMD");
	/* PTE-map the THP (an mprotect edge), then unmap its last page: queued for a split. */
	gt_ret(mm_mprotect(mm, a, SZ_4K, MM_PROT_READ), 0);
	gt_ret(mm_mprotect(mm, a, SZ_4K, RW), 0);
	gt_ret(mm_madvise(mm, a + SZ_2M - SZ_4K, SZ_4K, MM_MADV_DONTNEED), 0);
	gt_check();
	/* The device maps the page (4K) and its TLB has it. */
	gt_ret(gpu_dev_read(dev, mm, a + page * SZ_4K, SZ_4K, got, &r), 0);
	gt_ret(gpu_lookup(dev, mm, a + page * SZ_4K, &map), 0);
	assert_int_equal(map.shift, 12);
	assert_true(map.write);
	hk.pfn = map.pfn;
	hk.sys = gt.sys;

	/* A device memset whose access meets the split: its bytes must land. */
	hooks_reset(split_hook);
	gt_ret(gpu_dev_memset(dev, mm, a + page * SZ_4K, SZ_4K, 0x77, &r), 0);
	__atomic_store_n(&gpu_test_hook, NULL, __ATOMIC_RELEASE);
	assert_int_equal(atomic_load(&hk.acted), 1);
	assert_int_equal(atomic_load(&hk.stage), 1);	/* the shrinker did split it */
	gt_ret(mm_read(mm, a + page * SZ_4K, got, SZ_4K), 0);
	for (i = 0; i < SZ_4K; i++)
		assert_int_equal(got[i], 0x77);

	gt_check();
	gt_exit(mm);
}

static void test_split_under_access(void **state)
{
	gt_setup(NULL);
	split_under_access(GPU_FORMAT_GP100);
	split_under_access(GPU_FORMAT_X86);
	gt_teardown();
}

/* A read meeting a split of a folio that is still large: zeros once came back. */
static void test_split_under_read(void **state)
{
	struct gpu_config cfg = gt_config(GPU_FORMAT_GP100);
	struct gpu_mapping map;
	struct gpu_result r;
	struct mm_struct *mm;
	struct gpu_dev *dev;
	uint8_t got[SZ_4K];
	uint64_t a, va;
	unsigned int i;

	gt_setup(NULL);
	cfg.size = GPU_SIZE_4K;
	dev = gt_dev(&cfg);
	mm = gt_proc();
	a = gt_anon_thp(mm, SZ_2M);
	gt_ret(mm_memset(mm, a, 3, SZ_2M), 0);
	gt_ret(mm_mprotect(mm, a, SZ_4K, MM_PROT_READ), 0);
	gt_ret(mm_mprotect(mm, a, SZ_4K, RW), 0);
	gt_ret(mm_madvise(mm, a + SZ_2M - SZ_4K, SZ_4K, MM_MADV_DONTNEED), 0);
	va = a + 300 * SZ_4K;
	gt_ret(gpu_dev_read(dev, mm, va, SZ_4K, NULL, &r), 0);
	gt_ret(gpu_lookup(dev, mm, va, &map), 0);
	hk.pfn = map.pfn;
	hk.sys = gt.sys;
	hooks_reset(split_hook);
	memset(got, 0, sizeof(got));
	gt_ret(gpu_dev_read(dev, mm, va, SZ_4K, got, &r), 0);
	__atomic_store_n(&gpu_test_hook, NULL, __ATOMIC_RELEASE);
	assert_int_equal(atomic_load(&hk.stage), 1);
	assert_int_equal(r.sum, 3 * SZ_4K);
	for (i = 0; i < SZ_4K; i++)
		assert_int_equal(got[i], 3);
	gt_check();
	gt_teardown();
}

/* ------------------------------------------------------------------------ */
/* A fault that saw the zero page a migration is replacing                  */
/* ------------------------------------------------------------------------ */

/*
 * Stages: 0 armed; 1 the migration cleared the mirror (the reader may go);
 * 2 the reader's hmm_range_fault() saw the zero page (the migration may
 * go on); 3 the migration is done (the reader may commit).
 */
static void zero_hook(enum gpu_hook_point point, struct gpu_dev *dev, uint64_t arg)
{
	(void)dev;
	if (point == GPU_HOOK_MIGRATE_CLEARED && !other_side && arg == hk.addr &&
	    atomic_load(&hk.stage) == 0) {
		atomic_store(&hk.stage, 1);
		if (!wait_stage(2))
			atomic_store(&hk.acted, -1);
	} else if (point == GPU_HOOK_RANGE_FAULTED && other_side && arg == hk.addr &&
		   atomic_load(&hk.stage) == 1) {
		atomic_store(&hk.acted, 1);
		atomic_store(&hk.stage, 2);
		if (!wait_stage(3))
			atomic_store(&hk.acted, -1);
	}
}

struct reader {
	struct gpu_dev *dev;
	struct mm_struct *mm;
	uint64_t addr, len;
	int err;
	uint64_t sum;
};

static void *zero_reader(void *arg)
{
	struct reader *rd = arg;
	struct gpu_result r = { 0 };

	hmmsim_thread_register();
	other_side = true;
	if (wait_stage(1))
		rd->err = gpu_dev_read(rd->dev, rd->mm, rd->addr, rd->len, NULL, &r);
	else
		rd->err = -ETIMEDOUT;
	rd->sum = r.sum;
	hmmsim_thread_unregister();
	return NULL;
}

static void zero_page_race(enum gpu_exec exec)
{
	struct gpu_config cfg = gt_config(GPU_FORMAT_GP100);
	const uint64_t len = 16 * SZ_4K;
	struct reader rd = { 0 };
	struct gpu_mapping map;
	struct gpu_result r;
	struct mm_struct *mm;
	struct gpu_dev *dev;
	uint8_t got[16 * 4096];
	pthread_t tid;
	uint64_t i;

	cfg.exec = exec;
	dev = gt_dev(&cfg);
	mm = gt_proc();
	hk.addr = gt_mmap(mm, len, RW, ANON, SZ_2M, 0);	/* one migration step */
	/* The CPU reads: zero-page entries, which a migration collects as holes. */
	gt_ret(mm_read(mm, hk.addr, got, len), 0);
	assert_string_equal(gt_snapshot(dev, mm, hk.addr, len), "16:READ|ZERO");
	rd = (struct reader){ .dev = dev, .mm = mm, .addr = hk.addr, .len = len };
	hooks_reset(zero_hook);
	assert_int_equal(pthread_create(&tid, NULL, zero_reader, &rd), 0);
	gt_ret(gpu_migrate_to_dev(dev, mm, hk.addr, len, NULL, &r), 0);
	assert_int_equal(r.cpages, 16);
	atomic_store(&hk.stage, 3);
	pthread_join(tid, NULL);
	__atomic_store_n(&gpu_test_hook, NULL, __ATOMIC_RELEASE);
	assert_int_equal(atomic_load(&hk.acted), 1);	/* the interleaving happened */
	gt_ret(rd.err, 0);
	assert_int_equal(rd.sum, 0);
	/* The device maps its own memory, as the CPU's entries say, not the zero page. */
	for (i = 0; i < len; i += SZ_4K) {
		gt_ret(gpu_lookup(dev, mm, hk.addr + i, &map), 0);
		assert_true(map.vram);
	}
	assert_string_equal(gt_snapshot(dev, mm, hk.addr, len), "16:WRITE|DEV_PRIVATE_LOCAL");
	gt_check();
	/* And it stays right: a device write, read back by the CPU. */
	gt_ret(gpu_dev_memset(dev, mm, hk.addr, len, 9, &r), 0);
	gt_ret(mm_read(mm, hk.addr, got, len), 0);
	for (i = 0; i < len; i++)
		assert_int_equal(got[i], 9);
	gt_check();
	gt_exit(mm);
}

static void test_zero_page_race(void **state)
{
	gt_setup(NULL);
	zero_page_race(GPU_EXEC_CLOCK);
	zero_page_race(GPU_EXEC_THREAD);
	gt_teardown();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_under_access),
		cmocka_unit_test(test_split_under_read),
		cmocka_unit_test(test_zero_page_race),
	};

	hmmsim_thread_register();
	return cmocka_run_group_tests_name("gpu_races", tests, NULL, NULL);
}
