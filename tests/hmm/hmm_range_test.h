/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Helpers of the hmm_range suites (test_hmm_range.c, test_hmm_range_device.c):
 * a driver with an interval notifier and its lock, hmm_range_fault() once or
 * in the kernel's retry loop (linux-hmm.md §1.7), snapshots that must leave
 * the CPU state as it was, and output entries checked against the CPU page
 * table. For the test's own thread (CMocka asserts).
 */
#ifndef HMMSIM_TESTS_HMM_RANGE_TEST_H
#define HMMSIM_TESTS_HMM_RANGE_TEST_H

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <hmmsim/hmm.h>

#include "mm_test.h"

#define RW		(MM_PROT_READ | MM_PROT_WRITE)
#define ANON		(MM_MAP_PRIVATE | MM_MAP_ANONYMOUS)
#define FAULT		HMM_PFN_REQ_FAULT
#define WRITE		(HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE)
#define MAX_TRIES	64

/* ------------------------------------------------------------------------ */
/* The driver: an interval, its lock, the kernel's retry loop               */
/* ------------------------------------------------------------------------ */

struct drv {
	struct mmu_interval_notifier sub;	/* first: the callback casts */
	pthread_mutex_t lock;
	void *owner;		/* its own MIGRATE events are not invalidations (test_hmm) */
	unsigned int invalidations;
};

static inline bool drv_invalidate(struct mmu_interval_notifier *sub,
				  const struct mmu_notifier_range *range, uint64_t cur_seq)
{
	struct drv *d = (struct drv *)sub;

	pthread_mutex_lock(&d->lock);
	if (!(range->event == MMU_NOTIFY_MIGRATE && d->owner && range->owner == d->owner)) {
		mmu_interval_set_seq(sub, cur_seq);
		d->invalidations++;
	}
	pthread_mutex_unlock(&d->lock);
	return true;
}

static const struct mmu_interval_notifier_ops drv_ops = { .invalidate = drv_invalidate };

static inline void drv_insert(struct drv *d, struct mm_struct *mm, uint64_t start, uint64_t len)
{
	memset(d, 0, sizeof(*d));
	pthread_mutex_init(&d->lock, NULL);
	assert_ret(mmu_interval_notifier_insert(&d->sub, mm, start, len, &drv_ops), 0);
}

static inline void drv_remove(struct drv *d)
{
	assert_ret(mmu_interval_notifier_remove(&d->sub), 0);
	pthread_mutex_destroy(&d->lock);
}

/* One request: what hmm_range_fault gets besides the sequence. */
struct req {
	uint64_t start;
	uint64_t npages;
	uint64_t dflt;
	uint64_t mask;
	void *owner;
};

static inline struct hmm_range mkrange(struct drv *d, const struct req *q, uint64_t *pfns)
{
	struct hmm_range r = {
		.notifier = &d->sub,
		.start = q->start,
		.end = q->start + q->npages * SZ_4K,
		.hmm_pfns = pfns,
		.default_flags = q->dflt,
		.pfn_flags_mask = q->mask,
		.dev_private_owner = q->owner,
	};

	return r;
}

/* One call with a fresh sequence, under the mmap_lock. */
static inline int call_once(struct drv *d, struct mm_struct *mm, const struct req *q,
			    uint64_t *pfns)
{
	struct hmm_range r = mkrange(d, q, pfns);
	int ret;

	r.notifier_seq = mmu_interval_read_begin(&d->sub);
	mmap_read_lock(mm);
	ret = hmm_range_fault(&r);
	mmap_read_unlock(mm);
	return ret;
}

/*
 * The driver's loop (linux-hmm.md §1.7), bounded: the input (@in, or all
 * zero) is written back before each try; *@ebusy counts the -EBUSY returns.
 */
