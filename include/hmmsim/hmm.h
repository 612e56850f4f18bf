/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * hmm: the API a device driver programs against, with the kernel's
 * semantics (linux-hmm.md §1 to §5, §8): interval notifiers with sequence
 * numbers, hmm_range_fault() with the map-order query, device memory with
 * its free and migrate-to-RAM callbacks, migrate_vma, device-exclusive
 * entries and pins.
 *
 * Names and encodings follow the kernel (v6.16+ for the output word), so a
 * prototype moves between hmmsim and a kernel tree with little change.
 *
 * Locking, as in the kernel: hmm_range_fault() and migrate_vma_*() are
 * called with the mm's mmap_lock held for reading; interval notifier
 * invalidate callbacks run with it held (either way) and take the driver's
 * own lock; read_retry is checked under that driver lock.
 */
#ifndef HMMSIM_HMM_H
#define HMMSIM_HMM_H

#include <stdbool.h>
#include <stdint.h>

#include <hmmsim/base.h>
#include <hmmsim/mm.h>
#include <hmmsim/phys.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Interval notifiers (mmu_interval_notifier)                               */
/* ------------------------------------------------------------------------ */

struct mmu_interval_notifier;

/*
 * struct mmu_interval_notifier_ops
 * @invalidate:	[range->start, range->end) overlapping the interval is about
 *		to change. Must take the driver lock, call
 *		mmu_interval_set_seq(sub, cur_seq), tear down the device's
 *		mappings of the range, and return true (false only for a
 *		non-blockable range it cannot serve without sleeping).
 */
struct mmu_interval_notifier_ops {
	bool (*invalidate)(struct mmu_interval_notifier *sub,
			   const struct mmu_notifier_range *range, uint64_t cur_seq);
};

/*
 * struct mmu_interval_notifier - embed it in the driver's object. The fields
 * are hmmsim's; read @start and @last (inclusive) if useful.
 */
struct mmu_interval_notifier {
	const struct mmu_interval_notifier_ops *ops;
	struct mm_struct *mm;
	uint64_t start;
	uint64_t last;
	uint64_t invalidate_seq;
	struct mmu_interval_notifier *next;	/* the mm's list */
	bool inserted;
};

/*
 * Watch [@start, @start + @length) of @mm. Context: not with @mm's
 * mmap_lock held (use _locked then). Returns 0, -EINVAL (no ops, NULL
 * arguments, already inserted), -EOVERFLOW (zero length or a range that
 * wraps), -ENOMEM.
 */
HMMSIM_API int mmu_interval_notifier_insert(struct mmu_interval_notifier *sub,
					    struct mm_struct *mm, uint64_t start, uint64_t length,
					    const struct mmu_interval_notifier_ops *ops);
HMMSIM_API int mmu_interval_notifier_insert_locked(struct mmu_interval_notifier *sub,
						   struct mm_struct *mm, uint64_t start,
						   uint64_t length,
						   const struct mmu_interval_notifier_ops *ops);

/*
 * Stop watching. Waits for an invalidation in progress on the interval;
 * afterwards no callback runs. Not from a callback. -EINVAL if not inserted.
 */
HMMSIM_API int mmu_interval_notifier_remove(struct mmu_interval_notifier *sub);

/*
 * The sequence protocol. read_begin returns the interval's sequence,
 * waiting while an invalidation of the interval is in progress (odd
 * sequence). read_retry (under the driver lock) says whether an
 * invalidation happened since; check_retry is the lockless hint
 * hmm_range_fault uses. set_seq is for the invalidate callback.
 */
HMMSIM_API uint64_t mmu_interval_read_begin(struct mmu_interval_notifier *sub);
HMMSIM_API bool mmu_interval_read_retry(struct mmu_interval_notifier *sub, uint64_t seq);
HMMSIM_API bool mmu_interval_check_retry(struct mmu_interval_notifier *sub, uint64_t seq);
HMMSIM_API void mmu_interval_set_seq(struct mmu_interval_notifier *sub, uint64_t cur_seq);

/* ------------------------------------------------------------------------ */
/* hmm_range_fault                                                          */
/* ------------------------------------------------------------------------ */

