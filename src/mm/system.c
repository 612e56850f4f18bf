// SPDX-License-Identifier: LGPL-2.1-or-later
/* The system, kernel behaviour profiles, and the life of a process. */
#include <stdlib.h>
#include <string.h>

#include "mm/internal.h"
#include "base/alloc.h"

HMMSIM_API const struct mm_profile mm_profile_current = {
	.name = "current",
	.huge_zero_wp_thp = true,
	.large_folio_reuse = true,
	.exclusive_mapcount = true,
	.dontneed_frees_tables = true,
	.hugetlb_dontneed = true,
	.anon_align = MM_ALIGN_PMD_MULTIPLE,
};

static const struct mm_profile profile_6_12 = {
	.name = "6.12",
	.hugetlb_dontneed = true,
	.anon_align = MM_ALIGN_PMD_MULTIPLE,
};

static const struct mm_profile profile_6_7 = {
	.name = "6.7",
	.hugetlb_dontneed = true,
	.anon_align = MM_ALIGN_LARGE,
};

static const struct mm_profile profile_6_1 = {
	.name = "6.1",
	.hugetlb_dontneed = true,
	.anon_align = MM_ALIGN_NONE,
};

static const struct mm_profile profile_5_8 = {
	.name = "5.8",
	.device_free_at_one = true,
	.anon_align = MM_ALIGN_NONE,
};

static const struct mm_profile profile_5_7 = {
	.name = "5.7",
	.thp_cow_copy_huge = true,
	.device_free_at_one = true,
	.anon_align = MM_ALIGN_NONE,
};

HMMSIM_API const struct mm_profile *const mm_profiles[] = {
	&mm_profile_current, &profile_6_12, &profile_6_7, &profile_6_1, &profile_5_8,
	&profile_5_7, NULL,
};

HMMSIM_API const struct mm_profile *mm_profile_find(const char *name)
{
	unsigned int i;

	for (i = 0; name && mm_profiles[i]; i++)
		if (!strcmp(mm_profiles[i]->name, name))
			return mm_profiles[i];
	return NULL;
}

HMMSIM_API int mm_system_create(const struct mm_system_config *cfg, struct mm_system **out)
{
	struct mm_system_config def = { 0 };
	struct phys_pool_config pc = { 0 };
	struct mm_system *sys;
	int err;

	if (!out)
		return -EINVAL;
	if (!cfg)
		cfg = &def;
	if ((cfg->ram & (MM_PAGE_SIZE - 1)) || cfg->thp > MM_THP_NEVER)
		return -EINVAL;
	sys = hs_calloc(1, sizeof(*sys));
	if (!sys)
		return -ENOMEM;
	sys->thp = cfg->thp;
	pthread_mutex_init(&sys->lock, NULL);
	err = phys_machine_create(&sys->machine);
	if (err)
		goto free_sys;
	pc.machine = sys->machine;
	pc.kind = PHYS_SYSTEM_RAM;
	pc.nr_frames = (cfg->ram ? cfg->ram : UINT64_C(1) << 30) >> MM_PAGE_SHIFT;
	pc.first_pfn = PHYS_PFN_AUTO;
	pc.numa_node = -1;
	pc.flags = cfg->metadata_only ? PHYS_POOL_METADATA : 0;
	pc.name = "system";
	err = phys_pool_create(&pc, &sys->pool);
	if (err)
		goto free_machine;
	sys->hugetlb_2m = cfg->hugetlb_2m;
	sys->hugetlb_1g = cfg->hugetlb_1g;
	err = phys_hugetlb_create(sys->pool, cfg->hugetlb_2m, cfg->hugetlb_1g, &sys->hugetlb);
	if (err)
		goto free_pool;
	*out = sys;
	return 0;

free_pool:
	phys_pool_destroy(sys->pool);
free_machine:
	phys_machine_destroy(sys->machine);
free_sys:
	free(sys);
	return err;
}

HMMSIM_API int mm_system_destroy(struct mm_system *sys)
{
	if (!sys)
		return -EINVAL;
	if (sys->nr_mms)
		return -EBUSY;
	/*
	 * With every process gone, a folio still allocated is a leak (a file
	 * or a device driver may still hold one): refuse, and keep the system.
	 */
	if (phys_hugetlb_destroy(sys->hugetlb))
		return -EBUSY;
	if (phys_pool_destroy(sys->pool)) {
		/* Put the hugetlb pool back: the system stays as it was. */
		phys_hugetlb_create(sys->pool, sys->hugetlb_2m, sys->hugetlb_1g, &sys->hugetlb);
		return -EBUSY;
	}
	free(sys->deferred);
	phys_machine_destroy(sys->machine);
	pthread_mutex_destroy(&sys->lock);
	free(sys);
	return 0;
}

