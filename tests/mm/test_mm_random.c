// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * mm_random: random operation sequences (mmap, munmap, mprotect, madvise,
 * mremap, fork, exit, read, write, THP mode changes) at 4 KiB and THP sizes
 * over several processes, against a byte-level reference model of each
 * process's memory, with mm_check() and mm_system_check() after every
 * operation. Every process works in the same 16 MiB arena of its address
 * space (MAP_FIXED), so fork and mremap are easy to model. The seed is
 * printed; HMMSIM_TEST_SEED replays it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mm_test.h"
#include "prng.h"

#define RW		(MM_PROT_READ | MM_PROT_WRITE)
#define ANON		(MM_MAP_PRIVATE | MM_MAP_ANONYMOUS)
#define ARENA		(16 * SZ_1M)
#define NPG		PAGES(ARENA)
#define MAX_PROCS	5

/* Page state bits of the model. */
#define P_MAPPED	1u
#define P_READ		2u
#define P_WRITE		4u
#define P_LAZY		8u	/* MADV_FREE: the old bytes or zeros */

struct rproc {
	struct mm_struct *mm;
	uint8_t *mem;
	uint8_t *st;
};

struct world {
	struct prng rng;
	uint64_t base;
	struct rproc p[MAX_PROCS];
	int nr;
	unsigned long ops[16];
	int step;
};

static const char *const op_names[] = {
	"mmap", "munmap", "mprotect", "dontneed", "free", "hugepage", "nohugepage", "mremap",
	"fork", "exit", "new", "read", "write", "thp", "compare",
};

static void where(struct world *w, const char *what)
{
	print_error("step %d: %s\n", w->step, what);
}

static void proc_new(struct world *w, struct mm_struct *mm, const struct rproc *from)
{
	struct rproc *p = &w->p[w->nr++];

	p->mm = mm;
	p->mem = malloc(ARENA);
	p->st = malloc(NPG);
	assert_non_null(p->mem);
	assert_non_null(p->st);
	if (from) {
		memcpy(p->mem, from->mem, ARENA);
		memcpy(p->st, from->st, NPG);
	} else {
		memset(p->mem, 0, ARENA);
		memset(p->st, 0, NPG);
	}
}

static void proc_del(struct world *w, int i)
{
	mt_exit(w->p[i].mm);
	free(w->p[i].mem);
	free(w->p[i].st);
	w->p[i] = w->p[--w->nr];
}

/* A random range of pages in the arena: [*pg, *pg + *n). */
static void pick_range(struct world *w, uint64_t *pg, uint64_t *n, bool thp)
{
	if (thp) {
		*n = 512 * (1 + prng_below(&w->rng, 3));
		*pg = 512 * prng_below(&w->rng, (NPG - *n) / 512 + 1);
	} else {
		*n = 1 + prng_below(&w->rng, prng_chance(&w->rng, 70) ? 16 : 700);
		*pg = prng_below(&w->rng, NPG - *n + 1);
	}
}

static bool all_mapped(struct rproc *p, uint64_t pg, uint64_t n)
{
	for (uint64_t i = pg; i < pg + n; i++)
		if (!(p->st[i] & P_MAPPED))
			return false;
	return true;
}

/* Compare page @i of @p with the model; a lazy page may read as zeros (then it is). */
static void check_page(struct world *w, struct rproc *p, uint64_t i, const uint8_t *got)
{
	static const uint8_t zero[SZ_4K];
	uint8_t *want = p->mem + i * SZ_4K;
	uint64_t k;

	if (!memcmp(got, want, SZ_4K))
		return;
	if ((p->st[i] & P_LAZY) && !memcmp(got, zero, SZ_4K)) {
		memset(want, 0, SZ_4K);
		p->st[i] &= ~P_LAZY;
		return;
	}
	for (k = 0; got[k] == want[k]; k++)
		;
	print_error("step %d: byte %#" PRIx64 " of the arena is %#x, the model says %#x "
		    "(page state %#x)\n", w->step, i * SZ_4K + k, got[k], want[k], p->st[i]);
	fail();
}

