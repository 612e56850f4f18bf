// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * hmm_notifier: interval notifiers (linux-hmm.md §3, §8.7; cpu-mm-spec §7,
 * §8, §9.11). Insert and remove with their bad input; the sequence protocol
 * (read_begin, read_retry, check_retry, set_seq), including nested
 * invalidations and the silent transitions that must not touch it; the
 * event and range each CPU operation delivers to an interval; mm_exit
 * (RELEASE then UNMAP, intervals survive). The waiting half, with threads,
 * is test_hmm_notifier_wait.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <hmmsim/hmm.h>

#include "mm_test.h"

#define RW	(MM_PROT_READ | MM_PROT_WRITE)
#define ANON	(MM_MAP_PRIVATE | MM_MAP_ANONYMOUS)
#define MAX_EV	64

/* ------------------------------------------------------------------------ */
/* A recording driver                                                       */
/* ------------------------------------------------------------------------ */

struct drv {
	struct mmu_interval_notifier sub;	/* first: the callback casts */
	pthread_mutex_t lock;			/* the driver update lock */
	unsigned int n;				/* invalidate calls */
	struct mmu_notifier_range ev[MAX_EV];
	uint64_t ev_seq[MAX_EV];		/* cur_seq of each call */
};

static bool drv_invalidate(struct mmu_interval_notifier *sub,
			   const struct mmu_notifier_range *range, uint64_t cur_seq)
{
	struct drv *d = (struct drv *)sub;

	pthread_mutex_lock(&d->lock);
	mmu_interval_set_seq(sub, cur_seq);
	if (d->n < MAX_EV) {
		d->ev[d->n] = *range;
		d->ev_seq[d->n] = cur_seq;
	}
	d->n++;
	pthread_mutex_unlock(&d->lock);
	return true;
}

static const struct mmu_interval_notifier_ops drv_ops = { .invalidate = drv_invalidate };

static void drv_init(struct drv *d)
{
	memset(d, 0, sizeof(*d));
	pthread_mutex_init(&d->lock, NULL);
}

static void drv_insert(struct drv *d, struct mm_struct *mm, uint64_t start, uint64_t len)
{
	drv_init(d);
	assert_ret(mmu_interval_notifier_insert(&d->sub, mm, start, len, &drv_ops), 0);
}

static void drv_remove(struct drv *d)
{
	assert_ret(mmu_interval_notifier_remove(&d->sub), 0);
	pthread_mutex_destroy(&d->lock);
}

static unsigned int drv_count(struct drv *d)
{
	unsigned int n;

	pthread_mutex_lock(&d->lock);
	n = d->n;
	pthread_mutex_unlock(&d->lock);
	return n;
}

/* Forget the recorded calls. */
static void drv_reset(struct drv *d)
{
	pthread_mutex_lock(&d->lock);
	d->n = 0;
	pthread_mutex_unlock(&d->lock);
}

/* read_retry as a driver does it: under the driver lock. */
static bool drv_retry(struct drv *d, uint64_t seq)
{
	bool r;

	pthread_mutex_lock(&d->lock);
	r = mmu_interval_read_retry(&d->sub, seq);
	pthread_mutex_unlock(&d->lock);
	return r;
}

/* Assert call @i: @event over exactly [start, end), blockable, no owner, odd sequence. */
#define assert_ev(d, i, event, start, end) \
	assert_ev_at((d), (i), (event), (start), (end), __FILE__, __LINE__)
static void assert_ev_at(struct drv *d, unsigned int i, enum mmu_notifier_event event,
			 uint64_t start, uint64_t end, const char *file, int line)
{
	const struct mmu_notifier_range *r = &d->ev[i];

	if (i >= d->n || i >= MAX_EV) {
		print_error("call %u of %u recorded\n", i, d->n);
		_fail(file, line);
	}
	if (r->event != event || r->start != start || r->end != end ||
	    !(r->flags & MMU_NOTIFIER_RANGE_BLOCKABLE) || r->owner || !(d->ev_seq[i] & 1)) {
		print_error("call %u: %s [%#" PRIx64 ", %#" PRIx64 ") flags %#x owner %p seq %"
			    PRIu64 "; expected %s [%#" PRIx64 ", %#" PRIx64 "), blockable, no "
			    "owner, odd seq\n", i, mmu_notifier_event_name(r->event), r->start,
			    r->end, r->flags, r->owner, d->ev_seq[i],
			    mmu_notifier_event_name(event), start, end);
		_fail(file, line);
	}
}

