// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * fuzz_pt_api: sequences of page-table engine calls (pt_map at every page
 * size, contiguous leaves included; pt_unmap; pt_protect; pt_split;
 * pt_collapse; pt_test_and_set_bits and pt_test_and_clear_bits) against a
 * model of every page of a window of the table: unmapped, or translated to
 * a frame with attribute bits, present or special, by a leaf no larger than
 * the model's bound for it.
 *
 * The format is pt_format_tiny (mostly), x86-64 4- or 5-level, or one built
 * from the input. pt_format_geometry() of a built format must never crash:
 * it answers -EINVAL exactly when the format breaks a documented rule, and
 * otherwise a geometry that follows from the format; a valid, small one is
 * then used for a table like the built-in ones.
 *
 * Every call's result is predicted from the model (a return value, an
 * error, the bytes unmapped, the entries changed), a failed call must have
 * changed nothing, and after every step:
 *  - pt_check() is 0;
 *  - a pt_walk() of the window matches the model page by page, its leaves
 *    and holes tile the window, and no leaf is larger than the model allows;
 *  - pt_iter gives the same leaves, pt_lookup() and pt_lookup_entry() agree
 *    with them at a sample of addresses;
 *  - with PT_RECLAIM_EAGER, the table holds exactly the directories its
 *    leaves need (an emptied directory is freed at once).
 * Directory allocations can be made to fail (the table's alloc_hook) during
 * one call: it must then fail with -ENOMEM and change nothing, or succeed.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hmmsim/hmmsim.h>

#define MAX_PAGES	4096u
#define MAX_STEPS	96
#define MAX_INPUT	1024
#define LOG_LINES	(MAX_STEPS + 8)

enum { P_NONE, P_PRESENT, P_SPECIAL };

struct ppage {
	uint8_t state;
	uint8_t lg2;		/* the largest leaf that may translate it */
	pt_entry_t e;		/* its translation: frame and attributes (no leaf, contig) */
};

struct world {
	struct pt_format fmt;		/* a copy: the table keeps a pointer */
	struct pt_geometry geo;
	struct pt_table *t;
	enum pt_reclaim reclaim;
	uint64_t npages;		/* the window: [0, npages << page_shift) */
	uint64_t pfn_max;
	pt_entry_t attr_bits;		/* write | dirty | accessed | sw */
	pt_entry_t pfn_field;
	struct ppage pg[MAX_PAGES];
	/* Allocation failure: fail allocation number fail_at of this call (0: none). */
	unsigned int allocs, fail_at;
	bool fired;
	const uint8_t *in;
	size_t in_len, at;
	int step;
	char log[LOG_LINES][160];
	int nr_log;
};

static struct world W;

/*
 * Known bugs whose symptom the fuzzer can be told to avoid, so that it
 * fuzzes on past them until they are fixed: HMMSIM_FUZZ_TOLERATE=name,...
 * (README.md). By default nothing is tolerated. None is open now: a new
 * one gets a name here (before the NULL), a TOL_ bit and a README row.
 */
static const char *const tol_names[] = {
	NULL
};
static unsigned int tolerate;
/* HMMSIM_FUZZ_LOG=1: print what each input did (to read a reproducer). */
static bool print_log;

/* ------------------------------------------------------------------------ */
/* Reporting and input                                                      */
/* ------------------------------------------------------------------------ */

__attribute__((format(printf, 2, 3))) static void logf_(struct world *w, const char *fmt, ...)
{
	va_list ap;

	if (w->nr_log >= LOG_LINES)
		return;
	va_start(ap, fmt);
	vsnprintf(w->log[w->nr_log++], sizeof(w->log[0]), fmt, ap);
	va_end(ap);
}

static void print_format(const struct pt_format *f)
{
	fprintf(stderr, "format %s: last %#" PRIx64 " page_shift %u dir_shift %u oa_bits %u "
		"leaf_levels %#x contig_shift", f->name, f->last, f->page_shift, f->dir_shift,
		f->oa_bits, f->leaf_levels);
	for (int i = 0; i < PT_MAX_LEVELS; i++)
		fprintf(stderr, " %u", f->contig_shift[i]);
	fprintf(stderr, "\n  valid %#" PRIx64 " write %#" PRIx64 " dirty %#" PRIx64 " accessed %#"
		PRIx64 " leaf %#" PRIx64 " contig %#" PRIx64 " sw %#" PRIx64 "\n", f->valid,
		f->write, f->dirty, f->accessed, f->leaf, f->contig, f->sw);
}

__attribute__((format(printf, 2, 3), noreturn)) static void die(struct world *w,
								  const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fuzz_pt_api: step %d: ", w->step);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	print_format(&w->fmt);
	fprintf(stderr, "reclaim %s; operations so far:\n",
		w->reclaim == PT_RECLAIM_KEEP ? "keep" : "eager");
	for (int i = 0; i < w->nr_log; i++)
		fprintf(stderr, "  %s\n", w->log[i]);
	abort();
}

static uint8_t get8(struct world *w)
{
	return w->at < w->in_len ? w->in[w->at++] : 0;
}

static uint16_t get16(struct world *w)
{
	uint16_t lo = get8(w);

	return lo | (uint16_t)get8(w) << 8;
}

static uint64_t get64(struct world *w)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v |= (uint64_t)get8(w) << (8 * i);
	return v;
}

