// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * mm_notifier: a recording mmu_notifier subscriber checks the events and
 * range shapes of cpu-mm-spec §7.2, §8, §9 and §12.3/§12.4 for each
 * operation; that starts and ends balance (LIFO, same range); and, through
 * a shadow of the page table kept by the subscriber, that no entry of a
 * watched window changes outside an open invalidation except by a fill or a
 * permission upgrade (§0 rule 4): each start callback reads the page table
 * and finds the range still holding what it held when the last invalidation
 * covering it ended.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "mm_test.h"

#define RW	(MM_PROT_READ | MM_PROT_WRITE)
#define ANON	(MM_MAP_PRIVATE | MM_MAP_ANONYMOUS)
#define MAX_EV	4096

enum { EV_START = 'S', EV_END = 'E', EV_RELEASE = 'R' };

struct ev {
	char kind;
	enum mmu_notifier_event event;
	uint64_t start, end;
	int depth;		/* open invalidations before this one (starts) */
	int ref, map;		/* the watched folio's refcount and mapcount then */
};

struct spage {
	bool mapped;
	uint8_t kind;
	uint8_t level;
	bool write;
	uint64_t pfn;
};

struct recorder {
	struct mmu_notifier mn;		/* first: container_of by cast */
	struct mm_struct *mm;
	struct ev ev[MAX_EV];
	int n;
	struct mmu_notifier_range stack[64];
	int sp;
	/* The watched window and its shadow. */
	uint64_t lo, hi;
	struct spage *shadow;
	int *open;
	bool exited;
	struct folio *watch;		/* a folio whose counts each event records */
	char err[1024];
};

/* An event's name without MMU_NOTIFY_. */
static const char *evname(enum mmu_notifier_event e)
{
	const char *n = mmu_notifier_event_name(e);

	return n && strlen(n) > 11 ? n + 11 : "?";
}

static void rec_error(struct recorder *r, const char *fmt, ...)
{
	va_list ap;

	if (r->err[0])
		return;
	va_start(ap, fmt);
	vsnprintf(r->err, sizeof(r->err), fmt, ap);
	va_end(ap);
}

static void read_page(struct recorder *r, uint64_t va, struct spage *s)
{
	struct mt_page pg;

	memset(s, 0, sizeof(*s));
	if (!mt_lookup(r->mm, va, &pg))
		return;
	s->mapped = true;
	s->kind = pg.kind;
	s->level = pg.level;
	s->write = pg.write;
	s->pfn = pg.pfn;
}

/* A change nobody had to be told of: a fill, or the same page made writable. */
static bool silent_ok(const struct spage *old, const struct spage *now)
{
	if (!old->mapped)
		return true;
	if (!now->mapped)
		return false;
	if (old->kind != now->kind || old->level != now->level || old->pfn != now->pfn)
		return false;
	return old->write == now->write || (!old->write && now->write);
}

/* Pages not under an open invalidation must hold their shadow or a silent change of it. */
static void scan_closed(struct recorder *r, const char *when)
{
	struct spage now;
	uint64_t va, i;

	if (!r->shadow)
		return;
	for (va = r->lo; va < r->hi; va += SZ_4K) {
		i = PAGES(va - r->lo);
		if (r->open[i])
			continue;
		read_page(r, va, &now);
		if (!silent_ok(&r->shadow[i], &now))
			rec_error(r, "%s: the entry at %#" PRIx64 " changed outside any "
				  "invalidation (mapped %d level %u pfn %#" PRIx64 " w %d -> "
				  "mapped %d level %u pfn %#" PRIx64 " w %d)", when, va,
				  r->shadow[i].mapped, r->shadow[i].level, r->shadow[i].pfn,
				  r->shadow[i].write, now.mapped, now.level, now.pfn, now.write);
		r->shadow[i] = now;
	}
}

static void mark(struct recorder *r, const struct mmu_notifier_range *range, int delta)
{
	uint64_t s = range->start > r->lo ? range->start : r->lo;
	uint64_t e = range->end < r->hi ? range->end : r->hi;
	uint64_t va, i;

	if (!r->shadow)
		return;
	for (va = s; va < e; va += SZ_4K) {
		i = PAGES(va - r->lo);
		r->open[i] += delta;
		if (delta < 0 && !r->open[i])
			read_page(r, va, &r->shadow[i]);
	}
}

static void rec_log(struct recorder *r, char kind, const struct mmu_notifier_range *range)
{
	struct ev *e;

	if (r->n == MAX_EV) {
		rec_error(r, "more than %d events", MAX_EV);
		return;
	}
	e = &r->ev[r->n++];
	e->kind = kind;
	e->event = range ? range->event : MMU_NOTIFY_RELEASE;
	e->start = range ? range->start : 0;
	e->end = range ? range->end : 0;
	e->depth = r->sp;
	e->ref = r->watch ? folio_ref_count(r->watch) : 0;
	e->map = r->watch ? folio_mapcount(r->watch) : 0;
}

