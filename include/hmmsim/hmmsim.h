/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* hmmsim: the whole public API. */
#ifndef HMMSIM_H
#define HMMSIM_H

#include <hmmsim/base.h>
#include <hmmsim/pt.h>
#include <hmmsim/phys.h>
#include <hmmsim/mm.h>
#include <hmmsim/hmm.h>
#include <hmmsim/gpu.h>

#endif /* HMMSIM_H */
