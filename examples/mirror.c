// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * mirror: the smallest driver. It defines its own device page-table format
 * (4 levels, 48-bit, 4K and 2M pages, its own bit layout),
 * registers an interval notifier over a process, faults a buffer in with
 * hmm_range_fault() in the kernel's retry loop, and maps it with the largest
 * page the CPU's map order allows. Then the CPU forks and writes one page:
 * the notifier drops the device's 2M mapping, and the next fault maps 4K
 * pages where the CPU split its PMD.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hmmsim/hmmsim.h>

#define SZ_4K	(UINT64_C(1) << 12)
#define SZ_2M	(UINT64_C(1) << 21)
#define NPAGES	1024

/* A device format is data: 48-bit VA, 9-bit directories, leaves at 4K and 2M, its own bits. */
static const struct pt_format toy_gpu = {
	.name = "toy-gpu",
	.last = (UINT64_C(1) << 48) - 1,
	.page_shift = 12,
	.dir_shift = 9,
	.oa_bits = 40,
	.leaf_levels = 0x3,
	.valid = UINT64_C(1) << 0,
	.leaf = UINT64_C(1) << 1,
	.write = UINT64_C(1) << 2,
	.accessed = UINT64_C(1) << 3,
	.dirty = UINT64_C(1) << 4,
	.sw = UINT64_C(0xf) << 60,
};

struct toy_driver {
	struct mmu_interval_notifier notifier;
	pthread_mutex_t lock;		/* the driver update lock */
	struct pt_table *table;		/* the device's page table, CPU VA = device VA */
	uint64_t invalidations;
};

static bool toy_invalidate(struct mmu_interval_notifier *sub,
			   const struct mmu_notifier_range *range, uint64_t cur_seq)
{
	struct toy_driver *drv = (struct toy_driver *)sub;	/* the notifier comes first */
	uint64_t end = range->end < toy_gpu.last + 1 ? range->end : toy_gpu.last + 1;

	pthread_mutex_lock(&drv->lock);
	mmu_interval_set_seq(sub, cur_seq);
	/* Drop the device's mappings of the range (a 2M page cut by an edge is split). */
	if (range->start < end)
		pt_unmap(drv->table, range->start, end - range->start, 0);
	drv->invalidations++;
	pthread_mutex_unlock(&drv->lock);
	return true;
}

static const struct mmu_interval_notifier_ops toy_ops = { .invalidate = toy_invalidate };

/*
 * The device faults [start, start + NPAGES pages): the kernel's retry
 * loop (Documentation/mm/hmm.rst), then the device table is written under
 * the driver lock, each address with the largest page the map order allows.
 */
static int toy_fault(struct toy_driver *drv, struct mm_struct *mm, uint64_t start, bool write,
		     uint64_t *mapped_2m, uint64_t *mapped_4k)
{
	static uint64_t pfns[NPAGES];
	struct hmm_range range = {
		.notifier = &drv->notifier,
		.start = start,
		.end = start + NPAGES * SZ_4K,
		.hmm_pfns = pfns,
		.default_flags = HMM_PFN_REQ_FAULT | (write ? HMM_PFN_REQ_WRITE : 0),
	};
	uint64_t i, attrs;
	unsigned int shift;
	int err;

again:
	range.notifier_seq = mmu_interval_read_begin(&drv->notifier);
	mmap_read_lock(mm);
	err = hmm_range_fault(&range);
	mmap_read_unlock(mm);
	if (err == -EBUSY)
		goto again;
	if (err)
		return err;
	pthread_mutex_lock(&drv->lock);
	if (mmu_interval_read_retry(&drv->notifier, range.notifier_seq)) {
		pthread_mutex_unlock(&drv->lock);
		goto again;
	}
	*mapped_2m = *mapped_4k = 0;
	for (i = 0; i < NPAGES; i += (UINT64_C(1) << shift) / SZ_4K) {
		shift = hmm_range_map_shift(pfns, start, NPAGES, i, SZ_4K | SZ_2M);
		attrs = toy_gpu.valid | ((pfns[i] & HMM_PFN_WRITE) ? toy_gpu.write : 0);
		/* A page the device mapped already (a retry) is unmapped first. */
		pt_unmap(drv->table, start + i * SZ_4K, UINT64_C(1) << shift, 0);
		err = pt_map(drv->table, start + i * SZ_4K, UINT64_C(1) << shift, shift,
			     pt_make_entry(&toy_gpu, hmm_pfn_to_pfn(pfns[i]), attrs), 0);
		if (err)
			break;
		if (shift == 21)
			(*mapped_2m)++;
		else
			(*mapped_4k)++;
	}
	pthread_mutex_unlock(&drv->lock);
	return err;
}

static void report(const char *what, int err, uint64_t n2m, uint64_t n4k, struct toy_driver *drv)
{
	if (err) {
		printf("%-44s error %s\n", what, strerror(-err));
		exit(1);
	}
	printf("%-44s device maps %" PRIu64 " x 2M + %" PRIu64 " x 4K (invalidations so far: %"
	       PRIu64 ")\n", what, n2m, n4k, drv->invalidations);
}

int main(void)
{
	struct mm_mmap_args args = {
		.len = NPAGES * SZ_4K,
		.prot = MM_PROT_READ | MM_PROT_WRITE,
		.flags = MM_MAP_PRIVATE | MM_MAP_ANONYMOUS,
	};
	struct toy_driver drv = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct mm_struct *mm, *child;
	struct mm_system *sys;
	uint64_t buf, n2m, n4k;
	int err;

	hmmsim_thread_register();
	if (mm_system_create(NULL, &sys) || mm_create(sys, NULL, &mm) ||
	    mm_mmap(mm, &args, &buf) || mm_madvise(mm, buf, args.len, MM_MADV_HUGEPAGE) ||
	    pt_table_create(&toy_gpu, NULL, &drv.table) ||
	    mmu_interval_notifier_insert(&drv.notifier, mm, buf, args.len, &toy_ops)) {
		fprintf(stderr, "mirror: setup failed\n");
		return 1;
	}

	err = toy_fault(&drv, mm, buf, true, &n2m, &n4k);
	report("device write fault on a MADV_HUGEPAGE buffer:", err, n2m, n4k, &drv);

	/* fork write-protects the buffer; a CPU write splits one PMD and copies 4K. */
	err = mm_fork(mm, &child) ?: mm_memset(mm, buf + 64 * SZ_4K, 0xab, SZ_4K);
	err = err ?: toy_fault(&drv, mm, buf, false, &n2m, &n4k);
	report("after fork and a CPU write to one page:", err, n2m, n4k, &drv);

	mm_exit(child);
	mm_exit(mm);
	mmu_interval_notifier_remove(&drv.notifier);
	pt_table_destroy(drv.table);
	mm_system_destroy(sys);
	hmmsim_thread_unregister();
	return 0;
}
