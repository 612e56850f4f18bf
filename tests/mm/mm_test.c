// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Helpers shared by the mm suites (see mm_test.h). The dump oracle decodes
 * the CPU page table with the public entry helpers and phys, independently of
 * mm_dump(), and builds DESIGN.md's string from it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "mm_test.h"

struct mt mt;

static const char *errname(long e)
{
	switch (-e) {
	case 0: return "0";
	case EINVAL: return "-EINVAL";
	case ENOMEM: return "-ENOMEM";
	case EFAULT: return "-EFAULT";
	case EPERM: return "-EPERM";
	case EBUSY: return "-EBUSY";
	case EEXIST: return "-EEXIST";
	case ENOENT: return "-ENOENT";
	case EUCLEAN: return "-EUCLEAN";
	case ERANGE: return "-ERANGE";
	case ENOSPC: return "-ENOSPC";
	case EAGAIN: return "-EAGAIN";
	default: return "?";
	}
}

void mt_ret_assert(long ret, long expect, const char *what, const char *file, int line)
{
	if (ret != expect) {
		print_error("%s = %ld (%s), expected %ld (%s)\n", what, ret, errname(ret), expect,
			    errname(expect));
		_fail(file, line);
	}
}

void mt_setup_at(const struct mm_system_config *cfg, const char *file, int line)
{
	int ret;

	memset(&mt, 0, sizeof(mt));
	ret = mm_system_create(cfg, &mt.sys);
	if (ret) {
		print_error("mm_system_create() = %d (%s)\n", ret, errname(ret));
		_fail(file, line);
	}
	mt_check_at(file, line);
}

void mt_teardown_at(const char *file, int line)
{
	int ret;

	while (mt.nr)
		mt_exit_at(mt.mms[mt.nr - 1], file, line);
	mt_check_at(file, line);
	ret = mm_system_destroy(mt.sys);
	if (ret) {
		print_error("mm_system_destroy() = %d (%s)\n", ret, errname(ret));
		_fail(file, line);
	}
	mt.sys = NULL;
}

struct phys_pool *mt_pool(void)
{
	return mm_system_pool(mt.sys);
}

struct phys_machine *mt_machine(void)
{
	return phys_pool_machine(mm_system_pool(mt.sys));
}

static void mt_register(struct mm_struct *mm, const char *file, int line)
{
	if (mt.nr == MT_MAX_MMS) {
		print_error("too many processes for the test helpers\n");
		_fail(file, line);
	}
	mt.mms[mt.nr++] = mm;
}

struct mm_struct *mt_proc_at(const struct mm_profile *profile, const char *file, int line)
{
	struct mm_struct *mm = NULL;
	int ret = mm_create(mt.sys, profile, &mm);

	if (ret || !mm) {
		print_error("mm_create() = %d (%s)\n", ret, errname(ret));
		_fail(file, line);
	}
	if (mm_system_of(mm) != mt.sys ||
	    mm_profile_of(mm) != (profile ? profile : &mm_profile_current)) {
		print_error("mm_create(): wrong system or profile\n");
		_fail(file, line);
	}
	mt_register(mm, file, line);
	mt_check_at(file, line);
	return mm;
}

struct mm_struct *mt_fork_at(struct mm_struct *mm, const char *file, int line)
{
	struct mm_struct *child = NULL;
	int ret = mm_fork(mm, &child);

	if (ret || !child) {
		print_error("mm_fork() = %d (%s)\n", ret, errname(ret));
		_fail(file, line);
	}
	if (mm_profile_of(child) != mm_profile_of(mm) || mm_system_of(child) != mt.sys) {
		print_error("mm_fork(): the child has another profile or system\n");
		_fail(file, line);
	}
	mt_register(child, file, line);
	mt_check_at(file, line);
	return child;
}

void mt_exit_at(struct mm_struct *mm, const char *file, int line)
{
	unsigned int i;

	for (i = 0; i < mt.nr; i++)
		if (mt.mms[i] == mm)
			break;
	if (i == mt.nr) {
		print_error("mt_exit() of an unknown process\n");
		_fail(file, line);
	}
	mt.mms[i] = mt.mms[--mt.nr];
	mm_exit(mm);
	mt_check_at(file, line);
}

