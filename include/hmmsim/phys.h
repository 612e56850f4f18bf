/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * phys: simulated physical memory. Pools of 4 KiB frames, a buddy allocator
 * per pool, folios with the kernel's accounting, the zero pages, hugetlb
 * pools and simulated files with a page cache.
 *
 * A machine (struct phys_machine) is a frame-number space: the pools of one
 * machine never overlap, so a frame number (pfn) names one frame and
 * phys_pfn_to_folio() finds the folio that holds it. Each pool is one kind of
 * memory (system RAM, device-private, device-coherent) handed out by its own
 * buddy allocator, orders 0 (4 KiB) to PHYS_MAX_ORDER (18, 1 GiB). Blocks are
 * aligned to their size in absolute frame numbers, so a 2 MiB folio can be
 * mapped by a PMD. Under fragmentation a large allocation fails while small
 * ones succeed, and the caller falls back as the kernel does.
 *
 * A folio is one allocation. Its accounting follows the kernel's
 * (cpu-mm-spec §2); the rmap helpers only count, they never touch a page
 * table, and, as in the kernel, they never take or drop references: the
 * caller pairs each mapping with folio_get()/folio_put() itself. Counts are
 * stored from 0 (the kernel's -1 bias of _mapcount is not reproduced).
 *  - refcount: every holder (mappings, page cache, pins, transient refs).
 *    A pin (pin_user_pages) is counted as the kernel does: a large folio gets
 *    +1 reference and +1 pincount; an order-0 folio gets
 *    GUP_PIN_COUNTING_BIAS (1024) references, so folio_maybe_dma_pinned() may
 *    say yes for an order-0 folio with 1024 plain references, as in the
 *    kernel. The simulator also keeps the exact number of pins of every folio
 *    (folio_pin_count()) so checkers need not guess.
 *  - entire mapcount: PMD and PUD mappings of the whole folio.
 *  - per-page mapcount: PTE mappings (and device-private / device-exclusive
 *    entries) of each page. For a large folio the array is allocated on the
 *    first PTE mapping, so a terabyte of PMD-mapped or hugetlb folios costs no
 *    per-page memory.
 *  - folio_mapcount(): all mappings, each PTE and each PMD/PUD counting 1
 *    (the kernel's _large_mapcount).
 *  - anon-exclusive is kept per page, as the kernel's PG_anon_exclusive: a
 *    PMD-mapped folio uses its first page (the head), a PTE-mapped large
 *    folio each page. An order-0 folio keeps it in FOLIO_ANON_EXCLUSIVE.
 *
 * Freeing: a folio is freed when its last reference goes (folio_put()). A
 * system folio goes back to the buddy; a hugetlb folio goes back to its
 * hugetlb pool; a device folio is handed to the pool's page_free callback
 * first, then its frames go back to the pool's buddy (the pool is the
 * driver's allocator). With PHYS_POOL_FREE_AT_ONE (the kernel before 5.18,
 * seed 002), a device folio carries one extra reference while allocated
 * (folio_ref_bias() is 1): it is allocated with refcount 2 and page_free runs
 * on the 2 -> 1 transition. A freed folio is poisoned: a later folio_get(),
 * folio_put() or rmap call on it fails with -EINVAL, until its descriptor is
 * reused by another allocation (descriptors are recycled oldest first).
 *
 * Folio descriptors are type-stable: they are never returned to the host
 * while their pool lives, so a speculative folio_try_get() on a stale
 * pointer (from phys_pfn_to_folio() without a reference) is memory-safe; as
 * in the kernel, recheck the folio's pfn after it succeeds.
 *
 * Bytes: a pool carries 4 KiB of host memory per frame (the default), so
 * tests check data, or, with PHYS_POOL_METADATA, none at all: then
 * folio_data() returns NULL, folio_read() and the file read helpers return
 * zeros, folio_write() and the copy and zero helpers drop what they are given
 * and succeed. The zero pages' bytes are mapped read-only on the host (when
 * host pages are 4 KiB), so a stray write through folio_data() crashes at
 * once instead of corrupting every later reader of zeros.
 *
 * Locking: every pool has a lock for its buddy, taken inside phys calls
 * only (callers never hold it); counts and flags are atomic. Every function
 * below may be called from any number of registered threads at once unless
 * its comment says otherwise. Lock order (for those who read the code):
 * file -> hugetlb pool -> buddy. The page_free callback runs with no phys
 * lock held and may call into phys (allocate from the same pool included).
 *
 * Errors: negative errno values, or NULL with errno set for functions that
 * return a pointer. A call that fails has changed nothing.
 */
#ifndef HMMSIM_PHYS_H
#define HMMSIM_PHYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hmmsim/base.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PHYS_PAGE_SHIFT		12
#define PHYS_PAGE_SIZE		(UINT64_C(1) << PHYS_PAGE_SHIFT)
#define PHYS_MAX_ORDER		18	/* 1 GiB */
#define PHYS_PMD_ORDER		9	/* 2 MiB */
#define PHYS_PUD_ORDER		18	/* 1 GiB */
#define GUP_PIN_COUNTING_BIAS	1024

/* The most pools one machine holds. */
#define PHYS_MAX_POOLS		256

struct phys_machine;
struct phys_pool;
struct phys_hugetlb;
struct phys_file;

/* ------------------------------------------------------------------------ */
/* Folios                                                                   */
/* ------------------------------------------------------------------------ */

