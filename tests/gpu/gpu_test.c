// SPDX-License-Identifier: LGPL-2.1-or-later
/* Helpers shared by the gpu suites (see gpu_test.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gpu_test.h"

struct gt gt;

const char *gt_errname(long e)
{
	switch (-e) {
	case 0: return "0";
	case EINVAL: return "-EINVAL";
	case ENOMEM: return "-ENOMEM";
	case EFAULT: return "-EFAULT";
	case EPERM: return "-EPERM";
	case EBUSY: return "-EBUSY";
	case EEXIST: return "-EEXIST";
	case ENOENT: return "-ENOENT";
	case EUCLEAN: return "-EUCLEAN";
	case ERANGE: return "-ERANGE";
	case EOPNOTSUPP: return "-EOPNOTSUPP";
	default: return "?";
	}
}

void gt_ret_at(long ret, long expect, const char *what, const char *file, int line)
{
	if (ret != expect) {
		print_error("%s = %ld (%s), expected %ld (%s)\n", what, ret, gt_errname(ret),
			    expect, gt_errname(expect));
		_fail(file, line);
	}
}

void gt_setup_at(const struct mm_system_config *cfg, const char *file, int line)
{
	memset(&gt, 0, sizeof(gt));
	gt_ret_at(mm_system_create(cfg, &gt.sys), 0, "mm_system_create", file, line);
}

void gt_check_at(const char *file, int line)
{
	char msg[512];
	unsigned int i;

	if (mm_system_check(gt.sys, msg, sizeof(msg))) {
		print_error("mm_system_check: %s\n", msg);
		_fail(file, line);
	}
	for (i = 0; i < gt.nr_devs; i++) {
		if (gpu_check(gt.devs[i], msg, sizeof(msg))) {
			print_error("gpu_check: %s\n", msg);
			_fail(file, line);
		}
	}
}

void gt_teardown_at(const char *file, int line)
{
	unsigned int i;

	gt_check_at(file, line);
	/* Devices first: their memory goes back to the processes that map it. */
	for (i = gt.nr_devs; i-- > 0;)
		gt_ret_at(gpu_dev_destroy(gt.devs[i]), 0, "gpu_dev_destroy", file, line);
	gt.nr_devs = 0;
	gt_check_at(file, line);
	while (gt.nr_mms)
		gt_exit_at(gt.mms[gt.nr_mms - 1], file, line);
	gt_ret_at(mm_system_destroy(gt.sys), 0, "mm_system_destroy", file, line);
	gt.sys = NULL;
	/*
	 * Deferred frees (a removed device memory goes after a grace period)
	 * run now, for LeakSanitizer. Not under ThreadSanitizer: liburcu is not
	 * instrumented and its barrier's hand-off to the call_rcu thread shows
	 * as a race.
	 */
#ifndef __SANITIZE_THREAD__
	hmmsim_barrier();
#endif
}

struct gpu_config gt_config(enum gpu_format format)
{
	struct gpu_config cfg;

	gpu_config_init(&cfg);
	cfg.format = format;
	cfg.memory = 64 * SZ_1M;
	return cfg;
}

struct gpu_dev *gt_dev_at(const struct gpu_config *cfg, const char *file, int line)
{
	struct gpu_config def = gt_config(GPU_FORMAT_GP100);
	struct gpu_dev *dev = NULL;

	if (gt.nr_devs == GT_MAX_DEVS) {
		print_error("too many devices\n");
		_fail(file, line);
	}
	gt_ret_at(gpu_dev_create(gt.sys, cfg ? cfg : &def, &dev), 0, "gpu_dev_create", file, line);
	gt.devs[gt.nr_devs++] = dev;
	return dev;
}

static void add_mm(struct mm_struct *mm, const char *file, int line)
{
	if (gt.nr_mms == GT_MAX_MMS) {
		print_error("too many processes\n");
		_fail(file, line);
	}
	gt.mms[gt.nr_mms++] = mm;
}

struct mm_struct *gt_proc_at(const char *file, int line)
{
	struct mm_struct *mm = NULL;

