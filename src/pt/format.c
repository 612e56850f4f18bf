// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Formats as data, and the geometry the engine derives from them.
 *
 * The top directory takes whatever address bits are left over once every
 * level below it has dir_shift bits, as hmm_pt did: with last = 2^48 - 1,
 * 4K pages and 9-bit directories, 36 bits above the page give four levels
 * of 9 bits, shifts 39/30/21/12 (level 3 to level 0).
 */
#include <errno.h>

#include <hmmsim/pt.h>

#include "base/compiler.h"

#define BIT(n)		(UINT64_C(1) << (n))
#define BITS(hi, lo)	((~UINT64_C(0) >> (63 - (hi))) & ~(BIT(lo) - 1))

/* x86-64 bits: P, RW, A, D, PSE; USER, GLOBAL, the SOFTW bits and NX are the user's. */
#define X86_SW	(BIT(2) | BIT(8) | BITS(11, 9) | BITS(63, 52))

HMMSIM_API const struct pt_format pt_format_x86_64_4l = {
	.name = "x86-64-4l",
	.last = BIT(48) - 1,
	.page_shift = 12,
	.dir_shift = 9,
	.oa_bits = 40,
	.leaf_levels = BIT(0) | BIT(1) | BIT(2),
	.valid = BIT(0),
	.write = BIT(1),
	.accessed = BIT(5),
	.dirty = BIT(6),
	.leaf = BIT(7),
	.sw = X86_SW,
};

HMMSIM_API const struct pt_format pt_format_x86_64_5l = {
	.name = "x86-64-5l",
	.last = BIT(57) - 1,
	.page_shift = 12,
	.dir_shift = 9,
	.oa_bits = 40,
	.leaf_levels = BIT(0) | BIT(1) | BIT(2),
	.valid = BIT(0),
	.write = BIT(1),
	.accessed = BIT(5),
	.dirty = BIT(6),
	.leaf = BIT(7),
	.sw = X86_SW,
};

HMMSIM_API const struct pt_format pt_format_tiny = {
	.name = "tiny",
	.last = BIT(24) - 1,
	.page_shift = 12,
	.dir_shift = 2,
	.oa_bits = 40,
	.leaf_levels = BITS(4, 0),
	.contig_shift = { [0] = 1 },
	.valid = BIT(0),
	.write = BIT(1),
	.accessed = BIT(2),
	.dirty = BIT(3),
	.leaf = BIT(4),
	.contig = BIT(5),
	.sw = BITS(11, 6),
};

/* Each named bit is one bit, outside the frame field, and no two overlap. */
static int check_bits(const struct pt_format *fmt)
{
	const pt_entry_t one[] = { fmt->valid, fmt->write, fmt->dirty, fmt->accessed, fmt->leaf };
	pt_entry_t field, seen = fmt->sw;
	unsigned int i;

	/* The width first: BIT(oa_bits) is undefined from 64 on. */
	if (fmt->oa_bits == 0 || fmt->page_shift + fmt->oa_bits > 64)
		return -EINVAL;
	if (fmt->oa_bits + fmt->page_shift == 64)
		field = ~(BIT(fmt->page_shift) - 1);
	else
		field = (BIT(fmt->oa_bits) - 1) << fmt->page_shift;
	for (i = 0; i < ARRAY_SIZE(one); i++) {
		if (!is_pow2(one[i]) || (one[i] & seen))
			return -EINVAL;
		seen |= one[i];
	}
	if (fmt->contig) {
		if (!is_pow2(fmt->contig) || (fmt->contig & seen))
			return -EINVAL;
		seen |= fmt->contig;
	}
	if (seen & field)
		return -EINVAL;
	/* Table entries are a directory's address plus the valid bit. */
	if (fmt->valid >= BIT(fmt->page_shift) || fmt->leaf >= BIT(fmt->page_shift))
		return -EINVAL;
	return 0;
}

HMMSIM_API int pt_format_geometry(const struct pt_format *fmt, struct pt_geometry *geo)
{
	unsigned int bits, levels, level, top_bits;
	struct pt_geometry g;	/* *geo is written only once the format passed */

	if (!fmt || !geo)
		return -EINVAL;
	if (fmt->page_shift < 9 || fmt->page_shift > 30 || fmt->dir_shift < 1 ||
	    fmt->dir_shift > 13 || fmt->last >= BIT(63) || fmt->last < BIT(fmt->page_shift))
		return -EINVAL;
	if (check_bits(fmt))
		return -EINVAL;

	bits = fls64_index(fmt->last) + 1 - fmt->page_shift;
	levels = (bits + fmt->dir_shift - 1) / fmt->dir_shift;
	if (levels > PT_MAX_LEVELS)
		return -EINVAL;
	top_bits = bits - (levels - 1) * fmt->dir_shift;
	/* Leaves at levels 0 to k, no gaps: a split always lands on a leaf level. */
	if (!(fmt->leaf_levels & 1) || fmt->leaf_levels >> levels ||
	    (fmt->leaf_levels & (fmt->leaf_levels + 1)))
		return -EINVAL;

	g.levels = levels;
	g.page_sizes = 0;
	for (level = 0; level < PT_MAX_LEVELS; level++) {
		unsigned int contig = fmt->contig_shift[level];

		if (level >= levels) {
			if (contig)
				return -EINVAL;
			g.shift[level] = 0;
			g.entries[level] = 0;
			continue;
		}
		g.shift[level] = fmt->page_shift + level * fmt->dir_shift;
		g.entries[level] = 1u << (level == levels - 1 ? top_bits : fmt->dir_shift);
		if (!(fmt->leaf_levels & BIT(level))) {
			if (contig)
				return -EINVAL;
			continue;
		}
		g.page_sizes |= BIT(g.shift[level]);
		if (contig) {
			/*
			 * A run stays inside one directory and below the next
			 * level's size (the shift checked before BIT() uses it).
			 */
			if (!fmt->contig || contig >= fmt->dir_shift ||
			    BIT(contig) >= g.entries[level])
				return -EINVAL;
			g.page_sizes |= BIT(g.shift[level] + contig);
		}
	}
	*geo = g;
	return 0;
}