/* ------------------------------------------------------------------------ */
/* Formats and their geometry                                               */
/* ------------------------------------------------------------------------ */

static bool one_bit(uint64_t v)
{
	return v && !(v & (v - 1));
}

static unsigned int fls_index(uint64_t v)
{
	return 63 - __builtin_clzll(v);
}

/*
 * The documented rules a format must follow, and the ranges the engine
 * supports; when they hold, the geometry in @geo as it must be.
 */
static bool format_ok(const struct pt_format *f, struct pt_geometry *geo)
{
	const pt_entry_t one[] = { f->valid, f->write, f->dirty, f->accessed, f->leaf };
	pt_entry_t seen = f->sw, field;
	unsigned int bits, levels, top_bits, l;

	memset(geo, 0, sizeof(*geo));
	if (f->page_shift < 9 || f->page_shift > 30 || f->dir_shift < 1 || f->dir_shift > 13 ||
	    f->last >> 63 || f->last < (UINT64_C(1) << f->page_shift))
		return false;
	if (!f->oa_bits || f->page_shift + f->oa_bits > 64)
		return false;
	field = f->page_shift + f->oa_bits == 64 ? ~((UINT64_C(1) << f->page_shift) - 1) :
		((UINT64_C(1) << f->oa_bits) - 1) << f->page_shift;
	for (unsigned int i = 0; i < 5; i++) {
		if (!one_bit(one[i]) || (one[i] & seen))
			return false;
		seen |= one[i];
	}
	if (f->contig && (!one_bit(f->contig) || (f->contig & seen)))
		return false;
	seen |= f->contig;
	if (seen & field)
		return false;
	/* A table entry is a directory's address plus the valid bit. */
	if (f->valid >> f->page_shift || f->leaf >> f->page_shift)
		return false;
	bits = fls_index(f->last) + 1 - f->page_shift;
	levels = (bits + f->dir_shift - 1) / f->dir_shift;
	if (levels > PT_MAX_LEVELS)
		return false;
	top_bits = bits - (levels - 1) * f->dir_shift;
	if (!(f->leaf_levels & 1) || (f->leaf_levels >> levels) ||
	    (f->leaf_levels & (f->leaf_levels + 1)))
		return false;
	geo->levels = levels;
	for (l = 0; l < PT_MAX_LEVELS; l++) {
		unsigned int c = f->contig_shift[l];

		if (l >= levels || !(f->leaf_levels & (1u << l))) {
			if (c)
				return false;
			if (l < levels) {
				geo->shift[l] = f->page_shift + l * f->dir_shift;
				geo->entries[l] = 1u << (l == levels - 1 ? top_bits : f->dir_shift);
			}
			continue;
		}
		geo->shift[l] = f->page_shift + l * f->dir_shift;
		geo->entries[l] = 1u << (l == levels - 1 ? top_bits : f->dir_shift);
		geo->page_sizes |= UINT64_C(1) << geo->shift[l];
		if (c) {
			if (!f->contig || (UINT64_C(1) << c) >= geo->entries[l] ||
			    c >= f->dir_shift)
				return false;
			geo->page_sizes |= UINT64_C(1) << (geo->shift[l] + c);
		}
	}
	return true;
}

/* A bit position from a byte: mostly low bits, 0xff for none. */
static pt_entry_t get_bit(struct world *w)
{
	uint8_t b = get8(w);

	return b == 0xff ? 0 : UINT64_C(1) << (b & 63);
}

/* A format from the input, near a working one more often than not. */
static void build_format(struct world *w)
{
	struct pt_format *f = &w->fmt;
	uint8_t shape = get8(w), lb = get8(w), cs = get8(w);

	memset(f, 0, sizeof(*f));
	f->name = "fuzzed";
	f->page_shift = 9 + get8(w) % 24;
	f->dir_shift = 1 + get8(w) % 14;
	f->oa_bits = get8(w) % 66;
	if (shape & 1) {
		f->last = get64(w);
	} else {
		unsigned int bits = f->page_shift + lb % 48 + 1;

		f->last = bits >= 64 ? UINT64_MAX : (UINT64_C(1) << bits) - 1;
	}
	f->leaf_levels = (shape & 2) ? get16(w) : (uint16_t)((1u << (1 + lb % 8)) - 1);
	if (cs)
		f->contig_shift[(cs >> 4) % PT_MAX_LEVELS] = cs & 15;
	if (shape & 4) {
		f->valid = get_bit(w);
		f->write = get_bit(w);
		f->dirty = get_bit(w);
		f->accessed = get_bit(w);
		f->leaf = get_bit(w);
		f->contig = get_bit(w);
		f->sw = get64(w);
	} else {
		/* Tiny's bits, which work for any page shift of 9 or more. */
		f->valid = 1u << 0;
		f->write = 1u << 1;
		f->accessed = 1u << 2;
		f->dirty = 1u << 3;
		f->leaf = 1u << 4;
		f->contig = (shape & 8) ? 1u << 5 : 0;
		f->sw = (shape & 16) ? UINT64_C(0x1c0) : 0;
		if (shape & 32)
			f->sw |= UINT64_C(1) << 63;
		if (f->oa_bits + f->page_shift > 63)
			f->oa_bits = 63 - f->page_shift;
	}
}