/* ------------------------------------------------------------------------ */
/* Tests                                                                    */
/* ------------------------------------------------------------------------ */

/* §3.1: bad arguments are refused and leave the notifier insertable. */
static void test_insert_bad_input(void **state)
{
	static const struct mmu_interval_notifier_ops no_cb = { .invalidate = NULL };
	struct mm_struct *mm;
	struct drv d;
	uint64_t a;

	(void)state;
	mt_setup(NULL);
	mm = mt_proc(NULL);
	a = mt_anon(mm, 4 * SZ_4K);
	drv_init(&d);

	assert_ret(mmu_interval_notifier_insert(NULL, mm, a, SZ_4K, &drv_ops), -EINVAL);
	assert_ret(mmu_interval_notifier_insert(&d.sub, NULL, a, SZ_4K, &drv_ops), -EINVAL);
	assert_ret(mmu_interval_notifier_insert(&d.sub, mm, a, SZ_4K, NULL), -EINVAL);
	assert_ret(mmu_interval_notifier_insert(&d.sub, mm, a, SZ_4K, &no_cb), -EINVAL);
	assert_ret(mmu_interval_notifier_insert(&d.sub, mm, a, 0, &drv_ops), -EOVERFLOW);
	/* [start, start + length - 1] wraps past the top. */
	assert_ret(mmu_interval_notifier_insert(&d.sub, mm, UINT64_MAX - SZ_4K + 1, 2 * SZ_4K,
						&drv_ops), -EOVERFLOW);
	assert_ret(mmu_interval_notifier_insert(&d.sub, mm, SZ_4K, UINT64_MAX, &drv_ops),
		   -EOVERFLOW);
	mmap_write_lock(mm);
	assert_ret(mmu_interval_notifier_insert_locked(&d.sub, mm, a, 0, &drv_ops), -EOVERFLOW);
	assert_ret(mmu_interval_notifier_insert_locked(&d.sub, NULL, a, SZ_4K, &drv_ops),
		   -EINVAL);
	assert_ret(mmu_interval_notifier_insert_locked(&d.sub, mm, a, SZ_4K, NULL), -EINVAL);
	mmap_write_unlock(mm);
	assert_false(d.sub.inserted);

	/* Never inserted: nothing to remove. */
	assert_ret(mmu_interval_notifier_remove(&d.sub), -EINVAL);
	assert_ret(mmu_interval_notifier_remove(NULL), -EINVAL);

	/* Still usable after all that; a second insert of it is refused. */
	assert_ret(mmu_interval_notifier_insert(&d.sub, mm, a, SZ_4K, &drv_ops), 0);
	assert_ret(mmu_interval_notifier_insert(&d.sub, mm, a, SZ_4K, &drv_ops), -EINVAL);
	mmap_write_lock(mm);
	assert_ret(mmu_interval_notifier_insert_locked(&d.sub, mm, a, SZ_4K, &drv_ops), -EINVAL);
	mmap_write_unlock(mm);
	/* The refused inserts did not move it. */
	assert_int_equal(d.sub.start, a);
	assert_int_equal(d.sub.last, a + SZ_4K - 1);
	assert_ret(mm_madvise(mm, a, SZ_4K, MM_MADV_DONTNEED), 0);
	assert_int_equal(drv_count(&d), 1);
	drv_remove(&d);
	assert_ret(mmu_interval_notifier_remove(&d.sub), -EINVAL);
	assert_mm_ok();
	mt_teardown();
}

/*
 * insert and insert_locked watch [start, start + length); remove stops the
 * callbacks; a removed notifier can be inserted again, in another mm too.
 */
