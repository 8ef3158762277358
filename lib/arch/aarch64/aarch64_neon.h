/*
 * Shared pieces of the AArch64 paths (aarch64_*.c): the target attribute
 * of the dot-product functions, the loads that read the short tail of a
 * row without touching a byte past it, and the kernels each table names.
 *
 * Advanced SIMD is part of every AArch64 Linux target, so the plain NEON
 * functions need no attribute; SDOT (Armv8.2-A, optional) is enabled per
 * function, and those functions run only after cpu_aarch64.c found it.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef TQ_ARCH_AARCH64_NEON_H
#define TQ_ARCH_AARCH64_NEON_H

#include <arm_neon.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../dispatch.h"

#define TQ_NEONDOT __attribute__((target("arch=armv8.2-a+dotprod")))
#define TQ_NEON_INLINE static inline __attribute__((always_inline))
/* Before the loops over a tile's rows, columns and quarters: unrolled,
 * the accumulator arrays become registers instead of stack slots. */
#define TQ_UNROLL _Pragma("GCC unroll 4")

/* The last rest (1..15) bytes of a row of k bytes in lanes 16 - rest to
 * 15, zero elsewhere. For k >= 16 it is the 16 bytes that end the row with
 * the leading lanes masked off; shorter rows go through a zeroed copy, so
 * nothing past the row is read. Lanes are in another place than a full
 * step would put them: harmless for integer sums, whose order is free,
 * as long as both operands of a product are loaded the same way. */
TQ_NEON_INLINE int8x16_t tq__neon_tail_s8(const int8_t *row, int32_t k,
                                          int32_t rest)
{
    /* Lanes l >= 16 - rest of a load at keep_from + rest are 0xff. */
    static const uint8_t keep_from[32] = {
        0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,
        0,    0,    0,    0,    0,    0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    if (k >= 16)
        return vandq_s8(vld1q_s8(row + k - 16),
                        vreinterpretq_s8_u8(vld1q_u8(keep_from + rest)));
    int8_t t[16] = {0};
    memcpy(t + 16 - rest, row + k - rest, (size_t)rest);
    return vld1q_s8(t);
}

/* count (1..4) floats in lanes 0 to count - 1, +0 in the others (the
 * f32 lanes have fixed places, unlike the integer tail above). */
TQ_NEON_INLINE float32x4_t tq__neon_part_f32(const float *p, int32_t count)
{
    if (count >= 4)
        return vld1q_f32(p);
    float t[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    memcpy(t, p, (size_t)count * sizeof *p);
    return vld1q_f32(t);
}

/* The neon table (aarch64_neon_*.c). */
int64_t tq__neon_s16_dot(const int16_t *x, const int8_t *w, int32_t k);
int32_t tq__neon_s4_dot(const int16_t *x, const uint8_t *packed, size_t first,
                        int32_t k);
void tq__neon_s8_mul(size_t n, const int8_t *a, size_t sa, const int8_t *b,
                     size_t sb, const tq_s8_mul_params *p,
                     int8_t *out); /* aarch64_neon_s8_mul.c */
void tq__neon_s8_gemm(int32_t m, int32_t n, int32_t k, const int8_t *a,
                      size_t lda, const int8_t *b, size_t ldb, int32_t *c,
                      size_t ldc);
void tq__neon_f32_gemm(int32_t m, int32_t n, int32_t k, const float *a,
                       size_t lda, const float *b, size_t ldb, float *c,
                       size_t ldc);
void tq__neon_s8_row_sums(int32_t rows, int32_t k, const int8_t *x, size_t ld,
                          int32_t *sums);

/* The neondot table's own kernel (aarch64_neondot_s8_gemm.c). */
void tq__neondot_s8_gemm(int32_t m, int32_t n, int32_t k, const int8_t *a,
                         size_t lda, const int8_t *b, size_t ldb, int32_t *c,
                         size_t ldc);

#endif /* TQ_ARCH_AARCH64_NEON_H */
