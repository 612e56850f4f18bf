/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * mm: the simulated CPU side of HMM. Processes (struct mm_struct) with VMAs,
 * an mmap_lock and an x86-64 page table (a pt table); faults that behave as
 * Linux's (anonymous, zero page, THP, huge zero page, COW, hugetlb, shared
 * file pages); munmap, mprotect, madvise, mremap, fork and exit; MMU
 * notifier invalidations with the kernel's events and range shapes; one
 * generic page walker; kernel behaviour profiles; invariant checkers.
 *
 * The specification is the kernel's behaviour as the reference notes
 * describe it (cpu-mm-spec.md): §0 rules, §8 notifier matrix, §9 operations
 * and §12 invariants.
 *
 * Objects:
 *  - struct mm_system: the simulated machine's CPU side: a system memory
 *    pool (phys), a hugetlb pool, the THP mode (/sys/.../enabled).
 *  - struct mm_struct: one process's address space.
 *  - struct vm_area_struct: one VMA, read through the accessors below.
 *
 * Locking: every mm has an mmap_lock (a reader-writer lock). The
 * operations below that change VMAs (mmap, munmap, mprotect, madvise,
 * mremap, fork, exit) take it for writing themselves; CPU accesses
 * (mm_read, mm_write) take it for reading. Functions named like the kernel's
 * internals (handle_mm_fault, walk_page_range, find_vma) expect the caller
 * to hold it, as the kernel's do. Any number of registered threads may call
 * into different mms, or read-side calls into one mm, at once.
 *
 * Errors: negative errno values; a call that fails has changed nothing
 * (except the faults a CPU access made before the failing page, as on a
 * real CPU).
 */
#ifndef HMMSIM_MM_H
#define HMMSIM_MM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hmmsim/base.h>
#include <hmmsim/phys.h>
#include <hmmsim/pt.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MM_PAGE_SHIFT	12
#define MM_PAGE_SIZE	(UINT64_C(1) << MM_PAGE_SHIFT)
#define MM_PMD_SHIFT	21
#define MM_PMD_SIZE	(UINT64_C(1) << MM_PMD_SHIFT)
#define MM_PUD_SHIFT	30
#define MM_PUD_SIZE	(UINT64_C(1) << MM_PUD_SHIFT)

/* The highest user address + 1 (47-bit user space, as x86-64 4-level). */
#define MM_TASK_SIZE	(UINT64_C(1) << 47)

struct mm_system;
struct mm_struct;
struct vm_area_struct;

/* ------------------------------------------------------------------------ */
/* Kernel behaviour profiles                                                */
/* ------------------------------------------------------------------------ */

/* How anonymous mmap places large regions (cpu-mm-spec §3.1). */
enum mm_anon_align {
	MM_ALIGN_NONE,		/* before 6.7: no THP alignment */
	MM_ALIGN_LARGE,		/* 6.7 to 6.11: PMD-aligned when len >= 2 MiB */
	MM_ALIGN_PMD_MULTIPLE,	/* 6.12+: PMD-aligned when len is a multiple of 2 MiB */
};

/*
 * struct mm_profile - the kernel behaviours that changed over time. A
 * process keeps the profile it was created with; fork passes it on.
 * @name:		"current", "6.12", "6.7", "6.1", "5.8" or "5.7".
 * @thp_cow_copy_huge:	a write to a shared PMD THP allocates a new THP and
 *			copies 2 MiB (up to 5.7); otherwise the PMD is split and
 *			one 4 KiB page copied (5.8+).
 * @huge_zero_wp_thp:	a write to the huge zero PMD allocates a THP and
 *			replaces the PMD (6.13+); otherwise split + 4 KiB COW.
 * @large_folio_reuse:	a write to a PTE-mapped page of a large anon folio
 *			exclusive to this mm reuses it (6.15+); otherwise copies.
 * @exclusive_mapcount:	device-exclusive entries count in the mapcount (6.15+).
 * @device_free_at_one:	device pages are freed at refcount 1 (before 5.18).
 * @dontneed_frees_tables: MADV_DONTNEED frees the PTE tables it empties
 *			(6.13+, CONFIG_PT_RECLAIM), so a THP can be faulted there
 *			again; before, the empty table stayed and blocked it.
 * @hugetlb_dontneed:	MADV_DONTNEED applies to hugetlb VMAs (5.18+): the
 *			start must be huge-page aligned and the end is rounded
 *			down to the huge page (6.1+; 5.18 to 6.0 rounded it up,
 *			which no profile models); before, -EINVAL.
 * @anon_align:		placement of anonymous regions.
 */
