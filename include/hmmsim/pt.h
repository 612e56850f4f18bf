/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pt: the generic, concurrent, multi-level mirror page-table engine.
 *
 * Every page table in hmmsim (the simulated CPU's, each fake GPU's) is a
 * pt_table built from a pt_format. A format is data: the address width (an
 * inclusive last address), the smallest page, the bits of a directory, which
 * levels may hold leaves, and where the entry bits sit. The engine derives the
 * geometry from it and walks every format with one code path.
 *
 * Levels: level 0 is the leaf-only level (the PTE level of a CPU); levels count
 * up toward the top directory, level geo.levels - 1. Every per-level array in
 * this API is indexed by that number, the same everywhere.
 *
 * Entries are 64-bit words:
 *  - empty: all zero;
 *  - table: the valid bit set, the leaf bit clear, at a level above 0 (engine
 *    owned; callers never build one);
 *  - leaf: the valid bit set, at level 0 or with the leaf bit set above it;
 *    the output frame number sits at bits [page_shift, page_shift + oa_bits);
 *  - special: the valid bit clear but not empty (a kernel swap-format entry:
 *    device-private, migration, device-exclusive). The engine stores and
 *    counts it like a leaf and never interprets the rest of the word.
 * A directory's count is of its non-empty entries, so a directory that holds
 * only special entries is never freed under them.
 *
 * Concurrency contract (as generic_pt's): updates (map, unmap, protect, split,
 * collapse, free) to disjoint ranges may run in parallel from any number of
 * threads; the caller keeps two updates of overlapping ranges apart (its own
 * range lock, e.g. an mmap_lock or a driver lock). Lookups, walks, iterators
 * and the atomic bit operations may run concurrently with anything, inside
 * an RCU read-side section (hmmsim_read_lock()): they see each entry either
 * before or after an update. Directories are freed after an RCU grace period,
 * in one batch per operation, never with a synchronize_rcu() on the update
 * path. All threads must be registered (hmmsim_thread_register()).
 *
 * Errors are negative errno values; a call that fails has changed nothing.
 */
#ifndef HMMSIM_PT_H
#define HMMSIM_PT_H

#include <stddef.h>
#include <stdint.h>

#include <hmmsim/base.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef uint64_t pt_entry_t;

#define PT_MAX_LEVELS 8

/*
 * struct pt_format - a page-table format, as data.
 * @name:	short name ("x86-64-4l").
 * @last:	the last valid input address, inclusive (2^48 - 1 for 4-level x86).
 * @page_shift:	log2 of the smallest page, the item size of level 0.
 * @dir_shift:	log2 of the entries of one directory; the top directory holds
 *		what is left of the address bits.
 * @oa_bits:	width of the output frame number field, starting at page_shift.
 * @leaf_levels: bit L set when level L may hold a leaf: levels 0 to k, no gaps.
 * @contig_shift: per level, log2 of the items in a contiguous leaf (a run of
 *		items that maps one larger page, e.g. 64K from 16 4K items), or 0
 *		when the level has none. Needs @contig.
 * @valid, @write, @dirty, @accessed, @leaf, @contig: the entry bits, each one
 *		bit (0 for @contig when no level has contiguous leaves). None may
 *		fall inside the frame number field.
 * @sw:		bits the format's user keeps for itself (device flags, the
 *		kernel's special bit...). Carried and never interpreted.
 */
struct pt_format {
	const char *name;
	uint64_t last;
	uint8_t page_shift;
	uint8_t dir_shift;
	uint8_t oa_bits;
	uint16_t leaf_levels;
	uint8_t contig_shift[PT_MAX_LEVELS];
	pt_entry_t valid, write, dirty, accessed, leaf, contig;
	pt_entry_t sw;
};

/*
 * struct pt_geometry - what the engine derives from a format.
 * @levels:	number of levels, top included.
 * @shift:	per level, log2 of the address span of one item.
 * @entries:	per level, entries in a directory of that level.
 * @page_sizes:	bitmap of the log2 page sizes the format can map.
 */
struct pt_geometry {
	uint8_t levels;
	uint8_t shift[PT_MAX_LEVELS];
	uint32_t entries[PT_MAX_LEVELS];
	uint64_t page_sizes;
};

