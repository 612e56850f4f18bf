// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The operations of test_pt_random. Each picks its arguments at random
 * (biased toward the pages that are mapped and the edges of large pages,
 * where the engine has work to do), predicts the result from the model,
 * runs it on the table and updates the model.
 */
#include <errno.h>
#include <inttypes.h>

#include "random.h"

static const char *const op_names[OP_NR] = {
	"map", "unmap", "protect", "split", "collapse", "bits", "fill",
};

static uint64_t pick_bits(struct rt *rt, pt_entry_t from)
{
	pt_entry_t bits = 0;

	while (from) {
		pt_entry_t b = from & -from;

		if (prng_chance(&rt->rng, 40))
			bits |= b;
		from &= ~b;
	}
	return bits;
}

/*
 * A page of the window: most of the time one of a recent map (which may
 * have gone since), where splits, collapses and edges are to be found.
 */
static uint64_t pick_page(struct rt *rt, unsigned int pct_mapped)
{
	if (rt->nrecent && prng_chance(&rt->rng, pct_mapped)) {
		unsigned int n = rt->nrecent < RT_RECENT ? rt->nrecent : RT_RECENT;
		const struct rt_recent *r = &rt->recent[prng_below(&rt->rng, n)];

		return r->va + (prng_below(&rt->rng, r->size >> rt->ps) << rt->ps);
	}
	return rt->base + (prng_below(&rt->rng, rt->npages) << rt->ps);
}

/*
 * A range aligned to 2^@lg2 of up to @max units, inside the window; now and
 * then one that straddles the edge of a large page by a few small pages.
 */
static void pick_range(struct rt *rt, unsigned int lg2, uint64_t max, uint64_t *va,
		       uint64_t *size)
{
	uint64_t unit = UINT64_C(1) << lg2, units = rt->size >> lg2;
	uint64_t n = 1 + prng_below(&rt->rng, max);

	if (lg2 == rt->ps && prng_chance(&rt->rng, 30)) {
		unsigned int big = rt->sizes[1 + prng_below(&rt->rng, rt->nsizes - 1)];
		uint64_t edge = (pick_page(rt, 70) - rt->base) & ~((UINT64_C(1) << big) - 1);
		uint64_t k = 1 + prng_below(&rt->rng, 3);

		edge += prng_chance(&rt->rng, 50) ? UINT64_C(1) << big : 0;
		if (edge >= k * unit && edge + k * unit <= rt->size) {
			*va = rt->base + edge - k * unit;
			*size = (prng_chance(&rt->rng, 50) ? 2 * k : k) * unit;
			return;
		}
	}
	if (n > units)
		n = units;
	*va = rt->base + (prng_below(&rt->rng, units - n + 1) << lg2);
	if (prng_chance(&rt->rng, 50))
		*va = ((pick_page(rt, 80) - rt->base) & ~(unit - 1)) + rt->base;
	if (*va + n * unit > rt->base + rt->size)
		n = (rt->base + rt->size - *va) >> lg2;
	*size = n * unit;
}

static uint64_t count_mapped(struct rt *rt, uint64_t va, uint64_t size)
{
	uint64_t n = 0;

	for (uint64_t a = va; a < va + size; a += rt->psz)
		n += rt_page(rt, a)->kind != M_HOLE;
	return n;
}

/* The attribute bits of a new mapping: present, or special (never only a frame). */
static pt_entry_t pick_attrs(struct rt *rt, bool special)
{
	pt_entry_t attrs;

	if (!special)
		return rt->fmt->valid | pick_bits(rt, rt->mut);
	attrs = pick_bits(rt, rt->fmt->sw | rt->fmt->dirty | rt->fmt->write);
	return attrs ? attrs : rt->fmt->dirty;
}