struct mm_profile {
	const char *name;
	bool thp_cow_copy_huge;
	bool huge_zero_wp_thp;
	bool large_folio_reuse;
	bool exclusive_mapcount;
	bool device_free_at_one;
	bool dontneed_frees_tables;
	bool hugetlb_dontneed;
	enum mm_anon_align anon_align;
};

/* Current Linux, the default. */
HMMSIM_API extern const struct mm_profile mm_profile_current;

/* The built-in profile named @name, or NULL. */
HMMSIM_API const struct mm_profile *mm_profile_find(const char *name);

/* The built-in profiles, NULL-terminated, newest first. */
HMMSIM_API extern const struct mm_profile *const mm_profiles[];

/* ------------------------------------------------------------------------ */
/* The system                                                               */
/* ------------------------------------------------------------------------ */

enum mm_thp_mode {
	MM_THP_MADVISE,		/* the default, as Debian ships */
	MM_THP_ALWAYS,
	MM_THP_NEVER,
};

/*
 * struct mm_system_config - zero means default everywhere.
 * @ram:	bytes of system memory (default 1 GiB), a multiple of 4 KiB.
 * @hugetlb_2m, @hugetlb_1g: huge pages set aside for hugetlb mappings.
 * @metadata_only: frames carry no bytes (terabyte-sized simulations); reads
 *		return zeros.
 * @thp:	the initial THP mode.
 */
struct mm_system_config {
	uint64_t ram;
	uint64_t hugetlb_2m;
	uint64_t hugetlb_1g;
	bool metadata_only;
	enum mm_thp_mode thp;
};

/*
 * Create a system (@cfg may be NULL). Returns 0, -EINVAL, -ENOMEM (the
 * hugetlb pages do not fit in @ram).
 */
HMMSIM_API int mm_system_create(const struct mm_system_config *cfg, struct mm_system **out);

/*
 * Destroy @sys. Returns -EBUSY while a process lives (nothing changed), or
 * when memory is still allocated with no process left (a leak, e.g. a
 * file or a device driver still holding a folio).
 */
HMMSIM_API int mm_system_destroy(struct mm_system *sys);

/* Change the THP mode for faults from now on. -EINVAL for an unknown mode. */
HMMSIM_API int mm_system_set_thp(struct mm_system *sys, enum mm_thp_mode mode);
HMMSIM_API enum mm_thp_mode mm_system_thp(const struct mm_system *sys);

/* The system memory pool (for files, device pools beside it, checks). */
HMMSIM_API struct phys_pool *mm_system_pool(struct mm_system *sys);
HMMSIM_API struct phys_hugetlb *mm_system_hugetlb(struct mm_system *sys);
/* The frame-number space of @sys (for phys_pfn_to_folio()). */
HMMSIM_API struct phys_machine *mm_system_machine(struct mm_system *sys);

/*
 * The deferred-split shrinker (deferred_split_scan): split every large anon
 * folio that a partial unmap queued, if it can be split (no PMD maps it, no
 * pin or other extra reference). The page-table entries stay as they are.
 * Context: no process of @sys is being changed meanwhile.
 * Returns the number of folios split.
 */
HMMSIM_API int64_t mm_system_shrink(struct mm_system *sys);