/* Read every readable page of @p and compare. */
static void compare_all(struct world *w, struct rproc *p)
{
	uint8_t *buf = malloc(ARENA);
	uint64_t i, j;
	int ret;

	assert_non_null(buf);
	for (i = 0; i < NPG; i = j) {
		if (!(p->st[i] & P_READ)) {
			j = i + 1;
			continue;
		}
		for (j = i; j < NPG && (p->st[j] & P_READ); j++)
			;
		ret = mm_read(p->mm, w->base + i * SZ_4K, buf, (j - i) * SZ_4K);
		if (ret) {
			where(w, "compare");
			assert_int_equal(ret, 0);
		}
		for (uint64_t k = i; k < j; k++)
			check_page(w, p, k, buf + (k - i) * SZ_4K);
	}
	free(buf);
}

static void do_mmap(struct world *w, struct rproc *p)
{
	bool thp = prng_chance(&w->rng, 50);
	unsigned int prot = prng_chance(&w->rng, 80) ? RW :
			    prng_chance(&w->rng, 50) ? MM_PROT_READ : MM_PROT_NONE;
	struct mm_mmap_args a = { .prot = prot, .flags = ANON | MM_MAP_FIXED };
	uint64_t pg, n, addr = 0;
	uint8_t st = P_MAPPED | (prot & MM_PROT_READ ? P_READ : 0) |
		     (prot & MM_PROT_WRITE ? P_WRITE | P_READ : 0);
	int ret;

	pick_range(w, &pg, &n, thp);
	a.addr = w->base + pg * SZ_4K;
	a.len = n * SZ_4K;
	ret = mm_mmap(p->mm, &a, &addr);
	if (ret || addr != a.addr) {
		where(w, "mmap");
		assert_int_equal(ret, 0);
		assert_int_equal(addr, a.addr);
	}
	memset(p->mem + pg * SZ_4K, 0, n * SZ_4K);
	memset(p->st + pg, st, n);
	if (thp || prng_chance(&w->rng, 20)) {
		ret = mm_madvise(p->mm, a.addr, a.len, MM_MADV_HUGEPAGE);
		if (ret) {
			where(w, "madvise(HUGEPAGE) after mmap");
			assert_int_equal(ret, 0);
		}
	}
	/* Populate a THP region at once, often. */
	if (thp && (prot & MM_PROT_WRITE) && prng_chance(&w->rng, 60)) {
		uint8_t b = (uint8_t)prng_next(&w->rng);

		ret = mm_memset(p->mm, a.addr, b, a.len);
		if (ret) {
			where(w, "populate");
			assert_int_equal(ret, 0);
		}
		memset(p->mem + pg * SZ_4K, b, n * SZ_4K);
	}
}

static void do_munmap(struct world *w, struct rproc *p)
{
	uint64_t pg, n;
	int ret;

	pick_range(w, &pg, &n, prng_chance(&w->rng, 20));
	ret = mm_munmap(p->mm, w->base + pg * SZ_4K, n * SZ_4K);
	if (ret) {
		where(w, "munmap");
		assert_int_equal(ret, 0);
	}
	memset(p->st + pg, 0, n);
}

static void do_mprotect(struct world *w, struct rproc *p)
{
	unsigned int prot = (unsigned int)prng_below(&w->rng, 3);
	uint64_t pg, n, i;
	bool ok;
	int ret;

	prot = prot == 0 ? MM_PROT_NONE : prot == 1 ? MM_PROT_READ : RW;
	pick_range(w, &pg, &n, false);
	ok = all_mapped(p, pg, n);
	ret = mm_mprotect(p->mm, w->base + pg * SZ_4K, n * SZ_4K, prot);
	if (ret != (ok ? 0 : -ENOMEM)) {
		where(w, "mprotect");
		assert_int_equal(ret, ok ? 0 : -ENOMEM);
	}
	if (!ok)
		return;
	for (i = pg; i < pg + n; i++)
		p->st[i] = (p->st[i] & (P_MAPPED | P_LAZY)) |
			   (prot & MM_PROT_READ ? P_READ : 0) |
			   (prot & MM_PROT_WRITE ? P_WRITE | P_READ : 0);
}

