/*
 * The tiling of the AArch64 int8 GEMM microkernels, written once for both
 * paths (a template: each includer supplies the multiply-accumulate):
 * MR (4, 2 or 1) rows of A against four rows of B, 16 bytes of k per
 * step, so each loaded A vector serves four columns and each B vector MR
 * rows. Rows are read in place; row tails are zero-masked
 * (tq__neon_tail_s8). The last columns of a narrow n repeat a valid B row
 * and store nothing; row tails use the smaller tiles, which keeps m = 1 (a
 * fully connected layer on one input) from paying for four rows.
 *
 * Before including it, define
 *   TQ_S8_ATTR         the target attribute of every function (may be empty)
 *   TQ_S8_MAC16(s,x,y) s plus the 16 byte products of x and y, summed into
 *                      the 4 int32 lanes of s, exactly
 *   TQ_S8_GEMM         the name of the GEMM function to define
 * It defines TQ_S8_GEMM (a tq__s8_gemm_fn) and static helpers.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "aarch64_neon.h"

/* mr (a constant after inlining) rows from a, four B rows br[]; stores
 * mr x nr sums. */
TQ_NEON_INLINE TQ_S8_ATTR void tile(int mr, const int8_t *a, size_t lda,
                                    const int8_t *const br[4], int32_t k,
                                    int32_t *c, size_t ldc, int32_t nr)
{
    int32x4_t s[4][4];
    TQ_UNROLL
    for (int i = 0; i < mr; ++i)
        TQ_UNROLL
        for (int j = 0; j < 4; ++j)
            s[i][j] = vdupq_n_s32(0);
    int32_t p = 0;
    for (; p + 16 <= k; p += 16) {
        int8x16_t y[4];
        TQ_UNROLL
        for (int j = 0; j < 4; ++j)
            y[j] = vld1q_s8(br[j] + p);
        TQ_UNROLL
        for (int i = 0; i < mr; ++i) {
            const int8x16_t x = vld1q_s8(a + (size_t)i * lda + (size_t)p);
            TQ_UNROLL
            for (int j = 0; j < 4; ++j)
                s[i][j] = TQ_S8_MAC16(s[i][j], x, y[j]);
        }
    }
    if (p < k) {
        const int32_t rest = k - p;
        int8x16_t y[4];
        TQ_UNROLL
        for (int j = 0; j < 4; ++j)
            y[j] = tq__neon_tail_s8(br[j], k, rest);
        TQ_UNROLL
        for (int i = 0; i < mr; ++i) {
            const int8x16_t x = tq__neon_tail_s8(a + (size_t)i * lda, k, rest);
            TQ_UNROLL
            for (int j = 0; j < 4; ++j)
                s[i][j] = TQ_S8_MAC16(s[i][j], x, y[j]);
        }
    }
    TQ_UNROLL
    for (int i = 0; i < mr; ++i) {
        /* The four lane totals of the row's accumulators, in order. */
        int32_t r[4];
        vst1q_s32(r, vpaddq_s32(vpaddq_s32(s[i][0], s[i][1]),
                                vpaddq_s32(s[i][2], s[i][3])));
        for (int32_t j = 0; j < nr; ++j)
            c[(size_t)i * ldc + (size_t)j] = r[j];
    }
}

TQ_S8_ATTR static void tile4(const int8_t *a, size_t lda,
                             const int8_t *const br[4], int32_t k, int32_t *c,
                             size_t ldc, int32_t nr)
{
    tile(4, a, lda, br, k, c, ldc, nr);
}

TQ_S8_ATTR static void tile2(const int8_t *a, size_t lda,
                             const int8_t *const br[4], int32_t k, int32_t *c,
                             size_t ldc, int32_t nr)
{
    tile(2, a, lda, br, k, c, ldc, nr);
}

TQ_S8_ATTR static void tile1(const int8_t *a, size_t lda,
                             const int8_t *const br[4], int32_t k, int32_t *c,
                             size_t ldc, int32_t nr)
{
    tile(1, a, lda, br, k, c, ldc, nr);
}

TQ_S8_ATTR void TQ_S8_GEMM(int32_t m, int32_t n, int32_t k, const int8_t *a,
                           size_t lda, const int8_t *b, size_t ldb, int32_t *c,
                           size_t ldc)
{
    for (int32_t j = 0; j < n; j += 4) {
        const int32_t nr = n - j < 4 ? n - j : 4;
        const int8_t *br[4];
        for (int q = 0; q < 4; ++q)
            br[q] = b + (size_t)(j + (q < nr ? q : nr - 1)) * ldb;
        int32_t i = 0;
        for (; i + 4 <= m; i += 4)
            tile4(a + (size_t)i * lda, lda, br, k,
                  c + (size_t)i * ldc + (size_t)j, ldc, nr);
        if (i + 2 <= m) {
            tile2(a + (size_t)i * lda, lda, br, k,
                  c + (size_t)i * ldc + (size_t)j, ldc, nr);
            i += 2;
        }
        if (i < m)
            tile1(a + (size_t)i * lda, lda, br, k,
                  c + (size_t)i * ldc + (size_t)j, ldc, nr);
    }
}
