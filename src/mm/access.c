// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The CPU's loads and stores: page by page, faulting as a CPU would, and
 * reading or writing the bytes of the folio the entry maps. The bytes are
 * copied under the mm's ptl, so a concurrent COW in the same mm cannot free
 * the page under the copy.
 */
#include <string.h>

#include "mm/internal.h"

enum access_op { ACCESS_READ, ACCESS_WRITE, ACCESS_SET, ACCESS_SUM };

struct access {
	enum access_op op;
	uint8_t *buf;		/* READ, WRITE */
	int byte;		/* SET */
	uint64_t sum;		/* SUM */
};

/* Copy within one page, whose leaf is @e at @level. Under the ptl. */
static int access_page(struct mm_struct *mm, struct access *a, uint64_t addr, uint64_t len,
		       pt_entry_t e, unsigned int level)
{
	static const unsigned int shift[] = { MM_PAGE_SHIFT, MM_PMD_SHIFT, MM_PUD_SHIFT };
	uint64_t pfn = pt_leaf_pfn(&pt_format_x86_64_4l, e, shift[level], addr);
	struct folio *folio = pfn_folio(mm, pfn);
	uint64_t off = ((pfn - folio_pfn(folio)) << MM_PAGE_SHIFT) + (addr & (MM_PAGE_SIZE - 1));
	uint8_t tmp[MM_PAGE_SIZE];
	uint64_t i;

	switch (a->op) {
	case ACCESS_READ:
		return folio_read(folio, off, a->buf, len);
	case ACCESS_WRITE:
		return folio_write(folio, off, a->buf, len);
	case ACCESS_SET:
		memset(tmp, a->byte, len);
		return folio_write(folio, off, tmp, len);
	case ACCESS_SUM:
		folio_read(folio, off, tmp, len);
		for (i = 0; i < len; i++)
			a->sum += tmp[i];
		return 0;
	}
	return -EINVAL;
}

static int access_range(struct mm_struct *mm, uint64_t addr, uint64_t len, struct access *a)
{
	bool write = a->op == ACCESS_WRITE || a->op == ACCESS_SET;
	uint64_t n, end = addr + len;
	unsigned int level, tries = 0;
	pt_entry_t e;
	int err = 0;

	if (!mm || end < addr)
		return -EINVAL;	/* past user space is a fault, as anywhere without a VMA */
	mmap_read_lock(mm);
	while (addr < end && !err) {
		n = MM_PAGE_SIZE - (addr & (MM_PAGE_SIZE - 1));
		if (n > end - addr)
			n = end - addr;
		pthread_mutex_lock(&mm->ptl);
		if (!mm_get_pte(mm, addr, &e, &level) && pte_present(e) &&
		    !(e & _PAGE_PROTNONE) && (!write || (e & _PAGE_RW)) && vma_lookup(mm, addr)) {
			pt_test_and_set_bits(mm->pt, addr,
					     _PAGE_ACCESSED | (write ? _PAGE_DIRTY : 0));
			err = access_page(mm, a, addr, n, e, level);
			pthread_mutex_unlock(&mm->ptl);
			if (a->buf)
				a->buf += n;
			addr += n;
			tries = 0;
			continue;
		}
		pthread_mutex_unlock(&mm->ptl);
		/* A fault that succeeds makes the access possible; never spin on one that does not. */
		err = ++tries > 8 ? -EFAULT : mm_fault_locked(mm, addr, write ? FAULT_FLAG_WRITE : 0);
	}
	mmap_read_unlock(mm);
	return err;
}

HMMSIM_API int mm_read(struct mm_struct *mm, uint64_t addr, void *buf, uint64_t len)
{
	struct access a = { .op = ACCESS_READ, .buf = buf };

	return buf || !len ? access_range(mm, addr, len, &a) : -EINVAL;
}

HMMSIM_API int mm_write(struct mm_struct *mm, uint64_t addr, const void *buf, uint64_t len)
{
	struct access a = { .op = ACCESS_WRITE, .buf = (uint8_t *)buf };

	return buf || !len ? access_range(mm, addr, len, &a) : -EINVAL;
}

HMMSIM_API int mm_memset(struct mm_struct *mm, uint64_t addr, int byte, uint64_t len)
{
	struct access a = { .op = ACCESS_SET, .byte = byte };

	return access_range(mm, addr, len, &a);
}

HMMSIM_API int mm_read_sum(struct mm_struct *mm, uint64_t addr, uint64_t len, uint64_t *sum)
{
	struct access a = { .op = ACCESS_SUM };
	int err;

	if (!sum)
		return -EINVAL;
	err = access_range(mm, addr, len, &a);
	*sum = a.sum;
	return err;
}