/*
 * Check every process of @sys and the accounting invariant of every folio
 * they map (cpu-mm-spec §12.1): refcount == the leaf, device-private and
 * device-exclusive entries that map it in all page tables + the page-cache
 * references + the references of pins; mapcounts match the entries. The
 * hugetlb pool's reservations are those the private hugetlb VMAs hold (no
 * more than their unfaulted pages) and the files of the shared ones (the
 * pool is the system's own: nothing else reserves from it). Also each
 * process's mm_check().
 * Context: no operation runs on @sys meanwhile.
 * Returns 0 or -EUCLEAN with the first violation in @msg.
 */
HMMSIM_API int mm_system_check(struct mm_system *sys, char *msg, size_t len);

/* ------------------------------------------------------------------------ */
/* Processes                                                                */
/* ------------------------------------------------------------------------ */

/*
 * Create an empty process in @sys with @profile (NULL: mm_profile_current).
 * Returns 0, -ENOMEM.
 */
HMMSIM_API int mm_create(struct mm_system *sys, const struct mm_profile *profile,
			 struct mm_struct **out);

/*
 * fork(): a child with a copy-on-write copy of @parent's address space,
 * as copy_page_range does (cpu-mm-spec §4.2, §9.3): private anonymous
 * memory shared read-only with anon-exclusive cleared, PMD THPs and hugetlb
 * pages shared whole, pinned exclusive pages copied at once, shared mappings
 * shared, the child's entries old. The parent's subscribers see
 * PROTECTION_PAGE over each COW VMA (CLEAR for hugetlb). The child has no
 * subscribers and the parent's profile.
 * Returns 0, -ENOMEM (the child is not created; the parent may have been
 * write-protected, which is harmless, as in the kernel).
 */
HMMSIM_API int mm_fork(struct mm_struct *parent, struct mm_struct **child);

/*
 * exit(): release notifiers (RELEASE over everything), unmap every VMA
 * (UNMAP over everything), free the page table and the mm.
 */
HMMSIM_API void mm_exit(struct mm_struct *mm);

HMMSIM_API struct mm_system *mm_system_of(const struct mm_struct *mm);
HMMSIM_API const struct mm_profile *mm_profile_of(const struct mm_struct *mm);

/* The CPU page table (x86-64 4-level format; entries: see mm_pte_*). */
HMMSIM_API struct pt_table *mm_page_table(struct mm_struct *mm);

/* The mmap_lock. */
HMMSIM_API void mmap_read_lock(struct mm_struct *mm);
HMMSIM_API void mmap_read_unlock(struct mm_struct *mm);
HMMSIM_API void mmap_write_lock(struct mm_struct *mm);
HMMSIM_API void mmap_write_unlock(struct mm_struct *mm);

/* ------------------------------------------------------------------------ */
/* Mappings                                                                 */
/* ------------------------------------------------------------------------ */

#define MM_PROT_NONE	0u
#define MM_PROT_READ	(1u << 0)
#define MM_PROT_WRITE	(1u << 1)

#define MM_MAP_PRIVATE	(1u << 0)
#define MM_MAP_SHARED	(1u << 1)
#define MM_MAP_ANONYMOUS (1u << 2)
#define MM_MAP_FIXED	(1u << 3)	/* exactly at args.addr, replacing what is there */
#define MM_MAP_HUGETLB	(1u << 4)	/* with MM_MAP_HUGE_2MB or MM_MAP_HUGE_1GB */
#define MM_MAP_HUGE_2MB	(1u << 5)
#define MM_MAP_HUGE_1GB	(1u << 6)

/*
 * struct mm_mmap_args - what mmap() takes.
 * @addr:	with MM_MAP_FIXED, the address; otherwise ignored.
 * @len:	bytes (> 0); rounded up to 4 KiB, or to the huge page size for
 *		hugetlb, as Linux does.
 * @prot:	MM_PROT_*.
 * @flags:	MM_MAP_*: exactly one of PRIVATE and SHARED; ANONYMOUS, or a file.
 * @file:	the file of a file mapping (must be NULL with ANONYMOUS).
 * @pgoff:	byte offset in @file, a multiple of 4 KiB.
 * @align:	when nonzero (a power of two >= 4 KiB), place the region at an
 *		address aligned to @align plus @offset, instead of where the
 *		profile's get_unmapped_area would.
 * @offset:	added to the aligned address (a multiple of 4 KiB, < @align).
 */
