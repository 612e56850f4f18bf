// SPDX-License-Identifier: LGPL-2.1-or-later
/* Helpers shared by the pt test suites (see pt_test.h). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "pt_test.h"

void pt_test_check(struct pt_table *t, const char *file, int line)
{
	char msg[512] = "";
	int ret = pt_check(t, msg, sizeof(msg));

	if (ret) {
		print_error("pt_check() = %d: %s\n", ret, msg);
		_fail(file, line);
	}
}

struct pt_table *pt_test_create(const struct pt_format *fmt, enum pt_reclaim reclaim)
{
	struct pt_config cfg = { .reclaim = reclaim, .numa_node = -1 };
	struct pt_table *t = NULL;

	assert_int_equal(pt_table_create(fmt, &cfg, &t), 0);
	assert_non_null(t);
	assert_pt_check(t);
	return t;
}

pt_entry_t pt_test_sw_bit(const struct pt_format *fmt, unsigned int n)
{
	pt_entry_t sw = fmt->sw;

	while (sw) {
		pt_entry_t bit = sw & -sw;

		if (!n--)
			return bit;
		sw &= ~bit;
	}
	return 0;
}

pt_entry_t pt_test_caller_bits(const struct pt_format *fmt)
{
	return fmt->valid | fmt->write | fmt->dirty | fmt->accessed | fmt->sw;
}

pt_entry_t pt_test_strip(const struct pt_format *fmt, pt_entry_t e)
{
	return e & ~(fmt->leaf | fmt->contig);
}

unsigned int pt_test_leaf_lg2(struct pt_table *t, pt_entry_t e, unsigned int level)
{
	const struct pt_format *fmt = pt_table_format(t);
	unsigned int lg2 = pt_table_geometry(t)->shift[level];

	if (fmt->contig && (e & fmt->contig))
		lg2 += fmt->contig_shift[level];
	return lg2;
}

uint64_t pt_test_frame(struct pt_table *t, pt_entry_t e, unsigned int level, uint64_t va)
{
	const struct pt_format *fmt = pt_table_format(t);
	uint64_t span = UINT64_C(1) << pt_test_leaf_lg2(t, e, level);

	return pt_entry_pfn(fmt, e) + ((va & (span - 1)) >> fmt->page_shift);
}

void pt_test_stats_settled(struct pt_table *t, struct pt_stats *st)
{
	hmmsim_barrier();
	pt_table_stats(t, st);
}

uint64_t pt_test_dirs(const struct pt_stats *st)
{
	uint64_t n = 0;

	for (int i = 0; i < PT_MAX_LEVELS; i++)
		n += st->dirs[i];
	return n;
}

static void dump_push(struct pt_dump *d, const struct pt_rec *r)
{
	if (d->n == d->cap) {
		d->cap = d->cap ? 2 * d->cap : 64;
		d->rec = realloc(d->rec, d->cap * sizeof(*d->rec));
		assert_non_null(d->rec);
	}
	d->rec[d->n++] = *r;
}

static int dump_leaf(void *arg, uint64_t va, uint64_t size, pt_entry_t entry, unsigned int level)
{
	struct pt_rec r = { .va = va, .size = size, .entry = entry, .level = level };

	dump_push(arg, &r);
	return 0;
}

static int dump_hole(void *arg, uint64_t va, uint64_t size, unsigned int level)
{
	struct pt_rec r = { .va = va, .size = size, .level = level, .hole = true };

	dump_push(arg, &r);
	return 0;
}

int pt_dump_walk(struct pt_table *t, uint64_t va, uint64_t size, struct pt_dump *d)
{
	static const struct pt_walk_ops ops = { .leaf = dump_leaf, .hole = dump_hole };
	int ret;

	hmmsim_read_lock();
	ret = pt_walk(t, va, size, &ops, d);
	hmmsim_read_unlock();
	return ret;
}

int pt_dump_iter(struct pt_table *t, uint64_t va, uint64_t size, struct pt_dump *d)
{
	struct pt_iter it;
	int ret;

	hmmsim_read_lock();
	ret = pt_iter_start(&it, t, va, size);
	if (!ret) {
		while (pt_iter_next(&it)) {
			struct pt_rec r = {
				.va = it.va, .size = it.size, .entry = it.entry, .level = it.level,
			};

			dump_push(d, &r);
		}
	}
	hmmsim_read_unlock();
	return ret;
}

void pt_dump_leaves(const struct pt_dump *src, struct pt_dump *dst)
{
	for (size_t i = 0; i < src->n; i++)
		if (!src->rec[i].hole)
			dump_push(dst, &src->rec[i]);
}

void pt_dump_reset(struct pt_dump *d)
{
	d->n = 0;
}

void pt_dump_fini(struct pt_dump *d)
{
	free(d->rec);
	memset(d, 0, sizeof(*d));
}

bool pt_dump_equal(const struct pt_dump *a, const struct pt_dump *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++) {
		const struct pt_rec *x = &a->rec[i], *y = &b->rec[i];

		if (x->va != y->va || x->size != y->size || x->level != y->level ||
		    x->hole != y->hole || (!x->hole && x->entry != y->entry))
			return false;
	}
	return true;
}

void pt_dump_print(const struct pt_dump *d, const char *what)
{
	print_message("# %s: %zu records\n", what, d->n);
	for (size_t i = 0; i < d->n && i < 200; i++) {
		const struct pt_rec *r = &d->rec[i];

		if (r->hole)
			print_message("#   %#14" PRIx64 " +%#12" PRIx64 " L%u hole\n", r->va,
				      r->size, r->level);
		else
			print_message("#   %#14" PRIx64 " +%#12" PRIx64 " L%u %#018" PRIx64 "\n",
				      r->va, r->size, r->level, r->entry);
	}
	if (d->n > 200)
		print_message("#   ...\n");
}

void pt_dump_check_tiles(const struct pt_dump *d, uint64_t va, uint64_t size, const char *file,
			 int line)
{
	uint64_t at = va;

	for (size_t i = 0; i < d->n; i++) {
		if (d->rec[i].va != at || !d->rec[i].size) {
			print_error("record %zu at %#" PRIx64 " size %#" PRIx64
				    ", expected %#" PRIx64 "\n",
				    i, d->rec[i].va, d->rec[i].size, at);
			pt_dump_print(d, "walk");
			_fail(file, line);
		}
		at += d->rec[i].size;
	}
	if (at != va + size) {
		print_error("walk ends at %#" PRIx64 ", expected %#" PRIx64 "\n", at, va + size);
		pt_dump_print(d, "walk");
		_fail(file, line);
	}
}

void pt_dump_check_equal(const struct pt_dump *a, const struct pt_dump *b, const char *file,
			 int line)
{
	if (pt_dump_equal(a, b))
		return;
	print_error("dumps differ\n");
	pt_dump_print(a, "expected");
	pt_dump_print(b, "actual");
	_fail(file, line);
}

void pt_dump_needed_dirs(struct pt_table *t, const struct pt_dump *d,
			 uint64_t dirs[PT_MAX_LEVELS])
{
	const struct pt_geometry *geo = pt_table_geometry(t);
	unsigned int top = geo->levels - 1;
	uint64_t last[PT_MAX_LEVELS];

	memset(dirs, 0, PT_MAX_LEVELS * sizeof(*dirs));
	dirs[top] = 1;
	/* A directory of level k < top is named by the span of its parent entry. */
	for (unsigned int k = 0; k < top; k++)
		last[k] = UINT64_MAX;
	for (size_t i = 0; i < d->n; i++) {
		const struct pt_rec *r = &d->rec[i];

		if (r->hole)
			continue;
		for (unsigned int k = r->level; k < top; k++) {
			uint64_t id = r->va >> geo->shift[k + 1];

			if (id != last[k]) {
				last[k] = id;
				dirs[k]++;
			}
		}
	}
}
