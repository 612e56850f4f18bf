// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * pt_test_and_set_bits() is never lost to a concurrent pt_protect(): one
 * thread sets and clears the accessed and dirty bits of a leaf with the atomic
 * operations while another rewrites the same leaf's write and sw bits. The
 * first thread alone touches accessed and dirty, so each set must find them
 * clear and each clear must find them set. On a 2M leaf, a 4K page and an
 * item of a contiguous run.
 */
#include <inttypes.h>

#include "conc.h"

struct bits_pair {
	struct conc *c;
	uint64_t va, size;	/* the leaf the protector rewrites whole */
	uint64_t page;		/* the page the bit thread works through */
	unsigned long rounds;
};

static void *bits_thread(void *arg)
{
	struct bits_pair *p = arg;
	struct conc *c = p->c;
	pt_entry_t ad = c->fmt->accessed | c->fmt->dirty;
	int set, clear;

	while (!conc_stopped(c)) {
		hmmsim_read_lock();
		set = pt_test_and_set_bits(c->t, p->page, ad);
		clear = pt_test_and_clear_bits(c->t, p->page, ad);
		hmmsim_read_unlock();
		if (set != 0 || clear != 1) {
			conc_error(c,
				   "%#" PRIx64 ": test_and_set = %d (want 0), test_and_clear = %d"
				   " (want 1): a bit was lost",
				   p->page, set, clear);
			break;
		}
		p->rounds++;
	}
	__atomic_fetch_add(&c->reads, p->rounds, __ATOMIC_RELAXED);
	return NULL;
}

static void *protect_thread(void *arg)
{
	struct bits_pair *p = arg;
	struct conc *c = p->c;
	pt_entry_t sw0 = pt_test_sw_bit(c->fmt, 0);
	unsigned long n = 0;
	int64_t ret;

	while (!conc_stopped(c)) {
		bool on = !(n++ & 1);

		/* Every call flips the bits, so the leaf changes every time. */
		ret = pt_protect(c->t, p->va, p->size, on ? c->fmt->write | sw0 : 0,
				 on ? 0 : c->fmt->write | sw0);
		if (ret < 1) {
			conc_error(c, "protect %#" PRIx64 " = %lld", p->va, (long long)ret);
			break;
		}
	}
	__atomic_fetch_add(&c->writes, n, __ATOMIC_RELAXED);
	return NULL;
}

static void bits_race(const struct pt_format *fmt, uint64_t va, unsigned int lg2, uint64_t page)
{
	struct conc_threads ts = { 0 };
	struct bits_pair p;
	struct conc c;

	conc_init(&c, fmt, prng_test_seed(fmt->name, 0xb175));
	assert_int_equal(pt_map(c.t, va, UINT64_C(1) << lg2, lg2,
				pt_make_entry(fmt, conc_frame(&c, va), fmt->valid), 0), 0);
	p = (struct bits_pair){ .c = &c, .va = va, .size = UINT64_C(1) << lg2, .page = page };
	conc_spawn(&ts, bits_thread, &p);
	conc_spawn(&ts, protect_thread, &p);
	conc_wait(&c, &ts, conc_ms(400));
	print_message("# %s 2^%u leaf: %lu set/clear rounds against %lu protects\n", fmt->name,
		      lg2, c.reads, c.writes);
	if (!c.errors)
		assert_true(c.reads > 100 && c.writes > 100);
	conc_fini(&c);
}

void test_bits_never_lost(void **state)
{
	bits_race(&pt_format_x86_64_4l, 4 * SZ_2M, 21, 4 * SZ_2M + 5 * SZ_4K);
	bits_race(&pt_format_x86_64_4l, 4 * SZ_2M, 12, 4 * SZ_2M);
	bits_race(&pt_format_tiny, 8 * SZ_8K, 13, 8 * SZ_8K + SZ_4K);
}