struct mm_mmap_args {
	uint64_t addr;
	uint64_t len;
	unsigned int prot;
	unsigned int flags;
	struct phys_file *file;
	uint64_t pgoff;
	uint64_t align;
	uint64_t offset;
};

/*
 * mmap(). Returns 0 and the start in *@addr; -EINVAL (bad length, flags,
 * alignment, a placement that would misalign huge pages), -ENOMEM (no room
 * in the address space, or the hugetlb pool cannot reserve the pages).
 */
HMMSIM_API int mm_mmap(struct mm_struct *mm, const struct mm_mmap_args *args, uint64_t *addr);

/*
 * munmap() of [@addr, @addr + @len), splitting VMAs (and PMD leaves at the
 * edges: CLEAR over each 2 MiB block) and unmapping (UNMAP over the whole
 * range). Holes in the range are fine. Returns 0, -EINVAL (misaligned,
 * empty, outside user space, not hugetlb-aligned inside a hugetlb VMA).
 */
HMMSIM_API int mm_munmap(struct mm_struct *mm, uint64_t addr, uint64_t len);

/*
 * mprotect(): change the protection of every VMA in the range, which must
 * be fully mapped (-ENOMEM otherwise, as the kernel), splitting VMAs and the
 * PMD leaves at the edges; PROTECTION_VMA notifications start lazily at the
 * first populated entry. hmmsim has no VM_MAY* limits: any protection may
 * be set. Returns 0, -EINVAL, -ENOMEM.
 */
HMMSIM_API int mm_mprotect(struct mm_struct *mm, uint64_t addr, uint64_t len, unsigned int prot);

enum mm_advice {
	MM_MADV_DONTNEED,
	MM_MADV_FREE,
	MM_MADV_HUGEPAGE,
	MM_MADV_NOHUGEPAGE,
};

/*
 * madvise(). MADV_FREE takes private anonymous memory only (shared, file and
 * hugetlb memory: -EINVAL). MADV_DONTNEED of a hugetlb VMA needs the
 * profile's hugetlb_dontneed and a start on the huge page; its end is
 * rounded down to the huge page (a partial huge page is kept). Every VMA
 * of the range is checked before any is advised.
 * Returns 0, -EINVAL, -ENOMEM (the range is not fully mapped).
 */
HMMSIM_API int mm_madvise(struct mm_struct *mm, uint64_t addr, uint64_t len,
			  enum mm_advice advice);

/*
 * mremap() moving all of the VMA at @old_addr (exactly one VMA, @old_len its
 * length) to a new place: aligned to @align (0: 4 KiB) plus @offset, or at
 * @new_addr with MM_MAP_FIXED in @flags. Entries move with it (PMD leaves
 * intact when both places are 2 MiB-aligned); UNMAP over the old range.
 * Returns 0 and the new start in *@new_start; -EINVAL, -EFAULT (no VMA
 * there, or it does not span exactly @old_len), -ENOMEM.
 */
HMMSIM_API int mm_mremap(struct mm_struct *mm, uint64_t old_addr, uint64_t old_len,
			 unsigned int flags, uint64_t new_addr, uint64_t align, uint64_t offset,
			 uint64_t *new_start);

/* ------------------------------------------------------------------------ */
/* CPU access                                                               */
/* ------------------------------------------------------------------------ */

/*
 * The CPU reads or writes [@addr, @addr + @len), faulting page by page as a
 * CPU would. mm_memset writes @byte to every byte. mm_read_sum adds up the
 * bytes read (for traces: the sum of a range without a buffer).
 * Context: takes the mmap_lock for reading.
 * Returns 0; -EFAULT (a page with no VMA, or no permission: SIGSEGV),
 * -ENOMEM (out of memory: the OOM killer's SIGKILL); on failure the pages
 * before the faulting one were accessed.
 */
