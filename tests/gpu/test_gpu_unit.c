// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * gpu_unit: the parts on their own: the formats' geometry, names, the
 * configuration checks, the text forms (snapshot runs, statistics, the
 * kernel's snapshot bytes), and device creation and destruction.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gpu_test.h"

static void test_formats(void **state)
{
	static const struct {
		enum gpu_format f;
		const char *name;
		unsigned int levels;
		uint64_t sizes;
	} want[] = {
		{ GPU_FORMAT_GP100, "gp100", 5, SZ_4K | SZ_64K | SZ_2M },
		{ GPU_FORMAT_X86, "x86", 4, SZ_4K | SZ_2M | SZ_1G },
		{ GPU_FORMAT_4K, "4k", 4, SZ_4K },
	};
	struct pt_geometry geo;
	enum gpu_format f;
	unsigned int i;

	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const struct pt_format *fmt = gpu_format_pt(want[i].f);

		assert_non_null(fmt);
		assert_string_equal(gpu_format_name(want[i].f), want[i].name);
		gt_ret(gpu_format_parse(want[i].name, &f), 0);
		assert_int_equal(f, want[i].f);
		gt_ret(pt_format_geometry(fmt, &geo), 0);
		assert_int_equal(geo.levels, want[i].levels);
		assert_int_equal(geo.page_sizes, want[i].sizes);
		/* x86's valid and leaf bits: pt's unrolled lookup serves these tables. */
		assert_int_equal(fmt->valid, 1);
		assert_int_equal(fmt->leaf, 0x80);
		assert_int_equal(fmt->page_shift, 12);
		assert_int_equal(fmt->dir_shift, 9);
		assert_true((fmt->sw & GPU_PTE_VRAM) && (fmt->sw & GPU_PTE_ATOMIC));
	}
	/* GP100: a 49-bit VA, 64K pages as 16 contiguous 4K items. */
	assert_int_equal(gpu_format_pt(GPU_FORMAT_GP100)->last, (UINT64_C(1) << 49) - 1);
	assert_int_equal(gpu_format_pt(GPU_FORMAT_GP100)->contig_shift[0], 4);
	gt_ret(gpu_format_parse("nv", &f), -EINVAL);
	gt_ret(gpu_format_parse(NULL, &f), -EINVAL);
	assert_null(gpu_format_pt(GPU_NR_FORMATS));
	assert_null(gpu_format_name((enum gpu_format)-1));
}

