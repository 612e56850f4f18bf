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

int gpu_access(struct gpu_mirror *m, uint64_t va, uint64_t len, enum gpu_access_op op,
	       void *buf, const void *src, int byte, uint64_t *sum)
{
	struct gpu_dev *dev = m->dev;
	uint64_t pfn, page, off;
	struct folio *folio;
	unsigned char *p;
	int err = 0;

	pthread_rwlock_rdlock(&dev->access);
	if (gpu_translate(m, va, op != GPU_ACC_READ, &pfn)) {
		pthread_rwlock_unlock(&dev->access);
		return -EFAULT;
	}
	folio = gpu_pfn_folio(dev, pfn, &page);
	if (!folio) {
		pthread_rwlock_unlock(&dev->access);
		return -EFAULT;
	}
	off = va & (GPU_PAGE_SIZE - 1);
	p = folio_data(folio, page);
	switch (op) {
	case GPU_ACC_READ:
		if (p) {
			if (buf)
				memcpy(buf, p + off, len);
			if (sum)
				*sum += byte_sum(p + off, len);
		} else if (buf) {
			memset(buf, 0, len);	/* a metadata-only frame reads as zeros */
		}
		break;
	case GPU_ACC_WRITE:
		err = folio_write(folio, page * GPU_PAGE_SIZE + off, src, len);
		break;
	case GPU_ACC_MEMSET:
		if (is_zero_folio(folio) || is_huge_zero_folio(folio))
			err = -EPERM;
		else if (p)
			memset(p + off, byte, len);
		break;
	}
	pthread_rwlock_unlock(&dev->access);
	/* A write through a mapping of the zero page would be a mirror bug: fail loudly. */
	return err ? -EFAULT : 0;
}
