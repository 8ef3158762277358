/*
 * AVX2 int8 GEMM on panels widened to int16 (the large-product half of the
 * avx2 s8_gemm entry, and the fused requantized GEMM): exact, like every
 * int8 path. vpmaddubsw would saturate its int16 pair sums, so both
 * operands are widened to int16 and multiplied with vpmaddwd, whose int32
 * lane sums a·b + a'·b' (at most 2^15 in size) cannot overflow.
 *
 * B (weights, [n][k]) is packed per panel of 16 columns as int16 pairs
 * [k/2][16][2] (8 x 8 dword transposes of widened rows); A rows as int16,
 * k padded to even with 0. A 6 x 16 tile then broadcasts one int16 pair
 * of each of its 6 rows against the panel's two vectors: 12 accumulators
 * of 8 columns, no horizontal sums. k is taken in chunks of up to
 * TQ__AVX2_KC (the panel, 16·KC·2 bytes, and 6 rows of A stay in L1/L2).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "x86_avx2_gemm.h"
#include "x86_avx2_stage.h"

TQ_AVX2_INLINE int32_t load_i32(const int16_t *p)
{
    int32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* 16 bytes of a row from p0 on, zero past the row end (kc - p0 bytes
 * left, < 16 in the tail). */
TQ_AVX2_INLINE __m256i widen16(const int8_t *row, int32_t p0, int32_t kc)
{
    if (kc - p0 >= 16)
        return _mm256_cvtepi8_epi16(
            _mm_loadu_si128((const __m128i *)(const void *)(row + p0)));
    int8_t t[16] = {0};
    memcpy(t, row + p0, (size_t)(kc - p0));
    return _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(void *)t));
}

TQ_AVX2 void tq__avx2_pack_b(const int8_t *b, size_t ldb, int32_t nr,
                             int32_t kc, int16_t *panel)
{
    const __m256i zero = _mm256_setzero_si256();
    for (int32_t h = 0; h < 2; ++h) { /* columns 8h .. 8h + 7 */
        const int8_t *rows[8];
        int live[8];
        for (int j = 0; j < 8; ++j) {
            const int32_t col = 8 * h + j;
            live[j] = col < nr;
            rows[j] = b + (size_t)(live[j] ? col : 0) * ldb;
        }
        for (int32_t p0 = 0; p0 < kc; p0 += 16) {
            __m256i r[8];
            for (int j = 0; j < 8; ++j)
                r[j] = live[j] ? widen16(rows[j], p0, kc) : zero;
            const __m256i t0 = _mm256_unpacklo_epi32(r[0], r[1]);
            const __m256i t1 = _mm256_unpackhi_epi32(r[0], r[1]);
            const __m256i t2 = _mm256_unpacklo_epi32(r[2], r[3]);
            const __m256i t3 = _mm256_unpackhi_epi32(r[2], r[3]);
            const __m256i t4 = _mm256_unpacklo_epi32(r[4], r[5]);
            const __m256i t5 = _mm256_unpackhi_epi32(r[4], r[5]);
            const __m256i t6 = _mm256_unpacklo_epi32(r[6], r[7]);
            const __m256i t7 = _mm256_unpackhi_epi32(r[6], r[7]);
            const __m256i u0 = _mm256_unpacklo_epi64(t0, t2);
            const __m256i u1 = _mm256_unpackhi_epi64(t0, t2);
            const __m256i u2 = _mm256_unpacklo_epi64(t1, t3);
            const __m256i u3 = _mm256_unpackhi_epi64(t1, t3);
            const __m256i u4 = _mm256_unpacklo_epi64(t4, t6);
            const __m256i u5 = _mm256_unpackhi_epi64(t4, t6);
            const __m256i u6 = _mm256_unpacklo_epi64(t5, t7);
            const __m256i u7 = _mm256_unpackhi_epi64(t5, t7);
            __m256i o[8];
            o[0] = _mm256_permute2x128_si256(u0, u4, 0x20);
            o[1] = _mm256_permute2x128_si256(u1, u5, 0x20);
            o[2] = _mm256_permute2x128_si256(u2, u6, 0x20);
            o[3] = _mm256_permute2x128_si256(u3, u7, 0x20);
            o[4] = _mm256_permute2x128_si256(u0, u4, 0x31);
            o[5] = _mm256_permute2x128_si256(u1, u5, 0x31);
            o[6] = _mm256_permute2x128_si256(u2, u6, 0x31);
            o[7] = _mm256_permute2x128_si256(u3, u7, 0x31);
            /* Pair p0/2 + q of the 8 columns; pairs past the (even-padded)
             * end are not stored. */
            const int32_t pairs = (kc - p0 + 1) / 2;
            for (int q = 0; q < 8 && q < pairs; ++q)
                _mm256_store_si256(
                    (__m256i *)(void *)(panel +
                                        ((size_t)(p0 / 2 + q) * 16 + 8 * h) * 2),
                    o[q]);
        }
    }
}

