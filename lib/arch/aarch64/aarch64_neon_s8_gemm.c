/*
 * AArch64 NEON int8 GEMM microkernel (raw int32 sums C = A·Bᵀ), exact like
 * every int8 path. Without SDOT, each product is widened on its own:
 * vmull_s8 puts one product per int16 lane (at most 2^14 in size, so it
 * fits) and vpadalq_s16 adds pairs of them into int32 lanes. Two products
 * are never added in int16, where (-128)·(-128) twice would overflow.
 * The tiling is aarch64_s8_gemm_tiles.h.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "aarch64_neon.h"

/* acc += Σ x·y over the 16 bytes, each product widened before any add. */
TQ_NEON_INLINE int32x4_t mac16(int32x4_t acc, int8x16_t x, int8x16_t y)
{
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(x), vget_low_s8(y)));
    return vpadalq_s16(acc, vmull_high_s8(x, y));
}

#define TQ_S8_ATTR
#define TQ_S8_MAC16(s, x, y) mac16(s, x, y)
#define TQ_S8_GEMM tq__neon_s8_gemm
#include "aarch64_s8_gemm_tiles.h"
