// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The zero page and the huge zero folio of a system pool.
 *
 * Both are ordinary folios of the pool, flagged FOLIO_ZERO, holding one
 * reference of the pool's own that is never dropped (folio_put() refuses to
 * take it), so they are never freed while the pool lives. Mappings of them
 * are special: the rmap helpers refuse them and they take no reference. The
 * huge zero folio additionally counts one reference per user
 * (mm_get_huge_zero_folio), so a checker can see who uses it. Their bytes are
 * made read-only on the host when host pages are 4 KiB, so a write through
 * folio_data() faults at once instead of corrupting every reader of zeros.
 */
#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include "phys/internal.h"

static void protect_bytes(struct folio *f)
{
	void *p = f->pool->bytes ? folio_data(f, 0) : NULL;

	if (p && sysconf(_SC_PAGESIZE) == (long)PHYS_PAGE_SIZE)
		mprotect(p, folio_size(f), PROT_READ);
}

/* Make @f, a zeroed folio with one reference, a zero folio. */
static void make_zero(struct folio *f)
{
	folio_flags_or(f, FOLIO_ZERO);
	protect_bytes(f);
}

int zero_pages_init(struct phys_pool *pool)
{
	struct folio *f = folio_alloc(pool, 0, FOLIO_ALLOC_ZERO);

	if (!f)
		return -ENOMEM;
	make_zero(f);
	pool->zero = f;
	return 0;
}

HMMSIM_API struct folio *phys_zero_folio(struct phys_pool *pool)
{
	if (!pool || !pool->zero) {
		errno = EINVAL;
		return NULL;
	}
	return pool->zero;
}

HMMSIM_API struct folio *phys_huge_zero_folio_get(struct phys_pool *pool)
{
	struct folio *f;

	if (!pool || pool->kind != PHYS_SYSTEM_RAM) {
		errno = EINVAL;
		return NULL;
	}
	f = __atomic_load_n(&pool->huge_zero, __ATOMIC_ACQUIRE);
	if (!f) {
		pthread_mutex_lock(&pool->zero_lock);
		f = pool->huge_zero;
		if (!f) {
			/* Like the kernel's, it can fail under fragmentation. */
			f = folio_alloc(pool, PHYS_PMD_ORDER, FOLIO_ALLOC_ZERO);
			if (!f) {
				pthread_mutex_unlock(&pool->zero_lock);
				errno = ENOMEM;
				return NULL;
			}
			make_zero(f);
			__atomic_store_n(&pool->huge_zero, f, __ATOMIC_RELEASE);
		}
		pthread_mutex_unlock(&pool->zero_lock);
	}
	folio_get(f);
	return f;
}