const struct mm_profile *mt_profile_at(const char *name, const char *file, int line)
{
	const struct mm_profile *p = mm_profile_find(name);

	if (!p) {
		print_error("no built-in profile \"%s\"\n", name);
		_fail(file, line);
	}
	return p;
}

int mt_profile_version(const char *name)
{
	unsigned int major, minor;

	if (!strcmp(name, "current"))
		return 9999;
	if (sscanf(name, "%u.%u", &major, &minor) != 2)
		return -1;
	return (int)(major * 100 + minor);
}

void mt_check_at(const char *file, int line)
{
	char msg[1024];
	unsigned int i;
	int ret;

	for (i = 0; i < mt.nr; i++) {
		msg[0] = 0;
		ret = mm_check(mt.mms[i], msg, sizeof(msg));
		if (ret) {
			print_error("mm_check(process %u) = %d (%s): %s\n", i, ret, errname(ret),
				    msg);
			_fail(file, line);
		}
	}
	msg[0] = 0;
	ret = mm_system_check(mt.sys, msg, sizeof(msg));
	if (ret) {
		print_error("mm_system_check() = %d (%s): %s\n", ret, errname(ret), msg);
		_fail(file, line);
	}
}

uint64_t mt_mmap_at(struct mm_struct *mm, uint64_t len, unsigned int prot, unsigned int flags,
		    uint64_t align, uint64_t offset, const char *file, int line)
{
	struct mm_mmap_args a = {
		.len = len, .prot = prot, .flags = flags, .align = align, .offset = offset,
	};
	uint64_t addr = 0;
	int ret = mm_mmap(mm, &a, &addr);

	if (ret) {
		print_error("mm_mmap(len %#" PRIx64 ", prot %#x, flags %#x, align %#" PRIx64
			    ") = %d (%s)\n", len, prot, flags, align, ret, errname(ret));
		_fail(file, line);
	}
	if (addr & (SZ_4K - 1) || (align && ((addr - offset) & (align - 1)))) {
		print_error("mm_mmap() placed the region at %#" PRIx64 ", not aligned to %#" PRIx64
			    " + %#" PRIx64 "\n", addr, align, offset);
		_fail(file, line);
	}
	mt_check_at(file, line);
	return addr;
}

uint64_t mt_anon_thp_at(struct mm_struct *mm, uint64_t len, const char *file, int line)
{
	uint64_t addr = mt_mmap_at(mm, len, MM_PROT_READ | MM_PROT_WRITE,
				   MM_MAP_PRIVATE | MM_MAP_ANONYMOUS, SZ_2M, 0, file, line);
	int ret = mm_madvise(mm, addr, len, MM_MADV_HUGEPAGE);

	if (ret) {
		print_error("mm_madvise(MADV_HUGEPAGE) = %d (%s)\n", ret, errname(ret));
		_fail(file, line);
	}
	mt_check_at(file, line);
	return addr;
}

uint64_t mt_hugetlb_at(struct mm_struct *mm, uint64_t len, unsigned int shift, const char *file,
		       int line)
{
	unsigned int size = shift == 30 ? MM_MAP_HUGE_1GB : MM_MAP_HUGE_2MB;
	uint64_t addr = mt_mmap_at(mm, len, MM_PROT_READ | MM_PROT_WRITE,
				   MM_MAP_PRIVATE | MM_MAP_ANONYMOUS | MM_MAP_HUGETLB | size, 0, 0,
				   file, line);

	if (addr & ((UINT64_C(1) << shift) - 1)) {
		print_error("hugetlb region at %#" PRIx64 " is not aligned to its page\n", addr);
		_fail(file, line);
	}
	return addr;
}

void mt_memset_at(struct mm_struct *mm, uint64_t addr, int byte, uint64_t len, const char *file,
		  int line)
{
	int ret = mm_memset(mm, addr, byte, len);

	if (ret) {
		print_error("mm_memset(%#" PRIx64 ", %#x, %#" PRIx64 ") = %d (%s)\n", addr, byte,
			    len, ret, errname(ret));
		_fail(file, line);
	}
	mt_check_at(file, line);
}