TQ_AVX2 void tq__avx2_pack_a(const int8_t *a, size_t lda, int32_t mr,
                             int32_t kc, int16_t *rows, size_t ld)
{
    for (int32_t i = 0; i < mr; ++i) {
        const int8_t *src = a + (size_t)i * lda;
        int16_t *dst = rows + (size_t)i * ld;
        int32_t p = 0;
        for (; p + 16 <= kc; p += 16)
            _mm256_storeu_si256((__m256i *)(void *)(dst + p),
                                _mm256_cvtepi8_epi16(_mm_loadu_si128(
                                    (const __m128i *)(const void *)(src + p))));
        for (; p < kc; ++p)
            dst[p] = src[p];
        if (kc & 1)
            dst[kc] = 0;
    }
}

/* The MR x 16 tile over kp pairs, MR a constant: named accumulators (an
 * array of 12 was spilled to the stack by gcc). */
#define ROW_STEP(MR, i)                                                         \
    if (MR > i) {                                                           \
        const __m256i av = _mm256_set1_epi32(                               \
            load_i32(rows + (size_t)(i) * ld + 2 * (size_t)q));             \
        c##i##0 = _mm256_add_epi32(c##i##0, _mm256_madd_epi16(av, b0));     \
        c##i##1 = _mm256_add_epi32(c##i##1, _mm256_madd_epi16(av, b1));     \
    }
#define ROW_OUT(MR, i)                                                          \
    if (MR > i) {                                                           \
        out[i][0] = c##i##0;                                                \
        out[i][1] = c##i##1;                                                \
    }
#define TILE_FN(MR)                                                         \
    TQ_AVX2 static void tile##MR(int32_t kp, const int16_t *rows, size_t ld, \
                                 const int16_t *panel, __m256i out[6][2])   \
    {                                                                       \
        const __m256i z = _mm256_setzero_si256();                           \
        __m256i c00 = z, c01 = z, c10 = z, c11 = z, c20 = z, c21 = z;       \
        __m256i c30 = z, c31 = z, c40 = z, c41 = z, c50 = z, c51 = z;       \
        for (int32_t q = 0; q < kp; ++q) {                                  \
            const __m256i b0 = _mm256_loadu_si256(                          \
                (const __m256i *)(const void *)(panel + (size_t)q * 32));   \
            const __m256i b1 = _mm256_loadu_si256(                          \
                (const __m256i *)(const void *)(panel + (size_t)q * 32 +    \
                                                16));                       \
            ROW_STEP(MR, 0) ROW_STEP(MR, 1) ROW_STEP(MR, 2)                             \
            ROW_STEP(MR, 3) ROW_STEP(MR, 4) ROW_STEP(MR, 5)                             \
        }                                                                   \
        ROW_OUT(MR, 0) ROW_OUT(MR, 1) ROW_OUT(MR, 2) ROW_OUT(MR, 3) ROW_OUT(MR, 4) ROW_OUT(MR, 5)    \
    }
TILE_FN(1)
TILE_FN(2)
TILE_FN(3)
TILE_FN(4)
TILE_FN(5)
TILE_FN(6)
#undef TILE_FN
#undef ROW_STEP
#undef ROW_OUT

TQ_AVX2 void tq__avx2_tile(int32_t mr, int32_t kp, const int16_t *rows,
                           size_t ld, const int16_t *panel, __m256i acc[6][2])
{
    switch (mr) {
    case 1: tile1(kp, rows, ld, panel, acc); break;
    case 2: tile2(kp, rows, ld, panel, acc); break;
    case 3: tile3(kp, rows, ld, panel, acc); break;
    case 4: tile4(kp, rows, ld, panel, acc); break;
    case 5: tile5(kp, rows, ld, panel, acc); break;
    default: tile6(kp, rows, ld, panel, acc); break;
    }
}

