// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * test_pt_nomem: allocation failure at every allocation point of a workload
 * (maps, partial unmaps and protects that split, explicit splits, collapses,
 * remaps), through pt_config.alloc_hook. A first run counts the N points;
 * then for each n in 1..N the workload runs again with the n-th allocation
 * failing: the operation that meets it returns -ENOMEM and leaves the table
 * exactly as it was (a walk of the whole space, the directory counters and
 * bytes), the checker passes, the operation then succeeds when retried, the
 * final table is the one of the run without failure, and nothing leaks.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "pt_test.h"

enum wop { W_MAP, W_UNMAP, W_PROTECT, W_SPLIT, W_COLLAPSE };

struct wstep {
	enum wop op;
	uint64_t va, size;
	unsigned int arg;	/* page_lg2 of a map, level of a split or collapse, unmap flags */
	uint64_t frame;
	pt_entry_t attrs;	/* attributes of a map, bits set by a protect */
	int64_t want;		/* the result without failure */
};

#define MAX_STEPS 32

struct workload {
	const struct pt_format *fmt;
	enum pt_reclaim reclaim;
	struct wstep step[MAX_STEPS];
	unsigned int n;
	/* Allocations made before each step, in the run without failure. */
	unsigned long calls[MAX_STEPS + 1];
};

static void add(struct workload *w, enum wop op, uint64_t va, uint64_t size, unsigned int arg,
		uint64_t frame, pt_entry_t attrs, int64_t want)
{
	assert_true(w->n < MAX_STEPS);
	w->step[w->n++] = (struct wstep){ op, va, size, arg, frame, attrs, want };
}

/*
 * The workload, in units of the format: S1 and S2 are the spans of level-1
 * and level-2 items (2M and 1G on x86, 16K and 64K on tiny).
 */
static void build(struct workload *w, const struct pt_format *fmt, enum pt_reclaim reclaim)
{
	struct pt_geometry geo;
	unsigned int ps = fmt->page_shift, s1, s2, top;
	uint64_t p, S1, S2, f1, f2;
	pt_entry_t a = fmt->valid | fmt->write, b = fmt->valid | fmt->dirty;

	assert_int_equal(pt_format_geometry(fmt, &geo), 0);
	memset(w, 0, sizeof(*w));
	w->fmt = fmt;
	w->reclaim = reclaim;
	top = geo.levels - 1;
	s1 = geo.shift[1];
	s2 = geo.shift[2];
	p = UINT64_C(1) << ps;
	S1 = UINT64_C(1) << s1;
	S2 = UINT64_C(1) << s2;
	f1 = S1 >> ps;
	f2 = S2 >> ps;

	/* A level-2 leaf, then a page out of it: two splits in one unmap. */
	add(w, W_MAP, 2 * S2, S2, s2, 4 * f2, a, 0);
	add(w, W_UNMAP, 2 * S2 + S1 + p, p, 0, 0, 0, p);
	/* A protect that splits another level-1 leaf of it. */
	add(w, W_PROTECT, 2 * S2 + 3 * S1 + 2 * p, p, 0, 0, fmt->dirty, 1);
	/* Small pages in an empty region: a directory per level. */
	add(w, W_MAP, 5 * S2 + p, 3 * p, ps, 0x10, a, 0);
	/* Small pages across two level-1 items: directories on both sides. */
	add(w, W_MAP, 5 * S2 + 2 * S1 - 2 * p, 4 * p, ps, 0x20, b, 0);
	/* Two level-1 leaves, split one, collapse it back, remap part of the other. */
	add(w, W_MAP, 6 * S2, 2 * S1, s1, 2 * f1, b, 0);
	add(w, W_SPLIT, 6 * S2 + p, 0, 1, 0, 0, 0);
	add(w, W_COLLAPSE, 6 * S2, 0, 1, 0, 0, 0);
	add(w, W_UNMAP, 6 * S2 + S1 + 2 * p, 2 * p, 0, 0, 0, 2 * p);
	add(w, W_MAP, 6 * S2 + S1 + 2 * p, 2 * p, ps, 0x30, a, 0);
	/* A protect and an unmap that straddle two leaves: two splits, the second may fail. */
	add(w, W_MAP, 7 * S2, 4 * S1, s1, 8 * f1, a, 0);
	add(w, W_PROTECT, 7 * S2 + S1 - p, 2 * p, 0, 0, fmt->dirty, 2);
	add(w, W_UNMAP, 7 * S2 + 3 * S1 - 2 * p, 4 * p, 0, 0, 0, 4 * p);
	/* A level-2 leaf split explicitly (one directory of leaves). */
	add(w, W_MAP, 9 * S2, S2, s2, 9 * f2, b, 0);
	add(w, W_SPLIT, 9 * S2 + S2 / 2, 0, 2, 0, 0, 0);
	/* A leaf of the highest leaf level, cut to one page less: a split at every level. */
	while (!(fmt->leaf_levels & (1u << top)))
		top--;
	if (top >= 3) {
		unsigned int sh = geo.shift[top];
		uint64_t big = UINT64_C(1) << sh;

		add(w, W_MAP, 2 * big, big, sh, 2 * (big >> ps), a, 0);
		add(w, W_UNMAP, 2 * big + big / 2 + p, p, 0, 0, 0, p);
	}
	/* A contiguous run, and a page out of it (no allocation: the run just splits). */
	if (fmt->contig) {
		unsigned int lg2 = ps + fmt->contig_shift[0];

		add(w, W_MAP, 10 * S2, 4 * p, lg2, 0x40, b, 0);
		add(w, W_UNMAP, 10 * S2 + p, p, 0, 0, 0, p);
	}
	/* The top of the space, every level from the top down. */
	add(w, W_MAP, fmt->last + 1 - 2 * p, 2 * p, ps, 0x50, a, 0);
	/* Give back a region with PT_UNMAP_FREE, then fill it again. */
	add(w, W_UNMAP, 5 * S2, S2, PT_UNMAP_FREE, 0, 0, 7 * p);
	add(w, W_MAP, 5 * S2 + S1 + p, 2 * p, ps, 0x60, b, 0);
}

