/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* hmm internals shared by the files of src/hmm/. */
#ifndef HMMSIM_HMM_INTERNAL_H
#define HMMSIM_HMM_INTERNAL_H

#include <hmmsim/hmm.h>

#include "mm/internal.h"

/* devmem.c: the device memory a device-private pfn belongs to, or NULL. */
struct hmm_devmem *hmm_devmem_of_pfn(struct mm_system *sys, uint64_t pfn);
const struct dev_pagemap_ops *hmm_devmem_ops(struct hmm_devmem *dm);

/*
 * migrate.c: is every mapping of @folio a PTE of @mm where its pages sit
 * around @addr (which maps page @page of it)? Context: @mm's ptl held.
 */
bool hmm_folio_mapped_only_here(struct mm_struct *mm, struct folio *folio, uint64_t addr,
				uint64_t page);

/*
 * migrate.c: move the device-coherent page of @owner at @addr of @vma to
 * system memory (migrate_device_coherent_folio, for FOLL_LONGTERM pins).
 * Context: the mmap_lock held for reading. Returns 0, -EAGAIN (not moved
 * this time: retry), -ENOMEM, -EINVAL.
 */
int hmm_migrate_coherent_to_ram(struct vm_area_struct *vma, uint64_t addr, void *owner);

#endif /* HMMSIM_HMM_INTERNAL_H */
