// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The built-in scenarios: traces embedded in the tool, each telling one
 * story about the kernel's memory management in 20 to 40 lines of report.
 * Their comments are the narration (the report echoes them), so they are
 * written for a reader who knows the kernel and not hmmsim. Keep every
 * claim in them true of Linux: the report is what people quote.
 */
#include <string.h>

#include "cli.h"

/* What the codes of a dump mean, for the reports that show dumps. */
#define DUMP_LEGEND \
	"Dumps: COUNT:CODE@PFN. CODE: H page of a PMD-mapped THP, T page of a PTE-mapped THP,\n" \
	"p small page, z zero page, - none; then x mapped once or . shared; then w writable.\n"

static const struct scenario scenario_thp = {
	.name = "default",
	.title = "a transparent huge page through fault, fork, COW and munmap, mirrored by a GPU",
	.about = "Each result line counts the faults, THP allocations, PMD splits, page copies and\n"
		 "MMU notifier invalidations (what a GPU mirroring this process pays for); a\n"
		 "device line, its fault rounds (faults=), pages (cpages=) and simulated time.\n"
		 DUMP_LEGEND
		 "Snapshots: what hmm_range_fault() tells the GPU of each page (PMD: map order 9).\n",
	.trace =
	"# THP mode madvise: only MADV_HUGEPAGE regions get huge pages.\n"
	"proc parent\n"
	"mmap parent buf 4M hugepage\n"
	"# One write fault allocates a THP and maps all 2 MiB with one PMD; a read of the\n"
	"# other block maps the huge zero page.\n"
	"write parent buf 0 2M 0xaa\n"
	"read parent buf 2M 4K\n"
	"dump parent buf\n"
	"# A GPU mirrors the process through HMM. hmm_range_fault() reports the CPU's map\n"
	"# order, so one device fault round maps each 2 MiB block with one 2 MiB PTE.\n"
	"device gpu0\n"
	"dev_read gpu0 parent buf 0 4M\n"
	"snapshot gpu0 parent buf 0 4M\n"
	"# fork shares both PMDs read-only: each page of the THP is now mapped twice, and\n"
	"# write-protecting the parent invalidates the GPU's writable 2 MiB mapping.\n"
	"fork parent child\n"
	"dump child buf\n"
	"snapshot gpu0 parent buf 0 4M\n"
	"# A 4 KiB write by the parent splits its PMD into 512 PTEs to the same THP and\n"
	"# copies only the page written, as Linux has done since 5.8 (5.7 copied 2 MiB).\n"
	"write parent buf 64K 4K 0xbb\n"
	"dump parent buf 0 2M\n"
	"# The folio is still a 2 MiB THP, but the CPU maps it with 4 KiB PTEs now: the map\n"
	"# order is 0 (no PMD flag), so the GPU refaults the block with 4 KiB PTEs. A driver\n"
	"# that guessed from the folio's order would map 2 MiB over pages the CPU split.\n"
	"snapshot gpu0 parent buf 0 2M\n"
	"dev_read gpu0 parent buf 0 2M\n"
	"# The child keeps its PMD and the old bytes (4096 x 0xaa); page 16 is now its alone.\n"
	"read child buf 64K 4K\n"
	"dump child buf 0 2M\n"
	"# Writing to the huge zero page allocates a THP in its place (Linux 6.13+).\n"
	"write child buf 2M 4K 0xcc\n"
	"# Unmapping half of that THP splits the PMD, not the folio: the unmapped half\n"
	"# stays allocated, queued for a deferred split.\n"
	"munmap child buf 3M 1M\n"
	"dump child buf 2M 2M\n",
};

static const struct scenario scenario_profiles = {
	.name = "profiles",
	.title = "the same writes under the kernel profiles 5.7, 6.12 and current",
	.about = "THP copy-on-write changed in 5.8 and the write to the huge zero page in 6.13.\n"
		 "Each process below keeps the profile it was created with.\n" DUMP_LEGEND,
	.trace =
	"# Before 5.8, a write to a THP shared with a child copied all 2 MiB into a new THP.\n"
	"set profile=5.7\n"
	"proc old\n"
	"mmap old buf 2M hugepage\n"
	"write old buf 0 2M 0xaa\n"
	"fork old old_child\n"
	"write old buf 0 4K 0xbb\n"
	"dump old buf\n"
	"# Since 5.8 the PMD is split and one 4 KiB page copied.\n"
	"set profile=current\n"
	"proc new\n"
	"mmap new buf 2M hugepage\n"
	"write new buf 0 2M 0xaa\n"
	"fork new new_child\n"
	"write new buf 0 4K 0xbb\n"
	"dump new buf\n"
	"# Before 6.13, a write to the huge zero page split it into 4 KiB zero pages.\n"
	"set profile=6.12\n"
	"proc z612\n"
	"mmap z612 buf 2M hugepage\n"
	"read z612 buf 0 2M\n"
	"write z612 buf 0 4K 0xcc\n"
	"dump z612 buf 0 16K\n"
	"# Since 6.13 it allocates a THP in place of the huge zero page.\n"
	"set profile=current\n"
	"proc znew\n"
	"mmap znew buf 2M hugepage\n"
	"read znew buf 0 2M\n"
	"write znew buf 0 4K 0xcc\n"
	"dump znew buf\n",
};