static void rec_start(struct mmu_notifier *mn, const struct mmu_notifier_range *range)
{
	struct recorder *r = (struct recorder *)mn;

	rec_log(r, EV_START, range);
	if (range->mm != r->mm)
		rec_error(r, "start: range->mm is not the subscribed mm");
	if (!(range->flags & MMU_NOTIFIER_RANGE_BLOCKABLE))
		rec_error(r, "start: not BLOCKABLE");
	if (range->owner)
		rec_error(r, "start: an owner on a %s range", evname(range->event));
	if (range->start >= range->end || (range->start | range->end) & (SZ_4K - 1))
		rec_error(r, "start: bad range [%#" PRIx64 ", %#" PRIx64 ")", range->start,
			  range->end);
	if (!mmu_notifier_event_name(range->event))
		rec_error(r, "start: unknown event %d", range->event);
	/* Nothing changed yet in the range, nor anywhere outside an open one. */
	scan_closed(r, "at a start");
	if (r->sp == 64) {
		rec_error(r, "nesting deeper than 64");
		return;
	}
	r->stack[r->sp++] = *range;
	mark(r, range, 1);
}

static void rec_end(struct mmu_notifier *mn, const struct mmu_notifier_range *range)
{
	struct recorder *r = (struct recorder *)mn;
	struct mmu_notifier_range *top;

	rec_log(r, EV_END, range);
	if (!r->sp) {
		rec_error(r, "end without a start");
		return;
	}
	top = &r->stack[--r->sp];
	if (top->start != range->start || top->end != range->end || top->event != range->event)
		rec_error(r, "end [%#" PRIx64 ", %#" PRIx64 ") %s does not match the open start "
			  "[%#" PRIx64 ", %#" PRIx64 ") %s", range->start, range->end,
			  mmu_notifier_event_name(range->event), top->start, top->end,
			  mmu_notifier_event_name(top->event));
	mark(r, top, -1);
	scan_closed(r, "at an end");
}

static void rec_release(struct mmu_notifier *mn, struct mm_struct *mm)
{
	struct recorder *r = (struct recorder *)mn;

	rec_log(r, EV_RELEASE, NULL);
	if (mm != r->mm)
		rec_error(r, "release of another mm");
	if (r->sp)
		rec_error(r, "release inside an invalidation");
}

static const struct mmu_notifier_ops rec_ops = {
	.invalidate_range_start = rec_start,
	.invalidate_range_end = rec_end,
	.release = rec_release,
};

static struct recorder *rec_new(struct mm_struct *mm)
{
	struct recorder *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	r->mm = mm;
	r->mn.ops = &rec_ops;
	assert_int_equal(mmu_notifier_register(&r->mn, mm), 0);
	assert_mm_ok();
	return r;
}

static void rec_free(struct recorder *r)
{
	if (!r->exited && r->mm)
		assert_int_equal(mmu_notifier_unregister(&r->mn, r->mm), 0);
	free(r->shadow);
	free(r->open);
	free(r);
}

/* Watch [lo, hi) from now on, and forget the events so far. */
static void rec_begin(struct recorder *r, uint64_t lo, uint64_t hi)
{
	uint64_t va;

	free(r->shadow);
	free(r->open);
	r->lo = lo;
	r->hi = hi;
	r->shadow = calloc(PAGES(hi - lo) + 1, sizeof(*r->shadow));
	r->open = calloc(PAGES(hi - lo) + 1, sizeof(*r->open));
	assert_non_null(r->shadow);
	assert_non_null(r->open);
	for (va = lo; va < hi; va += SZ_4K)
		read_page(r, va, &r->shadow[PAGES(va - lo)]);
	r->n = 0;
	r->sp = 0;
	r->err[0] = 0;
}

static void rec_print(struct recorder *r)
{
	int i;

	for (i = 0; i < r->n; i++) {
		const struct ev *e = &r->ev[i];

		if (e->kind == EV_RELEASE)
			print_error("  %d: release()\n", i);
		else
			print_error("  %d: %*s%c %s [%#" PRIx64 ", %#" PRIx64 ")\n", i,
				    e->depth * 2, "", e->kind, evname(e->event), e->start, e->end);
	}
}

/* After an operation: balanced, nothing left open, no change outside a range. */
#define rec_settle(r) rec_settle_at((r), __LINE__)
static void rec_settle_at(struct recorder *r, int line)
{
	if (!r->exited)
		scan_closed(r, "after the operation");
	if (r->sp)
		rec_error(r, "%d invalidations left open", r->sp);
	if (r->err[0]) {
		print_error("notifier check: %s\n", r->err);
		rec_print(r);
		_fail(__FILE__, line);
	}
	if (!r->exited)
		mt_check_at(__FILE__, line);
}

struct xev {
	char kind;
	enum mmu_notifier_event event;
	uint64_t start, end;
};

#define XS(ev, s, e) { EV_START, MMU_NOTIFY_##ev, (s), (e) }
#define XE(ev, s, e) { EV_END, MMU_NOTIFY_##ev, (s), (e) }
#define XP(ev, s, e) XS(ev, s, e), XE(ev, s, e)

/* The events must be exactly @x. */
#define rec_expect(r, ...) do {						\
		const struct xev _x[] = { __VA_ARGS__ };		\
		rec_expect_at((r), _x, sizeof(_x) / sizeof(_x[0]), __LINE__); \
	} while (0)
#define rec_expect_none(r) rec_expect_at((r), NULL, 0, __LINE__)

