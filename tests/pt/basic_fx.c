// SPDX-License-Identifier: LGPL-2.1-or-later
/* The fixture and assertions of the test_pt_basic suite (see basic.h). */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "basic.h"

int fx_setup(void **state)
{
	struct fx *fx = *state;

	fx->t = pt_test_create(fx->fmt, fx->reclaim);
	fx->geo = pt_table_geometry(fx->t);
	fx->top = fx->geo->levels - 1;
	fx->end = fx->fmt->last + 1;
	fx->sw0 = pt_test_sw_bit(fx->fmt, 0);
	fx->sw1 = pt_test_sw_bit(fx->fmt, 1);
	return 0;
}

int fx_teardown(void **state)
{
	struct fx *fx = *state;

	char msg[512] = "";
	int ret;

	/* Every case leaves a table that still passes the checker; destroy it anyway. */
	ret = pt_check(fx->t, msg, sizeof(msg));
	pt_table_destroy(fx->t);
	fx->t = NULL;
	if (ret)
		fail_msg("at teardown, pt_check() = %d: %s", ret, msg);
	return 0;
}

unsigned int fx_size_level(const struct fx *fx, unsigned int lg2, bool *contig)
{
	for (unsigned int l = 0; l < fx->geo->levels; l++) {
		if (!(fx->fmt->leaf_levels & (1u << l)))
			continue;
		if (fx->geo->shift[l] == lg2) {
			*contig = false;
			return l;
		}
		if (fx->fmt->contig_shift[l] &&
		    fx->geo->shift[l] + fx->fmt->contig_shift[l] == lg2) {
			*contig = true;
			return l;
		}
	}
	fail_msg("no level holds 2^%u pages", lg2);
	return 0;
}

pt_entry_t fx_foreign_bit(const struct fx *fx)
{
	const struct pt_format *fmt = fx->fmt;
	pt_entry_t known = pt_test_caller_bits(fmt) | fmt->leaf | fmt->contig |
			   (((UINT64_C(1) << fmt->oa_bits) - 1) << fmt->page_shift);

	for (int b = 63; b >= 0; b--)
		if (!(known & (UINT64_C(1) << b)))
			return UINT64_C(1) << b;
	return 0;
}

unsigned int fx_page_sizes(const struct fx *fx, unsigned int *lg2)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < 64; i++)
		if (fx->geo->page_sizes & (UINT64_C(1) << i))
			lg2[n++] = i;
	return n;
}

int fx_lookup(struct fx *fx, uint64_t va, pt_entry_t *e, unsigned int *level)
{
	int ret;

	hmmsim_read_lock();
	ret = pt_lookup(fx->t, va, e, level);
	hmmsim_read_unlock();
	return ret;
}

pt_entry_t fx_lookup_entry(struct fx *fx, uint64_t va)
{
	pt_entry_t e;

	hmmsim_read_lock();
	e = pt_lookup_entry(fx->t, va);
	hmmsim_read_unlock();
	return e;
}

int fx_tas(struct fx *fx, uint64_t va, pt_entry_t bits)
{
	int ret;

	hmmsim_read_lock();
	ret = pt_test_and_set_bits(fx->t, va, bits);
	hmmsim_read_unlock();
	return ret;
}

int fx_tac(struct fx *fx, uint64_t va, pt_entry_t bits)
{
	int ret;

	hmmsim_read_lock();
	ret = pt_test_and_clear_bits(fx->t, va, bits);
	hmmsim_read_unlock();
	return ret;
}

int fx_iter_count(struct fx *fx, uint64_t va, uint64_t size, unsigned int *leaves)
{
	struct pt_iter it;
	int ret;

	*leaves = 0;
	hmmsim_read_lock();
	ret = pt_iter_start(&it, fx->t, va, size);
	while (!ret && pt_iter_next(&it))
		++*leaves;
	hmmsim_read_unlock();
	return ret;
}

