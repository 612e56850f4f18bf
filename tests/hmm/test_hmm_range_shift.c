// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * hmm_range_shift: the output word and the two page-size queries on
 * hand-built arrays (linux-hmm.md §1.3, §2, §8.1, §8.5; seed 000). The
 * v6.16 encoding; hmm_range_map_shift() reads the map order (the largest
 * size in the bitmap up to it whose aligned block is in the range: edges
 * of the range at both ends, 2M and 1G leaves, order 0 however perfect the
 * neighbours, entries not VALID); hmm_range_infer_shift() checks the
 * frames against their folio instead (mixed WRITE, frames out of order or
 * misaligned, entries not VALID, the block cut by the range, frames of an
 * order-0 folio or of none). Real outputs: test_hmm_range_order.c.
 */
#include <stdlib.h>
#include <string.h>

#include <hmmsim/hmm.h>

#include "mm_test.h"

#define V		HMM_PFN_VALID
#define W		HMM_PFN_WRITE
#define ORDER(o)	((uint64_t)(o) << HMM_PFN_ORDER_SHIFT)
#define SIZES		(SZ_4K | SZ_64K | SZ_2M | SZ_1G)

static uint64_t pfns[1024];

/* ------------------------------------------------------------------------ */
/* hmm_range_map_shift and hmm_range_infer_shift                            */
/* ------------------------------------------------------------------------ */

/* @n entries from frame @pfn on, with @flags (VALID, WRITE, order). */
static void build(uint64_t *p, uint64_t n, uint64_t pfn, uint64_t flags)
{
	uint64_t i;

	for (i = 0; i < n; i++)
		p[i] = flags | (pfn + i);
}

/*
 * §1.3, §8.1: the v6.16 word. VALID 63, WRITE 62, ERROR 61, a 5-bit order
 * at 53; HMM_PFN_FLAGS is every bit from the order up; the requests share
 * the output bits.
 */
static void test_encoding(void **state)
{
	uint64_t e = V | W | ORDER(18) | UINT64_C(0x1fffffffffffff);

	(void)state;
	assert_int_equal(HMM_PFN_VALID, UINT64_C(1) << 63);
	assert_int_equal(HMM_PFN_WRITE, UINT64_C(1) << 62);
	assert_int_equal(HMM_PFN_ERROR, UINT64_C(1) << 61);
	assert_int_equal(HMM_PFN_ORDER_SHIFT, 53);
	assert_int_equal(HMM_PFN_ORDER_MASK, UINT64_C(0x1f) << 53);
	assert_int_equal(HMM_PFN_FLAGS, ~((UINT64_C(1) << 53) - 1));
	assert_int_equal(HMM_PFN_REQ_FAULT, HMM_PFN_VALID);
	assert_int_equal(HMM_PFN_REQ_WRITE, HMM_PFN_WRITE);
	assert_int_equal(hmm_pfn_to_pfn(e), UINT64_C(0x1fffffffffffff));
	assert_int_equal(hmm_pfn_to_map_order(e), 18);
	assert_int_equal(hmm_pfn_to_map_order(ORDER(31)), 31);
	assert_int_equal(hmm_pfn_to_map_order(V | W | HMM_PFN_ERROR | 12345), 0);
	assert_int_equal(hmm_pfn_to_pfn(HMM_PFN_ERROR | ORDER(9) | 77), 77);
}

/*
 * map_shift reads the map order: the largest size in the bitmap up to it
 * whose aligned block is inside the range; 12 for an order-0 entry however
 * perfect its neighbours; 0 when not VALID or out of bounds.
 */