/* The output word (v6.16+ layout): pfn in the low bits, order at 53..57. */
#define HMM_PFN_VALID		(UINT64_C(1) << 63)
#define HMM_PFN_WRITE		(UINT64_C(1) << 62)
#define HMM_PFN_ERROR		(UINT64_C(1) << 61)
#define HMM_PFN_ORDER_SHIFT	53
#define HMM_PFN_ORDER_MASK	(UINT64_C(0x1f) << HMM_PFN_ORDER_SHIFT)
#define HMM_PFN_FLAGS		(~((UINT64_C(1) << HMM_PFN_ORDER_SHIFT) - 1))
/* Input requests share the output bits. */
#define HMM_PFN_REQ_FAULT	HMM_PFN_VALID
#define HMM_PFN_REQ_WRITE	HMM_PFN_WRITE

static inline uint64_t hmm_pfn_to_pfn(uint64_t hmm_pfn)
{
	return hmm_pfn & ~HMM_PFN_FLAGS;
}

/*
 * The order of the CPU mapping (seed 000): 9 for a PMD leaf, 18 for a PUD
 * leaf (hugetlb of that size likewise), 0 for a PTE, whatever the folio's
 * order. Only meaningful on a VALID entry.
 */
static inline unsigned int hmm_pfn_to_map_order(uint64_t hmm_pfn)
{
	return (hmm_pfn >> HMM_PFN_ORDER_SHIFT) & 0x1f;
}

/*
 * struct hmm_range - as the kernel's.
 * @notifier:	the interval notifier covering [start, end); its mm is the
 *		address space.
 * @notifier_seq: mmu_interval_read_begin(notifier), taken before the call.
 * @start, @end: page-aligned, end exclusive.
 * @hmm_pfns:	one word per 4 KiB page: requests in, results out.
 * @default_flags, @pfn_flags_mask: request = (in & mask) | default.
 * @dev_private_owner: device-private pages of this owner are reported,
 *		never faulted back.
 */
struct hmm_range {
	struct mmu_interval_notifier *notifier;
	uint64_t notifier_seq;
	uint64_t start;
	uint64_t end;
	uint64_t *hmm_pfns;
	uint64_t default_flags;
	uint64_t pfn_flags_mask;
	void *dev_private_owner;
};

/*
 * Snapshot, and fault where requested, the CPU page table over the range.
 * Context: the mm's mmap_lock held for reading.
 * A fault met at the PTE level faults every page from there to the end of
 * the PMD span, as the kernel's does.
 * Returns 0; -EBUSY (the interval was invalidated: read_begin again and
 * retry; entries past the point reached still hold their input); -EFAULT
 * (a fault was requested where no access is possible, or the fault failed,
 * out of memory included: VM_FAULT_ERROR); -EPERM (write requested on a
 * VMA without VM_WRITE); -EINVAL (empty, misaligned or reversed range,
 * range outside the notifier's interval or user space, request bits
 * outside VALID and WRITE).
 */
HMMSIM_API int hmm_range_fault(struct hmm_range *range);

/*
 * The largest device page size the CPU mapping allows at page @idx of a
 * complete hmm_range_fault() output (@pfns over [@start, @start + @npages
 * pages)): the largest size in @page_sizes (a bitmap of log2 sizes, e.g.
 * 4K|64K|2M) not above the entry's map order whose aligned block lies
 * inside the range. It reads that one entry: a CPU leaf of that order is
 * aligned and gives all its pages the same flags and consecutive frames.
 * (So do not use it on the partial output of an -EBUSY return.) Returns
 * the log2 size, 12 for a lone page, or 0 when the entry is not VALID.
 */
HMMSIM_API unsigned int hmm_range_map_shift(const uint64_t *pfns, uint64_t start,
					    uint64_t npages, uint64_t idx, uint64_t page_sizes);

/*
 * The other method seed 000 argues about, as ODP does: infer a large page
 * from the frames alone: the folio that holds page @idx's frame
 * (phys_pfn_to_folio on @machine) and the contiguity of the frames, with
 * no knowledge of how the CPU maps them. Same contract as
 * hmm_range_map_shift(); it may allow a size the CPU does not map
 * (a PTE-mapped THP whose pages are all present and writable), which is
 * the correctness difference the two are compared on.
 */