HMMSIM_API int mm_read(struct mm_struct *mm, uint64_t addr, void *buf, uint64_t len);
HMMSIM_API int mm_write(struct mm_struct *mm, uint64_t addr, const void *buf, uint64_t len);
HMMSIM_API int mm_memset(struct mm_struct *mm, uint64_t addr, int byte, uint64_t len);
HMMSIM_API int mm_read_sum(struct mm_struct *mm, uint64_t addr, uint64_t len, uint64_t *sum);

/* Fault flags of handle_mm_fault(). */
#define FAULT_FLAG_WRITE	(1u << 0)
#define FAULT_FLAG_REMOTE	(1u << 1)	/* not the CPU: hmm_range_fault, GUP */
#define FAULT_FLAG_UNSHARE	(1u << 2)	/* R/O pin of a shared anon page */

/*
 * Handle a fault at @addr in @vma, as the kernel's handle_mm_fault: install
 * what a CPU access needs (a read maps the zero page or the huge zero PMD
 * where Linux would; a write allocates, reuses or copies).
 * Context: the caller holds the mmap_lock (read or write).
 * Returns 0; -EFAULT (the VMA forbids the access: SIGSEGV), -ENOMEM (OOM),
 * -EINVAL (unknown flags, @addr outside @vma).
 */
HMMSIM_API int handle_mm_fault(struct vm_area_struct *vma, uint64_t addr, unsigned int flags);

/* ------------------------------------------------------------------------ */
/* VMAs                                                                     */
/* ------------------------------------------------------------------------ */

#define VM_READ		(1u << 0)
#define VM_WRITE	(1u << 1)
#define VM_SHARED	(1u << 3)
#define VM_MAYWRITE	(1u << 5)
#define VM_HUGEPAGE	(1u << 8)
#define VM_NOHUGEPAGE	(1u << 9)
#define VM_HUGETLB	(1u << 10)
#define VM_ANON		(1u << 11)	/* hmmsim: no file behind (private or shared anon) */

/*
 * The VMA containing @addr, or the first one after it (NULL if none), as the
 * kernel's find_vma. Context: the mmap_lock held.
 */
HMMSIM_API struct vm_area_struct *find_vma(struct mm_struct *mm, uint64_t addr);

/* The VMA containing @addr, or NULL. Context: the mmap_lock held. */
HMMSIM_API struct vm_area_struct *vma_lookup(struct mm_struct *mm, uint64_t addr);

HMMSIM_API uint64_t vma_start(const struct vm_area_struct *vma);
HMMSIM_API uint64_t vma_end(const struct vm_area_struct *vma);
HMMSIM_API unsigned int vma_flags(const struct vm_area_struct *vma);
HMMSIM_API struct mm_struct *vma_mm(const struct vm_area_struct *vma);
/* For hugetlb VMAs: log2 of the huge page size (21 or 30); 0 otherwise. */
HMMSIM_API unsigned int vma_hugetlb_shift(const struct vm_area_struct *vma);

/* ------------------------------------------------------------------------ */
/* CPU page-table entries                                                   */
/* ------------------------------------------------------------------------ */

/*
 * CPU entries are pt entries of pt_format_x86_64_4l, with x86's bits and
 * the kernel's software entries (swap-format, valid bit clear) for the
 * non-present kinds. Decode them with these.
 */
enum mm_pte_kind {
	MM_PTE_NONE,
	MM_PTE_PRESENT,		/* a present page (the zero page included) */
	MM_PTE_PROTNONE,	/* present, but PROT_NONE: no access */
	MM_PTE_MIGRATION,	/* migration entry (read, read-exclusive or write) */
	MM_PTE_DEVICE_PRIVATE,	/* device-private entry (read or write), PTE or PMD */
	MM_PTE_DEVICE_EXCLUSIVE, /* device-exclusive entry */
};

