// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * fuzz_mm_api: the input is a sequence of mm API calls on one to four
 * processes, checked against a reference model of every page of a small
 * window of their address spaces.
 *
 * The window: NPG pages (8 MiB, four PMDs) at the same address in every
 * process, just below where get_unmapped_area starts its search, so that
 * placed mappings land in it too and every operation meets the others. A
 * placement outside the window is unmapped at once (and must not overlap a
 * mapping the model knows).
 *
 * The model, per process and page: unmapped, or mapped with a kind (private
 * anonymous, shared anonymous, shared or private file, private or shared
 * hugetlb 2M), a protection (none, read, read-write) and a VMA id (the pages
 * of one VMA share it: mremap needs exactly one VMA, and madvise stops at
 * the first VMA it refuses). The bytes are kept per 512-byte chunk, eight a
 * page: in the process for private pages, in a shared object (a shared
 * anonymous mapping's shmem, a file) for shared pages. A page given to
 * MADV_FREE may read as its old bytes or as zeros (hmmsim has no reclaim
 * yet; the kernel may do either); the first read that sees zeros settles it.
 *
 * After every step: mm_check() of every process and mm_system_check() must
 * be 0, the VMA counters match the model, and a sample of pages is read back
 * with mm_read() and compared (a read of an unreadable page must give
 * -EFAULT). Each operation's return value is predicted from the model, and
 * a failed call must have changed nothing (the model keeps its state, and
 * the later reads check that). At the end every process exits and the
 * machine must be back to what it was: every frame free again, no hugetlb
 * reservation left.
 *
 * -ENOMEM is accepted only where the machine is out of what the call needs:
 * no free frame in the system pool, or, for hugetlb, no unreserved free
 * huge page while the page is not one the mapper reserved.
 *
 * The first two input bytes pick the machine (RAM, hugetlb pool, THP mode,
 * kernel profile); then each operation is an opcode byte and its arguments
 * (missing bytes read as 0).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hmmsim/hmmsim.h>

#define NPG		2048u			/* pages in the window */
#define WIN		((uint64_t)NPG * MM_PAGE_SIZE)
#define HPG		512u			/* pages of a 2 MiB page */
#define CH		8u			/* chunks of a page in the model */
#define CHB		(MM_PAGE_SIZE / CH)
#define MAX_PROCS	4
#define MAX_OBJS	40
#define MAX_STEPS	80
#define MAX_INPUT	1024
#define NFILES		2
#define SAMPLES		6			/* pages read back after each step */
#define END_SAMPLES	48			/* and per process at the end */
#define LOG_LINES	(MAX_STEPS * (SAMPLES + 2) + 8)

static const uint32_t file_pages[NFILES] = { 256, 700 };

enum kind {
	K_NONE,
	K_ANON,		/* private anonymous */
	K_SHARED,	/* shared anonymous (shmem) */
	K_FILE,		/* shared file mapping */
	K_PFILE,	/* private file mapping */
	K_HTLB,		/* private hugetlb, 2M */
	K_HTLB_SHARED,	/* shared hugetlb, 2M */
};

static const char *const kind_names[] = {
	"none", "anon", "shared", "file", "pfile", "hugetlb", "hugetlb-shared",
};

/* Page flags of the model. */
#define PF_LAZY		1u	/* MADV_FREE: the old bytes, or zeros */
#define PF_FILE		2u	/* private file page not written: the file's bytes */
#define PF_RESV		4u	/* private hugetlb: the mapper's reservation, unused */

struct mpage {
	uint8_t kind;
	uint8_t prot;		/* MM_PROT_*; write implies read */
	uint8_t flags;
	uint16_t vma;
	uint16_t obj;
	uint32_t idx;		/* page in the object */
};

struct proc {
	struct mm_struct *mm;
	int id;			/* for the log */
	struct mpage pg[NPG];
	uint8_t val[NPG][CH];
};

struct obj {
	uint32_t npages;	/* pages that exist (a file's size) */
	bool hugetlb;
	uint8_t (*val)[CH];
	uint8_t *resv;		/* shared hugetlb: per huge page, reserved and unused */
};

struct world {
	struct mm_system *sys;
	const struct mm_profile *profile;
	struct proc *p[MAX_PROCS];
	int nr;
	int next_id;
	struct obj obj[MAX_OBJS];
	int nr_obj;
	struct phys_file *file[NFILES];
	int file_obj[NFILES];
	uint64_t base;		/* the window's start */
	uint16_t next_vma;
	uint64_t rng;
	int step;
	bool fragmented;
	/* Input. */
	const uint8_t *in;
	size_t in_len, at;
	/* What happened, printed on failure. */
	char log[LOG_LINES][160];
	int nr_log;
	uint64_t free_at_start;
};

static struct world W;

/*
 * Known bugs whose symptom the fuzzer can be told to accept, so that it
 * fuzzes on past them until they are fixed: HMMSIM_FUZZ_TOLERATE=name,...
 * (README.md). By default nothing is tolerated. None is open now: a new
 * one gets a name here (before the NULL), a TOL_ bit and a README row.
 */
static const char *const tol_names[] = {
	NULL
};
static unsigned int tolerate;
/* HMMSIM_FUZZ_LOG=1: print what each input did (to read a reproducer). */
static bool print_log;

/* ------------------------------------------------------------------------ */
/* Reporting                                                                */
/* ------------------------------------------------------------------------ */

__attribute__((format(printf, 2, 3))) static void logf_(struct world *w, const char *fmt, ...)
{
	va_list ap;

	if (w->nr_log >= LOG_LINES)
		return;
	va_start(ap, fmt);
	vsnprintf(w->log[w->nr_log++], sizeof(w->log[0]), fmt, ap);
	va_end(ap);
}

__attribute__((format(printf, 2, 3), noreturn)) static void die(struct world *w,
								  const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fuzz_mm_api: step %d: ", w->step);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nmachine: profile %s; window at %#" PRIx64 "; operations so far:\n",
		w->profile->name, w->base);
	for (int i = 0; i < w->nr_log; i++)
		fprintf(stderr, "  %s\n", w->log[i]);
	abort();
}

/* ------------------------------------------------------------------------ */
/* Input and randomness                                                     */
/* ------------------------------------------------------------------------ */

static uint8_t get8(struct world *w)
{
	return w->at < w->in_len ? w->in[w->at++] : 0;
}

static uint16_t get16(struct world *w)
{
	uint16_t lo = get8(w);

	return lo | (uint16_t)get8(w) << 8;
}

