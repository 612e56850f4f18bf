// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Invariant checkers (cpu-mm-spec §12): VMA and page-table consistency per
 * process, and the folio accounting equation across every process.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "mm/internal.h"
#include "mm/rmap.h"

struct check {
	char *msg;
	size_t len;
	struct mm_struct *mm;
	struct vm_area_struct *vma;
	/* Mappings seen, for the system check: one record per leaf. */
	struct mapping *maps;
	size_t nmaps, cap;
};

struct mapping {
	struct folio *folio;
	uint64_t page;		/* first page mapped */
	unsigned int level;	/* 0 PTE (one page), 1 PMD, 2 PUD */
	bool counted;		/* in the mapcount (device-exclusive before 6.15: not) */
};

static int fail(struct check *c, const char *fmt, ...)
{
	va_list ap;

	if (c->msg && c->len) {
		va_start(ap, fmt);
		vsnprintf(c->msg, c->len, fmt, ap);
		va_end(ap);
	}
	return -EUCLEAN;
}

static int record(struct check *c, struct folio *folio, uint64_t page, unsigned int level,
		  bool counted)
{
	struct mapping *m;

	if (!c->cap)
		return 0;	/* not collecting */
	if (c->nmaps == c->cap) {
		m = realloc(c->maps, 2 * c->cap * sizeof(*m));
		if (!m)
			return -ENOMEM;
		c->maps = m;
		c->cap *= 2;
	}
	c->maps[c->nmaps++] = (struct mapping){ folio, page, level, counted };
	return 0;
}

static int check_leaf(uint64_t addr, uint64_t next, pt_entry_t e, unsigned int level,
		      struct mm_walk *walk)
{
	struct check *c = walk->private;
	struct vm_area_struct *vma = walk->vma;
	uint64_t size = UINT64_C(1) << (level == 2 ? MM_PUD_SHIFT : level ? MM_PMD_SHIFT : MM_PAGE_SHIFT);
	uint64_t start = align_down(addr, level == 2 ? MM_PUD_SHIFT : level ? MM_PMD_SHIFT :
						       MM_PAGE_SHIFT);
	struct folio *folio;
	uint64_t page;
	unsigned int t;

