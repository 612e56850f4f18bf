// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Device memory (memremap_pages with a dev_pagemap, mm/memremap.c): a phys
 * pool of device-private or device-coherent frames beside system memory,
 * whose folios carry the pgmap owner, and the CPU fault on a device-private
 * entry (do_swap_page's call of migrate_to_ram).
 *
 * phys calls one page_free for every pool with the pool's owner only, so the
 * devmems live in a small registry, found by their pool: the adapter looks
 * the driver's ops up there, and hmm_range_fault() the owner of every
 * device-private entry it meets. Lookups are lock-free (RCU readers: the
 * list is published with release stores, a removed devmem is freed after a
 * grace period); adding and removing take the registry lock, never held
 * across a driver callback, since page_free may allocate or free device
 * pages itself.
 */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>

#include "base/rcu.h"
#include "hmm/internal.h"
#include "base/alloc.h"

struct hmm_devmem {
	struct mm_system *sys;
	struct phys_pool *pool;
	const struct dev_pagemap_ops *ops;
	void *owner;
	enum hmm_devmem_type type;
	unsigned int flags;
	struct hmm_devmem *next;
	struct rcu_head rcu;
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct hmm_devmem *registry;

/*
 * The devmem of @pool in @sys, or NULL. Context: an RCU read-side section
 * or the registry lock. The result outlives the section as long as the
 * caller holds one of its pages (hmm_devmem_remove() fails meanwhile).
 */
static struct hmm_devmem *devmem_of_pool(const struct mm_system *sys,
					 const struct phys_pool *pool)
{
	struct hmm_devmem *dm;

	for (dm = __atomic_load_n(&registry, __ATOMIC_ACQUIRE); dm;
	     dm = __atomic_load_n(&dm->next, __ATOMIC_ACQUIRE))
		if (dm->pool == pool && (!sys || dm->sys == sys))
			return dm;
	return NULL;
}

/*
 * phys's page_free: hand the folio to the driver. The devmem cannot go away
 * meanwhile: its pool still counts the folio as live until this returns.
 */
static void devmem_page_free(struct folio *folio, void *owner)
{
	const struct dev_pagemap_ops *ops = NULL;
	struct hmm_devmem *dm;

	hs_rcu_read_lock();
	dm = devmem_of_pool(NULL, folio_pool(folio));
	if (dm)
		ops = dm->ops;
	hs_rcu_read_unlock();
	if (ops && ops->page_free)
		ops->page_free(folio);
}

static const struct phys_pgmap_ops devmem_pgmap_ops = {
	.page_free = devmem_page_free,
};

/* The entry this thread last retried a device fault on, and how often in a row. */
struct fault_guard {
	struct mm_struct *mm;
	uint64_t addr;
	pt_entry_t entry;
	unsigned int tries;
};

static __thread struct fault_guard guard;

/*
 * A device-private entry the driver's migrate_to_ram left in place is
 * retried by the fault loop. The kernel retries forever; a driver that
 * never migrates would hang the simulation, so after this many retries of
 * the same entry in a row the fault fails as SIGBUS would.
 */
#define FAULT_MAX_RETRIES	(1u << 16)

/*
 * Called after migrate_to_ram() returned 0: did it leave @entry in place
 * (the fault will be retried on it), too many times in a row? Progress of
 * any kind resets the count, so a page that goes back and forth between
 * RAM and the device any number of times never trips it.
 */
static bool fault_retried_too_often(struct mm_struct *mm, uint64_t addr, pt_entry_t entry)
{
	unsigned int level;
	bool same;
	pt_entry_t e;

	pthread_mutex_lock(&mm->ptl);
	same = !mm_get_pte(mm, addr, &e, &level) && e == entry;
	pthread_mutex_unlock(&mm->ptl);
	if (!same) {
		guard.mm = NULL;
		return false;
	}
	if (guard.mm == mm && guard.addr == addr && guard.entry == entry) {
		if (++guard.tries >= FAULT_MAX_RETRIES) {
			guard.mm = NULL;
			return true;
		}
		return false;
	}
	guard = (struct fault_guard){ .mm = mm, .addr = addr, .entry = entry, .tries = 1 };
	return false;
}

/*
 * The CPU touched a device-private entry (do_swap_page), or a
 * device-private PMD (do_huge_pmd_device_private): lock the device folio,
 * take a reference while the ptl keeps the entry (and so the folio) alive,
 * and let the owning driver migrate it back; vmf->address is the faulting
 * page, vmf->page the folio (for a PMD, the whole order-9 folio: the driver
 * migrates 2 MiB back with SELECT_COMPOUND, or only part of it, which
 * splits it). A folio locked by someone else (a migration in flight) means
 * "retry", as in the kernel.
 * Context: the mmap_lock held for reading, no ptl.
 */
static int hmm_device_fault(struct vm_area_struct *vma, uint64_t addr, pt_entry_t entry,
			    unsigned int flags)
{
	struct mm_struct *mm = vma->mm;
	const struct dev_pagemap_ops *ops = NULL;
	struct hmm_devmem *dm;
	struct vm_fault vmf;
	struct folio *folio;
	unsigned int level;
	pt_entry_t e;
	int ret;

	addr = align_down(addr, MM_PAGE_SHIFT);
	pthread_mutex_lock(&mm->ptl);
	if (mm_get_pte(mm, addr, &e, &level) || level > 1 || e != entry) {
		pthread_mutex_unlock(&mm->ptl);
		return 0;	/* changed under us: retry */
	}
	folio = pfn_folio(mm, pte_pfn(e));
	if (!folio || !folio_is_device_private(folio)) {
		pthread_mutex_unlock(&mm->ptl);
		return -EFAULT;
	}
	if (!folio_trylock(folio)) {
		pthread_mutex_unlock(&mm->ptl);
		sched_yield();
		return 0;
	}
	if (!folio_try_get(folio)) {
		folio_unlock(folio);
		pthread_mutex_unlock(&mm->ptl);
		return 0;
	}
	pthread_mutex_unlock(&mm->ptl);

	dm = hmm_devmem_of_pfn(mm->sys, folio_pfn(folio));
	if (dm)
		ops = hmm_devmem_ops(dm);
	if (ops && ops->migrate_to_ram) {
		vmf = (struct vm_fault){ .vma = vma, .address = addr, .page = folio,
					 .flags = flags };
		ret = ops->migrate_to_ram(&vmf);
	} else {
		ret = -EFAULT;	/* VM_FAULT_SIGBUS */
	}
	folio_unlock(folio);
	folio_put(folio);
	if (!ret && fault_retried_too_often(mm, addr, entry))
		ret = -EFAULT;
	return ret;
}

static pthread_once_t fault_handler_once = PTHREAD_ONCE_INIT;

static void register_fault_handler(void)
{
	mm_set_device_fault_handler(hmm_device_fault);
}

#define DEVMEM_FLAGS	(HMM_DEVMEM_FREE_AT_ONE | HMM_DEVMEM_METADATA)

HMMSIM_API int hmm_devmem_add(struct mm_system *sys, enum hmm_devmem_type type, uint64_t size,
			      const struct dev_pagemap_ops *ops, void *owner, unsigned int flags,
			      struct hmm_devmem **out)
{
	struct phys_pool_config pc = { 0 };
	struct hmm_devmem *dm;
	int err;

	if (!sys || !out || !ops || !size || (size & (MM_PAGE_SIZE - 1)) ||
	    (type != HMM_DEVMEM_PRIVATE && type != HMM_DEVMEM_COHERENT) ||
	    (flags & ~DEVMEM_FLAGS) || (type == HMM_DEVMEM_PRIVATE && !owner))
		return -EINVAL;	/* a private pgmap needs an owner, as memremap_pages says */
	dm = hs_calloc(1, sizeof(*dm));
	if (!dm)
		return -ENOMEM;
	pc.machine = sys->machine;
	pc.kind = type == HMM_DEVMEM_PRIVATE ? PHYS_DEVICE_PRIVATE : PHYS_DEVICE_COHERENT;
	pc.nr_frames = size >> MM_PAGE_SHIFT;
	pc.first_pfn = PHYS_PFN_AUTO;
	pc.numa_node = -1;
	pc.flags = ((flags & HMM_DEVMEM_FREE_AT_ONE) ? PHYS_POOL_FREE_AT_ONE : 0) |
		   ((flags & HMM_DEVMEM_METADATA) ? PHYS_POOL_METADATA : 0);
	pc.ops = &devmem_pgmap_ops;
	pc.owner = owner;
	pc.name = type == HMM_DEVMEM_PRIVATE ? "device-private" : "device-coherent";
	err = phys_pool_create(&pc, &dm->pool);
	if (err) {
		free(dm);
		return err == -EEXIST || err == -ENOSPC ? -ENOMEM : err;
	}
	dm->sys = sys;
	dm->ops = ops;
	dm->owner = owner;
	dm->type = type;
	dm->flags = flags;
	pthread_once(&fault_handler_once, register_fault_handler);
	pthread_mutex_lock(&registry_lock);
	dm->next = registry;
	__atomic_store_n(&registry, dm, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&registry_lock);
	*out = dm;
	return 0;
}

static void devmem_free_rcu(struct rcu_head *head)
{
	hs_rcu_callback_enter(head);
	free(container_of(head, struct hmm_devmem, rcu));
	hs_rcu_callback_exit();
}

HMMSIM_API int hmm_devmem_remove(struct hmm_devmem *dm)
{
	struct hmm_devmem **p;
	int err;

	if (!dm)
		return -EINVAL;
	/*
	 * The pool goes only when no page of it is allocated, so no lookup
	 * can be looking for it (a lookup starts from a page of the pool).
	 */
	pthread_mutex_lock(&registry_lock);
	err = phys_pool_destroy(dm->pool);
	if (!err) {
		for (p = &registry; *p; p = &(*p)->next) {
			if (*p == dm) {
				__atomic_store_n(p, dm->next, __ATOMIC_RELEASE);
				break;
			}
		}
	}
	pthread_mutex_unlock(&registry_lock);
	if (err)
		return err;
	/* A concurrent reader may still be walking past it. */
	hs_call_rcu(&dm->rcu, devmem_free_rcu);
	return 0;
}

HMMSIM_API struct phys_pool *hmm_devmem_pool(struct hmm_devmem *dm)
{
	return dm ? dm->pool : NULL;
}

HMMSIM_API void *hmm_devmem_owner(struct hmm_devmem *dm)
{
	return dm ? dm->owner : NULL;
}

HMMSIM_API struct folio *hmm_devmem_alloc(struct hmm_devmem *dm, unsigned int order)
{
	struct folio *folio;

	if (!dm) {
		errno = EINVAL;
		return NULL;
	}
	/* zone_device_folio_init: one reference (plus the pre-5.18 bias), locked. */
	folio = folio_alloc(dm->pool, order, 0);
	if (folio)
		folio_lock(folio);
	return folio;
}

struct hmm_devmem *hmm_devmem_of_pfn(struct mm_system *sys, uint64_t pfn)
{
	struct phys_pool *pool = phys_pfn_to_pool(sys->machine, pfn);
	struct hmm_devmem *dm;

	if (!pool || phys_pool_kind(pool) == PHYS_SYSTEM_RAM)
		return NULL;
	hs_rcu_read_lock();
	dm = devmem_of_pool(sys, pool);
	hs_rcu_read_unlock();
	return dm;
}

const struct dev_pagemap_ops *hmm_devmem_ops(struct hmm_devmem *dm)
{
	return dm->ops;
}