static void do_madvise(struct world *w, struct rproc *p, enum mm_advice adv)
{
	uint64_t pg, n, i;
	bool ok;
	int ret;

	pick_range(w, &pg, &n, prng_chance(&w->rng, 20));
	if (prng_chance(&w->rng, 50)) {
		/* Often inside a mapped run, so that it does something. */
		for (i = pg; i < pg + n && (p->st[i] & P_MAPPED); i++)
			;
		if (i > pg)
			n = i - pg;
	}
	ok = all_mapped(p, pg, n);
	ret = mm_madvise(p->mm, w->base + pg * SZ_4K, n * SZ_4K, adv);
	if (ret != (ok ? 0 : -ENOMEM)) {
		where(w, "madvise");
		assert_int_equal(ret, ok ? 0 : -ENOMEM);
	}
	if (!ok)
		return;
	for (i = pg; i < pg + n; i++) {
		if (adv == MM_MADV_DONTNEED) {
			memset(p->mem + i * SZ_4K, 0, SZ_4K);
			p->st[i] &= ~P_LAZY;
		} else if (adv == MM_MADV_FREE) {
			p->st[i] |= P_LAZY;
		}
	}
}

static void do_mremap(struct world *w, struct rproc *p)
{
	struct mt_vma v;
	uint64_t pg, n, opg, dst, out = 0;
	bool aligned = prng_chance(&w->rng, 50);
	uint8_t *tmp;
	int ret, tries;

	for (tries = 0; tries < 20; tries++) {
		pg = prng_below(&w->rng, NPG);
		if (p->st[pg] & P_MAPPED)
			break;
	}
	if (!(p->st[pg] & P_MAPPED))
		return;
	assert_int_equal(mt_vmas(p->mm, w->base + pg * SZ_4K, w->base + pg * SZ_4K + 1, &v, 1),
			 1);
	if (v.start < w->base || v.end > w->base + ARENA) {
		where(w, "mremap: a VMA outside the arena");
		fail();
	}
	opg = PAGES(v.start - w->base);
	n = PAGES(v.end - v.start);
	/* A destination in the arena, not overlapping the source. */
	for (tries = 0; tries < 50; tries++) {
		if (aligned)
			dst = 512 * prng_below(&w->rng, NPG / 512) +
			      (prng_chance(&w->rng, 50) ? 1 : 0);
		else
			dst = prng_below(&w->rng, NPG);
		if (dst + n <= NPG && (dst + n <= opg || dst >= opg + n))
			break;
	}
	if (tries == 50)
		return;
	ret = mm_mremap(p->mm, v.start, v.end - v.start, MM_MAP_FIXED, w->base + dst * SZ_4K, 0, 0,
			&out);
	if (ret || out != w->base + dst * SZ_4K) {
		where(w, "mremap");
		assert_int_equal(ret, 0);
		assert_int_equal(out, w->base + dst * SZ_4K);
	}
	tmp = malloc(n * SZ_4K);
	assert_non_null(tmp);
	memcpy(tmp, p->mem + opg * SZ_4K, n * SZ_4K);
	memcpy(p->mem + dst * SZ_4K, tmp, n * SZ_4K);
	free(tmp);
	memmove(p->st + dst, p->st + opg, n);
	/* The source pages not covered by the destination are gone. */
	for (uint64_t i = opg; i < opg + n; i++)
		if (i < dst || i >= dst + n)
			p->st[i] = 0;
}

