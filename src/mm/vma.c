// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * VMAs: a sorted array with binary search (O(log n) lookup; inserts move
 * pointers, which is cheap next to what a mapping change costs), splits at
 * an address, and the search for an unmapped area.
 */
#include <stdlib.h>
#include <string.h>

#include "mm/internal.h"
#include "base/alloc.h"

/* Where the top-down search for free space starts, as x86-64's mmap_base. */
#define MMAP_BASE	UINT64_C(0x7f0000000000)
#define MMAP_MIN	UINT64_C(0x10000)

struct vm_area_struct *vma_alloc(struct mm_struct *mm, uint64_t start, uint64_t end,
				 unsigned int flags)
{
	struct vm_area_struct *vma = hs_calloc(1, sizeof(*vma));

	if (!vma)
		return NULL;
	vma->mm = mm;
	vma->start = start;
	vma->end = end;
	vma->flags = flags;
	vma->pgoff = start >> MM_PAGE_SHIFT;
	return vma;
}

void vma_free(struct vm_area_struct *vma)
{
	if (vma->file)
		phys_file_put(vma->file);
	free(vma);
}

/* Index of the first VMA whose end is above @addr (nr_vmas if none). */
size_t vma_index(struct mm_struct *mm, uint64_t addr)
{
	size_t lo = 0, hi = mm->nr_vmas;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (mm->vmas[mid]->end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

HMMSIM_API struct vm_area_struct *find_vma(struct mm_struct *mm, uint64_t addr)
{
	size_t i = vma_index(mm, addr);

	return i < mm->nr_vmas ? mm->vmas[i] : NULL;
}

HMMSIM_API struct vm_area_struct *vma_lookup(struct mm_struct *mm, uint64_t addr)
{
	struct vm_area_struct *vma = find_vma(mm, addr);

	return vma && vma->start <= addr ? vma : NULL;
}

int vma_insert(struct mm_struct *mm, struct vm_area_struct *vma)
{
	size_t i;

	if (mm->nr_vmas == mm->cap_vmas) {
		size_t cap = mm->cap_vmas ? 2 * mm->cap_vmas : 16;
		struct vm_area_struct **v = hs_realloc(mm->vmas, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		mm->vmas = v;
		mm->cap_vmas = cap;
	}
	i = vma_index(mm, vma->start);
	memmove(&mm->vmas[i + 1], &mm->vmas[i], (mm->nr_vmas - i) * sizeof(*mm->vmas));
	mm->vmas[i] = vma;
	mm->nr_vmas++;
	MM_STAT_INC(mm, vmas);
	return 0;
}

void vma_remove(struct mm_struct *mm, struct vm_area_struct *vma)
{
	size_t i = vma_index(mm, vma->start);

	memmove(&mm->vmas[i], &mm->vmas[i + 1], (mm->nr_vmas - i - 1) * sizeof(*mm->vmas));
	mm->nr_vmas--;
	MM_STAT_SUB(mm, vmas, 1);
}

/*
 * Split @vma at @addr: @vma keeps [start, addr), *@tail gets [addr, end).
 * The page table is not touched (callers split PMD leaves first).
 */
int vma_split(struct vm_area_struct *vma, uint64_t addr, struct vm_area_struct **tail)
{
	struct vm_area_struct *t;
	int err;

	t = hs_malloc(sizeof(*t));
	if (!t)
		return -ENOMEM;
	*t = *vma;
	t->start = addr;
	t->pgoff = vma->pgoff + ((addr - vma->start) >> MM_PAGE_SHIFT);
	vma->end = addr;
	err = vma_insert(vma->mm, t);
	if (err) {
		vma->end = t->end;
		free(t);
		return err;
	}
	/* hugetlb reservations go with the unfaulted pages they are for. */
	if (vma->resv) {
		t->resv = hugetlb_unfaulted(t, t->start, t->end);
		if (t->resv > vma->resv)
			t->resv = vma->resv;
		vma->resv -= t->resv;
	}
	if (t->file)
		phys_file_get(t->file);
	if (tail)
		*tail = t;
	return 0;
}

/*
 * vma_check_split: hugetlb VMAs refuse a split that is not huge-page
 * aligned (-EINVAL), as hugetlb_vm_op_split does.
 * vma_split_range: split the VMAs straddling @start or @end so that VMAs
 * lie wholly inside or outside [@start, @end).
 */
int vma_check_split(struct mm_struct *mm, uint64_t start, uint64_t end)
{
	const uint64_t edges[2] = { start, end };
	struct vm_area_struct *vma;
	unsigned int i;

	for (i = 0; i < 2; i++) {
		vma = vma_lookup(mm, edges[i]);
		if (vma && vma_is_hugetlb(vma) &&
		    (edges[i] & ((UINT64_C(1) << vma->hugetlb_shift) - 1)))
			return -EINVAL;
	}
	return 0;
}

int vma_split_range(struct mm_struct *mm, uint64_t start, uint64_t end)
{
	const uint64_t edges[2] = { start, end };
	struct vm_area_struct *vma;
	unsigned int i;
	int err;

	err = vma_check_split(mm, start, end);
	if (err)
		return err;
	for (i = 0; i < 2; i++) {
		vma = vma_lookup(mm, edges[i]);
		if (!vma || vma->start == edges[i])
			continue;
		err = vma_split(vma, edges[i], NULL);
		if (err)
			return err;
	}
	return 0;
}

bool range_fully_mapped(struct mm_struct *mm, uint64_t start, uint64_t end)
{
	size_t i = vma_index(mm, start);
	uint64_t at = start;

	for (; i < mm->nr_vmas && at < end; i++) {
		if (mm->vmas[i]->start > at)
			return false;
		at = mm->vmas[i]->end;
	}
	return at >= end;
}

/* Is [@start, @start + @len) free of VMAs? */
static bool range_free(struct mm_struct *mm, uint64_t start, uint64_t len)
{
	struct vm_area_struct *vma = find_vma(mm, start);

	return !vma || vma->start >= start + len;
}

/*
 * Top-down search for @len free bytes at an address aligned to @align,
 * plus @offset, as get_unmapped_area does from mmap_base. Returns the
 * address, or 0 when there is no room.
 */
uint64_t get_unmapped_area(struct mm_struct *mm, uint64_t len, uint64_t align, uint64_t offset)
{
	uint64_t top = MMAP_BASE, addr;
	size_t i = mm->nr_vmas;

	if (align < MM_PAGE_SIZE)
		align = MM_PAGE_SIZE;
	/* Skip VMAs above the base (fixed mappings up there). */
	while (i && mm->vmas[i - 1]->start >= top)
		i--;
	for (;;) {
		uint64_t floor = i ? mm->vmas[i - 1]->end : MMAP_MIN;

		if (top > floor + len + offset) {
			addr = ((top - len - offset) & ~(align - 1)) + offset;
			if (addr >= floor && addr + len <= top && range_free(mm, addr, len))
				return addr;
		}
		if (!i)
			return 0;
		top = mm->vmas[--i]->start;
	}
}

HMMSIM_API uint64_t vma_start(const struct vm_area_struct *vma)
{
	return vma->start;
}

HMMSIM_API uint64_t vma_end(const struct vm_area_struct *vma)
{
	return vma->end;
}

HMMSIM_API unsigned int vma_flags(const struct vm_area_struct *vma)
{
	return vma->flags;
}

HMMSIM_API struct mm_struct *vma_mm(const struct vm_area_struct *vma)
{
	return vma->mm;
}

HMMSIM_API unsigned int vma_hugetlb_shift(const struct vm_area_struct *vma)
{
	return vma->hugetlb_shift;
}
