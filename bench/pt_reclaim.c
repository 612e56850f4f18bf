// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * pt_reclaim: seed 001's question, measured. A mirror invalidates a range
 * and faults it back over and over, as migration ping-pong does: does
 * freeing empty directories at once (PT_RECLAIM_EAGER) cost more than
 * keeping them until the owner unmaps the range (PT_RECLAIM_KEEP)?
 *
 * Two experiments. On the engine alone, each round unmaps and maps back a
 * window of 4K pages spread over several leaf directories. Through a GPU,
 * each round is real migration ping-pong: a buffer of 4K pages migrates to
 * device memory and back, and the device reads it after each move, so its
 * mirror is invalidated and refilled twice a round. Reported for each:
 * ns per page per round, directory allocations and frees per round, and the
 * keep/eager time ratio (median of per-run ratios, both measured in the
 * same run).
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
	hmmsim_barrier();	/* the deferred frees, so that they are counted */
	pt_table_stats(t, &after);
	pt_table_destroy(t);
	r->ns_per_page = (double)t0 / ((double)rounds * (double)pages);
	r->allocs_per_round = (double)(after.allocs - before.allocs) / rounds;
	r->frees_per_round = (double)(after.frees - before.frees) / rounds;
	return err;
}

/*
 * Migration ping-pong through a GP100-like device whose table frees or
 * keeps its empty directories: @pages 4K pages of one process, @rounds
 * round trips to device memory and back, the device reading the buffer
 * after each move.
 */
static int gpu_ping_pong(enum pt_reclaim policy, uint64_t pages, unsigned int rounds,
			 struct result *r)
{
	struct mm_system_config scfg = { .ram = 4 * pages * 4096 + (256u << 20),
					 .metadata_only = true, .thp = MM_THP_NEVER };
	struct gpu_stats before, after;
	uint64_t t0 = 0, addr, len = pages << 12;
	struct gpu_config cfg;
	struct mm_system *sys;
	struct mm_struct *mm;
	struct gpu_dev *dev;
	unsigned int i;
	int err;

	err = mm_system_create(&scfg, &sys);
	if (err)
		return err;
	err = mm_create(sys, NULL, &mm);
	if (err)
		goto out_sys;
	gpu_config_init(&cfg);
	cfg.format = GPU_FORMAT_GP100;
	cfg.memory = len;
	cfg.reclaim = policy;
	err = gpu_dev_create(sys, &cfg, &dev);
	if (err)
		goto out_mm;
	err = mm_mmap(mm, &(struct mm_mmap_args){ .len = len,
						  .prot = MM_PROT_READ | MM_PROT_WRITE,
						  .flags = MM_MAP_PRIVATE | MM_MAP_ANONYMOUS },
		      &addr);
	if (!err)
		err = mm_memset(mm, addr, 1, len);
	/* The first round allocates under either policy: not timed. */
	if (!err)
		err = gpu_dev_read(dev, mm, addr, len, NULL, NULL);
	gpu_stats(dev, &before);
	t0 = now_ns();
	for (i = 0; i < rounds && !err; i++) {
		err = gpu_migrate_to_dev(dev, mm, addr, len, NULL, NULL);
		if (!err)
			err = gpu_dev_read(dev, mm, addr, len, NULL, NULL);
		if (!err)
			err = gpu_migrate_to_sys(dev, mm, addr, len, NULL);
		if (!err)
			err = gpu_dev_read(dev, mm, addr, len, NULL, NULL);
	}
	gpu_sync(dev);
	t0 = now_ns() - t0;
	gpu_stats(dev, &after);
	r->ns_per_page = (double)t0 / ((double)rounds * (double)pages);
	r->allocs_per_round = (double)(after.dir_allocs - before.dir_allocs) / rounds;
	r->frees_per_round = (double)((after.dir_allocs - after.dirs) -
				      (before.dir_allocs - before.dirs)) / rounds;
	/* The device goes first: it evicts its memory into the process. */
	if (gpu_dev_destroy(dev) && !err)
		err = -EBUSY;
out_mm:
	mm_exit(mm);
out_sys:
	if (mm_system_destroy(sys) && !err)
		err = -EBUSY;
	return err;
}

