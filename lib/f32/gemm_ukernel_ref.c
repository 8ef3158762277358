/*
 * Portable C f32 GEMM microkernel (C = A·Bᵀ), the reference for every SIMD
 * path: 16 interleaved fused multiply-add lanes per dot product, reduced
 * in a fixed tree (the order is defined in lib/arch/dispatch.h). The lanes
 * are what a 16-float vector register holds, so a SIMD path gets the same
 * bits with one vector FMA per 16 products.
 *
 * fmaf() is one instruction where the compiler targets a CPU with FMA
 * (aarch64, Cortex-M4F/M7, x86 with -mfma); elsewhere it is the C
 * library's correctly rounded fmaf, slower but exact.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <math.h>

#include "../arch/dispatch.h"

/* One C element. */
static float dot_lanes(const float *x, const float *y, int32_t k)
{
    float s[TQ__F32_LANES] = {0.0f};
    int32_t p = 0;
    for (; p + TQ__F32_LANES <= k; p += TQ__F32_LANES)
        for (int32_t l = 0; l < TQ__F32_LANES; ++l)
            s[l] = fmaf(x[p + l], y[p + l], s[l]);
    for (int32_t l = 0; p + l < k; ++l)
        s[l] = fmaf(x[p + l], y[p + l], s[l]);
    return tq__f32_lane_tree(s);
}

void tq__f32_gemm_ref(int32_t m, int32_t n, int32_t k, const float *a,
                      size_t lda, const float *b, size_t ldb, float *c,
                      size_t ldc)
{
    for (int32_t i = 0; i < m; ++i) {
        const float *arow = a + (size_t)i * lda;
        float *crow = c + (size_t)i * ldc;
        for (int32_t j = 0; j < n; ++j)
            crow[j] = dot_lanes(arow, b + (size_t)j * ldb, k);
    }
}
