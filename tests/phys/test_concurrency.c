// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Concurrency: threads allocating and freeing in one pool with data checks,
 * speculative lookups (pfn -> folio -> try_get -> recheck) racing with
 * frees, reuse and splits, shared folios whose references and mapcounts
 * many threads change at once, device page_free callbacks, hugetlb pools
 * and one file's page cache. The checkers run once the threads are joined.
 * This suite also runs under ThreadSanitizer.
 */
#include <pthread.h>
#include <stdlib.h>

#include "phys_test.h"

#define NTHREADS	4

#ifdef HMMSIM_TEST_SHORT
#define ITERS		2000
#else
#define ITERS		20000
#endif

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

struct ctx {
	struct phys_pool *pool;
	unsigned int id;
	uint64_t seed;
	unsigned long fails;
	unsigned long spec_hits;
	struct folio *shared;
	struct phys_hugetlb *hp;
	struct phys_file *file;
	int err;
};

static void run_threads(void *(*fn)(void *), struct ctx *c)
{
	pthread_t t[NTHREADS];

	for (unsigned int i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, fn, &c[i]), 0);
	for (unsigned int i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	for (unsigned int i = 0; i < NTHREADS; i++)
		assert_int_equal(c[i].err, 0);
}

#define CHECK(c, cond) do { if (!(cond)) { (c)->err = __LINE__; goto out; } } while (0)

/* A speculative reference to whatever holds @pfn: the GUP-fast pattern. */
static void speculate(struct ctx *c, uint64_t pfn)
{
	struct folio *f = phys_pfn_to_folio(NULL, pfn);

	if (!f || !folio_try_get(f))
		return;
	/* A stale pointer may have been reused: recheck, then let go. */
	if (pfn >= folio_pfn(f) && pfn < folio_pfn(f) + folio_nr_pages(f))
		c->spec_hits++;
	if (folio_put(f) < 0)
		c->err = __LINE__;
}

static void *alloc_free_worker(void *arg)
{
	struct ctx *c = arg;
	struct folio *held[16] = { 0 };
	uint64_t first = phys_pool_first_pfn(c->pool), nr = phys_pool_nr_frames(c->pool);

	hmmsim_thread_register();
	for (int it = 0; it < ITERS; it++) {
		unsigned int slot = rnd(&c->seed) % 16;
		struct folio *f = held[slot];

		if (f) {
			uint64_t sig;

			CHECK(c, folio_read(f, folio_size(f) - 8, &sig, 8) == 0);
			CHECK(c, sig == (folio_pfn(f) ^ c->id));
			/* Usually 1; 0 when a speculative reference is held right now. */
			CHECK(c, folio_put(f) >= 0);
			held[slot] = NULL;
		} else {
			unsigned int order = rnd(&c->seed) % 10;
			uint64_t sig;

			f = folio_alloc(c->pool, order, (it & 1) ? FOLIO_ALLOC_ZERO : 0);
			if (!f) {
				CHECK(c, errno == ENOMEM);
				c->fails++;
				continue;
			}
			CHECK(c, folio_ref_count(f) >= 1 && folio_order(f) == order);
			sig = folio_pfn(f) ^ c->id;
			CHECK(c, folio_write(f, folio_size(f) - 8, &sig, 8) == 0);
			held[slot] = f;
		}
		speculate(c, first + rnd(&c->seed) % nr);
		if (it % 1000 == 0) {
			struct phys_pool_stats st;

			phys_pool_stats(c->pool, &st);
			CHECK(c, st.free_frames <= nr);
			CHECK(c, phys_pool_max_free_order(c->pool) <= PHYS_MAX_ORDER);
		}
	}
out:
	for (unsigned int i = 0; i < 16; i++) {
		if (held[i])
			folio_put(held[i]);
	}
	hmmsim_thread_unregister();
	return NULL;
}