static void rec_expect_at(struct recorder *r, const struct xev *x, int n, int line)
{
	bool bad = r->n != n;
	int i;

	rec_settle_at(r, line);
	for (i = 0; !bad && i < n; i++)
		bad = r->ev[i].kind != x[i].kind || r->ev[i].event != x[i].event ||
		      r->ev[i].start != x[i].start || r->ev[i].end != x[i].end;
	if (bad) {
		print_error("notifier events differ; got:\n");
		rec_print(r);
		print_error("expected:\n");
		for (i = 0; i < n; i++)
			print_error("  %d: %c %s [%#" PRIx64 ", %#" PRIx64 ")\n", i, x[i].kind,
				    evname(x[i].event), x[i].start, x[i].end);
		_fail(__FILE__, line);
	}
	/* Checked: the next operation starts a fresh log. */
	r->n = 0;
}

/* Starts of @event over exactly [s, e) (any depth). */
static int count_starts(struct recorder *r, enum mmu_notifier_event event, uint64_t s,
			uint64_t e)
{
	int i, n = 0;

	for (i = 0; i < r->n; i++)
		n += r->ev[i].kind == EV_START && r->ev[i].event == event && r->ev[i].start == s &&
		     r->ev[i].end == e;
	return n;
}

static int nr_starts(struct recorder *r)
{
	int i, n = 0;

	for (i = 0; i < r->n; i++)
		n += r->ev[i].kind == EV_START;
	return n;
}

/* Fail with the log. */
#define rec_assert(r, cond) do {					\
		if (!(cond)) {						\
			print_error("notifier: %s does not hold; events:\n", #cond); \
			rec_print(r);					\
			_fail(__FILE__, __LINE__);			\
		}							\
	} while (0)

/* ---------------------------------------------------------------------- */

/* Filling faults notify nothing; replacing the zero pages does (§8 rows 1, 5). */
static void test_fill_silent(void **state)
{
	struct recorder *r;
	struct mm_struct *mm;
	struct mm_stats st;
	uint64_t a, t;

	(void)state;
	mt_setup(NULL);
	mm = mt_proc(NULL);
	a = mt_anon(mm, SZ_16K);
	t = mt_anon_thp(mm, SZ_4M);
	r = rec_new(mm);
	rec_begin(r, t, t + SZ_4M);
	st = mt_stats(mm);
	mt_memset(mm, t, 1, 1);
	mt_touch(mm, t + SZ_2M);
	rec_expect_none(r);
	rec_begin(r, a, a + SZ_16K);
	mt_touch(mm, a);
	mt_memset(mm, a + SZ_4K, 1, 1);
	rec_expect_none(r);
	assert_int_equal(mt_stats(mm).notifications, st.notifications);

	/* The zero page replaced: CLEAR exactly over the page. */
	mt_memset(mm, a, 2, 1);
	rec_expect(r, XP(CLEAR, a, a + SZ_4K));
	/* The huge zero PMD replaced by a THP (6.13+): CLEAR over the block. */
	rec_begin(r, t, t + SZ_4M);
	mt_memset(mm, t + SZ_2M + SZ_1M, 3, 1);
	rec_expect(r, XP(CLEAR, t + SZ_2M, t + SZ_4M));
	assert_int_equal(mt_stats(mm).notifications, st.notifications + 2);
	/* An exclusive THP written again: nothing. */
	mt_memset(mm, t + SZ_2M, 4, SZ_2M);
	rec_expect_none(r);
	rec_free(r);
	mt_teardown();
}

/* munmap: UNMAP over the whole request; CLEAR 2M for each split edge (§9.6). */
static void test_munmap(void **state)
{
	struct recorder *r;
	struct mm_struct *mm;
	uint64_t a, t, u, w;
	int i;

	(void)state;
	mt_setup(NULL);
	mm = mt_proc(NULL);
	a = mt_anon(mm, SZ_64K);
	mt_memset(mm, a, 1, SZ_64K);
	r = rec_new(mm);

	rec_begin(r, a, a + SZ_64K);
	assert_int_equal(mm_munmap(mm, a + SZ_8K, SZ_16K), 0);
	rec_expect(r, XP(UNMAP, a + SZ_8K, a + SZ_8K + SZ_16K));
	/* Across a VMA, the hole and the next VMA: one range, the request. */
	rec_begin(r, a, a + SZ_64K);
	assert_int_equal(mm_munmap(mm, a + SZ_4K, 9 * SZ_4K), 0);
	rec_expect(r, XP(UNMAP, a + SZ_4K, a + 10 * SZ_4K));
	/* A VMA never faulted is still notified over the request. */
	u = mt_anon(mm, SZ_16K);
	rec_begin(r, u, u + SZ_16K);
	assert_int_equal(mm_munmap(mm, u, SZ_16K), 0);
	rec_expect(r, XP(UNMAP, u, u + SZ_16K));
	/* Only a hole: nothing at all. */
	rec_begin(r, u, u + SZ_16K);
	assert_int_equal(mm_munmap(mm, u, SZ_16K), 0);
	rec_expect_none(r);

	/* Edges inside two PMD leaves. */
	t = mt_anon_thp(mm, SZ_4M);
	mt_memset(mm, t, 2, SZ_4M);
	rec_begin(r, t, t + SZ_4M);
	assert_int_equal(mm_munmap(mm, t + SZ_2M - SZ_8K, SZ_16K), 0);
	rec_settle(r);
	rec_assert(r, count_starts(r, MMU_NOTIFY_UNMAP, t + SZ_2M - SZ_8K, t + SZ_2M + SZ_8K) == 1);
	rec_assert(r, count_starts(r, MMU_NOTIFY_CLEAR, t, t + SZ_2M) == 1);
	rec_assert(r, count_starts(r, MMU_NOTIFY_CLEAR, t + SZ_2M, t + SZ_4M) == 1);
	rec_assert(r, nr_starts(r) == 3);
	/* The UNMAP is outermost: the splits come before it or nested inside it. */
	for (i = 0; i < r->n; i++)
		if (r->ev[i].kind == EV_START && r->ev[i].event == MMU_NOTIFY_UNMAP)
			rec_assert(r, r->ev[i].depth == 0);
		else if (r->ev[i].kind == EV_START)
			rec_assert(r, r->ev[i].depth <= 1);

	/* A whole PMD: no split. */
	w = mt_anon_thp(mm, SZ_2M);
	mt_memset(mm, w, 3, SZ_2M);
	rec_begin(r, w, w + SZ_2M);
	assert_int_equal(mm_munmap(mm, w, SZ_2M), 0);
	rec_expect(r, XP(UNMAP, w, w + SZ_2M));
	rec_free(r);
	mt_teardown();
}

