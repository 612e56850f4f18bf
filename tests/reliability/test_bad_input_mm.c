// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Bad input to the mm API (docs/bad-input.md, section mm): the rows that
 * tests/mm does not check, or checks accepting any error. Each refused call
 * must return its errno and leave the process as it was: mm_dump() of every
 * region, mm_get_stats(), the VMA list (find_vma), the system's pool and
 * hugetlb counters, and the checkers (mm_check, mm_system_check).
 *
 * Run with the argument "known" for the cases where the library does not
 * yet do what its header says (docs/bad-input.md, "Discrepancies"): they
 * fail, and are not part of the meson suite.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "mm_test.h"

#define RW	(MM_PROT_READ | MM_PROT_WRITE)
#define ANON	(MM_MAP_PRIVATE | MM_MAP_ANONYMOUS)
#define ALL	(UINT64_MAX & ~(SZ_4K - 1))

/*
 * One process with a region of each kind, populated, and the picture of
 * each region a refused call must leave alone.
 */
struct world {
	struct mm_struct *mm;
	uint64_t t;		/* 4 MiB anon THP: a PMD, then one 4K page */
	uint64_t h;		/* 4 MiB of 2 MiB hugetlb, the first page faulted */
	uint64_t g;		/* 16 KiB anon with a hole at page 1 */
	uint64_t s;		/* 16 KiB shared anon */
	uint64_t f;		/* 16 KiB of a shared file */
	struct phys_file *file;
	struct { uint64_t start, len; struct mt_snap snap; } r[5];
	int failures;
};

static void world_snap(struct world *w)
{
	for (unsigned int i = 0; i < 5; i++)
		mt_snap_take(w->mm, w->r[i].start, w->r[i].start + w->r[i].len, &w->r[i].snap);
}

static void world_free_snaps(struct world *w)
{
	for (unsigned int i = 0; i < 5; i++)
		mt_snap_free(&w->r[i].snap);
}

static void world_init(struct world *w)
{
	struct mm_system_config cfg = { .hugetlb_2m = 4 };

	memset(w, 0, sizeof(*w));
	mt_setup(&cfg);
	w->mm = mt_proc(NULL);
	w->t = mt_anon_thp(w->mm, SZ_4M);
	mt_memset(w->mm, w->t, 0x10, SZ_2M);
	mt_memset(w->mm, w->t + SZ_2M + SZ_4K, 0x11, SZ_4K);
	w->h = mt_hugetlb(w->mm, SZ_4M, 21);
	mt_memset(w->mm, w->h, 0x12, SZ_4K);
	w->g = mt_anon(w->mm, SZ_16K);
	mt_memset(w->mm, w->g, 0x13, SZ_16K);
	assert_int_equal(mm_munmap(w->mm, w->g + SZ_4K, SZ_4K), 0);
	w->s = mt_mmap(w->mm, SZ_16K, RW, MM_MAP_SHARED | MM_MAP_ANONYMOUS, 0, 0);
	mt_memset(w->mm, w->s, 0x14, SZ_8K);
	assert_int_equal(phys_file_create(mt_pool(), SZ_64K, &w->file), 0);
	{
		struct mm_mmap_args a = {
			.len = SZ_16K, .prot = RW, .flags = MM_MAP_SHARED, .file = w->file,
		};

		assert_int_equal(mm_mmap(w->mm, &a, &w->f), 0);
	}
	mt_memset(w->mm, w->f, 0x15, SZ_4K);
	assert_mm_ok();
	w->r[0].start = w->t;
	w->r[0].len = SZ_4M;
	w->r[1].start = w->h;
	w->r[1].len = SZ_4M;
	w->r[2].start = w->g;
	w->r[2].len = SZ_16K;
	w->r[3].start = w->s;
	w->r[3].len = SZ_16K;
	w->r[4].start = w->f;
	w->r[4].len = SZ_16K;
	world_snap(w);
}

static void world_fini(struct world *w)
{
	world_free_snaps(w);
	phys_file_put(w->file);
	assert_int_equal(w->failures, 0);
	mt_teardown();
}

/*
 * A refused call: @ret must be @expect, the checkers must pass and every
 * region's picture must be as before. A failure is counted and reported
 * with its line, and the pictures taken again, so one case hides no other.
 */
