// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The device TLB: set-associative, one array for every page size.
 *
 * An entry translates one page of its size; its set is chosen by the bits
 * just above the page offset of that size, so a 2M entry and a 4K entry of
 * the same region usually land in different sets. A lookup probes one set
 * per page size the format has, largest first, as a unified multi-size TLB
 * does; the first match wins. A fill evicts the least recently used way of
 * its set. Entries are tagged with the mirror's address-space id, so one
 * TLB serves every process the device mirrors, and an invalidation drops
 * the entries of one id that overlap a range, whatever their size.
 *
 * One mutex guards the array: lookups are short, and the counters show the
 * hit rates that large mappings buy (the point of the model), not the
 * host's contention.
 */
#include <stdlib.h>

#include "gpu/internal.h"

int gpu_tlb_init(struct gpu_tlb *tlb, unsigned int sets, unsigned int ways, uint64_t page_sizes)
{
	unsigned int shift;

	tlb->e = calloc((size_t)sets * ways, sizeof(*tlb->e));
	if (!tlb->e)
		return -ENOMEM;
	pthread_mutex_init(&tlb->lock, NULL);
	tlb->sets = sets;
	tlb->ways = ways;
	tlb->tick = 0;
	tlb->nr_shifts = 0;
	for (shift = 63; shift >= GPU_PAGE_SHIFT; shift--) {
		if (page_sizes & (UINT64_C(1) << shift))
			tlb->shifts[tlb->nr_shifts++] = (uint8_t)shift;
	}
	return 0;
}

void gpu_tlb_fini(struct gpu_tlb *tlb)
{
	pthread_mutex_destroy(&tlb->lock);
	free(tlb->e);
	tlb->e = NULL;
}

static struct gpu_tlb_entry *set_of(struct gpu_tlb *tlb, uint64_t va, unsigned int shift)
{
	return &tlb->e[((va >> shift) & (tlb->sets - 1)) * tlb->ways];
}

bool gpu_tlb_lookup(struct gpu_dev *dev, uint32_t asid, uint64_t va, bool write, uint64_t *pfn)
{
	struct gpu_tlb *tlb = &dev->tlb;
	struct gpu_tlb_entry *set, *e;
	unsigned int i, w, shift;

	pthread_mutex_lock(&tlb->lock);
	for (i = 0; i < tlb->nr_shifts; i++) {
		shift = tlb->shifts[i];
		set = set_of(tlb, va, shift);
		for (w = 0; w < tlb->ways; w++) {
			e = &set[w];
			if (!e->valid || e->asid != asid || e->shift != shift ||
			    e->tag != va >> shift)
				continue;
			/*
			 * A read-only entry does not serve a write: the access
			 * walks the table again (an upgrade may be there).
			 */
			if (write && !e->write)
				goto miss;
			e->stamp = ++tlb->tick;
			*pfn = e->pfn + ((va & ((UINT64_C(1) << shift) - 1)) >> GPU_PAGE_SHIFT);
			pthread_mutex_unlock(&tlb->lock);
			GPU_STAT_INC(dev, tlb_hits);
			return true;
		}
	}
miss:
	pthread_mutex_unlock(&tlb->lock);
	GPU_STAT_INC(dev, tlb_misses);
	return false;
}

void gpu_tlb_fill(struct gpu_dev *dev, uint32_t asid, uint64_t va, unsigned int shift,
		  uint64_t first_pfn, bool write)
{
	struct gpu_tlb *tlb = &dev->tlb;
	struct gpu_tlb_entry *set, *victim = NULL;
	unsigned int w;
	int idx;

	pthread_mutex_lock(&tlb->lock);
	set = set_of(tlb, va, shift);
	for (w = 0; w < tlb->ways; w++) {
		struct gpu_tlb_entry *e = &set[w];

		/* The same page again (a stale read-only copy): refresh it in place. */
		if (e->valid && e->asid == asid && e->shift == shift && e->tag == va >> shift) {
			victim = e;
			break;
		}
		if (!e->valid) {
			if (!victim || victim->valid)
				victim = e;
		} else if (!victim || (victim->valid && e->stamp < victim->stamp)) {
			victim = e;
		}
	}
	if (victim->valid && !(victim->asid == asid && victim->shift == shift &&
			       victim->tag == va >> shift))
		GPU_STAT_INC(dev, tlb_evictions);
	victim->valid = 1;
	victim->asid = asid;
	victim->shift = (uint8_t)shift;
	victim->tag = va >> shift;
	victim->pfn = first_pfn;
	victim->write = write;
	victim->stamp = ++tlb->tick;
	pthread_mutex_unlock(&tlb->lock);
	idx = gpu_ps_index(shift);
	if (idx >= 0)
		GPU_STAT_INC(dev, tlb_fills[idx]);
}

uint64_t gpu_tlb_invalidate(struct gpu_dev *dev, uint32_t asid, uint64_t start, uint64_t end)
{
	struct gpu_tlb *tlb = &dev->tlb;
	uint64_t i, n = (uint64_t)tlb->sets * tlb->ways, dropped = 0;

	pthread_mutex_lock(&tlb->lock);
	for (i = 0; i < n; i++) {
		struct gpu_tlb_entry *e = &tlb->e[i];
		uint64_t s, l;

		if (!e->valid || e->asid != asid)
			continue;
		s = e->tag << e->shift;
		l = s + ((UINT64_C(1) << e->shift) - 1);
		if (s < end && start <= l) {
			e->valid = 0;
			dropped++;
		}
	}
	pthread_mutex_unlock(&tlb->lock);
	return dropped;
}
