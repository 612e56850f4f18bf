// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The device page-table formats, as pt formats (seed 003: one engine, the
 * formats as data).
 *
 * GP100-like follows nouveau's GP100 (page-table-anchors.md §4.1): a 49-bit
 * VA in 5 levels, 4K pages at the bottom, 64K pages, and 2M leaves one level
 * up. The real hardware gives the 64K pages their own dual page table under
 * a 16-byte PD0 entry; the engine has one table per level, so a 64K page is a
 * run of 16 contiguous 4K items (the pt contiguous-leaf size), which keeps
 * the translation and the TLB reach of a 64K page. The levels use 9 bits
 * each (the top takes the one bit left) instead of GP100's 2/9/9/8/9, so
 * that the valid bit 0 and leaf bit 7 of x86, with 4K pages and 512-entry
 * directories, put the table on pt's unrolled lookup.
 *
 * Entries: valid, write, accessed and dirty at x86's positions, the frame
 * above bit 12, and two software bits for the device: VRAM (the frame is
 * the device's own memory) and ATOMIC (a device-exclusive mapping).
 */
#include <string.h>

#include "gpu/internal.h"

#define BIT(n)		(UINT64_C(1) << (n))
#define BITS(hi, lo)	((~UINT64_C(0) >> (63 - (hi))) & ~(BIT(lo) - 1))

#define GPU_SW		(BIT(9) | BIT(10) | BIT(11) | BITS(63, 52))

static const struct pt_format gpu_format_gp100 = {
	.name = "gp100",
	.last = BIT(49) - 1,
	.page_shift = 12,
	.dir_shift = 9,
	.oa_bits = 40,
	.leaf_levels = BIT(0) | BIT(1),
	.contig_shift = { [0] = 4 },
	.valid = BIT(0),
	.write = BIT(1),
	.accessed = BIT(5),
	.dirty = BIT(6),
	.leaf = BIT(7),
	.contig = BIT(8),
	.sw = GPU_SW,
};

static const struct pt_format gpu_format_x86 = {
	.name = "x86",
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
	.sw = GPU_SW,
};

static const struct pt_format gpu_format_4k = {
	.name = "4k",
	.last = BIT(48) - 1,
	.page_shift = 12,
	.dir_shift = 9,
	.oa_bits = 40,
	.leaf_levels = BIT(0),
	.valid = BIT(0),
	.write = BIT(1),
	.accessed = BIT(5),
	.dirty = BIT(6),
	.leaf = BIT(7),
	.sw = GPU_SW,
};

static const struct pt_format *const formats[GPU_NR_FORMATS] = {
	[GPU_FORMAT_GP100] = &gpu_format_gp100,
	[GPU_FORMAT_X86] = &gpu_format_x86,
	[GPU_FORMAT_4K] = &gpu_format_4k,
};

HMMSIM_API const struct pt_format *gpu_format_pt(enum gpu_format f)
{
	return (unsigned int)f < GPU_NR_FORMATS ? formats[f] : NULL;
}

HMMSIM_API const char *gpu_format_name(enum gpu_format f)
{
	return (unsigned int)f < GPU_NR_FORMATS ? formats[f]->name : NULL;
}

HMMSIM_API int gpu_format_parse(const char *name, enum gpu_format *out)
{
	unsigned int i;

	if (!name || !out)
		return -EINVAL;
	for (i = 0; i < GPU_NR_FORMATS; i++) {
		if (!strcmp(name, formats[i]->name)) {
			*out = (enum gpu_format)i;
			return 0;
		}
	}
	return -EINVAL;
}

int gpu_ps_index(unsigned int shift)
{
	switch (shift) {
	case 12:
		return GPU_PS_4K;
	case 16:
		return GPU_PS_64K;
	case 21:
		return GPU_PS_2M;
	case 30:
		return GPU_PS_1G;
	default:
		return -1;
	}
}

unsigned int gpu_fit_shift(uint64_t sizes, unsigned int max_shift)
{
	if (max_shift < 63)
		sizes &= (UINT64_C(2) << max_shift) - 1;
	sizes &= ~(GPU_PAGE_SIZE - 1);
	return sizes ? fls64_index(sizes) : GPU_PAGE_SHIFT;
}
