/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The replay state shared by exec.c (processes, regions, files) and
 * exec_dev.c (the device commands). Private to the tool.
 */
#ifndef HMMSIM_CLI_EXEC_H
#define HMMSIM_CLI_EXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hmmsim/hmmsim.h>

#include "cli.h"
#include "result.h"
#include "trace.h"

struct dev_ent {
	char name[TRACE_NAME_MAX + 1];
	struct gpu_dev *dev;
};

struct region {
	char name[TRACE_NAME_MAX + 1];
	uint64_t start;
	uint64_t len;
};

struct proc {
	char name[TRACE_NAME_MAX + 1];
	struct mm_struct *mm;
	struct region *regions;
	size_t nr_regions;
};

struct file_ent {
	char name[TRACE_NAME_MAX + 1];
	struct phys_file *file;
};

struct exec {
	struct exec_config cfg;
	struct mm_system *sys;
	const struct mm_profile *profile;
	struct proc *procs;		/* in creation order, for `stats` */
	size_t nr_procs;
	struct file_ent *files;
	size_t nr_files;
	struct dev_ent *devs;		/* in creation order */
	size_t nr_devs;
	unsigned int violations;
	struct result res;		/* of the command being run */
	uint64_t rng;			/* random=N: --seed, then `set seed=` */
	/* The progress line (exec.c): on when the results go to a terminal. */
	bool progress_tty, progress_shown;
	uint64_t progress_start, progress_last;	/* ms */
};

/* Every counter of @p, as " name=value" or as a JSON object. */
void put_proc_stats(struct strbuf *sb, struct proc *p, bool json);
struct proc *proc_find(struct exec *x, const char *name);
/* P and R of the command, or NULL after a diagnostic. */
struct region *region_get(struct exec *x, struct proc **pp);
/* P, R and [OFF, OFF + LEN) as an address, or NULL after a diagnostic. */
struct region *range_get(struct exec *x, struct proc **pp, uint64_t *addr);

/*
 * The accesses of read, write, dev_read and dev_write: the whole range in
 * one step, or with random=N, N steps of one page each, drawn from the
 * range with the replay's generator (so the output is a function of the
 * trace and the seed).
 */
struct access_iter {
	uint64_t addr, len, left;
	bool random;
};

/* Start over [@addr, @addr + @len); -EINVAL after a diagnostic when random=N does not fit. */
int access_begin(struct exec *x, uint64_t addr, uint64_t len, struct access_iter *it);
/* The next step as [*@a, *@a + *@l), or false when done. */
bool access_next(struct exec *x, struct access_iter *it, uint64_t *a, uint64_t *l);

/* exec_dev.c */
struct dev_ent *dev_find(struct exec *x, const char *name);
/* Run a device command (trace_op_is_device()). */
int run_dev_cmd(struct exec *x);
/* `stats D` */
void dev_put_stats(struct exec *x, struct dev_ent *d);
/* What a bare `stats` adds: a line per device. */
void dev_stats_all(struct exec *x);
/* gpu_check() every device; the first violation, named, in @msg. */
int dev_check_all(struct exec *x, char *msg, size_t len);
/*
 * Destroy the devices that can go; returns how many are left (-EBUSY: their
 * pages are mapped by a process they do not mirror, a fork child).
 */
size_t dev_destroy_all(struct exec *x);

#endif /* HMMSIM_CLI_EXEC_H */
