// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * soak (issue 7): threads doing CPU faults, device faults, invalidations,
 * fork and exit, and migrations at random against one process and two
 * devices, with the checkers run periodically and at the end. Reports the
 * operations done per kind and the violations found, which must be zero.
 *
 *   HMMSIM_SOAK_SECONDS=N	how long (default 45: the CI bound)
 *   HMMSIM_TEST_SEED=S		the threads' random choices (default 1, printed at
 *				the start); the interleaving is the host's, so a
 *				seed replays what each thread does, not when
 *
 * The process has a data region of NR_SLOTS 2 MiB slots (THP-backed) and a
 * scratch region nobody checks. Every data slot has one writer thread (a
 * CPU writer or a device writer of one device) and a sequence count
 * (a seqlock: odd while the slot's bytes change), and every page an
 * expected byte. Oracle: a CPU read (mm_read) or a device read
 * (gpu_dev_read) of a page returns its expected byte (taken after the
 * read, before the sequence is loaded again) whenever the slot's sequence
 * is even and the same before and after the read.
 *
 * Threads (each hmmsim_thread_register'd):
 *  - CPU writers: mm_memset of a run of pages of their slots, then read
 *    it back through the CPU and through a device;
 *  - device writers: gpu_dev_memset through their device, then read back
 *    through the CPU and the device;
 *  - readers: CPU and device reads of random pages, checked (seqlock);
 *  - the invalidator: on data slots (under the slot's lock) mprotect
 *    read-only and back, MADV_DONTNEED (the pages' expected byte becomes
 *    0); on the scratch region munmap + mmap MAP_FIXED, MADV_DONTNEED,
 *    mprotect;
 *  - the scratch worker: CPU writes and device reads and writes of the
 *    scratch region (errors of a changing address space allowed);
 *  - the forker: fork, the child reads the slots that were stable across
 *    the fork and checks them, COW-writes a page of a slot that stayed
 *    writable across the fork (a fork during the invalidator's read-only
 *    moment gives the child a read-only VMA there) and reads it back;
 *    exit;
 *  - the migrator: gpu_migrate_to_dev / gpu_migrate_to_sys of random runs
 *    of the data region, either device, without any slot lock.
 * The main thread stops the world every CHECK_MS (a rwlock that workers
 * hold for reading per operation, preferring the writer) and runs
 * mm_system_check(), mm_check() and gpu_check() of both devices; at the
 * end it also reads every data page through the CPU and both devices.
 * soak_oracle.c holds the checks and the reports: a wrong byte is reported
 * with what the CPU and each device map at the page then, and the byte
 * each reads there again.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "prng.h"
#include "soak.h"

#define OP_NAME(n) #n,
static const char *const op_names[NR_OPS] = { OPS(OP_NAME) };

/* ---- the world --------------------------------------------------------------- */

struct mm_system *sys;
struct mm_struct *proc;
struct gpu_dev *devs[NR_DEVS];
uint64_t data_addr;
struct slot slots[NR_SLOTS];
_Atomic uint8_t expected[NR_PAGES];
static uint64_t scratch_addr;
static pthread_rwlock_t world;
static atomic_bool stop;
static uint64_t base_seed;

static void op_begin(void)
{
	pthread_rwlock_rdlock(&world);
}

static void op_end(void)
{
	pthread_rwlock_unlock(&world);
}

static void slot_write_begin(struct slot *s)
{
	atomic_fetch_add(&s->seq, 1);
}

static void slot_write_end(struct slot *s)
{
	atomic_fetch_add(&s->seq, 1);
}

/* A run of @n pages from a random page of @slot, inside it. */
static uint64_t pick_run(struct prng *r, unsigned int slot, uint64_t *n)
{
	uint64_t first = prng_below(r, PAGES_PER_SLOT);

	*n = 1 + prng_below(r, MAX_RUN);
	if (first + *n > PAGES_PER_SLOT)
		*n = PAGES_PER_SLOT - first;
	return slot * PAGES_PER_SLOT + first;
}

/* ---- threads ---------------------------------------------------------------------- */

/*
 * struct worker - one thread.
 * @dev:	the device of a device writer (NULL: a CPU writer).
 * @slot0, @nslots: a writer's slots.
 */
struct worker {
	pthread_t tid;
	const char *name;
	void *(*fn)(void *);
	struct gpu_dev *dev;
	unsigned int slot0, nslots;
	unsigned int id;
	struct prng r;
	uint8_t *buf;
};

static uint8_t new_byte(struct prng *r)
{
	return (uint8_t)(1 + prng_below(r, 255));
}

static void *writer_thread(void *arg)
{
	struct worker *w = arg;

	hmmsim_thread_register();
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		unsigned int si = w->slot0 + (unsigned int)prng_below(&w->r, w->nslots);
		struct slot *s = &slots[si];
		uint64_t n, first = pick_run(&w->r, si, &n);
		uint8_t v = new_byte(&w->r);
		struct gpu_dev *check_dev = devs[prng_below(&w->r, NR_DEVS)];
		int err;

		op_begin();
		pthread_mutex_lock(&s->lock);
		slot_write_begin(s);
		if (w->dev)
			err = gpu_dev_memset(w->dev, proc, page_va(first), n * SZ_4K, v, NULL);
		else
			err = mm_memset(proc, page_va(first), v, n * SZ_4K);
		if (w->dev && err == -EFAULT) {
			/*
			 * gpu.h: -EFAULT for a page of this device that the CPU
			 * maps read-only (a fork left it COW-shared): the CPU
			 * writes it instead (breaking the COW). The migrator may
			 * have moved it back meanwhile (a read-only system page
			 * then): no snapshot afterwards can tell, so accept it.
			 */
			count(OP_dev_write_cow_efault);
			err = mm_memset(proc, page_va(first), v, n * SZ_4K);
		} else if (w->dev && dev_soft_error(err)) {
			/* Nothing or part written: learn what is there from the CPU. */
			count(OP_dev_busy);
			err = mm_memset(proc, page_va(first), v, n * SZ_4K);
		}
		if (err)
			violation("%s: write of pages %" PRIu64 "+%" PRIu64 ": %s", w->name, first,
				  n, strerror(-err));
		for (uint64_t p = 0; p < n; p++)
			atomic_store(&expected[first + p], v);
		slot_write_end(s);
		count(w->dev ? OP_dev_write : OP_cpu_write);
		/* Read it back through the other agent, and this one. */
		checked_read(w->dev ? NULL : check_dev, first, n, w->buf, w->name);
		checked_read(w->dev ? w->dev : NULL, first, n, w->buf, w->name);
		pthread_mutex_unlock(&s->lock);
		op_end();
	}
	hmmsim_thread_unregister();
	return NULL;
}

static void *reader_thread(void *arg)
{
	struct worker *w = arg;

	hmmsim_thread_register();
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		unsigned int si = (unsigned int)prng_below(&w->r, NR_SLOTS);
		uint64_t n, first = pick_run(&w->r, si, &n);
		unsigned int k = (unsigned int)prng_below(&w->r, NR_DEVS + 1);

		op_begin();
		checked_read(k < NR_DEVS ? devs[k] : NULL, first, n, w->buf, w->name);
		op_end();
	}
	hmmsim_thread_unregister();
	return NULL;
}

static void invalidate_data(struct worker *w)
{
	unsigned int si = (unsigned int)prng_below(&w->r, NR_SLOTS);
	struct slot *s = &slots[si];
	uint64_t n, first = pick_run(&w->r, si, &n);
	int err;

	pthread_mutex_lock(&s->lock);
	if (prng_below(&w->r, 3)) {
		atomic_fetch_add(&s->prot_seq, 1);
		err = mm_mprotect(proc, page_va(first), n * SZ_4K, MM_PROT_READ);
		if (!err)
			checked_read(devs[prng_below(&w->r, NR_DEVS)], first, n, w->buf,
				     "invalidator (read-only)");
		if (!err)
			err = mm_mprotect(proc, page_va(first), n * SZ_4K,
					  MM_PROT_READ | MM_PROT_WRITE);
		atomic_fetch_add(&s->prot_seq, 1);
		if (err)
			violation("invalidator: mprotect of pages %" PRIu64 "+%" PRIu64 ": %s",
				  first, n, strerror(-err));
		count(OP_mprotect);
	} else {
		slot_write_begin(s);
		err = mm_madvise(proc, page_va(first), n * SZ_4K, MM_MADV_DONTNEED);
		if (err)
			violation("invalidator: MADV_DONTNEED of pages %" PRIu64 "+%" PRIu64 ": %s",
				  first, n, strerror(-err));
		for (uint64_t p = 0; p < n; p++)
			atomic_store(&expected[first + p], 0);
		slot_write_end(s);
		count(OP_dontneed);
	}
	pthread_mutex_unlock(&s->lock);
}

static void invalidate_scratch(struct worker *w)
{
	uint64_t off = prng_below(&w->r, SCRATCH_LEN / SZ_4K) * SZ_4K;
	uint64_t len = (1 + prng_below(&w->r, MAX_RUN)) * SZ_4K, addr;
	struct mm_mmap_args a = {
		.addr = scratch_addr,
		.len = SCRATCH_LEN,
		.prot = MM_PROT_READ | MM_PROT_WRITE,
		.flags = MM_MAP_PRIVATE | MM_MAP_ANONYMOUS | MM_MAP_FIXED,
	};
	int err = 0;

	if (off + len > SCRATCH_LEN)
		len = SCRATCH_LEN - off;
	switch (prng_below(&w->r, 3)) {
	case 0:
		err = mm_munmap(proc, scratch_addr, SCRATCH_LEN);
		if (!err)
			err = mm_mmap(proc, &a, &addr);
		if (!err && addr != scratch_addr)
			violation("invalidator: mmap MAP_FIXED at %#" PRIx64 " gave %#" PRIx64,
				  scratch_addr, addr);
		if (!err)
			err = mm_madvise(proc, scratch_addr, SCRATCH_LEN,
					 prng_below(&w->r, 2) ? MM_MADV_HUGEPAGE :
								MM_MADV_NOHUGEPAGE);
		count(OP_remap);
		break;
	case 1:
		err = mm_madvise(proc, scratch_addr + off, len, MM_MADV_DONTNEED);
		count(OP_dontneed);
		break;
	default:
		err = mm_mprotect(proc, scratch_addr + off, len, MM_PROT_READ);
		if (!err)
			err = mm_mprotect(proc, scratch_addr + off, len,
					  MM_PROT_READ | MM_PROT_WRITE);
		count(OP_mprotect);
		break;
	}
	if (err)
		violation("invalidator: scratch operation: %s", strerror(-err));
}

static void *invalidator_thread(void *arg)
{
	struct worker *w = arg;

	hmmsim_thread_register();
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		op_begin();
		if (prng_below(&w->r, 2))
			invalidate_data(w);
		else
			invalidate_scratch(w);
		op_end();
	}
	hmmsim_thread_unregister();
	return NULL;
}

