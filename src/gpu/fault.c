// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The fault path: the fault buffer, the handler, and the mapping policies.
 *
 * A device access without a translation records a fault (mirror, page,
 * read or write) in the device's fault buffer and the access stalls. The
 * handler (one pass at a time per device) drains the buffer in batches
 * (NVIDIA UVM: 256 a batch), sorts each batch by address space, address and
 * access (writes first), drops duplicates and faults a mapping made earlier
 * in the batch already covers (nouveau's coalescing), and serves runs of
 * consecutive pages with one hmm_range_fault() each, in the notifier retry
 * loop of linux-hmm.md §1.7. Under the mirror lock, once read_retry says
 * the output is current, it queues the PTE writes; after each batch it
 * fences the queue (UVM's BATCH_FLUSH) and the stalled accesses replay.
 *
 * Page sizes (seed 000), by policy:
 *  - GPU_SIZE_MAP_ORDER: the order of the CPU leaf, clipped to the largest
 *    size the format has, at the leaf's alignment; so with the whole-page
 *    policy one 4K fault in a PMD-mapped THP maps 2M, as nouveau does, and a
 *    THP whose PMD was split maps 4K.
 *  - GPU_SIZE_INFER: ODP's way: fault the aligned block (the largest size up
 *    to 2M, or the hugetlb page) inside the VMA and infer each size from the
 *    folio and the frames (hmm_range_infer_shift()).
 *  - GPU_SIZE_4K, or GPU_MAP_PAGE: one 4K entry per faulting page.
 * Errors go back to the command that recorded the fault: -EFAULT and
 * -EPERM from hmm_range_fault(), -EFAULT when a write was asked and the
 * page stays read-only (test_hmm's check), -EBUSY when the retry bound
 * expires.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gpu/internal.h"

#define RUN_MAX_PAGES	GPU_RUN_MAX_PAGES

uint64_t gpu_now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

bool gpu_fault_record(struct gpu_dev *dev, struct gpu_fault_ctx *ctx, struct gpu_mirror *m,
		      uint64_t va, bool write)
{
	unsigned int cap = dev->cfg.fault_buffer;
	struct gpu_fault *f;

	pthread_mutex_lock(&dev->fb_lock);
	if (dev->fb_count == cap) {
		pthread_mutex_unlock(&dev->fb_lock);
		return false;
	}
	f = &dev->fb[(dev->fb_head + dev->fb_count) % cap];
	f->mirror = m;
	f->ctx = ctx;
	f->va = va;
	f->write = write;
	dev->fb_count++;
	pthread_mutex_unlock(&dev->fb_lock);
	GPU_STAT_INC(dev, faults);
	return true;
}

/* ------------------------------------------------------------------------ */
/* The notifier retry loop                                                  */
/* ------------------------------------------------------------------------ */

int gpu_range_fault_locked(struct gpu_range_op *op)
{
	struct gpu_mirror *m = op->mirror;
	struct gpu_dev *dev = m->dev;
	uint64_t deadline = gpu_now_ms() + dev->cfg.retry_timeout_ms;
	unsigned long mseq;
	int ret;

	for (;;) {
		op->range.notifier = &m->notifier;
		op->range.notifier_seq = mmu_interval_read_begin(&m->notifier);
		/*
		 * Our own migrations are invisible to read_retry (their MIGRATE
		 * notification is skipped): a migration that collects a page after
		 * hmm_range_fault() reported it, and clears and copies it before
		 * we commit, would leave us mapping the stale source, and device
		 * writes through it are lost. Such a migration bumps migrate_seq
		 * under the mirror lock after collecting, so compare it there.
		 */
		mseq = __atomic_load_n(&m->migrate_seq, __ATOMIC_ACQUIRE);
		mmap_read_lock(m->mm);
		ret = op->prepare ? op->prepare(op) : 0;
		if (!ret) {
			GPU_STAT_INC(dev, range_faults);
			ret = hmm_range_fault(&op->range);
		}
		mmap_read_unlock(m->mm);
		if (ret != -EBUSY) {
			if (ret)
				return ret;
			gpu_hook(GPU_HOOK_RANGE_FAULTED, dev, op->range.start);
			pthread_mutex_lock(&m->lock);
			if (!mmu_interval_read_retry(&m->notifier, op->range.notifier_seq) &&
			    __atomic_load_n(&m->migrate_seq, __ATOMIC_RELAXED) == mseq) {
				ret = op->commit(op);
				pthread_mutex_unlock(&m->lock);
				return ret;
			}
			pthread_mutex_unlock(&m->lock);
		}
		GPU_STAT_INC(dev, ebusy_retries);
		if (gpu_now_ms() > deadline)
			return -EBUSY;
	}
}

/* ------------------------------------------------------------------------ */
/* Serving one run of faulting pages                                        */
/* ------------------------------------------------------------------------ */

struct serve {
	struct gpu_range_op op;
	struct gpu_dev *dev;
	uint64_t run_start, run_end;	/* the faulting pages */
	const uint8_t *want_write;	/* per run page */
	bool minimal;			/* fault the run only, no wider window */
	uint64_t *pfns;
	size_t cap;
	/* what commit mapped: one extent, for coalescing later faults */
	uint64_t ext_start, ext_end;
	bool ext_write;
	/* the PTE write being gathered */
	uint64_t p_va, p_size, p_pfn;
	unsigned int p_shift;
	pt_entry_t p_attrs;
};

/* The window ODP-style inference faults around the run. Context: the mmap_lock. */
static void infer_window(struct serve *s, uint64_t *ws, uint64_t *we)
{
	struct vm_area_struct *vma = vma_lookup(s->op.mirror->mm, s->run_start);
	unsigned int hshift, shift;
	uint64_t size;

	*ws = s->run_start;
	*we = s->run_end;
	if (!vma)
		return;
	hshift = vma_hugetlb_shift(vma);
	shift = gpu_fit_shift(s->dev->geo.page_sizes, hshift ? hshift : 21);
	size = UINT64_C(1) << shift;
	*ws = gpu_min(*ws, gpu_max(gpu_align_down(s->run_start, size), vma_start(vma)));
	*we = gpu_max(*we, gpu_min(gpu_align_down(s->run_end + size - 1, size), vma_end(vma)));
}

static int serve_prepare(struct gpu_range_op *op)
{
	struct serve *s = container_of(op, struct serve, op);
	uint64_t ws = s->run_start, we = s->run_end, n, i, va;

	if (!s->minimal && s->dev->cfg.map == GPU_MAP_LARGE && s->dev->cfg.size == GPU_SIZE_INFER)
		infer_window(s, &ws, &we);
	n = (we - ws) >> GPU_PAGE_SHIFT;
	if (n > s->cap) {
		uint64_t *p = realloc(s->pfns, n * sizeof(*p));

		if (!p)
			return -ENOMEM;
		s->pfns = p;
		s->cap = n;
	}
	/* Read-fault everything; ask for write where a write faulted. */
	for (i = 0, va = ws; i < n; i++, va += GPU_PAGE_SIZE) {
		bool w = va >= s->run_start && va < s->run_end &&
			 s->want_write[(va - s->run_start) >> GPU_PAGE_SHIFT];

		s->pfns[i] = w ? HMM_PFN_REQ_WRITE : 0;
	}
	op->range.start = ws;
	op->range.end = we;
	op->range.hmm_pfns = s->pfns;
	op->range.default_flags = HMM_PFN_REQ_FAULT;
	op->range.pfn_flags_mask = HMM_PFN_REQ_WRITE;
	op->range.dev_private_owner = s->dev;
	return 0;
}

static void flush_pte(struct serve *s)
{
	if (!s->p_size)
		return;
	gpu_cmd_pte_write(s->op.mirror, s->p_va, s->p_size, s->p_shift,
			  pt_make_entry(s->dev->fmt, s->p_pfn, s->p_attrs));
	s->p_size = 0;
}

/* Queue one leaf, merged with the previous one when they continue each other. */
static void emit(struct serve *s, uint64_t va, unsigned int shift, uint64_t pfn, pt_entry_t attrs)
{
	uint64_t size = UINT64_C(1) << shift;

	if (s->p_size && s->p_shift == shift && s->p_attrs == attrs && s->p_va + s->p_size == va &&
	    s->p_pfn + (s->p_size >> GPU_PAGE_SHIFT) == pfn) {
		s->p_size += size;
	} else {
		flush_pte(s);
		s->p_va = va;
		s->p_size = size;
		s->p_pfn = pfn;
		s->p_shift = shift;
		s->p_attrs = attrs;
	}
	if (s->ext_start == s->ext_end) {
		s->ext_start = va;
		s->ext_end = va + size;
		s->ext_write = attrs & s->dev->fmt->write;
	} else {
		s->ext_start = gpu_min(s->ext_start, va);
		s->ext_end = gpu_max(s->ext_end, va + size);
		s->ext_write = s->ext_write && (attrs & s->dev->fmt->write);
	}
}

/*
 * The device's own memory gets the VRAM bit (nouveau's aperture): a frame
 * of its pool (the pool never changes, unlike the folio a lookup finds).
 */
static pt_entry_t leaf_attrs(struct gpu_dev *dev, uint64_t pfn, bool write)
{
	const struct pt_format *fmt = dev->fmt;
	pt_entry_t a = fmt->valid | (write ? fmt->write : 0);

	if (dev->devmem && phys_pfn_to_pool(dev->machine, pfn) == hmm_devmem_pool(dev->devmem))
		a |= GPU_PTE_VRAM;
	return a;
}

/* The leaf size for page @i of the output, by policy. */
static unsigned int leaf_shift(struct serve *s, uint64_t i, uint64_t n)
{
	struct gpu_dev *dev = s->dev;
	uint64_t e = s->pfns[i];

	if (dev->cfg.map == GPU_MAP_PAGE)
		return GPU_PAGE_SHIFT;
	switch (dev->cfg.size) {
	case GPU_SIZE_MAP_ORDER:
		return gpu_fit_shift(dev->geo.page_sizes, GPU_PAGE_SHIFT + hmm_pfn_to_map_order(e));
	case GPU_SIZE_INFER:
		return hmm_range_infer_shift(dev->machine, s->pfns, s->op.range.start, n, i,
					     dev->geo.page_sizes) ?: GPU_PAGE_SHIFT;
	default:
		return GPU_PAGE_SHIFT;
	}
}

static int serve_commit(struct gpu_range_op *op)
{
	struct serve *s = container_of(op, struct serve, op);
	uint64_t ws = op->range.start, n = (op->range.end - ws) >> GPU_PAGE_SHIFT, i = 0;

	s->ext_start = s->ext_end = 0;
	s->p_size = 0;
	while (i < n) {
		uint64_t e = s->pfns[i], va = ws + (i << GPU_PAGE_SHIFT), pfn, bva, bpfn, size;
		bool write = e & HMM_PFN_WRITE;
		unsigned int shift;

		if (!(e & HMM_PFN_VALID)) {
			i++;
			continue;
		}
		if (va >= s->run_start && va < s->run_end &&
		    s->want_write[(va - s->run_start) >> GPU_PAGE_SHIFT] && !write) {
			/* Our own read-only device page: hmm_range_fault() never faults it. */
			flush_pte(s);
			return -EFAULT;
		}
		pfn = hmm_pfn_to_pfn(e);
		shift = leaf_shift(s, i, n);
		size = UINT64_C(1) << shift;
		bva = gpu_align_down(va, size);
		bpfn = pfn - ((va - bva) >> GPU_PAGE_SHIFT);
		if (bpfn & ((size >> GPU_PAGE_SHIFT) - 1)) {
			/* Never map a large page over frames that do not start aligned. */
			shift = GPU_PAGE_SHIFT;
			size = GPU_PAGE_SIZE;
			bva = va;
			bpfn = pfn;
		}
		emit(s, bva, shift, bpfn, leaf_attrs(s->dev, pfn, write));
		i = gpu_max(i + 1, (bva + size - ws) >> GPU_PAGE_SHIFT);
	}
	flush_pte(s);
	return 0;
}

/*
 * Migrate-on-first-touch: move the block around the run to the device
 * first. When the device memory is full, evict as many pages as were left
 * behind (least recently used first, gpu_mem_evict()) and try once more.
 * Context: dev->fault_lock, nothing else.
 */
static void first_touch(struct serve *s)
{
	struct gpu_dev *dev = s->dev;
	struct gpu_mirror *m = s->op.mirror;
	struct vm_area_struct *vma;
	uint64_t block, ms, me, a, next, moved = 0, nomem;
	int round;

	block = dev->cfg.map == GPU_MAP_LARGE ? GPU_PMD_SIZE : GPU_PAGE_SIZE;
	gpu_mem_epoch_begin(dev);
	for (round = 0; round < 2; round++) {
		nomem = 0;
		mmap_read_lock(m->mm);
		vma = vma_lookup(m->mm, s->run_start);
		if (vma && (vma_flags(vma) & VM_READ) &&
		    !(vma_flags(vma) & (VM_HUGETLB | VM_SHARED))) {
			ms = gpu_max(gpu_align_down(s->run_start, block), vma_start(vma));
			me = gpu_min(gpu_align_down(s->run_end + block - 1, block), vma_end(vma));
			for (a = ms; a < me; a = next) {
				next = gpu_min(me, gpu_align_down(a, GPU_PMD_SIZE) + GPU_PMD_SIZE);
				/* A failure leaves the pages where they are: the fault maps them. */
				gpu_migrate_vma(dev, m, vma, a, next, true, false, &moved, &nomem);
			}
		}
		mmap_read_unlock(m->mm);
		/* Eviction takes no mmap_lock of ours: it unmaps in every process. */
		if (!nomem || round || !gpu_mem_evict(dev, nomem))
			break;
	}
}

static int serve_run(struct serve *s)
{
	int err;

	if (s->dev->cfg.migrate == GPU_MIGRATE_FIRST_TOUCH && s->dev->devmem)
		first_touch(s);
	s->minimal = false;
	err = gpu_range_fault_locked(&s->op);
	if (err == -EFAULT && s->op.range.end - s->op.range.start != s->run_end - s->run_start) {
		/* A page outside the run failed (past a file's end...): fault the run alone. */
		s->minimal = true;
		err = gpu_range_fault_locked(&s->op);
	}
	return err;
}

/* ------------------------------------------------------------------------ */
/* Batches                                                                  */
/* ------------------------------------------------------------------------ */

static int fault_cmp(const void *pa, const void *pb)
{
	const struct gpu_fault *a = pa, *b = pb;

	if (a->mirror->asid != b->mirror->asid)
		return a->mirror->asid < b->mirror->asid ? -1 : 1;
	if (a->va != b->va)
		return a->va < b->va ? -1 : 1;
	if (a->write != b->write)
		return a->write ? -1 : 1;	/* the most demanding access first */
	return 0;
}

/* Is @va already mapped well enough (by an earlier batch)? */
static bool already_mapped(struct gpu_mirror *m, uint64_t va, bool write)
{
	const struct pt_format *fmt = m->dev->fmt;
	pt_entry_t e;
	int err;

	hmmsim_read_lock();
	err = pt_lookup(m->pt, va, &e, NULL);
	hmmsim_read_unlock();
	return !err && pt_entry_present(fmt, e) && (!write || (e & fmt->write));
}

static void fail_faults(struct gpu_fault *f, size_t from, size_t to, int err)
{
	size_t i;

	for (i = from; i < to; i++) {
		if (!f[i].ctx->err)
			f[i].ctx->err = err;
	}
}

static void serve_batch(struct gpu_dev *dev, struct gpu_fault *f, size_t n, struct serve *s,
			uint8_t *want_write)
{
	struct gpu_mirror *ext_mirror = NULL;
	size_t i = 0, j, k;
	uint64_t ext_start = 0, ext_end = 0;
	bool ext_write = false;
	int err;

	while (i < n) {
		struct gpu_mirror *m = f[i].mirror;
		uint64_t start = f[i].va, va = start;
		bool multi = false;

		/* The same page again, or a page a mapping of this batch covers. */
		if ((m == ext_mirror && va >= ext_start && va < ext_end &&
		     (!f[i].write || ext_write)) || already_mapped(m, va, f[i].write)) {
			GPU_STAT_INC(dev, fault_duplicates);
			i++;
			continue;
		}
		/* A run of consecutive pages of one mirror, one entry a page. */
		j = i;
		while (j < n && f[j].mirror == m && f[j].va == va &&
		       (va - start) >> GPU_PAGE_SHIFT < RUN_MAX_PAGES) {
			want_write[(va - start) >> GPU_PAGE_SHIFT] = f[j].write;
			multi |= f[j].ctx != f[i].ctx;
			for (k = j + 1; k < n && f[k].mirror == m && f[k].va == va; k++) {
				GPU_STAT_INC(dev, fault_duplicates);
				multi |= f[k].ctx != f[i].ctx;
			}
			j = k;
			va += GPU_PAGE_SIZE;
		}
		s->op.mirror = m;
		s->run_start = start;
		s->run_end = va;
		s->want_write = want_write;
		err = serve_run(s);
		gpu_clock_add(dev, dev->cfg.cost.fault_page_ns * ((va - start) >> GPU_PAGE_SHIFT));
		if (err) {
			/*
			 * Faults of several commands in one run: serve them one page at a
			 * time, so that an error goes only to whom it belongs.
			 */
			if (multi) {
				for (k = i; k < j; k++) {
					s->run_start = f[k].va;
					s->run_end = f[k].va + GPU_PAGE_SIZE;
					want_write[0] = f[k].write;
					err = serve_run(s);
					if (err)
						fail_faults(f, k, k + 1, err);
				}
			} else {
				fail_faults(f, i, j, err);
			}
			ext_mirror = NULL;
		} else {
			ext_mirror = m;
			ext_start = s->ext_start;
			ext_end = s->ext_end;
			ext_write = s->ext_write;
		}
		i = j;
	}
}

void gpu_fault_service(struct gpu_dev *dev)
{
	unsigned int batch = dev->cfg.fault_batch, cap = dev->cfg.fault_buffer;
	struct serve s = { .dev = dev, .op.prepare = serve_prepare, .op.commit = serve_commit };
	struct gpu_fault *f = dev->svc_batch;
	bool served = false;
	size_t n, i;

	pthread_mutex_lock(&dev->fault_lock);
	s.pfns = dev->svc_pfns;
	s.cap = dev->svc_cap;
	for (;;) {
		pthread_mutex_lock(&dev->fb_lock);
		n = gpu_min(dev->fb_count, batch);
		for (i = 0; i < n; i++)
			f[i] = dev->fb[(dev->fb_head + i) % cap];
		dev->fb_head = (dev->fb_head + n) % cap;
		dev->fb_count -= n;
		pthread_mutex_unlock(&dev->fb_lock);
		if (!n)
			break;
		served = true;
		GPU_STAT_INC(dev, fault_batches);
		gpu_clock_add(dev, dev->cfg.cost.fault_batch_ns);
		qsort(f, n, sizeof(*f), fault_cmp);
		serve_batch(dev, f, n, &s, dev->svc_want);
		gpu_queue_fence(dev);
	}
	/* The output array grows to the largest window and is kept for the next pass. */
	dev->svc_pfns = s.pfns;
	dev->svc_cap = s.cap;
	if (served)
		GPU_STAT_INC(dev, fault_rounds);
	pthread_mutex_unlock(&dev->fault_lock);
}
