// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * hmm_notifier_wait: the waiting half of the interval notifier protocol,
 * with real threads (linux-hmm.md §3.1, §3.2, §8.7). An invalidation is
 * held inside its invalidate callback on a gate while other threads show
 * that read_begin sleeps until it ends (and then returns the sequence the
 * callback set), that remove waits for it (and no callback runs after),
 * that an interval the range does not touch is not held up, and that
 * hmm_range_fault with a sequence taken before it returns -EBUSY at once,
 * output untouched, the retry then seeing the new page.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hmmsim/hmm.h>

#include "mm_test.h"

#define MAX_EV	64

/* How long a thread is given to show it is blocked, and to get anywhere at all. */
#define BLOCKED_US	100000
#define GATE_TIMEOUT_S	10

/* ------------------------------------------------------------------------ */
/* A recording driver                                                       */
/* ------------------------------------------------------------------------ */

/*
 * A gate an invalidate callback can be held on: armed, the next callback
 * says it entered and waits until the test opens it.
 */
struct gate {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool armed;
	bool entered;
	bool open;
};

struct drv {
	struct mmu_interval_notifier sub;	/* first: the callback casts */
	pthread_mutex_t lock;			/* the driver update lock */
	unsigned int n;				/* invalidate calls */
	struct mmu_notifier_range ev[MAX_EV];
	uint64_t ev_seq[MAX_EV];		/* cur_seq of each call */
	struct gate *gate;
};