void mt_expect_at(struct mm_struct *mm, uint64_t addr, int byte, uint64_t len, const char *file,
		  int line)
{
	uint8_t *buf = malloc(len ? len : 1);
	uint64_t i;
	int ret;

	if (!buf)
		_fail(file, line);
	ret = mm_read(mm, addr, buf, len);
	if (ret) {
		free(buf);
		print_error("mm_read(%#" PRIx64 ", %#" PRIx64 ") = %d (%s)\n", addr, len, ret,
			    errname(ret));
		_fail(file, line);
	}
	for (i = 0; i < len; i++) {
		if (buf[i] != (uint8_t)byte) {
			print_error("byte at %#" PRIx64 " is %#x, expected %#x\n", addr + i, buf[i],
				    (uint8_t)byte);
			free(buf);
			_fail(file, line);
		}
	}
	free(buf);
	mt_check_at(file, line);
}

uint8_t mt_touch_at(struct mm_struct *mm, uint64_t addr, const char *file, int line)
{
	uint8_t b = 0xa5;
	int ret = mm_read(mm, addr, &b, 1);

	if (ret) {
		print_error("mm_read(%#" PRIx64 ", 1) = %d (%s)\n", addr, ret, errname(ret));
		_fail(file, line);
	}
	mt_check_at(file, line);
	return b;
}

bool mt_lookup(struct mm_struct *mm, uint64_t va, struct mt_page *page)
{
	struct pt_table *t = mm_page_table(mm);
	pt_entry_t e = 0;
	unsigned int level = 0, shift;
	int ret;

	memset(page, 0, sizeof(*page));
	hmmsim_read_lock();
	ret = pt_lookup(t, va, &e, &level);
	hmmsim_read_unlock();
	if (ret || mm_pte_kind(e) == MM_PTE_NONE)
		return false;
	shift = pt_leaf_shift(t, e, level);
	page->mapped = true;
	page->kind = mm_pte_kind(e);
	page->entry = e;
	page->level = level;
	page->pfn = mm_pte_pfn(e) + ((va & ((UINT64_C(1) << shift) - 1)) >> MM_PAGE_SHIFT);
	page->write = mm_pte_write(e);
	page->special = mm_pte_special(e);
	page->folio = phys_pfn_to_folio(mt_machine(), page->pfn);
	if (page->folio)
		page->idx = page->pfn - folio_pfn(page->folio);
	return true;
}

struct folio *mt_folio_at(struct mm_struct *mm, uint64_t va, uint64_t *idx, const char *file,
			  int line)
{
	struct mt_page pg;

	if (!mt_lookup(mm, va, &pg) || !pg.folio) {
		print_error("no folio mapped at %#" PRIx64 "\n", va);
		_fail(file, line);
	}
	if (idx)
		*idx = pg.idx;
	return pg.folio;
}

uint64_t mt_pfn_at(struct mm_struct *mm, uint64_t va, const char *file, int line)
{
	struct mt_page pg;

	if (!mt_lookup(mm, va, &pg)) {
		print_error("nothing mapped at %#" PRIx64 "\n", va);
		_fail(file, line);
	}
	return pg.pfn;
}

void mt_folio_assert(const struct folio *f, int ref, int map, int entire, uint64_t idx,
		     int pte_map, int excl, const char *file, int line)
{
	int r = folio_ref_count(f), m = folio_mapcount(f), e = folio_entire_mapcount(f);
	int pm = pte_map >= 0 ? folio_page_pte_mapcount(f, idx) : -1;
	int x = excl >= 0 ? folio_page_anon_exclusive(f, idx) : -1;

	if (r != ref || m != map || e != entire || pm != pte_map || x != excl) {
		print_error("folio pfn %#" PRIx64 " order %u: refcount %d mapcount %d entire %d "
			    "page %" PRIu64 " pte mapcount %d exclusive %d; "
			    "expected %d %d %d %d %d\n", folio_pfn(f), folio_order(f), r, m, e, idx,
			    pm, x, ref, map, entire, pte_map, excl);
		_fail(file, line);
	}
}

