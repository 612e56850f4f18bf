/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * RCU for hmmsim's own code: liburcu's memb flavour behind a few names, with
 * the happens-before edges ThreadSanitizer cannot see inside liburcu made
 * explicit, so a TSan build checks hmmsim's code and not liburcu's.
 */
#ifndef HMMSIM_BASE_RCU_H
#define HMMSIM_BASE_RCU_H

#include <urcu/urcu-memb.h>

#include "base/compiler.h"

#ifdef HMMSIM_TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
extern char hs_rcu_gp_token;
extern char hs_rcu_barrier_token;
#endif

static inline void hs_rcu_read_lock(void)
{
	urcu_memb_read_lock();
}

static inline void hs_rcu_read_unlock(void)
{
#ifdef HMMSIM_TSAN
	/* Everything this reader did happens before the end of a grace period. */
	__tsan_release(&hs_rcu_gp_token);
#endif
	urcu_memb_read_unlock();
}

/* Run @fn(@head) after a grace period, on liburcu's call_rcu thread. */
void hs_call_rcu(struct rcu_head *head, void (*fn)(struct rcu_head *head));

/* Called first thing by every hs_call_rcu() callback (TSan bookkeeping). */
static inline void hs_rcu_callback_enter(struct rcu_head *head)
{
#ifdef HMMSIM_TSAN
	__tsan_acquire(head);
	__tsan_acquire(&hs_rcu_gp_token);
#endif
}

/* Called last by every hs_call_rcu() callback: what it did precedes a barrier. */
static inline void hs_rcu_callback_exit(void)
{
#ifdef HMMSIM_TSAN
	__tsan_release(&hs_rcu_barrier_token);
#endif
}

#endif /* HMMSIM_BASE_RCU_H */
