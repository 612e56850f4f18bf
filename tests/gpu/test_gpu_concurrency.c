// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * gpu_concurrency (suite 'concurrency', also run under ThreadSanitizer):
 *  - test_hmm's anon_teardown: the device reads a buffer while another
 *    thread unmaps half of it; the read either fails or returns the data;
 *  - devices reading and migrating a region whose bytes never change,
 *    while CPU threads read it, fork and unmap elsewhere in the process:
 *    every successful read sees the bytes;
 *  - device writers and CPU writers on their own pages of one region, each
 *    checking what it wrote through the other agent;
 * with both executors (the clock and the device thread). The checkers run
 * when everything is quiet.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gpu_test.h"
#include "prng.h"

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + t.tv_nsec / 1e9;
}

static int setup(void **state)
{
	gt_setup(NULL);
	return 0;
}

static int teardown(void **state)
{
	gt_teardown();
	return 0;
}

/* ------------------------------------------------------------------------ */
/* anon_teardown                                                            */
/* ------------------------------------------------------------------------ */

struct unmapper {
	struct mm_struct *mm;
	uint64_t addr, len;
	unsigned int delay_us;
};

static void *unmap_half(void *arg)
{
	struct unmapper *u = arg;
	struct timespec t = { 0, (long)u->delay_us * 1000 };

	hmmsim_thread_register();
	nanosleep(&t, NULL);
	mm_munmap(u->mm, u->addr + u->len / 2, u->len / 2);
	hmmsim_thread_unregister();
	return NULL;
}

static void teardown_race(enum gpu_exec exec)
{
	struct gpu_config cfg = gt_config(GPU_FORMAT_GP100);
	struct gpu_dev *dev;
	struct mm_struct *mm = gt_proc();
	uint64_t len = HMM_BUFFER_SIZE;
	int *m = malloc(len);
	struct prng rng;
	int c, ok = 0, efault = 0;

	cfg.exec = exec;
	dev = gt_dev(&cfg);
	prng_seed(&rng, 42);
	for (c = 0; c < 40; c++) {
		struct unmapper u = { .mm = mm, .len = len,
				      .delay_us = (unsigned int)prng_below(&rng, 2000) };
		struct gpu_result r;
		pthread_t t;
		int ret;

		u.addr = gt_anon(mm, len);
		gt_fill_ints(mm, u.addr, len, c);
		assert_int_equal(pthread_create(&t, NULL, unmap_half, &u), 0);
		ret = gpu_dev_read(dev, mm, u.addr, len, m, &r);
		pthread_join(t, NULL);
		if (!ret) {
			ok++;
			assert_int_equal(r.cpages, len >> 12);
			assert_int_equal(r.faults, 1);
			assert_true(gt_ints_ok(m, len, c));
		} else {
			efault++;
			gt_ret(ret, -EFAULT);
		}
		gt_ret(mm_munmap(mm, u.addr, len / 2), 0);
		gt_check();
	}
	print_message("anon_teardown: %d reads whole, %d cut short\n", ok, efault);
	free(m);
}

static void test_anon_teardown_clock(void **state)
{
	teardown_race(GPU_EXEC_CLOCK);
}

static void test_anon_teardown_thread(void **state)
{
	teardown_race(GPU_EXEC_THREAD);
}

/* ------------------------------------------------------------------------ */
/* Constant bytes under migration, fork and unmap                           */
/* ------------------------------------------------------------------------ */

#define STILL_LEN	(2 * SZ_2M)

struct shared {
	struct mm_struct *mm;
	struct gpu_dev *dev[2];
	uint64_t still;		/* constant bytes: byte i of page p is (p + i) & 0xff */
	uint64_t churn;		/* mapped and unmapped by the mutator */
	int stop;
	pthread_mutex_t lock;
	char err[512];
	unsigned long reads[4];
	double seconds;
};

static bool stopping(struct shared *s)
{
	return __atomic_load_n(&s->stop, __ATOMIC_ACQUIRE);
}

__attribute__((format(printf, 2, 3)))
static void report(struct shared *s, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&s->lock);
	if (!s->err[0]) {
		va_start(ap, fmt);
		vsnprintf(s->err, sizeof(s->err), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&s->lock);
	__atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
}

static bool still_ok(struct shared *s, const uint8_t *b, uint64_t addr, uint64_t len,
		     const char *who)
{
	uint64_t i;

	for (i = 0; i < len; i++) {
		uint64_t a = addr + i;

		if (b[i] != (uint8_t)(((a - s->still) >> 12) + (a & 4095))) {
			report(s, "%s read 0x%02x at 0x%" PRIx64, who, b[i], a);
			return false;
		}
	}
	return true;
}