static void bad_check(struct world *w, long ret, long expect, const char *what, int line)
{
	bool changed = false;

	mt_check_at(__FILE__, line);
	if (ret != expect) {
		print_error("line %d: %s = %ld, expected %ld\n", line, what, ret, expect);
		w->failures++;
	}
	for (unsigned int i = 0; i < 5; i++)
		changed |= mt_snap_differs(w->mm, w->r[i].start, w->r[i].start + w->r[i].len,
					   &w->r[i].snap);
	if (changed) {
		print_error("line %d: %s = %ld but changed the state\n", line, what, ret);
		w->failures++;
		world_free_snaps(w);
		world_snap(w);
	}
}

#define BAD(call, expect) bad_check(&w, (long)(call), (expect), #call, __LINE__)

/* The system and process objects: NULL, and configurations nothing can build. */
static void test_system_and_process(void **state)
{
	struct mm_system_config cfg = { .ram = UINT64_C(1) << 52 };
	struct mm_system *sys = NULL;
	struct mm_struct *child = NULL, *mm2 = NULL;
	struct world w;
	char msg[64];

	(void)state;
	assert_int_equal(mm_system_create(NULL, NULL), -EINVAL);
	/* 2^40 frames: past what a machine's frame numbers can hold. */
	assert_int_equal(mm_system_create(&cfg, &sys), -EINVAL);
	assert_null(sys);
	assert_int_equal(mm_system_destroy(NULL), -EINVAL);
	assert_int_equal(mm_system_check(NULL, msg, sizeof(msg)), -EINVAL);
	assert_null(mm_profile_find(NULL));
	assert_null(mmu_notifier_event_name((enum mmu_notifier_event)99));
	assert_null(mmu_notifier_event_name((enum mmu_notifier_event)-1));

	world_init(&w);
	BAD(mm_create(NULL, NULL, &mm2), -EINVAL);
	BAD(mm_create(mt.sys, NULL, NULL), -EINVAL);
	BAD(mm_fork(NULL, &child), -EINVAL);
	BAD(mm_fork(w.mm, NULL), -EINVAL);
	assert_null(mm2);
	assert_null(child);
	/* Still only one process: the system goes away at teardown. */
	world_fini(&w);
}

/* mmap: NULLs, flag combinations, placements and lengths tests/mm leaves open. */
static void test_mmap(void **state)
{
	struct mm_mmap_args args;
	struct world w;
	uint64_t out = 0;

	(void)state;
	world_init(&w);
#define ARGS(l, p, f) (args = (struct mm_mmap_args){ .len = (l), .prot = (p), .flags = (f) }, &args)
	BAD(mm_mmap(NULL, ARGS(SZ_4K, RW, ANON), &out), -EINVAL);
	BAD(mm_mmap(w.mm, NULL, &out), -EINVAL);
	BAD(mm_mmap(w.mm, ARGS(SZ_4K, RW, ANON), NULL), -EINVAL);
	/* A huge page size without MAP_HUGETLB; MAP_HUGETLB of a file. */
	BAD(mm_mmap(w.mm, ARGS(SZ_2M, RW, ANON | MM_MAP_HUGE_2MB), &out), -EINVAL);
	BAD(mm_mmap(w.mm, ARGS(SZ_2M, RW, ANON | MM_MAP_HUGETLB), &out), -EINVAL);
	args = (struct mm_mmap_args){ .len = SZ_2M, .prot = RW, .file = w.file,
				      .flags = MM_MAP_SHARED | MM_MAP_HUGETLB | MM_MAP_HUGE_2MB };
	BAD(mm_mmap(w.mm, &args, &out), -EINVAL);
	/* A file mapping without a file. */
	BAD(mm_mmap(w.mm, ARGS(SZ_4K, RW, MM_MAP_SHARED), &out), -EINVAL);
	/* hugetlb placed at an alignment below its page size. */
	args = (struct mm_mmap_args){ .len = SZ_2M, .prot = RW,
				      .flags = ANON | MM_MAP_HUGETLB | MM_MAP_HUGE_2MB,
				      .align = SZ_1M };
	BAD(mm_mmap(w.mm, &args, &out), -EINVAL);
	/* Lengths past the address space, or that wrap when rounded up (tests/mm: any error). */
	BAD(mm_mmap(w.mm, ARGS(ALL, RW, ANON), &out), -ENOMEM);
	BAD(mm_mmap(w.mm, ARGS(UINT64_MAX, RW, ANON), &out), -ENOMEM);
	BAD(mm_mmap(w.mm, ARGS(MM_TASK_SIZE + SZ_4K, RW, ANON), &out), -ENOMEM);
	/* MAP_FIXED past the end of user space (tests/mm: any error). */
	args = (struct mm_mmap_args){ .len = SZ_8K, .prot = RW, .flags = ANON | MM_MAP_FIXED,
				      .addr = MM_TASK_SIZE - SZ_4K };
	BAD(mm_mmap(w.mm, &args, &out), -EINVAL);
	/* A 1 GiB hugetlb page at a 2 MiB-aligned fixed address (tests/mm: any error). */
	args = (struct mm_mmap_args){ .len = SZ_1G, .prot = RW,
				      .flags = ANON | MM_MAP_HUGETLB | MM_MAP_HUGE_1GB |
					       MM_MAP_FIXED,
				      .addr = SZ_1G * 64 + SZ_2M };
	BAD(mm_mmap(w.mm, &args, &out), -EINVAL);
#undef ARGS
	assert_int_equal(out, 0);
	world_fini(&w);
}

