/*
 * AArch64 int8 GEMM microkernel with the Armv8.2-A dot product (SDOT):
 * vdotq_s32 adds four byte products into each int32 lane in one
 * instruction, exact (four products of at most 2^14 in size). Every
 * function carries the +dotprod target attribute and runs only where
 * cpu_aarch64.c found HWCAP_ASIMDDP. The tiling is the NEON kernel's,
 * aarch64_s8_gemm_tiles.h.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "aarch64_neon.h"

#define TQ_S8_ATTR TQ_NEONDOT
#define TQ_S8_MAC16(s, x, y) vdotq_s32(s, x, y)
#define TQ_S8_GEMM tq__neondot_s8_gemm
#include "aarch64_s8_gemm_tiles.h"
