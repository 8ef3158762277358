/*
 * AVX2 f32 GEMM microkernel (C = A·Bᵀ), bit for bit the portable
 * reference: the 16 FMA lanes of each C element live in two ymm registers
 * (lanes 0-7 and 8-15), whose sum is the first level of the reference tree,
 * and the rest of the tree follows in tq__avx2_tree4_ps(). Rows are read
 * in place; tails load zero-filled under a mask (fmaf(0, 0, s) = s, see
 * dispatch.h); tiles past the edge of C repeat a valid row and store
 * nothing there.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "x86_avx2.h"

/* Lane masks of the first n (0..8) floats. */
TQ_AVX2_INLINE __m256i lane_mask(int32_t n)
{
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), idx);
}

/* A 2 x 2 tile: rows a0, a1 of A, b0, b1 of B; stores mr x nr results. */
TQ_AVX2 static void tile2x2(const float *a0, const float *a1, const float *b0,
                            const float *b1, int32_t k, float *c, size_t ldc,
                            int32_t mr, int32_t nr)
{
    __m256 l00 = _mm256_setzero_ps(), h00 = l00, l01 = l00, h01 = l00;
    __m256 l10 = l00, h10 = l00, l11 = l00, h11 = l00;
    int32_t p = 0;
    for (; p + 16 <= k; p += 16) {
        const __m256 x0l = _mm256_loadu_ps(a0 + p),
                     x0h = _mm256_loadu_ps(a0 + p + 8);
        const __m256 x1l = _mm256_loadu_ps(a1 + p),
                     x1h = _mm256_loadu_ps(a1 + p + 8);
        const __m256 y0l = _mm256_loadu_ps(b0 + p),
                     y0h = _mm256_loadu_ps(b0 + p + 8);
        const __m256 y1l = _mm256_loadu_ps(b1 + p),
                     y1h = _mm256_loadu_ps(b1 + p + 8);
        l00 = _mm256_fmadd_ps(x0l, y0l, l00);
        h00 = _mm256_fmadd_ps(x0h, y0h, h00);
        l01 = _mm256_fmadd_ps(x0l, y1l, l01);
        h01 = _mm256_fmadd_ps(x0h, y1h, h01);
        l10 = _mm256_fmadd_ps(x1l, y0l, l10);
        h10 = _mm256_fmadd_ps(x1h, y0h, h10);
        l11 = _mm256_fmadd_ps(x1l, y1l, l11);
        h11 = _mm256_fmadd_ps(x1h, y1h, h11);
    }
    if (p < k) {
        const __m256i ml = lane_mask(k - p), mh = lane_mask(k - p - 8);
        const __m256 x0l = _mm256_maskload_ps(a0 + p, ml),
                     x0h = _mm256_maskload_ps(a0 + p + 8, mh);
        const __m256 x1l = _mm256_maskload_ps(a1 + p, ml),
                     x1h = _mm256_maskload_ps(a1 + p + 8, mh);
        const __m256 y0l = _mm256_maskload_ps(b0 + p, ml),
                     y0h = _mm256_maskload_ps(b0 + p + 8, mh);
        const __m256 y1l = _mm256_maskload_ps(b1 + p, ml),
                     y1h = _mm256_maskload_ps(b1 + p + 8, mh);
        l00 = _mm256_fmadd_ps(x0l, y0l, l00);
        h00 = _mm256_fmadd_ps(x0h, y0h, h00);
        l01 = _mm256_fmadd_ps(x0l, y1l, l01);
        h01 = _mm256_fmadd_ps(x0h, y1h, h01);
        l10 = _mm256_fmadd_ps(x1l, y0l, l10);
        h10 = _mm256_fmadd_ps(x1h, y0h, h10);
        l11 = _mm256_fmadd_ps(x1l, y1l, l11);
        h11 = _mm256_fmadd_ps(x1h, y1h, h11);
    }
    float r[4];
    _mm_storeu_ps(
        r, tq__avx2_tree4_ps(_mm256_add_ps(l00, h00), _mm256_add_ps(l01, h01),
                             _mm256_add_ps(l10, h10), _mm256_add_ps(l11, h11)));
    for (int32_t i = 0; i < mr; ++i)
        for (int32_t j = 0; j < nr; ++j)
            c[(size_t)i * ldc + (size_t)j] = r[2 * i + j];
}

/* One A row against four B rows; stores nr results. */
TQ_AVX2 static void tile1x4(const float *a0, const float *const br[4],
                            int32_t k, float *c, int32_t nr)
{
    __m256 lo[4], hi[4];
    for (int j = 0; j < 4; ++j)
        lo[j] = hi[j] = _mm256_setzero_ps();
    int32_t p = 0;
    for (; p + 16 <= k; p += 16) {
        const __m256 xl = _mm256_loadu_ps(a0 + p),
                     xh = _mm256_loadu_ps(a0 + p + 8);
        for (int j = 0; j < 4; ++j) {
            lo[j] = _mm256_fmadd_ps(xl, _mm256_loadu_ps(br[j] + p), lo[j]);
            hi[j] = _mm256_fmadd_ps(xh, _mm256_loadu_ps(br[j] + p + 8), hi[j]);
        }
    }
    if (p < k) {
        const __m256i ml = lane_mask(k - p), mh = lane_mask(k - p - 8);
        const __m256 xl = _mm256_maskload_ps(a0 + p, ml),
                     xh = _mm256_maskload_ps(a0 + p + 8, mh);
        for (int j = 0; j < 4; ++j) {
            lo[j] =
                _mm256_fmadd_ps(xl, _mm256_maskload_ps(br[j] + p, ml), lo[j]);
            hi[j] = _mm256_fmadd_ps(xh, _mm256_maskload_ps(br[j] + p + 8, mh),
                                    hi[j]);
        }
    }
    float r[4];
    _mm_storeu_ps(r, tq__avx2_tree4_ps(_mm256_add_ps(lo[0], hi[0]),
                                       _mm256_add_ps(lo[1], hi[1]),
                                       _mm256_add_ps(lo[2], hi[2]),
                                       _mm256_add_ps(lo[3], hi[3])));
    for (int32_t j = 0; j < nr; ++j)
        c[j] = r[j];
}

TQ_AVX2 void tq__avx2_f32_gemm(int32_t m, int32_t n, int32_t k, const float *a,
                               size_t lda, const float *b, size_t ldb, float *c,
                               size_t ldc)
{
    int32_t i = 0;
    for (; i + 2 <= m; i += 2) {
        const float *a0 = a + (size_t)i * lda, *a1 = a0 + lda;
        for (int32_t j = 0; j < n; j += 2) {
            const int32_t nr = n - j < 2 ? 1 : 2;
            const float *b0 = b + (size_t)j * ldb;
            tile2x2(a0, a1, b0, nr > 1 ? b0 + ldb : b0, k,
                    c + (size_t)i * ldc + (size_t)j, ldc, 2, nr);
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