/* MADV_DONTNEED: CLEAR per VMA, clipped; a nested CLEAR 2M for a partial PMD (§9.7). */
static void test_dontneed(void **state)
{
	struct recorder *r;
	struct mm_struct *mm;
	uint64_t a, t, u;
	int i;

	(void)state;
	mt_setup(NULL);
	mm = mt_proc(NULL);
	a = mt_anon(mm, SZ_64K);
	mt_memset(mm, a, 1, SZ_64K);
	assert_int_equal(mm_mprotect(mm, a + SZ_16K, SZ_16K, MM_PROT_READ), 0);
	assert_mm_ok();
	r = rec_new(mm);
	rec_begin(r, a, a + SZ_64K);
	assert_int_equal(mm_madvise(mm, a + SZ_8K, 10 * SZ_4K, MM_MADV_DONTNEED), 0);
	rec_expect(r, XP(CLEAR, a + SZ_8K, a + SZ_16K), XP(CLEAR, a + SZ_16K, a + 2 * SZ_16K),
		   XP(CLEAR, a + 2 * SZ_16K, a + 12 * SZ_4K));

	t = mt_anon_thp(mm, SZ_2M);
	mt_memset(mm, t, 2, SZ_2M);
	rec_begin(r, t, t + SZ_2M);
	assert_int_equal(mm_madvise(mm, t + 5 * SZ_4K, SZ_8K, MM_MADV_DONTNEED), 0);
	rec_settle(r);
	rec_assert(r, count_starts(r, MMU_NOTIFY_CLEAR, t + 5 * SZ_4K, t + 7 * SZ_4K) == 1);
	rec_assert(r, count_starts(r, MMU_NOTIFY_CLEAR, t, t + SZ_2M) == 1);
	rec_assert(r, nr_starts(r) == 2);
	for (i = 0; i < r->n; i++)
		if (r->ev[i].kind == EV_START && r->ev[i].end - r->ev[i].start == SZ_8K)
			rec_assert(r, r->ev[i].depth == 0);

	/* A whole PMD: one CLEAR, no split. */
	mt_memset(mm, t + SZ_1M, 3, SZ_1M);
	u = mt_anon_thp(mm, SZ_2M);
	mt_memset(mm, u, 3, SZ_2M);
	rec_begin(r, u, u + SZ_2M);
	assert_int_equal(mm_madvise(mm, u, SZ_2M, MM_MADV_DONTNEED), 0);
	rec_expect(r, XP(CLEAR, u, u + SZ_2M));
	rec_free(r);
	mt_teardown();
}

/* COW of a 4 KiB page: CLEAR exactly 4K; the child's faults reach no subscriber (§4.2, §9.4). */
static void test_cow(void **state)
{
	struct recorder *r;
	struct mm_struct *mm, *c;
	uint64_t a;

	(void)state;
	mt_setup(NULL);
	mm = mt_proc(NULL);
	a = mt_anon(mm, SZ_16K);
	mt_memset(mm, a, 1, SZ_16K);
	r = rec_new(mm);
	c = mt_fork(mm);
	rec_begin(r, a, a + SZ_16K);
	mt_memset(mm, a + SZ_8K + 5, 2, 1);
	rec_expect(r, XP(CLEAR, a + SZ_8K, a + SZ_8K + SZ_4K));
	mt_memset(c, a, 3, SZ_16K);
	rec_expect_none(r);
	/* The child copied everything: the parent's pages are its own, reuse is silent. */
	mt_memset(mm, a, 4, SZ_16K);
	rec_expect_none(r);
	mt_exit(c);
	rec_expect_none(r);
	rec_free(r);
	mt_teardown();
}

