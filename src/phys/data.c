// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The bytes of folios. A pool's frames are one host region, frame by frame,
 * so a folio's bytes are contiguous and a copy is one memcpy. A metadata
 * pool has no region: reads see zeros and writes vanish, which is what a
 * benchmark of terabytes needs and what keeps the callers free of a special
 * case.
 */
#include <errno.h>
#include <string.h>

#include "phys/internal.h"

static unsigned char *folio_bytes(const struct folio *f)
{
	const struct phys_pool *pool = f->pool;

	if (!pool->bytes)
		return NULL;
	return pool->bytes + (f->pfn - pool->first) * PHYS_PAGE_SIZE;
}

static bool range_ok(const struct folio *f, uint64_t offset, uint64_t len)
{
	return offset <= folio_size(f) && len <= folio_size(f) - offset;
}

HMMSIM_API bool folio_has_data(const struct folio *f)
{
	return f->pool->bytes != NULL;
}

HMMSIM_API void *folio_data(const struct folio *f, uint64_t page)
{
	unsigned char *b;

	if (!f || page >= folio_nr_pages(f)) {
		errno = EINVAL;
		return NULL;
	}
	b = folio_bytes(f);
	if (!b) {
		errno = ENODATA;
		return NULL;
	}
	return b + page * PHYS_PAGE_SIZE;
}

HMMSIM_API int folio_read(const struct folio *f, uint64_t offset, void *buf, size_t len)
{
	unsigned char *b;

	if (!f || (!buf && len) || !range_ok(f, offset, len))
		return -EINVAL;
	b = folio_bytes(f);
	if (b)
		memcpy(buf, b + offset, len);
	else if (len)
		memset(buf, 0, len);
	return 0;
}

HMMSIM_API int folio_write(struct folio *f, uint64_t offset, const void *buf, size_t len)
{
	unsigned char *b;

	if (!f || (!buf && len) || !range_ok(f, offset, len))
		return -EINVAL;
	if (folio_flags(f) & FOLIO_ZERO)
		return -EPERM;
	b = folio_bytes(f);
	if (b && len)
		memcpy(b + offset, buf, len);
	return 0;
}

HMMSIM_API int folio_zero_range(struct folio *f, uint64_t offset, uint64_t len)
{
	unsigned char *b;

	if (!f || !range_ok(f, offset, len))
		return -EINVAL;
	if (folio_flags(f) & FOLIO_ZERO)
		return -EPERM;
	b = folio_bytes(f);
	if (b && len)
		memset(b + offset, 0, len);
	return 0;
}

/* Copy @len bytes from @src at @soff to @dst at @doff; the callers checked the ranges. */
static void copy_bytes(struct folio *dst, uint64_t doff, const struct folio *src, uint64_t soff,
		       uint64_t len)
{
	unsigned char *d = folio_bytes(dst);
	const unsigned char *s = folio_bytes(src);

	if (!d)
		return;
	if (!s)
		memset(d + doff, 0, len);
	else if (d + doff != s + soff)
		memmove(d + doff, s + soff, len);
}

HMMSIM_API int folio_copy(struct folio *dst, const struct folio *src)
{
	if (!dst || !src || dst->order != src->order)
		return -EINVAL;
	if (folio_flags(dst) & FOLIO_ZERO)
		return -EPERM;
	copy_bytes(dst, 0, src, 0, folio_size(dst));
	return 0;
}

HMMSIM_API int folio_copy_page(struct folio *dst, uint64_t dst_page, const struct folio *src,
			       uint64_t src_page)
{
	if (!dst || !src || dst_page >= folio_nr_pages(dst) || src_page >= folio_nr_pages(src))
		return -EINVAL;
	if (folio_flags(dst) & FOLIO_ZERO)
		return -EPERM;
	copy_bytes(dst, dst_page * PHYS_PAGE_SIZE, src, src_page * PHYS_PAGE_SIZE, PHYS_PAGE_SIZE);
	return 0;
}
