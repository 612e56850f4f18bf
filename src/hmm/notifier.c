// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Interval notifiers (mm/mmu_notifier.c's mmu_interval_notifier).
 *
 * Each mm that has intervals gets one subscriptions object, registered as
 * an ordinary mmu_notifier of the mm. Its sequence number is even when no
 * invalidation that hits an interval is in progress and odd while one is;
 * it only grows. An invalidation that hits intervals makes it odd and calls
 * each overlapping interval's invalidate with that odd value, which the
 * driver stores in the interval (set_seq) under its lock; the last end
 * makes it even again and wakes read_begin waiters. So read_retry is an
 * inequality test, and read_begin waits exactly while its interval is
 * being invalidated.
 */
#include <stdlib.h>

#include "hmm/internal.h"

struct interval_subscriptions {
	struct mmu_notifier mn;
	struct mm_struct *mm;
	pthread_mutex_t lock;
	pthread_cond_t wq;
	uint64_t seq;
	unsigned int active;		/* invalidations in progress, hitting or not */
	struct mmu_interval_notifier *list;
};

static struct interval_subscriptions *subs_of(struct mmu_notifier *mn)
{
	return container_of(mn, struct interval_subscriptions, mn);
}

static bool overlaps(const struct mmu_interval_notifier *sub, uint64_t start, uint64_t end)
{
	return sub->start < end && start <= sub->last;
}

static void itree_start(struct mmu_notifier *mn, const struct mmu_notifier_range *range)
{
	struct interval_subscriptions *s = subs_of(mn);
	struct mmu_interval_notifier *sub, **hit = NULL;
	size_t n = 0, cap = 0, i;
	uint64_t cur_seq;

	pthread_mutex_lock(&s->lock);
	s->active++;
	for (sub = s->list; sub; sub = sub->next) {
		if (!overlaps(sub, range->start, range->end))
			continue;
		if (n == cap) {
			struct mmu_interval_notifier **h;

			cap = cap ? 2 * cap : 8;
			h = realloc(hit, cap * sizeof(*h));
			if (!h)
				abort();	/* an invalidation cannot fail: nothing to unwind */
			hit = h;
		}
		hit[n++] = sub;
	}
	if (n)
		s->seq |= 1;
	cur_seq = s->seq;
	pthread_mutex_unlock(&s->lock);

	/* Outside our lock: the callbacks take driver locks that order above it. */
	for (i = 0; i < n; i++)
		hit[i]->ops->invalidate(hit[i], range, cur_seq);
	free(hit);
}

static void itree_end(struct mmu_notifier *mn, const struct mmu_notifier_range *range)
{
	struct interval_subscriptions *s = subs_of(mn);

	pthread_mutex_lock(&s->lock);
	if (!--s->active && (s->seq & 1)) {
		s->seq++;
		pthread_cond_broadcast(&s->wq);
	}
	pthread_mutex_unlock(&s->lock);
}

static const struct mmu_notifier_ops itree_ops = {
	.invalidate_range_start = itree_start,
	.invalidate_range_end = itree_end,
};

/* The mm's subscriptions, created on first use. Context: mmap_lock for writing. */
static struct interval_subscriptions *get_subs(struct mm_struct *mm)
{
	struct interval_subscriptions **slot = (struct interval_subscriptions **)mm_hmm_slot(mm);
	struct interval_subscriptions *s = *slot;

	if (s)
		return s;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->mm = mm;
	s->seq = 2;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->wq, NULL);
	s->mn.ops = &itree_ops;
	s->mn.mm = mm;
	s->mn.next = mm->subs;
	mm->subs = &s->mn;
	*slot = s;
	return s;
}

/* mm_exit frees the mm: intervals stay inserted but watch nothing any more. */
static void itree_exit(struct mm_struct *mm)
{
	struct interval_subscriptions *s = *mm_hmm_slot(mm);
	struct mmu_interval_notifier *sub;

	for (sub = s->list; sub; sub = sub->next)
		sub->mm = NULL;
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->wq);
	free(s);
	*mm_hmm_slot(mm) = NULL;
}