static void do_map_at(struct rt *rt, unsigned int op, uint64_t va, uint64_t size,
		      unsigned int lg2, uint64_t frame, pt_entry_t attrs)
{
	uint8_t kind = (attrs & rt->fmt->valid) ? M_PRESENT : M_SPECIAL;
	int want = count_mapped(rt, va, size) ? -EEXIST : 0;
	int ret;

	rt_log(rt, "map va=%#" PRIx64 " size=%#" PRIx64 " lg2=%u frame=%#" PRIx64
	       " attrs=%#" PRIx64, va, size, lg2, frame, attrs);
	ret = pt_map(rt->t, va, size, lg2, pt_make_entry(rt->fmt, frame, attrs), 0);
	if (ret != want)
		rt_fail(rt, "pt_map() = %d, expected %d", ret, want);
	if (ret)
		return;
	rt->done[op]++;
	rt->recent[rt->nrecent++ % RT_RECENT] = (struct rt_recent){ va, size };
	for (uint64_t k = 0; k < size >> rt->ps; k++) {
		struct mpage *m = rt_page(rt, va + (k << rt->ps));

		m->kind = kind;
		m->frame = frame + k;
		m->attrs = attrs;
	}
}

/* A frame aligned to 2^@lg2 bytes, well inside the frame field. */
static uint64_t pick_frame(struct rt *rt, unsigned int lg2)
{
	unsigned int field = rt->fmt->oa_bits < 30 ? rt->fmt->oa_bits : 30;

	return prng_below(&rt->rng, UINT64_C(1) << (field - 2)) &
	       ~((UINT64_C(1) << (lg2 - rt->ps)) - 1);
}

static void op_map(struct rt *rt)
{
	unsigned int lg2 = rt->sizes[prng_below(&rt->rng, rt->nsizes)];
	uint64_t va, size;

	/* x86 has only two 1G slots in its window, and 1G leaves crowd out the rest. */
	if (lg2 >= 30 && prng_chance(&rt->rng, 70))
		lg2 = rt->sizes[0];
	pick_range(rt, lg2, lg2 == rt->ps ? 24 : 3, &va, &size);
	do_map_at(rt, OP_MAP, va, size, lg2, pick_frame(rt, lg2),
		  pick_attrs(rt, prng_chance(&rt->rng, 20)));
}

/*
 * Fill a whole empty item of a leaf level with pages of a smaller size,
 * frames following each other from an aligned start and one set of
 * attributes: what pt_collapse() wants.
 */
static void op_fill(struct rt *rt)
{
	unsigned int i = 1 + prng_below(&rt->rng, rt->nsizes - 1), lg2 = rt->sizes[i], j = 0;
	uint64_t span = UINT64_C(1) << lg2, va = (pick_page(rt, 30) - rt->base) & ~(span - 1);

	/* A contiguous size is no level of its own: fill the level above it. */
	if (rt->fmt->contig && lg2 == rt->ps + rt->fmt->contig_shift[0])
		return;
	/* At most a directory's worth of leaves: 1G of 4K pages would swamp the window. */
	while (lg2 - rt->sizes[j] > rt->fmt->dir_shift)
		j++;
	j += prng_below(&rt->rng, i - j);
	do_map_at(rt, OP_FILL, rt->base + va, span, rt->sizes[j], pick_frame(rt, lg2),
		  pick_attrs(rt, false));
	rt->fill_va = rt->base + va;
	rt->fill_size = span;
}

static void op_unmap(struct rt *rt)
{
	unsigned int lg2 = prng_chance(&rt->rng, 70) ? rt->ps :
			   rt->sizes[prng_below(&rt->rng, rt->nsizes)];
	unsigned int flags = prng_chance(&rt->rng, 25) ? PT_UNMAP_FREE : 0;
	uint64_t va, size, want;
	int64_t ret;

	pick_range(rt, lg2, lg2 == rt->ps ? 40 : 2, &va, &size);
	want = count_mapped(rt, va, size) << rt->ps;
	rt_log(rt, "unmap va=%#" PRIx64 " size=%#" PRIx64 " flags=%u", va, size, flags);
	ret = pt_unmap(rt->t, va, size, flags);
	if (ret != (int64_t)want)
		rt_fail(rt, "pt_unmap() = %lld, expected %" PRIu64, (long long)ret, want);
	rt->done[OP_UNMAP] += ret > 0;
	for (uint64_t a = va; a < va + size; a += rt->psz)
		rt_page(rt, a)->kind = M_HOLE;
}

