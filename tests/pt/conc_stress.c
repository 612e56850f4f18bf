// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The mixed stress of test_pt_concurrency, on the tiny format (eager), where
 * a handful of pages make and free directories at every level all the time.
 * Writers own 64K blocks (interleaved, so their blocks share the directories
 * above) and single pages of a region where the pages of one level-0
 * directory belong to different writers. Each writer maps, unmaps, protects,
 * splits, collapses and frees its own ranges and checks them against its own
 * model after every step; readers look up, walk and iterate everything and
 * flip accessed bits meanwhile.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "conc.h"

#define WRITERS		3
#define READERS		2
#define BLOCK_PAGES	16		/* a level-2 item of tiny: 64K */
#define BLOCKS		16		/* region A: [0, 1M) */
#define SHARED_PAGES	64		/* region B: [1M, 1M + 256K) */

struct mp {
	uint8_t kind;			/* 0 hole, 1 present, 2 special */
	pt_entry_t attrs;		/* without the accessed bit, which readers flip */
};

struct writer {
	struct conc *c;
	unsigned int id;
	struct prng rng;
	uint64_t psz;
	struct mp a[BLOCKS][BLOCK_PAGES];	/* only the blocks b % WRITERS == id are used */
	struct mp b[SHARED_PAGES];		/* only the pages i % WRITERS == id */
	unsigned long steps;
};

static uint64_t block_va(unsigned int b)
{
	return (uint64_t)b * BLOCK_PAGES * SZ_4K;
}

static uint64_t shared_va(unsigned int i)
{
	return SZ_1M + (uint64_t)i * SZ_4K;
}

/* One of the writer's pages against its model. */
static bool check_own(struct writer *w, uint64_t va, const struct mp *m)
{
	struct conc *c = w->c;
	pt_entry_t e, attrs;
	unsigned int level;
	int ret;

	hmmsim_read_lock();
	ret = pt_lookup(c->t, va, &e, &level);
	hmmsim_read_unlock();
	if (!m->kind) {
		if (ret != -ENOENT)
			conc_error(c, "writer %u: %#" PRIx64 " should be a hole, lookup = %d",
				   w->id, va, ret);
		return ret == -ENOENT;
	}
	if (ret) {
		conc_error(c, "writer %u: %#" PRIx64 " lost (lookup = %d)", w->id, va, ret);
		return false;
	}
	if (!conc_check_leaf(c, "writer", va, e, level))
		return false;
	attrs = pt_entry_attrs(c->fmt, pt_test_strip(c->fmt, e)) & ~c->fmt->accessed;
	if ((m->kind == 1) != !!pt_entry_present(c->fmt, e) || attrs != m->attrs) {
		conc_error(c,
			   "writer %u: %#" PRIx64 " has %#" PRIx64
			   " at L%u, model kind %u attrs %#" PRIx64,
			   w->id, va, e, level, m->kind, m->attrs);
		return false;
	}
	return true;
}

static bool check_block(struct writer *w, unsigned int b)
{
	for (unsigned int i = 0; i < BLOCK_PAGES; i++)
		if (!check_own(w, block_va(b) + i * w->psz, &w->a[b][i]))
			return false;
	return true;
}

static pt_entry_t pick_attrs(struct writer *w, uint8_t *kind)
{
	const struct pt_format *fmt = w->c->fmt;
	pt_entry_t sw0 = pt_test_sw_bit(fmt, 0);

	if (prng_chance(&w->rng, 15)) {
		*kind = 2;
		return w->c->special_mark | (prng_chance(&w->rng, 50) ? fmt->dirty : 0);
	}
	*kind = 1;
	return fmt->valid | (prng_chance(&w->rng, 50) ? fmt->write : 0) |
	       (prng_chance(&w->rng, 30) ? fmt->dirty : 0) | (prng_chance(&w->rng, 30) ? sw0 : 0);
}

static void set_range(struct mp *m, unsigned int n, uint8_t kind, pt_entry_t attrs)
{
	for (unsigned int i = 0; i < n; i++) {
		m[i].kind = kind;
		m[i].attrs = attrs;
	}
}

