// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A device: its configuration, its parts (queue, TLB, fault buffer, device
 * memory) and its life.
 *
 * The defaults come from the references (sim-perf-style.md §2.1 for the
 * costs and the fault batch, linux-hmm.md §5.7 for test_hmm's 256 MiB of
 * device memory, §1.7 for the one-second retry bound) and are spelled out
 * in gpu.h next to each field.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu/internal.h"

gpu_hook_fn *gpu_test_hook;

HMMSIM_API void gpu_config_init(struct gpu_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->format = GPU_FORMAT_GP100;
	cfg->memory = UINT64_C(256) << 20;
	cfg->memory_type = HMM_DEVMEM_PRIVATE;
	cfg->exec = GPU_EXEC_CLOCK;
	cfg->map = GPU_MAP_LARGE;
	cfg->size = GPU_SIZE_MAP_ORDER;
	cfg->migrate = GPU_MIGRATE_NEVER;
	cfg->tlb_sets = 64;
	cfg->tlb_ways = 8;
	cfg->fault_buffer = 8192;
	cfg->fault_batch = 256;
	cfg->access_bytes = 4096;
	cfg->reclaim = PT_RECLAIM_KEEP;
	cfg->retry_timeout_ms = 1000;
	cfg->cost = (struct gpu_cost){
		.pte_write_ns = 100,
		.pte_clear_ns = 100,
		.tlb_invalidate_ns = 1000,
		.fault_batch_ns = 45000,
		.fault_page_ns = 500,
		.walk_ns = 100,
		.copy_gibps = 12.0,
	};
}

static int check_config(const struct gpu_config *c)
{
	if ((unsigned int)c->format >= GPU_NR_FORMATS ||
	    (c->memory & (GPU_PAGE_SIZE - 1)) ||
	    (c->memory_type != HMM_DEVMEM_PRIVATE && c->memory_type != HMM_DEVMEM_COHERENT) ||
	    (c->exec != GPU_EXEC_CLOCK && c->exec != GPU_EXEC_THREAD) ||
	    (c->map != GPU_MAP_LARGE && c->map != GPU_MAP_PAGE) ||
	    (unsigned int)c->size > GPU_SIZE_INFER ||
	    (c->migrate != GPU_MIGRATE_NEVER && c->migrate != GPU_MIGRATE_FIRST_TOUCH))
		return -EINVAL;
	if (!is_pow2(c->tlb_sets) || c->tlb_sets > (1u << 20) || !c->tlb_ways ||
	    c->tlb_ways > 64 || !c->fault_buffer || c->fault_buffer > (1u << 24) ||
	    !c->fault_batch || c->fault_batch > c->fault_buffer ||
	    !is_pow2(c->access_bytes) || c->access_bytes < 64 || c->access_bytes > 4096 ||
	    (c->reclaim != PT_RECLAIM_EAGER && c->reclaim != PT_RECLAIM_KEEP) ||
	    !(c->cost.copy_gibps >= 0))
		return -EINVAL;
	return 0;
}

static void free_parts(struct gpu_dev *dev)
{
	gpu_mem_lru_fini(dev);
	free(dev->svc_pfns);
	free(dev->svc_want);
	free(dev->svc_batch);
	free(dev->fb);
	pthread_mutex_destroy(&dev->fb_lock);
	pthread_mutex_destroy(&dev->fault_lock);
	pthread_rwlock_destroy(&dev->access);
	pthread_mutex_destroy(&dev->lock);
	free(dev);
}

HMMSIM_API int gpu_dev_create(struct mm_system *sys, const struct gpu_config *cfg,
			      struct gpu_dev **out)
{
	static unsigned int nr_devs;
	struct gpu_config defaults;
	pthread_rwlockattr_t ra;
	struct gpu_dev *dev;
	unsigned int flags = 0;
	struct folio *zero;
	int err;

