// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The command queue (seed 003): a GPU's page-table updates are commands on
 * a queue that another engine runs, not work done inside the CPU's critical
 * section. The driver submits PTE writes, PTE clears, TLB invalidations and
 * copies in order and fences when it must know they ran: before a replay,
 * before an invalidate callback returns, before a migration commits.
 *
 * Two executors, chosen per device:
 *  - the simulated clock (default): commands wait in the queue and the
 *    thread that fences runs them, in order, under one executor lock. Runs
 *    are reproducible: the same commands give the same simulated time.
 *  - a device thread that runs commands as they arrive; fences sleep until
 *    it has caught up.
 * Either way one command runs at a time per device, so the updates of a
 * mirror's table never overlap, which is what pt asks of its callers.
 *
 * Each command adds its cost to the device's simulated clock; the copy cost
 * follows UVMSmart's PCIe curve (sim-perf-style.md §2.1).
 */
#include <stdlib.h>
#include <string.h>

#include "gpu/internal.h"

#define PI	3.14159265358979323846
#define SQRT3	1.73205080756887729353

/*
 * atan() for x >= 0, without libm (the library does not link it): fold x
 * into [0, tan(pi/12)] with atan(x) = pi/2 - atan(1/x) and
 * atan(x) = pi/6 + atan((x * sqrt3 - 1) / (x + sqrt3)), then the series.
 */
static double atan_pos(double x)
{
	double y, y2, term, sum = 0, base = 0, sign = 1;
	int k;

	if (x > 1) {
		base = PI / 2;
		sign = -1;
		x = 1 / x;
	}
	if (x > 0.2679491924311227) {
		base += sign * PI / 6;
		x = (x * SQRT3 - 1) / (x + SQRT3);
	}
	y = x;
	y2 = y * y;
	term = y;
	for (k = 0; k < 16; k++) {
		sum += term / (2 * k + 1);
		term *= -y2;
	}
	return base + sign * sum;
}

uint64_t gpu_copy_ns(const struct gpu_cost *cost, uint64_t bytes)
{
	double kib = (double)bytes / 1024.0, gibps, bps;

	if (!bytes || cost->copy_gibps <= 0)
		return 0;
	/* bw(n) = 2a/pi * atan(0.07292 * n[KiB]) GiB/s; transfers from 2 MiB get half. */
	gibps = 2.0 * cost->copy_gibps / PI * atan_pos(0.07292 * kib);
	if (bytes >= GPU_PMD_SIZE)
		gibps /= 2.0;
	bps = gibps * (double)(UINT64_C(1) << 30);
	return (uint64_t)((double)bytes / bps * 1e9 + 0.5);
}

/* A PTE write replaces: clear what is there first, dropping stale TLB entries. */
static void run_pte_write(struct gpu_dev *dev, const struct gpu_cmd *c)
{
	struct gpu_mirror *m = c->mirror;
	int64_t cleared;
	int idx, err;

	cleared = pt_unmap(m->pt, c->va, c->size, 0);
	if (cleared > 0) {
		pthread_rwlock_wrlock(&dev->access);
		GPU_STAT_ADD(dev, tlb_flushed, gpu_tlb_invalidate(dev, m->asid, c->va,
								  c->va + c->size));
		pthread_rwlock_unlock(&dev->access);
		GPU_STAT_INC(dev, tlb_invalidations);
		gpu_clock_add(dev, dev->cfg.cost.tlb_invalidate_ns);
	}
	err = pt_map(m->pt, c->va, c->size, c->shift, c->entry, 0);
	if (err)
		return;		/* no mapping: the access faults again */
	idx = gpu_ps_index(c->shift);
	if (idx >= 0)
		GPU_STAT_ADD(dev, pte_writes[idx], c->size >> c->shift);
	gpu_clock_add(dev, dev->cfg.cost.pte_write_ns * (c->size >> c->shift));
}

/*
 * Clearing may split a large leaf at an edge, which allocates. If that
 * fails, clear the whole leaves instead: dropping more than asked is always
 * safe for a mirror, keeping a stale entry never is.
 */
