/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Compiler helpers, bit operations and atomics shared by every module. */
#ifndef HMMSIM_BASE_COMPILER_H
#define HMMSIM_BASE_COMPILER_H

#include <stdint.h>

#define likely(x)	__builtin_expect(!!(x), 1)
#define unlikely(x)	__builtin_expect(!!(x), 0)
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - __builtin_offsetof(type, member)))

#define READ_ONCE(x)		__atomic_load_n(&(x), __ATOMIC_RELAXED)
#define WRITE_ONCE(x, v)	__atomic_store_n(&(x), (v), __ATOMIC_RELAXED)
#define load_acquire(p)		__atomic_load_n((p), __ATOMIC_ACQUIRE)
#define store_release(p, v)	__atomic_store_n((p), (v), __ATOMIC_RELEASE)

#if defined(__SANITIZE_THREAD__)
#define HMMSIM_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define HMMSIM_TSAN 1
#endif
#endif

#if defined(__SANITIZE_ADDRESS__)
#define HMMSIM_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HMMSIM_ASAN 1
#endif
#endif

/* Index of the most significant set bit; @x must not be 0. */
static inline unsigned int fls64_index(uint64_t x)
{
	return 63 - __builtin_clzll(x);
}

static inline int is_pow2(uint64_t x)
{
	return x && !(x & (x - 1));
}

static inline uint64_t align_down(uint64_t x, unsigned int lg2)
{
	return x & ~((UINT64_C(1) << lg2) - 1);
}

static inline int is_aligned(uint64_t x, unsigned int lg2)
{
	return !(x & ((UINT64_C(1) << lg2) - 1));
}

#endif /* HMMSIM_BASE_COMPILER_H */
