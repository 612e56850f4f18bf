// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Device memory and migration both ways (linux-hmm.md §4.4, §5.6).
 *
 * The device's memory is registered with hmm as ZONE_DEVICE memory whose
 * pgmap owner is the device, so hmm_range_fault() reports the device's own
 * pages to it and faults other devices' pages back to RAM through their
 * migrate_to_ram callback.
 *
 * One migration step (one VMA, at most one PMD span, as test_hmm's steps of
 * PTRS_PER_PTE pages; aligned to 2 MiB so a THP is never cut in two):
 *  1. migrate_vma_setup(): the MIGRATE notification carries our owner, so
 *     our own mirrors ignore it (test_hmm);
 *  2. we clear our device entries of what was collected and fence, so no
 *     device access reads a source page after its copy;
 *  3. allocate destinations (a 2 MiB folio for a compound source, unless
 *     that fails: then 512 small pages and the core splits the source) and
 *     queue the copies (cleared pages for holes and the zero page); fence;
 *  4. migrate_vma_pages(); map what moved to the device; finalize.
 */
#include <stdlib.h>

#include "gpu/internal.h"

#define PMD_PAGES	(GPU_PMD_SIZE >> GPU_PAGE_SHIFT)

bool gpu_take_fail_alloc(struct gpu_dev *dev)
{
	unsigned int n = __atomic_load_n(&dev->fail_alloc, __ATOMIC_RELAXED);

	while (n) {
		if (__atomic_compare_exchange_n(&dev->fail_alloc, &n, n - 1, false,
						__ATOMIC_RELAXED, __ATOMIC_RELAXED))
			return true;
	}
	return false;
}

/* A source page's folio and the index of the page in it, or NULL. */
static struct folio *src_folio(struct gpu_dev *dev, uint64_t mpfn, uint64_t *page)
{
	if (!(mpfn & MIGRATE_PFN_VALID))
		return NULL;
	return gpu_pfn_folio(dev, migrate_pfn_to_pfn(mpfn), page);
}

static struct folio *alloc_dst(struct gpu_dev *dev, bool to_dev, unsigned int order)
{
	struct folio *f;

	if (order && gpu_take_fail_alloc(dev))
		return NULL;
	if (to_dev) {
		f = dev->devmem ? hmm_devmem_alloc(dev->devmem, order) : NULL;
		if (f)	/* new on the device: recently used, for the eviction clock */
			gpu_mem_new(dev, folio_pfn(f), folio_nr_pages(f));
		return f;
	}
	f = folio_alloc(mm_system_pool(dev->sys), order, 0);
	if (f)
		folio_lock(f);		/* migrate_vma wants locked destinations */
	return f;
}

/* Fill page @k of @dst from page @spage of @src, or clear it. */
static void fill_page(struct gpu_dev *dev, struct folio *dst, uint64_t k, struct folio *src,
		      uint64_t spage, bool to_dev)
{
	if (src && !is_zero_folio(src) && !is_huge_zero_folio(src))
		gpu_cmd_copy(dev, dst, k, src, spage, 1, to_dev);
	else
		folio_zero_range(dst, k * GPU_PAGE_SIZE, GPU_PAGE_SIZE);
}

/* test_hmm: a hole of a writable VMA comes writable. */
static uint64_t dst_flags(const struct migrate_vma *args, uint64_t s)
{
	return ((s & MIGRATE_PFN_WRITE) ||
		(!(s & MIGRATE_PFN_VALID) && (vma_flags(args->vma) & VM_WRITE))) ?
	       MIGRATE_PFN_WRITE : 0;
}

/*
 * Destinations for what was collected: a 2 MiB folio for a compound source
 * (or, when that fails, small pages and the core splits the source), a page
 * otherwise. A page left without one stays where it is. Returns how many
 * allocations failed.
 */
