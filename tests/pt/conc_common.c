// SPDX-License-Identifier: LGPL-2.1-or-later
/* test_pt_concurrency: error reporting, thread control and the readers (see conc.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conc.h"

void conc_error(struct conc *c, const char *fmt, ...)
{
	va_list ap;

	if (__atomic_fetch_add(&c->errors, 1, __ATOMIC_ACQ_REL) == 0) {
		va_start(ap, fmt);
		vsnprintf(c->first_error, sizeof(c->first_error), fmt, ap);
		va_end(ap);
	}
	__atomic_store_n(&c->stop, 1, __ATOMIC_RELEASE);
}

bool conc_check_leaf(struct conc *c, const char *who, uint64_t va, pt_entry_t e,
		     unsigned int level)
{
	const struct pt_format *fmt = c->fmt;
	pt_entry_t attrs;
	bool present;

	if (level >= c->geo->levels || !(fmt->leaf_levels & (1u << level))) {
		conc_error(c, "%s: %#" PRIx64 ": leaf %#" PRIx64 " at level %u", who, va, e, level);
		return false;
	}
	attrs = pt_entry_attrs(fmt, pt_test_strip(fmt, e));
	present = pt_entry_present(fmt, e);
	if ((present && (attrs & ~c->present_bits)) ||
	    (!present && ((attrs & ~c->special_bits) || !(attrs & c->special_mark))) ||
	    (present && level && !(e & fmt->leaf)) ||
	    ((e & fmt->contig) && !fmt->contig_shift[level]) ||
	    pt_test_frame(c->t, e, level, va) != conc_frame(c, va)) {
		conc_error(c,
			   "%s: %#" PRIx64 ": leaf %#" PRIx64 " at level %u, no writer wrote that",
			   who, va, e, level);
		return false;
	}
	return true;
}

/*
 * pt_lookup_entry() gives no level: @e must be a leaf some writer could
 * have written at one of the levels it may sit at (the leaf bit tells
 * level 0 from the others).
 */
static void check_word(struct conc *c, uint64_t va, pt_entry_t e)
{
	const struct pt_format *fmt = c->fmt;
	bool upper = pt_entry_present(fmt, e) && (e & fmt->leaf);

	for (unsigned int l = upper; l < c->geo->levels; l++) {
		if (!(fmt->leaf_levels & (1u << l)))
			break;
		if (pt_test_frame(c->t, e, l, va) == conc_frame(c, va)) {
			conc_check_leaf(c, "lookup_entry", va, e, l);
			return;
		}
	}
	conc_error(c, "lookup_entry: %#" PRIx64 ": %#" PRIx64 " translates it at no level", va, e);
}

void conc_init(struct conc *c, const struct pt_format *fmt, uint64_t seed)
{
	memset(c, 0, sizeof(*c));
	c->t = pt_test_create(fmt, PT_RECLAIM_EAGER);
	c->fmt = fmt;
	c->geo = pt_table_geometry(c->t);
	c->seed = seed;
	c->special_mark = pt_test_sw_bit(fmt, 1);
	c->present_bits = fmt->valid | fmt->write | fmt->dirty | fmt->accessed |
			  pt_test_sw_bit(fmt, 0);
	c->special_bits = c->special_mark | fmt->dirty | pt_test_sw_bit(fmt, 0);
	assert_true(c->special_mark != 0);
}

void conc_fini(struct conc *c)
{
	struct pt_stats st;

	if (c->errors) {
		pt_table_destroy(c->t);
		fail_msg("%u errors, the first: %s", c->errors, c->first_error);
	}
	assert_pt_check(c->t);
	assert_true(pt_unmap(c->t, 0, c->fmt->last + 1, PT_UNMAP_FREE) >= 0);
	assert_pt_check(c->t);
	/* Every directory unlinked by any thread has been freed after its grace period. */
	pt_test_stats_settled(c->t, &st);
	assert_int_equal(st.pending, 0);
	assert_int_equal(pt_test_dirs(&st), 1);
	assert_int_equal(st.allocs - st.frees, 1);
	pt_table_destroy(c->t);
}

static void *trampoline(void *arg)
{
	struct conc_thread *th = arg;
	void *ret;

	hmmsim_thread_register();
	ret = th->fn(th->arg);
	hmmsim_thread_unregister();
	return ret;
}

void conc_spawn(struct conc_threads *ts, void *(*fn)(void *arg), void *arg)
{
	struct conc_thread *th = &ts->th[ts->n++];

	assert_true(ts->n <= sizeof(ts->th) / sizeof(ts->th[0]));
	th->fn = fn;
	th->arg = arg;
	assert_int_equal(pthread_create(&th->tid, NULL, trampoline, th), 0);
}