void fx_check_maps(struct fx *fx, uint64_t va, uint64_t frame, pt_entry_t attrs,
		   unsigned int level, const char *file, int line)
{
	const struct pt_format *fmt = fx->fmt;
	pt_entry_t e = 0;
	unsigned int got = ~0u;
	int ret = fx_lookup(fx, va, &e, &got);

	if (ret) {
		print_error("pt_lookup(%#" PRIx64 ") = %d\n", va, ret);
		_fail(file, line);
	}
	if (level != ANY_LEVEL && got != level) {
		print_error("%#" PRIx64 ": level %u, expected %u\n", va, got, level);
		_fail(file, line);
	}
	if (pt_test_frame(fx->t, e, got, va) != frame ||
	    pt_entry_attrs(fmt, pt_test_strip(fmt, e)) != attrs) {
		print_error("%#" PRIx64 ": entry %#" PRIx64 " at L%u is frame %#" PRIx64
			    " attrs %#" PRIx64 ", expected frame %#" PRIx64 " attrs %#" PRIx64 "\n",
			    va, e, got, pt_test_frame(fx->t, e, got, va),
			    pt_entry_attrs(fmt, pt_test_strip(fmt, e)), frame, attrs);
		_fail(file, line);
	}
	/* The library's own frame helpers agree with the format arithmetic. */
	if (pt_leaf_shift(fx->t, e, got) != pt_test_leaf_lg2(fx->t, e, got) ||
	    pt_leaf_pfn(fmt, e, pt_leaf_shift(fx->t, e, got), va) != frame) {
		print_error("%#" PRIx64 ": pt_leaf_shift() = %u, expected %u\n", va,
			    pt_leaf_shift(fx->t, e, got), pt_test_leaf_lg2(fx->t, e, got));
		_fail(file, line);
	}
	if (pt_entry_present(fmt, e) && got > 0 && !(e & fmt->leaf)) {
		print_error("%#" PRIx64 ": leaf %#" PRIx64 " at L%u lacks the leaf bit\n", va, e,
			    got);
		_fail(file, line);
	}
}

void fx_check_range(struct fx *fx, uint64_t va, uint64_t size, uint64_t frame, pt_entry_t attrs,
		    const char *file, int line)
{
	const struct pt_format *fmt = fx->fmt;
	struct pt_dump d = { 0 };

	if (pt_dump_walk(fx->t, va, size, &d)) {
		print_error("pt_walk failed\n");
		_fail(file, line);
	}
	pt_dump_check_tiles(&d, va, size, file, line);
	for (size_t i = 0; i < d.n; i++) {
		const struct pt_rec *r = &d.rec[i];
		uint64_t want = frame + ((r->va - va) >> fmt->page_shift);

		if (r->hole || pt_test_frame(fx->t, r->entry, r->level, r->va) != want ||
		    pt_entry_attrs(fmt, pt_test_strip(fmt, r->entry)) != attrs) {
			print_error("record %zu: expected frame %#" PRIx64 " attrs %#" PRIx64 "\n",
				    i, want, attrs);
			pt_dump_print(&d, "walk");
			pt_dump_fini(&d);
			_fail(file, line);
		}
	}
	pt_dump_fini(&d);
}

void fx_snap_take(struct fx *fx, struct fx_snap *s)
{
	memset(s, 0, sizeof(*s));
	assert_int_equal(pt_dump_walk(fx->t, 0, fx->end, &s->dump), 0);
	pt_test_stats_settled(fx->t, &s->st);
}

void fx_check_unchanged(struct fx *fx, struct fx_snap *s, const char *file, int line)
{
	struct fx_snap now;

	pt_test_check(fx->t, file, line);
	fx_snap_take(fx, &now);
	pt_dump_check_equal(&s->dump, &now.dump, file, line);
	for (int l = 0; l < PT_MAX_LEVELS; l++) {
		if (s->st.dirs[l] != now.st.dirs[l]) {
			print_error("dirs[%d] %" PRIu64 " -> %" PRIu64 "\n", l, s->st.dirs[l],
				    now.st.dirs[l]);
			_fail(file, line);
		}
	}
	if (s->st.bytes != now.st.bytes) {
		print_error("bytes %" PRIu64 " -> %" PRIu64 "\n", s->st.bytes, now.st.bytes);
		_fail(file, line);
	}
	fx_snap_fini(&now);
}

void fx_snap_fini(struct fx_snap *s)
{
	pt_dump_fini(&s->dump);
}

void fx_check_dirs_needed(struct fx *fx, const char *file, int line)
{
	uint64_t need[PT_MAX_LEVELS];
	struct pt_dump d = { 0 };
	struct pt_stats st;

	if (fx->reclaim != PT_RECLAIM_EAGER)
		return;
	assert_int_equal(pt_dump_walk(fx->t, 0, fx->end, &d), 0);
	pt_dump_needed_dirs(fx->t, &d, need);
	pt_table_stats(fx->t, &st);
	for (int l = 0; l < PT_MAX_LEVELS; l++) {
		if (st.dirs[l] != need[l]) {
			print_error("dirs[%d] = %" PRIu64 ", the leaves need %" PRIu64 "\n", l,
				    st.dirs[l], need[l]);
			pt_dump_print(&d, "table");
			pt_dump_fini(&d);
			_fail(file, line);
		}
	}
	pt_dump_fini(&d);
}