static bool drv_invalidate(struct mmu_interval_notifier *sub,
			   const struct mmu_notifier_range *range, uint64_t cur_seq)
{
	struct drv *d = (struct drv *)sub;
	struct gate *g = d->gate;

	pthread_mutex_lock(&d->lock);
	mmu_interval_set_seq(sub, cur_seq);
	if (d->n < MAX_EV) {
		d->ev[d->n] = *range;
		d->ev_seq[d->n] = cur_seq;
	}
	d->n++;
	pthread_mutex_unlock(&d->lock);

	if (g) {
		pthread_mutex_lock(&g->lock);
		if (g->armed) {
			g->armed = false;
			g->entered = true;
			pthread_cond_broadcast(&g->cond);
			while (!g->open)
				pthread_cond_wait(&g->cond, &g->lock);
		}
		pthread_mutex_unlock(&g->lock);
	}
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

static void gate_init(struct gate *g)
{
	memset(g, 0, sizeof(*g));
	pthread_mutex_init(&g->lock, NULL);
	pthread_cond_init(&g->cond, NULL);
	g->armed = true;
}

static void gate_destroy(struct gate *g)
{
	pthread_mutex_destroy(&g->lock);
	pthread_cond_destroy(&g->cond);
}

/* Wait (bounded) until a callback is held on @g. */
static void gate_wait_entered(struct gate *g)
{
	struct timespec ts;
	bool entered;
	int err = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += GATE_TIMEOUT_S;
	pthread_mutex_lock(&g->lock);
	while (!g->entered && err != ETIMEDOUT)
		err = pthread_cond_timedwait(&g->cond, &g->lock, &ts);
	entered = g->entered;
	pthread_mutex_unlock(&g->lock);
	assert_true(entered);
}

static void gate_open(struct gate *g)
{
	pthread_mutex_lock(&g->lock);
	g->open = true;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
}

/* ------------------------------------------------------------------------ */
/* Threads: waiting for an invalidation in progress                         */
/* ------------------------------------------------------------------------ */

struct op_thread {
	pthread_t th;
	struct mm_struct *mm;
	uint64_t addr, len;
	struct drv *d;
	int kind;		/* what run_op does */
	int ret;
	uint64_t seq;
	int done;		/* atomic */
};

enum { OP_DONTNEED, OP_MEMSET, OP_MUNMAP, OP_READ_BEGIN, OP_REMOVE };

static void *run_op(void *arg)
{
	struct op_thread *t = arg;

	hmmsim_thread_register();
	switch (t->kind) {
	case OP_DONTNEED:
		t->ret = mm_madvise(t->mm, t->addr, t->len, MM_MADV_DONTNEED);
		break;
	case OP_MEMSET:
		t->ret = mm_memset(t->mm, t->addr, 0x77, t->len);
		break;
	case OP_MUNMAP:
		t->ret = mm_munmap(t->mm, t->addr, t->len);
		break;
	case OP_READ_BEGIN:
		t->seq = mmu_interval_read_begin(&t->d->sub);
		break;
	case OP_REMOVE:
		t->ret = mmu_interval_notifier_remove(&t->d->sub);
		break;
	}
	__atomic_store_n(&t->done, 1, __ATOMIC_RELEASE);
	hmmsim_thread_unregister();
	return NULL;
}

static void op_start(struct op_thread *t, int kind)
{
	t->kind = kind;
	t->done = 0;
	assert_int_equal(pthread_create(&t->th, NULL, run_op, t), 0);
}

static bool op_done(struct op_thread *t)
{
	return __atomic_load_n(&t->done, __ATOMIC_ACQUIRE);
}

/* Give @t time to get through; assert it did not. */
static void assert_blocked(struct op_thread *t)
{
	usleep(BLOCKED_US);
	assert_false(op_done(t));
}

/*
 * read_begin sleeps while its interval is being invalidated (a munmap held
 * in the callback), then returns the sequence the callback set, which
 * read_retry then accepts; an interval of the same mm that the range does
 * not touch is not held up, nor is a sequence check.
 */
static void test_read_begin_blocks(void **state)
{
	struct op_thread inv = { 0 }, rb = { 0 };
	struct mm_struct *mm;
	struct gate g;
	struct drv d, e;
	uint64_t a, s, se;

	(void)state;
	mt_setup(NULL);
	mm = mt_proc(NULL);
	a = mt_anon(mm, 8 * SZ_4K);
	mt_memset(mm, a, 0x61, 8 * SZ_4K);
	drv_insert(&d, mm, a, 4 * SZ_4K);
	drv_insert(&e, mm, a + 4 * SZ_4K, 4 * SZ_4K);
	s = mmu_interval_read_begin(&d.sub);
	se = mmu_interval_read_begin(&e.sub);
	gate_init(&g);
	d.gate = &g;

	inv.mm = mm;
	inv.addr = a;
	inv.len = 2 * SZ_4K;
	op_start(&inv, OP_MUNMAP);
	gate_wait_entered(&g);
	/* The callback has set the sequence: the stale one is seen at once. */
	assert_true(mmu_interval_check_retry(&d.sub, s));
	assert_true(drv_retry(&d, s));

	rb.d = &d;
	op_start(&rb, OP_READ_BEGIN);
	assert_blocked(&rb);
	/* Not e: its interval is not being invalidated. */
	assert_int_equal(mmu_interval_read_begin(&e.sub), se);
	assert_false(drv_retry(&e, se));
	assert_false(op_done(&inv));

	gate_open(&g);
	assert_int_equal(pthread_join(inv.th, NULL), 0);
	assert_int_equal(pthread_join(rb.th, NULL), 0);
	assert_ret(inv.ret, 0);
	assert_int_equal(d.n, 1);
	assert_ev(&d, 0, MMU_NOTIFY_UNMAP, a, a + 2 * SZ_4K);
	assert_int_equal(rb.seq, d.ev_seq[0]);
	assert_false(drv_retry(&d, rb.seq));
	assert_int_equal(drv_count(&e), 0);
	assert_mm_ok();

	d.gate = NULL;
	gate_destroy(&g);
	drv_remove(&d);
	drv_remove(&e);
	mt_teardown();
}

/*
 * remove waits for an invalidation of the interval in progress; once it
 * returns, no callback runs.
 */
static void test_remove_waits(void **state)
{
	struct op_thread inv = { 0 }, rm = { 0 };
	struct mm_struct *mm;
	struct gate g;
	struct drv d;
	uint64_t a;

	(void)state;
	mt_setup(NULL);
	mm = mt_proc(NULL);
	a = mt_anon(mm, 8 * SZ_4K);
	mt_memset(mm, a, 0x62, 8 * SZ_4K);
	drv_insert(&d, mm, a, 8 * SZ_4K);
	gate_init(&g);
	d.gate = &g;

	inv.mm = mm;
	inv.addr = a;
	inv.len = 4 * SZ_4K;
	op_start(&inv, OP_DONTNEED);
	gate_wait_entered(&g);

	rm.d = &d;
	op_start(&rm, OP_REMOVE);
	assert_blocked(&rm);
	gate_open(&g);
	assert_int_equal(pthread_join(inv.th, NULL), 0);
	assert_int_equal(pthread_join(rm.th, NULL), 0);
	assert_ret(inv.ret, 0);
	assert_ret(rm.ret, 0);
	assert_false(d.sub.inserted);
	assert_int_equal(d.n, 1);

	/* Gone: nothing more reaches it. */
	assert_ret(mm_madvise(mm, a + 4 * SZ_4K, 4 * SZ_4K, MM_MADV_DONTNEED), 0);
	assert_ret(mm_munmap(mm, a, 8 * SZ_4K), 0);
	assert_int_equal(d.n, 1);
	assert_ret(mmu_interval_notifier_remove(&d.sub), -EINVAL);
	assert_mm_ok();

	gate_destroy(&g);
	pthread_mutex_destroy(&d.lock);
	mt_teardown();
}

/*
 * A CPU write (COW of the zero page, under the mmap_lock held for reading)
 * invalidates the interval while the driver faults: hmm_range_fault with
 * the sequence taken before returns -EBUSY with the output untouched, even
 * while the invalidation is still in progress; read_begin waits for it to
 * end, and the retried call sees the new page.
 */
static void test_fault_races_invalidation(void **state)
{
	struct op_thread cpu = { 0 }, rb = { 0 };
	struct hmm_range range = { 0 };
	struct mm_struct *mm;
	uint64_t a, s, pfns[4], i;
	struct mt_page pg;
	struct gate g;
	struct drv d;

	(void)state;
	mt_setup(NULL);
	mm = mt_proc(NULL);
	a = mt_anon(mm, 4 * SZ_4K);
	mt_touch(mm, a + SZ_4K);			/* the zero page */
	mt_memset(mm, a + 2 * SZ_4K, 0x63, 2 * SZ_4K);
	drv_insert(&d, mm, a, 4 * SZ_4K);
	gate_init(&g);
	d.gate = &g;
	range.notifier = &d.sub;
	range.start = a;
	range.end = a + 4 * SZ_4K;
	range.hmm_pfns = pfns;
	range.default_flags = HMM_PFN_REQ_FAULT;
	s = mmu_interval_read_begin(&d.sub);

	cpu.mm = mm;
	cpu.addr = a + SZ_4K;
	cpu.len = SZ_4K;
	op_start(&cpu, OP_MEMSET);
	gate_wait_entered(&g);

	/* The invalidation is in progress, with the mmap_lock held for reading. */
	for (i = 0; i < 4; i++)
		pfns[i] = 0x1000 + i;
	range.notifier_seq = s;
	mmap_read_lock(mm);
	assert_ret(hmm_range_fault(&range), -EBUSY);
	mmap_read_unlock(mm);
	for (i = 0; i < 4; i++)
		assert_int_equal(pfns[i], 0x1000 + i);
	rb.d = &d;
	op_start(&rb, OP_READ_BEGIN);
	assert_blocked(&rb);

	gate_open(&g);
	assert_int_equal(pthread_join(cpu.th, NULL), 0);
	assert_int_equal(pthread_join(rb.th, NULL), 0);
	assert_ret(cpu.ret, 0);
	assert_int_equal(d.n, 1);
	assert_ev(&d, 0, MMU_NOTIFY_CLEAR, a + SZ_4K, a + 2 * SZ_4K);

	/* Retried with the new sequence: the new page, writable. */
	range.notifier_seq = rb.seq;
	mmap_read_lock(mm);
	assert_ret(hmm_range_fault(&range), 0);
	mmap_read_unlock(mm);
	assert_false(drv_retry(&d, rb.seq));
	assert_true(mt_lookup(mm, a + SZ_4K, &pg));
	assert_false(pg.special);
	assert_int_equal(pfns[1], HMM_PFN_VALID | HMM_PFN_WRITE | pg.pfn);
	/* Page 0 was a hole: faulted as a read, the zero page. */
	assert_true(mt_lookup(mm, a, &pg));
	assert_true(pg.folio && is_zero_folio(pg.folio));
	assert_int_equal(pfns[0], HMM_PFN_VALID | pg.pfn);
	mt_expect(mm, a + SZ_4K, 0x77, SZ_4K);
	assert_mm_ok();

	d.gate = NULL;
	gate_destroy(&g);
	drv_remove(&d);
	mt_teardown();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_begin_blocks),
		cmocka_unit_test(test_remove_waits),
		cmocka_unit_test(test_fault_races_invalidation),
	};
	int ret;

	hmmsim_thread_register();
	ret = cmocka_run_group_tests_name("hmm_notifier_wait", tests, NULL, NULL);
	hmmsim_thread_unregister();
	return ret;
}