static void *dev_reader(void *arg)
{
	struct shared *s = arg;
	struct gpu_dev *dev = s->dev[1];
	uint8_t *b = malloc(64 * SZ_4K);
	struct prng rng;
	int ret;

	hmmsim_thread_register();
	prng_seed(&rng, 7);
	while (!stopping(s)) {
		uint64_t off = prng_below(&rng, STILL_LEN - 64 * SZ_4K - 100) +
			       prng_below(&rng, 100);
		uint64_t len = 1 + prng_below(&rng, 64 * SZ_4K - 100);

		ret = gpu_dev_read(dev, s->mm, s->still + off, len, b, NULL);
		if (ret && ret != -EBUSY) {
			report(s, "device read: %d", ret);
			break;
		}
		if (!ret && !still_ok(s, b, s->still + off, len, "device"))
			break;
		s->reads[0]++;
	}
	free(b);
	hmmsim_thread_unregister();
	return NULL;
}

static void *cpu_reader(void *arg)
{
	struct shared *s = arg;
	uint8_t *b = malloc(64 * SZ_4K);
	struct prng rng;

	hmmsim_thread_register();
	prng_seed(&rng, 8);
	while (!stopping(s)) {
		uint64_t off = prng_below(&rng, STILL_LEN - 64 * SZ_4K);
		uint64_t len = 1 + prng_below(&rng, 64 * SZ_4K);

		if (mm_read(s->mm, s->still + off, b, len)) {
			report(s, "CPU read failed");
			break;
		}
		if (!still_ok(s, b, s->still + off, len, "CPU"))
			break;
		s->reads[1]++;
	}
	free(b);
	hmmsim_thread_unregister();
	return NULL;
}

static void *migrator(void *arg)
{
	struct shared *s = arg;
	struct prng rng;
	int ret;

	hmmsim_thread_register();
	prng_seed(&rng, 9);
	while (!stopping(s)) {
		uint64_t off = prng_below(&rng, STILL_LEN / SZ_4K - 64) * SZ_4K;
		uint64_t len = (1 + prng_below(&rng, 64)) * SZ_4K;

		if (prng_below(&rng, 3))
			ret = gpu_migrate_to_dev(s->dev[0], s->mm, s->still + off, len, NULL, NULL);
		else
			ret = gpu_migrate_to_sys(s->dev[0], s->mm, s->still + off, len, NULL);
		/* -ENOENT: the CPU took a page back before the read back. */
		if (ret && ret != -ENOENT && ret != -EBUSY) {
			report(s, "migration: %d", ret);
			break;
		}
		s->reads[2]++;
	}
	hmmsim_thread_unregister();
	return NULL;
}

/* Changes elsewhere in the process: mmap, device writes, fork and exit, munmap. */
static void *mutator(void *arg)
{
	struct shared *s = arg;
	struct mm_mmap_args a = { .len = SZ_2M, .prot = RW, .flags = ANON, .align = SZ_2M };
	struct mm_struct *child;
	uint64_t addr;

	hmmsim_thread_register();
	while (!stopping(s)) {
		if (mm_mmap(s->mm, &a, &addr))
			break;
		mm_memset(s->mm, addr, 1, SZ_64K);
		gpu_dev_memset(s->dev[1], s->mm, addr + SZ_64K, SZ_64K, 2, NULL);
		gpu_migrate_to_dev(s->dev[0], s->mm, addr, SZ_64K, NULL, NULL);
		if (!mm_fork(s->mm, &child)) {
			gpu_dev_read(s->dev[0], child, s->still, SZ_64K, NULL, NULL);
			mm_memset(child, addr, 3, SZ_4K);
			mm_exit(child);
		}
		mm_mprotect(s->mm, addr, SZ_64K, MM_PROT_READ);
		mm_munmap(s->mm, addr, SZ_2M);
		s->reads[3]++;
	}
	hmmsim_thread_unregister();
	return NULL;
}

static void still_race(enum gpu_exec exec)
{
	struct gpu_config c0 = gt_config(GPU_FORMAT_GP100), c1 = gt_config(GPU_FORMAT_X86);
	void *(*fns[])(void *) = { dev_reader, cpu_reader, migrator, mutator };
	pthread_t t[4];
	struct shared *s = calloc(1, sizeof(*s));
	uint8_t *b = malloc(STILL_LEN);
	double t0;
	uint64_t i;

	c0.exec = exec;
	c1.exec = exec;
	s->dev[0] = gt_dev(&c0);
	s->dev[1] = gt_dev(&c1);
	s->mm = gt_proc();
	pthread_mutex_init(&s->lock, NULL);
	s->still = gt_anon_thp(s->mm, STILL_LEN);
	for (i = 0; i < STILL_LEN; i++)
		b[i] = (uint8_t)((i >> 12) + (i & 4095));
	gt_ret(mm_write(s->mm, s->still, b, STILL_LEN), 0);
	gt_check();
	t0 = now();
	for (i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, fns[i], s), 0);
	while (!stopping(s) && now() - t0 < 1.5) {
		struct timespec d = { 0, 20 * 1000 * 1000 };

		nanosleep(&d, NULL);
	}
	__atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
	for (i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	if (s->err[0]) {
		print_error("%s\n", s->err);
		fail();
	}
	print_message("%lu device reads, %lu CPU reads, %lu migrations, %lu mutations\n",
		      s->reads[0], s->reads[1], s->reads[2], s->reads[3]);
	gt_ret(mm_read(s->mm, s->still, b, STILL_LEN), 0);
	assert_true(still_ok(s, b, s->still, STILL_LEN, "final CPU"));
	gt_check();
	pthread_mutex_destroy(&s->lock);
	free(s);
	free(b);
}