/* splitmix64: the sample of pages read back, a function of the input. */
static uint64_t rnd(struct world *w)
{
	uint64_t z = (w->rng += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* A page of the window, sometimes aligned to a huge page or near one. */
static uint32_t get_page(struct world *w)
{
	uint16_t v = get16(w);
	uint32_t pg = v % NPG;

	switch (v >> 14) {
	case 1:
		return pg & ~(HPG - 1);
	case 2:
		return (pg & ~(HPG - 1)) + ((v >> 11) & 1 ? 1 : HPG - 1);
	default:
		return pg;
	}
}

/* A length in pages: small, huge-page multiples, near them, or large. */
static uint32_t get_len(struct world *w)
{
	uint8_t l = get8(w);

	switch (l >> 6) {
	case 0:
		return 1 + (l & 63);
	case 1:
		return HPG * (1 + (l & 3));
	case 2:
		return HPG * (1 + ((l >> 2) & 3)) + (l & 3) - 1;
	default:
		return 1 + (l & 63) * 32;
	}
}

/* Clip [*pg, *pg + *n) to the window. */
static void clip(uint32_t *pg, uint32_t *n)
{
	if (!*n)
		*n = 1;
	if (*n > NPG)
		*n = NPG;
	if (*pg + *n > NPG)
		*pg = NPG - *n;
}

static uint64_t addr_of(struct world *w, uint32_t pg)
{
	return w->base + (uint64_t)pg * MM_PAGE_SIZE;
}

/* ------------------------------------------------------------------------ */
/* The model                                                                */
/* ------------------------------------------------------------------------ */

static bool is_hugetlb(const struct mpage *m)
{
	return m->kind == K_HTLB || m->kind == K_HTLB_SHARED;
}

static bool is_shared(const struct mpage *m)
{
	return m->kind == K_SHARED || m->kind == K_FILE || m->kind == K_HTLB_SHARED;
}

/* The page exists: not past the end of its file (else SIGBUS: -EFAULT). */
static bool exists(struct world *w, const struct mpage *m)
{
	if (m->kind != K_FILE && m->kind != K_PFILE)
		return true;
	return m->idx < w->obj[m->obj].npages;
}

static bool readable(struct world *w, const struct mpage *m)
{
	return m->kind != K_NONE && (m->prot & MM_PROT_READ) && exists(w, m);
}

static bool writable(struct world *w, const struct mpage *m)
{
	return m->kind != K_NONE && (m->prot & MM_PROT_WRITE) && exists(w, m);
}

/* Where the bytes of page @i of @p live. */
static uint8_t *bytes_of(struct world *w, struct proc *p, uint32_t i)
{
	const struct mpage *m = &p->pg[i];

	if (is_shared(m) || (m->kind == K_PFILE && (m->flags & PF_FILE)))
		return w->obj[m->obj].val[m->idx];
	return p->val[i];
}

static int obj_new(struct world *w, uint32_t npages, bool hugetlb)
{
	struct obj *o;

	if (w->nr_obj == MAX_OBJS)
		return -1;
	o = &w->obj[w->nr_obj];
	o->npages = npages;
	o->hugetlb = hugetlb;
	o->val = calloc(npages ? npages : 1, CH);
	o->resv = calloc(npages / HPG + 1, 1);
	if (!o->val || !o->resv)
		abort();
	return w->nr_obj++;
}

/* Is [pg, pg + n) mapped everywhere in @p? */
static bool all_mapped(struct proc *p, uint32_t pg, uint32_t n)
{
	for (uint32_t i = pg; i < pg + n; i++)
		if (p->pg[i].kind == K_NONE)
			return false;
	return true;
}

/* Would a VMA split at page @pg cut a hugetlb VMA off its 2 MiB grid? */
static bool hugetlb_cut(struct proc *p, uint32_t pg)
{
	return pg < NPG && is_hugetlb(&p->pg[pg]) && (pg % HPG);
}

/* A VMA edge at page @pg: the pages from it on in the same VMA get a new id. */
static void split_at(struct world *w, struct proc *p, uint32_t pg)
{
	uint16_t old, id;

	if (!pg || pg >= NPG || p->pg[pg].kind == K_NONE || p->pg[pg - 1].kind == K_NONE ||
	    p->pg[pg].vma != p->pg[pg - 1].vma)
		return;
	old = p->pg[pg].vma;
	id = ++w->next_vma;
	for (uint32_t i = pg; i < NPG && p->pg[i].kind != K_NONE && p->pg[i].vma == old; i++)
		p->pg[i].vma = id;
}

/* The VMA containing page @pg: [*s, *e). */
static void vma_extent(struct proc *p, uint32_t pg, uint32_t *s, uint32_t *e)
{
	uint16_t id = p->pg[pg].vma;

	*s = pg;
	while (*s && p->pg[*s - 1].kind != K_NONE && p->pg[*s - 1].vma == id)
		(*s)--;
	*e = pg + 1;
	while (*e < NPG && p->pg[*e].kind != K_NONE && p->pg[*e].vma == id)
		(*e)++;
}

static unsigned int model_vmas(struct proc *p)
{
	unsigned int n = 0;

	for (uint32_t i = 0; i < NPG; i++)
		if (p->pg[i].kind != K_NONE && (!i || p->pg[i - 1].kind == K_NONE ||
						p->pg[i - 1].vma != p->pg[i].vma))
			n++;
	return n;
}

static void unmap_pages(struct proc *p, uint32_t pg, uint32_t n)
{
	memset(&p->pg[pg], 0, n * sizeof(p->pg[0]));
	memset(p->val[pg], 0, (size_t)n * CH);
}

/* The machine is out of what an access to @m (of @p) may need. */
static bool enomem_ok(struct world *w, const struct mpage *m)
{
	struct phys_hugetlb_stats hs = { 0 };
	struct phys_pool_stats ps;

	if (is_hugetlb(m)) {
		if (m->kind == K_HTLB && (m->flags & PF_RESV))
			return false;
		if (m->kind == K_HTLB_SHARED && w->obj[m->obj].resv[m->idx / HPG])
			return false;
		phys_hugetlb_stats(mm_system_hugetlb(w->sys), &hs);
		return hs.free[0] <= hs.reserved[0];
	}
	phys_pool_stats(mm_system_pool(w->sys), &ps);
	return ps.free_frames == 0;
}

/* A successful fault on a hugetlb page used its reservation. */
static void faulted(struct world *w, struct proc *p, uint32_t i)
{
	struct mpage *m = &p->pg[i];
	uint32_t h = i & ~(HPG - 1);

	if (m->kind == K_HTLB && (m->flags & PF_RESV)) {
		for (uint32_t k = h; k < h + HPG; k++)
			p->pg[k].flags &= ~PF_RESV;
	} else if (m->kind == K_HTLB_SHARED) {
		w->obj[m->obj].resv[m->idx / HPG] = 0;
	}
}

/* ------------------------------------------------------------------------ */
/* Reading back                                                             */
/* ------------------------------------------------------------------------ */

static void expected_page(struct world *w, struct proc *p, uint32_t i, uint8_t *page)
{
	const uint8_t *v = bytes_of(w, p, i);

	for (unsigned int c = 0; c < CH; c++)
		memset(page + c * CHB, v[c], CHB);
}

static bool all_zero(const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

/* Compare what page @i of @p read as with the model (a lazy page may be zeros: settle it). */
static void compare_page(struct world *w, struct proc *p, uint32_t i, const uint8_t *got)
{
	uint8_t want[MM_PAGE_SIZE];
	size_t k;

	expected_page(w, p, i, want);
	if (!memcmp(got, want, sizeof(want)))
		return;
	if ((p->pg[i].flags & PF_LAZY) && all_zero(got, MM_PAGE_SIZE)) {
		memset(p->val[i], 0, CH);
		p->pg[i].flags &= ~PF_LAZY;
		return;
	}
	for (k = 0; got[k] == want[k]; k++)
		;
	die(w, "process %d page %u (%s, prot %u, flags %#x): byte %#zx reads %#x, the model "
	    "says %#x", p->id, i, kind_names[p->pg[i].kind], p->pg[i].prot, p->pg[i].flags, k,
	    got[k], want[k]);
}

/* Read page @i of @p back and check it, or check that the read fails as it must. */
static void check_page(struct world *w, struct proc *p, uint32_t i)
{
	uint8_t got[MM_PAGE_SIZE];
	const struct mpage *m = &p->pg[i];
	int ret = mm_read(p->mm, addr_of(w, i), got, sizeof(got));

	if (!readable(w, m)) {
		if (ret != -EFAULT) {
			struct vm_area_struct *vma;
			char d[256];

			mmap_read_lock(p->mm);
			vma = vma_lookup(p->mm, addr_of(w, i));
			snprintf(d, sizeof(d), "VMA %#" PRIx64 "-%#" PRIx64 " flags %#x",
				 vma ? vma_start(vma) : 0, vma ? vma_end(vma) : 0,
				 vma ? vma_flags(vma) : 0);
			mmap_read_unlock(p->mm);
			die(w, "read of process %d page %u (%s, prot %u) = %d, want -EFAULT (%s)",
			    p->id, i, kind_names[m->kind], m->prot, ret, d);
		}
		return;
	}
	if (ret == -ENOMEM && enomem_ok(w, m))
		return;
	if (ret)
		die(w, "read of process %d page %u (%s, prot %u) = %d, want 0", p->id, i,
		    kind_names[m->kind], m->prot, ret);
	faulted(w, p, i);
	compare_page(w, p, i, got);
}

/* Settle a lazy page before part of it is written: read what it is now. */
static void settle(struct world *w, struct proc *p, uint32_t i)
{
	if (p->pg[i].flags & PF_LAZY) {
		check_page(w, p, i);
		p->pg[i].flags &= ~PF_LAZY;
	}
}

/* ------------------------------------------------------------------------ */
/* Checks after every step                                                  */
/* ------------------------------------------------------------------------ */

static void check_world(struct world *w, int samples)
{
	char msg[512];
	struct mm_stats st;

	for (int i = 0; i < w->nr; i++) {
		msg[0] = '\0';
		if (mm_check(w->p[i]->mm, msg, sizeof(msg)))
			die(w, "mm_check(process %d): %s", w->p[i]->id, msg);
		mm_get_stats(w->p[i]->mm, &st);
		if (st.vmas != model_vmas(w->p[i]))
			die(w, "process %d has %" PRIu64 " VMAs, the model %u", w->p[i]->id,
			    st.vmas, model_vmas(w->p[i]));
	}
	msg[0] = '\0';
	if (mm_system_check(w->sys, msg, sizeof(msg)))
		die(w, "mm_system_check: %s", msg);
	for (int k = 0; k < samples && w->nr; k++) {
		struct proc *p = w->p[rnd(w) % w->nr];
		uint32_t pg = rnd(w) % NPG;

		/* Mostly mapped pages: an unmapped window says little. */
		for (int t = 0; t < 3 && p->pg[pg].kind == K_NONE; t++)
			pg = rnd(w) % NPG;
		if (print_log)
			logf_(w, "   (read back p%d page %u)", p->id, pg);
		check_page(w, p, pg);
	}
}

/* ------------------------------------------------------------------------ */
/* Operations                                                               */
/* ------------------------------------------------------------------------ */

static struct proc *proc_new(struct world *w, struct mm_struct *mm, const struct proc *from)
{
	struct proc *p = from ? malloc(sizeof(*p)) : calloc(1, sizeof(*p));

	if (!p)
		abort();
	if (from) {
		memcpy(p, from, sizeof(*p));
		/* The child has no hugetlb reservation. */
		for (uint32_t i = 0; i < NPG; i++)
			p->pg[i].flags &= ~PF_RESV;
	}
	p->mm = mm;
	p->id = w->next_id++;
	w->p[w->nr++] = p;
	return p;
}

static void proc_del(struct world *w, int i)
{
	mm_exit(w->p[i]->mm);
	free(w->p[i]);
	w->p[i] = w->p[--w->nr];
}

/* Is [pg, pg + n) of the window free in @p? */
static bool range_free(struct proc *p, uint32_t pg, uint32_t n)
{
	for (uint32_t i = pg; i < pg + n; i++)
		if (p->pg[i].kind != K_NONE)
			return false;
	return true;
}

/*
 * A placed (not MAP_FIXED) region at [@addr, @addr + @len): it must not
 * overlap anything the model knows. Returns the window page it starts at,
 * or -1 when it is not wholly inside the window (then it is unmapped).
 */
static int64_t placed(struct world *w, struct proc *p, uint64_t addr, uint64_t len)
{
	uint64_t end = addr + len;

	if (addr >= w->base && end <= w->base + WIN) {
		uint32_t pg = (addr - w->base) / MM_PAGE_SIZE;

		if (!range_free(p, pg, len / MM_PAGE_SIZE))
			die(w, "placed at %#" PRIx64 "+%#" PRIx64 " over a mapping", addr, len);
		return pg;
	}
	if (addr < w->base + WIN && end > w->base) {
		uint64_t s = addr > w->base ? addr : w->base, e = end < w->base + WIN ?
								  end : w->base + WIN;

		if (!range_free(p, (s - w->base) / MM_PAGE_SIZE, (e - s) / MM_PAGE_SIZE))
			die(w, "placed at %#" PRIx64 "+%#" PRIx64 " over a mapping", addr, len);
	}
	if (mm_munmap(p->mm, addr, len))
		die(w, "munmap of a region placed outside the window failed");
	return -1;
}

static void op_mmap(struct world *w, struct proc *p)
{
	static const uint8_t kinds[8] = { K_ANON, K_ANON, K_ANON, K_SHARED, K_HTLB,
					  K_HTLB_SHARED, K_FILE, K_PFILE };
	static const unsigned int prots[4] = { MM_PROT_READ | MM_PROT_WRITE,
					       MM_PROT_READ | MM_PROT_WRITE, MM_PROT_READ,
					       MM_PROT_NONE };
	uint8_t kb = get8(w), fb = get8(w), pgoff_b = get8(w);
	uint32_t pg = get_page(w), n = get_len(w), npages, i;
	enum kind kind = kinds[kb & 7];
	unsigned int prot = prots[(kb >> 3) & 3];
	bool fixed = !(fb & 1), huge = kind == K_HTLB || kind == K_HTLB_SHARED;
	struct mm_mmap_args a = { .prot = prot };
	int fi = (fb >> 6) & 1, obj = -1, want = 0, ret;
	uint64_t addr = 0, len;
	int64_t at;

	clip(&pg, &n);
	switch ((fb >> 1) & 3) {
	case 1:
		a.align = 16 * MM_PAGE_SIZE;
		break;
	case 2:
		a.align = MM_PMD_SIZE;
		break;
	case 3:
		a.align = (fb & 0x80) ? MM_PUD_SIZE : MM_PMD_SIZE;
		break;
	}
	if (a.align && (fb & 8))
		a.offset = ((uint64_t)pg * MM_PAGE_SIZE) & (a.align - 1);
	len = (uint64_t)n * MM_PAGE_SIZE;
	a.len = len - ((kb & 0x80) ? MM_PAGE_SIZE / 2 : 0);	/* rounded up by mmap */
	if (huge)
		len = (len + MM_PMD_SIZE - 1) & ~(MM_PMD_SIZE - 1);
	if (len > WIN)
		return;
	if (fixed && pg + len / MM_PAGE_SIZE > NPG)
		pg = NPG - len / MM_PAGE_SIZE;
	npages = len / MM_PAGE_SIZE;
	a.addr = addr_of(w, pg);
	switch (kind) {
	case K_ANON:
		a.flags = MM_MAP_PRIVATE | MM_MAP_ANONYMOUS;
		break;
	case K_SHARED:
		a.flags = MM_MAP_SHARED | MM_MAP_ANONYMOUS;
		break;
	case K_HTLB:
		a.flags = MM_MAP_PRIVATE | MM_MAP_ANONYMOUS | MM_MAP_HUGETLB | MM_MAP_HUGE_2MB;
		break;
	case K_HTLB_SHARED:
		a.flags = MM_MAP_SHARED | MM_MAP_ANONYMOUS | MM_MAP_HUGETLB | MM_MAP_HUGE_2MB;
		break;
	case K_FILE:
	case K_PFILE:
		a.flags = kind == K_FILE ? MM_MAP_SHARED : MM_MAP_PRIVATE;
		a.file = w->file[fi];
		a.pgoff = (uint64_t)pgoff_b * 4 * MM_PAGE_SIZE;
		break;
	default:
		return;
	}
	if (fixed)
		a.flags |= MM_MAP_FIXED;
	/* What mmap must refuse. */
	if (huge && a.align && (a.align < MM_PMD_SIZE || (a.offset & (MM_PMD_SIZE - 1))))
		want = -EINVAL;
	if (fixed && huge && (a.addr & (MM_PMD_SIZE - 1)))
		want = -EINVAL;
	/* A MAP_FIXED mmap unmaps what is there first: that may cut a hugetlb VMA. */
	if (!want && fixed && (hugetlb_cut(p, pg) || hugetlb_cut(p, pg + npages)))
		want = -EINVAL;
	if (!want && (kind == K_SHARED || kind == K_HTLB_SHARED) && w->nr_obj == MAX_OBJS)
		return;

	logf_(w, "%d: mmap p%d %s prot=%u %s addr=%#" PRIx64 " len=%#" PRIx64 " align=%#" PRIx64
	      " offset=%#" PRIx64 " pgoff=%#" PRIx64, w->step, p->id, kind_names[kind], prot,
	      fixed ? "fixed" : "placed", a.addr, a.len, a.align, a.offset, a.pgoff);
	ret = mm_mmap(p->mm, &a, &addr);
	if (want) {
		if (ret != want)
			die(w, "mmap = %d, want %d", ret, want);
		return;
	}
	if (ret == -ENOMEM && huge) {
		struct phys_hugetlb_stats hs;

		/* The reservation failed: was the pool short? */
		phys_hugetlb_stats(mm_system_hugetlb(w->sys), &hs);
		if (hs.free[0] - hs.reserved[0] >= len / MM_PMD_SIZE)
			die(w, "hugetlb mmap = -ENOMEM with %" PRIu64 " free and %" PRIu64
			    " reserved huge pages", hs.free[0], hs.reserved[0]);
		return;
	}
	if (ret)
		die(w, "mmap = %d, want 0", ret);
	if (fixed) {
		if (addr != a.addr)
			die(w, "MAP_FIXED mmap at %#" PRIx64 " returned %#" PRIx64, a.addr, addr);
		at = pg;
		unmap_pages(p, pg, npages);
	} else {
		if (a.align && (addr - a.offset) & (a.align - 1))
			die(w, "mmap placed at %#" PRIx64 ", not %#" PRIx64 " + a multiple of %#"
			    PRIx64, addr, a.offset, a.align);
		if (huge && (addr & (MM_PMD_SIZE - 1)))
			die(w, "hugetlb mmap placed at %#" PRIx64, addr);
		at = placed(w, p, addr, len);
		logf_(w, "   placed at %#" PRIx64 "%s", addr, at < 0 ? " (outside: unmapped)" : "");
		if (at < 0)
			return;
	}
	if (kind == K_SHARED || kind == K_HTLB_SHARED) {
		obj = obj_new(w, npages, huge);
		if (obj < 0)
			abort();	/* checked above */
		if (huge)
			memset(w->obj[obj].resv, 1, npages / HPG);
	} else if (kind == K_FILE || kind == K_PFILE) {
		obj = w->file_obj[fi];
	}
	w->next_vma++;
	for (i = 0; i < npages; i++) {
		struct mpage *m = &p->pg[at + i];

		m->kind = kind;
		m->prot = prot;
		m->vma = w->next_vma;
		m->flags = kind == K_PFILE ? PF_FILE : kind == K_HTLB ? PF_RESV : 0;
		m->obj = obj < 0 ? 0 : obj;
		m->idx = kind == K_FILE || kind == K_PFILE ? a.pgoff / MM_PAGE_SIZE + i : i;
		memset(p->val[at + i], 0, CH);
	}
	if (fb & 0x30) {
		enum mm_advice adv = (fb & 0x10) ? MM_MADV_HUGEPAGE : MM_MADV_NOHUGEPAGE;

		ret = mm_madvise(p->mm, addr, len, adv);
		if (ret)
			die(w, "madvise(%s) of a new mapping = %d",
			    adv == MM_MADV_HUGEPAGE ? "HUGEPAGE" : "NOHUGEPAGE", ret);
	}
}

static void op_munmap(struct world *w, struct proc *p)
{
	uint32_t pg = get_page(w), n = get_len(w);
	int want, ret;

	clip(&pg, &n);
	want = hugetlb_cut(p, pg) || hugetlb_cut(p, pg + n) ? -EINVAL : 0;
	logf_(w, "%d: munmap p%d pages %u+%u", w->step, p->id, pg, n);
	ret = mm_munmap(p->mm, addr_of(w, pg), (uint64_t)n * MM_PAGE_SIZE);
	if (ret != want)
		die(w, "munmap = %d, want %d", ret, want);
	if (!ret)
		unmap_pages(p, pg, n);
}

static void op_mprotect(struct world *w, struct proc *p)
{
	static const unsigned int prots[4] = { MM_PROT_NONE, MM_PROT_READ,
					       MM_PROT_READ | MM_PROT_WRITE, MM_PROT_WRITE };
	uint8_t b = get8(w);
	uint32_t pg = get_page(w), n = get_len(w);
	unsigned int prot = prots[b & 3];
	bool mapped, cut;
	int ret;

	clip(&pg, &n);
	mapped = all_mapped(p, pg, n);
	cut = hugetlb_cut(p, pg) || hugetlb_cut(p, pg + n);
	logf_(w, "%d: mprotect p%d pages %u+%u prot=%u", w->step, p->id, pg, n, prot);
	ret = mm_mprotect(p->mm, addr_of(w, pg), (uint64_t)n * MM_PAGE_SIZE, prot);
	if (!mapped || cut) {
		if (!(!mapped && ret == -ENOMEM) && !(cut && ret == -EINVAL))
			die(w, "mprotect = %d, want %s", ret, !mapped ? "-ENOMEM" : "-EINVAL");
		return;
	}
	if (ret)
		die(w, "mprotect = %d, want 0", ret);
	split_at(w, p, pg);
	split_at(w, p, pg + n);
	/* x86: write implies read. */
	if (prot & MM_PROT_WRITE)
		prot |= MM_PROT_READ;
	for (uint32_t i = pg; i < pg + n; i++)
		p->pg[i].prot = prot;
}

static void op_madvise(struct world *w, struct proc *p)
{
	static const char *const names[] = { "dontneed", "free", "hugepage", "nohugepage" };
	uint8_t b = get8(w);
	uint32_t pg = get_page(w), n = get_len(w), s, e, i;
	enum mm_advice adv = (enum mm_advice)(b & 3);
	int want = 0, ret;

	clip(&pg, &n);
	/* Often only the mapped run from pg on, so that it does something. */
	if (b & 4) {
		for (i = pg; i < pg + n && p->pg[i].kind != K_NONE; i++)
			;
		if (i > pg)
			n = i - pg;
	}
	logf_(w, "%d: madvise p%d pages %u+%u %s", w->step, p->id, pg, n, names[adv]);
	if (!all_mapped(p, pg, n)) {
		ret = mm_madvise(p->mm, addr_of(w, pg), (uint64_t)n * MM_PAGE_SIZE, adv);
		if (ret != -ENOMEM)
			die(w, "madvise of a range with a hole = %d, want -ENOMEM", ret);
		return;
	}
	if (adv == MM_MADV_HUGEPAGE || adv == MM_MADV_NOHUGEPAGE) {
		want = hugetlb_cut(p, pg) || hugetlb_cut(p, pg + n) ? -EINVAL : 0;
		ret = mm_madvise(p->mm, addr_of(w, pg), (uint64_t)n * MM_PAGE_SIZE, adv);
		if (ret != want)
			die(w, "madvise = %d, want %d", ret, want);
		if (!ret) {
			split_at(w, p, pg);
			split_at(w, p, pg + n);
		}
		return;
	}
	/*
	 * DONTNEED and FREE: every VMA of the range must take the advice, or
	 * none is advised. DONTNEED of hugetlb (the profile's hugetlb_dontneed)
	 * starts on a huge page and its end is rounded down, so a huge page
	 * covered in part is kept; FREE is for private anonymous memory only.
	 */
	for (s = pg; s < pg + n && !want; s = e) {
		const struct mpage *m = &p->pg[s];

		vma_extent(p, s, &i, &e);
		if (adv == MM_MADV_DONTNEED && is_hugetlb(m) &&
		    (!w->profile->hugetlb_dontneed || (s % HPG)))
			want = -EINVAL;
		if (adv == MM_MADV_FREE && m->kind != K_ANON)
			want = -EINVAL;
	}
	ret = mm_madvise(p->mm, addr_of(w, pg), (uint64_t)n * MM_PAGE_SIZE, adv);
	if (ret != want)
		die(w, "madvise = %d, want %d", ret, want);
	for (s = pg; s < pg + n && !ret; s = e) {
		uint32_t end;

		vma_extent(p, s, &i, &e);
		if (e > pg + n)
			e = pg + n;
		end = is_hugetlb(&p->pg[s]) ? e & ~(HPG - 1) : e;
		for (i = s; i < end; i++) {
			struct mpage *q = &p->pg[i];

			if (adv == MM_MADV_FREE) {
				q->flags |= PF_LAZY;
			} else if (q->kind == K_ANON || q->kind == K_HTLB) {
				memset(p->val[i], 0, CH);
				q->flags &= ~PF_LAZY;
			} else if (q->kind == K_PFILE) {
				q->flags |= PF_FILE;
			}
		}
	}
}

static void op_mremap(struct world *w, struct proc *p)
{
	uint8_t b = get8(w);
	uint32_t src = get_page(w), dst = get_page(w), s, e, n, i;
	uint64_t align = 0, offset = 0, out = 0, old_len, new = 0;
	bool fixed = b & 1, huge;
	struct mpage tmp_pg[NPG];
	uint8_t (*tmp_val)[CH];
	int want = 0, ret;
	int64_t at;

	if (p->pg[src].kind == K_NONE)
		return;
	vma_extent(p, src, &s, &e);
	n = e - s;
	huge = is_hugetlb(&p->pg[s]);
	old_len = (uint64_t)n * MM_PAGE_SIZE;
	/* Sometimes a length that is not the VMA's: -EFAULT. */
	if ((b & 0x30) == 0x30) {
		old_len += (b & 0x40) ? MM_PAGE_SIZE : -MM_PAGE_SIZE;
		want = -EFAULT;
		if (!old_len)
			return;
	}
	if (fixed) {
		if (dst + n > NPG)
			dst = NPG - n;
		new = addr_of(w, dst);
		if (!want && ((dst < e && s < dst + n) ||
			      (huge && (dst % HPG)) || hugetlb_cut(p, dst) ||
			      hugetlb_cut(p, dst + n)))
			want = -EINVAL;
	} else {
		switch ((b >> 1) & 3) {
		case 1:
			align = 16 * MM_PAGE_SIZE;
			break;
		case 2:
		case 3:
			align = MM_PMD_SIZE;
			break;
		}
		if (align && (b & 8))
			offset = ((uint64_t)dst * MM_PAGE_SIZE) & (align - 1);
		if (!want && huge && align && (align < MM_PMD_SIZE || (offset & (MM_PMD_SIZE - 1))))
			want = -EINVAL;
	}
	logf_(w, "%d: mremap p%d pages %u+%u (len %#" PRIx64 ") %s dst=%u align=%#" PRIx64
	      " offset=%#" PRIx64, w->step, p->id, s, n, old_len, fixed ? "fixed" : "placed",
	      dst, align, offset);
	ret = mm_mremap(p->mm, addr_of(w, s), old_len, fixed ? MM_MAP_FIXED : 0, new, align,
			offset, &out);
	if (want) {
		if (ret != want)
			die(w, "mremap = %d, want %d", ret, want);
		return;
	}
	if (ret)
		die(w, "mremap = %d, want 0", ret);
	if (fixed && out != new)
		die(w, "MAP_FIXED mremap to %#" PRIx64 " returned %#" PRIx64, new, out);
	if (!fixed && align && ((out - offset) & (align - 1)))
		die(w, "mremap placed at %#" PRIx64 ", not %#" PRIx64 " + a multiple of %#" PRIx64,
		    out, offset, align);
	/* Move the model: the destination is unmapped first (MAP_FIXED), then the pages come. */
	memcpy(tmp_pg, &p->pg[s], n * sizeof(tmp_pg[0]));
	tmp_val = malloc((size_t)n * CH);
	if (!tmp_val)
		abort();
	memcpy(tmp_val, p->val[s], (size_t)n * CH);
	unmap_pages(p, s, n);
	if (fixed) {
		at = dst;
		unmap_pages(p, dst, n);
	} else {
		at = placed(w, p, out, old_len);
		logf_(w, "   placed at %#" PRIx64 "%s", out, at < 0 ? " (outside: unmapped)" : "");
	}
	if (at >= 0) {
		memcpy(&p->pg[at], tmp_pg, n * sizeof(tmp_pg[0]));
		memcpy(p->val[at], tmp_val, (size_t)n * CH);
		w->next_vma++;
		for (i = 0; i < n; i++)
			p->pg[at + i].vma = w->next_vma;
	}
	free(tmp_val);
}

/* A CPU write of chunks [c0, c1] of pages [pg, pg + n): memset, or a buffer. */
static void op_write(struct world *w, struct proc *p, bool buffer)
{
	uint8_t cb = get8(w), v = get8(w);
	uint32_t pg = get_page(w), n = get_len(w), stop, i;
	unsigned int c0 = cb & 7, c1 = (cb >> 3) & 7;
	uint64_t off, len;
	uint8_t *buf = NULL;
	int ret;

	if (n > 64 && !(cb & 0x40))
		n = 1 + n % 64;		/* mostly small: a write costs what it touches */
	clip(&pg, &n);
	if (n == 1 && c1 < c0) {
		unsigned int t = c0;

		c0 = c1;
		c1 = t;
	}
	off = addr_of(w, pg) + c0 * CHB;
	len = (uint64_t)(n - 1) * MM_PAGE_SIZE + (c1 + 1) * CHB - c0 * CHB;
	for (stop = pg; stop < pg + n && writable(w, &p->pg[stop]); stop++)
		;
	/* A lazy page written in part is settled first. */
	for (i = pg; i < stop; i++)
		if ((i == pg && c0) || (i == pg + n - 1 && c1 != CH - 1))
			settle(w, p, i);
	logf_(w, "%d: %s p%d pages %u+%u chunks %u..%u value %#x", w->step,
	      buffer ? "write" : "memset", p->id, pg, n, c0, c1, v);
	if (buffer) {
		buf = malloc(len);
		if (!buf)
			abort();
		for (uint64_t k = 0; k < len; k++)
			buf[k] = (uint8_t)(v + k / CHB);
		ret = mm_write(p->mm, off, buf, len);
	} else {
		ret = mm_memset(p->mm, off, v, len);
	}
	free(buf);
	/* The pages before the first that cannot be written are written. */
	for (i = pg; i < pg + n; i++) {
		unsigned int a = i == pg ? c0 : 0, z = i == pg + n - 1 ? c1 : CH - 1;
		uint8_t *dst;

		if (i == stop)
			break;
		if (ret == -ENOMEM) {
			/*
			 * Somewhere the machine ran out: the pages before that one
			 * have the new bytes, the rest the old. Read them back.
			 */
			uint8_t got[MM_PAGE_SIZE], want_new[MM_PAGE_SIZE];
			int r = mm_read(p->mm, addr_of(w, i), got, sizeof(got));

			if (r == -ENOMEM)
				break;	/* never reached, and still not there */
			if (r)
				die(w, "reading back after a write that ran out of memory: %d", r);
			faulted(w, p, i);
			expected_page(w, p, i, want_new);
			for (unsigned int c = a; c <= z; c++) {
				uint8_t b = buffer ? (uint8_t)(v + ((i - pg) * CH + c - c0)) : v;

				memset(want_new + c * CHB, b, CHB);
			}
			if (memcmp(got, want_new, sizeof(got))) {
				compare_page(w, p, i, got);	/* then the old bytes */
				break;
			}
		}
		faulted(w, p, i);
		if (p->pg[i].kind == K_PFILE && (p->pg[i].flags & PF_FILE)) {
			/* The first write copies the file's page. */
			memcpy(p->val[i], bytes_of(w, p, i), CH);
			p->pg[i].flags &= ~PF_FILE;
		}
		dst = bytes_of(w, p, i);
		for (unsigned int c = a; c <= z; c++)
			dst[c] = buffer ? (uint8_t)(v + ((i - pg) * CH + c - c0)) : v;
		/* Written whole: no longer lazy (in part: settled above). */
		p->pg[i].flags &= ~PF_LAZY;
	}
	if (ret == -ENOMEM) {
		bool ok = false;

		for (i = pg; i < stop && !ok; i++)
			ok = enomem_ok(w, &p->pg[i]);
		if (!ok)
			die(w, "write = -ENOMEM with memory to spare");
		return;
	}
	if (ret != (stop == pg + n ? 0 : -EFAULT))
		die(w, "write = %d, want %d", ret, stop == pg + n ? 0 : -EFAULT);
}

/* A CPU read of pages [pg, pg + n), compared page by page. */
static void op_read(struct world *w, struct proc *p)
{
	uint32_t pg = get_page(w), n = get_len(w), stop, i;
	uint8_t *buf;
	int ret;

	if (n > 64)
		n = 1 + n % 64;
	clip(&pg, &n);
	for (stop = pg; stop < pg + n && readable(w, &p->pg[stop]); stop++)
		;
	logf_(w, "%d: read p%d pages %u+%u", w->step, p->id, pg, n);
	buf = malloc((size_t)n * MM_PAGE_SIZE);
	if (!buf)
		abort();
	ret = mm_read(p->mm, addr_of(w, pg), buf, (uint64_t)n * MM_PAGE_SIZE);
	if (ret == -ENOMEM) {
		bool ok = false;

		for (i = pg; i < stop && !ok; i++)
			ok = enomem_ok(w, &p->pg[i]);
		if (!ok)
			die(w, "read = -ENOMEM with memory to spare");
		free(buf);
		return;
	}
	if (ret != (stop == pg + n ? 0 : -EFAULT))
		die(w, "read = %d, want %d", ret, stop == pg + n ? 0 : -EFAULT);
	/* The pages before the first unreadable one were read. */
	for (i = pg; i < stop; i++) {
		faulted(w, p, i);
		compare_page(w, p, i, buf + (size_t)(i - pg) * MM_PAGE_SIZE);
	}
	free(buf);
}

/* handle_mm_fault() itself, as hmm_range_fault and GUP call it. */
static void op_fault(struct world *w, struct proc *p)
{
	uint8_t b = get8(w);
	uint32_t pg = get_page(w);
	unsigned int flags = 0;
	struct mpage *m = &p->pg[pg];
	struct vm_area_struct *vma;
	int want, ret;

	if (b & 1)
		flags |= FAULT_FLAG_WRITE;
	if (b & 2)
		flags |= FAULT_FLAG_REMOTE;
	if (b & 4)
		flags |= FAULT_FLAG_UNSHARE;
	if ((b & 0x38) == 0x38)
		flags |= 1u << 7;	/* unknown: -EINVAL */
	logf_(w, "%d: handle_mm_fault p%d page %u flags %#x", w->step, p->id, pg, flags);
	mmap_read_lock(p->mm);
	vma = vma_lookup(p->mm, addr_of(w, pg));
	if (!vma != (m->kind == K_NONE))
		die(w, "vma_lookup of page %u: %s, the model says %s", pg, vma ? "a VMA" : "none",
		    kind_names[m->kind]);
	if (!vma) {
		mmap_read_unlock(p->mm);
		return;
	}
	ret = handle_mm_fault(vma, addr_of(w, pg) + (b >> 6) * 1000, flags);
	mmap_read_unlock(p->mm);
	if (flags & (1u << 7))
		want = -EINVAL;
	else if (!(flags & FAULT_FLAG_WRITE) ? !readable(w, m) : !writable(w, m))
		want = -EFAULT;
	else
		want = 0;
	if (ret == -ENOMEM && !want && enomem_ok(w, m))
		return;
	if (ret != want)
		die(w, "handle_mm_fault = %d, want %d", ret, want);
	if (ret)
		return;
	faulted(w, p, pg);
	/* A write fault on a private file page copies it. */
	if ((flags & FAULT_FLAG_WRITE) && m->kind == K_PFILE && (m->flags & PF_FILE)) {
		memcpy(p->val[pg], bytes_of(w, p, pg), CH);
		m->flags &= ~PF_FILE;
	}
}

static void op_dump(struct world *w, struct proc *p)
{
	uint32_t pg = get_page(w), n = get_len(w), i = pg;
	char small[256], *buf = small, *s, *save = NULL;
	int ret;

	clip(&pg, &n);
	i = pg;
	logf_(w, "%d: dump p%d pages %u+%u", w->step, p->id, pg, n);
	ret = mm_dump(p->mm, addr_of(w, pg), (uint64_t)n * MM_PAGE_SIZE, small, sizeof(small));
	if (ret < 0)
		die(w, "mm_dump = %d", ret);
	if ((size_t)ret >= sizeof(small)) {
		buf = malloc(ret + 1);
		if (!buf)
			abort();
		if (mm_dump(p->mm, addr_of(w, pg), (uint64_t)n * MM_PAGE_SIZE, buf, ret + 1) != ret)
			die(w, "mm_dump gave two lengths");
	}
	/* COUNT:CODE@PFN runs: they cover the range; no entry where no VMA, none writable
	 * where the VMA is not. */
	for (s = strtok_r(buf, ",", &save); s; s = strtok_r(NULL, ",", &save)) {
		char *colon = strchr(s, ':');
		unsigned long cnt = strtoul(s, NULL, 10);

		if (!colon || strlen(colon) < 5 || !cnt || i + cnt > pg + n)
			die(w, "mm_dump: bad run '%s' at page %u", s, i);
		for (unsigned long k = 0; k < cnt; k++, i++) {
			if (colon[1] != '-' && p->pg[i].kind == K_NONE)
				die(w, "mm_dump: page %u is '%.3s' with no VMA", i, colon + 1);
			if (colon[3] == 'w' && !writable(w, &p->pg[i]))
				die(w, "mm_dump: page %u is writable ('%.3s'), prot %u", i,
				    colon + 1, p->pg[i].prot);
		}
	}
	if (i != pg + n)
		die(w, "mm_dump covers %u pages of %u", i - pg, n);
	if (buf != small)
		free(buf);
}

/* ------------------------------------------------------------------------ */
/* The run                                                                  */
/* ------------------------------------------------------------------------ */

static void setup(struct world *w, const uint8_t *data, size_t size)
{
	static const uint64_t rams[4] = { 16, 32, 64, 24 };
	static const enum mm_thp_mode thps[4] = { MM_THP_MADVISE, MM_THP_ALWAYS, MM_THP_NEVER,
						  MM_THP_ALWAYS };
	struct mm_system_config cfg = { 0 };
	struct phys_pool_stats ps;
	struct mm_struct *mm;
	uint8_t b0, b1;
	uint64_t addr, h = 1469598103934665603u;
	unsigned int np = 0;
	int err;

	memset(w, 0, sizeof(*w));
	w->in = data;
	w->in_len = size;
	for (size_t i = 0; i < size; i++)
		h = (h ^ data[i]) * 1099511628211u;
	w->rng = h;
	b0 = get8(w);
	b1 = get8(w);
	cfg.ram = rams[b0 & 3] << 20;
	cfg.hugetlb_2m = (b0 >> 2) & 7;
	if (cfg.hugetlb_2m * MM_PMD_SIZE > cfg.ram / 2)
		cfg.hugetlb_2m = cfg.ram / 2 / MM_PMD_SIZE;
	cfg.thp = thps[(b0 >> 5) & 3];
	while (mm_profiles[np])
		np++;
	w->profile = mm_profiles[b1 % np];
	err = mm_system_create(&cfg, &w->sys);
	if (err)
		die(w, "mm_system_create = %d", err);
	for (int i = 0; i < NFILES; i++) {
		err = phys_file_create(mm_system_pool(w->sys), file_pages[i] * MM_PAGE_SIZE,
				       &w->file[i]);
		if (err)
			die(w, "phys_file_create = %d", err);
		w->file_obj[i] = obj_new(w, file_pages[i], false);
	}
	phys_pool_stats(mm_system_pool(w->sys), &ps);
	w->free_at_start = ps.free_frames;
	err = mm_create(w->sys, w->profile, &mm);
	if (err)
		die(w, "mm_create = %d", err);
	proc_new(w, mm, NULL);
	/* The window: just below where placement starts its search. */
	{
		struct mm_mmap_args a = { .len = MM_PAGE_SIZE, .prot = MM_PROT_READ,
					  .flags = MM_MAP_PRIVATE | MM_MAP_ANONYMOUS };

		if (mm_mmap(mm, &a, &addr) || mm_munmap(mm, addr, MM_PAGE_SIZE))
			die(w, "probing mmap failed");
		w->base = ((addr + MM_PAGE_SIZE) & ~(MM_PMD_SIZE - 1)) - WIN;
	}
	logf_(w, "machine: ram %" PRIu64 "M, hugetlb %" PRIu64 "x2M, thp %d, profile %s",
	      cfg.ram >> 20, cfg.hugetlb_2m, cfg.thp, w->profile->name);
}

static void teardown(struct world *w)
{
	struct phys_hugetlb_stats hs = { 0 };
	struct phys_pool_stats ps;
	struct folio *hz;
	char msg[256];

	while (w->nr)
		proc_del(w, w->nr - 1);
	if (w->fragmented)
		phys_pool_unfragment(mm_system_pool(w->sys));
	msg[0] = '\0';
	if (mm_system_check(w->sys, msg, sizeof(msg)))
		die(w, "mm_system_check after every exit: %s", msg);
	phys_hugetlb_stats(mm_system_hugetlb(w->sys), &hs);
	if (hs.reserved[0] || hs.free[0] != hs.total[0])
		die(w, "every process exited, and the hugetlb pool has %" PRIu64 " of %" PRIu64
		    " pages free, %" PRIu64 " reserved", hs.free[0], hs.total[0], hs.reserved[0]);
	for (int i = 0; i < NFILES; i++)
		phys_file_put(w->file[i]);
	mm_system_shrink(w->sys);
	/*
	 * The huge zero folio stays for the pool's life once a read needed
	 * it: make sure it is there, so that the count is exact.
	 */
	hz = phys_huge_zero_folio_get(mm_system_pool(w->sys));
	if (!hz)
		die(w, "every process and file is gone, and the huge zero folio cannot be had");
	folio_put(hz);
	phys_pool_stats(mm_system_pool(w->sys), &ps);
	if (ps.free_frames != w->free_at_start - HPG)
		die(w, "every process and file is gone, and %" PRIu64 " frames are free, %" PRIu64
		    " were at the start (the huge zero folio aside)", ps.free_frames,
		    w->free_at_start - HPG);
	for (int i = 0; i < w->nr_obj; i++) {
		free(w->obj[i].val);
		free(w->obj[i].resv);
	}
	if (mm_system_destroy(w->sys))
		die(w, "mm_system_destroy failed");
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *t = getenv("HMMSIM_FUZZ_TOLERATE");

	for (unsigned int i = 0; t && tol_names[i]; i++)
		if (strstr(t, tol_names[i]))
			tolerate |= 1u << i;
	print_log = getenv("HMMSIM_FUZZ_LOG") != NULL;
	hmmsim_thread_register();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct world *w = &W;
	struct mm_struct *mm;
	int err;

	if (size > MAX_INPUT)
		return -1;
	setup(w, data, size);
	check_world(w, 0);
	for (w->step = 1; w->at < w->in_len && w->step <= MAX_STEPS; w->step++) {
		uint8_t op = get8(w), sel = get8(w);
		struct proc *p = w->p[sel % w->nr];

		switch (op % 16) {
		case 0:
		case 1:
			op_mmap(w, p);
			break;
		case 2:
			op_munmap(w, p);
			break;
		case 3:
			op_mprotect(w, p);
			break;
		case 4:
			op_madvise(w, p);
			break;
		case 5:
			op_mremap(w, p);
			break;
		case 6:
			if (w->nr == MAX_PROCS)
				break;
			logf_(w, "%d: fork p%d -> p%d", w->step, p->id, w->next_id);
			err = mm_fork(p->mm, &mm);
			if (err)
				die(w, "mm_fork = %d", err);
			proc_new(w, mm, p);
			break;
		case 7:
			if (w->nr == 1 && !(sel & 0x80))
				break;
			logf_(w, "%d: exit p%d", w->step, p->id);
			proc_del(w, sel % w->nr);
			if (!w->nr) {
				/* The last one went: a new empty process. */
				err = mm_create(w->sys, w->profile, &mm);
				if (err)
					die(w, "mm_create = %d", err);
				proc_new(w, mm, NULL);
			}
			break;
		case 8:
			if (w->nr == MAX_PROCS)
				break;
			err = mm_create(w->sys, w->profile, &mm);
			if (err)
				die(w, "mm_create = %d", err);
			logf_(w, "%d: new process p%d", w->step, w->next_id);
			proc_new(w, mm, NULL);
			break;
		case 9:
		case 10:
			op_write(w, p, op & 16);
			break;
		case 11:
			op_read(w, p);
			break;
		case 12:
			op_fault(w, p);
			break;
		case 13: {
			static const enum mm_thp_mode m[3] = { MM_THP_MADVISE, MM_THP_ALWAYS,
							       MM_THP_NEVER };

			logf_(w, "%d: thp mode %d", w->step, m[sel % 3]);
			if (mm_system_set_thp(w->sys, m[sel % 3]))
				die(w, "mm_system_set_thp failed");
			break;
		}
		case 14:
			if (sel & 1) {
				logf_(w, "%d: shrink", w->step);
				mm_system_shrink(w->sys);
			} else if (!w->fragmented) {
				logf_(w, "%d: fragment the pool at order %u", w->step,
				      (sel >> 1) % 9);
				if (phys_pool_fragment(mm_system_pool(w->sys), (sel >> 1) % 9) < 0)
					die(w, "phys_pool_fragment failed");
				w->fragmented = true;
			} else {
				logf_(w, "%d: unfragment the pool", w->step);
				phys_pool_unfragment(mm_system_pool(w->sys));
				w->fragmented = false;
			}
			break;
		default:
			op_dump(w, p);
			break;
		}
		check_world(w, SAMPLES);
	}
	w->step = MAX_STEPS + 1;
	for (int i = 0; i < w->nr; i++)
		for (int k = 0; k < END_SAMPLES; k++)
			check_page(w, w->p[i], rnd(w) % NPG);
	teardown(w);
	for (int i = 0; print_log && i < w->nr_log; i++)
		fprintf(stderr, "  %s\n", w->log[i]);
	return 0;
}