/* munmap, mprotect, madvise: NULL, empty and out-of-space ranges; MADV_FREE of shared memory. */
static void test_ranges(void **state)
{
	struct world w;

	(void)state;
	world_init(&w);
	BAD(mm_munmap(NULL, w.g, SZ_4K), -EINVAL);
	BAD(mm_munmap(w.mm, ALL, SZ_8K), -EINVAL);		/* tests/mm: any error */
	BAD(mm_munmap(w.mm, w.t, ALL), -EINVAL);		/* tests/mm: any error */

	BAD(mm_mprotect(NULL, w.g, SZ_4K, MM_PROT_READ), -EINVAL);
	BAD(mm_mprotect(w.mm, w.g, 0, MM_PROT_READ), -EINVAL);
	BAD(mm_mprotect(w.mm, w.t, ALL, MM_PROT_READ), -EINVAL);	/* tests/mm: any error */
	BAD(mm_mprotect(w.mm, MM_TASK_SIZE - SZ_4K, SZ_8K, MM_PROT_READ), -EINVAL);
	BAD(mm_mprotect(w.mm, MM_TASK_SIZE, SZ_4K, MM_PROT_NONE), -EINVAL);

	BAD(mm_madvise(NULL, w.g, SZ_4K, MM_MADV_DONTNEED), -EINVAL);
	BAD(mm_madvise(w.mm, w.g, 0, MM_MADV_DONTNEED), -EINVAL);
	BAD(mm_madvise(w.mm, w.t, ALL, MM_MADV_DONTNEED), -EINVAL);	/* tests/mm: any error */
	BAD(mm_madvise(w.mm, MM_TASK_SIZE, SZ_4K, MM_MADV_FREE), -EINVAL);
	/* MADV_FREE is for private anonymous memory only, as in Linux: not hugetlb either. */
	BAD(mm_madvise(w.mm, w.s, SZ_16K, MM_MADV_FREE), -EINVAL);
	BAD(mm_madvise(w.mm, w.f, SZ_4K, MM_MADV_FREE), -EINVAL);
	BAD(mm_madvise(w.mm, w.h, SZ_4M, MM_MADV_FREE), -EINVAL);
	BAD(mm_madvise(w.mm, w.h + SZ_2M, SZ_2M, MM_MADV_FREE), -EINVAL);
	/* MADV_DONTNEED of a hugetlb VMA from inside a huge page. */
	BAD(mm_madvise(w.mm, w.h + SZ_1M, SZ_1M, MM_MADV_DONTNEED), -EINVAL);
	BAD(mm_madvise(w.mm, w.h + SZ_4K, SZ_4M - SZ_4K, MM_MADV_DONTNEED), -EINVAL);
	/* Its end is rounded down: part of one huge page is nothing (0, no change). */
	BAD(mm_madvise(w.mm, w.h, SZ_1M, MM_MADV_DONTNEED), 0);
	world_fini(&w);
}