static inline int call_loop(struct drv *d, struct mm_struct *mm, const struct req *q,
			    uint64_t *pfns, const uint64_t *in, unsigned int *ebusy)
{
	struct hmm_range r = mkrange(d, q, pfns);
	unsigned int tries;
	int ret = -EBUSY;

	*ebusy = 0;
	for (tries = 0; tries < MAX_TRIES; tries++) {
		if (in)
			memcpy(pfns, in, q->npages * sizeof(*pfns));
		else
			memset(pfns, 0, q->npages * sizeof(*pfns));
		r.notifier_seq = mmu_interval_read_begin(&d->sub);
		mmap_read_lock(mm);
		ret = hmm_range_fault(&r);
		mmap_read_unlock(mm);
		if (ret == -EBUSY) {
			(*ebusy)++;
			continue;
		}
		if (ret)
			return ret;
		pthread_mutex_lock(&d->lock);
		if (!mmu_interval_read_retry(&d->sub, r.notifier_seq)) {
			pthread_mutex_unlock(&d->lock);
			return 0;
		}
		pthread_mutex_unlock(&d->lock);
	}
	return ret;
}

/* What one VALID output entry must be for the CPU's page at @va. */
#define assert_entry(mm, va, e) assert_entry_at((mm), (va), (e), __FILE__, __LINE__)
static inline void assert_entry_at(struct mm_struct *mm, uint64_t va, uint64_t e,
				   const char *file, int line)
{
	static const unsigned int order[] = { 0, 9, 18 };
	struct mt_page pg;
	bool ok;

	ok = mt_lookup(mm, va, &pg) && (e & HMM_PFN_VALID) && !(e & HMM_PFN_ERROR) &&
	     (pg.kind == MM_PTE_PRESENT || pg.kind == MM_PTE_DEVICE_PRIVATE) &&
	     hmm_pfn_to_pfn(e) == pg.pfn && !!(e & HMM_PFN_WRITE) == pg.write &&
	     hmm_pfn_to_map_order(e) == order[pg.level];
	if (!ok) {
		print_error("entry for %#" PRIx64 " is %#" PRIx64 "; the CPU maps kind %d level %u "
			    "pfn %#" PRIx64 " write %d\n", va, e, pg.kind, pg.level, pg.pfn,
			    pg.write);
		_fail(file, line);
	}
}

/* Every entry VALID and as the CPU maps it. */
#define assert_all_cpu(mm, q, pfns) assert_all_cpu_at((mm), (q), (pfns), __FILE__, __LINE__)
static inline void assert_all_cpu_at(struct mm_struct *mm, const struct req *q,
				     const uint64_t *pfns, const char *file, int line)
{
	uint64_t i;

	for (i = 0; i < q->npages; i++)
		assert_entry_at(mm, q->start + i * SZ_4K, pfns[i], file, line);
}

/*
 * A call that must change nothing: a snapshot (no REQ_FAULT in the default
 * or the mask), or a request that no entry needs a fault for. It returns 0
 * and the dump, stats and pools around the range are as they were.
 */
#define snapshot(d, mm, q, pfns, in) snapshot_at((d), (mm), (q), (pfns), (in), __FILE__, __LINE__)
static inline void snapshot_at(struct drv *d, struct mm_struct *mm, const struct req *q,
			       uint64_t *pfns, const uint64_t *in, const char *file, int line)
{
	uint64_t lo = q->start > 16 * SZ_4K ? q->start - 16 * SZ_4K : 0;
	uint64_t hi = q->start + (q->npages + 16) * SZ_4K;
	struct mt_snap s;
	int ret;

	if (in)
		memcpy(pfns, in, q->npages * sizeof(*pfns));
	else
		memset(pfns, 0, q->npages * sizeof(*pfns));
	mt_snap_take(mm, lo, hi, &s);
	ret = call_once(d, mm, q, pfns);
	if (ret) {
		mt_snap_free(&s);
		mt_ret_assert(ret, 0, "snapshot hmm_range_fault", file, line);
	}
	mt_snap_same_at(mm, lo, hi, &s, file, line);
	mt_snap_free(&s);
}

static inline void assert_all(const uint64_t *pfns, uint64_t n, uint64_t value)
{
	uint64_t i;

	for (i = 0; i < n; i++)
		assert_int_equal(pfns[i], value);
}

#endif /* HMMSIM_TESTS_HMM_RANGE_TEST_H */
