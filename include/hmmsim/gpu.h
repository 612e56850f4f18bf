/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * gpu: a fake GPU MMU backend that drives the hmm layer the way a real SVM
 * driver does (seed 003; page-table-anchors.md §4, §5; linux-hmm.md §5).
 *
 * A device (struct gpu_dev) has:
 *  - a page-table format (a pt_format: GP100-like, x86-like or 4K-only);
 *  - one mirror per process it touches: a device page table on the pt engine
 *    and an interval notifier over the whole address space, whose
 *    invalidations clear the device entries of the range, invalidate the
 *    TLB and return only once the command queue is fenced;
 *  - an asynchronous command queue (PTE writes, PTE clears, TLB
 *    invalidations, copies) executed on a deterministic simulated clock or
 *    by a device thread, with a cost model and simulated time;
 *  - a set-associative TLB holding entries of every page size;
 *  - a fault buffer: device accesses without a translation record faults,
 *    which the handler sorts, de-duplicates and batches, serves with
 *    hmm_range_fault() in the notifier retry loop (linux-hmm.md §1.7), maps
 *    with the largest page size the format, the policy and the CPU mapping
 *    allow, then replays;
 *  - device memory (device-private by default) with migration both ways.
 *
 * The dmirror-style commands (gpu_dev_read() ... gpu_release()) are the
 * trace language's device commands (DESIGN.md) and return what the
 * kernel's test device returns (lib/test_hmm.c, hmm-tests.c): the same
 * errors, and the counters faults (device fault rounds, not pages) and
 * cpages (pages read, written, migrated or snapshotted).
 *
 * Correctness oracle: a device read returns the bytes a CPU read of the same
 * address returns at that moment. The device reads through its own page
 * table: system pages through their folios' bytes, its device-private pages
 * through the device folios' bytes.
 *
 * Threads: every thread that calls in must be registered
 * (hmmsim_thread_register()). The commands may be called concurrently from
 * any number of threads, on one device or several, for one process or
 * several, and concurrently with any CPU operation on those processes
 * (mm_read, munmap, fork...), except mm_exit() of a process a command is
 * using. None may be called with an mmap_lock held: they take it
 * themselves. Lock order: mmap_lock -> mirror lock -> queue -> TLB.
 *
 * Errors are negative errno values. A command that fails reports no
 * counters (as the kernel's ioctl, which copies them back on success only).
 */
#ifndef HMMSIM_GPU_H
#define HMMSIM_GPU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hmmsim/base.h>
#include <hmmsim/hmm.h>
#include <hmmsim/mm.h>
#include <hmmsim/pt.h>

#ifdef __cplusplus
extern "C" {
#endif

struct gpu_dev;

/* ------------------------------------------------------------------------ */
/* Formats                                                                  */
/* ------------------------------------------------------------------------ */

/*
 * The device page-table formats, as pt formats:
 *  GPU_FORMAT_GP100: 5 levels over a 49-bit VA (as nouveau's GP100), 4K
 *	pages, 64K pages as runs of 16 contiguous 4K entries, 2M leaves at
 *	level 1. x86's valid and leaf bit positions, so pt's unrolled lookup
 *	serves it.
 *  GPU_FORMAT_X86: 4 levels over 48 bits, 4K, 2M and 1G leaves.
 *  GPU_FORMAT_4K: 4 levels over 48 bits, 4K leaves only.
 */
enum gpu_format {
	GPU_FORMAT_GP100,
	GPU_FORMAT_X86,
	GPU_FORMAT_4K,
	GPU_NR_FORMATS,
};

/* The pt format of @f, or NULL. */
HMMSIM_API const struct pt_format *gpu_format_pt(enum gpu_format f);
/* "gp100", "x86", "4k"; NULL for an unknown format. */
HMMSIM_API const char *gpu_format_name(enum gpu_format f);
/* The format named @name (the names above). Returns 0 or -EINVAL. */
HMMSIM_API int gpu_format_parse(const char *name, enum gpu_format *out);

/*
 * The software bits of a device entry (in every format's sw field):
 * GPU_PTE_VRAM: the frame is the device's own memory (nouveau's VRAM
 * aperture); GPU_PTE_ATOMIC: a device-exclusive (atomic) mapping.
 */
#define GPU_PTE_VRAM	(UINT64_C(1) << 9)
#define GPU_PTE_ATOMIC	(UINT64_C(1) << 10)

/* Page sizes, for the per-size counters. */
enum gpu_page_size {
	GPU_PS_4K,
	GPU_PS_64K,
	GPU_PS_2M,
	GPU_PS_1G,
	GPU_NR_PAGE_SIZES,
};

/* ------------------------------------------------------------------------ */
/* Devices                                                                  */
/* ------------------------------------------------------------------------ */

/* Who executes the command queue. */
enum gpu_exec {
	/*
	 * A deterministic simulated clock: commands wait in the queue and run,
	 * in order, in the thread that fences them. No device thread.
	 */
	GPU_EXEC_CLOCK,
	/* A device thread runs them as they come; fences wait for it. */
	GPU_EXEC_THREAD,
};

/* How much a fault maps. */
enum gpu_map_policy {
	/* The whole large page the size policy allows around the faulting page. */
	GPU_MAP_LARGE,
	/* Only the faulting 4 KiB page (as the kernel's test device does). */
	GPU_MAP_PAGE,
};

/* Where the device page size comes from (seed 000). */
enum gpu_size_policy {
	/*
	 * hmm_pfn_to_map_order(): the CPU leaf's size, clipped to the largest
	 * size the format has, at the CPU leaf's alignment (nouveau). Large
	 * device pages appear exactly where the CPU maps large leaves.
	 */
	GPU_SIZE_MAP_ORDER,
	/* Ignored: 4 KiB pages only. */
	GPU_SIZE_4K,
	/*
	 * ODP-style inference: fault the aligned block of the largest size
	 * (inside the VMA) and infer sizes from folios and frame contiguity
	 * (hmm_range_infer_shift()).
	 */
	GPU_SIZE_INFER,
};

enum gpu_migrate_policy {
	GPU_MIGRATE_NEVER,		/* device faults map system memory */
	/*
	 * A device fault first migrates the block to the device; with the
	 * memory full, it evicts pages to system memory (least recently used
	 * first, a second-chance clock) and tries once more.
	 */
	GPU_MIGRATE_FIRST_TOUCH,
};

/*
 * struct gpu_cost - the cost model, in simulated nanoseconds. The defaults
 * (gpu_config_init()) and their sources (sim-perf-style.md §2.1):
 * @pte_write_ns:	per leaf entry written: 100, one device-memory access
 *			at MGPUSim's 100 cycles @ 1 GHz.
 * @pte_clear_ns:	per PTE-clear command: 100, the same access.
 * @tlb_invalidate_ns:	per TLB invalidation: 1000. No reference gives one;
 *			an assumption of one PCIe register write and its
 *			completion round trip.
 * @fault_batch_ns:	per fault batch served (a fault round is one batch or
 *			more): 45000, UVMSmart's far-fault latency (66,645
 *			cycles @ 1481 MHz).
 * @fault_page_ns:	per faulting page served: 500, what is left of
 *			amdgpu's 2.3-2.5 us per 4 KiB end to end
 *			(ROCm/legacy-rocm-build#6523) once the 1.76 us PCIe
 *			copy is taken out.
 * @walk_ns:		per TLB miss (page walk): 100, MGPUSim's MMU walk.
 * @copy_gibps:		the asymptote a (GiB/s) of UVMSmart's PCIe curve
 *			bw(n) = 2a/pi * atan(0.07292 * n / 1 KiB), halved from
 *			2 MiB: 12 (PCIe 3 x16), so 4 KiB takes 1.76 us.
 */
struct gpu_cost {
	uint64_t pte_write_ns;
	uint64_t pte_clear_ns;
	uint64_t tlb_invalidate_ns;
	uint64_t fault_batch_ns;
	uint64_t fault_page_ns;
	uint64_t walk_ns;
	double copy_gibps;
};

/*
 * struct gpu_config - fill with gpu_config_init(), then change fields.
 * @name:	for messages (copied; may be NULL).
 * @format:	the device page-table format (default GP100).
 * @memory:	bytes of device memory, a multiple of 4 KiB (default 256 MiB,
 *		test_hmm's chunk); 0 for none (migration to the device then
 *		fails with -ENOMEM).
 * @memory_type: HMM_DEVMEM_PRIVATE (default) or HMM_DEVMEM_COHERENT.
 * @exec:	GPU_EXEC_CLOCK (default) or GPU_EXEC_THREAD.
 * @map, @size, @migrate: the fault policies (defaults: LARGE, MAP_ORDER,
 *		NEVER).
 * @tlb_sets, @tlb_ways: the TLB geometry (default 64 x 8); @tlb_sets a power
 *		of two.
 * @fault_buffer: fault buffer entries (default 8192); a device access that
 *		finds it full stalls until the handler drains it.
 * @fault_batch: faults per batch (default 256, NVIDIA UVM's
 *		UVM_PERF_FAULT_BATCH_COUNT_DEFAULT).
 * @access_bytes: bytes of one device access (a warp's transaction), a power
 *		of two from 64 to 4096 (default 4096: one access per page).
 *		Smaller accesses make duplicate faults, which the handler drops.
 * @reclaim:	device page-table directories: PT_RECLAIM_KEEP (default, seed
 *		001: kept until munmap, so migration ping-pong does not
 *		thrash) or PT_RECLAIM_EAGER.
 * @retry_timeout_ms: the hmm_range_fault() retry bound (default 1000,
 *		HMM_RANGE_DEFAULT_TIMEOUT); -EBUSY when it expires.
 * @free_at_one: device pages freed at refcount 1 (the kernel before 5.18).
 * @cost:	the cost model.
 */
struct gpu_config {
	const char *name;
	enum gpu_format format;
	uint64_t memory;
	enum hmm_devmem_type memory_type;
	enum gpu_exec exec;
	enum gpu_map_policy map;
	enum gpu_size_policy size;
	enum gpu_migrate_policy migrate;
	unsigned int tlb_sets;
	unsigned int tlb_ways;
	unsigned int fault_buffer;
	unsigned int fault_batch;
	unsigned int access_bytes;
	enum pt_reclaim reclaim;
	unsigned int retry_timeout_ms;
	bool free_at_one;
	struct gpu_cost cost;
};

/* The defaults above. */
HMMSIM_API void gpu_config_init(struct gpu_config *cfg);

/*
 * Create a device of @sys (@cfg NULL: the defaults); its device memory is
 * registered with hmm (hmm_devmem_add(), owner: the device).
 * Returns 0 and the device in *@out; -EINVAL (a bad field), -ENOMEM.
 */
HMMSIM_API int gpu_dev_create(struct mm_system *sys, const struct gpu_config *cfg,
			      struct gpu_dev **out);

/*
 * Destroy @dev: evict its memory (gpu_release()), remove its mirrors'
 * notifiers, stop its thread, free everything. Returns 0; -EBUSY, with the
 * device still usable, when device pages stay mapped (by a process the
 * device does not mirror: a fork child). Context: no command runs on @dev.
 */
HMMSIM_API int gpu_dev_destroy(struct gpu_dev *dev);

HMMSIM_API const char *gpu_dev_name(const struct gpu_dev *dev);
HMMSIM_API const struct gpu_config *gpu_dev_config(const struct gpu_dev *dev);
/* The device memory (NULL without), whose owner is @dev. */
HMMSIM_API struct hmm_devmem *gpu_dev_devmem(struct gpu_dev *dev);

/*
 * Make the next @n large (2 MiB) page allocations of @dev fail, in either
 * direction of migration, so that they fall back to 4 KiB pages (the
 * kernel's HMM_DMIRROR_FLAG_FAIL_ALLOC).
 */
HMMSIM_API void gpu_fail_alloc(struct gpu_dev *dev, unsigned int n);

/* Wait until every queued command has run. The simulated time now. */
HMMSIM_API void gpu_sync(struct gpu_dev *dev);
HMMSIM_API uint64_t gpu_sim_time(struct gpu_dev *dev);

/* ------------------------------------------------------------------------ */
/* Commands (test_hmm's ioctls; the trace language's device commands)      */
/* ------------------------------------------------------------------------ */

/*
 * struct gpu_result - what a command reports.
 * @faults:	device fault rounds (test_hmm's cmd.faults): handler passes
 *		that served this command's faults, not pages.
 * @cpages:	pages read, written, migrated, made exclusive or snapshotted.
 * @sum:	the byte sum of what was read (read, migrate_to_dev and
 *		exclusive read the range back), else 0.
 * @sim_ns:	simulated time the device spent during the command.
 */
struct gpu_result {
	uint64_t faults;
	uint64_t cpages;
	uint64_t sum;
	uint64_t sim_ns;
};

/*
 * The device reads [@addr, @addr + @len) of @mm through its mirror, into
 * @buf (may be NULL), faulting what it lacks. Byte granularity; cpages
 * counts the pages touched. @res may be NULL.
 * Returns 0; -EINVAL (@len 0, the range wraps or passes the user address
 * space); -EFAULT (a page with no VMA, or PROT_NONE); -EBUSY (the retry
 * bound expired); -ENOMEM.
 */
HMMSIM_API int gpu_dev_read(struct gpu_dev *dev, struct mm_struct *mm, uint64_t addr,
			    uint64_t len, void *buf, struct gpu_result *res);

/*
 * The device writes @buf (gpu_dev_write) or @byte (gpu_dev_memset) to
 * [@addr, @addr + @len). As gpu_dev_read(), plus -EPERM: a write to a VMA
 * without write permission; -EFAULT also for a device-private page of this
 * device that the CPU maps read-only (after fork: hmm_range_fault() reports
 * its own pages and never faults them).
 */
HMMSIM_API int gpu_dev_write(struct gpu_dev *dev, struct mm_struct *mm, uint64_t addr,
			     uint64_t len, const void *buf, struct gpu_result *res);
HMMSIM_API int gpu_dev_memset(struct gpu_dev *dev, struct mm_struct *mm, uint64_t addr,
			      uint64_t len, int byte, struct gpu_result *res);

/*
 * Migrate [@addr, @addr + @len) (page-aligned) to the device's memory
 * (migrate_vma, SELECT_SYSTEM | SELECT_COMPOUND, in steps of one VMA and at
 * most one 2 MiB block: a compound source gets a 2 MiB device folio, but
 * hmm's migrate_vma splits THPs today, so pages move one by one), map what
 * moved, and read the range back through the mirror into @buf (may be NULL)
 * and the sum. cpages = pages the mirror maps afterwards.
 * Returns 0; -EINVAL (misaligned or empty, a page with no VMA or a VMA
 * without read permission, hugetlb); -ENOENT (a page of the range is not in
 * the mirror afterwards: shared memory, another device's page...);
 * -ENOMEM (no device memory, or a step where nothing could move for want of
 * it).
 */
HMMSIM_API int gpu_migrate_to_dev(struct gpu_dev *dev, struct mm_struct *mm, uint64_t addr,
				  uint64_t len, void *buf, struct gpu_result *res);

/*
 * Migrate this device's pages of [@addr, @addr + @len) back to system memory
 * (SELECT_DEVICE_PRIVATE, or _COHERENT for coherent memory).
 * cpages = pages migrated. Returns 0, -EINVAL as above, -ENOMEM.
 */
HMMSIM_API int gpu_migrate_to_sys(struct gpu_dev *dev, struct mm_struct *mm, uint64_t addr,
				  uint64_t len, struct gpu_result *res);

/*
 * Snapshot flags, one word per page: what the device learns of the CPU
 * mapping (test_hmm's HMM_DMIRROR_PROT_*), bits in DESIGN.md's order.
 * ERROR alone: no access possible; NONE alone: nothing valid there now
 * (a hole in a VMA, another device's private page...); otherwise READ or
 * WRITE, with ZERO (the 4 KiB zero page), PMD / PUD (the CPU maps it with
 * that leaf), and the kind of device memory.
 */
#define GPU_SNAP_ERROR			(1u << 0)
#define GPU_SNAP_NONE			(1u << 1)
#define GPU_SNAP_READ			(1u << 2)
#define GPU_SNAP_WRITE			(1u << 3)
#define GPU_SNAP_ZERO			(1u << 4)
#define GPU_SNAP_PMD			(1u << 5)
#define GPU_SNAP_PUD			(1u << 6)
#define GPU_SNAP_DEV_PRIVATE_LOCAL	(1u << 7)
#define GPU_SNAP_DEV_PRIVATE_REMOTE	(1u << 8)
#define GPU_SNAP_DEV_COHERENT_LOCAL	(1u << 9)
#define GPU_SNAP_DEV_COHERENT_REMOTE	(1u << 10)
#define GPU_SNAP_NR_FLAGS		11

/* The name of snapshot flag bit @bit ("ERROR", ...), or NULL. */
HMMSIM_API const char *gpu_snap_flag_name(unsigned int bit);

/*
 * hmm_range_fault() without faulting over [@addr, @addr + @len)
 * (page-aligned): one flag word per page into @flags (may be NULL).
 * cpages = pages. Returns 0, -EINVAL, -EBUSY, -ENOMEM.
 */
HMMSIM_API int gpu_snapshot(struct gpu_dev *dev, struct mm_struct *mm, uint64_t addr,
			    uint64_t len, uint32_t *flags, struct gpu_result *res);

/*
 * DESIGN.md's snapshot runs: "COUNT:FLAGS" items joined by commas, FLAGS
 * the names joined by '|'. Writes at most @size bytes (NUL included).
 * Returns the length of the whole string, as snprintf.
 */
HMMSIM_API int gpu_snapshot_format(const uint32_t *flags, uint64_t npages, char *buf,
				   size_t size);

/* The kernel's byte encoding of a snapshot word (HMM_DMIRROR_PROT_*). */
HMMSIM_API uint8_t gpu_snapshot_to_dmirror(uint32_t flags);

/*
 * Device-exclusive (atomic) access to [@addr, @addr + @len) (page-aligned):
 * make_device_exclusive() page by page, mapped atomic in the mirror, then
 * read back into @buf (may be NULL) and the sum. cpages = pages.
 * Returns 0, -EINVAL, make_device_exclusive()'s errors (-EFAULT, -EPERM,
 * -EOPNOTSUPP for memory that is not private anonymous, -EBUSY, -ENOMEM),
 * and -ENOENT when a page is not in the mirror at the read back (a CPU
 * access took it back meanwhile).
 */
HMMSIM_API int gpu_exclusive(struct gpu_dev *dev, struct mm_struct *mm, uint64_t addr,
			     uint64_t len, void *buf, struct gpu_result *res);

/*
 * test_hmm's CHECK_EXCLUSIVE: -EPERM when an atomic mapping is left in the
 * range, 0 otherwise (a CPU access revokes them), -EINVAL.
 */
HMMSIM_API int gpu_check_exclusive(struct gpu_dev *dev, struct mm_struct *mm, uint64_t addr,
				   uint64_t len);

/*
 * Evict all of @dev's memory back to system memory: first what every
 * process the device mirrors maps (test_hmm), then by frame, in every
 * process, what is left (pages of processes the device does not mirror,
 * as dmirror's release does with migrate_device_range()).
 * Context: no mmap_lock held; not concurrently with gpu_dev_destroy().
 * Returns 0; -EINVAL (@dev NULL); -EBUSY when device pages remain (held by
 * someone else at the moment: locked, or in a process too busy to unmap
 * them from); -ENOMEM.
 */
HMMSIM_API int gpu_release(struct gpu_dev *dev);

/* ------------------------------------------------------------------------ */
/* Inspection, statistics, checks                                           */
/* ------------------------------------------------------------------------ */

/*
 * struct gpu_mapping - one device leaf.
 * @va:		the leaf's first address; @shift: log2 of its size.
 * @pfn:	the frame of the leaf's first page.
 * @write, @vram, @atomic: its permission and kind.
 */
struct gpu_mapping {
	uint64_t va;
	unsigned int shift;
	uint64_t pfn;
	bool write;
	bool vram;
	bool atomic;
};

/*
 * The device leaf translating @va in @mm's mirror, after the queue is
 * fenced. Returns 0; -ENOENT (no leaf, or no mirror of @mm).
 */
HMMSIM_API int gpu_lookup(struct gpu_dev *dev, struct mm_struct *mm, uint64_t va,
			  struct gpu_mapping *m);

/*
 * struct gpu_stats - counters of one device (monotonic, but @dirs and
 * @devmem_pages).
 * @faults:	faults recorded by device accesses (duplicates included).
 * @fault_rounds: handler passes (what commands report as faults=).
 * @fault_batches: batches served.
 * @fault_duplicates: faults dropped (same page, or covered by a mapping
 *		made earlier in the batch).
 * @ebusy_retries: hmm_range_fault() -EBUSY returns plus read_retry
 *		collisions under the mirror lock.
 * @range_faults: hmm_range_fault() calls.
 * @pte_writes: leaf entries written, per page size.
 * @pte_clears:	PTE-clear commands (invalidations, migrations).
 * @tlb_hits, @tlb_misses: device accesses found or not in the TLB.
 * @tlb_fills:	TLB entries filled, per page size.
 * @tlb_invalidations: TLB invalidation commands; @tlb_flushed: entries they
 *		dropped; @tlb_evictions: entries replaced by a fill.
 * @invalidations: notifier callbacks that cleared device entries;
 *		@invalidations_skipped: own MIGRATE events ignored (test_hmm).
 * @pages_to_dev, @pages_to_sys, @bytes_to_dev, @bytes_to_sys: migrated.
 * @migrate_to_ram: CPU faults (and other devices) served by migrate_to_ram.
 * @evictions:	device pages moved back to system memory to make room for
 *		migrate-on-first-touch (least recently used first); also
 *		counted in @pages_to_sys.
 * @devmem_pages: device pages in use now; @devmem_frees: page_free calls.
 * @dirs:	device page-table directories in use now (all mirrors);
 *		@dir_allocs: allocated over the device's life.
 * @commands:	commands executed; @fences: fences waited for.
 * @sim_ns:	the device's simulated time.
 */
struct gpu_stats {
	uint64_t faults;
	uint64_t fault_rounds;
	uint64_t fault_batches;
	uint64_t fault_duplicates;
	uint64_t ebusy_retries;
	uint64_t range_faults;
	uint64_t pte_writes[GPU_NR_PAGE_SIZES];
	uint64_t pte_clears;
	uint64_t tlb_hits;
	uint64_t tlb_misses;
	uint64_t tlb_fills[GPU_NR_PAGE_SIZES];
	uint64_t tlb_invalidations;
	uint64_t tlb_flushed;
	uint64_t tlb_evictions;
	uint64_t invalidations;
	uint64_t invalidations_skipped;
	uint64_t pages_to_dev;
	uint64_t pages_to_sys;
	uint64_t bytes_to_dev;
	uint64_t bytes_to_sys;
	uint64_t migrate_to_ram;
	uint64_t evictions;
	uint64_t devmem_pages;
	uint64_t devmem_frees;
	uint64_t dirs;
	uint64_t dir_allocs;
	uint64_t commands;
	uint64_t fences;
	uint64_t sim_ns;
};

/* Read the counters (after fencing the queue). */
HMMSIM_API void gpu_stats(struct gpu_dev *dev, struct gpu_stats *st);

/*
 * The counters as one line of "name=value" items joined by spaces, in the
 * order of struct gpu_stats (per-size arrays as pte_4k= pte_64k= pte_2m=
 * pte_1g= and tlb_fill_4k= ...). Writes at most @size bytes; returns the
 * whole length, as snprintf.
 */
HMMSIM_API int gpu_stats_format(const struct gpu_stats *st, char *buf, size_t size);

/*
 * Check @dev: every mirror's table passes pt_check(), and every device leaf
 * agrees with the CPU page table: each page it maps is mapped by the CPU
 * to the same frame (present, or this device's private or exclusive entry),
 * writable on the device only if writable on the CPU.
 * Context: no command or CPU operation runs meanwhile (takes the mmap_locks
 * for reading).
 * Returns 0, or -EUCLEAN with the first violation in @msg.
 */
HMMSIM_API int gpu_check(struct gpu_dev *dev, char *msg, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* HMMSIM_GPU_H */
