// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * pt_bench: the pt engine (x86-64-4l format, 4K pages) against a bare radix,
 * the same radix under a pthread rwlock, liburcu's rculfhash and JudyL, on
 * one densely mapped range (1M pages, 4 GiB of VA, by default). Prints one
 * JSON object on stdout; progress goes to stderr. See bench/README.md.
 *
 * Method, in short:
 *  - every workload runs once per run on every structure, the runs repeat
 *    (5 by default, 1 with --quick), and each figure is the median over the
 *    runs; a ratio is the median of the per-run ratios, so the engine is only
 *    ever compared with a baseline measured minutes, not hours, apart;
 *  - lookups are timed over all pages in ascending order and in the order of
 *    a precomputed permutation (no RNG in the loop), after one untimed pass
 *    that checks every translation; readers enter their read-side section
 *    (RCU, rwlock) once per batch of 64 lookups, as a fault handler or a
 *    range walker would, not once per lookup;
 *  - map and unmap are timed around the calls only: the engine's deferred
 *    directory frees run later on liburcu's call_rcu thread, and the runs wait
 *    for them (hmmsim_barrier()) before the next measurement;
 *  - memory is what each structure says it uses (pt_table_stats(), a
 *    counting allocator, JudyLMemUsed()) and the RSS delta around the build,
 *    taken after malloc_trim() so what an earlier structure freed is not
 *    counted as reused;
 *  - the concurrent workload has 2 threads (the machine has 2 cores): one
 *    reader looks up random pages, one writer unmaps and maps back, one page
 *    at a time, the last 2 MiB of the range, which the reader never looks up
 *    but whose top, level-2 and level-1 directories it walks through.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <urcu/urcu-memb.h>

#include <hmmsim/base.h>
#include <hmmsim/pt.h>

#include "baselines.h"
#include "bench.h"

/* Lookups per read-side section. */
#define BATCH		64
/* Pages the concurrent writer churns: one leaf directory's worth, 2 MiB. */
#define CHURN_PAGES	512
/* Output frames start away from the VA, so nothing can mistake VA for OA. */
#define PFN0		UINT64_C(0x123400)
/* Where the range starts: 512 GiB aligned, where mmap puts things on x86-64. */
#define VA_BASE		UINT64_C(0x7f0000000000)
#define PAGE_SHIFT	12
#define PAGE_SIZE	(UINT64_C(1) << PAGE_SHIFT)
#define MAX_RUNS	31
#define SEED		UINT64_C(0x5eed0f9a6e7ab1e5)

enum bench_struct {
	S_ENGINE,
	S_RADIX,
	S_RWLOCK,
	S_LFHT,
	S_JUDY,
	S_COUNT
};

static const char *const struct_names[S_COUNT] = {
	[S_ENGINE] = "engine",
	[S_RADIX] = "radix",
	[S_RWLOCK] = "radix_rwlock",
	[S_LFHT] = "rculfhash",
	[S_JUDY] = "judy",
};

enum bench_field {
	F_LOOKUP_RANDOM_NS,
	F_LOOKUP_SEQ_NS,
	F_MAP,
	F_MAP_RANGE,
	F_UNMAP,
	F_UNMAP_RANGE,
	F_UNMAP_KEEP,
	F_BYTES,
	F_RESERVED,
	F_NODE_BYTES,
	F_RSS,
	F_READER_ALONE,
	F_READER_UNDER,
	F_READER_KEEP,
	F_WRITER_OPS,
	F_COUNT
};

static const char *const field_names[F_COUNT] = {
	[F_LOOKUP_RANDOM_NS] = "lookup_random_ns",
	[F_LOOKUP_SEQ_NS] = "lookup_seq_ns",
	[F_MAP] = "map_pages_per_s",
	[F_MAP_RANGE] = "map_range_pages_per_s",
	[F_UNMAP] = "unmap_pages_per_s",
	[F_UNMAP_RANGE] = "unmap_range_pages_per_s",
	[F_UNMAP_KEEP] = "unmap_keep_pages_per_s",
	[F_BYTES] = "bytes_per_page",
	[F_RESERVED] = "reserved_bytes_per_page",
	[F_NODE_BYTES] = "node_bytes_per_page",
	[F_RSS] = "rss_bytes_per_page",
	[F_READER_ALONE] = "reader_alone_lookups_per_s",
	[F_READER_UNDER] = "reader_under_writer_lookups_per_s",
	[F_READER_KEEP] = "reader_keep",
	[F_WRITER_OPS] = "writer_ops_per_s",
};

/* Per-run samples, NAN where a structure has no such figure. */
static double vals[S_COUNT][F_COUNT][MAX_RUNS];
/* Lookups of mapped pages that found nothing: any is a bug, and fails the run. */
static uint64_t misses[S_COUNT];
/* The engine's counters after the last build, for the per-level picture. */
static struct pt_stats engine_stats;
static unsigned int engine_levels;
/* Where the lookup loops leave their sums, so the compiler keeps the loads. */
static volatile uint64_t sink;

/*
 * struct ctx - what every workload of a run shares.
 * @pages:	pages in the range.
 * @rnd:	a permutation of [0, pages): the random order.
 * @seq:	0, 1, 2...: the sequential order, read the same way as @rnd so
 *		both orders run the very same loop.
 * @rd:		@rnd without the writer's pages, the concurrent reader's order.
 * @nrd:	entries in @rd (a multiple of BATCH).
 * @conc_ns:	length of one concurrent-reader phase.
 * @run:	index of the current run.
 * @runs:	runs in all.
 */
