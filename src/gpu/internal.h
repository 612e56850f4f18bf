/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * gpu internals shared by the files of src/gpu/.
 *
 * Objects and their locks, outermost first:
 *  - an mm's mmap_lock (taken by the commands, held by the CPU side when it
 *    calls a notifier);
 *  - gpu_dev.fault_lock: one fault-handler pass at a time (never taken with
 *    an mmap_lock or a mirror lock held);
 *  - gpu_mirror.lock: the driver update lock of linux-hmm.md §1.7 (the
 *    invalidate callback takes it; read_retry is checked under it);
 *  - gpu_dev.lock: the list of mirrors (held briefly, nothing inside);
 *  - the queue: gpu_queue.exec (the clock executor), then gpu_queue.lock;
 *  - gpu_dev.access (a device access reads under it; a TLB invalidation
 *    takes it for writing, so it returns only once no access still uses a
 *    translation it drops), then gpu_tlb.lock; gpu_dev.fb_lock.
 */
#ifndef HMMSIM_GPU_INTERNAL_H
#define HMMSIM_GPU_INTERNAL_H

#include <errno.h>
#include <pthread.h>

#include <hmmsim/gpu.h>

#include "base/compiler.h"

#define GPU_PAGE_SHIFT	12
#define GPU_PAGE_SIZE	(UINT64_C(1) << GPU_PAGE_SHIFT)
#define GPU_PMD_SIZE	(UINT64_C(1) << 21)
/* The most pages one hmm_range_fault() of a fault run covers: one PMD span. */
#define GPU_RUN_MAX_PAGES	512

#define GPU_STAT_ADD(dev, field, n) \
	__atomic_fetch_add(&(dev)->stats.field, (uint64_t)(n), __ATOMIC_RELAXED)
#define GPU_STAT_INC(dev, field) GPU_STAT_ADD(dev, field, 1)

static inline uint64_t gpu_align_down(uint64_t x, uint64_t a)
{
	return x & ~(a - 1);
}

