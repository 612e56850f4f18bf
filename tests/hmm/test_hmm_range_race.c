// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * hmm_range_race: hmm_range_fault() against a changing address space, with
 * real threads (linux-hmm.md §1.4, §1.7, §3.2, §8.7; cpu-mm-spec §6.3,
 * §7.2). Driver threads run the kernel's retry loop (read_begin,
 * mmap_read_lock, hmm_range_fault, read_retry under the driver lock) over a
 * THP region, asking for snapshots, reads and writes of random sub-ranges,
 * while other threads mprotect, MADV_DONTNEED, munmap and mmap again at the
 * same address, fork, and write through the CPU. Every round that the
 * driver accepts is checked under its lock, which holds every invalidation
 * of its interval back, against the CPU page table read right then: each
 * VALID entry is the CPU's frame with its leaf order (aligned head + offset
 * for order 9), WRITE only where the CPU can write, and every page VALID
 * (and WRITE) where a fault (write) was asked. Each round is bounded, so the
 * loop always terminates; the -EBUSY returns are counted. The checkers run
 * at the end.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hmmsim/hmm.h>

#include "mm_test.h"

#define RW		(MM_PROT_READ | MM_PROT_WRITE)
#define ANON		(MM_MAP_PRIVATE | MM_MAP_ANONYMOUS)
#define REGION		(4 * SZ_2M)
#define NPAGES		PAGES(REGION)
#define RUN_NS		(1500 * UINT64_C(1000000))	/* each test's mutation time */
#define MAX_TRIES	4096				/* per round: > the pages of a COW */
#define NDRV		2

struct drv {
	struct mmu_interval_notifier sub;	/* first: the callback casts */
	pthread_mutex_t lock;
	uint64_t start, npages;			/* what it mirrors */
	uint64_t seed;
	uint64_t *pfns;
	/* Counters (the driver thread's own). */
	uint64_t rounds, ok, ebusy, retry, efault, eperm, gave_up, checked;
	uint64_t max_tries;
};

static struct {
	struct mm_struct *mm;
	uint64_t a;			/* the region */
	int stop;			/* atomic */
	int errors;			/* atomic */
	pthread_mutex_t msg_lock;
	char msg[512];			/* the first error */
	uint64_t mutations, cpu_writes;
} rc;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint32_t rnd(uint64_t *s)
{
	*s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
	return (uint32_t)(*s >> 33);
}

static bool stopping(void)
{
	return __atomic_load_n(&rc.stop, __ATOMIC_ACQUIRE);
}

static void error(const char *fmt, ...)
{
	va_list ap;

	if (__atomic_fetch_add(&rc.errors, 1, __ATOMIC_RELAXED))
		return;
	pthread_mutex_lock(&rc.msg_lock);
	va_start(ap, fmt);
	vsnprintf(rc.msg, sizeof(rc.msg), fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&rc.msg_lock);
}

static bool drv_invalidate(struct mmu_interval_notifier *sub,
			   const struct mmu_notifier_range *range, uint64_t cur_seq)
{
	struct drv *d = (struct drv *)sub;

	pthread_mutex_lock(&d->lock);
	mmu_interval_set_seq(sub, cur_seq);
	pthread_mutex_unlock(&d->lock);
	return true;
}

static const struct mmu_interval_notifier_ops drv_ops = { .invalidate = drv_invalidate };

/*
 * Under the driver lock, after read_retry said no: the output against the
 * CPU page table now. Invalidations of the interval wait for the lock, so
 * only silent transitions may have happened since the walk: a hole filled,
 * a write permission added.
 */