HMMSIM_API unsigned int hmm_range_infer_shift(struct phys_machine *machine, const uint64_t *pfns,
					      uint64_t start, uint64_t npages, uint64_t idx,
					      uint64_t page_sizes);

/* ------------------------------------------------------------------------ */
/* Device memory (ZONE_DEVICE)                                              */
/* ------------------------------------------------------------------------ */

struct hmm_devmem;

/*
 * struct vm_fault - what migrate_to_ram gets: the faulting VMA and address,
 * the device page (with a reference the core holds during the call), and
 * the fault flags.
 */
struct vm_fault {
	struct vm_area_struct *vma;
	uint64_t address;
	struct folio *page;
	unsigned int flags;
};

/*
 * struct dev_pagemap_ops
 * @page_free:	the device folio's last reference went (refcount 0, or 1
 *		for a device registered with HMM_DEVMEM_FREE_AT_ONE); the
 *		driver takes the page back. The frames return to the device's
 *		pool after it. No mm lock is held.
 * @migrate_to_ram: a CPU (or non-owner hmm_range_fault) touched a
 *		device-private entry. Migrate at least vmf->address back with
 *		migrate_vma_*() (SELECT_DEVICE_PRIVATE, fault_page =
 *		vmf->page). For a device-private PMD vmf->page is the whole
 *		order-9 folio: migrate its 2 MiB block with SELECT_COMPOUND, or
 *		less (the core then splits the PMD and the folio). Called with
 *		the mmap_lock held for reading.
 *		Returns 0 (the fault is retried) or a negative errno.
 */
struct dev_pagemap_ops {
	void (*page_free)(struct folio *folio);
	int (*migrate_to_ram)(struct vm_fault *vmf);
};

enum hmm_devmem_type {
	HMM_DEVMEM_PRIVATE,	/* MEMORY_DEVICE_PRIVATE: not CPU-addressable */
	HMM_DEVMEM_COHERENT,	/* MEMORY_DEVICE_COHERENT: mapped by normal PTEs */
};

#define HMM_DEVMEM_FREE_AT_ONE	(1u << 0)	/* before 5.18: page_free at refcount 1 */
#define HMM_DEVMEM_METADATA	(1u << 1)	/* frames carry no bytes */

/*
 * Register @size bytes of device memory with @sys (memremap_pages): a
 * pool of frames beside system memory, of @type, whose folios carry
 * @owner (pgmap->owner). Returns 0, -EINVAL (size, type, flags, no ops, no
 * owner for device-private memory), -ENOMEM.
 */
HMMSIM_API int hmm_devmem_add(struct mm_system *sys, enum hmm_devmem_type type, uint64_t size,
			      const struct dev_pagemap_ops *ops, void *owner, unsigned int flags,
			      struct hmm_devmem **out);

/* Unregister. -EBUSY, nothing changed, while a device page is in use. */
HMMSIM_API int hmm_devmem_remove(struct hmm_devmem *dm);

/* The pool the driver allocates its pages from (folio_alloc()). */
HMMSIM_API struct phys_pool *hmm_devmem_pool(struct hmm_devmem *dm);
HMMSIM_API void *hmm_devmem_owner(struct hmm_devmem *dm);

/*
 * zone_device_folio_init: take a free device folio of @order from @dm for
 * the driver: refcount 1 (2 under FREE_AT_ONE), locked. NULL when the
 * device memory is full.
 */
HMMSIM_API struct folio *hmm_devmem_alloc(struct hmm_devmem *dm, unsigned int order);

/* ------------------------------------------------------------------------ */
/* migrate_vma                                                              */
/* ------------------------------------------------------------------------ */

/*
 * The src and dst words. MIGRATE_PFN_COMPOUND (6.19) marks a word that
 * stands for a whole aligned PMD block of 512 pages: in src, a compound
 * source (a PMD-mapped folio, or an empty block, collected whole; the 511
 * words after it are 0); in dst, a 2 MiB (order-9) destination for it.
 */
#define MIGRATE_PFN_VALID	(UINT64_C(1) << 0)
#define MIGRATE_PFN_MIGRATE	(UINT64_C(1) << 1)
#define MIGRATE_PFN_WRITE	(UINT64_C(1) << 3)
#define MIGRATE_PFN_COMPOUND	(UINT64_C(1) << 4)
#define MIGRATE_PFN_SHIFT	6

