/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mm internals shared by the files of src/mm/. */
#ifndef HMMSIM_MM_INTERNAL_H
#define HMMSIM_MM_INTERNAL_H

#include <errno.h>
#include <pthread.h>

#include <hmmsim/mm.h>

#include "base/compiler.h"

/* ------------------------------------------------------------------------ */
/* CPU entries on pt_format_x86_64_4l                                       */
/* ------------------------------------------------------------------------ */

#define _PAGE_PRESENT	(UINT64_C(1) << 0)
#define _PAGE_RW	(UINT64_C(1) << 1)
#define _PAGE_USER	(UINT64_C(1) << 2)
#define _PAGE_ACCESSED	(UINT64_C(1) << 5)
#define _PAGE_DIRTY	(UINT64_C(1) << 6)
#define _PAGE_PSE	(UINT64_C(1) << 7)	/* set by the engine on PMD/PUD leaves */
#define _PAGE_PROTNONE	(UINT64_C(1) << 8)	/* hmmsim: present but PROT_NONE */
#define _PAGE_SPECIAL	(UINT64_C(1) << 9)	/* no refcounting: the zero pages */
#define _PAGE_SWP_EXCL	(UINT64_C(1) << 10)	/* swap-format: anon-exclusive */
#define _PAGE_SOFT_DIRTY (UINT64_C(1) << 11)
#define SWP_TYPE_SHIFT	58
#define SWP_TYPE_MASK	(UINT64_C(0x1f) << SWP_TYPE_SHIFT)

/* Software entry types (the kernel's top swap types). */
enum swp_type {
	SWP_NONE = 0,
	SWP_MIGRATION_READ,
	SWP_MIGRATION_READ_EXCLUSIVE,
	SWP_MIGRATION_WRITE,
	SWP_DEVICE_READ,
	SWP_DEVICE_WRITE,
	SWP_DEVICE_EXCLUSIVE,
};

/*
 * The end of "everything" for exit's notifications: the kernel's ULONG_MAX,
 * page-aligned as ranges are (every interval a driver can insert below it).
 */
#define MM_ALL_END	(UINT64_MAX & ~(MM_PAGE_SIZE - 1))

static inline pt_entry_t mk_pte(uint64_t pfn, pt_entry_t flags)
{
	return (pfn << MM_PAGE_SHIFT) | flags;
}

static inline uint64_t pte_pfn(pt_entry_t e)
{
	return pt_entry_pfn(&pt_format_x86_64_4l, e);
}

static inline bool pte_present(pt_entry_t e)
{
	return e & _PAGE_PRESENT;
}

static inline unsigned int pte_swp_type(pt_entry_t e)
{
	return pte_present(e) ? SWP_NONE : (e & SWP_TYPE_MASK) >> SWP_TYPE_SHIFT;
}

static inline pt_entry_t mk_swp_entry(unsigned int type, uint64_t pfn, bool exclusive)
{
	return ((pt_entry_t)type << SWP_TYPE_SHIFT) | (pfn << MM_PAGE_SHIFT) |
	       (exclusive ? _PAGE_SWP_EXCL : 0);
}

/* A device-private entry (read or write), at any level. */
static inline bool is_device_private_entry(pt_entry_t e)
{
	return pte_swp_type(e) == SWP_DEVICE_READ || pte_swp_type(e) == SWP_DEVICE_WRITE;
}

/* A migration entry (read, read-exclusive or write), at any level. */
static inline bool is_migration_entry(pt_entry_t e)
{
	return pte_swp_type(e) == SWP_MIGRATION_READ ||
	       pte_swp_type(e) == SWP_MIGRATION_READ_EXCLUSIVE ||
	       pte_swp_type(e) == SWP_MIGRATION_WRITE;
}

/* The bits pt_map() accepts: the leaf bit is the engine's. */
static inline pt_entry_t pte_for_map(pt_entry_t e)
{
	return e & ~_PAGE_PSE;
}

/* ------------------------------------------------------------------------ */
/* Objects                                                                  */
/* ------------------------------------------------------------------------ */

struct mm_system {
	struct phys_machine *machine;
	struct phys_pool *pool;
	struct phys_hugetlb *hugetlb;
	enum mm_thp_mode thp;
	uint64_t hugetlb_2m, hugetlb_1g;	/* the hugetlb pool's size, to rebuild it */
	pthread_mutex_t lock;		/* the list of processes */
	struct mm_struct *mms;
	unsigned int nr_mms;
	/* The deferred-split queue: folios and the pfn they had when queued. */
	struct deferred {
		struct folio *folio;
		uint64_t pfn;
	} *deferred;
	size_t nr_deferred, cap_deferred;
};