struct ctx {
	uint64_t pages;
	uint32_t *rnd;
	uint32_t *seq;
	uint32_t *rd;
	uint64_t nrd;
	uint64_t conc_ns;
	int run;
	int runs;
};

static void put(int s, int f, const struct ctx *c, double v)
{
	vals[s][f][c->run] = v;
}

static __attribute__((noreturn, format(printf, 1, 2))) void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("pt_bench: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static inline uint64_t page_va(uint64_t i)
{
	return VA_BASE + (i << PAGE_SHIFT);
}

/* The engine's leaf for page @i; pt_map() adds the leaf bits it needs. */
static inline pt_entry_t engine_entry(const struct pt_format *f, uint64_t i)
{
	return pt_make_entry(f, PFN0 + i, f->valid | f->write);
}

/* What the baselines store for page @i: the same frame, never zero. */
static inline uint64_t base_val(uint64_t i)
{
	return ((PFN0 + i) << PAGE_SHIFT) | 1;
}

/* The engine's translation-only lookup, the one a TLB fill would use. */
static inline uint64_t engine_get(struct pt_table *t, uint64_t va)
{
	return pt_lookup_entry(t, va);
}

static inline double per_s(uint64_t n, uint64_t ns)
{
	return ns ? (double)n * 1e9 / (double)ns : NAN;
}

/*
 * The two lookup loops, stamped out per structure so each inlines its own
 * section entry and exit around the out-of-line lookup call:
 *  - NAME_lookups(): every entry of @idx once, batch by batch; ns per lookup;
 *  - NAME_reader(): the concurrent reader's order over and over for
 *    c->conc_ns; lookups per second. The clock is read once per 16 batches.
 * A lookup that finds nothing counts as a miss: every page looked up is mapped.
 */
#define DEFINE_LOOKUP_LOOPS(NAME, TYPE, ENTER, LEAVE, GET)				\
static double NAME##_lookups(TYPE *s, const uint32_t *idx, uint64_t n, uint64_t *miss)	\
{											\
	uint64_t sum = 0, nmiss = 0, t0 = now_ns();					\
											\
	for (uint64_t i = 0; i < n; i += BATCH) {					\
		ENTER;									\
		for (uint64_t j = i; j < i + BATCH; j++) {				\
			uint64_t va = page_va(idx[j]);					\
			uint64_t e = GET;						\
											\
			nmiss += !e;							\
			sum += e;							\
		}									\
		LEAVE;									\
	}										\
	t0 = now_ns() - t0;								\
	sink += sum;									\
	*miss += nmiss;									\
	return (double)t0 / (double)n;							\
}											\
											\
static __attribute__((unused)) double NAME##_reader(TYPE *s, const struct ctx *c,	\
						    uint64_t *miss)			\
{											\
	uint64_t sum = 0, nmiss = 0, n = 0, pos = 0;					\
	uint64_t t0 = now_ns(), t1, end = t0 + c->conc_ns;				\
											\
	do {										\
		for (int b = 0; b < 16; b++) {						\
			ENTER;								\
			for (uint64_t j = pos; j < pos + BATCH; j++) {			\
				uint64_t va = page_va(c->rd[j]);			\
				uint64_t e = GET;					\
											\
				nmiss += !e;						\
				sum += e;						\
			}								\
			LEAVE;								\
			pos += BATCH;							\
			if (pos == c->nrd)						\
				pos = 0;						\
		}									\
		n += 16 * BATCH;							\
		t1 = now_ns();								\
	} while (t1 < end);								\
	sink += sum;									\
	*miss += nmiss;									\
	return per_s(n, t1 - t0);							\
}

DEFINE_LOOKUP_LOOPS(engine, struct pt_table, hmmsim_read_lock(), hmmsim_read_unlock(),
		    engine_get(s, va))
DEFINE_LOOKUP_LOOPS(radix, struct radix, (void)0, (void)0, radix_lookup(s, va))
DEFINE_LOOKUP_LOOPS(rwlock, struct radix_rw, radix_rw_read_lock(s), radix_rw_read_unlock(s),
		    radix_rw_lookup(s, va))
DEFINE_LOOKUP_LOOPS(lfht, struct lfht_map, urcu_memb_read_lock(), urcu_memb_read_unlock(),
		    lfht_map_lookup(s, va >> PAGE_SHIFT))
#ifdef HAVE_JUDY
DEFINE_LOOKUP_LOOPS(judy, struct judy_map, (void)0, (void)0,
		    judy_map_lookup(s, va >> PAGE_SHIFT))
#endif

/* Untimed: check every page translates to its frame (and warm the caches alike for all). */
static void verify(int s, void *obj, const struct ctx *c)
{
	const struct pt_format *f = &pt_format_x86_64_4l;

	for (uint64_t i = 0; i < c->pages; i++) {
		uint64_t va = page_va(i), e = 0;
		bool ok;

		switch (s) {
		case S_ENGINE:
			hmmsim_read_lock();
			e = engine_get(obj, va);
			hmmsim_read_unlock();
			ok = pt_entry_present(f, e) && pt_entry_pfn(f, e) == PFN0 + i;
			break;
		case S_RADIX:
			ok = radix_lookup(obj, va) == base_val(i);
			break;
		case S_RWLOCK:
			radix_rw_read_lock(obj);
			e = radix_rw_lookup(obj, va);
			radix_rw_read_unlock(obj);
			ok = e == base_val(i);
			break;
		case S_LFHT:
			urcu_memb_read_lock();
			e = lfht_map_lookup(obj, va >> PAGE_SHIFT);
			urcu_memb_read_unlock();
			ok = e == base_val(i);
			break;
#ifdef HAVE_JUDY
		case S_JUDY:
			ok = judy_map_lookup(obj, va >> PAGE_SHIFT) == base_val(i);
			break;
#endif
		default:
			ok = false;
		}
		if (!ok)
			die("%s: page %llu (va %#llx) translates wrong", struct_names[s],
			    (unsigned long long)i, (unsigned long long)va);
	}
}

