// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * gpu_oracle: the correctness oracle of issue 5. A device read returns the
 * bytes a CPU read of the same address returns at that moment, and fails
 * exactly when the CPU read fails. Random interleavings of CPU and device
 * reads and writes, fork and exit, mprotect, munmap and re-mmap, madvise,
 * migration both ways, device-exclusive access, release and the
 * deferred-split shrinker, on every format and with every fault policy;
 * two devices on the process; mm_system_check() and gpu_check() after every
 * step. Replay a failure with HMMSIM_TEST_SEED=<seed>.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "gpu_test.h"
#include "prng.h"

#define NREGIONS	6
#define MAX_LEN		(64 * SZ_4K)
#define MAX_CHILDREN	2

struct region {
	uint64_t start, len;	/* as mapped (parts may be unmapped since) */
	/* 0 THP anon, 1 anon, 2 shared anon, 3 shared file, 4 private file, 5 hugetlb */
	unsigned int kind;
};

struct world {
	struct prng rng;
	struct gpu_dev *dev[2];
	struct mm_struct *mm;
	struct mm_struct *child[MAX_CHILDREN];
	struct region r[NREGIONS];
	struct phys_file *file;
	uint8_t *b1, *b2;
	unsigned long steps, reads, ok_reads;
};

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* GPU_ORACLE_VERBOSE=1: print every step (to replay a failure by hand). */
static bool verbose;

static uint64_t gpu_min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static uint64_t rnd(struct world *w, uint64_t n)
{
	return prng_below(&w->rng, n);
}

static void map_region(struct world *w, struct mm_struct *mm, unsigned int i)
{
	static const uint64_t lens[NREGIONS] = { 3 * SZ_2M, 96 * SZ_4K, 32 * SZ_4K, 32 * SZ_4K,
						 32 * SZ_4K, SZ_2M };
	struct mm_mmap_args a = { .len = lens[i], .prot = RW, .flags = ANON };
	struct region *r = &w->r[i];

	r->kind = i;
	r->len = lens[i];
	switch (i) {
	case 0:
		a.align = SZ_2M;
		break;
	case 2:
		a.flags = SHARED_ANON;
		break;
	case 3:
		a.flags = MM_MAP_SHARED;
		a.file = w->file;
		break;
	case 4:
		a.flags = MM_MAP_PRIVATE;
		a.file = w->file;
		break;
	case 5:
		a.flags = ANON | MM_MAP_HUGETLB | MM_MAP_HUGE_2MB;
		break;
	}
	gt_ret(mm_mmap(mm, &a, &r->start), 0);
	if (i == 0)
		gt_ret(mm_madvise(mm, r->start, r->len, MM_MADV_HUGEPAGE), 0);
}

/* A random page-aligned range inside region @i (maybe with a page beyond it). */
static void pick(struct world *w, unsigned int *ri, uint64_t *addr, uint64_t *len)
{
	struct region *r;
	uint64_t pages, first, n;

	*ri = (unsigned int)rnd(w, NREGIONS);
	r = &w->r[*ri];
	pages = r->len >> 12;
	first = rnd(w, pages);
	n = 1 + rnd(w, gpu_min_u64(pages - first, MAX_LEN >> 12));
	*addr = r->start + (first << 12);
	*len = n << 12;
}

/* The oracle: device and CPU agree, on the bytes and on failing. */
static void oracle(struct world *w, struct mm_struct *mm, uint64_t addr, uint64_t len)
{
	struct gpu_dev *dev = w->dev[rnd(w, 2)];
	uint64_t off = rnd(w, 64), cut = rnd(w, 64);
	int dret, cret;

	/* Unaligned ends too: the device reads bytes, not pages. */
	if (len > off + cut + 1) {
		addr += off;
		len -= off + cut;
	}
	memset(w->b1, 0xa5, len);
	memset(w->b2, 0x5a, len);
	dret = gpu_dev_read(dev, mm, addr, len, w->b1, NULL);
	cret = mm_read(mm, addr, w->b2, len);
	w->reads++;
	if (dret == -EBUSY)
		return;
	if (dret != cret) {
		uint64_t pa;
		uint8_t bb;

		for (pa = addr & ~(SZ_4K - 1); pa < addr + len; pa += SZ_4K) {
			struct gpu_mapping gm;
			char d[256];
			int e = mm_read(mm, pa < addr ? addr : pa, &bb, 1);
			int g = gpu_lookup(dev, mm, pa, &gm);

			mm_dump(mm, pa, SZ_4K, d, sizeof(d));
			print_error("  page 0x%" PRIx64 ": CPU %s %s; device %s shift %u pfn 0x%" PRIx64
				    "%s%s\n", pa, gt_errname(e), d, gt_errname(g), g ? 0 : gm.shift,
				    g ? 0 : gm.pfn, !g && gm.write ? " w" : "",
				    !g && gm.atomic ? " atomic" : "");
		}
		print_error("step %lu: device read %s, CPU read %s at 0x%" PRIx64 "+0x%" PRIx64
			    "\n", w->steps, gt_errname(dret), gt_errname(cret), addr, len);
		fail();
	}
	if (!dret) {
		w->ok_reads++;
		if (memcmp(w->b1, w->b2, len)) {
			uint64_t i;

			for (i = 0; i < len && w->b1[i] == w->b2[i]; i++)
				;
			print_error("step %lu: device read 0x%02x, CPU 0x%02x at 0x%" PRIx64 "\n",
				    w->steps, w->b1[i], w->b2[i], addr + i);
			fail();
		}
	}
}

