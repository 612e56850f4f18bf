/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Helpers shared by hmmsim's benchmarks: a monotonic clock, the resident set
 * size, medians, a seeded permutation and a small JSON writer (the benchmarks
 * print one JSON object on stdout so CI can keep and diff it).
 */
#ifndef HMMSIM_BENCH_H
#define HMMSIM_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

/* Nanoseconds of CLOCK_MONOTONIC (a vDSO call, ~20 ns: keep it off inner loops). */
static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Resident set size of this process in bytes, from /proc/self/statm; 0 if unreadable. */
uint64_t rss_bytes(void);

/*
 * Give freed heap memory back to the kernel and return the RSS, so that the
 * next RSS delta measures the structure built after it and not what an
 * earlier one left in malloc's free lists.
 */
uint64_t rss_settle(void);

/* Median of the finite values of @v[0..@n); NAN when there are none. */
double median(const double *v, int n);
/* Smallest and largest finite value; NAN when there are none. */
double min_finite(const double *v, int n);
double max_finite(const double *v, int n);

/* Fill @idx[0..@n) with a permutation of 0..@n-1 drawn from @seed (Fisher-Yates). */
void permutation(uint32_t *idx, uint32_t n, uint64_t seed);

#define JSON_MAX_DEPTH 8

/*
 * struct json - a streaming writer for one pretty-printed JSON object.
 * Keys are given with each value inside objects and are NULL inside arrays.
 * Non-finite numbers come out as null, which JSON can hold.
 */
struct json {
	FILE *f;
	int depth;
	bool need_comma[JSON_MAX_DEPTH];
};

void json_begin(struct json *j, FILE *f);
void json_end(struct json *j);
void json_obj(struct json *j, const char *key);
void json_arr(struct json *j, const char *key);
void json_close(struct json *j, char closer);
void json_num(struct json *j, const char *key, double v);
void json_u64(struct json *j, const char *key, uint64_t v);
void json_str(struct json *j, const char *key, const char *s);
void json_bool(struct json *j, const char *key, bool v);
void json_null(struct json *j, const char *key);

/* @key: {median, min, max} of the finite values of @v[0..@n). */
void json_metric(struct json *j, const char *key, const double *v, int n);

static inline void json_close_obj(struct json *j)
{
	json_close(j, '}');
}

static inline void json_close_arr(struct json *j)
{
	json_close(j, ']');
}

#endif /* HMMSIM_BENCH_H */
