// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The buddy allocator of a pool.
 *
 * Free blocks are kept per order in bitmaps with summary levels (struct
 * bitree) instead of linked lists through a struct page per frame: a pool of
 * a terabyte costs 2 bits per frame, mapped lazily, and no descriptor at all
 * for its free memory. Bit i of order k stands for the block of 2^k frames
 * starting at base + (i << k), where base is the pool's first frame aligned
 * down to the largest order: blocks are aligned in absolute frame numbers,
 * as the kernel's, so a 2 MiB folio always has a 2 MiB-aligned pfn.
 *
 * Allocation takes the lowest free block of the smallest order that fits
 * and splits it, the upper halves going back to the free bitmaps; freeing
 * merges a block with its buddy while the buddy is free at the same order.
 * Lowest-first makes pfns deterministic, which tests and traces rely on.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "phys/internal.h"

/* ---- bitmaps with summary levels ---------------------------------------- */

static uint64_t words_of(uint64_t bits)
{
	return (bits + 63) / 64;
}

size_t bitree_words(uint64_t nbits)
{
	size_t total = 0;

	for (;;) {
		uint64_t w = words_of(nbits);

		total += w;
		if (w <= 1)
			return total;
		nbits = w;
	}
}

void bitree_init(struct bitree *bt, uint64_t nbits, uint64_t *mem)
{
	unsigned int l = 0;

	for (;;) {
		uint64_t w = words_of(nbits);

		bt->nbits[l] = nbits;
		bt->lvl[l] = mem;
		mem += w;
		l++;
		if (w <= 1)
			break;
		nbits = w;
	}
	bt->levels = l;
}

void bitree_set(struct bitree *bt, uint64_t i)
{
	for (unsigned int l = 0; l < bt->levels; l++) {
		uint64_t *w = &bt->lvl[l][i / 64];
		uint64_t was = *w;

		*w = was | (UINT64_C(1) << (i % 64));
		if (was)
			return;		/* the levels above already know */
		i /= 64;
	}
}

void bitree_clear(struct bitree *bt, uint64_t i)
{
	for (unsigned int l = 0; l < bt->levels; l++) {
		uint64_t *w = &bt->lvl[l][i / 64];

		*w &= ~(UINT64_C(1) << (i % 64));
		if (*w)
			return;		/* the word is still not empty */
		i /= 64;
	}
}

int bitree_test(const struct bitree *bt, uint64_t i)
{
	return (bt->lvl[0][i / 64] >> (i % 64)) & 1;
}

/* The lowest set bit >= @from at level @l, or BT_NONE. */
static uint64_t bitree_next_level(const struct bitree *bt, unsigned int l, uint64_t from)
{
	for (;;) {
		uint64_t w, word, up;

		if (from >= bt->nbits[l])
			return BT_NONE;
		w = from / 64;
		word = bt->lvl[l][w] & (~UINT64_C(0) << (from % 64));
		if (word)
			return w * 64 + __builtin_ctzll(word);
		if (l + 1 == bt->levels)
			return BT_NONE;
		/* The next non-empty word of this level, found one level up. */
		up = bitree_next_level(bt, l + 1, w + 1);
		if (up == BT_NONE)
			return BT_NONE;
		from = up * 64;
	}
}

uint64_t bitree_next(const struct bitree *bt, uint64_t from)
{
	return bitree_next_level(bt, 0, from);
}

/* ---- the buddy ---------------------------------------------------------- */

static uint64_t block_index(const struct phys_pool *pool, uint64_t pfn, unsigned int order)
{
	return (pfn - pool->base) >> order;
}

static void free_block_add(struct phys_pool *pool, uint64_t pfn, unsigned int order)
{
	bitree_set(&pool->free[order], block_index(pool, pfn, order));
	pool->st.free_blocks[order]++;
}

static void free_block_del(struct phys_pool *pool, uint64_t pfn, unsigned int order)
{
	bitree_clear(&pool->free[order], block_index(pool, pfn, order));
	pool->st.free_blocks[order]--;
}

static int free_block_test(const struct phys_pool *pool, uint64_t pfn, unsigned int order)
{
	return bitree_test(&pool->free[order], block_index(pool, pfn, order));
}

/* Carve [first, end) into the largest aligned blocks: a new pool is all free. */
void buddy_init_free(struct phys_pool *pool)
{
	uint64_t p = pool->first;

	while (p < pool->end) {
		unsigned int k = PHYS_MAX_ORDER;

		while (k && (!is_aligned(p, k) || p + (UINT64_C(1) << k) > pool->end))
			k--;
		free_block_add(pool, p, k);
		p += UINT64_C(1) << k;
	}
	pool->st.free_frames = pool->end - pool->first;
}

int buddy_alloc_locked(struct phys_pool *pool, unsigned int order, uint64_t *pfn)
{
	unsigned int k;
	uint64_t idx = BT_NONE, p;

	for (k = order; k <= PHYS_MAX_ORDER; k++) {
		idx = bitree_next(&pool->free[k], 0);
		if (idx != BT_NONE)
			break;
	}
	if (idx == BT_NONE) {
		pool->st.failures[order]++;
		return -ENOMEM;
	}
	p = pool->base + (idx << k);
	free_block_del(pool, p, k);
	/* Split down, keeping the lower half each time: lowest pfns go first. */
	while (k > order) {
		k--;
		free_block_add(pool, p + (UINT64_C(1) << k), k);
		pool->st.block_splits++;
	}
	pool->st.free_frames -= UINT64_C(1) << order;
	pool->st.allocs[order]++;
	*pfn = p;
	return 0;
}

