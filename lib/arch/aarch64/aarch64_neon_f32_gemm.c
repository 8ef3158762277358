/*
 * AArch64 NEON f32 GEMM microkernel (C = A·Bᵀ), bit for bit the portable
 * reference: the 16 FMA lanes of a C element are four float32x4_t
 * (lanes 0-3, 4-7, 8-11, 12-15), each step one vfmaq_f32 per quarter
 * (fused, one rounding, like fmaf), and the halves tree of
 * lib/arch/dispatch.h follows lane for lane in reduce4().
 *
 * The lanes must keep their places (p % 16), so a tail loads zero-filled
 * quarters from the same offset a full step would use; fmaf(+0, +0, s) = s.
 * Tiles are 2 x 2 elements (16 accumulators) or, for a last odd row,
 * 1 x 4; columns past n repeat a valid B row and store nothing.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "aarch64_neon.h"

/* u = t[0..3] + t[4..7] of one element from its four quarters: the first
 * two levels of the tree (t[l] = s[l] + s[l + 8], u[l] = t[l] + t[l + 4]). */
TQ_NEON_INLINE float32x4_t level2(const float32x4_t q[4])
{
    return vaddq_f32(vaddq_f32(q[0], q[2]), vaddq_f32(q[1], q[3]));
}

/* The last two levels for four elements' u vectors: v = u[0..1] + u[2..3],
 * then v[0] + v[1]; returns the four results in order. */
TQ_NEON_INLINE float32x4_t reduce4(float32x4_t u0, float32x4_t u1,
                                   float32x4_t u2, float32x4_t u3)
{
    const float32x4_t v01 =
        vaddq_f32(vcombine_f32(vget_low_f32(u0), vget_low_f32(u1)),
                  vcombine_f32(vget_high_f32(u0), vget_high_f32(u1)));
    const float32x4_t v23 =
        vaddq_f32(vcombine_f32(vget_low_f32(u2), vget_low_f32(u3)),
                  vcombine_f32(vget_high_f32(u2), vget_high_f32(u3)));
    return vpaddq_f32(v01, v23);
}

/* mr x nr elements (constants after inlining, mr·nr = 4) of A rows ar[]
 * and B rows br[]; returns element (i, j) in lane i·nr + j. */
TQ_NEON_INLINE float32x4_t tile(int mr, int nr, const float *const ar[],
                                const float *const br[], int32_t k)
{
    float32x4_t s[4][4];
    TQ_UNROLL
    for (int e = 0; e < 4; ++e)
        TQ_UNROLL
        for (int q = 0; q < 4; ++q)
            s[e][q] = vdupq_n_f32(0.0f);
    int32_t p = 0;
    for (; p + 16 <= k; p += 16)
        TQ_UNROLL
        for (int q = 0; q < 4; ++q) {
            float32x4_t x[2], y[4];
            TQ_UNROLL
            for (int i = 0; i < mr; ++i)
                x[i] = vld1q_f32(ar[i] + p + 4 * q);
            TQ_UNROLL
            for (int j = 0; j < nr; ++j)
                y[j] = vld1q_f32(br[j] + p + 4 * q);
            TQ_UNROLL
            for (int i = 0; i < mr; ++i)
                TQ_UNROLL
                for (int j = 0; j < nr; ++j)
                    s[i * nr + j][q] = vfmaq_f32(s[i * nr + j][q], x[i], y[j]);
        }
    for (int q = 0; q < 4 && p + 4 * q < k; ++q) {
        const int32_t count = k - p - 4 * q;
        float32x4_t x[2], y[4];
        TQ_UNROLL
        for (int i = 0; i < mr; ++i)
            x[i] = tq__neon_part_f32(ar[i] + p + 4 * q, count);
        TQ_UNROLL
        for (int j = 0; j < nr; ++j)
            y[j] = tq__neon_part_f32(br[j] + p + 4 * q, count);
        TQ_UNROLL
        for (int i = 0; i < mr; ++i)
            TQ_UNROLL
            for (int j = 0; j < nr; ++j)
                s[i * nr + j][q] = vfmaq_f32(s[i * nr + j][q], x[i], y[j]);
    }
    return reduce4(level2(s[0]), level2(s[1]), level2(s[2]), level2(s[3]));
}

static void tile2x2(const float *const ar[2], const float *const br[2],
                    int32_t k, float *c, size_t ldc, int32_t nr)
{
    float r[4];
    vst1q_f32(r, tile(2, 2, ar, br, k));
    for (int32_t i = 0; i < 2; ++i)
        for (int32_t j = 0; j < nr; ++j)
            c[(size_t)i * ldc + (size_t)j] = r[2 * i + j];
}

static void tile1x4(const float *a0, const float *const br[4], int32_t k,
                    float *c, int32_t nr)
{
    float r[4];
    vst1q_f32(r, tile(1, 4, &a0, br, k));
    for (int32_t j = 0; j < nr; ++j)
        c[j] = r[j];
}

void tq__neon_f32_gemm(int32_t m, int32_t n, int32_t k, const float *a,
                       size_t lda, const float *b, size_t ldb, float *c,
                       size_t ldc)
{
    int32_t i = 0;
    for (; i + 2 <= m; i += 2) {
        const float *ar[2] = {a + (size_t)i * lda, a + (size_t)(i + 1) * lda};
        for (int32_t j = 0; j < n; j += 2) {
            const int32_t nr = n - j < 2 ? 1 : 2;
            const float *b0 = b + (size_t)j * ldb;
            const float *br[2] = {b0, nr > 1 ? b0 + ldb : b0};
            tile2x2(ar, br, k, c + (size_t)i * ldc + (size_t)j, ldc, nr);
        }
    }
    if (i < m) {
        const float *a0 = a + (size_t)i * lda;
        for (int32_t j = 0; j < n; j += 4) {
            const int32_t nr = n - j < 4 ? n - j : 4;
            const float *br[4];
            for (int q = 0; q < 4; ++q)
                br[q] = b + (size_t)(j + (q < nr ? q : nr - 1)) * ldb;
            tile1x4(a0, br, k, c + (size_t)i * ldc + (size_t)j, nr);
        }
    }
}