static void test_insert_remove(void **state)
{
	struct mm_struct *mm, *mm2;
	struct drv d, l;
	uint64_t a, b;

	(void)state;
	mt_setup(NULL);
	mm = mt_proc(NULL);
	mm2 = mt_proc(NULL);
	a = mt_anon(mm, 8 * SZ_4K);
	b = mt_anon(mm2, 8 * SZ_4K);
	mt_memset(mm, a, 1, 8 * SZ_4K);
	mt_memset(mm2, b, 2, 8 * SZ_4K);

	drv_insert(&d, mm, a, 4 * SZ_4K);
	assert_true(d.sub.inserted);
	assert_ptr_equal(d.sub.mm, mm);
	assert_ptr_equal(d.sub.ops, &drv_ops);
	assert_int_equal(d.sub.start, a);
	assert_int_equal(d.sub.last, a + 4 * SZ_4K - 1);

	drv_init(&l);
	mmap_write_lock(mm);
	assert_ret(mmu_interval_notifier_insert_locked(&l.sub, mm, a + 4 * SZ_4K, 4 * SZ_4K,
						       &drv_ops), 0);
	mmap_write_unlock(mm);
	assert_true(l.sub.inserted);
	assert_int_equal(l.sub.start, a + 4 * SZ_4K);
	assert_int_equal(l.sub.last, a + 8 * SZ_4K - 1);

	/* Each sees the invalidations of its own half only. */
	assert_ret(mm_madvise(mm, a, SZ_4K, MM_MADV_DONTNEED), 0);
	assert_int_equal(drv_count(&d), 1);
	assert_int_equal(drv_count(&l), 0);
	assert_ret(mm_madvise(mm, a + 7 * SZ_4K, SZ_4K, MM_MADV_DONTNEED), 0);
	assert_int_equal(drv_count(&d), 1);
	assert_int_equal(drv_count(&l), 1);
	assert_ev(&l, 0, MMU_NOTIFY_CLEAR, a + 7 * SZ_4K, a + 8 * SZ_4K);

	/* After remove: no callback any more, the other interval still served. */
	assert_ret(mmu_interval_notifier_remove(&d.sub), 0);
	assert_false(d.sub.inserted);
	assert_ret(mm_munmap(mm, a, 8 * SZ_4K), 0);
	assert_int_equal(drv_count(&d), 1);
	assert_int_equal(drv_count(&l), 2);
	assert_ev(&l, 1, MMU_NOTIFY_UNMAP, a, a + 8 * SZ_4K);
	assert_ret(mmu_interval_notifier_remove(&d.sub), -EINVAL);
	drv_remove(&l);

	/* Inserted again, into another mm: it serves that one. */
	drv_reset(&d);
	assert_ret(mmu_interval_notifier_insert(&d.sub, mm2, b, 8 * SZ_4K, &drv_ops), 0);
	assert_ptr_equal(d.sub.mm, mm2);
	assert_ret(mm_madvise(mm2, b + SZ_4K, SZ_4K, MM_MADV_DONTNEED), 0);
	assert_int_equal(drv_count(&d), 1);
	assert_ev(&d, 0, MMU_NOTIFY_CLEAR, b + SZ_4K, b + 2 * SZ_4K);
	drv_remove(&d);
	assert_mm_ok();
	mt_teardown();
}

/*
 * §3.2: read_begin returns at once when idle; read_retry and check_retry
 * are false until an invalidation overlapping the interval (inclusive
 * last, exclusive range end) sets the sequence; what does not overlap, and
 * the transitions that notify nobody (none -> present, a silent write
 * upgrade, cpu-mm-spec §8), leave it alone. Sequences are odd, grow, and a
 * nested invalidation hands both calls the same one.
 */
