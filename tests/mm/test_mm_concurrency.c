// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * mm_concurrency (suite 'concurrency', also run under ThreadSanitizer):
 * threads doing CPU reads and writes on one process while another thread
 * changes other ranges of the same process (mprotect, madvise, munmap,
 * mmap, writes of its own), another forks that process and checks and writes
 * the children, and others fork and exit processes of their own. Every
 * thread owns its bytes and checks them exactly; the checkers run at the
 * end, when everything is quiet.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mm_test.h"
#include "prng.h"

#define RW		(MM_PROT_READ | MM_PROT_WRITE)
#define ANON		(MM_MAP_PRIVATE | MM_MAP_ANONYMOUS)
#define NWRITERS	2
#define R1_LEN		(8 * SZ_1M)	/* THP region of the writers */
#define R2_LEN		(SZ_1M)		/* 4 KiB region of the writers */
#define R3_LEN		(8 * SZ_1M)	/* the mutator's region */
#define RUN_SECONDS	1.5

struct shared {
	struct mm_struct *a;
	uint64_t r1, r2, r3;
	int stop;			/* atomic */
	pthread_mutex_t lock;
	char err[512];
	/* Per page of r1 and r2: the bytes ever written there (a 256-bit set each). */
	uint64_t (*seen)[4];
	uint64_t seed;
};

static struct shared sh;

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + t.tv_nsec / 1e9;
}

static bool stopping(void)
{
	return __atomic_load_n(&sh.stop, __ATOMIC_ACQUIRE);
}

static void report(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&sh.lock);
	if (!sh.err[0]) {
		va_start(ap, fmt);
		vsnprintf(sh.err, sizeof(sh.err), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&sh.lock);
	__atomic_store_n(&sh.stop, 1, __ATOMIC_RELEASE);
}

/* Page index over r1 then r2 (the writers' pages). */
static uint64_t wpage_addr(uint64_t i)
{
	return i < PAGES(R1_LEN) ? sh.r1 + i * SZ_4K : sh.r2 + (i - PAGES(R1_LEN)) * SZ_4K;
}

#define NWPAGES (PAGES(R1_LEN) + PAGES(R2_LEN))

static void seen_add(uint64_t page, uint8_t b)
{
	__atomic_fetch_or(&sh.seen[page][b / 64], UINT64_C(1) << (b % 64), __ATOMIC_RELEASE);
}

static bool seen_has(uint64_t page, uint8_t b)
{
	return b == 0 ||
	       (__atomic_load_n(&sh.seen[page][b / 64], __ATOMIC_ACQUIRE) >> (b % 64)) & 1;
}

/* ---------------------------------------------------------------------- */

struct writer {
	pthread_t th;
	int id;
	uint8_t *model;		/* one byte per page of its slice (pages are uniform) */
	unsigned long writes, reads;
};

/* Writer @id owns, in r1 and in r2, the pages whose index is @id modulo NWRITERS... in halves. */
static void writer_slice(int id, uint64_t *first, uint64_t *n)
{
	uint64_t half1 = PAGES(R1_LEN) / NWRITERS, half2 = PAGES(R2_LEN) / NWRITERS;

	/* Two runs: [id * half1, +half1) of r1 and the same of r2; returned as one index space. */
	first[0] = id * half1;
	n[0] = half1;
	first[1] = PAGES(R1_LEN) + id * half2;
	n[1] = half2;
}

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	uint64_t first[2], n[2], idx, page, total;
	uint8_t buf[SZ_4K], b;
	struct prng rng;
	int ret, r;

	hmmsim_thread_register();
	prng_seed(&rng, sh.seed + 17 * (w->id + 1));
	writer_slice(w->id, first, n);
	total = n[0] + n[1];
	w->model = calloc(total, 1);
	while (!stopping()) {
		idx = prng_below(&rng, total);
		r = idx < n[0] ? 0 : 1;
		page = first[r] + (r ? idx - n[0] : idx);
		if (prng_chance(&rng, 60)) {
			b = (uint8_t)(1 + prng_below(&rng, 255));
			seen_add(page, b);
			ret = mm_memset(sh.a, wpage_addr(page), b, SZ_4K);
			if (ret) {
				report("writer %d: mm_memset = %d", w->id, ret);
				break;
			}
			w->model[idx] = b;
			w->writes++;
		} else {
			ret = mm_read(sh.a, wpage_addr(page), buf, SZ_4K);
			if (ret) {
				report("writer %d: mm_read = %d", w->id, ret);
				break;
			}
			for (int k = 0; k < (int)SZ_4K; k++)
				if (buf[k] != w->model[idx]) {
					report("writer %d: page %" PRIu64 " byte %d is %#x, "
					       "wrote %#x", w->id, page, k, buf[k], w->model[idx]);
					goto out;
				}
			w->reads++;
		}
	}