static void test_map_shift(void **state)
{
	const uint64_t base = UINT64_C(0x40000000);	/* 1G-aligned VA */
	uint64_t *big, n1g = SZ_1G / SZ_4K;

	(void)state;
	/* A 4M run of two aligned PMD leaves. */
	build(pfns, 1024, 0x80000, V | W | ORDER(9));
	assert_int_equal(hmm_range_map_shift(pfns, base, 1024, 0, SIZES), 21);
	assert_int_equal(hmm_range_map_shift(pfns, base, 1024, 511, SIZES), 21);
	assert_int_equal(hmm_range_map_shift(pfns, base, 1024, 512, SIZES), 21);
	assert_int_equal(hmm_range_map_shift(pfns, base, 1024, 1023, SIZES), 21);
	assert_int_equal(hmm_range_map_shift(pfns, base, 1024, 3, SZ_4K | SZ_64K), 16);
	assert_int_equal(hmm_range_map_shift(pfns, base, 1024, 3, SZ_64K), 16);
	assert_int_equal(hmm_range_map_shift(pfns, base, 1024, 3, SZ_2M), 21);
	assert_int_equal(hmm_range_map_shift(pfns, base, 1024, 3, SZ_4K), 12);
	/* 1G is in the bitmap but the leaf is 2M. */
	assert_int_equal(hmm_range_map_shift(pfns, base, 1024, 3, SZ_4K | SZ_1G), 12);
	/* Read-only leaves likewise. */
	build(pfns, 512, 0x80000, V | ORDER(9));
	assert_int_equal(hmm_range_map_shift(pfns, base, 512, 100, SIZES), 21);

	/* The range starts 16 pages into the first leaf. */
	build(pfns, 1008, 0x80010, V | W | ORDER(9));
	assert_int_equal(hmm_range_map_shift(pfns, base + SZ_64K, 1008, 0, SIZES), 16);
	assert_int_equal(hmm_range_map_shift(pfns, base + SZ_64K, 1008, 495, SIZES), 16);
	assert_int_equal(hmm_range_map_shift(pfns, base + SZ_64K, 1008, 496, SIZES), 21);
	assert_int_equal(hmm_range_map_shift(pfns, base + SZ_64K, 1008, 1007, SIZES), 21);
	/* It starts one page in: the first 64K block is cut too. */
	assert_int_equal(hmm_range_map_shift(pfns + 15, base + SZ_4K * 31, 40, 0, SIZES), 12);
	assert_int_equal(hmm_range_map_shift(pfns + 15, base + SZ_4K * 31, 40, 1, SIZES), 16);
	/* It ends inside the second leaf (600 pages). */
	build(pfns, 600, 0x80000, V | W | ORDER(9));
	assert_int_equal(hmm_range_map_shift(pfns, base, 600, 0, SIZES), 21);
	assert_int_equal(hmm_range_map_shift(pfns, base, 600, 550, SIZES), 16);
	assert_int_equal(hmm_range_map_shift(pfns, base, 600, 591, SIZES), 16);
	assert_int_equal(hmm_range_map_shift(pfns, base, 600, 592, SIZES), 12);
	assert_int_equal(hmm_range_map_shift(pfns, base, 600, 599, SIZES), 12);

	/* Order 0: 4K, even when frames, alignment and flags would allow more. */
	build(pfns, 512, 0x80000, V | W);
	assert_int_equal(hmm_range_map_shift(pfns, base, 512, 0, SIZES), 12);
	assert_int_equal(hmm_range_map_shift(pfns, base, 512, 300, SIZES), 12);
	pfns[7] &= ~W;				/* mixed WRITE */
	assert_int_equal(hmm_range_map_shift(pfns, base, 512, 7, SIZES), 12);
	assert_int_equal(hmm_range_map_shift(pfns, base, 512, 8, SIZES), 12);

	/* Not VALID, or out of bounds: 0. */
	pfns[20] = 0;
	pfns[21] = HMM_PFN_ERROR;
	pfns[22] = ORDER(9) | 0x80016;		/* order and pfn but no VALID */
	pfns[23] = W | 0x80017;
	assert_int_equal(hmm_range_map_shift(pfns, base, 512, 20, SIZES), 0);
	assert_int_equal(hmm_range_map_shift(pfns, base, 512, 21, SIZES), 0);
	assert_int_equal(hmm_range_map_shift(pfns, base, 512, 22, SIZES), 0);
	assert_int_equal(hmm_range_map_shift(pfns, base, 512, 23, SIZES), 0);
	assert_int_equal(hmm_range_map_shift(pfns, base, 512, 512, SIZES), 0);
	assert_int_equal(hmm_range_map_shift(NULL, base, 512, 0, SIZES), 0);

	/* A PUD leaf over 1G: 1G, or 2M / 64K when that is the largest size asked. */
	big = malloc(n1g * sizeof(*big));
	assert_non_null(big);
	build(big, n1g, 0x4000000, V | W | ORDER(18));
	assert_int_equal(hmm_range_map_shift(big, base, n1g, 0, SIZES), 30);
	assert_int_equal(hmm_range_map_shift(big, base, n1g, n1g - 1, SIZES), 30);
	assert_int_equal(hmm_range_map_shift(big, base, n1g, 99999, SZ_4K | SZ_2M), 21);
	assert_int_equal(hmm_range_map_shift(big, base, n1g, 99999, SZ_4K | SZ_64K), 16);
	/* The same leaf seen through a range one page short. */
	assert_int_equal(hmm_range_map_shift(big, base, n1g - 1, 0, SIZES), 21);
	assert_int_equal(hmm_range_map_shift(big, base, n1g - 1, n1g - 2, SIZES), 12);
	free(big);
}

/*
 * infer_shift checks the frames instead: their folio's order bounds the
 * size, and the aligned block must be in the range, all VALID with the
 * same WRITE, the frames consecutive from an aligned one.
 */