/* ---- the concurrent writer ------------------------------------------------ */

/*
 * struct churn - one writer thread.
 * @s:		S_ENGINE or S_RWLOCK.
 * @t, @rw:	the structure it updates.
 * @first:	first page of its range (CHURN_PAGES pages).
 * @ready:	set once registered and about to write.
 * @stop:	set by the reader when its phase is over.
 * @ops, @ns:	operations done, and over how long.
 * @err:	first error, or 0.
 */
struct churn {
	int s;
	struct pt_table *t;
	struct radix_rw *rw;
	uint64_t first;
	atomic_bool ready;
	atomic_bool stop;
	uint64_t ops, ns;
	long long err;
};

static void *churn_main(void *arg)
{
	const struct pt_format *f = &pt_format_x86_64_4l;
	struct churn *w = arg;
	uint64_t ops = 0, t0;
	long long err = 0;

	hmmsim_thread_register();
	atomic_store(&w->ready, true);
	t0 = now_ns();
	/* Whole cycles only: the range is mapped again whenever the loop exits. */
	while (!err && !atomic_load_explicit(&w->stop, memory_order_relaxed)) {
		for (uint64_t i = w->first; i < w->first + CHURN_PAGES && !err; i++) {
			if (w->s == S_ENGINE) {
				int64_t r = pt_unmap(w->t, page_va(i), PAGE_SIZE, 0);

				err = r == PAGE_SIZE ? 0 : r ? r : -ENOENT;
			} else {
				err = radix_rw_unmap(w->rw, page_va(i)) == 1 ? 0 : -ENOENT;
			}
		}
		for (uint64_t i = w->first; i < w->first + CHURN_PAGES && !err; i++) {
			if (w->s == S_ENGINE)
				err = pt_map(w->t, page_va(i), PAGE_SIZE, PAGE_SHIFT,
					     engine_entry(f, i), 0);
			else
				err = radix_rw_map(w->rw, page_va(i), base_val(i));
		}
		ops += 2 * CHURN_PAGES;
	}
	w->ns = now_ns() - t0;
	w->ops = ops;
	w->err = err;
	hmmsim_thread_unregister();
	return NULL;
}

static double reader_phase(int s, void *obj, const struct ctx *c)
{
	if (s == S_ENGINE)
		return engine_reader(obj, c, &misses[s]);
	return rwlock_reader(obj, c, &misses[s]);
}

/* One reader phase with the writer churning its range next door. */
static double reader_phase_under_writer(int s, void *obj, const struct ctx *c, double *wops)
{
	struct churn w = {
		.s = s,
		.t = s == S_ENGINE ? obj : NULL,
		.rw = s == S_RWLOCK ? obj : NULL,
		.first = c->pages - CHURN_PAGES,
	};
	pthread_t tid;
	double under;
	int ret;

	ret = pthread_create(&tid, NULL, churn_main, &w);
	if (ret)
		die("pthread_create: %s", strerror(ret));
	while (!atomic_load(&w.ready))
		sched_yield();
	under = reader_phase(s, obj, c);
	atomic_store(&w.stop, true);
	pthread_join(tid, NULL);
	if (w.err)
		die("%s: the writer failed: %lld", struct_names[s], w.err);
	*wops = per_s(w.ops, w.ns);
	return under;
}

/*
 * Reader throughput alone and under the writer, for the engine and the
 * rwlock radix. The phases alternate (alone, under, alone, under...) and the
 * structures too, CONC_ROUNDS times, so a slow spell of the host (this is a
 * shared VM) falls on both sides of each ratio rather than on one.
 */
#define CONC_ROUNDS 3

static void measure_readers(struct pt_table *t, struct radix_rw *rw, const struct ctx *c)
{
	static const int ss[] = { S_ENGINE, S_RWLOCK };
	double alone[2] = { 0 }, under[2] = { 0 }, wops[2] = { 0 };

	for (int round = 0; round < CONC_ROUNDS; round++) {
		for (int k = 0; k < 2; k++) {
			void *obj = ss[k] == S_ENGINE ? (void *)t : (void *)rw;
			double ops;

			alone[k] += reader_phase(ss[k], obj, c);
			under[k] += reader_phase_under_writer(ss[k], obj, c, &ops);
			wops[k] += ops;
			/* The writer's deferred frees must not run under the next phase. */
			if (ss[k] == S_ENGINE)
				hmmsim_barrier();
		}
	}
	for (int k = 0; k < 2; k++) {
		put(ss[k], F_READER_ALONE, c, alone[k] / CONC_ROUNDS);
		put(ss[k], F_READER_UNDER, c, under[k] / CONC_ROUNDS);
		put(ss[k], F_READER_KEEP, c, under[k] / alone[k]);
		put(ss[k], F_WRITER_OPS, c, wops[k] / CONC_ROUNDS);
	}
}

/* ---- the structures of one run ------------------------------------------- */

/*
 * struct tables - every structure of a run, built one after the other and
 * then measured workload by workload, so the engine and each baseline are
 * timed close together (seconds, not a whole run, apart).
 */
