/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Helpers shared by the mm suites: a system and its live processes, the
 * checkers after every operation, page lookups through the CPU page table
 * and phys, and mm_dump() cross-checked against an independent decoding of
 * the page table (DESIGN.md's dump format).
 *
 * Every helper fails the running CMocka test with the file and line of its
 * caller. They are for the test's own thread only (CMocka's longjmp).
 */
#ifndef HMMSIM_TESTS_MM_TEST_H
#define HMMSIM_TESTS_MM_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include <hmmsim/hmmsim.h>

#define SZ_4K	(UINT64_C(1) << 12)
#define SZ_8K	(UINT64_C(1) << 13)
#define SZ_16K	(UINT64_C(1) << 14)
#define SZ_64K	(UINT64_C(1) << 16)
#define SZ_1M	(UINT64_C(1) << 20)
#define SZ_2M	(UINT64_C(1) << 21)
#define SZ_4M	(UINT64_C(1) << 22)
#define SZ_1G	(UINT64_C(1) << 30)

#define PAGES(len)	((len) >> 12)

/* The system of the running test and the processes it made (for the checkers). */
#define MT_MAX_MMS	128

struct mt {
	struct mm_system *sys;
	struct mm_struct *mms[MT_MAX_MMS];
	unsigned int nr;
};

extern struct mt mt;

/*
 * Create the test's system (NULL: defaults) and forget any earlier one.
 * mt_teardown() exits the processes left, checks and destroys the system.
 */
#define mt_setup(cfg) mt_setup_at((cfg), __FILE__, __LINE__)
void mt_setup_at(const struct mm_system_config *cfg, const char *file, int line);
#define mt_teardown() mt_teardown_at(__FILE__, __LINE__)
void mt_teardown_at(const char *file, int line);

/* The system's memory pool and its machine. */
struct phys_pool *mt_pool(void);
struct phys_machine *mt_machine(void);

/* A new process with @profile (NULL: current), registered for the checkers. */
#define mt_proc(profile) mt_proc_at((profile), __FILE__, __LINE__)
struct mm_struct *mt_proc_at(const struct mm_profile *profile, const char *file, int line);
#define mt_fork(mm) mt_fork_at((mm), __FILE__, __LINE__)
struct mm_struct *mt_fork_at(struct mm_struct *mm, const char *file, int line);
#define mt_exit(mm) mt_exit_at((mm), __FILE__, __LINE__)
void mt_exit_at(struct mm_struct *mm, const char *file, int line);

/* The named built-in profile, or fail. */
#define mt_profile(name) mt_profile_at((name), __FILE__, __LINE__)
const struct mm_profile *mt_profile_at(const char *name, const char *file, int line);

/*
 * mm_check() of every live process and mm_system_check(): the checkers
 * the tests run after every operation. Fails with the checker's message.
 */
#define assert_mm_ok() mt_check_at(__FILE__, __LINE__)
void mt_check_at(const char *file, int line);

/* mmap helpers: they assert success, run the checkers and return the start. */
#define mt_mmap(mm, len, prot, flags, align, offset) \
	mt_mmap_at((mm), (len), (prot), (flags), (align), (offset), __FILE__, __LINE__)
uint64_t mt_mmap_at(struct mm_struct *mm, uint64_t len, unsigned int prot, unsigned int flags,
		    uint64_t align, uint64_t offset, const char *file, int line);
/* Private anonymous read-write, placed where the profile places it. */
#define mt_anon(mm, len) mt_mmap((mm), (len), MM_PROT_READ | MM_PROT_WRITE, \
				 MM_MAP_PRIVATE | MM_MAP_ANONYMOUS, 0, 0)
/* Private anonymous read-write, 2 MiB-aligned, MADV_HUGEPAGE. */
#define mt_anon_thp(mm, len) mt_anon_thp_at((mm), (len), __FILE__, __LINE__)
uint64_t mt_anon_thp_at(struct mm_struct *mm, uint64_t len, const char *file, int line);
/* Private hugetlb read-write of page size 1 << @shift (21 or 30). */
#define mt_hugetlb(mm, len, shift) mt_hugetlb_at((mm), (len), (shift), __FILE__, __LINE__)
uint64_t mt_hugetlb_at(struct mm_struct *mm, uint64_t len, unsigned int shift,
		       const char *file, int line);

/* CPU access that must succeed, then the checkers. */
#define mt_memset(mm, addr, byte, len) mt_memset_at((mm), (addr), (byte), (len), __FILE__, __LINE__)
void mt_memset_at(struct mm_struct *mm, uint64_t addr, int byte, uint64_t len, const char *file,
		  int line);
/* Read [addr, addr + len) and expect every byte to be @byte. */
#define mt_expect(mm, addr, byte, len) mt_expect_at((mm), (addr), (byte), (len), __FILE__, __LINE__)
void mt_expect_at(struct mm_struct *mm, uint64_t addr, int byte, uint64_t len, const char *file,
		  int line);
/* Read one byte (faulting as a CPU load), then the checkers. */
#define mt_touch(mm, addr) mt_touch_at((mm), (addr), __FILE__, __LINE__)
uint8_t mt_touch_at(struct mm_struct *mm, uint64_t addr, const char *file, int line);

