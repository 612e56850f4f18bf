// SPDX-License-Identifier: LGPL-2.1-or-later
/* Timing, memory and JSON helpers of the benchmarks (see bench.h). */
#include <malloc.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

uint64_t rss_bytes(void)
{
	unsigned long size, resident;
	FILE *f = fopen("/proc/self/statm", "r");
	int n;

	if (!f)
		return 0;
	n = fscanf(f, "%lu %lu", &size, &resident);
	fclose(f);
	if (n != 2)
		return 0;
	return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

uint64_t rss_settle(void)
{
	/*
	 * glibc keeps freed chunks in its arenas; malloc_trim() also returns
	 * whole free pages from the middle of the heap (MADV_DONTNEED), so the
	 * RSS falls back to what is really in use.
	 */
	malloc_trim(0);
	return rss_bytes();
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double median(const double *v, int n)
{
	double tmp[n > 0 ? n : 1];
	int m = 0;

	for (int i = 0; i < n; i++)
		if (isfinite(v[i]))
			tmp[m++] = v[i];
	if (!m)
		return NAN;
	qsort(tmp, m, sizeof(tmp[0]), cmp_double);
	return m & 1 ? tmp[m / 2] : (tmp[m / 2 - 1] + tmp[m / 2]) / 2;
}

double min_finite(const double *v, int n)
{
	double r = NAN;

	for (int i = 0; i < n; i++)
		if (isfinite(v[i]) && (isnan(r) || v[i] < r))
			r = v[i];
	return r;
}

double max_finite(const double *v, int n)
{
	double r = NAN;

	for (int i = 0; i < n; i++)
		if (isfinite(v[i]) && (isnan(r) || v[i] > r))
			r = v[i];
	return r;
}

/* splitmix64: a tiny, well-mixed generator; only used before timing starts. */
static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

void permutation(uint32_t *idx, uint32_t n, uint64_t seed)
{
	for (uint32_t i = 0; i < n; i++)
		idx[i] = i;
	for (uint32_t i = n; i > 1; i--) {
		/* The modulo bias is below 2^-32 for n <= 2^32: irrelevant here. */
		uint32_t k = splitmix64(&seed) % i;
		uint32_t tmp = idx[i - 1];

		idx[i - 1] = idx[k];
		idx[k] = tmp;
	}
}

static void json_indent(struct json *j)
{
	for (int i = 0; i < j->depth; i++)
		fputs("  ", j->f);
}

static void json_escaped(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/* Separator, indentation and key before a value. */
static void json_key(struct json *j, const char *key)
{
	fputs(j->need_comma[j->depth] ? ",\n" : "\n", j->f);
	j->need_comma[j->depth] = true;
	json_indent(j);
	if (key) {
		json_escaped(j->f, key);
		fputs(": ", j->f);
	}
}

static void json_open(struct json *j, const char *key, char opener)
{
	json_key(j, key);
	fputc(opener, j->f);
	if (j->depth + 1 >= JSON_MAX_DEPTH)
		abort();
	j->need_comma[++j->depth] = false;
}

void json_begin(struct json *j, FILE *f)
{
	memset(j, 0, sizeof(*j));
	j->f = f;
	fputc('{', f);
	j->depth = 1;
}

void json_end(struct json *j)
{
	json_close(j, '}');
	fputc('\n', j->f);
	fflush(j->f);
}

void json_obj(struct json *j, const char *key)
{
	json_open(j, key, '{');
}

void json_arr(struct json *j, const char *key)
{
	json_open(j, key, '[');
}

void json_close(struct json *j, char closer)
{
	bool had_items = j->need_comma[j->depth];

	j->depth--;
	if (had_items) {
		fputc('\n', j->f);
		json_indent(j);
	}
	fputc(closer, j->f);
}

void json_num(struct json *j, const char *key, double v)
{
	json_key(j, key);
	if (!isfinite(v))
		fputs("null", j->f);
	else if (fabs(v) >= 1000 || v == floor(v))
		fprintf(j->f, "%.0f", v);
	else
		fprintf(j->f, "%.5g", v);
}

void json_u64(struct json *j, const char *key, uint64_t v)
{
	json_key(j, key);
	fprintf(j->f, "%llu", (unsigned long long)v);
}

void json_str(struct json *j, const char *key, const char *s)
{
	json_key(j, key);
	json_escaped(j->f, s);
}

void json_bool(struct json *j, const char *key, bool v)
{
	json_key(j, key);
	fputs(v ? "true" : "false", j->f);
}

void json_null(struct json *j, const char *key)
{
	json_key(j, key);
	fputs("null", j->f);
}

void json_metric(struct json *j, const char *key, const double *v, int n)
{
	json_obj(j, key);
	json_num(j, "median", median(v, n));
	json_num(j, "min", min_finite(v, n));
	json_num(j, "max", max_finite(v, n));
	json_close_obj(j);
}