static void check_round(struct drv *d, uint64_t start, uint64_t n, uint64_t req)
{
	static const unsigned int lorder[] = { 0, 9, 18 };
	struct mt_page pg;
	uint64_t i, e, va, pfn;
	unsigned int order;

	for (i = 0; i < n; i++) {
		e = d->pfns[i];
		va = start + i * SZ_4K;
		if ((req & HMM_PFN_REQ_FAULT) &&
		    (!(e & HMM_PFN_VALID) ||
		     ((req & HMM_PFN_REQ_WRITE) && !(e & HMM_PFN_WRITE)))) {
			error("page %#" PRIx64 ": request %#" PRIx64 " answered %#" PRIx64 "\n",
			      va, req, e);
			return;
		}
		if (!(e & HMM_PFN_VALID))
			continue;
		order = hmm_pfn_to_map_order(e);
		pfn = hmm_pfn_to_pfn(e);
		if (!mt_lookup(rc.mm, va, &pg) || pg.kind != MM_PTE_PRESENT || pg.pfn != pfn ||
		    lorder[pg.level] != order || ((e & HMM_PFN_WRITE) && !pg.write) ||
		    (e & HMM_PFN_ERROR) ||
		    ((pfn - ((va >> MM_PAGE_SHIFT) & ((UINT64_C(1) << order) - 1))) &
		     ((UINT64_C(1) << order) - 1))) {
			error("page %#" PRIx64 ": entry %#" PRIx64 " but the CPU maps kind %d "
			      "pfn %#" PRIx64 " level %u write %d\n", va, e,
			      pg.mapped ? (int)pg.kind : -1, pg.pfn, pg.level, pg.write);
			return;
		}
		d->checked++;
	}
}

/* One device fault of a random sub-range: the kernel's loop, bounded. */
static void drv_round(struct drv *d)
{
	static const uint64_t reqs[] = {
		0, HMM_PFN_REQ_FAULT, HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE,
	};
	uint64_t off = rnd(&d->seed) % d->npages, n, req;
	struct hmm_range r;
	unsigned int tries;
	int ret;

	n = 1 + rnd(&d->seed) % (d->npages - off);
	req = reqs[rnd(&d->seed) % 3];
	memset(&r, 0, sizeof(r));
	r.notifier = &d->sub;
	r.start = d->start + off * SZ_4K;
	r.end = r.start + n * SZ_4K;
	r.hmm_pfns = d->pfns;
	r.default_flags = req;
	d->rounds++;
	for (tries = 1; tries <= MAX_TRIES; tries++) {
		r.notifier_seq = mmu_interval_read_begin(&d->sub);
		mmap_read_lock(rc.mm);
		ret = hmm_range_fault(&r);
		mmap_read_unlock(rc.mm);
		if (ret == -EBUSY) {
			d->ebusy++;
			continue;
		}
		if (ret == -EFAULT || ret == -EPERM) {
			/* Unmapped for a moment, or read-only: only with a fault asked. */
			if (!req || (ret == -EPERM && !(req & HMM_PFN_REQ_WRITE)))
				error("%s without the request for it (%#" PRIx64 ")\n",
				      ret == -EFAULT ? "-EFAULT" : "-EPERM", req);
			*(ret == -EFAULT ? &d->efault : &d->eperm) += 1;
			break;
		}
		if (ret) {
			error("hmm_range_fault() = %d\n", ret);
			break;
		}
		pthread_mutex_lock(&d->lock);
		if (mmu_interval_read_retry(&d->sub, r.notifier_seq)) {
			pthread_mutex_unlock(&d->lock);
			d->retry++;
			continue;
		}
		check_round(d, r.start, n, req);
		pthread_mutex_unlock(&d->lock);
		d->ok++;
		break;
	}
	if (tries > MAX_TRIES)
		d->gave_up++;
	if (tries > d->max_tries)
		d->max_tries = tries;
}

static void *drv_thread(void *arg)
{
	struct drv *d = arg;

	hmmsim_thread_register();
	while (!stopping())
		drv_round(d);
	hmmsim_thread_unregister();
	return NULL;
}

/* A random page-aligned piece of the region, biased to cut THPs. */
static void piece(uint64_t *seed, uint64_t *start, uint64_t *len)
{
	uint64_t p = rnd(seed) % NPAGES, n = 1 + rnd(seed) % 64;

	if (rnd(seed) % 4 == 0) {
		p &= ~UINT64_C(511);
		n = 512;
	}
	if (p + n > NPAGES)
		n = NPAGES - p;
	*start = rc.a + p * SZ_4K;
	*len = n * SZ_4K;
}

