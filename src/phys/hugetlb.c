// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * hugetlb pools: 2 MiB and 1 GiB folios taken from a system pool up front,
 * as the kernel's boot-time or nr_hugepages pool, handed out and taken back
 * without touching the buddy. A free hugetlb folio stays a live folio of
 * the system pool (its frames are not free memory there) with refcount 0,
 * in state FOLIO_STATE_HUGETLB_FREE: a late folio_put() on it is caught.
 * Reservations model hugetlb_reserve_pages(): an mmap reserves what it may
 * fault later, and allocations without a reservation may only take what
 * nobody reserved.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "phys/internal.h"
#include "base/alloc.h"

struct hsize {
	unsigned int order;
	uint64_t total, nr_free, resv;
	uint64_t allocs, failures;
	struct folio **all;
	struct folio **free;		/* a stack of nr_free folios */
};

struct phys_hugetlb {
	struct phys_pool *pool;
	pthread_mutex_t lock;
	struct hsize sz[2];
	unsigned long users;		/* files backed by this pool (atomic) */
};

static struct hsize *hsize_of(struct phys_hugetlb *hp, unsigned int order)
{
	if (order == PHYS_PMD_ORDER)
		return &hp->sz[0];
	if (order == PHYS_PUD_ORDER)
		return &hp->sz[1];
	return NULL;
}

/* A folio becomes a free hugetlb folio: refcount 0, no state but the flag. */
static void make_free(struct phys_hugetlb *hp, struct folio *f)
{
	if (f->_excl)
		memset(f->_excl, 0, excl_words(f->order) * sizeof(uint64_t));
	f->private = NULL;
	f->index = 0;
	__atomic_store_n(&f->mapping, NULL, __ATOMIC_RELAXED);
	__atomic_store_n(&f->_flags, FOLIO_HUGETLB, __ATOMIC_RELAXED);
	f->_hugetlb = hp;
	__atomic_store_n(&f->_refcount, 0, __ATOMIC_RELEASE);
	folio_set_state(f, FOLIO_STATE_HUGETLB_FREE);
}

/* Give the folios of @hs back to the buddy (at creation failure or destruction). */
static void hsize_drain(struct hsize *hs)
{
	for (uint64_t i = 0; i < hs->total; i++) {
		struct folio *f = hs->all[i];

		folio_set_state(f, FOLIO_STATE_LIVE);
		__atomic_store_n(&f->_flags, 0, __ATOMIC_RELAXED);
		f->_hugetlb = NULL;
		__atomic_store_n(&f->_refcount, 1, __ATOMIC_RELEASE);
		folio_put(f);
	}
	free(hs->all);
	free(hs->free);
	hs->all = hs->free = NULL;
	hs->total = hs->nr_free = 0;
}

static int hsize_fill(struct phys_hugetlb *hp, struct hsize *hs, unsigned int order, uint64_t nr)
{
	hs->order = order;
	if (!nr)
		return 0;
	hs->all = hs_calloc(nr, sizeof(*hs->all));
	hs->free = hs_calloc(nr, sizeof(*hs->free));
	if (!hs->all || !hs->free)
		return -ENOMEM;
	for (uint64_t i = 0; i < nr; i++) {
		struct folio *f = folio_alloc(hp->pool, order, 0);

		if (!f)
			return -ENOMEM;
		make_free(hp, f);
		hs->all[hs->total++] = f;
		hs->free[hs->nr_free++] = f;
	}
	return 0;
}

HMMSIM_API int phys_hugetlb_create(struct phys_pool *pool, uint64_t nr_2m, uint64_t nr_1g,
				   struct phys_hugetlb **out)
{
	struct phys_hugetlb *hp;
	int ret;

	if (!pool || !out || pool->kind != PHYS_SYSTEM_RAM)
		return -EINVAL;
	hp = hs_calloc(1, sizeof(*hp));
	if (!hp)
		return -ENOMEM;
	hp->pool = pool;
	pthread_mutex_init(&hp->lock, NULL);
	/* The 1 GiB folios first: they are the ones fragmentation denies. */
	ret = hsize_fill(hp, &hp->sz[1], PHYS_PUD_ORDER, nr_1g);
	if (!ret)
		ret = hsize_fill(hp, &hp->sz[0], PHYS_PMD_ORDER, nr_2m);
	if (ret) {
		hsize_drain(&hp->sz[0]);
		hsize_drain(&hp->sz[1]);
		pthread_mutex_destroy(&hp->lock);
		free(hp);
		return ret;
	}
	__atomic_fetch_add(&pool->users, 1, __ATOMIC_ACQ_REL);
	*out = hp;
	return 0;
}

