/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The soak's shared state (soak.c: the world and its threads;
 * soak_oracle.c: what a read must return, the checkers, the reports).
 */
#ifndef HMMSIM_TESTS_SOAK_H
#define HMMSIM_TESTS_SOAK_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <hmmsim/hmmsim.h>

#define SZ_4K		UINT64_C(4096)
#define SZ_2M		(UINT64_C(2) << 20)
#define PAGES_PER_SLOT	(SZ_2M / SZ_4K)
#define NR_SLOTS	16
#define NR_PAGES	(NR_SLOTS * PAGES_PER_SLOT)
#define SCRATCH_LEN	(4 * SZ_2M)
#define MAX_RUN		64	/* pages of one write or read */
#define CHECK_MS	250
#define NR_DEVS		2
#define MAX_REPORTS	20

/* ---- operation counters ---------------------------------------------------- */

#define OPS(X)						\
	X(cpu_write)					\
	X(cpu_read)					\
	X(dev_write)					\
	X(dev_read)					\
	X(read_skipped)					\
	X(mprotect)					\
	X(dontneed)					\
	X(remap)					\
	X(scratch_op)					\
	X(scratch_error)				\
	X(fork)						\
	X(child_read)					\
	X(child_cow)					\
	X(migrate_to_dev)				\
	X(migrate_to_sys)				\
	X(migrate_soft_error)				\
	X(dev_busy)					\
	X(dev_write_cow_efault)				\
	X(migrate_enoent)				\
	X(migrate_enomem)				\
	X(migrate_ebusy)				\
	X(migrate_einval)				\
	X(checks)

#define OP_ENUM(n) OP_##n,
enum op { OPS(OP_ENUM) NR_OPS };
extern atomic_uint_fast64_t ops[NR_OPS];
extern atomic_uint_fast64_t violations;

static inline void count(enum op o)
{
	atomic_fetch_add_explicit(&ops[o], 1, memory_order_relaxed);
}

/* Report a violation (the first MAX_REPORTS on stderr); the run then fails. */
__attribute__((format(printf, 1, 2))) void violation(const char *fmt, ...);

/* ---- the world --------------------------------------------------------------- */

/*
 * struct slot - one 2 MiB block of the data region.
 * @lock:	held by whoever changes its bytes or protections (its writer,
 *		the invalidator).
 * @seq:	odd while its bytes change.
 * @prot_seq:	odd while part of it may be read-only (the invalidator's
 *		mprotect): a fork then gives the child a read-only VMA there,
 *		where a COW write fails with -EFAULT as it should.
 */
struct slot {
	pthread_mutex_t lock;
	atomic_uint seq;
	atomic_uint prot_seq;
};

extern struct mm_system *sys;
extern struct mm_struct *proc;
extern struct gpu_dev *devs[NR_DEVS];
extern uint64_t data_addr;
extern struct slot slots[NR_SLOTS];
extern _Atomic uint8_t expected[NR_PAGES];

static inline uint64_t page_va(uint64_t page)
{
	return data_addr + page * SZ_4K;
}

/* Errors a device command may return under churn without being wrong. */
static inline bool dev_soft_error(int err)
{
	return err == -EBUSY || err == -ENOMEM;
}

/* ---- the oracle (soak_oracle.c) -------------------------------------------------- */

/*
 * Read pages [@first, @first + @n) of one slot into @buf through the CPU
 * (@dev NULL) or a device and check them if the slot stayed stable.
 */
void checked_read(struct gpu_dev *dev, uint64_t first, uint64_t n, uint8_t *buf,
		  const char *who);
/* mm_system_check(), mm_check() and gpu_check() of both devices. */
void run_checks(const char *when);
/* Every data page through the CPU and each device: the expected bytes. */
void final_read_all(uint8_t *buf);

#endif /* HMMSIM_TESTS_SOAK_H */