struct tables {
	struct pt_table *engine;
	struct radix radix;
	struct radix_rw rw;
	struct lfht_map lfht;
#ifdef HAVE_JUDY
	struct judy_map judy;
#endif
};

static void *table_of(struct tables *tb, int s)
{
	switch (s) {
	case S_ENGINE:
		return tb->engine;
	case S_RADIX:
		return &tb->radix;
	case S_RWLOCK:
		return &tb->rw;
	case S_LFHT:
		return &tb->lfht;
#ifdef HAVE_JUDY
	case S_JUDY:
		return &tb->judy;
#endif
	default:
		return NULL;
	}
}

static void lookups(int s, void *obj, const struct ctx *c)
{
	double rnd, seq;

	verify(s, obj, c);
	switch (s) {
	case S_ENGINE:
		rnd = engine_lookups(obj, c->rnd, c->pages, &misses[s]);
		seq = engine_lookups(obj, c->seq, c->pages, &misses[s]);
		break;
	case S_RADIX:
		rnd = radix_lookups(obj, c->rnd, c->pages, &misses[s]);
		seq = radix_lookups(obj, c->seq, c->pages, &misses[s]);
		break;
	case S_RWLOCK:
		rnd = rwlock_lookups(obj, c->rnd, c->pages, &misses[s]);
		seq = rwlock_lookups(obj, c->seq, c->pages, &misses[s]);
		break;
	case S_LFHT:
		rnd = lfht_lookups(obj, c->rnd, c->pages, &misses[s]);
		seq = lfht_lookups(obj, c->seq, c->pages, &misses[s]);
		break;
#ifdef HAVE_JUDY
	case S_JUDY:
		rnd = judy_lookups(obj, c->rnd, c->pages, &misses[s]);
		seq = judy_lookups(obj, c->seq, c->pages, &misses[s]);
		break;
#endif
	default:
		return;
	}
	put(s, F_LOOKUP_RANDOM_NS, c, rnd);
	put(s, F_LOOKUP_SEQ_NS, c, seq);
}

static struct pt_table *engine_create(enum pt_reclaim reclaim)
{
	struct pt_config cfg = { .reclaim = reclaim, .numa_node = -1 };
	struct pt_table *t;
	int ret = pt_table_create(&pt_format_x86_64_4l, &cfg, &t);

	if (ret)
		die("pt_table_create: %s", strerror(-ret));
	return t;
}

/* Map the whole range with one call; returns pages per second. */
static double engine_map_range(struct pt_table *t, const struct ctx *c)
{
	uint64_t t0 = now_ns();
	int ret = pt_map(t, VA_BASE, c->pages << PAGE_SHIFT, PAGE_SHIFT,
			 engine_entry(&pt_format_x86_64_4l, 0), 0);

	if (ret)
		die("pt_map of the whole range: %s", strerror(-ret));
	return per_s(c->pages, now_ns() - t0);
}

static void engine_unmap_pages(struct pt_table *t, const struct ctx *c, int field)
{
	uint64_t t0 = now_ns();

	for (uint64_t i = 0; i < c->pages; i++) {
		int64_t r = pt_unmap(t, page_va(i), PAGE_SIZE, 0);

		if (r != (int64_t)PAGE_SIZE)
			die("pt_unmap of page %llu: %lld", (unsigned long long)i, (long long)r);
	}
	put(S_ENGINE, field, c, per_s(c->pages, now_ns() - t0));
}

/*
 * Build structure @s page by page, as faults fill a table: time it, and take
 * its memory (its own count and the RSS delta around the build).
 */
static void build(struct tables *tb, int s, const struct ctx *c)
{
	const struct pt_format *f = &pt_format_x86_64_4l;
	uint64_t n = c->pages, rss0, t0, t1;
	int ret = 0;

	rss0 = rss_settle();
	switch (s) {
	case S_ENGINE:
		tb->engine = engine_create(PT_RECLAIM_EAGER);
		t0 = now_ns();
		for (uint64_t i = 0; i < n && !ret; i++)
			ret = pt_map(tb->engine, page_va(i), PAGE_SIZE, PAGE_SHIFT,
				     engine_entry(f, i), 0);
		t1 = now_ns();
		pt_table_stats(tb->engine, &engine_stats);
		engine_levels = pt_table_geometry(tb->engine)->levels;
		put(s, F_BYTES, c, (double)engine_stats.bytes / n);
		put(s, F_RESERVED, c, (double)engine_stats.reserved / n);
		break;
	case S_RADIX:
		if (radix_init(&tb->radix))
			die("radix_init: out of memory");
		t0 = now_ns();
		for (uint64_t i = 0; i < n && !ret; i++)
			ret = radix_map(&tb->radix, page_va(i), base_val(i));
		t1 = now_ns();
		put(s, F_BYTES, c, (double)tb->radix.bytes / n);
		break;
	case S_RWLOCK:
		if (radix_rw_init(&tb->rw))
			die("radix_rw_init failed");
		t0 = now_ns();
		for (uint64_t i = 0; i < n && !ret; i++)
			ret = radix_rw_map(&tb->rw, page_va(i), base_val(i));
		t1 = now_ns();
		put(s, F_BYTES, c, (double)tb->rw.r.bytes / n);
		break;
	case S_LFHT:
		if (lfht_map_init(&tb->lfht, n))
			die("cds_lfht_new failed");
		t0 = now_ns();
		for (uint64_t i = 0; i < n && !ret; i++)
			ret = lfht_map_insert(&tb->lfht, page_va(i) >> PAGE_SHIFT, base_val(i));
		t1 = now_ns();
		put(s, F_NODE_BYTES, c, (double)tb->lfht.node_bytes / n);
		break;
#ifdef HAVE_JUDY
	case S_JUDY:
		tb->judy.arr = NULL;
		t0 = now_ns();
		for (uint64_t i = 0; i < n && !ret; i++)
			ret = judy_map_insert(&tb->judy, page_va(i) >> PAGE_SHIFT, base_val(i));
		t1 = now_ns();
		put(s, F_BYTES, c, (double)judy_map_mem_used(&tb->judy) / n);
		break;
#endif
	default:
		return;
	}
	if (ret)
		die("%s: mapping a page failed: %s", struct_names[s], strerror(-ret));
	put(s, F_MAP, c, per_s(n, t1 - t0));
	put(s, F_RSS, c, (double)(rss_bytes() - rss0) / n);
}