static uint64_t alloc_dsts(struct gpu_dev *dev, struct migrate_vma *args, uint64_t n,
			   bool to_dev)
{
	uint64_t i, k, failed = 0;
	struct folio *d;

	for (i = 0; i < n; i++) {
		uint64_t s = args->src[i], flags = dst_flags(args, s);

		if (!(s & MIGRATE_PFN_MIGRATE) || (!to_dev && !(s & MIGRATE_PFN_VALID)))
			continue;
		if ((s & MIGRATE_PFN_COMPOUND) && i + PMD_PAGES <= n) {
			d = alloc_dst(dev, to_dev, PHYS_PMD_ORDER);
			if (d) {
				args->dst[i] = migrate_pfn(folio_pfn(d)) | MIGRATE_PFN_COMPOUND |
					       flags;
			} else {
				for (k = 0; k < PMD_PAGES; k++) {
					d = alloc_dst(dev, to_dev, 0);
					if (!d) {
						failed++;
						break;
					}
					args->dst[i + k] = migrate_pfn(folio_pfn(d)) | flags;
				}
			}
			i += PMD_PAGES - 1;
			continue;
		}
		d = alloc_dst(dev, to_dev, 0);
		if (d)
			args->dst[i] = migrate_pfn(folio_pfn(d)) | flags;
		else
			failed++;
	}
	return failed;
}

/* Queue the copies into the destinations (clear pages for holes and zero pages). */
static void copy_dsts(struct gpu_dev *dev, struct migrate_vma *args, uint64_t n, bool to_dev)
{
	uint64_t i, k, spage;
	struct folio *src, *d;

	for (i = 0; i < n; i++) {
		uint64_t s = args->src[i];

		if (!(s & MIGRATE_PFN_MIGRATE))
			continue;
		src = src_folio(dev, s, &spage);
		if ((s & MIGRATE_PFN_COMPOUND) && i + PMD_PAGES <= n) {
			d = src_folio(dev, args->dst[i], &k);
			if (d && (args->dst[i] & MIGRATE_PFN_COMPOUND) && src &&
			    !is_huge_zero_folio(src) && folio_order(src) == PHYS_PMD_ORDER) {
				gpu_cmd_copy(dev, d, 0, src, 0, PMD_PAGES, to_dev);
			} else if (d && (args->dst[i] & MIGRATE_PFN_COMPOUND)) {
				for (k = 0; k < PMD_PAGES; k++)
					fill_page(dev, d, k, NULL, 0, to_dev);
			} else {
				for (k = 0; k < PMD_PAGES; k++) {
					uint64_t dp;

					d = src_folio(dev, args->dst[i + k], &dp);
					if (!d)
						break;
					fill_page(dev, d, dp, src, spage + k, to_dev);
				}
			}
			i += PMD_PAGES - 1;
			continue;
		}
		d = src_folio(dev, args->dst[i], &k);
		if (d)
			fill_page(dev, d, k, src, spage, to_dev);
	}
}

/*
 * Whether page @i moves. A compound source has its flags on its first entry
 * and leaves the others empty; once split (small destinations), the core
 * may fill them in, and then they speak for themselves.
 */
static bool page_moves(const struct migrate_vma *args, uint64_t i, uint64_t head)
{
	uint64_t s = args->src[i];

	if (i != head && s)
		return s & MIGRATE_PFN_MIGRATE;
	return args->src[head] & MIGRATE_PFN_MIGRATE;
}

/* The number of pages the source entry at @i spans (512 for a compound one). */
static uint64_t unit_pages(const struct migrate_vma *args, uint64_t i, uint64_t n)
{
	return (args->src[i] & MIGRATE_PFN_COMPOUND) && i + PMD_PAGES <= n ? PMD_PAGES : 1;
}

/* Has page @k (of the unit at @head) a destination? */
static bool has_dst(const struct migrate_vma *args, uint64_t k, uint64_t head)
{
	if (args->dst[head] & MIGRATE_PFN_COMPOUND)
		return true;
	return args->dst[k] & MIGRATE_PFN_VALID;
}

/*
 * Clear the mirror's entries of every page about to move (a destination is
 * ready), so that no device access touches a source after its copy: our own
 * MIGRATE notification was skipped. With @holes, only the holes and zero
 * pages (no source page), after migrate_vma_pages() filled them. Bumps
 * migrate_seq: a fault whose hmm_range_fault() ran before this must not
 * commit (see gpu_range_fault_locked()). Context: m->lock.
 */