void conc_wait(struct conc *c, struct conc_threads *ts, unsigned int ms)
{
	struct timespec tick = { 0, 10 * 1000 * 1000 };

	for (unsigned int waited = 0; waited < ms && !conc_stopped(c); waited += 10)
		nanosleep(&tick, NULL);
	__atomic_store_n(&c->stop, 1, __ATOMIC_RELEASE);
	for (unsigned int i = 0; i < ts->n; i++)
		assert_int_equal(pthread_join(ts->th[i].tid, NULL), 0);
	ts->n = 0;
}

unsigned int conc_ms(unsigned int def)
{
	const char *env = getenv("HMMSIM_TEST_TIME_SCALE");
	double scale = env && *env ? strtod(env, NULL) : 1.0;

	return (unsigned int)(def * scale);
}

struct walk_state {
	struct conc *c;
	uint64_t next;		/* where the next record must start */
};

static int walk_leaf(void *arg, uint64_t va, uint64_t size, pt_entry_t e, unsigned int level)
{
	struct walk_state *w = arg;
	uint64_t psz = UINT64_C(1) << w->c->fmt->page_shift;

	if (va != w->next || !size) {
		conc_error(w->c, "walk: leaf at %#" PRIx64 " +%#" PRIx64 ", expected at %#" PRIx64,
			   va, size, w->next);
		return 1;
	}
	w->next = va + size;
	if (!conc_check_leaf(w->c, "walk", va, e, level) ||
	    !conc_check_leaf(w->c, "walk", va + size - psz, e, level))
		return 1;
	return 0;
}

static int walk_hole(void *arg, uint64_t va, uint64_t size, unsigned int level)
{
	struct walk_state *w = arg;

	if (va != w->next || !size) {
		conc_error(w->c, "walk: hole at %#" PRIx64 ", expected at %#" PRIx64, va, w->next);
		return 1;
	}
	w->next = va + size;
	return 0;
}

static void read_walk(struct conc *c, uint64_t va, uint64_t size)
{
	static const struct pt_walk_ops ops = { .leaf = walk_leaf, .hole = walk_hole };
	struct walk_state w = { .c = c, .next = va };
	int ret = pt_walk(c->t, va, size, &ops, &w);

	if (ret == 0 && w.next != va + size)
		conc_error(c, "walk of %#" PRIx64 " +%#" PRIx64 " stopped at %#" PRIx64, va, size,
			   w.next);
	else if (ret && ret != 1)
		conc_error(c, "pt_walk() = %d", ret);
}

static void read_iter(struct conc *c, uint64_t va, uint64_t size)
{
	uint64_t psz = UINT64_C(1) << c->fmt->page_shift, next = va;
	struct pt_iter it;

	if (pt_iter_start(&it, c->t, va, size)) {
		conc_error(c, "pt_iter_start() failed");
		return;
	}
	while (pt_iter_next(&it)) {
		if (it.va < next || it.va + it.size > va + size || !it.size) {
			conc_error(c, "iter: leaf at %#" PRIx64 " +%#" PRIx64 " out of order",
				   it.va, it.size);
			return;
		}
		next = it.va + it.size;
		if (!conc_check_leaf(c, "iter", it.va, it.entry, it.level) ||
		    !conc_check_leaf(c, "iter", next - psz, it.entry, it.level))
			return;
	}
}

void *reader_thread(void *arg)
{
	struct reader *r = arg;
	struct conc *c = r->c;
	unsigned int ps = c->fmt->page_shift;
	uint64_t npages = (r->hi - r->lo) >> ps;
	unsigned long n = 0;
	struct prng rng;

	prng_seed(&rng, c->seed * 131 + r->id);
	while (!conc_stopped(c)) {
		uint64_t va = r->lo + (prng_below(&rng, npages) << ps);
		uint64_t size = (1 + prng_below(&rng, 64)) << ps;
		pt_entry_t e, ad = c->fmt->accessed;
		unsigned int level;
		int ret;

		if (va + size > r->hi)
			size = r->hi - va;
		hmmsim_read_lock();
		switch (prng_below(&rng, r->touch_accessed ? 4 : 3)) {
		case 0:
			ret = pt_lookup(c->t, va + prng_below(&rng, UINT64_C(1) << ps), &e, &level);
			if (ret == 0)
				conc_check_leaf(c, "lookup", va, e, level);
			else if (ret != -ENOENT)
				conc_error(c, "pt_lookup() = %d", ret);
			e = pt_lookup_entry(c->t, va);
			if (e)
				check_word(c, va, e);
			break;
		case 1:
			read_walk(c, va, size);
			break;
		case 2:
			read_iter(c, va, size);
			break;
		default:
			ret = prng_chance(&rng, 50) ? pt_test_and_set_bits(c->t, va, ad) :
						      pt_test_and_clear_bits(c->t, va, ad);
			if (ret != 0 && ret != 1 && ret != -ENOENT)
				conc_error(c, "pt_test_and_*_bits() = %d", ret);
			break;
		}
		hmmsim_read_unlock();
		n++;
	}
	__atomic_fetch_add(&c->reads, n, __ATOMIC_RELAXED);
	return NULL;
}