/* Map pages of a random size somewhere in the block. */
static void block_map(struct writer *w, unsigned int b)
{
	static const unsigned int lg2s[] = { 12, 13, 14, 16 };
	struct conc *c = w->c;
	unsigned int lg2 = lg2s[prng_below(&w->rng, 4)], pages = 1u << (lg2 - 12);
	unsigned int first = prng_below(&w->rng, BLOCK_PAGES / pages) * pages;
	unsigned int n = pages * (1 + prng_below(&w->rng, (BLOCK_PAGES - first) / pages));
	uint64_t va = block_va(b) + first * w->psz;
	int ret, want = 0;
	uint8_t kind;
	pt_entry_t attrs = pick_attrs(w, &kind);

	for (unsigned int i = first; i < first + n; i++)
		if (w->a[b][i].kind)
			want = -EEXIST;
	ret = pt_map(c->t, va, n * w->psz, lg2, pt_make_entry(c->fmt, conc_frame(c, va), attrs), 0);
	if (ret != want)
		conc_error(c, "writer %u: map %#" PRIx64 " 2^%u x %u = %d, expected %d", w->id, va,
			   lg2, n / pages, ret, want);
	else if (!ret)
		set_range(&w->a[b][first], n, kind, attrs & ~c->fmt->accessed);
}

/* Unmap, or protect, a random run of pages of the block (which splits what it cuts). */
static void block_unmap_protect(struct writer *w, unsigned int b, bool protect)
{
	struct conc *c = w->c;
	const struct pt_format *fmt = c->fmt;
	unsigned int first = prng_below(&w->rng, BLOCK_PAGES);
	unsigned int n = 1 + prng_below(&w->rng, BLOCK_PAGES - first), mapped = 0, present = 0;
	uint64_t va = block_va(b) + first * w->psz;
	pt_entry_t set = prng_chance(&w->rng, 50) ? fmt->write : fmt->dirty;
	pt_entry_t clear = set == fmt->write ? fmt->dirty : fmt->write;
	int64_t ret;

	for (unsigned int i = first; i < first + n; i++) {
		mapped += w->a[b][i].kind != 0;
		present += w->a[b][i].kind == 1;
	}
	if (protect) {
		ret = pt_protect(c->t, va, n * w->psz, set, clear);
		if (ret < 0 || ret > present)
			conc_error(c, "writer %u: protect %#" PRIx64 " +%u pages = %lld", w->id, va,
				   n, (long long)ret);
		for (unsigned int i = first; i < first + n; i++)
			if (w->a[b][i].kind == 1)
				w->a[b][i].attrs = (w->a[b][i].attrs | set) & ~clear;
		return;
	}
	ret = pt_unmap(c->t, va, n * w->psz, prng_chance(&w->rng, 30) ? PT_UNMAP_FREE : 0);
	if (ret != (int64_t)mapped * (int64_t)w->psz)
		conc_error(c, "writer %u: unmap %#" PRIx64 " +%u pages = %lld, expected %u pages",
			   w->id, va, n, (long long)ret, mapped);
	set_range(&w->a[b][first], n, 0, 0);
}

/* Split the leaf under a random page, or collapse the item above it. */
static void block_split_collapse(struct writer *w, unsigned int b, bool collapse)
{
	struct conc *c = w->c;
	unsigned int i = prng_below(&w->rng, BLOCK_PAGES), level, l, span, s;
	uint64_t va = block_va(b) + i * w->psz;
	pt_entry_t e, attrs = 0, dirty = 0;
	bool can = true, mixed = false;
	int ret;

	hmmsim_read_lock();
	ret = pt_lookup(c->t, va, &e, &level);
	hmmsim_read_unlock();
	if (ret)
		return;
	if (!collapse) {
		if (!level && !(e & c->fmt->contig))
			return;
		ret = pt_split(c->t, va, level);
		if (ret)
			conc_error(c, "writer %u: split %#" PRIx64 " L%u = %d", w->id, va, level,
				   ret);
		return;
	}
	/* Collapse the item of the level above: levels 1 and 2 stay in the block. */
	l = level + 1;
	if (l > 2)
		return;
	span = 1u << (c->geo->shift[l] - 12);
	s = i & ~(span - 1);
	for (unsigned int k = s; k < s + span; k++) {
		const struct mp *m = &w->a[b][k];
		pt_entry_t ek;
		unsigned int lk;

		hmmsim_read_lock();
		ret = pt_lookup(c->t, block_va(b) + k * w->psz, &ek, &lk);
		hmmsim_read_unlock();
		if (m->kind != 1 || ret || lk != level ||
		    ((m->attrs ^ w->a[b][s].attrs) & ~c->fmt->dirty))
			can = false;
		/* Runs next to single items: one size or not, the engine may choose. */
		if (!ret && !!(ek & c->fmt->contig) != !!(e & c->fmt->contig))
			mixed = true;
		dirty |= m->attrs & c->fmt->dirty;
		attrs = m->attrs;
	}
	ret = pt_collapse(c->t, va, l);
	if (can && mixed && ret == -EINVAL)
		return;
	if (can ? ret != 0 : (ret != -EINVAL && ret != -ENOENT))
		conc_error(c, "writer %u: collapse %#" PRIx64 " L%u = %d, expected %s", w->id, va,
			   l, ret, can ? "0" : "an error");
	else if (!ret)
		set_range(&w->a[b][s], span, 1, attrs | dirty);
}