	if (start < vma->start || start + size > vma->end)
		return fail(c, "leaf at 0x%" PRIx64 " (level %u) crosses its VMA [0x%" PRIx64
			    ", 0x%" PRIx64 ")", start, level, vma->start, vma->end);
	if (vma_is_hugetlb(vma) ? level != (vma->hugetlb_shift == MM_PUD_SHIFT ? 2u : 1u) :
				  level == 2)
		return fail(c, "leaf of level %u at 0x%" PRIx64 " in a VMA that cannot hold it",
			    level, start);
	if (addr != start)
		return 0;	/* a clipped leaf was seen whole by its VMA */
	if (!pte_present(e)) {
		t = pte_swp_type(e);
		if (t != SWP_DEVICE_READ && t != SWP_DEVICE_WRITE && t != SWP_DEVICE_EXCLUSIVE)
			return 0;
		folio = pfn_folio(c->mm, pte_pfn(e));
		if (!folio)
			return fail(c, "entry at 0x%" PRIx64 " names no folio", addr);
		if (level) {
			/* A device-private PMD maps a whole order-9 device-private folio. */
			if (t == SWP_DEVICE_EXCLUSIVE || level != 1 ||
			    !folio_is_device_private(folio) || pte_pfn(e) != folio_pfn(folio) ||
			    folio_nr_pages(folio) != size >> MM_PAGE_SHIFT)
				return fail(c, "level-%u device entry at 0x%" PRIx64 " does not map "
					    "a whole device-private folio of its size", level, addr);
			if (t == SWP_DEVICE_WRITE && !(vma->flags & VM_WRITE))
				return fail(c, "writable device entry at 0x%" PRIx64 " in a VMA "
					    "without VM_WRITE", addr);
			if (!mm_rmap_index_ok(vma, addr, folio, 0))
				return fail(c, "anon folio at 0x%" PRIx64 " has the wrong index "
					    "0x%" PRIx64, addr, folio->index);
			return record(c, folio, 0, level, true);
		}
		if (!mm_rmap_index_ok(vma, addr, folio, folio_page_idx(folio, pte_pfn(e))))
			return fail(c, "anon folio at 0x%" PRIx64 " has the wrong index 0x%" PRIx64,
				    addr, folio->index);
		return record(c, folio, folio_page_idx(folio, pte_pfn(e)), 0,
			      t != SWP_DEVICE_EXCLUSIVE || c->mm->profile->exclusive_mapcount);
	}
	if ((e & _PAGE_RW) && !(vma->flags & VM_WRITE))
		return fail(c, "writable entry at 0x%" PRIx64 " in a VMA without VM_WRITE", addr);
	if ((e & _PAGE_PROTNONE) && (vma->flags & VM_READ))
		return fail(c, "PROT_NONE entry at 0x%" PRIx64 " in a readable VMA", addr);
	/* The converse: in a VMA without read permission no entry is accessible. */
	if (!(e & _PAGE_PROTNONE) && !(vma->flags & VM_READ))
		return fail(c, "accessible entry at 0x%" PRIx64 " (level %u) in a VMA without "
			    "read permission", addr, level);
	if (e & _PAGE_SPECIAL) {
		if (e & _PAGE_RW)
			return fail(c, "writable zero page at 0x%" PRIx64, addr);
		return 0;
	}
	folio = pfn_folio(c->mm, pte_pfn(e));
	if (!folio)
		return fail(c, "leaf at 0x%" PRIx64 " maps pfn 0x%" PRIx64 ", no folio", addr,
			    pte_pfn(e));
	page = folio_page_idx(folio, pte_pfn(e));
	if (level && (page || folio_nr_pages(folio) != size >> MM_PAGE_SHIFT))
		return fail(c, "level-%u leaf at 0x%" PRIx64 " does not map a whole folio of its "
			    "size", level, addr);
	if ((e & _PAGE_RW) && folio_test_anon(folio) && !folio_page_anon_exclusive(folio, page))
		return fail(c, "writable anon page at 0x%" PRIx64 " is not anon-exclusive", addr);
	/* The rmap's linear index (rmap.h): where the page is, as seen from the folio. */
	if (!mm_rmap_index_ok(vma, addr, folio, page))
		return fail(c, "anon folio at 0x%" PRIx64 " has the wrong index 0x%" PRIx64
			    " (the VMA's pgoff there is 0x%" PRIx64 ")", addr, folio->index,
			    vma_pgoff_of(vma, addr));
	return record(c, folio, page, level, true);
}

static int check_mm(struct check *c, struct mm_struct *mm)
{
	static const struct mm_walk_ops ops = { .leaf = check_leaf };
	struct vm_area_struct *prev = NULL, *vma;
	size_t i;
	int err;

	c->mm = mm;
	for (i = 0; i < mm->nr_vmas; i++) {
		vma = mm->vmas[i];
		if (vma->start >= vma->end || (vma->start | vma->end) & (MM_PAGE_SIZE - 1) ||
		    vma->end > MM_TASK_SIZE || (prev && prev->end > vma->start))
			return fail(c, "VMA [0x%" PRIx64 ", 0x%" PRIx64 ") is misplaced", vma->start,
				    vma->end);
		if (vma_is_hugetlb(vma) &&
		    ((vma->start | vma->end) & ((UINT64_C(1) << vma->hugetlb_shift) - 1)))
			return fail(c, "hugetlb VMA [0x%" PRIx64 ", 0x%" PRIx64 ") is misaligned",
				    vma->start, vma->end);
		prev = vma;
	}
	/* Entries outside every VMA. */
	for (i = 0; i <= mm->nr_vmas; i++) {
		uint64_t s = i ? mm->vmas[i - 1]->end : 0;
		uint64_t e = i < mm->nr_vmas ? mm->vmas[i]->start : MM_TASK_SIZE;
		struct pt_iter it;

		if (s >= e)
			continue;
		hmmsim_read_lock();
		pt_iter_start(&it, mm->pt, s, e - s);
		err = pt_iter_next(&it);
		hmmsim_read_unlock();
		if (err)
			return fail(c, "entry at 0x%" PRIx64 " outside every VMA", it.va);
	}
	err = walk_page_range(mm, 0, MM_TASK_SIZE, &ops, c);
	if (err)
		return err;
	err = pt_check(mm->pt, c->msg, c->len);
	return err;
}

