/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Helpers shared by the gpu suites: a system, its processes and devices,
 * and the checkers every test runs after each operation (mm_system_check()
 * and gpu_check() of every device). Every helper fails the running CMocka
 * test with its caller's file and line. For the test's own thread only.
 */
#ifndef HMMSIM_TESTS_GPU_TEST_H
#define HMMSIM_TESTS_GPU_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include <hmmsim/hmmsim.h>

#define SZ_4K	(UINT64_C(1) << 12)
#define SZ_64K	(UINT64_C(1) << 16)
#define SZ_1M	(UINT64_C(1) << 20)
#define SZ_2M	(UINT64_C(1) << 21)
#define SZ_4M	(UINT64_C(1) << 22)
#define SZ_1G	(UINT64_C(1) << 30)

#define RW	(MM_PROT_READ | MM_PROT_WRITE)
#define ANON	(MM_MAP_PRIVATE | MM_MAP_ANONYMOUS)
#define SHARED_ANON (MM_MAP_SHARED | MM_MAP_ANONYMOUS)

/* test_hmm's HMM_BUFFER_SIZE: 1024 pages. */
#define HMM_BUFFER_SIZE	(1024 * SZ_4K)

#define GT_MAX_MMS	64
#define GT_MAX_DEVS	8

struct gt {
	struct mm_system *sys;
	struct mm_struct *mms[GT_MAX_MMS];
	unsigned int nr_mms;
	struct gpu_dev *devs[GT_MAX_DEVS];
	unsigned int nr_devs;
};

extern struct gt gt;

/* A system (NULL: 1 GiB, THP madvise) and, at the end, the teardown with checks. */
#define gt_setup(cfg) gt_setup_at((cfg), __FILE__, __LINE__)
void gt_setup_at(const struct mm_system_config *cfg, const char *file, int line);
#define gt_teardown() gt_teardown_at(__FILE__, __LINE__)
void gt_teardown_at(const char *file, int line);

/* A device with @cfg (NULL: defaults), destroyed by the teardown. */
#define gt_dev(cfg) gt_dev_at((cfg), __FILE__, __LINE__)
struct gpu_dev *gt_dev_at(const struct gpu_config *cfg, const char *file, int line);
/* The default config with @format. */
struct gpu_config gt_config(enum gpu_format format);

#define gt_proc() gt_proc_at(__FILE__, __LINE__)
struct mm_struct *gt_proc_at(const char *file, int line);
#define gt_fork(mm) gt_fork_at((mm), __FILE__, __LINE__)
struct mm_struct *gt_fork_at(struct mm_struct *mm, const char *file, int line);
#define gt_exit(mm) gt_exit_at((mm), __FILE__, __LINE__)
void gt_exit_at(struct mm_struct *mm, const char *file, int line);

/* The checkers: every process, the system, every device. */
#define gt_check() gt_check_at(__FILE__, __LINE__)
void gt_check_at(const char *file, int line);

#define gt_mmap(mm, len, prot, flags, align, offset) \
	gt_mmap_at((mm), (len), (prot), (flags), (align), (offset), __FILE__, __LINE__)
uint64_t gt_mmap_at(struct mm_struct *mm, uint64_t len, unsigned int prot, unsigned int flags,
		    uint64_t align, uint64_t offset, const char *file, int line);
/* Private anonymous read-write (no THP unless the mode says so). */
#define gt_anon(mm, len) gt_mmap((mm), (len), RW, ANON, 0, 0)
/* Private anonymous read-write, 2 MiB-aligned, MADV_HUGEPAGE. */
#define gt_anon_thp(mm, len) gt_anon_thp_at((mm), (len), __FILE__, __LINE__)
uint64_t gt_anon_thp_at(struct mm_struct *mm, uint64_t len, const char *file, int line);

/* Assert a return value, naming the errno. */
#define gt_ret(expr, expect) gt_ret_at((long)(expr), (long)(expect), #expr, __FILE__, __LINE__)
void gt_ret_at(long ret, long expect, const char *what, const char *file, int line);
const char *gt_errname(long e);

/* The CPU writes test_hmm's pattern (int i at index i) / checks it plus @delta. */
#define gt_fill_ints(mm, addr, len, delta) \
	gt_fill_ints_at((mm), (addr), (len), (delta), __FILE__, __LINE__)
void gt_fill_ints_at(struct mm_struct *mm, uint64_t addr, uint64_t len, int delta,
		     const char *file, int line);
/* Is @buf (len bytes) test_hmm's pattern plus @delta? */
bool gt_ints_ok(const void *buf, uint64_t len, int delta);

/* A buffer of @len bytes: int i is -i when @fill is 1, else every byte @fill. */
int *gt_buf(uint64_t len, int fill);

/* Map @f (its first @len bytes) in @mm. */
#define gt_map_file(mm, f, len, prot, flags) \
	gt_map_file_at((mm), (f), (len), (prot), (flags), __FILE__, __LINE__)
uint64_t gt_map_file_at(struct mm_struct *mm, struct phys_file *f, uint64_t len,
			unsigned int prot, unsigned int flags, const char *file, int line);

/* The device's leaf size at @va (0: none). */
unsigned int gt_dev_shift(struct gpu_dev *dev, struct mm_struct *mm, uint64_t va);

/* The snapshot of [addr, addr + len) as DESIGN.md's string (static buffer). */
const char *gt_snapshot(struct gpu_dev *dev, struct mm_struct *mm, uint64_t addr, uint64_t len);

#endif /* HMMSIM_TESTS_GPU_TEST_H */