struct hook_state {
	unsigned long calls;
	unsigned long fail_at;	/* 0: never */
	bool fired;
};

static int alloc_hook(void *priv, unsigned int level)
{
	struct hook_state *h = priv;

	if (++h->calls == h->fail_at) {
		h->fired = true;
		return 1;
	}
	return 0;
}

static int64_t run_step(struct pt_table *t, const struct wstep *s)
{
	const struct pt_format *fmt = pt_table_format(t);

	switch (s->op) {
	case W_MAP:
		return pt_map(t, s->va, s->size, s->arg, pt_make_entry(fmt, s->frame, s->attrs), 0);
	case W_UNMAP:
		return pt_unmap(t, s->va, s->size, s->arg);
	case W_PROTECT:
		return pt_protect(t, s->va, s->size, s->attrs, 0);
	case W_SPLIT:
		return pt_split(t, s->va, s->arg);
	default:
		return pt_collapse(t, s->va, s->arg);
	}
}

struct snap {
	struct pt_dump dump;
	struct pt_stats st;
};

static void snap_take(struct pt_table *t, struct snap *s)
{
	pt_dump_reset(&s->dump);
	assert_int_equal(pt_dump_walk(t, 0, pt_table_format(t)->last + 1, &s->dump), 0);
	pt_test_stats_settled(t, &s->st);
}

/*
 * One run of the workload with the @fail_at-th allocation failing (0:
 * none). Returns the number of allocations it asked for, and leaves the
 * final picture of the table in @final.
 */
