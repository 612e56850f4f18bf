// SPDX-License-Identifier: LGPL-2.1-or-later
/* Thread registration, read-side sections and deferred callbacks. */
#include <pthread.h>

#include "hmmsim-config.h"
#include <hmmsim/base.h>

#include "base/rcu.h"

#ifdef HMMSIM_TSAN
char hs_rcu_gp_token;
char hs_rcu_barrier_token;
#endif

/* Registration depth of this thread: liburcu itself does not nest. */
static __thread unsigned int registered;

HMMSIM_API const char *hmmsim_version(void)
{
	return HMMSIM_VERSION;
}

HMMSIM_API void hmmsim_thread_register(void)
{
	if (registered++ == 0)
		urcu_memb_register_thread();
}

HMMSIM_API void hmmsim_thread_unregister(void)
{
	if (registered && --registered == 0)
		urcu_memb_unregister_thread();
}

HMMSIM_API void hmmsim_read_lock(void)
{
	hs_rcu_read_lock();
}

HMMSIM_API void hmmsim_read_unlock(void)
{
	hs_rcu_read_unlock();
}

HMMSIM_API void hmmsim_barrier(void)
{
	urcu_memb_barrier();
#ifdef HMMSIM_TSAN
	__tsan_acquire(&hs_rcu_barrier_token);
#endif
}

void hs_call_rcu(struct rcu_head *head, void (*fn)(struct rcu_head *head))
{
#ifdef HMMSIM_TSAN
	__tsan_release(head);
#endif
	urcu_memb_call_rcu(head, fn);
}
