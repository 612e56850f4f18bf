// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * hmm_rmap: migrate_vma finds the other mappings of a page through the anon
 * reverse map (src/mm/rmap.c), not at the same address: a fork relative
 * that mremapped the region, all of it or part of it, loses its mappings
 * to migration entries and gets the device pages at its own addresses; a
 * relative's unrelated memory with the same linear index is left alone.
 * Data round-trips in every process; the checkers (which also check every
 * anonymous folio's linear index) run after every step.
 */
#include <inttypes.h>

#include "hmm_dev_test.h"

static struct fake_dev dev;

/* Pages [0, n) at @a of @x and at @b of @y map the same frames. */
static void assert_same_frames(struct mm_struct *x, uint64_t a, struct mm_struct *y, uint64_t b,
			       uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		assert_int_equal(mt_pfn(x, a + i * SZ_4K), mt_pfn(y, b + i * SZ_4K));
}

static uint64_t mremap_anywhere(struct mm_struct *mm, uint64_t addr, uint64_t len)
{
	uint64_t b = 0;

	assert_ret(mm_mremap(mm, addr, len, 0, 0, 0, 0, &b), 0);
	assert_true(b != addr);
	assert_mm_ok();
	return b;
}

/*
 * The child moved the whole region: the parent's migration takes the
 * child's mappings at their new addresses (CLEAR there), both map the same
 * device pages, and a CPU read in either brings a page back for both.
 */
static void test_mremap_whole(void **state)
{
	struct mm_struct *parent, *child;
	struct recorder rec;
	struct mt_page pg;
	uint64_t a, b, i;

	(void)state;
	mt_setup(NULL);
	dev_add(&dev, HMM_DEVMEM_PRIVATE, 4 * SZ_1M);
	parent = mt_proc(NULL);
	a = mt_anon(parent, 16 * SZ_4K);
	fill(parent, a, 16 * SZ_4K, 0x10);
	child = mt_fork(parent);
	b = mremap_anywhere(child, a, 16 * SZ_4K);
	assert_same_frames(parent, a, child, b, 16);

	rec_attach(&rec, child);
	assert_int_equal(dev_migrate(&dev, parent, a, 16 * SZ_4K, true), 16);
	rec_detach(&rec, child);
	assert_clear_per_page(&rec, b, 16 * SZ_4K);
	assert_int_equal(dev_live(&dev), 16);
	/* Shared pages stay read-only, on both sides. */
	assert_codes(parent, a, 16 * SZ_4K, "16:d..");
	assert_codes(child, b, 16 * SZ_4K, "16:d..");
	assert_same_frames(parent, a, child, b, 16);
	for (i = 0; i < 16; i++) {
		assert_true(mt_lookup(child, b + i * SZ_4K, &pg));
		assert_folio(pg.folio, 2, 2, 0, 0, 2, 0);
		assert_int_equal(dev_byte(parent, a + i * SZ_4K), 0x10 + i);
		assert_int_equal(dev_byte(child, b + i * SZ_4K), 0x10 + i);
	}

	/* The child reads page 0: migrate_to_ram in the child finds the parent's entry. */
	mt_expect(child, b, 0x10, SZ_4K);
	assert_int_equal(dev.page_free_calls, 1);
	assert_codes(parent, a, 2 * SZ_4K, "1:p..,1:d..");
	assert_codes(child, b, 2 * SZ_4K, "1:p..,1:d..");
	assert_same_frames(parent, a, child, b, 16);
	/* The parent reads everything back; the child sees the same bytes. */
	expect_fill(parent, a, 16 * SZ_4K, 0x10);
	expect_fill(child, b, 16 * SZ_4K, 0x10);
	assert_int_equal(dev.page_free_calls, 16);
	assert_int_equal(dev_live(&dev), 0);
	assert_codes(child, b, 16 * SZ_4K, "16:p..");

	/* A COW copy in the moved region keeps its linear index (the checkers look). */
	mt_memset(child, b + 3 * SZ_4K, 0x77, SZ_4K);
	mt_expect(parent, a + 3 * SZ_4K, 0x13, SZ_4K);
	/* And the next migration takes the other pages from both again. */
	assert_int_equal(dev_migrate(&dev, parent, a, 16 * SZ_4K, true), 16);
	assert_codes(child, b, 16 * SZ_4K, "3:d..,1:pxw,12:d..");
	assert_int_equal(dev_migrate(&dev, parent, a, 16 * SZ_4K, false), 16);
	expect_fill(parent, a, 16 * SZ_4K, 0x10);
	mt_expect(child, b + 3 * SZ_4K, 0x77, SZ_4K);
	mt_exit(child);
	mt_exit(parent);
	dev_remove(&dev);
	mt_teardown();
}

/*
 * The child moved a part of the range (pages 4-7, made read-only first so
 * that they are a VMA of their own), and then mapped new memory where that
 * part was: the new pages have the same linear index as the moved ones,
 * and the rmap must tell them apart by frame.
 */
static void test_mremap_part(void **state)
{
	struct mm_mmap_args ma = {
		.len = 4 * SZ_4K, .prot = RW, .flags = ANON | MM_MAP_FIXED,
	};
	struct mm_struct *parent, *child;
	struct recorder rec;
	uint64_t a, b, got, i;

	(void)state;
	mt_setup(NULL);
	dev_add(&dev, HMM_DEVMEM_PRIVATE, 4 * SZ_1M);
	parent = mt_proc(NULL);
	a = mt_anon(parent, 16 * SZ_4K);
	fill(parent, a, 16 * SZ_4K, 0x30);
	child = mt_fork(parent);
	assert_ret(mm_mprotect(child, a + 4 * SZ_4K, 4 * SZ_4K, MM_PROT_READ), 0);
	b = mremap_anywhere(child, a + 4 * SZ_4K, 4 * SZ_4K);
	ma.addr = a + 4 * SZ_4K;
	assert_ret(mm_mmap(child, &ma, &got), 0);
	assert_int_equal(got, a + 4 * SZ_4K);
	fill(child, a + 4 * SZ_4K, 4 * SZ_4K, 0xe0);
	assert_same_frames(parent, a, child, a, 4);
	assert_same_frames(parent, a + 4 * SZ_4K, child, b, 4);
	assert_same_frames(parent, a + 8 * SZ_4K, child, a + 8 * SZ_4K, 8);

	rec_attach(&rec, child);
	assert_int_equal(dev_migrate(&dev, parent, a, 16 * SZ_4K, true), 16);
	rec_detach(&rec, child);
	assert_clear_per_page(&rec, b, 4 * SZ_4K);
	assert_clear_per_page(&rec, a, 4 * SZ_4K);
	assert_clear_per_page(&rec, a + 8 * SZ_4K, 8 * SZ_4K);
	assert_codes(parent, a, 16 * SZ_4K, "16:d..");
	assert_codes(child, a, 16 * SZ_4K, "4:d..,4:pxw,8:d..");
	assert_codes(child, b, 4 * SZ_4K, "4:d..");
	assert_same_frames(parent, a + 4 * SZ_4K, child, b, 4);
	for (i = 0; i < 4; i++)
		assert_int_equal(dev_byte(child, b + i * SZ_4K), 0x34 + i);
	/* The child's own pages at the old place were not touched. */
	expect_fill(child, a + 4 * SZ_4K, 4 * SZ_4K, 0xe0);
	assert_int_equal(dev_live(&dev), 16);

	/* Back to RAM from the child's side, through the moved part first. */
	expect_fill(child, b, 4 * SZ_4K, 0x34);
	assert_int_equal(dev.page_free_calls, 4);
	assert_same_frames(parent, a + 4 * SZ_4K, child, b, 4);
	assert_int_equal(dev_migrate(&dev, parent, a, 16 * SZ_4K, false), 12);
	assert_int_equal(dev_live(&dev), 0);
	expect_fill(parent, a, 16 * SZ_4K, 0x30);
	expect_fill(child, a, 4 * SZ_4K, 0x30);
	expect_fill(child, a + 8 * SZ_4K, 8 * SZ_4K, 0x38);
	mt_exit(parent);
	mt_exit(child);
	dev_remove(&dev);
	mt_teardown();
}

/*
 * Three generations, each at its own address (the child and the grandchild
 * both mremapped): one migration takes the page from all three; a write in
 * the middle one brings its page back and copies it (COW).
 */
static void test_mremap_generations(void **state)
{
	struct mm_struct *p, *c, *g;
	uint64_t a, b, d;

	(void)state;
	mt_setup(NULL);
	dev_add(&dev, HMM_DEVMEM_PRIVATE, 4 * SZ_1M);
	p = mt_proc(NULL);
	a = mt_anon(p, 8 * SZ_4K);
	fill(p, a, 8 * SZ_4K, 0x50);
	c = mt_fork(p);
	b = mremap_anywhere(c, a, 8 * SZ_4K);
	g = mt_fork(c);
	/* Somewhere neither of the others has ever mapped it. */
	assert_true(b + 8 * SZ_4K <= a + SZ_1M || b >= a + SZ_1M + 8 * SZ_4K);
	assert_ret(mm_mremap(g, b, 8 * SZ_4K, MM_MAP_FIXED, a + SZ_1M, 0, 0, &d), 0);
	assert_int_equal(d, a + SZ_1M);
	assert_mm_ok();
	assert_int_equal(dev_migrate(&dev, p, a, 8 * SZ_4K, true), 8);
	assert_codes(p, a, 8 * SZ_4K, "8:d..");
	assert_codes(c, b, 8 * SZ_4K, "8:d..");
	assert_codes(g, d, 8 * SZ_4K, "8:d..");
	assert_same_frames(p, a, g, d, 8);
	assert_folio(mt_folio(g, d, NULL), 3, 3, 0, 0, 3, 0);

	mt_memset(c, b + SZ_4K, 0x99, SZ_4K);
	mt_expect(p, a + SZ_4K, 0x51, SZ_4K);
	mt_expect(g, d + SZ_4K, 0x51, SZ_4K);
	assert_int_equal(dev.page_free_calls, 1);
	/* The grandchild migrates what it shares with both back itself. */
	assert_int_equal(dev_migrate(&dev, g, d, 8 * SZ_4K, false), 7);
	assert_codes(p, a, 8 * SZ_4K, "8:p..");
	expect_fill(g, d, 8 * SZ_4K, 0x50);
	expect_fill(p, a, 8 * SZ_4K, 0x50);
	mt_expect(c, b + SZ_4K, 0x99, SZ_4K);
	assert_int_equal(dev_live(&dev), 0);
	mt_exit(g);
	mt_exit(c);
	mt_exit(p);
	dev_remove(&dev);
	mt_teardown();
}

/*
 * The linear index of every kind of anonymous folio (checked by the
 * checkers on every mapping): THP and its split by a misaligned mremap in
 * the child, COW copies on either side, the huge zero page replaced,
 * pages faulted into a moved VMA, pages come back from the device.
 */
static void test_index_kinds(void **state)
{
	struct mm_struct *parent, *child;
	uint64_t a, b, c;

	(void)state;
	mt_setup(NULL);
	dev_add(&dev, HMM_DEVMEM_PRIVATE, 4 * SZ_1M);
	parent = mt_proc(NULL);
	a = mt_anon_thp(parent, SZ_4M);
	mt_memset(parent, a, 0x11, SZ_2M);		/* one THP */
	mt_touch(parent, a + SZ_2M);			/* the huge zero page, maybe */
	child = mt_fork(parent);
	assert_ret(mm_mremap(child, a, SZ_4M, 0, 0, SZ_2M, SZ_4K, &b), 0);	/* misaligned */
	assert_mm_ok();
	mt_memset(child, b + 5 * SZ_4K, 0x22, SZ_4K);	/* COW of one page of the THP */
	mt_memset(child, b + SZ_2M + SZ_4K, 0x23, SZ_4K);	/* a write over the zero page */
	mt_memset(parent, a + 7 * SZ_4K, 0x24, SZ_4K);	/* the parent's COW */
	/* A page faulted into the moved VMA from nothing. */
	c = mremap_anywhere(parent, a, SZ_4M);
	mt_memset(parent, c + SZ_2M + 100 * SZ_4K, 0x25, SZ_4K);
	mt_expect(child, b + SZ_2M + 100 * SZ_4K, 0, SZ_4K);
	/* Device round trip of the parent's private pages. */
	assert_int_equal(dev_migrate(&dev, parent, c + SZ_2M + 100 * SZ_4K, SZ_4K, true), 1);
	assert_int_equal(dev_migrate(&dev, parent, c + SZ_2M + 100 * SZ_4K, SZ_4K, false), 1);
	mt_expect(parent, c + SZ_2M + 100 * SZ_4K, 0x25, SZ_4K);
	mt_expect(parent, c, 0x11, SZ_4K);
	mt_expect(child, b + 5 * SZ_4K, 0x22, SZ_4K);
	mt_expect(parent, c + 5 * SZ_4K, 0x11, SZ_4K);
	mt_exit(child);
	mt_exit(parent);
	dev_remove(&dev);
	mt_teardown();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mremap_whole),
		cmocka_unit_test(test_mremap_part),
		cmocka_unit_test(test_mremap_generations),
		cmocka_unit_test(test_index_kinds),
	};
	int ret;

	hmmsim_thread_register();
	ret = cmocka_run_group_tests_name("hmm_rmap", tests, NULL, NULL);
	hmmsim_thread_unregister();
	return ret;
}