static bool geo_equal(const struct pt_geometry *a, const struct pt_geometry *b)
{
	if (a->levels != b->levels || a->page_sizes != b->page_sizes)
		return false;
	for (unsigned int l = 0; l < a->levels; l++)
		if (a->shift[l] != b->shift[l] || a->entries[l] != b->entries[l])
			return false;
	return true;
}

/* pt_format_geometry() of @f against the rules; false when it is not to be used. */
static bool check_geometry(struct world *w, const struct pt_format *f)
{
	struct pt_geometry want, got;
	bool ok = format_ok(f, &want);
	int ret;

	memset(&got, 0xa5, sizeof(got));
	ret = pt_format_geometry(f, &got);
	if (ok != !ret)
		die(w, "pt_format_geometry = %d, the rules say %s", ret, ok ? "valid" : "invalid");
	if (!ok)
		return false;
	if (got.levels != want.levels || got.page_sizes != want.page_sizes)
		die(w, "geometry: %u levels, page sizes %#" PRIx64 "; want %u, %#" PRIx64,
		    got.levels, got.page_sizes, want.levels, want.page_sizes);
	for (unsigned int l = 0; l < want.levels; l++)
		if (got.shift[l] != want.shift[l] || got.entries[l] != want.entries[l])
			die(w, "geometry: level %u shift %u entries %u; want %u, %u", l,
			    got.shift[l], got.entries[l], want.shift[l], want.entries[l]);
	w->geo = got;
	return true;
}

/* ------------------------------------------------------------------------ */
/* The model                                                                */
/* ------------------------------------------------------------------------ */

static uint64_t va_of(struct world *w, uint64_t pg)
{
	return pg << w->fmt.page_shift;
}

static uint64_t pfn_of(struct world *w, pt_entry_t e)
{
	return pt_entry_pfn(&w->fmt, e);
}

static pt_entry_t attrs_of(struct world *w, pt_entry_t e)
{
	return pt_entry_attrs(&w->fmt, e) & ~(w->fmt.leaf | w->fmt.contig);
}

/* The level and run length of leaves of 2^lg2 bytes, or -1. */
static int level_of(struct world *w, unsigned int lg2, unsigned int *run)
{
	for (unsigned int l = 0; l < w->geo.levels; l++) {
		if (!(w->fmt.leaf_levels & (1u << l)))
			continue;
		if (w->geo.shift[l] == lg2) {
			*run = 1;
			return l;
		}
		if (w->fmt.contig_shift[l] && w->geo.shift[l] + w->fmt.contig_shift[l] == lg2) {
			*run = 1u << w->fmt.contig_shift[l];
			return l;
		}
	}
	return -1;
}

static int alloc_hook(void *priv, unsigned int level)
{
	struct world *w = priv;

	if (!w->fail_at || ++w->allocs != w->fail_at)
		return 0;
	w->fired = true;
	return 1;
}

/* Arm the failure of an allocation of the next call, or not. */
static void arm(struct world *w, uint8_t b)
{
	w->allocs = 0;
	w->fired = false;
	w->fail_at = (b & 0xc0) == 0xc0 ? 1 + (b & 7) : 0;
}

/*
 * After the call: did the armed allocation fail? Then the call must have
 * failed with -ENOMEM (and changed nothing, which the checks see).
 */
static bool disarm(struct world *w, int64_t ret, const char *what)
{
	w->fail_at = 0;
	if (!w->fired)
		return false;
	if (ret != -ENOMEM)
		die(w, "%s = %" PRId64 " when a directory allocation failed, want -ENOMEM", what,
		    ret);
	return true;
}

/* ------------------------------------------------------------------------ */
/* Checking the table against the model                                     */
/* ------------------------------------------------------------------------ */

struct seen {
	struct world *w;
	uint64_t next;		/* where the next leaf or hole must start */
	uint64_t dirs[PT_MAX_LEVELS];
	uint64_t last_key[PT_MAX_LEVELS];
	unsigned int leaves;
};

static void count_dirs(struct seen *s, uint64_t va, unsigned int level)
{
	struct world *w = s->w;

	/* The directories above a leaf at @level: one per level from it to the top's child. */
	for (unsigned int k = level; k + 1 < w->geo.levels; k++) {
		uint64_t key = (va >> w->geo.shift[k + 1]) + 1;

		if (s->last_key[k] != key) {
			s->last_key[k] = key;
			s->dirs[k]++;
		}
	}
}

