// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The built-in scenarios with fake GPUs (gpu.h). As in scenarios.c, the
 * comments are the narration and every claim in them must stay true of
 * Linux, of test_hmm and of the counters the report shows.
 */
#include "cli.h"

/* What the device result lines and snapshots mean. */
#define DEV_LEGEND \
	"Device lines: faults= fault rounds (as test_hmm counts them), cpages= pages, sum= bytes\n" \
	"read, sim_ns= simulated device time. Snapshots: COUNT:FLAGS, what hmm_range_fault()\n" \
	"tells the device of each page (test_hmm's HMM_DMIRROR_PROT_*).\n"

const struct scenario scenario_gpu_stream = {
	.name = "gpu-stream",
	.title = "a GPU streaming over a THP-backed buffer: 2 MiB device pages or 4 KiB",
	.about = "Three devices read the same 4 MiB of THPs: one maps the CPU's map order, one\n"
		 "maps 4 KiB only, one infers sizes ODP-style.\n" DEV_LEGEND,
	.trace =
	"# A 2 MiB-aligned MADV_HUGEPAGE buffer written by the CPU: two PMD-mapped THPs.\n"
	"proc app\n"
	"mmap app buf 4M hugepage align=2M\n"
	"write app buf 0 4M 0x5a\n"
	"# gpu0 sizes its pages with hmm_pfn_to_map_order(), as nouveau does: one fault\n"
	"# round and one 2 MiB device PTE per CPU PMD (pte_2m=2 below). The sum is what a\n"
	"# CPU read returns.\n"
	"device gpu0 format=gp100\n"
	"dev_read gpu0 app buf 0 4M\n"
	"snapshot gpu0 app buf 0 4M\n"
	"# Streaming again: no fault, every access a TLB hit on the two 2 MiB entries.\n"
	"dev_read gpu0 app buf 0 4M\n"
	"stats gpu0\n"
	"# gpu4k ignores the order (4 KiB pages, as test_hmm maps): 1024 PTE writes and a\n"
	"# TLB miss per page on every pass over the same bytes.\n"
	"device gpu4k format=4k\n"
	"dev_read gpu4k app buf 0 4M\n"
	"dev_read gpu4k app buf 0 4M\n"
	"stats gpu4k\n"
	"# godp infers sizes from folios and frame contiguity (ODP-style): here the same\n"
	"# two 2 MiB pages as gpu0, found without the CPU's mapping level.\n"
	"device godp policy=odp\n"
	"dev_read godp app buf 0 4M\n"
	"stats godp\n",
};

const struct scenario scenario_fork_cow_mirror = {
	.name = "fork-cow-mirror",
	.title = "fork and copy-on-write under a device mirror: 2 MiB, then 4 KiB",
	.about = "A device mirrors the parent across fork and a COW fault that splits the PMD.\n"
		 DEV_LEGEND,
	.trace =
	"# The CPU maps a THP with one PMD; the device maps it with one 2 MiB PTE.\n"
	"proc parent\n"
	"mmap parent buf 2M hugepage align=2M\n"
	"write parent buf 0 2M 0xaa\n"
	"device gpu0\n"
	"dev_read gpu0 parent buf 0 2M\n"
	"snapshot gpu0 parent buf 0 2M\n"
	"# fork write-protects the parent's PMD: the MMU notifier tells the device, which\n"
	"# drops its writable entry. The PMD is still there, read-only.\n"
	"fork parent child\n"
	"snapshot gpu0 parent buf 0 2M\n"
	"# A 4 KiB CPU write splits the parent's PMD and copies one page (since 5.8).\n"
	"write parent buf 64K 4K 0xbb\n"
	"dump parent buf 0 128K\n"
	"# The device refaults: the CPU now maps 4 KiB PTEs, so the device maps 4 KiB\n"
	"# pages, and reads the parent's new page (511 x 4096 x 0xaa + 4096 x 0xbb).\n"
	"dev_read gpu0 parent buf 0 2M\n"
	"snapshot gpu0 parent buf 0 128K\n"
	"# A device write breaks COW page by page, as a CPU write would; the child keeps\n"
	"# its bytes (8192 x 0xaa).\n"
	"dev_write gpu0 parent buf 0 8K 0xcc\n"
	"read child buf 0 8K\n"
	"snapshot gpu0 parent buf 0 128K\n"
	"stats gpu0\n",
};

const struct scenario scenario_migration_ping_pong = {
	.name = "migration-ping-pong",
	.title = "4 MiB migrated to device memory and back, four times",
	.about = "migrate_vma to device-private memory and back. The device page-table directories\n"
		 "are kept until munmap, not freed when they empty.\n" DEV_LEGEND,
	.trace =
	"proc app\n"
	"mmap app buf 4M\n"
	"write app buf 0 4M 1\n"
	"device gpu0 memory=8M\n"
	"# Round 1: 1024 pages each way, and the directories the device table needs.\n"
	"migrate_to_dev gpu0 app buf 0 4M\n"
	"migrate_to_sys gpu0 app buf 0 4M\n"
	"stats gpu0\n"
	"# Rounds 2 to 4 cost the same, and dir_allocs stays where round 1 left it:\n"
	"# freeing empty directories would reallocate them every round.\n"
	"migrate_to_dev gpu0 app buf 0 4M\n"
	"migrate_to_sys gpu0 app buf 0 4M\n"
	"migrate_to_dev gpu0 app buf 0 4M\n"
	"migrate_to_sys gpu0 app buf 0 4M\n"
	"migrate_to_dev gpu0 app buf 0 4M\n"
	"migrate_to_sys gpu0 app buf 0 4M\n"
	"stats gpu0\n",
};

const struct scenario scenario_fault_storm = {
	.name = "fault-storm",
	.title = "four devices fault the same process",
	.about = "Each device mirrors the process independently: its own table, its own faults,\n"
		 "its own invalidations.\n" DEV_LEGEND,
	.trace =
	"proc app\n"
	"mmap app buf 8M hugepage align=2M\n"
	"write app buf 0 8M 3\n"
	"device g0\n"
	"device g1\n"
	"device g2 format=x86\n"
	"device g3 format=4k\n"
	"# Each device pays its own fault round; g3 writes 2048 PTEs where the others\n"
	"# write four 2 MiB ones.\n"
	"dev_read g0 app buf 0 8M\n"
	"dev_read g1 app buf 0 8M\n"
	"dev_read g2 app buf 0 8M\n"
	"dev_read g3 app buf 0 8M\n"
	"# MADV_DONTNEED of one page splits a PMD: every mirror is invalidated, and each\n"
	"# device refaults that 2 MiB block as 4 KiB pages.\n"
	"madvise app buf 1M 4K dontneed\n"
	"dev_read g0 app buf 0 8M\n"
	"dev_read g1 app buf 0 8M\n"
	"dev_read g2 app buf 0 8M\n"
	"dev_read g3 app buf 0 8M\n"
	"# g0 migrates the THP to its memory whole: one device-private PMD. To g1 it is\n"
	"# another device's: ERROR in a snapshot (Linux 6.19+; 4 KiB device pages would\n"
	"# show NONE), and g1's access migrates it back to system memory.\n"
	"migrate_to_dev g0 app buf 4M 2M\n"
	"snapshot g0 app buf 4M 2M\n"
	"snapshot g1 app buf 4M 2M\n"
	"dev_read g1 app buf 4M 2M\n"
	"snapshot g0 app buf 4M 2M\n"
	"stats\n",
};