static void do_read(struct world *w, struct rproc *p)
{
	uint64_t pg, n, off, len, i, first_bad = UINT64_MAX;
	uint8_t *buf;
	int ret;

	pick_range(w, &pg, &n, false);
	off = prng_below(&w->rng, SZ_4K);
	len = n * SZ_4K - off - (n > 1 ? prng_below(&w->rng, SZ_4K) : 0);
	if (!len)
		len = 1;
	for (i = pg; i < pg + n; i++)
		if (!(p->st[i] & P_READ)) {
			first_bad = i;
			break;
		}
	buf = malloc(n * SZ_4K);
	assert_non_null(buf);
	ret = mm_read(p->mm, w->base + pg * SZ_4K + off, buf + off, len);
	if (ret != (first_bad == UINT64_MAX ? 0 : -EFAULT)) {
		where(w, "read");
		assert_int_equal(ret, first_bad == UINT64_MAX ? 0 : -EFAULT);
	}
	if (!ret) {
		/* Whole pages only: a lazy page is judged as a whole. */
		for (i = pg; i < pg + n; i++) {
			uint64_t s = i == pg ? off : 0, e = (i - pg + 1) * SZ_4K;

			if (e > off + len)
				e = off + len;
			e -= (i - pg) * SZ_4K;
			if (p->st[i] & P_LAZY)
				continue;
			if (memcmp(buf + (i - pg) * SZ_4K + s, p->mem + i * SZ_4K + s, e - s)) {
				uint64_t k = s;

				while (buf[(i - pg) * SZ_4K + k] == p->mem[i * SZ_4K + k])
					k++;
				print_error("step %d: read: byte %#" PRIx64 " of the arena is %#x, "
					    "the model says %#x (page state %#x)\n", w->step,
					    i * SZ_4K + k, buf[(i - pg) * SZ_4K + k],
					    p->mem[i * SZ_4K + k], p->st[i]);
				fail();
			}
		}
	}
	free(buf);
}

/* Resolve a lazy page before writing part of it: read what it is now. */
static void settle_lazy(struct world *w, struct rproc *p, uint64_t i)
{
	uint8_t page[SZ_4K];
	int ret;

	if (!(p->st[i] & P_LAZY))
		return;
	ret = mm_read(p->mm, w->base + i * SZ_4K, page, SZ_4K);
	if (ret) {
		where(w, "reading a lazy page");
		assert_int_equal(ret, 0);
	}
	check_page(w, p, i, page);
	p->st[i] &= ~P_LAZY;
}

static void do_write(struct world *w, struct rproc *p)
{
	uint64_t pg, n, off, len, i, stop, end;
	uint8_t *buf;
	int ret;

	pick_range(w, &pg, &n, false);
	off = prng_below(&w->rng, SZ_4K);
	len = n * SZ_4K - off;
	if (n > 1)
		len -= prng_below(&w->rng, SZ_4K);
	stop = pg + n;
	for (i = pg; i < pg + n; i++)
		if (!(p->st[i] & P_WRITE)) {
			stop = i;
			break;
		}
	for (i = pg; i < stop; i++)
		settle_lazy(w, p, i);
	buf = malloc(len);
	assert_non_null(buf);
	if (prng_chance(&w->rng, 50)) {
		memset(buf, (int)prng_below(&w->rng, 256), len);
	} else {
		for (i = 0; i < len; i++)
			buf[i] = (uint8_t)prng_next(&w->rng);
	}
	ret = mm_write(p->mm, w->base + pg * SZ_4K + off, buf, len);
	if (ret != (stop == pg + n ? 0 : -EFAULT)) {
		where(w, "write");
		assert_int_equal(ret, stop == pg + n ? 0 : -EFAULT);
	}
	/* The pages before the faulting one are written. */
	end = stop * SZ_4K - pg * SZ_4K;
	if (end > off + len)
		end = off + len;
	if (end > off)
		memcpy(p->mem + pg * SZ_4K + off, buf, end - off);
	free(buf);
}

/* The checkers after every operation, naming the step and operation on failure. */
static void random_check(struct world *w, int op)
{
	char msg[1024];
	int i, ret;

	for (i = 0; i < w->nr; i++) {
		msg[0] = 0;
		ret = mm_check(w->p[i].mm, msg, sizeof(msg));
		if (ret) {
			print_error("step %d (%s): mm_check(process %d) = %d: %s\n", w->step,
				    op_names[op], i, ret, msg);
			fail();
		}
	}
	msg[0] = 0;
	ret = mm_system_check(mt.sys, msg, sizeof(msg));
	if (ret) {
		print_error("step %d (%s): mm_system_check() = %d: %s\n", w->step, op_names[op],
			    ret, msg);
		fail();
	}
}