static void *mutator(void *arg)
{
	struct mm_struct *child = NULL;
	uint64_t seed = (uintptr_t)arg, s, len, addr;
	struct mm_mmap_args ma;
	int err = 0;

	hmmsim_thread_register();
	while (!stopping() && !err) {
		piece(&seed, &s, &len);
		switch (rnd(&seed) % 6) {
		case 0:
			err = mm_mprotect(rc.mm, s, len, MM_PROT_READ) ?:
			      mm_mprotect(rc.mm, s, len, RW);
			break;
		case 1:
			err = mm_madvise(rc.mm, s, len, MM_MADV_DONTNEED);
			break;
		case 2:
			memset(&ma, 0, sizeof(ma));
			ma.addr = s;
			ma.len = len;
			ma.prot = RW;
			ma.flags = ANON | MM_MAP_FIXED;
			err = mm_munmap(rc.mm, s, len) ?: mm_mmap(rc.mm, &ma, &addr);
			if (!err && addr != s)
				error("MAP_FIXED at %#" PRIx64 " gave %#" PRIx64 "\n", s, addr);
			if (!err)
				err = mm_madvise(rc.mm, s, len, MM_MADV_HUGEPAGE);
			break;
		case 3:
			if (child)
				mm_exit(child);
			child = NULL;
			err = mm_fork(rc.mm, &child);
			break;
		default:
			/* Whole THPs back: a fresh MADV_HUGEPAGE region over one 2M block. */
			s = rc.a + (rnd(&seed) % (NPAGES / 512)) * SZ_2M;
			memset(&ma, 0, sizeof(ma));
			ma.addr = s;
			ma.len = SZ_2M;
			ma.prot = RW;
			ma.flags = ANON | MM_MAP_FIXED;
			err = mm_mmap(rc.mm, &ma, &addr) ?:
			      mm_madvise(rc.mm, s, SZ_2M, MM_MADV_HUGEPAGE) ?:
			      mm_memset(rc.mm, s, 0x5a, SZ_2M);
			break;
		}
		rc.mutations++;
	}
	if (err)
		error("mutation failed: %d\n", err);
	if (child)
		mm_exit(child);
	hmmsim_thread_unregister();
	return NULL;
}

/* CPU stores and loads: faults, COW after fork; -EFAULT in a window is fine. */
static void *cpu_writer(void *arg)
{
	uint64_t seed = (uintptr_t)arg, p;
	uint8_t b;

	hmmsim_thread_register();
	while (!stopping()) {
		p = rnd(&seed) % NPAGES;
		if (rnd(&seed) % 2)
			mm_memset(rc.mm, rc.a + p * SZ_4K, (int)(p & 0xff), SZ_4K);
		else
			mm_read(rc.mm, rc.a + p * SZ_4K + 100, &b, 1);
		rc.cpu_writes++;
	}
	hmmsim_thread_unregister();
	return NULL;
}

static void drv_setup(struct drv *d, uint64_t start, uint64_t npages, uint64_t seed)
{
	memset(d, 0, sizeof(*d));
	pthread_mutex_init(&d->lock, NULL);
	d->start = start;
	d->npages = npages;
	d->seed = seed;
	d->pfns = calloc(npages, sizeof(*d->pfns));
	assert_non_null(d->pfns);
	assert_ret(mmu_interval_notifier_insert(&d->sub, rc.mm, start, npages * SZ_4K, &drv_ops),
		   0);
}

static void drv_teardown(struct drv *d)
{
	assert_ret(mmu_interval_notifier_remove(&d->sub), 0);
	pthread_mutex_destroy(&d->lock);
	free(d->pfns);
}

/*
 * @ndrv drivers (the second watching the first half only), one mutator,
 * one CPU thread, for RUN_NS; then every driver round accepted was
 * consistent, every round ended, -EBUSY was seen, and the checkers pass.
 */