static void op_protect(struct rt *rt)
{
	unsigned int lg2 = prng_chance(&rt->rng, 70) ? rt->ps :
			   rt->sizes[prng_below(&rt->rng, rt->nsizes)];
	pt_entry_t set = pick_bits(rt, rt->mut), clear = pick_bits(rt, rt->mut & ~set);
	uint64_t va, size, present = 0, changing = 0;
	int64_t ret;

	if (!set && !clear)
		set = rt->fmt->accessed;
	pick_range(rt, lg2, lg2 == rt->ps ? 40 : 2, &va, &size);
	for (uint64_t a = va; a < va + size; a += rt->psz) {
		struct mpage *m = rt_page(rt, a);

		if (m->kind != M_PRESENT)
			continue;
		present++;
		changing += ((m->attrs | set) & ~clear) != m->attrs;
	}
	rt_log(rt, "protect va=%#" PRIx64 " size=%#" PRIx64 " set=%#" PRIx64 " clear=%#" PRIx64,
	       va, size, set, clear);
	ret = pt_protect(rt->t, va, size, set, clear);
	/* Leaves changed: at most one a page, at least one when a page changes. */
	if (ret < 0 || (uint64_t)ret > present || (changing && !ret))
		rt_fail(rt, "pt_protect() = %lld: %" PRIu64 " present pages, %" PRIu64 " changing",
			(long long)ret, present, changing);
	rt->done[OP_PROTECT] += ret > 0;
	for (uint64_t a = va; a < va + size; a += rt->psz) {
		struct mpage *m = rt_page(rt, a);

		if (m->kind == M_PRESENT)
			m->attrs = (m->attrs | set) & ~clear;
	}
}

/* A random level: mostly the one of the leaf at @va, else any, or one past the top. */
static unsigned int pick_level(struct rt *rt, bool have, unsigned int level)
{
	if (have && prng_chance(&rt->rng, 75))
		return level;
	return prng_below(&rt->rng, rt->geo->levels + 1);
}

static bool is_leaf_level(struct rt *rt, unsigned int l)
{
	return l < rt->geo->levels && (rt->fmt->leaf_levels & (1u << l));
}

static void op_split(struct rt *rt)
{
	uint64_t va = pick_page(rt, 85), start;
	pt_entry_t e = 0;
	unsigned int level = 0, lg2, l;
	bool have = rt_leaf(rt, va, &e, &level, &start, &lg2);
	int ret, want, alt;

	l = pick_level(rt, have, level);
	if (l >= rt->geo->levels)
		want = alt = -EINVAL;
	else if (!is_leaf_level(rt, l))
		want = -EINVAL, alt = -ENOENT;
	else if (!have || level != l)
		want = alt = -ENOENT;
	else if (l > 0 || (e & rt->fmt->contig))
		want = alt = 0;
	else
		want = -ENOENT, alt = -EINVAL;	/* a plain small page */
	rt_log(rt, "split va=%#" PRIx64 " level=%u (leaf %s at L%u)", va, l, have ? "yes" : "no",
	       level);
	ret = pt_split(rt->t, va, l);
	if (ret != want && ret != alt)
		rt_fail(rt, "pt_split() = %d, expected %d", ret, want);
	rt->done[OP_SPLIT] += !ret;
	/* A split translates alike: the model does not change. */
}

/*
 * Whether the level-@l item at @va would collapse: every page present, in
 * leaves of level @l - 1 (of one kind: all contiguous runs or none), frames
 * following each other from an aligned start, attributes equal but for
 * dirty and accessed. Returns 1 yes, 0 no, -1 can't tell (runs and items
 * mixed at level 0).
 */
static int collapsible(struct rt *rt, uint64_t va, unsigned int l, pt_entry_t *attrs)
{
	uint64_t span = UINT64_C(1) << rt->geo->shift[l], s = va & ~(span - 1);
	struct mpage *m0 = rt_page(rt, s);
	int runs = -1, mixed = 0;

	if (m0->frame & ((span >> rt->ps) - 1))
		return 0;
	*attrs = 0;
	for (uint64_t a = s; a < s + span; a += rt->psz) {
		struct mpage *m = rt_page(rt, a);
		pt_entry_t e;
		unsigned int level, lg2;
		uint64_t start;

		if (m->kind != M_PRESENT || m->frame != m0->frame + ((a - s) >> rt->ps) ||
		    ((m->attrs ^ m0->attrs) & ~rt->ad))
			return 0;
		if (!rt_leaf(rt, a, &e, &level, &start, &lg2) || level != l - 1)
			return 0;
		if (runs < 0)
			runs = !!(e & rt->fmt->contig);
		mixed |= runs != !!(e & rt->fmt->contig);
		*attrs |= m->attrs;
	}
	return mixed ? -1 : 1;
}

