// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Mirrors: one per process per device, as test_hmm opens one dmirror per
 * process (linux-hmm.md §5.2). A mirror is the process's device page table
 * (a pt table of the device's format), an interval notifier over the whole
 * user address space, and the driver update lock.
 *
 * The invalidate callback (§5.3) ignores the MIGRATE events this device
 * raised itself: the migration code clears what it moves. For anything
 * else it takes the lock, records the sequence (set_seq), queues a PTE clear
 * and a TLB invalidation of the range and waits for the queue: when the
 * callback returns, no device access uses the old translations any more, so
 * the CPU may free the pages (seed 003's asynchronous updates, fenced).
 * Directories are kept across invalidations (seed 001's keep-until-unmap)
 * and freed when the range is unmapped or the process goes.
 *
 * Mirrors live as long as their device. When the process exits (RELEASE),
 * the mirror is marked dead and emptied; a later process at the same
 * address gets a new one.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "gpu/internal.h"

static struct gpu_mirror *mirror_of(struct mmu_interval_notifier *sub)
{
	return container_of(sub, struct gpu_mirror, notifier);
}

void gpu_mirror_clear_sync(struct gpu_mirror *m, uint64_t start, uint64_t end, unsigned int flags)
{
	end = gpu_min(end, GPU_VA_END);
	if (start >= end)
		return;
	gpu_cmd_clear(m, start, end, flags);
	gpu_queue_fence(m->dev);
}

static bool mirror_invalidate(struct mmu_interval_notifier *sub,
			      const struct mmu_notifier_range *range, uint64_t cur_seq)
{
	struct gpu_mirror *m = mirror_of(sub);
	struct gpu_dev *dev = m->dev;
	unsigned int flags = 0;

	/*
	 * Our own migration: the pages are moving to or from our memory and
	 * the migration code updates the mirror itself (test_hmm does the
	 * same, and skips set_seq too).
	 */
	if (range->event == MMU_NOTIFY_MIGRATE && range->owner == dev) {
		GPU_STAT_INC(dev, invalidations_skipped);
		return true;
	}
	if (range->flags & MMU_NOTIFIER_RANGE_BLOCKABLE)
		pthread_mutex_lock(&m->lock);
	else if (pthread_mutex_trylock(&m->lock))
		return false;
	mmu_interval_set_seq(sub, cur_seq);
	if (range->event == MMU_NOTIFY_UNMAP || range->event == MMU_NOTIFY_RELEASE)
		flags = PT_UNMAP_FREE;
	if (range->event == MMU_NOTIFY_RELEASE)
		__atomic_store_n(&m->dead, 1, __ATOMIC_RELEASE);
	gpu_mirror_clear_sync(m, range->start, range->end, flags);
	pthread_mutex_unlock(&m->lock);
	GPU_STAT_INC(dev, invalidations);
	return true;
}

static const struct mmu_interval_notifier_ops mirror_ops = {
	.invalidate = mirror_invalidate,
};

struct gpu_mirror *gpu_mirror_find(struct gpu_dev *dev, struct mm_struct *mm)
{
	struct gpu_mirror *m;

	pthread_mutex_lock(&dev->lock);
	for (m = dev->mirrors; m; m = m->next) {
		if (m->mm == mm && !__atomic_load_n(&m->dead, __ATOMIC_ACQUIRE))
			break;
	}
	pthread_mutex_unlock(&dev->lock);
	return m;
}

static void mirror_free(struct gpu_mirror *m)
{
	pt_table_destroy(m->pt);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

int gpu_mirror_get(struct gpu_dev *dev, struct mm_struct *mm, struct gpu_mirror **out)
{
	struct pt_config pc = { .reclaim = dev->cfg.reclaim, .numa_node = -1 };
	struct gpu_mirror *m, *other;
	int err;

	if (!mm)
		return -EINVAL;
	m = gpu_mirror_find(dev, mm);
	if (m) {
		*out = m;
		return 0;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->dev = dev;
	m->mm = mm;
	pthread_mutex_init(&m->lock, NULL);
	err = pt_table_create(dev->fmt, &pc, &m->pt);
	if (err) {
		pthread_mutex_destroy(&m->lock);
		free(m);
		return err;
	}
	/*
	 * Insert outside dev->lock: it takes the mmap_lock for writing, and
	 * migrate_to_ram looks mirrors up with the mmap_lock held.
	 */
	/* Before the notifier goes live: an invalidation may run at once and uses it. */
	m->asid = __atomic_add_fetch(&dev->next_asid, 1, __ATOMIC_RELAXED);
	err = mmu_interval_notifier_insert(&m->notifier, mm, 0, GPU_VA_END, &mirror_ops);
	if (err) {
		mirror_free(m);
		return err;
	}
	pthread_mutex_lock(&dev->lock);
	for (other = dev->mirrors; other; other = other->next) {
		if (other->mm == mm && !__atomic_load_n(&other->dead, __ATOMIC_ACQUIRE))
			break;
	}
	if (!other) {
		m->next = dev->mirrors;
		dev->mirrors = m;
	}
	pthread_mutex_unlock(&dev->lock);
	if (other) {
		/* Another thread made the mirror first: use it. */
		mmu_interval_notifier_remove(&m->notifier);
		mirror_free(m);
		m = other;
	}
	*out = m;
	return 0;
}

void gpu_mirror_destroy(struct gpu_mirror *m)
{
	gpu_queue_fence(m->dev);
	/* A dead mirror's mm is gone; the notifier then knows it watches nothing. */
	mmu_interval_notifier_remove(&m->notifier);
	gpu_queue_fence(m->dev);
	mirror_free(m);
}

/* ------------------------------------------------------------------------ */
/* The checker                                                              */
/* ------------------------------------------------------------------------ */

struct check {
	struct gpu_dev *dev;
	struct gpu_mirror *m;
	char *msg;
	size_t len;
};

__attribute__((format(printf, 3, 4)))
static int violation(struct check *c, uint64_t va, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!c->msg || !c->len)
		return -EUCLEAN;
	n = snprintf(c->msg, c->len, "gpu %s asid %u va 0x%" PRIx64 ": ", c->dev->name,
		     c->m->asid, va);
	if (n >= 0 && (size_t)n < c->len) {
		va_start(ap, fmt);
		vsnprintf(c->msg + n, c->len - n, fmt, ap);
		va_end(ap);
	}
	return -EUCLEAN;
}

/* Every page of a device leaf is mapped by the CPU to the same frame, no more writable. */
static int check_leaf(void *arg, uint64_t va, uint64_t size, pt_entry_t entry, unsigned int level)
{
	struct check *c = arg;
	const struct pt_format *fmt = c->dev->fmt;
	struct pt_table *cpu = mm_page_table(c->m->mm);
	unsigned int shift = pt_leaf_shift(c->m->pt, entry, level);
	uint64_t a, dpfn, cpfn;
	struct vm_area_struct *vma;
	unsigned int clevel;
	pt_entry_t ce;
	bool dwrite = entry & fmt->write;

	if (!pt_entry_present(fmt, entry))
		return violation(c, va, "a non-present device entry 0x%" PRIx64, entry);
	if (va + size > GPU_VA_END)
		return violation(c, va, "a device leaf past user space (size 0x%" PRIx64 ")",
				 size);
	for (a = va; a < va + size; a += GPU_PAGE_SIZE) {
		dpfn = pt_leaf_pfn(fmt, entry, shift, a);
		if (pt_lookup(cpu, a, &ce, &clevel))
			return violation(c, a, "device maps frame 0x%" PRIx64
					 " where the CPU maps nothing", dpfn);
		switch (mm_pte_kind(ce)) {
		case MM_PTE_PRESENT:
			cpfn = pt_leaf_pfn(&pt_format_x86_64_4l, ce,
					   pt_leaf_shift(cpu, ce, clevel), a);
			break;
		case MM_PTE_DEVICE_PRIVATE:
		case MM_PTE_DEVICE_EXCLUSIVE:
			cpfn = mm_pte_pfn(ce) + ((a - gpu_align_down(a, UINT64_C(1) <<
				pt_leaf_shift(cpu, ce, clevel))) >> GPU_PAGE_SHIFT);
			break;
		default:
			return violation(c, a, "device maps frame 0x%" PRIx64
					 " over CPU entry 0x%" PRIx64, dpfn, ce);
		}
		if (cpfn != dpfn)
			return violation(c, a, "device frame 0x%" PRIx64 ", CPU frame 0x%" PRIx64,
					 dpfn, cpfn);
		if (dwrite && !mm_pte_write(ce) && mm_pte_kind(ce) != MM_PTE_DEVICE_EXCLUSIVE)
			return violation(c, a, "writable on the device, not on the CPU (0x%" PRIx64
					 ")", ce);
		/* What the VMA forbids the device may not do either (an atomic mapping writes). */
		vma = vma_lookup(c->m->mm, a);
		if (!vma || !(vma_flags(vma) & VM_READ))
			return violation(c, a, "mapped on the device in a VMA without read%s", "");
		if (dwrite && !(vma_flags(vma) & VM_WRITE))
			return violation(c, a, "writable on the device in a read-only VMA%s", "");
	}
	return 0;
}

static int check_mirror(struct check *c)
{
	static const struct pt_walk_ops ops = { .leaf = check_leaf };
	int err;

	err = pt_check(c->m->pt, c->msg, c->len);
	if (err)
		return err;
	if (__atomic_load_n(&c->m->dead, __ATOMIC_ACQUIRE))
		return 0;
	mmap_read_lock(c->m->mm);
	hmmsim_read_lock();
	err = pt_walk(c->m->pt, 0, GPU_VA_END, &ops, c);
	hmmsim_read_unlock();
	mmap_read_unlock(c->m->mm);
	return err;
}

HMMSIM_API int gpu_check(struct gpu_dev *dev, char *msg, size_t len)
{
	struct check c = { .dev = dev, .msg = msg, .len = len };
	struct gpu_mirror *m;
	int err = 0;

	if (!dev)
		return -EINVAL;
	/* Not gpu_queue_fence(): a check changes no counter (the CLI's --check). */
	gpu_queue_drain(dev);
	pthread_mutex_lock(&dev->lock);
	m = dev->mirrors;
	pthread_mutex_unlock(&dev->lock);
	/* Mirrors are only ever added at the head and freed with the device. */
	for (; m && !err; m = m->next) {
		c.m = m;
		err = check_mirror(&c);
	}
	if (!err && msg && len)
		msg[0] = '\0';
	return err;
}