static void *scratch_thread(void *arg)
{
	struct worker *w = arg;

	hmmsim_thread_register();
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		uint64_t off = prng_below(&w->r, SCRATCH_LEN / SZ_4K) * SZ_4K;
		uint64_t len = (1 + prng_below(&w->r, MAX_RUN)) * SZ_4K;
		struct gpu_dev *dev = devs[prng_below(&w->r, NR_DEVS)];
		int err;

		if (off + len > SCRATCH_LEN)
			len = SCRATCH_LEN - off;
		op_begin();
		switch (prng_below(&w->r, 4)) {
		case 0:
			err = mm_memset(proc, scratch_addr + off, new_byte(&w->r), len);
			break;
		case 1:
			err = mm_read(proc, scratch_addr + off, w->buf, len);
			break;
		case 2:
			err = gpu_dev_memset(dev, proc, scratch_addr + off, len, new_byte(&w->r),
					     NULL);
			break;
		default:
			err = gpu_dev_read(dev, proc, scratch_addr + off, len, w->buf, NULL);
			break;
		}
		op_end();
		/* A hole (munmap before the mmap) or a read-only moment. */
		if (err == -EFAULT || err == -EPERM || err == -EACCES || dev_soft_error(err))
			count(OP_scratch_error);
		else if (err)
			violation("scratch: %s", strerror(-err));
		count(OP_scratch_op);
	}
	hmmsim_thread_unregister();
	return NULL;
}