/*
 * Folio flags (folio_flags()). The first group describes what the folio is
 * and is set by phys; the second may be changed with folio_set_flags() and
 * folio_clear_flags().
 */
#define FOLIO_ANON		(1u << 0)	/* anonymous memory (PageAnon) */
#define FOLIO_ANON_EXCLUSIVE	(1u << 1)	/* order 0 only: folio_page_anon_exclusive() */
#define FOLIO_ZERO		(1u << 2)	/* the zero page or the huge zero folio */
#define FOLIO_HUGETLB		(1u << 3)	/* from a hugetlb pool */
#define FOLIO_DEVICE_PRIVATE	(1u << 4)	/* ZONE_DEVICE, MEMORY_DEVICE_PRIVATE */
#define FOLIO_DEVICE_COHERENT	(1u << 5)	/* ZONE_DEVICE, MEMORY_DEVICE_COHERENT */
#define FOLIO_LOCKED		(1u << 6)	/* folio_lock() */
#define FOLIO_DIRTY		(1u << 8)	/* changed by the caller */
#define FOLIO_DEFERRED_SPLIT	(1u << 9)	/* on the caller's deferred-split queue */

#define FOLIO_USER_FLAGS	(FOLIO_DIRTY | FOLIO_DEFERRED_SPLIT)

/*
 * struct folio - one allocation of 2^order frames. Read it through the
 * helpers below; change it only through the API. Fields after the first
 * group are private.
 * @pfn, @order: the first frame and the size; stable while a reference is
 *		held (split_folio_to_order() lowers @order of the folio it keeps).
 * @pool:	the pool the frames belong to.
 * @owner:	for device folios, the pool's owner (the kernel's pgmap->owner);
 *		NULL for system folios.
 * @private:	free for the folio's user (the kernel's zone_device_data or
 *		folio->private); phys never reads it and clears it on free.
 * @mapping, @index: for a page-cache folio, its file (struct phys_file *)
 *		and first 4 KiB page index. For an anon folio the mm layer may
 *		keep its own object in @mapping (the kernel's anon_vma); phys
 *		only reads it for non-anon folios. Use folio_mapping().
 */
struct folio {
	uint64_t pfn;
	uint8_t order;
	struct phys_pool *pool;
	void *owner;
	void *private;
	void *mapping;
	uint64_t index;

	/* private */
	uint32_t _flags;
	uint8_t _state;
	uint8_t _ref_bias;
	int32_t _refcount;
	int32_t _mapcount;		/* order 0: PTE mappings */
	int32_t _entire_mapcount;
	int32_t _large_mapcount;
	int32_t _nr_pages_mapped;
	int32_t _pincount;		/* exact pins (kernel-visible only for large folios) */
	int32_t *_page_mapcount;	/* large: per-page PTE mappings, allocated lazily */
	uint64_t *_excl;		/* large: per-page anon-exclusive bits */
	struct phys_hugetlb *_hugetlb;
	struct folio *_next, *_prev;	/* pool list: live folios, or free descriptors */
};

static inline uint64_t folio_pfn(const struct folio *folio)
{
	return folio->pfn;
}

static inline unsigned int folio_order(const struct folio *folio)
{
	return folio->order;
}

static inline uint64_t folio_nr_pages(const struct folio *folio)
{
	return UINT64_C(1) << folio->order;
}

static inline uint64_t folio_size(const struct folio *folio)
{
	return PHYS_PAGE_SIZE << folio->order;
}

static inline bool folio_test_large(const struct folio *folio)
{
	return folio->order > 0;
}

static inline struct phys_pool *folio_pool(const struct folio *folio)
{
	return folio->pool;
}

static inline uint32_t folio_flags(const struct folio *folio)
{
	return __atomic_load_n(&folio->_flags, __ATOMIC_ACQUIRE);
}

static inline bool folio_test_anon(const struct folio *folio)
{
	return folio_flags(folio) & FOLIO_ANON;
}

static inline bool folio_test_dirty(const struct folio *folio)
{
	return folio_flags(folio) & FOLIO_DIRTY;
}

static inline bool folio_test_hugetlb(const struct folio *folio)
{
	return folio_flags(folio) & FOLIO_HUGETLB;
}

static inline bool folio_test_locked(const struct folio *folio)
{
	return folio_flags(folio) & FOLIO_LOCKED;
}

/* The 4 KiB zero page (is_zero_folio() in the kernel: not the huge one). */
static inline bool is_zero_folio(const struct folio *folio)
{
	return (folio_flags(folio) & FOLIO_ZERO) && folio->order == 0;
}

static inline bool is_huge_zero_folio(const struct folio *folio)
{
	return (folio_flags(folio) & FOLIO_ZERO) && folio->order > 0;
}

static inline bool folio_is_device_private(const struct folio *folio)
{
	return folio_flags(folio) & FOLIO_DEVICE_PRIVATE;
}

static inline bool folio_is_device_coherent(const struct folio *folio)
{
	return folio_flags(folio) & FOLIO_DEVICE_COHERENT;
}

static inline bool folio_is_zone_device(const struct folio *folio)
{
	return folio_flags(folio) & (FOLIO_DEVICE_PRIVATE | FOLIO_DEVICE_COHERENT);
}

static inline void *folio_mapping(const struct folio *folio)
{
	return __atomic_load_n(&folio->mapping, __ATOMIC_ACQUIRE);
}