/* One page as the CPU page table maps it. */
struct mt_page {
	bool mapped;		/* an entry (present or special) translates it */
	enum mm_pte_kind kind;
	pt_entry_t entry;	/* the leaf's first word */
	unsigned int level;	/* 0 PTE, 1 PMD, 2 PUD */
	uint64_t pfn;		/* this page's frame */
	bool write;
	bool special;
	struct folio *folio;	/* NULL for holes and frames with no folio */
	uint64_t idx;		/* the page's index in @folio */
};

/* Decode the entry for @va (no fault). Returns page.mapped. */
bool mt_lookup(struct mm_struct *mm, uint64_t va, struct mt_page *page);

/* The folio mapped at @va (and the page's index in it), or fail. */
#define mt_folio(mm, va, idx) mt_folio_at((mm), (va), (idx), __FILE__, __LINE__)
struct folio *mt_folio_at(struct mm_struct *mm, uint64_t va, uint64_t *idx, const char *file,
			  int line);
/* The frame mapped at @va, or fail. */
#define mt_pfn(mm, va) mt_pfn_at((mm), (va), __FILE__, __LINE__)
uint64_t mt_pfn_at(struct mm_struct *mm, uint64_t va, const char *file, int line);

/*
 * Assert the accounting of a folio: refcount, folio_mapcount, entire
 * mapcount, PTE mapcount of page @idx (-1: do not check), anon-exclusive of
 * page @idx (-1: do not check).
 */
#define assert_folio(f, ref, map, entire, idx, pte_map, excl) \
	mt_folio_assert((f), (ref), (map), (entire), (idx), (pte_map), (excl), __FILE__, __LINE__)
void mt_folio_assert(const struct folio *f, int ref, int map, int entire, uint64_t idx,
		     int pte_map, int excl, const char *file, int line);

/*
 * mm_dump() of [addr, addr + len), after checking that the string is
 * exactly what DESIGN.md's format gives for the page table as this file
 * decodes it (codes, mapcounts, frames, run merging). Returns a buffer that
 * stays valid until the next call.
 */
#define mt_dump(mm, addr, len) mt_dump_at((mm), (addr), (len), __FILE__, __LINE__)
const char *mt_dump_at(struct mm_struct *mm, uint64_t addr, uint64_t len, const char *file,
		       int line);

/*
 * Assert the per-page codes of [addr, addr + len) (from mt_dump) against
 * @expect, runs of COUNT:CODE joined by commas, frames ignored and runs
 * allowed to be split anywhere: "5:Txw,2:-..,505:Txw".
 */
#define assert_codes(mm, addr, len, expect) \
	mt_codes_assert((mm), (addr), (len), (expect), __FILE__, __LINE__)
void mt_codes_assert(struct mm_struct *mm, uint64_t addr, uint64_t len, const char *expect,
		     const char *file, int line);

/* The three-character code of one page, as mt_dump gives it, in @code[4]. */
void mt_code(struct mm_struct *mm, uint64_t va, char code[4]);

/* The VMAs of @mm intersecting [start, end): starts, ends, flags; returns the count. */
struct mt_vma {
	uint64_t start, end;
	unsigned int flags;
	unsigned int hugetlb_shift;
};
unsigned int mt_vmas(struct mm_struct *mm, uint64_t start, uint64_t end, struct mt_vma *out,
		     unsigned int max);

/* Everything a failing call must leave unchanged, to compare before and after. */
struct mt_snap {
	char *dump;			/* dump of the watched range */
	struct mm_stats stats;
	struct mt_vma vmas[64];
	unsigned int nr_vmas;
	struct phys_pool_stats pool;
	struct phys_hugetlb_stats hugetlb;
};

void mt_snap_take(struct mm_struct *mm, uint64_t start, uint64_t end, struct mt_snap *s);
#define assert_snap_same(mm, start, end, s) mt_snap_same_at((mm), (start), (end), (s), \
							   __FILE__, __LINE__)
void mt_snap_same_at(struct mm_struct *mm, uint64_t start, uint64_t end, struct mt_snap *s,
		     const char *file, int line);
/* Print what differs from @s and return true, or return false. */
bool mt_snap_differs(struct mm_struct *mm, uint64_t start, uint64_t end, struct mt_snap *s);
void mt_snap_free(struct mt_snap *s);

/* Get the stats of @mm. */
static inline struct mm_stats mt_stats(struct mm_struct *mm)
{
	struct mm_stats st;

	mm_get_stats(mm, &st);
	return st;
}

/* Frames live in the system pool now (allocations minus frees). */
uint64_t mt_live_frames(void);

/* Free 2M hugetlb pages (index 0) or 1G pages (index 1) of the system's pool. */
uint64_t mt_hugetlb_free(unsigned int idx);

/* Assert that @ret is 0, printing @what and the errno name otherwise. */
#define assert_ret(ret, expect) mt_ret_assert((ret), (expect), #ret, __FILE__, __LINE__)
void mt_ret_assert(long ret, long expect, const char *what, const char *file, int line);

/* Parse a "X.Y" profile name; 0 for "current" (the newest), else X * 100 + Y. */
int mt_profile_version(const char *name);

#endif /* HMMSIM_TESTS_MM_TEST_H */