static void test_alloc_free_storm(void **state)
{
	struct phys_pool *pool = make_pool(PHYS_SYSTEM_RAM, 8192, 0);
	struct phys_pool_stats st;
	struct ctx c[NTHREADS];
	uint64_t allocs = 0, frees = 0;

	(void)state;
	for (unsigned int i = 0; i < NTHREADS; i++) {
		c[i] = (struct ctx){ .pool = pool, .id = i };
		c[i].seed = 0x9e3779b97f4a7c15ull * (i + 1);
	}
	run_threads(alloc_free_worker, c);
	assert_pool_check(pool);
	st = pool_stats(pool);
	for (unsigned int k = 0; k <= PHYS_MAX_ORDER; k++) {
		allocs += st.allocs[k];
		frees += st.frees[k];
	}
	/* Everything went back (the zero page stays), coalesced. */
	assert_int_equal(allocs, frees + 1);
	assert_int_equal(st.live_folios, 1);
	assert_int_equal(st.free_frames, 8191);
	destroy_pool(pool);
}

/* Many threads map and unmap pages of one THP, and take and drop references. */
static void *shared_worker(void *arg)
{
	struct ctx *c = arg;
	struct folio *f = c->shared;

	hmmsim_thread_register();
	for (int it = 0; it < ITERS; it++) {
		uint64_t page = rnd(&c->seed) % 512;
		unsigned int nr = 1 + rnd(&c->seed) % 4;

		if (page + nr > 512)
			nr = 512 - page;
		CHECK(c, folio_ref_add(f, nr) == 0);
		CHECK(c, folio_add_anon_rmap_ptes(f, page, nr, 0) == 0);
		if (it % 7 == 0) {
			CHECK(c, folio_pin(f) == 0);
			CHECK(c, folio_maybe_dma_pinned(f));
			CHECK(c, unpin_folio(f) == 0);
		}
		CHECK(c, folio_page_pte_mapcount(f, page) >= 1);
		CHECK(c, folio_remove_rmap_ptes(f, page, nr) == 0);
		CHECK(c, folio_put_refs(f, nr) == 0);
	}
out:
	hmmsim_thread_unregister();
	return NULL;
}

static void test_shared_folio(void **state)
{
	struct phys_pool *pool = make_pool(PHYS_SYSTEM_RAM, 2048, 0);
	struct folio *f = alloc_ok(pool, PHYS_PMD_ORDER, 0);
	struct ctx c[NTHREADS];

	(void)state;
	assert_int_equal(folio_add_new_anon_rmap(f, RMAP_EXCLUSIVE), 0);
	for (unsigned int i = 0; i < NTHREADS; i++)
		c[i] = (struct ctx){ .pool = pool, .id = i, .seed = 77 + i, .shared = f };
	run_threads(shared_worker, c);
	assert_pool_check(pool);
	assert_int_equal(folio_ref_count(f), 1);
	assert_int_equal(folio_mapcount(f), 1);
	assert_int_equal(folio_entire_mapcount(f), 1);
	assert_int_equal(folio_nr_pages_mapped(f), 0);
	assert_int_equal(folio_pin_count(f), 0);
	assert_int_equal(folio_remove_rmap_pmd(f), 0);
	put_last(pool, f);
	destroy_pool(pool);
}

/* Thread 0 splits THPs; the others look their frames up speculatively. */
static void *split_worker(void *arg)
{
	struct ctx *c = arg;
	uint64_t first = phys_pool_first_pfn(c->pool), nr = phys_pool_nr_frames(c->pool);

	hmmsim_thread_register();
	for (int it = 0; it < ITERS / 20; it++) {
		struct folio *f;
		uint64_t pfn;
		int ret;

		if (c->id) {
			for (int i = 0; i < 20; i++)
				speculate(c, first + rnd(&c->seed) % nr);
			continue;
		}
		f = folio_alloc(c->pool, PHYS_PMD_ORDER, 0);
		CHECK(c, f != NULL);
		pfn = folio_pfn(f);
		folio_lock(f);
		/* A speculative reference makes the split fail: retry. */
		while ((ret = split_folio_to_order(f, it % 2 ? 0 : 4)) == -EBUSY)
			;
		CHECK(c, ret == 0);
		folio_unlock(f);
		/* Pieces nothing held are free already; the head is ours. */
		CHECK(c, folio_pfn(f) == pfn);
		CHECK(c, folio_put(f) >= 0);
	}
out:
	hmmsim_thread_unregister();
	return NULL;
}