out:
	hmmsim_thread_unregister();
	return NULL;
}

/* Check the writers' pages at the end, single-threaded. */
static void writers_final_check(struct writer *ws)
{
	uint64_t first[2], n[2], idx, page;
	int id, r;

	for (id = 0; id < NWRITERS; id++) {
		writer_slice(id, first, n);
		for (idx = 0; idx < n[0] + n[1]; idx++) {
			r = idx < n[0] ? 0 : 1;
			page = first[r] + (r ? idx - n[0] : idx);
			mt_expect(sh.a, wpage_addr(page), ws[id].model[idx], SZ_4K);
		}
	}
}

/* ---------------------------------------------------------------------- */

struct mutator {
	pthread_t th;
	uint8_t model[PAGES(R3_LEN)];	/* uniform pages */
	uint8_t prot[PAGES(R3_LEN)];	/* 0 unmapped, else MM_PROT_* | 4 */
	unsigned long ops;
};

static void *mutator_main(void *arg)
{
	struct mutator *m = arg;
	struct mm_mmap_args a = { .prot = RW, .flags = ANON | MM_MAP_FIXED };
	uint64_t pg, n, i, out;
	unsigned int prot;
	uint8_t buf[SZ_4K], b;
	enum mm_advice adv;
	struct prng rng;
	bool mapped;
	int ret, op;

	hmmsim_thread_register();
	prng_seed(&rng, sh.seed + 1001);
	memset(m->prot, RW | 4, sizeof(m->prot));
	while (!stopping()) {
		op = (int)prng_below(&rng, 8);
		if (prng_chance(&rng, 30)) {
			n = 512;
			pg = 512 * prng_below(&rng, PAGES(R3_LEN) / 512);
		} else {
			n = 1 + prng_below(&rng, 64);
			pg = prng_below(&rng, PAGES(R3_LEN) - n + 1);
		}
		mapped = true;
		for (i = pg; i < pg + n; i++)
			mapped &= m->prot[i] != 0;
		switch (op) {
		case 0:	/* mprotect */
			prot = prng_chance(&rng, 50) ? MM_PROT_READ : RW;
			ret = mm_mprotect(sh.a, sh.r3 + pg * SZ_4K, n * SZ_4K, prot);
			if (ret != (mapped ? 0 : -ENOMEM)) {
				report("mutator: mprotect = %d", ret);
				goto out;
			}
			if (mapped)
				memset(m->prot + pg, prot | 4, n);
			break;
		case 1:	/* DONTNEED */
			ret = mm_madvise(sh.a, sh.r3 + pg * SZ_4K, n * SZ_4K, MM_MADV_DONTNEED);
			if (ret != (mapped ? 0 : -ENOMEM)) {
				report("mutator: madvise = %d", ret);
				goto out;
			}
			if (mapped)
				memset(m->model + pg, 0, n);
			break;
		case 2:	/* HUGEPAGE or NOHUGEPAGE */
			adv = prng_chance(&rng, 50) ? MM_MADV_HUGEPAGE : MM_MADV_NOHUGEPAGE;
			ret = mm_madvise(sh.a, sh.r3 + pg * SZ_4K, n * SZ_4K, adv);
			if (ret != (mapped ? 0 : -ENOMEM)) {
				report("mutator: madvise = %d", ret);
				goto out;
			}
			break;
		case 3:	/* munmap */
			ret = mm_munmap(sh.a, sh.r3 + pg * SZ_4K, n * SZ_4K);
			if (ret) {
				report("mutator: munmap = %d", ret);
				goto out;
			}
			memset(m->prot + pg, 0, n);
			break;
		case 4:	/* mmap FIXED */
			a.addr = sh.r3 + pg * SZ_4K;
			a.len = n * SZ_4K;
			ret = mm_mmap(sh.a, &a, &out);
			if (ret || out != a.addr) {
				report("mutator: mmap = %d", ret);
				goto out;
			}
			memset(m->prot + pg, RW | 4, n);
			memset(m->model + pg, 0, n);
			break;
		default: /* write or read one page of its own */
			if (!m->prot[pg]) {
				ret = mm_read(sh.a, sh.r3 + pg * SZ_4K, buf, 1);
				if (ret != -EFAULT) {
					report("mutator: read of a hole = %d", ret);
					goto out;
				}
			} else if ((m->prot[pg] & MM_PROT_WRITE) && prng_chance(&rng, 60)) {
				b = (uint8_t)prng_next(&rng);
				ret = mm_memset(sh.a, sh.r3 + pg * SZ_4K, b, SZ_4K);
				if (ret) {
					report("mutator: memset = %d", ret);
					goto out;
				}
				m->model[pg] = b;
			} else {
				ret = mm_read(sh.a, sh.r3 + pg * SZ_4K, buf, SZ_4K);
				if (ret) {
					report("mutator: read = %d", ret);
					goto out;
				}
				for (i = 0; i < SZ_4K; i++)
					if (buf[i] != m->model[pg]) {
						report("mutator: r3 page %" PRIu64 " is %#x, "
						       "expected %#x", pg, buf[i], m->model[pg]);
						goto out;
					}
			}
		}
		m->ops++;
	}
out:
	hmmsim_thread_unregister();
	return NULL;
}