/* x86-64 with 4-level (48-bit) and 5-level (57-bit) paging: 4K, 2M, 1G leaves. */
HMMSIM_API extern const struct pt_format pt_format_x86_64_4l;
HMMSIM_API extern const struct pt_format pt_format_x86_64_5l;
/*
 * A format for tests: 4K pages, 4 entries a directory, a 24-bit space, so a
 * few pages make a deep tree (6 levels). Leaves at levels 0 to 4, a 2-item
 * contiguous leaf at level 0.
 */
HMMSIM_API extern const struct pt_format pt_format_tiny;

/*
 * Derive the geometry of @fmt into @geo.
 * Returns 0, or -EINVAL when the format is inconsistent (more than
 * PT_MAX_LEVELS levels, overlapping bits, a leaf level that does not exist...).
 */
HMMSIM_API int pt_format_geometry(const struct pt_format *fmt, struct pt_geometry *geo);

/* Entry helpers: honest types, one frame number type everywhere (uint64_t). */
static inline uint64_t pt_entry_pfn(const struct pt_format *fmt, pt_entry_t e)
{
	return (e >> fmt->page_shift) & ((UINT64_C(1) << fmt->oa_bits) - 1);
}

static inline pt_entry_t pt_entry_attrs(const struct pt_format *fmt, pt_entry_t e)
{
	return e & ~(((UINT64_C(1) << fmt->oa_bits) - 1) << fmt->page_shift);
}

static inline pt_entry_t pt_make_entry(const struct pt_format *fmt, uint64_t pfn, pt_entry_t attrs)
{
	return (pfn << fmt->page_shift) | attrs;
}

static inline int pt_entry_present(const struct pt_format *fmt, pt_entry_t e)
{
	return (e & fmt->valid) != 0;
}

/* Directory reclaim policy of a table. */
enum pt_reclaim {
	/* Free a directory as soon as its last entry goes. */
	PT_RECLAIM_EAGER,
	/*
	 * Keep empty directories until the owner frees the range
	 * (pt_unmap() with PT_UNMAP_FREE): no allocation thrash when a range
	 * is invalidated and refilled over and over.
	 */
	PT_RECLAIM_KEEP,
};

/*
 * struct pt_config - how to build a table. Zero means default everywhere.
 * @reclaim:	PT_RECLAIM_EAGER (default) or PT_RECLAIM_KEEP.
 * @numa_node:	host NUMA node for the directories when the host has NUMA, or
 *		-1 for the allocating thread's local node (the default with
 *		@cfg NULL).
 * @alloc_hook:	called before each directory allocation with the level of the
 *		directory; a nonzero return makes the allocation fail with
 *		-ENOMEM (fault injection). May be NULL.
 * @hook_priv:	passed to @alloc_hook.
 */
struct pt_config {
	enum pt_reclaim reclaim;
	int numa_node;
	int (*alloc_hook)(void *priv, unsigned int level);
	void *hook_priv;
};

struct pt_table;

/*
 * Create an empty table of @fmt (the format must outlive the table).
 * @cfg may be NULL for the defaults (eager reclaim, no NUMA placement).
 * Returns 0 and the table in *@out, -EINVAL for a bad format or config,
 * -ENOMEM.
 */
HMMSIM_API int pt_table_create(const struct pt_format *fmt, const struct pt_config *cfg,
			       struct pt_table **out);

/*
 * Destroy @t and every directory in it. No other thread may use @t any
 * more. Frees still waiting for their grace period finish the job: the
 * memory goes back to the host after them (hmmsim_barrier() waits for that).
 */
HMMSIM_API void pt_table_destroy(struct pt_table *t);

HMMSIM_API const struct pt_format *pt_table_format(const struct pt_table *t);
HMMSIM_API const struct pt_geometry *pt_table_geometry(const struct pt_table *t);

/*
 * Look up the leaf that translates @va.
 * Context: inside a read-side section, concurrently with anything.
 * Returns 0 with the leaf in *@entry and its level in *@level (either may be
 * NULL); -ENOENT for a hole, with the level of the empty entry in *@level
 * (a hole at level 0 has a directory above it); -ERANGE for @va past the
 * table's last address.
 * For a contiguous leaf, *@entry is the run's first item. A special entry is
 * a leaf here: test it with pt_entry_present().
 */
HMMSIM_API int pt_lookup(struct pt_table *t, uint64_t va, pt_entry_t *entry, unsigned int *level);

/*
 * The translation-only lookup: the leaf that translates @va (as pt_lookup()
 * gives it), or 0 for a hole or an address past the table. The cheapest
 * call for callers that need no level (a TLB fill).
 * Context: inside a read-side section, concurrently with anything.
 */