static void clear_moving(struct gpu_mirror *m, struct migrate_vma *args, uint64_t n, bool holes)
{
	uint64_t i, k, len, run = UINT64_MAX;

	for (i = 0; i < n; i += len) {
		len = unit_pages(args, i, n);
		for (k = i; k < i + len; k++) {
			bool moving = page_moves(args, k, i) && has_dst(args, k, i) &&
				      (!holes || !(args->src[k] & MIGRATE_PFN_VALID));

			if (moving && run == UINT64_MAX)
				run = k;
			if (!moving && run != UINT64_MAX) {
				gpu_cmd_clear(m, args->start + (run << GPU_PAGE_SHIFT),
					      args->start + (k << GPU_PAGE_SHIFT), 0);
				run = UINT64_MAX;
			}
		}
	}
	if (run != UINT64_MAX)
		gpu_cmd_clear(m, args->start + (run << GPU_PAGE_SHIFT), args->end, 0);
	__atomic_add_fetch(&m->migrate_seq, 1, __ATOMIC_RELEASE);
	gpu_queue_fence(m->dev);
}

/* Any hole or zero page that migrate_vma_pages() filled? */
static bool filled_holes(const struct migrate_vma *args, uint64_t n)
{
	uint64_t i;

	for (i = 0; i < n; i++) {
		if ((args->src[i] & (MIGRATE_PFN_MIGRATE | MIGRATE_PFN_VALID)) ==
		    MIGRATE_PFN_MIGRATE && (args->dst[i] & MIGRATE_PFN_VALID))
			return true;
	}
	return false;
}

/* Map the pages that moved to the device. Context: m->lock. */
static void map_moved(struct gpu_dev *dev, struct gpu_mirror *m, struct migrate_vma *args,
		      uint64_t n)
{
	const struct pt_format *fmt = dev->fmt;
	uint64_t i, k, len;

	for (i = 0; i < n; i += len) {
		len = unit_pages(args, i, n);
		for (k = i; k < i + len; k++) {
			uint64_t d = args->dst[k], va = args->start + (k << GPU_PAGE_SHIFT);
			pt_entry_t attrs;

			if (!page_moves(args, k, i) || !(d & MIGRATE_PFN_VALID))
				continue;
			attrs = fmt->valid | GPU_PTE_VRAM |
				((d & MIGRATE_PFN_WRITE) ? fmt->write : 0);
			if (d & MIGRATE_PFN_COMPOUND) {
				/* One 2 MiB device folio: the format's largest leaf up to 2M. */
				gpu_cmd_pte_write(m, va, GPU_PMD_SIZE,
						  gpu_fit_shift(dev->geo.page_sizes, 21),
						  pt_make_entry(fmt, migrate_pfn_to_pfn(d), attrs));
				break;
			}
			gpu_cmd_pte_write(m, va, GPU_PAGE_SIZE, GPU_PAGE_SHIFT,
					  pt_make_entry(fmt, migrate_pfn_to_pfn(d), attrs));
		}
	}
}

static uint64_t count_moved(struct migrate_vma *args, uint64_t n)
{
	uint64_t i, k, len, moved = 0;

	for (i = 0; i < n; i += len) {
		len = unit_pages(args, i, n);
		if (args->dst[i] & MIGRATE_PFN_COMPOUND) {
			if (args->src[i] & MIGRATE_PFN_MIGRATE)
				moved += len;
			continue;
		}
		for (k = i; k < i + len; k++) {
			if (page_moves(args, k, i) && (args->dst[k] & MIGRATE_PFN_VALID))
				moved++;
		}
	}
	return moved;
}

static int migrate_step(struct gpu_dev *dev, struct gpu_mirror *m, struct vm_area_struct *vma,
			uint64_t start, uint64_t end, bool to_dev, bool map,
			struct folio *fault_page, uint64_t *moved, uint64_t *nomem)
{
	uint64_t n = (end - start) >> GPU_PAGE_SHIFT, done, failed, seq;
	struct migrate_vma args = { 0 };
	unsigned int select;
	int ret;