static int insert(struct mmu_interval_notifier *sub, struct mm_struct *mm, uint64_t start,
		  uint64_t length, const struct mmu_interval_notifier_ops *ops)
{
	struct interval_subscriptions *s;

	if (!sub || !mm || !ops || !ops->invalidate || sub->inserted)
		return -EINVAL;
	if (!length || start + length < start)
		return -EOVERFLOW;
	mm_set_exit_hook(itree_exit);
	s = get_subs(mm);
	if (!s)
		return -ENOMEM;
	sub->ops = ops;
	sub->mm = mm;
	sub->start = start;
	sub->last = start + length - 1;
	pthread_mutex_lock(&s->lock);
	/*
	 * Idle: one behind the even sequence, so the first read_begin returns
	 * at once. During an invalidation: the odd sequence, so it waits.
	 */
	__atomic_store_n(&sub->invalidate_seq, (s->seq & 1) ? s->seq : s->seq - 1,
			 __ATOMIC_RELAXED);
	sub->next = s->list;
	s->list = sub;
	sub->inserted = true;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

HMMSIM_API int mmu_interval_notifier_insert_locked(struct mmu_interval_notifier *sub,
						   struct mm_struct *mm, uint64_t start,
						   uint64_t length,
						   const struct mmu_interval_notifier_ops *ops)
{
	return insert(sub, mm, start, length, ops);
}

HMMSIM_API int mmu_interval_notifier_insert(struct mmu_interval_notifier *sub,
					    struct mm_struct *mm, uint64_t start, uint64_t length,
					    const struct mmu_interval_notifier_ops *ops)
{
	int err;

	if (!mm)
		return -EINVAL;
	mmap_write_lock(mm);
	err = insert(sub, mm, start, length, ops);
	mmap_write_unlock(mm);
	return err;
}

HMMSIM_API int mmu_interval_notifier_remove(struct mmu_interval_notifier *sub)
{
	struct interval_subscriptions *s;
	struct mmu_interval_notifier **p;
	struct mm_struct *mm;

	if (!sub || !sub->inserted)
		return -EINVAL;
	mm = sub->mm;
	sub->inserted = false;
	if (!mm)
		return 0;	/* its mm exited */
	s = *mm_hmm_slot(mm);
	pthread_mutex_lock(&s->lock);
	/* An invalidation in progress may be about to call us: let it finish. */
	while (s->seq & 1)
		pthread_cond_wait(&s->wq, &s->lock);
	for (p = &s->list; *p; p = &(*p)->next) {
		if (*p == sub) {
			*p = sub->next;
			break;
		}
	}
	pthread_mutex_unlock(&s->lock);
	sub->next = NULL;
	return 0;
}

HMMSIM_API uint64_t mmu_interval_read_begin(struct mmu_interval_notifier *sub)
{
	struct interval_subscriptions *s;
	uint64_t seq;

	if (!sub->mm)
		return __atomic_load_n(&sub->invalidate_seq, __ATOMIC_ACQUIRE);
	s = *mm_hmm_slot(sub->mm);
	pthread_mutex_lock(&s->lock);
	seq = __atomic_load_n(&sub->invalidate_seq, __ATOMIC_ACQUIRE);
	/* Our interval is being invalidated right now: wait for the end. */
	while (seq == s->seq)
		pthread_cond_wait(&s->wq, &s->lock);
	pthread_mutex_unlock(&s->lock);
	return seq;
}

HMMSIM_API bool mmu_interval_read_retry(struct mmu_interval_notifier *sub, uint64_t seq)
{
	return __atomic_load_n(&sub->invalidate_seq, __ATOMIC_ACQUIRE) != seq;
}

HMMSIM_API bool mmu_interval_check_retry(struct mmu_interval_notifier *sub, uint64_t seq)
{
	return __atomic_load_n(&sub->invalidate_seq, __ATOMIC_ACQUIRE) != seq;
}

HMMSIM_API void mmu_interval_set_seq(struct mmu_interval_notifier *sub, uint64_t cur_seq)
{
	__atomic_store_n(&sub->invalidate_seq, cur_seq, __ATOMIC_RELEASE);
}
