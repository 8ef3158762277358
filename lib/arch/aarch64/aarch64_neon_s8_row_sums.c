/*
 * AArch64 NEON row sums of an int8 matrix (the weight and input sums of
 * the offset folds): byte pairs into int16 lanes (at most 2·128 in size),
 * pairs of those into int32 lanes, which k <= TQ_S8_MAX_REDUCTION keeps
 * far from overflow. Shared by both AArch64 tables.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "aarch64_neon.h"

void tq__neon_s8_row_sums(int32_t rows, int32_t k, const int8_t *x, size_t ld,
                          int32_t *sums)
{
    for (int32_t r = 0; r < rows; ++r) {
        const int8_t *row = x + (size_t)r * ld;
        int32x4_t s = vdupq_n_s32(0);
        int32_t p = 0;
        for (; p + 16 <= k; p += 16)
            s = vpadalq_s16(s, vpaddlq_s8(vld1q_s8(row + p)));
        if (p < k)
            s = vpadalq_s16(s, vpaddlq_s8(tq__neon_tail_s8(row, k, k - p)));
        sums[r] = vaddvq_s32(s);
    }
}