static void run_pte_clear(struct gpu_dev *dev, const struct gpu_cmd *c)
{
	struct gpu_mirror *m = c->mirror;
	uint64_t big = UINT64_C(1) << fls64_index(dev->geo.page_sizes);
	uint64_t s = c->va, e = c->va + c->size;

	if (pt_unmap(m->pt, s, e - s, c->flags) == -ENOMEM) {
		s = gpu_align_down(s, big);
		e = gpu_min(gpu_align_down(e + big - 1, big), GPU_VA_END);
		pt_unmap(m->pt, s, e - s, c->flags);
	}
	GPU_STAT_INC(dev, pte_clears);
	gpu_clock_add(dev, dev->cfg.cost.pte_clear_ns);
}

static void run_tlb_invalidate(struct gpu_dev *dev, const struct gpu_cmd *c)
{
	uint64_t n;

	/* Waits for the accesses in flight: they may be using what we drop. */
	pthread_rwlock_wrlock(&dev->access);
	n = gpu_tlb_invalidate(dev, c->mirror->asid, c->va, c->va + c->size);
	pthread_rwlock_unlock(&dev->access);
	GPU_STAT_ADD(dev, tlb_flushed, n);
	GPU_STAT_INC(dev, tlb_invalidations);
	gpu_clock_add(dev, dev->cfg.cost.tlb_invalidate_ns);
}

static void run_copy(struct gpu_dev *dev, const struct gpu_cmd *c)
{
	uint64_t i, bytes = c->nr * GPU_PAGE_SIZE;

	if (c->dst_page == 0 && c->src_page == 0 && c->nr == folio_nr_pages(c->dst) &&
	    c->nr == folio_nr_pages(c->src)) {
		folio_copy(c->dst, c->src);
	} else {
		for (i = 0; i < c->nr; i++)
			folio_copy_page(c->dst, c->dst_page + i, c->src, c->src_page + i);
	}
	if (c->to_dev)
		GPU_STAT_ADD(dev, bytes_to_dev, bytes);
	else
		GPU_STAT_ADD(dev, bytes_to_sys, bytes);
	gpu_clock_add(dev, gpu_copy_ns(&dev->cfg.cost, bytes));
}

static void run(struct gpu_dev *dev, const struct gpu_cmd *c)
{
	switch (c->op) {
	case GPU_CMD_PTE_WRITE:
		run_pte_write(dev, c);
		break;
	case GPU_CMD_PTE_CLEAR:
		run_pte_clear(dev, c);
		break;
	case GPU_CMD_TLB_INVALIDATE:
		run_tlb_invalidate(dev, c);
		break;
	case GPU_CMD_COPY:
		run_copy(dev, c);
		break;
	}
	GPU_STAT_INC(dev, commands);
}

/* Pop the oldest command. Context: q->lock. */
static bool pop(struct gpu_queue *q, struct gpu_cmd *out)
{
	if (!q->count)
		return false;
	*out = q->ring[q->head];
	q->head = (q->head + 1) % q->cap;
	q->count--;
	return true;
}

static void *device_thread(void *arg)
{
	struct gpu_dev *dev = arg;
	struct gpu_queue *q = &dev->queue;
	struct gpu_cmd c;

	hmmsim_thread_register();
	pthread_mutex_lock(&q->lock);
	for (;;) {
		while (!q->count && !q->stop)
			pthread_cond_wait(&q->work, &q->lock);
		if (!q->count && q->stop)
			break;
		pop(q, &c);
		pthread_mutex_unlock(&q->lock);
		run(dev, &c);
		pthread_mutex_lock(&q->lock);
		q->completed++;
		pthread_cond_broadcast(&q->done);
	}
	pthread_mutex_unlock(&q->lock);
	hmmsim_thread_unregister();
	return NULL;
}

int gpu_queue_init(struct gpu_dev *dev)
{
	struct gpu_queue *q = &dev->queue;

	memset(q, 0, sizeof(*q));
	q->cap = 64;
	q->ring = calloc(q->cap, sizeof(*q->ring));
	if (!q->ring)
		return -ENOMEM;
	pthread_mutex_init(&q->lock, NULL);
	pthread_mutex_init(&q->exec, NULL);
	pthread_cond_init(&q->work, NULL);
	pthread_cond_init(&q->done, NULL);
	if (dev->cfg.exec == GPU_EXEC_THREAD) {
		if (pthread_create(&q->thread, NULL, device_thread, dev)) {
			pthread_cond_destroy(&q->done);
			pthread_cond_destroy(&q->work);
			pthread_mutex_destroy(&q->exec);
			pthread_mutex_destroy(&q->lock);
			free(q->ring);
			return -ENOMEM;
		}
		q->thread_running = true;
	}
	return 0;
}