/* Unmap every page of @s one call at a time, timed, then free what is left. */
static void teardown(struct tables *tb, int s, const struct ctx *c)
{
	uint64_t n = c->pages, t0, t1;
	uint64_t bad = 0;

	switch (s) {
	case S_ENGINE:
		engine_unmap_pages(tb->engine, c, F_UNMAP);
		pt_table_destroy(tb->engine);
		hmmsim_barrier();
		return;
	case S_RADIX:
		t0 = now_ns();
		for (uint64_t i = 0; i < n; i++)
			bad += radix_unmap(&tb->radix, page_va(i)) != 1;
		t1 = now_ns();
		radix_destroy(&tb->radix);
		break;
	case S_RWLOCK:
		t0 = now_ns();
		for (uint64_t i = 0; i < n; i++)
			bad += radix_rw_unmap(&tb->rw, page_va(i)) != 1;
		t1 = now_ns();
		radix_rw_destroy(&tb->rw);
		break;
	case S_LFHT:
		t0 = now_ns();
		for (uint64_t i = 0; i < n; i++)
			bad += lfht_map_remove(&tb->lfht, page_va(i) >> PAGE_SHIFT) != 1;
		t1 = now_ns();
		lfht_map_destroy(&tb->lfht);
		/* A million call_rcu frees: let them finish before timing anything else. */
		urcu_memb_barrier();
		break;
#ifdef HAVE_JUDY
	case S_JUDY:
		t0 = now_ns();
		for (uint64_t i = 0; i < n; i++)
			bad += judy_map_remove(&tb->judy, page_va(i) >> PAGE_SHIFT) != 1;
		t1 = now_ns();
		judy_map_destroy(&tb->judy);
		break;
#endif
	default:
		return;
	}
	if (bad)
		die("%s: %llu pages were not mapped at unmap", struct_names[s],
		    (unsigned long long)bad);
	put(s, F_UNMAP, c, per_s(n, t1 - t0));
}

/* The engine's ranged calls, and page-by-page unmap keeping empty directories. */
static void engine_extras(const struct ctx *c)
{
	uint64_t n = c->pages, t0;
	struct pt_table *t;
	int64_t r;

	t = engine_create(PT_RECLAIM_EAGER);
	put(S_ENGINE, F_MAP_RANGE, c, engine_map_range(t, c));
	verify(S_ENGINE, t, c);
	t0 = now_ns();
	r = pt_unmap(t, VA_BASE, n << PAGE_SHIFT, 0);
	if (r != (int64_t)(n << PAGE_SHIFT))
		die("pt_unmap of the whole range: %lld", (long long)r);
	put(S_ENGINE, F_UNMAP_RANGE, c, per_s(n, now_ns() - t0));
	pt_table_destroy(t);

	/* The same work as the baselines' unmap, which clears leaves and frees nothing. */
	t = engine_create(PT_RECLAIM_KEEP);
	engine_map_range(t, c);
	engine_unmap_pages(t, c, F_UNMAP_KEEP);
	pt_table_destroy(t);
	hmmsim_barrier();
}

/* One run: build everything, then each workload on every structure in turn. */
static void run_once(const struct ctx *c)
{
	static const int order[] = { S_ENGINE, S_RADIX, S_RWLOCK, S_LFHT,
#ifdef HAVE_JUDY
				     S_JUDY,
#endif
	};
	const int ns = (int)(sizeof(order) / sizeof(order[0]));
	struct tables tb;

	fprintf(stderr, "pt_bench: run %d/%d: build", c->run + 1, c->runs);
	for (int k = 0; k < ns; k++)
		build(&tb, order[k], c);
	fputs(", lookups", stderr);
	for (int k = 0; k < ns; k++)
		lookups(order[k], table_of(&tb, order[k]), c);
	fputs(", readers and writer", stderr);
	measure_readers(tb.engine, &tb.rw, c);
	fputs(", unmap", stderr);
	for (int k = 0; k < ns; k++)
		teardown(&tb, order[k], c);
	fputs(", ranged\n", stderr);
	engine_extras(c);
}

/* ---- ratios and targets ---------------------------------------------------- */

/* A ratio: @name = (@sa's @fa) / (@sb's @fb), per run, then the median. */
struct ratio_def {
	const char *name;
	int sa, fa, sb, fb;
};

