// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * policies: two mapping policies of a device side by side. A process
 * writes a 64 MiB buffer backed by THPs, then forks and writes one page in
 * each 2 MiB block, so every PMD of the parent is split. Two devices read
 * the buffer twice: one sizes its pages with the CPU's map order, the other
 * maps 4 KiB only. Their counters say what the map order buys, and what it
 * stops buying once the CPU splits its PMDs.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <hmmsim/hmmsim.h>

#define SZ_4K	(UINT64_C(1) << 12)
#define SZ_2M	(UINT64_C(1) << 21)
#define BUF	(UINT64_C(64) << 20)

static struct gpu_dev *device(struct mm_system *sys, const char *name,
			      enum gpu_size_policy size)
{
	struct gpu_config cfg;
	struct gpu_dev *dev;

	gpu_config_init(&cfg);
	cfg.name = name;
	cfg.size = size;
	if (gpu_dev_create(sys, &cfg, &dev)) {
		fprintf(stderr, "policies: cannot create %s\n", name);
		exit(1);
	}
	return dev;
}

static void stream(const char *what, struct gpu_dev *dev, struct mm_struct *mm, uint64_t buf)
{
	struct gpu_result res;
	struct gpu_stats st;
	int pass;

	for (pass = 0; pass < 2; pass++) {
		if (gpu_dev_read(dev, mm, buf, BUF, NULL, &res)) {
			fprintf(stderr, "policies: device read failed\n");
			exit(1);
		}
	}
	gpu_stats(dev, &st);
	printf("%-34s PTE writes 2M %5" PRIu64 " 4K %6" PRIu64 "  TLB misses %7" PRIu64
	       "  device time %8.3f ms\n", what, st.pte_writes[GPU_PS_2M], st.pte_writes[GPU_PS_4K],
	       st.tlb_misses, (double)st.sim_ns / 1e6);
}

int main(void)
{
	struct mm_mmap_args args = {
		.len = BUF,
		.prot = MM_PROT_READ | MM_PROT_WRITE,
		.flags = MM_MAP_PRIVATE | MM_MAP_ANONYMOUS,
		.align = SZ_2M,
	};
	struct mm_struct *mm, *child;
	struct gpu_dev *order, *small;
	struct mm_system *sys;
	uint64_t buf, off;

	hmmsim_thread_register();
	if (mm_system_create(NULL, &sys) || mm_create(sys, NULL, &mm) ||
	    mm_mmap(mm, &args, &buf) || mm_madvise(mm, buf, BUF, MM_MADV_HUGEPAGE) ||
	    mm_memset(mm, buf, 0x11, BUF)) {
		fprintf(stderr, "policies: setup failed\n");
		return 1;
	}

	order = device(sys, "map-order", GPU_SIZE_MAP_ORDER);
	small = device(sys, "4k-only", GPU_SIZE_4K);
	stream("THP buffer, map order:", order, mm, buf);
	stream("THP buffer, 4K only:", small, mm, buf);

	/* fork, then a COW write in every 2 MiB block splits each PMD of the parent. */
	if (mm_fork(mm, &child))
		return 1;
	for (off = 0; off < BUF; off += SZ_2M)
		mm_memset(mm, buf + off, 0x22, 1);
	gpu_dev_destroy(order);
	gpu_dev_destroy(small);
	order = device(sys, "map-order", GPU_SIZE_MAP_ORDER);
	small = device(sys, "4k-only", GPU_SIZE_4K);
	stream("every PMD split, map order:", order, mm, buf);
	stream("every PMD split, 4K only:", small, mm, buf);

	gpu_dev_destroy(order);
	gpu_dev_destroy(small);
	mm_exit(child);
	mm_exit(mm);
	mm_system_destroy(sys);
	hmmsim_thread_unregister();
	return 0;
}