HMMSIM_API enum mm_pte_kind mm_pte_kind(pt_entry_t pte);
/* The frame (the page's, or the device page's for device-private). */
HMMSIM_API uint64_t mm_pte_pfn(pt_entry_t pte);
/* Writable: a present RW entry, or a write migration/device-private entry. */
HMMSIM_API bool mm_pte_write(pt_entry_t pte);
/* The special bit: no refcounting (the zero pages). */
HMMSIM_API bool mm_pte_special(pt_entry_t pte);
/* Anon-exclusive carried in a migration or device-private entry. */
HMMSIM_API bool mm_pte_exclusive(pt_entry_t pte);

/* ------------------------------------------------------------------------ */
/* The page walker                                                          */
/* ------------------------------------------------------------------------ */

struct mm_walk;

/*
 * struct mm_walk_ops - one generic walker for every leaf size (seed 004):
 * no separate hugetlb path, no split of what it walks.
 * @test_walk:	once per VMA: 0 walk it, 1 skip it, < 0 stop with that error.
 *		NULL: walk every VMA.
 * @leaf:	a leaf at @level (0 PTE, 1 PMD, 2 PUD), present or special,
 *		covering [addr, next) (clipped to the walk); @entry is the
 *		leaf's word (pt_leaf_pfn() gives any page's frame).
 * @hole:	[addr, next) has no entry; @level is the level of the empty
 *		entry, or -1 outside any VMA (then walk->vma is NULL).
 * A nonzero return stops the walk and is returned.
 */
struct mm_walk_ops {
	int (*test_walk)(uint64_t start, uint64_t end, struct mm_walk *walk);
	int (*leaf)(uint64_t addr, uint64_t next, pt_entry_t entry, unsigned int level,
		    struct mm_walk *walk);
	int (*hole)(uint64_t addr, uint64_t next, int level, struct mm_walk *walk);
};

struct mm_walk {
	const struct mm_walk_ops *ops;
	struct mm_struct *mm;
	struct vm_area_struct *vma;
	void *private;
};

/*
 * Walk [@start, @end) of @mm: VMA by VMA (gaps go to @hole with level -1),
 * and inside each VMA every entry through one code path.
 * Context: the caller holds the mmap_lock (read or write).
 * Returns 0, a callback's nonzero value, -EINVAL.
 */
HMMSIM_API int walk_page_range(struct mm_struct *mm, uint64_t start, uint64_t end,
			       const struct mm_walk_ops *ops, void *private);

/* ------------------------------------------------------------------------ */
/* MMU notifiers                                                            */
/* ------------------------------------------------------------------------ */

enum mmu_notifier_event {
	MMU_NOTIFY_UNMAP = 0,
	MMU_NOTIFY_CLEAR,
	MMU_NOTIFY_PROTECTION_VMA,
	MMU_NOTIFY_PROTECTION_PAGE,
	MMU_NOTIFY_SOFT_DIRTY,
	MMU_NOTIFY_RELEASE,
	MMU_NOTIFY_MIGRATE,
	MMU_NOTIFY_EXCLUSIVE,
};

/* The event's kernel name ("MMU_NOTIFY_CLEAR"...), or NULL. */
HMMSIM_API const char *mmu_notifier_event_name(enum mmu_notifier_event event);

#define MMU_NOTIFIER_RANGE_BLOCKABLE	(1u << 0)

/* struct mmu_notifier_range - [start, end) is page-aligned, end exclusive. */
struct mmu_notifier_range {
	struct mm_struct *mm;
	uint64_t start;
	uint64_t end;
	unsigned int flags;
	enum mmu_notifier_event event;
	void *owner;
};

struct mmu_notifier;

/*
 * struct mmu_notifier_ops - a subscriber's callbacks.
 * @invalidate_range_start: before any entry of the range changes. Starts
 *		nest (a PMD split inside a zap): depth is the subscriber's
 *		business. Must not call back into the mm.
 * @invalidate_range_end: after the entries changed.
 * @release:	the mm is exiting (before the RELEASE-event invalidation).
 * Callbacks run in the thread that changes the mm, with its mmap_lock held
 * (for reading or writing) and no other mm lock.
 */
