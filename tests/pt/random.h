/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_pt_random: random operations on a table, each checked against a
 * plain reference model (one record per page of a window) and followed by
 * pt_check() and a full comparison of table and model.
 */
#ifndef HMMSIM_TESTS_PT_RANDOM_H
#define HMMSIM_TESTS_PT_RANDOM_H

#include "prng.h"
#include "pt_test.h"

enum mkind {
	M_HOLE,
	M_PRESENT,
	M_SPECIAL,
};

/* What the model expects of one page. */
struct mpage {
	uint8_t kind;
	uint64_t frame;
	pt_entry_t attrs;	/* the caller's bits: valid, write, dirty, accessed, sw */
};

#define RT_LOG 24	/* steps printed when one fails */
#define RT_RECENT 64	/* maps remembered, to aim the next steps at */

struct rt {
	struct pt_table *t;
	const struct pt_format *fmt;
	const struct pt_geometry *geo;
	enum pt_reclaim reclaim;
	unsigned int ps;
	uint64_t psz;
	uint64_t base, size, npages;	/* the window the operations stay in */
	struct mpage *m;
	struct prng rng;
	unsigned int sizes[64], nsizes;
	pt_entry_t ad;			/* dirty | accessed */
	pt_entry_t mut;			/* what protect may change */
	pt_entry_t tas_bits;		/* what the atomic bit operations may change */
	bool full_lookup;		/* look every page up after each step */
	unsigned long op;
	struct rt_recent {
		uint64_t va, size;
	} recent[RT_RECENT];		/* the last maps: where the work is */
	unsigned int nrecent;
	uint64_t fill_va, fill_size; /* the last fill: a collapse candidate */
	char log[RT_LOG][200];
	unsigned long counts[16];	/* per operation kind, for the summary */
	unsigned long done[16];		/* ... and of those, the ones that succeeded */
};

/* Fail the test after printing the last operations. */
#define rt_fail(rt, ...) rt_fail_at((rt), __FILE__, __LINE__, __VA_ARGS__)
void rt_fail_at(struct rt *rt, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void rt_log(struct rt *rt, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static inline struct mpage *rt_page(struct rt *rt, uint64_t va)
{
	return &rt->m[(va - rt->base) >> rt->ps];
}

/* The leaf the table has at @va: its entry, level, start and log2 span. */
bool rt_leaf(struct rt *rt, uint64_t va, pt_entry_t *e, unsigned int *level, uint64_t *start,
	     unsigned int *lg2);

/* random_verify.c: the table agrees with the model, page for page. */
void rt_verify(struct rt *rt);

/* random_ops.c: one random operation, its result predicted from the model. */
enum { OP_MAP, OP_UNMAP, OP_PROTECT, OP_SPLIT, OP_COLLAPSE, OP_BITS, OP_FILL, OP_NR };
void rt_step(struct rt *rt);
const char *rt_op_name(unsigned int op);

#endif /* HMMSIM_TESTS_PT_RANDOM_H */
