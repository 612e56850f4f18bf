// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Giving device memory back: eviction when migrate-on-first-touch finds the
 * memory full, and gpu_release().
 *
 * Eviction is by frame, as the kernel's drivers do it (migrate_device_range,
 * linux-hmm.md §4.4): the pages go back to system memory wherever they are
 * mapped, in any process, mirrored by this device or not, found through the
 * reverse map. The victims come from a second-chance clock over the pool's
 * frames: a device access and a migration to the device mark the frames
 * they use; the hand clears marks as it passes and takes the first live
 * folio it finds unmarked, so what the device used since the hand last came
 * by stays (an approximation of least recently used, as UVM's is).
 *
 * gpu_release() first migrates back what each live mirror's process maps
 * (test_hmm's per-process release), then evicts by frame what is left:
 * pages of processes the device does not mirror (a fork child's share of
 * its parent's device pages, after the parent exited), as dmirror's
 * dmirror_device_evict_chunk() does.
 */
#include <stdlib.h>

#include "gpu/internal.h"

#define CHUNK_PAGES	(GPU_PMD_SIZE >> GPU_PAGE_SHIFT)

/* ------------------------------------------------------------------------ */
/* The clock                                                                */
/* ------------------------------------------------------------------------ */

int gpu_mem_lru_init(struct gpu_dev *dev)
{
	struct gpu_mem_lru *lru = &dev->lru;
	struct phys_pool_stats st;
	struct phys_pool *pool;

	if (!dev->devmem)
		return 0;
	pool = hmm_devmem_pool(dev->devmem);
	phys_pool_stats(pool, &st);
	lru->first = phys_pool_first_pfn(pool);
	lru->frames = st.nr_frames;
	lru->hand = 0;
	lru->epoch = 1;
	lru->used = calloc(lru->frames ? lru->frames : 1, sizeof(*lru->used));
	lru->stamp = calloc(lru->frames ? lru->frames : 1, sizeof(*lru->stamp));
	if (!lru->used || !lru->stamp) {
		gpu_mem_lru_fini(dev);
		return -ENOMEM;
	}
	return 0;
}

void gpu_mem_lru_fini(struct gpu_dev *dev)
{
	free(dev->lru.used);
	free(dev->lru.stamp);
	dev->lru.used = NULL;
	dev->lru.stamp = NULL;
}

/* The frames of [@pfn, @pfn + *@n) that are the device's memory: the first index, or -1. */
static int64_t frames_of(struct gpu_mem_lru *lru, uint64_t pfn, uint64_t *n)
{
	if (!lru->used || pfn < lru->first || pfn - lru->first >= lru->frames)
		return -1;
	*n = gpu_min(*n, lru->frames - (pfn - lru->first));
	return (int64_t)(pfn - lru->first);
}

void gpu_mem_touch(struct gpu_dev *dev, uint64_t pfn, uint64_t n)
{
	struct gpu_mem_lru *lru = &dev->lru;
	int64_t i = frames_of(lru, pfn, &n);
	uint64_t k;

	for (k = 0; i >= 0 && k < n; k++) {
		/* A load first: a frame in use stays marked without a store. */
		if (!__atomic_load_n(&lru->used[i + k], __ATOMIC_RELAXED))
			__atomic_store_n(&lru->used[i + k], 1, __ATOMIC_RELAXED);
	}
}

void gpu_mem_new(struct gpu_dev *dev, uint64_t pfn, uint64_t n)
{
	struct gpu_mem_lru *lru = &dev->lru;
	uint32_t epoch = __atomic_load_n(&lru->epoch, __ATOMIC_RELAXED);
	int64_t i = frames_of(lru, pfn, &n);
	uint64_t k;

	for (k = 0; i >= 0 && k < n; k++) {
		__atomic_store_n(&lru->stamp[i + k], epoch, __ATOMIC_RELAXED);
		__atomic_store_n(&lru->used[i + k], 1, __ATOMIC_RELAXED);
	}
}

void gpu_mem_epoch_begin(struct gpu_dev *dev)
{
	__atomic_add_fetch(&dev->lru.epoch, 1, __ATOMIC_RELAXED);
}

/* Clear the marks of frames [@i, @i + @n); whether any was set. */
static bool test_and_clear_used(struct gpu_mem_lru *lru, uint64_t i, uint64_t n)
{
	bool used = false;
	uint64_t k;

	for (k = i; k < i + n && k < lru->frames; k++)
		used |= __atomic_exchange_n(&lru->used[k], 0, __ATOMIC_RELAXED);
	return used;
}

/* Did any of frames [@i, @i + @n) come to the device in @epoch? */
static bool new_in(struct gpu_mem_lru *lru, uint64_t i, uint64_t n, uint32_t epoch)
{
	uint64_t k;

	for (k = i; k < i + n && k < lru->frames; k++)
		if (__atomic_load_n(&lru->stamp[k], __ATOMIC_RELAXED) == epoch)
			return true;
	return false;
}

/* ------------------------------------------------------------------------ */
/* Eviction by frame                                                        */
/* ------------------------------------------------------------------------ */

/*
 * Move the device pages of frames [@first, @first + @n) back to system
 * memory, wherever they are mapped. A page someone else holds (locked, an
 * extra reference, a process too busy to unmap it from) stays. *@moved +=
 * pages moved. Returns 0, -ENOMEM, or migrate_device_range()'s -EINVAL
 * (the range cuts a large folio: it was freed and reused meanwhile).
 * Context: no mmap_lock held.
 */
static int evict_frames(struct gpu_dev *dev, uint64_t first, uint64_t n, uint64_t *moved)
{
	uint64_t *src, *dst, i, page, done = 0;
	struct folio *s, *d;
	int ret;

	src = calloc(n, sizeof(*src));
	dst = calloc(n, sizeof(*dst));
	if (!src || !dst) {
		ret = -ENOMEM;
		goto out;
	}
	ret = migrate_device_range(dev->sys, src, first, n);
	if (ret)
		goto out;
	for (i = 0; i < n; i++) {
		if (!(src[i] & MIGRATE_PFN_MIGRATE))
			continue;
		s = gpu_pfn_folio(dev, migrate_pfn_to_pfn(src[i]), &page);
		d = s ? folio_alloc(mm_system_pool(dev->sys), 0, 0) : NULL;
		if (!d)
			continue;	/* no system memory: the page stays */
		folio_lock(d);
		gpu_cmd_copy(dev, d, 0, s, page, 1, false);
		dst[i] = migrate_pfn(folio_pfn(d));
	}
	gpu_queue_fence(dev);
	migrate_device_pages(src, dst, n);
	for (i = 0; i < n; i++)
		done += (src[i] & MIGRATE_PFN_MIGRATE) && (dst[i] & MIGRATE_PFN_VALID);
	migrate_device_finalize(src, dst, n);
	gpu_queue_fence(dev);
	GPU_STAT_ADD(dev, pages_to_sys, done);
	*moved += done;
out:
	free(src);
	free(dst);
	return ret;
}

uint64_t gpu_mem_evict(struct gpu_dev *dev, uint64_t want)
{
	struct gpu_mem_lru *lru = &dev->lru;
	uint32_t epoch = __atomic_load_n(&lru->epoch, __ATOMIC_RELAXED);
	uint64_t moved = 0, scanned, i, page, nr;
	struct folio *folio;

	if (!lru->used || !lru->frames)
		return 0;
	/* Two turns at most: the first may only clear marks. */
	for (scanned = 0; moved < want && scanned < 2 * lru->frames; scanned++) {
		i = lru->hand;
		lru->hand = (lru->hand + 1) % lru->frames;
		folio = gpu_pfn_folio(dev, lru->first + i, &page);
		/* A free frame, or not the first of its folio (the folio goes whole). */
		if (!folio || page)
			continue;
		nr = folio_nr_pages(folio);
		if (new_in(lru, i, nr, epoch))
			continue;	/* what this fault brought in */
		if (test_and_clear_used(lru, i, nr))
			continue;	/* its second chance */
		evict_frames(dev, lru->first + i, nr, &moved);
	}
	GPU_STAT_ADD(dev, evictions, moved);
	return moved;
}

/* ------------------------------------------------------------------------ */
/* Release                                                                  */
/* ------------------------------------------------------------------------ */

struct collect {
	struct gpu_dev *dev;
	uint64_t (*runs)[2];
	size_t n, cap;
	int err;
};

/* Our pages in the CPU table: device-private entries, or present coherent pages. */
static int collect_leaf(uint64_t addr, uint64_t next, pt_entry_t entry, unsigned int level,
			struct mm_walk *walk)
{
	struct collect *c = walk->private;
	enum mm_pte_kind kind = mm_pte_kind(entry);
	struct folio *folio;
	uint64_t page;

	if (kind != MM_PTE_DEVICE_PRIVATE && kind != MM_PTE_PRESENT)
		return 0;
	folio = gpu_pfn_folio(c->dev, mm_pte_pfn(entry), &page);
	if (!folio || !folio_is_zone_device(folio) || folio->owner != c->dev)
		return 0;
	if (c->n && c->runs[c->n - 1][1] == addr) {
		c->runs[c->n - 1][1] = next;
		return 0;
	}
	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 16;
		void *p = realloc(c->runs, cap * sizeof(*c->runs));

		if (!p) {
			c->err = -ENOMEM;
			return -ENOMEM;
		}
		c->runs = p;
		c->cap = cap;
	}
	c->runs[c->n][0] = addr;
	c->runs[c->n][1] = next;
	c->n++;
	return 0;
}

static int release_mirror(struct gpu_dev *dev, struct gpu_mirror *m)
{
	static const struct mm_walk_ops ops = { .leaf = collect_leaf };
	struct collect c = { .dev = dev };
	struct vm_area_struct *vma;
	uint64_t a, next, moved = 0;
	size_t i;
	int ret;

	mmap_read_lock(m->mm);
	ret = walk_page_range(m->mm, 0, GPU_VA_END, &ops, &c);
	for (i = 0; !ret && i < c.n; i++) {
		for (a = c.runs[i][0]; !ret && a < c.runs[i][1]; a = next) {
			vma = vma_lookup(m->mm, a);
			if (!vma)
				break;
			next = gpu_min(gpu_min(c.runs[i][1], vma_end(vma)),
				       gpu_align_down(a, GPU_PMD_SIZE) + GPU_PMD_SIZE);
			ret = gpu_migrate_vma(dev, m, vma, a, next, false, false, &moved, NULL);
		}
	}
	mmap_read_unlock(m->mm);
	free(c.runs);
	return ret;
}

/* Every frame still in use, by frame, in chunks of 2 MiB (never cutting a folio). */
static int release_frames(struct gpu_dev *dev)
{
	struct gpu_mem_lru *lru = &dev->lru;
	uint64_t off, n, moved = 0;
	int ret = 0;

	for (off = 0; off < lru->frames && !ret; off += n) {
		n = gpu_min(CHUNK_PAGES, lru->frames - off);
		ret = evict_frames(dev, lru->first + off, n, &moved);
	}
	return ret;
}

HMMSIM_API int gpu_release(struct gpu_dev *dev)
{
	struct phys_pool_stats st;
	struct gpu_mirror *m;
	int ret = 0;

	if (!dev)
		return -EINVAL;
	if (!dev->devmem)
		return 0;
	pthread_mutex_lock(&dev->lock);
	m = dev->mirrors;
	pthread_mutex_unlock(&dev->lock);
	for (; m && !ret; m = m->next) {
		if (!__atomic_load_n(&m->dead, __ATOMIC_ACQUIRE))
			ret = release_mirror(dev, m);
	}
	if (ret)
		return ret;
	phys_pool_stats(hmm_devmem_pool(dev->devmem), &st);
	if (st.live_frames) {
		/* What no live mirror reached: processes this device does not mirror. */
		ret = release_frames(dev);
		if (ret)
			return ret;
		phys_pool_stats(hmm_devmem_pool(dev->devmem), &st);
	}
	return st.live_frames ? -EBUSY : 0;
}
