// SPDX-License-Identifier: LGPL-2.1-or-later
/* mmap, munmap and mremap: creating, removing and moving VMAs. */
#include "mm/internal.h"

#define MAP_KNOWN (MM_MAP_PRIVATE | MM_MAP_SHARED | MM_MAP_ANONYMOUS | MM_MAP_FIXED | \
		   MM_MAP_HUGETLB | MM_MAP_HUGE_2MB | MM_MAP_HUGE_1GB)

static bool range_ok(uint64_t addr, uint64_t len)
{
	return len && !(addr & (MM_PAGE_SIZE - 1)) && addr + len > addr &&
	       addr + len <= MM_TASK_SIZE;
}

/* The address the profile's get_unmapped_area would align an anonymous region to. */
static uint64_t anon_align(const struct mm_profile *prof, uint64_t len)
{
	switch (prof->anon_align) {
	case MM_ALIGN_LARGE:
		return len >= MM_PMD_SIZE ? MM_PMD_SIZE : MM_PAGE_SIZE;
	case MM_ALIGN_PMD_MULTIPLE:
		return !(len & (MM_PMD_SIZE - 1)) ? MM_PMD_SIZE : MM_PAGE_SIZE;
	default:
		return MM_PAGE_SIZE;
	}
}

/*
 * Unmap [@start, @end): split what the edges cut, UNMAP over the whole
 * range, zap, free the page tables left empty, remove the VMAs.
 * Context: mmap_lock held for writing.
 */
int do_munmap(struct mm_struct *mm, uint64_t start, uint64_t end)
{
	struct mmu_notifier_range range;
	struct vm_area_struct *vma;
	size_t i;
	int err;

	vma = find_vma(mm, start);
	if (!vma || vma->start >= end)
		return 0;
	err = isolate_range(mm, start, end);
	if (err)
		return err;

	mmu_notifier_range_init(&range, MMU_NOTIFY_UNMAP, mm, start, end);
	mmu_notifier_invalidate_range_start(&range);
	for (i = vma_index(mm, start); i < mm->nr_vmas && mm->vmas[i]->start < end; i++) {
		vma = mm->vmas[i];
		hugetlb_unreserve(vma);
		zap_vma_range(vma, vma->start, vma->end);
	}
	mmu_notifier_invalidate_range_end(&range);

	/* free_pgtables: the directories no VMA needs any more. */
	pt_unmap(mm->pt, start, end - start, PT_UNMAP_FREE);
	while ((i = vma_index(mm, start)) < mm->nr_vmas && mm->vmas[i]->start < end) {
		vma = mm->vmas[i];
		vma_remove(mm, vma);
		vma_free(vma);
	}
	return 0;
}

static int mmap_validate(const struct mm_mmap_args *a, uint64_t *len, unsigned int *hshift)
{
	unsigned int f = a->flags;

	*hshift = 0;
	if (!a->len || (f & ~MAP_KNOWN) || (a->prot & ~(MM_PROT_READ | MM_PROT_WRITE)) ||
	    !(f & MM_MAP_PRIVATE) == !(f & MM_MAP_SHARED) ||
	    !(f & MM_MAP_ANONYMOUS) == !a->file || (a->pgoff & (MM_PAGE_SIZE - 1)))
		return -EINVAL;
	if (a->align && (!is_pow2(a->align) || a->align < MM_PAGE_SIZE ||
			 a->offset >= a->align || (a->offset & (MM_PAGE_SIZE - 1))))
		return -EINVAL;
	if (f & MM_MAP_HUGETLB) {
		if (!(f & MM_MAP_ANONYMOUS) || !(f & MM_MAP_HUGE_2MB) == !(f & MM_MAP_HUGE_1GB))
			return -EINVAL;
		*hshift = (f & MM_MAP_HUGE_2MB) ? MM_PMD_SHIFT : MM_PUD_SHIFT;
		/* Placement must keep the huge pages aligned. */
		if (a->align && (a->align < (UINT64_C(1) << *hshift) ||
				 (a->offset & ((UINT64_C(1) << *hshift) - 1))))
			return -EINVAL;
	} else if (f & (MM_MAP_HUGE_2MB | MM_MAP_HUGE_1GB)) {
		return -EINVAL;
	}
	/* Linux rounds a MAP_HUGETLB length up to the huge page. */
	*len = round_up_to(a->len, *hshift ? UINT64_C(1) << *hshift : MM_PAGE_SIZE);
	if (*len < a->len || *len > MM_TASK_SIZE)
		return -ENOMEM;
	if ((f & MM_MAP_FIXED) &&
	    (!range_ok(a->addr, *len) || (a->addr & ((UINT64_C(1) << (*hshift ? *hshift : 12)) - 1))))
		return -EINVAL;
	return 0;
}