	gt_ret_at(mm_create(gt.sys, NULL, &mm), 0, "mm_create", file, line);
	add_mm(mm, file, line);
	return mm;
}

struct mm_struct *gt_fork_at(struct mm_struct *mm, const char *file, int line)
{
	struct mm_struct *child = NULL;

	gt_ret_at(mm_fork(mm, &child), 0, "mm_fork", file, line);
	add_mm(child, file, line);
	gt_check_at(file, line);
	return child;
}

void gt_exit_at(struct mm_struct *mm, const char *file, int line)
{
	unsigned int i;

	for (i = 0; i < gt.nr_mms && gt.mms[i] != mm; i++)
		;
	if (i == gt.nr_mms) {
		print_error("gt_exit: unknown process\n");
		_fail(file, line);
	}
	gt.mms[i] = gt.mms[--gt.nr_mms];
	mm_exit(mm);
	gt_check_at(file, line);
}

uint64_t gt_mmap_at(struct mm_struct *mm, uint64_t len, unsigned int prot, unsigned int flags,
		    uint64_t align, uint64_t offset, const char *file, int line)
{
	struct mm_mmap_args a = { .len = len, .prot = prot, .flags = flags, .align = align,
				  .offset = offset };
	uint64_t addr = 0;

	gt_ret_at(mm_mmap(mm, &a, &addr), 0, "mm_mmap", file, line);
	return addr;
}

uint64_t gt_anon_thp_at(struct mm_struct *mm, uint64_t len, const char *file, int line)
{
	uint64_t addr = gt_mmap_at(mm, len, RW, ANON, SZ_2M, 0, file, line);

	gt_ret_at(mm_madvise(mm, addr, len, MM_MADV_HUGEPAGE), 0, "mm_madvise", file, line);
	return addr;
}

void gt_fill_ints_at(struct mm_struct *mm, uint64_t addr, uint64_t len, int delta,
		     const char *file, int line)
{
	int *v = malloc(len);
	uint64_t i;

	for (i = 0; i < len / sizeof(int); i++)
		v[i] = (int)i + delta;
	gt_ret_at(mm_write(mm, addr, v, len), 0, "mm_write", file, line);
	free(v);
}

bool gt_ints_ok(const void *buf, uint64_t len, int delta)
{
	const int *v = buf;
	uint64_t i;

	for (i = 0; i < len / sizeof(int); i++) {
		if (v[i] != (int)i + delta) {
			print_error("int %llu is %d, expected %d\n", (unsigned long long)i, v[i],
				    (int)i + delta);
			return false;
		}
	}
	return true;
}

int *gt_buf(uint64_t len, int fill)
{
	int *b = malloc(len);
	uint64_t i;

	if (fill == 1) {
		for (i = 0; i < len / sizeof(int); i++)
			b[i] = -(int)i;
	} else {
		memset(b, fill, len);
	}
	return b;
}

uint64_t gt_map_file_at(struct mm_struct *mm, struct phys_file *f, uint64_t len,
			unsigned int prot, unsigned int flags, const char *file, int line)
{
	struct mm_mmap_args args = { .len = len, .prot = prot, .flags = flags, .file = f };
	uint64_t a = 0;

	gt_ret_at(mm_mmap(mm, &args, &a), 0, "mm_mmap", file, line);
	return a;
}

unsigned int gt_dev_shift(struct gpu_dev *dev, struct mm_struct *mm, uint64_t va)
{
	struct gpu_mapping m;

	return gpu_lookup(dev, mm, va, &m) ? 0 : m.shift;
}

const char *gt_snapshot(struct gpu_dev *dev, struct mm_struct *mm, uint64_t addr, uint64_t len)
{
	static char buf[4096];
	uint32_t *flags = calloc(len >> 12, sizeof(*flags));
	struct gpu_result r;
	int err;

	err = gpu_snapshot(dev, mm, addr, len, flags, &r);
	if (err)
		snprintf(buf, sizeof(buf), "error %s", gt_errname(err));
	else
		gpu_snapshot_format(flags, len >> 12, buf, sizeof(buf));
	free(flags);
	return buf;
}