static int walk_leaf(void *arg, uint64_t va, uint64_t size, pt_entry_t e, unsigned int level)
{
	struct seen *s = arg;
	struct world *w = s->w;
	unsigned int shift, ps = w->fmt.page_shift;

	if (va != s->next)
		die(w, "walk: a leaf at %#" PRIx64 ", the last ended at %#" PRIx64, va, s->next);
	if (level >= w->geo.levels || !(w->fmt.leaf_levels & (1u << level)))
		die(w, "walk: a leaf at level %u", level);
	shift = pt_leaf_shift(w->t, e, level);
	if (shift != w->geo.shift[level] && shift != w->geo.shift[level] +
	    w->fmt.contig_shift[level])
		die(w, "walk: leaf shift %u at level %u", shift, level);
	if ((va & ((UINT64_C(1) << shift) - 1)) || size != (UINT64_C(1) << shift))
		die(w, "walk: leaf %#" PRIx64 "+%#" PRIx64 " of shift %u", va, size, shift);
	for (uint64_t v = va; v < va + size; v += UINT64_C(1) << ps) {
		const struct ppage *m = &w->pg[v >> ps];
		uint64_t pfn = pt_leaf_pfn(&w->fmt, e, shift, v);

		if (m->state == P_NONE || (m->state == P_PRESENT) != pt_entry_present(&w->fmt, e))
			die(w, "walk: page %#" PRIx64 " is %s, the model says %s", v >> ps,
			    pt_entry_present(&w->fmt, e) ? "present" : "special",
			    m->state == P_NONE ? "unmapped" : m->state == P_PRESENT ? "present" :
			    "special");
		if (pfn != pfn_of(w, m->e) || attrs_of(w, e) != attrs_of(w, m->e))
			die(w, "walk: page %#" PRIx64 " maps frame %#" PRIx64 " attrs %#" PRIx64
			    ", the model %#" PRIx64 " %#" PRIx64, v >> ps, pfn, attrs_of(w, e),
			    pfn_of(w, m->e), attrs_of(w, m->e));
		if (shift > m->lg2)
			die(w, "walk: page %#" PRIx64 " is in a leaf of shift %u, the model allows "
			    "%u", v >> ps, shift, m->lg2);
	}
	count_dirs(s, va, level);
	s->leaves++;
	s->next = va + size;
	return 0;
}

static int walk_hole(void *arg, uint64_t va, uint64_t size, unsigned int level)
{
	struct seen *s = arg;
	struct world *w = s->w;
	unsigned int ps = w->fmt.page_shift;

	if (va != s->next)
		die(w, "walk: a hole at %#" PRIx64 ", the last ended at %#" PRIx64, va, s->next);
	for (uint64_t v = va; v < va + size; v += UINT64_C(1) << ps)
		if (w->pg[v >> ps].state != P_NONE)
			die(w, "walk: page %#" PRIx64 " is a hole, the model maps it", v >> ps);
	s->next = va + size;
	return 0;
}

static void check_table(struct world *w, unsigned int samples)
{
	static const struct pt_walk_ops ops = { .leaf = walk_leaf, .hole = walk_hole };
	struct seen s = { .w = w };
	uint64_t end = va_of(w, w->npages);
	struct pt_stats st;
	struct pt_iter it;
	unsigned int n = 0;
	char msg[256];
	int ret;

	msg[0] = '\0';
	if (pt_check(w->t, msg, sizeof(msg)))
		die(w, "pt_check: %s", msg);
	ret = pt_walk(w->t, 0, end, &ops, &s);
	if (ret || s.next != end)
		die(w, "pt_walk = %d, covered %#" PRIx64 " of %#" PRIx64, ret, s.next, end);
	/* The iterator gives the same leaves. */
	hmmsim_read_lock();
	if (pt_iter_start(&it, w->t, 0, end))
		die(w, "pt_iter_start failed");
	while (pt_iter_next(&it)) {
		const struct ppage *m = &w->pg[it.va >> w->fmt.page_shift];
		unsigned int shift = pt_leaf_shift(w->t, it.entry, it.level);

		n++;
		if (m->state == P_NONE || pt_leaf_pfn(&w->fmt, it.entry, shift, it.va) !=
		    pfn_of(w, m->e) || it.size != (UINT64_C(1) << shift))
			die(w, "pt_iter: leaf %#" PRIx64 "+%#" PRIx64 " level %u disagrees", it.va,
			    it.size, it.level);
	}
	/* Lookups at a sample of pages. */
	for (unsigned int k = 0; k < samples; k++) {
		uint64_t pg = (uint64_t)(k * 2654435761u + w->step * 40503u) % w->npages;
		const struct ppage *m = &w->pg[pg];
		pt_entry_t e = 0;
		unsigned int level = 99;

		ret = pt_lookup(w->t, va_of(w, pg), &e, &level);
		if (m->state == P_NONE ? ret != -ENOENT : ret != 0)
			die(w, "pt_lookup of page %#" PRIx64 " = %d", pg, ret);
		if (pt_lookup_entry(w->t, va_of(w, pg)) != (ret ? 0 : e))
			die(w, "pt_lookup_entry and pt_lookup disagree at page %#" PRIx64, pg);
		if (!ret && pt_leaf_pfn(&w->fmt, e, pt_leaf_shift(w->t, e, level), va_of(w, pg)) !=
		    pfn_of(w, m->e))
			die(w, "pt_lookup of page %#" PRIx64 ": wrong frame", pg);
	}
	hmmsim_read_unlock();
	if (n != s.leaves)
		die(w, "pt_iter gave %u leaves, pt_walk %u", n, s.leaves);
	if (w->reclaim == PT_RECLAIM_EAGER) {
		pt_table_stats(w->t, &st);
		for (unsigned int l = 0; l + 1 < w->geo.levels; l++)
			if (st.dirs[l] != s.dirs[l])
				die(w, "%" PRIu64 " directories at level %u, the leaves need %"
				    PRIu64 " (eager reclaim)", st.dirs[l], l, s.dirs[l]);
		if (st.dirs[w->geo.levels - 1] != 1)
			die(w, "%" PRIu64 " top directories", st.dirs[w->geo.levels - 1]);
	}
}

