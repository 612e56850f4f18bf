// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * From an hmm_range_fault() output to device page sizes: the two methods
 * seed 000 compares.
 *
 * With the map order, the answer is read off one entry: a CPU leaf of
 * order o is aligned to its size and gives all its pages the same flags,
 * so any device size up to it whose aligned block lies in the range is
 * allowed. Without it, as ODP did, the folio's order and the frames must be
 * checked page by page, and the answer says what the folio could allow,
 * not how the CPU maps it.
 */
#include "hmm/internal.h"

/* Is the aligned block of 2^@shift bytes around page @idx inside the range? */
static bool block_in_range(uint64_t start, uint64_t npages, uint64_t idx, unsigned int shift,
			   uint64_t *first)
{
	uint64_t va = start + (idx << MM_PAGE_SHIFT);
	uint64_t bva = va & ~((UINT64_C(1) << shift) - 1);

	if (bva < start)
		return false;
	*first = (bva - start) >> MM_PAGE_SHIFT;
	return *first + (UINT64_C(1) << (shift - MM_PAGE_SHIFT)) <= npages;
}

HMMSIM_API unsigned int hmm_range_map_shift(const uint64_t *pfns, uint64_t start,
					    uint64_t npages, uint64_t idx, uint64_t page_sizes)
{
	uint64_t e, first, sizes;
	unsigned int shift;

	if (!pfns || idx >= npages || !((e = pfns[idx]) & HMM_PFN_VALID))
		return 0;
	sizes = page_sizes & ~((UINT64_C(1) << MM_PAGE_SHIFT) - 1) &
		((UINT64_C(2) << (MM_PAGE_SHIFT + hmm_pfn_to_map_order(e))) - 1);
	for (; sizes; sizes &= ~(UINT64_C(1) << shift)) {
		shift = fls64_index(sizes);
		if (shift == MM_PAGE_SHIFT || block_in_range(start, npages, idx, shift, &first))
			return shift;
	}
	return MM_PAGE_SHIFT;
}

HMMSIM_API unsigned int hmm_range_infer_shift(struct phys_machine *machine, const uint64_t *pfns,
					      uint64_t start, uint64_t npages, uint64_t idx,
					      uint64_t page_sizes)
{
	uint64_t e, first, sizes, n, i, pfn0;
	struct folio *folio;
	unsigned int shift;

	if (!pfns || idx >= npages || !((e = pfns[idx]) & HMM_PFN_VALID))
		return 0;
	folio = phys_pfn_to_folio(machine, hmm_pfn_to_pfn(e));
	if (!folio)
		return MM_PAGE_SHIFT;
	sizes = page_sizes & ~((UINT64_C(1) << MM_PAGE_SHIFT) - 1) &
		((UINT64_C(2) << (MM_PAGE_SHIFT + folio_order(folio))) - 1);
	for (; sizes; sizes &= ~(UINT64_C(1) << shift)) {
		shift = fls64_index(sizes);
		if (shift == MM_PAGE_SHIFT)
			return shift;
		if (!block_in_range(start, npages, idx, shift, &first))
			continue;
		n = UINT64_C(1) << (shift - MM_PAGE_SHIFT);
		pfn0 = hmm_pfn_to_pfn(pfns[first]);
		if (pfn0 & (n - 1))
			continue;
		for (i = 0; i < n; i++) {
			uint64_t x = pfns[first + i];

			if (!(x & HMM_PFN_VALID) || ((x ^ e) & HMM_PFN_WRITE) ||
			    hmm_pfn_to_pfn(x) != pfn0 + i)
				break;
		}
		if (i == n)
			return shift;
	}
	return MM_PAGE_SHIFT;
}