static const struct ratio_def ratio_defs[] = {
	{ "lookup_random_engine_vs_radix", S_ENGINE, F_LOOKUP_RANDOM_NS,
	  S_RADIX, F_LOOKUP_RANDOM_NS },
	{ "lookup_seq_engine_vs_radix", S_ENGINE, F_LOOKUP_SEQ_NS, S_RADIX, F_LOOKUP_SEQ_NS },
	{ "lookup_random_engine_vs_radix_rwlock", S_ENGINE, F_LOOKUP_RANDOM_NS,
	  S_RWLOCK, F_LOOKUP_RANDOM_NS },
	{ "lookup_seq_engine_vs_radix_rwlock", S_ENGINE, F_LOOKUP_SEQ_NS,
	  S_RWLOCK, F_LOOKUP_SEQ_NS },
	{ "lookup_random_engine_vs_rculfhash", S_ENGINE, F_LOOKUP_RANDOM_NS,
	  S_LFHT, F_LOOKUP_RANDOM_NS },
	{ "lookup_seq_engine_vs_rculfhash", S_ENGINE, F_LOOKUP_SEQ_NS, S_LFHT, F_LOOKUP_SEQ_NS },
	{ "lookup_random_engine_vs_judy", S_ENGINE, F_LOOKUP_RANDOM_NS,
	  S_JUDY, F_LOOKUP_RANDOM_NS },
	{ "lookup_seq_engine_vs_judy", S_ENGINE, F_LOOKUP_SEQ_NS, S_JUDY, F_LOOKUP_SEQ_NS },
	{ "map_engine_vs_radix", S_ENGINE, F_MAP, S_RADIX, F_MAP },
	{ "map_range_engine_vs_radix", S_ENGINE, F_MAP_RANGE, S_RADIX, F_MAP },
	{ "map_engine_vs_rculfhash", S_ENGINE, F_MAP, S_LFHT, F_MAP },
	{ "map_engine_vs_judy", S_ENGINE, F_MAP, S_JUDY, F_MAP },
	{ "unmap_engine_vs_radix", S_ENGINE, F_UNMAP, S_RADIX, F_UNMAP },
	{ "unmap_keep_engine_vs_radix", S_ENGINE, F_UNMAP_KEEP, S_RADIX, F_UNMAP },
	{ "unmap_range_engine_vs_radix", S_ENGINE, F_UNMAP_RANGE, S_RADIX, F_UNMAP },
	{ "unmap_engine_vs_rculfhash", S_ENGINE, F_UNMAP, S_LFHT, F_UNMAP },
	{ "unmap_engine_vs_judy", S_ENGINE, F_UNMAP, S_JUDY, F_UNMAP },
	{ "bytes_engine_vs_radix", S_ENGINE, F_BYTES, S_RADIX, F_BYTES },
	{ "bytes_engine_vs_judy", S_ENGINE, F_BYTES, S_JUDY, F_BYTES },
	{ "rss_engine_vs_radix", S_ENGINE, F_RSS, S_RADIX, F_RSS },
	{ "rss_engine_vs_rculfhash", S_ENGINE, F_RSS, S_LFHT, F_RSS },
	{ "rss_engine_vs_judy", S_ENGINE, F_RSS, S_JUDY, F_RSS },
	{ "reader_alone_engine_vs_radix_rwlock", S_ENGINE, F_READER_ALONE,
	  S_RWLOCK, F_READER_ALONE },
	{ "reader_under_writer_engine_vs_radix_rwlock", S_ENGINE, F_READER_UNDER,
	  S_RWLOCK, F_READER_UNDER },
};

#define N_RATIOS (sizeof(ratio_defs) / sizeof(ratio_defs[0]))

static double ratio_runs[N_RATIOS][MAX_RUNS];

/*
 * A target: @ratio names a ratio_defs entry, or is NULL for the engine's
 * field @field; met when the median is <= @limit (@at_most) or >= it.
 */
struct target_def {
	const char *name;
	const char *ratio;
	int field;
	bool at_most;
	double limit;
	const char *means;
};

static const struct target_def target_defs[] = {
	{ "lookup_random_within_1.3x_of_radix", "lookup_random_engine_vs_radix", 0, true, 1.3,
	  "engine random lookup ns / bare radix ns" },
	{ "lookup_seq_within_1.3x_of_radix", "lookup_seq_engine_vs_radix", 0, true, 1.3,
	  "engine sequential lookup ns / bare radix ns" },
	{ "lookup_random_3x_faster_than_rculfhash", "lookup_random_engine_vs_rculfhash", 0, true,
	  1.0 / 3, "engine random lookup ns / rculfhash ns" },
	{ "lookup_seq_3x_faster_than_rculfhash", "lookup_seq_engine_vs_rculfhash", 0, true, 1.0 / 3,
	  "engine sequential lookup ns / rculfhash ns" },
	{ "bytes_per_page_at_most_8.1", NULL, F_BYTES, true, 8.1,
	  "engine directory bytes (pt_table_stats) per densely mapped 4K page" },
	{ "reader_keeps_70pct_under_writer", NULL, F_READER_KEEP, false, 0.7,
	  "engine reader lookups/s under the writer / alone" },
	{ "reader_2x_rwlock_under_writer", "reader_under_writer_engine_vs_radix_rwlock", 0, false,
	  2.0, "engine reader lookups/s / rwlock radix reader lookups/s, both under the writer" },
};

static int ratio_index(const char *name)
{
	for (size_t i = 0; i < N_RATIOS; i++)
		if (!strcmp(ratio_defs[i].name, name))
			return (int)i;
	abort();
}

static void compute_ratios(int runs)
{
	for (size_t i = 0; i < N_RATIOS; i++) {
		const struct ratio_def *d = &ratio_defs[i];

		for (int r = 0; r < runs; r++)
			ratio_runs[i][r] = vals[d->sa][d->fa][r] / vals[d->sb][d->fb][r];
	}
}

