// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * mm_kernel_diff: a differential test against the Linux kernel this
 * machine runs. Each scenario (mmap, MADV_HUGEPAGE, touch, fork, COW on
 * either side, mprotect, munmap and madvise of subranges, mremap) runs in
 * a real child process, which classifies every page of its region from
 * /proc/self/pagemap (present, frame, exclusively mapped), /proc/kpageflags
 * (THP, compound, zero page) and the PAGEMAP_SCAN ioctl (PAGE_IS_HUGE: mapped
 * by a PMD) as: not present, zero page, PMD-mapped THP, PTE-mapped page of a
 * large folio, small page; then the same scenario runs through hmmsim (the
 * machine's THP mode, the current profile) and the classes are compared page
 * by page through mm_dump()'s codes. Exclusivity is compared per page for
 * PTE-mapped pages and per 2 MiB block for PMD leaves (pagemap reports a
 * PMD's exclusivity for the folio as a whole).
 *
 * Skips (exit 77) when pagemap frames, kpageflags or PAGEMAP_SCAN are not
 * available, or THP is not in madvise or always mode, or mTHP sizes are
 * enabled. A scenario during which the kernel failed to allocate a THP (or
 * the huge zero page) is reported inconclusive and skipped.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mm_test.h"

/* The PAGEMAP_SCAN ABI (linux/fs.h, 6.7+), spelled here for older headers. */
#define KD_PAGE_IS_PRESENT	(1 << 3)
#define KD_PAGE_IS_PFNZERO	(1 << 5)
#define KD_PAGE_IS_HUGE		(1 << 6)

struct kd_page_region {
	uint64_t start;
	uint64_t end;
	uint64_t categories;
};

struct kd_pm_scan_arg {
	uint64_t size;
	uint64_t flags;
	uint64_t start;
	uint64_t end;
	uint64_t walk_end;
	uint64_t vec;
	uint64_t vec_len;
	uint64_t max_pages;
	uint64_t category_inverted;
	uint64_t category_mask;
	uint64_t category_anyof_mask;
	uint64_t return_mask;
};

#define KD_PAGEMAP_SCAN		_IOWR('f', 16, struct kd_pm_scan_arg)

/* /proc/kpageflags bits. */
#define KPF_COMPOUND_HEAD	15
#define KPF_COMPOUND_TAIL	16
#define KPF_THP			22
#define KPF_ZERO_PAGE		24

#define PM_PRESENT		(UINT64_C(1) << 63)
#define PM_EXCLUSIVE		(UINT64_C(1) << 56)
#define PM_PFN_MASK		((UINT64_C(1) << 55) - 1)

#define MAX_PAGES	1024
#define MAX_CLS		8

enum sop { S_MMAP, S_MADV, S_WRITE, S_READ, S_FORK, S_MPROTECT, S_MUNMAP, S_MREMAP, S_CLASSIFY,
	   S_EXIT_CHILD, S_END };

/* Advice, prot and remap arguments, the same words on both sides. */
enum { A_HUGEPAGE, A_NOHUGEPAGE, A_DONTNEED, A_FREE };
enum { P_R, P_RW };
enum { M_ALIGNED, M_UNALIGNED };

struct step {
	enum sop op;
	int who;		/* 0: the scenario's parent, 1: its child */
	uint64_t off, len;
	int arg;
};

struct scenario {
	const char *name;
	struct step steps[32];
};

#define P4K(n)	((uint64_t)(n) * SZ_4K)
#define MMAP(l)			{ S_MMAP, 0, 0, (l), 0 }
#define MADV(w, o, l, a)	{ S_MADV, (w), (o), (l), (a) }
#define WRITE(w, o, l, b)	{ S_WRITE, (w), (o), (l), (b) }
#define READ(w, o, l)		{ S_READ, (w), (o), (l), 0 }
#define FORK			{ S_FORK, 0, 0, 0, 0 }
#define MPROT(w, o, l, p)	{ S_MPROTECT, (w), (o), (l), (p) }
#define MUNMAP(w, o, l)		{ S_MUNMAP, (w), (o), (l), 0 }
#define MREMAP(w, m)		{ S_MREMAP, (w), 0, 0, (m) }
#define CLASSIFY(w, o, l)	{ S_CLASSIFY, (w), (o), (l), 0 }
#define EXIT_CHILD		{ S_EXIT_CHILD, 1, 0, 0, 0 }
#define END			{ S_END, 0, 0, 0, 0 }

static const struct scenario scenarios[] = {
	{ "thp-write-then-huge-zero", {
		MMAP(SZ_4M), MADV(0, 0, SZ_4M, A_HUGEPAGE), WRITE(0, 0, 1, 1),
		READ(0, SZ_2M, P4K(2)), CLASSIFY(0, 0, SZ_4M),
		WRITE(0, SZ_2M + P4K(1), 1, 2), CLASSIFY(0, 0, SZ_4M), END } },
	{ "small-pages-and-zero-page", {
		MMAP(SZ_64K), WRITE(0, 0, 1, 1), READ(0, P4K(1), P4K(2)),
		WRITE(0, P4K(2), 1, 3), CLASSIFY(0, 0, SZ_64K), END } },
	{ "fork-parent-cow-thp", {
		MMAP(SZ_4M), MADV(0, 0, SZ_4M, A_HUGEPAGE), WRITE(0, 0, SZ_4M, 1), FORK,
		CLASSIFY(0, 0, SZ_4M), CLASSIFY(1, 0, SZ_4M),
		WRITE(0, P4K(5), 1, 2), CLASSIFY(0, 0, SZ_4M), CLASSIFY(1, 0, SZ_4M),
		EXIT_CHILD, CLASSIFY(0, 0, SZ_4M),
		WRITE(0, P4K(6), 1, 3), WRITE(0, SZ_2M, 1, 4), CLASSIFY(0, 0, SZ_4M), END } },
	{ "fork-child-cow-thp", {
		MMAP(SZ_4M), MADV(0, 0, SZ_4M, A_HUGEPAGE), WRITE(0, 0, SZ_4M, 1), FORK,
		WRITE(1, P4K(7), 1, 2), CLASSIFY(0, 0, SZ_4M), CLASSIFY(1, 0, SZ_4M),
		WRITE(1, SZ_2M + P4K(3), 1, 3), WRITE(0, P4K(9), 1, 4),
		CLASSIFY(0, 0, SZ_4M), CLASSIFY(1, 0, SZ_4M),
		EXIT_CHILD, CLASSIFY(0, 0, SZ_4M), END } },
	{ "fork-4k", {
		MMAP(SZ_64K), WRITE(0, 0, SZ_64K, 1), FORK, WRITE(1, P4K(1), 1, 2),
		WRITE(0, P4K(2), 1, 3), CLASSIFY(0, 0, SZ_64K), CLASSIFY(1, 0, SZ_64K),
		EXIT_CHILD, WRITE(0, P4K(3), 1, 4), CLASSIFY(0, 0, SZ_64K), END } },
	{ "mprotect-subranges", {
		MMAP(SZ_4M), MADV(0, 0, SZ_4M, A_HUGEPAGE), WRITE(0, 0, SZ_4M, 1),
		MPROT(0, P4K(3), P4K(2), P_R), CLASSIFY(0, 0, SZ_4M),
		MPROT(0, SZ_2M, SZ_2M, P_R), CLASSIFY(0, 0, SZ_4M),
		MPROT(0, P4K(3), P4K(2), P_RW), WRITE(0, P4K(4), 1, 2), CLASSIFY(0, 0, SZ_4M),
		END } },
	{ "munmap-subranges", {
		MMAP(SZ_4M), MADV(0, 0, SZ_4M, A_HUGEPAGE), WRITE(0, 0, SZ_4M, 1),
		MUNMAP(0, P4K(3), P4K(2)), MUNMAP(0, SZ_2M, SZ_2M), CLASSIFY(0, 0, SZ_4M), END } },
	{ "dontneed-subranges", {
		MMAP(SZ_4M), MADV(0, 0, SZ_4M, A_HUGEPAGE), WRITE(0, 0, SZ_4M, 1),
		MADV(0, P4K(3), P4K(2), A_DONTNEED), MADV(0, SZ_2M, SZ_2M, A_DONTNEED),
		CLASSIFY(0, 0, SZ_4M), READ(0, P4K(3), P4K(1)), READ(0, SZ_2M, P4K(1)),
		CLASSIFY(0, 0, SZ_4M), END } },
	{ "madv-free-subrange", {
		MMAP(SZ_4M), MADV(0, 0, SZ_4M, A_HUGEPAGE), WRITE(0, 0, SZ_4M, 1),
		MADV(0, P4K(3), P4K(2), A_FREE), CLASSIFY(0, P4K(5), SZ_4M - P4K(5)),
		CLASSIFY(0, 0, P4K(3)), END } },
	{ "mremap-aligned", {
		MMAP(SZ_4M), MADV(0, 0, SZ_4M, A_HUGEPAGE), WRITE(0, 0, SZ_4M, 1),
		MREMAP(0, M_ALIGNED), CLASSIFY(0, 0, SZ_4M), WRITE(0, P4K(1), 1, 2),
		CLASSIFY(0, 0, SZ_4M), END } },
	{ "mremap-unaligned", {
		MMAP(SZ_4M), MADV(0, 0, SZ_4M, A_HUGEPAGE), WRITE(0, 0, SZ_4M, 1),
		MREMAP(0, M_UNALIGNED), CLASSIFY(0, 0, SZ_4M),
		MADV(0, SZ_2M - P4K(1), SZ_2M, A_DONTNEED), WRITE(0, SZ_2M - P4K(1), 1, 2),
		CLASSIFY(0, 0, SZ_4M), END } },
	{ "hugepage-after-4k-fault", {
		MMAP(SZ_4M), WRITE(0, 0, 1, 1), MADV(0, 0, SZ_4M, A_HUGEPAGE),
		WRITE(0, P4K(1), 1, 2), WRITE(0, SZ_2M, 1, 3), CLASSIFY(0, 0, SZ_4M), END } },
	{ "fork-child-unmaps", {
		MMAP(SZ_4M), MADV(0, 0, SZ_4M, A_HUGEPAGE), WRITE(0, 0, SZ_4M, 1), FORK,
		MUNMAP(1, 0, SZ_2M), WRITE(0, P4K(5), 1, 2), CLASSIFY(0, 0, SZ_4M),
		CLASSIFY(1, SZ_2M, SZ_2M), END } },
	{ "fork-child-mprotect-and-dontneed", {
		MMAP(SZ_4M), MADV(0, 0, SZ_4M, A_HUGEPAGE), WRITE(0, 0, SZ_4M, 1), FORK,
		MPROT(1, P4K(3), P4K(2), P_R), MADV(1, SZ_2M + P4K(10), P4K(4), A_DONTNEED),
		CLASSIFY(0, 0, SZ_4M), CLASSIFY(1, 0, SZ_4M),
		WRITE(0, SZ_2M + P4K(20), 1, 2), CLASSIFY(0, 0, SZ_4M), CLASSIFY(1, 0, SZ_4M),
		END } },
	{ "huge-zero-fork", {
		MMAP(SZ_4M), MADV(0, 0, SZ_4M, A_HUGEPAGE), READ(0, 0, SZ_4M), FORK,
		WRITE(1, P4K(3), 1, 1), CLASSIFY(0, 0, SZ_4M), CLASSIFY(1, 0, SZ_4M), END } },
};

#define NR_SCENARIOS (sizeof(scenarios) / sizeof(scenarios[0]))

/* What the kernel side reports, in memory shared with the test. */
struct kres {
	int status;			/* 0 ok, else failed (msg) */
	char msg[256];
	unsigned int ncls;
	uint64_t cls_len[MAX_CLS];
	char cls[MAX_CLS][MAX_PAGES][2];
};

static bool thp_always;
static const char *skip_reason;

/* ---------------------------------------------------------------------- */
/* The kernel side                                                         */
/* ---------------------------------------------------------------------- */

static int k_classify(uint64_t base, uint64_t len, char (*out)[2], char *msg, size_t msglen)
{
	static uint64_t pm[MAX_PAGES];
	static uint64_t cat[MAX_PAGES];
	struct kd_page_region vec[256];
	struct kd_pm_scan_arg arg;
	uint64_t n = PAGES(len), i, va, flags;
	int pmfd, kfd;
	long r;

	pmfd = open("/proc/self/pagemap", O_RDONLY);
	kfd = open("/proc/kpageflags", O_RDONLY);
	if (pmfd < 0 || kfd < 0) {
		snprintf(msg, msglen, "cannot open pagemap or kpageflags");
		return -1;
	}
	if (pread(pmfd, pm, n * 8, (base / SZ_4K) * 8) != (ssize_t)(n * 8)) {
		snprintf(msg, msglen, "pagemap read failed");
		return -1;
	}
	memset(cat, 0, sizeof(cat));
	memset(&arg, 0, sizeof(arg));
	arg.size = sizeof(arg);
	arg.start = base;
	arg.end = base + len;
	arg.vec = (uint64_t)(uintptr_t)vec;
	arg.vec_len = 256;
	arg.category_anyof_mask = KD_PAGE_IS_PRESENT;
	arg.return_mask = KD_PAGE_IS_PRESENT | KD_PAGE_IS_HUGE | KD_PAGE_IS_PFNZERO;
	do {
		r = ioctl(pmfd, KD_PAGEMAP_SCAN, &arg);
		if (r < 0) {
			snprintf(msg, msglen, "PAGEMAP_SCAN: %s", strerror(errno));
			return -1;
		}
		for (long k = 0; k < r; k++)
			for (va = vec[k].start; va < vec[k].end; va += SZ_4K)
				cat[(va - base) / SZ_4K] = vec[k].categories;
		arg.start = arg.walk_end;
	} while (r == 256 && arg.walk_end < base + len);
	for (i = 0; i < n; i++) {
		if (!(pm[i] & PM_PRESENT)) {
			out[i][0] = '-';
			out[i][1] = '.';
			continue;
		}
		if (!(pm[i] & PM_PFN_MASK)) {
			snprintf(msg, msglen, "pagemap hides frames (not root?)");
			return -1;
		}
		flags = 0;
		if (pread(kfd, &flags, 8, (pm[i] & PM_PFN_MASK) * 8) != 8) {
			snprintf(msg, msglen, "kpageflags read failed");
			return -1;
		}
		if ((cat[i] & KD_PAGE_IS_PFNZERO) || (flags >> KPF_ZERO_PAGE & 1))
			out[i][0] = 'z';
		else if (cat[i] & KD_PAGE_IS_HUGE)
			out[i][0] = 'H';
		else if ((flags >> KPF_THP & 1) || (flags >> KPF_COMPOUND_HEAD & 1) ||
			 (flags >> KPF_COMPOUND_TAIL & 1))
			out[i][0] = 'T';
		else
			out[i][0] = 'p';
		out[i][1] = pm[i] & PM_EXCLUSIVE ? 'x' : '.';
	}
	close(pmfd);
	close(kfd);
	return 0;
}

static int k_advice(int a)
{
	return a == A_HUGEPAGE ? MADV_HUGEPAGE : a == A_NOHUGEPAGE ? MADV_NOHUGEPAGE :
	       a == A_DONTNEED ? MADV_DONTNEED : MADV_FREE;
}

/* An address range of @len at @align + @offset, with nothing around it mapped by us. */
static char *k_place(uint64_t len, uint64_t offset)
{
	char *p = mmap(NULL, len + 2 * SZ_2M, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint64_t a;

	if (p == MAP_FAILED)
		return NULL;
	a = (((uint64_t)(uintptr_t)p + SZ_2M - 1) & ~(SZ_2M - 1)) + offset;
	return (char *)(uintptr_t)a;
}

/* Run step @s in this process. Returns 0 or -1 with @msg. */
static int k_step(const struct step *s, char **base, uint64_t *len, struct kres *res, char *msg,
		  size_t msglen)
{
	char *p, *q;
	uint64_t i;

	switch (s->op) {
	case S_MMAP:
		p = k_place(s->len, 0);
		if (!p)
			goto err;
		q = mmap(p, s->len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
			 -1, 0);
		if (q != p)
			goto err;
		*base = p;
		*len = s->len;
		return 0;
	case S_MADV:
		if (madvise(*base + s->off, s->len, k_advice(s->arg)))
			goto err;
		return 0;
	case S_WRITE:
		memset(*base + s->off, s->arg, s->len);
		return 0;
	case S_READ:
		for (i = 0; i < s->len; i += SZ_4K)
			(void)*(volatile char *)(*base + s->off + i);
		return 0;
	case S_MPROTECT:
		if (mprotect(*base + s->off, s->len,
			     s->arg == P_R ? PROT_READ : PROT_READ | PROT_WRITE))
			goto err;
		return 0;
	case S_MUNMAP:
		if (munmap(*base + s->off, s->len))
			goto err;
		return 0;
	case S_MREMAP:
		p = k_place(*len, s->arg == M_UNALIGNED ? SZ_4K : 0);
		if (!p)
			goto err;
		q = mremap(*base, *len, *len, MREMAP_MAYMOVE | MREMAP_FIXED, p);
		if (q != p)
			goto err;
		*base = p;
		return 0;
	case S_CLASSIFY:
		if (res->ncls >= MAX_CLS) {
			snprintf(msg, msglen, "too many classifications");
			return -1;
		}
		res->cls_len[res->ncls] = s->len;
		if (k_classify((uint64_t)(uintptr_t)*base + s->off, s->len, res->cls[res->ncls],
			       msg, msglen))
			return -1;
		res->ncls++;
		return 0;
	default:
		snprintf(msg, msglen, "bad step %d", s->op);
		return -1;
	}
err:
	snprintf(msg, msglen, "step %d: %s", s->op, strerror(errno));
	return -1;
}

/* The scenario's child: run the steps it is sent, answer one byte each. */
static void k_child_loop(const struct scenario *sc, int cmd, int ack, char *base, uint64_t len,
			 struct kres *res)
{
	int idx;
	char ok;

	alarm(20);
	while (read(cmd, &idx, sizeof(idx)) == sizeof(idx) && idx >= 0) {
		ok = k_step(&sc->steps[idx], &base, &len, res, res->msg, sizeof(res->msg)) ? 1 : 0;
		if (write(ack, &ok, 1) != 1)
			break;
	}
	_exit(0);
}

static void k_scenario(const struct scenario *sc, struct kres *res)
{
	int cmd[2] = { -1, -1 }, ack[2] = { -1, -1 }, idx, st;
	pid_t child = -1;
	char *base = NULL;
	uint64_t len = 0;
	char ok;

	alarm(20);
	for (idx = 0; sc->steps[idx].op != S_END; idx++) {
		const struct step *s = &sc->steps[idx];

		if (s->op == S_FORK) {
			if (pipe(cmd) || pipe(ack))
				goto fail;
			child = fork();
			if (child < 0)
				goto fail;
			if (!child) {
				close(cmd[1]);
				close(ack[0]);
				k_child_loop(sc, cmd[0], ack[1], base, len, res);
			}
			close(cmd[0]);
			close(ack[1]);
			continue;
		}
		if (s->op == S_EXIT_CHILD) {
			idx = -1;
			if (write(cmd[1], &idx, sizeof(idx)) != sizeof(idx))
				goto fail;
			waitpid(child, &st, 0);
			child = -1;
			idx = (int)(s - sc->steps);
			continue;
		}
		if (s->who == 1) {
			if (write(cmd[1], &idx, sizeof(idx)) != sizeof(idx) ||
			    read(ack[0], &ok, 1) != 1 || ok) {
				if (!res->msg[0])
					snprintf(res->msg, sizeof(res->msg), "child step %d failed",
						 idx);
				goto fail_quiet;
			}
			continue;
		}
		if (k_step(s, &base, &len, res, res->msg, sizeof(res->msg)))
			goto fail_quiet;
	}
	if (child > 0) {
		idx = -1;
		if (write(cmd[1], &idx, sizeof(idx)) == sizeof(idx))
			waitpid(child, &st, 0);
	}
	res->status = 0;
	_exit(0);
fail:
	snprintf(res->msg, sizeof(res->msg), "scenario plumbing: %s", strerror(errno));
fail_quiet:
	res->status = 1;
	if (child > 0)
		kill(child, SIGKILL);
	_exit(1);
}

/* Counters of /proc/vmstat that say the kernel could not give a THP. */
static const char *const fallback_names[] = {
	"thp_fault_fallback ", "thp_fault_fallback_charge ", "thp_zero_page_alloc_failed ", NULL,
};
/* Folios the kernel split (its deferred-split shrinker runs under memory pressure). */
static const char *const split_names[] = { "thp_split_page ", NULL };

static uint64_t vmstat_sum(const char *const *names)
{
	char line[256];
	uint64_t sum = 0;
	FILE *f = fopen("/proc/vmstat", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		for (size_t i = 0; names[i]; i++)
			if (!strncmp(line, names[i], strlen(names[i])))
				sum += strtoull(line + strlen(names[i]), NULL, 10);
	fclose(f);
	return sum;
}

/* Is every difference a page the kernel maps small where hmmsim keeps the THP (T)? */
static bool only_kernel_splits(const char (*k)[2], const char (*h)[2], uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		if (memcmp(k[i], h[i], 2) && !(k[i][0] == 'p' && h[i][0] == 'T'))
			return false;
	return true;
}

/* ---------------------------------------------------------------------- */
/* The hmmsim side                                                         */
/* ---------------------------------------------------------------------- */

static enum mm_advice s_advice(int a)
{
	return a == A_HUGEPAGE ? MM_MADV_HUGEPAGE : a == A_NOHUGEPAGE ? MM_MADV_NOHUGEPAGE :
	       a == A_DONTNEED ? MM_MADV_DONTNEED : MM_MADV_FREE;
}

static void s_scenario(const struct scenario *sc, struct kres *out)
{
	struct mm_system_config cfg = { .thp = thp_always ? MM_THP_ALWAYS : MM_THP_MADVISE };
	struct mm_struct *mm[2] = { NULL, NULL };
	uint64_t base[2] = { 0, 0 }, len = 0, nb = 0, i;
	uint8_t *buf;
	const char *d;
	int idx, ret;

	mt_setup(&cfg);
	mm[0] = mt_proc(NULL);
	memset(out, 0, sizeof(*out));
	for (idx = 0; sc->steps[idx].op != S_END; idx++) {
		const struct step *s = &sc->steps[idx];
		struct mm_struct *m = mm[s->who];
		uint64_t b = base[s->who];

		switch (s->op) {
		case S_MMAP:
			base[0] = mt_mmap(mm[0], s->len, MM_PROT_READ | MM_PROT_WRITE,
					  MM_MAP_PRIVATE | MM_MAP_ANONYMOUS, SZ_2M, 0);
			len = s->len;
			break;
		case S_MADV:
			assert_int_equal(mm_madvise(m, b + s->off, s->len, s_advice(s->arg)), 0);
			break;
		case S_WRITE:
			assert_int_equal(mm_memset(m, b + s->off, s->arg, s->len), 0);
			break;
		case S_READ:
			buf = malloc(s->len);
			assert_non_null(buf);
			ret = mm_read(m, b + s->off, buf, s->len);
			free(buf);
			assert_int_equal(ret, 0);
			break;
		case S_FORK:
			mm[1] = mt_fork(mm[0]);
			base[1] = base[0];
			break;
		case S_MPROTECT:
			ret = mm_mprotect(m, b + s->off, s->len, s->arg == P_R ? MM_PROT_READ :
					  MM_PROT_READ | MM_PROT_WRITE);
			assert_int_equal(ret, 0);
			break;
		case S_MUNMAP:
			assert_int_equal(mm_munmap(m, b + s->off, s->len), 0);
			break;
		case S_MREMAP:
			assert_int_equal(mm_mremap(m, b, len, 0, 0, SZ_2M,
						   s->arg == M_UNALIGNED ? SZ_4K : 0, &nb), 0);
			base[s->who] = nb;
			break;
		case S_CLASSIFY:
			d = mt_dump(m, b + s->off, s->len);
			{
				/* Expand the runs into one code per page. */
				const char *q = d;
				uint64_t at = 0, cnt;
				char *end;

				while (*q && at < PAGES(s->len)) {
					cnt = strtoull(q, &end, 10);
					for (i = 0; i < cnt && at < PAGES(s->len); i++, at++) {
						out->cls[out->ncls][at][0] = end[1];
						out->cls[out->ncls][at][1] = end[2];
					}
					q = strchr(end, ',');
					if (!q)
						break;
					q++;
				}
				assert_int_equal(at, PAGES(s->len));
			}
			out->cls_len[out->ncls++] = s->len;
			break;
		case S_EXIT_CHILD:
			mt_exit(mm[1]);
			mm[1] = NULL;
			break;
		default:
			fail();
		}
		assert_mm_ok();
	}
	mt_teardown();
}

/* ---------------------------------------------------------------------- */
/* Comparison                                                              */
/* ---------------------------------------------------------------------- */

static void runs(const char (*c)[2], uint64_t n, char *out, size_t size)
{
	uint64_t i = 0, j;
	size_t at = 0;

	out[0] = 0;
	while (i < n && at + 32 < size) {
		for (j = i + 1; j < n && c[j][0] == c[i][0] && c[j][1] == c[i][1]; j++)
			;
		at += snprintf(out + at, size - at, "%s%" PRIu64 ":%c%c", i ? "," : "", j - i,
			       c[i][0], c[i][1]);
		i = j;
	}
}

/* Compare one classification; returns the first bad page or -1. */
static long compare(const char (*k)[2], const char (*s)[2], uint64_t n, const char **why)
{
	uint64_t i, j;
	bool kx, sx;

	for (i = 0; i < n; i++) {
		if (k[i][0] != s[i][0]) {
			*why = "class";
			return (long)i;
		}
		if ((k[i][0] == 'p' || k[i][0] == 'T') && k[i][1] != s[i][1]) {
			*why = "exclusivity";
			return (long)i;
		}
	}
	/* PMD leaves: exclusive as a block. */
	for (i = 0; i < n; i = j) {
		if (k[i][0] != 'H') {
			j = i + 1;
			continue;
		}
		kx = sx = true;
		for (j = i; j < n && k[j][0] == 'H' && (j == i || j % 512); j++) {
			kx &= k[j][1] == 'x';
			sx &= s[j][1] == 'x';
		}
		if (kx != sx) {
			*why = "exclusivity of a PMD leaf";
			return (long)i;
		}
	}
	return -1;
}

static struct kres *kshared;

static void run_scenario(const struct scenario *sc)
{
	struct kres *sim = calloc(1, sizeof(*sim));
	char kr[2048], sr[2048];
	uint64_t before, after, splits;
	const char *why = "";
	unsigned int c;
	pid_t pid;
	long bad;
	int st = 0;

	assert_non_null(sim);
	if (skip_reason)
		skip();
	memset(kshared, 0, sizeof(*kshared));
	kshared->status = -1;
	before = vmstat_sum(fallback_names);
	splits = vmstat_sum(split_names);
	fflush(stdout);
	pid = fork();
	assert_true(pid >= 0);
	if (!pid)
		k_scenario(sc, kshared);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	after = vmstat_sum(fallback_names);
	splits = vmstat_sum(split_names) - splits;
	if (kshared->status) {
		print_error("scenario %s: the kernel side failed: %s (status %d, wait %#x)\n",
			    sc->name, kshared->msg, kshared->status, st);
		fail();
	}
	if (after != before) {
		printf("# scenario %s: inconclusive, the kernel could not allocate a THP "
		       "(thp fallbacks +%" PRIu64 ")\n", sc->name, after - before);
		free(sim);
		skip();
	}
	s_scenario(sc, sim);
	assert_int_equal(sim->ncls, kshared->ncls);
	for (c = 0; c < sim->ncls; c++) {
		uint64_t n = PAGES(sim->cls_len[c]);

		runs((const char (*)[2])kshared->cls[c], n, kr, sizeof(kr));
		runs((const char (*)[2])sim->cls[c], n, sr, sizeof(sr));
		printf("# %s #%u\n#   kernel %s\n#   hmmsim %s\n", sc->name, c, kr, sr);
		bad = compare((const char (*)[2])kshared->cls[c], (const char (*)[2])sim->cls[c], n,
			      &why);
		if (bad >= 0 && splits &&
		    only_kernel_splits((const char (*)[2])kshared->cls[c],
				       (const char (*)[2])sim->cls[c], n)) {
			printf("# scenario %s: inconclusive, the kernel split %" PRIu64 " folios "
			       "meanwhile (its shrinker, under memory pressure)\n", sc->name, splits);
			free(sim);
			skip();
		}
		if (bad >= 0) {
			print_error("scenario %s, classification %u: %s differs at page %ld\n"
				    "  kernel %s\n  hmmsim %s\n", sc->name, c, why, bad, kr, sr);
			free(sim);
			fail();
		}
	}
	free(sim);
}

static void test_scenario(void **state)
{
	run_scenario(*state);
}

/* ---------------------------------------------------------------------- */
/* Is the machine fit for the comparison?                                  */
/* ---------------------------------------------------------------------- */

static const char *check_environment(void)
{
	static char why[256];
	char buf[256] = "";
	struct kd_page_region vec[4];
	struct kd_pm_scan_arg arg;
	uint64_t e = 0, f = 0;
	FILE *fp;
	char *p;
	int pmfd, kfd;
	long r;

	fp = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
	if (!fp)
		return "no /sys/kernel/mm/transparent_hugepage/enabled";
	if (!fgets(buf, sizeof(buf), fp))
		buf[0] = 0;
	fclose(fp);
	if (strstr(buf, "[always]"))
		thp_always = true;
	else if (!strstr(buf, "[madvise]"))
		return "THP is neither in madvise nor in always mode";
	fp = fopen("/sys/kernel/mm/transparent_hugepage/use_zero_page", "r");
	if (fp) {
		if (fgets(buf, sizeof(buf), fp) && buf[0] == '0') {
			fclose(fp);
			return "the huge zero page is disabled (use_zero_page = 0)";
		}
		fclose(fp);
	}
	/* mTHP sizes would turn small pages into large folios: not modelled here. */
	for (int kb = 16; kb < 2048; kb *= 2) {
		char path[128];

		snprintf(path, sizeof(path),
			 "/sys/kernel/mm/transparent_hugepage/hugepages-%dkB/enabled", kb);
		fp = fopen(path, "r");
		if (!fp)
			continue;
		if (!fgets(buf, sizeof(buf), fp))
			buf[0] = 0;
		fclose(fp);
		if (!strstr(buf, "[never]")) {
			snprintf(why, sizeof(why), "mTHP %d kB is enabled", kb);
			return why;
		}
	}
	pmfd = open("/proc/self/pagemap", O_RDONLY);
	if (pmfd < 0)
		return "no /proc/self/pagemap";
	kfd = open("/proc/kpageflags", O_RDONLY);
	if (kfd < 0) {
		close(pmfd);
		return "no /proc/kpageflags (needs root)";
	}
	p = mmap(NULL, SZ_16K, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		close(pmfd);
		close(kfd);
		return "mmap failed";
	}
	p[0] = 1;
	if (pread(pmfd, &e, 8, ((uint64_t)(uintptr_t)p / SZ_4K) * 8) != 8 || !(e & PM_PRESENT) ||
	    !(e & PM_PFN_MASK) || pread(kfd, &f, 8, (e & PM_PFN_MASK) * 8) != 8) {
		snprintf(why, sizeof(why), "pagemap gives no frames or kpageflags is unreadable");
		goto out;
	}
	memset(&arg, 0, sizeof(arg));
	arg.size = sizeof(arg);
	arg.start = (uint64_t)(uintptr_t)p;
	arg.end = arg.start + SZ_16K;
	arg.vec = (uint64_t)(uintptr_t)vec;
	arg.vec_len = 4;
	arg.category_anyof_mask = KD_PAGE_IS_PRESENT;
	arg.return_mask = KD_PAGE_IS_PRESENT | KD_PAGE_IS_HUGE | KD_PAGE_IS_PFNZERO;
	r = ioctl(pmfd, KD_PAGEMAP_SCAN, &arg);
	if (r < 1 || !(vec[0].categories & KD_PAGE_IS_PRESENT))
		snprintf(why, sizeof(why), "no PAGEMAP_SCAN ioctl (%s)",
			 r < 0 ? strerror(errno) : "no result");
	else
		why[0] = 0;
out:
	munmap(p, SZ_16K);
	close(pmfd);
	close(kfd);
	return why[0] ? why : NULL;
}

int main(void)
{
	struct CMUnitTest tests[NR_SCENARIOS];
	unsigned int i;
	int ret;

	/* One CMocka test per scenario, named after it. */
	for (i = 0; i < NR_SCENARIOS; i++)
		tests[i] = (struct CMUnitTest){
			.name = scenarios[i].name,
			.test_func = test_scenario,
			.initial_state = (void *)&scenarios[i],
		};
	hmmsim_thread_register();
	skip_reason = check_environment();
	if (skip_reason) {
		printf("# mm_kernel_diff skipped: %s\n", skip_reason);
		hmmsim_thread_unregister();
		return 77;
	}
	kshared = mmap(NULL, sizeof(*kshared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		       -1, 0);
	if (kshared == MAP_FAILED) {
		printf("# mm_kernel_diff skipped: no shared memory\n");
		hmmsim_thread_unregister();
		return 77;
	}
	printf("# THP mode: %s\n", thp_always ? "always" : "madvise");
	ret = cmocka_run_group_tests_name("mm_kernel_diff", tests, NULL, NULL);
	hmmsim_thread_unregister();
	return ret;
}