static void test_split_vs_speculative(void **state)
{
	struct phys_pool *pool = make_pool(PHYS_SYSTEM_RAM, 4096, PHYS_POOL_METADATA);
	struct ctx c[NTHREADS];

	(void)state;
	for (unsigned int i = 0; i < NTHREADS; i++)
		c[i] = (struct ctx){ .pool = pool, .id = i, .seed = 1234 + i };
	run_threads(split_worker, c);
	assert_pool_check(pool);
	assert_int_equal(pool_stats(pool).live_folios, 1);
	assert_int_equal(pool_stats(pool).folio_splits, ITERS / 20);
	destroy_pool(pool);
}

static unsigned long dev_frees;

static void count_free(struct folio *f, void *owner)
{
	(void)owner;
	if (folio_ref_count(f) == 0)
		__atomic_fetch_add(&dev_frees, 1, __ATOMIC_RELAXED);
}

static void test_device_callbacks(void **state)
{
	static const struct phys_pgmap_ops ops = { .page_free = count_free };
	struct phys_pool_config cfg = {
		.kind = PHYS_DEVICE_PRIVATE, .nr_frames = 4096, .first_pfn = PHYS_PFN_AUTO,
		.ops = &ops,
	};
	struct phys_pool *pool = make_pool_cfg(&cfg);
	struct phys_pool_stats st;
	struct ctx c[NTHREADS];
	uint64_t allocs = 0;

	(void)state;
	dev_frees = 0;
	for (unsigned int i = 0; i < NTHREADS; i++)
		c[i] = (struct ctx){ .pool = pool, .id = i, .seed = 99 + i };
	run_threads(alloc_free_worker, c);
	assert_pool_check(pool);
	st = pool_stats(pool);
	for (unsigned int k = 0; k <= PHYS_MAX_ORDER; k++)
		allocs += st.allocs[k];
	assert_int_equal(dev_frees, allocs);
	assert_int_equal(st.page_free_calls, allocs);
	destroy_pool(pool);
}

/* hugetlb allocations and one file's cache, from every thread. */
static void *hugetlb_file_worker(void *arg)
{
	struct ctx *c = arg;

	hmmsim_thread_register();
	for (int it = 0; it < ITERS / 10; it++) {
		struct folio *h = phys_hugetlb_alloc(c->hp, PHYS_PMD_ORDER, 0);
		struct folio *f;
		uint64_t idx = rnd(&c->seed) % 64;

		if (h) {
			CHECK(c, folio_test_hugetlb(h) && folio_ref_count(h) == 1);
			CHECK(c, folio_put(h) == 1);
		} else {
			CHECK(c, errno == ENOMEM);
			c->fails++;
		}
		CHECK(c, phys_file_get_folio(c->file, idx, PHYS_FGP_CREAT, &f) == 0);
		CHECK(c, f->index == idx && folio_file(f) == c->file);
		CHECK(c, folio_add_file_rmap_pte(f, 0) == 0);
		CHECK(c, folio_remove_rmap_pte(f, 0) == 0);
		CHECK(c, folio_put(f) == 0);
		if (it % 50 == 0) {
			uint64_t v = idx, back = 0;

			CHECK(c, phys_file_write(c->file, idx * SZ_4K + 8 * c->id, &v, 8) == 0);
			CHECK(c, phys_file_read(c->file, idx * SZ_4K + 8 * c->id, &back, 8) == 0);
			CHECK(c, back == v);
		}
	}
out:
	hmmsim_thread_unregister();
	return NULL;
}