static void test_snapshot_format(void **state)
{
	uint32_t f[6] = {
		GPU_SNAP_WRITE | GPU_SNAP_PMD, GPU_SNAP_WRITE | GPU_SNAP_PMD, GPU_SNAP_READ,
		GPU_SNAP_ERROR, GPU_SNAP_READ | GPU_SNAP_ZERO,
		GPU_SNAP_WRITE | GPU_SNAP_DEV_COHERENT_REMOTE | GPU_SNAP_PUD,
	};
	char buf[128], tiny[8];
	unsigned int b;
	int n;

	n = gpu_snapshot_format(f, 6, buf, sizeof(buf));
	assert_string_equal(buf, "2:WRITE|PMD,1:READ,1:ERROR,1:READ|ZERO,"
				 "1:WRITE|PUD|DEV_COHERENT_REMOTE");
	assert_int_equal(n, strlen(buf));
	assert_int_equal(gpu_snapshot_format(f, 6, tiny, sizeof(tiny)), n);
	assert_string_equal(tiny, "2:WRITE");
	assert_int_equal(gpu_snapshot_format(f, 6, NULL, 0), n);
	assert_int_equal(gpu_snapshot_format(f, 0, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
	for (b = 0; b < GPU_SNAP_NR_FLAGS; b++)
		assert_non_null(gpu_snap_flag_name(b));
	assert_string_equal(gpu_snap_flag_name(0), "ERROR");
	assert_string_equal(gpu_snap_flag_name(10), "DEV_COHERENT_REMOTE");
	assert_null(gpu_snap_flag_name(GPU_SNAP_NR_FLAGS));
	/* The kernel's bytes (HMM_DMIRROR_PROT_*). */
	assert_int_equal(gpu_snapshot_to_dmirror(GPU_SNAP_ERROR), 0xff);
	assert_int_equal(gpu_snapshot_to_dmirror(GPU_SNAP_NONE), 0x00);
	assert_int_equal(gpu_snapshot_to_dmirror(GPU_SNAP_WRITE | GPU_SNAP_PMD), 0x06);
	assert_int_equal(gpu_snapshot_to_dmirror(GPU_SNAP_READ | GPU_SNAP_PUD), 0x09);
	assert_int_equal(gpu_snapshot_to_dmirror(GPU_SNAP_READ | GPU_SNAP_ZERO), 0x11);
	assert_int_equal(gpu_snapshot_to_dmirror(GPU_SNAP_WRITE | GPU_SNAP_DEV_PRIVATE_LOCAL),
			 0x22);
	assert_int_equal(gpu_snapshot_to_dmirror(GPU_SNAP_WRITE | GPU_SNAP_DEV_COHERENT_LOCAL),
			 0x42);
	assert_int_equal(gpu_snapshot_to_dmirror(GPU_SNAP_WRITE | GPU_SNAP_DEV_COHERENT_REMOTE),
			 0x52);
}

static void test_stats_format(void **state)
{
	struct gpu_stats st;
	char buf[2048];
	int n;

	memset(&st, 0, sizeof(st));
	st.faults = 3;
	st.pte_writes[GPU_PS_2M] = 7;
	st.tlb_fills[GPU_PS_64K] = 2;
	st.sim_ns = 45000;
	n = gpu_stats_format(&st, buf, sizeof(buf));
	assert_int_equal(n, strlen(buf));
	assert_non_null(strstr(buf, "faults=3 fault_rounds=0 "));
	assert_non_null(strstr(buf, " pte_4k=0 pte_64k=0 pte_2m=7 pte_1g=0 "));
	assert_non_null(strstr(buf, " tlb_fill_64k=2 "));
	assert_non_null(strstr(buf, " sim_ns=45000"));
	assert_int_equal(buf[n - 1], '0');
	assert_int_equal(gpu_stats_format(&st, NULL, 0), n);
	gt_ret(gpu_stats_format(NULL, buf, sizeof(buf)), -EINVAL);
}

static void test_config(void **state)
{
	struct gpu_config c;
	struct gpu_dev *dev;
	struct mm_system *sys;

	gt_ret(mm_system_create(NULL, &sys), 0);
	gpu_config_init(&c);
	assert_int_equal(c.format, GPU_FORMAT_GP100);
	assert_int_equal(c.memory, 256 * SZ_1M);
	assert_int_equal(c.fault_batch, 256);
	assert_int_equal(c.cost.fault_batch_ns, 45000);
	assert_int_equal(c.reclaim, PT_RECLAIM_KEEP);
#define BAD(field, value)                                        \
	do {                                                      \
		gpu_config_init(&c);                              \
		c.field = value;                                  \
		gt_ret(gpu_dev_create(sys, &c, &dev), -EINVAL);    \
	} while (0)
	BAD(format, GPU_NR_FORMATS);
	BAD(memory, SZ_1M + 1);
	BAD(tlb_sets, 3);
	BAD(tlb_ways, 0);
	BAD(fault_buffer, 0);
	BAD(fault_batch, 100000);
	BAD(access_bytes, 32);
	BAD(access_bytes, 8192);
	BAD(access_bytes, 1000);
	BAD(exec, 7);
	BAD(cost.copy_gibps, -1);
#undef BAD
	gt_ret(gpu_dev_create(NULL, NULL, &dev), -EINVAL);
	gt_ret(gpu_dev_create(sys, NULL, NULL), -EINVAL);
	/* Defaults, a name, no memory. */
	gt_ret(gpu_dev_create(sys, NULL, &dev), 0);
	assert_non_null(gpu_dev_devmem(dev));
	assert_int_equal(gpu_dev_config(dev)->tlb_ways, 8);
	gt_ret(gpu_dev_destroy(dev), 0);
	gpu_config_init(&c);
	c.name = "card7";
	c.memory = 0;
	gt_ret(gpu_dev_create(sys, &c, &dev), 0);
	assert_string_equal(gpu_dev_name(dev), "card7");
	assert_null(gpu_dev_devmem(dev));
	assert_int_equal(gpu_sim_time(dev), 0);
	gt_ret(gpu_release(dev), 0);
	gt_ret(gpu_dev_destroy(dev), 0);
	gt_ret(gpu_dev_destroy(NULL), -EINVAL);
	gt_ret(mm_system_destroy(sys), 0);
#ifndef __SANITIZE_THREAD__
	hmmsim_barrier();	/* the devmems' deferred frees, for LeakSanitizer */
#endif
}

/* No memory: migration says -ENOMEM, everything else works. */
static void test_no_memory(void **state)
{
	struct gpu_config c = gt_config(GPU_FORMAT_X86);
	struct gpu_dev *dev;
	struct mm_struct *mm;
	uint64_t a;
	struct gpu_result r;

	gt_setup(NULL);
	c.memory = 0;
	dev = gt_dev(&c);
	mm = gt_proc();
	a = gt_anon(mm, 16 * SZ_4K);
	gt_ret(gpu_dev_memset(dev, mm, a, 16 * SZ_4K, 9, &r), 0);
	gt_ret(gpu_migrate_to_dev(dev, mm, a, 16 * SZ_4K, NULL, &r), -ENOMEM);
	gt_ret(gpu_migrate_to_sys(dev, mm, a, 16 * SZ_4K, &r), 0);
	assert_int_equal(r.cpages, 0);
	gt_teardown();
}

/* A device outlives a process; a process outlives a device. */
static void test_lifetimes(void **state)
{
	struct gpu_dev *dev;
	struct mm_struct *mm, *other;
	uint64_t a, b;
	struct gpu_result r;
	struct gpu_stats st;

	gt_setup(NULL);
	dev = gt_dev(NULL);
	mm = gt_proc();
	other = gt_proc();
	a = gt_anon(mm, 16 * SZ_4K);
	b = gt_anon(other, 16 * SZ_4K);
	gt_ret(gpu_dev_memset(dev, mm, a, 16 * SZ_4K, 1, &r), 0);
	gt_ret(gpu_migrate_to_dev(dev, other, b, 16 * SZ_4K, NULL, &r), 0);
	gt_exit(mm);
	gpu_stats(dev, &st);
	assert_int_equal(st.devmem_pages, 16);
	/* A new process may get the old one's address: it gets a new mirror. */
	mm = gt_proc();
	a = gt_anon(mm, 16 * SZ_4K);
	gt_ret(gpu_dev_read(dev, mm, a, 16 * SZ_4K, NULL, &r), 0);
	assert_int_equal(r.sum, 0);
	gt_check();
	gt_teardown();
}

/*
 * The checker observes and changes nothing it observes: gpu_check() between
 * two gpu_stats() calls leaves every counter as it was (a fence it took
 * once showed up in fences=, so the CLI's --check changed the output).
 */
static void test_check_changes_no_counter(void **state)
{
	struct gpu_config c = gt_config(GPU_FORMAT_GP100);
	struct gpu_stats a, b, base;
	struct gpu_result r;
	struct mm_struct *mm;
	struct gpu_dev *dev;
	char msg[256];
	uint64_t addr;
	int i;

	gt_setup(NULL);
	for (int exec = 0; exec < 2; exec++) {
		c.exec = exec ? GPU_EXEC_THREAD : GPU_EXEC_CLOCK;
		dev = gt_dev(&c);
		mm = gt_proc();
		addr = gt_anon_thp(mm, SZ_4M);
		gt_ret(gpu_dev_memset(dev, mm, addr, SZ_4M, 3, &r), 0);
		gt_ret(gpu_migrate_to_dev(dev, mm, addr, SZ_2M, NULL, &r), 0);
		gt_ret(mm_memset(mm, addr + SZ_2M, 4, SZ_4K), 0);
		/* What two gpu_stats() calls alone differ by (their own fences). */
		gpu_stats(dev, &base);
		gpu_stats(dev, &a);
		for (i = 0; i < 3; i++)
			gt_ret(gpu_check(dev, msg, sizeof(msg)), 0);
		gpu_stats(dev, &b);
		assert_int_equal(b.fences - a.fences, a.fences - base.fences);
		b.fences = a.fences;
		assert_memory_equal(&a, &b, sizeof(a));
		gt_check();
	}
	gt_teardown();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_formats),
		cmocka_unit_test(test_snapshot_format),
		cmocka_unit_test(test_stats_format),
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_no_memory),
		cmocka_unit_test(test_lifetimes),
		cmocka_unit_test(test_check_changes_no_counter),
	};

	hmmsim_thread_register();
	return cmocka_run_group_tests_name("gpu_unit", tests, NULL, NULL);
}