/* The file of a page-cache folio, or NULL (anon, or removed from its file). */
static inline struct phys_file *folio_file(const struct folio *folio)
{
	return folio_test_anon(folio) ? NULL : (struct phys_file *)folio_mapping(folio);
}

/*
 * References. folio_ref_count() includes folio_ref_bias(): 1 for a device
 * folio of a PHYS_POOL_FREE_AT_ONE pool, 0 otherwise.
 */
static inline int folio_ref_count(const struct folio *folio)
{
	return __atomic_load_n(&folio->_refcount, __ATOMIC_ACQUIRE);
}

static inline int folio_ref_bias(const struct folio *folio)
{
	return folio->_ref_bias;
}

/*
 * Allocation flags of folio_alloc().
 * FOLIO_ALLOC_ZERO: zero the bytes (__GFP_ZERO); otherwise the frames hold
 * whatever their last user left, as in the kernel.
 */
#define FOLIO_ALLOC_ZERO	(1u << 0)

/*
 * Allocate a folio of 2^@order frames from @pool's buddy, with refcount 1
 * (plus the bias of a free-at-one device pool), no mappings and no flags but
 * the pool's kind (FOLIO_DEVICE_PRIVATE or _COHERENT; @owner is set to the
 * pool's owner for device pools).
 * Context: any thread; takes the pool's lock.
 * Returns the folio, or NULL with errno EINVAL (order > PHYS_MAX_ORDER,
 * unknown flags) or ENOMEM (no free block of that order: out of memory or
 * too fragmented; counted in the pool's failures[order]).
 */
HMMSIM_API struct folio *folio_alloc(struct phys_pool *pool, unsigned int order,
				     unsigned int flags);

/*
 * Take a reference on a folio the caller knows is live (it holds a reference
 * or a mapping). Returns 0, or -EINVAL when the folio is free (refcount at
 * its bias), which is a caller bug detected.
 */
HMMSIM_API int folio_get(struct folio *folio);

/*
 * Take @nr references (@nr > 0) on a live folio. Returns 0, -EINVAL (free
 * folio, @nr <= 0, or the count would overflow).
 */
HMMSIM_API int folio_ref_add(struct folio *folio, int nr);

/*
 * Take a reference unless the folio is free: the speculative get of GUP-fast
 * and the page cache. Safe on a stale pointer (descriptors are type-stable);
 * recheck folio_pfn() after it succeeds.
 */
HMMSIM_API bool folio_try_get(struct folio *folio);

/*
 * Drop one (or @nr) references. When the count reaches the folio's bias the
 * folio is freed: to its hugetlb pool, through the device pool's page_free
 * callback and then the buddy, or to the buddy.
 * Context: any thread; takes the pool's (or hugetlb pool's) lock when it
 * frees; runs page_free with no phys lock held.
 * Returns 1 when this call freed the folio, 0 when references remain,
 * -EINVAL when nothing was done: @nr <= 0, more references dropped than
 * held (a folio already freed included), the last reference of a folio that
 * is still mapped, or the pool's own reference of a zero page.
 */
HMMSIM_API int folio_put_refs(struct folio *folio, int nr);
HMMSIM_API int folio_put(struct folio *folio);

/*
 * Pins (FOLL_PIN, pin_user_pages). folio_pin() adds a pin to a live folio:
 * +1 reference and +1 pincount for a large folio, +GUP_PIN_COUNTING_BIAS
 * references for an order-0 one. Pins of the 4 KiB zero page are not
 * counted (as the kernel since 6.5). A device-private folio cannot be
 * pinned (the kernel migrates it to RAM first): -EPERM.
 * unpin_folio() drops one; -EINVAL when the folio has no pin.
 * Context: any thread, atomic.
 */
HMMSIM_API int folio_pin(struct folio *folio);
HMMSIM_API int unpin_folio(struct folio *folio);

/* The kernel's test: large: pincount > 0; order 0: refcount >= 1024. */
HMMSIM_API bool folio_maybe_dma_pinned(const struct folio *folio);

/* Exact pins of @folio (the simulator's knowledge, for checkers). */
HMMSIM_API int folio_pin_count(const struct folio *folio);

/* References that the pins of @folio account for: pins, or 1024 * pins for order 0. */
HMMSIM_API int folio_pin_refs(const struct folio *folio);

/*
 * References the page cache holds on @folio: folio_nr_pages() for a folio of
 * a regular file, 1 for a hugetlb file folio (the kernel special-cases
 * hugetlb), 0 when not in a file.
 */
HMMSIM_API int folio_cache_refs(const struct folio *folio);

/*
 * Change the caller-owned flags (FOLIO_USER_FLAGS). Atomic.
 * Returns 0, -EINVAL for other flags or a free folio.
 */
HMMSIM_API int folio_set_flags(struct folio *folio, uint32_t flags);
HMMSIM_API int folio_clear_flags(struct folio *folio, uint32_t flags);

static inline int folio_mark_dirty(struct folio *folio)
{
	return folio_set_flags(folio, FOLIO_DIRTY);
}

static inline int folio_clear_dirty(struct folio *folio)
{
	return folio_clear_flags(folio, FOLIO_DIRTY);
}

/*
 * Mark a live folio anonymous (the kernel's __folio_set_anon, done by
 * folio_add_new_anon_rmap() and by migration for the destination).
 * Returns 0, -EINVAL for a free, zero, hugetlb-shared or page-cache folio.
 */
HMMSIM_API int folio_set_anon(struct folio *folio);