struct vm_area_struct {
	struct mm_struct *mm;
	uint64_t start, end;
	unsigned int flags;		/* VM_* */
	uint64_t pgoff;			/* in pages: file offset, or start >> 12 at birth */
	struct phys_file *file;		/* a file, shmem for shared anon, hugetlbfs */
	uint8_t hugetlb_shift;		/* 21 or 30 for hugetlb VMAs */
	bool anon_vma;			/* has had anonymous pages (fork copies it) */
	uint64_t resv;			/* hugetlb: reservations held for faults to come */
};

struct mm_struct {
	struct mm_system *sys;
	const struct mm_profile *profile;
	struct pt_table *pt;
	pthread_rwlock_t mmap_lock;
	/*
	 * Serialises entry changes made under the mmap_lock held for reading
	 * (faults): the kernel's page-table lock, one per mm here. Never held
	 * across a notifier call.
	 */
	pthread_mutex_t ptl;
	struct vm_area_struct **vmas;	/* sorted by address */
	size_t nr_vmas, cap_vmas;
	struct mmu_notifier *subs;
	void *hmm;			/* the hmm layer's (interval notifiers) */
	struct folio *huge_zero;	/* held (one reference) once this mm used it */
	struct mm_struct *next;		/* the system's list */
	struct mm_stats stats;		/* counters, atomic */
};

#define MM_STAT_INC(mm, field) __atomic_fetch_add(&(mm)->stats.field, 1, __ATOMIC_RELAXED)
#define MM_STAT_ADD(mm, field, n) __atomic_fetch_add(&(mm)->stats.field, (n), __ATOMIC_RELAXED)
#define MM_STAT_SUB(mm, field, n) __atomic_fetch_sub(&(mm)->stats.field, (n), __ATOMIC_RELAXED)

static inline bool vma_is_anonymous(const struct vm_area_struct *vma)
{
	return (vma->flags & VM_ANON) && !(vma->flags & VM_SHARED);
}

static inline bool vma_is_hugetlb(const struct vm_area_struct *vma)
{
	return vma->flags & VM_HUGETLB;
}

/* The file page index of @addr in @vma. */
static inline uint64_t vma_pgoff_of(const struct vm_area_struct *vma, uint64_t addr)
{
	return vma->pgoff + ((addr - vma->start) >> MM_PAGE_SHIFT);
}

static inline struct folio *pfn_folio(struct mm_struct *mm, uint64_t pfn)
{
	return phys_pfn_to_folio(mm->sys->machine, pfn);
}

/* The page of @folio that frame @pfn is. */
static inline uint64_t folio_page_idx(const struct folio *folio, uint64_t pfn)
{
	return pfn - folio_pfn(folio);
}

static inline uint64_t round_up_to(uint64_t x, uint64_t a)
{
	return (x + a - 1) & ~(a - 1);
}

/* ------------------------------------------------------------------------ */
/* Functions shared between files                                           */
/* ------------------------------------------------------------------------ */

/* system.c */
int mm_alloc(struct mm_system *sys, const struct mm_profile *profile, struct mm_struct **out);
void mm_free(struct mm_struct *mm);

/* mmap.c */
int do_munmap(struct mm_struct *mm, uint64_t start, uint64_t end);

/* vma.c */
struct vm_area_struct *vma_alloc(struct mm_struct *mm, uint64_t start, uint64_t end,
				 unsigned int flags);
void vma_free(struct vm_area_struct *vma);
int vma_insert(struct mm_struct *mm, struct vm_area_struct *vma);
void vma_remove(struct mm_struct *mm, struct vm_area_struct *vma);
size_t vma_index(struct mm_struct *mm, uint64_t addr);
int vma_split(struct vm_area_struct *vma, uint64_t addr, struct vm_area_struct **tail);
int vma_check_split(struct mm_struct *mm, uint64_t start, uint64_t end);
int vma_split_range(struct mm_struct *mm, uint64_t start, uint64_t end);
/* vma_check_split, then the PMD leaves cut by the edges, then the VMAs. */
int isolate_range(struct mm_struct *mm, uint64_t start, uint64_t end);
uint64_t get_unmapped_area(struct mm_struct *mm, uint64_t len, uint64_t align, uint64_t offset);
bool range_fully_mapped(struct mm_struct *mm, uint64_t start, uint64_t end);

/* notifier.c */
void mmu_notifier_range_init(struct mmu_notifier_range *r, enum mmu_notifier_event event,
			     struct mm_struct *mm, uint64_t start, uint64_t end);
