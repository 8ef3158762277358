/*
 * AVX2 int8 GEMM microkernel (raw int32 sums C = A·Bᵀ), exact like every
 * int8 path. Without VNNI, and because vpmaddubsw saturates its int16
 * pair sums, both operands are sign-extended to int16 and multiplied with
 * vpmaddwd: each int32 lane gets a·b + a'·b' (at most 2^15 in size), so
 * nothing can saturate or overflow.
 *
 * Rows are read in place: a 2 x 4 tile of C widens two A and four B
 * slices of 16 bytes per step and runs 8 vpmaddwd. A short tail is the
 * row's last 16 bytes shifted down (zero-padded copies only for rows under
 * 16 bytes); tiles past the edge of C repeat a valid row and store nothing
 * there.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "x86_avx2_gemm.h"

TQ_AVX2_INLINE __m128i load16(const int8_t *p)
{
    return _mm_loadu_si128((const __m128i *)(const void *)p);
}

TQ_AVX2_INLINE __m256i widen(const int8_t *p)
{
    return _mm256_cvtepi8_epi16(load16(p));
}

/* The last rest (1..15) bytes of a row of k >= 16 bytes, zero-filled: the
 * 16 bytes that end the row, moved down by a byte shuffle (shuffle indices
 * with the top bit set give zero). */
TQ_AVX2_INLINE __m128i tail16(const int8_t *row, int32_t k, int32_t rest)
{
    static const int8_t window[32] = {
        0,    1,    2,    3,    4,    5,    6,    7,    8,    9,    10,
        11,   12,   13,   14,   15,   -128, -128, -128, -128, -128, -128,
        -128, -128, -128, -128, -128, -128, -128, -128, -128, -128};
    return _mm_shuffle_epi8(load16(row + k - 16), load16(window + 16 - rest));
}

/* The last rest bytes of a row, zero-filled, for any k. */
TQ_AVX2_INLINE __m128i tail_bytes(const int8_t *row, int32_t k, int32_t rest)
{
    if (k >= 16)
        return tail16(row, k, rest);
    int8_t t[16] = {0};
    memcpy(t, row + k - rest, (size_t)rest);
    return load16(t);
}

/* A 2 x 4 tile: rows a0, a1 of A, br[0..3] of B; stores mr x nr results. */
TQ_AVX2 static void tile2x4(const int8_t *a0, const int8_t *a1,
                            const int8_t *const br[4], int32_t k, int32_t *c,
                            size_t ldc, int32_t mr, int32_t nr)
{
    __m256i s0[4], s1[4];
    for (int j = 0; j < 4; ++j)
        s0[j] = s1[j] = _mm256_setzero_si256();
    int32_t p = 0;
    for (; p + 16 <= k; p += 16) {
        const __m256i x0 = widen(a0 + p), x1 = widen(a1 + p);
        for (int j = 0; j < 4; ++j) {
            const __m256i y = widen(br[j] + p);
            s0[j] = _mm256_add_epi32(s0[j], _mm256_madd_epi16(x0, y));
            s1[j] = _mm256_add_epi32(s1[j], _mm256_madd_epi16(x1, y));
        }
    }
    if (p < k) {
        const int32_t rest = k - p;
        const __m256i x0 = _mm256_cvtepi8_epi16(tail_bytes(a0, k, rest));
        const __m256i x1 = _mm256_cvtepi8_epi16(tail_bytes(a1, k, rest));
        for (int j = 0; j < 4; ++j) {
            const __m256i y = _mm256_cvtepi8_epi16(tail_bytes(br[j], k, rest));
            s0[j] = _mm256_add_epi32(s0[j], _mm256_madd_epi16(x0, y));
            s1[j] = _mm256_add_epi32(s1[j], _mm256_madd_epi16(x1, y));
        }
    }
    int32_t r[8];
    _mm_storeu_si128((__m128i *)(void *)r,
                     tq__avx2_sum4_epi32(s0[0], s0[1], s0[2], s0[3]));
    _mm_storeu_si128((__m128i *)(void *)(r + 4),
                     tq__avx2_sum4_epi32(s1[0], s1[1], s1[2], s1[3]));
    for (int32_t i = 0; i < mr; ++i)
        for (int32_t j = 0; j < nr; ++j)
            c[(size_t)i * ldc + (size_t)j] = r[4 * i + j];
}

TQ_AVX2 void tq__avx2_s8_gemm(int32_t m, int32_t n, int32_t k, const int8_t *a,
                              size_t lda, const int8_t *b, size_t ldb,
                              int32_t *c, size_t ldc)
{
    /* Enough rows to repay packing: the int16 panels (x86_avx2_s8_gemm_packed.c). */
    if (m >= 4 && n >= 8) {
        tq__avx2_s8_gemm_packed(m, n, k, a, lda, b, ldb, c, ldc);
        return;
    }
    for (int32_t i = 0; i < m; i += 2) {
        const int32_t mr = m - i < 2 ? 1 : 2;
        const int8_t *a0 = a + (size_t)i * lda;
        const int8_t *a1 = mr > 1 ? a0 + lda : a0;
        for (int32_t j = 0; j < n; j += 4) {
            const int32_t nr = n - j < 4 ? n - j : 4;
            const int8_t *br[4];
            for (int q = 0; q < 4; ++q)
                br[q] = b + (size_t)(j + (q < nr ? q : nr - 1)) * ldb;
            tile2x4(a0, a1, br, k, c + (size_t)i * ldc + (size_t)j, ldc, mr,
                    nr);
        }
    }
}

/* Row sums: pairs of bytes times 1 into int16 (vpmaddubsw cannot saturate
 * here: |2·x| <= 256), then pairs of those into int32. */
TQ_AVX2 void tq__avx2_s8_row_sums(int32_t rows, int32_t k, const int8_t *x,
                                  size_t ld, int32_t *sums)
{
    const __m128i ones8 = _mm_set1_epi8(1), ones16 = _mm_set1_epi16(1);
    for (int32_t r = 0; r < rows; ++r) {
        const int8_t *row = x + (size_t)r * ld;
        __m128i s = _mm_setzero_si128();
        int32_t p = 0;
        for (; p + 16 <= k; p += 16)
            s = _mm_add_epi32(
                s, _mm_madd_epi16(_mm_maddubs_epi16(ones8, load16(row + p)),
                                  ones16));
        if (p < k)
            s = _mm_add_epi32(
                s, _mm_madd_epi16(
                       _mm_maddubs_epi16(ones8, tail_bytes(row, k, k - p)),
                       ones16));
        s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
        s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
        sums[r] = _mm_cvtsi128_si32(s);
    }
}