/* mremap: NULLs, empty lengths, alignments a hugetlb VMA cannot take. */
static void test_mremap(void **state)
{
	struct world w;
	uint64_t out = 0;

	(void)state;
	world_init(&w);
	BAD(mm_mremap(NULL, w.g, SZ_16K, 0, 0, 0, 0, &out), -EINVAL);
	BAD(mm_mremap(w.mm, w.s, SZ_16K, 0, 0, 0, 0, NULL), -EINVAL);
	BAD(mm_mremap(w.mm, w.s, 0, 0, 0, 0, 0, &out), -EINVAL);
	/* A range that starts inside a VMA (tests/mm: any error). */
	BAD(mm_mremap(w.mm, w.t + SZ_4K, SZ_4M - SZ_4K, 0, 0, 0, 0, &out), -EFAULT);
	/* A fixed destination past user space (tests/mm: any error). */
	BAD(mm_mremap(w.mm, w.t, SZ_4M, MM_MAP_FIXED, MM_TASK_SIZE - SZ_2M, 0, 0, &out), -EINVAL);
	/* hugetlb: placement aligned below the huge page, or offset inside one. */
	BAD(mm_mremap(w.mm, w.h, SZ_4M, 0, 0, SZ_4K, 0, &out), -EINVAL);
	BAD(mm_mremap(w.mm, w.h, SZ_4M, 0, 0, SZ_1M, 0, &out), -EINVAL);
	BAD(mm_mremap(w.mm, w.h, SZ_4M, MM_MAP_FIXED, w.h + SZ_1G + SZ_4K, 0, 0, &out), -EINVAL);
	/* The whole of a shared file mapping, to an overlapping fixed place. */
	BAD(mm_mremap(w.mm, w.f, SZ_16K, MM_MAP_FIXED, w.f + SZ_8K, 0, 0, &out), -EINVAL);
	assert_int_equal(out, 0);
	world_fini(&w);
}

/* CPU access, the fault handler, the walker and the dump: NULLs and impossible ranges. */
static void test_access_walk_dump(void **state)
{
	static const struct mm_walk_ops none;
	struct world w;
	uint64_t sum = 77;
	char buf[64];

	(void)state;
	world_init(&w);
	/* Access with no buffer, no mm, or a range that wraps (documented: -EINVAL). */
	BAD(mm_read(w.mm, w.g, NULL, 1), -EINVAL);
	BAD(mm_write(w.mm, w.g, NULL, 1), -EINVAL);
	BAD(mm_read_sum(w.mm, w.g, SZ_4K, NULL), -EINVAL);
	BAD(mm_read(NULL, w.g, buf, 1), -EINVAL);
	BAD(mm_memset(NULL, w.g, 1, 1), -EINVAL);
	BAD(mm_memset(w.mm, UINT64_MAX - 10, 1, 20), -EINVAL);
	BAD(mm_read_sum(w.mm, w.g, UINT64_MAX, &sum), -EINVAL);
	/* A zero-length access is no access, even at an unmapped address. */
	BAD(mm_read(w.mm, 0, NULL, 0), 0);
	BAD(mm_memset(w.mm, w.g + SZ_4K, 1, 0), 0);

	mmap_read_lock(w.mm);
	{
		int r1 = handle_mm_fault(NULL, w.g, 0);
		int r2 = walk_page_range(w.mm, w.g, w.g + SZ_16K, NULL, NULL);
		int r3 = walk_page_range(NULL, w.g, w.g + SZ_16K, &none, NULL);
		int r4 = walk_page_range(w.mm, MM_TASK_SIZE - SZ_4K, MM_TASK_SIZE + SZ_4K, &none,
					 NULL);

		mmap_read_unlock(w.mm);
		BAD(r1, -EINVAL);
		BAD(r2, -EINVAL);
		BAD(r3, -EINVAL);
		BAD(r4, -EINVAL);
	}

	memset(buf, 'x', sizeof(buf));
	BAD(mm_dump(NULL, w.g, SZ_4K, buf, sizeof(buf)), -EINVAL);
	BAD(mm_dump(w.mm, w.g, 0, buf, sizeof(buf)), -EINVAL);
	BAD(mm_dump(w.mm, w.g, SZ_4K + 1, buf, sizeof(buf)), -EINVAL);
	BAD(mm_dump(w.mm, w.g, SZ_4K, NULL, 16), -EINVAL);
	BAD(mm_dump(w.mm, MM_TASK_SIZE - SZ_4K, SZ_8K, buf, sizeof(buf)), -EINVAL);
	BAD(mm_dump(w.mm, ALL, SZ_8K, buf, sizeof(buf)), -EINVAL);
	/* A refused dump leaves the caller's buffer alone. */
	for (size_t i = 0; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 'x');
	/* NULL and 0 is the snprintf-style length query. */
	assert_true(mm_dump(w.mm, w.g, SZ_16K, NULL, 0) > 0);
	world_fini(&w);
}

