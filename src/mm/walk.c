// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The page walker every layer uses (mm/pagewalk.c's walk_page_range): VMA
 * by VMA, and inside a VMA one code path for every leaf size, hugetlb
 * included (seed 004): no hugetlb_entry, no split of what is walked.
 */
#include "mm/internal.h"

struct walk_adapter {
	struct mm_walk *walk;
};

static int adapt_leaf(void *arg, uint64_t va, uint64_t size, pt_entry_t e, unsigned int level)
{
	struct mm_walk *walk = arg;

	return walk->ops->leaf ? walk->ops->leaf(va, va + size, e, level, walk) : 0;
}

static int adapt_hole(void *arg, uint64_t va, uint64_t size, unsigned int level)
{
	struct mm_walk *walk = arg;

	return walk->ops->hole ? walk->ops->hole(va, va + size, (int)level, walk) : 0;
}

HMMSIM_API int walk_page_range(struct mm_struct *mm, uint64_t start, uint64_t end,
			       const struct mm_walk_ops *ops, void *private)
{
	static const struct pt_walk_ops pt_ops = { .leaf = adapt_leaf, .hole = adapt_hole };
	struct mm_walk walk = { .ops = ops, .mm = mm, .private = private };
	struct vm_area_struct *vma;
	uint64_t s, e;
	size_t i;
	int ret = 0;

	if (!mm || !ops || start >= end || end > MM_TASK_SIZE || (start & (MM_PAGE_SIZE - 1)) ||
	    (end & (MM_PAGE_SIZE - 1)))
		return -EINVAL;
	for (i = vma_index(mm, start); start < end && !ret; i++) {
		vma = i < mm->nr_vmas ? mm->vmas[i] : NULL;
		s = vma && vma->start < end ? vma->start : end;
		if (start < s) {
			/* A gap between VMAs. */
			walk.vma = NULL;
			if (ops->hole)
				ret = ops->hole(start, s, -1, &walk);
			start = s;
			if (ret || !vma || vma->start >= end)
				break;
		}
		walk.vma = vma;
		e = vma->end < end ? vma->end : end;
		if (ops->test_walk) {
			ret = ops->test_walk(start, e, &walk);
			if (ret == 1) {
				ret = 0;
				start = e;
				continue;
			}
			if (ret)
				break;
		}
		ret = pt_walk(mm->pt, start, e - start, &pt_ops, &walk);
		start = e;
	}
	return ret;
}