void gpu_queue_fini(struct gpu_dev *dev)
{
	struct gpu_queue *q = &dev->queue;

	gpu_queue_fence(dev);
	if (q->thread_running) {
		pthread_mutex_lock(&q->lock);
		q->stop = true;
		pthread_cond_broadcast(&q->work);
		pthread_mutex_unlock(&q->lock);
		pthread_join(q->thread, NULL);
		q->thread_running = false;
	}
	pthread_cond_destroy(&q->done);
	pthread_cond_destroy(&q->work);
	pthread_mutex_destroy(&q->exec);
	pthread_mutex_destroy(&q->lock);
	free(q->ring);
	q->ring = NULL;
}

/* Make room for one more command. Context: q->lock. */
static int grow(struct gpu_queue *q)
{
	struct gpu_cmd *ring;
	size_t i, cap = q->cap * 2;

	ring = malloc(cap * sizeof(*ring));
	if (!ring)
		return -ENOMEM;
	for (i = 0; i < q->count; i++)
		ring[i] = q->ring[(q->head + i) % q->cap];
	free(q->ring);
	q->ring = ring;
	q->cap = cap;
	q->head = 0;
	return 0;
}

int gpu_queue_submit(struct gpu_dev *dev, const struct gpu_cmd *cmd)
{
	struct gpu_queue *q = &dev->queue;

	pthread_mutex_lock(&q->lock);
	if (q->count == q->cap && grow(q)) {
		pthread_mutex_unlock(&q->lock);
		return -ENOMEM;
	}
	q->ring[(q->head + q->count) % q->cap] = *cmd;
	q->count++;
	q->submitted++;
	if (q->thread_running)
		pthread_cond_signal(&q->work);
	pthread_mutex_unlock(&q->lock);
	return 0;
}

void gpu_queue_drain(struct gpu_dev *dev)
{
	struct gpu_queue *q = &dev->queue;
	struct gpu_cmd c;
	uint64_t target;

	if (q->thread_running) {
		pthread_mutex_lock(&q->lock);
		target = q->submitted;
		while (q->completed < target)
			pthread_cond_wait(&q->done, &q->lock);
		pthread_mutex_unlock(&q->lock);
		return;
	}
	/* The clock: run, in order, everything submitted up to now. */
	pthread_mutex_lock(&q->exec);
	pthread_mutex_lock(&q->lock);
	target = q->submitted;
	while (q->completed < target && pop(q, &c)) {
		pthread_mutex_unlock(&q->lock);
		run(dev, &c);
		pthread_mutex_lock(&q->lock);
		q->completed++;
	}
	pthread_mutex_unlock(&q->lock);
	pthread_mutex_unlock(&q->exec);
}

void gpu_queue_fence(struct gpu_dev *dev)
{
	GPU_STAT_INC(dev, fences);
	gpu_queue_drain(dev);
}

/* A submit that cannot fail: on -ENOMEM, drain the queue and try again. */
static void submit(struct gpu_dev *dev, const struct gpu_cmd *c)
{
	while (gpu_queue_submit(dev, c))
		gpu_queue_fence(dev);
}

void gpu_cmd_pte_write(struct gpu_mirror *m, uint64_t va, uint64_t size, unsigned int shift,
		       pt_entry_t entry)
{
	struct gpu_cmd c = {
		.op = GPU_CMD_PTE_WRITE, .mirror = m, .va = va, .size = size, .shift = shift,
		.entry = entry,
	};

	submit(m->dev, &c);
}

void gpu_cmd_clear(struct gpu_mirror *m, uint64_t start, uint64_t end, unsigned int flags)
{
	struct gpu_cmd c = {
		.op = GPU_CMD_PTE_CLEAR, .mirror = m, .va = start, .size = end - start,
		.flags = flags,
	};

	submit(m->dev, &c);
	c.op = GPU_CMD_TLB_INVALIDATE;
	submit(m->dev, &c);
}

void gpu_cmd_copy(struct gpu_dev *dev, struct folio *dst, uint64_t dst_page, struct folio *src,
		  uint64_t src_page, uint64_t nr, bool to_dev)
{
	struct gpu_cmd c = {
		.op = GPU_CMD_COPY, .dst = dst, .dst_page = dst_page, .src = src,
		.src_page = src_page, .nr = nr, .to_dev = to_dev,
	};

	submit(dev, &c);
}