void mmu_notifier_invalidate_range_start(struct mmu_notifier_range *r);
void mmu_notifier_invalidate_range_end(struct mmu_notifier_range *r);
void mmu_notifier_release(struct mm_struct *mm);

/* Page-table helpers (pgtable.c). Context: mmap_lock, and ptl or write. */
int mm_get_pte(struct mm_struct *mm, uint64_t addr, pt_entry_t *e, unsigned int *level);
int mm_set_pte(struct mm_struct *mm, uint64_t addr, unsigned int level, pt_entry_t e);
void mm_clear_pte(struct mm_struct *mm, uint64_t addr, unsigned int level);
void mm_update_pte(struct mm_struct *mm, uint64_t addr, unsigned int level, pt_entry_t set,
		   pt_entry_t clear);

/* huge.c */
bool thp_eligible(struct vm_area_struct *vma, uint64_t addr);
int split_huge_pmd(struct vm_area_struct *vma, uint64_t addr);
int split_huge_pmd_edges(struct mm_struct *mm, uint64_t start, uint64_t end);
int do_huge_pmd_anonymous_page(struct vm_area_struct *vma, uint64_t addr, unsigned int flags);
int do_huge_pmd_wp_page(struct vm_area_struct *vma, uint64_t addr, pt_entry_t pmd,
			unsigned int flags);
void mm_put_huge_zero(struct mm_struct *mm);
int mm_get_huge_zero(struct mm_struct *mm, struct folio **out);
void folio_note_partial_unmap(struct mm_struct *mm, struct folio *folio);

/*
 * devpmd.c: the non-present PMD leaves (linux 6.19's device-private PMD
 * entry for an order-9 device folio, and the PMD migration entry that
 * compound migration leaves while it runs).
 * split_nonpresent_pmd: the PMD leaf @e at @haddr becomes 512 PTEs of the
 * same kind over the same frames; a device-private one keeps its folio
 * whole (PTE-mapped), +511 references, each page as exclusive as the entry
 * was. Context: the ptl held; the caller notified. Returns 0, -ENOMEM.
 * copy_device_pmd: fork of a device-private PMD entry: shared read-only
 * with the child, the parent's write entry made read. Returns 0, -ENOMEM.
 */
int split_nonpresent_pmd(struct mm_struct *mm, uint64_t haddr, pt_entry_t e);
int copy_device_pmd(struct mm_struct *child, struct vm_area_struct *vma, uint64_t haddr,
		    pt_entry_t e);

/* zap.c: unmap leaves of [start, end) inside @vma, with accounting. */
void zap_vma_range(struct vm_area_struct *vma, uint64_t start, uint64_t end);

/* fault.c */
int mm_fault_locked(struct mm_struct *mm, uint64_t addr, unsigned int flags);

/*
 * The handler of CPU faults on device-private entries, which only the hmm
 * layer above can serve (the pgmap's migrate_to_ram). Called with the
 * mmap_lock held for reading and no ptl; returns 0 when the entry was dealt
 * with (the fault is retried), or a negative errno. Registered once by hmm.
 */
typedef int (*mm_device_fault_fn)(struct vm_area_struct *vma, uint64_t addr, pt_entry_t entry,
				  unsigned int flags);
void mm_set_device_fault_handler(mm_device_fault_fn fn);

/*
 * A device-exclusive entry at @addr goes back to the present PTE it
 * replaced (EXCLUSIVE notification, owner NULL). Context: mmap_lock held;
 * takes the ptl. Returns 0 or -EAGAIN (the entry changed).
 */
int restore_exclusive_pte(struct vm_area_struct *vma, uint64_t addr, pt_entry_t orig);

/*
 * The private slot of the hmm layer in an mm (its interval notifier
 * subscriptions), and the hook mm_exit calls before freeing the mm.
 */
void **mm_hmm_slot(struct mm_struct *mm);
typedef void (*mm_exit_fn)(struct mm_struct *mm);
void mm_set_exit_hook(mm_exit_fn fn);

/* mprotect.c */
int change_protection(struct vm_area_struct *vma, uint64_t start, uint64_t end);

/* hugetlb.c */
int hugetlb_fault(struct vm_area_struct *vma, uint64_t addr, unsigned int flags);
int hugetlb_reserve(struct vm_area_struct *vma);
void hugetlb_unreserve(struct vm_area_struct *vma);
uint64_t hugetlb_unfaulted(struct vm_area_struct *vma, uint64_t start, uint64_t end);

#endif /* HMMSIM_MM_INTERNAL_H */