/* One page of the region where the pages of a directory belong to different writers. */
static void shared_step(struct writer *w)
{
	struct conc *c = w->c;
	unsigned int i = prng_below(&w->rng, SHARED_PAGES / WRITERS) * WRITERS + w->id;
	uint64_t va = shared_va(i);
	struct mp *m = &w->b[i];
	int64_t ret;

	if (i >= SHARED_PAGES)
		return;
	if (!m->kind) {
		uint8_t kind;
		pt_entry_t attrs = pick_attrs(w, &kind);

		ret = pt_map(c->t, va, w->psz, 12, pt_make_entry(c->fmt, conc_frame(c, va), attrs),
			     0);
		if (ret)
			conc_error(c, "writer %u: map of shared page %#" PRIx64 " = %lld", w->id,
				   va, (long long)ret);
		m->kind = kind;
		m->attrs = attrs;
	} else if (prng_chance(&w->rng, 70)) {
		ret = pt_unmap(c->t, va, w->psz, 0);
		if (ret != (int64_t)w->psz)
			conc_error(c, "writer %u: unmap of shared page %#" PRIx64 " = %lld", w->id,
				   va, (long long)ret);
		m->kind = 0;
		m->attrs = 0;
	} else {
		/* The count is of leaves that changed: a special or a writable page is not. */
		ret = pt_protect(c->t, va, w->psz, c->fmt->write, 0);
		if (ret != (m->kind == 1 && !(m->attrs & c->fmt->write)))
			conc_error(c, "writer %u: protect of shared page %#" PRIx64 " = %lld",
				   w->id, va, (long long)ret);
		if (m->kind == 1)
			m->attrs |= c->fmt->write;
	}
	check_own(w, va, m);
}

static void *writer_thread(void *arg)
{
	struct writer *w = arg;
	struct conc *c = w->c;

	while (!conc_stopped(c)) {
		unsigned int b = prng_below(&w->rng, BLOCKS / WRITERS) * WRITERS + w->id;

		w->steps++;
		if (b >= BLOCKS || prng_chance(&w->rng, 30)) {
			shared_step(w);
			continue;
		}
		switch (prng_below(&w->rng, 6)) {
		case 0:
		case 1:
			block_map(w, b);
			break;
		case 2:
			block_unmap_protect(w, b, false);
			break;
		case 3:
			block_unmap_protect(w, b, true);
			break;
		default:
			block_split_collapse(w, b, prng_chance(&w->rng, 50));
			break;
		}
		check_block(w, b);
	}
	/* The final picture of everything this writer owns. */
	for (unsigned int b = w->id; b < BLOCKS; b += WRITERS)
		check_block(w, b);
	for (unsigned int i = w->id; i < SHARED_PAGES; i += WRITERS)
		check_own(w, shared_va(i), &w->b[i]);
	__atomic_fetch_add(&c->writes, w->steps, __ATOMIC_RELAXED);
	return NULL;
}

void test_stress(void **state)
{
	static struct writer writers[WRITERS];
	struct reader readers[READERS];
	struct conc_threads ts = { 0 };
	struct conc c;

	conc_init(&c, &pt_format_tiny, prng_test_seed("stress", 0xc0c0));
	for (unsigned int i = 0; i < WRITERS; i++) {
		memset(&writers[i], 0, sizeof(writers[i]));
		writers[i].c = &c;
		writers[i].id = i;
		writers[i].psz = SZ_4K;
		prng_seed(&writers[i].rng, c.seed + 1000 * (i + 1));
		conc_spawn(&ts, writer_thread, &writers[i]);
	}
	for (unsigned int i = 0; i < READERS; i++) {
		readers[i] = (struct reader){ .c = &c, .lo = 0, .hi = SZ_1M + SZ_256K, .id = i,
					      .touch_accessed = true };
		conc_spawn(&ts, reader_thread, &readers[i]);
	}
	conc_wait(&c, &ts, conc_ms(2500));
	print_message("# stress: %lu writer steps, %lu reads\n", c.writes, c.reads);
	/* Enough happened for the test to mean something. */
	if (!c.errors) {
		assert_true(c.writes > 1000);
		assert_true(c.reads > 1000);
	}
	conc_fini(&c);
}