/* ---- output ------------------------------------------------------------------ */

/*
 * struct opts - the command line.
 * @runs:	repetitions of every measurement.
 * @pages:	pages in the range (a multiple of 512, at least 1024).
 * @conc_ms:	length of each concurrent reader phase.
 * @quick:	a smoke run for CI: one run, fewer pages, short phases.
 */
struct opts {
	int runs;
	uint64_t pages;
	unsigned int conc_ms;
	bool quick;
};

static void cpu_model(char *buf, size_t len)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[256];

	snprintf(buf, len, "unknown");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');

		if (strncmp(line, "model name", 10) || !colon)
			continue;
		colon += 1 + (colon[1] == ' ');
		colon[strcspn(colon, "\n")] = 0;
		snprintf(buf, len, "%s", colon);
		break;
	}
	fclose(f);
}

static void print_method(struct json *j, const struct opts *o)
{
	json_obj(j, "method");
	json_str(j, "statistic",
		 "each figure is the median over the runs; each ratio is the median of per-run "
		 "ratios (first structure / second, measured in the same run)");
	json_u64(j, "lookup_batch", BATCH);
	json_str(j, "lookup_sections",
		 "engine: hmmsim_read_lock()/unlock() around each batch of 64 pt_lookup() calls; "
		 "radix_rwlock: pthread_rwlock_rdlock per batch; rculfhash: urcu_memb_read_lock "
		 "per batch; radix and judy: none");
	json_str(j, "lookup_orders",
		 "random: a precomputed permutation of all pages (no RNG in the loop); seq: "
		 "ascending; every lookup is an out-of-line call; one untimed pass checks every "
		 "translation first");
	json_str(j, "map_unmap",
		 "one page per call over the whole range, timed around the calls; the engine also "
		 "as one ranged call each way, and unmapped page by page with PT_RECLAIM_KEEP "
		 "(unmap_keep); baselines' unmap clears leaves and frees no nodes; the engine's "
		 "default (eager) unmap frees empty directories through call_rcu");
	json_str(j, "memory",
		 "bytes_per_page: engine pt_table_stats().bytes, radix a counting allocator "
		 "(4096 per node asked of malloc), judy JudyLMemUsed(); rculfhash "
		 "node_bytes_per_page counts its nodes only; rss_bytes_per_page: /proc/self/statm "
		 "delta around the page-by-page build, after malloc_trim()");
	json_obj(j, "concurrent");
	json_u64(j, "threads", 2);
	json_u64(j, "phase_ms", o->conc_ms);
	json_u64(j, "rounds", CONC_ROUNDS);
	json_u64(j, "writer_pages", CHURN_PAGES);
	json_str(j, "reader",
		 "random lookups (batches of 64 per section) over every page but the writer's; "
		 "phases alternate alone / under the writer, engine then radix_rwlock, "
		 "rounds times; figures are the means of a run's phases");
	json_str(j, "writer",
		 "unmaps the last 2 MiB of the range page by page and maps it back, in a loop; "
		 "it shares the top, level-2 and level-1 directories with the reader's pages; "
		 "one pt_unmap/pt_map per page (engine, eager reclaim: the leaf directory is "
		 "freed and reallocated every cycle) or one write-locked update per page "
		 "(radix_rwlock)");
	json_close_obj(j);
	json_close_obj(j);
}

static void print_struct(struct json *j, int s, int runs)
{
	json_obj(j, struct_names[s]);
#ifndef HAVE_JUDY
	if (s == S_JUDY) {
		json_bool(j, "skipped", true);
		json_str(j, "note", "built without libjudy (meson option judy, libjudy-dev)");
		json_close_obj(j);
		return;
	}
#endif
	for (int f = 0; f < F_COUNT; f++) {
		double m = median(vals[s][f], runs);

		if (!isnan(m))
			json_num(j, field_names[f], m);
	}
	if (s == S_ENGINE) {
		/* Level 0 (the leaf directories) first. */
		json_arr(j, "dirs_per_level");
		for (unsigned int l = 0; l < engine_levels; l++)
			json_u64(j, NULL, engine_stats.dirs[l]);
		json_close_arr(j);
	}
	json_u64(j, "lookup_misses", misses[s]);
	json_close_obj(j);
}

