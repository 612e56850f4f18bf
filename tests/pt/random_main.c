// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * test_pt_random: thousands of random maps, unmaps, protects, splits,
 * collapses and bit operations, each checked against a reference model and
 * followed by pt_check() and a full comparison. On tiny (a deep tree over a
 * few pages: the whole space) and on x86-64-4l (a 2 GiB window, so that 1G,
 * 2M and 4K leaves mix), under both reclaim policies. The seed is printed;
 * HMMSIM_TEST_SEED replays it, HMMSIM_TEST_STEPS changes the length.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "random.h"

struct rcase {
	const struct pt_format *fmt;
	enum pt_reclaim reclaim;
	uint64_t base, size;	/* the window; 0, 0: the whole space */
	unsigned long steps;
	uint64_t seed;
};

static unsigned long steps_of(unsigned long def)
{
	const char *env = getenv("HMMSIM_TEST_STEPS");

	return env && *env ? strtoul(env, NULL, 0) : def;
}

static void rt_init(struct rt *rt, const struct rcase *c)
{
	const struct pt_format *fmt = c->fmt;

	memset(rt, 0, sizeof(*rt));
	rt->t = pt_test_create(fmt, c->reclaim);
	rt->fmt = fmt;
	rt->geo = pt_table_geometry(rt->t);
	rt->reclaim = c->reclaim;
	rt->ps = fmt->page_shift;
	rt->psz = UINT64_C(1) << rt->ps;
	rt->base = c->base;
	rt->size = c->size ? c->size : fmt->last + 1;
	rt->npages = rt->size >> rt->ps;
	rt->m = calloc(rt->npages, sizeof(*rt->m));
	assert_non_null(rt->m);
	for (unsigned int i = 0; i < 64; i++)
		if (rt->geo->page_sizes & (UINT64_C(1) << i))
			rt->sizes[rt->nsizes++] = i;
	rt->ad = fmt->dirty | fmt->accessed;
	rt->mut = fmt->write | rt->ad | fmt->sw;
	rt->tas_bits = rt->ad | fmt->sw;
	rt->full_lookup = rt->npages <= 4096;
	prng_seed(&rt->rng, prng_test_seed(fmt->name, c->seed));
}

/* The case's state, for the teardown to free after a failure. */
static struct rt rt;

static int teardown(void **state)
{
	if (rt.t)
		pt_table_destroy(rt.t);
	free(rt.m);
	memset(&rt, 0, sizeof(rt));
	return 0;
}

static void run_case(void **state)
{
	const struct rcase *c = *state;
	unsigned long steps = steps_of(c->steps);
	struct pt_stats st;

	rt_init(&rt, c);
	rt_log(&rt, "start");
	rt_verify(&rt);
	for (rt.op = 1; rt.op <= steps; rt.op++) {
		rt_step(&rt);
		rt_verify(&rt);
	}
	print_message("# %s %s: %lu steps (done/tried):", c->fmt->name,
		      c->reclaim == PT_RECLAIM_KEEP ? "keep" : "eager", steps);
	for (unsigned int op = 0; op < OP_NR; op++)
		print_message(" %s %lu/%lu", rt_op_name(op), rt.done[op], rt.counts[op]);
	print_message("\n");

	/* Freeing the window leaves the top directory alone, and nothing pending. */
	rt_log(&rt, "unmap the window with PT_UNMAP_FREE");
	assert_true(pt_unmap(rt.t, rt.base, rt.size, PT_UNMAP_FREE) >= 0);
	memset(rt.m, 0, rt.npages * sizeof(*rt.m));
	rt_verify(&rt);
	pt_test_stats_settled(rt.t, &st);
	assert_int_equal(pt_test_dirs(&st), 1);
	assert_int_equal(st.pending, 0);
	assert_int_equal(st.allocs - st.frees, 1);
	assert_pt_check(rt.t);
}

#define RCASE(fmtp, rec, b, s, n, sd)						\
	{									\
		.name = "random/" #fmtp "/" #rec,				\
		.test_func = run_case,						\
		.teardown_func = teardown,					\
		.initial_state = &(struct rcase){ .fmt = (fmtp), .reclaim = (rec), \
						  .base = (b), .size = (s), .steps = (n), \
						  .seed = (sd) },		\
	}

int main(void)
{
	const struct CMUnitTest tests[] = {
		RCASE(&pt_format_tiny, PT_RECLAIM_EAGER, 0, 0, 4000, 0x7101),
		RCASE(&pt_format_tiny, PT_RECLAIM_KEEP, 0, 0, 4000, 0x7102),
		RCASE(&pt_format_x86_64_4l, PT_RECLAIM_EAGER, 4 * SZ_1G, 2 * SZ_1G, 1500, 0x8601),
		RCASE(&pt_format_x86_64_4l, PT_RECLAIM_KEEP, 4 * SZ_1G, 2 * SZ_1G, 1500, 0x8602),
	};
	int ret;

	hmmsim_thread_register();
	ret = cmocka_run_group_tests_name("pt_random", tests, NULL, NULL);
	hmmsim_thread_unregister();
	return ret;
}