	if (to_dev)
		select = MIGRATE_VMA_SELECT_SYSTEM;
	else if (dev->cfg.memory_type == HMM_DEVMEM_COHERENT)
		select = MIGRATE_VMA_SELECT_DEVICE_COHERENT;
	else
		select = MIGRATE_VMA_SELECT_DEVICE_PRIVATE;
	args.src = calloc(n, sizeof(*args.src));
	args.dst = calloc(n, sizeof(*args.dst));
	if (!args.src || !args.dst) {
		ret = -ENOMEM;
		goto out;
	}
	args.vma = vma;
	args.start = start;
	args.end = end;
	args.pgmap_owner = dev;
	args.flags = select | MIGRATE_VMA_SELECT_COMPOUND;
	args.fault_page = fault_page;
	ret = migrate_vma_setup(&args);
	if (ret || !args.cpages)
		goto out;
	/*
	 * From here the CPU entries are migration entries; only an invalidation
	 * run under the mmap_lock for reading (another fault, a zap) can still
	 * change them, and then the new pages must not be mapped.
	 */
	seq = m ? mmu_interval_read_begin(&m->notifier) : 0;
	failed = alloc_dsts(dev, &args, n, to_dev);
	if (nomem)
		*nomem += failed;
	if (m) {
		pthread_mutex_lock(&m->lock);
		clear_moving(m, &args, n, false);
		pthread_mutex_unlock(&m->lock);
	}
	gpu_hook(GPU_HOOK_MIGRATE_CLEARED, dev, start);
	copy_dsts(dev, &args, n, to_dev);
	gpu_queue_fence(dev);
	migrate_vma_pages(&args);
	if (m && to_dev) {
		bool mapped = false;

		pthread_mutex_lock(&m->lock);
		if (map && !mmu_interval_read_retry(&m->notifier, seq)) {
			map_moved(dev, m, &args, n);
			mapped = true;
		}
		/*
		 * A zero page is collected without a migration entry: a fault
		 * may have mapped it after the clear above, and its replacement
		 * by migrate_vma_pages() notified only us (skipped). Drop such
		 * entries unless map_moved() just replaced them. Either way a
		 * fault whose hmm_range_fault() saw the zero page (or the hole)
		 * after that clear and before the fill has not committed yet
		 * (it commits under this lock): the bump makes it look again,
		 * else it would map the zero page over what map_moved() put.
		 */
		if (filled_holes(&args, n)) {
			if (mapped)
				__atomic_add_fetch(&m->migrate_seq, 1, __ATOMIC_RELEASE);
			else
				clear_moving(m, &args, n, true);
		}
		pthread_mutex_unlock(&m->lock);
	}
	done = count_moved(&args, n);
	migrate_vma_finalize(&args);
	gpu_queue_fence(dev);
	if (to_dev)
		GPU_STAT_ADD(dev, pages_to_dev, done);
	else
		GPU_STAT_ADD(dev, pages_to_sys, done);
	*moved += done;
	/* Nothing moved for want of memory: say so (the CPU fault is an OOM). */
	if (!done && failed)
		ret = -ENOMEM;
out:
	free(args.src);
	free(args.dst);
	return ret;
}

int gpu_migrate_vma(struct gpu_dev *dev, struct gpu_mirror *m, struct vm_area_struct *vma,
		    uint64_t start, uint64_t end, bool to_dev, bool map, uint64_t *moved,
		    uint64_t *nomem)
{
	return migrate_step(dev, m, vma, start, end, to_dev, map, NULL, moved, nomem);
}

/* ------------------------------------------------------------------------ */
/* dev_pagemap_ops                                                          */
/* ------------------------------------------------------------------------ */

static void gpu_devmem_free(struct folio *folio)
{
	struct gpu_dev *dev = folio->owner;

	if (dev)
		GPU_STAT_INC(dev, devmem_frees);
}

/*
 * A CPU touched one of our pages (or another device's hmm_range_fault()
 * did): bring it back, the whole folio when the VMA holds all of it (test_hmm
 * migrates a PMD-mapped folio whole, a page otherwise).
 */
