/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* hmm internals shared by the files of src/hmm/. */
#ifndef HMMSIM_HMM_INTERNAL_H
#define HMMSIM_HMM_INTERNAL_H

#include <hmmsim/hmm.h>

#include "mm/internal.h"

/* devmem.c: the device memory a device-private pfn belongs to, or NULL. */
struct hmm_devmem *hmm_devmem_of_pfn(struct mm_system *sys, uint64_t pfn);
const struct dev_pagemap_ops *hmm_devmem_ops(struct hmm_devmem *dm);

#endif /* HMMSIM_HMM_INTERNAL_H */