static void test_seq_protocol(void **state)
{
	struct mm_struct *mm, *mm2, *child;
	struct drv d, e, o;
	uint64_t a, b, t, s, s2, se, so, last_cur;

	(void)state;
	mt_setup(NULL);
	mm = mt_proc(NULL);
	mm2 = mt_proc(NULL);
	a = mt_anon(mm, 16 * SZ_4K);
	b = mt_anon(mm2, 16 * SZ_4K);
	/* d watches pages 4..7 of a; e pages 8..11; o the same addresses in mm2. */
	drv_insert(&d, mm, a + 4 * SZ_4K, 4 * SZ_4K);
	drv_insert(&e, mm, a + 8 * SZ_4K, 4 * SZ_4K);
	drv_insert(&o, mm2, b + 4 * SZ_4K, 4 * SZ_4K);

	s = mmu_interval_read_begin(&d.sub);
	se = mmu_interval_read_begin(&e.sub);
	so = mmu_interval_read_begin(&o.sub);
	assert_false(drv_retry(&d, s));
	assert_false(mmu_interval_check_retry(&d.sub, s));
	assert_int_equal(mmu_interval_read_begin(&d.sub), s);

	/* Faults into holes (none -> present, zero page included): no notification. */
	mt_memset(mm, a, 0x11, 16 * SZ_4K);
	mt_touch(mm2, b + 5 * SZ_4K);
	assert_int_equal(drv_count(&d) + drv_count(&e) + drv_count(&o), 0);
	assert_false(drv_retry(&d, s));

	/* Invalidations touching the interval's neighbours only. */
	assert_ret(mm_madvise(mm, a, 4 * SZ_4K, MM_MADV_DONTNEED), 0);	/* ends at start */
	assert_ret(mm_madvise(mm, a + 12 * SZ_4K, 4 * SZ_4K, MM_MADV_DONTNEED), 0);
	assert_ret(mm_madvise(mm2, b, 16 * SZ_4K, MM_MADV_DONTNEED), 0);	/* another mm */
	assert_int_equal(drv_count(&d), 0);
	assert_int_equal(drv_count(&e), 0);
	assert_int_equal(drv_count(&o), 1);
	assert_false(drv_retry(&d, s));
	assert_false(mmu_interval_check_retry(&d.sub, s));
	assert_false(drv_retry(&e, se));
	assert_true(drv_retry(&o, so));

	/* One page of e's interval: e only. */
	assert_ret(mm_madvise(mm, a + 8 * SZ_4K, SZ_4K, MM_MADV_DONTNEED), 0);
	assert_int_equal(drv_count(&d), 0);
	assert_int_equal(drv_count(&e), 1);
	assert_ev(&e, 0, MMU_NOTIFY_CLEAR, a + 8 * SZ_4K, a + 9 * SZ_4K);
	assert_true(drv_retry(&e, se));
	assert_true(mmu_interval_check_retry(&e.sub, se));
	assert_false(drv_retry(&d, s));
	last_cur = e.ev_seq[0];

	/* Its last page and the next page (d's last and e's first): both. */
	assert_ret(mm_madvise(mm, a + 7 * SZ_4K, 2 * SZ_4K, MM_MADV_DONTNEED), 0);
	assert_int_equal(drv_count(&d), 1);
	assert_int_equal(drv_count(&e), 2);
	assert_ev(&d, 0, MMU_NOTIFY_CLEAR, a + 7 * SZ_4K, a + 9 * SZ_4K);
	/* One invalidation: the same odd sequence for both, above the last one. */
	assert_int_equal(d.ev_seq[0], e.ev_seq[1]);
	assert_true(d.ev_seq[0] > last_cur);
	assert_true(drv_retry(&d, s));
	assert_true(mmu_interval_check_retry(&d.sub, s));

	/* read_begin again: the new sequence, at once; retry is false until the next. */
	s2 = mmu_interval_read_begin(&d.sub);
	assert_int_not_equal(s2, s);
	assert_int_equal(s2, d.ev_seq[0]);
	assert_false(drv_retry(&d, s2));
	assert_false(mmu_interval_check_retry(&d.sub, s2));
	/* A stale sequence stays stale. */
	assert_true(drv_retry(&d, s));

	/* A silent upgrade: COW reuse after the child exited (cpu-mm-spec §9.4). */
	mt_memset(mm, a + 4 * SZ_4K, 0x22, SZ_4K);
	child = mt_fork(mm);
	assert_int_equal(drv_count(&d), 2);		/* fork: PROTECTION_PAGE */
	assert_ev(&d, 1, MMU_NOTIFY_PROTECTION_PAGE, a, a + 16 * SZ_4K);
	mt_exit(child);
	s2 = mmu_interval_read_begin(&d.sub);
	assert_codes(mm, a + 4 * SZ_4K, SZ_4K, "1:px.");
	mt_memset(mm, a + 4 * SZ_4K, 0x23, SZ_4K);
	assert_codes(mm, a + 4 * SZ_4K, SZ_4K, "1:pxw");
	assert_int_equal(drv_count(&d), 2);
	assert_false(drv_retry(&d, s2));

	/* A nested invalidation (a THP split inside a DONTNEED): one sequence. */
	t = mt_anon_thp(mm, SZ_2M);
	mt_memset(mm, t, 0x33, SZ_2M);
	assert_codes(mm, t, SZ_2M, "512:Hxw");
	drv_remove(&d);
	drv_insert(&d, mm, t, SZ_2M);
	s = mmu_interval_read_begin(&d.sub);
	assert_ret(mm_madvise(mm, t + 8 * SZ_4K, SZ_4K, MM_MADV_DONTNEED), 0);
	assert_int_equal(drv_count(&d), 2);
	assert_ev(&d, 0, MMU_NOTIFY_CLEAR, t + 8 * SZ_4K, t + 9 * SZ_4K);
	assert_ev(&d, 1, MMU_NOTIFY_CLEAR, t, t + SZ_2M);
	assert_int_equal(d.ev_seq[0], d.ev_seq[1]);
	assert_true(drv_retry(&d, s));
	/* It is over: read_begin does not wait. */
	s2 = mmu_interval_read_begin(&d.sub);
	assert_int_equal(s2, d.ev_seq[1]);
	assert_false(drv_retry(&d, s2));

	drv_remove(&d);
	drv_remove(&e);
	drv_remove(&o);
	assert_mm_ok();
	mt_teardown();
}