static void test_infer_shift(void **state)
{
	const uint64_t base = UINT64_C(0x40000000);
	struct phys_machine *m;
	struct folio *f9, *f0;
	uint64_t h, p0;

	(void)state;
	mt_setup(NULL);
	m = mt_machine();
	f9 = folio_alloc(mt_pool(), 9, 0);
	f0 = folio_alloc(mt_pool(), 0, 0);
	assert_non_null(f9);
	assert_non_null(f0);
	h = folio_pfn(f9);
	p0 = folio_pfn(f0);
	assert_int_equal(h & 511, 0);

	/* A whole order-9 folio, order 0 in the words: 2M (map_shift: 4K). */
	build(pfns, 512, h, V | W);
	assert_int_equal(hmm_range_infer_shift(m, pfns, base, 512, 0, SIZES), 21);
	assert_int_equal(hmm_range_infer_shift(m, pfns, base, 512, 511, SIZES), 21);
	assert_int_equal(hmm_range_infer_shift(m, pfns, base, 512, 9, SZ_4K | SZ_64K), 16);
	assert_int_equal(hmm_range_infer_shift(m, pfns, base, 512, 9, SZ_4K), 12);
	assert_int_equal(hmm_range_map_shift(pfns, base, 512, 0, SIZES), 12);
	build(pfns, 512, h, V);
	assert_int_equal(hmm_range_infer_shift(m, pfns, base, 512, 200, SIZES), 21);

	/* Mixed WRITE: page 100 read-only. */
	build(pfns, 512, h, V | W);
	pfns[100] = V | (h + 100);
	assert_int_equal(hmm_range_infer_shift(m, pfns, base, 512, 0, SIZES), 16);
	assert_int_equal(hmm_range_infer_shift(m, pfns, base, 512, 100, SIZES), 12);
	assert_int_equal(hmm_range_infer_shift(m, pfns, base, 512, 96, SIZES), 12);
	assert_int_equal(hmm_range_infer_shift(m, pfns, base, 512, 112, SIZES), 16);

	/* Frames out of order: 200 and 201 swapped. */
	build(pfns, 512, h, V | W);
	pfns[200] = V | W | (h + 201);
	pfns[201] = V | W | (h + 200);
	assert_int_equal(hmm_range_infer_shift(m, pfns, base, 512, 0, SIZES), 16);
	assert_int_equal(hmm_range_infer_shift(m, pfns, base, 512, 200, SIZES), 12);
	assert_int_equal(hmm_range_infer_shift(m, pfns, base, 512, 207, SIZES), 12);

	/* Not VALID inside a block: 0 there, 4K around it. */
	build(pfns, 512, h, V | W);
	pfns[300] = 0;
	assert_int_equal(hmm_range_infer_shift(m, pfns, base, 512, 300, SIZES), 0);
	assert_int_equal(hmm_range_infer_shift(m, pfns, base, 512, 301, SIZES), 12);
	assert_int_equal(hmm_range_infer_shift(m, pfns, base, 512, 0, SIZES), 16);
	pfns[300] = HMM_PFN_ERROR;
	assert_int_equal(hmm_range_infer_shift(m, pfns, base, 512, 301, SIZES), 12);

	/* Misaligned frames: VA aligned, frames one off. */
	build(pfns, 511, h + 1, V | W);
	pfns[511] = V | W | p0;
	assert_int_equal(hmm_range_infer_shift(m, pfns, base, 512, 0, SIZES), 12);
	assert_int_equal(hmm_range_infer_shift(m, pfns, base, 512, 40, SIZES), 12);
	/* Frames aligned to 64K, not to 2M: 64K. */
	build(pfns, 512, h + 16, V | W);
	assert_int_equal(hmm_range_infer_shift(m, pfns, base, 512, 0, SIZES), 16);
	assert_int_equal(hmm_range_infer_shift(m, pfns, base, 512, 300, SIZES), 16);

	/* The block partly outside the range: the range starts 16 pages in. */
	build(pfns, 496, h + 16, V | W);
	assert_int_equal(hmm_range_infer_shift(m, pfns, base + SZ_64K, 496, 0, SIZES), 16);
	assert_int_equal(hmm_range_infer_shift(m, pfns, base + SZ_64K, 496, 495, SIZES), 16);
	/* ... or ends 8 pages early. */
	build(pfns, 504, h, V | W);
	assert_int_equal(hmm_range_infer_shift(m, pfns, base, 504, 0, SIZES), 16);
	assert_int_equal(hmm_range_infer_shift(m, pfns, base, 504, 500, SIZES), 12);

	/* An order-0 folio, a frame with no folio, a NULL array. */
	pfns[0] = V | W | p0;
	assert_int_equal(hmm_range_infer_shift(m, pfns, base, 1, 0, SIZES), 12);
	pfns[0] = V | W | (UINT64_C(1) << 40);
	assert_int_equal(hmm_range_infer_shift(m, pfns, base, 1, 0, SIZES), 12);
	assert_int_equal(hmm_range_infer_shift(m, NULL, base, 1, 0, SIZES), 0);
	assert_int_equal(hmm_range_infer_shift(m, pfns, base, 1, 1, SIZES), 0);

	folio_put(f9);
	folio_put(f0);
	mt_teardown();
}


int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encoding),
		cmocka_unit_test(test_map_shift),
		cmocka_unit_test(test_infer_shift),
	};
	int ret;

	hmmsim_thread_register();
	ret = cmocka_run_group_tests_name("hmm_range_shift", tests, NULL, NULL);
	hmmsim_thread_unregister();
	return ret;
}
