/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef HMMSIM_PHYS_H
#define HMMSIM_PHYS_H
#endif