static void run_race(unsigned int ndrv, bool with_cpu)
{
	pthread_t dth[NDRV], mth, cth;
	struct drv drv[NDRV];
	uint64_t t0, ebusy = 0, ok = 0;
	unsigned int i;

	mt_setup(NULL);
	memset(&rc, 0, sizeof(rc));
	pthread_mutex_init(&rc.msg_lock, NULL);
	rc.mm = mt_proc(NULL);
	rc.a = mt_anon_thp(rc.mm, REGION);
	mt_memset(rc.mm, rc.a, 0x11, REGION);
	assert_codes(rc.mm, rc.a, REGION, "2048:Hxw");
	for (i = 0; i < ndrv; i++)
		drv_setup(&drv[i], rc.a, i ? NPAGES / 2 : NPAGES, 17 + i);

	for (i = 0; i < ndrv; i++)
		assert_int_equal(pthread_create(&dth[i], NULL, drv_thread, &drv[i]), 0);
	assert_int_equal(pthread_create(&mth, NULL, mutator, (void *)3), 0);
	if (with_cpu)
		assert_int_equal(pthread_create(&cth, NULL, cpu_writer, (void *)5), 0);
	t0 = now_ns();
	while (now_ns() - t0 < RUN_NS && !__atomic_load_n(&rc.errors, __ATOMIC_RELAXED)) {
		struct timespec ts = { 0, 10 * 1000000 };

		nanosleep(&ts, NULL);
	}
	__atomic_store_n(&rc.stop, 1, __ATOMIC_RELEASE);
	assert_int_equal(pthread_join(mth, NULL), 0);
	if (with_cpu)
		assert_int_equal(pthread_join(cth, NULL), 0);
	for (i = 0; i < ndrv; i++)
		assert_int_equal(pthread_join(dth[i], NULL), 0);

	for (i = 0; i < ndrv; i++) {
		print_message("driver %u: %" PRIu64 " rounds, %" PRIu64 " accepted (%" PRIu64
			      " pages checked), -EBUSY %" PRIu64 ", read_retry %" PRIu64
			      ", -EFAULT %" PRIu64 ", -EPERM %" PRIu64 ", gave up %" PRIu64
			      ", most tries %" PRIu64 "\n", i, drv[i].rounds, drv[i].ok,
			      drv[i].checked, drv[i].ebusy, drv[i].retry, drv[i].efault,
			      drv[i].eperm, drv[i].gave_up, drv[i].max_tries);
		ebusy += drv[i].ebusy;
		ok += drv[i].ok;
	}
	print_message("%" PRIu64 " mutations, %" PRIu64 " CPU accesses\n", rc.mutations,
		      rc.cpu_writes);
	if (rc.errors)
		print_error("%d errors; the first: %s", rc.errors, rc.msg);
	assert_int_equal(rc.errors, 0);
	assert_true(ok > 0);
	assert_true(ebusy > 0);
	assert_mm_ok();

	/* Quiet now: one more round each must succeed at once and check out. */
	for (i = 0; i < ndrv; i++) {
		uint64_t before = drv[i].ok;

		drv_round(&drv[i]);
		assert_int_equal(drv[i].ok, before + 1);
		assert_int_equal(rc.errors, 0);
		drv_teardown(&drv[i]);
	}
	assert_mm_ok();
	pthread_mutex_destroy(&rc.msg_lock);
	mt_teardown();
}

/* One driver, the mutator and the CPU. */
static void test_race_one_driver(void **state)
{
	(void)state;
	run_race(1, true);
}

/* Two drivers with overlapping intervals, the mutator, no CPU thread. */
static void test_race_two_drivers(void **state)
{
	(void)state;
	run_race(2, false);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_race_one_driver),
		cmocka_unit_test(test_race_two_drivers),
	};
	int ret;

	hmmsim_thread_register();
	ret = cmocka_run_group_tests_name("hmm_range_race", tests, NULL, NULL);
	hmmsim_thread_unregister();
	return ret;
}