static void mutator_final_check(struct mutator *m)
{
	uint64_t pg;
	char c;

	for (pg = 0; pg < PAGES(R3_LEN); pg++) {
		if (!m->prot[pg])
			assert_int_equal(mm_read(sh.a, sh.r3 + pg * SZ_4K, &c, 1), -EFAULT);
		else
			mt_expect(sh.a, sh.r3 + pg * SZ_4K, m->model[pg], SZ_4K);
	}
}

/* ---------------------------------------------------------------------- */

/* Forks the writers' process; the child sees only bytes that were written, then COWs. */
static void *forker_a_main(void *arg)
{
	unsigned long *forks = arg;
	struct mm_struct *c;
	uint8_t buf[SZ_4K];
	struct prng rng;
	uint64_t page;
	int ret, k, j;

	hmmsim_thread_register();
	prng_seed(&rng, sh.seed + 2002);
	while (!stopping()) {
		ret = mm_fork(sh.a, &c);
		if (ret) {
			report("forker: mm_fork(A) = %d", ret);
			break;
		}
		for (k = 0; k < 16; k++) {
			page = prng_below(&rng, NWPAGES);
			ret = mm_read(c, wpage_addr(page), buf, SZ_4K);
			if (ret) {
				report("forker: child read = %d", ret);
				goto exit_child;
			}
			for (j = 0; j < (int)SZ_4K; j++)
				if (!seen_has(page, buf[j])) {
					report("forker: child page %" PRIu64 " byte %d is "
					       "%#x, never written there", page, j, buf[j]);
					goto exit_child;
				}
			/* The child's write stays in the child (the writers check the parent). */
			ret = mm_memset(c, wpage_addr(page), 0, SZ_4K);
			if (ret) {
				report("forker: child memset = %d", ret);
				goto exit_child;
			}
		}
exit_child:
		mm_exit(c);
		(*forks)++;
	}
	hmmsim_thread_unregister();
	return NULL;
}

/* A family of its own: create, populate, fork children and grandchildren, exit them. */
static void *family_main(void *arg)
{
	unsigned long *rounds = arg;
	struct mm_mmap_args ta = { .len = SZ_4M, .prot = RW, .flags = ANON, .align = SZ_2M };
	struct mm_mmap_args sa = { .len = SZ_64K, .prot = RW, .flags = ANON };
	struct mm_struct *b, *c, *d;
	uint64_t t = 0, s = 0, off;
	uint8_t buf[SZ_4K];
	struct prng rng;
	int ret, k;

	hmmsim_thread_register();
	prng_seed(&rng, sh.seed + 3003 + (uint64_t)(uintptr_t)arg);
	while (!stopping()) {
		ret = mm_create(mt.sys, NULL, &b);
		if (!ret)
			ret = mm_mmap(b, &ta, &t);
		if (!ret)
			ret = mm_madvise(b, t, SZ_4M, MM_MADV_HUGEPAGE);
		if (!ret)
			ret = mm_mmap(b, &sa, &s);
		if (!ret)
			ret = mm_memset(b, t, 0xb1, SZ_4M);
		if (!ret)
			ret = mm_memset(b, s, 0xb2, SZ_64K);
		if (ret) {
			report("family: setup = %d", ret);
			break;
		}
		for (k = 0; k < 4 && !stopping(); k++) {
			ret = mm_fork(b, &c);
			if (ret) {
				report("family: fork = %d", ret);
				goto out;
			}
			off = prng_below(&rng, SZ_4M - SZ_4K) & ~(SZ_4K - 1);
			ret = mm_memset(c, t + off, 0xc1, SZ_4K);
			if (!ret)
				ret = mm_memset(c, s + (off & (SZ_64K - 1)), 0xc2, 16);
			if (!ret && prng_chance(&rng, 50)) {
				ret = mm_fork(c, &d);
				if (!ret) {
					ret = mm_memset(d, t + off, 0xd1, 1);
					if (!ret)
						ret = mm_read(c, t + off, buf, SZ_4K);
					if (!ret && (buf[0] != 0xc1 || buf[4095] != 0xc1))
						report("family: grandchild's write in the child");
					mm_exit(d);
				}
			}
			if (!ret)
				ret = mm_read(b, t + off, buf, SZ_4K);
			if (ret) {
				report("family: access = %d", ret);
				mm_exit(c);
				goto out;
			}
			if (buf[0] != 0xb1 || buf[4095] != 0xb1)
				report("family: the child's write is seen by the parent");
			mm_exit(c);
		}
		mm_exit(b);
		(*rounds)++;
	}
	hmmsim_thread_unregister();
	return NULL;
out:
	mm_exit(b);
	hmmsim_thread_unregister();
	return NULL;
}

