// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * MMU notifier subscriptions. The list changes under the mmap_lock held for
 * writing and is read by invalidations, which run under it held either
 * way, so it needs no lock of its own.
 */
#include "mm/internal.h"

static const char *const event_names[] = {
	[MMU_NOTIFY_UNMAP] = "MMU_NOTIFY_UNMAP",
	[MMU_NOTIFY_CLEAR] = "MMU_NOTIFY_CLEAR",
	[MMU_NOTIFY_PROTECTION_VMA] = "MMU_NOTIFY_PROTECTION_VMA",
	[MMU_NOTIFY_PROTECTION_PAGE] = "MMU_NOTIFY_PROTECTION_PAGE",
	[MMU_NOTIFY_SOFT_DIRTY] = "MMU_NOTIFY_SOFT_DIRTY",
	[MMU_NOTIFY_RELEASE] = "MMU_NOTIFY_RELEASE",
	[MMU_NOTIFY_MIGRATE] = "MMU_NOTIFY_MIGRATE",
	[MMU_NOTIFY_EXCLUSIVE] = "MMU_NOTIFY_EXCLUSIVE",
};

HMMSIM_API const char *mmu_notifier_event_name(enum mmu_notifier_event event)
{
	return (unsigned int)event < ARRAY_SIZE(event_names) ? event_names[event] : NULL;
}

void mmu_notifier_range_init(struct mmu_notifier_range *r, enum mmu_notifier_event event,
			     struct mm_struct *mm, uint64_t start, uint64_t end)
{
	r->mm = mm;
	r->start = start;
	r->end = end;
	r->flags = MMU_NOTIFIER_RANGE_BLOCKABLE;
	r->event = event;
	r->owner = NULL;
}

void mmu_notifier_invalidate_range_start(struct mmu_notifier_range *r)
{
	struct mmu_notifier *sub;

	MM_STAT_INC(r->mm, notifications);
	for (sub = r->mm->subs; sub; sub = sub->next)
		if (sub->ops->invalidate_range_start)
			sub->ops->invalidate_range_start(sub, r);
}

void mmu_notifier_invalidate_range_end(struct mmu_notifier_range *r)
{
	struct mmu_notifier *sub;

	for (sub = r->mm->subs; sub; sub = sub->next)
		if (sub->ops->invalidate_range_end)
			sub->ops->invalidate_range_end(sub, r);
}

void mmu_notifier_release(struct mm_struct *mm)
{
	struct mmu_notifier *sub;

	for (sub = mm->subs; sub; sub = sub->next)
		if (sub->ops->release)
			sub->ops->release(sub, mm);
}

HMMSIM_API int mmu_notifier_register(struct mmu_notifier *sub, struct mm_struct *mm)
{
	struct mmu_notifier *s;
	int err = 0;

	if (!sub || !mm || !sub->ops || sub->mm)
		return -EINVAL;	/* sub->mm: already subscribed, to this mm or another */
	mmap_write_lock(mm);
	for (s = mm->subs; s; s = s->next)
		if (s == sub)
			err = -EINVAL;
	if (!err) {
		sub->mm = mm;
		sub->next = mm->subs;
		mm->subs = sub;
	}
	mmap_write_unlock(mm);
	return err;
}

HMMSIM_API int mmu_notifier_unregister(struct mmu_notifier *sub, struct mm_struct *mm)
{
	struct mmu_notifier **p;
	int err = -EINVAL;

	if (!sub || !mm)
		return -EINVAL;
	mmap_write_lock(mm);
	for (p = &mm->subs; *p; p = &(*p)->next) {
		if (*p == sub) {
			*p = sub->next;
			sub->next = NULL;
			sub->mm = NULL;
			err = 0;
			break;
		}
	}
	mmap_write_unlock(mm);
	return err;
}