static inline uint64_t migrate_pfn(uint64_t pfn)
{
	return (pfn << MIGRATE_PFN_SHIFT) | MIGRATE_PFN_VALID;
}

static inline uint64_t migrate_pfn_to_pfn(uint64_t mpfn)
{
	return mpfn >> MIGRATE_PFN_SHIFT;
}

/*
 * What setup collects. SELECT_COMPOUND (6.19) adds compound collection to
 * the others: see migrate_vma_setup().
 */
enum migrate_vma_direction {
	MIGRATE_VMA_SELECT_SYSTEM = 1 << 0,
	MIGRATE_VMA_SELECT_DEVICE_PRIVATE = 1 << 1,
	MIGRATE_VMA_SELECT_DEVICE_COHERENT = 1 << 2,
	MIGRATE_VMA_SELECT_COMPOUND = 1 << 3,
};

/*
 * struct migrate_vma - as the kernel's. @src and @dst have one word per
 * page of [start, end); @cpages is set by migrate_vma_setup().
 */
struct migrate_vma {
	struct vm_area_struct *vma;
	uint64_t *dst;
	uint64_t *src;
	uint64_t cpages;
	uint64_t npages;
	uint64_t start;
	uint64_t end;
	void *pgmap_owner;
	unsigned int flags;
	struct folio *fault_page;
};

/*
 * The three steps (hmm.rst "Migration to and from device memory").
 * setup: MIGRATE notification (owner = pgmap_owner), collect the selected
 * pages into @src, replace them with migration entries, clear @dst.
 * pages: for each src with MIGRATE and a dst, move the page's state over,
 * and install destinations for holes. finalize: migration entries become
 * the new entries (device-private for device destinations) or the old ones
 * again; references dropped.
 * @cpages counts the src words with MIGRATE (a compound source is one).
 *
 * Compound migration (SELECT_COMPOUND, Linux 6.19): a 2 MiB-aligned block
 * wholly inside the range is collected whole when it is a PMD-mapped THP
 * (SELECT_SYSTEM), a device-private PMD of @pgmap_owner
 * (SELECT_DEVICE_PRIVATE), or empty in a THP-eligible VMA (no entry, or
 * the huge zero PMD): its first src word gets the head frame (none for the
 * empty block) with MIGRATE_PFN_COMPOUND, the 511 after it stay 0, and a
 * PMD migration entry replaces the PMD. A pinned THP stays where it is,
 * unsplit. Blocks the range cuts, and PTE-mapped large folios, are split
 * (the folio to order 0) and collected page by page, as without the flag.
 * The driver answers a compound source with either a locked order-9 folio
 * in dst[i] with MIGRATE_PFN_COMPOUND: the block moves whole (a
 * device-private PMD, or a PMD THP in RAM, after finalize); or small
 * destinations in dst[i] .. dst[i + 511]: pages splits the source (its
 * PMD migration entry into 512 PTE ones, the folio into 512 order-0
 * folios, which fills src[i + 1 ..] in and clears COMPOUND from src[i]) or
 * the empty block into 512 holes, and the migration goes on 4K by 4K; or
 * nothing in dst[i]: the block stays. pages refuses (clears MIGRATE, and
 * finalize puts the source back) a COMPOUND destination for a word that is
 * not a compound source, one that is not a fresh order-9 folio, and a
 * first small destination that is not a fresh order-0 folio.
 * Context: the mmap_lock held for reading.
 * Returns 0; -EINVAL (range empty, misaligned or not inside one VMA, a
 * hugetlb VMA, no select flags, @src or @dst NULL); -ENOMEM. As in the
 * kernel, a shared or file mapping is not refused: nothing in it is
 * collected (only private anonymous memory becomes device-private).
 */
HMMSIM_API int migrate_vma_setup(struct migrate_vma *args);
HMMSIM_API void migrate_vma_pages(struct migrate_vma *args);
HMMSIM_API void migrate_vma_finalize(struct migrate_vma *args);