/*
 * The folio lock (a sleeping lock in the kernel; here a bit and a yielding
 * spin). folio_trylock() returns true when it took the lock. Unlocking a
 * folio that is not locked returns -EINVAL.
 */
HMMSIM_API bool folio_trylock(struct folio *folio);
HMMSIM_API void folio_lock(struct folio *folio);
HMMSIM_API int folio_unlock(struct folio *folio);

/* ------------------------------------------------------------------------ */
/* Mapcounts and the rmap accounting                                        */
/* ------------------------------------------------------------------------ */

/* All mappings of @folio: PTEs plus PMD/PUD mappings, each counting 1. */
HMMSIM_API int folio_mapcount(const struct folio *folio);

/* PMD/PUD mappings of @folio (0 for order 0). */
HMMSIM_API int folio_entire_mapcount(const struct folio *folio);

/* PTE mappings of page @page of @folio (the spec's per-page column), or -EINVAL. */
HMMSIM_API int folio_page_pte_mapcount(const struct folio *folio, uint64_t page);

/*
 * Mappings of page @page: its PTE mappings plus the entire mapcount (the
 * kernel's page_mapcount / folio_precise_page_mapcount), or -EINVAL.
 */
HMMSIM_API int folio_page_mapcount(const struct folio *folio, uint64_t page);

/* Pages of @folio mapped by at least one PTE (the kernel's _nr_pages_mapped). */
HMMSIM_API int folio_nr_pages_mapped(const struct folio *folio);

static inline bool folio_mapped(const struct folio *folio)
{
	return folio_mapcount(folio) > 0;
}

/* Per-page anon-exclusivity (PageAnonExclusive). Page 0 of a PMD-mapped folio is its head. */
HMMSIM_API bool folio_page_anon_exclusive(const struct folio *folio, uint64_t page);
HMMSIM_API int folio_set_page_anon_exclusive(struct folio *folio, uint64_t page);
HMMSIM_API int folio_clear_page_anon_exclusive(struct folio *folio, uint64_t page);

/* Flags of the rmap helpers. */
#define RMAP_EXCLUSIVE	(1u << 0)	/* the new mapping is anon-exclusive */

/*
 * Account mappings (the caller does the page table and the references).
 * Context: the caller holds a reference on the folio and the page-table
 * lock of the entries it changes, as in the kernel; counts are atomic, so
 * different mappings of one folio may change concurrently.
 *
 * folio_add_new_anon_rmap: a freshly allocated, unmapped folio becomes anon
 * and mapped once: by a PMD when its order is PHYS_PMD_ORDER (entire
 * mapcount 1, the head exclusive with RMAP_EXCLUSIVE), else by one PTE for
 * every page (order 0, or an mTHP; each page exclusive with RMAP_EXCLUSIVE).
 * folio_add_anon_rmap_ptes: @nr PTE mappings of pages [@page, @page + @nr) of
 * an anon folio; RMAP_EXCLUSIVE makes those pages exclusive.
 * folio_add_anon_rmap_pmd / _pud: one entire mapping of a folio of order
 * PHYS_PMD_ORDER / PHYS_PUD_ORDER; RMAP_EXCLUSIVE sets the head's bit.
 * folio_add_file_rmap_*: the same for a non-anon folio (page cache, shared
 * anonymous memory, hugetlb); no exclusivity.
 * hugetlb folios accept only entire mappings; zero folios none (they are
 * special mappings, never counted).
 * Returns 0, -EINVAL (free folio, wrong kind or order, range outside the
 * folio, unknown flags), -ENOMEM (the per-page array of a large folio could
 * not be allocated).
 */
HMMSIM_API int folio_add_new_anon_rmap(struct folio *folio, unsigned int flags);
HMMSIM_API int folio_add_anon_rmap_ptes(struct folio *folio, uint64_t page, unsigned int nr,
					unsigned int flags);
HMMSIM_API int folio_add_anon_rmap_pmd(struct folio *folio, unsigned int flags);
HMMSIM_API int folio_add_anon_rmap_pud(struct folio *folio, unsigned int flags);
HMMSIM_API int folio_add_file_rmap_ptes(struct folio *folio, uint64_t page, unsigned int nr);
HMMSIM_API int folio_add_file_rmap_pmd(struct folio *folio);
HMMSIM_API int folio_add_file_rmap_pud(struct folio *folio);

static inline int folio_add_anon_rmap_pte(struct folio *folio, uint64_t page, unsigned int flags)
{
	return folio_add_anon_rmap_ptes(folio, page, 1, flags);
}

static inline int folio_add_file_rmap_pte(struct folio *folio, uint64_t page)
{
	return folio_add_file_rmap_ptes(folio, page, 1);
}

/*
 * Remove mappings: PTE mappings of [@page, @page + @nr), or one entire
 * mapping. Anon-exclusive bits are left alone (the kernel clears them only
 * when the folio is freed). Context as for the add helpers.
 * Returns 0, -EINVAL (a count would go negative, wrong order, bad range).
 */
HMMSIM_API int folio_remove_rmap_ptes(struct folio *folio, uint64_t page, unsigned int nr);
HMMSIM_API int folio_remove_rmap_pmd(struct folio *folio);
HMMSIM_API int folio_remove_rmap_pud(struct folio *folio);

static inline int folio_remove_rmap_pte(struct folio *folio, uint64_t page)
{
	return folio_remove_rmap_ptes(folio, page, 1);
}