	if (!sys || !out)
		return -EINVAL;
	if (!cfg) {
		gpu_config_init(&defaults);
		cfg = &defaults;
	}
	err = check_config(cfg);
	if (err)
		return err;
	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return -ENOMEM;
	dev->sys = sys;
	dev->machine = mm_system_machine(sys);
	dev->cfg = *cfg;
	if (cfg->name)
		snprintf(dev->name, sizeof(dev->name), "%s", cfg->name);
	else
		snprintf(dev->name, sizeof(dev->name), "gpu%u",
			 __atomic_fetch_add(&nr_devs, 1, __ATOMIC_RELAXED));
	dev->cfg.name = dev->name;
	dev->fmt = gpu_format_pt(cfg->format);
	err = pt_format_geometry(dev->fmt, &dev->geo);
	if (err) {
		free(dev);
		return err;
	}
	zero = phys_zero_folio(mm_system_pool(sys));
	dev->metadata = zero && !folio_has_data(zero);

	pthread_mutex_init(&dev->lock, NULL);
	/* Writers first: a TLB invalidation must not starve behind a stream of accesses. */
	pthread_rwlockattr_init(&ra);
	pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&dev->access, &ra);
	pthread_rwlockattr_destroy(&ra);
	pthread_mutex_init(&dev->fault_lock, NULL);
	pthread_mutex_init(&dev->fb_lock, NULL);
	dev->fb = calloc(cfg->fault_buffer, sizeof(*dev->fb));
	dev->svc_batch = calloc(cfg->fault_batch, sizeof(*dev->svc_batch));
	dev->svc_want = calloc(GPU_RUN_MAX_PAGES, 1);
	if (!dev->fb || !dev->svc_batch || !dev->svc_want) {
		free_parts(dev);
		return -ENOMEM;
	}
	err = gpu_tlb_init(&dev->tlb, cfg->tlb_sets, cfg->tlb_ways, dev->geo.page_sizes);
	if (err) {
		free_parts(dev);
		return err;
	}
	err = gpu_queue_init(dev);
	if (err) {
		gpu_tlb_fini(&dev->tlb);
		free_parts(dev);
		return err;
	}
	if (cfg->memory) {
		if (cfg->free_at_one)
			flags |= HMM_DEVMEM_FREE_AT_ONE;
		if (dev->metadata)
			flags |= HMM_DEVMEM_METADATA;
		err = hmm_devmem_add(sys, cfg->memory_type, cfg->memory, &gpu_devmem_ops, dev,
				     flags, &dev->devmem);
		if (!err) {
			err = gpu_mem_lru_init(dev);
			if (err)
				hmm_devmem_remove(dev->devmem);
		}
		if (err) {
			gpu_queue_fini(dev);
			gpu_tlb_fini(&dev->tlb);
			free_parts(dev);
			return err;
		}
	}
	*out = dev;
	return 0;
}

HMMSIM_API int gpu_dev_destroy(struct gpu_dev *dev)
{
	struct gpu_mirror *m, *next;
	int err;

	if (!dev)
		return -EINVAL;
	err = gpu_release(dev);
	if (err)
		return err;
	if (dev->devmem) {
		err = hmm_devmem_remove(dev->devmem);
		if (err)
			return err;
		dev->devmem = NULL;
	}
	for (m = dev->mirrors; m; m = next) {
		next = m->next;
		gpu_mirror_destroy(m);
	}
	dev->mirrors = NULL;
	gpu_queue_fini(dev);
	gpu_tlb_fini(&dev->tlb);
	free_parts(dev);
	return 0;
}

HMMSIM_API const char *gpu_dev_name(const struct gpu_dev *dev)
{
	return dev ? dev->name : NULL;
}

HMMSIM_API const struct gpu_config *gpu_dev_config(const struct gpu_dev *dev)
{
	return dev ? &dev->cfg : NULL;
}

HMMSIM_API struct hmm_devmem *gpu_dev_devmem(struct gpu_dev *dev)
{
	return dev ? dev->devmem : NULL;
}

HMMSIM_API void gpu_fail_alloc(struct gpu_dev *dev, unsigned int n)
{
	if (dev)
		__atomic_store_n(&dev->fail_alloc, n, __ATOMIC_RELAXED);
}

HMMSIM_API void gpu_sync(struct gpu_dev *dev)
{
	if (dev)
		gpu_queue_fence(dev);
}

HMMSIM_API uint64_t gpu_sim_time(struct gpu_dev *dev)
{
	if (!dev)
		return 0;
	gpu_queue_fence(dev);
	return gpu_clock(dev);
}