/* ------------------------------------------------------------------------ */
/* Operations                                                               */
/* ------------------------------------------------------------------------ */

/* A page of the window, often aligned to a level's item. */
static uint64_t get_page(struct world *w)
{
	uint16_t v = get16(w);
	uint64_t pg = v % w->npages;
	unsigned int l = (v >> 13) % w->geo.levels;

	if (v & 0x1000)
		pg &= ~((UINT64_C(1) << (w->geo.shift[l] - w->fmt.page_shift)) - 1);
	return pg;
}

/* Attribute bits from a byte: some of write, dirty, accessed, sw. */
static pt_entry_t get_attrs(struct world *w, uint8_t b)
{
	pt_entry_t a = 0, sw = w->fmt.sw;

	if (b & 1)
		a |= w->fmt.write;
	if (b & 2)
		a |= w->fmt.dirty;
	if (b & 4)
		a |= w->fmt.accessed;
	if ((b & 8) && sw)
		a |= sw & -sw;		/* the lowest sw bit */
	if ((b & 16) && sw)
		a |= UINT64_C(1) << fls_index(sw);
	return a;
}

/* The sizes the format maps, from a byte; sometimes any size at all. */
static unsigned int get_lg2(struct world *w, uint8_t b)
{
	unsigned int n = __builtin_popcountll(w->geo.page_sizes), k;
	uint64_t ps = w->geo.page_sizes;

	if ((b & 0xe0) == 0xe0)
		return b & 63;
	/* Mostly small sizes: big ones fill the window at once. */
	k = (b % (2 * n)) % n;
	if (b & 0x10)
		k = 0;
	while (k--)
		ps &= ps - 1;
	return __builtin_ctzll(ps);
}

static void op_map(struct world *w)
{
	uint8_t sb = get8(w), ab = get8(w), nb = get8(w), fb = get8(w);
	uint64_t pg = get_page(w), pfn = get16(w) | (uint64_t)get8(w) << 16;
	unsigned int lg2 = get_lg2(w, sb), run = 1, ps = w->fmt.page_shift;
	pt_entry_t attrs = get_attrs(w, ab), entry;
	bool special = (ab & 0x60) == 0x60;
	uint64_t va, size, frames, npg, i;
	int level = level_of(w, lg2, &run), ret;
	bool einval = false, eexist = false;

	va = va_of(w, pg);
	if (lg2 < 64 && lg2 >= ps && !(nb & 0x80))
		va &= ~((UINT64_C(1) << lg2) - 1);	/* mostly aligned */
	size = lg2 < 64 ? (uint64_t)(1 + (nb & 3)) << lg2 : UINT64_C(1) << ps;
	if (lg2 >= 64 || (size >> ps) > w->npages)
		size = UINT64_C(1) << ps;
	if (nb & 0x40)
		size = 0;
	/* The window only: nothing outside it is in the model. */
	if (va + size > va_of(w, w->npages)) {
		if (size > va_of(w, w->npages))
			return;
		va = (va_of(w, w->npages) - size) & ~((UINT64_C(1) << (lg2 < 64 ? lg2 : ps)) - 1);
		if (va + size > va_of(w, w->npages))
			return;
	}
	pfn &= w->pfn_max;
	if ((fb & 0x18) == 0x18 && w->pfn_max >= 7)
		pfn = w->pfn_max - (fb & 7);		/* near the top: overflow */
	else if (lg2 >= ps && lg2 < 64 && !(fb & 1))
		pfn &= ~((UINT64_C(1) << (lg2 - ps)) - 1);	/* aligned, so it may collapse */
	entry = pt_make_entry(&w->fmt, pfn, attrs | (special ? 0 : w->fmt.valid));
	if ((fb & 0xe0) == 0xe0)
		entry |= (fb & 0x20) && w->fmt.leaf ? w->fmt.leaf : w->fmt.contig;
	/* What pt_map must refuse. */
	frames = size >> ps;
	if (!size || (va | size) & ((UINT64_C(1) << ps) - 1) || level < 0 ||
	    ((va | size) & ((UINT64_C(1) << lg2) - 1)))
		einval = true;
	if ((entry & (w->fmt.leaf | w->fmt.contig)) || !(entry & ~w->pfn_field))
		einval = true;
	if (frames && frames - 1 > w->pfn_max - pfn)
		einval = true;
	/* A contiguous leaf's first frame is aligned to its size. */
	if (run > 1 && (pfn & ((UINT64_C(1) << (lg2 - ps)) - 1)))
		einval = true;
	npg = size >> ps;
	for (i = 0; i < npg && !eexist; i++)
		eexist = w->pg[(va >> ps) + i].state != P_NONE;
	arm(w, fb);
	logf_(w, "%d: map %#" PRIx64 "+%#" PRIx64 " lg2 %u entry %#" PRIx64 "%s", w->step, va,
	      size, lg2, entry, w->fail_at ? " (an allocation fails)" : "");
	ret = pt_map(w->t, va, size, lg2, entry, 0);
	if (einval || eexist) {
		w->fail_at = 0;
		if (!(einval && ret == -EINVAL) && !(eexist && ret == -EEXIST) &&
		    !(w->fired && ret == -ENOMEM))
			die(w, "pt_map = %d, want %s", ret, einval ? "-EINVAL" : "-EEXIST");
		return;
	}
	if (disarm(w, ret, "pt_map"))
		return;
	if (ret)
		die(w, "pt_map = %d, want 0", ret);
	for (i = 0; i < npg; i++) {
		struct ppage *m = &w->pg[(va >> ps) + i];

		m->state = special ? P_SPECIAL : P_PRESENT;
		m->lg2 = lg2;
		m->e = pt_make_entry(&w->fmt, pfn + i, attrs | (special ? 0 : w->fmt.valid));
	}
}

