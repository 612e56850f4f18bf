/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * hmmsim base: symbol export, thread registration and RCU read-side sections.
 *
 * hmmsim readers walk page tables locklessly inside RCU read-side sections
 * (liburcu, memb flavour). Every thread that calls into hmmsim must register
 * first and unregister before it exits:
 *
 *	hmmsim_thread_register();
 *	...		any hmmsim call, from any number of such threads
 *	hmmsim_thread_unregister();
 *
 * Registration nests: a thread may register again (a library inside a
 * library); it is unregistered when the calls balance. The main thread is no
 * exception.
 */
#ifndef HMMSIM_BASE_H
#define HMMSIM_BASE_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(HMMSIM_BUILD)
#define HMMSIM_API __attribute__((visibility("default")))
#else
#define HMMSIM_API
#endif

/* The library version, "MAJOR.MINOR.PATCH". */
HMMSIM_API const char *hmmsim_version(void);

/*
 * Register the calling thread with hmmsim's RCU. Must precede every other
 * hmmsim call made by this thread. Nests.
 */
HMMSIM_API void hmmsim_thread_register(void);

/*
 * Unregister the calling thread. The thread must not be inside a read-side
 * section. Balances one hmmsim_thread_register().
 */
HMMSIM_API void hmmsim_thread_unregister(void);

/*
 * Enter and leave an RCU read-side section. Sections nest and never block
 * writers. Inside a section, entries and directories read from any hmmsim
 * page table stay valid memory (a concurrent unmap may make them stale, never
 * freed). Do not call hmmsim_barrier() or anything that waits for a grace
 * period inside a section.
 */
HMMSIM_API void hmmsim_read_lock(void);
HMMSIM_API void hmmsim_read_unlock(void);

/*
 * Wait until every memory release deferred by hmmsim so far has run
 * (an rcu_barrier()). Not inside a read-side section.
 */
HMMSIM_API void hmmsim_barrier(void);

/*
 * Allocation-failure injection, for tests: make the @nth allocation hmmsim
 * makes from now on fail (1: the next one), once; 0 turns injection off.
 * Every allocation counts: host memory for hmmsim's own structures,
 * page-table directories and simulated frames (folios, huge pages), so a
 * test can fail each allocation point of a workload in turn and check that
 * the failing call returns -ENOMEM and leaves everything consistent.
 * Returns how many allocations were counted since the previous call.
 * Context: any thread; the count is process-wide.
 */
HMMSIM_API uint64_t hmmsim_inject_alloc_failure(uint64_t nth);

#ifdef __cplusplus
}
#endif

#endif /* HMMSIM_BASE_H */
