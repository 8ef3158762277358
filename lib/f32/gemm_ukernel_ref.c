/*
 * Portable C f32 GEMM microkernel (C = A·Bᵀ), the reference for every SIMD
 * path. Four accumulators per dot product break the dependency chain so
 * that even the portable path vectorises and pipelines reasonably.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "../arch/dispatch.h"

void tq__f32_gemm_ref(int32_t m, int32_t n, int32_t k, const float *a,
                      size_t lda, const float *b, size_t ldb, float *c,
                      size_t ldc)
{
    for (int32_t i = 0; i < m; ++i) {
        const float *arow = a + (size_t)i * lda;
        float *crow = c + (size_t)i * ldc;
        for (int32_t j = 0; j < n; ++j) {
            const float *brow = b + (size_t)j * ldb;
            float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
            int32_t p = 0;
            for (; p + 4 <= k; p += 4) {
                s0 += arow[p] * brow[p];
                s1 += arow[p + 1] * brow[p + 1];
                s2 += arow[p + 2] * brow[p + 2];
                s3 += arow[p + 3] * brow[p + 3];
            }
            for (; p < k; ++p)
                s0 += arow[p] * brow[p];
            crow[j] = (s0 + s1) + (s2 + s3);
        }
    }
}