/* Rows of A packed at a time: 8 tiles (48 KiB of int16 at the longest k
 * chunk), swept against every column panel, so that A is packed once per
 * k chunk and only the (small) B panels are packed again per row block. */
#define ROW_BLOCK (8 * TQ__AVX2_MR)

/* The GEMM over panels: packed here from B, or read from @p prepacked
 * (whole-k panels of kp_all pairs each, 16 columns, any alignment). */
TQ_AVX2 static void gemm_panels(int32_t m, int32_t n, int32_t k,
                                const int8_t *a, size_t lda, const int8_t *b,
                                size_t ldb, const int16_t *prepacked,
                                int32_t *c, size_t ldc)
{
    _Alignas(32) int16_t panel[TQ__AVX2_KC * 16];
    _Alignas(32) int16_t rows[ROW_BLOCK * (TQ__AVX2_KC + 16)];
    const size_t ld = TQ__AVX2_KC + 16;
    const int32_t kp_all = (k + 1) / 2;
    for (int32_t p0 = 0; p0 < k; p0 += TQ__AVX2_KC) {
        const int32_t kc = k - p0 < TQ__AVX2_KC ? k - p0 : TQ__AVX2_KC;
        const int32_t kp = (kc + 1) / 2;
        for (int32_t r0 = 0; r0 < m; r0 += ROW_BLOCK) {
            const int32_t mb = m - r0 < ROW_BLOCK ? m - r0 : ROW_BLOCK;
            tq__avx2_pack_a(a + (size_t)r0 * lda + (size_t)p0, lda, mb, kc,
                            rows, ld);
            for (int32_t j0 = 0; j0 < n; j0 += 16) {
                const int32_t nr = n - j0 < 16 ? n - j0 : 16;
                const int16_t *pan = panel;
                if (prepacked)
                    pan = prepacked + ((size_t)(j0 / 16) * (size_t)kp_all +
                                       (size_t)(p0 / 2)) * 32;
                else
                    tq__avx2_pack_b(b + (size_t)j0 * ldb + (size_t)p0, ldb, nr,
                                    kc, panel);
                for (int32_t i0 = 0; i0 < mb; i0 += TQ__AVX2_MR) {
                    const int32_t mr =
                        mb - i0 < TQ__AVX2_MR ? mb - i0 : TQ__AVX2_MR;
                    __m256i acc[6][2];
                    tq__avx2_tile(mr, kp, rows + (size_t)i0 * ld, ld, pan,
                                  acc);
                    for (int32_t i = 0; i < mr; ++i) {
                        int32_t *crow =
                            c + (size_t)(r0 + i0 + i) * ldc + (size_t)j0;
                        if (nr == 16) {
                            __m256i *c0 = (__m256i *)(void *)crow;
                            __m256i *c1 = (__m256i *)(void *)(crow + 8);
                            if (p0 > 0) {
                                acc[i][0] = _mm256_add_epi32(
                                    acc[i][0], _mm256_loadu_si256(c0));
                                acc[i][1] = _mm256_add_epi32(
                                    acc[i][1], _mm256_loadu_si256(c1));
                            }
                            _mm256_storeu_si256(c0, acc[i][0]);
                            _mm256_storeu_si256(c1, acc[i][1]);
                        } else {
                            int32_t t[16];
                            _mm256_storeu_si256((__m256i *)(void *)t, acc[i][0]);
                            _mm256_storeu_si256((__m256i *)(void *)(t + 8),
                                                acc[i][1]);
                            for (int32_t j = 0; j < nr; ++j)
                                crow[j] = p0 > 0 ? crow[j] + t[j] : t[j];
                        }
                    }
                }
            }
        }
    }
}

TQ_AVX2 void tq__avx2_s8_gemm_packed(int32_t m, int32_t n, int32_t k,
                                     const int8_t *a, size_t lda,
                                     const int8_t *b, size_t ldb, int32_t *c,
                                     size_t ldc)
{
    gemm_panels(m, n, k, a, lda, b, ldb, NULL, c, ldc);
}

TQ_AVX2 void tq__avx2_s8_gemm_prepacked_panels(int32_t m, int32_t n,
                                               int32_t k, const int8_t *a,
                                               size_t lda,
                                               const unsigned char *panels,
                                               int32_t *c, size_t ldc)
{
    gemm_panels(m, n, k, a, lda, NULL, 0,
                (const int16_t *)(const void *)panels, c, ldc);
}

