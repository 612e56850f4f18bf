// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The device's memory accesses: translate through the TLB, walk the
 * mirror's table on a miss, then move the bytes of the frame the device
 * table names (a system page or a page of the device's own memory: both
 * are folios of the same machine, so the bytes are the folio's). An access
 * without a translation, or a write through a read-only one, is a fault for
 * the caller to record.
 *
 * An access holds dev->access for reading from the translation to the last
 * byte moved. A TLB invalidation takes it for writing, so when an
 * invalidation's fence returns, no access is still using a translation it
 * dropped: the CPU may then free or reuse the page (what a real GPU's
 * invalidate-and-wait gives the kernel).
 */
#include <string.h>

#include "gpu/internal.h"

struct folio *gpu_pfn_folio(struct gpu_dev *dev, uint64_t pfn, uint64_t *page)
{
	struct folio *folio;
	int tries;

	/*
	 * A large folio may be split under us (the deferred-split shrinker):
	 * the frame then belongs to a new, smaller folio; look again.
	 */
	for (tries = 0; tries < 8; tries++) {
		folio = phys_pfn_to_folio(dev->machine, pfn);
		if (!folio)
			return NULL;
		*page = pfn - folio_pfn(folio);
		if (pfn >= folio_pfn(folio) && *page < folio_nr_pages(folio))
			return folio;
	}
	return NULL;
}

int gpu_translate(struct gpu_mirror *m, uint64_t va, bool write, uint64_t *pfn)
{
	struct gpu_dev *dev = m->dev;
	const struct pt_format *fmt = dev->fmt;
	unsigned int level, shift;
	pt_entry_t e;
	int err;

	if (gpu_tlb_lookup(dev, m->asid, va, write, pfn))
		return 0;
	hmmsim_read_lock();
	err = pt_lookup(m->pt, va, &e, &level);
	hmmsim_read_unlock();
	gpu_clock_add(dev, dev->cfg.cost.walk_ns);
	if (err || !pt_entry_present(fmt, e) || (write && !(e & fmt->write)))
		return -EFAULT;
	shift = pt_leaf_shift(m->pt, e, level);
	gpu_tlb_fill(dev, m->asid, va, shift, pt_entry_pfn(fmt, e), e & fmt->write);
	*pfn = pt_leaf_pfn(fmt, e, shift, va);
	return 0;
}

static uint64_t byte_sum(const unsigned char *p, uint64_t len)
{
	uint64_t s = 0, i;

	for (i = 0; i < len; i++)
		s += p[i];
	return s;
}

/*
 * The folio holding frame @pfn, referenced, and the frame's bytes (NULL in
 * a metadata-only pool); NULL when the frame is free. The lookup is
 * speculative, as phys.h says: take a reference, then check the folio
 * still holds the frame. The reference keeps the folio from being split
 * (or freed) while the bytes are used: a split between the lookup and the
 * use once left a page index past the smaller head, so that a read
 * returned zeros and a memset was dropped without an error.
 */
static struct folio *frame_get(struct gpu_dev *dev, uint64_t pfn, unsigned char **bytes)
{
	struct folio *folio;
	int tries;

	for (tries = 0; tries < 64; tries++) {
		folio = phys_pfn_to_folio(dev->machine, pfn);
		if (!folio)
			return NULL;
		gpu_hook(GPU_HOOK_ACCESS_FRAME, dev, pfn);
		if (!folio_try_get(folio))
			continue;	/* freed, or frozen by a split: look again */
		if (pfn >= folio_pfn(folio) && pfn - folio_pfn(folio) < folio_nr_pages(folio)) {
			*bytes = folio_has_data(folio) ? folio_data(folio, pfn - folio_pfn(folio)) :
							 NULL;
			return folio;
		}
		folio_put(folio);	/* split or reused meanwhile */
	}
	return NULL;
}

/*
 * The bytes a device access moves are simulated memory: the CPU and other
 * devices may use them at the same time, as on real memory (the soak's
 * readers do, checking with a seqlock). ThreadSanitizer is told to ignore
 * them, not the metadata around them.
 */
#ifdef HMMSIM_TSAN
void AnnotateIgnoreReadsBegin(const char *file, int line);
void AnnotateIgnoreReadsEnd(const char *file, int line);
void AnnotateIgnoreWritesBegin(const char *file, int line);
void AnnotateIgnoreWritesEnd(const char *file, int line);
#define DMA_BEGIN() (AnnotateIgnoreReadsBegin(__FILE__, __LINE__), \
		     AnnotateIgnoreWritesBegin(__FILE__, __LINE__))
#define DMA_END() (AnnotateIgnoreWritesEnd(__FILE__, __LINE__), \
		   AnnotateIgnoreReadsEnd(__FILE__, __LINE__))
#else
#define DMA_BEGIN() ((void)0)
#define DMA_END() ((void)0)
#endif

int gpu_access(struct gpu_mirror *m, uint64_t va, uint64_t len, enum gpu_access_op op,
	       void *buf, const void *src, int byte, uint64_t *sum)
{
	struct gpu_dev *dev = m->dev;
	struct folio *folio;
	unsigned char *p;
	uint64_t pfn, off;
	int err = 0;

	pthread_rwlock_rdlock(&dev->access);
	if (gpu_translate(m, va, op != GPU_ACC_READ, &pfn)) {
		pthread_rwlock_unlock(&dev->access);
		return -EFAULT;
	}
	folio = frame_get(dev, pfn, &p);
	if (!folio) {
		pthread_rwlock_unlock(&dev->access);
		return -EFAULT;
	}
	gpu_mem_touch(dev, pfn, 1);	/* the eviction clock's mark, if it is our memory */
	off = va & (GPU_PAGE_SIZE - 1);
	switch (op) {
	case GPU_ACC_READ:
		if (p) {
			DMA_BEGIN();
			if (buf)
				memcpy(buf, p + off, len);
			if (sum)
				*sum += byte_sum(p + off, len);
			DMA_END();
		} else if (buf) {
			memset(buf, 0, len);	/* a metadata-only frame reads as zeros */
		}
		break;
	case GPU_ACC_WRITE:
	case GPU_ACC_MEMSET:
		if (is_zero_folio(folio) || is_huge_zero_folio(folio)) {
			err = -EPERM;
		} else if (p) {
			DMA_BEGIN();
			if (op == GPU_ACC_WRITE)
				memcpy(p + off, src, len);
			else
				memset(p + off, byte, len);
			DMA_END();
		}
		break;
	}
	folio_put(folio);
	pthread_rwlock_unlock(&dev->access);
	/* A write through a mapping of the zero page would be a mirror bug: fail loudly. */
	return err ? -EFAULT : 0;
}
