/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A deterministic PRNG for tests (xorshift64*), and the seed every randomised
 * test prints so that a failure can be replayed with HMMSIM_TEST_SEED=<seed>.
 */
#ifndef HMMSIM_TEST_PRNG_H
#define HMMSIM_TEST_PRNG_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

struct prng {
	uint64_t s;
};

static inline void prng_seed(struct prng *r, uint64_t seed)
{
	/* xorshift never leaves 0: map seed 0 to a fixed odd constant. */
	r->s = seed ? seed : UINT64_C(0x9e3779b97f4a7c15);
}

static inline uint64_t prng_next(struct prng *r)
{
	uint64_t x = r->s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	r->s = x;
	return x * UINT64_C(0x2545f4914f6cdd1d);
}

/* Uniform-enough in [0, n), n > 0: the modulo bias is irrelevant for tests. */
static inline uint64_t prng_below(struct prng *r, uint64_t n)
{
	return prng_next(r) % n;
}

/* True with probability pct percent. */
static inline int prng_chance(struct prng *r, unsigned int pct)
{
	return prng_below(r, 100) < pct;
}

/*
 * The seed of a test: HMMSIM_TEST_SEED from the environment when set, else
 * @def, so runs are reproducible by default. Printed with @what.
 */
static inline uint64_t prng_test_seed(const char *what, uint64_t def)
{
	const char *env = getenv("HMMSIM_TEST_SEED");
	uint64_t seed = env && *env ? strtoull(env, NULL, 0) : def;

	printf("# %s: seed 0x%" PRIx64 " (replay with HMMSIM_TEST_SEED=0x%" PRIx64 ")\n", what,
	       seed, seed);
	fflush(stdout);
	return seed;
}

#endif /* HMMSIM_TEST_PRNG_H */
