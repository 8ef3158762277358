/*
 * AVX2 int8 GEMM against weights packed ahead of time (tq_s8_pack_weights;
 * layout in lib/arch/dispatch.h). AVX2 has no exact byte dot product
 * (vpmaddubsw saturates its int16 pair sums), so weights and inputs are
 * widened to int16 and vpmaddwd sums pairs into int32, exactly.
 *
 * A packed group is 16 features by 4 weights. Widened, each 16-byte
 * quarter holds 4 features' weights, against the row's 4 input values
 * repeated; vpmaddwd leaves two partial sums per feature, which the end of
 * the block adds pairwise.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "x86_avx2.h"

#define GROUP_BYTES (TQ__PACK_LANES * TQ__PACK_DEPTH)

/* The row's 4 inputs at p as int16, repeated over the register; a short
 * last group (rem 1..3) is zero-filled. */
TQ_AVX2_INLINE __m256i inputs4(const int8_t *p, int32_t rem)
{
    int32_t v = 0;
    memcpy(&v, p, (size_t)rem);
    const __m128i x16 = _mm_cvtepi8_epi16(_mm_cvtsi32_si128(v));
    return _mm256_broadcastq_epi64(x16);
}

/* Features 0-7 of two quarter accumulators: [f0 f0' f1 f1' | f2 f2' f3 f3']
 * and the same for f4..f7 -> f0..f7 in order. */
TQ_AVX2_INLINE __m256i pair_up(__m256i lo, __m256i hi)
{
    return _mm256_permute4x64_epi64(_mm256_hadd_epi32(lo, hi),
                                    _MM_SHUFFLE(3, 1, 2, 0));
}

/* One block of 16 features for rows r0 (and r1 when two): the widened
 * weights of a group are shared by both rows. */
TQ_AVX2_INLINE void block_rows(const int8_t *r0, const int8_t *r1, int two,
                               const int8_t *block, int32_t k, int32_t *c0,
                               int32_t *c1, int32_t live)
{
    __m256i q0 = _mm256_setzero_si256(), q1 = q0, q2 = q0, q3 = q0;
    __m256i s0 = q0, s1 = q0, s2 = q0, s3 = q0;
    for (int32_t p = 0; p < k; p += 4) {
        /* A constant 4 for whole groups keeps the load inline. */
        const int32_t rem = k - p >= 4 ? 4 : k - p;
        const __m256i x = rem == 4 ? inputs4(r0 + p, 4) : inputs4(r0 + p, rem);
        const int8_t *g = block + (size_t)(p / 4) * GROUP_BYTES;
        const __m128i *w = (const __m128i *)(const void *)g;
        const __m256i w0 = _mm256_cvtepi8_epi16(_mm_loadu_si128(w));
        const __m256i w1 = _mm256_cvtepi8_epi16(_mm_loadu_si128(w + 1));
        const __m256i w2 = _mm256_cvtepi8_epi16(_mm_loadu_si128(w + 2));
        const __m256i w3 = _mm256_cvtepi8_epi16(_mm_loadu_si128(w + 3));
        q0 = _mm256_add_epi32(q0, _mm256_madd_epi16(x, w0));
        q1 = _mm256_add_epi32(q1, _mm256_madd_epi16(x, w1));
        q2 = _mm256_add_epi32(q2, _mm256_madd_epi16(x, w2));
        q3 = _mm256_add_epi32(q3, _mm256_madd_epi16(x, w3));
        if (two) {
            const __m256i y = rem == 4 ? inputs4(r1 + p, 4) : inputs4(r1 + p, rem);
            s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(y, w0));
            s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(y, w1));
            s2 = _mm256_add_epi32(s2, _mm256_madd_epi16(y, w2));
            s3 = _mm256_add_epi32(s3, _mm256_madd_epi16(y, w3));
        }
    }
    int32_t out[TQ__PACK_LANES];
    _mm256_storeu_si256((__m256i *)(void *)out, pair_up(q0, q1));
    _mm256_storeu_si256((__m256i *)(void *)(out + 8), pair_up(q2, q3));
    memcpy(c0, out, (size_t)live * sizeof(int32_t));
    if (two) {
        _mm256_storeu_si256((__m256i *)(void *)out, pair_up(s0, s1));
        _mm256_storeu_si256((__m256i *)(void *)(out + 8), pair_up(s2, s3));
        memcpy(c1, out, (size_t)live * sizeof(int32_t));
    }
}

TQ_AVX2 void tq__avx2_s8_prepacked_gemm(int32_t m, int32_t n, int32_t k,
                                        const int8_t *a, size_t lda,
                                        const int8_t *codes,
                                        const int32_t *sums, int32_t *c,
                                        size_t ldc)
{
    (void)sums; /* the int16 products need no correction */
    const size_t block_bytes = (size_t)((k + 3) / 4) * GROUP_BYTES;
    /* Rows in pairs: each widened weight vector serves two rows. */
    for (int32_t i = 0; i < m; i += 2) {
        const int two = i + 1 < m;
        const int8_t *r0 = a + (size_t)i * lda;
        const int8_t *r1 = two ? r0 + lda : r0;
        int32_t *c0 = c + (size_t)i * ldc;
        int32_t *c1 = two ? c0 + ldc : c0;
        for (int32_t j0 = 0; j0 < n; j0 += TQ__PACK_LANES) {
            const int8_t *block =
                codes + (size_t)(j0 / TQ__PACK_LANES) * block_bytes;
            const int32_t live =
                n - j0 < TQ__PACK_LANES ? n - j0 : TQ__PACK_LANES;
            if (two)
                block_rows(r0, r1, 1, block, k, c0 + j0, c1 + j0, live);
            else
                block_rows(r0, r0, 0, block, k, c0 + j0, c0 + j0, live);
        }
    }
}