static void test_hugetlb_and_file(void **state)
{
	struct phys_pool *pool = make_pool(PHYS_SYSTEM_RAM, 8192, 0);
	struct phys_hugetlb *hp = NULL;
	struct phys_file *file = NULL;
	struct phys_hugetlb_stats hs;
	struct ctx c[NTHREADS];

	(void)state;
	assert_int_equal(phys_hugetlb_create(pool, 2, 0, &hp), 0);
	assert_int_equal(phys_file_create(pool, 64 * SZ_4K, &file), 0);
	for (unsigned int i = 0; i < NTHREADS; i++)
		c[i] = (struct ctx){ .pool = pool, .id = i, .seed = 5 + i, .hp = hp, .file = file };
	run_threads(hugetlb_file_worker, c);
	assert_pool_check(pool);
	assert_file_check(file);
	/* One folio per index, whoever asked first. */
	assert_true(phys_file_nr_cached(file) <= 64);
	phys_hugetlb_stats(hp, &hs);
	assert_int_equal(hs.free[0], 2);
	phys_file_put(file);
	assert_int_equal(phys_hugetlb_destroy(hp), 0);
	destroy_pool(pool);
}

/* Thread 0 creates and destroys pools; the others look up a pool that stays. */
static void *churn_worker(void *arg)
{
	struct ctx *c = arg;
	uint64_t first = phys_pool_first_pfn(c->pool), nr = phys_pool_nr_frames(c->pool);

	hmmsim_thread_register();
	for (int it = 0; it < ITERS / 20; it++) {
		if (c->id == 0) {
			struct phys_pool_config cfg = {
				.kind = it % 2 ? PHYS_SYSTEM_RAM : PHYS_DEVICE_PRIVATE,
				.nr_frames = 64 + it % 100, .first_pfn = PHYS_PFN_AUTO,
				.flags = PHYS_POOL_METADATA,
			};
			struct phys_pool *p = NULL;
			struct folio *f;

			CHECK(c, phys_pool_create(&cfg, &p) == 0);
			f = folio_alloc(p, 2, 0);
			CHECK(c, f && phys_pfn_to_folio(NULL, folio_pfn(f) + 3) == f);
			CHECK(c, folio_put(f) == 1);
			CHECK(c, phys_pool_destroy(p) == 0);
		} else {
			uint64_t pfn = first + rnd(&c->seed) % nr;

			CHECK(c, phys_pfn_to_pool(NULL, pfn) == c->pool);
			CHECK(c, phys_pfn_to_pool(NULL, first - 1) == NULL);
			speculate(c, pfn);
		}
	}
out:
	hmmsim_thread_unregister();
	return NULL;
}

static void test_pool_churn(void **state)
{
	struct phys_pool *pool = make_pool(PHYS_SYSTEM_RAM, 1024, PHYS_POOL_METADATA);
	struct folio *f = alloc_ok(pool, 9, 0);
	struct ctx c[NTHREADS];

	(void)state;
	for (unsigned int i = 0; i < NTHREADS; i++)
		c[i] = (struct ctx){ .pool = pool, .id = i, .seed = 31 + i };
	run_threads(churn_worker, c);
	assert_pool_check(pool);
	put_last(pool, f);
	destroy_pool(pool);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alloc_free_storm),
		cmocka_unit_test(test_shared_folio),
		cmocka_unit_test(test_split_vs_speculative),
		cmocka_unit_test(test_device_callbacks),
		cmocka_unit_test(test_hugetlb_and_file),
		cmocka_unit_test(test_pool_churn),
	};
	int ret;

	hmmsim_thread_register();
	ret = cmocka_run_group_tests_name("phys_concurrency", tests, NULL, NULL);
	hmmsim_thread_unregister();
	return ret;
}