static void random_run(const struct mm_profile *prof, const char *name, uint64_t def_seed,
		       int max_steps, double max_seconds)
{
	struct world *w = calloc(1, sizeof(*w));
	struct timespec t0, t1;
	uint64_t seed = prng_test_seed(name, def_seed);
	enum mm_thp_mode mode;
	double secs = 0;
	int op, i, k;

	assert_non_null(w);
	prng_seed(&w->rng, seed);
	mt_setup(NULL);
	proc_new(w, mt_proc(prof), NULL);
	w->base = mt_mmap(w->p[0].mm, ARENA, RW, ANON, SZ_2M, 0);
	assert_int_equal(mm_munmap(w->p[0].mm, w->base, ARENA), 0);
	assert_mm_ok();
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (w->step = 0; w->step < max_steps; w->step++) {
		i = (int)prng_below(&w->rng, w->nr);
		k = (int)prng_below(&w->rng, 1000);
		if (k < 120)
			op = 0;
		else if (k < 190)
			op = 1;
		else if (k < 260)
			op = 2;
		else if (k < 320)
			op = 3;
		else if (k < 350)
			op = 4;
		else if (k < 375)
			op = 5;
		else if (k < 395)
			op = 6;
		else if (k < 440)
			op = 7;
		else if (k < 480)
			op = 8;
		else if (k < 500)
			op = 9;
		else if (k < 505)
			op = 10;
		else if (k < 700)
			op = 11;
		else if (k < 985)
			op = 12;
		else if (k < 990)
			op = 13;
		else
			op = 14;
		switch (op) {
		case 0: do_mmap(w, &w->p[i]); break;
		case 1: do_munmap(w, &w->p[i]); break;
		case 2: do_mprotect(w, &w->p[i]); break;
		case 3: do_madvise(w, &w->p[i], MM_MADV_DONTNEED); break;
		case 4: do_madvise(w, &w->p[i], MM_MADV_FREE); break;
		case 5: do_madvise(w, &w->p[i], MM_MADV_HUGEPAGE); break;
		case 6: do_madvise(w, &w->p[i], MM_MADV_NOHUGEPAGE); break;
		case 7: do_mremap(w, &w->p[i]); break;
		case 8:
			if (w->nr < MAX_PROCS)
				proc_new(w, mt_fork(w->p[i].mm), &w->p[i]);
			break;
		case 9:
			if (w->nr > 1)
				proc_del(w, i);
			break;
		case 10:
			if (w->nr < MAX_PROCS)
				proc_new(w, mt_proc(prof), NULL);
			break;
		case 11: do_read(w, &w->p[i]); break;
		case 12: do_write(w, &w->p[i]); break;
		case 13:
			mode = (enum mm_thp_mode)prng_below(&w->rng, 3);
			assert_int_equal(mm_system_set_thp(mt.sys, mode), 0);
			break;
		default: compare_all(w, &w->p[i]); break;
		}
		w->ops[op]++;
		random_check(w, op);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		secs = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
		if (secs > max_seconds)
			break;
	}
	for (i = 0; i < w->nr; i++)
		compare_all(w, &w->p[i]);
	assert_mm_ok();
	printf("# %s: %d steps in %.2f s:", name, w->step, secs);
	for (op = 0; op < 15; op++)
		printf(" %s=%lu", op_names[op], w->ops[op]);
	printf("\n");
	while (w->nr)
		proc_del(w, w->nr - 1);
	mt_teardown();
	free(w);
}

static void test_random_current(void **state)
{
	(void)state;
	random_run(NULL, "mm_random current", 0x7a11d00d, 2500, 6.0);
}

static void test_random_57(void **state)
{
	(void)state;
	random_run(mt_profile("5.7"), "mm_random 5.7", 0x7a11d057, 1500, 4.0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_current),
		cmocka_unit_test(test_random_57),
	};
	int ret;

	hmmsim_thread_register();
	ret = cmocka_run_group_tests_name("mm_random", tests, NULL, NULL);
	hmmsim_thread_unregister();
	return ret;
}
