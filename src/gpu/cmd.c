// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The dmirror-style commands (linux-hmm.md §5.4 to §5.6): what a test or a
 * trace asks the device to do, with test_hmm's counters and errors.
 *
 * Reads and writes run as a device kernel would: every access of the range
 * is issued; those without a translation record faults and stall; the
 * handler serves the buffer; the stalled accesses replay. faults= counts
 * the handler passes the command waited for, which is test_hmm's count (one
 * dmirror_fault() call per stop, whatever it faulted), so a first touch of a
 * whole buffer is one fault, not one per page.
 */
#include <stdlib.h>
#include <string.h>

#include "gpu/internal.h"

int gpu_check_range(uint64_t addr, uint64_t len, bool aligned)
{
	if (!len || addr + len < addr)
		return -EINVAL;
	if (aligned && ((addr | len) & (GPU_PAGE_SIZE - 1)))
		return -EINVAL;
	if (aligned && addr + len > GPU_VA_END)
		return -EINVAL;
	return 0;
}

static uint64_t pages_of(uint64_t addr, uint64_t len)
{
	return ((addr + len - 1) >> GPU_PAGE_SHIFT) - (addr >> GPU_PAGE_SHIFT) + 1;
}

int gpu_read_back(struct gpu_mirror *m, uint64_t addr, uint64_t len, void *buf,
		  struct gpu_result *res)
{
	uint64_t a, sum = 0, end = addr + len;
	char *bounce = NULL;

	/* As test_hmm, the caller's buffer is written on success only. */
	if (buf && !(bounce = malloc(len)))
		return -ENOMEM;
	gpu_queue_fence(m->dev);
	for (a = addr; a < end; a += GPU_PAGE_SIZE) {
		char *to = bounce ? bounce + (a - addr) : NULL;

		if (gpu_access(m, a, GPU_PAGE_SIZE, GPU_ACC_READ, to, NULL, 0, &sum)) {
			free(bounce);
			return -ENOENT;
		}
	}
	if (bounce) {
		memcpy(buf, bounce, len);
		free(bounce);
	}
	res->cpages = len >> GPU_PAGE_SHIFT;
	res->sum = sum;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Reads and writes                                                         */
/* ------------------------------------------------------------------------ */

static int dev_access(struct gpu_dev *dev, struct mm_struct *mm, uint64_t addr, uint64_t len,
		      enum gpu_access_op op, void *buf, const void *src, int byte,
		      struct gpu_result *res)
{
	uint64_t unit, u0, nunits, left, u, ua, ue, t0, faults = 0, sum = 0, stall_since;
	unsigned int stalled;
	struct gpu_fault_ctx ctx = { 0 };
	struct gpu_mirror *m;
	void *bounce = NULL;
	uint64_t *done;
	int ret;

