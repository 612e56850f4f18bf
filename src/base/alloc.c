// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Aligned host regions. Directory slabs need their chunk aligned to its size
 * so that a directory's header is found by address arithmetic, as the
 * kernel finds a struct page from a frame: map twice the size and trim.
 */
#include <numa.h>
#include <stdint.h>
#include <sys/mman.h>

#include "base/alloc.h"

int hs_numa_available(void)
{
	static int state; /* 0 unknown, 1 yes, -1 no */
	int s = __atomic_load_n(&state, __ATOMIC_RELAXED);

	if (!s) {
		s = numa_available() >= 0 ? 1 : -1;
		__atomic_store_n(&state, s, __ATOMIC_RELAXED);
	}
	return s > 0;
}

void *hs_region_alloc(size_t size, size_t align, int node)
{
	size_t span = size + align;
	uintptr_t base, start;
	char *p;

	p = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	base = (uintptr_t)p;
	start = (base + align - 1) & ~(uintptr_t)(align - 1);
	if (start > base)
		munmap(p, start - base);
	if (base + span > start + size)
		munmap((void *)(start + size), base + span - (start + size));
	if (node >= 0 && hs_numa_available() && node <= numa_max_node())
		numa_tonode_memory((void *)start, size, node);
	return (void *)start;
}

void hs_region_free(void *p, size_t size)
{
	munmap(p, size);
}