/* The index of the first recorded call of @event at or after @from, or -1. */
static int find_ev(struct drv *d, unsigned int from, enum mmu_notifier_event event)
{
	unsigned int i;

	for (i = from; i < d->n && i < MAX_EV; i++)
		if (d->ev[i].event == event)
			return (int)i;
	return -1;
}

/*
 * The event and range an interval gets for each operation (cpu-mm-spec
 * §8, §9.3-9.7): munmap UNMAP, mprotect PROTECTION_VMA (none when nothing
 * is populated), DONTNEED CLEAR, fork PROTECTION_PAGE over each COW VMA
 * that has anon pages (none for a never-faulted, zero-page-only or shared
 * VMA), a COW CLEAR of the page, a shared THP COW CLEAR 2M then CLEAR 4K,
 * a partial munmap of a THP CLEAR 2M then UNMAP.
 */
static void test_events(void **state)
{
	struct mm_struct *mm, *child;
	struct drv d;
	uint64_t a, z, sh, t;
	int i;

	(void)state;
	mt_setup(NULL);
	mm = mt_proc(NULL);
	a = mt_anon(mm, 8 * SZ_4K);
	drv_insert(&d, mm, 0, MM_TASK_SIZE);

	/* mprotect of nothing populated: silent. */
	assert_ret(mm_mprotect(mm, a, 8 * SZ_4K, MM_PROT_READ), 0);
	assert_int_equal(drv_count(&d), 0);
	assert_ret(mm_mprotect(mm, a, 8 * SZ_4K, RW), 0);
	assert_int_equal(drv_count(&d), 0);

	/* Pages 2 and 3 populated: PROTECTION_VMA over them, inside the range. */
	mt_memset(mm, a + 2 * SZ_4K, 0x44, 2 * SZ_4K);
	assert_int_equal(drv_count(&d), 0);
	assert_ret(mm_mprotect(mm, a, 8 * SZ_4K, MM_PROT_READ), 0);
	assert_int_equal(drv_count(&d), 1);
	assert_int_equal(d.ev[0].event, MMU_NOTIFY_PROTECTION_VMA);
	assert_true(d.ev[0].start >= a && d.ev[0].start <= a + 2 * SZ_4K);
	assert_int_equal(d.ev[0].end, a + 8 * SZ_4K);
	assert_true(d.ev_seq[0] & 1);
	assert_ret(mm_mprotect(mm, a, 8 * SZ_4K, RW), 0);
	drv_reset(&d);

	/* DONTNEED: CLEAR over exactly the range. */
	assert_ret(mm_madvise(mm, a + SZ_4K, 3 * SZ_4K, MM_MADV_DONTNEED), 0);
	assert_int_equal(drv_count(&d), 1);
	assert_ev(&d, 0, MMU_NOTIFY_CLEAR, a + SZ_4K, a + 4 * SZ_4K);
	drv_reset(&d);

	/* fork: PROTECTION_PAGE over the populated private VMA only. */
	mt_memset(mm, a, 0x45, 8 * SZ_4K);
	mt_anon(mm, 4 * SZ_4K);					/* never faulted */
	z = mt_anon(mm, 4 * SZ_4K);				/* zero page only */
	mt_touch(mm, z);
	sh = mt_mmap(mm, 4 * SZ_4K, RW, MM_MAP_SHARED | MM_MAP_ANONYMOUS, 0, 0);
	mt_memset(mm, sh, 0x46, 4 * SZ_4K);
	drv_reset(&d);
	child = mt_fork(mm);
	assert_int_equal(drv_count(&d), 1);
	assert_ev(&d, 0, MMU_NOTIFY_PROTECTION_PAGE, a, a + 8 * SZ_4K);

	/* The parent writes a shared page: CLEAR of that page (COW copy). */
	drv_reset(&d);
	mt_memset(mm, a + 5 * SZ_4K, 0x47, SZ_4K);
	assert_int_equal(drv_count(&d), 1);
	assert_ev(&d, 0, MMU_NOTIFY_CLEAR, a + 5 * SZ_4K, a + 6 * SZ_4K);
	/* The child's writes are not the parent's business. */
	drv_reset(&d);
	mt_memset(child, a + 6 * SZ_4K, 0x48, SZ_4K);
	assert_int_equal(drv_count(&d), 0);
	mt_exit(child);
	assert_int_equal(drv_count(&d), 0);

	/* A shared PMD THP written by the parent (5.8+): CLEAR 2M, then CLEAR 4K. */
	t = mt_anon_thp(mm, 2 * SZ_2M);
	mt_memset(mm, t, 0x49, 2 * SZ_2M);
	child = mt_fork(mm);
	drv_reset(&d);
	mt_memset(mm, t + 3 * SZ_4K, 0x4a, SZ_4K);
	assert_int_equal(drv_count(&d), 2);
	assert_ev(&d, 0, MMU_NOTIFY_CLEAR, t, t + SZ_2M);
	assert_ev(&d, 1, MMU_NOTIFY_CLEAR, t + 3 * SZ_4K, t + 4 * SZ_4K);
	mt_exit(child);

	/* munmap of part of the second THP: CLEAR 2M for the edge split, UNMAP the range. */
	drv_reset(&d);
	assert_ret(mm_munmap(mm, t + SZ_2M, 16 * SZ_4K), 0);
	i = find_ev(&d, 0, MMU_NOTIFY_CLEAR);
	assert_true(i >= 0);
	assert_ev(&d, (unsigned int)i, MMU_NOTIFY_CLEAR, t + SZ_2M, t + 2 * SZ_2M);
	i = find_ev(&d, (unsigned int)i + 1, MMU_NOTIFY_UNMAP);
	assert_true(i >= 0);
	assert_ev(&d, (unsigned int)i, MMU_NOTIFY_UNMAP, t + SZ_2M, t + SZ_2M + 16 * SZ_4K);
	assert_int_equal(drv_count(&d), 2);

	/* munmap of a whole VMA: one UNMAP. */
	drv_reset(&d);
	assert_ret(mm_munmap(mm, a, 8 * SZ_4K), 0);
	assert_int_equal(drv_count(&d), 1);
	assert_ev(&d, 0, MMU_NOTIFY_UNMAP, a, a + 8 * SZ_4K);

	drv_remove(&d);
	assert_mm_ok();
	mt_teardown();
}