static struct mm_struct *some_mm(struct world *w)
{
	unsigned int i = (unsigned int)rnd(w, 4);

	return i < MAX_CHILDREN && w->child[i] ? w->child[i] : w->mm;
}

static void step(struct world *w)
{
	static const unsigned int prots[] = { MM_PROT_NONE, MM_PROT_READ, RW, RW };
	static const enum mm_advice advs[] = { MM_MADV_DONTNEED, MM_MADV_FREE, MM_MADV_HUGEPAGE,
					       MM_MADV_NOHUGEPAGE };
	struct mm_struct *mm = some_mm(w);
	struct gpu_dev *dev = w->dev[rnd(w, 2)];
	uint64_t addr, len, op = rnd(w, 100);
	unsigned int ri, c;

	pick(w, &ri, &addr, &len);
	if (verbose)
		fprintf(stderr, "step %lu: op %" PRIu64 " mm %p dev %s region %u 0x%" PRIx64
			"+0x%" PRIx64 "\n", w->steps, op, (void *)mm, gpu_dev_name(dev), ri, addr,
			len);
	if (op < 25) {
		oracle(w, mm, addr, len);
	} else if (op < 40) {
		mm_memset(mm, addr, (int)rnd(w, 256), len);
	} else if (op < 55) {
		uint64_t off = rnd(w, 100), cut = rnd(w, 50);

		/* Byte ranges: a device writes parts of pages too. */
		gpu_dev_memset(dev, mm, addr + off, len > off + cut + 1 ? len - off - cut : 1,
			       (int)rnd(w, 256), NULL);
	} else if (op < 63) {
		gpu_migrate_to_dev(dev, mm, addr, len, NULL, NULL);
	} else if (op < 67) {
		gpu_migrate_to_sys(dev, mm, addr, len, NULL);
	} else if (op < 71) {
		uint64_t a;
		uint8_t b;

		/*
		 * Work around an mm bug (reported): mprotect sends no notification
		 * for device-exclusive entries, so an atomic mapping would stay
		 * writable. A CPU touch first turns them back into PTEs.
		 */
		for (a = addr; a < addr + len; a += SZ_4K)
			mm_read(mm, a, &b, 1);
		mm_mprotect(mm, addr, len, prots[rnd(w, ARRAY_SIZE(prots))]);
	} else if (op < 75) {
		mm_madvise(mm, addr, len, advs[rnd(w, ARRAY_SIZE(advs))]);
	} else if (op < 78) {
		/* Unmap a piece; sometimes the whole region, mapped again elsewhere. */
		if (mm == w->mm && rnd(w, 3) == 0) {
			mm_munmap(mm, w->r[ri].start, w->r[ri].len);
			map_region(w, mm, ri);
		} else if (mm == w->mm && ri <= 1 && !w->child[0] && !w->child[1] &&
			   rnd(w, 2) == 0) {
			uint64_t to;

			/*
			 * mremap a whole region, entries and all (THPs stay PMDs when
			 * aligned). Not while a fork child shares pages: hmm's
			 * migrate_vma looks for the child's mappings at the same
			 * address, so a shared device page could never come back
			 * (an hmm bug, reported).
			 */
			if (!mm_mremap(mm, w->r[ri].start, w->r[ri].len, 0, 0,
				       ri ? 0 : SZ_2M, 0, &to))
				w->r[ri].start = to;
		} else {
			mm_munmap(mm, addr, len);
		}
	} else if (op < 82) {
		gpu_exclusive(dev, mm, addr, gpu_min_u64(len, 4 * SZ_4K), NULL, NULL);
	} else if (op < 86) {
		for (c = 0; c < MAX_CHILDREN && w->child[c]; c++)
			;
		if (c < MAX_CHILDREN) {
			w->child[c] = gt_fork(w->mm);
		} else {
			c = (unsigned int)rnd(w, MAX_CHILDREN);
			gt_exit(w->child[c]);
			w->child[c] = NULL;
		}
	} else if (op < 88) {
		gpu_release(dev);
	} else if (op < 90) {
		mm_system_shrink(gt.sys);
	} else {
		uint32_t *flags = calloc(len >> 12, sizeof(*flags));

		gt_ret(gpu_snapshot(dev, mm, addr, len, flags, NULL), 0);
		free(flags);
		oracle(w, mm, addr, len);
	}
	gt_check();
	w->steps++;
}