HMMSIM_API int mm_check(struct mm_struct *mm, char *msg, size_t len)
{
	struct check c = { .msg = msg, .len = len };

	if (msg && len)
		msg[0] = 0;
	return mm ? check_mm(&c, mm) : -EINVAL;
}

static int by_folio(const void *a, const void *b)
{
	const struct mapping *x = a, *y = b;

	if (x->folio != y->folio)
		return x->folio < y->folio ? -1 : 1;
	return x->page < y->page ? -1 : x->page > y->page;
}

/* The accounting of one folio against the n mappings found of it. */
static int check_folio(struct check *c, const struct mapping *m, size_t n)
{
	struct folio *folio = m->folio;
	int ptes = 0, entire = 0, mapped = 0, expect;
	size_t i, j;
	char fmsg[128];

	for (i = 0; i < n; i++) {
		if (!m[i].counted)
			continue;
		mapped++;
		if (m[i].level)
			entire++;
		else
			ptes++;
	}
	if (folio_mapcount(folio) != mapped)
		return fail(c, "folio pfn 0x%" PRIx64 ": mapcount %d, %d mappings found",
			    folio_pfn(folio), folio_mapcount(folio), mapped);
	if (folio_test_large(folio) && folio_entire_mapcount(folio) != entire)
		return fail(c, "folio pfn 0x%" PRIx64 ": entire mapcount %d, %d found",
			    folio_pfn(folio), folio_entire_mapcount(folio), entire);
	for (i = 0; i < n; i = j) {
		int cnt = 0;

		for (j = i; j < n && m[j].page == m[i].page; j++)
			cnt += !m[j].level && m[j].counted;
		if (ptes && folio_page_pte_mapcount(folio, m[i].page) != cnt)
			return fail(c, "folio pfn 0x%" PRIx64 " page %" PRIu64 ": %d PTE mappings,"
				    " %d found", folio_pfn(folio), m[i].page,
				    folio_page_pte_mapcount(folio, m[i].page), cnt);
	}
	/* Every entry holds one reference (device-exclusive too), plus cache and pins. */
	expect = (int)n + folio_cache_refs(folio) + folio_pin_refs(folio) + folio_ref_bias(folio);
	if (folio_ref_count(folio) != expect)
		return fail(c, "folio pfn 0x%" PRIx64 ": refcount %d, expected %d (%zu entries, "
			    "%d cache, %d pin)", folio_pfn(folio), folio_ref_count(folio), expect,
			    n, folio_cache_refs(folio), folio_pin_refs(folio));
	if (folio_check(folio, fmsg, sizeof(fmsg)))
		return fail(c, "folio pfn 0x%" PRIx64 ": %s", folio_pfn(folio), fmsg);
	return 0;
}

struct resv_file {
	struct phys_file *file;
	unsigned int size;	/* 0: 2M, 1: 1G */
};

static int by_file(const void *a, const void *b)
{
	const struct resv_file *x = a, *y = b;

	return x->file < y->file ? -1 : x->file > y->file;
}

