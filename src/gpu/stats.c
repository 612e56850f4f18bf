// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Counters and the text forms the trace language prints: the statistics
 * line, and DESIGN.md's snapshot runs ("COUNT:FLAGS" joined by commas,
 * FLAGS the names of test_hmm's HMM_DMIRROR_PROT_* in DESIGN's order).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "gpu/internal.h"

HMMSIM_API void gpu_stats(struct gpu_dev *dev, struct gpu_stats *st)
{
	const uint64_t *src = (const uint64_t *)&dev->stats;
	uint64_t *dst = (uint64_t *)st;
	struct phys_pool_stats ps;
	struct pt_stats pts;
	struct gpu_mirror *m;
	unsigned int l;
	size_t i;

	gpu_queue_fence(dev);
	for (i = 0; i < sizeof(*st) / sizeof(uint64_t); i++)
		dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
	st->dirs = 0;
	st->dir_allocs = 0;
	pthread_mutex_lock(&dev->lock);
	m = dev->mirrors;
	pthread_mutex_unlock(&dev->lock);
	for (; m; m = m->next) {
		pt_table_stats(m->pt, &pts);
		for (l = 0; l < PT_MAX_LEVELS; l++)
			st->dirs += pts.dirs[l];
		st->dir_allocs += pts.allocs;
	}
	st->devmem_pages = 0;
	if (dev->devmem) {
		phys_pool_stats(hmm_devmem_pool(dev->devmem), &ps);
		st->devmem_pages = ps.live_frames;
	}
}

/* A bounded appender with snprintf's return convention. */
struct out {
	char *buf;
	size_t size;
	size_t len;
};

__attribute__((format(printf, 2, 3)))
static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(o->len < o->size ? o->buf + o->len : NULL,
		      o->len < o->size ? o->size - o->len : 0, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->len += (size_t)n;
}

static int done(struct out *o)
{
	if (o->size && o->len >= o->size)
		o->buf[o->size - 1] = '\0';
	else if (o->size && !o->len)
		o->buf[0] = '\0';
	return (int)o->len;
}

HMMSIM_API int gpu_stats_format(const struct gpu_stats *st, char *buf, size_t size)
{
	static const char *const ps[GPU_NR_PAGE_SIZES] = { "4k", "64k", "2m", "1g" };
	struct out o = { buf, size, 0 };
	unsigned int i;

	if (!st)
		return -EINVAL;
	put(&o, "faults=%" PRIu64 " fault_rounds=%" PRIu64 " fault_batches=%" PRIu64
		" fault_duplicates=%" PRIu64 " ebusy_retries=%" PRIu64 " range_faults=%" PRIu64,
	    st->faults, st->fault_rounds, st->fault_batches, st->fault_duplicates,
	    st->ebusy_retries, st->range_faults);
	for (i = 0; i < GPU_NR_PAGE_SIZES; i++)
		put(&o, " pte_%s=%" PRIu64, ps[i], st->pte_writes[i]);
	put(&o, " pte_clears=%" PRIu64 " tlb_hits=%" PRIu64 " tlb_misses=%" PRIu64,
	    st->pte_clears, st->tlb_hits, st->tlb_misses);
	for (i = 0; i < GPU_NR_PAGE_SIZES; i++)
		put(&o, " tlb_fill_%s=%" PRIu64, ps[i], st->tlb_fills[i]);
	put(&o, " tlb_invalidations=%" PRIu64 " tlb_flushed=%" PRIu64 " tlb_evictions=%" PRIu64
		" invalidations=%" PRIu64 " invalidations_skipped=%" PRIu64,
	    st->tlb_invalidations, st->tlb_flushed, st->tlb_evictions, st->invalidations,
	    st->invalidations_skipped);
	put(&o, " pages_to_dev=%" PRIu64 " pages_to_sys=%" PRIu64 " bytes_to_dev=%" PRIu64
		" bytes_to_sys=%" PRIu64 " migrate_to_ram=%" PRIu64 " evictions=%" PRIu64
		" devmem_pages=%" PRIu64 " devmem_frees=%" PRIu64,
	    st->pages_to_dev, st->pages_to_sys, st->bytes_to_dev, st->bytes_to_sys,
	    st->migrate_to_ram, st->evictions, st->devmem_pages, st->devmem_frees);
	put(&o, " dirs=%" PRIu64 " dir_allocs=%" PRIu64 " commands=%" PRIu64 " fences=%" PRIu64
		" sim_ns=%" PRIu64,
	    st->dirs, st->dir_allocs, st->commands, st->fences, st->sim_ns);
	return done(&o);
}

/* ------------------------------------------------------------------------ */
/* Snapshots                                                                */
/* ------------------------------------------------------------------------ */

static const char *const snap_names[GPU_SNAP_NR_FLAGS] = {
	"ERROR", "NONE", "READ", "WRITE", "ZERO", "PMD", "PUD",
	"DEV_PRIVATE_LOCAL", "DEV_PRIVATE_REMOTE", "DEV_COHERENT_LOCAL", "DEV_COHERENT_REMOTE",
};

HMMSIM_API const char *gpu_snap_flag_name(unsigned int bit)
{
	return bit < GPU_SNAP_NR_FLAGS ? snap_names[bit] : NULL;
}

HMMSIM_API int gpu_snapshot_format(const uint32_t *flags, uint64_t npages, char *buf,
				   size_t size)
{
	struct out o = { buf, size, 0 };
	uint64_t i, j;
	unsigned int b;

	if (!flags && npages)
		return -EINVAL;
	for (i = 0; i < npages; i = j) {
		bool first = true;

		for (j = i + 1; j < npages && flags[j] == flags[i]; j++)
			;
		put(&o, "%s%" PRIu64 ":", i ? "," : "", j - i);
		for (b = 0; b < GPU_SNAP_NR_FLAGS; b++) {
			if (!(flags[i] & (1u << b)))
				continue;
			put(&o, "%s%s", first ? "" : "|", snap_names[b]);
			first = false;
		}
		if (first)
			put(&o, "NONE");
	}
	return done(&o);
}

HMMSIM_API uint8_t gpu_snapshot_to_dmirror(uint32_t flags)
{
	uint8_t v = 0;

	if (flags & GPU_SNAP_ERROR)
		return 0xff;
	if (flags & GPU_SNAP_NONE)
		return 0x00;
	if (flags & GPU_SNAP_READ)
		v |= 0x01;
	if (flags & GPU_SNAP_WRITE)
		v |= 0x02;
	if (flags & GPU_SNAP_PMD)
		v |= 0x04;
	if (flags & GPU_SNAP_PUD)
		v |= 0x08;
	if (flags & GPU_SNAP_ZERO)
		v |= 0x10;
	if (flags & GPU_SNAP_DEV_PRIVATE_LOCAL)
		v |= 0x20;
	if (flags & GPU_SNAP_DEV_PRIVATE_REMOTE)
		v |= 0x30;
	if (flags & GPU_SNAP_DEV_COHERENT_LOCAL)
		v |= 0x40;
	if (flags & GPU_SNAP_DEV_COHERENT_REMOTE)
		v |= 0x50;
	return v;
}