static void run(enum gpu_format format, enum gpu_map_policy map, enum gpu_size_policy size,
		enum gpu_migrate_policy migrate, unsigned long steps, uint64_t seed)
{
	struct gpu_config c0 = gt_config(format), c1 = gt_config(GPU_FORMAT_GP100);
	struct world *w = calloc(1, sizeof(*w));
	unsigned int i;

	c0.map = map;
	c0.size = size;
	c0.migrate = migrate;
	c0.memory = 4 * SZ_1M;		/* small: migrations run out of device memory too */
	c1.access_bytes = 1024;
	w->b1 = malloc(MAX_LEN + SZ_4K);
	w->b2 = malloc(MAX_LEN + SZ_4K);
	prng_seed(&w->rng, seed);
	w->dev[0] = gt_dev(&c0);
	w->dev[1] = gt_dev(&c1);
	w->mm = gt_proc();
	gt_ret(phys_file_create(mm_system_pool(gt.sys), 32 * SZ_4K, &w->file), 0);
	for (i = 0; i < NREGIONS; i++)
		map_region(w, w->mm, i);
	while (w->steps < steps)
		step(w);
	for (i = 0; i < NREGIONS; i++)
		oracle(w, w->mm, w->r[i].start, gpu_min_u64(w->r[i].len, MAX_LEN));
	print_message("%s: %lu steps, %lu oracle reads, %lu succeeded\n", gpu_format_name(format),
		      w->steps, w->reads, w->ok_reads);
	assert_true(w->ok_reads > w->reads / 4);
	for (i = 0; i < MAX_CHILDREN; i++) {
		if (w->child[i])
			gt_exit(w->child[i]);
	}
	phys_file_put(w->file);
	free(w->b1);
	free(w->b2);
	free(w);
}

static int setup(void **state)
{
	struct mm_system_config sc = { .hugetlb_2m = 4 };

	gt_setup(&sc);
	return 0;
}

static int teardown(void **state)
{
	gt_teardown();
	return 0;
}

static uint64_t seed;

#define STEPS	2000

static void test_gp100_order(void **state)
{
	run(GPU_FORMAT_GP100, GPU_MAP_LARGE, GPU_SIZE_MAP_ORDER, GPU_MIGRATE_NEVER, STEPS, seed);
}

static void test_gp100_infer(void **state)
{
	run(GPU_FORMAT_GP100, GPU_MAP_LARGE, GPU_SIZE_INFER, GPU_MIGRATE_NEVER, STEPS, seed + 1);
}

static void test_x86_order(void **state)
{
	run(GPU_FORMAT_X86, GPU_MAP_LARGE, GPU_SIZE_MAP_ORDER, GPU_MIGRATE_NEVER, STEPS, seed + 2);
}

static void test_x86_first_touch(void **state)
{
	run(GPU_FORMAT_X86, GPU_MAP_LARGE, GPU_SIZE_INFER, GPU_MIGRATE_FIRST_TOUCH, STEPS,
	    seed + 3);
}

static void test_4k_page(void **state)
{
	run(GPU_FORMAT_4K, GPU_MAP_PAGE, GPU_SIZE_4K, GPU_MIGRATE_FIRST_TOUCH, STEPS, seed + 4);
}

static void test_4k_order(void **state)
{
	run(GPU_FORMAT_4K, GPU_MAP_LARGE, GPU_SIZE_MAP_ORDER, GPU_MIGRATE_NEVER, STEPS, seed + 5);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_gp100_order),
		T(test_gp100_infer),
		T(test_x86_order),
		T(test_x86_first_touch),
		T(test_4k_page),
		T(test_4k_order),
	};

	hmmsim_thread_register();
	seed = prng_test_seed("gpu_oracle", 0x6a09e667f3bcc908ull);
	verbose = getenv("GPU_ORACLE_VERBOSE") != NULL;
	return cmocka_run_group_tests_name("gpu_oracle", tests, NULL, NULL);
}