/*
 * fork: duplicate anon mappings for the child (folio_try_dup_anon_rmap_*):
 * the pages' anon-exclusive bits are cleared and the mapcounts raised.
 * Fails with -EBUSY, changing nothing, when one of the pages is exclusive and
 * the folio may be DMA-pinned: the caller must copy the page for the child.
 * The caller takes the child's references.
 */
HMMSIM_API int folio_try_dup_anon_rmap_ptes(struct folio *folio, uint64_t page, unsigned int nr);
HMMSIM_API int folio_try_dup_anon_rmap_pmd(struct folio *folio);

/*
 * Before an exclusive anon mapping becomes a migration or swap entry
 * (folio_try_share_anon_rmap_*): clear the page's (or the head's)
 * anon-exclusive bit; -EBUSY, nothing changed, when the folio may be pinned.
 */
HMMSIM_API int folio_try_share_anon_rmap_pte(struct folio *folio, uint64_t page);
HMMSIM_API int folio_try_share_anon_rmap_pmd(struct folio *folio);

/*
 * Split @folio (split_huge_page_to_list_to_order) into folios of
 * 2^@new_order frames, in place: the first keeps the descriptor (pointer
 * stays valid) and the lock; the others get new descriptors, found with
 * phys_pfn_to_folio(). Mappings stay where they are: each new folio gets
 * the PTE mapcounts of its pages, refcount = its pages' PTE mappings + its
 * page-cache references, and the first one also the caller's reference.
 * Anon-exclusive bits, anon, dirty, owner, private and mapping go with the
 * pages (index advances). A new folio left with no reference is freed at once
 * (to the buddy, or through page_free).
 * Legal only when the caller says so, as the kernel's:
 *  - the caller holds the folio lock and one reference;
 *  - no PMD/PUD maps the folio (split the PMD first): else -EBUSY;
 *  - refcount == folio_mapcount + page-cache refs + 1 (+ bias): any other
 *    reference (a pin, a GUP reference, a transient get) gives -EBUSY;
 *  - the caller keeps mappings from changing during the call (the kernel
 *    unmaps them to migration entries); speculative folio_try_get() fails
 *    while the split runs (the refcount is frozen at 0).
 * -EINVAL: order 0, @new_order >= order, an anon folio to order 1 (the
 * kernel refuses it), a hugetlb or zero folio, not locked. -ENOMEM.
 */
HMMSIM_API int split_folio_to_order(struct folio *folio, unsigned int new_order);

static inline int split_folio(struct folio *folio)
{
	return split_folio_to_order(folio, 0);
}

/* ------------------------------------------------------------------------ */
/* Bytes                                                                    */
/* ------------------------------------------------------------------------ */

/*
 * The 4 KiB of page @page of @folio: NULL with errno ENODATA in a metadata
 * pool, EINVAL when @page is outside the folio. Valid while the folio lives.
 * The zero pages' bytes are read-only.
 */
HMMSIM_API void *folio_data(const struct folio *folio, uint64_t page);

/* Whether @folio carries bytes (its pool is not a metadata pool). */
HMMSIM_API bool folio_has_data(const struct folio *folio);

/*
 * Byte access to [@offset, @offset + @len) of @folio (offsets in bytes from
 * its first frame). In a metadata pool reads give zeros and writes, copies
 * and zeroing are dropped. Writing a zero folio gives -EPERM.
 * Context: the caller keeps the folio alive; concurrent access to the same
 * bytes is the caller's race, as on real memory.
 * Returns 0, -EINVAL (range outside the folio), -EPERM.
 */
HMMSIM_API int folio_read(const struct folio *folio, uint64_t offset, void *buf, size_t len);
HMMSIM_API int folio_write(struct folio *folio, uint64_t offset, const void *buf, size_t len);
HMMSIM_API int folio_zero_range(struct folio *folio, uint64_t offset, uint64_t len);

static inline int folio_zero(struct folio *folio)
{
	return folio_zero_range(folio, 0, folio_size(folio));
}

/*
 * Copy the bytes of @src into @dst (folio_copy: the same number of pages),
 * or of page @src_page of @src into page @dst_page of @dst (copy_highpage).
 * A metadata source copies zeros into a bytes destination.
 * Returns 0, -EINVAL (sizes, pages out of range), -EPERM (@dst is a zero folio).
 */
HMMSIM_API int folio_copy(struct folio *dst, const struct folio *src);
HMMSIM_API int folio_copy_page(struct folio *dst, uint64_t dst_page, const struct folio *src,
			       uint64_t src_page);

/*
 * Check one folio's own invariants: counts never negative, the sum of PTE
 * and entire mappings equals folio_mapcount, the mapped-pages count matches,
 * refcount >= mapcount + pin refs + cache refs + bias (the mm layer checks
 * the exact equation of cpu-mm-spec §12.1), exclusivity only on anon
 * folios, a hugetlb folio never PTE-mapped.
 * Context: nothing changes @folio meanwhile.
 * Returns 0, or -EUCLEAN with the first violation in @msg (when not NULL).
 */
HMMSIM_API int folio_check(const struct folio *folio, char *msg, size_t len);

/* ------------------------------------------------------------------------ */
/* Machines and pools                                                       */
/* ------------------------------------------------------------------------ */

/*
 * Create an empty machine (a frame-number space), or destroy one: -EBUSY
 * while it still has pools. Passing NULL where a machine is expected means
 * the process-wide default machine, which always exists.
 */
HMMSIM_API int phys_machine_create(struct phys_machine **out);
HMMSIM_API int phys_machine_destroy(struct phys_machine *m);

