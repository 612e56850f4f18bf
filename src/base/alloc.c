// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Aligned host regions. Directory slabs need their chunk aligned to its size
 * so that a directory's header is found by address arithmetic, as the
 * kernel finds a struct page from a frame: map twice the size and trim.
 */
#include <numa.h>
#include <stdlib.h>
#include <stdint.h>
#include <sys/mman.h>

#include <hmmsim/base.h>

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

/* Allocations counted since the last inject call, and the one to fail (0: none). */
static uint64_t alloc_count, fail_at;

HMMSIM_API uint64_t hmmsim_inject_alloc_failure(uint64_t nth)
{
	uint64_t n = __atomic_exchange_n(&alloc_count, 0, __ATOMIC_RELAXED);

	__atomic_store_n(&fail_at, nth, __ATOMIC_RELAXED);
	return n;
}

bool hs_alloc_should_fail(void)
{
	uint64_t n = __atomic_add_fetch(&alloc_count, 1, __ATOMIC_RELAXED);
	uint64_t at = __atomic_load_n(&fail_at, __ATOMIC_RELAXED);

	return at && n == at && __atomic_compare_exchange_n(&fail_at, &at, 0, false,
							     __ATOMIC_RELAXED, __ATOMIC_RELAXED);
}

void *hs_malloc(size_t size)
{
	return hs_alloc_should_fail() ? NULL : malloc(size);
}

void *hs_calloc(size_t n, size_t size)
{
	return hs_alloc_should_fail() ? NULL : calloc(n, size);
}

void *hs_realloc(void *p, size_t size)
{
	return hs_alloc_should_fail() ? NULL : realloc(p, size);
}

void *hs_region_alloc(size_t size, size_t align, int node)
{
	size_t span = size + align;
	uintptr_t base, start;
	char *p;

	if (hs_alloc_should_fail())
		return NULL;
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