static void test_concurrency(void **state)
{
	struct writer ws[NWRITERS];
	struct mutator *m = calloc(1, sizeof(*m));
	pthread_t fa, fam[2];
	unsigned long forks = 0, rounds[2] = { 0, 0 };
	double t0;
	int i;

	(void)state;
	assert_non_null(m);
	memset(&sh, 0, sizeof(sh));
	pthread_mutex_init(&sh.lock, NULL);
	sh.seed = prng_test_seed("mm_concurrency", 0xc0c0a5e5);
	sh.seen = calloc(NWPAGES, sizeof(*sh.seen));
	assert_non_null(sh.seen);
	mt_setup(NULL);
	sh.a = mt_proc(NULL);
	sh.r1 = mt_anon_thp(sh.a, R1_LEN);
	sh.r2 = mt_anon(sh.a, R2_LEN);
	sh.r3 = mt_anon_thp(sh.a, R3_LEN);
	memset(ws, 0, sizeof(ws));
	for (i = 0; i < NWRITERS; i++) {
		ws[i].id = i;
		assert_int_equal(pthread_create(&ws[i].th, NULL, writer_main, &ws[i]), 0);
	}
	assert_int_equal(pthread_create(&m->th, NULL, mutator_main, m), 0);
	assert_int_equal(pthread_create(&fa, NULL, forker_a_main, &forks), 0);
	for (i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&fam[i], NULL, family_main, &rounds[i]), 0);
	t0 = now();
	while (!stopping() && now() - t0 < RUN_SECONDS) {
		struct timespec ts = { 0, 20 * 1000 * 1000 };

		nanosleep(&ts, NULL);
	}
	__atomic_store_n(&sh.stop, 1, __ATOMIC_RELEASE);
	for (i = 0; i < NWRITERS; i++)
		pthread_join(ws[i].th, NULL);
	pthread_join(m->th, NULL);
	pthread_join(fa, NULL);
	for (i = 0; i < 2; i++)
		pthread_join(fam[i], NULL);
	printf("# writers: %lu/%lu and %lu/%lu writes/reads; mutator %lu ops; %lu forks of A; "
	       "%lu + %lu family rounds\n", ws[0].writes, ws[0].reads, ws[1].writes, ws[1].reads,
	       m->ops, forks, rounds[0], rounds[1]);
	if (sh.err[0]) {
		print_error("%s\n", sh.err);
		fail();
	}
	/* Everything quiet: the checkers, then the data. */
	assert_mm_ok();
	writers_final_check(ws);
	mutator_final_check(m);
	assert_true(ws[0].writes > 0 && ws[1].writes > 0 && m->ops > 0 && forks > 0);
	assert_true(rounds[0] > 0 && rounds[1] > 0);
	for (i = 0; i < NWRITERS; i++)
		free(ws[i].model);
	mt_teardown();
	free(sh.seen);
	free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_concurrency),
	};
	int ret;

	hmmsim_thread_register();
	ret = cmocka_run_group_tests_name("mm_concurrency", tests, NULL, NULL);
	hmmsim_thread_unregister();
	return ret;
}
