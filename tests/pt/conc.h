/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_pt_concurrency: real threads on one table. Writers own disjoint
 * ranges that share directories; readers walk anything. Every frame is a
 * function of its address (conc_frame()), so a reader can tell a leaf some
 * writer could have written from garbage, such as the poison of a freed
 * directory.
 */
#ifndef HMMSIM_TESTS_PT_CONC_H
#define HMMSIM_TESTS_PT_CONC_H

#include <pthread.h>

#include "prng.h"
#include "pt_test.h"

/* Frames follow addresses from an offset aligned to every page size. */
#define CONC_FRAME_BASE (UINT64_C(1) << 20)

struct conc {
	struct pt_table *t;
	const struct pt_format *fmt;
	const struct pt_geometry *geo;
	uint64_t seed;
	unsigned int stop;		/* atomic: set by main when time is up */
	unsigned int errors;		/* atomic */
	char first_error[512];		/* written by the first thread to fail */
	unsigned long reads, writes;	/* atomic: work done, for the summary */
	pt_entry_t present_bits;	/* attributes a present leaf may carry */
	pt_entry_t special_bits;	/* ... a special one */
	pt_entry_t special_mark;	/* the sw bit every special entry has */
};

static inline uint64_t conc_frame(const struct conc *c, uint64_t va)
{
	return CONC_FRAME_BASE + (va >> c->fmt->page_shift);
}

static inline bool conc_stopped(struct conc *c)
{
	return __atomic_load_n(&c->stop, __ATOMIC_ACQUIRE);
}

/* Record a failure (the first one's words are kept) and stop everyone. */
void conc_error(struct conc *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Whether @e, found at @level for @va, is a leaf some writer could have
 * written: the frame of @va, attributes from the known sets. Reports and
 * returns false otherwise.
 */
bool conc_check_leaf(struct conc *c, const char *who, uint64_t va, pt_entry_t e,
		     unsigned int level);

/* Set up @c for a fresh table of @fmt (eager reclaim), and end it with checks. */
void conc_init(struct conc *c, const struct pt_format *fmt, uint64_t seed);
void conc_fini(struct conc *c);

/* Threads of a phase; each registers with hmmsim before running its function. */
struct conc_threads {
	unsigned int n;
	struct conc_thread {
		pthread_t tid;
		void *(*fn)(void *arg);
		void *arg;
	} th[16];
};

void conc_spawn(struct conc_threads *ts, void *(*fn)(void *arg), void *arg);
/* Let the threads run for @ms milliseconds (or until one fails), stop and join them. */
void conc_wait(struct conc *c, struct conc_threads *ts, unsigned int ms);

/* Milliseconds a phase runs: @def, scaled by HMMSIM_TEST_TIME_SCALE (a float). */
unsigned int conc_ms(unsigned int def);

/* Readers: lookups, walks and iterators over [@lo, @hi) until stopped. */
struct reader {
	struct conc *c;
	uint64_t lo, hi;
	unsigned int id;
	bool touch_accessed;	/* also flip accessed bits with the atomic operations */
};

void *reader_thread(void *arg);

/* The cases (conc_stress.c, conc_install.c, conc_bits.c). */
void test_stress(void **state);
void test_install_race(void **state);
void test_bits_never_lost(void **state);

#endif /* HMMSIM_TESTS_PT_CONC_H */