typedef int (*ping_pong_fn)(enum pt_reclaim policy, uint64_t pages, unsigned int rounds,
			    struct result *r);

#define MAX_RUNS 7

/* Both policies, @runs times, alternating: per-run times and their ratio. */
struct pair {
	double eager[MAX_RUNS], keep[MAX_RUNS], ratio[MAX_RUNS];
	struct result re, rk;
};

static int measure(ping_pong_fn fn, uint64_t pages, unsigned int rounds, int runs,
		   struct pair *p)
{
	int i, err;

	for (i = 0; i < runs; i++) {
		err = fn(PT_RECLAIM_EAGER, pages, rounds, &p->re);
		if (!err)
			err = fn(PT_RECLAIM_KEEP, pages, rounds, &p->rk);
		if (err)
			return err;
		p->eager[i] = p->re.ns_per_page;
		p->keep[i] = p->rk.ns_per_page;
		p->ratio[i] = p->rk.ns_per_page / p->re.ns_per_page;
	}
	/* Keep must allocate nothing once the directories exist. */
	if (p->rk.allocs_per_round != 0) {
		fprintf(stderr, "pt_reclaim: keep allocated %.1f directories a round\n",
			p->rk.allocs_per_round);
		return -EIO;
	}
	return 0;
}

static void print_policy(struct json *j, const char *key, const double *ns, int runs,
			 const struct result *r)
{
	json_obj(j, key);
	json_num(j, "ns_per_page", median(ns, runs));
	json_num(j, "dir_allocs_per_round", r->allocs_per_round);
	json_num(j, "dir_frees_per_round", r->frees_per_round);
	json_close_obj(j);
}

static void print_ratio(struct json *j, const char *key, const struct pair *p, int runs,
			const char *means)
{
	json_obj(j, key);
	json_num(j, "median", median(p->ratio, runs));
	json_num(j, "min", min_finite(p->ratio, runs));
	json_num(j, "max", max_finite(p->ratio, runs));
	json_str(j, "means", means);
	json_close_obj(j);
}

int main(int argc, char **argv)
{
	bool quick = argc > 1 && !strcmp(argv[1], "--quick");
	const int runs = quick ? 2 : MAX_RUNS;
	const uint64_t pages = quick ? 4096 : 65536, gpu_pages = quick ? 2048 : 16384;
	const unsigned int rounds = quick ? 20 : 100, gpu_rounds = quick ? 4 : 10;
	struct pair pt, gpu;
	struct json j;
	int err;

	hmmsim_thread_register();
	err = measure(ping_pong, pages, rounds, runs, &pt);
	if (!err)
		err = measure(gpu_ping_pong, gpu_pages, gpu_rounds, runs, &gpu);
	if (err) {
		fprintf(stderr, "pt_reclaim: %s\n", strerror(-err));
		return 1;
	}
	json_begin(&j, stdout);
	json_str(&j, "benchmark", "pt_reclaim");
	json_bool(&j, "quick", quick);
	json_u64(&j, "runs", runs);
	json_u64(&j, "pages", pages);
	json_u64(&j, "rounds", rounds);
	print_policy(&j, "eager", pt.eager, runs, &pt.re);
	print_policy(&j, "keep", pt.keep, runs, &pt.rk);
	json_obj(&j, "gpu_migration");
	json_u64(&j, "pages", gpu_pages);
	json_u64(&j, "rounds", gpu_rounds);
	json_str(&j, "round", "migrate to device, device read, migrate to system, device read");
	print_policy(&j, "eager", gpu.eager, runs, &gpu.re);
	print_policy(&j, "keep", gpu.keep, runs, &gpu.rk);
	json_close_obj(&j);
	json_obj(&j, "ratios");
	print_ratio(&j, "keep_vs_eager_time", &pt, runs,
		    "time per page per unmap+map round under keep-until-unmap, "
		    "over eager freeing (below 1: keeping is cheaper)");
	print_ratio(&j, "gpu_migration_keep_vs_eager_time", &gpu, runs,
		    "host time per page per migration round trip with the device table "
		    "keeping its directories, over freeing them (below 1: keeping is cheaper)");
	json_close_obj(&j);
	json_end(&j);
	hmmsim_barrier();
	hmmsim_thread_unregister();
	return 0;
}
