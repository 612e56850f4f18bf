/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Host memory for hmmsim's own structures, placed with libnuma when it can be. */
#ifndef HMMSIM_BASE_ALLOC_H
#define HMMSIM_BASE_ALLOC_H

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

#endif /* HMMSIM_BASE_ALLOC_H */