static inline uint64_t gpu_min(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static inline uint64_t gpu_max(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

/* ------------------------------------------------------------------------ */
/* format.c                                                                 */
/* ------------------------------------------------------------------------ */

/* The per-size counter index of a page shift, or -1. */
int gpu_ps_index(unsigned int shift);

/* The largest page shift of @sizes (a pt page_sizes bitmap) <= @max_shift, at least 12. */
unsigned int gpu_fit_shift(uint64_t sizes, unsigned int max_shift);

/* ------------------------------------------------------------------------ */
/* tlb.c                                                                    */
/* ------------------------------------------------------------------------ */

struct gpu_tlb_entry {
	uint64_t tag;			/* va >> shift */
	uint64_t pfn;			/* the frame of the page's first 4 KiB */
	uint64_t stamp;			/* last use, for LRU */
	uint32_t asid;
	uint8_t shift;
	uint8_t valid;
	uint8_t write;
};

struct gpu_tlb {
	pthread_mutex_t lock;
	unsigned int sets, ways;
	struct gpu_tlb_entry *e;	/* sets * ways */
	uint64_t tick;
	unsigned int nr_shifts;
	uint8_t shifts[PT_MAX_LEVELS * 2];	/* the format's page shifts, largest first */
};

struct gpu_dev;

int gpu_tlb_init(struct gpu_tlb *tlb, unsigned int sets, unsigned int ways, uint64_t page_sizes);
void gpu_tlb_fini(struct gpu_tlb *tlb);
/* A hit gives the frame of @va in *@pfn; a write needs a writable entry. */
bool gpu_tlb_lookup(struct gpu_dev *dev, uint32_t asid, uint64_t va, bool write, uint64_t *pfn);
void gpu_tlb_fill(struct gpu_dev *dev, uint32_t asid, uint64_t va, unsigned int shift,
		  uint64_t first_pfn, bool write);
/* Drop @asid's entries overlapping [start, end); the number dropped. */
uint64_t gpu_tlb_invalidate(struct gpu_dev *dev, uint32_t asid, uint64_t start, uint64_t end);

/* ------------------------------------------------------------------------ */
/* queue.c                                                                  */
/* ------------------------------------------------------------------------ */

enum gpu_cmd_op {
	GPU_CMD_PTE_WRITE,	/* replace what maps [va, va + size) with one run of leaves */
	GPU_CMD_PTE_CLEAR,	/* clear [va, va + size) */
	GPU_CMD_TLB_INVALIDATE,	/* drop the mirror's TLB entries of [va, va + size) */
	GPU_CMD_COPY,		/* copy pages between folios */
};

struct gpu_mirror;

struct gpu_cmd {
	enum gpu_cmd_op op;
	struct gpu_mirror *mirror;
	uint64_t va, size;
	unsigned int shift;		/* PTE_WRITE: the leaf size */
	unsigned int flags;		/* PTE_CLEAR: pt_unmap() flags */
	pt_entry_t entry;		/* PTE_WRITE: the first leaf */
	/* COPY: nr pages from page src_page of src to page dst_page of dst */
	struct folio *dst, *src;
	uint64_t dst_page, src_page, nr;
	bool to_dev;
};

struct gpu_queue {
	pthread_mutex_t lock;
	pthread_cond_t work;		/* thread mode: commands or stop */
	pthread_cond_t done;		/* completed moved */
	pthread_mutex_t exec;		/* clock mode: one executor at a time */
	struct gpu_cmd *ring;
	size_t cap, head, count;
	uint64_t submitted, completed;
	bool thread_running, stop;
	pthread_t thread;
};

int gpu_queue_init(struct gpu_dev *dev);
void gpu_queue_fini(struct gpu_dev *dev);
/* Queue one command. Returns 0 or -ENOMEM (then the caller fences and retries). */
int gpu_queue_submit(struct gpu_dev *dev, const struct gpu_cmd *cmd);
/* Wait until everything submitted so far has run (a fence: counted in stats.fences). */
void gpu_queue_fence(struct gpu_dev *dev);
/*
 * The same wait, not counted: for observers (gpu_check()) that must not
 * change what they observe.
 */
void gpu_queue_drain(struct gpu_dev *dev);
/* The simulated cost of copying @bytes (UVMSmart's PCIe curve). */
uint64_t gpu_copy_ns(const struct gpu_cost *cost, uint64_t bytes);

/* Convenience submitters; they never fail (on -ENOMEM they fence and retry). */
void gpu_cmd_pte_write(struct gpu_mirror *m, uint64_t va, uint64_t size, unsigned int shift,
		       pt_entry_t entry);
void gpu_cmd_clear(struct gpu_mirror *m, uint64_t start, uint64_t end, unsigned int flags);
void gpu_cmd_copy(struct gpu_dev *dev, struct folio *dst, uint64_t dst_page, struct folio *src,
		  uint64_t src_page, uint64_t nr, bool to_dev);

/* ------------------------------------------------------------------------ */
/* fault.c                                                                  */
/* ------------------------------------------------------------------------ */

/* The requester of faults: the handler reports its error here. */
struct gpu_fault_ctx {
	int err;
};

struct gpu_fault {
	struct gpu_mirror *mirror;
	struct gpu_fault_ctx *ctx;
	uint64_t va;			/* page-aligned */
	bool write;
};

/* Record a fault; false when the buffer is full (the access stalls). */
bool gpu_fault_record(struct gpu_dev *dev, struct gpu_fault_ctx *ctx, struct gpu_mirror *m,
		      uint64_t va, bool write);
/* One handler pass: drain the buffer batch by batch, map, fence. */
void gpu_fault_service(struct gpu_dev *dev);
/*
 * Run @fn in the notifier retry loop of linux-hmm.md §1.7: read_begin,
 * hmm_range_fault under the mmap_lock, then @fn under the mirror lock once
 * read_retry says the output is current. -EBUSY after the timeout.
 */
struct gpu_range_op {
	struct hmm_range range;
	/* Called before each attempt with the mmap_lock held: set up range. */
	int (*prepare)(struct gpu_range_op *op);
	/* Called under the mirror lock with a current output. */
	int (*commit)(struct gpu_range_op *op);
	struct gpu_mirror *mirror;
	void *arg;
};
int gpu_range_fault_locked(struct gpu_range_op *op);

/* ------------------------------------------------------------------------ */
/* mirror.c                                                                 */
/* ------------------------------------------------------------------------ */

struct gpu_mirror {
	struct gpu_dev *dev;
	struct mm_struct *mm;
	struct mmu_interval_notifier notifier;
	pthread_mutex_t lock;		/* the driver update lock */
	struct pt_table *pt;
	uint32_t asid;
	int dead;			/* atomic: the mm exited (RELEASE seen) */
	/*
	 * Bumped (under lock) each time one of this device's migrations clears
	 * the entries of pages it moves. Our own MIGRATE notifications are
	 * skipped and do not move the notifier sequence, so read_retry alone
	 * cannot tell a fault that its hmm_range_fault() output (taken before
	 * the migration collected the page) names a source page already copied;
	 * the fault path checks this too. Atomic: read before the fault.
	 */
	unsigned long migrate_seq;
	struct gpu_mirror *next;
};

/* The mirror of @mm on @dev, created (with its notifier) if needed. NULL: -ENOMEM. */
int gpu_mirror_get(struct gpu_dev *dev, struct mm_struct *mm, struct gpu_mirror **out);
/* The live mirror of @mm, or NULL. */
struct gpu_mirror *gpu_mirror_find(struct gpu_dev *dev, struct mm_struct *mm);
/* Clear the device entries of [start, end) and fence. Context: the mirror lock. */
void gpu_mirror_clear_sync(struct gpu_mirror *m, uint64_t start, uint64_t end, unsigned int flags);
void gpu_mirror_destroy(struct gpu_mirror *m);
/* The user address space every mirror covers. */
#define GPU_VA_END	MM_TASK_SIZE

/* ------------------------------------------------------------------------ */
/* access.c                                                                 */
/* ------------------------------------------------------------------------ */

/*
 * Translate @va for a device access through the TLB, walking the mirror's
 * table on a miss. Returns 0 with the frame in *@pfn, or -EFAULT when the
 * access must fault. Context: dev->access held for reading.
 */
int gpu_translate(struct gpu_mirror *m, uint64_t va, bool write, uint64_t *pfn);

enum gpu_access_op {
	GPU_ACC_READ,
	GPU_ACC_WRITE,
	GPU_ACC_MEMSET,
};

/*
 * One device access of [va, va + len) inside a page: translate and move
 * the bytes (a read adds them to *@sum and copies them to @buf if not
 * NULL). Returns 0 or -EFAULT (no translation: record a fault).
 */
int gpu_access(struct gpu_mirror *m, uint64_t va, uint64_t len, enum gpu_access_op op,
	       void *buf, const void *src, int byte, uint64_t *sum);

/* The folio holding frame @pfn and the page index in it, or NULL. */
struct folio *gpu_pfn_folio(struct gpu_dev *dev, uint64_t pfn, uint64_t *page);

/* ------------------------------------------------------------------------ */
/* migrate.c                                                                */
/* ------------------------------------------------------------------------ */

extern const struct dev_pagemap_ops gpu_devmem_ops;

/*
 * Migrate [start, end) of @vma (inside one VMA) to the device (@to_dev) or
 * back; map what moved when @map. *@moved += pages moved; *@nomem (if not
 * NULL) += pages left where they are for want of a destination.
 * Context: the mmap_lock held for reading; @m may be NULL (no mirror).
 */
int gpu_migrate_vma(struct gpu_dev *dev, struct gpu_mirror *m, struct vm_area_struct *vma,
		    uint64_t start, uint64_t end, bool to_dev, bool map, uint64_t *moved,
		    uint64_t *nomem);

/* ------------------------------------------------------------------------ */
/* evict.c                                                                  */
/* ------------------------------------------------------------------------ */

/*
 * The device memory's second-chance clock: an access or a migration to the
 * device marks the frames it uses; eviction passes over the frames with a
 * hand, clearing marks, and takes the first folio it finds unmarked. A
 * migration to the device also stamps its frames with the current epoch
 * (one per first-touch service): eviction never takes what the fault it
 * makes room for has just brought in.
 */
struct gpu_mem_lru {
	uint64_t first, frames;		/* the pool's frames */
	uint8_t *used;			/* per frame: used since the hand passed (atomic) */
	uint32_t *stamp;		/* per frame: the epoch it came to the device (atomic) */
	uint32_t epoch;			/* atomic; advanced under dev->fault_lock */
	uint64_t hand;			/* under dev->fault_lock */
};

int gpu_mem_lru_init(struct gpu_dev *dev);
void gpu_mem_lru_fini(struct gpu_dev *dev);
/* Mark frames [@pfn, @pfn + @n) used, if they are the device's memory. Any context. */
void gpu_mem_touch(struct gpu_dev *dev, uint64_t pfn, uint64_t n);
/* The same for frames just migrated to the device, stamped with the epoch. Any context. */
void gpu_mem_new(struct gpu_dev *dev, uint64_t pfn, uint64_t n);
/* A new epoch: a first-touch service begins. Context: dev->fault_lock. */
void gpu_mem_epoch_begin(struct gpu_dev *dev);
/*
 * Evict at least @want pages of the device's memory (least recently used
 * first, by the clock; none of this epoch's) back to system memory,
 * wherever they are mapped. Returns the pages evicted (fewer when the rest
 * is busy, gone or new).
 * Context: dev->fault_lock held; no mmap_lock, no mirror lock.
 */
uint64_t gpu_mem_evict(struct gpu_dev *dev, uint64_t want);

/* ------------------------------------------------------------------------ */
/* The device                                                               */
/* ------------------------------------------------------------------------ */

struct gpu_dev {
	struct mm_system *sys;
	struct phys_machine *machine;
	struct gpu_config cfg;
	char name[32];
	const struct pt_format *fmt;
	struct pt_geometry geo;
	struct hmm_devmem *devmem;
	bool metadata;			/* frames without bytes */

	pthread_mutex_t lock;		/* mirrors */
	struct gpu_mirror *mirrors;
	uint32_t next_asid;

	struct gpu_queue queue;
	struct gpu_tlb tlb;
	pthread_rwlock_t access;

	pthread_mutex_t fault_lock;	/* one handler pass at a time */
	pthread_mutex_t fb_lock;	/* the fault buffer: a ring */
	struct gpu_fault *fb;
	unsigned int fb_head, fb_count;
	/* The handler's working memory, under fault_lock. */
	struct gpu_fault *svc_batch;	/* fault_batch entries */
	uint8_t *svc_want;		/* per page of a run: a write faulted */
	uint64_t *svc_pfns;		/* hmm_range_fault() output */
	size_t svc_cap;

	struct gpu_mem_lru lru;		/* first-touch eviction (evict.c) */

	unsigned int fail_alloc;	/* atomic */
	struct gpu_stats stats;		/* atomic counters; sim_ns is the clock */
};

static inline void gpu_clock_add(struct gpu_dev *dev, uint64_t ns)
{
	GPU_STAT_ADD(dev, sim_ns, ns);
}

static inline uint64_t gpu_clock(struct gpu_dev *dev)
{
	return __atomic_load_n(&dev->stats.sim_ns, __ATOMIC_RELAXED);
}

/* Take one forced large-allocation failure, if any is pending. */
bool gpu_take_fail_alloc(struct gpu_dev *dev);

/* Host monotonic time in ms, for the retry bound. */
uint64_t gpu_now_ms(void);

/* Validate a command range: 0, or -EINVAL. @aligned: page alignment required. */
int gpu_check_range(uint64_t addr, uint64_t len, bool aligned);

/* Read [addr, addr + len) back through the mirror without faulting (-ENOENT on a hole). */
int gpu_read_back(struct gpu_mirror *m, uint64_t addr, uint64_t len, void *buf,
		  struct gpu_result *res);

/* ------------------------------------------------------------------------ */
/* Test hooks                                                               */
/* ------------------------------------------------------------------------ */

/*
 * Points where a test may run code of its own, to make a rare interleaving
 * of two threads happen on purpose (tests/gpu/test_gpu_races.c, linked with
 * the static library). The hook is NULL outside such tests: one load.
 */
enum gpu_hook_point {
	/*
	 * gpu_range_fault_locked(): hmm_range_fault() returned its output,
	 * not yet checked under the mirror lock. No lock held. @arg: the
	 * range's start.
	 */
	GPU_HOOK_RANGE_FAULTED,
	/*
	 * A migration step: the moving pages are cleared from the mirror,
	 * nothing is copied yet. The mmap_lock held for reading. @arg: the
	 * step's start.
	 */
	GPU_HOOK_MIGRATE_CLEARED,
	/*
	 * gpu_access(): the folio of the frame is looked up, its bytes not
	 * taken yet. dev->access held for reading. @arg: the frame.
	 */
	GPU_HOOK_ACCESS_FRAME,
};

typedef void gpu_hook_fn(enum gpu_hook_point point, struct gpu_dev *dev, uint64_t arg);
extern gpu_hook_fn *gpu_test_hook;

static inline void gpu_hook(enum gpu_hook_point point, struct gpu_dev *dev, uint64_t arg)
{
	gpu_hook_fn *fn = __atomic_load_n(&gpu_test_hook, __ATOMIC_ACQUIRE);

	if (unlikely(fn))
		fn(point, dev, arg);
}

#endif /* HMMSIM_GPU_INTERNAL_H */