HMMSIM_API pt_entry_t pt_lookup_entry(struct pt_table *t, uint64_t va);

/*
 * log2 of the bytes a leaf found at @level maps: the level's item size, or
 * its contiguous size when @entry has the contiguous bit.
 */
HMMSIM_API unsigned int pt_leaf_shift(const struct pt_table *t, pt_entry_t entry,
				      unsigned int level);

/*
 * The frame that translates @va, given the leaf pt_lookup(), pt_walk() or
 * pt_iter returned for it. Those always return a leaf's first word (the
 * first item of a contiguous run), so this is its frame plus the offset of
 * @va inside the leaf.
 */
static inline uint64_t pt_leaf_pfn(const struct pt_format *fmt, pt_entry_t leaf,
				   unsigned int leaf_shift, uint64_t va)
{
	return pt_entry_pfn(fmt, leaf) +
	       ((va & ((UINT64_C(1) << leaf_shift) - 1)) >> fmt->page_shift);
}

/*
 * Map [@va, @va + @size) with leaves of 2^@page_lg2 bytes. @entry is the
 * first page's leaf (frame number and attribute bits, see pt_make_entry());
 * page i gets frame pfn + i * (2^page_lg2 >> page_shift). The engine sets
 * the leaf and contiguous bits itself. A special entry (valid bit clear) is
 * mapped the same way, its frame field counting up alike.
 * A map never replaces: to change a mapping, unmap it first.
 * Context: the caller owns the range (no overlapping update runs).
 * Returns 0; -EINVAL for a misaligned or empty range, a page size the format
 * cannot hold, an entry with leaf, contig or unknown bits or none but its
 * frame, a frame field that overflows, a contiguous size whose first frame
 * is not aligned to it, or unknown @flags (none are defined yet); -ERANGE
 * past the last address; -EEXIST when a leaf already maps part of the
 * range; -ENOMEM.
 */
HMMSIM_API int pt_map(struct pt_table *t, uint64_t va, uint64_t size, unsigned int page_lg2,
		      pt_entry_t entry, unsigned int flags);

/* Flags of pt_unmap(). */
/* Free every directory the walk of the range finds empty, whatever the policy. */
#define PT_UNMAP_FREE	(1u << 0)

/*
 * Unmap [@va, @va + @size): clear every leaf (present or special) in it. A
 * large leaf that only partly overlaps the range is split first, so what
 * lies outside the range stays mapped with the same attributes (this may
 * allocate). Directories left empty are freed under PT_RECLAIM_EAGER or with
 * PT_UNMAP_FREE, and kept otherwise.
 * Context: the caller owns the range.
 * Returns the number of bytes that were mapped and are no longer (>= 0),
 * -EINVAL for a misaligned or empty range or unknown @flags, -ERANGE, -ENOMEM
 * (a split failed; nothing was unmapped).
 */
HMMSIM_API int64_t pt_unmap(struct pt_table *t, uint64_t va, uint64_t size, unsigned int flags);

/*
 * Change attribute bits of every leaf in [@va, @va + @size): set @set, then
 * clear @clear. Only the write, dirty, accessed and sw bits may change. Large
 * leaves that straddle an edge of the range are split first. Special entries
 * are skipped. A concurrent pt_test_and_set_bits() is never lost.
 * Context: the caller owns the range.
 * Returns the number of entries whose bits changed (0 when nothing had to),
 * -EINVAL (alignment, other bits, bits both set and cleared), -ERANGE,
 * -ENOMEM.
 */
HMMSIM_API int64_t pt_protect(struct pt_table *t, uint64_t va, uint64_t size, pt_entry_t set,
			      pt_entry_t clear);

/*
 * Atomically set (or clear) @bits in the present leaf translating @va, and
 * return whether all of @bits were set before, as the kernel's
 * test_and_set_bit on a PTE. Only the dirty, accessed and sw bits.
 * A contiguous leaf is one page: all its items change.
 * Context: inside a read-side section, concurrently with anything.
 * Returns 1 or 0; -ENOENT (hole or special entry), -EINVAL, -ERANGE.
 */
HMMSIM_API int pt_test_and_set_bits(struct pt_table *t, uint64_t va, pt_entry_t bits);
HMMSIM_API int pt_test_and_clear_bits(struct pt_table *t, uint64_t va, pt_entry_t bits);

