// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * mm_dump: the CPU view of a range, page by page, in DESIGN.md's format:
 * COUNT:CODE@PFN runs; consecutive pages share a run when their code is
 * equal and their frames follow each other.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "mm/internal.h"

struct page_view {
	char code[4];
	bool has_pfn;
	uint64_t pfn;
};

static void view_page(struct mm_struct *mm, uint64_t addr, struct page_view *v)
{
	static const unsigned int shift[] = { MM_PAGE_SHIFT, MM_PMD_SHIFT, MM_PUD_SHIFT };
	struct folio *folio = NULL;
	unsigned int level;
	pt_entry_t e;
	char kind;

	memcpy(v->code, "-..", 4);
	v->has_pfn = false;
	if (mm_get_pte(mm, addr, &e, &level) || !vma_lookup(mm, addr))
		return;
	v->pfn = pt_leaf_pfn(&pt_format_x86_64_4l, e, shift[level], addr);
	v->has_pfn = true;
	switch (mm_pte_kind(e)) {
	case MM_PTE_DEVICE_PRIVATE:
		kind = level ? 'D' : 'd';	/* a device-private PMD: a 2 MiB device folio */
		break;
	case MM_PTE_MIGRATION:
		kind = level ? 'M' : 'm';	/* a PMD migration entry (compound migration) */
		break;
	case MM_PTE_DEVICE_EXCLUSIVE:
		kind = 'e';
		break;
	default:
		folio = pfn_folio(mm, v->pfn);
		if (folio && (folio_flags(folio) & FOLIO_ZERO))
			kind = 'z';
		else if (level)
			kind = 'H';
		else if (folio && folio_test_large(folio))
			kind = 'T';
		else
			kind = 'p';
		break;
	}
	v->code[0] = kind;
	if (kind != 'z' && kind != 'm' && kind != 'M') {
		folio = folio ? folio : pfn_folio(mm, v->pfn);
		if (folio && folio_page_mapcount(folio, folio_page_idx(folio, v->pfn)) == 1)
			v->code[1] = 'x';
	}
	if (mm_pte_write(e) && !(e & _PAGE_PROTNONE))
		v->code[2] = 'w';
}

struct out {
	char *buf;
	size_t size, len;
};

static void emit(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(o->buf ? o->buf + (o->len < o->size ? o->len : o->size) : NULL,
		      o->len < o->size ? o->size - o->len : 0, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->len += n;
}

static void emit_run(struct out *o, uint64_t count, const struct page_view *v)
{
	emit(o, "%s%" PRIu64 ":%s", o->len ? "," : "", count, v->code);
	if (v->has_pfn)
		emit(o, "@0x%" PRIx64, v->pfn);
	else
		emit(o, "@-");
}

HMMSIM_API int mm_dump(struct mm_struct *mm, uint64_t addr, uint64_t len, char *buf, size_t size)
{
	struct out o = { .buf = buf, .size = size };
	struct page_view run, v;
	uint64_t count = 0, next_pfn = 0, a;

	if (!mm || !len || (addr | len) & (MM_PAGE_SIZE - 1) || addr + len < addr ||
	    addr + len > MM_TASK_SIZE || (!buf && size))
		return -EINVAL;
	if (buf && size)
		buf[0] = 0;
	mmap_read_lock(mm);
	pthread_mutex_lock(&mm->ptl);
	for (a = addr; a < addr + len; a += MM_PAGE_SIZE) {
		view_page(mm, a, &v);
		if (count && !strcmp(v.code, run.code) && v.has_pfn == run.has_pfn &&
		    (!v.has_pfn || v.pfn == next_pfn)) {
			count++;
			next_pfn++;
			continue;
		}
		if (count)
			emit_run(&o, count, &run);
		run = v;
		count = 1;
		next_pfn = v.pfn + 1;
	}
	emit_run(&o, count, &run);
	pthread_mutex_unlock(&mm->ptl);
	mmap_read_unlock(mm);
	return o.len > INT32_MAX ? -EINVAL : (int)o.len;
}