static const struct scenario scenario_hugetlb = {
	.name = "hugetlb",
	.title = "hugetlb pages: reserved at mmap, never split, copied whole on COW",
	.about = "A private mapping of two 2 MiB hugetlb pages from a pool of 4, forked and written.\n"
		 DUMP_LEGEND,
	.hugetlb_2m = 4,
	.trace =
	"proc p\n"
	"mmap p huge 4M hugetlb=2M\n"
	"write p huge 0 4M 0xaa\n"
	"dump p huge\n"
	"fork p c\n"
	"# A write to a shared hugetlb page copies the whole 2 MiB: no split, no 4 KiB copy.\n"
	"write c huge 0 4K 0xbb\n"
	"dump c huge\n"
	"# The parent's first page is now mapped by it alone: its write reuses the page.\n"
	"write p huge 0 4K 0xcc\n"
	"dump p huge\n"
	"# Partial operations must be huge-page aligned.\n"
	"munmap p huge 4K 4K\n"
	"mprotect p huge 0 1M r\n"
	"# Three pages are in use: mmap cannot reserve two more, until the child lets go.\n"
	"mmap p more 4M hugetlb=2M\n"
	"munmap c huge 0 2M\n"
	"mmap p more 4M hugetlb=2M\n"
	"stats\n",
};

static const struct scenario scenario_mremap = {
	.name = "mremap",
	.title = "mremap of THPs: aligned moves keep the PMDs, others split them",
	.about = "mremap moves page-table entries, not memory: the frames stay the same.\n"
		 DUMP_LEGEND,
	.trace =
	"proc p\n"
	"mmap p a 4M hugepage\n"
	"write p a 0 2M 0xaa\n"
	"dump p a\n"
	"# To a 2 MiB-aligned place the PMD moves whole.\n"
	"mremap p a b align=2M\n"
	"dump p b\n"
	"# To a place 4 KiB past a 2 MiB boundary the PMD must be split first.\n"
	"mremap p b c align=2M offset=4K\n"
	"dump p c\n"
	"read p c 0 2M\n"
	"# New faults get no THP even where an aligned 2 MiB block fits in the VMA: it\n"
	"# kept its vm_pgoff, so its pages are no longer congruent with huge pages.\n"
	"write p c 2M 2M 0xbb\n"
	"dump p c 2M 2M\n",
};

static const struct scenario scenario_thp_modes = {
	.name = "thp-modes",
	.title = "the THP sysfs modes always, madvise and never",
	.about = "/sys/kernel/mm/transparent_hugepage/enabled decides at fault time.\n"
		 DUMP_LEGEND,
	.trace =
	"proc p\n"
	"set thp=never\n"
	"mmap p never 2M hugepage\n"
	"write p never 0 2M\n"
	"dump p never\n"
	"set thp=madvise\n"
	"mmap p plain 2M\n"
	"write p plain 0 2M\n"
	"dump p plain\n"
	"mmap p advised 2M hugepage\n"
	"write p advised 0 2M\n"
	"dump p advised\n"
	"set thp=always\n"
	"mmap p always 2M\n"
	"write p always 0 2M\n"
	"dump p always\n"
	"# MADV_NOHUGEPAGE wins over always.\n"
	"mmap p refused 2M nohugepage\n"
	"write p refused 0 2M\n"
	"dump p refused\n",
};

static const struct scenario scenario_shared = {
	.name = "shared",
	.title = "shared anonymous and shared file mappings across fork",
	.about = "Shared mappings are never copied on write: both processes see every write.\n"
		 DUMP_LEGEND,
	.trace =
	"file f 1M\n"
	"proc p\n"
	"mmap p shm 1M shared\n"
	"mmap p map 1M file=f\n"
	"write p shm 0 4K 0xaa\n"
	"write p map 0 4K 0xbb\n"
	"fork p c\n"
	"# The child sees the parent's bytes, and its writes reach the parent.\n"
	"read c shm 0 4K\n"
	"write c shm 0 4K 0x11\n"
	"read p shm 0 4K\n"
	"read c map 0 4K\n"
	"write c map 4K 4K 0x22\n"
	"read p map 4K 4K\n"
	"dump p shm 0 64K\n"
	"dump p map 0 64K\n",
};

const struct scenario *const scenarios[] = {
	&scenario_thp,
	&scenario_profiles,
	&scenario_hugetlb,
	&scenario_mremap,
	&scenario_thp_modes,
	&scenario_shared,
	&scenario_gpu_stream,
	&scenario_fork_cow_mirror,
	&scenario_migration_ping_pong,
	&scenario_fault_storm,
	NULL,
};

const struct scenario *scenario_find(const char *name)
{
	for (size_t i = 0; scenarios[i]; i++) {
		if (!strcmp(scenarios[i]->name, name))
			return scenarios[i];
	}
	return NULL;
}