/* [va, va + size) from the input, inside the window, or deliberately bad. */
static bool get_range(struct world *w, uint64_t *va, uint64_t *size)
{
	uint64_t pg = get_page(w), n;
	uint8_t nb = get8(w);
	unsigned int ps = w->fmt.page_shift;

	n = (nb & 0x80) ? (uint64_t)(1 + (nb & 7)) << (((nb >> 3) & 15) % 13) : 1 + (nb & 31);
	if (n > w->npages)
		n = w->npages;
	if (pg + n > w->npages)
		pg = w->npages - n;
	*va = va_of(w, pg);
	*size = n << ps;
	if ((nb & 0xe0) == 0x60) {
		*size = 0;
		return false;
	}
	if ((nb & 0xe0) == 0x40) {
		*size -= 1;			/* misaligned */
		return false;
	}
	return true;
}

static void op_unmap(struct world *w)
{
	uint8_t fb = get8(w);
	uint64_t va, size, want = 0, i;
	unsigned int flags = (fb & 1) ? PT_UNMAP_FREE : 0, ps = w->fmt.page_shift;
	bool ok = get_range(w, &va, &size);
	int64_t ret;

	if ((fb & 6) == 6)
		flags |= 1u << 5;
	arm(w, fb);
	logf_(w, "%d: unmap %#" PRIx64 "+%#" PRIx64 " flags %#x%s", w->step, va, size, flags,
	      w->fail_at ? " (an allocation fails)" : "");
	ret = pt_unmap(w->t, va, size, flags);
	if (!ok || (flags & ~PT_UNMAP_FREE)) {
		w->fail_at = 0;
		if (ret != -EINVAL)
			die(w, "pt_unmap = %" PRId64 ", want -EINVAL", ret);
		return;
	}
	for (i = va >> ps; i < (va + size) >> ps; i++)
		if (w->pg[i].state != P_NONE)
			want += UINT64_C(1) << ps;
	if (disarm(w, ret, "pt_unmap"))
		return;
	if (ret != (int64_t)want)
		die(w, "pt_unmap = %" PRId64 ", want %" PRIu64, ret, want);
	for (i = va >> ps; i < (va + size) >> ps; i++)
		memset(&w->pg[i], 0, sizeof(w->pg[i]));
}

struct prot_count {
	struct world *w;
	const struct ppage *before;	/* the model before the call */
	uint64_t start, end;
	int64_t changed;
};

static int prot_leaf(void *arg, uint64_t va, uint64_t size, pt_entry_t e, unsigned int level)
{
	struct prot_count *c = arg;
	struct world *w = c->w;
	unsigned int ps = w->fmt.page_shift;

	if (va < c->start || va + size > c->end)
		die(w, "pt_protect left a leaf %#" PRIx64 "+%#" PRIx64 " across its range", va,
		    size);
	if (pt_entry_present(&w->fmt, e) &&
	    attrs_of(w, e) != attrs_of(w, c->before[(va - c->start) >> ps].e))
		c->changed += size >> w->geo.shift[level];	/* the entries of the leaf */
	return 0;
}

