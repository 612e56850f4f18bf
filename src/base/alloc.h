/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Host memory for hmmsim's own structures, placed with libnuma when it can be. */
#ifndef HMMSIM_BASE_ALLOC_H
#define HMMSIM_BASE_ALLOC_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Map @size bytes aligned to @align (both powers of two, at least a host
 * page), zero-filled and bound to NUMA node @node when the host has NUMA and
 * @node >= 0. Returns NULL when the host has no memory left.
 */
void *hs_region_alloc(size_t size, size_t align, int node);
void hs_region_free(void *p, size_t size);

/* Whether libnuma found NUMA on this host; -1 nodes are never placed. */
int hs_numa_available(void);

/*
 * An allocation point: true when hmmsim_inject_alloc_failure() says this
 * allocation must fail. Called by every allocator below and by those of
 * directories and simulated frames.
 */
bool hs_alloc_should_fail(void);

/* malloc and friends, as injection points. Free with free(). */
void *hs_malloc(size_t size);
void *hs_calloc(size_t n, size_t size);
void *hs_realloc(void *p, size_t size);

#endif /* HMMSIM_BASE_ALLOC_H */