HMMSIM_API int phys_hugetlb_destroy(struct phys_hugetlb *hp)
{
	if (!hp)
		return -EINVAL;
	pthread_mutex_lock(&hp->lock);
	for (unsigned int s = 0; s < 2; s++) {
		if (hp->sz[s].nr_free != hp->sz[s].total || hp->sz[s].resv ||
		    __atomic_load_n(&hp->users, __ATOMIC_ACQUIRE)) {
			pthread_mutex_unlock(&hp->lock);
			return -EBUSY;
		}
	}
	pthread_mutex_unlock(&hp->lock);
	hsize_drain(&hp->sz[0]);
	hsize_drain(&hp->sz[1]);
	__atomic_fetch_sub(&hp->pool->users, 1, __ATOMIC_ACQ_REL);
	pthread_mutex_destroy(&hp->lock);
	free(hp);
	return 0;
}

HMMSIM_API int phys_hugetlb_reserve(struct phys_hugetlb *hp, unsigned int order, uint64_t nr)
{
	struct hsize *hs = hp ? hsize_of(hp, order) : NULL;
	int ret = 0;

	if (!hs)
		return -EINVAL;
	pthread_mutex_lock(&hp->lock);
	if (hs->nr_free - hs->resv < nr)
		ret = -ENOMEM;
	else
		hs->resv += nr;
	pthread_mutex_unlock(&hp->lock);
	return ret;
}

HMMSIM_API int phys_hugetlb_unreserve(struct phys_hugetlb *hp, unsigned int order, uint64_t nr)
{
	struct hsize *hs = hp ? hsize_of(hp, order) : NULL;
	int ret = 0;

	if (!hs)
		return -EINVAL;
	pthread_mutex_lock(&hp->lock);
	if (hs->resv < nr)
		ret = -EINVAL;
	else
		hs->resv -= nr;
	pthread_mutex_unlock(&hp->lock);
	return ret;
}

#define HUGETLB_ALLOC_FLAGS	(PHYS_HUGETLB_RESERVED | PHYS_HUGETLB_ZERO)

HMMSIM_API struct folio *phys_hugetlb_alloc(struct phys_hugetlb *hp, unsigned int order,
					    unsigned int flags)
{
	struct hsize *hs = hp ? hsize_of(hp, order) : NULL;
	struct folio *f = NULL;
	int err = 0;

	if (!hs || (flags & ~HUGETLB_ALLOC_FLAGS)) {
		errno = EINVAL;
		return NULL;
	}
	if (hs_alloc_should_fail()) {
		errno = ENOMEM;
		return NULL;
	}
	pthread_mutex_lock(&hp->lock);
	if (flags & PHYS_HUGETLB_RESERVED) {
		if (!hs->resv)
			err = EINVAL;
		else
			hs->resv--;
	} else if (hs->nr_free == hs->resv) {
		err = ENOMEM;
	}
	if (!err) {
		f = hs->free[--hs->nr_free];
		hs->allocs++;
	} else {
		hs->failures++;
	}
	pthread_mutex_unlock(&hp->lock);
	if (!f) {
		errno = err;
		return NULL;
	}
	folio_set_state(f, FOLIO_STATE_LIVE);
	__atomic_store_n(&f->_refcount, 1, __ATOMIC_RELEASE);
	if (flags & PHYS_HUGETLB_ZERO)
		folio_zero(f);
	return f;
}

void hugetlb_free_folio(struct folio *f)
{
	struct phys_hugetlb *hp = f->_hugetlb;
	struct hsize *hs = hsize_of(hp, f->order);

	pthread_mutex_lock(&hp->lock);
	make_free(hp, f);
	hs->free[hs->nr_free++] = f;
	pthread_mutex_unlock(&hp->lock);
}

struct phys_pool *hugetlb_pool(struct phys_hugetlb *hp)
{
	return hp->pool;
}

void hugetlb_use(struct phys_hugetlb *hp, int delta)
{
	__atomic_fetch_add(&hp->users, delta, __ATOMIC_ACQ_REL);
}

HMMSIM_API void phys_hugetlb_stats(struct phys_hugetlb *hp, struct phys_hugetlb_stats *st)
{
	pthread_mutex_lock(&hp->lock);
	for (unsigned int s = 0; s < 2; s++) {
		st->total[s] = hp->sz[s].total;
		st->free[s] = hp->sz[s].nr_free;
		st->reserved[s] = hp->sz[s].resv;
		st->allocs[s] = hp->sz[s].allocs;
		st->failures[s] = hp->sz[s].failures;
	}
	pthread_mutex_unlock(&hp->lock);
}