static void op_protect(struct world *w)
{
	static const struct pt_walk_ops ops = { .leaf = prot_leaf };
	uint8_t sb = get8(w), cb = get8(w), fb = get8(w);
	pt_entry_t set = get_attrs(w, sb), clear = get_attrs(w, cb);
	pt_entry_t allowed = w->fmt.write | w->fmt.dirty | w->fmt.accessed | w->fmt.sw;
	uint64_t va, size, i;
	bool ok = get_range(w, &va, &size);
	unsigned int ps = w->fmt.page_shift;
	struct prot_count c = { .w = w };
	struct ppage *before;
	int64_t ret;

	if (!(fb & 0x30))
		clear &= ~set;
	if ((fb & 0x30) == 0x30)
		set |= w->fmt.valid;		/* not a bit protect may change */
	arm(w, fb);
	logf_(w, "%d: protect %#" PRIx64 "+%#" PRIx64 " set %#" PRIx64 " clear %#" PRIx64 "%s",
	      w->step, va, size, set, clear, w->fail_at ? " (an allocation fails)" : "");
	ret = pt_protect(w->t, va, size, set, clear);
	if (!ok || ((set | clear) & ~allowed) || (set & clear) || !(set | clear))
		w->fail_at = 0;
	if (!ok || ((set | clear) & ~allowed) || (set & clear)) {
		if (ret != -EINVAL)
			die(w, "pt_protect = %" PRId64 ", want -EINVAL", ret);
		return;
	}
	if (!(set | clear)) {
		if (ret != 0)
			die(w, "pt_protect with nothing to do = %" PRId64, ret);
		return;
	}
	if (disarm(w, ret, "pt_protect"))
		return;
	if (ret < 0)
		die(w, "pt_protect = %" PRId64, ret);
	before = malloc((size >> ps) * sizeof(*before));
	if (!before)
		abort();
	memcpy(before, &w->pg[va >> ps], (size >> ps) * sizeof(*before));
	for (i = va >> ps; i < (va + size) >> ps; i++)
		if (w->pg[i].state == P_PRESENT)
			w->pg[i].e = (w->pg[i].e | set) & ~clear;
	/* No leaf across the range any more; count the entries that changed. */
	c.before = before;
	c.start = va;
	c.end = va + size;
	if (pt_walk(w->t, va, size, &ops, &c))
		die(w, "pt_walk failed");
	free(before);
	if (ret != c.changed)
		die(w, "pt_protect = %" PRId64 ", the leaves say %" PRId64 " entries changed", ret,
		    c.changed);
}

static void op_split(struct world *w)
{
	uint8_t lb = get8(w), fb = get8(w);
	uint64_t pg = get_page(w);
	unsigned int level = lb % (w->geo.levels + 1), flevel = 0;
	pt_entry_t e = 0;
	int found, want, ret;

	hmmsim_read_lock();
	found = pt_lookup(w->t, va_of(w, pg), &e, &flevel);
	hmmsim_read_unlock();
	if (level >= w->geo.levels)
		want = -EINVAL;
	else if (found || flevel != level)
		want = -ENOENT;
	else if (!level && !(w->fmt.contig && (e & w->fmt.contig)))
		want = -EINVAL;		/* a single item: nothing to split into */
	else
		want = 0;
	arm(w, fb);
	logf_(w, "%d: split page %#" PRIx64 " level %u%s", w->step, pg, level,
	      w->fail_at ? " (an allocation fails)" : "");
	ret = pt_split(w->t, va_of(w, pg), level);
	if (want)
		w->fail_at = 0;
	else if (disarm(w, ret, "pt_split"))
		return;
	if (ret != want)
		die(w, "pt_split = %d, want %d (the leaf is at level %u)", ret, want, flevel);
}

static void op_collapse(struct world *w)
{
	uint8_t lb = get8(w);
	uint64_t pg = get_page(w), first, n, sub, i;
	unsigned int level = lb % (w->geo.levels + 1), flevel = 0, ps = w->fmt.page_shift;
	pt_entry_t e, same, ad = 0;
	int want = 0, ret;

	if (!level || level >= w->geo.levels || !(w->fmt.leaf_levels & (1u << level))) {
		want = -EINVAL;
	} else {
		hmmsim_read_lock();
		pt_lookup(w->t, va_of(w, pg), &e, &flevel);
		hmmsim_read_unlock();
		if (flevel >= level)
			want = -ENOENT;		/* no directory under that entry */
	}
	if (!want) {
		/* Full of present leaves of the level below, in order, alike. */
		n = UINT64_C(1) << (w->geo.shift[level] - ps);
		first = pg & ~(n - 1);
		sub = UINT64_C(1) << (w->geo.shift[level - 1] - ps);
		same = ~(w->pfn_field | w->fmt.dirty | w->fmt.accessed | w->fmt.contig);
		if (first + n > w->npages || pfn_of(w, w->pg[first].e) & (n - 1))
			want = -EINVAL;
		for (i = 0; i < n && !want; i++) {
			const struct ppage *m = &w->pg[first + i];

			if (m->state != P_PRESENT ||
			    pfn_of(w, m->e) != pfn_of(w, w->pg[first].e) + i ||
			    (m->e & same) != (w->pg[first].e & same))
				want = -EINVAL;
			ad |= m->e & (w->fmt.dirty | w->fmt.accessed);
		}
		for (i = 0; i < n && !want; i += sub) {
			hmmsim_read_lock();
			pt_lookup(w->t, va_of(w, first + i), &e, &flevel);
			hmmsim_read_unlock();
			if (flevel != level - 1)
				want = -EINVAL;		/* a directory, not a leaf */
		}
	}
	logf_(w, "%d: collapse page %#" PRIx64 " level %u", w->step, pg, level);
	ret = pt_collapse(w->t, va_of(w, pg), level);
	if (ret != want)
		die(w, "pt_collapse = %d, want %d", ret, want);
	if (ret)
		return;
	for (i = 0; i < n; i++) {
		w->pg[first + i].e |= ad;
		w->pg[first + i].lg2 = w->geo.shift[level];
	}
}