static void op_collapse(struct rt *rt)
{
	uint64_t va = pick_page(rt, 85), start, span;
	pt_entry_t e = 0, attrs = 0;
	unsigned int level = 0, lg2, l;
	bool have;
	int ret, want, alt, can = 0;

	if (rt->fill_size && prng_chance(&rt->rng, 40))
		va = rt->fill_va + (prng_below(&rt->rng, rt->fill_size >> rt->ps) << rt->ps);
	have = rt_leaf(rt, va, &e, &level, &start, &lg2);

	l = have && prng_chance(&rt->rng, 75) ? level + 1 :
						prng_below(&rt->rng, rt->geo->levels + 1);
	if (l == 0 || !is_leaf_level(rt, l)) {
		want = alt = -EINVAL;
	} else if (have && level >= l) {
		want = alt = -ENOENT;		/* a leaf there, no directory */
	} else if (!have) {
		want = -ENOENT, alt = -EINVAL;	/* empty entry, or a directory with a hole */
	} else {
		can = collapsible(rt, va, l, &attrs);
		want = alt = can > 0 ? 0 : -EINVAL;
		if (can < 0)
			want = 0;
	}
	rt_log(rt, "collapse va=%#" PRIx64 " level=%u (leaf %s at L%u)", va, l,
	       have ? "yes" : "no", level);
	ret = pt_collapse(rt->t, va, l);
	if (ret != want && ret != alt)
		rt_fail(rt, "pt_collapse() = %d, expected %d", ret, want);
	if (ret)
		return;
	rt->done[OP_COLLAPSE]++;
	/* One leaf now: one set of attributes, dirty and accessed ORed. */
	span = UINT64_C(1) << rt->geo->shift[l];
	for (uint64_t a = va & ~(span - 1); a < (va & ~(span - 1)) + span; a += rt->psz)
		rt_page(rt, a)->attrs = attrs;
}

static void op_bits(struct rt *rt)
{
	uint64_t va = pick_page(rt, 85), start, n;
	pt_entry_t bits = pick_bits(rt, rt->tas_bits), e;
	unsigned int level, lg2;
	bool set = prng_chance(&rt->rng, 50), have;
	struct mpage *m;
	int ret, want;

	if (!bits)
		bits = rt->fmt->accessed;
	have = rt_leaf(rt, va, &e, &level, &start, &lg2);
	m = rt_page(rt, va);
	want = m->kind != M_PRESENT ? -ENOENT : (m->attrs & bits) == bits;
	rt_log(rt, "test_and_%s va=%#" PRIx64 " bits=%#" PRIx64, set ? "set" : "clear", va, bits);
	hmmsim_read_lock();
	ret = set ? pt_test_and_set_bits(rt->t, va, bits) : pt_test_and_clear_bits(rt->t, va, bits);
	hmmsim_read_unlock();
	if (ret != want)
		rt_fail(rt, "pt_test_and_%s_bits() = %d, expected %d", set ? "set" : "clear", ret,
			want);
	if (ret < 0)
		return;
	rt->done[OP_BITS]++;
	/* A large leaf, or a contiguous run, is one page: all its pages change. */
	n = have ? UINT64_C(1) << (lg2 - rt->ps) : 0;
	for (uint64_t k = 0; k < n; k++) {
		m = rt_page(rt, start + (k << rt->ps));
		m->attrs = set ? m->attrs | bits : m->attrs & ~bits;
	}
}

void rt_step(struct rt *rt)
{
	static const unsigned int weights[OP_NR] = { 26, 18, 14, 10, 10, 14, 8 };
	unsigned int r = prng_below(&rt->rng, 100), op = 0;

	while (r >= weights[op]) {
		r -= weights[op];
		op++;
	}
	rt->counts[op]++;
	switch (op) {
	case OP_MAP:
		op_map(rt);
		break;
	case OP_UNMAP:
		op_unmap(rt);
		break;
	case OP_PROTECT:
		op_protect(rt);
		break;
	case OP_SPLIT:
		op_split(rt);
		break;
	case OP_COLLAPSE:
		op_collapse(rt);
		break;
	case OP_BITS:
		op_bits(rt);
		break;
	default:
		op_fill(rt);
		break;
	}
}

const char *rt_op_name(unsigned int op)
{
	return op < OP_NR ? op_names[op] : "?";
}