/*
 * Device-side eviction without a VMA (mm/migrate_device.c, v6.1+), as a
 * driver does on device removal: the device pages of frames
 * [@start_pfn, @start_pfn + @npages) go back to system memory wherever
 * they are mapped, in every process of @sys, found through the anon
 * reverse map (a page a process mremapped is found at its new address).
 *
 * migrate_device_range: @src_pfns[i] gets migrate_pfn(start_pfn + i) |
 * MIGRATE_PFN_MIGRATE for each page taken: referenced, locked, and every
 * mapping of it replaced by a migration entry (CLEAR notification per
 * mapping); 0 for a hole (a free frame), a page locked by someone else,
 * and a page that could not be unmapped everywhere (a process busy for
 * too long, an extra reference): those keep their mappings, and the driver
 * tries again. A device-private PMD mapping is split into PTEs first. The
 * processes that map a taken page stay read-locked until finalize.
 * The driver then allocates a locked system folio of order 0 for each
 * MIGRATE entry, copies the page, and sets @dst_pfns[i] = migrate_pfn()
 * of it (0: the page stays).
 * migrate_device_pages: the state of each source moves to its destination
 * (anon, index, dirty); MIGRATE is cleared where it cannot.
 * migrate_device_finalize: the migration entries become entries of the
 * destination (a present PTE for system memory), or of the source again;
 * sources and destinations unlocked and the migration's references
 * dropped, so a device page migrated everywhere reaches page_free. Both
 * take the same @src_pfns array migrate_device_range() filled (the array
 * names the eviction; another array is ignored).
 *
 * Context: no mmap_lock held (processes are locked as needed, never
 * waited for long). migrate_device_range returns 0; -EINVAL (nothing
 * changed) for @sys or @src_pfns NULL, @npages 0, a range that wraps,
 * frames not all in one device pool registered with @sys, or a range that
 * cuts a live large device folio (start or end inside it: misaligned);
 * -EBUSY (nothing changed) while @src_pfns is in use by an eviction not
 * finalized; -ENOMEM (nothing changed).
 */
HMMSIM_API int migrate_device_range(struct mm_system *sys, uint64_t *src_pfns,
				    uint64_t start_pfn, uint64_t npages);
HMMSIM_API void migrate_device_pages(uint64_t *src_pfns, uint64_t *dst_pfns, uint64_t npages);
HMMSIM_API void migrate_device_finalize(uint64_t *src_pfns, uint64_t *dst_pfns,
					uint64_t npages);

/* ------------------------------------------------------------------------ */
/* Device-exclusive access and pins                                         */
/* ------------------------------------------------------------------------ */

/*
 * make_device_exclusive: fault @addr writable, then replace its PTE with a
 * device-exclusive entry (splitting a PMD first), with an EXCLUSIVE
 * notification carrying @owner. Returns 0 with the folio locked and
 * referenced in *@foliop (the driver unlocks and puts it when done);
 * -EFAULT, -EPERM, -EBUSY, -ENOMEM; -EOPNOTSUPP for a shared, file or
 * hugetlb mapping (after faulting the page in, as the kernel does). A CPU access to the page restores the
 * normal entry (EXCLUSIVE notification, owner NULL).
 * Context: the mmap_lock held for reading.
 */
HMMSIM_API int make_device_exclusive(struct mm_struct *mm, uint64_t addr, void *owner,
				     struct folio **foliop);

/* Flags of pin_user_pages(). */
#define FOLL_WRITE	(1u << 0)
#define FOLL_LONGTERM	(1u << 1)

/*
 * pin_user_pages: fault in [@start, @start + @nr pages) as the kernel's GUP
 * does (a write, or an unshare of a shared anon page for a read pin),
 * migrating device-private pages back to RAM first (and device-coherent
 * ones too with FOLL_LONGTERM), and pin each page's folio. *@folios gets
 * one folio per page. Undo with unpin_user_pages(). Context: takes the
 * mmap_lock. Returns the number pinned, or -EFAULT, -EPERM, -ENOMEM.
 */
HMMSIM_API int64_t pin_user_pages(struct mm_struct *mm, uint64_t start, uint64_t nr,
				  unsigned int flags, struct folio **folios);
HMMSIM_API void unpin_user_pages(struct folio **folios, uint64_t nr);

#ifdef __cplusplus
}
#endif

#endif /* HMMSIM_HMM_H */