enum phys_kind {
	PHYS_SYSTEM_RAM = 0,
	PHYS_DEVICE_PRIVATE = 1,	/* the kernel's MEMORY_DEVICE_PRIVATE */
	PHYS_DEVICE_COHERENT = 2,	/* MEMORY_DEVICE_COHERENT */
};

/*
 * Callbacks of a device pool (the kernel's dev_pagemap_ops).
 * @page_free:	the folio's last reference went (refcount 0, or 1 with
 *		PHYS_POOL_FREE_AT_ONE). Called with the folio still described
 *		(pfn, order, owner, private readable; anon-exclusive and mapping
 *		already cleared, as free_zone_device_folio does), before its
 *		frames go back to the pool's buddy. No phys lock is held. May be
 *		NULL.
 */
struct phys_pgmap_ops {
	void (*page_free)(struct folio *folio, void *owner);
};

/* Pool flags. */
#define PHYS_POOL_METADATA	(1u << 0)	/* frames carry no bytes */
#define PHYS_POOL_FREE_AT_ONE	(1u << 1)	/* device pools: pre-5.18 refcount bias */
#define PHYS_POOL_NUMA		(1u << 2)	/* place the bytes on @numa_node */

/* first_pfn value: let the machine choose (the next 1 GiB-aligned free range). */
#define PHYS_PFN_AUTO		UINT64_MAX

/*
 * struct phys_pool_config - how to build a pool. A zeroed config plus
 * @nr_frames and @first_pfn gives system RAM with bytes in the default
 * machine.
 * @machine:	the machine, NULL for the default one.
 * @kind:	system RAM or device memory.
 * @nr_frames:	size in 4 KiB frames (> 0).
 * @first_pfn:	the first frame number, or PHYS_PFN_AUTO. Frames
 *		[first_pfn, first_pfn + nr_frames) must not overlap another
 *		pool of the machine, and must stay below 2^40.
 * @numa_node:	host node for the bytes (with PHYS_POOL_NUMA, when the host
 *		has NUMA).
 * @flags:	PHYS_POOL_*.
 * @ops, @owner: device pools only: the callbacks and the pgmap owner
 *		(copied into every folio's @owner).
 * @name:	for messages; may be NULL.
 */
struct phys_pool_config {
	struct phys_machine *machine;
	enum phys_kind kind;
	uint64_t nr_frames;
	uint64_t first_pfn;
	int numa_node;
	unsigned int flags;
	const struct phys_pgmap_ops *ops;
	void *owner;
	const char *name;
};

/*
 * Create a pool: all frames free, coalesced into the largest aligned blocks.
 * A system pool also sets aside one frame for its zero page.
 * Returns 0 and the pool in *@out; -EINVAL (no frames, unknown kind or
 * flags, ops or FREE_AT_ONE on system RAM, pfns past 2^40), -EEXIST (overlaps
 * a pool of the machine), -ENOSPC (the machine has PHYS_MAX_POOLS pools),
 * -ENOMEM.
 */
HMMSIM_API int phys_pool_create(const struct phys_pool_config *cfg, struct phys_pool **out);

/*
 * Destroy @pool. Returns -EBUSY, nothing changed, while folios other than
 * the zero pages and fragment() fillers are allocated, or hugetlb pools or
 * files use it. No other thread may use @pool meanwhile, nor look up its
 * pfns.
 */
HMMSIM_API int phys_pool_destroy(struct phys_pool *pool);

HMMSIM_API enum phys_kind phys_pool_kind(const struct phys_pool *pool);
HMMSIM_API uint64_t phys_pool_first_pfn(const struct phys_pool *pool);
HMMSIM_API uint64_t phys_pool_nr_frames(const struct phys_pool *pool);
HMMSIM_API void *phys_pool_owner(const struct phys_pool *pool);
HMMSIM_API struct phys_machine *phys_pool_machine(const struct phys_pool *pool);

/*
 * The pool that holds frame @pfn in @m (NULL: the default machine), or NULL
 * with errno ERANGE. Lock-free.
 */
HMMSIM_API struct phys_pool *phys_pfn_to_pool(struct phys_machine *m, uint64_t pfn);

/*
 * The folio that holds frame @pfn (pfn_folio()), or NULL with errno ERANGE
 * (no pool holds it) or ENOENT (the frame is free). Lock-free. The result
 * is stable only while the caller holds a reference or a mapping of the
 * frame; otherwise use folio_try_get() on it and recheck the range.
 */
HMMSIM_API struct folio *phys_pfn_to_folio(struct phys_machine *m, uint64_t pfn);

/*
 * struct phys_pool_stats - counters of one pool (a consistent snapshot,
 * taken under the pool's lock).
 * @nr_frames:	the pool's size.
 * @free_frames: frames in free buddy blocks.
 * @live_folios, @live_frames: folios allocated from the buddy and their
 *		frames (zero pages, hugetlb pool folios and fillers included).
 * @free_blocks: free blocks per order.
 * @allocs, @frees, @failures: buddy allocations, frees and failed
 *		allocations per order (a split folio frees at its new order).
 * @block_splits, @block_merges: buddy blocks split to serve an allocation,
 *		and buddies merged on free.
 * @folio_splits: split_folio_to_order() calls that succeeded.
 * @page_free_calls: device page_free callbacks made.
 */