struct mmu_notifier_ops {
	void (*invalidate_range_start)(struct mmu_notifier *sub,
				       const struct mmu_notifier_range *range);
	void (*invalidate_range_end)(struct mmu_notifier *sub,
				     const struct mmu_notifier_range *range);
	void (*release)(struct mmu_notifier *sub, struct mm_struct *mm);
};

/* struct mmu_notifier - embed it in the subscriber; hmmsim links it through @next. */
struct mmu_notifier {
	const struct mmu_notifier_ops *ops;
	struct mm_struct *mm;
	struct mmu_notifier *next;
};

/*
 * Subscribe @sub (with @sub->ops set and @sub->mm NULL: zero it first) to
 * @mm's invalidations, or unsubscribe it. Context: takes the mmap_lock for
 * writing, so not from a callback. Returns 0, -EINVAL (no ops, already
 * subscribed to this mm or another, not subscribed to this mm).
 */
HMMSIM_API int mmu_notifier_register(struct mmu_notifier *sub, struct mm_struct *mm);
HMMSIM_API int mmu_notifier_unregister(struct mmu_notifier *sub, struct mm_struct *mm);

/* ------------------------------------------------------------------------ */
/* Dumps, statistics, checks                                                */
/* ------------------------------------------------------------------------ */

/*
 * The CPU view of [@addr, @addr + @len) in DESIGN.md's dump format: runs of
 * COUNT:CODE@PFN joined by commas (CODE: - H T p z d m e, and D and M for
 * a device-private or migration entry at the PMD level; then x or ., then
 * w or .). Writes at most @size bytes (NUL included) into @buf.
 * Context: takes the mmap_lock for reading.
 * Returns the length of the whole string (as snprintf), -EINVAL.
 */
HMMSIM_API int mm_dump(struct mm_struct *mm, uint64_t addr, uint64_t len, char *buf,
		       size_t size);

/* struct mm_stats - event counters of one process (monotonic). */
struct mm_stats {
	uint64_t faults;		/* handle_mm_fault calls */
	uint64_t anon_pages;		/* order-0 anon pages allocated by faults */
	uint64_t thp_fault_alloc;	/* PMD THPs allocated by faults */
	uint64_t thp_fault_fallback;	/* THP-eligible faults that fell back */
	uint64_t zero_page;		/* zero-page PTEs installed */
	uint64_t huge_zero_page;	/* huge zero PMDs installed */
	uint64_t cow_copy;		/* pages copied by write faults (4K and huge) */
	uint64_t cow_reuse;		/* write faults that reused the page */
	uint64_t thp_split_pmd;		/* split_huge_pmd calls that split */
	uint64_t deferred_split;	/* folios queued for deferred split */
	uint64_t hugetlb_faults;
	uint64_t notifications;		/* invalidate_range_start calls made */
	uint64_t rss_anon;		/* anon + shared pages mapped now, in 4K pages */
	uint64_t rss_file;
	uint64_t vmas;			/* VMAs now */
};

HMMSIM_API void mm_get_stats(struct mm_struct *mm, struct mm_stats *st);

/*
 * Check @mm: VMAs ordered, aligned, non-overlapping; every entry inside a
 * VMA, of a kind the VMA allows (hugetlb leaves of its size only, no PMD
 * leaf crossing a VMA boundary); a writable anon leaf maps an anon-exclusive
 * page; a writable entry only in a VM_WRITE VMA; a present entry PROT_NONE
 * exactly when its VMA lacks VM_READ (none accessible there, zero pages
 * included); pt_check() of the table.
 * Context: no operation runs on @mm meanwhile.
 * Returns 0 or -EUCLEAN with the first violation in @msg.
 */
HMMSIM_API int mm_check(struct mm_struct *mm, char *msg, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* HMMSIM_MM_H */
