/*
 * AVX-512 VNNI int8 GEMM microkernel (raw int32 sums C = A·Bᵀ), exact like
 * every int8 path.
 *
 * vpdpbusd multiplies unsigned by signed bytes, four products per int32
 * lane. B is made unsigned by flipping its sign bit (b ^ 0x80 = b + 128 as
 * a u8), so each lane sums a·(b + 128); subtracting 128·Σa per A row gives
 * Σ a·b. Every partial sum stays below 255·128·2^15 < 2^31.
 *
 * Rows are read in place, no packing: a 4 x 4 tile of C loads four A and
 * four B vectors per 64 products and runs 16 vpdpbusd; the 16 int32 lanes
 * of each element are added at the end. Short tails load zero-filled
 * under a mask (a zero A byte adds nothing). Tiles past the edge of C
 * repeat a valid row and store nothing there.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "x86_avx512.h"

/* Rows of B kept hot in cache while all of A streams by. */
#define S8_BLOCK_BYTES (256 * 1024)

/* From this many rows of A on, x86_avx512_s8_packed.c does the product
 * (the convolutions hand over blocks of at most 32 rows, whose weights
 * would be packed again for every block). */
#define PACKED_MIN_ROWS 64

TQ_AVX512_INLINE __m512i load_b(const int8_t *p)
{
    return _mm512_xor_si512(_mm512_loadu_si512(p), _mm512_set1_epi8(-128));
}

TQ_AVX512_INLINE __m512i load_b_tail(__mmask64 mk, const int8_t *p)
{
    return _mm512_xor_si512(_mm512_maskz_loadu_epi8(mk, p),
                            _mm512_set1_epi8(-128));
}

/* 128·Σ_p x[p]: the correction of one A row. */
TQ_AVX512 static int32_t row_correction(const int8_t *x, int32_t k)
{
    const __m512i ones = _mm512_set1_epi8(1);
    __m512i s = _mm512_setzero_si512();
    int32_t p = 0;
    for (; p + 64 <= k; p += 64)
        s = tq__dpbusd(s, ones, _mm512_loadu_si512(x + p));
    if (p < k)
        s = tq__dpbusd(s, ones,
                       _mm512_maskz_loadu_epi8(tq__mask64(k - p), x + p));
    /* |Σ x| <= 2^22, so 128·Σ x fits. */
    return _mm512_reduce_add_epi32(s) * 128;
}

/* A 4 x 4 tile; corr[i] is row i's correction. */
TQ_AVX512_INLINE void tile4x4(const int8_t *const ar[4],
                              const int8_t *const br[4], const int32_t corr[4],
                              int32_t k, int32_t *c, size_t ldc, int32_t mr,
                              int32_t nr)
{
    __m512i acc[16];
    for (int q = 0; q < 16; ++q)
        acc[q] = _mm512_setzero_si512();
    int32_t p = 0;
    for (; p + 64 <= k; p += 64) {
        __m512i av[4];
        for (int i = 0; i < 4; ++i)
            av[i] = _mm512_loadu_si512(ar[i] + p);
        for (int j = 0; j < 4; ++j) {
            const __m512i bv = load_b(br[j] + p);
            for (int i = 0; i < 4; ++i)
                acc[4 * j + i] = tq__dpbusd(acc[4 * j + i], bv, av[i]);
        }
    }
    if (p < k) {
        const __mmask64 mk = tq__mask64(k - p);
        __m512i av[4];
        for (int i = 0; i < 4; ++i)
            av[i] = _mm512_maskz_loadu_epi8(mk, ar[i] + p);
        for (int j = 0; j < 4; ++j) {
            const __m512i bv = load_b_tail(mk, br[j] + p);
            for (int i = 0; i < 4; ++i)
                acc[4 * j + i] = tq__dpbusd(acc[4 * j + i], bv, av[i]);
        }
    }
    /* Lane 4i + j holds tile (i, j). */
    const __m512i cv = _mm512_set_epi32(
        corr[3], corr[3], corr[3], corr[3], corr[2], corr[2], corr[2], corr[2],
        corr[1], corr[1], corr[1], corr[1], corr[0], corr[0], corr[0], corr[0]);
    const __m512i r = _mm512_sub_epi32(tq__reduce16_epi32(acc), cv);
    const __mmask8 mn = (__mmask8)tq__mask16(nr);
    _mm_mask_storeu_epi32(c, mn, _mm512_castsi512_si128(r));
    if (mr > 1)
        _mm_mask_storeu_epi32(c + ldc, mn, _mm512_extracti32x4_epi32(r, 1));
    if (mr > 2)
        _mm_mask_storeu_epi32(c + 2 * ldc, mn, _mm512_extracti32x4_epi32(r, 2));
    if (mr > 3)
        _mm_mask_storeu_epi32(c + 3 * ldc, mn, _mm512_extracti32x4_epi32(r, 3));
}

/* One A row against 16 B rows; acc[q] is column 4·(q % 4) + q / 4 so that
 * the reduction leaves the results in column order. */