/*
 * §3.2, cpu-mm-spec §9.11: exit calls each interval with RELEASE over
 * everything, then UNMAP over everything; the intervals stay inserted (but
 * watch nothing), remove then returns 0 once; an interval of another mm is
 * not touched.
 */
static void test_exit(void **state)
{
	struct mm_struct *mm, *other;
	struct drv d, w, o;
	uint64_t a, b, s, sw, so, pfns[4] = { 0 };
	struct hmm_range range = { 0 };

	(void)state;
	mt_setup(NULL);
	mm = mt_proc(NULL);
	other = mt_proc(NULL);
	a = mt_anon(mm, 4 * SZ_4K);
	b = mt_anon(other, 4 * SZ_4K);
	mt_memset(mm, a, 0x51, 4 * SZ_4K);
	mt_memset(other, b, 0x52, 4 * SZ_4K);
	drv_insert(&d, mm, a, 4 * SZ_4K);
	drv_insert(&w, mm, 0, MM_TASK_SIZE);
	drv_insert(&o, other, b, 4 * SZ_4K);
	s = mmu_interval_read_begin(&d.sub);
	sw = mmu_interval_read_begin(&w.sub);
	so = mmu_interval_read_begin(&o.sub);

	mt_exit(mm);
	assert_int_equal(d.n, 2);
	assert_int_equal(d.ev[0].event, MMU_NOTIFY_RELEASE);
	assert_int_equal(d.ev[0].start, 0);
	assert_true(d.ev[0].end >= MM_TASK_SIZE);
	assert_int_equal(d.ev[1].event, MMU_NOTIFY_UNMAP);
	assert_int_equal(d.ev[1].start, 0);
	assert_true(d.ev[1].end >= MM_TASK_SIZE);
	assert_true((d.ev_seq[0] & 1) && (d.ev_seq[1] & 1));
	assert_true(d.ev_seq[1] > d.ev_seq[0]);
	assert_int_equal(w.n, 2);
	assert_int_equal(w.ev[0].event, MMU_NOTIFY_RELEASE);
	assert_int_equal(w.ev[1].event, MMU_NOTIFY_UNMAP);
	assert_int_equal(drv_count(&o), 0);
	assert_false(drv_retry(&o, so));

	/* Still inserted; the sequences tell the driver it all went. */
	assert_true(d.sub.inserted);
	assert_true(drv_retry(&d, s));
	assert_true(drv_retry(&w, sw));
	/* read_begin does not wait on a gone mm; hmm_range_fault refuses it. */
	s = mmu_interval_read_begin(&d.sub);
	assert_false(drv_retry(&d, s));
	range.notifier = &d.sub;
	range.notifier_seq = s;
	range.start = a;
	range.end = a + 4 * SZ_4K;
	range.hmm_pfns = pfns;
	assert_ret(hmm_range_fault(&range), -EINVAL);

	assert_ret(mmu_interval_notifier_remove(&d.sub), 0);
	assert_ret(mmu_interval_notifier_remove(&d.sub), -EINVAL);
	assert_ret(mmu_interval_notifier_remove(&w.sub), 0);
	assert_false(d.sub.inserted);
	assert_int_equal(d.n, 2);
	pthread_mutex_destroy(&d.lock);
	pthread_mutex_destroy(&w.lock);

	/* The other process is untouched and still served. */
	assert_ret(mm_madvise(other, b, SZ_4K, MM_MADV_DONTNEED), 0);
	assert_int_equal(drv_count(&o), 1);
	drv_remove(&o);
	/* A removed notifier goes into a new mm as if new. */
	mm = mt_proc(NULL);
	a = mt_anon(mm, SZ_4K);
	drv_insert(&d, mm, a, SZ_4K);
	mt_exit(mm);
	assert_int_equal(d.n, 2);
	drv_remove(&d);
	assert_mm_ok();
	mt_teardown();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_insert_bad_input),
		cmocka_unit_test(test_insert_remove),
		cmocka_unit_test(test_seq_protocol),
		cmocka_unit_test(test_events),
		cmocka_unit_test(test_exit),
	};
	int ret;

	hmmsim_thread_register();
	ret = cmocka_run_group_tests_name("hmm_notifier", tests, NULL, NULL);
	hmmsim_thread_unregister();
	return ret;
}