/* A write into a shared PMD THP: CLEAR 2M (split) then CLEAR 4K (copy) (§9.4). */
static void test_cow_thp(void **state)
{
	struct recorder *r;
	struct mm_struct *mm, *c;
	uint64_t t;

	(void)state;
	mt_setup(NULL);
	mm = mt_proc(NULL);
	t = mt_anon_thp(mm, SZ_4M);
	mt_memset(mm, t, 1, SZ_4M);
	r = rec_new(mm);
	c = mt_fork(mm);
	rec_begin(r, t, t + SZ_4M);
	r->watch = mt_folio(mm, t + SZ_2M, NULL);
	mt_memset(mm, t + SZ_2M + 7 * SZ_4K, 2, 1);
	/* §2.3: 2 -> 513 (split: the child's PMD and 512 PTEs) -> 512 (one page copied). */
	rec_assert(r, r->n == 4);
	rec_assert(r, r->ev[0].map == 2 && r->ev[0].ref == 2);
	rec_assert(r, r->ev[1].map == 513 && r->ev[1].ref == 513);
	rec_assert(r, r->ev[2].map == 513 && r->ev[2].ref >= 513 && r->ev[2].ref <= 514);
	assert_int_equal(folio_mapcount(r->watch), 512);
	assert_int_equal(folio_ref_count(r->watch), 512);
	r->watch = NULL;
	rec_expect(r, XP(CLEAR, t + SZ_2M, t + SZ_4M),
		   XP(CLEAR, t + SZ_2M + 7 * SZ_4K, t + SZ_2M + 8 * SZ_4K));
	/* The next page: the child still maps the folio, a copy, CLEAR 4K only. */
	mt_memset(mm, t + SZ_2M + 8 * SZ_4K, 2, 1);
	rec_expect(r, XP(CLEAR, t + SZ_2M + 8 * SZ_4K, t + SZ_2M + 9 * SZ_4K));
	/* The child gone, the other PMD is the parent's: reuse, silent. */
	mt_exit(c);
	mt_memset(mm, t, 3, 1);
	rec_expect_none(r);
	rec_free(r);
	mt_teardown();
}

/* Profile 5.7: the shared THP and the huge zero PMD are replaced whole: CLEAR 2M. */
static void test_cow_thp_57(void **state)
{
	struct recorder *r;
	struct mm_struct *mm, *c;
	uint64_t t;

	(void)state;
	mt_setup(NULL);
	mm = mt_proc(mt_profile("5.7"));
	t = mt_anon_thp(mm, SZ_4M);
	mt_memset(mm, t, 1, SZ_2M);
	mt_touch(mm, t + SZ_2M);
	r = rec_new(mm);
	c = mt_fork(mm);
	rec_begin(r, t, t + SZ_4M);
	mt_memset(mm, t + 7 * SZ_4K, 2, 1);
	rec_expect(r, XP(CLEAR, t, t + SZ_2M));
	/* Huge zero, before 6.13: split (CLEAR 2M) and a 4 KiB COW (CLEAR 4K). */
	mt_memset(mm, t + SZ_2M + 3 * SZ_4K, 2, 1);
	rec_expect(r, XP(CLEAR, t + SZ_2M, t + SZ_4M),
		   XP(CLEAR, t + SZ_2M + 3 * SZ_4K, t + SZ_2M + 4 * SZ_4K));
	mt_exit(c);
	rec_free(r);
	mt_teardown();
}

/* hugetlb COW: CLEAR over the huge page (§9.4). */
static void test_cow_hugetlb(void **state)
{
	struct mm_system_config cfg = { .hugetlb_2m = 4 };
	struct recorder *r;
	struct mm_struct *mm, *c;
	uint64_t h;

	(void)state;
	mt_setup(&cfg);
	mm = mt_proc(NULL);
	h = mt_hugetlb(mm, SZ_4M, 21);
	mt_memset(mm, h, 1, SZ_4M);
	r = rec_new(mm);
	c = mt_fork(mm);
	rec_begin(r, h, h + SZ_4M);
	mt_memset(mm, h + SZ_2M + 5, 2, 1);
	rec_expect(r, XP(CLEAR, h + SZ_2M, h + SZ_4M));
	mt_exit(c);
	rec_free(r);
	mt_teardown();
}

struct vma_ev {
	uint64_t start, end;
	enum mmu_notifier_event event;
};

