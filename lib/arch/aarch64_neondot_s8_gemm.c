/*
 * AArch64 int8 GEMM microkernel with the Armv8.2-A dot product (SDOT):
 * vdotq_s32 adds four byte products into each int32 lane in one
 * instruction, exact (four products of at most 2^14 in size). Each
 * function carries the +dotprod target attribute and runs only where
 * cpu_aarch64.c found HWCAP_ASIMDDP.
 *
 * The tiling is the NEON kernel's (aarch64_neon_s8_gemm.c): MR (4, 2 or 1)
 * A rows against four B rows, 16 bytes of k per step, every loaded vector
 * used four or MR times, zero-masked row tails, narrow column tiles that
 * repeat a valid B row and store nothing for it.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "aarch64_neon.h"

TQ_NEON_INLINE TQ_NEONDOT void tile(int mr, const int8_t *a, size_t lda,
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
                s[i][j] = vdotq_s32(s[i][j], x, y[j]);
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
                s[i][j] = vdotq_s32(s[i][j], x, y[j]);
        }
    }
    TQ_UNROLL
    for (int i = 0; i < mr; ++i) {
        int32_t r[4];
        vst1q_s32(r, vpaddq_s32(vpaddq_s32(s[i][0], s[i][1]),
                                vpaddq_s32(s[i][2], s[i][3])));
        for (int32_t j = 0; j < nr; ++j)
            c[(size_t)i * ldc + (size_t)j] = r[j];
    }
}

TQ_NEONDOT static void tile4(const int8_t *a, size_t lda,
                             const int8_t *const br[4], int32_t k, int32_t *c,
                             size_t ldc, int32_t nr)
{
    tile(4, a, lda, br, k, c, ldc, nr);
}

TQ_NEONDOT static void tile2(const int8_t *a, size_t lda,
                             const int8_t *const br[4], int32_t k, int32_t *c,
                             size_t ldc, int32_t nr)
{
    tile(2, a, lda, br, k, c, ldc, nr);
}

TQ_NEONDOT static void tile1(const int8_t *a, size_t lda,
                             const int8_t *const br[4], int32_t k, int32_t *c,
                             size_t ldc, int32_t nr)
{
    tile(1, a, lda, br, k, c, ldc, nr);
}

TQ_NEONDOT void tq__neondot_s8_gemm(int32_t m, int32_t n, int32_t k,
                                    const int8_t *a, size_t lda,
                                    const int8_t *b, size_t ldb, int32_t *c,
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
