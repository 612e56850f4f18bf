// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Parallel mappers on disjoint pages of one shared directory (or of
 * directories under one shared parent), in a region where nothing else
 * lives: every map may have to install the directories above it, racing the
 * others, and every unmap may free them under the eager policy while another
 * thread is installing into them. A page a writer mapped must be there when
 * it looks, and gone when it unmapped it.
 */
#include <errno.h>
#include <inttypes.h>

#include "conc.h"

#define MAPPERS 4

struct mapper {
	struct conc *c;
	uint64_t va;		/* the page this thread owns */
	unsigned long rounds;
};

static void *mapper_thread(void *arg)
{
	struct mapper *m = arg;
	struct conc *c = m->c;
	unsigned int ps = c->fmt->page_shift;
	pt_entry_t want =
		pt_make_entry(c->fmt, conc_frame(c, m->va), c->fmt->valid | c->fmt->write);
	pt_entry_t e;
	unsigned int level;
	int64_t ret;

	while (!conc_stopped(c)) {
		ret = pt_map(c->t, m->va, UINT64_C(1) << ps, ps, want, 0);
		if (ret) {
			conc_error(c, "map %#" PRIx64 " = %lld", m->va, (long long)ret);
			break;
		}
		hmmsim_read_lock();
		ret = pt_lookup(c->t, m->va, &e, &level);
		hmmsim_read_unlock();
		if (ret || level || pt_test_strip(c->fmt, e) != want) {
			conc_error(c, "%#" PRIx64 " mapped, then lookup = %lld, entry %#" PRIx64,
				   m->va, (long long)ret, ret ? 0 : e);
			break;
		}
		ret = pt_unmap(c->t, m->va, UINT64_C(1) << ps, 0);
		if (ret != (int64_t)1 << ps) {
			conc_error(c, "unmap %#" PRIx64 " = %lld", m->va, (long long)ret);
			break;
		}
		hmmsim_read_lock();
		ret = pt_lookup(c->t, m->va, &e, &level);
		hmmsim_read_unlock();
		if (ret != -ENOENT) {
			conc_error(c, "%#" PRIx64 " unmapped, then lookup = %lld", m->va,
				   (long long)ret);
			break;
		}
		m->rounds++;
	}
	__atomic_fetch_add(&c->writes, m->rounds, __ATOMIC_RELAXED);
	return NULL;
}

/* Mappers on pages @stride apart, in the first unused top-level item; one reader with them. */
static void race(const struct pt_format *fmt, unsigned int stride_level, unsigned int ms)
{
	struct mapper mappers[MAPPERS];
	struct conc_threads ts = { 0 };
	struct reader rd;
	struct conc c;
	uint64_t base, stride;

	conc_init(&c, fmt, prng_test_seed(fmt->name, 0x1257a11));
	base = UINT64_C(1) << c.geo->shift[c.geo->levels - 1];
	stride = UINT64_C(1) << c.geo->shift[stride_level];
	assert_true(MAPPERS <= c.geo->entries[stride_level]);
	for (unsigned int i = 0; i < MAPPERS; i++) {
		mappers[i] = (struct mapper){ .c = &c, .va = base + i * stride };
		conc_spawn(&ts, mapper_thread, &mappers[i]);
	}
	rd = (struct reader){ .c = &c, .lo = base, .hi = base + MAPPERS * stride, .id = 7 };
	conc_spawn(&ts, reader_thread, &rd);
	conc_wait(&c, &ts, ms);
	print_message("# %s, pages 2^%u apart: %lu map+unmap rounds, %lu reads\n", fmt->name,
		      c.geo->shift[stride_level], c.writes, c.reads);
	if (!c.errors)
		assert_true(c.writes > 100);
	conc_fini(&c);
}

void test_install_race(void **state)
{
	/* One level-0 directory shared by all, then one level-1, then one level-2. */
	race(&pt_format_tiny, 0, conc_ms(500));
	race(&pt_format_tiny, 1, conc_ms(300));
	race(&pt_format_tiny, 2, conc_ms(300));
	race(&pt_format_x86_64_4l, 0, conc_ms(500));
	race(&pt_format_x86_64_4l, 1, conc_ms(300));
}
