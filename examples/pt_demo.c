// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * pt_demo: build a mirror page table on the x86-64 format, map 4K, 2M and
 * 1G pages, split and collapse a 2M leaf, walk the result and print the
 * table's statistics. The smallest complete use of the pt engine.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hmmsim/hmmsim.h>

#define SZ_4K	(UINT64_C(1) << 12)
#define SZ_2M	(UINT64_C(1) << 21)
#define SZ_1G	(UINT64_C(1) << 30)

static const char *const size_names[] = { [12] = "4K", [21] = "2M", [30] = "1G" };

struct census {
	const struct pt_table *t;
	uint64_t leaves[PT_MAX_LEVELS];
	uint64_t bytes[PT_MAX_LEVELS];
	uint64_t holes;
};

static int count_leaf(void *arg, uint64_t va, uint64_t size, pt_entry_t entry, unsigned int level)
{
	struct census *c = arg;

	c->leaves[level]++;
	c->bytes[level] += size;
	return 0;
}

static int count_hole(void *arg, uint64_t va, uint64_t size, unsigned int level)
{
	((struct census *)arg)->holes += size;
	return 0;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "pt_demo: %s: %s\n", what, strerror(-err));
	exit(1);
}

int main(void)
{
	const struct pt_format *fmt = &pt_format_x86_64_4l;
	const struct pt_walk_ops ops = { .leaf = count_leaf, .hole = count_hole };
	pt_entry_t rw = fmt->valid | fmt->write, e;
	struct census c = { 0 };
	struct pt_stats st;
	struct pt_table *t;
	unsigned int level;
	char msg[256];
	int err, l;

	hmmsim_thread_register();
	err = pt_table_create(fmt, NULL, &t);
	if (err)
		die("create", err);
	c.t = t;

	/* 16 MiB of 4K pages, 64 MiB of 2M leaves, one 1G leaf. */
	err = pt_map(t, 0x10000000, 16 << 20, 12, pt_make_entry(fmt, 0x1000, rw), 0);
	if (!err)
		err = pt_map(t, 0x40000000, 64 << 20, 21, pt_make_entry(fmt, 0x200000, rw), 0);
	if (!err)
		err = pt_map(t, 0x80000000, SZ_1G, 30, pt_make_entry(fmt, 0x400000, rw), 0);
	if (err)
		die("map", err);

	/* A 2M leaf split into 512 PTEs, one of them write-protected, then unmapped. */
	err = pt_split(t, 0x40000000, 1);
	if (!err)
		err = (int)pt_protect(t, 0x40001000, SZ_4K, 0, fmt->write) < 0 ? -EIO : 0;
	if (!err)
		err = pt_unmap(t, 0x40002000, SZ_4K, 0) < 0 ? -EIO : 0;
	/* A second one split and collapsed back. */
	if (!err)
		err = pt_split(t, 0x40200000, 1);
	if (!err)
		err = pt_collapse(t, 0x40200000, 1);
	if (err)
		die("split", err);

	hmmsim_read_lock();
	err = pt_lookup(t, 0x80123000, &e, &level);
	hmmsim_read_unlock();
	if (err)
		die("lookup", err);
	printf("lookup 0x80123000: level %u, frame 0x%" PRIx64 "\n", level,
	       pt_leaf_pfn(fmt, e, pt_leaf_shift(t, e, level), 0x80123000));

	err = pt_walk(t, 0, UINT64_C(4) << 30, &ops, &c);
	if (err)
		die("walk", err);
	for (l = 0; l < 3; l++)
		printf("leaves %-2s %6" PRIu64 " mapping %6" PRIu64 " MiB\n",
		       size_names[pt_table_geometry(t)->shift[l]], c.leaves[l], c.bytes[l] >> 20);
	printf("holes in the first 4 GiB: %" PRIu64 " MiB\n", c.holes >> 20);

	err = pt_check(t, msg, sizeof(msg));
	if (err) {
		fprintf(stderr, "pt_demo: check: %s\n", msg);
		return 1;
	}
	pt_table_stats(t, &st);
	printf("directories: PTE %" PRIu64 ", PMD %" PRIu64 ", PUD %" PRIu64 ", PGD %" PRIu64
	       "; %" PRIu64 " bytes; %" PRIu64 " allocated, %" PRIu64 " freed, %" PRIu64
	       " waiting for a grace period\n",
	       st.dirs[0], st.dirs[1], st.dirs[2], st.dirs[3], st.bytes, st.allocs, st.frees,
	       st.pending);
	pt_table_destroy(t);
	hmmsim_thread_unregister();
	return 0;
}