HMMSIM_API int mm_mmap(struct mm_struct *mm, const struct mm_mmap_args *a, uint64_t *out)
{
	unsigned int hshift, vmflags;
	struct vm_area_struct *vma;
	uint64_t len, addr, align;
	int err;

	if (!mm || !a || !out)
		return -EINVAL;
	err = mmap_validate(a, &len, &hshift);
	if (err)
		return err;
	vmflags = VM_MAYWRITE;
	if (a->prot & (MM_PROT_READ | MM_PROT_WRITE))
		vmflags |= VM_READ;	/* x86: write implies read */
	if (a->prot & MM_PROT_WRITE)
		vmflags |= VM_WRITE;
	if (a->flags & MM_MAP_SHARED)
		vmflags |= VM_SHARED;
	if (a->flags & MM_MAP_ANONYMOUS)
		vmflags |= VM_ANON;
	if (hshift)
		vmflags |= VM_HUGETLB;

	mmap_write_lock(mm);
	if (a->flags & MM_MAP_FIXED) {
		addr = a->addr;
	} else {
		align = a->align;
		if (!align)
			align = hshift ? UINT64_C(1) << hshift :
			       (a->flags & MM_MAP_ANONYMOUS) ? anon_align(mm->profile, len) :
							       MM_PAGE_SIZE;
		addr = get_unmapped_area(mm, len, align, a->align ? a->offset : 0);
		err = addr ? 0 : -ENOMEM;
		if (err)
			goto unlock;
	}
	/* Everything that can fail before MAP_FIXED unmaps what is there. */
	err = -ENOMEM;
	vma = vma_alloc(mm, addr, addr + len, vmflags);
	if (!vma)
		goto unlock;
	vma->hugetlb_shift = hshift;
	if (a->file) {
		phys_file_get(a->file);
		vma->file = a->file;
		vma->pgoff = a->pgoff >> MM_PAGE_SHIFT;
	} else if (a->flags & MM_MAP_SHARED) {
		/* Shared anonymous memory is a file nobody else can name (shmem). */
		err = hshift ? phys_file_create_hugetlb(mm->sys->hugetlb, hshift - MM_PAGE_SHIFT,
							len, &vma->file) :
			       phys_file_create(mm->sys->pool, len, &vma->file);
		if (err)
			goto free_vma;
		vma->pgoff = 0;
	}
	if (hshift) {
		err = hugetlb_reserve(vma);
		if (err)
			goto free_vma;
	}
	if (a->flags & MM_MAP_FIXED) {
		err = do_munmap(mm, addr, addr + len);
		if (err)
			goto unreserve;
	}
	err = vma_insert(mm, vma);
	if (err)
		goto unreserve;
	*out = addr;
	mmap_write_unlock(mm);
	return 0;

unreserve:
	hugetlb_unreserve(vma);
free_vma:
	vma_free(vma);
unlock:
	mmap_write_unlock(mm);
	return err;
}

HMMSIM_API int mm_munmap(struct mm_struct *mm, uint64_t addr, uint64_t len)
{
	int err;

	if (!mm || !range_ok(addr, len))
		return -EINVAL;
	len = round_up_to(len, MM_PAGE_SIZE);
	if (addr + len > MM_TASK_SIZE)
		return -EINVAL;
	mmap_write_lock(mm);
	err = do_munmap(mm, addr, addr + len);
	mmap_write_unlock(mm);
	return err;
}

struct move_batch {
	unsigned int n;
	struct {
		uint64_t va, size;
		pt_entry_t e;
	} leaf[512];
};

static int collect_leaf(void *arg, uint64_t va, uint64_t size, pt_entry_t e, unsigned int level)
{
	struct move_batch *b = arg;

	b->leaf[b->n].va = va;
	b->leaf[b->n].size = size;
	b->leaf[b->n++].e = e;
	return 0;
}

/*
 * move_page_tables: the entries of [@old, @old + @len) go to @new, PMD and
 * PUD leaves whole where the displacement keeps them aligned (the caller
 * split the others). Folio references and mapcounts do not change.
 */