/* mmu_notifier_register/unregister: NULLs. */
struct counter {
	struct mmu_notifier mn;
	unsigned int starts;
};

static void count_start(struct mmu_notifier *sub, const struct mmu_notifier_range *range)
{
	(void)range;
	((struct counter *)sub)->starts++;
}

static const struct mmu_notifier_ops count_ops = { .invalidate_range_start = count_start };

static void test_notifier(void **state)
{
	struct counter c = { .mn = { .ops = &count_ops } };
	struct world w;

	(void)state;
	world_init(&w);
	BAD(mmu_notifier_register(NULL, w.mm), -EINVAL);
	BAD(mmu_notifier_register(&c.mn, NULL), -EINVAL);
	BAD(mmu_notifier_unregister(NULL, w.mm), -EINVAL);
	BAD(mmu_notifier_unregister(&c.mn, NULL), -EINVAL);
	/* Never registered: nothing to remove. */
	BAD(mmu_notifier_unregister(&c.mn, w.mm), -EINVAL);
	assert_null(c.mn.mm);
	/* Nothing was registered by the refused calls: a change notifies nobody. */
	assert_int_equal(mm_madvise(w.mm, w.g, SZ_4K, MM_MADV_DONTNEED), 0);
	assert_int_equal(c.starts, 0);
	world_free_snaps(&w);
	world_snap(&w);
	world_fini(&w);
}

/* ---------------------------------------------------------------------- */
/* Known discrepancies: not in the meson suite; run with "known".          */
/* ---------------------------------------------------------------------- */

/*
 * mmu_notifier_register() of a subscriber already subscribed to another mm
 * (header: -EINVAL, "already subscribed") returns 0, moves it, and cuts
 * the first mm's list after it.
 */
static void known_notifier_two_mms(void **state)
{
	struct counter a1 = { .mn = { .ops = &count_ops } }, c = { .mn = { .ops = &count_ops } };
	struct mm_struct *other;
	struct world w;

	(void)state;
	world_init(&w);
	other = mt_proc(NULL);
	assert_int_equal(mmu_notifier_register(&a1.mn, w.mm), 0);
	assert_int_equal(mmu_notifier_register(&c.mn, w.mm), 0);
	BAD(mmu_notifier_register(&c.mn, other), -EINVAL);
	/* Both subscribers of w.mm still hear of its changes. */
	assert_int_equal(mm_madvise(w.mm, w.g, SZ_4K, MM_MADV_DONTNEED), 0);
	assert_int_equal(c.starts, 1);
	assert_int_equal(a1.starts, 1);
	assert_int_equal(mmu_notifier_unregister(&a1.mn, w.mm), 0);
	assert_int_equal(mmu_notifier_unregister(&c.mn, w.mm), 0);
	world_free_snaps(&w);
	world_snap(&w);
	world_fini(&w);
}

/*
 * mm_mmap(MAP_FIXED | MAP_HUGETLB) that the hugetlb pool cannot serve
 * returns -ENOMEM after unmapping what was at the address.
 */
static void known_mmap_fixed_enomem(void **state)
{
	struct mm_mmap_args args;
	struct world w;
	uint64_t out = 0;

	(void)state;
	world_init(&w);
	/* Two free 2 MiB pages are left; ask for three, over the THP region. */
	args = (struct mm_mmap_args){ .len = 3 * SZ_2M, .prot = RW,
				      .flags = ANON | MM_MAP_HUGETLB | MM_MAP_HUGE_2MB |
					       MM_MAP_FIXED,
				      .addr = w.t };
	BAD(mm_mmap(w.mm, &args, &out), -ENOMEM);
	world_fini(&w);
}