/*
 * hugetlb reservations: a private VMA holds no more than its unfaulted
 * pages, and the pool's count per size is what the private VMAs and the
 * files of the shared ones (each file once) hold. Under the system's lock.
 */
static int check_hugetlb_resv(struct check *c, struct mm_system *sys)
{
	struct phys_hugetlb_stats hs;
	struct resv_file *files = NULL, *f;
	uint64_t held[2] = { 0, 0 };
	size_t nfiles = 0, cap = 0, i;
	struct vm_area_struct *vma;
	struct mm_struct *mm;
	unsigned int s;
	int err = 0;

	for (mm = sys->mms; mm && !err; mm = mm->next) {
		for (i = 0; i < mm->nr_vmas && !err; i++) {
			vma = mm->vmas[i];
			if (!vma_is_hugetlb(vma))
				continue;
			s = vma->hugetlb_shift == MM_PUD_SHIFT;
			if (!(vma->flags & VM_SHARED)) {
				if (vma->resv > hugetlb_unfaulted(vma, vma->start, vma->end))
					err = fail(c, "hugetlb VMA [0x%" PRIx64 ", 0x%" PRIx64
						   ") holds %" PRIu64 " reservations, more than "
						   "its unfaulted pages", vma->start, vma->end,
						   vma->resv);
				held[s] += vma->resv;
				continue;
			}
			if (vma->resv)
				err = fail(c, "shared hugetlb VMA [0x%" PRIx64 ", 0x%" PRIx64
					   ") holds reservations of its own", vma->start,
					   vma->end);
			if (nfiles == cap) {
				cap = cap ? 2 * cap : 16;
				f = realloc(files, cap * sizeof(*files));
				if (!f) {
					err = -ENOMEM;
					break;
				}
				files = f;
			}
			files[nfiles++] = (struct resv_file){ vma->file, s };
		}
	}
	if (!err) {
		if (nfiles)
			qsort(files, nfiles, sizeof(*files), by_file);
		for (i = 0; i < nfiles; i++)
			if (!i || files[i].file != files[i - 1].file)
				held[files[i].size] += phys_file_nr_reserved(files[i].file);
		phys_hugetlb_stats(sys->hugetlb, &hs);
		for (s = 0; s < 2 && !err; s++)
			if (hs.reserved[s] != held[s])
				err = fail(c, "hugetlb pool (%s): %" PRIu64 " pages reserved, "
					   "the mappings and their files hold %" PRIu64,
					   s ? "1G" : "2M", hs.reserved[s], held[s]);
	}
	free(files);
	return err;
}

HMMSIM_API int mm_system_check(struct mm_system *sys, char *msg, size_t len)
{
	struct check c = { .msg = msg, .len = len };
	struct mm_struct *mm;
	size_t i, j;
	int err = 0;

	if (!sys)
		return -EINVAL;
	if (msg && len)
		msg[0] = 0;
	c.cap = 1024;
	c.maps = malloc(c.cap * sizeof(*c.maps));
	if (!c.maps)
		return -ENOMEM;
	pthread_mutex_lock(&sys->lock);
	for (mm = sys->mms; mm && !err; mm = mm->next)
		err = check_mm(&c, mm);
	if (!err)
		err = check_hugetlb_resv(&c, sys);
	pthread_mutex_unlock(&sys->lock);
	if (!err) {
		qsort(c.maps, c.nmaps, sizeof(*c.maps), by_folio);
		for (i = 0; i < c.nmaps && !err; i = j) {
			for (j = i; j < c.nmaps && c.maps[j].folio == c.maps[i].folio; j++)
				;
			err = check_folio(&c, &c.maps[i], j - i);
		}
	}
	if (!err) {
		char pmsg[160];

		err = phys_pool_check(sys->pool, pmsg, sizeof(pmsg));
		if (err)
			fail(&c, "system pool: %s", pmsg);
	}
	free(c.maps);
	return err;
}