/*
 * The child of a fork: the slots stable across the fork, checked and
 * COW-written (a slot writable all through the fork).
 */
static void child_work(struct worker *w, struct mm_struct *child, const bool *stable,
		       const bool *writable, const uint8_t *snap)
{
	int err;

	for (int i = 0; i < 4; i++) {
		unsigned int si = (unsigned int)prng_below(&w->r, NR_SLOTS);
		uint64_t n, first = pick_run(&w->r, si, &n);

		if (!stable[si])
			continue;
		err = mm_read(child, page_va(first), w->buf, n * SZ_4K);
		if (err) {
			violation("child: read of pages %" PRIu64 "+%" PRIu64 ": %s", first, n,
				  strerror(-err));
			continue;
		}
		for (uint64_t p = 0; p < n; p++)
			for (uint64_t b = 0; b < SZ_4K; b += 512)
				if (w->buf[p * SZ_4K + b] != snap[first + p]) {
					violation("child: page %" PRIu64 ": %#x, expected %#x "
						  "(the parent's at fork)", first + p,
						  w->buf[p * SZ_4K + b], snap[first + p]);
					p = n;
					break;
				}
		count(OP_child_read);
	}
	/* A COW write in the child, read back. */
	{
		uint64_t page = prng_below(&w->r, NR_PAGES);
		uint8_t v = new_byte(&w->r), got = 0;

		if (!writable[page / PAGES_PER_SLOT])
			return;

		err = mm_memset(child, page_va(page), v, SZ_4K);
		if (!err)
			err = mm_read(child, page_va(page) + prng_below(&w->r, SZ_4K), &got, 1);
		if (err)
			violation("child: COW write of page %" PRIu64 ": %s", page, strerror(-err));
		else if (got != v)
			violation("child: COW write of page %" PRIu64 " reads %#x, wrote %#x", page,
				  got, v);
		count(OP_child_cow);
	}
	/*
	 * No mm_check() of the child here: migrations in the parent change the
	 * child's entries of shared pages (the rmap walk, hmm/migrate.c
	 * unmap_remote), and mm_check() wants no operation meanwhile.
	 */
}