void buddy_free_locked(struct phys_pool *pool, uint64_t pfn, unsigned int order)
{
	unsigned int k = order;

	pool->st.frees[order]++;
	pool->st.free_frames += UINT64_C(1) << order;
	while (k < PHYS_MAX_ORDER) {
		uint64_t buddy = pfn ^ (UINT64_C(1) << k);

		/* Only blocks wholly inside the pool are ever free. */
		if (buddy < pool->first || buddy + (UINT64_C(1) << k) > pool->end)
			break;
		if (!free_block_test(pool, buddy, k))
			break;
		free_block_del(pool, buddy, k);
		pool->st.block_merges++;
		if (buddy < pfn)
			pfn = buddy;
		k++;
	}
	free_block_add(pool, pfn, k);
}

int phys_pool_max_free_order(struct phys_pool *pool)
{
	int k, ret = -1;

	pthread_mutex_lock(&pool->lock);
	for (k = PHYS_MAX_ORDER; k >= 0; k--) {
		if (pool->st.free_blocks[k]) {
			ret = k;
			break;
		}
	}
	pthread_mutex_unlock(&pool->lock);
	return ret;
}

/*
 * Cut every free block above @order into blocks of @order and give the upper
 * buddy of each pair to a filler folio: no free block above @order remains,
 * and none can form again until the fillers go, because every remaining free
 * block of @order has its buddy taken.
 */
int64_t phys_pool_fragment(struct phys_pool *pool, unsigned int order)
{
	int64_t taken = 0;
	int ret = 0;

	if (order >= PHYS_MAX_ORDER)
		return -EINVAL;
	pthread_mutex_lock(&pool->lock);
	for (unsigned int k = PHYS_MAX_ORDER; k > order && !ret; k--) {
		uint64_t idx;

		while (!ret && (idx = bitree_next(&pool->free[k], 0)) != BT_NONE) {
			uint64_t p = pool->base + (idx << k);
			uint64_t n = UINT64_C(1) << (k - order);

			/*
			 * Hand the block out piecewise: even pieces stay free
			 * (their buddies are taken, so they cannot merge),
			 * odd pieces go to fillers.
			 */
			free_block_del(pool, p, k);
			pool->st.free_frames -= UINT64_C(1) << k;
			pool->st.block_splits += n - 1;
			for (uint64_t i = 0; i < n; i++) {
				uint64_t q = p + (i << order);
				struct folio *f = NULL;

				if (ret) {
					/* Out of descriptors: give the rest back, merged. */
					buddy_free_locked(pool, q, order);
					pool->st.frees[order]--;
					continue;
				}
				if (!(i & 1)) {
					free_block_add(pool, q, order);
					pool->st.free_frames += UINT64_C(1) << order;
					continue;
				}
				f = folio_make_locked(pool, q, order);
				if (!f) {
					ret = -ENOMEM;
					buddy_free_locked(pool, q, order);
					pool->st.frees[order]--;
					continue;
				}
				pool->st.allocs[order]++;
				f->private = pool->fillers;
				pool->fillers = f;
				pool->nr_fillers++;
				taken += UINT64_C(1) << order;
			}
		}
	}
	pthread_mutex_unlock(&pool->lock);
	return ret ? ret : taken;
}

void phys_pool_unfragment(struct phys_pool *pool)
{
	for (;;) {
		struct folio *f;

		pthread_mutex_lock(&pool->lock);
		f = pool->fillers;
		if (f) {
			pool->fillers = f->private;
			pool->nr_fillers--;
			f->private = NULL;
		}
		pthread_mutex_unlock(&pool->lock);
		if (!f)
			return;
		folio_put(f);
	}
}

/*
 * The buddy half of phys_pool_check(): every free block is aligned and
 * inside the pool, the per-order counts and the free frames add up, and
 * no frame of a free block is free at another order too (an ancestor or a
 * descendant block marked free).
 */
int buddy_check_locked(struct phys_pool *pool, char *msg, size_t len)
{
	uint64_t frames = 0;

	for (unsigned int k = 0; k <= PHYS_MAX_ORDER; k++) {
		uint64_t n = 0, idx = 0;

		while ((idx = bitree_next(&pool->free[k], idx)) != BT_NONE) {
			uint64_t p = pool->base + (idx << k);

			if (p < pool->first || p + (UINT64_C(1) << k) > pool->end)
				return phys_report(msg, len,
						   "free block pfn %#llx order %u outside the pool",
						   (unsigned long long)p, k);
			for (unsigned int j = k + 1; j <= PHYS_MAX_ORDER; j++) {
				uint64_t a = align_down(p, j);

				if (a >= pool->base && a - pool->base < pool->span &&
				    free_block_test(pool, a, j))
					return phys_report(msg, len, "free block pfn %#llx "
							   "order %u inside free block pfn "
							   "%#llx order %u",
							   (unsigned long long)p, k,
							   (unsigned long long)a, j);
			}
			/* Two free buddies at one order should have merged. */
			if (k < PHYS_MAX_ORDER) {
				uint64_t b = p ^ (UINT64_C(1) << k);

				if (b >= pool->first && b + (UINT64_C(1) << k) <= pool->end &&
				    free_block_test(pool, b, k))
					return phys_report(msg, len, "free buddies pfn "
							   "%#llx and %#llx order %u not "
							   "merged", (unsigned long long)p,
							   (unsigned long long)b, k);
			}
			n++;
			frames += UINT64_C(1) << k;
			idx++;
		}
		if (n != pool->st.free_blocks[k])
			return phys_report(msg, len, "order %u: %llu free blocks, counter "
					   "says %llu", k, (unsigned long long)n,
					   (unsigned long long)pool->st.free_blocks[k]);
	}
	if (frames != pool->st.free_frames)
		return phys_report(msg, len, "free blocks hold %llu frames, counter says %llu",
				   (unsigned long long)frames,
				   (unsigned long long)pool->st.free_frames);
	return 0;
}