static int move_entries(struct mm_struct *mm, uint64_t old, uint64_t new, uint64_t len,
			unsigned int chunk_shift)
{
	static const struct pt_walk_ops ops = { .leaf = collect_leaf };
	struct move_batch b;
	uint64_t at, next;
	unsigned int i;
	int err;

	for (at = old; at < old + len; at = next) {
		next = align_down(at, chunk_shift) + (UINT64_C(1) << chunk_shift);
		if (next > old + len)
			next = old + len;
		b.n = 0;
		pt_walk(mm->pt, at, next - at, &ops, &b);
		for (i = 0; i < b.n; i++) {
			err = pt_map(mm->pt, b.leaf[i].va - old + new, b.leaf[i].size,
				     fls64_index(b.leaf[i].size), pte_for_map(b.leaf[i].e), 0);
			if (err)
				return err;
		}
		pt_unmap(mm->pt, at, next - at, 0);
	}
	return 0;
}

HMMSIM_API int mm_mremap(struct mm_struct *mm, uint64_t old_addr, uint64_t old_len,
			 unsigned int flags, uint64_t new_addr, uint64_t align, uint64_t offset,
			 uint64_t *new_start)
{
	struct mmu_notifier_range range;
	struct vm_area_struct *vma, *nvma;
	unsigned int chunk_shift = MM_PMD_SHIFT;
	uint64_t new, at, hsize;
	int err;

	if (!mm || !new_start || !range_ok(old_addr, old_len) || (flags & ~MM_MAP_FIXED) ||
	    (align && (!is_pow2(align) || align < MM_PAGE_SIZE || offset >= align ||
		       (offset & (MM_PAGE_SIZE - 1)))))
		return -EINVAL;
	mmap_write_lock(mm);
	vma = vma_lookup(mm, old_addr);
	err = -EFAULT;
	if (!vma || vma->start != old_addr || vma->end - vma->start != old_len)
		goto unlock;
	hsize = vma_is_hugetlb(vma) ? UINT64_C(1) << vma->hugetlb_shift : MM_PAGE_SIZE;
	err = -EINVAL;
	if (flags & MM_MAP_FIXED) {
		new = new_addr;
		if (!range_ok(new, old_len) || (new & (hsize - 1)) ||
		    (new < old_addr + old_len && old_addr < new + old_len))
			goto unlock;
		err = do_munmap(mm, new, new + old_len);
		if (err)
			goto unlock;
	} else {
		if (align && (align < hsize || (offset & (hsize - 1))))
			goto unlock;
		new = get_unmapped_area(mm, old_len, align ? align : hsize, align ? offset : 0);
		err = -ENOMEM;
		if (!new)
			goto unlock;
	}
	nvma = vma_alloc(mm, new, new + old_len, vma->flags);
	err = -ENOMEM;
	if (!nvma)
		goto unlock;

	mmu_notifier_range_init(&range, MMU_NOTIFY_UNMAP, mm, old_addr, old_addr + old_len);
	mmu_notifier_invalidate_range_start(&range);
	if (vma_is_hugetlb(vma)) {
		chunk_shift = vma->hugetlb_shift;
	} else if ((new - old_addr) & (MM_PMD_SIZE - 1)) {
		/* A PMD leaf cannot land misaligned: split them (nested CLEARs). */
		for (at = old_addr; at < old_addr + old_len; at += MM_PMD_SIZE)
			split_huge_pmd(vma, align_down(at, MM_PMD_SHIFT));
	}
	err = move_entries(mm, old_addr, new, old_len, chunk_shift);
	mmu_notifier_invalidate_range_end(&range);
	if (err) {
		/* Only the page table's directories can run out; the moved part stays. */
		vma_free(nvma);
		goto unlock;
	}
	/* The new VMA is the old one moved: same pages, same file offset. */
	*nvma = *vma;
	nvma->start = new;
	nvma->end = new + old_len;
	vma_remove(mm, vma);
	vma->file = NULL;
	vma_free(vma);
	vma_insert(mm, nvma);
	pt_unmap(mm->pt, old_addr, old_len, PT_UNMAP_FREE);
	/* And the old range's munmap, empty by now. */
	mmu_notifier_range_init(&range, MMU_NOTIFY_UNMAP, mm, old_addr, old_addr + old_len);
	mmu_notifier_invalidate_range_start(&range);
	mmu_notifier_invalidate_range_end(&range);
	*new_start = new;
	err = 0;
unlock:
	mmap_write_unlock(mm);
	return err;
}