struct phys_pool_stats {
	uint64_t nr_frames;
	uint64_t free_frames;
	uint64_t live_folios;
	uint64_t live_frames;
	uint64_t free_blocks[PHYS_MAX_ORDER + 1];
	uint64_t allocs[PHYS_MAX_ORDER + 1];
	uint64_t frees[PHYS_MAX_ORDER + 1];
	uint64_t failures[PHYS_MAX_ORDER + 1];
	uint64_t block_splits;
	uint64_t block_merges;
	uint64_t folio_splits;
	uint64_t page_free_calls;
};

HMMSIM_API void phys_pool_stats(struct phys_pool *pool, struct phys_pool_stats *st);

/* The largest order with a free block, or -1 when the pool is full. */
HMMSIM_API int phys_pool_max_free_order(struct phys_pool *pool);

/*
 * Fragment @pool on purpose, for tests: every free block larger than
 * 2^@order frames is cut into blocks of 2^@order, and every second one
 * (the upper buddy of each pair) is taken by a filler folio the pool holds.
 * Afterwards no free block is larger than 2^@order and about half the free
 * memory stays free. phys_pool_unfragment() frees every filler.
 * Returns the frames taken (>= 0), -EINVAL (@order >= PHYS_MAX_ORDER),
 * -ENOMEM (host memory for descriptors; fillers taken so far stay taken).
 */
HMMSIM_API int64_t phys_pool_fragment(struct phys_pool *pool, unsigned int order);
HMMSIM_API void phys_pool_unfragment(struct phys_pool *pool);

/*
 * Check @pool: free frames + frames of live folios == the pool's size; free
 * blocks aligned, inside the pool and overlapping neither each other nor a
 * live folio; the per-order counters and the pfn index match; every live
 * folio passes folio_check().
 * Context: no other thread changes the pool or its folios meanwhile.
 * Returns 0, or -EUCLEAN with the first violation in @msg.
 */
HMMSIM_API int phys_pool_check(struct phys_pool *pool, char *msg, size_t len);

/* ------------------------------------------------------------------------ */
/* Zero pages                                                               */
/* ------------------------------------------------------------------------ */

/*
 * The 4 KiB zero page of system pool @pool (ZERO_PAGE): shared, never
 * freed, flagged FOLIO_ZERO, read-only bytes. Mappings of it are special:
 * they take no reference and no mapcount. No reference is returned.
 * Returns NULL with errno EINVAL for a device pool.
 */
HMMSIM_API struct folio *phys_zero_folio(struct phys_pool *pool);

/*
 * The huge zero folio (order 9) of system pool @pool, with a reference for
 * the caller (mm_get_huge_zero_folio: one per mm that uses it; drop it with
 * folio_put()). Allocated from the buddy on first use, so it can fail under
 * fragmentation, and then kept for the pool's life (as the kernel's
 * persistent huge zero folio). Returns NULL with errno ENOMEM or EINVAL.
 */
HMMSIM_API struct folio *phys_huge_zero_folio_get(struct phys_pool *pool);

/* ------------------------------------------------------------------------ */
/* hugetlb pools                                                            */
/* ------------------------------------------------------------------------ */

/*
 * Create a hugetlb pool of @nr_2m 2 MiB and @nr_1g 1 GiB folios, allocated
 * now from system pool @pool (the kernel's boot-time or sysctl pool).
 * Returns 0 and the pool in *@out, -EINVAL (a device pool), -ENOMEM (the
 * system pool could not supply them: nothing is kept).
 */
HMMSIM_API int phys_hugetlb_create(struct phys_pool *pool, uint64_t nr_2m, uint64_t nr_1g,
				   struct phys_hugetlb **out);

/*
 * Destroy @hp, returning its folios to the buddy. -EBUSY while any is in
 * use or reserved, or a file uses the pool.
 */
HMMSIM_API int phys_hugetlb_destroy(struct phys_hugetlb *hp);

/*
 * Reserve @nr folios of @order (9 or 18) for later allocations
 * (hugetlb_reserve_pages at mmap time), or give reservations back.
 * Returns 0, -EINVAL (order, more unreserved than reserved), -ENOMEM (fewer
 * unreserved free folios than @nr).
 */
HMMSIM_API int phys_hugetlb_reserve(struct phys_hugetlb *hp, unsigned int order, uint64_t nr);
HMMSIM_API int phys_hugetlb_unreserve(struct phys_hugetlb *hp, unsigned int order, uint64_t nr);

/* Flags of phys_hugetlb_alloc(). */
#define PHYS_HUGETLB_RESERVED	(1u << 0)	/* consume one of the caller's reservations */
#define PHYS_HUGETLB_ZERO	(1u << 1)	/* zero the bytes (the hugetlb fault does) */

/*
 * Take a free folio of @order (9 or 18) from @hp: refcount 1, FOLIO_HUGETLB,
 * no mappings. Without PHYS_HUGETLB_RESERVED only unreserved folios are
 * taken. Its last folio_put() returns it to @hp.
 * Returns the folio, or NULL with errno EINVAL (order, flags, RESERVED with
 * no reservation) or ENOMEM (none free).
 */
HMMSIM_API struct folio *phys_hugetlb_alloc(struct phys_hugetlb *hp, unsigned int order,
					    unsigned int flags);

/* struct phys_hugetlb_stats - per size (index 0: 2 MiB, 1: 1 GiB). */
struct phys_hugetlb_stats {
	uint64_t total[2];
	uint64_t free[2];
	uint64_t reserved[2];
	uint64_t allocs[2];
	uint64_t failures[2];
};