/*
 * madvise over several VMAs, refused by a later one (MADV_FREE reaching
 * hugetlb or shared memory), returns -EINVAL after applying the advice to
 * the VMAs before it. (MADV_DONTNEED ending inside a huge page was the
 * first case here; its end is rounded down now, as Linux does: not refused.)
 */
static void known_madvise_partial(void **state)
{
	struct mm_mmap_args args;
	struct world w;
	uint64_t a, b;

	(void)state;
	world_init(&w);
	/* 16 KiB of anon right below the hugetlb region, populated. */
	args = (struct mm_mmap_args){ .len = SZ_16K, .prot = RW, .flags = ANON | MM_MAP_FIXED,
				      .addr = w.h - SZ_16K };
	assert_int_equal(mm_mmap(w.mm, &args, &a), 0);
	mt_memset(w.mm, a, 0x21, SZ_16K);
	/* 16 KiB of anon right below the shared region, populated. */
	args.addr = w.s - SZ_16K;
	assert_int_equal(mm_mmap(w.mm, &args, &b), 0);
	mt_memset(w.mm, b, 0x22, SZ_16K);
	w.r[2].start = a;		/* watch the two new regions with their neighbours */
	w.r[2].len = SZ_16K + SZ_4M;
	w.r[3].start = b;
	w.r[3].len = 2 * SZ_16K;
	world_free_snaps(&w);
	world_snap(&w);

	BAD(mm_madvise(w.mm, a, SZ_16K + SZ_2M, MM_MADV_FREE), -EINVAL);
	BAD(mm_madvise(w.mm, b, 2 * SZ_16K, MM_MADV_FREE), -EINVAL);
	world_fini(&w);
}

/*
 * mm_system_destroy() of a system with no process but a leaked folio
 * returns -EBUSY after destroying the hugetlb pool.
 */
static void known_system_destroy_leak(void **state)
{
	struct mm_system_config cfg = { .hugetlb_2m = 1 };
	struct phys_hugetlb_stats hs;
	struct mm_system *sys = NULL;
	struct folio *leak;

	(void)state;
	assert_int_equal(mm_system_create(&cfg, &sys), 0);
	leak = folio_alloc(mm_system_pool(sys), 0, 0);
	assert_non_null(leak);
	assert_int_equal(mm_system_destroy(sys), -EBUSY);
	assert_non_null(mm_system_hugetlb(sys));
	phys_hugetlb_stats(mm_system_hugetlb(sys), &hs);
	assert_int_equal(hs.total[0], 1);
	assert_int_equal(folio_put(leak), 1);
	assert_int_equal(mm_system_destroy(sys), 0);
}

/*
 * CPU access beyond user space: the header's "a page with no VMA" is
 * -EFAULT; the library returns -EINVAL.
 */
static void known_access_past_task(void **state)
{
	struct world w;
	char buf[8];

	(void)state;
	world_init(&w);
	BAD(mm_read(w.mm, MM_TASK_SIZE - SZ_4K, buf, SZ_8K), -EFAULT);
	BAD(mm_memset(w.mm, MM_TASK_SIZE, 1, 1), -EFAULT);
	world_fini(&w);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_system_and_process),
		cmocka_unit_test(test_mmap),
		cmocka_unit_test(test_ranges),
		cmocka_unit_test(test_mremap),
		cmocka_unit_test(test_access_walk_dump),
		cmocka_unit_test(test_notifier),
	};
	const struct CMUnitTest known[] = {
		cmocka_unit_test(known_notifier_two_mms),
		cmocka_unit_test(known_mmap_fixed_enomem),
		cmocka_unit_test(known_madvise_partial),
		cmocka_unit_test(known_system_destroy_leak),
		cmocka_unit_test(known_access_past_task),
	};
	int ret;

	hmmsim_thread_register();
	if (argc > 1 && !strcmp(argv[1], "known"))
		ret = cmocka_run_group_tests_name("bad_input_mm_known", known, NULL, NULL);
	else
		ret = cmocka_run_group_tests_name("bad_input_mm", tests, NULL, NULL);
	hmmsim_thread_unregister();
	return ret;
}