	if (!dev || !mm)
		return -EINVAL;
	ret = gpu_check_range(addr, len, false);
	if (ret)
		return ret;
	if (addr + len > GPU_VA_END)
		return -EFAULT;		/* no VMA up there */
	ret = gpu_mirror_get(dev, mm, &m);
	if (ret)
		return ret;
	unit = dev->cfg.access_bytes;
	u0 = addr / unit;
	nunits = (addr + len - 1) / unit - u0 + 1;
	done = calloc((nunits + 63) / 64, sizeof(*done));
	/* A read lands in a bounce buffer: the caller's is written on success only. */
	if (buf)
		bounce = malloc(len);
	if (!done || (buf && !bounce)) {
		free(done);
		free(bounce);
		return -ENOMEM;
	}
	t0 = gpu_clock(dev);
	stall_since = gpu_now_ms();
	stalled = 0;
	for (left = nunits;;) {
		uint64_t progress = 0;

		/* One pass: issue every access not done yet. */
		for (u = 0; u < nunits; u++) {
			const void *from;
			void *to;

			if (done[u / 64] & (UINT64_C(1) << (u % 64)))
				continue;
			ua = gpu_max(addr, (u0 + u) * unit);
			ue = gpu_min(addr + len, (u0 + u + 1) * unit);
			to = bounce ? (char *)bounce + (ua - addr) : NULL;
			from = src ? (const char *)src + (ua - addr) : NULL;
			if (!gpu_access(m, ua, ue - ua, op, to, from, byte, &sum)) {
				done[u / 64] |= UINT64_C(1) << (u % 64);
				progress++;
				continue;
			}
			/* No translation: a fault; a full buffer stalls the pass. */
			if (!gpu_fault_record(dev, &ctx, m, gpu_align_down(ua, GPU_PAGE_SIZE),
					      op != GPU_ACC_READ))
				break;
		}
		left -= progress;
		if (!left)
			break;
		faults++;
		gpu_fault_service(dev);
		if (ctx.err) {
			ret = ctx.err;
			goto out;
		}
		/*
		 * Invalidations racing with every replay: give up as test_hmm's
		 * timeout. The first pass can map nothing, so the clock starts
		 * after the first service (a slow one is no stall), and a stall
		 * is at least three replays without progress.
		 */
		if (progress || faults == 1) {
			stall_since = gpu_now_ms();
			stalled = 0;
		} else if (++stalled >= 3 &&
			   gpu_now_ms() - stall_since > dev->cfg.retry_timeout_ms) {
			ret = -EBUSY;
			goto out;
		}
	}
	if (bounce)
		memcpy(buf, bounce, len);
	if (res) {
		res->faults = faults;
		res->cpages = pages_of(addr, len);
		res->sum = op == GPU_ACC_READ ? sum : 0;
		res->sim_ns = gpu_clock(dev) - t0;
	}
out:
	free(bounce);
	free(done);
	return ret;
}

HMMSIM_API int gpu_dev_read(struct gpu_dev *dev, struct mm_struct *mm, uint64_t addr,
			    uint64_t len, void *buf, struct gpu_result *res)
{
	return dev_access(dev, mm, addr, len, GPU_ACC_READ, buf, NULL, 0, res);
}

HMMSIM_API int gpu_dev_write(struct gpu_dev *dev, struct mm_struct *mm, uint64_t addr,
			     uint64_t len, const void *buf, struct gpu_result *res)
{
	if (!buf)
		return -EINVAL;
	return dev_access(dev, mm, addr, len, GPU_ACC_WRITE, NULL, buf, 0, res);
}

HMMSIM_API int gpu_dev_memset(struct gpu_dev *dev, struct mm_struct *mm, uint64_t addr,
			      uint64_t len, int byte, struct gpu_result *res)
{
	return dev_access(dev, mm, addr, len, GPU_ACC_MEMSET, NULL, NULL, byte & 0xff, res);
}

/* ------------------------------------------------------------------------ */
/* Snapshot                                                                 */
/* ------------------------------------------------------------------------ */

#define SNAP_CHUNK	512

struct snap {
	struct gpu_range_op op;
	struct gpu_dev *dev;
	uint64_t pfns[SNAP_CHUNK];
	uint32_t *flags;		/* this chunk's words, or NULL */
};

static int snap_prepare(struct gpu_range_op *op)
{
	/* No fault anywhere: test_hmm passes an uninitialised array with a zero mask. */
	op->range.default_flags = 0;
	op->range.pfn_flags_mask = 0;
	return 0;
}

/* test_hmm's dmirror_mkentry, as flags. */
static uint32_t snap_word(struct gpu_dev *dev, uint64_t e)
{
	unsigned int order = hmm_pfn_to_map_order(e);
	struct folio *folio;
	uint64_t page;
	uint32_t w;

	if (e & HMM_PFN_ERROR)
		return GPU_SNAP_ERROR;
	if (!(e & HMM_PFN_VALID))
		return GPU_SNAP_NONE;
	w = (e & HMM_PFN_WRITE) ? GPU_SNAP_WRITE : GPU_SNAP_READ;
	folio = gpu_pfn_folio(dev, hmm_pfn_to_pfn(e), &page);
	if (folio) {
		/* The kernel's is_zero_pfn(): the 4 KiB zero page, not the huge one. */
		if (is_zero_folio(folio))
			w |= GPU_SNAP_ZERO;
		else if (folio_is_device_private(folio))
			w |= folio->owner == dev ? GPU_SNAP_DEV_PRIVATE_LOCAL :
						   GPU_SNAP_DEV_PRIVATE_REMOTE;
		else if (folio_is_device_coherent(folio))
			w |= folio->owner == dev ? GPU_SNAP_DEV_COHERENT_LOCAL :
						   GPU_SNAP_DEV_COHERENT_REMOTE;
	}
	if (order + GPU_PAGE_SHIFT == 21)
		w |= GPU_SNAP_PMD;
	else if (order + GPU_PAGE_SHIFT == 30)
		w |= GPU_SNAP_PUD;
	return w;
}

static int snap_commit(struct gpu_range_op *op)
{
	struct snap *s = container_of(op, struct snap, op);
	uint64_t i, n = (op->range.end - op->range.start) >> GPU_PAGE_SHIFT;

	/* Under the mirror lock, while the output is current. */
	if (s->flags) {
		for (i = 0; i < n; i++)
			s->flags[i] = snap_word(s->dev, s->pfns[i]);
	}
	return 0;
}

HMMSIM_API int gpu_snapshot(struct gpu_dev *dev, struct mm_struct *mm, uint64_t addr,
			    uint64_t len, uint32_t *flags, struct gpu_result *res)
{
	struct gpu_mirror *m;
	struct snap *s;
	uint64_t a, end = addr + len, t0;
	int ret;

	if (!dev || !mm)
		return -EINVAL;
	ret = gpu_check_range(addr, len, true);
	if (ret)
		return ret;
	ret = gpu_mirror_get(dev, mm, &m);
	if (ret)
		return ret;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->dev = dev;
	s->op.mirror = m;
	s->op.prepare = snap_prepare;
	s->op.commit = snap_commit;
	s->op.range.hmm_pfns = s->pfns;
	s->op.range.dev_private_owner = dev;
	t0 = gpu_clock(dev);
	for (a = addr; a < end && !ret; a += SNAP_CHUNK * GPU_PAGE_SIZE) {
		s->op.range.start = a;
		s->op.range.end = gpu_min(end, a + SNAP_CHUNK * GPU_PAGE_SIZE);
		s->flags = flags ? flags + ((a - addr) >> GPU_PAGE_SHIFT) : NULL;
		ret = gpu_range_fault_locked(&s->op);
	}
	free(s);
	if (ret)
		return ret;
	if (res)
		*res = (struct gpu_result){ .cpages = len >> GPU_PAGE_SHIFT,
					    .sim_ns = gpu_clock(dev) - t0 };
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Device-exclusive access                                                  */
/* ------------------------------------------------------------------------ */

/*
 * The frame of @addr's device-exclusive entry (the folio may still be a
 * PTE-mapped large folio), if the entry is still one of @folio's.
 * Context: the mmap_lock, @folio locked.
 */
static bool exclusive_pfn(struct mm_struct *mm, uint64_t addr, struct folio *folio,
			  uint64_t *pfn)
{
	pt_entry_t e;
	int err;

	hmmsim_read_lock();
	err = pt_lookup(mm_page_table(mm), addr, &e, NULL);
	hmmsim_read_unlock();
	if (err || mm_pte_kind(e) != MM_PTE_DEVICE_EXCLUSIVE)
		return false;
	*pfn = mm_pte_pfn(e);
	return *pfn >= folio_pfn(folio) && *pfn < folio_pfn(folio) + folio_nr_pages(folio);
}

HMMSIM_API int gpu_exclusive(struct gpu_dev *dev, struct mm_struct *mm, uint64_t addr,
			     uint64_t len, void *buf, struct gpu_result *res)
{
	const struct pt_format *fmt;
	struct gpu_result r = { 0 };
	struct gpu_mirror *m;
	struct folio *folio;
	uint64_t a, t0, seq, pfn;
	int ret;

	if (!dev || !mm)
		return -EINVAL;
	ret = gpu_check_range(addr, len, true);
	if (ret)
		return ret;
	ret = gpu_mirror_get(dev, mm, &m);
	if (ret)
		return ret;
	fmt = dev->fmt;
	t0 = gpu_clock(dev);
	mmap_read_lock(mm);
	for (a = addr; a < addr + len && !ret; a += GPU_PAGE_SIZE) {
		/* The EXCLUSIVE notification (owner NULL, as test_hmm) clears our entry first. */
		ret = make_device_exclusive(mm, a, NULL, &folio);
		if (ret)
			break;
		/*
		 * Map it atomic unless something changed the mm since: a CPU
		 * touch restores the entry (its notification would then come
		 * before our mapping, which must not be made).
		 */
		seq = mmu_interval_read_begin(&m->notifier);
		pthread_mutex_lock(&m->lock);
		if (!mmu_interval_read_retry(&m->notifier, seq) &&
		    exclusive_pfn(mm, a, folio, &pfn))
			gpu_cmd_pte_write(m, a, GPU_PAGE_SIZE, GPU_PAGE_SHIFT,
					  pt_make_entry(fmt, pfn,
							fmt->valid | fmt->write | GPU_PTE_ATOMIC));
		pthread_mutex_unlock(&m->lock);
		folio_unlock(folio);
		folio_put(folio);
	}
	mmap_read_unlock(mm);
	if (ret)
		return ret;
	ret = gpu_read_back(m, addr, len, buf, &r);
	if (ret)
		return ret;
	r.sim_ns = gpu_clock(dev) - t0;
	if (res)
		*res = r;
	return 0;
}

struct atomic_scan {
	const struct pt_format *fmt;
	bool found;
};

static int atomic_leaf(void *arg, uint64_t va, uint64_t size, pt_entry_t entry,
		       unsigned int level)
{
	struct atomic_scan *s = arg;

	if (pt_entry_present(s->fmt, entry) && (entry & GPU_PTE_ATOMIC)) {
		s->found = true;
		return 1;
	}
	return 0;
}

HMMSIM_API int gpu_check_exclusive(struct gpu_dev *dev, struct mm_struct *mm, uint64_t addr,
				   uint64_t len)
{
	static const struct pt_walk_ops ops = { .leaf = atomic_leaf };
	struct atomic_scan s;
	struct gpu_mirror *m;
	int ret;

	if (!dev || !mm)
		return -EINVAL;
	ret = gpu_check_range(addr, len, true);
	if (ret)
		return ret;
	m = gpu_mirror_find(dev, mm);
	if (!m)
		return 0;
	s.fmt = dev->fmt;
	s.found = false;
	pthread_mutex_lock(&m->lock);
	gpu_queue_fence(dev);
	hmmsim_read_lock();
	pt_walk(m->pt, addr, len, &ops, &s);
	hmmsim_read_unlock();
	pthread_mutex_unlock(&m->lock);
	return s.found ? -EPERM : 0;
}

/* ------------------------------------------------------------------------ */
/* Inspection                                                               */
/* ------------------------------------------------------------------------ */

HMMSIM_API int gpu_lookup(struct gpu_dev *dev, struct mm_struct *mm, uint64_t va,
			  struct gpu_mapping *out)
{
	const struct pt_format *fmt;
	struct gpu_mirror *m;
	unsigned int level, shift;
	pt_entry_t e;
	int err;

	if (!dev || !mm || !out)
		return -EINVAL;
	m = gpu_mirror_find(dev, mm);
	if (!m)
		return -ENOENT;
	fmt = dev->fmt;
	gpu_queue_fence(dev);
	hmmsim_read_lock();
	err = pt_lookup(m->pt, va, &e, &level);
	hmmsim_read_unlock();
	if (err || !pt_entry_present(fmt, e))
		return -ENOENT;
	shift = pt_leaf_shift(m->pt, e, level);
	out->va = gpu_align_down(va, UINT64_C(1) << shift);
	out->shift = shift;
	out->pfn = pt_entry_pfn(fmt, e);
	out->write = e & fmt->write;
	out->vram = e & GPU_PTE_VRAM;
	out->atomic = e & GPU_PTE_ATOMIC;
	return 0;
}
