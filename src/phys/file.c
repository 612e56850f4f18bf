// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Simulated files and their page cache.
 *
 * A file is a size and a sparse array of folios, one slot per folio (4 KiB,
 * or a huge page for a hugetlb file), in leaves of 512 slots allocated on
 * first use, so a sparse file of a terabyte costs its directory only. The
 * cache holds folio_cache_refs() references on each folio it caches, and
 * the folio names the file in folio->mapping: the file side of the
 * kernel's accounting. Everything is under the file's mutex (i_pages lock
 * and i_rwsem in one); the pool's lock nests inside it.
 *
 * A hugetlb file also keeps the reservation map of its shared mappings (the
 * kernel's inode resv_map): a bit per slot reserved in the hugetlb pool and
 * not allocated yet. The first allocation of the slot consumes it; truncation
 * and the file's release give back those still set. A slot is in the
 * kernel's map when it is reserved or cached; no slot is both here.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "phys/internal.h"
#include "base/alloc.h"

#define DIR_SLOTS	512

struct dir_leaf {
	struct folio *slot[DIR_SLOTS];
	uint64_t resv[DIR_SLOTS / 64];	/* hugetlb: reserved, not allocated yet */
};

struct phys_file {
	struct phys_pool *pool;
	struct phys_hugetlb *hp;	/* NULL for a file of the system pool */
	unsigned int order;
	pthread_mutex_t lock;
	uint64_t size;
	uint64_t ndir;
	struct dir_leaf **dir;
	uint64_t nr_cached;
	uint64_t nr_resv;		/* reservation bits set */
	int refs;
};

static uint64_t slot_bytes(const struct phys_file *file)
{
	return PHYS_PAGE_SIZE << file->order;
}

static uint64_t slots_for(const struct phys_file *file, uint64_t size)
{
	return (size + slot_bytes(file) - 1) / slot_bytes(file);
}

static struct folio *slot_get(const struct phys_file *file, uint64_t slot)
{
	uint64_t d = slot / DIR_SLOTS;

	if (d >= file->ndir || !file->dir[d])
		return NULL;
	return file->dir[d]->slot[slot % DIR_SLOTS];
}

static bool resv_test(const struct phys_file *file, uint64_t slot)
{
	uint64_t d = slot / DIR_SLOTS, bit = slot % DIR_SLOTS;

	if (d >= file->ndir || !file->dir[d])
		return false;
	return file->dir[d]->resv[bit / 64] & (UINT64_C(1) << (bit % 64));
}

/* Set or clear the reservation bit of @slot (its leaf exists). */
static void resv_set(struct phys_file *file, uint64_t slot, bool on)
{
	uint64_t bit = slot % DIR_SLOTS, *w = &file->dir[slot / DIR_SLOTS]->resv[bit / 64];

	if (on) {
		*w |= UINT64_C(1) << (bit % 64);
		file->nr_resv++;
	} else {
		*w &= ~(UINT64_C(1) << (bit % 64));
		file->nr_resv--;
	}
}

/* The leaf of directory entry @d, allocated on first use. */
static int leaf_get(struct phys_file *file, uint64_t d)
{
	if (!file->dir[d]) {
		file->dir[d] = hs_calloc(1, sizeof(struct dir_leaf));
		if (!file->dir[d])
			return -ENOMEM;
	}
	return 0;
}

/* Make room in the directory for @nslots slots. */
static int dir_grow(struct phys_file *file, uint64_t nslots)
{
	uint64_t ndir = (nslots + DIR_SLOTS - 1) / DIR_SLOTS;
	struct dir_leaf **dir;

	if (ndir <= file->ndir)
		return 0;
	dir = hs_realloc(file->dir, ndir * sizeof(*dir));
	if (!dir)
		return -ENOMEM;
	memset(dir + file->ndir, 0, (ndir - file->ndir) * sizeof(*dir));
	file->dir = dir;
	file->ndir = ndir;
	return 0;
}

static int file_new(struct phys_pool *pool, struct phys_hugetlb *hp, unsigned int order,
		    uint64_t size, struct phys_file **out)
{
	struct phys_file *file = hs_calloc(1, sizeof(*file));

	if (!file)
		return -ENOMEM;
	file->pool = pool;
	file->hp = hp;
	file->order = order;
	file->size = size;
	file->refs = 1;
	pthread_mutex_init(&file->lock, NULL);
	if (dir_grow(file, slots_for(file, size))) {
		pthread_mutex_destroy(&file->lock);
		free(file);
		return -ENOMEM;
	}
	__atomic_fetch_add(&pool->users, 1, __ATOMIC_ACQ_REL);
	if (hp)
		hugetlb_use(hp, 1);
	*out = file;
	return 0;
}

HMMSIM_API int phys_file_create(struct phys_pool *pool, uint64_t size, struct phys_file **out)
{
	if (!pool || !out || pool->kind != PHYS_SYSTEM_RAM)
		return -EINVAL;
	return file_new(pool, NULL, 0, size, out);
}

HMMSIM_API int phys_file_create_hugetlb(struct phys_hugetlb *hp, unsigned int order,
					uint64_t size, struct phys_file **out)
{
	if (!hp || !out || (order != PHYS_PMD_ORDER && order != PHYS_PUD_ORDER) ||
	    size % (PHYS_PAGE_SIZE << order))
		return -EINVAL;
	return file_new(hugetlb_pool(hp), hp, order, size, out);
}

HMMSIM_API void phys_file_get(struct phys_file *file)
{
	__atomic_fetch_add(&file->refs, 1, __ATOMIC_ACQ_REL);
}

HMMSIM_API uint64_t phys_file_size(struct phys_file *file)
{
	uint64_t size;

	pthread_mutex_lock(&file->lock);
	size = file->size;
	pthread_mutex_unlock(&file->lock);
	return size;
}

HMMSIM_API uint64_t phys_file_nr_cached(struct phys_file *file)
{
	uint64_t n;

	pthread_mutex_lock(&file->lock);
	n = file->nr_cached;
	pthread_mutex_unlock(&file->lock);
	return n;
}

HMMSIM_API uint64_t phys_file_nr_reserved(struct phys_file *file)
{
	uint64_t n;

	pthread_mutex_lock(&file->lock);
	n = file->nr_resv;
	pthread_mutex_unlock(&file->lock);
	return n;
}

/*
 * hugetlb_reserve_pages for a shared mapping: reserve the slots of the range
 * that are neither reserved nor cached yet, all or none.
 */
HMMSIM_API int phys_file_reserve(struct phys_file *file, uint64_t offset, uint64_t len)
{
	uint64_t first, end, s, chg = 0;
	int ret = 0;

	if (!file || !file->hp || (offset | len) % slot_bytes(file))
		return -EINVAL;
	pthread_mutex_lock(&file->lock);
	if (offset > file->size || len > file->size - offset) {
		ret = -EINVAL;
		goto out;
	}
	first = offset / slot_bytes(file);
	end = first + len / slot_bytes(file);
	/* The leaves first: the one step that can run out of memory. */
	for (s = first; s < end && !ret; s = (s / DIR_SLOTS + 1) * DIR_SLOTS)
		ret = leaf_get(file, s / DIR_SLOTS);
	if (ret)
		goto out;
	for (s = first; s < end; s++)
		chg += !slot_get(file, s) && !resv_test(file, s);
	if (chg) {
		ret = phys_hugetlb_reserve(file->hp, file->order, chg);
		if (ret)
			goto out;
	}
	for (s = first; s < end; s++)
		if (!slot_get(file, s) && !resv_test(file, s))
			resv_set(file, s, true);
out:
	pthread_mutex_unlock(&file->lock);
	return ret;
}

#define FGP_FLAGS	(PHYS_FGP_CREAT | PHYS_FGP_RESERVED)

static int cache_insert_locked(struct phys_file *file, uint64_t slot, unsigned int flags,
			       struct folio **out)
{
	uint64_t d = slot / DIR_SLOTS;
	bool own = resv_test(file, slot);
	struct folio *f;
	int ret;

	ret = leaf_get(file, d);
	if (ret)
		return ret;
	/*
	 * A reserved slot consumes its own reservation; any other takes an
	 * unreserved folio, or one of the caller's reservations (RESERVED).
	 */
	if (file->hp)
		f = phys_hugetlb_alloc(file->hp, file->order,
				       PHYS_HUGETLB_ZERO |
				       (own || (flags & PHYS_FGP_RESERVED) ?
					PHYS_HUGETLB_RESERVED : 0));
	else
		f = folio_alloc(file->pool, 0, FOLIO_ALLOC_ZERO);
	if (!f)
		return -errno;
	if (own)
		resv_set(file, slot, false);
	f->index = slot << file->order;
	__atomic_store_n(&f->mapping, file, __ATOMIC_RELEASE);
	/* The caller keeps the allocation's reference; the cache takes its own. */
	folio_ref_add(f, folio_cache_refs(f));
	file->dir[d]->slot[slot % DIR_SLOTS] = f;
	file->nr_cached++;
	*out = f;
	return 0;
}

HMMSIM_API int phys_file_get_folio(struct phys_file *file, uint64_t index, unsigned int flags,
				   struct folio **out)
{
	struct folio *f;
	uint64_t slot;
	int ret = 0;

	if (!file || !out || (flags & ~FGP_FLAGS) || ((flags & PHYS_FGP_RESERVED) && !file->hp))
		return -EINVAL;
	pthread_mutex_lock(&file->lock);
	if (index >= (file->size + PHYS_PAGE_SIZE - 1) / PHYS_PAGE_SIZE) {
		ret = -EFAULT;
		goto out;
	}
	slot = index >> file->order;
	f = slot_get(file, slot);
	if (f) {
		folio_get(f);		/* cannot fail: the cache holds it */
		*out = f;
	} else if (!(flags & PHYS_FGP_CREAT)) {
		ret = -ENOENT;
	} else {
		ret = cache_insert_locked(file, slot, flags, out);
	}
out:
	pthread_mutex_unlock(&file->lock);
	return ret;
}

/* Take the folio of @slot out of the cache and drop the cache's references. */
static void cache_remove_locked(struct phys_file *file, uint64_t slot)
{
	struct folio **p = &file->dir[slot / DIR_SLOTS]->slot[slot % DIR_SLOTS];
	struct folio *f = *p;
	int refs = folio_cache_refs(f);

	*p = NULL;
	file->nr_cached--;
	__atomic_store_n(&f->mapping, NULL, __ATOMIC_RELEASE);
	folio_put_refs(f, refs);
}

HMMSIM_API int phys_file_truncate(struct phys_file *file, uint64_t size)
{
	uint64_t old_slots, new_slots, unreserve = 0;
	int ret;

	if (!file || (file->hp && size % slot_bytes(file)))
		return -EINVAL;
	pthread_mutex_lock(&file->lock);
	old_slots = slots_for(file, file->size);
	new_slots = slots_for(file, size);
	ret = dir_grow(file, new_slots);
	if (ret)
		goto out;
	for (uint64_t s = new_slots; s < old_slots; s++) {
		if (slot_get(file, s))
			cache_remove_locked(file, s);
		if (resv_test(file, s)) {
			resv_set(file, s, false);
			unreserve++;
		}
	}
	/* The reservations of the pages cut off and never allocated (hugetlb_unreserve_pages). */
	if (unreserve)
		phys_hugetlb_unreserve(file->hp, file->order, unreserve);
	/* A partial last page keeps its head; the rest reads as zeros again. */
	if (size < file->size && size % PHYS_PAGE_SIZE) {
		struct folio *f = slot_get(file, size / slot_bytes(file));

		if (f) {
			uint64_t off = size - f->index * PHYS_PAGE_SIZE;

			folio_zero_range(f, off, PHYS_PAGE_SIZE - off % PHYS_PAGE_SIZE);
		}
	}
	file->size = size;
out:
	pthread_mutex_unlock(&file->lock);
	return ret;
}

HMMSIM_API void phys_file_put(struct phys_file *file)
{
	if (__atomic_sub_fetch(&file->refs, 1, __ATOMIC_ACQ_REL))
		return;
	phys_file_truncate(file, 0);
	for (uint64_t d = 0; d < file->ndir; d++)
		free(file->dir[d]);
	free(file->dir);
	__atomic_fetch_sub(&file->pool->users, 1, __ATOMIC_ACQ_REL);
	if (file->hp)
		hugetlb_use(file->hp, -1);
	pthread_mutex_destroy(&file->lock);
	free(file);
}

/* Read or write [@offset, @offset + @len) folio by folio. */
static int file_rw(struct phys_file *file, uint64_t offset, void *rbuf, const void *wbuf,
		   size_t len)
{
	unsigned char *r = rbuf;
	const unsigned char *w = wbuf;
	uint64_t size;

	if (!file || (!rbuf && !wbuf && len))
		return -EINVAL;
	size = phys_file_size(file);
	if (offset > size || len > size - offset)
		return -EINVAL;
	while (len) {
		uint64_t slot_end = (offset / slot_bytes(file) + 1) * slot_bytes(file);
		size_t n = slot_end - offset < len ? slot_end - offset : len;
		struct folio *f;
		int ret;

		ret = phys_file_get_folio(file, offset / PHYS_PAGE_SIZE,
					  w ? PHYS_FGP_CREAT : 0, &f);
		if (ret == -ENOENT && r) {
			memset(r, 0, n);	/* a hole reads as zeros */
		} else if (ret) {
			return ret;
		} else {
			uint64_t off = offset - f->index * PHYS_PAGE_SIZE;

			if (r) {
				folio_read(f, off, r, n);
			} else {
				folio_write(f, off, w, n);
				folio_mark_dirty(f);
			}
			folio_put(f);
		}
		offset += n;
		len -= n;
		if (r)
			r += n;
		else
			w += n;
	}
	return 0;
}

HMMSIM_API int phys_file_read(struct phys_file *file, uint64_t offset, void *buf, size_t len)
{
	return buf || !len ? file_rw(file, offset, buf, NULL, len) : -EINVAL;
}

HMMSIM_API int phys_file_write(struct phys_file *file, uint64_t offset, const void *buf,
			       size_t len)
{
	return buf || !len ? file_rw(file, offset, NULL, buf, len) : -EINVAL;
}

HMMSIM_API int phys_file_check(struct phys_file *file, char *msg, size_t len)
{
	uint64_t n = 0, r = 0, nslots;
	int ret = 0;

	pthread_mutex_lock(&file->lock);
	nslots = slots_for(file, file->size);
	for (uint64_t s = 0; s < file->ndir * DIR_SLOTS && !ret; s++) {
		struct folio *f = slot_get(file, s);

		if (resv_test(file, s)) {
			r++;
			if (!file->hp || s >= nslots || f)
				ret = phys_report(msg, len, "file: slot %llu reserved %s",
						  (unsigned long long)s,
						  !file->hp ? "in a file of the system pool" :
						  s >= nslots ? "past the end" : "and cached");
		}
		if (!f || ret)
			continue;
		n++;
		if (s >= nslots)
			ret = phys_report(msg, len, "file: slot %llu cached past the end",
					  (unsigned long long)s);
		else if (folio_state(f) != FOLIO_STATE_LIVE)
			ret = phys_report(msg, len, "file: slot %llu holds a free folio",
					  (unsigned long long)s);
		else if (folio_mapping(f) != file || folio_test_anon(f) ||
			 f->index != s << file->order || f->order != file->order ||
			 !!file->hp != folio_test_hugetlb(f))
			ret = phys_report(msg, len, "file: folio pfn %#llx in slot %llu misnamed",
					  (unsigned long long)f->pfn, (unsigned long long)s);
		else
			ret = folio_check(f, msg, len);
	}
	if (!ret && n != file->nr_cached)
		ret = phys_report(msg, len, "file: %llu folios cached, counter says %llu",
				  (unsigned long long)n, (unsigned long long)file->nr_cached);
	if (!ret && r != file->nr_resv)
		ret = phys_report(msg, len, "file: %llu slots reserved, counter says %llu",
				  (unsigned long long)r, (unsigned long long)file->nr_resv);
	pthread_mutex_unlock(&file->lock);
	return ret;
}