static void page_code(const struct mt_page *pg, char code[4])
{
	bool zero = pg->folio && (folio_flags(pg->folio) & FOLIO_ZERO);

	code[3] = 0;
	if (!pg->mapped) {
		memcpy(code, "-..", 3);
		return;
	}
	switch (pg->kind) {
	case MM_PTE_DEVICE_PRIVATE:
		code[0] = pg->level ? 'D' : 'd';
		break;
	case MM_PTE_MIGRATION:
		code[0] = pg->level ? 'M' : 'm';
		break;
	case MM_PTE_DEVICE_EXCLUSIVE:
		code[0] = 'e';
		break;
	default:
		if (zero)
			code[0] = 'z';
		else if (pg->level > 0)
			code[0] = 'H';
		else if (pg->folio && folio_test_large(pg->folio))
			code[0] = 'T';
		else
			code[0] = 'p';
	}
	code[1] = pg->folio && !zero && folio_page_mapcount(pg->folio, pg->idx) == 1 ? 'x' : '.';
	code[2] = pg->write ? 'w' : '.';
}

void mt_code(struct mm_struct *mm, uint64_t va, char code[4])
{
	struct mt_page pg;

	mt_lookup(mm, va, &pg);
	page_code(&pg, code);
}

/* A growing string. */
struct sbuf {
	char *s;
	size_t len, cap;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (b->s && (size_t)n < b->cap - b->len)
			break;
		b->cap = (b->cap + n + 1) * 2;
		b->s = realloc(b->s, b->cap);
		if (!b->s)
			abort();
	}
	b->len += n;
}

/* Append one run in DESIGN.md's form. */
static void sb_run(struct sbuf *b, uint64_t count, const char *code, bool mapped, uint64_t pfn,
		   bool hex)
{
	const char *sep = b->len ? "," : "";

	if (!mapped)
		sb_printf(b, "%s%" PRIu64 ":%s@-", sep, count, code);
	else if (hex)
		sb_printf(b, "%s%" PRIu64 ":%s@%#" PRIx64, sep, count, code, pfn);
	else
		sb_printf(b, "%s%" PRIu64 ":%s@%" PRIu64, sep, count, code, pfn);
}

/* The dump DESIGN.md specifies for [addr, addr + len), as this file reads the table. */
static char *oracle_dump(struct mm_struct *mm, uint64_t addr, uint64_t len, bool hex)
{
	struct sbuf b = { 0 };
	char code[4], run_code[4] = "";
	uint64_t run_pfn = 0, next_pfn = 0, count = 0, va;
	bool run_mapped = false;
	struct mt_page pg;

	sb_printf(&b, "%s", "");
	for (va = addr; va < addr + len; va += MM_PAGE_SIZE) {
		mt_lookup(mm, va, &pg);
		page_code(&pg, code);
		if (count && !strcmp(code, run_code) && pg.mapped == run_mapped &&
		    (!pg.mapped || pg.pfn == next_pfn)) {
			count++;
			next_pfn++;
			continue;
		}
		if (count)
			sb_run(&b, count, run_code, run_mapped, run_pfn, hex);
		memcpy(run_code, code, 4);
		run_mapped = pg.mapped;
		run_pfn = pg.pfn;
		next_pfn = pg.pfn + 1;
		count = 1;
	}
	if (count)
		sb_run(&b, count, run_code, run_mapped, run_pfn, hex);
	return b.s;
}

static char *dump_buf;
static size_t dump_cap;

/* Print the neighbourhood of the first difference of two long strings. */
static void print_diff(const char *what_a, const char *a, const char *what_b, const char *b)
{
	size_t i = 0, from;

	while (a[i] && a[i] == b[i])
		i++;
	from = i > 60 ? i - 60 : 0;
	print_error("first difference at character %zu:\n  %s: ...%.160s\n  %s: ...%.160s\n", i,
		    what_a, a + from, what_b, b + from);
}