TQ_AVX512_INLINE void tile1x16(const int8_t *ar, const int8_t *const br[16],
                               int32_t corr, int32_t k, int32_t *c, int32_t nr)
{
    __m512i acc[16];
    for (int q = 0; q < 16; ++q)
        acc[q] = _mm512_setzero_si512();
    int32_t p = 0;
    for (; p + 64 <= k; p += 64) {
        const __m512i av = _mm512_loadu_si512(ar + p);
        for (int q = 0; q < 16; ++q)
            acc[q] =
                tq__dpbusd(acc[q], load_b(br[4 * (q % 4) + q / 4] + p), av);
    }
    if (p < k) {
        const __mmask64 mk = tq__mask64(k - p);
        const __m512i av = _mm512_maskz_loadu_epi8(mk, ar + p);
        for (int q = 0; q < 16; ++q)
            acc[q] = tq__dpbusd(
                acc[q], load_b_tail(mk, br[4 * (q % 4) + q / 4] + p), av);
    }
    _mm512_mask_storeu_epi32(
        c, tq__mask16(nr),
        _mm512_sub_epi32(tq__reduce16_epi32(acc), _mm512_set1_epi32(corr)));
}

TQ_AVX512 static void rows4(int32_t i0, int32_t mr, int32_t j0, int32_t j1,
                            int32_t k, const int8_t *a, size_t lda,
                            const int8_t *b, size_t ldb, int32_t *c, size_t ldc)
{
    const int8_t *ar[4];
    int32_t corr[4];
    for (int i = 0; i < 4; ++i) {
        ar[i] = a + (size_t)(i0 + (i < mr ? i : mr - 1)) * lda;
        corr[i] = i < mr ? row_correction(ar[i], k) : 0;
    }
    for (int32_t j = j0; j < j1; j += 4) {
        const int32_t nr = j1 - j < 4 ? j1 - j : 4;
        const int8_t *br[4];
        for (int q = 0; q < 4; ++q)
            br[q] = b + (size_t)(j + (q < nr ? q : nr - 1)) * ldb;
        tile4x4(ar, br, corr, k, c + (size_t)i0 * ldc + (size_t)j, ldc, mr, nr);
    }
}

TQ_AVX512 static void row1(int32_t i, int32_t j0, int32_t j1, int32_t k,
                           const int8_t *a, size_t lda, const int8_t *b,
                           size_t ldb, int32_t *c, size_t ldc)
{
    const int8_t *ar = a + (size_t)i * lda;
    const int32_t corr = row_correction(ar, k);
    for (int32_t j = j0; j < j1; j += 16) {
        const int32_t nr = j1 - j < 16 ? j1 - j : 16;
        const int8_t *br[16];
        for (int q = 0; q < 16; ++q)
            br[q] = b + (size_t)(j + (q < nr ? q : nr - 1)) * ldb;
        tile1x16(ar, br, corr, k, c + (size_t)i * ldc + (size_t)j, nr);
    }
}

TQ_AVX512 void tq__avx512_s8_gemm(int32_t m, int32_t n, int32_t k,
                                  const int8_t *a, size_t lda, const int8_t *b,
                                  size_t ldb, int32_t *c, size_t ldc)
{
    /* Enough rows to repay packing B: panels and no lane reductions. */
    if (m >= PACKED_MIN_ROWS && n >= 32 && k >= 64) {
        tq__avx512_s8_gemm_packed(m, n, k, a, lda, b, ldb, c, ldc);
        return;
    }
    int32_t nb = (int32_t)(S8_BLOCK_BYTES / (size_t)k);
    nb = nb < 16 ? 16 : nb - nb % 16;
    for (int32_t j0 = 0; j0 < n; j0 += nb) {
        const int32_t j1 = n - j0 < nb ? n : j0 + nb;
        int32_t i = 0;
        for (; i + 4 <= m; i += 4)
            rows4(i, 4, j0, j1, k, a, lda, b, ldb, c, ldc);
        /* One or two rows are cheaper alone than in a padded 4-row tile. */
        if (m - i == 3) {
            rows4(i, 3, j0, j1, k, a, lda, b, ldb, c, ldc);
            i += 3;
        }
        for (; i < m; ++i)
            row1(i, j0, j1, k, a, lda, b, ldb, c, ldc);
    }
}

/* Row sums, 16 rows at a time: one vpdpbusd with ones per 64 bytes of each
 * row, then the reduction tree; rows past the end repeat the last one. */
TQ_AVX512 void tq__avx512_s8_row_sums(int32_t rows, int32_t k, const int8_t *x,
                                      size_t ld, int32_t *sums)
{
    const __m512i ones = _mm512_set1_epi8(1);
    for (int32_t r0 = 0; r0 < rows; r0 += 16) {
        const int32_t nr = rows - r0 < 16 ? rows - r0 : 16;
        const int8_t *row[16];
        __m512i acc[16];
        /* acc[q] is row 4·(q % 4) + q / 4: the reduction then leaves the
         * sums in row order. */
        for (int q = 0; q < 16; ++q) {
            const int32_t r = 4 * (q % 4) + q / 4;
            row[q] = x + (size_t)(r0 + (r < nr ? r : nr - 1)) * ld;
            acc[q] = _mm512_setzero_si512();
        }
        for (int32_t p = 0; p < k; p += 64) {
            const __mmask64 mk = tq__mask64(k - p);
            for (int q = 0; q < 16; ++q)
                acc[q] = tq__dpbusd(acc[q], ones,
                                    _mm512_maskz_loadu_epi8(mk, row[q] + p));
        }
        _mm512_mask_storeu_epi32(sums + r0, tq__mask16(nr),
                                 tq__reduce16_epi32(acc));
    }
}