static void print_report(const struct opts *o, const struct ctx *c)
{
	char cpu[128], va[32];
	struct json j;
	int met = 0;

	cpu_model(cpu, sizeof(cpu));
	snprintf(va, sizeof(va), "%#llx", (unsigned long long)VA_BASE);
	json_begin(&j, stdout);
	json_str(&j, "benchmark", "pt");
	json_str(&j, "hmmsim_version", hmmsim_version());
	json_bool(&j, "quick", o->quick);
	if (o->quick)
		json_str(&j, "note", "--quick: a smoke run (one run, fewer pages); "
			 "the numbers and the targets mean little");
	json_u64(&j, "cores", (uint64_t)sysconf(_SC_NPROCESSORS_ONLN));
	json_str(&j, "cpu", cpu);
	json_str(&j, "format", pt_format_x86_64_4l.name);
	json_u64(&j, "page_size", PAGE_SIZE);
	json_u64(&j, "pages", c->pages);
	json_u64(&j, "mapped_bytes", c->pages << PAGE_SHIFT);
	json_str(&j, "va_base", va);
	json_u64(&j, "runs", o->runs);
	print_method(&j, o);

	for (int s = 0; s < S_COUNT; s++)
		print_struct(&j, s, o->runs);

	json_obj(&j, "ratios");
	for (size_t i = 0; i < N_RATIOS; i++) {
		double m = median(ratio_runs[i], o->runs);

		if (isnan(m))
			continue;
		json_obj(&j, ratio_defs[i].name);
		json_num(&j, "median", m);
		json_num(&j, "min", min_finite(ratio_runs[i], o->runs));
		json_num(&j, "max", max_finite(ratio_runs[i], o->runs));
		json_close_obj(&j);
	}
	json_close_obj(&j);

	json_obj(&j, "targets");
	for (size_t i = 0; i < sizeof(target_defs) / sizeof(target_defs[0]); i++) {
		const struct target_def *t = &target_defs[i];
		double v = t->ratio ? median(ratio_runs[ratio_index(t->ratio)], o->runs)
				    : median(vals[S_ENGINE][t->field], o->runs);
		bool ok = !isnan(v) && (t->at_most ? v <= t->limit : v >= t->limit);
		char want[32];

		snprintf(want, sizeof(want), "%s %.4g", t->at_most ? "<=" : ">=", t->limit);
		json_obj(&j, t->name);
		json_num(&j, "value", v);
		json_str(&j, "want", want);
		json_str(&j, "means", t->means);
		json_bool(&j, "met", ok);
		json_close_obj(&j);
		met += ok;
	}
	json_close_obj(&j);
	json_u64(&j, "targets_met", met);
	json_u64(&j, "targets_total", sizeof(target_defs) / sizeof(target_defs[0]));
	json_end(&j);
}

/* ---- main --------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: pt_bench [--quick] [--runs N] [--pages N] [--duration-ms N]\n"
		"  --quick          smoke run: 1 run, 131072 pages, 25 ms phases\n"
		"  --runs N         repetitions, median reported (default 5, at most %d)\n"
		"  --pages N        4K pages in the range, a multiple of 512 (default 1048576)\n"
		"  --duration-ms N  length of each concurrent reader phase (default 200)\n",
		MAX_RUNS);
}

static void parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ "runs", required_argument, NULL, 'r' },
		{ "pages", required_argument, NULL, 'p' },
		{ "duration-ms", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	long runs = -1, conc_ms = -1;
	long long pages = -1;
	int ch;

	while ((ch = getopt_long(argc, argv, "qr:p:d:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'q':
			o->quick = true;
			break;
		case 'r':
			runs = strtol(optarg, NULL, 0);
			break;
		case 'p':
			pages = strtoll(optarg, NULL, 0);
			break;
		case 'd':
			conc_ms = strtol(optarg, NULL, 0);
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (optind < argc) {
		usage(stderr);
		exit(2);
	}
	/* --quick sets the defaults; explicit flags still win, in any order. */
	o->runs = o->quick ? 1 : 5;
	o->pages = o->quick ? UINT64_C(1) << 17 : UINT64_C(1) << 20;
	o->conc_ms = o->quick ? 25 : 200;
	if (runs != -1)
		o->runs = (int)runs;
	if (pages != -1)
		o->pages = (uint64_t)pages;
	if (conc_ms != -1)
		o->conc_ms = (unsigned int)conc_ms;
	if (o->runs < 1 || o->runs > MAX_RUNS)
		die("--runs must be 1..%d", MAX_RUNS);
	/* Whole leaf directories, the writer's one among them, and 32-bit indices. */
	if (pages != -1 && (pages < 2 * CHURN_PAGES || pages % CHURN_PAGES || pages > (1ll << 26)))
		die("--pages must be a multiple of %d in [%d, %lld]", CHURN_PAGES, 2 * CHURN_PAGES,
		    1ll << 26);
	if (o->conc_ms < 1 || o->conc_ms > 60000)
		die("--duration-ms must be 1..60000");
}

int main(int argc, char **argv)
{
	struct opts o = { 0 };
	struct ctx c = { 0 };
	int lfht_reg, bad = 0;

	parse_args(argc, argv, &o);

	hmmsim_thread_register();
	lfht_reg = lfht_thread_register();

	c.pages = o.pages;
	c.runs = o.runs;
	c.conc_ns = (uint64_t)o.conc_ms * 1000000u;
	c.rnd = malloc(c.pages * sizeof(*c.rnd));
	c.seq = malloc(c.pages * sizeof(*c.seq));
	c.rd = malloc(c.pages * sizeof(*c.rd));
	if (!c.rnd || !c.seq || !c.rd)
		die("out of memory");
	permutation(c.rnd, (uint32_t)c.pages, SEED);
	for (uint64_t i = 0; i < c.pages; i++) {
		c.seq[i] = (uint32_t)i;
		if (c.rnd[i] < c.pages - CHURN_PAGES)
			c.rd[c.nrd++] = c.rnd[i];
	}

	for (int s = 0; s < S_COUNT; s++)
		for (int f = 0; f < F_COUNT; f++)
			for (int r = 0; r < MAX_RUNS; r++)
				vals[s][f][r] = NAN;

	for (c.run = 0; c.run < o.runs; c.run++)
		run_once(&c);
	compute_ratios(o.runs);
	print_report(&o, &c);

	for (int s = 0; s < S_COUNT; s++) {
		if (misses[s]) {
			fprintf(stderr, "pt_bench: %s: %llu lookups of mapped pages missed\n",
				struct_names[s], (unsigned long long)misses[s]);
			bad = 1;
		}
	}
	free(c.rnd);
	free(c.seq);
	free(c.rd);
	lfht_thread_unregister(lfht_reg);
	hmmsim_thread_unregister();
	return bad;
}
