// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * pt_reclaim: seed 001's question, measured. A mirror invalidates a range
 * and faults it back over and over, as migration ping-pong does: does
 * freeing empty directories at once (PT_RECLAIM_EAGER) cost more than
 * keeping them until the owner unmaps the range (PT_RECLAIM_KEEP)?
 *
 * Each round unmaps and maps back a window of 4K pages spread over several
 * leaf directories. Reported: ns per page per round, directory allocations
 * and frees per round, and the keep/eager time ratio (median of per-run
 * ratios, both measured in the same run).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hmmsim/hmmsim.h>

#include "bench.h"

#define BASE	UINT64_C(0x7f0000000000)

struct result {
	double ns_per_page;
	double allocs_per_round;
	double frees_per_round;
};

static int ping_pong(enum pt_reclaim policy, uint64_t pages, unsigned int rounds,
		     struct result *r)
{
	const struct pt_format *fmt = &pt_format_x86_64_4l;
	struct pt_config cfg = { .reclaim = policy, .numa_node = -1 };
	pt_entry_t e = pt_make_entry(fmt, 0x100000, fmt->valid | fmt->write);
	struct pt_stats before, after;
	struct pt_table *t;
	uint64_t t0, size = pages << 12;
	unsigned int i;
	int err;

	err = pt_table_create(fmt, &cfg, &t);
	if (err)
		return err;
	/* The first map allocates under either policy: not timed. */
	err = pt_map(t, BASE, size, 12, e, 0);
	pt_table_stats(t, &before);
	t0 = now_ns();
	for (i = 0; i < rounds && !err; i++) {
		if (pt_unmap(t, BASE, size, 0) != (int64_t)size)
			err = -EIO;
		else
			err = pt_map(t, BASE, size, 12, e, 0);
	}
	t0 = now_ns() - t0;
	pt_table_stats(t, &after);
	pt_table_destroy(t);
	r->ns_per_page = (double)t0 / ((double)rounds * (double)pages);
	r->allocs_per_round = (double)(after.allocs - before.allocs) / rounds;
	r->frees_per_round = (double)(after.frees - before.frees) / rounds;
	return err;
}

int main(int argc, char **argv)
{
	bool quick = argc > 1 && !strcmp(argv[1], "--quick");
	const int runs = quick ? 2 : 7;
	const uint64_t pages = quick ? 4096 : 65536;
	const unsigned int rounds = quick ? 20 : 100;
	double eager[7], keep[7], ratio[7], ea = 0, ka = 0;
	struct result re, rk;
	struct json j;
	int i;

	hmmsim_thread_register();
	for (i = 0; i < runs; i++) {
		if (ping_pong(PT_RECLAIM_EAGER, pages, rounds, &re) ||
		    ping_pong(PT_RECLAIM_KEEP, pages, rounds, &rk)) {
			fprintf(stderr, "pt_reclaim: a map or unmap failed\n");
			return 1;
		}
		eager[i] = re.ns_per_page;
		keep[i] = rk.ns_per_page;
		ratio[i] = rk.ns_per_page / re.ns_per_page;
		ea = re.allocs_per_round;
		ka = rk.allocs_per_round;
	}
	/* Keep must allocate nothing once the directories exist. */
	if (ka != 0) {
		fprintf(stderr, "pt_reclaim: keep allocated %.1f directories a round\n", ka);
		return 1;
	}
	json_begin(&j, stdout);
	json_str(&j, "benchmark", "pt_reclaim");
	json_bool(&j, "quick", quick);
	json_u64(&j, "runs", runs);
	json_u64(&j, "pages", pages);
	json_u64(&j, "rounds", rounds);
	json_obj(&j, "eager");
	json_num(&j, "ns_per_page", median(eager, runs));
	json_num(&j, "dir_allocs_per_round", ea);
	json_num(&j, "dir_frees_per_round", re.frees_per_round);
	json_close_obj(&j);
	json_obj(&j, "keep");
	json_num(&j, "ns_per_page", median(keep, runs));
	json_num(&j, "dir_allocs_per_round", ka);
	json_num(&j, "dir_frees_per_round", rk.frees_per_round);
	json_close_obj(&j);
	json_obj(&j, "ratios");
	json_obj(&j, "keep_vs_eager_time");
	json_num(&j, "median", median(ratio, runs));
	json_num(&j, "min", min_finite(ratio, runs));
	json_num(&j, "max", max_finite(ratio, runs));
	json_str(&j, "means", "time per page per unmap+map round under keep-until-unmap, "
			      "over eager freeing (below 1: keeping is cheaper)");
	json_close_obj(&j);
	json_close_obj(&j);
	json_end(&j);
	hmmsim_barrier();
	hmmsim_thread_unregister();
	return 0;
}