HMMSIM_API int mm_system_set_thp(struct mm_system *sys, enum mm_thp_mode mode)
{
	if (mode > MM_THP_NEVER)
		return -EINVAL;
	__atomic_store_n(&sys->thp, mode, __ATOMIC_RELAXED);
	return 0;
}

HMMSIM_API enum mm_thp_mode mm_system_thp(const struct mm_system *sys)
{
	return __atomic_load_n(&sys->thp, __ATOMIC_RELAXED);
}

HMMSIM_API struct phys_pool *mm_system_pool(struct mm_system *sys)
{
	return sys->pool;
}

HMMSIM_API struct phys_hugetlb *mm_system_hugetlb(struct mm_system *sys)
{
	return sys->hugetlb;
}

HMMSIM_API struct phys_machine *mm_system_machine(struct mm_system *sys)
{
	return sys->machine;
}

/* An mm with no VMA, linked into its system. */
int mm_alloc(struct mm_system *sys, const struct mm_profile *profile, struct mm_struct **out)
{
	struct pt_config pc = { .reclaim = PT_RECLAIM_KEEP, .numa_node = -1 };
	struct mm_struct *mm;
	int err;

	mm = hs_calloc(1, sizeof(*mm));
	if (!mm)
		return -ENOMEM;
	/* CPU page tables are freed by munmap's free_pgtables, not as they empty. */
	err = pt_table_create(&pt_format_x86_64_4l, &pc, &mm->pt);
	if (err) {
		free(mm);
		return err;
	}
	mm->sys = sys;
	mm->profile = profile ? profile : &mm_profile_current;
	pthread_rwlock_init(&mm->mmap_lock, NULL);
	pthread_mutex_init(&mm->ptl, NULL);
	pthread_mutex_lock(&sys->lock);
	mm->next = sys->mms;
	sys->mms = mm;
	sys->nr_mms++;
	pthread_mutex_unlock(&sys->lock);
	*out = mm;
	return 0;
}

static mm_exit_fn exit_hook;

void mm_set_exit_hook(mm_exit_fn fn)
{
	__atomic_store_n(&exit_hook, fn, __ATOMIC_RELEASE);
}

void **mm_hmm_slot(struct mm_struct *mm)
{
	return &mm->hmm;
}

/* Free an mm with no VMA left. */
void mm_free(struct mm_struct *mm)
{
	mm_exit_fn fn = __atomic_load_n(&exit_hook, __ATOMIC_ACQUIRE);
	struct mm_system *sys = mm->sys;
	struct mm_struct **p;

	if (fn && mm->hmm)
		fn(mm);
	pthread_mutex_lock(&sys->lock);
	for (p = &sys->mms; *p; p = &(*p)->next) {
		if (*p == mm) {
			*p = mm->next;
			break;
		}
	}
	sys->nr_mms--;
	pthread_mutex_unlock(&sys->lock);
	mm_put_huge_zero(mm);
	pt_table_destroy(mm->pt);
	free(mm->vmas);
	pthread_mutex_destroy(&mm->ptl);
	pthread_rwlock_destroy(&mm->mmap_lock);
	free(mm);
}

HMMSIM_API int mm_create(struct mm_system *sys, const struct mm_profile *profile,
			 struct mm_struct **out)
{
	if (!sys || !out)
		return -EINVAL;
	return mm_alloc(sys, profile, out);
}

HMMSIM_API struct mm_system *mm_system_of(const struct mm_struct *mm)
{
	return mm->sys;
}

HMMSIM_API const struct mm_profile *mm_profile_of(const struct mm_struct *mm)
{
	return mm->profile;
}

HMMSIM_API struct pt_table *mm_page_table(struct mm_struct *mm)
{
	return mm->pt;
}

HMMSIM_API void mmap_read_lock(struct mm_struct *mm)
{
	pthread_rwlock_rdlock(&mm->mmap_lock);
}

HMMSIM_API void mmap_read_unlock(struct mm_struct *mm)
{
	pthread_rwlock_unlock(&mm->mmap_lock);
}

HMMSIM_API void mmap_write_lock(struct mm_struct *mm)
{
	pthread_rwlock_wrlock(&mm->mmap_lock);
}

HMMSIM_API void mmap_write_unlock(struct mm_struct *mm)
{
	pthread_rwlock_unlock(&mm->mmap_lock);
}

HMMSIM_API void mm_get_stats(struct mm_struct *mm, struct mm_stats *st)
{
	uint64_t *dst = (uint64_t *)st;
	const uint64_t *src = (const uint64_t *)&mm->stats;
	size_t i;

	for (i = 0; i < sizeof(*st) / sizeof(uint64_t); i++)
		dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}