static void op_bits(struct world *w, bool set)
{
	uint8_t bb = get8(w);
	uint64_t pg = get_page(w), s, n;
	pt_entry_t bits = get_attrs(w, bb) & ~w->fmt.write, e = 0;
	unsigned int level = 0, ps = w->fmt.page_shift, shift;
	struct ppage *m = &w->pg[pg];
	int want, ret, found;

	if ((bb & 0xc0) == 0xc0)
		bits |= w->fmt.write;		/* not a bit these may change */
	hmmsim_read_lock();
	found = pt_lookup(w->t, va_of(w, pg), &e, &level);
	hmmsim_read_unlock();
	if (!bits || (bits & ~(w->fmt.dirty | w->fmt.accessed | w->fmt.sw)))
		want = -EINVAL;
	else if (m->state != P_PRESENT)
		want = -ENOENT;
	else
		want = (m->e & bits) == bits;
	logf_(w, "%d: test_and_%s page %#" PRIx64 " bits %#" PRIx64, w->step,
	      set ? "set" : "clear", pg, bits);
	hmmsim_read_lock();
	ret = set ? pt_test_and_set_bits(w->t, va_of(w, pg), bits) :
		    pt_test_and_clear_bits(w->t, va_of(w, pg), bits);
	hmmsim_read_unlock();
	if (ret != want)
		die(w, "pt_test_and_%s_bits = %d, want %d", set ? "set" : "clear", ret, want);
	if (ret < 0 || found)
		return;
	/* The whole leaf changes: a contiguous run is one page. */
	shift = pt_leaf_shift(w->t, e, level);
	s = (va_of(w, pg) & ~((UINT64_C(1) << shift) - 1)) >> ps;
	n = UINT64_C(1) << (shift - ps);
	for (uint64_t i = s; i < s + n && i < w->npages; i++)
		w->pg[i].e = set ? w->pg[i].e | bits : w->pg[i].e & ~bits;
}

/* ------------------------------------------------------------------------ */
/* The run                                                                  */
/* ------------------------------------------------------------------------ */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *t = getenv("HMMSIM_FUZZ_TOLERATE");

	for (unsigned int i = 0; t && tol_names[i]; i++)
		if (strstr(t, tol_names[i]))
			tolerate |= 1u << i;
	print_log = getenv("HMMSIM_FUZZ_LOG") != NULL;
	hmmsim_thread_register();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct world *w = &W;
	struct pt_config cfg = { .numa_node = -1, .alloc_hook = alloc_hook, .hook_priv = w };
	uint8_t b0;
	int ret;

	if (size > MAX_INPUT)
		return -1;
	memset(w, 0, sizeof(*w));
	w->in = data;
	w->in_len = size;
	b0 = get8(w);
	switch (b0 & 7) {
	case 4:
		w->fmt = pt_format_x86_64_4l;
		break;
	case 5:
		w->fmt = pt_format_x86_64_5l;
		break;
	case 6:
	case 7:
		build_format(w);
		break;
	default:
		w->fmt = pt_format_tiny;
		break;
	}
	w->reclaim = (b0 & 8) ? PT_RECLAIM_KEEP : PT_RECLAIM_EAGER;
	cfg.reclaim = w->reclaim;
	if (!check_geometry(w, &w->fmt)) {
		struct pt_table *t = NULL;

		ret = pt_table_create(&w->fmt, &cfg, &t);
		if (ret != -EINVAL)
			die(w, "pt_table_create of a bad format = %d", ret);
		return 0;
	}
	/* Small enough to run: directories of at most 1024 entries, pages of at most 64K. */
	if (w->fmt.page_shift > 16 || w->fmt.dir_shift > 10)
		return 0;
	w->npages = (w->fmt.last + 1) >> w->fmt.page_shift;
	if (w->npages > MAX_PAGES)
		w->npages = MAX_PAGES;
	w->pfn_max = w->fmt.page_shift + w->fmt.oa_bits == 64 ?
		     UINT64_MAX >> w->fmt.page_shift : (UINT64_C(1) << w->fmt.oa_bits) - 1;
	w->pfn_field = w->pfn_max << w->fmt.page_shift;
	ret = pt_table_create(&w->fmt, &cfg, &w->t);
	if (ret)
		die(w, "pt_table_create = %d", ret);
	if (!geo_equal(pt_table_geometry(w->t), &w->geo) || pt_table_format(w->t) != &w->fmt)
		die(w, "pt_table_geometry or pt_table_format differ from what was asked");
	check_table(w, 4);
	for (w->step = 1; w->at < w->in_len && w->step <= MAX_STEPS; w->step++) {
		switch (get8(w) % 8) {
		case 0:
		case 1:
			op_map(w);
			break;
		case 2:
			op_unmap(w);
			break;
		case 3:
			op_protect(w);
			break;
		case 4:
			op_split(w);
			break;
		case 5:
			op_collapse(w);
			break;
		case 6:
			op_bits(w, true);
			break;
		default:
			op_bits(w, false);
			break;
		}
		check_table(w, 4);
	}
	pt_table_destroy(w->t);
	for (int i = 0; print_log && i < w->nr_log; i++)
		fprintf(stderr, "  %s\n", w->log[i]);
	return 0;
}