static void *forker_thread(void *arg)
{
	struct worker *w = arg;
	static uint8_t snap[NR_PAGES];
	unsigned int seq0[NR_SLOTS], prot0[NR_SLOTS];
	bool stable[NR_SLOTS], writable[NR_SLOTS];

	hmmsim_thread_register();
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		struct mm_struct *child;
		int err;

		op_begin();
		for (int s = 0; s < NR_SLOTS; s++) {
			seq0[s] = atomic_load(&slots[s].seq);
			prot0[s] = atomic_load(&slots[s].prot_seq);
		}
		err = mm_fork(proc, &child);
		if (err) {
			op_end();
			if (err != -ENOMEM)
				violation("fork: %s", strerror(-err));
			continue;
		}
		count(OP_fork);
		for (uint64_t p = 0; p < NR_PAGES; p++)
			snap[p] = atomic_load(&expected[p]);
		for (int s = 0; s < NR_SLOTS; s++) {
			stable[s] = !(seq0[s] & 1) && atomic_load(&slots[s].seq) == seq0[s];
			writable[s] = !(prot0[s] & 1) &&
				      atomic_load(&slots[s].prot_seq) == prot0[s];
		}
		child_work(w, child, stable, writable, snap);
		mm_exit(child);
		op_end();
	}
	hmmsim_thread_unregister();
	return NULL;
}