static unsigned long run(struct workload *w, unsigned long fail_at, struct pt_dump *final)
{
	struct hook_state h = { .fail_at = fail_at };
	struct pt_config cfg = {
		.reclaim = w->reclaim, .numa_node = -1, .alloc_hook = alloc_hook, .hook_priv = &h,
	};
	struct snap before = { 0 }, after = { 0 };
	struct pt_table *t = NULL;
	struct pt_stats st;
	int ret;

	ret = pt_table_create(w->fmt, &cfg, &t);
	if (h.fired) {
		/* The top directory was the one: the table is not made. */
		assert_int_equal(ret, -ENOMEM);
		return h.calls;
	}
	assert_int_equal(ret, 0);
	for (unsigned int i = 0; i < w->n; i++) {
		const struct wstep *s = &w->step[i];
		bool fired = h.fired;
		int64_t r;

		/*
		 * Until the failure, a run asks for what the run without one did:
		 * the step that meets it is known, take the picture before it.
		 */
		if (!fail_at)
			w->calls[i] = h.calls;
		else if (!fired && fail_at > w->calls[i] && fail_at <= w->calls[i + 1])
			snap_take(t, &before);
		r = run_step(t, s);
		if (h.fired && !fired) {
			if (r != -ENOMEM)
				fail_msg("step %u: allocation %lu failed, the step returned %lld",
					 i, fail_at, (long long)r);
			assert_pt_check(t);
			snap_take(t, &after);
			assert_dump_equal(&before.dump, &after.dump);
			assert_memory_equal(before.st.dirs, after.st.dirs, sizeof(before.st.dirs));
			assert_int_equal(before.st.bytes, after.st.bytes);
			/* Nothing else stands in the way: the same step works now. */
			r = run_step(t, s);
		}
		if (r != s->want)
			fail_msg("step %u (op %d va %#" PRIx64 "): %lld, expected %lld", i, s->op,
				 s->va, (long long)r, (long long)s->want);
		assert_pt_check(t);
	}
	if (!fail_at)
		w->calls[w->n] = h.calls;
	/* Every allocation point up to N is met by some step. */
	assert_true(!fail_at || h.fired);
	pt_dump_reset(final);
	assert_int_equal(pt_dump_walk(t, 0, w->fmt->last + 1, final), 0);

	/* Free everything: the top directory alone remains, nothing is pending or lost. */
	assert_true(pt_unmap(t, 0, w->fmt->last + 1, PT_UNMAP_FREE) > 0);
	assert_pt_check(t);
	pt_test_stats_settled(t, &st);
	assert_int_equal(pt_test_dirs(&st), 1);
	assert_int_equal(st.pending, 0);
	assert_int_equal(st.allocs - st.frees, 1);
	pt_table_destroy(t);
	pt_dump_fini(&before.dump);
	pt_dump_fini(&after.dump);
	return h.calls;
}

struct ncase {
	const struct pt_format *fmt;
	enum pt_reclaim reclaim;
};

static void test_nomem(void **state)
{
	const struct ncase *c = *state;
	struct pt_dump ref = { 0 }, got = { 0 };
	struct workload w;
	unsigned long n;

	build(&w, c->fmt, c->reclaim);
	n = run(&w, 0, &ref);
	print_message("# %s %s: %u steps, %lu allocation points\n", c->fmt->name,
		      c->reclaim == PT_RECLAIM_KEEP ? "keep" : "eager", w.n, n);
	/* The workload does allocate, at every level below the top. */
	assert_true(n >= 10);
	for (unsigned long k = 1; k <= n; k++) {
		run(&w, k, &got);
		/* A table whose creation failed has no picture to compare. */
		if (k > 1)
			assert_dump_equal(&ref, &got);
	}
	pt_dump_fini(&ref);
	pt_dump_fini(&got);
}

#define NCASE(fmtp, rec)							\
	{									\
		.name = "nomem/" #fmtp "/" #rec,				\
		.test_func = test_nomem,					\
		.initial_state = &(struct ncase){ .fmt = (fmtp), .reclaim = (rec) }, \
	}

int main(void)
{
	const struct CMUnitTest tests[] = {
		NCASE(&pt_format_tiny, PT_RECLAIM_EAGER),
		NCASE(&pt_format_tiny, PT_RECLAIM_KEEP),
		NCASE(&pt_format_x86_64_4l, PT_RECLAIM_EAGER),
		NCASE(&pt_format_x86_64_4l, PT_RECLAIM_KEEP),
		NCASE(&pt_format_x86_64_5l, PT_RECLAIM_EAGER),
	};
	int ret;

	hmmsim_thread_register();
	ret = cmocka_run_group_tests_name("pt_nomem", tests, NULL, NULL);
	hmmsim_thread_unregister();
	return ret;
}
