/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Helpers shared by the pt test suites: invariant checks after each step,
 * dumps of a range through pt_walk() or pt_iter to compare whole tables, and
 * the frame arithmetic a caller does on a large leaf.
 */
#ifndef HMMSIM_TESTS_PT_TEST_H
#define HMMSIM_TESTS_PT_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include <hmmsim/pt.h>

#define SZ_4K	(UINT64_C(1) << 12)
#define SZ_8K	(UINT64_C(1) << 13)
#define SZ_256K	(UINT64_C(1) << 18)
#define SZ_1M	(UINT64_C(1) << 20)
#define SZ_2M	(UINT64_C(1) << 21)
#define SZ_1G	(UINT64_C(1) << 30)

/* Fail the running test, with pt_check()'s own words, when @t breaks an invariant. */
#define assert_pt_check(t) pt_test_check((t), __FILE__, __LINE__)
void pt_test_check(struct pt_table *t, const char *file, int line);

/* Create a table of @fmt with @reclaim, or fail the test. */
struct pt_table *pt_test_create(const struct pt_format *fmt, enum pt_reclaim reclaim);

/* pt_check(), then pt_table_destroy(). */
#define pt_test_destroy(t) do {			\
	assert_pt_check(t);			\
	pt_table_destroy(t);			\
} while (0)

/* The @n-th (from 0) lowest bit of the format's sw bits, or 0 when it has fewer. */
pt_entry_t pt_test_sw_bit(const struct pt_format *fmt, unsigned int n);

/* Entry bits a caller may pass to pt_map() besides the frame number. */
pt_entry_t pt_test_caller_bits(const struct pt_format *fmt);

/* @e without the bits the engine owns (leaf, contig): what the caller asked for. */
pt_entry_t pt_test_strip(const struct pt_format *fmt, pt_entry_t e);

/* log2 of the span of leaf @e found at @level: its item, or its whole contiguous run. */
unsigned int pt_test_leaf_lg2(struct pt_table *t, pt_entry_t e, unsigned int level);

/*
 * The frame that translates @va through leaf @e found at @level: the leaf's
 * first word holds the frame of its first page (for a contiguous run, its
 * first item's) and the caller adds the pages between the leaf's start and
 * @va. Computed here from the format alone, to check pt_leaf_pfn() against.
 */
uint64_t pt_test_frame(struct pt_table *t, pt_entry_t e, unsigned int level, uint64_t va);

/*
 * pt_table_stats() once every deferred free has run: directories waiting
 * for their grace period still count in @bytes, so byte counts compare only
 * when settled. Not inside a read-side section.
 */
void pt_test_stats_settled(struct pt_table *t, struct pt_stats *st);

/* Sum of the per-level directory counters. */
uint64_t pt_test_dirs(const struct pt_stats *st);

/* One callback of pt_walk() (or one pt_iter step, never a hole). */
struct pt_rec {
	uint64_t va;
	uint64_t size;
	pt_entry_t entry;
	unsigned int level;
	bool hole;
};

struct pt_dump {
	struct pt_rec *rec;
	size_t n;
	size_t cap;
};

/* Append the walk of [@va, @va + @size) to @d (inside a read-side section). */
int pt_dump_walk(struct pt_table *t, uint64_t va, uint64_t size, struct pt_dump *d);
/* Append what pt_iter yields over [@va, @va + @size) to @d. */
int pt_dump_iter(struct pt_table *t, uint64_t va, uint64_t size, struct pt_dump *d);
/* Only the leaves of @src, in order, into @dst. */
void pt_dump_leaves(const struct pt_dump *src, struct pt_dump *dst);
void pt_dump_reset(struct pt_dump *d);
void pt_dump_fini(struct pt_dump *d);
bool pt_dump_equal(const struct pt_dump *a, const struct pt_dump *b);
void pt_dump_print(const struct pt_dump *d, const char *what);

/* Fail unless @d's records follow each other and cover [@va, @va + @size) exactly. */
#define assert_dump_tiles(d, va, size) pt_dump_check_tiles((d), (va), (size), __FILE__, __LINE__)
void pt_dump_check_tiles(const struct pt_dump *d, uint64_t va, uint64_t size, const char *file,
			 int line);

/* Fail unless two dumps are identical; print both first. */
#define assert_dump_equal(a, b) pt_dump_check_equal((a), (b), __FILE__, __LINE__)
void pt_dump_check_equal(const struct pt_dump *a, const struct pt_dump *b, const char *file,
			 int line);

/*
 * The directories per level that the leaves of @d need (the top included),
 * when @d is a walk of the whole address space: what an eager table holds.
 */
void pt_dump_needed_dirs(struct pt_table *t, const struct pt_dump *d,
			 uint64_t dirs[PT_MAX_LEVELS]);

#endif /* HMMSIM_TESTS_PT_TEST_H */
