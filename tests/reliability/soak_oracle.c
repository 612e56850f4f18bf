// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The soak's oracle (soak.c says what runs): what a read of a data page
 * must return, the checkers, and the reports of what went wrong, with what
 * the CPU and the devices map at a page that read wrong.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "soak.h"

atomic_uint_fast64_t ops[NR_OPS];
atomic_uint_fast64_t violations;

void violation(const char *fmt, ...)
{
	uint64_t n = atomic_fetch_add(&violations, 1);
	va_list ap;

	if (n >= MAX_REPORTS)
		return;
	va_start(ap, fmt);
	fputs("soak: VIOLATION: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/*
 * What the CPU and each device map at data page @page now: the CPU's dump
 * code and frame, and each device's leaf (size, frame). Racy (the world
 * keeps going), but it names the stale side of a violation.
 */
static void describe_page(uint64_t page, char *out, size_t size)
{
	uint8_t got[NR_DEVS + 1] = { 0 };
	char dump[128];
	size_t n;
	int len;

	if (mm_dump(proc, page_va(page), SZ_4K, dump, sizeof(dump)) < 0)
		snprintf(dump, sizeof(dump), "?");
	len = snprintf(out, size, "cpu %s", dump);
	n = len < 0 ? 0 : (size_t)len;
	for (int d = 0; d < NR_DEVS && n < size; d++) {
		struct gpu_mapping m;

		if (gpu_lookup(devs[d], proc, page_va(page), &m))
			len = snprintf(out + n, size - n, ", %s none", gpu_dev_name(devs[d]));
		else
			len = snprintf(out + n, size - n, ", %s %uK leaf at +%#" PRIx64
				       " frame %#" PRIx64 "%s%s", gpu_dev_name(devs[d]),
				       1u << (m.shift - 10), page_va(page) - m.va,
				       m.pfn + ((page_va(page) - m.va) >> 12), m.write ? " w" : "",
				       m.vram ? " vram" : "");
		n += len < 0 ? 0 : (size_t)len;
	}
	/* A byte read again: did the data go, or only a translation? */
	if (mm_read(proc, page_va(page), &got[0], 1))
		got[0] = 0;
	for (int d = 0; d < NR_DEVS; d++)
		if (gpu_dev_read(devs[d], proc, page_va(page), 1, &got[d + 1], NULL))
			got[d + 1] = 0;
	if (n < size)
		snprintf(out + n, size - n, "; reads again: cpu %#x, %s %#x, %s %#x", got[0],
			 gpu_dev_name(devs[0]), got[1], gpu_dev_name(devs[1]), got[2]);
}

/* The expected bytes of pages [@first, @first + @n) into @want. */
static void expected_bytes(uint64_t first, uint64_t n, uint8_t *want)
{
	for (uint64_t p = 0; p < n; p++)
		want[p] = atomic_load(&expected[first + p]);
}

/*
 * Check pages [@first, @first + @n) read into @buf against @want, their
 * expected bytes taken while the read was known stable; @who names the
 * reader.
 */
static void check_bytes(const char *who, uint64_t first, uint64_t n, const uint8_t *buf,
			const uint8_t *want)
{
	char where[512];

	for (uint64_t p = 0; p < n; p++) {
		for (uint64_t b = 0; b < SZ_4K; b++) {
			if (buf[p * SZ_4K + b] != want[p]) {
				describe_page(first + p, where, sizeof(where));
				violation("%s: page %" PRIu64 " (slot %" PRIu64 ") byte %" PRIu64
					  ": %#x, expected %#x; now %s", who, first + p,
					  (first + p) / PAGES_PER_SLOT, b, buf[p * SZ_4K + b],
					  want[p], where);
				return;
			}
		}
	}
}

/* soak.h; stable: the slot's sequence even and the same before and after (a seqlock). */
void checked_read(struct gpu_dev *dev, uint64_t first, uint64_t n, uint8_t *buf,
		  const char *who)
{
	struct slot *s = &slots[first / PAGES_PER_SLOT];
	uint8_t want[MAX_RUN];
	unsigned int s1, s2;
	char label[96];
	int err;

	s1 = atomic_load(&s->seq);
	if (s1 & 1) {
		count(OP_read_skipped);
		return;
	}
	if (dev)
		err = gpu_dev_read(dev, proc, page_va(first), n * SZ_4K, buf, NULL);
	else
		err = mm_read(proc, page_va(first), buf, n * SZ_4K);
	if (dev && dev_soft_error(err)) {
		count(OP_dev_busy);
		return;
	}
	if (err) {
		violation("%s: read of pages %" PRIu64 "+%" PRIu64 " through %s: %s", who, first,
			  n, dev ? gpu_dev_name(dev) : "the CPU", strerror(-err));
		return;
	}
	count(dev ? OP_dev_read : OP_cpu_read);
	/*
	 * A seqlock read: the expected bytes are taken between the two loads
	 * of the sequence, as the bytes themselves were. Taken after s2, they
	 * could be those of a write that began after s2 (once the cause of
	 * this test's rare "lost write" reports). The sequence and expected[]
	 * are sequentially consistent atomics (no fences: ThreadSanitizer
	 * does not model them).
	 */
	expected_bytes(first, n, want);
	s2 = atomic_load(&s->seq);
	if (s1 != s2) {
		count(OP_read_skipped);
		return;
	}
	snprintf(label, sizeof(label), "%s through %s", who, dev ? gpu_dev_name(dev) : "the CPU");
	check_bytes(label, first, n, buf, want);
}

void run_checks(const char *when)
{
	char msg[512];

	if (mm_system_check(sys, msg, sizeof(msg)))
		violation("%s: mm_system_check: %s", when, msg);
	if (mm_check(proc, msg, sizeof(msg)))
		violation("%s: mm_check: %s", when, msg);
	for (int d = 0; d < NR_DEVS; d++)
		if (gpu_check(devs[d], msg, sizeof(msg)))
			violation("%s: gpu_check of device %d: %s", when, d, msg);
	count(OP_checks);
}

void final_read_all(uint8_t *buf)
{
	static uint8_t want[PAGES_PER_SLOT];

	for (unsigned int si = 0; si < NR_SLOTS; si++) {
		uint64_t first = (uint64_t)si * PAGES_PER_SLOT;
		int err = mm_read(proc, page_va(first), buf, SZ_2M);

		expected_bytes(first, PAGES_PER_SLOT, want);
		if (err)
			violation("final: CPU read of slot %u: %s", si, strerror(-err));
		else
			check_bytes("final CPU read", first, PAGES_PER_SLOT, buf, want);
		for (int d = 0; d < NR_DEVS; d++) {
			err = gpu_dev_read(devs[d], proc, page_va(first), SZ_2M, buf, NULL);
			if (err)
				violation("final: device %d read of slot %u: %s", d, si,
					  strerror(-err));
			else
				check_bytes("final device read", first, PAGES_PER_SLOT, buf, want);
		}
	}
}