const char *mt_dump_at(struct mm_struct *mm, uint64_t addr, uint64_t len, const char *file,
		       int line)
{
	size_t need = PAGES(len) * 40 + 64;
	char small[8];
	char *expect;
	bool hex;
	int ret;

	if (need > dump_cap) {
		free(dump_buf);
		dump_cap = need;
		dump_buf = malloc(dump_cap);
		if (!dump_buf)
			abort();
	}
	ret = mm_dump(mm, addr, len, dump_buf, dump_cap);
	if (ret < 0 || (size_t)ret >= dump_cap || strlen(dump_buf) != (size_t)ret) {
		print_error("mm_dump(%#" PRIx64 ", %#" PRIx64 ") = %d (%s), string of %zu\n", addr,
			    len, ret, errname(ret), ret >= 0 ? strlen(dump_buf) : 0);
		_fail(file, line);
	}
	/* snprintf semantics: truncated to the buffer, the whole length returned. */
	memset(small, 'Q', sizeof(small));
	if (mm_dump(mm, addr, len, small, sizeof(small)) != ret ||
	    strncmp(small, dump_buf, sizeof(small) - 1) ||
	    (ret >= (int)sizeof(small) - 1 ? small[sizeof(small) - 1] != 0 :
	     strcmp(small, dump_buf) != 0)) {
		print_error("mm_dump() into 8 bytes: not snprintf-like (got \"%.8s\")\n", small);
		_fail(file, line);
	}
	hex = strstr(dump_buf, "@0x") != NULL;
	expect = oracle_dump(mm, addr, len, hex);
	if (strcmp(expect, dump_buf)) {
		print_error("mm_dump(%#" PRIx64 ", %#" PRIx64 ") differs from the page table\n",
			    addr, len);
		print_diff("mm_dump", dump_buf, "expected", expect);
		free(expect);
		_fail(file, line);
	}
	free(expect);
	return dump_buf;
}

/* Expand "N:CCC@P,..." or "N:CCC,..." into one 3-character code per page. */
static char *expand_codes(const char *s, uint64_t pages, bool *ok)
{
	char *out = malloc(pages * 3 + 1);
	uint64_t at = 0, n;
	char *end;

	*ok = true;
	if (!out)
		abort();
	while (*s) {
		n = strtoull(s, &end, 10);
		if (end == s || *end != ':' || strlen(end + 1) < 3 || at + n > pages) {
			*ok = false;
			break;
		}
		for (uint64_t i = 0; i < n; i++)
			memcpy(out + (at + i) * 3, end + 1, 3);
		at += n;
		s = end + 4;
		if (*s == '@')
			while (*s && *s != ',')
				s++;
		if (*s == ',')
			s++;
		else if (*s) {
			*ok = false;
			break;
		}
	}
	if (at != pages)
		*ok = false;
	out[pages * 3] = 0;
	return out;
}

/* Runs of equal codes, frames ignored. */
static char *compress_codes(const char *codes, uint64_t pages)
{
	struct sbuf b = { 0 };
	uint64_t i = 0, j;

	sb_printf(&b, "%s", "");
	while (i < pages) {
		for (j = i + 1; j < pages && !memcmp(codes + j * 3, codes + i * 3, 3); j++)
			;
		sb_printf(&b, "%s%" PRIu64 ":%.3s", i ? "," : "", j - i, codes + i * 3);
		i = j;
	}
	return b.s;
}

void mt_codes_assert(struct mm_struct *mm, uint64_t addr, uint64_t len, const char *expect,
		     const char *file, int line)
{
	uint64_t pages = PAGES(len);
	const char *dump = mt_dump_at(mm, addr, len, file, line);
	bool ok_a, ok_e;
	char *a = expand_codes(dump, pages, &ok_a);
	char *e = expand_codes(expect, pages, &ok_e);
	char *ca;

	if (!ok_e) {
		print_error("bad expected codes \"%s\" for %" PRIu64 " pages\n", expect, pages);
		_fail(file, line);
	}
	if (!ok_a || strcmp(a, e)) {
		ca = compress_codes(a, pages);
		print_error("codes of [%#" PRIx64 ", +%#" PRIx64 "):\n"
			    "  got      %s\n  expected %s\n", addr, len, ca, expect);
		free(ca);
		free(a);
		free(e);
		_fail(file, line);
	}
	free(a);
	free(e);
}

unsigned int mt_vmas(struct mm_struct *mm, uint64_t start, uint64_t end, struct mt_vma *out,
		     unsigned int max)
{
	struct vm_area_struct *v;
	unsigned int n = 0;

	mmap_read_lock(mm);
	for (v = find_vma(mm, start); v && vma_start(v) < end; v = find_vma(mm, vma_end(v))) {
		if (n < max) {
			out[n].start = vma_start(v);
			out[n].end = vma_end(v);
			out[n].flags = vma_flags(v);
			out[n].hugetlb_shift = vma_hugetlb_shift(v);
		}
		n++;
		if (vma_end(v) <= vma_start(v) || n > 100000)
			break;
	}
	mmap_read_unlock(mm);
	return n;
}