static int cmp_vma_ev(const void *a, const void *b)
{
	const struct vma_ev *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/* Watch the span of @n ranges when it is small enough, else the first one. */
static void rec_begin_span(struct recorder *r, const uint64_t *start, const uint64_t *end, int n)
{
	uint64_t lo = start[0], hi = end[0];
	int i;

	for (i = 1; i < n; i++) {
		lo = start[i] < lo ? start[i] : lo;
		hi = end[i] > hi ? end[i] : hi;
	}
	if (hi - lo > 256 * SZ_1M) {
		lo = start[0];
		hi = end[0];
	}
	rec_begin(r, lo, hi);
}

/*
 * fork: PROTECTION_PAGE over each COW VMA that has anon pages, CLEAR over
 * hugetlb VMAs, nothing for shared or never-faulted VMAs (§4.2, §9.3),
 * in address order.
 */
static void test_fork(void **state)
{
	struct mm_system_config cfg = { .hugetlb_2m = 4 };
	struct vma_ev x[3];
	struct xev xe[6];
	struct recorder *r;
	struct mm_struct *mm, *c;
	uint64_t a, t, h, s, u;
	int i;

	(void)state;
	mt_setup(&cfg);
	mm = mt_proc(NULL);
	a = mt_anon(mm, SZ_64K);
	t = mt_anon_thp(mm, SZ_4M);
	h = mt_hugetlb(mm, SZ_2M, 21);
	s = mt_mmap(mm, SZ_64K, RW, MM_MAP_SHARED | MM_MAP_ANONYMOUS, 0, 0);
	u = mt_anon(mm, SZ_64K);
	mt_memset(mm, a, 1, SZ_16K);
	mt_memset(mm, t, 2, SZ_2M + SZ_4K);
	mt_memset(mm, h, 3, SZ_4K);
	mt_memset(mm, s, 4, SZ_64K);
	r = rec_new(mm);
	x[0] = (struct vma_ev){ a, a + SZ_64K, MMU_NOTIFY_PROTECTION_PAGE };
	x[1] = (struct vma_ev){ t, t + SZ_4M, MMU_NOTIFY_PROTECTION_PAGE };
	x[2] = (struct vma_ev){ h, h + SZ_2M, MMU_NOTIFY_CLEAR };
	qsort(x, 3, sizeof(x[0]), cmp_vma_ev);
	for (i = 0; i < 3; i++) {
		xe[2 * i] = (struct xev){ EV_START, x[i].event, x[i].start, x[i].end };
		xe[2 * i + 1] = (struct xev){ EV_END, x[i].event, x[i].start, x[i].end };
	}
	{
		uint64_t st[] = { t, a, h, s, u };
		uint64_t en[] = { t + SZ_4M, a + SZ_64K, h + SZ_2M, s + SZ_64K, u + SZ_64K };

		rec_begin_span(r, st, en, 5);
	}
	c = mt_fork(mm);
	rec_expect_at(r, xe, 6, __LINE__);
	/* The parent's pages are write-protected now (the shadow saw it inside the ranges). */
	assert_codes(mm, a, SZ_16K, "4:p..");
	assert_codes(mm, t, SZ_2M, "512:H..");
	/* Shared memory stays shared and writable: the child sees the parent's writes. */
	mt_memset(mm, s, 5, 1);
	mt_expect(c, s, 5, 1);
	mt_memset(c, s + 1, 6, 1);
	mt_expect(mm, s + 1, 6, 1);
	rec_settle(r);
	rec_free(r);
	mt_teardown();
}

/* fork with a pinned THP: the source PMD is split inside the fork's range (§9.3). */
static void test_fork_pinned(void **state)
{
	struct recorder *r;
	struct mm_struct *mm;
	struct folio *t;
	uint64_t h;

	(void)state;
	mt_setup(NULL);
	mm = mt_proc(NULL);
	h = mt_anon_thp(mm, SZ_2M);
	mt_memset(mm, h, 1, SZ_2M);
	t = mt_folio(mm, h, NULL);
	assert_int_equal(folio_pin(t), 0);
	r = rec_new(mm);
	rec_begin(r, h, h + SZ_2M);
	mt_fork(mm);
	rec_expect(r, XS(PROTECTION_PAGE, h, h + SZ_2M), XP(CLEAR, h, h + SZ_2M),
		   XE(PROTECTION_PAGE, h, h + SZ_2M));
	assert_int_equal(unpin_folio(t), 0);
	rec_free(r);
	mt_teardown();
}

/*
 * mprotect: PROTECTION_VMA, lazily from the first populated entry to the end
 * of the range, once per VMA; nothing at all over unpopulated memory; a
 * CLEAR 2M for an edge inside a PMD (§9.5, §12.4).
 */
static void test_mprotect(void **state)
{
	struct recorder *r;
	struct mm_struct *mm;
	uint64_t g, l, a, t, p;

	(void)state;
	mt_setup(NULL);
	mm = mt_proc(NULL);
	r = rec_new(mm);

	/* Nothing populated in the whole GiB: no notification. */
	g = mt_mmap(mm, SZ_2M, RW, ANON, SZ_1G, 0);
	rec_begin(r, g, g + SZ_2M);
	assert_int_equal(mm_mprotect(mm, g, SZ_2M, MM_PROT_READ), 0);
	rec_expect_none(r);

	/* Two GiB with one page populated in the second: one lazy range. */
	l = mt_mmap(mm, 2 * SZ_1G, RW, ANON, SZ_1G, 0);
	p = l + SZ_1G + 5 * SZ_1M + 3 * SZ_4K;
	mt_memset(mm, p, 1, 1);
	rec_begin(r, l + SZ_1G, l + SZ_1G + 8 * SZ_1M);
	assert_int_equal(mm_mprotect(mm, l, 2 * SZ_1G, MM_PROT_READ), 0);
	rec_settle(r);
	rec_assert(r, r->n == 2);
	rec_assert(r, r->ev[0].kind == EV_START && r->ev[0].event == MMU_NOTIFY_PROTECTION_VMA);
	rec_assert(r, r->ev[0].start >= l + SZ_1G && r->ev[0].start <= p);
	rec_assert(r, r->ev[0].end == l + 2 * SZ_1G);
	assert_codes(mm, p, SZ_4K, "1:px.");

	/* Three populated VMAs: one range each, in order. */
	a = mt_anon(mm, SZ_64K);
	mt_memset(mm, a, 1, SZ_64K);
	assert_int_equal(mm_mprotect(mm, a + SZ_16K, SZ_16K, MM_PROT_READ), 0);
	assert_mm_ok();
	rec_begin(r, a, a + SZ_64K);
	assert_int_equal(mm_mprotect(mm, a, SZ_64K, MM_PROT_NONE), 0);
	rec_expect(r, XP(PROTECTION_VMA, a, a + SZ_16K),
		   XP(PROTECTION_VMA, a + SZ_16K, a + 2 * SZ_16K),
		   XP(PROTECTION_VMA, a + 2 * SZ_16K, a + SZ_64K));

	/* An edge inside a PMD leaf: CLEAR over its block, then the change. */
	t = mt_anon_thp(mm, SZ_2M);
	mt_memset(mm, t, 2, SZ_2M);
	rec_begin(r, t, t + SZ_2M);
	assert_int_equal(mm_mprotect(mm, t + 5 * SZ_4K, SZ_8K, MM_PROT_READ), 0);
	rec_settle(r);
	rec_assert(r, count_starts(r, MMU_NOTIFY_CLEAR, t, t + SZ_2M) == 1);
	rec_assert(r, count_starts(r, MMU_NOTIFY_PROTECTION_VMA, t + 5 * SZ_4K,
				   t + 7 * SZ_4K) == 1);
	rec_assert(r, nr_starts(r) == 2);
	/* The VMA there is split already: no CLEAR. */
	rec_begin(r, t, t + SZ_2M);
	assert_int_equal(mm_mprotect(mm, t, SZ_4K * 5, MM_PROT_READ), 0);
	rec_expect(r, XP(PROTECTION_VMA, t, t + 5 * SZ_4K));
	/* A whole PMD: rewritten in place, no CLEAR. */
	t = mt_anon_thp(mm, SZ_2M);
	mt_memset(mm, t, 2, SZ_2M);
	rec_begin(r, t, t + SZ_2M);
	assert_int_equal(mm_mprotect(mm, t, SZ_2M, MM_PROT_READ), 0);
	rec_expect(r, XP(PROTECTION_VMA, t, t + SZ_2M));
	assert_codes(mm, t, SZ_2M, "512:Hx.");
	rec_free(r);
	mt_teardown();
}

/* exit: release(), then RELEASE over everything, then UNMAP over everything (§9.11). */
static void test_exit(void **state)
{
	struct recorder *r;
	struct mm_struct *mm;
	uint64_t t;
	int i;

	(void)state;
	mt_setup(NULL);
	mm = mt_proc(NULL);
	t = mt_anon_thp(mm, SZ_4M);
	mt_memset(mm, t, 1, SZ_2M + SZ_8K);
	r = rec_new(mm);
	rec_begin(r, t, t + SZ_4M);
	r->exited = true;
	mt_exit(mm);
	rec_settle(r);
	rec_assert(r, r->n == 5);
	rec_assert(r, r->ev[0].kind == EV_RELEASE);
	for (i = 1; i < 5; i++) {
		rec_assert(r, r->ev[i].kind == (i % 2 ? EV_START : EV_END));
		rec_assert(r, r->ev[i].event == (i < 3 ? MMU_NOTIFY_RELEASE : MMU_NOTIFY_UNMAP));
		rec_assert(r, r->ev[i].start == 0 && r->ev[i].end >= MM_TASK_SIZE);
		rec_assert(r, r->ev[i].depth == 0 || r->ev[i].kind == EV_END);
	}
	rec_free(r);
	mt_teardown();
}

/* mremap: UNMAP over the old range, nothing over the new one; CLEAR 2M for splits (§9.8). */
static void test_mremap(void **state)
{
	struct recorder *r;
	struct mm_struct *mm;
	uint64_t a, n = 0, t, m = 0, d, f = 0;
	int i, unmaps;

	(void)state;
	mt_setup(NULL);
	mm = mt_proc(NULL);
	r = rec_new(mm);
	a = mt_anon(mm, SZ_64K);
	mt_memset(mm, a, 1, SZ_64K);
	rec_begin(r, a, a + SZ_64K);
	assert_int_equal(mm_mremap(mm, a, SZ_64K, 0, 0, 0, 0, &n), 0);
	rec_settle(r);
	unmaps = count_starts(r, MMU_NOTIFY_UNMAP, a, a + SZ_64K);
	rec_assert(r, unmaps >= 1 && unmaps <= 2);
	rec_assert(r, nr_starts(r) == unmaps);
	mt_expect(mm, n, 1, SZ_64K);

	/* Unaligned destination: both PMDs split, inside the old range only. */
	t = mt_anon_thp(mm, SZ_4M);
	mt_memset(mm, t, 2, SZ_4M);
	rec_begin(r, t, t + SZ_4M);
	assert_int_equal(mm_mremap(mm, t, SZ_4M, 0, 0, SZ_2M, SZ_4K, &m), 0);
	rec_settle(r);
	unmaps = count_starts(r, MMU_NOTIFY_UNMAP, t, t + SZ_4M);
	rec_assert(r, unmaps >= 1 && unmaps <= 2);
	rec_assert(r, count_starts(r, MMU_NOTIFY_CLEAR, t, t + SZ_2M) == 1);
	rec_assert(r, count_starts(r, MMU_NOTIFY_CLEAR, t + SZ_2M, t + SZ_4M) == 1);
	rec_assert(r, nr_starts(r) == unmaps + 2);
	for (i = 0; i < r->n; i++)
		rec_assert(r, r->ev[i].end <= m || r->ev[i].start >= m + SZ_4M);
	mt_expect(mm, m, 2, SZ_4M);

	/* FIXED onto a populated mapping: the destination is unmapped first. */
	d = mt_anon(mm, SZ_64K);
	mt_memset(mm, d, 3, SZ_64K);
	rec_begin(r, d, d + SZ_64K);
	assert_int_equal(mm_mremap(mm, n, SZ_64K, MM_MAP_FIXED, d, 0, 0, &f), 0);
	rec_settle(r);
	assert_int_equal(f, d);
	rec_assert(r, count_starts(r, MMU_NOTIFY_UNMAP, d, d + SZ_64K) == 1);
	rec_assert(r, r->ev[0].kind == EV_START && r->ev[0].start == d);
	rec_assert(r, count_starts(r, MMU_NOTIFY_UNMAP, n, n + SZ_64K) >= 1);
	mt_expect(mm, d, 1, SZ_64K);
	rec_free(r);
	mt_teardown();
}

/* MADV_FREE: CLEAR over the clipped range; the folio split nests CLEARs in the block. */
static void test_madv_free(void **state)
{
	struct recorder *r;
	struct mm_struct *mm;
	uint64_t t;
	int i, top = 0;

	(void)state;
	mt_setup(NULL);
	mm = mt_proc(NULL);
	t = mt_anon_thp(mm, SZ_2M);
	mt_memset(mm, t, 1, SZ_2M);
	r = rec_new(mm);
	rec_begin(r, t, t + SZ_2M);
	assert_int_equal(mm_madvise(mm, t + 5 * SZ_4K, SZ_8K, MM_MADV_FREE), 0);
	rec_settle(r);
	for (i = 0; i < r->n; i++) {
		if (r->ev[i].kind != EV_START)
			continue;
		rec_assert(r, r->ev[i].event == MMU_NOTIFY_CLEAR);
		rec_assert(r, r->ev[i].start >= t && r->ev[i].end <= t + SZ_2M);
		if (r->ev[i].depth == 0) {
			top++;
			rec_assert(r, r->ev[i].start == t + 5 * SZ_4K);
			rec_assert(r, r->ev[i].end == t + 7 * SZ_4K);
		}
	}
	rec_assert(r, top == 1);
	rec_free(r);
	mt_teardown();
}

/* Registration: errors, two subscribers, unregistering; the counter counts starts. */
static void test_register(void **state)
{
	struct mmu_notifier bare = { 0 };
	struct recorder *r1, *r2;
	struct mm_struct *mm, *other;
	struct mm_stats st;
	uint64_t a;

	(void)state;
	mt_setup(NULL);
	mm = mt_proc(NULL);
	other = mt_proc(NULL);
	a = mt_anon(mm, SZ_16K);
	mt_memset(mm, a, 1, SZ_16K);
	assert_int_equal(mmu_notifier_register(&bare, mm), -EINVAL);
	r1 = rec_new(mm);
	assert_int_equal(mmu_notifier_register(&r1->mn, mm), -EINVAL);
	assert_int_equal(mmu_notifier_unregister(&r1->mn, other), -EINVAL);
	r2 = rec_new(mm);
	rec_begin(r1, a, a + SZ_16K);
	rec_begin(r2, a, a + SZ_16K);
	st = mt_stats(mm);
	assert_int_equal(mm_madvise(mm, a, SZ_4K, MM_MADV_DONTNEED), 0);
	rec_expect(r1, XP(CLEAR, a, a + SZ_4K));
	rec_expect(r2, XP(CLEAR, a, a + SZ_4K));
	assert_int_equal(mt_stats(mm).notifications, st.notifications + 1);
	assert_int_equal(mmu_notifier_unregister(&r1->mn, mm), 0);
	assert_int_equal(mmu_notifier_unregister(&r1->mn, mm), -EINVAL);
	assert_mm_ok();
	/* r1 no longer watches: it would see an unannounced change. */
	rec_begin(r1, a, a);
	rec_begin(r2, a, a + SZ_16K);
	assert_int_equal(mm_munmap(mm, a + SZ_4K, SZ_4K), 0);
	rec_expect_none(r1);
	rec_expect(r2, XP(UNMAP, a + SZ_4K, a + SZ_8K));
	assert_int_equal(mmu_notifier_unregister(&r2->mn, mm), 0);
	assert_mm_ok();
	r1->mm = NULL;
	r2->mm = NULL;
	rec_free(r1);
	rec_free(r2);
	mt_teardown();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fill_silent),
		cmocka_unit_test(test_munmap),
		cmocka_unit_test(test_dontneed),
		cmocka_unit_test(test_cow),
		cmocka_unit_test(test_cow_thp),
		cmocka_unit_test(test_cow_thp_57),
		cmocka_unit_test(test_cow_hugetlb),
		cmocka_unit_test(test_fork),
		cmocka_unit_test(test_fork_pinned),
		cmocka_unit_test(test_mprotect),
		cmocka_unit_test(test_exit),
		cmocka_unit_test(test_mremap),
		cmocka_unit_test(test_madv_free),
		cmocka_unit_test(test_register),
	};
	int ret;

	hmmsim_thread_register();
	ret = cmocka_run_group_tests_name("mm_notifier", tests, NULL, NULL);
	hmmsim_thread_unregister();
	return ret;
}