HMMSIM_API void phys_hugetlb_stats(struct phys_hugetlb *hp, struct phys_hugetlb_stats *st);

/* ------------------------------------------------------------------------ */
/* Files and the page cache                                                 */
/* ------------------------------------------------------------------------ */

/*
 * Create a simulated file of @size bytes whose page cache takes order-0
 * folios from system pool @pool (phys_file_create), or folios of @order
 * (9 or 18) from hugetlb pool @hp (phys_file_create_hugetlb: @size must be a
 * multiple of the huge page). Pages are allocated zero-filled on demand.
 * The file starts with one reference (phys_file_get/put; a mapping of it
 * holds one, as vma->vm_file does); the last put truncates it to 0 and frees
 * it. Returns 0, -EINVAL, -ENOMEM.
 */
HMMSIM_API int phys_file_create(struct phys_pool *pool, uint64_t size, struct phys_file **out);
HMMSIM_API int phys_file_create_hugetlb(struct phys_hugetlb *hp, unsigned int order,
					uint64_t size, struct phys_file **out);
HMMSIM_API void phys_file_get(struct phys_file *file);
HMMSIM_API void phys_file_put(struct phys_file *file);

HMMSIM_API uint64_t phys_file_size(struct phys_file *file);

/* Folios cached by @file now. */
HMMSIM_API uint64_t phys_file_nr_cached(struct phys_file *file);

/*
 * Reserve in its hugetlb pool the huge pages of [@offset, @offset + @len)
 * of hugetlb file @file (hugetlb_reserve_pages for a shared mapping). The
 * reservation map lives with the file, one bit per huge page, as the
 * kernel's inode resv_map: a page already reserved, or already in the
 * cache, is not reserved again, so a second mapping of the same range
 * reserves nothing more. The first allocation of a reserved page (any
 * phys_file_get_folio() with PHYS_FGP_CREAT, phys_file_write()) consumes
 * its reservation; phys_file_truncate() and the file's release give back
 * the reservations of the pages they cut off that were never allocated.
 * Context: any thread; takes the file's lock, then the pool's.
 * Returns 0 (@len 0: nothing to do); -EINVAL (not a hugetlb file, a range
 * not huge-page aligned or not inside the file); -ENOMEM (the pool has
 * fewer unreserved free pages than the range needs: nothing reserved).
 */
HMMSIM_API int phys_file_reserve(struct phys_file *file, uint64_t offset, uint64_t len);

/* Huge pages of @file reserved by phys_file_reserve() and not allocated yet. */
HMMSIM_API uint64_t phys_file_nr_reserved(struct phys_file *file);

/* Flags of phys_file_get_folio(). */
#define PHYS_FGP_CREAT		(1u << 0)	/* allocate the folio when absent */
/*
 * hugetlb file: a page with no reservation of its own (phys_file_reserve())
 * consumes one of the caller's (phys_hugetlb_reserve()) instead of taking
 * an unreserved folio. A page reserved in the file always uses its own.
 */
#define PHYS_FGP_RESERVED	(1u << 1)

/*
 * The cached folio covering 4 KiB page @index of @file, with a reference
 * for the caller (__filemap_get_folio). With PHYS_FGP_CREAT an absent folio
 * is allocated, zeroed and inserted; the cache holds folio_cache_refs() on
 * it and folio->mapping/index name the file and its first page.
 * Context: any thread; takes the file's lock.
 * Returns 0 and the folio in *@out; -ENOENT (absent, no CREAT), -EFAULT
 * (@index at or past the end of the file: the kernel's SIGBUS), -EINVAL
 * (flags; PHYS_FGP_RESERVED with no reservation to consume), -ENOMEM (the
 * pool or hugetlb pool is empty: no free folio, or none unreserved for a
 * page without a reservation).
 */
HMMSIM_API int phys_file_get_folio(struct phys_file *file, uint64_t index, unsigned int flags,
				   struct folio **out);

/*
 * Change the size. Shrinking removes the folios past the new end from the
 * cache (mapping cleared, cache references dropped: a folio still mapped
 * lives on until unmapped; the mm layer unmaps first, as
 * unmap_mapping_range) and zeroes the tail of a partial last page; a
 * hugetlb file gives back the reservations of the pages past the new end
 * (phys_file_reserve()). Growing reserves nothing.
 * Returns 0, -EINVAL (a hugetlb file and a size not a multiple of its page),
 * -ENOMEM (growing: the directory).
 */
HMMSIM_API int phys_file_truncate(struct phys_file *file, uint64_t size);

/*
 * pread/pwrite through the page cache. Reads of holes give zeros without
 * allocating; writes allocate. [@offset, @offset + @len) must lie in the file.
 * Returns 0, -EINVAL (range), -ENOMEM.
 */
HMMSIM_API int phys_file_read(struct phys_file *file, uint64_t offset, void *buf, size_t len);
HMMSIM_API int phys_file_write(struct phys_file *file, uint64_t offset, const void *buf,
			       size_t len);

/*
 * Check @file: every cached folio is live, names the file and its index,
 * and holds at least its cache references; the cached count matches; a
 * reserved page is inside the file, not cached, and the reserved count
 * matches.
 * Context: no other thread changes the file meanwhile.
 * Returns 0, or -EUCLEAN with the first violation in @msg.
 */
HMMSIM_API int phys_file_check(struct phys_file *file, char *msg, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* HMMSIM_PHYS_H */