static int gpu_devmem_migrate_to_ram(struct vm_fault *vmf)
{
	struct folio *folio = vmf->page;
	struct gpu_dev *dev = folio->owner;
	struct vm_area_struct *vma = vmf->vma;
	uint64_t start = gpu_align_down(vmf->address, GPU_PAGE_SIZE), end, moved = 0, size;
	int ret;

	end = start + GPU_PAGE_SIZE;
	if (folio_order(folio)) {
		size = folio_size(folio);
		if (gpu_align_down(vmf->address, size) >= vma_start(vma) &&
		    gpu_align_down(vmf->address, size) + size <= vma_end(vma)) {
			start = gpu_align_down(vmf->address, size);
			end = start + size;
		}
	}
	GPU_STAT_INC(dev, migrate_to_ram);
	ret = migrate_step(dev, gpu_mirror_find(dev, vma_mm(vma)), vma, start, end, false, false,
			   folio, &moved, NULL);
	if (ret)
		return ret;
	return 0;
}

const struct dev_pagemap_ops gpu_devmem_ops = {
	.page_free = gpu_devmem_free,
	.migrate_to_ram = gpu_devmem_migrate_to_ram,
};

/* ------------------------------------------------------------------------ */
/* The commands                                                             */
/* ------------------------------------------------------------------------ */

/*
 * Every step of [addr, addr + len) in VMAs; -EINVAL at a page without a
 * readable VMA (test_hmm's vma_lookup check). Context: the mmap_lock.
 */
static int migrate_range(struct gpu_dev *dev, struct gpu_mirror *m, uint64_t addr, uint64_t len,
			 bool to_dev, uint64_t *moved)
{
	struct vm_area_struct *vma;
	uint64_t a, next, end = addr + len;
	int ret = 0;

	for (a = addr; a < end && !ret; a = next) {
		vma = vma_lookup(m->mm, a);
		if (!vma || !(vma_flags(vma) & VM_READ))
			return -EINVAL;
		next = gpu_min(gpu_min(end, vma_end(vma)),
			       gpu_align_down(a, GPU_PMD_SIZE) + GPU_PMD_SIZE);
		ret = migrate_step(dev, m, vma, a, next, to_dev, true, NULL, moved, NULL);
		/*
		 * The kernel collects nothing from shared memory (then the read
		 * back says -ENOENT); hmmsim's setup refuses it outright.
		 */
		if (ret == -EINVAL && to_dev && (vma_flags(vma) & VM_SHARED) &&
		    !(vma_flags(vma) & VM_HUGETLB))
			ret = 0;
	}
	return ret;
}

HMMSIM_API int gpu_migrate_to_dev(struct gpu_dev *dev, struct mm_struct *mm, uint64_t addr,
				  uint64_t len, void *buf, struct gpu_result *res)
{
	struct gpu_result r = { 0 };
	struct gpu_mirror *m;
	uint64_t moved = 0, t0;
	int ret;

	if (!dev || !mm)
		return -EINVAL;
	ret = gpu_check_range(addr, len, true);
	if (ret)
		return ret;
	if (!dev->devmem)
		return -ENOMEM;
	ret = gpu_mirror_get(dev, mm, &m);
	if (ret)
		return ret;
	t0 = gpu_clock(dev);
	mmap_read_lock(mm);
	ret = migrate_range(dev, m, addr, len, true, &moved);
	mmap_read_unlock(mm);
	if (ret)
		return ret;
	/* test_hmm reads the range back: cpages is what the mirror maps now. */
	ret = gpu_read_back(m, addr, len, buf, &r);
	if (ret)
		return ret;
	r.sim_ns = gpu_clock(dev) - t0;
	if (res)
		*res = r;
	return 0;
}

HMMSIM_API int gpu_migrate_to_sys(struct gpu_dev *dev, struct mm_struct *mm, uint64_t addr,
				  uint64_t len, struct gpu_result *res)
{
	struct gpu_mirror *m;
	uint64_t moved = 0, t0;
	int ret;

	if (!dev || !mm)
		return -EINVAL;
	ret = gpu_check_range(addr, len, true);
	if (ret)
		return ret;
	ret = gpu_mirror_get(dev, mm, &m);
	if (ret)
		return ret;
	t0 = gpu_clock(dev);
	mmap_read_lock(mm);
	ret = migrate_range(dev, m, addr, len, false, &moved);
	mmap_read_unlock(mm);
	if (ret)
		return ret;
	if (res) {
		*res = (struct gpu_result){ .cpages = moved, .sim_ns = gpu_clock(dev) - t0 };
	}
	return 0;
}