/*
 * Split the large leaf at @level that covers @va into a directory of
 * leaves of the next smaller size with the same attributes (or, for a
 * contiguous leaf, into its separate items). Readers see the old leaf or the
 * new directory, which translate alike.
 * Context: the caller owns the leaf's range.
 * Returns 0, -ENOENT when no leaf of @level covers @va, -EINVAL, -ERANGE,
 * -ENOMEM.
 */
HMMSIM_API int pt_split(struct pt_table *t, uint64_t va, unsigned int level);

/*
 * Collapse the directory under the level-@level entry covering @va into one
 * leaf at @level: the directory must be full of present leaves of one size,
 * with frame numbers that follow each other from an aligned start and the
 * same attributes (dirty and accessed are ORed). The directory is freed
 * after a grace period.
 * Context: the caller owns the range.
 * Returns 0; -ENOENT (no directory there); -EINVAL (not full, not uniform,
 * a level without leaves, bad arguments); -ERANGE.
 */
HMMSIM_API int pt_collapse(struct pt_table *t, uint64_t va, unsigned int level);

/*
 * struct pt_walk_ops - callbacks of pt_walk(). Either may be NULL.
 * @leaf:	a leaf (present or special) covering [va, va + size), clipped to
 *		the walked range; @level is where it sits; @entry is its first
 *		word (see pt_leaf_pfn()). Contiguous leaves come once.
 * @hole:	[va, va + size) is unmapped; @level is the level of the empty
 *		entry (or of a directory whose entries are all empty).
 * A nonzero return stops the walk and is returned by pt_walk().
 */
struct pt_walk_ops {
	int (*leaf)(void *arg, uint64_t va, uint64_t size, pt_entry_t entry, unsigned int level);
	int (*hole)(void *arg, uint64_t va, uint64_t size, unsigned int level);
};

/*
 * Walk [@va, @va + @size) in address order, one code path for every leaf
 * size. Context: inside a read-side section, concurrently with anything; or
 * with every update excluded, for an exact picture.
 * Returns 0, a callback's nonzero value, -EINVAL, -ERANGE.
 */
HMMSIM_API int pt_walk(struct pt_table *t, uint64_t va, uint64_t size,
		       const struct pt_walk_ops *ops, void *arg);

/*
 * struct pt_iter - an iterator over the leaves of a range, for callers who
 * drive the walk themselves. It skips holes and keeps its place one
 * directory per level, so stepping costs an entry load, not a walk from the
 * top. Fields after the first four are private.
 * @va, @size, @entry, @level: the current leaf (clipped to the range).
 */
struct pt_iter {
	uint64_t va;
	uint64_t size;
	pt_entry_t entry;
	unsigned int level;
	/* private */
	struct pt_table *t;
	uint64_t next;
	uint64_t end;
	unsigned int scan;
	const pt_entry_t *dir[PT_MAX_LEVELS];
};

/*
 * Start an iterator over [@va, @va + @size).
 * Context: the whole iteration inside one read-side section.
 * Returns 0, -EINVAL, -ERANGE.
 */
HMMSIM_API int pt_iter_start(struct pt_iter *it, struct pt_table *t, uint64_t va, uint64_t size);

/* Step to the next leaf. Returns 1 with the leaf in @it, 0 at the end. */
HMMSIM_API int pt_iter_next(struct pt_iter *it);

/*
 * struct pt_stats - counters of one table.
 * @dirs:	directories in use, per level (the top included).
 * @bytes:	bytes of directory memory in use, headers included; directories
 *		waiting for their grace period still count (@dirs does not).
 * @reserved:	bytes reserved from the host for directories (a slab keeps
 *		freed directories for reuse).
 * @allocs, @frees: directories allocated and freed over the table's life.
 * @pending:	directories unlinked and waiting for their grace period.
 */
struct pt_stats {
	uint64_t dirs[PT_MAX_LEVELS];
	uint64_t bytes;
	uint64_t reserved;
	uint64_t allocs;
	uint64_t frees;
	uint64_t pending;
};

/* Read the counters of @t (a consistent picture when no update runs). */
HMMSIM_API void pt_table_stats(struct pt_table *t, struct pt_stats *st);

/*
 * Check the invariants of @t: each directory's count equals its non-empty
 * entries, leaves sit only at levels the format allows, contiguous runs are
 * whole and aligned, no reachable directory is dead or freed, the per-level
 * directory counters match what is reachable.
 * Context: no update runs.
 * Returns 0, or -EUCLEAN with a description of the first violation in @msg
 * (when @msg is not NULL).
 */
HMMSIM_API int pt_check(struct pt_table *t, char *msg, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* HMMSIM_PT_H */