static void *migrator_thread(void *arg)
{
	struct worker *w = arg;

	hmmsim_thread_register();
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		struct gpu_dev *dev = devs[prng_below(&w->r, NR_DEVS)];
		unsigned int si = (unsigned int)prng_below(&w->r, NR_SLOTS);
		uint64_t n, first = pick_run(&w->r, si, &n);
		bool to_dev = prng_below(&w->r, 2);
		int err;

		if (!prng_below(&w->r, 4)) {	/* sometimes the whole slot */
			first = si * PAGES_PER_SLOT;
			n = PAGES_PER_SLOT;
		}
		op_begin();
		if (to_dev)
			err = gpu_migrate_to_dev(dev, proc, page_va(first), n * SZ_4K, NULL, NULL);
		else
			err = gpu_migrate_to_sys(dev, proc, page_va(first), n * SZ_4K, NULL);
		op_end();
		/*
		 * -ENOENT: a page ended up elsewhere (the other device's, or the
		 * invalidator's read-only moment... ); -ENOMEM, -EBUSY: churn.
		 * -EINVAL: the invalidator made a page read-only meanwhile? No:
		 * it only does so under the slot lock, not held here, so a
		 * read-only VMA can be met: allowed for to_dev.
		 */
		if (err == -ENOENT || dev_soft_error(err) || (to_dev && err == -EINVAL)) {
			count(OP_migrate_soft_error);
			count(err == -ENOENT ? OP_migrate_enoent :
			      err == -ENOMEM ? OP_migrate_enomem :
			      err == -EBUSY ? OP_migrate_ebusy : OP_migrate_einval);
		}
		else if (err)
			violation("migrate_to_%s of pages %" PRIu64 "+%" PRIu64 ": %s",
				  to_dev ? "dev" : "sys", first, n, strerror(-err));
		else
			count(to_dev ? OP_migrate_to_dev : OP_migrate_to_sys);
	}
	hmmsim_thread_unregister();
	return NULL;
}

static uint64_t env_u64(const char *name, uint64_t def)
{
	const char *v = getenv(name);

	return v && *v ? strtoull(v, NULL, 0) : def;
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void setup(void)
{
	struct mm_system_config sc = { .ram = UINT64_C(512) << 20, .thp = MM_THP_MADVISE };
	struct mm_mmap_args a = {
		.len = NR_SLOTS * SZ_2M,
		.prot = MM_PROT_READ | MM_PROT_WRITE,
		.flags = MM_MAP_PRIVATE | MM_MAP_ANONYMOUS,
		.align = SZ_2M,
	};
	pthread_rwlockattr_t ra;
	int err;

	err = mm_system_create(&sc, &sys);
	if (!err)
		err = mm_create(sys, NULL, &proc);
	if (!err)
		err = mm_mmap(proc, &a, &data_addr);
	if (!err)
		err = mm_madvise(proc, data_addr, a.len, MM_MADV_HUGEPAGE);
	/* Start with every slot a THP, zero-filled, as expected[] says. */
	if (!err)
		err = mm_memset(proc, data_addr, 0, a.len);
	a.len = SCRATCH_LEN;
	if (!err)
		err = mm_mmap(proc, &a, &scratch_addr);
	for (int d = 0; !err && d < NR_DEVS; d++) {
		struct gpu_config cfg;

		gpu_config_init(&cfg);
		cfg.name = d ? "gpu1" : "gpu0";
		cfg.memory = UINT64_C(16) << 20;	/* half the data region: -ENOMEM happens */
		cfg.exec = d ? GPU_EXEC_THREAD : GPU_EXEC_CLOCK;
		cfg.format = d ? GPU_FORMAT_X86 : GPU_FORMAT_GP100;
		cfg.size = d ? GPU_SIZE_INFER : GPU_SIZE_MAP_ORDER;
		err = gpu_dev_create(sys, &cfg, &devs[d]);
	}
	if (err) {
		fprintf(stderr, "soak: setup: %s\n", strerror(-err));
		exit(2);
	}
	for (int s = 0; s < NR_SLOTS; s++)
		pthread_mutex_init(&slots[s].lock, NULL);
	pthread_rwlockattr_init(&ra);
	/* The checker must get in between the workers' operations. */
	pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&world, &ra);
	pthread_rwlockattr_destroy(&ra);
}