/* ---- the requantized GEMM, its output stage applied to each tile ------- */

/* Longest k the fused GEMM takes in one pass (the panel and the packed rows
 * of a tile live on the stack: 32 + 12 KiB). */
#define FUSED_MAX_K 1024

TQ_AVX2 int tq__avx2_s8_gemm_requant(int32_t m, int32_t n, int32_t k,
                                     const int8_t *a, size_t lda,
                                     int32_t a_offset, const int8_t *b,
                                     size_t ldb, int32_t b_offset,
                                     const int32_t *bias,
                                     const tq_s8_output *os, int8_t *c,
                                     size_t ldc)
{
    if (b_offset != 0 || m < 4 || n < 8 || k < 1 || k > FUSED_MAX_K)
        return 0;
    _Alignas(32) int16_t panel[FUSED_MAX_K * 16];
    _Alignas(32) int16_t rows[TQ__AVX2_MR * (FUSED_MAX_K + 16)];
    const size_t ld = FUSED_MAX_K + 16;
    const int32_t kp = (k + 1) / 2;
    for (int32_t j0 = 0; j0 < n; j0 += 16) {
        const int32_t nr = n - j0 < 16 ? n - j0 : 16;
        const int32_t n0 = nr < 8 ? nr : 8, n1 = nr > 8 ? nr - 8 : 0;
        tq__avx2_pack_b(b + (size_t)j0 * ldb, ldb, nr, k, panel);
        /* The fold of the input offset, a_offset·Σ_p B[j][p]: with b_offset
         * 0 the folded sum Σ (a + a_offset)·b stays within 2^30. */
        int32_t sums[16] = {0}, bb[16] = {0};
        if (a_offset != 0) {
            tq__avx2_s8_row_sums(nr, k, b + (size_t)j0 * ldb, ldb, sums);
            for (int32_t j = 0; j < nr; ++j)
                sums[j] *= a_offset;
        }
        if (bias)
            memcpy(bb, bias + j0, (size_t)nr * sizeof(int32_t));
        const __m256i f0 = _mm256_loadu_si256((const __m256i *)(void *)sums);
        const __m256i f1 = _mm256_loadu_si256((const __m256i *)(void *)(sums + 8));
        const __m256i bias0 = _mm256_loadu_si256((const __m256i *)(void *)bb);
        const __m256i bias1 = _mm256_loadu_si256((const __m256i *)(void *)(bb + 8));
        tq__avx2_stage st0, st1;
        tq__avx2_stage_range(&st0, os, j0, n0);
        tq__avx2_stage_range(&st1, os, n1 > 0 ? j0 + 8 : j0, n1 > 0 ? n1 : 1);
        const __m256i zp16 = _mm256_set1_epi16((int16_t)os->output_offset);
        const __m128i lo8 = _mm_set1_epi8((int8_t)os->act_min);
        const __m128i hi8 = _mm_set1_epi8((int8_t)os->act_max);
        for (int32_t i0 = 0; i0 < m; i0 += TQ__AVX2_MR) {
            const int32_t mr = m - i0 < TQ__AVX2_MR ? m - i0 : TQ__AVX2_MR;
            tq__avx2_pack_a(a + (size_t)i0 * lda, lda, mr, k, rows, ld);
            __m256i acc[6][2];
            tq__avx2_tile(mr, kp, rows, ld, panel, acc);
            for (int32_t i = 0; i < mr; ++i) {
                __m256i x0 = _mm256_add_epi32(acc[i][0], f0);
                __m256i x1 = _mm256_add_epi32(acc[i][1], f1);
                if (bias) {
                    x0 = tq__avx2_adds_epi32(x0, bias0);
                    x1 = tq__avx2_adds_epi32(x1, bias1);
                }
                const __m128i y = tq__avx2_pack16(tq__avx2_requant_raw(x0, &st0),
                                                  tq__avx2_requant_raw(x1, &st1),
                                                  zp16, lo8, hi8);
                int8_t *dst = c + (size_t)(i0 + i) * ldc + (size_t)j0;
                if (nr == 16) {
                    _mm_storeu_si128((__m128i *)(void *)dst, y);
                } else {
                    int8_t t[16];
                    _mm_storeu_si128((__m128i *)(void *)t, y);
                    memcpy(dst, t, (size_t)nr);
                }
            }
        }
    }
    return 1;
}