uint64_t mt_live_frames(void)
{
	struct phys_pool_stats st;

	phys_pool_stats(mt_pool(), &st);
	return st.live_frames;
}

uint64_t mt_hugetlb_free(unsigned int idx)
{
	struct phys_hugetlb_stats st;
	struct phys_hugetlb *hp = mm_system_hugetlb(mt.sys);

	if (!hp)
		return 0;
	phys_hugetlb_stats(hp, &st);
	return st.free[idx];
}

void mt_snap_take(struct mm_struct *mm, uint64_t start, uint64_t end, struct mt_snap *s)
{
	struct phys_hugetlb *hp = mm_system_hugetlb(mt.sys);

	memset(s, 0, sizeof(*s));
	s->dump = strdup(mt_dump(mm, start, end - start));
	mm_get_stats(mm, &s->stats);
	s->nr_vmas = mt_vmas(mm, start, end, s->vmas, 64);
	phys_pool_stats(mt_pool(), &s->pool);
	if (hp)
		phys_hugetlb_stats(hp, &s->hugetlb);
}

void mt_snap_free(struct mt_snap *s)
{
	free(s->dump);
	s->dump = NULL;
}

#define SNAP_FIELD(a, b, f)						\
	do {								\
		if ((a).f != (b).f) {					\
			print_error("%s changed: %" PRIu64 " -> %" PRIu64 "\n", #f, \
				    (uint64_t)(a).f, (uint64_t)(b).f);	\
			bad = true;					\
		}							\
	} while (0)

void mt_snap_same_at(struct mm_struct *mm, uint64_t start, uint64_t end, struct mt_snap *s,
		     const char *file, int line)
{
	mt_check_at(file, line);
	if (mt_snap_differs(mm, start, end, s))
		_fail(file, line);
}

bool mt_snap_differs(struct mm_struct *mm, uint64_t start, uint64_t end, struct mt_snap *s)
{
	struct mt_snap now;
	bool bad = false;
	unsigned int i;

	mt_snap_take(mm, start, end, &now);
	if (strcmp(s->dump, now.dump)) {
		print_error("the dump changed\n");
		print_diff("before", s->dump, "after", now.dump);
		bad = true;
	}
	SNAP_FIELD(s->stats, now.stats, faults);
	SNAP_FIELD(s->stats, now.stats, anon_pages);
	SNAP_FIELD(s->stats, now.stats, thp_fault_alloc);
	SNAP_FIELD(s->stats, now.stats, thp_fault_fallback);
	SNAP_FIELD(s->stats, now.stats, zero_page);
	SNAP_FIELD(s->stats, now.stats, huge_zero_page);
	SNAP_FIELD(s->stats, now.stats, cow_copy);
	SNAP_FIELD(s->stats, now.stats, cow_reuse);
	SNAP_FIELD(s->stats, now.stats, thp_split_pmd);
	SNAP_FIELD(s->stats, now.stats, deferred_split);
	SNAP_FIELD(s->stats, now.stats, hugetlb_faults);
	SNAP_FIELD(s->stats, now.stats, notifications);
	SNAP_FIELD(s->stats, now.stats, rss_anon);
	SNAP_FIELD(s->stats, now.stats, rss_file);
	SNAP_FIELD(s->stats, now.stats, vmas);
	SNAP_FIELD(*s, now, nr_vmas);
	for (i = 0; i < s->nr_vmas && i < now.nr_vmas && i < 64; i++) {
		SNAP_FIELD(*s, now, vmas[i].start);
		SNAP_FIELD(*s, now, vmas[i].end);
		SNAP_FIELD(*s, now, vmas[i].flags);
	}
	SNAP_FIELD(s->pool, now.pool, free_frames);
	SNAP_FIELD(s->pool, now.pool, live_frames);
	SNAP_FIELD(s->pool, now.pool, live_folios);
	SNAP_FIELD(s->hugetlb, now.hugetlb, free[0]);
	SNAP_FIELD(s->hugetlb, now.hugetlb, free[1]);
	SNAP_FIELD(s->hugetlb, now.hugetlb, reserved[0]);
	SNAP_FIELD(s->hugetlb, now.hugetlb, reserved[1]);
	mt_snap_free(&now);
	return bad;
}