int main(void)
{
	uint64_t seconds = env_u64("HMMSIM_SOAK_SECONDS", 45);
	struct worker w[] = {
		{ .name = "cpu writer 0", .fn = writer_thread, .slot0 = 0, .nslots = 4 },
		{ .name = "cpu writer 1", .fn = writer_thread, .slot0 = 4, .nslots = 4 },
		{ .name = "gpu0 writer", .fn = writer_thread, .slot0 = 8, .nslots = 4 },
		{ .name = "gpu1 writer", .fn = writer_thread, .slot0 = 12, .nslots = 4 },
		{ .name = "reader 0", .fn = reader_thread },
		{ .name = "reader 1", .fn = reader_thread },
		{ .name = "invalidator", .fn = invalidator_thread },
		{ .name = "scratch", .fn = scratch_thread },
		{ .name = "forker", .fn = forker_thread },
		{ .name = "migrator", .fn = migrator_thread },
	};
	const unsigned int nw = sizeof(w) / sizeof(w[0]);
	uint8_t *buf = malloc(SZ_2M);
	double t0, next;
	uint64_t total = 0;
	int err;

	/* Reproducible by default, as every seeded test here (tests/common/prng.h). */
	base_seed = env_u64("HMMSIM_TEST_SEED", 1);
	printf("soak: %" PRIu64 " s, seed %" PRIu64 " (HMMSIM_TEST_SEED), %u threads\n", seconds,
	       base_seed, nw);
	fflush(stdout);
	hmmsim_thread_register();
	setup();
	if (!buf)
		return 2;
	for (unsigned int i = 0; i < nw; i++) {
		w[i].id = i;
		prng_seed(&w[i].r, base_seed * 1000003u + i + 1);
		w[i].buf = malloc(MAX_RUN * SZ_4K);
		if (!w[i].buf)
			return 2;
		if (w[i].fn == writer_thread && i == 2)
			w[i].dev = devs[0];
		if (w[i].fn == writer_thread && i == 3)
			w[i].dev = devs[1];
		err = pthread_create(&w[i].tid, NULL, w[i].fn, &w[i]);
		if (err) {
			fprintf(stderr, "soak: pthread_create: %s\n", strerror(err));
			return 2;
		}
	}

	t0 = now_s();
	next = t0 + CHECK_MS / 1e3;
	while (now_s() - t0 < (double)seconds) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };

		nanosleep(&ts, NULL);
		if (now_s() < next)
			continue;
		pthread_rwlock_wrlock(&world);
		run_checks("periodic");
		pthread_rwlock_unlock(&world);
		next = now_s() + CHECK_MS / 1e3;
	}
	atomic_store(&stop, true);
	for (unsigned int i = 0; i < nw; i++)
		pthread_join(w[i].tid, NULL);

	run_checks("final");
	final_read_all(buf);
	run_checks("after the final reads");
	for (int d = 0; d < NR_DEVS; d++) {
		err = gpu_dev_destroy(devs[d]);
		if (err)
			violation("gpu_dev_destroy of device %d: %s", d, strerror(-err));
	}
	mm_exit(proc);
	err = mm_system_destroy(sys);
	if (err)
		violation("mm_system_destroy: %s (a leak?)", strerror(-err));

	printf("soak: %.1f s, operations:\n", now_s() - t0);
	for (int o = 0; o < NR_OPS; o++) {
		uint64_t n = atomic_load(&ops[o]);

		printf("  %-20s %" PRIu64 "\n", op_names[o], n);
		if (o != OP_read_skipped && o != OP_scratch_error && o != OP_migrate_soft_error &&
		    o != OP_dev_busy && o != OP_checks && o != OP_dev_write_cow_efault &&
		    (o < OP_migrate_enoent || o > OP_migrate_einval))
			total += n;
	}
	printf("soak: %" PRIu64 " operations, %" PRIu64 " violations\n", total,
	       (uint64_t)atomic_load(&violations));
	for (unsigned int i = 0; i < nw; i++)
		free(w[i].buf);
	free(buf);
	hmmsim_thread_unregister();
	return atomic_load(&violations) ? 1 : 0;
}