static void test_still_clock(void **state)
{
	still_race(GPU_EXEC_CLOCK);
}

static void test_still_thread(void **state)
{
	still_race(GPU_EXEC_THREAD);
}

/* ------------------------------------------------------------------------ */
/* Writers: device and CPU, each on its own pages of one region             */
/* ------------------------------------------------------------------------ */

/*
 * Four threads share one region (one PMD span, so they share directories
 * and faults land in the same device batches) but each owns its pages: two
 * write through the device and check through the CPU, two the other way
 * round. Simulated memory is like real memory: two agents on the same bytes
 * at once would be the caller's race, so no bytes are shared.
 */
#define WPAGES		256
#define WTHREADS	4

struct wshared {
	struct mm_struct *mm;
	struct gpu_dev *dev;
	uint64_t base;
	int stop;
	char err[256];
	pthread_mutex_t lock;
};

struct writer {
	struct wshared *w;
	unsigned int id;	/* owns the pages with page % WTHREADS == id */
	unsigned long rounds;
};

static void *writer(void *arg)
{
	struct writer *wr = arg;
	struct wshared *w = wr->w;
	bool dev_writes = wr->id & 1;
	uint8_t *b = malloc(SZ_4K);
	struct prng rng;
	uint64_t i;
	int ret;

	hmmsim_thread_register();
	prng_seed(&rng, 100 + wr->id);
	while (!__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE)) {
		uint64_t page = prng_below(&rng, WPAGES / WTHREADS) * WTHREADS + wr->id;
		uint64_t addr = w->base + page * SZ_4K;
		uint8_t v = (uint8_t)prng_below(&rng, 256);

		if (dev_writes)
			ret = gpu_dev_memset(w->dev, w->mm, addr, SZ_4K, v, NULL);
		else
			ret = mm_memset(w->mm, addr, v, SZ_4K);
		if (!ret)
			ret = dev_writes ? mm_read(w->mm, addr, b, SZ_4K) :
					   gpu_dev_read(w->dev, w->mm, addr, SZ_4K, b, NULL);
		if (ret == -EBUSY)
			continue;
		for (i = 0; !ret && i < SZ_4K; i++) {
			if (b[i] != v)
				ret = -EUCLEAN;
		}
		if (ret) {
			pthread_mutex_lock(&w->lock);
			snprintf(w->err, sizeof(w->err), "thread %u page %" PRIu64 ": %d", wr->id,
				 page, ret);
			pthread_mutex_unlock(&w->lock);
			__atomic_store_n(&w->stop, 1, __ATOMIC_RELEASE);
		}
		wr->rounds++;
	}
	free(b);
	hmmsim_thread_unregister();
	return NULL;
}

static void writers_race(enum gpu_exec exec)
{
	struct gpu_config cfg = gt_config(GPU_FORMAT_GP100);
	struct wshared *w = calloc(1, sizeof(*w));
	struct writer wr[WTHREADS];
	pthread_t t[WTHREADS];
	double t0;
	int i;

	cfg.exec = exec;
	cfg.access_bytes = 1024;
	w->dev = gt_dev(&cfg);
	w->mm = gt_proc();
	w->base = gt_anon(w->mm, WPAGES * SZ_4K);
	pthread_mutex_init(&w->lock, NULL);
	t0 = now();
	for (i = 0; i < WTHREADS; i++) {
		wr[i] = (struct writer){ .w = w, .id = (unsigned int)i };
		assert_int_equal(pthread_create(&t[i], NULL, writer, &wr[i]), 0);
	}
	while (!__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE) && now() - t0 < 1.0) {
		struct timespec d = { 0, 20 * 1000 * 1000 };

		nanosleep(&d, NULL);
	}
	__atomic_store_n(&w->stop, 1, __ATOMIC_RELEASE);
	for (i = 0; i < WTHREADS; i++)
		pthread_join(t[i], NULL);
	if (w->err[0]) {
		print_error("%s\n", w->err);
		fail();
	}
	print_message("writers: %lu %lu %lu %lu rounds\n", wr[0].rounds, wr[1].rounds,
		      wr[2].rounds, wr[3].rounds);
	gt_check();
	pthread_mutex_destroy(&w->lock);
	free(w);
}

static void test_writers_clock(void **state)
{
	writers_race(GPU_EXEC_CLOCK);
}

static void test_writers_thread(void **state)
{
	writers_race(GPU_EXEC_THREAD);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_anon_teardown_clock),
		T(test_anon_teardown_thread),
		T(test_still_clock),
		T(test_still_thread),
		T(test_writers_clock),
		T(test_writers_thread),
	};

	hmmsim_thread_register();
	return cmocka_run_group_tests_name("gpu_concurrency", tests, NULL, NULL);
}
